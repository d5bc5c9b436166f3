/*
 * malloc_brk_mmap.c - exercises the program break (brk/sbrk) and anonymous
 * mmap through glibc malloc.
 *
 * Many small blocks are allocated; they must be served from the brk heap,
 * so sbrk(0) has to move upward and every small block must lie inside the
 * heap range.  Several large blocks (>= 1 MiB, above the mmap threshold)
 * are allocated; they must be served by mmap and lie outside the heap
 * range.  All blocks are filled with patterns, verified and freed.
 *
 * The heap range is [brk_end - arena, brk_end) where arena is the number
 * of bytes malloc obtained via sbrk (mallinfo2().arena; only the main arena
 * exists because no thread is created).
 *
 * Prints: small=ok brk_grew=yes large=ok outside_heap=yes
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSMALL 4000
#define NLARGE 5

static unsigned char pattern(size_t block, size_t i)
{
    return (unsigned char)(block * 131 + i * 7 + 1);
}

static size_t small_size(size_t i)
{
    return 16 + (i * 40) % 1009;   /* 16 .. 1024 bytes */
}

int main(void)
{
    static unsigned char *small[NSMALL];
    static const size_t large_mib[NLARGE] = { 1, 2, 3, 4, 8 };
    unsigned char *large[NLARGE];

    void *brk_start = sbrk(0);
    if (brk_start == (void *)-1) {
        perror("sbrk(0)");
        return 1;
    }

    /* Small blocks: expected to come from the brk heap. */
    for (size_t b = 0; b < NSMALL; b++) {
        size_t n = small_size(b);
        small[b] = malloc(n);
        if (!small[b]) {
            printf("malloc(%zu) failed\n", n);
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            small[b][i] = pattern(b, i);
    }

    void *brk_end = sbrk(0);
    if (brk_end == (void *)-1) {
        perror("sbrk(0)");
        return 1;
    }
    int brk_grew = (uintptr_t)brk_end > (uintptr_t)brk_start;

    struct mallinfo2 mi = mallinfo2();
    uintptr_t heap_hi = (uintptr_t)brk_end;
    uintptr_t heap_lo = heap_hi - mi.arena;
    if (mi.arena == 0 || mi.arena > heap_hi)
        heap_lo = heap_hi;   /* nothing from brk: every in-heap check fails */

    int small_ok = 1, small_in_heap = 1;
    for (size_t b = 0; b < NSMALL; b++) {
        size_t n = small_size(b);
        uintptr_t p = (uintptr_t)small[b];
        if (p < heap_lo || p + n > heap_hi)
            small_in_heap = 0;
        for (size_t i = 0; i < n; i++)
            if (small[b][i] != pattern(b, i))
                small_ok = 0;
    }

    /* Large blocks: all allocated before any is freed, so the dynamic mmap
     * threshold cannot grow in between and every one is served by mmap. */
    for (size_t b = 0; b < NLARGE; b++) {
        size_t n = large_mib[b] << 20;
        large[b] = malloc(n);
        if (!large[b]) {
            printf("malloc(%zu) failed\n", n);
            return 1;
        }
        for (size_t i = 0; i < n; i += 97)
            large[b][i] = pattern(b + 1000, i);
        large[b][n - 1] = 0xa5;
    }

    /* Heap end may have moved again (malloc bookkeeping); re-read it. */
    void *brk_now = sbrk(0);
    if (brk_now == (void *)-1) {
        perror("sbrk(0)");
        return 1;
    }
    if ((uintptr_t)brk_now > heap_hi)
        heap_hi = (uintptr_t)brk_now;

    int large_ok = 1, outside_heap = 1;
    for (size_t b = 0; b < NLARGE; b++) {
        size_t n = large_mib[b] << 20;
        uintptr_t p = (uintptr_t)large[b];
        if (p < heap_hi && p + n > heap_lo)
            outside_heap = 0;
        for (size_t i = 0; i < n; i += 97)
            if (large[b][i] != pattern(b + 1000, i))
                large_ok = 0;
        if (large[b][n - 1] != 0xa5)
            large_ok = 0;
    }

    for (size_t b = 0; b < NLARGE; b++)
        free(large[b]);
    for (size_t b = 0; b < NSMALL; b += 2)      /* free in two passes */
        free(small[b]);
    for (size_t b = 1; b < NSMALL; b += 2)
        free(small[b]);

    small_ok = small_ok && small_in_heap;
    printf("small=%s brk_grew=%s large=%s outside_heap=%s\n",
           small_ok ? "ok" : "bad", brk_grew ? "yes" : "no",
           large_ok ? "ok" : "bad", outside_heap ? "yes" : "no");
    return (small_ok && brk_grew && large_ok && outside_heap) ? 0 : 1;
}
