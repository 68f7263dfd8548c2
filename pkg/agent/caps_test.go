package agent

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The capability check names exactly what is missing, accepts CAP_SYS_ADMIN for CAP_BPF and
// CAP_PERFMON as the kernel does, and passes for root's full set.
func TestMissingCapabilities(t *testing.T) {
	all := uint64(1)<<unix.CAP_BPF | 1<<unix.CAP_PERFMON | 1<<unix.CAP_SYS_RESOURCE | 1<<unix.CAP_SYS_PTRACE | 1<<unix.CAP_DAC_READ_SEARCH
	if err := missingCaps(all); err != nil {
		t.Errorf("the full set: %v", err)
	}
	err := missingCaps(all &^ (1 << unix.CAP_SYS_PTRACE))
	if err == nil || !strings.Contains(err.Error(), "CAP_SYS_PTRACE") || strings.Contains(err.Error(), "CAP_BPF (") {
		t.Errorf("without CAP_SYS_PTRACE: %v", err)
	}
	admin := all&^(1<<unix.CAP_BPF|1<<unix.CAP_PERFMON) | 1<<unix.CAP_SYS_ADMIN
	if err := missingCaps(admin); err != nil {
		t.Errorf("CAP_SYS_ADMIN instead of CAP_BPF and CAP_PERFMON: %v", err)
	}
	if err := missingCaps(0); err == nil || !strings.Contains(err.Error(), "CAP_BPF") || !strings.Contains(err.Error(), "CAP_DAC_READ_SEARCH") {
		t.Errorf("no capabilities: %v", err)
	}
	if eff, err := effectiveCaps(); err != nil || (unix.Geteuid() == 0 && missingCaps(eff) != nil) {
		t.Errorf("this process (euid %d): %x %v", unix.Geteuid(), eff, err)
	}
}
