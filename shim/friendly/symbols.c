/*
 * symbols.c — the function a code address is in, from the module's symbol
 * tables: .symtab where the file still has it (every symbol, static
 * functions included), else .dynsym (what a stripped library exports).
 *
 * (module.c finds a stripped file's .symtab in its separate debug file.)
 * A function is the FUNC (or IFUNC) symbol whose [value, value + size)
 * holds the address; among aliases a global name wins over a weak one, a
 * weak over a local. An address no symbol holds stays unnamed rather than
 * take the name of whatever precedes it: in a stripped libc that would be
 * an unrelated exported function.
 *
 * The table is read once for all the addresses asked about, a chunk at a
 * time, straight from the file.
 */
#include <errno.h>

#include "friendly/backtrace.h"

#define SYMBOL_BYTES 24
#define SYMBOLS_PER_CHUNK 512
#define STT_OBJECT 1
#define STT_FUNC 2
#define STT_GNU_IFUNC 10
#define STB_LOCAL 0
#define STB_GLOBAL 1
#define STB_WEAK 2
#define SHN_UNDEF 0

static uint8_t chunk[SYMBOLS_PER_CHUNK * SYMBOL_BYTES];

/* The best symbol so far for each address asked about. */
static struct candidate {
	int rank; /* 0: none yet */
	uint64_t name;
} candidates[BACKTRACE_FRAMES];

static uint64_t little_endian(const uint8_t *bytes, int n) {
	uint64_t value = 0;
	for (int i = n - 1; i >= 0; i--)
		value = value << 8 | bytes[i];
	return value;
}

static int binding_rank(uint8_t info) {
	switch (info >> 4) {
	case STB_GLOBAL:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

/* The name at offset name of the string table: up to the room in out. */
static void read_name(int fd, uint64_t strings, uint64_t strings_size, uint64_t name, char *out) {
	uint64_t room = SYMBOL_NAME_BYTES - 1;
	if (name >= strings_size) {
		out[0] = '\0';
		return;
	}
	if (room > strings_size - name)
		room = strings_size - name;
	sys_result n;
	do
		n = sys_pread(fd, out, room, strings + name);
	while (n == -EINTR);
	uint64_t length = sys_failed(n) ? 0 : (uint64_t)n;
	out[length] = '\0';
	for (uint64_t i = 0; i < length; i++)
		if (out[i] == '\0')
			break;
}

/* Read into chunk the symbols of a table of `symbols` from index first on,
 * SYMBOLS_PER_CHUNK at most: how many, or 0 when the read failed or came
 * short. */
static uint64_t read_chunk(int fd, uint64_t table, uint64_t symbols, uint64_t first) {
	uint64_t n = symbols - first < SYMBOLS_PER_CHUNK ? symbols - first : SYMBOLS_PER_CHUNK;
	sys_result got;
	do
		got = sys_pread(fd, chunk, n * SYMBOL_BYTES, table + first * SYMBOL_BYTES);
	while (got == -EINTR);
	if (sys_failed(got) || (uint64_t)got != n * SYMBOL_BYTES)
		return 0;
	return n;
}

static void scan(int fd, uint64_t table, uint64_t size, uint64_t strings, uint64_t strings_size,
		 const uint64_t *addresses, struct symbol *out, uint32_t count) {
	for (uint32_t i = 0; i < count; i++)
		candidates[i].rank = 0;
	uint64_t symbols = size / SYMBOL_BYTES;
	for (uint64_t first = 0; first < symbols; first += SYMBOLS_PER_CHUNK) {
		uint64_t n = read_chunk(fd, table, symbols, first);
		if (n == 0)
			break;
		for (uint64_t s = 0; s < n; s++) {
			const uint8_t *symbol = &chunk[s * SYMBOL_BYTES];
			uint8_t info = symbol[4];
			uint64_t type = info & 0xf, section = little_endian(&symbol[6], 2);
			uint64_t value = little_endian(&symbol[8], 8), length = little_endian(&symbol[16], 8);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || section == SHN_UNDEF || length == 0)
				continue;
			int rank = binding_rank(info);
			for (uint32_t i = 0; i < count; i++) {
				if (out[i].found || addresses[i] < value || addresses[i] - value >= length ||
				    rank <= candidates[i].rank)
					continue;
				candidates[i].rank = rank;
				candidates[i].name = little_endian(symbol, 4);
				out[i].start = value;
			}
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		if (out[i].found || candidates[i].rank == 0)
			continue;
		read_name(fd, strings, strings_size, candidates[i].name, out[i].name);
		out[i].found = out[i].name[0] != '\0';
	}
}

void symbols_lookup(struct module *m, const uint64_t *addresses, struct symbol *out, uint32_t count) {
	if (count > BACKTRACE_FRAMES)
		count = BACKTRACE_FRAMES;
	for (uint32_t i = 0; i < count; i++) {
		out[i].found = 0;
		out[i].name[0] = '\0';
	}
	if (m->symtab_size != 0)
		scan(m->symbols_fd, m->symtab, m->symtab_size, m->symtab_strings, m->symtab_strings_size, addresses, out,
		     count);
	if (m->dynsym_size != 0)
		scan(m->fd, m->dynsym, m->dynsym_size, m->dynsym_strings, m->dynsym_strings_size, addresses, out, count);
}

/* Search one table for a defined data object named name of size bytes. Only
 * objects of that size have their names read: a few dozen preads, not one
 * per symbol. */
static int find_in(int fd, uint64_t table, uint64_t size, uint64_t strings, uint64_t strings_size, const char *name,
		   uint64_t object_size, uint64_t *link) {
	char found[SYMBOL_NAME_BYTES];
	uint64_t symbols = size / SYMBOL_BYTES;
	for (uint64_t first = 0; first < symbols; first += SYMBOLS_PER_CHUNK) {
		uint64_t n = read_chunk(fd, table, symbols, first);
		if (n == 0)
			return 0;
		for (uint64_t s = 0; s < n; s++) {
			const uint8_t *symbol = &chunk[s * SYMBOL_BYTES];
			if ((symbol[4] & 0xf) != STT_OBJECT || little_endian(&symbol[6], 2) == SHN_UNDEF ||
			    little_endian(&symbol[16], 8) != object_size)
				continue;
			read_name(fd, strings, strings_size, little_endian(symbol, 4), found);
			uint32_t k = 0;
			while (name[k] != '\0' && name[k] == found[k])
				k++;
			if (name[k] == found[k]) {
				*link = little_endian(&symbol[8], 8);
				return 1;
			}
		}
	}
	return 0;
}

int symbols_find_object(struct module *m, const char *name, uint64_t size, uint64_t *link) {
	if (m->dynsym_size != 0 &&
	    find_in(m->fd, m->dynsym, m->dynsym_size, m->dynsym_strings, m->dynsym_strings_size, name, size, link))
		return 1;
	return m->symtab_size != 0 && find_in(m->symbols_fd, m->symtab, m->symtab_size, m->symtab_strings,
						  m->symtab_strings_size, name, size, link);
}
