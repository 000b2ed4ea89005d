/* The command table: lookup, arity, flags, and agreement with a real
 * redis-server (COMMAND GETKEYS, COMMAND INFO, COMMAND DOCS, byte for byte). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp/resp.h"
#include "tests/support/support.h"
#include "tests/unit/resp_test_redis.h"

#define LOOKUP(s) resp_command_lookup((s), strlen(s))

Test(resp_command, table_is_sorted_and_every_name_is_found_in_any_case)
{
    cr_assert_geq(resp_ncommands, 200);
    for (int i = 0; i < resp_ncommands; i++) {
        const struct resp_command *c = &resp_commands[i];
        if (i > 0)
            cr_assert_lt(strcmp(resp_commands[i - 1].name, c->name), 0, "%s", c->name);
        cr_assert_eq(LOOKUP(c->name), c);
        char up[64];
        size_t n = strlen(c->name);
        cr_assert_lt(n, sizeof(up));
        for (size_t j = 0; j <= n; j++)
            up[j] = (char)((c->name[j] >= 'a' && c->name[j] <= 'z') ? c->name[j] - 32 : c->name[j]);
        cr_assert_eq(resp_command_lookup(up, n), c, "%s", up);
        cr_assert_gt(c->info_reply_len, 0);
        cr_assert_gt(c->docs_reply_len, 0);
        for (int s = 0; s < c->nsub; s++) {
            const struct resp_command *sc = &c->subcommands[s];
            const char *bar = strchr(sc->name, '|');
            cr_assert_not_null(bar, "%s", sc->name);
            cr_assert_eq(resp_command_lookup_sub(c, bar + 1, strlen(bar + 1)), sc, "%s", sc->name);
            if (s > 0)
                cr_assert_lt(strcmp(c->subcommands[s - 1].name, sc->name), 0);
        }
    }
}

Test(resp_command, unknown_names_are_not_found)
{
    cr_assert_null(LOOKUP(""));
    cr_assert_null(LOOKUP("ge"));
    cr_assert_null(LOOKUP("gett"));
    cr_assert_null(LOOKUP("nosuchcommand"));
    cr_assert_null(resp_command_lookup("get\0x", 5));
    cr_assert_null(resp_command_lookup("get\0", 4));
    cr_assert_null(LOOKUP("client|setname")); /* subcommands only via their parent */
    const struct resp_command *client = LOOKUP("CLIENT");
    cr_assert_not_null(client);
    cr_assert_str_eq(resp_command_lookup_sub(client, "SetName", 7)->name, "client|setname");
    cr_assert_null(resp_command_lookup_sub(client, "setnam", 6));
    cr_assert_null(resp_command_lookup_sub(client, "", 0));
    cr_assert_null(resp_command_lookup_sub(LOOKUP("get"), "x", 1));
    cr_assert_null(resp_command_lookup_sub(NULL, "x", 1));
}

Test(resp_command, arity_and_flags_are_redis_own)
{
    const struct resp_command *get = LOOKUP("get"), *set = LOOKUP("set");
    cr_assert_eq(get->arity, 2);
    cr_assert(resp_command_arity_ok(get, 2));
    cr_assert_not(resp_command_arity_ok(get, 1));
    cr_assert_not(resp_command_arity_ok(get, 3));
    cr_assert_eq(set->arity, -3);
    cr_assert(resp_command_arity_ok(set, 3));
    cr_assert(resp_command_arity_ok(set, 7));
    cr_assert_not(resp_command_arity_ok(set, 2));
    cr_assert_eq(get->flags & (RESP_CMD_READONLY | RESP_CMD_FAST | RESP_CMD_WRITE),
                 RESP_CMD_READONLY | RESP_CMD_FAST);
    cr_assert(set->flags & RESP_CMD_WRITE);
    cr_assert(set->flags & RESP_CMD_DENYOOM);
    cr_assert(LOOKUP("blpop")->flags & RESP_CMD_BLOCKING);
    cr_assert(LOOKUP("subscribe")->flags & RESP_CMD_PUBSUB);
    cr_assert(LOOKUP("multi")->flags & RESP_CMD_NOSCRIPT);
    cr_assert(LOOKUP("auth")->flags & RESP_CMD_NO_AUTH);
    cr_assert(LOOKUP("zunionstore")->flags & RESP_CMD_MOVABLEKEYS);
    cr_assert(LOOKUP("shutdown")->flags & RESP_CMD_ADMIN);
    cr_assert_eq(get->first_key, 1);
    cr_assert_eq(get->last_key, 1);
    cr_assert_eq(get->key_step, 1);
    const struct resp_command *cs = resp_command_lookup_sub(LOOKUP("config"), "get", 3);
    cr_assert_eq(cs->arity, -3);
    cr_assert(memcmp(get->info_reply, "*10\r\n$3\r\nget\r\n:2\r\n", 18) == 0);
    cr_assert(memcmp(get->docs_reply, "$3\r\nget\r\n*", 10) == 0);
}


Test(resp_command, keys_follow_the_key_specs)
{
    static const struct {
        const char *line;
        int n;
        int pos[6];
    } cases[] = {
        {"GET k", 1, {1}},
        {"MSET a 1 b 2 c 3", 3, {1, 3, 5}},
        {"ZUNIONSTORE d 2 a b WEIGHTS 1 2", 3, {1, 3, 4}},
        {"XREAD COUNT 2 STREAMS s1 s2 0 0", 2, {4, 5}},
        {"EVAL x 0", 0, {0}},
        {"EVAL x notanumber a", 0, {0}},
        {"SORT k BY p GET q STORE d", 2, {1, 7}},
        {"MIGRATE h 1 '' 0 5 COPY KEYS a b", 2, {8, 9}},
        {"GET", 0, {0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "%s", cases[i].line);
        char *argv[16];
        size_t argvlen[16];
        int argc = support_split(line, argv, argvlen, 16);
        int pos[6];
        int n = resp_command_keys(LOOKUP(argv[0]), argc, argv, argvlen, pos, 6);
        cr_assert_eq(n, cases[i].n, "%s: %d keys", cases[i].line, n);
        for (int j = 0; j < n; j++)
            cr_assert_eq(pos[j], cases[i].pos[j], "%s: key %d", cases[i].line, j);
    }
    /* More keys than room: the count is still exact. */
    char line[] = "DEL a b c d e f g";
    char *argv[16];
    size_t argvlen[16];
    int argc = support_split(line, argv, argvlen, 16);
    int pos[2];
    cr_assert_eq(resp_command_keys(LOOKUP("del"), argc, argv, argvlen, pos, 2), 7);
    cr_assert_eq(pos[0], 1);
    cr_assert_eq(pos[1], 2);
}

/* ------------------------------------------------ against a real redis */

struct redis {
    struct test_redis server;
    int fd;
};

static void redis_start(struct redis *r)
{
    test_redis_start(&r->server, NULL);
    r->fd = test_redis_connect(&r->server);
}

static void redis_stop(struct redis *r)
{
    close(r->fd);
    test_redis_stop(&r->server);
}

/* Sends a command and returns its whole raw reply in out. */
static void redis_call(struct redis *r, int argc, const char *const *argv, const size_t *argvlen,
                       struct resp_buf *out)
{
    test_redis_send(r->fd, argc, argv, argvlen);
    test_redis_read_replies(r->fd, 1, out);
}

Test(resp_command, keys_agree_with_redis_command_getkeys, .timeout = 60)
{
    static const char *const lines[] = {
        "GET k",
        "SET k v",
        "SET k v GET EX 10",
        "MSET a 1 b 2 c 3",
        "MSETNX a 1 b 2",
        "MGET a b c",
        "DEL a b c",
        "UNLINK a b",
        "EXISTS a b a",
        "TOUCH a",
        "RENAME a b",
        "COPY a b DB 1",
        "SMOVE a b m",
        "LMOVE a b LEFT RIGHT",
        "BLMOVE a b LEFT RIGHT 0",
        "RPOPLPUSH a b",
        "BRPOPLPUSH a b 0",
        "BLPOP a b c 0",
        "BZPOPMIN a b 0",
        "LMPOP 2 a b LEFT COUNT 2",
        "BLMPOP 0 2 a b LEFT",
        "ZMPOP 1 a MIN",
        "BZMPOP 0 3 a b c MAX",
        "ZUNIONSTORE d 2 a b WEIGHTS 1 2",
        "ZINTERSTORE d 3 a b c",
        "ZDIFFSTORE d 2 a b",
        "ZUNION 2 a b",
        "ZINTERCARD 2 a b LIMIT 1",
        "ZRANGESTORE d s 0 -1",
        "SINTERCARD 3 a b c",
        "SUNIONSTORE d a b",
        "SDIFF a b c",
        "PFMERGE d a b",
        "PFCOUNT a b",
        "BITOP AND d a b c",
        "BITFIELD k GET u8 0",
        "BITFIELD k GET u8 0 OVERFLOW SAT GET i4 4",
        "BITFIELD k GET u8 0 SET u8 0 1",
        "BITFIELD k INCRBY u8 0 1",
        "BITFIELD k OVERFLOW",
        "SET k v get",
        "SET k v EX 10 NX",
        "BITFIELD_RO k GET u8 0",
        "LCS a b",
        "EVAL script 2 a b x y",
        "EVALSHA sha 1 a x",
        "EVAL_RO script 1 a",
        "FCALL f 2 a b x",
        "FCALL_RO f 1 a",
        "XREAD COUNT 2 STREAMS s1 s2 0 0",
        "XREADGROUP GROUP g c BLOCK 0 STREAMS s1 s2 s3 > > >",
        "XADD s * f v",
        "XGROUP CREATE s g $",
        "XINFO STREAM s",
        "XAUTOCLAIM s g c 0 0",
        "GEORADIUS k 0 0 1 km STORE d",
        "GEORADIUS k 0 0 1 km STOREDIST d",
        "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
        "SORT k BY p GET q STORE d",
        "SORT k LIMIT 0 1 STORE d STORE e",
        "SORT_RO k BY p",
        "MIGRATE h 1 k 0 5",
        "MIGRATE h 1 '' 0 5 COPY REPLACE KEYS a b",
        "MIGRATE h 1 '' 0 5 AUTH pw KEYS a",
        "OBJECT ENCODING k",
        "MEMORY USAGE k",
        "DEBUG OBJECT k",
        "HSET h f v f2 v2",
        "HGETALL h",
        "GETEX k PERSIST",
        "SETRANGE k 0 v",
        "LINSERT l BEFORE p v",
        "WATCH a b c",
        "RESTORE k 0 payload",
        "DUMP k",
        "TYPE k",
        "EXPIRE k 10",
        "INCR k",
        "APPEND k v",
        "PUBLISH ch m",
        "SPUBLISH ch m",
        "PING",
        "INFO",
    };
    struct redis rs;
    redis_start(&rs);
    struct resp_buf got, want;
    resp_buf_init(&got);
    resp_buf_init(&want);
    int with_keys = 0;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "%s", lines[i]);
        char *argv[34];
        size_t argvlen[34];
        argv[0] = "COMMAND";
        argv[1] = "GETKEYS";
        argvlen[0] = 7;
        argvlen[1] = 7;
        int argc = support_split(line, argv + 2, argvlen + 2, 32);
        redis_call(&rs, argc + 2, (const char *const *)argv, argvlen, &got);

        const struct resp_command *cmd = resp_command_lookup(argv[2], argvlen[2]);
        cr_assert_not_null(cmd, "%s", lines[i]);
        if (cmd->nsub) {
            const struct resp_command *sub = resp_command_lookup_sub(cmd, argv[3], argvlen[3]);
            if (sub)
                cmd = sub;
        }
        int pos[32];
        int n = resp_command_keys(cmd, argc, argv + 2, argvlen + 2, pos, 32);
        if (got.data[0] == '-') {
            cr_assert_eq(n, 0, "%s: redis says %.*s, we found %d keys", lines[i], (int)got.len - 2,
                         got.data, n);
            continue;
        }
        with_keys++;
        resp_buf_reset(&want);
        resp_add_array(&want, n);
        for (int j = 0; j < n; j++)
            resp_add_bulk(&want, argv[2 + pos[j]], argvlen[2 + pos[j]]);
        cr_assert(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
                  "%s:\nredis %.*s\n  ours %.*s", lines[i], (int)got.len, got.data, (int)want.len,
                  want.data);

        /* The same keys with their flags, as GETKEYSANDFLAGS prints them. */
        argv[1] = "GETKEYSANDFLAGS";
        argvlen[1] = 15;
        redis_call(&rs, argc + 2, (const char *const *)argv, argvlen, &got);
        uint32_t flags[32];
        cr_assert_eq(resp_command_keys_flags(cmd, argc, argv + 2, argvlen + 2, pos, flags, 32), n);
        resp_buf_reset(&want);
        resp_add_array(&want, n);
        for (int j = 0; j < n; j++) {
            resp_add_array(&want, 2);
            resp_add_bulk(&want, argv[2 + pos[j]], argvlen[2 + pos[j]]);
            resp_add_key_flags(&want, flags[j]);
        }
        cr_assert(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
                  "%s with flags:\nredis %.*s\n  ours %.*s", lines[i], (int)got.len, got.data,
                  (int)want.len, want.data);
        argv[1] = "GETKEYS";
        argvlen[1] = 7;
    }
    /* Not vacuous: most lines have keys by Redis's own account. */
    cr_assert_geq(with_keys, 70, "only %d lines had keys", with_keys);
    resp_buf_fini(&got);
    resp_buf_fini(&want);
    redis_stop(&rs);
}

/* Removes from p[0..n) one occurrence of each subcommand's bytes (info or
 * docs) and returns the rest in out; the count removed goes to *found. */
static void strip_subs(const char *p, size_t n, const struct resp_command *c, int docs,
                       struct resp_buf *out, int *found)
{
    char *mark = calloc(1, n + 1);
    *found = 0;
    for (int s = 0; s < c->nsub; s++) {
        const struct resp_command *sc = &c->subcommands[s];
        const char *b = docs ? sc->docs_reply : sc->info_reply;
        size_t bn = docs ? sc->docs_reply_len : sc->info_reply_len;
        const char *hit = memmem(p, n, b, bn);
        if (hit == NULL || mark[hit - p])
            continue;
        memset(mark + (hit - p), 1, bn);
        (*found)++;
    }
    resp_buf_reset(out);
    for (size_t i = 0; i < n; i++)
        if (!mark[i])
            resp_buf_append(out, p + i, 1);
    free(mark);
}

/* Redis lists a container's subcommands in its dict order, which changes
 * with every server start (the dict hash is seeded): compare containers
 * with their subcommand entries taken out, and each subcommand exactly. */
static void same_reply(const struct resp_command *e, int docs, const struct resp_buf *got)
{
    const char *b = docs ? e->docs_reply : e->info_reply;
    size_t bn = docs ? e->docs_reply_len : e->info_reply_len;
    const char *what = docs ? "DOCS" : "INFO";
    cr_assert(got->len == 4 + bn && memcmp(got->data, docs ? "*2\r\n" : "*1\r\n", 4) == 0,
              "COMMAND %s %s: length %zu, want %zu", what, e->name, got->len, 4 + bn);
    if (e->nsub == 0) {
        cr_assert(memcmp(got->data + 4, b, bn) == 0, "COMMAND %s %s differs", what, e->name);
        return;
    }
    struct resp_buf g, w;
    resp_buf_init(&g);
    resp_buf_init(&w);
    int ng, nw;
    strip_subs(got->data + 4, bn, e, docs, &g, &ng);
    strip_subs(b, bn, e, docs, &w, &nw);
    cr_assert_eq(ng, e->nsub, "COMMAND %s %s: %d of %d subcommands", what, e->name, ng, e->nsub);
    cr_assert_eq(nw, e->nsub);
    cr_assert(g.len == w.len && memcmp(g.data, w.data, g.len) == 0,
              "COMMAND %s %s differs outside its subcommands", what, e->name);
    resp_buf_fini(&g);
    resp_buf_fini(&w);
}

/* The checked-in table still matches the installed redis-server, byte for
 * byte, for every command and subcommand. */
Test(resp_command, info_and_docs_bytes_match_redis, .timeout = 60)
{
    struct redis rs;
    redis_start(&rs);
    struct resp_buf got;
    resp_buf_init(&got);
    int checked = 0;
    for (int i = 0; i < resp_ncommands; i++) {
        const struct resp_command *c = &resp_commands[i];
        for (int s = -1; s < c->nsub; s++) {
            const struct resp_command *e = s < 0 ? c : &c->subcommands[s];
            const char *argv[3] = {"COMMAND", "INFO", e->name};
            size_t argvlen[3] = {7, 4, strlen(e->name)};
            redis_call(&rs, 3, argv, argvlen, &got);
            same_reply(e, 0, &got);
            argv[1] = "DOCS";
            redis_call(&rs, 3, argv, argvlen, &got);
            same_reply(e, 1, &got);
            checked++;
        }
    }
    cr_assert_geq(checked, 300);
    resp_buf_fini(&got);
    redis_stop(&rs);
}

Test(resp_string2ll, takes_exactly_what_redis_string2ll_takes)
{
    static const struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {
        {"0", 1, 0},
        {"7", 1, 7},
        {"-7", 1, -7},
        {"9223372036854775807", 1, 9223372036854775807LL},
        {"-9223372036854775808", 1, -9223372036854775807LL - 1},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"18446744073709551616", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"-0", 0, 0},
        {"01", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"1a", 0, 0},
        {"123456789012345678901", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long v = 12345;
        int ok = resp_string2ll(cases[i].s, strlen(cases[i].s), &v);
        cr_assert_eq(ok, cases[i].ok, "\"%s\"", cases[i].s);
        if (ok)
            cr_assert_eq(v, cases[i].v, "\"%s\": %lld", cases[i].s, v);
        cr_assert_eq(resp_string2ll(cases[i].s, strlen(cases[i].s), NULL), cases[i].ok);
    }
}
