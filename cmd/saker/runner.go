package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/metrics"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/reload"
	"github.com/saker-sec/saker/pkg/rules/loader"
	defaultrules "github.com/saker-sec/saker/rules"
)

// runner is what `saker run` keeps around a detector, live or replaying: metrics, and the
// running generation (configuration, rules, output channels and web server), which a reload
// replaces between two events.
type runner struct {
	cmd    *cobra.Command
	o      *runOptions
	d      *detect.Detector
	m      *metrics.Metrics
	em     *config.Emitter
	replay bool
	rl     *reload.Reloader[generation]
	// mu is held for reading around events (and each alert sent from outside one), and for
	// writing while a reload swaps gen: an event is evaluated with one generation's rules and
	// its alerts go to that generation's channels. The event loop keeps its read lock over a
	// batch of events (taking it costs two atomic operations, a tenth of a replayed event)
	// and lets it go every batchEvents events and whenever it is about to wait (release).
	mu     sync.RWMutex
	gen    *generation // written by newRunner and the reloader's goroutine only
	held   bool        // the event loop holds mu for reading (event loop only)
	unread uint64      // events not yet added to the events-read counter (event loop only)
	stop   []func()
	closed bool
	// reloaded is called on the reloader's goroutine when a new ruleset was swapped in,
	// before the reload is announced (live: the probe's selection follows it at once, so an
	// event right after the announcement is captured).
	reloaded func(*config.Rules)
}

// generation is one applied configuration: what a reload builds beside the running one and
// swaps in whole, or not at all.
type generation struct {
	cfg   *config.Config
	rules *config.Rules
	out   *output.Manager
	srv   *metrics.Server // nil when the web server is off
	// srvCommit, when set, puts this generation's web server settings in effect on srv,
	// the previous generation's server, which listens at the same address.
	srvCommit func()
}

func (o *runOptions) overridesWithFlags() []string {
	ov := append([]string(nil), o.overrides...)
	if o.json {
		ov = append(ov, "json_output=true")
	}
	if o.first {
		ov = append(ov, "rule_matching=first")
	}
	return ov
}

// rulesErr carries every message of a failed rules load.
type rulesErr []loader.Message

func (e rulesErr) Error() string {
	parts := make([]string, len(e))
	for i, m := range e {
		parts[i] = m.Pos.String() + ": " + messageText(m)
	}
	return strings.Join(parts, "\n")
}

// buildRules compiles the rules: -r files when given, else the configuration's rules_files,
// else (none of them present) Saker's built-in rules.
func (r *runner) buildRules(c *config.Config) (*config.Rules, error) {
	paths := r.o.rules
	if len(paths) == 0 {
		var err error
		if paths, _, err = c.RulesPaths(); err != nil {
			return nil, err
		}
	}
	var rs *config.Rules
	var errs []loader.Message
	if len(paths) == 0 {
		rs, errs, _ = c.LoadRuleFiles(defaultrules.Files(), r.d.Sources())
	} else {
		rs, errs, _ = c.LoadRules(paths, r.d.Sources())
	}
	if len(errs) > 0 {
		return nil, rulesErr(errs)
	}
	return rs, nil
}

// buildOutputs builds the output channels of c; with prev (a reload), unchanged channels are
// kept from prev's (see config.Config.Outputs).
func (r *runner) buildOutputs(c *config.Config, prev *generation) (*output.Manager, error) {
	o := config.OutputOptions{Hostname: r.d.Hostname, Observe: r.m.ObserveAlert,
		Stdout: r.cmd.OutOrStdout(), Block: r.replay}
	if prev != nil {
		o.Previous = prev.out
	}
	return c.Outputs(o)
}

func serverConfig(ws config.Webserver) metrics.ServerConfig {
	sc := metrics.ServerConfig{ListenAddress: ws.ListenAddress, ListenPort: ws.ListenPort,
		HealthzPath: ws.K8sHealthzEndpoint, Metrics: ws.PrometheusMetricsEnabled}
	if ws.SSLEnabled {
		sc.CertFile = ws.SSLCertificate
	}
	return sc
}

// buildServer readies g's web server: none when disabled; prev's, reconfigured at the swap,
// when it listens at the same address; else a new one, listening already (so that a busy
// port fails the reload, not the swap).
func (r *runner) buildServer(g, prev *generation) error {
	ws := g.cfg.Webserver
	if !ws.Enabled {
		return nil
	}
	sc := serverConfig(ws)
	if prev != nil && prev.srv != nil && prev.srv.SameAddress(sc) {
		commit, err := prev.srv.Prepare(sc)
		if err != nil {
			return err
		}
		g.srv, g.srvCommit = prev.srv, commit
		return nil
	}
	srv, err := r.m.Serve(sc)
	if err != nil {
		if prev != nil && prev.srv != nil && prev.cfg.Webserver.ListenPort == ws.ListenPort {
			// the one move a running server cannot make: the running one holds the port
			return fmt.Errorf("webserver.listen_address: %q cannot replace %q on the same port %d while saker runs "+
				"(change listen_port as well, or restart): %w", ws.ListenAddress, prev.cfg.Webserver.ListenAddress, ws.ListenPort, err)
		}
		return err
	}
	g.srv = srv
	return nil
}

// build reads the configuration and rules files again and builds a whole generation beside
// the running one; on error nothing of it is left running.
func (r *runner) build() (*generation, error) {
	prev := r.gen
	c, err := config.Load(r.o.configFile, r.o.overridesWithFlags())
	if err != nil {
		return nil, err
	}
	rs, err := r.buildRules(c)
	if err != nil {
		return nil, err
	}
	g := &generation{cfg: c, rules: rs}
	if g.out, err = r.buildOutputs(c, prev); err != nil {
		return nil, err
	}
	if err := r.buildServer(g, prev); err != nil {
		g.out.Discard(context.Background())
		return nil, err
	}
	return g, nil
}

// swap puts a generation built by build in effect between two events, then closes what the
// previous one had and the new one did not keep: its output channels are flushed (within
// the new configuration's flush_timeout) and closed, its web server stopped.
func (r *runner) swap(g *generation) {
	g.out.Start()
	if g.srvCommit != nil {
		g.srvCommit()
	}
	r.mu.Lock()
	old := r.gen
	r.gen = g
	r.mu.Unlock()
	r.m.SwapOutputs(old.out, g.out)
	setLogLevel(g.cfg)
	w := r.cmd.ErrOrStderr()
	if g.srv != nil && g.srv != old.srv {
		fmt.Fprintf(w, "saker: web server on %s\n", g.srv.Addr())
	}
	if err := r.retire(old, g, g.cfg.OutputsQueue.FlushTimeout.D()); err != nil {
		fmt.Fprintf(w, "saker: closing the previous outputs: %v\n", err)
	}
	if old.srv != nil && old.srv != g.srv {
		fmt.Fprintf(w, "saker: web server on %s stopped\n", old.srv.Addr())
	}
}

// retire closes old's channels and web server, except those cur still uses (cur nil: all).
func (r *runner) retire(old, cur *generation, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if cur == nil || old.out != cur.out {
		errs = append(errs, old.out.Close(ctx))
	}
	if old.srv != nil && (cur == nil || old.srv != cur.srv) {
		errs = append(errs, old.srv.Close(ctx))
	}
	return errors.Join(errs...)
}

// setLogLevel applies log_level to Saker's own log (slog's default logger).
func setLogLevel(c *config.Config) {
	slog.SetLogLoggerLevel(c.SlogLevel())
}

// watched are the files a reload follows: the configuration and the rules files; none when
// watch_config_files is off (SIGHUP still reloads).
func (r *runner) watched() []string {
	g := r.gen
	if !g.cfg.WatchConfigFiles {
		return nil
	}
	files := append([]string(nil), g.cfg.Files...)
	if len(r.o.rules) > 0 {
		return append(files, r.o.rules...)
	}
	return append(files, g.cfg.RulesFiles...)
}

// newRunner sets the pipeline up around d. A replay blocks on full output queues instead of
// dropping, and does not start the reloader (r.rl.Reload still works, for tests).
func newRunner(cmd *cobra.Command, o *runOptions, d *detect.Detector, replay bool) (*runner, error) {
	cfg, err := config.Load(o.configFile, o.overridesWithFlags())
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{2}
	}
	setLogLevel(cfg)
	r := &runner{cmd: cmd, o: o, d: d, m: metrics.New(version), replay: replay}
	if d.Hostname == "" {
		d.Hostname, _ = os.Hostname()
	}
	g := &generation{cfg: cfg}
	if g.rules, err = r.buildRules(cfg); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{1}
	}
	r.m.ObserveRulesLoad(g.rules.LoadTime, len(g.rules.Ruleset.Enabled()), nil, false)
	if g.out, err = r.buildOutputs(cfg, nil); err != nil {
		return nil, err
	}
	if err := r.buildServer(g, nil); err != nil {
		g.out.Discard(context.Background())
		return nil, err
	}
	r.m.WatchOutputs(g.out)
	g.out.Start()
	if g.srv != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: web server on %s\n", g.srv.Addr())
	}
	r.gen = g
	r.stop = append(r.stop, r.reopenOnSignal())
	r.em = &config.Emitter{Send: func(a *alert.Alert) { r.gen.out.Send(a) }} // under r.mu, held by event
	d.Emit = r.em.Collect
	r.apply(g.rules)
	r.rl = reload.New(reload.Options[generation]{Build: r.build, Swap: r.swap, Paths: r.watched, OnResult: r.reported})
	if !replay {
		ctx, cancel := context.WithCancel(context.Background())
		done := r.rl.Start(ctx)
		r.stop = append(r.stop, func() { cancel(); <-done })
	}
	return r, nil
}

// reported reports a reload: metrics, stderr, and an internal alert when it failed.
func (r *runner) reported(res reload.Result) {
	n := 0
	if res.Err == nil {
		n = len(r.gen.rules.Ruleset.Enabled())
	}
	r.m.ObserveRulesLoad(res.Duration, n, res.Err, true)
	if res.Err == nil && r.reloaded != nil {
		r.reloaded(r.gen.rules)
	}
	if res.Err != nil {
		fmt.Fprintf(r.cmd.ErrOrStderr(), "saker: reload failed, the previous configuration and rules keep running:\n%v\n", res.Err)
		r.send(reload.FailureAlert(res, r.d.Hostname))
	} else {
		fmt.Fprintf(r.cmd.ErrOrStderr(), "saker: configuration and rules reloaded (%s)\n", res.Trigger)
	}
}

// reopenOnSignal reopens the running channels' destinations on SIGUSR1 (log rotation).
func (r *runner) reopenOnSignal() (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-c:
				r.mu.RLock()
				err := r.gen.out.Reopen()
				r.mu.RUnlock()
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

func (r *runner) apply(rs *config.Rules) {
	r.d.Rules, r.d.First, r.em.Extras = rs.Ruleset, rs.First, rs.Extras
}

// event runs one event with the running generation: a reload swaps generations between two
// events, so across a reload no event is lost or evaluated twice, and no alert is sent twice
// or to channels already closed.
func (r *runner) event(ev *event.Event) {
	if !r.held {
		r.mu.RLock()
		r.held = true
		if rs := r.gen.rules; rs.Ruleset != r.d.Rules {
			r.apply(rs)
		}
	}
	ctx := r.d.Event(ev)
	r.em.Flush(ctx)
	r.unread++
	if r.unread >= batchEvents {
		r.release()
	}
	if r.d.Events%4096 == 0 {
		r.m.SetState(r.d.State.Stats())
	}
}

// batchEvents bounds the events run under one hold of the read lock (a reload waits for at
// most that many).
const batchEvents = 256

// release lets the event loop's read lock go, so that a pending reload can swap, and brings
// the events-read counter up to date. The event loop calls it before it waits for events
// (and before it sends an alert itself); event takes the lock again.
func (r *runner) release() {
	if r.held {
		r.mu.RUnlock()
		r.held = false
	}
	if r.unread > 0 {
		r.m.EventsRead.Add(r.unread)
		r.unread = 0
	}
}

// send hands an alert raised outside an event (drops, a failed reload) to the outputs. The
// event loop releases its read lock first.
func (r *runner) send(a *alert.Alert) {
	r.mu.RLock()
	r.gen.out.Send(a)
	r.mu.RUnlock()
}

// close stops reloads and signals, and flushes every output queue within the deadline.
func (r *runner) close() error {
	r.release() // the event loop's: a reload in progress may be waiting for it
	for i := len(r.stop) - 1; i >= 0; i-- {
		r.stop[i]()
	}
	r.stop = nil
	if r.gen == nil || r.closed {
		return nil
	}
	r.closed = true
	return r.retire(r.gen, nil, r.gen.cfg.OutputsQueue.FlushTimeout.D())
}
