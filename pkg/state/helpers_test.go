package state

import (
	"errors"
	"github.com/saker-sec/saker/internal/testshared"
	"io"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

// sharedDir returns ../shared relative to the repo root, skipping (or failing under CI) when
// it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
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
		e.LoadCapture(r)
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
