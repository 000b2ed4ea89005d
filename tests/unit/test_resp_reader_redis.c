/* The request reader against a real redis-server: thousands of seeded,
 * partly mangled request streams made of ECHO and PING go to Redis on a
 * fresh connection each; the replies must be exactly what our reader's
 * requests predict (each request's reply, then the protocol error text if
 * the reader stops on one). This checks request boundaries, arguments,
 * skipped lines and error texts against Redis itself, not against our
 * reading of its source. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resp/resp.h"
#include "tests/unit/resp_test_redis.h"

struct redis {
    struct test_redis server;
};

static void redis_start(struct redis *r)
{
    test_redis_start(&r->server, NULL);
}

static void redis_stop(struct redis *r)
{
    test_redis_stop(&r->server);
}

/* Sends the stream, closes our side, and collects everything Redis says
 * until it closes. */
static void redis_exchange(struct redis *r, const char *p, size_t n, struct resp_buf *out)
{
    int fd = test_redis_connect(&r->server);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    shutdown(fd, SHUT_WR);
    resp_buf_reset(out);
    for (;;) {
        resp_buf_reserve(out, 4096);
        ssize_t k = read(fd, out->data + out->len, out->cap - out->len);
        cr_assert_geq(k, 0);
        if (k == 0)
            break;
        out->len += (size_t)k;
    }
    close(fd);
}

static int is_word(const struct resp_request *q, int i, const char *w)
{
    return q->argvlen[i] == strlen(w) && strncasecmp(q->argv[i], w, strlen(w)) == 0;
}

/* What Redis answers to the requests our reader finds. Returns 0 when a
 * request is outside the ECHO/PING vocabulary (the stream is then not
 * compared: we do not model every command). */
static int predict(const char *p, size_t n, struct resp_buf *out)
{
    struct resp_reader *r = resp_reader_new(0);
    struct resp_request q;
    int rc, ok = 1;
    resp_reader_set_max_multibulk_len(r, INT_MAX); /* Redis 7.0's own limit */
    resp_buf_reset(out);
    resp_reader_feed(r, p, n);
    while ((rc = resp_reader_next(r, &q)) == RESP_OK) {
        if (is_word(&q, 0, "echo")) {
            if (q.argc == 2)
                resp_add_bulk(out, q.argv[1], q.argvlen[1]);
            else
                resp_add_error(out, "ERR wrong number of arguments for 'echo' command");
        } else if (is_word(&q, 0, "ping")) {
            if (q.argc == 1)
                resp_add_simple(out, "PONG");
            else if (q.argc == 2)
                resp_add_bulk(out, q.argv[1], q.argvlen[1]);
            else
                resp_add_error(out, "ERR wrong number of arguments for 'ping' command");
        } else {
            ok = 0;
            break;
        }
    }
    if (ok && rc == RESP_ERR)
        resp_add_error(out, resp_reader_error(r));
    resp_reader_free(r);
    return ok;
}

static const char *const fragments[] = {
    "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
    "*1\r\n$4\r\nPING\r\n",
    "*2\r\n$4\r\nping\r\n$0\r\n\r\n",
    "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n",
    "*3\r\n$4\r\nECHO\r\n$1\r\na\r\n$1\r\nb\r\n",
    "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n",
    "PING\r\n",
    "ping\n",
    "echo \"a b\\x41\\n\"\r\n",
    "echo 'it\\'s'\r\n",
    "ECHO x\r\r\n",
    "  echo   spaced   \r\n",
    "\r\n",
    "\n",
    "*0\r\n",
    "*-1\r\n",
    "*2\rX$4\r\nECHO\r\n$2\rYabZZ",
    "*2\r\n$4\r\nECHO\r\n$3\r\nabcXY",
    "echo \"unbalanced\r\n",
    "*1\r\n:1\r\n",
    "*x\r\n",
    "*2\r\n$4\r\nECHO\r\n$-1\r\n",
    "*1048577\r\n",
    "*2147483648\r\n",
    "*2\r\n$4\r\nECHO\r\n$536870913\r\n",
};
#define NFRAG (sizeof(fragments) / sizeof(fragments[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* A few fragments, then maybe a few byte mutations picked to hit the
 * parser's decisions (line ends, signs, digits, quotes, NULs). */
static size_t make_stream(char *buf, size_t cap)
{
    static const char bytes[] = "\r\n\0*$-+0129 \"'\\x:a";
    size_t n = 0;
    int nf = 1 + (int)rnd(5);
    for (int i = 0; i < nf; i++) {
        const char *f = fragments[rnd(NFRAG)];
        size_t k = strlen(f);
        if (n + k > cap - 8)
            break;
        memcpy(buf + n, f, k);
        n += k;
    }
    int nm = rnd(2) ? 0 : 1 + (int)rnd(3);
    for (int i = 0; i < nm && n > 0; i++) {
        size_t at = rnd((uint32_t)n);
        char c = bytes[rnd(sizeof(bytes) - 1)];
        switch (rnd(3)) {
        case 0: buf[at] = c; break;
        case 1:
            memmove(buf + at, buf + at + 1, n - at - 1);
            n--;
            break;
        default:
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = c;
            n++;
            break;
        }
    }
    return n;
}

Test(resp_reader_redis, mangled_streams_get_the_replies_our_requests_predict, .timeout = 120)
{
    struct redis rs;
    redis_start(&rs);
    struct resp_buf got, want;
    resp_buf_init(&got);
    resp_buf_init(&want);
    char buf[1024];
    int compared = 0, errors = 0;
    /* FERRY_DIFF_STREAMS=N (and FERRY_DIFF_SEED) run a longer search by hand. */
    const char *env = getenv("FERRY_DIFF_STREAMS");
    int nstreams = env ? atoi(env) : 3000;
    if (getenv("FERRY_DIFF_SEED"))
        rng_state ^= strtoull(getenv("FERRY_DIFF_SEED"), NULL, 10) * 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < nstreams; i++) {
        size_t n = make_stream(buf, sizeof(buf));
        if (!predict(buf, n, &want))
            continue;
        redis_exchange(&rs, buf, n, &got);
        compared++;
        if (want.len && want.data[want.len - 1] == '\n' && memmem(want.data, want.len, "Protocol", 8))
            errors++;
        if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0) {
            char esc[4096];
            size_t e = 0;
            for (size_t j = 0; j < n && e < sizeof(esc) - 8; j++) {
                unsigned char c = (unsigned char)buf[j];
                e += (size_t)(c >= 32 && c < 127 && c != '\\'
                                  ? snprintf(esc + e, sizeof(esc) - e, "%c", c)
                                  : snprintf(esc + e, sizeof(esc) - e, "\\x%02x", c));
            }
            cr_assert_fail("stream %d: %s\nredis: %.*s\n ours: %.*s", i, esc, (int)got.len,
                           got.data, (int)want.len, want.data);
        }
    }
    /* Not vacuous: most streams are compared, many end in a protocol error. */
    cr_log_info("%d streams compared, %d ended in a protocol error", compared, errors);
    cr_assert_geq(compared, nstreams * 2 / 3, "only %d streams compared", compared);
    cr_assert_geq(errors, nstreams / 10, "only %d streams ended in a protocol error", errors);
    resp_buf_fini(&got);
    resp_buf_fini(&want);
    redis_stop(&rs);
}

/* Lines beyond 64 KB, and just under, against Redis. Each stream is exactly
 * as long as Redis reads before it decides, so it closes with nothing
 * unread (unread bytes would make the close a reset that can eat the reply).
 * Where Redis notices a long line depends on its 16 KB reads; the reader
 * checks whenever it is fed, so it agrees when fed as Redis reads. */
Test(resp_reader_redis, long_lines_get_redis_own_verdict, .timeout = 60)
{
    static const struct {
        const char *head;
        char fill;
        size_t nfill;
        const char *tail;
    } cases[] = {
        {"ECHO ", 'a', 65532, ""},
        {"*", '1', 65536, ""},
        {"*2\r\n$4\r\nECHO\r\n$", '1', 65536, ""},
        {"ECHO ", 'a', 60000, "\r\n"},
        {"PING\r\nECHO ", 'a', 65000, "\r\nECHO "},
        {"ECHO ", 'a', 65531, ""}, /* exactly 64 KB: Redis waits */
    };
    struct redis rs;
    redis_start(&rs);
    struct resp_buf got, want, in;
    resp_buf_init(&got);
    resp_buf_init(&want);
    resp_buf_init(&in);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp_buf_reset(&in);
        resp_buf_append(&in, cases[i].head, strlen(cases[i].head));
        resp_buf_reserve(&in, cases[i].nfill);
        memset(in.data + in.len, cases[i].fill, cases[i].nfill);
        in.len += cases[i].nfill;
        resp_buf_append(&in, cases[i].tail, strlen(cases[i].tail));
        cr_assert(predict(in.data, in.len, &want));
        redis_exchange(&rs, in.data, in.len, &got);
        cr_assert(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
                  "case %zu:\nredis: %.60s\n ours: %.60s", i, got.data, want.data);
    }
    resp_buf_fini(&got);
    resp_buf_fini(&want);
    resp_buf_fini(&in);
    redis_stop(&rs);
}
