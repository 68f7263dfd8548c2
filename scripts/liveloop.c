/* The workloads of scripts/bench-live.sh (scripts/benchlive) (built by it with gcc):
 *   liveloop getppid N              N getppid calls; prints the ns per call
 *   liveloop openclose N PATH       N open+close of PATH; prints the ns per iteration
 *   liveloop rate ITERS SECS PATH   open+close of PATH paced at ITERS iterations a second for
 *                                   SECS seconds (1 ms slices); prints the iterations a second
 *                                   done (less than ITERS when it cannot keep the pace)
 *   liveloop threads N              starts N threads that sleep, prints "ready", and waits for
 *                                   its stdin to close
 * Raw syscalls (no libc wrapper cost differences between builds). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void openclose(const char *path)
{
	long fd = syscall(SYS_open, path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	syscall(SYS_close, fd);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: liveloop getppid N | openclose N PATH | rate ITERS SECS PATH | threads N\n");
		return 2;
	}
	long n = atol(argv[2]);
	if (strcmp(argv[1], "getppid") == 0) {
		long t0 = now_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%.1f\n", (double)(now_ns() - t0) / n);
		return 0;
	}
	if (strcmp(argv[1], "openclose") == 0 && argc > 3) {
		long t0 = now_ns();
		for (long i = 0; i < n; i++)
			openclose(argv[3]);
		printf("%.1f\n", (double)(now_ns() - t0) / n);
		return 0;
	}
	if (strcmp(argv[1], "rate") == 0 && argc > 4) {
		long secs = atol(argv[3]), per = n / 1000, done = 0;
		long t0 = now_ns(), end = t0 + secs * 1000000000L, t;
		for (long slice = 1; (t = now_ns()) < end; slice++) {
			for (long i = 0; i < per; i++)
				openclose(argv[4]);
			done += per;
			long next = t0 + slice * 1000000L;
			if (next > t) { /* ahead of the pace: sleep, leaving the CPU to Saker */
				struct timespec ts = {next / 1000000000L, next % 1000000000L};
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			}
		}
		printf("%.1f\n", done / ((double)(now_ns() - t0) / 1e9)); /* iterations a second done */
		return 0;
	}
	if (strcmp(argv[1], "threads") == 0) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 << 10);
		for (long i = 0; i < n; i++) {
			pthread_t t;
			if (pthread_create(&t, &attr, sleeper, NULL) != 0) {
				perror("pthread_create");
				return 1;
			}
		}
		printf("ready\n");
		fflush(stdout);
		char b[64];
		while (read(0, b, sizeof b) > 0)
			;
		return 0;
	}
	fprintf(stderr, "liveloop: unknown mode %s\n", argv[1]);
	return 2;
}
