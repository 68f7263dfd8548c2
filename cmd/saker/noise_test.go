package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

// TestBenignWorkloadRaisesNoWarning runs saker with its built-in rules while a benign workload
// runs: a git clone of this repository, a go build of Saker from it, an apt-get reinstall of a
// package and docker run/exec of busybox. No alert of priority Warning or above may come from
// it. The workload runs under a shell copied to a unique name, so its processes are told apart
// (by their ancestors, added to every alert with append_output) from whatever else the machine
// does meanwhile; the containers by their ids.
func TestBenignWorkloadRaisesNoWarning(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("needs root")
	}
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	dir := t.TempDir()
	// the workload's shell lives outside /tmp: running a program from /tmp is itself a signal
	bin, err := os.MkdirTemp("/opt", "saker-benign-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	shell := filepath.Join(bin, fmt.Sprintf("benign%d", time.Now().UnixNano()%1000000))
	if out, err := exec.Command("cp", "/bin/bash", shell).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	root, _ := filepath.Abs("../..")
	cfg := filepath.Join(dir, "saker.yaml")
	var anc []string
	for i := 1; i <= 8; i++ {
		anc = append(anc, fmt.Sprintf("proc.aname[%d]", i))
	}
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
json_output: true
rules_files: []
append_output:
  - match: {source: syscall}
    extra_fields: [proc.name, container.id, "%s"]
`, strings.Join(anc, `", "`))), 0o644)
	proc, lines := liveSaker(t, "-c", cfg)

	cid := filepath.Join(dir, "cid")
	script := fmt.Sprintf(`set -e
cd %[1]s
git clone -q %[2]s repo
cd repo && go build -o %[1]s/saker-built ./cmd/saker && cd ..
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall hostname >/dev/null
docker -H unix://%[3]s run --rm --network none --cidfile %[4]s %[5]s true
docker -H unix://%[3]s run -d --network none --name benign-%[6]d %[5]s sleep 30 >/dev/null
docker -H unix://%[3]s exec benign-%[6]d ls / >/dev/null
docker -H unix://%[3]s rm -f benign-%[6]d >/dev/null
`, dir, root, dd.Socket, cid, dockertest.Image, time.Now().UnixNano()%1000000)
	// the long-running container's id, for filtering its alerts
	cmd := exec.Command(shell, "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // let the last events reach saker (bounded; no timing asserted)
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("saker exit: %v", err)
	}
	ids, _ := os.ReadFile(cid)
	base := filepath.Base(shell)
	severe := map[string]bool{"Emergency": true, "Alert": true, "Critical": true, "Error": true, "Warning": true}
	n := 0
	for l := range lines {
		a, ok := parseAlert(t, l)
		if !ok {
			continue
		}
		n++
		ours := false
		for _, k := range append(anc, "proc.name") {
			if a.OutputFields[k] == base {
				ours = true
			}
		}
		if c, _ := a.OutputFields["container.id"].(string); c != "" && c != "host" && (strings.HasPrefix(string(ids), c) || strings.Contains(fmt.Sprint(a.OutputFields), "benign-")) {
			ours = true
		}
		if ours && severe[a.Priority] {
			t.Errorf("benign workload raised %s %q: %s", a.Priority, a.Rule, a.Output)
		}
	}
	t.Logf("%d alerts in all during the workload (every source on the machine)", n)
}
