package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/k8saudit"
)

// AuditSource feeds Kubernetes audit events to the k8s_audit rules (Input.Evaluate): from a
// file (OpenAuditFile, saker run -e audit.json; it ends at the file's end) or from the audit
// webhook (NewWebhookSource, beside the probe; it runs until ctx is done).
type AuditSource struct {
	name string
	src  k8saudit.Source
	wh   *k8saudit.Webhook // nil for a file

	refused uint64 // the webhook's refused events already counted as lost
}

// OpenAuditFile opens a file of audit events (JSON lines, EventList documents, gzip);
// warn receives the data skipped as no audit event (nil: standard error).
func OpenAuditFile(path string, warn func(error)) (*AuditSource, error) {
	f, err := k8saudit.OpenFile(path, warn)
	if err != nil {
		return nil, err
	}
	return &AuditSource{name: "k8s_audit", src: f}, nil
}

// NewWebhookSource starts the audit webhook (it listens at once); Run delivers what it
// accepts, and closes it when ctx is done.
func NewWebhookSource(cfg k8saudit.WebhookConfig) (*AuditSource, error) {
	wh, err := k8saudit.NewWebhook(cfg)
	if err != nil {
		return nil, err
	}
	return &AuditSource{name: "k8s_audit_webhook", src: wh, wh: wh}, nil
}

// WebhookConfig is the webhook of the configuration's k8s_audit section; warn receives the
// items of accepted requests that were no usable events.
func WebhookConfig(c *config.Config, warn func(error)) k8saudit.WebhookConfig {
	w := c.K8sAudit.Webhook
	return k8saudit.WebhookConfig{Listen: w.Listen, Path: w.Path, CertFile: w.TLS.Cert, KeyFile: w.TLS.Key,
		ClientCAFile: w.TLS.ClientCA, Tokens: w.Tokens, TokenFile: w.TokenFile, MaxBodyBytes: int64(w.MaxBodyBytes),
		QueueEvents: w.QueueEvents, RetryAfter: w.RetryAfter.D(), Warn: warn}
}

// Name is "k8s_audit" (a file) or "k8s_audit_webhook".
func (s *AuditSource) Name() string { return s.name }

// Webhook is the running webhook (nil for a file).
func (s *AuditSource) Webhook() *k8saudit.Webhook { return s.wh }

// Addr is the webhook's listening address (nil for a file).
func (s *AuditSource) Addr() net.Addr {
	if s.wh == nil {
		return nil
	}
	return s.wh.Addr()
}

// Pending is the number of events the webhook queued and Run did not take yet.
func (s *AuditSource) Pending() int {
	if s.wh == nil {
		return 0
	}
	return s.wh.Stats().QueueLength
}

// Close closes the file or the webhook (Run closes the webhook itself at its end).
func (s *AuditSource) Close() error { return s.src.Close() }

// Run delivers every event to the k8s_audit rules, until the file ends or ctx is done. The
// webhook's events refused because its queue was full are counted as lost (where "user").
func (s *AuditSource) Run(ctx context.Context, in Input) error {
	if s.wh != nil {
		go func() { <-ctx.Done(); s.wh.Close() }()
		in.Ready(fmt.Sprintf("k8s audit webhook on %s", s.wh.URL()))
	} else {
		in.Ready("")
	}
	for {
		if s.wh != nil {
			st := s.wh.Stats()
			if st.RefusedEvents > s.refused {
				in.Lost(WhereUser, st.RefusedEvents-s.refused)
				s.refused = st.RefusedEvents
			}
			if st.QueueLength == 0 {
				in.Idle()
			}
		}
		ev, err := s.src.Next(ctx)
		switch {
		case err == io.EOF:
			return nil
		case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
			if s.wh == nil {
				return nil
			}
			continue // the webhook closes on ctx: drain what it accepted, up to io.EOF
		case err != nil:
			return err
		}
		in.Evaluate(k8saudit.SourceName, 0, ev, ev.TS)
	}
}
