/*
 * fork_exec.c - exercises fork, execve of another program, waitpid and
 * exit status reporting from a loaded process.
 *
 * First child execs /bin/echo child says-hello; the parent waits and prints
 * "child exited 0".  Second child calls _exit(5); the parent prints
 * "second child exited 5".  stdout is flushed before each fork so buffered
 * output is not duplicated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Wait for pid and return its exit status; exit(1) if it did not exit. */
static int wait_for(pid_t pid, const char *what)
{
    int status;
    pid_t r;

    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        perror("waitpid");
        exit(1);
    }
    if (!WIFEXITED(status)) {
        printf("%s did not exit normally (status 0x%x)\n", what, status);
        exit(1);
    }
    return WEXITSTATUS(status);
}

static pid_t fork_checked(void)
{
    if (fflush(stdout) != 0) {
        perror("fflush");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    return pid;
}

int main(void)
{
    pid_t pid = fork_checked();
    if (pid == 0) {
        char *const args[] = { "/bin/echo", "child", "says-hello", NULL };
        execv(args[0], args);
        perror("execv /bin/echo");
        _exit(127);
    }
    int st = wait_for(pid, "child");
    printf("child exited %d\n", st);
    if (st != 0)
        return 1;

    pid = fork_checked();
    if (pid == 0)
        _exit(5);
    st = wait_for(pid, "second child");
    printf("second child exited %d\n", st);
    if (st != 5)
        return 1;

    return 0;
}
