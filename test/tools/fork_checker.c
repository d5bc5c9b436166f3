/*
 * fork_checker.c — a shared library for test/support/fixture-fork.ts: a
 * thread of its own that forks again and again while the process goes on
 * (launching programs, in the fixture). Each child sums a region of the
 * parent's memory it was given (JavaScript's, in the fixture) and exits 0
 * if the sum is the one expected, 1 if not; a child killed by a signal (a
 * page missing from it) counts as bad too.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static const unsigned char *region;
static size_t region_length;
static uint64_t expected_sum;
static volatile int stopping;
static int forks, bad, first_bad_status;
static pthread_t thread;

static uint64_t sum(void) {
	uint64_t s = 0;
	for (size_t i = 0; i < region_length; i++)
		s += region[i];
	return s;
}

static void *fork_again_and_again(void *unused) {
	(void)unused;
	while (!stopping) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(sum() == expected_sum ? 0 : 1);
		if (pid < 0) {
			bad++;
			continue;
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			;
		__atomic_fetch_add(&forks, 1, __ATOMIC_RELAXED);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (!bad) first_bad_status = status;
			bad++;
		}
	}
	return NULL;
}

/* Start forking; the region must stay as it is until fc_stop. */
int fc_start(const unsigned char *start, uint64_t length) {
	region = start;
	region_length = length;
	expected_sum = sum();
	stopping = 0;
	return pthread_create(&thread, NULL, fork_again_and_again, NULL);
}

/* Forks made so far. */
int fc_forks(void) {
	return __atomic_load_n(&forks, __ATOMIC_RELAXED);
}

/* Stop; out[0] the forks made, out[1] the children that found memory
 * missing or changed. */
int fc_stop(int64_t *out) {
	stopping = 1;
	int e = pthread_join(thread, NULL);
	out[0] = forks;
	out[1] = bad;
	out[2] = first_bad_status;
	return e;
}
