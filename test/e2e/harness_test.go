package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/saker-sec/saker/internal/livesaker"
	"github.com/saker-sec/saker/internal/testshared"
)

var (
	skipReason string // why these tests cannot run here ("" when they can)
	repoRoot   string
	rulesDir   string   // ../shared/falco-rules
	sakerBin   string   // built once in TestMain
	helperBin  string   // testdata/helper.c, built once in TestMain
	runDir     string   // per-run scratch directory (removed at the end)
	ruleFiles  []string // the three upstream syscall rules files
)

const (
	alertWait = 20 * time.Second // bound on waiting for one alert (the machine is loaded)
	readyWait = 90 * time.Second // bound on saker's startup
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	skipReason = environmentProblem()
	if skipReason == "" {
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e setup:", err)
			if runDir != "" {
				os.RemoveAll(runDir)
			}
			return 1
		}
		defer os.RemoveAll(runDir)
	}
	return m.Run()
}

// environmentProblem says why the live tests cannot run on this machine, or "".
func environmentProblem() string {
	if p := testshared.LiveProblem(); p != "" {
		return p
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		return "gcc not found (needed for the C helper)"
	}
	return ""
}

// need skips (or, under CI=true, fails) a test that cannot run here.
func need(t *testing.T) {
	t.Helper()
	testshared.Need(t, skipReason)
}

func setup() error {
	var err error
	if repoRoot, err = testshared.RepoRoot(); err != nil {
		return fmt.Errorf("repository root: %w", err)
	}
	rulesDir = filepath.Join(repoRoot, "..", "shared", "falco-rules")
	for _, f := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		p := filepath.Join(rulesDir, f)
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				return fmt.Errorf("CI=true but the upstream rules are missing: %v", err)
			}
			skipReason = "upstream rules not found in ../shared/falco-rules"
			return nil
		}
		ruleFiles = append(ruleFiles, p)
	}
	if runDir, err = os.MkdirTemp("", "sakere2e-"); err != nil {
		return err
	}
	os.Chmod(runDir, 0o755)
	sakerBin = filepath.Join(runDir, "saker")
	build := exec.Command("go", "build", "-o", sakerBin, "./cmd/saker")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	helperBin = filepath.Join(runDir, "sakerhelper")
	src := filepath.Join(repoRoot, "test", "e2e", "testdata", "helper.c")
	if out, err := exec.Command("gcc", "-O1", "-Wall", "-pthread", "-o", helperBin, src).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc helper.c: %v\n%s", err, out)
	}
	return nil
}

// alert is one Falco-JSON alert line; sakerProc a running saker with what it printed.
type (
	alert     = livesaker.Alert
	sakerProc = livesaker.Proc
)

// startSaker starts saker with args and waits for its ready line.
func startSaker(t *testing.T, args ...string) *sakerProc {
	t.Helper()
	s, err := livesaker.Start(sakerBin, readyWait, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// matches says whether a has every wanted output field with the wanted value: exactly, or,
// for a wanted value starting with "~", containing the rest.
func matches(a *alert, rule string, want map[string]string) bool {
	if a.Rule != rule {
		return false
	}
	for k, v := range want {
		got, ok := a.Field(k)
		if !ok {
			return false
		}
		if sub, isSub := strings.CutPrefix(v, "~"); isSub {
			if !strings.Contains(got, sub) {
				return false
			}
		} else if got != v {
			return false
		}
	}
	return true
}

// expect is one alert an action must raise: its rule and output fields (exact values).
type expect struct {
	rule string
	want map[string]string
}

// waitFor waits (bounded) for an alert after mark n matching e, and fails with the nearest
// candidates (same rule) when none comes.
func waitFor(t *testing.T, s *sakerProc, n int, e expect) *alert {
	t.Helper()
	deadline := time.Now().Add(alertWait)
	for {
		for _, a := range s.Since(n) {
			if matches(&a, e.rule, e.want) {
				return &a
			}
		}
		select {
		case <-s.Done():
			t.Fatalf("saker exited while waiting for %q: %v\n%s", e.rule, s.Err(), s.StderrText())
		default:
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var near []string
	for _, a := range s.Since(n) {
		if a.Rule == e.rule {
			b, _ := json.Marshal(a.Fields)
			near = append(near, string(b))
		}
	}
	t.Errorf("no %q alert with %v within %v; %d alerts of that rule since the action:\n  %s",
		e.rule, e.want, alertWait, len(near), strings.Join(near, "\n  "))
	return nil
}

// stop sends sig and waits for the exit (an error of the test when it does not come).
func stop(t *testing.T, s *sakerProc, sig os.Signal) error {
	t.Helper()
	err := s.Stop(sig)
	if errors.Is(err, livesaker.ErrKilled) {
		t.Errorf("saker did not exit within 30s of %v", sig)
	}
	return err
}

// progIDs lists the BPF programs pid holds (program and link fds, from /proc/PID/fdinfo).
func progIDs(pid int) ([]ebpf.ProgramID, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[ebpf.ProgramID]bool{}
	var ids []ebpf.ProgramID
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "prog_id:"); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
				if err == nil && !seen[ebpf.ProgramID(n)] {
					seen[ebpf.ProgramID(n)] = true
					ids = append(ids, ebpf.ProgramID(n))
				}
			}
		}
	}
	return ids, nil
}

// loaded returns the ids still loaded in the kernel.
func loaded(ids []ebpf.ProgramID) []ebpf.ProgramID {
	var out []ebpf.ProgramID
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err == nil {
			p.Close()
			out = append(out, id)
		}
	}
	return out
}

// waitUnloaded waits (bounded) until none of ids is loaded; bpftool, when installed,
// must agree.
func waitUnloaded(t *testing.T, ids []ebpf.ProgramID, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := loaded(ids)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of saker's %d BPF programs still loaded %s: %v", len(left), len(ids), what, left)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := exec.LookPath("bpftool"); err != nil {
		return
	}
	out, err := exec.Command("bpftool", "-j", "prog", "show").Output()
	if err != nil {
		t.Errorf("bpftool prog show: %v", err)
		return
	}
	var progs []struct {
		ID uint32 `json:"id"`
	}
	if err := json.Unmarshal(out, &progs); err != nil {
		t.Errorf("bpftool prog show: %v", err)
		return
	}
	want := map[uint32]bool{}
	for _, id := range ids {
		want[uint32(id)] = true
	}
	for _, p := range progs {
		if want[p.ID] {
			t.Errorf("bpftool still lists saker's program %d %s", p.ID, what)
		}
	}
}
