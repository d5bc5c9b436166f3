/*
 * crash.c — genuine memory errors, one per mode, for checking that every
 * pager ends the program exactly as a native run ends: same signal, same
 * status, nothing printed in between.
 *
 *   crash MODE    null_read | null_write | write_text | write_rodata |
 *                 exec_data | stack_overflow | past_bss | abort |
 *                 div_zero | kill_segv
 *
 * Prints "crash: MODE" (flushed) before the error, so the tests also see
 * that the program ran up to it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char rodata[] = "read-only";
static unsigned char data_code[64] = { 0xc3 }; /* "ret", in a non-executable page */
static char bss[3 * 4096];
extern char _end[];

/* Distance past the end of the bss that lies beyond the heap, whatever the
 * randomized brk offset (at most 32 MiB) and the heap's size here. */
#define BEYOND_HEAP (64u << 20)

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
	else {
		fprintf(stderr, "crash: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("crash: survived %s\n", mode);
	return 0;
}
