package state

import (
	"bytes"
	"strings"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
)

// kind is what Process does with an event code.
type kind uint8

const (
	kNone kind = iota
	kClone
	kExec
	kProcExit
	kOpen
	kSocket
	kSocketpair
	kBind
	kConnect
	kAccept
	kClose
	kCloseRange
	kDup
	kFcntl
	kPipe
	kSingleFD // eventfd, signalfd, timerfd, inotify, epoll, userfaultfd, io_uring, bpf
	kMemfd
	kPidfdOpen
	kPidfdGetfd
	kChdir
	kFchdir
	kGetcwd
	kChroot
	kSetUID // effective uid param
	kSetGID
	kCapset
	kSetsid
	kSetpgid
	kPrctl
	kUnshare
	kWrite // send* with a tuple
	kRead  // recv* with a tuple
	kVM    // brk, mmap, munmap
	kSwitch
	kRlimit
	kPrlimit
)

// codeInfo is what Process precomputes per event code.
type codeInfo struct {
	k      kind
	fdType uint8 // kSingleFD: the fd type
	fdIdx  int8  // param holding the fd the event uses (-1 none)
	resIdx int8  // param holding the return value (-1 none)
	skip   bool  // EF_SKIPPARSERESET / meta events: no thread
	fsOp   fsOp  // renames, links, deletions (canon.go, deletions.go)
	// where the params the hot handlers read are (-1 none), by pn: no lookup by name
	pidx [numPN]int8
}

// pn names a param the handlers of frequent events read (pnNames), for codeInfo.pidx.
type pn uint8

const (
	pnName pn = iota
	pnPath
	pnFlags
	pnCreatFlags
	pnDirfd
	pnDev
	pnIno
	pnVMSize
	pnVMRSS
	pnVMSwap
	pnTuple
	pnAddr
	pnCmd
	numPN
)

var pnNames = [numPN]string{
	pnName: "name", pnPath: "path", pnFlags: "flags", pnCreatFlags: "creat_flags", pnDirfd: "dirfd",
	pnDev: "dev", pnIno: "ino", pnVMSize: "vm_size", pnVMRSS: "vm_rss", pnVMSwap: "vm_swap",
	pnTuple: "tuple", pnAddr: "addr", pnCmd: "cmd",
}

// pIdx is the index of param n in ev's layout (-1 when it has none), as ev.Index(pnNames[n]).
func pIdx(ev *event.Event, n pn) int { return int(codes[ev.Type].pidx[n]) }

// pUintN is pUint for a param named by pn.
func pUintN(ev *event.Event, n pn) (uint64, bool) {
	i := pIdx(ev, n)
	return ev.Uint(i), ev.Has(i)
}

// pIntN is pInt for a param named by pn.
func pIntN(ev *event.Event, n pn) (int64, bool) {
	i := pIdx(ev, n)
	return ev.Int(i), ev.Has(i)
}

var codes = func() (c [event.NumEvents]codeInfo) {
	exitKinds := map[string]kind{
		"clone": kClone, "fork": kClone, "vfork": kClone, "clone3": kClone,
		"execve": kExec, "execveat": kExec,
		"open": kOpen, "openat": kOpen, "openat2": kOpen, "creat": kOpen, "open_by_handle_at": kOpen,
		"socket": kSocket, "socketpair": kSocketpair, "bind": kBind, "connect": kConnect,
		"accept": kAccept, "accept4": kAccept,
		"close": kClose, "close_range": kCloseRange,
		"dup": kDup, "dup2": kDup, "dup3": kDup, "fcntl": kFcntl,
		"pipe": kPipe, "pipe2": kPipe,
		"memfd_create": kMemfd, "pidfd_open": kPidfdOpen, "pidfd_getfd": kPidfdGetfd,
		"chdir": kChdir, "fchdir": kFchdir, "getcwd": kGetcwd, "chroot": kChroot,
		"setuid": kSetUID, "setresuid": kSetUID, "setreuid": kSetUID,
		"setgid": kSetGID, "setresgid": kSetGID, "setregid": kSetGID,
		"capset": kCapset, "setsid": kSetsid, "setpgid": kSetpgid, "prctl": kPrctl,
		"unshare": kUnshare, "setns": kUnshare,
		"send": kWrite, "sendto": kWrite, "sendmsg": kWrite, "sendmmsg": kWrite,
		"recv": kRead, "recvfrom": kRead, "recvmsg": kRead, "recvmmsg": kRead,
		"brk": kVM, "mmap": kVM, "mmap2": kVM, "munmap": kVM,
		"getrlimit": kRlimit, "setrlimit": kRlimit, "prlimit": kPrlimit,
	}
	single := map[string]uint8{
		"eventfd": event.FDEvent, "eventfd2": event.FDEvent,
		"signalfd": event.FDSignalfd, "signalfd4": event.FDSignalfd,
		"timerfd_create": event.FDTimerfd,
		"inotify_init":   event.FDInotify, "inotify_init1": event.FDInotify,
		"epoll_create": event.FDEventpoll, "epoll_create1": event.FDEventpoll,
		"userfaultfd":    event.FDUserfaultfd,
		"io_uring_setup": event.FDIoUring,
		"bpf":            event.FDBPF,
	}
	for i := range event.Table {
		in := &event.Table[i]
		ci := codeInfo{fdIdx: -1, resIdx: -1}
		ci.skip = in.Flags&event.EFSkipParseReset != 0
		ci.fsOp = fsOpOf(in)
		if in.Dir == 'X' {
			if k, ok := exitKinds[in.Name]; ok {
				ci.k = k
			} else if t, ok := single[in.Name]; ok {
				ci.k = kSingleFD
				ci.fdType = t
			}
		} else if in.Name == "procexit" {
			ci.k = kProcExit
		} else if in.Name == "switch" {
			ci.k = kSwitch
		}
		switch in.Name {
		case "container", "user_added", "user_deleted", "group_added", "group_deleted",
			"pluginevent", "asyncevent":
			ci.skip = true
		}
		for n, name := range pnNames {
			ci.pidx[n] = int8(in.ParamIndex(name))
		}
		ci.resIdx = int8(in.ParamIndex("res"))
		if ci.resIdx < 0 && in.Flags&event.EFCreatesFD != 0 {
			ci.resIdx = int8(in.ParamIndex("fd"))
		}
		// The fd an event uses (libsinsp get_{enter,exit}_event_fd_location).
		if in.Flags&event.EFUsesFD != 0 {
			switch {
			case in.Name == "copy_file_range":
				ci.fdIdx = int8(in.ParamIndex("fdin"))
			case in.ParamIndex("fd") >= 0 && !(in.Dir == 'X' && in.Flags&event.EFCreatesFD != 0 && int(ci.resIdx) == in.ParamIndex("fd")):
				ci.fdIdx = int8(in.ParamIndex("fd"))
			default:
				for j, p := range in.Params {
					if (p.Type == event.PTFd || p.Type == event.PTFd32) && p.Name != "res" {
						ci.fdIdx = int8(j)
						break
					}
				}
			}
		}
		c[i] = ci
	}
	return c
}()

// Process updates the state with ev and returns the context its fields are extracted from
// (reused: valid until the next call).
func (e *Engine) Process(ev *event.Event) *Context {
	if e.chores { // (one test per event for the three, rarely true)
		e.doChores()
	}
	e.stats.Events++
	ctx := &e.ctx
	// field by field: a struct assignment is a bulk write barrier while the GC marks
	ctx.Ev, ctx.Thread, ctx.FD, ctx.FDNum = ev, nil, nil, -1
	ctx.OldFDName, ctx.PrevUID = "", 0
	if ev.Info == nil || int(ev.Type) >= len(codes) {
		return ctx
	}
	ci := &codes[ev.Type]
	if ci.skip {
		if ev.Info.Name == "container" && e.opts.Containers != nil && ev.NParams > 0 {
			if in, err := container.DecodeJSON(ev.Bytes(0)); err == nil {
				e.opts.Containers.Add(in)
			}
		}
		if ev.Info.Name == "procinfo" {
			ctx.Thread = e.threadCached(ev.TID)
		}
		return ctx
	}
	t := e.threadCached(ev.TID)
	if t == nil && ci.k != kClone && ci.k != kProcExit && ci.k != kSwitch {
		t = e.lazyThread(ev.TID)
	}
	if t != nil {
		e.touch(t)
	}
	ctx.Thread = t
	if ci.fdIdx >= 0 && ev.Has(int(ci.fdIdx)) {
		ctx.FDNum = ev.Int(int(ci.fdIdx))
		ctx.FD = e.FDOf(t, ctx.FDNum)
		if ctx.FD != nil {
			ctx.OldFDName = ctx.FD.Name
		}
	}
	switch ci.k {
	case kNone:
	case kProcExit:
		e.onProcExit(ctx)
	case kSwitch:
		e.onSwitch(ctx)
	default:
		if ev.Info.Dir == 'X' && t != nil {
			e.dispatchExit(ctx, ci)
		} else if ev.Info.Dir == 'X' && ci.k == kClone {
			e.onClone(ctx)
		}
	}
	if ci.fsOp != fsNone || ci.k == kOpen {
		e.fsEvent(ctx, ci)
	}
	return ctx
}

// doChores does what the previous events left for the next one: the FDs they released go to
// the pool, the threads they ended are removed, and loaded metadata is linked.
func (e *Engine) doChores() {
	e.chores = false
	if len(e.released) > 0 {
		e.recycle()
	}
	if len(e.pendingRemove) > 0 {
		e.flushRemovals()
	}
	if e.needLink {
		e.link()
	}
}

func (e *Engine) dispatchExit(ctx *Context, ci *codeInfo) {
	switch ci.k {
	case kClone:
		e.onClone(ctx)
	case kExec:
		e.onExec(ctx)
	case kOpen:
		e.onOpen(ctx)
	case kSocket:
		e.onSocket(ctx)
	case kSocketpair:
		e.onSocketpair(ctx)
	case kBind:
		e.onBind(ctx)
	case kConnect:
		e.onConnect(ctx)
	case kAccept:
		e.onAccept(ctx)
	case kClose:
		e.onClose(ctx)
	case kCloseRange:
		e.onCloseRange(ctx)
	case kDup:
		e.onDup(ctx)
	case kFcntl:
		e.onFcntl(ctx)
	case kPipe:
		e.onPipe(ctx)
	case kSingleFD:
		e.onSingleFD(ctx, ci.fdType)
	case kMemfd:
		e.onMemfd(ctx)
	case kPidfdOpen:
		e.onPidfdOpen(ctx)
	case kPidfdGetfd:
		e.onPidfdGetfd(ctx)
	case kChdir, kGetcwd:
		e.onChdir(ctx)
	case kFchdir:
		e.onFchdir(ctx)
	case kChroot:
		e.onChroot(ctx)
	case kSetUID:
		e.onSetID(ctx, true)
	case kSetGID:
		e.onSetID(ctx, false)
	case kCapset:
		e.onCapset(ctx)
	case kSetsid:
		e.onSetsid(ctx)
	case kSetpgid:
		e.onSetpgid(ctx)
	case kPrctl:
		e.onPrctl(ctx)
	case kUnshare:
		e.onUnshare(ctx)
	case kWrite:
		e.onSocketIO(ctx, false)
	case kRead:
		e.onSocketIO(ctx, true)
	case kVM:
		e.onVM(ctx)
	case kRlimit:
		e.onRlimit(ctx)
	case kPrlimit:
		e.onPrlimit(ctx)
	}
}

// res returns the event's return value and whether it is present.
func res(ev *event.Event) (int64, bool) {
	ci := &codes[ev.Type]
	if ci.resIdx < 0 || !ev.Has(int(ci.resIdx)) {
		return 0, false
	}
	return ev.Int(int(ci.resIdx)), true
}

// pInt returns the named param as a signed integer (0 when absent).
func pInt(ev *event.Event, name string) (int64, bool) { return ev.ParamInt(name) }

func pUint(ev *event.Event, name string) (uint64, bool) { return ev.ParamUint(name) }

// pStr returns the named param as a string copy.
func pStr(ev *event.Event, name string) (string, bool) {
	s, ok := ev.ParamStr(name)
	if !ok {
		return "", false
	}
	return cloneStr(s), true
}

// maxInterned bounds the engine's table of file names (cleared when full).
const maxInterned = 4096

// pName is pStr for the file names of opens: a name seen before (the same libraries and
// configuration files are opened again and again) is the copy kept then, not a new one. clean
// reports that the name is an absolute path in clean form (IsCleanAbs), which the table
// remembers with the name: an open of such a name needs no path resolution.
func (e *Engine) pName(ev *event.Event, n pn) (name string, clean, ok bool) {
	i := pIdx(ev, n)
	if !ev.Has(i) {
		return "", false, false
	}
	b := ev.Params[i]
	if j := bytes.IndexByte(b, 0); j >= 0 {
		b = b[:j] // as ev.Str cuts it
	}
	if v, hit := e.interned[string(b)]; hit { // the conversion does not allocate
		return v.name, v.clean, true
	}
	if len(b) == 0 {
		return "", false, true
	}
	v := internedName{name: string(b)}
	v.clean = IsCleanAbs(v.name)
	if e.interned == nil || len(e.interned) >= maxInterned {
		e.interned = make(map[string]internedName)
	}
	e.interned[v.name] = v
	return v.name, v.clean, true
}

// internedName is an entry of the engine's table of file names (pName).
type internedName struct {
	name  string
	clean bool // IsCleanAbs(name)
}

func cloneStr(s string) string { return strings.Clone(s) } // one allocation ("" none)

// pStrings returns a NUL-separated BYTEBUF param as copied strings (nil, false when absent or
// empty), split as event.Event.Strings splits it. The strings share one copy of the param
// (an exec's args or env are kept, and dropped, together): two allocations whatever their
// number. The args, env and cgroups params equal to the last ones read return the same
// slice again (a process's execs and clones mostly repeat its env and cgroups): nothing in
// the engine or its callers changes a thread's Args, Env or Cgroups in place.
func (e *Engine) pStrings(ev *event.Event, name string) ([]string, bool) {
	i := ev.Index(name)
	if !ev.Has(i) || len(ev.Params[i]) == 0 {
		return nil, false
	}
	b := ev.Params[i]
	var m *strsMemo
	switch name {
	case "args":
		m = &e.strsMemo[0]
	case "env":
		m = &e.strsMemo[1]
	case "cgroups":
		m = &e.strsMemo[2]
	}
	if m != nil && m.raw == string(b) {
		return m.strs, true
	}
	buf := string(b)
	raw := buf
	n := strings.Count(buf, "\x00")
	if buf[len(buf)-1] != 0 {
		n++
	}
	out := make([]string, 0, n)
	for len(buf) > 0 {
		j := strings.IndexByte(buf, 0)
		if j < 0 {
			out = append(out, buf)
			break
		}
		out = append(out, buf[:j])
		buf = buf[j+1:]
	}
	if m != nil {
		m.raw, m.strs = raw, out
	}
	return out, true
}

// strsMemo is the last value of a strings param pStrings read: the param's bytes and the
// strings it gave.
type strsMemo struct {
	raw  string
	strs []string
}
