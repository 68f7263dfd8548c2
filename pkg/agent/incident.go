package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/state"
)

// IncidentSink feeds the incident store (pkg/incident): every k8s_audit event with the alerts
// its rules raised (Input.Evaluate hands them over, on the audit source's goroutine), and the
// alerts of syscall rules with the pod of their event (joined by the emitter before their
// extra fields are rendered). The agent starts it when
// incidents.enabled, before the rules are compiled: the syscall source is then wrapped with
// the incident.* fields (incident.FieldSource). Agent.Options.Quarantine, when set, is fed
// with the open Critical+ incidents.
type IncidentSink struct {
	store *incident.Store
	path  string // the store file, as opened
	pod   func(fields.Event) (ns, name, uid string)
}

// startIncidents opens the store of c's incidents section and wraps the syscall source (nil,
// nil when not enabled).
func (a *Agent) startIncidents(c *config.Config) (*IncidentSink, error) {
	ic := c.Incidents
	if !ic.Enabled {
		return nil, nil
	}
	o := incident.Options{Path: ic.StorePath(), Window: ic.Window.D(), Max: ic.Max, MaxAge: ic.MaxAge.D(), Logger: slog.Default()}
	if a.opts.Quarantine != nil {
		o.Quarantine = incident.AdmissionQuarantine(a.opts.Quarantine)
	}
	st, err := incident.Open(o)
	if err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	src := incident.NewFieldSource(a.d.Source, st)
	a.d.Source = src
	return &IncidentSink{store: st, path: ic.StorePath(), pod: src.Pod()}, nil
}

// incidentFields are the extra output fields incidents.output_fields adds to syscall rules.
// They need the store running (the syscall source wrapped): without it they are left out.
func incidentFields(c *config.Config, sources map[string]fields.Source) []config.AppendOutput {
	if !c.Incidents.Enabled || !c.Incidents.OutputFields {
		return nil
	}
	if src := sources["syscall"]; src == nil {
		return nil
	} else if _, ok := src.Field("incident.id"); !ok {
		return nil
	}
	ao := config.AppendOutput{Match: config.AppendMatch{Source: "syscall"}}
	for _, f := range incident.Fields {
		ao.ExtraFields = append(ao.ExtraFields, config.ExtraField{Name: f.Name, Template: "%" + f.Name, IsField: true})
	}
	return []config.AppendOutput{ao}
}

// incidentsConfig applies a reload's incidents section: window, max and max_age to the
// running store (output_fields through the rules, rebuilt by each generation); enabled and
// path need a restart, which it says on stderr.
func (a *Agent) incidentsConfig(cur config.Incidents) {
	switch {
	case a.inc == nil && cur.Enabled:
		fmt.Fprintf(a.stderr, "saker: incidents.enabled set: restart saker to start the incident store\n")
		return
	case a.inc == nil:
		return
	case !cur.Enabled:
		fmt.Fprintf(a.stderr, "saker: incidents.enabled unset: the incident store keeps running until saker restarts\n")
		return
	}
	if cur.StorePath() != a.inc.path {
		fmt.Fprintf(a.stderr, "saker: incidents.path changed: the store keeps writing %s until saker restarts\n", a.inc.path)
	}
	a.inc.store.SetLimits(cur.Window.D(), cur.Max, cur.MaxAge.D())
}

// Name is "incidents".
func (s *IncidentSink) Name() string { return "incidents" }

// Store is the running store.
func (s *IncidentSink) Store() *incident.Store { return s.store }

// join records a syscall alert in its pod's incident (the emitter calls it before the
// alert's extra fields are rendered: the alert that opens an incident carries its id and
// the chain it starts in its incident.* output fields; its output text, rendered by the
// rule before, does not).
func (s *IncidentSink) join(al *alert.Alert, ctx *state.Context) {
	if ns, name, uid := s.pod(ctx); name != "" {
		s.store.Alert(ns, name, uid, al)
	}
}

// Alert: nothing (syscall alerts were joined before delivery by join, k8s_audit ones come
// with their event through audit; internal and response alerts concern no pod).
func (s *IncidentSink) Alert(*alert.Alert) {}

// audit records a k8s_audit event with its alerts.
func (s *IncidentSink) audit(ev fields.Event, alerts []*alert.Alert) {
	if e, ok := ev.(*k8saudit.Event); ok {
		s.store.Audit(e, alerts)
	}
}

// Close flushes the store.
func (s *IncidentSink) Close(context.Context) error { return s.store.Close() }
