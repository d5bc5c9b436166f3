/*
 * deep_calls.c — a crash at the bottom of argv[1] calls (default 50) that
 * alternate between ping and pong, so no two consecutive frames have the
 * same return address: the report shows its 33 frames and says how many
 * more there are.
 *
 * Prints "deep_calls: N" (flushed) first.
 */
#include <stdio.h>
#include <stdlib.h>

static volatile int calls;
/* NULL, out of the compiler's sight. */
static int *volatile target;

int pong(int depth, int *p);

__attribute__((noinline)) int ping(int depth, int *p) {
	if (depth == 0)
		*p = 42;
	else
		pong(depth - 1, p);
	return ++calls;
}

__attribute__((noinline)) int pong(int depth, int *p) {
	if (depth == 0)
		*p = 42;
	else
		ping(depth - 1, p);
	return ++calls;
}

int main(int argc, char **argv) {
	int depth = argc > 1 ? atoi(argv[1]) : 50;
	printf("deep_calls: %d\n", depth);
	fflush(stdout);
	return ping(depth, target);
}
