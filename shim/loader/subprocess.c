/*
 * subprocess.c — what spawn() (src/run/subprocess.ts) asks of the kernel beyond
 * a launch: the program's standard streams (a socket pair for "pipe", as
 * Bun.spawn makes one; a memfd holding the bytes of a Blob or buffer given
 * as standard input), the pipe live events come through, the program's pid
 * from the loader's hello, and a pidfd to signal the program by, which never
 * reaches another process that took over its pid. Runs on Bun's threads and
 * uses libc; src/run/subprocess.ts decides, this only makes the system calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

/* The live event pipe's size: room for a few thousand events (a trace line
 * is 100 to 500 bytes) while JavaScript is busy elsewhere. An unprivileged
 * process may make pipes this large (the default /proc/sys/fs/pipe-max-size). */
#define EVENT_PIPE_BYTES (1024 * 1024)

/* The name Bun.spawn gives the memfd of a buffer handed as standard input,
 * so the program sees the same thing in /proc/self/fd either way. */
#define STDIN_MEMFD_NAME "spawn_stdio_stdin"

/* A connected pair of Unix stream sockets, both close-on-exec: out[0] for
 * this process, out[1] for the program. Returns 0 or a negative errno. */
FL_EXPORT int64_t fl_stream_pair(int64_t *out) {
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
		return -errno;
	out[0] = pair[0];
	out[1] = pair[1];
	return 0;
}

/*
 * The pipe live events come through: out[0] the read end, out[1] the write
 * end, both close-on-exec, the write end non-blocking (a full pipe drops an
 * event instead of stalling the thread that pages the program), made
 * EVENT_PIPE_BYTES large where the kernel allows it. Returns 0 or a
 * negative errno.
 */
FL_EXPORT int64_t fl_event_pipe(int64_t *out) {
	int ends[2];
	if (pipe2(ends, O_CLOEXEC) != 0)
		return -errno;
	int flags = fcntl(ends[1], F_GETFL);
	if (flags < 0 || fcntl(ends[1], F_SETFL, flags | O_NONBLOCK) != 0) {
		int e = errno;
		close(ends[0]);
		close(ends[1]);
		return -e;
	}
	/* Refused (EPERM past pipe-max-size for an unprivileged process, or
	 * EBUSY): the pipe keeps its default size, and a consumer that falls
	 * behind loses events sooner; they are counted either way. */
	(void)fcntl(ends[1], F_SETPIPE_SZ, EVENT_PIPE_BYTES);
	out[0] = ends[0];
	out[1] = ends[1];
	return 0;
}

/* A memfd holding bytes[0 .. length), positioned at its start, for a
 * program's standard input (close-on-exec). Returns it or a negative errno. */
FL_EXPORT int64_t fl_stdin_memfd(const uint8_t *bytes, uint64_t length) {
	int fd = memfd_create(STDIN_MEMFD_NAME, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (uint64_t at = 0; at < length;) {
		ssize_t n = write(fd, bytes + at, length - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		at += (uint64_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/*
 * The pid of the process that becomes the program, from the loader's hello
 * on its control socket (the first message, sent as soon as the loader has
 * cloned itself: this waits at most for that). Returns the pid, 0 when the
 * loader hung up without one (it failed before cloning; its exit status
 * says why), or a negative errno.
 */
FL_EXPORT int64_t fl_loader_hello(int64_t control) {
	struct fl_hello hello;
	ssize_t n;
	do
		n = recv((int)control, &hello, sizeof hello, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof hello || hello.magic != FL_HELLO_MAGIC)
		return 0;
	return (int64_t)hello.pid;
}

/* A pidfd for pid (close-on-exec, as pidfd_open always makes it), or a
 * negative errno. Opened before anything reaps pid, it names that process
 * and no other for as long as it is open. */
FL_EXPORT int64_t fl_pidfd_open(int64_t pid) {
	long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	return fd < 0 ? -errno : fd;
}

/* Send sig to the process pidfd names. Returns 0 or a negative errno
 * (ESRCH: it has ended). */
FL_EXPORT int64_t fl_pidfd_signal(int64_t pidfd, int64_t sig) {
	return syscall(SYS_pidfd_send_signal, (int)pidfd, (int)sig, NULL, 0) == 0 ? 0 : -errno;
}
