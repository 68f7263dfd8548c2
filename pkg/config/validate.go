package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

var sprintf = fmt.Sprintf

// DefaultQueueCapacity is outputs_queue.capacity when it is 0.
const DefaultQueueCapacity = 1024

// validate checks values that are well-typed but wrong, or inconsistent with each other.
// isLoopbackHost: localhost or a loopback IP.
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validate(d *decoder) {
	bad := func(path, format string, args ...any) {
		e := &Error{Pos: c.pos[path], Path: path}
		e.Msg = sprintf(format, args...)
		d.errs = append(d.errs, e)
	}
	c.validateAdmission(bad)
	c.validateEnforce(bad)
	if k := &c.K8sAudit; k.Enabled {
		w := &k.Webhook
		host, _, err := net.SplitHostPort(w.Listen)
		tls := w.TLS.Cert != "" || w.TLS.Key != ""
		switch {
		case err != nil:
			bad("k8s_audit.webhook.listen", "want host:port, got %q", w.Listen)
		case !tls && !isLoopbackHost(host):
			bad("k8s_audit.webhook.listen", "%q is not loopback: set tls.cert and tls.key", w.Listen)
		}
		if !strings.HasPrefix(w.Path, "/") {
			bad("k8s_audit.webhook.path", "want a path starting with /, got %q", w.Path)
		}
		if tls && (w.TLS.Cert == "" || w.TLS.Key == "") {
			bad("k8s_audit.webhook.tls", "needs both cert and key")
		}
		if w.TLS.ClientCA != "" && !tls {
			bad("k8s_audit.webhook.tls.client_ca", "client certificates need HTTPS: set tls.cert and tls.key")
		}
		if len(w.Tokens) == 0 && w.TokenFile == "" && w.TLS.ClientCA == "" {
			bad("k8s_audit.webhook", "no authentication: set tokens, token_file or tls.client_ca")
		}
		for i, t := range w.Tokens {
			if strings.TrimSpace(t) == "" {
				bad(sprintf("k8s_audit.webhook.tokens[%d]", i), "empty token")
			}
		}
	}
	for _, f := range []struct {
		path string
		v    int
	}{{"k8s_audit.webhook.max_body_bytes", c.K8sAudit.Webhook.MaxBodyBytes}, {"k8s_audit.webhook.queue_events", c.K8sAudit.Webhook.QueueEvents},
		{"response.ring_seconds", c.Response.RingSeconds}, {"response.ring_events", c.Response.RingEvents},
		{"response.ring_mib", c.Response.RingMiB}, {"response.ring_workloads", c.Response.RingWorkloads},
		{"response.queue", c.Response.Queue}, {"response.workers", c.Response.Workers}} {
		if f.v < 0 {
			bad(f.path, "must not be negative")
		}
	}
	c.validateDeny(bad)
	c.Incidents.validate(bad)
	if c.K8sAudit.Webhook.RetryAfter < 0 {
		bad("k8s_audit.webhook.retry_after", "must not be negative")
	}
	if c.Pipeline.Workers < 0 {
		bad("pipeline.workers", "must not be negative (0 means one per CPU)")
	}
	if c.OutputsQueue.Capacity < 0 {
		bad("outputs_queue.capacity", "must not be negative")
	}
	if c.OutputsQueue.Capacity == 0 {
		c.OutputsQueue.Capacity = DefaultQueueCapacity
	}
	if c.OutputTimeout <= 0 {
		bad("output_timeout", "must be a positive number of milliseconds")
	}
	if c.FileOutput.Enabled && c.FileOutput.Filename == "" {
		bad("file_output.filename", "empty, with file_output enabled")
	}
	if c.ProgramOutput.Enabled && strings.TrimSpace(c.ProgramOutput.Program) == "" {
		bad("program_output.program", "empty, with program_output enabled")
	}
	if _, _, err := ParseSyslogAddress(c.SyslogOutput.Address); err != nil {
		bad("syslog_output.address", "%v", err)
	}
	if _, ok := SyslogFacilities[c.SyslogOutput.Facility]; !ok {
		bad("syslog_output.facility", "unknown facility %q (user, daemon, local0 … local7, …)", c.SyslogOutput.Facility)
	}
	h := &c.HTTPOutput
	if h.Enabled {
		u, err := url.Parse(h.URL)
		switch {
		case h.URL == "":
			bad("http_output.url", "empty, with http_output enabled")
		case err != nil:
			bad("http_output.url", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			bad("http_output.url", "want an http:// or https:// URL, got %q", h.URL)
		}
		if h.MTLS && (h.ClientCert == "" || h.ClientKey == "") {
			bad("http_output.mtls", "needs client_cert and client_key")
		}
	}
	if h.MaxRetries < 0 {
		bad("http_output.max_retries", "must not be negative")
	}
	w := &c.Webserver
	if w.ListenPort < 1 || w.ListenPort > 65535 {
		bad("webserver.listen_port", "want a port in 1..65535, got %d", w.ListenPort)
	}
	if w.ListenAddress != "" && net.ParseIP(w.ListenAddress) == nil && w.ListenAddress != "localhost" {
		bad("webserver.listen_address", "want an IP address (or localhost), got %q", w.ListenAddress)
	}
	if !strings.HasPrefix(w.K8sHealthzEndpoint, "/") {
		bad("webserver.k8s_healthz_endpoint", "want a path starting with /, got %q", w.K8sHealthzEndpoint)
	}
	if w.Enabled && w.SSLEnabled && w.SSLCertificate == "" {
		bad("webserver.ssl_certificate", "empty, with ssl_enabled")
	}
	if w.Auth.ClientCA != "" && !w.SSLEnabled {
		bad("webserver.auth.client_ca", "client certificates need HTTPS: set ssl_enabled and ssl_certificate")
	}
	if w.Auth.OpenHealth && w.Auth.TokenFile == "" && w.Auth.ClientCA == "" {
		bad("webserver.auth.open_health", "without token_file or client_ca nothing is authenticated anyway")
	}
	for _, d := range []struct {
		path string
		v    Duration
	}{{"webserver.read_timeout", w.ReadTimeout}, {"webserver.write_timeout", w.WriteTimeout},
		{"webserver.idle_timeout", w.IdleTimeout}, {"webserver.stall_timeout", w.StallTimeout}} {
		if d.v.D() <= 0 {
			bad(d.path, "must be a positive duration")
		}
	}
	for i, r := range c.RulesFiles {
		if r == "" {
			bad(sprintf("rules_files[%d]", i), "empty path")
		}
	}
}
