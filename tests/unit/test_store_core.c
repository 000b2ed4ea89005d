/* store: encodings, expiry, entries, apply determinism, map full. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/support/support.h"
#include "store/store_int.h"

static struct store *open_store(const char *dir, size_t map)
{
    struct store *s;
    char err[256];
    int rc = store_open(&s, dir, map, STORE_NOSYNC, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    return s;
}

static const char *run(struct store *s, uint64_t now, const char *line);

/* Runs fmt (with i for each %d in it) for i in [0, n) at time 1000. */
static void run_each(struct store *s, const char *fmt, int n)
{
    char line[128];
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof(line), fmt, i, i);
        run(s, 1000, line);
    }
}

/* Runs one command (split on spaces) at time now; returns the reply. */
static const char *run(struct store *s, uint64_t now, const char *line)
{
    static struct resp_buf out;
    static char copy[1024];
    char *argv[32];
    size_t len[32];
    snprintf(copy, sizeof(copy), "%s", line);
    int argc = support_split(copy, argv, len, 32);
    resp_buf_reset(&out);
    int cls = store_command_class(argv[0], len[0], NULL);
    cr_assert_neq(cls, STORE_CLASS_UNKNOWN, "unknown %s", argv[0]);
    int rc = cls == STORE_CLASS_READ ? store_read(s, argc, argv, len, now, &out) : STORE_EWRITE;
    cr_assert(rc == 0 || rc == STORE_EWRITE);
    if (rc == STORE_EWRITE) {
        struct resp_buf e;
        resp_buf_init(&e);
        if (store_prepare(s, argc, argv, len, now, 42, &e, &out) == 1) {
            struct store_txn *t;
            cr_assert_eq(store_txn_begin(s, &t), 0);
            cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &out, NULL), 0);
            cr_assert_eq(store_txn_commit(t), 0);
        }
        resp_buf_fini(&e);
    }
    resp_buf_append(&out, "", 1);
    out.len--;
    return out.data;
}

Test(store_util, ld2string_is_redis_human_format)
{
    char buf[128];
    cr_assert_str_eq((store_ld2string(buf, sizeof(buf), 10.5L), buf), "10.5");
    cr_assert_str_eq((store_ld2string(buf, sizeof(buf), 3.0L), buf), "3");
    cr_assert_str_eq((store_ld2string(buf, sizeof(buf), -0.0L), buf), "0");
    cr_assert_str_eq((store_ld2string(buf, sizeof(buf), 0.1L + 0.2L), buf),
                     "0.3");
    long double v;
    cr_assert(store_string2ld("5.0e3", 5, &v) && v == 5000.0L);
    cr_assert(!store_string2ld(" 1", 2, &v));
    cr_assert(!store_string2ld("nan", 3, &v));
}

/* Timeouts of BLPOP and friends, with the answers of a real Redis 7.0. */
Test(store_util, blocking_timeouts_round_up_like_redis)
{
    struct resp_buf reply;
    resp_buf_init(&reply);
    long long d;
    struct {
        const char *arg;
        long long deadline; /* -1: an error */
        const char *error;
    } cases[] = {
        {"0", 0, NULL},           /* forever */
        {"1.5", 1000 + 1500, NULL},
        {"0.001", 1000 + 1, NULL}, /* 0.99999... ms as a long double */
        {"0.0001", 1000 + 1, NULL}, /* rounded up: not "forever" */
        {"1e-400", 1000 + 1, NULL},
        {"-0.0001", 0, NULL},      /* ceil(-0.1) is 0: Redis blocks forever too */
        {"-1", -1, "-ERR timeout is negative\r\n"},
        {"1e30", -1, "-ERR timeout is negative\r\n"}, /* out of long long's range */
        {"inf", -1, "-ERR timeout is negative\r\n"},
        {"nan", -1, "-ERR timeout is not a float or out of range\r\n"},
        {"x", -1, "-ERR timeout is not a float or out of range\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp_buf_reset(&reply);
        int rc = store_parse_timeout(cases[i].arg, strlen(cases[i].arg), 1000, &d, &reply);
        if (cases[i].deadline < 0) {
            cr_assert_eq(rc, -1, "%s", cases[i].arg);
            cr_assert_eq(reply.len, strlen(cases[i].error), "%s", cases[i].arg);
            cr_assert(memcmp(reply.data, cases[i].error, reply.len) == 0, "%s", cases[i].arg);
        } else {
            cr_assert_eq(rc, 0, "%s", cases[i].arg);
            cr_assert_eq(d, cases[i].deadline, "%s: %lld", cases[i].arg, d);
        }
    }
    resp_buf_fini(&reply);
}

Test(store_util, glob_match_like_redis)
{
    cr_assert(resp_string_match("h*llo", 5, "heeello", 7, 0));
    cr_assert(resp_string_match("h[a-e]llo", 9, "hello", 5, 0));
    cr_assert(!resp_string_match("h[^e]llo", 8, "hello", 5, 0));
    cr_assert(resp_string_match("h\\*", 3, "h*", 2, 0));
    cr_assert(resp_string_match("?", 1, "x", 1, 0));
}

Test(store_strings, set_get_incr_and_errors)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    cr_assert_str_eq(run(s, 1000, "SET k v"), "+OK\r\n");
    cr_assert_str_eq(run(s, 1000, "GET k"), "$1\r\nv\r\n");
    cr_assert_str_eq(run(s, 1000, "INCR k"), "-ERR value is not an integer or out of range\r\n");
    cr_assert_str_eq(run(s, 1000, "INCRBY n 9223372036854775807"), ":9223372036854775807\r\n");
    cr_assert_str_eq(run(s, 1000, "INCR n"), "-ERR increment or decrement would overflow\r\n");
    cr_assert_str_eq(run(s, 1000, "INCRBYFLOAT f 10.5"), "$4\r\n10.5\r\n");
    cr_assert_str_eq(run(s, 1000, "LPUSH k x"),
                     "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    cr_assert_str_eq(run(s, 1000, "GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    store_close(s);
    support_rmdir(d);
}

Test(store_expiry, lazy_on_read_and_ttl)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    cr_assert_str_eq(run(s, 1000, "SET k v PX 500"), "+OK\r\n");
    cr_assert_str_eq(run(s, 1100, "PTTL k"), ":400\r\n");
    cr_assert_str_eq(run(s, 1100, "TTL k"), ":0\r\n");
    cr_assert_str_eq(run(s, 1000, "SET k2 v PX 500"), "+OK\r\n");
    cr_assert_str_eq(run(s, 1499, "GET k"), "$1\r\nv\r\n");
    /* A read that finds the key expired deletes it (running as a write). */
    cr_assert_str_eq(run(s, 1500, "GET k"), "$-1\r\n");
    cr_assert_str_eq(run(s, 1500, "EXISTS k"), ":0\r\n");
    cr_assert_str_eq(run(s, 1500, "DBSIZE"), ":0\r\n");
    /* k2, expired too, is still on disk until an entry deletes it. */
    cr_assert_eq(store_key_count(s), 1);
    struct resp_buf e;
    resp_buf_init(&e);
    cr_assert_eq(store_prepare_expire(s, 1500, 100, &e), 1);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_eq(store_key_count(s), 0);
    cr_assert_eq(store_prepare_expire(s, 1500, 100, (resp_buf_reset(&e), &e)), 0);
    /* EXPIRE in the past deletes at once; PERSIST removes the TTL. */
    run(s, 2000, "SET a 1");
    cr_assert_str_eq(run(s, 2000, "EXPIRE a -1"), ":1\r\n");
    cr_assert_str_eq(run(s, 2000, "EXISTS a"), ":0\r\n");
    run(s, 2000, "SET b 1 EX 100");
    cr_assert_str_eq(run(s, 2000, "PERSIST b"), ":1\r\n");
    cr_assert_str_eq(run(s, 2000, "TTL b"), ":-1\r\n");
    resp_buf_fini(&e);
    store_close(s);
    support_rmdir(d);
}

Test(store_entries, timestamps_never_go_backwards)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char *argv[] = {"SET", "k", "v"};
    size_t len[] = {3, 1, 1};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    cr_assert_eq(store_prepare(s, 3, argv, len, 5000, 1, &e, &r), 1);
    uint64_t ts1 = store_get_u64((unsigned char *)e.data + 2);
    resp_buf_reset(&e);
    cr_assert_eq(store_prepare(s, 3, argv, len, 4000, 1, &e, &r), 1);
    uint64_t ts2 = store_get_u64((unsigned char *)e.data + 2);
    cr_assert_eq(ts1, 5000);
    cr_assert_eq(ts2, 5000, "a clock step back must not move the entry time back");
    /* Arity errors are answered by prepare, with no entry. */
    resp_buf_reset(&e);
    cr_assert_eq(store_prepare(s, 2, argv, len, 6000, 1, &e, &r), 0);
    cr_assert_eq(e.len, 0);
    cr_assert(strstr(r.data, "wrong number of arguments for 'set'") != NULL);
    /* Malformed entries are refused, and the index must follow on. */
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, "xx", 2, NULL, NULL), STORE_EINVAL);
    resp_buf_reset(&e);
    store_prepare(s, 3, argv, len, 7000, 1, &e, &r);
    cr_assert_eq(store_txn_apply(t, 5, e.data, e.len, NULL, NULL), STORE_EINVAL);
    cr_assert_eq(store_txn_apply(t, 1, e.data, e.len, NULL, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_eq(store_applied_index(s), 1);
    cr_assert_eq(store_last_ts(s), 7000);
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    /* applied_index survives a reopen: no replay needed. */
    s = open_store(d, 64 << 20);
    cr_assert_eq(store_applied_index(s), 1);
    cr_assert_str_eq(run(s, 8000, "GET k"), "$1\r\nv\r\n");
    store_close(s);
    support_rmdir(d);
}

/* An entry's time is milliseconds since 1970 in a signed 64-bit range, as
 * Redis keeps it. An entry beyond that (a corrupt or forged one; prepare
 * never makes one) is refused, since accepting it would move every later
 * command's clock there for good; one at the very end of the range is
 * served, with Redis's range errors where a deadline would pass it. */
Test(store_entries, entry_times_beyond_the_signed_range_are_refused)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char a0[] = "RPUSH", a1[] = "k", a2[] = "v";
    char *argv[] = {a0, a1, a2};
    size_t len[] = {5, 1, 1};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    cr_assert_eq(store_prepare(s, 3, argv, len, 5000, 1, &e, &r), 1);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    store_put_u64((unsigned char *)e.data + 2, (uint64_t)LLONG_MAX + 1);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), STORE_EINVAL);
    store_put_u64((unsigned char *)e.data + 2, UINT64_MAX);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), STORE_EINVAL);
    store_put_u64((unsigned char *)e.data + 2, (uint64_t)LLONG_MAX);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_eq(store_last_ts(s), (uint64_t)LLONG_MAX);
    /* Every later command runs at that time. */
    cr_assert_str_eq(run(s, 6000, "BLPOP k 1"), "-ERR timeout is out of range\r\n");
    cr_assert_str_eq(run(s, 6000, "BLPOP k 0"), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    cr_assert_str_eq(run(s, 6000, "SET k v"), "+OK\r\n");
    cr_assert_str_eq(run(s, 6000, "EXPIRE k 10"),
                     "-ERR invalid expire time in 'expire' command\r\n");
    cr_assert_str_eq(run(s, 6000, "SET k v PX 10"),
                     "-ERR invalid expire time in 'set' command\r\n");
    cr_assert_str_eq(run(s, 6000, "PEXPIREAT k 9223372036854775807"), ":1\r\n");
    cr_assert_str_eq(run(s, 6000, "TTL k"), ":-2\r\n");
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

/* store_txn_on_exec_cmd: the observer hears -1, then each command of an
 * EXEC entry as it ends, in order; nothing for other entries, nothing once
 * removed, nothing in the next transaction. */
static char exec_calls[64];

static void exec_cmd_seen(void *arg, int i)
{
    size_t n = strlen(exec_calls);
    snprintf(exec_calls + n, sizeof(exec_calls) - n, "%s%d", n ? "," : "", i);
    cr_assert_eq(arg, (void *)exec_calls);
}

Test(store_entries, exec_commands_are_reported_as_they_end)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char c0[] = "SET", c1[] = "k", c2[] = "v", g0[] = "GET", i0[] = "INCR", i1[] = "n";
    char *set[] = {c0, c1, c2}, *get[] = {g0, c1}, *incr[] = {i0, i1};
    size_t setl[] = {3, 1, 1}, getl[] = {3, 1}, incrl[] = {4, 1};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    store_prepare_exec_begin(s, 1000, 1, &e);
    store_prepare_exec_cmd(&e, 3, set, setl);
    store_prepare_exec_cmd(&e, 2, get, getl);
    store_prepare_exec_cmd(&e, 2, incr, incrl);
    store_prepare_exec_end(&e);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    store_txn_on_exec_cmd(t, exec_cmd_seen, exec_calls);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &r, NULL), 0);
    cr_assert_str_eq(exec_calls, "-1,0,1,2");
    resp_buf_append(&r, "", 1);
    cr_assert_str_eq(r.data, "*3\r\n+OK\r\n$1\r\nv\r\n:1\r\n");
    /* A plain command is no transaction. */
    exec_calls[0] = 0;
    struct resp_buf one;
    resp_buf_init(&one);
    resp_buf_reset(&r);
    cr_assert_eq(store_prepare(s, 2, incr, incrl, 1000, 1, &one, &r), 1);
    cr_assert_eq(store_txn_apply(t, 0, one.data, one.len, &r, NULL), 0);
    cr_assert_str_eq(exec_calls, "");
    store_txn_on_exec_cmd(t, NULL, NULL);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), 0);
    cr_assert_str_eq(exec_calls, "");
    store_txn_on_exec_cmd(t, exec_cmd_seen, exec_calls); /* left set: it ends with t */
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, NULL, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_str_eq(exec_calls, "");
    resp_buf_fini(&one);
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

/* A small deterministic command mix for the determinism test. */
static int gen_cmd(uint64_t *rng, char **argv, size_t *len, char bufs[][32])
{
    static const char *const cmds[][6] = {
        {"SET", "K", "V", NULL},        {"INCRBYFLOAT", "K", "1.25", NULL},
        {"RPUSH", "K", "V", "V", NULL}, {"LPOP", "K", NULL},
        {"SADD", "K", "V", "V", NULL},  {"SPOP", "K", "2", NULL},
        {"HSET", "K", "V", "V", NULL},  {"HINCRBY", "K", "V", "3", NULL},
        {"ZADD", "K", "1.5", "V", NULL}, {"ZPOPMIN", "K", NULL},
        {"EXPIRE", "K", "100", NULL},   {"DEL", "K", NULL},
        {"SRANDMEMBER", "K", "-3", NULL}, {"ZUNIONSTORE", "K", "2", "K", "K", NULL},
        {"RENAME", "K", "K", NULL},     {"APPEND", "K", "V", NULL},
    };
    int which = (int)(store_rng_next(rng) % (sizeof(cmds) / sizeof(cmds[0])));
    int argc = 0;
    for (int i = 0; cmds[which][i]; i++) {
        const char *a = cmds[which][i];
        if (strcmp(a, "K") == 0)
            snprintf(bufs[i], 32, "key%d", (int)(store_rng_next(rng) % 8));
        else if (strcmp(a, "V") == 0)
            snprintf(bufs[i], 32, "v%d", (int)(store_rng_next(rng) % 6));
        else
            snprintf(bufs[i], 32, "%s", a);
        argv[i] = bufs[i];
        len[i] = strlen(bufs[i]);
        argc++;
    }
    return argc;
}

Test(store_entries, same_entries_give_identical_databases)
{
    char *d1 = support_tmpdir("ferry-store-test"), *d2 = support_tmpdir("ferry-store-test");
    char *d0 = support_tmpdir("ferry-store-test");
    struct store *leader = open_store(d0, 64 << 20);
    struct store *a = open_store(d1, 64 << 20), *b = open_store(d2, 64 << 20);
    uint64_t rng = 7;
    struct resp_buf entries, e, r;
    resp_buf_init(&entries);
    resp_buf_init(&e);
    resp_buf_init(&r);
    /* The leader prepares 5000 entries (clock jittering, random seeds). */
    int n = 0;
    for (int i = 0; i < 5000; i++) {
        char *argv[8];
        size_t len[8];
        char bufs[8][32];
        int argc = gen_cmd(&rng, argv, len, bufs);
        resp_buf_reset(&e);
        uint64_t now = 100000 + (uint64_t)i * 3 - (store_rng_next(&rng) % 50);
        if (store_prepare(leader, argc, argv, len, now, store_rng_next(&rng), &e, &r) != 1)
            continue;
        unsigned char hdr[4];
        store_put_u32(hdr, (uint32_t)e.len);
        resp_buf_append(&entries, hdr, 4);
        resp_buf_append(&entries, e.data, e.len);
        n++;
    }
    /* Replica a applies them in batches of 100; replica b one by one. */
    struct store *reps[2] = {a, b};
    int batch[2] = {100, 1};
    struct resp_buf replies[2];
    for (int k = 0; k < 2; k++) {
        resp_buf_init(&replies[k]);
        size_t off = 0;
        int applied = 0;
        while (off < entries.len) {
            struct store_txn *t;
            cr_assert_eq(store_txn_begin(reps[k], &t), 0);
            for (int j = 0; j < batch[k] && off < entries.len; j++) {
                uint32_t el = store_get_u32((unsigned char *)entries.data + off);
                cr_assert_eq(store_txn_apply(t, (uint64_t)applied + 1, entries.data + off + 4, el,
                                             &replies[k], NULL),
                             0);
                applied++;
                off += 4 + el;
            }
            cr_assert_eq(store_txn_commit(t), 0);
        }
        cr_assert_eq(applied, n);
        cr_assert_eq(store_applied_index(reps[k]), (uint64_t)n);
    }
    cr_assert_eq(replies[0].len, replies[1].len);
    cr_assert(memcmp(replies[0].data, replies[1].data, replies[0].len) == 0,
              "replicas answered differently");
    struct resp_buf da, db;
    resp_buf_init(&da);
    resp_buf_init(&db);
    cr_assert_eq(store_dump(a, &da), 0);
    cr_assert_eq(store_dump(b, &db), 0);
    cr_assert_gt(da.len, 200, "dump of %zu bytes", da.len);
    cr_assert_eq(da.len, db.len);
    cr_assert(memcmp(da.data, db.data, da.len) == 0, "the two databases differ");
    for (int k = 0; k < 2; k++)
        resp_buf_fini(&replies[k]);
    resp_buf_fini(&da);
    resp_buf_fini(&db);
    resp_buf_fini(&entries);
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(a);
    store_close(b);
    store_close(leader);
    support_rmdir(d0);
    support_rmdir(d1);
    support_rmdir(d2);
}

Test(store_map, full_map_refuses_writes_keeps_reads_and_recovers)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 1 << 20);
    cr_assert_str_eq(run(s, 1000, "SET first 1"), "+OK\r\n");
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char *argv[] = {"SET", NULL, big};
    size_t len[] = {3, 0, sizeof(big) - 1};
    char key[32];
    argv[1] = key;
    int full = 0, written = 0;
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    for (int i = 0; i < 100000 && !full; i++) {
        struct store_txn *t;
        cr_assert_eq(store_txn_begin(s, &t), 0);
        for (int j = 0; j < 50; j++) {
            snprintf(key, sizeof(key), "k%d-%d", i, j);
            len[1] = strlen(key);
            resp_buf_reset(&e);
            store_prepare(s, 3, argv, len, 1000, 0, &e, &r);
            int rc = store_txn_apply(t, 0, e.data, e.len, &r, NULL);
            if (rc == STORE_EFULL) {
                full = 1;
                break;
            }
            cr_assert_eq(rc, 0);
            written++;
        }
        int rc = store_txn_commit(t);
        if (rc == STORE_EFULL)
            full = 1;
        else
            cr_assert_eq(rc, 0);
    }
    cr_assert(full, "the map never filled");
    uint64_t applied = store_applied_index(s);
    /* Reads still work. */
    cr_assert_str_eq(run(s, 1000, "GET first"), "$1\r\n1\r\n");
    store_close(s);
    /* A bigger map recovers with everything committed. */
    s = open_store(d, 8 << 20);
    cr_assert_eq(store_applied_index(s), applied);
    cr_assert_str_eq(run(s, 1000, "GET first"), "$1\r\n1\r\n");
    cr_assert_str_eq(run(s, 1000, "SET after 1"), "+OK\r\n");
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

Test(store_entries, too_long_member_rolls_the_whole_entry_back)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char longf[600];
    memset(longf, 'f', sizeof(longf) - 1);
    longf[sizeof(longf) - 1] = 0;
    char *argv[] = {"HSET", "h", "a", "1", longf, "2"};
    size_t len[] = {4, 1, 1, 1, sizeof(longf) - 1, 1};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    cr_assert_eq(store_prepare(s, 6, argv, len, 1000, 0, &e, &r), 1);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_str_eq(run(s, 1000, "GET x"), "$-1\r\n"); /* reads work beside a txn */
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &r, NULL), STORE_ETOOBIG);
    cr_assert_eq(r.len, 0);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_str_eq(run(s, 1000, "HLEN h"), ":0\r\n");
    cr_assert_str_eq(run(s, 1000, "EXISTS h"), ":0\r\n");
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

Test(store_entries, incrbyfloat_result_is_fixed_by_prepare)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run(s, 1000, "SET f 1.5");
    char *argv[] = {"INCRBYFLOAT", "f", "0.1"};
    size_t len[] = {11, 1, 3};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    cr_assert_eq(store_prepare(s, 3, argv, len, 1000, 0, &e, &r), 1);
    cr_assert_eq((unsigned char)e.data[1], 4, "a float entry carries its result");
    cr_assert(memmem(e.data, e.len, "1.6", 3) != NULL);
    /* Applied on the state it was prepared from: the carried result. */
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &r, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    resp_buf_append(&r, "", 1);
    cr_assert_str_eq(r.data, "$3\r\n1.6\r\n");
    /* Applied after another write to the key: computed again from it. */
    resp_buf_reset(&r);
    resp_buf_reset(&e);
    cr_assert_eq(store_prepare(s, 3, argv, len, 1000, 0, &e, &r), 1);
    run(s, 1000, "SET f 10");
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e.data, e.len, &r, NULL), 0);
    cr_assert_eq(store_txn_commit(t), 0);
    resp_buf_append(&r, "", 1);
    cr_assert_str_eq(r.data, "$4\r\n10.1\r\n");
    cr_assert_str_eq(run(s, 1000, "HINCRBYFLOAT h x 2.5"), "$3\r\n2.5\r\n");
    cr_assert_str_eq(run(s, 1000, "HINCRBYFLOAT h x 0.5"), "$1\r\n3\r\n");
    cr_assert_str_eq(run(s, 1000, "HLEN h"), ":1\r\n");
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

/* One SCAN page with COUNT 7: appends the keys to seen, updates cursor. */
static void scan_page(struct store *s, unsigned long *cursor, char seen[][16], int *nseen)
{
    char cur[32], *argv[4];
    size_t len[4];
    snprintf(cur, sizeof(cur), "%lu", *cursor);
    argv[0] = "SCAN";
    argv[1] = cur;
    argv[2] = "COUNT";
    argv[3] = "7";
    for (int i = 0; i < 4; i++)
        len[i] = strlen(argv[i]);
    struct resp_buf out;
    resp_buf_init(&out);
    cr_assert_eq(store_read(s, 4, argv, len, 1000, &out), 0);
    resp_buf_append(&out, "", 1);
    /* *2\r\n$N\r\n<cursor>\r\n*M\r\n($L\r\n<key>\r\n)* */
    char *p = strchr(out.data + 4, '\n') + 1;
    *cursor = strtoul(p, NULL, 10);
    p = strchr(p, '\n') + 1;
    int m = atoi(p + 1);
    p = strchr(p, '\n') + 1;
    for (int i = 0; i < m; i++) {
        int l = atoi(p + 1);
        p = strchr(p, '\n') + 1;
        cr_assert_lt(l, 16);
        memcpy(seen[*nseen], p, (size_t)l);
        seen[*nseen][l] = 0;
        (*nseen)++;
        p += l + 2;
    }
    resp_buf_fini(&out);
}

Test(store_keys, scan_returns_every_key_present_throughout)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char cmd[64];
    run_each(s, "SET stay%d v", 300);
    static char seen[4000][16];
    int nseen = 0, pages = 0;
    unsigned long cursor = 0;
    do {
        scan_page(s, &cursor, seen, &nseen);
        /* Churn between pages: other keys come and go. */
        snprintf(cmd, sizeof(cmd), "SET churn%d v", pages);
        run(s, 1000, cmd);
        if (pages > 3) {
            snprintf(cmd, sizeof(cmd), "DEL churn%d", pages - 3);
            run(s, 1000, cmd);
        }
        pages++;
    } while (cursor != 0 && pages < 1000);
    cr_assert_eq(cursor, 0, "SCAN did not finish");
    cr_assert_gt(pages, 10, "COUNT should split the iteration into pages");
    for (int i = 0; i < 300; i++) {
        snprintf(cmd, sizeof(cmd), "stay%d", i);
        int found = 0;
        for (int j = 0; j < nseen && !found; j++)
            found = strcmp(seen[j], cmd) == 0;
        cr_assert(found, "%s was never returned", cmd);
    }
    store_close(s);
    support_rmdir(d);
}

Test(store_lists, positions_survive_pushes_and_pops_on_both_ends)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    for (int i = 0; i < 50; i++) {
        run(s, 1000, "LPUSH l a");
        run(s, 1000, "RPUSH l b");
        run(s, 1000, i % 2 ? "LPOP l" : "RPOP l");
    }
    cr_assert_str_eq(run(s, 1000, "LLEN l"), ":50\r\n");
    cr_assert_str_eq(run(s, 1000, "LINSERT l BEFORE b x"), ":51\r\n");
    cr_assert_str_eq(run(s, 1000, "LRANGE l 24 26"), "*3\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n");
    cr_assert_str_eq(run(s, 1000, "LREM l 0 a"), ":25\r\n");
    cr_assert_str_eq(run(s, 1000, "LINDEX l 0"), "$1\r\nx\r\n");
    cr_assert_str_eq(run(s, 1000, "LMOVE l l LEFT RIGHT"), "$1\r\nx\r\n");
    cr_assert_str_eq(run(s, 1000, "LINDEX l -1"), "$1\r\nx\r\n");
    cr_assert_str_eq(run(s, 1000, "LTRIM l 5 -100"), "+OK\r\n");
    cr_assert_str_eq(run(s, 1000, "EXISTS l"), ":0\r\n");
    store_close(s);
    support_rmdir(d);
}

/* Rewrites a store into the layout of stores written before keys were
 * placed by store_key_slot: "keys", "members", "expires", keyed by a
 * whole-key hash at byte `at` (the key follows, after its length for
 * members). */
static void move_to_hashed(MDB_txn *txn, const char *from, const char *to, size_t at,
                           int members)
{
    MDB_dbi src, dst;
    cr_assert_eq(mdb_dbi_open(txn, from, 0, &src), 0);
    cr_assert_eq(mdb_dbi_open(txn, to, MDB_CREATE, &dst), 0);
    MDB_cursor *cur;
    cr_assert_eq(mdb_cursor_open(txn, src, &cur), 0);
    MDB_val k, v;
    unsigned char kb[STORE_MAX_DBKEY + 16];
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *p = k.mv_data;
        size_t keyat = at + 4 + (members ? 4 : 0);
        size_t klen = members ? store_get_be32(p + at + 4) : k.mv_size - keyat;
        memcpy(kb, p, k.mv_size);
        store_put_be32(kb + at, store_hash32(p + keyat, klen));
        MDB_val nk = {k.mv_size, kb};
        cr_assert_eq(mdb_put(txn, dst, &nk, &v, 0), 0);
    }
    mdb_cursor_close(cur);
    cr_assert_eq(mdb_drop(txn, src, 1), 0);
}

/* Rewrites the store in dir into the hashed layout; returns the bytes its
 * environment then uses. */
static size_t to_hashed_layout(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_set_mapsize(env, 64 << 20), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    move_to_hashed(txn, "keyspace", "keys", 0, 0);
    move_to_hashed(txn, "items", "members", 0, 1);
    move_to_hashed(txn, "expiry", "expires", 8, 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &st);
    mdb_env_close(env);
    return (info.me_last_pgno + 1) * (size_t)st.ms_psize;
}

Test(store_keys, a_store_in_the_hashed_layout_is_migrated_with_nothing_lost)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run_each(s, "SET user:%d v%d", 3000);
    run(s, 1000, "SET temp x PX 500000");
    run(s, 1000, "HSET h f1 a f2 b");
    run(s, 1000, "RPUSH l a b c");
    run(s, 1000, "SADD st m1 m2");
    run(s, 1000, "ZADD z 1 one 2 two");
    run(s, 1000, "EXPIRE h 900");
    struct resp_buf before, after;
    resp_buf_init(&before);
    resp_buf_init(&after);
    cr_assert_eq(store_dump(s, &before), 0);
    store_close(s);
    to_hashed_layout(d);

    s = open_store(d, 64 << 20);
    cr_assert_eq(store_dump(s, &after), 0);
    cr_assert_eq(before.len, after.len);
    cr_assert(memcmp(before.data, after.data, before.len) == 0, "the migrated store differs");
    cr_assert_str_eq(run(s, 2000, "GET user:1234"), "$5\r\nv1234\r\n");
    cr_assert_str_eq(run(s, 2000, "HGET h f2"), "$1\r\nb\r\n");
    cr_assert_str_eq(run(s, 2000, "DBSIZE"), ":3005\r\n");
    cr_assert_str_eq(run(s, 2000, "PTTL temp"), ":499000\r\n");
    store_close(s);
    s = open_store(d, 64 << 20); /* the second open has nothing to move */
    resp_buf_reset(&after);
    cr_assert_eq(store_dump(s, &after), 0);
    cr_assert(after.len == before.len && memcmp(before.data, after.data, before.len) == 0);
    store_close(s);
    resp_buf_fini(&before);
    resp_buf_fini(&after);
    support_rmdir(d);
}

/* Moving a layout needs room for both copies: a map too small for it gets
 * a clear error, and a larger one finds everything. */
Test(store_keys, migration_without_room_says_so_and_loses_nothing)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    char value[201];
    memset(value, 'v', 200);
    value[200] = 0;
    char line[300];
    for (int i = 0; i < 20000; i++) {
        snprintf(line, sizeof(line), "SET key:%d %s", i, value);
        run(s, 1000, line);
    }
    struct resp_buf before, after;
    resp_buf_init(&before);
    resp_buf_init(&after);
    cr_assert_eq(store_dump(s, &before), 0);
    store_close(s);
    size_t used = to_hashed_layout(d);

    char err[256];
    cr_assert_eq(store_open(&s, d, used + (1 << 20), STORE_NOSYNC, err, sizeof(err)),
                 STORE_EFULL, "%s", err);
    cr_assert(strstr(err, "raise store-size") != NULL, "%s", err);
    s = open_store(d, 64 << 20);
    cr_assert_eq(store_dump(s, &after), 0);
    cr_assert(after.len == before.len && memcmp(before.data, after.data, before.len) == 0,
              "the store differs after a failed then a successful migration");
    store_close(s);
    resp_buf_fini(&before);
    resp_buf_fini(&after);
    support_rmdir(d);
}

/* Keys that differ in their last two bytes share a bucket (high 24 bits);
 * others spread. */
Test(store_keys, slots_keep_keys_that_differ_in_their_tail_together)
{
    uint32_t a = store_key_slot("order:100017", 12), b = store_key_slot("order:100098", 12);
    uint32_t c = store_key_slot("order:100117", 12);
    cr_assert_eq(a >> 8, b >> 8);
    cr_assert_neq(a >> 8, c >> 8);
    cr_assert_eq(store_key_slot("x", 1) >> 8, store_key_slot("yz", 2) >> 8);
    int same_low = 0;
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "key:%02d", i);
        same_low += (store_key_slot(k, strlen(k)) & 0xff) == (a & 0xff);
    }
    cr_assert_lt(same_low, 10, "the low byte should spread within a bucket");
}

/* RANDOMKEY at one millisecond many times over: every key can come up, and
 * none far more often than the rest (buckets of 10, 90 and 100 keys here). */
Test(store_keys, randomkey_spreads_over_the_keys)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run_each(s, "SET user:%d v", 1000);
    static int seen[1000];
    int distinct = 0, most = 0;
    for (int i = 0; i < 20000; i++) {
        int n = -1;
        const char *r = run(s, 1000, "RANDOMKEY");
        cr_assert(sscanf(r, "$%*d\r\nuser:%d\r\n", &n) == 1 && n >= 0 && n < 1000, "%s", r);
        distinct += seen[n]++ == 0;
        most = seen[n] > most ? seen[n] : most;
    }
    cr_assert_gt(distinct, 950, "%d distinct keys of 1000", distinct);
    cr_assert_lt(most, 200, "one key came up %d times of 20000", most);
    store_close(s);
    support_rmdir(d);
}

/* One store owns a directory; the lock goes with the store. */
Test(store_open, a_directory_has_one_owner_at_a_time)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20), *t = (struct store *)1;
    char err[256], want[64];
    cr_assert_eq(store_open(&t, d, 64 << 20, STORE_NOSYNC, err, sizeof(err)), STORE_EBUSY);
    cr_assert_null(t);
    snprintf(want, sizeof(want), "in use by another process (pid %ld)", (long)getpid());
    cr_assert(strstr(err, want) != NULL, "%s", err);
    run(s, 1000, "SET k v"); /* the owner goes on */
    store_close(s);
    s = open_store(d, 64 << 20);
    cr_assert_str_eq(run(s, 1000, "GET k"), "$1\r\nv\r\n");
    store_close(s);
    support_rmdir(d);
}

Test(store_sort, sort_ro_on_a_listpack_sorted_set_runs_as_a_write_that_keeps_the_version)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run(s, 1000, "ZADD z 2 b 1 a");
    uint64_t v = store_key_version(s, "z", 1, 1000);
    char *argv[] = {"SORT_RO", "z", "ALPHA"};
    size_t len[] = {7, 1, 5};
    struct resp_buf out;
    resp_buf_init(&out);
    /* Redis 7.0 turns the set into a skiplist to sort it: a write, so the
     * read answers nothing and asks to be run as one. */
    cr_assert_eq(store_read(s, 3, argv, len, 1000, &out), STORE_EWRITE);
    cr_assert_eq(out.len, 0);
    cr_assert_str_eq(run(s, 1000, "SORT_RO z ALPHA"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    /* A change of encoding is no write to the key: WATCH stays valid. */
    cr_assert_eq(store_key_version(s, "z", 1, 1000), v);
    cr_assert_eq(store_read(s, 3, argv, len, 1000, &out), 0);
    /* The skiplist keeps a -0 score; a listpack stores it as 0. */
    run(s, 1000, "ZADD z -0 c");
    cr_assert_str_eq(run(s, 1000, "ZSCORE z c"), "$2\r\n-0\r\n");
    run(s, 1000, "ZADD y 1 a");
    run(s, 1000, "ZADD y -0 c");
    cr_assert_str_eq(run(s, 1000, "ZSCORE y c"), "$1\r\n0\r\n");
    resp_buf_fini(&out);
    store_close(s);
    support_rmdir(d);
}

Test(store_sort, patterns_limits_and_store)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run(s, 1000, "RPUSH l 3 1 2");
    run(s, 1000, "SET w_1 30");
    run(s, 1000, "SET w_2 20");
    run(s, 1000, "HSET h_3 f x");
    cr_assert_str_eq(run(s, 1000, "SORT l BY w_* GET # GET h_*->f"),
                     "*6\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\n2\r\n$-1\r\n$1\r\n1\r\n$-1\r\n");
    cr_assert_str_eq(run(s, 1000, "SORT l DESC LIMIT 1 9223372036854775807"),
                     "*2\r\n$1\r\n2\r\n$1\r\n1\r\n");
    cr_assert_str_eq(run(s, 1000, "SORT l BY nosort DESC LIMIT 0 2"),
                     "*2\r\n$1\r\n2\r\n$1\r\n1\r\n");
    /* A BY without '*' holds even after a BY with one (Redis 7.0). */
    cr_assert_str_eq(run(s, 1000, "SORT l BY nosort BY w_*"),
                     "*3\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n");
    /* STORE takes GET # from the elements themselves, after the arena
     * that holds them has grown. */
    cr_assert_str_eq(run(s, 1000, "SORT l GET # GET # GET # STORE d"), ":9\r\n");
    cr_assert_str_eq(run(s, 1000, "LRANGE d 0 2"), "*3\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n");
    cr_assert_str_eq(run(s, 1000, "SORT missing STORE d"), ":0\r\n");
    cr_assert_str_eq(run(s, 1000, "EXISTS d"), ":0\r\n");
    run(s, 1000, "RPUSH n 1 x");
    cr_assert_str_eq(run(s, 1000, "SORT n"),
                     "-ERR One or more scores can't be converted into double\r\n");
    cr_assert_str_eq(run(s, 1000, "SORT_RO l STORE d"), "-ERR syntax error\r\n");
    store_close(s);
    support_rmdir(d);
}

/* HyperLogLog, with the answers of a real Redis 7.0 for the same commands. */
Test(store_hll, sparse_dense_counts_and_merges_like_redis)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    cr_assert_str_eq(run(s, 1000, "PFADD h a b c"), ":1\r\n");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT h"), ":3\r\n");
    cr_assert_str_eq(run(s, 1000, "PFADD h a"), ":0\r\n");
    cr_assert_str_eq(run(s, 1000, "PFDEBUG DECODE h"),
                     "$44\r\nZ:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603\r\n");
    /* 10,000 elements: past the sparse code's 3,000 bytes. */
    for (int i = 0; i < 1000; i++) {
        char line[256];
        int n = snprintf(line, sizeof(line), "PFADD big");
        for (int j = 0; j < 10; j++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " e%d_%d", i, j);
        run(s, 1000, line);
    }
    cr_assert_str_eq(run(s, 1000, "PFDEBUG ENCODING big"), "+dense\r\n");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT big"), ":10118\r\n");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT big h"), ":10120\r\n");
    cr_assert_str_eq(run(s, 1000, "PFADD small x y"), ":1\r\n");
    cr_assert_str_eq(run(s, 1000, "PFMERGE m h small"), "+OK\r\n");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT m"), ":5\r\n");
    cr_assert_str_eq(run(s, 1000, "PFDEBUG DECODE m"),
                     "$66\r\nZ:8436 v:1,1 Z:4274 v:2,1 Z:2220 v:3,1 Z:847 v:1,1 Z:593 v:2,1 "
                     "z:9\r\n");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT nosuch"), ":0\r\n");
    store_close(s);
    support_rmdir(d);
}

Test(store_hll, strings_that_are_not_a_hyperloglog_get_redis_errors)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run(s, 1000, "SET x HYLL");
    cr_assert_str_eq(run(s, 1000, "PFADD x a"),
                     "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
    run(s, 1000, "RPUSH l a");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT l"),
                     "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    /* A sparse code one register short: added to, but not counted. */
    run(s, 1000, "PFADD y");
    run(s, 1000, "SETRANGE y 17 \xfe");
    cr_assert_str_eq(run(s, 1000, "PFCOUNT y"), "-INVALIDOBJ Corrupted HLL object detected\r\n");
    cr_assert_str_eq(run(s, 1000, "PFMERGE z y"), "-INVALIDOBJ Corrupted HLL object detected\r\n");
    cr_assert_str_eq(run(s, 1000, "EXISTS z"), ":0\r\n");
    cr_assert_str_eq(run(s, 1000, "PFDEBUG ENCODING nosuch"),
                     "-ERR The specified key does not exist\r\n");
    store_close(s);
    support_rmdir(d);
}

/* Geo, with the answers of a real Redis 7.0 for the same commands. */
Test(store_geo, add_read_and_search_like_redis)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    cr_assert_str_eq(
        run(s, 1000, "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"),
        ":2\r\n");
    cr_assert_str_eq(run(s, 1000, "GEODIST Sicily Palermo Catania km"), "$8\r\n166.2742\r\n");
    cr_assert_str_eq(run(s, 1000, "GEOHASH Sicily Palermo Catania"),
                     "*2\r\n$11\r\nsqc8b49rny0\r\n$11\r\nsqdtr74hyu0\r\n");
    cr_assert_str_eq(run(s, 1000, "GEOPOS Sicily Palermo nosuch"),
                     "*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n"
                     "*-1\r\n");
    cr_assert_str_eq(
        run(s, 1000, "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST WITHCOORD "
                     "WITHHASH"),
        "*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n$20\r\n"
        "15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*4\r\n$7\r\nPalermo\r\n$8\r\n"
        "190.4424\r\n:3479099956230698\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n"
        "38.11555639549629859\r\n");
    cr_assert_str_eq(run(s, 1000, "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km DESC"),
                     "*2\r\n$7\r\nCatania\r\n$7\r\nPalermo\r\n");
    cr_assert_str_eq(run(s, 1000, "GEORADIUS Sicily 15 37 200 km COUNT 1 STORE d"), ":1\r\n");
    cr_assert_str_eq(run(s, 1000, "ZRANGE d 0 -1 WITHSCORES"),
                     "*2\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n");
    /* Equal distances: the full sort keeps the order the search found
     * them in (glibc's merge sort), COUNT's partial quicksort does not. */
    run(s, 1000, "GEOADD t 0.5 0 p0 0.6 0 p1 0.1 0 p2 0.8 0 p3 0.4 0 p4");
    run(s, 1000, "GEOADD t 0.1 0 p5 0.3 0 p6 0.2 0 p7 0.6 0 p8 0.8 0 p9");
    run(s, 1000, "GEOADD t 0.4 0 p10 0.7 0 p11 0.2 0 p12 0.4 0 p13 0.1 0 p14");
    cr_assert_str_eq(run(s, 1000, "GEOSEARCH t FROMLONLAT 0 0 BYRADIUS 1000 km ASC COUNT 5"),
                     "*5\r\n$2\r\np2\r\n$3\r\np14\r\n$2\r\np5\r\n$3\r\np12\r\n$2\r\np7\r\n");
    cr_assert_str_eq(run(s, 1000, "GEOSEARCH t FROMLONLAT 0 0 BYRADIUS 12 km ASC"),
                     "*3\r\n$3\r\np14\r\n$2\r\np2\r\n$2\r\np5\r\n");
    cr_assert_str_eq(run(s, 1000, "GEOADD Sicily 181 0 x"),
                     "-ERR invalid longitude,latitude pair 181.000000,0.000000\r\n");
    cr_assert_str_eq(
        run(s, 1000, "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1 km WITHDIST STORE x"),
        "-ERR syntax error\r\n");
    store_close(s);
    support_rmdir(d);
}

/* ------------------------------------------------------------------ keyspace events */

static void event_cat(void *arg, const char *event, const char *key, size_t klen)
{
    struct resp_buf *b = arg;
    if (b->len)
        resp_buf_append(b, " ", 1);
    resp_buf_append(b, event, strlen(event));
    resp_buf_append(b, ":", 1);
    resp_buf_append(b, key, klen);
}

/* The events recorded so far, as "event:key ...", and forgets them. */
static const char *events_taken(struct store *s)
{
    static struct resp_buf b;
    resp_buf_reset(&b);
    store_events_each(s, 0, store_events_mark(s), event_cat, &b);
    store_events_clear(s, 0);
    resp_buf_append(&b, "", 1);
    return b.data;
}

Test(store_events, classes_are_read_and_printed_as_redis_does)
{
    static const char *const cases[][2] = {
        {"KEA", "AKE"}, {"AKE", "AKE"},   {"Kx", "xK"},   {"Egx$", "g$xE"},
        {"KEAnm", "AKEm"}, {"", ""},      {"gn", "gn"},   {"EKmlz", "lzKEm"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long classes = store_events_parse(cases[i][0], strlen(cases[i][0]));
        cr_assert_geq(classes, 0, "%s", cases[i][0]);
        char buf[32];
        store_events_format((unsigned)classes, buf);
        cr_assert_str_eq(buf, cases[i][1], "%s", cases[i][0]);
    }
    cr_assert_eq(store_events_parse("KEZ", 3), -1);
    /* 'A' with n prints as Redis prints it, without the n, yet n is on. */
    cr_assert(store_events_parse("KEAn", 4) & STORE_EV_NEW);
}

Test(store_events, only_the_classes_asked_for_are_recorded)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    run(s, 1000, "SET k v EX 100");
    cr_assert_str_eq(events_taken(s), "", "nothing without notify-keyspace-events");
    store_set_events(s, (unsigned)store_events_parse("$n", 2));
    run(s, 1000, "SET k v EX 100");
    cr_assert_str_eq(events_taken(s), "", "nothing without K or E");
    store_set_events(s, (unsigned)store_events_parse("K$n", 3));
    run(s, 1000, "SET k2 v EX 100");
    cr_assert_str_eq(events_taken(s), "new:k2 set:k2");
    store_set_events(s, (unsigned)store_events_parse("KEA", 3));
    run(s, 1000, "SET k2 v EX 100");
    run(s, 1000, "RPUSH l a");
    run(s, 1000, "LPOP l");
    run(s, 1000, "GET nokey");
    cr_assert_str_eq(events_taken(s), "set:k2 expire:k2 rpush:l lpop:l del:l");
    store_set_events(s, (unsigned)store_events_parse("Em", 2));
    run(s, 1000, "MGET k2 nokey nokey");
    /* An expired key is a miss too; apply deletes it (x is off). */
    run(s, 200000, "GET k2");
    run(s, 200000, "INCR k2");
    cr_assert_str_eq(events_taken(s), "keymiss:nokey keymiss:nokey keymiss:k2");
    store_close(s);
    support_rmdir(d);
}

/* A read that finds its key expired deletes it, as Redis's lookups do
 * whoever looks: it runs again as a write, which tells expired before the
 * read's keymiss and counts the key in expired_keys. */
Test(store_events, a_read_of_an_expired_key_deletes_it_as_redis_does)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    store_set_events(s, (unsigned)store_events_parse("Exm", 3));
    run(s, 1000, "SET k v PX 100");
    run(s, 1000, "HSET h f v");
    run(s, 1000, "PEXPIRE h 100");
    cr_assert_str_eq(events_taken(s), "");
    char *get[] = {"GET", "k"};
    size_t getlen[] = {3, 1};
    struct resp_buf out;
    resp_buf_init(&out);
    cr_assert_eq(store_read(s, 2, get, getlen, 1099, &out), 0, "not expired yet");
    cr_assert_eq(store_read(s, 2, get, getlen, 1100, &out), STORE_EWRITE);
    resp_buf_fini(&out);
    cr_assert_str_eq(run(s, 1100, "GET k"), "$-1\r\n");
    cr_assert_str_eq(run(s, 1100, "MGET a h k"), "*3\r\n$-1\r\n$-1\r\n$-1\r\n");
    cr_assert_str_eq(events_taken(s), "expired:k keymiss:k keymiss:a expired:h keymiss:h "
                                      "keymiss:k");
    struct store_stats st;
    store_get_stats(s, &st);
    cr_assert_eq(st.expired_keys, 2);
    cr_assert_str_eq(run(s, 1100, "EXISTS h"), ":0\r\n");
    cr_assert_str_eq(events_taken(s), "keymiss:h", "gone: a miss, nothing more");
    store_close(s);
    support_rmdir(d);
}

Test(store_events, a_failed_entry_takes_its_events_back)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 64 << 20);
    store_set_events(s, (unsigned)store_events_parse("KEAn", 4));
    char longf[600];
    memset(longf, 'f', sizeof(longf) - 1);
    longf[sizeof(longf) - 1] = 0;
    char *set[] = {"SET", "a", "1"};
    size_t setlen[] = {3, 1, 1};
    /* The field is added after "new" is told of h: the entry fails there. */
    char *hset[] = {"HSET", "h", "a", "1", longf, "2"};
    size_t hsetlen[] = {4, 1, 1, 1, sizeof(longf) - 1, 1};
    struct resp_buf e1, e2, r;
    resp_buf_init(&e1);
    resp_buf_init(&e2);
    resp_buf_init(&r);
    cr_assert_eq(store_prepare(s, 3, set, setlen, 1000, 0, &e1, &r), 1);
    cr_assert_eq(store_prepare(s, 6, hset, hsetlen, 1000, 0, &e2, &r), 1);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    cr_assert_eq(store_txn_apply(t, 0, e1.data, e1.len, &r, NULL), 0);
    cr_assert_eq(store_txn_apply(t, 0, e2.data, e2.len, &r, NULL), STORE_ETOOBIG);
    cr_assert_eq(store_txn_commit(t), 0);
    cr_assert_str_eq(events_taken(s), "new:a set:a");
    resp_buf_fini(&e1);
    resp_buf_fini(&e2);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

/* A full map rolls the transaction back and applies its entries again:
 * their events were told once, and are not told again. */
Test(store_events, entries_applied_again_after_a_full_map_tell_nothing_twice)
{
    char *d = support_tmpdir("ferry-store-test");
    struct store *s = open_store(d, 1 << 20);
    store_set_events(s, (unsigned)store_events_parse("K$", 2));
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char key[32];
    char *argv[] = {"SET", key, big};
    size_t len[] = {3, 0, sizeof(big) - 1};
    struct resp_buf e, r;
    resp_buf_init(&e);
    resp_buf_init(&r);
    struct store_txn *t;
    cr_assert_eq(store_txn_begin(s, &t), 0);
    int written = 0, full = 0;
    for (int i = 0; i < 100000 && !full; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        len[1] = strlen(key);
        resp_buf_reset(&e);
        store_prepare(s, 3, argv, len, 1000, 0, &e, &r);
        int rc = store_txn_apply(t, 0, e.data, e.len, &r, NULL);
        if (rc == STORE_EFULL)
            full = 1;
        else
            cr_assert_eq(rc, 0);
        written += rc == 0;
    }
    cr_assert(full, "the map never filled");
    store_txn_abort(t);
    int told = 0;
    for (const char *p = events_taken(s); (p = strstr(p, "set:")) != NULL; p++)
        told++;
    cr_assert_eq(told, written, "%d entries applied, %d told", written, told);
    resp_buf_fini(&e);
    resp_buf_fini(&r);
    store_close(s);
    support_rmdir(d);
}

/* ------------------------------------------------------------------ DUMP payloads */

Test(store_dump, crc64_is_redis_s)
{
    /* Redis's crc64.c test vector. */
    cr_assert_eq(store_crc64(0, "123456789", 9), 0xe9c6d914c4b8d9caULL);
}

Test(store_dump, payloads_are_checked_as_restore_checks_them)
{
    /* DUMP of the string "hello" from a real Redis 7.0. */
    static const char hello[] = "\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
    cr_assert_eq(store_dump_payload_check(hello, sizeof(hello) - 1), 0);
    char bad[sizeof(hello)];
    memcpy(bad, hello, sizeof(hello));
    bad[3] = 'L'; /* the checksum no longer matches */
    cr_assert_eq(store_dump_payload_check(bad, sizeof(hello) - 1), -2);
    /* Version 11 (Redis 7.2's) is newer than RESTORE reads. */
    unsigned char v11[32] = {0x00, 0x01, 'a', 11, 0};
    store_put_u64(v11 + 5, store_crc64(0, v11, 5));
    cr_assert_eq(store_dump_payload_check(v11, 13), -2);
    /* Right checksums around wrong values: an empty list, a set holding a
     * member twice, a string longer than the payload (a value may run into
     * the version and checksum, as in Redis, but not past them). */
    static const unsigned char *const values[] = {(const unsigned char *)"\x01\x00",
                                                  (const unsigned char *)"\x02\x02\x01" "a\x01" "a",
                                                  (const unsigned char *)"\x00\x3f" "abc"};
    static const size_t lens[] = {2, 7, 5};
    for (int i = 0; i < 3; i++) {
        unsigned char p[32];
        memcpy(p, values[i], lens[i]);
        p[lens[i]] = 10;
        p[lens[i] + 1] = 0;
        store_put_u64(p + lens[i] + 2, store_crc64(0, p, lens[i] + 2));
        cr_assert_eq(store_dump_payload_check(p, lens[i] + 10), -1, "value %d", i);
    }
}
