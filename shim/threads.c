/*
 * threads.c — starting the shim's own threads inside the Bun process.
 */
#define _GNU_SOURCE
#include <signal.h>

#include "threads.h"

int fl_start_quiet_thread(pthread_t *thread, int detached, void *(*run)(void *), void *arg) {
	sigset_t block, previous;
	sigfillset(&block);
	sigdelset(&block, SIGPWR);
	pthread_attr_t attr;
	int e = pthread_sigmask(SIG_BLOCK, &block, &previous);
	if (e != 0)
		return e;
	e = pthread_attr_init(&attr);
	if (e == 0) {
		if (detached)
			e = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (e == 0)
			e = pthread_create(thread, &attr, run, arg);
		pthread_attr_destroy(&attr);
	}
	/* Restoring a mask the call above returned cannot fail (EINVAL is for a
	 * bad `how`). */
	(void)pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return e;
}
