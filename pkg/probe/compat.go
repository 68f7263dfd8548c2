package probe

import (
	"fmt"
	"sort"
)

// 32-bit (ia32) system calls: a 32-bit program, or a 64-bit one using `int $0x80`, calls the
// kernel through the ia32 table. The probe encodes such a call as the event of the x86_64
// syscall it stands for, with the same params (bpf/compat.h translates the number and the
// arguments), so rules see no difference.

// ia32Syscalls maps the ia32 numbers (arch/x86/entry/syscalls/syscall_32.tbl) of the supported
// syscalls to their name in syscalls. Several ia32 calls can stand for one syscall: the 16-bit
// uid/gid calls and their *32 successors, the old mmap and mmap2, umount and umount2.
// socketcall (102), which multiplexes the socket calls, is translated by its call argument in
// the kernel (ia32Socketcall).
var ia32Syscalls = map[uint32]string{
	2: "fork", 3: "read", 4: "write", 5: "open", 6: "close", 8: "creat", 9: "link",
	10: "unlink", 11: "execve", 12: "chdir", 14: "mknod", 15: "chmod", 16: "lchown",
	21: "mount", 22: "umount2", 23: "setuid", 26: "ptrace", 37: "kill", 38: "rename",
	39: "mkdir", 40: "rmdir", 41: "dup", 42: "pipe", 46: "setgid", 52: "umount2",
	55: "fcntl", 57: "setpgid", 61: "chroot", 63: "dup2", 66: "setsid", 70: "setreuid", 71: "setregid",
	83: "symlink", 90: "mmap", 94: "fchmod", 95: "fchown", 120: "clone", 125: "mprotect",
	128: "init_module", 133: "fchdir", 164: "setresuid", 170: "setresgid", 172: "prctl",
	182: "chown", 185: "capset", 190: "vfork", 192: "mmap", 198: "lchown", 203: "setreuid",
	204: "setregid", 207: "fchown", 208: "setresuid", 210: "setresgid", 212: "chown",
	213: "setuid", 214: "setgid", 221: "fcntl", 238: "tkill", 270: "tgkill", 295: "openat", 296: "mkdirat",
	297: "mknodat", 298: "fchownat", 301: "unlinkat", 302: "renameat", 303: "linkat",
	304: "symlinkat", 306: "fchmodat", 310: "unshare", 330: "dup3", 331: "pipe2", 346: "setns",
	350: "finit_module", 353: "renameat2", 354: "seccomp", 356: "memfd_create", 357: "bpf",
	358: "execveat", 359: "socket", 361: "bind", 362: "connect", 363: "listen", 364: "accept4",
	369: "sendto", 370: "sendmsg", 371: "recvfrom", 372: "recvmsg", 374: "userfaultfd",
	425: "io_uring_setup", 435: "clone3", 437: "openat2",
	145: "readv", 146: "writev", 180: "pread", 181: "pwrite", 333: "preadv", 334: "pwritev",
	// A 64-bit process that executes a 32-bit program returns from execve in compat mode; on
	// kernels before 4.12 orig_ax still holds the x86_64 number then (59, otherwise the
	// obsolete ia32 oldolduname).
	59: "execve",
}

// ia32Socketcall is the ia32 socketcall number; the socket syscalls it can stand for are
// socketcallCalls (the kernel side maps its call argument to them).
const ia32Socketcall = 102

var socketcallCalls = []string{"socket", "bind", "connect", "listen", "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "accept4"}

// Selection bits of the interesting map (bpf/compat.h).
const (
	sel64   = 0x1
	selIA32 = 0x2
)

// selectionValues is the interesting map's content for a selection of x86_64 numbers: each
// selected number, and each ia32 number of a selected syscall.
func selectionValues(sel map[uint32]bool) []uint8 {
	vals := make([]uint8, 512)
	for nr := range sel {
		if nr < 512 {
			vals[nr] |= sel64
		}
	}
	for nr32, name := range ia32Syscalls {
		if s, ok := syscalls[name]; ok && sel[s.nr] {
			vals[nr32] |= selIA32
		}
	}
	for _, name := range socketcallCalls {
		if sel[syscalls[name].nr] {
			vals[ia32Socketcall] |= selIA32
		}
	}
	return vals
}

// ia32Table is the content of the ia32_to_64 map: the x86_64 number of each supported ia32
// number, 512 (none) elsewhere.
func ia32Table() ([]uint32, error) {
	tab := make([]uint32, 512)
	for i := range tab {
		tab[i] = 512
	}
	for nr32, name := range ia32Syscalls {
		s, ok := syscalls[name]
		if !ok {
			return nil, fmt.Errorf("probe: ia32 syscall %d names unknown syscall %s", nr32, name)
		}
		tab[nr32] = s.nr
	}
	return tab, nil
}

// ia32Numbers returns the ia32 numbers encoded as the supported syscall name (sorted;
// socketcall included for the socket calls).
func ia32Numbers(name string) []uint32 {
	var out []uint32
	for nr32, n := range ia32Syscalls {
		if n == name {
			out = append(out, nr32)
		}
	}
	for _, n := range socketcallCalls {
		if n == name {
			out = append(out, ia32Socketcall)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
