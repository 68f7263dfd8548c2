package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
)

// stateSyscalls are captured whatever the rules need, because the state engine needs them to
// keep processes and file descriptors right (Falco's libsinsp state set).
var stateSyscalls = []string{
	"clone", "clone3", "fork", "vfork", "execve", "execveat", "procexit",
	"open", "openat", "openat2", "creat", "close", "socket", "connect", "accept", "accept4",
	"bind", "dup", "dup2", "dup3", "pipe", "pipe2", "chdir", "fchdir", "memfd_create",
	"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid", "capset",
	"setsid", "setpgid", "chroot",
}

// probeSelection returns the probe's syscalls for a ruleset: those whose events the syscall
// rules can match, plus the state set. A rule that matches every event type selects all.
func probeSelection(rs *engine.Ruleset) []string {
	codes, all := rs.EventCodes("syscall")
	want := map[string]bool{}
	for _, n := range stateSyscalls {
		want[n] = true
	}
	names := map[string]bool{}
	for _, c := range codes {
		names[event.Table[c].Name] = true
	}
	for _, n := range probe.Supported() {
		code, _ := probe.EventCode(n)
		if all || names[n] || names[event.Table[code].Name] {
			want[n] = true
		}
	}
	out := make([]string, 0, len(want))
	for _, n := range probe.Supported() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out
}

// hostState is the state of the host when capture starts: processes, their fds, users and
// groups (Falco's /proc scan), so processes started before Saker have full context, and the
// network interfaces (which end of a connection is local).
type hostState struct {
	machine event.MachineInfo
	ifaces  []event.Interface
	threads []event.ThreadInfo
	fds     []event.FDInfo
	users   []event.User
	groups  []event.Group
}

func scanHost() (*hostState, error) {
	h := &hostState{machine: machineInfo()}
	var err error
	if h.threads, h.fds, err = procscan.Scan("/proc"); err != nil {
		return nil, fmt.Errorf("scanning /proc: %w", err)
	}
	if h.users, err = procscan.Users(); err != nil {
		return nil, err
	}
	if h.groups, err = procscan.Groups(); err != nil {
		return nil, err
	}
	if h.ifaces, err = procscan.Interfaces(); err != nil {
		return nil, err
	}
	return h, nil
}

// liveLoop attaches the probe, scans the host (after attaching, so nothing that starts in
// between is missed) and hands the result to start, then hands each record to handle until
// SIGINT/SIGTERM.
//
// idle, when set, is called on the loop's goroutine whenever the ring is empty, before the
// loop waits for the next record.
func liveLoop(cmd *cobra.Command, syscalls []string, ringBytes int, start func(*hostState) error, loaded func(*probe.Probe), handle func(*event.Event), idle func()) (*probe.Stats, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("live capture needs root (CAP_BPF, CAP_PERFMON): run as root, or replay a capture with -e FILE.scap")
	}
	p, err := probe.Load(probe.Options{ExcludeTGID: uint32(os.Getpid()), Syscalls: syscalls, RingBytes: ringBytes})
	if err != nil {
		return nil, err
	}
	if loaded != nil {
		loaded(p)
	}
	h, err := scanHost()
	if err == nil {
		err = start(h)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		p.Stop() // detach; the loop below reads what is left in the ring, then ends
	}()
	defer signal.Stop(sigs)
	defer p.Close()
	sel := fmt.Sprintf("%d syscalls selected", len(syscalls))
	if len(syscalls) == 0 {
		sel = "every supported syscall but read/write"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "saker: watching the host (%d processes and threads known, %s); ready\n", len(h.threads), sel)
	var buf []byte
	var ev event.Event
	var num uint64
	for {
		if idle != nil && p.Buffered() == 0 {
			idle()
		}
		if err := p.Read(&buf); err != nil {
			st := p.Stats() // before the deferred Close frees the counters
			if errors.Is(err, probe.ErrClosed) {
				return &st, nil
			}
			return &st, err
		}
		if err := event.Decode(buf, &ev, true); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "saker: dropping a record: %v\n", err)
			continue
		}
		num++
		ev.Num = num // evt.num counts the events read, as in a capture
		handle(&ev)
	}
}

func runLive(cmd *cobra.Command, o *runOptions) error {
	cm := container.New(container.Config{}) // runtimes found on this host; lookups never block
	defer cm.Close()
	d := detect.New(state.Options{Containers: cm})
	rn, err := newRunner(cmd, o, d, false)
	if err != nil {
		return err
	}
	var pr *probe.Probe
	// The in-kernel selection follows the ruleset, also across reloads.
	var loaded atomic.Pointer[probe.Probe] // read by the reloader's goroutine
	rn.reloaded = func(rs *config.Rules) {
		if pr := loaded.Load(); pr != nil {
			if err := pr.SetSyscalls(probeSelection(rs.Ruleset)); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "saker: updating the probe's selection: %v\n", err)
			}
		}
	}
	start := func(h *hostState) error {
		d.Metadata(&h.machine, h.ifaces, h.users, h.groups, h.threads, h.fds)
		return nil
	}
	var lastDrops, lastEvents, seen uint64
	var final probe.Stats
	var lastReport time.Time
	handle := func(ev *event.Event) {
		rn.event(ev)
		seen++
		if seen%1024 != 0 || pr == nil {
			return
		}
		st := pr.Stats()
		final = st
		rn.m.KernelDrops.Store(st.KernelDrops)
		// Drop alerts, rate-limited like Falco's syscall_event_drops (one per interval).
		if st.KernelDrops > lastDrops && time.Since(lastReport) >= o.dropInterval {
			rn.release()
			rn.send(alert.Drops(time.Now(), d.Hostname, st.KernelDrops-lastDrops, st.Events-lastEvents))
			lastDrops, lastEvents, lastReport = st.KernelDrops, st.Events, time.Now()
		}
	}
	st, err := liveLoop(cmd, probeSelection(d.Rules), o.ringBytes, start, func(p *probe.Probe) { pr = p; loaded.Store(p) }, handle, rn.release)
	loaded.Store(nil)
	if cerr := rn.close(); err == nil {
		err = cerr
	}
	if st != nil {
		if st.KernelDrops > final.KernelDrops {
			final = *st
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: events: %d, alerts: %d, kernel drops: %d\n", d.Events, d.Matched, final.KernelDrops)
	}
	return err
}
