package state

import (
	"fmt"
	"testing"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
)

func cloneParams(res int64, tid, pid, ptid int64, flags uint32, comm string) P {
	return P{"res": res, "exe": "/bin/bash", "args": []string{"-c", "ls"}, "tid": tid, "pid": pid,
		"ptid": ptid, "cwd": "/ignored", "fdlimit": int64(1024), "comm": comm, "flags": flags,
		"uid": uint32(1000), "gid": uint32(1000)}
}

func TestCloneCallerThenChild(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := w.ev(100, "clone", 'X', cloneParams(200, 100, 100, 10, 0, "bash"))
	if ctx.Thread == nil || ctx.Thread.TID != 100 {
		t.Fatalf("caller context thread = %+v", ctx.Thread)
	}
	c := w.e.Thread(200)
	if c == nil {
		t.Fatal("child 200 not created by the caller's exit")
	}
	eq(t, "child PID", c.PID, int64(200))
	eq(t, "child PTID", c.PTID, int64(100))
	eq(t, "child cwd (inherited, not the event's)", c.Main().Cwd, "/home/u/")
	eq(t, "child exepath (inherited)", c.ExePath, "/usr/bin/bash")
	eq(t, "child comm", c.Comm, "bash")
	eq(t, "child uid", c.UID, uint32(1000))
	eq(t, "child fds (copied)", fdNums(c), "0,1,2,3,4")
	eq(t, "parent of child", w.e.Parent(c).Comm, "bash")
	eq(t, "grandparent", w.e.Parent(w.e.Parent(c)).Comm, "sshd")

	// The copy is private: opening in the child does not show in the parent.
	w.ev(200, "openat", 'X', P{"fd": int64(5), "dirfd": int64(atFDCWD), "name": "new.txt", "flags": uint32(1)})
	eq(t, "child fd 5", w.fdName(200, 5), "/home/u/new.txt")
	eq(t, "parent fd 5", w.fdName(100, 5), "<none>")

	// The child's own clone exit, shortly after: the entry is kept.
	ctx = w.ev(200, "clone", 'X', cloneParams(0, 200, 200, 100, 0, "bash"))
	if ctx.Thread != c || w.e.Thread(200) != c {
		t.Error("child-side clone exit replaced the entry the caller made")
	}
	eq(t, "fds after child exit", fdNums(c), "0,1,2,3,4,5")
}

func TestCloneChildFirstAndThreads(t *testing.T) {
	w := newWorld(t, Options{})
	// child side first (e.g. sched_proc_fork ordering): built from the parent (ptid)
	ctx := w.ev(300, "clone", 'X', cloneParams(0, 300, 300, 100, 0, "bash"))
	c := w.e.Thread(300)
	if c == nil || ctx.Thread != c {
		t.Fatal("child-first clone did not create the child")
	}
	eq(t, "child cwd", c.Cwd, "/home/u/")
	eq(t, "child fds", fdNums(c), "0,1,2,3,4")
	eq(t, "inverted flag", c.Flags&cloneInverted != 0, true)
	// then the caller's exit: nothing replaced
	w.ev(100, "clone", 'X', cloneParams(300, 100, 100, 10, 0, "bash"))
	if w.e.Thread(300) != c {
		t.Error("caller exit replaced a child-made entry")
	}

	// a thread: same process, shared fd table, main thread's parent
	w.ev(100, "clone", 'X', cloneParams(101, 100, 100, 10, cloneThread|cloneFiles|0x8000, "bash"))
	th := w.e.Thread(101)
	if th == nil {
		t.Fatal("thread 101 not created")
	}
	eq(t, "thread PID", th.PID, int64(100))
	eq(t, "thread main", th.Main().TID, int64(100))
	w.ev(101, "socket", 'X', P{"fd": int64(7), "domain": uint32(event.AFInet), "type": uint32(2), "proto": uint32(0)})
	eq(t, "fd opened by the thread, seen by the main thread", w.e.FDOf(w.e.Thread(100), 7) != nil, true)

	// CLONE_FILES without CLONE_THREAD: a new process sharing the table
	w.ev(100, "clone", 'X', cloneParams(400, 100, 100, 10, cloneFiles, "bash"))
	p := w.e.Thread(400)
	w.ev(400, "close", 'X', P{"res": int64(0), "fd": int64(4)})
	eq(t, "fd 4 closed by a CLONE_FILES child is gone in the parent", w.fdName(100, 4), "<none>")
	if p.g.fds != w.e.Thread(100).g.fds {
		t.Error("CLONE_FILES child does not share the table")
	}
}

func TestExecClosesCloexecAndUnshares(t *testing.T) {
	w := newWorld(t, Options{})
	// 500 shares bash's table (CLONE_FILES|CLONE_VFORK, as posix_spawn would without VFORK here)
	w.ev(100, "clone", 'X', cloneParams(500, 100, 100, 10, cloneFiles, "bash"))
	ctx := w.ev(500, "execve", 'X', P{"res": int64(0), "exe": "ls", "args": []string{"-la", "/tmp"},
		"tid": int64(500), "pid": int64(500), "ptid": int64(100), "cwd": "/home/u", "comm": "ls",
		"trusted_exepath": "/usr/bin/ls", "env": []string{"HOME=/home/u"}, "uid": uint32(1000),
		"flags": uint32(exeUpperLayer), "cgroups": []string{"cpu=/docker/" + hex64}})
	th := ctx.Thread
	eq(t, "comm", th.Comm, "ls")
	eq(t, "exe", th.Exe, "ls")
	eq(t, "exepath", th.ExePath, "/usr/bin/ls")
	eq(t, "args", len(th.Args), 2)
	eq(t, "env", th.Env[0], "HOME=/home/u")
	eq(t, "exec ts", th.ExecTS, w.ts)
	eq(t, "upper layer", th.ExeUpperLayer, true)
	eq(t, "container", th.ContainerID, hex64[:12])
	eq(t, "fds after exec (3 was O_CLOEXEC)", fdNums(th), "0,1,2,4")
	eq(t, "parent still has its O_CLOEXEC fd", w.fdName(100, 3), "/etc/secret")
	if th.g.fds == w.e.Thread(100).g.fds {
		t.Error("exec did not unshare the fd table")
	}
	// a failed exec changes nothing
	w.ev(500, "execve", 'X', P{"res": int64(-2), "exe": "nope", "comm": "nope"})
	eq(t, "comm after failed exec", th.Comm, "ls")
}

const hex64 = "3f2a9c1e5b7d4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"

func TestDupCloseFcntl(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := w.ev(100, "dup", 'X', P{"res": int64(5), "oldfd": int64(3)})
	eq(t, "dup ctx fd", ctx.FDNum, int64(5))
	eq(t, "dup name", w.fdName(100, 5), "/etc/secret")
	eq(t, "dup clears O_CLOEXEC", w.e.FDOf(w.e.Thread(100), 5).OpenFlags&oCloexec, uint32(0))
	w.ev(100, "dup2", 'X', P{"res": int64(4), "oldfd": int64(3), "newfd": int64(4)})
	eq(t, "dup2 replaced fd 4", w.fdName(100, 4), "/etc/secret")
	w.ev(100, "dup3", 'X', P{"res": int64(6), "oldfd": int64(4), "newfd": int64(6), "flags": uint32(oCloexec)})
	eq(t, "dup3 O_CLOEXEC", w.e.FDOf(w.e.Thread(100), 6).OpenFlags&oCloexec, uint32(oCloexec))
	w.ev(100, "fcntl", 'X', P{"res": int64(9), "fd": int64(6), "cmd": uint32(fcntlDupFDCExc)})
	eq(t, "F_DUPFD_CLOEXEC", w.fdName(100, 9), "/etc/secret")
	w.ev(100, "fcntl", 'X', P{"res": int64(0), "fd": int64(6), "cmd": uint32(3)}) // F_SETFD: no new fd
	eq(t, "F_SETFD adds nothing", fdNums(w.e.Thread(100)), "0,1,2,3,5,4,6,9")

	before := w.e.FDOf(w.e.Thread(100), 9)
	ctx = w.ev(100, "close", 'X', P{"res": int64(0), "fd": int64(9)})
	if ctx.FD != before || ctx.FD.Name != "/etc/secret" {
		t.Errorf("close context fd = %+v, want the fd as it was", ctx.FD)
	}
	eq(t, "close name_changed", ctx.NameChanged(), false)
	eq(t, "closed fd gone", w.fdName(100, 9), "<none>")
	ctx = w.ev(100, "close", 'X', P{"res": int64(-9), "fd": int64(9)})
	if ctx.FD != nil || ctx.FDNum != 9 {
		t.Errorf("close of an unknown fd: FD %v num %d", ctx.FD, ctx.FDNum)
	}
	// close_range: 4..6 closed
	w.ev(100, "close_range", 'X', P{"res": int64(0), "first": uint32(4), "last": uint32(6), "flags": uint32(0)})
	eq(t, "after close_range", fdNums(w.e.Thread(100)), "0,1,2,3")
}

func TestSocketsConnectAccept(t *testing.T) {
	w := newWorld(t, Options{})
	w.ev(100, "socket", 'X', P{"fd": int64(5), "domain": uint32(event.AFInet), "type": uint32(1), "proto": uint32(0)})
	f := w.e.FDOf(w.e.Thread(100), 5)
	eq(t, "socket type", f.Type, uint8(event.FDIPv4Sock))
	eq(t, "socket l4", f.L4Proto, uint8(L4TCP))
	ctx := w.ev(100, "connect", 'X', P{"res": int64(0), "fd": int64(5),
		"tuple": tuple4("10.0.0.2", 40000, "93.184.216.34", 80), "addr": sockaddr4("93.184.216.34", 80)})
	eq(t, "connect name", ctx.FD.Name, "10.0.0.2:40000->93.184.216.34:80")
	eq(t, "connect client", ctx.FD.Client, true)
	eq(t, "connect name_changed", ctx.NameChanged(), true)
	eq(t, "dst port", ctx.FD.DstPort, uint16(80))
	ctx = w.ev(100, "write", 'X', P{"res": int64(3), "fd": int64(5), "data": []byte("abc"), "size": uint32(3)})
	eq(t, "write name_changed", ctx.NameChanged(), false)

	// a failed connect (not EINPROGRESS) changes nothing
	w.ev(100, "socket", 'X', P{"fd": int64(6), "domain": uint32(event.AFInet), "type": uint32(1), "proto": uint32(6)})
	w.ev(100, "connect", 'X', P{"res": int64(-111), "fd": int64(6), "tuple": tuple4("10.0.0.2", 40001, "10.0.0.9", 22)})
	eq(t, "refused connect name", w.fdName(100, 6), "")

	// server: bind, accept4
	w.ev(10, "socket", 'X', P{"fd": int64(3), "domain": uint32(event.AFInet6), "type": uint32(1), "proto": uint32(6)})
	w.ev(10, "bind", 'X', P{"res": int64(0), "fd": int64(3), "addr": append([]byte{event.AFInet6}, append(make([]byte, 16), 22, 0)...)})
	srv := w.e.FDOf(w.e.Thread(10), 3)
	eq(t, "bound type", srv.Type, uint8(event.FDIPv4Server)) // :: is taken as IPv4 like libsinsp
	eq(t, "bound port", srv.SrcPort, uint16(22))
	eq(t, "bound server", srv.Server, true)
	ctx = w.ev(10, "accept4", 'X', P{"fd": int64(8), "tuple": tuple6("2001:db8::5", 51000, "2001:db8::1", 22), "flags": int64(0)})
	eq(t, "accept fd", ctx.FDNum, int64(8))
	eq(t, "accept name", ctx.FD.Name, "2001:db8::5:51000->2001:db8::1:22")
	eq(t, "accept type", ctx.FD.Type, uint8(event.FDIPv6Sock))
	eq(t, "accept server", ctx.FD.Server, true)
	eq(t, "accept client ip is src", ctx.FD.SrcIP.String(), "2001:db8::5")

	// unix connect
	w.ev(100, "socket", 'X', P{"fd": int64(7), "domain": uint32(event.AFUnix), "type": uint32(1), "proto": uint32(0)})
	ctx = w.ev(100, "connect", 'X', P{"res": int64(0), "fd": int64(7), "tuple": tupleUnix(0xffff1, 0xffff2, "/run/docker.sock")})
	eq(t, "unix name", ctx.FD.Name, "ffff1->ffff2 /run/docker.sock")

	// sendto on an fd never seen: a UDP socket is inferred from the tuple
	ctx = w.ev(100, "sendto", 'X', P{"res": int64(10), "fd": int64(11), "data": []byte("x"), "size": uint32(1),
		"tuple": tuple4("10.0.0.2", 5353, "8.8.8.8", 53)})
	if ctx.FD == nil {
		t.Fatal("sendto on an unknown fd did not infer a socket")
	}
	eq(t, "inferred l4", ctx.FD.L4Proto, uint8(L4UDP))
	eq(t, "inferred name", ctx.FD.Name, "10.0.0.2:5353->8.8.8.8:53")
	eq(t, "inferred role", ctx.FD.Client, true)
	// a reply read on it keeps the client's view
	ctx = w.ev(100, "recvfrom", 'X', P{"res": int64(10), "fd": int64(11), "data": []byte("y"), "size": uint32(1),
		"tuple": tuple4("8.8.8.8", 53, "10.0.0.2", 5353)})
	eq(t, "name after the reply", ctx.FD.Name, "10.0.0.2:5353->8.8.8.8:53")
	eq(t, "reply name_changed", ctx.NameChanged(), false)
}

func TestPipesAndSingleFDs(t *testing.T) {
	w := newWorld(t, Options{})
	w.ev(100, "pipe2", 'X', P{"res": int64(0), "fd1": int64(5), "fd2": int64(6), "ino": uint64(4242), "flags": uint32(oCloexec)})
	th := w.e.Thread(100)
	for _, n := range []int64{5, 6} {
		f := w.e.FDOf(th, n)
		if f == nil || f.Type != event.FDFifo || f.Ino != 4242 {
			t.Errorf("pipe end %d = %+v", n, f)
		}
	}
	w.ev(100, "eventfd2", 'X', P{"res": int64(7), "flags": uint32(0), "initval": uint64(0)})
	w.ev(100, "epoll_create1", 'X', P{"res": int64(8), "flags": uint32(1)})
	w.ev(100, "memfd_create", 'X', P{"fd": int64(9), "name": "payload", "flags": uint32(1)})
	w.ev(100, "pidfd_open", 'X', P{"fd": int64(10), "pid": int64(10), "flags": uint32(0)})
	w.ev(100, "signalfd4", 'X', P{"res": int64(12), "flags": uint32(0), "fd": int64(-1), "mask": uint32(0)})
	w.ev(100, "inotify_init1", 'X', P{"res": int64(13), "flags": uint32(0)})
	w.ev(100, "timerfd_create", 'X', P{"res": int64(14), "clockid": uint32(0), "flags": uint32(0)})
	want := map[int64]uint8{7: event.FDEvent, 8: event.FDEventpoll, 9: event.FDMemfd, 10: event.FDPidfd,
		12: event.FDSignalfd, 13: event.FDInotify, 14: event.FDTimerfd}
	for n, typ := range want {
		f := w.e.FDOf(th, n)
		if f == nil || f.Type != typ {
			t.Errorf("fd %d = %+v, want type %d", n, f, typ)
		}
	}
	eq(t, "memfd name", w.fdName(100, 9), "payload")
	eq(t, "pidfd name", w.fdName(100, 10), "/proc/10")
	// exec drops the pipes (O_CLOEXEC), the epoll (EPOLL_CLOEXEC) and the memfd (MFD_CLOEXEC)
	w.ev(100, "execve", 'X', P{"res": int64(0), "exe": "/bin/true", "comm": "true", "pid": int64(100)})
	eq(t, "fds after exec", fdNums(th), "0,1,2,4,7,10,12,13,14")
}

func TestOpenPathResolution(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := w.ev(100, "openat", 'X', P{"fd": int64(5), "dirfd": int64(atFDCWD), "name": "a/../b.txt", "flags": uint32(1)})
	eq(t, "relative to cwd", ctx.FD.Name, "/home/u/b.txt")
	eq(t, "open name_changed", ctx.NameChanged(), true)
	eq(t, "open type", ctx.FD.Type, uint8(event.FDFileV2))
	w.ev(100, "openat", 'X', P{"fd": int64(6), "dirfd": int64(atFDCWD), "name": "/etc", "flags": uint32(oDirectory | 1)})
	eq(t, "directory type", w.e.FDOf(w.e.Thread(100), 6).Type, uint8(event.FDDirectory))
	ctx = w.ev(100, "openat2", 'X', P{"fd": int64(7), "dirfd": int64(6), "name": "passwd", "flags": uint32(1), "mode": uint32(0), "resolve": uint32(0)})
	eq(t, "relative to dirfd", ctx.FD.Name, "/etc/passwd")
	ctx = w.ev(100, "openat", 'X', P{"fd": int64(8), "dirfd": int64(77), "name": "shadow", "flags": uint32(1)})
	eq(t, "unknown dirfd", ctx.FD.Name, "<UNKNOWN>shadow")
	ctx = w.ev(100, "openat", 'X', P{"fd": int64(-2), "dirfd": int64(atFDCWD), "name": "missing", "flags": uint32(1)})
	if ctx.FD != nil || w.e.FDOf(w.e.Thread(100), -2) != nil {
		t.Error("a failed open added an fd")
	}
	w.ev(100, "open", 'X', P{"fd": int64(9), "name": "rel.txt", "flags": uint32(1), "mode": uint32(0)})
	eq(t, "open relative", w.fdName(100, 9), "/home/u/rel.txt")
	w.ev(100, "creat", 'X', P{"fd": int64(10), "name": "/tmp/./c", "mode": uint32(0), "creat_flags": uint32(creatUpper)})
	eq(t, "creat", w.fdName(100, 10), "/tmp/c")
	eq(t, "creat upper layer", w.e.FDOf(w.e.Thread(100), 10).OpenFlags&fdUpperLayer != 0, true)

	// chdir / fchdir
	w.ev(100, "chdir", 'X', P{"res": int64(0), "path": "../v"})
	eq(t, "cwd after chdir", w.e.Thread(100).Cwd, "/home/v/")
	w.ev(100, "openat", 'X', P{"fd": int64(11), "dirfd": int64(atFDCWD), "name": "f", "flags": uint32(1)})
	eq(t, "open after chdir", w.fdName(100, 11), "/home/v/f")
	w.ev(100, "fchdir", 'X', P{"res": int64(0), "fd": int64(6)})
	eq(t, "cwd after fchdir", w.e.Thread(100).Cwd, "/etc/")
	w.ev(100, "chdir", 'X', P{"res": int64(-2), "path": "/nope"})
	eq(t, "failed chdir", w.e.Thread(100).Cwd, "/etc/")
}

// TestOpenRepeatedNames opens the same names twice, the second time from the engine's table
// of names (which remembers whether a name needs resolving): a clean absolute name is the
// path whatever the directory, an unclean or relative one is resolved again every time,
// against the directory of that open.
func TestOpenRepeatedNames(t *testing.T) {
	w := newWorld(t, Options{})
	w.ev(100, "openat", 'X', P{"fd": int64(3), "dirfd": int64(atFDCWD), "name": "/etc", "flags": uint32(oDirectory)})
	fd := int64(10)
	open := func(call string, dirfd int64, name string) string {
		fd++
		p := P{"fd": fd, "name": name, "flags": uint32(1)}
		if call == "openat" {
			p["dirfd"] = dirfd
		} else {
			p["mode"] = uint32(0)
		}
		return w.ev(100, call, 'X', p).FD.Name
	}
	for round := range 2 {
		for _, c := range []struct{ call, name, want string }{
			{"open", "/usr/lib/libc.so.6", "/usr/lib/libc.so.6"},
			{"open", "/usr//lib/./libm.so.6", "/usr/lib/libm.so.6"},
			{"open", "/usr/lib/x/../libz.so", "/usr/lib/libz.so"},
			{"open", "/tmp/dir/", "/tmp/dir"},
			{"open", "lib/../rel.txt", "/home/u/rel.txt"},
		} {
			eq(t, fmt.Sprintf("round %d: %s(%q)", round, c.call, c.name), open(c.call, 0, c.name), c.want)
		}
		eq(t, fmt.Sprintf("round %d: openat(/etc, passwd)", round), open("openat", 3, "passwd"), "/etc/passwd")
		eq(t, fmt.Sprintf("round %d: openat(cwd, passwd)", round), open("openat", atFDCWD, "passwd"), "/home/u/passwd")
		eq(t, fmt.Sprintf("round %d: openat(unknown, /etc/passwd)", round), open("openat", 77, "/etc/passwd"), "/etc/passwd")
		eq(t, fmt.Sprintf("round %d: openat(unknown, passwd)", round), open("openat", 77, "passwd"), "<UNKNOWN>passwd")
		eq(t, fmt.Sprintf("round %d: openat(/etc, /a/./b)", round), open("openat", 3, "/a/./b"), "/a/b")
	}
	// the name kept is the event's, raw (fd.nameraw)
	eq(t, "raw name", w.e.FDOf(w.e.Thread(100), 12).NameRaw, "/usr//lib/./libm.so.6")
}

func TestProcExitReparenting(t *testing.T) {
	w := newWorld(t, Options{})
	// bash(100) -> a(200) -> b(300)
	w.ev(100, "clone", 'X', cloneParams(200, 100, 100, 10, 0, "a"))
	w.ev(200, "clone", 'X', cloneParams(300, 200, 200, 100, 0, "b"))
	eq(t, "b's parent", w.e.Parent(w.e.Thread(300)).TID, int64(200))
	ctx := w.ev(200, "procexit", 'E', P{"status": int64(0), "ret": int64(0), "sig": uint32(0), "core": uint32(0)})
	if ctx.Thread == nil || ctx.Thread.TID != 200 {
		t.Fatal("procexit context lost its thread")
	}
	if w.e.Thread(200) == nil {
		t.Error("thread removed before its procexit was fully processed")
	}
	w.ev(300, "getuid", 'X', P{"uid": uint32(0)}) // next event: the removal happens
	if w.e.Thread(200) != nil {
		t.Error("exited thread still in the table")
	}
	eq(t, "b reparented to init", w.e.Thread(300).PTID, int64(1))

	// a subreaper ancestor wins over init
	w.ev(100, "prctl", 'X', P{"res": int64(0), "option": uint32(prSetChildSubreaper), "arg2_int": int64(1)})
	w.ev(100, "clone", 'X', cloneParams(210, 100, 100, 10, 0, "c"))
	w.ev(210, "clone", 'X', cloneParams(310, 210, 210, 100, 0, "d"))
	w.ev(210, "procexit", 'E', P{"status": int64(0)})
	w.ev(310, "getuid", 'X', P{"uid": uint32(0)})
	eq(t, "d reparented to the subreaper", w.e.Thread(310).PTID, int64(100))

	// the reaper the kernel names wins
	w.ev(100, "clone", 'X', cloneParams(220, 100, 100, 10, 0, "e"))
	w.ev(220, "clone", 'X', cloneParams(320, 220, 220, 100, 0, "f"))
	w.ev(220, "procexit", 'E', P{"status": int64(0), "reaper_tid": int64(10)})
	w.ev(320, "getuid", 'X', P{"uid": uint32(0)})
	eq(t, "f reparented to the named reaper", w.e.Thread(320).PTID, int64(10))
	if w.e.Thread(10).children[320] == nil {
		t.Error("reaper does not list its new child")
	}

	// a main thread that exits while a thread lives: it stays (dead), children go to the thread
	w.ev(100, "clone", 'X', cloneParams(230, 100, 100, 10, 0, "g"))
	w.ev(230, "clone", 'X', cloneParams(231, 230, 230, 100, cloneThread|cloneFiles, "g"))
	w.ev(230, "clone", 'X', cloneParams(330, 230, 230, 100, 0, "h"))
	w.ev(230, "procexit", 'E', P{"status": int64(0)})
	w.ev(231, "getuid", 'X', P{"uid": uint32(0)})
	m := w.e.Thread(230)
	if m == nil || !m.Dead {
		t.Fatalf("dead main thread with a live thread: %+v", m)
	}
	eq(t, "h reparented to the live thread", w.e.Thread(330).PTID, int64(231))
	eq(t, "thread's main", w.e.Thread(231).Main().Comm, "g")
	w.ev(231, "procexit", 'E', P{"status": int64(0)})
	w.ev(330, "getuid", 'X', P{"uid": uint32(0)})
	if w.e.Thread(230) != nil || w.e.Thread(231) != nil {
		t.Error("process not removed after its last thread exited")
	}
	eq(t, "h reparented again", w.e.Thread(330).PTID, int64(100))
}

func TestLazyThreadAndIDs(t *testing.T) {
	w := newWorld(t, Options{})
	ctx := w.ev(4242, "getuid", 'X', P{"uid": uint32(0)})
	th := ctx.Thread
	if th == nil || !th.Invalid || th.PID != 4242 || th.PTID != -1 || th.UID != 0xFFFFFFFF {
		t.Fatalf("lazy thread = %+v", th)
	}
	eq(t, "lazy stat", w.e.Stats().ThreadsLazy, uint64(1))
	// its exec fills it in
	w.ev(4242, "execve", 'X', P{"res": int64(0), "exe": "/usr/bin/id", "comm": "id", "pid": int64(4242),
		"ptid": int64(100), "cwd": "/srv", "uid": uint32(0)})
	eq(t, "valid after exec", th.Invalid, false)
	eq(t, "ptid from exec", w.e.Parent(th).Comm, "bash")
	eq(t, "cwd from exec", th.Cwd, "/srv/")
	eq(t, "uid from exec", th.UID, uint32(0))

	w.ev(100, "setresuid", 'X', P{"res": int64(0), "ruid": uint32(0xFFFFFFFF), "euid": uint32(0), "suid": uint32(0xFFFFFFFF)})
	eq(t, "euid", w.e.Thread(100).UID, uint32(0))
	w.ev(100, "setreuid", 'X', P{"res": int64(0), "ruid": uint32(1000), "euid": uint32(0xFFFFFFFF)})
	eq(t, "euid unchanged by -1", w.e.Thread(100).UID, uint32(0))
	w.ev(100, "setgid", 'X', P{"res": int64(-1), "gid": uint32(0)})
	eq(t, "failed setgid", w.e.Thread(100).GID, uint32(1000))
	w.ev(100, "setsid", 'X', P{"res": int64(100)})
	eq(t, "sid", w.e.Thread(100).SID, int64(100))
	w.ev(100, "capset", 'X', P{"res": int64(0), "cap_inheritable": uint64(1), "cap_permitted": uint64(3), "cap_effective": uint64(2)})
	eq(t, "cap effective", w.e.Thread(100).CapEffective, uint64(2))
	u, ok := w.e.User(w.e.Thread(100).UID)
	eq(t, "user", ok && u.Name == "root", true)
}

func TestEvictionBounds(t *testing.T) {
	e := New(Options{MaxThreads: 10, MaxFDsPerProcess: 5, MaxUsers: 3})
	ts := uint64(1)
	for tid := int64(1); tid <= 25; tid++ {
		ts++
		e.Process(mkEvent(t, ts, tid, "getuid", 'X', P{"uid": uint32(0)}))
	}
	// touch 16 so it is the most recent before the last insertions
	st := e.Stats()
	eq(t, "threads", st.Threads, 10)
	eq(t, "evicted", st.ThreadsEvicted, uint64(15))
	for tid := int64(16); tid <= 25; tid++ {
		if e.Thread(tid) == nil {
			t.Errorf("recent thread %d evicted", tid)
		}
	}
	// LRU: an active old thread survives
	e.Process(mkEvent(t, ts+1, 16, "getuid", 'X', P{"uid": uint32(0)}))
	e.Process(mkEvent(t, ts+2, 99, "getuid", 'X', P{"uid": uint32(0)}))
	if e.Thread(16) == nil || e.Thread(17) != nil {
		t.Error("eviction is not least-recently-active first")
	}

	for fd := int64(0); fd < 12; fd++ {
		e.Process(mkEvent(t, ts+3, 16, "openat", 'X', P{"fd": fd, "dirfd": int64(atFDCWD), "name": "/f", "flags": uint32(1)}))
	}
	eq(t, "fds kept", fdNums(e.Thread(16)), "7,8,9,10,11")
	st = e.Stats()
	eq(t, "fds evicted", st.FDsEvicted, uint64(7))
	eq(t, "fd count", st.FDs, 5)

	for uid := uint32(0); uid < 6; uid++ {
		e.AddUser(event.User{UID: uid, Name: "u"})
	}
	st = e.Stats()
	eq(t, "users", st.Users, 3)
	_, ok := e.User(0)
	eq(t, "oldest user evicted", ok, false)
	_, ok = e.User(5)
	eq(t, "newest user kept", ok, true)
}

func TestContainerID(t *testing.T) {
	cases := []struct {
		cg   []string
		want string
	}{
		{nil, "host"},
		{[]string{"cpu=/user.slice/user-1000.slice/session-1.scope", "=/user.slice"}, "host"},
		{[]string{"cpu=/docker/" + hex64}, hex64[:12]},
		{[]string{"memory=/system.slice/docker-" + hex64 + ".scope"}, hex64[:12]},
		{[]string{"pids=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + hex64 + ".scope"}, hex64[:12]},
		{[]string{"cpu=/kubepods/besteffort/pod0f3a/" + hex64}, hex64[:12]},
		{[]string{"=/machine.slice/libpod-" + hex64 + ".scope/container"}, hex64[:12]},
		{[]string{"=/kubepods.slice/crio-" + hex64 + ".scope"}, hex64[:12]},
		// hybrid: v1 controller first, even when listed after the v2 entry
		{[]string{"=/user.slice", "cpu=/docker/" + hex64}, hex64[:12]},
		{[]string{"cpu=/docker/notanid"}, "host"},
	}
	for _, c := range cases {
		eq(t, fmt.Sprintf("container id of %q", c.cg), idOf(container.FromCgroups(c.cg)), c.want)
	}
}

func TestTrackConnectionStatus(t *testing.T) {
	for _, track := range []bool{false, true} {
		w := newWorld(t, Options{TrackConnectionStatus: track})
		w.ev(100, "socket", 'X', P{"fd": int64(5), "domain": uint32(event.AFInet), "type": uint32(1), "proto": uint32(6)})
		ctx := w.ev(100, "connect", 'X', P{"res": int64(-111), "fd": int64(5), "tuple": tuple4("10.0.0.2", 40001, "10.0.0.9", 22)})
		if track {
			eq(t, "tracked failed connect name", ctx.FD.Name, "10.0.0.2:40001->10.0.0.9:22")
			eq(t, "tracked failed", ctx.FD.Failed, true)
		} else {
			eq(t, "untracked failed connect name", ctx.FD.Name, "")
			eq(t, "untracked failed", ctx.FD.Failed, false)
		}
		ctx = w.ev(100, "connect", 'X', P{"res": int64(-115), "fd": int64(5), "tuple": tuple4("10.0.0.2", 40002, "10.0.0.9", 22)})
		eq(t, "EINPROGRESS connect name", ctx.FD.Name, "10.0.0.2:40002->10.0.0.9:22")
		eq(t, "EINPROGRESS connected", ctx.FD.Connected, true)
	}
}
