/*
 * debuggee.c — a program to debug: main calls compute(7) and prints
 * `compute=43`; with argv[1] `crash`, it then writes through NULL in
 * crash_here (SIGSEGV). Built with -g -O0 (the debug-O0 profile) for gdb's
 * breakpoints and backtraces, natively and under the pagers.
 */
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) int compute(int x) {
	return x * 6 + 1;
}

__attribute__((noinline)) void crash_here(volatile int *p) {
	*p = 42;
}

int main(int argc, char **argv) {
	printf("compute=%d\n", compute(7));
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "crash") == 0)
		crash_here(NULL);
	return 0;
}
