package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

// The live tests load the real probe and kill only processes they start themselves: every
// rule is scoped to paths inside the test's t.TempDir() (and comm names made up here), so no
// other process on the host can match.

// Helper mode: the test binary copied under another name reads the file named by
// SAKER_ENF_READ and prints what it read.
func TestMain(m *testing.M) {
	if p := os.Getenv("SAKER_ENF_READ"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Stdout.Write(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func compileText(t testing.TB, name, text string) (*Program, error) {
	t.Helper()
	d := detect.New(state.Options{})
	rs, errs, _ := engine.Load([]loader.File{{Name: name, Data: []byte(text)}}, engine.Options{Sources: d.Sources()})
	if rs == nil {
		t.Fatalf("rules do not load: %v", errs)
	}
	return Compile(rs)
}

type liveEnv struct {
	dir    string
	run    *Runner
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (l *liveEnv) got() []*alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*alert.Alert(nil), l.alerts...)
}

// waitAlert waits for an enforcement alert whose target pid is pid.
func (l *liveEnv) waitAlert(t testing.TB, pid int) *alert.Alert {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range l.got() {
			if a.OutputFields["proc.pid"] == int64(pid) {
				return a
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no enforcement alert for pid %d (alerts: %d)", pid, len(l.got()))
	return nil
}

var (
	liveOnce sync.Once
	liveP    *probe.Probe
	liveErr  error
)

func startLive(t testing.TB, opts Options) *liveEnv {
	t.Helper()
	testshared.Need(t, testshared.LiveProblem())
	liveOnce.Do(func() {
		liveP, liveErr = probe.Load(probe.Options{Syscalls: []string{"execve"}, RingBytes: 1 << 20, ExcludeTGID: uint32(os.Getpid())})
	})
	if liveErr != nil {
		t.Fatal(liveErr)
	}
	l := &liveEnv{dir: t.TempDir()}
	opts.Emit = func(a *alert.Alert) {
		l.mu.Lock()
		l.alerts = append(l.alerts, a)
		l.mu.Unlock()
	}
	r, err := Start(liveP, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	l.run = r
	rules := strings.ReplaceAll(`
- rule: enf test exec
  desc: kill any exec of a program in the test's kill directory
  condition: evt.type in (execve, execveat) and evt.dir = < and proc.exepath startswith DIR/kill/
  output: exec %proc.exepath
  priority: CRITICAL
  enforce: kill
- rule: enf test secret
  desc: kill the untrusted readers of the test's secret
  condition: evt.type in (open, openat, openat2) and fd.name = DIR/secret and proc.name in (enfreader, enfreader32, enfallowed, enforce.test, runcx, kubelet2, crunx, RUNTIMES)
  output: open %fd.name
  priority: CRITICAL
  enforce: kill
`, "DIR", l.dir)
	rules = strings.ReplaceAll(rules, "RUNTIMES", strings.Join(runtimeNames(), ", "))
	prog, err := compileText(t, "enforce_live.yaml", rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetProgram(prog); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.dir, "kill"), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func TestLiveKillExec(t *testing.T) {
	l := startLive(t, Options{})
	bin := filepath.Join(l.dir, "kill", "enfecho")
	testshared.CopyExecutable(t, "/bin/echo", bin)
	cmd := exec.Command(bin, "should-never-print")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if !killedBySIGKILL(err) {
		t.Fatalf("exec of %s: %v (output %q), want death by SIGKILL", bin, err, out.String())
	}
	if out.Len() != 0 {
		t.Fatalf("the killed exec printed %q", out.String())
	}
	a := l.waitAlert(t, cmd.Process.Pid)
	if a.Source != "response" || a.OutputFields["policy_rule"] != "enf test exec" || a.OutputFields["evt.type"] != "execve" ||
		a.OutputFields["evt.arg.path"] != bin || a.OutputFields["dry_run"] != false || a.OutputFields["outcome"] != "done" {
		t.Fatalf("alert %+v", a)
	}
	// the same program outside the kill directory runs
	ok := filepath.Join(l.dir, "enfecho")
	testshared.CopyExecutable(t, "/bin/echo", ok)
	if b, err := exec.Command(ok, "fine").Output(); err != nil || string(b) != "fine\n" {
		t.Fatalf("exec outside the kill dir: %q %v", b, err)
	}
	if l.run.Kills()["enf test exec"] < 1 {
		t.Fatalf("kills %v", l.run.Kills())
	}
}

func TestLiveKillOpenBeforeRead(t *testing.T) {
	l := startLive(t, Options{AllowComms: []string{"enfallowed"}})
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-BYTES"), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reader := filepath.Join(l.dir, "enfreader")
	testshared.CopyExecutable(t, self, reader)
	cmd := exec.Command(reader)
	cmd.Env = append(os.Environ(), "SAKER_ENF_READ="+secret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if !killedBySIGKILL(err) {
		t.Fatalf("reader: %v (output %q), want death by SIGKILL", err, out.String())
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Fatalf("the reader got the bytes: %q", out.String())
	}
	a := l.waitAlert(t, cmd.Process.Pid)
	if a.OutputFields["policy_rule"] != "enf test secret" || a.OutputFields["evt.arg.path"] != secret || a.OutputFields["proc.name"] != "enfreader" {
		t.Fatalf("alert %+v", a.OutputFields)
	}

	// The same rule matches an allowlisted comm and this test process (Saker's place: its
	// tgid is protected): neither is killed.
	allowed := filepath.Join(l.dir, "enfallowed")
	testshared.CopyExecutable(t, self, allowed)
	cmd = exec.Command(allowed)
	cmd.Env = append(os.Environ(), "SAKER_ENF_READ="+secret)
	b, err := cmd.Output()
	if err != nil || string(b) != "TOP-SECRET-BYTES" {
		t.Fatalf("allowlisted reader: %q %v", b, err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "TOP-SECRET-BYTES" {
		t.Fatalf("self read: %q %v", b, err)
	}
	if st := l.run.Stats(); st.Spared == 0 {
		t.Fatalf("no spared count: %+v", st)
	}
}

func TestLiveDryRun(t *testing.T) {
	l := startLive(t, Options{DryRun: true})
	bin := filepath.Join(l.dir, "kill", "enfecho")
	testshared.CopyExecutable(t, "/bin/echo", bin)
	cmd := exec.Command(bin, "dry")
	b, err := cmd.Output()
	if err != nil || string(b) != "dry\n" {
		t.Fatalf("dry run exec: %q %v", b, err)
	}
	a := l.waitAlert(t, cmd.Process.Pid)
	if a.OutputFields["dry_run"] != true || a.OutputFields["outcome"] != "dry_run" {
		t.Fatalf("alert %+v", a.OutputFields)
	}
}

// TestLiveKillIA32: the same rules stop a 32-bit program's execve and open (ia32 syscall
// numbers, translated in the probe).
func TestLiveKillIA32(t *testing.T) {
	l := startLive(t, Options{})
	if _, err := exec.LookPath("gcc"); err != nil {
		testshared.Need(t, "gcc not installed (the ia32 test builds a 32-bit program)")
	}
	gate := filepath.Join(l.dir, "enfreader32")
	src, _ := filepath.Abs("testdata/gate32.c")
	if b, err := exec.Command("gcc", "-m32", "-static", "-O1", "-o", gate, src).CombinedOutput(); err != nil {
		testshared.Need(t, fmt.Sprintf("gcc cannot build static 32-bit programs (gcc-multilib missing?): %v: %s", err, b))
	}
	bin := filepath.Join(l.dir, "kill", "enfecho")
	testshared.CopyExecutable(t, "/bin/echo", bin)
	cmd := exec.Command(gate, "exec", bin)
	out, err := cmd.CombinedOutput()
	if !killedBySIGKILL(err) || len(out) != 0 {
		t.Fatalf("ia32 exec: %v %q, want death by SIGKILL and no output", err, out)
	}
	if a := l.waitAlert(t, cmd.Process.Pid); a.OutputFields["syscall.compat"] != true || a.OutputFields["evt.type"] != "execve" {
		t.Fatalf("alert %+v", a.OutputFields)
	}
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-BYTES"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(gate, "read", secret)
	out, err = cmd.CombinedOutput()
	if !killedBySIGKILL(err) || strings.Contains(string(out), "SECRET") {
		t.Fatalf("ia32 read: %v %q, want death by SIGKILL before a byte", err, out)
	}
	if a := l.waitAlert(t, cmd.Process.Pid); a.OutputFields["syscall.compat"] != true {
		t.Fatalf("alert %+v", a.OutputFields)
	}
}

// runtimeNames: a comm for each entry of actions.RuntimeProcesses (a prefix entry's prefix
// and more, cut to 15 bytes as the kernel cuts it).
func runtimeNames() []string {
	var out []string
	for _, g := range actions.RuntimeProcesses {
		n := strings.TrimSuffix(g, "*")
		if n != g {
			n += "x"
		}
		if len(n) > actions.CommLen {
			n = n[:actions.CommLen]
		}
		out = append(out, n)
	}
	return out
}

// TestLiveRuntimesSpared: the secret rule names each runtime's comm too; a process with that
// comm (a copy of the test binary named so) reads the secret and lives, where "enfreader"
// dies. The probe spares it by comm at syscall entry (the 5 s /proc rescan of protected pids
// is far too late for a process this short).
func TestLiveRuntimesSpared(t *testing.T) {
	l := startLive(t, Options{Rescan: time.Hour})
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-BYTES"), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string) ([]byte, error) {
		bin := filepath.Join(l.dir, name)
		testshared.CopyExecutable(t, self, bin)
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "SAKER_ENF_READ="+secret)
		return cmd.Output()
	}
	if _, err := run("enfreader"); !killedBySIGKILL(err) {
		t.Fatalf("enfreader: %v, want death by SIGKILL (the rule is in force)", err)
	}
	// exact entries are exact: a name one byte longer is no runtime
	for _, n := range []string{"runcx", "kubelet2", "crunx"} {
		if _, err := run(n); !killedBySIGKILL(err) {
			t.Errorf("%s: %v, want death by SIGKILL", n, err)
		}
	}
	spared := l.run.Stats().Spared
	for i, g := range actions.RuntimeProcesses {
		name := strings.TrimSuffix(g, "*")
		if name != g {
			name += "x"
		}
		b, err := run(name)
		if err != nil || string(b) != "TOP-SECRET-BYTES" {
			t.Errorf("%s (comm %s): %q %v, want the secret read", g, runtimeNames()[i], b, err)
		}
	}
	if st := l.run.Stats(); st.Spared < spared+uint64(len(actions.RuntimeProcesses)) {
		t.Errorf("spared %d -> %d, want +%d", spared, st.Spared, len(actions.RuntimeProcesses))
	}
}

// TestLiveKillIA32Connect: a connect rule kills a 32-bit program at its connect, through the
// ia32 connect syscall and through socketcall(SYS_CONNECT): it never returns to the program;
// a connect to another port goes through. (The SIGKILL is pending from syscall entry, but a
// loopback TCP handshake completes inside the connect call: the listener may still see the
// connection, from a process that is gone before it can use it.)
func TestLiveKillIA32Connect(t *testing.T) {
	l := startLive(t, Options{})
	if _, err := exec.LookPath("gcc"); err != nil {
		testshared.Need(t, "gcc not installed (the ia32 test builds a 32-bit program)")
	}
	gate := filepath.Join(l.dir, "enfconnect32")
	src, _ := filepath.Abs("testdata/gate32.c")
	if b, err := exec.Command("gcc", "-m32", "-static", "-O1", "-o", gate, src).CombinedOutput(); err != nil {
		testshared.Need(t, fmt.Sprintf("gcc cannot build static 32-bit programs (gcc-multilib missing?): %v: %s", err, b))
	}
	listen := func() (*net.TCPListener, int) {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln, ln.Addr().(*net.TCPAddr).Port
	}
	_, badPort := listen()
	_, okPort := listen()
	prog, err := compileText(t, "enforce_connect.yaml", fmt.Sprintf(`
- rule: enf test connect
  desc: kill the test's 32-bit program connecting to the forbidden port
  condition: evt.type = connect and fd.rport = %d and proc.name = enfconnect32
  output: connect %%fd.rport
  priority: CRITICAL
  enforce: kill
`, badPort))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.run.SetProgram(prog); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"connect", "socketcall"} {
		cmd := exec.Command(gate, mode, strconv.Itoa(badPort))
		out, err := cmd.CombinedOutput()
		if !killedBySIGKILL(err) || len(out) != 0 {
			t.Fatalf("ia32 %s to the forbidden port: %v %q, want death by SIGKILL and no output", mode, err, out)
		}
		a := l.waitAlert(t, cmd.Process.Pid)
		if a.OutputFields["syscall.compat"] != true || a.OutputFields["evt.type"] != "connect" || a.OutputFields["policy_rule"] != "enf test connect" {
			t.Fatalf("%s alert %+v", mode, a.OutputFields)
		}
		if out, err := exec.Command(gate, mode, strconv.Itoa(okPort)).CombinedOutput(); err != nil || string(out) != "connected\n" {
			t.Fatalf("ia32 %s to another port: %v %q", mode, err, out)
		}
	}
}
