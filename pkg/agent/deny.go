package agent

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/deny"
)

// denyRunner is the fanotify file-access denial (pkg/deny) of deny.enabled: a Guard whose
// decider is the rules with `enforce: deny`, compiled against the Guard's own state engine
// (decisions run beside the event loop and cannot share its state). A reload compiles them
// again and swaps the decider; deny's other keys are read at start only.
type denyRunner struct {
	g      *deny.Guard
	dec    atomic.Pointer[deny.RuleDecider]
	alerts chan *alert.Alert
}

// buildDeny compiles the deny rules of c for a generation (nil when deny is off, and when
// replaying a capture: nothing of the host is marked then).
func (a *Agent) buildDeny(c *config.Config) (*deny.RuleDecider, error) {
	if !c.Deny.Enabled || a.opts.Replay {
		return nil, nil
	}
	st := deny.NewState(a.opts.Containers)
	rs, err := a.buildRulesFor(c, st.Sources())
	if err != nil {
		return nil, err
	}
	return deny.NewRuleDecider(st, rs.Ruleset), nil
}

// startDeny starts the Guard with g's deny rules; Close stops it.
func (a *Agent) startDeny(c *config.Config, dec *deny.RuleDecider) error {
	if dec == nil {
		return nil
	}
	if len(dec.Rules()) == 0 {
		fmt.Fprintf(a.stderr, "saker: deny: no rule with enforce: deny matches open/openat: nothing is denied\n")
	}
	d := &denyRunner{alerts: make(chan *alert.Alert, 256)}
	d.dec.Store(dec)
	m := deny.NewMetrics()
	for _, col := range m.Collectors() {
		if err := a.m.Registry.Register(col); err != nil {
			return fmt.Errorf("deny: metrics: %w", err)
		}
	}
	g, err := deny.Start(deny.Options{Paths: c.Deny.Paths, Deadline: c.Deny.Deadline.D(), DryRun: c.Deny.DryRun,
		Allow: c.Deny.Allow, Watchdog: c.Deny.Watchdog, Metrics: m, Log: slog.Default(), Hostname: a.d.Hostname,
		Decider: d,
		Emit: func(al *alert.Alert) { // never wait for the agent's lock on the decision path
			select {
			case d.alerts <- al:
			default:
			}
		}})
	if err != nil {
		return err
	}
	d.g = g
	done := make(chan struct{})
	go func() {
		defer close(done)
		for al := range d.alerts {
			a.Send(al)
		}
	}()
	a.deny = d
	a.stop = append(a.stop, func() { g.Close(); close(d.alerts); <-done })
	fmt.Fprintf(a.stderr, "saker: deny: %d rule(s), marks on %v\n", len(dec.Rules()), c.Deny.Paths)
	return nil
}

// Decide decides with the current generation's deny rules (the Guard's Decider).
func (d *denyRunner) Decide(r *deny.Request) deny.Verdict { return d.dec.Load().Decide(r) }

// Name reads the requester from the current decider's process cache (a deny.Namer: the
// Guard's trusted test then costs no /proc read of its own).
func (d *denyRunner) Name(pid int32) (string, string, bool) { return d.dec.Load().Name(pid) }

// swapDeny puts a reloaded generation's deny rules in effect.
func (a *Agent) swapDeny(g *generation) {
	switch {
	case a.deny != nil && g.deny != nil:
		if old := a.deny.dec.Swap(g.deny); old != nil && old != g.deny {
			old.Close() // its process cache's descriptors
		}
	case a.deny != nil:
		fmt.Fprintf(a.stderr, "saker: deny.enabled turned off: restart saker to stop denying\n")
	case g.deny != nil:
		fmt.Fprintf(a.stderr, "saker: deny.enabled set: restart saker to start denying\n")
	}
}
