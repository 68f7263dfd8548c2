package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

// TestLiveUpstreamSensitiveMount runs the three upstream files (with the sandbox rule
// "Launch Sensitive Mount Container" as shipped, enabled) beside a real dockerd: a container
// started with no mounts must not raise it (the macro compares a missing
// container.mount.dest[...] with "<NA>"), one with the host's /proc mounted must.
// The container without mounts runs to its end first, so once the second one's alert is
// seen, the first one's start has been evaluated too.
func TestLiveUpstreamSensitiveMount(t *testing.T) {
	need(t)
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	cfg := filepath.Join(runDir, "mounts.yaml")
	if err := os.WriteFile(cfg, []byte(`
json_output: true
append_output:
  - match: {source: syscall}
    extra_fields: [container.id]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "-c", cfg}, liveRuleArgs(t)...)
	s := startSaker(t, args...)
	defer stop(t, s, syscall.SIGINT)
	const rule = "Launch Sensitive Mount Container"
	n := s.Mark()
	plain := dd.Run(t, "--network", "none", dockertest.Image, "true")[:12]
	dd.Try("wait", plain)
	mounted := dd.Run(t, "--network", "none", "-v", "/proc:/host/proc:ro", dockertest.Image, "true")[:12]
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
