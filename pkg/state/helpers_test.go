package state

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

// sharedDir returns ../shared relative to the repo root, skipping (or failing under CI) when
// it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	s := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(filepath.Join(s, "captures")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data not found at %s: %v", s, err)
		}
		t.Skipf("shared data not found at %s (set up ../shared to run this test)", s)
	}
	return s
}

func loadMetadata(e *Engine, r *scap.Reader) {
	if mi, ok := r.Machine(); ok {
		e.SetMachine(mi)
	}
	e.SetInterfaces(r.Interfaces())
	for _, u := range r.Users() {
		e.AddUser(u)
	}
	for _, g := range r.Groups() {
		e.AddGroup(g)
	}
	for _, ti := range r.Threads() {
		e.AddThread(ti)
	}
	for _, fd := range r.FDs() {
		e.AddFD(fd)
	}
}

// replay runs a capture through a fresh engine, calling fn (if not nil) with each event's
// context after Process.
func replay(t testing.TB, path string, opts Options, fn func(e *Engine, ctx *Context)) *Engine {
	t.Helper()
	r, err := scap.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e := New(opts)
	r.OnMetadata = func(r *scap.Reader) {
		if r.Sections() > 1 {
			e = New(opts)
		}
		loadMetadata(e, r)
	}
	var ev event.Event
	var norm event.Normalizer
	for {
		if err := r.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if !norm.Next(&ev) {
			continue
		}
		ctx := e.Process(&ev)
		if fn != nil {
			fn(e, ctx)
		}
	}
	return e
}
