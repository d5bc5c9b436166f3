/*
 * execve_verdict.c — the kernel's own verdict on a file: run it with
 * execve(2) and report what happened, for tests that compare faultline's
 * verdict with the kernel's on this very machine.
 *
 *   execve_verdict [--pad COUNT LENGTH]... PROGRAM [ARGS...]
 *
 * PROGRAM is passed to execve as given (no PATH search, and no shell: a shell
 * runs a file that execve refuses with ENOEXEC as a script of its own), with
 * argv[0] = PROGRAM, then ARGS, then for each --pad, COUNT more arguments of
 * LENGTH bytes each ('x'), made here so that arguments near the kernel's
 * E2BIG limit need not pass through this launcher's own execve first. The
 * environment is this process's.
 *
 * The program's output is untouched; the verdict is the last line on stderr:
 *   execve_verdict errno=NAME    execve refused (ENOEXEC, EACCES, E2BIG, ...)
 *   execve_verdict exit=N        the program ran and exited with status N
 *   execve_verdict signal=N      the process ended by signal N: the program's
 *                                own fault, or the kernel's after execve's
 *                                point of no return
 * The exit status follows the shells: 127 for ENOENT, 126 for another errno,
 * else the program's own (128 + N for a signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The most --pad options one call may give. */
#define MAX_PADS 8

struct pad {
	long count;
	long length;
};

static int usage(void) {
	fprintf(stderr, "usage: execve_verdict [--pad COUNT LENGTH]... PROGRAM [ARGS...]\n");
	return 2;
}

/* PROGRAM's argv: the given words, then the padding arguments. Exits on a
 * failed allocation: there is no verdict to give then. */
static char **program_argv(char **words, int nwords, const struct pad *pads, int npads) {
	long total = nwords;
	for (int i = 0; i < npads; i++)
		total += pads[i].count;
	char **argv = calloc((size_t)total + 1, sizeof *argv);
	if (!argv) {
		perror("calloc");
		exit(1);
	}
	long at = 0;
	for (int i = 0; i < nwords; i++)
		argv[at++] = words[i];
	for (int i = 0; i < npads; i++) {
		char *word = malloc((size_t)pads[i].length + 1);
		if (!word) {
			perror("malloc");
			exit(1);
		}
		memset(word, 'x', (size_t)pads[i].length);
		word[pads[i].length] = 0;
		for (long j = 0; j < pads[i].count; j++)
			argv[at++] = word;
	}
	return argv;
}

int main(int argc, char **argv) {
	struct pad pads[MAX_PADS];
	int npads = 0;
	int first = 1;
	while (first < argc && strcmp(argv[first], "--pad") == 0) {
		if (first + 2 >= argc || npads == MAX_PADS)
			return usage();
		pads[npads].count = atol(argv[first + 1]);
		pads[npads].length = atol(argv[first + 2]);
		if (pads[npads].count < 0 || pads[npads].length < 0)
			return usage();
		npads++;
		first += 3;
	}
	if (first >= argc)
		return usage();
	char **program = program_argv(argv + first, argc - first, pads, npads);

	/* The child writes execve's errno here; a successful execve closes the
	 * pipe (close-on-exec), so then the parent reads nothing. */
	int report[2];
	if (pipe2(report, O_CLOEXEC) != 0) {
		perror("pipe2");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(report[0]);
		execve(program[0], program, environ);
		int error = errno;
		(void)!write(report[1], &error, sizeof error);
		_exit(127);
	}
	close(report[1]);
	int error = 0;
	ssize_t n;
	do
		n = read(report[0], &error, sizeof error);
	while (n < 0 && errno == EINTR);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	}
	if (n == (ssize_t)sizeof error) {
		fprintf(stderr, "execve_verdict errno=%s\n", strerrorname_np(error));
		return error == ENOENT ? 127 : 126;
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "execve_verdict signal=%d\n", WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	fprintf(stderr, "execve_verdict exit=%d\n", WEXITSTATUS(status));
	return WEXITSTATUS(status);
}
