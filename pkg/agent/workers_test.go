package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/reload"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// tidAlerts collects syscall alerts per thread, in the order they reach the sinks. Alert is
// called from the workers at once.
type tidAlerts struct {
	mu    sync.Mutex
	byTID map[string][]string
	n     int
}

func (c *tidAlerts) Name() string { return "collect" }

func (c *tidAlerts) Alert(a *alert.Alert) {
	if a.Source != "syscall" {
		return
	}
	tid := fmt.Sprint(a.OutputFields["thread.tid"])
	// the event number, the rule and the whole rendered output: the output reads the
	// state (process tree, fds, users), so a worker's replica that went wrong shows here
	line := fmt.Sprintf("%v %s | %s", a.OutputFields["evt.num"], a.Rule, a.Output)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byTID == nil {
		c.byTID = map[string][]string{}
	}
	c.byTID[tid] = append(c.byTID[tid], line)
	c.n++
}

// wideRules fire on most events and print state-heavy fields, so that the equivalence test
// compares the replicas on many events, not only on the few the real rules alert on.
const wideRules = `
- rule: wide
  desc: every fd and process event, with state fields
  condition: evt.type in (open, openat, openat2, close, read, write, connect, accept, accept4, execve, clone, clone3, fork, vfork, dup, dup2, sendto, recvfrom, socket, bind, chdir, setuid, procexit) and evt.dir = <
  output: "%proc.name %proc.pname %proc.aname[2] %proc.apid[3] pid=%proc.pid %fd.num %fd.name %fd.type %user.name %group.name %proc.cmdline %proc.cwd %proc.exepath %proc.nthreads %proc.fdopencount %container.id %evt.args"
  priority: INFO
- rule: wide by fd
  desc: a second rule on the same events (rule order within an event)
  condition: evt.type in (read, write, sendto, recvfrom) and fd.num >= 0
  output: "%fd.cip %fd.sip %fd.cport %fd.sport %fd.l4proto %fd.directory %fd.filename"
  priority: DEBUG
`

// replayAlerts replays a capture through an agent with n workers and returns its syscall
// alerts per thread and the detector's counts.
func replayAlerts(t *testing.T, capture string, rules []string, n int) (*tidAlerts, uint64, uint64) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "saker.yaml")
	if err := os.WriteFile(cfg, []byte("append_output:\n  - match: {source: syscall}\n    extra_fields: [evt.num, thread.tid]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &tidAlerts{}
	a, err := New(Options{ConfigFile: cfg, RulesFiles: rules, Replay: true, Stderr: io.Discard,
		Overrides: []string{"stdout_output.enabled=false", fmt.Sprintf("pipeline.workers=%d", n)}, Sinks: []Sink{c}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.wds) + 1; got != n {
		t.Fatalf("workers=%d: the agent runs %d workers", n, got)
	}
	src, err := OpenCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return c, a.Detector().Events, a.Detector().Matched
}

// TestWorkersSameAlerts replays every shared capture, and one repeated many times, through
// the upstream syscall rules, the built-in rules and state-heavy rules with 1, 2 and 4
// workers: every run gives the same alerts (same events, rules and rendered outputs) and,
// per thread, in the same order.
func TestWorkersSameAlerts(t *testing.T) {
	shared := testshared.Dir(t)
	var upstream []string
	for _, f := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		upstream = append(upstream, filepath.Join(shared, "falco-rules", f))
	}
	wide := filepath.Join(t.TempDir(), "wide.yaml")
	if err := os.WriteFile(wide, []byte(wideRules), 0o600); err != nil {
		t.Fatal(err)
	}
	captures, err := filepath.Glob(filepath.Join(shared, "captures", "*.scap"))
	if err != nil || len(captures) == 0 {
		t.Fatalf("no shared captures (%v)", err)
	}
	big := filepath.Join(t.TempDir(), "curl_x40.scap")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scap.Repeat(f, filepath.Join(shared, "captures", "curl_google.scap"), 40); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	captures = append(captures, big)
	ruleSets := []struct {
		name  string
		files []string
	}{{"upstream", upstream}, {"builtin", nil}, {"wide", []string{wide}}}
	total := map[string]int{}
	for _, capture := range captures {
		for _, rs := range ruleSets {
			t.Run(filepath.Base(capture)+"/"+rs.name, func(t *testing.T) {
				one, events, matched := replayAlerts(t, capture, rs.files, 1)
				total[rs.name] += one.n
				for _, n := range []int{2, 4} {
					got, ev, m := replayAlerts(t, capture, rs.files, n)
					if ev != events || m != matched {
						t.Errorf("workers=%d: %d events, %d matches; workers=1: %d events, %d matches", n, ev, m, events, matched)
					}
					if got.n != one.n {
						t.Errorf("workers=%d: %d alerts, workers=1: %d", n, got.n, one.n)
					}
					for tid, want := range one.byTID {
						if g := got.byTID[tid]; !reflect.DeepEqual(g, want) {
							t.Errorf("workers=%d, tid %s: alerts differ:\n%s", n, tid, seqDiff(g, want))
						}
					}
					for tid := range got.byTID {
						if _, ok := one.byTID[tid]; !ok {
							t.Errorf("workers=%d: alerts for tid %s that workers=1 does not raise: %q", n, tid, got.byTID[tid])
						}
					}
				}
			})
		}
	}
	// the comparison is only worth something if the runs alert (the built-in rules do not
	// on these captures: they still run, and must not alert with N workers either)
	if total["upstream"] == 0 {
		t.Errorf("the upstream rules raised no alert on any capture")
	}
	if total["wide"] < 10000 {
		t.Errorf("the wide rules alerted %d times: want the replicas compared on many events", total["wide"])
	}
	t.Logf("alerts compared: %v", total)
}

func seqDiff(got, want []string) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "<none>", "<none>"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "  #%d got  %s\n  #%d want %s\n", i, g, i, w)
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}

// TestWorkersReload reloads the rules with 2 workers in the middle of a replay: the events
// before the reload are evaluated by the old rules only, those after by the new ones only
// (the capture's hook makes the source idle first, and idle the pipeline is drained).
func TestWorkersReload(t *testing.T) {
	shared := testshared.Dir(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	rule := func(name string) string {
		return fmt.Sprintf("- rule: %s\n  desc: d\n  condition: evt.num > 0\n  output: %s %%evt.num %%thread.tid\n  priority: INFO\n", name, name)
	}
	if err := os.WriteFile(rules, []byte(rule("before")), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &tidAlerts{}
	a, err := New(Options{RulesFiles: []string{rules}, Replay: true, Stderr: os.Stderr,
		Overrides: []string{"stdout_output.enabled=false", "pipeline.workers=2"}, Sinks: []Sink{c}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenCapture(filepath.Join(shared, "captures", "sample.scap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var seen, cut uint64
	src.Before = func(ev *event.Event) {
		seen++
		if seen == 250 { // the events so far have all been evaluated (Idle drains)
			if err := os.WriteFile(rules, []byte(rule("after")), 0o600); err != nil {
				t.Error(err)
			}
			if res := a.Reload(reload.TriggerManual); res.Err != nil {
				t.Error(res.Err)
			}
			cut = ev.Num
		}
	}
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if cut == 0 {
		t.Fatal("the capture is shorter than the reload point")
	}
	var before, after int
	for tid, lines := range c.byTID {
		for _, l := range lines {
			var num uint64
			var rule string
			if _, err := fmt.Sscanf(l, "%d %s", &num, &rule); err != nil {
				t.Fatalf("tid %s: %q: %v", tid, l, err)
			}
			switch {
			case rule == "before" && num < cut:
				before++
			case rule == "after" && num >= cut:
				after++
			default:
				t.Errorf("tid %s: event %d alerted by %q (reload at event %d)", tid, num, rule, cut)
			}
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("alerts before the reload %d, after %d: want both", before, after)
	}
}

// eventSink wants every event: with it the agent runs one worker, whatever
// pipeline.workers says, and says why.
type eventSink struct{ tidAlerts }

func (*eventSink) Event(*event.Event, *state.Context) {}

func TestWorkersOneWithEventSink(t *testing.T) {
	var stderr syncBuf
	a, err := New(Options{Replay: true, Stderr: &stderr, Sinks: []Sink{&eventSink{}},
		Overrides: []string{"stdout_output.enabled=false", "pipeline.workers=4"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.wds) != 0 {
		t.Errorf("%d extra workers with an event sink", len(a.wds))
	}
	if !strings.Contains(stderr.String(), "pipeline.workers=4: running one worker: an event sink wants every event") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestBatchCopiesEvent: a batch's copy of an event carries every field of event.Event (a
// field added to it and not to batch.push fails here), owns its bytes, and drops the params
// past NParams (also those left in a reused slot).
func TestBatchCopiesEvent(t *testing.T) {
	var ev event.Event
	v := reflect.ValueOf(&ev).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case name == "Params" || name == "Raw":
		case name == "Info":
			ev.Info = &event.Table[3] // any table row
			if ev.Info == nil {
				t.Fatal("no table row for code 3")
			}
		case f.CanInt():
			f.SetInt(int64(7 + i))
		case f.CanUint():
			f.SetUint(uint64(7 + i))
		default:
			t.Fatalf("event.Event.%s (%s): teach batch.push and this test about it", name, f.Type())
		}
	}
	ev.Raw = []byte("0123456789")
	ev.NParams = 3
	ev.Params[0] = ev.Raw[2:5]      // inside the record
	ev.Params[1] = []byte("merged") // outside it (an enter param the normalizer merged)
	ev.Params[2] = nil              // absent
	ev.Params[3] = []byte("stale")  // past NParams
	b := &batch{evs: make([]event.Event, 0, 2)}
	b.evs = b.evs[:1] // a reused slot with more params than ev
	b.evs[0].NParams = 5
	b.evs[0].Params[4] = []byte("old")
	b.evs = b.evs[:0]
	b.push(&ev)
	want := ev
	want.Params[3] = nil
	got := b.evs[0]
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("copy\n%+v\nwant\n%+v", got, want)
	}
	ev.Raw[2], ev.Params[1][0] = 'x', 'x' // the source reuses its buffers
	if string(got.Params[0]) != "234" || string(got.Params[1]) != "merged" || string(got.Raw) != "0123456789" {
		t.Errorf("the copy shares the source's bytes: %q %q %q", got.Params[0], got.Params[1], got.Raw)
	}
}
