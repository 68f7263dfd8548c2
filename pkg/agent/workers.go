package agent

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// The multi-worker pipeline (pipeline.workers >= 2).
//
// Stage 1, the syscall source's goroutine, normalizes each event and copies it into a batch
// (the event and every byte it points to: the source reuses its buffers); a full batch, or
// the source going idle, hands the batch to every worker's queue. Each worker owns a whole
// replica of the state (its own detect.Detector: state engine, field source, compiled
// rules): it runs every event through its state engine, so every replica holds the same
// state at the same event, and evaluates the rules only on the events of its shard (the
// thread group id the event's thread had when the worker first saw it, mod N). Nothing is
// shared between workers but the batches, which nobody writes while workers read them, so
// the state the rules read never changes under them. Worker 0 is the agent's own detector
// (a.d): its state is the agent's state once the run ends.
//
// The price is the state engine run N times (about 16% of an event's time with the
// upstream rules); the gain is the rules (about 56%) split N ways. See ARCHITECTURE.md
// "Cores" for why this suits a few cores and what replaces it for 16+.
//
// Order: one worker evaluates all the events of a process, in stream order, and sends their
// alerts in that order; alerts of different processes may interleave differently than with
// one worker. A worker holds the agent's read lock over each batch, so a reload swaps the
// rules between two batches of each worker; when the source goes idle (Input.Idle) stage 1
// waits until every worker has evaluated everything handed on, so a reload made while the
// source is idle (SIGHUP on a quiet host, the capture's Before hook) is a clean cut.

const (
	workerQueue = 4 // batches waiting per worker
)

// workerCount resolves pipeline.workers (0: one per CPU).
func workerCount(c *config.Config) int {
	n := c.Pipeline.Workers
	if n == 0 {
		n = runtime.NumCPU()
	}
	return max(n, 1)
}

// batch is a run of normalized events with their bytes, or a metadata load (meta).
type batch struct {
	evs  []event.Event
	buf  []byte
	meta func(*detect.Detector)
	left int32 // workers that have not finished it (under pipeline.mu)
}

// push appends a copy of ev whose params and raw record live in b.buf. The slot is
// written field by field (not `*c = *ev`: the params array is most of an event and most
// of it unused), params that lie inside the raw record point into its copy, the others
// (enter params merged by the normalizer) are copied after it. TestBatchCopiesEvent checks
// that every field of event.Event is carried.
func (b *batch) push(ev *event.Event) {
	n := len(b.evs)
	b.evs = b.evs[:n+1]
	c := &b.evs[n]
	old := c.NParams // the slot's previous event: its params past ev's are cleared
	c.Num, c.TS, c.TID, c.CPU, c.Type, c.Flags = ev.Num, ev.TS, ev.TID, ev.CPU, ev.Type, ev.Flags
	c.NParams, c.Present, c.Info, c.RawType = ev.NParams, ev.Present, ev.Info, ev.RawType
	c.Raw = b.bytes(ev.Raw)
	var raw0, raw1 uintptr
	if len(ev.Raw) > 0 {
		raw0 = uintptr(unsafe.Pointer(unsafe.SliceData(ev.Raw)))
		raw1 = raw0 + uintptr(len(ev.Raw))
	}
	for i := 0; i < ev.NParams; i++ {
		p := ev.Params[i]
		if p == nil {
			c.Params[i] = nil
			continue
		}
		if len(p) > 0 && raw0 != 0 {
			if at := uintptr(unsafe.Pointer(unsafe.SliceData(p))); at >= raw0 && at+uintptr(len(p)) <= raw1 {
				off := int(at - raw0)
				c.Params[i] = c.Raw[off : off+len(p) : off+len(p)]
				continue
			}
		}
		c.Params[i] = b.bytes(p)
	}
	for i := ev.NParams; i < old; i++ {
		c.Params[i] = nil
	}
}

func (b *batch) bytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	off := len(b.buf)
	b.buf = append(b.buf, p...)
	return b.buf[off:len(b.buf):len(b.buf)]
}

// reset empties the batch for reuse (its event slots keep their params arrays: push
// overwrites them).
func (b *batch) reset() {
	b.evs, b.buf, b.meta = b.evs[:0], b.buf[:0], nil
}

// pipeline is stage 1's side: the batch being filled, the free batches and the workers.
type pipeline struct {
	a    *Agent
	ws   []*worker
	norm event.Normalizer
	cur  *batch
	free chan *batch // batches no worker holds; len(all) in total
	all  int
	mu   sync.Mutex
	wg   sync.WaitGroup
}

// worker is one stage 2 worker.
type worker struct {
	i    int
	p    *pipeline
	d    *detect.Detector
	em   *emitter
	q    chan *batch
	gen  *generation // the generation whose rules d has
	slot int         // thread slot holding the shard key (pid + 1)
}

// newWorkerDetectors makes the detectors of workers 1..n-1 (worker 0 is a.d), each with
// its own state engine over the same container manager.
func (a *Agent) newWorkerDetectors(n int) {
	for i := 1; i < n; i++ {
		d := detect.New(a.stateOptions())
		d.Hostname = a.d.Hostname
		d.K8sAudit.ClusterName = a.d.K8sAudit.ClusterName
		a.wds = append(a.wds, d)
	}
}

// buildWorkerRules compiles c's rules once per worker besides worker 0 (the compiled rules
// keep per-event memory and their extractors per-event caches: a ruleset is one worker's).
func (a *Agent) buildWorkerRules(c *config.Config) ([]*Rules, error) {
	var out []*Rules
	for _, d := range a.wds {
		rs, err := a.buildRulesFor(c, d.Sources())
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, nil
}

// singleWorkerReason is why the agent runs one worker whatever pipeline.workers says: the
// sinks that read the state of every event or alert on the source's goroutine.
func (a *Agent) singleWorkerReason(c *config.Config) string {
	switch {
	case c.Response.PolicyFile != "":
		return "the response engine reads the state of each alert's event"
	case a.inc != nil || c.Incidents.Enabled:
		return "the incident store's fields read its own state"
	case len(a.eventSinks) > 0:
		return "an event sink wants every event"
	}
	for _, s := range a.sinks {
		if _, ok := s.(StateSink); ok {
			return "a sink reads the state of each alert's event"
		}
	}
	return ""
}

// startPipeline starts the workers (nil with one worker).
func (a *Agent) startPipeline() *pipeline {
	if len(a.wds) == 0 {
		return nil
	}
	n := len(a.wds) + 1
	p := &pipeline{a: a, all: n*workerQueue + 2}
	p.free = make(chan *batch, p.all)
	for range p.all {
		p.free <- &batch{evs: make([]event.Event, 0, batchEvents), buf: make([]byte, 0, 64<<10)}
	}
	for i := range n {
		w := &worker{i: i, p: p, q: make(chan *batch, workerQueue)}
		if i == 0 {
			w.d, w.em = a.d, a.em
		} else {
			w.d = a.wds[i-1]
			w.em = &emitter{Send: a.deliver}
			w.d.Emit = w.em.Collect
		}
		w.slot = w.d.State.ReserveSlot()
		p.ws = append(p.ws, w)
	}
	for _, w := range p.ws {
		p.wg.Add(1)
		go w.run()
	}
	return p
}

// get returns an empty batch, waiting for the workers to give one back when all are busy.
func (p *pipeline) get() *batch {
	return <-p.free
}

// add hands a syscall event on (stage 1).
func (p *pipeline) add(ev *event.Event) {
	if !p.norm.Next(ev) {
		return
	}
	if p.cur == nil {
		p.cur = p.get()
	}
	p.cur.push(ev)
	if len(p.cur.evs) >= batchEvents {
		p.flush()
	}
}

// metadata hands a state load to every worker, in stream order.
func (p *pipeline) metadata(f func(*detect.Detector)) {
	p.flush()
	b := p.get()
	b.meta = f
	p.send(b)
}

// flush hands the batch being filled to the workers.
func (p *pipeline) flush() {
	if p.cur == nil || len(p.cur.evs) == 0 {
		return
	}
	b := p.cur
	p.cur = nil
	p.send(b)
}

func (p *pipeline) send(b *batch) {
	b.left = int32(len(p.ws))
	for _, w := range p.ws {
		w.q <- b
	}
}

// done is a worker's end of a batch: the last one gives it back.
func (p *pipeline) done(b *batch) {
	p.mu.Lock()
	b.left--
	last := b.left == 0
	p.mu.Unlock()
	if last {
		b.reset()
		p.free <- b
	}
}

// drain flushes and waits until the workers have evaluated every event handed on.
func (p *pipeline) drain() {
	p.flush()
	if p.cur != nil { // an empty batch held by stage 1
		p.free <- p.cur
		p.cur = nil
	}
	held := make([]*batch, 0, p.all)
	for range p.all {
		held = append(held, <-p.free)
	}
	for _, b := range held {
		p.free <- b
	}
}

// close evaluates what is left, stops the workers and adds their alert counts to the
// agent's detector.
func (p *pipeline) close() {
	p.drain()
	for _, w := range p.ws {
		close(w.q)
	}
	p.wg.Wait()
	for _, w := range p.ws[1:] {
		p.a.d.Matched += w.d.Matched
		w.d.Matched = 0
	}
}

func (w *worker) run() {
	defer w.p.wg.Done()
	a := w.p.a
	n := uint64(len(w.p.ws))
	for b := range w.q {
		a.mu.RLock()
		w.sync()
		if b.meta != nil {
			b.meta(w.d)
		}
		for i := range b.evs {
			ev := &b.evs[i]
			ctx := w.d.Update(ev)
			if w.shard(ev, ctx)%n != uint64(w.i) {
				continue
			}
			w.d.Match(ev, ctx)
			if len(w.em.pending) > 0 {
				w.em.Flush(ctx)
			}
		}
		if w.i == 0 && len(b.evs) > 0 && w.d.Events%4096 < uint64(len(b.evs)) {
			a.m.SetState(w.d.State.Stats())
		}
		a.mu.RUnlock()
		w.p.done(b)
	}
}

// shard is the event's shard key: the thread group id its thread had when this worker first
// saw the thread (kept in a thread slot, so that a thread's key never changes and its events
// stay on one worker), the tid for an event without a thread. Every replica computes the
// same key.
func (w *worker) shard(ev *event.Event, ctx *state.Context) uint64 {
	if ctx == nil || ctx.Thread == nil {
		return uint64(ev.TID)
	}
	s := ctx.Thread.Slot(w.slot)
	if *s == 0 {
		*s = uint64(ctx.Thread.PID) + 1
	}
	return *s - 1
}

// sync brings the worker to the running generation's rules (under a.mu).
func (w *worker) sync() {
	a := w.p.a
	g := a.gen
	if g == w.gen {
		return
	}
	w.gen = g
	if w.i == 0 {
		if g.rules.Ruleset != a.d.Rules {
			a.apply(g.rules)
		}
		return
	}
	rs := g.workerRules[w.i-1]
	w.d.Rules, w.d.First, w.em.Extras = rs.Ruleset, rs.First, rs.Extras
	if !a.opts.Replay { // each worker's state keeps its own sensitive-file index (fd.canonical)
		w.d.State.Canon().SetPaths(SensitivePaths(rs))
	}
}

// workersNote is the line saker prints at start about the pipeline.
func workersNote(n int, reason string) string {
	if reason != "" {
		return fmt.Sprintf("saker: pipeline.workers=%d: running one worker: %s\n", n, reason)
	}
	return fmt.Sprintf("saker: pipeline: %d workers\n", n)
}
