/*
 * backtrace.h — where a crash happened, found from inside the crashing
 * process: the frames that led to the faulting instruction, and the names
 * of their functions. Used by the friendly reporter (friendly-report.c),
 * in libetsbefriends.so and in the pagers' --friendly alike.
 *
 * Four units, one concern each, all freestanding (raw system calls, no
 * libc, no allocation: every table is a fixed-size static one, which only
 * the one thread that reports ever touches):
 *   address-space.c  /proc/self/maps as a table, and reads of the
 *                    process's memory that cannot fault
 *   module.c         the ELF files mapped as code: opened by path, their
 *                    load bias, their bytes read through a small cache
 *   unwind.c         the walk from the signal context to the outermost
 *                    frame, by the .eh_frame call-frame information where
 *                    there is some, else by frame pointers
 *   symbols.c        a function's name and start from the symbol tables
 *   source-lines.c   file:line for each frame, asked of the Bun process
 *                    that started the program, when it is there to ask
 *
 * Every loop is bounded, every memory read is validated (address-space.c),
 * every file read is checked: a corrupted stack ends the walk, never the
 * report.
 */
#ifndef FAULTLINE_BACKTRACE_H
#define FAULTLINE_BACKTRACE_H

#include <stdint.h>

#include "common/sys.h"

/* ---- address-space.c ---- */

#define SPACE_READABLE 0x1u
#define SPACE_WRITABLE 0x2u
#define SPACE_EXECUTABLE 0x4u

/* One line of /proc/self/maps. path is an offset into the table's paths
 * (0: none, an anonymous or special mapping such as [stack]). */
struct space_mapping {
	uint64_t start;
	uint64_t end;
	uint64_t offset;
	uint64_t inode;  /* 0 for an image copy's pages: the copy's, not the file's */
	uint32_t access;
	uint32_t path;
};

/* Read /proc/self/maps into the table; 0, or a negative errno. */
sys_result space_snapshot(void);
/* The mapping that holds address, or 0. */
const struct space_mapping *space_find(uint64_t address);
/* A mapping's file path ("" for none). */
const char *space_path(const struct space_mapping *m);
/* Copy length bytes at address into out; 1, or 0 where any of them is not
 * readable. Never faults, whatever address is. */
int space_read(uint64_t address, void *out, uint64_t length);
/* Forget what space_read has cached (the reporter calls this once). */
void space_forget(void);

/* ---- module.c ---- */

#define MODULES_MAX 32

/* An ELF file mapped as code: the program, a shared library, the dynamic
 * linker. Addresses inside it are "link" addresses, as in the file (what
 * nm, objdump and addr2line use): runtime = link + bias. */
struct module {
	const char *path;
	int fd;        /* open file, or a negative errno */
	int from_auxv; /* the program, found from the auxiliary vector */
	uint64_t bias;
	/* .eh_frame_hdr's link address and size (PT_GNU_EH_FRAME), or 0. */
	uint64_t eh_frame_hdr;
	uint64_t eh_frame_hdr_size;
	/* .eh_frame's (from the section headers): for files without the
	 * header's index, such as static executables. */
	uint64_t eh_frame;
	uint64_t eh_frame_size;
	/* Symbol tables: file offsets and sizes, and their string tables'.
	 * .symtab may be in a separate debug file (symbols_fd), .dynsym is
	 * always in the module's own. */
	uint64_t symtab, symtab_size, symtab_strings, symtab_strings_size;
	uint64_t dynsym, dynsym_size, dynsym_strings, dynsym_strings_size;
	int symbols_fd;
	int is_debug_file; /* a separate debug file, not a module itself */
	uint32_t load_count;
	struct module_load {
		uint64_t vaddr;
		uint64_t offset;
		uint64_t file_size;
		uint32_t flags;
	} loads[16];
};

/* The module whose code holds address, opened on first use; 0 when the
 * address is in no executable file mapping or the file is not an x86-64
 * ELF file this process can open. */
struct module *module_at(uint64_t address);
/* Read length bytes at the module's link address into out: 1, or 0. */
int module_read(struct module *m, uint64_t link_address, void *out, uint64_t length);
/* Read length bytes at the file offset into out: 1, or 0. */
int module_read_file(struct module *m, uint64_t offset, void *out, uint64_t length);
/* Whether this is the program itself (it holds the entry point). */
int module_is_program(const struct module *m);
/* The last part of the module's path. */
const char *module_name(const struct module *m);
/* Close every module opened (the reporter calls this when done). */
void modules_close(void);

/* ---- unwind.c ---- */

/* The frames kept, innermost first: the faulting one and 32 callers
 * (runs of one return address count as one). */
#define BACKTRACE_FRAMES 33

enum walk_end {
	WALK_OUTERMOST,      /* the call-frame information says: no caller */
	WALK_RETURN_NOT_CODE,/* a return address points at no code */
	WALK_UNREADABLE,     /* the stack could not be read where it had to be */
	WALK_NO_PROGRESS,    /* the caller's frame is not above this one */
	WALK_NO_RULES,       /* no call-frame information and no frame pointer */
	WALK_BAD_FRAME_POINTER, /* no call-frame information, and rbp is no frame */
	WALK_TOO_DEEP,       /* stopped after UNWIND_STEPS_MAX frames */
	WALK_NO_MAP,         /* /proc/self/maps could not be read: nothing to check against */
};

struct frame {
	uint64_t pc;
	/* Consecutive frames with this same pc, this one included. */
	uint64_t repeat;
	/* 1: pc is the faulting (or interrupted) instruction itself; 0: a
	 * return address, whose call is the instruction before it. */
	int exact;
	/* The kernel returned here from a signal handler (the CFI marks the
	 * trampoline, glibc's __restore_rt, as a signal frame). */
	int signal_return;
};

struct backtrace {
	struct frame frames[BACKTRACE_FRAMES];
	uint32_t count;
	/* Frames walked past the last one kept. */
	uint64_t more;
	enum walk_end end;
	uint64_t end_address; /* the return address or stack address at fault,
			       * or for WALK_NO_MAP the errno */
};

/* Walk the stack of the thread whose signal context this is. Without the
 * map (space_snapshot failed), only the faulting frame is kept: nothing
 * could tell a return address from garbage. */
void unwind(const void *context, int map_known, struct backtrace *bt);
/* The address to look a frame's function and line up at: the instruction
 * the frame is in (for a return address, the call before it). */
uint64_t frame_lookup_address(const struct frame *f);

/* ---- symbols.c ---- */

#define SYMBOL_NAME_BYTES 128

struct symbol {
	int found;
	uint64_t start; /* link address */
	char name[SYMBOL_NAME_BYTES];
};

/* Name the functions at count link addresses of one module: out[i] for
 * addresses[i]. One pass over each symbol table for all of them. */
void symbols_lookup(struct module *m, const uint64_t *addresses, struct symbol *out, uint32_t count);
/* The link address of the defined data object called name, of size bytes:
 * 1 and *link, or 0 when neither symbol table has it. */
int symbols_find_object(struct module *m, const char *name, uint64_t size, uint64_t *link);

/* ---- source-lines.c ---- */

/* The environment variable naming the resolver's socket. */
#define SOURCE_RESOLVER_VARIABLE "FAULTLINE_FRIENDLY_RESOLVER"
#define SOURCE_ANSWER_BYTES (16 * 1024)
#define SOURCE_ENTRIES_MAX 128

/* What the resolver said about one frame, or about one call inlined into
 * it: the function (demangled) and where in the source ("file:line"),
 * each "" if unknown. A frame's entries come innermost first; its last is
 * the function whose code it is, the others were inlined into it. */
struct source_entry {
	uint32_t frame;
	const char *function;
	const char *location;
};

struct source_answer {
	char text[SOURCE_ANSWER_BYTES];
	struct source_entry entries[SOURCE_ENTRIES_MAX];
	uint32_t count;
	/* The resolver's process decided the report goes to a terminal that
	 * wants colour (its answer's SOURCE_COLOUR_LINE). */
	int colour;
};

/* The answer's line asking for a report in colour; a handler that does not
 * know it skips it, as any line it does not know. */
#define SOURCE_COLOUR_LINE "colour"

/* Ask the resolver named in this process's environment about count frames:
 * paths[i] and addresses[i] (link addresses; a 0 path for none). Returns 1
 * and fills answer when it answered, 0 when there is none to ask or it did
 * not answer in time. */
int source_lines_ask(const char *const *paths, const uint64_t *addresses, uint32_t count, struct source_answer *answer);

#endif
