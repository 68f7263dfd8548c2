package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

// TestLiveUpstreamSensitiveMount runs the three upstream files (with the sandbox rule
// "Launch Sensitive Mount Container" as shipped, enabled) beside a real dockerd: a container
// started with no mounts must not raise it (the macro compares a missing
// container.mount.dest[...] with "<NA>"), one with the host's /proc mounted must.
//
// The rule looks at the exec of a container's init process (proc.vpid=1), and the
// container's metadata (its mounts) is fetched from dockerd while the container starts: an
// init that execs at once may be evaluated before the fetch completes. So each container's
// init waits for a file, the test reads a sensitive file in the container (docker exec)
// until Saker's alert for it names the container (the metadata has arrived), then creates
// the file: the init execs /bin/true (by path: busybox's standalone shell runs a `true` or an
// applet named without a path in-process, with no exec to see), which is what the rule must
// (or must not) flag. The
// container without mounts runs to its end first, so once the second one's alert is seen
// its init exec has been evaluated too.
func TestLiveUpstreamSensitiveMount(t *testing.T) {
	need(t)
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	cfg := filepath.Join(runDir, "mounts.yaml")
	if err := os.WriteFile(cfg, []byte(`
json_output: true
append_output:
  - match: {source: syscall}
    extra_fields: [container.id, container.name]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "-c", cfg}, liveRuleArgs(t)...)
	s := startSaker(t, args...)
	defer stop(t, s, syscall.SIGINT)
	const rule = "Launch Sensitive Mount Container"
	const initCmd = "until [ -e /sk-go ]; do sleep 0.05; done; exec /bin/true"
	n := s.Mark()
	start := func(opts ...string) string {
		t.Helper()
		args := append([]string{"--network", "none"}, opts...)
		id := dd.Run(t, append(args, dockertest.Image, "sh", "-c", initCmd)...)[:12]
		waitMetadata(t, s, dd, id)
		dd.Docker(t, "exec", id, "touch", "/sk-go")
		return id
	}
	plain := start()
	dd.Try("wait", plain)
	mounted := start("-v", "/proc:/host/proc:ro")
	deadline := time.Now().Add(alertWait)
	var seen bool
	for !seen && time.Now().Before(deadline) {
		for _, a := range s.Since(n) {
			if c, _ := a.Field("container.id"); a.Rule == rule && c == mounted {
				seen = true
			}
		}
		if !seen {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !seen {
		t.Fatalf("%q did not alert for container %s started with -v /proc:/host/proc", rule, mounted)
	}
	for _, a := range s.Since(n) {
		if c, _ := a.Field("container.id"); a.Rule == rule && c == plain {
			t.Errorf("%q alerted for container %s, which has no mounts: %s", rule, plain, a.Line)
		}
	}
}

// waitMetadata reads /etc/shadow in container id (docker exec; upstream "Read sensitive file
// untrusted") until Saker's alert for the read carries the container's name, i.e. until
// Saker has the container's metadata.
func waitMetadata(t *testing.T, s *sakerProc, dd *dockertest.Daemon, id string) {
	t.Helper()
	name := strings.TrimPrefix(dd.Inspect(t, id, "{{.Name}}"), "/")
	deadline := time.Now().Add(alertWait)
	for time.Now().Before(deadline) {
		m := s.Mark()
		dd.Docker(t, "exec", id, "sh", "-c", "echo x >/etc/shadow; cat /etc/shadow >/dev/null")
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for _, a := range s.Since(m) {
				c, _ := a.Field("container.id")
				got, _ := a.Field("container.name")
				if a.Rule == "Read sensitive file untrusted" && c == id && got == name {
					return
				}
			}
		}
	}
	t.Fatalf("no alert named container %s (%s): its metadata never reached Saker", id, name)
}
