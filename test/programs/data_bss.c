/*
 * data_bss.c - exercises the .data / .bss boundary.
 *
 * An initialized 5000-byte array (non-zero pattern) in .data makes the
 * file-backed part of the data segment end in the middle of a page; the
 * bss arrays that follow must read as zero, including the bytes that share
 * that last partially file-backed page (the loader has to zero the tail of
 * the page after p_filesz).  The program verifies the .data pattern and the
 * zeroed .bss, writes to both, re-verifies, and prints "data=ok bss=ok".
 *
 * Whether the bss array really shares a page with the end of .data is
 * reported on stderr only (it depends on the link), so stdout stays
 * identical across variants.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DATA_SIZE 5000
#define BSS_SIZE  (3 * 4096)

/* Pattern value of data byte i; never zero. */
#define P(i) ((unsigned char)((i) * 7 % 251 + 1))
#define R10(b)   P((b) + 0), P((b) + 1), P((b) + 2), P((b) + 3), P((b) + 4), \
                 P((b) + 5), P((b) + 6), P((b) + 7), P((b) + 8), P((b) + 9)
#define R100(b)  R10((b) + 0), R10((b) + 10), R10((b) + 20), R10((b) + 30), \
                 R10((b) + 40), R10((b) + 50), R10((b) + 60), R10((b) + 70), \
                 R10((b) + 80), R10((b) + 90)
#define R1000(b) R100((b) + 0), R100((b) + 100), R100((b) + 200), \
                 R100((b) + 300), R100((b) + 400), R100((b) + 500), \
                 R100((b) + 600), R100((b) + 700), R100((b) + 800), \
                 R100((b) + 900)

/* Non-static so the compiler cannot reason about their contents. */
unsigned char data_arr[DATA_SIZE] = {
    R1000(0), R1000(1000), R1000(2000), R1000(3000), R1000(4000)
};
unsigned char bss_arr[BSS_SIZE];
int bss_small;                 /* a few more zero-initialized objects */
long bss_words[64];

extern char edata[];           /* end of .data, provided by the linker */

static int check_data(const volatile unsigned char *d, int written)
{
    for (size_t i = 0; i < DATA_SIZE; i++) {
        unsigned char want = written ? (unsigned char)(P(i) ^ 0x5a) : P(i);
        if (d[i] != want) {
            printf("data[%zu]=%u, expected %u\n", i, d[i], want);
            return 0;
        }
    }
    return 1;
}

static int check_bss(const volatile unsigned char *b, int written)
{
    for (size_t i = 0; i < BSS_SIZE; i++) {
        unsigned char want = written ? (unsigned char)(i % 253 + 1) : 0;
        if (b[i] != want) {
            printf("bss[%zu]=%u, expected %u\n", i, b[i], want);
            return 0;
        }
    }
    const volatile int *s = &bss_small;
    const volatile long *w = bss_words;
    if (*s != (written ? 77 : 0)) {
        printf("bss_small=%d\n", *s);
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        if (w[i] != (written ? (long)i * 3 : 0)) {
            printf("bss_words[%zu]=%ld\n", i, w[i]);
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    volatile unsigned char *d = data_arr;
    volatile unsigned char *b = bss_arr;

    uintptr_t page = 4096;
    uintptr_t data_end = (uintptr_t)edata;
    uintptr_t bss_lo = (uintptr_t)bss_arr, bss_hi = bss_lo + BSS_SIZE;
    uintptr_t tail_lo = data_end, tail_hi = (data_end + page - 1) & ~(page - 1);
    fprintf(stderr, "data_bss: .data ends %s page boundary; bss_arr %s the "
            "last .data page\n",
            data_end % page ? "mid-page, not on a" : "exactly on a",
            (bss_lo < tail_hi && bss_hi > tail_lo) ? "shares" : "does not share");

    int data_ok = check_data(d, 0);
    int bss_ok = check_bss(b, 0);

    for (size_t i = 0; i < DATA_SIZE; i++)
        d[i] ^= 0x5a;
    for (size_t i = 0; i < BSS_SIZE; i++)
        b[i] = (unsigned char)(i % 253 + 1);
    *(volatile int *)&bss_small = 77;
    for (size_t i = 0; i < 64; i++)
        ((volatile long *)bss_words)[i] = (long)i * 3;

    data_ok = data_ok && check_data(d, 1);
    bss_ok = bss_ok && check_bss(b, 1);

    printf("data=%s bss=%s\n", data_ok ? "ok" : "bad", bss_ok ? "ok" : "bad");
    return (data_ok && bss_ok) ? 0 : 1;
}
