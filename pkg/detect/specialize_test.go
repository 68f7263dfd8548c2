package detect

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
	"github.com/saker-sec/saker/rules"
)

// TestSpecializedRulesMatchAsWritten replays every shared capture through the upstream rules
// and through Saker's built-in rules, and checks at every event that the ruleset's index (each
// rule specialized for the event's code, the rules the code rules out dropped) matches exactly
// the rules whose conditions, as compiled for any event, hold. It fails when a fold of a
// field the code is said to decide (evt.type, evt.dir, an enter event's evt.res or fd.num) is
// wrong for some event.
func TestSpecializedRulesMatchAsWritten(t *testing.T) {
	caps := sharedCaptures(t)
	for _, set := range []string{"upstream", "builtin"} {
		for _, path := range caps {
			t.Run(set+"/"+filepath.Base(path), func(t *testing.T) {
				d := New(state.Options{})
				var rs *engine.Ruleset
				var errs []any
				if set == "upstream" {
					d = upstreamDetector(t)
					rs = d.Rules
				} else {
					r, e, _ := engine.Load(rules.Files(), engine.Options{Sources: d.Sources()})
					rs = r
					for _, m := range e {
						errs = append(errs, m)
					}
				}
				if rs == nil {
					t.Fatal(errs...)
				}
				sr := rs.Source("syscall")
				var matched, evaluated int
				n := eachEvent(t, d, path, func(ev *event.Event, ctx *state.Context) {
					var want []string
					for _, rule := range sr.Candidates(ev.Type) {
						evaluated++
						if rule.Filter(ctx) {
							want = append(want, rule.Name)
						}
					}
					var got []string
					for _, rule := range sr.Match(ev.Type, ctx, false, nil) {
						got = append(got, rule.Name)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("event %d (%s %c): specialized rules match %q, the rules as written %q", ev.Num, ev.Info.Name, ev.Info.Dir, got, want)
					}
					matched += len(want)
				})
				if n == 0 {
					t.Fatalf("%s: no events", path)
				}
				t.Logf("%d events, %d rule evaluations, %d matches", n, evaluated, matched)
			})
		}
	}
}

// TestOutcomesHoldForEveryEvent checks the claim specialization rests on: for every event of
// the shared captures, each field the syscall source says an event code decides
// (fields.Folder) has one of the values the source listed for that code.
func TestOutcomesHoldForEveryEvent(t *testing.T) {
	probes := []struct{ name, arg string }{
		{"evt.type", ""}, {"evt.dir", ""}, {"syscall.type", ""}, {"evt.type.is", "open"},
		{"evt.res", ""}, {"evt.rawres", ""}, {"evt.failed", ""},
		{"proc.name", ""}, // never folded: must say so
	}
	// every fd.* field (folded on the enter events that name no fd, and on no others)
	for _, info := range sysfields.Catalog().Fields() {
		if strings.HasPrefix(info.Name, "fd.") && info.Arg != fields.ArgRequired && !info.Hidden {
			probes = append(probes, struct{ name, arg string }{info.Name, ""})
		}
	}
	folded := map[string]int{}
	for _, path := range sharedCaptures(t) {
		d := New(state.Options{})
		src := d.Sources()["syscall"]
		folder, ok := src.(fields.Folder)
		if !ok {
			t.Fatal("the syscall source does not implement fields.Folder")
		}
		type bound struct {
			info fields.Info
			arg  string
			ext  fields.Extractor
		}
		var bs []bound
		for _, p := range probes {
			info, ok := src.Field(p.name)
			if !ok {
				t.Fatalf("no field %s", p.name)
			}
			ext, err := src.Extractor(info, p.arg)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, bound{info, p.arg, ext})
		}
		eachEvent(t, d, path, func(ev *event.Event, ctx *state.Context) {
			for _, b := range bs {
				outs, known := folder.Outcomes(b.info, b.arg, ev.Type)
				if b.info.Name == "proc.name" || strings.HasPrefix(b.info.Name, "fd.") && (ev.Info.Dir != 'E' || state.UsesFDParam(ev.Type)) {
					if known {
						t.Fatalf("%s is said to be decided by the event code %d (%s %c)", b.info.Name, ev.Type, ev.Info.Name, ev.Info.Dir)
					}
					continue
				}
				if !known {
					continue
				}
				folded[b.info.Name]++
				v, ok := b.ext(ctx)
				if !slices.ContainsFunc(outs, func(o fields.Outcome) bool { return o.OK == ok && (!ok || o.V.S == v.S && o.V.N == v.N) }) {
					t.Fatalf("%s event %d (%s %c): %s = %+v (%v), not one of the outcomes %+v", filepath.Base(path), ev.Num, ev.Info.Name, ev.Info.Dir, b.info.Name, v, ok, outs)
				}
			}
		})
	}
	for _, p := range append(probes[:7:7], probes[8:]...) {
		if folded[p.name] == 0 {
			t.Errorf("%s was never decided by an event code in the captures", p.name)
		}
	}
	t.Logf("checked folds: %v", folded)
}

// TestScalarExtractorsAgree checks, at every event of the shared captures, that every
// syscall field without an argument read through the source's ScalarBinder (the form rule
// comparisons use) has the value its Extractor gives (the form outputs and everything else use).
func TestScalarExtractorsAgree(t *testing.T) {
	checked := 0
	for _, path := range sharedCaptures(t) {
		d := New(state.Options{})
		src := d.Sources()["syscall"]
		sb, ok := src.(fields.ScalarBinder)
		if !ok {
			t.Fatal("the syscall source does not implement fields.ScalarBinder")
		}
		type bound struct {
			name string
			ext  fields.Extractor
			str  func(fields.Event) (string, bool, bool)
			num  func(fields.Event) (uint64, bool, bool)
		}
		var bs []bound
		for _, info := range fields.SyscallCatalog().Fields() {
			if info.Arg == fields.ArgRequired || info.List || info.Hidden {
				continue
			}
			ext, err := src.Extractor(info, "")
			if err != nil {
				continue
			}
			b := bound{name: info.Name, ext: ext}
			switch info.Type {
			case fields.String, fields.Bytes:
				b.str, err = sb.StringExtractor(info, "")
			case fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Bool, fields.Int64:
				b.num, err = sb.NumberExtractor(info, "")
			default:
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", info.Name, err)
			}
			bs = append(bs, b)
		}
		eachEvent(t, d, path, func(ev *event.Event, ctx *state.Context) {
			for _, b := range bs {
				v, ok := b.ext(ctx)
				if b.str != nil {
					s, sok, multi := b.str(ctx)
					if sok != ok || multi != (v.L != nil) || ok && s != v.S {
						t.Fatalf("%s event %d (%s): %s scalar %q %v %v, extractor %q %v (list %v)", filepath.Base(path), ev.Num, ev.Info.Name, b.name, s, sok, multi, v.S, ok, v.L != nil)
					}
				} else {
					n, nok, multi := b.num(ctx)
					if nok != ok || multi != (v.L != nil) || ok && n != v.N {
						t.Fatalf("%s event %d (%s): %s scalar %d %v %v, extractor %d %v (list %v)", filepath.Base(path), ev.Num, ev.Info.Name, b.name, n, nok, multi, v.N, ok, v.L != nil)
					}
				}
				checked++
			}
		})
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
	t.Logf("%d field extractions compared", checked)
}

// sharedCaptures lists the shared captures.
func sharedCaptures(t *testing.T) []string {
	t.Helper()
	dir := sharedDir(t)
	caps, err := filepath.Glob(filepath.Join(dir, "captures", "*.scap"))
	if err != nil || len(caps) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	return caps
}

// eachEvent replays the capture at path through d's normalizer and state, calling fn with
// every event the normalizer lets through and its context; it returns how many.
func eachEvent(t *testing.T, d *Detector, path string, fn func(ev *event.Event, ctx *state.Context)) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := scap.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
	var ev event.Event
	n := 0
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if !d.norm.Next(&ev) {
			continue
		}
		n++
		fn(&ev, d.Update(&ev))
	}
}
