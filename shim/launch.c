/*
 * launch.c — the Bun-side half of a launch: kept memory, the fork, waiting
 * for the child without blocking JavaScript, and ending the way it did.
 *
 * These functions run in the Bun process and may use libc. The one exception
 * is the child's side of fl_launch, which goes straight to the freestanding
 * path in child.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <time.h>

#include "child.h"
#include "regions.h"
#include "launch.h"
#include "sys.h"

/* glibc (2.35 and later) publishes where it registered each thread's rseq
 * area; weak so the shim still loads with an older libc (no rseq then). */
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

/* The signature glibc registers rseq areas with (sysdeps/.../x86/rseq.h), and
 * the length of the original rseq ABI, which glibc registered before it began
 * publishing a larger feature size in __rseq_size. */
#define GLIBC_RSEQ_SIGNATURE 0x53053053u
#define RSEQ_ORIGINAL_LENGTH 32u

/* Kept memory for a launch: shared with the child, so the status it writes
 * is visible here after it has gone. Returns the address or a negative errno. */
FL_EXPORT int64_t fl_kept_map(uint64_t length) {
	void *at = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return at == MAP_FAILED ? -errno : (int64_t)(uintptr_t)at;
}

FL_EXPORT int64_t fl_kept_unmap(uint64_t address, uint64_t length) {
	return munmap((void *)(uintptr_t)address, length) == 0 ? 0 : -errno;
}

/* The shim's own extent in memory, from the linker's symbols for the first
 * byte of the object and the end of its bss. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern char _end[] __attribute__((visibility("hidden")));

FL_EXPORT void fl_shim_extent(uint64_t *out) {
	out[0] = (uint64_t)(uintptr_t)__ehdr_start;
	out[1] = (uint64_t)(uintptr_t)_end;
}

/* Sizes and offsets of the spec's layout, for src/spec.ts to check against
 * its own before writing a spec. */
FL_EXPORT void fl_spec_layout(uint64_t *out) {
	out[0] = sizeof(struct fl_launch_spec);
	out[1] = sizeof(struct fl_region);
	out[2] = sizeof(struct fl_range);
	out[3] = sizeof(struct fl_mm_map);
	out[4] = offsetof(struct fl_launch_spec, status);
}

/* The rseq length the kernel holds for this thread: glibc's __rseq_size
 * where that is what it registered, else the original ABI's length. */
static uint32_t registered_rseq_length(void) {
	uint32_t published = __rseq_size;
	return published < RSEQ_ORIGINAL_LENGTH ? RSEQ_ORIGINAL_LENGTH : published;
}

#define PAGE_BYTES 4096u

static uint64_t page_down(uint64_t a) {
	return a & ~(uint64_t)(PAGE_BYTES - 1);
}

static uint64_t page_up(uint64_t a) {
	return page_down(a + PAGE_BYTES - 1);
}

/* madvise a range, leaving out the rseq area's pages: the kernel writes to
 * the area in the child before the child can unregister it, so it must be
 * copied. ENOMEM only says the range had holes, which is expected; any other
 * failure leaves some memory copied by the fork, which costs time, not
 * correctness (the child's cleanup unmaps it). */
static void advise(uint64_t start, uint64_t end, int advice, uint64_t skip_start, uint64_t skip_end) {
	if (skip_start < end && start < skip_end) {
		advise(start, skip_start, advice, 0, 0);
		advise(skip_end, end, advice, 0, 0);
		return;
	}
	if (end > start)
		(void)madvise((void *)(uintptr_t)start, end - start, advice);
}

/* Mark (or unmark) everything the child will unmap anyway as not to be
 * copied by fork: the fork then copies only kept memory and the rseq page,
 * and the child has almost nothing left to unmap. */
static void advise_unkept(const struct fl_launch_spec *spec, int advice) {
	const struct fl_range *kept = (const struct fl_range *)((const char *)spec + spec->kept_offset);
	uint64_t skip_start = spec->rseq_area ? page_down(spec->rseq_area) : 0;
	uint64_t skip_end = spec->rseq_area ? page_up(spec->rseq_area + spec->rseq_length) : 0;
	uint64_t cursor = 0;
	for (uint64_t i = 0; i <= spec->kept_count; i++) {
		uint64_t gap_end = i < spec->kept_count ? kept[i].start : spec->address_limit;
		if (gap_end > cursor)
			advise(cursor, gap_end, advice, skip_start, skip_end);
		if (i < spec->kept_count && kept[i].end > cursor)
			cursor = kept[i].end;
	}
}

/*
 * Fork and, in the child, load and run the program the spec describes.
 * Returns the child's pid, or a negative errno if the fork failed. The child
 * never returns: it ends in the program or, on a loader failure, exits with
 * its status recorded in spec->status.
 *
 * The fork is a raw clone: glibc's fork would run Bun's atfork handlers in a
 * child that must not touch Bun's state. Only this thread exists in the child.
 * For the time of the clone, Bun's memory is marked MADV_DONTFORK, so the
 * fork does not copy the page tables of memory the child would unmap at
 * once; Bun's own spawns use vfork-style clones, which that mark does not
 * affect. The mark is lifted as soon as the clone returns.
 */
FL_EXPORT int64_t fl_launch(struct fl_launch_spec *spec) {
	if (spec->magic != FL_SPEC_MAGIC || spec->spec_size != sizeof *spec)
		return -EINVAL;
	spec->rseq_area = 0;
	if (&__rseq_size && &__rseq_offset && __rseq_size > 0) {
		spec->rseq_area = (uint64_t)(uintptr_t)((char *)__builtin_thread_pointer() + __rseq_offset);
		spec->rseq_length = registered_rseq_length();
		spec->rseq_signature = GLIBC_RSEQ_SIGNATURE;
	}
	advise_unkept(spec, MADV_DONTFORK);
	long pid = fl_clone_child(spec, spec->child_stack_top);
	advise_unkept(spec, MADV_DOFORK);
	return pid;
}

/* What the waiter thread learns, written to the notification pipe whole. */
struct fl_exit {
	int64_t error;       /* negative errno of wait4, or 0 */
	int64_t wait_status; /* as from wait4 */
	int64_t max_rss_kib;
	int64_t user_usec;
	int64_t system_usec;
};

/* A drainer reads the child's event ring and writes the log and the trace. */
struct drainer {
	struct fl_launch_spec *spec;
	int log_fd;   /* -1: quiet */
	int trace_fd; /* -1: no trace */
	char *pager;
	char *files[FL_FILE_COUNT];
	uint64_t start_ns;
	int child_done; /* set by the waiter once wait4 has returned */
};

struct waiter {
	pid_t pid;
	int notify_fd;
	struct drainer *drainer; /* null for apager */
	pthread_t drainer_thread;
};

static uint64_t monotonic_now(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
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
static void log_event(const struct drainer *d, const struct fl_event *e) {
	for (uint64_t i = 0; i < e->count && i < FL_EVENT_PAGES; i++) {
		uint64_t page = e->pages[i];
		const struct fl_region *r = fl_find_region(d->spec, page);
		if (!r)
			continue;
		char offset[32] = "-";
		if (r->offset != FL_ANONYMOUS)
			snprintf(offset, sizeof offset, "0x%llx", (unsigned long long)(r->offset + page - r->start));
		const char *file = d->files[r->file] ? d->files[r->file] : "?";
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
		dprintf(d->log_fd, "%s: map addr=0x%llx size=0x%llx off=%s prot=%s %s %s\n", d->pager,
			(unsigned long long)page, (unsigned long long)FL_PAGE_SIZE, offset,
			protection_text(r->prot), source, why);
	}
}

/* One JSON line per fault (or start) for --trace. */
static void trace_event(const struct drainer *d, const struct fl_event *e) {
	char mapped[FL_EVENT_PAGES * 24 + 8];
	size_t at = 0;
	mapped[at++] = '[';
	for (uint64_t i = 0; i < e->count && i < FL_EVENT_PAGES; i++)
		at += (size_t)snprintf(mapped + at, sizeof mapped - at, "%s\"0x%llx\"", i ? "," : "",
				       (unsigned long long)e->pages[i]);
	snprintf(mapped + at, sizeof mapped - at, "]");
	double ms = e->time_ns > d->start_ns ? (double)(e->time_ns - d->start_ns) / 1e6 : 0.0;
	if (e->kind == FL_EVENT_START)
		dprintf(d->trace_fd, "{\"t_ms\":%.6f,\"kind\":\"start\",\"mapped\":%s}\n", ms, mapped);
	else
		dprintf(d->trace_fd,
			"{\"t_ms\":%.6f,\"kind\":\"fault\",\"fault\":\"0x%llx\",\"page\":\"0x%llx\","
			"\"mapped\":%s,\"predicted\":%llu,\"decision\":\"%s\"}\n",
			ms, (unsigned long long)e->fault_address, (unsigned long long)fl_page_down(e->fault_address),
			mapped, (unsigned long long)(e->count ? e->count - 1 : 0), decision_text(e->decision));
}

#define DRAIN_WAIT_NS 50000000l

static void *drain_events(void *arg) {
	struct drainer *d = arg;
	struct fl_ring *ring = (struct fl_ring *)((char *)d->spec + d->spec->ring_offset);
	struct fl_event *events = (struct fl_event *)(ring + 1);
	for (;;) {
		uint32_t seen = __atomic_load_n(&ring->head_wake, __ATOMIC_SEQ_CST);
		uint64_t tail = ring->tail;
		struct fl_event *e = &events[tail % ring->capacity];
		if (__atomic_load_n(&e->sequence, __ATOMIC_SEQ_CST) == tail + 1) {
			if (d->log_fd >= 0)
				log_event(d, e);
			if (d->trace_fd >= 0)
				trace_event(d, e);
			__atomic_store_n(&ring->tail, tail + 1, __ATOMIC_SEQ_CST);
			__atomic_fetch_add(&ring->tail_wake, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&ring->writers_waiting, __ATOMIC_SEQ_CST))
				syscall(SYS_futex, &ring->tail_wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
			continue;
		}
		/* Nothing published at the tail. Once the child is gone nothing
		 * more will be (a slot it reserved and never filled is lost). */
		if (__atomic_load_n(&d->child_done, __ATOMIC_ACQUIRE)) {
			uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
			if (head > tail)
				d->spec->status.events_dropped += head - tail;
			break;
		}
		/* Sleep until a writer publishes (or the waiter says the child is
		 * gone); say so first, then look once more, so no event published
		 * in between goes unnoticed. */
		__atomic_store_n(&ring->reader_sleeping, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&e->sequence, __ATOMIC_SEQ_CST) != tail + 1 &&
		    !__atomic_load_n(&d->child_done, __ATOMIC_SEQ_CST)) {
			struct timespec wait = { 0, DRAIN_WAIT_NS };
			syscall(SYS_futex, &ring->head_wake, FUTEX_WAIT, seen, &wait, NULL, 0);
		}
		__atomic_store_n(&ring->reader_sleeping, 0, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void free_drainer(struct drainer *d) {
	if (!d)
		return;
	free(d->pager);
	for (int i = 0; i < FL_FILE_COUNT; i++)
		free(d->files[i]);
	free(d);
}

static void *wait_for_child(void *arg) {
	struct waiter *w = arg;
	struct fl_exit result = { 0 };
	struct rusage usage;
	int status = 0;
	pid_t r;
	do
		r = wait4(w->pid, &status, 0, &usage);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		result.error = -errno;
	} else {
		result.wait_status = status;
		result.max_rss_kib = usage.ru_maxrss;
		result.user_usec = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec;
		result.system_usec = (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec;
	}
	if (w->drainer) {
		struct fl_ring *ring = (struct fl_ring *)((char *)w->drainer->spec + w->drainer->spec->ring_offset);
		__atomic_store_n(&w->drainer->child_done, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&ring->head_wake, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &ring->head_wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		pthread_join(w->drainer_thread, NULL);
		free_drainer(w->drainer);
	}
	/* A pipe write of this size is atomic; the reader sees all or nothing. */
	const char *bytes = (const char *)&result;
	size_t left = sizeof result;
	while (left > 0) {
		ssize_t n = write(w->notify_fd, bytes, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		bytes += n;
		left -= (size_t)n;
	}
	close(w->notify_fd);
	free(w);
	return NULL;
}

/* Start a thread with every signal blocked but SIGPWR, which
 * JavaScriptCore's collector relies on being deliverable; the new thread
 * inherits the mask, so it takes no signal meant for Bun's own threads. */
static int start_quiet_thread(pthread_t *thread, int detached, void *(*run)(void *), void *arg) {
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

/* Split "pager\0program\0interpreter\0" into the drainer's labels. */
static int read_labels(struct drainer *d, const char *labels) {
	d->pager = strdup(labels);
	labels += strlen(labels) + 1;
	for (int i = 0; i < FL_FILE_COUNT; i++) {
		d->files[i] = *labels ? strdup(labels) : NULL;
		labels += strlen(labels) + 1;
	}
	return d->pager ? 0 : -ENOMEM;
}

/*
 * Start a thread that waits for pid and reports how it ended through a pipe,
 * and, when the spec pages on demand, one that turns the child's events into
 * log lines (on log_fd, unless it is -1) and trace lines (on trace_fd, unless
 * -1). `labels` is "pager\0program path\0interpreter path\0". Returns the
 * pipe's read end (close-on-exec, so no launched program inherits it) or a
 * negative errno. JavaScript reads sizeof(struct fl_exit) bytes from it
 * without blocking its event loop.
 */
FL_EXPORT int64_t fl_wait_start(int64_t pid, struct fl_launch_spec *spec, int64_t log_fd, int64_t trace_fd,
				const char *labels) {
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		close(fds[0]);
		close(fds[1]);
		return -ENOMEM;
	}
	int e = 0;
	w->pid = (pid_t)pid;
	w->notify_fd = fds[1];
	if (spec->ring_offset != 0) {
		struct drainer *d = calloc(1, sizeof *d);
		e = d ? -read_labels(d, labels) : ENOMEM;
		if (d) {
			d->spec = spec;
			d->log_fd = (int)log_fd;
			d->trace_fd = (int)trace_fd;
			d->start_ns = monotonic_now();
			w->drainer = d;
		}
		if (e == 0)
			e = start_quiet_thread(&w->drainer_thread, 0, drain_events, d);
		if (e != 0) {
			free_drainer(d);
			w->drainer = NULL;
		}
	}
	pthread_t waiter;
	if (e == 0)
		e = start_quiet_thread(&waiter, 1, wait_for_child, w);
	if (e != 0) {
		/* No waiter: the drainer must not outlive this call either. */
		if (w->drainer) {
			__atomic_store_n(&w->drainer->child_done, 1, __ATOMIC_RELEASE);
			pthread_join(w->drainer_thread, NULL);
			free_drainer(w->drainer);
		}
		free(w);
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	return fds[0];
}

FL_EXPORT uint64_t fl_exit_size(void) {
	return sizeof(struct fl_exit);
}

/*
 * End this process with signal sig, as the loaded program ended: default
 * action (Bun's crash handler must not run for a SIGSEGV that was the
 * program's), unblocked, raised on this thread. Returns only if the signal
 * did not end the process; the caller then exits 128 + sig.
 */
FL_EXPORT int64_t fl_end_with_signal(int64_t sig) {
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	if (sigaction((int)sig, &dfl, NULL) != 0)
		return -errno;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, (int)sig);
	int e = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (e != 0)
		return -e;
	if (raise((int)sig) != 0)
		return -errno;
	return 0;
}

/* Send sig to pid (the CLI forwards SIGTERM and SIGHUP to the program). */
FL_EXPORT int64_t fl_signal(int64_t pid, int64_t sig) {
	return kill((pid_t)pid, (int)sig) == 0 ? 0 : -errno;
}
