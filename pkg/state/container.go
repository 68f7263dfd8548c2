package state

import (
	"slices"

	"github.com/saker-sec/saker/pkg/container"
)

// idOf is the container id of what container.FromCgroups found in a thread's cgroups
// ("subsys=path" entries or /proc/PID/cgroup lines; its two results): the 12-character id for
// every runtime and cgroup layout pkg/container knows, or "host".
func idOf(r container.Ref, inContainer bool) string {
	if inContainer {
		return r.Short()
	}
	return container.HostID
}

// setContainer derives a thread's container from its cgroups, and with a container manager
// its metadata entry (looked up once per thread, never per event; the lookup never blocks).
func (e *Engine) setContainer(t *Thread) {
	if !slices.Equal(t.Cgroups, e.lastCgroups) || e.lastCID == "" { // (a pure function of them)
		e.lastRef, e.lastInCtr = container.FromCgroups(t.Cgroups)
		e.lastCgroups, e.lastCID = t.Cgroups, idOf(e.lastRef, e.lastInCtr)
	}
	t.ContainerID = e.lastCID
	t.Container = nil
	if e.opts.Containers != nil {
		t.Container = e.opts.Containers.LookupFound(e.lastRef, e.lastInCtr)
	}
}

// Category is libsinsp's thread category (sinsp_threadinfo::command_category): what started
// a containerized process. It is set when a thread is created or execs (libsinsp's
// identify_category) and read by proc.is_container_healthcheck and friends.
type Category uint8

const (
	CatNone           Category = iota
	CatContainer               // the container's init (vpid 1) and what it starts
	CatHealthcheck             // a Docker healthcheck and its descendants
	CatLivenessProbe           // a Kubernetes exec liveness probe …
	CatReadinessProbe          // … and readiness probe
)

// maxCategoryDepth bounds the walk up the parents looking for a container's init.
const maxCategoryDepth = 64

// identifyCategory is libsinsp's sinsp_container_manager::identify_category, run when a thread
// is created (clone, the process list) and when it execs: host threads keep theirs; a
// container's init (vpid 1) is CatContainer; a thread whose parent has a category takes it;
// otherwise a thread whose exe and args equal one of its container's health probes, and which
// has no container init among its ancestors (the runtime started it: docker exec, a
// healthcheck, a kubelet exec probe), gets the probe's category. A category is never reset, so
// a probe that execs another program stays a probe. Probes are compared only when the
// container's metadata has some; nothing allocates.
func (e *Engine) identifyCategory(t *Thread) {
	if t.ContainerID == container.HostID || t.ContainerID == "" {
		return
	}
	if t.VPID == 1 {
		t.Category = CatContainer
		return
	}
	p := e.threads[t.PTID]
	if p != nil && p != t && p.Category != CatNone {
		t.Category = p.Category
		return
	}
	ce := t.Container
	if ce == nil || ce.State() != container.Ready {
		return
	}
	in := ce.Info()
	if len(in.HealthProbes) == 0 {
		return
	}
	pt := in.MatchProbe(t.Exe, t.Args)
	if pt == container.ProbeNone {
		return
	}
	for i := 0; p != nil && p != t && i < maxCategoryDepth; i++ {
		if p.VPID == 1 && p.ContainerID != container.HostID && p.ContainerID != "" {
			return // under the container's init: a process of the workload
		}
		next := e.threads[p.PTID]
		if next == p {
			break
		}
		p = next
	}
	switch pt {
	case container.ProbeHealthcheck:
		t.Category = CatHealthcheck
	case container.ProbeLiveness:
		t.Category = CatLivenessProbe
	case container.ProbeReadiness:
		t.Category = CatReadinessProbe
	}
}
