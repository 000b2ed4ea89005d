/* store + Raft log on one environment: a turn's log entries, hard state,
 * apply and applied_index commit in ONE LMDB transaction, or not at all. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tests/support/support.h"

static struct store *open_store(const char *dir)
{
    struct store *s;
    char err[256];
    int rc = store_open(&s, dir, 64 << 20, STORE_NOSYNC, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    return s;
}

/* Prepares SET key val into e. */
static void prep_set(struct store *s, const char *key, const char *val, struct resp_buf *e)
{
    char *argv[3] = {"SET", (char *)key, (char *)val};
    size_t len[3] = {3, strlen(key), strlen(val)};
    struct resp_buf out;
    resp_buf_init(&out);
    resp_buf_reset(e);
    cr_assert_eq(store_prepare(s, 3, argv, len, 1000, 7, e, &out), 1);
    resp_buf_fini(&out);
}

/* Begins a txn and applies SET k<i> v<i> for i in [from, from+n); keeps a
 * copy of each entry in ents. */
static struct store_txn *apply_sets(struct store *s, int from, int n, struct resp_buf *ents)
{
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    for (int i = 0; i < n; i++) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "k%d", from + i);
        snprintf(v, sizeof(v), "v%d", from + i);
        struct resp_buf e;
        resp_buf_init(&e);
        prep_set(s, k, v, &e);
        cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), 0);
        if (ents) {
            resp_buf_init(&ents[i]);
            resp_buf_append(&ents[i], e.data, e.len);
        }
        resp_buf_fini(&e);
    }
    return t;
}

static int has_key(struct store *s, const char *key)
{
    char *argv[2] = {"EXISTS", (char *)key};
    size_t len[2] = {6, strlen(key)};
    struct resp_buf out;
    resp_buf_init(&out);
    cr_assert_eq(store_read(s, 2, argv, len, 1000, &out), 0);
    int yes = out.len >= 2 && memcmp(out.data, ":1", 2) == 0;
    resp_buf_fini(&out);
    return yes;
}

/* Nothing of a turn is visible: no log, no hard state, no apply. */
static void assert_empty(struct store *s)
{
    struct raft_restore rs;
    cr_assert_eq(store_applied_index(s), 0);
    cr_assert_eq(store_log_last_index(store_log_of(s)), 0);
    cr_assert_eq(store_log_load(store_log_of(s), &rs), 0);
    cr_assert_eq(rs.n_entries, 0);
    cr_assert_eq(rs.hard_state.term, 0, "hard state written by an uncommitted turn");
    cr_assert_eq(rs.applied, 0);
    store_log_restore_fini(&rs);
    cr_assert(!has_key(s, "k0"));
}

Test(store_log, abort_before_commit_leaves_nothing)
{
    char *d = support_tmpdir("ferry-store-log-test");
    struct store *s = open_store(d);
    struct store_txn *t = apply_sets(s, 0, 3, NULL);
    cr_assert_eq(store_txn_log_applied(t, 0), 0);
    store_txn_abort(t);
    assert_empty(s);
    store_close(s);
    s = open_store(d);
    assert_empty(s);
    store_close(s);
    support_rmdir(d);
}

Test(store_log, failed_log_write_fails_the_commit_and_leaves_nothing)
{
    char *d = support_tmpdir("ferry-store-log-test");
    struct store *s = open_store(d);
    struct store_txn *t = apply_sets(s, 0, 3, NULL);
    cr_assert_eq(store_txn_log_applied(t, 0), 0);
    /* Injected failure on the log side, after entries and hard state went in. */
    store_log_txn_abort(store_txn_log(t));
    cr_assert_eq(store_txn_commit(t), STORE_EIO);
    assert_empty(s);
    store_close(s);
    support_rmdir(d);
}

Test(store_log, commit_holds_entries_hard_state_apply_and_applied_index)
{
    char *d = support_tmpdir("ferry-store-log-test");
    struct store *s = open_store(d);
    struct resp_buf ents[5];
    struct store_txn *t = apply_sets(s, 0, 3, ents);
    cr_assert_eq(store_txn_log_applied(t, 0), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    t = apply_sets(s, 3, 2, ents + 3);
    cr_assert_eq(store_txn_log_applied(t, 0), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    store_close(s);

    s = open_store(d); /* what is on disk */
    cr_assert_eq(store_applied_index(s), 5);
    cr_assert_eq(store_log_last_index(store_log_of(s)), 5);
    struct raft_restore rs;
    cr_assert_eq(store_log_load(store_log_of(s), &rs), 0);
    cr_assert_eq(rs.applied, 5);
    cr_assert_eq(rs.hard_state.term, 1);
    cr_assert_eq(rs.hard_state.commit, 5);
    cr_assert_eq(rs.n_entries, 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(rs.entries[i].index, i + 1);
        cr_assert_eq(rs.entries[i].term, 1);
        cr_assert_eq(rs.entries[i].type, RAFT_ENTRY_NORMAL);
        cr_assert_eq(rs.entries[i].len, ents[i].len);
        cr_assert(memcmp(rs.entries[i].data, ents[i].data, ents[i].len) == 0,
                  "log entry %zu is not the applied entry", i + 1);
        resp_buf_fini(&ents[i]);
    }
    store_log_restore_fini(&rs);
    cr_assert(has_key(s, "k0") && has_key(s, "k4"));
    store_close(s);
    support_rmdir(d);
}

Test(store_log, compaction_keeps_between_keep_and_twice_keep)
{
    char *d = support_tmpdir("ferry-store-log-test");
    struct store *s = open_store(d);
    for (int i = 0; i < 50; i++) {
        struct store_txn *t = apply_sets(s, i, 1, NULL);
        cr_assert_eq(store_txn_log_applied(t, 4), 0);
        cr_assert_eq(store_txn_commit(t), 0);
        uint64_t last = store_log_last_index(store_log_of(s));
        uint64_t snap = store_log_snapshot_index(store_log_of(s));
        cr_assert_eq(last, store_applied_index(s));
        cr_assert(last - snap <= 8 && (last < 4 || last - snap >= 4), "last %llu snap %llu",
                  (unsigned long long)last, (unsigned long long)snap);
    }
    cr_assert_eq(store_applied_index(s), 50);
    store_close(s);
    support_rmdir(d);
}

Test(store_log, open_refuses_a_log_above_applied_index)
{
    char *d = support_tmpdir("ferry-store-log-test");
    struct store *s = open_store(d);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    uint8_t data[4] = "junk";
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL, .len = 4, .data = data};
    cr_assert_eq(store_log_txn_append(store_txn_log(t), &e, 1), 0);
    cr_assert_eq(store_txn_commit(t), 0); /* a log entry nobody applied */
    store_close(s);
    char err[256];
    cr_assert_eq(store_open(&s, d, 64 << 20, STORE_NOSYNC, err, sizeof(err)), STORE_ECORRUPT);
    cr_assert(strstr(err, "above applied_index") != NULL, "%s", err);
    support_rmdir(d);
}
