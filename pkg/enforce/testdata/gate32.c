/* A 32-bit program (gcc -m32 -static) for the ia32 enforcement test: `exec PATH` runs PATH
 * (execve through the ia32 table), `read PATH` prints the first bytes of PATH (open + read),
 * `connect PORT` and `socketcall PORT` connect to 127.0.0.1:PORT (the ia32 connect syscall,
 * or socketcall(SYS_CONNECT)) and print "connected". */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int conn(int port, int via_socketcall)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return 4;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	long r;
	if (via_socketcall) {
		unsigned long args[3] = {fd, (unsigned long)&sa, sizeof(sa)};
		r = syscall(SYS_socketcall, 3 /* SYS_CONNECT */, args);
	} else {
		r = syscall(SYS_connect, fd, &sa, sizeof(sa));
	}
	if (r < 0) {
		perror("connect");
		return 5;
	}
	printf("connected\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "exec") == 0) {
		char *args[] = {argv[2], "from-ia32", 0};
		execv(argv[2], args);
		perror("execv");
		return 2;
	}
	if (argc > 2 && strcmp(argv[1], "read") == 0) {
		char b[256];
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) {
			perror("open");
			return 3;
		}
		ssize_t n = read(fd, b, sizeof(b));
		if (n > 0)
			write(1, b, n);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "connect") == 0)
		return conn(atoi(argv[2]), 0);
	if (argc > 2 && strcmp(argv[1], "socketcall") == 0)
		return conn(atoi(argv[2]), 1);
	return 1;
}
