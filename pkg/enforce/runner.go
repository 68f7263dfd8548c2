package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/response/actions"
)

// Action is the action name of enforcement alerts (their rule is response.RulePrefix+Action).
const Action = "enforce_kill"

// Options configure a Runner.
type Options struct {
	DryRun bool
	// AllowComms and AllowExes are never killed: processes with that comm (and execs of a
	// program of that name), processes running that executable (and execs of that path).
	AllowComms, AllowExes []string
	// SelfPID is Saker's pid (never killed); os.Getpid() when 0.
	SelfPID int
	// Rescan is how often the protected processes are looked up again in /proc (0: 5s).
	Rescan   time.Duration
	Hostname string
	// Emit receives the alert of each enforcement.
	Emit func(*alert.Alert)
	Log  *slog.Logger
}

// Runner keeps a probe's enforcement program fed: clauses, dry run, protected processes, and
// reports its enforcements.
type Runner struct {
	e    *probe.Enforcer
	opts Options
	mu   sync.Mutex
	prog *Program
	base map[string]uint64 // kills of earlier programs, by rule name
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	killsDesc, statDesc, lsmDesc *prometheus.Desc
	lsm                          LSMStatus
}

// Start attaches p's enforcement program with no clause and starts reporting.
func Start(p *probe.Probe, opts Options) (*Runner, error) {
	if opts.SelfPID == 0 {
		opts.SelfPID = os.Getpid()
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	e, err := p.Enforcer()
	if err != nil {
		return nil, err
	}
	r := &Runner{e: e, opts: opts, prog: &Program{}, base: map[string]uint64{}, done: make(chan struct{}),
		killsDesc: prometheus.NewDesc("saker_enforce_kills_total", "Processes killed in the kernel by enforce: kill rules (dry-run matches included), by rule.", []string{"rule"}, nil),
		statDesc:  prometheus.NewDesc("saker_enforce_events_total", "Enforcement program counters: matched, killed, faults (a user string unreadable at entry: not matched), spared (protected process), signal_failed, lost (reports the ring could not take).", []string{"what"}, nil),
		lsmDesc:   prometheus.NewDesc("saker_enforce_bpf_lsm_available", "1 when BPF LSM programs can be loaded (EPERM-returning enforcement possible), 0 otherwise.", nil, nil),
		lsm:       DetectLSM(),
	}
	if err := r.apply(opts); err != nil {
		e.Close()
		return nil, err
	}
	opts.Log.Info("enforce: in-kernel kill enabled", "dry_run", opts.DryRun, "bpf_lsm", r.lsm.String())
	r.wg.Add(2)
	go r.read()
	go r.rescan()
	return r, nil
}

// LSM reports what BPF LSM detection found at start.
func (r *Runner) LSM() LSMStatus { return r.lsm }

func (r *Runner) apply(o Options) error {
	if err := r.e.SetDryRun(o.DryRun); err != nil {
		return fmt.Errorf("enforce: dry run: %w", err)
	}
	if err := r.e.SetRuntime(runtimeComms()); err != nil {
		return err
	}
	if err := r.e.SetAllowed(o.AllowComms, o.AllowExes); err != nil {
		return err
	}
	return r.e.SetProtected(ProtectedPIDs(o.SelfPID, o.AllowComms, o.AllowExes))
}

// SetOptions changes the dry run and the allowlists (a reload).
func (r *Runner) SetOptions(o Options) error {
	r.mu.Lock()
	r.opts.DryRun, r.opts.AllowComms, r.opts.AllowExes = o.DryRun, o.AllowComms, o.AllowExes
	opts := r.opts
	r.mu.Unlock()
	return r.apply(opts)
}

// SetProgram puts prog's clauses in effect (a rules load or reload).
func (r *Runner) SetProgram(prog *Program) error {
	if prog == nil {
		prog = &Program{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Counters are per rule index: fold them into the names before the numbering changes.
	for idx, n := range r.e.Kills() {
		if int(idx) < len(r.prog.Rules) {
			r.base[r.prog.Rules[idx]] += n
		}
	}
	r.e.ResetKills()
	if err := r.e.SetClauses(prog.Clauses); err != nil {
		return err
	}
	r.prog = prog
	return nil
}

// Kills returns the kills by rule name since Start.
func (r *Runner) Kills() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range r.base {
		out[k] = v
	}
	for idx, n := range r.e.Kills() {
		if int(idx) < len(r.prog.Rules) {
			out[r.prog.Rules[idx]] += n
		}
	}
	return out
}

// Stats are the enforcement program's counters.
func (r *Runner) Stats() probe.EnforceStats { return r.e.Stats() }

func (r *Runner) ruleName(idx uint32) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(idx) < len(r.prog.Rules) {
		return r.prog.Rules[idx]
	}
	return fmt.Sprintf("rule #%d", idx)
}

func (r *Runner) read() {
	defer r.wg.Done()
	for {
		ev, err := r.e.ReadEvent()
		if err != nil {
			if !errors.Is(err, probe.ErrClosed) {
				r.opts.Log.Warn("enforce: reading the probe's reports", "error", err)
			}
			return
		}
		a := EventAlert(ev, r.ruleName(ev.Rule), r.opts.Hostname)
		r.opts.Log.Warn("enforce: killed in the kernel", "rule", r.ruleName(ev.Rule), "pid", ev.TGID, "comm", ev.Comm, "syscall", ev.Syscall, "path", ev.Path, "dry_run", ev.DryRun)
		if r.opts.Emit != nil {
			r.opts.Emit(a)
		}
	}
}

func (r *Runner) rescan() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.Rescan)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			r.mu.Lock()
			o := r.opts
			r.mu.Unlock()
			if err := r.e.SetProtected(ProtectedPIDs(o.SelfPID, o.AllowComms, o.AllowExes)); err != nil {
				r.opts.Log.Warn("enforce: updating the protected processes", "error", err)
			}
		}
	}
}

// EventAlert is the response alert of one enforcement (pkg/response's alert shape).
func EventAlert(ev probe.EnforceEvent, rule, hostname string) *alert.Alert {
	exepath := ""
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", ev.TGID)); err == nil {
		exepath = l
	}
	out := actions.Done
	if ev.DryRun {
		out = actions.DryRun
	}
	trig := &alert.Alert{Rule: rule, Source: "syscall"}
	t := &actions.Target{PID: int64(ev.TGID), TID: int64(ev.PID), Comm: ev.Comm, Exe: ev.Exe}
	res := actions.Result{Outcome: out, Target: fmt.Sprintf("pid %d", ev.TGID), Fields: map[string]any{
		"proc.name": ev.Comm, "proc.exe": ev.Exe, "proc.exepath": exepath, "proc.tid": int64(ev.PID),
		"evt.type": ev.Syscall, "evt.arg.path": ev.Path, "syscall.compat": ev.Compat, "signal": "SIGKILL",
		"enforce": "kill",
	}}
	a := response.ResponseAlert(ev.Time, hostname, trig, t, rule, Action, ev.DryRun, res)
	return a
}

// runtimeComms is actions.RuntimeProcesses as the probe takes it.
func runtimeComms() []probe.RuntimeComm {
	var out []probe.RuntimeComm
	for _, e := range actions.RuntimeEntries() {
		out = append(out, probe.RuntimeComm{Name: e.Name, Prefix: e.Prefix})
	}
	return out
}

// ProtectedPIDs lists the processes never killed: pid 1, self, the container runtimes and
// the kubelet (actions.RuntimeProcesses, by comm or executable name), and the allowlisted
// comms and executables. It reads /proc as the response actions' safety checks do.
func ProtectedPIDs(self int, comms, exes []string) []uint32 {
	names := map[string]bool{}
	for _, c := range comms {
		if len(c) > actions.CommLen {
			c = c[:actions.CommLen]
		}
		names[c] = true
	}
	paths := map[string]bool{}
	for _, x := range exes {
		paths[x] = true
	}
	out := []uint32{1, uint32(self)}
	actions.ScanProc("/proc", func(pi actions.ProcInfo) {
		if pi.PID == self || pi.PID == 1 || pi.Kthread {
			return
		}
		if names[pi.Comm] || paths[pi.Exe] || actions.RuntimeComm(pi.Comm) != "" || actions.RuntimeExe(pi.Exe) != "" {
			out = append(out, uint32(pi.PID))
		}
	})
	return out
}

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.killsDesc
	ch <- r.statDesc
	ch <- r.lsmDesc
}

// Collect implements prometheus.Collector.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	for rule, n := range r.Kills() {
		ch <- prometheus.MustNewConstMetric(r.killsDesc, prometheus.CounterValue, float64(n), rule)
	}
	st := r.e.Stats()
	for what, v := range map[string]uint64{"matched": st.Matched, "killed": st.Killed, "faults": st.Faults,
		"spared": st.Spared, "signal_failed": st.SignalFailed, "lost": st.EventsLost} {
		ch <- prometheus.MustNewConstMetric(r.statDesc, prometheus.CounterValue, float64(v), what)
	}
	lsm := 0.0
	if r.lsm.Available {
		lsm = 1
	}
	ch <- prometheus.MustNewConstMetric(r.lsmDesc, prometheus.GaugeValue, lsm)
}

// Close detaches the enforcement program (nothing is killed any more) and stops reporting.
func (r *Runner) Close() error {
	var err error
	r.once.Do(func() {
		close(r.done)
		err = r.e.Close()
		r.wg.Wait()
	})
	return err
}
