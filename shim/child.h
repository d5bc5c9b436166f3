/*
 * child.h — the two entry points of the child's freestanding path.
 */
#ifndef FAULTLINE_CHILD_H
#define FAULTLINE_CHILD_H

#include <stdint.h>

struct fl_launch_spec;

/* Fork with the child on the spec's kept stack, running the child's steps.
 * Returns the child's pid (or a negative errno) in the parent only. */
__attribute__((visibility("hidden"))) long fl_clone_child(struct fl_launch_spec *spec, uint64_t stack_top);

/* Unmap [unmap_start, +unmap_length) if the length is not 0, reset the
 * registers and jump to entry with rsp = sp; never returns. */
__attribute__((noreturn, visibility("hidden"))) void fl_enter_program(uint64_t sp, uint64_t entry,
								      uint64_t unmap_start,
								      uint64_t unmap_length,
								      uint64_t clear_avx);

#endif
