/*
 * syscalls_untouched.c — system calls that write into memory the program
 * has never touched: the kernel, not the program, takes the first fault on
 * those pages. Natively that is invisible; a pager that only hears about
 * faults through SIGSEGV sees the call fail with EFAULT instead.
 *
 *   syscalls_untouched read|stat|getdents|recv
 *
 * Each buffer is static, in the bss, page-aligned and used for the first
 * time by the call. Prints what the call returned and a digest of the bytes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define BUFFER_PAGES 8

static char read_buffer[BUFFER_PAGES * PAGE] __attribute__((aligned(PAGE)));
static struct stat stat_buffer __attribute__((aligned(PAGE)));
static char dirent_buffer[BUFFER_PAGES * PAGE] __attribute__((aligned(PAGE)));
static char recv_buffer[BUFFER_PAGES * PAGE] __attribute__((aligned(PAGE)));

static unsigned long digest(const char *bytes, size_t n) {
	unsigned long h = 5381;
	for (size_t i = 0; i < n; i++)
		h = h * 33 + (unsigned char)bytes[i];
	return h;
}

static int fail(const char *what) {
	printf("%s failed: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "read")) {
		int fd = open(argv[0], O_RDONLY);
		if (fd < 0)
			return fail("open");
		ssize_t n = read(fd, read_buffer, sizeof read_buffer);
		if (n < 0)
			return fail("read");
		printf("read %zd bytes of itself, digest %lx\n", n, digest(read_buffer, (size_t)n));
	} else if (!strcmp(mode, "stat")) {
		if (stat("/", &stat_buffer) != 0)
			return fail("stat");
		printf("stat /: directory=%d links>0=%d\n", S_ISDIR(stat_buffer.st_mode), stat_buffer.st_nlink > 0);
	} else if (!strcmp(mode, "getdents")) {
		int fd = open("/", O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return fail("open");
		long n = syscall(SYS_getdents64, fd, dirent_buffer, sizeof dirent_buffer);
		if (n < 0)
			return fail("getdents64");
		int entries = 0;
		for (long at = 0; at < n; entries++)
			at += ((struct dirent64 *)(dirent_buffer + at))->d_reclen;
		printf("getdents64 /: %d entries\n", entries > 2 ? entries : -1);
	} else if (!strcmp(mode, "recv")) {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
			return fail("socketpair");
		const char message[] = "a message received into a page never touched";
		if (send(pair[0], message, sizeof message, 0) != (ssize_t)sizeof message)
			return fail("send");
		ssize_t n = recv(pair[1], recv_buffer, sizeof recv_buffer, 0);
		if (n < 0)
			return fail("recv");
		printf("recv %zd bytes: %s\n", n, recv_buffer);
	} else {
		fprintf(stderr, "usage: syscalls_untouched read|stat|getdents|recv\n");
		return 2;
	}
	return 0;
}
