/*
 * touch_pages.c - many page faults: touches N distinct pages of a 1 GiB
 * .bss (262144 pages of 4 KiB), for runs with 100 000 faults and more.
 *
 * Usage: touch_pages N [seq|random]
 *   seq     pages 0, 1, ..., N-1 (default)
 *   random  the first N pages of a fixed-seed full-period LCG's order
 *           modulo the page count, so every page touched is distinct
 *
 * Each touched page is checked to read as zero, then written.
 * Prints: pages=N sum=S
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u
#define NPAGES 262144u /* a power of two: the LCG below has full period */

static unsigned char big[(size_t)NPAGES * PAGE] __attribute__((aligned(PAGE)));

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    const char *order = argc > 2 ? argv[2] : "seq";
    if (n < 1 || n > (long)NPAGES || (strcmp(order, "seq") != 0 && strcmp(order, "random") != 0)) {
        fprintf(stderr, "usage: %s N [seq|random] (1 <= N <= %u)\n", argv[0], NPAGES);
        return 2;
    }
    int random_order = strcmp(order, "random") == 0;
    uint64_t sum = 0;
    uint32_t page = 0;
    for (long i = 0; i < n; i++) {
        /* x -> 5x + 12345 mod 2^18: a = 1 (mod 4), c odd, full period. */
        page = random_order ? (page * 5u + 12345u) % NPAGES : (uint32_t)i;
        volatile unsigned char *p = big + (size_t)page * PAGE;
        if (p[0] != 0) {
            printf("page %u not zero before first write\n", page);
            return 1;
        }
        p[0] = (unsigned char)(page | 1u);
        sum += p[0];
    }
    printf("pages=%ld sum=%llu\n", n, (unsigned long long)sum);
    return 0;
}
