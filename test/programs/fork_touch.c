/*
 * fork_touch.c — a program that forks and keeps touching pages it has not
 * touched before, in both processes, some the same, some not. Each process
 * prints a checksum of what it wrote and read; the child goes first.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 4096

static unsigned char shared_half[PAGES / 2 * PAGE];
static unsigned char own_half[PAGES / 2 * PAGE];

static unsigned long touch(const char *who, int salt) {
	unsigned long sum = 0;
	for (int p = 0; p < PAGES / 2; p++) {
		/* volatile: every page must really be touched, not optimized away */
		volatile unsigned char *a = &shared_half[p * PAGE];
		volatile unsigned char *b = &own_half[p * PAGE + salt];
		*a = (unsigned char)(p ^ salt);
		*b = (unsigned char)(p + salt);
		sum += *a + *b;
	}
	printf("%s: touched %d fresh pages, sum %lu\n", who, PAGES, sum);
	fflush(stdout);
	return sum;
}

int main(void) {
	fflush(stdout);
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		touch("child", 7);
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	touch("parent", 3);
	return 0;
}
