/* Malformed requests: ferry answers each exactly as a real redis-server does
 * (same bytes, then the connection closes), while other clients carry on. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;

static void start_both(void)
{
    cr_assert(support_redis_start(&redis, NULL) == 0);
    cr_assert(support_ferry_start(&ferry, redis.port, NULL) == 0);
}

static void stop_both(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
}

TestSuite(protocol, .init = start_both, .fini = stop_both, .timeout = 120);

/* Everything the server sends back for `in`, until it closes. */
static size_t exchange(int port, const char *in, size_t inlen, char *out, size_t cap)
{
    int fd = support_raw_connect(port);
    support_raw_send(fd, in, inlen);
    size_t n = support_raw_recv(fd, out, cap);
    close(fd);
    return n;
}

static void same_as_redis(const char *in, size_t inlen)
{
    static char a[1 << 16], b[1 << 16];
    size_t na = exchange(redis.port, in, inlen, a, sizeof(a));
    size_t nb = exchange(ferry.port, in, inlen, b, sizeof(b));
    cr_assert(na > 0, "redis said nothing");
    cr_assert(na == nb && memcmp(a, b, na) == 0, "redis: %.*s\nferry: %.*s", (int)na, a,
              (int)nb, b);
    /* A bystander is still served. */
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
}

#define SAME_AS_REDIS(lit) same_as_redis((lit), sizeof(lit) - 1)

Test(protocol, multibulk_count_beyond_int_max)
{
    SAME_AS_REDIS("PING\r\n*2147483648\r\n");
}

/* Redis 7.0 accepts counts up to INT_MAX and waits for the arguments;
 * ferry caps them at 1,048,576 (Redis 6's limit) so a client cannot make a
 * sidecar hold a huge argv: docs/ARCHITECTURE.md. */
Test(protocol, multibulk_count_over_a_million_is_refused)
{
    const char in[] = "PING\r\n*1048577\r\n";
    const char want[] = "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n";
    char out[128] = {0};
    size_t n = exchange(ferry.port, in, sizeof(in) - 1, out, sizeof(out));
    cr_assert(n == sizeof(want) - 1 && memcmp(out, want, n) == 0, "got %.*s", (int)n, out);
    n = exchange(ferry.port, "*2147483647\r\n", 14, out, sizeof(out));
    cr_assert_eq(n, 47, "got %.*s", (int)n, out);
}

Test(protocol, multibulk_count_not_a_number)
{
    SAME_AS_REDIS("*abc\r\n");
}

Test(protocol, bulk_length_not_a_number)
{
    SAME_AS_REDIS("*1\r\n$abc\r\n");
}

Test(protocol, bulk_length_over_the_limit)
{
    SAME_AS_REDIS("*1\r\n$600000000\r\n");
}

Test(protocol, item_that_is_not_a_bulk)
{
    SAME_AS_REDIS("*1\r\n+foo\r\n");
}

Test(protocol, unbalanced_quotes_inline)
{
    SAME_AS_REDIS("SET \"abc\r\n");
}

Test(protocol, inline_request_over_64k)
{
    static char big[70 * 1024];
    memset(big, 'a', sizeof(big));
    same_as_redis(big, sizeof(big));
}

Test(protocol, multibulk_count_line_over_64k)
{
    static char big[70 * 1024];
    memset(big, '1', sizeof(big));
    big[0] = '*';
    same_as_redis(big, sizeof(big));
}

Test(protocol, earlier_pipelined_replies_arrive_before_the_error)
{
    SAME_AS_REDIS("*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$3\r\nGET\r\n*1\r\n$x\r\n");
}

Test(protocol, empty_lines_and_empty_multibulks_are_ignored)
{
    const char in[] = "\r\n*0\r\n*-1\r\nPING\r\n";
    int fd = support_raw_connect(ferry.port);
    support_raw_send(fd, in, sizeof(in) - 1);
    char out[16] = {0};
    cr_assert_eq(support_raw_recv(fd, out, 7), 7);
    cr_assert_str_eq(out, "+PONG\r\n");
    close(fd);
}
