/* One sequence of system calls, made through one of three gates (chosen at build time):
 *   -DGATE_SYSCALL64  x86_64 `syscall` (glibc syscall()), x86_64 numbers
 *   -DGATE_INT80      a 64-bit program using `int $0x80`: ia32 numbers and 32-bit pointers
 *                     (build -static -no-pie, so its data lies below 4 GiB)
 *   -DGATE_IA32       a real 32-bit program (-m32 -static), glibc's syscall(), ia32 numbers
 * The probe's tests run the three builds and expect the same events from each.
 * Usage: gates DIR PORT [PAYLOAD]: files are made in DIR, PORT is a TCP listener on 127.0.0.1;
 * gates DIR PORT fork: a fork and a clone instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(GATE_SYSCALL64)
#include <asm/unistd_64.h>
#define NR(n64, n32) __NR_##n64
#else
#include <asm/unistd_32.h>
#define NR(n64, n32) __NR_##n32
#endif

#if defined(GATE_INT80)
typedef uint32_t uptr; /* a user pointer as the ia32 ABI passes it */
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	__asm__ volatile("push %%rbp\n\tmov %[f], %%rbp\n\tint $0x80\n\tpop %%rbp"
			 : "=a"(r)
			 : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), [f] "r"(f)
			 : "memory");
	return r;
}
#else
#include <unistd.h>
typedef uintptr_t uptr;
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	return syscall(n, a, b, c, d, e, f);
}
#endif
#define S(n, ...) sys6_(n, ##__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define sys6_(n, a, b, c, d, e, f, ...) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define P(x) ((long)(uptr)(uintptr_t)(x))
/* a uid of the 16-bit ia32 calls, as a caller with a 16-bit uid_t passes it (-1 is 0xffff) */
#if defined(GATE_SYSCALL64)
#define UID16(x) (x)
#else
#define UID16(x) ((uint16_t)(x))
#endif

#define AT_FDCWD_ (-100)
#define O_RDONLY_ 0
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000

/* everything the kernel reads lives here, in static data (below 4 GiB for GATE_INT80) */
static char dir[256], f1[300], f2[300], f4[300], f5[300], f6[300], d3[300], mark[300];
static char buf[128];
static char payload[128] = "hello-gates";
static uptr argv_[4];
static uptr envp_[1];
static char x_path[] = "/nonexistent/saker-gates";
static char x_a0[] = "saker-gates", x_a1[] = "first", x_a2[] = "second arg";
static struct {
	uint16_t family, port;
	uint32_t addr;
	char zero[8];
} sin_;
static struct {
	uptr base, len;
} iov_;
/* struct msghdr, or struct compat_msghdr with 32-bit pointers and sizes */
static struct {
	uptr name;
	uint32_t namelen;
	uptr iov, iovlen, control, controllen;
	int32_t flags;
} msg_;
static int32_t pipefds[2];

#if !defined(GATE_SYSCALL64)
static uint32_t sargs[6];
#if defined(GATE_INT80)
static uint32_t mmap_args[6]; /* the old ia32 mmap's struct mmap_arg_struct */
#endif

/* socketcall(call, args) as 32-bit programs make socket calls */
static long socketcall(int call, long a, long b, long c, long d, long e, long f)
{
	sargs[0] = a;
	sargs[1] = b;
	sargs[2] = c;
	sargs[3] = d;
	sargs[4] = e;
	sargs[5] = f;
	return S(NR(none, socketcall), call, P(sargs));
}
#endif

/* sendto(fd, buf, len, 0, NULL, 0): through socketcall for the 32-bit gates */
static void send_bytes(long fd, const char *b, long n)
{
#if !defined(GATE_SYSCALL64)
	socketcall(11 /* SYS_SENDTO */, fd, P(b), n, 0, 0, 0);
#else
	S(NR(sendto, sendto), fd, P(b), n, 0, 0, 0);
#endif
}

/* an anonymous executable mapping: mmap, mmap2 (ia32) or the old mmap (int80) */
static void map_exec(void)
{
	long prot = 1 | 4 /* PROT_READ|PROT_EXEC */, flags = 0x2 | 0x20 /* MAP_PRIVATE|MAP_ANONYMOUS */;
#if defined(GATE_SYSCALL64)
	S(NR(mmap, none), 0, 8192, prot, flags, -1, 0);
#elif defined(GATE_IA32)
	S(NR(none, mmap2), 0, 8192, prot, flags, -1, 0);
#else
	mmap_args[0] = 0;
	mmap_args[1] = 8192;
	mmap_args[2] = prot;
	mmap_args[3] = flags;
	mmap_args[4] = -1;
	mmap_args[5] = 0;
	S(NR(none, mmap), P(mmap_args));
#endif
}

static long tcp_connect(int via_socketcall)
{
	long fd;
#if !defined(GATE_SYSCALL64)
	if (via_socketcall) {
		fd = socketcall(1 /* SYS_SOCKET */, 2, 1, 0, 0, 0, 0);
		socketcall(3 /* SYS_CONNECT */, fd, P(&sin_), sizeof(sin_), 0, 0, 0);
		return fd;
	}
#endif
	(void)via_socketcall;
	fd = S(NR(socket, socket), 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
	S(NR(connect, connect), fd, P(&sin_), sizeof(sin_));
	return fd;
}

static void marker(const char *name)
{
	snprintf(mark, sizeof(mark), "%s/%s", dir, name);
	S(NR(openat, openat), AT_FDCWD_, P(mark), O_RDONLY_); /* ENOENT: the marker */
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	if (argc > 3 && strcmp(argv[3], "fork") == 0) {
		/* fork, then clone(SIGCHLD) (what glibc's fork calls); each child exits at once */
		for (int i = 0; i < 2; i++) {
			long pid = i == 0 ? S(NR(fork, fork)) : S(NR(clone, clone), 17 /* SIGCHLD */, 0, 0, 0, 0);
			if (pid == 0)
				S(NR(exit_group, exit_group), 0);
			S(NR(wait4, wait4), pid, 0, 0, 0);
		}
		return 0;
	}
	if (argc > 3)
		snprintf(payload, sizeof(payload), "%s", argv[3]);
	snprintf(f1, sizeof(f1), "%s/f1", dir);
	snprintf(f2, sizeof(f2), "%s/f2", dir);
	snprintf(f4, sizeof(f4), "%s/f4", dir);
	snprintf(f5, sizeof(f5), "%s/f5", dir);
	snprintf(f6, sizeof(f6), "%s/f6", dir);
	snprintf(d3, sizeof(d3), "%s/d3", dir);
	sin_.family = 2;
	sin_.port = __builtin_bswap16(atoi(argv[2]));
	sin_.addr = __builtin_bswap32(0x7f000001);

	marker("begin");
	long fd = S(NR(open, open), P(f1), O_WRONLY_ | O_CREAT_ | O_TRUNC_, 0640);
	S(NR(write, write), fd, P(payload), strlen(payload));
	S(NR(close, close), fd);
	fd = S(NR(openat, openat), AT_FDCWD_, P(f1), O_RDONLY_, 0);
	S(NR(read, read), fd, P(buf), sizeof(buf));
	S(NR(close, close), fd);
	fd = S(NR(creat, creat), P(f6), 0600);
	S(NR(close, close), fd);
	fd = S(NR(dup, dup), 1);
	S(NR(dup2, dup2), fd, 20);
	S(NR(close, close), 20);
	S(NR(close, close), fd);
	S(NR(rename, rename), P(f1), P(f2));
	S(NR(renameat, renameat), AT_FDCWD_, P(f2), AT_FDCWD_, P(f1));
	S(NR(mkdir, mkdir), P(d3), 0750);
	S(NR(rmdir, rmdir), P(d3));
	S(NR(symlink, symlink), P(f1), P(f4));
	S(NR(link, link), P(f1), P(f5));
	S(NR(chmod, chmod), P(f1), 0600);
	S(NR(fchmodat, fchmodat), AT_FDCWD_, P(f1), 0644);
	S(NR(lchown, lchown32), P(f4), 0, 0);
	S(NR(chown, chown), P(f1), UID16(-1), UID16(-1)); /* ia32: the 16-bit chown */
	S(NR(unlink, unlink), P(f4));
	S(NR(unlink, unlink), P(f5));
	S(NR(unlink, unlink), P(f6));
	S(NR(unlinkat, unlinkat), AT_FDCWD_, P(f1), 0);
	S(NR(setuid, setuid32), 0);
	S(NR(setuid, setuid), 0); /* ia32: the 16-bit setuid */
	S(NR(setresuid, setresuid), UID16(-1), UID16(-1), UID16(-1)); /* ia32: 16-bit, 0xffff is -1 */
	S(NR(setresgid, setresgid32), -1, -1, -1);
	S(NR(setgid, setgid32), 0);
	S(NR(ptrace, ptrace), 2 /* PTRACE_PEEKDATA */, 1, 0x1234, 0);
	S(NR(kill, kill), 1, 0);
	fd = tcp_connect(1);
	S(NR(write, write), fd, P(payload), strlen(payload));
	S(NR(close, close), fd);
	fd = tcp_connect(0);
	iov_.base = (uptr)(uintptr_t)payload;
	iov_.len = strlen(payload);
	msg_.iov = (uptr)(uintptr_t)&iov_;
	msg_.iovlen = 1;
	S(NR(sendmsg, sendmsg), fd, P(&msg_), 0);
	send_bytes(fd, "x", 1);
	S(NR(close, close), fd);
	S(NR(pipe2, pipe2), P(pipefds), 02000000 /* O_CLOEXEC */);
	S(NR(close, close), pipefds[0]);
	S(NR(close, close), pipefds[1]);
	map_exec();
	argv_[0] = (uptr)(uintptr_t)x_a0;
	argv_[1] = (uptr)(uintptr_t)x_a1;
	argv_[2] = (uptr)(uintptr_t)x_a2;
	argv_[3] = 0;
	envp_[0] = 0;
	S(NR(execve, execve), P(x_path), P(argv_), P(envp_)); /* ENOENT */
	marker("end");
	return 0;
}
