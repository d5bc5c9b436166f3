/*
 * signal_report.c — which signals reach the program, and how often.
 *
 *   signal_report COUNT [SIGNAL...]
 *
 * Handles each SIGNAL (numbers; default: 1 2 3 10 12 14 15 28) with
 * SA_ONSTACK, as CPython installs its handlers, without an alternate stack
 * of its own. Prints "ready" (flushed), then waits until COUNT signals have
 * arrived or 10 seconds have passed, and prints each arrival in order as
 * "got N", then "done". Exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARRIVALS 64
#define WAIT_SECONDS 10

static volatile sig_atomic_t arrivals[MAX_ARRIVALS];
static volatile sig_atomic_t count;

static void note(int sig) {
	/* A local on the handler's stack: a bad alternate stack faults here. */
	volatile int depth = sig;
	if (count < MAX_ARRIVALS)
		arrivals[count] = depth;
	count++;
}

int main(int argc, char **argv) {
	int wanted = argc > 1 ? atoi(argv[1]) : 1;
	static const int defaults[] = { 1, 2, 3, 10, 12, 14, 15, 28 };
	struct sigaction action = { 0 };
	action.sa_handler = note;
	action.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&action.sa_mask);
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			sigaction(atoi(argv[i]), &action, NULL);
	} else {
		for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
			sigaction(defaults[i], &action, NULL);
	}
	printf("ready\n");
	fflush(stdout);
	time_t until = time(NULL) + WAIT_SECONDS;
	while (count < wanted && time(NULL) < until) {
		struct timespec nap = { 0, 10 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	/* Late duplicates would show up here. */
	struct timespec settle = { 0, 200 * 1000 * 1000 };
	nanosleep(&settle, NULL);
	for (int i = 0; i < count && i < MAX_ARRIVALS; i++)
		printf("got %d\n", (int)arrivals[i]);
	printf("done\n");
	return 0;
}
