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

/*
 * Listen on a SOCK_SEQPACKET socket at path (an absolute path in the
 * user's private directory; whatever was there before is replaced: the
 * caller holds the directory's lock). Returns the socket or a negative
 * errno.
 */
FL_EXPORT int64_t fl_service_listen(const char *path) {
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof address.sun_path)
		return -ENAMETOOLONG;
	strcpy(address.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
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

/* One accepted client, as JavaScript reads it from the acceptor's pipe:
 * enum fl_request_word gives each word's place. */
enum fl_request_word {
	FL_REQUEST_CONTROL,       /* the connection, close-on-exec */
	FL_REQUEST_PID,           /* the client's, from SO_PEERCRED */
	FL_REQUEST_UID,
	FL_REQUEST_GID,
	FL_REQUEST_LOADER_DEVICE, /* the client's build (struct fl_client_hello) */
	FL_REQUEST_LOADER_INODE,
	FL_REQUEST_LOADER_CHANGE_NS,
	FL_REQUEST_STDERR,        /* its standard error, or -1 */
	FL_REQUEST_PERSONALITY,
	FL_REQUEST_WORDS,
};

struct acceptor {
	int listener;
	int requests; /* the pipe's write end */
};

/* The client's hello and the descriptor it carries into request; 0, or -1
 * when it is no hello (the connection is closed then). */
static int read_hello(int control, int64_t *request) {
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
	request[FL_REQUEST_LOADER_DEVICE] = (int64_t)hello.loader_device;
	request[FL_REQUEST_LOADER_INODE] = (int64_t)hello.loader_inode;
	request[FL_REQUEST_LOADER_CHANGE_NS] = (int64_t)hello.loader_change_ns;
	request[FL_REQUEST_STDERR] = hello.has_stderr ? carried : -1;
	request[FL_REQUEST_PERSONALITY] = (int64_t)hello.personality;
	if (!hello.has_stderr && carried >= 0)
		close(carried);
	return 0;
}

static int write_whole(int fd, const void *bytes, size_t length) {
	const char *at = bytes;
	while (length > 0) {
		ssize_t n = write(fd, at, length);
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
		int64_t request[FL_REQUEST_WORDS];
		if (getsockopt(control, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != self ||
		    read_hello(control, request) != 0) {
			close(control);
			continue;
		}
		request[FL_REQUEST_CONTROL] = control;
		request[FL_REQUEST_PID] = peer.pid;
		request[FL_REQUEST_UID] = peer.uid;
		request[FL_REQUEST_GID] = peer.gid;
		if (write_whole(a->requests, request, sizeof request) != 0) {
			close(control);
			if (request[FL_REQUEST_STDERR] >= 0)
				close((int)request[FL_REQUEST_STDERR]);
			break;
		}
	}
	close(a->requests);
	free(a);
	return NULL;
}

/* Start accepting on listener: the read end of the pipe whose records
 * (FL_REQUEST_WORDS words each) are the clients, or a negative errno. */
FL_EXPORT int64_t fl_service_accept(int64_t listener) {
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
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

FL_EXPORT uint64_t fl_service_request_words(void) {
	return FL_REQUEST_WORDS;
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
