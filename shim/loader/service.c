/*
 * service.c — the system calls of the user's faultline service (src/service/):
 * its socket, and the thread that accepts the installed command's clients
 * (shim/loader/client.c), refuses other users' and reads each one's hello,
 * so that JavaScript gets whole requests and never blocks on a socket.
 * Runs in the Bun process and uses libc; TypeScript decides everything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/threads.h"
#include "launch.h"

/* Connections waiting to be accepted. */
#define SERVICE_BACKLOG 128
/* How long a client may take to say hello once connected: it does so at
 * once; one that does not must not hold the next ones up. */
#define HELLO_TIMEOUT_MICROS 500000

/* A name in the abstract namespace: no file, gone with its socket (a Bun
 * pager's, named for its pid: src/loader/run-again.ts). */
#define ABSTRACT_MARK '@'

/*
 * Listen on a SOCK_SEQPACKET socket at path: an absolute path in the
 * user's private directory (whatever was there is replaced), or "@name",
 * a name in the abstract namespace. Returns the socket or a negative errno.
 */
FL_EXPORT int64_t fl_service_listen(const char *path) {
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	size_t length = strlen(path);
	if (length >= sizeof address.sun_path)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (path[0] == ABSTRACT_MARK) {
		/* sun_path[0] stays 0: the rest is the name, its length the
		 * address's. */
		memcpy(address.sun_path + 1, path + 1, length - 1);
		socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
		if (bind(fd, (struct sockaddr *)&address, size) != 0 || listen(fd, SERVICE_BACKLOG) != 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		return fd;
	}
	strcpy(address.sun_path, path);
	if (unlink(path) != 0 && errno != ENOENT) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || chmod(path, S_IRUSR | S_IWUSR) != 0 ||
	    listen(fd, SERVICE_BACKLOG) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

struct acceptor {
	int listener;
	int requests; /* the pipe's write end */
};

/* The client's hello and the descriptor it carries into request; 0, or -1
 * when it is no hello (the connection is closed then). */
static int read_hello(int control, struct fl_service_request *request) {
	struct timeval limit = { .tv_sec = 0, .tv_usec = HELLO_TIMEOUT_MICROS };
	if (setsockopt(control, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0)
		return -1;
	struct fl_client_hello hello;
	union {
		char bytes[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ancillary;
	struct iovec iov = { .iov_base = &hello, .iov_len = sizeof hello };
	struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ancillary.bytes, .msg_controllen = sizeof ancillary.bytes };
	ssize_t n;
	do
		n = recvmsg(control, &message, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	int carried = -1;
	struct cmsghdr *header = n > 0 ? CMSG_FIRSTHDR(&message) : NULL;
	if (header && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && header->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&carried, CMSG_DATA(header), sizeof carried);
	if (n != (ssize_t)sizeof hello || hello.magic != FL_CLIENT_MAGIC || (message.msg_flags & MSG_CTRUNC)) {
		if (carried >= 0)
			close(carried);
		return -1;
	}
	/* Blocking again for the launch's own messages. */
	struct timeval forever = { 0 };
	if (setsockopt(control, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof forever) != 0) {
		if (carried >= 0)
			close(carried);
		return -1;
	}
	if (hello.auxv_words > FL_HELLO_AUXV_WORDS) {
		if (carried >= 0)
			close(carried);
		return -1;
	}
	if (!hello.has_stderr && carried >= 0) {
		close(carried);
		carried = -1;
	}
	request->loader_device = hello.loader_device;
	request->loader_inode = hello.loader_inode;
	request->loader_change_ns = hello.loader_change_ns;
	request->stderr_fd = (uint64_t)(int64_t)carried;
	request->personality = hello.personality;
	request->again = hello.again != 0;
	request->stack_limit = hello.stack_limit;
	request->capabilities = hello.capabilities;
	request->auxv_words = hello.auxv_words;
	memcpy(request->auxv, hello.auxv, sizeof request->auxv);
	return 0;
}

static int send_whole(int fd, const void *bytes, size_t length) {
	const char *at = bytes;
	while (length > 0) {
		ssize_t n = send(fd, at, length, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		at += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Accept clients until the listener is closed (or the pipe's reader is
 * gone): peers of another user are refused at once, the rest handed to
 * JavaScript with their hello. */
static void *accept_clients(void *arg) {
	struct acceptor *a = arg;
	uid_t self = geteuid();
	for (;;) {
		int control = accept4(a->listener, NULL, NULL, SOCK_CLOEXEC);
		if (control < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			break;
		}
		struct ucred peer;
		socklen_t length = sizeof peer;
		struct fl_service_request request;
		if (getsockopt(control, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != self ||
		    read_hello(control, &request) != 0) {
			close(control);
			continue;
		}
		request.control = (uint64_t)control;
		request.pid = (uint64_t)peer.pid;
		request.uid = peer.uid;
		request.gid = peer.gid;
		if (send_whole(a->requests, &request, sizeof request) != 0) {
			close(control);
			if ((int64_t)request.stderr_fd >= 0)
				close((int)request.stderr_fd);
			break;
		}
	}
	close(a->requests);
	free(a);
	return NULL;
}

/* Start accepting on listener: the read end of the pipe whose records
 * (struct fl_service_request, contract.h) are the clients, or a negative errno. */
FL_EXPORT int64_t fl_service_accept(int64_t listener) {
	/* A stream socket, not a pipe: its reader can stop holding Bun's event
	 * loop open (a script of the library that ran a program must exit). */
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		return -errno;
	struct acceptor *a = calloc(1, sizeof *a);
	if (!a) {
		close(fds[0]);
		close(fds[1]);
		return -ENOMEM;
	}
	a->listener = (int)listener;
	a->requests = fds[1];
	pthread_t thread;
	int e = fl_start_quiet_thread(&thread, 1, accept_clients, a);
	if (e != 0) {
		free(a);
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	return fds[0];
}

/* Answer a client with a verdict in place of a plan (enum
 * fl_client_verdict). 0 or a negative errno. */
FL_EXPORT int64_t fl_service_answer(int64_t control, int64_t verdict, int64_t status) {
	struct fl_client_answer answer = { .magic = FL_ANSWER_MAGIC, .verdict = (uint64_t)verdict, .status = (uint64_t)status };
	ssize_t n;
	do
		n = send((int)control, &answer, sizeof answer, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof answer ? 0 : n < 0 ? -errno : -EIO;
}

/* Stop accepting: the acceptor, blocked in accept, wakes with an error and
 * ends (closing the listener under it would not wake it). */
FL_EXPORT int64_t fl_service_shutdown(int64_t listener) {
	return shutdown((int)listener, SHUT_RDWR) == 0 ? 0 : -errno;
}

/* Whether the process a pidfd names has not ended yet: 1, 0, or a
 * negative errno. */
FL_EXPORT int64_t fl_pidfd_alive(int64_t pidfd) {
	struct pollfd ended = { .fd = (int)pidfd, .events = POLLIN };
	int r;
	do
		r = poll(&ended, 1, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r == 0;
}
