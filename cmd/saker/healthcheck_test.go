package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/testshared"
)

// TestLiveContainerHealthcheck runs saker live beside a real dockerd and a container with a
// Docker healthcheck: the healthcheck's processes (started by the runtime, argv equal to the
// healthcheck's) are proc.is_container_healthcheck and print container.healthcheck; a docker
// exec of another command in the same container is not.
func TestLiveContainerHealthcheck(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	dir := t.TempDir()
	name := fmt.Sprintf("saker-hc-%d", time.Now().UnixNano()%1_000_000)
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte("json_output: true\n"), 0o644)
	rules := filepath.Join(dir, "hc.yaml")
	os.WriteFile(rules, []byte(`
- rule: healthcheck exec
  desc: test
  condition: evt.type in (execve, execveat) and evt.dir=< and proc.is_container_healthcheck=true and container.name = `+name+`
  output: "healthcheck %proc.cmdline %container.healthcheck"
  priority: WARNING
- rule: container exec
  desc: test
  condition: evt.type in (execve, execveat) and evt.dir=< and container.name = `+name+`
  output: "exec %proc.cmdline healthcheck=%proc.is_container_healthcheck liveness=%proc.is_container_liveness_probe %container.liveness_probe"
  priority: WARNING
`), 0o644)
	proc, lines := liveSaker(t, "-c", cfg, "-r", rules)

	id := dd.Run(t, "--network", "none", "--name", name, "--health-cmd", "cat /etc/hostname",
		"--health-interval", "1s", dockertest.Image, "sleep", "120")
	a, ok := waitAlert(t, lines, 30*time.Second, func(a falcoAlert) bool {
		return a.Rule == "healthcheck exec" && strings.Contains(fmt.Sprint(a.OutputFields["proc.cmdline"]), "cat /etc/hostname")
	})
	if !ok {
		t.Fatalf("no healthcheck alert for %s (docker says health %s):\n%s", name,
			dd.Inspect(t, id, "{{json .State.Health}}"), proc)
	}
	if hc := a.OutputFields["container.healthcheck"]; hc != "/bin/sh -c cat /etc/hostname" {
		t.Errorf("container.healthcheck = %v, want the healthcheck's command; alert %+v", hc, a)
	}

	// docker exec of another command: the event is seen, and it is not a healthcheck
	dd.Docker(t, "exec", id, "cat", "/etc/passwd")
	a, ok = waitAlert(t, lines, 30*time.Second, func(a falcoAlert) bool {
		if a.Rule == "healthcheck exec" && strings.Contains(fmt.Sprint(a.OutputFields["proc.cmdline"]), "/etc/passwd") {
			t.Errorf("docker exec flagged as a healthcheck: %+v", a)
		}
		return a.Rule == "container exec" && a.OutputFields["proc.cmdline"] == "cat /etc/passwd"
	})
	if !ok {
		t.Fatalf("no exec alert for docker exec cat /etc/passwd:\n%s", proc)
	}
	if f := a.OutputFields; f["proc.is_container_healthcheck"] != false || f["proc.is_container_liveness_probe"] != false ||
		f["container.liveness_probe"] != "NONE" {
		t.Errorf("docker exec: %v", f)
	}
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
}
