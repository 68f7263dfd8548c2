package agent

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/pkg/alert"
)

// The agent with deny.enabled: the rules file's `enforce: deny` rule refuses cat's read of a
// file on the marked tmpfs (EPERM), the allowlisted head reads it, the denial is a response
// alert on the agent's sinks.
func TestAgentDeny(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (fanotify permission events)")
		}
		t.Skip("needs root (fanotify permission events)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	secret := filepath.Join(dir, "shadow")
	os.WriteFile(secret, []byte("root:x:1::\n"), 0o600)
	rules := `
- rule: Agent test shadow
  desc: test
  condition: evt.type in (open, openat) and fd.name = ` + secret + `
  output: "read (proc.name=%proc.name)"
  priority: CRITICAL
  enforce: deny
`
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(rules), 0o600)
	sink := &collectSink{}
	var stderr syncBuf
	ov := []string{"stdout_output.enabled=false", "watch_config_files=false", "deny.enabled=true", "deny.paths=[" + dir + "]",
		"deny.allow=[head]", "deny.watchdog=false"}
	// a replay marks nothing
	r, err := New(Options{Overrides: ov, RulesFiles: []string{rulesFile}, Replay: true, Stdout: io.Discard, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if r.deny != nil || strings.Contains(stderr.String(), "saker: deny:") {
		t.Errorf("a replay agent started deny: %s", stderr.String())
	}
	a, err := New(Options{Overrides: ov, RulesFiles: []string{rulesFile}, Stdout: io.Discard, Stderr: &stderr, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	out, err := exec.Command("cat", secret).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Operation not permitted") {
		t.Errorf("cat: %v %q, want Operation not permitted", err, out)
	}
	if out, err := exec.Command("head", secret).CombinedOutput(); err != nil || string(out) != "root:x:1::\n" {
		t.Errorf("head (allowlisted): %v %q", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []string
		sink.mu.Lock()
		all := append([]*alert.Alert(nil), sink.as...)
		sink.mu.Unlock()
		for _, al := range all {
			if al.Source == "response" {
				got = append(got, al.OutputFields["rule"].(string)+" "+al.OutputFields["proc.name"].(string)+" "+al.OutputFields["outcome"].(string))
			}
		}
		if len(got) == 1 && got[0] == "Agent test shadow cat done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("response alerts %q; stderr %s", got, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "saker: deny: 1 rule(s)") {
		t.Errorf("stderr: %s", stderr.String())
	}
}
