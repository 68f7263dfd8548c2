// Package response is Saker's response engine: after an alert, in user space, it runs the
// actions a response policy asks for (kill the process or its tree, stop, pause or kill the
// container, run a program, POST a webhook, write a forensic snapshot), within rate limits
// and cooldowns, and reports every action's outcome as an alert of source "response".
//
// # Wiring (the agent)
//
//	eng, err := response.New(response.Options{Policy: pol, Env: env, Emit: outputs.Send})
//	// on the event loop, for every event, after Detector.Event returned ctx:
//	eng.Event(ev, ctx)                 // feeds the per-workload ring (only when a snapshot can be asked for)
//	for _, a := range alertsOfThisEvent { eng.Alert(a, d.State, ctx) }
//	// at shutdown:
//	eng.Close(ctx)
//
// Alert decides synchronously (policy match, cooldowns, rate limits: microseconds) and queues
// the actions; workers run them, so a slow action never delays detection. A full queue drops
// the job (counted as outcome "dropped").
package response

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/response/ring"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

// Source is the alert source of response alerts.
const Source = "response"

// RulePrefix starts the rule name of every response alert: "Saker response: kill_process".
const RulePrefix = "Saker response: "

// Metrics are the engine's Prometheus metrics (the agent registers Collectors).
type Metrics struct {
	// Actions counts actions by action and outcome (done, dry_run, refused, failed,
	// rate_limited, cooldown, skipped, dropped).
	Actions *prometheus.CounterVec
	// Duration is each action's run time (queue wait excluded).
	Duration *prometheus.HistogramVec
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "saker_response_actions_total",
			Help: "Response actions by action and outcome (done, dry_run, refused, failed, rate_limited, cooldown, skipped, dropped).",
		}, []string{"action", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "saker_response_action_duration_seconds",
			Help:    "Time a response action took to run.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30},
		}, []string{"action"}),
	}
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Actions, m.Duration}
}

// Options configure an Engine.
type Options struct {
	Policy *Policy
	// Env is the actions' shared configuration (sockets, never-kill globs, snapshot dir).
	// The engine sets Env.Ring when the policy has a snapshot action and Env.Ring is nil.
	Env actions.Env
	// DryRun is the global switch (response.dry_run), on top of the policy's own.
	DryRun bool
	// Emit receives the response alerts (from the workers' goroutines; must be safe for
	// concurrent use, as the output manager is).
	Emit func(*alert.Alert)
	// Metrics (nil: a private set, not registered).
	Metrics *Metrics
	// Now is the clock (tests inject one); time.Now when nil.
	Now func() time.Time
	// Queue is the number of pending jobs (one job per matched policy rule); default 256.
	Queue int
	// Workers run jobs; default 2. One job's actions run in order on one worker.
	Workers int
	// Ring bounds the event ring when the engine creates it.
	Ring ring.Options
	// Hostname of the response alerts ("" : the triggering alert's).
	Hostname string
	Log      *slog.Logger
}

type job struct {
	alert  *alert.Alert
	target *actions.Target
	rule   *Rule
	steps  []*Step
	dry    bool
	env    *actions.Env
	queued time.Time
}

type loaded struct {
	pol      *Policy
	env      *actions.Env
	snapshot bool // a step needs the state exported and the ring fed
}

// Engine runs a response policy.
type Engine struct {
	opts    Options
	metrics *Metrics
	now     func() time.Time
	log     *slog.Logger
	cur     atomic.Pointer[loaded]
	ring    *ring.Ring

	mu    sync.Mutex // limits and cooldowns
	lim   *limiter
	cool  *cooldowns
	queue chan *job

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pending sync.WaitGroup // jobs queued and not finished (Flush)
	closed  atomic.Bool
	sendMu  sync.RWMutex // Close vs. enqueue
}

// New starts an engine (its workers run until Close).
func New(opts Options) (*Engine, error) {
	if opts.Policy == nil {
		return nil, errNoPolicy
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	e := &Engine{opts: opts, metrics: opts.Metrics, now: opts.Now, log: opts.Log,
		lim: newLimiter(), cool: newCooldowns(), queue: make(chan *job, opts.Queue)}
	if e.metrics == nil {
		e.metrics = NewMetrics()
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.ring = opts.Env.Ring
	if e.ring == nil {
		e.ring = ring.New(opts.Ring)
	}
	e.SetPolicy(opts.Policy)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for range opts.Workers {
		e.wg.Add(1)
		go e.worker()
	}
	return e, nil
}

// SetPolicy replaces the policy (a reload); limits and cooldowns carry over by rule name.
func (e *Engine) SetPolicy(p *Policy) {
	env := e.opts.Env
	env.NeverKill = append(append([]string(nil), e.opts.Env.NeverKill...), p.NeverKill...)
	env.Ring = e.ring
	l := &loaded{pol: p, env: &env}
	for _, r := range p.Rules {
		for _, s := range r.Steps {
			if actions.NeedsState(s.Action) {
				l.snapshot = true
			}
		}
	}
	e.cur.Store(l)
}

// Ring is the engine's event ring.
func (e *Engine) Ring() *ring.Ring { return e.ring }

// Event feeds one event (after the detector processed it: ctx is what Detector.Event
// returned) to the per-workload ring, when the policy can ask for a snapshot. Call it on the
// event loop, before Alert for the alerts of the same event.
func (e *Engine) Event(ev *event.Event, ctx *state.Context) {
	if !e.cur.Load().snapshot {
		return
	}
	key, pid := "host", ev.TID
	if ctx != nil && ctx.Thread != nil {
		key, pid = actions.RingKey(ctx.Thread.ContainerID), ctx.Thread.PID
	}
	e.ring.Add(key, pid, ev)
}

// Alert handles one alert on the event loop: ctx is the state context of the event that
// raised it (what Detector.Event returned), st the detector's state.
func (e *Engine) Alert(a *alert.Alert, st *state.Engine, ctx *state.Context) int {
	if a.Source == Source {
		return 0
	}
	l := e.cur.Load()
	if !l.matchesAny(a) {
		return 0
	}
	return e.handle(l, a, TargetFromState(st, ctx, l.snapshot))
}

// Handle is Alert for a target built by the caller (alerts from other sources, tests).
func (e *Engine) Handle(a *alert.Alert, t *actions.Target) int {
	if a.Source == Source {
		return 0
	}
	return e.handle(e.cur.Load(), a, t)
}

func (l *loaded) matchesAny(a *alert.Alert) bool {
	for _, r := range l.pol.Rules {
		if r.Match.Matches(a) {
			return true
		}
	}
	return false
}

// handle decides and queues; it returns the number of actions queued.
func (e *Engine) handle(l *loaded, a *alert.Alert, t *actions.Target) int {
	now := e.now()
	wl := t.Workload()
	queued := 0
	for _, r := range l.pol.Rules {
		if !r.Match.Matches(a) {
			continue
		}
		j := e.decide(l, r, a, t, wl, now)
		if j != nil {
			queued += e.enqueue(j)
		}
		if !r.Continue {
			break
		}
	}
	return queued
}

func (e *Engine) decide(l *loaded, r *Rule, a *alert.Alert, t *actions.Target, wl string, now time.Time) *job {
	e.mu.Lock()
	defer e.mu.Unlock()
	rkey := "rule\x00" + r.Name + "\x00" + wl
	if r.Cooldown > 0 && e.cool.active(rkey, now) {
		for _, s := range r.Steps {
			e.count(s.Action, actions.Cooldown)
		}
		return nil
	}
	j := &job{alert: a, target: t, rule: r, dry: e.opts.DryRun || l.pol.DryRun || r.DryRun, env: l.env, queued: now}
	for i, s := range r.Steps {
		skey := "step\x00" + r.Name + "\x00" + strconv.Itoa(i)
		wkey := skey + "\x00" + wl
		if s.Cooldown > 0 && e.cool.active(wkey, now) {
			e.count(s.Action, actions.Cooldown)
			continue
		}
		if (s.RateLimit != nil && !e.lim.allows(skey, now, s.RateLimit)) ||
			(s.WorkloadRateLimit != nil && !e.lim.allows(wkey, now, s.WorkloadRateLimit)) {
			e.count(s.Action, actions.RateLimited)
			continue
		}
		if s.RateLimit != nil {
			e.lim.take(skey, now)
		}
		if s.WorkloadRateLimit != nil {
			e.lim.take(wkey, now)
		}
		if s.Cooldown > 0 {
			e.cool.start(wkey, now, s.Cooldown)
		}
		j.steps = append(j.steps, s)
	}
	if len(j.steps) == 0 {
		return nil
	}
	if r.Cooldown > 0 {
		e.cool.start(rkey, now, r.Cooldown)
	}
	return j
}

func (e *Engine) enqueue(j *job) int {
	e.sendMu.RLock()
	defer e.sendMu.RUnlock()
	if e.closed.Load() {
		e.dropJob(j)
		return 0
	}
	e.pending.Add(1)
	select {
	case e.queue <- j:
		return len(j.steps)
	default:
		e.pending.Done()
		e.dropJob(j)
		return 0
	}
}

func (e *Engine) dropJob(j *job) {
	for _, s := range j.steps {
		e.count(s.Action, actions.Dropped)
	}
	e.log.Warn("response: queue full, job dropped", "policy_rule", j.rule.Name, "rule", j.alert.Rule)
}

func (e *Engine) count(action string, o actions.Outcome) {
	e.metrics.Actions.WithLabelValues(action, string(o)).Inc()
}

func (e *Engine) worker() {
	defer e.wg.Done()
	for j := range e.queue {
		e.run(j)
		e.pending.Done()
	}
}

func (e *Engine) run(j *job) {
	for i, s := range j.steps {
		req := &actions.Request{Alert: j.alert, Target: j.target, Params: s.Params, DryRun: j.dry || s.DryRun,
			PolicyRule: j.rule.Name, Now: e.now()}
		start := time.Now()
		res := s.act.Run(e.ctx, j.env, req)
		e.metrics.Duration.WithLabelValues(s.Action).Observe(time.Since(start).Seconds())
		e.count(s.Action, res.Outcome)
		e.report(j, s, req, res)
		if s.StopOnError && (res.Outcome == actions.Failed || res.Outcome == actions.Refused) {
			for _, rest := range j.steps[i+1:] {
				e.count(rest.Action, "skipped")
			}
			return
		}
	}
}

// ResponseAlert is the alert reporting one action's outcome.
func ResponseAlert(now time.Time, hostname string, trig *alert.Alert, t *actions.Target, policyRule, action string, dry bool, res actions.Result) *alert.Alert {
	prio := loader.Informational
	switch res.Outcome {
	case actions.Refused:
		prio = loader.Warning
	case actions.Failed:
		prio = loader.Error
	}
	errText := ""
	if res.Err != nil {
		errText = res.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Saker response: %s %s %s (rule=%q policy_rule=%q", action, res.Outcome, res.Target, trig.Rule, policyRule)
	if errText != "" {
		fmt.Fprintf(&b, " error=%q", errText)
	}
	b.WriteString(")")
	of := map[string]any{
		"action":      action,
		"target":      res.Target,
		"outcome":     string(res.Outcome),
		"error":       errText,
		"rule":        trig.Rule,
		"policy_rule": policyRule,
		"dry_run":     dry,
		"proc.pid":    t.PID,
		"container.id": func() string {
			if t.InContainer() {
				return actions.RingKey(t.ContainerID)
			}
			return "host"
		}(),
	}
	for k, v := range res.Fields {
		if _, taken := of[k]; !taken {
			of[k] = v
		}
	}
	if hostname == "" {
		hostname = trig.Hostname
	}
	return &alert.Alert{Time: now.UTC(), Rule: RulePrefix + action, Priority: prio, Source: Source,
		Tags: []string{"response"}, Output: b.String(), OutputFields: of, Hostname: hostname}
}

func (e *Engine) report(j *job, s *Step, req *actions.Request, res actions.Result) {
	a := ResponseAlert(e.now(), e.opts.Hostname, j.alert, j.target, j.rule.Name, s.Action, req.DryRun, res)
	if e.opts.Emit != nil {
		e.opts.Emit(a)
	}
	lvl := slog.LevelInfo
	if res.Outcome == actions.Failed || res.Outcome == actions.Refused {
		lvl = slog.LevelWarn
	}
	e.log.Log(e.ctx, lvl, "response", "action", s.Action, "outcome", res.Outcome, "target", res.Target, "rule", j.alert.Rule, "error", res.Err)
}

// Flush waits until every queued job has run.
func (e *Engine) Flush() { e.pending.Wait() }

// Close stops taking jobs, lets the workers finish the queued ones until ctx ends (then
// cancels the actions in progress), and waits for them.
func (e *Engine) Close(ctx context.Context) {
	e.sendMu.Lock()
	if e.closed.Swap(true) {
		e.sendMu.Unlock()
		return
	}
	close(e.queue)
	e.sendMu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.cancel()
		<-done
	}
	e.cancel()
}
