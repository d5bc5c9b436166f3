/*
 * args_env.c - exercises argument and environment passing.
 *
 * Prints argc, every argv[i] as "argv[i]=...", then every environment
 * variable whose name starts with FAULTLINE_TEST_ (in environ order) as
 * "env=NAME=VALUE".  Exit status is atoi(FAULTLINE_TEST_EXIT) if set,
 * else 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv)
{
    static const char prefix[] = "FAULTLINE_TEST_";

    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, prefix, sizeof prefix - 1) == 0)
            printf("env=%s\n", *e);

    const char *code = getenv("FAULTLINE_TEST_EXIT");
    if (fflush(stdout) != 0) {
        perror("fflush");
        return 1;
    }
    return code ? atoi(code) : 0;
}
