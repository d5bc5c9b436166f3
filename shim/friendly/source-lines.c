/*
 * source-lines.c — file:line for the frames of a crash, asked of the Bun
 * process that started the program (`bun run friendly`, the pagers'
 * --friendly), which runs binutils' addr2line over the debug information:
 * parsing DWARF line tables has no place in a signal handler.
 *
 * The resolver listens on a Unix socket whose path is in the environment
 * variable FAULTLINE_FRIENDLY_RESOLVER. It is read from /proc/self/environ
 * (the environment the program started with, whatever it did to its own
 * since), so the same code serves a preloaded library and a pager's
 * handler, which has no libc to ask. Without the variable, or when nobody
 * answers in RESOLVER_PATIENCE_SECONDS, the report goes out with the
 * symbol tables' names alone.
 *
 * The exchange is text. Request: a version line, then one line per frame
 * with its link address in hex and its module's path ("-" for none), then
 * an empty line. Answer: lines "frame<TAB>function<TAB>file:line", a
 * frame's inlined calls first and its own function last, then ".". It may
 * begin with the line "colour" (SOURCE_COLOUR_LINE): the resolver's
 * process, whose stderr the program shares, found a terminal that wants
 * colour there; the report then colours its labels. A line this version
 * does not know is skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "common/kernel.h"
#include "friendly/backtrace.h"

#define RESOLVER_PATIENCE_SECONDS 5
#define NS_PER_MICROSECOND 1000ll
#define MICROSECONDS_PER_SECOND 1000000ll
#define CLOCK_MONOTONIC_ID 1
#define SOCKET_PATH_BYTES 108
#define ENVIRON_CHUNK_BYTES 4096
#define REQUEST_BYTES (16 * 1024)
#define REQUEST_VERSION_LINE "faultline-frames 1\n"
#define ANSWER_END ".\n"
#define DECIMAL_DIGITS_MAX 9

struct kernel_timeval {
	int64_t seconds;
	int64_t microseconds;
};

struct unix_address {
	uint16_t family;
	char path[SOCKET_PATH_BYTES];
};

static char environ_chunk[ENVIRON_CHUNK_BYTES];
static char request[REQUEST_BYTES];
static uint64_t request_length;

/* FAULTLINE_FRIENDLY_RESOLVER's value into path: 1, or 0 if it is not set
 * (or too long for a socket address). */
static int resolver_path(char path[SOCKET_PATH_BYTES]) {
	static const char name[] = SOURCE_RESOLVER_VARIABLE "=";
	const uint64_t name_length = sizeof name - 1;
	sys_result fd = sys_openat(AT_FDCWD, "/proc/self/environ", O_RDONLY | O_CLOEXEC, 0);
	if (sys_failed(fd))
		return 0;
	/* Per entry: how much of the name matched (name_length: all of it,
	 * the value follows), or -1 once it cannot match. */
	int64_t matched = 0;
	uint64_t length = 0;
	int found = 0;
	for (int done = 0; !done;) {
		sys_result n = sys_read((int)fd, environ_chunk, sizeof environ_chunk);
		if (n == -EINTR)
			continue;
		if (sys_failed(n) || n == 0)
			break;
		for (long i = 0; i < n && !done; i++) {
			char c = environ_chunk[i];
			if (c == '\0') {
				if (matched == (int64_t)name_length && length > 0 && length < SOCKET_PATH_BYTES) {
					path[length] = '\0';
					found = done = 1;
				}
				matched = 0;
				length = 0;
			} else if (matched == (int64_t)name_length) {
				if (length < SOCKET_PATH_BYTES)
					path[length] = c;
				length++;
			} else if (matched >= 0) {
				matched = c == name[matched] ? matched + 1 : -1;
			}
		}
	}
	sys_close((int)fd); /* read-only: nothing to lose if close fails */
	return found;
}

static int64_t now_ns(void) {
	struct kernel_timespec now = { 0, 0 };
	if (sys_failed(sys_clock_gettime(CLOCK_MONOTONIC_ID, &now)))
		return 0;
	return now.seconds * NS_PER_SECOND + now.nanoseconds;
}

static void add(const char *s) {
	while (*s != '\0' && request_length < sizeof request)
		request[request_length++] = *s++;
}

static void add_hex(uint64_t value) {
	char digits[16];
	int n = 0;
	do {
		digits[n++] = "0123456789abcdef"[value & 0xf];
		value >>= 4;
	} while (value != 0);
	while (n > 0 && request_length < sizeof request)
		request[request_length++] = digits[--n];
}

/* Connected to the resolver, with both directions' timeouts set; the
 * descriptor, or a negative errno. */
static sys_result connect_to(const char *path) {
	struct unix_address address;
	bytes_zero(&address, sizeof address);
	address.family = AF_UNIX;
	uint32_t length = 0;
	while (path[length] != '\0' && length + 1 < SOCKET_PATH_BYTES) {
		address.path[length] = path[length];
		length++;
	}
	sys_result fd = sys_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sys_failed(fd))
		return fd;
	struct kernel_timeval patience = { RESOLVER_PATIENCE_SECONDS, 0 };
	sys_result r = sys_setsockopt((int)fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
	if (!sys_failed(r))
		r = sys_setsockopt((int)fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
	if (!sys_failed(r)) {
		do
			r = sys_connect((int)fd, &address, (uint32_t)(sizeof address.family + length + 1));
		while (r == -EINTR);
	}
	if (sys_failed(r)) {
		sys_close((int)fd);
		return r;
	}
	return fd;
}

/* MSG_NOSIGNAL: a resolver gone away must not kill the program with
 * SIGPIPE in the middle of its report. */
static int send_all(int fd, const char *bytes, uint64_t length, int64_t deadline) {
	while (length > 0) {
		sys_result n = sys_sendto(fd, bytes, length, MSG_NOSIGNAL);
		if (n == -EINTR && now_ns() < deadline)
			continue;
		if (sys_failed(n) || n == 0)
			return 0;
		bytes += n;
		length -= (uint64_t)n;
	}
	return 1;
}

static int ends_answer(const char *text, uint64_t length) {
	return (length == 2 && text[0] == '.' && text[1] == '\n') ||
	       (length > 2 && text[length - 3] == '\n' && text[length - 2] == '.' && text[length - 1] == '\n');
}

/* Read until the answer's end, EOF, a full buffer or the deadline. */
static uint64_t receive(int fd, char *text, uint64_t room, int64_t deadline) {
	uint64_t length = 0;
	while (length < room && !ends_answer(text, length)) {
		int64_t left = deadline - now_ns();
		if (left <= 0)
			return 0;
		/* Rounded up: a zero timeout would mean no timeout at all. */
		int64_t microseconds = left / NS_PER_MICROSECOND + 1;
		struct kernel_timeval wait = { microseconds / MICROSECONDS_PER_SECOND, microseconds % MICROSECONDS_PER_SECOND };
		if (sys_failed(sys_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait)))
			return 0;
		sys_result n = sys_read(fd, text + length, room - length);
		if (n == -EINTR)
			continue;
		if (sys_failed(n) || n == 0)
			return 0;
		length += (uint64_t)n;
	}
	return length;
}

/* Split the answer's lines in place into entries. */
/* Whether text (NUL-terminated) is exactly word. */
static int is_word(const char *text, const char *word) {
	while (*word != '\0' && *text == *word) {
		text++;
		word++;
	}
	return *text == '\0' && *word == '\0';
}

static void parse(struct source_answer *answer, uint64_t length) {
	char *text = answer->text;
	answer->count = 0;
	answer->colour = 0;
	uint64_t at = 0;
	while (at < length && answer->count < SOURCE_ENTRIES_MAX) {
		uint64_t end = at;
		while (end < length && text[end] != '\n')
			end++;
		if (end == length)
			break; /* an unfinished last line */
		text[end] = '\0';
		if (is_word(&text[at], SOURCE_COLOUR_LINE)) {
			answer->colour = 1;
			at = end + 1;
			continue;
		}
		uint64_t frame = 0, i = at;
		int digits = 0;
		while (i < end && text[i] >= '0' && text[i] <= '9' && digits++ < DECIMAL_DIGITS_MAX)
			frame = frame * 10 + (uint64_t)(text[i++] - '0');
		if (digits == 0 || i >= end || text[i] != '\t') {
			at = end + 1;
			continue; /* "." or a line this version does not know */
		}
		char *function = &text[++i];
		while (i < end && text[i] != '\t')
			i++;
		if (i >= end) {
			at = end + 1;
			continue;
		}
		text[i] = '\0';
		struct source_entry *e = &answer->entries[answer->count++];
		e->frame = (uint32_t)frame;
		e->function = function;
		e->location = &text[i + 1];
		at = end + 1;
	}
}

int source_lines_ask(const char *const *paths, const uint64_t *addresses, uint32_t count, struct source_answer *answer) {
	char path[SOCKET_PATH_BYTES];
	answer->count = 0;
	answer->colour = 0;
	if (!resolver_path(path))
		return 0;
	int64_t deadline = now_ns() + RESOLVER_PATIENCE_SECONDS * NS_PER_SECOND;
	request_length = 0;
	add(REQUEST_VERSION_LINE);
	for (uint32_t i = 0; i < count; i++) {
		add_hex(addresses[i]);
		add(" ");
		add(paths[i] != 0 && paths[i][0] != '\0' ? paths[i] : "-");
		add("\n");
	}
	add("\n");
	if (request_length == sizeof request)
		return 0; /* cut short: better no answer than a wrong one */
	sys_result fd = connect_to(path);
	if (sys_failed(fd))
		return 0;
	uint64_t length = 0;
	if (send_all((int)fd, request, request_length, deadline))
		length = receive((int)fd, answer->text, sizeof answer->text - 1, deadline);
	sys_close((int)fd); /* nothing was left unsent that close could report */
	if (length == 0)
		return 0;
	parse(answer, length);
	return 1;
}
