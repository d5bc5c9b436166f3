/*
 * userfaultfd.c — userfaultfd paging, the program's side: register every
 * demand region, place the prefetch runs, and hand the descriptor to Bun's
 * fault server (serve.c), which does the rest. Runs in the loader just
 * before the jump; freestanding.
 *
 * Every demand region's file pages are mapped from the image copy, a
 * sealed memfd, for minor faults; its bss is anonymous, for missing pages.
 * The loader closes its own descriptor, so the program never holds one. No
 * signal is involved: faults inside system calls, with SIGSEGV blocked, or
 * in a program with its own SIGSEGV handler are all served (user-mode-only
 * descriptors, for ordinary users, serve the program's own accesses only,
 * so TypeScript registers no pages a system call could meet first). If the
 * server dies, the kernel drops the registrations: the copy's pages still
 * hold the file's bytes, the bss zeros, so the program never runs on pages
 * nobody gave it.
 */
#include <linux/fcntl.h>

#include "common/kernel.h"
#include "common/uffd-compat.h"
#include "paging/paging.h"
#include "paging/prefetch.h"

/* The error UFFDIO_API gives for features this kernel lacks (errno.h). */
#define EINVAL_VALUE 22

static sys_result uffd_ioctl(long fd, unsigned long request, void *argument) {
	return sys_call3(__NR_ioctl, fd, (long)request, (long)argument);
}

/*
 * Once the regions are registered and before anyone serves them: put each
 * run in place with one ioctl, as the server would answer a fault there,
 * but before the program could take one. File pages map the image copy's
 * page-cache pages (UFFDIO_CONTINUE); bss pages map the kernel's shared
 * zero page (UFFDIO_ZEROPAGE), as a read fault served later would, so a
 * page the program never writes costs no memory and one it writes is
 * copied then, as natively. Exactly the runs' pages: a fault of the
 * kernel's own (madvise's populating, say) would map its neighbours too
 * (fault-around), which registered ranges never get.
 */
static void prefetch_placing(struct fl_launch_spec *spec, long fd) {
	const struct fl_prefetch_run *runs = fl_prefetch_runs(spec);
	for (uint64_t i = 0; i < spec->prefetch_count; i++) {
		const struct fl_region *region = fl_prefetch_region(spec, &runs[i]);
		if (!region)
			continue;
		struct uffdio_range range = { .start = runs[i].start, .len = runs[i].pages * FL_PAGE_SIZE };
		sys_result r;
		if (region->offset == FL_ANONYMOUS) {
			struct uffdio_zeropage zero = { .range = range, .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE };
			r = uffd_ioctl(fd, UFFDIO_ZEROPAGE, &zero);
		} else {
			struct uffdio_continue mapped = { .range = range, .mode = UFFDIO_CONTINUE_MODE_DONTWAKE };
			r = uffd_ioctl(fd, UFFDIO_CONTINUE, &mapped);
		}
		if (r < 0) {
			fl_prefetch_stopped(spec, r);
			return;
		}
		spec->status.prefetched += runs[i].pages;
	}
}

/* Send the userfaultfd to Bun's fault server (SCM_RIGHTS): the kernel holds
 * it in the socket until the server takes it, so the loader need not wait. */
static sys_result send_userfaultfd(int control_fd, int fd) {
	struct fl_uffd_delivery delivery = { .magic = FL_UFFD_MAGIC };
	union {
		char bytes[sizeof(struct kernel_cmsghdr) + sizeof(int) + sizeof(uint32_t)];
		struct kernel_cmsghdr align;
	} control;
	bytes_zero(&control, sizeof control);
	control.align.length = sizeof(struct kernel_cmsghdr) + sizeof(int);
	control.align.level = KERNEL_SOL_SOCKET;
	control.align.type = KERNEL_SCM_RIGHTS;
	bytes_copy(control.bytes + sizeof(struct kernel_cmsghdr), &fd, sizeof fd);
	struct kernel_iovec iov = { .base = &delivery, .length = sizeof delivery };
	struct kernel_msghdr message = {
		.iov = &iov,
		.iov_count = 1,
		.control = control.bytes,
		.control_length = sizeof control.bytes,
	};
	sys_result sent = sys_sendmsg(control_fd, &message, KERNEL_MSG_NOSIGNAL);
	return sent < 0 ? sent : 0;
}

/* A userfaultfd, its API agreed with the first of `wanted` (feature sets,
 * zero-terminated) the kernel grants; each try needs a new descriptor. */
static sys_result open_userfaultfd(long flags, const uint64_t *wanted) {
	sys_result r = -EINVAL_VALUE;
	for (unsigned i = 0; wanted[i] && r == -EINVAL_VALUE; i++) {
		sys_result fd = sys_call1(__NR_userfaultfd, flags);
		if (fd < 0)
			return fd;
		struct uffdio_api api = { .api = UFFD_API, .features = wanted[i] };
		r = uffd_ioctl(fd, UFFDIO_API, &api);
		if (r >= 0)
			return fd;
		sys_close((int)fd);
	}
	return r;
}

/* Features asked for, best first. The pages of the image copies are served
 * by minor faults (MINOR_SHMEM); fork events (privileged) hand the server a
 * descriptor for each forked child, whose registrations the kernel
 * otherwise drops (its pages then fault from the copy's page cache and the
 * bss as zeros, as they should); poisoning (Linux 6.6) lets a page past the
 * end of a file truncated under the program give SIGBUS; exact fault
 * addresses (5.18) make the log more precise; the faulting thread's id lets
 * the server find its CPU. */
#define FEATURES_ALWAYS (UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID)
static const uint64_t FULL_FEATURES[] = {
	FEATURES_ALWAYS | UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EXACT_ADDRESS | UFFD_FEATURE_POISON,
	FEATURES_ALWAYS | UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EXACT_ADDRESS,
	FEATURES_ALWAYS | UFFD_FEATURE_EVENT_FORK,
	0,
};
static const uint64_t USER_MODE_FEATURES[] = {
	FEATURES_ALWAYS | UFFD_FEATURE_EXACT_ADDRESS | UFFD_FEATURE_POISON,
	FEATURES_ALWAYS | UFFD_FEATURE_EXACT_ADDRESS,
	FEATURES_ALWAYS,
	0,
};

sys_result fl_userfaultfd_start(struct fl_launch_spec *spec, int control_fd) {
	sys_result fd = spec->uffd_user_mode_only
				? open_userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, USER_MODE_FEATURES)
				: open_userfaultfd(O_CLOEXEC | O_NONBLOCK, FULL_FEATURES);
	if (fd < 0)
		return fd;
	sys_result r = 0;
	const struct fl_region *regions = fl_regions(spec);
	for (uint64_t i = 0; r >= 0 && i < spec->region_count; i++) {
		if (!(regions[i].flags & FL_REGION_DEMAND))
			continue;
		struct uffdio_register reg = {
			.range = { .start = regions[i].start, .len = regions[i].length },
			.mode = regions[i].flags & FL_REGION_COPY ? UFFDIO_REGISTER_MODE_MINOR : UFFDIO_REGISTER_MODE_MISSING,
		};
		r = uffd_ioctl(fd, UFFDIO_REGISTER, &reg);
	}
	if (r >= 0)
		prefetch_placing(spec, fd);
	if (r >= 0)
		r = send_userfaultfd(control_fd, (int)fd);
	sys_result closed = sys_close((int)fd);
	return r < 0 ? r : closed;
}
