package state

import "github.com/saker-sec/saker/pkg/container"

// ContainerID returns the container id found in a thread's cgroups ("subsys=path" entries or
// /proc/PID/cgroup lines): the 12-character id for every runtime and cgroup layout
// pkg/container knows, or "host".
func ContainerID(cgroups []string) string {
	if r, ok := container.FromCgroups(cgroups); ok {
		return r.Short()
	}
	return container.HostID
}

// setContainer derives a thread's container from its cgroups, and with a container manager
// its metadata entry (looked up once per thread, never per event; the lookup never blocks).
func (e *Engine) setContainer(t *Thread) {
	t.ContainerID = ContainerID(t.Cgroups)
	t.Container = nil
	if e.opts.Containers != nil {
		t.Container = e.opts.Containers.LookupCgroups(t.Cgroups)
	}
}
