/*
 * maps_dump.c - exercises the process address-space layout.
 *
 * Copies /proc/self/maps verbatim to stdout.  The output is inherently
 * non-deterministic; the test inspects it rather than comparing it.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {
        perror("fopen /proc/self/maps");
        return 1;
    }

    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("fwrite");
            return 1;
        }
    }
    if (ferror(f)) {
        perror("fread /proc/self/maps");
        return 1;
    }
    fclose(f);
    if (fflush(stdout) != 0) {
        perror("fflush");
        return 1;
    }
    return 0;
}
