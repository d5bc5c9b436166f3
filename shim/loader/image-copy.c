/*
 * image-copy.c — the image copy of a program's file for userfaultfd paging
 * (Bun's side; libc allowed): a memfd as long as the file, holding the
 * file's bytes where the loader maps them from it (src/loader/image-copy.ts), then
 * sealed so that nothing can change or resize it. Its pages live in the
 * kernel's page cache, so the program's minor faults find the file's bytes
 * there whoever serves them, or if nobody does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"

/* Everything that could change the copy once it is made. */
#define COPY_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/* Copy length bytes at offset from file to the same offset in copy. A file
 * that ends early leaves the rest of the copy as zeros, as reading the
 * file's last page gives. Returns 0 or a negative errno. */
static int copy_piece(int file, int copy, uint64_t offset, uint64_t length) {
	if (lseek(copy, (off_t)offset, SEEK_SET) < 0)
		return -errno;
	off_t from = (off_t)offset;
	while (length > 0) {
		ssize_t n = sendfile(copy, file, &from, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* the file ends here */
		length -= (uint64_t)n;
	}
	return 0;
}

/*
 * A sealed copy of `file`, `size` bytes long (its size when it was opened),
 * holding the file's bytes in each of `count` pieces (offset, length
 * pairs); named after the file for /proc/PID/maps. Returns the memfd
 * (close-on-exec) or a negative errno.
 */
FL_EXPORT int64_t fl_image_copy(int64_t file, const char *name, uint64_t size, const uint64_t *pieces, uint64_t count) {
	int copy = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (copy < 0)
		return -errno;
	int e = ftruncate(copy, (off_t)size) == 0 ? 0 : -errno;
	for (uint64_t i = 0; e == 0 && i < count; i++)
		e = copy_piece((int)file, copy, pieces[2 * i], pieces[2 * i + 1]);
	if (e == 0 && fcntl(copy, F_ADD_SEALS, COPY_SEALS) != 0)
		e = -errno;
	if (e != 0) {
		close(copy);
		return e;
	}
	return copy;
}
