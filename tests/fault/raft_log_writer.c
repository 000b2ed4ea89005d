/* Crash-test writer for the LMDB Raft log: appends, replaces suffixes (a new
 * leader's entries), truncates, commits and compacts at random, one synced
 * transaction per step, printing an acknowledgement line after each commit.
 * Started again after every kill -9, it first verifies what it finds against
 * the last acknowledgement it printed:
 *   - the log loads: no gap, no damaged record, terms never go down;
 *   - every entry holds exactly the bytes written for its (index, term): no torn entry;
 *   - the hard state is not behind the acknowledged one (term, commit);
 *   - the acknowledged committed entry is still there with its term.
 * usage: raft_log_writer DIR SEED [ACK-LINE] [--check] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The payload of (index, term): its length and bytes follow from both. */
static uint32_t payload(uint64_t index, uint64_t term, uint8_t *buf)
{
    uint64_t h = index * 0x9e3779b97f4a7c15ULL ^ term * 0xc2b2ae3d27d4eb4fULL;
    uint32_t len = (uint32_t)(h % 3000);
    for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)(h >> (i % 56)) ^ (uint8_t)i;
    return len;
}

static int bad(const char *what)
{
    fprintf(stderr, "raft log crash check FAILED: %s\n", what);
    return 3;
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    const char *dir = argv[1];
    rng = strtoull(argv[2], NULL, 10);
    unsigned long long a_commit = 0, a_term_at = 0, a_hs_term = 0;
    int check_only = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--check")) check_only = 1;
        else sscanf(argv[i], "A %llu %llu %llu", &a_commit, &a_term_at, &a_hs_term);
    }
    char err[256];
    struct store_log *l;
    if (store_log_open(&l, dir, 1ull << 30, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct raft_restore rs;
    int rc = store_log_load(l, &rs);
    if (rc) return bad(store_log_strerror(rc));
    static uint8_t buf[4096];
    for (size_t i = 0; i < rs.n_entries; i++) {
        const struct raft_entry *e = &rs.entries[i];
        uint32_t len = payload(e->index, e->term, buf);
        if (e->len != len || (len && memcmp(e->data, buf, len) != 0)) return bad("torn or foreign entry");
    }
    if (rs.hard_state.term < a_hs_term) return bad("hard state term behind the acknowledged one");
    if (rs.hard_state.commit < a_commit) return bad("commit index behind the acknowledged one");
    uint64_t snap = rs.snapshot.meta.index;
    uint64_t last = snap + rs.n_entries;
    if (a_commit > last) return bad("acknowledged committed entries are missing");
    if (a_commit > snap) {
        uint64_t t = rs.entries[a_commit - snap - 1].term;
        if (t != a_term_at) return bad("an acknowledged committed entry changed");
    }
    uint64_t term = rs.hard_state.term, commit = rs.hard_state.commit;
    uint64_t last_term = rs.n_entries ? rs.entries[rs.n_entries - 1].term : rs.snapshot.meta.term;
    if (last_term > term) return bad("an entry has a term above the hard state's");
    store_log_restore_fini(&rs);
    if (check_only) {
        printf("raft log consistent: snapshot %llu, last %llu, commit %llu, term %llu\n",
               (unsigned long long)snap, (unsigned long long)last, (unsigned long long)commit,
               (unsigned long long)term);
        store_log_close(l);
        return 0;
    }
    if (term == 0) term = 1;
    for (uint64_t step = 0;; step++) {
        struct store_log_txn *t;
        if (store_log_txn_begin(l, &t)) return bad("txn begin");
        int op = (int)(rnd() % 100);
        uint64_t from = last + 1;
        if (op < 15 && last > commit) {
            term++; /* a new leader overwrites the uncommitted suffix */
            from = commit + 1 + rnd() % (last - commit);
        } else if (op < 22 && last > commit) {
            from = commit + 1 + rnd() % (last - commit);
            if (store_log_txn_truncate(t, from)) return bad("truncate");
            last = from - 1;
            from = 0;
        } else if (op < 35 && last > commit) {
            commit += 1 + rnd() % (last - commit);
            from = 0;
        } else if (op < 42 && commit > snap) {
            uint64_t upto = snap + 1 + rnd() % (commit - snap);
            uint64_t ut;
            if (store_log_term(l, upto, &ut)) return bad("term of compaction point");
            struct raft_snapshot_meta m = {.index = upto, .term = ut, .conf = {.n_voters = 1, .voters = {1}}};
            if (store_log_txn_compact(t, &m)) return bad("compact");
            snap = upto;
            from = 0;
        }
        if (from) {
            size_t n = 1 + (size_t)(rnd() % (rnd() % 8 == 0 ? 400 : 30));
            static struct raft_entry ents[400];
            static uint8_t data[400][3000];
            for (size_t i = 0; i < n; i++) {
                ents[i].index = from + i;
                ents[i].term = term;
                ents[i].type = RAFT_ENTRY_NORMAL;
                ents[i].len = payload(from + i, term, data[i]);
                ents[i].data = data[i];
            }
            if (store_log_txn_append(t, ents, n)) return bad("append");
            last = from + n - 1;
        }
        struct raft_hard_state hs = {.term = term, .vote = 1, .commit = commit};
        if (store_log_txn_set_hard_state(t, &hs)) return bad("hard state");
        if (store_log_txn_commit(t)) return bad("commit");
        uint64_t at = 0;
        if (commit > snap && store_log_term(l, commit, &at)) return bad("term at commit");
        /* One write(2) per line: a kill leaves whole lines only. */
        char line[128];
        int len = snprintf(line, sizeof(line), "A %llu %llu %llu\n", (unsigned long long)(commit > snap ? commit : 0),
                           (unsigned long long)at, (unsigned long long)term);
        if (write(1, line, (size_t)len) != len) return 2;
    }
}
