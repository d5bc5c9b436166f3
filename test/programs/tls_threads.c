/*
 * tls_threads.c - exercises thread-local storage (.tdata and .tbss) and
 * pthread creation.
 *
 * Declares __thread and _Thread_local variables with non-zero initializers
 * (.tdata), zero ones (.tbss), and an over-aligned one.  Eight threads each
 * check that they start with the initial values, mutate their own copies in
 * a loop and return a checksum.  Main checks every thread saw the initial
 * values, that main's own copies were left untouched, and prints the
 * per-thread checksums in thread order followed by "ok".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8
#define ITERS 1000

static __thread int tls_int = 42;                       /* .tdata */
static __thread uint64_t tls_u64 = 0x0123456789abcdefULL; /* .tdata */
static _Thread_local char tls_str[16] = "faultline";    /* .tdata */
static __thread int tls_zero;                           /* .tbss */
static _Thread_local uint32_t tls_zero_arr[256];        /* .tbss */
static _Thread_local _Alignas(64) uint32_t tls_aligned = 7; /* over-aligned */

struct result {
    int index;
    int saw_init;          /* 1 if all TLS variables had their initial values */
    uint64_t checksum;
};

static int tls_is_initial(void)
{
    if (tls_int != 42 || tls_u64 != 0x0123456789abcdefULL)
        return 0;
    if (strcmp(tls_str, "faultline") != 0)
        return 0;
    if (tls_zero != 0 || tls_aligned != 7)
        return 0;
    if (((uintptr_t)&tls_aligned & 63) != 0)
        return 0;
    for (size_t i = 0; i < sizeof tls_zero_arr / sizeof tls_zero_arr[0]; i++)
        if (tls_zero_arr[i] != 0)
            return 0;
    return 1;
}

static void *worker(void *arg)
{
    struct result *r = arg;

    r->saw_init = tls_is_initial();

    for (int i = 0; i < ITERS; i++) {
        tls_int += r->index + 1;
        tls_u64 = tls_u64 * 6364136223846793005ULL + (uint64_t)r->index;
        tls_str[i % 9] = (char)('a' + (i + r->index) % 26);
        tls_zero += i;
        tls_zero_arr[i % 256] += (uint32_t)(i * (r->index + 1));
        tls_aligned ^= (uint32_t)i << (r->index % 8);
    }

    uint64_t sum = (uint64_t)(uint32_t)tls_int;
    sum = sum * 31 + tls_u64;
    for (int i = 0; i < 9; i++)
        sum = sum * 31 + (unsigned char)tls_str[i];
    sum = sum * 31 + (uint32_t)tls_zero;
    for (int i = 0; i < 256; i++)
        sum = sum * 31 + tls_zero_arr[i];
    sum = sum * 31 + tls_aligned;
    r->checksum = sum;
    return r;
}

int main(void)
{
    pthread_t tid[NTHREADS];
    struct result res[NTHREADS];
    int failed = 0;

    if (!tls_is_initial()) {
        printf("main: TLS not initialised before threads start\n");
        return 1;
    }

    for (int i = 0; i < NTHREADS; i++) {
        res[i].index = i;
        res[i].saw_init = 0;
        res[i].checksum = 0;
        int err = pthread_create(&tid[i], NULL, worker, &res[i]);
        if (err != 0) {
            printf("pthread_create failed: %s\n", strerror(err));
            return 1;
        }
    }

    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        int err = pthread_join(tid[i], &ret);
        if (err != 0) {
            printf("pthread_join failed: %s\n", strerror(err));
            return 1;
        }
        if (ret != &res[i]) {
            printf("thread %d returned wrong value\n", i);
            failed = 1;
        }
    }

    for (int i = 0; i < NTHREADS; i++) {
        printf("thread %d checksum=%016llx\n", i,
               (unsigned long long)res[i].checksum);
        if (!res[i].saw_init) {
            printf("thread %d did not see initial TLS values\n", i);
            failed = 1;
        }
    }

    if (!tls_is_initial()) {
        printf("main: TLS values were modified by other threads\n");
        failed = 1;
    }

    if (failed)
        return 1;
    printf("ok\n");
    return 0;
}
