// Package ring keeps the recent events of each workload (a container, or the host) in memory,
// bounded by age, count and bytes per workload and by the number of workloads, so that a
// forensic snapshot can write the last seconds before an alert as a capture.
//
// Add copies the event (the caller's buffers are reused); it is safe to call from the event
// loop while snapshots read (one mutex; Add does no I/O).
package ring

import (
	"encoding/binary"
	"sync"

	"github.com/saker-sec/saker/pkg/event"
)

// Options bound the ring. Zero values take the defaults.
type Options struct {
	Window       int64 // nanoseconds of events kept per workload; default 60s
	MaxEvents    int   // per workload; default 50000
	MaxBytes     int   // param bytes per workload; default 16 MiB
	MaxWorkloads int   // workloads kept (least recently active dropped); default 512
}

// Defaults of Options.
const (
	DefaultWindow       = int64(60e9)
	DefaultMaxEvents    = 50000
	DefaultMaxBytes     = 16 << 20
	DefaultMaxWorkloads = 512
)

// rec is one stored event.
type rec struct {
	ts      uint64
	tid     int64
	pid     int64
	cpu     uint16
	typ     uint16
	rawType uint16
	flags   uint32
	nparams uint8
	present uint64
	data    []byte // nparams u32 lengths, then the params
}

type workload struct {
	key        string
	recs       []rec // circular
	head, n    int
	bytes      int
	prev, next *workload
}

// Ring is the per-workload event store.
type Ring struct {
	opts Options
	mu   sync.Mutex
	m    map[string]*workload
	// LRU of workloads, most recently active at head.
	head, tail *workload

	// Evicted counts events dropped for a bound (age excluded).
	Evicted uint64
}

// New returns an empty ring.
func New(opts Options) *Ring {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxWorkloads <= 0 {
		opts.MaxWorkloads = DefaultMaxWorkloads
	}
	return &Ring{opts: opts, m: map[string]*workload{}}
}

// Window is the age of the oldest events kept (ns).
func (r *Ring) Window() int64 { return r.opts.Window }

func (r *Ring) unlink(w *workload) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		r.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		r.tail = w.prev
	}
	w.prev, w.next = nil, nil
}

func (r *Ring) pushFront(w *workload) {
	w.next = r.head
	if r.head != nil {
		r.head.prev = w
	}
	r.head = w
	if r.tail == nil {
		r.tail = w
	}
}

// Add stores a copy of ev under workload key; pid is the process of the event's thread.
func (r *Ring) Add(key string, pid int64, ev *event.Event) {
	size := 0
	n := ev.NParams
	if n > event.MaxParams {
		n = event.MaxParams
	}
	for i := 0; i < n; i++ {
		size += len(ev.Params[i])
	}
	rc := rec{ts: ev.TS, tid: ev.TID, pid: pid, cpu: ev.CPU, typ: ev.Type, rawType: ev.RawType, flags: ev.Flags,
		nparams: uint8(n), present: ev.Present, data: make([]byte, 4*n, 4*n+size)}
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(rc.data[4*i:], uint32(len(ev.Params[i])))
		rc.data = append(rc.data, ev.Params[i]...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.m[key]
	if w == nil {
		if len(r.m) >= r.opts.MaxWorkloads && r.tail != nil {
			old := r.tail
			r.unlink(old)
			delete(r.m, old.key)
			r.Evicted += uint64(old.n)
		}
		w = &workload{key: key, recs: make([]rec, 64)}
		r.m[key] = w
		r.pushFront(w)
	} else if r.head != w {
		r.unlink(w)
		r.pushFront(w)
	}
	// age, count and bytes bounds
	for w.n > 0 {
		o := &w.recs[w.head]
		switch {
		case ev.TS > o.ts && int64(ev.TS-o.ts) > r.opts.Window:
		case w.n >= r.opts.MaxEvents || w.bytes+len(rc.data) > r.opts.MaxBytes:
			r.Evicted++
		default:
			goto room
		}
		w.bytes -= len(o.data)
		*o = rec{}
		w.head = (w.head + 1) % len(w.recs)
		w.n--
	}
room:
	if w.n == len(w.recs) {
		grown := make([]rec, min(2*len(w.recs), max(r.opts.MaxEvents, 1)))
		for i := 0; i < w.n; i++ {
			grown[i] = w.recs[(w.head+i)%len(w.recs)]
		}
		w.recs, w.head = grown, 0
	}
	w.recs[(w.head+w.n)%len(w.recs)] = rc
	w.n++
	w.bytes += len(rc.data)
}

// Len returns the number of events held for key.
func (r *Ring) Len(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.m[key]; w != nil {
		return w.n
	}
	return 0
}

// Each calls fn, oldest first, for the events of key with a timestamp >= since, with the
// event (its params point into the ring's own copy; ev is reused between calls) and the pid
// of its thread. The ring is not locked while fn runs (stored events are immutable).
func (r *Ring) Each(key string, since uint64, fn func(ev *event.Event, pid int64)) int {
	r.mu.Lock()
	w := r.m[key]
	var recs []rec
	if w != nil {
		recs = make([]rec, 0, w.n)
		for i := 0; i < w.n; i++ {
			if rc := w.recs[(w.head+i)%len(w.recs)]; rc.ts >= since {
				recs = append(recs, rc)
			}
		}
	}
	r.mu.Unlock()
	var ev event.Event
	for i := range recs {
		rc := &recs[i]
		ev = event.Event{TS: rc.ts, TID: rc.tid, CPU: rc.cpu, Type: rc.typ, RawType: rc.rawType, Flags: rc.flags,
			NParams: int(rc.nparams), Present: rc.present}
		if int(rc.typ) < event.NumEvents {
			ev.Info = &event.Table[rc.typ]
		}
		off := uint32(4 * int(rc.nparams))
		for j := 0; j < int(rc.nparams); j++ {
			l := binary.LittleEndian.Uint32(rc.data[4*j:])
			ev.Params[j] = rc.data[off : off+l : off+l]
			off += l
		}
		fn(&ev, rc.pid)
	}
	return len(recs)
}
