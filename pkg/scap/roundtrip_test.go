package scap

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// rewrite reads a capture, normalizes it and writes it with opts; it returns the original
// normalized stream, the written bytes and the writer.
func rewrite(t *testing.T, path string, opts WriterOptions) ([]flatEvent, *Reader, []byte, *Writer) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	var metaErr error
	r.OnMetadata = func(r *Reader) { metaErr = w.WriteMetadata(r) }
	var n event.Normalizer
	var ev event.Event
	var orig []flatEvent
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if metaErr != nil {
			t.Fatal(metaErr)
		}
		n.Next(&ev)
		orig = append(orig, flatten(&ev))
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return orig, r, buf.Bytes(), w
}

func TestRoundTrip(t *testing.T) {
	for _, c := range readmeCaptures(t) {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			orig, r1, data, _ := rewrite(t, c.file, WriterOptions{Gzip: true})
			if data[0] != 0x1f || data[1] != 0x8b {
				t.Fatal("Gzip option did not compress")
			}
			r2, err := NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			again := readAll(t, r2)
			if len(again) != len(orig) || len(orig) != c.events {
				t.Fatalf("re-read %d events, original %d, README %d", len(again), len(orig), c.events)
			}
			for i := range orig {
				if !sameEvent(orig[i], again[i]) || orig[i].Num != again[i].Num {
					t.Fatalf("event %d differs:\n orig  %+v\n again %+v", i+1, orig[i], again[i])
				}
			}
			m1, _ := r1.Machine()
			m2, _ := r2.Machine()
			if m1 != m2 {
				t.Fatalf("machine %+v != %+v", m1, m2)
			}
			if !reflect.DeepEqual(r1.Threads(), r2.Threads()) {
				for i := range r1.Threads() {
					if !reflect.DeepEqual(r1.Threads()[i], r2.Threads()[i]) {
						t.Fatalf("thread %d:\n %+v\n %+v", i, r1.Threads()[i], r2.Threads()[i])
					}
				}
				t.Fatal("threads differ")
			}
			for _, pair := range []struct {
				name string
				a, b any
			}{{"fds", r1.FDs(), r2.FDs()}, {"users", r1.Users(), r2.Users()}, {"groups", r1.Groups(), r2.Groups()}, {"interfaces", r1.Interfaces(), r2.Interfaces()}} {
				if !reflect.DeepEqual(pair.a, pair.b) {
					t.Fatalf("%s differ:\n %+v\n %+v", pair.name, pair.a, pair.b)
				}
			}
		})
	}
}

// TestSysdigCompatRoundTrip writes every capture in SysdigCompat mode and checks that Saker
// reads back the original stream less the events the mode drops.
func TestSysdigCompatRoundTrip(t *testing.T) {
	for _, c := range readmeCaptures(t) {
		orig, _, data, w := rewrite(t, c.file, WriterOptions{SysdigCompat: true})
		r2, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		again := readAll(t, r2)
		if w.Synthesized != 0 {
			t.Fatalf("%s: %d enters synthesized for a capture that has its enters", c.file, w.Synthesized)
		}
		var kept []flatEvent
		for _, e := range orig {
			ev := event.Event{Type: e.Type, Info: &event.Table[e.Type], RawType: e.Type}
			if _, ok := CompatCode(&ev); ok || e.Type < SysdigMaxCode {
				kept = append(kept, e)
			}
		}
		if len(again)+w.Dropped != len(orig) {
			t.Fatalf("%s: re-read %d + dropped %d != %d", c.file, len(again), w.Dropped, len(orig))
		}
		j := 0
		for _, e := range orig {
			if j < len(again) && sameEvent(e, again[j]) {
				j++
			}
		}
		if j != len(again) {
			t.Fatalf("%s: re-read stream is not the original less dropped events (matched %d of %d)", c.file, j, len(again))
		}
		_ = kept
	}
}

func TestSynthesizedEnters(t *testing.T) {
	// A stream of current exits only (as the modern eBPF probe produces): openat exits get
	// an enter before them.
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{SysdigCompat: true, SynthesizeEnters: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{TS: 1_700_000_000_000_000_000, TID: 42, Type: event.SyscallOpenatX, RawType: event.SyscallOpenatX}
	ev.Info = &event.Table[ev.Type]
	vals := map[string][]byte{"fd": le64(nil, 3), "dirfd": le64(nil, uint64(0xFFFFFFFFFFFFFF9C)), "name": []byte("/etc/passwd\x00"), "flags": le32(nil, 0x1001), "mode": le32(nil, 0)}
	for i, p := range ev.Info.Params {
		if v, ok := vals[p.Name]; ok {
			ev.Params[i] = v
			ev.Present |= 1 << uint(i)
			ev.NParams = i + 1
		}
	}
	for i := 0; i < 2; i++ {
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
		ev.TS++
	}
	w.Close()
	if w.Synthesized != 2 {
		t.Fatalf("synthesized %d enters, want 2", w.Synthesized)
	}
	r, _ := NewReader(&buf)
	var got event.Event
	var names []string
	for r.Next(&got) == nil {
		s := string(got.Info.Dir) + got.Info.Name
		if got.Info.Dir == 'E' {
			name, _ := got.ParamStr("name")
			s += ":" + name + ":" + event.FormatFlags("file_flags", event.PTFlags32, uint32(got.Uint(got.Index("flags"))))
		}
		names = append(names, s)
	}
	want := "Eopenat:/etc/passwd:O_RDONLY|O_CLOEXEC Xopenat Eopenat:/etc/passwd:O_RDONLY|O_CLOEXEC Xopenat"
	if strings.Join(names, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(names, " "), want)
	}
}

func sysdigPath(t *testing.T) string {
	p, err := exec.LookPath("sysdig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sysdig not installed (required under CI): %v", err)
		}
		t.Skip("sysdig not installed: apt-get install -y --no-install-recommends sysdig")
	}
	return p
}

func sysdigLines(t *testing.T, sysdig, path string) int {
	t.Helper()
	out, err := exec.Command(sysdig, "-r", path).Output()
	if err != nil {
		t.Fatalf("sysdig -r %s: %v", path, err)
	}
	return bytes.Count(out, []byte("\n"))
}

// TestSysdigReadsWrittenCaptures: sysdig 0.29 prints as many lines for each rewritten capture
// as README.md says it prints for the original.
func TestSysdigReadsWrittenCaptures(t *testing.T) {
	sysdig := sysdigPath(t)
	caps := readmeCaptures(t)
	lines := map[string]int{}
	for _, c := range caps {
		lines[filepath.Base(c.file)] = c.sysdigLines
	}
	dir := t.TempDir()
	for _, c := range caps {
		want := c.sysdigLines
		if filepath.Base(c.file) == "curl_google_comments.scap" {
			// sysdig cannot read the original (section header options); the rewrite has none,
			// and the events are curl_google.scap's.
			want = lines["curl_google.scap"]
		}
		for _, gz := range []bool{false, true} {
			_, _, data, _ := rewrite(t, c.file, WriterOptions{SysdigCompat: true, Gzip: gz})
			out := filepath.Join(dir, "out.scap")
			if err := os.WriteFile(out, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := sysdigLines(t, sysdig, out); got != want {
				t.Errorf("%s (gzip %v): sysdig prints %d lines for the rewrite, %d for the original", filepath.Base(c.file), gz, got, want)
			}
		}
	}
}

// TestSysdigReadsSynthesizedEnters drops the syscall enter events of sample.scap (as an
// exit-only driver would produce the stream) and writes it with SynthesizeEnters: sysdig must
// print as many lines as for the original capture, its enters restored from the exits.
func TestSysdigReadsSynthesizedEnters(t *testing.T) {
	sysdig := sysdigPath(t)
	var c captureInfo
	for _, ci := range readmeCaptures(t) {
		if filepath.Base(ci.file) == "sample.scap" {
			c = ci
		}
	}
	r, err := Open(c.file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{SysdigCompat: true, SynthesizeEnters: true})
	r.OnMetadata = func(r *Reader) { w.WriteMetadata(r) }
	var n event.Normalizer
	var ev event.Event
	dropped := 0
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n.Next(&ev)
		if ev.Info.Dir == 'E' && event.Current(ev.Info.Name, 'X') != 0xFFFF {
			dropped++
			continue
		}
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if w.Synthesized != dropped {
		t.Logf("dropped %d enters, synthesized %d", dropped, w.Synthesized)
	}
	out := filepath.Join(t.TempDir(), "exits.scap")
	os.WriteFile(out, buf.Bytes(), 0o644)
	if got := sysdigLines(t, sysdig, out); got != c.sysdigLines {
		t.Fatalf("sysdig prints %d lines, %d for the original (dropped %d enters, synthesized %d)", got, c.sysdigLines, dropped, w.Synthesized)
	}
}
