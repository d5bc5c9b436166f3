/*
 * serve.h — the userfaultfd fault server (serve.c).
 */
#ifndef FAULTLINE_SERVE_H
#define FAULTLINE_SERVE_H

#include <pthread.h>

/* Thread body: take the child's userfaultfd (arg is the run's struct
 * paged_run) and serve its faults until the program has ended. */
void *fl_serve_faults(void *arg);

/* Put the server thread back under the normal policy, on any CPU (best
 * effort), so that it ends promptly. */
void fl_serve_normally(pthread_t server);

#endif
