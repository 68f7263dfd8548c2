package defaults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/livesaker"
	"github.com/saker-sec/saker/internal/testshared"
)

const (
	alertWait = 20 * time.Second // bound on waiting for one alert (the machine is loaded)
	readyWait = 90 * time.Second // bound on saker's startup
	ancestors = 15               // proc.apid[1..ancestors] are added to every alert
)

var (
	skipReason string
	repoRoot   string
	runDir     string // scratch directory of this run (removed at the end)
	saker      *sakerProc
)

// extraFields are appended to every syscall alert: what the checks assert and what the noise
// test attributes alerts with.
func extraFields() []string {
	f := []string{"proc.name", "proc.pid", "proc.cmdline", "proc.pcmdline", "proc.exepath", "fd.name", "fd.realpath", "fd.canonical", "proc.deletions", "proc.pdeletions", "evt.is_io_uring", "container.id", "evt.args", "user.name"}
	for i := 1; i <= ancestors; i++ {
		f = append(f, fmt.Sprintf("proc.apid[%d]", i))
	}
	return f
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	skipReason = environmentProblem()
	if skipReason != "" {
		return m.Run()
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "defaults setup:", err)
		if saker != nil {
			saker.Stop(syscall.SIGINT)
		}
		if runDir != "" {
			os.RemoveAll(runDir)
		}
		return 1
	}
	code := m.Run()
	if err := saker.Stop(syscall.SIGINT); err != nil {
		fmt.Fprintln(os.Stderr, "saker did not exit cleanly on SIGINT:", err, "\n", saker.StderrText())
		code = 1
	}
	os.RemoveAll(runDir)
	return code
}

func environmentProblem() string {
	if p := testshared.LiveProblem(); p != "" {
		return p
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
	// not below /tmp: running a program from there is itself what a rule watches for
	if runDir, err = os.MkdirTemp("/var/lib", "saker-defaults-test-"); err != nil {
		return err
	}
	os.Chmod(runDir, 0o755)
	bin := filepath.Join(runDir, "saker")
	build := exec.Command("go", "build", "-o", bin, "./cmd/saker")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(runDir, "saker.yaml")
	conf := fmt.Sprintf("json_output: true\nrules_files: []\nappend_output:\n  - match: {source: syscall}\n    extra_fields: [%s]\n", quoteList(extraFields()))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return err
	}
	saker, err = livesaker.Start(bin, readyWait, "run", "-c", cfg)
	return err
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// alert is one Falco-JSON alert line; sakerProc the saker the tests watch the machine with.
type (
	alert     = livesaker.Alert
	sakerProc = livesaker.Proc
)

// waitFor polls (bounded) for an alert after mark n that pred accepts.
func waitFor(s *sakerProc, n int, pred func(*alert) bool) (*alert, bool) {
	deadline := time.Now().Add(alertWait)
	for {
		for _, a := range s.Since(n) {
			if pred(&a) {
				return &a, true
			}
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		select {
		case <-s.Done():
			return nil, false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runScript runs a bash script on the host (bounded to 60s).
func runScript(script string) ([]byte, error) {
	cmd := exec.Command("timeout", "60", "/bin/bash", "-c", script)
	return cmd.CombinedOutput()
}
