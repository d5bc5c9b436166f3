/*
 * handover.c — set up process state a caller hands to what it runs, then
 * exec a command: the same state for a native run and for a pager, so the
 * two can be compared.
 *
 *   handover [--block SIGS] [--ignore SIGS] [--pend SIGS] [--alarm SECONDS]
 *            [--nofile SOFT] [--fd N=PATH]... [--umask OCTAL] [--nice N]
 *            [--pdeathsig SIG] -- COMMAND [ARGS...]
 *
 * SIGS is a comma-separated list of signal numbers. --pend blocks each and
 * raises it, so it is pending when COMMAND starts. --fd opens PATH for
 * reading at descriptor N, without close-on-exec. Exits 127 if COMMAND
 * cannot be run, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static void usage(void) {
	fprintf(stderr, "usage: handover [--block SIGS] [--ignore SIGS] [--pend SIGS] [--alarm SECONDS] "
			"[--nofile SOFT] [--fd N=PATH]... [--umask OCTAL] [--nice N] [--pdeathsig SIG] -- COMMAND [ARGS...]\n");
	exit(2);
}

static void each_signal(const char *list, void (*apply)(int)) {
	char *copy = strdup(list);
	for (char *word = strtok(copy, ","); word; word = strtok(NULL, ","))
		apply(atoi(word));
	free(copy);
}

static void fail(const char *what) {
	fprintf(stderr, "handover: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void block(int sig) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		fail("sigprocmask");
}

static void ignore(int sig) {
	if (signal(sig, SIG_IGN) == SIG_ERR)
		fail("signal");
}

static void pend(int sig) {
	block(sig);
	if (raise(sig) != 0)
		fail("raise");
}

static void open_at(const char *spec) {
	char *equals = strchr(spec, '=');
	if (!equals)
		usage();
	int target = atoi(spec);
	int fd = open(equals + 1, O_RDONLY);
	if (fd < 0)
		fail(equals + 1);
	if (fd != target && (dup2(fd, target) < 0 || close(fd) != 0))
		fail("dup2");
}

int main(int argc, char **argv) {
	int i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
		if (i + 1 >= argc)
			usage();
		const char *option = argv[i], *value = argv[i + 1];
		if (strcmp(option, "--block") == 0)
			each_signal(value, block);
		else if (strcmp(option, "--ignore") == 0)
			each_signal(value, ignore);
		else if (strcmp(option, "--pend") == 0)
			each_signal(value, pend);
		else if (strcmp(option, "--alarm") == 0)
			alarm((unsigned)atoi(value));
		else if (strcmp(option, "--nofile") == 0) {
			struct rlimit limit;
			if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
				fail("getrlimit");
			limit.rlim_cur = (rlim_t)atol(value);
			if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
				fail("setrlimit");
		} else if (strcmp(option, "--fd") == 0)
			open_at(value);
		else if (strcmp(option, "--umask") == 0)
			umask((mode_t)strtol(value, NULL, 8));
		else if (strcmp(option, "--nice") == 0) {
			errno = 0;
			if (nice(atoi(value)) == -1 && errno != 0)
				fail("nice");
		} else if (strcmp(option, "--pdeathsig") == 0) {
			if (prctl(PR_SET_PDEATHSIG, atoi(value)) != 0)
				fail("prctl");
		} else
			usage();
	}
	if (i + 1 >= argc)
		usage();
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "handover: %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}
