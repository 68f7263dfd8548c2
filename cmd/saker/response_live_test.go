package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestLiveResponseKillsProcess: `saker run` with a response policy (response.policy_file)
// and the real probe: a copied cat under a unique name opens a marker file and then waits
// on its stdin; the rule's alert makes the policy's kill_process kill it, and the
// outcome is printed as an alert of source response.
func TestLiveResponseKillsProcess(t *testing.T) {
	dir := t.TempDir()
	name := fmt.Sprintf("skrsp%d", os.Getpid()%100000) // a comm of its own (< 16 bytes)
	prog := filepath.Join(dir, name)
	b, err := os.ReadFile("/bin/cat")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "marker.txt")
	os.WriteFile(marker, []byte("marker\n"), 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(fmt.Sprintf(`
- rule: Response live marker
  desc: the test program opened its marker
  condition: evt.type in (open, openat, openat2) and evt.dir=< and proc.name=%s and fd.name=%s
  output: marker opened (proc.pid=%%proc.pid proc.name=%%proc.name file=%%fd.name)
  priority: CRITICAL
`, name, marker)), 0o644)
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte(`
rules:
  - name: kill the marker
    match:
      rules: ["Response live marker"]
    actions:
      - action: kill_process
`), 0o644)
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("rules_files: [%s]\njson_output: true\nresponse:\n  policy_file: %s\n", rules, policy)), 0o644)

	p, lines := liveSaker(t, "-c", cfg)
	cmd := exec.Command(prog, marker, "-")
	stdin, err := cmd.StdinPipe() // kept open: the program waits on it after the marker
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	trig, ok := waitAlert(t, lines, 90*time.Second, func(a falcoAlert) bool { return a.Rule == "Response live marker" })
	if !ok {
		t.Fatalf("no marker alert; saker: %s", p)
	}
	if pid := fmt.Sprint(trig.OutputFields["proc.pid"]); pid != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("marker alert of pid %s, the program is %d", pid, cmd.Process.Pid)
	}
	resp, ok := waitAlert(t, lines, 90*time.Second, func(a falcoAlert) bool { return a.Source == "response" })
	if !ok {
		t.Fatalf("no response alert; saker: %s", p)
	}
	of := resp.OutputFields
	if of["action"] != "kill_process" || of["outcome"] != "done" || of["rule"] != "Response live marker" ||
		fmt.Sprint(of["proc.pid"]) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("response alert %+v", resp)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the program ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(30 * time.Second): // a hang guard: the kill was reported done already
		t.Fatal("the program is still running after kill_process")
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("saker: %v\n%s", err, p)
	}
}
