package deny

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// TestMain runs the helper modes of the test binary: the Guard's watchdog, a program that
// opens or executes a file (started under other names: "untrusted", "trusted", "allowed"),
// and a decider process (a Guard in its own process, to stop and kill).
func TestMain(m *testing.M) {
	RunWatchdogIfChild()
	if v := os.Getenv("DENY_TEST_DO"); v != "" {
		op, path, _ := strings.Cut(v, ":")
		switch op {
		case "read":
			b, err := os.ReadFile(path)
			if err != nil {
				fmt.Printf("err %v\n", errnoOf(err))
				os.Exit(0)
			}
			fmt.Printf("ok %d\n", len(b))
		case "bench": // bench:N:PATH: N opens and closes; prints ns per open+close
			ns, file, _ := strings.Cut(path, ":")
			n, _ := strconv.Atoi(ns)
			start := time.Now()
			for i := 0; i < n; i++ {
				fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					fmt.Printf("err %v\n", errnoOf(err))
					os.Exit(0)
				}
				unix.Close(fd)
			}
			fmt.Printf("ok %d\n", time.Since(start).Nanoseconds()/int64(max(n, 1)))
		case "exec":
			err := unix.Exec(path, []string{path}, nil)
			fmt.Printf("err %v\n", errnoOf(err))
		}
		os.Exit(0)
	}
	if v := os.Getenv("DENY_TEST_DECIDER"); v != "" {
		deciderMain(v)
	}
	os.Exit(m.Run())
}

func errnoOf(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	return err.Error()
}

// deciderMain: "DIR,DEADLINE,hang|deny": a Guard with a watchdog on DIR; "deny" denies
// "untrusted"'s opens, "hang" never decides. It prints "ready" and waits to be killed.
func deciderMain(v string) {
	f := strings.Split(v, ",")
	d, _ := time.ParseDuration(f[1])
	dec := DeciderFunc(func(r *Request) Verdict {
		if f[2] == "hang" {
			select {}
		}
		c, _ := procName(r.PID)
		return Verdict{Deny: c == "untrusted", Rule: "test"}
	})
	g, err := Start(Options{Paths: []string{f[0]}, Deadline: d, Decider: dec, Watchdog: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", g.WatchdogPID())
	select {}
}

// needFanotify skips (or fails under CI) where permission events are not available.
func needFanotify(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (CAP_SYS_ADMIN for fanotify permission events)"
	} else if fd, err := openGroup(); err != nil {
		why = err.Error()
	} else {
		unix.Close(fd)
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

type world struct {
	dir    string // the test's own tmpfs (the only thing marked)
	shadow string
	bin    map[string]string // program name → a copy of the test binary under it
	forbid string            // an executable on the tmpfs
}

// newWorld mounts a tmpfs of the test's own, with a "shadow" file and an executable, and
// copies the test binary as untrusted, trusted and allowed (outside the tmpfs).
func newWorld(t testing.TB) *world {
	needFanotify(t)
	w := &world{dir: t.TempDir(), bin: map[string]string{}}
	if err := unix.Mount("tmpfs", w.dir, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(w.dir, unix.MNT_DETACH) })
	w.shadow = filepath.Join(w.dir, "shadow")
	if err := os.WriteFile(w.shadow, []byte("root:$6$secret:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(w.dir, "bin"), 0o755)
	w.forbid = filepath.Join(w.dir, "bin", "forbidden")
	testshared.CopyExecutable(t, "/bin/true", w.forbid)
	self, _ := os.Executable()
	bins := t.TempDir()
	for _, n := range []string{"untrusted", "trusted", "allowed"} {
		w.bin[n] = filepath.Join(bins, n)
		testshared.CopyExecutable(t, self, w.bin[n])
	}
	return w
}

// run runs program name with "op:path" and returns its answer line.
func (w *world) run(t testing.TB, name, op, path string) string {
	t.Helper()
	cmd := exec.Command(w.bin[name])
	cmd.Env = []string{"DENY_TEST_DO=" + op + ":" + path}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s %s: %v (%s)", name, op, path, err, out)
	}
	return strings.TrimSpace(string(out))
}

const testRules = `
- rule: Test shadow read
  desc: the test's shadow file read by anything but trusted
  condition: evt.type in (open, openat) and fd.name = DIR/shadow and not proc.name = trusted
  output: "Test shadow read (proc.name=%proc.name fd.name=%fd.name)"
  priority: CRITICAL
  enforce: deny
- rule: Test forbidden program
  desc: a program of the test's bin directory
  condition: evt.type in (open, openat) and fd.name startswith DIR/bin/
  output: "Test forbidden program (proc.name=%proc.name fd.name=%fd.name)"
  priority: CRITICAL
  enforce: deny
- rule: Test detection only
  desc: not a deny rule, never denies
  condition: evt.type in (open, openat) and fd.name = DIR/shadow
  output: "seen"
  priority: NOTICE
`

// ruleDecider compiles testRules for dir.
func ruleDecider(t testing.TB, dir string) *RuleDecider {
	t.Helper()
	s := NewState(nil)
	rs, errs, _ := engine.Load([]loader.File{{Name: "deny_test.yaml", Data: []byte(strings.ReplaceAll(testRules, "DIR", dir))}},
		engine.Options{Sources: s.Sources()})
	if len(errs) > 0 {
		t.Fatalf("rules: %v", errs)
	}
	d := NewRuleDecider(s, rs)
	if len(d.Rules()) != 2 {
		t.Fatalf("deny rules: %d, want 2", len(d.Rules()))
	}
	return d
}

type alerts struct {
	mu    sync.Mutex
	l     []*alert.Alert
	added chan struct{} // a token per alert added
}

func (a *alerts) add(al *alert.Alert) {
	a.mu.Lock()
	a.l = append(a.l, al)
	a.mu.Unlock()
	a.added <- struct{}{}
}

// wait returns once n alerts were added (the Guard answers the open before it emits the
// alert, so the opener can be done first), or after 10 s.
func (a *alerts) wait(n int) []*alert.Alert {
	timeout := time.After(10 * time.Second)
	for len(a.all()) < n {
		select {
		case <-a.added:
		case <-timeout:
			return a.all()
		}
	}
	return a.all()
}
func (a *alerts) all() []*alert.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*alert.Alert(nil), a.l...)
}

func startGuard(t *testing.T, o Options) (*Guard, *alerts) {
	t.Helper()
	al := &alerts{added: make(chan struct{}, 1024)}
	o.Emit = al.add
	g, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, al
}

func TestDenyRules(t *testing.T) {
	w := newWorld(t)
	m := NewMetrics()
	g, al := startGuard(t, Options{Paths: []string{w.dir}, Decider: ruleDecider(t, w.dir), Allow: []string{"allowed"}, Metrics: m, Deadline: 2 * time.Second})

	if got := w.run(t, "untrusted", "read", w.shadow); got != "err EPERM" {
		t.Errorf("untrusted read of the shadow file: %q, want err EPERM", got)
	}
	if got := w.run(t, "trusted", "read", w.shadow); got != "ok 34" {
		t.Errorf("trusted read: %q, want ok 34 (the rule excludes proc.name=trusted)", got)
	}
	if got := w.run(t, "allowed", "read", w.shadow); got != "ok 34" {
		t.Errorf("allowlisted read: %q, want ok 34", got)
	}
	other := filepath.Join(w.dir, "motd")
	os.WriteFile(other, []byte("hi\n"), 0o644)
	if got := w.run(t, "untrusted", "read", other); got != "ok 3" {
		t.Errorf("untrusted read of a file no rule names: %q, want ok 3", got)
	}
	if got := w.run(t, "untrusted", "exec", w.forbid); got != "err EPERM" {
		t.Errorf("exec of the forbidden program: %q, want err EPERM (FAN_OPEN_EXEC_PERM)", got)
	}
	// Saker itself (this process runs the Guard) is never denied, though the rule matches it
	if b, err := os.ReadFile(w.shadow); err != nil || len(b) != 34 {
		t.Errorf("Saker's own read: %d bytes, %v", len(b), err)
	}

	denied := testutil.ToFloat64(m.Decisions.WithLabelValues("denied"))
	if denied < 2 {
		t.Errorf("saker_deny_decisions_total{outcome=denied} = %v, want >= 2", denied)
	}
	if n := testutil.ToFloat64(m.Decisions.WithLabelValues("trusted")); n < 2 {
		t.Errorf("trusted decisions = %v, want >= 2 (allowlist, Saker itself)", n)
	}
	var rules []string
	for _, a := range al.wait(2) {
		if a.Source != response.Source || a.OutputFields["outcome"] != "done" || a.OutputFields["action"] != "deny" {
			t.Errorf("unexpected alert %+v", a)
			continue
		}
		if a.OutputFields["proc.name"] != "untrusted" || a.OutputFields["proc.pid"].(int64) == 0 {
			t.Errorf("alert fields %v", a.OutputFields)
		}
		rules = append(rules, fmt.Sprint(a.OutputFields["rule"], " ", a.OutputFields["fd.name"]))
	}
	want := []string{"Test shadow read " + w.shadow, "Test forbidden program " + w.forbid}
	if strings.Join(rules, "|") != strings.Join(want, "|") {
		t.Errorf("denial alerts: %q, want %q", rules, want)
	}
	_ = g
}

func TestDenyDryRun(t *testing.T) {
	w := newWorld(t)
	m := NewMetrics()
	_, al := startGuard(t, Options{Paths: []string{w.dir}, Decider: ruleDecider(t, w.dir), DryRun: true, Metrics: m, Deadline: 2 * time.Second})
	if got := w.run(t, "untrusted", "read", w.shadow); got != "ok 34" {
		t.Errorf("dry run: untrusted read %q, want ok 34", got)
	}
	a := al.wait(1)
	if len(a) != 1 || a[0].OutputFields["outcome"] != "dry_run" || a[0].OutputFields["dry_run"] != true || a[0].OutputFields["rule"] != "Test shadow read" {
		t.Fatalf("dry-run alerts: %+v", a)
	}
	if n := testutil.ToFloat64(m.Decisions.WithLabelValues("dry_run")); n != 1 {
		t.Errorf("dry_run decisions %v", n)
	}
}

// A decider that does not answer in time: the open proceeds after the deadline.
func TestDenyDeadlineFailOpen(t *testing.T) {
	w := newWorld(t)
	m := NewMetrics()
	release := make(chan struct{})
	defer close(release)
	slow := DeciderFunc(func(r *Request) Verdict { <-release; return Verdict{Deny: true} })
	_, al := startGuard(t, Options{Paths: []string{w.dir}, Decider: slow, Metrics: m, Deadline: 150 * time.Millisecond})
	start := time.Now()
	if got := w.run(t, "untrusted", "read", w.shadow); got != "ok 34" {
		t.Errorf("late decision: %q, want ok 34 (fail-open)", got)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("the open returned after %v, before the deadline: it was not held", el)
	}
	if n := testutil.ToFloat64(m.FailOpen); n != 1 {
		t.Errorf("saker_deny_failopen_total = %v, want 1", n)
	}
	a := al.wait(1)
	if len(a) != 1 || a[0].OutputFields["outcome"] != "failed" || !strings.Contains(a[0].OutputFields["error"].(string), "fail-open") {
		t.Errorf("fail-open alert: %+v", a)
	}
}

// startDecider runs a Guard in a process of its own (with its watchdog).
func startDecider(t *testing.T, w *world, deadline time.Duration, mode string) (*exec.Cmd, int) {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = []string{fmt.Sprintf("DENY_TEST_DECIDER=%s,%v,%s", w.dir, deadline, mode)}
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("decider: %q %v", line, err)
	}
	wd, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	go io.Copy(io.Discard, out)
	return cmd, wd
}

// Saker stopped (SIGSTOP): its watchdog allows the opens after the deadline.
func TestDenyStoppedSakerFailsOpen(t *testing.T) {
	w := newWorld(t)
	cmd, wd := startDecider(t, w, 200*time.Millisecond, "deny")
	if got := w.run(t, "untrusted", "read", w.shadow); got != "err EPERM" {
		t.Fatalf("decider running: %q, want err EPERM", got)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	start := time.Now()
	go func() { done <- w.run(t, "untrusted", "read", w.shadow) }()
	select {
	case got := <-done:
		if got != "ok 34" {
			t.Errorf("decider stopped: %q, want ok 34 (fail-open by the watchdog)", got)
		}
		// the watchdog answers a deadline after the last heartbeat (they come every quarter)
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Errorf("answered after %v: the open was not held", el)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal("an open on the marked tmpfs hung while the decider was stopped")
	}
	cmd.Process.Signal(syscall.SIGCONT)
	time.Sleep(500 * time.Millisecond) // heartbeats again: the watchdog stands back
	if got := w.run(t, "untrusted", "read", w.shadow); got != "err EPERM" {
		t.Errorf("decider continued: %q, want err EPERM again", got)
	}
	// the watchdog goes with its parent
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(wd, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if unix.Kill(wd, 0) == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", wd)); !strings.Contains(string(b), ") Z") {
			t.Errorf("the watchdog %d outlived its Saker", wd)
		}
	}
}

// Saker exits while an open waits for it: the kernel releases the waiter as the group goes.
func TestDenyExitReleases(t *testing.T) {
	w := newWorld(t)
	cmd, _ := startDecider(t, w, time.Hour, "hang")
	done := make(chan string, 1)
	go func() { done <- w.run(t, "untrusted", "read", w.shadow) }()
	select {
	case got := <-done:
		t.Fatalf("the open returned (%q) before the decider exited: it was not held", got)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Kill()
	select {
	case got := <-done:
		if got != "ok 34" {
			t.Errorf("after the decider exited: %q, want ok 34", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the open still waits after the decider exited")
	}
}

func TestKindOf(t *testing.T) {
	w := newWorld(t)
	for path, want := range map[string]MarkKind{w.dir: MarkMount, filepath.Join(w.dir, "bin"): MarkDir, w.shadow: MarkFile, "/": MarkMount} {
		if k, err := KindOf(path); err != nil || k != want {
			t.Errorf("KindOf(%s) = %v, %v; want %v", path, k, err, want)
		}
	}
	if _, err := KindOf(filepath.Join(w.dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing path: %v", err)
	}
}

// Inode marks: a directory's entries and a single file.
func TestDenyInodeMarks(t *testing.T) {
	w := newWorld(t)
	_, _ = startGuard(t, Options{Paths: []string{filepath.Join(w.dir, "bin"), w.shadow}, Decider: ruleDecider(t, w.dir), Deadline: 2 * time.Second})
	if got := w.run(t, "untrusted", "read", w.shadow); got != "err EPERM" {
		t.Errorf("file mark: %q, want err EPERM", got)
	}
	if got := w.run(t, "untrusted", "exec", w.forbid); got != "err EPERM" {
		t.Errorf("directory mark: exec %q, want err EPERM", got)
	}
}

// TestDenyRuntimesAllowed: the shadow rule matches any program but "trusted"; a program
// named after each entry of actions.RuntimeProcesses (its executable's name) still opens it.
func TestDenyRuntimesAllowed(t *testing.T) {
	w := newWorld(t)
	m := NewMetrics()
	startGuard(t, Options{Paths: []string{w.dir}, Decider: ruleDecider(t, w.dir), Metrics: m, Deadline: 2 * time.Second})
	if got := w.run(t, "untrusted", "read", w.shadow); got != "err EPERM" {
		t.Fatalf("untrusted read of the shadow file: %q, want err EPERM", got)
	}
	self, _ := os.Executable()
	bins := t.TempDir()
	for _, g := range actions.RuntimeProcesses {
		name := strings.TrimSuffix(g, "*")
		if name != g {
			name += "x" // a prefix entry: something longer
		}
		w.bin[name] = filepath.Join(bins, name)
		testshared.CopyExecutable(t, self, w.bin[name])
		if got := w.run(t, name, "read", w.shadow); got != "ok 34" {
			t.Errorf("%s read of the shadow file: %q, want ok 34", name, got)
		}
	}
	// the guard answers an open before it counts the decision: wait (bounded) for the count
	want := float64(len(actions.RuntimeProcesses))
	deadline := time.Now().Add(5 * time.Second)
	n := testutil.ToFloat64(m.Decisions.WithLabelValues("trusted"))
	for n < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = testutil.ToFloat64(m.Decisions.WithLabelValues("trusted"))
	}
	if n < want {
		t.Errorf("trusted decisions = %v, want >= %v", n, want)
	}
}

// TestDeciderCacheFollowsProcess: the process cache (descriptors of /proc/PID kept open)
// sees an exec under the same pid and the process's exit.
func TestDeciderCacheFollowsProcess(t *testing.T) {
	d := ruleDecider(t, t.TempDir())
	cmd := exec.Command("/bin/sh", "-c", "read x; exec /bin/sleep 100")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := int32(cmd.Process.Pid)
	if comm, exe, ok := d.Name(pid); !ok || comm != "sh" || !strings.HasSuffix(exe, "sh") {
		t.Fatalf("before the exec: %q %q %v", comm, exe, ok)
	}
	in.Write([]byte("go\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		comm, exe, ok := d.Name(pid)
		if ok && comm == "sleep" && exe == "/usr/bin/sleep" || ok && comm == "sleep" && exe == "/bin/sleep" {
			break
		}
		if !ok || time.Now().After(deadline) {
			t.Fatalf("after the exec: %q %q %v", comm, exe, ok)
		}
		time.Sleep(10 * time.Millisecond) // polls the exec, which this test cannot be told of
	}
	cmd.Process.Kill()
	cmd.Wait()
	if comm, _, ok := d.Name(pid); ok {
		t.Fatalf("after the exit: still %q", comm)
	}
}
