/*
 * write-protect.c — what the kernel charges a lazy copy for write-protecting
 * a chunk, by mechanism, beside an eager copy of the same chunk. Run by
 * bench/write-protect.ts (`bun run bench:protect`); standalone:
 *
 *   write-protect [--reps N] [--mib M]
 *
 * The chunk is what the shim makes (shim/chunks/chunk.c): shared anonymous memory,
 * populated, M MiB (64 by default). A page-split lazy copy must leave the
 * source and the copy (a second mapping of the same pages) with no writable
 * page-table entry; the ways measured:
 *
 *   mprotect            mprotect(PROT_READ) of the populated source, then
 *                       the copy (faultline before issue 13)
 *   park + mprotect     the source's page tables moved aside first (mremap
 *                       MREMAP_DONTUNMAP), so the range is empty and
 *                       mprotect has no entry to change (faultline now)
 *   uffd-wp             userfaultfd write-protection of the populated
 *                       source, then of the copy (registered first)
 *   park + uffd-wp      page tables moved aside, then userfaultfd
 *                       write-protection of both empty ranges: shared
 *                       memory keeps a marker per page (PTE markers)
 *   uffd-wp registered  as above, the source registered since allocation,
 *                       as a userfaultfd design would keep it
 *
 * Then making pages writable again in place, one at a time at random: by
 * mprotect (cuts the mapping) or by clearing write-protection (does not).
 *
 * One JSON object on stdout: medians in microseconds, the mappings each way
 * leaves, and which userfaultfd this process could open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define MIB (1ul << 20)
/* What one page-middle-directory entry maps on x86-64: page tables move
 * whole only between addresses congruent modulo this. */
#define PMD_BYTES (2ul << 20)
#define DEFAULT_MIB 64ul
#define DEFAULT_REPS 9
#define MAX_REPS 101
/* Pages made writable again, one by one, in the in-place measurement. */
#define IN_PLACE_PAGES 1024ul
#define MAPS_LINE_BYTES 512
#define SOURCE_BYTE 1
/* userfaultfd(2) flag for a descriptor an ordinary user may open (Linux
 * 5.11); older uapi headers lack it. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static size_t chunk_bytes;
static int uffd = -1;
static const char *uffd_kind = "none";

static void die(const char *what) {
	fprintf(stderr, "write-protect: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_us(void) {
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
		die("clock_gettime");
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *values, int n) {
	qsort(values, (size_t)n, sizeof values[0], by_value);
	return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static char *shared_chunk(int populate) {
	char *at = mmap(NULL, chunk_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (at == MAP_FAILED)
		die("mmap");
	if (populate)
		memset(at, SOURCE_BYTE, chunk_bytes);
	return at;
}

static void unmap(void *at) {
	if (munmap(at, chunk_bytes) != 0)
		die("munmap");
}

/* Kernel mappings that overlap [at, at + chunk_bytes). */
static int mappings_over(const char *at) {
	FILE *maps = fopen("/proc/self/maps", "r");
	if (!maps)
		die("/proc/self/maps");
	char line[MAPS_LINE_BYTES];
	int n = 0;
	uintptr_t start = (uintptr_t)at, end = start + chunk_bytes;
	while (fgets(line, sizeof line, maps)) {
		unsigned long low, high;
		if (sscanf(line, "%lx-%lx", &low, &high) == 2 && low < end && high > start)
			n++;
	}
	fclose(maps);
	return n;
}

/* An inaccessible reservation congruent to `like` modulo PMD_BYTES (as
 * shim/chunks/chunk-fault.c's fl_reserve_congruent). */
static uintptr_t reserve_congruent(uintptr_t like) {
	size_t span = chunk_bytes + PMD_BYTES;
	char *base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		die("mmap reservation");
	uintptr_t at = (uintptr_t)base + ((like - (uintptr_t)base) & (PMD_BYTES - 1));
	if (at > (uintptr_t)base && munmap(base, at - (uintptr_t)base) != 0)
		die("munmap");
	uintptr_t tail = at + chunk_bytes, stop = (uintptr_t)base + span;
	if (stop > tail && munmap((void *)tail, stop - tail) != 0)
		die("munmap");
	return at;
}

/* Move the chunk's page tables aside; the chunk stays mapped, empty. */
static char *park(char *chunk) {
	uintptr_t target = reserve_congruent((uintptr_t)chunk);
	void *at = (void *)syscall(SYS_mremap, chunk, chunk_bytes, chunk_bytes,
				   MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, target);
	if (at == MAP_FAILED)
		die("mremap MREMAP_DONTUNMAP");
	return at;
}

/* The lazy copy's second mapping of the same pages (old size 0). */
static char *duplicate(char *chunk) {
	char *at = mremap(chunk, 0, chunk_bytes, MREMAP_MAYMOVE);
	if (at == MAP_FAILED)
		die("mremap duplicate");
	return at;
}

static void protect(char *at, size_t bytes, int prot) {
	if (mprotect(at, bytes, prot) != 0)
		die("mprotect");
}

/* A userfaultfd with write-protection of shared memory: the full kind if
 * this process may open it, else the kind for user-mode faults only. */
static int open_userfaultfd(void) {
	static const struct {
		int flags;
		const char *kind;
	} kinds[] = { { 0, "full" }, { UFFD_USER_MODE_ONLY, "user-mode-only" } };
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | kinds[i].flags);
		if (fd < 0)
			continue;
		struct uffdio_api api = { .api = UFFD_API,
					  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
		if (ioctl(fd, UFFDIO_API, &api) == 0) {
			uffd_kind = kinds[i].kind;
			return fd;
		}
		close(fd);
	}
	return -1;
}

static void register_wp(char *at) {
	struct uffdio_register r = { .range = { (uintptr_t)at, chunk_bytes }, .mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(uffd, UFFDIO_REGISTER, &r) != 0)
		die("UFFDIO_REGISTER");
}

static void write_protect(char *at, size_t bytes, int on) {
	struct uffdio_writeprotect w = { .range = { (uintptr_t)at, bytes }, .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0 };
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) != 0)
		die("UFFDIO_WRITEPROTECT");
}

enum way { MPROTECT, PARK_MPROTECT, UFFD_WP, PARK_UFFD_WP, UFFD_WP_REGISTERED, WAYS };
static const char *const way_names[WAYS] = { "mprotect", "park + mprotect", "uffd-wp", "park + uffd-wp",
					     "uffd-wp registered" };

/* One lazy copy's protection, timed; the mappings left over the source. */
static double copy_once(enum way way, int *source_mappings) {
	char *source = shared_chunk(1);
	if (way == UFFD_WP_REGISTERED)
		register_wp(source);
	char *parked = NULL, *copy;
	double started = now_us();
	switch (way) {
	case MPROTECT:
		protect(source, chunk_bytes, PROT_READ);
		copy = duplicate(source);
		break;
	case PARK_MPROTECT:
		parked = park(source);
		protect(source, chunk_bytes, PROT_READ);
		copy = duplicate(source);
		break;
	case UFFD_WP:
		register_wp(source);
		write_protect(source, chunk_bytes, 1);
		copy = duplicate(source);
		register_wp(copy);
		write_protect(copy, chunk_bytes, 1);
		break;
	case PARK_UFFD_WP:
	case UFFD_WP_REGISTERED:
	default:
		parked = park(source);
		if (way == PARK_UFFD_WP)
			register_wp(source);
		write_protect(source, chunk_bytes, 1);
		copy = duplicate(source);
		register_wp(copy);
		write_protect(copy, chunk_bytes, 1);
		break;
	}
	double elapsed = now_us() - started;
	*source_mappings = mappings_over(source);
	if (parked)
		unmap(parked);
	unmap(copy);
	unmap(source);
	return elapsed;
}

static double eager_once(const char *source) {
	double started = now_us();
	char *copy = mmap(NULL, chunk_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (copy == MAP_FAILED)
		die("mmap");
	memcpy(copy, source, chunk_bytes);
	double elapsed = now_us() - started;
	unmap(copy);
	return elapsed;
}

/* Pages made writable again one at a time, in a random order, in a
 * read-only (mprotect) or write-protected (uffd) chunk: microseconds per
 * page, and the mappings left. */
static double in_place_once(int by_uffd, int *mappings) {
	char *chunk = shared_chunk(1);
	if (by_uffd) {
		register_wp(chunk);
		write_protect(chunk, chunk_bytes, 1);
	} else {
		protect(chunk, chunk_bytes, PROT_READ);
	}
	size_t pages = chunk_bytes / PAGE;
	uint32_t state = 12345;
	double started = now_us();
	for (size_t i = 0; i < IN_PLACE_PAGES; i++) {
		state = state * 1103515245u + 12345u;
		char *page = chunk + ((state >> 8) % pages) * PAGE;
		if (by_uffd)
			write_protect(page, PAGE, 0);
		else
			protect(page, PAGE, PROT_READ | PROT_WRITE);
	}
	double elapsed = now_us() - started;
	*mappings = mappings_over(chunk);
	unmap(chunk);
	return elapsed / IN_PLACE_PAGES;
}

int main(int argc, char **argv) {
	int reps = DEFAULT_REPS;
	size_t mib = DEFAULT_MIB;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mib"))
			mib = (size_t)strtoul(argv[i + 1], NULL, 10);
	}
	if (reps < 1 || reps > MAX_REPS || mib < 1) {
		fprintf(stderr, "usage: write-protect [--reps 1..%d] [--mib M]\n", MAX_REPS);
		return 2;
	}
	chunk_bytes = mib * MIB;
	uffd = open_userfaultfd();
	double samples[MAX_REPS];

	char *source = shared_chunk(1);
	for (int r = 0; r < reps; r++)
		samples[r] = eager_once(source);
	double eager = median(samples, reps);
	unmap(source);

	printf("{\"mib\":%zu,\"reps\":%d,\"userfaultfd\":\"%s\",\"eagerCopyUs\":%.1f,\"copies\":[", mib, reps, uffd_kind,
	       eager);
	int first = 1;
	for (enum way way = MPROTECT; way < WAYS; way++) {
		if (way >= UFFD_WP && uffd < 0)
			continue;
		int mappings = 0;
		for (int r = 0; r < reps; r++)
			samples[r] = copy_once(way, &mappings);
		double us = median(samples, reps);
		printf("%s{\"way\":\"%s\",\"us\":%.1f,\"eagerOver\":%.1f,\"sourceMappings\":%d}", first ? "" : ",",
		       way_names[way], us, eager / us, mappings);
		first = 0;
	}
	printf("],\"inPlace\":[");
	for (int by_uffd = 0; by_uffd <= (uffd >= 0); by_uffd++) {
		int mappings = 0;
		for (int r = 0; r < reps; r++)
			samples[r] = in_place_once(by_uffd, &mappings);
		printf("%s{\"way\":\"%s\",\"pages\":%lu,\"usPerPage\":%.2f,\"mappings\":%d}", by_uffd ? "," : "",
		       by_uffd ? "uffd-wp" : "mprotect", IN_PLACE_PAGES, median(samples, reps), mappings);
	}
	printf("]}\n");
	return 0;
}
