/*
 * thread_churn.c — starts and joins THREADS threads one after another, each
 * doing nothing: the cost of thread creation dominates, which is what the
 * friendly library's pthread_create wrapper adds to (an alternate signal
 * stack per thread). Prints the number of threads run.
 *
 *   thread_churn [THREADS]   (default 2000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *nothing(void *arg) {
	return arg;
}

int main(int argc, char **argv) {
	long threads = argc > 1 ? atol(argv[1]) : 2000;
	for (long i = 0; i < threads; i++) {
		pthread_t thread;
		int error = pthread_create(&thread, NULL, nothing, NULL);
		if (error == 0)
			error = pthread_join(thread, NULL);
		if (error != 0) {
			fprintf(stderr, "thread_churn: thread %ld: %s\n", i, strerror(error));
			return 1;
		}
	}
	printf("%ld threads\n", threads);
	return 0;
}
