package state

import "testing"

// The thread cache (threadCached) must give what the table holds: an unknown tid gets one
// lazily made entry that later events find again (tid -1, which the absent-tid cache cannot
// encode, and tids sharing a cache slot included), and a tid found absent is found once a
// clone has made it.
func TestThreadCacheFollowsTable(t *testing.T) {
	w := newWorld(t, Options{})
	for _, tid := range []int64{-1, 5000, 5000 + threadCacheSize, 0} {
		first := w.ev(tid, "fstat", 'X', P{"res": int64(0)}).Thread
		if first == nil || first.TID != tid || !first.Invalid {
			t.Fatalf("tid %d: lazy thread = %+v", tid, first)
		}
		for i := 0; i < 3; i++ {
			w.ev(100, "fstat", 'X', P{"res": int64(0)}) // another thread in between
			if got := w.ev(tid, "fstat", 'X', P{"res": int64(0)}).Thread; got != first {
				t.Fatalf("tid %d: event %d has another thread entry than the first (%p, %p)", tid, i, got, first)
			}
		}
	}
	eq(t, "absent before the clone", w.e.Thread(700) == nil, true)
	w.ev(100, "clone", 'X', cloneParams(700, 100, 100, 10, 0, "bash"))
	if c := w.e.Thread(700); c == nil || c.TID != 700 {
		t.Fatalf("child 700 after the clone = %+v", c)
	}
	if p := w.e.Parent(w.e.Thread(700)); p == nil || p.TID != 100 {
		t.Fatalf("parent of 700 = %+v", p)
	}
}

// A closed fd's FD is recycled only after the close's own event: its Context still shows the
// fd as it was, and an fd opened next is a fresh one.
func TestClosedFDValidForItsEvent(t *testing.T) {
	w := newWorld(t, Options{})
	w.ev(100, "openat", 'X', P{"fd": int64(5), "dirfd": int64(atFDCWD), "name": "a.txt", "flags": uint32(1)})
	ctx := w.ev(100, "close", 'X', P{"fd": int64(5), "res": int64(0)})
	if ctx.FD == nil || ctx.FD.Name != "/home/u/a.txt" || ctx.FD.Num != 5 {
		t.Fatalf("close context fd = %+v", ctx.FD)
	}
	eq(t, "fd 5 after close", w.fdName(100, 5), "<none>")
	ctx = w.ev(100, "openat", 'X', P{"fd": int64(6), "dirfd": int64(atFDCWD), "name": "b.txt", "flags": uint32(1)})
	f := ctx.FD
	if f == nil || f.Name != "/home/u/b.txt" || f.Num != 6 || f.NameRaw != "b.txt" || f.Ino != 0 || f.Dev != 0 {
		t.Fatalf("reopened fd = %+v", f)
	}
	eq(t, "fds", fdNums(w.e.Thread(100)), "0,1,2,3,4,6")
}
