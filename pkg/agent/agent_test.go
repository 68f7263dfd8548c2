package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/probe"
)

// clock is a test clock the health watchdog reads; tests step it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuf is a buffer safe for concurrent writes and reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestAgent starts an agent with a web server on a free loopback port, the rules of
// rulesYAML, no stdout channel, and the test clock.
func newTestAgent(t *testing.T, c *clock, rulesYAML string, sinks []Sink, extra ...string) (*Agent, string, *syncBuf) {
	t.Helper()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ov := append([]string{"stdout_output.enabled=false", "webserver.enabled=true", fmt.Sprintf("webserver.listen_port=%d", port),
		"webserver.stall_timeout=10s", "watch_config_files=false"}, extra...)
	var stderr syncBuf
	a, err := New(Options{Overrides: ov, RulesFiles: []string{rules}, Replay: true, Stdout: io.Discard, Stderr: &stderr,
		Now: c.Now, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, fmt.Sprintf("http://127.0.0.1:%d", port), &stderr
}

// get returns the status and the JSON body of url.
func get(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

const closeRule = `
- rule: Any close
  desc: test
  condition: evt.type = close and evt.dir = <
  output: "close %fd.num by %proc.name"
  priority: WARNING
`

// blockingSink blocks on its first alert until released: a sink that stalls the event loop.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
}

func (s *blockingSink) Name() string { return "blocking" }
func (s *blockingSink) Alert(*alert.Alert) {
	if s.n.Add(1) == 1 {
		close(s.entered)
		<-s.release
	}
}

// A sink that blocks stalls the event loop in the middle of a capture: /healthz fails with
// the reason once the stall lasted longer than stall_timeout (on the watchdog's clock), and
// recovers when the loop moves again.
func TestHealthzFailsWhenTheLoopIsStuck(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	c := &clock{t: time.Unix(1_000_000, 0)}
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	a, base, _ := newTestAgent(t, c, closeRule, []Sink{sink})
	src, err := OpenCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), src) }()
	<-sink.entered // the loop is inside an event, holding it
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("first sample: /healthz %d %v, want 200 (the clock starts)", code, body)
	}
	c.Add(9 * time.Second)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("stuck for less than stall_timeout: /healthz %d %v", code, body)
	}
	c.Add(2 * time.Second)
	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || body["status"] != "unhealthy" || !strings.Contains(body["error"], "source capture") ||
		!strings.Contains(body["error"], "no progress") {
		t.Fatalf("stuck for 11s: /healthz %d %v, want 503 with the reason", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz while stuck: %d %v (the rules are loaded and the source ready)", code, body)
	}
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("after the capture ended: /healthz %d %v", code, body)
	}
	if sink.n.Load() != int64(a.Detector().Matched) || sink.n.Load() < 2 {
		t.Errorf("the sink got %d alerts, the detector raised %d", sink.n.Load(), a.Detector().Matched)
	}
}

// stepSource is a source the test drives step by step: each value on steps is one action,
// acknowledged on acks.
type stepSource struct {
	steps   chan string
	acks    chan struct{}
	pending atomic.Int64
	log     syncBuf
}

func (s *stepSource) Name() string { return "steps" }
func (s *stepSource) Pending() int { return int(s.pending.Load()) }
func (s *stepSource) Run(ctx context.Context, in Input) error {
	in.Ready("")
	for step := range s.steps {
		switch step {
		case "idle":
			in.Idle()
		case "pending":
			s.pending.Store(1)
		case "deliver":
			s.pending.Store(0)
			in.Evaluate("k8s_audit", 0, nil, 0)
			in.Idle()
		case "lost-decode":
			(&ProbeSource{Log: &s.log}).record(undecodable(), &event.Event{}, new(uint64), in)
		case "lost-kernel":
			(&ProbeSource{}).counted(probe.Stats{KernelDrops: 5, TooBig: 3}, in)
		}
		s.acks <- struct{}{}
	}
	return nil
}

func (s *stepSource) do(step string) {
	s.steps <- step
	<-s.acks
}

// An idle source (nothing to read) stays healthy however long it waits; one that has events
// waiting but does not deliver them fails /healthz after stall_timeout.
func TestHealthzIdleStaysHealthyPendingFails(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	a, base, _ := newTestAgent(t, c, closeRule, nil)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body["error"], "no event source") {
		t.Errorf("/readyz before any source runs: %d %v", code, body)
	}
	src := &stepSource{steps: make(chan string), acks: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), src) }()
	src.do("idle")
	if code, body := get(t, base+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Errorf("/readyz: %d %v", code, body)
	}
	get(t, base+"/healthz")
	c.Add(time.Hour)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("idle for an hour: /healthz %d %v, want 200", code, body)
	}
	src.do("pending")
	get(t, base+"/healthz")
	c.Add(11 * time.Second)
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body["error"], "source steps") {
		t.Fatalf("events waiting for 11s: /healthz %d %v, want 503", code, body)
	}
	src.do("deliver")
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("after delivering: /healthz %d %v", code, body)
	}
	close(src.steps)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz after the source ended: %d, want 503", code)
	}
}

// undecodable is a record whose header claims five parameters that its length cannot hold.
func undecodable() []byte {
	b := make([]byte, event.HeaderLen)
	binary.LittleEndian.PutUint64(b[0:], uint64(time.Now().UnixNano()))
	binary.LittleEndian.PutUint64(b[8:], 1)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
	binary.LittleEndian.PutUint16(b[20:], uint16(event.ByName("close")[0]))
	binary.LittleEndian.PutUint32(b[22:], 5)
	return b
}

// collectSink keeps every alert.
type collectSink struct {
	mu sync.Mutex
	as []*alert.Alert
}

func (s *collectSink) Name() string { return "collect" }
func (s *collectSink) Alert(a *alert.Alert) {
	s.mu.Lock()
	s.as = append(s.as, a)
	s.mu.Unlock()
}

// Lost events are counted by where they were lost, in saker_events_dropped_total and in the
// drop alert: a record that fails to decode (the probe source's decode path, fed a real
// malformed record), and the kernel's counters of ring-full drops and records too big. The
// alert's n_drops_buffer_total is a running total, n_drops the interval's.
func TestDropsCountedByWhere(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	sink := &collectSink{}
	a, base, _ := newTestAgent(t, c, closeRule, []Sink{sink})
	a.opts.DropAlertInterval = time.Minute
	src := &stepSource{steps: make(chan string), acks: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), src) }()
	src.do("lost-decode") // first drops: reported at once
	src.do("lost-kernel") // within the interval: counted, not yet reported
	c.Add(time.Minute)
	src.do("idle") // the interval passed: the second report
	close(src.steps)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src.log.String(), "saker: dropping a record: ") {
		t.Errorf("the undecodable record was not logged: %q", src.log.String())
	}
	got := a.Drops().Counts()
	if got != (alert.DropCounts{Kernel: 5, TooBig: 3, Decode: 1}) {
		t.Errorf("drops %+v", got)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`saker_events_dropped_total{where="kernel"} 5`, `saker_events_dropped_total{where="too_big"} 3`,
		`saker_events_dropped_total{where="decode"} 1`, `saker_events_dropped_total{where="user"} 0`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var drops []*alert.Alert
	for _, al := range sink.as {
		if al.Rule == alert.DropRule {
			drops = append(drops, al)
		}
	}
	if len(drops) != 2 {
		t.Fatalf("%d drop alerts, want 2 (one per interval)", len(drops))
	}
	f1, f2 := drops[0].OutputFields, drops[1].OutputFields
	if f1["n_drops"] != uint64(1) || f1["n_drops_decode"] != uint64(1) || f1["n_drops_buffer_total"] != uint64(0) {
		t.Errorf("first drop alert %v", f1)
	}
	if f2["n_drops"] != uint64(8) || f2["n_drops_kernel"] != uint64(5) || f2["n_drops_too_big"] != uint64(3) ||
		f2["n_drops_decode"] != uint64(0) || f2["n_drops_buffer_total"] != uint64(5) {
		t.Errorf("second drop alert %v", f2)
	}
}

// With watch_config_files, a rules file inside a rules_files directory that is edited in place
// reloads the rules, and stderr names the file.
func TestRulesDirectoryEditReloads(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "local.yaml")
	if err := os.WriteFile(rules, []byte(closeRule), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuf
	a, err := New(Options{Overrides: []string{"stdout_output.enabled=false", "watch_config_files=true", "rules_files=[" + dir + "]"},
		Stdout: io.Discard, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if r := a.Rules().Ruleset.Enabled(); len(r) != 1 || r[0].Name != "Any close" {
		t.Fatalf("rules %v", r)
	}
	f, err := os.OpenFile(rules, os.O_WRONLY, 0) // in place: same inode, no rename
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(closeRule, "Any close")
	f.WriteAt([]byte("Our close"), int64(at))
	f.Close()
	want := "configuration and rules reloaded (file): " + rules
	for i := 0; i < 600 && !strings.Contains(stderr.String(), want); i++ { // bounded wait for the reload
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), want) {
		t.Fatalf("no reload naming %s:\n%s", rules, stderr.String())
	}
	if r := a.Rules().Ruleset.Enabled(); len(r) != 1 || r[0].Name != "Our close" {
		t.Errorf("rules after the edit: %v", r)
	}
}

// The configuration's webserver.auth reaches the agent's server: without the token 401, with
// it 200; open_health leaves the health paths open but not /metrics.
func TestWebserverAuthFromConfig(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("tok-123\n"), 0o600)
	for _, open := range []bool{false, true} {
		_, base, _ := newTestAgent(t, &clock{t: time.Now()}, closeRule, nil, "webserver.auth.token_file="+token,
			fmt.Sprintf("webserver.auth.open_health=%v", open))
		req := func(path, tok string) int {
			r, _ := http.NewRequest("GET", base+path, nil)
			if tok != "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if req("/metrics", "") != 401 || req("/metrics", "tok-123") != 200 || req("/version", "") != 401 {
			t.Errorf("open_health %v: /metrics without the token %d, with it %d", open, req("/metrics", ""), req("/metrics", "tok-123"))
		}
		want := 401
		if open {
			want = 200
		}
		if got := req("/healthz", ""); got != want {
			t.Errorf("open_health %v: /healthz without the token: %d, want %d", open, got, want)
		}
		if got := req("/healthz", "tok-123"); got != 200 {
			t.Errorf("/healthz with the token: %d", got)
		}
	}
}
