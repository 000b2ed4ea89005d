/* store-bench: apply throughput of the store alone.
 *
 *   store-bench DIR N [BATCH [VALUE_SIZE [sync]]]
 *
 * Prepares N "SET key:<i> <value>" entries (as a leader would), then applies
 * them in write transactions of BATCH entries each (applied_index included)
 * and prints entries/s for the apply+commit phase. The environment is left
 * in DIR, so it also builds a store with N keys for the restart test.
 *
 * Keys are key:<i> in order (ids written as they are issued), or, with
 * STORE_BENCH_KEYS=random, key:<64-bit hash of i> (no locality at all). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: store-bench DIR N [BATCH [VALUE_SIZE [sync]]]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = atol(argv[2]);
    long batch = argc > 3 ? atol(argv[3]) : 1000;
    long vsize = argc > 4 ? atol(argv[4]) : 16;
    int sync = argc > 5 && strcmp(argv[5], "sync") == 0;
    struct store *s;
    char err[256];
    size_t map = (size_t)n * (size_t)(vsize + 200) * 3 + (64u << 20);
    if (store_open(&s, dir, map, sync ? 0 : STORE_NOSYNC, err, sizeof(err)) != 0) {
        fprintf(stderr, "store-bench: %s\n", err);
        return 1;
    }
    char *value = malloc((size_t)vsize + 1);
    memset(value, 'v', (size_t)vsize);
    value[vsize] = 0;
    struct resp_buf entries, reply;
    resp_buf_init(&entries);
    resp_buf_init(&reply);
    size_t *offs = malloc(sizeof(size_t) * (size_t)(n + 1));
    const char *kind = getenv("STORE_BENCH_KEYS");
    int random_keys = kind != NULL && strcmp(kind, "random") == 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        char key[32];
        int kl;
        if (random_keys) {
            uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            kl = snprintf(key, sizeof(key), "key:%016llx", (unsigned long long)(z ^ (z >> 31)));
        } else {
            kl = snprintf(key, sizeof(key), "key:%ld", i);
        }
        char *av[3] = {"SET", key, value};
        size_t al[3] = {3, (size_t)kl, (size_t)vsize};
        offs[i] = entries.len;
        if (store_prepare(s, 3, av, al, 1700000000000ULL, 0, &entries, &reply) != 1) {
            fprintf(stderr, "store-bench: prepare failed\n");
            return 1;
        }
    }
    offs[n] = entries.len;
    if (getenv("STORE_BENCH_PREALLOCATE"))
        store_preallocate(s, (size_t)atol(getenv("STORE_BENCH_PREALLOCATE")) << 20,
                          (size_t)atol(getenv("STORE_BENCH_PREALLOCATE")) << 20);
    double t1 = now_s();
    for (long i = 0; i < n;) {
        struct store_txn *t;
        if (store_txn_begin(s, &t) != 0)
            return 1;
        long end = i + batch < n ? i + batch : n;
        for (; i < end; i++) {
            resp_buf_reset(&reply);
            int rc = store_txn_apply(t, 0, entries.data + offs[i], offs[i + 1] - offs[i], &reply,
                                     NULL);
            if (rc != 0) {
                fprintf(stderr, "store-bench: apply: %s\n", store_strerror(rc));
                return 1;
            }
        }
        /* As the node does: the batch's entries go into the Raft log in
         * the same transaction (keep 1024, as NODE_LOG_KEEP). */
        int rc = store_txn_log_applied(t, 1024);
        if (rc == 0)
            rc = store_txn_commit(t);
        if (rc != 0) {
            fprintf(stderr, "store-bench: commit: %s\n", store_strerror(rc));
            return 1;
        }
    }
    double t2 = now_s();
    printf("store-bench: %ld SET entries (%s keys, value %ld B) in batches of %ld: prepare "
           "%.0f/s, apply+commit %.0f entries/s (%.2f s)\n",
           n, random_keys ? "random" : "sequential", vsize, batch, (double)n / (t1 - t0),
           (double)n / (t2 - t1), t2 - t1);
    store_close(s);
    free(offs);
    free(value);
    resp_buf_fini(&entries);
    resp_buf_fini(&reply);
    return 0;
}
