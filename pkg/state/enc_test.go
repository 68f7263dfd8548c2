package state

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// P are the params of a synthetic event, by name.
type P map[string]any

// mkEvent builds an event of the current version of name/dir from named params, encoding each
// value in its param's wire type (FORMAT.md).
func mkEvent(t testing.TB, ts uint64, tid int64, name string, dir byte, ps P) *event.Event {
	t.Helper()
	code := event.Current(name, dir)
	if code == 0xFFFF {
		t.Fatalf("no event %s %c", name, dir)
	}
	ev := &event.Event{TS: ts, TID: tid, Type: code, RawType: code, Info: &event.Table[code]}
	used := 0
	for i, p := range ev.Info.Params {
		v, ok := ps[p.Name]
		if !ok {
			continue
		}
		used++
		ev.Params[i] = encodeParam(t, p, v)
		ev.Present |= 1 << uint(i)
		ev.NParams = i + 1
	}
	if used != len(ps) {
		t.Fatalf("%s %c: some of %v are not params of the event", name, dir, ps)
	}
	return ev
}

func encodeParam(t testing.TB, p event.ParamInfo, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	var n uint64
	switch x := v.(type) {
	case int:
		n = uint64(int64(x))
	case int64:
		n = uint64(x)
	case uint32:
		n = uint64(x)
	case uint64:
		n = x
	case string:
		return append([]byte(x), 0)
	case []string:
		var b []byte
		for _, s := range x {
			b = append(b, s...)
			b = append(b, 0)
		}
		return b
	default:
		t.Fatalf("param %s: unsupported value %T", p.Name, v)
	}
	switch p.Type {
	case event.PTFd, event.PTErrno, event.PTPid, event.PTInt64, event.PTUint64, event.PTAbstime, event.PTReltime:
		return binary.LittleEndian.AppendUint64(nil, n)
	case event.PTInt16, event.PTUint16, event.PTFlags16, event.PTEnumflags16, event.PTPort, event.PTSyscallid:
		return binary.LittleEndian.AppendUint16(nil, uint16(n))
	case event.PTUint8, event.PTFlags8, event.PTEnumflags8, event.PTSigtype:
		return []byte{byte(n)}
	default:
		return binary.LittleEndian.AppendUint32(nil, uint32(n))
	}
}

// tuple4 encodes an AF_INET SOCKTUPLE.
func tuple4(src string, sport uint16, dst string, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := []byte{event.AFInet}
	b = append(b, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sport)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dport)
}

// tuple6 encodes an AF_INET6 SOCKTUPLE.
func tuple6(src string, sport uint16, dst string, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := []byte{event.AFInet6}
	b = append(b, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sport)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dport)
}

// tupleUnix encodes an AF_UNIX SOCKTUPLE.
func tupleUnix(src, dst uint64, path string) []byte {
	b := []byte{event.AFUnix}
	b = binary.LittleEndian.AppendUint64(b, src)
	b = binary.LittleEndian.AppendUint64(b, dst)
	return append(append(b, path...), 0)
}

// sockaddr4 encodes an AF_INET SOCKADDR.
func sockaddr4(ip string, port uint16) []byte {
	a := netip.MustParseAddr(ip).As4()
	b := append([]byte{event.AFInet}, a[:]...)
	return binary.LittleEndian.AppendUint16(b, port)
}

// world is an engine with a small process tree:
//
//	systemd(1) ─ sshd(10) ─ bash(100, cwd /home/u, fds 0,1,2 tty, 3 O_CLOEXEC file, 4 file)
type world struct {
	t  *testing.T
	e  *Engine
	ts uint64
}

func newWorld(t *testing.T, opts Options) *world {
	w := &world{t: t, e: New(opts), ts: 1_700_000_000_000_000_000}
	w.e.AddUser(event.User{UID: 0, Name: "root"})
	w.e.AddUser(event.User{UID: 1000, Name: "u"})
	w.e.AddThread(event.ThreadInfo{TID: 1, PID: 1, PTID: 0, Comm: "systemd", Exe: "/sbin/init", Cwd: "/"})
	w.e.AddThread(event.ThreadInfo{TID: 10, PID: 10, PTID: 1, Comm: "sshd", Exe: "/usr/sbin/sshd", Cwd: "/"})
	w.e.AddThread(event.ThreadInfo{TID: 100, PID: 100, PTID: 10, Comm: "bash", Exe: "/bin/bash",
		ExePath: "/usr/bin/bash", Args: []string{"-l"}, Cwd: "/home/u", UID: 1000, GID: 1000,
		Cgroups: []string{"cpu=/user.slice"}})
	for fd := int64(0); fd < 3; fd++ {
		w.e.AddFD(event.FDInfo{TID: 100, FD: fd, Type: event.FDFile, Name: "/dev/pts/0"})
	}
	w.e.AddFD(event.FDInfo{TID: 100, FD: 3, Type: event.FDFileV2, Name: "/etc/secret", OpenFlags: oCloexec | 1})
	w.e.AddFD(event.FDInfo{TID: 100, FD: 4, Type: event.FDFileV2, Name: "/var/log/x", OpenFlags: 2})
	return w
}

// ev processes one event and returns its context.
func (w *world) ev(tid int64, name string, dir byte, ps P) *Context {
	w.t.Helper()
	w.ts += 1000
	return w.e.Process(mkEvent(w.t, w.ts, tid, name, dir, ps))
}

func (w *world) fdName(tid, fd int64) string {
	f := w.e.FDOf(w.e.Thread(tid), fd)
	if f == nil {
		return "<none>"
	}
	return f.Name
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func fdNums(th *Thread) string {
	var s []string
	th.FDs(func(f *FD) bool { s = append(s, fmt.Sprint(f.Num)); return true })
	return strings.Join(s, ",")
}
