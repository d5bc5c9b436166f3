/*
 * self_read.c — reads its own executable late. A 256 KiB constant array
 * lies in the file (.rodata), untouched until a line arrives on stdin; the
 * program first prints where the array is, as its distance from the ELF
 * header (which the first PT_LOAD maps from file offset 0), and "ready";
 * then, once told, reads a byte of every page of it and prints their sum.
 * If the file was truncated in between, those pages are past its end: the
 * access ends the program with SIGBUS.
 */
#include <stdio.h>
#include <unistd.h>

#define BLOB_BYTES (256 * 1024)
#define PAGE_BYTES 4096

static const unsigned char blob[BLOB_BYTES] = { 1 };
extern const char __ehdr_start[];

int main(void) {
	printf("blob=+0x%lx\nready\n", (unsigned long)((const char *)blob - __ehdr_start));
	fflush(stdout);
	char go;
	if (read(0, &go, 1) != 1)
		return 2;
	const volatile unsigned char *bytes = blob;
	unsigned long sum = 0;
	for (unsigned long at = 0; at < BLOB_BYTES; at += PAGE_BYTES)
		sum += bytes[at];
	printf("sum=%lu\n", sum);
	return 0;
}
