package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLiveWorkers runs the live probe with two pipeline workers: a real file read alerts
// with its process-tree and user fields (read from a worker's replica of the state), a
// reload puts new rules in effect on both workers, and saker exits cleanly.
func TestLiveWorkers(t *testing.T) {
	secret, rules := fileReadRule(t, "secret read", "read %fd.name by %proc.name cmd=%proc.cmdline parent=%proc.pname user=%user.name")
	proc, lines := liveSaker(t, "-r", rules, "--json", "--workers", "2")
	if !strings.Contains(proc.String(), "pipeline: 2 workers") {
		t.Fatalf("saker does not run 2 workers:\n%s", proc)
	}
	// several processes, so that both workers' shards (pid mod 2) are likely to see one
	for i := 0; i < 4; i++ {
		if out, err := exec.Command("cat", secret).CombinedOutput(); err != nil {
			t.Fatal(err, string(out))
		}
	}
	for i := 0; i < 4; i++ {
		a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "secret read" })
		if !ok {
			t.Fatalf("alert %d of 4 missing for cat %s; stderr:\n%s", i+1, secret, proc)
		}
		f := a.OutputFields
		if f["fd.name"] != secret || f["proc.name"] != "cat" || f["proc.cmdline"] != "cat "+secret || f["user.name"] != "root" || f["proc.pname"] != "saker.test" {
			t.Errorf("alert fields %v", f)
		}
	}
	marker := filepath.Join(t.TempDir(), "made-by-test")
	os.WriteFile(rules, []byte(`
- rule: mkdir seen
  desc: test
  condition: evt.type in (mkdir, mkdirat) and evt.arg.path startswith `+marker+`
  output: "mkdir %evt.arg.path by %proc.name"
  priority: WARNING
`), 0o644)
	waitStderr(t, proc, "rules reloaded")
	// mkdir from child processes (pids on both shards) and from this process
	for i := 0; i < 4; i++ {
		m := marker + string(rune('a'+i))
		if out, err := exec.Command("mkdir", m).CombinedOutput(); err != nil {
			t.Fatal(err, string(out))
		}
	}
	for i := 0; i < 4; i++ {
		a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "mkdir seen" })
		if !ok {
			t.Fatalf("alert %d of 4 missing from the reloaded rule:\n%s", i+1, proc)
		}
		if p, _ := a.OutputFields["evt.arg.path"].(string); !strings.HasPrefix(p, marker) || a.OutputFields["proc.name"] != "mkdir" {
			t.Errorf("alert fields %v", a.OutputFields)
		}
	}
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("saker did not exit cleanly on SIGTERM: %v\n%s", err, proc)
	}
}
