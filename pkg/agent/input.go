package agent

import (
	"fmt"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
)

// batchEvents bounds the events run under one hold of the read lock (a reload waits for at
// most that many); the heartbeat moves once per batch.
const batchEvents = 256

// input is the agent's Input for one running source.
type input struct {
	a       *Agent
	r       *running
	held    bool   // the source's goroutine holds a.mu for reading
	idle    bool   // mirror of r.idle, to touch the atomic only on a change
	unread  uint64 // events not yet added to the events-read counter
	batches uint   // batches of Syscall's events released
	matches []*engine.Rule
	alerts  []*alert.Alert // of the event Evaluate runs (for the incident store)
}

func (in *input) LoadHost(h *Host) error {
	if p := in.a.pipe; p != nil {
		in.unhold()
		p.metadata(func(d *detect.Detector) {
			d.Metadata(&h.Machine, h.Interfaces, h.Users, h.Groups, h.Threads, h.FDs)
		})
		return nil
	}
	in.a.d.Metadata(&h.Machine, h.Interfaces, h.Users, h.Groups, h.Threads, h.FDs)
	return nil
}

func (in *input) LoadCapture(c state.Capture) {
	p := in.a.pipe
	if p == nil {
		in.a.d.LoadCapture(c)
		return
	}
	// read on this goroutine, loaded by each worker into its replica
	var mi *event.MachineInfo
	if m, ok := c.Machine(); ok {
		mi = &m
	}
	ifs, users, groups, threads, fds := c.Interfaces(), c.Users(), c.Groups(), c.Threads(), c.FDs()
	in.unhold()
	p.metadata(func(d *detect.Detector) { d.Metadata(mi, ifs, users, groups, threads, fds) })
}

// unhold lets the read lock go without the rest of release: stage 1 of the multi-worker
// pipeline must not hold it while it waits for the workers (they take it for each batch,
// and a pending reload would make them wait for stage 1).
func (in *input) unhold() {
	if in.held {
		in.a.mu.RUnlock()
		in.held = false
	}
}

func (in *input) Ready(msg string) {
	if msg != "" {
		fmt.Fprintf(in.a.stderr, "saker: %s; ready\n", msg)
	}
	in.r.ready.Store(true)
}

// hold takes the read lock for a batch, and brings the detector to the running rules.
func (in *input) hold() {
	a := in.a
	a.mu.RLock()
	in.held = true
	if rs := a.gen.rules; a.pipe == nil && rs.Ruleset != a.d.Rules { // (worker 0 applies them)
		a.apply(rs)
	}
	if in.idle {
		in.idle = false
		in.r.idle.Store(false)
	}
}

// Syscall runs one event with the running generation: a reload swaps generations between two
// events, so across a reload no event is lost or evaluated twice, and no alert is sent twice
// or to channels already closed.
func (in *input) Syscall(ev *event.Event) {
	if p := in.a.pipe; p != nil {
		in.unhold()
		p.add(ev)
		in.unread++
		if in.unread >= batchEvents {
			in.release()
		}
		return
	}
	if !in.held {
		in.hold()
	}
	a := in.a
	ctx := a.d.Event(ev)
	for _, s := range a.eventSinks {
		s.Event(ev, ctx)
	}
	a.em.Flush(ctx) // after the event sinks: a response snapshot holds the alert's event
	in.unread++
	if in.unread >= batchEvents {
		in.release()
		if in.batches++; in.batches%16 == 0 { // the state's gauges every 4,096 events
			a.m.SetState(a.d.State.Stats())
		}
	}
}

func (in *input) Evaluate(source string, code uint16, ev fields.Event, ts uint64) {
	if !in.held {
		in.hold()
	}
	a := in.a
	rs := a.gen.rules
	a.evaluated.Add(1)
	if sr := rs.Ruleset.Source(source); sr != nil {
		in.matches = sr.Match(code, ev, rs.First, in.matches[:0])
		a.evalMatched.Add(uint64(len(in.matches)))
		in.alerts = in.alerts[:0]
		for _, r := range in.matches {
			al := alert.New(r, ev, ts, a.d.Hostname)
			rs.Extras.Apply(al, ev)
			a.deliver(al, nil)
			in.alerts = append(in.alerts, al)
		}
	}
	if a.inc != nil && source == k8saudit.SourceName {
		a.inc.audit(ev, in.alerts)
		clear(in.alerts)
		in.alerts = in.alerts[:0]
	}
	in.unread++
	if in.unread >= batchEvents {
		in.release()
	}
}

func (in *input) Idle() {
	in.release()
	if p := in.a.pipe; p != nil {
		p.drain()
	}
	if !in.idle {
		in.idle = true
		in.r.idle.Store(true)
	}
	in.reportDrops()
}

func (in *input) Lost(where Where, n uint64) {
	if n == 0 {
		return
	}
	in.a.drops.Add(where, n)
	in.reportDrops()
}

// release lets the read lock go, so that a pending reload can swap, brings the events-read
// counter up to date and moves the heartbeat.
func (in *input) release() {
	if in.held {
		in.a.mu.RUnlock()
		in.held = false
	}
	if in.unread > 0 {
		in.a.m.EventsRead.Add(in.unread)
		in.unread = 0
	}
	in.r.beats.Add(1)
	if in.a.drops.unreported() {
		in.reportDrops()
	}
}

// reportDrops raises the drop alert when events were lost since the last one and the
// drop alert interval has passed since the last one.
func (in *input) reportDrops() {
	a := in.a
	if !a.drops.unreported() {
		return
	}
	events := a.m.EventsRead.Load() + in.unread
	if al := a.drops.report(a.now(), a.opts.DropAlertInterval, a.d.Hostname, events); al != nil {
		if in.held {
			in.a.mu.RUnlock()
			in.held = false
		}
		a.Send(al)
	}
}
