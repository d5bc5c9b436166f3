/*
 * recurse.c — recurses until the stack runs out. Every 16 frames of about
 * 1 KiB it writes how many KiB of stack it has used so far (one number per
 * line, unbuffered), so the last line says how deep it got before the
 * kernel's SIGSEGV: about RLIMIT_STACK, less the arguments and environment.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FRAME_BYTES 1024
#define REPORT_EVERY 16

static const char *top;

static void report(long kib) {
	char line[32];
	int n = snprintf(line, sizeof line, "%ld\n", kib);
	(void)!write(1, line, (size_t)n);
}

static long dive(long depth) {
	volatile char frame[FRAME_BYTES];
	memset((char *)frame, (int)depth, sizeof frame);
	if (depth % REPORT_EVERY == 0)
		report((top - (const char *)frame) / 1024);
	return dive(depth + 1) + frame[depth % FRAME_BYTES];
}

int main(void) {
	char here;
	top = &here;
	return (int)dive(0);
}
