// Package probe is Saker's live capture: a CO-RE eBPF probe (x86_64) that encodes syscall exits,
// and process exits, directly in the scap event layout of the current event table, so pkg/event
// decodes them like events read from a .scap file.
//
// One program on tp_btf/sys_exit dispatches: a syscall not selected costs one array lookup;
// selected syscalls tail-call their encoder, which reads the arguments from the saved user
// registers (intact at sys_exit), user strings (resident by then) and task state, builds the
// event in a per-CPU buffer and copies it into a ring buffer. Records are submitted without
// waking the reader and woken in batches; Read polls with a short deadline so a lone event is
// still delivered within PollInterval.
//
// The programs are linked with unpinned BPF links: Close detaches them, and so does the death
// of the process (the kernel drops the links with their last file descriptor).
package probe

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Options configure Load.
type Options struct {
	// RingBytes is the ring buffer size (rounded up to a power of two, at least one page).
	// 0 means DefaultRingBytes for the host's online CPUs.
	RingBytes int
	// ExcludeTGID is a process whose events are dropped in the kernel (Saker's own pid).
	// 0 excludes nothing.
	ExcludeTGID uint32
	// Syscalls selects the syscalls to capture by name (see Supported; "procexit" selects
	// process exits). Empty means every supported one except read and write, which are
	// captured only when named.
	Syscalls []string
	// NoRealPath leaves out the walk of an opened file's path at open exits (the extension
	// param ExtRealPath, fd.realpath, is then empty and fd.realpath falls back to fd.name).
	// For measuring its cost.
	NoRealPath bool
	// NoDirectReads makes the programs read kernel structures through bpf_probe_read_kernel
	// only, as they do by themselves on kernels before 6.2 (no bpf_rdonly_cast): for testing
	// that path, and measuring what the direct loads save.
	NoDirectReads bool
	// AllMmap captures mmap and mprotect calls without PROT_EXEC too (default: only
	// executable mappings).
	AllMmap bool
	// SnapLen is how many bytes of data the read, write, send and receive events carry
	// (evt.buffer, evt.arg.data; Falco's snaplen): 0 means DefaultSnapLen, a negative value
	// none, at most MaxSnapLen.
	SnapLen int
}

// DefaultSnapLen is the data kept per event when Options.SnapLen is 0 (Falco's default).
const DefaultSnapLen = 80

// MaxSnapLen is the largest Options.SnapLen (bpf/data.h's MAX_SNAPLEN - 1).
const MaxSnapLen = 16383

// Stats are the probe's counters.
type Stats struct {
	Events      uint64 // records written to the ring buffer by the kernel
	KernelDrops uint64 // records lost because the ring buffer was full
	TooBig      uint64 // events dropped because they exceeded 64 KiB
	Wakeups     uint64 // forced reader wakeups
	Read        uint64 // records returned by Read
}

// FixedFDBase is the fd the probe writes for io_uring's fixed-file slot 0 (slot i is
// FixedFDBase+i): requests on registered files, and direct opens and accepts into them, have
// no fd of their own (bpf/iouring.h's FIXED_FD_BASE).
const FixedFDBase = 0x70000000

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("probe: closed")

// PollInterval bounds how long a record submitted without a wakeup waits in the ring.
const PollInterval = 5 * time.Millisecond

// Probe is a loaded and attached probe.
type Probe struct {
	coll        *ebpf.Collection
	links       []link.Link
	rd          *ringbuf.Reader
	interesting *ebpf.Map
	stats       *ebpf.Map

	readMu sync.Mutex
	rec    ringbuf.Record
	read   atomic.Uint64

	stopOnce sync.Once
	stopped  atomic.Bool // programs detached: Read drains the ring, then returns ErrClosed
	stopErr  error
	uringErr error    // why io_uring requests are not seen (nil: they are)
	attached []string // the programs attached to a hook (the others are tail-called)

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error

	enfMu sync.Mutex
	enf   *Enforcer // the enforcement program, when attached (enforce.go)
	// enforce_enter, loaded by the first Enforcer call: the verifier takes longer over it
	// than over any other program (1.8 s of the 14 s all take here), and most runs enforce
	// nothing
	enfSpec *ebpf.CollectionSpec
	enfProg *ebpf.Program
}

// Load checks the environment, loads the programs and maps, and attaches them.
func Load(opts Options) (*Probe, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("probe: the kernel exposes no BTF (/sys/kernel/btf/vmlinux: %v); a kernel built with CONFIG_DEBUG_INFO_BTF=y is required", err)
	}
	sel, err := selection(opts.Syscalls)
	if err != nil {
		return nil, err
	}

	spec, err := loadSaker()
	if err != nil {
		return nil, fmt.Errorf("probe: reading the embedded BPF object: %w", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("probe: counting CPUs: %w", err)
	}
	spec.Maps["auxmap"].MaxEntries = uint32(ncpu)
	spec.Maps["events"].MaxEntries = ringSize(opts.RingBytes)

	bootOffset, err := bootOffsetNS()
	if err != nil {
		return nil, err
	}
	vars := map[string]any{
		"boot_offset_ns": bootOffset,
		"exclude_tgid":   opts.ExcludeTGID,
	}
	if opts.AllMmap {
		vars["mmap_exec_only"] = uint8(0)
	}
	if opts.NoRealPath {
		vars["resolve_paths"] = uint8(0)
	}
	if opts.NoDirectReads {
		vars["direct_reads"] = uint8(0)
	}
	switch {
	case opts.SnapLen > MaxSnapLen:
		return nil, fmt.Errorf("probe: snap length %d is above the maximum %d", opts.SnapLen, MaxSnapLen)
	case opts.SnapLen < 0:
		vars["snaplen"] = uint32(0)
	case opts.SnapLen > 0:
		vars["snaplen"] = uint32(opts.SnapLen)
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("probe: BPF object lacks variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("probe: setting %s: %w", name, err)
		}
	}

	enfSpec := later(spec, "enforce_enter")
	coll, err := loadCollection(spec, loadWorkers())
	var uringErr error
	if err != nil {
		// A kernel without io_uring (or with other io_uring types) refuses only those
		// programs: load the rest.
		uringErr = err
		withoutUring(spec)
		coll, err = loadCollection(spec, loadWorkers())
	}
	if err != nil {
		return nil, loadError(err)
	}
	p := &Probe{coll: coll, interesting: coll.Maps["interesting"], stats: coll.Maps["stats"], uringErr: uringErr, enfSpec: enfSpec}
	if err := p.setup(sel); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Probe) setup(sel map[uint32]bool) error {
	exitProgs := p.coll.Maps["exit_progs"]
	for name, s := range syscalls {
		if s.nr == procexitSlot {
			continue
		}
		prog := p.coll.Programs["x_"+name]
		if prog == nil {
			return fmt.Errorf("probe: BPF object lacks program x_%s", name)
		}
		if err := exitProgs.Put(s.nr, prog); err != nil {
			return fmt.Errorf("probe: registering x_%s: %w", name, err)
		}
	}
	tab, err := ia32Table()
	if err != nil {
		return err
	}
	ia32 := p.coll.Maps["ia32_to_64"]
	for nr32, nr := range tab {
		if err := ia32.Put(uint32(nr32), nr); err != nil {
			return fmt.Errorf("probe: filling the ia32 syscall table: %w", err)
		}
	}
	stages := p.coll.Maps["stage_progs"]
	for i, name := range stagePrograms {
		if err := stages.Put(uint32(i), p.coll.Programs[name]); err != nil {
			return fmt.Errorf("probe: registering %s: %w", name, err)
		}
	}
	if err := p.setSelection(sel); err != nil {
		return err
	}
	for _, name := range []string{"sys_exit", "sched_exec", "sched_exit"} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.coll.Programs[name]})
		if err != nil {
			return fmt.Errorf("probe: attaching %s: %w", name, err)
		}
		p.links = append(p.links, l)
		p.attached = append(p.attached, name)
	}
	if p.uringErr == nil {
		p.uringErr = p.setupUring()
	}
	rd, err := ringbuf.NewReader(p.coll.Maps["events"])
	if err != nil {
		return fmt.Errorf("probe: ring buffer reader: %w", err)
	}
	rd.SetDeadline(time.Now()) // expired: the first Read arms a real one (see Read)
	p.rd = rd
	return nil
}

// setupUring registers the io_uring encoders and attaches the io_uring tracepoints. Its error
// leaves the syscall programs working.
func (p *Probe) setupUring() error {
	progs := p.coll.Maps["uring_progs"]
	skip := p.coll.Maps["uring_skip_progs"]
	for op, name := range uringOps {
		if err := progs.Put(op, p.coll.Programs["uc_"+name]); err != nil {
			return fmt.Errorf("probe: registering uc_%s: %w", name, err)
		}
		if err := skip.Put(op, p.coll.Programs["us_"+name]); err != nil {
			return fmt.Errorf("probe: registering us_%s: %w", name, err)
		}
	}
	var links []link.Link
	for _, name := range uringPrograms {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.coll.Programs[name]})
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			return fmt.Errorf("probe: attaching %s: %w", name, err)
		}
		links = append(links, l)
	}
	p.links = append(p.links, links...)
	p.attached = append(p.attached, uringPrograms...)
	return nil
}

// withoutUring removes the io_uring programs and maps from spec.
func withoutUring(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, "uc_") || strings.HasPrefix(name, "us_") || name == "uring_submit" || name == "uring_complete" {
			delete(spec.Programs, name)
		}
	}
	for _, name := range []string{"uring_pending", "uring_scratch", "uring_progs", "uring_skip_progs"} {
		delete(spec.Maps, name)
	}
}

// IOUringError reports why io_uring requests are not seen (the kernel refused or lacks
// io_uring's tracepoints); nil when they are.
func (p *Probe) IOUringError() error { return p.uringErr }

// loadError names the program the verifier refused and quotes the end of its log.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		log := ve.Log
		if len(log) > 12 {
			log = log[len(log)-12:]
		}
		return fmt.Errorf("probe: the kernel refused a program: %v\nverifier log (end):\n%s", err, strings.Join(log, "\n"))
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("probe: loading refused with EPERM (missing privileges, or lockdown/LSM forbids BPF): %w", err)
	}
	return fmt.Errorf("probe: loading: %w", err)
}

// bootOffsetNS is the epoch time of boot in ns: CLOCK_REALTIME - CLOCK_BOOTTIME.
func bootOffsetNS() (uint64, error) {
	var rt, bt unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		return 0, fmt.Errorf("probe: clock_gettime: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt); err != nil {
		return 0, fmt.Errorf("probe: clock_gettime: %w", err)
	}
	return uint64(rt.Nano() - bt.Nano()), nil
}

func selection(names []string) (map[uint32]bool, error) {
	sel := map[uint32]bool{}
	if len(names) == 0 {
		for n, s := range syscalls {
			if !onlyWhenNamed[n] {
				sel[s.nr] = true
			}
		}
		return sel, nil
	}
	var unknown []string
	for _, n := range names {
		s, ok := syscalls[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		sel[s.nr] = true
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("probe: unsupported syscalls %s (supported: %s)", strings.Join(unknown, ", "), strings.Join(Supported(), ", "))
	}
	return sel, nil
}

func (p *Probe) setSelection(sel map[uint32]bool) error {
	keys := make([]uint32, 512)
	vals := selectionValues(sel)
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := p.interesting.BatchUpdate(keys, vals, nil); err != nil {
		// batch ops on arrays need 5.6; fall back to single updates
		for i := range keys {
			if err := p.interesting.Put(keys[i], vals[i]); err != nil {
				return fmt.Errorf("probe: updating the syscall selection: %w", err)
			}
		}
	}
	return nil
}

// SetSyscalls changes the in-kernel selection at runtime (same names as Options.Syscalls; empty
// selects the default set).
func (p *Probe) SetSyscalls(names []string) error {
	if p.closed.Load() {
		return ErrClosed
	}
	sel, err := selection(names)
	if err != nil {
		return err
	}
	return p.setSelection(sel)
}

// SetRealPath switches the walk of an opened file's resolved path at open exits
// (fd.realpath, the extension param ExtRealPath) while the probe runs: off, opens cost less
// in the kernel and fd.realpath falls back to fd.name. Load starts with it on unless
// Options.NoRealPath.
func (p *Probe) SetRealPath(on bool) error {
	v := p.coll.Variables["resolve_paths"]
	if v == nil {
		return errors.New("probe: BPF object lacks variable resolve_paths")
	}
	var b uint8
	if on {
		b = 1
	}
	if err := v.Set(b); err != nil {
		return fmt.Errorf("probe: switching the resolved-path walk: %w", err)
	}
	return nil
}

// Read stores the next record (one event in the scap layout: header, lengths, values) in *buf,
// reusing its capacity. It blocks until a record arrives and returns ErrClosed after Close.
// Read is not meant to be called from several goroutines at once (it is serialized).
func (p *Probe) Read(buf *[]byte) error {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	for {
		if p.closed.Load() {
			return ErrClosed
		}
		p.rec.RawSample = (*buf)[:0]
		err := p.rd.ReadInto(&p.rec)
		if err == nil {
			*buf = p.rec.RawSample
			p.read.Add(1)
			return nil
		}
		if p.stopped.Load() && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed)) {
			// Stopped and the ring is empty: every record was delivered.
			return ErrClosed
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The ring ran empty: wait for a wakeup, or at most PollInterval for records
			// submitted without one. (The deadline is only renewed here, so a busy reader
			// does not pay for it on every record.)
			p.rd.SetDeadline(time.Now().Add(PollInterval))
			continue
		}
		if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) || p.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("probe: reading the ring buffer: %w", err)
	}
}

// Buffered reports the bytes of records waiting in the ring: 0 means the next Read waits.
func (p *Probe) Buffered() int {
	if p.closed.Load() {
		return 0
	}
	return p.rd.AvailableBytes()
}

// Stats returns the kernel counters summed over CPUs, and the records read.
func (p *Probe) Stats() Stats {
	st := Stats{Read: p.read.Load()}
	if p.closed.Load() {
		return st
	}
	sum := func(k uint32) uint64 {
		var per []uint64
		if err := p.stats.Lookup(k, &per); err != nil {
			return 0
		}
		var t uint64
		for _, v := range per {
			t += v
		}
		return t
	}
	st.Events = sum(0)
	st.KernelDrops = sum(1)
	st.TooBig = sum(2)
	st.Wakeups = sum(3)
	return st
}

// ProgramStats is the kernel's run-time statistics of one attached program (a hook's entry:
// the time of the programs it tail-calls, the encoders, is included in it).
type ProgramStats struct {
	Name     string
	RunTime  time.Duration // total time the program ran
	RunCount uint64        // times it ran
}

// ProgramStats returns the statistics of the attached programs, in the order they were
// attached. The kernel counts only while BPF statistics are enabled
// (/proc/sys/kernel/bpf_stats_enabled, or ebpf.EnableStats): otherwise they stay at what
// they were (0 when never enabled). Empty after Close.
func (p *Probe) ProgramStats() []ProgramStats {
	if p.closed.Load() {
		return nil
	}
	out := make([]ProgramStats, 0, len(p.attached))
	for _, name := range p.attached {
		prog := p.coll.Programs[name]
		if prog == nil {
			continue
		}
		st, err := prog.Stats()
		if err != nil {
			continue
		}
		out = append(out, ProgramStats{Name: name, RunTime: st.Runtime, RunCount: st.RunCount})
	}
	return out
}

// programIDs returns the kernel ids of the loaded programs (for tests).
func (p *Probe) programIDs() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for _, prog := range p.coll.Programs {
		if info, err := prog.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Stop detaches the programs, so no new record is made, and lets Read deliver the records
// still in the ring (those submitted without a wakeup included) before it returns ErrClosed.
// This is how a capture or a detection ends without losing its last events; Close still
// has to be called to free the maps.
func (p *Probe) Stop() error {
	p.stopOnce.Do(func() {
		var errs []error
		for _, l := range p.links {
			// Detaching a tracepoint program waits for the runs in progress, so nothing is
			// submitted after this loop.
			errs = append(errs, l.Close())
		}
		p.stopped.Store(true)
		if p.rd != nil {
			errs = append(errs, p.rd.Flush()) // wake a Read waiting for data
		}
		p.stopErr = errors.Join(errs...)
	})
	return p.stopErr
}

// Close detaches the programs and frees the maps. A Read in progress returns ErrClosed;
// records still in the ring are lost (see Stop).
func (p *Probe) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		p.enfMu.Lock()
		enf := p.enf
		p.enfMu.Unlock()
		if enf != nil {
			errs = append(errs, enf.Close())
		}
		errs = append(errs, p.Stop())
		p.closed.Store(true)
		if p.rd != nil {
			errs = append(errs, p.rd.Close())
		}
		p.readMu.Lock() // wait for a Read in progress to return
		p.readMu.Unlock()
		if p.coll != nil {
			p.coll.Close()
		}
		if p.enfProg != nil {
			p.enfProg.Close()
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
