package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/deny"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/metrics"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/reload"
	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/rules/loader"
	defaultrules "github.com/saker-sec/saker/rules"
)

// generation is one applied configuration: what a reload builds beside the running one and
// swaps in whole, or not at all.
type generation struct {
	cfg   *config.Config
	rules *Rules
	// workerRules are rules compiled again for each pipeline worker but the first (none
	// with one worker): workerRules[i-1] is worker i's
	workerRules []*Rules
	out         *output.Manager
	srv         *metrics.Server // nil when the web server is off
	// srvCommit, when set, puts this generation's web server settings in effect on srv,
	// the previous generation's server, which listens at the same address.
	srvCommit func()
	// policy is the response policy read again by a reload (nil: none running)
	policy *response.Policy
	deny   *deny.RuleDecider // the deny rules (nil: deny off)
}

// buildRules compiles the rules: -r files when given, else the configuration's rules_files,
// else (none of them present) Saker's built-in rules.
func (a *Agent) buildRules(c *config.Config) (*Rules, error) {
	return a.buildRulesFor(c, a.d.Sources())
}

// buildRulesFor is buildRules against other rule sources (pkg/deny's own state).
func (a *Agent) buildRulesFor(c *config.Config, sources map[string]fields.Source) (*Rules, error) {
	// Loading the three upstream files allocates ~8 MB of parse trees and closures in ~15 ms,
	// most of it garbage at the end: collecting while it grows took 4 cycles and a third of
	// the CPU of a start; the first collection after it does the work once.
	defer pauseGC()()
	paths := a.opts.RulesFiles
	if len(paths) == 0 {
		var err error
		if paths, _, err = c.RulesPaths(); err != nil {
			return nil, err
		}
	}
	var rs *Rules
	var errs []loader.Message
	if len(paths) == 0 {
		files := defaultrules.Files()
		if _, ok := sources[admission.SourceName]; ok && c.Admission.Enabled {
			files = append(files, admission.DefaultRules())
		}
		rs, errs, _ = LoadRuleFiles(c, files, sources)
	} else {
		rs, errs, _ = LoadRules(c, paths, sources)
	}
	if len(errs) > 0 {
		return nil, RulesError(errs)
	}
	return rs, nil
}

// buildOutputs builds the output channels of c; with prev (a reload), unchanged channels are
// kept from prev's (see output.FromConfig).
func (a *Agent) buildOutputs(c *config.Config, prev *generation) (*output.Manager, error) {
	o := output.BuildOptions{Hostname: a.d.Hostname, Observe: a.m.ObserveAlert, Stdout: a.opts.Stdout, Block: a.opts.Replay}
	if prev != nil {
		o.Previous = prev.out
	}
	return output.FromConfig(c, o)
}

// serverConfig is the web server's configuration, with the agent's health and readiness.
func (a *Agent) serverConfig(ws config.Webserver) metrics.ServerConfig {
	sc := metrics.ServerConfig{ListenAddress: ws.ListenAddress, ListenPort: ws.ListenPort,
		HealthzPath: ws.K8sHealthzEndpoint, Metrics: ws.PrometheusMetricsEnabled,
		Healthy: a.Healthy, Ready: a.Ready,
		TokenFile: ws.Auth.TokenFile, ClientCAFile: ws.Auth.ClientCA, OpenHealth: ws.Auth.OpenHealth,
		ReadTimeout: ws.ReadTimeout.D(), WriteTimeout: ws.WriteTimeout.D(), IdleTimeout: ws.IdleTimeout.D()}
	if ws.SSLEnabled {
		sc.CertFile = ws.SSLCertificate
	}
	return sc
}

// buildServer readies g's web server: none when disabled; prev's, reconfigured at the swap,
// when it listens at the same address; else a new one, listening already (so that a busy
// port fails the reload, not the swap).
func (a *Agent) buildServer(g, prev *generation) error {
	ws := g.cfg.Webserver
	if !ws.Enabled {
		return nil
	}
	sc := a.serverConfig(ws)
	if prev != nil && prev.srv != nil && prev.srv.SameAddress(sc) {
		commit, err := prev.srv.Prepare(sc)
		if err != nil {
			return err
		}
		g.srv, g.srvCommit = prev.srv, commit
		return nil
	}
	srv, err := a.m.Serve(sc)
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
func (a *Agent) build() (*generation, error) {
	prev := a.gen
	c, err := config.Load(a.opts.ConfigFile, a.opts.Overrides)
	if err != nil {
		return nil, err
	}
	rs, err := a.buildRules(c)
	if err != nil {
		return nil, err
	}
	g := &generation{cfg: c, rules: rs}
	if g.workerRules, err = a.buildWorkerRules(c); err != nil {
		return nil, err
	}
	if g.deny, err = a.buildDeny(c); err != nil {
		return nil, err
	}
	if a.resp != nil && c.Response.PolicyFile != "" {
		if g.policy, err = response.LoadFile(c.Response.PolicyFile); err != nil {
			return nil, fmt.Errorf("response.policy_file: %w", err)
		}
	}
	if g.out, err = a.buildOutputs(c, prev); err != nil {
		return nil, err
	}
	if err := a.buildServer(g, prev); err != nil {
		g.out.Discard(context.Background())
		return nil, err
	}
	return g, nil
}

// swap puts a generation built by build in effect between two events, then closes what the
// previous one had and the new one did not keep: its output channels are flushed (within
// the new configuration's flush_timeout) and closed, its web server stopped.
func (a *Agent) swap(g *generation) {
	g.out.Start()
	if g.srvCommit != nil {
		g.srvCommit()
	}
	a.stall.Store(int64(g.cfg.Webserver.StallTimeout.D()))
	a.mu.Lock()
	old := a.gen
	a.gen = g
	a.mu.Unlock()
	a.m.SwapOutputs(old.out, g.out)
	switch {
	case g.policy != nil:
		a.resp.rs.SetPolicy(g.policy)
	case a.resp != nil:
		fmt.Fprintf(a.stderr, "saker: response.policy_file removed: the response engine keeps its policy until restarted\n")
	case g.cfg.Response.PolicyFile != "":
		fmt.Fprintf(a.stderr, "saker: response.policy_file set: restart saker to start the response engine\n")
	}
	a.swapDeny(g)
	setLogLevel(g.cfg)
	a.enforceConfig(g.cfg.Enforce)
	a.incidentsConfig(g.cfg.Incidents)
	a.k8sMetaConfig(g.cfg.K8sMetadata)
	if g.srv != nil && g.srv != old.srv {
		fmt.Fprintf(a.stderr, "saker: web server on %s\n", g.srv.Addr())
	}
	if err := a.retire(old, g, g.cfg.OutputsQueue.FlushTimeout.D()); err != nil {
		fmt.Fprintf(a.stderr, "saker: closing the previous outputs: %v\n", err)
	}
	if old.srv != nil && old.srv != g.srv {
		fmt.Fprintf(a.stderr, "saker: web server on %s stopped\n", old.srv.Addr())
	}
}

// retire closes old's channels and web server, except those cur still uses (cur nil: all).
func (a *Agent) retire(old, cur *generation, timeout time.Duration) error {
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

// watched are the files a reload follows: the configuration and the rules files and
// directories (each rules file inside a directory is followed: edited, added or removed);
// none when watch_config_files is off (SIGHUP still reloads).
func (a *Agent) watched() []string {
	g := a.gen
	if !g.cfg.WatchConfigFiles {
		return nil
	}
	files := append([]string(nil), g.cfg.Files...)
	if a.resp != nil && g.cfg.Response.PolicyFile != "" {
		files = append(files, g.cfg.Response.PolicyFile)
	}
	if len(a.opts.RulesFiles) > 0 {
		return append(files, a.opts.RulesFiles...)
	}
	return append(files, g.cfg.RulesFiles...)
}

// reported reports a reload: metrics, stderr (with the files that changed), the sources that
// follow the rules, and an internal alert when it failed.
func (a *Agent) reported(res reload.Result) {
	n := 0
	if res.Err == nil {
		n = len(a.gen.rules.Ruleset.Enabled())
	}
	a.m.ObserveRulesLoad(res.Duration, n, res.Err, true)
	if res.Err == nil {
		a.srcMu.Lock()
		rs := append([]*running(nil), a.running...)
		a.srcMu.Unlock()
		for _, r := range rs {
			if f, ok := r.src.(RulesFollower); ok && !r.done.Load() {
				f.RulesChanged(a.gen.rules)
			}
		}
	}
	changed := ""
	if len(res.Changed) > 0 {
		changed = ": " + joinPaths(res.Changed)
	}
	if res.Err != nil {
		fmt.Fprintf(a.stderr, "saker: reload failed (%s%s), the previous configuration and rules keep running:\n%v\n", res.Trigger, changed, res.Err)
		a.Send(ReloadFailureAlert(res, a.d.Hostname))
	} else {
		fmt.Fprintf(a.stderr, "saker: configuration and rules reloaded (%s)%s\n", res.Trigger, changed)
	}
}

func joinPaths(ps []string) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		if _, err := os.Stat(p); err != nil {
			p += " (removed)"
		}
		s += p
	}
	return s
}

// gcPause counts the compilations running (a reload may overlap another's): the collector is
// off while any is, and back to its setting after the last.
var gcPause struct {
	sync.Mutex
	n, prev int
}

func pauseGC() (resume func()) {
	gcPause.Lock()
	if gcPause.n == 0 {
		gcPause.prev = debug.SetGCPercent(-1)
	}
	gcPause.n++
	gcPause.Unlock()
	return func() {
		gcPause.Lock()
		if gcPause.n--; gcPause.n == 0 {
			debug.SetGCPercent(gcPause.prev)
		}
		gcPause.Unlock()
	}
}
