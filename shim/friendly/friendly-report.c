/*
 * friendly-report.c — what libetsbefriends.so does when the program crashes:
 * one encouraging message, a short diagnosis (the signal and access, what the
 * fault looks like, the mapping that holds the address), then exit 128+signal
 * as a shell would report the crash, or re-raise the signal when asked.
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
	FAULT_OTHER,
};

/* What the kernel told the handler, in plain numbers. */
struct fault {
	int signal;
	int code;
	uint64_t address;
	uint64_t stack_pointer;
	uint64_t error_code;
	int sender;
	int tid;
	int pid;
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

/* xorshift64: a message per crash from the per-process seed, mixed with the
 * thread id so forked children (same seed) need not agree. */
static const char *chosen_message(int tid) {
	uint64_t x = message_seed ^ ((uint64_t)tid * 0x9e3779b97f4a7c15ull);
	if (x == 0)
		x = 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return FRIENDLY_MESSAGES[x % FRIENDLY_MESSAGE_COUNT];
}

/* Whether si_code says the kernel raised the signal for a memory access (so
 * si_addr is the address touched), rather than a process sending it or a
 * general-protection fault (which reports no address). */
static int has_address(const struct fault *f) {
	return f->code > 0 && f->code != SI_KERNEL;
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

static enum fault_kind classify(const struct fault *f, const struct mapping *m) {
	if (f->code <= 0)
		return FAULT_SENT;
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
	return sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "signal";
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
	if (sig == SIGSEGV) {
		static const char *const segv[] = { "", "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR" };
		return code > 0 && code < 5 ? segv[code] : "";
	}
	static const char *const bus[] = { "", "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO" };
	return code > 0 && code < 6 ? bus[code] : "";
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

static void put_cause_line(struct text *t, const struct fault *f, enum fault_kind kind) {
	put_label(t, "  cause:   ");
	switch (kind) {
	case FAULT_SENT:
		put(t, "not a memory error: the signal was sent (kill, raise, sigqueue or pthread_kill)");
		break;
	case FAULT_GENERAL_PROTECTION:
		put(t, "a general-protection fault, which reports no address (a non-canonical pointer such as 0xdeadbeefdeadbeef?)");
		break;
	case FAULT_NULL_POINTER:
		put(t, "looks like a NULL-pointer dereference: ");
		if (f->address == 0)
			put(t, "the address is NULL itself");
		else {
			put(t, "the address is NULL + ");
			put_hex(t, f->address);
			put(t, " (a field or element reached through a NULL pointer?)");
		}
		break;
	case FAULT_STACK_OVERFLOW:
		put(t, "looks like a stack overflow: the address is ");
		if (f->address != f->stack_pointer) {
			put_hex(t, distance(f->address, f->stack_pointer));
			put(t, f->address < f->stack_pointer ? " bytes below " : " bytes above ");
		}
		put(t, "the stack pointer ");
		put_hex(t, f->stack_pointer);
		put(t, ", past the end of the stack (runaway recursion, or a very large local variable?)");
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

/* Walk the stack from the signal context, name each frame's function from
 * the symbol tables, and ask the resolver (if there is one) for lines. */
static void locate(const void *context) {
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

static int same_name(const char *a, const char *b) {
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
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
 * caller a line, up to main. */
static void put_where(struct text *t) {
	static const char indent[] = "           ";
	for (uint32_t i = 0; i < trace.count; i++) {
		put_label(t, i == 0 ? "  at:      " : i == 1 ? "  from:    " : indent);
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
	put(t, chosen_message(f->tid));
	if (in_colour())
		put(t, STYLE_MESSAGE_END);
	put(t, "\n");
	put_signal_line(t, f);
	put_cause_line(t, f, classify(f, m));
	if (has_address(f))
		put_mapping_line(t, f, m);
	put_where(t);
	if (reraise_wanted) {
		put(t, "  (re-raising ");
		put(t, signal_name(f->signal));
		put(t, " as " FRIENDLY_RERAISE_VARIABLE " asks)\n");
	} else {
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

/* Re-raise mode: the default action takes over. A fault re-occurs when the
 * handler returns (the kernel restarts the faulting instruction) and, now
 * unhandled, ends the process with a core dump where enabled, with the
 * genuine siginfo a debugger shows. A sent signal does not recur, so it is
 * sent again, to this thread; it is blocked in the handler and delivered
 * as the handler returns. */
static void hand_back(const struct fault *f) {
	if (sys_failed(restore_default(f->signal)))
		sys_exit_group(128 + f->signal); /* cannot hand back: end as the default would be reported */
	if (f->code <= 0 && sys_failed(sys_tgkill(f->pid, f->tid, f->signal)))
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
		.sender = info->si_code <= 0 ? info->si_pid : 0,
		.tid = (int)sys_gettid(),
		.pid = (int)sys_getpid(),
	};
	holder.found = 0;
	holder.error = 0;
	if (has_address(&f))
		find_mapping(&holder, f.address);
	locate(context);
	compose(&report, &f, &holder);
	write_all(STDERR_FD, report.bytes, report.length);
	if (reraise_wanted) {
		hand_back(&f);
		return;
	}
	/* A shell reports death by signal N as status 128+N; exiting with it
	 * keeps scripts' checks working without the shell's own crash line. */
	sys_exit_group(128 + sig);
}
