/*
 * own_handler.c — a program with a SIGSEGV handler of its own, installed in
 * main (after any LD_PRELOAD constructor has run): the handler it installed
 * must be the one that runs. Writes to address 0x55, then its handler
 * prints "own_handler: caught SIGSEGV at 0x55" and exits with status 42.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OWN_STATUS 42

static void on_segv(int sig, siginfo_t *info, void *context) {
	(void)sig;
	(void)context;
	/* Async-signal-safe: format by hand, then write. */
	static const char prefix[] = "own_handler: caught SIGSEGV at 0x";
	char line[64];
	size_t n = sizeof prefix - 1;
	memcpy(line, prefix, n);
	unsigned long address = (unsigned long)info->si_addr;
	char digits[16];
	int count = 0;
	do {
		digits[count++] = "0123456789abcdef"[address & 0xf];
		address >>= 4;
	} while (address != 0);
	while (count > 0)
		line[n++] = digits[--count];
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, n) < 0)
		_exit(1);
	_exit(OWN_STATUS);
}

int main(void) {
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_sigaction = on_segv;
	action.sa_flags = SA_SIGINFO;
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGSEGV, &action, NULL) != 0) {
		perror("own_handler: sigaction");
		return 2;
	}
	*(volatile int *)0x55 = 1;
	return 0;
}
