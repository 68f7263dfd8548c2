/* A 32-bit program (gcc -m32 -static) for the ia32 enforcement test: `exec PATH` runs PATH
 * (execve through the ia32 table), `read PATH` prints the first bytes of PATH (open + read). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	return 1;
}
