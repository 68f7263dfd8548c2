package scap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"github.com/saker-sec/saker/internal/testshared"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// sharedDir returns ../shared beside the repository root, skipping (or failing under CI=true)
// when it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

type captureInfo struct {
	file         string
	events       int
	sysdigLines  int
	blockSummary string
}

// readmeCaptures parses shared/captures/README.md's table.
func readmeCaptures(t testing.TB) []captureInfo {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "captures")
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []captureInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) != 6 || !strings.HasSuffix(strings.TrimSpace(cols[1]), ".scap") {
			continue
		}
		ev, err1 := strconv.Atoi(strings.TrimSpace(cols[3]))
		sl, err2 := strconv.Atoi(strings.TrimSpace(cols[4]))
		if err1 != nil || err2 != nil {
			t.Fatalf("README row %q: %v %v", sc.Text(), err1, err2)
		}
		out = append(out, captureInfo{file: filepath.Join(dir, strings.TrimSpace(cols[1])), events: ev, sysdigLines: sl, blockSummary: cols[2]})
	}
	if len(out) < 10 {
		t.Fatalf("README lists %d captures, expected at least 10", len(out))
	}
	return out
}

// loadPlain returns the uncompressed bytes of a capture.
func loadPlain(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, err = io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// flatEvent is an event with its params copied, keyed by name.
type flatEvent struct {
	Num    uint64
	TS     uint64
	TID    int64
	CPU    uint16
	Type   uint16
	Flags  uint32
	Params map[string]string
}

func flatten(ev *event.Event) flatEvent {
	f := flatEvent{Num: ev.Num, TS: ev.TS, TID: ev.TID, CPU: ev.CPU, Type: ev.Type, Flags: ev.Flags, Params: map[string]string{}}
	for i, p := range ev.Info.Params {
		if b := ev.Bytes(i); len(b) > 0 {
			f.Params[p.Name] = string(b)
		}
	}
	return f
}

// readAll reads and normalizes every event of a capture.
func readAll(t testing.TB, r *Reader) []flatEvent {
	t.Helper()
	var n event.Normalizer
	var ev event.Event
	var out []flatEvent
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n.Next(&ev)
		out = append(out, flatten(&ev))
	}
}
