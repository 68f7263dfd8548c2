package container

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangServer accepts connections on a unix socket and never answers.
func hangServer(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "hang.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return sock
}

func hexID(i int) string { return fmt.Sprintf("%012x", i+1) + strings.Repeat("a", 52) }

func waitStats(t *testing.T, m *Manager, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := m.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s; stats %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A runtime socket that accepts and never answers: lookups are all served at once (pending),
// while the one fetch in flight waits for its timeout.
func TestHangingSocketNeverStalls(t *testing.T) {
	sock := hangServer(t)
	m := New(Config{Providers: []Provider{NewDocker(sock, TypeDocker)}, Timeout: 2 * time.Second,
		Workers: 1, QueueSize: 8, RetryAfter: time.Hour})
	defer m.Close()
	const distinct, rounds = 200, 50
	for r := 0; r < rounds; r++ {
		for i := 0; i < distinct; i++ {
			e := m.Lookup(hexID(i))
			if e.ID() != hexID(i)[:12] || e.Info().ID != hexID(i) {
				t.Fatalf("entry %q info %q for %s", e.ID(), e.Info().ID, hexID(i))
			}
			if e.State() == Ready {
				t.Fatalf("%s ready from a hanging socket", e.ID())
			}
		}
	}
	s := m.Stats()
	// every lookup was answered while the first fetch was still waiting: no timeout yet
	if s.Lookups != distinct*rounds || s.Misses != distinct || s.Timeouts != 0 || s.FetchOK != 0 {
		t.Fatalf("after %d lookups: %+v", distinct*rounds, s)
	}
	if s.QueueFull == 0 || s.PendingServed == 0 {
		t.Errorf("expected a full queue and pending answers: %+v", s)
	}
	// the fetches end in timeouts, and the entries say so
	s = waitStats(t, m, "timeouts", func(s Stats) bool { return s.Timeouts >= 2 })
	if s.FetchOK != 0 || s.Lookups != distinct*rounds {
		t.Errorf("stats %+v", s)
	}
	failed := 0
	for i := 0; i < distinct; i++ {
		if m.Lookup(hexID(i)).State() == Failed {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no entry marked failed after timeouts")
	}
	if h := m.Lookup("host"); h != HostEntry() || h.State() != Host {
		t.Error("host entry")
	}
}

// A socket path that does not exist: fetches fail fast, lookups never wait.
func TestMissingSocket(t *testing.T) {
	m := New(Config{Providers: []Provider{NewDocker(filepath.Join(t.TempDir(), "none.sock"), TypeDocker)},
		Timeout: time.Second, RetryAfter: time.Hour})
	defer m.Close()
	e := m.Lookup(idA)
	if e.State() != Pending && e.State() != Failed {
		t.Fatalf("state %v", e.State())
	}
	// two errors: the prefetch's container list and the inspect
	s := waitStats(t, m, "fetch error", func(s Stats) bool { return s.FetchErrors == 2 && s.Fetches == 1 })
	if s.Timeouts != 0 || s.FetchOK != 0 || m.Lookup(idA).State() != Failed {
		t.Errorf("stats %+v state %v", s, m.Lookup(idA).State())
	}
	// retried only after RetryAfter: more lookups do not fetch again
	for range 1000 {
		m.Lookup(idA[:12])
	}
	time.Sleep(50 * time.Millisecond)
	if s := m.Stats(); s.Fetches != 1 || s.Misses != 1 || s.Lookups != 1002 {
		t.Errorf("stats after repeated lookups %+v", s)
	}
}

// No runtime at all (replaying a capture): unknown containers end not-found; metadata added
// from the capture's container events is served as ready.
func TestNoProvidersAndAdd(t *testing.T) {
	var updates []string
	var mu sync.Mutex
	m := New(Config{Providers: []Provider{}, OnUpdate: func(in *Info) {
		mu.Lock()
		updates = append(updates, in.Name)
		mu.Unlock()
	}})
	defer m.Close()
	if m.Lookup(idB[:12]).Info().ID != idB[:12] {
		t.Error("pending info id")
	}
	waitStats(t, m, "not found", func(s Stats) bool { return s.FetchNotFound == 1 })
	if st := m.Lookup(idB).State(); st != NotFound {
		t.Errorf("state %v", st)
	}
	in, err := DecodeJSON(EncodeJSON(&Info{ID: idA, Type: TypeDocker, Name: "replayed", Image: "busybox"}))
	if err != nil {
		t.Fatal(err)
	}
	m.Add(in)
	e := m.Lookup(idA[:12])
	if e.State() != Ready || e.Info().Name != "replayed" || e.Info().Type.String() != "docker" {
		t.Errorf("added entry %v %+v", e.State(), e.Info())
	}
	if snap := m.Snapshot(); len(snap) != 1 || snap[0].Name != "replayed" {
		t.Errorf("snapshot %+v", snap)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(updates) != 1 || updates[0] != "replayed" {
		t.Errorf("updates %q", updates)
	}
}

// Entries nobody asks for expire after the TTL.
func TestTTLExpiry(t *testing.T) {
	m := New(Config{Providers: []Provider{}, TTL: time.Second})
	defer m.Close()
	m.Add(&Info{ID: idA, Name: "old"})
	waitStats(t, m, "expiry", func(s Stats) bool { return s.Expired == 1 && s.Entries == 0 })
	if m.Lookup(idA).State() == Ready {
		t.Error("expired entry still ready")
	}
}

func BenchmarkLookup(b *testing.B) {
	m := New(Config{Providers: []Provider{}})
	defer m.Close()
	// a realistic cache: 200 containers
	for i := 0; i < 200; i++ {
		m.Add(&Info{ID: hexID(i), Name: "c"})
	}
	id := hexID(7)[:12]
	b.Run("host", func(b *testing.B) {
		for b.Loop() {
			if m.Lookup(HostID).State() != Host {
				b.Fatal("host")
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if m.Lookup(id).State() != Ready {
				b.Fatal("not ready")
			}
		}
	})
	b.Run("entry-handle", func(b *testing.B) {
		// the state engine keeps the *Entry per thread: per event only Info() is read
		e := m.Lookup(id)
		for b.Loop() {
			if e.Info().Name != "c" {
				b.Fatal("name")
			}
		}
	})
	b.Run("host-handle", func(b *testing.B) {
		e := m.Lookup(HostID)
		for b.Loop() {
			if e.Info().Name != "host" {
				b.Fatal("name")
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Lookup(id)
			}
		})
	})
	b.Run("host-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Lookup(HostID)
			}
		})
	})
}

func TestDiscoverDockerHost(t *testing.T) {
	sock := hangServer(t)
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	found := false
	for _, p := range Discover() {
		if p.Name() == "docker "+sock && p.Type() == TypeDocker {
			found = true
		}
	}
	if !found {
		t.Errorf("DOCKER_HOST socket %s not discovered", sock)
	}
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "absent.sock"))
	for _, p := range Discover() {
		if strings.Contains(p.Name(), "absent.sock") {
			t.Errorf("absent socket discovered: %s", p.Name())
		}
	}
}

// flakyStream is a runtime whose event stream breaks once: it lists its running containers
// and answers Inspect for them.
type flakyStream struct {
	mu      sync.Mutex
	running []string
	lists   int
	watches int
	brk     chan struct{} // closed: the first stream breaks
}

func (f *flakyStream) Name() string { return "flaky" }
func (f *flakyStream) Type() Type   { return TypeDocker }
func (f *flakyStream) Inspect(ctx context.Context, id string) (*Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.running {
		if r == id || strings.HasPrefix(r, id) {
			return &Info{ID: r, Type: TypeDocker, Name: "n-" + r[:4]}, nil
		}
	}
	return nil, ErrNotFound
}
func (f *flakyStream) List(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return append([]string(nil), f.running...), nil
}
func (f *flakyStream) Watch(ctx context.Context, fn func(RuntimeEvent)) error {
	f.mu.Lock()
	f.watches++
	first := f.watches == 1
	f.mu.Unlock()
	if first {
		select {
		case <-f.brk:
			return fmt.Errorf("stream broken")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// A container started while the event stream was down (no event for it) is found by the
// list made when the stream reconnects, without any lookup.
func TestRelistOnReconnect(t *testing.T) {
	f := &flakyStream{brk: make(chan struct{})}
	m := New(Config{Providers: []Provider{f}, Timeout: time.Second})
	defer m.Close()
	id := strings.Repeat("ab12", 16)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stats %+v", what, m.Stats())
			}
		}
	}
	waitFor("prefetch list", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.lists == 1 })
	f.mu.Lock()
	f.running = append(f.running, id) // started while nobody listens: the stream breaks first
	f.mu.Unlock()
	close(f.brk)
	waitFor("container known after the reconnect", func() bool {
		for _, in := range m.Snapshot() {
			if in.ID == id {
				return true
			}
		}
		return false
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lists != 2 || f.watches != 2 {
		t.Errorf("lists %d watches %d, want 2 and 2", f.lists, f.watches)
	}
	if st := m.Stats(); st.Lookups != 0 {
		t.Errorf("%d lookups: the container must come from the list", st.Lookups)
	}
}
