/*
 * launch.c — the Bun-side half of a launch: the plan's memory, spawning the
 * loader (shim/loader/loader.c) and sending it its plan, waiting for the program
 * without blocking JavaScript, and ending the way it did.
 *
 * These functions run in the Bun process and may use libc. The one exception
 * is the vfork child's side of fl_spawn_loader, the freestanding
 * fl_spawn_child in spawn.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <time.h>

#include "paging/events.h"
#include "paging/pin.h"
#include "paging/regions.h"
#include "paging/serve.h"
#include "loader/spawn.h"
#include "common/threads.h"
#include "launch.h"
#include "common/sys.h"

/* The plan's memory: a memfd Bun writes the plan into and maps shared, so
 * the status the loader (and, under SIGSEGV paging, the fault handler)
 * writes there can be read here. out[0] the descriptor (close-on-exec),
 * out[1] the address. Returns 0 or a negative errno. */
FL_EXPORT int64_t fl_spec_memory(uint64_t length, int64_t *out) {
	int fd = (int)syscall(SYS_memfd_create, "faultline-plan", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)length) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	void *at = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (at == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	out[0] = fd;
	out[1] = (int64_t)(uintptr_t)at;
	return 0;
}

FL_EXPORT int64_t fl_spec_memory_free(int64_t fd, uint64_t address, uint64_t length) {
	int unmapped = munmap((void *)(uintptr_t)address, length) == 0 ? 0 : -errno;
	int closed = close((int)fd) == 0 ? 0 : -errno;
	return unmapped ? unmapped : closed;
}

/* The stack the vfork child runs on while Bun's thread waits. */
#define SPAWN_STACK_BYTES (64 * 1024)
/* Room for the control socket's number in the loader's argv[1]. */
#define DECIMAL_BYTES 24

/*
 * Spawn the loader in the program's place, as posix_spawn would: a
 * vfork-style clone (CLONE_VM | CLONE_VFORK: nothing of Bun's is copied,
 * Bun's thread waits until the child has executed the loader) whose child
 * (shim/loader/spawn.c) sets up the program's descriptors, limits and working
 * directory and executes the loader, which starts with a fresh address
 * space and none of Bun's threads, and every signal blocked: it sets the
 * program's dispositions and mask itself, from its arguments (argv: the
 * control socket's number, the ignored signals, the mask). The control
 * socket's other end is returned in request->control, the loader's pid in
 * request->pid. Returns 0 or a negative errno (the child's, when it could
 * not execute the loader).
 */
FL_EXPORT int64_t fl_spawn_loader(struct fl_spawn_request *request) {
	int sockets[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0)
		return -errno;
	char number[DECIMAL_BYTES], ignored[DECIMAL_BYTES], mask[DECIMAL_BYTES];
	snprintf(number, sizeof number, "%llu", (unsigned long long)request->control_target);
	snprintf(ignored, sizeof ignored, "%llu", (unsigned long long)request->signals_ignored);
	snprintf(mask, sizeof mask, "%llu", (unsigned long long)request->signal_mask);
	const char *argv[] = { FL_LOADER_NAME, number, ignored, mask, NULL };
	request->argv = argv;
	request->control_source = (uint64_t)sockets[1];
	request->error = 0;
	void *stack = mmap(NULL, SPAWN_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		int e = errno;
		close(sockets[0]);
		close(sockets[1]);
		return -e;
	}
	sigset_t all, previous;
	sigfillset(&all);
	int e = pthread_sigmask(SIG_BLOCK, &all, &previous);
	pid_t pid = -1;
	if (e == 0) {
		pid = clone(fl_spawn_child, (char *)stack + SPAWN_STACK_BYTES, CLONE_VM | CLONE_VFORK | SIGCHLD, request);
		if (pid < 0)
			e = errno;
		/* Restoring a mask the call above returned cannot fail. */
		(void)pthread_sigmask(SIG_SETMASK, &previous, NULL);
	}
	munmap(stack, SPAWN_STACK_BYTES);
	close(sockets[1]);
	request->argv = NULL;
	if (pid > 0 && request->error != 0) {
		/* The child exited without executing the loader. */
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		e = (int)request->error;
		pid = -1;
	}
	if (pid < 0) {
		close(sockets[0]);
		return -(e ? e : EAGAIN);
	}
	request->pid = pid;
	request->control = sockets[0];
	return 0;
}

/* This thread's signal mask (bit sig - 1), which a spawned program gets. */
FL_EXPORT uint64_t fl_signal_mask(void) {
	sigset_t mask;
	uint64_t bits = 0;
	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) != 0)
		return 0;
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(&mask, sig) == 1)
			bits |= 1ull << (sig - 1);
	return bits;
}

_Static_assert(FL_PLAN_CONTROL_BYTES == CMSG_SPACE(FL_PLAN_FILES * sizeof(int)), "launch.h's FL_PLAN_CONTROL_BYTES is CMSG_SPACE of the plan's descriptors");

/* Send the loader its plan: where to map the plan's memfd, and the
 * descriptors (enum fl_plan_file order: the plan's memfd, the program, the
 * interpreter, their image copies, the mapping log; -1: none), those
 * present as SCM_RIGHTS and named in the delivery's file_mask. Returns
 * when it was sent, CLOCK_MONOTONIC in nanoseconds (the run's clock starts
 * then: the program may run at once), or a negative errno (EPIPE: the
 * loader is gone). */
FL_EXPORT int64_t fl_send_plan(int64_t control, uint64_t spec_address, uint64_t spec_length, const int64_t *files) {
	int fds[FL_PLAN_FILES];
	int count = 0;
	uint64_t mask = 0;
	for (int i = 0; i < FL_PLAN_FILES; i++) {
		if (files[i] < 0)
			continue;
		fds[count++] = (int)files[i];
		mask |= 1ull << i;
	}
	struct fl_plan_delivery delivery = {
		.magic = FL_PLAN_MAGIC,
		.spec_address = spec_address,
		.spec_length = spec_length,
		.file_mask = mask,
	};
	union {
		char bytes[FL_PLAN_CONTROL_BYTES];
		struct cmsghdr align;
	} control_bytes;
	memset(&control_bytes, 0, sizeof control_bytes);
	struct iovec iov = { .iov_base = &delivery, .iov_len = sizeof delivery };
	struct msghdr message = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control_bytes.bytes,
		.msg_controllen = CMSG_SPACE(count * sizeof(int)),
	};
	struct cmsghdr *header = CMSG_FIRSTHDR(&message);
	header->cmsg_level = SOL_SOCKET;
	header->cmsg_type = SCM_RIGHTS;
	header->cmsg_len = CMSG_LEN(count * sizeof(int));
	memcpy(CMSG_DATA(header), fds, count * sizeof(int));
	uint64_t sent_at = fl_monotonic_now();
	ssize_t sent;
	do
		sent = sendmsg((int)control, &message, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	return sent < 0 ? -errno : (int64_t)sent_at;
}

/* Wait for pid, retrying interrupted waits. */
static pid_t reap(pid_t pid, int *status, struct rusage *usage) {
	pid_t r;
	do
		r = wait4(pid, status, 0, usage);
	while (r < 0 && errno == EINTR);
	return r;
}

/* A launch that will not go on (the program cannot be run after all): hang
 * up on the loader, which then exits, and reap it and the process that was
 * to become the program, which is Bun's child too; its pid comes in the
 * loader's hello when not known yet. */
FL_EXPORT int64_t fl_abandon_loader(int64_t loader_pid, int64_t program_pid, int64_t control) {
	if (program_pid <= 0) {
		struct fl_hello hello;
		ssize_t n;
		do
			n = recv((int)control, &hello, sizeof hello, 0);
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof hello && hello.magic == FL_HELLO_MAGIC)
			program_pid = (int64_t)hello.pid;
	}
	int e = close((int)control) == 0 ? 0 : errno;
	int status;
	if (reap((pid_t)loader_pid, &status, NULL) < 0 && !e)
		e = errno;
	if (program_pid > 0 && reap((pid_t)program_pid, &status, NULL) < 0 && !e)
		e = errno;
	return -e;
}

struct waiter {
	pid_t loader_pid; /* the loader as spawned, gone once it has cloned */
	int control;      /* the control socket, closed once the program ends */
	int notify_fd;
	int notify_started; /* JavaScript wants the program's pid as soon as it exists */
	pid_t program_pid; /* from the hello, when it was read before (a prestarted loader) */
	struct fl_launch_spec *spec;
	struct paged_run *paged; /* a demand-paged run's, before a thread of its own watches it */
	pthread_t paging_thread; /* the fault server or the ring's drainer */
	int paging_thread_running;
	int event_fd; /* the live event pipe's write end (closed at the end), or -1 */
	/* Not 0: once the program is placed, hold its memory by the byte this
	 * far above the stack's base and open its pagemap (the end look). */
	uint64_t pin_offset;
	/* Send the loader its go here once placed, without a trip through
	 * JavaScript (which then owes none: it logs nothing first). */
	int sends_go;
	/* A program that is not Bun's child (the installed command's client,
	 * served by the user's service): a pidfd to learn its end by, with no
	 * status to reap; -1 for Bun's own children. */
	int program_pidfd;
	/* Tell JavaScript the program is placed even when the loader waits
	 * for no go (it makes onMapping's start events from the bases). */
	int notify_placed;
};

/* Tell the thread that logs (or serves) the program's faults that the
 * program is gone: through the ring's futex, or the server's eventfd. */
static void stop_paging_thread(struct paged_run *run) {
	__atomic_store_n(&run->child_done, 1, __ATOMIC_SEQ_CST);
	if (run->done_fd >= 0) {
		uint64_t one = 1;
		/* An eventfd write of 8 bytes only fails on overflow, which one
		 * write cannot cause; the server also rechecks child_done. */
		(void)write(run->done_fd, &one, sizeof one);
	} else {
		struct fl_ring *ring = (struct fl_ring *)((char *)run->spec + run->spec->ring_offset);
		__atomic_fetch_add(&ring->head_wake, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &ring->head_wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

static void notify(struct waiter *w, const struct fl_notice *notice) {
	const char *bytes = (const char *)notice;
	size_t left = sizeof *notice;
	while (left > 0) {
		/* No SIGPIPE if JavaScript has closed its end. */
		ssize_t n = send(w->notify_fd, bytes, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		bytes += n;
		left -= (size_t)n;
	}
}

/* The next message on the control socket (at most two words) into
 * message: its magic, or 0 when the loader has hung up; and a descriptor it
 * carries (-1: none). */
static uint64_t receive(int control, uint64_t message[2], int *fd) {
	message[0] = message[1] = 0;
	union {
		char bytes[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ancillary;
	struct iovec iov = { .iov_base = message, .iov_len = 2 * sizeof(uint64_t) };
	struct msghdr header = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ancillary.bytes,
		.msg_controllen = sizeof ancillary.bytes,
	};
	ssize_t n;
	do
		n = recvmsg(control, &header, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	struct cmsghdr *carried = n > 0 ? CMSG_FIRSTHDR(&header) : NULL;
	if (carried && carried->cmsg_level == SOL_SOCKET && carried->cmsg_type == SCM_RIGHTS &&
	    carried->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(carried), sizeof *fd);
	return n >= (ssize_t)sizeof(uint64_t) ? message[0] : 0;
}

/* Start the thread that serves (userfaultfd) or logs (SIGSEGV ring) the
 * program's faults. A program whose faults nobody would serve must not run
 * on: it would wait for ever, or run on zeros. */
static void start_paging_thread(struct waiter *w, int uffd) {
	struct paged_run *run = w->paged;
	int serving = uffd >= 0;
	run->uffd = uffd;
	run->done_fd = serving ? eventfd(0, EFD_CLOEXEC) : -1;
	int e = serving && run->done_fd < 0 ? errno : 0;
	if (e == 0)
		e = fl_start_quiet_thread(&w->paging_thread, 0, serving ? fl_serve_faults : fl_drain_events, run);
	if (e == 0) {
		w->paging_thread_running = 1;
		return;
	}
	if (serving) {
		uint64_t none = 0;
		__atomic_compare_exchange_n(&w->spec->status.handler_error, &none, (uint64_t)e, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
		kill(run->pid, SIGKILL);
		close(uffd);
	}
}

FL_EXPORT int64_t fl_send_go(int64_t control);

/*
 * The end look's hold on the program's memory and its open pagemap, taken
 * while the program waits for its go (src/paging/end-look.ts says why both);
 * left at -1 in the notice when either cannot be had (no end look then).
 */
static void take_end_look(pid_t pid, uint64_t address, struct fl_notice *placed) {
	char path[sizeof "/proc//pagemap" + 3 * sizeof(pid_t)];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return;
	int64_t pin = fl_pin_start(pid, address);
	if (pin < 0) {
		close(pagemap);
		return;
	}
	placed->pin = pin;
	placed->pagemap_fd = pagemap;
}

/* PF_FORKNOEXEC (include/linux/sched.h): the kernel sets it in every task
 * fork or clone makes and clears it when the task completes an execve. The
 * program is the loader's clone and never exec'd, so it keeps the flag
 * until it calls execve itself. */
#define TASK_FORKED_NOT_EXECED 0x40UL
/* /proc/PID/stat's ninth field is the task's flags; the second, the
 * command name in parentheses, is the only one that may hold spaces. */
#define STAT_FLAGS_AFTER_COMM 7
#define STAT_BYTES 1024

/*
 * Whether the program, ended but not yet reaped, replaced itself by
 * execve: the flags of its task, still readable in its zombie (its memory
 * is gone by then, so its exe and cmdline are not), and the name it last
 * ran as. Nothing is told when any step fails: the run is as it was.
 */
static void note_exec(pid_t pid, struct fl_notice *ended) {
	siginfo_t info;
	int r;
	do
		r = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return;
	char path[sizeof "/proc//stat" + 3 * sizeof(pid_t)];
	char stat[STAT_BYTES];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, stat, sizeof stat - 1);
	close(fd);
	if (n <= 0)
		return;
	stat[n] = 0;
	char *field = strrchr(stat, ')');
	for (int i = 0; field && i < STAT_FLAGS_AFTER_COMM; i++)
		field = strchr(field + 1, ' ');
	if (!field)
		return;
	unsigned long flags = strtoul(field + 1, NULL, 10);
	if (flags & TASK_FORKED_NOT_EXECED)
		return;
	ended->execed = 1;
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, ended->exec_name, sizeof ended->exec_name - 1);
	close(fd);
	if (n > 0 && ended->exec_name[n - 1] == '\n')
		n--;
	ended->exec_name[n > 0 ? n : 0] = 0;
}

/*
 * The end of a program that is not Bun's child, which only the kernel can
 * reap. The loader hangs up just before the jump (or by dying before it:
 * the plan's status tells which); a failure it reports instead ends the wait
 * at once, as it waits for the service to say why. With faults to serve or
 * log, the wait goes on until the process has gone (its pidfd turns
 * readable).
 */
static void await_remote_end(struct waiter *w, int failed) {
	struct pollfd watch[2] = {
		{ .fd = w->program_pidfd, .events = POLLIN },
		{ .fd = w->control, .events = POLLIN },
	};
	int watching_control = 1;
	while (!failed) {
		if (!watching_control && !w->paging_thread_running)
			return;
		if (poll(watch, watching_control ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (watch[0].revents)
			return;
		if (watching_control && watch[1].revents) {
			uint64_t message[2];
			int fd;
			uint64_t magic = receive(w->control, message, &fd);
			if (fd >= 0)
				close(fd);
			if (magic == 0)
				watching_control = 0;
			failed = magic == FL_FAILED_MAGIC;
		}
	}
}

/*
 * The program placed (the loader's FL_PLACED): tell JavaScript when it
 * asked (onMapping's start events, or a go the loader waits for: --gdb,
 * --prefetch's trace), and start the fault server with the userfaultfd the
 * loader sends, or the ring's drainer. Returns whether the loader reported
 * a failure before the jump instead.
 */
static int serve_placed_program(struct waiter *w, pid_t pid) {
	struct fl_launch_spec *spec = w->spec;
	uint64_t message[2];
	int fd;
	int failed = 0;
	if (spec->wait_for_go || w->notify_placed) {
		struct fl_notice placed = { .kind = FL_NOTICE_PLACED, .pid = pid, .pin = -1, .pagemap_fd = -1 };
		if (w->pin_offset)
			take_end_look(pid, spec->status.bases[FL_BASE_STACK] + w->pin_offset, &placed);
		/* A go that cannot be sent: the loader is gone, and its end
		 * says why. */
		if (w->sends_go && spec->wait_for_go)
			(void)fl_send_go(w->control);
		notify(w, &placed);
	}
	if (!w->paged)
		return 0;
	w->paged->pid = pid;
	int uffd = -1;
	if (spec->mechanism == FL_MECHANISM_USERFAULTFD) {
		uint64_t magic = receive(w->control, message, &fd);
		if (magic == FL_UFFD_MAGIC)
			uffd = fd;
		else if (fd >= 0)
			close(fd);
		failed = magic == FL_FAILED_MAGIC;
	}
	/* No userfaultfd under userfaultfd paging: the loader failed before
	 * the jump; nothing to serve. */
	if (uffd >= 0 || spec->mechanism == FL_MECHANISM_SIGNAL)
		start_paging_thread(w, uffd);
	return failed;
}

/* Microseconds in a second: struct rusage's times are seconds and them. */
#define USEC_PER_SECOND 1000000

/* The figures of a reaped program's resource usage, into its end notice. */
static void note_usage(struct fl_notice *ended, const struct rusage *usage) {
	ended->max_rss_kib = usage->ru_maxrss;
	ended->user_usec = (int64_t)usage->ru_utime.tv_sec * USEC_PER_SECOND + usage->ru_utime.tv_usec;
	ended->system_usec = (int64_t)usage->ru_stime.tv_sec * USEC_PER_SECOND + usage->ru_stime.tv_usec;
	ended->voluntary_switches = usage->ru_nvcsw;
	ended->involuntary_switches = usage->ru_nivcsw;
	ended->in_blocks = usage->ru_inblock;
	ended->out_blocks = usage->ru_oublock;
	ended->messages_sent = usage->ru_msgsnd;
	ended->messages_received = usage->ru_msgrcv;
	ended->signals = usage->ru_nsignals;
	ended->swaps = usage->ru_nswap;
	ended->shared_kib = usage->ru_ixrss;
}

/*
 * Reap the loader as spawned, then the program (this process's children),
 * into the end notice. The loader exits as soon as it has cloned the
 * process that becomes the program: its figures include Bun's memory, not
 * the program's.
 */
static void reap_local_program(struct waiter *w, pid_t pid, struct fl_notice *ended) {
	int status = 0;
	struct rusage usage;
	if (reap(w->loader_pid, &status, NULL) < 0 && pid <= 0)
		ended->error = -errno;
	if (pid <= 0) {
		/* No hello: the loader ended before it cloned; its status
		 * tells. */
		ended->wait_status = status;
		return;
	}
	note_exec(pid, ended);
	if (reap(pid, &status, &usage) < 0) {
		ended->error = -errno;
		return;
	}
	ended->wait_status = status;
	note_usage(ended, &usage);
}

/* Stop the fault server or drainer, and note what it could not deliver. */
static void finish_paging(struct waiter *w, struct fl_notice *ended) {
	if (w->paging_thread_running) {
		/* A fault server may be running under SCHED_IDLE on one CPU,
		 * where it would wait behind anything else to see that it is
		 * done: the normal policy, any CPU, first. */
		if (w->paged->done_fd >= 0)
			fl_serve_normally(w->paging_thread);
		stop_paging_thread(w->paged);
		pthread_join(w->paging_thread, NULL);
	}
	ended->events_undelivered = (int64_t)w->paged->events_undelivered;
	ended->trace_error = w->paged->trace_error;
	fl_free_paged_run(w->paged);
}

/*
 * The waiter: learns the program's pid from the loader's hello and tells
 * JavaScript; waits for the loader to report the program placed (its start
 * mappings logged by the loader itself) and serves it (serve_placed_program);
 * reaps the loader as spawned and then the program, or waits for a program
 * that is not its child by its pidfd, and reports how it ended.
 */
static void *wait_for_program(void *arg) {
	struct waiter *w = arg;
	uint64_t message[2];
	int fd;
	pid_t pid = w->program_pid;
	if (pid <= 0 && receive(w->control, message, &fd) == FL_HELLO_MAGIC)
		pid = (pid_t)message[1];
	if (pid > 0 && w->notify_started) {
		struct fl_notice started = { .kind = FL_NOTICE_STARTED, .pid = pid };
		notify(w, &started);
	}
	/* The loader as the command's client reports a failure before the
	 * jump in place of the next message. */
	uint64_t first = pid > 0 ? receive(w->control, message, &fd) : 0;
	int failed = first == FL_FAILED_MAGIC;
	if (first == FL_PLACED_MAGIC)
		failed = serve_placed_program(w, pid);
	struct fl_notice ended = { .kind = FL_NOTICE_ENDED, .pid = pid };
	if (w->program_pidfd >= 0)
		await_remote_end(w, failed);
	else
		reap_local_program(w, pid, &ended);
	if (w->paged)
		finish_paging(w, &ended);
	/* No event can come any more: the reader sees the end of the pipe. */
	if (w->event_fd >= 0)
		close(w->event_fd);
	notify(w, &ended);
	close(w->notify_fd);
	close(w->control);
	free(w);
	return NULL;
}

/* Split "pager\0program\0interpreter\0" into the paged run's labels. */
static int read_labels(struct paged_run *run, const char *labels) {
	run->pager = strdup(labels);
	labels += strlen(labels) + 1;
	for (int i = 0; i < FL_FILE_COUNT; i++) {
		run->files[i] = *labels ? strdup(labels) : NULL;
		labels += strlen(labels) + 1;
	}
	return run->pager ? 0 : -ENOMEM;
}

/*
 * Start the waiter thread (wait_for_program) for a loader sent its plan: it
 * takes the control socket over (and closes it). The program's files (the
 * userfaultfd server reads pages from them; -1: none) and `labels` ("pager
 * \0program path\0interpreter path\0") are for the fault server or the
 * ring's drainer, which log on log_fd and trace on trace_fd (-1: not), and
 * deliver live events on event_fd (-1: none), a pipe's non-blocking write
 * end that the waiter takes over and closes once no event can come.
 * The started notice comes only when notify_started is not 0: reading a
 * notice wakes threads of Bun's while the loader works. program_pid is the
 * program-to-be's, when its hello was read already (a prestarted loader's:
 * shim/loader/prestart.c, or read by fl_loader_hello); 0 when not.
 * pin_offset, when not 0, has the waiter take the end look's hold once the
 * program is placed (at that offset above the stack's base; the placed
 * notice carries it); sends_go has it send the loader its go then, so
 * JavaScript owes none; notify_placed has it say the program is placed
 * even when the loader waits for no go (the program may be running by the
 * time JavaScript reads it). Event times count from start_ns
 * (CLOCK_MONOTONIC nanoseconds: when the plan was sent, fl_send_plan; 0:
 * now). Returns this process's end of the socket pair the
 * waiter writes its notices to (close-on-exec) or a negative errno
 * (event_fd then stays the caller's); JavaScript reads them without
 * blocking its event loop, through a socket it can tell to hold the event
 * loop open or not (a subprocess's ref() and unref()).
 */
FL_EXPORT int64_t fl_wait_start(int64_t loader_pid, int64_t control, struct fl_launch_spec *spec, const int64_t *files,
				int64_t log_fd, int64_t trace_fd, int64_t event_fd, const char *labels, int64_t notify_started,
				int64_t program_pid, int64_t pin_offset, int64_t sends_go, int64_t program_pidfd,
				int64_t notify_placed, int64_t start_ns) {
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		return -errno;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		close(fds[0]);
		close(fds[1]);
		return -ENOMEM;
	}
	int e = 0;
	w->loader_pid = (pid_t)loader_pid;
	w->control = (int)control;
	w->notify_fd = fds[1];
	w->notify_started = notify_started != 0;
	w->program_pid = (pid_t)program_pid;
	w->pin_offset = (uint64_t)pin_offset;
	w->sends_go = sends_go != 0;
	w->program_pidfd = (int)program_pidfd;
	w->notify_placed = notify_placed != 0;
	w->spec = spec;
	w->event_fd = (int)event_fd;
	/* A demand-paged run needs a second thread: by userfaultfd, the server
	 * of its faults; by SIGSEGV, the reader of its event ring. */
	int serving = spec->demand_pages > 0 && spec->mechanism == FL_MECHANISM_USERFAULTFD;
	if (serving || spec->ring_offset != 0) {
		struct paged_run *run = calloc(1, sizeof *run);
		e = run ? -read_labels(run, labels) : ENOMEM;
		if (run) {
			run->spec = spec;
			/* Not read from the ring: its header is the program's
			 * to write. */
			run->ring_capacity = spec->ring_offset ? FL_RING_CAPACITY : 0;
			run->log_fd = (int)log_fd;
			run->trace_fd = (int)trace_fd;
			run->event_fd = (int)event_fd;
			run->start_ns = start_ns > 0 ? (uint64_t)start_ns : fl_monotonic_now();
			run->uffd = -1;
			run->done_fd = -1;
			for (int i = 0; i < FL_FILE_COUNT; i++)
				run->file_fds[i] = (int)files[i];
			w->paged = run;
		}
	}
	if (e == 0)
		e = fl_run_pooled(wait_for_program, w);
	if (e != 0) {
		fl_free_paged_run(w->paged);
		free(w);
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	return fds[0];
}

/* A close-on-exec copy of fd, or a negative errno. */
FL_EXPORT int64_t fl_duplicate(int64_t fd) {
	int copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
	return copy < 0 ? -errno : copy;
}

/* The loader waits for this before the jump when it was told to (the
 * mappings are logged first). Returns 0 or a negative errno. */
FL_EXPORT int64_t fl_send_go(int64_t control) {
	struct fl_go go = { .magic = FL_GO_MAGIC };
	ssize_t n;
	do
		n = send((int)control, &go, sizeof go, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/*
 * End this process with signal sig, as the loaded program ended: default
 * action (Bun's crash handler must not run for a SIGSEGV that was the
 * program's), unblocked, raised on this thread. Bun itself is made
 * undumpable first: a core of Bun would overwrite the program's own (with
 * core_pattern "core") and be listed as the latest crash; should that fail,
 * the signal is raised anyway, since dying of it is the contract. Returns
 * only if the signal did not end the process; the caller then exits
 * 128 + sig.
 */
FL_EXPORT int64_t fl_end_with_signal(int64_t sig) {
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	if (sigaction((int)sig, &dfl, NULL) != 0)
		return -errno;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, (int)sig);
	int e = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (e != 0)
		return -e;
	if (raise((int)sig) != 0)
		return -errno;
	return 0;
}

/* Whether a userfaultfd opened with `flags` agrees to `features`. */
static int userfaultfd_grants(int flags, uint64_t features) {
	int fd = (int)syscall(SYS_userfaultfd, flags | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int ok = ioctl(fd, UFFDIO_API, &api) == 0;
	close(fd);
	return ok;
}

/*
 * How demand paging can use userfaultfd here. 2: fully, serving faults the
 * kernel takes inside system calls too and told of forks (it needs
 * CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1); 1: for the program's
 * own accesses only (UFFD_USER_MODE_ONLY, Linux 5.11, which needs no
 * privilege); 0: not at all. Both need minor faults on shmem (Linux 5.14),
 * which serve the image copies.
 */
#define USERFAULTFD_FULL 2
#define USERFAULTFD_USER_MODE 1
FL_EXPORT int64_t fl_userfaultfd_available(void) {
	if (userfaultfd_grants(0, UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID))
		return USERFAULTFD_FULL;
	if (userfaultfd_grants(UFFD_USER_MODE_ONLY, UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID))
		return USERFAULTFD_USER_MODE;
	return 0;
}
