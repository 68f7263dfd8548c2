package probe

// The BPF object is compiled with Debian's clang (apt-get install clang llvm libbpf-dev) and
// committed (saker_x86_bpfel.go + .o), so building Saker needs no C toolchain. Regenerate with
// `go generate ./pkg/probe` (or `make -C pkg/probe`) after editing bpf/*.c or bpf/*.h.
// bpf/vmlinux.h is `bpftool btf dump file /sys/kernel/btf/vmlinux format c` of a 6.18 kernel;
// field accesses are CO-RE relocated, so the object runs on other kernels with BTF.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target amd64 -cflags "-O2 -g -Wall -Wno-unused-function -D__TARGET_ARCH_x86" saker bpf/probe.bpf.c -- -I./bpf
