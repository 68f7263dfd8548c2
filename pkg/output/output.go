// Package output delivers alerts to their destinations: stdout, a file, syslog (local socket or
// remote UDP/TCP), an HTTP(S) endpoint such as falcosidekick, and a program's stdin. Several
// channels run at once; each has its own bounded queue and worker goroutine, so a slow or dead
// channel never blocks detection or the other channels. What a channel cannot take is dropped,
// counted per channel and announced by an internal alert (source "internal") on the channels
// that can still take it. Close flushes every queue within a deadline.
//
// The run loop calls Manager.Send for each alert (it never blocks), Manager.Reopen on SIGUSR1
// and Manager.Close at shutdown.
package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
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

type queue struct {
	ch       Channel
	q        chan *alert.Alert
	capacity int
	sent     atomic.Uint64
	dropped  atomic.Uint64
	failed   atomic.Uint64
	done     chan struct{}

	announced  uint64 // drops already announced; touched by announce only (under annMu)
	lastErrLog time.Time
}

// Manager fans alerts out to channels.
type Manager struct {
	opts     Options
	qs       []*queue
	log      *slog.Logger
	started  bool
	closed   atomic.Bool
	stopping chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	annMu    sync.Mutex
	annStop  chan struct{}
	annDone  chan struct{}
	reopens  atomic.Uint64
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
	m := &Manager{opts: opts, log: opts.Logger, stopping: make(chan struct{}), annStop: make(chan struct{}), annDone: make(chan struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Add registers a channel with a queue of the given capacity (the manager's default when
// <= 0). It must be called before Start.
func (m *Manager) Add(ch Channel, capacity int) {
	if m.started {
		panic("output: Add after Start")
	}
	if capacity <= 0 {
		capacity = m.opts.Capacity
	}
	m.qs = append(m.qs, &queue{ch: ch, q: make(chan *alert.Alert, capacity), capacity: capacity, done: make(chan struct{})})
}

// Start starts one worker per channel and the drop announcer.
func (m *Manager) Start() {
	if m.started {
		return
	}
	m.started = true
	for _, q := range m.qs {
		go m.work(q)
	}
	go m.announcer()
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
			q.dropped.Add(1)
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
			q.dropped.Add(1)
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
			Sent: q.sent.Load(), Dropped: q.dropped.Load(), Failed: q.failed.Load(),
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

func (m *Manager) work(q *queue) {
	defer close(q.done)
	for {
		select {
		case a := <-q.q:
			m.write(q, a)
		case <-m.stopping:
			for {
				select {
				case a := <-q.q:
					m.write(q, a)
				default:
					if err := q.ch.Close(m.ctx); err != nil {
						m.log.Warn("output: close", "channel", q.ch.Name(), "err", err)
					}
					return
				}
			}
		}
	}
}

func (m *Manager) write(q *queue, a *alert.Alert) {
	if err := q.ch.Write(m.ctx, a); err != nil {
		n := q.failed.Add(1)
		if now := time.Now(); now.Sub(q.lastErrLog) >= 10*time.Second {
			q.lastErrLog = now
			m.log.Error("output: alert not delivered", "channel", q.ch.Name(), "err", err, "failed_total", n)
		}
		return
	}
	q.sent.Add(1)
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
	m.annMu.Lock()
	defer m.annMu.Unlock()
	for _, q := range m.qs {
		d := q.dropped.Load()
		if d <= q.announced {
			continue
		}
		n := d - q.announced
		q.announced = d
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
	close(m.stopping)
	var late []string
	for _, q := range m.qs {
		select {
		case <-q.done:
		case <-ctx.Done():
			m.cancel()
			// one short grace period for writes that react to cancellation
			select {
			case <-q.done:
			case <-time.After(100 * time.Millisecond):
				late = append(late, fmt.Sprintf("%s (%d queued)", q.ch.Name(), len(q.q)))
			}
		}
	}
	m.cancel()
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
