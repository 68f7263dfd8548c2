package config

// Incidents is the `incidents:` section: the incident store (pkg/incident), which joins a
// pod's Kubernetes audit events to the alerts raised in its containers. A reload applies
// Window, Max, MaxAge and OutputFields to the running store; Enabled and Path need a restart.
type Incidents struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"`
	// Window: an alert joins an incident whose last step is at most this old; an incident is
	// open (and a Critical one quarantines its pod) as long.
	Window Duration `yaml:"window"`
	// Max and MaxAge bound the file: at most Max incidents (the least recently active
	// deleted first), none whose last step is older than MaxAge.
	Max    int      `yaml:"max"`
	MaxAge Duration `yaml:"max_age"`
	// OutputFields adds incident.id, incident.k8s_user, incident.k8s_verb and incident.chain
	// to the output fields of every syscall alert in an incident.
	OutputFields bool `yaml:"output_fields"`
}

// DefaultIncidentsPath is incidents.path when empty.
const DefaultIncidentsPath = "/var/lib/saker/incidents.db"

// StorePath is the store file (path, else DefaultIncidentsPath).
func (i *Incidents) StorePath() string {
	if i.Path == "" {
		return DefaultIncidentsPath
	}
	return i.Path
}

func (i *Incidents) validate(bad func(path, format string, args ...any)) {
	if i.Window.D() <= 0 {
		bad("incidents.window", "must be a positive duration")
	}
	if i.Max < 1 {
		bad("incidents.max", "must be at least 1")
	}
	if i.MaxAge.D() <= 0 {
		bad("incidents.max_age", "must be a positive duration")
	}
	if i.MaxAge.D() > 0 && i.MaxAge.D() < i.Window.D() {
		bad("incidents.max_age", "shorter than incidents.window")
	}
}
