/*
 * event-ring.c — the program's side of the event ring: the SIGSEGV
 * handler's events and counters, in the window of the plan's memory the
 * program keeps, shared with Bun's watch (events.c), which trusts none of
 * it. Freestanding, like the handler it serves: raw system calls and
 * atomics only, no allocation, no locks.
 */
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/time.h>

#include "paging/event-ring.h"
#include "paging/regions.h"
#include "common/kernel.h"

/* How long a writer waits for room in a full event ring before it gives up
 * logging (the reader is the parent; if it is gone nobody reads anyway). */
#define RING_WAIT_NS 100000000ll
#define RING_WAIT_ROUNDS 20
/* FUTEX_WAKE's count meaning "every waiter". */
#define FUTEX_WAKE_EVERYONE 0x7fffffff

/* The ring window, and its capacity as read when it was mapped (the
 * program could change the ring's own copy). Set once before the jump. */
static struct fl_ring *active_ring;
static uint64_t ring_capacity;

/* Set once a writer waited in vain for room: the reader is gone (Bun was
 * killed) or stuck, and the program must not wait for it again. */
static int reader_lost;

sys_result fl_ring_attach(const struct fl_launch_spec *spec, int spec_fd) {
	uint64_t capacity = ((const struct fl_ring *)((const char *)spec + spec->ring_offset))->capacity;
	uint64_t ring_bytes = fl_page_up(sizeof(struct fl_ring) + capacity * sizeof(struct fl_event));
	sys_result ring = sys_mmap(FL_RESIDUE_RING_ADDRESS, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spec_fd, (long)spec->ring_offset);
	if (ring < 0)
		return ring;
	ring_capacity = capacity;
	active_ring = (struct fl_ring *)ring;
	return 0;
}

uint64_t fl_ring_clock(void) {
	struct kernel_timespec now = { 0, 0 };
	sys_call2(__NR_clock_gettime, CLOCK_MONOTONIC, (long)&now);
	return (uint64_t)now.seconds * NS_PER_SECOND + (uint64_t)now.nanoseconds;
}

static struct fl_event *ring_events(struct fl_ring *ring) {
	return (struct fl_event *)(ring + 1);
}

static void futex_wake_all(uint32_t *word) {
	/* Shared (not FUTEX_PRIVATE): the waiter is the parent process. A
	 * failed wake only delays the log until the reader's timeout. */
	sys_call3(__NR_futex, (long)word, FUTEX_WAKE, FUTEX_WAKE_EVERYONE);
}

/* Each count has a check word holding its complement: ~(v + 1) = ~v - 1. */
void fl_ring_count(enum fl_count count) {
	__atomic_fetch_add(&active_ring->counters.value[count], 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&active_ring->counters.check[count], 1, __ATOMIC_RELAXED);
}

void fl_ring_note_error(uint64_t error) {
	uint64_t none = 0;
	if (__atomic_compare_exchange_n(&active_ring->counters.value[FL_COUNT_HANDLER_ERROR], &none, error, 0,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		__atomic_store_n(&active_ring->counters.check[FL_COUNT_HANDLER_ERROR], ~error, __ATOMIC_RELAXED);
}

void fl_ring_publish(const struct fl_launch_spec *spec, const struct fl_event *event) {
	struct fl_ring *ring = active_ring;
	if (!spec->events_wanted || ring_capacity == 0)
		return;
	uint64_t slot = __atomic_fetch_add(&ring->head, 1, __ATOMIC_ACQ_REL);
	for (int round = 0; slot - __atomic_load_n(&ring->tail, __ATOMIC_SEQ_CST) >= ring_capacity; round++) {
		if (round == RING_WAIT_ROUNDS || __atomic_load_n(&reader_lost, __ATOMIC_RELAXED)) {
			__atomic_store_n(&reader_lost, 1, __ATOMIC_RELAXED);
			fl_ring_count(FL_COUNT_EVENTS_DROPPED);
			return;
		}
		uint32_t seen = __atomic_load_n(&ring->tail_wake, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&ring->writers_waiting, 1, __ATOMIC_SEQ_CST);
		if (slot - __atomic_load_n(&ring->tail, __ATOMIC_SEQ_CST) >= ring_capacity) {
			struct kernel_timespec wait = { 0, RING_WAIT_NS };
			sys_call4(__NR_futex, (long)&ring->tail_wake, FUTEX_WAIT, seen, (long)&wait);
		}
		__atomic_fetch_sub(&ring->writers_waiting, 1, __ATOMIC_SEQ_CST);
	}
	struct fl_event *at = &ring_events(ring)[slot % ring_capacity];
	at->time_ns = event->time_ns;
	at->fault_address = event->fault_address;
	at->kind = event->kind;
	at->decision = event->decision;
	at->count = event->count;
	for (uint64_t i = 0; i < event->count && i < FL_EVENT_PAGES; i++)
		at->pages[i] = event->pages[i];
	__atomic_store_n(&at->sequence, slot + 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&ring->head_wake, 1, __ATOMIC_SEQ_CST);
	/* Wake the reader only if it sleeps: a wake-up per fault would cost a
	 * context switch per fault. It reads head_wake before it sleeps, so an
	 * event published after that makes its wait return at once. */
	if (__atomic_load_n(&ring->reader_sleeping, __ATOMIC_SEQ_CST))
		futex_wake_all(&ring->head_wake);
}
