package config

import "strings"

// Enforce is the `enforce` section: in-kernel enforcement of rules with `enforce: kill`
// (pkg/enforce). Enabled attaches the probe's sys_enter program; DryRun reports what would
// be killed without killing; Allow lists processes never killed besides pid 1, Saker, the
// container runtime and the kubelet: an entry starting with "/" is an executable path
// (processes running it, and execs of it), any other a process name (comm, at most 15
// bytes, as the kernel keeps it).
type Enforce struct {
	Enabled bool     `yaml:"enabled"`
	DryRun  bool     `yaml:"dry_run"`
	Allow   []string `yaml:"allow"`
}

// AllowComms are the process names of Allow.
func (e Enforce) AllowComms() []string {
	var out []string
	for _, a := range e.Allow {
		if !strings.HasPrefix(a, "/") {
			out = append(out, a)
		}
	}
	return out
}

// AllowExes are the executable paths of Allow.
func (e Enforce) AllowExes() []string {
	var out []string
	for _, a := range e.Allow {
		if strings.HasPrefix(a, "/") {
			out = append(out, a)
		}
	}
	return out
}

func (c *Config) validateEnforce(bad func(path, format string, args ...any)) {
	for i, a := range c.Enforce.Allow {
		p := sprintf("enforce.allow[%d]", i)
		switch {
		case strings.TrimSpace(a) == "":
			bad(p, "empty entry")
		case strings.HasPrefix(a, "/") && len(a) > 254:
			bad(p, "path longer than the 254 bytes the probe compares")
		case !strings.HasPrefix(a, "/") && len(a) > 15:
			bad(p, "process name %q is longer than 15 bytes (the kernel's comm): it can never match", a)
		}
	}
}
