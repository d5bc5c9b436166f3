/*
 * relay.c — passing the signals somebody sends the pager on to the program,
 * as timeout, tini and env-style wrappers do, so a supervisor that signals
 * the pager's pid reaches the program, and the pager then ends the way the
 * program did.
 *
 * A handler per relayed signal only writes what it learned (signal, code,
 * sender) to a pipe; a thread reads the pipe, decides, and sends the signal
 * to the program through a pidfd, which can never reach a process that
 * reused the program's pid. Signals that come before the program exists
 * wait, and are sent as soon as it does.
 *
 * Not relayed (the program has its own copy, or relaying would loop):
 *   - signals the kernel sends (a terminal's ^C reaches the whole foreground
 *     process group, the program included; timers of this process);
 *   - signals the program or one of its descendants sent (kill(0, sig)
 *     reaches the pager too);
 *   - when the pager runs under `bun run` in the terminal's foreground
 *     process group: the SIGINT and SIGQUIT `bun run` passes on, which are
 *     its copies of a terminal key the program got itself.
 *
 * Under `bun run`, a supervisor signals `bun run`'s pid, and `bun run`
 * passes on only some signals (not SIGUSR1, nor SIGKILL): it dies of the
 * others, leaving the pager and the program behind. So the pager asks the
 * kernel to tell it when its parent dies (PR_SET_PDEATHSIG), reads what
 * killed it (through a pidfd held from the start: PIDFD_GET_INFO, Linux
 * 6.15; else /proc/PID/stat's exit_code, there until its parent reaps it)
 * and relays that signal; SIGHUP, the signal for "whoever held you has
 * gone", when it cannot be read.
 * Runs in the Bun process; uses libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "launch.h"
#include "common/threads.h"

/* What a handler writes: one whole record per signal (a pipe write of this
 * size is atomic). Signal 0 asks the thread to look at the target again. */
struct relay_record {
	int32_t signal;
	int32_t code;
	int32_t sender;
	int32_t unused;
};

/* How far up the sender's ancestry to look for the program. */
#define MAX_ANCESTRY 64
/* The signal number that only wakes the relay thread. */
#define RELAY_RETARGET 0
/* The signal the kernel sends the pager when `bun run` dies: the last
 * real-time signal (SIGRTMAX in the kernel's numbering), not relayed under
 * `bun run` (src/loader/caller.ts). */
#define PARENT_GONE_SIGNAL 64
/* What the program gets when what killed `bun run` cannot be read. */
#define PARENT_GONE_FALLBACK SIGHUP
/* Field of /proc/PID/stat holding the exit code in wait(2)'s form, counted
 * after the command name's closing parenthesis (field 52 of the whole). */
#define STAT_EXIT_CODE_FIELD 50
/* How long to wait for `bun run`'s exit to be recorded once it is dying,
 * and how often to look for its exit code: 100 looks 1 ms apart. */
#define EXIT_RECORD_WAIT_MS 1000
#define EXIT_RECORD_TRIES 100
#define EXIT_RECORD_RETRY_US 1000

/* PIDFD_GET_INFO (include/uapi/linux/pidfd.h, Linux 6.15), spelled out for
 * older headers: the exit code of a process that has exited, kept for
 * whoever holds a pidfd to it, reaped or not. */
struct pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask;
	uint32_t unused;
};
#define PIDFD_INFO_EXIT (1ull << 3)
#define PIDFD_IOCTL_TYPE 0xFF
#define PIDFD_GET_INFO_NR 11
#define PIDFD_GET_INFO _IOWR(PIDFD_IOCTL_TYPE, PIDFD_GET_INFO_NR, struct pidfd_info)

static int relay_pipe[2] = { -1, -1 };
static int relay_target = -1;      /* pidfd of the program; -1: none yet */
static int relay_target_pid;       /* its pid, for the descendant check */
static uint64_t relay_waiting;     /* signals that came before the program */
static int skip_terminal_copies;   /* the pager runs under `bun run` */
static pid_t bun_run_parent;       /* its pid, watched for its death; 0: none */
static int bun_run_pidfd = -1;     /* and a pidfd to it, for its exit code */
static pthread_t relay_thread;

static void relay_handler(int sig, siginfo_t *info, void *context) {
	(void)context;
	int saved = errno;
	struct relay_record record = { sig, info->si_code, info->si_pid, 0 };
	/* The pipe is non-blocking: should it ever be full, the signal is
	 * dropped rather than the handler stalled. */
	(void)write(relay_pipe[1], &record, sizeof record);
	errno = saved;
}

/* The fields of /proc/PID/stat after the command name, which is in
 * parentheses and may hold anything; 0 if the process is gone. */
static int stat_fields(pid_t pid, char *text, size_t size, char **fields) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *stat = fopen(path, "re");
	if (!stat)
		return 0;
	size_t n = fread(text, 1, size - 1, stat);
	fclose(stat);
	text[n] = 0;
	char *end = strrchr(text, ')');
	if (!end)
		return 0;
	*fields = end + 1;
	return 1;
}

static pid_t parent_of(pid_t pid) {
	char text[1024], *fields;
	int ppid = 0;
	if (!stat_fields(pid, text, sizeof text, &fields) || sscanf(fields, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

/* The exit code PIDFD_GET_INFO gives for the process behind pidfd, or -1
 * when it has none (yet: it is kept once the process is reaped). */
static int pidfd_exit_code(int pidfd) {
	struct pidfd_info info;
	memset(&info, 0, sizeof info);
	info.mask = PIDFD_INFO_EXIT;
	if (ioctl(pidfd, PIDFD_GET_INFO, &info) != 0 || !(info.mask & PIDFD_INFO_EXIT))
		return -1;
	return info.exit_code;
}

/* The exit code /proc/PID/stat shows for a dead process its parent has not
 * reaped, or -1 when there is none to read (reaped). */
static int stat_exit_code(pid_t pid) {
	char text[1024], *fields;
	if (!stat_fields(pid, text, sizeof text, &fields))
		return -1;
	char *field = strtok(fields, " ");
	for (int i = 1; field && i < STAT_EXIT_CODE_FIELD; i++)
		field = strtok(NULL, " ");
	return field ? atoi(field) : -1;
}

/*
 * The signal that killed `bun run`, from its exit code; the fallback when
 * it cannot be read or it did not die of a signal. Until its parent reaps
 * it, the code is in /proc/PID/stat; from then on, in its pidfd (Linux
 * 6.15). The reaping can come between the two looks, so both are tried
 * again until one answers or the time is up.
 */
static int signal_that_ended(pid_t pid) {
	if (bun_run_pidfd >= 0) {
		struct pollfd exited = { .fd = bun_run_pidfd, .events = POLLIN };
		(void)poll(&exited, 1, EXIT_RECORD_WAIT_MS);
	}
	for (int tries = 0; tries < EXIT_RECORD_TRIES; tries++) {
		int status = bun_run_pidfd >= 0 ? pidfd_exit_code(bun_run_pidfd) : -1;
		if (status < 0)
			status = stat_exit_code(pid);
		if (status >= 0)
			return WIFSIGNALED(status) ? WTERMSIG(status) : PARENT_GONE_FALLBACK;
		if (bun_run_pidfd < 0)
			break;
		usleep(EXIT_RECORD_RETRY_US);
	}
	return PARENT_GONE_FALLBACK;
}

/* Did the program, or a process it started, send this? */
static int sent_by_program(pid_t sender) {
	for (int depth = 0; depth < MAX_ANCESTRY && sender > 1; depth++) {
		if (sender == relay_target_pid)
			return 1;
		sender = parent_of(sender);
	}
	return 0;
}

/* Is this process group the terminal's foreground one? */
static int in_foreground(void) {
	int tty = open("/dev/tty", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (tty < 0)
		return 0;
	pid_t foreground = tcgetpgrp(tty);
	close(tty);
	return foreground == getpgrp();
}

static int worth_relaying(const struct relay_record *r) {
	/* Sent by a process: kill, sigqueue, tgkill. */
	if (r->code != SI_USER && r->code != SI_QUEUE && r->code != SI_TKILL)
		return 0;
	if (r->sender == getpid())
		return 0;
	if (relay_target_pid != 0 && sent_by_program(r->sender))
		return 0;
	if (skip_terminal_copies && r->sender == bun_run_parent && (r->signal == SIGINT || r->signal == SIGQUIT) &&
	    in_foreground())
		return 0;
	return 1;
}

static void send_to_program(int sig) {
	/* ESRCH: the program has ended; nothing to do. */
	(void)syscall(SYS_pidfd_send_signal, relay_target, sig, NULL, 0);
}

static void *relay_signals(void *arg) {
	(void)arg;
	for (;;) {
		struct relay_record r;
		ssize_t n = read(relay_pipe[0], &r, sizeof r);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof r)
			return NULL;
		int target = __atomic_load_n(&relay_target, __ATOMIC_ACQUIRE);
		if (bun_run_parent != 0 && r.signal == PARENT_GONE_SIGNAL) {
			r.signal = signal_that_ended(bun_run_parent);
			r.code = SI_USER;
			r.sender = bun_run_parent;
			bun_run_parent = 0;
		}
		if (r.signal != RELAY_RETARGET && worth_relaying(&r)) {
			if (target >= 0)
				send_to_program(r.signal);
			else
				relay_waiting |= 1ull << (r.signal - 1);
		}
		if (target >= 0 && relay_waiting) {
			for (int sig = 1; sig <= 64; sig++)
				if (relay_waiting & (1ull << (sig - 1)))
					send_to_program(sig);
			relay_waiting = 0;
		}
	}
}

/* Be told when `bun run` dies: by a signal it does not pass on. Called
 * with the relay's handler already on PARENT_GONE_SIGNAL. */
static int watch_bun_run(void) {
	bun_run_parent = getppid();
	/* Without a pidfd the exit code is read from /proc while it lasts. */
	bun_run_pidfd = (int)syscall(SYS_pidfd_open, bun_run_parent, 0);
	if (prctl(PR_SET_PDEATHSIG, PARENT_GONE_SIGNAL) != 0)
		return -errno;
	/* It may have died before the request took effect. */
	if (getppid() != bun_run_parent) {
		struct relay_record gone = { PARENT_GONE_SIGNAL, SI_USER, bun_run_parent, 0 };
		if (write(relay_pipe[1], &gone, sizeof gone) != (ssize_t)sizeof gone)
			return -errno;
	}
	return 0;
}

/*
 * Start relaying the signals in `signals` (bit sig - 1). `under_bun_run`:
 * the pager's parent is `bun run`, which passes on the terminal's keys and
 * dies of the signals it does not pass on. Returns 0 or a negative errno.
 * Once only.
 */
FL_EXPORT int64_t fl_relay_start(uint64_t signals, int64_t under_bun_run) {
	if (pipe2(relay_pipe, O_CLOEXEC) != 0)
		return -errno;
	if (fcntl(relay_pipe[1], F_SETFL, O_NONBLOCK) != 0)
		return -errno;
	skip_terminal_copies = under_bun_run != 0;
	if (under_bun_run)
		signals |= 1ull << (PARENT_GONE_SIGNAL - 1);
	int e = fl_start_quiet_thread(&relay_thread, 1, relay_signals, NULL);
	if (e != 0)
		return -e;
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_sigaction = relay_handler;
	action.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&action.sa_mask);
	for (int sig = 1; sig <= 64; sig++) {
		if (!(signals & (1ull << (sig - 1))))
			continue;
		if (sigaction(sig, &action, NULL) != 0)
			return -errno;
	}
	return under_bun_run ? watch_bun_run() : 0;
}

/* The program is running as pid: relay to it from now on, starting with
 * the signals that waited for it. Returns 0 or a negative errno. */
FL_EXPORT int64_t fl_relay_target(int64_t pid) {
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	/* ESRCH: the program has ended, and been reaped, already: there is
	 * nobody to relay to. */
	if (pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	relay_target_pid = (int)pid;
	__atomic_store_n(&relay_target, pidfd, __ATOMIC_RELEASE);
	struct relay_record wake = { RELAY_RETARGET, 0, 0, 0 };
	if (write(relay_pipe[1], &wake, sizeof wake) != (ssize_t)sizeof wake)
		return -errno;
	return 0;
}
