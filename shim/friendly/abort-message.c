/*
 * abort-message.c — why the C library aborted, in its own words.
 *
 * Before glibc aborts for a failed assert (__assert_fail) or for a fatal
 * error it detected itself (__libc_message: the allocator's "double free
 * detected", the stack protector's "stack smashing detected", fortify's
 * "buffer overflow detected"), it writes the message to stderr and keeps a
 * copy for debuggers and core files in __abort_msg, a pointer to
 *
 *     struct abort_msg_s { unsigned int size; char msg[]; };
 *
 * in a mapping of its own (glibc's include/stdlib.h; GLIBC_PRIVATE in
 * libc.so.6's .dynsym, and in a static program's .symtab). The reporter
 * finds the symbol in the modules of the crash's frames (libc.so.6, or a
 * static program itself), reads the pointer and the text with space_read,
 * and sorts the text into the handful of reasons a learner meets.
 *
 * Other C libraries (musl) keep no such message: the report then relies
 * on the frames' names alone.
 */
#include "friendly/clues.h"

#define ABORT_MESSAGE_SYMBOL "__abort_msg"
#define POINTER_BYTES 8
/* msg follows the unsigned int size. */
#define ABORT_MESSAGE_TEXT_OFFSET 4

int abort_message(struct module *const *modules, uint32_t count, char out[ABORT_MESSAGE_BYTES]) {
	out[0] = '\0';
	for (uint32_t i = 0; i < count; i++) {
		int seen = 0;
		for (uint32_t j = 0; j < i; j++)
			seen |= modules[j] == modules[i];
		uint64_t link;
		if (modules[i] == 0 || seen || !symbols_find_object(modules[i], ABORT_MESSAGE_SYMBOL, POINTER_BYTES, &link))
			continue;
		uint8_t pointer[POINTER_BYTES];
		if (!space_read(link + modules[i]->bias, pointer, sizeof pointer))
			return 0;
		uint64_t message = 0;
		for (int b = POINTER_BYTES - 1; b >= 0; b--)
			message = message << 8 | pointer[b];
		if (message == 0)
			return 0;
		uint32_t n = readable_bytes(message + ABORT_MESSAGE_TEXT_OFFSET, (uint8_t *)out, ABORT_MESSAGE_BYTES - 1);
		out[n] = '\0';
		return out[0] != '\0';
	}
	return 0;
}

static int contains(const char *text, const char *part) {
	for (; *text != '\0'; text++) {
		uint32_t k = 0;
		while (part[k] != '\0' && text[k] == part[k])
			k++;
		if (part[k] == '\0')
			return 1;
	}
	return 0;
}

/* The allocator's checks all name the function or the structure that
 * failed them ("malloc(): corrupted top size", "corrupted size vs.
 * prev_size", "munmap_chunk(): invalid pointer", ...). */
static const char *const ALLOCATOR_WORDS[] = {
	"malloc", "free(", "realloc", "calloc", "memalign", "munmap_chunk", "tcache", "corrupted", "chunk",
};

enum abort_reason abort_reason_of(const char *message) {
	if (message[0] == '\0')
		return ABORT_PLAIN;
	if (contains(message, "Assertion `"))
		return ABORT_ASSERTION;
	if (contains(message, "stack smashing detected"))
		return ABORT_STACK_SMASHED;
	if (contains(message, "buffer overflow detected"))
		return ABORT_BUFFER_OVERFLOW;
	if (contains(message, "double free"))
		return ABORT_DOUBLE_FREE;
	if (contains(message, "invalid pointer"))
		return ABORT_INVALID_POINTER;
	for (uint32_t i = 0; i < sizeof ALLOCATOR_WORDS / sizeof ALLOCATOR_WORDS[0]; i++)
		if (contains(message, ALLOCATOR_WORDS[i]))
			return ABORT_HEAP_CORRUPTED;
	return ABORT_OTHER_MESSAGE;
}

int assertion_text(const char *message, const char **start, uint32_t *length) {
	static const char opening[] = "Assertion `";
	static const char closing[] = "' failed.";
	for (const char *at = message; *at != '\0'; at++) {
		uint32_t k = 0;
		while (opening[k] != '\0' && at[k] == opening[k])
			k++;
		if (opening[k] != '\0')
			continue;
		const char *expression = at + k;
		/* The last "' failed." ends it: the expression may hold quotes. */
		const char *end = 0;
		for (const char *c = expression; *c != '\0'; c++) {
			uint32_t m = 0;
			while (closing[m] != '\0' && c[m] == closing[m])
				m++;
			if (closing[m] == '\0')
				end = c;
		}
		if (end == 0)
			return 0;
		*start = expression;
		*length = (uint32_t)(end - expression);
		return 1;
	}
	return 0;
}
