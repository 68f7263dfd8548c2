package container

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CRI speaks the Kubernetes Container Runtime Interface (k8s.io/cri-api, runtime.v1) of
// containerd or CRI-O over a unix socket. Besides the container it reads the pod sandbox:
// k8s.pod.name, k8s.ns.name, k8s.pod.uid, k8s.pod.labels and k8s.pod.ip.
type CRI struct {
	sock string
	typ  Type
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
}

// NewCRI returns a provider for the CRI socket at path; typ is TypeContainerd, TypeCRIO or
// TypeCRI. The connection is made lazily, on the first request.
func NewCRI(sock string, typ Type) (*CRI, error) {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &CRI{sock: sock, typ: typ, conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

func newCRIProvider(sock string, typ Type) Provider {
	c, err := NewCRI(sock, typ)
	if err != nil {
		return errProvider{name: "cri " + sock, typ: typ, err: err}
	}
	return c
}

// Close closes the connection.
func (c *CRI) Close() error { return c.conn.Close() }

func (c *CRI) Name() string { return "cri(" + c.typ.String() + ") " + c.sock }
func (c *CRI) Type() Type   { return c.typ }

func criNotFound(err error) bool {
	// NotFound, or Unimplemented: a containerd without its CRI plugin (Docker's) knows no
	// CRI container
	if c := status.Code(err); c == codes.NotFound || c == codes.Unimplemented {
		return true
	}
	// CRI-O answers Unknown with a "not found"/"does not exist" message
	msg := strings.ToLower(status.Convert(err).Message())
	return status.Code(err) == codes.Unknown && (strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist"))
}

// Inspect implements Provider: ListContainers (for the sandbox id and the full id),
// ContainerStatus (verbose, for privileged) and PodSandboxStatus. A pod sandbox id gives the
// sandbox itself (IsPodSandbox).
func (c *CRI) Inspect(ctx context.Context, id string) (*Info, error) {
	lr, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}})
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, ErrNotFound
		}
		return nil, err
	}
	var ctr *runtimeapi.Container
	for _, x := range lr.Containers {
		if strings.HasPrefix(x.Id, id) {
			ctr = x
			break
		}
	}
	if ctr == nil {
		return c.inspectSandbox(ctx, id)
	}
	sr, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr.Id, Verbose: true})
	if err != nil {
		if criNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	st := sr.Status
	if st == nil {
		return nil, ErrNotFound
	}
	info := &Info{
		ID:           st.Id,
		Type:         c.typ,
		Labels:       map[string]string{},
		CreatedTime:  st.CreatedAt / 1e9,
		PodSandboxID: ctr.PodSandboxId,
		ImageID:      strings.TrimPrefix(st.ImageId, "sha256:"),
	}
	for k, v := range st.Labels {
		info.Labels[k] = v
	}
	if st.Metadata != nil {
		info.Name = st.Metadata.Name
	}
	if st.Image != nil {
		info.Image = st.Image.Image
	}
	setCRIImage(info, st.ImageRef)
	for _, m := range st.Mounts {
		info.Mounts = append(info.Mounts, Mount{Source: m.HostPath, Dest: m.ContainerPath,
			RW: !m.Readonly, Propagation: criPropagation(m.Propagation)})
	}
	if v := sr.Info["info"]; v != "" {
		parseCRIInfo(info, v)
	}
	if info.PodSandboxID != "" {
		ps, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: info.PodSandboxID})
		if err == nil && ps.Status != nil {
			setSandbox(info, ps.Status)
		} else if err != nil && !criNotFound(err) {
			return nil, err
		}
	}
	return info, nil
}

func (c *CRI) inspectSandbox(ctx context.Context, id string) (*Info, error) {
	ps, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		if criNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if ps.Status == nil {
		return nil, ErrNotFound
	}
	s := ps.Status
	info := &Info{ID: s.Id, Type: c.typ, IsPodSandbox: true, PodSandboxID: s.Id,
		CreatedTime: s.CreatedAt / 1e9, Labels: map[string]string{}}
	if s.Metadata != nil {
		info.Name = s.Metadata.Name
	}
	setSandbox(info, s)
	return info, nil
}

// setSandbox copies what libsinsp reads from the sandbox: the pod labels, the ip, and the
// pod's identity (kept in the io.kubernetes.pod.* labels, where kubelet puts it too).
func setSandbox(info *Info, s *runtimeapi.PodSandboxStatus) {
	info.PodLabels = map[string]string{}
	for k, v := range s.Labels {
		info.PodLabels[k] = v
	}
	if md := s.Metadata; md != nil {
		setDefault(info.Labels, LabelPodName, md.Name)
		setDefault(info.Labels, LabelPodNamespace, md.Namespace)
		setDefault(info.Labels, LabelPodUID, md.Uid)
	}
	setDefault(info.Labels, LabelSandboxID, s.Id)
	// the pod as kubectl applied it (when it was applied as a pod) gives the exec liveness
	// or readiness probe, as dockershim's label did for libsinsp
	if len(info.HealthProbes) == 0 {
		info.HealthProbes, _ = PodSpecProbes(s.Annotations[AnnotationLastApplied], info.Labels[LabelContainer])
	}
	if s.Network != nil {
		if a, err := netip.ParseAddr(s.Network.Ip); err == nil {
			info.IP = a
		}
	}
	if l := s.Linux; l != nil && l.Namespaces != nil && l.Namespaces.Options != nil {
		o := l.Namespaces.Options
		info.HostNetwork = o.Network == runtimeapi.NamespaceMode_NODE
		info.HostPID = o.Pid == runtimeapi.NamespaceMode_NODE
		info.HostIPC = o.Ipc == runtimeapi.NamespaceMode_NODE
	}
}

func setDefault(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok && v != "" {
		m[k] = v
	}
}

// setCRIImage fills repository, tag, digest from the image name and the image ref
// ("repo@sha256:…" or "sha256:<id>").
func setCRIImage(info *Info, ref string) {
	name := info.Image
	if strings.HasPrefix(name, "sha256:") {
		name = ""
	}
	if name == "" && strings.Contains(ref, "@") {
		name = ref
	}
	if name != "" {
		info.ImageRepository, info.ImageTag, info.ImageDigest = SplitImage(name)
	}
	if _, dg, ok := strings.Cut(ref, "@"); ok {
		info.ImageDigest = dg
	} else if strings.HasPrefix(ref, "sha256:") && info.ImageID == "" {
		info.ImageID = strings.TrimPrefix(ref, "sha256:")
	}
	if info.Image == "" {
		info.Image = name
	}
}

func criPropagation(p runtimeapi.MountPropagation) string {
	switch p {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		return "rslave"
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		return "rshared"
	}
	return "private"
}

// parseCRIInfo reads the verbose "info" JSON: containerd nests the CRI config
// (config.linux.security_context.privileged) and the OCI spec; CRI-O has "privileged" at the
// top. The OCI spec's mounts give the mode when the CRI mounts lack it.
func parseCRIInfo(info *Info, js string) {
	var v struct {
		Privileged *bool  `json:"privileged"`
		SandboxID  string `json:"sandboxID"`
		Config     struct {
			Linux struct {
				SecurityContext struct {
					Privileged bool `json:"privileged"`
				} `json:"security_context"`
			} `json:"linux"`
			Envs []struct{ Key, Value string } `json:"envs"`
		} `json:"config"`
		RuntimeSpec struct {
			Process struct {
				User struct {
					UID uint32 `json:"uid"`
				} `json:"user"`
			} `json:"process"`
		} `json:"runtimeSpec"`
	}
	if json.Unmarshal([]byte(js), &v) != nil {
		return
	}
	if v.Privileged != nil {
		info.Privileged = *v.Privileged
	} else {
		info.Privileged = v.Config.Linux.SecurityContext.Privileged
	}
	if info.PodSandboxID == "" {
		info.PodSandboxID = v.SandboxID
	}
	for _, e := range v.Config.Envs {
		info.Env = append(info.Env, e.Key+"="+e.Value)
	}
}

// List implements Lister: the runtime's ready pod sandboxes and running containers, so the
// Manager fetches at start (and after a broken event stream) the containers that started
// before it was watching: their start sent no event. A runtime without the CRI service
// (containerd without its CRI plugin, as Docker's) answers Unimplemented: nothing to list.
func (c *CRI) List(ctx context.Context) ([]string, error) {
	ps, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: pod sandboxes: %w", c.Name(), err)
	}
	var ids []string
	for _, s := range ps.Items {
		ids = append(ids, s.Id)
	}
	cs, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, fmt.Errorf("%s: containers: %w", c.Name(), err)
	}
	for _, x := range cs.Containers {
		ids = append(ids, x.Id)
	}
	return ids, nil
}

// Watch implements Watcher with the CRI GetContainerEvents stream (containerd 1.7+, CRI-O
// with evented PLEG): created and started containers are starts, stopped and deleted ones
// deaths. A runtime without it answers Unimplemented: the error wraps ErrWatchUnsupported and
// the Manager stops asking.
func (c *CRI) Watch(ctx context.Context, fn func(RuntimeEvent)) error {
	stream, err := c.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		return criWatchErr(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return criWatchErr(err)
		}
		if ev.ContainerId == "" {
			continue
		}
		switch ev.ContainerEventType {
		case runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT:
			fn(RuntimeEvent{ID: ev.ContainerId, Kind: EventStart, Runtime: c.typ})
		case runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
			fn(RuntimeEvent{ID: ev.ContainerId, Kind: EventDie, Runtime: c.typ})
		}
	}
}

func criWatchErr(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: %v", ErrWatchUnsupported, err)
	}
	return err
}

// errProvider stands for a runtime whose client could not be made.
type errProvider struct {
	name string
	typ  Type
	err  error
}

func (e errProvider) Name() string { return e.name }
func (e errProvider) Type() Type   { return e.typ }
func (e errProvider) Inspect(context.Context, string) (*Info, error) {
	return nil, e.err
}
