/*
 * serve.c — demand paging by userfaultfd, served from Bun's process.
 *
 * The loader registered the demand regions (anonymous memory with each
 * region's protection) for missing-page faults and sent its userfaultfd on
 * the control socket (fault.c, start_userfaultfd), which the waiter handed
 * to this thread, in the Bun process: it fills the entry point's page for
 * dpager, and then
 * answers every fault: the page's bytes from the program's file (read here,
 * where the file is still open) or zeros, copied in with UFFDIO_COPY, plus
 * the pages the predictor expects.
 *
 * The faulting thread just waits for the page, whatever its signal mask or
 * handlers, and faults the kernel takes inside system calls are served the
 * same way. A fork of the program hands this thread one more descriptor.
 * Runs on a Bun-side thread; uses libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "uffd-compat.h"
#include "predict.h"
#include "regions.h"
#include "serve.h"

/* A fault that could not be served yet: the kernel answered EAGAIN because
 * the process's memory was changing (a fork was in progress, its event not
 * yet read). Its thread keeps waiting; the fault is served again once the
 * pending events have been read. */
struct deferred_fault {
	int fd;
	uint64_t address;
};

/* How long to wait for new messages while faults are deferred before trying
 * them again: the forking thread needs only to run again to finish. */
#define DEFERRED_RETRY_NS 50000l

struct server {
	struct drainer *log;
	struct pollfd *polled; /* [0]: the "child is done" eventfd; then one per process */
	size_t count;
	size_t capacity;
	struct deferred_fault *deferred;
	size_t deferred_count;
	size_t deferred_capacity;
	struct fl_predictor_state predictor;
	unsigned char page[FL_PAGE_SIZE] __attribute__((aligned(FL_PAGE_SIZE)));
};

static void record_error(struct fl_launch_spec *spec, int error) {
	uint64_t none = 0;
	__atomic_compare_exchange_n(&spec->status.handler_error, &none, (uint64_t)error, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}


static int add_process(struct server *s, int fd) {
	if (s->count == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 8;
		struct pollfd *grown = realloc(s->polled, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		s->polled = grown;
		s->capacity = capacity;
	}
	s->polled[s->count++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	return 0;
}

/*
 * The file ends before this page (it was truncated while the program ran):
 * the kernel's own paging would give the access SIGBUS, and so does a
 * poisoned page. Without poisoning (before Linux 6.6) the page reads as
 * zeros instead, the one case where the two differ.
 */
static int poison(int fd, uint64_t page) {
	struct uffdio_poison poisoned = { .range = { .start = page, .len = FL_PAGE_SIZE }, .mode = 0 };
	if (ioctl(fd, UFFDIO_POISON, &poisoned) == 0)
		return 1;
	if (errno == EEXIST)
		return 0;
	struct uffdio_zeropage zero = { .range = { .start = page, .len = FL_PAGE_SIZE } };
	if (ioctl(fd, UFFDIO_ZEROPAGE, &zero) == 0 || errno == EEXIST)
		return 1;
	return -errno;
}

/*
 * Put one page in place in the process behind fd: the file's bytes (zeros
 * past its end, and from the segment's end of file data), or zeros for the
 * bss. Returns 1 if placed, 0 if the page was there already, -errno else.
 */
static int place(struct server *s, int fd, const struct fl_region *region, uint64_t page, int wake_thread) {
	int r;
	if (region->offset == FL_ANONYMOUS) {
		struct uffdio_zeropage zero = {
			.range = { .start = page, .len = FL_PAGE_SIZE },
			.mode = wake_thread ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};
		r = ioctl(fd, UFFDIO_ZEROPAGE, &zero);
	} else {
		uint64_t offset = region->offset + (page - region->start);
		ssize_t n = pread(s->log->file_fds[region->file], s->page, FL_PAGE_SIZE, (off_t)offset);
		if (n < 0)
			return -errno;
		if (n == 0)
			return poison(fd, page);
		memset(s->page + n, 0, FL_PAGE_SIZE - (size_t)n);
		if (region->zero_from >= page && region->zero_from < page + FL_PAGE_SIZE)
			memset(s->page + (region->zero_from - page), 0, page + FL_PAGE_SIZE - region->zero_from);
		struct uffdio_copy copy = {
			.dst = page,
			.src = (uint64_t)(uintptr_t)s->page,
			.len = FL_PAGE_SIZE,
			.mode = wake_thread ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
		};
		r = ioctl(fd, UFFDIO_COPY, &copy);
	}
	if (r == 0)
		return 1;
	/* EEXIST: another fault or a prediction placed it first. ENOENT and
	 * ESRCH: the range or the process is gone, nothing to serve. */
	if (errno == EEXIST)
		return 0;
	if (errno == ENOENT || errno == ESRCH)
		return 0;
	return -errno;
}

static int defer(struct server *s, int fd, uint64_t address) {
	if (s->deferred_count == s->deferred_capacity) {
		size_t capacity = s->deferred_capacity ? s->deferred_capacity * 2 : 8;
		struct deferred_fault *grown = realloc(s->deferred, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		s->deferred = grown;
		s->deferred_capacity = capacity;
	}
	s->deferred[s->deferred_count++] = (struct deferred_fault){ .fd = fd, .address = address };
	return 0;
}

static void write_event(struct server *s, const struct fl_event *e) {
	fl_emit_event(s->log, e);
}

/* Serve one fault. Returns -EAGAIN when the kernel asks for the fault to be
 * tried again later (memory changing under a fork), else 0. */
static int serve_fault(struct server *s, int fd, uint64_t address) {
	struct fl_launch_spec *spec = s->log->spec;
	uint64_t page = fl_page_down(address);
	const struct fl_region *region = fl_find_region(spec, page);
	if (!region || !(region->flags & FL_REGION_DEMAND)) {
		/* Only demand regions are registered; never leave a thread
		 * waiting whatever happens. */
		struct uffdio_zeropage zero = { .range = { .start = page, .len = FL_PAGE_SIZE } };
		if (ioctl(fd, UFFDIO_ZEROPAGE, &zero) != 0) {
			if (errno == EAGAIN)
				return -EAGAIN;
			if (errno != EEXIST)
				record_error(spec, errno);
		}
		return 0;
	}
	struct fl_event event = { .time_ns = fl_monotonic_now(), .fault_address = address, .kind = FL_EVENT_FAULT };
	int r = place(s, fd, region, page, 1);
	if (r == -EAGAIN)
		return r;
	if (r == 0) {
		struct uffdio_range range = { .start = page, .len = FL_PAGE_SIZE };
		if (ioctl(fd, UFFDIO_WAKE, &range) != 0 && errno != ESRCH)
			record_error(spec, errno);
		return 0;
	}
	if (r < 0) {
		record_error(spec, -r);
		return 0;
	}
	__atomic_fetch_add(&spec->status.faults, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&spec->status.pages_enabled, 1, __ATOMIC_RELAXED);
	event.pages[event.count++] = page;
	uint64_t candidates[FL_EVENT_PAGES];
	uint64_t pages = spec->predict_pages < FL_EVENT_PAGES ? spec->predict_pages : FL_EVENT_PAGES;
	uint64_t count = fl_predict(&s->predictor, spec->predictor, pages, page, candidates, &event.decision);
	for (uint64_t i = 0; i < count; i++) {
		if (!fl_in_region(region, candidates[i]))
			continue;
		if (place(s, fd, region, candidates[i], 0) == 1) {
			__atomic_fetch_add(&spec->status.pages_enabled, 1, __ATOMIC_RELAXED);
			event.pages[event.count++] = candidates[i];
		}
	}
	write_event(s, &event);
	return 0;
}

/* Serve a fault, or keep it for later when the kernel asks for that. A
 * fault that can be neither served nor kept leaves its thread waiting, so
 * the error is recorded (the run's report says so). */
static void serve_or_defer(struct server *s, int fd, uint64_t address) {
	if (serve_fault(s, fd, address) != -EAGAIN)
		return;
	int r = defer(s, fd, address);
	if (r < 0)
		record_error(s->log->spec, -r);
}

/* Try the deferred faults again; those the kernel still refuses stay. */
static void retry_deferred(struct server *s) {
	size_t kept = 0;
	for (size_t i = 0; i < s->deferred_count; i++) {
		struct deferred_fault f = s->deferred[i];
		if (serve_fault(s, f.fd, f.address) == -EAGAIN)
			s->deferred[kept++] = f;
	}
	s->deferred_count = kept;
}

/* Forget the deferred faults of a process that is gone. */
static void drop_deferred(struct server *s, int fd) {
	size_t kept = 0;
	for (size_t i = 0; i < s->deferred_count; i++)
		if (s->deferred[i].fd != fd)
			s->deferred[kept++] = s->deferred[i];
	s->deferred_count = kept;
}

/* dpager starts with the entry point's page and nothing else. */
static void place_entry(struct server *s, int fd) {
	struct fl_launch_spec *spec = s->log->spec;
	if (spec->policy != FL_POLICY_DEMAND)
		return;
	uint64_t page = fl_page_down(spec->entry);
	const struct fl_region *region = fl_find_region(spec, page);
	if (!region || !(region->flags & FL_REGION_DEMAND))
		return;
	int r = place(s, fd, region, page, 1);
	if (r < 0) {
		record_error(spec, -r);
		return;
	}
	__atomic_fetch_add(&spec->status.pages_enabled, 1, __ATOMIC_RELAXED);
	struct fl_event event = { .time_ns = fl_monotonic_now(), .kind = FL_EVENT_START, .count = 1, .pages = { page } };
	write_event(s, &event);
}

/* Read every pending message of one process's descriptor. */
static void serve_process(struct server *s, size_t index) {
	int fd = s->polled[index].fd;
	for (;;) {
		struct uffd_msg msg;
		ssize_t n = read(fd, &msg, sizeof msg);
		if (n != (ssize_t)sizeof msg)
			return; /* EAGAIN: nothing more for now */
		if (msg.event == UFFD_EVENT_PAGEFAULT)
			serve_or_defer(s, fd, msg.arg.pagefault.address);
		else if (msg.event == UFFD_EVENT_FORK && add_process(s, (int)msg.arg.fork.ufd) != 0)
			close((int)msg.arg.fork.ufd);
	}
}

void *fl_serve_faults(void *arg) {
	struct drainer *d = arg;
	struct server *s = aligned_alloc(FL_PAGE_SIZE, sizeof *s);
	if (!s) {
		/* Nobody serves the program's faults: it must not run on. */
		record_error(d->spec, ENOMEM);
		kill(d->pid, SIGKILL);
		return NULL;
	}
	memset(s, 0, sizeof *s);
	s->log = d;
	int fd = d->uffd;
	if (fd >= 0 && (add_process(s, d->done_fd) != 0 || add_process(s, fd) != 0)) {
		record_error(d->spec, ENOMEM);
		kill(d->pid, SIGKILL);
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		place_entry(s, fd);
		while (!__atomic_load_n(&d->child_done, __ATOMIC_SEQ_CST)) {
			/* Deferred faults are tried again after every round of
			 * messages, and soon even without new ones. */
			struct timespec soon = { 0, DEFERRED_RETRY_NS };
			if (ppoll(s->polled, s->count, s->deferred_count ? &soon : NULL, NULL) < 0 && errno != EINTR)
				break;
			if (s->polled[0].revents & POLLIN)
				break; /* the program has ended */
			for (size_t i = 1; i < s->count; i++) {
				if (s->polled[i].revents & POLLIN)
					serve_process(s, i);
				if (s->polled[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
					drop_deferred(s, s->polled[i].fd);
					close(s->polled[i].fd);
					s->polled[i--] = s->polled[--s->count];
				}
			}
			retry_deferred(s);
		}
	}
	for (size_t i = 1; i < s->count; i++)
		close(s->polled[i].fd);
	free(s->polled);
	free(s->deferred);
	free(s);
	return NULL;
}
