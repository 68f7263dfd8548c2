// Package output delivers alerts to their destinations: stdout, a file, syslog (local socket or
// remote UDP/TCP), an HTTP(S) endpoint such as falcosidekick, and a program's stdin. Several
// channels run at once; each has its own bounded queue and worker goroutine, so a slow or dead
// channel never blocks detection or the other channels. What a channel cannot take is dropped,
// counted per channel and announced by an internal alert (source "internal") on the channels
// that can still take it. Close flushes every queue within a deadline.
//
// The run loop calls Manager.Send for each alert (it never blocks), Manager.Reopen on SIGUSR1
// and Manager.Close at shutdown.
//
// A configuration reload builds a new manager beside the running one (Options.Previous): a
// channel whose configuration did not change is kept (Keep: same queue, worker, open file or
// running program), a changed one is built anew, continues the counters of the one it
// replaces and starts writing once that one is flushed, so every channel's alerts stay in
// order. The caller starts the new manager, sends to it from then on, and closes the old
// one, which flushes and closes the channels that were not kept.
package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Channel is one alert destination. Write and Close are called from the channel's own
// worker goroutine only (never concurrently with each other); both should give up when ctx is
// done (the manager's flush deadline passed).
type Channel interface {
	Name() string
	Write(ctx context.Context, a *alert.Alert) error
	Close(ctx context.Context) error
}

// Reopener is a channel that reopens its destination on request (SIGUSR1: log rotation for
// files, restart for programs). Reopen may be called concurrently with Write.
type Reopener interface {
	Reopen() error
}

// DefaultCapacity is the queue capacity of a channel when none is given.
const DefaultCapacity = 1024

// DefaultDropAlertInterval is the minimum time between two drop announcements for a channel.
const DefaultDropAlertInterval = 10 * time.Second

// Options tune a Manager.
type Options struct {
	// Capacity is the default queue capacity of each channel (DefaultCapacity when <= 0).
	Capacity int
	// DropAlertInterval is the minimum time between two internal alerts announcing a
	// channel's drops (DefaultDropAlertInterval when <= 0).
	DropAlertInterval time.Duration
	// Hostname goes into internal alerts (os.Hostname when empty).
	Hostname string
	// Observe, when set, is called for every alert given to Send (e.g. metrics).
	Observe func(*alert.Alert)
	// Logger receives write errors (rate-limited) and lifecycle messages; slog.Default when nil.
	Logger *slog.Logger
	// Block makes Send wait for room instead of dropping when a queue is full: for replays
	// of captures, where nothing is live and every alert must come out.
	Block bool
	// Previous is the running manager this one replaces (a configuration reload): channels
	// keep their counters and order across the swap, and unchanged ones can be kept (Keep).
	// Start this manager, stop sending to Previous, then Close Previous.
	Previous *Manager
}

// ChannelStats is a snapshot of one channel's counters.
type ChannelStats struct {
	Name     string
	Capacity int
	Depth    int    // alerts waiting in the queue
	Sent     uint64 // delivered
	Dropped  uint64 // refused because the queue was full (or the manager closed)
	Failed   uint64 // given up after a write error (retries included)
}

// counters are a channel's delivery counts. A channel rebuilt at a reload shares them with
// the channel it replaces, so its counts (and the metrics read from them) continue.
type counters struct {
	sent, dropped, failed atomic.Uint64
	announced             atomic.Uint64 // drops already announced
}

// queue is one channel with its bounded queue and worker goroutine. A queue belongs to one
// manager at a time (owner): the manager that started it, or the successor that kept it.
type queue struct {
	ch       Channel
	key      string // the channel's configuration, for Keep ("": never kept)
	q        chan *alert.Alert
	capacity int
	c        *counters
	// after, when set, is the done channel of the queue this one replaces: the worker writes
	// only once that one is flushed, so a channel's alerts keep their order across a reload.
	after  <-chan struct{}
	owner  atomic.Pointer[Manager]
	stop   chan struct{} // closed by the owner's Close
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	log    *slog.Logger

	lastErrLog time.Time
}

// Manager fans alerts out to channels.
type Manager struct {
	opts    Options
	qs      []*queue
	log     *slog.Logger
	started bool
	closed  atomic.Bool
	annStop chan struct{}
	annDone chan struct{}
	reopens atomic.Uint64
}

// NewManager returns a manager with no channels; Add them, then Start.
func NewManager(opts Options) *Manager {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.DropAlertInterval <= 0 {
		opts.DropAlertInterval = DefaultDropAlertInterval
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	m := &Manager{opts: opts, log: opts.Logger, annStop: make(chan struct{}), annDone: make(chan struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m
}

// Add registers a channel with a queue of the given capacity (the manager's default when
// <= 0). It must be called before Start.
func (m *Manager) Add(ch Channel, capacity int) { m.AddKeyed(ch, capacity, "") }

// AddKeyed is Add with a key describing the channel's configuration: a manager built at a
// later reload can Keep the channel when its key is the same (an empty key: never kept).
//
// When the manager replaces another (Options.Previous) that has a channel of the same name,
// the new channel continues that channel's counters, and writes only once the previous one
// is flushed (when the previous manager closes), so the alerts of a channel stay in order.
func (m *Manager) AddKeyed(ch Channel, capacity int, key string) {
	if m.started {
		panic("output: Add after Start")
	}
	if capacity <= 0 {
		capacity = m.opts.Capacity
	}
	q := &queue{ch: ch, key: key, q: make(chan *alert.Alert, capacity), capacity: capacity, c: &counters{},
		stop: make(chan struct{}), done: make(chan struct{}), log: m.log}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	if p := m.opts.Previous; p != nil {
		if pq := p.queue(ch.Name()); pq != nil && pq.owner.Load() == p {
			q.c, q.after = pq.c, pq.done
		}
	}
	m.qs = append(m.qs, q)
}

// Keep takes over the channel named name of the manager this one replaces
// (Options.Previous), if it was added there with the same key and capacity (the manager's
// default when <= 0): the queue, its worker and counters move to m when m starts, and the
// channel is neither closed when the previous manager closes nor reopened. It reports whether
// it did; when it did not, build the channel anew and Add it. Keep must be called before
// Start, and the previous manager must still be running when m starts.
func (m *Manager) Keep(name, key string, capacity int) bool {
	if m.started {
		panic("output: Keep after Start")
	}
	p := m.opts.Previous
	if p == nil || key == "" || p.closed.Load() {
		return false
	}
	if capacity <= 0 {
		capacity = m.opts.Capacity
	}
	pq := p.queue(name)
	if pq == nil || pq.key != key || pq.capacity != capacity || pq.owner.Load() != p {
		return false
	}
	m.qs = append(m.qs, pq)
	return true
}

// queue returns the first queue of the channel named name.
func (m *Manager) queue(name string) *queue {
	for _, q := range m.qs {
		if q.ch.Name() == name {
			return q
		}
	}
	return nil
}

// Kept reports whether the channel named name was taken over from the previous manager.
func (m *Manager) Kept(name string) bool {
	q := m.queue(name)
	return q != nil && m.opts.Previous != nil && m.opts.Previous.queue(name) == q
}

// Start starts one worker per channel (a kept channel's worker runs on) and the drop
// announcer.
func (m *Manager) Start() {
	if m.started {
		return
	}
	m.started = true
	for _, q := range m.qs {
		if q.owner.Swap(m) == nil {
			go q.work()
		}
	}
	go m.announcer()
}

// Discard closes the channels of a manager that was never started (e.g. a reload whose
// configuration turned out broken), without delivering what was queued; the channels it would
// have kept stay with the previous manager.
func (m *Manager) Discard(ctx context.Context) error {
	if m.started {
		return errors.New("output: Discard after Start")
	}
	m.started = true // no later Start
	m.closed.Store(true)
	var errs []error
	for _, q := range m.qs {
		if q.owner.Load() == nil {
			errs = append(errs, q.ch.Close(ctx))
			q.cancel()
		}
	}
	return errors.Join(errs...)
}

// Channels lists the channel names in the order they were added.
func (m *Manager) Channels() []string {
	out := make([]string, len(m.qs))
	for i, q := range m.qs {
		out[i] = q.ch.Name()
	}
	return out
}

// Send queues an alert on every channel. It never blocks: a channel whose queue is full drops
// the alert and counts it. Send takes the alert over (do not modify it or Send it again
// afterwards): its output field strings are copied
// first, since field values may point into the event buffer, which the reader reuses while
// the channels format the alert on their own goroutines.
func (m *Manager) Send(a *alert.Alert) {
	detach(a)
	if m.opts.Observe != nil {
		m.opts.Observe(a)
	}
	if m.closed.Load() {
		for _, q := range m.qs {
			q.c.dropped.Add(1)
		}
		return
	}
	for _, q := range m.qs {
		if m.opts.Block {
			q.q <- a
			continue
		}
		select {
		case q.q <- a:
		default:
			q.c.dropped.Add(1)
		}
	}
}

// detach copies the strings of the alert's output fields (they may alias reusable buffers).
func detach(a *alert.Alert) {
	for k, v := range a.OutputFields {
		a.OutputFields[k] = detachValue(v)
	}
}

func detachValue(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = detachValue(e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = strings.Clone(e)
		}
		return out
	}
	return v
}

// Stats returns a snapshot of every channel's counters.
func (m *Manager) Stats() []ChannelStats {
	out := make([]ChannelStats, len(m.qs))
	for i, q := range m.qs {
		out[i] = ChannelStats{
			Name: q.ch.Name(), Capacity: q.capacity, Depth: len(q.q),
			Sent: q.c.sent.Load(), Dropped: q.c.dropped.Load(), Failed: q.c.failed.Load(),
		}
	}
	return out
}

// Reopen asks every channel that supports it to reopen its destination (SIGUSR1). Errors are
// joined.
func (m *Manager) Reopen() error {
	var errs []error
	for _, q := range m.qs {
		if r, ok := q.ch.(Reopener); ok {
			if err := r.Reopen(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", q.ch.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func (q *queue) work() {
	defer close(q.done)
	if q.after != nil {
		select {
		case <-q.after:
		case <-q.ctx.Done():
		}
	}
	for {
		select {
		case a := <-q.q:
			q.write(a)
		case <-q.stop:
			for {
				select {
				case a := <-q.q:
					q.write(a)
				default:
					if err := q.ch.Close(q.ctx); err != nil {
						q.log.Warn("output: close", "channel", q.ch.Name(), "err", err)
					}
					return
				}
			}
		}
	}
}

func (q *queue) write(a *alert.Alert) {
	if err := q.ch.Write(q.ctx, a); err != nil {
		n := q.c.failed.Add(1)
		if now := time.Now(); now.Sub(q.lastErrLog) >= 10*time.Second {
			q.lastErrLog = now
			q.log.Error("output: alert not delivered", "channel", q.ch.Name(), "err", err, "failed_total", n)
		}
		return
	}
	q.c.sent.Add(1)
}

func (m *Manager) announcer() {
	defer close(m.annDone)
	t := time.NewTicker(m.opts.DropAlertInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.announce()
		case <-m.annStop:
			return
		}
	}
}

// DropRule is the rule name of the internal alert announcing dropped alerts.
const DropRule = "Saker internal: alerts dropped"

// announce sends one internal alert per channel whose drop count grew since the last one.
func (m *Manager) announce() {
	for _, q := range m.qs {
		d, prev := q.c.dropped.Load(), q.c.announced.Load()
		if d <= prev || !q.c.announced.CompareAndSwap(prev, d) {
			continue // nothing new, or announced by another manager sharing the channel
		}
		n := d - prev
		m.log.Warn("output: alerts dropped", "channel", q.ch.Name(), "dropped", n, "dropped_total", d)
		m.Send(Internal(DropRule, loader.Critical,
			fmt.Sprintf("%s: %d alerts dropped by output channel %s (queue full; %d in total)", DropRule, n, q.ch.Name(), d),
			map[string]any{"channel": q.ch.Name(), "dropped": n, "dropped_total": d, "queue_capacity": q.capacity},
			m.opts.Hostname))
	}
}

// Close announces pending drops, stops accepting alerts and waits until every queue is
// flushed and every channel closed, or ctx is done. At the deadline, writes in progress are
// cancelled (HTTP retries stop, programs are killed) and Close returns an error naming the
// channels that did not finish. Close is idempotent in effect; later calls return nil.
//
// The channels a successor manager kept (Keep) are not its any more: Close leaves them
// running.
func (m *Manager) Close(ctx context.Context) error {
	if m.closed.Load() {
		return nil
	}
	if !m.started {
		m.Start()
	}
	close(m.annStop)
	<-m.annDone
	m.announce()
	m.closed.Store(true)
	var owned []*queue
	for _, q := range m.qs {
		if q.owner.Load() == m {
			owned = append(owned, q)
			close(q.stop)
		}
	}
	var late []string
	for _, q := range owned {
		select {
		case <-q.done:
		case <-ctx.Done():
			for _, o := range owned {
				o.cancel()
			}
			// one short grace period for writes that react to cancellation
			select {
			case <-q.done:
			case <-time.After(100 * time.Millisecond):
				late = append(late, fmt.Sprintf("%s (%d queued)", q.ch.Name(), len(q.q)))
			}
		}
	}
	for _, q := range owned {
		q.cancel()
	}
	if len(late) > 0 {
		return fmt.Errorf("output: flush deadline exceeded; not flushed: %s", strings.Join(late, ", "))
	}
	return nil
}

// Internal builds an internal alert (source "internal", like Falco's "Falco internal: ..."
// alerts) with the given rule name, priority, output text and output fields.
func Internal(rule string, prio loader.Priority, output string, fields map[string]any, hostname string) *alert.Alert {
	if fields == nil {
		fields = map[string]any{}
	}
	return &alert.Alert{
		Time: time.Now().UTC(), Rule: rule, Priority: prio, Source: "internal",
		Tags: []string{}, Output: output, OutputFields: fields, Hostname: hostname,
	}
}

// ReopenOnSignal calls Reopen each time the process receives one of sigs (SIGUSR1 when none
// is given), until the returned stop function is called.
func (m *Manager) ReopenOnSignal(sigs ...os.Signal) (stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGUSR1}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, sigs...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-c:
				if err := m.Reopen(); err != nil {
					m.log.Error("output: reopen", "err", err)
				} else {
					m.log.Info("output: reopened on signal")
				}
				m.reopens.Add(1)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(c); close(done) }
}

// Reopens counts the reopen requests handled by ReopenOnSignal.
func (m *Manager) Reopens() uint64 { return m.reopens.Load() }
