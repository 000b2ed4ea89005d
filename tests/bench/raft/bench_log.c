/* LMDB Raft log: synced appends per second at batch sizes 1, 10, 100, 1000
 * (one transaction per batch, 100-byte entries), next to the raw fdatasync
 * rate of the same file system measured in the same run.
 * usage: bench_log DIR [SECONDS-PER-CASE] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    const char *dir = argv[1];
    double secs = argc > 2 ? atof(argv[2]) : 2.0;

    /* Raw rate: 100-byte write + fdatasync, as a WAL would do. */
    char path[512];
    snprintf(path, sizeof(path), "%s/fsync.probe", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return 2;
    char block[100];
    memset(block, 'f', sizeof(block));
    long syncs = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs) {
        if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fdatasync(fd) != 0) return 2;
        syncs++;
    }
    double raw = (double)syncs / (now_s() - t0);
    close(fd);
    unlink(path);
    printf("raw fdatasync (100-byte writes): %.0f syncs/s\n", raw);

    char err[256];
    struct store_log *l;
    if (store_log_open(&l, dir, 4ull << 30, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    static struct raft_entry ents[1000];
    static uint8_t data[100];
    memset(data, 'e', sizeof(data));
    uint64_t next = 1;
    int sizes[] = {1, 10, 100, 1000};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int b = sizes[s];
        long txns = 0;
        t0 = now_s();
        while (now_s() - t0 < secs) {
            for (int i = 0; i < b; i++)
                ents[i] = (struct raft_entry){.term = 1, .index = next + (uint64_t)i,
                                              .type = RAFT_ENTRY_NORMAL, .len = 100, .data = data};
            struct store_log_txn *t;
            struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = next};
            if (store_log_txn_begin(l, &t) || store_log_txn_append(t, ents, (size_t)b) ||
                store_log_txn_set_hard_state(t, &hs) || store_log_txn_commit(t)) {
                fprintf(stderr, "append failed\n");
                return 1;
            }
            next += (uint64_t)b;
            txns++;
            /* keep the database small: compact behind */
            if (next > 200000) {
                struct raft_snapshot_meta m = {.index = next - 1000, .term = 1};
                if (store_log_txn_begin(l, &t) || store_log_txn_compact(t, &m) || store_log_txn_commit(t))
                    return 1;
            }
        }
        double el = now_s() - t0;
        printf("lmdb raft log, batch %4d: %8.0f entries/s, %6.0f synced txns/s (%.2f x raw fdatasync)\n", b,
               (double)txns * b / el, (double)txns / el, (double)txns / el / raw);
    }
    store_log_close(l);
    return 0;
}
