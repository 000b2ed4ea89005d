/* The raft core alone: 3 nodes in one process, messages handed over as
 * structs (no encoding, no I/O, no fsync), the leader proposing batches of
 * 100-byte entries. Prints committed entries per second and CPU per entry. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"

#define N 3

static struct raft *nodes[N + 1];
static uint64_t applied[N + 1];

static double now_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Handles one node's ready, delivering its messages at once (the receiver is
 * never inside a ready of its own here). */
static int pump(int i)
{
    if (!raft_has_ready(nodes[i])) return 0;
    struct raft_ready rd;
    raft_ready(nodes[i], &rd);
    for (size_t k = 0; k < rd.n_msgs_now; k++) raft_step(nodes[rd.msgs_now[k].to], &rd.msgs_now[k]);
    for (size_t k = 0; k < rd.n_msgs_after; k++) raft_step(nodes[rd.msgs_after[k].to], &rd.msgs_after[k]);
    if (rd.n_committed) applied[i] = rd.committed[rd.n_committed - 1].index;
    raft_advance(nodes[i]);
    return 1;
}

static void pump_all(void)
{
    int busy = 1;
    while (busy) {
        busy = 0;
        for (int i = 1; i <= N; i++) busy |= pump(i);
    }
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    int batch = argc > 2 ? atoi(argv[2]) : 1000;
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.max_msg_bytes = 1 << 20;
    cfg.max_inflight_msgs = 256;
    for (int i = 1; i <= N; i++) cfg.bootstrap.voters[cfg.bootstrap.n_voters++] = (uint64_t)i;
    for (int i = 1; i <= N; i++) {
        cfg.id = (uint64_t)i;
        cfg.seed = (uint64_t)i;
        nodes[i] = raft_new(&cfg, NULL);
    }
    for (int t = 0; t < 40 && raft_role(nodes[1]) != RAFT_LEADER; t++) {
        for (int i = 1; i <= N; i++) raft_tick(nodes[i]);
        pump_all();
    }
    int leader = 0;
    for (int i = 1; i <= N; i++)
        if (raft_role(nodes[i]) == RAFT_LEADER) leader = i;
    if (!leader) {
        fprintf(stderr, "no leader\n");
        return 1;
    }
    uint8_t payload[100];
    memset(payload, 'x', sizeof(payload));
    uint64_t start_applied = applied[leader];
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t proposed = 0;
    while (applied[leader] - start_applied < total) {
        for (int b = 0; b < batch && proposed < total; b++, proposed++) {
            if (raft_propose(nodes[leader], payload, sizeof(payload), NULL, NULL) != 0) {
                fprintf(stderr, "propose refused\n");
                return 1;
            }
        }
        pump_all();
        /* Keep memory flat: compact every node behind its applied index. */
        for (int i = 1; i <= N; i++)
            if (applied[i] - raft_snapshot_index(nodes[i]) > 200000) raft_compact(nodes[i], applied[i], "s", 1);
    }
    double w = now_s(CLOCK_MONOTONIC) - w0, c = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    uint64_t n = applied[leader] - start_applied;
    printf("raft core, 3 nodes in one process, 100-byte entries, batches of %d: "
           "%.0f entries/s committed, %.0f ns CPU per entry (%llu entries, %.2f s)\n",
           batch, (double)n / w, c * 1e9 / (double)n, (unsigned long long)n, w);
    for (int i = 1; i <= N; i++) raft_free(nodes[i]);
    return 0;
}
