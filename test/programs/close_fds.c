/*
 * close_fds.c — a program that closes every descriptor above 2, as daemons
 * and careful programs do, then touches memory it has not touched before:
 * a pager that kept the program's file open on a descriptor would lose it
 * here. Prints the descriptors it found first, then a checksum.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BIG (8u << 20)
static unsigned char fresh_bss[BIG];
static unsigned char fresh_data[BIG / 8] = { 1 };

int main(void) {
	DIR *dir = opendir("/proc/self/fd");
	if (!dir) {
		perror("opendir");
		return 1;
	}
	int own = dirfd(dir);
	printf("fds:");
	for (struct dirent *e; (e = readdir(dir));) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == own)
			continue;
		printf(" %s", e->d_name);
	}
	printf("\n");
	closedir(dir);
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < max && fd < 65536; fd++)
		close((int)fd);
	unsigned long sum = 0;
	for (unsigned i = 0; i < BIG; i += 4096) {
		fresh_bss[i] = (unsigned char)(i >> 12);
		sum += fresh_bss[i];
	}
	for (unsigned i = 0; i < BIG / 8; i += 4096)
		sum += fresh_data[i];
	printf("touched after closing: sum %lu\n", sum);
	return 0;
}
