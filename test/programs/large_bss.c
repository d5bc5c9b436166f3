/*
 * large_bss.c - exercises a large zero-filled (.bss) segment.
 *
 * A 64 MiB static array lives in .bss.  Selected 4 KiB pages are checked
 * to be zero before they are written, then a pattern is written into each
 * of them; finally the whole array is read back into a checksum (which also
 * proves untouched pages are still zero).
 *
 * Usage: large_bss [all|half]
 *   all  (default) touch every page
 *   half           touch every second page
 *
 * Prints: pages=<touched> checksum=<hex>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE (64u << 20)
#define PAGE 4096u
#define NPAGES (ARRAY_SIZE / PAGE)

unsigned char big[ARRAY_SIZE];   /* non-static: contents unknown to compiler */

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    size_t step;

    if (strcmp(mode, "all") == 0) {
        step = 1;
    } else if (strcmp(mode, "half") == 0) {
        step = 2;
    } else {
        fprintf(stderr, "usage: %s [all|half]\n", argv[0]);
        return 2;
    }

    volatile unsigned char *a = big;
    size_t touched = 0;

    for (size_t p = 0; p < NPAGES; p += step) {
        volatile unsigned char *page = a + p * PAGE;
        for (size_t i = 0; i < PAGE; i++) {
            if (page[i] != 0) {
                printf("page %zu byte %zu is %u before first write\n",
                       p, i, page[i]);
                return 1;
            }
        }
        uint32_t v = (uint32_t)(p * 2654435761u);
        page[0] = (unsigned char)(p | 1);
        page[(p * 64) % PAGE + 1] = (unsigned char)(v >> 8);
        page[PAGE - 1] = (unsigned char)(v >> 24);
        touched++;
    }

    /* Read everything back; untouched pages contribute zeros. */
    uint64_t sum = 1469598103934665603ULL;
    for (size_t off = 0; off < ARRAY_SIZE; off += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, big + off, sizeof w);
        sum = (sum ^ w) * 1099511628211ULL;
    }

    printf("pages=%zu checksum=%016llx\n", touched, (unsigned long long)sum);
    return 0;
}
