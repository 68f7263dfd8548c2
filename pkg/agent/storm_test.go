package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// markerSink sees every syscall event and every alert: the marker opens that reached the
// pipeline (kept by the probe), and the drop alerts.
type markerSink struct {
	prefix string
	mu     sync.Mutex
	seen   map[string]bool // marker paths whose open event reached the pipeline
	drops  int             // drop alerts
}

func (s *markerSink) Name() string { return "markers" }

func (s *markerSink) Alert(a *alert.Alert) {
	if a.Rule == alert.DropRule {
		s.mu.Lock()
		s.drops++
		s.mu.Unlock()
	}
}

func (s *markerSink) Event(ev *event.Event, ctx *state.Context) {
	if ctx == nil || ctx.FD == nil || !strings.HasPrefix(ctx.FD.Name, s.prefix) {
		return
	}
	switch ev.Info.Name {
	case "open", "openat", "openat2":
		s.mu.Lock()
		s.seen[ctx.FD.Name] = true
		s.mu.Unlock()
	}
}

func (s *markerSink) counts() (seen, drops int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.drops
}

// TestStormHelper is the child process of TestLiveStormMarkers (run only with
// SAKER_STORM_HELPER set): "storm SECONDS" opens and closes /etc/hostname for that long,
// "markers DIR TAG N" creates N marker files DIR/marker-TAG-i, 1 ms apart.
func TestStormHelper(t *testing.T) {
	args := strings.Fields(os.Getenv("SAKER_STORM_HELPER"))
	if len(args) == 0 {
		t.Skip("the child process of TestLiveStormMarkers")
	}
	switch args[0] {
	case "storm":
		secs, _ := strconv.Atoi(args[1])
		end := time.Now().Add(time.Duration(secs) * time.Second)
		for time.Now().Before(end) {
			for i := 0; i < 1000; i++ {
				if f, err := os.Open("/etc/hostname"); err == nil {
					f.Close()
				}
			}
		}
	case "markers":
		n, _ := strconv.Atoi(args[3])
		for i := 0; i < n; i++ {
			f, err := os.Create(filepath.Join(args[1], fmt.Sprintf("marker-%s-%d", args[2], i)))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			time.Sleep(time.Millisecond)
		}
	}
}

// helper runs this test binary as TestStormHelper with args (the agent excludes its own
// process in the kernel, so the workload comes from children).
func helper(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestStormHelper$")
	cmd.Env = append(os.Environ(), "SAKER_STORM_HELPER="+strings.Join(args, " "))
	return cmd
}

// TestLiveStormMarkers: a storm of open+close from two processes per CPU into a small ring
// (64 KiB), so the kernel drops events, while a child opens marker files that a rule alerts
// on. The drops are counted and the drop alert raised; every marker whose open event reached
// the pipeline (seen by an EventSink) has its alert on the stdout channel (no alert about a
// kept event is lost, in the rules or in the output queue); after the storm a new marker
// alerts again (the agent recovered).
func TestLiveStormMarkers(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dir := t.TempDir()
	prefix := filepath.Join(dir, "marker-")
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(fmt.Sprintf(`
- rule: Marker open
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name startswith %s
  output: "marker %%fd.name"
  priority: WARNING
`, prefix)), 0o600)
	sink := &markerSink{prefix: prefix, seen: map[string]bool{}}
	var stdout, stderr syncBuf
	a, err := New(Options{Overrides: []string{"json_output=true", "watch_config_files=false"}, RulesFiles: []string{rules},
		Stdout: &stdout, Stderr: &stderr, DropAlertInterval: 500 * time.Millisecond, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer runLive(t, a, &ProbeSource{RingBytes: 64 << 10})()

	// marker alerts on stdout (Falco JSON), by marker path
	alerted := func() map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(stdout.String(), "\n") {
			var al struct {
				Rule   string         `json:"rule"`
				Fields map[string]any `json:"output_fields"`
			}
			if json.Unmarshal([]byte(l), &al) == nil && al.Rule == "Marker open" {
				if p, ok := al.Fields["fd.name"].(string); ok {
					m[p] = true
				}
			}
		}
		return m
	}

	const markers = 2000
	var storms []*exec.Cmd
	for i := 0; i < 2*max(2, runtime.NumCPU()); i++ {
		c := helper("storm", "4")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		storms = append(storms, c)
	}
	if out, err := helper("markers", dir, "storm", strconv.Itoa(markers)).CombinedOutput(); err != nil {
		t.Fatalf("markers: %v\n%s", err, out)
	}
	for _, c := range storms {
		if err := c.Wait(); err != nil {
			t.Fatalf("storm: %v", err)
		}
	}

	// the pipeline drains the ring; then every kept marker has its alert. The sink sees an
	// event before its alert is written, and the ring may still hold events when the two
	// counts first meet, so the check waits until no new marker event has arrived for a
	// second and every one seen has its alert (or the deadline).
	var seen, drops int
	var got map[string]bool
	var lost []string
	lastSeen, stableSince := -1, time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sink.mu.Lock()
		seen, drops = len(sink.seen), sink.drops
		got = alerted()
		lost = lost[:0]
		for p := range sink.seen {
			if !got[p] {
				lost = append(lost, p)
			}
		}
		sink.mu.Unlock()
		if seen != lastSeen {
			lastSeen, stableSince = seen, time.Now()
		}
		if (len(lost) == 0 && drops > 0 && time.Since(stableSince) >= time.Second) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	kernel := a.Drops().Total(WhereKernel)
	t.Logf("%d markers opened, %d reached the pipeline, %d alerted; %d events dropped in the kernel, %d drop alerts",
		markers, seen, len(got), kernel, drops)
	if kernel == 0 {
		t.Fatal("no kernel drops: the storm did not fill the ring, nothing was tested")
	}
	if drops == 0 {
		t.Error("no drop alert")
	}
	if seen == 0 {
		t.Fatal("no marker open reached the pipeline")
	}
	if len(lost) > 0 {
		t.Errorf("%d kept marker events without their alert, e.g. %s", len(lost), lost[0])
	}
	for p := range got {
		if !strings.HasPrefix(p, prefix) {
			t.Errorf("alert for %s", p)
		}
	}

	// recovery: after the storm, a new marker alerts (one a second: on a busy host the other
	// processes' events can still fill a ring this small and drop one)
	deadline = time.Now().Add(20 * time.Second)
	for k := 0; ; k++ {
		tag := fmt.Sprintf("after%d", k)
		if out, err := helper("markers", dir, tag, "1").CombinedOutput(); err != nil {
			t.Fatalf("markers: %v\n%s", err, out)
		}
		want := prefix + tag + "-0"
		for end := time.Now().Add(time.Second); time.Now().Before(end) && !alerted()[want]; {
			time.Sleep(20 * time.Millisecond)
		}
		if alerted()[want] {
			t.Logf("after the storm: marker %d alerted", k+1)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no marker alerted within 20 s after the storm (%d tried)", k+1)
		}
	}
}
