/*
 * threads.c — starting the shim's own threads inside the Bun process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "common/threads.h"

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

/*
 * A pool of quiet threads for short-lived work (a launch's waiter): a
 * thread costs a stack's mapping and a clone to start, which a launch
 * should not pay each time. Idle threads wait for a task; one is started
 * when none is idle. Never shrinks: as many stay as were busy at once.
 */
struct pool_task {
	void *(*run)(void *);
	void *arg;
	struct pool_task *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static struct pool_task *pool_queue;
static int pool_idle;

static void *pool_worker(void *unused) {
	(void)unused;
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (!pool_queue) {
			pool_idle++;
			pthread_cond_wait(&pool_wake, &pool_lock);
			pool_idle--;
		}
		struct pool_task *task = pool_queue;
		pool_queue = task->next;
		pthread_mutex_unlock(&pool_lock);
		task->run(task->arg);
		free(task);
		pthread_mutex_lock(&pool_lock);
	}
	return NULL;
}

int fl_run_pooled(void *(*run)(void *), void *arg) {
	struct pool_task *task = malloc(sizeof *task);
	if (!task)
		return ENOMEM;
	*task = (struct pool_task){ .run = run, .arg = arg, .next = NULL };
	pthread_mutex_lock(&pool_lock);
	struct pool_task **tail = &pool_queue;
	while (*tail)
		tail = &(*tail)->next;
	*tail = task;
	int e = 0;
	if (pool_idle == 0) {
		pthread_t thread;
		e = fl_start_quiet_thread(&thread, 1, pool_worker, NULL);
		if (e != 0)
			*tail = NULL;
	} else {
		pthread_cond_signal(&pool_wake);
	}
	pthread_mutex_unlock(&pool_lock);
	if (e != 0)
		free(task);
	return e;
}
