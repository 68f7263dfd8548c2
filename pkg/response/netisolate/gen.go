package netisolate

// The BPF object is compiled with Debian's clang and committed (isolate_x86_bpfel.go + .o), so
// building Saker needs no C toolchain. Regenerate with `go generate ./pkg/response/netisolate`
// after editing bpf/isolate.bpf.c. It uses only UAPI types (struct bpf_sock_addr), so it needs
// neither vmlinux.h nor CO-RE relocations.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -target amd64 -cflags "-O2 -g -Wall -I/usr/include/x86_64-linux-gnu" isolate bpf/isolate.bpf.c
