package defaults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/saker-sec/saker/internal/testshared"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	f := []string{"proc.name", "proc.pid", "proc.cmdline", "proc.pcmdline", "proc.exepath", "fd.name", "container.id", "evt.args", "user.name"}
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
			saker.stop()
		}
		if runDir != "" {
			os.RemoveAll(runDir)
		}
		return 1
	}
	code := m.Run()
	if err := saker.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "saker did not exit cleanly on SIGINT:", err, "\n", saker.stderrText())
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
	saker, err = startSaker(bin, "run", "-c", cfg)
	return err
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// alert is one Falco-JSON alert line.
type alert struct {
	Rule     string         `json:"rule"`
	Priority string         `json:"priority"`
	Output   string         `json:"output"`
	Fields   map[string]any `json:"output_fields"`
}

// field renders an output field as text ("" and false when absent or null).
func (a *alert) field(name string) (string, bool) {
	v, ok := a.Fields[name]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatInt(int64(x), 10), true
	default:
		return fmt.Sprint(x), true
	}
}

type sakerProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	alerts []alert
	bad    []string // stdout lines that are not alerts
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// startSaker starts saker and waits for its "ready" line on stderr.
func startSaker(bin string, args ...string) (*sakerProc, error) {
	s := &sakerProc{done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errp, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a alert
			s.mu.Lock()
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Rule == "" {
				s.bad = append(s.bad, sc.Text())
			} else {
				s.alerts = append(s.alerts, a)
			}
			s.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.HasSuffix(sc.Text(), "; ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		wg.Wait()
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		return s, fmt.Errorf("saker exited before ready: %v\n%s", s.err, s.stderrText())
	case <-time.After(readyWait):
		return s, fmt.Errorf("saker not ready after %v\n%s", readyWait, s.stderrText())
	}
}

func (s *sakerProc) stderrText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// mark is the number of alerts so far; since(mark) returns the later ones.
func (s *sakerProc) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.alerts)
}

func (s *sakerProc) since(n int) []alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert(nil), s.alerts[n:]...)
}

// waitFor polls (bounded) for an alert after mark n that pred accepts.
func (s *sakerProc) waitFor(n int, pred func(*alert) bool) (*alert, bool) {
	deadline := time.Now().Add(alertWait)
	for {
		for _, a := range s.since(n) {
			if pred(&a) {
				return &a, true
			}
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		select {
		case <-s.done:
			return nil, false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGINT and waits (bounded) for a clean exit.
func (s *sakerProc) stop() error {
	select {
	case <-s.done:
		return fmt.Errorf("saker had already exited: %v", s.err)
	default:
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("no exit within 30s of SIGINT (killed)")
	}
}

// runScript runs a bash script on the host (bounded to 60s).
func runScript(script string) ([]byte, error) {
	cmd := exec.Command("timeout", "60", "/bin/bash", "-c", script)
	return cmd.CombinedOutput()
}
