/*
 * fault-handler.c — SIGSEGV paging in the loaded program: the handler, the
 * pages it enables and the predictions it follows, and its set-up before
 * the jump. Freestanding: it runs in the program's process, on the
 * program's threads, with libc gone (or the program's own libc, which a
 * handler must not call).
 *
 * Demand regions are reserved at start as PROT_NONE mappings (from the
 * file where they are file-backed, so no descriptor has to stay open), and
 * a fault enables one page by giving it the region's protection. A state
 * byte per page (reserved, enabling, enabled) decides who enables it when
 * threads race, and tells a demand fault from a genuine protection fault.
 * Each fault is published in the event ring (event-ring.c) that Bun logs
 * from. (userfaultfd paging is userfaultfd.c's.)
 *
 * Rules for code here (as for any signal handler): no libc, no allocation,
 * no locks that a fault could already hold; only raw system calls and
 * atomics on kept memory.
 */
#define _GNU_SOURCE /* REG_ERR */
#include <linux/mman.h>
#include <signal.h>
#include <sys/ucontext.h>

#include "launch.h"
#include "common/kernel.h"
#include "common/sys.h"
#include "friendly/friendly.h"
#include "paging/event-ring.h"
#include "paging/paging.h"
#include "paging/predict.h"
#include "paging/prefetch.h"
#include "paging/regions.h"

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

/* This process's own paging state (see fl_paging_start), set once before
 * the jump: the handler's own copy of the plan's header and regions
 * (private: the program cannot change what Bun reads), the page states,
 * the predictor's state and the retried faults. */
static struct fl_launch_spec *active_spec;
static uint8_t *private_page_states;
static struct fl_predictor_state *private_predictor;
static struct retried_fault *private_retries;

/* Offsets into the kernel's siginfo for a fault. */
struct fault_info {
	int32_t signo;
	int32_t errno_value;
	int32_t code;
	int32_t pad;
	uint64_t address;
};

static uint8_t *page_states(const struct fl_launch_spec *spec) {
	(void)spec;
	return private_page_states;
}

/*
 * Put a reservation that enable_mixed_page moved to `scratch` back at
 * `page` as it was, PROT_NONE, after `error`, which is what the caller is
 * told: the page stays reserved, and a later fault tries it again. Best
 * effort: a protection that cannot be taken back still leaves the page's
 * contents right (the file's, its tail zeroed or not yet), so it goes back
 * regardless; if it cannot go back, nothing more can be done in a handler,
 * and the hole left at `page` fails the next touch with the same report.
 */
static sys_result put_back(uint64_t scratch, uint64_t page, sys_result error) {
	sys_result r = sys_mprotect(scratch, FL_PAGE_SIZE, PROT_NONE);
	(void)r; /* the page goes back whatever its protection */
	r = sys_mremap(scratch, FL_PAGE_SIZE, FL_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, page);
	(void)r; /* `error` is the failure reported */
	return error;
}

/*
 * Give a reserved file page whose tail must read as zeros its contents
 * without any thread seeing it half done: move the reservation out of the
 * way (the address becomes a hole; other threads faulting there wait on the
 * page's ENABLING state), fill it, and move it back. A failure once it has
 * moved puts it back, still reserved, before it is reported.
 */
static sys_result enable_mixed_page(const struct fl_region *region, uint64_t page) {
	sys_result scratch = sys_mmap(0, FL_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch < 0)
		return scratch;
	sys_result r = sys_mremap(page, FL_PAGE_SIZE, FL_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, (uint64_t)scratch);
	if (r < 0) {
		/* Nothing moved: the scratch page is only a spare. */
		sys_munmap((uint64_t)scratch, FL_PAGE_SIZE);
		return r;
	}
	r = sys_mprotect((uint64_t)scratch, FL_PAGE_SIZE, PROT_READ | PROT_WRITE);
	if (r < 0)
		return put_back((uint64_t)scratch, page, r);
	uint64_t from = region->zero_from - page;
	bytes_zero((char *)scratch + from, FL_PAGE_SIZE - from);
	r = sys_mprotect((uint64_t)scratch, FL_PAGE_SIZE, (int)region->prot);
	if (r < 0)
		return put_back((uint64_t)scratch, page, r);
	r = sys_mremap((uint64_t)scratch, FL_PAGE_SIZE, FL_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, page);
	if (r < 0)
		return put_back((uint64_t)scratch, page, r);
	return 0;
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
	fl_ring_count(FL_COUNT_PAGES_ENABLED);
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

/*
 * SIGSEGV paging: give each run its region's protection at once (one
 * mprotect a run, the page whose tail is zeroed apart) and mark its pages
 * enabled, so the program's first touch of them is the kernel's own fault,
 * never the handler's. Nothing is populated: a page the program never
 * touches costs no memory, and stays absent from its page tables.
 * `plan` is the spec (its prefetch table), `spec` the handler's copy.
 */
static void prefetch_enabling(struct fl_launch_spec *plan, struct fl_launch_spec *spec) {
	const struct fl_prefetch_run *runs = fl_prefetch_runs(plan);
	for (uint64_t i = 0; i < plan->prefetch_count; i++) {
		const struct fl_region *region = fl_prefetch_region(spec, &runs[i]);
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
			fl_prefetch_stopped(plan, r);
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
	fl_ring_count(FL_COUNT_GENUINE_FAULTS);
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
		.time_ns = spec->events_wanted ? fl_ring_clock() : 0,
		.fault_address = info->address,
		.kind = FL_EVENT_FAULT,
	};
	sys_result r = enable_page(spec, region, page);
	if (r == 0)
		return; /* another thread is enabling it; the access is retried */
	if (r > 0) {
		fl_ring_count(FL_COUNT_FAULTS);
		event.pages[event.count++] = page;
		r = run_predictor(spec, region, page, &event);
	}
	if (r < 0) {
		fl_ring_note_error((uint64_t)-r);
		genuine(sig, info, context);
	}
	fl_ring_publish(spec, &event);
}

/* The return path from the handler (glibc's __restore_rt does the same). */
__asm__(".text\n"
	".globl fl_restore_rt\n"
	".hidden fl_restore_rt\n"
	".type fl_restore_rt,@function\n"
	"fl_restore_rt:\n"
	"	mov $" FL_STR(__NR_rt_sigreturn) ", %eax\n"
	"	syscall\n"
	"	ud2\n"
	".size fl_restore_rt, .-fl_restore_rt\n");

sys_result fl_paging_start(struct fl_launch_spec *spec, int control_fd, int spec_fd) {
	if (spec->mechanism == FL_MECHANISM_USERFAULTFD)
		return fl_userfaultfd_start(spec, control_fd);
	/* Private, not in the spec's shared memory: after a fork, parent and
	 * child each page their own copy of the address space, so each needs
	 * its own page states and its own handler stack; and nothing the
	 * program writes may change what Bun reads. Laid out as the handler's
	 * stack, then the predictor's state, the retried faults, a byte per
	 * page, and the copy of the plan's header and regions. */
	uint64_t stack_bytes = fl_page_up(spec->altstack_size);
	uint64_t plan_bytes = spec->region_offset + spec->region_count * sizeof(struct fl_region);
	uint64_t states_bytes = fl_page_up(sizeof(struct fl_predictor_state) + RETRY_SLOTS * sizeof(struct retried_fault) +
					 spec->demand_pages);
	uint64_t length = stack_bytes + states_bytes + fl_page_up(plan_bytes);
	sys_result state = sys_mmap(FL_RESIDUE_PAGING_ADDRESS, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (state < 0)
		return state;
	private_predictor = (struct fl_predictor_state *)((char *)state + stack_bytes);
	private_retries = (struct retried_fault *)(private_predictor + 1);
	private_page_states = (uint8_t *)(private_retries + RETRY_SLOTS);
	struct fl_launch_spec *copy = (struct fl_launch_spec *)((char *)state + stack_bytes + states_bytes);
	bytes_copy(copy, spec, plan_bytes);
	/* The ring window: the one part of the plan's memory the program keeps. */
	sys_result ring = fl_ring_attach(spec, spec_fd);
	if (ring < 0)
		return ring;
	active_spec = copy;
	prefetch_enabling(spec, copy);
	spec = copy;
	if (spec->policy == FL_POLICY_DEMAND) {
		/* dpager starts with the entry point's page and nothing else. */
		const struct fl_region *region = fl_find_region(spec, spec->entry);
		if (region && (region->flags & FL_REGION_DEMAND)) {
			struct fl_event event = { .time_ns = fl_ring_clock(), .kind = FL_EVENT_START };
			sys_result r = enable_page(spec, region, fl_page_down(spec->entry));
			if (r < 0)
				return r;
			event.pages[event.count++] = fl_page_down(spec->entry);
			fl_ring_publish(spec, &event);
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
