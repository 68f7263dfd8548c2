/* Helper for Saker's end-to-end tests: performs one action with plain syscalls, chosen by
 * argv[1], so the test knows exactly which syscall (and which arguments) the probe saw.
 * Copies of this binary run under rule-relevant names (nginx, mysqld, ssh, tee, ...). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

extern char **environ;

static int fail(const char *what) {
	fprintf(stderr, "helper: %s: %s\n", what, strerror(errno));
	return 1;
}

static int inet(const char *addr, const char *port, struct sockaddr_in *sa) {
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(port));
	return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

/* thread_spawn: run on a second thread, which forks and execs spawn_argv, so the child's
 * parent task is a thread that is not the process's main thread. */
static char **spawn_argv;
static int spawn_status = -1;

static void *thread_spawn(void *unused) {
	(void)unused;
	if (syscall(SYS_gettid) == getpid()) {
		fprintf(stderr, "helper: the spawning thread is the main thread\n");
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fail("fork");
		return NULL;
	}
	if (pid == 0) {
		execv(spawn_argv[0], spawn_argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		spawn_status = WEXITSTATUS(st);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: helper ACTION ARGS...\n");
		return 2;
	}
	const char *a = argv[1];
	if (!strcmp(a, "spawn") && argc >= 3) { /* spawn PATH ARGS...: fork, exec PATH, wait */
		pid_t p = fork();
		if (p < 0)
			return fail("fork");
		if (p == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	if (!strcmp(a, "thread-spawn") && argc >= 3) { /* thread-spawn PATH ARGS...: fork+exec from a thread */
		pthread_t th;
		spawn_argv = argv + 2;
		if (pthread_create(&th, NULL, thread_spawn, NULL) != 0)
			return fail("pthread_create");
		pthread_join(th, NULL);
		return spawn_status == 0 ? 0 : 1;
	}
	if (!strcmp(a, "memfd") && argc >= 3) { /* memfd SRC ARGS...: copy SRC to a memfd, fexecve it */
		int src = open(argv[2], O_RDONLY);
		if (src < 0)
			return fail("open");
		int m = memfd_create("sakere2e", 0);
		if (m < 0)
			return fail("memfd_create");
		char buf[65536];
		ssize_t n;
		while ((n = read(src, buf, sizeof buf)) > 0)
			if (write(m, buf, n) != n)
				return fail("write");
		close(src);
		fexecve(m, argv + 2, environ);
		return fail("fexecve");
	}
	if (!strcmp(a, "write") && argc == 3) { /* write PATH: open O_WRONLY|O_CREAT|O_TRUNC, write */
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return fail("open");
		if (write(fd, "sakere2e\n", 9) != 9)
			return fail("write");
		close(fd);
		return 0;
	}
	if (!strcmp(a, "ptrace-attach")) { /* attach to a child of ours, then detach and reap it */
		pid_t c = fork();
		if (c < 0)
			return fail("fork");
		if (c == 0) {
			for (;;)
				pause();
		}
		if (ptrace(PTRACE_ATTACH, c, 0, 0) < 0)
			return fail("ptrace");
		int st;
		waitpid(c, &st, 0);
		ptrace(PTRACE_DETACH, c, 0, 0);
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		printf("%d\n", c);
		return 0;
	}
	if (!strcmp(a, "traceme")) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
			return fail("ptrace");
		return 0;
	}
	if (!strcmp(a, "setns")) { /* re-enter our own network namespace */
		int fd = open("/proc/self/ns/net", O_RDONLY);
		if (fd < 0)
			return fail("open");
		if (setns(fd, CLONE_NEWNET) < 0)
			return fail("setns");
		return 0;
	}
	if ((!strcmp(a, "connect") || !strcmp(a, "udp")) && argc == 4) { /* connect ADDR PORT */
		struct sockaddr_in sa;
		if (inet(argv[2], argv[3], &sa) < 0)
			return 2;
		int udp = !strcmp(a, "udp");
		int s = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
		if (s < 0)
			return fail("socket");
		if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
			return fail("connect");
		if (udp && send(s, "x", 1, 0) != 1)
			return fail("send");
		close(s);
		return 0;
	}
	if (!strcmp(a, "serve") && argc >= 4) { /* serve ADDR PORT...: accept and close, until killed */
		struct pollfd pf[16];
		int n = 0;
		for (int i = 3; i < argc && n < 16; i++, n++) {
			struct sockaddr_in sa;
			if (inet(argv[2], argv[i], &sa) < 0)
				return 2;
			int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 16) < 0)
				return fail("bind/listen");
			pf[n].fd = s;
			pf[n].events = POLLIN;
		}
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			if (poll(pf, n, -1) < 0)
				return fail("poll");
			for (int i = 0; i < n; i++)
				if (pf[i].revents & POLLIN) {
					int c = accept(pf[i].fd, 0, 0);
					if (c >= 0)
						close(c);
				}
		}
	}
	if (!strcmp(a, "bpf")) { /* load a two-instruction socket filter */
		struct bpf_insn insns[2] = {
			{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
			{.code = BPF_JMP | BPF_EXIT},
		};
		union bpf_attr attr;
		memset(&attr, 0, sizeof attr);
		attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		attr.insns = (unsigned long)insns;
		attr.insn_cnt = 2;
		attr.license = (unsigned long)"GPL";
		int fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
		if (fd < 0)
			return fail("bpf");
		close(fd);
		return 0;
	}
	if (!strcmp(a, "userfaultfd")) { /* as nobody: a user-mode-only userfaultfd */
		if (setgid(65534) < 0 || setuid(65534) < 0)
			return fail("setuid");
		int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
		if (fd < 0)
			return fail("userfaultfd");
		close(fd);
		return 0;
	}
	if (!strcmp(a, "setuid")) { /* become nobody, then try (and fail) to become daemon */
		if (setuid(65534) < 0)
			return fail("setuid");
		if (setuid(1) == 0)
			return 1;
		return 0;
	}
	fprintf(stderr, "helper: unknown action %s\n", a);
	return 2;
}
