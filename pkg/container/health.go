package container

import (
	"encoding/json"
	"slices"
	"strings"
)

// Health probes, as libsinsp keeps them (sinsp_container_info::container_health_probe): the
// commands a runtime or Kubernetes runs inside a container to check it. A process the runtime
// starts in the container (not under the container's init) with exactly a probe's argv gets the
// probe's category (pkg/state), which proc.is_container_healthcheck and friends read;
// container.healthcheck, container.liveness_probe and container.readiness_probe print the
// probe's command.

// ProbeType is the kind of a health probe, numbered as libsinsp's probe_type.
type ProbeType uint8

const (
	ProbeNone ProbeType = iota
	ProbeHealthcheck
	ProbeLiveness
	ProbeReadiness
)

// probeKeys are the members of the container JSON that carry each probe type
// (libsinsp's probe_type_names).
var probeKeys = [...]string{ProbeHealthcheck: "Healthcheck", ProbeLiveness: "LivenessProbe", ProbeReadiness: "ReadinessProbe"}

// String is the probe type's name in the container JSON ("" for ProbeNone).
func (p ProbeType) String() string {
	if int(p) < len(probeKeys) {
		return probeKeys[p]
	}
	return ""
}

// HealthProbe is one probe: the argv the runtime executes, split as the exec event shows it
// (Exe is argv[0], Args the rest).
type HealthProbe struct {
	Type ProbeType
	Exe  string
	Args []string
}

// Command is the probe as libsinsp's container.healthcheck prints it: the exe and the args
// joined by spaces.
func (p HealthProbe) Command() string {
	if len(p.Args) == 0 {
		return p.Exe
	}
	return p.Exe + " " + strings.Join(p.Args, " ")
}

// Probe returns the container's probe of a type.
func (i *Info) Probe(t ProbeType) (HealthProbe, bool) {
	for _, p := range i.HealthProbes {
		if p.Type == t {
			return p, true
		}
	}
	return HealthProbe{}, false
}

// MatchProbe returns the type of the first probe whose exe and args equal a process's
// (libsinsp's match_health_probe), ProbeNone when none does. It does not allocate.
func (i *Info) MatchProbe(exe string, args []string) ProbeType {
	for _, p := range i.HealthProbes {
		if p.Exe == exe && slices.Equal(p.Args, args) {
			return p.Type
		}
	}
	return ProbeNone
}

// DockerHealthcheck parses the Docker Engine API's Config.Healthcheck.Test as libsinsp's
// docker engine does: ["CMD", exe, args…] runs exe directly (each element stripped of
// surrounding quotes), ["CMD-SHELL", cmd] runs "/bin/sh -c cmd", and ["NONE"] (or anything
// else) is no probe.
func DockerHealthcheck(test []string) (HealthProbe, bool) {
	if len(test) < 2 {
		return HealthProbe{}, false
	}
	switch test[0] {
	case "CMD":
		p := HealthProbe{Type: ProbeHealthcheck, Exe: normalizeArg(test[1])}
		for _, a := range test[2:] {
			p.Args = append(p.Args, normalizeArg(a))
		}
		return p, true
	case "CMD-SHELL":
		return HealthProbe{Type: ProbeHealthcheck, Exe: "/bin/sh", Args: []string{"-c", test[1]}}, true
	}
	return HealthProbe{}, false
}

// LabelLastApplied is the label under which dockershim kept a pod's
// kubectl.kubernetes.io/last-applied-configuration annotation: the pod as kubectl applied
// it, with its containers' probes. AnnotationLastApplied is the annotation itself (on a CRI
// pod sandbox).
const (
	LabelLastApplied      = "annotation.kubectl.kubernetes.io/last-applied-configuration"
	AnnotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"
)

// PodSpecProbes reads the liveness or readiness probe of a container of a pod spec (the
// last-applied-configuration JSON), as libsinsp does: an exec livenessProbe, else an exec
// readinessProbe (libsinsp considers only one of them). The container is the one named name
// when the spec has it, else the first (libsinsp always takes the first: dockershim's sandbox,
// which carries the label, has no container name). found reports whether the spec had a probe
// with an exec command (even an unusable one): a Docker healthcheck is then ignored.
func PodSpecProbes(lastApplied, name string) (probes []HealthProbe, found bool) {
	if lastApplied == "" {
		return nil, false
	}
	var cfg struct {
		Spec *struct {
			Containers []map[string]json.RawMessage `json:"containers"`
		} `json:"spec"`
	}
	if json.Unmarshal([]byte(lastApplied), &cfg) != nil || cfg.Spec == nil || len(cfg.Spec.Containers) == 0 {
		return nil, false
	}
	c := cfg.Spec.Containers[0]
	for _, x := range cfg.Spec.Containers {
		var n string
		if name != "" && json.Unmarshal(x["name"], &n) == nil && n == name {
			c = x
			break
		}
	}
	raw, typ := c["livenessProbe"], ProbeLiveness
	if raw == nil {
		raw, typ = c["readinessProbe"], ProbeReadiness
	}
	if raw == nil {
		return nil, false
	}
	var probe struct {
		Exec *struct {
			Command json.RawMessage `json:"command"`
		} `json:"exec"`
	}
	if json.Unmarshal(raw, &probe) != nil || probe.Exec == nil || probe.Exec.Command == nil {
		return nil, false
	}
	var cmd []string
	if json.Unmarshal(probe.Exec.Command, &cmd) != nil || len(cmd) == 0 {
		return nil, true
	}
	p := HealthProbe{Type: typ, Exe: normalizeArg(cmd[0])}
	for _, a := range cmd[1:] {
		p.Args = append(p.Args, normalizeArg(a))
	}
	return []HealthProbe{p}, true
}

// dockerProbes is libsinsp's docker parse_health_probes: the pod spec's liveness/readiness
// probe when the labels carry one, else the Docker healthcheck. (The copy from the pod's
// sandbox container, for containers without the label, is the Manager's: see sandboxProbes.)
func dockerProbes(labels map[string]string, test []string) []HealthProbe {
	if ps, found := PodSpecProbes(labels[LabelLastApplied], ""); found {
		return ps
	}
	if p, ok := DockerHealthcheck(test); ok {
		return []HealthProbe{p}
	}
	return nil
}

// normalizeArg strips pairs of matching leading and trailing quotes (' or "), as libsinsp's
// normalize_arg does.
func normalizeArg(s string) string {
	for len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	return s
}
