package sysfields

import (
	"net/netip"
	"path"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

func ipValue(a netip.Addr) fields.Value {
	a = a.Unmap()
	return fields.IPValue(netip.PrefixFrom(a, a.BitLen()))
}

func isSock(t uint8) bool {
	switch t {
	case event.FDIPv4Sock, event.FDIPv6Sock, event.FDIPv4Server, event.FDIPv6Server:
		return true
	}
	return false
}

func isServerSock(t uint8) bool { return t == event.FDIPv4Server || t == event.FDIPv6Server }

func isFileLike(t uint8) bool {
	return t == event.FDFile || t == event.FDFileV2 || t == event.FDDirectory
}

// ends of a socket fd.
type end uint8

const (
	endClient end = iota
	endServer
	endLocal
	endRemote
)

// sockEnd returns the address and port of one end of a socket fd.
func sockEnd(f *state.FD, e end) (netip.Addr, uint16, bool) {
	if !isSock(f.Type) {
		return netip.Addr{}, 0, false
	}
	if isServerSock(f.Type) {
		// a listening socket has only its bound (server, local) address
		if e == endServer || e == endLocal {
			return f.SrcIP, f.SrcPort, f.SrcIP.IsValid()
		}
		return netip.Addr{}, 0, false
	}
	switch e {
	case endLocal:
		if f.Server {
			e = endServer
		} else {
			e = endClient
		}
	case endRemote:
		if f.Server {
			e = endClient
		} else {
			e = endServer
		}
	}
	if e == endClient {
		return f.SrcIP, f.SrcPort, f.SrcIP.IsValid()
	}
	return f.DstIP, f.DstPort, f.DstIP.IsValid()
}

func (s *Source) fdField(name, arg string) (func(c *state.Context) (fields.Value, bool), error) {
	withFD := func(g func(c *state.Context, f *state.FD) (fields.Value, bool)) func(c *state.Context) (fields.Value, bool) {
		return func(c *state.Context) (fields.Value, bool) {
			f := s.ctxFD(c)
			if f == nil {
				return fields.Value{}, false
			}
			return g(c, f)
		}
	}
	ipOf := func(e end) func(c *state.Context) (fields.Value, bool) {
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			a, _, ok := sockEnd(f, e)
			if !ok {
				return fields.Value{}, false
			}
			return ipValue(a), true
		})
	}
	portOf := func(e end) func(c *state.Context) (fields.Value, bool) {
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			_, p, ok := sockEnd(f, e)
			if !ok {
				return fields.Value{}, false
			}
			return num(uint64(p))
		})
	}
	if strings.HasPrefix(name, "fdlist.") {
		return s.fdlistField(name), nil
	}
	switch name {
	case "fd.num":
		// libsinsp: the thread's last event fd for any fd-related event (-1 when there is
		// none, e.g. an open's enter or a failed open), no value for other events
		return func(c *state.Context) (fields.Value, bool) {
			if c.Thread == nil || !s.fdEvent(c) {
				return fields.Value{}, false
			}
			if c.FDNum < 0 {
				return inum(-1)
			}
			return inum(c.FDNum)
		}, nil
	case "fd.type":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			t := typeString(f.Type)
			if t == "" {
				return fields.Value{}, false
			}
			return str(t)
		}), nil
	case "fd.typechar":
		return func(c *state.Context) (fields.Value, bool) {
			f := s.ctxFD(c)
			if f == nil {
				// libsinsp: the type the syscall creates, for the events of fd-creating
				// syscalls without a fd (enter events, failed calls)
				if ch := s.creatorTypeChar(c.Ev); ch != 0 {
					return str(oneChar[ch])
				}
				if s.placeholderType(c) {
					return str("o")
				}
				return fields.Value{}, false
			}
			return str(oneChar[typeChar(f.Type)])
		}, nil
	case "fd.nameraw":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if f.NameRaw != "" {
				return str(f.NameRaw)
			}
			return str(f.Name)
		}), nil
	case "fd.directory", "fd.containerdirectory":
		named := withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			var d string
			switch {
			case f.Type == event.FDDirectory:
				d = f.Name
			case isFileLike(f.Type):
				if f.Name != s.dirIn {
					s.dirIn, s.dirOut = f.Name, dirOfFD(f)
				}
				d = s.dirOut
			case f.Type == event.FDUnixSock:
				if f.Name == "" {
					return fields.Value{}, false // an unnamed unix socket has none (sysdig 0.29)
				}
				d = dirOf(f.Name)
			default:
				return fields.Value{}, false
			}
			if name == "fd.containerdirectory" {
				d = rawContainerID(c) + ":" + d
			}
			return str(d)
		})
		return func(c *state.Context) (fields.Value, bool) {
			if s.ctxFD(c) == nil {
				v, ok := s.nullFDName(c)
				if !ok && s.placeholderFD(c) {
					// sysdig 0.29's empty placeholder fd: the directory of "" is "/"
					v, ok = str("/")
				} else if ok {
					v.S = dirOf(v.S)
				}
				if !ok {
					return v, false
				}
				d := v.S
				if name == "fd.containerdirectory" {
					d = rawContainerID(c) + ":" + d
				}
				return str(d)
			}
			return named(c)
		}, nil
	case "fd.filename":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if !isFileLike(f.Type) || f.Type == event.FDDirectory {
				return fields.Value{}, false
			}
			i := strings.LastIndexByte(f.Name, '/')
			return str(f.Name[i+1:])
		}), nil
	case "fd.ip", "fd.net":
		// libsinsp compare_ip: both addresses of a socket (the unspecified address of its
		// family before it has them), the bound address of a listening socket; no value for
		// other fds. The value shown is the client's address, else the server's.
		var both [2]fields.Value // reused: a Value is read before the next event
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if !isSock(f.Type) {
				return fields.Value{}, false
			}
			zero := netip.IPv4Unspecified()
			if f.Type == event.FDIPv6Sock || f.Type == event.FDIPv6Server {
				zero = netip.IPv6Unspecified()
			}
			orZero := func(a netip.Addr) fields.Value {
				if !a.IsValid() {
					return ipValue(zero)
				}
				return ipValue(a)
			}
			if isServerSock(f.Type) {
				return orZero(f.SrcIP), true
			}
			cl, _, okc := sockEnd(f, endClient)
			sv, _, _ := sockEnd(f, endServer)
			v := orZero(sv)
			if okc {
				v = ipValue(cl)
			}
			both[0], both[1] = orZero(f.SrcIP), orZero(f.DstIP)
			v.L = fields.ListOf(both[:])
			return v, true
		}), nil
	case "fd.cip", "fd.cnet":
		return ipOf(endClient), nil
	case "fd.sip", "fd.snet":
		return ipOf(endServer), nil
	case "fd.lip", "fd.lnet":
		return ipOf(endLocal), nil
	case "fd.rip", "fd.rnet":
		return ipOf(endRemote), nil
	case "fd.cproto", "fd.sproto", "fd.lproto", "fd.rproto":
		return withFD(s.protoOf(name)), nil
	case "fd.port", "fd.proto":
		// libsinsp compare_port: the client and server ports of a socket (0 before it has a
		// tuple), the bound port of a listening socket; no value for other fds. fd.proto
		// compares like fd.port (the ports, as numbers).
		var both [2]fields.Value // reused: a Value is read before the next event
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			switch f.Type {
			case event.FDIPv4Sock, event.FDIPv6Sock:
				both[0], both[1] = fields.Value{N: uint64(f.SrcPort)}, fields.Value{N: uint64(f.DstPort)}
				return fields.Value{N: uint64(f.SrcPort), L: fields.ListOf(both[:])}, true
			case event.FDIPv4Server, event.FDIPv6Server:
				return num(uint64(f.SrcPort))
			}
			return fields.Value{}, false
		}), nil
	case "fd.cport":
		return portOf(endClient), nil
	case "fd.sport":
		return portOf(endServer), nil
	case "fd.lport":
		return portOf(endLocal), nil
	case "fd.rport":
		return portOf(endRemote), nil
	case "fd.l4proto":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if !isSock(f.Type) {
				return fields.Value{}, false
			}
			n, ok := l4Name(f.L4Proto)
			if !ok {
				return fields.Value{}, false
			}
			return str(n)
		}), nil
	case "fd.sockfamily":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			switch {
			case isSock(f.Type):
				return str("ip")
			case f.Type == event.FDUnixSock:
				return str("unix")
			}
			return fields.Value{}, false
		}), nil
	case "fd.is_server":
		// libsinsp: a listening socket is; a connected one is when its server address is
		// one of this machine's (the interface list, see isLocal)
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			switch f.Type {
			case event.FDIPv4Server, event.FDIPv6Server:
				return boolean(true)
			case event.FDIPv4Sock, event.FDIPv6Sock:
				return boolean(s.isLocal(c, f, f.DstIP))
			}
			return boolean(false)
		}), nil
	case "fd.connected":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			return boolean(isSock(f.Type) && !isServerSock(f.Type) && f.DstIP.IsValid() && f.DstPort != 0)
		}), nil
	case "fd.name_changed":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) { return boolean(c.NameChanged()) }), nil
	case "fd.uid":
		// libsinsp: the thread id followed by the fd number (-1 when none)
		return func(c *state.Context) (fields.Value, bool) {
			if c.Thread == nil || !s.fdEvent(c) {
				return fields.Value{}, false
			}
			n := c.FDNum
			if n < 0 {
				n = -1
			}
			return str(formatInt(c.Ev.TID) + formatInt(n))
		}, nil
	case "fd.containername":
		// container.id and fd.name joined by ':', whatever fd.name gives: the name a failed
		// open names, and (sysdig 0.29) the empty placeholder's ""
		return func(c *state.Context) (fields.Value, bool) {
			var name string
			if n, ok := s.failedConnectName(c); ok {
				name = n
			} else if f := s.ctxFD(c); f != nil {
				name = f.Name
			} else if v, ok := s.nullFDName(c); ok {
				name = v.S
			} else if !s.placeholderFD(c) {
				return fields.Value{}, false
			}
			return str(rawContainerID(c) + ":" + name)
		}, nil
	case "fd.canonical":
		return s.canonicalField(), nil
	case "fd.realpath":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if f.RealPath != "" {
				return str(f.RealPath)
			}
			return str(f.Name)
		}), nil
	case "fd.ino":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			if !isFileLike(f.Type) {
				return fields.Value{}, false
			}
			return num(f.Ino)
		}), nil
	case "fd.dev", "fd.dev.major", "fd.dev.minor":
		// libsinsp: the fd's device number whatever its type; only opens record one, so
		// sockets, pipes and the like give 0
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			d := uint64(f.Dev)
			switch name {
			case "fd.dev.major":
				d = (d >> 20) & 0xfff // the kernel's internal dev_t (MAJOR = dev >> 20)
			case "fd.dev.minor":
				d &= 0xfffff
			}
			return num(d)
		}), nil
	case "fd.is_upper_layer":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			return boolean(f.OpenFlags&0x8000 != 0)
		}), nil
	case "fd.is_lower_layer":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			return boolean(f.OpenFlags&0x10000 != 0)
		}), nil
	case "fd.types":
		return withFD(func(c *state.Context, f *state.FD) (fields.Value, bool) {
			t := typeString(f.Type)
			if t == "" {
				return fields.Value{}, false
			}
			return fields.Value{S: t, L: fields.ListOf([]fields.Value{{S: t}})}, true
		}), nil
	}
	return nil, nil
}

// fdEvent reports whether the event creates, uses or destroys a fd (libsinsp extracts fd
// fields for those only).
func (s *Source) fdEvent(c *state.Context) bool {
	ev := c.Ev
	if ev.Info == nil || s.opts.Sysdig029 && notFDIn029(ev) {
		return false
	}
	return ev.Info.Flags&(event.EFCreatesFD|event.EFUsesFD|event.EFDestroysFD) != 0
}

// notFDIn029 reports events sysdig 0.29's table did not flag as using a fd.
func notFDIn029(ev *event.Event) bool {
	return ev.Info.Name == "mmap" || ev.Info.Name == "mmap2"
}

// placeholderFD reports, in Sysdig029 mode, an exit event of a fd-using syscall whose fd is
// not in the table: sysdig 0.29 then shows an empty fd (name "", typechar 'o').
func (s *Source) placeholderFD(c *state.Context) bool {
	ev := c.Ev
	return s.opts.Sysdig029 && c.Thread != nil && ev.Info != nil && ev.Info.Dir == 'X' && s.fdEvent(c) &&
		ev.Info.Flags&event.EFCreatesFD == 0 && !isOpenFamily(ev)
}

// placeholderType reports, in Sysdig029 mode, a fd event on a fd number missing from the
// table, for which sysdig 0.29 shows typechar 'o' (enter and exit alike).
func (s *Source) placeholderType(c *state.Context) bool {
	return s.placeholderFD(c) || s.opts.Sysdig029 && c.Thread != nil && c.Ev.Info != nil &&
		c.Ev.Info.Dir == 'E' && c.FDNum >= 0 && s.fdEvent(c) && !isOpenFamily(c.Ev)
}

// ctxFD is the fd the fields of c read.
func (s *Source) ctxFD(c *state.Context) *state.FD {
	if c.FD == nil || s.opts.Sysdig029 && c.Ev.Info != nil && notFDIn029(c.Ev) {
		return nil
	}
	return c.FD
}

// failedConnectName is libsinsp's fd.name for the exit of a connect that failed (EINPROGRESS
// included): the tuple the call names, rendered as evt.arg.tuple is, whatever the socket's
// own name (a unix socket whose connect found no listener keeps the name "" in the table).
func (s *Source) failedConnectName(c *state.Context) (string, bool) {
	ev := c.Ev
	if c.Thread == nil || ev.Info == nil || ev.Info.Dir != 'X' || ev.Info.Name != "connect" || !s.fdEvent(c) {
		return "", false
	}
	if res, ok := resParam(ev); !ok || res >= 0 {
		return "", false
	}
	i := ev.Index("tuple")
	if !ev.Has(i) {
		return "", false
	}
	v, _ := s.r.param(c, ev, i)
	return v, true
}

// creatorTypeChar is the type character libsinsp gives the events of a fd-creating syscall
// that have no fd (the enter event, a failed call): the kind of fd the syscall makes, 0 for
// other events. Sockets count as IPv4 whatever their family. Current libsinsp knows the open
// family, socket and accept, pipe2, eventfd2, signalfd and timerfd_create; sysdig 0.29 also
// pipe, eventfd and inotify_init, which Sysdig029 mode adds.
func (s *Source) creatorTypeChar(ev *event.Event) byte {
	if ev.Info == nil {
		return 0
	}
	switch ev.Info.Name {
	case "open", "openat", "openat2", "creat":
		return 'f'
	case "socket", "accept", "accept4":
		return '4'
	case "pipe2":
		return 'p'
	case "eventfd2":
		return 'e'
	case "signalfd", "signalfd4":
		return 's'
	case "timerfd_create":
		return 't'
	}
	if s.opts.Sysdig029 {
		switch ev.Info.Name {
		case "pipe":
			return 'p'
		case "eventfd":
			return 'e'
		case "inotify_init", "inotify_init1":
			return 'i'
		}
	}
	return 0
}

// isOpenFamily reports events that open a file by name.
func isOpenFamily(ev *event.Event) bool {
	if ev.Info == nil {
		return false
	}
	switch ev.Info.Name {
	case "open", "openat", "openat2", "creat":
		return true
	}
	return false
}

// nullFDName is libsinsp's fd.name for an open-family event without a fd (its enter, or a
// failed open): the path it names, made absolute against the dirfd or the cwd.
func (s *Source) nullFDName(c *state.Context) (fields.Value, bool) {
	ev := c.Ev
	if !isOpenFamily(ev) {
		return fields.Value{}, false
	}
	p, ok := ev.ParamStr("name")
	if !ok {
		return fields.Value{}, false
	}
	if strings.HasPrefix(p, "/") {
		return str(path.Clean(p))
	}
	base := ""
	if dfd, ok := ev.ParamInt("dirfd"); ok && dfd != atFDCWD && int32(dfd) != atFDCWD {
		if f := s.r.fdOf(c, dfd); f != nil {
			base = f.Name
		}
	} else if c.Thread != nil {
		base = c.Thread.Main().Cwd
	}
	if base == "" {
		return str(p)
	}
	return str(path.Join(base, p))
}

// dirOfFD is dirOf for an fd's name, with no check of a name the open found clean already.
func dirOfFD(f *state.FD) string {
	if f.CleanName {
		if i := strings.LastIndexByte(f.Name, '/'); i > 0 {
			return f.Name[:i]
		}
	}
	return dirOf(f.Name)
}

// dirOf is the directory part of a path as fd.directory shows it.
func dirOf(p string) string {
	if p == "" {
		return ""
	}
	// The fd names of opens are clean absolute paths already: their directory is the text
	// before the last slash, with no cleaning (path.Dir cleans, ~700 instructions a call).
	if i := strings.LastIndexByte(p, '/'); i > 0 && state.IsCleanAbs(p[:i]) {
		return p[:i]
	}
	return path.Dir(p)
}

func (s *Source) fsPathField(name string) (func(c *state.Context) (fields.Value, bool), error) {
	if name == "fs.path.canonical" {
		return s.linkCanonicalField(), nil
	}
	raw := strings.HasSuffix(name, "raw")
	which := strings.TrimSuffix(strings.TrimPrefix(name, "fs.path."), "raw")
	return func(c *state.Context) (fields.Value, bool) {
		ev := c.Ev
		if ev.Info == nil || ev.Info.Dir != 'X' {
			return fields.Value{}, false
		}
		var pname, dname string
		switch which {
		case "name":
			switch ev.Info.Name {
			case "mkdir", "rmdir", "unlink", "chmod", "open", "creat", "stat", "lstat", "chdir", "chroot",
				"truncate", "access":
				pname = firstPresent(ev, "path", "name", "filename")
			case "mkdirat", "unlinkat", "openat", "openat2", "fchmodat", "newfstatat", "fchownat":
				pname = firstPresent(ev, "path", "name", "filename", "pathname")
				dname = "dirfd"
			default:
				return fields.Value{}, false
			}
		case "source", "target":
			switch ev.Info.Name {
			case "rename", "link":
				pname = map[string]string{"source": "oldpath", "target": "newpath"}[which]
			case "renameat", "renameat2":
				pname = map[string]string{"source": "oldpath", "target": "newpath"}[which]
				dname = map[string]string{"source": "olddirfd", "target": "newdirfd"}[which]
			case "linkat":
				pname = map[string]string{"source": "oldpath", "target": "newpath"}[which]
				dname = map[string]string{"source": "olddir", "target": "newdir"}[which]
			case "symlink":
				pname = map[string]string{"source": "target", "target": "linkpath"}[which]
			case "symlinkat":
				pname = map[string]string{"source": "target", "target": "linkpath"}[which]
				if which == "target" {
					dname = "linkdirfd"
				}
			default:
				return fields.Value{}, false
			}
		}
		p, ok := ev.ParamStr(pname)
		if !ok {
			return fields.Value{}, false
		}
		if raw || strings.HasPrefix(p, "/") {
			if !raw {
				p = path.Clean(p)
			}
			return str(p)
		}
		base := ""
		if dname != "" {
			if dfd, ok := ev.ParamInt(dname); ok && dfd != atFDCWD && int32(dfd) != atFDCWD {
				if f := s.r.fdOf(c, dfd); f != nil {
					base = f.Name
				}
			}
		}
		if base == "" && c.Thread != nil {
			base = c.Thread.Cwd
			if base == "" && c.Thread.Main() != nil {
				base = c.Thread.Main().Cwd
			}
		}
		if base == "" {
			return str(p)
		}
		return str(path.Join(base, p))
	}, nil
}

func firstPresent(ev *event.Event, names ...string) string {
	for _, n := range names {
		if i := ev.Index(n); i >= 0 {
			return n
		}
	}
	return names[0]
}

// rawContainerID is the thread's container id as libsinsp stores it: empty on the host, so
// fd.containername and fd.containerdirectory of a host process start with ':'.
func rawContainerID(c *state.Context) string {
	if id := containerID(c); id != "host" {
		return id
	}
	return ""
}

func containerID(c *state.Context) string {
	if c.Thread == nil {
		return "host"
	}
	id := c.Thread.ContainerID
	if m := c.Thread.Main(); id == "" && m != nil {
		id = m.ContainerID
	}
	if id == "" {
		return "host"
	}
	return id
}

func (s *Source) userField(name string) (func(c *state.Context) (fields.Value, bool), error) {
	user := func(g func(u *event.User) (fields.Value, bool), uid func(t *state.Thread) uint32) func(c *state.Context) (fields.Value, bool) {
		return func(c *state.Context) (fields.Value, bool) {
			t := c.Thread
			if t == nil || s.st == nil {
				return fields.Value{}, false
			}
			u := s.st.UserRef(uid(t))
			if u == nil {
				return fields.Value{}, false
			}
			return g(u)
		}
	}
	thrUID := func(t *state.Thread) uint32 { return t.UID }
	// libsinsp reads user.* and group.* from the event's thread (threads may differ in ids)
	thread := func(c *state.Context) *state.Thread { return c.Thread }
	switch name {
	case "user.uid":
		return on(thread, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.UID)) }), nil
	case "user.prev_uid":
		return func(c *state.Context) (fields.Value, bool) {
			if c.Thread == nil {
				return fields.Value{}, false
			}
			if ev := c.Ev; ev != nil && ev.Info != nil && ev.Info.Dir == 'X' {
				switch ev.Info.Name {
				case "setuid", "setreuid", "setresuid":
					return num(uint64(c.PrevUID))
				}
			}
			return num(uint64(c.Thread.UID))
		}, nil
	case "user.name":
		return user(func(u *event.User) (fields.Value, bool) { return str(u.Name) }, thrUID), nil
	case "user.homedir":
		return user(func(u *event.User) (fields.Value, bool) { return str(u.Home) }, thrUID), nil
	case "user.shell":
		return user(func(u *event.User) (fields.Value, bool) { return str(u.Shell) }, thrUID), nil
	case "user.loginuid":
		return on(thread, func(t *state.Thread) (fields.Value, bool) { return inum(int64(int32(t.LoginUID))) }), nil
	case "user.loginname":
		return user(func(u *event.User) (fields.Value, bool) { return str(u.Name) },
			func(t *state.Thread) uint32 { return t.LoginUID }), nil
	case "group.gid":
		return on(thread, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.GID)) }), nil
	case "group.name":
		return func(c *state.Context) (fields.Value, bool) {
			t := c.Thread
			if t == nil || s.st == nil {
				return fields.Value{}, false
			}
			g, ok := s.st.Group(t.GID)
			if !ok {
				return fields.Value{}, false
			}
			return str(g.Name)
		}, nil
	}
	return nil, nil
}

// containerField binds the container fields but container.id (strField): metadata from the
// container runtime (pkg/container); the host is named "host".
func (s *Source) containerField(name, arg string) (func(c *state.Context) (fields.Value, bool), error) {
	return containerMetaField(name, arg), nil
}

// oneChar holds every one-byte string: fd.typechar without an allocation per event.
var oneChar = func() (t [256]string) {
	for i := range t {
		t[i] = string([]byte{byte(i)})
	}
	return t
}()
