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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <time.h>

#include "child.h"
#include "events.h"
#include "regions.h"
#include "serve.h"
#include "threads.h"
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

struct waiter {
	pid_t pid;
	int notify_fd;
	struct drainer *drainer; /* null for apager */
	pthread_t drainer_thread;
};

/* Tell the thread that logs (or serves) the child's faults that the child
 * is gone: through the ring's futex, or the server's eventfd. */
static void stop_drainer(struct drainer *d) {
	__atomic_store_n(&d->child_done, 1, __ATOMIC_SEQ_CST);
	if (d->done_fd >= 0) {
		uint64_t one = 1;
		/* An eventfd write of 8 bytes only fails on overflow, which one
		 * write cannot cause; the server also rechecks child_done. */
		(void)write(d->done_fd, &one, sizeof one);
	} else {
		struct fl_ring *ring = (struct fl_ring *)((char *)d->spec + d->spec->ring_offset);
		__atomic_fetch_add(&ring->head_wake, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &ring->head_wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
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
		stop_drainer(w->drainer);
		pthread_join(w->drainer_thread, NULL);
		fl_free_drainer(w->drainer);
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
	/* A demand-paged run needs a second thread: by userfaultfd, the server
	 * of its faults; by SIGSEGV, the reader of its event ring. */
	int serving = spec->demand_pages > 0 && spec->mechanism == FL_MECHANISM_USERFAULTFD;
	if (serving || spec->ring_offset != 0) {
		struct drainer *d = calloc(1, sizeof *d);
		e = d ? -read_labels(d, labels) : ENOMEM;
		if (d) {
			d->spec = spec;
			d->log_fd = (int)log_fd;
			d->trace_fd = (int)trace_fd;
			d->start_ns = fl_monotonic_now();
			d->pid = (pid_t)pid;
			d->done_fd = serving ? eventfd(0, EFD_CLOEXEC) : -1;
			if (serving && d->done_fd < 0 && e == 0)
				e = errno;
			w->drainer = d;
		}
		if (e == 0)
			e = fl_start_quiet_thread(&w->drainer_thread, 0, serving ? fl_serve_faults : fl_drain_events, d);
		if (e != 0) {
			fl_free_drainer(d);
			w->drainer = NULL;
			/* A child waiting to hand over its userfaultfd must not wait. */
			__atomic_store_n(&spec->status.uffd_handoff, FL_HANDOFF_REFUSED, __ATOMIC_SEQ_CST);
			syscall(SYS_futex, &spec->status.uffd_handoff, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		}
	}
	pthread_t waiter;
	if (e == 0)
		e = fl_start_quiet_thread(&waiter, 1, wait_for_child, w);
	if (e != 0) {
		/* No waiter: the drainer must not outlive this call either. */
		if (w->drainer) {
			stop_drainer(w->drainer);
			pthread_join(w->drainer_thread, NULL);
			fl_free_drainer(w->drainer);
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
 * program's), unblocked, raised on this thread. Bun itself is made
 * undumpable first: a core of Bun would overwrite the program's own (with
 * core_pattern "core") and be listed as the latest crash; should that fail,
 * the signal is raised anyway, since dying of it is the contract. Returns
 * only if the signal did not end the process; the caller then exits
 * 128 + sig.
 */
FL_EXPORT int64_t fl_end_with_signal(int64_t sig) {
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
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

/*
 * Whether demand paging can use userfaultfd here: the kernel lets this
 * process create a userfaultfd that also handles faults taken in kernel mode
 * (not UFFD_USER_MODE_ONLY) and reports forks (UFFD_FEATURE_EVENT_FORK, which
 * needs CAP_SYS_PTRACE, as does taking a child's descriptor under a strict
 * Yama policy). Returns 1 or 0.
 */
FL_EXPORT int64_t fl_userfaultfd_available(void) {
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_FORK };
	int ok = ioctl(fd, UFFDIO_API, &api) == 0;
	close(fd);
	return ok;
}
