package config

import (
	"net"
	"strings"
)

// Admission is the `admission:` section: the admission webhook run by the agent
// (pkg/admission.ServerConfig, with the exemptions of its Controller).
type Admission struct {
	Enabled          bool     `yaml:"enabled"`
	Listen           string   `yaml:"listen"`
	Path             string   `yaml:"path"`
	Cert             string   `yaml:"cert"`
	Key              string   `yaml:"key"`
	ClientCA         string   `yaml:"client_ca"`
	TokenFile        string   `yaml:"token_file"`
	MaxBodyBytes     int      `yaml:"max_body_bytes"`
	ExemptNamespaces []string `yaml:"exempt_namespaces"`
	ExemptUsers      []string `yaml:"exempt_users"`
	ExemptGroups     []string `yaml:"exempt_groups"`
}

// validateAdmission checks the admission section when it is enabled.
func (c *Config) validateAdmission(bad func(path, format string, args ...any)) {
	a := &c.Admission
	if a.MaxBodyBytes < 0 {
		bad("admission.max_body_bytes", "must not be negative")
	}
	if !a.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		bad("admission.listen", "want host:port, got %q", a.Listen)
	}
	if !strings.HasPrefix(a.Path, "/") {
		bad("admission.path", "want a path starting with /, got %q", a.Path)
	}
	if a.Cert == "" || a.Key == "" {
		bad("admission", "HTTPS is required (the API server calls https only): set cert and key")
	}
	if a.ClientCA == "" && a.TokenFile == "" {
		bad("admission", "no authentication: set client_ca or token_file")
	}
}
