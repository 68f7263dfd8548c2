package state

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

// recorded is one capture held in memory: its metadata and its normalized events (params
// copied out of the reader's buffers).
type recorded struct {
	machine event.MachineInfo
	ifaces  []event.Interface
	users   []event.User
	groups  []event.Group
	threads []event.ThreadInfo
	fds     []event.FDInfo
	events  []event.Event
}

func record(tb testing.TB, path string) *recorded {
	tb.Helper()
	r, err := scap.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	rec := &recorded{}
	r.OnMetadata = func(r *scap.Reader) {
		if r.Sections() > 1 {
			return
		}
		rec.machine, _ = r.Machine()
		rec.ifaces, rec.users, rec.groups = r.Interfaces(), r.Users(), r.Groups()
		rec.threads, rec.fds = r.Threads(), r.FDs()
	}
	var ev event.Event
	var norm event.Normalizer
	for {
		if err := r.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			tb.Fatal(err)
		}
		if r.Sections() > 1 {
			break
		}
		if !norm.Next(&ev) {
			continue
		}
		c := ev
		c.Raw = nil
		for i := 0; i < c.NParams; i++ {
			if c.Params[i] != nil {
				c.Params[i] = append([]byte(nil), c.Params[i]...)
			}
		}
		rec.events = append(rec.events, c)
	}
	return rec
}

func (rec *recorded) load(e *Engine) {
	e.SetMachine(rec.machine)
	e.SetInterfaces(rec.ifaces)
	for _, u := range rec.users {
		e.AddUser(u)
	}
	for _, g := range rec.groups {
		e.AddGroup(g)
	}
	for _, t := range rec.threads {
		e.AddThread(t)
	}
	for _, f := range rec.fds {
		e.AddFD(f)
	}
}

// BenchmarkProcess replays every shared capture from memory through a fresh engine (metadata
// loading excluded from the timing) and reports the cost of Process per event.
func BenchmarkProcess(b *testing.B) {
	s := sharedDir(b)
	files, _ := filepath.Glob(filepath.Join(s, "captures", "*.scap"))
	var recs []*recorded
	total := 0
	for _, f := range files {
		rec := record(b, f)
		recs = append(recs, rec)
		total += len(rec.events)
	}
	if total == 0 {
		b.Fatal("no events")
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		for _, rec := range recs {
			b.StopTimer()
			e := New(Options{})
			rec.load(e)
			e.Process(&rec.events[0]) // links the metadata
			b.StartTimer()
			for j := 1; j < len(rec.events); j++ {
				e.Process(&rec.events[j])
			}
			n += len(rec.events) - 1
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

// BenchmarkProcessRepeat is the state half of pkg/detect's BenchmarkReplay without the reading:
// one capture's normalized events, held in memory, go through a fresh engine 200 times over
// (each copy's timestamps moved on past the previous one's, as scap.Repeat writes them), and
// ns/event is the cost of Process alone.
func BenchmarkProcessRepeat(b *testing.B) {
	for _, name := range []string{"curl_google.scap", "sample.scap"} {
		rec := record(b, filepath.Join(sharedDir(b), "captures", name))
		if len(rec.events) == 0 {
			b.Fatal("no events")
		}
		span := rec.events[len(rec.events)-1].TS - rec.events[0].TS + 1
		const copies = 200
		b.Run(name[:len(name)-5], func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				b.StopTimer()
				e := New(Options{})
				rec.load(e)
				evs := rec.events
				b.StartTimer()
				var shift uint64
				for c := 0; c < copies; c++ {
					for j := range evs {
						ev := &evs[j]
						ev.TS += shift
						e.Process(ev)
						ev.TS -= shift
					}
					shift += span
				}
				n += copies * len(evs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}
