package state

import (
	"strings"

	"net/netip"
	"strconv"

	"github.com/saker-sec/saker/pkg/event"
)

// Open flags (scap encoding, file_flags).
const (
	oDirectory     = 0x400
	oCloexec       = 0x1000
	fdUpperLayer   = 0x8000
	fdLowerLayer   = 0x10000
	creatUpper     = 0x1 // creat_flags
	creatLower     = 0x2
	atFDCWD        = -100
	fcntlDupFD     = 0x1
	fcntlDupFDCExc = 0x1a
	closeRangeCExc = 0x4
	errInProgress  = -115
)

// parseDirfd is libsinsp parse_dirfd: the directory a relative path of an *at call starts in.
func (e *Engine) parseDirfd(t *Thread, name string, dirfd int64) (string, bool) {
	if len(name) > 0 && name[0] == '/' {
		return "", true
	}
	if dirfd == atFDCWD {
		return t.Main().Cwd, true
	}
	f := e.FDOf(t, dirfd)
	if f == nil {
		return "", false
	}
	return withSlash(f.Name), true
}

// onOpen handles open, openat, openat2, creat and open_by_handle_at exits.
func (e *Engine) onOpen(ctx *Context) {
	ev := ctx.Ev
	t := ctx.Thread
	fd, ok := res(ev)
	if !ok {
		return
	}
	name, clean, ok := e.pName(ev, pnName)
	if !ok {
		name, clean, ok = e.pName(ev, pnPath) // open_by_handle_at: absolute
	}
	if !ok || name == "" {
		name, clean = "<NA>", false
	}
	var flags uint32
	if v, ok := pUintN(ev, pnFlags); ok {
		flags = uint32(v)
	}
	if ev.Info.Name == "creat" {
		flags = 0
		if cf, ok := pUintN(ev, pnCreatFlags); ok {
			if cf&creatUpper != 0 {
				flags |= fdUpperLayer
			} else if cf&creatLower != 0 {
				flags |= fdLowerLayer
			}
		}
	}
	full := name // a clean absolute name is its own full path, whatever the directory
	switch {
	case clean:
	case ev.Info.Name == "openat" || ev.Info.Name == "openat2":
		if dirfd, ok := pIntN(ev, pnDirfd); ok {
			if dir, known := e.parseDirfd(t, name, dirfd); known {
				full = concatPaths(dir, name)
			} else {
				full = concatPaths("<UNKNOWN>", name)
			}
		} else {
			full = concatPaths("", name)
		}
	case ev.Info.Name == "open_by_handle_at":
		full = concatPaths("", name)
	default:
		full = concatPaths(t.Main().Cwd, name)
	}
	ctx.FDNum = fd
	if fd < 0 {
		return
	}
	f := e.newFD()
	*f = FD{Num: fd, Type: event.FDFileV2, Name: full, OpenFlags: flags, CleanName: clean}
	if name != "<NA>" {
		f.NameRaw = name // pStr copied it out of the event buffer
	}
	if flags&oDirectory != 0 {
		f.Type = event.FDDirectory
	}
	if v, ok := pUintN(ev, pnDev); ok {
		f.Dev = uint32(v)
	}
	if v, ok := pUintN(ev, pnIno); ok {
		f.Ino = v
	}
	if rp := ev.ExtString(event.ExtRealPath); rp != "" {
		f.RealPath = strings.Clone(rp) // the param aliases the event buffer
	}
	ctx.FD = e.addFD(t, f)
}

// Socket constants (Linux values, as the socket event carries them).
const (
	sockStream  = 1
	sockDgram   = 2
	sockRaw     = 3
	ipprotoIP   = 0
	ipprotoICMP = 1
	ipprotoTCP  = 6
	ipprotoUDP  = 17
	ipprotoRaw  = 255
	afNetlink   = 16
)

func (e *Engine) addSocket(ctx *Context, fd int64, domain, typ, proto uint32) *FD {
	f := e.newFD()
	*f = FD{Num: fd, Type: event.FDUnknown}
	switch domain {
	case event.AFUnix:
		f.Type = event.FDUnixSock
	case event.AFInet, event.AFInet6:
		f.Type = event.FDIPv4Sock
		if domain == event.AFInet6 {
			f.Type = event.FDIPv6Sock
		}
		l4 := uint8(L4Unknown)
		switch proto {
		case ipprotoTCP:
			l4 = L4TCP
		case ipprotoUDP:
			l4 = L4UDP
		case ipprotoIP:
			switch typ & 0xff {
			case sockStream:
				l4 = L4TCP
			case sockDgram:
				l4 = L4UDP
			}
		case ipprotoICMP:
			l4 = L4ICMP
		case ipprotoRaw:
			l4 = L4Raw
		}
		if typ == sockRaw && (proto == ipprotoTCP || proto == ipprotoUDP || proto == ipprotoICMP) {
			l4 = L4Raw
		}
		f.L4Proto = l4
	case afNetlink:
		f.Type = event.FDNetlink
	}
	ctx.FDNum = fd
	ctx.FD = e.addFD(ctx.Thread, f)
	return ctx.FD
}

func (e *Engine) onSocket(ctx *Context) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	d, _ := pUint(ev, "domain")
	ty, _ := pUint(ev, "type")
	p, _ := pUint(ev, "proto")
	e.addSocket(ctx, fd, uint32(d), uint32(ty), uint32(p))
}

func (e *Engine) onSocketpair(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	fd1, _ := pInt(ev, "fd1")
	fd2, _ := pInt(ev, "fd2")
	if fd1 == fd2 {
		return
	}
	src, _ := pUint(ev, "source")
	peer, _ := pUint(ev, "peer")
	f1 := e.newFD()
	*f1 = FD{Num: fd1, Type: event.FDUnixSock, UnixSrc: src, UnixDst: peer}
	f2 := e.cloneFD(f1)
	f2.Num = fd2
	ctx.FDNum = fd1
	ctx.FD = e.addFD(ctx.Thread, f1)
	e.addFD(ctx.Thread, f2)
}

// isMapped is libsinsp is_ipv4_mapped_ipv6: ::ffff:a.b.c.d, or :: (taken as IPv4 too).
func isMapped(a netip.Addr) bool { return a.Is4In6() || a == netip.IPv6Unspecified() }

// unmap turns a mapped address (see isMapped) into its IPv4 form.
func unmap(a netip.Addr) netip.Addr {
	if a == netip.IPv6Unspecified() {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}

func (e *Engine) onBind(ctx *Context) {
	ev := ctx.Ev
	f := ctx.FD
	if f == nil {
		return
	}
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	sa, ok := ev.SockAddr(pIdx(ev, pnAddr))
	if !ok {
		return
	}
	switch sa.Family {
	case event.AFInet, event.AFInet6:
		if sa.Port > 0 {
			if sa.Family == event.AFInet || isMapped(sa.Addr) {
				f.Type = event.FDIPv4Server
				f.SrcIP = unmap(sa.Addr)
			} else {
				f.Type = event.FDIPv6Server
				f.SrcIP = sa.Addr
			}
			f.SrcPort = sa.Port
			f.Server = true
		}
		f.Name = addrPort(sa.Addr, sa.Port)
	case event.AFUnix:
		f.Name = cloneStr(sa.Path)
	}
}

func (e *Engine) onConnect(ctx *Context) {
	ev := ctx.Ev
	f := ctx.FD
	if f == nil {
		return
	}
	r, ok := res(ev)
	if !ok {
		return
	}
	if r < 0 && r != errInProgress {
		if !e.opts.TrackConnectionStatus {
			return
		}
		f.Connected, f.Failed = false, true
	} else {
		f.Connected, f.Failed = true, false
	}
	st, ok := ev.SockTuple(pIdx(ev, pnTuple))
	if !ok {
		// no tuple (TCP fastopen): the address the call was given
		sa, ok := ev.SockAddr(pIdx(ev, pnAddr))
		if !ok {
			return
		}
		switch sa.Family {
		case event.AFInet, event.AFInet6:
			if sa.Family == event.AFInet || isMapped(sa.Addr) {
				f.Type = event.FDIPv4Sock
			} else {
				f.Type = event.FDIPv6Sock
			}
			f.DstIP, f.DstPort = unmapIf(f, sa.Addr), sa.Port
		default:
			f.Name = cloneStr(sa.Path)
		}
		if !f.Server {
			f.Client = true
		}
		return
	}
	switch st.Family {
	case event.AFInet, event.AFInet6:
		if st.Family == event.AFInet6 && !(isMapped(st.SrcAddr) && isMapped(st.DstAddr)) {
			f.Type = event.FDIPv6Sock
		} else {
			f.Type = event.FDIPv4Sock
		}
		changed := setAddrs(f, unmap(st.SrcAddr), st.SrcPort, unmap(st.DstAddr), st.DstPort, true)
		if f.Type == event.FDIPv6Sock {
			// keep v6 forms for v6 sockets
			f.SrcIP, f.DstIP = st.SrcAddr, st.DstAddr
		}
		if changed && f.Server && f.L4Proto == L4UDP {
			swapAddrs(f)
		}
		f.Name = tupleName(f)
	case event.AFUnix:
		if f.Type != event.FDUnixSock {
			return
		}
		f.UnixSrc, f.UnixDst = st.UnixSrc, st.UnixDst
		f.Name = unixName(st.UnixSrc, st.UnixDst, st.Path)
	default:
		return
	}
	if !f.Server && !f.Client {
		f.Client = true
	}
}

func unmapIf(f *FD, a netip.Addr) netip.Addr {
	if f.Type == event.FDIPv4Sock {
		return unmap(a)
	}
	return a
}

// setAddrs is libsinsp update_ipv4_addresses_and_ports: it reports false when the fd already
// holds the tuple (either way round).
func setAddrs(f *FD, sip netip.Addr, sport uint16, dip netip.Addr, dport uint16, overwriteDst bool) bool {
	if (f.SrcIP == sip && f.SrcPort == sport && f.DstIP == dip && f.DstPort == dport) ||
		(f.SrcIP == dip && f.SrcPort == dport && f.DstIP == sip && f.DstPort == sport) {
		return false
	}
	changed := false
	if f.SrcIP != sip {
		f.SrcIP, changed = sip, true
	}
	if f.SrcPort != sport {
		f.SrcPort, changed = sport, true
	}
	if !f.DstIP.IsValid() || f.DstIP.IsUnspecified() || (overwriteDst && f.DstIP != dip) {
		f.DstIP, changed = dip, true
	}
	if f.DstPort == 0 || (overwriteDst && f.DstPort != dport) {
		f.DstPort, changed = dport, true
	}
	return changed
}

func swapAddrs(f *FD) {
	f.SrcIP, f.DstIP = f.DstIP, f.SrcIP
	f.SrcPort, f.DstPort = f.DstPort, f.SrcPort
}

func (e *Engine) onAccept(ctx *Context) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	ctx.FDNum = fd
	st, ok := ev.SockTuple(pIdx(ev, pnTuple))
	if !ok {
		return
	}
	f := e.newFD()
	*f = FD{Num: fd, Server: true, Connected: true}
	switch st.Family {
	case event.AFInet, event.AFInet6:
		f.L4Proto = L4TCP
		if st.Family == event.AFInet || (isMapped(st.SrcAddr) && isMapped(st.DstAddr)) {
			f.Type = event.FDIPv4Sock
			f.SrcIP, f.DstIP = unmap(st.SrcAddr), unmap(st.DstAddr)
		} else {
			f.Type = event.FDIPv6Sock
			f.SrcIP, f.DstIP = st.SrcAddr, st.DstAddr
		}
		f.SrcPort, f.DstPort = st.SrcPort, st.DstPort
		f.Name = tupleName(f)
	case event.AFUnix:
		f.Type = event.FDUnixSock
		f.UnixSrc, f.UnixDst = st.UnixSrc, st.UnixDst
		f.Name = unixName(st.UnixSrc, st.UnixDst, st.Path)
	default:
		return
	}
	ctx.FD = e.addFD(ctx.Thread, f)
}

func (e *Engine) onClose(ctx *Context) {
	if r, ok := res(ctx.Ev); !ok || r < 0 || ctx.FD == nil {
		return
	}
	e.removeFD(ctx.Thread, ctx.FDNum)
}

func (e *Engine) onCloseRange(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r != 0 {
		return
	}
	first, _ := pUint(ev, "first")
	last, _ := pUint(ev, "last")
	flags, _ := pUint(ev, "flags")
	t := ctx.Thread
	if flags&0x2 != 0 { // CLOSE_RANGE_UNSHARE
		e.unshareFDs(t)
	}
	if t.g == nil || t.g.fds == nil {
		return
	}
	tb := t.g.fds
	for f := tb.head; f != nil; {
		next := f.next
		if f.Num >= int64(first) && uint64(f.Num) <= last {
			if flags&closeRangeCExc != 0 {
				f.OpenFlags |= oCloexec
			} else {
				e.removeFD(t, f.Num)
			}
		}
		f = next
	}
}

func (e *Engine) onDup(ctx *Context) {
	ev := ctx.Ev
	r, ok := res(ev)
	if !ok || r < 0 || ctx.FD == nil {
		return
	}
	old := ctx.FD
	if r == old.Num {
		return // dup2(fd, fd)
	}
	n := e.cloneFD(old)
	n.Num = r
	n.OpenFlags &^= oCloexec
	if ev.Info.Name == "dup3" {
		if fl, _ := pUint(ev, "flags"); fl&oCloexec != 0 {
			n.OpenFlags |= oCloexec
		}
	}
	if e.FDOf(ctx.Thread, r) != nil {
		e.removeFD(ctx.Thread, r)
	}
	ctx.FDNum = r
	ctx.FD = e.addFD(ctx.Thread, n)
	ctx.OldFDName = ""
}

func (e *Engine) onFcntl(ctx *Context) {
	ev := ctx.Ev
	cmd, _ := pUintN(ev, pnCmd)
	if cmd != fcntlDupFD && cmd != fcntlDupFDCExc {
		return
	}
	r, ok := res(ev)
	if !ok || r < 0 || ctx.FD == nil {
		return
	}
	n := e.cloneFD(ctx.FD)
	n.Num = r
	n.OpenFlags &^= oCloexec
	if cmd == fcntlDupFDCExc {
		n.OpenFlags |= oCloexec
	}
	ctx.FDNum = r
	ctx.FD = e.addFD(ctx.Thread, n)
	ctx.OldFDName = ""
}

func (e *Engine) onPipe(ctx *Context) {
	ev := ctx.Ev
	if r, ok := res(ev); !ok || r < 0 {
		return
	}
	fd1, _ := pInt(ev, "fd1")
	fd2, _ := pInt(ev, "fd2")
	ino, _ := pUint(ev, "ino")
	fl, _ := pUint(ev, "flags")
	f1 := e.newFD()
	*f1 = FD{Num: fd1, Type: event.FDFifo, Ino: ino, OpenFlags: uint32(fl)}
	e.addFD(ctx.Thread, f1)
	f2 := e.newFD()
	*f2 = FD{Num: fd2, Type: event.FDFifo, Ino: ino, OpenFlags: uint32(fl)}
	ctx.FDNum = fd2
	ctx.FD = e.addFD(ctx.Thread, f2)
}

func (e *Engine) onSingleFD(ctx *Context, typ uint8) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	f := e.newFD()
	*f = FD{Num: fd, Type: typ}
	switch ev.Info.Name {
	case "inotify_init1", "signalfd4", "eventfd2", "epoll_create1", "userfaultfd":
		if v, ok := pUint(ev, "flags"); ok {
			f.OpenFlags = uint32(v)
		}
	}
	ctx.FDNum = fd
	ctx.FD = e.addFD(ctx.Thread, f)
}

func (e *Engine) onMemfd(ctx *Context) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	name, _ := pStr(ev, "name")
	fl, _ := pUint(ev, "flags")
	ctx.FDNum = fd
	ctx.FD = e.addFD(ctx.Thread, &FD{Num: fd, Type: event.FDMemfd, Name: name, OpenFlags: uint32(fl)})
}

func (e *Engine) onPidfdOpen(ctx *Context) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	pid, _ := pInt(ev, "pid")
	fl, _ := pUint(ev, "flags")
	ctx.FDNum = fd
	ctx.FD = e.addFD(ctx.Thread, &FD{Num: fd, Type: event.FDPidfd, Name: "/proc/" + strconv.FormatInt(pid, 10),
		OpenFlags: uint32(fl), PID: pid})
}

func (e *Engine) onPidfdGetfd(ctx *Context) {
	ev := ctx.Ev
	fd, ok := res(ev)
	if !ok || fd < 0 {
		return
	}
	pidfd, _ := pInt(ev, "pid_fd")
	target, _ := pInt(ev, "target_fd")
	pf := e.FDOf(ctx.Thread, pidfd)
	if pf == nil || pf.Type != event.FDPidfd {
		return
	}
	tt := e.threads[pf.PID]
	src := e.FDOf(tt, target)
	if src == nil {
		return
	}
	n := e.cloneFD(src)
	n.Num = fd
	n.OpenFlags |= oCloexec // pidfd_getfd sets FD_CLOEXEC
	ctx.FDNum = fd
	ctx.FD = e.addFD(ctx.Thread, n)
}

// onSocketIO updates a datagram socket from the tuple of send*/recv* (libsinsp
// parse_write_exit/parse_read_exit), creating a UDP socket for a send on an unknown fd.
func (e *Engine) onSocketIO(ctx *Context, incoming bool) {
	ev := ctx.Ev
	r, ok := res(ev)
	if !ok {
		return
	}
	if f := ctx.FD; f != nil && (f.Type == event.FDIPv4Sock || f.Type == event.FDIPv6Sock) {
		if r >= 0 {
			f.Connected, f.Failed = true, false
		} else if e.opts.TrackConnectionStatus {
			f.Connected, f.Failed = false, true
		}
	}
	if r < 0 {
		return
	}
	ti := pIdx(ev, pnTuple)
	st, hasTuple := ev.SockTuple(ti)
	if ctx.FD == nil {
		if incoming || !hasTuple || ctx.FDNum < 0 {
			return
		}
		switch st.Family {
		case event.AFInet:
			e.addSocket(ctx, ctx.FDNum, event.AFInet, sockDgram, ipprotoUDP)
		case event.AFInet6:
			e.addSocket(ctx, ctx.FDNum, event.AFInet6, sockDgram, ipprotoUDP)
		default:
			return
		}
	}
	f := ctx.FD
	if !hasTuple || (f.Name != "" && f.L4Proto == L4TCP && (f.Type == event.FDIPv4Sock || f.Type == event.FDIPv6Sock)) {
		return
	}
	switch st.Family {
	case event.AFInet, event.AFInet6:
		var changed bool
		if st.Family == event.AFInet || (isMapped(st.SrcAddr) && isMapped(st.DstAddr)) {
			f.Type = event.FDIPv4Sock
			changed = setAddrs(f, unmap(st.SrcAddr), st.SrcPort, unmap(st.DstAddr), st.DstPort, false)
		} else {
			f.Type = event.FDIPv6Sock
			changed = setAddrs(f, st.SrcAddr, st.SrcPort, st.DstAddr, st.DstPort, false)
		}
		if !changed {
			return
		}
		if f.L4Proto == L4Unknown {
			f.L4Proto = L4UDP
		}
		e.fillFromInterfaces(f)
		if !f.Client && !f.Server {
			if incoming {
				f.Server = true
			} else {
				f.Client = true
			}
		}
		if (incoming && f.Client) || (!incoming && f.Server) {
			swapAddrs(f)
		}
		f.Name = tupleName(f)
	case event.AFUnix:
		f.Type = event.FDUnixSock
		f.UnixSrc, f.UnixDst = st.UnixSrc, st.UnixDst
		f.Name = unixName(st.UnixSrc, st.UnixDst, st.Path)
	}
}

// fillFromInterfaces is libsinsp sinsp_network_interfaces::update_fd: a datagram tuple with an
// unspecified end gets the address of the interface that would carry it.
func (e *Engine) fillFromInterfaces(f *FD) {
	if f.Type != event.FDIPv4Sock && f.Type != event.FDIPv6Sock {
		return
	}
	zero := func(a netip.Addr) bool { return !a.IsValid() || a.IsUnspecified() }
	if !zero(f.SrcIP) && !zero(f.DstIP) {
		return
	}
	v6 := f.Type == event.FDIPv6Sock
	if zero(f.SrcIP) {
		n := e.inferAddr(f.DstIP, v6)
		if n == f.DstIP && f.SrcPort == f.DstPort {
			return
		}
		f.SrcIP = n
	} else {
		n := e.inferAddr(f.SrcIP, v6)
		if n == f.SrcIP && f.SrcPort == f.DstPort {
			return
		}
		f.DstIP = n
	}
}

// inferAddr is libsinsp infer_ipv{4,6}_address: the interface address equal to dst, else one
// in dst's subnet, else the first non-loopback one, else the unspecified address.
func (e *Engine) inferAddr(dst netip.Addr, v6 bool) netip.Addr {
	fam := func(a netip.Addr) bool { return a.IsValid() && a.Is6() == v6 && !(v6 && a.Is4In6()) }
	for _, i := range e.ifaces {
		if fam(i.Addr) && i.Addr == dst {
			return i.Addr
		}
	}
	for _, i := range e.ifaces {
		if !fam(i.Addr) || !dst.IsValid() {
			continue
		}
		if v6 {
			a, d := i.Addr.As16(), dst.As16()
			if [8]byte(a[:8]) == [8]byte(d[:8]) {
				return i.Addr
			}
		} else if i.Netmask.Is4() && dst.Is4() {
			a, m, d := i.Addr.As4(), i.Netmask.As4(), dst.As4()
			if a[0]&m[0] == d[0]&m[0] && a[1]&m[1] == d[1]&m[1] && a[2]&m[2] == d[2]&m[2] && a[3]&m[3] == d[3]&m[3] {
				return i.Addr
			}
		}
	}
	for _, i := range e.ifaces {
		if fam(i.Addr) && !i.Addr.IsLoopback() {
			return i.Addr
		}
	}
	if v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// ResolvePath is the path a relative path argument names, as libsinsp resolves an event's
// FSPATH (against the thread's cwd) and FSRELPATH (against its dirfd argument; AT_FDCWD is
// the cwd) arguments for evt.arg: ".", ".." and repeated slashes cleaned, "<UNKNOWN>" before
// the name when the dirfd is not a known fd. An absolute name is returned cleaned.
func (e *Engine) ResolvePath(t *Thread, name string, dirfd int64, hasDirfd bool) string {
	if t == nil || name == "" {
		return concatPaths("", name)
	}
	if !hasDirfd {
		return concatPaths(t.Main().Cwd, name)
	}
	dir, known := e.parseDirfd(t, name, dirfd)
	if !known {
		return concatPaths("<UNKNOWN>", name)
	}
	return concatPaths(dir, name)
}
