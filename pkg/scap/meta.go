package scap

import (
	"fmt"
	"net/netip"

	"github.com/saker-sec/saker/pkg/event"
)

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (r *Reader) readMachine(c *cursor) {
	const what = "machine info"
	m := event.MachineInfo{}
	m.NumCPUs = c.u32(what)
	m.MemoryBytes = c.u64(what)
	m.MaxPID = c.u64(what)
	m.Hostname = cstr(c.bytes(128, what))
	if c.err != nil {
		return
	}
	// Older writers stop here; newer ones add boot time and flags.
	if c.left() >= 16 {
		m.BootTS = c.u64(what)
		m.Flags = c.u64(what)
	}
	r.machine, r.hasMachine = m, true
}

// plVersion returns 1..9 for a process list block type.
func plVersion(t uint32) int {
	switch t {
	case blockPLV1, blockPLV1Int:
		return 1
	case blockPLV2, blockPLV2Int:
		return 2
	case blockPLV3, blockPLV3Int:
		return 3
	case blockPLV4:
		return 4
	case blockPLV5:
		return 5
	case blockPLV6:
		return 6
	case blockPLV7:
		return 7
	case blockPLV8:
		return 8
	}
	return 9
}

// readProcList parses every process list version, field order as libscap's
// scap_read_proclist: V2 adds vm and page-fault counters, V3 env, V4 vtid/vpid/cgroups, V5 root,
// V6 sid, V7 exepath, V8 vpgid, V9 a per-entry length and the tail fields.
func (r *Reader) readProcList(c *cursor) {
	const what = "process list entry"
	v := plVersion(r.btype)
	for c.err == nil && c.left() >= 4 {
		start := c.off
		var subLen int
		if v == 9 {
			subLen = int(c.u32(what))
			if c.err == nil && (subLen < 4 || start+subLen > len(c.b)) {
				c.err = fmt.Errorf("%s at body byte %d: length %d exceeds remaining %d bytes", what, start, subLen, len(c.b)-start)
				return
			}
		}
		t := event.ThreadInfo{SID: -1, VPGID: -1, PGID: -1, VTID: -1, VPID: -1, LoginUID: 0xFFFFFFFF}
		t.TID = int64(c.u64(what))
		t.PID = int64(c.u64(what))
		t.PTID = int64(c.u64(what))
		if v >= 6 {
			t.SID = int64(c.u64(what))
		}
		if v >= 8 {
			t.VPGID = int64(c.u64(what))
		}
		t.Comm = c.str16(what)
		t.Exe = c.str16(what)
		if v >= 7 {
			t.ExePath = c.str16(what)
		}
		t.Args = c.list16(what)
		t.Cwd = c.str16(what)
		t.FDLimit = int64(c.u64(what))
		t.Flags = c.u32(what)
		t.UID = c.u32(what)
		t.GID = c.u32(what)
		if v >= 2 {
			t.VMSizeKB = c.u32(what)
			t.VMRSSKB = c.u32(what)
			t.VMSwapKB = c.u32(what)
			t.PFMajor = c.u64(what)
			t.PFMinor = c.u64(what)
			if v >= 3 {
				t.Env = c.list16(what)
			}
			if v >= 4 {
				t.VTID = int64(c.u64(what))
				t.VPID = int64(c.u64(what))
				t.Cgroups = c.list16(what)
				if v >= 5 {
					t.Root = c.str16(what)
				}
			}
		}
		if c.err != nil {
			return
		}
		if v == 9 {
			end := start + subLen
			fits := func(n int) bool { return c.off+n <= end }
			// Each trailing field is read only when the entry still holds it.
			u64 := func(dst *uint64) {
				if fits(8) {
					*dst = c.u64(what)
				}
			}
			u32 := func(dst *uint32) {
				if fits(4) {
					*dst = c.u32(what)
				}
			}
			flag := func(dst *bool) {
				if fits(1) {
					*dst = c.u8(what) != 0
				}
			}
			// libs 0.10 inserted pidns_init_start_ts and tty before loginuid: an entry with at
			// most 29 bytes left predates them.
			if end-c.off > 29 {
				u64(&t.PidNSInitStartTS)
				u32(&t.TTY)
			}
			u32(&t.LoginUID)
			flag(&t.ExeWritable)
			u64(&t.CapInheritable)
			u64(&t.CapPermitted)
			u64(&t.CapEffective)
			flag(&t.ExeUpperLayer)
			u64(&t.ExeIno)
			u64(&t.ExeInoCtime)
			u64(&t.ExeInoMtime)
			flag(&t.ExeFromMemfd)
			flag(&t.ExeLowerLayer)
			var pgid uint64
			if fits(8) {
				u64(&pgid)
				t.PGID = int64(pgid)
			}
			if c.off > end {
				c.err = fmt.Errorf("%s at body byte %d: read %d bytes past its length %d", what, start, c.off-start, subLen)
				return
			}
			c.off = end
		}
		r.threads = append(r.threads, t)
	}
}

func addr4(b []byte) netip.Addr {
	if len(b) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func addr16(b []byte) netip.Addr {
	if len(b) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}

func (r *Reader) readFDList(c *cursor) {
	const what = "fd list entry"
	v2 := r.btype == blockFDLV2
	tid := int64(c.u64("fd list tid"))
	for c.err == nil && c.left() >= 4 {
		start := c.off
		subLen := 0
		if v2 {
			subLen = int(c.u32(what))
			if c.err == nil && (subLen < 4 || start+subLen > len(c.b)) {
				c.err = fmt.Errorf("%s at body byte %d: length %d exceeds remaining %d bytes", what, start, subLen, len(c.b)-start)
				return
			}
		}
		fd := event.FDInfo{TID: tid}
		fd.FD = int64(c.u64(what))
		fd.Ino = c.u64(what)
		fd.Type = c.u8(what)
		switch fd.Type {
		case event.FDIPv4Sock:
			fd.SrcIP = addr4(c.bytes(4, what))
			fd.DstIP = addr4(c.bytes(4, what))
			fd.SrcPort = c.u16(what)
			fd.DstPort = c.u16(what)
			fd.L4Proto = c.u8(what)
		case event.FDIPv4Server:
			fd.SrcIP = addr4(c.bytes(4, what))
			fd.SrcPort = c.u16(what)
			fd.L4Proto = c.u8(what)
		case event.FDIPv6Sock:
			fd.SrcIP = addr16(c.bytes(16, what))
			fd.DstIP = addr16(c.bytes(16, what))
			fd.SrcPort = c.u16(what)
			fd.DstPort = c.u16(what)
			fd.L4Proto = c.u8(what)
		case event.FDIPv6Server:
			fd.SrcIP = addr16(c.bytes(16, what))
			fd.SrcPort = c.u16(what)
			fd.L4Proto = c.u8(what)
		case event.FDUnixSock:
			fd.UnixSrc = c.u64(what)
			fd.UnixDst = c.u64(what)
			fd.Name = c.str16(what)
		case event.FDFileV2:
			fd.OpenFlags = c.u32(what)
			fd.Name = c.str16(what)
			if subLen != 0 && c.off+4 <= start+subLen {
				fd.Dev = c.u32(what)
			}
		case event.FDUnknown:
		case event.FDFile, event.FDDirectory, event.FDFifo, event.FDEvent, event.FDUnsupported,
			event.FDSignalfd, event.FDEventpoll, event.FDInotify, event.FDTimerfd, event.FDNetlink,
			event.FDBPF, event.FDUserfaultfd, event.FDIoUring, event.FDMemfd, event.FDPidfd:
			fd.Name = c.str16(what)
		default:
			if !v2 {
				c.err = fmt.Errorf("%s at body byte %d: unknown fd type %d", what, start, fd.Type)
				return
			}
			// A newer writer's fd type: libscap keeps it as unsupported and skips by length.
			fd.Name = fmt.Sprintf("unknown-type:[%d]", fd.Type)
			fd.Type = event.FDUnsupported
			c.off = start + subLen
		}
		if c.err != nil {
			return
		}
		if v2 {
			if c.off > start+subLen {
				c.err = fmt.Errorf("%s at body byte %d: read %d bytes past its length %d", what, start, c.off-start, subLen)
				return
			}
			c.off = start + subLen
		}
		r.fds = append(r.fds, fd)
	}
}

func (r *Reader) readIfList(c *cursor) {
	const what = "interface list entry"
	v2 := r.btype == blockILV2
	var out []event.Interface
	for c.err == nil && c.left() >= 4 {
		start := c.off
		entEnd := -1
		if v2 {
			n := int(c.u32(what))
			entEnd = c.off + n
			if c.err == nil && entEnd > len(c.b) {
				c.err = fmt.Errorf("%s at body byte %d: length %d exceeds remaining %d bytes", what, start, n, len(c.b)-c.off)
				return
			}
		}
		typ := c.u16(what)
		nameLen := int(c.u16(what))
		var it event.Interface
		switch typ {
		case 1, 3:
			it.Addr = addr4(c.bytes(4, what))
			it.Netmask = addr4(c.bytes(4, what))
			it.Broadcast = addr4(c.bytes(4, what))
		case 2, 4:
			it.Addr = addr16(c.bytes(16, what))
			it.Netmask = addr16(c.bytes(16, what))
			it.Broadcast = addr16(c.bytes(16, what))
		default:
			if c.err == nil {
				c.err = fmt.Errorf("%s at body byte %d: unknown interface type %d", what, start, typ)
			}
			return
		}
		if typ <= 2 {
			it.LinkSpeed = c.u64(what)
		}
		it.Name = cstr(c.bytes(nameLen, what))
		if c.err != nil {
			return
		}
		if v2 {
			if c.off > entEnd {
				c.err = fmt.Errorf("%s at body byte %d: read past its length", what, start)
				return
			}
			c.off = entEnd
		}
		out = append(out, it)
	}
	r.ifaces = out
}

func (r *Reader) readUserList(c *cursor) {
	const what = "user list entry"
	v2 := r.btype == blockULV2
	var users []event.User
	var groups []event.Group
	for c.err == nil && c.left() >= 4 {
		start := c.off
		subLen := 0
		if v2 {
			subLen = int(c.u32(what))
			if c.err == nil && (subLen < 4 || start+subLen > len(c.b)) {
				c.err = fmt.Errorf("%s at body byte %d: length %d exceeds remaining %d bytes", what, start, subLen, len(c.b)-start)
				return
			}
		}
		kind := c.u8(what)
		if kind == 0 {
			var u event.User
			u.UID = c.u32(what)
			u.GID = c.u32(what)
			u.Name = c.str16(what)
			u.Home = c.str16(what)
			u.Shell = c.str16(what)
			users = append(users, u)
		} else {
			var g event.Group
			g.GID = c.u32(what)
			g.Name = c.str16(what)
			groups = append(groups, g)
		}
		if c.err != nil {
			return
		}
		if v2 {
			if c.off > start+subLen {
				c.err = fmt.Errorf("%s at body byte %d: read %d bytes past its length %d", what, start, c.off-start, subLen)
				return
			}
			c.off = start + subLen
		}
	}
	r.users, r.groups = users, groups
}
