package container

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criServer is a CRI runtime service serving fixed pod sandboxes and containers, shaped like
// containerd 1.7's answers (verbose info with config.linux.security_context and sandboxID) or,
// with crio set, CRI-O's (top-level "privileged", not-found as Unknown with a message).
//
// With events set it serves GetContainerEvents: each subscriber is announced on subscribed,
// then sent what the test puts on events. Without, GetContainerEvents is Unimplemented (as in
// CRI-O without evented PLEG, or containerd before 1.7).
type criServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	crio       bool
	mu         sync.Mutex // guards the maps: the events test adds containers while serving
	sandboxes  map[string]*runtimeapi.PodSandboxStatus
	containers map[string]*runtimeapi.ContainerStatus
	sandboxOf  map[string]string
	info       map[string]string
	events     chan *runtimeapi.ContainerEventResponse
	subscribed chan struct{}
	// sandboxLists counts ListPodSandbox calls
	sandboxLists int
}

func (s *criServer) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	if s.events == nil {
		return status.Error(codes.Unimplemented, "method GetContainerEvents not implemented")
	}
	select {
	case s.subscribed <- struct{}{}:
	case <-stream.Context().Done():
		return nil
	}
	for {
		select {
		case ev := <-s.events:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// add registers a container like ctrID under a new id and name.
func (s *criServer) add(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := proto.Clone(s.containers[ctrID]).(*runtimeapi.ContainerStatus)
	st.Id, st.Metadata = id, &runtimeapi.ContainerMetadata{Name: name}
	s.containers[id] = st
	s.sandboxOf[id] = sandboxID
	s.info[id] = s.info[ctrID]
}

func (s *criServer) notFound(what, id string) error {
	if s.crio {
		return status.Errorf(codes.Unknown, "%s with ID starting with %s not found: ID does not exist", what, id)
	}
	return status.Errorf(codes.NotFound, "an error occurred when try to find %s %q: not found", what, id)
}

func (s *criServer) resolve(id string) string {
	for full := range s.containers {
		if id != "" && strings.HasPrefix(full, id) {
			return full
		}
	}
	return ""
}

func (s *criServer) ListContainers(_ context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &runtimeapi.ListContainersResponse{}
	for id, st := range s.containers {
		if r.Filter != nil && r.Filter.Id != "" && !strings.HasPrefix(id, r.Filter.Id) {
			continue
		}
		if r.Filter != nil && r.Filter.State != nil && r.Filter.State.State != st.State {
			continue
		}
		out.Containers = append(out.Containers, &runtimeapi.Container{Id: id, PodSandboxId: s.sandboxOf[id],
			Metadata: st.Metadata, Image: st.Image, ImageRef: st.ImageRef, State: st.State, CreatedAt: st.CreatedAt, Labels: st.Labels})
	}
	return out, nil
}

func (s *criServer) ListPodSandbox(_ context.Context, r *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sandboxLists++
	out := &runtimeapi.ListPodSandboxResponse{}
	for id, st := range s.sandboxes {
		if r.Filter != nil && r.Filter.State != nil && r.Filter.State.State != st.State {
			continue
		}
		out.Items = append(out.Items, &runtimeapi.PodSandbox{Id: id, Metadata: st.Metadata, State: st.State, CreatedAt: st.CreatedAt, Labels: st.Labels})
	}
	return out, nil
}

func (s *criServer) ContainerStatus(_ context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := s.resolve(r.ContainerId)
	if full == "" {
		return nil, s.notFound("container", r.ContainerId)
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: s.containers[full]}
	if r.Verbose {
		resp.Info = map[string]string{"info": s.info[full]}
	}
	return resp, nil
}

func (s *criServer) PodSandboxStatus(_ context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, st := range s.sandboxes {
		if r.PodSandboxId != "" && strings.HasPrefix(id, r.PodSandboxId) {
			return &runtimeapi.PodSandboxStatusResponse{Status: st}, nil
		}
	}
	return nil, s.notFound("pod sandbox", r.PodSandboxId)
}

func startCRI(t *testing.T, srv *criServer) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(g, srv)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return sock
}

const (
	sandboxID = "5c1b7b8fd3a1c0e8f5e8b2f1a9d44c7e3b6a0f9e8d7c6b5a4f3e2d1c0b9a8f7e"
	ctrID     = "e3f1a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
	podUIDStr = "0f3d2c1b-aaaa-4bbb-8ccc-123456789abc"
)

func fixture(crio bool) *criServer {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	info := `{"sandboxID":"` + sandboxID + `","pid":4242,"config":{"metadata":{"name":"nginx"},"linux":{"security_context":{"privileged":true}},"envs":[{"key":"PATH","value":"/usr/bin"}]}}`
	if crio {
		info = `{"sandboxID":"` + sandboxID + `","pid":4242,"privileged":true}`
	}
	return &criServer{
		crio: crio,
		sandboxes: map[string]*runtimeapi.PodSandboxStatus{sandboxID: {
			Id:        sandboxID,
			Metadata:  &runtimeapi.PodSandboxMetadata{Name: "web-7d4b9c-x2x8q", Uid: podUIDStr, Namespace: "shop"},
			State:     runtimeapi.PodSandboxState_SANDBOX_READY,
			CreatedAt: created - 5e9,
			Network:   &runtimeapi.PodSandboxNetworkStatus{Ip: "10.244.0.17"},
			Labels:    map[string]string{"app": "web", "pod-template-hash": "7d4b9c", "io.kubernetes.pod.name": "web-7d4b9c-x2x8q"},
			Annotations: map[string]string{AnnotationLastApplied: `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[` +
				`{"name":"sidecar","readinessProbe":{"exec":{"command":["cat","/tmp/ready"]}}},` +
				`{"name":"nginx","livenessProbe":{"exec":{"command":["/bin/sh","-c","nginx -t"]}}}]}}`},
		}},
		containers: map[string]*runtimeapi.ContainerStatus{ctrID: {
			Id:        ctrID,
			Metadata:  &runtimeapi.ContainerMetadata{Name: "nginx"},
			State:     runtimeapi.ContainerState_CONTAINER_RUNNING,
			CreatedAt: created,
			Image:     &runtimeapi.ImageSpec{Image: "docker.io/library/nginx:1.25"},
			ImageRef:  "docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
			ImageId:   "sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6",
			Labels: map[string]string{"io.kubernetes.container.name": "nginx", "io.kubernetes.pod.name": "web-7d4b9c-x2x8q",
				"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": podUIDStr},
			Mounts: []*runtimeapi.Mount{
				{ContainerPath: "/host", HostPath: "/", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
				{ContainerPath: "/var/run/secrets/kubernetes.io/serviceaccount", HostPath: "/var/lib/kubelet/pods/" + podUIDStr + "/volumes/kubernetes.io~projected/kube-api-access-abcde", Readonly: true},
			},
		}},
		sandboxOf: map[string]string{ctrID: sandboxID},
		info:      map[string]string{ctrID: info},
	}
}

func TestCRIProvider(t *testing.T) {
	for _, crio := range []bool{false, true} {
		typ := TypeContainerd
		if crio {
			typ = TypeCRIO
		}
		t.Run(typ.String(), func(t *testing.T) {
			sock := startCRI(t, fixture(crio))
			p, err := NewCRI(sock, typ)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second})
			defer m.Close()

			// the container as the kubelet's cgroup path names it
			cg := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
				strings.ReplaceAll(podUIDStr, "-", "_") + ".slice/cri-containerd-" + ctrID + ".scope"
			r, ok := FromCgroups([]string{cg})
			if !ok || r.ID != ctrID || r.PodUID != podUIDStr {
				t.Fatalf("cgroup %q: %+v", cg, r)
			}
			in := waitReady(t, m, r).Info()
			want := map[string]string{
				"container.id": ctrID[:12], "container.full_id": ctrID, "container.type": typ.String(),
				"container.name": "nginx", "container.image": "docker.io/library/nginx:1.25",
				"container.image.repository": "docker.io/library/nginx", "container.image.tag": "1.25",
				"container.image.digest": "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
				"container.image.id":     "a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6",
				"container.privileged":   "true",
				"k8s.pod.name":           "web-7d4b9c-x2x8q", "k8s.ns.name": "shop", "k8s.pod.uid": podUIDStr,
				"k8s.pod.ip": "10.244.0.17", "k8s.pod.labels[app]": "web",
				"k8s.pod.sandbox_id":     sandboxID,
				"container.start_ts":     "1772366400000000000",
				"container.mount[/host]": "/:/host:ro:rslave",
			}
			got := map[string]string{
				"container.id": in.ShortID(), "container.full_id": in.ID, "container.type": in.Type.String(),
				"container.name": in.Name, "container.image": in.Image,
				"container.image.repository": in.ImageRepository, "container.image.tag": in.ImageTag,
				"container.image.digest": in.ImageDigest, "container.image.id": in.ImageID,
				"container.privileged": boolStr(in.Privileged), "k8s.pod.name": in.PodName(),
				"k8s.ns.name": in.PodNamespace(), "k8s.pod.uid": in.PodUID(), "k8s.pod.ip": in.PodIP().String(),
				"k8s.pod.labels[app]": in.PodLabels["app"], "k8s.pod.sandbox_id": in.PodSandboxID,
				"container.start_ts": strconv.FormatInt(in.StartTS(), 10),
			}
			for _, mnt := range in.Mounts {
				if mnt.Dest == "/host" {
					rw := "ro"
					if mnt.RW {
						rw = "rw"
					}
					got["container.mount[/host]"] = mnt.Source + ":" + mnt.Dest + ":" + rw + ":" + mnt.Propagation
				}
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			// the pod's last-applied configuration gives the container its own exec probe
			if p, ok := in.Probe(ProbeLiveness); !ok || p.Command() != "/bin/sh -c nginx -t" || len(in.HealthProbes) != 1 {
				t.Errorf("health probes %+v", in.HealthProbes)
			}
			// the sandbox (pause container) itself
			sb := m.Lookup(sandboxID)
			deadline := time.Now().Add(5 * time.Second)
			for sb.State() == Pending && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if si := sb.Info(); sb.State() != Ready || !si.IsPodSandbox || si.Name != "web-7d4b9c-x2x8q" || si.PodNamespace() != "shop" {
				t.Errorf("sandbox: %v %+v", sb.State(), si)
			}
			// an id the runtime does not know
			unknown := m.Lookup(idA)
			waitStats(t, m, "not found", func(s Stats) bool { return s.FetchNotFound == 1 })
			if unknown.State() != NotFound {
				t.Errorf("unknown container state %v", unknown.State())
			}
			if s := m.Stats(); s.FetchErrors != 0 || s.Timeouts != 0 {
				t.Errorf("stats %+v", s)
			}
			// the k8s fields survive the capture encoding
			back, err := DecodeJSON(EncodeJSON(in))
			if err != nil || !infoEqual(back, in) {
				t.Errorf("JSON round trip: %v\n got %+v\nwant %+v", err, back, in)
			}
		})
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// The CRI GetContainerEvents stream: a container created after the subscription is known
// without any lookup, its stop expires it; a runtime without the stream is left alone, quietly.
func TestCRIEvents(t *testing.T) {
	srv := fixture(false)
	srv.events = make(chan *runtimeapi.ContainerEventResponse)
	srv.subscribed = make(chan struct{}, 1)
	p, err := NewCRI(startCRI(t, srv), TypeContainerd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second, DeadGrace: time.Second})
	defer m.Close()
	select {
	case <-srv.subscribed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the Manager did not subscribe to GetContainerEvents (stats %+v)", m.Stats())
	}
	const newID = "7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
	srv.add(newID, "sidecar")
	srv.events <- &runtimeapi.ContainerEventResponse{ContainerId: newID,
		ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT}
	// (the container may be known first from the list the Manager takes after subscribing,
	// which can run after srv.add: wait for the event to be counted too)
	waitCond(t, m, "created event", func() bool { return known(m, newID) && m.Stats().Events == 1 })
	for _, in := range m.Snapshot() {
		if in.ID == newID && (in.Name != "sidecar" || in.PodName() != "web-7d4b9c-x2x8q") {
			t.Errorf("container from the event: %+v", in)
		}
	}
	if s := m.Stats(); s.Lookups != 0 || s.Events != 1 || s.Watchers != 1 {
		t.Errorf("stats after the created event: %+v", s)
	}
	srv.events <- &runtimeapi.ContainerEventResponse{ContainerId: newID,
		ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT}
	waitCond(t, m, "stopped event", func() bool { return !known(m, newID) })
	if s := m.Stats(); s.Expired != 1 || s.Events != 2 {
		t.Errorf("stats after the stopped event: %+v", s)
	}

	// CRI-O's fixture has no event stream: the watcher ends, no error counted
	p2, err := NewCRI(startCRI(t, fixture(true)), TypeCRIO)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	m2 := New(Config{Providers: []Provider{p2}, Timeout: 5 * time.Second})
	defer m2.Close()
	s := waitStats(t, m2, "watcher given up", func(s Stats) bool { return s.Watchers == 0 })
	if s.FetchErrors != 0 || s.Timeouts != 0 || s.Events != 0 {
		t.Errorf("stats without an event stream: %+v", s)
	}
	if in := waitReady(t, m2, Ref{ID: ctrID}).Info(); in.Name != "nginx" {
		t.Errorf("inspect without events: %+v", in)
	}
}

// TestCRIListsAtStart: pod sandboxes and containers that exist before the Manager starts
// (their start sent no event, and nothing asked for them yet) are listed and fetched at start;
// exited containers and not-ready sandboxes are not.
func TestCRIListsAtStart(t *testing.T) {
	for _, crio := range []bool{false, true} {
		srv := fixture(crio)
		const exitedID = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
		const goneSandbox = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
		srv.add(exitedID, "job")
		srv.containers[exitedID].State = runtimeapi.ContainerState_CONTAINER_EXITED
		srv.sandboxes[goneSandbox] = &runtimeapi.PodSandboxStatus{Id: goneSandbox, State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "old", Namespace: "shop", Uid: "u"}}
		typ := TypeContainerd
		if crio {
			typ = TypeCRIO
		}
		p, err := NewCRI(startCRI(t, srv), typ)
		if err != nil {
			t.Fatal(err)
		}
		m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second})
		waitCond(t, m, "listed at start", func() bool { return known(m, ctrID) && known(m, sandboxID) })
		for _, in := range m.Snapshot() {
			switch in.ID {
			case ctrID:
				if in.Name != "nginx" || in.PodName() != "web-7d4b9c-x2x8q" || !in.Privileged {
					t.Errorf("crio=%v: listed container %+v", crio, in)
				}
			case sandboxID:
				if !in.IsPodSandbox || in.PodName() != "web-7d4b9c-x2x8q" {
					t.Errorf("crio=%v: listed sandbox %+v", crio, in)
				}
			case exitedID, goneSandbox:
				t.Errorf("crio=%v: %s listed, but it is not running", crio, in.ID)
			}
		}
		if s := m.Stats(); s.Lookups != 0 || s.FetchErrors != 0 {
			t.Errorf("crio=%v: stats %+v (nothing looked up on the event path, no errors)", crio, s)
		}
		srv.mu.Lock()
		lists := srv.sandboxLists
		srv.mu.Unlock()
		if lists == 0 {
			t.Errorf("crio=%v: ListPodSandbox never called", crio)
		}
		m.Close()
		p.Close()
	}
}
