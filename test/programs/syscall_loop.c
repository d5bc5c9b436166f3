/*
 * syscall_loop.c — many cheap system calls that pass user memory to the
 * kernel (stat into a struct on the stack), for measuring what a pager adds
 * to each system call. Prints the count and whether every call succeeded.
 *
 *   syscall_loop [CALLS]   (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
	long calls = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	/* The path on the stack too: only the system calls are measured, not a
	 * first touch of .rodata by the kernel. */
	char path[] = "/";
	long ok = 0;
	for (long i = 0; i < calls; i++) {
		struct stat st;
		ok += stat(path, &st) == 0;
	}
	printf("%ld stat calls, %ld succeeded\n", calls, ok);
	return ok == calls ? 0 : 1;
}
