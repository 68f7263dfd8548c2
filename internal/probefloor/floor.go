// Package probefloor attaches the floor under the live probe's overhead for benchmarks: a
// program that only returns, on tp_btf/sys_exit, the hook the probe's dispatcher is on. With
// it a syscall loop costs what the kernel adds for running any program at every syscall's
// exit, so a benchmark can tell the probe's own cost from the hook's.
package probefloor

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Attach loads and attaches the empty sys_exit program (root) and returns what detaches it.
func Attach() (detach func(), err error) {
	_, detach, err = attach()
	return detach, err
}

func attach() (*ebpf.Program, func(), error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sys_exit",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		return nil, nil, fmt.Errorf("probefloor: loading the empty sys_exit program: %w", err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("probefloor: attaching the empty sys_exit program: %w", err)
	}
	return prog, func() { l.Close(); prog.Close() }, nil
}
