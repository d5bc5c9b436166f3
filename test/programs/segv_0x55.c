/*
 * segv_0x55.c — the lab handout's test program for friendly segfaults:
 * prints a line, then writes to address 0x55, inside the first page where
 * nothing is ever mapped.
 *
 * The line is flushed before the write: a crash ends the process without
 * flushing stdio, so on a pipe (as in the tests) it would otherwise be lost,
 * with or without the friendly library.
 */
#include <stdio.h>

int main(void) {
	printf("I'm going to segfault now.\n");
	fflush(stdout);
	*(volatile int *)0x55 = 1;
	printf("This line is never printed.\n");
	return 0;
}
