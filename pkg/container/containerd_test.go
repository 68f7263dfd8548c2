package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/saker-sec/saker/internal/dockertest"
)

func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newContainerdT(t *testing.T, sock string) *Containerd {
	t.Helper()
	c, err := NewContainerd(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inspectT(t *testing.T, p Provider, id string) *Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := p.Inspect(ctx, id)
	if err != nil {
		t.Fatalf("%s: inspect %s: %v", p.Name(), id, err)
	}
	return in
}

type check struct {
	what      string
	got, want any
}

func runChecks(t *testing.T, who string, cs []check) {
	t.Helper()
	for _, c := range cs {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %s = %v, want %v", who, c.what, c.got, c.want)
		}
	}
}

// Docker's containers as containerd itself knows them (namespace "moby" of dockerd's own
// containerd): found through the namespace list, privileged and mounts from the OCI spec.
func TestContainerdDockerContainers(t *testing.T) {
	d := dockertest.Start(t)
	hostDir := t.TempDir()
	before := time.Now().Unix()
	plain := d.Run(t, "--label", "app=web", d.Image, "sleep", "600")
	priv := d.Run(t, "--privileged", "-v", hostDir+":/host", d.Image, "sleep", "600")
	p := newContainerdT(t, d.Containerd)

	nss, err := p.Namespaces(context.Background())
	if err != nil || !slices.Contains(nss, "moby") {
		t.Fatalf("namespaces %q, %v: want moby among them", nss, err)
	}

	in := inspectT(t, p, plain)
	runChecks(t, "plain", []check{
		{"id", in.ID, plain},
		{"type", in.Type.String(), "containerd"},
		{"name", in.Name, plain}, // no nerdctl/name label: the id
		// dockerd 20.10 gives containerd neither the image nor the labels, only its bundle
		{"image", in.Image, ""},
		{"app label", in.Labels["app"], ""},
		{"bundle label", in.Labels["com.docker/engine.bundle.path"] != "", true},
		{"privileged", in.Privileged, false},
		{"mounts", len(in.Mounts), 0},
		{"host pid", in.HostPID, false},
		{"host ipc", in.HostIPC, false},
		{"env PATH", slices.Contains(in.Env, "PATH=/bin"), true},
	})
	if in.CreatedTime < before-1 || in.CreatedTime > time.Now().Unix()+1 {
		t.Errorf("plain: created %d not within the test (started %d)", in.CreatedTime, before)
	}

	pin := inspectT(t, p, priv)
	runChecks(t, "privileged", []check{
		{"id", pin.ID, priv},
		{"privileged", pin.Privileged, true},
		{"mounts", fmt.Sprintf("%+v", pin.Mounts), fmt.Sprintf("%+v", []Mount{{Source: hostDir, Dest: "/host", RW: true, Propagation: "rprivate"}})},
	})

	// a 12-character id (container.id) is found too
	if sin := inspectT(t, p, priv[:12]); sin.ID != priv || !sin.Privileged {
		t.Errorf("short id: %+v", sin)
	}
	// an id containerd does not know
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Inspect(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}

	// through a Manager, from the process's cgroups, as the event path asks
	m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second})
	defer m.Close()
	r, ok := FromCgroups(procCgroups(t, d.Pid(t, priv)))
	if !ok || r.ID != priv {
		t.Fatalf("cgroups of the privileged container: %+v", r)
	}
	e := waitReady(t, m, r)
	if e.Info().Type != TypeContainerd || !e.Info().Privileged || len(e.Info().Mounts) != 1 {
		t.Errorf("manager entry %+v", e.Info())
	}
	// the list of running containers leaves Docker's to the Docker provider
	ids, err := p.List(ctx)
	if err != nil || slices.Contains(ids, plain) || slices.Contains(ids, priv) {
		t.Errorf("list %q, %v: want neither %s nor %s (namespace moby)", ids, err, plain[:12], priv[:12])
	}

	// dockerd's containerd has no CRI plugin: the CRI provider of the same socket says "not
	// found" and offers no events, quietly
	cri, err := NewCRI(d.Containerd, TypeContainerd)
	if err != nil {
		t.Fatal(err)
	}
	defer cri.Close()
	if _, err := cri.Inspect(ctx, plain); !errors.Is(err, ErrNotFound) {
		t.Errorf("CRI on a containerd without CRI: %v, want ErrNotFound", err)
	}
	if err := cri.Watch(ctx, func(RuntimeEvent) {}); !errors.Is(err, ErrWatchUnsupported) {
		t.Errorf("CRI events on a containerd without CRI: %v, want ErrWatchUnsupported", err)
	}
}

// Plain containerd containers (ctr run, no Docker), in a namespace of their own: name from
// nerdctl's label, image name and digest, labels, privileged, mounts.
func TestContainerdPlainContainers(t *testing.T) {
	d := dockertest.Start(t)
	const ns = "saker-test"
	hostDir := t.TempDir()
	before := time.Now().Unix()
	plain, priv := randomID(t), randomID(t)
	d.RunContainerd(t, ns, plain, []string{"--label", "app=web"}, "sleep", "600")
	d.RunContainerd(t, ns, priv, []string{"--privileged", "--label", NerdctlNameLabel + "=saker-priv",
		"--mount", "type=bind,src=" + hostDir + ",dst=/host,options=rbind:ro"}, "sleep", "600")
	// the image's digest as containerd lists it: REF TYPE DIGEST …
	digest := ""
	for _, line := range strings.Split(d.Ctr(t, ns, "images", "ls"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == dockertest.ContainerdImage {
			digest = f[2]
		}
	}
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("no digest for %s in ctr images ls", dockertest.ContainerdImage)
	}
	p := newContainerdT(t, d.Containerd)

	in := inspectT(t, p, plain)
	runChecks(t, "plain", []check{
		{"id", in.ID, plain},
		{"type", in.Type.String(), "containerd"},
		{"name", in.Name, plain},
		{"image", in.Image, dockertest.ContainerdImage},
		{"image.repository", in.ImageRepository, "docker.io/saker-test/busybox"},
		{"image.tag", in.ImageTag, "1.35"},
		{"image.digest", in.ImageDigest, digest},
		{"label app", in.Labels["app"], "web"},
		{"image label", in.Labels["org.saker.test"], "busybox"},
		{"privileged", in.Privileged, false},
		{"mounts", len(in.Mounts), 0},
	})
	if in.CreatedTime < before-1 || in.CreatedTime > time.Now().Unix()+1 {
		t.Errorf("plain: created %d not within the test (started %d)", in.CreatedTime, before)
	}

	pin := inspectT(t, p, priv)
	runChecks(t, "privileged", []check{
		{"name", pin.Name, "saker-priv"},
		{"privileged", pin.Privileged, true},
		{"label", pin.Labels[NerdctlNameLabel], "saker-priv"},
		{"mounts", fmt.Sprintf("%+v", pin.Mounts), fmt.Sprintf("%+v", []Mount{{Source: hostDir, Dest: "/host", RW: false}})},
	})

	// the running containers are listed (tasks in every namespace)
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	ids, err := p.List(lctx)
	if err != nil || !slices.Contains(ids, plain) || !slices.Contains(ids, priv) {
		t.Errorf("list %q, %v: want %s and %s", ids, err, plain[:12], priv[:12])
	}

	// a Manager finds it from the cgroup path ctr gives it (/<namespace>/<id>)
	m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second})
	defer m.Close()
	cg := procCgroups(t, d.ContainerdPid(t, ns, priv))
	r, ok := FromCgroups(cg)
	if !ok || r.ID != priv {
		t.Fatalf("cgroups %q: %+v", cg, r)
	}
	if e := waitReady(t, m, r); e.Info().Name != "saker-priv" || !e.Info().Privileged {
		t.Errorf("manager entry %+v", e.Info())
	}
	// the round trip through the capture's container event
	back, err := DecodeJSON(EncodeJSON(pin))
	if err != nil || !infoEqual(back, pin) {
		t.Errorf("JSON round trip: %v\n got %+v\nwant %+v", err, back, pin)
	}
}

// watchOnly hides the List of a provider, so that an entry the Manager holds without any
// lookup can only have come from the event stream.
type watchOnly struct{ c *Containerd }

func (w watchOnly) Name() string { return w.c.Name() }
func (w watchOnly) Type() Type   { return w.c.Type() }
func (w watchOnly) Inspect(ctx context.Context, id string) (*Info, error) {
	return w.c.Inspect(ctx, id)
}
func (w watchOnly) Watch(ctx context.Context, fn func(RuntimeEvent)) error {
	return w.c.Watch(ctx, fn)
}

func known(m *Manager, id string) bool {
	for _, in := range m.Snapshot() {
		if in.ID == id {
			return true
		}
	}
	return false
}

func waitCond(t *testing.T, m *Manager, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s (stats %+v)", what, m.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inspectOnly hides a provider's List and Watch.
type inspectOnly struct{ Provider }

// containerd's event stream: containers started after the subscription (by Docker, and by ctr)
// are known without any lookup, and their deaths expire them. Docker's container is described
// by the Docker provider (asked first for events of namespace moby, though listed second).
func TestContainerdLifecycle(t *testing.T) {
	d := dockertest.Start(t)
	const ns = "saker-test"
	d.ImportImage(t, ns)
	p := newContainerdT(t, d.Containerd)
	m := New(Config{Providers: []Provider{watchOnly{p}, inspectOnly{NewDocker(d.Socket, TypeDocker)}},
		Timeout: 5 * time.Second, DeadGrace: time.Second})
	defer m.Close()

	// the subscription is live once an event of ours arrives: create and delete container
	// records (no task) until one is counted
	syncCtx := withNamespace(context.Background(), ns)
	for i := 0; m.Stats().Events == 0; i++ {
		if i == 100 {
			t.Fatalf("no containerd event after %d container records (stats %+v)", i, m.Stats())
		}
		id := randomID(t)
		_, err := p.ctrs.Create(syncCtx, &containersapi.CreateContainerRequest{Container: &containersapi.Container{
			ID: id, Runtime: &containersapi.Container_Runtime{Name: "io.containerd.runc.v2"},
			Spec: &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", Value: []byte("{}")},
		}})
		if err != nil {
			t.Fatalf("creating a container record: %v", err)
		}
		if _, err := p.ctrs.Delete(syncCtx, &containersapi.DeleteContainerRequest{ID: id}); err != nil {
			t.Fatalf("deleting a container record: %v", err)
		}
		deadline := time.Now().Add(time.Second)
		for m.Stats().Events == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	dockerName := "saker-events-" + randomID(t)[:8]
	dockerID := d.Run(t, "--name", dockerName, d.Image, "sleep", "600")
	ctrID := randomID(t)
	d.RunContainerd(t, ns, ctrID, []string{"--label", NerdctlNameLabel + "=saker-events"}, "sleep", "600")
	waitCond(t, m, "docker container's start event", func() bool { return known(m, dockerID) })
	waitCond(t, m, "ctr container's start event", func() bool { return known(m, ctrID) })
	if s := m.Stats(); s.Lookups != 0 || s.Watchers != 1 {
		t.Errorf("stats after the starts: %+v (want no lookups, one watcher)", s)
	}
	for _, in := range m.Snapshot() {
		if in.ID == ctrID && (in.Name != "saker-events" || in.Type != TypeContainerd) {
			t.Errorf("ctr container from events: %+v", in)
		}
		if in.ID == dockerID && (in.Name != dockerName || in.Type != TypeDocker || in.Image != dockertest.Image) {
			t.Errorf("docker container from containerd's events: %+v", in)
		}
	}

	expired := m.Stats().Expired
	d.Docker(t, "rm", "-f", dockerID)
	waitCond(t, m, "docker container's death", func() bool { return !known(m, dockerID) })
	d.RemoveContainerd(ns, ctrID)
	waitCond(t, m, "ctr container's death", func() bool { return !known(m, ctrID) })
	if s := m.Stats(); s.Expired < expired+2 || s.Lookups != 0 {
		t.Errorf("stats after the deaths: %+v (expired before %d)", s, expired)
	}
}

// A containerd socket that accepts and never answers: lookups are served at once, requests
// end in timeouts, and Close does not wait for the hanging event stream.
func TestContainerdHangingSocket(t *testing.T) {
	p := newContainerdT(t, hangServer(t))
	m := New(Config{Providers: []Provider{p}, Timeout: time.Second, Workers: 1, QueueSize: 4, RetryAfter: time.Hour})
	for i := range 100 {
		if e := m.Lookup(hexID(i)); e.State() == Ready {
			t.Fatalf("%s ready from a hanging socket", e.ID())
		}
	}
	if s := m.Stats(); s.Lookups != 100 || s.Misses != 100 || s.FetchOK != 0 {
		t.Fatalf("stats after the lookups: %+v", s)
	}
	// the prefetch's list and the first inspect time out
	s := waitStats(t, m, "timeouts", func(s Stats) bool { return s.Timeouts >= 2 })
	if s.FetchOK != 0 || s.Watchers != 1 || s.Events != 0 {
		t.Errorf("stats %+v", s)
	}
	// (the counter is raised before the entry's state is set)
	waitCond(t, m, "first entry failed", func() bool { return m.Lookup(hexID(0)).State() == Failed })
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs on the hanging containerd socket")
	}
}

// A containerd socket path that does not exist: errors, no timeouts, entries failed.
func TestContainerdMissingSocket(t *testing.T) {
	p := newContainerdT(t, t.TempDir()+"/none.sock")
	m := New(Config{Providers: []Provider{p}, Timeout: 5 * time.Second, RetryAfter: time.Hour})
	defer m.Close()
	m.Lookup(idA)
	s := waitStats(t, m, "errors", func(s Stats) bool { return s.FetchErrors >= 2 && s.Fetches == 1 })
	if s.Timeouts != 0 || s.FetchOK != 0 {
		t.Errorf("stats %+v", s)
	}
	waitCond(t, m, "entry failed", func() bool { return m.Lookup(idA).State() == Failed })
}

// The privileged rule on the specs each runtime writes.
func TestSpecPrivileged(t *testing.T) {
	const allCaps = `"bounding":["CAP_CHOWN","CAP_SYS_ADMIN","CAP_NET_ADMIN"]`
	const defaultCaps = `"bounding":["CAP_CHOWN","CAP_NET_BIND_SERVICE"]`
	const masked = `"maskedPaths":["/proc/kcore","/proc/keys"]`
	const allDevs = `"devices":[{"allow":true,"access":"rwm"}]`
	const someDevs = `"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]`
	spec := func(caps, linux string) string {
		return `{"process":{"capabilities":{` + caps + `}},"linux":{` + linux + `}}`
	}
	cases := []struct {
		name, spec string
		want       bool
	}{
		{"docker/ctr/nerdctl --privileged", spec(allCaps, `"resources":{`+allDevs+`}`), true},
		{"CRI privileged (type a, -1 numbers)", spec(allCaps, `"resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"a","major":-1,"minor":-1,"access":"rwm"}]}`), true},
		{"default container", spec(defaultCaps, masked+`,"resources":{`+someDevs+`}`), false},
		{"--cap-add ALL", spec(allCaps, masked+`,"resources":{`+someDevs+`}`), false},
		{"all devices, masked paths", spec(allCaps, masked+`,"resources":{`+allDevs+`}`), false},
		{"all devices without CAP_SYS_ADMIN", spec(defaultCaps, `"resources":{`+allDevs+`}`), false},
		{"all devices then a deny", spec(allCaps, `"resources":{"devices":[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":10,"minor":200,"access":"rwm"}]}`), false},
		{"read-only devices", spec(allCaps, `"resources":{"devices":[{"allow":true,"access":"r"}]}`), false},
		{"no spec sections", `{}`, false},
	}
	for _, c := range cases {
		got, err := specPrivileged([]byte(c.spec))
		if err != nil || got != c.want {
			t.Errorf("%s: privileged %v (%v), want %v", c.name, got, err, c.want)
		}
	}
}

// Which containerd events are starts and deaths; an exec'd process's exit is neither.
func TestContainerdEventTopics(t *testing.T) {
	enc := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		topic string
		msg   proto.Message
		want  RuntimeEvent
		ok    bool
	}{
		{"/containers/create", &apievents.ContainerCreate{ID: idA}, RuntimeEvent{ID: idA, Kind: EventStart}, true},
		{"/tasks/start", &apievents.TaskStart{ContainerID: idA, Pid: 42}, RuntimeEvent{ID: idA, Kind: EventStart}, true},
		{"/tasks/exit", &apievents.TaskExit{ContainerID: idA, ID: idA, Pid: 42}, RuntimeEvent{ID: idA, Kind: EventDie}, true},
		{"/tasks/exit", &apievents.TaskExit{ContainerID: idA, ID: "exec-1", Pid: 43}, RuntimeEvent{}, false},
		{"/tasks/delete", &apievents.TaskDelete{ContainerID: idA, Pid: 42}, RuntimeEvent{ID: idA, Kind: EventDie}, true},
		{"/tasks/delete", &apievents.TaskDelete{ContainerID: idA, ID: "exec-1"}, RuntimeEvent{}, false},
		{"/containers/delete", &apievents.ContainerDelete{ID: idA}, RuntimeEvent{ID: idA, Kind: EventDie}, true},
		{"/tasks/oom", &apievents.TaskOOM{ContainerID: idA}, RuntimeEvent{}, false},
	}
	for _, c := range cases {
		got, ok := containerdEvent(c.topic, enc(c.msg))
		if ok != c.ok || got != c.want {
			t.Errorf("%s %v: got %+v %v, want %+v %v", c.topic, c.msg, got, ok, c.want, c.ok)
		}
	}
	if namespaceRuntime(DockerNamespace) != TypeDocker || namespaceRuntime("k8s.io") != TypeContainerd {
		t.Error("namespace runtimes")
	}
}
