/*
 * friendly-report.c — what libetsbefriends.so does when the program crashes:
 * one encouraging message (from the set for that kind of crash), a short
 * diagnosis (the signal, what it looks like, for a bad access the mapping
 * that holds the address), where it happened, then the end:
 *   - SIGSEGV and SIGBUS: exit 128+signal as a shell would report the
 *     crash, or re-raise the signal when asked;
 *   - SIGFPE, SIGABRT, SIGILL, SIGTRAP and SIGSYS: the signal itself, as
 *     natively (the same status, core dump and shell message).
 *
 * Freestanding, like the pagers' fault handler: it runs inside a crashing
 * program whose heap, stdio or locks may be what broke, so it calls no libc
 * at all (the build checks the object calls nothing outside itself). Only raw
 * system calls (write, openat, read, pread, close, process_vm_readv, socket,
 * connect, rt_sigaction, tgkill, pause, exit_group, ...), all
 * async-signal-safe. No allocation: the report is built in static buffers,
 * which only the one thread that reports ever touches.
 */
#define _GNU_SOURCE /* REG_RSP, REG_ERR, SI_* and SEGV_* codes */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ucontext.h>

#include "friendly/backtrace.h"
#include "friendly/clues.h"
#include "friendly/friendly.h"
#include "friendly/friendly-messages.h"
#include "common/kernel.h"
#include "common/sys.h"

/* Nothing is ever mapped below vm.mmap_min_addr, 64 KiB by default: a fault
 * this low (with no mapping there) is a NULL pointer plus a small offset, a
 * field of a struct or an element of an array it points to. */
#define NULL_POINTER_REACH 0x10000ull
/* A stack overflow faults right by the interrupted stack pointer: a push or
 * call just below it, or a local of the frame just made above it. The
 * guard below the stack is unmapped (main thread) or PROT_NONE (threads). */
#define STACK_POINTER_REACH 0x10000ull
/* Room for the whole report (a message, four lines of diagnosis and up to
 * 33 frames with their names, modules and the resolver's at most 15 KiB),
 * and for one line of /proc/self/maps (longer lines, with very long paths,
 * are cut). */
#define REPORT_BYTES (32 * 1024)
#define MAPS_LINE_BYTES 512
#define MAPS_CHUNK_BYTES 4096
/* SIGSYS's si_code for a call a seccomp filter trapped (the kernel's
 * asm-generic/siginfo.h; glibc's headers do not name it). */
#define SIGSYS_SECCOMP 1

/* Set once by the constructor, before the handler can run. */
static uint64_t message_seed = 1;
static int reraise_wanted;
/* The first thread to fault reports; any other waits for it to end the
 * process. */
static int reporting;

/* Text built without libc: appends stop quietly at the buffer's end. */
struct text {
	char bytes[REPORT_BYTES];
	uint64_t length;
};

/* The mapping that holds an address, from /proc/self/maps. */
struct mapping {
	int found;
	/* 0, or the negative errno that kept the maps from being read. */
	long error;
	char perms[4];
	char line[MAPS_LINE_BYTES];
	uint64_t line_length;
};

enum fault_kind {
	FAULT_SENT,
	FAULT_GENERAL_PROTECTION,
	FAULT_NULL_POINTER,
	FAULT_STACK_OVERFLOW,
	FAULT_WRITE_READ_ONLY,
	FAULT_NOT_EXECUTABLE,
	FAULT_NO_ACCESS,
	FAULT_UNMAPPED,
	FAULT_PROTECTION_KEY,
	FAULT_PAST_FILE_END,
	FAULT_MISALIGNED,
	FAULT_HARDWARE,
	/* SIGFPE */
	FAULT_DIVIDE_BY_ZERO,
	FAULT_DIVIDE_MOST_NEGATIVE,
	FAULT_DIVIDE_TOO_LARGE,
	FAULT_DIVIDE_ERROR, /* a divide error whose instruction was not decoded */
	FAULT_FLOAT_DIVIDE_BY_ZERO,
	FAULT_FLOAT_OVERFLOW,
	FAULT_FLOAT_UNDERFLOW,
	FAULT_FLOAT_INEXACT,
	FAULT_FLOAT_INVALID,
	FAULT_FLOAT_OTHER,
	/* SIGABRT, raised by the program itself: see abort_reason */
	FAULT_ABORT,
	/* SIGILL */
	FAULT_DELIBERATE_TRAP,
	FAULT_NOT_AN_INSTRUCTION,
	FAULT_PRIVILEGED,
	/* SIGTRAP */
	FAULT_BREAKPOINT,
	FAULT_SINGLE_STEP,
	/* SIGSYS */
	FAULT_SYSTEM_CALL_REFUSED,
	FAULT_OTHER,
};

/* What the kernel told the handler, in plain numbers. */
struct fault {
	int signal;
	int code;
	uint64_t address;
	uint64_t stack_pointer;
	uint64_t error_code;
	uint64_t pc;
	int sender;
	int tid;
	int pid;
	int system_call; /* SIGSYS: the refused call's number */
};

static struct text report;
static struct mapping holder;
static char maps_chunk[MAPS_CHUNK_BYTES];

/* Where: the frames, and for each its module (0: none), whether that is
 * the program, the link address to look it up at, its symbol, and what the
 * resolver said (if it answered). */
static struct backtrace trace;
static struct module *frame_modules[BACKTRACE_FRAMES];
static int frame_in_program[BACKTRACE_FRAMES];
static uint64_t frame_links[BACKTRACE_FRAMES];
static const char *frame_paths[BACKTRACE_FRAMES];
static struct symbol frame_symbols[BACKTRACE_FRAMES];
static struct source_answer source;
static int source_answered;
/* SIGABRT: the C library's leading frames left out of the where (the
 * frames shown start at this one), and its last message. */
static uint32_t first_shown;
static int folded_cxx; /* some of those frames are the C++ library's */
static char abort_text[ABORT_MESSAGE_BYTES];
static enum abort_reason abort_why;
/* SIGFPE's divide error, and SIGILL's bytes. */
static struct division divide;
static uint8_t instruction[CODE_BYTES_SHOWN];
static uint32_t instruction_length;
/* One module's share of the frames, for symbols_lookup. */
static uint64_t batch_links[BACKTRACE_FRAMES];
static struct symbol batch_symbols[BACKTRACE_FRAMES];
static uint32_t batch_frames[BACKTRACE_FRAMES];

void friendly_report_init(uint64_t seed, int reraise) {
	message_seed = seed != 0 ? seed : 1;
	reraise_wanted = reraise;
}

static void put(struct text *t, const char *s) {
	while (*s != '\0' && t->length < sizeof t->bytes)
		t->bytes[t->length++] = *s++;
}

static void put_bytes(struct text *t, const char *s, uint64_t n) {
	for (uint64_t i = 0; i < n && t->length < sizeof t->bytes; i++)
		t->bytes[t->length++] = s[i];
}

/* Colour, when the resolver's process said the report goes to a terminal
 * that wants it (SOURCE_COLOUR_LINE): ECMA-48 select-graphic-rendition
 * sequences, each undone by its own reset so the rest is left as it was. */
#define STYLE_LABEL "\x1b[36m"   /* cyan */
#define STYLE_LABEL_END "\x1b[39m"
#define STYLE_MESSAGE "\x1b[1m"  /* bold */
#define STYLE_MESSAGE_END "\x1b[22m"

static int in_colour(void) {
	return source_answered && source.colour;
}

/* A line's label with the spaces around it ("  signal:  "), the label in
 * colour when the report is. */
static void put_label(struct text *t, const char *padded) {
	while (*padded == ' ')
		put_bytes(t, padded++, 1);
	int styled = in_colour() && *padded != '\0';
	if (styled)
		put(t, STYLE_LABEL);
	while (*padded != '\0' && *padded != ' ')
		put_bytes(t, padded++, 1);
	if (styled)
		put(t, STYLE_LABEL_END);
	put(t, padded);
}

static void put_hex(struct text *t, uint64_t value) {
	char digits[16];
	int n = 0;
	do {
		digits[n++] = "0123456789abcdef"[value & 0xf];
		value >>= 4;
	} while (value != 0);
	put(t, "0x");
	while (n > 0 && t->length < sizeof t->bytes)
		t->bytes[t->length++] = digits[--n];
}

static void put_decimal(struct text *t, uint64_t value) {
	char digits[20];
	int n = 0;
	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	while (n > 0 && t->length < sizeof t->bytes)
		t->bytes[t->length++] = digits[--n];
}

static void put_signed(struct text *t, int64_t value) {
	if (value < 0)
		put(t, "-");
	put_decimal(t, value < 0 ? -(uint64_t)value : (uint64_t)value);
}

static const char *const *message_set(int sig) {
	switch (sig) {
	case SIGBUS:
		return BUS_ERROR_MESSAGES;
	case SIGFPE:
		return ARITHMETIC_MESSAGES;
	case SIGABRT:
		return ABORT_MESSAGES;
	case SIGILL:
		return ILLEGAL_INSTRUCTION_MESSAGES;
	case SIGTRAP:
		return BREAKPOINT_MESSAGES;
	case SIGSYS:
		return SYSTEM_CALL_MESSAGES;
	default:
		return SEGFAULT_MESSAGES;
	}
}

/* xorshift64: a message per crash from the per-process seed, mixed with the
 * thread id so forked children (same seed) need not agree. */
static const char *chosen_message(int sig, int tid) {
	uint64_t x = message_seed ^ ((uint64_t)tid * 0x9e3779b97f4a7c15ull);
	if (x == 0)
		x = 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return message_set(sig)[x % FRIENDLY_MESSAGES_PER_KIND];
}

/* Whether si_code says the kernel raised the signal for a memory access (so
 * si_addr is the address touched), rather than a process sending it or a
 * general-protection fault (which reports no address). */
static int has_address(const struct fault *f) {
	return (f->signal == SIGSEGV || f->signal == SIGBUS) && f->code > 0 && f->code != SI_KERNEL;
}

/* Whether the kernel raised it for the instruction at si_addr (a trap), so
 * si_addr is that instruction's address. */
static int at_instruction(const struct fault *f) {
	return (f->signal == SIGFPE || f->signal == SIGILL || f->signal == SIGTRAP || f->signal == SIGSYS) &&
	       f->code > 0 && f->code != SI_KERNEL;
}

/* Whether the program itself raised it (abort, raise, kill of itself). */
static int self_sent(const struct fault *f) {
	return f->code <= 0 && f->sender == f->pid;
}

/* SIGSEGV and SIGBUS end with exit(128 + signal), as before this library
 * knew other signals; every other kind with the signal itself. */
static int ends_by_signal(int sig) {
	return sig != SIGSEGV && sig != SIGBUS;
}

/* ---- /proc/self/maps, read and matched without allocating ---- */

static int hex_digit(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse "start-end perms ..." from a line; 0 if it is not one. */
static int parse_maps_line(const char *line, uint64_t length, uint64_t *start, uint64_t *end, char perms[4]) {
	uint64_t i = 0, value = 0;
	for (; i < length && hex_digit(line[i]) >= 0; i++)
		value = value * 16 + (uint64_t)hex_digit(line[i]);
	if (i == 0 || i >= length || line[i] != '-')
		return 0;
	*start = value;
	uint64_t from = ++i;
	for (value = 0; i < length && hex_digit(line[i]) >= 0; i++)
		value = value * 16 + (uint64_t)hex_digit(line[i]);
	if (i == from || i + 5 > length || line[i] != ' ')
		return 0;
	*end = value;
	for (int p = 0; p < 4; p++)
		perms[p] = line[i + 1 + (uint64_t)p];
	return 1;
}

/* Scan /proc/self/maps for the line whose range holds address. Lines are
 * gathered a chunk at a time into holder.line; the scan stops at a match. */
static void find_mapping(struct mapping *m, uint64_t address) {
	m->found = 0;
	m->error = 0;
	m->line_length = 0;
	sys_result fd = sys_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (sys_failed(fd)) {
		m->error = fd;
		return;
	}
	int matched = 0;
	while (!matched) {
		sys_result n = sys_read((int)fd, maps_chunk, sizeof maps_chunk);
		if (n == -EINTR)
			continue;
		if (sys_failed(n)) {
			m->error = n;
			break;
		}
		if (n == 0)
			break;
		for (long i = 0; i < n && !matched; i++) {
			char c = maps_chunk[i];
			if (c != '\n') {
				if (m->line_length < sizeof m->line)
					m->line[m->line_length++] = c;
				continue;
			}
			uint64_t start, end;
			if (parse_maps_line(m->line, m->line_length, &start, &end, m->perms) && start <= address && address < end)
				matched = 1;
			else
				m->line_length = 0;
		}
	}
	m->found = matched;
	sys_close((int)fd); /* read-only: nothing to lose if close fails */
}

static int mapping_allows_nothing(const struct mapping *m) {
	return m->perms[0] == '-' && m->perms[1] == '-' && m->perms[2] == '-';
}

/* ---- classification: pure, from the numbers and the mapping ---- */

static uint64_t distance(uint64_t a, uint64_t b) {
	return a > b ? a - b : b - a;
}

static enum fault_kind classify_segv(const struct fault *f, const struct mapping *m) {
	int inaccessible = !m->found || mapping_allows_nothing(m);
	if (f->address < NULL_POINTER_REACH && !m->found)
		return FAULT_NULL_POINTER;
	if (distance(f->address, f->stack_pointer) < STACK_POINTER_REACH && inaccessible)
		return FAULT_STACK_OVERFLOW;
	switch (f->code) {
	case SEGV_MAPERR:
		return FAULT_UNMAPPED;
	case SEGV_ACCERR:
		if (f->error_code & X86_PF_INSTR)
			return FAULT_NOT_EXECUTABLE;
		if ((f->error_code & X86_PF_WRITE) && m->found && m->perms[1] != 'w' && !mapping_allows_nothing(m))
			return FAULT_WRITE_READ_ONLY;
		return FAULT_NO_ACCESS;
	case SEGV_PKUERR:
		return FAULT_PROTECTION_KEY;
	default:
		return FAULT_OTHER;
	}
}

static enum fault_kind classify_fpe(const struct fault *f) {
	switch (f->code) {
	case FPE_INTDIV:
	case FPE_INTOVF:
		switch (divide.outcome) {
		case DIVISION_BY_ZERO:
			return FAULT_DIVIDE_BY_ZERO;
		case DIVISION_MOST_NEGATIVE:
			return FAULT_DIVIDE_MOST_NEGATIVE;
		case DIVISION_TOO_LARGE:
			return FAULT_DIVIDE_TOO_LARGE;
		case DIVISION_NOT_DECODED:
			break;
		}
		return FAULT_DIVIDE_ERROR;
	case FPE_FLTDIV:
		return FAULT_FLOAT_DIVIDE_BY_ZERO;
	case FPE_FLTOVF:
		return FAULT_FLOAT_OVERFLOW;
	case FPE_FLTUND:
		return FAULT_FLOAT_UNDERFLOW;
	case FPE_FLTRES:
		return FAULT_FLOAT_INEXACT;
	case FPE_FLTINV:
		return FAULT_FLOAT_INVALID;
	default:
		return FAULT_FLOAT_OTHER;
	}
}

static enum fault_kind classify_ill(const struct fault *f) {
	if (f->code == ILL_PRVOPC || f->code == ILL_PRVREG)
		return FAULT_PRIVILEGED;
	if (instruction_length >= 2 && instruction[0] == UD2_FIRST && instruction[1] == UD2_SECOND)
		return FAULT_DELIBERATE_TRAP;
	return FAULT_NOT_AN_INSTRUCTION;
}

/* int3 reports SI_KERNEL (a software interrupt), a debug exception
 * TRAP_BRKPT, TRAP_TRACE or TRAP_HWBKPT. */
static enum fault_kind classify_trap(const struct fault *f) {
	return f->code == TRAP_TRACE || f->code == TRAP_BRANCH ? FAULT_SINGLE_STEP : FAULT_BREAKPOINT;
}

static enum fault_kind classify(const struct fault *f, const struct mapping *m) {
	if (f->signal == SIGABRT && (self_sent(f) || f->code > 0))
		return FAULT_ABORT;
	if (f->code <= 0)
		return FAULT_SENT;
	switch (f->signal) {
	case SIGFPE:
		return classify_fpe(f);
	case SIGILL:
		return classify_ill(f);
	case SIGTRAP:
		return classify_trap(f);
	case SIGSYS:
		return f->code == SIGSYS_SECCOMP ? FAULT_SYSTEM_CALL_REFUSED : FAULT_OTHER;
	default:
		break;
	}
	if (f->code == SI_KERNEL)
		return f->signal == SIGSEGV ? FAULT_GENERAL_PROTECTION : FAULT_OTHER;
	if (f->signal == SIGSEGV)
		return classify_segv(f, m);
	switch (f->code) {
	case BUS_ADRERR:
		return FAULT_PAST_FILE_END;
	case BUS_ADRALN:
		return FAULT_MISALIGNED;
	case BUS_OBJERR:
	case BUS_MCEERR_AR:
	case BUS_MCEERR_AO:
		return FAULT_HARDWARE;
	default:
		return FAULT_OTHER;
	}
}

/* ---- the report ---- */

static const char *signal_name(int sig) {
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGABRT:
		return "SIGABRT";
	case SIGILL:
		return "SIGILL";
	case SIGTRAP:
		return "SIGTRAP";
	case SIGSYS:
		return "SIGSYS";
	default:
		return "signal";
	}
}

/* A code's name from its signal's table (codes count from 1), or "". */
static const char *named_code(const char *const *names, int count, int code) {
	return code > 0 && code < count ? names[code] : "";
}

static const char *code_name(int sig, int code) {
	switch (code) {
	case SI_USER:
		return "SI_USER";
	case SI_TKILL:
		return "SI_TKILL";
	case SI_QUEUE:
		return "SI_QUEUE";
	case SI_KERNEL:
		return "SI_KERNEL";
	default:
		break;
	}
	static const char *const segv[] = { "", "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR" };
	static const char *const bus[] = { "", "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO" };
	static const char *const fpe[] = { "", "FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND",
					   "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB", "", "", "", "", "", "FPE_FLTUNK",
					   "FPE_CONDTRAP" };
	static const char *const ill[] = { "", "ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC",
					   "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK", "ILL_BADIADDR" };
	static const char *const trap[] = { "", "TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK",
					    "TRAP_PERF" };
	static const char *const sys[] = { "", "SYS_SECCOMP", "SYS_USER_DISPATCH" };
#define NAMED(table) named_code(table, (int)(sizeof table / sizeof table[0]), code)
	switch (sig) {
	case SIGSEGV:
		return NAMED(segv);
	case SIGBUS:
		return NAMED(bus);
	case SIGFPE:
		return NAMED(fpe);
	case SIGILL:
		return NAMED(ill);
	case SIGTRAP:
		return NAMED(trap);
	case SIGSYS:
		return NAMED(sys);
	default:
		return "";
	}
#undef NAMED
}

static const char *access_word(const struct fault *f) {
	if (f->error_code & X86_PF_INSTR)
		return "executing";
	return f->error_code & X86_PF_WRITE ? "writing" : "reading";
}

/* "  signal:  SIGSEGV (SEGV_MAPERR), writing address 0x55, in the main thread" */
static void put_signal_line(struct text *t, const struct fault *f) {
	put_label(t, "  signal:  ");
	put(t, signal_name(f->signal));
	const char *code = code_name(f->signal, f->code);
	put(t, " (");
	if (*code != '\0')
		put(t, code);
	else {
		put(t, "si_code ");
		put_signed(t, f->code);
	}
	put(t, "), ");
	if (f->code <= 0) {
		put(t, "sent by process ");
		put_decimal(t, (uint64_t)f->sender);
		if (self_sent(f))
			put(t, " (the program itself)");
	} else if (f->signal == SIGSYS && f->code == SIGSYS_SECCOMP) {
		put(t, "system call ");
		put_decimal(t, (uint64_t)f->system_call);
		put(t, " at ");
		put_hex(t, f->address);
	} else if (at_instruction(f)) {
		put(t, "at instruction ");
		put_hex(t, f->address);
	} else if (!has_address(f)) {
		put(t, "no address reported");
	} else {
		put(t, access_word(f));
		put(t, " address ");
		put_hex(t, f->address);
	}
	if (f->tid == f->pid)
		put(t, ", in the main thread\n");
	else {
		put(t, ", in thread ");
		put_decimal(t, (uint64_t)f->tid);
		put(t, " (not the main thread)\n");
	}
}

/* The C library's message on one line: its trailing newline dropped, any
 * other turned into a space. */
static void put_library_words(struct text *t) {
	uint64_t length = 0;
	while (abort_text[length] != '\0')
		length++;
	while (length > 0 && (abort_text[length - 1] == '\n' || abort_text[length - 1] == ' '))
		length--;
	put(t, "; the C library said: ");
	for (uint64_t i = 0; i < length; i++)
		put_bytes(t, abort_text[i] == '\n' ? " " : &abort_text[i], 1);
}

static void put_abort_cause(struct text *t) {
	const char *expression;
	uint32_t length;
	switch (abort_why) {
	case ABORT_ASSERTION:
		if (assertion_text(abort_text, &expression, &length)) {
			put(t, "an assertion failed: ");
			put_bytes(t, expression, length);
			put(t, " was false here (assert stops the program when what it checks is not true)");
		} else {
			put(t, "an assertion failed (assert stops the program when what it checks is not true)");
		}
		return;
	case ABORT_DOUBLE_FREE:
		put(t, "the same memory was freed twice (a double free): once free(p) has run, p must not be freed or used again (set it to NULL?)");
		break;
	case ABORT_INVALID_POINTER:
		put(t, "free or realloc was given a pointer malloc never returned (the middle of a block, a local or global variable, or a corrupted pointer?)");
		break;
	case ABORT_HEAP_CORRUPTED:
		put(t, "the memory allocator found its own bookkeeping overwritten: something wrote past the end (or before the start) of a malloc'ed block, or into one already freed");
		break;
	case ABORT_STACK_SMASHED:
		put(t, "a local array was written past its end, over what the function keeps on the stack (caught by the stack protector as the function returned)");
		break;
	case ABORT_BUFFER_OVERFLOW:
		put(t, "a copy or print into a buffer too small for it (caught by _FORTIFY_SOURCE's checks)");
		break;
	case ABORT_OTHER_MESSAGE:
		put(t, "the C library stopped the program");
		break;
	case ABORT_UNCAUGHT_EXCEPTION:
		put(t, "a C++ exception was thrown and nothing caught it, so std::terminate stopped the program (the lines above it say which exception)");
		return;
	case ABORT_PLAIN:
		put(t, "the program called abort() (itself, or in a library that gave up)");
		return;
	}
	if (abort_text[0] != '\0')
		put_library_words(t);
}

static void put_divide_width(struct text *t) {
	put_decimal(t, divide.bits);
	put(t, "-bit");
}

/* The bytes at the pc that the processor could not run, in hexadecimal
 * and in brackets (nothing when none could be read). */
static void put_instruction_bytes(struct text *t) {
	static const char digits[] = "0123456789abcdef";
	if (instruction_length == 0)
		return;
	put(t, " (");
	for (uint32_t i = 0; i < instruction_length; i++) {
		if (i > 0)
			put(t, " ");
		put_bytes(t, &digits[instruction[i] >> 4], 1);
		put_bytes(t, &digits[instruction[i] & 0xf], 1);
	}
	put(t, ")");
}

/* A division whose quotient does not fit its width: the most negative
 * number divided by -1, or another quotient too large. */
static void put_division_overflow_cause(struct text *t, enum fault_kind kind) {
	if (kind == FAULT_DIVIDE_MOST_NEGATIVE) {
		put(t, "an integer division that overflows: the most negative ");
		put_divide_width(t);
		put(t, " number divided by -1 (INT_MIN / -1 or INT_MIN % -1), whose result does not fit in ");
	} else
		put(t, "an integer division whose result does not fit in ");
	put_decimal(t, divide.bits);
	put(t, " bits");
}

static void put_null_pointer_cause(struct text *t, const struct fault *f) {
	put(t, "looks like a NULL-pointer dereference: ");
	if (f->address == 0) {
		put(t, "the address is NULL itself");
		return;
	}
	put(t, "the address is NULL + ");
	put_hex(t, f->address);
	put(t, " (a field or element reached through a NULL pointer?)");
}

static void put_stack_overflow_cause(struct text *t, const struct fault *f) {
	put(t, "looks like a stack overflow: the address is ");
	if (f->address != f->stack_pointer) {
		put_hex(t, distance(f->address, f->stack_pointer));
		put(t, f->address < f->stack_pointer ? " bytes below " : " bytes above ");
	}
	put(t, "the stack pointer ");
	put_hex(t, f->stack_pointer);
	put(t, ", past the end of the stack (runaway recursion, or a very large local variable?)");
}

/* The cause line: what the kind of fault means, in a sentence (every kind
 * has its case: the compiler says when one is missing). */
static void put_cause_line(struct text *t, const struct fault *f, enum fault_kind kind) {
	put_label(t, "  cause:   ");
	switch (kind) {
	case FAULT_SENT:
		if (f->signal == SIGSEGV || f->signal == SIGBUS)
			put(t, "not a memory error: the signal was sent (kill, raise, sigqueue or pthread_kill)");
		else
			put(t, "not an error in the code that ran: the signal was sent (kill, raise, sigqueue or pthread_kill)");
		break;
	case FAULT_DIVIDE_BY_ZERO:
		put(t, "an integer division by zero (a / b or a % b with b == 0): check the divisor before dividing");
		break;
	case FAULT_DIVIDE_MOST_NEGATIVE:
	case FAULT_DIVIDE_TOO_LARGE:
		put_division_overflow_cause(t, kind);
		break;
	case FAULT_DIVIDE_ERROR:
		put(t, "an integer division by zero, or of the most negative number by -1");
		break;
	case FAULT_FLOAT_DIVIDE_BY_ZERO:
		put(t, "a floating-point division by zero, with that trap turned on (feenableexcept or the MXCSR)");
		break;
	case FAULT_FLOAT_OVERFLOW:
		put(t, "a floating-point result too large for its type, with that trap turned on");
		break;
	case FAULT_FLOAT_UNDERFLOW:
		put(t, "a floating-point result too small for its type, with that trap turned on");
		break;
	case FAULT_FLOAT_INEXACT:
		put(t, "a floating-point result that had to be rounded, with that trap turned on");
		break;
	case FAULT_FLOAT_INVALID:
		put(t, "an invalid floating-point operation (0/0, infinity minus infinity, the square root of a negative number?), with that trap turned on");
		break;
	case FAULT_FLOAT_OTHER:
		put(t, "a floating-point operation the processor was told to trap");
		break;
	case FAULT_ABORT:
		put_abort_cause(t);
		break;
	case FAULT_DELIBERATE_TRAP:
		put(t, "a trap the compiler put there on purpose (ud2): __builtin_trap(), code marked unreachable that was reached, or a check built with -fsanitize-trap");
		break;
	case FAULT_NOT_AN_INSTRUCTION:
		put(t, "bytes the processor cannot run");
		put_instruction_bytes(t);
		put(t, ": a jump into data through a corrupted function pointer or return address, or code built for a newer processor");
		break;
	case FAULT_PRIVILEGED:
		put(t, "an instruction only the operating system may run");
		break;
	case FAULT_BREAKPOINT:
		put(t, "a breakpoint with no debugger attached (__builtin_debugtrap(), an int3 left in, or raise(SIGTRAP))");
		break;
	case FAULT_SINGLE_STEP:
		put(t, "single-stepping (the processor's trap flag) with no debugger attached");
		break;
	case FAULT_SYSTEM_CALL_REFUSED:
		put(t, "system call ");
		put_decimal(t, (uint64_t)f->system_call);
		put(t, " is forbidden by this process's seccomp filter (a sandbox): the program may not make it");
		break;
	case FAULT_GENERAL_PROTECTION:
		put(t, "a general-protection fault, which reports no address (a non-canonical pointer such as 0xdeadbeefdeadbeef?)");
		break;
	case FAULT_NULL_POINTER:
		put_null_pointer_cause(t, f);
		break;
	case FAULT_STACK_OVERFLOW:
		put_stack_overflow_cause(t, f);
		break;
	case FAULT_WRITE_READ_ONLY:
		put(t, "a write to read-only memory (a string literal, const data, or code?)");
		break;
	case FAULT_NOT_EXECUTABLE:
		put(t, "a jump into memory that is not executable (a corrupted function pointer or return address?)");
		break;
	case FAULT_NO_ACCESS:
		put(t, "an access this memory's protection does not allow (PROT_NONE: a guard page?)");
		break;
	case FAULT_UNMAPPED:
		put(t, "an access to unmapped memory (a freed, uninitialised or corrupted pointer?)");
		break;
	case FAULT_PROTECTION_KEY:
		put(t, "a memory protection key forbids this access");
		break;
	case FAULT_PAST_FILE_END:
		put(t, "an access to a mapped file beyond its end (was the file truncated while mapped?)");
		break;
	case FAULT_MISALIGNED:
		put(t, "a misaligned access the processor refuses");
		break;
	case FAULT_HARDWARE:
		put(t, "a hardware memory error");
		break;
	case FAULT_OTHER:
		put(t, "not one this library recognises");
		break;
	}
	put(t, "\n");
}

/* The maps line with its runs of padding spaces squeezed to one (and the
 * trailing one of an anonymous mapping dropped). */
static void put_mapping_line(struct text *t, const struct fault *f, const struct mapping *m) {
	put_label(t, "  mapping: ");
	if (m->found) {
		uint64_t length = m->line_length;
		while (length > 0 && m->line[length - 1] == ' ')
			length--;
		for (uint64_t i = 0; i < length; i++)
			if (m->line[i] != ' ' || i == 0 || m->line[i - 1] != ' ')
				put_bytes(t, &m->line[i], 1);
	} else if (m->error != 0) {
		put(t, "unknown (/proc/self/maps: errno ");
		put_decimal(t, (uint64_t)-m->error);
		put(t, ")");
	} else {
		put(t, "none holds ");
		put_hex(t, f->address);
	}
	put(t, "\n");
}

/* ---- where: the frames, named ---- */

static void copy_symbol(struct symbol *to, const struct symbol *from) {
	to->found = from->found;
	to->start = from->start;
	bytes_copy(to->name, from->name, sizeof to->name);
}

/* Name the frames of module m, all in one pass over its symbol tables. */
static void name_frames_of(struct module *m) {
	uint32_t n = 0;
	for (uint32_t i = 0; i < trace.count; i++)
		if (frame_modules[i] == m) {
			batch_frames[n] = i;
			batch_links[n++] = frame_links[i];
		}
	symbols_lookup(m, batch_links, batch_symbols, n);
	for (uint32_t k = 0; k < n; k++)
		copy_symbol(&frame_symbols[batch_frames[k]], &batch_symbols[k]);
}

static int same_name(const char *a, const char *b) {
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static int starts_with(const char *text, const char *prefix) {
	while (*prefix != '\0' && *text == *prefix) {
		text++;
		prefix++;
	}
	return *prefix == '\0';
}

/* The language runtime's functions between the program's code and the kill
 * that ends an abort: glibc's abort itself, raise, assert's, the
 * fatal-error printer, the allocator's checks, the stack protector's and
 * fortify's; the C++ library's std::terminate and what leads to it from a
 * throw. In a dynamic program they are libc.so's and libstdc++.so's; in a
 * static one they are the program's own, known by name: the public ones
 * listed, and the internal ones by the prefixes C reserves for the
 * implementation (a leading "__"), glibc's allocator and stdio use, or
 * name the C++ runtime's namespaces (mangled). */
static const char *const ABORT_PATH_FUNCTIONS[] = {
	"abort", "raise", "gsignal", "pthread_kill", "free", "cfree", "malloc", "realloc", "calloc",
	"memalign", "aligned_alloc", "posix_memalign", "malloc_printerr", "malloc_consolidate",
	"unlink_chunk", "munmap_chunk", "tcache_double_free_verify",
};
static const char *const ABORT_PATH_PREFIXES[] = {
	"__", "_int_", "_IO_", "_Unwind_", "_ZSt9terminate", "_ZN10__cxxabiv1", "_ZN9__gnu_cxx27__verbose_terminate_handler",
};
/* Shared libraries of the runtime, by the start of their file name. */
static const char *const RUNTIME_LIBRARIES[] = { "libc.so", "libstdc++.so", "libgcc_s.so" };
/* std::terminate, and the throw that found no handler (mangled). */
static const char *const TERMINATE_FUNCTIONS[] = {
	"_ZSt9terminate", "_ZN10__cxxabiv111__terminate", "_ZN9__gnu_cxx27__verbose_terminate_handler", "__cxa_throw",
	"__cxa_rethrow",
};

static int in_abort_path(uint32_t i) {
	const struct module *m = frame_modules[i];
	if (m == 0 || trace.frames[i].signal_return)
		return 0;
	if (!frame_in_program[i]) {
		for (uint32_t k = 0; k < sizeof RUNTIME_LIBRARIES / sizeof RUNTIME_LIBRARIES[0]; k++)
			if (starts_with(module_name(m), RUNTIME_LIBRARIES[k]))
				return 1;
		return 0;
	}
	if (!frame_symbols[i].found)
		return 0;
	const char *name = frame_symbols[i].name;
	for (uint32_t k = 0; k < sizeof ABORT_PATH_FUNCTIONS / sizeof ABORT_PATH_FUNCTIONS[0]; k++)
		if (same_name(name, ABORT_PATH_FUNCTIONS[k]))
			return 1;
	for (uint32_t k = 0; k < sizeof ABORT_PATH_PREFIXES / sizeof ABORT_PATH_PREFIXES[0]; k++)
		if (starts_with(name, ABORT_PATH_PREFIXES[k]))
			return 1;
	return 0;
}

/* Whether frame i is in a function whose name starts with prefix. */
static int frame_named(uint32_t i, const char *prefix) {
	return frame_symbols[i].found && starts_with(frame_symbols[i].name, prefix);
}

/* SIGABRT: leave the C library's own frames out of the where (but never
 * all of them), and read what the library said before it aborted; without
 * its message, the names of the frames left out still tell an assert from
 * the allocator's check or the stack protector. */
static void explain_abort(void) {
	first_shown = 0;
	folded_cxx = 0;
	while (first_shown + 1 < trace.count && in_abort_path(first_shown)) {
		const struct module *m = frame_modules[first_shown];
		folded_cxx |= (!frame_in_program[first_shown] && starts_with(module_name(m), "libstdc++.so")) ||
			      frame_named(first_shown, "_Z") || frame_named(first_shown, "__cxa_");
		first_shown++;
	}
	abort_why = abort_message(frame_modules, trace.count, abort_text) ? abort_reason_of(abort_text) : ABORT_PLAIN;
	for (uint32_t i = 0; i < first_shown && abort_why == ABORT_PLAIN; i++) {
		if (frame_named(i, "__assert_"))
			abort_why = ABORT_ASSERTION;
		else if (frame_named(i, "malloc_printerr"))
			abort_why = ABORT_HEAP_CORRUPTED;
		else if (frame_named(i, "__stack_chk_fail"))
			abort_why = ABORT_STACK_SMASHED;
		else if (frame_named(i, "__chk_fail") || frame_named(i, "__fortify_fail"))
			abort_why = ABORT_BUFFER_OVERFLOW;
		for (uint32_t k = 0; k < sizeof TERMINATE_FUNCTIONS / sizeof TERMINATE_FUNCTIONS[0]; k++)
			if (frame_named(i, TERMINATE_FUNCTIONS[k]))
				abort_why = ABORT_UNCAUGHT_EXCEPTION;
	}
}

/* Walk the stack from the signal context, name each frame's function from
 * the symbol tables, and ask the resolver (if there is one) for lines. */
static void locate(const struct fault *fault, const void *context) {
	space_forget();
	sys_result mapped = space_snapshot();
	unwind(context, !sys_failed(mapped), &trace);
	if (sys_failed(mapped))
		trace.end_address = (uint64_t)-mapped;
	for (uint32_t i = 0; i < trace.count; i++) {
		struct module *m = module_at(trace.frames[i].pc);
		uint64_t lookup = frame_lookup_address(&trace.frames[i]);
		frame_modules[i] = m;
		frame_in_program[i] = m != 0 && module_is_program(m);
		/* int3 reports the instruction after it: the line is the
		 * breakpoint's. */
		if (i == 0 && fault->signal == SIGTRAP && fault->code == SI_KERNEL && lookup > 0 &&
		    readable_bytes(lookup - 1, instruction, 1) == 1 && instruction[0] == INT3)
			lookup--;
		frame_links[i] = m != 0 ? lookup - m->bias : lookup;
		frame_paths[i] = m != 0 ? m->path : 0;
		frame_symbols[i].found = 0;
	}
	for (uint32_t i = 0; i < trace.count; i++) {
		int named = 0;
		for (uint32_t j = 0; j < i; j++)
			named |= frame_modules[j] == frame_modules[i];
		if (frame_modules[i] != 0 && !named)
			name_frames_of(frame_modules[i]);
	}
	first_shown = 0;
	abort_text[0] = '\0';
	if (fault->signal == SIGABRT)
		explain_abort();
	source_answered = source_lines_ask(frame_paths, frame_links, trace.count, &source);
	modules_close();
}

/* The resolver's entries for frame i: n of them, inlined calls first. */
static const struct source_entry *source_of(uint32_t i, uint32_t *n) {
	*n = 0;
	if (!source_answered)
		return 0;
	for (uint32_t k = 0; k < source.count; k++)
		if (source.entries[k].frame == i) {
			while (k + *n < source.count && source.entries[k + *n].frame == i)
				(*n)++;
			return &source.entries[k];
		}
	return 0;
}


/* An Itanium C++ ABI name, which addr2line -C turns into a readable one. */
static int mangled(const char *name) {
	return name[0] == '_' && name[1] == 'Z';
}

/* One frame: "function+0xoffset (file:line) in module x repeats", with
 * calls the compiler inlined there on lines of their own before it.
 * Returns whether it is the program's main. */
static int put_frame(struct text *t, uint32_t i, const char *indent) {
	const struct frame *f = &trace.frames[i];
	const struct module *m = frame_modules[i];
	const struct symbol *symbol = &frame_symbols[i];
	uint32_t n;
	const struct source_entry *e = source_of(i, &n);
	if (f->signal_return) {
		/* As debuggers show it: the interrupted code is the next frame. */
		put(t, "<signal handler called>\n");
		return 0;
	}
	for (uint32_t k = 0; k + 1 < n; k++) {
		put(t, e[k].function[0] != '\0' ? e[k].function : "??");
		if (e[k].location[0] != '\0') {
			put(t, " (");
			put(t, e[k].location);
			put(t, ")");
		}
		put(t, ", inlined\n");
		put(t, indent);
	}
	/* The symbol's name, unless the resolver knows better: a C++ name
	 * demangled, or a function the stripped file's symbols do not name
	 * (from a separate debug file). */
	const char *resolved = n > 0 && e[n - 1].function[0] != '\0' ? e[n - 1].function : 0;
	const char *function = symbol->found && (resolved == 0 || !mangled(symbol->name)) ? symbol->name : resolved;
	if (function != 0) {
		put(t, function);
		if (symbol->found) {
			put(t, "+");
			put_hex(t, f->pc - m->bias - symbol->start);
		}
	} else if (m != 0) {
		put(t, module_name(m));
		put(t, "+");
		put_hex(t, f->pc - m->bias);
	} else {
		put_hex(t, f->pc);
		const struct space_mapping *where = space_find(f->pc);
		if (trace.end != WALK_NO_MAP)
			put(t, where == 0 ? " (nothing is mapped there)" : !(where->access & SPACE_EXECUTABLE) ? " (not code)" : "");
	}
	if (n > 0 && e[n - 1].location[0] != '\0') {
		put(t, " (");
		put(t, e[n - 1].location);
		put(t, ")");
	}
	if (m != 0 && function != 0 && !frame_in_program[i]) {
		put(t, " in ");
		put(t, module_name(m));
	}
	if (f->repeat > 1) {
		put(t, " x ");
		put_decimal(t, f->repeat);
	}
	put(t, "\n");
	return frame_in_program[i] && function != 0 && same_name(function, "main");
}

/* Why the walk ended short of the outermost frame, if it did. */
static void put_walk_end(struct text *t, const char *indent) {
	if (trace.end == WALK_OUTERMOST)
		return;
	put(t, indent);
	put(t, "(stopped here: ");
	switch (trace.end) {
	case WALK_RETURN_NOT_CODE:
		put(t, "the next return address, ");
		put_hex(t, trace.end_address);
		put(t, ", is not in any code: a corrupted stack?");
		break;
	case WALK_UNREADABLE:
		put(t, "the stack cannot be read at ");
		put_hex(t, trace.end_address);
		put(t, ": a corrupted stack or frame pointer?");
		break;
	case WALK_NO_PROGRESS:
		put(t, "the next frame, at ");
		put_hex(t, trace.end_address);
		put(t, ", is not above this one: a corrupted stack?");
		break;
	case WALK_NO_RULES:
		put(t, "no unwind information for this code, and no frame pointer to follow");
		break;
	case WALK_BAD_FRAME_POINTER:
		put(t, "no unwind information for this code, and its frame pointer, ");
		put_hex(t, trace.end_address);
		put(t, ", points at no frame: a corrupted stack?");
		break;
	case WALK_NO_MAP:
		put(t, "/proc/self/maps cannot be read (errno ");
		put_decimal(t, trace.end_address);
		put(t, "), so no return address can be trusted");
		break;
	case WALK_TOO_DEEP:
	case WALK_OUTERMOST:
		put(t, "too many frames to follow");
		break;
	}
	put(t, ")\n");
}

/* "  at:      deep_write+0x4 (nested.c:6)", then "  from:    " and one
 * caller a line, up to main; from first_shown on (an abort's C library
 * frames are left out). */
static void put_where(struct text *t) {
	static const char indent[] = "           ";
	for (uint32_t i = first_shown; i < trace.count; i++) {
		put_label(t, i == first_shown ? "  at:      " : i == first_shown + 1 ? "  from:    " : indent);
		if (put_frame(t, i, indent))
			return; /* what runs before main is no clue */
	}
	if (trace.more > 0) {
		put(t, indent);
		put(t, "... and ");
		put_decimal(t, trace.more);
		put(t, " more frames\n");
	}
	put_walk_end(t, indent);
}

static void compose(struct text *t, const struct fault *f, const struct mapping *m) {
	t->length = 0;
	if (in_colour())
		put(t, STYLE_MESSAGE);
	put(t, chosen_message(f->signal, f->tid));
	if (in_colour())
		put(t, STYLE_MESSAGE_END);
	put(t, "\n");
	put_signal_line(t, f);
	put_cause_line(t, f, classify(f, m));
	if (has_address(f))
		put_mapping_line(t, f, m);
	put_where(t);
	if (first_shown > 0) {
		put(t, "  (");
		put_decimal(t, first_shown);
		put(t, first_shown == 1 ? " frame" : " frames");
		put(t, folded_cxx ? " inside the C and C++ libraries' abort path not shown)\n"
				  : " inside the C library's abort path not shown)\n");
	}
	if (reraise_wanted) {
		put(t, "  (re-raising ");
		put(t, signal_name(f->signal));
		put(t, " as " FRIENDLY_RERAISE_VARIABLE " asks)\n");
	} else if (!ends_by_signal(f->signal)) {
		/* An exit status, not the signal: say how to get the signal (the
		 * other kinds end with it anyway). */
		put_label(t, "  hint:    ");
		put(t, "set " FRIENDLY_RERAISE_VARIABLE "=1 to get the signal itself (core dump, debugger)\n");
	}
}

/* Write everything, through partial writes and interruptions. If stderr is
 * closed or broken there is nobody to tell; the exit status still says. */
static void write_all(int fd, const char *bytes, uint64_t length) {
	while (length > 0) {
		sys_result n = sys_write(fd, bytes, length);
		if (n == -EINTR)
			continue;
		if (sys_failed(n) || n == 0)
			return;
		bytes += n;
		length -= (uint64_t)n;
	}
}

/* Whether returning from the handler runs the trapping instruction again,
 * and so raises the signal again: a fault (the kernel restarts the
 * instruction), but not a signal sent, nor a trap whose instruction has
 * completed (int3, single steps, a seccomp-refused system call). */
static int recurs(const struct fault *f) {
	if (f->code <= 0)
		return 0;
	return f->signal == SIGSEGV || f->signal == SIGBUS || f->signal == SIGFPE || f->signal == SIGILL;
}

/* Re-raise mode, and every signal but SIGSEGV and SIGBUS: the default
 * action takes over. A fault re-occurs when the handler returns and, now
 * unhandled, ends the process with a core dump where enabled, with the
 * genuine siginfo a debugger shows. Any other signal does not recur, so it
 * is sent again, to this thread; it is blocked in the handler and
 * delivered as the handler returns. */
static void hand_back(const struct fault *f) {
	if (sys_failed(restore_default(f->signal)))
		sys_exit_group(128 + f->signal); /* cannot hand back: end as the default would be reported */
	if (!recurs(f) && sys_failed(sys_tgkill(f->pid, f->tid, f->signal)))
		sys_exit_group(128 + f->signal);
}

void friendly_on_fault(int sig, siginfo_t *info, void *context) {
	if (__atomic_exchange_n(&reporting, 1, __ATOMIC_ACQ_REL) != 0) {
		/* Another thread is reporting and will end the process; this
		 * fault's report would only garble that one. */
		for (;;)
			sys_pause();
	}
	const ucontext_t *uc = context;
	struct fault f = {
		.signal = sig,
		.code = info->si_code,
		.address = (uint64_t)info->si_addr,
		.stack_pointer = (uint64_t)uc->uc_mcontext.gregs[REG_RSP],
		.error_code = (uint64_t)uc->uc_mcontext.gregs[REG_ERR],
		.pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP],
		.sender = info->si_code <= 0 ? info->si_pid : 0,
		.tid = (int)sys_gettid(),
		.pid = (int)sys_getpid(),
		.system_call = sig == SIGSYS ? info->si_syscall : 0,
	};
	holder.found = 0;
	holder.error = 0;
	if (has_address(&f))
		find_mapping(&holder, f.address);
	/* The trapping instruction, read after the map is known (locate's
	 * snapshot): space_read checks against it. */
	locate(&f, context);
	divide.outcome = DIVISION_NOT_DECODED;
	instruction_length = 0;
	if (sig == SIGFPE && f.code > 0)
		division_at(context, &divide);
	if (sig == SIGILL && f.code > 0)
		instruction_length = readable_bytes(f.pc, instruction, CODE_BYTES_SHOWN);
	compose(&report, &f, &holder);
	write_all(STDERR_FD, report.bytes, report.length);
	if (reraise_wanted || ends_by_signal(sig)) {
		hand_back(&f);
		return;
	}
	/* A shell reports death by signal N as status 128+N; exiting with it
	 * keeps scripts' checks working without the shell's own crash line. */
	sys_exit_group(128 + sig);
}
