package agent

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// capability is one Linux capability the live probe needs, and what for.
type capability struct {
	bit  uint
	name string
	why  string
	// needed says whether this kernel needs it (nil: always)
	needed func() bool
}

// probeCapabilities are what live capture needs without root: loading and attaching the
// eBPF programs (CAP_BPF, CAP_PERFMON), the ring buffer's locked memory on kernels that
// still charge it to RLIMIT_MEMLOCK (CAP_SYS_RESOURCE), and reading other processes' /proc
// entries at the host scan (CAP_SYS_PTRACE for /proc/PID/fd and exe links,
// CAP_DAC_READ_SEARCH for the files only their owners may read).
var probeCapabilities = []capability{
	{unix.CAP_BPF, "CAP_BPF", "load eBPF programs and maps", nil},
	{unix.CAP_PERFMON, "CAP_PERFMON", "attach the tracepoint programs", nil},
	{unix.CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "lock the ring buffer's memory", memlockCharged},
	{unix.CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "read other processes' /proc entries", nil},
	{unix.CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "read /proc files only their owners may read", nil},
}

// CheckCapabilities returns an error naming every capability live capture needs and the
// process's effective set lacks (root has them all; so has a process started with them as
// ambient capabilities, e.g. by systemd's AmbientCapabilities).
func CheckCapabilities() error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("live capture: reading the process's capabilities: %w", err)
	}
	return missingCaps(eff)
}

func missingCaps(eff uint64) error {
	var missing []string
	for _, c := range probeCapabilities {
		if (c.bit == unix.CAP_BPF || c.bit == unix.CAP_PERFMON) && eff&(1<<unix.CAP_SYS_ADMIN) != 0 {
			continue // the kernel accepts CAP_SYS_ADMIN for both (bpf_capable, perfmon_capable)
		}
		if eff&(1<<c.bit) == 0 && (c.needed == nil || c.needed()) {
			missing = append(missing, fmt.Sprintf("%s (%s)", c.name, c.why))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("live capture needs the capabilities %s: run as root or grant them "+
		"(systemd: AmbientCapabilities=, docker: --cap-add; CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON), "+
		"or replay a capture with -e FILE.scap",
		strings.Join(missing, ", "))
}

// effectiveCaps is the calling thread's effective capability set (capget(2), version 3).
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// memlockCharged reports whether the kernel charges eBPF maps to RLIMIT_MEMLOCK (before
// Linux 5.11, which moved them to the memory cgroup): only then is CAP_SYS_RESOURCE needed
// to lift the limit.
func memlockCharged() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return true
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return true
	}
	return major < 5 || major == 5 && minor < 11
}
