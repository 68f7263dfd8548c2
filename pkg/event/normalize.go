package event

import "unsafe"

// remap[old] lists, for each param of the current version of an old code, the index of the
// param with the same name in the old version (-1: the old version lacks it).
var remap = func() (m [NumEvents][]int8) {
	for c := range Table {
		cur := currentCode[c]
		if int(cur) == c {
			continue
		}
		old, now := &Table[c], &Table[cur]
		r := make([]int8, len(now.Params))
		for j := range now.Params {
			r[j] = int8(old.ParamIndex(now.Params[j].Name))
		}
		m[c] = r
	}
	return m
}()

// Remap rewrites ev, decoded with an old-version code, to the current code of the same name and
// direction, moving params by name (params the old version lacks are absent). It reports
// whether ev changed. Param bytes are not copied.
func Remap(ev *Event) bool {
	var src [MaxParams][]byte
	return remap1(ev, &src)
}

// remap1 is Remap with the caller's scratch array for the params being moved (only the old
// version's params are copied there, not the whole array).
func remap1(ev *Event, src *[MaxParams][]byte) bool {
	if ev.Info == nil || int(ev.Type) >= NumEvents {
		return false
	}
	cur := currentCode[ev.Type]
	if cur == ev.Type {
		return false
	}
	np := min(len(ev.Info.Params), MaxParams) // every k of remap[ev.Type] is below it
	copy(src[:np], ev.Params[:np])
	srcPresent := ev.Present
	oldN := ev.NParams
	var present uint64
	n := 0
	r := remap[ev.Type]
	for j, k := range r {
		if k >= 0 && srcPresent&(1<<uint(k)) != 0 {
			ev.Params[j] = src[k]
			present |= 1 << uint(j)
			n = j + 1
		} else {
			ev.Params[j] = nil
		}
	}
	// beyond the decoded params the array is already clear (Decode keeps it so)
	if end := min(max(oldN, np), MaxParams); end > len(r) {
		clear(ev.Params[len(r):end])
	}
	ev.Type = cur
	ev.Info = &Table[cur]
	ev.Present = present
	ev.NParams = n
	return true
}

// pendingEnter is the last enter event of a thread, its params copied into buf: param i is
// buf[start[i]:end[i]] (offsets, not slices: storing them costs no write barrier).
type pendingEnter struct {
	code    uint16
	valid   bool
	present uint64
	buf     []byte
	start   [MaxParams]uint32
	end     [MaxParams]uint32
}

// maxPending bounds the per-thread table: beyond it the table is dropped (enters of threads
// that never exit would otherwise pile up).
const maxPending = 1 << 16

// Normalizer turns a stream of decoded events into one model: every old-version code becomes
// the current code of the same name and direction (params moved by name), and the params of a
// thread's enter event are merged into the following exit event of that thread when the exit
// lacks them (old captures record openat as enter 102 {dirfd, name, flags, mode} plus exit 103
// {fd}; after merging, the exit is the current 307 with fd, dirfd, name, flags and mode).
// Merged param bytes live in a per-thread buffer owned by the Normalizer: like every param they
// are valid until the next event. The zero value is ready to use; a Normalizer is not safe for
// concurrent use.
type Normalizer struct {
	pending map[int64]*pendingEnter
	merge   map[uint32][]int8 // (enter code<<16 | exit code) -> exit param j -> enter param index
	// per exit code, the merge of the enter code last seen with it (an array index instead of
	// a map lookup for each exit event to merge)
	lastMerge *[NumEvents]mergeEntry
	// the last thread's entry: consecutive events of one thread skip the map
	lastTID int64
	last    *pendingEnter
	scratch [MaxParams][]byte // Remap's copy of the params it moves
}

// mergeEntry is a Normalizer's cached merge for one exit code.
type mergeEntry struct {
	enter uint16
	m     []int8
}

// hasExit tells, per code, whether an enter event has an exit of the same name to merge into.
// Enter-only events (switch, procexit, signaldeliver, ...) are not kept: one of them between a
// syscall's enter and exit must not replace the enter (libsinsp keeps it too).
var hasExit = func() (h [NumEvents]bool) {
	for c := range Table {
		if Table[c].Dir == 'E' && Current(Table[c].Name, 'X') != 0xFFFF {
			h[c] = true
		}
	}
	return h
}()

func (n *Normalizer) lookup(tid int64) *pendingEnter {
	if n.last != nil && n.lastTID == tid {
		return n.last
	}
	p := n.pending[tid]
	if p != nil {
		n.lastTID, n.last = tid, p
	}
	return p
}

// Next normalizes ev in place. It returns emit=true for every event the caller should count
// (enter events included, so evt.num numbering stays like sysdig's); it returns false only for
// an event without table info.
func (n *Normalizer) Next(ev *Event) (emit bool) {
	if ev.Info == nil {
		return false
	}
	if int(ev.Type) < NumEvents && currentCode[ev.Type] != ev.Type {
		remap1(ev, &n.scratch) // an old version
	}
	if n.pending == nil {
		n.pending = make(map[int64]*pendingEnter)
		n.merge = make(map[uint32][]int8)
	}
	switch ev.Info.Dir {
	case 'E':
		if int(ev.Type) < NumEvents && !hasExit[ev.Type] {
			return true
		}
		p := n.lookup(ev.TID)
		if ev.Present == 0 {
			if p != nil {
				p.valid = false
			}
			return true
		}
		if p == nil {
			if len(n.pending) >= maxPending {
				clear(n.pending)
				n.last = nil
			}
			p = &pendingEnter{}
			n.pending[ev.TID] = p
			n.lastTID, n.last = ev.TID, p
		}
		p.code = ev.Type
		p.valid = true
		p.present = ev.Present & (1<<uint(ev.NParams) - 1) // the params copied below
		// The params are laid out one after another in buf. When they already are so in
		// the raw record (as Decode leaves them), they are copied from it in one go.
		raw := ev.Raw
		base := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
		lo, hi := base, base+uintptr(len(raw)) // the span of the present params, if in raw
		next := uintptr(0)
		contiguous := len(raw) > 0
		total := uint32(0)
		for i := 0; i < ev.NParams; i++ {
			if ev.Present&(1<<uint(i)) != 0 {
				b := ev.Params[i]
				p.start[i] = total
				total += uint32(len(b))
				p.end[i] = total
				if len(b) > 0 {
					a := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
					if next == 0 {
						lo = a
					} else if a != next {
						contiguous = false
					}
					next = a + uintptr(len(b))
				}
			}
		}
		if contiguous && lo >= base && lo+uintptr(total) <= hi {
			p.buf = append(p.buf[:0], raw[lo-base:lo-base+uintptr(total)]...)
		} else {
			p.buf = p.buf[:0]
			for i := 0; i < ev.NParams; i++ {
				if ev.Present&(1<<uint(i)) != 0 {
					p.buf = append(p.buf, ev.Params[i]...)
				}
			}
		}
	case 'X':
		p := n.lookup(ev.TID)
		if p == nil || !p.valid {
			return true
		}
		p.valid = false
		enter := &Table[p.code]
		if enter.Name != ev.Info.Name {
			return true
		}
		want := uint64(1)<<uint(len(ev.Info.Params)) - 1
		if ev.Present&want == want {
			return true
		}
		var m []int8
		if n.lastMerge == nil {
			n.lastMerge = new([NumEvents]mergeEntry)
		}
		le := &n.lastMerge[ev.Type%NumEvents]
		if le.m != nil && le.enter == p.code {
			m = le.m
		} else {
			key := uint32(p.code)<<16 | uint32(ev.Type)
			var ok bool
			m, ok = n.merge[key]
			if !ok {
				m = make([]int8, len(ev.Info.Params))
				for j := range ev.Info.Params {
					m[j] = int8(enter.ParamIndex(ev.Info.Params[j].Name))
				}
				n.merge[key] = m
			}
			le.enter, le.m = p.code, m
		}
		for j, k := range m {
			if k < 0 || ev.Present&(1<<uint(j)) != 0 || p.present&(1<<uint(k)) == 0 {
				continue
			}
			e := p.end[k]
			ev.Params[j] = p.buf[p.start[k]:e:e]
			ev.Present |= 1 << uint(j)
			if j >= ev.NParams {
				ev.NParams = j + 1
			}
		}
	}
	return true
}

// Reset forgets every pending enter event (for a new capture section).
func (n *Normalizer) Reset() {
	clear(n.pending)
	n.last = nil
}
