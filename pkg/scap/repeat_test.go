package scap

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// readAll returns the timestamps of every event of a capture and its thread count.
func readStamps(t *testing.T, r *Reader) (ts []uint64, types []uint16) {
	t.Helper()
	var ev event.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, ev.TS)
		types = append(types, ev.Type)
	}
}

// TestRepeat: a capture repeated 3 times holds its metadata once and its events 3 times, in
// order, each copy later than the previous one; sysdig counts 3 times its lines of the source.
func TestRepeat(t *testing.T) {
	src := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	r0, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	ts0, types0 := readStamps(t, r0)
	threads0 := len(r0.Threads())
	r0.Close()

	var buf bytes.Buffer
	st, err := Repeat(&buf, src, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 3*len(ts0) || st.Dropped != 0 {
		t.Fatalf("stats %+v, want %d events, none dropped", st, 3*len(ts0))
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ts, types := readStamps(t, r)
	if len(ts) != 3*len(ts0) {
		t.Fatalf("read %d events back, want %d", len(ts), 3*len(ts0))
	}
	if r.Sections() != 1 || len(r.Threads()) != threads0 {
		t.Fatalf("%d sections, %d threads; want 1 and %d", r.Sections(), len(r.Threads()), threads0)
	}
	n := len(ts0)
	for i := range ts {
		if types[i] != types0[i%n] {
			t.Fatalf("event %d: type %d, source has %d", i, types[i], types0[i%n])
		}
		if d := ts[i] - ts[i%n]; i >= n && ts[i]-ts[i-n] != ts[n]-ts[0] {
			t.Fatalf("event %d: moved on by %d, copy 1 by %d", i, d, ts[n]-ts[0])
		}
	}
	if ts[n] <= ts[n-1] {
		t.Fatalf("copy 2 starts at %d, not after copy 1's end %d", ts[n], ts[n-1])
	}
	if _, err := Repeat(io.Discard, src, 0); err == nil {
		t.Fatal("Repeat with n=0: no error")
	}

	sysdig := sysdigPath(t)
	out := filepath.Join(t.TempDir(), "rep.scap")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := sysdigLines(t, sysdig, src)
	if got := sysdigLines(t, sysdig, out); got != 3*want {
		t.Fatalf("sysdig prints %d lines for the repeat, 3 × %d for the source", got, want)
	}
}

// TestDrain: Drain counts every event of a capture, the repeat of it n times as many.
func TestDrain(t *testing.T) {
	src := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	one, err := Drain(src)
	if err != nil || one == 0 {
		t.Fatalf("Drain(%s) = %d, %v", src, one, err)
	}
	out := filepath.Join(t.TempDir(), "rep.scap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Repeat(f, src, 4); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, err := Drain(out); err != nil || n != 4*one {
		t.Fatalf("Drain of the repeat = %d, %v; want %d", n, err, 4*one)
	}
	if _, err := Drain(filepath.Join(t.TempDir(), "none.scap")); err == nil {
		t.Fatal("Drain of a missing file: no error")
	}
}
