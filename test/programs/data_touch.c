/*
 * data_touch.c - exercises a large file-backed initialized (.data) segment.
 *
 * A 16 MiB array is initialized so that every 4 KiB page is filled with a
 * non-zero value derived from its page number (GNU range designators), so
 * it lands in .data (file-backed) rather than .bss and every page has
 * distinct content.  The program reads every byte of every page, checks
 * each page holds its expected value and prints the per-page-weighted sum.
 *
 * Prints: pages=4096 sum=<decimal>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE 4096u
#define NPAGES 4096u                      /* 16 MiB */
#define ARRAY_SIZE (NPAGES * PAGE)

/* Expected value of every byte in page p; never zero. */
#define V(p) ((unsigned char)((p) * 13 % 255 + 1))

#define PG(p)   [(p) * PAGE ... (p) * PAGE + PAGE - 1] = V(p)
#define R8(b)   PG((b) + 0), PG((b) + 1), PG((b) + 2), PG((b) + 3), \
                PG((b) + 4), PG((b) + 5), PG((b) + 6), PG((b) + 7)
#define R64(b)  R8((b) + 0), R8((b) + 8), R8((b) + 16), R8((b) + 24), \
                R8((b) + 32), R8((b) + 40), R8((b) + 48), R8((b) + 56)
#define R512(b) R64((b) + 0), R64((b) + 64), R64((b) + 128), R64((b) + 192), \
                R64((b) + 256), R64((b) + 320), R64((b) + 384), R64((b) + 448)

/* Non-static so the compiler cannot fold the reads. */
unsigned char big[ARRAY_SIZE] = {
    R512(0), R512(512), R512(1024), R512(1536),
    R512(2048), R512(2560), R512(3072), R512(3584)
};

int main(void)
{
    const volatile unsigned char *a = big;
    uint64_t sum = 0;

    for (size_t p = 0; p < NPAGES; p++) {
        const volatile unsigned char *page = a + p * PAGE;
        uint64_t page_sum = 0;
        for (size_t i = 0; i < PAGE; i++)
            page_sum += page[i];
        if (page_sum != (uint64_t)V(p) * PAGE) {
            printf("page %zu: sum %llu, expected %llu\n", p,
                   (unsigned long long)page_sum,
                   (unsigned long long)V(p) * PAGE);
            return 1;
        }
        sum += page_sum * (p + 1);
    }

    printf("pages=%u sum=%llu\n", NPAGES, (unsigned long long)sum);
    return 0;
}
