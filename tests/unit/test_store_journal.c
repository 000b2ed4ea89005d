/* store: the journal (sync on): replay after a crash, torn records, the
 * epoch a checkpoint starts, and a turn whose record cannot be written. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/support/support.h"
#include "store/store_int.h"

static struct store *open_store(const char *dir, unsigned flags)
{
    struct store *s;
    char err[256];
    int rc = store_open(&s, dir, 64 << 20, flags, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    return s;
}

/* One turn: the write command (split on spaces) prepared at time 1000 and
 * committed; returns store_txn_commit's result. */
static int write_turn(struct store *s, const char *line)
{
    static char copy[16 << 10]; /* up to a 10 KB value */
    char *argv[16];
    size_t len[16];
    snprintf(copy, sizeof(copy), "%s", line);
    int argc = support_split(copy, argv, len, 16);
    struct resp_buf e, out;
    resp_buf_init(&e);
    resp_buf_init(&out);
    cr_assert_eq(store_prepare(s, argc, argv, len, 1000, 7, &e, &out), 1, "%s", line);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &out, NULL), 0);
    cr_assert_eq(store_txn_log_applied(t, 0), 0);
    int rc = store_txn_commit(t);
    resp_buf_fini(&e);
    resp_buf_fini(&out);
    return rc;
}

static void write_keys(struct store *s, const char *prefix, int from, int to)
{
    char line[64];
    for (int i = from; i < to; i++) {
        snprintf(line, sizeof(line), "SET %s%d v%d", prefix, i, i);
        cr_assert_eq(write_turn(s, line), 0, "%s", line);
    }
}

static int has_key(struct store *s, const char *key)
{
    char *argv[2] = {"EXISTS", (char *)key};
    size_t len[2] = {6, strlen(key)};
    struct resp_buf out;
    resp_buf_init(&out);
    cr_assert_eq(store_read(s, 2, argv, len, 1000, &out), 0);
    int yes = out.len == 4 && memcmp(out.data, ":1\r\n", 4) == 0;
    resp_buf_fini(&out);
    return yes;
}

/* Runs fn(dir) in a child that ends with _exit, as a killed process does:
 * no checkpoint at close, only what the journal holds survives. */
static void crash_after(const char *dir, void (*fn)(const char *))
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        fn(dir);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %d", status);
}

static void hundred_turns(const char *dir)
{
    struct store *s = open_store(dir, 0);
    write_keys(s, "k", 0, 100);
}

Test(store_journal, acknowledged_turns_survive_a_crash_byte_for_byte)
{
    char *d = support_tmpdir("ferry-journal-test");
    crash_after(d, hundred_turns);
    struct store *s = open_store(d, 0);
    cr_assert_eq(store_applied_index(s), 100);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        cr_assert(has_key(s, k), "%s lost", k);
    }
    /* The same turns applied directly, without a journal: the same store. */
    char *d2 = support_tmpdir("ferry-journal-test");
    struct store *direct = open_store(d2, STORE_NOSYNC);
    write_keys(direct, "k", 0, 100);
    struct resp_buf a, b;
    resp_buf_init(&a);
    resp_buf_init(&b);
    cr_assert_eq(store_dump(s, &a), 0);
    cr_assert_eq(store_dump(direct, &b), 0);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    resp_buf_fini(&a);
    resp_buf_fini(&b);
    store_close(direct);
    store_close(s);
    support_rmdir(d);
    support_rmdir(d2);
}

static uint64_t journal_end(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/journal", dir);
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0);
    uint64_t off = 0;
    unsigned char hdr[48];
    while (pread(fd, hdr, sizeof(hdr), (off_t)off) == (ssize_t)sizeof(hdr) &&
           store_get_u32(hdr) == 0x4a595246u)
        off += sizeof(hdr) + store_get_u64(hdr + 32);
    close(fd);
    return off;
}

Test(store_journal, a_torn_last_record_is_not_replayed_and_the_journal_goes_on)
{
    char *d = support_tmpdir("ferry-journal-test");
    crash_after(d, hundred_turns);
    /* The last turn's sync never returned: one byte of it is wrong. */
    uint64_t end = journal_end(d);
    char path[512];
    snprintf(path, sizeof(path), "%s/journal", d);
    int fd = open(path, O_RDWR);
    unsigned char c;
    cr_assert_eq(pread(fd, &c, 1, (off_t)end - 1), 1);
    c ^= 0x20;
    cr_assert_eq(pwrite(fd, &c, 1, (off_t)end - 1), 1);
    close(fd);

    struct store *s = open_store(d, 0);
    cr_assert_eq(store_applied_index(s), 99);
    cr_assert(has_key(s, "k98"));
    cr_assert(!has_key(s, "k99"));
    struct store_stats st;
    store_get_stats(s, &st);
    uint64_t torn_at = st.journal_bytes;
    cr_assert_lt(torn_at, end);
    /* The next record goes where the torn one was. */
    cr_assert_eq(write_turn(s, "SET again:12345 1"), 0);
    store_get_stats(s, &st);
    cr_assert_gt(st.journal_bytes, torn_at);
    cr_assert_eq(st.journal_bytes, journal_end(d));
    store_close(s);
    s = open_store(d, 0);
    cr_assert(has_key(s, "again:12345"));
    cr_assert_eq(store_applied_index(s), 100);
    store_close(s);
    support_rmdir(d);
}

static void checkpoint_then_more(const char *dir)
{
    struct store *s = open_store(dir, 0);
    write_keys(s, "a", 0, 50);
    cr_assert_eq(store_checkpoint(s), 0);
    struct store_stats st;
    store_get_stats(s, &st);
    cr_assert_eq(st.journal_bytes, 0);
    cr_assert_eq(st.checkpoints, 1);
    write_keys(s, "b", 0, 5); /* over the first records of the older epoch */
}

Test(store_journal, a_checkpoint_starts_an_epoch_whose_records_alone_are_replayed)
{
    char *d = support_tmpdir("ferry-journal-test");
    crash_after(d, checkpoint_then_more);
    struct store *s = open_store(d, 0);
    cr_assert_eq(store_applied_index(s), 55);
    cr_assert(has_key(s, "a49"));
    cr_assert(has_key(s, "b4"));
    store_close(s); /* a clean close checkpoints: nothing left to replay */
    s = open_store(d, 0);
    struct store_stats st;
    store_get_stats(s, &st);
    cr_assert_eq(st.journal_bytes, 0);
    cr_assert_eq(store_applied_index(s), 55);
    store_close(s);
    support_rmdir(d);
}

/* store_set_checkpoint_every: a commit checkpoints once the journal holds
 * that many entries, or that many bytes, whichever comes first; 0 is the
 * default. */
Test(store_journal, checkpoints_come_at_the_thresholds_set)
{
    char *d = support_tmpdir("ferry-journal-test");
    struct store *s = open_store(d, 0);
    struct store_stats st;
    store_set_checkpoint_every(s, 1 << 20, 10);
    write_keys(s, "e", 0, 25); /* one entry a turn */
    store_get_stats(s, &st);
    cr_assert_eq(st.checkpoints, 2, "%llu", (unsigned long long)st.checkpoints);
    cr_assert_gt(st.journal_bytes, 0);
    /* By bytes: turns of a 10 KB value against 64 KB. */
    store_set_checkpoint_every(s, 64 << 10, 1000000);
    static char line[11 << 10];
    int n = snprintf(line, sizeof(line), "SET big ");
    memset(line + n, 'x', 10 << 10);
    line[n + (10 << 10)] = 0;
    uint64_t before = st.checkpoints;
    for (int i = 0; i < 7; i++)
        cr_assert_eq(write_turn(s, line), 0);
    store_get_stats(s, &st);
    cr_assert_eq(st.checkpoints, before + 1, "%llu", (unsigned long long)st.checkpoints);
    /* The defaults again: 30 small turns make none. */
    store_set_checkpoint_every(s, 0, 0);
    before = st.checkpoints;
    write_keys(s, "f", 0, 30);
    store_get_stats(s, &st);
    cr_assert_eq(st.checkpoints, before);
    store_close(s);
    support_rmdir(d);
}

Test(store_journal, a_turn_whose_record_cannot_be_written_is_taken_back)
{
    char *d = support_tmpdir("ferry-journal-test");
    struct store *s = open_store(d, 0);
    write_keys(s, "k", 0, 3);
    /* A journal that refuses writes, as a failing disk does. */
    char path[512];
    snprintf(path, sizeof(path), "%s/journal", d);
    int good = s->jfd;
    s->jfd = open(path, O_RDONLY);
    cr_assert(s->jfd >= 0);
    cr_assert_eq(write_turn(s, "SET lost x"), STORE_EDISK);
    cr_assert_eq(store_last_errno(s), EBADF);
    cr_assert(!has_key(s, "lost"));
    cr_assert(has_key(s, "k2"));
    cr_assert_eq(store_applied_index(s), 3);
    close(s->jfd);
    s->jfd = good;
    cr_assert_eq(write_turn(s, "SET kept y"), 0);
    store_close(s);
    s = open_store(d, 0);
    cr_assert(has_key(s, "kept"));
    cr_assert(!has_key(s, "lost"));
    cr_assert_eq(store_applied_index(s), 4);
    store_close(s);
    support_rmdir(d);
}

Test(store_journal, a_full_map_refuses_the_write_and_keeps_what_was_acknowledged)
{
    char *d = support_tmpdir("ferry-journal-test");
    struct store *s;
    char err[256];
    cr_assert_eq(store_open(&s, d, 1 << 20, 0, err, sizeof(err)), 0, "%s", err);
    static char value[3000];
    memset(value, 'v', sizeof(value) - 1);
    int acked = 0, full = 0;
    for (int i = 0; i < 2000 && !full; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        char *argv[3] = {"SET", key, value};
        size_t len[3] = {3, strlen(key), strlen(value)};
        struct resp_buf e, out;
        resp_buf_init(&e);
        resp_buf_init(&out);
        cr_assert_eq(store_prepare(s, 3, argv, len, 1000, 7, &e, &out), 1);
        struct store_txn *t;
        cr_assert_eq(store_txn_begin(s, &t), 0);
        int rc = store_txn_apply(t, 0, e.data, e.len, &out, NULL);
        if (rc == STORE_EFULL) {
            full = 1;
            cr_assert_eq(store_txn_commit(t), 0); /* nothing applied: an empty turn */
        } else if ((rc = store_txn_log_applied(t, 0)) != 0) {
            /* Applied, but the log append found the map full: as the
             * node does, the turn is taken back. */
            cr_assert_eq(rc, STORE_EFULL);
            store_txn_abort(t);
            full = 1;
        } else {
            cr_assert_eq(store_txn_commit(t), 0);
            acked++;
        }
        resp_buf_fini(&e);
        resp_buf_fini(&out);
    }
    cr_assert(full, "the map never filled");
    cr_assert_eq(store_applied_index(s), (uint64_t)acked);
    char last[32];
    snprintf(last, sizeof(last), "k%d", acked - 1);
    cr_assert(has_key(s, "k0"));
    cr_assert(has_key(s, last));
    snprintf(last, sizeof(last), "k%d", acked);
    cr_assert(!has_key(s, last), "%s was refused", last);
    snprintf(last, sizeof(last), "k%d", acked - 1);
    store_close(s);
    cr_assert_eq(store_open(&s, d, 64 << 20, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(store_applied_index(s), (uint64_t)acked);
    cr_assert(has_key(s, last));
    store_close(s);
    support_rmdir(d);
}

Test(store_journal, sync_no_after_a_crash_takes_the_journal_in_and_sync_yes_later_too)
{
    char *d = support_tmpdir("ferry-journal-test");
    crash_after(d, hundred_turns);
    struct store *s = open_store(d, STORE_NOSYNC);
    cr_assert_eq(store_applied_index(s), 100);
    cr_assert(has_key(s, "k99"));
    write_keys(s, "n", 0, 3); /* no journal: LMDB commits */
    store_close(s);
    s = open_store(d, 0); /* the journal's old records are of an older epoch */
    cr_assert_eq(store_applied_index(s), 103);
    cr_assert(has_key(s, "k99"));
    cr_assert(has_key(s, "n2"));
    store_close(s);
    support_rmdir(d);
}
