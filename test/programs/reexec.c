/*
 * reexec: runs itself again through /proc/self/exe, as node's
 * child_process.fork and perl's $^X do, and says how the copy ended.
 *
 *   reexec          -> "again: hello", "the copy exited 0"
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "again") == 0) {
		puts("again: hello");
		return 0;
	}
	fflush(stdout);
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		char *again[] = { argv[0], "again", NULL };
		execv("/proc/self/exe", again);
		perror("execv /proc/self/exe");
		_exit(127);
	}
	int status;
	if (waitpid(child, &status, 0) != child) {
		perror("waitpid");
		return 1;
	}
	if (WIFEXITED(status))
		printf("the copy exited %d\n", WEXITSTATUS(status));
	else
		printf("the copy died of signal %d\n", WTERMSIG(status));
	return 0;
}
