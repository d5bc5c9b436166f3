/*
 * pin.c — keeping a program's address space for one look after it has
 * exited (Bun's side; libc allowed). The end look: which of the pages the
 * pager mapped ahead (--prefetch) the program touched, read from its page
 * tables in /proc/PID/pagemap once it has ended, which a look while it runs
 * cannot tell for pages touched after it.
 *
 * A process's page tables go when the last user of its memory lets go of
 * it (exit_mmap, when mm_users falls to 0), well before its parent can
 * reap it. process_vm_readv takes such a use of the program's memory
 * (mm_access) for as long as the call lasts: a thread here reads one byte
 * of the program into a page of Bun's own that is registered with
 * userfaultfd and never filled, so the call waits in the kernel, holding
 * the program's memory, until released. A pagemap descriptor opened while
 * the program ran then reads its page tables as they were at its end. The
 * program sees nothing of it: no thread, mapping or descriptor of its own
 * changes (its memory is freed only when the look is done).
 *
 * The copy into Bun's page is a kernel access, which a userfaultfd serves
 * only with privilege (CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1);
 * without it, or when the program may not be read (non-dumpable), the pin
 * is refused and no end look is taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "launch.h"
#include "paging/pin.h"
#include "common/threads.h"
#include "common/uffd-compat.h"

/* The page Bun's thread waits on. */
#define PIN_PAGE_BYTES 4096
/* How long starting a pin waits for the thread to be holding the memory
 * (its copy blocked on the page) before giving up: the program waits for
 * Bun's go meanwhile, so the copy only needs the thread to run. */
#define PIN_WAIT_MS 2000

struct pin {
	int uffd;
	int done; /* eventfd: the thread's copy returned (it failed, or was released) */
	void *page;
	pthread_t thread;
	int thread_started;
	pid_t pid;
	uint64_t address;
	int error; /* errno of the copy, once it returned */
};

static void *hold(void *arg) {
	struct pin *p = arg;
	struct iovec local = { .iov_base = p->page, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)p->address, .iov_len = 1 };
	ssize_t n = process_vm_readv(p->pid, &local, 1, &remote, 1, 0);
	p->error = n < 0 ? errno : 0;
	uint64_t one = 1;
	/* An eventfd write of 8 bytes fails only on overflow, which one write
	 * cannot cause. */
	(void)write(p->done, &one, sizeof one);
	return NULL;
}

/* Let the thread's copy complete (its page filled with zeros), wait for it
 * and free everything. */
static int64_t release(struct pin *p) {
	int64_t e = 0;
	if (p->page != MAP_FAILED && p->uffd >= 0) {
		struct uffdio_zeropage zero = { .range = { .start = (uint64_t)(uintptr_t)p->page, .len = PIN_PAGE_BYTES } };
		if (ioctl(p->uffd, UFFDIO_ZEROPAGE, &zero) != 0 && errno != EEXIST)
			e = -errno;
	}
	/* Closing the userfaultfd wakes a waiting copy too, whatever the
	 * ioctl did. */
	if (p->uffd >= 0 && close(p->uffd) != 0 && !e)
		e = -errno;
	p->uffd = -1;
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	if (p->page != MAP_FAILED && munmap(p->page, PIN_PAGE_BYTES) != 0 && !e)
		e = -errno;
	if (p->done >= 0 && close(p->done) != 0 && !e)
		e = -errno;
	free(p);
	return e;
}

/*
 * Hold the memory of process `pid` past its exit, by a copy of the byte at
 * `address` in it (which must be mapped, and stay so until the copy has
 * begun: the program should be waiting). Returns a handle for
 * fl_pin_release, or a negative errno: EPERM when no privileged
 * userfaultfd can be had, the copy's errno when it failed at once
 * (ESRCH, EPERM, EFAULT), ETIMEDOUT when it did neither.
 */
FL_EXPORT int64_t fl_pin_start(int64_t pid, uint64_t address) {
	struct pin *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->uffd = -1;
	p->done = -1;
	p->page = MAP_FAILED;
	p->pid = (pid_t)pid;
	p->address = address;
	int64_t e = 0;
	p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p->uffd < 0)
		e = -errno;
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	if (!e && ioctl(p->uffd, UFFDIO_API, &api) != 0)
		e = -errno;
	if (!e) {
		p->page = mmap(NULL, PIN_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p->page == MAP_FAILED)
			e = -errno;
	}
	if (!e) {
		struct uffdio_register reg = {
			.range = { .start = (uint64_t)(uintptr_t)p->page, .len = PIN_PAGE_BYTES },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(p->uffd, UFFDIO_REGISTER, &reg) != 0)
			e = -errno;
	}
	if (!e) {
		p->done = eventfd(0, EFD_CLOEXEC);
		if (p->done < 0)
			e = -errno;
	}
	if (!e) {
		int started = fl_start_quiet_thread(&p->thread, 0, hold, p);
		if (started != 0)
			e = -started;
		p->thread_started = started == 0;
	}
	if (!e) {
		/* Holding: the copy has faulted on Bun's page, a message waits on
		 * the userfaultfd. Failed: the copy returned. */
		struct pollfd watched[2] = { { .fd = p->uffd, .events = POLLIN }, { .fd = p->done, .events = POLLIN } };
		int n;
		do
			n = poll(watched, 2, PIN_WAIT_MS);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			e = -errno;
		else if (watched[0].revents & POLLIN)
			return (int64_t)(uintptr_t)p;
		else if (watched[1].revents & POLLIN)
			e = -(p->error ? p->error : EIO);
		else
			e = -ETIMEDOUT;
	}
	release(p);
	return e;
}

/* Let the program's memory go (its page tables are freed if it has
 * exited). Returns 0 or a negative errno; the handle is gone either way. */
FL_EXPORT int64_t fl_pin_release(int64_t handle) {
	return release((struct pin *)(uintptr_t)handle);
}
