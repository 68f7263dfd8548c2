package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/enforce"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// In-kernel enforcement (pkg/enforce): with enforce.enabled, the live probe's sys_enter
// program kills the processes that match a rule with `enforce: kill`. The rules' conditions
// are compiled when the rules load (a condition the kernel cannot decide is a load error,
// at its position); the clauses are put in the probe when it attaches and again at every
// reload; dry_run and allow follow configuration reloads. Enabling or disabling needs a
// restart.

// enforcement is the agent's enforcement state.
type enforcement struct {
	mu   sync.Mutex
	cfg  config.Enforce
	prog *enforce.Program
	run  *enforce.Runner
	host string
	a    *Agent
}

// compileEnforce compiles the `enforce: kill` rules of rs; its errors are load errors.
func compileEnforce(rs *engine.Ruleset) (*enforce.Program, []loader.Message) {
	prog, err := enforce.Compile(rs)
	if err == nil {
		return prog, nil
	}
	var msgs []loader.Message
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ee *enforce.Error
		if errors.As(err, &ee) {
			msgs = append(msgs, loader.Message{Pos: ee.Pos, Item: fmt.Sprintf("rule %q", ee.Rule), Msg: ee.Detail()})
			return
		}
		msgs = append(msgs, loader.Message{Msg: err.Error()})
	}
	walk(err)
	return nil, msgs
}

// hookEnforcement makes the probe sources start enforcement when they attach.
func (a *Agent) hookEnforcement(sources []Source) {
	for _, s := range sources {
		if ps, ok := s.(*ProbeSource); ok && ps.OnAttach == nil && !ps.All {
			ps.OnAttach = a.attachEnforcement
		}
	}
}

// attachEnforcement starts enforcement on p when the configuration enables it; the returned
// function stops it (before the probe closes).
func (a *Agent) attachEnforcement(p *probe.Probe) func() {
	cfg := a.Config()
	rules := a.Rules()
	if !cfg.Enforce.Enabled {
		return func() {}
	}
	e := &a.enf
	e.mu.Lock()
	defer e.mu.Unlock()
	e.a, e.cfg, e.host = a, cfg.Enforce, a.d.Hostname
	if rules != nil {
		e.prog = rules.Enforce
	}
	r, err := enforce.Start(p, enforce.Options{DryRun: e.cfg.DryRun, AllowComms: e.cfg.AllowComms(), AllowExes: e.cfg.AllowExes(),
		Hostname: e.host, Emit: a.Send, Log: slog.Default()})
	if err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: %v (nothing will be killed)\n", err)
		return func() {}
	}
	if err := r.SetProgram(e.prog); err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: %v (nothing will be killed)\n", err)
		r.Close()
		return func() {}
	}
	if err := a.m.Registry.Register(r); err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: metrics: %v\n", err)
	}
	n := 0
	if e.prog != nil {
		n = len(e.prog.Rules)
	}
	fmt.Fprintf(a.stderr, "saker: enforce: %d kill rules in the kernel (dry_run=%v); BPF LSM %s\n", n, e.cfg.DryRun, r.LSM())
	e.run = r
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		a.m.Registry.Unregister(r)
		r.Close()
		e.run = nil
	}
}

// enforceRules puts a reloaded ruleset's clauses in the kernel.
func (a *Agent) enforceRules(rs *Rules) {
	e := &a.enf
	e.mu.Lock()
	defer e.mu.Unlock()
	e.prog = rs.Enforce
	if e.run == nil {
		return
	}
	prog := e.prog
	if !e.cfg.Enabled {
		prog = nil
	}
	if err := e.run.SetProgram(prog); err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: the reloaded rules are not in the kernel: %v\n", err)
	}
}

// enforceConfig applies a reloaded enforce section.
func (a *Agent) enforceConfig(c config.Enforce) {
	e := &a.enf
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil {
		if c.Enabled && !e.cfg.Enabled {
			fmt.Fprintf(a.stderr, "saker: enforce.enabled set: restart saker to attach the enforcement program\n")
		}
		return
	}
	e.cfg = c
	if !c.Enabled {
		fmt.Fprintf(a.stderr, "saker: enforce.enabled unset: no kill rule in the kernel until it is set again\n")
		if err := e.run.SetProgram(nil); err != nil {
			fmt.Fprintf(a.stderr, "saker: enforce: %v\n", err)
		}
	} else if err := e.run.SetProgram(e.prog); err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: %v\n", err)
	}
	if err := e.run.SetOptions(enforce.Options{DryRun: c.DryRun, AllowComms: c.AllowComms(), AllowExes: c.AllowExes()}); err != nil {
		fmt.Fprintf(a.stderr, "saker: enforce: %v\n", err)
	}
}

// Enforcement is the running enforcement (nil when it is not attached).
func (a *Agent) Enforcement() *enforce.Runner {
	a.enf.mu.Lock()
	defer a.enf.mu.Unlock()
	return a.enf.run
}
