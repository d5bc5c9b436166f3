/*
 * spawn.c — the child's side of spawning the loader: what posix_spawn's
 * child does, for the program's process state rather than a file action
 * list. It runs in a vfork-style clone of the Bun process (CLONE_VM |
 * CLONE_VFORK, on a stack of its own), so it shares all of Bun's memory
 * while Bun's thread waits: freestanding, raw system calls only, no errno,
 * no libc, nothing that could touch Bun's state. It never returns: it
 * executes the loader, or records why it could not and exits.
 *
 * In order: the handed descriptors at their numbers and everything else
 * close-on-exec, the open-files limit, the working directory, and execve.
 * Every signal stays blocked throughout (the parent blocked them all), so
 * no handler of Bun's can run here; execve resets the handlers, and the
 * loader sets the program's dispositions and mask (it is told them in its
 * arguments), off Bun's critical path.
 */
#include <linux/close_range.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/resource.h>
#include <signal.h>

#include "common/kernel.h"
#include "loader/spawn.h"
#include "common/sys.h"

/* Exit status of a child that could not execute the loader (the shells'
 * "not found"); the parent reads the errno from the request. */
#define SPAWN_EXIT_FAILED 127
/* The first descriptor a program may be handed besides 0-2. */
#define FIRST_HANDED_DESCRIPTOR 3
#define DIRENT_BATCH_BYTES 2048

static const char fd_dir_path[] = "/proc/self/fd";

struct linux_dirent64 {
	uint64_t ino;
	int64_t off;
	uint16_t reclen;
	uint8_t type;
	char name[];
};

static __attribute__((noreturn)) void fail(struct fl_spawn_request *request, sys_result error) {
	request->error = -error;
	sys_exit_group(SPAWN_EXIT_FAILED);
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

/* Mark every descriptor from FIRST_HANDED_DESCRIPTOR on close-on-exec, one
 * by one: for kernels without close_range's CLOSE_RANGE_CLOEXEC (5.11). */
static void close_on_exec_each(struct fl_spawn_request *request) {
	sys_result dir = sys_openat(AT_FDCWD, fd_dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		fail(request, dir);
	char batch[DIRENT_BATCH_BYTES];
	for (;;) {
		sys_result n = sys_getdents64((int)dir, batch, sizeof batch);
		if (n < 0)
			fail(request, n);
		if (n == 0)
			break;
		for (long at = 0; at < n;) {
			struct linux_dirent64 *entry = (struct linux_dirent64 *)(batch + at);
			at += entry->reclen;
			long fd = parse_decimal(entry->name);
			if (fd < FIRST_HANDED_DESCRIPTOR || fd == dir)
				continue;
			sys_result r = sys_fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			if (r < 0)
				fail(request, r);
		}
	}
	sys_result r = sys_close((int)dir);
	if (r < 0)
		fail(request, r);
}

/*
 * Leave the loader (and so the program) exactly the handed descriptors, at
 * their numbers, without close-on-exec; and the control socket at its
 * number. First every source not at its number is copied above all the
 * numbers in play, so no copy lands on one still needed; then everything is
 * marked close-on-exec (Bun's own descriptors, the copies); then each goes
 * to its number (dup2 clears the mark) or has the mark cleared in place.
 */
static void hand_over_descriptors(struct fl_spawn_request *request) {
	struct fl_spawn_descriptor *d = request->descriptors;
	long floor = request->control_target + 1;
	if ((long)request->control_source >= floor)
		floor = (long)request->control_source + 1;
	for (uint64_t i = 0; i < request->descriptor_count; i++) {
		if ((long)d[i].source >= floor)
			floor = (long)d[i].source + 1;
		if ((long)d[i].target >= floor)
			floor = (long)d[i].target + 1;
	}
	for (uint64_t i = 0; i < request->descriptor_count; i++) {
		if (d[i].source == d[i].target)
			continue;
		sys_result copy = sys_fcntl((int)d[i].source, F_DUPFD_CLOEXEC, floor);
		if (copy < 0)
			fail(request, copy);
		d[i].moved = (uint64_t)copy;
	}
	sys_result control = sys_fcntl((int)request->control_source, F_DUPFD_CLOEXEC, floor);
	if (control < 0)
		fail(request, control);
	sys_result r = sys_close_range(FIRST_HANDED_DESCRIPTOR, ~0u, CLOSE_RANGE_CLOEXEC);
	if (r == -EINVAL)
		close_on_exec_each(request);
	else if (r < 0)
		fail(request, r);
	for (uint64_t i = 0; i < request->descriptor_count; i++) {
		if (d[i].source == d[i].target)
			r = sys_fcntl((int)d[i].target, F_SETFD, 0);
		else
			r = sys_dup2((int)d[i].moved, (int)d[i].target);
		if (r < 0)
			fail(request, r);
	}
	r = sys_dup2((int)control, (int)request->control_target);
	if (r < 0)
		fail(request, r);
}

int fl_spawn_child(void *argument) {
	struct fl_spawn_request *request = argument;
	hand_over_descriptors(request);
	if (request->open_files_set) {
		struct kernel_rlimit limit;
		sys_result r = sys_prlimit64(0, RLIMIT_NOFILE, 0, &limit);
		if (r >= 0) {
			limit.soft = request->open_files_soft;
			r = sys_prlimit64(0, RLIMIT_NOFILE, &limit, 0);
		}
		if (r < 0)
			fail(request, r);
	}
	if (request->cwd) {
		sys_result r = sys_chdir(request->cwd);
		if (r < 0)
			fail(request, r);
	}
	static const char *const no_environment[] = { 0 };
	sys_result r = sys_execve(request->loader, request->argv, no_environment);
	fail(request, r);
}
