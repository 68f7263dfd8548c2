// Package agent is the running Saker agent: sources yield events, the pipeline (state engine →
// ruleset, pkg/detect) turns them into alerts, and sinks receive the alerts.
//
//	Source (probe, capture, …) ──Input──► pipeline ──► output channels (per generation)
//	                                          │     └──► Sinks (response, incidents, uplink, …)
//	                                          └────────► EventSinks (profiles): every event
//
// A Source (source.go) is a named producer run on its own goroutine; it delivers to an
// Input: syscall events, events of other rule sources (Evaluate), host or capture metadata,
// readiness, idleness and lost events (Lost, counted by Where in the agent's one Drops).
// A Sink (sink.go) receives every alert; an EventSink also every syscall event.
//
// The agent keeps one generation (generation.go): the configuration, the compiled rules, the
// output manager and the web server, built together and swapped whole by a reload (pkg/reload:
// SIGHUP or a watched file) between two events. The event loop holds the agent's read lock
// over batches of events; a reload takes the write lock to swap, so an event is evaluated by
// one generation's rules and its alerts go to that generation's channels. With
// pipeline.workers >= 2 the source's goroutine only decodes and hands batches of events to
// workers that each keep a replica of the state and evaluate the rules for their share of
// the processes, each holding the read lock over a batch (workers.go).
//
// The web server (pkg/metrics) serves /healthz from the agent's watchdog (health.go: a source
// that stops making progress while events wait, or a detached probe, fails it) and /readyz
// (rules loaded and every source ready and attached).
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/k8smeta"
	"github.com/saker-sec/saker/pkg/metrics"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/reload"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

// Options configure an agent.
type Options struct {
	// ConfigFile is saker.yaml (-c; the embedded defaults alone when empty) and Overrides
	// its -o key=value overrides; both are applied again at every reload.
	ConfigFile string
	Overrides  []string
	// RulesFiles, when set (-r), replace the configuration's rules_files.
	RulesFiles []string
	// Replay: the events come from a capture, not a live host. Output queues wait for room
	// instead of dropping, and no reloader runs (Reload still works).
	Replay bool
	// Version is reported by /version and saker_build_info.
	Version string
	// Stdout receives the stdout channel's alerts, Stderr the agent's messages (os.Stdout
	// and os.Stderr when nil).
	Stdout, Stderr io.Writer
	// DropAlertInterval rate-limits the drop alert (30s when 0).
	DropAlertInterval time.Duration
	// Containers is the container metadata cache the state engine asks (nil: none).
	Containers *container.Manager
	// Sinks receive every alert besides the configured output channels.
	Sinks []Sink
	// Now is the clock of the health watchdog (time.Now when nil; tests step it).
	Now func() time.Time
	// Quarantine, when set, is fed by the incident store (incidents.enabled) with the pods
	// of open Critical+ incidents (the admission webhook refuses exec into them).
	Quarantine *admission.Quarantine
}

// ConfigError is a configuration that does not load (exit status 2 in saker run).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// RulesError carries every message of a failed rules load (exit status 1).
type RulesError []loader.Message

func (e RulesError) Error() string {
	parts := make([]string, len(e))
	for i, m := range e {
		msg := m.Msg
		if m.Item != "" {
			msg += " (" + m.Item + ")"
		}
		parts[i] = m.Pos.String() + ": " + msg
	}
	return strings.Join(parts, "\n")
}

// Agent is a running Saker agent. New builds it (configuration, rules, outputs, web server);
// Run runs sources through it; Close flushes and stops everything.
type Agent struct {
	opts   Options
	stderr io.Writer
	d      *detect.Detector
	m      *metrics.Metrics
	em     *emitter
	enf    enforcement // in-kernel enforcement (enforce.go)
	rl     *reload.Reloader[generation]
	drops  Drops
	now    func() time.Time

	sinks      []Sink
	eventSinks []EventSink
	resp       *ResponseSink      // nil without response.policy_file
	inc        *IncidentSink      // nil without incidents.enabled
	k8s        *k8smeta.Directory // nil without k8s_metadata.enabled
	k8sCfg     config.K8sMetadata // the k8s_metadata section as started
	deny       *denyRunner        // nil without deny.enabled

	// the multi-worker pipeline (workers.go): the detectors of workers 1..N-1 (none with one
	// worker) and, while Run runs, stage 1's side
	wds  []*detect.Detector
	pipe *pipeline

	// mu is held for reading around events (and each alert sent from outside one), and for
	// writing while a reload swaps gen (see the package doc).
	mu     sync.RWMutex
	gen    *generation // written by New and the reloader's goroutine only
	stop   []func()
	closed bool

	srcMu   sync.Mutex
	running []*running

	// the watchdog's view of the generation, readable without a.mu (a stuck event loop holds
	// it, and a pending reload then blocks new readers): stall_timeout, rules loaded
	stall  atomic.Int64
	loaded atomic.Bool

	// events of other rule sources (Input.Evaluate) and their alerts
	evaluated, evalMatched atomic.Uint64
}

// Evaluated counts the events of other rule sources than syscall (k8s_audit) and their
// alerts.
func (a *Agent) Evaluated() (events, alerts uint64) {
	return a.evaluated.Load(), a.evalMatched.Load()
}

// New loads the configuration and the rules, builds and starts the output channels and the
// web server, and (unless Replay) starts the reloader. A configuration that does not load is
// a *ConfigError, rules that do not compile a RulesError.
// containerWait bounds how long, live, the exec of a container's init waits for the
// container's metadata while its first fetch is in flight (state.Options.ContainerWait): a
// local runtime answers in milliseconds; the bound keeps a slow one from stalling the events.
const containerWait = 100 * time.Millisecond

// stateOptions are the options of the agent's state engines (worker 0's and the replicas').
func (a *Agent) stateOptions() state.Options {
	o := state.Options{Containers: a.opts.Containers}
	if !a.opts.Replay {
		o.ContainerWait = containerWait
	}
	return o
}

// replayGCPercent is the collector's setting during a replay (see New).
const replayGCPercent = 400

func New(opts Options) (*Agent, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.DropAlertInterval <= 0 {
		opts.DropAlertInterval = 30 * time.Second
	}
	a := &Agent{opts: opts, stderr: opts.Stderr, m: metrics.New(opts.Version), now: opts.Now}
	if a.now == nil {
		a.now = time.Now
	}
	for _, s := range opts.Sinks {
		a.sinks = append(a.sinks, s)
		if es, ok := s.(EventSink); ok {
			a.eventSinks = append(a.eventSinks, es)
		}
	}
	cfg, err := config.Load(opts.ConfigFile, opts.Overrides)
	if err != nil {
		return nil, &ConfigError{err}
	}
	setLogLevel(cfg)
	a.d = detect.New(a.stateOptions())
	if err := a.newK8sMeta(cfg); err != nil {
		return nil, &ConfigError{err}
	}
	a.d.Hostname, _ = os.Hostname()
	a.d.K8sAudit.ClusterName = cfg.K8sAudit.ClusterName // ka.cluster.name (read at start only)
	a.m.SetDrops(a.drops.labels)
	if a.opts.Quarantine == nil && cfg.Admission.Enabled {
		a.opts.Quarantine = admission.NewQuarantine() // the agent's own webhook refuses exec into them
	}
	if a.inc, err = a.startIncidents(cfg); err != nil {
		return nil, &ConfigError{err}
	}
	if a.inc != nil {
		a.sinks = append(a.sinks, a.inc)
	}
	if n := workerCount(cfg); n > 1 {
		reason := a.singleWorkerReason(cfg)
		if reason == "" {
			a.newWorkerDetectors(n)
		}
		fmt.Fprint(a.stderr, workersNote(n, reason))
	}
	g := &generation{cfg: cfg}
	if g.rules, err = a.buildRules(cfg); err != nil {
		return nil, err
	}
	if g.workerRules, err = a.buildWorkerRules(cfg); err != nil {
		return nil, err
	}
	a.m.ObserveRulesLoad(g.rules.LoadTime, len(g.rules.Ruleset.Enabled()), nil, false)
	if g.deny, err = a.buildDeny(cfg); err != nil {
		return nil, err
	}
	if g.out, err = a.buildOutputs(cfg, nil); err != nil {
		return nil, err
	}
	if err := a.buildServer(g, nil); err != nil {
		g.out.Discard(context.Background())
		return nil, err
	}
	a.m.WatchOutputs(g.out)
	g.out.Start()
	if g.srv != nil {
		fmt.Fprintf(a.stderr, "saker: web server on %s\n", g.srv.Addr())
	}
	a.gen = g
	a.stall.Store(int64(g.cfg.Webserver.StallTimeout.D()))
	a.loaded.Store(true)
	if a.resp, err = a.startResponse(cfg); err != nil {
		a.retire(g, nil, time.Second)
		return nil, &ConfigError{err}
	}
	if err := a.startDeny(cfg, g.deny); err != nil {
		a.retire(g, nil, time.Second)
		return nil, &ConfigError{err}
	}
	if a.resp != nil {
		a.sinks = append(a.sinks, a.resp)
		a.eventSinks = append(a.eventSinks, a.resp)
	}
	a.stop = append(a.stop, a.reopenOnSignal())
	a.em = &emitter{Send: a.deliver} // under a.mu, held by the event loop
	if a.inc != nil {
		a.em.Join = a.inc.join
	}
	a.d.Emit = a.em.Collect
	a.apply(g.rules)
	a.rl = reload.New(reload.Options[generation]{Build: a.build, Swap: a.swap, Paths: a.watched,
		DirFiles: rulesFileName, OnResult: a.reported})
	if !opts.Replay {
		ctx, cancel := context.WithCancel(context.Background())
		done := a.rl.Start(ctx)
		a.stop = append(a.stop, func() { cancel(); <-done })
	} else if os.Getenv("GOGC") == "" {
		// A replay is a batch over a file: collecting less often costs heap, not latency. At
		// the default (100) the collector took 8-9% of a 1.5M-event replay's CPU, 4% at 400.
		// GOGC in the environment still decides; the live agent keeps the default (its
		// memory bound).
		debug.SetGCPercent(replayGCPercent)
	}
	if err := a.startK8sMeta(); err != nil {
		a.Close()
		return nil, &ConfigError{err}
	}
	return a, nil
}

// rulesFileName selects the files of a rules directory (as config.RulesPaths does).
func rulesFileName(n string) bool {
	return strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")
}

// Detector is the pipeline: its Events and Matched counters, Hostname and State. Read its
// counters once the sources stopped.
func (a *Agent) Detector() *detect.Detector { return a.d }

// Config is the running generation's configuration.
func (a *Agent) Config() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.cfg
}

// Incidents is the incident store's sink (nil when incidents.enabled is not set).
func (a *Agent) Incidents() *IncidentSink { return a.inc }

// Response is the response engine's sink (nil when response.policy_file is not set).
func (a *Agent) Response() *ResponseSink { return a.resp }

// Metrics is the agent's metrics registry (it lives as long as the process).
func (a *Agent) Metrics() *metrics.Metrics { return a.m }

// Drops is where every lost event is counted.
func (a *Agent) Drops() *Drops { return &a.drops }

// Rules returns the running rules.
func (a *Agent) Rules() *Rules {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.rules
}

// WebServer returns the running web server (nil when webserver.enabled is false).
func (a *Agent) WebServer() *metrics.Server {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.srv
}

// Reload rebuilds the generation now (what SIGHUP does) and reports it like any reload.
func (a *Agent) Reload(trigger reload.Trigger) reload.Result { return a.rl.Reload(trigger) }

// Run runs the sources, each on its own goroutine, until every one has ended or ctx is done
// (then each stops and delivers what it already read). It returns the sources' errors.
// When one source fails, the others are stopped too.
func (a *Agent) Run(ctx context.Context, sources ...Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := make([]*running, len(sources))
	a.srcMu.Lock()
	for i, s := range sources {
		rs[i] = &running{src: s}
		a.running = append(a.running, rs[i])
	}
	a.srcMu.Unlock()
	a.hookEnforcement(sources)
	for _, s := range sources {
		if f, ok := s.(RulesFollower); ok {
			f.RulesChanged(a.Rules())
		}
		if p, ok := s.(ProgramReporter); ok {
			a.m.SetPrograms(p.Programs)
		}
	}
	a.pipe = a.startPipeline()
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &input{a: a, r: rs[i]}
			err := s.Run(ctx, in)
			in.release()
			in.reportDrops()
			rs[i].done.Store(true)
			if err != nil {
				if !strings.HasPrefix(err.Error(), s.Name()+":") {
					err = fmt.Errorf("%s: %w", s.Name(), err)
				}
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if a.pipe != nil {
		a.pipe.close()
		a.pipe = nil
	}
	a.m.SetState(a.d.State.Stats())
	return errors.Join(errs...)
}

// Healthy is /healthz: nil while every running source makes progress (or waits for events
// that do not come) and is attached.
func (a *Agent) Healthy() error {
	timeout := a.stallTimeout()
	now := a.now()
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	var errs []error
	for _, r := range a.running {
		at, attacher := r.src.(Attacher)
		if r.done.Load() {
			// a capture that ended is fine; a probe that ended is detached
			if attacher && r.ready.Load() {
				if err := at.Attached(); err != nil {
					errs = append(errs, fmt.Errorf("source %s: %w", r.src.Name(), err))
				}
			}
			continue
		}
		if attacher && r.ready.Load() {
			if err := at.Attached(); err != nil {
				errs = append(errs, fmt.Errorf("source %s: %w", r.src.Name(), err))
				continue
			}
		}
		if err := r.stalled(now, timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Ready is /readyz: nil once rules are loaded and every source is ready (the probe attached,
// the host scanned) and still attached.
func (a *Agent) Ready() error {
	if !a.loaded.Load() {
		return errors.New("rules not loaded")
	}
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	if len(a.running) == 0 {
		return errors.New("no event source running")
	}
	var errs []error
	for _, r := range a.running {
		at, attacher := r.src.(Attacher)
		switch {
		case r.done.Load() && attacher && at.Attached() != nil:
			errs = append(errs, fmt.Errorf("source %s: %w", r.src.Name(), at.Attached()))
		case r.done.Load():
			errs = append(errs, fmt.Errorf("source %s: ended", r.src.Name()))
		case !r.ready.Load():
			errs = append(errs, fmt.Errorf("source %s: not ready", r.src.Name()))
		default:
			if attacher {
				if err := at.Attached(); err != nil {
					errs = append(errs, fmt.Errorf("source %s: %w", r.src.Name(), err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) stallTimeout() time.Duration {
	if d := time.Duration(a.stall.Load()); d > 0 {
		return d
	}
	return DefaultStallTimeout
}

// deliver hands an alert to the running generation's channels and to the sinks; the caller
// holds a.mu for reading. ctx is the state of the syscall event that raised it, on the
// syscall source's goroutine (nil for any other alert).
func (a *Agent) deliver(al *alert.Alert, ctx *state.Context) {
	a.gen.out.Send(al)
	for _, s := range a.sinks {
		if ss, ok := s.(StateSink); ok && ctx != nil {
			ss.EventAlert(al, a.d.State, ctx)
			continue
		}
		s.Alert(al)
	}
}

// Send delivers an alert raised outside an event (drops, a failed reload, a source's own
// alert) to the outputs and sinks. The event loop releases its read lock first.
func (a *Agent) Send(al *alert.Alert) {
	a.mu.RLock()
	a.deliver(al, nil)
	a.mu.RUnlock()
}

// reopenOnSignal reopens the running channels' destinations on SIGUSR1 (log rotation).
func (a *Agent) reopenOnSignal() (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-c:
				a.mu.RLock()
				err := a.gen.out.Reopen()
				a.mu.RUnlock()
				if err != nil {
					slog.Error("output: reopen", "err", err)
				} else {
					slog.Info("output: reopened on signal")
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(c); close(done) }
}

// apply puts rules in effect on the detector (on the event loop, under a.mu).
func (a *Agent) apply(rs *Rules) {
	a.d.Rules, a.d.First, a.em.Extras = rs.Ruleset, rs.First, rs.Extras
	if !a.opts.Replay { // the host's files: a capture's are not here
		a.d.State.Canon().SetPaths(SensitivePaths(rs))
	}
	a.enforceRules(rs)
}

// Close stops reloads and signals, flushes every output queue within the configured
// flush_timeout, and closes the sinks that have something to flush. Call it after Run.
func (a *Agent) Close() error {
	for i := len(a.stop) - 1; i >= 0; i-- {
		a.stop[i]()
	}
	a.stop = nil
	if a.gen == nil || a.closed {
		return nil
	}
	a.closed = true
	timeout := a.gen.cfg.OutputsQueue.FlushTimeout.D()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if a.resp != nil { // first: the alerts of its last actions go to the outputs
		errs = append(errs, a.resp.Close(ctx))
	}
	errs = append(errs, a.retire(a.gen, nil, timeout))
	for _, s := range a.sinks {
		if c, ok := s.(SinkCloser); ok && s != Sink(a.resp) {
			errs = append(errs, c.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

// setLogLevel applies log_level to Saker's own log (slog's default logger).
func setLogLevel(c *config.Config) {
	slog.SetLogLoggerLevel(c.SlogLevel())
}

// ReloadFailureRule is the rule name of the internal alert announcing a failed reload.
const ReloadFailureRule = "Saker internal: rules reload failed"

// ReloadFailureAlert is the internal alert (source "internal", priority Error) announcing a
// failed reload.
func ReloadFailureAlert(res reload.Result, hostname string) *alert.Alert {
	msg, changed := "", res.Changed
	if changed == nil {
		changed = []string{}
	}
	if res.Err != nil {
		msg = res.Err.Error()
	}
	return output.Internal(ReloadFailureRule, loader.Error,
		fmt.Sprintf("%s (trigger %s); the previous configuration and rules keep running: %s", ReloadFailureRule, res.Trigger, msg),
		map[string]any{"error": msg, "trigger": string(res.Trigger), "changed": changed},
		hostname)
}
