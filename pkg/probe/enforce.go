package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// In-kernel enforcement (bpf/enforce.h): a program on tp_btf/sys_enter that tests the
// clauses of `enforce: kill` rules (compiled by pkg/enforce) on the syscalls they name and
// sends SIGKILL to the caller of a matching one before the syscall runs.

// Enforcement field kinds of an EnforcePred (bpf/enforce.h's EF_*).
const (
	EnfPath      = 1 // the path argument (execve filename, open pathname)
	EnfExe       = 2 // argv[0]
	EnfName      = 3 // a comm: Arg 0 the process (the new program's name for an execve), 1..8 an ancestor
	EnfAncAny    = 4 // any ancestor's comm (levels 1..EnfMaxAncestors)
	EnfUID       = 5 // effective uid
	EnfContainer = 6 // 1 in a container (non-initial pid namespace), 0 on the host
	EnfRPort     = 7 // connect's destination port
	EnfRIP4      = 8 // connect's destination IPv4 address (host byte order)
)

// Enforcement operators (bpf/enforce.h's EO_*).
const (
	EnfEq     = 1
	EnfPrefix = 2
	EnfLess   = 3
	EnfMore   = 4
)

// Enforcement limits.
const (
	EnfMaxClauses   = 512 // clauses over all syscalls
	EnfMaxPerSys    = 256 // clauses per syscall
	EnfMaxPreds     = 16  // predicates per clause
	EnfMaxStr       = 254 // bytes of a string value (a 255-byte read is a cut path: it equals no value)
	EnfMaxAncestors = 8
)

// enforceSyscalls are the syscalls enforcement can test, with where their path argument is
// (EP_ARG0/EP_ARG1, 0: none) and whether it is an execve.
var enforceSyscalls = map[string]struct {
	pathArg uint32
	exec    bool
	sock    bool
}{
	"execve": {1, true, false}, "execveat": {2, true, false},
	"open": {1, false, false}, "creat": {1, false, false}, "openat": {2, false, false}, "openat2": {2, false, false},
	"connect": {0, false, true},
}

// EnforceSyscalls reports whether the syscall name can carry enforcement clauses, and whether
// it has a path argument, is an execve, or has a socket address.
func EnforceSyscall(name string) (ok, path, exec, sock bool) {
	s, ok := enforceSyscalls[name]
	return ok, s.pathArg != 0, s.exec, s.sock
}

// EnforcePred is one predicate of a clause: Field Op Value, negated when Neg.
type EnforcePred struct {
	Field, Op uint8
	Neg       bool
	Arg       uint8 // EnfName: the ancestor level
	Num       uint64
	Str       string
}

// EnforceClause is a conjunction of predicates tested on the syscalls named; Rule is the
// index reported by EnforceEvent.Rule and counted by Kills.
type EnforceClause struct {
	Rule     uint32
	Syscalls []string
	Preds    []EnforcePred
}

// EnforceEvent is one enforcement: the process was killed (or would have been, DryRun).
type EnforceEvent struct {
	Time    time.Time
	PID     uint32 // thread id
	TGID    uint32
	Rule    uint32
	Syscall string // the x86_64 name
	Compat  bool   // an ia32 call
	DryRun  bool
	Comm    string // the caller's comm
	Path    string // the path argument, when the syscall has one and it was read
	Exe     string // argv[0] (of the new program for an execve)
}

// EnforceStats are the enforcement program's counters.
type EnforceStats struct {
	Matched, Killed, Faults, Spared, EventsLost, SignalFailed uint64
}

// Enforcer is the enforcement program of a Probe, attached by Probe.Enforcer.
type Enforcer struct {
	p       *Probe
	link    link.Link
	rd      *ringbuf.Reader
	mu      sync.Mutex
	prev    []uint32 // syscall numbers with clauses
	nclause uint32
	protect map[uint32]bool
	comms   map[string]bool
	exes    map[string]bool
	runtime map[RuntimeComm]bool
	once    sync.Once
}

// Enforcer attaches the enforcement program (once; later calls return the same Enforcer).
// It starts with no clause: no process is killed until SetClauses.
func (p *Probe) Enforcer() (*Enforcer, error) {
	p.enfMu.Lock()
	defer p.enfMu.Unlock()
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if p.enf != nil {
		return p.enf, nil
	}
	if p.enfProg == nil {
		if p.enfSpec == nil {
			return nil, errors.New("probe: BPF object lacks program enforce_enter")
		}
		prog, err := loadLater(p.coll, p.enfSpec)
		if err != nil {
			return nil, loadError(err)
		}
		p.enfProg = prog
	}
	prog := p.enfProg
	rd, err := ringbuf.NewReader(p.coll.Maps["enf_events"])
	if err != nil {
		return nil, fmt.Errorf("probe: enforcement ring buffer: %w", err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("probe: attaching enforce_enter: %w", err)
	}
	p.enf = &Enforcer{p: p, link: l, rd: rd, protect: map[uint32]bool{}, comms: map[string]bool{}, exes: map[string]bool{}, runtime: map[RuntimeComm]bool{}}
	return p.enf, nil
}

func (e *Enforcer) m(name string) *ebpf.Map { return e.p.coll.Maps[name] }

// predBytes lays out a struct enf_pred.
func predBytes(b []byte, pr EnforcePred) {
	b[0], b[1] = pr.Field, pr.Op
	if pr.Neg {
		b[2] = 1
	}
	b[3] = pr.Arg
	binary.LittleEndian.PutUint32(b[4:], uint32(len(pr.Str)))
	binary.LittleEndian.PutUint64(b[8:], pr.Num)
	copy(b[16:16+EnfMaxStr], pr.Str)
}

const predSize = 16 + 256
const clauseSize = 8 + EnfMaxPreds*predSize
const sysSize = 16 + 2*EnfMaxPerSys

// SetClauses replaces the clauses in effect. The index is written last per syscall, so a
// syscall sees either its old or its new clause list (briefly a mix while the replacement
// is written: a clause slot reused by another rule can be seen by the old index).
func (e *Enforcer) SetClauses(cls []EnforceClause) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(cls) > EnfMaxClauses {
		return fmt.Errorf("probe: %d enforcement clauses, at most %d", len(cls), EnfMaxClauses)
	}
	bySys := map[uint32][]uint16{}
	need := map[uint32]uint32{}
	path := map[uint32]uint32{}
	buf := make([]byte, clauseSize)
	for i, c := range cls {
		if len(c.Preds) > EnfMaxPreds {
			return fmt.Errorf("probe: enforcement clause %d has %d predicates, at most %d", i, len(c.Preds), EnfMaxPreds)
		}
		var nd uint32
		for _, pr := range c.Preds {
			if len(pr.Str) > EnfMaxStr {
				return fmt.Errorf("probe: enforcement value %q is longer than %d bytes", pr.Str, EnfMaxStr)
			}
			switch pr.Field {
			case EnfPath:
				nd |= 0x1
			case EnfExe:
				nd |= 0x2
			case EnfName:
				if pr.Arg > 0 {
					nd |= 0x4
				}
			case EnfAncAny:
				nd |= 0x4
			case EnfUID:
				nd |= 0x8
			case EnfContainer:
				nd |= 0x10
			case EnfRPort, EnfRIP4:
				nd |= 0x20
			}
		}
		for _, name := range c.Syscalls {
			s, ok := enforceSyscalls[name]
			if !ok {
				return fmt.Errorf("probe: syscall %s cannot carry enforcement clauses", name)
			}
			nr := syscalls[name].nr
			bySys[nr] = append(bySys[nr], uint16(i))
			if len(bySys[nr]) > EnfMaxPerSys {
				return fmt.Errorf("probe: more than %d enforcement clauses on %s", EnfMaxPerSys, name)
			}
			n := nd
			if s.exec {
				n |= 0x40 | 0x1 // the new program's name comes from the path
			}
			need[nr] |= n
			path[nr] = s.pathArg
		}
		clear(buf)
		binary.LittleEndian.PutUint32(buf[0:], c.Rule)
		binary.LittleEndian.PutUint32(buf[4:], uint32(len(c.Preds)))
		for j, pr := range c.Preds {
			predBytes(buf[8+j*predSize:], pr)
		}
		if err := e.m("enf_clauses").Put(uint32(i), buf); err != nil {
			return fmt.Errorf("probe: writing enforcement clause %d: %w", i, err)
		}
	}
	sb := make([]byte, sysSize)
	var now []uint32
	for nr, ids := range bySys {
		clear(sb)
		binary.LittleEndian.PutUint32(sb[0:], uint32(len(ids)))
		binary.LittleEndian.PutUint32(sb[4:], need[nr])
		binary.LittleEndian.PutUint32(sb[8:], path[nr])
		for j, id := range ids {
			binary.LittleEndian.PutUint16(sb[16+2*j:], id)
		}
		if err := e.m("enf_index").Put(nr, sb); err != nil {
			return fmt.Errorf("probe: writing the enforcement index: %w", err)
		}
		now = append(now, nr)
	}
	clear(sb)
	for _, nr := range e.prev {
		if _, ok := bySys[nr]; !ok {
			if err := e.m("enf_index").Put(nr, sb); err != nil {
				return fmt.Errorf("probe: clearing the enforcement index: %w", err)
			}
		}
	}
	e.prev = now
	e.nclause = uint32(len(cls))
	return nil
}

// SetDryRun switches the global dry run: matches are reported, nothing is killed.
func (e *Enforcer) SetDryRun(on bool) error {
	v := make([]byte, 8)
	if on {
		v[0] = 1
	}
	return e.m("enf_conf").Put(uint32(0), v)
}

// SetProtected replaces the set of thread-group ids that are never killed.
func (e *Enforcer) SetProtected(tgids []uint32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	want := map[uint32]bool{}
	for _, t := range tgids {
		want[t] = true
	}
	m := e.m("enf_protect")
	for t := range want {
		if !e.protect[t] {
			if err := m.Put(t, uint8(1)); err != nil {
				return fmt.Errorf("probe: protecting pid %d: %w", t, err)
			}
		}
	}
	for t := range e.protect {
		if !want[t] {
			m.Delete(t)
		}
	}
	e.protect = want
	return nil
}

// SetAllowed replaces the comms (at most 15 bytes each: longer names are cut as the kernel
// cuts comm) and the exec paths never killed.
func (e *Enforcer) SetAllowed(comms, exes []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	wantC, wantE := map[string]bool{}, map[string]bool{}
	for _, c := range comms {
		if len(c) > 15 {
			c = c[:15]
		}
		wantC[c] = true
	}
	for _, x := range exes {
		if len(x) > EnfMaxStr {
			return fmt.Errorf("probe: allowlisted path %q is longer than %d bytes", x, EnfMaxStr)
		}
		wantE[x] = true
	}
	key := func(s string, n int) []byte { b := make([]byte, n); copy(b, s); return b }
	mc, me := e.m("enf_allow_comm"), e.m("enf_allow_exe")
	for c := range wantC {
		if err := mc.Put(key(c, 16), uint8(1)); err != nil {
			return fmt.Errorf("probe: allowlisting %q: %w", c, err)
		}
	}
	for c := range e.comms {
		if !wantC[c] {
			mc.Delete(key(c, 16))
		}
	}
	for x := range wantE {
		if err := me.Put(key(x, 256), uint8(1)); err != nil {
			return fmt.Errorf("probe: allowlisting %q: %w", x, err)
		}
	}
	for x := range e.exes {
		if !wantE[x] {
			me.Delete(key(x, 256))
		}
	}
	e.comms, e.exes = wantC, wantE
	return nil
}

// RuntimeComm is a comm the enforcement program never kills: a container runtime's or the
// kubelet's (pkg/enforce passes pkg/response/actions.RuntimeEntries).
type RuntimeComm struct {
	Name   string // at most 15 bytes
	Prefix bool   // any comm starting with Name; else exactly Name
}

func (r RuntimeComm) key() ([]byte, error) {
	if r.Name == "" || len(r.Name) > 15 {
		return nil, fmt.Errorf("probe: runtime comm %q: 1 to 15 bytes", r.Name)
	}
	n := len(r.Name)
	if !r.Prefix {
		n++ // the NUL after the name
	}
	b := make([]byte, 4+16)
	binary.LittleEndian.PutUint32(b, uint32(8*n))
	copy(b[4:], r.Name)
	return b, nil
}

// SetRuntime replaces the runtime comms (the enf_runtime trie).
func (e *Enforcer) SetRuntime(ents []RuntimeComm) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.m("enf_runtime")
	if m == nil {
		return errors.New("probe: BPF object lacks map enf_runtime")
	}
	want := map[RuntimeComm]bool{}
	for _, r := range ents {
		k, err := r.key()
		if err != nil {
			return err
		}
		if err := m.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("probe: runtime comm %q: %w", r.Name, err)
		}
		want[r] = true
	}
	for r := range e.runtime {
		if !want[r] {
			k, _ := r.key()
			m.Delete(k)
		}
	}
	e.runtime = want
	return nil
}

// ReadEvent blocks until the next enforcement and returns it; ErrClosed after Close.
func (e *Enforcer) ReadEvent() (EnforceEvent, error) {
	rec, err := e.rd.Read()
	if err != nil {
		if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return EnforceEvent{}, ErrClosed
		}
		return EnforceEvent{}, fmt.Errorf("probe: reading enforcements: %w", err)
	}
	return decodeEnforce(rec.RawSample), nil
}

var nrNames = func() map[uint32]string {
	m := map[uint32]string{}
	for n, s := range syscalls {
		m[s.nr] = n
	}
	return m
}()

func enfCStr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func decodeEnforce(b []byte) EnforceEvent {
	if len(b) < 560 {
		return EnforceEvent{}
	}
	le := binary.LittleEndian
	nr := le.Uint32(b[20:])
	return EnforceEvent{
		Time: time.Unix(0, int64(le.Uint64(b[0:]))).UTC(), PID: le.Uint32(b[8:]), TGID: le.Uint32(b[12:]),
		Rule: le.Uint32(b[16:]), Syscall: nrNames[nr], Compat: le.Uint32(b[24:]) != 0xffffffff,
		DryRun: b[28] != 0, Comm: enfCStr(b[32:48]), Path: enfCStr(b[48:304]), Exe: enfCStr(b[304:560]),
	}
}

// Kills returns the per-rule enforcement counts (dry-run matches included), summed over CPUs.
func (e *Enforcer) Kills() map[uint32]uint64 {
	out := map[uint32]uint64{}
	e.mu.Lock()
	n := e.nclause
	e.mu.Unlock()
	// rules are numbered below the number of clauses
	for r := uint32(0); r < n && r < EnfMaxClauses; r++ {
		var per []uint64
		if err := e.m("enf_kills").Lookup(r, &per); err != nil {
			continue
		}
		var t uint64
		for _, v := range per {
			t += v
		}
		if t > 0 {
			out[r] = t
		}
	}
	return out
}

// ResetKills zeroes the per-rule counters (the rule numbering changes with the rules).
func (e *Enforcer) ResetKills() {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return
	}
	zero := make([]uint64, ncpu)
	for r := uint32(0); r < EnfMaxClauses; r++ {
		e.m("enf_kills").Put(r, zero)
	}
}

// Stats returns the enforcement counters summed over CPUs.
func (e *Enforcer) Stats() EnforceStats {
	sum := func(k uint32) uint64 {
		var per []uint64
		if err := e.m("enf_stats").Lookup(k, &per); err != nil {
			return 0
		}
		var t uint64
		for _, v := range per {
			t += v
		}
		return t
	}
	return EnforceStats{Matched: sum(0), Killed: sum(1), Faults: sum(2), Spared: sum(3), EventsLost: sum(4), SignalFailed: sum(5)}
}

// Close detaches the enforcement program and closes its reader (ReadEvent returns
// ErrClosed). The probe keeps running.
func (e *Enforcer) Close() error {
	var err error
	e.once.Do(func() {
		err = errors.Join(e.link.Close(), e.rd.Close())
		e.p.enfMu.Lock()
		if e.p.enf == e {
			e.p.enf = nil
		}
		e.p.enfMu.Unlock()
	})
	return err
}
