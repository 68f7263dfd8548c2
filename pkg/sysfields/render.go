package sysfields

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// maxBufLen is the longest buffer param sysdig prints whole; a longer one is cut to
// maxBufLen-3 bytes followed by "...".
const maxBufLen = 80

// renderer renders event params the way sysdig 0.29's evt.args does. It resolves fds and pids
// against the state engine (nil: no resolution).
type renderer struct {
	st *state.Engine
	// rendered flag sets: few distinct values recur (O_RDONLY|O_CLOEXEC, ...), each rendered
	// once instead of built for every event
	flags map[flagKey]string
	// in front of the map, a direct-mapped table: hashing the table name for the map was
	// most of the cost of an evt.arg.flags test (the name compares by pointer here)
	flagSlots [64]flagSlot
}

type flagSlot struct {
	flagKey
	s string
}

type flagKey struct {
	table string
	t     event.ParamType
	v     uint32
}

// maxFlagCache bounds the flag cache (cleared when full).
const maxFlagCache = 4096

func (r *renderer) formatFlags(table string, t event.ParamType, v uint32) string {
	k := flagKey{table, t, v}
	slot := &r.flagSlots[(v^v>>8^v>>16^uint32(len(table))<<2^uint32(t))&63]
	if slot.flagKey == k && slot.table != "" {
		return slot.s
	}
	s, ok := r.flags[k]
	if !ok {
		s = r.newFlags(k)
	}
	slot.flagKey, slot.s = k, s
	return s
}

func (r *renderer) newFlags(k flagKey) string {
	table, t, v := k.table, k.t, k.v
	s := event.FormatFlags(table, t, v)
	if r.flags == nil || len(r.flags) >= maxFlagCache {
		r.flags = make(map[flagKey]string)
	}
	r.flags[k] = s
	return s
}

// param renders param i of ev: the value string and its resolved form ("" when none). For a
// fd, "3" and "<f>/etc/passwd"; for flags, "4097" and "O_RDONLY|O_CLOEXEC"; for an errno,
// "-2" and "ENOENT".
func (r *renderer) param(c *state.Context, ev *event.Event, i int) (val, res string) {
	info := ev.Info
	if info == nil || i >= len(info.Params) || !ev.Has(i) {
		return "", ""
	}
	p := &info.Params[i]
	b := ev.Params[i]
	switch p.Type {
	case event.PTInt16, event.PTInt32, event.PTInt64:
		v := ev.Int(i)
		if printFormat(info, i) == 'x' {
			return strings.ToUpper(strconv.FormatUint(uint64(v)&widthMask(len(b)), 16)), ""
		}
		return strconv.FormatInt(v, 10), ""
	case event.PTUint8, event.PTUint16, event.PTUint32, event.PTUint64:
		v := ev.Uint(i)
		switch printFormat(info, i) {
		case 'x':
			return strings.ToUpper(strconv.FormatUint(v, 16)), ""
		case 'o':
			return strconv.FormatUint(v, 8), ""
		}
		return strconv.FormatUint(v, 10), ""
	case event.PTFd, event.PTFd32:
		fd := ev.Int(i)
		val = strconv.FormatInt(fd, 10)
		if fd >= 0 {
			res = r.fdTag(c, fd)
		} else if fd == -100 {
			res = "AT_FDCWD" // the *at calls' dirfd, as sysdig prints it
		} else {
			res = errnoName(-fd)
		}
		return val, res
	case event.PTPid, event.PTPid32:
		pid := ev.Int(i)
		val = strconv.FormatInt(pid, 10)
		if r.st != nil && pid > 0 {
			if t := r.st.Thread(pid); t != nil {
				res = t.Comm
			}
		}
		return val, res
	case event.PTErrno:
		if p.Name == "res" && (info.Name == "mmap" || info.Name == "mmap2") {
			// sysdig 0.29's table has these as UINT64 printed in hex (an address)
			return strings.ToUpper(strconv.FormatUint(ev.Uint(i), 16)), ""
		}
		v := ev.Int(i)
		val = strconv.FormatInt(v, 10)
		if v < 0 {
			res = errnoName(-v)
		}
		return val, res
	case event.PTFspath, event.PTFsrelpath:
		// A relative path is shown with what it resolves to, as sysdig does
		// ("path=.x(/cwd/.x)"), and evt.arg.NAME is the resolved path.
		name := ev.Str(i)
		val = sanitize(name)
		if name == "" || name[0] == '/' || r.st == nil || c == nil || c.Thread == nil {
			return val, ""
		}
		dirfd, hasDirfd := int64(0), false
		if p.Type == event.PTFsrelpath {
			if j := dirfdParam(info, i); j >= 0 && ev.Has(j) {
				dirfd, hasDirfd = ev.Int(j), true
			}
		}
		return val, sanitize(r.st.ResolvePath(c.Thread, name, dirfd, hasDirfd))
	case event.PTCharbuf:
		return sanitize(ev.Str(i)), ""
	case event.PTBytebuf:
		return printableBuf(b), ""
	case event.PTSockaddr:
		if len(b) == 0 {
			return "NULL", ""
		}
		sa, ok := ev.SockAddr(i)
		if !ok {
			return "", ""
		}
		switch sa.Family {
		case event.AFInet, event.AFInet6:
			return ipPort(sa.Addr, sa.Port), ""
		case event.AFUnix:
			return sanitize(sa.Path), ""
		}
		return "family " + strconv.Itoa(int(sa.Family)), ""
	case event.PTSocktuple:
		if len(b) == 0 {
			return "NULL", ""
		}
		st, ok := ev.SockTuple(i)
		if !ok {
			return "", ""
		}
		return tupleString(st), ""
	case event.PTFdlist:
		ents, ok := ev.FDList(i, nil)
		if !ok {
			return "", ""
		}
		var sb strings.Builder
		for j, e := range ents {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strconv.FormatInt(e.FD, 10))
			sb.WriteByte(':')
			tch := byte('?')
			if f := r.fdOf(c, e.FD); f != nil {
				tch = typeChar(f.Type)
			}
			sb.WriteByte(tch)
			sb.WriteString(strconv.FormatUint(uint64(e.Flags), 16))
		}
		return sb.String(), ""
	case event.PTFlags8, event.PTFlags16, event.PTFlags32:
		v := uint32(ev.Uint(i))
		return strconv.FormatUint(uint64(v), 10), r.formatFlags(p.FlagTable, p.Type, v)
	case event.PTEnumflags8, event.PTEnumflags16, event.PTEnumflags32:
		// An enum names one value: the first entry equal to it, as sysdig 0.29 shows it
		// ("AF_LOCAL", not "AF_LOCAL|AF_UNIX"; bpf cmd 5 is BPF_PROG_LOAD, not a set of bits).
		v := uint32(ev.Uint(i))
		return strconv.FormatUint(uint64(v), 10), enumName(p.FlagTable, v)
	case event.PTMode:
		v := uint32(ev.Uint(i))
		return "0" + strconv.FormatUint(uint64(v), 8), r.formatFlags(p.FlagTable, p.Type, v)
	case event.PTSyscallid:
		id := ev.Uint(i)
		val = strconv.FormatUint(id, 10)
		if id < uint64(len(syscallNames)) {
			res = syscallNames[id]
		}
		return val, res
	case event.PTSigtype:
		s := ev.Uint(i)
		val = strconv.FormatUint(s, 10)
		if s < uint64(len(signalNames)) {
			res = signalNames[s]
		}
		return val, res
	case event.PTReltime:
		v := ev.Uint(i)
		return strconv.FormatUint(v, 10), strconv.FormatFloat(float64(v)/1e9, 'g', -1, 64) + "s"
	case event.PTAbstime:
		return strconv.FormatUint(ev.Uint(i), 10), ""
	case event.PTUid, event.PTGid, event.PTSigset:
		return strconv.FormatUint(ev.Uint(i), 10), ""
	case event.PTIpv4addr, event.PTIpv6addr:
		a, ok := ev.Addr(i)
		if !ok {
			return "", ""
		}
		return a.String(), ""
	case event.PTDyn:
		// a one-byte index into the param's dynamic table, then the value
		if len(b) < 1 {
			return "", ""
		}
		rest := b[1:]
		switch len(rest) {
		case 1, 2, 4, 8:
			var v uint64
			switch len(rest) {
			case 1:
				v = uint64(int8(rest[0]))
			case 2:
				v = uint64(int16(binary.LittleEndian.Uint16(rest)))
			case 4:
				v = uint64(int32(binary.LittleEndian.Uint32(rest)))
			case 8:
				v = binary.LittleEndian.Uint64(rest)
			}
			return strconv.FormatInt(int64(v), 10), ""
		}
		return printableBuf(rest), ""
	}
	return printableBuf(b), ""
}

// printFormats holds paramFormat per event code and param index.
var printFormats = func() (t [event.NumEvents][]byte) {
	for c := range event.Table {
		info := &event.Table[c]
		t[c] = make([]byte, len(info.Params))
		for j, p := range info.Params {
			t[c][j] = paramFormat[info.Name+":"+p.Name]
		}
	}
	return t
}()

// printFormat is how param i of an event of this row prints: 'x' hex, 'o' octal, 0 decimal.
func printFormat(info *event.Info, i int) byte {
	if int(info.Code) < len(printFormats) && i < len(printFormats[info.Code]) {
		return printFormats[info.Code][i]
	}
	return 0
}

func widthMask(n int) uint64 {
	if n >= 8 || n <= 0 {
		return math.MaxUint64
	}
	return 1<<(8*uint(n)) - 1
}

// fdOf looks fd up in the table of c's thread.
func (r *renderer) fdOf(c *state.Context, fd int64) *state.FD {
	if r.st == nil || c == nil || c.Thread == nil {
		return nil
	}
	return r.st.FDOf(c.Thread, fd)
}

// fdTag renders a fd as sysdig's resolved param string: "<f>/etc/passwd", "<4t>1.2.3.4:5->...".
func (r *renderer) fdTag(c *state.Context, fd int64) string {
	f := r.fdOf(c, fd)
	if f == nil {
		return ""
	}
	return fdTagOf(f)
}

func fdTagOf(f *state.FD) string {
	var sb strings.Builder
	sb.WriteByte('<')
	sb.WriteByte(typeChar(f.Type))
	switch f.Type {
	case event.FDIPv4Sock, event.FDIPv6Sock, event.FDIPv4Server, event.FDIPv6Server:
		if ch := l4Char(f.L4Proto); ch != 0 {
			sb.WriteByte(ch)
		}
	}
	sb.WriteByte('>')
	sb.WriteString(sanitize(f.Name))
	return sb.String()
}

// L4 protocols as scap stores them (scap_l4_proto).
const (
	l4Unknown = 0
	l4TCP     = 1
	l4UDP     = 2
	l4ICMP    = 3
	l4Raw     = 5
)

func l4Char(p uint8) byte {
	switch p {
	case l4TCP:
		return 't'
	case l4UDP:
		return 'u'
	case l4ICMP:
		return 'i'
	case l4Raw:
		return 'r'
	}
	return 0
}

func l4Name(p uint8) (string, bool) {
	switch p {
	case l4TCP:
		return "tcp", true
	case l4UDP:
		return "udp", true
	case l4ICMP:
		return "icmp", true
	case l4Raw:
		return "raw", true
	}
	return "", false
}

// typeChar is sinsp_fdinfo::get_typechar.
func typeChar(t uint8) byte {
	switch t {
	case event.FDFile, event.FDFileV2:
		return 'f'
	case event.FDDirectory:
		return 'd'
	case event.FDIPv4Sock, event.FDIPv4Server:
		return '4'
	case event.FDIPv6Sock, event.FDIPv6Server:
		return '6'
	case event.FDFifo:
		return 'p'
	case event.FDUnixSock:
		return 'u'
	case event.FDEvent:
		return 'e'
	case event.FDUnknown:
		return 'o'
	case event.FDUnsupported:
		return 'X'
	case event.FDSignalfd:
		return 's'
	case event.FDEventpoll:
		return 'l'
	case event.FDInotify:
		return 'i'
	case event.FDTimerfd:
		return 't'
	case event.FDNetlink:
		return 'n'
	case event.FDBPF:
		return 'b'
	case event.FDUserfaultfd:
		return 'u'
	case event.FDIoUring:
		return 'r'
	case event.FDMemfd:
		return 'm'
	case event.FDPidfd:
		return 'P'
	}
	return '?'
}

// typeString is sinsp_fdinfo::get_typestring; "" for types it has no name for.
func typeString(t uint8) string {
	switch t {
	case event.FDFile, event.FDFileV2:
		return "file"
	case event.FDDirectory:
		return "directory"
	case event.FDIPv4Sock, event.FDIPv4Server:
		return "ipv4"
	case event.FDIPv6Sock, event.FDIPv6Server:
		return "ipv6"
	case event.FDUnixSock:
		return "unix"
	case event.FDFifo:
		return "pipe"
	case event.FDEvent:
		return "event"
	case event.FDSignalfd:
		return "signalfd"
	case event.FDEventpoll:
		return "eventpoll"
	case event.FDInotify:
		return "inotify"
	case event.FDTimerfd:
		return "timerfd"
	case event.FDNetlink:
		return "netlink"
	case event.FDBPF:
		return "bpf"
	case event.FDUserfaultfd:
		return "userfaultfd"
	case event.FDIoUring:
		return "io_uring"
	case event.FDMemfd:
		return "memfd"
	case event.FDPidfd:
		return "pidfd"
	}
	return ""
}

// ipPort renders an address and port like sysdig: "1.2.3.4:80", "2001:db8::1:80" (no
// brackets); IPv4-mapped IPv6 addresses print as IPv4.
func ipPort(a netip.Addr, port uint16) string {
	return a.Unmap().String() + ":" + strconv.Itoa(int(port))
}

// tupleString renders a SOCKTUPLE like sysdig: "sip:sport->dip:dport", or for AF_UNIX
// "src->dst path" with the kernel addresses in hex.
func tupleString(st event.SockTuple) string {
	switch st.Family {
	case event.AFInet, event.AFInet6:
		return ipPort(st.SrcAddr, st.SrcPort) + "->" + ipPort(st.DstAddr, st.DstPort)
	case event.AFUnix:
		return strconv.FormatUint(st.UnixSrc, 16) + "->" + strconv.FormatUint(st.UnixDst, 16) + " " + sanitize(st.Path)
	}
	return "family " + strconv.Itoa(int(st.Family))
}

// printableBuf renders a buffer as sysdig's default (normal) print format: printable ASCII as
// is, anything else as '.', cut at maxBufLen bytes with "..." appended.
func printableBuf(b []byte) string {
	n := len(b)
	cut := n > maxBufLen
	if cut {
		n = maxBufLen - 3
	}
	out := make([]byte, n, n+3)
	for i := 0; i < n; i++ {
		c := b[i]
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	if cut {
		out = append(out, "..."...)
	}
	return string(out)
}

// sanitize drops non-printable characters from a name (libsinsp does so for fd names in
// resolved params).
func sanitize(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if s[j] >= 0x20 && s[j] != 0x7f {
					b.WriteByte(s[j])
				}
			}
			return b.String()
		}
	}
	return s
}

// args renders every param of ev as evt.args does: "name=value " or "name=value(resolved) "
// for each param, in order.
func (r *renderer) args(c *state.Context, ev *event.Event) string {
	if ev.Info == nil {
		return ""
	}
	if isGeneric(ev) {
		return "" // sysdig shows the syscall's name as the type and no params
	}
	var sb strings.Builder
	for i := 0; i < ev.NParams && i < len(ev.Info.Params); i++ {
		if !ev.Has(i) {
			continue
		}
		v, res := r.param(c, ev, i)
		sb.WriteString(ev.Info.Params[i].Name)
		sb.WriteByte('=')
		sb.WriteString(v)
		if res != "" {
			sb.WriteByte('(')
			sb.WriteString(res)
			sb.WriteByte(')')
		}
		sb.WriteByte(' ')
	}
	return sb.String()
}

// isGeneric reports whether ev is a generic syscall event (code 0/1, "syscall").
func isGeneric(ev *event.Event) bool {
	return ev.Type == event.SyscallSyscallE || ev.Type == event.SyscallSyscallX
}

// enumName is the first name of an enum table equal to v ("" when none).
func enumName(table string, v uint32) string {
	for _, f := range event.FlagTables[table] {
		if f.Value == v {
			return f.Name
		}
	}
	return ""
}

// dirfdParam is the index of the directory fd a FSRELPATH param i is relative to: the
// nearest fd param before it (dirfd, olddirfd/newdirfd, olddir/newdir, linkdirfd), or -1.
func dirfdParam(info *event.Info, i int) int {
	for j := i - 1; j >= 0; j-- {
		if t := info.Params[j].Type; t == event.PTFd || t == event.PTFd32 {
			return j
		}
	}
	return -1
}
