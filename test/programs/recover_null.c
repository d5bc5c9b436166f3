/*
 * recover_null.c — a program with a SIGSEGV handler of its own: it
 * dereferences NULL on purpose, recovers with siglongjmp, and then touches
 * many pages it has never touched. A pager whose faults arrive as SIGSEGV
 * would have its handler replaced here. Checks that its handler sees its
 * own fault (NULL, SEGV_MAPERR) and that sigaction reports the handler it
 * set. Prints each step.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PAGE 4096
#define FRESH_PAGES 2048
#define ROUNDS 3

static char fresh[ROUNDS][FRESH_PAGES * PAGE];
static sigjmp_buf recovery;
static volatile void *seen_address;
static volatile int seen_code;

static void on_segv(int sig, siginfo_t *info, void *context) {
	(void)sig;
	(void)context;
	seen_address = info->si_addr;
	seen_code = info->si_code;
	siglongjmp(recovery, 1);
}

int main(void) {
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_sigaction = on_segv;
	action.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSEGV, &action, NULL) != 0) {
		perror("sigaction");
		return 1;
	}
	struct sigaction current;
	if (sigaction(SIGSEGV, NULL, &current) != 0) {
		perror("sigaction");
		return 1;
	}
	printf("sigaction reports our handler: %s\n", current.sa_sigaction == on_segv ? "yes" : "no");
	for (int round = 0; round < ROUNDS; round++) {
		if (sigsetjmp(recovery, 1) == 0) {
			volatile int *null = NULL;
			(void)*null;
			printf("round %d: no fault?\n", round);
			return 1;
		}
		printf("round %d: recovered from our own fault at %p (%s)\n", round, (void *)seen_address,
		       seen_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other");
		unsigned long sum = 0;
		for (int p = 0; p < FRESH_PAGES; p++) {
			/* volatile: every page must really be touched, not optimized away */
			volatile char *byte = &fresh[round][p * PAGE];
			*byte = (char)(p + round);
			sum += (unsigned char)*byte;
		}
		printf("round %d: touched %d fresh pages, sum %lu\n", round, FRESH_PAGES, sum);
	}
	return 0;
}
