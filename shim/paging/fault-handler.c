/*
 * fault-handler.c — demand paging in the loaded program: the SIGSEGV handler, the
 * page predictors, and the event ring the parent logs from. Freestanding:
 * it runs in the program's process, on the program's threads, with libc
 * gone (or the program's own libc, which a handler must not call).
 *
 * With the SIGSEGV handler, demand regions are reserved at start as PROT_NONE
 * mappings (from the file where they are file-backed, so no descriptor has
 * to stay open), and a fault enables one page by giving it the region's
 * protection. (With userfaultfd, this file only registers the regions and
 * hands the descriptor to the parent; serve.c does the rest.) A state byte
 * per page (reserved, enabling, enabled) decides who enables it when threads
 * race, and tells a demand fault from a genuine protection fault.
 *
 * Rules for code here (as for any signal handler): no libc, no allocation,
 * no locks that a fault could already hold; only raw system calls and
 * atomics on kept memory.
 */
#define _GNU_SOURCE /* REG_ERR */
#include <linux/fcntl.h>
#include <linux/futex.h>
#include "common/uffd-compat.h"
#include <linux/time.h>
#include <linux/mman.h>
#include <signal.h>
#include <sys/ucontext.h>

#include "paging/paging.h"
#include "friendly/friendly.h"
#include "common/kernel.h"
#include "launch.h"
#include "paging/predict.h"
#include "paging/regions.h"
#include "common/sys.h"

/* The last fault each thread was told to retry on an enabled page: its
 * thread ID and the fault address. Open addressing on the thread ID; a slot
 * once claimed belongs to its thread. */
struct retried_fault {
	int32_t tid;
	int32_t unused;
	uint64_t address;
};
#define RETRY_SLOTS 1024
/* Knuth's multiplicative hash, to spread thread IDs over the slots. */
#define TID_HASH 2654435761u

/* The spec of the program this process runs, and this process's own paging
 * state (see fl_paging_start); set once before the jump. */
/* The handler's own copy of the plan's header and regions (private: the
 * program cannot change what Bun reads), and the ring window of the plan's
 * memory, the one part of it mapped into the program. */
static struct fl_launch_spec *active_spec;
static struct fl_ring *active_ring;
static uint64_t ring_capacity;
static uint8_t *private_page_states;
static struct fl_predictor_state *private_predictor;
static struct retried_fault *private_retries;

/* How long a writer waits for room in a full event ring before it gives up
 * logging (the reader is the parent; if it is gone nobody reads anyway). */
#define RING_WAIT_NS 100000000ll
#define RING_WAIT_ROUNDS 20
#define NS_PER_SECOND 1000000000ull
/* The error UFFDIO_API gives for features this kernel lacks (errno.h). */
#define EINVAL_VALUE 22
/* FUTEX_WAKE's count meaning "every waiter". */
#define FUTEX_WAKE_EVERYONE 0x7fffffff

/* Offsets into the kernel's siginfo for a fault. */
struct fault_info {
	int32_t signo;
	int32_t errno_value;
	int32_t code;
	int32_t pad;
	uint64_t address;
};

static uint64_t monotonic_ns(void) {
	struct kernel_timespec now = { 0, 0 };
	sys_call2(__NR_clock_gettime, CLOCK_MONOTONIC, (long)&now);
	return (uint64_t)now.seconds * NS_PER_SECOND + (uint64_t)now.nanoseconds;
}

static uint8_t *page_states(const struct fl_launch_spec *spec) {
	(void)spec;
	return private_page_states;
}

static struct fl_event *ring_events(struct fl_ring *ring) {
	return (struct fl_event *)(ring + 1);
}

static void futex_wake_all(uint32_t *word) {
	/* Shared (not FUTEX_PRIVATE): the waiter is the parent process. A
	 * failed wake only delays the log until the reader's timeout. */
	sys_call3(__NR_futex, (long)word, FUTEX_WAKE, FUTEX_WAKE_EVERYONE);
}

/* Count one more of `count` (its check word one less: ~(v + 1) = ~v - 1). */
static void count_one(enum fl_count count) {
	__atomic_fetch_add(&active_ring->counters.value[count], 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&active_ring->counters.check[count], 1, __ATOMIC_RELAXED);
}

/* Set once a writer waited in vain for room: the reader is gone (Bun was
 * killed) or stuck, and the program must not wait for it again. */
static int reader_lost;

/* Append an event; waits a bounded time for room, then stops logging. */
static void publish(struct fl_launch_spec *spec, const struct fl_event *event) {
	struct fl_ring *ring = active_ring;
	if (!spec->events_wanted || ring_capacity == 0)
		return;
	uint64_t slot = __atomic_fetch_add(&ring->head, 1, __ATOMIC_ACQ_REL);
	for (int round = 0; slot - __atomic_load_n(&ring->tail, __ATOMIC_SEQ_CST) >= ring_capacity; round++) {
		if (round == RING_WAIT_ROUNDS || __atomic_load_n(&reader_lost, __ATOMIC_RELAXED)) {
			__atomic_store_n(&reader_lost, 1, __ATOMIC_RELAXED);
			count_one(FL_COUNT_EVENTS_DROPPED);
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

/*
 * Give a reserved file page whose tail must read as zeros its contents
 * without any thread seeing it half done: move the reservation out of the
 * way (the address becomes a hole; other threads faulting there wait on the
 * page's ENABLING state), fill it, and move it back.
 */
static sys_result enable_mixed_page(const struct fl_region *region, uint64_t page) {
	sys_result scratch = sys_mmap(0, FL_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch < 0)
		return scratch;
	sys_result r = sys_call5(__NR_mremap, (long)page, FL_PAGE_SIZE, FL_PAGE_SIZE,
				 MREMAP_MAYMOVE | MREMAP_FIXED, scratch);
	if (r < 0) {
		sys_munmap((uint64_t)scratch, FL_PAGE_SIZE);
		return r;
	}
	r = sys_mprotect((uint64_t)scratch, FL_PAGE_SIZE, PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	uint64_t from = region->zero_from - page;
	bytes_zero((char *)scratch + from, FL_PAGE_SIZE - from);
	r = sys_mprotect((uint64_t)scratch, FL_PAGE_SIZE, (int)region->prot);
	if (r < 0)
		return r;
	r = sys_call5(__NR_mremap, scratch, FL_PAGE_SIZE, FL_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
		      (long)page);
	return r < 0 ? r : 0;
}

/*
 * Make one page of a demand region accessible. Returns 1 if this call
 * enabled it, 0 if it was enabled (or being enabled) already, or a negative
 * errno. Never replaces a page another thread has enabled.
 */
static sys_result enable_page(struct fl_launch_spec *spec, const struct fl_region *region, uint64_t page) {
	uint8_t *state = &page_states(spec)[region->page_index + (page - region->start) / FL_PAGE_SIZE];
	uint8_t expected = FL_PAGE_RESERVED;
	if (!__atomic_compare_exchange_n(state, &expected, FL_PAGE_ENABLING, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return 0;
	sys_result r;
	if (region->zero_from && region->offset != FL_ANONYMOUS && region->zero_from >= page &&
	    region->zero_from < page + FL_PAGE_SIZE)
		r = enable_mixed_page(region, page);
	else
		r = sys_mprotect(page, FL_PAGE_SIZE, (int)region->prot);
	if (r < 0) {
		__atomic_store_n(state, FL_PAGE_RESERVED, __ATOMIC_RELEASE);
		return r;
	}
	__atomic_store_n(state, FL_PAGE_ENABLED, __ATOMIC_RELEASE);
	(void)spec;
	count_one(FL_COUNT_PAGES_ENABLED);
	return 1;
}

static int page_is_reserved(const struct fl_launch_spec *spec, const struct fl_region *region, uint64_t page) {
	return page_states((struct fl_launch_spec *)spec)[region->page_index + (page - region->start) / FL_PAGE_SIZE] ==
	       FL_PAGE_RESERVED;
}

/* Add page to the event if it is a reserved page of the same demand region
 * and this call enables it. */
static sys_result predict(struct fl_launch_spec *spec, const struct fl_region *region, uint64_t page,
			  struct fl_event *event) {
	if (!fl_in_region(region, page) || event->count >= FL_EVENT_PAGES)
		return 0;
	if (!page_is_reserved(spec, region, page))
		return 0;
	sys_result r = enable_page(spec, region, page);
	if (r == 1)
		event->pages[event->count++] = page;
	return r < 0 ? r : 0;
}

/* Enable the pages the predictor expects after this fault (predict.h). */
static sys_result run_predictor(struct fl_launch_spec *spec, const struct fl_region *region, uint64_t page,
				struct fl_event *event) {
	uint64_t candidates[FL_EVENT_PAGES];
	uint64_t pages = spec->predict_pages < FL_EVENT_PAGES ? spec->predict_pages : FL_EVENT_PAGES;
	uint64_t count = fl_predict(private_predictor, spec->predictor, pages, page, candidates, &event->decision);
	sys_result r = 0;
	for (uint64_t i = 0; i < count && r >= 0; i++)
		r = predict(spec, region, candidates[i], event);
	return r;
}

/* ---- prefetching: a learned working set mapped before the jump ----------- */

static const struct fl_prefetch_run *prefetch_runs(const struct fl_launch_spec *spec) {
	return (const struct fl_prefetch_run *)((const char *)spec + spec->prefetch_offset);
}

/* The demand region that holds the whole run, or 0 (TypeScript makes runs
 * inside one; a run that is not is left to demand paging). */
static const struct fl_region *run_region(const struct fl_launch_spec *spec, const struct fl_prefetch_run *run) {
	const struct fl_region *region = fl_find_region(spec, run->start);
	if (!region || !(region->flags & FL_REGION_DEMAND) || run->pages == 0 ||
	    run->pages > (region->start + region->length - run->start) / FL_PAGE_SIZE)
		return 0;
	return region;
}

/* What stops the prefetching: the errno is kept in the status (the report
 * says so) and the pages not yet mapped are paged on demand as before. */
static void prefetch_stopped(struct fl_launch_spec *spec, sys_result r) {
	spec->status.prefetch_error = (uint64_t)-r;
}

/*
 * SIGSEGV paging: give each run its region's protection at once (one
 * mprotect a run, the page whose tail is zeroed apart) and mark its pages
 * enabled, so the program's first touch of them is the kernel's own fault,
 * never the handler's. Nothing is populated: a page the program never
 * touches costs no memory, and stays absent from its page tables.
 * `plan` is the spec (its prefetch table), `spec` the handler's copy.
 */
static void prefetch_enabling(struct fl_launch_spec *plan, struct fl_launch_spec *spec) {
	const struct fl_prefetch_run *runs = prefetch_runs(plan);
	for (uint64_t i = 0; i < plan->prefetch_count; i++) {
		const struct fl_region *region = run_region(spec, &runs[i]);
		if (!region)
			continue;
		uint64_t start = runs[i].start, end = start + runs[i].pages * FL_PAGE_SIZE;
		uint64_t mixed = region->zero_from && region->offset != FL_ANONYMOUS ? fl_page_down(region->zero_from) : 0;
		sys_result r = 0;
		if (mixed >= start && mixed < end) {
			/* The page the bss starts in: filled apart, as on a fault. */
			if (mixed > start)
				r = sys_mprotect(start, mixed - start, (int)region->prot);
			if (r >= 0)
				r = enable_mixed_page(region, mixed);
			if (r >= 0 && mixed + FL_PAGE_SIZE < end)
				r = sys_mprotect(mixed + FL_PAGE_SIZE, end - mixed - FL_PAGE_SIZE, (int)region->prot);
		} else {
			r = sys_mprotect(start, end - start, (int)region->prot);
		}
		if (r < 0) {
			prefetch_stopped(plan, r);
			return;
		}
		uint8_t *states = page_states(spec) + region->page_index + (start - region->start) / FL_PAGE_SIZE;
		for (uint64_t page = 0; page < runs[i].pages; page++)
			states[page] = FL_PAGE_ENABLED;
		plan->status.prefetched += runs[i].pages;
	}
}

/*
 * A fault that is not ours to resolve ends the program as it would have
 * ended natively: the handler steps aside (default action) and returns, so
 * the faulting instruction runs again and the kernel delivers the very same
 * SIGSEGV. A SIGSEGV sent by kill() does not repeat by itself, so it is sent
 * again (it stays pending until this handler returns).
 */
static void genuine(int sig, const struct fault_info *info, void *context) {
	count_one(FL_COUNT_GENUINE_FAULTS);
	if (active_spec->friendly_seed) {
		/* Ends the process, or in re-raise mode hands the fault back to
		 * the default action itself. */
		friendly_on_fault(sig, (siginfo_t *)info, context);
		return;
	}
	if (restore_default(sig) < 0)
		sys_exit_group(128 + sig); /* cannot step aside: end as the default would be reported */
	if (info->code <= 0)
		sys_call3(__NR_tgkill, sys_getpid(), sys_call0(__NR_gettid), sig);
}

#define SEGV_MAPERR_CODE 1
#define SEGV_ACCERR_CODE 2

/* Would the region's protection allow the access that faulted? Then the
 * fault was taken while the page was still being enabled (by this thread or
 * another) and the access only has to be retried. */
static int access_allowed(const struct fl_region *region, const void *context) {
	const ucontext_t *uc = context;
	uint64_t error = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
	if (error & X86_PF_INSTR)
		return (region->prot & PROT_EXEC) != 0;
	if (error & X86_PF_WRITE)
		return (region->prot & PROT_WRITE) != 0;
	return (region->prot & PROT_READ) != 0;
}

/*
 * Whether this thread may retry `address` on a page already enabled: yes
 * the first time (the fault was taken while another thread was enabling the
 * page), no when this thread was told to retry that very address last
 * time. Then the page's protection is not the region's, and only the
 * program can have changed it (mprotect: its RELRO made read-only, a guard
 * page): the access is as genuine a fault as it would be natively, and
 * retrying it would loop for ever. A full table answers yes.
 */
static int first_retry(uint64_t address) {
	int32_t tid = (int32_t)sys_call0(__NR_gettid);
	uint32_t slot = ((uint32_t)tid * TID_HASH) % RETRY_SLOTS;
	for (uint32_t probe = 0; probe < RETRY_SLOTS; probe++, slot = (slot + 1) % RETRY_SLOTS) {
		struct retried_fault *entry = &private_retries[slot];
		int32_t owner = __atomic_load_n(&entry->tid, __ATOMIC_ACQUIRE);
		if (owner == 0) {
			int32_t empty = 0;
			if (!__atomic_compare_exchange_n(&entry->tid, &empty, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				owner = empty;
			else
				owner = tid;
		}
		if (owner != tid)
			continue;
		if (entry->address == address)
			return 0;
		entry->address = address;
		return 1;
	}
	return 1;
}

static void fault_handler(int sig, void *raw_info, void *context) {
	const struct fault_info *info = raw_info;
	struct fl_launch_spec *spec = active_spec;
	if (info->code != SEGV_MAPERR_CODE && info->code != SEGV_ACCERR_CODE) {
		genuine(sig, info, context);
		return;
	}
	const struct fl_region *region = fl_find_region(spec, info->address);
	if (!region || !(region->flags & FL_REGION_DEMAND)) {
		genuine(sig, info, context);
		return;
	}
	uint64_t page = fl_page_down(info->address);
	uint8_t state = __atomic_load_n(&page_states(spec)[region->page_index + (page - region->start) / FL_PAGE_SIZE],
					__ATOMIC_ACQUIRE);
	if (state == FL_PAGE_ENABLED) {
		/* Enabled: the fault raced the enabling (retry), or the access
		 * breaks the page's protection (a write to text, say), or the
		 * program has changed that protection itself (see first_retry). */
		if (!access_allowed(region, context) || !first_retry(info->address))
			genuine(sig, info, context);
		return;
	}
	/* The clock is read only for the log and trace: a system call per
	 * fault is a measurable share of a fault's cost. */
	struct fl_event event = {
		.time_ns = spec->events_wanted ? monotonic_ns() : 0,
		.fault_address = info->address,
		.kind = FL_EVENT_FAULT,
	};
	sys_result r = enable_page(spec, region, page);
	if (r == 0)
		return; /* another thread is enabling it; the access is retried */
	if (r > 0) {
		count_one(FL_COUNT_FAULTS);
		event.pages[event.count++] = page;
		r = run_predictor(spec, region, page, &event);
	}
	if (r < 0) {
		uint64_t none = 0;
		if (__atomic_compare_exchange_n(&active_ring->counters.value[FL_COUNT_HANDLER_ERROR], &none, (uint64_t)-r, 0,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			__atomic_store_n(&active_ring->counters.check[FL_COUNT_HANDLER_ERROR], ~(uint64_t)-r, __ATOMIC_RELAXED);
		genuine(sig, info, context);
	}
	publish(spec, &event);
}

/* The return path from the handler (glibc's __restore_rt does the same). */
__asm__(".text\n"
	".type fl_restore_rt,@function\n"
	"fl_restore_rt:\n"
	"	mov $" FL_STR(__NR_rt_sigreturn) ", %eax\n"
	"	syscall\n"
	"	ud2\n"
	".size fl_restore_rt, .-fl_restore_rt\n");

static sys_result uffd_ioctl(long fd, unsigned long request, void *argument) {
	return sys_call3(__NR_ioctl, fd, (long)request, (long)argument);
}

/*
 * userfaultfd paging, once the regions are registered and before anyone
 * serves them: put each run in place with one ioctl, as the server would
 * answer a fault there, but before the program could take one. File pages
 * map the image copy's page-cache pages (UFFDIO_CONTINUE); bss pages map
 * the kernel's shared zero page (UFFDIO_ZEROPAGE), as a read fault served
 * later would, so a page the program never writes costs no memory and one
 * it writes is copied then, as natively. Exactly the runs' pages: a fault
 * of the kernel's own (madvise's populating, say) would map its neighbours
 * too (fault-around), which registered ranges never get.
 */
static void prefetch_placing(struct fl_launch_spec *spec, long fd) {
	const struct fl_prefetch_run *runs = prefetch_runs(spec);
	for (uint64_t i = 0; i < spec->prefetch_count; i++) {
		const struct fl_region *region = run_region(spec, &runs[i]);
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
			prefetch_stopped(spec, r);
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

/*
 * userfaultfd paging: register every demand region (its file pages mapped
 * from the image copy, a sealed memfd, for minor faults; its bss anonymous,
 * for missing pages), and send the descriptor to Bun, whose server thread
 * puts the faulting pages in place (shim/paging/serve.c); the loader closes its
 * own, so the program never holds one. No signal is involved: faults inside
 * system calls, with SIGSEGV blocked, or in a program with its own SIGSEGV
 * handler are all served (user-mode-only descriptors, for ordinary users,
 * serve the program's own accesses only, so TypeScript registers no pages
 * a system call could meet first). If the server dies, the kernel drops the
 * registrations: the copy's pages still hold the file's bytes, the bss
 * zeros, so the program never runs on pages nobody gave it.
 */
static sys_result start_userfaultfd(struct fl_launch_spec *spec, int control_fd) {
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

static uint64_t page_round_up(uint64_t n) {
	return (n + FL_PAGE_SIZE - 1) & ~(FL_PAGE_SIZE - 1);
}

/* The friendly reporter's stack when paging did not set one up. */
#define FRIENDLY_STACK_BYTES (64 * 1024)

sys_result fl_friendly_start(struct fl_launch_spec *spec) {
	friendly_report_init(spec->friendly_seed, (int)spec->friendly_reraise);
	int paging_by_signal = spec->policy != FL_POLICY_EAGER && spec->mechanism == FL_MECHANISM_SIGNAL &&
			       spec->demand_pages > 0;
	if (!paging_by_signal) {
		sys_result stack = sys_mmap(0, FRIENDLY_STACK_BYTES, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (stack < 0)
			return stack;
		struct kernel_stack alternate = { .sp = (uint64_t)stack, .size = FRIENDLY_STACK_BYTES };
		sys_result r = sys_call2(__NR_sigaltstack, (long)&alternate, 0);
		if (r < 0)
			return r;
	}
	struct kernel_sigaction action = {
		.handler = (uint64_t)friendly_on_fault,
		.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER_FLAG,
		.restorer = (uint64_t)fl_restore_rt,
		.mask = 0,
	};
	/* Under SIGSEGV paging the pager's handler stays on SIGSEGV and hands
	 * genuine faults to the reporter; SIGBUS is the reporter's alone. */
	if (!paging_by_signal) {
		sys_result r = sys_rt_sigaction(SIGSEGV, &action, 0, KERNEL_SIGSET_BYTES);
		if (r < 0)
			return r;
	}
	return sys_rt_sigaction(SIGBUS, &action, 0, KERNEL_SIGSET_BYTES);
}

sys_result fl_paging_start(struct fl_launch_spec *spec, int control_fd, int spec_fd) {
	if (spec->mechanism == FL_MECHANISM_USERFAULTFD)
		return start_userfaultfd(spec, control_fd);
	/* Private, not in the spec's shared memory: after a fork, parent and
	 * child each page their own copy of the address space, so each needs
	 * its own page states and its own handler stack; and nothing the
	 * program writes may change what Bun reads. Laid out as the handler's
	 * stack, then the predictor's state, the retried faults, a byte per
	 * page, and the copy of the plan's header and regions. */
	uint64_t stack_bytes = page_round_up(spec->altstack_size);
	uint64_t plan_bytes = spec->region_offset + spec->region_count * sizeof(struct fl_region);
	uint64_t states_bytes = page_round_up(sizeof(struct fl_predictor_state) + RETRY_SLOTS * sizeof(struct retried_fault) +
					      spec->demand_pages);
	uint64_t length = stack_bytes + states_bytes + page_round_up(plan_bytes);
	sys_result state = sys_mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (state < 0)
		return state;
	private_predictor = (struct fl_predictor_state *)((char *)state + stack_bytes);
	private_retries = (struct retried_fault *)(private_predictor + 1);
	private_page_states = (uint8_t *)(private_retries + RETRY_SLOTS);
	struct fl_launch_spec *copy = (struct fl_launch_spec *)((char *)state + stack_bytes + states_bytes);
	bytes_copy(copy, spec, plan_bytes);
	/* The ring window: the one part of the plan's memory the program keeps,
	 * shared with Bun's drainer, which trusts none of it. */
	ring_capacity = ((const struct fl_ring *)((const char *)spec + spec->ring_offset))->capacity;
	uint64_t ring_bytes = page_round_up(sizeof(struct fl_ring) + ring_capacity * sizeof(struct fl_event));
	sys_result ring = sys_mmap(0, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, spec_fd, (long)spec->ring_offset);
	if (ring < 0)
		return ring;
	active_ring = (struct fl_ring *)ring;
	active_spec = copy;
	prefetch_enabling(spec, copy);
	spec = copy;
	if (spec->policy == FL_POLICY_DEMAND) {
		/* dpager starts with the entry point's page and nothing else. */
		const struct fl_region *region = fl_find_region(spec, spec->entry);
		if (region && (region->flags & FL_REGION_DEMAND)) {
			struct fl_event event = { .time_ns = monotonic_ns(), .kind = FL_EVENT_START };
			sys_result r = enable_page(spec, region, fl_page_down(spec->entry));
			if (r < 0)
				return r;
			event.pages[event.count++] = fl_page_down(spec->entry);
			publish(spec, &event);
		}
	}
	struct kernel_stack stack = { .sp = (uint64_t)state, .size = spec->altstack_size };
	sys_result r = sys_call2(__NR_sigaltstack, (long)&stack, 0);
	if (r < 0)
		return r;
	struct kernel_sigaction action = {
		.handler = (uint64_t)fault_handler,
		.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER_FLAG,
		.restorer = (uint64_t)fl_restore_rt,
		.mask = 0,
	};
	return sys_rt_sigaction(SIGSEGV, &action, 0, KERNEL_SIGSET_BYTES);
}
