/*
 * pin.h — holding a program's memory past its exit for the end look
 * (pin.c): the waiter (shim/loader/launch.c) takes the hold while the
 * program waits for its go; JavaScript lets it go (bun:ffi) after the look.
 */
#ifndef FAULTLINE_PIN_H
#define FAULTLINE_PIN_H

#include <stdint.h>

/* A handle for fl_pin_release, or a negative errno (see pin.c). */
int64_t fl_pin_start(int64_t pid, uint64_t address);
/* 0 or a negative errno; the handle is gone either way. */
int64_t fl_pin_release(int64_t handle);

#endif
