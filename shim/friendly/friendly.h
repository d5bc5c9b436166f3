/*
 * friendly.h — libetsbefriends.so, friendly segfaults for any dynamically
 * linked program (LD_PRELOAD).
 *
 * Two units, one concern each:
 *   friendly.c        set-up, with libc: the constructor that installs the
 *                     handler and alternate signal stacks, and the
 *                     pthread_create wrapper that gives each new thread one.
 *   friendly-report.c the fault handler: classify the fault, find the mapping
 *                     that holds its address, write the message and the
 *                     diagnosis, end the process. Freestanding: raw system
 *                     calls only, checked at build time to call nothing
 *                     outside itself, so it is async-signal-safe by
 *                     construction.
 */
#ifndef FAULTLINE_FRIENDLY_H
#define FAULTLINE_FRIENDLY_H

#include <signal.h>
#include <stdint.h>

/* Symbols the dynamic linker must see (the pthread_create wrapper);
 * everything else stays hidden. */
#define FRIENDLY_EXPORT __attribute__((visibility("default")))

/* Set it (to anything but "" or "0") to have the handler re-raise the signal
 * after its message, for a core dump or a debugger, instead of exiting 139. */
#define FRIENDLY_RERAISE_VARIABLE "FAULTLINE_FRIENDLY_RERAISE"

/* Called once by the constructor, before the handler is installed: the
 * per-process seed for choosing a message (never zero), and whether to
 * re-raise instead of exiting. */
void friendly_report_init(uint64_t seed, int reraise);

/* The SIGSEGV and SIGBUS handler (SA_SIGINFO | SA_ONSTACK). Never returns,
 * except in re-raise mode, where the signal's default action follows. */
void friendly_on_fault(int sig, siginfo_t *info, void *context);

#endif
