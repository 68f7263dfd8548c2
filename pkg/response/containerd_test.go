package response

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/response/actions"
)

func taskStatus(t *testing.T, d *dockertest.Daemon, ns, id string) string {
	for _, l := range strings.Split(d.Ctr(t, ns, "tasks", "ls"), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == id {
			return f[2]
		}
	}
	return "GONE"
}

// TestContainerdActions: a plain containerd container (no Docker) is paused, then killed,
// through containerd's task API, found by its short id in its namespace.
func TestContainerdActions(t *testing.T) {
	d := dockertest.Start(t)
	const ns = "saker-response-test"
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	d.RunContainerd(t, ns, id, nil, "sleep", "600")
	e, s, _, _ := newEngine(t, `
rules:
  - name: pause
    match: {rules: [pause]}
    actions: [{action: container_pause}]
  - name: kill
    match: {rules: [kill]}
    actions: [{action: container_kill}]
`, actions.Env{ContainerdSocket: d.Containerd, DockerSocket: d.Socket})
	tgt := &actions.Target{PID: 1, ContainerID: id[:12], Container: &container.Info{ID: id, Type: container.TypeContainerd}}
	e.Handle(trigger("pause"), tgt)
	e.Flush()
	as := s.take()
	if len(as) != 1 || as[0].OutputFields["outcome"] != "done" || as[0].OutputFields["namespace"] != ns {
		t.Fatalf("pause: %v", as[0].OutputFields)
	}
	if st := taskStatus(t, d, ns, id); st != "PAUSED" {
		t.Fatalf("task %s after pause", st)
	}
	d.Ctr(t, ns, "tasks", "resume", id)
	// without metadata, Docker is asked first and says 404: containerd does it
	e.Handle(trigger("kill"), &actions.Target{PID: 1, ContainerID: id[:12]})
	e.Flush()
	as = s.take()
	if len(as) != 1 || as[0].OutputFields["outcome"] != "done" || as[0].OutputFields["runtime"] != "containerd" {
		t.Fatalf("kill: %v", as[0].OutputFields)
	}
	for range 100 {
		if st := taskStatus(t, d, ns, id); st == "STOPPED" || st == "GONE" {
			return
		}
	}
	t.Fatalf("task %s after kill", taskStatus(t, d, ns, id))
}
