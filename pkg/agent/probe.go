package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
)

// ProbeSelection returns the probe's syscalls for a ruleset with the default base_syscalls:
// those whose events the syscall rules can match, plus the state set. A rule that matches
// every event type selects all.
func ProbeSelection(rs *engine.Ruleset) []string {
	sel, _ := SyscallSelection(rs, config.BaseSyscalls{})
	return sel
}

// repairProcess are the syscalls base_syscalls.repair always adds: the process tree (who
// forked and executed what, and when a process ends) that every proc.* field relies on.
var repairProcess = []string{"clone", "clone3", "fork", "vfork", "execve", "execveat", "procexit"}

// fdSyscalls create or use file descriptors or paths relative to one: with one of them selected, repair adds close
// (so fd numbers are not taken for the file they once named) and the cwd changes (so
// relative paths resolve right).
var fdSyscalls = map[string]bool{
	"open": true, "openat": true, "openat2": true, "creat": true, "open_by_handle_at": true,
	"read": true, "write": true, "pread64": true, "pwrite64": true, "readv": true, "writev": true,
	"preadv": true, "pwritev": true, "sendfile": true, "splice": true, "mmap": true, "ioctl": true,
	"fcntl": true, "dup": true, "dup2": true, "dup3": true, "pipe": true, "pipe2": true,
	"memfd_create": true, "eventfd": true, "eventfd2": true, "signalfd": true, "signalfd4": true,
	"timerfd_create": true, "inotify_init": true, "inotify_init1": true, "userfaultfd": true,
	"io_uring_setup": true, "bpf": true, "fchdir": true, "fchmod": true, "fchown": true,
	"ftruncate": true, "flock": true,
	// paths relative to a directory fd or the cwd
	"mkdir": true, "mkdirat": true, "rmdir": true, "unlink": true, "unlinkat": true,
	"rename": true, "renameat": true, "renameat2": true, "link": true, "linkat": true,
	"symlink": true, "symlinkat": true, "chmod": true, "fchmodat": true, "chown": true,
	"lchown": true, "fchownat": true, "mknod": true, "mknodat": true,
}

// netSyscalls use sockets: with one of them selected, repair adds socket and bind (the
// socket's family and local address) besides close.
var netSyscalls = map[string]bool{
	"socket": true, "socketpair": true, "connect": true, "accept": true, "accept4": true,
	"bind": true, "listen": true, "sendto": true, "recvfrom": true, "sendmsg": true,
	"recvmsg": true, "sendmmsg": true, "recvmmsg": true, "send": true, "recv": true,
	"getsockopt": true, "setsockopt": true, "shutdown": true,
}

// RepairSet is what base_syscalls.repair adds to a selection: the minimal syscalls Saker's
// state engine needs to give the selected syscalls' events their process, fd and network
// context.
func RepairSet(sel []string) []string {
	out := append([]string(nil), repairProcess...)
	fd, net := false, false
	for _, n := range sel {
		fd = fd || fdSyscalls[n] || netSyscalls[n]
		net = net || netSyscalls[n]
	}
	if fd {
		out = append(out, "close", "chdir", "fchdir")
	}
	if net {
		out = append(out, "socket", "bind")
	}
	return out
}

// SyscallSelection returns the probe's syscalls for a ruleset and Falco's base_syscalls:
//   - all: every supported syscall (read and write included);
//   - otherwise the syscalls the enabled syscall rules can match (all of them for a rule
//     that matches every event type), plus the state set when custom_set names no syscall
//     and repair is off (the default), or else plus the custom_set names and, with repair,
//     RepairSet of the result;
//   - then the custom_set's !name entries are removed.
//
// A name the probe does not support is an error naming it.
func SyscallSelection(rs *engine.Ruleset, b config.BaseSyscalls) ([]string, error) {
	supported := probe.Supported()
	known := map[string]bool{}
	for _, n := range supported {
		known[n] = true
	}
	var add, remove []string
	for _, n := range b.CustomSet {
		name, neg := strings.CutPrefix(n, "!")
		if !known[name] {
			return nil, fmt.Errorf("base_syscalls.custom_set: %q is not a syscall the probe supports", name)
		}
		if neg {
			remove = append(remove, name)
		} else {
			add = append(add, name)
		}
	}
	want := map[string]bool{}
	if b.All {
		for _, n := range supported {
			want[n] = true
		}
	} else {
		var codes []uint16
		all := false
		if rs != nil {
			codes, all = rs.EventCodes("syscall")
		}
		names := map[string]bool{}
		for _, c := range codes {
			names[event.Table[c].Name] = true
		}
		for _, n := range supported {
			code, _ := probe.EventCode(n)
			if all || names[n] || names[event.Table[code].Name] {
				want[n] = true
			}
		}
		if len(add) == 0 && !b.Repair {
			for _, n := range state.Syscalls {
				want[n] = true
			}
		}
		for _, n := range add {
			want[n] = true
		}
		if b.Repair {
			cur := make([]string, 0, len(want))
			for n := range want {
				cur = append(cur, n)
			}
			for _, n := range RepairSet(cur) {
				want[n] = true
			}
		}
	}
	for _, n := range remove {
		delete(want, n)
	}
	out := make([]string, 0, len(want))
	for _, n := range supported {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// Host is the state of the host when capture starts: processes, their fds, users and groups
// (Falco's /proc scan), so processes started before Saker have full context, and the network
// interfaces (which end of a connection is local).
type Host struct {
	Machine    event.MachineInfo
	Interfaces []event.Interface
	Threads    []event.ThreadInfo
	FDs        []event.FDInfo
	Users      []event.User
	Groups     []event.Group
}

// ScanHost scans /proc, the user and group databases and the network interfaces.
func ScanHost() (*Host, error) {
	h := &Host{Machine: MachineInfo()}
	var err error
	if h.Threads, h.FDs, err = procscan.Scan("/proc"); err != nil {
		return nil, fmt.Errorf("scanning /proc: %w", err)
	}
	if h.Users, err = procscan.Users(); err != nil {
		return nil, err
	}
	if h.Groups, err = procscan.Groups(); err != nil {
		return nil, err
	}
	if h.Interfaces, err = procscan.Interfaces(); err != nil {
		return nil, err
	}
	return h, nil
}

// MachineInfo describes this machine (a capture's machine block, the state's hostname).
func MachineInfo() event.MachineInfo {
	mi := event.MachineInfo{NumCPUs: uint32(runtime.NumCPU()), MaxPID: 4194304}
	mi.Hostname, _ = os.Hostname()
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		mi.MemoryBytes = uint64(si.Totalram) * uint64(si.Unit)
		mi.BootTS = uint64(time.Now().Add(-time.Duration(si.Uptime) * time.Second).UnixNano())
	}
	return mi
}

// ProbeSource is the live host: the CO-RE eBPF probe, attached before the host is scanned
// (so nothing that starts in between is missed). It selects in the kernel the syscalls the
// rules need (RulesChanged; every supported one but read/write with All), reports the
// kernel's drops (ring full, records too big) and records that fail to decode as lost, and
// detaches when ctx is done, delivering what is left in the ring.
type ProbeSource struct {
	RingBytes int  // the ring buffer's size (probe.DefaultRingBytes for the online CPUs when 0)
	All       bool // capture every supported syscall, whatever the rules (saker capture)
	// Log receives a line per record that fails to decode (os.Stderr when nil).
	Log io.Writer
	// OnAttach runs when the probe is attached (the agent starts enforcement there); the
	// function it returns runs before the probe is closed.
	OnAttach func(*probe.Probe) func()

	mu       sync.Mutex
	p        *probe.Probe // while attached
	syscalls []string
	noWalk   bool  // the rules read no fd.realpath: the probe skips the resolved-path walk
	detached error // why the probe is not attached, once it was
	stats    probe.Stats
	last     probe.Stats // the counters already reported as lost
}

// Name is "probe".
func (s *ProbeSource) Name() string { return "probe" }

// RulesChanged makes the probe select what rs needs (at once when it is attached).
func (s *ProbeSource) RulesChanged(rs *Rules) {
	if s.All {
		return
	}
	sel, err := SyscallSelection(rs.Ruleset, rs.Base)
	if err != nil { // LoadRuleFiles checked the names: not reached
		fmt.Fprintf(s.log(), "saker: %v\n", err)
		sel = ProbeSelection(rs.Ruleset)
	}
	walk := NeedsRealPath(rs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syscalls, s.noWalk = sel, !walk
	if s.p != nil {
		if err := s.p.SetSyscalls(sel); err != nil {
			fmt.Fprintf(s.log(), "saker: updating the probe's selection: %v\n", err)
		}
		if err := s.p.SetRealPath(walk); err != nil {
			fmt.Fprintf(s.log(), "saker: %v\n", err)
		}
	}
}

// NeedsRealPath reports whether rs reads fd.realpath or fd.canonical (the probe's resolved-path walk at
// open exits, the most expensive part of an open's encoding): in a rule's condition, output
// or exception fields, in a macro (used or not), or in append_output's extra fields. Without
// it the probe skips the walk (a reload that brings such a rule switches it on again).
func NeedsRealPath(rs *Rules) bool {
	if rs == nil || rs.Ruleset == nil {
		return true
	}
	// fd.canonical falls back to fd.realpath
	return readsPathField(rs, "fd.realpath") || readsPathField(rs, "fd.canonical")
}

func readsPathField(rs *Rules, f string) bool {
	for _, r := range rs.Ruleset.Rules {
		if d := r.Def; d != nil {
			if strings.Contains(d.Condition.Value, f) || strings.Contains(d.Output.Value, f) {
				return true
			}
			for _, e := range d.Exceptions {
				if slices.Contains(e.Fields, f) {
					return true
				}
			}
		}
		if r.Output != nil && slices.Contains(r.Output.Fields, f) {
			return true
		}
	}
	for _, m := range rs.Ruleset.Macros {
		if readsField(m.Expr, f) {
			return true
		}
	}
	if rs.Extras != nil {
		for _, fs := range rs.Extras.byRule {
			for _, x := range fs {
				if x.name == f || (x.out != nil && slices.Contains(x.out.Fields, f)) {
					return true
				}
			}
		}
	}
	return false
}

// readsField reports whether the condition e references field name.
func readsField(e ast.Expr, name string) bool {
	switch x := e.(type) {
	case *ast.BinaryExpr:
		return readsField(x.X, name) || readsField(x.Y, name)
	case *ast.NotExpr:
		return readsField(x.X, name)
	case *ast.ParenExpr:
		return readsField(x.X, name)
	case *ast.UnaryCheck:
		return x.Field != nil && x.Field.Name == name
	case *ast.Compare:
		if x.Field != nil && x.Field.Name == name {
			return true
		}
		if v, ok := x.Value.(*ast.FieldValue); ok && v.Field != nil && v.Field.Name == name {
			return true
		}
	}
	return false
}

func (s *ProbeSource) log() io.Writer {
	if s.Log == nil {
		return os.Stderr
	}
	return s.Log
}

// Attached is nil while the probe is attached.
func (s *ProbeSource) Attached() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.p != nil:
		return nil
	case s.detached != nil:
		return s.detached
	}
	return errors.New("probe not attached")
}

// Pending is the bytes waiting in the ring buffer.
func (s *ProbeSource) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0
	}
	return s.p.Buffered()
}

// Stats are the probe's counters: live while it runs, the last ones after.
func (s *ProbeSource) Stats() probe.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		return s.p.Stats()
	}
	return s.stats
}

// Programs is the kernel's run-time statistics of the probe's attached programs (names,
// total run time, run count): empty while it is not attached, zero while
// kernel.bpf_stats_enabled is 0 (the agent's metrics report them).
func (s *ProbeSource) Programs() ([]string, []time.Duration, []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, nil, nil
	}
	st := s.p.ProgramStats()
	names, rt, rc := make([]string, len(st)), make([]time.Duration, len(st)), make([]uint64, len(st))
	for i, p := range st {
		names[i], rt[i], rc[i] = p.Name, p.RunTime, p.RunCount
	}
	return names, rt, rc
}

// poll reports the kernel's new drops as lost.
func (s *ProbeSource) poll(p *probe.Probe, in Input) { s.counted(p.Stats(), in) }

// counted reports what the kernel counters st add to the last ones as lost: records the ring
// had no room for, and records larger than the probe sends.
func (s *ProbeSource) counted(st probe.Stats, in Input) {
	in.Lost(WhereKernel, st.KernelDrops-s.last.KernelDrops)
	in.Lost(WhereTooBig, st.TooBig-s.last.TooBig)
	s.last = st
}

// record decodes one record read from the ring and delivers it; a record that does not
// decode is counted as lost (WhereDecode) and logged.
func (s *ProbeSource) record(buf []byte, ev *event.Event, num *uint64, in Input) {
	if err := event.Decode(buf, ev, true); err != nil {
		in.Lost(WhereDecode, 1)
		fmt.Fprintf(s.log(), "saker: dropping a record: %v\n", err)
		return
	}
	*num++
	ev.Num = *num // evt.num counts the events read, as in a capture
	in.Syscall(ev)
}

// Run loads and attaches the probe, scans the host into in, says ready and delivers every
// record until ctx is done.
func (s *ProbeSource) Run(ctx context.Context, in Input) error {
	if err := CheckCapabilities(); err != nil {
		return err
	}
	s.mu.Lock()
	sel := s.syscalls
	if s.All {
		sel = nil
	}
	p, err := probe.Load(probe.Options{ExcludeTGID: uint32(os.Getpid()), Syscalls: sel, RingBytes: s.RingBytes,
		NoRealPath: s.noWalk && !s.All})
	if err == nil {
		s.p = p
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		st := p.Stats() // before Close frees the counters
		s.mu.Lock()
		s.stats, s.p = st, nil
		if s.detached == nil {
			s.detached = errors.New("probe detached")
		}
		s.mu.Unlock()
		p.Close()
	}()
	if s.OnAttach != nil {
		defer s.OnAttach(p)()
	}
	h, err := ScanHost()
	if err == nil {
		err = in.LoadHost(h)
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.detached = errors.New("probe detached: saker is stopping")
		s.mu.Unlock()
		p.Stop() // detach; the loop below reads what is left in the ring, then ends
	})
	defer stop()
	what := fmt.Sprintf("%d syscalls selected", len(sel))
	if len(sel) == 0 {
		what = "every supported syscall but read/write"
	}
	in.Ready(fmt.Sprintf("watching the host (%d processes and threads known, %s, %d KiB ring)", len(h.Threads), what, p.RingBytes()>>10))
	var buf []byte
	var ev event.Event
	var num uint64
	for {
		if p.Buffered() == 0 {
			in.Idle() // (the kernel's counters are read every 1024 records, not here: reading them is a syscall)
		}
		if err := p.Read(&buf); err != nil {
			s.poll(p, in)
			if errors.Is(err, probe.ErrClosed) {
				return nil
			}
			s.mu.Lock()
			s.detached = err
			s.mu.Unlock()
			return err
		}
		s.record(buf, &ev, &num, in)
		if num%1024 == 0 {
			s.poll(p, in)
		}
	}
}
