/*
 * loader.h — the loader's own entry points across its units: the jump
 * (loader.c) and --friendly's set-up (friendly-start.c).
 */
#ifndef FAULTLINE_LOADER_H
#define FAULTLINE_LOADER_H

#include <stdint.h>

#include "launch.h"
#include "common/sys.h"

/* Unmap [spec_start, +spec_length) if the length is not 0 and the loader's
 * stack [stack_start, +stack_length), reset the registers and jump to entry
 * with rsp = sp; never returns. */
__attribute__((noreturn)) void fl_enter_program(uint64_t sp, uint64_t entry, uint64_t spec_start,
						uint64_t spec_length, uint64_t stack_start, uint64_t stack_length,
						uint64_t clear_avx);

/* --friendly: report genuine faults with friendly_on_fault (SIGSEGV and
 * SIGBUS), on an alternate stack of its own unless paging already set one
 * up. Under SIGSEGV paging, the fault handler calls the reporter itself for
 * the faults it does not own. */
__attribute__((visibility("hidden"))) sys_result fl_friendly_start(struct fl_launch_spec *spec);

#endif
