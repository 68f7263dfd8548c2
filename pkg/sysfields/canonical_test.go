package sysfields

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// fd.canonical: a hard link to a watched file gives the watched path, an unwatched file its
// fd.realpath (else fd.name); proc.deletions counts successful deletions.
func TestCanonicalAndDeletions(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	link := filepath.Join(dir, "h")
	if err := os.Link(secret, link); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(link, &st); err != nil {
		t.Fatal(err)
	}
	e := state.New(state.Options{})
	e.AddThread(event.ThreadInfo{TID: 3000, PID: 3000, PTID: 2000, Comm: "cat", Exe: "cat", Cwd: "/home/u"})
	e.AddThread(event.ThreadInfo{TID: 2000, PID: 2000, PTID: 1, Comm: "bash", Exe: "bash", Cwd: "/home/u"})
	e.Canon().SetPaths([]string{secret})
	src := NewSource(e)
	get := func(ctx *state.Context, field string) string {
		t.Helper()
		_, ex := bind(t, src, field)
		v, ok := ex(ctx)
		if !ok {
			return "<no value>"
		}
		if field == "proc.deletions" {
			return strconv.FormatUint(v.N, 10)
		}
		return v.S
	}
	n := uint64(0)
	open := func(name string, dev uint32, ino uint64, ext ...[]byte) *state.Context {
		n++
		raw := encode(t, "openat", 'X', 3000, tsBase+n*1000, map[string]any{"fd": 5, "dirfd": -100, "name": name,
			"flags": 1, "mode": 0, "dev": int(dev), "ino": int(ino)})
		if len(ext) > 0 {
			raw = withExt(raw, ext...)
		}
		return e.Process(decode(t, raw, n))
	}
	if g := get(open(link, uint32(st.Dev), st.Ino), "fd.canonical"); g != secret {
		t.Errorf("hard link: fd.canonical %q, want %q", g, secret)
	}
	if g := get(open("/home/u/lnk", 7, 99, []byte{0, 0, 0, 0}, []byte("/etc/motd\x00")), "fd.canonical"); g != "/etc/motd" {
		t.Errorf("unwatched file: fd.canonical %q, want its fd.realpath", g)
	}
	if g := get(open("/home/u/plain", 7, 98), "fd.canonical"); g != "/home/u/plain" {
		t.Errorf("no resolved path: fd.canonical %q, want fd.name", g)
	}
	var ctx *state.Context
	for i := 0; i < 3; i++ {
		n++
		ctx = e.Process(decode(t, encode(t, "unlinkat", 'X', 3000, tsBase+n*1000, map[string]any{"res": 0, "dirfd": -100, "name": "/srv/f", "flags": 0}), n))
	}
	n++
	ctx = e.Process(decode(t, encode(t, "unlinkat", 'X', 3000, tsBase+n*1000, map[string]any{"res": -2, "dirfd": -100, "name": "/srv/f", "flags": 0}), n))
	if g := get(ctx, "proc.deletions"); g != "3" {
		t.Errorf("proc.deletions %s, want 3 (a failure does not count)", g)
	}
	if nc := NewSource(nil); nc != nil {
		_, ex := bind(t, nc, "proc.deletions")
		if _, ok := ex(ctx); ok {
			t.Errorf("proc.deletions without state has a value")
		}
	}
}
