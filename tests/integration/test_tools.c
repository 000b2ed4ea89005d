/* Real Redis tools through ferry: redis-cli and redis-benchmark, plus the
 * connection limits (maxclients, timeout). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;

static void start_redis(void)
{
    cr_assert(support_redis_start(&redis, NULL) == 0);
}

static void stop_all(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
}

TestSuite(tools, .init = start_redis, .fini = stop_all, .timeout = 300);

Test(tools, redis_cli_round_trips)
{
    cr_assert(support_ferry_start(&ferry, redis.port, NULL) == 0);
    char cmd[256], out[4096];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d SET greeting 'hello world' 2>&1", ferry.port);
    cr_assert_eq(support_run(cmd, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "OK\n");
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d GET greeting 2>&1", ferry.port);
    support_run(cmd, out, sizeof(out));
    cr_assert_str_eq(out, "hello world\n");
    snprintf(cmd, sizeof(cmd), "printf 'RPUSH l a b c\\nLRANGE l 0 -1\\n' | redis-cli -p %d 2>&1",
             ferry.port);
    support_run(cmd, out, sizeof(out));
    cr_assert_str_eq(out, "3\na\nb\nc\n"); /* raw: stdout is not a tty */
}

/* redis-benchmark's default tests: every request gets its answer (the
 * benchmark would hang, and the timeout fail the test, otherwise), with
 * no error replies. */
Test(tools, redis_benchmark_default_tests_all_answered)
{
    cr_assert(support_ferry_start(&ferry, redis.port, NULL) == 0);
    char cmd[256], out[16384];
    snprintf(cmd, sizeof(cmd),
             "timeout 240 redis-benchmark -p %d -n 5000 -c 20 -P 4 -r 1000 --csv 2>&1",
             ferry.port);
    cr_assert_eq(support_run(cmd, out, sizeof(out)), 0, "%s", out);
    const char *tests[] = {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH",
                           "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
                           "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                           "LRANGE_600 (first 600 elements)", "MSET (10 keys)"};
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "\"%s\",\"", tests[i]);
        cr_assert(strstr(out, want) != NULL, "no result for %s in:\n%s", tests[i], out);
    }
    cr_assert(strstr(out, "Error") == NULL && strstr(out, "ERR") == NULL, "%s", out);
}

Test(tools, maxclients_refuses_with_redis_words)
{
    const char *args[] = {"--maxclients", "2", NULL};
    cr_assert(support_ferry_start(&ferry, redis.port, args) == 0);
    /* support_ferry_start's readiness probe connected and left: wait for
     * ferry to notice. */
    redisContext *a = support_connect(ferry.port), *b;
    for (int i = 0;; i++) {
        b = support_connect(ferry.port);
        redisReply *r = redisCommand(b, "PING");
        if (r && r->type == REDIS_REPLY_STATUS) {
            freeReplyObject(r);
            break;
        }
        if (r)
            freeReplyObject(r);
        redisFree(b);
        cr_assert(i < 100, "second client never admitted");
        usleep(10000);
    }
    int fd = support_raw_connect(ferry.port);
    char buf[128] = {0};
    size_t n = support_raw_recv(fd, buf, sizeof(buf) - 1);
    cr_assert_str_eq(buf, "-ERR max number of clients reached\r\n", "%zu bytes", n);
    close(fd);
    support_expect_str(a, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(a);
    redisFree(b);
}

Test(tools, idle_clients_are_closed_after_timeout)
{
    const char *args[] = {"--timeout", "1", NULL};
    cr_assert(support_ferry_start(&ferry, redis.port, args) == 0);
    int fd = support_raw_connect(ferry.port);
    char buf[16];
    /* Closed within the cron's resolution after 1 s idle: recv sees EOF
     * well before its own 10 s timeout. */
    cr_assert_eq(support_raw_recv(fd, buf, sizeof(buf)), 0);
    close(fd);
}
