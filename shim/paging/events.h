/*
 * events.h — writing a demand-paged run's faults to the log, the trace and
 * the live event pipe (events.c), on Bun-side threads.
 */
#ifndef FAULTLINE_EVENTS_H
#define FAULTLINE_EVENTS_H

#include <stdint.h>
#include <sys/types.h>

#include "launch.h"

/* Where a run's faults are written, and what to call things in the lines. */
struct drainer {
	struct fl_launch_spec *spec;
	int log_fd;   /* -1: quiet */
	int trace_fd; /* -1: no trace */
	int event_fd; /* the live event pipe's non-blocking write end, or -1 */
	uint64_t events_undelivered; /* events the pipe had no room for */
	int trace_error; /* the first errno a trace write met, or 0 */
	char *pager;
	char *files[FL_FILE_COUNT];
	uint64_t start_ns;
	int child_done; /* set by the waiter once wait4 has returned */
	pid_t pid;      /* the program */
	int uffd;       /* its userfaultfd (the fault server's), or -1 */
	int file_fds[FL_FILE_COUNT]; /* the program's files, open in Bun (-1: none) */
	int done_fd;    /* eventfd the waiter signals when the program ends, or -1 */
	uint64_t ring_capacity; /* events the ring holds, read before the program could change it */
};


uint64_t fl_monotonic_now(void);

/* One "PAGER: map ..." line per page the event mapped, on d->log_fd. */
void fl_log_event(const struct drainer *d, const struct fl_event *e);

/* One JSON line for the event, on d->trace_fd; a failed write is recorded
 * in d->trace_error. */
void fl_trace_event(struct drainer *d, const struct fl_event *e);

/* The same line on d->event_fd, without ever waiting: when the pipe is full
 * the event is counted in d->events_undelivered instead. */
void fl_deliver_event(struct drainer *d, const struct fl_event *e);

/* Every one of the above the drainer asked for. */
void fl_emit_event(struct drainer *d, const struct fl_event *e);

/* Thread body: read the child's event ring (SIGSEGV paging) until the child
 * is done, writing each event out. */
void *fl_drain_events(void *arg);

void fl_free_drainer(struct drainer *d);

#endif
