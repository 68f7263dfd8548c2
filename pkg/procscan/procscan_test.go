package procscan

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/event"
	"golang.org/x/sys/unix"
)

// The helper child: connects to SAKER_PROCSCAN_CONNECT, says "ready", waits for stdin to close.
func TestMain(m *testing.M) {
	if addr := os.Getenv("SAKER_PROCSCAN_CONNECT"); addr != "" {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		fmt.Println("ready", c.LocalAddr())
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestScanChildAndSelf(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	cmd := exec.Command(os.Args[0], "alpha", "beta gamma")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SAKER_PROCSCAN_CONNECT="+ln.Addr().String(), "SAKER_MARK=procscan-42")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "ready" {
		t.Fatalf("helper said %q", line)
	}
	local := netip.MustParseAddrPort(f[1])
	pid := cmd.Process.Pid

	threads, fds, err := Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var main *event.ThreadInfo
	nthreads := 0
	for i := range threads {
		if threads[i].PID == int64(pid) {
			nthreads++
			if threads[i].TID == int64(pid) {
				main = &threads[i]
			}
		}
	}
	if main == nil {
		t.Fatalf("child %d not in the scan (%d threads)", pid, len(threads))
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if nthreads != len(tasks) {
		t.Errorf("%d threads of the child, /proc has %d", nthreads, len(tasks))
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if main.Exe != os.Args[0] || main.ExePath != exe {
		t.Errorf("exe %q exepath %q, want %q %q", main.Exe, main.ExePath, os.Args[0], exe)
	}
	if strings.Join(main.Args, "|") != "alpha|beta gamma" {
		t.Errorf("args %q", main.Args)
	}
	if main.Cwd != dir {
		t.Errorf("cwd %q, want %q", main.Cwd, dir)
	}
	if !contains(main.Env, "SAKER_MARK=procscan-42") {
		t.Errorf("env lacks the mark: %d entries", len(main.Env))
	}
	if main.PTID != int64(os.Getpid()) {
		t.Errorf("ptid %d, want %d", main.PTID, os.Getpid())
	}
	if main.UID != uint32(os.Geteuid()) || main.GID != uint32(os.Getegid()) {
		t.Errorf("uid/gid %d/%d", main.UID, main.GID)
	}
	if want := filepath.Base(os.Args[0]); !strings.HasPrefix(want, main.Comm) || main.Comm == "" {
		t.Errorf("comm %q, binary %q", main.Comm, want)
	}
	// the session may be 0 (a runner started outside any session), so compare with the kernel's answer
	wantSID, err1 := unix.Getsid(pid)
	wantPGID, err2 := unix.Getpgid(pid)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if main.SID != int64(wantSID) || main.PGID != int64(wantPGID) || main.PGID == 0 || main.VTID != int64(pid) || main.VPID != int64(pid) {
		t.Errorf("sid %d pgid %d vtid %d vpid %d, want sid %d pgid %d", main.SID, main.PGID, main.VTID, main.VPID, wantSID, wantPGID)
	}
	if main.FDLimit == 0 || main.ExeIno == 0 || main.ExeInoMtime == 0 || main.VMSizeKB == 0 {
		t.Errorf("fdlimit %d exe_ino %d mtime %d vmsize %d", main.FDLimit, main.ExeIno, main.ExeInoMtime, main.VMSizeKB)
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) == 3 && p[1] != "" && !strings.HasPrefix(p[1], "name=") {
			for _, c := range strings.Split(p[1], ",") {
				if !contains(main.Cgroups, c+"="+p[2]) {
					t.Errorf("cgroups %q lack %s=%s", main.Cgroups, c, p[2])
				}
			}
		}
	}

	// the child's TCP socket, resolved with both ends
	found := false
	srv := ln.Addr().(*net.TCPAddr).AddrPort()
	for _, fd := range fds {
		if fd.TID != int64(pid) || fd.Type != event.FDIPv4Sock {
			continue
		}
		if fd.SrcIP == local.Addr() && fd.SrcPort == local.Port() && fd.DstIP == srv.Addr() &&
			fd.DstPort == srv.Port() && fd.L4Proto == L4TCP && fd.Ino != 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("child's socket %v->%v not among its fds: %+v", local, srv, fdsOf(fds, pid))
	}
	// our own listening socket and the child's stdin pipe
	listening := false
	for _, fd := range fds {
		if fd.TID == int64(os.Getpid()) && fd.Type == event.FDIPv4Server && fd.SrcPort == srv.Port() {
			listening = true
		}
	}
	if !listening {
		t.Errorf("our listener %v not found: %+v", srv, fdsOf(fds, os.Getpid()))
	}
	if fd := fdNum(fds, pid, 0); fd == nil || fd.Type != event.FDFifo {
		t.Errorf("child's stdin is not a pipe: %+v", fd)
	}
}

func TestScanOwnFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "open-file")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	threads, fds, err := ScanPID("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	if len(threads) == 0 || len(threads) > len(tasks)+4 {
		t.Errorf("%d threads, /proc/self/task has %d", len(threads), len(tasks))
	}
	fd := fdNum(fds, os.Getpid(), int64(f.Fd()))
	if fd == nil || fd.Type != event.FDFileV2 || fd.Name != path {
		t.Fatalf("open file fd: %+v", fd)
	}
	// O_WRONLY|O_APPEND as opened (O_CREAT is not kept in f_flags) plus Go's O_CLOEXEC:
	// scap 0x2|0x8|0x1000
	if fd.OpenFlags != 0x2|0x8|0x1000 {
		t.Errorf("open flags %#x", fd.OpenFlags)
	}
	if fd.Ino == 0 {
		t.Error("no inode")
	}
}

func fdsOf(fds []event.FDInfo, pid int) []event.FDInfo {
	var out []event.FDInfo
	for _, f := range fds {
		if f.TID == int64(pid) {
			out = append(out, f)
		}
	}
	return out
}

func fdNum(fds []event.FDInfo, pid int, n int64) *event.FDInfo {
	for i := range fds {
		if fds[i].TID == int64(pid) && fds[i].FD == n {
			return &fds[i]
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseInetTable(t *testing.T) {
	tab := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 635 1 00000000aedbfb18 100 0 0 10 0
   1: 0100007F:A267 0200007F:8182 01 00000000:00000000 03:00000425 00000000     0        0 777 3 00000000781c4568
   2: garbage
`)
	out := map[uint64]event.FDInfo{}
	ParseInetTable(tab, L4TCP, false, out)
	if len(out) != 2 {
		t.Fatalf("%d sockets", len(out))
	}
	s := out[635]
	if s.Type != event.FDIPv4Server || s.SrcPort != 2024 || s.SrcIP != netip.MustParseAddr("0.0.0.0") {
		t.Errorf("listener %+v", s)
	}
	c := out[777]
	if c.Type != event.FDIPv4Sock || c.SrcIP != netip.MustParseAddr("127.0.0.1") || c.SrcPort != 0xA267 ||
		c.DstIP != netip.MustParseAddr("127.0.0.2") || c.DstPort != 0x8182 {
		t.Errorf("connection %+v", c)
	}
	v6 := []byte("hdr\n 0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 99 1\n")
	ParseInetTable(v6, L4TCP, true, out)
	if s := out[99]; s.Type != event.FDIPv6Server || s.SrcIP != netip.MustParseAddr("::1") || s.SrcPort != 22 {
		t.Errorf("v6 listener %+v", s)
	}
}

func TestParseCgroups(t *testing.T) {
	got := ParseCgroups([]byte("9:name=systemd:/\n4:memory:/docker/abc\n2:cpu,cpuacct:/x\n0::/u\n"), []string{"hugetlb", "memory"})
	want := []string{"memory=/docker/abc", "cpu=/x", "cpuacct=/x", "hugetlb=/u"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestParseStat(t *testing.T) {
	s, err := ParseStat([]byte("123 (we ird) name)) S 1 100 200 34816 0 4194304 55 0 7 0 1 2"))
	if err != nil {
		t.Fatal(err)
	}
	if s.PPid != 1 || s.PGRP != 100 || s.Session != 200 || s.TTY != 34816 || s.MinFlt != 55 || s.MajFlt != 7 {
		t.Errorf("%+v", s)
	}
	if _, err := ParseStat([]byte("123 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestUsersGroups(t *testing.T) {
	users, err := Users()
	if err != nil {
		t.Skip(err)
	}
	root := false
	for _, u := range users {
		if u.UID == 0 && u.Name == "root" && u.Home != "" {
			root = true
		}
	}
	if !root {
		t.Errorf("no root user in %d users", len(users))
	}
	groups, err := Groups()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) == 0 || groups[0].Name == "" {
		t.Errorf("groups %+v", groups)
	}
	if _, err := ParsePasswd(strings.NewReader("root:x:0:0:root:/root:/bin/sh\nbad:x:zz:0:::\n"), "passwd"); err == nil || !strings.Contains(err.Error(), "passwd:2") {
		t.Errorf("bad line error %v", err)
	}
}

func TestOpenFlagsToScap(t *testing.T) {
	if f := OpenFlagsToScap(0); f != 1 {
		t.Errorf("O_RDONLY -> %#x", f)
	}
	if f := OpenFlagsToScap(0o1 | 0o100 | 0o1000); f != 0x2|0x4|0x100 {
		t.Errorf("O_WRONLY|O_CREAT|O_TRUNC -> %#x", f)
	}
	if f := OpenFlagsToScap(0o20200000); f != 0x1|0x2000 {
		t.Errorf("O_TMPFILE -> %#x", f)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte("Name:\tx\nPPid:\t1\nUid:\t0\t0\t0\t0\nNSpid:\t5\t1\nCapEff:\t000001ffffffffff\n"))
	f.Add([]byte("1 (a) S 1 2 3 4 5 6 7 8 9 10"))
	f.Add([]byte("hdr\n 0: 0100007F:A267 0200007F:8182 01 0:0 0:0 0 0 0 777\n"))
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\n"))
	f.Add([]byte("4:memory:/a\n0::/b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStatus(b)
		ParseStat(b)
		ParseFDLimit(b)
		ParseCgroups(b, []string{"io"})
		m := map[uint64]event.FDInfo{}
		ParseInetTable(b, L4TCP, false, m)
		ParseInetTable(b, L4UDP, true, m)
		ParseUnixTable(b, m)
		ParseNetlinkTable(b, m)
		ParsePasswd(bytes.NewReader(b), "f")
		ParseGroup(bytes.NewReader(b), "f")
		ClassifyLink(string(b))
		fdinfoFlags(b)
	})
}

// The interface list has the loopback addresses, with the IPv4 netmask and broadcast.
func TestInterfaces(t *testing.T) {
	ifs, err := Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range ifs {
		if in.Name == "lo" && in.Addr == netip.MustParseAddr("127.0.0.1") {
			found = in.Netmask == netip.MustParseAddr("255.0.0.0") && in.Broadcast == netip.MustParseAddr("127.255.255.255")
			if !found {
				t.Errorf("lo: %+v", in)
			}
		}
	}
	if !found {
		t.Errorf("no 127.0.0.1 on lo in %+v", ifs)
	}
}

// A process running from a memfd: its exe link is "/memfd:NAME (deleted)"; the scan reports
// "memfd:NAME" (as the probe does at exec) and the memfd flag.
func TestScanMemfdExe(t *testing.T) {
	fd, err := unix.MemfdCreate("saker-scan", 0)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	mf := os.NewFile(uintptr(fd), "memfd")
	defer mf.Close()
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mf.Write(b); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/fd/3", "30")
	cmd.ExtraFiles = []*os.File{mf}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasPrefix(l, "/memfd:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never ran from the memfd")
		}
	}
	threads, _, err := Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range threads {
		if th.TID == int64(pid) {
			if th.ExePath != "memfd:saker-scan" || !th.ExeFromMemfd {
				t.Errorf("exepath %q memfd %v", th.ExePath, th.ExeFromMemfd)
			}
			return
		}
	}
	t.Fatalf("pid %d not in the scan", pid)
}
