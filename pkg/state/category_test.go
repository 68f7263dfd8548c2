package state

import (
	"testing"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
)

// hcWorld is newWorld with a container manager, a container (hex64) whose init is tid 2000
// (vpid 1), runc on the host (tid 50, under sshd standing for containerd-shim), and the
// container's metadata (with the given probes) arriving as a capture's container event.
func hcWorld(t *testing.T, probesJSON string) *world {
	m := container.New(container.Config{Providers: []container.Provider{}})
	t.Cleanup(m.Close)
	w := newWorld(t, Options{Containers: m})
	w.e.AddThread(event.ThreadInfo{TID: 50, PID: 50, PTID: 10, Comm: "runc", Exe: "runc", Cwd: "/"})
	w.e.AddThread(event.ThreadInfo{TID: 2000, PID: 2000, PTID: 50, VTID: 1, VPID: 1, Comm: "sleep", Exe: "sleep",
		Args: []string{"600"}, Cwd: "/", Cgroups: ctrCgroups})
	w.ev(-1, "container", 'E', P{"json": []byte(`{"container":{"id":"` + hex64[:12] + `","full_id":"` + hex64 +
		`","type":0,"name":"web"` + probesJSON + `}}`)})
	return w
}

var ctrCgroups = []string{"cpu=/docker/" + hex64}

const hcJSON = `,"Healthcheck":{"exe":"/bin/sh","args":["-c","cat /etc/hostname"]}`

// spawn is a process made by parent (the child's side of the clone, as in a new pid
// namespace) that then execs exe args; it returns the thread after the exec.
func (w *world) spawn(parent, tid, vpid int64, cgroups []string, exe string, args ...string) *Thread {
	w.t.Helper()
	p := w.e.Thread(parent)
	w.ev(tid, "clone", 'X', P{"res": int64(0), "exe": p.Exe, "args": p.Args, "tid": tid, "pid": tid,
		"ptid": parent, "cwd": "/", "fdlimit": int64(1024), "comm": p.Comm, "flags": uint32(0),
		"uid": uint32(0), "gid": uint32(0), "vtid": vpid, "vpid": vpid, "cgroups": cgroups})
	ctx := w.ev(tid, "execve", 'X', P{"res": int64(0), "exe": exe, "args": args, "tid": tid, "pid": tid,
		"ptid": parent, "cwd": "/", "comm": exe, "cgroups": cgroups})
	if ctx.Thread == nil || ctx.Thread.TID != tid {
		w.t.Fatalf("exec of %d: thread %+v", tid, ctx.Thread)
	}
	return ctx.Thread
}

func TestCategoryHealthcheck(t *testing.T) {
	w := hcWorld(t, hcJSON)
	eq(t, "container init", w.e.Thread(2000).Category, CatContainer)
	eq(t, "runc (host)", w.e.Thread(50).Category, CatNone)

	// the runtime starts the healthcheck's argv in the container: a healthcheck
	hc := w.spawn(50, 3000, 7, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname")
	eq(t, "healthcheck", hc.Category, CatHealthcheck)
	// its children inherit it (the fork, then the exec of another program)
	c := w.spawn(3000, 3001, 8, ctrCgroups, "cat", "/etc/hostname")
	eq(t, "healthcheck's child", c.Category, CatHealthcheck)
	// and theirs (cat's fork matches no probe: only the inheritance gives it)
	eq(t, "healthcheck's grandchild", w.spawn(3001, 3002, 9, ctrCgroups, "ls").Category, CatHealthcheck)
	// and the probe stays one when it execs another program itself
	ctx := w.ev(3000, "execve", 'X', P{"res": int64(0), "exe": "cat", "args": []string{"/etc/hostname"},
		"tid": int64(3000), "pid": int64(3000), "ptid": int64(50), "cwd": "/", "comm": "cat", "cgroups": ctrCgroups})
	eq(t, "healthcheck after exec", ctx.Thread.Category, CatHealthcheck)

	// docker exec of another command: nothing
	eq(t, "docker exec cat /etc/passwd", w.spawn(50, 4000, 20, ctrCgroups, "cat", "/etc/passwd").Category, CatNone)
	// same exe, other args; same args, other exe (argv[0] as the exec shows it)
	eq(t, "other args", w.spawn(50, 4001, 10, ctrCgroups, "/bin/sh", "-c", "cat /etc/hosts").Category, CatNone)
	eq(t, "other argv[0]", w.spawn(50, 4002, 11, ctrCgroups, "sh", "-c", "cat /etc/hostname").Category, CatNone)

	// the workload running the same command under the container's init: its category
	eq(t, "under init", w.spawn(2000, 5000, 12, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname").Category, CatContainer)
	// on the host: nothing, whatever it runs
	eq(t, "host", w.spawn(100, 5100, 5100, nil, "/bin/sh", "-c", "cat /etc/hostname").Category, CatNone)
}

// A process whose parent has no category but which descends from the container's init is not
// a probe (libsinsp walks the parents looking for a vpid 1 in a container).
func TestCategoryUnderInitWithoutCategory(t *testing.T) {
	m := container.New(container.Config{Providers: []container.Provider{}})
	t.Cleanup(m.Close)
	w := newWorld(t, Options{Containers: m})
	w.e.AddThread(event.ThreadInfo{TID: 50, PID: 50, PTID: 10, Comm: "runc", Exe: "runc", Cwd: "/"})
	// the process list lists the child before the init: the child has no category
	w.e.AddThread(event.ThreadInfo{TID: 6000, PID: 6000, PTID: 2000, VTID: 5, VPID: 5, Comm: "sh", Exe: "/bin/sh",
		Args: []string{"-c", "cat /etc/hostname"}, Cwd: "/", Cgroups: ctrCgroups})
	w.e.AddThread(event.ThreadInfo{TID: 2000, PID: 2000, PTID: 50, VTID: 1, VPID: 1, Comm: "sleep", Exe: "sleep",
		Cwd: "/", Cgroups: ctrCgroups})
	w.ev(-1, "container", 'E', P{"json": []byte(`{"container":{"id":"` + hex64[:12] + `","type":0` + hcJSON + `}}`)})
	eq(t, "listed child", w.e.Thread(6000).Category, CatNone)
	eq(t, "grandchild of init running the healthcheck", w.spawn(6000, 6001, 6, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname").Category, CatNone)
	// the same from runc is a healthcheck
	eq(t, "from runc", w.spawn(50, 6002, 7, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname").Category, CatHealthcheck)
}

// Kubernetes probes take their own categories; metadata not yet known classifies nothing.
func TestCategoryProbesAndPendingMetadata(t *testing.T) {
	w := hcWorld(t, `,"LivenessProbe":{"exe":"/bin/grpc_health_probe","args":["-addr=:8080"]},"ReadinessProbe":{"exe":"cat","args":["/tmp/ready"]}`)
	eq(t, "liveness", w.spawn(50, 3000, 7, ctrCgroups, "/bin/grpc_health_probe", "-addr=:8080").Category, CatLivenessProbe)
	eq(t, "readiness", w.spawn(50, 3001, 8, ctrCgroups, "cat", "/tmp/ready").Category, CatReadinessProbe)
	eq(t, "no healthcheck", w.spawn(50, 3002, 9, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname").Category, CatNone)

	other := []string{"cpu=/docker/" + hex64[1:] + "0"} // a container nobody described
	eq(t, "pending metadata", w.spawn(50, 3003, 10, other, "cat", "/tmp/ready").Category, CatNone)

	// a container without probes: nothing compared, nothing set
	w2 := hcWorld(t, "")
	eq(t, "no probes", w2.spawn(50, 3000, 7, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname").Category, CatNone)
}

// Classifying an exec allocates nothing beyond what the exec itself does.
func TestCategoryNoAlloc(t *testing.T) {
	w := hcWorld(t, hcJSON)
	th := w.spawn(50, 3000, 7, ctrCgroups, "/bin/sh", "-c", "cat /etc/hostname")
	th.Category = CatNone
	if n := testing.AllocsPerRun(100, func() { th.Category = CatNone; w.e.identifyCategory(th) }); n != 0 {
		t.Errorf("identifyCategory allocates %v times", n)
	}
	eq(t, "category", th.Category, CatHealthcheck)
}

// Threads created one after the other in two containers and on the host each get their own
// container's id and metadata entry: the engine reads a run of equal cgroups once, and a
// change of cgroups (either way) is read again.
func TestContainerOfAlternatingCgroups(t *testing.T) {
	m := container.New(container.Config{Providers: []container.Provider{}})
	t.Cleanup(m.Close)
	w := newWorld(t, Options{Containers: m})
	other := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for i, c := range []struct {
		cgroups []string
		id      string
	}{
		{ctrCgroups, hex64[:12]}, {ctrCgroups, hex64[:12]}, {nil, "host"}, {ctrCgroups, hex64[:12]},
		{[]string{"cpu=/docker/" + other}, other[:12]}, {[]string{"cpu=/user.slice"}, "host"}, {ctrCgroups, hex64[:12]},
	} {
		th := w.spawn(100, int64(6000+i), int64(6000+i), c.cgroups, "sleep")
		if th.ContainerID != c.id || th.Container == nil || th.Container.ID() != c.id {
			got := "<nil>"
			if th.Container != nil {
				got = th.Container.ID()
			}
			t.Errorf("thread %d (%v): container id %q, entry %s; want %s for both", i, c.cgroups, th.ContainerID, got, c.id)
		}
	}
}
