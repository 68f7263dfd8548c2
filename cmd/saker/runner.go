package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

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

// runner is what `saker run` keeps around a detector, live or replaying: the configuration,
// the output channels, metrics and their web server, and the rules in a holder that a
// reloader swaps between events.
type runner struct {
	cmd    *cobra.Command
	o      *runOptions
	cfg    *config.Config
	d      *detect.Detector
	m      *metrics.Metrics
	out    *output.Manager
	srv    *metrics.Server
	em     *config.Emitter
	holder *reload.Holder[config.Rules]
	stop   []func()
	// reloaded is called on the reloader's goroutine when a new ruleset was swapped in,
	// before the reload is announced (live: the probe's selection follows it at once, so an
	// event right after the announcement is captured).
	reloaded func(*config.Rules)
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

// buildRules reads the configuration again and compiles the rules: -r files when given,
// else the configuration's rules_files, else (none of them present) Saker's built-in rules.
func (r *runner) buildRules() (*config.Rules, error) {
	c, err := config.Load(r.o.configFile, r.o.overridesWithFlags())
	if err != nil {
		return nil, err
	}
	paths := r.o.rules
	if len(paths) == 0 {
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

// watched are the files a reload follows: the configuration and the rules files.
func (r *runner) watched() []string {
	files := append([]string(nil), r.cfg.Files...)
	if len(r.o.rules) > 0 {
		return append(files, r.o.rules...)
	}
	if c, err := config.Load(r.o.configFile, r.o.overridesWithFlags()); err == nil {
		return append(files, c.RulesFiles...)
	}
	return append(files, r.cfg.RulesFiles...)
}

// newRunner sets the pipeline up around d. A replay blocks on full output queues instead of
// dropping, and does not watch files.
func newRunner(cmd *cobra.Command, o *runOptions, d *detect.Detector, replay bool) (*runner, error) {
	cfg, err := config.Load(o.configFile, o.overridesWithFlags())
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{2}
	}
	r := &runner{cmd: cmd, o: o, cfg: cfg, d: d, m: metrics.New(version)}
	if d.Hostname == "" {
		d.Hostname, _ = os.Hostname()
	}
	first, err := r.buildRules()
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{1}
	}
	r.m.ObserveRulesLoad(first.LoadTime, len(first.Ruleset.Enabled()), nil, false)
	r.out, err = cfg.Outputs(config.OutputOptions{Hostname: d.Hostname, Observe: r.m.ObserveAlert,
		Stdout: cmd.OutOrStdout(), Block: replay})
	if err != nil {
		return nil, err
	}
	r.m.WatchOutputs(r.out)
	r.out.Start()
	r.stop = append(r.stop, r.out.ReopenOnSignal())
	if ws := cfg.Webserver; ws.Enabled {
		sc := metrics.ServerConfig{ListenAddress: ws.ListenAddress, ListenPort: ws.ListenPort,
			HealthzPath: ws.K8sHealthzEndpoint, Metrics: ws.PrometheusMetricsEnabled}
		if r.srv, err = r.m.Serve(sc); err != nil {
			r.close()
			return nil, err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: web server on %s\n", r.srv.Addr())
	}
	r.holder = reload.NewHolder(first)
	r.em = &config.Emitter{Send: r.out.Send}
	d.Emit = r.em.Collect
	r.apply(first)
	if !replay && cfg.WatchConfigFiles {
		ctx, cancel := context.WithCancel(context.Background())
		rl := reload.New(reload.Options[config.Rules]{Holder: r.holder, Build: r.buildRules, Paths: r.watched,
			OnResult: func(res reload.Result) {
				n := 0
				if cur := r.holder.Load(); cur != nil && res.Err == nil {
					n = len(cur.Ruleset.Enabled())
				}
				r.m.ObserveRulesLoad(res.Duration, n, res.Err, true)
				if res.Err == nil && r.reloaded != nil {
					r.reloaded(r.holder.Load())
				}
				if res.Err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "saker: reload failed, the previous rules keep running:\n%v\n", res.Err)
					r.out.Send(reload.FailureAlert(res, d.Hostname))
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "saker: rules reloaded (%s)\n", res.Trigger)
				}
			}})
		done := rl.Start(ctx)
		r.stop = append(r.stop, func() { cancel(); <-done })
	}
	return r, nil
}

func (r *runner) apply(rs *config.Rules) {
	r.d.Rules, r.d.First, r.em.Extras = rs.Ruleset, rs.First, rs.Extras
}

// event runs one event: the newest ruleset is taken between events, so across a reload no
// event is lost or evaluated twice.
func (r *runner) event(ev *event.Event) {
	if rs := r.holder.Load(); rs.Ruleset != r.d.Rules {
		r.apply(rs)
	}
	r.m.EventsRead.Add(1)
	ctx := r.d.Event(ev)
	r.em.Flush(ctx)
	if r.d.Events%4096 == 0 {
		r.m.SetState(r.d.State.Stats())
	}
}

// send hands an internal alert (drops) to the outputs.
func (r *runner) send(a *alert.Alert) { r.out.Send(a) }

// close stops reloads and signals, and flushes every output queue within the deadline.
func (r *runner) close() error {
	for i := len(r.stop) - 1; i >= 0; i-- {
		r.stop[i]()
	}
	r.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.OutputsQueue.FlushTimeout.D())
	defer cancel()
	var errs []error
	if r.out != nil {
		errs = append(errs, r.out.Close(ctx))
	}
	if r.srv != nil {
		errs = append(errs, r.srv.Close(ctx))
	}
	return errors.Join(errs...)
}
