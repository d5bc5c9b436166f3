/*
 * friendly-start.c — the pagers' --friendly in the loader: genuine faults,
 * and the other crash signals (FRIENDLY_SIGNALS), end with the same message
 * and diagnosis libetsbefriends.so gives
 * (friendly/friendly-report.c), installed just before the jump.
 * Freestanding, like the rest of the loader.
 */
#include <linux/mman.h>
#include <signal.h>

#include "common/kernel.h"
#include "friendly/friendly.h"
#include "loader/loader.h"
#include "paging/paging.h"

/* The friendly reporter's stack when paging did not set one up. */
#define FRIENDLY_STACK_BYTES (64 * 1024)
/* A signal's bit in the kernel's signal set: signal 1 is bit 0. */
#define SIGNAL_BIT(sig) (1ull << ((sig) - 1))

sys_result fl_friendly_start(struct fl_launch_spec *spec) {
	friendly_report_init(spec->friendly_seed, (int)spec->friendly_reraise);
	int paging_by_signal = spec->policy != FL_POLICY_EAGER && spec->mechanism == FL_MECHANISM_SIGNAL &&
			       spec->demand_pages > 0;
	if (!paging_by_signal) {
		sys_result stack = sys_mmap(FL_RESIDUE_FRIENDLY_ADDRESS, FRIENDLY_STACK_BYTES, PROT_READ | PROT_WRITE,
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
	static const int reported[FRIENDLY_SIGNAL_COUNT] = FRIENDLY_SIGNALS;
	for (int i = 0; i < FRIENDLY_SIGNAL_COUNT; i++)
		action.mask |= SIGNAL_BIT(reported[i]);
	/* Under SIGSEGV paging the pager's handler stays on SIGSEGV and hands
	 * genuine faults to the reporter; the other signals are the
	 * reporter's alone, unless the program starts with one ignored (as
	 * its caller left it): that stays as it is. */
	for (int i = 0; i < FRIENDLY_SIGNAL_COUNT; i++) {
		if (reported[i] == SIGSEGV && paging_by_signal)
			continue;
		struct kernel_sigaction current;
		sys_result r = sys_rt_sigaction(reported[i], 0, &current, KERNEL_SIGSET_BYTES);
		if (r < 0)
			return r;
		if (current.handler != HANDLER_DEFAULT)
			continue;
		r = sys_rt_sigaction(reported[i], &action, 0, KERNEL_SIGSET_BYTES);
		if (r < 0)
			return r;
	}
	return 0;
}
