/*
 * serve.h — the userfaultfd fault server (serve.c).
 */
#ifndef FAULTLINE_SERVE_H
#define FAULTLINE_SERVE_H

/* Thread body: take the child's userfaultfd (arg is the run's struct
 * drainer) and serve its faults until the program has ended. */
void *fl_serve_faults(void *arg);

#endif
