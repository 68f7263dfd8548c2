package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// recordingInput writes down what a source delivers: each section's metadata and each event
// (number, code, thread, time, params), as the pipeline would see them.
type recordingInput struct {
	log   []string
	ready int
}

func (r *recordingInput) LoadHost(*Host) error { return nil }
func (r *recordingInput) LoadCapture(c state.Capture) {
	m, ok := c.Machine()
	r.log = append(r.log, fmt.Sprintf("meta %v %s threads=%d fds=%d users=%d ifaces=%d", ok, m.Hostname, len(c.Threads()), len(c.FDs()), len(c.Users()), len(c.Interfaces())))
}
func (r *recordingInput) Ready(string) { r.ready++ }
func (r *recordingInput) Syscall(ev *event.Event) {
	h := sha256.New()
	for i := 0; i < ev.NParams; i++ {
		fmt.Fprintf(h, "%d:%x;", i, ev.Params[i])
	}
	r.log = append(r.log, fmt.Sprintf("ev %d %d %d %d %d %x", ev.Num, ev.Type, ev.TID, ev.TS, ev.CPU, h.Sum(nil)[:8]))
}
func (r *recordingInput) Evaluate(string, uint16, fields.Event, uint64) {}
func (r *recordingInput) Idle()                                         {}
func (r *recordingInput) Lost(Where, uint64)                            {}

// TestCaptureReadAhead: the read-ahead replay delivers exactly what the inline one does, in the
// same order (metadata of each section before its events, params intact although later events
// were read meanwhile), for every shared capture and for two captures concatenated (two
// sections), and stops with the same error on a truncated capture.
func TestCaptureReadAhead(t *testing.T) {
	dir := filepath.Join(testshared.Dir(t), "captures")
	files, _ := filepath.Glob(filepath.Join(dir, "*.scap"))
	if len(files) < 5 {
		t.Fatalf("%d shared captures", len(files))
	}
	tmp := t.TempDir()
	a, _ := os.ReadFile(filepath.Join(dir, "sample.scap"))
	b, _ := os.ReadFile(filepath.Join(dir, "curl_google.scap"))
	cat := filepath.Join(tmp, "two.scap")
	ua, err1 := gunzipped(a)
	ub, err2 := gunzipped(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	os.WriteFile(cat, append(append([]byte{}, ua...), ub...), 0o644)
	files = append(files, cat)
	plain := filepath.Join(tmp, "plain.scap")
	os.WriteFile(plain, ub[:len(ub)*2/3], 0o644) // truncated in the middle of a block
	files = append(files, plain)
	for _, f := range files {
		run := func(inline bool) ([]string, error) {
			s, err := OpenCapture(f)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if inline {
				s.Before = func(*event.Event) {}
			}
			in := &recordingInput{}
			err = s.Run(context.Background(), in)
			if in.ready != 1 {
				t.Fatalf("%s: Ready called %d times", f, in.ready)
			}
			return in.log, err
		}
		want, werr := run(true)
		got, gerr := run(false)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Errorf("%s: read-ahead ends with %v, inline with %v", filepath.Base(f), gerr, werr)
		}
		if len(got) != len(want) {
			t.Errorf("%s: read-ahead delivered %d items, inline %d", filepath.Base(f), len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: item %d: read-ahead %q, inline %q", filepath.Base(f), i, got[i], want[i])
				break
			}
		}
		if f == plain && werr == nil {
			t.Errorf("%s: the truncated capture gave no error", filepath.Base(f))
		}
		if metas := countPrefix(want, "meta "); f == cat && metas != 2 {
			t.Errorf("%s: %d sections' metadata delivered, want 2", filepath.Base(f), metas)
		}
		if len(want) < 2 {
			t.Errorf("%s: only %d items delivered", filepath.Base(f), len(want))
		}
	}
}

func gunzipped(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzipReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(zr)
	return out.Bytes(), err
}

func gzipReader(r *bytes.Reader) (*gzip.Reader, error) { return gzip.NewReader(r) }

func countPrefix(l []string, p string) int {
	n := 0
	for _, s := range l {
		if len(s) >= len(p) && s[:len(p)] == p {
			n++
		}
	}
	return n
}
