package container

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	apievents "github.com/containerd/containerd/api/events"
	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// NerdctlNameLabel is the label nerdctl keeps a container's name in.
const NerdctlNameLabel = "nerdctl/name"

// containerdNamespaceHeader is the gRPC metadata key that selects a containerd namespace.
const containerdNamespaceHeader = "containerd-namespace"

// Containerd speaks containerd's own gRPC API (github.com/containerd/containerd/api: the
// namespaces, containers, images, tasks and events services) over its unix socket. It knows
// every container containerd runs, in every namespace: ctr's and nerdctl's ("default"),
// Docker's ("moby"), the CRI plugin's ("k8s.io"), so a container run by plain containerd gets
// its metadata too.
//
// What it fills, from the container record and its OCI spec:
//   - Name: the nerdctl/name label, else the id.
//   - Image, ImageRepository/Tag from the record's image name; ImageDigest from the image
//     service (the digest of the image's target, the manifest or index a registry names).
//     ImageID (the config digest) would need a content-store read and stays empty.
//   - Labels: the record's labels. CreatedTime: the record's CreatedAt.
//   - Mounts: the spec's bind mounts, except the /etc/hosts, /etc/hostname and
//     /etc/resolv.conf files a runtime generates (Docker lists neither those nor /proc, /dev,
//     … either). RW is the absence of "ro"; Propagation is the spec's propagation option
//     ("" when it gives none); Mode is the remaining options other than bind/rbind, rw/ro and
//     the propagation, comma-joined ("" for a plain bind).
//   - Privileged, by the rule in SpecPrivileged.
//   - HostPID/HostNetwork/HostIPC: the spec lists no namespace of that kind. User (the
//     uid when not 0), Env and the cpu/memory limits from the spec's process and resources.
type Containerd struct {
	sock string
	conn *grpc.ClientConn
	ns   namespacesapi.NamespacesClient
	ctrs containersapi.ContainersClient
	imgs imagesapi.ImagesClient
	tsks tasksapi.TasksClient
	evs  eventsapi.EventsClient
}

// NewContainerd returns a provider for containerd's API at a unix socket path. The connection
// is made lazily, on the first request.
func NewContainerd(sock string) (*Containerd, error) {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, err
	}
	return &Containerd{
		sock: sock, conn: conn,
		ns:   namespacesapi.NewNamespacesClient(conn),
		ctrs: containersapi.NewContainersClient(conn),
		imgs: imagesapi.NewImagesClient(conn),
		tsks: tasksapi.NewTasksClient(conn),
		evs:  eventsapi.NewEventsClient(conn),
	}, nil
}

func newContainerdProvider(sock string) Provider {
	c, err := NewContainerd(sock)
	if err != nil {
		return errProvider{name: "containerd " + sock, typ: TypeContainerd, err: err}
	}
	return c
}

// Close closes the connection.
func (c *Containerd) Close() error { return c.conn.Close() }

func (c *Containerd) Name() string { return "containerd " + c.sock }
func (c *Containerd) Type() Type   { return TypeContainerd }

func withNamespace(ctx context.Context, ns string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, containerdNamespaceHeader, ns)
}

// Namespaces lists containerd's namespaces.
func (c *Containerd) Namespaces(ctx context.Context) ([]string, error) {
	r, err := c.ns.List(ctx, &namespacesapi.ListNamespacesRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: listing namespaces: %w", c.Name(), err)
	}
	out := make([]string, 0, len(r.Namespaces))
	for _, n := range r.Namespaces {
		out = append(out, n.Name)
	}
	return out, nil
}

var plainID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// find looks the container up in every namespace: Get by the exact id, and for a shorter id
// (a prefix, as container.id is) a List filtered by the prefix.
func (c *Containerd) find(ctx context.Context, id string) (string, *containersapi.Container, error) {
	nss, err := c.Namespaces(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, ns := range nss {
		nctx := withNamespace(ctx, ns)
		r, err := c.ctrs.Get(nctx, &containersapi.GetContainerRequest{ID: id})
		if err == nil && r.Container != nil {
			return ns, r.Container, nil
		}
		if status.Code(err) != codes.NotFound {
			return "", nil, fmt.Errorf("%s: container %s in namespace %s: %w", c.Name(), id, ns, err)
		}
		if len(id) >= 64 || !plainID.MatchString(id) {
			continue
		}
		lr, err := c.ctrs.List(nctx, &containersapi.ListContainersRequest{Filters: []string{`id~="^` + regexp.QuoteMeta(id) + `"`}})
		if err != nil {
			return "", nil, fmt.Errorf("%s: containers in namespace %s: %w", c.Name(), ns, err)
		}
		for _, x := range lr.Containers {
			if strings.HasPrefix(x.ID, id) {
				return ns, x, nil
			}
		}
	}
	return "", nil, ErrNotFound
}

// Inspect implements Provider: namespaces List, containers Get in each, then images Get for
// the digest.
func (c *Containerd) Inspect(ctx context.Context, id string) (*Info, error) {
	ns, ctr, err := c.find(ctx, id)
	if err != nil {
		return nil, err
	}
	info := &Info{ID: ctr.ID, Type: TypeContainerd, Name: ctr.Labels[NerdctlNameLabel], Labels: map[string]string{}}
	if info.Name == "" {
		info.Name = ctr.ID
	}
	for k, v := range ctr.Labels {
		info.Labels[k] = v
	}
	if ctr.CreatedAt != nil {
		info.CreatedTime = ctr.CreatedAt.Seconds
	}
	if ctr.Image != "" {
		info.Image = ctr.Image
		info.ImageRepository, info.ImageTag, info.ImageDigest = SplitImage(ctr.Image)
		if info.ImageDigest == "" {
			ir, err := c.imgs.Get(withNamespace(ctx, ns), &imagesapi.GetImageRequest{Name: ctr.Image})
			if err == nil && ir.Image != nil && ir.Image.Target != nil {
				info.ImageDigest = ir.Image.Target.Digest
			} else if err != nil && status.Code(err) != codes.NotFound && ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	if ctr.Spec != nil && len(ctr.Spec.Value) > 0 {
		var spec ociSpec
		if err := json.Unmarshal(ctr.Spec.Value, &spec); err != nil {
			return nil, fmt.Errorf("%s: container %s: decoding its OCI spec: %w", c.Name(), ctr.ID, err)
		}
		spec.fill(info)
	}
	return info, nil
}

// List implements Lister: the containers with a running task, in every namespace but
// Docker's ("moby": the Docker provider lists those, with their metadata; a lookup still finds
// them here when there is no Docker provider).
func (c *Containerd) List(ctx context.Context) ([]string, error) {
	nss, err := c.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, ns := range nss {
		if ns == DockerNamespace {
			continue
		}
		r, err := c.tsks.List(withNamespace(ctx, ns), &tasksapi.ListTasksRequest{})
		if err != nil {
			return nil, fmt.Errorf("%s: tasks in namespace %s: %w", c.Name(), ns, err)
		}
		for _, t := range r.Tasks {
			id := t.ContainerID
			if id == "" {
				id = t.ID
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// DockerNamespace is the containerd namespace dockerd keeps its containers in.
const DockerNamespace = "moby"

// namespaceRuntime is the runtime that made the containers of a containerd namespace: Docker's
// are better described by the Docker provider, which the Manager then asks first.
func namespaceRuntime(ns string) Type {
	if ns == DockerNamespace {
		return TypeDocker
	}
	return TypeContainerd
}

// ContainerdEventFilters are the events.v1 Subscribe filters Watch uses.
var ContainerdEventFilters = []string{`topic~="^/tasks/"`, `topic~="^/containers/"`}

// Watch implements Watcher with events.v1 Subscribe (all namespaces): /containers/create and
// /tasks/start are starts (create: the metadata is fetched before the first process runs);
// the exit of a task's init process, /tasks/delete and /containers/delete are deaths. Events
// of Docker's namespace carry the runtime TypeDocker, so the Docker provider is asked first.
// containerd keeps no history: events while the stream is down are lost, and entries of
// containers that died then expire by the Manager's TTL.
func (c *Containerd) Watch(ctx context.Context, fn func(RuntimeEvent)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.evs.Subscribe(ctx, &eventsapi.SubscribeRequest{Filters: ContainerdEventFilters})
	if err != nil {
		return err
	}
	for {
		env, err := stream.Recv()
		if err != nil {
			return err
		}
		if env.Event == nil {
			continue
		}
		if ev, ok := containerdEvent(env.Topic, env.Event.Value); ok {
			ev.Runtime = namespaceRuntime(env.Namespace)
			fn(ev)
		}
	}
}

// containerdEvent decodes one event envelope's payload by its topic.
func containerdEvent(topic string, b []byte) (RuntimeEvent, bool) {
	switch topic {
	case "/containers/create":
		var e apievents.ContainerCreate
		if proto.Unmarshal(b, &e) == nil && e.ID != "" {
			return RuntimeEvent{ID: e.ID, Kind: EventStart}, true
		}
	case "/tasks/start":
		var e apievents.TaskStart
		if proto.Unmarshal(b, &e) == nil && e.ContainerID != "" {
			return RuntimeEvent{ID: e.ContainerID, Kind: EventStart}, true
		}
	case "/tasks/exit":
		var e apievents.TaskExit // also sent for exec'd processes: only the init process counts
		if proto.Unmarshal(b, &e) == nil && e.ContainerID != "" && (e.ID == "" || e.ID == e.ContainerID) {
			return RuntimeEvent{ID: e.ContainerID, Kind: EventDie}, true
		}
	case "/tasks/delete":
		var e apievents.TaskDelete
		if proto.Unmarshal(b, &e) == nil && e.ContainerID != "" && (e.ID == "" || e.ID == e.ContainerID) {
			return RuntimeEvent{ID: e.ContainerID, Kind: EventDie}, true
		}
	case "/containers/delete":
		var e apievents.ContainerDelete
		if proto.Unmarshal(b, &e) == nil && e.ID != "" {
			return RuntimeEvent{ID: e.ID, Kind: EventDie}, true
		}
	}
	return RuntimeEvent{}, false
}

// ociSpec is the part of the OCI runtime spec (config.json) read here.
type ociSpec struct {
	Process *struct {
		User struct {
			UID uint32 `json:"uid"`
		} `json:"user"`
		Env          []string `json:"env"`
		Capabilities *struct {
			Bounding []string `json:"bounding"`
		} `json:"capabilities"`
	} `json:"process"`
	Mounts []struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options"`
	} `json:"mounts"`
	Annotations map[string]string `json:"annotations"`
	Linux       *struct {
		Namespaces []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"namespaces"`
		MaskedPaths []string `json:"maskedPaths"`
		Resources   *struct {
			Devices []ociDeviceRule `json:"devices"`
			Memory  *struct {
				Limit *int64 `json:"limit"`
				Swap  *int64 `json:"swap"`
			} `json:"memory"`
			CPU *struct {
				Shares *uint64 `json:"shares"`
				Quota  *int64  `json:"quota"`
				Period *uint64 `json:"period"`
				Cpus   string  `json:"cpus"`
			} `json:"cpu"`
		} `json:"resources"`
	} `json:"linux"`
}

type ociDeviceRule struct {
	Allow  bool   `json:"allow"`
	Type   string `json:"type"`
	Major  *int64 `json:"major"`
	Minor  *int64 `json:"minor"`
	Access string `json:"access"`
}

// runtime-generated files bind-mounted into every container, left out of Mounts as Docker does
var generatedMounts = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

var propagations = map[string]bool{
	"private": true, "rprivate": true, "shared": true, "rshared": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
}

func (s *ociSpec) fill(info *Info) {
	info.Privileged = s.privileged()
	if p := s.Process; p != nil {
		if p.User.UID != 0 {
			info.User = strconv.FormatUint(uint64(p.User.UID), 10)
		}
		info.Env = p.Env
	}
	for _, m := range s.Mounts {
		bind := m.Type == "bind"
		var mode []string
		mnt := Mount{Source: m.Source, Dest: m.Destination, RW: true}
		for _, o := range m.Options {
			switch {
			case o == "bind" || o == "rbind":
				bind = true
			case o == "ro":
				mnt.RW = false
			case o == "rw":
			case propagations[o]:
				mnt.Propagation = o
			default:
				mode = append(mode, o)
			}
		}
		if !bind || generatedMounts[m.Destination] {
			continue
		}
		mnt.Mode = strings.Join(mode, ",")
		info.Mounts = append(info.Mounts, mnt)
	}
	if l := s.Linux; l != nil {
		// a namespace the spec does not list is the runtime's (the host's); one with a path
		// is joined (a pod sandbox's), not the host's
		has := map[string]bool{}
		for _, n := range l.Namespaces {
			has[n.Type] = true
		}
		info.HostPID, info.HostNetwork, info.HostIPC = !has["pid"], !has["network"], !has["ipc"]
		if r := l.Resources; r != nil {
			if r.Memory != nil {
				info.MemoryLimit = deref(r.Memory.Limit)
				info.SwapLimit = deref(r.Memory.Swap)
			}
			if r.CPU != nil {
				if r.CPU.Shares != nil {
					info.CPUShares = int64(*r.CPU.Shares)
				}
				info.CPUQuota = deref(r.CPU.Quota)
				if r.CPU.Period != nil {
					info.CPUPeriod = int64(*r.CPU.Period)
				}
				info.CPUSetCount = countCPUSet(r.CPU.Cpus)
			}
		}
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// specPrivileged reports whether an OCI runtime spec (config.json) is that of a privileged
// container; see the rule at ociSpec.privileged.
func specPrivileged(specJSON []byte) (bool, error) {
	var s ociSpec
	if err := json.Unmarshal(specJSON, &s); err != nil {
		return false, err
	}
	return s.privileged(), nil
}

// privileged is the rule for containerd's containers, whose records do not say "privileged"
// (no runtime writes it into the labels or the spec's annotations): the spec must grant what
// every runtime's --privileged grants (docker, ctr, nerdctl, the CRI plugin's
// securityContext.privileged), all three of:
//
//  1. CAP_SYS_ADMIN in the process's bounding set;
//  2. every device: the last device cgroup rule allows all types and numbers ("a" or no type,
//     no major, no minor) with "rwm";
//  3. no masked paths (runtimes mask /proc/kcore, /proc/keys, … in every unprivileged
//     container, and clear the list for privileged ones).
//
// "All capabilities" is not the test: runtimes grant "all" as the capabilities they know or
// that their own process holds (containerd's WithAllCurrentCapabilities), so the list differs
// between machines (on one whose bounding set lacks CAP_SYS_RESOURCE, ctr --privileged grants
// 40 and dockerd 38), while --cap-add ALL alone, which keeps the device cgroup and the masked
// paths, is not --privileged in Docker either.
func (s *ociSpec) privileged() bool {
	if s.Process == nil || s.Process.Capabilities == nil || s.Linux == nil {
		return false
	}
	admin := false
	for _, c := range s.Process.Capabilities.Bounding {
		if c == "CAP_SYS_ADMIN" {
			admin = true
		}
	}
	if !admin || len(s.Linux.MaskedPaths) > 0 || s.Linux.Resources == nil {
		return false
	}
	devs := s.Linux.Resources.Devices
	if len(devs) == 0 {
		return false
	}
	last := devs[len(devs)-1]
	all := (last.Type == "" || last.Type == "a") && anyNum(last.Major) && anyNum(last.Minor)
	return last.Allow && all && strings.Contains(last.Access, "r") &&
		strings.Contains(last.Access, "w") && strings.Contains(last.Access, "m")
}

func anyNum(p *int64) bool { return p == nil || *p == -1 }
