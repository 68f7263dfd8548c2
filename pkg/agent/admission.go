package agent

import (
	"context"
	"fmt"

	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/config"
)

// AdmissionSource runs the admission webhook (pkg/admission) as part of the agent: the
// k8s_admission rules of the agent's ruleset decide on the API server's reviews, a reload's new
// rules take over at once (RulesChanged), and the matching rules' alerts go to the agent's
// outputs and sinks (Agent.Send). It delivers no events; Run serves until ctx is done.
type AdmissionSource struct {
	ctl *admission.Controller
	srv *admission.Server
}

// AdmissionConfig is the webhook endpoint of the configuration's admission section.
func AdmissionConfig(c *config.Config) admission.ServerConfig {
	s := c.Admission
	return admission.ServerConfig{Listen: s.Listen, Path: s.Path, CertFile: s.Cert, KeyFile: s.Key,
		ClientCAFile: s.ClientCA, TokenFile: s.TokenFile, MaxBodyBytes: int64(s.MaxBodyBytes)}
}

// NewAdmissionSource starts the admission webhook of a's configuration (it listens at once),
// with the configuration's exemptions and the agent's quarantine (Options.Quarantine, made by
// New when admission is enabled: the incident store's open Critical+ pods), alerting through a.
func (a *Agent) NewAdmissionSource() (*AdmissionSource, error) {
	c := a.Config()
	ctl := admission.NewController(nil)
	ctl.Exemptions = admission.Exemptions{Namespaces: c.Admission.ExemptNamespaces,
		Users: c.Admission.ExemptUsers, Groups: c.Admission.ExemptGroups}
	ctl.Hostname = a.d.Hostname
	ctl.Emit = func(m admission.Match) { a.Send(m.Alert) }
	ctl.Quarantine = a.opts.Quarantine // fed by the incident store when incidents.enabled
	if rs := a.Rules(); rs != nil {
		ctl.SetRules(rs.Ruleset)
	}
	srv, err := admission.NewServer(AdmissionConfig(c), ctl)
	if err != nil {
		return nil, err
	}
	return &AdmissionSource{ctl: ctl, srv: srv}, nil
}

// Name is "k8s_admission".
func (s *AdmissionSource) Name() string { return admission.SourceName }

// URL is the webhook's https URL.
func (s *AdmissionSource) URL() string { return s.srv.URL() }

// Controller is the webhook's controller (its decisions' counters).
func (s *AdmissionSource) Controller() *admission.Controller { return s.ctl }

// RulesChanged puts the k8s_admission rules of rs in effect (reviews under way finish with
// the previous ones).
func (s *AdmissionSource) RulesChanged(rs *Rules) {
	if rs != nil {
		s.ctl.SetRules(rs.Ruleset)
	}
}

// Close stops the webhook (Run closes it itself at its end).
func (s *AdmissionSource) Close() error { return s.srv.Close() }

// Run says the webhook is ready and serves until ctx is done.
func (s *AdmissionSource) Run(ctx context.Context, in Input) error {
	in.Ready(fmt.Sprintf("admission webhook on %s", s.srv.URL()))
	in.Idle()
	<-ctx.Done()
	return s.srv.Close()
}
