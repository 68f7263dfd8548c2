package sysfields

import (
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/state"
)

// containerEntry is the container metadata entry of the event's thread (or its process's),
// nil without a container manager.
func containerEntry(c *state.Context) *container.Entry {
	if c.Thread == nil {
		return nil
	}
	if e := c.Thread.Container; e != nil {
		return e
	}
	if m := c.Thread.Main(); m != nil {
		return m.Container
	}
	return nil
}

// containerInfo is the metadata of a container the runtime has described; false for host
// processes and while the lookup is pending (fields then have no value: the event is not
// delayed, and container.id still tells the container).
func containerInfo(c *state.Context) (*container.Info, bool) {
	if containerID(c) == container.HostID {
		return nil, false
	}
	e := containerEntry(c)
	if e == nil || e.State() != container.Ready {
		return nil, false
	}
	return e.Info(), true
}

func mountText(m container.Mount) string {
	return m.Source + ":" + m.Dest + ":" + m.Mode + ":" + strconv.FormatBool(m.RW) + ":" + m.Propagation
}

func joinLabels(l map[string]string) string { return container.LabelsText(l) }

// findMount selects a mount by index, or by path: by destination for container.mount.source,
// by source for the other mount fields (libsinsp's container.mount* arguments).
func findMount(in *container.Info, field, arg string) (container.Mount, bool) {
	if i, err := strconv.Atoi(arg); err == nil {
		if i >= 0 && i < len(in.Mounts) {
			return in.Mounts[i], true
		}
		return container.Mount{}, false
	}
	for _, m := range in.Mounts {
		p := m.Source
		if field == "container.mount.source" {
			p = m.Dest
		}
		if compiler.Glob(arg, p, false) { // libsinsp mount_by_source/mount_by_dest: fnmatch
			return m, true
		}
	}
	return container.Mount{}, false
}

// containerMetaField extracts the container.* and k8s.* fields that come from the runtime's
// metadata (nil for fields this source does not serve).
func containerMetaField(name, arg string) func(c *state.Context) (fields.Value, bool) {
	info := func(g func(in *container.Info) (fields.Value, bool)) func(c *state.Context) (fields.Value, bool) {
		return func(c *state.Context) (fields.Value, bool) {
			in, ok := containerInfo(c)
			if !ok {
				return fields.Value{}, false
			}
			return g(in)
		}
	}
	nonEmpty := func(s string) (fields.Value, bool) {
		if s == "" {
			return fields.Value{}, false
		}
		return str(s)
	}
	boolv := func(b bool) (fields.Value, bool) {
		if b {
			return fields.Value{N: 1}, true
		}
		return fields.Value{}, true
	}
	// hostOr: "host" for a host process (libsinsp's host container), else g of the metadata
	hostOr := func(g func(in *container.Info) (fields.Value, bool)) func(c *state.Context) (fields.Value, bool) {
		return func(c *state.Context) (fields.Value, bool) {
			if c.Thread != nil && containerID(c) == container.HostID {
				return str(container.HostID)
			}
			in, ok := containerInfo(c)
			if !ok {
				return fields.Value{}, false
			}
			return g(in)
		}
	}
	switch name {
	case "container.full_id":
		return func(c *state.Context) (fields.Value, bool) {
			if containerID(c) == container.HostID {
				return str(container.HostID)
			}
			if in, ok := containerInfo(c); ok && in.ID != "" {
				return str(in.ID)
			}
			return fields.Value{}, false
		}
	case "container.name":
		return hostOr(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.Name) })
	case "container.type":
		// a host process's is "host", as libsinsp's host container (and sysdig) give it
		return hostOr(func(in *container.Info) (fields.Value, bool) { return str(in.Type.String()) })
	case "container.image":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.Image) })
	case "container.image.id":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.ImageID) })
	case "container.image.repository":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.ImageRepository) })
	case "container.image.tag":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.ImageTag) })
	case "container.image.digest":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.ImageDigest) })
	case "container.privileged":
		return info(func(in *container.Info) (fields.Value, bool) { return boolv(in.Privileged) })
	case "container.host_pid":
		return info(func(in *container.Info) (fields.Value, bool) { return boolv(in.HostPID) })
	case "container.host_network":
		return info(func(in *container.Info) (fields.Value, bool) { return boolv(in.HostNetwork) })
	case "container.host_ipc":
		return info(func(in *container.Info) (fields.Value, bool) { return boolv(in.HostIPC) })
	case "container.mounts":
		return info(func(in *container.Info) (fields.Value, bool) {
			parts := make([]string, len(in.Mounts))
			for i, m := range in.Mounts {
				parts[i] = mountText(m)
			}
			return str(strings.Join(parts, ","))
		})
	case "container.mount", "container.mount.source", "container.mount.dest", "container.mount.mode",
		"container.mount.rdwr", "container.mount.propagation":
		// No such mount (or no metadata, or the host) is the string "<NA>", which is how
		// Falco renders it and what the upstream rules compare with: sensitive_mount tests
		// `not container.mount.dest[/proc*] in ("<NA>","N/A")`, true for every container
		// if a missing mount had no value at all.
		return func(c *state.Context) (fields.Value, bool) {
			in, ok := containerInfo(c)
			if !ok {
				return str(naString)
			}
			m, ok := findMount(in, name, arg)
			if !ok {
				return str(naString)
			}
			switch name {
			case "container.mount.source":
				return str(m.Source)
			case "container.mount.dest":
				return str(m.Dest)
			case "container.mount.mode":
				return str(m.Mode)
			case "container.mount.rdwr":
				return str(strconv.FormatBool(m.RW))
			case "container.mount.propagation":
				return str(m.Propagation)
			}
			return str(mountText(m))
		}
	case "container.start_ts":
		return info(func(in *container.Info) (fields.Value, bool) {
			if in.StartTS() == 0 {
				return fields.Value{}, false
			}
			return fields.Value{N: uint64(in.StartTS())}, true
		})
	case "container.duration":
		return func(c *state.Context) (fields.Value, bool) {
			in, ok := containerInfo(c)
			if !ok || in.StartTS() == 0 || c.Ev.TS < uint64(in.StartTS()) {
				return fields.Value{}, false
			}
			return fields.Value{N: c.Ev.TS - uint64(in.StartTS())}, true
		}
	case "container.ip":
		return info(func(in *container.Info) (fields.Value, bool) {
			if !in.IP.IsValid() {
				return fields.Value{}, false
			}
			return str(in.IP.String())
		})
	case "container.label":
		return info(func(in *container.Info) (fields.Value, bool) {
			v, ok := in.Labels[arg]
			if !ok {
				return fields.Value{}, false
			}
			return str(v)
		})
	case "container.labels":
		return info(func(in *container.Info) (fields.Value, bool) { return str(joinLabels(in.Labels)) })
	case "container.healthcheck", "container.liveness_probe", "container.readiness_probe":
		// libsinsp: no value on the host or without metadata; the probe's exe and args
		// joined by spaces; "NONE" when the container has no probe of the kind
		pt := container.ProbeHealthcheck
		switch name {
		case "container.liveness_probe":
			pt = container.ProbeLiveness
		case "container.readiness_probe":
			pt = container.ProbeReadiness
		}
		return info(func(in *container.Info) (fields.Value, bool) {
			if p, ok := in.Probe(pt); ok {
				return str(p.Command())
			}
			return str("NONE")
		})
	case "container.cni.json", "k8s.pod.cni.json":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.CNIResult) })
	case "k8s.pod.name", "k8s.ns.name", "k8s.pod.label", "k8s.pod.labels", "k8s.pod.ip":
		return k8sPodField(name, arg)
	case "k8s.pod.uid", "k8s.pod.id":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.PodUID()) })
	case "k8s.pod.sandbox_id":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(container.ShortID(in.PodSandboxID)) })
	case "k8s.pod.full_sandbox_id":
		return info(func(in *container.Info) (fields.Value, bool) { return nonEmpty(in.PodSandboxID) })
	}
	return k8sAPIField(name, arg)
}
