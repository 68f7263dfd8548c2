package response

import (
	"time"
)

// maxKeys bounds the limiter and cooldown tables (workloads come and go).
const maxKeys = 16384

// limiter is a sliding-window rate limiter per key: at most max events in any window of per.
type limiter struct {
	m     map[string][]time.Time
	order []string // insertion order, for eviction
}

func newLimiter() *limiter { return &limiter{m: map[string][]time.Time{}} }

// prune drops the times older than now-per and returns what is left.
func (l *limiter) prune(key string, now time.Time, per time.Duration) []time.Time {
	ts := l.m[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-per)) {
		i++
	}
	if i > 0 {
		ts = append(ts[:0], ts[i:]...)
		l.m[key] = ts
	}
	return ts
}

// allows reports whether one more event fits (without taking it).
func (l *limiter) allows(key string, now time.Time, lim *Limit) bool {
	return len(l.prune(key, now, lim.Per)) < lim.Max
}

// take records one event.
func (l *limiter) take(key string, now time.Time) {
	if _, ok := l.m[key]; !ok {
		l.evict()
		l.order = append(l.order, key)
	}
	l.m[key] = append(l.m[key], now)
}

func (l *limiter) evict() {
	for len(l.m) >= maxKeys && len(l.order) > 0 {
		delete(l.m, l.order[0])
		l.order = l.order[1:]
	}
}

// cooldowns remembers until when each key is cooling down.
type cooldowns struct {
	until map[string]time.Time
	order []string
}

func newCooldowns() *cooldowns { return &cooldowns{until: map[string]time.Time{}} }

func (c *cooldowns) active(key string, now time.Time) bool {
	u, ok := c.until[key]
	return ok && now.Before(u)
}

func (c *cooldowns) start(key string, now time.Time, d time.Duration) {
	if _, ok := c.until[key]; !ok {
		for len(c.until) >= maxKeys && len(c.order) > 0 {
			delete(c.until, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.until[key] = now.Add(d)
}
