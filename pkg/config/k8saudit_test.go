package config

import (
	"strings"
	"testing"
	"time"
)

func TestK8sAuditAndResponse(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`k8s_audit:
  enabled: true
  cluster_name: prod
  webhook:
    tokens: [s3cret]
    queue_events: 10
    retry_after: 3s
response:
  policy_file: /etc/saker/response.yaml
  dry_run: true
  never_kill: [sshd]
  workers: 4
`), []string{"k8s_audit.webhook.path=/audit"})
	if err != nil {
		t.Fatal(err)
	}
	k := c.K8sAudit
	if !k.Enabled || k.ClusterName != "prod" || k.Webhook.Listen != "127.0.0.1:9765" || k.Webhook.Path != "/audit" ||
		k.Webhook.Tokens[0] != "s3cret" || k.Webhook.QueueEvents != 10 || k.Webhook.RetryAfter.D() != 3*time.Second ||
		k.Webhook.MaxBodyBytes != 12<<20 {
		t.Errorf("k8s_audit: %+v", k)
	}
	r := c.Response
	if r.PolicyFile != "/etc/saker/response.yaml" || !r.DryRun || len(r.NeverKill) != 1 || r.Workers != 4 || r.Queue != 0 {
		t.Errorf("response: %+v", r)
	}
	d, err := Parse("x.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.K8sAudit.Enabled || d.Response.PolicyFile != "" {
		t.Errorf("defaults: %+v %+v", d.K8sAudit, d.Response)
	}
}

func TestK8sAuditErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"k8s_audit: {enabled: true}\n", "k8s_audit.webhook: no authentication"},
		{"k8s_audit: {enabled: true, webhook: {tokens: [a], listen: '0.0.0.0:9765'}}\n", "k8s_audit.webhook.listen: \"0.0.0.0:9765\" is not loopback"},
		{"k8s_audit: {enabled: true, webhook: {tokens: [a], listen: nope}}\n", "k8s_audit.webhook.listen: want host:port"},
		{"k8s_audit: {enabled: true, webhook: {tokens: [a], path: x}}\n", "k8s_audit.webhook.path: want a path"},
		{"k8s_audit: {enabled: true, webhook: {tokens: [a], tls: {cert: c.pem}}}\n", "k8s_audit.webhook.tls: needs both"},
		{"k8s_audit: {enabled: true, webhook: {tokens: [a], tls: {client_ca: ca.pem}}}\n", "tls.client_ca: client certificates need HTTPS"},
		{"k8s_audit: {webhook: {queue_events: -1}}\n", "k8s_audit.webhook.queue_events: must not be negative"},
		{"response: {workers: -2}\n", "response.workers: must not be negative"},
		{"response: {policy: x}\n", "x.yaml:1:12: response.policy: unknown key"},
	} {
		_, err := Parse("x.yaml", []byte(tc.doc), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}
