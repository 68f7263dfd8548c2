package scap

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

func TestReadAllCaptures(t *testing.T) {
	for _, c := range readmeCaptures(t) {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			r, err := Open(c.file)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			metaSeen := false
			metaThreads := 0
			r.OnMetadata = func(r *Reader) { metaSeen = true; metaThreads = len(r.Threads()) }
			var ev event.Event
			n := 0
			var lastTS uint64
			for {
				err := r.Next(&ev)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d events: %v", n, err)
				}
				if !metaSeen {
					t.Fatal("event returned before OnMetadata")
				}
				n++
				if ev.Num != uint64(n) {
					t.Fatalf("event %d has Num %d", n, ev.Num)
				}
				if ev.Info == nil || ev.Info.Code != ev.Type {
					t.Fatalf("event %d: info %v for type %d", n, ev.Info, ev.Type)
				}
				if (ev.TS < 1_000_000_000_000_000_000 && ev.Info.Name != "container") || ev.TS > 4_000_000_000_000_000_000 {
					t.Fatalf("event %d: implausible timestamp %d", n, ev.TS)
				}
				lastTS = ev.TS
			}
			_ = lastTS
			if n != c.events {
				t.Fatalf("read %d events, README says %d", n, c.events)
			}
			if metaThreads == 0 || len(r.Threads()) != metaThreads {
				t.Fatalf("threads at OnMetadata %d, at end %d", metaThreads, len(r.Threads()))
			}
			// Per README every capture has MI, IL, UL, PL and FDL blocks.
			mi, ok := r.Machine()
			if !ok || mi.NumCPUs == 0 || mi.NumCPUs > 1024 || mi.Hostname == "" {
				t.Fatalf("machine info %+v (present %v)", mi, ok)
			}
			if len(r.Users()) == 0 || len(r.Groups()) == 0 || len(r.Interfaces()) == 0 || len(r.FDs()) == 0 {
				t.Fatalf("users %d groups %d interfaces %d fds %d", len(r.Users()), len(r.Groups()), len(r.Interfaces()), len(r.FDs()))
			}
			root := false
			for _, u := range r.Users() {
				if u.UID == 0 && u.Name == "root" {
					root = true
				}
			}
			if !root {
				t.Fatal("no root user in the user list")
			}
			lo := false
			for _, it := range r.Interfaces() {
				if it.Name == "lo" && it.Addr.IsLoopback() {
					lo = true
				}
			}
			if !lo {
				t.Fatalf("no loopback interface among %+v", r.Interfaces())
			}
			tids := map[int64]bool{}
			for _, th := range r.Threads() {
				if th.TID <= 0 || th.PID <= 0 || th.Comm == "" {
					t.Fatalf("implausible thread %+v", th)
				}
				tids[th.TID] = true
			}
			if !tids[1] {
				t.Fatal("no thread 1 (init) in the process list")
			}
			for _, fd := range r.FDs() {
				if !tids[fd.TID] {
					t.Fatalf("fd %+v of a thread missing from the process list", fd)
				}
				if fd.Type > event.FDPidfd || fd.FD < 0 {
					t.Fatalf("implausible fd %+v", fd)
				}
			}
		})
	}
}

// TestNormalizeCaptures checks the normalizer on real captures: no old-version code survives,
// and exits of old two-event syscalls carry the params of their enter.
func TestNormalizeCaptures(t *testing.T) {
	merged := 0
	for _, c := range readmeCaptures(t) {
		r, err := Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		var n event.Normalizer
		var ev event.Event
		type enter struct {
			name string
			fd   int64
			ok   bool
		}
		last := map[int64]enter{}
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			raw := &event.Table[ev.RawType]
			// fd of an old enter, read before normalization.
			var rawFD int64
			rawHasFD := false
			if i := raw.ParamIndex("fd"); i >= 0 && ev.Has(i) {
				rawFD, rawHasFD = ev.Int(i), true
			}
			if !n.Next(&ev) {
				t.Fatalf("%s: event %d not emitted", c.file, ev.Num)
			}
			if event.CurrentOf(ev.Type) != ev.Type {
				t.Fatalf("%s: event %d keeps old code %d (current %d)", c.file, ev.Num, ev.Type, event.CurrentOf(ev.Type))
			}
			if ev.RawType != ev.Type && event.Table[ev.RawType].Name != ev.Info.Name {
				t.Fatalf("%s: event %d renamed from %s to %s", c.file, ev.Num, event.Table[ev.RawType].Name, ev.Info.Name)
			}
			switch ev.Info.Dir {
			case 'E':
				last[ev.TID] = enter{ev.Info.Name, rawFD, rawHasFD}
				continue
			case 'X':
				e, had := last[ev.TID]
				delete(last, ev.TID)
				if !had || e.name != ev.Info.Name || !e.ok {
					continue
				}
				// read, write, close...: old exits lack fd; it must now equal the enter's.
				if !rawHasFD && ev.Info.ParamIndex("fd") >= 0 {
					fd, ok := ev.ParamInt("fd")
					if !ok {
						t.Fatalf("%s: event %d (%s exit) has no fd after merging", c.file, ev.Num, ev.Info.Name)
					}
					if fd != e.fd {
						t.Fatalf("%s: event %d (%s exit) fd %d, enter had %d", c.file, ev.Num, ev.Info.Name, fd, e.fd)
					}
					merged++
				}
			}
		}
		r.Close()
	}
	if merged < 100 {
		t.Fatalf("only %d exits got their fd from the enter; expected old captures to give hundreds", merged)
	}
	t.Logf("%d exits got fd merged from their enter", merged)
}

func TestGzipAndPlainAgree(t *testing.T) {
	c := readmeCaptures(t)[0]
	plain := loadPlain(t, c.file)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	r1, err := NewReader(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewReader(&gz)
	if err != nil {
		t.Fatal(err)
	}
	a, b := readAll(t, r1), readAll(t, r2)
	if len(a) != c.events || len(b) != c.events {
		t.Fatalf("plain %d gzip %d events, want %d", len(a), len(b), c.events)
	}
	for i := range a {
		if !sameEvent(a[i], b[i]) {
			t.Fatalf("event %d differs", i+1)
		}
	}
}

func TestConcatenatedSections(t *testing.T) {
	caps := readmeCaptures(t)
	var a, b captureInfo
	for _, c := range caps {
		switch filepath.Base(c.file) {
		case "sample.scap":
			a = c
		case "syscall.scap":
			b = c
		}
	}
	data := append(loadPlain(t, a.file), loadPlain(t, b.file)...)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var threadsPerSection []int
	r.OnMetadata = func(r *Reader) { threadsPerSection = append(threadsPerSection, len(r.Threads())) }
	evs := readAll(t, r)
	if len(evs) != a.events+b.events {
		t.Fatalf("%d events, want %d+%d", len(evs), a.events, b.events)
	}
	if r.Sections() != 2 || len(threadsPerSection) != 2 {
		t.Fatalf("sections %d, metadata callbacks %v", r.Sections(), threadsPerSection)
	}
	if maj, min := r.Version(); maj != 1 || min != 1 {
		t.Fatalf("second section version %d.%d, want 1.1 (syscall.scap)", maj, min)
	}
	if evs[len(evs)-1].Num != uint64(a.events+b.events) {
		t.Fatalf("numbering does not continue across sections")
	}
}

func TestSHBWithOptions(t *testing.T) {
	for _, c := range readmeCaptures(t) {
		if filepath.Base(c.file) != "curl_google_comments.scap" {
			continue
		}
		plain := loadPlain(t, c.file)
		shbLen := int(uint32(plain[4]) | uint32(plain[5])<<8 | uint32(plain[6])<<16 | uint32(plain[7])<<24)
		if shbLen <= 28 {
			t.Fatalf("expected a section header with options, its length is %d", shbLen)
		}
		return
	}
	t.Fatal("curl_google_comments.scap not listed")
}

func TestUnknownBlockSkipped(t *testing.T) {
	c := readmeCaptures(t)[0]
	plain := loadPlain(t, c.file)
	shbLen := int(uint32(plain[4]) | uint32(plain[5])<<8)
	// An unknown block of 20 bytes right after the section header.
	unk := []byte{0x99, 0x09, 0, 0, 20, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 20, 0, 0, 0}
	data := append(append(append([]byte{}, plain[:shbLen]...), unk...), plain[shbLen:]...)
	r, _ := NewReader(bytes.NewReader(data))
	if n := len(readAll(t, r)); n != c.events {
		t.Fatalf("%d events, want %d", n, c.events)
	}
}

func expectFormatError(t *testing.T, data []byte, what string) *FormatError {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: NewReader error %v is not a FormatError", what, err)
		}
		return fe
	}
	if err := r.ReadMetadata(); err != nil && err != io.EOF {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: error %v is not a FormatError", what, err)
		}
		return fe
	}
	var ev event.Event
	var n event.Normalizer
	for i := 0; ; i++ {
		err := r.Next(&ev)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%s: error %v is not a FormatError", what, err)
			}
			if !strings.Contains(err.Error(), "offset ") {
				t.Fatalf("%s: error without offset: %v", what, err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("%s: offset %d outside the %d-byte input", what, fe.Offset, len(data))
			}
			// The error is sticky.
			if err2 := r.Next(&ev); err2 != err {
				t.Fatalf("%s: second Next returned %v, want the same error", what, err2)
			}
			return fe
		}
		n.Next(&ev)
		ev.Str(0)
		ev.SockTuple(1)
		if i > len(data) {
			t.Fatalf("%s: more events than bytes: endless loop", what)
		}
	}
}

func TestTruncatedCaptures(t *testing.T) {
	for _, c := range readmeCaptures(t) {
		plain := loadPlain(t, c.file)
		// Block boundaries: a cut there is a clean (shorter) capture, anywhere else an error.
		bounds := map[int]bool{}
		for o := 0; o+8 <= len(plain); {
			bounds[o] = true
			l := int(uint32(plain[o+4]) | uint32(plain[o+5])<<8 | uint32(plain[o+6])<<16 | uint32(plain[o+7])<<24)
			o += l
		}
		step := len(plain)/150 + 1
		for cut := 0; cut < len(plain); cut += step {
			fe := expectFormatError(t, plain[:cut], filepath.Base(c.file))
			if bounds[cut] {
				if cut == 0 && fe == nil {
					t.Fatalf("%s: empty input accepted", c.file)
				}
				continue
			}
			if fe == nil {
				t.Fatalf("%s cut at %d: no error", c.file, cut)
			}
			if fe.Offset > int64(cut) {
				t.Fatalf("%s cut at %d: error offset %d beyond the cut", c.file, cut, fe.Offset)
			}
		}
	}
}

func TestTruncationErrorMessage(t *testing.T) {
	c := readmeCaptures(t)[0]
	plain := loadPlain(t, c.file)
	// Cut in the middle of the second block (machine info follows the section header).
	shbLen := int(uint32(plain[4]) | uint32(plain[5])<<8)
	cut := shbLen + 48
	fe := expectFormatError(t, plain[:cut], "truncated")
	if fe == nil || fe.Offset != int64(shbLen) || !strings.Contains(fe.Error(), "exceeds remaining 48 bytes") {
		t.Fatalf("got %v, want offset %d and 'exceeds remaining 48 bytes'", fe, shbLen)
	}
}

func TestCorruptedCaptures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range readmeCaptures(t) {
		plain := loadPlain(t, c.file)
		for i := 0; i < 300; i++ {
			data := append([]byte(nil), plain...)
			for k := 0; k < 1+rng.IntN(4); k++ {
				p := rng.IntN(len(data))
				data[p] ^= byte(1 + rng.IntN(255))
			}
			expectFormatError(t, data, filepath.Base(c.file)) // must not panic or hang
		}
	}
}

func TestCorruptLengthNamesOffset(t *testing.T) {
	c := readmeCaptures(t)[0]
	plain := loadPlain(t, c.file)
	data := append([]byte(nil), plain...)
	shbLen := int(uint32(data[4]) | uint32(data[5])<<8)
	data[shbLen+4] ^= 0x10 // machine info length
	fe := expectFormatError(t, data, "corrupt length")
	if fe == nil || fe.Offset != int64(shbLen) {
		t.Fatalf("got %v, want an error at offset %d", fe, shbLen)
	}
}

func TestNotACapture(t *testing.T) {
	fe := expectFormatError(t, []byte("hello world, this is not a capture"), "text")
	if fe == nil || !strings.Contains(fe.Msg, "not a scap capture") {
		t.Fatalf("got %v", fe)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.scap")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func sameEvent(a, b flatEvent) bool {
	if a.TS != b.TS || a.TID != b.TID || a.Type != b.Type || a.CPU != b.CPU || a.Flags != b.Flags || len(a.Params) != len(b.Params) {
		return false
	}
	for k, v := range a.Params {
		if b.Params[k] != v {
			return false
		}
	}
	return true
}
