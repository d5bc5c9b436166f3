/*
 * bss_touch.c - exercises demand paging of a large .bss segment.
 *
 * A 256 MiB zero-initialized array (65536 pages of 4 KiB) is touched in a
 * pattern chosen by argv[1]; each touched page is checked to read as zero
 * before it is written, then a byte is written and read back into a
 * checksum.
 *
 * Usage: bss_touch [one|seq [PAGES]|stride N|random]
 *   one       touch only the first page (default)
 *   seq       touch every page (or the first PAGES) in ascending order
 *   stride N  touch pages 0, N, 2N, ... (N >= 1)
 *   random    touch every page exactly once in a pseudo-random order given
 *             by a fixed-seed full-period LCG modulo the page count
 *
 * Prints: pages=<touched> checksum=<hex>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE (256u << 20)
#define PAGE 4096u
#define NPAGES (ARRAY_SIZE / PAGE)      /* 65536, a power of two */

/* Page-aligned, so touching "page i" touches exactly one page. */
unsigned char big[ARRAY_SIZE] __attribute__((aligned(PAGE)));

static uint64_t checksum = 1469598103934665603ULL;
static size_t touched;

static void touch(size_t p)
{
    volatile unsigned char *page = (volatile unsigned char *)big + p * PAGE;
    size_t off = (p * 67) % PAGE;

    if (page[off] != 0 || page[0] != 0) {
        printf("page %zu not zero before first write\n", p);
        exit(1);
    }
    page[off] = (unsigned char)(p * 31 + 7) | 1;
    uint64_t v = page[off];
    checksum = (checksum ^ (v << 32 ^ p ^ (uint64_t)touched << 16))
               * 1099511628211ULL;
    touched++;
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [one|seq [PAGES]|stride N|random]\n", prog);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "one";

    if (strcmp(mode, "one") == 0) {
        touch(0);
    } else if (strcmp(mode, "seq") == 0) {
        /* An optional page count limits the scan to the first pages. */
        size_t pages = NPAGES;
        if (argc > 2) {
            char *end;
            long n = strtol(argv[2], &end, 10);
            if (*argv[2] == '\0' || *end != '\0' || n < 1 || (size_t)n > NPAGES)
                usage(argv[0]);
            pages = (size_t)n;
        }
        for (size_t p = 0; p < pages; p++)
            touch(p);
    } else if (strcmp(mode, "stride") == 0) {
        if (argc < 3)
            usage(argv[0]);
        char *end;
        long n = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || n < 1)
            usage(argv[0]);
        for (size_t p = 0; p < NPAGES; p += (size_t)n)
            touch(p);
    } else if (strcmp(mode, "random") == 0) {
        /* x' = (a*x + c) mod 2^16 with c odd and a = 1 (mod 4) has full
         * period (Hull-Dobell), so every page is visited exactly once. */
        uint32_t x = 12345;
        for (size_t i = 0; i < NPAGES; i++) {
            x = (1103515245u * x + 12345u) & (NPAGES - 1);
            touch(x);
        }
    } else {
        usage(argv[0]);
    }

    printf("pages=%zu checksum=%016llx\n", touched,
           (unsigned long long)checksum);
    return 0;
}
