package state

import "github.com/saker-sec/saker/pkg/event"

// fsOp classifies the exits of the file-system calls the engine watches besides fds.
type fsOp uint8

const (
	fsNone    fsOp = iota
	fsReplace      // rename, renameat, renameat2, link, linkat: a new name takes a path
	fsRemove       // unlink, unlinkat: a name removed (a directory too with AT_REMOVEDIR)
	fsRmdir        // rmdir
)

// fsOpOf is the fsOp of an event of the table.
func fsOpOf(in *event.Info) fsOp {
	if in.Dir != 'X' {
		return fsNone
	}
	switch in.Name {
	case "rename", "renameat", "renameat2", "link", "linkat":
		return fsReplace
	case "unlink", "unlinkat":
		return fsRemove
	case "rmdir":
		return fsRmdir
	}
	return fsNone
}

// DeletionWindow is the span (ns) over which a process's successful deletions are counted
// (Thread.Deletions).
const DeletionWindow = 10_000_000_000

// deletions is where the engine keeps the deletion counters: two per-thread slots of each
// process's main thread (the window's start and the count in it).
type deletions struct {
	start, count int // slot numbers; valid when reserved
	reserved     bool
}

// onDeletion counts a successful unlink, unlinkat or rmdir for the deleting process and, so
// that one deletion per child process (`find -exec rm {} \;`, a shell loop of rm) adds up,
// for the process that started it, unless that is an init (pid 1 of the host or of a
// container): every orphan and service is a child of those.
func (e *Engine) onDeletion(ctx *Context) {
	t := ctx.Thread
	if t == nil {
		return
	}
	if r, ok := res(ctx.Ev); !ok || r != 0 {
		return
	}
	d := &e.del
	if !d.reserved {
		d.start, d.count, d.reserved = e.ReserveSlot(), e.ReserveSlot(), true
	}
	ts := ctx.Ev.TS
	e.bumpDeletions(t.Main(), ts)
	if p := e.Parent(t.Main()); p != nil {
		if m := p.Main(); m.PID != 1 && m.VPID != 1 {
			e.bumpDeletions(m, ts)
		}
	}
}

func (e *Engine) bumpDeletions(m *Thread, ts uint64) {
	count := m.Slot(e.del.count) // first: the higher slot grows the thread's cells
	start := m.Slot(e.del.start)
	if *start == 0 || ts < *start || ts-*start >= DeletionWindow {
		*start, *count = ts, 0
	}
	*count++
}

// Deletions is the number of files and directories t's process removed successfully (unlink,
// unlinkat, rmdir; through io_uring too), the removals of the processes it started included,
// in its current counting window of DeletionWindow (started by its first counted removal
// after the last window ended). ts is the current event's time: a window that ended counts
// nothing.
func (e *Engine) Deletions(t *Thread, ts uint64) uint64 {
	if t == nil || !e.del.reserved {
		return 0
	}
	return e.windowCount(t.Main(), ts)
}

// ParentDeletions is Deletions of the process that started t's process (0 for an init's
// children, whose removals are not counted for it): with one removal per child process
// (`find -exec rm {} \;`, a shell loop of rm) the removals add up there.
func (e *Engine) ParentDeletions(t *Thread, ts uint64) uint64 {
	if t == nil || !e.del.reserved {
		return 0
	}
	if p := e.Parent(t.Main()); p != nil {
		if m := p.Main(); m.PID != 1 && m.VPID != 1 {
			return e.windowCount(m, ts)
		}
	}
	return 0
}

func (e *Engine) windowCount(m *Thread, ts uint64) uint64 {
	start := *m.Slot(e.del.start)
	if start == 0 || ts < start || ts-start >= DeletionWindow {
		return 0
	}
	return *m.Slot(e.del.count)
}

// fsEvent is what Process does after the state update for the fs calls it watches.
func (e *Engine) fsEvent(ctx *Context, ci *codeInfo) {
	if ci.fsOp == fsRemove || ci.fsOp == fsRmdir {
		e.onDeletion(ctx)
	}
	e.canonEvent(ctx, ci)
}
