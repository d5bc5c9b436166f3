/*
 * ids.c — the credentials a program starts with: real and effective user
 * and group IDs, and AT_SECURE (set when exec gave it privilege).
 */
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void) {
	printf("uid=%d euid=%d gid=%d egid=%d secure=%lu\n", (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid(),
	       getauxval(AT_SECURE));
	return 0;
}
