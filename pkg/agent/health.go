package agent

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStallTimeout is how long a source may hold events without progress before
// /healthz fails, when webserver.stall_timeout is not set.
const DefaultStallTimeout = 30 * time.Second

// running is the agent's view of one running source: readiness, and the heartbeat the
// health watchdog reads. The event loop beats when it releases its lock (every batchEvents
// events) and when it goes idle; the watchdog never runs on the loop.
type running struct {
	src   Source
	ready atomic.Bool
	done  atomic.Bool
	beats atomic.Uint64
	idle  atomic.Bool // the source said it waits for events (Idle) and has not delivered since

	mu         sync.Mutex // the watchdog's samples
	lastBeats  uint64
	lastChange time.Time
}

// stalled returns why the source makes no progress: events wait (it is not idle, or it is
// idle with events pending) and the heartbeat has not moved for longer than timeout. An idle
// source without pending events is never stalled. The first sample only starts the clock.
func (r *running) stalled(now time.Time, timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.beats.Load()
	waiting := !r.idle.Load()
	if p, ok := r.src.(Pending); ok && !waiting {
		waiting = p.Pending() > 0
	}
	if b != r.lastBeats || !waiting || r.lastChange.IsZero() {
		r.lastBeats, r.lastChange = b, now
		return nil
	}
	if d := now.Sub(r.lastChange); d > timeout {
		return fmt.Errorf("source %s: the event loop made no progress for %v with events waiting", r.src.Name(), d.Round(time.Millisecond))
	}
	return nil
}
