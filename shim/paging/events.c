/*
 * events.c — the parent's side of a demand-paged run's log and trace: each
 * fault (or the start) as "PAGER: map ..." lines on the pager's stderr, as
 * a JSON line in the trace, and as the same line on the live event pipe
 * that spawn()'s onFault and onMapping read. Events come from the child's
 * ring (SIGSEGV paging, drain_events) or straight from the userfaultfd
 * server (serve.c).
 * Runs on Bun-side threads; uses libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/kernel.h"
#include "paging/events.h"
#include "paging/regions.h"

uint64_t fl_monotonic_now(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * NS_PER_SECOND + (uint64_t)now.tv_nsec;
}

static const char *protection_text(uint64_t prot) {
	static const char *const names[] = { "---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx" };
	return names[prot & 7];
}

static const char *decision_text(uint64_t decision) {
	switch (decision) {
	case FL_DECIDE_NEXT: return "next";
	case FL_DECIDE_STRIDE_LEARNING: return "stride-learning";
	case FL_DECIDE_STRIDE: return "stride";
	case FL_DECIDE_READAHEAD_HIT: return "readahead-hit";
	case FL_DECIDE_READAHEAD_MISS: return "readahead-miss";
	default: return "none";
	}
}

static const char *base_name(const char *path) {
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* One "PAGER: map ..." line per page the event mapped. */
void fl_log_event(const struct paged_run *run, const struct fl_event *e) {
	for (uint64_t i = 0; i < e->count && i < FL_EVENT_PAGES; i++) {
		uint64_t page = e->pages[i];
		const struct fl_region *r = fl_find_region(run->spec, page);
		if (!r)
			continue;
		char offset[32] = "-";
		if (r->offset != FL_ANONYMOUS)
			snprintf(offset, sizeof offset, "0x%llx", (unsigned long long)(r->offset + page - r->start));
		const char *file = run->files[r->file] ? run->files[r->file] : "?";
		char source[4200];
		if (r->offset == FL_ANONYMOUS)
			snprintf(source, sizeof source, "anon=bss(%s)", base_name(file));
		else
			snprintf(source, sizeof source, "file=%s", file);
		char why[96];
		if (e->kind == FL_EVENT_START)
			snprintf(why, sizeof why, "start");
		else if (i == 0)
			snprintf(why, sizeof why, "fault=0x%llx", (unsigned long long)e->fault_address);
		else
			snprintf(why, sizeof why, "predicted=%s", decision_text(e->decision));
		dprintf(run->log_fd, "%s: map addr=0x%llx size=0x%llx off=%s prot=%s %s %s\n", run->pager,
			(unsigned long long)page, (unsigned long long)FL_PAGE_SIZE, offset,
			protection_text(r->prot), source, why);
	}
}

/* The longest trace line: its fixed text and numbers (under 200 bytes) and
 * up to FL_EVENT_PAGES addresses of at most 21 bytes each ("0x...",). It
 * stays below PIPE_BUF, so one write to a pipe puts it there whole or not
 * at all. */
#define TRACE_LINE_BYTES 1024
_Static_assert(TRACE_LINE_BYTES <= PIPE_BUF, "a trace line must be one atomic pipe write");

/* One JSON line per fault (or start), as --trace writes it, into line;
 * returns its length. */
static size_t trace_line(const struct paged_run *run, const struct fl_event *e, char line[TRACE_LINE_BYTES]) {
	char mapped[FL_EVENT_PAGES * 24 + 8];
	size_t at = 0;
	mapped[at++] = '[';
	for (uint64_t i = 0; i < e->count && i < FL_EVENT_PAGES; i++)
		at += (size_t)snprintf(mapped + at, sizeof mapped - at, "%s\"0x%llx\"", i ? "," : "",
				       (unsigned long long)e->pages[i]);
	snprintf(mapped + at, sizeof mapped - at, "]");
	double ms = e->time_ns > run->start_ns ? (double)(e->time_ns - run->start_ns) / 1e6 : 0.0;
	int n;
	if (e->kind == FL_EVENT_START)
		n = snprintf(line, TRACE_LINE_BYTES, "{\"t_ms\":%.6f,\"kind\":\"start\",\"mapped\":%s}\n", ms, mapped);
	else
		n = snprintf(line, TRACE_LINE_BYTES,
			     "{\"t_ms\":%.6f,\"kind\":\"fault\",\"fault\":\"0x%llx\",\"page\":\"0x%llx\","
			     "\"mapped\":%s,\"predicted\":%llu,\"decision\":\"%s\"}\n",
			     ms, (unsigned long long)e->fault_address, (unsigned long long)fl_page_down(e->fault_address),
			     mapped, (unsigned long long)(e->count ? e->count - 1 : 0), decision_text(e->decision));
	/* snprintf cannot fail on these formats; the bound above keeps it whole. */
	return n < 0 ? 0 : (size_t)n < TRACE_LINE_BYTES ? (size_t)n : TRACE_LINE_BYTES - 1;
}

void fl_trace_event(struct paged_run *run, const struct fl_event *e) {
	char line[TRACE_LINE_BYTES];
	size_t length = trace_line(run, e, line);
	for (size_t at = 0; at < length && run->trace_error == 0;) {
		ssize_t n = write(run->trace_fd, line + at, length - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Full disk, a closed pipe: the rest of the trace is lost, and
			 * the pager says so once the program has ended. */
			run->trace_error = n < 0 ? errno : EIO;
			break;
		}
		at += (size_t)n;
	}
}

void fl_deliver_event(struct paged_run *run, const struct fl_event *e) {
	char line[TRACE_LINE_BYTES];
	size_t length = trace_line(run, e, line);
	ssize_t n;
	do
		n = write(run->event_fd, line, length);
	while (n < 0 && errno == EINTR);
	/* The write end is non-blocking and the line shorter than PIPE_BUF:
	 * it went in whole, or (EAGAIN: the reader fell behind; EPIPE: it is
	 * gone) not at all. Paging never waits for a reader. */
	if (n != (ssize_t)length)
		run->events_undelivered++;
}

void fl_emit_event(struct paged_run *run, const struct fl_event *e) {
	if (run->log_fd >= 0)
		fl_log_event(run, e);
	if (run->trace_fd >= 0)
		fl_trace_event(run, e);
	if (run->event_fd >= 0)
		fl_deliver_event(run, e);
}

#define DRAIN_WAIT_NS 50000000l
/* errno values are below this (the kernel's MAX_ERRNO + 1). */
#define ERRNO_LIMIT 4096

/* Whether every page of an event lies in a demand region of the plan, as
 * only the program's own handler writes them. */
static int plausible(const struct fl_launch_spec *spec, const struct fl_event *e) {
	if ((e->kind != FL_EVENT_START && e->kind != FL_EVENT_FAULT) || e->count == 0 || e->count > FL_EVENT_PAGES)
		return 0;
	if (e->kind == FL_EVENT_START && e->count != 1)
		return 0;
	for (uint64_t i = 0; i < e->count; i++) {
		const struct fl_region *r = fl_find_region(spec, e->pages[i]);
		if (!r || !(r->flags & FL_REGION_DEMAND) || e->pages[i] != fl_page_down(e->pages[i]))
			return 0;
	}
	return e->kind == FL_EVENT_START || fl_page_down(e->fault_address) == e->pages[0];
}

/* Copy the handler's counters into the run's status once the program is
 * gone, with what the drainer found wrong: the program can write the ring
 * window, so its counts are believed only where they hang together. */
static void take_counters(struct paged_run *run, const struct fl_ring *ring, uint64_t tail, int tampered) {
	struct fl_counters c;
	memcpy(&c, (const void *)&ring->counters, sizeof c);
	for (int i = 0; i < FL_COUNTS; i++)
		if (c.check[i] != ~c.value[i])
			tampered = 1;
	uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	/* Slots reserved and never published (a writer that died, or gave up)
	 * are dropped events too; more than the ring holds cannot be. */
	uint64_t unpublished = head >= tail ? head - tail : 0;
	uint64_t *value = c.value;
	if (head < tail || unpublished > run->ring_capacity || value[FL_COUNT_FAULTS] > value[FL_COUNT_PAGES_ENABLED] ||
	    value[FL_COUNT_HANDLER_ERROR] >= ERRNO_LIMIT || value[FL_COUNT_EVENTS_DROPPED] > head)
		tampered = 1;
	struct fl_status *status = &run->spec->status;
	status->faults = value[FL_COUNT_FAULTS];
	status->pages_enabled = value[FL_COUNT_PAGES_ENABLED];
	status->handler_error = value[FL_COUNT_HANDLER_ERROR] < ERRNO_LIMIT ? value[FL_COUNT_HANDLER_ERROR] : 0;
	status->events_dropped = value[FL_COUNT_EVENTS_DROPPED] + (unpublished <= run->ring_capacity ? unpublished : 0);
	status->genuine_faults = value[FL_COUNT_GENUINE_FAULTS];
	status->tampered = (uint64_t)tampered;
}

/*
 * Thread body for SIGSEGV paging: read the events the program's handler
 * publishes in the ring window, write them out, and once the program is
 * gone take its counters. The program can write that window, so nothing
 * read from it is trusted: the ring's size and the reader's position are
 * the drainer's own, each event is copied out and used only if it is
 * whole (its sequence the same before and after the copy) and plausible,
 * and after the program has ended at most one ringful more is read. What
 * fails a check is skipped and marks the run as tampered with.
 */
void *fl_drain_events(void *arg) {
	struct paged_run *run = arg;
	struct fl_ring *ring = (struct fl_ring *)((char *)run->spec + run->spec->ring_offset);
	struct fl_event *events = (struct fl_event *)(ring + 1);
	uint64_t capacity = run->ring_capacity;
	uint64_t tail = 0;
	uint64_t after_end = 0;
	int tampered = 0;
	while (capacity > 0) {
		uint32_t seen = __atomic_load_n(&ring->head_wake, __ATOMIC_SEQ_CST);
		struct fl_event *slot = &events[tail % capacity];
		if (__atomic_load_n(&slot->sequence, __ATOMIC_SEQ_CST) == tail + 1) {
			struct fl_event e;
			memcpy(&e, (const void *)slot, sizeof e);
			if (__atomic_load_n(&slot->sequence, __ATOMIC_SEQ_CST) != tail + 1 || e.sequence != tail + 1 ||
			    !plausible(run->spec, &e)) {
				tampered = 1;
			} else {
				fl_emit_event(run, &e);
			}
			tail++;
			__atomic_store_n(&ring->tail, tail, __ATOMIC_SEQ_CST);
			__atomic_fetch_add(&ring->tail_wake, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&ring->writers_waiting, __ATOMIC_SEQ_CST))
				syscall(SYS_futex, &ring->tail_wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
			/* A program gone, or a child of it still writing: a
			 * ringful more at most. */
			if (__atomic_load_n(&run->child_done, __ATOMIC_ACQUIRE) && ++after_end > capacity)
				break;
			continue;
		}
		/* Nothing published at the tail. Once the child is gone nothing
		 * more will be (a slot it reserved and never filled is lost). */
		if (__atomic_load_n(&run->child_done, __ATOMIC_ACQUIRE))
			break;
		/* Sleep until a writer publishes (or the waiter says the child is
		 * gone); say so first, then look once more, so no event published
		 * in between goes unnoticed. */
		__atomic_store_n(&ring->reader_sleeping, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&slot->sequence, __ATOMIC_SEQ_CST) != tail + 1 &&
		    !__atomic_load_n(&run->child_done, __ATOMIC_SEQ_CST)) {
			struct timespec wait = { 0, DRAIN_WAIT_NS };
			syscall(SYS_futex, &ring->head_wake, FUTEX_WAIT, seen, &wait, NULL, 0);
		}
		__atomic_store_n(&ring->reader_sleeping, 0, __ATOMIC_SEQ_CST);
	}
	take_counters(run, ring, tail, tampered);
	return NULL;
}

void fl_free_paged_run(struct paged_run *run) {
	if (!run)
		return;
	free(run->pager);
	for (int i = 0; i < FL_FILE_COUNT; i++)
		free(run->files[i]);
	free(run);
}

