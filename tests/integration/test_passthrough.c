/* Phase redis: ferry in front of a real redis-server, driven by hiredis. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;
/* A second pair, for tests that need Redis started with other options;
 * stopped with the first, so a failed assertion leaves nothing behind. */
static struct support_proc redis2, ferry2;

static void start_both(void)
{
    cr_assert(support_redis_start(&redis, NULL) == 0, "redis-server did not start");
    cr_assert(support_ferry_start(&ferry, redis.port, NULL) == 0, "ferry did not start");
}

/* The DNS server and directory of the name-resolution test. */
static pid_t dns_pid;
static char *dns_dir;

static void stop_both(void)
{
    support_proc_stop(&ferry2);
    support_stop_pid(dns_pid, 1000);
    if (dns_dir)
        support_rmdir(dns_dir);
    support_proc_stop(&redis2);
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
}

TestSuite(passthrough, .init = start_both, .fini = stop_both, .timeout = 120);

Test(passthrough, answers_basic_commands_like_redis)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");
    support_expect_int(c, 1, "DEL k");
    support_expect_str(c, REDIS_REPLY_NIL, NULL, "GET k");
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR unknown command 'NOSUCH', with args beginning with: 'x' ",
                       "NOSUCH x");
    support_expect_str(c, REDIS_REPLY_ERROR, "NOPROTO unsupported protocol version", "HELLO 4");
    redisFree(c);
}

Test(passthrough, keys_and_values_are_binary_safe)
{
    redisContext *c = support_connect(ferry.port);
    char key[256], val[4096];
    for (int i = 0; i < 256; i++)
        key[i] = (char)i;
    for (int i = 0; i < 4096; i++)
        val[i] = (char)(i * 7);
    redisReply *r = redisCommand(c, "SET %b %b", key, sizeof(key), val, sizeof(val));
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    r = redisCommand(c, "GET %b", key, sizeof(key));
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_assert_eq(r->len, sizeof(val));
    cr_assert(memcmp(r->str, val, sizeof(val)) == 0);
    freeReplyObject(r);
    redisFree(c);
}

Test(passthrough, inline_commands_work)
{
    int fd = support_raw_connect(ferry.port);
    const char req[] = "PING\r\nSET \"a b\" 'c d'\r\nGET \"a b\"\r\n";
    support_raw_send(fd, req, sizeof(req) - 1);
    const char want[] = "+PONG\r\n+OK\r\n$3\r\nc d\r\n";
    char got[64] = {0};
    size_t n = support_raw_recv(fd, got, sizeof(want) - 1);
    cr_assert_eq(n, sizeof(want) - 1, "got %zu bytes: %s", n, got);
    cr_assert(memcmp(got, want, n) == 0, "got %s", got);
    close(fd);
}

Test(passthrough, pipeline_of_100000_commands_in_order)
{
    redisContext *c = support_connect(ferry.port);
    const int n = 100000;
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, (i % 2) ? "GET p:%d" : "SET p:%d %d", i / 2, i);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK, "reply %d: %s", i, c->errstr);
        if (i % 2 == 0) {
            cr_assert_eq(r->type, REDIS_REPLY_STATUS, "reply %d", i);
        } else {
            cr_assert_eq(r->type, REDIS_REPLY_STRING, "reply %d type %d", i, r->type);
            cr_assert_eq(atoi(r->str), i - 1, "reply %d is %s", i, r->str);
        }
        freeReplyObject(r);
    }
    redisFree(c);
}

Test(passthrough, multi_exec_and_watch_abort)
{
    redisContext *a = support_connect(ferry.port), *b = support_connect(ferry.port);
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "SET m 1");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "INCR m");
    redisReply *r = redisCommand(a, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    cr_assert_eq(r->element[1]->integer, 2);
    freeReplyObject(r);

    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "WATCH m");
    support_expect_str(b, REDIS_REPLY_STATUS, "OK", "SET m changed");
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "SET m mine");
    support_expect_str(a, REDIS_REPLY_NIL, NULL, "EXEC");
    support_expect_str(b, REDIS_REPLY_STRING, "changed", "GET m");
    redisFree(a);
    redisFree(b);
}

Test(passthrough, blpop_waits_until_another_client_pushes)
{
    redisContext *a = support_connect(ferry.port), *b = support_connect(ferry.port);
    redisAppendCommand(a, "BLPOP q 0");
    int done = 0;
    while (!done)
        cr_assert(redisBufferWrite(a, &done) == REDIS_OK);
    usleep(100 * 1000); /* let BLPOP reach Redis and block; GET below proves order anyway */
    support_expect_int(b, 1, "RPUSH q hello");
    redisReply *r;
    cr_assert(redisGetReply(a, (void **)&r) == REDIS_OK);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_str_eq(r->element[1]->str, "hello");
    freeReplyObject(r);
    support_expect_str(a, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(a);
    redisFree(b);
}

Test(passthrough, subscribe_receives_what_another_client_publishes)
{
    redisContext *sub = support_connect(ferry.port), *pub = support_connect(ferry.port);
    redisReply *r = redisCommand(sub, "SUBSCRIBE news");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_str_eq(r->element[0]->str, "subscribe");
    freeReplyObject(r);
    support_expect_int(pub, 1, "PUBLISH news hello");
    cr_assert(redisGetReply(sub, (void **)&r) == REDIS_OK);
    cr_assert_str_eq(r->element[0]->str, "message");
    cr_assert_str_eq(r->element[2]->str, "hello");
    freeReplyObject(r);
    r = redisCommand(sub, "UNSUBSCRIBE news");
    cr_assert_str_eq(r->element[0]->str, "unsubscribe");
    cr_assert_eq(r->element[2]->integer, 0);
    freeReplyObject(r);
    support_expect_str(sub, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(sub);
    redisFree(pub);
}

Test(passthrough, select_is_per_client)
{
    redisContext *a = support_connect(ferry.port), *b = support_connect(ferry.port);
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "SELECT 1");
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "SET s in-db-1");
    support_expect_str(b, REDIS_REPLY_NIL, NULL, "GET s");
    support_expect_str(a, REDIS_REPLY_STRING, "in-db-1", "GET s");
    redisReply *r = redisCommand(a, "CLIENT SETNAME alice");
    freeReplyObject(r);
    support_expect_str(a, REDIS_REPLY_STRING, "alice", "CLIENT GETNAME");
    support_expect_str(b, REDIS_REPLY_NIL, NULL, "CLIENT GETNAME");
    redisFree(a);
    redisFree(b);
}

Test(passthrough, values_of_100_megabytes_round_trip, .timeout = 300)
{
    size_t n = 100u * 1024 * 1024;
    char *v = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)(i * 2654435761u >> 24);
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "SET big %b", v, n);
    cr_assert(r != NULL, "%s", c->errstr);
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    r = redisCommand(c, "GET big");
    cr_assert(r != NULL, "%s", c->errstr);
    cr_assert_eq(r->len, n);
    cr_assert(memcmp(r->str, v, n) == 0);
    freeReplyObject(r);
    redisFree(c);
    free(v);
    long rss = support_rss_kb(ferry.pid);
    cr_log_info("ferry RSS after a 100 MB round trip: %ld KiB", rss);
}

Test(passthrough, a_thousand_concurrent_clients)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2100 && rl.rlim_max >= 2100) {
        rl.rlim_cur = 2100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    enum { N = 1000 };
    static redisContext *cs[N];
    for (int i = 0; i < N; i++)
        cs[i] = support_connect(ferry.port);
    for (int i = 0; i < N; i++)
        redisAppendCommand(cs[i], "SET c:%d %d", i, i);
    for (int i = 0; i < N; i++)
        redisAppendCommand(cs[i], "GET c:%d", i);
    for (int i = 0; i < N; i++) {
        redisReply *r;
        cr_assert(redisGetReply(cs[i], (void **)&r) == REDIS_OK);
        cr_assert_str_eq(r->str, "OK");
        freeReplyObject(r);
        cr_assert(redisGetReply(cs[i], (void **)&r) == REDIS_OK);
        cr_assert_eq(atoi(r->str), i);
        freeReplyObject(r);
    }
    for (int i = 0; i < N; i++)
        redisFree(cs[i]);
}

Test(passthrough, upstream_killed_and_restarted_mid_stream)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET before 1");
    int port = redis.port;
    support_stop_pid(redis.pid, 5000);
    redis.pid = 0;

    char want[128];
    snprintf(want, sizeof(want), "ERR ferry: upstream 127.0.0.1:%d unavailable (", port);
    for (int i = 0; i < 20; i++) {
        redisReply *r = redisCommand(c, "GET before");
        cr_assert(r != NULL, "ferry dropped the client: %s", c->errstr);
        cr_assert_eq(r->type, REDIS_REPLY_ERROR, "reply %d type %d", i, r->type);
        cr_assert(strncmp(r->str, want, strlen(want)) == 0, "error was: %s", r->str);
        freeReplyObject(r);
    }
    /* Another client is still served (with the same error), ferry is up. */
    redisContext *d = support_connect(ferry.port);
    redisReply *r = redisCommand(d, "PING");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);

    /* Redis comes back on the same port: ferry reconnects by itself. */
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    char *argv[] = {"redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", redis.dir, NULL};
    redis.pid = support_spawn(argv, redis.log);
    cr_assert(support_wait_port(port, 10000) == 0);
    int ok = 0;
    for (int i = 0; i < 200 && !ok; i++) {
        r = redisCommand(c, "SET after 2");
        cr_assert(r != NULL, "%s", c->errstr);
        ok = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok)
            usleep(50 * 1000);
    }
    cr_assert(ok, "ferry never reconnected");
    support_expect_str(c, REDIS_REPLY_STRING, "2", "GET after");
    redisFree(c);
    redisFree(d);
}

Test(passthrough, upstream_loss_closes_clients_whose_state_it_held)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SELECT 3");
    support_stop_pid(redis.pid, 5000);
    redis.pid = 0;
    /* Its next request fails, then the connection closes: continuing in
     * database 0 silently would be wrong. */
    redisReply *r = redisCommand(c, "GET x");
    if (r) {
        cr_assert_eq(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
        r = redisCommand(c, "GET x");
    }
    cr_assert_null(r, "connection should have been closed");
    redisFree(c);
}

Test(passthrough, sigterm_exits_zero)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    int status = support_stop_pid(ferry.pid, 10000);
    ferry.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    redisFree(c);
}

static void raw_roundtrip(int fd, const char *req, const char *want)
{
    support_raw_send(fd, req, strlen(req));
    char buf[64] = "";
    support_raw_recv(fd, buf, strlen(want));
    cr_assert_str_eq(buf, want);
}

/* A SIGTERM in the same turn as a client's last request and its close must
 * still end ferry. The turn's extra non-blocking reads start libevent's
 * loop again, which forgets a break asked for before; they must not run
 * once one was. Stopping ferry lines the three events up in one turn. */
Test(passthrough, sigterm_in_the_turn_of_a_last_request_still_exits)
{
    for (int round = 0; round < 20; round++) {
        if (round > 0) {
            support_proc_stop(&ferry);
            cr_assert(support_ferry_start(&ferry, redis.port, NULL) == 0);
        }
        int a = support_raw_connect(ferry.port), b = support_raw_connect(ferry.port);
        /* b, then a: b's request below is not a second read in a row from
         * one client, which would skip the extra reads. */
        raw_roundtrip(b, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");
        raw_roundtrip(a, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");
        cr_assert(kill(ferry.pid, SIGSTOP) == 0);
        const char *set = "*3\r\n$3\r\nSET\r\n$4\r\nlast\r\n$1\r\n1\r\n";
        support_raw_send(b, set, strlen(set));
        close(b);
        close(a);
        usleep(50 * 1000);
        cr_assert(kill(ferry.pid, SIGTERM) == 0);
        usleep(50 * 1000);
        cr_assert(kill(ferry.pid, SIGCONT) == 0);
        int status = 0;
        pid_t r = 0;
        for (int i = 0; i < 500 && r == 0; i++) {
            r = waitpid(ferry.pid, &status, WNOHANG);
            if (r == 0)
                usleep(10 * 1000);
        }
        cr_assert_eq(r, ferry.pid, "round %d: ferry still runs 5 s after SIGTERM", round);
        ferry.pid = 0;
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    }
}

/* A client moving from the shared connection to its own must not overtake
 * its own earlier writes: 100 INCRs on the shared connection, then a
 * stateful command and a GET in the same write, for 20 clients at once. */
Test(passthrough, moving_to_an_own_connection_keeps_request_order)
{
    enum { N = 20, INCRS = 100 };
    redisContext *cs[N];
    for (int i = 0; i < N; i++) {
        cs[i] = support_connect(ferry.port);
        for (int j = 0; j < INCRS; j++)
            redisAppendCommand(cs[i], "INCR order:%d", i);
        redisAppendCommand(cs[i], "CLIENT SETNAME c%d", i);
        redisAppendCommand(cs[i], "GET order:%d", i);
        int done = 0;
        while (!done)
            cr_assert(redisBufferWrite(cs[i], &done) == REDIS_OK);
    }
    for (int i = 0; i < N; i++) {
        redisReply *r;
        for (int j = 0; j < INCRS + 1; j++) {
            cr_assert(redisGetReply(cs[i], (void **)&r) == REDIS_OK);
            freeReplyObject(r);
        }
        cr_assert(redisGetReply(cs[i], (void **)&r) == REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        cr_assert_eq(atoi(r->str), INCRS, "client %d read %s before its own INCRs", i, r->str);
        freeReplyObject(r);
        redisFree(cs[i]);
    }
}

static long long elapsed_ms(const struct timeval *t0)
{
    struct timeval t1;
    gettimeofday(&t1, NULL);
    return (t1.tv_sec - t0->tv_sec) * 1000LL + (t1.tv_usec - t0->tv_usec) / 1000;
}

/* Keeps redis-server on port busy (DEBUG SLEEP) for ms: a replica that
 * neither takes the replication stream nor acknowledges it meanwhile. The
 * returned connection is freed once the sleep is over. */
static redisContext *replica_sleep(int port, int ms)
{
    redisContext *r = support_connect(port);
    redisAppendCommand(r, "DEBUG SLEEP %.3f", ms / 1000.0);
    int done = 0;
    while (!done)
        cr_assert(redisBufferWrite(r, &done) == REDIS_OK);
    usleep(50 * 1000); /* it is asleep before the test goes on */
    /* Not an error reply (DEBUG disabled): it has not answered yet. */
    char b;
    cr_assert(recv(r->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0, "DEBUG SLEEP answered at once");
    return r;
}

/* WAIT n timeout answers how many replicas have every write its connection
 * sent. A client's writes on the shared connection are not its own
 * connection's, where WAIT goes: without more, WAIT would count a replica
 * that never got them, at once. With the replica asleep, WAIT after a SET
 * must time out with 0, as it does on Redis; awake, it must count it. */
Test(passthrough, wait_counts_replicas_for_writes_sent_on_the_shared_connection)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", redis.port);
    redisContext *master = support_connect(redis.port);
    /* Else the master waits 5 s for more replicas before a full sync. */
    support_expect_str(master, REDIS_REPLY_STATUS, "OK", "CONFIG SET repl-diskless-sync-delay 0");
    const char *replica_args[] = {"--replicaof", "127.0.0.1", port,
                                  "--enable-debug-command", "local", NULL};
    cr_assert(support_redis_start(&redis2, replica_args) == 0, "the replica did not start");
    int online = 0;
    for (int i = 0; i < 200 && !online; i++) {
        redisReply *r = redisCommand(master, "INFO replication");
        online = strstr(r->str, "state=online") != NULL;
        freeReplyObject(r);
        if (!online)
            usleep(50 * 1000);
    }
    cr_assert(online, "the replica did not come online");
    redisFree(master);

    redisContext *asleep = replica_sleep(redis2.port, 1000);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET wait:k 1");
    struct timeval t0;
    gettimeofday(&t0, NULL);
    redisReply *r = redisCommand(c, "WAIT 1 300");
    long long took = elapsed_ms(&t0);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, 0, "WAIT counted a replica asleep (after %lld ms)", took);
    cr_assert_geq(took, 250, "WAIT answered after %lld ms, not its timeout", took);
    freeReplyObject(r);
    /* The client is on its own connection now; its writes there count. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET wait:k 2");
    support_expect_int(c, 1, "WAIT 1 5000");
    redisFree(c);
    redisFree(asleep);

    /* A client that wrote on the shared connection and moved for another
     * reason (SELECT) before its WAIT. */
    c = support_connect(ferry.port);
    asleep = replica_sleep(redis2.port, 500);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET wait:k 3");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SELECT 0");
    r = redisCommand(c, "WAIT 1 100");
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, 0, "WAIT after SELECT counted a replica asleep");
    freeReplyObject(r);
    support_expect_int(c, 1, "WAIT 1 5000");
    support_expect_str(c, REDIS_REPLY_STRING, "3", "GET wait:k");
    redisFree(c);
    redisFree(asleep);

    /* Inside MULTI, WAIT answers at once, counting the replicas that have
     * all the master has (no mark needed): the asleep one has not. */
    c = support_connect(ferry.port);
    asleep = replica_sleep(redis2.port, 500);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET wait:k 4");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "WAIT 1 0");
    r = redisCommand(c, "EXEC");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
              r->element[0]->type == REDIS_REPLY_INTEGER);
    cr_assert_eq(r->element[0]->integer, 0, "WAIT in MULTI counted a replica asleep");
    freeReplyObject(r);
    support_expect_int(c, 1, "WAIT 1 5000");
    redisFree(c);
    redisFree(asleep);
}

/* A shared connection keeps one batch in flight: requests that come while
 * two or more are unanswered wait in ferry, and must go as soon as those
 * are answered. A script keeps Redis busy for 300 ms with a batch of two
 * in flight; another client's requests, sent meanwhile, are answered once
 * it ends, in order, and within the test's timeout rather than never. */
Test(passthrough, requests_held_behind_a_batch_in_flight_go_when_it_is_answered)
{
    redisContext *slow = support_connect(ferry.port);
    redisAppendCommand(slow, "EVAL %s 0",
                       "local t = redis.call('TIME') "
                       "repeat local n = redis.call('TIME') "
                       "until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 300000 "
                       "return 1");
    redisAppendCommand(slow, "PING");
    int done = 0;
    while (!done)
        cr_assert(redisBufferWrite(slow, &done) == REDIS_OK);
    usleep(100 * 1000);
    redisContext *c = support_connect(ferry.port);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET held 1");
    gettimeofday(&t1, NULL);
    support_expect_str(c, REDIS_REPLY_STRING, "1", "GET held");
    /* It was answered after the script, which it waited behind in Redis
     * or in ferry: either way about 200 ms. */
    long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    cr_assert_geq(waited_ms, 100, "SET answered after %ld ms, before the script ended", waited_ms);
    redisReply *r;
    cr_assert(redisGetReply(slow, (void **)&r) == REDIS_OK);
    cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    cr_assert(redisGetReply(slow, (void **)&r) == REDIS_OK);
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    redisFree(c);
    redisFree(slow);
}

Test(passthrough, clients_that_leave_with_replies_in_flight)
{
    for (int round = 0; round < 50; round++) {
        redisContext *c = support_connect(ferry.port);
        for (int j = 0; j < 500; j++)
            redisAppendCommand(c, "SET gone:%d %d", j, j);
        int done = 0;
        while (!done)
            cr_assert(redisBufferWrite(c, &done) == REDIS_OK);
        redisFree(c); /* closes without reading a reply */
    }
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    support_expect_str(c, REDIS_REPLY_STRING, "499", "GET gone:499");
    redisFree(c);
}

/* upstream-shared-connections 0: every client on its own connection. */
Test(passthrough, every_client_on_its_own_connection)
{
    struct support_proc solo;
    const char *args[] = {"--upstream-shared-connections", "0", NULL};
    cr_assert(support_ferry_start(&solo, redis.port, args) == 0);
    redisContext *a = support_connect(solo.port), *b = support_connect(solo.port);
    for (int i = 0; i < 1000; i++)
        redisAppendCommand(a, "SET solo:%d %d", i, i);
    for (int i = 0; i < 1000; i++) {
        redisReply *r;
        cr_assert(redisGetReply(a, (void **)&r) == REDIS_OK);
        freeReplyObject(r);
    }
    support_expect_str(b, REDIS_REPLY_STRING, "999", "GET solo:999");
    redisReply *r = redisCommand(a, "CLIENT ID");
    redisReply *q = redisCommand(b, "CLIENT ID");
    cr_assert_neq(r->integer, q->integer);
    freeReplyObject(r);
    freeReplyObject(q);
    redisFree(a);
    redisFree(b);
    support_proc_stop(&solo);
}

/* Redis dies while a large pipeline is in flight: every request still gets
 * exactly one reply, in order: +OK until the break, the ferry error after. */
Test(passthrough, upstream_killed_with_a_pipeline_in_flight)
{
    /* Half the pipeline is sent, Redis is killed once the first reply is
     * back (the rest of that half is in flight: in ferry, in Redis, in the
     * sockets), then the other half is sent. Every request gets one reply,
     * in order: OKs, then ferry's upstream errors, and the second half,
     * sent after the kill, can only be errors. */
    enum { N = 40000 };
    static char val[1024];
    memset(val, 'v', sizeof(val));
    redisContext *c = support_connect(ferry.port);
    for (int half = 0; half < 2; half++) {
        for (int i = half * N / 2; i < (half + 1) * N / 2; i++)
            redisAppendCommand(c, "SET inflight:%d %b", i, val, sizeof(val));
        int done = 0;
        while (!done)
            cr_assert(redisBufferWrite(c, &done) == REDIS_OK, "%s", c->errstr);
        if (half == 0) {
            redisReply *r;
            cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK, "%s", c->errstr);
            cr_assert_eq(r->type, REDIS_REPLY_STATUS, "first reply: %s", r->str);
            freeReplyObject(r);
            kill(redis.pid, SIGKILL);
            waitpid(redis.pid, NULL, 0);
            redis.pid = 0;
        }
    }
    int ok = 1, err = 0;
    for (int i = 1; i < N; i++) {
        redisReply *r;
        cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK, "reply %d: %s", i, c->errstr);
        if (r->type == REDIS_REPLY_STATUS) {
            cr_assert_eq(err, 0, "an OK after an error, at %d", i);
            ok++;
        } else {
            cr_assert_eq(r->type, REDIS_REPLY_ERROR);
            cr_assert(strstr(r->str, "ERR ferry: upstream") == r->str, "%s", r->str);
            err++;
        }
        freeReplyObject(r);
    }
    cr_assert_eq(ok + err, N);
    cr_assert_geq(err, N / 2, "%d errors: some requests sent after the kill got OK", err);
    cr_log_info("%d answered before the kill, %d errors after", ok, err);
    redisFree(c);
}

/* SIGTERM with a subscriber connected: it is closed once what it was sent
 * is flushed, rather than holding shutdown until shutdown-timeout (which
 * ferry would log), and ferry exits 0. */
Test(passthrough, sigterm_does_not_wait_for_subscribers)
{
    redisContext *sub = support_connect(ferry.port);
    redisReply *r = redisCommand(sub, "SUBSCRIBE forever");
    freeReplyObject(r);
    int status = support_stop_pid(ferry.pid, 30000);
    ferry.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "grep -q 'still had replies in flight' '%s'", ferry.log);
    cr_assert_neq(system(cmd), 0, "shutdown waited for the subscriber");
    redisFree(sub);
}

/* Reads from fd until the bytes read end with `end` (or 5 s pass); returns
 * the length read. */
static size_t read_until(int fd, const char *end, char *buf, size_t cap)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    size_t n = 0, e = strlen(end);
    while (n < cap - 1 && (n < e || memcmp(buf + n - e, end, e) != 0)) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

/* Sends HELLO 3, then `script`, which must end with ECHO end; returns what
 * came back after HELLO's reply (which carries the connection's id). */
static size_t resp3_run(int port, const char *script, char *out, size_t cap)
{
    int fd = support_raw_connect(port);
    /* Both runs start from the same keys. */
    const char *hello = "HELLO 3\r\nDEL h z s t\r\nECHO hello-done\r\n";
    support_raw_send(fd, hello, strlen(hello));
    char buf[4096];
    read_until(fd, "$10\r\nhello-done\r\n", buf, sizeof(buf));
    cr_assert(strncmp(buf, "%7\r\n$6\r\nserver\r\n", 16) == 0, "HELLO 3 said: %s", buf);
    support_raw_send(fd, script, strlen(script));
    size_t n = read_until(fd, "$3\r\nend\r\n", out, cap);
    /* Still in step: the next request gets its own reply. */
    support_raw_send(fd, "PING\r\n", 6);
    cr_assert_eq(read_until(fd, "+PONG\r\n", buf, sizeof(buf)), 7u, "after the script: %s", buf);
    close(fd);
    return n;
}

/* Runs script on Redis directly and through ferry: the same bytes must come
 * back, and what Redis sent must contain `expect`. */
static void resp3_same(int redis_port, int ferry_port, const char *script, const char *expect)
{
    char direct[8192], proxied[8192];
    size_t nd = resp3_run(redis_port, script, direct, sizeof(direct));
    size_t np = resp3_run(ferry_port, script, proxied, sizeof(proxied));
    cr_assert(strstr(direct, expect) != NULL, "no %s in: %s", expect, direct);
    cr_assert_eq(np, nd);
    cr_assert(memcmp(direct, proxied, nd) == 0, "direct:\n%s\nthrough ferry:\n%s", direct, proxied);
}

/* RESP3 in phase redis: the client's own connection carries Redis's RESP3
 * replies (maps, doubles, sets, nulls) byte for byte. */
Test(passthrough, resp3_replies_are_what_redis_sends)
{
    const char *script = "DEL h z s t\r\nHSET h a 1 b 2\r\nHGETALL h\r\nZADD z 1.5 m 2 n\r\n"
                         "ZSCORE z m\r\nZRANGE z 0 -1 WITHSCORES\r\nSADD s x\r\nSMEMBERS s\r\n"
                         "GET nokey\r\nHRANDFIELD nokey\r\nCONFIG GET maxmemory\r\nEXISTS h\r\n"
                         "SET t v\r\nGET t\r\nMULTI\r\nHGETALL h\r\nZSCORE z n\r\nEXEC\r\n"
                         "ECHO end\r\n";
    resp3_same(redis.port, ferry.port, script, "%2\r\n$1\r\na\r\n$1\r\n1\r\n");
}

/* A push between replies (DEBUG PROTOCOL push sends one, then its reply)
 * is passed on where Redis put it and is not taken for a reply. */
Test(passthrough, resp3_push_between_replies_keeps_replies_in_step)
{
    const char *extra[] = {"--enable-debug-command", "yes", NULL};
    cr_assert(support_redis_start(&redis2, extra) == 0);
    cr_assert(support_ferry_start(&ferry2, redis2.port, NULL) == 0);
    const char *script = "GET a\r\nDEBUG PROTOCOL push\r\nGET b\r\nDEBUG PROTOCOL push\r\n"
                         "ECHO end\r\n";
    resp3_same(redis2.port, ferry2.port, script, ">2\r\n$16\r\nserver-cpu-usage\r\n");
}

/* Client-side caching in RESP3: invalidations arrive as pushes on the
 * tracking connection itself. */
Test(passthrough, resp3_tracking_invalidations_reach_the_client)
{
    int fd = support_raw_connect(ferry.port);
    const char *s = "HELLO 3\r\nCLIENT TRACKING on\r\nGET k\r\nECHO ready\r\n";
    support_raw_send(fd, s, strlen(s));
    char buf[4096];
    read_until(fd, "$5\r\nready\r\n", buf, sizeof(buf));
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k changed");
    const char *inv = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
    size_t n = read_until(fd, inv, buf, sizeof(buf));
    cr_assert(n == strlen(inv) && strcmp(buf, inv) == 0, "got: %s", buf);
    support_raw_send(fd, "GET k\r\n", 7);
    const char *val = "$7\r\nchanged\r\n";
    n = read_until(fd, val, buf, sizeof(buf));
    cr_assert(n == strlen(val), "got: %s", buf);
    close(fd);
    redisFree(c);
}

/* The protocol is connection state: when the upstream connection goes, the
 * client goes too, rather than go on in RESP2 on a new one. */
Test(passthrough, upstream_loss_closes_a_resp3_client)
{
    int fd = support_raw_connect(ferry.port);
    char buf[4096];
    support_raw_send(fd, "HELLO 3\r\nECHO ready\r\n", 21);
    read_until(fd, "$5\r\nready\r\n", buf, sizeof(buf));
    support_stop_pid(redis.pid, 5000);
    redis.pid = 0;
    support_raw_send(fd, "GET x\r\n", 7);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t r;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    /* A reset when the close finds GET x unread. */
    cr_assert(r == 0 || errno == ECONNRESET, "the connection should have been closed (%s)",
              strerror(errno));
    close(fd);
}

/* One request on a raw connection and the first bytes of its answer. */
static const char *raw_ask(int fd, const char *req, char *buf, size_t cap)
{
    support_raw_send(fd, req, strlen(req));
    ssize_t n = recv(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* With the open files limit low, ferry runs out of descriptors: a client
 * it cannot accept is told so rather than left waiting (the listening
 * socket stayed readable and the loop spun on it), and a connection it
 * cannot open to Redis fails that client's request only: Redis is not
 * taken for down, so the next client's connection opens at once. */
Test(passthrough, out_of_descriptors_clients_are_refused_and_the_upstream_stays_up)
{
    support_next_nofile(64);
    cr_assert(support_ferry_start(&ferry2, redis.port, NULL) == 0);
    char log[8192];
    support_runf(log, sizeof(log), "cat %s", ferry2.log);
    cr_assert(strstr(log, "maxclients has been reduced to") != NULL, "log: %s", log);

    static const char refused[] = "-ERR max number of clients reached\r\n";
    static const char no_socket[] = "(ferry cannot open a socket: Too many open files)";
    char buf[512];
    int shared = support_raw_connect(ferry2.port);
    cr_assert_str_eq(raw_ask(shared, "PING\r\n", buf, sizeof(buf)), "+PONG\r\n");
    /* Clients with connections of their own take two descriptors each. */
    int own[64], nown = 0, saw_no_socket = 0, last = -1;
    while (nown < 64 && !saw_no_socket) {
        int fd = support_raw_connect(ferry2.port);
        raw_ask(fd, "SELECT 1\r\n", buf, sizeof(buf));
        if (strcmp(buf, "+OK\r\n") == 0) {
            own[nown++] = fd;
        } else if (strcmp(buf, refused) == 0) {
            /* Out at accept: free two, take one, so the next client is
             * accepted with the last one and its own connection fails. */
            close(fd);
            cr_assert(nown > 0, "refused before any client had its own connection");
            close(own[--nown]);
            usleep(100 * 1000);
            int plain = support_raw_connect(ferry2.port);
            cr_assert_str_eq(raw_ask(plain, "PING\r\n", buf, sizeof(buf)), "+PONG\r\n");
            own[nown++] = plain;
        } else {
            cr_assert(strstr(buf, no_socket) != NULL, "SELECT 1 answered %s", buf);
            saw_no_socket = 1;
            last = fd;
        }
    }
    cr_assert(saw_no_socket, "%d clients with their own connections, no failure", nown);
    /* Now none is left to accept with. */
    int fd = support_raw_connect(ferry2.port);
    cr_assert_str_eq(raw_ask(fd, "PING\r\n", buf, sizeof(buf)), refused);
    close(fd);
    /* The shared connection's clients go on, and a descriptor freed is a
     * connection to Redis again at once. */
    cr_assert_str_eq(raw_ask(shared, "SET fd:k 1\r\n", buf, sizeof(buf)), "+OK\r\n");
    close(own[--nown]);
    usleep(100 * 1000);
    cr_assert_str_eq(raw_ask(last, "SELECT 1\r\n", buf, sizeof(buf)), "+OK\r\n");
    close(last);
    while (nown > 0)
        close(own[--nown]);
    close(shared);
    support_runf(log, sizeof(log), "grep -c 'accept failed: Too many open files' %s", ferry2.log);
    cr_assert_eq(atoi(log), 1, "one log line per 10 s, got %s", log);
}

/* Too low a limit for any client: ferry says so and exits, as Redis does. */
Test(passthrough, an_open_files_limit_too_low_for_any_client_stops_ferry)
{
    char out[2048];
    int rc = support_runf(out, sizeof(out), "timeout 10 prlimit --nofile=24:24 %s --port %d "
                                            "--upstream "
                                            "127.0.0.1:%d --dir /nonexistent-unused 2>&1",
                          support_ferry_bin(), support_free_port(), redis.port);
    cr_assert_eq(rc, 1, "status %d: %s", rc, out);
    cr_assert(strstr(out, "Your current 'ulimit -n' of 24 is not enough for ferry to start. "
                          "Please increase your open file limit to at least 34.") != NULL,
              "%s", out);
}

/* ferry in a mount namespace of its own whose /etc/resolv.conf names the
 * DNS server at 127.0.0.1:dns_port (tests/support/fake_dns.py), in front
 * of the upstream `host`:redis.port, with extra arguments. The wrapper
 * script goes where FERRY_BIN points for this one start. */
static void start_ferry_with_dns(struct support_proc *p, const char *dir, int dns_port,
                                 const char *host, const char *const *extra)
{
    char resolv[512], wrapper[512], upstream[300];
    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
    snprintf(wrapper, sizeof(wrapper), "%s/ferry-in-ns", dir);
    char out[2048];
    int rc = support_runf(out, sizeof(out),
                          "printf 'nameserver 127.0.0.1:%d\\n' >%s && "
                          "printf '#!/bin/sh\\nexec unshare %s--mount --propagation private "
                          "/bin/sh -c '\\''mount --bind \"$1\" /etc/resolv.conf && shift && "
                          "exec \"$@\"'\\'' sh %s %s \"$@\"\\n' >%s && chmod +x %s",
                          dns_port, resolv, geteuid() == 0 ? "" : "--map-root-user ", resolv,
                          support_ferry_bin(), wrapper, wrapper);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(upstream, sizeof(upstream), "%s:%d", host, redis.port);
    const char *args[16] = {"--upstream", upstream};
    int n = 2;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *was = getenv("FERRY_BIN") ? strdup(getenv("FERRY_BIN")) : NULL;
    setenv("FERRY_BIN", wrapper, 1);
    int started = support_ferry_start(p, 0, args);
    if (was) {
        setenv("FERRY_BIN", was, 1);
        free(was);
    }
    cr_assert_eq(started, 0, "ferry did not start in its namespace");
}

/* A ferry in front of `host`, which does not resolve: a request gets the
 * unavailable-upstream error with `reason`. */
static void expect_unresolved(const char *dir, int dns_port, const char *host, const char *reason)
{
    start_ferry_with_dns(&ferry2, dir, dns_port, host, NULL);
    int fd = support_raw_connect(ferry2.port);
    char buf[512], want[512];
    snprintf(want, sizeof(want),
             "-ERR ferry: upstream %s:%d unavailable (cannot resolve %s: %s)\r\n", host,
             redis.port, host, reason);
    cr_assert_str_eq(raw_ask(fd, "PING\r\n", buf, sizeof(buf)), want);
    close(fd);
    support_proc_stop(&ferry2);
}

/* An upstream given by name is looked up without stopping the loop: while
 * the DNS server is silent, the clients on open connections are served,
 * and a connection waiting for the lookup goes, after
 * upstream-connect-timeout, to the address found last. A name the DNS
 * server does not know, or no answer with no address known, is a clear
 * error. */
/* A DNS server (tests/support/fake_dns.py) in a new directory of the test's,
 * answering up.ferry.test with 127.0.0.1 while `silent` in that directory
 * does not exist; returns its port. */
static int start_fake_dns(char **dir, char *silent, size_t cap)
{
    *dir = dns_dir = support_tmpdir("dns");
    char dns_log[300], port[16];
    snprintf(silent, cap, "%s/silent", *dir);
    snprintf(dns_log, sizeof(dns_log), "%s/dns.log", *dir);
    int dns_port = support_free_port();
    snprintf(port, sizeof(port), "%d", dns_port);
    char *dns_argv[] = {"python3", "tests/support/fake_dns.py", port, silent,
                        "up.ferry.test=127.0.0.1", NULL};
    dns_pid = support_spawn(dns_argv, dns_log);
    usleep(300 * 1000);
    return dns_port;
}

/* Replies that no longer pair with requests (after CLIENT REPLY, or in
 * subscribed mode) are a stream ferry passes on; QUIT there goes to Redis,
 * so its +OK comes after every reply before it (or not at all, with
 * replies off) and the connection closes, as with Redis. */
Test(passthrough, quit_after_client_reply_or_subscribe_is_answered_in_order)
{
    static const char *const scripts[] = {
        "CLIENT REPLY ON\r\nSET q 1\r\nGET q\r\nGET q\r\nQUIT\r\nPING\r\n",
        "CLIENT REPLY OFF\r\nSET q 2\r\nQUIT\r\n",
        "SUBSCRIBE q\r\nQUIT\r\n",
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        char a[256], b[256];
        size_t n[2];
        int ports[2] = {redis.port, ferry.port};
        for (int k = 0; k < 2; k++) {
            int fd = support_raw_connect(ports[k]);
            support_raw_send(fd, scripts[i], strlen(scripts[i]));
            n[k] = support_raw_recv(fd, k ? b : a, sizeof(a)); /* until closed */
            close(fd);
        }
        cr_assert(n[0] == n[1] && memcmp(a, b, n[0]) == 0, "%s\nredis: %.*s\nferry: %.*s",
                  scripts[i], (int)n[0], a, (int)n[1], b);
    }
}

Test(passthrough, an_upstream_name_is_resolved_without_stopping_the_loop)
{
    char *dir, silent[300];
    int dns_port = start_fake_dns(&dir, silent, sizeof(silent));

    const char *extra[] = {"--upstream-resolve-interval", "1", NULL};
    start_ferry_with_dns(&ferry2, dir, dns_port, "up.ferry.test", extra);
    char buf[512];
    int a = support_raw_connect(ferry2.port);
    cr_assert_str_eq(raw_ask(a, "SET dns:k v\r\n", buf, sizeof(buf)), "+OK\r\n");

    /* The DNS server goes silent and the address grows older than 1 s:
     * the next connection waits for a lookup that gets no answer. */
    char out[256];
    support_runf(out, sizeof(out), "touch %s", silent);
    usleep(1100 * 1000);
    int b = support_raw_connect(ferry2.port);
    support_raw_send(b, "SELECT 1\r\n", 10);
    cr_assert_str_eq(raw_ask(a, "GET dns:k\r\n", buf, sizeof(buf)), "$1\r\nv\r\n");
    cr_assert_eq(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1, "SELECT answered before the lookup");
    ssize_t n = recv(b, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    cr_assert_str_eq(buf, "+OK\r\n", "after the lookup's timeout, the last address");
    close(a);
    close(b);
    char log[16384];
    support_runf(log, sizeof(log), "cat %s", ferry2.log);
    cr_assert(strstr(log, "upstream cannot resolve up.ferry.test: no answer within "
                          "upstream-connect-timeout; connecting to its last address"),
              "%s", log);
    support_proc_stop(&ferry2);

    /* A name it does not know, and no answer with no address known yet. */
    support_runf(out, sizeof(out), "rm -f %s", silent);
    expect_unresolved(dir, dns_port, "nosuch.ferry.test", "Name or service not known");
    support_runf(out, sizeof(out), "touch %s", silent);
    expect_unresolved(dir, dns_port, "up.ferry.test", "no answer within upstream-connect-timeout");
}

/* A changed /etc/resolv.conf is read at the next lookup, as the C
 * library's resolver reads it: a ferry started while it named a DNS server
 * that is gone resolves its upstream once it names one that answers,
 * without a restart. */
Test(passthrough, a_changed_resolv_conf_is_read_again)
{
    char *dir, silent[300], out[512], buf[512];
    int dns_port = start_fake_dns(&dir, silent, sizeof(silent)); /* silent never made */

    int gone = support_free_port(); /* nothing answers there */
    const char *extra[] = {"--upstream-resolve-interval", "1", NULL};
    start_ferry_with_dns(&ferry2, dir, gone, "up.ferry.test", extra);
    int fd = support_raw_connect(ferry2.port);
    raw_ask(fd, "PING\r\n", buf, sizeof(buf));
    cr_assert(strstr(buf, "-ERR ferry: upstream up.ferry.test:") == buf &&
                  strstr(buf, "(cannot resolve up.ferry.test: "),
              "%s", buf);

    /* Rewritten in place, as the bind mount shows the same file. */
    cr_assert_eq(support_runf(out, sizeof(out), "printf 'nameserver 127.0.0.1:%d\\n' >%s/resolv.conf",
                              dns_port, dir),
                 0, "%s", out);
    int answered = 0;
    for (int i = 0; i < 50 && !answered; i++) {
        answered = strcmp(raw_ask(fd, "PING\r\n", buf, sizeof(buf)), "+PONG\r\n") == 0;
        if (!answered)
            usleep(100 * 1000);
    }
    cr_assert(answered, "the upstream still does not resolve: %s", buf);
    close(fd);

    /* With no lookup in flight: back to the server that is gone, and the
     * next lookup, for a connection opened a second after the last lookup
     * (SELECT needs one of its own), asks it (the resolver read before
     * would have asked the one that answers), then falls back to the
     * address known. */
    cr_assert_eq(support_runf(out, sizeof(out), "printf 'nameserver 127.0.0.1:%d\\n' >%s/resolv.conf",
                              gone, dir),
                 0, "%s", out);
    usleep(1100 * 1000);
    fd = support_raw_connect(ferry2.port);
    cr_assert_str_eq(raw_ask(fd, "SELECT 1\r\n", buf, sizeof(buf)), "+OK\r\n");
    close(fd);
    char log[16384];
    support_runf(log, sizeof(log), "cat %s", ferry2.log);
    const char *again = strstr(log, "changed; reading them again");
    cr_assert(again && strstr(again + 1, "changed; reading them again"),
              "the files should have been read again twice: %s", log);
    cr_assert(strstr(log, "no answer within upstream-connect-timeout; connecting to its last "
                          "address"),
              "%s", log);
    support_proc_stop(&ferry2);
}

/* A Redis host gone without a reset (a crash, a partition) is noticed by
 * TCP keepalive on ferry's connection to it (tcp-keepalive), and a client
 * blocked there gets its error rather than waiting for ever. The test runs
 * in a network namespace of its own and takes its loopback down: ferry's
 * probes then go unanswered, and nothing resets the connection. The client
 * talks to ferry over a unix socket, which the loopback does not carry.
 * With tcp-keepalive 1, Redis's arithmetic gives a first probe after 1 s
 * and three more 1 s apart: about 4 s. */
Test(passthrough, a_redis_host_gone_silent_is_noticed_by_tcp_keepalive)
{
    if (support_enter_netns() < 0)
        cr_skip_test("making a network namespace needs root's CAP_SYS_ADMIN");
    cr_assert(support_redis_start(&redis2, NULL) == 0, "redis-server did not start");
    char sock[300];
    snprintf(sock, sizeof(sock), "%s/ferry.sock", redis2.dir);
    const char *extra[] = {"--tcp-keepalive", "1", "--unixsocket", sock, NULL};
    cr_assert(support_ferry_start(&ferry2, redis2.port, extra) == 0, "ferry did not start");
    struct timeval tv = {30, 0};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    cr_assert(c != NULL && !c->err, "connect to %s: %s", sock, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisAppendCommand(c, "BLPOP ka:nothing 0");
    int sent = 0;
    while (!sent)
        cr_assert(redisBufferWrite(c, &sent) == REDIS_OK, "%s", c->errstr);
    /* Forwarded, and blocked in Redis: a request still unsent when the
     * loopback goes would be retransmitted for minutes instead. */
    redisContext *direct = support_connect(redis2.port);
    for (int i = 0; i < 100; i++) {
        redisReply *info = redisCommand(direct, "INFO clients");
        int blocked = info && info->type == REDIS_REPLY_STRING &&
                      strstr(info->str, "blocked_clients:1\r\n") != NULL;
        freeReplyObject(info);
        if (blocked)
            break;
        cr_assert(i < 99, "BLPOP never blocked in Redis");
        usleep(100 * 1000);
    }
    redisFree(direct);

    support_loopback(0);
    char want[128];
    snprintf(want, sizeof(want),
             "ERR ferry: upstream 127.0.0.1:%d unavailable (Connection timed out)", redis2.port);
    void *r = NULL;
    cr_assert(redisGetReply(c, &r) == REDIS_OK, "no answer within 30 s: %s", c->errstr);
    redisReply *reply = r;
    cr_assert_eq(reply->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(reply->str, want);
    freeReplyObject(reply);

    /* The loopback back, the same client is served again. */
    support_loopback(1);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
}
