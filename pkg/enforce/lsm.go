package enforce

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// LSMStatus is whether BPF LSM programs (which could make a syscall fail with EPERM instead
// of killing the caller) can run here. Saker only detects and reports it: enforcement is
// SIGKILL at syscall entry either way.
type LSMStatus struct {
	Available bool
	Reason    string // why not, or how it was checked
}

func (s LSMStatus) String() string {
	if s.Available {
		return "available (" + s.Reason + ")"
	}
	return "unavailable: " + s.Reason
}

// DetectLSM checks /sys/kernel/security/lsm for "bpf" and tries to load and attach a trivial
// BPF LSM program (on file_open, returning 0: it allows everything) and detaches it at once.
func DetectLSM() LSMStatus {
	note := ""
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		// securityfs not mounted: the load below still tells
		note = fmt.Sprintf("; /sys/kernel/security/lsm unreadable: %v", err)
	} else {
		list := strings.TrimSpace(string(b))
		found := false
		for _, l := range strings.Split(list, ",") {
			if l == "bpf" {
				found = true
			}
		}
		if !found {
			return LSMStatus{Reason: fmt.Sprintf("\"bpf\" is not among the active LSMs (%s); boot with lsm=...,bpf", list)}
		}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "saker_lsm_probe", Type: ebpf.LSM, AttachType: ebpf.AttachLSMMac, AttachTo: "file_open",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return LSMStatus{Reason: "the kernel refused a BPF LSM program with EPERM" + note}
		}
		return LSMStatus{Reason: fmt.Sprintf("loading a BPF LSM program: %v%s", err, note)}
	}
	defer prog.Close()
	l, err := link.AttachLSM(link.LSMOptions{Program: prog})
	if err != nil {
		return LSMStatus{Reason: fmt.Sprintf("attaching a BPF LSM program: %v%s", err, note)}
	}
	l.Close()
	return LSMStatus{Available: true, Reason: "bpf in the LSM list, a file_open program loaded and attached"}
}
