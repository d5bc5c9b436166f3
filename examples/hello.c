/*
 * hello.c — the bundled example: a static program that uses each kind of
 * memory a loader sets up (text, initialized data, bss, heap, stack) and
 * prints what it found. `bun run demo` builds it and runs it under apager.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char greeting[] = "hello from a program loaded by faultline";
static int counter = 41;           /* .data */
static char scratch[1 << 20];      /* .bss: 1 MiB of zeros */

int main(int argc, char **argv) {
	counter++;
	memset(scratch, 'x', sizeof scratch);
	char *heap = malloc(64);
	if (!heap) {
		perror("malloc");
		return 1;
	}
	snprintf(heap, 64, "%d argument%s", argc - 1, argc == 2 ? "" : "s");
	printf("%s\n", greeting);
	printf("data: counter=%d  bss: %zu bytes written  heap: %s\n", counter, sizeof scratch, heap);
	for (int i = 1; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	free(heap);
	return 0;
}
