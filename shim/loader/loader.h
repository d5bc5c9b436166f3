/*
 * loader.h — the loader's jump (shim/loader/loader.c).
 */
#ifndef FAULTLINE_LOADER_H
#define FAULTLINE_LOADER_H

#include <stdint.h>

/* Unmap [spec_start, +spec_length) if the length is not 0 and the loader's
 * stack [stack_start, +stack_length), reset the registers and jump to entry
 * with rsp = sp; never returns. */
__attribute__((noreturn)) void fl_enter_program(uint64_t sp, uint64_t entry, uint64_t spec_start,
						uint64_t spec_length, uint64_t stack_start, uint64_t stack_length,
						uint64_t clear_avx);

#endif
