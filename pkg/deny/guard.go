package deny

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// DefaultDeadline is the time a decision may take before the open is allowed (fail-open).
const DefaultDeadline = 200 * time.Millisecond

// Request is one permission event to decide.
type Request struct {
	PID  int32
	Path string // the file's path ("" when unreadable)
	Exec bool   // FAN_OPEN_EXEC_PERM: the file is being executed
	Dev  uint64
	Ino  uint64
}

// Verdict is a Decider's answer.
type Verdict struct {
	Deny      bool
	Rule      string          // the matching deny rule
	Priority  loader.Priority // its priority
	Output    string          // its rendered output
	Comm      string          // the requesting process's name, executable and container, as read
	Exe       string
	Container string
}

// Decider decides requests; it may be called from several goroutines.
type Decider interface {
	Decide(r *Request) Verdict
}

// Namer is a Decider that also reads a requester's comm and executable (RuleDecider, from
// its process cache); the Guard reads /proc itself for other Deciders.
type Namer interface {
	Name(pid int32) (comm, exe string, ok bool)
}

// DeciderFunc adapts a function.
type DeciderFunc func(r *Request) Verdict

// Decide calls f.
func (f DeciderFunc) Decide(r *Request) Verdict { return f(r) }

// Options configure a Guard.
type Options struct {
	Paths    []string      // what to mark (see KindOf)
	Deadline time.Duration // per event; 0: DefaultDeadline
	DryRun   bool          // deny verdicts are alerted and allowed
	// Allow are globs on the requesting process's executable (base name or path) that are
	// always allowed, besides Saker itself, pid 1 and actions.RuntimeProcesses.
	Allow   []string
	Decider Decider
	Emit    func(*alert.Alert) // response alerts (denials, dry-run denials, fail-opens)
	Metrics *Metrics
	Log     *slog.Logger
	// Workers decide concurrently (0: 2); Queue events may wait for one (0: 256); a full
	// queue fails open.
	Workers, Queue int
	// Watchdog starts the watchdog process (RunWatchdog in the same binary): it answers for
	// a stopped Saker. Off, a stopped Saker holds opens on the marked paths until it runs
	// again or exits.
	Watchdog bool
	Hostname string
}

// Metrics are the Guard's counters.
type Metrics struct {
	Decisions *prometheus.CounterVec
	FailOpen  prometheus.Counter
	Latency   prometheus.Histogram
}

// NewMetrics makes the counters (register Collectors).
func NewMetrics() *Metrics {
	return &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saker_deny_decisions_total",
			Help: "fanotify permission events by outcome (allowed, denied, dry_run, trusted, fail_open)."}, []string{"outcome"}),
		FailOpen: prometheus.NewCounter(prometheus.CounterOpts{Name: "saker_deny_failopen_total",
			Help: "Permission events allowed because no decision came in time (deadline, full queue, stopped Saker answered by the watchdog)."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "saker_deny_decision_seconds",
			Help: "Time from reading a permission event to answering it.", Buckets: []float64{1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5}}),
	}
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Decisions, m.FailOpen, m.Latency}
}

// Guard answers the permission events of its marks.
type Guard struct {
	opts Options
	fd   int
	file *os.File
	jobs chan *job
	wg   sync.WaitGroup // the reader
	work sync.WaitGroup // the workers
	stop chan struct{}
	// mu guards answers against Close: once closed, fd may be another file's number
	mu            sync.RWMutex
	closed        bool
	wd            *watchdogProc
	self          map[int32]bool
	lastFailAlert atomic.Int64
	closeOnce     sync.Once
}

type job struct {
	rec      Record
	req      Request
	start    time.Time
	answered atomic.Bool
	timer    *time.Timer
}

// Start opens the group, marks opts.Paths and starts answering. Close it to release every
// waiter.
func Start(opts Options) (*Guard, error) {
	if opts.Deadline <= 0 {
		opts.Deadline = DefaultDeadline
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Decider == nil {
		return nil, fmt.Errorf("deny: no decider")
	}
	if len(opts.Paths) == 0 {
		return nil, fmt.Errorf("deny: no paths to mark")
	}
	fd, err := openGroup()
	if err != nil {
		return nil, err
	}
	for _, p := range opts.Paths {
		kind, err := KindOf(p)
		if err == nil {
			err = mark(fd, p, kind)
		}
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	g := &Guard{opts: opts, fd: fd, jobs: make(chan *job, opts.Queue), stop: make(chan struct{}),
		self: map[int32]bool{int32(os.Getpid()): true}}
	if opts.Watchdog {
		if g.wd, err = startWatchdog(fd, opts.Deadline, g.rescued); err != nil {
			unix.Close(fd)
			return nil, err
		}
		g.self[int32(g.wd.cmd.Process.Pid)] = true
	}
	// a non-blocking fd: the runtime poller waits for it, and Close wakes the reader
	g.file = os.NewFile(uintptr(fd), "fanotify")
	for i := 0; i < opts.Workers; i++ {
		g.work.Add(1)
		go g.worker()
	}
	g.wg.Add(1)
	go g.read()
	return g, nil
}

// Close stops answering and closes the group: the kernel allows every pending event. The
// watchdog process exits too. It waits for the reader, and for the workers at most a
// deadline (one stuck in its Decider answers nothing after Close).
func (g *Guard) Close() error {
	g.closeOnce.Do(func() {
		close(g.stop)
		g.mu.Lock()
		g.closed = true
		g.file.Close() // wakes the reader; pending events are allowed as the group goes
		g.mu.Unlock()
		if g.wd != nil {
			g.wd.close()
		}
	})
	g.wg.Wait()
	done := make(chan struct{})
	go func() { g.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(g.opts.Deadline):
	}
	return nil
}

// WatchdogPID is the watchdog process's pid (0 without one).
func (g *Guard) WatchdogPID() int {
	if g.wd == nil {
		return 0
	}
	return g.wd.cmd.Process.Pid
}

func (g *Guard) read() {
	defer g.wg.Done()
	defer close(g.jobs)
	buf := make([]byte, 64*metaLen)
	var recs []Record
	for {
		n, err := g.file.Read(buf)
		if err != nil {
			select {
			case <-g.stop:
				return
			default:
			}
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			g.opts.Log.Error("deny: reading fanotify events", "error", err)
			return
		}
		recs, err = ParseRecords(buf[:n], recs[:0])
		if err != nil {
			g.opts.Log.Error("deny: bad fanotify record", "error", err)
		}
		for _, r := range recs {
			g.handle(r)
		}
	}
}

// handle answers the trusted at once and queues the rest with their deadline.
func (g *Guard) handle(r Record) {
	if r.FD < 0 {
		return // queue overflow notice: no event to answer
	}
	if r.Mask&(MaskOpen|MaskExec) == 0 {
		unix.Close(int(r.FD))
		return
	}
	if g.self[r.PID] || r.PID == 1 {
		g.answer(&job{rec: r, start: time.Now()}, true, "trusted")
		return
	}
	j := &job{rec: r, start: time.Now()}
	j.timer = time.AfterFunc(g.opts.Deadline, func() { g.late(j) })
	select {
	case g.jobs <- j:
	default:
		if j.timer.Stop() {
			g.failOpen(j, "decision queue full")
		}
	}
}

// answer writes the verdict once; the loser of a race with the deadline does nothing.
func (g *Guard) answer(j *job, allow bool, outcome string) bool {
	if !j.answered.CompareAndSwap(false, true) {
		return false
	}
	g.reply(j, allow, outcome)
	return true
}

// reply counts a verdict, then writes it: whoever the answer releases (the opener, a test)
// finds it counted.
func (g *Guard) reply(j *job, allow bool, outcome string) {
	g.opts.Metrics.Decisions.WithLabelValues(outcome).Inc()
	g.opts.Metrics.Latency.Observe(time.Since(j.start).Seconds())
	g.mu.RLock()
	if !g.closed {
		if err := respond(g.fd, j.rec.FD, allow); err != nil && err != unix.ENOENT {
			g.opts.Log.Warn("deny: answering a permission event", "error", err)
		}
	}
	g.mu.RUnlock()
	unix.Close(int(j.rec.FD))
}

func (g *Guard) late(j *job) { g.failOpen(j, fmt.Sprintf("no decision within %v", g.opts.Deadline)) }

func (g *Guard) failOpen(j *job, why string) {
	if !j.answered.CompareAndSwap(false, true) {
		return
	}
	g.opts.Metrics.FailOpen.Inc()
	g.reply(j, true, "fail_open")
	g.failAlert(1, j.rec.PID, why)
}

// failAlert reports fail-opens, at most one alert a second (the counter has them all).
func (g *Guard) failAlert(n int, pid int32, why string) {
	now := time.Now().UnixNano()
	last := g.lastFailAlert.Load()
	if now-last < int64(time.Second) || !g.lastFailAlert.CompareAndSwap(last, now) {
		return
	}
	trig := &alert.Alert{Rule: "deny", Hostname: g.opts.Hostname}
	t := &actions.Target{PID: int64(pid)}
	res := actions.Result{Outcome: actions.Failed, Target: fmt.Sprintf("%d permission event(s)", n),
		Err: fmt.Errorf("%s: allowed (fail-open)", why)}
	g.emit(response.ResponseAlert(time.Now(), g.opts.Hostname, trig, t, "", "deny", g.opts.DryRun, res))
}

// rescued is called with the count the watchdog answered while Saker was stopped.
func (g *Guard) rescued(n int) {
	g.opts.Metrics.FailOpen.Add(float64(n))
	g.opts.Metrics.Decisions.WithLabelValues("fail_open").Add(float64(n))
	g.failAlert(n, 0, "Saker did not run (stopped or stuck): the watchdog answered")
}

func (g *Guard) emit(a *alert.Alert) {
	if g.opts.Emit != nil {
		g.opts.Emit(a)
	}
}

func (g *Guard) worker() {
	defer g.work.Done()
	for j := range g.jobs {
		if j.answered.Load() {
			continue
		}
		g.decide(j)
	}
}

func (g *Guard) decide(j *job) {
	r := &j.req
	r.PID = j.rec.PID
	r.Exec = j.rec.Mask&MaskExec != 0
	r.Path = fdPath(j.rec.FD)
	var st unix.Stat_t
	if unix.Fstat(int(j.rec.FD), &st) == nil {
		r.Dev, r.Ino = st.Dev, st.Ino
	}
	var comm, exe string
	if n, ok := g.opts.Decider.(Namer); ok {
		var alive bool
		if comm, exe, alive = n.Name(r.PID); !alive {
			j.timer.Stop()
			g.answer(j, true, "allowed") // gone: nothing waits for the answer
			return
		}
	} else {
		comm, exe = procName(r.PID)
	}
	if trusted(comm, exe, g.opts.Allow) {
		j.timer.Stop()
		g.answer(j, true, "trusted")
		return
	}
	v := g.opts.Decider.Decide(r)
	if !v.Deny {
		j.timer.Stop()
		g.answer(j, true, "allowed")
		return
	}
	if v.Comm == "" {
		v.Comm, v.Exe = comm, exe
	}
	outcome, res := "denied", actions.Result{Outcome: actions.Done}
	if g.opts.DryRun {
		outcome, res.Outcome = "dry_run", actions.DryRun
	}
	if !g.answer(j, g.opts.DryRun, outcome) {
		return // the deadline answered first (counted as a fail-open)
	}
	j.timer.Stop()
	res.Target = r.Path
	res.Fields = map[string]any{"fd.name": r.Path, "proc.name": v.Comm, "proc.exe": v.Exe, "exec": r.Exec}
	trig := &alert.Alert{Rule: v.Rule, Priority: v.Priority, Output: v.Output, Hostname: g.opts.Hostname}
	t := &actions.Target{PID: int64(r.PID), Comm: v.Comm, Exe: v.Exe, ContainerID: v.Container}
	g.emit(response.ResponseAlert(time.Now(), g.opts.Hostname, trig, t, "", "deny", g.opts.DryRun, res))
	g.opts.Log.Info("deny", "rule", v.Rule, "pid", r.PID, "comm", v.Comm, "exe", v.Exe, "path", r.Path, "outcome", outcome)
}

// procName reads a process's comm and executable path.
func procName(pid int32) (comm, exe string) {
	dir := "/proc/" + strconv.Itoa(int(pid))
	if b, err := os.ReadFile(dir + "/comm"); err == nil {
		comm = strings.TrimSuffix(string(b), "\n")
	}
	exe, _ = os.Readlink(dir + "/exe")
	return comm, strings.TrimSuffix(exe, " (deleted)")
}

// trusted: a runtime process (actions.RuntimeProcesses, by executable name) or one the
// allowlist names (glob on the executable's base name or path); never by comm, which any
// process can set.
func trusted(comm, exe string, allow []string) bool {
	if actions.RuntimeExe(exe) != "" {
		return true
	}
	for _, g := range allow {
		for _, s := range []string{filepath.Base(exe), exe} {
			if s == "" {
				continue
			}
			if ok, _ := filepath.Match(g, s); ok {
				return true
			}
		}
	}
	return false
}
