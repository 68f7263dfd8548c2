package admission

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/engine"
)

// Actions of admission rules (the rule key `action`).
const (
	ActionDeny  = "deny"
	ActionWarn  = "warn"
	ActionAlert = "alert"
)

// Exemptions are the requests admitted without evaluation.
type Exemptions struct {
	Namespaces []string // the request's namespace
	Users      []string // userInfo.username
	Groups     []string // any of userInfo.groups
}

// DefaultExemptions exempt the kube-system namespace and the nodes (group system:nodes).
func DefaultExemptions() Exemptions {
	return Exemptions{Namespaces: []string{"kube-system"}, Groups: []string{"system:nodes"}}
}

// Exempt reports whether r is exempt, and why ("namespace kube-system", "user X", "group Y").
func (e *Exemptions) Exempt(r *Request) (string, bool) {
	if r.Namespace != "" && slices.Contains(e.Namespaces, r.Namespace) {
		return "namespace " + r.Namespace, true
	}
	if slices.Contains(e.Users, r.UserInfo.Username) {
		return "user " + r.UserInfo.Username, true
	}
	for _, g := range r.UserInfo.Groups {
		if slices.Contains(e.Groups, g) {
			return "group " + g, true
		}
	}
	return "", false
}

// Match is one rule that matched a request, with what it did.
type Match struct {
	Alert  *alert.Alert
	Action string // ActionDeny, ActionWarn or ActionAlert
	DryRun bool   // the rule only audits: its action was not applied
}

// Decision is the outcome of one review.
type Decision struct {
	Response Response
	Matches  []Match
	Exempt   string // why the request was exempt ("" when it was evaluated)
	// Quarantined: denied because the pod is quarantined, or the workload owns a quarantined
	// pod and the request changes its pod template (no rule was evaluated).
	Quarantined bool
}

// Stats are the controller's counters.
type Stats struct {
	Reviews, Allowed, Denied, Warned, Exempt, Alerts, Errors uint64
	Quarantined                                              uint64 // of Denied: connections into quarantined pods, their owners' template updates
}

// Controller evaluates the k8s_admission rules of a ruleset on admission requests. Its
// methods are safe for concurrent use: evaluations of one ruleset are serialised (compiled
// rules keep per-event memory), the rest runs in parallel.
type Controller struct {
	Exemptions Exemptions
	Hostname   string
	// Quarantine, when set, denies exec, attach and port-forward into its pods and updates
	// of their owners' pod templates (before exemptions and rules). Set it before serving;
	// its pods change at any time.
	Quarantine *Quarantine
	// Emit receives the alert of every matching rule (deny, warn, alert and dry-run alike),
	// called with the evaluation lock released.
	Emit func(m Match)

	mu    sync.Mutex // held while rules are evaluated
	rules atomic.Pointer[engine.Ruleset]
	stats struct {
		reviews, allowed, denied, warned, exempt, alerts, errors, quarantined atomic.Uint64
	}
	now func() time.Time
}

// NewController returns a controller evaluating rs (nil: none yet; every request is
// admitted) with the default exemptions.
func NewController(rs *engine.Ruleset) *Controller {
	c := &Controller{Exemptions: DefaultExemptions(), now: time.Now}
	c.SetRules(rs)
	return c
}

// SetRules replaces the ruleset (a reload); reviews under way finish with the old one.
func (c *Controller) SetRules(rs *engine.Ruleset) { c.rules.Store(rs) }

// Stats returns the counters.
func (c *Controller) Stats() Stats {
	s := &c.stats
	return Stats{Reviews: s.reviews.Load(), Allowed: s.allowed.Load(), Denied: s.denied.Load(), Warned: s.warned.Load(),
		Exempt: s.exempt.Load(), Alerts: s.alerts.Load(), Errors: s.errors.Load(), Quarantined: s.quarantined.Load()}
}

// Review decides on one request. The response's uid is the request's. The deny message is
// the rendered outputs of the denying rules, joined by "; "; each warn rule adds its rendered
// output as a warning. An error (a request that cannot be presented as an event) is
// returned without a decision.
func (c *Controller) Review(r *Request) (*Decision, error) {
	c.stats.reviews.Add(1)
	d := &Decision{Response: Response{UID: r.UID, Allowed: true}}
	if msg := c.Quarantine.denial(r); msg != "" {
		c.stats.denied.Add(1)
		c.stats.quarantined.Add(1)
		d.Response.Allowed = false
		d.Response.Result = &Status{Code: 403, Reason: "Forbidden", Message: msg}
		d.Quarantined = true
		return d, nil
	}
	if why, ok := c.Exemptions.Exempt(r); ok {
		c.stats.exempt.Add(1)
		c.stats.allowed.Add(1)
		d.Exempt = why
		return d, nil
	}
	rs := c.rules.Load()
	var src *engine.SourceRules
	if rs != nil {
		src = rs.Source(SourceName)
	}
	if src == nil {
		c.stats.allowed.Add(1)
		return d, nil
	}
	ev, err := r.Event(c.now())
	if err != nil {
		c.stats.errors.Add(1)
		return nil, err
	}
	c.mu.Lock()
	matched := src.Match(0, ev, false, nil)
	for _, rule := range matched {
		m := Match{Alert: alert.New(rule, ev, ev.TS, c.Hostname), Action: ActionAlert}
		if rule.Def != nil {
			if rule.Def.Action != "" {
				m.Action = rule.Def.Action
			}
			m.DryRun = rule.Def.DryRun
		}
		d.Matches = append(d.Matches, m)
	}
	c.mu.Unlock()

	var denials []string
	for _, m := range d.Matches {
		c.stats.alerts.Add(1)
		if c.Emit != nil {
			c.Emit(m)
		}
		if m.DryRun {
			continue
		}
		switch m.Action {
		case ActionDeny:
			denials = append(denials, m.Alert.Output)
		case ActionWarn:
			d.Response.Warnings = append(d.Response.Warnings, m.Alert.Output)
		}
	}
	if len(denials) > 0 {
		d.Response.Allowed = false
		d.Response.Result = &Status{Code: 403, Reason: "Forbidden", Message: strings.Join(denials, "; ")}
		c.stats.denied.Add(1)
	} else {
		c.stats.allowed.Add(1)
	}
	if len(d.Response.Warnings) > 0 {
		c.stats.warned.Add(1)
	}
	return d, nil
}
