package probe

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// The io_uring path: a C helper (testdata/uring.c, built here with gcc) does file and network
// operations through io_uring only, and the probe must write them as the syscalls' events,
// marked with event.ExtIOUring.

var (
	uringOnce sync.Once
	uringBin  string
	uringErr  error
)

// uringHelper returns the built helper (one build per test binary).
func uringHelper(t *testing.T) string {
	t.Helper()
	uringOnce.Do(buildUring)
	if uringErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building the io_uring helper: %v %s", uringErr, uringBin)
		}
		t.Skipf("building the io_uring helper needs gcc: %v %s", uringErr, uringBin)
	}
	return uringBin
}

// buildUring compiles testdata/uring.c (uringBin; on failure uringErr, and uringBin the
// compiler's output).
func buildUring() {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		uringErr = err
		return
	}
	dir, err := os.MkdirTemp("", "saker-uring")
	if err != nil {
		uringErr = err
		return
	}
	uringBin = filepath.Join(dir, "uring")
	out, err := exec.Command(gcc, "-O1", "-Wall", "-o", uringBin, "testdata/uring.c").CombinedOutput()
	if err != nil {
		uringErr = err
		uringBin = string(out)
	}
}

// uringRun runs the helper and returns its pid and its "op res" lines.
func uringRun(t *testing.T, dir string, args ...string) (int, map[string]int) {
	t.Helper()
	cmd := exec.Command(uringHelper(t), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("uring %v: %v: %s", args, err, errb.String())
	}
	res := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			n, _ := strconv.Atoi(f[1])
			res[f[0]] = n
		}
	}
	return cmd.Process.Pid, res
}

func needUring(t *testing.T, c *collector) {
	t.Helper()
	if err := c.p.IOUringError(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("io_uring programs not attached: %v", err)
		}
		t.Skipf("io_uring programs not attached: %v", err)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil && strings.TrimSpace(string(b)) == "2" {
		t.Skip("io_uring is disabled (kernel.io_uring_disabled=2)")
	}
}

// uringRec waits for the io_uring record of event name from pid matching f.
func uringRec(t *testing.T, c *collector, name string, pid int, f func(*rec) bool) *rec {
	t.Helper()
	r := c.wait(t, "io_uring "+name, func(r *rec) bool {
		return r.is(name, pid) && r.ev.IsIOUring() && (f == nil || f(r))
	})
	if r.ev.RawType != r.ev.Type {
		t.Errorf("%s: raw type %d is not current", name, r.ev.RawType)
	}
	if want := len(r.ev.Info.Params) + 1; r.ev.NParams < want {
		t.Errorf("%s: %d params, want the table's %d and the ext flags", name, r.ev.NParams, want-1)
	}
	return r
}

func TestIOUringFiles(t *testing.T) {
	c := sharedProbe(t)
	needUring(t, c)
	if err := c.p.SetSyscalls([]string{"openat", "openat2", "close", "read", "write", "unlinkat", "renameat2",
		"mkdirat", "symlinkat", "linkat", "clone", "execve"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	dir := t.TempDir()

	pid, res := uringRun(t, dir, "open", "/etc/shadow")
	r := uringRec(t, c, "openat", pid, func(r *rec) bool { return r.str(t, "name") == "/etc/shadow" })
	if fd := r.int(t, "fd"); fd != int64(res["openat"]) || fd < 3 {
		t.Errorf("openat fd %d, helper got %d", fd, res["openat"])
	}
	if d := r.int(t, "dirfd"); d != -100 {
		t.Errorf("dirfd %d", d)
	}
	if f, _ := r.ev.ParamUint("flags"); f != 0x1 { // O_RDONLY
		t.Errorf("flags %#x", f)
	}
	fd := r.int(t, "fd")
	rd := uringRec(t, c, "read", pid, nil)
	if v := rd.int(t, "fd"); v != fd {
		t.Errorf("read fd %d, want %d", v, fd)
	}
	if v := rd.int(t, "res"); v != int64(res["read"]) {
		t.Errorf("read res %d, want %d", v, res["read"])
	}
	if v, _ := rd.ev.ParamUint("size"); v != 16 {
		t.Errorf("read size %d", v)
	}
	cl := uringRec(t, c, "close", pid, nil)
	if v := cl.int(t, "fd"); v != fd {
		t.Errorf("close fd %d, want %d", v, fd)
	}

	// openat2 keeps its resolve flags (RESOLVE_NO_MAGICLINKS = 2; scap: same bit)
	pid, _ = uringRun(t, dir, "openat2", "/etc/hostname")
	r = uringRec(t, c, "openat2", pid, func(r *rec) bool { return r.str(t, "name") == "/etc/hostname" })
	if v, _ := r.ev.ParamUint("resolve"); v != 0x2 {
		t.Errorf("openat2 resolve %#x", v)
	}

	// a file written: O_CREAT, mode, created flag, and the write
	path := filepath.Join(dir, "written")
	pid, _ = uringRun(t, dir, "create", path)
	r = uringRec(t, c, "openat", pid, func(r *rec) bool { return r.str(t, "name") == path })
	if f, _ := r.ev.ParamUint("flags"); f != 0x2|0x4|0x100|0x4000 {
		t.Errorf("create flags %#x (%s)", f, r.ev.FlagsString(r.ev.Index("flags")))
	}
	if m, _ := r.ev.ParamUint("mode"); m != 0o640 {
		t.Errorf("create mode %o", m)
	}
	if ino, _ := r.ev.ParamUint("ino"); ino == 0 {
		t.Error("create: no inode")
	}
	w := uringRec(t, c, "write", pid, nil)
	if v := w.int(t, "res"); v != 6 {
		t.Errorf("write res %d", v)
	}
	if v := w.int(t, "fd"); v != r.int(t, "fd") {
		t.Errorf("write fd %d, want %d", v, r.int(t, "fd"))
	}

	// directory operations
	sub := filepath.Join(dir, "sub")
	pid, _ = uringRun(t, dir, "mkdir", sub)
	r = uringRec(t, c, "mkdirat", pid, nil)
	if r.str(t, "path") != sub || r.int(t, "res") != 0 || r.int(t, "dirfd") != -100 {
		t.Errorf("mkdirat path %q res %d dirfd %d", r.str(t, "path"), r.int(t, "res"), r.int(t, "dirfd"))
	}
	if m, _ := r.ev.ParamUint("mode"); m != 0o750 {
		t.Errorf("mkdirat mode %o", m)
	}
	link := filepath.Join(sub, "shadow-link")
	pid, _ = uringRun(t, dir, "symlink", "/etc/shadow", link)
	r = uringRec(t, c, "symlinkat", pid, nil)
	if r.str(t, "target") != "/etc/shadow" || r.str(t, "linkpath") != link || r.int(t, "linkdirfd") != -100 || r.int(t, "res") != 0 {
		t.Errorf("symlinkat target %q linkpath %q linkdirfd %d res %d", r.str(t, "target"), r.str(t, "linkpath"), r.int(t, "linkdirfd"), r.int(t, "res"))
	}
	hard := filepath.Join(sub, "hard")
	pid, _ = uringRun(t, dir, "link", path, hard)
	r = uringRec(t, c, "linkat", pid, nil)
	if r.str(t, "oldpath") != path || r.str(t, "newpath") != hard || r.int(t, "res") != 0 {
		t.Errorf("linkat %q -> %q res %d", r.str(t, "oldpath"), r.str(t, "newpath"), r.int(t, "res"))
	}
	moved := filepath.Join(dir, "moved")
	pid, _ = uringRun(t, dir, "rename", hard, moved)
	r = uringRec(t, c, "renameat2", pid, nil)
	if r.str(t, "oldpath") != hard || r.str(t, "newpath") != moved || r.int(t, "olddirfd") != -100 || r.int(t, "newdirfd") != -100 || r.int(t, "res") != 0 {
		t.Errorf("renameat2 %q -> %q res %d", r.str(t, "oldpath"), r.str(t, "newpath"), r.int(t, "res"))
	}
	pid, _ = uringRun(t, dir, "unlink", moved)
	r = uringRec(t, c, "unlinkat", pid, nil)
	if r.str(t, "name") != moved || r.int(t, "res") != 0 || r.int(t, "dirfd") != -100 {
		t.Errorf("unlinkat %q res %d", r.str(t, "name"), r.int(t, "res"))
	}

	// fixed-file slots: a direct open into slot 0 and a read through it are fd FixedFDBase+0
	pid, res = uringRun(t, dir, "fixed", "/etc/hostname")
	if res["openat"] != 0 {
		t.Fatalf("direct open: %d", res["openat"])
	}
	r = uringRec(t, c, "openat", pid, func(r *rec) bool { return r.str(t, "name") == "/etc/hostname" })
	if v := r.int(t, "fd"); v != FixedFDBase {
		t.Errorf("direct open fd %d, want %d", v, FixedFDBase)
	}
	rd = uringRec(t, c, "read", pid, nil)
	if v := rd.int(t, "fd"); v != FixedFDBase || rd.int(t, "res") != int64(res["read"]) {
		t.Errorf("fixed read fd %d res %d", v, rd.int(t, "res"))
	}
}

func TestIOUringNetwork(t *testing.T) {
	c := sharedProbe(t)
	needUring(t, c)
	if err := c.p.SetSyscalls([]string{"connect", "sendto", "sendmsg", "recvfrom", "recvmsg", "accept4", "socket"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	ln, srv := loopbackEcho(t)
	defer ln.Close()
	pid, res := uringRun(t, t.TempDir(), "connect", srv.Addr().String(), strconv.Itoa(int(srv.Port())))
	if res["connect"] != 0 {
		t.Fatalf("connect res %d", res["connect"])
	}
	r := uringRec(t, c, "connect", pid, nil)
	st, ok := r.ev.SockTuple(r.ev.Index("tuple"))
	if !ok || st.DstAddr != srv.Addr() || st.DstPort != srv.Port() || st.SrcAddr != srv.Addr() || st.SrcPort == 0 {
		t.Errorf("connect tuple %+v ok %v, want -> %v", st, ok, srv)
	}
	sa, ok := r.ev.SockAddr(r.ev.Index("addr"))
	if !ok || sa.Addr != srv.Addr() || sa.Port != srv.Port() {
		t.Errorf("connect addr %+v, want %v", sa, srv)
	}
	fd := r.int(t, "fd")
	for _, name := range []string{"sendto", "sendmsg", "recvfrom"} {
		r := uringRec(t, c, name, pid, nil)
		if v := r.int(t, "fd"); v != fd {
			t.Errorf("%s fd %d, want %d", name, v, fd)
		}
		st, ok := r.ev.SockTuple(r.ev.Index("tuple"))
		if !ok || st.Family != event.AFInet {
			t.Errorf("%s: no tuple", name)
		}
	}
	if r := uringRec(t, c, "sendto", pid, nil); r.int(t, "res") != 4 {
		t.Errorf("send res %d", r.int(t, "res"))
	}

	pid, res = uringRun(t, t.TempDir(), "accept")
	r = uringRec(t, c, "accept4", pid, nil)
	if v := r.int(t, "fd"); v != int64(res["accept"]) || v < 3 {
		t.Errorf("accept fd %d, helper got %d", v, res["accept"])
	}
	st, ok = r.ev.SockTuple(r.ev.Index("tuple"))
	lo := netip.MustParseAddr("127.0.0.1")
	if !ok || st.SrcAddr != lo || st.SrcPort != uint16(res["client"]) || st.DstPort != uint16(res["listen"]) {
		t.Errorf("accept tuple %+v, want 127.0.0.1:%d -> :%d", st, res["client"], res["listen"])
	}
	rm := uringRec(t, c, "recvmsg", pid, nil)
	if rm.int(t, "fd") != r.int(t, "fd") || rm.int(t, "res") != 4 {
		t.Errorf("recvmsg fd %d res %d", rm.int(t, "fd"), rm.int(t, "res"))
	}
}

// loopbackEcho listens on 127.0.0.1 and answers "ok" to each connection once it has read 8
// bytes (the helper's send and sendmsg).
func loopbackEcho(t *testing.T) (net.Listener, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 8)
				if _, err := io.ReadFull(conn, buf); err == nil {
					conn.Write([]byte("ok"))
				}
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	return ln, ln.Addr().(*net.TCPAddr).AddrPort()
}

// A request flagged IOSQE_CQE_SKIP_SUCCESS posts no CQE when it succeeds: it is written at
// its submission.
func TestIOUringCQESkip(t *testing.T) {
	c := sharedProbe(t)
	needUring(t, c)
	if err := c.p.SetSyscalls([]string{"mkdirat"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	dir := filepath.Join(t.TempDir(), "skipped")
	pid, _ := uringRun(t, t.TempDir(), "skipmkdir", dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the helper's mkdir: %v", err)
	}
	r := uringRec(t, c, "mkdirat", pid, nil)
	if r.str(t, "path") != dir || r.int(t, "res") != 0 {
		t.Errorf("mkdirat path %q res %d", r.str(t, "path"), r.int(t, "res"))
	}
}

// With IORING_SETUP_SQPOLL the kernel's SQ thread (iou-sqp-PID, a thread of the process that
// Saker never saw start) submits: the event is written as the process's main thread.
func TestIOUringSQPoll(t *testing.T) {
	c := sharedProbe(t)
	needUring(t, c)
	if err := c.p.SetSyscalls([]string{"openat", "close"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	pid, res := uringRun(t, t.TempDir(), "sqpoll", "/etc/shadow")
	if res["openat"] < 0 {
		t.Fatalf("openat %d", res["openat"])
	}
	r := uringRec(t, c, "openat", pid, func(r *rec) bool { return r.str(t, "name") == "/etc/shadow" })
	if fd := r.int(t, "fd"); fd != int64(res["openat"]) {
		t.Errorf("fd %d, helper got %d", fd, res["openat"])
	}
	if got := r.ev.ExtString(event.ExtRealPath); got != "/etc/shadow" {
		t.Errorf("resolved path %q", got)
	}
	uringRec(t, c, "close", pid, func(r *rec) bool { return r.int(t, "fd") == int64(res["openat"]) })
}
