/*
 * clues.h — what the friendly reporter reads, besides the stack, to say why
 * a program that did not segfault ended: the instruction that trapped, and
 * the C library's last words before an abort.
 *
 * Two units, freestanding like the rest of the reporter (reads through
 * space_read, which cannot fault; no allocation):
 *   instruction.c    the faulting instruction decoded just enough: a
 *                    division's operands (by zero, or the most negative
 *                    number by -1), a deliberate trap (ud2), a breakpoint
 *   abort-message.c  glibc's __abort_msg (the text of a failed assert or of
 *                    the allocator's complaint), found by its symbol, and
 *                    what that text means
 */
#ifndef FAULTLINE_FRIENDLY_CLUES_H
#define FAULTLINE_FRIENDLY_CLUES_H

#include <stdint.h>

#include "friendly/backtrace.h"

/* ---- instruction.c ---- */

enum division_outcome {
	DIVISION_NOT_DECODED,   /* not a div/idiv this decoder reads */
	DIVISION_BY_ZERO,
	DIVISION_MOST_NEGATIVE, /* signed: the most negative value by -1 */
	DIVISION_TOO_LARGE,     /* the quotient does not fit (hand-written wide division) */
};

struct division {
	enum division_outcome outcome;
	uint32_t bits; /* the operand size: 8, 16, 32 or 64 */
	int is_signed;
};

/* Decode the div or idiv at the interrupted instruction of context (a
 * ucontext_t) and read its divisor from the registers or memory. */
void division_at(const void *context, struct division *out);

/* The bytes of ud2 (0f 0b), the instruction compilers emit for
 * __builtin_trap and unreachable code. */
#define UD2_FIRST 0x0f
#define UD2_SECOND 0x0b
/* int3, the one-byte breakpoint. */
#define INT3 0xcc
#define CODE_BYTES_SHOWN 4

/* Copy up to n bytes at address into out, as many as are readable from
 * the start; how many that is. */
uint32_t readable_bytes(uint64_t address, uint8_t *out, uint32_t n);

/* ---- abort-message.c ---- */

/* glibc's messages are one or two lines; a failed assert names its file,
 * function and expression, which may be long. */
#define ABORT_MESSAGE_BYTES 512

enum abort_reason {
	ABORT_PLAIN,            /* abort() with nothing said */
	ABORT_ASSERTION,        /* assert() failed */
	ABORT_DOUBLE_FREE,      /* free() of memory already freed */
	ABORT_INVALID_POINTER,  /* free() or realloc() of a pointer malloc never gave */
	ABORT_HEAP_CORRUPTED,   /* the allocator's own bookkeeping overwritten */
	ABORT_STACK_SMASHED,    /* the stack protector's canary overwritten */
	ABORT_BUFFER_OVERFLOW,  /* _FORTIFY_SOURCE caught a copy too large */
	ABORT_OTHER_MESSAGE,    /* the C library said something else */
	ABORT_UNCAUGHT_EXCEPTION, /* C++: a throw no catch took (from the frames' names) */
};

/* Read glibc's __abort_msg from whichever of the modules defines it: 1 and
 * the text (NUL-terminated, cut at ABORT_MESSAGE_BYTES - 1) in out, or 0
 * when none does or it was never set. */
int abort_message(struct module *const *modules, uint32_t count, char out[ABORT_MESSAGE_BYTES]);

/* What a message means. Pure. */
enum abort_reason abort_reason_of(const char *message);

/* A failed assert's expression within its message ("... Assertion `n > 0'
 * failed."): its start and length, or 0 when the message has none. Pure. */
int assertion_text(const char *message, const char **start, uint32_t *length);

#endif
