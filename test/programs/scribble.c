/*
 * scribble.c - a hostile program: it writes over every shared writable
 * mapping it finds in /proc/self/maps (rw-s: whatever a pager shares with
 * it), then touches a 16 MiB bss, page by page, and exits 0.
 *
 *   scribble SEED MODE
 *
 * MODE: "once" scribbles before touching, "thread" from a second thread
 * all the while, "both" does both. What it writes, chosen by SEED: random
 * bytes; records that look like the pager's (sequence numbers that follow,
 * counts, kinds, addresses) with huge lengths and out-of-range values; all
 * ones; all zeros. Prints how many shared mappings it found and "done".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u
#define BSS_BYTES (16u * 1024u * 1024u)
#define MAX_TARGETS 16
#define STYLES 5

/* Not static, and written through a volatile pointer: the compiler must
 * keep every page of it. */
unsigned char bss[BSS_BYTES];

struct target {
	uint64_t *start;
	size_t words;
};
static struct target targets[MAX_TARGETS];
static int target_count;
static volatile int touching_done;

static uint64_t next(uint64_t *state) {
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void find_targets(void) {
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	while (maps && fgets(line, sizeof line, maps) && target_count < MAX_TARGETS) {
		unsigned long start, end;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		if (perms[1] == 'w' && perms[3] == 's')
			targets[target_count++] = (struct target){ (uint64_t *)start, (end - start) / sizeof(uint64_t) };
	}
	if (maps)
		fclose(maps);
}

/* One pass over every target in one style. */
static void scribble(uint64_t *state) {
	for (int t = 0; t < target_count; t++) {
		uint64_t *w = targets[t].start;
		size_t n = targets[t].words;
		int style = (int)(next(state) % STYLES);
		for (size_t i = 0; i < n; i++) {
			switch (style) {
			case 0: w[i] = next(state); break;                         /* noise */
			case 1: w[i] = i < 16 ? i + 1 : (i % 22 == 0 ? i / 22 + 1 : next(state) % 64); break; /* plausible records */
			case 2: w[i] = (i % 3) ? UINT64_MAX : 0x7fffffffffffull; break; /* huge */
			case 3: w[i] = UINT64_MAX; break;
			default: w[i] = 0; break;
			}
		}
	}
}

static void *scribbler(void *arg) {
	uint64_t state = *(uint64_t *)arg;
	while (!touching_done)
		scribble(&state);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	uint64_t state = strtoull(argv[1], NULL, 10) * 0x9e3779b97f4a7c15ull | 1;
	const char *mode = argv[2];
	find_targets();
	if (strcmp(mode, "once") == 0 || strcmp(mode, "both") == 0)
		scribble(&state);
	pthread_t thread;
	int threaded = strcmp(mode, "thread") == 0 || strcmp(mode, "both") == 0;
	uint64_t thread_state = next(&state);
	if (threaded && pthread_create(&thread, NULL, scribbler, &thread_state) != 0)
		return 3;
	uint64_t sum = 0;
	volatile unsigned char *pages = bss;
	for (size_t i = 0; i < BSS_BYTES; i += PAGE) {
		pages[i] = (unsigned char)(i / PAGE);
		sum += pages[i];
	}
	touching_done = 1;
	if (threaded)
		pthread_join(thread, NULL);
	printf("shared=%d sum=%llu done\n", target_count, (unsigned long long)sum);
	return 0;
}
