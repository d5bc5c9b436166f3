/*
 * event-ring.h — the program's side of the event ring (event-ring.c): the
 * SIGSEGV handler's faults and counts, written into the window of the
 * plan's memory that Bun's watch reads (events.c).
 */
#ifndef FAULTLINE_EVENT_RING_H
#define FAULTLINE_EVENT_RING_H

#include <stdint.h>

#include "launch.h"
#include "common/sys.h"

/* Map the ring window of the plan (spec_fd, at spec->ring_offset), shared
 * with Bun, and write to it from now on. */
__attribute__((visibility("hidden"))) sys_result fl_ring_attach(const struct fl_launch_spec *spec, int spec_fd);

/* CLOCK_MONOTONIC in nanoseconds, an event's time. */
__attribute__((visibility("hidden"))) uint64_t fl_ring_clock(void);

/* Count one more of `count`. */
__attribute__((visibility("hidden"))) void fl_ring_count(enum fl_count count);

/* Record the first errno the handler met (later ones are dropped). */
__attribute__((visibility("hidden"))) void fl_ring_note_error(uint64_t error);

/* Append an event if the plan wants events; waits a bounded time for room,
 * then stops logging. */
__attribute__((visibility("hidden"))) void fl_ring_publish(const struct fl_launch_spec *spec, const struct fl_event *event);

#endif
