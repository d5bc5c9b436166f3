/*
 * libc_crash.c — a crash inside libc called from the program: copy_block
 * asks memcpy to copy into NULL, and memcpy faults. The report's first
 * frame is in libc.so.6, the next is copy_block.
 *
 * Prints "libc_crash: copying" (flushed) first.
 */
#include <stdio.h>
#include <string.h>

static volatile int calls;
static char source[4096];

__attribute__((noipa)) void copy_block(char *to, const char *from, size_t length) {
	memcpy(to, from, length);
	calls++;
}

int main(int argc, char **argv) {
	(void)argv;
	printf("libc_crash: copying\n");
	fflush(stdout);
	/* NULL, out of the compiler's sight (argc is 1). */
	copy_block((char *)0 + (argc - 1), source, sizeof source);
	return calls;
}
