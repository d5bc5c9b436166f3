/*
 * data_touch.c - exercises a large file-backed initialized (.data) segment.
 *
 * A 16 MiB array gets one non-zero marker byte per 4 KiB page (value and
 * in-page offset derived from the page number) through designated
 * initializers, so it lands in .data (file-backed) rather than .bss and
 * every page has distinct content.  (Filling whole pages with range
 * designators makes gcc take ~30 s and ~1.7 GB; one marker per page is
 * enough to prove each page came from the right file offset.)  The program
 * reads every byte of every page, checks each page holds exactly its marker
 * and prints a page-weighted sum.
 *
 * Prints: pages=4096 sum=<decimal>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE 4096u
#define NPAGES 4096u                      /* 16 MiB */
#define ARRAY_SIZE (NPAGES * PAGE)

/* Marker value and its offset inside page p; the value is never zero. */
#define V(p)   ((unsigned char)((p) * 13 % 255 + 1))
#define OFF(p) ((p) * 67 % PAGE)

#define PG(p)   [(p) * PAGE + OFF(p)] = V(p)
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
        if (page[OFF(p)] != V(p) || page_sum != V(p)) {
            printf("page %zu: marker %u (expected %u), byte sum %llu\n", p,
                   page[OFF(p)], V(p), (unsigned long long)page_sum);
            return 1;
        }
        sum += page_sum * (p + 1) + OFF(p);
    }

    printf("pages=%u sum=%llu\n", NPAGES, (unsigned long long)sum);
    return 0;
}
