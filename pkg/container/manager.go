package container

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotFound is returned by a Provider that does not know a container.
var ErrNotFound = errors.New("container not found")

// Provider fetches container metadata from one runtime.
type Provider interface {
	// Name identifies the provider in logs ("docker /run/docker.sock").
	Name() string
	// Type is the runtime the provider speaks to; the Manager asks providers whose type
	// matches a cgroup hint first.
	Type() Type
	// Inspect fetches the metadata of the container whose id (full, or a unique prefix) is
	// given; it returns ErrNotFound when the runtime does not know it.
	Inspect(ctx context.Context, id string) (*Info, error)
}

// Lister is a Provider that can list running containers (prefetched when the Manager starts).
type Lister interface {
	List(ctx context.Context) ([]string, error)
}

// EventKind is a lifecycle change reported by a runtime.
type EventKind uint8

const (
	EventStart EventKind = iota + 1
	EventDie
)

// RuntimeEvent is one lifecycle change.
type RuntimeEvent struct {
	ID   string
	Kind EventKind
	// Runtime made the container: the provider's own type, or another when the stream tells
	// (containerd reports Docker's containers too). Providers of this type are asked first.
	Runtime Type
}

// Watcher is a Provider with a lifecycle event stream. Watch blocks until ctx ends or the
// stream breaks (the Manager reconnects), or returns an error wrapping ErrWatchUnsupported when
// the runtime offers no event stream (the Manager stops watching it, quietly).
type Watcher interface {
	Watch(ctx context.Context, fn func(RuntimeEvent)) error
}

// ErrWatchUnsupported is wrapped by a Watcher's error when the runtime has no event stream
// (a CRI runtime without GetContainerEvents).
var ErrWatchUnsupported = errors.New("runtime offers no event stream")

// State is the state of an Entry.
type State uint32

const (
	Pending  State = iota // metadata asked for, not answered yet
	Ready                 // metadata filled
	NotFound              // no runtime knows the container (or none is reachable); retried
	Failed                // runtimes failed or timed out; retried
	Host                  // the host "container"
)

var stateNames = [...]string{"pending", "ready", "not-found", "failed", "host"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state?"
}

// Entry is the cache slot of one container. It is stable: the same *Entry is returned for an
// id until it expires, and its Info is replaced (atomically) when metadata arrives, so a
// caller may keep the pointer (per thread) and read Info() for every event.
type Entry struct {
	short    string
	hint     Type
	fullID   atomic.Pointer[string]
	info     atomic.Pointer[Info]
	state    atomic.Uint32
	lastSeen atomic.Int64 // coarse clock, seconds
	retryAt  atomic.Int64
	deadAt   atomic.Int64
	queued   atomic.Bool
	awaited  atomic.Bool // AwaitFetch has waited once
	m        *Manager    // the pod directory's owner (nil for the host entry)
	pod      atomic.Pointer[podCache]
}

// ID is the 12-character container id.
func (e *Entry) ID() string { return e.short }

// AwaitFetch waits, at most max and for its first caller only, while the entry's first
// fetch from the runtimes is in flight, and reports whether the metadata is there. The state
// engine calls it at the exec of a container's init (vpid 1): the fetch starts when the
// container's cgroup is first seen, a few milliseconds before, and a rule on the container's
// start (privileged, sensitive mounts) needs its answer. A manager without providers (a
// replay) never waits.
func (e *Entry) AwaitFetch(max time.Duration) bool {
	if e.State() != Pending || e.m == nil || len(e.m.providers) == 0 || !e.awaited.CompareAndSwap(false, true) {
		return e.State() == Ready
	}
	deadline := time.Now().Add(max)
	for e.State() == Pending && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return e.State() == Ready
}

// Info is the current metadata; never nil. While pending it carries only the id and the
// runtime hint from the cgroup path.
func (e *Entry) Info() *Info { return e.info.Load() }

// State says whether Info is filled.
func (e *Entry) State() State { return State(e.state.Load()) }

// Pending reports whether the metadata is still being fetched (events seen now are marked,
// not delayed).
func (e *Entry) Pending() bool { return e.State() == Pending }

var hostEntry = func() *Entry {
	e := &Entry{short: HostID}
	e.info.Store(&Info{ID: HostID, Name: HostID, Type: TypeUnknown})
	e.state.Store(uint32(Host))
	return e
}()

// HostEntry is the entry of host processes.
func HostEntry() *Entry { return hostEntry }

// Config configures a Manager. The zero value discovers the runtimes' sockets.
type Config struct {
	// Providers to ask; nil means Discover(). An empty non-nil slice means none (captures).
	Providers []Provider
	// Timeout bounds one request to one runtime (default 2s).
	Timeout time.Duration
	// Workers fetching in parallel (default 2); QueueSize pending fetches (default 1024).
	Workers, QueueSize int
	// RetryAfter: a not-found or failed container is asked again after this (default 30s).
	RetryAfter time.Duration
	// TTL: an entry no thread asked for in this long is dropped (default 10m).
	TTL time.Duration
	// DeadGrace: an entry whose container died is kept this long for late events (default 30s).
	DeadGrace time.Duration
	// OnUpdate is called (from a worker) when an entry's metadata is filled or refreshed,
	// e.g. to write a container event into a capture.
	OnUpdate func(*Info)
	Logger   *slog.Logger
}

// Stats are the Manager's counters.
type Stats struct {
	Lookups       uint64 // Lookup calls (all, host included)
	PendingServed uint64 // lookups answered with a pending entry
	Misses        uint64 // first sights (entries created by Lookup)
	Fetches       uint64 // fetch attempts (one per entry per try)
	FetchOK       uint64
	FetchNotFound uint64 // all providers said not found
	FetchErrors   uint64 // provider errors other than timeouts
	Timeouts      uint64 // provider requests that hit Timeout
	QueueFull     uint64 // fetches not scheduled because the queue was full (retried later)
	Events        uint64 // runtime lifecycle events received
	Expired       uint64 // entries dropped (TTL or death)
	Entries       int    // entries in the cache now
	Watchers      int    // runtime event streams watched now (connected or reconnecting)
}

// Manager is the container metadata cache. Its methods are safe for concurrent use.
type Manager struct {
	cfg       Config
	providers []Provider
	log       *slog.Logger

	entries atomic.Pointer[map[string]*Entry] // copy on write
	mu      sync.Mutex                        // writers of entries

	clock atomic.Int64 // seconds, updated every 250ms
	queue chan *Entry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lookups, pendingServed, misses, fetches, fetchOK, fetchNotFound,
	fetchErrors, timeouts, queueFull, events, expired atomic.Uint64
	watchers atomic.Int64

	pods atomic.Pointer[Pods] // the Kubernetes pod directory (SetPods), nil without one
}

// New starts a Manager: its workers, its clock, the runtimes' event streams and a prefetch
// of running containers. Close stops them.
func New(cfg Config) *Manager {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.DeadGrace <= 0 {
		cfg.DeadGrace = 30 * time.Second
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, queue: make(chan *Entry, cfg.QueueSize)}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.providers = cfg.Providers
	if m.providers == nil {
		m.providers = Discover()
	}
	empty := map[string]*Entry{}
	m.entries.Store(&empty)
	m.clock.Store(time.Now().Unix())
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		m.wg.Add(1)
		go m.worker()
	}
	m.wg.Add(1)
	go m.ticker()
	for _, p := range m.providers {
		m.log.Debug("container metadata provider", "provider", p.Name())
		if w, ok := p.(Watcher); ok {
			m.wg.Add(1)
			m.watchers.Add(1)
			go m.watch(p, w)
		}
		if l, ok := p.(Lister); ok {
			m.wg.Add(1)
			go m.prefetch(p, l)
		}
	}
	return m
}

// Providers are the runtimes the Manager asks.
func (m *Manager) Providers() []Provider { return m.providers }

// Close stops the Manager's goroutines (in-flight requests are cancelled).
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Lookup returns the entry of a container id (12 characters or full), or HostEntry for "host"
// and "". It never blocks: the first sight of an id creates a pending entry and schedules a
// fetch.
func (m *Manager) Lookup(id string) *Entry {
	m.lookups.Add(1)
	if id == HostID || id == "" {
		return hostEntry
	}
	return m.lookup(id, TypeUnknown)
}

// LookupRef is Lookup with the runtime hint of a cgroup path (the runtime asked first).
func (m *Manager) LookupRef(r Ref) *Entry {
	m.lookups.Add(1)
	if r.ID == "" {
		return hostEntry
	}
	return m.lookup(r.ID, r.Runtime)
}

// LookupFound is the entry of what FromCgroups found in a process's cgroups (its two
// results): the host's entry when they name no container, else LookupRef's. (The state
// engine reads the cgroups a process's threads share once.)
func (m *Manager) LookupFound(r Ref, inContainer bool) *Entry {
	if !inContainer {
		m.lookups.Add(1)
		return hostEntry
	}
	return m.LookupRef(r)
}

func (m *Manager) lookup(id string, hint Type) *Entry {
	key := ShortID(id)
	if e := (*m.entries.Load())[key]; e != nil {
		now := m.clock.Load()
		if e.lastSeen.Load() != now {
			e.lastSeen.Store(now)
		}
		switch State(e.state.Load()) {
		case Ready:
		case Pending:
			m.pendingServed.Add(1)
		default:
			if now >= e.retryAt.Load() {
				m.schedule(e)
			}
		}
		if len(id) > len(*e.fullID.Load()) {
			full := strings.Clone(id)
			e.fullID.Store(&full)
		}
		return e
	}
	e, created := m.insert(key, id, hint)
	if created {
		m.misses.Add(1)
		m.schedule(e)
	}
	if e.State() == Pending {
		m.pendingServed.Add(1)
	}
	return e
}

func (m *Manager) insert(key, id string, hint Type) (*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.entries.Load()
	if e := old[key]; e != nil {
		return e, false
	}
	e := &Entry{short: key, hint: hint, m: m}
	full := id
	e.fullID.Store(&full)
	e.info.Store(&Info{ID: id, Type: hint})
	e.state.Store(uint32(Pending))
	e.lastSeen.Store(m.clock.Load())
	next := make(map[string]*Entry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = e
	m.entries.Store(&next)
	return e, true
}

func (m *Manager) schedule(e *Entry) {
	if !e.queued.CompareAndSwap(false, true) {
		return
	}
	if e.State() != Ready {
		e.state.Store(uint32(Pending))
	}
	select {
	case m.queue <- e:
	default:
		e.queued.Store(false)
		e.retryAt.Store(m.clock.Load() + 1)
		if e.State() == Pending {
			e.state.Store(uint32(Failed))
		}
		m.queueFull.Add(1)
	}
}

// Add stores metadata obtained elsewhere (a capture's container event): the entry becomes
// Ready without asking any runtime.
func (m *Manager) Add(info *Info) *Entry {
	if info == nil || info.ID == "" || info.ID == HostID {
		return hostEntry
	}
	key := ShortID(info.ID)
	e, _ := m.insert(key, info.ID, info.Type)
	m.fill(e, info)
	return e
}

func (m *Manager) fill(e *Entry, info *Info) {
	if len(info.ID) > len(*e.fullID.Load()) {
		id := info.ID
		e.fullID.Store(&id)
	}
	e.info.Store(info)
	e.state.Store(uint32(Ready))
	if m.cfg.OnUpdate != nil {
		m.cfg.OnUpdate(info)
	}
}

// sandboxProbes gives a Kubernetes container without probes of its own those of its pod's
// sandbox, when the sandbox's metadata is cached (libsinsp's docker engine does the same:
// dockershim put the pod's annotations, with the probes, on the sandbox only).
func (m *Manager) sandboxProbes(info *Info) {
	sid := info.Labels[LabelSandboxID]
	if len(info.HealthProbes) > 0 || info.IsPodSandbox || sid == "" || ShortID(sid) == ShortID(info.ID) {
		return
	}
	if e := (*m.entries.Load())[ShortID(sid)]; e != nil && e.State() == Ready {
		info.HealthProbes = e.Info().HealthProbes
	}
}

// Snapshot returns the metadata of every ready entry (e.g. for the container events at the
// start of a capture).
func (m *Manager) Snapshot() []*Info {
	var out []*Info
	for _, e := range *m.entries.Load() {
		if e.State() == Ready {
			out = append(out, e.Info())
		}
	}
	return out
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Lookups: m.lookups.Load(), PendingServed: m.pendingServed.Load(), Misses: m.misses.Load(),
		Fetches: m.fetches.Load(), FetchOK: m.fetchOK.Load(), FetchNotFound: m.fetchNotFound.Load(),
		FetchErrors: m.fetchErrors.Load(), Timeouts: m.timeouts.Load(), QueueFull: m.queueFull.Load(),
		Events: m.events.Load(), Expired: m.expired.Load(), Entries: len(*m.entries.Load()),
		Watchers: int(m.watchers.Load()),
	}
}

func (m *Manager) worker() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case e := <-m.queue:
			m.fetch(e)
			e.queued.Store(false)
		}
	}
}

func (m *Manager) fetch(e *Entry) {
	m.fetches.Add(1)
	id := *e.fullID.Load()
	var errs []error
	// providers of the hinted runtime first
	order := make([]Provider, 0, len(m.providers))
	for _, p := range m.providers {
		if p.Type() == e.hint {
			order = append(order, p)
		}
	}
	for _, p := range m.providers {
		if p.Type() != e.hint {
			order = append(order, p)
		}
	}
	for _, p := range order {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Timeout)
		info, err := p.Inspect(ctx, id)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		if err == nil {
			m.fetchOK.Add(1)
			m.sandboxProbes(info)
			m.fill(e, info)
			return
		}
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if m.ctx.Err() != nil {
			return
		}
		if timedOut || errors.Is(err, context.DeadlineExceeded) {
			m.timeouts.Add(1)
		} else {
			m.fetchErrors.Add(1)
		}
		m.log.Debug("container metadata", "id", e.short, "provider", p.Name(), "err", err)
		errs = append(errs, err)
	}
	e.retryAt.Store(m.clock.Load() + int64(m.cfg.RetryAfter/time.Second))
	if e.State() == Ready { // a refresh failed: keep what we have
		return
	}
	if len(errs) > 0 {
		e.state.Store(uint32(Failed))
	} else {
		m.fetchNotFound.Add(1)
		e.state.Store(uint32(NotFound))
	}
}

func (m *Manager) ticker() {
	defer m.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.clock.Store(now.Unix())
			if n++; n%8 == 0 {
				m.expire(now.Unix())
			}
		}
	}
}

func (m *Manager) expire(now int64) {
	ttl := int64(m.cfg.TTL / time.Second)
	grace := int64(m.cfg.DeadGrace / time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.entries.Load()
	var drop []string
	for k, e := range old {
		dead := e.deadAt.Load()
		if (dead > 0 && now-dead >= grace) || now-e.lastSeen.Load() >= ttl {
			drop = append(drop, k)
		}
	}
	if len(drop) == 0 {
		return
	}
	next := make(map[string]*Entry, len(old))
	for k, v := range old {
		next[k] = v
	}
	for _, k := range drop {
		delete(next, k)
	}
	m.entries.Store(&next)
	m.expired.Add(uint64(len(drop)))
}

func (m *Manager) onEvent(p Provider, ev RuntimeEvent) {
	m.events.Add(1)
	switch ev.Kind {
	case EventStart:
		key := ShortID(ev.ID)
		e, created := m.insert(key, ev.ID, ev.Runtime)
		if created || e.State() != Pending {
			e.deadAt.Store(0)
			m.schedule(e) // refresh: a restart may change the ip
		}
	case EventDie:
		if e := (*m.entries.Load())[ShortID(ev.ID)]; e != nil {
			e.deadAt.Store(m.clock.Load())
		}
	}
}

func (m *Manager) watch(p Provider, w Watcher) {
	defer m.wg.Done()
	defer m.watchers.Add(-1)
	backoff := 500 * time.Millisecond
	for {
		start := time.Now()
		err := w.Watch(m.ctx, func(ev RuntimeEvent) { m.onEvent(p, ev) })
		if m.ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrWatchUnsupported) {
			m.log.Debug("container events not offered", "provider", p.Name(), "err", err)
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 500 * time.Millisecond
		}
		m.log.Debug("container events stream ended", "provider", p.Name(), "err", err, "retry", backoff)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
		// containers started while the stream was down sent no event: list them again
		if l, ok := p.(Lister); ok {
			m.list(p, l)
		}
	}
}

func (m *Manager) prefetch(p Provider, l Lister) {
	defer m.wg.Done()
	m.list(p, l)
}

// list asks a runtime for its running containers and schedules a fetch for each one not
// known yet (at start, and when an event stream is reconnected).
func (m *Manager) list(p Provider, l Lister) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Timeout)
	ids, err := l.List(ctx)
	timedOut := ctx.Err() == context.DeadlineExceeded
	cancel()
	if err != nil {
		if timedOut {
			m.timeouts.Add(1)
		} else if m.ctx.Err() == nil {
			m.fetchErrors.Add(1)
		}
		m.log.Debug("container list", "provider", p.Name(), "err", err)
		return
	}
	for _, id := range ids {
		if e, created := m.insert(ShortID(id), id, p.Type()); created {
			m.schedule(e)
		}
	}
}
