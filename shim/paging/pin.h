/*
 * pin.h — holding a program's memory past its exit for the end look
 * (pin.c). Used by JavaScript through bun:ffi, and by the waiter
 * (shim/loader/launch.c), which takes the hold itself when nothing else
 * needs JavaScript between the program's placement and its jump.
 */
#ifndef FAULTLINE_PIN_H
#define FAULTLINE_PIN_H

#include <stdint.h>

/* A handle for fl_pin_release, or a negative errno (see pin.c). */
int64_t fl_pin_start(int64_t pid, uint64_t address);
/* 0 or a negative errno; the handle is gone either way. */
int64_t fl_pin_release(int64_t handle);

#endif
