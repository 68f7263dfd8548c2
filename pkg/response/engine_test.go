package response

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// sink collects response alerts.
type sink struct {
	mu sync.Mutex
	as []*alert.Alert
}

func (s *sink) emit(a *alert.Alert) { s.mu.Lock(); s.as = append(s.as, a); s.mu.Unlock() }
func (s *sink) take() []*alert.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	as := s.as
	s.as = nil
	return as
}

func newEngine(t *testing.T, policy string, env actions.Env) (*Engine, *sink, *clock, *Metrics) {
	t.Helper()
	p, err := Parse("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := NewMetrics()
	// one worker: the tests read the response alerts in the order of the triggers
	e, err := New(Options{Policy: p, Env: env, Emit: s.emit, Now: c.now, Metrics: m, Workers: 1,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e, s, c, m
}

func trigger(rule string) *alert.Alert {
	return &alert.Alert{Time: time.Now(), Rule: rule, Priority: loader.Critical, Source: "syscall", Tags: []string{"t"},
		Output: "x", OutputFields: map[string]any{"proc.name": "sleep"}, Hostname: "h"}
}

// startSleeper runs a real process to act on.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func count(m *Metrics, action string, o actions.Outcome) int {
	return int(testutil.ToFloat64(m.Actions.WithLabelValues(action, string(o))))
}

// TestRateLimitsAndCooldowns drives the decisions with an injected clock: a per-action limit
// across workloads, a per-workload limit, an action cooldown and a rule cooldown.
func TestRateLimitsAndCooldowns(t *testing.T) {
	e, s, c, m := newEngine(t, `
rules:
  - name: limited
    match: {rules: [limited]}
    actions:
      - action: kill_process
        dry_run: true
        rate_limit: {max: 3, per: 1m}
        workload_rate_limit: {max: 1, per: 10s}
  - name: cooled
    match: {rules: [cooled]}
    cooldown: 30s
    actions:
      - action: container_pause
        dry_run: true
      - action: container_kill
        dry_run: true
        cooldown: 2m
`, actions.Env{})
	sl := startSleeper(t)
	tgt := func(ctr string) *actions.Target {
		return &actions.Target{PID: int64(sl.Process.Pid), ContainerID: ctr}
	}
	// per workload: the second alert for workload A within 10s is limited
	if n := e.Handle(trigger("limited"), tgt("aaaaaaaaaaaa")); n != 1 {
		t.Fatalf("first: %d queued", n)
	}
	if n := e.Handle(trigger("limited"), tgt("aaaaaaaaaaaa")); n != 0 {
		t.Fatalf("second in 10s for the same workload: %d queued", n)
	}
	// other workloads pass until the global 3/min is used
	if e.Handle(trigger("limited"), tgt("bbbbbbbbbbbb")) != 1 || e.Handle(trigger("limited"), tgt("cccccccccccc")) != 1 {
		t.Fatal("other workloads limited")
	}
	if e.Handle(trigger("limited"), tgt("dddddddddddd")) != 0 {
		t.Fatal("4th within a minute passed the global limit")
	}
	c.advance(11 * time.Second) // workload window over, global still full (3 in the last minute)
	if e.Handle(trigger("limited"), tgt("aaaaaaaaaaaa")) != 0 {
		t.Fatal("global limit forgotten")
	}
	c.advance(50 * time.Second) // 61s after the first three
	if e.Handle(trigger("limited"), tgt("aaaaaaaaaaaa")) != 1 {
		t.Fatal("limit did not slide")
	}
	e.Flush()
	if got := count(m, "kill_process", actions.RateLimited); got != 3 {
		t.Errorf("rate_limited counted %d, want 3", got)
	}
	if got := count(m, "kill_process", actions.DryRun); got != 4 {
		t.Errorf("dry runs %d, want 4", got)
	}
	if as := s.take(); len(as) != 4 {
		t.Errorf("%d response alerts, want 4", len(as))
	}

	// cooldowns
	if e.Handle(trigger("cooled"), tgt("aaaaaaaaaaaa")) != 2 {
		t.Fatal("cooled: first")
	}
	c.advance(29 * time.Second)
	if e.Handle(trigger("cooled"), tgt("aaaaaaaaaaaa")) != 0 {
		t.Fatal("rule cooldown ignored")
	}
	if e.Handle(trigger("cooled"), tgt("bbbbbbbbbbbb")) != 2 {
		t.Fatal("cooldown is per workload")
	}
	c.advance(2 * time.Second) // rule cooldown over; container_kill's 2m not
	if n := e.Handle(trigger("cooled"), tgt("aaaaaaaaaaaa")); n != 1 {
		t.Fatalf("after the rule cooldown: %d queued, want 1 (container_kill still cooling)", n)
	}
	c.advance(2 * time.Minute)
	if e.Handle(trigger("cooled"), tgt("aaaaaaaaaaaa")) != 2 {
		t.Fatal("after both cooldowns")
	}
	e.Flush()
	if got := count(m, "container_pause", actions.Cooldown); got != 1 {
		t.Errorf("container_pause cooldown counted %d, want 1", got)
	}
	if got := count(m, "container_kill", actions.Cooldown); got != 2 {
		t.Errorf("container_kill cooldown counted %d, want 2", got)
	}
}

// TestNeverKill: pid 1 and Saker itself are refused, with a response alert saying so; a
// never_kill glob protects by name; an ordinary process is killed.
func TestNeverKill(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (CI=true)")
		}
		t.Skip("needs root to signal pid 1 candidates")
	}
	e, s, _, m := newEngine(t, `
never_kill: [sleep-protected]
rules:
  - name: kill it
    match: {rules: [kill]}
    actions:
      - action: kill_process
`, actions.Env{})
	for _, pid := range []int{1, os.Getpid()} {
		e.Handle(trigger("kill"), &actions.Target{PID: int64(pid)})
	}
	e.Flush()
	as := s.take()
	if len(as) != 2 {
		t.Fatalf("%d alerts", len(as))
	}
	for i, want := range []string{"pid 1 is never killed", "Saker itself is never killed"} {
		a := as[i]
		if a.Source != "response" || a.Rule != "Saker response: kill_process" || a.OutputFields["outcome"] != "refused" ||
			a.OutputFields["error"] != want || a.Priority != loader.Warning || a.OutputFields["rule"] != "kill" {
			t.Errorf("alert %d: %s %v", i, a.Output, a.OutputFields)
		}
	}
	if count(m, "kill_process", actions.Refused) != 2 {
		t.Error("refusals not counted")
	}
	// pid 1 is still there, and so are we: nothing was sent (we would not be here)

	// a copy of sleep named by the never_kill glob
	dir := t.TempDir()
	prot := filepath.Join(dir, "sleep-protected")
	b, _ := os.ReadFile("/bin/sleep")
	os.WriteFile(prot, b, 0o755)
	pc := exec.Command(prot, "300")
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pc.Process.Kill(); pc.Wait() }()
	e.Handle(trigger("kill"), &actions.Target{PID: int64(pc.Process.Pid)})
	sl := startSleeper(t)
	e.Handle(trigger("kill"), &actions.Target{PID: int64(sl.Process.Pid)})
	e.Flush()
	as = s.take()
	if len(as) != 2 || as[0].OutputFields["outcome"] != "refused" || !strings.Contains(as[0].OutputFields["error"].(string), "never-kill list") {
		t.Fatalf("protected by glob: %v", as[0].OutputFields)
	}
	if as[1].OutputFields["outcome"] != "done" {
		t.Fatalf("sleep: %v", as[1].OutputFields)
	}
	err := sl.Wait()
	if ws, ok := sl.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("sleep not killed by SIGKILL: %v", err)
	}
	if pc.ProcessState != nil {
		t.Fatal("protected process exited")
	}
	if err := pc.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("protected process gone: %v", err)
	}
}

// TestKillTree: a shell with two sleeping children; the whole tree goes.
func TestKillTree(t *testing.T) {
	e, s, _, _ := newEngine(t, `
rules:
  - name: tree
    match: {}
    actions:
      - action: kill_process
        with: {tree: true}
`, actions.Env{})
	r, w, _ := os.Pipe()
	sh := exec.Command("/bin/sh", "-c", "sleep 300 & sleep 300 & echo $! ; wait")
	sh.Stdout = w
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	buf := make([]byte, 32)
	n, _ := r.Read(buf) // the shell has started both children
	var child int
	if _, err := fmtSscan(strings.TrimSpace(string(buf[:n])), &child); err != nil {
		t.Fatal(err)
	}
	e.Handle(trigger("x"), &actions.Target{PID: int64(sh.Process.Pid)})
	e.Flush()
	as := s.take()
	if len(as) != 1 || as[0].OutputFields["outcome"] != "done" {
		t.Fatalf("%v", as)
	}
	pids, _ := as[0].OutputFields["pids"].([]int)
	if len(pids) != 3 {
		t.Errorf("tree of %d: %v", len(pids), pids)
	}
	sh.Wait()
	// the child is reaped by init; it must be gone or a zombie
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.ReadFile(filepath.Join("/proc", itoa(child), "stat"))
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running: %s", child, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookAndProgram: a real loopback receiver (bearer token checked) and a real program
// reading the alert on stdin.
func TestWebhookAndProgram(t *testing.T) {
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("X-Saker-Policy-Rule") != "notify" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "stdin.json")
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+"\necho \"$SAKER_POLICY_RULE\" >> "+out+"\n"), 0o755)
	t.Setenv("HOOK_TOKEN", "s3cret")
	e, s, _, _ := newEngine(t, `
rules:
  - name: notify
    match: {}
    actions:
      - action: webhook
        with: {url: "`+srv.URL+`/hook", bearer_token: "${HOOK_TOKEN}"}
      - action: webhook
        with: {url: "`+srv.URL+`/hook"}
      - action: run_program
        with: {command: [`+script+`]}
`, actions.Env{})
	e.Handle(trigger("Some rule"), &actions.Target{PID: 1})
	e.Flush()
	as := s.take()
	if len(as) != 3 {
		t.Fatalf("%d alerts", len(as))
	}
	if m := <-got; m["rule"] != "Some rule" || m["source"] != "syscall" {
		t.Errorf("webhook body: %v", m)
	}
	if as[0].OutputFields["outcome"] != "done" || as[0].OutputFields["status"] != 204 {
		t.Errorf("webhook: %v", as[0].OutputFields)
	}
	if as[1].OutputFields["outcome"] != "failed" || !strings.Contains(as[1].OutputFields["error"].(string), "401") || as[1].Priority != loader.Error {
		t.Errorf("webhook without token: %v", as[1].OutputFields)
	}
	if as[2].OutputFields["outcome"] != "done" {
		t.Fatalf("program: %v", as[2].OutputFields)
	}
	f, _ := os.Open(out)
	b, _ := io.ReadAll(f)
	f.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var a map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &a) != nil || a["rule"] != "Some rule" || lines[1] != "notify" {
		t.Errorf("program stdin: %q", b)
	}
}

// TestStopOnErrorAndResponseLoop: a refused step stops the rule with on_error: stop; response
// alerts never trigger the engine; continue: false stops later rules.
func TestStopOnErrorAndResponseLoop(t *testing.T) {
	e, s, _, m := newEngine(t, `
rules:
  - name: first
    match: {}
    continue: false
    actions:
      - action: container_pause
        on_error: stop
      - action: kill_process
        dry_run: true
  - name: never
    match: {}
    actions:
      - action: kill_process
        dry_run: true
`, actions.Env{})
	if n := e.Handle(trigger("x"), &actions.Target{PID: 1}); n != 2 {
		t.Fatalf("%d queued", n)
	}
	e.Flush()
	as := s.take()
	if len(as) != 1 || as[0].OutputFields["outcome"] != "refused" {
		t.Fatalf("%v", as)
	}
	if count(m, "kill_process", "skipped") != 1 {
		t.Error("skipped not counted")
	}
	if e.Handle(as[0], &actions.Target{PID: 1}) != 0 {
		t.Error("a response alert triggered the engine")
	}
}

// TestQueueFullAndDryRun: with one worker busy (a webhook whose receiver holds the request)
// and a queue of one, the third job is dropped and counted; the global dry-run switch makes
// every action a dry run; Close waits for the job in progress.
func TestQueueFullAndDryRun(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p, err := Parse("q.yaml", []byte("rules: [{name: q, match: {}, actions: [{action: webhook, with: {url: '"+srv.URL+"'}}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	m := NewMetrics()
	e, err := New(Options{Policy: p, Emit: s.emit, Metrics: m, Workers: 1, Queue: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if e.Handle(trigger("a"), &actions.Target{PID: 1}) != 1 {
		t.Fatal("first not queued")
	}
	<-entered // the worker holds job 1
	if e.Handle(trigger("b"), &actions.Target{PID: 1}) != 1 {
		t.Fatal("second not queued")
	}
	if e.Handle(trigger("c"), &actions.Target{PID: 1}) != 0 {
		t.Fatal("third queued in a full queue")
	}
	if count(m, "webhook", actions.Dropped) != 1 {
		t.Error("drop not counted")
	}
	closed := make(chan struct{})
	go func() { e.Close(context.Background()); close(closed) }()
	close(release)
	<-closed
	<-entered // job b's request
	if as := s.take(); len(as) != 2 || as[0].OutputFields["rule"] != "a" || as[1].OutputFields["rule"] != "b" {
		t.Fatalf("after close: %v", as)
	}
	if e.Handle(trigger("d"), &actions.Target{PID: 1}) != 0 {
		t.Error("queued after Close")
	}

	// global dry run: the receiver is not called
	e2, err := New(Options{Policy: p, Emit: s.emit, DryRun: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e2.Handle(trigger("e"), &actions.Target{PID: 1})
	e2.Flush()
	e2.Close(context.Background())
	if as := s.take(); len(as) != 1 || as[0].OutputFields["outcome"] != "dry_run" || as[0].OutputFields["dry_run"] != true {
		t.Fatalf("dry run: %v", as)
	}
	select {
	case <-entered:
		t.Fatal("dry run called the webhook")
	default:
	}
}

// TestNeverKillRuntimes: a process named after each entry of actions.RuntimeProcesses (a
// copy of sleep: its comm and its executable's name) is refused by kill_process and stays.
func TestNeverKillRuntimes(t *testing.T) {
	e, s, _, _ := newEngine(t, `
rules:
  - name: kill it
    match: {rules: [kill]}
    actions:
      - action: kill_process
`, actions.Env{})
	dir := t.TempDir()
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	for _, g := range actions.RuntimeProcesses {
		name := strings.TrimSuffix(g, "*")
		if name != g {
			name += "x" // a prefix entry: something longer
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		c := exec.Command(p, "300")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		procs = append(procs, c)
		e.Handle(trigger("kill"), &actions.Target{PID: int64(c.Process.Pid)})
	}
	e.Flush()
	as := s.take()
	if len(as) != len(procs) {
		t.Fatalf("%d alerts for %d processes", len(as), len(procs))
	}
	for i, a := range as {
		if a.OutputFields["outcome"] != "refused" || !strings.Contains(fmt.Sprint(a.OutputFields["error"]), "container runtime process") {
			t.Errorf("%s: %v", actions.RuntimeProcesses[i], a.OutputFields)
		}
	}
	for i, c := range procs {
		if err := c.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("%s: gone: %v", actions.RuntimeProcesses[i], err)
		}
	}
}
