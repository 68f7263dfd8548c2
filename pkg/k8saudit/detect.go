package k8saudit

import (
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/engine"
)

// Detector evaluates the k8s_audit rules of a compiled ruleset on audit events. Rules must be
// compiled with a FieldSource under the name "k8s_audit" (see Sources). Like the syscall
// detector it is used by one goroutine at a time.
type Detector struct {
	Rules    *engine.Ruleset
	Hostname string
	// First stops at the first matching rule of an event (rule_matching: first).
	First bool
	// Emit receives each alert.
	Emit func(*alert.Alert)

	rulesOf *engine.Ruleset
	rules   *engine.SourceRules
	matches []*engine.Rule

	Events, Matched uint64
}

// Event evaluates the rules on one event and returns how many matched.
func (d *Detector) Event(ev *Event) int {
	d.Events++
	if d.Rules == nil {
		return 0
	}
	if d.Rules != d.rulesOf { // a new ruleset (a reload between two events)
		d.rulesOf, d.rules = d.Rules, d.Rules.Source(SourceName)
	}
	d.matches = d.rules.Match(0, ev, d.First, d.matches[:0])
	for _, r := range d.matches {
		d.Matched++
		if d.Emit != nil {
			d.Emit(alert.New(r, ev, ev.TS, d.Hostname))
		}
	}
	return len(d.matches)
}

// Evaluate is Detector.Event for one event without a detector: the alerts of rs's k8s_audit
// rules that match ev.
func Evaluate(rs *engine.Ruleset, ev *Event, hostname string, first bool) []*alert.Alert {
	var out []*alert.Alert
	d := Detector{Rules: rs, Hostname: hostname, First: first, Emit: func(a *alert.Alert) { out = append(out, a) }}
	d.Event(ev)
	return out
}
