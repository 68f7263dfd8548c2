package sysfields

import (
	"strings"

	"github.com/saker-sec/saker/pkg/event"
)

// errnoNames maps errno values to their symbolic names, as libsinsp's errno_to_str prints them.
var errnoNames = [...]string{
	1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
	9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK",
	16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
	23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE",
	30: "EROFS", 31: "EMLINK", 32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG",
	37: "ENOLCK", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM", 44: "ECHRNG",
	45: "EL2NSYNC", 46: "EL3HLT", 47: "EL3RST", 48: "ELNRNG", 49: "EUNATCH", 50: "ENOCSI", 51: "EL2HLT",
	52: "EBADE", 53: "EBADR", 54: "EXFULL", 55: "ENOANO", 56: "EBADRQC", 57: "EBADSLT", 59: "EBFONT",
	60: "ENOSTR", 61: "ENODATA", 62: "ETIME", 63: "ENOSR", 64: "ENONET", 65: "ENOPKG", 66: "EREMOTE",
	67: "ENOLINK", 68: "EADV", 69: "ESRMNT", 70: "ECOMM", 71: "EPROTO", 72: "EMULTIHOP", 73: "EDOTDOT",
	74: "EBADMSG", 75: "EOVERFLOW", 76: "ENOTUNIQ", 77: "EBADFD", 78: "EREMCHG", 79: "ELIBACC",
	80: "ELIBBAD", 81: "ELIBSCN", 82: "ELIBMAX", 83: "ELIBEXEC", 84: "EILSEQ", 85: "ERESTART",
	86: "ESTRPIPE", 87: "EUSERS", 88: "ENOTSOCK", 89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE",
	92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT", 94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT",
	97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH",
	102: "ENETRESET", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN",
	107: "ENOTCONN", 108: "ESHUTDOWN", 109: "ETOOMANYREFS", 110: "ETIMEDOUT", 111: "ECONNREFUSED",
	112: "EHOSTDOWN", 113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS", 116: "ESTALE",
	117: "EUCLEAN", 118: "ENOTNAM", 119: "ENAVAIL", 120: "EISNAM", 121: "EREMOTEIO", 122: "EDQUOT",
	123: "ENOMEDIUM", 124: "EMEDIUMTYPE", 125: "ECANCELED", 126: "ENOKEY", 127: "EKEYEXPIRED",
	128: "EKEYREVOKED", 129: "EKEYREJECTED", 130: "EOWNERDEAD", 131: "ENOTRECOVERABLE", 132: "ERFKILL",
	133: "EHWPOISON",
	// kernel-internal codes libsinsp knows
	512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
	516: "ERESTART_RESTARTBLOCK",
}

// errnoName returns the name of a (positive) errno, or "".
func errnoName(e int64) string {
	if e > 0 && e < int64(len(errnoNames)) {
		return errnoNames[e]
	}
	return ""
}

// signalNames maps signal numbers to names (libsinsp's sinsp_signal_to_string).
var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
	15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
	21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM",
	27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// capString renders a capability mask as libsinsp does: names of the set bits, space separated.
func capString(mask uint64) string {
	var b strings.Builder
	for i, n := range event.CapNames {
		if mask&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// Event categories (libs ppm_event_category) and their names as evt.category prints them.
const (
	ecUnknown    = 0
	ecOther      = 1
	ecFile       = 2
	ecNet        = 3
	ecIPC        = 4
	ecMemory     = 5
	ecProcess    = 6
	ecSleep      = 7
	ecSystem     = 8
	ecSignal     = 9
	ecUser       = 10
	ecTime       = 11
	ecIORead     = 32
	ecIOWrite    = 33
	ecIOOther    = 34
	ecWait       = 64
	ecScheduler  = 128
	ecInternal   = 256
	ecIOBaseMask = 32
)

var categoryNames = map[int]string{
	ecUnknown: "unknown", ecOther: "other", ecFile: "file", ecNet: "net", ecIPC: "IPC",
	ecMemory: "memory", ecProcess: "process", ecSleep: "sleep", ecSystem: "system",
	ecSignal: "signal", ecUser: "user", ecTime: "time", ecWait: "wait",
	ecScheduler: "scheduler", ecInternal: "internal",
}

// eventCategory is the category of each event name (driver/event_table.c); names not listed
// are "other".
var eventCategory = func() map[string]int {
	m := map[string]int{}
	add := func(c int, names string) {
		for _, n := range strings.Fields(names) {
			m[n] = c
		}
	}
	add(ecFile, `open creat stat lstat fstat stat64 lstat64 fstat64 lseek llseek getcwd chdir fchdir mkdir
		rmdir openat link linkat unlink unlinkat rename renameat symlink symlinkat getdents getdents64 flock
		mount umount access mkdirat fchmodat chmod fchmod renameat2 userfaultfd openat2 copy_file_range
		open_by_handle_at newfstatat fchownat fchown chown umount2 mknod mknodat memfd_create
		inotify_add_watch`)
	add(ecIOOther, `close ioctl dup dup2 dup3 fcntl splice io_uring_enter`)
	add(ecIORead, `read recv recvfrom recvmsg recvmmsg pread readv preadv`)
	add(ecIOWrite, `write send sendto sendmsg sendmmsg pwrite writev pwritev sendfile`)
	add(ecMemory, `brk mmap mmap2 munmap mprotect mlock munlock mlockall munlockall mlock2`)
	add(ecProcess, `execve clone procexit fork vfork getrlimit setrlimit prlimit ptrace setns semop semctl
		semget chroot setsid unshare setpgid execveat clone3 container prctl capset pidfd_open pidfd_getfd`)
	add(ecNet, `socket bind connect listen accept accept4 shutdown getsockname getpeername setsockopt
		getsockopt`)
	add(ecIPC, `socketpair pipe pipe2 eventfd eventfd2 futex inotify_init inotify_init1`)
	add(ecWait, `epoll_wait poll select ppoll epoll_pwait`)
	add(ecSignal, `signalfd signalfd4 kill tkill tgkill signaldeliver`)
	add(ecSleep, `nanosleep`)
	add(ecTime, `timerfd_create`)
	add(ecScheduler, `switch`)
	add(ecInternal, `drop scapevent procinfo k8s mesos infra`)
	add(ecUser, `quotactl setresuid setresgid setuid setgid getuid geteuid getgid getegid getresuid
		getresgid`)
	add(ecSystem, `cpu_hotplug`)
	return m
}()

// paramFormat says how sysdig prints a numeric param (PF_HEX, PF_OCT) when it is not decimal;
// keyed by "event:param" (driver/event_table.c).
var paramFormat = func() map[string]byte {
	m := map[string]byte{}
	for _, k := range strings.Fields(`brk:addr brk:res mmap:addr mmap:res mmap2:addr mmap2:res
		munmap:addr mprotect:addr futex:addr ioctl:request ioctl:argument socketpair:source
		socketpair:peer open:dev creat:dev openat:dev signalfd:mask semget:key page_fault:addr
		page_fault:ip seccomp:flags accept:flags io_uring_register:arg mlock:addr munlock:addr
		mkdir:mode mkdirat:mode ptrace:addr ptrace:data mlock2:addr`) {
		m[k] = 'x'
	}
	for _, k := range strings.Fields(`open:mode creat:mode openat:mode openat2:mode`) {
		m[k] = 'o'
	}
	return m
}()
