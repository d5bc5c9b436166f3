/*
 * child.h — the two entry points of the child's freestanding path.
 */
#ifndef FAULTLINE_CHILD_H
#define FAULTLINE_CHILD_H

#include <stdint.h>

struct fl_launch_spec;

/* Switch to the spec's kept stack and run the child's steps; never returns. */
__attribute__((noreturn, visibility("hidden"))) void fl_child_on_stack(struct fl_launch_spec *spec,
								       uint64_t stack_top);

/* Unmap [unmap_start, +unmap_length) if the length is not 0, reset the
 * registers and jump to entry with rsp = sp; never returns. */
__attribute__((noreturn, visibility("hidden"))) void fl_enter_program(uint64_t sp, uint64_t entry,
								      uint64_t unmap_start,
								      uint64_t unmap_length,
								      uint64_t clear_avx);

#endif
