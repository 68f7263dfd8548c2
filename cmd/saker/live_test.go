package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/saker-sec/saker/internal/testshared"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// liveProc is a running `saker run`.
type liveProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  strings.Builder
	errDone chan struct{}
}

func (p *liveProc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop signals saker and waits for it to exit, its stderr read to the end.
func (p *liveProc) stop(sig os.Signal) error {
	p.cmd.Process.Signal(sig)
	<-p.errDone
	return p.cmd.Wait()
}

// liveSaker starts `saker run` with args, waits for its ready line and returns the process and
// a channel of its stdout lines.
func liveSaker(t *testing.T, args ...string) (*liveProc, <-chan string) {
	t.Helper()
	testshared.Need(t, testshared.LiveProblem())
	cmd := exec.Command(sakerBin, append([]string{"run"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100000)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	errText := &liveProc{cmd: cmd, errDone: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errText.mu.Lock()
			errText.stderr.WriteString(sc.Text() + "\n")
			errText.mu.Unlock()
			if strings.Contains(sc.Text(), "; ready") {
				ready <- true
			}
		}
		close(ready)
		close(errText.errDone)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("saker exited before ready: %s", errText)
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("saker not ready after 90s: %s", errText)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return errText, lines
}

// waitAlert reads alerts until one satisfies match or the deadline passes.
func waitAlert(t *testing.T, lines <-chan string, within time.Duration, match func(falcoAlert) bool) (falcoAlert, bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return falcoAlert{}, false
			}
			var a falcoAlert
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("bad alert line %q: %v", l, err)
			}
			if match(a) {
				return a, true
			}
		case <-deadline:
			return falcoAlert{}, false
		}
	}
}

// fileReadRule writes a file and a rules file with one rule, named rule, that fires when the
// file is opened and outputs output; it returns the file and the rules file.
func fileReadRule(t *testing.T, rule, output string) (file, rules string) {
	t.Helper()
	dir := t.TempDir()
	rules = filepath.Join(dir, "r.yaml")
	file = filepath.Join(dir, "watched-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(rules, []byte(`
- rule: `+rule+`
  desc: test
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name = `+file+`
  output: "`+output+`"
  priority: WARNING
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return file, rules
}

func TestLiveAlertAndCleanExit(t *testing.T) {
	secret, rules := fileReadRule(t, "secret read", "read %fd.name by %proc.name cmd=%proc.cmdline parent=%proc.pname user=%user.name")
	errText, lines := liveSaker(t, "-r", rules, "--json")
	if out, err := exec.Command("cat", secret).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "secret read" })
	if !ok {
		t.Fatalf("no alert for cat %s; stderr:\n%s", secret, errText)
	}
	f := a.OutputFields
	if f["fd.name"] != secret || f["proc.name"] != "cat" || f["proc.cmdline"] != "cat "+secret || f["user.name"] != "root" || f["proc.pname"] != "saker.test" {
		t.Errorf("alert fields %v", f)
	}
	if err := errText.stop(syscall.SIGTERM); err != nil {
		t.Errorf("saker did not exit cleanly on SIGTERM: %v\n%s", err, errText)
	}
	if !strings.Contains(errText.String(), "events: ") {
		t.Errorf("no final counters on stderr:\n%s", errText)
	}
}

// setsid(2) and setpgid(2) are captured for the state whatever the rules: a process that
// started its own session shows it in proc.sid and proc.is_sid_leader.
func TestLiveSessionState(t *testing.T) {
	secret, rules := fileReadRule(t, "session read", "read %fd.name by %proc.name sid=%proc.sid leader=%proc.is_sid_leader vpgid=%proc.vpgid pid=%proc.pid")
	errText, lines := liveSaker(t, "-r", rules, "--json")
	// setsid(1) calls setsid() itself (the child of this test is no group leader) and execs cat
	cmd := exec.Command("setsid", "cat", secret)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	pid := cmd.Process.Pid
	a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "session read" })
	if !ok {
		t.Fatalf("no alert for setsid cat %s; stderr:\n%s", secret, errText)
	}
	f := a.OutputFields
	num := func(k string) int {
		n, _ := f[k].(float64)
		return int(n)
	}
	if num("proc.pid") != pid || num("proc.sid") != pid || f["proc.is_sid_leader"] != true || num("proc.vpgid") != pid {
		t.Errorf("after setsid: pid %d, alert fields %v", pid, f)
	}
}

// Live, the interface list comes from the host: a connection to a loopback listener has a
// local server address, so the connecting socket's fd.is_server is true (libsinsp's rule),
// and fd.lproto/fd.rproto name the local and remote ports.
func TestLiveInterfacesDecideLocalEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	rules := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(rules, []byte(fmt.Sprintf(`
- rule: loopback connect
  desc: test
  condition: evt.type = connect and evt.dir = < and fd.sport = %d
  output: "connect %%fd.name server=%%fd.is_server l=%%fd.lproto r=%%fd.rproto"
  priority: WARNING
`, port)), 0o644)
	errText, lines := liveSaker(t, "-r", rules, "--json")
	if out, err := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port)).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "loopback connect" })
	if !ok {
		t.Fatalf("no alert for a loopback connect; stderr:\n%s", errText)
	}
	f := a.OutputFields
	if f["fd.is_server"] != true || f["fd.rproto"] != fmt.Sprint(port) || f["fd.lproto"] == fmt.Sprint(port) || f["fd.lproto"] == nil {
		t.Errorf("alert fields %v (server port %d)", f, port)
	}
}

// TestLiveDropAlert overflows a one-page ring buffer and expects Falco's drop alert.
func TestLiveDropAlert(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte(`
- rule: never
  desc: test
  condition: evt.type = openat and fd.name = /nonexistent/never
  output: "never %fd.name"
  priority: WARNING
`), 0o644)
	errText, lines := liveSaker(t, "-r", rules, "--json", "--ring-bytes", "4096", "--drop-alert-interval", "1s")
	for i := 0; i < 200000; i++ {
		f, err := os.Open("/etc/hostname")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	a, ok := waitAlert(t, lines, 30*time.Second, func(a falcoAlert) bool { return a.Rule == "Falco internal: syscall event drop" })
	if !ok {
		t.Fatalf("no drop alert after overflowing the ring; stderr:\n%s", errText)
	}
	if n, _ := a.OutputFields["n_drops"].(float64); n <= 0 || a.Source != "internal" || a.Priority != "Debug" {
		t.Errorf("drop alert %+v", a)
	}
	errText.stop(syscall.SIGINT)
	if !strings.Contains(errText.String(), "kernel drops: ") || strings.Contains(errText.String(), "kernel drops: 0 ") {
		t.Errorf("final counters do not report the drops:\n%s", errText)
	}
}

// TestLiveReload edits the rules file of a running saker: the new rule, on a syscall the old
// rules did not select, alerts once the reload is announced, and a broken edit keeps the
// running rules.
func TestLiveReload(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	marker := filepath.Join(dir, "made-by-test")
	os.WriteFile(rules, []byte(`
- rule: never
  desc: test
  condition: evt.type = openat and fd.name = /nonexistent/never
  output: "never %fd.name"
  priority: WARNING
`), 0o644)
	proc, lines := liveSaker(t, "-r", rules, "--json")
	os.WriteFile(rules, []byte(`
- rule: mkdir seen
  desc: test
  condition: evt.type in (mkdir, mkdirat) and evt.arg.path = `+marker+`
  output: "mkdir %evt.arg.path by %proc.name"
  priority: WARNING
`), 0o644)
	waitStderr(t, proc, "rules reloaded")
	if err := os.Mkdir(marker, 0o755); err != nil {
		t.Fatal(err)
	}
	a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "mkdir seen" })
	if !ok {
		t.Fatalf("no alert from the reloaded rule:\n%s", proc)
	}
	if a.OutputFields["evt.arg.path"] != marker || a.OutputFields["proc.name"] != "saker.test" {
		t.Errorf("alert fields %v", a.OutputFields)
	}
	os.WriteFile(rules, []byte("- rule: [broken\n"), 0o644)
	waitStderr(t, proc, "reload failed")
	os.Remove(marker)
	os.Mkdir(marker, 0o755)
	if _, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.Rule == "mkdir seen" }); !ok {
		t.Fatalf("the running rules stopped after a broken edit:\n%s", proc)
	}
	proc.stop(syscall.SIGTERM)
}

// waitStderr waits (bounded) until saker's stderr holds text.
func waitStderr(t *testing.T, p *liveProc, text string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if strings.Contains(p.String(), text) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("stderr never said %q:\n%s", text, p)
}
