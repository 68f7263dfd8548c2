// Package livesaker runs a `saker` process for the end-to-end tests (test/e2e, test/defaults):
// it starts the binary, waits for its ready line, and collects the Falco-JSON alerts it prints
// on stdout and the text it prints on stderr, so tests can mark a point and look at the alerts
// that came after it.
package livesaker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Alert is one Falco-JSON alert line.
type Alert struct {
	Rule     string         `json:"rule"`
	Priority string         `json:"priority"`
	Output   string         `json:"output"`
	Fields   map[string]any `json:"output_fields"`
	Line     string         `json:"-"` // the line as printed
}

// Field renders an output field as text: null is <NA>, numbers in decimal; false when the
// alert has no such field.
func (a *Alert) Field(name string) (string, bool) {
	v, ok := a.Fields[name]
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "<NA>", true
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		return fmt.Sprint(v), true
	}
}

// Proc is one running saker process with what it printed.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	alerts []Alert
	stderr bytes.Buffer
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// Start starts bin with args (killed if the test process dies) and waits up to readyWait
// for its "...; ready" line on stderr. On an error the process has exited or been killed.
func Start(bin string, readyWait time.Duration, args ...string) (*Proc, error) {
	s := &Proc{done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			var a Alert
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			s.mu.Lock()
			if err := dec.Decode(&a); err != nil || a.Rule == "" {
				fmt.Fprintf(&s.stderr, "livesaker: stdout line that is not an alert %q: %v\n", line, err)
			} else {
				a.Line = line
				s.alerts = append(s.alerts, a)
			}
			s.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if strings.HasSuffix(line, "; ready") {
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
		return s, fmt.Errorf("saker %v exited before ready: %v\n%s", args, s.err, s.StderrText())
	case <-time.After(readyWait):
		s.cmd.Process.Kill()
		<-s.done
		return s, fmt.Errorf("saker %v not ready after %v\n%s", args, readyWait, s.StderrText())
	}
}

// Pid is the process id.
func (s *Proc) Pid() int { return s.cmd.Process.Pid }

// Done is closed when the process has exited; Err is then its exit status.
func (s *Proc) Done() <-chan struct{} { return s.done }

// Err is the process's exit status once Done is closed.
func (s *Proc) Err() error { return s.err }

// StderrText is what the process printed on stderr so far.
func (s *Proc) StderrText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Mark is the number of alerts so far: Since(Mark()) returns the alerts that come after.
func (s *Proc) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.alerts)
}

// Since returns a copy of the alerts after mark n.
func (s *Proc) Since(n int) []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Alert(nil), s.alerts[n:]...)
}

// Stop sends sig and waits up to 30s for the exit (then kills the process); it returns the
// exit status, or an error when the process had already exited or had to be killed.
func (s *Proc) Stop(sig os.Signal) error {
	select {
	case <-s.done:
		return fmt.Errorf("saker had already exited: %v", s.err)
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return ErrKilled
	}
}

// ErrKilled is Stop's error when the process did not exit within 30s of the signal.
var ErrKilled = errors.New("no exit within 30s of the signal (killed)")
