/*
 * threads_bss.c — threads racing to be first on fresh pages. In each round
 * every thread writes its own slot of every page of a chunk of bss no one
 * has touched yet, all starting together, so several threads fault on the
 * same page at once. A pager that maps a page twice would wipe a slot
 * another thread already wrote. Prints "ok" and a checksum, or what was lost.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define THREADS 8
#define ROUNDS 16
#define PAGES_PER_ROUND 64
#define PAGE 4096

static uint64_t chunks[ROUNDS][PAGES_PER_ROUND][PAGE / sizeof(uint64_t)];
static pthread_barrier_t start;

struct job {
	int id;
};

static void *writer(void *arg) {
	int id = ((struct job *)arg)->id;
	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&start);
		for (int page = 0; page < PAGES_PER_ROUND; page++) {
			/* Threads start on different pages and wrap, so each page sees
			 * several first touches at nearly the same time. */
			int p = (page + id * (PAGES_PER_ROUND / THREADS)) % PAGES_PER_ROUND;
			chunks[round][p][id] = (uint64_t)(round * 1000 + p * 10 + id + 1);
		}
	}
	return NULL;
}

int main(void) {
	pthread_t threads[THREADS];
	struct job jobs[THREADS];
	if (pthread_barrier_init(&start, NULL, THREADS) != 0) {
		fprintf(stderr, "threads_bss: barrier failed\n");
		return 1;
	}
	for (int i = 0; i < THREADS; i++) {
		jobs[i].id = i;
		if (pthread_create(&threads[i], NULL, writer, &jobs[i]) != 0) {
			fprintf(stderr, "threads_bss: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	uint64_t sum = 0;
	int lost = 0;
	for (int round = 0; round < ROUNDS; round++)
		for (int p = 0; p < PAGES_PER_ROUND; p++)
			for (int id = 0; id < THREADS; id++) {
				uint64_t want = (uint64_t)(round * 1000 + p * 10 + id + 1);
				if (chunks[round][p][id] != want)
					lost++;
				sum += chunks[round][p][id];
			}
	if (lost) {
		printf("lost %d writes\n", lost);
		return 1;
	}
	printf("ok %d threads x %d rounds x %d pages, sum %llu\n", THREADS, ROUNDS, PAGES_PER_ROUND,
	       (unsigned long long)sum);
	return 0;
}
