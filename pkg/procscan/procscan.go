// Package procscan builds Saker's startup state from /proc, as Falco's proc scan does before
// live capture starts: every thread (identity, credentials, command line, environment, cwd,
// cgroups, executable) and every open file descriptor (files, directories, sockets resolved
// through /proc/PID/net, pipes, anonymous inodes), plus the users and groups of /etc/passwd and
// /etc/group. The result uses the metadata types of pkg/event, as a capture's process, fd,
// user and group lists do.
//
// Processes come and go while /proc is read: a process or thread that disappears midway is
// skipped, not an error.
package procscan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
	"golang.org/x/sys/unix"
)

// Scan reads every thread and every file descriptor under root (normally "/proc"). fds are
// listed once per process, under its main thread (TID == PID), since threads share them.
func Scan(root string) (threads []event.ThreadInfo, fds []event.FDInfo, err error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("procscan: %w", err)
	}
	nets := map[string]*netTables{} // by network namespace
	ctrl := v2Controllers()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		pdir := filepath.Join(root, e.Name())
		proc, err := readProcess(pdir, pid, ctrl)
		if err != nil {
			continue // gone, or a kernel thread we cannot read
		}
		tasks, err := os.ReadDir(filepath.Join(pdir, "task"))
		if err != nil {
			continue
		}
		for _, te := range tasks {
			tid, err := strconv.Atoi(te.Name())
			if err != nil {
				continue
			}
			ti, err := readThread(filepath.Join(pdir, "task", te.Name()), proc, tid)
			if err != nil {
				continue
			}
			threads = append(threads, ti)
		}
		fds = append(fds, scanFDs(pdir, pid, nets)...)
	}
	return threads, fds, nil
}

// ScanPID reads one process (all its threads and its fds).
func ScanPID(root string, pid int) (threads []event.ThreadInfo, fds []event.FDInfo, err error) {
	pdir := filepath.Join(root, strconv.Itoa(pid))
	proc, err := readProcess(pdir, pid, v2Controllers())
	if err != nil {
		return nil, nil, fmt.Errorf("procscan: process %d: %w", pid, err)
	}
	tasks, err := os.ReadDir(filepath.Join(pdir, "task"))
	if err != nil {
		return nil, nil, fmt.Errorf("procscan: process %d: %w", pid, err)
	}
	for _, te := range tasks {
		tid, err := strconv.Atoi(te.Name())
		if err != nil {
			continue
		}
		if ti, err := readThread(filepath.Join(pdir, "task", te.Name()), proc, tid); err == nil {
			threads = append(threads, ti)
		}
	}
	return threads, scanFDs(pdir, pid, map[string]*netTables{}), nil
}

// Thread reads one process's main thread (no fds), for a caller that needs one process's
// state now (pkg/deny's decisions).
func Thread(root string, pid int) (event.ThreadInfo, error) {
	pdir := filepath.Join(root, strconv.Itoa(pid))
	proc, err := readProcess(pdir, pid, v2Controllers())
	if err != nil {
		return event.ThreadInfo{}, fmt.Errorf("procscan: process %d: %w", pid, err)
	}
	return readThread(pdir, proc, pid)
}

// process is what threads of one process share.
type process struct {
	ti event.ThreadInfo
}

func readProcess(dir string, pid int, ctrl []string) (*process, error) {
	p := &process{}
	t := &p.ti
	t.PID = int64(pid)
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, err
	}
	st := ParseStatus(status)
	t.PTID = st.PPid
	t.UID, t.GID = st.EUID, st.EGID
	t.VPID = st.VPID
	t.VPGID = st.VPGID
	t.VMSizeKB, t.VMRSSKB, t.VMSwapKB = st.VMSizeKB, st.VMRSSKB, st.VMSwapKB
	t.CapInheritable, t.CapPermitted, t.CapEffective = st.CapInh, st.CapPrm, st.CapEff

	if b, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		if s, err := ParseStat(b); err == nil {
			t.PGID, t.SID, t.TTY = s.PGRP, s.Session, uint32(s.TTY)
			t.PFMinor, t.PFMajor = s.MinFlt, s.MajFlt
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		args := splitNul(b)
		if len(args) > 0 {
			t.Exe = args[0]
			t.Args = args[1:]
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		t.Env = splitNul(b)
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		t.ExePath = strings.TrimSuffix(exe, " (deleted)")
		t.ExeFromMemfd = strings.HasPrefix(exe, "/memfd:")
		if t.ExeFromMemfd {
			t.ExePath = t.ExePath[1:] // "memfd:NAME", as the probe reports it at exec
		}
		var s unix.Stat_t
		if unix.Stat(filepath.Join(dir, "exe"), &s) == nil {
			t.ExeIno = s.Ino
			t.ExeInoCtime = uint64(s.Ctim.Nano())
			t.ExeInoMtime = uint64(s.Mtim.Nano())
			t.ExeWritable = writable(&s, t.UID, t.GID)
		}
	}
	if root, err := os.Readlink(filepath.Join(dir, "root")); err == nil {
		t.Root = root
	}
	if b, err := os.ReadFile(filepath.Join(dir, "limits")); err == nil {
		t.FDLimit = ParseFDLimit(b)
	}
	t.LoginUID = 0xffffffff
	if b, err := os.ReadFile(filepath.Join(dir, "loginuid")); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			t.LoginUID = uint32(v)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		t.Cgroups = ParseCgroups(b, ctrl)
	}
	return p, nil
}

// writable approximates whether the executable is writable by the process's effective ids.
func writable(s *unix.Stat_t, uid, gid uint32) bool {
	switch {
	case uid == 0:
		return true
	case s.Uid == uid:
		return s.Mode&0o200 != 0
	case s.Gid == gid:
		return s.Mode&0o020 != 0
	}
	return s.Mode&0o002 != 0
}

func readThread(dir string, p *process, tid int) (event.ThreadInfo, error) {
	t := p.ti // copy; slices are shared read-only
	t.TID = int64(tid)
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return t, err
	}
	t.Comm = strings.TrimSuffix(string(comm), "\n")
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		t.Cwd = cwd
	}
	t.VTID = t.TID
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		st := ParseStatus(status)
		t.VTID = st.VTID
		t.UID, t.GID = st.EUID, st.EGID // credentials are per thread
		t.CapInheritable, t.CapPermitted, t.CapEffective = st.CapInh, st.CapPrm, st.CapEff
	}
	if t.TID != t.PID {
		t.Flags |= 0x2000 // PPM_CL_CLONE_THREAD: a thread, not a process
	}
	return t, nil
}

// Status is the part of /proc/PID/status the scan uses.
type Status struct {
	PPid                        int64
	EUID, EGID                  uint32
	VTID, VPID, VPGID           int64 // innermost pid namespace (last of NSpid, NStgid, NSpgid)
	VMSizeKB, VMRSSKB, VMSwapKB uint32
	CapInh, CapPrm, CapEff      uint64
}

// ParseStatus parses /proc/PID/status; unknown or malformed lines are ignored.
func ParseStatus(b []byte) Status {
	var s Status
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		if len(f) == 0 {
			continue
		}
		last := f[len(f)-1]
		switch string(k) {
		case "PPid":
			s.PPid, _ = strconv.ParseInt(f[0], 10, 64)
		case "Uid":
			if len(f) > 1 {
				u, _ := strconv.ParseUint(f[1], 10, 32)
				s.EUID = uint32(u)
			}
		case "Gid":
			if len(f) > 1 {
				g, _ := strconv.ParseUint(f[1], 10, 32)
				s.EGID = uint32(g)
			}
		case "NSpid":
			s.VTID, _ = strconv.ParseInt(last, 10, 64)
		case "NStgid":
			s.VPID, _ = strconv.ParseInt(last, 10, 64)
		case "NSpgid":
			s.VPGID, _ = strconv.ParseInt(last, 10, 64)
		case "VmSize":
			s.VMSizeKB = parseU32(f[0])
		case "VmRSS":
			s.VMRSSKB = parseU32(f[0])
		case "VmSwap":
			s.VMSwapKB = parseU32(f[0])
		case "CapInh":
			s.CapInh, _ = strconv.ParseUint(f[0], 16, 64)
		case "CapPrm":
			s.CapPrm, _ = strconv.ParseUint(f[0], 16, 64)
		case "CapEff":
			s.CapEff, _ = strconv.ParseUint(f[0], 16, 64)
		}
	}
	return s
}

func parseU32(s string) uint32 {
	v, _ := strconv.ParseUint(s, 10, 32)
	return uint32(v)
}

// Stat is the part of /proc/PID/stat the scan uses.
type Stat struct {
	PPid, PGRP, Session int64
	TTY                 int64
	MinFlt, MajFlt      uint64
}

// ParseStat parses /proc/PID/stat (the comm field may hold spaces and parentheses: the fields
// start after the last ')').
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, errors.New("procscan: stat: no ')' closing the comm field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] state, f[1] ppid, f[2] pgrp, f[3] session, f[4] tty_nr, f[5] tpgid, f[6] flags,
	// f[7] minflt, f[8] cminflt, f[9] majflt
	if len(f) < 10 {
		return s, fmt.Errorf("procscan: stat: %d fields after comm, want at least 10", len(f))
	}
	s.PPid, _ = strconv.ParseInt(f[1], 10, 64)
	s.PGRP, _ = strconv.ParseInt(f[2], 10, 64)
	s.Session, _ = strconv.ParseInt(f[3], 10, 64)
	s.TTY, _ = strconv.ParseInt(f[4], 10, 64)
	s.MinFlt, _ = strconv.ParseUint(f[7], 10, 64)
	s.MajFlt, _ = strconv.ParseUint(f[9], 10, 64)
	return s, nil
}

// ParseFDLimit returns the soft "Max open files" of /proc/PID/limits (-1 for unlimited, 0
// when absent).
func ParseFDLimit(b []byte) int64 {
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Max open files") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(l, "Max open files"))
		if len(f) == 0 {
			return 0
		}
		if f[0] == "unlimited" {
			return -1
		}
		v, _ := strconv.ParseInt(f[0], 10, 64)
		return v
	}
	return 0
}

// ParseCgroups turns /proc/PID/cgroup into "subsys=path" entries: a v1 line
// "4:memory:/docker/abc" gives "memory=/docker/abc" (one entry per controller of a
// comma-separated list; named hierarchies such as name=systemd are skipped). The v2 line
// "0::/path" gives one entry per controller in v2ctrl not already bound to a v1 hierarchy.
func ParseCgroups(b []byte, v2ctrl []string) []string {
	var out []string
	seen := map[string]bool{}
	v2path, hasV2 := "", false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			v2path, hasV2 = f[2], true
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "" || strings.HasPrefix(c, "name=") {
				continue
			}
			seen[c] = true
			out = append(out, c+"="+f[2])
		}
	}
	if hasV2 {
		for _, c := range v2ctrl {
			if !seen[c] {
				out = append(out, c+"="+v2path)
			}
		}
	}
	return out
}

// v2Controllers lists the controllers enabled on the cgroup v2 hierarchy (pure v2 at
// /sys/fs/cgroup, hybrid at /sys/fs/cgroup/unified).
func v2Controllers() []string {
	for _, p := range []string{"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.Fields(string(b))
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
