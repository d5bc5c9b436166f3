/*
 * events.h — writing a demand-paged run's faults to the log, the trace and
 * the live event pipe (events.c), on Bun-side threads.
 */
#ifndef FAULTLINE_EVENTS_H
#define FAULTLINE_EVENTS_H

#include <stdint.h>
#include <sys/types.h>

#include "launch.h"

/* A demand-paged run as Bun's paging thread (the ring's drainer, or the
 * userfaultfd server) sees it: the program and its files, where its faults
 * are written and what to call things in the lines, and whether it has
 * ended. */
struct paged_run {
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

/* One "PAGER: map ..." line per page the event mapped, on run->log_fd. */
void fl_log_event(const struct paged_run *run, const struct fl_event *e);

/* One JSON line for the event, on run->trace_fd; a failed write is recorded
 * in run->trace_error. */
void fl_trace_event(struct paged_run *run, const struct fl_event *e);

/* The same line on run->event_fd, without ever waiting: when the pipe is full
 * the event is counted in run->events_undelivered instead. */
void fl_deliver_event(struct paged_run *run, const struct fl_event *e);

/* Every one of the above the run asked for. */
void fl_emit_event(struct paged_run *run, const struct fl_event *e);

/* Thread body: read the child's event ring (SIGSEGV paging) until the child
 * is done, writing each event out. */
void *fl_drain_events(void *arg);

void fl_free_paged_run(struct paged_run *run);

#endif
