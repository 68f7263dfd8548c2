package probe

import "sort"

// sysInfo is one syscall the probe encodes: its x86_64 number and the scap exit event (current
// version of the event table) its program emits.
type sysInfo struct {
	nr   uint32
	code uint16 // scap event code written by the program (checked against pkg/event in tests)
}

// procexitSlot is the slot of the `interesting` map that gates procexit (no syscall has it).
const procexitSlot = 511

// syscalls maps a syscall name to its x86_64 number and event code. The BPF program of entry
// name is "x_"+name; procexit is the sched_process_exit program.
var syscalls = map[string]sysInfo{
	"read": {0, 7}, "write": {1, 9}, "open": {2, 3}, "close": {3, 5},
	"mmap": {9, 161}, "mprotect": {10, 329},
	"pipe": {22, 61}, "dup": {32, 367}, "dup2": {33, 363}, "fcntl": {72, 151},
	"socket": {41, 19}, "connect": {42, 23}, "accept": {43, 247}, "sendto": {44, 31},
	"recvfrom": {45, 35}, "sendmsg": {46, 49}, "recvmsg": {47, 53}, "bind": {49, 21},
	"listen": {50, 25},
	"clone":  {56, 223}, "fork": {57, 225}, "vfork": {58, 227}, "execve": {59, 293},
	"kill":  {62, 129},
	"chdir": {80, 95}, "fchdir": {81, 97}, "rename": {82, 175}, "mkdir": {83, 277},
	"rmdir": {84, 279}, "creat": {85, 59}, "link": {86, 309}, "unlink": {87, 301},
	"symlink": {88, 179}, "chmod": {90, 315}, "fchmod": {91, 317}, "chown": {92, 379},
	"fchown": {93, 383}, "lchown": {94, 381},
	"ptrace": {101, 169}, "setuid": {105, 199}, "setgid": {106, 201},
	"setreuid": {113, 427}, "setregid": {114, 429}, "setresuid": {117, 193},
	"setresgid": {119, 195}, "capset": {126, 353},
	"prctl": {157, 401}, "mount": {165, 257}, "umount2": {166, 391},
	"init_module": {175, 411}, "tkill": {200, 131}, "tgkill": {234, 133},
	"openat": {257, 307}, "mkdirat": {258, 305}, "fchownat": {260, 385},
	"unlinkat": {263, 303}, "renameat": {264, 177}, "linkat": {265, 311},
	"symlinkat": {266, 181}, "fchmodat": {268, 313}, "unshare": {272, 285},
	"accept4": {288, 389}, "dup3": {292, 365}, "pipe2": {293, 393},
	"setns": {308, 241}, "finit_module": {313, 413}, "renameat2": {316, 319},
	"memfd_create": {319, 405}, "bpf": {321, 369}, "execveat": {322, 331},
	"userfaultfd": {323, 321}, "io_uring_setup": {425, 339}, "clone3": {435, 335},
	"openat2": {437, 327},
	"setpgid": {109, 295}, "setsid": {112, 275}, "mknod": {133, 415}, "chroot": {161, 267},
	"mknodat": {259, 417}, "seccomp": {317, 299},
	"procexit": {procexitSlot, 186},
	// the other reads and writes (their events carry a data buffer, as read and write do)
	"pread": {17, 113}, "pwrite": {18, 115}, "readv": {19, 117}, "writev": {20, 119},
	"preadv": {295, 121}, "pwritev": {296, 123},
}

// onlyWhenNamed are syscalls left out of the default selection (high volume): they are captured
// only when Options.Syscalls or SetSyscalls names them.
var onlyWhenNamed = map[string]bool{
	"read": true, "write": true, "pread": true, "pwrite": true, "readv": true, "writev": true,
	"preadv": true, "pwritev": true,
}

// stage programs of the stage_progs prog array, by index.
var stagePrograms = []string{"execve_stage2", "execve_stage3", "clone_stage2"}

// Supported returns the syscall names (and "procexit") the probe can encode, sorted.
func Supported() []string {
	out := make([]string, 0, len(syscalls))
	for n := range syscalls {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// EventCode returns the scap event code the probe emits for a supported name.
func EventCode(name string) (uint16, bool) {
	s, ok := syscalls[name]
	return s.code, ok
}

// uringOps maps an io_uring opcode to the encoder programs of the syscall event it becomes:
// uc_NAME at the request's CQE, us_NAME at its submission when it skips its CQE (bpf/iouring.h).
var uringOps = map[uint32]string{
	18: "openat", 28: "openat2", 19: "close",
	1: "read", 4: "read", 22: "read", 60: "read", // READV, READ_FIXED, READ, READV_FIXED
	2: "write", 5: "write", 23: "write", 61: "write",
	16: "connect", 13: "accept", 26: "send", 47: "send", 27: "recv",
	9: "sendmsg", 48: "sendmsg", 10: "recvmsg",
	36: "unlinkat", 35: "renameat", 37: "mkdirat", 38: "symlinkat", 39: "linkat",
}

// uringPrograms are the io_uring programs and maps, left out when the kernel lacks io_uring's
// tracepoints or types.
var uringPrograms = []string{"uring_submit", "uring_complete"}
