package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func enforceRules(dir, sub string) string {
	return fmt.Sprintf(`
- rule: Enforce live exec
  desc: no program of the test's %s directory runs
  condition: evt.type in (execve, execveat) and proc.exepath startswith %s/
  output: forbidden exec (proc.exepath=%%proc.exepath)
  priority: CRITICAL
  enforce: kill
`, sub, filepath.Join(dir, sub))
}

func sigkilled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// TestLiveEnforceKill: `saker run` with enforce.enabled and an `enforce: kill` rule scoped to
// the test's directory: the exec of a copied echo there is killed before it prints, a
// response alert reports it, and after the rules change (SIGHUP) the kernel enforces the new
// rule and no longer the old one.
func TestLiveEnforceKill(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"kill", "kill2"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	b, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kill", "skenf")
	bin2 := filepath.Join(dir, "kill2", "skenf")
	os.WriteFile(bin, b, 0o755)
	os.WriteFile(bin2, b, 0o755)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(enforceRules(dir, "kill")), 0o644)
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("rules_files: [%s]\njson_output: true\nenforce:\n  enabled: true\n", rules)), 0o644)
	p, lines := liveSaker(t, "-c", cfg)

	cmd := exec.Command(bin, "printed")
	out, err := cmd.CombinedOutput()
	if !sigkilled(err) || len(out) != 0 {
		t.Fatalf("exec of %s: %v %q, want death by SIGKILL and no output; saker: %s", bin, err, out, p)
	}
	resp, ok := waitAlert(t, lines, 30*time.Second, func(a falcoAlert) bool { return a.Source == "response" })
	if !ok {
		t.Fatalf("no response alert; saker: %s", p)
	}
	of := resp.OutputFields
	if of["action"] != "enforce_kill" || of["policy_rule"] != "Enforce live exec" || fmt.Sprint(of["proc.pid"]) != strconv.Itoa(cmd.Process.Pid) ||
		of["evt.arg.path"] != bin || of["dry_run"] != false {
		t.Fatalf("response alert %+v", resp)
	}

	os.WriteFile(rules, []byte(enforceRules(dir, "kill2")), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := exec.Command(bin2, "x").Output()
		if sigkilled(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded rule is not enforced; saker: %s", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := exec.Command(bin, "runs").Output(); err != nil || strings.TrimSpace(string(out)) != "runs" {
		t.Fatalf("after the reload the old rule still kills: %v %q", err, out)
	}
}
