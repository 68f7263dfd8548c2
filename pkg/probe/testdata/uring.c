/* Test helper for the probe's io_uring path: performs file and network operations through
 * io_uring only (raw io_uring_setup/io_uring_enter, rings mmap'd by hand, no liburing), one
 * request at a time, and prints "op res" for each. Built by the tests with gcc.
 *
 *   uring open PATH [DIR]     openat (relative to DIR's fd when given), read 16 bytes, close
 *   uring openat2 PATH        openat2, close
 *   uring create PATH         openat O_WRONLY|O_CREAT|O_TRUNC 0640, write "hello\n", close
 *   uring connect IP PORT     (socket by syscall) connect, send "ping", sendmsg "pong", recv
 *   uring accept              (listener and client by syscall) accept, recvmsg
 *   uring unlink PATH | mkdir PATH | rename OLD NEW | symlink TARGET LINK | link OLD NEW
 *   uring fixed PATH          openat into fixed slot 0, read through the slot, close the slot
 *   uring sqpoll PATH         with an SQPOLL ring (a kernel thread submits): openat, close
 *   uring skipmkdir PATH      mkdirat with IOSQE_CQE_SKIP_SUCCESS (no CQE on success), then a NOP
 *   uring bench N PATH        N times openat PATH + close, quietly; prints "ns_per_iter X"
 *
 * With -s first (uring -s open PATH ...), the same operations are done with the equivalent
 * syscalls instead (the ring is still set up, so fd numbers are the same): the reference the
 * io_uring events are compared with.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ring_fd;
static unsigned *sq_flags, sqpoll;
static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static int use_sys; /* -s: syscalls instead of io_uring requests */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void ring_init(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 1000;
	}
	ring_fd = syscall(__NR_io_uring_setup, 8, &p);
	if (ring_fd < 0)
		die("io_uring_setup");
	size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(0, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
	char *cq = mmap(0, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_CQ_RING);
	sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		die("mmap");
	sq_tail = (unsigned *)(sq + p.sq_off.tail);
	sq_flags = (unsigned *)(sq + p.sq_off.flags);
	sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	sq_array = (unsigned *)(sq + p.sq_off.array);
	cq_head = (unsigned *)(cq + p.cq_off.head);
	cq_tail = (unsigned *)(cq + p.cq_off.tail);
	cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

static struct io_uring_sqe *sqe_get(void)
{
	unsigned tail = *sq_tail, idx = tail & *sq_mask;
	struct io_uring_sqe *s = &sqes[idx];
	memset(s, 0, sizeof(*s));
	sq_array[idx] = idx;
	return s;
}

/* submits the prepared SQE, waits for its CQE and returns its res */
static int quiet; /* bench: no line per request */

static int submit_wait(const char *what)
{
	__atomic_store_n(sq_tail, *sq_tail + 1, __ATOMIC_RELEASE);
	if (sqpoll) {
		/* the kernel's SQ thread takes the entry; wake it if it sleeps, then wait */
		unsigned fl = IORING_ENTER_GETEVENTS;
		if (__atomic_load_n(sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
			fl |= IORING_ENTER_SQ_WAKEUP;
		if (syscall(__NR_io_uring_enter, ring_fd, 0, 1, fl, NULL, 0) < 0)
			die("io_uring_enter");
	} else if (syscall(__NR_io_uring_enter, ring_fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("io_uring_enter");
	unsigned head = *cq_head;
	while (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
		;
	int res = cqes[head & *cq_mask].res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
	if (!quiet) {
		printf("%s %d\n", what, res);
		fflush(stdout);
	}
	return res;
}

static int sys_res(const char *what, long r)
{
	if (r < 0)
		r = -errno;
	if (!quiet) {
		printf("%s %ld\n", what, r);
		fflush(stdout);
	}
	return r;
}

static int u_openat(int dfd, const char *path, int flags, int mode, unsigned slot)
{
	if (use_sys)
		return sys_res("openat", openat(dfd, path, flags, mode));
	struct io_uring_sqe *s = sqe_get();
	s->opcode = IORING_OP_OPENAT;
	s->fd = dfd;
	s->addr = (uintptr_t)path;
	s->open_flags = flags;
	s->len = mode;
	s->file_index = slot;
	return submit_wait("openat");
}

static int u_rw(int op, int fd, void *buf, unsigned len, int fixed, const char *what)
{
	if (use_sys) {
		switch (op) {
		case IORING_OP_READ: return sys_res(what, read(fd, buf, len));
		case IORING_OP_WRITE: return sys_res(what, write(fd, buf, len));
		case IORING_OP_SEND: return sys_res(what, sendto(fd, buf, len, 0, NULL, 0));
		case IORING_OP_RECV: return sys_res(what, recvfrom(fd, buf, len, 0, NULL, NULL));
		}
	}
	struct io_uring_sqe *s = sqe_get();
	s->opcode = op;
	s->fd = fd;
	s->addr = (uintptr_t)buf;
	s->len = len;
	s->off = 0;
	if (fixed)
		s->flags = IOSQE_FIXED_FILE;
	return submit_wait(what);
}

static int u_close(int fd, unsigned slot)
{
	if (use_sys)
		return sys_res("close", close(fd));
	struct io_uring_sqe *s = sqe_get();
	s->opcode = IORING_OP_CLOSE;
	s->fd = slot ? 0 : fd;
	s->file_index = slot;
	return submit_wait("close");
}

static int u_path2(int op, int dfd, const char *p1, int dfd2, const char *p2, int flags, const char *what)
{
	if (use_sys) {
		switch (op) {
		case IORING_OP_UNLINKAT: return sys_res(what, unlinkat(dfd, p1, flags));
		case IORING_OP_RENAMEAT: return sys_res(what, syscall(__NR_renameat2, dfd, p1, dfd2, p2, flags));
		case IORING_OP_SYMLINKAT: return sys_res(what, symlinkat(p1, dfd, p2));
		case IORING_OP_LINKAT: return sys_res(what, linkat(dfd, p1, dfd2, p2, flags));
		}
	}
	struct io_uring_sqe *s = sqe_get();
	s->opcode = op;
	s->fd = dfd;
	s->addr = (uintptr_t)p1;
	s->len = dfd2;
	s->addr2 = (uintptr_t)p2;
	s->rename_flags = flags; /* same word as unlink_flags / hardlink_flags */
	return submit_wait(what);
}

static void sendmsg_recvmsg(int op, int fd, char *buf, unsigned len, const char *what)
{
	struct iovec iov = {buf, len};
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (use_sys) {
		sys_res(what, op == IORING_OP_SENDMSG ? sendmsg(fd, &m, 0) : recvmsg(fd, &m, 0));
		return;
	}
	struct io_uring_sqe *s = sqe_get();
	s->opcode = op;
	s->fd = fd;
	s->addr = (uintptr_t)&m;
	submit_wait(what);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "-s")) {
		use_sys = 1;
		argv++;
		argc--;
	}
	if (argc < 2)
		return 2;
	const char *op = argv[1];
	char buf[64];
	if (!strcmp(op, "sqpoll"))
		sqpoll = 1;
	ring_init();
	if (!strcmp(op, "open") && argc >= 3) {
		int dfd = AT_FDCWD;
		if (argc >= 4 && (dfd = open(argv[3], O_RDONLY | O_DIRECTORY)) < 0)
			die("open dir");
		int fd = u_openat(dfd, argv[2], O_RDONLY, 0, 0);
		if (fd >= 0) {
			u_rw(IORING_OP_READ, fd, buf, 16, 0, "read");
			u_close(fd, 0);
		}
	} else if (!strcmp(op, "openat2") && argc >= 3) {
		struct open_how how;
		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY;
		how.resolve = RESOLVE_NO_MAGICLINKS;
		struct io_uring_sqe *s = sqe_get();
		s->opcode = IORING_OP_OPENAT2;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)argv[2];
		s->len = sizeof(how);
		s->addr2 = (uintptr_t)&how;
		int fd = submit_wait("openat2");
		if (fd >= 0)
			u_close(fd, 0);
	} else if (!strcmp(op, "create") && argc >= 3) {
		int fd = u_openat(AT_FDCWD, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0640, 0);
		if (fd >= 0) {
			u_rw(IORING_OP_WRITE, fd, "hello\n", 6, 0, "write");
			u_close(fd, 0);
		}
	} else if (!strcmp(op, "connect") && argc >= 4) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
		inet_pton(AF_INET, argv[2], &sin.sin_addr);
		int r;
		if (use_sys) {
			r = sys_res("connect", connect(fd, (void *)&sin, sizeof(sin)));
		} else {
			struct io_uring_sqe *s = sqe_get();
			s->opcode = IORING_OP_CONNECT;
			s->fd = fd;
			s->addr = (uintptr_t)&sin;
			s->addr2 = sizeof(sin); /* CONNECT takes the address length in addr2 */
			r = submit_wait("connect");
		}
		if (r == 0) {
			u_rw(IORING_OP_SEND, fd, "ping", 4, 0, "send");
			sendmsg_recvmsg(IORING_OP_SENDMSG, fd, "pong", 4, "sendmsg");
			u_rw(IORING_OP_RECV, fd, buf, sizeof(buf), 0, "recv");
		}
		close(fd);
	} else if (!strcmp(op, "accept")) {
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = {.sin_family = AF_INET};
		socklen_t sl = sizeof(sin);
		inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
		if (bind(l, (void *)&sin, sizeof(sin)) < 0 || listen(l, 4) < 0 || getsockname(l, (void *)&sin, &sl) < 0)
			die("listen");
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (void *)&sin, sizeof(sin)) < 0)
			die("connect");
		struct sockaddr_in local;
		sl = sizeof(local);
		getsockname(c, (void *)&local, &sl);
		printf("listen %d\nclient %d\n", ntohs(sin.sin_port), ntohs(local.sin_port));
		int a;
		if (use_sys) {
			a = sys_res("accept", accept4(l, NULL, NULL, 0));
		} else {
			struct io_uring_sqe *s = sqe_get();
			s->opcode = IORING_OP_ACCEPT;
			s->fd = l;
			a = submit_wait("accept");
		}
		if (a >= 0) {
			if (write(c, "data", 4) != 4)
				die("write");
			sendmsg_recvmsg(IORING_OP_RECVMSG, a, buf, sizeof(buf), "recvmsg");
		}
	} else if (!strcmp(op, "unlink") && argc >= 3) {
		u_path2(IORING_OP_UNLINKAT, AT_FDCWD, argv[2], 0, NULL, 0, "unlinkat");
	} else if (!strcmp(op, "mkdir") && argc >= 3 && use_sys) {
		sys_res("mkdirat", mkdirat(AT_FDCWD, argv[2], 0750));
	} else if (!strcmp(op, "mkdir") && argc >= 3) {
		struct io_uring_sqe *s = sqe_get();
		s->opcode = IORING_OP_MKDIRAT;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)argv[2];
		s->len = 0750;
		submit_wait("mkdirat");
	} else if (!strcmp(op, "rename") && argc >= 4) {
		u_path2(IORING_OP_RENAMEAT, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0, "renameat");
	} else if (!strcmp(op, "symlink") && argc >= 4) {
		/* SYMLINKAT: addr = target, addr2 = link path, fd = the link's dirfd */
		u_path2(IORING_OP_SYMLINKAT, AT_FDCWD, argv[2], 0, argv[3], 0, "symlinkat");
	} else if (!strcmp(op, "link") && argc >= 4) {
		u_path2(IORING_OP_LINKAT, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 0, "linkat");
	} else if (!strcmp(op, "fixed") && argc >= 3) {
		int sparse[1] = {-1};
		if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_FILES, sparse, 1) < 0)
			die("register files");
		if (u_openat(AT_FDCWD, argv[2], O_RDONLY, 0, 1) == 0) { /* file_index 1: slot 0 */
			u_rw(IORING_OP_READ, 0, buf, 16, 1, "read");
			u_close(0, 1);
		}
	} else if (!strcmp(op, "sqpoll") && argc >= 3) {
		int fd = u_openat(AT_FDCWD, argv[2], O_RDONLY, 0, 0);
		if (fd >= 0)
			u_close(fd, 0);
	} else if (!strcmp(op, "skipmkdir") && argc >= 3) {
		struct io_uring_sqe *s = sqe_get();
		s->opcode = IORING_OP_MKDIRAT;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)argv[2];
		s->len = 0750;
		s->flags = IOSQE_CQE_SKIP_SUCCESS;
		__atomic_store_n(sq_tail, *sq_tail + 1, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, ring_fd, 1, 0, 0, NULL, 0) < 0)
			die("io_uring_enter");
		s = sqe_get();
		s->opcode = IORING_OP_NOP;
		submit_wait("nop"); /* CQEs are in order: the mkdir is done (or failed: its CQE first) */
	} else if (!strcmp(op, "bench") && argc >= 4) {
		long n = atol(argv[2]);
		struct timespec t0, t1;
		quiet = 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < n; i++) {
			int fd = u_openat(AT_FDCWD, argv[3], O_RDONLY, 0, 0);
			if (fd < 0)
				die("bench open");
			u_close(fd, 0);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
		printf("ns_per_iter %.1f\n", n ? ns / n : 0);
	} else {
		fprintf(stderr, "uring: unknown operation %s\n", op);
		return 2;
	}
	return 0;
}
