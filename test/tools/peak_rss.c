/*
 * peak_rss.c — run a program natively and report its peak resident set.
 *
 *   peak_rss PROGRAM [ARGS...]
 *
 * Linux's ru_maxrss for a child includes the memory its parent had at the
 * fork until the exec replaced it, so a peak measured from Bun.spawn counts
 * Bun's tens of megabytes. This launcher is static and tiny: what it adds to
 * the figure is a few hundred KiB, which the comparison allows for. The
 * program's output is untouched; the figures go to stderr as the last line:
 * "peak_rss_kib N minor_faults N wall_us N" (minor faults: pages the kernel
 * mapped on first touch; wall time from the fork to the end of wait4). The
 * exit status is the program's (128 + signal if killed).
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: peak_rss PROGRAM [ARGS...]\n");
		return 2;
	}
	struct timespec started, ended;
	clock_gettime(CLOCK_MONOTONIC, &started);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror("execvp");
		_exit(127);
	}
	int status;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) < 0) {
		perror("wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ended);
	long wall_us = (ended.tv_sec - started.tv_sec) * 1000000L + (ended.tv_nsec - started.tv_nsec) / 1000L;
	fprintf(stderr, "peak_rss_kib %ld minor_faults %ld wall_us %ld\n", usage.ru_maxrss, usage.ru_minflt, wall_us);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
