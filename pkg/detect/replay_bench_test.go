package detect

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// replayCapture is a capture repeated in memory (scap.Repeat, what scripts/bench.sh replays).
func replayCapture(b testing.TB, name string, n int) []byte {
	var buf bytes.Buffer
	if _, err := scap.Repeat(&buf, filepath.Join(sharedDir(b), "captures", name), n); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func upstreamDetector(b testing.TB) *Detector {
	dir := filepath.Join(sharedDir(b), "falco-rules")
	d := New(state.Options{})
	rs, errs, _ := engine.LoadFiles([]string{
		filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml"), filepath.Join(dir, "falco-sandbox_rules.yaml"),
	}, engine.Options{Sources: d.Sources()})
	if rs == nil {
		b.Fatal(errs)
	}
	d.Rules = rs
	return d
}

// BenchmarkReplay replays a capture from memory, one whole pass per iteration, at three
// depths side by side: decode (reader and normalizer: the floor), state (plus the state
// engine) and rules (the whole detector with the three upstream syscall rules files, alerts
// built and dropped). ns/event is the figure to compare; the ratio rules/decode is what the
// rules and state cost over reading.
//
//	go test -run '^$' -bench Replay -benchtime 5x -count 3 ./pkg/detect
func BenchmarkReplay(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
	}{{"curl_google.scap", 200}, {"sample.scap", 200}} {
		data := replayCapture(b, c.name, c.n)
		for _, mode := range []string{"decode", "state", "rules"} {
			b.Run(c.name[:len(c.name)-5]+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				var events uint64
				for b.Loop() {
					b.StopTimer()
					var d *Detector
					switch mode {
					case "state":
						d = New(state.Options{})
					case "rules":
						d = upstreamDetector(b)
						d.Emit = func(*alert.Alert) {}
					}
					r, err := scap.NewReader(bytes.NewReader(data))
					if err != nil {
						b.Fatal(err)
					}
					var norm event.Normalizer
					if d != nil {
						r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
					}
					b.StartTimer()
					var ev event.Event
					var num uint64
					for {
						err := r.Next(&ev)
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						num++ // the reader numbers events (evt.num)
						if d == nil {
							norm.Next(&ev)
						} else {
							d.Event(&ev)
						}
					}
					events += num
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
			})
		}
	}
}

// BenchmarkOpenCandidates evaluates, again and again, the upstream rules an open's exit event
// can match (22 of them) on one open of curl_google.scap (/etc/ld.so.cache, read), the event's
// number moved on each time so that every macro memory misses once per iteration as it does
// per event: the rules' cost per open with warm caches, what a tight open loop on a live host
// sees (the replay's opens, among other events, cost about twice as much).
//
//	go test -run '^$' -bench OpenCandidates ./pkg/detect
func BenchmarkOpenCandidates(b *testing.B) {
	d := upstreamDetector(b)
	r, err := scap.NewReader(bytes.NewReader(replayCapture(b, "curl_google.scap", 1)))
	if err != nil {
		b.Fatal(err)
	}
	var ev, open event.Event
	for open.Info == nil {
		if err := r.Next(&ev); err != nil {
			b.Fatalf("no open exit in the capture: %v", err)
		}
		if ctx := d.Event(&ev); ctx != nil && ev.Info.Name == "open" && ev.Info.Dir == 'X' && ctx.FD != nil {
			open = ev // (its params point into the capture's buffer, which stays)
		}
	}
	ctx := d.State.Process(&open)
	sys := d.Rules.Source("syscall")
	if n := len(sys.Candidates(open.Type)); n < 10 {
		b.Fatalf("%d candidate rules for an open exit, want the upstream files' 20 or so", n)
	}
	var matched []*engine.Rule
	for b.Loop() {
		ctx.Ev.Num++
		matched = sys.Match(open.Type, ctx, false, matched[:0])
	}
	if len(matched) != 0 {
		b.Fatalf("the open of %s matched %d rules", ctx.FD.Name, len(matched))
	}
}
