package state

import (
	"github.com/saker-sec/saker/pkg/event"
)

// Clone flags (scap encoding, flag-tables.tsv clone_flags).
const (
	cloneFiles       = 0x1
	cloneFS          = 0x2
	cloneNewPID      = 0x40
	cloneParent      = 0x100
	cloneThread      = 0x2000
	cloneInverted    = 0x10000 // libsinsp's own: the child side made the entry
	cloneNewUser     = 0x100000
	cloneVfork       = 0x8000000
	cloneChildInPNS  = 0x20000000
	cloneStaleTimeNS = 2_000_000_000 // libsinsp CLONE_STALE_TIME_NS
)

// execve flags (execve_flags).
const (
	exeWritable   = 0x1
	exeUpperLayer = 0x2
	exeFromMemfd  = 0x4
	exeLowerLayer = 0x8
)

// setPID moves t to the process pid (when an event tells a pid other than the one t has).
func (e *Engine) setPID(t *Thread, pid int64) {
	if t.PID == pid {
		return
	}
	g := t.g
	if !t.inTable || g == nil {
		t.PID = pid
		return
	}
	if len(g.threads) == 1 && e.groups[pid] == nil {
		// t is alone in its group: the group (and its fds) just changes pid
		if e.groups[g.pid] == g {
			delete(e.groups, g.pid)
		}
		g.pid = pid
		e.groups[pid] = g
		t.PID = pid
		g.main = nil
		if t.TID == pid {
			g.main = t
		}
		if pid == 1 || t.VPID == 1 {
			g.reaper = true
		}
		return
	}
	e.leaveGroup(t)
	t.PID = pid
	ng := e.groups[pid]
	if ng == nil {
		ng = &group{pid: pid, threads: make(map[int64]*Thread, 1)}
		e.groups[pid] = ng
		e.setTable(ng, e.newTable())
	}
	e.joinGroup(t, ng)
}

func (e *Engine) joinGroup(t *Thread, g *group) {
	t.g = g
	g.threads[t.TID] = t
	if !t.Dead {
		g.alive++
	}
	if t.TID == t.PID {
		g.main = t
	}
	if t.PID == 1 || t.VPID == 1 {
		g.reaper = true
	}
}

func (e *Engine) setParent(t *Thread, ptid int64) {
	if old := e.threads[t.PTID]; old != nil && old.children != nil {
		delete(old.children, t.TID)
	}
	t.PTID = ptid
	if p := e.Parent(t); p != nil {
		p.addChild(t)
	}
}

// fillFromEvent sets what clone and exec events carry on both sides.
func (e *Engine) fillCloneCommon(t *Thread, ev *event.Event) {
	t.Exe, _ = pStr(ev, "exe")
	if a, ok := e.pStrings(ev, "args"); ok {
		t.Args = a
	} else {
		t.Args = nil
	}
	if c, ok := pStr(ev, "comm"); ok && c != "" {
		t.Comm = c
	} else {
		t.Comm = t.Exe
	}
	setLimitsAndVM(t, ev)
	if v, ok := pUint(ev, "uid"); ok {
		t.UID = uint32(v)
	}
	if v, ok := pUint(ev, "gid"); ok {
		t.GID = uint32(v)
	}
	if cg, ok := e.pStrings(ev, "cgroups"); ok {
		t.Cgroups = cg
	}
	e.setContainer(t)
}

// inheritFrom copies what a child takes from the thread it was cloned from.
func inheritFrom(c, p *Thread) {
	c.ExePath = p.ExePath
	c.ExeWritable, c.ExeUpperLayer, c.ExeLowerLayer, c.ExeFromMemfd = p.ExeWritable, p.ExeUpperLayer, p.ExeLowerLayer, p.ExeFromMemfd
	c.Root = p.Root
	c.SID, c.VPGID, c.PGID = p.SID, p.VPGID, p.PGID
	c.TTY, c.LoginUID = p.TTY, p.LoginUID
	c.CapInheritable, c.CapPermitted, c.CapEffective = p.CapInheritable, p.CapPermitted, p.CapEffective
	c.ExeIno, c.ExeInoCtime, c.ExeInoMtime = p.ExeIno, p.ExeInoCtime, p.ExeInoMtime
	if c.Cgroups == nil {
		c.Cgroups = p.Cgroups
		c.ContainerID = p.ContainerID
		c.Container = p.Container
	}
}

// onClone handles clone, fork, vfork and clone3 exits (libsinsp parse_clone_exit).
func (e *Engine) onClone(ctx *Context) {
	ev := ctx.Ev
	r, ok := res(ev)
	if !ok || r < 0 {
		return
	}
	if r == 0 {
		e.cloneChild(ctx)
	} else {
		e.cloneCaller(ctx, r)
	}
}

func (e *Engine) cloneChild(ctx *Context) {
	ev := ctx.Ev
	tid := ev.TID
	if t := e.threads[tid]; t != nil && t.ClonedTS != 0 && !t.Invalid {
		if ev.TS-t.ClonedTS < cloneStaleTimeNS {
			ctx.Thread = t // the caller's exit made it already
			return
		}
	}
	flags, _ := pUint(ev, "flags")
	c := &Thread{TID: tid, Flags: uint32(flags) | cloneInverted, ClonedTS: ev.TS, PGID: -1,
		UID: 0xFFFFFFFF, GID: 0xFFFFFFFF, LoginUID: 0xFFFFFFFF}
	c.PID, _ = pInt(ev, "pid")
	c.PTID, _ = pInt(ev, "ptid")
	if c.PID == 0 {
		c.PID = tid
	}
	if vpid, ok := pInt(ev, "vpid"); ok {
		c.VPID = vpid
		c.VTID, _ = pInt(ev, "vtid")
	} else {
		c.VTID, c.VPID = tid, -1
	}
	leader := flags&cloneThread == 0
	lookupTID := c.PTID
	if !leader {
		lookupTID = c.PID
		c.Flags |= cloneFiles
		// A thread's parent is its creator, as sysdig shows it (proc.pname of a thread is
		// the process itself); the child's event names only the process's parent, so the
		// main thread stands for the creator.
		c.PTID = c.PID
	}
	e.fillCloneCommon(c, ev)
	lk := e.threads[lookupTID]
	if lk != nil && !lk.Invalid {
		inheritFrom(c, lk)
		if leader {
			c.Cwd = lk.Main().Cwd
			c.Env = lk.Main().Env
		} else {
			c.ExecTS = lk.ExecTS
			c.Cwd = lk.Cwd
		}
	}
	if c.Cwd == "" {
		if cwd, ok := pStr(ev, "cwd"); ok {
			c.Cwd = withSlash(cwd)
		}
	}
	if ts, ok := pUint(ev, "pidns_init_start_ts"); ok && (flags&(cloneChildInPNS|cloneNewPID) != 0 || c.TID != c.VTID) {
		c.PidNSInitStartTS = ts + e.machine.BootTS
	} else {
		c.PidNSInitStartTS = e.machine.BootTS
	}
	e.insertThread(c)
	e.cloneFDs(c, lk, leader, flags)
	e.setParent(c, c.PTID)
	e.identifyCategory(c)
	ctx.Thread = c
}

// cloneFDs gives a new thread its fd table: shared with its process (threads) or the parent
// (CLONE_FILES), else a copy of the parent's.
func (e *Engine) cloneFDs(c, from *Thread, leader bool, flags uint64) {
	if !leader || from == nil || from.g == nil {
		return // threads use their process's table; no parent, no fds
	}
	if c.g == from.g {
		return
	}
	if flags&cloneFiles != 0 {
		e.setTable(c.g, from.g.fds)
	} else {
		e.setTable(c.g, e.copyTable(from.g.fds))
	}
}

func (e *Engine) cloneCaller(ctx *Context, childTID int64) {
	ev := ctx.Ev
	caller := ctx.Thread
	if caller == nil {
		caller = e.lazyThread(ev.TID)
		ctx.Thread = caller
	}
	validCaller := !caller.Invalid
	if caller.Invalid {
		if pid, ok := pInt(ev, "pid"); ok && pid > 0 {
			e.setPID(caller, pid)
		}
		if ptid, ok := pInt(ev, "ptid"); ok {
			e.setParent(caller, ptid)
		}
		if vpid, ok := pInt(ev, "vpid"); ok {
			caller.VPID = vpid
			caller.VTID, _ = pInt(ev, "vtid")
		} else {
			caller.VTID, caller.VPID = caller.TID, -1
		}
	}
	flags, _ := pUint(ev, "flags")
	if flags&(cloneChildInPNS|cloneNewPID|cloneParent) != 0 || inPidNS(caller) {
		return // the child's own exit will make its entry (its pid here is not ours)
	}
	if flags&cloneVfork != 0 || ev.Info.Name == "vfork" {
		return // the child may have exited before this event: let its own exit make it
	}
	if c := e.threads[childTID]; c != nil {
		if c.Flags&cloneInverted != 0 {
			return
		}
		e.dropThread(c)
	}
	c := &Thread{TID: childTID, Flags: uint32(flags), ClonedTS: ev.TS, PGID: -1,
		UID: 0xFFFFFFFF, GID: 0xFFFFFFFF, LoginUID: 0xFFFFFFFF}
	leader := flags&cloneThread == 0
	if leader {
		c.PID = childTID
		c.PTID = caller.TID
		if validCaller {
			c.Cwd = caller.Main().Cwd
			c.Env = caller.Main().Env
		}
	} else {
		c.PID = caller.PID
		c.PTID = caller.TID // the creating thread (see the child side)
		c.Flags |= cloneFiles
		c.ExecTS = caller.ExecTS
		c.Cwd = caller.Cwd
	}
	c.VTID, c.VPID = c.TID, c.PID
	e.fillCloneCommon(c, ev)
	c.PidNSInitStartTS = e.machine.BootTS
	if validCaller {
		inheritFrom(c, caller)
	} else {
		caller.Exe, caller.Comm, caller.Args = c.Exe, c.Comm, c.Args
	}
	if c.Cwd == "" {
		if cwd, ok := pStr(ev, "cwd"); ok {
			c.Cwd = withSlash(cwd)
		}
	}
	e.insertThread(c)
	if validCaller {
		e.cloneFDs(c, caller, leader, flags)
	}
	e.setParent(c, c.PTID)
	e.identifyCategory(c)
}

// inPidNS reports a thread whose virtual tid (known) is not its tid: it runs in a pid
// namespace of its own. An unknown vtid (-1: not in the capture) is not taken for one.
func inPidNS(t *Thread) bool { return t.VTID >= 0 && t.TID != t.VTID }

// onExec handles a successful execve/execveat exit (libsinsp parse_execve_exit).
func (e *Engine) onExec(ctx *Context) {
	ev := ctx.Ev
	t := ctx.Thread
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	if t.Dead {
		t.Dead = false
		if t.g != nil {
			t.g.alive++
		}
	}
	t.Exe, _ = pStr(ev, "exe")
	t.ExecTS = ev.TS
	if c, ok := pStr(ev, "comm"); ok && c != "" {
		t.Comm = c
	} else {
		t.Comm = t.Exe
	}
	if a, ok := e.pStrings(ev, "args"); ok {
		t.Args = a
	} else {
		t.Args = nil
	}
	if pid, ok := pInt(ev, "pid"); ok && pid > 0 {
		e.setPID(t, pid)
	}
	if t.Invalid {
		if ptid, ok := pInt(ev, "ptid"); ok {
			e.setParent(t, ptid)
		}
		t.Invalid = false
		if t.Cwd == "" {
			if cwd, ok := pStr(ev, "cwd"); ok {
				t.Cwd = withSlash(cwd)
			}
		}
	}
	setLimitsAndVM(t, ev)
	if env, ok := e.pStrings(ev, "env"); ok {
		t.Env = env
	}
	if cg, ok := e.pStrings(ev, "cgroups"); ok {
		t.Cgroups = cg
		e.setContainer(t)
	}
	if e.opts.ContainerWait > 0 && t.Container != nil && t.VPID == 1 {
		t.Container.AwaitFetch(e.opts.ContainerWait)
	}
	if v, ok := pUint(ev, "tty"); ok {
		t.TTY = uint32(v)
	}
	if p, ok := pStr(ev, "trusted_exepath"); ok && p != "" {
		t.ExePath = p
	} else if f, ok := pStr(ev, "filename"); ok && f != "" {
		// old captures: the enter event's filename, resolved against the cwd
		if f == "<NA>" {
			t.ExePath = f
		} else {
			t.ExePath = concatPaths(t.Main().Cwd, f)
		}
	}
	if v, ok := pInt(ev, "vpgid"); ok {
		t.VPGID = v
	}
	if v, ok := pUint(ev, "loginuid"); ok {
		t.LoginUID = uint32(v)
	}
	if v, ok := pUint(ev, "flags"); ok {
		t.ExeWritable = v&exeWritable != 0
		t.ExeUpperLayer = v&exeUpperLayer != 0
		t.ExeFromMemfd = v&exeFromMemfd != 0
		t.ExeLowerLayer = v&exeLowerLayer != 0
	}
	if _, ok := ev.Param("cap_effective"); ok {
		t.CapInheritable, _ = pUint(ev, "cap_inheritable")
		t.CapPermitted, _ = pUint(ev, "cap_permitted")
		t.CapEffective, _ = pUint(ev, "cap_effective")
	}
	if _, ok := ev.Param("exe_ino_mtime"); ok {
		t.ExeIno, _ = pUint(ev, "exe_ino")
		t.ExeInoCtime, _ = pUint(ev, "exe_ino_ctime")
		t.ExeInoMtime, _ = pUint(ev, "exe_ino_mtime")
	}
	if v, ok := pUint(ev, "uid"); ok {
		t.UID = uint32(v)
	}
	if v, ok := pInt(ev, "pgid"); ok {
		t.PGID = v
	} else {
		t.PGID = -1
	}
	if v, ok := pUint(ev, "gid"); ok {
		t.GID = uint32(v)
	}
	t.Flags &= cloneInverted
	e.identifyCategory(t)
	// The other threads of the process are gone after a successful exec.
	if t.g != nil && len(t.g.threads) > 1 {
		var others []*Thread
		for _, o := range t.g.threads {
			if o != t && !o.IsMain() {
				others = append(others, o)
			}
		}
		for _, o := range others {
			e.removeThread(o)
		}
	}
	// Close-on-exec fds are closed (after unsharing a shared table, as the kernel does).
	if t.g != nil && t.g.fds != nil {
		e.unshareFDs(t)
		tb := t.g.fds
		for f := tb.head; f != nil; {
			next := f.next
			if closeOnExec(f) {
				e.removeFD(t, f.Num)
			}
			f = next
		}
	}
}

// closeOnExec is libsinsp's sinsp_fdinfo::is_close_on_exec.
func closeOnExec(f *FD) bool {
	if f.OpenFlags&oCloexec != 0 {
		return true
	}
	switch f.Type {
	case event.FDEventpoll, event.FDMemfd:
		return f.OpenFlags&0x1 != 0 // EPOLL_CLOEXEC, MFD_CLOEXEC
	}
	return false
}

// onProcExit marks the thread dead; it is removed at the next Process (libsinsp removes it
// after the event is parsed, so the event's own fields still see it).
func (e *Engine) onProcExit(ctx *Context) {
	t := ctx.Thread
	if t == nil {
		return
	}
	if !t.Dead {
		t.Dead = true
		if t.g != nil {
			t.g.alive--
		}
	}
	if r, ok := pInt(ctx.Ev, "reaper_tid"); ok {
		t.ReaperTID = r
	}
	e.pendingRemove, e.chores = append(e.pendingRemove, t.TID), true
}

func (e *Engine) flushRemovals() {
	for _, tid := range e.pendingRemove {
		if t := e.threads[tid]; t != nil && t.Dead {
			e.removeThread(t)
		}
	}
	e.pendingRemove = e.pendingRemove[:0]
}

// removeThread removes an exited thread: its children go to a reaper, and the main thread
// stays (dead) while other threads of the process are alive (libsinsp remove_thread).
func (e *Engine) removeThread(t *Thread) {
	if !t.inTable {
		return
	}
	if !t.Dead {
		t.Dead = true
		if t.g != nil {
			t.g.alive--
		}
	}
	if len(t.children) > 0 {
		var reaper *Thread
		if t.ReaperTID > 0 {
			if r := e.threads[t.ReaperTID]; r != nil && !r.Invalid && r != t {
				reaper = r
			}
		}
		if reaper == nil {
			reaper = e.findReaper(t)
		}
		if reaper != nil && reaper.PID != t.PID && reaper.g != nil {
			reaper.g.reaper = true
		}
		for _, c := range t.children {
			if reaper != nil {
				c.PTID = reaper.TID
				reaper.addChild(c)
			} else {
				c.PTID = 0
			}
		}
		t.children = nil
	}
	e.stats.ThreadsRemoved++
	g := t.g
	if g != nil && g.alive <= 0 {
		// last thread: the whole process goes, main thread included
		if m := g.main; m != nil && m != t {
			if len(m.children) > 0 {
				m.ReaperTID = t.ReaperTID
				e.dropThreadReparent(m)
			} else {
				e.dropThread(m)
			}
		}
		e.dropThread(t)
		return
	}
	if t.IsMain() {
		return // stays, dead, for its threads
	}
	e.dropThread(t)
}

// dropThreadReparent removes a dead main thread that still has children.
func (e *Engine) dropThreadReparent(m *Thread) {
	r := e.findReaper(m)
	for _, c := range m.children {
		if r != nil {
			c.PTID = r.TID
			r.addChild(c)
		} else {
			c.PTID = 0
		}
	}
	m.children = nil
	e.dropThread(m)
}

// findReaper is libsinsp's find_new_reaper: another live thread of the process, else the
// nearest ancestor process marked as a reaper.
func (e *Engine) findReaper(t *Thread) *Thread {
	if t.g != nil {
		for _, o := range t.g.threads {
			if o != t && !o.Dead {
				return o
			}
		}
	}
	inNS := inPidNS(t)
	seen := map[int64]bool{t.TID: true}
	start := t
	if m := t.Main(); m != nil {
		start = m // a thread's parent is its creator in the same process: walk from the process
		seen[m.TID] = true
	}
	for p := e.Parent(start); p != nil; p = e.Parent(p) {
		if seen[p.TID] {
			break
		}
		seen[p.TID] = true
		if inPidNS(p) != inNS {
			break
		}
		if p.g != nil && p.g.reaper {
			for _, o := range p.g.threads {
				if !o.Dead {
					return o
				}
			}
		}
	}
	return nil
}

// ---- simple thread updates ----

func (e *Engine) onChdir(ctx *Context) {
	if r, ok := res(ctx.Ev); !ok || r < 0 {
		return
	}
	p, ok := pStr(ctx.Ev, "path")
	if !ok {
		return
	}
	e.updateCwd(ctx.Thread, p)
}

func (e *Engine) onFchdir(ctx *Context) {
	if r, ok := res(ctx.Ev); !ok || r < 0 || ctx.FD == nil {
		return
	}
	e.updateCwd(ctx.Thread, ctx.FD.Name)
}

// updateCwd is libsinsp update_cwd: the process's cwd, joined with a relative path.
func (e *Engine) updateCwd(t *Thread, p string) {
	m := t.Main()
	cwd := withSlash(concatPaths(m.Cwd, p))
	m.Cwd = cwd
	t.Cwd = cwd
}

func (e *Engine) onChroot(ctx *Context) {
	if r, ok := res(ctx.Ev); !ok || r != 0 {
		return
	}
	if p, ok := pStr(ctx.Ev, "path"); ok {
		ctx.Thread.Root = concatPaths(ctx.Thread.Main().Cwd, p)
	}
}

func (e *Engine) onSetID(ctx *Context, user bool) {
	ev := ctx.Ev
	if user {
		ctx.PrevUID = ctx.Thread.UID
	}
	if r, ok := res(ev); !ok || r != 0 {
		return
	}
	name := "uid"
	if !user {
		name = "gid"
	}
	v, ok := pUint(ev, "e"+name) // setres*, setre*
	if !ok {
		v, ok = pUint(ev, name) // setuid, setgid
	}
	if !ok || uint32(v) == 0xFFFFFFFF {
		return
	}
	if user {
		ctx.Thread.UID = uint32(v)
	} else {
		ctx.Thread.GID = uint32(v)
	}
}

func (e *Engine) onCapset(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	t := ctx.Thread
	t.CapInheritable, _ = pUint(ev, "cap_inheritable")
	t.CapPermitted, _ = pUint(ev, "cap_permitted")
	t.CapEffective, _ = pUint(ev, "cap_effective")
}

func (e *Engine) onSetsid(ctx *Context) {
	if r, ok := res(ctx.Ev); ok && r >= 0 {
		ctx.Thread.SID = r
	}
}

func (e *Engine) onSetpgid(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r != 0 {
		return
	}
	pid, _ := pInt(ev, "pid")
	pgid, _ := pInt(ev, "pgid")
	t := ctx.Thread
	if pid != 0 {
		if pid != t.PID && pid != t.VPID {
			t = e.threads[pid]
			if t == nil {
				return
			}
		}
	}
	if pgid == 0 {
		pgid = t.PID
	}
	t.Main().PGID = pgid
	t.PGID = pgid
}

const (
	prSetChildSubreaper = 0x24
	prGetChildSubreaper = 0x25
)

func (e *Engine) onPrctl(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 || ctx.Thread.Invalid || ctx.Thread.g == nil {
		return
	}
	opt, _ := pUint(ev, "option")
	switch opt {
	case prSetChildSubreaper, prGetChildSubreaper:
		v, _ := pInt(ev, "arg2_int")
		ctx.Thread.g.reaper = v != 0
	}
}

// maxCaps is every capability the kernel knows (up to CAP_CHECKPOINT_RESTORE, 40).
const maxCaps = 1<<len(event.CapNames) - 1

func (e *Engine) onUnshare(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	f, ok := pUint(ev, "flags")
	if !ok {
		f, _ = pUint(ev, "nstype")
	}
	if f&cloneNewUser == 0 {
		return
	}
	t := ctx.Thread
	t.CapInheritable, t.CapPermitted, t.CapEffective = maxCaps, maxCaps, maxCaps
}

func (e *Engine) onVM(ctx *Context) {
	ev := ctx.Ev
	t := ctx.Thread
	if v, ok := pUintN(ev, pnVMSize); ok {
		t.VMSizeKB = uint32(v)
	}
	if v, ok := pUintN(ev, pnVMSwap); ok {
		t.VMSwapKB = uint32(v)
		v, _ = pUintN(ev, pnVMRSS)
		t.VMRSSKB = uint32(v)
	}
}

func (e *Engine) onSwitch(ctx *Context) {
	ev := ctx.Ev
	t := ctx.Thread
	if t == nil {
		return
	}
	if int(ev.Type) >= event.NumEvents {
		return
	}
	ix := &switchParams[ev.Type] // a switch event per context switch: no lookups by name
	if !ev.Has(int(ix[4])) {
		return
	}
	t.PFMajor = ev.Uint(int(ix[0]))
	t.PFMinor = ev.Uint(int(ix[1]))
	m := t.Main()
	m.VMSizeKB = uint32(ev.Uint(int(ix[2])))
	m.VMRSSKB = uint32(ev.Uint(int(ix[3])))
	m.VMSwapKB = uint32(ev.Uint(int(ix[4])))
}

// switchParams holds, per event code, the indexes of the params onSwitch reads (-1: none).
var switchParams = func() (t [event.NumEvents][5]int8) {
	for c := range event.Table {
		for j, name := range []string{"pgft_maj", "pgft_min", "vm_size", "vm_rss", "vm_swap"} {
			t[c][j] = int8(event.Table[c].ParamIndex(name))
		}
	}
	return t
}()

const rlimitNoFile = 7

func (e *Engine) onRlimit(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	if rs, _ := pUint(ev, "resource"); rs != rlimitNoFile {
		return
	}
	if cur, ok := pInt(ev, "cur"); ok && cur != -1 {
		ctx.Thread.Main().FDLimit = cur
	}
}

func (e *Engine) onPrlimit(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r != 0 {
		return
	}
	if rs, ok := pUint(ev, "resource"); !ok || rs != rlimitNoFile {
		return
	}
	cur, ok := pInt(ev, "newcur")
	if !ok || cur == -1 {
		return
	}
	tid, _ := pInt(ev, "pid")
	t := ctx.Thread
	if tid != 0 {
		t = e.threads[tid]
	}
	if t == nil || t.Invalid {
		return
	}
	t.Main().FDLimit = cur
}

// setLimitsAndVM reads the fd limit and the memory counters that clone and execve exit events
// carry (page faults and sizes only in the versions that have vm_swap).
func setLimitsAndVM(t *Thread, ev *event.Event) {
	if v, ok := pInt(ev, "fdlimit"); ok {
		t.FDLimit = v
	}
	if _, ok := ev.Param("vm_swap"); ok {
		v, _ := pUint(ev, "pgft_maj")
		t.PFMajor = v
		v, _ = pUint(ev, "pgft_min")
		t.PFMinor = v
		v, _ = pUint(ev, "vm_size")
		t.VMSizeKB = uint32(v)
		v, _ = pUint(ev, "vm_rss")
		t.VMRSSKB = uint32(v)
		v, _ = pUint(ev, "vm_swap")
		t.VMSwapKB = uint32(v)
	}
}
