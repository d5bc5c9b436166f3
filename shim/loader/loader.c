/*
 * loader.c — faultline's loader, the executable (shim/build/
 * faultline-loader): Bun spawns it in the program's place, with the
 * program's descriptors, signal dispositions, mask and limits already set
 * (shim/loader/spawn.c), and it turns itself into the program. Freestanding and
 * static: no libc, nothing of Bun's, a fresh address space from execve.
 *
 *   _start          become a fresh child of Bun's (see below), on a stack
 *                   of the loader's own
 *   say_hello       tell Bun which process becomes the program
 *   receive_plan    map the plan TypeScript made
 *   find_bases      where the kernel put the [stack] and the vDSO, and
 *                   where mmap puts the images the kernel places; the
 *                   plan's relative addresses made final
 *   map_region...   map the program (and interpreter), as the plan says
 *   place_stack     the stack image at the top of the kernel's own [stack]
 *   log_start_mappings  the start mappings' lines, to the mapping log
 *   report_placed   tell Bun, and wait for its go when the plan says so
 *   describe_process  the process name, /proc/self/{cmdline,environ,auxv,
 *                   exe}, brk
 *   paging, friendly  the fault handler or userfaultfd, the crash reporter
 *   fl_enter_program  drop what the program need not see, zero the
 *                   registers and jump
 *
 * Any failure is recorded in the plan's status, which Bun reads, and ends
 * the process before the jump.
 */
#include <asm/prctl.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/memfd.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <signal.h>

#include "paging/paging.h"
#include "common/kernel.h"
#include "launch.h"
#include "loader/client.h"
#include "loader/loader.h"
#include "paging/regions.h"
#include "common/sys.h"

/* A loader that failed before the jump exits with FL_EXIT_LOAD_FAILED
 * (loader/client.h: the shells' "found but cannot execute"); Bun reads the
 * plan's status for the cause. */
/* Exit status of a loader whose Bun hung up before sending a plan (the
 * program could not be run after all): nothing to report. */
#define FL_EXIT_ABANDONED 125

/* The loader's arguments: its name, the control socket's number, the
 * signals the program starts with ignored, and its mask (decimal). */
#define LOADER_ARGC 4

/* Auxiliary vector entries the loader reads from its own initial stack. */
#define AT_NULL_TYPE 0
#define AT_EXECFN_TYPE 31
#define AT_SYSINFO_EHDR_TYPE 33

/* The control socket, the plan and the files it came with. */
static int control_fd = -1;
/* Started by the caller's shell as the installed command's client
 * (client.c), not spawned by Bun: the plan comes from the user's service,
 * and this process, not a clone, becomes the program. */
static int client_mode;
static struct fl_launch_spec *spec;
static int64_t program_files[FL_FILE_COUNT];
/* The image copies userfaultfd paging maps file pages from (-1: none). */
static int64_t copy_files[FL_FILE_COUNT];
/* Where the start mappings' lines go (the mapping log's descriptor; -1:
 * the plan has none to write). */
static int64_t log_file = -1;
static int spec_fd = -1;
static uint64_t spec_mapped_length;

/* What the kernel gave the loader, from its initial stack. */
static uint64_t vdso_address;
static const char *exec_name;

static __attribute__((noreturn)) void fail(enum fl_stage stage, sys_result error, uint64_t detail) {
	if (spec) {
		spec->status.stage = stage;
		spec->status.error = (uint64_t)-error;
		spec->status.detail = detail;
	}
	if (client_mode)
		fl_client_failed(control_fd);
	sys_exit_group(FL_EXIT_LOAD_FAILED);
}

static void begin(enum fl_stage stage) {
	spec->status.stage = stage;
}

/* A decimal number; 0 if s is not one. */
static int parse_decimal(const char *s, uint64_t *value) {
	*value = 0;
	if (!s || *s == 0)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		*value = *value * 10 + (uint64_t)(*s - '0');
	}
	return 1;
}

static uint64_t string_length(const char *s) {
	uint64_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* Send a message on the control socket; a Bun that is gone ends the
 * loader (nothing is left to report to). */
static void send_message(const void *message, uint64_t length) {
	if (sys_sendto(control_fd, message, length, KERNEL_MSG_NOSIGNAL) != (sys_result)length)
		sys_exit_group(FL_EXIT_ABANDONED);
}

/* Tell Bun which process becomes the program: this one, Bun's child. */
static void say_hello(void) {
	struct fl_hello hello = { .magic = FL_HELLO_MAGIC, .pid = (uint64_t)sys_getpid() };
	send_message(&hello, sizeof hello);
}

_Static_assert(sizeof(struct kernel_cmsghdr) == FL_CMSG_HEADER_BYTES, "launch.h's control-data header is the kernel's");

/*
 * Receive the plan: its memfd, mapped shared where TypeScript chose (Bun
 * reads the status through the same pages), and the program's files. A
 * hang-up instead means Bun found the program cannot be run.
 */
static void receive_plan(void) {
	union {
		struct fl_plan_delivery delivery;
		struct fl_client_answer answer;
	} received;
	struct fl_plan_delivery delivery;
	union {
		char bytes[FL_PLAN_CONTROL_BYTES];
		struct kernel_cmsghdr align;
	} control;
	struct kernel_iovec iov = { .base = &received, .length = sizeof received };
	struct kernel_msghdr message = {
		.iov = &iov,
		.iov_count = 1,
		.control = control.bytes,
		.control_length = sizeof control.bytes,
	};
	sys_result n;
	for (int retried = 0;; retried = 1) {
		n = sys_recvmsg(control_fd, &message, KERNEL_MSG_CMSG_CLOEXEC);
		/* A service that answers with a verdict, or hangs up before it
		 * has planned, leaves the command to Bun (or to a new service). */
		if (client_mode && n == (sys_result)sizeof received.answer && received.answer.magic == FL_ANSWER_MAGIC) {
			control_fd = fl_client_answered(control_fd, &received.answer, retried);
			message.control_length = sizeof control.bytes;
			continue;
		}
		/* Hung up before answering: a service that was stopping as
		 * this client connected. A new one is asked, once. */
		if (client_mode && n <= 0 && !retried) {
			struct fl_client_answer retry = { .magic = FL_ANSWER_MAGIC, .verdict = FL_ANSWER_RETRY };
			control_fd = fl_client_answered(control_fd, &retry, 0);
			message.control_length = sizeof control.bytes;
			continue;
		}
		if (client_mode && n <= 0)
			fl_client_unanswered();
		break;
	}
	if (n == 0)
		sys_exit_group(FL_EXIT_ABANDONED);
	delivery = received.delivery;
	if (n != (sys_result)sizeof delivery || delivery.magic != FL_PLAN_MAGIC)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	struct kernel_cmsghdr *header = (struct kernel_cmsghdr *)control.bytes;
	uint64_t mask = delivery.file_mask;
	uint64_t count = 0;
	for (int i = 0; i < FL_PLAN_FILES; i++)
		count += (mask >> i) & 1;
	if (message.control_length < sizeof *header || header->level != KERNEL_SOL_SOCKET || header->type != KERNEL_SCM_RIGHTS ||
	    !(mask & (1ull << FL_PLAN_SPEC)) || !(mask & (1ull << FL_PLAN_PROGRAM)) || mask >> FL_PLAN_FILES ||
	    header->length != sizeof *header + count * sizeof(int))
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	const int *fds = (const int *)(header + 1);
	int64_t carried[FL_PLAN_FILES];
	for (int i = 0, next = 0; i < FL_PLAN_FILES; i++)
		carried[i] = mask & (1ull << i) ? fds[next++] : -1;
	spec_fd = (int)carried[FL_PLAN_SPEC];
	program_files[FL_FILE_PROGRAM] = carried[FL_PLAN_PROGRAM];
	program_files[FL_FILE_INTERPRETER] = carried[FL_PLAN_INTERPRETER];
	copy_files[FL_FILE_PROGRAM] = carried[FL_PLAN_PROGRAM_COPY];
	copy_files[FL_FILE_INTERPRETER] = carried[FL_PLAN_INTERPRETER_COPY];
	log_file = carried[FL_PLAN_LOG];
	sys_result at = sys_mmap(delivery.spec_address, delivery.spec_length, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED_NOREPLACE, spec_fd, 0);
	if (at < 0 || (uint64_t)at != delivery.spec_address)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	spec = (struct fl_launch_spec *)at;
	spec_mapped_length = delivery.spec_length;
	if (spec->magic != FL_SPEC_MAGIC || spec->spec_size != sizeof *spec)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	spec->status.stage = FL_STAGE_MAPPING_PLAN;
}

/* Map one region exactly where the plan says. MAP_FIXED_NOREPLACE makes the
 * kernel refuse rather than replace anything already there (the loader,
 * the plan, the vDSO); a kernel too old to know the flag treats the address
 * as a hint, which the address check catches. */
static void map_region(uint64_t index) {
	const struct fl_region *region = fl_regions(spec) + index;
	int anonymous = region->offset == FL_ANONYMOUS;
	int demand = (region->flags & FL_REGION_DEMAND) != 0;
	int from_copy = !anonymous && (region->flags & FL_REGION_COPY) != 0;
	/* An image the kernel placed is mapped over the reservation made for
	 * it (find_bases); the rest must land where nothing is. */
	int flags = MAP_PRIVATE | (region->base == FL_BASE_FIXED ? MAP_FIXED_NOREPLACE : MAP_FIXED);
	if (region->flags & FL_REGION_POPULATE)
		flags |= MAP_POPULATE;
	/* A demand region is reserved: with a SIGSEGV handler, inaccessible and
	 * backed by the file, its pages given the region's protection when first
	 * touched; with userfaultfd, with the region's protection, its file
	 * pages mapped from the image copy (their bytes in its page cache) and
	 * its bss anonymous, registered for the faults Bun's server serves. */
	int by_userfaultfd = demand && spec->mechanism == FL_MECHANISM_USERFAULTFD;
	if (anonymous)
		flags |= MAP_ANONYMOUS;
	int prot = demand && !by_userfaultfd ? PROT_NONE : (int)region->prot;
	int zero_tail = region->zero_from && !demand;
	int map_prot = zero_tail ? prot | PROT_WRITE : prot;
	int fd = anonymous ? -1 : (int)(from_copy ? copy_files[region->file] : program_files[region->file]);
	uint64_t offset = anonymous ? 0 : from_copy ? region->copy_offset : region->offset;
	if (!anonymous && fd < 0)
		fail(FL_STAGE_MAP_REGION, -EBADF, index);

	begin(FL_STAGE_MAP_REGION);
	sys_result at = sys_mmap(region->start, region->length, map_prot, flags, fd, offset);
	if (at < 0)
		fail(FL_STAGE_MAP_REGION, at, index);
	if ((uint64_t)at != region->start) {
		sys_munmap((uint64_t)at, region->length);
		fail(FL_STAGE_MAP_REGION, -EEXIST, index);
	}
	if (!zero_tail)
		return;
	/* The file's bytes past the segment's end share the last page with the
	 * start of the bss; they must read as zeros (the kernel's padzero). */
	begin(FL_STAGE_ZERO_TAIL);
	uint64_t end = region->start + region->length;
	bytes_zero((void *)region->zero_from, end - region->zero_from);
	if (map_prot != prot) {
		begin(FL_STAGE_PROTECT);
		sys_result r = sys_mprotect(region->start, region->length, prot);
		if (r < 0)
			fail(FL_STAGE_PROTECT, r, index);
	}
}

/* The value of each base (enum fl_base), once found. */
static uint64_t bases[FL_BASE_COUNT];

/*
 * Reserve an image's extent where mmap puts it, at its alignment: the
 * kernel's top-down choice, as for an image load_elf_binary or
 * load_elf_interp places anywhere. Returns the bias (the reservation's
 * start less the extent's) or a negative errno.
 */
static sys_result reserve_image(const struct fl_placement *placement) {
	uint64_t alignment = placement->alignment < FL_PAGE_SIZE ? FL_PAGE_SIZE : placement->alignment;
	uint64_t slack = alignment > FL_PAGE_SIZE ? alignment : 0;
	uint64_t length = placement->extent_size + slack;
	if (length < placement->extent_size)
		return -ENOMEM;
	sys_result at = sys_mmap(0, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (at < 0)
		return at;
	uint64_t start = ((uint64_t)at + alignment - 1) & ~(alignment - 1);
	if (start > (uint64_t)at) {
		sys_result r = sys_munmap((uint64_t)at, start - (uint64_t)at);
		if (r < 0)
			return r;
	}
	uint64_t end = start + placement->extent_size;
	if (end < (uint64_t)at + length) {
		sys_result r = sys_munmap(end, (uint64_t)at + length - end);
		if (r < 0)
			return r;
	}
	return (sys_result)(start - placement->extent_start);
}

/* Where the vDSO block waits while the loader places the images: in the
 * loader's own part of the address space, between its image and the plan,
 * out of the way of mmap's top-down choice. */
#define VDSO_ASIDE_ADDRESS 0x200080000000ull

static uint64_t vdso_block_length(void) {
	const struct fl_vdso_part *last = &spec->vdso_parts[spec->vdso_part_count - 1];
	return last->offset + last->length;
}

/* Move the first `count` mappings of the vDSO block from one place to
 * another, each at its offset: one mremap each, as a mapping may not be
 * moved in part. Returns how many moved. */
static uint64_t move_vdso_parts(uint64_t from, uint64_t to, uint64_t count, sys_result *error) {
	for (uint64_t i = 0; i < count; i++) {
		const struct fl_vdso_part *part = &spec->vdso_parts[i];
		sys_result r = sys_mremap(from + part->offset, part->length, part->length, MREMAP_MAYMOVE | MREMAP_FIXED,
					  to + part->offset);
		if (r < 0) {
			*error = r;
			return i;
		}
	}
	return count;
}

/*
 * The kernel maps a program's vDSO (arch_setup_additional_pages) after its
 * images, where mmap's top-down choice puts it then: just below the
 * interpreter, or below a static-pie program. For the loader it had nothing
 * else to map, so the vDSO took the top of the mmap area, and images the
 * loader placed there would land one vDSO lower than natively. So the block
 * is set aside first, and put back where the kernel would have mapped it
 * once the images are placed (checkpoint/restore tools move it the same
 * way: the kernel follows a moved vDSO). Returns whether it was set aside:
 * a kernel that seals its system mappings refuses, and the vDSO then stays.
 */
static int set_vdso_aside(void) {
	if (spec->vdso_part_count == 0 || spec->vdso_part_count > FL_VDSO_PARTS || spec->vdso_offset > vdso_address)
		return 0;
	uint64_t length = vdso_block_length();
	sys_result aside = sys_mmap(VDSO_ASIDE_ADDRESS, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (aside < 0)
		return 0;
	if ((uint64_t)aside != VDSO_ASIDE_ADDRESS) {
		/* A kernel that took MAP_FIXED_NOREPLACE for a hint. */
		sys_result r = sys_munmap((uint64_t)aside, length);
		if (r < 0)
			fail(FL_STAGE_PLACING, r, (uint64_t)aside);
		return 0;
	}
	uint64_t block = vdso_address - spec->vdso_offset;
	sys_result error = 0;
	uint64_t moved = move_vdso_parts(block, VDSO_ASIDE_ADDRESS, spec->vdso_part_count, &error);
	if (moved == spec->vdso_part_count)
		return 1;
	/* Refused: what moved goes back, the rest of the reservation goes. */
	sys_result ignored = 0;
	if (move_vdso_parts(VDSO_ASIDE_ADDRESS, block, moved, &ignored) != moved)
		fail(FL_STAGE_PLACING, ignored, vdso_address);
	for (uint64_t i = moved; i < spec->vdso_part_count; i++) {
		sys_result r = sys_munmap(VDSO_ASIDE_ADDRESS + spec->vdso_parts[i].offset, spec->vdso_parts[i].length);
		if (r < 0)
			fail(FL_STAGE_PLACING, r, VDSO_ASIDE_ADDRESS);
	}
	return 0;
}

/* The vDSO block where mmap puts it now, below the images just placed. */
static void place_vdso(void) {
	uint64_t length = vdso_block_length();
	sys_result at = sys_mmap(0, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (at < 0)
		fail(FL_STAGE_PLACING, at, vdso_address);
	sys_result error = 0;
	if (move_vdso_parts(VDSO_ASIDE_ADDRESS, (uint64_t)at, spec->vdso_part_count, &error) != spec->vdso_part_count)
		fail(FL_STAGE_PLACING, error, (uint64_t)at);
	vdso_address = (uint64_t)at + spec->vdso_offset;
}

/*
 * Where things are, which only the loader can know: the top of its [stack]
 * (the kernel copies the executable's name first, one word below the top:
 * fs/exec.c, bprm->p), its vDSO, and the images the kernel places. Then
 * every relative word of the plan is made final, and the regions sorted by
 * their final addresses, as the fault handler and Bun's server look them up.
 */
static void find_bases(void) {
	begin(FL_STAGE_PLACING);
	uint64_t stack_top = (uint64_t)exec_name + string_length(exec_name) + 1 + sizeof(uint64_t);
	if (stack_top & (FL_PAGE_SIZE - 1))
		fail(FL_STAGE_PLACING, -EINVAL, stack_top);
	bases[FL_BASE_STACK] = stack_top - FL_NOMINAL_STACK_TOP;
	int vdso_aside = set_vdso_aside();
	const struct fl_placement *placements[] = { [FL_BASE_PROGRAM] = &spec->program, [FL_BASE_INTERPRETER] = &spec->interpreter };
	for (int base = FL_BASE_PROGRAM; base <= FL_BASE_INTERPRETER; base++) {
		if (!placements[base]->by_kernel)
			continue;
		sys_result bias = reserve_image(placements[base]);
		if (bias < 0 && bias > -SYS_MAX_ERRNO)
			fail(FL_STAGE_PLACING, bias, (uint64_t)base);
		bases[base] = (uint64_t)bias;
	}
	if (vdso_aside)
		place_vdso();
	bases[FL_BASE_VDSO] = vdso_address;
	const struct fl_relocation *relocations =
		(const struct fl_relocation *)((const char *)spec + spec->relocation_offset);
	for (uint64_t i = 0; i < spec->relocation_count; i++) {
		if (relocations[i].base >= FL_BASE_COUNT || relocations[i].offset + sizeof(uint64_t) > spec_mapped_length)
			fail(FL_STAGE_PLACING, -EINVAL, i);
		uint64_t *word = (uint64_t *)((char *)spec + relocations[i].offset);
		*word += bases[relocations[i].base];
	}
	for (int base = 0; base < FL_BASE_COUNT; base++)
		spec->status.bases[base] = bases[base];
	/* Insertion sort: a handful of regions, nearly sorted already. */
	struct fl_region *regions = (struct fl_region *)((char *)spec + spec->region_offset);
	for (uint64_t i = 1; i < spec->region_count; i++) {
		struct fl_region moving = regions[i];
		uint64_t j = i;
		for (; j > 0 && regions[j - 1].start > moving.start; j--)
			regions[j] = regions[j - 1];
		regions[j] = moving;
	}
}

/* The parts of each reservation no region of its image took: the kernel
 * maps an image's whole extent, then unmaps what its segments do not cover
 * (elf_map's total_size), and so does the loader. */
static void release_reservations(void) {
	const struct fl_placement *placements[] = { [FL_BASE_PROGRAM] = &spec->program, [FL_BASE_INTERPRETER] = &spec->interpreter };
	const struct fl_region *regions = fl_regions(spec);
	for (int base = FL_BASE_PROGRAM; base <= FL_BASE_INTERPRETER; base++) {
		const struct fl_placement *placement = placements[base];
		if (!placement->by_kernel)
			continue;
		uint64_t cursor = placement->extent_start + bases[base];
		uint64_t end = cursor + placement->extent_size;
		for (uint64_t i = 0; i <= spec->region_count; i++) {
			int last = i == spec->region_count;
			if (!last && regions[i].base != (uint64_t)base)
				continue;
			uint64_t gap_end = last ? end : regions[i].start;
			if (gap_end > cursor) {
				sys_result r = sys_munmap(cursor, gap_end - cursor);
				if (r < 0)
					fail(FL_STAGE_PLACING, r, cursor);
			}
			if (!last && regions[i].start + regions[i].length > cursor)
				cursor = regions[i].start + regions[i].length;
		}
	}
}

/* Hexadecimal digits of a 64-bit word, at most. */
#define HEX_DIGITS_MAX 16
/* "0x", the digits and the line's newline: what a line adds to its text. */
#define START_LINE_ADDED (2 + HEX_DIGITS_MAX + 1)

/* `value` as the mapping log writes an address ("0x1f", no leading zeros)
 * at `out`; returns the bytes written. */
static uint64_t put_hex(char *out, uint64_t value) {
	char digits[HEX_DIGITS_MAX];
	uint64_t n = 0;
	do {
		digits[n++] = "0123456789abcdef"[value & 0xf];
		value >>= 4;
	} while (value);
	out[0] = '0';
	out[1] = 'x';
	for (uint64_t i = 0; i < n; i++)
		out[2 + i] = digits[n - 1 - i];
	return 2 + n;
}

/* Whether [offset, offset + length) lies in the plan. */
static int in_plan(uint64_t offset, uint64_t length) {
	return offset <= spec_mapped_length && length <= spec_mapped_length - offset;
}

/* Write the formatted lines, all of them unless the log cannot take them:
 * the log is advice, and the program runs whatever becomes of it. A log
 * whose reader has gone (EPIPE) raises SIGPIPE, which would stay pending
 * for the program to die of once its mask is set: it is blocked while the
 * loader writes and taken back. */
static void write_log(const char *text, uint64_t length) {
	uint64_t pipe_signal = 1ull << (SIGPIPE - 1), mask, pending;
	if (sys_rt_sigprocmask(SIG_BLOCK, &pipe_signal, &mask, KERNEL_SIGSET_BYTES) < 0)
		return;
	/* One pending already is not the log's to take. */
	if (sys_call2(__NR_rt_sigpending, (long)&pending, KERNEL_SIGSET_BYTES) < 0)
		pending = pipe_signal;
	sys_result r = 0;
	for (uint64_t done = 0; done < length; done += (uint64_t)r) {
		r = sys_write((int)log_file, text + done, length - done);
		if (r == -EINTR)
			r = 0;
		else if (r <= 0)
			break;
	}
	struct kernel_timespec now = { 0, 0 };
	if (r == -EPIPE && !(pending & pipe_signal))
		(void)sys_call4(__NR_rt_sigtimedwait, (long)&pipe_signal, 0, (long)&now, KERNEL_SIGSET_BYTES);
	/* Putting back a mask that was in force cannot fail. */
	(void)sys_rt_sigprocmask(SIG_SETMASK, &mask, 0, KERNEL_SIGSET_BYTES);
}

/*
 * The start mappings, as the mapping log says them (the lines TypeScript
 * made, launch.ts startLines, each with its final address put in),
 * written to the log's descriptor, which is then closed: the program is
 * not to hold it. They come before anything the program says, and before
 * any demand-paged mapping's line, which Bun writes once the program runs.
 */
static void log_start_mappings(void) {
	if (log_file < 0)
		return;
	struct fl_start_line *lines = (struct fl_start_line *)((char *)spec + spec->start_line_offset);
	uint64_t count = spec->start_line_count;
	char *out = (char *)spec + spec->start_log_offset;
	if (count > spec_mapped_length / sizeof *lines || !in_plan(spec->start_line_offset, count * sizeof *lines) ||
	    !in_plan(spec->start_log_offset, spec->start_log_size) || spec->start_lines_sorted > count)
		fail(FL_STAGE_PLACING, -EINVAL, count);
	/* Insertion sort, as the regions were sorted. */
	for (uint64_t i = 1; i < spec->start_lines_sorted; i++) {
		struct fl_start_line moving = lines[i];
		uint64_t j = i;
		for (; j > 0 && lines[j - 1].address > moving.address; j--)
			lines[j] = lines[j - 1];
		lines[j] = moving;
	}
	uint64_t used = 0;
	for (uint64_t i = 0; i < count; i++) {
		const struct fl_start_line *line = &lines[i];
		if (!in_plan(line->text_offset, line->text_length) || line->head_length > line->text_length ||
		    line->text_length + START_LINE_ADDED > spec->start_log_size - used)
			fail(FL_STAGE_PLACING, -EINVAL, i);
		const char *text = (const char *)spec + line->text_offset;
		bytes_copy(out + used, text, line->head_length);
		used += line->head_length;
		used += put_hex(out + used, line->address);
		bytes_copy(out + used, text + line->head_length, line->text_length - line->head_length);
		used += line->text_length - line->head_length;
		out[used++] = '\n';
	}
	write_log(out, used);
	sys_result r = sys_close((int)log_file);
	log_file = -1;
	if (r < 0)
		fail(FL_STAGE_CLOSE_FILES, r, FL_PLAN_LOG);
}

/* Tell Bun the program is mapped (the bases are in the plan's status, the
 * start mappings logged); wait for its go when the plan says so (--gdb
 * attaches first; --prefetch's end look holds the program's memory). */
static void report_placed(void) {
	struct fl_placed placed = { .magic = FL_PLACED_MAGIC };
	send_message(&placed, sizeof placed);
	if (!spec->wait_for_go)
		return;
	struct fl_go go;
	sys_result n = sys_read(control_fd, &go, sizeof go);
	if (n != (sys_result)sizeof go || go.magic != FL_GO_MAGIC)
		sys_exit_group(FL_EXIT_ABANDONED);
}

/*
 * The stack image (strings, random bytes, argc, argv, envp, auxv) goes to
 * the top of the kernel's own [stack], where the loader's arguments were:
 * the program gets the kernel's mapping, its growth, guard gap and name.
 * Then the mapping is grown down to stack_low, as setup_arg_pages grows a
 * new program's stack by 128 KiB (a read there does it).
 */
static void place_stack(void) {
	begin(FL_STAGE_STACK);
	bytes_copy((void *)(spec->stack_top - spec->stack_image_size),
		   (const char *)spec + spec->stack_image_offset, spec->stack_image_size);
	volatile const char *low = (volatile const char *)spec->stack_low;
	(void)*low;
}

/*
 * The [stack]'s protection as setup_arg_pages gives the program's: the
 * loader's own has the flags of the loader's PT_GNU_STACK (not executable),
 * so a program whose PT_GNU_STACK asks for an executable stack (a GCC
 * trampoline, old assembly) gets it here. PROT_GROWSDOWN extends the change
 * to the mapping's start, wherever it has grown, and keeps it one mapping,
 * whose later growth inherits the protection.
 */
static void protect_stack(void) {
	begin(FL_STAGE_STACK);
	if (!(spec->stack_prot & PROT_EXEC))
		return;
	sys_result r = sys_mprotect(spec->stack_top - FL_PAGE_SIZE, FL_PAGE_SIZE, (int)spec->stack_prot | PROT_GROWSDOWN);
	if (r < 0)
		fail(FL_STAGE_STACK, r, spec->stack_top);
}

/* personality(2)'s flag under which every readable mapping is executable,
 * and the query that changes nothing. */
#define PERSONALITY_READ_IMPLIES_EXEC 0x0400000
#define PERSONALITY_QUERY 0xffffffffUL

/* READ_IMPLIES_EXEC where binfmt_elf would set it (kernels before 5.8, a
 * PT_GNU_STACK missing or executable), before the program's first mapping:
 * the kernel sets it before it maps the segments, so they, and every
 * readable mapping the program makes, are executable too. */
static void take_personality(void) {
	begin(FL_STAGE_PLACING);
	if (!spec->read_implies_exec)
		return;
	sys_result current = sys_personality(PERSONALITY_QUERY);
	if (current < 0)
		fail(FL_STAGE_PLACING, current, 0);
	sys_result r = sys_personality((unsigned long)current | PERSONALITY_READ_IMPLIES_EXEC);
	if (r < 0)
		fail(FL_STAGE_PLACING, r, 0);
}

/*
 * /proc/self/exe can name the program's file only once no mapping of the
 * loader's own file is left (the kernel refuses with EBUSY otherwise). Each
 * of the loader's segments is written to a memfd and the memfd mapped over
 * the segment, the code doing it included, which goes on running from the
 * same bytes. One mmap per segment: copying into anonymous memory instead
 * takes a fault per page, an mprotect and an mremap, and every change to the
 * page tables costs a TLB flush, which dominates the loader's start on a
 * machine where a flush is expensive (a paravirtualized guest: 1.1 ms there
 * against 0.45 ms this way).
 */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
#define LOADER_COPY_NAME "faultline-loader"

/* Write length bytes at address into fd at offset, however many writes it
 * takes. */
static sys_result write_all_at(int fd, uint64_t address, uint64_t length, uint64_t offset) {
	for (uint64_t done = 0; done < length;) {
		sys_result n = sys_pwrite(fd, (const void *)(address + done), length - done, offset + done);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

static sys_result remap_segments(int copy) {
	const struct elf_header *elf = (const struct elf_header *)__ehdr_start;
	const struct elf_program_header *headers =
		(const struct elf_program_header *)(__ehdr_start + elf->program_header_offset);
	uint64_t offset = 0;
	for (uint16_t i = 0; i < elf->program_header_count; i++) {
		const struct elf_program_header *h = &headers[i];
		if (h->type != ELF_PT_LOAD || h->file_size == 0)
			continue;
		/* Only the pages that come from the file: the rest of a
		 * segment's memory is anonymous already. */
		uint64_t start = fl_page_down(h->virtual_address);
		uint64_t length = fl_page_down(h->virtual_address + h->file_size + FL_PAGE_SIZE - 1) - start;
		int prot = (h->flags & ELF_PF_R ? PROT_READ : 0) | (h->flags & ELF_PF_W ? PROT_WRITE : 0) |
			   (h->flags & ELF_PF_X ? PROT_EXEC : 0);
		sys_result r = write_all_at(copy, start, length, offset);
		if (r < 0)
			return r;
		r = sys_mmap(start, length, prot, MAP_PRIVATE | MAP_FIXED, copy, offset);
		if (r < 0)
			return r;
		offset += length;
	}
	return 0;
}

static sys_result become_anonymous(void) {
	sys_result copy = sys_memfd_create(LOADER_COPY_NAME, MFD_CLOEXEC);
	if (copy < 0)
		return copy;
	sys_result r = remap_segments((int)copy);
	sys_result closed = sys_close((int)copy);
	return r < 0 ? r : closed < 0 ? closed : 0;
}

#define CAPABILITY_SYS_RESOURCE 24
#define CAPABILITY_CHECKPOINT_RESTORE 40

static int has_capability(const struct capability_data *data, int capability) {
	return (data[capability / 32].effective >> (capability % 32)) & 1;
}

/* Whether the kernel lets this process name another file /proc/self/exe. */
static int may_replace_exe(void) {
	struct capability_header header = { .version = CAPABILITY_VERSION_3, .pid = 0 };
	struct capability_data data[CAPABILITY_WORDS];
	bytes_zero(data, sizeof data);
	if (sys_call2(__NR_capget, (long)&header, (long)data) < 0)
		return 0;
	return has_capability(data, CAPABILITY_SYS_RESOURCE) || has_capability(data, CAPABILITY_CHECKPOINT_RESTORE);
}

/* The loader's own segments are anonymous already (done while Bun plans,
 * when the loader may name the program /proc/self/exe), or the errno of
 * making them so. */
static int loader_anonymous;
static sys_result anonymous_error;

/* The name ps and /proc/self/comm show, and the memory layout the kernel
 * reports in /proc/self/{stat,cmdline,environ,auxv,exe} and uses for brk. */
static void describe_process(void) {
	begin(FL_STAGE_PROCESS_NAME);
	sys_result r = sys_prctl(PR_SET_NAME, (long)spec->process_name, 0, 0, 0);
	if (r < 0)
		fail(FL_STAGE_PROCESS_NAME, r, 0);
	if (!spec->mm_map_offset)
		return;
	struct fl_mm_map *map = (struct fl_mm_map *)((char *)spec + spec->mm_map_offset);
	map->exe_fd = (uint32_t)-1;
	if (spec->replace_exe && loader_anonymous) {
		/* Naming the program's file needs CAP_SYS_RESOURCE (or
		 * CAP_CHECKPOINT_RESTORE), which TypeScript saw this process has. */
		begin(FL_STAGE_EXECUTABLE);
		map->exe_fd = (uint32_t)program_files[FL_FILE_PROGRAM];
		r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (long)map, sizeof *map, 0);
		if (r == -EPERM || r == -EACCES || r == -EBUSY) {
			spec->status.exe_error = (uint64_t)-r;
			map->exe_fd = (uint32_t)-1;
		} else if (r < 0) {
			spec->status.mm_map_error = (uint64_t)-r;
			return;
		} else {
			return;
		}
	} else {
		spec->status.exe_error = anonymous_error < 0 ? (uint64_t)-anonymous_error : EPERM;
	}
	r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (long)map, sizeof *map, 0);
	if (r < 0)
		spec->status.mm_map_error = (uint64_t)-r;
}

static void close_program_files(void) {
	begin(FL_STAGE_CLOSE_FILES);
	int64_t *files[] = { program_files, copy_files };
	for (unsigned kind = 0; kind < sizeof files / sizeof files[0]; kind++) {
		for (int i = 0; i < FL_FILE_COUNT; i++) {
			if (files[kind][i] < 0)
				continue;
			sys_result r = sys_close((int)files[kind][i]);
			if (r < 0)
				fail(FL_STAGE_CLOSE_FILES, r, (uint64_t)i);
		}
	}
}

/* dpager and hpager: the fault handler and its stack, or userfaultfd (its
 * descriptor goes to Bun over the control socket). */
static void start_paging(void) {
	begin(FL_STAGE_PAGING);
	/* Nothing to page: apager, or an hpager program whose bss fits in the
	 * last page of its data. */
	if (spec->policy == FL_POLICY_EAGER || spec->demand_pages == 0)
		return;
	sys_result r = fl_paging_start(spec, control_fd, spec_fd);
	if (r < 0)
		fail(FL_STAGE_PAGING, r, spec->entry);
}

/* --friendly: genuine faults end with a message and a diagnosis. */
static void start_friendly(void) {
	begin(FL_STAGE_FRIENDLY);
	if (!spec->friendly_seed)
		return;
	sys_result r = fl_friendly_start(spec);
	if (r < 0)
		fail(FL_STAGE_FRIENDLY, r, 0);
}

/* execve keeps the interval timers (alarm(2) among them); the caller's were
 * taken from the pager (src/loader/caller.ts) and are armed here, last, so they
 * count from the program's start. */
static void arm_interval_timers(void) {
	begin(FL_STAGE_INTERVAL_TIMERS);
	if (!spec->timers_set)
		return;
	for (int which = 0; which < FL_INTERVAL_TIMERS; which++) {
		const struct fl_interval_timer *t = &spec->timers[which];
		if (t->value_seconds == 0 && t->value_micros == 0)
			continue;
		struct kernel_itimerval timer = {
			.interval_seconds = (int64_t)t->interval_seconds,
			.interval_micros = (int64_t)t->interval_micros,
			.value_seconds = (int64_t)t->value_seconds,
			.value_micros = (int64_t)t->value_micros,
		};
		sys_result r = sys_setitimer(which, &timer, 0);
		if (r < 0)
			fail(FL_STAGE_INTERVAL_TIMERS, r, (uint64_t)which);
	}
}

/* CPUID leaf 1, ECX: OSXSAVE (bit 27) and AVX (bit 28) together mean the
 * upper halves of the vector registers exist and can be cleared. */
#define CPUID_FEATURES_LEAF 1
#define CPUID_ECX_OSXSAVE (1u << 27)
#define CPUID_ECX_AVX (1u << 28)

static uint64_t cpu_has_avx(void) {
	uint32_t eax = CPUID_FEATURES_LEAF, ebx, ecx = 0, edx;
	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	uint32_t wanted = CPUID_ECX_OSXSAVE | CPUID_ECX_AVX;
	return (ecx & wanted) == wanted;
}

/*
 * The loader's work, on its own stack. `initial` is where the kernel left
 * the stack pointer: argc, argv (argv[1]: the control socket's number),
 * the empty environment and the auxiliary vector. All of it is overwritten
 * by the program's stack image.
 */
/* The program's signal mask, set just before the jump: until then every
 * signal stays blocked, as Bun spawned the loader. */
static uint64_t program_mask;

/* As execve's flush_signal_handlers, with the caller's ignored set (the
 * handlers are gone already, with execve): every signal ignored or at its
 * default, as the program is to find it. Done while Bun plans. */
static void set_dispositions(uint64_t ignored) {
	for (int sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		int ignore = (ignored & (1ull << (sig - 1))) != 0;
		struct kernel_sigaction old;
		sys_result r = sys_rt_sigaction(sig, 0, &old, KERNEL_SIGSET_BYTES);
		if (r >= 0 && (old.handler == HANDLER_IGNORE) == ignore)
			continue;
		struct kernel_sigaction fresh = { .handler = ignore ? HANDLER_IGNORE : HANDLER_DEFAULT };
		if (r >= 0)
			r = sys_rt_sigaction(sig, &fresh, 0, KERNEL_SIGSET_BYTES);
		if (r < 0)
			sys_exit_group(FL_EXIT_LOAD_FAILED);
	}
}

static void set_signal_mask(void) {
	begin(FL_STAGE_SIGNAL_MASK);
	sys_result r = sys_rt_sigprocmask(SIG_SETMASK, &program_mask, 0, KERNEL_SIGSET_BYTES);
	if (r < 0)
		fail(FL_STAGE_SIGNAL_MASK, r, 0);
}

/*
 * The loader's arguments, read before it clones (the clone shares this
 * memory): as Bun starts it, its name, then a control socket's number, the
 * ignored signals and the mask, in decimal. As the installed command's
 * client: `faultline PAGER ...` (client.c). Anything else is a program run
 * by a pager that re-executes itself through /proc/self/exe (node's
 * child_process.fork, perl's $^X), which names the loader where the pager
 * may not name the program: the user's service runs it again if it ran it
 * (client.c fl_client_again); else, or for somebody running the loader by
 * hand, one line, and the loader ends with the shells' "cannot execute"
 * before it clones (the clone's end would be nobody's to see; its parent's
 * would be a success).
 */
#define SOCKET_LEVEL 1     /* SOL_SOCKET */
#define SOCKET_TYPE_OPTION 3 /* SO_TYPE */

static uint64_t ignored_at_start;

/* Whether word names a pager: the loader runs as the installed command's
 * client, `faultline PAGER ...`. */
static int names_pager(const char *word) {
	static const char *const pagers[] = { "apager", "dpager", "hpager" };
	for (unsigned i = 0; i < sizeof pagers / sizeof pagers[0]; i++) {
		const char *p = pagers[i];
		uint64_t j = 0;
		while (p[j] && word[j] == p[j])
			j++;
		if (!p[j] && !word[j])
			return 1;
	}
	return 0;
}

/* Whether path's last component is the installed command's name. */
static int names_command(const char *path) {
	static const char command[] = "faultline";
	const char *name = path;
	for (const char *p = path; *p; p++)
		if (*p == '/')
			name = p + 1;
	uint64_t i = 0;
	while (command[i] && name[i] == command[i])
		i++;
	return !command[i] && !name[i];
}

/* The auxiliary vector on the initial stack: after argc, argv, its NULL,
 * the environment and its NULL. */
static const uint64_t *auxv_of(const uint64_t *initial) {
	const uint64_t *p = initial + 1 + initial[0] + 1;
	while (*p)
		p++;
	return p + 1;
}

/* 0: spawned by Bun (the loader clones itself first); 1: the command's
 * client, which is already the process the program must be. */
int __attribute__((used)) fl_loader_invocation(const uint64_t *initial) {
	uint64_t argc = initial[0];
	const char *const *argv = (const char *const *)(initial + 1);
	if (argc >= 2 && argv[1] && names_pager(argv[1])) {
		client_mode = 1;
		return 1;
	}
	/* Installed as the `faultline` command itself (src/shim/shim-build.ts
	 * links it so): its other commands are Bun's. */
	if (argc >= 1 && argv[0] && names_command(argv[0]))
		fl_client_other_command(argc, argv, (const char *const *)(initial + 1 + argc + 1));
	uint64_t control = 0;
	int type = 0;
	uint32_t length = sizeof type;
	if (argc == LOADER_ARGC && parse_decimal(argv[1], &control) && parse_decimal(argv[2], &ignored_at_start) &&
	    parse_decimal(argv[3], &program_mask) && control <= INT32_MAX &&
	    sys_call5(__NR_getsockopt, (long)control, SOCKET_LEVEL, SOCKET_TYPE_OPTION, (long)&type, (long)&length) >= 0) {
		control_fd = (int)control;
		return 0;
	}
	/* A program the user's service ran, run again through /proc/self/exe:
	 * the service runs it as the kernel would have. */
	int again = fl_client_again(argc, argv, (const char *const *)(initial + 1 + argc + 1), auxv_of(initial));
	if (again < 0)
		fl_client_not_ours();
	client_mode = 1;
	control_fd = again;
	return 1;
}

void __attribute__((noreturn, used)) fl_loader_main(const uint64_t *initial) {
	/* The arguments were read by fl_loader_invocation. */
	uint64_t argc = initial[0];
	const uint64_t *auxv = initial + 1 + argc + 1;
	while (*auxv)
		auxv++; /* past the (empty) environment */
	for (auxv++; auxv[0] != AT_NULL_TYPE; auxv += 2) {
		if (auxv[0] == AT_SYSINFO_EHDR_TYPE)
			vdso_address = auxv[1];
		else if (auxv[0] == AT_EXECFN_TYPE)
			exec_name = (const char *)auxv[1];
	}
	if (!exec_name)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	if (client_mode) {
		/* execve left the caller's dispositions and mask as the program
		 * is to find them; the service reads the rest from /proc. */
		const char *const *envp = (const char *const *)(initial + 1 + argc + 1);
		if (sys_rt_sigprocmask(SIG_BLOCK, 0, &program_mask, KERNEL_SIGSET_BYTES) < 0)
			sys_exit_group(FL_EXIT_LOAD_FAILED);
		/* Run again through /proc/self/exe, it is connected already. */
		if (control_fd < 0)
			control_fd = fl_client_start(argc, (const char *const *)(initial + 1), envp, auxv_of(initial));
	} else {
		say_hello();
		set_dispositions(ignored_at_start);
	}
	/* While Bun plans: only without a mapping of the loader's file can the
	 * program's be named /proc/self/exe. */
	if (may_replace_exe()) {
		anonymous_error = become_anonymous();
		loader_anonymous = anonymous_error == 0;
	}
	receive_plan();
	take_personality();
	find_bases();
	for (uint64_t i = 0; i < spec->region_count; i++)
		map_region(i);
	release_reservations();
	place_stack();
	protect_stack();
	describe_process();
	close_program_files();
	log_start_mappings();
	report_placed();
	start_paging();
	start_friendly();
	set_signal_mask();
	arm_interval_timers();

	spec->status.stage = FL_STAGE_LAUNCHED;
	spec->status.launched = 1;
	/* The program holds none of the loader's descriptors, nor the plan:
	 * SIGSEGV paging keeps only the ring window (paging/event-ring.c), which Bun reads
	 * as untrusted. */
	sys_close(control_fd);
	sys_close(spec_fd);
	fl_enter_program(spec->initial_sp, spec->entry, (uint64_t)spec, spec_mapped_length,
			 FL_LOADER_STACK_ADDRESS, FL_LOADER_STACK_BYTES, cpu_has_avx());
}

/*
 * _start: the kernel leaves the loader here, as a child of Bun's that Bun
 * spawned with vfork (fl_loader_invocation first reads its arguments and
 * ends any other start), whose resource usage the kernel has merged with all
 * of Bun's memory (an exec records the old address space's peak RSS in the
 * process). The program must have its own: so the loader clones itself
 * (CLONE_PARENT: the clone is Bun's child too; CLONE_VM: nothing is copied)
 * and the original exits at once, touching no memory. The clone maps a
 * stack of its own at its fixed place below the loader (the plan keeps
 * clear of it, and the top of the mmap area stays free for the images the
 * kernel places) and runs fl_loader_main on it.
 */
#define LOADER_CLONE_FLAGS (CLONE_VM | CLONE_PARENT | SIGCHLD)
__asm__(".text\n"
	".globl _start\n"
	".type _start,@function\n"
	"_start:\n"
	"	mov %rsp, %r12\n"
	"	mov %rsp, %rdi\n"
	"	call fl_loader_invocation\n"
	"	test %eax, %eax\n"
	"	jnz 2f\n"
	"	mov $" FL_STR(LOADER_CLONE_FLAGS) ", %edi\n"
	"	xor %esi, %esi\n"
	"	xor %edx, %edx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	mov $" FL_STR(__NR_clone) ", %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 2f\n"
	"	js 9f\n"
	"	xor %edi, %edi\n"
	"	mov $" FL_STR(__NR_exit) ", %eax\n"
	"	syscall\n"
	"2:\n"
	"	movabs $" FL_STR(FL_LOADER_STACK_ADDRESS) ", %rdi\n"
	"	mov $" FL_STR(FL_LOADER_STACK_BYTES) ", %esi\n"
	"	mov $" FL_STR(PROT_READ | PROT_WRITE) ", %edx\n"
	"	mov $" FL_STR(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE) ", %r10d\n"
	"	mov $-1, %r8\n"
	"	xor %r9d, %r9d\n"
	"	mov $" FL_STR(__NR_mmap) ", %eax\n"
	"	syscall\n"
	"	cmp %rdi, %rax\n"
	"	jne 9f\n"
	"	lea " FL_STR(FL_LOADER_STACK_BYTES) "(%rax), %rsp\n"
	"	mov %r12, %rdi\n"
	"	xor %ebp, %ebp\n"
	"	call fl_loader_main\n"
	"	ud2\n"
	"9:\n"
	"	mov $" FL_STR(FL_EXIT_LOAD_FAILED) ", %edi\n"
	"	mov $" FL_STR(__NR_exit_group) ", %eax\n"
	"	syscall\n"
	"	ud2\n"
	".size _start, .-_start\n");

/*
 * fl_enter_program(sp, entry, spec_start, spec_length, stack_start,
 * stack_length, clear_avx): the jump. Unmaps the plan (when its length is
 * not 0) and the loader's own stack, which it stops using first, so it uses
 * no memory but the program's stack. Leaves the registers as the kernel's
 * start_thread does: all zero but rsp (at argc), rdx zero (no exit function
 * for the program to register), FPU and SSE state at their defaults, flags
 * 0x202, fs base 0.
 */
/* MXCSR and x87 control word after reset (all exceptions masked). */
#define MXCSR_DEFAULT 0x1f80
/* RFLAGS at program start: IF and the always-one bit 1. */
#define RFLAGS_AT_START 0x202
__asm__(".text\n"
	".globl fl_enter_program\n"
	".type fl_enter_program,@function\n"
	"fl_enter_program:\n"
	"	mov %rdi, %r12\n"
	"	mov %rsi, %r13\n"
	"	mov 8(%rsp), %r14\n" /* clear_avx, the seventh argument */
	"	mov %r8, %r15\n"
	"	mov %r12, %rsp\n"
	"	test %rcx, %rcx\n"
	"	jz 1f\n"
	"	mov $" FL_STR(__NR_munmap) ", %eax\n"
	"	mov %rdx, %rdi\n"
	"	mov %rcx, %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"1:\n"
	"	mov $" FL_STR(__NR_munmap) ", %eax\n"
	"	mov %r15, %rdi\n"
	"	mov %r9, %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov $" FL_STR(__NR_arch_prctl) ", %eax\n"
	"	mov $" FL_STR(ARCH_SET_FS) ", %edi\n"
	"	xor %esi, %esi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	push %r13\n"
	"	fninit\n"
	"	pushq $" FL_STR(MXCSR_DEFAULT) "\n"
	"	ldmxcsr (%rsp)\n"
	"	movq $0, (%rsp)\n"
	"	add $8, %rsp\n"
	"	test %r14, %r14\n"
	"	jz 2f\n"
	"	vzeroall\n"
	"	jmp 3f\n"
	"2:\n"
	"	pxor %xmm0, %xmm0\n	pxor %xmm1, %xmm1\n	pxor %xmm2, %xmm2\n	pxor %xmm3, %xmm3\n"
	"	pxor %xmm4, %xmm4\n	pxor %xmm5, %xmm5\n	pxor %xmm6, %xmm6\n	pxor %xmm7, %xmm7\n"
	"	pxor %xmm8, %xmm8\n	pxor %xmm9, %xmm9\n	pxor %xmm10, %xmm10\n	pxor %xmm11, %xmm11\n"
	"	pxor %xmm12, %xmm12\n	pxor %xmm13, %xmm13\n	pxor %xmm14, %xmm14\n	pxor %xmm15, %xmm15\n"
	"3:\n"
	"	xor %eax, %eax\n	xor %ebx, %ebx\n	xor %ecx, %ecx\n	xor %edx, %edx\n"
	"	xor %esi, %esi\n	xor %edi, %edi\n	xor %ebp, %ebp\n"
	"	xor %r8d, %r8d\n	xor %r9d, %r9d\n	xor %r10d, %r10d\n	xor %r11d, %r11d\n"
	"	xor %r12d, %r12d\n	xor %r13d, %r13d\n	xor %r14d, %r14d\n	xor %r15d, %r15d\n"
	"	pushq $" FL_STR(RFLAGS_AT_START) "\n"
	"	popfq\n"
	"	ret\n"
	"9:\n"
	"	mov $" FL_STR(__NR_exit_group) ", %eax\n"
	"	mov $" FL_STR(FL_EXIT_LOAD_FAILED) ", %edi\n"
	"	syscall\n"
	"	ud2\n"
	".size fl_enter_program, .-fl_enter_program\n");
