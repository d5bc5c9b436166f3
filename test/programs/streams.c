/*
 * streams.c - standard streams, directory and environment, for spawn()'s
 * tests: whatever it does, it does the same natively and under a pager.
 *
 * Usage: streams MODE [ARGS]
 *   copy           copy standard input to standard output, then write
 *                  "streams: N bytes in" on standard error
 *   generate N S   write N bytes of a fixed pattern (seed S) to standard
 *                  output, then "streams: N bytes out" on standard error
 *   where          print the working directory and the kind of each of
 *                  descriptors 0, 1 and 2 (file, pipe, socket, character
 *                  device, memfd) on standard output
 *   env NAME...    print NAME=VALUE (or NAME unset) for each
 *   beyond N       print the kind of each of descriptors 3 to N-1, and
 *                  write "hello on fdK" to each that is a socket
 *   wait           print "ready", then sleep until a signal ends it
 *
 * The buffer is written before any read(2) fills it: a SIGSEGV-paged
 * program must touch a page before the kernel writes into it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUFFER_BYTES 65536
static unsigned char buffer[BUFFER_BYTES];

static int write_all(int fd, const unsigned char *bytes, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, bytes, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        bytes += n;
        length -= (size_t)n;
    }
    return 0;
}

static int copy(void)
{
    unsigned long long total = 0;
    memset(buffer, 0, sizeof buffer);
    for (;;) {
        ssize_t n = read(0, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("streams: read");
            return 1;
        }
        if (n == 0)
            break;
        if (write_all(1, buffer, (size_t)n) != 0) {
            perror("streams: write");
            return 1;
        }
        total += (unsigned long long)n;
    }
    fprintf(stderr, "streams: %llu bytes in\n", total);
    return 0;
}

static int generate(unsigned long long count, uint64_t seed)
{
    uint64_t state = seed ? seed : 1;
    unsigned long long left = count;
    while (left > 0) {
        size_t chunk = left < sizeof buffer ? (size_t)left : sizeof buffer;
        for (size_t i = 0; i < chunk; i++) {
            /* xorshift64 */
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            buffer[i] = (unsigned char)state;
        }
        if (write_all(1, buffer, chunk) != 0) {
            perror("streams: write");
            return 1;
        }
        left -= chunk;
    }
    fprintf(stderr, "streams: %llu bytes out\n", count);
    return 0;
}

static const char *kind(int fd)
{
    struct stat st;
    char link[64], target[256];
    if (fstat(fd, &st) != 0)
        return "closed";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    if (strncmp(target, "/memfd:", 7) == 0)
        return "memfd";
    if (S_ISREG(st.st_mode))
        return "file";
    if (S_ISFIFO(st.st_mode))
        return "pipe";
    if (S_ISSOCK(st.st_mode))
        return "socket";
    if (S_ISCHR(st.st_mode))
        return strcmp(target, "/dev/null") == 0 ? "null" : "character device";
    return "other";
}

static int where(void)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
        perror("streams: getcwd");
        return 1;
    }
    printf("cwd=%s\n", cwd);
    for (int fd = 0; fd < 3; fd++)
        printf("fd%d=%s\n", fd, kind(fd));
    return fflush(stdout) == 0 ? 0 : 1;
}

static int beyond(int end)
{
    char line[32];
    for (int fd = 3; fd < end; fd++) {
        const char *what = kind(fd);
        printf("fd%d=%s\n", fd, what);
        if (strcmp(what, "socket") == 0) {
            int length = snprintf(line, sizeof line, "hello on fd%d\n", fd);
            if (write_all(fd, (const unsigned char *)line, (size_t)length) != 0)
                return 1;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "copy") == 0)
        return copy();
    if (strcmp(mode, "generate") == 0 && argc > 3)
        return generate(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    if (strcmp(mode, "where") == 0)
        return where();
    if (strcmp(mode, "beyond") == 0 && argc > 2)
        return beyond(atoi(argv[2]));
    if (strcmp(mode, "env") == 0) {
        for (int i = 2; i < argc; i++) {
            const char *value = getenv(argv[i]);
            if (value)
                printf("%s=%s\n", argv[i], value);
            else
                printf("%s unset\n", argv[i]);
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strcmp(mode, "wait") == 0) {
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    fprintf(stderr, "usage: %s copy | generate N SEED | where | env NAME... | beyond N | wait\n", argv[0]);
    return 2;
}
