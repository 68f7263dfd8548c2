package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env is what one action gets: the live saker, a fresh directory and a unique token.
type env struct {
	s   *sakerProc
	dir string // fresh directory for this action (removed with the run directory)
	tok string // unique token to tell this action's events apart
}

// comm is the kernel's task name for an executable path (basename cut to 15 bytes),
// which is what proc.name shows.
func comm(path string) string {
	b := filepath.Base(path)
	if len(b) > 15 {
		b = b[:15]
	}
	return b
}

// testComm is proc.pname of the processes this test starts directly.
var testComm = comm(os.Args[0])

// copyExe copies an executable to dst (mode 0755).
func copyExe(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// run runs argv (argv[0] a path; it becomes the process's argv[0]) with extra environment,
// failing the test when it fails unless mayFail.
func run(t *testing.T, mayFail bool, extraEnv []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil && !mayFail {
		t.Fatalf("%q: %v\n%s", argv, err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cmdline is proc.cmdline for an exec of argv: the task name, then the arguments.
func cmdline(argv ...string) string {
	return strings.Join(append([]string{comm(argv[0])}, argv[1:]...), " ")
}

// netns is a private network namespace joined to the host by a veth pair: the host side
// is 198.51.100.2/24, the namespace side 198.51.100.1/24 (TEST-NET-2), where a helper
// accepts TCP connections on nsPorts. No other address is ever contacted.
type netns struct {
	name   string
	server *exec.Cmd
}

const (
	nsAddr   = "198.51.100.1"
	hostAddr = "198.51.100.2"
)

var nsPorts = []string{"8080", "4444"}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed: network rules not tested")
	}
	id := os.Getpid() % 100000
	n := &netns{name: fmt.Sprintf("sakere2e%d", id)}
	ha, nb := fmt.Sprintf("ske2e%da", id), fmt.Sprintf("ske2e%db", id)
	steps := [][]string{
		{"ip", "netns", "add", n.name},
		{"ip", "link", "add", ha, "type", "veth", "peer", "name", nb},
		{"ip", "link", "set", nb, "netns", n.name},
		{"ip", "addr", "add", hostAddr + "/24", "dev", ha},
		{"ip", "link", "set", ha, "up"},
		{"ip", "netns", "exec", n.name, "ip", "addr", "add", nsAddr + "/24", "dev", nb},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", nb, "up"},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	t.Cleanup(func() {
		if n.server != nil {
			n.server.Process.Kill()
			n.server.Wait()
		}
		exec.Command("ip", "link", "del", ha).Run()
		exec.Command("ip", "netns", "del", n.name).Run()
	})
	for _, st := range steps {
		if out, err := exec.Command(st[0], st[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v\n%s", st, err, out)
		}
	}
	n.server = exec.Command("ip", append([]string{"netns", "exec", n.name, helperBin, "serve", nsAddr}, nsPorts...)...)
	out, _ := n.server.StdoutPipe()
	if err := n.server.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("server in %s: %q %v", n.name, line, err)
	}
	return n
}

// action is one real thing done on the host and the alerts it must raise.
type action struct {
	name string
	do   func(t *testing.T, e *env) []expect
}

// enableRules turns on, the way a Falco user does in a rules file of their own, upstream
// rules that ship disabled (enabled: false) and that these tests trigger.
const enableRules = `
- rule: Create Hidden Files or Directories
  enabled: true
  override:
    enabled: replace
- rule: Read Shell Configuration File
  enabled: true
  override:
    enabled: replace
- rule: Interpreted procs outbound network activity
  enabled: true
  override:
    enabled: replace
- rule: Interpreted procs inbound network activity
  enabled: true
  override:
    enabled: replace
- rule: Unexpected inbound connection source
  enabled: true
  override:
    enabled: replace
- rule: E2E child of a thread
  desc: a process started by the test's thread-spawn helper, to read its proc.ppid
  condition: evt.type in (execve, execveat) and evt.dir=< and proc.cmdline contains "sakere2e-ppid"
  output: child of a thread (ppid=%proc.ppid pid=%proc.pid pname=%proc.pname cmdline=%proc.cmdline)
  priority: DEBUG
`

// ppidRule (in enableRules) shows proc.ppid of the processes whose command line has ppidToken.
const (
	ppidRule  = "E2E child of a thread"
	ppidToken = "sakere2e-ppid"
)

// runIn runs argv in directory dir, failing the test when it fails.
func runIn(t *testing.T, dir string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%q in %s: %v\n%s", argv, dir, err, out)
	}
}

// liveRuleArgs are the -r flags of TestLive: the three upstream files, then enableRules.
func liveRuleArgs(t *testing.T) []string {
	t.Helper()
	var args []string
	for _, f := range ruleFiles {
		args = append(args, "-r", f)
	}
	en := filepath.Join(runDir, "enable.yaml")
	if err := os.WriteFile(en, []byte(enableRules), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(args, "-r", en)
}

// TestLive runs one saker for all actions, then stops it and checks the detach.
func TestLive(t *testing.T) {
	need(t)
	args := append([]string{"run", "--json"}, liveRuleArgs(t)...)
	start := time.Now()
	s := startSaker(t, args...)
	t.Logf("saker ready after %v", time.Since(start).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			stop(t, s, syscall.SIGKILL)
		}
	}()
	ids, err := progIDs(s.Pid())
	if err != nil || len(ids) == 0 {
		t.Fatalf("no BPF programs held by saker (pid %d): %v", s.Pid(), err)
	}
	curNetns = newNetns(t).name
	for i, a := range actions() {
		t.Run(a.name, func(t *testing.T) {
			e := &env{s: s, dir: filepath.Join(runDir, fmt.Sprintf("a%02d", i)), tok: fmt.Sprintf("sakere2e-%d-%02d", os.Getpid(), i)}
			if err := os.MkdirAll(e.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			n := s.Mark()
			t0 := time.Now()
			exps := a.do(t, e)
			for _, x := range exps {
				waitFor(t, s, n, x)
			}
			t.Logf("%d alert(s) seen %v after the action began", len(exps), time.Since(t0).Round(time.Millisecond))
		})
	}
	t.Run("capture replays to the same alerts", func(t *testing.T) { testCaptureReplay(t, s) })
	t.Run("SIGINT exits 0 and detaches", func(t *testing.T) {
		stopped = true
		if err := stop(t, s, syscall.SIGINT); err != nil {
			t.Errorf("saker exit after SIGINT: %v\n%s", err, s.StderrText())
		}
		waitUnloaded(t, ids, "after SIGINT")
		t.Logf("saker stderr:\n%s", s.StderrText())
	})
}

// TestKill9 kills a running saker with SIGKILL, starts another one and checks nothing of the
// first stays loaded.
func TestKill9(t *testing.T) {
	need(t)
	args := []string{"run", "--json"}
	for _, f := range ruleFiles {
		args = append(args, "-r", f)
	}
	first := startSaker(t, args...)
	ids, err := progIDs(first.Pid())
	if err != nil || len(ids) == 0 {
		stop(t, first, syscall.SIGKILL)
		t.Fatalf("no BPF programs held by saker: %v", err)
	}
	if len(loaded(ids)) != len(ids) {
		t.Fatalf("saker's programs %v not all loaded while it runs", ids)
	}
	stop(t, first, syscall.SIGKILL)
	second := startSaker(t, args...)
	waitUnloaded(t, ids, "after kill -9 and a new start")
	ids2, _ := progIDs(second.Pid())
	if err := stop(t, second, syscall.SIGTERM); err != nil {
		t.Errorf("second saker exit after SIGTERM: %v\n%s", err, second.StderrText())
	}
	waitUnloaded(t, ids2, "after SIGTERM")
}

var curNetns string

func mustCwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// skipIfLoginuidRoot skips rules that need user.loginuid != 0 when this session's is 0.
func skipIfLoginuidRoot(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/loginuid")
	if err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Skip("the rule needs user.loginuid != 0 and this session's loginuid is 0")
	}
}

// startBackground starts argv and waits for it to print "ready".
func startBackground(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("%q: %q %v", argv, line, err)
	}
	return cmd
}

// replayKeys are the output fields compared between a live alert and its replay.
var replayKeys = []string{"proc.name", "proc.cmdline", "proc.pname", "proc.exepath", "fd.name", "evt.type",
	"evt.arg.target", "evt.arg.linkpath", "evt.arg.filename", "evt.arg.mode"}

// testCaptureReplay records a capture with `saker capture` while a few actions run, then
// replays it with `saker run -e` and the same rules: the actions' alerts must come back with
// the same rule names and key fields as live.
func testCaptureReplay(t *testing.T, s *sakerProc) {
	file := filepath.Join(runDir, "live.scap")
	capt := startSaker(t, "capture", "-w", file)
	n := s.Mark()
	var exps []expect
	picked := map[string]bool{"read /etc/shadow": true, "symlink over /etc/shadow": true, "setuid bit": true, "shell spawned by nginx": true}
	for i, a := range actions() {
		if !picked[a.name] {
			continue
		}
		e := &env{s: s, dir: filepath.Join(runDir, fmt.Sprintf("c%02d", i)), tok: fmt.Sprintf("sakere2e-%d-c%02d", os.Getpid(), i)}
		if err := os.MkdirAll(e.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		exps = append(exps, a.do(t, e)...)
	}
	var live []*alert
	for _, x := range exps {
		if a := waitFor(t, s, n, x); a != nil {
			live = append(live, a)
		}
	}
	if err := stop(t, capt, syscall.SIGINT); err != nil {
		t.Fatalf("saker capture exit after SIGINT: %v\n%s", err, capt.StderrText())
	}
	t.Logf("capture: %s", strings.TrimSpace(capt.StderrText()))
	args := append([]string{"run", "--json", "-e", file}, liveRuleArgs(t)...)
	out, err := exec.Command(sakerBin, args...).Output()
	if err != nil {
		t.Fatalf("saker run -e %s: %v", file, err)
	}
	var replay []alert
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a alert
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&a); err == nil {
			replay = append(replay, a)
		}
	}
	for _, la := range live {
		want := map[string]string{}
		for _, k := range replayKeys {
			if v, ok := la.Field(k); ok {
				want[k] = v
			}
		}
		found := false
		for i := range replay {
			if matches(&replay[i], la.Rule, want) {
				found = true
				break
			}
		}
		if !found {
			var near []string
			for _, r := range replay {
				if r.Rule == la.Rule {
					b, _ := json.Marshal(r.Fields)
					near = append(near, string(b))
				}
			}
			t.Errorf("live alert %q %v not replayed from the capture; replay has %d of that rule:\n  %s",
				la.Rule, want, len(near), strings.Join(near, "\n  "))
		}
	}
}
