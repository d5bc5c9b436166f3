/*
 * module.c — the ELF files whose code the crashing process runs: the
 * program, its shared libraries, the dynamic linker.
 *
 * A module is found from the mapping that holds an address of its code
 * (/proc/self/maps names the file) and read from that file with pread:
 * its headers, its call-frame information, its symbol tables. Files rather
 * than memory, because the symbol tables are not loaded at all, and under
 * dpager the pages of the rest may not be either. A file whose inode is not
 * the one mapped (rebuilt since the program started) is not used: its
 * tables would describe other code.
 *
 * Code in anonymous memory is looked up in the program itself as the
 * auxiliary vector describes it (AT_EXECFN, AT_PHDR, AT_ENTRY). Code a pager
 * maps from an image copy (/memfd:faultline:PATH) is looked up in PATH.
 *
 * A stripped file's full symbol table may be in a separate debug file,
 * found by its build ID as debuggers find it
 * (/usr/lib/debug/.build-id/xx/yyyy.debug, what Debian's -dbg packages
 * install): libc's internal functions, memcpy's variants among them, are
 * named from there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "friendly/backtrace.h"

#define ELF_HEADER_BYTES 64
#define PROGRAM_HEADER_BYTES 56
#define SECTION_HEADER_BYTES 64
#define ELF_CLASS_64 2
#define ELF_DATA_LITTLE 1
#define ELF_MACHINE_X86_64 62
#define PT_LOAD 1
#define PT_NOTE 4
#define PT_PHDR 6
#define PT_GNU_EH_FRAME 0x6474e550u
#define PF_X 1u
#define SHT_SYMTAB 2
#define SHT_DYNSYM 11
/* Bounds on what a file may ask to be read: more headers than any real
 * file has are a corrupt one. */
#define PROGRAM_HEADERS_MAX 128
#define SECTION_HEADERS_MAX 4096
/* The kernel's struct stat on x86-64: 144 bytes, st_ino the second word. */
#define KERNEL_STAT_WORDS 18
#define KERNEL_STAT_INODE 1
/* The auxiliary vector's entries this file reads. */
#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHNUM 5
#define AT_ENTRY 9
#define AT_EXECFN 31
#define AUXV_ENTRIES_MAX 64
#define PROGRAM_PATH_BYTES 1024
/* Build IDs: the note that holds one, and where its debug file is. */
#define NT_GNU_BUILD_ID 3
#define NOTE_HEADER_BYTES 12
#define NOTE_ALIGNMENT 4
#define NOTES_BYTES_MAX 4096
#define BUILD_ID_BYTES_MAX 64
#define DEBUG_BUILD_ID_DIRECTORY "/usr/lib/debug/.build-id/"
#define DEBUG_FILE_SUFFIX ".debug"
#define DEBUG_PATH_BYTES 256
#define PAGE_BYTES 4096ull
/* Reads go through a few cached blocks of the files. */
#define FILE_BLOCK_BYTES 4096ull
#define FILE_CACHE_BLOCKS 16

static struct module modules[MODULES_MAX];
static uint32_t module_count;

static struct cached_block {
	const struct module *module;
	uint64_t block;
	uint64_t valid; /* bytes read: less than a block at the file's end */
	uint8_t bytes[FILE_BLOCK_BYTES];
} blocks[FILE_CACHE_BLOCKS];
static uint32_t next_victim;

/* The program, from the auxiliary vector; read once per report. */
static struct program_facts {
	int read;
	uint64_t entry, phdr, phnum;
	char path[PROGRAM_PATH_BYTES];
} program;

static void use_debug_file(struct module *m);

static uint64_t little_endian(const uint8_t *bytes, int n) {
	uint64_t value = 0;
	for (int i = n - 1; i >= 0; i--)
		value = value << 8 | bytes[i];
	return value;
}

static int same_text(const char *a, const char *b) {
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static struct cached_block *block_for(struct module *m, uint64_t block) {
	for (int i = 0; i < FILE_CACHE_BLOCKS; i++)
		if (blocks[i].module == m && blocks[i].block == block)
			return &blocks[i];
	struct cached_block *slot = &blocks[next_victim];
	next_victim = (next_victim + 1) % FILE_CACHE_BLOCKS;
	slot->module = 0;
	sys_result n;
	do
		n = sys_pread(m->fd, slot->bytes, FILE_BLOCK_BYTES, block * FILE_BLOCK_BYTES);
	while (n == -EINTR);
	if (sys_failed(n) || n == 0)
		return 0;
	slot->module = m;
	slot->block = block;
	slot->valid = (uint64_t)n;
	return slot;
}

int module_read_file(struct module *m, uint64_t offset, void *out, uint64_t length) {
	uint8_t *to = out;
	if (m->fd < 0 || offset + length < offset)
		return 0;
	while (length > 0) {
		struct cached_block *b = block_for(m, offset / FILE_BLOCK_BYTES);
		uint64_t from = offset % FILE_BLOCK_BYTES;
		if (b == 0 || from >= b->valid)
			return 0;
		uint64_t n = b->valid - from < length ? b->valid - from : length;
		bytes_copy(to, &b->bytes[from], n);
		to += n;
		offset += n;
		length -= n;
	}
	return 1;
}

int module_read(struct module *m, uint64_t link_address, void *out, uint64_t length) {
	for (uint32_t i = 0; i < m->load_count; i++) {
		const struct module_load *l = &m->loads[i];
		if (link_address >= l->vaddr && link_address - l->vaddr <= l->file_size &&
		    length <= l->file_size - (link_address - l->vaddr))
			return module_read_file(m, l->offset + (link_address - l->vaddr), out, length);
	}
	return 0;
}

const char *module_name(const struct module *m) {
	const char *name = m->path;
	for (const char *c = m->path; *c != '\0'; c++)
		if (*c == '/' && c[1] != '\0')
			name = c + 1;
	return name;
}

static int read_word(struct module *m, uint64_t offset, int n, uint64_t *value) {
	uint8_t bytes[8];
	if (!module_read_file(m, offset, bytes, (uint64_t)n))
		return 0;
	*value = little_endian(bytes, n);
	return 1;
}

/* Whether the name at offset in the section-name table is wanted. */
static int section_named(struct module *m, uint64_t names, uint64_t name, const char *wanted) {
	for (uint64_t i = 0;; i++) {
		uint8_t c;
		if (!module_read_file(m, names + name + i, &c, 1) || c != (uint8_t)wanted[i])
			return 0;
		if (c == '\0')
			return 1;
	}
}

/* A symbol table's file extent and its string table's (section link). */
static void note_symbols(struct module *m, uint64_t headers, uint64_t count, uint64_t at, uint64_t *table,
			 uint64_t *size, uint64_t *strings, uint64_t *strings_size) {
	uint64_t link;
	if (!read_word(m, at + 0x18, 8, table) || !read_word(m, at + 0x20, 8, size) ||
	    !read_word(m, at + 0x28, 4, &link) || link >= count) {
		*size = 0;
		return;
	}
	uint64_t link_at = headers + link * SECTION_HEADER_BYTES;
	if (!read_word(m, link_at + 0x18, 8, strings) || !read_word(m, link_at + 0x20, 8, strings_size))
		*size = 0;
}

/* The symbol tables and .eh_frame, from the section headers (a file
 * without them still has its program headers, and is unwound by those). */
static void read_sections(struct module *m, const uint8_t *header) {
	uint64_t headers = little_endian(&header[0x28], 8);
	uint64_t size = little_endian(&header[0x3a], 2);
	uint64_t count = little_endian(&header[0x3c], 2);
	uint64_t names_index = little_endian(&header[0x3e], 2);
	if (headers == 0 || size != SECTION_HEADER_BYTES || count > SECTION_HEADERS_MAX || names_index >= count)
		return;
	uint64_t names;
	if (!read_word(m, headers + names_index * SECTION_HEADER_BYTES + 0x18, 8, &names))
		return;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t at = headers + i * SECTION_HEADER_BYTES, name, type;
		if (!read_word(m, at, 4, &name) || !read_word(m, at + 4, 4, &type))
			return;
		if (type == SHT_SYMTAB)
			note_symbols(m, headers, count, at, &m->symtab, &m->symtab_size, &m->symtab_strings,
				     &m->symtab_strings_size);
		else if (type == SHT_DYNSYM)
			note_symbols(m, headers, count, at, &m->dynsym, &m->dynsym_size, &m->dynsym_strings,
				     &m->dynsym_strings_size);
		else if (section_named(m, names, name, ".eh_frame") &&
			 (!read_word(m, at + 0x10, 8, &m->eh_frame) || !read_word(m, at + 0x20, 8, &m->eh_frame_size)))
			m->eh_frame_size = 0;
	}
}

/* The file's ELF header and program headers: its loads, its
 * .eh_frame_hdr, and (with the section headers) the rest. Fills header
 * with the ELF header's bytes. */
static int read_headers(struct module *m, uint8_t header[ELF_HEADER_BYTES], uint64_t *link_phdr) {
	if (!module_read_file(m, 0, header, ELF_HEADER_BYTES))
		return 0;
	if (header[0] != 0x7f || header[1] != 'E' || header[2] != 'L' || header[3] != 'F' ||
	    header[4] != ELF_CLASS_64 || header[5] != ELF_DATA_LITTLE ||
	    little_endian(&header[0x12], 2) != ELF_MACHINE_X86_64)
		return 0;
	uint64_t phoff = little_endian(&header[0x20], 8);
	uint64_t phentsize = little_endian(&header[0x36], 2);
	uint64_t phnum = little_endian(&header[0x38], 2);
	if (phentsize != PROGRAM_HEADER_BYTES || phnum > PROGRAM_HEADERS_MAX)
		return 0;
	*link_phdr = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		uint8_t ph[PROGRAM_HEADER_BYTES];
		if (!module_read_file(m, phoff + i * PROGRAM_HEADER_BYTES, ph, sizeof ph))
			return 0;
		uint64_t type = little_endian(ph, 4);
		uint64_t offset = little_endian(&ph[8], 8), vaddr = little_endian(&ph[0x10], 8);
		uint64_t file_size = little_endian(&ph[0x20], 8), memory_size = little_endian(&ph[0x28], 8);
		if (type == PT_LOAD && m->load_count < sizeof m->loads / sizeof m->loads[0]) {
			struct module_load *l = &m->loads[m->load_count++];
			l->vaddr = vaddr;
			l->offset = offset;
			l->file_size = file_size;
			l->flags = (uint32_t)little_endian(&ph[4], 4);
			/* The program headers' own address, when no PT_PHDR says. */
			if (*link_phdr == 0 && offset <= phoff && phoff - offset < file_size)
				*link_phdr = vaddr + (phoff - offset);
		} else if (type == PT_PHDR) {
			*link_phdr = vaddr;
		} else if (type == PT_GNU_EH_FRAME) {
			m->eh_frame_hdr = vaddr;
			m->eh_frame_hdr_size = memory_size;
		}
	}
	read_sections(m, header);
	m->symbols_fd = m->fd;
	if (m->symtab_size == 0)
		use_debug_file(m);
	return m->load_count > 0;
}

/* The bias that puts the file offset mapped at runtime address start. */
static int bias_from_mapping(struct module *m, uint64_t start, uint64_t offset) {
	for (uint32_t i = 0; i < m->load_count; i++) {
		const struct module_load *l = &m->loads[i];
		uint64_t first = l->offset & ~(PAGE_BYTES - 1); /* mappings start on a page */
		if (offset >= first && offset < l->offset + l->file_size) {
			m->bias = start - (l->vaddr + offset - l->offset);
			return 1;
		}
	}
	return 0;
}

static uint64_t align_up(uint64_t n, uint64_t alignment) {
	return (n + alignment - 1) / alignment * alignment;
}

/* The module's build ID, from its PT_NOTE segments: its length, or 0. */
static uint32_t build_id(struct module *m, uint8_t id[BUILD_ID_BYTES_MAX]) {
	uint8_t header[ELF_HEADER_BYTES];
	if (!module_read_file(m, 0, header, sizeof header))
		return 0;
	uint64_t phoff = little_endian(&header[0x20], 8), phnum = little_endian(&header[0x38], 2);
	for (uint64_t i = 0; i < phnum && i < PROGRAM_HEADERS_MAX; i++) {
		uint8_t ph[PROGRAM_HEADER_BYTES];
		if (!module_read_file(m, phoff + i * PROGRAM_HEADER_BYTES, ph, sizeof ph))
			return 0;
		if (little_endian(ph, 4) != PT_NOTE)
			continue;
		uint64_t at = little_endian(&ph[8], 8);
		uint64_t size = little_endian(&ph[0x20], 8);
		uint64_t end = at + (size < NOTES_BYTES_MAX ? size : NOTES_BYTES_MAX);
		while (at + NOTE_HEADER_BYTES <= end) {
			uint8_t note[NOTE_HEADER_BYTES], name[NOTE_ALIGNMENT];
			if (!module_read_file(m, at, note, sizeof note))
				return 0;
			uint64_t name_size = little_endian(note, 4), id_size = little_endian(&note[4], 4);
			uint64_t type = little_endian(&note[8], 4);
			uint64_t id_at = at + NOTE_HEADER_BYTES + align_up(name_size, NOTE_ALIGNMENT);
			if (type == NT_GNU_BUILD_ID && name_size == sizeof name && id_size > 0 &&
			    id_size <= BUILD_ID_BYTES_MAX && module_read_file(m, at + NOTE_HEADER_BYTES, name, sizeof name) &&
			    name[0] == 'G' && name[1] == 'N' && name[2] == 'U' && name[3] == '\0' &&
			    module_read_file(m, id_at, id, id_size))
				return (uint32_t)id_size;
			at = id_at + align_up(id_size, NOTE_ALIGNMENT);
		}
	}
	return 0;
}

static void add_text(char *to, uint32_t *length, const char *text) {
	while (*text != '\0' && *length + 1 < DEBUG_PATH_BYTES)
		to[(*length)++] = *text++;
	to[*length] = '\0';
}

static void add_hex_byte(char *to, uint32_t *length, uint8_t byte) {
	char digits[3] = { "0123456789abcdef"[byte >> 4], "0123456789abcdef"[byte & 0xf], '\0' };
	add_text(to, length, digits);
}

static void give_up(struct module *m);
static struct module *new_module(void);

/* A stripped module's .symtab from its separate debug file, if installed. */
static void use_debug_file(struct module *m) {
	uint8_t id[BUILD_ID_BYTES_MAX];
	uint32_t id_length = build_id(m, id);
	if (id_length < 2)
		return;
	char path[DEBUG_PATH_BYTES];
	uint32_t length = 0;
	add_text(path, &length, DEBUG_BUILD_ID_DIRECTORY);
	add_hex_byte(path, &length, id[0]);
	add_text(path, &length, "/");
	for (uint32_t i = 1; i < id_length; i++)
		add_hex_byte(path, &length, id[i]);
	add_text(path, &length, DEBUG_FILE_SUFFIX);
	struct module *debug = new_module();
	if (debug == 0)
		return;
	debug->is_debug_file = 1;
	debug->path = "";
	sys_result fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (sys_failed(fd))
		return;
	debug->fd = (int)fd;
	uint8_t header[ELF_HEADER_BYTES];
	if (!module_read_file(debug, 0, header, sizeof header) || header[0] != 0x7f || header[1] != 'E' ||
	    header[4] != ELF_CLASS_64) {
		give_up(debug);
		return;
	}
	read_sections(debug, header);
	if (debug->symtab_size == 0) {
		give_up(debug);
		return;
	}
	m->symtab = debug->symtab;
	m->symtab_size = debug->symtab_size;
	m->symtab_strings = debug->symtab_strings;
	m->symtab_strings_size = debug->symtab_strings_size;
	m->symbols_fd = debug->fd;
}

static int open_file(struct module *m, const char *path) {
	m->path = path;
	sys_result fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	m->fd = (int)fd;
	return !sys_failed(fd);
}

static void give_up(struct module *m) {
	if (m->fd >= 0)
		sys_close(m->fd); /* read-only: nothing to lose if close fails */
	m->fd = -EINVAL;
}

static struct module *new_module(void) {
	if (module_count == MODULES_MAX)
		return 0;
	struct module *m = &modules[module_count++];
	bytes_zero(m, sizeof *m);
	m->fd = -ENOENT;
	return m;
}

static struct module *file_module(const struct space_mapping *code) {
	const char *path = space_path(code);
	for (uint32_t i = 0; i < module_count; i++)
		if (!modules[i].from_auxv && !modules[i].is_debug_file && same_text(modules[i].path, path))
			return modules[i].fd >= 0 ? &modules[i] : 0;
	struct module *m = new_module();
	if (m == 0 || !open_file(m, path))
		return 0;
	uint64_t status[KERNEL_STAT_WORDS];
	uint8_t header[ELF_HEADER_BYTES];
	uint64_t link_phdr;
	/* An image copy's mapping (inode 0) holds the file's bytes at the
	 * file's offsets, copied at the launch; the file is taken as it is. */
	if (sys_failed(sys_call2(__NR_fstat, m->fd, (long)status)) || (code->inode != 0 && status[KERNEL_STAT_INODE] != code->inode) ||
	    !read_headers(m, header, &link_phdr) || !bias_from_mapping(m, code->start, code->offset)) {
		give_up(m);
		return 0;
	}
	return m;
}

static void read_program_facts(void) {
	program.read = 1;
	sys_result fd = sys_openat(AT_FDCWD, "/proc/self/auxv", O_RDONLY | O_CLOEXEC, 0);
	if (sys_failed(fd))
		return;
	uint64_t auxv[2 * AUXV_ENTRIES_MAX];
	sys_result n;
	do
		n = sys_read((int)fd, auxv, sizeof auxv);
	while (n == -EINTR);
	sys_close((int)fd);
	uint64_t execfn = 0;
	for (long i = 0; !sys_failed(n) && 2 * i + 1 < n / 8 && auxv[2 * i] != AT_NULL; i++) {
		uint64_t value = auxv[2 * i + 1];
		switch (auxv[2 * i]) {
		case AT_PHDR:
			program.phdr = value;
			break;
		case AT_PHNUM:
			program.phnum = value;
			break;
		case AT_ENTRY:
			program.entry = value;
			break;
		case AT_EXECFN:
			execfn = value;
			break;
		default:
			break;
		}
	}
	/* The path as given to execve, from the program's own stack. */
	for (uint64_t i = 0; execfn != 0 && i + 1 < sizeof program.path; i++) {
		if (!space_read(execfn + i, &program.path[i], 1)) {
			program.path[0] = '\0';
			break;
		}
		if (program.path[i] == '\0')
			break;
	}
}

/* The program's module, opened from AT_EXECFN, when its code is in
 * anonymous memory. Its bias comes from AT_PHDR, checked against
 * AT_ENTRY. */
static struct module *program_module(void) {
	for (uint32_t i = 0; i < module_count; i++)
		if (modules[i].from_auxv)
			return modules[i].fd >= 0 ? &modules[i] : 0;
	if (!program.read)
		read_program_facts();
	struct module *m = new_module();
	if (m == 0)
		return 0;
	m->from_auxv = 1;
	if (program.path[0] == '\0' || program.phdr == 0 || !open_file(m, program.path))
		return 0;
	uint8_t header[ELF_HEADER_BYTES];
	uint64_t link_phdr;
	if (!read_headers(m, header, &link_phdr) || link_phdr == 0) {
		give_up(m);
		return 0;
	}
	m->bias = program.phdr - link_phdr;
	if (little_endian(&header[0x18], 8) + m->bias != program.entry) {
		give_up(m);
		return 0;
	}
	return m;
}

/* Whether link_address is in the module's code. */
static int in_code(const struct module *m, uint64_t link_address) {
	for (uint32_t i = 0; i < m->load_count; i++) {
		const struct module_load *l = &m->loads[i];
		if ((l->flags & PF_X) && link_address >= l->vaddr && link_address - l->vaddr < l->file_size)
			return 1;
	}
	return 0;
}

struct module *module_at(uint64_t address) {
	const struct space_mapping *code = space_find(address);
	if (code == 0 || !(code->access & SPACE_EXECUTABLE))
		return 0;
	if (code->path != 0)
		return file_module(code);
	struct module *m = program_module();
	return m != 0 && in_code(m, address - m->bias) ? m : 0;
}

int module_is_program(const struct module *m) {
	if (!program.read)
		read_program_facts();
	return program.entry != 0 && in_code(m, program.entry - m->bias);
}

void modules_close(void) {
	for (uint32_t i = 0; i < module_count; i++)
		if (modules[i].fd >= 0)
			sys_close(modules[i].fd); /* read-only: nothing to lose */
	module_count = 0;
	program.read = 0;
	for (int i = 0; i < FILE_CACHE_BLOCKS; i++)
		blocks[i].module = 0;
}
