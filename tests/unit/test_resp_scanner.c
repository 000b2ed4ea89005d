/* The reply scanner: reply boundaries in any split, RESP2 and RESP3. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "resp/resp.h"
#include "tests/unit/resp_test_redis.h"

#define S(lit) lit, sizeof(lit) - 1
#define MAX_REPLIES 64

struct scan_run {
    size_t ends[MAX_REPLIES]; /* stream offset just after each reply */
    int errors[MAX_REPLIES];  /* is_error of each reply */
    int n;
    int status;    /* last result: RESP_AGAIN or RESP_ERR */
    size_t err_at; /* stream offset of the offending byte */
};

/* Scans in[0..n) delivered in pieces cut at cuts[] (ascending). */
static struct scan_run scan_cuts(const char *in, size_t n, const size_t *cuts, int ncuts)
{
    struct scan_run o;
    memset(&o, 0, sizeof(o));
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t at = 0;
    o.status = RESP_AGAIN;
    for (int k = 0; k <= ncuts && o.status != RESP_ERR; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        while (at < end) {
            size_t used = 0;
            int rc = resp_scanner_scan(&s, in + at, end - at, &used);
            cr_assert_leq(used, end - at);
            if (rc == RESP_OK) {
                cr_assert_gt(used, 0);
                cr_assert_lt(o.n, MAX_REPLIES);
                o.ends[o.n] = at + used;
                o.errors[o.n] = s.is_error;
                o.n++;
                at += used;
                continue;
            }
            o.status = rc;
            if (rc == RESP_ERR) {
                o.err_at = at + used;
                break;
            }
            cr_assert_eq(used, end - at);
            at = end;
        }
    }
    return o;
}

static void same_scan(const struct scan_run *a, const struct scan_run *b, size_t at)
{
    cr_assert_eq(a->n, b->n, "split at %zu: %d vs %d replies", at, a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        cr_assert_eq(a->ends[i], b->ends[i], "split at %zu: reply %d", at, i);
        cr_assert_eq(a->errors[i], b->errors[i], "split at %zu: reply %d", at, i);
    }
    cr_assert_eq(a->status, b->status, "split at %zu", at);
    if (a->status == RESP_ERR)
        cr_assert_eq(a->err_at, b->err_at, "split at %zu", at);
}

static void check_every_split(const char *in, size_t n, const struct scan_run *whole)
{
    for (size_t c = 0; c <= n; c++) {
        struct scan_run o = scan_cuts(in, n, &c, 1);
        same_scan(whole, &o, c);
    }
    size_t *cuts = calloc(n + 1, sizeof(*cuts));
    for (size_t c = 0; c < n; c++)
        cuts[c] = c + 1;
    struct scan_run o = scan_cuts(in, n, cuts, (int)n);
    same_scan(whole, &o, 0);
    free(cuts);
}

/* One reply of each kind, with the offset where it ends. */
static const struct {
    const char *bytes;
    int is_error;
} replies[] = {
    {"+OK\r\n", 0},
    {"-ERR wrong number of arguments for 'get' command\r\n", 1},
    {":-12345\r\n", 0},
    {"$5\r\nhello\r\n", 0},
    {"$0\r\n\r\n", 0},
    {"$-1\r\n", 0},
    {"$4\r\na\r\nb\r\n", 0},
    {"*-1\r\n", 0},
    {"*0\r\n", 0},
    {"*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n-b\r\n", 0},
    {"*2\r\n*2\r\n*1\r\n*0\r\n$-1\r\n*-1\r\n", 0},
    {"*1\r\n-ERR inside\r\n", 0},
    {"_\r\n", 0},
    {",3.14\r\n", 0},
    {"#t\r\n", 0},
    {"(3492890328409238509324850943850943825024385\r\n", 0},
    {"=15\r\ntxt:Some string\r\n", 0},
    {"!21\r\nSYNTAX invalid syntax\r\n", 1},
    {"%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n:2\r\n", 0},
    {"~2\r\n+a\r\n+b\r\n", 0},
    {">3\r\n+message\r\n+chan\r\n$5\r\nhello\r\n", 0},
    {"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n", 0},
    {"%0\r\n", 0},
    {"*2\r\n%1\r\n+k\r\n~1\r\n_\r\n=3\r\ntxt\r\n", 0},
    {"*2\r\n>1\r\n+nested\r\n:1\r\n", 0},
};
#define NREPLIES (sizeof(replies) / sizeof(replies[0]))

Test(resp_scanner, finds_every_reply_of_every_type_in_any_split)
{
    char buf[2048];
    size_t n = 0;
    struct scan_run want;
    memset(&want, 0, sizeof(want));
    want.status = RESP_AGAIN;
    for (size_t i = 0; i < NREPLIES; i++) {
        size_t k = strlen(replies[i].bytes);
        memcpy(buf + n, replies[i].bytes, k);
        n += k;
        want.ends[want.n] = n;
        want.errors[want.n] = replies[i].is_error;
        want.n++;
    }
    struct scan_run whole = scan_cuts(buf, n, NULL, 0);
    same_scan(&want, &whole, 0);
    check_every_split(buf, n, &want);
}

Test(resp_scanner, each_reply_alone_ends_at_its_last_byte)
{
    for (size_t i = 0; i < NREPLIES; i++) {
        const char *p = replies[i].bytes;
        size_t n = strlen(p);
        struct resp_scanner s;
        resp_scanner_init(&s);
        size_t used = 0;
        /* One byte short is not a reply yet. */
        cr_assert_eq(resp_scanner_scan(&s, p, n - 1, &used), RESP_AGAIN, "reply %zu", i);
        cr_assert_eq(used, n - 1);
        cr_assert_eq(resp_scanner_scan(&s, p + n - 1, 1, &used), RESP_OK, "reply %zu", i);
        cr_assert_eq(used, 1);
        cr_assert_eq(s.is_error, replies[i].is_error, "reply %zu", i);
        /* Only a top-level > is a push (not one inside another reply). */
        cr_assert_eq(s.is_push, p[0] == '>', "reply %zu", i);
        cr_assert_eq(s.depth, 0);
    }
}

Test(resp_scanner, stops_at_the_end_of_the_first_reply)
{
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t used = 0;
    cr_assert_eq(resp_scanner_scan(&s, S("+OK\r\n+QUEUED\r\n"), &used), RESP_OK);
    cr_assert_eq(used, 5);
    cr_assert_eq(resp_scanner_scan(&s, S("+QUEUED\r\n"), &used), RESP_OK);
    cr_assert_eq(used, 9);
    cr_assert_eq(resp_scanner_scan(&s, "", 0, &used), RESP_AGAIN);
    cr_assert_eq(used, 0);
}

Test(resp_scanner, rejects_what_is_not_resp)
{
    static const struct {
        const char *in;
        size_t err_at;
    } cases[] = {
        {"x\r\n", 0},
        {"+OK\r\nhello\r\n", 5},
        {"+OK\rX", 4},
        {"$abc\r\n", 5},
        {"$-2\r\n", 4},
        {"$01\r\n", 4},
        {"$?\r\n", 3},
        {"*?\r\n", 3},
        {"%-1\r\n", 4},
        {"$3\r\nfooXY", 7},
        {"$3\r\nfoo\rY", 8},
        {"*1\r\n\r\n", 4},
        {"$123456789012345678901234567890123\r\n", 32},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in = cases[i].in;
        size_t n = strlen(in);
        struct scan_run whole = scan_cuts(in, n, NULL, 0);
        cr_assert_eq(whole.status, RESP_ERR, "case %zu", i);
        cr_assert_eq(whole.err_at, cases[i].err_at, "case %zu: error at %zu", i, whole.err_at);
        check_every_split(in, n, &whole);
    }
    /* Once in error, always in error. */
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t used;
    cr_assert_eq(resp_scanner_scan(&s, S("?"), &used), RESP_ERR);
    cr_assert_eq(resp_scanner_scan(&s, S("+OK\r\n"), &used), RESP_ERR);
}

Test(resp_scanner, nesting_is_limited_to_the_stack_depth)
{
    char buf[4 * (RESP_SCAN_MAX_DEPTH + 1) + 8];
    size_t n = 0;
    for (int i = 0; i < RESP_SCAN_MAX_DEPTH; i++) {
        memcpy(buf + n, "*1\r\n", 4);
        n += 4;
    }
    memcpy(buf + n, ":1\r\n", 4);
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t used;
    cr_assert_eq(resp_scanner_scan(&s, buf, n + 4, &used), RESP_OK);
    cr_assert_eq(used, n + 4);

    memcpy(buf + n, "*1\r\n:1\r\n", 8);
    resp_scanner_init(&s);
    cr_assert_eq(resp_scanner_scan(&s, buf, n + 8, &used), RESP_ERR);
    cr_assert_eq(used, n + 3);
}

/* The payload of a 100 MB bulk is never read: it lies in calloc'ed pages
 * that stay untouched, and only the final CRLF is looked at. */
Test(resp_scanner, skips_a_100mb_bulk_by_count)
{
    size_t vn = 100u << 20;
    char *big = calloc(1, vn + 2);
    cr_assert_not_null(big);
    big[vn] = '\r';
    big[vn + 1] = '\n';
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t used;
    cr_assert_eq(resp_scanner_scan(&s, S("*2\r\n$104857600\r\n"), &used), RESP_AGAIN);
    /* In uneven pieces, as a socket would deliver it. */
    size_t at = 0;
    while (at < vn - 1000) {
        size_t k = (vn - 1000 - at) < 3333333 ? vn - 1000 - at : 3333333;
        cr_assert_eq(resp_scanner_scan(&s, big + at, k, &used), RESP_AGAIN);
        cr_assert_eq(used, k);
        at += k;
    }
    cr_assert_eq(resp_scanner_scan(&s, big + at, vn + 2 - at, &used), RESP_AGAIN);
    cr_assert_eq(resp_scanner_scan(&s, S(":7\r\n+next\r\n"), &used), RESP_OK);
    cr_assert_eq(used, 4);
    free(big);
}

/* ------------------------------------------------ against a real redis */

/* Runs space-separated command lines (one argument may be "@big": a 1 MB
 * value) as one pipeline on fd; returns how many lines. */
static int send_lines(int fd, const char *const *lines, int n, struct resp_buf *big)
{
    for (int i = 0; i < n; i++) {
        char line[256];
        snprintf(line, sizeof(line), "%s", lines[i]);
        const char *argv[32];
        size_t argvlen[32];
        int argc = 0;
        for (char *t = strtok(line, " "); t && argc < 32; t = strtok(NULL, " ")) {
            if (strcmp(t, "@big") == 0) {
                argv[argc] = big->data;
                argvlen[argc++] = big->len;
            } else {
                argv[argc] = t;
                argvlen[argc++] = strlen(t);
            }
        }
        test_redis_send(fd, argc, argv, argvlen);
    }
    return n;
}

/* Reply ends found by the scanner over buf, fed in pieces of `step`. */
static size_t scan_ends(const char *p, size_t n, size_t step, size_t *ends, size_t max)
{
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t at = 0, k = 0;
    while (at < n) {
        size_t end = n - at < step ? n : at + step;
        while (at < end) {
            size_t used;
            int rc = resp_scanner_scan(&s, p + at, end - at, &used);
            cr_assert_neq(rc, RESP_ERR, "step %zu: not RESP at %zu", step, at + used);
            at += used;
            if (rc == RESP_OK) {
                cr_assert_lt(k, max);
                ends[k++] = at;
            }
        }
    }
    return k;
}

/* Real replies, RESP2 then RESP3 (HELLO 3 and DEBUG PROTOCOL's every type,
 * attributes and pushes included): the scanner finds as many replies as
 * commands were sent, in any split, and on the RESP2 part exactly where
 * hiredis's own reader ends them. */
Test(resp_scanner, splits_real_redis_replies_resp2_and_resp3, .timeout = 60)
{
    /* (No COMMAND DOCS here: it nests deeper than hiredis 0.14 can read.) */
    static const char *const resp2[] = {
        "FLUSHALL", "SET k v", "GET k", "GET missing", "INCR n", "LPUSH l a b c",
        "LRANGE l 0 -1", "LRANGE missing 0 -1", "HSET h f v g w", "HGETALL h",
        "ZADD z 1.5 a 2 b", "ZRANGE z 0 -1 WITHSCORES", "SADD s x y", "SMEMBERS s", "GET l",
        "SET big @big", "GET big", "COMMAND INFO", "CONFIG GET *",
        "XADD st * f v", "XRANGE st - +", "XINFO STREAM st FULL", "MULTI", "SET a b", "GET a",
        "LRANGE l 0 -1", "EXEC", "MULTI", "GET l", "INCR k", "EXEC", "CLIENT INFO", "PING",
        "ECHO @big", "OBJECT HELP", "NOSUCHCOMMAND x", "EVAL return{1,{2,{3,{'x'}}},nil} 0",
        "BLPOP nothing 0.01", "WAIT 0 0", "INFO",
    };
    static const char *const resp3[] = {
        "HELLO 3", "DEBUG PROTOCOL string", "DEBUG PROTOCOL integer", "DEBUG PROTOCOL double",
        "DEBUG PROTOCOL bignum", "DEBUG PROTOCOL null", "DEBUG PROTOCOL array",
        "DEBUG PROTOCOL set", "DEBUG PROTOCOL map", "DEBUG PROTOCOL attrib",
        "DEBUG PROTOCOL verbatim", "DEBUG PROTOCOL true", "DEBUG PROTOCOL false",
        "HGETALL h", "ZRANGE z 0 -1 WITHSCORES", "SMEMBERS s", "GET missing", "ZSCORE z a",
        "CONFIG GET maxmemory*", "COMMAND DOCS", "XINFO STREAM st FULL", "CLIENT INFO",
        "DEBUG PROTOCOL push", /* a push, then a reply: two */
        "SUBSCRIBE ch", "PUBLISH ch hello", /* a push, and :1 and the message push */
    };
    static const char *const extra[] = {"--enable-debug-command", "yes", NULL};
    struct test_redis rs;
    test_redis_start(&rs, extra);
    int fd = test_redis_connect(&rs);
    struct resp_buf big, out2, out3;
    resp_buf_init(&big);
    resp_buf_init(&out2);
    resp_buf_init(&out3);
    for (int i = 0; i < (1 << 20); i++)
        resp_buf_append(&big, &"0123456789abcdef\r\n"[i % 18], 1);

    int n2 = send_lines(fd, resp2, sizeof(resp2) / sizeof(resp2[0]), &big);
    test_redis_read_replies(fd, n2, &out2);
    int n3 = send_lines(fd, resp3, sizeof(resp3) / sizeof(resp3[0]), &big);
    test_redis_read_replies(fd, n3 + 2, &out3);
    cr_assert(memmem(out3.data, out3.len, "|1\r\n", 4) != NULL, "an attribute was seen");
    cr_assert(memmem(out3.data, out3.len, ">3\r\n$7\r\nmessage", 15) != NULL, "a push");
    close(fd);
    test_redis_stop(&rs);

    /* hiredis's reader (RESP2 only) is the independent judge of where
     * each RESP2 reply ends. */
    static size_t ends[256], ends_hr[256];
    redisReader *hr = redisReaderCreate();
    redisReaderFeed(hr, out2.data, out2.len);
    size_t nh = 0;
    for (;;) {
        void *reply = NULL;
        cr_assert_eq(redisReaderGetReply(hr, &reply), REDIS_OK, "hiredis: %s after %zu", hr->errstr, nh);
        if (reply == NULL)
            break;
        freeReplyObject(reply);
        ends_hr[nh++] = out2.len - (hr->len - hr->pos);
    }
    redisReaderFree(hr);
    cr_assert_eq(nh, (size_t)n2);

    static const size_t steps[] = {1, 2, 3, 7, 64, 1000, 4096, 65536, 1 << 30};
    for (size_t si = 0; si < sizeof(steps) / sizeof(steps[0]); si++) {
        size_t k = scan_ends(out2.data, out2.len, steps[si], ends, 256);
        cr_assert_eq(k, (size_t)n2, "step %zu", steps[si]);
        for (size_t i = 0; i < k; i++)
            cr_assert_eq(ends[i], ends_hr[i], "step %zu: reply %zu (%s)", steps[si], i, resp2[i]);
        k = scan_ends(out3.data, out3.len, steps[si], ends, 256);
        cr_assert_eq(k, (size_t)n3 + 2, "step %zu", steps[si]);
        cr_assert_eq(ends[k - 1], out3.len);
    }
    resp_buf_fini(&big);
    resp_buf_fini(&out2);
    resp_buf_fini(&out3);
}
