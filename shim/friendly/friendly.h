/*
 * friendly.h — libetsbefriends.so, friendly crash reports (segfaults, bus
 * errors, division by zero, aborts, illegal instructions, breakpoints,
 * refused system calls) for any dynamically linked program (LD_PRELOAD).
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
 * after its message, for a core dump or a debugger, instead of exiting 139
 * (SIGSEGV) or 135 (SIGBUS). The other signals end with the signal anyway. */
#define FRIENDLY_RERAISE_VARIABLE "FAULTLINE_FRIENDLY_RERAISE"

/* Called once by the constructor, before the handler is installed: the
 * per-process seed for choosing a message (never zero), and whether to
 * re-raise instead of exiting. */
void friendly_report_init(uint64_t seed, int reraise);

/* The signals reported: those whose default action ends the program with a
 * core dump and that code, not a person at a terminal, brings about. */
#define FRIENDLY_SIGNALS { SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL, SIGTRAP, SIGSYS }
#define FRIENDLY_SIGNAL_COUNT 7
_Static_assert(sizeof((int[])FRIENDLY_SIGNALS) / sizeof(int) == FRIENDLY_SIGNAL_COUNT, "FRIENDLY_SIGNAL_COUNT");

/* The handler for all of them (SA_SIGINFO | SA_ONSTACK). For SIGSEGV and
 * SIGBUS it never returns, except in re-raise mode; for the others it
 * returns with the default action restored and the signal on its way
 * again, so the program ends with it as it would have. */
void friendly_on_fault(int sig, siginfo_t *info, void *context);

#endif
