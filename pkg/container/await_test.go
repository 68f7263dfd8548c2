package container

import (
	"context"
	"testing"
	"time"
)

// gateProvider answers an Inspect once its gate is closed.
type gateProvider struct{ gate chan struct{} }

func (gateProvider) Name() string { return "gate" }
func (gateProvider) Type() Type   { return TypeDocker }
func (p gateProvider) Inspect(ctx context.Context, id string) (*Info, error) {
	select {
	case <-p.gate:
		return &Info{ID: id, Type: TypeDocker, Name: "c-" + id[:4], Privileged: true}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// returns fails the test unless f returns within a generous time (it must not block for the
// hour it is allowed).
func returns(t *testing.T, what string, f func() bool) bool {
	t.Helper()
	done := make(chan bool, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10 s", what)
		return false
	}
}

// The exec of a container's init waits while the entry's first fetch is in flight: bounded,
// once per entry, and never when no runtime can answer (a replay).
func TestAwaitFetch(t *testing.T) {
	p := gateProvider{gate: make(chan struct{})}
	m := New(Config{Providers: []Provider{p}, Timeout: time.Minute})
	defer m.Close()
	e := m.Lookup(hexID(1))
	if e.State() != Pending {
		t.Fatalf("a new entry is %v, want pending", e.State())
	}
	// the bound: the fetch cannot finish, the wait ends anyway
	if e.AwaitFetch(5 * time.Millisecond) {
		t.Fatal("ready before the runtime answered")
	}
	// once per entry: a second wait, even an hour long, returns at once
	if returns(t, "second wait on one entry", func() bool { return e.AwaitFetch(time.Hour) }) {
		t.Fatal("ready before the runtime answered")
	}
	// a wait that the answer ends: ready, with the metadata
	e2 := m.Lookup(hexID(2))
	go func() { time.Sleep(20 * time.Millisecond); close(p.gate) }()
	if !returns(t, "wait for an answer", func() bool { return e2.AwaitFetch(time.Hour) }) {
		t.Fatalf("not ready after the runtime answered (state %v)", e2.State())
	}
	if in := e2.Info(); in.Name != "c-"+hexID(2)[:4] || !in.Privileged {
		t.Errorf("metadata after the wait: %+v", in)
	}
	// no providers: no wait at all
	none := New(Config{Providers: []Provider{}})
	defer none.Close()
	e3 := none.Lookup(hexID(3))
	if returns(t, "wait with no runtime", func() bool { return e3.AwaitFetch(time.Hour) }) {
		t.Error("an entry no runtime can fill is ready")
	}
}
