package ring

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

// events reads a shared capture's events (copies: the reader reuses its buffers).
func events(t *testing.T, name string) []event.Event {
	t.Helper()
	r, err := scap.Open(filepath.Join(testshared.Dir(t), "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []event.Event
	var ev event.Event
	for {
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := ev
		for i := 0; i < c.NParams; i++ {
			c.Params[i] = bytes.Clone(ev.Params[i])
		}
		out = append(out, c)
	}
	if len(out) < 100 {
		t.Fatalf("%s: only %d events", name, len(out))
	}
	return out
}

func same(a, b *event.Event) bool {
	if a.TS != b.TS || a.TID != b.TID || a.Type != b.Type || a.RawType != b.RawType || a.NParams != b.NParams || a.CPU != b.CPU || a.Flags != b.Flags {
		return false
	}
	for i := 0; i < a.NParams; i++ {
		if !bytes.Equal(a.Params[i], b.Params[i]) {
			return false
		}
	}
	return true
}

func TestRoundTripAndWindow(t *testing.T) {
	evs := events(t, "sample.scap")
	span := int64(evs[len(evs)-1].TS - evs[0].TS)
	r := New(Options{Window: span / 2})
	for i := range evs {
		r.Add("w", evs[i].TID, &evs[i])
	}
	var got []event.Event
	r.Each("w", 0, func(ev *event.Event, pid int64) {
		if pid != ev.TID {
			t.Fatalf("pid %d for tid %d", pid, ev.TID)
		}
		c := *ev
		got = append(got, c)
	})
	last := evs[len(evs)-1].TS
	// exactly the events of the last half span are kept, in order, unchanged
	var want []event.Event
	for _, e := range evs {
		if int64(last-e.TS) <= span/2 {
			want = append(want, e)
		}
	}
	if len(got) != len(want) || len(got) == len(evs) {
		t.Fatalf("kept %d events, want %d (of %d)", len(got), len(want), len(evs))
	}
	for i := range got {
		if !same(&got[i], &want[i]) {
			t.Fatalf("event %d differs", i)
		}
	}
	// since
	mid := want[len(want)/2].TS
	n := r.Each("w", mid, func(ev *event.Event, _ int64) {
		if ev.TS < mid {
			t.Fatal("event before since")
		}
	})
	if n == 0 || n >= len(want) {
		t.Errorf("since kept %d of %d", n, len(want))
	}
}

func TestBounds(t *testing.T) {
	evs := events(t, "sample.scap")
	r := New(Options{Window: 1 << 62, MaxEvents: 50, MaxWorkloads: 2})
	for i := range evs {
		r.Add("a", 0, &evs[i])
	}
	if r.Len("a") != 50 {
		t.Fatalf("count bound: %d", r.Len("a"))
	}
	var first uint64
	r.Each("a", 0, func(ev *event.Event, _ int64) {
		if first == 0 {
			first = ev.TS
		}
	})
	if first != evs[len(evs)-50].TS {
		t.Error("not the newest 50")
	}
	// bytes
	rb := New(Options{Window: 1 << 62, MaxBytes: 4096})
	for i := range evs {
		rb.Add("a", 0, &evs[i])
	}
	total := 0
	rb.Each("a", 0, func(ev *event.Event, _ int64) {
		for i := 0; i < ev.NParams; i++ {
			total += len(ev.Params[i])
		}
	})
	if total > 4096 || total == 0 {
		t.Errorf("byte bound: %d", total)
	}
	// workloads: the least recently active goes
	r.Add("b", 0, &evs[0])
	r.Add("a", 0, &evs[1])
	r.Add("c", 0, &evs[2])
	if r.Len("b") != 0 || r.Len("a") == 0 || r.Len("c") != 1 {
		t.Errorf("lru: a=%d b=%d c=%d", r.Len("a"), r.Len("b"), r.Len("c"))
	}
}

// BenchmarkAdd is the per-event cost the ring adds to the event loop when the policy can ask
// for snapshots (copy of the params, bounds, one mutex).
func BenchmarkAdd(b *testing.B) {
	r0, err := scap.Open(filepath.Join(testshared.Dir(b), "captures", "sample.scap"))
	if err != nil {
		b.Fatal(err)
	}
	var evs []event.Event
	var ev event.Event
	for r0.Next(&ev) == nil {
		c := ev
		for i := 0; i < c.NParams; i++ {
			c.Params[i] = bytes.Clone(ev.Params[i])
		}
		evs = append(evs, c)
	}
	r0.Close()
	r := New(Options{})
	keys := []string{"host", "0123456789ab", "ba9876543210"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := &evs[i%len(evs)]
		e.TS += 1000
		r.Add(keys[i%3], e.TID, e)
		i++
	}
}
