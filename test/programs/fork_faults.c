/*
 * fork_faults.c — threads taking first-touch faults while another thread
 * forks, over and over: under userfaultfd paging, the kernel refuses to
 * fill a page (EAGAIN) while a fork is in progress, and a fault server that
 * gives up on such a fault leaves its thread waiting for ever.
 *
 * argv[1]: rounds (default 20). Each round, TOUCHERS threads touch fresh
 * pages of their own slice of a large bss while the main thread forks
 * FORKS children, each of which touches a few fresh pages of its own and
 * exits with their checksum's low byte. Prints the total and "ok".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define TOUCHERS 4
#define FORKS 4
#define PAGES_PER_ROUND 64
#define MAX_ROUNDS 64
#define CHILD_PAGES 8

/* Every toucher gets its own pages each round; children touch the slice
 * after the last round's. */
static unsigned char memory[(TOUCHERS * MAX_ROUNDS + FORKS) * PAGES_PER_ROUND * PAGE];

struct toucher {
	int index;
	int round;
	unsigned long sum;
};

static void *touch(void *arg) {
	struct toucher *t = arg;
	unsigned char *slice = &memory[((size_t)t->round * TOUCHERS + (size_t)t->index) * PAGES_PER_ROUND * PAGE];
	for (int p = 0; p < PAGES_PER_ROUND; p++) {
		volatile unsigned char *byte = &slice[(size_t)p * PAGE + (size_t)t->index];
		*byte = (unsigned char)(p + t->index);
		t->sum += *byte;
	}
	return NULL;
}

static int child_touch(int child) {
	unsigned char *slice = &memory[((size_t)TOUCHERS * MAX_ROUNDS + (size_t)child) * PAGES_PER_ROUND * PAGE];
	unsigned sum = 0;
	for (int p = 0; p < CHILD_PAGES; p++) {
		volatile unsigned char *byte = &slice[(size_t)p * PAGE];
		*byte = (unsigned char)(p * 3 + child);
		sum += *byte;
	}
	return (int)(sum & 0xff);
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "fork_faults: rounds must be 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	unsigned long total = 0;
	for (int round = 0; round < rounds; round++) {
		pthread_t threads[TOUCHERS];
		struct toucher touchers[TOUCHERS];
		for (int i = 0; i < TOUCHERS; i++) {
			touchers[i] = (struct toucher){ .index = i, .round = round, .sum = 0 };
			if (pthread_create(&threads[i], NULL, touch, &touchers[i]) != 0) {
				perror("pthread_create");
				return 1;
			}
		}
		for (int c = 0; c < FORKS; c++) {
			pid_t pid = fork();
			if (pid < 0) {
				perror("fork");
				return 1;
			}
			if (pid == 0)
				_exit(child_touch(c));
			int status;
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
				fprintf(stderr, "fork_faults: child %d did not exit\n", c);
				return 1;
			}
			total += (unsigned long)WEXITSTATUS(status);
		}
		for (int i = 0; i < TOUCHERS; i++) {
			pthread_join(threads[i], NULL);
			total += touchers[i].sum;
		}
	}
	printf("total=%lu\nok\n", total);
	return 0;
}
