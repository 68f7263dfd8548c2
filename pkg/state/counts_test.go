package state

import (
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// counts returns proc.nthreads and proc.nchilds as seen from thread tid.
func counts(w *world, tid int64) (int, int) {
	t := w.e.Thread(tid)
	if t == nil {
		return -1, -1
	}
	return t.NumThreads(), t.NumChilds()
}

// TestThreadCounts follows libsinsp 0.29's m_nchilds through thread creation and exit:
// NumChilds counts the other threads of the process on its main thread only; NumThreads is
// that plus one from any thread of the process; an exited thread still counts during its own
// procexit and is gone at the next event; a main thread exiting first stays and still counts
// its live threads.
func TestThreadCounts(t *testing.T) {
	w := newWorld(t, Options{})
	check := func(what string, tid int64, threads, childs int) {
		t.Helper()
		n, c := counts(w, tid)
		if n != threads || c != childs {
			t.Errorf("%s: tid %d nthreads=%d nchilds=%d, want %d, %d", what, tid, n, c, threads, childs)
		}
	}
	check("single process", 100, 1, 0)

	// two threads, one made by the caller's exit, one by the child's own exit
	w.ev(100, "clone", 'X', cloneParams(101, 100, 100, 10, cloneThread|cloneFiles, "bash"))
	check("after 1st thread, main", 100, 2, 1)
	check("after 1st thread, thread", 101, 2, 0)
	w.ev(102, "clone", 'X', cloneParams(0, 102, 100, 10, cloneThread|cloneFiles, "bash"))
	check("after 2nd thread (child side), main", 100, 3, 2)
	check("after 2nd thread, thread", 102, 3, 0)
	// the caller's exit for the same thread adds nothing
	w.ev(100, "clone", 'X', cloneParams(102, 100, 100, 10, cloneThread|cloneFiles, "bash"))
	check("caller exit after child exit", 100, 3, 2)

	// a child process is a process of its own
	w.ev(100, "clone", 'X', cloneParams(300, 100, 100, 10, 0, "bash"))
	check("child process", 300, 1, 0)
	check("parent after fork", 100, 3, 2)

	// thread 101 exits: counted during its procexit, gone at the next event
	w.ev(101, "procexit", 'E', P{"status": int64(0)})
	check("during thread's procexit", 100, 3, 2)
	w.ev(100, "close", 'E', P{"fd": int64(3)})
	check("after thread's procexit", 100, 2, 1)

	// the main thread exits first: it stays (dead) and the process still has its thread
	w.ev(100, "procexit", 'E', P{"status": int64(0)})
	w.ev(102, "close", 'E', P{"fd": int64(3)})
	if m := w.e.Thread(100); m == nil || !m.Dead {
		t.Fatal("exited main thread with a live thread left the table")
	}
	check("main exited, from the thread", 102, 2, 0)
	check("main exited, main", 100, 2, 1)

	// the last thread exits: the whole process is gone
	w.ev(102, "procexit", 'E', P{"status": int64(0)})
	w.ev(300, "close", 'E', P{"fd": int64(3)})
	if w.e.Thread(100) != nil || w.e.Thread(102) != nil {
		t.Error("process still in the table after its last thread exited")
	}

	// an unknown tid (lazy entry) is a process of one
	w.ev(777, "close", 'E', P{"fd": int64(3)})
	check("lazy thread", 777, 1, 0)
}

// TestThreadCountsFromProcList: threads of the process list count as the process's children.
func TestThreadCountsFromProcList(t *testing.T) {
	e := New(Options{})
	e.AddThread(event.ThreadInfo{TID: 50, PID: 50, PTID: 1, Comm: "java"})
	for tid := int64(51); tid <= 54; tid++ {
		e.AddThread(event.ThreadInfo{TID: tid, PID: 50, PTID: 1, Comm: "java", Flags: cloneThread | cloneFiles})
	}
	// a thread whose main thread is not in the list: all of its group are children
	e.AddThread(event.ThreadInfo{TID: 61, PID: 60, PTID: 1, Comm: "orphan", Flags: cloneThread | cloneFiles})
	e.AddThread(event.ThreadInfo{TID: 62, PID: 60, PTID: 1, Comm: "orphan", Flags: cloneThread | cloneFiles})
	for _, c := range []struct {
		tid             int64
		threads, childs int
	}{{50, 5, 4}, {53, 5, 0}, {61, 2, 0}, {62, 2, 0}} {
		th := e.Thread(c.tid)
		if n, ch := th.NumThreads(), th.NumChilds(); n != c.threads || ch != c.childs {
			t.Errorf("tid %d: nthreads=%d nchilds=%d, want %d, %d", c.tid, n, ch, c.threads, c.childs)
		}
	}
}

// TestSlots: a reserved slot is per thread, zero for a new thread and for a thread entry made
// anew for the same tid.
func TestSlots(t *testing.T) {
	w := newWorld(t, Options{})
	a, b := w.e.ReserveSlot(), w.e.ReserveSlot()
	if a == b {
		t.Fatal("two reservations gave the same slot")
	}
	bash := w.e.Thread(100)
	*bash.Slot(b) = 7
	*bash.Slot(a) += 2
	if *bash.Slot(a) != 2 || *bash.Slot(b) != 7 {
		t.Errorf("slots %d, %d; want 2, 7", *bash.Slot(a), *bash.Slot(b))
	}
	if *w.e.Thread(10).Slot(b) != 0 {
		t.Error("another thread sees the slot's value")
	}
	w.ev(100, "clone", 'X', cloneParams(200, 100, 100, 10, 0, "bash"))
	if *w.e.Thread(200).Slot(a) != 0 {
		t.Error("a new thread starts with a non-zero slot")
	}
	*w.e.Thread(200).Slot(a) = 5
	w.ev(200, "procexit", 'E', P{"status": int64(0)})
	w.ev(100, "clone", 'X', cloneParams(200, 100, 100, 10, 0, "bash")) // tid reused
	if got := *w.e.Thread(200).Slot(a); got != 0 {
		t.Errorf("reused tid: slot %d, want 0 (a new entry)", got)
	}
}
