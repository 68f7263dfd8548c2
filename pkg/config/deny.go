package config

import (
	"path/filepath"
	"strings"
)

// Deny is the `deny:` section: file access denial with fanotify permission events
// (pkg/deny), answered from the rules with `enforce: deny`.
type Deny struct {
	Enabled bool `yaml:"enabled"`
	// DryRun: deny verdicts are alerted and the opens allowed.
	DryRun bool `yaml:"dry_run"`
	// Deadline is how long a decision may take before the open is allowed (fail-open).
	Deadline Duration `yaml:"deadline"`
	// Paths are marked: a mount point whole, another directory for its direct entries, a file
	// for itself.
	Paths []string `yaml:"paths"`
	// Allow are globs on the executable (base name or path) of processes never denied,
	// besides Saker, pid 1 and the container runtimes.
	Allow []string `yaml:"allow"`
	// Watchdog runs the watchdog process that answers for a stopped Saker.
	Watchdog bool `yaml:"watchdog"`
}

// validateDeny checks the deny section.
func (c *Config) validateDeny(bad func(path, format string, args ...any)) {
	d := &c.Deny
	if !d.Enabled {
		return
	}
	if len(d.Paths) == 0 {
		bad("deny.paths", "deny is enabled but no path is marked")
	}
	for i, p := range d.Paths {
		if !filepath.IsAbs(p) {
			bad(sprintf("deny.paths[%d]", i), "want an absolute path, got %q", p)
		}
	}
	for i, g := range d.Allow {
		if _, err := filepath.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			bad(sprintf("deny.allow[%d]", i), "bad glob %q", g)
		}
	}
	if d.Deadline.D() <= 0 {
		bad("deny.deadline", "must be a positive duration")
	}
}
