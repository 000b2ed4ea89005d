/* The request reader: Redis 7.0's parsing rules, limits and error texts,
 * whatever way the bytes are split. */
#include <criterion/criterion.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp/resp.h"

/* Everything one run of the reader produced, flattened so two runs compare
 * with memcmp: per request "<inline><argc>" then "<len>:<bytes>" per arg,
 * then "|<wire_len>/<skip_len>;". */
struct run {
    char *log;
    size_t len;
    size_t cap;
    int nreq;
    int status; /* RESP_AGAIN or RESP_ERR at the end */
    char err[160];
    size_t wire_total;
    const char *in; /* the whole input, to check each request's raw bytes */
    int nraw;       /* requests that came with their raw bytes */
};

static void run_add(struct run *o, const void *p, size_t n)
{
    if (o->cap - o->len < n) {
        o->cap = (o->cap + n) * 2;
        o->log = realloc(o->log, o->cap);
        cr_assert_not_null(o->log);
    }
    memcpy(o->log + o->len, p, n);
    o->len += n;
}

static void run_addf(struct run *o, const char *fmt, size_t v)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), fmt, v);
    run_add(o, tmp, (size_t)n);
}

static void run_free(struct run *o)
{
    free(o->log);
}

/* Drains every available request into o. */
static int drain(struct resp_reader *r, struct run *o)
{
    struct resp_request req;
    int rc;
    while ((rc = resp_reader_next(r, &req)) == RESP_OK) {
        cr_assert_geq(req.argc, 1);
        run_addf(o, "%zu", (size_t)req.inline_cmd);
        run_addf(o, "#%zu", (size_t)req.argc);
        for (int i = 0; i < req.argc; i++) {
            cr_assert_eq(req.argv[i][req.argvlen[i]], '\0', "argument not NUL-terminated");
            run_addf(o, " %zu:", req.argvlen[i]);
            run_add(o, req.argv[i], req.argvlen[i]);
        }
        run_addf(o, "|%zu", req.wire_len);
        run_addf(o, "/%zu;", req.skip_len);
        cr_assert_leq(req.skip_len, req.wire_len);
        if (req.raw != NULL) {
            /* The request's bytes as sent, but for header terminators the
             * reader normalises ("\r" then any byte reads as "\r\n"). */
            cr_assert(!req.inline_cmd);
            cr_assert_eq(req.raw_len, req.wire_len - req.skip_len);
            const char *sent = o->in + o->wire_total + req.skip_len;
            for (size_t i = 0; i < req.raw_len; i++)
                cr_assert(req.raw[i] == sent[i] ||
                              (i > 0 && req.raw[i] == '\n' && req.raw[i - 1] == '\r'),
                          "raw byte %zu of request %d: %d, sent %d", i, o->nreq, req.raw[i],
                          sent[i]);
            o->nraw++;
        }
        o->wire_total += req.wire_len;
        o->nreq++;
    }
    return rc;
}

/* Feeds in[0..n) cut at the given points (ascending), pulling requests after
 * every piece. */
static struct run feed_cuts(const char *in, size_t n, const size_t *cuts, int ncuts,
                            long long max_bulk)
{
    struct run o = {.in = in};
    struct resp_reader *r = resp_reader_new(max_bulk);
    size_t at = 0;
    int rc = RESP_AGAIN;
    for (int k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        if (end > at) {
            int frc = resp_reader_feed(r, in + at, end - at);
            if (frc == RESP_ERR) {
                rc = RESP_ERR;
                break;
            }
            cr_assert_eq(frc, RESP_OK);
        }
        at = end;
        rc = drain(r, &o);
        if (rc == RESP_ERR)
            break;
    }
    o.status = rc;
    if (rc == RESP_ERR) {
        cr_assert_not_null(resp_reader_error(r));
        snprintf(o.err, sizeof(o.err), "%s", resp_reader_error(r));
        /* Stays in error. */
        struct resp_request req;
        cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
        cr_assert_eq(resp_reader_feed(r, "PING\r\n", 6), RESP_ERR);
        cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
    } else {
        cr_assert_null(resp_reader_error(r));
        cr_assert_eq(o.wire_total + resp_reader_pending(r), n, "bytes lost: %zu + %zu != %zu",
                     o.wire_total, resp_reader_pending(r), n);
    }
    resp_reader_free(r);
    return o;
}

static struct run feed_whole(const char *in, size_t n)
{
    return feed_cuts(in, n, NULL, 0, 0);
}

static void same_run(const struct run *a, const struct run *b, const char *what, size_t at)
{
    cr_assert_eq(a->status, b->status, "%s %zu: status %d vs %d", what, at, a->status, b->status);
    cr_assert_eq(a->len, b->len, "%s %zu: log %.*s vs %.*s", what, at, (int)a->len, a->log,
                 (int)b->len, b->log);
    cr_assert(a->len == 0 || memcmp(a->log, b->log, a->len) == 0, "%s %zu: log differs", what, at);
    cr_assert_str_eq(a->err, b->err, "%s %zu", what, at);
}

/* Whole, split once at every byte, split twice at every pair around the
 * middle, and byte by byte: all give the same result. */
static void check_every_split(const char *in, size_t n)
{
    struct run whole = feed_whole(in, n);
    for (size_t c = 0; c <= n; c++) {
        struct run o = feed_cuts(in, n, &c, 1, 0);
        same_run(&whole, &o, "split at", c);
        run_free(&o);
    }
    size_t *cuts = calloc(n + 1, sizeof(*cuts));
    for (size_t c = 0; c < n; c++)
        cuts[c] = c + 1;
    struct run bytes = feed_cuts(in, n, cuts, (int)n, 0);
    same_run(&whole, &bytes, "byte by byte", 0);
    run_free(&bytes);
    for (size_t c1 = 0; c1 < n; c1 += 3) {
        for (size_t c2 = c1; c2 <= n; c2 += 5) {
            size_t two[2] = {c1, c2};
            struct run o = feed_cuts(in, n, two, 2, 0);
            same_run(&whole, &o, "split twice at", c1 * 100000 + c2);
            run_free(&o);
        }
    }
    free(cuts);
    run_free(&whole);
}

#define S(lit) lit, sizeof(lit) - 1

/* Expects exactly the requests described by want (a log as drain writes
 * it) and then status. */
#define expect_log(o, lit, status) expect_log_n((o), (lit), sizeof(lit) - 1, (status))
static void expect_log_n(const struct run *o, const char *want, size_t wn, int status)
{
    cr_assert_eq(o->status, status, "status %d (err %s)", o->status, o->err);
    cr_assert_eq(o->len, wn, "log\n got %.*s\nwant %s", (int)o->len, o->log, want);
    cr_assert(o->len == 0 || memcmp(o->log, want, o->len) == 0, "log\n got %.*s\nwant %s", (int)o->len, o->log,
              want);
}

static const char mixed[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\0ue\r\n"
                            "PING\r\n"
                            "\r\n"
                            "*0\r\n"
                            "*1\r\n$4\r\nPING\r\n"
                            "set a \"b c\"\r\n"
                            "*-1\r\n"
                            "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
                            "*1\r\n$4\r\na\r\nb\r\n"
                            "echo\n";

Test(resp_reader, mixed_inline_and_multibulk_in_one_feed)
{
    struct run o = feed_whole(S(mixed));
    expect_log(&o,
               "0#3 3:SET 3:key 5:va\0ue|33/0;"
               "1#1 4:PING|6/0;"
               "0#1 4:PING|20/6;"
               "1#3 3:set 1:a 3:b c|13/0;"
               "0#2 3:GET 0:|24/5;"
               "0#1 4:a\r\nb|14/0;"
               "1#1 4:echo|5/0;",
               RESP_AGAIN);
    cr_assert_eq(o.nreq, 7);
    cr_assert_eq(o.nraw, 4, "every multibulk request fed whole comes with its raw bytes");
    cr_assert_eq(o.wire_total, sizeof(mixed) - 1);
    run_free(&o);
}

Test(resp_reader, every_split_of_a_mixed_stream_gives_the_same_requests)
{
    check_every_split(S(mixed));
}

Test(resp_reader, every_split_of_each_error_gives_the_same_error)
{
    static const struct {
        const char *in;
        size_t n;
    } cases[] = {
        {S("PING\r\n*x\r\n")},
        {S("*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n")},
        {S("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n")},
        {S("GET a\r\nset \"a\r\n")},
        {S("*1\r\n:1\r\n")},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_every_split(cases[i].in, cases[i].n);
}

struct err_case {
    const char *in;
    size_t n;
    int nreq; /* requests before the error */
    const char *err;
};

static void check_errors(const struct err_case *cases, size_t ncases)
{
    for (size_t i = 0; i < ncases; i++) {
        struct run o = feed_whole(cases[i].in, cases[i].n);
        cr_assert_eq(o.status, RESP_ERR, "case %zu: no error", i);
        cr_assert_str_eq(o.err, cases[i].err, "case %zu", i);
        cr_assert_eq(o.nreq, cases[i].nreq, "case %zu: %d requests", i, o.nreq);
        run_free(&o);
    }
}

Test(resp_reader, protocol_errors_have_redis_exact_text)
{
    static const struct err_case cases[] = {
        {S("*abc\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*+1\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*01\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("* 1\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*1048577\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*2147483647\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*99999999999999999999999\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*1\n$4\r\nPING\r\n"), 0, "ERR Protocol error: invalid multibulk length"},
        {S("*1\r\n$-1\r\n"), 0, "ERR Protocol error: invalid bulk length"},
        {S("*1\r\n$abc\r\n"), 0, "ERR Protocol error: invalid bulk length"},
        {S("*1\r\n$\r\n"), 0, "ERR Protocol error: invalid bulk length"},
        {S("*1\r\n$+3\r\n"), 0, "ERR Protocol error: invalid bulk length"},
        {S("*1\r\n$536870913\r\n"), 0, "ERR Protocol error: invalid bulk length"},
        {S("*1\r\n:1\r\n"), 0, "ERR Protocol error: expected '$', got ':'"},
        {S("*1\r\n*1\r\n$1\r\na\r\n"), 0, "ERR Protocol error: expected '$', got '*'"},
        {S("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"), 0,
         "ERR Protocol error: expected '$', got 'f'"},
        /* The stray byte is a newline: the text stays one line. */
        {S("*2\r\n$1\r\na\r\n\n\r\n"), 0, "ERR Protocol error: expected '$', got ' '"},
        {S("set \"a\r\n"), 0, "ERR Protocol error: unbalanced quotes in request"},
        {S("set 'a\r\n"), 0, "ERR Protocol error: unbalanced quotes in request"},
        {S("set \"a\"b\r\n"), 0, "ERR Protocol error: unbalanced quotes in request"},
        {S("set 'a'b\r\n"), 0, "ERR Protocol error: unbalanced quotes in request"},
        {S("set \"a\\\"\r\n"), 0, "ERR Protocol error: unbalanced quotes in request"},
        /* Earlier requests come out before the error. */
        {S("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n"), 2,
         "ERR Protocol error: invalid multibulk length"},
    };
    check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(resp_reader, bulk_limit_follows_max_bulk_len)
{
    size_t none = 0;
    struct run o = feed_cuts(S("*1\r\n$10\r\n0123456789\r\n*1\r\n$11\r\n"), &none, 0, 10);
    cr_assert_eq(o.nreq, 1);
    cr_assert_eq(o.status, RESP_ERR);
    cr_assert_str_eq(o.err, "ERR Protocol error: invalid bulk length");
    run_free(&o);
    /* The default is proto-max-bulk-len's: 512 MB is still fine. */
    o = feed_whole(S("*1\r\n$536870912\r\n"));
    cr_assert_eq(o.status, RESP_AGAIN);
    run_free(&o);
}

/* head followed by n copies of c; *len gets the total. */
static char *repeat(const char *head, char c, size_t n, size_t *len)
{
    size_t h = strlen(head);
    char *p = malloc(h + n);
    memcpy(p, head, h);
    memset(p + h, c, n);
    *len = h + n;
    return p;
}

/* Lines without a terminator: up to 64 KB is waiting, beyond is an error,
 * with Redis's three different texts. */
Test(resp_reader, unterminated_lines_over_64k_are_too_big)
{
    static const struct {
        const char *before; /* complete bytes before the long line */
        const char *head;
        char fill;
        const char *err;
    } cases[] = {
        {"", "", 'a', "ERR Protocol error: too big inline request"},
        {"", "*", '1', "ERR Protocol error: too big mbulk count string"},
        {"*1\r\n", "$", '1', "ERR Protocol error: too big bulk count string"},
    };
    for (size_t i = 0; i < 3; i++) {
        for (size_t extra = 0; extra <= 1; extra++) {
            size_t bl = strlen(cases[i].before), hl = strlen(cases[i].head);
            size_t n = bl + RESP_MAX_INLINE_LEN + extra;
            char *p = malloc(n);
            memcpy(p, cases[i].before, bl);
            memcpy(p + bl, cases[i].head, hl);
            memset(p + bl + hl, cases[i].fill, n - bl - hl);
            /* Split so the bytes before are parsed first: the limit counts
             * from the start of the line. */
            size_t cut = bl + hl;
            struct run o = feed_cuts(p, n, &cut, 1, 0);
            if (extra == 0) {
                cr_assert_eq(o.status, RESP_AGAIN, "case %zu: exactly 64 KB still waits", i);
            } else {
                cr_assert_eq(o.status, RESP_ERR, "case %zu", i);
                cr_assert_str_eq(o.err, cases[i].err);
            }
            run_free(&o);
            free(p);
        }
    }
}

/* Redis finds line ends with strchr: a NUL before the terminator hides it,
 * so the line never ends and eventually is too big. */
Test(resp_reader, nul_before_line_end_hides_it_as_in_redis)
{
    struct run o = feed_whole(S("*1\r\n$4\0\r\nPING\r\nPING\r\n"));
    cr_assert_eq(o.status, RESP_AGAIN);
    cr_assert_eq(o.nreq, 0);
    run_free(&o);
    o = feed_whole(S("PI\0NG\r\n"));
    cr_assert_eq(o.status, RESP_AGAIN);
    cr_assert_eq(o.nreq, 0);
    run_free(&o);

    size_t n;
    char *p = repeat("*1\r\n$4\0\r\n", 'x', RESP_MAX_INLINE_LEN, &n);
    o = feed_whole(p, n);
    cr_assert_eq(o.status, RESP_ERR);
    cr_assert_str_eq(o.err, "ERR Protocol error: too big bulk count string");
    run_free(&o);
    free(p);
}

/* Redis ends a header line at the first CR and skips the byte after it
 * unseen, and skips the two bytes after a payload unchecked. */
Test(resp_reader, header_cr_takes_any_next_byte_as_in_redis)
{
    struct run o = feed_whole(S("*2\rX$4\r\nPING\r\n$1\rYaZZ*1\r\n$1\r\nb\r\n"));
    expect_log(&o, "0#2 4:PING 1:a|21/0;0#1 1:b|11/0;", RESP_AGAIN);
    run_free(&o);
    check_every_split(S("*2\rX$4\r\nPING\r\n$1\rYaZZ*1\r\n$1\r\nb\r\n"));
}

Test(resp_reader, inline_splits_like_sdssplitargs)
{
    struct run o = feed_whole(S("  a   b  \r\n"
                                "set \"a b\" 'c d' \"\\x41\\x4g\\n\\t\\\"\" 'it\\'s'\r\n"
                                "x \"\"\r\n"
                                "a\"b\"\r\n"
                                "\x0b"
                                "a\x0b"
                                "b\tc\r\n"
                                "PING\n"
                                "PING\r\r\n"
                                "'\\n' \"\\z\"\r\n"
                                "   \r\n"
                                "\xff\xfe\r\n"));
    expect_log(&o,
               "1#2 1:a 1:b|11/0;"
               "1#5 3:set 3:a b 3:c d 7:Ax4g\n\t\" 4:it's|42/0;"
               "1#2 1:x 0:|6/0;"
               "1#1 2:ab|6/0;"
               "1#2 3:a\x0b"
               "b 1:c|8/0;"
               "1#1 4:PING|5/0;"
               "1#1 4:PING|7/0;"
               "1#2 2:\\n 1:z|11/0;"
               "1#1 2:\xff\xfe|9/5;",
               RESP_AGAIN);
    run_free(&o);
}

Test(resp_reader, empty_lines_and_empty_multibulks_are_skipped)
{
    struct run o = feed_whole(S("\r\n\n*0\r\n*-1\r\n*-10\r\n   \r\n"));
    cr_assert_eq(o.status, RESP_AGAIN);
    cr_assert_eq(o.nreq, 0);
    run_free(&o);
}

/* Memory follows the bytes received, never an announced length. */
Test(resp_reader, huge_announced_lengths_allocate_nothing)
{
    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    cr_assert_eq(resp_reader_feed(r, S("*1048576\r\n$536870912\r\n")), RESP_OK);
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    cr_assert_eq(resp_reader_pending(r), 22);
    resp_reader_free(r);

    r = resp_reader_new(0);
    long rss0 = 0, rss1 = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(fscanf(f, "%*s %ld", &rss0) == 1);
    fclose(f);
    cr_assert_eq(resp_reader_feed(r, S("*1048576\r\n")), RESP_OK);
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(resp_reader_feed(r, S("$1\r\na\r\n")), RESP_OK);
        cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    }
    f = fopen("/proc/self/statm", "r");
    cr_assert(fscanf(f, "%*s %ld", &rss1) == 1);
    fclose(f);
    cr_assert_lt((rss1 - rss0) * 4096, 4 << 20, "RSS grew by %ld pages", rss1 - rss0);
    resp_reader_free(r);

    r = resp_reader_new(0);
    cr_assert_eq(resp_reader_feed(r, S("*2147483647\r\n")), RESP_OK);
    cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
    cr_assert_str_eq(resp_reader_error(r), "ERR Protocol error: invalid multibulk length");
    resp_reader_free(r);
}

Test(resp_reader, unauthenticated_limits_apply_when_auth_is_required)
{
    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    resp_reader_set_auth_required(r, 1);
    cr_assert_eq(resp_reader_feed(r, S("*10\r\n")), RESP_OK);
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    resp_reader_free(r);

    static const struct err_case cases[] = {
        {S("*11\r\n"), 0, "ERR Protocol error: unauthenticated multibulk length"},
        {S("*1\r\n$16385\r\n"), 0, "ERR Protocol error: unauthenticated bulk length"},
    };
    for (size_t i = 0; i < 2; i++) {
        r = resp_reader_new(0);
        resp_reader_set_auth_required(r, 1);
        resp_reader_feed(r, cases[i].in, cases[i].n);
        cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
        cr_assert_str_eq(resp_reader_error(r), cases[i].err);
        resp_reader_free(r);
    }
    r = resp_reader_new(0);
    resp_reader_set_auth_required(r, 1);
    resp_reader_set_auth_required(r, 0);
    resp_reader_feed(r, S("*11\r\n$16385\r\n"));
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    resp_reader_free(r);
}

/* A 3 MB value in 1000-byte pieces comes out whole and unchanged. */
Test(resp_reader, large_bulk_in_pieces_is_binary_exact)
{
    size_t vn = 3 << 20;
    char *v = malloc(vn);
    for (size_t i = 0; i < vn; i++)
        v[i] = (char)(i * 7 + (i >> 9));
    struct resp_buf b;
    resp_buf_init(&b);
    const char *argv[3] = {"SET", "k", v};
    size_t argvlen[3] = {3, 1, vn};
    resp_add_command(&b, 3, argv, argvlen);
    resp_add_command(&b, 2, argv, argvlen);

    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    int got = 0;
    for (size_t at = 0; at < b.len; at += 1000) {
        size_t n = b.len - at < 1000 ? b.len - at : 1000;
        resp_reader_feed(r, b.data + at, n);
        int rc;
        while ((rc = resp_reader_next(r, &req)) == RESP_OK) {
            got++;
            if (got == 1) {
                cr_assert_eq(req.argc, 3);
                cr_assert_eq(req.argvlen[2], vn);
                cr_assert(memcmp(req.argv[2], v, vn) == 0);
                cr_assert_eq(req.wire_len, b.len - 20); /* the second is *2 $3 SET $1 k */
            } else {
                cr_assert_eq(req.argc, 2);
                cr_assert_str_eq(req.argv[1], "k");
            }
        }
        cr_assert_eq(rc, RESP_AGAIN);
        cr_assert_leq(resp_reader_pending(r), b.len);
    }
    cr_assert_eq(got, 2);
    cr_assert_eq(resp_reader_pending(r), 0);
    resp_reader_free(r);
    resp_buf_fini(&b);
    free(v);
}

/* 100,000 pipelined commands in one feed all come out, in order. (Speed
 * is checked by hand, not asserted: see the commit notes.) */
Test(resp_reader, large_pipeline_in_one_feed)
{
    struct resp_buf b;
    resp_buf_init(&b);
    for (int i = 0; i < 100000; i++) {
        char key[32];
        int kn = snprintf(key, sizeof(key), "key:%d", i);
        const char *argv[3] = {"SET", key, "value"};
        size_t argvlen[3] = {3, (size_t)kn, 5};
        resp_add_command(&b, 3, argv, argvlen);
        if (i % 1000 == 0)
            resp_buf_append(&b, "PING\r\n", 6);
    }
    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    resp_reader_feed(r, b.data, b.len);
    int n = 0, inl = 0;
    size_t total = 0;
    while (resp_reader_next(r, &req) == RESP_OK) {
        total += req.wire_len;
        if (req.inline_cmd) {
            inl++;
            continue;
        }
        char key[32];
        snprintf(key, sizeof(key), "key:%d", n);
        cr_assert_str_eq(req.argv[1], key);
        n++;
    }
    cr_assert_eq(n, 100000);
    cr_assert_eq(inl, 100);
    cr_assert_eq(total, b.len);
    resp_reader_free(r);
    resp_buf_fini(&b);
}

Test(resp_reader, free_null_is_a_noop_and_error_is_null_before_errors)
{
    resp_reader_free(NULL);
    struct resp_reader *r = resp_reader_new(-1);
    cr_assert_null(resp_reader_error(r));
    cr_assert_eq(resp_reader_pending(r), 0);
    resp_reader_free(r);
}

/* The default is the contract's 1,048,576; Redis 7.0 itself allows INT_MAX,
 * selectable, and even then memory follows the bytes, not the count. */
Test(resp_reader, multibulk_limit_can_be_raised_to_redis_7_int_max)
{
    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    resp_reader_feed(r, S("*1048576\r\n"));
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    resp_reader_free(r);

    r = resp_reader_new(0);
    resp_reader_set_max_multibulk_len(r, INT_MAX);
    resp_reader_feed(r, S("*2147483647\r\n$4\r\nPING\r\n"));
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    cr_assert_eq(resp_reader_pending(r), 23);
    resp_reader_free(r);

    r = resp_reader_new(0);
    resp_reader_set_max_multibulk_len(r, 1LL << 40);
    resp_reader_feed(r, S("*2147483648\r\n"));
    cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
    cr_assert_str_eq(resp_reader_error(r), "ERR Protocol error: invalid multibulk length");
    resp_reader_free(r);

    r = resp_reader_new(0);
    resp_reader_set_max_multibulk_len(r, 2);
    resp_reader_feed(r, S("*2\r\n$1\r\na\r\n$1\r\nb\r\n*3\r\n"));
    cr_assert_eq(resp_reader_next(r, &req), RESP_OK);
    cr_assert_eq(resp_reader_next(r, &req), RESP_ERR);
    resp_reader_free(r);
}

/* Once a big request has been consumed, the reader lets go of its copies:
 * an idle connection does not pin what its last value needed. */
Test(resp_reader, memory_of_a_big_request_is_released_after_it)
{
#ifndef __SANITIZE_ADDRESS__ /* ASan's allocator does not report to mallinfo2 */
    size_t vn = 8 << 20;
    char *v = calloc(1, vn);
    struct resp_buf b;
    resp_buf_init(&b);
    const char *argv[3] = {"SET", "k", v};
    size_t argvlen[3] = {3, 1, vn};
    resp_add_command(&b, 3, argv, argvlen);
    free(v);
    size_t before = mallinfo2().uordblks;

    struct resp_reader *r = resp_reader_new(0);
    struct resp_request req;
    for (size_t at = 0; at < b.len; at += 16384)
        resp_reader_feed(r, b.data + at, b.len - at < 16384 ? b.len - at : 16384);
    cr_assert_eq(resp_reader_next(r, &req), RESP_OK);
    cr_assert_eq(req.argvlen[2], vn);
    size_t during = mallinfo2().uordblks;
    cr_assert_gt(during, before + vn, "the value is held while the request is in use");
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    size_t after = mallinfo2().uordblks;
    cr_assert_lt(after, before + (256 << 10), "still holding %zu bytes", after - before);
    resp_reader_free(r);
    resp_buf_fini(&b);
#endif
}
