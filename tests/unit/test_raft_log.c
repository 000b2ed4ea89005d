/* The Raft log in LMDB (store/log.c). */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char dir[64];
static struct store_log *lg;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-raftlog-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char err[256];
    cr_assert_eq(store_log_open(&lg, dir, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
    store_log_close(lg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void append(uint64_t from, uint64_t to, uint64_t term)
{
    struct raft_entry e[256];
    char data[256][16];
    size_t n = 0;
    for (uint64_t i = from; i <= to; i++, n++) {
        snprintf(data[n], sizeof(data[n]), "e%llu.%llu", (unsigned long long)i, (unsigned long long)term);
        e[n] = (struct raft_entry){.term = term, .index = i, .type = RAFT_ENTRY_NORMAL,
                                   .len = (uint32_t)strlen(data[n]), .data = (uint8_t *)data[n]};
    }
    struct store_log_txn *t;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_append(t, e, n), 0);
    cr_assert_eq(store_log_txn_commit(t), 0);
}

TestSuite(raft_log, .init = setup, .fini = teardown);

Test(raft_log, appends_and_reads_back_terms_and_ranges)
{
    append(1, 100, 1);
    cr_assert_eq(store_log_last_index(lg), 100);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 50, &t), 0);
    cr_assert_eq(t, 1);
    cr_assert_eq(store_log_term(lg, 101, &t), STORE_LOG_ERANGE);
    struct raft_entry *e;
    size_t n;
    cr_assert_eq(store_log_entries(lg, 10, 20, &e, &n), 0);
    cr_assert_eq(n, 11);
    cr_assert_eq(e[0].index, 10);
    cr_assert(memcmp(e[0].data, "e10.1", 5) == 0);
    store_log_entries_free(e, n);
}

Test(raft_log, append_replaces_a_conflicting_suffix)
{
    append(1, 50, 1);
    append(30, 40, 2); /* a new leader's entries: 41..50 of term 1 go */
    cr_assert_eq(store_log_last_index(lg), 40);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 29, &t), 0);
    cr_assert_eq(t, 1);
    cr_assert_eq(store_log_term(lg, 30, &t), 0);
    cr_assert_eq(t, 2);
    struct store_log_txn *x;
    cr_assert_eq(store_log_txn_begin(lg, &x), 0);
    cr_assert_eq(store_log_txn_truncate(x, 35), 0);
    cr_assert_eq(store_log_txn_commit(x), 0);
    cr_assert_eq(store_log_last_index(lg), 34);
}

Test(raft_log, a_gap_is_refused)
{
    append(1, 10, 1);
    struct raft_entry e = {.term = 1, .index = 12};
    struct store_log_txn *t;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_append(t, &e, 1), STORE_LOG_EINVAL);
    store_log_txn_abort(t);
}

Test(raft_log, compaction_keeps_the_suffix_and_the_snapshot_meta)
{
    append(1, 100, 3);
    struct raft_snapshot_meta m = {.index = 60, .term = 3, .conf = {.n_voters = 1, .voters = {7}}};
    struct store_log_txn *t;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_compact(t, &m), 0);
    struct raft_hard_state hs = {.term = 3, .vote = 7, .commit = 90};
    cr_assert_eq(store_log_txn_set_hard_state(t, &hs), 0);
    cr_assert_eq(store_log_txn_set_applied(t, 80), 0);
    cr_assert_eq(store_log_txn_commit(t), 0);
    cr_assert_eq(store_log_snapshot_index(lg), 60);
    uint64_t term;
    cr_assert_eq(store_log_term(lg, 60, &term), 0);
    cr_assert_eq(store_log_term(lg, 59, &term), STORE_LOG_ERANGE);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), 0);
    cr_assert_eq(rs.snapshot.meta.index, 60);
    cr_assert_eq(rs.snapshot.meta.conf.voters[0], 7);
    cr_assert_eq(rs.n_entries, 40);
    cr_assert_eq(rs.entries[0].index, 61);
    cr_assert_eq(rs.hard_state.commit, 90);
    cr_assert_eq(rs.applied, 80);
    /* What raft_new needs to restart from it. */
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.id = 7;
    struct raft *r = raft_new(&cfg, &rs);
    cr_assert_not_null(r);
    cr_assert_eq(raft_last_index(r), 100);
    cr_assert_eq(raft_commit_index(r), 90);
    raft_free(r);
    store_log_restore_fini(&rs);
}

/* Deletes walk the cursor across leaf pages rather than seek per record:
 * ranges spanning a few hundred pages must leave exactly the rest. */
Test(raft_log, compaction_and_truncation_across_many_pages)
{
    for (uint64_t i = 1; i <= 20000; i += 250)
        append(i, i + 249, 4);
    struct raft_snapshot_meta m = {.index = 12345, .term = 4, .conf = {.n_voters = 1, .voters = {1}}};
    struct store_log_txn *t;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_compact(t, &m), 0);
    cr_assert_eq(store_log_txn_truncate(t, 17001), 0);
    cr_assert_eq(store_log_txn_commit(t), 0);
    cr_assert_eq(store_log_snapshot_index(lg), 12345);
    cr_assert_eq(store_log_last_index(lg), 17000);
    uint64_t term;
    cr_assert_eq(store_log_term(lg, 12344, &term), STORE_LOG_ERANGE);
    cr_assert_eq(store_log_term(lg, 17001, &term), STORE_LOG_ERANGE);
    struct raft_entry *e;
    size_t n;
    cr_assert_eq(store_log_entries(lg, 12346, 17000, &e, &n), 0);
    cr_assert_eq(n, 17000 - 12346 + 1);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "e%llu.4", (unsigned long long)(12346 + i));
        cr_assert_eq(e[i].index, 12346 + i);
        cr_assert(e[i].len == strlen(want) && memcmp(e[i].data, want, e[i].len) == 0);
    }
    store_log_entries_free(e, n);
}

Test(raft_log, installing_a_snapshot_empties_the_log)
{
    append(1, 20, 1);
    struct raft_snapshot_meta m = {.index = 500, .term = 9, .conf = {.n_voters = 1, .voters = {1}}};
    struct store_log_txn *t;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_install(t, &m), 0);
    cr_assert_eq(store_log_txn_commit(t), 0);
    cr_assert_eq(store_log_last_index(lg), 500);
    append(501, 510, 9);
    cr_assert_eq(store_log_last_index(lg), 510);
}

/* Opens the log's LMDB environment behind its back, for the tests that
 * damage or fake what is on disk; the log must be closed. */
static MDB_env *raw_open(MDB_txn **txn, const char *db, MDB_dbi *dbi)
{
    MDB_env *env;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, txn), 0);
    cr_assert_eq(mdb_dbi_open(*txn, db, MDB_CREATE, dbi), 0);
    return env;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rewrites the run keyed 1 through damage(copy, size). */
static void damage_run(void (*damage)(uint8_t *, size_t))
{
    store_log_close(lg);
    lg = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = raw_open(&txn, "raftlog", &dbi);
    uint8_t kb[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    MDB_val k = {8, kb}, v;
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t copy[4096];
    cr_assert_leq(v.mv_size, sizeof(copy));
    memcpy(copy, v.mv_data, v.mv_size);
    damage(copy, v.mv_size);
    MDB_val nv = {v.mv_size, copy};
    cr_assert_eq(mdb_put(txn, dbi, &k, &nv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char err[256];
    cr_assert_eq(store_log_open(&lg, dir, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
}

static void flip_entry5(uint8_t *run, size_t size)
{
    cr_assert_geq(le32(run), 10);
    uint32_t at = le32(run + 4 + 4 * 4); /* entry 5 is the fifth of the run */
    cr_assert_lt(at + 14, size);
    run[at + 14] ^= 1; /* a byte of its data */
}

Test(raft_log, a_damaged_record_is_reported_not_returned)
{
    append(1, 10, 1);
    damage_run(flip_entry5);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), STORE_LOG_ECORRUPT);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 5, &t), STORE_LOG_ECORRUPT);
    cr_assert_eq(store_log_term(lg, 4, &t), 0, "the run's other entries still read");
    struct raft_entry *e;
    size_t n;
    cr_assert_eq(store_log_entries(lg, 2, 6, &e, &n), STORE_LOG_ECORRUPT);
}

static void bad_count(uint8_t *run, size_t size)
{
    (void)size;
    run[3] = 0x40; /* count far beyond what the value can hold */
}

static void bad_offset(uint8_t *run, size_t size)
{
    uint32_t at = (uint32_t)size + 1; /* entry 3 starting past the end */
    for (int i = 0; i < 4; i++) run[4 + 4 * 2 + i] = (uint8_t)(at >> (8 * i));
}

Test(raft_log, a_damaged_run_header_is_reported)
{
    append(1, 10, 1);
    damage_run(bad_count);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 2, &t), STORE_LOG_ECORRUPT);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), STORE_LOG_ECORRUPT);
}

Test(raft_log, an_offset_outside_its_run_is_reported)
{
    append(1, 10, 1);
    damage_run(bad_offset);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 3, &t), STORE_LOG_ECORRUPT);
    cr_assert_eq(store_log_term(lg, 2, &t), STORE_LOG_ECORRUPT, "entry 2 ends where 3 starts");
    cr_assert_eq(store_log_term(lg, 1, &t), 0);
}

Test(raft_log, overlapping_runs_are_reported)
{
    append(1, 10, 1);
    store_log_close(lg);
    lg = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = raw_open(&txn, "raftlog", &dbi);
    uint8_t k1[8] = {0, 0, 0, 0, 0, 0, 0, 1}, k5[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    MDB_val k = {8, k1}, v;
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t copy[4096];
    memcpy(copy, v.mv_data, v.mv_size);
    MDB_val nk = {8, k5}, nv = {v.mv_size, copy}; /* entries 5..14 again */
    cr_assert_eq(mdb_put(txn, dbi, &nk, &nv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char err[256];
    cr_assert_eq(store_log_open(&lg, dir, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), STORE_LOG_ECORRUPT);
}

/* Entry i's payload: i bytes of (i + j) % 251, so a mix-up between entries
 * or a cut at the wrong place shows. */
static void sized(uint64_t i, uint8_t *buf)
{
    for (uint64_t j = 0; j < i; j++) buf[j] = (uint8_t)((i + j) % 251);
}

/* Entries from 0 bytes to larger than a run, runs cut in their middle by
 * truncation and compaction, and everything read back byte for byte. */
Test(raft_log, entries_of_every_size_across_runs)
{
    static uint8_t data[600][5000];
    struct raft_entry e[600];
    uint64_t len[600];
    for (uint64_t i = 1; i < 600; i++) {
        len[i] = i % 3 ? i % 97 : i * 8; /* mostly small, some up to 4.8 KB */
        sized(len[i], data[i]);
        e[i] = (struct raft_entry){.term = 2, .index = i, .type = RAFT_ENTRY_NORMAL,
                                   .len = (uint32_t)len[i], .data = len[i] ? data[i] : NULL};
    }
    struct store_log_txn *t;
    for (uint64_t from = 1; from < 600; from += 150) { /* four appends */
        cr_assert_eq(store_log_txn_begin(lg, &t), 0);
        cr_assert_eq(store_log_txn_append(t, &e[from], from + 150 <= 600 ? 150 : 600 - from), 0);
        cr_assert_eq(store_log_txn_commit(t), 0);
    }
    cr_assert_eq(store_log_last_index(lg), 599);
    /* Replace 377.. by a new term's entries, then cut at 501, and compact
     * through 123: each lands inside some run. */
    for (uint64_t i = 377; i < 600; i++) e[i].term = 3;
    cr_assert_eq(store_log_txn_begin(lg, &t), 0);
    cr_assert_eq(store_log_txn_append(t, &e[377], 600 - 377), 0);
    cr_assert_eq(store_log_txn_truncate(t, 501), 0);
    struct raft_snapshot_meta m = {.index = 123, .term = 2, .conf = {.n_voters = 1, .voters = {1}}};
    cr_assert_eq(store_log_txn_compact(t, &m), 0);
    cr_assert_eq(store_log_txn_commit(t), 0);
    cr_assert_eq(store_log_last_index(lg), 500);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), 0);
    cr_assert_eq(rs.n_entries, 500 - 123);
    for (size_t x = 0; x < rs.n_entries; x++) {
        uint64_t i = 124 + x;
        const struct raft_entry *g = &rs.entries[x];
        cr_assert_eq(g->index, i);
        cr_assert_eq(g->term, i >= 377 ? 3 : 2);
        cr_assert_eq(g->len, len[i]);
        cr_assert(len[i] == 0 || memcmp(g->data, data[i], len[i]) == 0, "entry %llu",
                  (unsigned long long)i);
    }
    store_log_restore_fini(&rs);
    uint64_t term;
    cr_assert_eq(store_log_term(lg, 122, &term), STORE_LOG_ERANGE);
    cr_assert_eq(store_log_term(lg, 123, &term), 0);
    cr_assert_eq(store_log_term(lg, 377, &term), 0);
    cr_assert_eq(term, 3);
}

/* A log written one record per entry in "log" moves into runs when opened;
 * a record that was damaged stays damaged. */
Test(raft_log, a_log_of_the_older_layout_moves_into_runs)
{
    store_log_close(lg);
    lg = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = raw_open(&txn, "log", &dbi);
    for (uint64_t i = 1; i <= 300; i++) {
        uint8_t kb[8], rec[64];
        for (int b = 0; b < 8; b++) kb[b] = (uint8_t)(i >> (56 - 8 * b));
        uint64_t term = i < 200 ? 1 : 2;
        for (int b = 0; b < 8; b++) rec[b] = (uint8_t)(term >> (8 * b));
        rec[8] = RAFT_ENTRY_NORMAL;
        int n = snprintf((char *)rec + 13, sizeof(rec) - 13, "old%llu", (unsigned long long)i);
        uint32_t crc = raft_crc32c(raft_crc32c(0, rec, 9), rec + 13, (size_t)n);
        if (i == 250) crc ^= 1; /* damaged before the move */
        for (int b = 0; b < 4; b++) rec[9 + b] = (uint8_t)(crc >> (8 * b));
        MDB_val k = {8, kb}, v = {13 + (size_t)n, rec};
        cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    char err[256];
    cr_assert_eq(store_log_open(&lg, dir, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(store_log_last_index(lg), 300);
    struct raft_entry *e;
    size_t n;
    cr_assert_eq(store_log_entries(lg, 1, 249, &e, &n), 0);
    cr_assert_eq(n, 249);
    for (size_t x = 0; x < n; x++) {
        char want[32];
        snprintf(want, sizeof(want), "old%zu", x + 1);
        cr_assert(e[x].len == strlen(want) && memcmp(e[x].data, want, e[x].len) == 0);
        cr_assert_eq(e[x].term, x + 1 < 200 ? 1 : 2);
    }
    store_log_entries_free(e, n);
    uint64_t t;
    cr_assert_eq(store_log_term(lg, 250, &t), STORE_LOG_ECORRUPT);
    cr_assert_eq(store_log_term(lg, 251, &t), 0);
    store_log_close(lg);
    lg = NULL;
    env = raw_open(&txn, "raftlog", &dbi);
    MDB_dbi old;
    cr_assert_eq(mdb_dbi_open(txn, "log", 0, &old), MDB_NOTFOUND, "the old database is gone");
    MDB_stat st;
    cr_assert_eq(mdb_stat(txn, dbi, &st), 0);
    cr_assert_lt(st.ms_entries, 300 / 20, "%zu runs for 300 entries", st.ms_entries);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    cr_assert_eq(store_log_open(&lg, dir, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
}

/* Runs a single-voter node on the LMDB log, one transaction per turn: the
 * ready's entries and hard state, then the apply (here just the applied
 * index), committed together; the node restarts from store_log_load. */
static void drive(struct raft *r, uint64_t *applied)
{
    while (raft_has_ready(r)) {
        struct raft_ready rd;
        raft_ready(r, &rd);
        struct store_log_txn *t;
        cr_assert_eq(store_log_txn_begin(lg, &t), 0);
        cr_assert_eq(store_log_txn_save_ready(t, &rd), 0);
        if (rd.n_committed) {
            *applied = rd.committed[rd.n_committed - 1].index;
            cr_assert_eq(store_log_txn_set_applied(t, *applied), 0);
        }
        cr_assert_eq(store_log_txn_commit(t), 0);
        raft_advance(r);
    }
}

Test(raft_log, a_node_restarts_from_what_it_persisted)
{
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.bootstrap.n_voters = 1;
    cfg.bootstrap.voters[0] = 1;
    struct raft *r = raft_new(&cfg, NULL);
    uint64_t applied = 0;
    for (int i = 0; i < 30 && raft_role(r) != RAFT_LEADER; i++) {
        raft_tick(r);
        drive(r, &applied);
    }
    cr_assert_eq(raft_role(r), RAFT_LEADER);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(raft_propose(r, "payload", 7, NULL, NULL), 0);
        drive(r, &applied);
    }
    uint64_t term = raft_term(r), last = raft_last_index(r);
    cr_assert_eq(applied, last);
    raft_free(r);

    struct raft_restore rs;
    cr_assert_eq(store_log_load(lg, &rs), 0);
    cr_assert_eq(rs.hard_state.term, term);
    cr_assert_eq(rs.hard_state.vote, 1);
    cr_assert_eq(rs.hard_state.commit, last);
    cr_assert_eq(rs.applied, last);
    r = raft_new(&cfg, &rs);
    store_log_restore_fini(&rs);
    cr_assert_eq(raft_last_index(r), last);
    cr_assert_eq(raft_applied_index(r), last, "nothing is applied twice");
    for (int i = 0; i < 30 && raft_role(r) != RAFT_LEADER; i++) {
        raft_tick(r);
        drive(r, &applied);
    }
    cr_assert_eq(raft_role(r), RAFT_LEADER);
    cr_assert_gt(raft_term(r), term);
    cr_assert_eq(raft_commit_index(r), last + 1, "the new term's no-op commits");
    raft_free(r);
}
