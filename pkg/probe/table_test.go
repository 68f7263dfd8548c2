package probe

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/saker-sec/saker/pkg/event"
	"golang.org/x/sys/unix"
)

// The syscall numbers are checked against x/sys/unix and the event codes against the event
// table in pkg/event (generated from shared/scap/event-table.tsv), independently of the probe.
func TestSyscallTable(t *testing.T) {
	nrs := map[string]uintptr{
		"read": unix.SYS_READ, "write": unix.SYS_WRITE, "open": unix.SYS_OPEN, "close": unix.SYS_CLOSE,
		"mmap": unix.SYS_MMAP, "mprotect": unix.SYS_MPROTECT, "pipe": unix.SYS_PIPE, "dup": unix.SYS_DUP, "fcntl": unix.SYS_FCNTL,
		"dup2": unix.SYS_DUP2, "socket": unix.SYS_SOCKET, "connect": unix.SYS_CONNECT,
		"accept": unix.SYS_ACCEPT, "sendto": unix.SYS_SENDTO, "recvfrom": unix.SYS_RECVFROM,
		"sendmsg": unix.SYS_SENDMSG, "recvmsg": unix.SYS_RECVMSG, "bind": unix.SYS_BIND,
		"listen": unix.SYS_LISTEN, "clone": unix.SYS_CLONE, "fork": unix.SYS_FORK,
		"vfork": unix.SYS_VFORK, "execve": unix.SYS_EXECVE, "kill": unix.SYS_KILL,
		"chdir": unix.SYS_CHDIR, "fchdir": unix.SYS_FCHDIR, "rename": unix.SYS_RENAME,
		"mkdir": unix.SYS_MKDIR, "rmdir": unix.SYS_RMDIR, "creat": unix.SYS_CREAT, "link": unix.SYS_LINK,
		"unlink": unix.SYS_UNLINK, "symlink": unix.SYS_SYMLINK, "chmod": unix.SYS_CHMOD,
		"fchmod": unix.SYS_FCHMOD, "chown": unix.SYS_CHOWN, "fchown": unix.SYS_FCHOWN,
		"lchown": unix.SYS_LCHOWN, "ptrace": unix.SYS_PTRACE, "setuid": unix.SYS_SETUID,
		"setgid": unix.SYS_SETGID, "setreuid": unix.SYS_SETREUID, "setregid": unix.SYS_SETREGID,
		"setresuid": unix.SYS_SETRESUID, "setresgid": unix.SYS_SETRESGID, "capset": unix.SYS_CAPSET,
		"prctl": unix.SYS_PRCTL, "mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
		"init_module": unix.SYS_INIT_MODULE, "tkill": unix.SYS_TKILL, "tgkill": unix.SYS_TGKILL,
		"openat": unix.SYS_OPENAT, "mkdirat": unix.SYS_MKDIRAT, "fchownat": unix.SYS_FCHOWNAT,
		"unlinkat": unix.SYS_UNLINKAT, "renameat": unix.SYS_RENAMEAT, "linkat": unix.SYS_LINKAT,
		"symlinkat": unix.SYS_SYMLINKAT, "fchmodat": unix.SYS_FCHMODAT, "unshare": unix.SYS_UNSHARE,
		"accept4": unix.SYS_ACCEPT4, "dup3": unix.SYS_DUP3, "pipe2": unix.SYS_PIPE2,
		"setns": unix.SYS_SETNS, "finit_module": unix.SYS_FINIT_MODULE,
		"renameat2": unix.SYS_RENAMEAT2, "memfd_create": unix.SYS_MEMFD_CREATE, "bpf": unix.SYS_BPF,
		"execveat": unix.SYS_EXECVEAT, "userfaultfd": unix.SYS_USERFAULTFD,
		"io_uring_setup": unix.SYS_IO_URING_SETUP, "clone3": unix.SYS_CLONE3,
		"openat2": unix.SYS_OPENAT2, "setpgid": unix.SYS_SETPGID, "setsid": unix.SYS_SETSID,
		"mknod": unix.SYS_MKNOD, "chroot": unix.SYS_CHROOT, "mknodat": unix.SYS_MKNODAT,
		"seccomp": unix.SYS_SECCOMP,
		"pread":   unix.SYS_PREAD64, "pwrite": unix.SYS_PWRITE64, "readv": unix.SYS_READV,
		"writev": unix.SYS_WRITEV, "preadv": unix.SYS_PREADV, "pwritev": unix.SYS_PWRITEV,
	}
	for name, s := range syscalls {
		dir := byte('X')
		if name == "procexit" {
			dir = 'E'
			if s.nr != procexitSlot {
				t.Errorf("procexit slot %d", s.nr)
			}
		} else if nr, ok := nrs[name]; !ok {
			t.Errorf("%s: no x/sys/unix number in the test table", name)
		} else if uintptr(s.nr) != nr {
			t.Errorf("%s: nr %d, x/sys/unix says %d", name, s.nr, nr)
		}
		if cur := event.Current(name, dir); cur != s.code {
			t.Errorf("%s: probe emits code %d, the current %c code is %d", name, s.code, dir, cur)
		}
	}
	if len(nrs) != len(syscalls)-1 {
		t.Errorf("test table has %d syscalls, probe %d", len(nrs), len(syscalls)-1)
	}
}

func TestSelection(t *testing.T) {
	if _, err := selection([]string{"openat", "nosuchcall"}); err == nil {
		t.Fatal("unknown syscall accepted")
	}
	sel, err := selection(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sel[syscalls["read"].nr] || !sel[syscalls["execve"].nr] || !sel[procexitSlot] {
		t.Fatalf("default selection wrong: read=%v execve=%v procexit=%v", sel[0], sel[59], sel[procexitSlot])
	}
	if got, want := ringSize(0), uint32(DefaultRingBytes(OnlineCPUs())); got != want {
		t.Errorf("ringSize(0)=%d, want %d", got, want)
	}
	if got := ringSize(5000); got != 8192 {
		t.Errorf("ringSize(5000)=%d", got)
	}
}

func TestLoadErrorNamesProgramAndLog(t *testing.T) {
	var log []string
	for i := 0; i < 30; i++ {
		log = append(log, fmt.Sprintf("line %d", i))
	}
	ve := &ebpf.VerifierError{Cause: fmt.Errorf("permission denied"), Log: log}
	err := loadError(fmt.Errorf("program x_openat: load program: %w", ve))
	msg := err.Error()
	if !strings.Contains(msg, "x_openat") || !strings.Contains(msg, "line 29") || strings.Contains(msg, "line 10\n") {
		t.Errorf("error lacks the program or the log's end: %s", msg)
	}
}

func TestDefaultRingBytesScalesWithCPUs(t *testing.T) {
	for _, c := range []struct{ ncpu, want int }{
		{1, 4 << 20}, {2, 4 << 20}, {3, 6 << 20}, {4, 8 << 20}, {16, 32 << 20}, {32, 64 << 20}, {256, 64 << 20},
	} {
		if got := DefaultRingBytes(c.ncpu); got != c.want {
			t.Errorf("DefaultRingBytes(%d) = %d, want %d", c.ncpu, got, c.want)
		}
	}
	if got := ringSize(6 << 20); got != 8<<20 {
		t.Errorf("ringSize(6 MiB) = %d, want 8 MiB", got)
	}
	for _, c := range []struct {
		s  string
		n  int
		ok bool
	}{
		{"0", 1, true}, {"0-1", 2, true}, {"0-3,8,10-11", 7, true}, {"", 0, false}, {"3-1", 0, false}, {"a", 0, false},
	} {
		if n, ok := countCPUList(c.s); n != c.n || ok != c.ok {
			t.Errorf("countCPUList(%q) = %d, %v; want %d, %v", c.s, n, ok, c.n, c.ok)
		}
	}
	if OnlineCPUs() < 1 {
		t.Errorf("OnlineCPUs() = %d", OnlineCPUs())
	}
}
