/*
 * checksum_wait.c - the program of the pager-kill test: it starts, says
 * "ready", waits until the file named by its argument exists (or, with no
 * argument, for a line on standard input), then reads pages it has not
 * touched before and prints their sums:
 *
 *   data  2 MiB of initialized data, one marker byte per page
 *   text  the bytes of its own code, read as data (filler functions make
 *         it span many pages)
 *   bss   1 MiB that must read as zeros
 *
 * Pages the pager never gave it (zeros where the file has bytes) change
 * the sums, so a run whose pager was killed meanwhile can be compared with
 * a native run. Prints: data=<n> text=<n> bss=<n>
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define DATA_PAGES 512u
#define BSS_BYTES (1024u * 1024u)

#define V(p) ((unsigned char)((p) * 29 % 251 + 1))
#define OFF(p) ((p) * 97 % PAGE)
#define PG(p) [(p) * PAGE + OFF(p)] = V(p)
#define R8(b) PG((b) + 0), PG((b) + 1), PG((b) + 2), PG((b) + 3), PG((b) + 4), PG((b) + 5), PG((b) + 6), PG((b) + 7)
#define R64(b) R8((b) + 0), R8((b) + 8), R8((b) + 16), R8((b) + 24), R8((b) + 32), R8((b) + 40), R8((b) + 48), R8((b) + 56)

unsigned char data[DATA_PAGES * PAGE] = { R64(0), R64(64), R64(128), R64(192), R64(256), R64(320), R64(384), R64(448) };
unsigned char bss[BSS_BYTES];

/* Code to read: many distinct functions, so the text spans many pages. */
#define FILLER(n)                                                                                   \
	__attribute__((noinline, used)) unsigned filler_##n(unsigned x) {                            \
		for (unsigned i = 0; i < (n) % 7 + 3; i++)                                          \
			x = x * 2654435761u + (n) + (x >> (i % 13)) + (x << ((n) % 5));               \
		return x ^ (unsigned)(n);                                                            \
	}
#define F8(b) FILLER(b##0) FILLER(b##1) FILLER(b##2) FILLER(b##3) FILLER(b##4) FILLER(b##5) FILLER(b##6) FILLER(b##7)
F8(1) F8(2) F8(3) F8(4) F8(5) F8(6) F8(7) F8(8) F8(9)
F8(11) F8(12) F8(13) F8(14) F8(15) F8(16) F8(17) F8(18) F8(19)
F8(21) F8(22) F8(23) F8(24) F8(25) F8(26) F8(27) F8(28) F8(29)

__attribute__((noinline)) static uint64_t sum_bytes(const volatile unsigned char *p, size_t n) {
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

extern char __executable_start[], etext[];

/* How often to look for the file. */
#define POLL_NS 200000

int main(int argc, char **argv) {
	printf("ready\n");
	fflush(stdout);
	if (argc > 1) {
		struct timespec pause = { 0, POLL_NS };
		while (access(argv[1], F_OK) != 0)
			nanosleep(&pause, NULL);
	} else {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	uint64_t d = 0;
	for (unsigned p = 0; p < DATA_PAGES; p++)
		d = d * 1000003 + sum_bytes(&data[p * PAGE], PAGE);
	uint64_t t = sum_bytes((const unsigned char *)__executable_start, (size_t)(etext - __executable_start));
	uint64_t b = sum_bytes(bss, BSS_BYTES);
	printf("data=%llu text=%llu bss=%llu\n", (unsigned long long)d, (unsigned long long)t, (unsigned long long)b);
	return 0;
}
