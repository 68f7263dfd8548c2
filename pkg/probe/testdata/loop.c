/* A syscall loop for the probe's benchmarks, through one gate chosen at build time (the same
 * -DGATE_* as gates.c): `loop getppid N` calls getppid N times, `loop openclose N PATH` opens
 * and closes PATH N times. */
#include <stdint.h>
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
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}
#elif defined(GATE_IA32)
static long sys3(long n, long a, long b, long c)
{
	long r;
	/* the vDSO's entry (sysenter/syscall), as libc's wrappers use it */
	__asm__ volatile("call *%%gs:0x10" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}
#else
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
#endif

static char path[4096];

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	if (strcmp(argv[1], "getppid") == 0) {
		for (long i = 0; i < n; i++)
			sys3(NR(getppid, getppid), 0, 0, 0);
		return 0;
	}
	if (strcmp(argv[1], "openclose") == 0 && argc > 3) {
		strncpy(path, argv[3], sizeof(path) - 1);
		for (long i = 0; i < n; i++) {
			long fd = sys3(NR(open, open), (long)(uintptr_t)path, 0, 0);
			if (fd < 0)
				return 1;
			sys3(NR(close, close), fd, 0, 0);
		}
		return 0;
	}
	return 2;
}
