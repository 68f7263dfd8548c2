package agent

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
)

// Where says where events were lost.
type Where int

// The places events are lost, in the order of the pipeline.
const (
	// WhereKernel: the kernel could not write a record, the ring buffer was full.
	WhereKernel Where = iota
	// WhereTooBig: a record was larger than the probe sends (probe.Stats.TooBig).
	WhereTooBig
	// WhereDecode: a record read from the source failed to decode.
	WhereDecode
	// WhereUser: a user-side queue (between a source and the pipeline) was full.
	WhereUser
	numWhere
)

var whereNames = [numWhere]string{"kernel", "too_big", "decode", "user"}

// String is the where label of saker_events_dropped_total.
func (w Where) String() string {
	if w < 0 || w >= numWhere {
		return "unknown"
	}
	return whereNames[w]
}

// Drops counts lost events by where they were lost: the one place every source reports its
// losses to (Input.Lost), read by the metrics, the drop alert and the final summary. Safe for
// concurrent use.
type Drops struct {
	n [numWhere]atomic.Uint64

	mu          sync.Mutex // the drop alert's state
	reported    [numWhere]uint64
	reportedSum atomic.Uint64 // the sum of reported, for unreported
	events      uint64        // events read at the last report
	last        time.Time
}

// Add counts n events lost at w.
func (d *Drops) Add(w Where, n uint64) {
	if w >= 0 && w < numWhere {
		d.n[w].Add(n)
	}
}

// Total is the events lost at w since the start.
func (d *Drops) Total(w Where) uint64 { return d.n[w].Load() }

// Counts is every where's total.
func (d *Drops) Counts() alert.DropCounts {
	return alert.DropCounts{Kernel: d.n[WhereKernel].Load(), TooBig: d.n[WhereTooBig].Load(),
		Decode: d.n[WhereDecode].Load(), User: d.n[WhereUser].Load()}
}

// labels is the metrics view: every where with its total.
func (d *Drops) labels() ([]string, []uint64) {
	n := make([]uint64, numWhere)
	for i := range n {
		n[i] = d.n[i].Load()
	}
	return whereNames[:], n
}

// unreported reports whether drops happened since the last report (cheap: the event loop
// asks it when it releases its lock).
func (d *Drops) unreported() bool {
	var sum uint64
	for i := range d.n {
		sum += d.n[i].Load()
	}
	return sum != d.reportedSum.Load()
}

// report returns the drop alert when drops happened since the last one and interval has
// passed since it (Falco's syscall_event_drops rate limit); events is the events read so
// far.
func (d *Drops) report(now time.Time, interval time.Duration, hostname string, events uint64) *alert.Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.last.IsZero() && now.Sub(d.last) < interval {
		return nil
	}
	total := d.Counts()
	cur := [numWhere]uint64{total.Kernel, total.TooBig, total.Decode, total.User}
	var iv [numWhere]uint64
	any := false
	for i := range cur {
		iv[i] = cur[i] - d.reported[i]
		any = any || iv[i] > 0
	}
	if !any {
		return nil
	}
	interv := alert.DropCounts{Kernel: iv[WhereKernel], TooBig: iv[WhereTooBig], Decode: iv[WhereDecode], User: iv[WhereUser]}
	a := alert.Drops(now, hostname, interv, total, events-d.events+interv.Sum())
	d.reported, d.events, d.last = cur, events, now
	d.reportedSum.Store(total.Sum())
	return a
}
