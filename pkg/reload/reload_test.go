package reload

import (
	"context"
	"errors"
	"fmt"
	"github.com/saker-sec/saker/internal/testshared"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

// rules with one rule named name matching every open/openat exit: a condition that depends on
// the event alone, so every version of the rules matches the same events.
func rulesNamed(name string) string {
	return fmt.Sprintf(`
- rule: %s
  desc: x
  condition: evt.type in (open, openat) and evt.dir=<
  output: "open %%fd.name (%s)"
  priority: WARNING
`, name, name)
}

const broken = `
- rule: Broken
  desc: x
  condition: evt.type in (open, openat) and and
  output: "x"
  priority: WARNING
`

type compiled struct {
	rs  *engine.Ruleset
	gen string
}

// build compiles the rules file against a detector's sources.
func build(path string, sources map[string]fields.Source) func() (*compiled, error) {
	return func() (*compiled, error) {
		rs, errs, _ := engine.LoadFiles([]string{path}, engine.Options{Sources: sources})
		if len(errs) > 0 {
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.String()
			}
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		return &compiled{rs: rs, gen: rs.Rules[0].Name}, nil
	}
}

// replayer replays a capture through a detector, reading the holder between events as the
// run loop does.
type replayer struct {
	d       *detect.Detector
	h       *Holder[compiled]
	capture string
	cur     *compiled
}

func (r *replayer) pass(t *testing.T, onEvent func(i int)) {
	t.Helper()
	rd, err := scap.Open(r.capture)
	if err != nil {
		t.Error(err)
		return
	}
	defer rd.Close()
	rd.OnMetadata = func(rd *scap.Reader) { r.d.LoadCapture(rd) }
	var ev event.Event
	for i := 0; ; i++ {
		if err := rd.Next(&ev); err == io.EOF {
			return
		} else if err != nil {
			t.Error(err)
			return
		}
		if c := r.h.Load(); c != r.cur { // the swap point: between two events
			r.cur, r.d.Rules = c, c.rs
		}
		if onEvent != nil {
			onEvent(i)
		}
		r.d.Event(&ev)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// write beside and rename, as editors and config managers do
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A good change is applied, a broken one is rejected with the old rules still alerting; file
// changes and SIGHUP both trigger.
func TestReloadGoodAndBroken(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesNamed("Open v1"))
	d := detect.New(state.Options{})
	first, err := build(path, d.Sources())()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(first)
	results := make(chan Result, 10)
	var alerts []*alert.Alert
	r := New(Options[compiled]{
		Holder: h, Build: build(path, d.Sources()), Paths: func() []string { return []string{path} },
		Interval: 10 * time.Millisecond, OnResult: func(res Result) { results <- res },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := r.Start(ctx)
	defer func() { cancel(); <-done }()
	d.Emit = func(a *alert.Alert) { alerts = append(alerts, a) }
	rp := &replayer{d: d, h: h, capture: capture}
	byRule := func() map[string]int {
		m := map[string]int{}
		for _, a := range alerts {
			m[a.Rule]++
		}
		alerts = nil
		return m
	}
	wait := func() Result {
		t.Helper()
		select {
		case res := <-results:
			return res
		case <-time.After(30 * time.Second):
			t.Fatal("no reload")
		}
		return Result{}
	}

	rp.pass(t, nil)
	base := byRule()
	if len(base) != 1 || base["Open v1"] == 0 {
		t.Fatalf("alerts %v", base)
	}
	n := base["Open v1"]

	writeFile(t, path, rulesNamed("Open v2"))
	res := wait()
	if res.Err != nil || res.Trigger != TriggerFile || len(res.Changed) != 1 || res.Changed[0] != path {
		t.Fatalf("result %+v", res)
	}
	rp.pass(t, nil)
	if got := byRule(); len(got) != 1 || got["Open v2"] != n {
		t.Fatalf("after a good change: %v, want Open v2: %d", got, n)
	}

	writeFile(t, path, broken)
	res = wait()
	if res.Err == nil || !strings.Contains(res.Err.Error(), path+":4:") {
		t.Fatalf("broken rules: %+v (want an error at %s:4)", res, path)
	}
	if h.Load().gen != "Open v2" {
		t.Fatalf("running rules %q after a broken change", h.Load().gen)
	}
	rp.pass(t, nil)
	if got := byRule(); len(got) != 1 || got["Open v2"] != n {
		t.Fatalf("after a broken change: %v, want the old rules: Open v2: %d", got, n)
	}
	// SIGHUP reloads too (the file is fixed meanwhile, but SIGHUP does not wait for the poll)
	writeFile(t, path, rulesNamed("Open v3"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for res = wait(); res.Trigger != TriggerSignal; res = wait() {
		// a file-triggered reload may come first
	}
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rp.pass(t, nil)
	if got := byRule(); len(got) != 1 || got["Open v3"] != n {
		t.Fatalf("after SIGHUP: %v", got)
	}
	if ok, failed := r.Counts(); ok < 2 || failed != 1 {
		t.Errorf("counts ok %d failed %d", ok, failed)
	}
}

// Events are replayed continuously while the rules are reloaded over and over (good and
// broken versions): every event that matches is alerted exactly once, by the old or the new
// rules; none is lost or evaluated twice.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, rulesNamed("R0"))
	d := detect.New(state.Options{})
	first, err := build(path, d.Sources())()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(first)
	results := make(chan Result, 100)
	r := New(Options[compiled]{
		Holder: h, Build: build(path, d.Sources()), Paths: func() []string { return []string{path} },
		Interval: 2 * time.Millisecond, Signals: []os.Signal{}, OnResult: func(res Result) { results <- res },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := r.Start(ctx)
	defer func() { cancel(); <-done }()

	// baseline: the matching event indexes of one pass
	var pass, idx int
	type key struct{ pass, i int }
	seen := map[key]string{}
	var dup []key
	d.Emit = func(a *alert.Alert) {
		k := key{pass, idx}
		if prev, ok := seen[k]; ok {
			dup = append(dup, k)
			_ = prev
		}
		seen[k] = a.Rule
	}
	rp := &replayer{d: d, h: h, capture: capture}
	rp.pass(t, func(i int) { idx = i })
	want := map[int]bool{}
	for k := range seen {
		want[k.i] = true
	}
	if len(want) == 0 {
		t.Fatal("no matching event in the capture")
	}

	// the writer: versions R1..R20, a broken one every fifth, each waited for
	var stop atomic.Bool
	var wg sync.WaitGroup
	var applied, rejected int
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		for v := 1; v <= 20; v++ {
			data := rulesNamed(fmt.Sprintf("R%d", v))
			if v%5 == 0 {
				data = broken
			}
			writeFile(t, path, data)
			select {
			case res := <-results:
				if res.Err == nil {
					applied++
				} else {
					rejected++
				}
			case <-time.After(30 * time.Second):
				t.Error("no reload")
				return
			}
		}
	}()
	for pass = 1; !stop.Load() || pass < 3; pass++ {
		rp.pass(t, func(i int) { idx = i })
	}
	wg.Wait()
	if applied != 16 || rejected != 4 {
		t.Errorf("applied %d rejected %d, want 16 and 4", applied, rejected)
	}
	if len(dup) > 0 {
		t.Fatalf("%d events alerted twice, e.g. %v", len(dup), dup[0])
	}
	mixed := 0
	for p := 1; p < pass; p++ {
		rules := map[string]bool{}
		for i := range want {
			rule, ok := seen[key{p, i}]
			if !ok {
				t.Fatalf("pass %d: event %d not alerted", p, i)
			}
			rules[rule] = true
		}
		if len(rules) > 1 {
			mixed++
		}
	}
	if got := len(seen); got != pass*len(want) {
		t.Fatalf("%d alerts over %d passes, want %d", got, pass, pass*len(want))
	}
	names := map[string]bool{}
	for _, r := range seen {
		names[r] = true
	}
	if !names["R19"] || names["Broken"] {
		t.Errorf("rules seen %v", names)
	}
	t.Logf("%d passes, %d alerts, %d passes switched rules mid-way, %d rule versions seen", pass, len(seen), mixed, len(names))
}

func TestBuildPanicIsAFailure(t *testing.T) {
	v := 1
	h := NewHolder(&v)
	r := New(Options[int]{Holder: h, Build: func() (*int, error) { panic("boom") }, Signals: []os.Signal{}})
	res := r.Reload(TriggerManual)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "boom") || *h.Load() != 1 {
		t.Fatalf("%+v", res)
	}
	r.opts.Build = func() (*int, error) { return nil, nil }
	if res := r.Reload(TriggerManual); res.Err == nil {
		t.Fatal("nil value accepted")
	}
}
