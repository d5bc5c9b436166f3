/*
 * thread_crash.c — a crash on a thread other than the main one, for the
 * friendly library: the handler must still report it.
 *
 *   thread_crash null       the second thread writes through a NULL pointer
 *   thread_crash overflow   the second thread recurses until its stack ends
 *
 * Prints "thread_crash: MODE" (flushed) first; the main thread waits in
 * pthread_join, so the fault is the second thread's alone.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Recurses until the stack runs out; the bound is never reached, but it
 * keeps the compiler from calling the recursion infinite. */
static int recurse(long depth) {
	volatile char frame[1024];
	frame[0] = (char)depth;
	if (depth == __LONG_MAX__)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

static void *crash(void *mode) {
	if (strcmp(mode, "overflow") == 0)
		return (void *)(long)recurse(0);
	*(volatile int *)0 = 1;
	return NULL;
}

int main(int argc, char **argv) {
	char *mode = argc > 1 ? argv[1] : "null";
	printf("thread_crash: %s\n", mode);
	fflush(stdout);
	pthread_t thread;
	int error = pthread_create(&thread, NULL, crash, mode);
	if (error != 0) {
		fprintf(stderr, "thread_crash: pthread_create: %s\n", strerror(error));
		return 2;
	}
	pthread_join(thread, NULL);
	printf("thread_crash: survived %s\n", mode);
	return 0;
}
