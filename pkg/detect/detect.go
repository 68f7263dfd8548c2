// Package detect wires the pipeline for one event stream, whatever its origin (a capture or
// the live probe): normalizer → state → event-type-indexed ruleset → alerts.
package detect

import (
	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// Detector evaluates the syscall rules of a ruleset over a stream of scap-layout events.
type Detector struct {
	State  *state.Engine
	Source fields.Source
	// K8sAudit is the k8s_audit rule source (its ClusterName is ka.cluster.name).
	K8sAudit *k8saudit.FieldSource
	Rules    *engine.Ruleset
	Hostname string
	// First stops at the first matching rule of an event (rule_matching: first).
	First bool
	// Emit receives each alert.
	Emit func(*alert.Alert)

	norm    event.Normalizer
	matches []*engine.Rule
	sysOf   *engine.Ruleset     // the ruleset sys was taken from
	sys     *engine.SourceRules // its syscall rules

	Events, Matched uint64
}

// New returns a detector over a fresh state engine; call Sources to compile rules against it.
func New(opts state.Options) *Detector {
	st := state.New(opts)
	return &Detector{State: st, Source: sysfields.NewSource(st), K8sAudit: k8saudit.NewFieldSource()}
}

// Sources are the rule sources the detector serves, to compile a ruleset with.
func (d *Detector) Sources() map[string]fields.Source {
	k := d.K8sAudit
	if k == nil {
		k = k8saudit.NewFieldSource()
	}
	return map[string]fields.Source{"syscall": d.Source, "k8s_audit": k, admission.SourceName: admission.NewFieldSource()}
}

// Metadata loads a capture's or a /proc scan's metadata into the state.
func (d *Detector) Metadata(mi *event.MachineInfo, ifs []event.Interface, users []event.User, groups []event.Group, threads []event.ThreadInfo, fds []event.FDInfo) {
	if mi != nil && d.Hostname == "" {
		d.Hostname = mi.Hostname
	}
	d.State.Load(mi, ifs, users, groups, threads, fds)
}

// LoadCapture loads a capture's metadata into the state (see Metadata).
func (d *Detector) LoadCapture(c state.Capture) {
	if m, ok := c.Machine(); ok && d.Hostname == "" {
		d.Hostname = m.Hostname
	}
	d.State.LoadCapture(c)
}

// Event processes one decoded event: normalizes it, updates state and, unless it is a
// state-only event, evaluates the rules that can match its type (enter events too, as Falco
// does for captures that hold them; rules select a direction with evt.dir). It returns the
// state context the event was evaluated on (nil when the normalizer held it back).
func (d *Detector) Event(ev *event.Event) *state.Context {
	if !d.norm.Next(ev) {
		return nil
	}
	ctx := d.Update(ev)
	d.Match(ev, ctx)
	return ctx
}

// Update is the state half of Event for an event already normalized (a pipeline that
// normalizes once and hands the events to several detectors): it counts the event and runs
// it through the state engine.
func (d *Detector) Update(ev *event.Event) *state.Context {
	d.Events++
	return d.State.Process(ev)
}

// Match is the rules half of Event: unless ev is a state-only event, it evaluates the rules
// that can match its type on ctx (what Update returned for it) and emits the alerts.
func (d *Detector) Match(ev *event.Event, ctx *state.Context) {
	if d.Rules == nil || ev.Flags&event.FlagStateOnly != 0 {
		return
	}
	if d.Rules != d.sysOf { // a new ruleset (set by a reload between two events)
		d.syncRules()
	}
	if d.sys.Any(ev.Type) { // (most events have no candidate rule: no call then)
		d.match(ev, ctx)
	}
}

func (d *Detector) syncRules() { d.sysOf, d.sys = d.Rules, d.Rules.Source("syscall") }

func (d *Detector) match(ev *event.Event, ctx *state.Context) {
	d.matches = d.sys.Match(ev.Type, ctx, d.First, d.matches[:0])
	for _, r := range d.matches {
		d.Matched++
		if d.Emit != nil {
			d.Emit(alert.New(r, ctx, ev.TS, d.Hostname))
		}
	}
}
