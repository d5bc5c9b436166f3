/*
 * threads.h — starting the shim's own threads inside the Bun process.
 */
#ifndef FAULTLINE_THREADS_H
#define FAULTLINE_THREADS_H

#include <pthread.h>

/* Start a thread with every signal blocked but SIGPWR, which
 * JavaScriptCore's collector relies on being deliverable; the new thread
 * inherits the mask, so it takes no signal meant for Bun's own threads.
 * Returns 0 or an errno. */
int fl_start_quiet_thread(pthread_t *thread, int detached, void *(*run)(void *), void *arg);

/* Run run(arg) on a thread of the shim's pool, which starts one when none
 * is idle. Returns 0 or an errno. */
int fl_run_pooled(void *(*run)(void *), void *arg);

#endif
