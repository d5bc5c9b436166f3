/*
 * early_handler.c — a shared library, preloaded after libetsbefriends.so in
 * LD_PRELOAD (so its constructor runs first), that installs a SIGSEGV
 * handler of its own: the friendly library must leave it in charge. Its
 * handler writes "early_handler: caught SIGSEGV" and exits with status 43.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EARLY_STATUS 43

static void on_segv(int sig) {
	(void)sig;
	static const char line[] = "early_handler: caught SIGSEGV\n";
	if (write(STDOUT_FILENO, line, sizeof line - 1) < 0)
		_exit(1);
	_exit(EARLY_STATUS);
}

__attribute__((constructor)) static void install(void) {
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_handler = on_segv;
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGSEGV, &action, NULL) != 0) {
		perror("early_handler: sigaction");
		exit(2);
	}
}
