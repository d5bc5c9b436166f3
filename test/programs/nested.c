/*
 * nested.c — the crash of issue 15: main calls middle, which calls
 * deep_write with NULL + 0x10, which writes through it. The report must say
 * where: deep_write, then middle, then main, each with its source line when
 * built with -g. noinline and the statements after each call keep the
 * three frames real at -O2 (no inlining, no tail calls).
 *
 * Prints "nested: calling middle" (flushed) first.
 */
#include <stdio.h>

static volatile int calls;

__attribute__((noinline)) void deep_write(int *p) {
	*p = 42;
	calls++;
}

__attribute__((noinline)) void middle(int *p) {
	deep_write(p);
	calls++;
}

int main(int argc, char **argv) {
	(void)argv;
	printf("nested: calling middle\n");
	fflush(stdout);
	/* NULL + 0x10, out of the compiler's sight (argc is 1). */
	middle((int *)((char *)0 + 0x10 + (argc - 1)));
	return calls;
}
