/*
 * crash.c — genuine memory errors, one per mode, for checking that every
 * pager ends the program exactly as a native run ends: same signal, same
 * status, nothing printed in between.
 *
 *   crash MODE    null_read | null_write | write_text | write_rodata |
 *                 exec_data | stack_overflow | past_bss | abort |
 *                 div_zero | kill_segv | protect_bss | guard_bss |
 *                 no_descriptors | in_handler
 *
 * no_descriptors opens descriptors until it can open no more (EMFILE),
 * then writes through NULL: a crash handler that needs a descriptor gets
 * none. in_handler writes through NULL in its own SIGUSR1 handler, which
 * it raises.
 *
 * protect_bss and guard_bss touch a bss page, then take its access away
 * themselves (mprotect read-only, or none), then write to it, or read it.
 *
 * Prints "crash: MODE" (flushed) before the error, so the tests also see
 * that the program ran up to it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char rodata[] = "read-only";
static unsigned char data_code[64] = { 0xc3 }; /* "ret", in a non-executable page */
static char bss[3 * 4096];
static char own_page[4096] __attribute__((aligned(4096)));
extern char _end[];

/* Distance past the end of the bss that lies beyond the heap, whatever the
 * randomized brk offset (at most 32 MiB) and the heap's size here. */
#define BEYOND_HEAP (64u << 20)

static void write_null(int sig) {
	(void)sig;
	*(volatile int *)0 = 1;
}

/* Recurses until the stack runs out; the bound is never reached, but it
 * keeps the compiler from calling the recursion infinite. */
static int recurse(long depth) {
	volatile char frame[1024];
	frame[0] = (char)depth;
	if (depth == __LONG_MAX__)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	printf("crash: %s\n", mode);
	fflush(stdout);
	bss[0] = 1;
	if (!strcmp(mode, "null_read"))
		return *(volatile int *)0;
	if (!strcmp(mode, "null_write"))
		*(volatile int *)0 = 1;
	else if (!strcmp(mode, "write_text"))
		*(volatile unsigned char *)(void *)main = 0;
	else if (!strcmp(mode, "write_rodata"))
		*(volatile char *)rodata = 'X';
	else if (!strcmp(mode, "exec_data"))
		((void (*)(void))(void *)data_code)();
	else if (!strcmp(mode, "stack_overflow"))
		return recurse(0);
	else if (!strcmp(mode, "past_bss"))
		return *(volatile char *)(_end + BEYOND_HEAP);
	else if (!strcmp(mode, "abort"))
		abort();
	else if (!strcmp(mode, "div_zero")) {
		/* Both volatile: the compiler turns 1 / x into a comparison. */
		volatile int numerator = 7, zero = 0;
		return numerator / zero;
	} else if (!strcmp(mode, "kill_segv"))
		kill(getpid(), SIGSEGV);
	else if (!strcmp(mode, "in_handler")) {
		signal(SIGUSR1, write_null);
		raise(SIGUSR1);
	} else if (!strcmp(mode, "no_descriptors")) {
		while (open("/dev/null", O_RDONLY) >= 0)
			;
		*(volatile int *)0 = 1;
	}
	else if (!strcmp(mode, "protect_bss") || !strcmp(mode, "guard_bss")) {
		*(volatile char *)own_page = 1;
		int read_only = !strcmp(mode, "protect_bss");
		if (mprotect(own_page, sizeof own_page, read_only ? PROT_READ : PROT_NONE) != 0) {
			perror("crash: mprotect");
			return 2;
		}
		if (read_only)
			*(volatile char *)own_page = 2;
		else
			return *(volatile char *)own_page;
	}
	else {
		fprintf(stderr, "crash: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("crash: survived %s\n", mode);
	return 0;
}
