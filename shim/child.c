/*
 * child.c — what the forked child does between the fork and the program's
 * first instruction. Freestanding: by the time most of this runs, libc and
 * the rest of Bun are gone from the address space.
 *
 * The steps mirror what execve does to a process's user-visible state:
 *   switch to a kept stack, unregister rseq, drop the alternate signal
 *   stack, reset signal dispositions, leave the caller's descriptors and
 *   close the rest, unmap everything not kept, map the plan, map the stack
 *   and copy its image, name the process, describe the new memory layout to
 *   the kernel, then give back what the caller handed over and a fork does
 *   not keep (open-files limit, signal mask, interval timers), and jump.
 * Any failure is recorded in the spec's shared status and ends the child
 * before the jump; the parent turns it into one line of explanation.
 */
#include <asm/prctl.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/rseq.h>
#include <signal.h>

#include "child.h"
#include "fault.h"
#include "kernel.h"
#include "launch.h"
#include "sys.h"

/* Exit status of a child that failed before the jump (the shells' "found
 * but cannot execute"); the parent reads the shared status for the cause. */
#define FL_EXIT_LOAD_FAILED 126


/* /proc/self/clear_refs: "5" resets the peak resident set size to the
 * current one (Documentation/filesystems/proc.rst). */
static const char rss_reset_path[] = "/proc/self/clear_refs";
static const char rss_reset_command[] = "5";
static const char fd_dir_path[] = "/proc/self/fd";

/* Buffer for one getdents64 batch, on the child's stack. */
#define DIRENT_BATCH_BYTES 2048

struct linux_dirent64 {
	uint64_t ino;
	int64_t off;
	uint16_t reclen;
	uint8_t type;
	char name[];
};

static __attribute__((noreturn)) void fail(struct fl_launch_spec *spec, enum fl_stage stage,
					   sys_result error, uint64_t detail) {
	spec->status.stage = stage;
	spec->status.error = (uint64_t)-error;
	spec->status.detail = detail;
	sys_exit_group(FL_EXIT_LOAD_FAILED);
}

static void begin(struct fl_launch_spec *spec, enum fl_stage stage) {
	spec->status.stage = stage;
}

/* glibc registered an rseq area for the forking thread inside memory the
 * cleanup unmaps; the kernel would kill the child (SIGSEGV, SI_KERNEL) the
 * next time it updates the area. The parent found the area and its length. */
static void unregister_rseq(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_RSEQ);
	if (spec->rseq_area == 0)
		return;
	sys_result r = sys_rseq(spec->rseq_area, (uint32_t)spec->rseq_length,
				RSEQ_FLAG_UNREGISTER, (uint32_t)spec->rseq_signature);
	if (r < 0)
		fail(spec, FL_STAGE_RSEQ, r, spec->rseq_length);
}

/* execve leaves no alternate signal stack (the kernel's
 * `sas_ss_reset`); Bun's, set on the forking thread, points into memory
 * the cleanup unmaps, where a handler installed with SA_ONSTACK would run. */
static void disable_alternate_stack(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_ALTERNATE_STACK);
	struct kernel_stack off = { .sp = 0, .flags = SS_DISABLE, .size = 0 };
	sys_result r = sys_sigaltstack(&off, 0);
	if (r < 0)
		fail(spec, FL_STAGE_ALTERNATE_STACK, r, 0);
}

/* As execve's flush_signal_handlers: caught signals return to the default
 * action, ignored ones stay ignored, flags and masks are cleared. Which are
 * ignored is the caller's hand-over (src/caller.ts), not Bun's choice: Bun
 * ignores SIGPIPE and SIGXFSZ for itself and handles others. */
static void reset_signal_dispositions(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_SIGNALS);
	for (int sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		int ignored = (spec->signals_ignored & (1ull << (sig - 1))) != 0;
		struct kernel_sigaction fresh = {
			.handler = ignored ? HANDLER_IGNORE : HANDLER_DEFAULT,
		};
		sys_result r = sys_rt_sigaction(sig, &fresh, 0, KERNEL_SIGSET_BYTES);
		if (r < 0)
			fail(spec, FL_STAGE_SIGNALS, r, (uint64_t)sig);
	}
}

/* The program's files as the child has them once hand_over_descriptors has
 * moved them out of the way: the child's own copy, since the spec is shared
 * with the parent, whose fault server reads the files by the spec's numbers. */
static int64_t program_files[FL_FILE_COUNT];

static struct fl_descriptor *descriptors_of(struct fl_launch_spec *spec) {
	return (struct fl_descriptor *)((char *)spec + spec->descriptor_offset);
}

static long parse_decimal(const char *s) {
	long value = 0;
	if (*s == 0)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		value = value * 10 + (*s - '0');
	}
	return value;
}

/* Is fd one the child must keep through the close-everything-else pass:
 * a descriptor already at its target, a moved copy, or a program file? */
static int is_kept_descriptor(struct fl_launch_spec *spec, long fd) {
	const struct fl_descriptor *d = descriptors_of(spec);
	for (uint64_t i = 0; i < spec->descriptor_count; i++)
		if ((long)d[i].source == fd)
			return 1;
	for (int i = 0; i < FL_FILE_COUNT; i++)
		if (program_files[i] == fd)
			return 1;
	return 0;
}

/* Close every descriptor that is not kept: Bun's own (its event loop, the
 * files it has open), which execve would close as close-on-exec. */
static void close_unkept_descriptors(struct fl_launch_spec *spec) {
	sys_result dir = sys_openat(AT_FDCWD, fd_dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		fail(spec, FL_STAGE_DESCRIPTORS, dir, 0);
	char batch[DIRENT_BATCH_BYTES];
	for (;;) {
		sys_result n = sys_getdents64((int)dir, batch, sizeof batch);
		if (n < 0)
			fail(spec, FL_STAGE_DESCRIPTORS, n, 0);
		if (n == 0)
			break;
		for (long at = 0; at < n;) {
			struct linux_dirent64 *entry = (struct linux_dirent64 *)(batch + at);
			at += entry->reclen;
			long fd = parse_decimal(entry->name);
			if (fd < 0 || fd == dir || is_kept_descriptor(spec, fd))
				continue;
			sys_result r = sys_close((int)fd);
			if (r < 0)
				fail(spec, FL_STAGE_DESCRIPTORS, r, (uint64_t)fd);
		}
	}
	sys_result r = sys_close((int)dir);
	if (r < 0)
		fail(spec, FL_STAGE_DESCRIPTORS, r, (uint64_t)dir);
}

/* A close-on-exec copy of fd numbered `floor` or above. */
static long move_above(struct fl_launch_spec *spec, long fd, long floor) {
	sys_result copy = sys_fcntl((int)fd, F_DUPFD_CLOEXEC, floor);
	if (copy < 0)
		fail(spec, FL_STAGE_DESCRIPTORS, copy, (uint64_t)fd);
	return copy;
}

/*
 * Leave the program exactly the descriptors the caller handed over, at
 * their numbers and without close-on-exec (Bun marks the ones it inherited
 * close-on-exec; some come from `bun run`'s process and sit elsewhere
 * here), as execve's do_close_on_exec would have: first every source and
 * program file is moved above all the numbers in play, so no copy lands on
 * a descriptor still needed; then everything else is closed; then each
 * copy goes to its number. The program's files stay open, close-on-exec,
 * until the plan is mapped.
 */
static void hand_over_descriptors(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_DESCRIPTORS);
	struct fl_descriptor *d = descriptors_of(spec);
	long floor = 0;
	for (uint64_t i = 0; i < spec->descriptor_count; i++) {
		if ((long)d[i].source >= floor)
			floor = (long)d[i].source + 1;
		if ((long)d[i].target >= floor)
			floor = (long)d[i].target + 1;
	}
	for (int i = 0; i < FL_FILE_COUNT; i++)
		if (spec->files[i] >= floor)
			floor = spec->files[i] + 1;
	for (uint64_t i = 0; i < spec->descriptor_count; i++)
		if (d[i].source != d[i].target)
			d[i].source = (uint64_t)move_above(spec, (long)d[i].source, floor);
	for (int i = 0; i < FL_FILE_COUNT; i++)
		program_files[i] = spec->files[i] >= 0 ? move_above(spec, spec->files[i], floor) : -1;
	close_unkept_descriptors(spec);
	for (uint64_t i = 0; i < spec->descriptor_count; i++) {
		if (d[i].source == d[i].target) {
			sys_result r = sys_fcntl((int)d[i].target, F_SETFD, 0);
			if (r < 0)
				fail(spec, FL_STAGE_DESCRIPTORS, r, d[i].target);
			continue;
		}
		/* dup2 leaves the new descriptor without close-on-exec. */
		sys_result r = sys_dup2((int)d[i].source, (int)d[i].target);
		if (r < 0)
			fail(spec, FL_STAGE_DESCRIPTORS, r, d[i].target);
		r = sys_close((int)d[i].source);
		if (r < 0)
			fail(spec, FL_STAGE_DESCRIPTORS, r, d[i].source);
	}
}

/* Remove every mapping below address_limit that is not in a kept range (sorted,
 * disjoint). munmap over a hole is not an error, so the gaps between kept
 * ranges are unmapped whole. */
static void unmap_all_but_kept(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_UNMAP);
	const struct fl_range *kept =
		(const struct fl_range *)((const char *)spec + spec->kept_offset);
	uint64_t cursor = 0;
	for (uint64_t i = 0; i <= spec->kept_count; i++) {
		uint64_t gap_end = i < spec->kept_count ? kept[i].start : spec->address_limit;
		if (gap_end > cursor) {
			sys_result r = sys_munmap(cursor, gap_end - cursor);
			if (r < 0)
				fail(spec, FL_STAGE_UNMAP, r, cursor);
		}
		if (i < spec->kept_count && kept[i].end > cursor)
			cursor = kept[i].end;
	}
}

/* The peak RSS the parent reads from wait4 would otherwise include all of
 * Bun's memory, shared with the child at the fork. Not fatal: the status
 * says whether it worked and the report says so. */
static void reset_peak_rss(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_RSS_RESET);
	if (!spec->rss_reset)
		return;
	sys_result fd = sys_openat(AT_FDCWD, rss_reset_path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		spec->status.rss_reset_error = (uint64_t)-fd;
		return;
	}
	sys_result w = sys_write((int)fd, rss_reset_command, sizeof rss_reset_command - 1);
	if (w < 0)
		spec->status.rss_reset_error = (uint64_t)-w;
	sys_result r = sys_close((int)fd);
	if (r < 0)
		fail(spec, FL_STAGE_RSS_RESET, r, (uint64_t)fd);
}

/* Map one region exactly where the plan says. MAP_FIXED_NOREPLACE makes the
 * kernel refuse rather than replace anything already there (the shim, the
 * spec, the vDSO); a kernel too old to know the flag treats the address as a
 * hint, which the address check catches. */
static void map_region(struct fl_launch_spec *spec, uint64_t index) {
	const struct fl_region *region =
		(const struct fl_region *)((const char *)spec + spec->region_offset) + index;
	int anonymous = region->offset == FL_ANONYMOUS;
	int demand = (region->flags & FL_REGION_DEMAND) != 0;
	int flags = MAP_PRIVATE | MAP_FIXED_NOREPLACE;
	if (anonymous)
		flags |= MAP_ANONYMOUS;
	if (region->flags & FL_REGION_POPULATE)
		flags |= MAP_POPULATE;
	/* A demand region is reserved: with a SIGSEGV handler, inaccessible and
	 * backed by the file, its pages given the region's protection when first
	 * touched; with userfaultfd, as anonymous memory with the region's
	 * protection, its pages filled by the parent on first touch. */
	int by_userfaultfd = demand && spec->mechanism == FL_MECHANISM_USERFAULTFD;
	if (by_userfaultfd) {
		anonymous = 1;
		flags |= MAP_ANONYMOUS;
	}
	int prot = demand && !by_userfaultfd ? PROT_NONE : (int)region->prot;
	int zero_tail = region->zero_from && !demand;
	int map_prot = zero_tail ? prot | PROT_WRITE : prot;
	int fd = anonymous ? -1 : (int)program_files[region->file];

	begin(spec, FL_STAGE_MAP_REGION);
	sys_result at = sys_mmap(region->start, region->length, map_prot, flags, fd,
				 anonymous ? 0 : region->offset);
	if (at < 0)
		fail(spec, FL_STAGE_MAP_REGION, at, index);
	if ((uint64_t)at != region->start) {
		sys_munmap((uint64_t)at, region->length);
		fail(spec, FL_STAGE_MAP_REGION, -EEXIST, index);
	}
	if (!zero_tail)
		return;
	/* The file's bytes past the segment's end share the last page with the
	 * start of the bss; they must read as zeros (the kernel's padzero). */
	begin(spec, FL_STAGE_ZERO_TAIL);
	uint64_t end = region->start + region->length;
	bytes_zero((void *)region->zero_from, end - region->zero_from);
	if (map_prot != prot) {
		begin(spec, FL_STAGE_PROTECT);
		sys_result r = sys_mprotect(region->start, region->length, prot);
		if (r < 0)
			fail(spec, FL_STAGE_PROTECT, r, index);
	}
}

/* The stack grows down like the kernel's (MAP_GROWSDOWN, limited by
 * RLIMIT_STACK); its image (strings, random bytes, argc, argv, envp, auxv) is
 * copied to the top. */
static void map_stack(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_MAP_STACK);
	uint64_t length = spec->stack_end - spec->stack_start;
	sys_result at = sys_mmap(spec->stack_start, length, (int)spec->stack_prot,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_GROWSDOWN,
				 -1, 0);
	if (at < 0)
		fail(spec, FL_STAGE_MAP_STACK, at, spec->stack_start);
	if ((uint64_t)at != spec->stack_start) {
		sys_munmap((uint64_t)at, length);
		fail(spec, FL_STAGE_MAP_STACK, -EEXIST, spec->stack_start);
	}
	bytes_copy((void *)(spec->stack_end - spec->stack_image_size),
		   (const char *)spec + spec->stack_image_offset, spec->stack_image_size);
}

/* The name ps and /proc/self/comm show, and the memory layout the kernel
 * reports in /proc/self/{stat,cmdline,environ,auxv,exe} and uses for brk. */
static void describe_process(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_PROCESS_NAME);
	sys_result r = sys_prctl(PR_SET_NAME, (long)spec->process_name, 0, 0, 0);
	if (r < 0)
		fail(spec, FL_STAGE_PROCESS_NAME, r, 0);
	if (!spec->mm_map_offset)
		return;
	struct fl_mm_map *map = (struct fl_mm_map *)((char *)spec + spec->mm_map_offset);
	/* Replacing /proc/self/exe needs CAP_SYS_RESOURCE (or
	 * CAP_CHECKPOINT_RESTORE); the rest of the map does not. The kernel
	 * also refuses (EBUSY) while the old executable is still mapped, which
	 * after the cleanup means the program is Bun's own executable: then
	 * /proc/self/exe is already right. */
	map->exe_fd = (uint32_t)program_files[FL_FILE_PROGRAM];
	r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (long)map, sizeof *map, 0);
	if (r == -EPERM || r == -EACCES || r == -EBUSY) {
		spec->status.exe_error = (uint64_t)-r;
		map->exe_fd = (uint32_t)-1;
		r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (long)map, sizeof *map, 0);
	}
	if (r < 0)
		spec->status.mm_map_error = (uint64_t)-r;
}

static void close_program_files(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_CLOSE_FILES);
	for (int i = 0; i < FL_FILE_COUNT; i++) {
		if (program_files[i] < 0)
			continue;
		sys_result r = sys_close((int)program_files[i]);
		if (r < 0)
			fail(spec, FL_STAGE_CLOSE_FILES, r, (uint64_t)i);
	}
}

/* dpager and hpager: the fault handler, its stack, and (dpager) the entry
 * point's page. */
static void start_paging(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_PAGING);
	/* Nothing to page: apager, or an hpager program whose bss fits in the
	 * last page of its data. */
	if (spec->policy == FL_POLICY_EAGER || spec->demand_pages == 0)
		return;
	sys_result r = fl_paging_start(spec);
	if (r < 0)
		fail(spec, FL_STAGE_PAGING, r, spec->entry);
}

/* --friendly: genuine faults end with a message and a diagnosis. */
static void start_friendly(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_FRIENDLY);
	if (!spec->friendly_seed)
		return;
	sys_result r = fl_friendly_start(spec);
	if (r < 0)
		fail(spec, FL_STAGE_FRIENDLY, r, 0);
}

/* RLIMIT_NOFILE, as the caller had it: Bun raised the soft limit to the
 * hard one for itself. The other limits Bun leaves alone. */
static void set_open_files_limit(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_OPEN_FILES_LIMIT);
	if (!spec->open_files_set)
		return;
	struct kernel_rlimit limit;
	sys_result r = sys_prlimit64(0, RLIMIT_NOFILE, 0, &limit);
	if (r < 0)
		fail(spec, FL_STAGE_OPEN_FILES_LIMIT, r, 0);
	limit.soft = spec->open_files_soft;
	r = sys_prlimit64(0, RLIMIT_NOFILE, &limit, 0);
	if (r < 0)
		fail(spec, FL_STAGE_OPEN_FILES_LIMIT, r, spec->open_files_soft);
}

/* execve keeps the signal mask. */
static void set_signal_mask(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_SIGNAL_MASK);
	sys_result r = sys_rt_sigprocmask(SIG_SETMASK, &spec->signal_mask, 0, KERNEL_SIGSET_BYTES);
	if (r < 0)
		fail(spec, FL_STAGE_SIGNAL_MASK, r, 0);
}

/* execve keeps the interval timers (alarm(2) among them); a fork does not,
 * so the ones the caller armed were taken from the pager and are armed
 * here, last, so they count from the program's start. */
static void arm_interval_timers(struct fl_launch_spec *spec) {
	begin(spec, FL_STAGE_INTERVAL_TIMERS);
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
			fail(spec, FL_STAGE_INTERVAL_TIMERS, r, (uint64_t)which);
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

void __attribute__((noreturn, used, visibility("hidden"))) fl_child_main(struct fl_launch_spec *spec) {
	unregister_rseq(spec);
	disable_alternate_stack(spec);
	reset_signal_dispositions(spec);
	hand_over_descriptors(spec);
	unmap_all_but_kept(spec);
	reset_peak_rss(spec);
	for (uint64_t i = 0; i < spec->region_count; i++)
		map_region(spec, i);
	map_stack(spec);
	describe_process(spec);
	close_program_files(spec);
	start_paging(spec);
	start_friendly(spec);
	set_open_files_limit(spec);
	set_signal_mask(spec);
	arm_interval_timers(spec);

	spec->status.stage = FL_STAGE_LAUNCHED;
	spec->status.launched = 1;
	uint64_t unmap_start = spec->unmap_spec_at_jump ? (uint64_t)spec : 0;
	uint64_t unmap_length = spec->unmap_spec_at_jump ? spec->spec_length : 0;
	fl_enter_program(spec->initial_sp, spec->entry, unmap_start, unmap_length, cpu_has_avx());
}

/*
 * fl_clone_child(spec, stack_top): fork (a raw clone with SIGCHLD) with the
 * child already on the kept stack, so it never touches the parent's stack,
 * which the fork did not even copy (see fl_launch). Returns the child's pid
 * or a negative errno in the parent; the child runs fl_child_main.
 */
__asm__(".text\n"
	".globl fl_clone_child\n"
	".hidden fl_clone_child\n"
	".type fl_clone_child,@function\n"
	"fl_clone_child:\n"
	"	mov %rdi, %r9\n"
	"	mov $" FL_STR(SIGCHLD) ", %edi\n"
	"	xor %edx, %edx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	mov $" FL_STR(__NR_clone) ", %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov %r9, %rdi\n"
	"	xor %ebp, %ebp\n"
	"	call fl_child_main\n"
	"	ud2\n"
	"1:\n"
	"	ret\n"
	".size fl_clone_child, .-fl_clone_child\n");

/*
 * fl_enter_program(sp, entry, unmap_start, unmap_length, clear_avx): the jump.
 * Uses no memory but the program's stack once the spec is unmapped. Leaves the
 * registers as the kernel's start_thread does: all zero but rsp (at argc),
 * rdx zero (no exit function for the program to register), FPU and SSE state
 * at their defaults, flags 0x202, fs base 0.
 */
/* MXCSR and x87 control word after reset (all exceptions masked). */
#define MXCSR_DEFAULT 0x1f80
/* RFLAGS at program start: IF and the always-one bit 1. */
#define RFLAGS_AT_START 0x202
__asm__(".text\n"
	".globl fl_enter_program\n"
	".hidden fl_enter_program\n"
	".type fl_enter_program,@function\n"
	"fl_enter_program:\n"
	"	mov %rdi, %r12\n"
	"	mov %rsi, %r13\n"
	"	mov %r8, %r14\n"
	"	test %rcx, %rcx\n"
	"	jz 1f\n"
	"	mov $" FL_STR(__NR_munmap) ", %eax\n"
	"	mov %rdx, %rdi\n"
	"	mov %rcx, %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"1:\n"
	"	mov $" FL_STR(__NR_arch_prctl) ", %eax\n"
	"	mov $" FL_STR(ARCH_SET_FS) ", %edi\n"
	"	xor %esi, %esi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov %r12, %rsp\n"
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
