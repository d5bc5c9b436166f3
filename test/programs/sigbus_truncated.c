/*
 * sigbus_truncated.c — SIGBUS (BUS_ADRERR): maps two pages of a file, cuts
 * the file to nothing, then reads the second page, which no longer has a
 * byte of the file behind it.
 *
 *   sigbus_truncated FILE   (created or emptied; left behind, empty)
 *
 * Prints "sigbus_truncated: reading" (flushed) before the read.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: sigbus_truncated FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 2 * PAGE) != 0) {
		perror("sigbus_truncated: creating the file");
		return 2;
	}
	volatile char *bytes = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (bytes == MAP_FAILED || ftruncate(fd, 0) != 0) {
		perror("sigbus_truncated: mapping or truncating");
		return 2;
	}
	printf("sigbus_truncated: reading\n");
	fflush(stdout);
	return bytes[PAGE];
}
