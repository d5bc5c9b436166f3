/*
 * address-space.c — the crashing process's memory as /proc/self/maps
 * describes it, and reads of that memory that cannot fault.
 *
 * The walk up a stack follows pointers it cannot trust: a saved frame
 * pointer may be garbage, a return address may have been overwritten. Every
 * read therefore goes through space_read, which copies with
 * process_vm_readv on this very process: the kernel checks the range and
 * answers EFAULT instead of faulting. (A process may always read its own
 * memory this way: ptrace's access check passes for the same thread
 * group.) Where the system call is refused (a seccomp filter, ENOSYS), the
 * table read from /proc/self/maps decides instead, which is as safe unless
 * another thread unmaps memory meanwhile.
 *
 * Reads go through a few cached pages: a deep recursion reads the stack a
 * word at a time, a page once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "friendly/backtrace.h"

/* Lines of /proc/self/maps kept (a program with more loses the highest
 * ones: their code goes unnamed and, without process_vm_readv, unread). */
#define SPACE_MAPPINGS_MAX 4096
/* Room for the paths of file mappings, each kept once per run of lines. */
#define SPACE_PATH_BYTES (64 * 1024)
/* One line is parsed at a time; a longer path is cut (and then does not
 * open, so that code goes unnamed). */
#define SPACE_LINE_BYTES 1024
#define SPACE_CHUNK_BYTES 4096
#define SPACE_PAGE_BYTES 4096ull
#define SPACE_CACHE_PAGES 8

struct kernel_iovec {
	void *base;
	uint64_t length;
};

enum probe {
	PROBE_UNKNOWN,
	PROBE_SYSTEM_CALL, /* process_vm_readv works */
	PROBE_TABLE,       /* refused: check against the table */
};

static struct space_mapping mappings[SPACE_MAPPINGS_MAX];
static uint32_t mapping_count;
/* paths[0] is the empty path of mappings without one. */
static char paths[SPACE_PATH_BYTES];
static uint32_t paths_used;
static char line[SPACE_LINE_BYTES];
static char chunk[SPACE_CHUNK_BYTES];

static enum probe probe;
static struct cached_page {
	int loaded;
	uint64_t page;
	uint8_t bytes[SPACE_PAGE_BYTES];
} cache[SPACE_CACHE_PAGES];

static int hex_value(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A hex number at line[*at], up to the first non-hex character. */
static uint64_t take_hex(const char *text, uint64_t length, uint64_t *at) {
	uint64_t value = 0;
	while (*at < length && hex_value(text[*at]) >= 0)
		value = value * 16 + (uint64_t)hex_value(text[(*at)++]);
	return value;
}

static void skip_field(const char *text, uint64_t length, uint64_t *at) {
	while (*at < length && text[*at] != ' ')
		(*at)++;
	while (*at < length && text[*at] == ' ')
		(*at)++;
}

/* Keep the path, once for a run of lines that share it; its offset, or 0
 * when there is no room. */
static uint32_t keep_path(const char *text, uint64_t length) {
	if (mapping_count > 0) {
		uint32_t previous = mappings[mapping_count - 1].path;
		uint64_t i = 0;
		while (i < length && paths[previous + i] == text[i])
			i++;
		if (previous != 0 && i == length && paths[previous + i] == '\0')
			return previous;
	}
	if (paths_used == 0)
		paths_used = 1;
	if (length + 1 > SPACE_PATH_BYTES - paths_used)
		return 0;
	uint32_t at = paths_used;
	bytes_copy(&paths[at], text, length);
	paths[at + length] = '\0';
	paths_used += (uint32_t)length + 1;
	return at;
}

/* How /proc/self/maps names the pages userfaultfd paging maps from an
 * image copy (src/loader/image-copy.ts): the memfd's name, which is faultline's
 * prefix and the file's path, and the suffix of a file with no name left. */
#define COPY_PREFIX "/memfd:faultline:"
#define COPY_SUFFIX " (deleted)"

static int starts_with(const char *text, uint64_t length, const char *prefix, uint64_t prefix_length) {
	if (length < prefix_length)
		return 0;
	for (uint64_t i = 0; i < prefix_length; i++)
		if (text[i] != prefix[i])
			return 0;
	return 1;
}

/* A copy's pages stand for the file they were copied from: its path.
 * Returns whether the path named a copy. */
static int copied_file(const char **path, uint64_t *length) {
	uint64_t prefix = sizeof COPY_PREFIX - 1, suffix = sizeof COPY_SUFFIX - 1;
	if (!starts_with(*path, *length, COPY_PREFIX, prefix) || *length < prefix + suffix ||
	    !starts_with(*path + *length - suffix, suffix, COPY_SUFFIX, suffix))
		return 0;
	*path += prefix;
	*length -= prefix + suffix;
	return 1;
}

/* "start-end perms offset dev inode   path" */
static void add_line(const char *text, uint64_t length) {
	if (mapping_count == SPACE_MAPPINGS_MAX)
		return;
	uint64_t at = 0;
	struct space_mapping *m = &mappings[mapping_count];
	m->start = take_hex(text, length, &at);
	if (at >= length || text[at] != '-')
		return;
	at++;
	m->end = take_hex(text, length, &at);
	if (at + 5 > length || text[at] != ' ')
		return;
	at++;
	m->access = (text[at] == 'r' ? SPACE_READABLE : 0) | (text[at + 1] == 'w' ? SPACE_WRITABLE : 0) |
		    (text[at + 2] == 'x' ? SPACE_EXECUTABLE : 0);
	skip_field(text, length, &at);
	m->offset = take_hex(text, length, &at);
	skip_field(text, length, &at); /* the offset's end */
	skip_field(text, length, &at); /* dev */
	m->inode = 0;
	while (at < length && text[at] >= '0' && text[at] <= '9')
		m->inode = m->inode * 10 + (uint64_t)(text[at++] - '0');
	while (at < length && text[at] == ' ')
		at++;
	const char *path = &text[at];
	uint64_t path_length = at < length ? length - at : 0;
	if (copied_file(&path, &path_length))
		m->inode = 0;
	m->path = path_length > 0 && path[0] == '/' ? keep_path(path, path_length) : 0;
	if (m->end > m->start)
		mapping_count++;
}

sys_result space_snapshot(void) {
	mapping_count = 0;
	paths_used = 1;
	paths[0] = '\0';
	sys_result fd = sys_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (sys_failed(fd))
		return fd;
	uint64_t length = 0;
	sys_result result = 0;
	for (;;) {
		sys_result n = sys_read((int)fd, chunk, sizeof chunk);
		if (n == -EINTR)
			continue;
		if (sys_failed(n)) {
			result = n;
			break;
		}
		if (n == 0)
			break;
		for (long i = 0; i < n; i++) {
			if (chunk[i] != '\n') {
				if (length < sizeof line)
					line[length++] = chunk[i];
				continue;
			}
			add_line(line, length);
			length = 0;
		}
	}
	sys_close((int)fd); /* read-only: nothing to lose if close fails */
	return result;
}

const struct space_mapping *space_find(uint64_t address) {
	uint32_t low = 0, high = mapping_count;
	while (low < high) {
		uint32_t middle = low + (high - low) / 2;
		if (address < mappings[middle].start)
			high = middle;
		else if (address >= mappings[middle].end)
			low = middle + 1;
		else
			return &mappings[middle];
	}
	return 0;
}

const char *space_path(const struct space_mapping *m) {
	return &paths[m->path];
}

/* Whether the table says the whole page is readable (PROBE_TABLE). */
static int table_allows(uint64_t page) {
	const struct space_mapping *m = space_find(page);
	return m != 0 && (m->access & SPACE_READABLE) && page + SPACE_PAGE_BYTES <= m->end;
}

static int load_page(struct cached_page *slot, uint64_t page) {
	if (probe != PROBE_TABLE) {
		struct kernel_iovec local = { slot->bytes, SPACE_PAGE_BYTES };
		struct kernel_iovec remote = { (void *)page, SPACE_PAGE_BYTES };
		sys_result n = sys_process_vm_readv((int)sys_getpid(), &local, 1, &remote, 1);
		if (n == (sys_result)SPACE_PAGE_BYTES) {
			probe = PROBE_SYSTEM_CALL;
			slot->page = page;
			slot->loaded = 1;
			return 1;
		}
		/* Refused rather than failed: a filter or an old kernel. */
		if (probe == PROBE_UNKNOWN && (n == -ENOSYS || n == -EPERM))
			probe = PROBE_TABLE;
		else
			return 0;
	}
	if (!table_allows(page))
		return 0;
	bytes_copy(slot->bytes, (const void *)page, SPACE_PAGE_BYTES);
	slot->page = page;
	slot->loaded = 1;
	return 1;
}

int space_read(uint64_t address, void *out, uint64_t length) {
	uint8_t *to = out;
	if (address + length < address)
		return 0;
	while (length > 0) {
		uint64_t page = address & ~(SPACE_PAGE_BYTES - 1);
		struct cached_page *slot = &cache[(page / SPACE_PAGE_BYTES) % SPACE_CACHE_PAGES];
		if (!(slot->loaded && slot->page == page)) {
			slot->loaded = 0;
			if (!load_page(slot, page))
				return 0;
		}
		uint64_t from = address - page;
		uint64_t n = SPACE_PAGE_BYTES - from < length ? SPACE_PAGE_BYTES - from : length;
		bytes_copy(to, &slot->bytes[from], n);
		to += n;
		address += n;
		length -= n;
	}
	return 1;
}

void space_forget(void) {
	for (int i = 0; i < SPACE_CACHE_PAGES; i++)
		cache[i].loaded = 0;
}
