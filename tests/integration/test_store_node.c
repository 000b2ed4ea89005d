/* ferry --phase raft-only: the node serving from the store (blocking pops,
 * read-your-writes in a pipeline, WATCH, group commit, map full, pub/sub). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "resp/resp.h"
#include "tests/support/support.h"

static struct support_proc ferry;
static struct support_proc real_redis; /* for tests that compare with Redis */

static void start_ferry(const char *const *extra)
{
    const char *args[16] = {"--phase", "raft-only", "--sync", "yes"};
    int n = 4;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cr_assert_eq(support_ferry_start(&ferry, 0, args), 0, "ferry did not start");
}

static void stop_ferry(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&real_redis);
}

/* A real redis-server and a fresh ferry, each with a raw connection. */
static void start_redis_and_ferry(int *r, int *f)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    *r = support_raw_connect(real_redis.port);
    *f = support_raw_connect(ferry.port);
}

static void expect_raw(int fd, const char *want)
{
    char buf[512];
    size_t n = support_raw_recv(fd, buf, strlen(want));
    buf[n] = 0;
    cr_assert_str_eq(buf, want);
}

/* Sends a request, inline or multibulk, on a raw connection. */
static void raw_cmd(int fd, const char *cmd)
{
    support_raw_send(fd, cmd, strlen(cmd));
}

/* A fresh ferry, a raw connection blocked in `pop`, and (returned in *c) a
 * client to write with. */
static int start_blocked(const char *pop, redisContext **c)
{
    start_ferry(NULL);
    int w = support_raw_connect(ferry.port);
    raw_cmd(w, pop);
    usleep(50 * 1000);
    *c = support_connect(ferry.port);
    return w;
}

TestSuite(store_node, .fini = stop_ferry);

Test(store_node, blocked_pop_is_served_by_a_later_push)
{
    redisContext *c;
    int waiter = start_blocked("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n", &c);
    support_expect_int(c, 1, "RPUSH q hello");
    /* The waiter took the element inside the same batch, before LLEN. */
    support_expect_int(c, 0, "LLEN q");
    expect_raw(waiter, "*2\r\n$1\r\nq\r\n$5\r\nhello\r\n");
    close(waiter);
    redisFree(c);
}

Test(store_node, blocked_pop_times_out_with_null_array)
{
    start_ferry(NULL);
    int fd = support_raw_connect(ferry.port);
    const char *brpop = "*3\r\n$5\r\nBRPOP\r\n$1\r\nq\r\n$3\r\n0.1\r\n*1\r\n$4\r\nPING\r\n";
    support_raw_send(fd, brpop, strlen(brpop));
    /* PING waits behind the blocked pop, as in Redis. */
    expect_raw(fd, "*-1\r\n+PONG\r\n");
    close(fd);
}

Test(store_node, blocked_client_that_leaves_takes_nothing)
{
    start_ferry(NULL);
    int fd = support_raw_connect(ferry.port);
    const char *blpop = "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n";
    support_raw_send(fd, blpop, strlen(blpop));
    usleep(50 * 1000);
    close(fd);
    usleep(50 * 1000);
    redisContext *c = support_connect(ferry.port);
    support_expect_int(c, 1, "RPUSH q x");
    support_expect_int(c, 1, "LLEN q");
    redisFree(c);
}

Test(store_node, pipeline_reads_its_own_writes)
{
    start_ferry(NULL);
    int fd = support_raw_connect(ferry.port);
    const char *p = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                    "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*2\r\n$3\r\nGET\r\n$1\r\nn\r\n";
    support_raw_send(fd, p, strlen(p));
    expect_raw(fd, "+OK\r\n$1\r\nv\r\n:1\r\n$1\r\n1\r\n");
    close(fd);
}

Test(store_node, watch_aborts_exec_after_another_client_writes)
{
    start_ferry(NULL);
    redisContext *a = support_connect(ferry.port), *b = support_connect(ferry.port);
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "WATCH w");
    support_expect_str(b, REDIS_REPLY_STATUS, "OK", "SET w 1");
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "SET w 2");
    redisReply *r = redisCommand(a, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_NIL, "EXEC should abort");
    freeReplyObject(r);
    support_expect_str(a, REDIS_REPLY_STRING, "1", "GET w");
    /* Unwatched, the same transaction runs. */
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "INCR w");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "PING");
    r = redisCommand(a, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    cr_assert_eq(r->element[0]->integer, 2);
    cr_assert_str_eq(r->element[1]->str, "PONG");
    freeReplyObject(r);
    /* A key missing when watched, created and deleted since: still aborts. */
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "WATCH gone");
    support_expect_str(b, REDIS_REPLY_STATUS, "OK", "SET gone 1");
    support_expect_int(b, 1, "DEL gone");
    support_expect_str(a, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(a, REDIS_REPLY_STATUS, "QUEUED", "SET gone 2");
    r = redisCommand(a, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_NIL, "EXEC should abort");
    freeReplyObject(r);
    redisFree(a);
    redisFree(b);
}

Test(store_node, concurrent_writers_share_commits)
{
    start_ferry(NULL);
    enum { NCLIENTS = 20, PER = 50 };
    int fds[NCLIENTS];
    char cmd[128];
    for (int i = 0; i < NCLIENTS; i++)
        fds[i] = support_raw_connect(ferry.port);
    for (int j = 0; j < PER; j++)
        for (int i = 0; i < NCLIENTS; i++) {
            int n = snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nINCR\r\n$3\r\nc%02d\r\n", i);
            support_raw_send(fds[i], cmd, (size_t)n);
        }
    for (int i = 0; i < NCLIENTS; i++) {
        char buf[4096];
        size_t want = 0;
        for (int j = 1; j <= PER; j++)
            want += (size_t)snprintf(buf, sizeof(buf), ":%d\r\n", j);
        size_t got = support_raw_recv(fds[i], buf, want);
        cr_assert_eq(got, want);
        close(fds[i]);
    }
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "INFO");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    const char *p = strstr(r->str, "ferry_commits:");
    cr_assert(p != NULL);
    long commits = atol(p + strlen("ferry_commits:"));
    cr_assert_lt(commits, NCLIENTS * PER, "%ld commits for %d writes: no group commit", commits,
                 NCLIENTS * PER);
    cr_assert(strstr(r->str, "ferry_store_sync:always") != NULL);
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STRING, "50", "GET c07");
    redisFree(c);
}

Test(store_node, full_store_refuses_writes_keeps_reads_and_a_larger_one_has_everything)
{
    const char *extra[] = {"--store-size", "1mb", NULL};
    start_ferry(extra);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET first 1");
    char val[2000];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = 0;
    int oom = 0;
    for (int i = 0; i < 2000 && !oom; i++) {
        redisReply *r = redisCommand(c, "SET k%d %s", i, val);
        cr_assert(r != NULL);
        if (r->type == REDIS_REPLY_ERROR) {
            cr_assert(strncmp(r->str, "OOM ", 4) == 0, "got %s", r->str);
            cr_assert(strstr(r->str, "store-size") != NULL);
            oom = 1;
        }
        freeReplyObject(r);
    }
    cr_assert(oom, "the store never filled");
    /* Near the edge, writes of every size: whether the apply or the Raft
     * log append in the same transaction is what runs out of room, the
     * client gets the same -OOM, never another error. */
    char *big = malloc(6000);
    memset(big, 'y', 6000);
    for (int i = 0; i < 400; i++) {
        size_t len = (size_t)(i * 37) % 6000 + 1;
        redisReply *r = redisCommand(c, "SET e%d %b", i, big, len);
        cr_assert(r != NULL);
        if (r->type == REDIS_REPLY_ERROR)
            cr_assert(strncmp(r->str, "OOM ", 4) == 0, "SET of %zu bytes: %s", len, r->str);
        else
            cr_assert(r->type == REDIS_REPLY_STATUS, "SET of %zu bytes: type %d", len, r->type);
        freeReplyObject(r);
    }
    free(big);
    support_expect_str(c, REDIS_REPLY_STRING, "1", "GET first");
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisReply *r = redisCommand(c, "DBSIZE");
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long keys = r->integer;
    freeReplyObject(r);
    redisFree(c);

    /* Raising store-size and restarting: everything is there, and writes
     * go on. */
    const char *larger[] = {"--phase", "raft-only", "--sync", "yes", "--store-size", "16mb", NULL};
    cr_assert_eq(support_ferry_restart(&ferry, 0, larger), 0, "ferry did not restart");
    c = support_connect(ferry.port);
    support_expect_int(c, keys, "DBSIZE");
    support_expect_str(c, REDIS_REPLY_STRING, "1", "GET first");
    support_expect_str(c, REDIS_REPLY_STRING, val, "GET k0");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k-after %s", val);
    support_expect_str(c, REDIS_REPLY_STRING, val, "GET k-after");
    redisFree(c);
}

Test(store_node, a_second_ferry_on_the_same_dir_refuses_to_start)
{
    start_ferry(NULL);
    char dir[300], log[320], port[16], want[96], out[4096];
    snprintf(dir, sizeof(dir), "%s/data", ferry.dir);
    snprintf(log, sizeof(log), "%s/second.log", ferry.dir);
    snprintf(port, sizeof(port), "%d", support_free_port());
    char *argv[] = {(char *)support_ferry_bin(), "--phase", "raft-only", "--port",
                    port, "--dir", dir, NULL};
    pid_t pid = support_spawn(argv, log);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 1000 && (done = waitpid(pid, &status, WNOHANG)) == 0; i++)
        usleep(10 * 1000);
    if (done != pid) {
        support_stop_pid(pid, 1000);
        cr_assert_fail("a second ferry is serving the same store");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    snprintf(want, sizeof(want), "in use by another process (pid %d)", (int)ferry.pid);
    cr_assert(strstr(out, want) != NULL, "log: %s", out);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET still k");
    redisFree(c);
}

/* The value of field `name` in an INFO reply, -1 when absent. */
static long long info_field(redisContext *c, const char *section, const char *name)
{
    redisReply *r = redisCommand(c, "INFO %s", section);
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    char want[128];
    snprintf(want, sizeof(want), "\r\n%s:", name);
    const char *p = strstr(r->str, want);
    long long v = p ? atoll(p + strlen(want)) : -1;
    freeReplyObject(r);
    return v;
}

Test(store_node, info_chooses_sections_as_redis_does)
{
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "INFO");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    const char *order[] = {"# Server\r\n", "\r\n\r\n# Clients\r\n", "\r\n\r\n# Memory\r\n",
                           "\r\n\r\n# Persistence\r\n", "\r\n\r\n# Stats\r\n",
                           "\r\n\r\n# Replication\r\n", "\r\n\r\n# CPU\r\n",
                           "\r\n\r\n# Modules\r\n", "\r\n\r\n# Cluster\r\n", "\r\n\r\n# Ferry\r\n",
                           "\r\n\r\n# Raft\r\n", "\r\n\r\n# Keyspace\r\n"};
    const char *at = r->str;
    cr_assert(strncmp(r->str, order[0], strlen(order[0])) == 0, "%s", r->str);
    for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *p = strstr(at, order[i]);
        cr_assert(p != NULL, "section %zu missing or out of order in:\n%s", i, r->str);
        at = p;
    }
    freeReplyObject(r);
    /* `all` and `everything` are every section too; an unknown name adds
     * nothing, and only unknown names give an empty string. */
    r = redisCommand(c, "INFO everything");
    cr_assert(strstr(r->str, "# Keyspace") && strstr(r->str, "# Server"));
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STRING, "", "INFO nosuchsection");
    support_expect_str(c, REDIS_REPLY_STRING, "# Keyspace\r\n", "INFO keyspace nosuch");
    support_expect_int(c, 1, "RPUSH l x");
    support_expect_str(c, REDIS_REPLY_STRING,
                       "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n", "INFO KeySpace");
    /* Arguments in any order and case; sections print in Redis's order. */
    r = redisCommand(c, "INFO CLIENTS server");
    cr_assert(strncmp(r->str, "# Server\r\n", 10) == 0, "%s", r->str);
    cr_assert(strstr(r->str, "\r\n\r\n# Clients\r\nconnected_clients:1\r\n") != NULL, "%s",
              r->str);
    cr_assert(strstr(r->str, "# Memory") == NULL && strstr(r->str, "# Keyspace") == NULL);
    cr_assert(r->len >= 2 && strcmp(r->str + r->len - 2, "\r\n") == 0);
    cr_assert(strstr(r->str, "\r\n\r\n\r\n") == NULL);
    freeReplyObject(r);
    cr_assert_eq(info_field(c, "server", "tcp_port"), ferry.port);
    /* 0 under ASan, whose allocator mallinfo2 does not see. */
    cr_assert_geq(info_field(c, "memory", "used_memory"), 0);
    cr_assert_gt(info_field(c, "memory", "used_memory_rss"), 0);
    cr_assert_gt(info_field(c, "ferry", "ferry_store_used"), 0);
    redisFree(c);
}

Test(store_node, info_counts_hits_misses_expired_keys_and_ops)
{
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    cr_assert_eq(info_field(c, "stats", "keyspace_hits"), 0);
    long long conns = info_field(c, "stats", "total_connections_received");
    redisContext *c2 = support_connect(ferry.port);
    support_expect_str(c2, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c2);
    cr_assert_eq(info_field(c, "stats", "total_connections_received"), conns + 1);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MSET a 1 b 2");
    redisReply *r = redisCommand(c, "MGET a b nosuch");
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STRING, "1", "GET a");
    cr_assert_eq(info_field(c, "stats", "keyspace_hits"), 3);
    cr_assert_eq(info_field(c, "stats", "keyspace_misses"), 1);
    /* Expired keys count once deleted, by access or by active expiry. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET gone 1 PX 1");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET gone2 1 PX 1");
    usleep(10 * 1000);
    support_expect_int(c, 0, "EXISTS gone");
    long long expired = 0;
    for (int i = 0; i < 100 && (expired = info_field(c, "stats", "expired_keys")) < 2; i++)
        usleep(20 * 1000);
    cr_assert_eq(expired, 2);
    /* Commands per second, over the last second the cron measured. */
    long long ops = 0;
    for (int i = 0; i < 40 && ops <= 0; i++) {
        for (int j = 0; j < 50; j++)
            redisAppendCommand(c, "PING");
        for (int j = 0; j < 50; j++) {
            cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            freeReplyObject(r);
        }
        usleep(100 * 1000);
        ops = info_field(c, "stats", "instantaneous_ops_per_sec");
    }
    cr_assert_gt(ops, 0);
    redisFree(c);
}

static long long raw_client_id(int fd)
{
    raw_cmd(fd, "CLIENT ID\r\n");
    char buf[64];
    size_t n = 0;
    while (n < sizeof(buf) - 1 && (n < 2 || buf[n - 1] != '\n'))
        if (support_raw_recv(fd, buf + n, 1) != 1)
            break;
        else
            n++;
    buf[n] = 0;
    cr_assert(buf[0] == ':', "%s", buf);
    return atoll(buf + 1);
}

/* Whether the peer closed fd within a second, after whatever replies it
 * sent first. */
static int raw_closed(int fd)
{
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b[256];
    ssize_t n;
    while ((n = recv(fd, b, sizeof(b), 0)) > 0)
        ;
    return n == 0;
}

Test(store_node, client_kill_closes_the_connections_it_names)
{
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    int a = support_raw_connect(ferry.port), b = support_raw_connect(ferry.port);
    long long ida = raw_client_id(a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "CLIENT KILL ID %lld", ida);
    support_expect_int(c, 1, cmd);
    cr_assert(raw_closed(a));
    support_expect_int(c, 0, cmd); /* gone already */
    /* Oldest first, as Redis lists them: c connected before b. */
    redisReply *l = redisCommand(c, "CLIENT LIST");
    cr_assert(l && l->type == REDIS_REPLY_STRING);
    long long first = -1;
    sscanf(l->str, "id=%lld", &first);
    support_expect_int(c, first, "CLIENT ID");
    cr_assert(strchr(l->str, '\n') != strrchr(l->str, '\n'), "%s", l->str); /* b too */
    freeReplyObject(l);
    /* The old form names the peer address and answers +OK. */
    redisReply *r = redisCommand(c, "CLIENT LIST ID %lld", raw_client_id(b));
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    char addr[64] = "";
    sscanf(strstr(r->str, "addr=") + 5, "%63s", addr);
    cr_assert(strstr(r->str, " laddr=127.0.0.1:") != NULL, "%s", r->str);
    cr_assert(strstr(r->str, " cmd=client|id ") != NULL, "%s", r->str);
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CLIENT KILL %s", addr);
    cr_assert(raw_closed(b));
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR No such client", "CLIENT KILL %s", addr);
    /* Filters: SKIPME yes by default spares the caller; no kills it after
     * its reply. */
    support_expect_int(c, 0, "CLIENT KILL TYPE normal");
    support_expect_int(c, 0, "CLIENT KILL TYPE pubsub SKIPME no");
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR Unknown client type 'x'", "CLIENT KILL TYPE x");
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR client-id should be greater than 0",
                       "CLIENT KILL ID 0");
    support_expect_int(c, 1, "CLIENT KILL TYPE normal SKIPME no");
    r = redisCommand(c, "PING");
    cr_assert(r == NULL || r->type == REDIS_REPLY_ERROR, "the connection should be closed");
    freeReplyObject(r);
    redisFree(c);
    close(a);
    close(b);
}

/* Starts ferry with a waiter *w blocked in `pop` and a second connection
 * *k; returns the waiter's client id. */
static long long start_with_waiter(const char *pop, int *w, int *k)
{
    start_ferry(NULL);
    *w = support_raw_connect(ferry.port);
    *k = support_raw_connect(ferry.port);
    long long id = raw_client_id(*w);
    raw_cmd(*w, pop);
    usleep(50 * 1000);
    return id;
}

/* From k, in one write (so in one loop turn): `verb` on the waiter id, a
 * push to q, LLEN q. The push must stay in the list. */
static void end_wait_then_push(int k, const char *verb, long long id)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "%s %lld\r\nRPUSH q x\r\nLLEN q\r\n", verb, id);
    raw_cmd(k, cmd);
    expect_raw(k, ":1\r\n:1\r\n:1\r\n");
}

Test(store_node, killed_blocked_client_takes_nothing_pushed_in_the_same_turn)
{
    int w, k;
    long long idw = start_with_waiter("BLPOP q 0\r\n", &w, &k);
    /* The kill comes before the close it leads to, in the same turn. */
    end_wait_then_push(k, "CLIENT KILL ID", idw);
    cr_assert(raw_closed(w));
    close(w);
    close(k);
}

Test(store_node, client_unblock_answers_a_blocked_pop_as_timed_out_or_with_an_error)
{
    int w, k;
    long long idw = start_with_waiter("BLPOP q 0\r\nPING\r\n", &w, &k);
    /* Unblocked in the same turn as a push: the push is not taken. */
    end_wait_then_push(k, "CLIENT UNBLOCK", idw);
    expect_raw(w, "*-1\r\n+PONG\r\n");
    char cmd[160];
    raw_cmd(w, "BRPOPLPUSH empty dst 0\r\n");
    usleep(50 * 1000);
    snprintf(cmd, sizeof(cmd), "CLIENT UNBLOCK %lld ERROR\r\nCLIENT UNBLOCK %lld\r\n", idw, idw);
    raw_cmd(k, cmd);
    expect_raw(k, ":1\r\n:0\r\n");
    expect_raw(w, "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    snprintf(cmd, sizeof(cmd), "CLIENT UNBLOCK %lld\r\nCLIENT UNBLOCK %lld x\r\n", idw, idw);
    raw_cmd(k, cmd);
    expect_raw(k, ":0\r\n-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n");
    close(w);
    close(k);
}

/* A client killed while its writes wait for the turn's commit: they are
 * applied (they came before the kill), and nothing of the client is used
 * after its last reply slot is released. Run many times with a reader in
 * the same turns, so the close sometimes comes before the commit. */
Test(store_node, killing_writers_with_writes_in_the_batch_is_safe)
{
    start_ferry(NULL);
    int r = support_raw_connect(ferry.port), k = support_raw_connect(ferry.port);
    for (int i = 0; i < 200; i++) {
        int v = support_raw_connect(ferry.port);
        long long idv = raw_client_id(v);
        char kill[64];
        snprintf(kill, sizeof(kill), "CLIENT KILL ID %lld\r\n", idv);
        raw_cmd(r, "PING\r\n");
        raw_cmd(v, "INCR n\r\nINCR n\r\nINCR n\r\nBLPOP nothing 0\r\n");
        raw_cmd(k, kill);
        char buf[16];
        cr_assert_eq(support_raw_recv(r, buf, 7), 7u);
        cr_assert_eq(support_raw_recv(k, buf, 4), 4u);
        cr_assert(raw_closed(v));
        close(v);
    }
    redisContext *c = support_connect(ferry.port);
    redisReply *rep = redisCommand(c, "GET n");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    long long n = atoll(rep->str);
    freeReplyObject(rep);
    cr_assert(n % 3 == 0 && n <= 600, "INCRs of a killed client are applied whole: %lld", n);
    /* No pop of a killed client was left waiting. */
    cr_assert_eq(info_field(c, "clients", "blocked_clients"), 0);
    close(r);
    close(k);
    redisFree(c);
}

/* Buffers reused for every request and every commit give back what a large
 * value made them grow to. */
Test(store_node, a_large_value_leaves_no_large_buffers_behind)
{
    start_ferry(NULL);
    enum { SIZE = 64 << 20 };
    char *val = malloc(SIZE);
    cr_assert(val != NULL);
    memset(val, 'v', SIZE);
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "SET big %b", val, (size_t)SIZE);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "%s", r ? r->str : "no reply");
    freeReplyObject(r);
    long after_set = support_status_kb(ferry.pid, "RssAnon");
    r = redisCommand(c, "GET big");
    cr_assert(r && r->type == REDIS_REPLY_STRING && r->len == SIZE);
    cr_assert(memcmp(r->str, val, SIZE) == 0);
    freeReplyObject(r);
    long after_get = support_status_kb(ferry.pid, "RssAnon");
    free(val);
    redisFree(c);
#ifndef __SANITIZE_ADDRESS__ /* ASan holds freed memory in its quarantine */
    cr_assert_lt(after_set, 16 * 1024, "%ld kB anonymous after a 64 MB SET", after_set);
    cr_assert_lt(after_get, 16 * 1024, "%ld kB anonymous after a 64 MB GET", after_get);
#else
    (void)after_set;
    (void)after_get;
#endif
}

/* One whole reply from a raw connection (its framing found by the resp
 * scanner); returns its length. */
/* Reads k whole replies from fd into out, however their bytes arrive;
 * *got is set to the bytes read, which may run into a later reply. */
static size_t scan_replies(int fd, int k, char *out, size_t cap, size_t *got)
{
    size_t have = 0, done = 0;
    for (int i = 0; i < k; i++) {
        struct resp_scanner sc;
        resp_scanner_init(&sc);
        size_t scanned = done;
        for (;;) {
            size_t used;
            int rc = resp_scanner_scan(&sc, out + scanned, have - scanned, &used);
            cr_assert_neq(rc, RESP_ERR, "not RESP: %.*s", (int)have, out);
            scanned += used;
            if (rc == RESP_OK)
                break;
            cr_assert_lt(have, cap, "replies over %zu bytes", cap);
            ssize_t r = recv(fd, out + have, cap - have, 0);
            cr_assert_gt(r, 0, "connection closed or timed out after %zu bytes", have);
            have += (size_t)r;
        }
        done = scanned;
    }
    *got = have;
    return done;
}

/* One reply; the bytes of any reply behind it that came along are lost. */
static size_t read_reply(int fd, char *buf, size_t cap)
{
    size_t got;
    return scan_replies(fd, 1, buf, cap, &got);
}

/* Exactly k replies, and nothing after them. */
static size_t read_replies(int fd, int k, char *out, size_t cap)
{
    size_t got, done = scan_replies(fd, k, out, cap, &got);
    cr_assert_eq(got, done, "more than %d replies: %.*s", k, (int)got, out);
    return done;
}

/* The CLIENT LIST line of client id once it shows flag b (blocked, or
 * held by CLIENT PAUSE), asked until it does or 10 s pass; the caller
 * frees it. */
static redisReply *client_line_when_held(redisContext *c, long long id)
{
    redisReply *r = NULL;
    for (int k = 0; k < 5000; k++) {
        freeReplyObject(r);
        r = redisCommand(c, "CLIENT LIST ID %lld", id);
        if (r && r->type == REDIS_REPLY_STRING && strstr(r->str, " flags=b "))
            return r;
        usleep(2000);
    }
    cr_assert(0, "client %lld never held: %s", id, r && r->str ? r->str : "");
    return r;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The reply's lines, sorted, joined by \n. */
static size_t sorted_lines(char *buf, size_t n, char *out)
{
    static char *lines[1 << 16];
    size_t k = 0, o = 0;
    buf[n] = 0;
    for (char *save, *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
        cr_assert_lt(k, sizeof(lines) / sizeof(lines[0]));
        lines[k++] = l;
    }
    qsort(lines, k, sizeof(lines[0]), cmp_lines);
    for (size_t i = 0; i < k; i++)
        o += (size_t)sprintf(out + o, "%s\n", lines[i]);
    return o;
}

/* Sends cmd (inline) to both connections and checks that ferry's reply is
 * Redis's, byte for byte; or, with any_order, line for line in any order
 * (subcommands come in the order of a Redis dict, which differs from one
 * Redis process to another). */
static void expect_same_as(int redis, int fer, const char *cmd, int any_order)
{
    static char a[1 << 20], b[1 << 20], sa[1 << 20], sb[1 << 20];
    raw_cmd(redis, cmd);
    raw_cmd(fer, cmd);
    size_t na = read_reply(redis, a, sizeof(a) - 1), nb = read_reply(fer, b, sizeof(b) - 1);
    if (any_order) {
        na = sorted_lines(a, na, sa);
        nb = sorted_lines(b, nb, sb);
        memcpy(a, sa, na);
        memcpy(b, sb, nb);
    }
    cr_assert(na == nb && memcmp(a, b, na) == 0, "%s\nredis: %.*s\nferry: %.*s", cmd, (int)na,
              a, (int)nb, b);
}

static void expect_same(int redis, int fer, const char *cmd)
{
    expect_same_as(redis, fer, cmd, 0);
}

/* HELLO's reply with the connection id taken out (it differs). */
static void hello_without_id(int fd, const char *cmd, char *out, size_t cap)
{
    raw_cmd(fd, cmd);
    size_t n = read_reply(fd, out, cap - 1);
    out[n] = 0;
    char *id = strstr(out, "$2\r\nid\r\n:");
    cr_assert(id != NULL, "%s: %s", cmd, out);
    char *end = strstr(id + 9, "\r\n");
    memmove(id, end, strlen(end) + 1);
}

/* RESP3 from the store: the data commands' shapes are checked against Redis
 * by the differential test (difftest.py --resp3); these are the node's own
 * replies and the protocol switch itself. */
Test(store_node, resp3_replies_are_redis_s)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    char hr[1024], hf[1024];
    static const char *const hellos[] = {"HELLO 3\r\n", "HELLO\r\n", "HELLO 2\r\n",
                                         "HELLO 3 SETNAME x\r\n"};
    for (size_t i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
        hello_without_id(r, hellos[i], hr, sizeof(hr));
        hello_without_id(f, hellos[i], hf, sizeof(hf));
        cr_assert_str_eq(hf, hr, "%s", hellos[i]);
    }
    /* Every command's COMMAND INFO and DOCS: sets and maps all the way down. */
    for (int i = 0; i < resp_ncommands; i++) {
        char cmd[128];
        int any_order = resp_commands[i].nsub > 0;
        snprintf(cmd, sizeof(cmd), "COMMAND INFO %s\r\n", resp_commands[i].name);
        expect_same_as(r, f, cmd, any_order);
        snprintf(cmd, sizeof(cmd), "COMMAND DOCS %s\r\n", resp_commands[i].name);
        expect_same_as(r, f, cmd, any_order);
    }
    expect_same(r, f, "COMMAND INFO get nosuch set\r\n");
    expect_same(r, f, "BLPOP nokey 0.01\r\n");
    expect_same(r, f, "HSET h f v\r\n");
    expect_same(r, f, "MULTI\r\n");
    expect_same(r, f, "HGETALL h\r\n");
    expect_same(r, f, "ZSCORE nokey m\r\n");
    expect_same(r, f, "EXEC\r\n");
    expect_same(r, f, "CONFIG GET nosuchparameter\r\n");
    /* ferry's own parameters: a map too. */
    char buf[8192], want[128];
    raw_cmd(f, "CONFIG GET port\r\n");
    buf[read_reply(f, buf, sizeof(buf) - 1)] = 0;
    snprintf(want, sizeof(want), "%d", ferry.port);
    snprintf(want, sizeof(want), "%%1\r\n$4\r\nport\r\n$%zu\r\n%d\r\n", strlen(want), ferry.port);
    cr_assert_str_eq(buf, want);
    /* Verbatim strings, as Redis writes INFO and CLIENT LIST in RESP3. */
    raw_cmd(f, "INFO server\r\n");
    size_t n = read_reply(f, buf, sizeof(buf) - 1);
    buf[n] = 0;
    cr_assert(buf[0] == '=' && strstr(buf, "\r\ntxt:# Server\r\n") != NULL, "%s", buf);
    cr_assert_eq(strtol(buf + 1, NULL, 10), (long)(n - (size_t)(strstr(buf, "txt:") - buf) - 2));
    raw_cmd(f, "CLIENT INFO\r\n");
    n = read_reply(f, buf, sizeof(buf) - 1);
    buf[n] = 0;
    cr_assert(strncmp(buf, "=", 1) == 0 && strstr(buf, "\r\ntxt:id=") && strstr(buf, " resp=3\n"),
              "%s", buf);
    /* RESET goes back to RESP2. */
    expect_same(r, f, "RESET\r\n");
    expect_same(r, f, "HGETALL nokey\r\n");
    expect_same(r, f, "BLPOP nokey 0.01\r\n");
    close(r);
    close(f);
}

/* RESP3 has no subscribed mode: confirmations and messages are pushes, and
 * a subscriber may run any command. A RESP2 subscriber beside it is
 * unchanged. */
Test(store_node, resp3_subscribers_get_pushes_and_may_run_any_command)
{
    start_ferry(NULL);
    int s = support_raw_connect(ferry.port), old = support_raw_connect(ferry.port);
    char buf[1024];
    raw_cmd(s, "HELLO 3\r\n");
    read_reply(s, buf, sizeof(buf));
    raw_cmd(s, "SUBSCRIBE a b\r\nPSUBSCRIBE a*\r\nPING\r\nGET k\r\n");
    expect_raw(s, ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
                  ">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
                  ">3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:3\r\n+PONG\r\n_\r\n");
    raw_cmd(old, "SUBSCRIBE a\r\n");
    expect_raw(old, "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    redisContext *c = support_connect(ferry.port);
    support_expect_int(c, 3, "PUBLISH a hi");
    expect_raw(s, ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
                  ">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nhi\r\n");
    expect_raw(old, "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
    raw_cmd(s, "UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nSSUBSCRIBE q\r\n");
    expect_raw(s, ">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n"
                  ">3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"
                  ">3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n"
                  ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
                  ">3\r\n$10\r\nssubscribe\r\n$1\r\nq\r\n:1\r\n");
    support_expect_int(c, 1, "SPUBLISH q m");
    expect_raw(s, ">3\r\n$8\r\nsmessage\r\n$1\r\nq\r\n$1\r\nm\r\n");
    close(s);
    close(old);
    redisFree(c);
}

Test(store_node, blocked_sorted_set_pops_are_served_by_the_write_that_creates_the_set)
{
    redisContext *c;
    int w = start_blocked("BZPOPMIN a z 0\r\n", &c);
    support_expect_int(c, 2, "ZADD z 2 b 1 a");
    support_expect_int(c, 1, "ZCARD z");
    expect_raw(w, "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    /* BZMPOP's timeout comes before its keys. */
    raw_cmd(w, "BZMPOP 0.05 2 a none MAX\r\nBZMPOP 0 1 y MAX COUNT 5\r\n");
    expect_raw(w, "*-1\r\n");
    usleep(50 * 1000);
    support_expect_int(c, 1, "ZUNIONSTORE y 1 z");
    expect_raw(w, "*2\r\n$1\r\ny\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    support_expect_int(c, 0, "EXISTS y");
    close(w);
    redisFree(c);
}

Test(store_node, blocked_pops_take_keys_in_the_order_they_became_ready)
{
    redisContext *c;
    int w1 = start_blocked("BLPOP a b 0\r\n", &c);
    int w2 = support_raw_connect(ferry.port);
    raw_cmd(w2, "BLMPOP 0 2 a b LEFT COUNT 5\r\n");
    usleep(50 * 1000);
    /* b becomes ready first: the first waiter takes b's element, though
     * its first key a has elements too; then b is empty and the second
     * waiter takes a's. Redis 7.0 gives the same replies. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "RPUSH b x");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "RPUSH a y z");
    redisReply *r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    freeReplyObject(r);
    expect_raw(w1, "*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
    expect_raw(w2, "*2\r\n$1\r\na\r\n*2\r\n$1\r\ny\r\n$1\r\nz\r\n");
    close(w1);
    close(w2);
    redisFree(c);
}

Test(store_node, sort_stores_for_a_blocked_pop_and_sort_ro_may_write)
{
    redisContext *c;
    int w = start_blocked("BLPOP dst 0\r\n", &c);
    support_expect_int(c, 3, "RPUSH l 3 1 2");
    support_expect_int(c, 3, "SORT l STORE dst");
    expect_raw(w, "*2\r\n$3\r\ndst\r\n$1\r\n1\r\n");
    support_expect_int(c, 2, "LLEN dst");
    /* Inside EXEC, and a SORT_RO that must write (it gives the sorted set
     * Redis's skiplist encoding) behind the client's own writes. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "SORT l DESC STORE l");
    redisReply *r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
              r->element[0]->integer == 3);
    freeReplyObject(r);
    raw_cmd(w, "WATCH z\r\nZADD z 1 a\r\nSORT_RO z ALPHA\r\nZADD z -0 b\r\nZSCORE z b\r\n");
    expect_raw(w, "+OK\r\n:1\r\n*1\r\n$1\r\na\r\n:1\r\n$2\r\n-0\r\n");
    /* SORT_RO is no write of its own to the key: a WATCH on it holds. */
    raw_cmd(w, "WATCH y\r\nZADD y 1 a\r\n");
    expect_raw(w, "+OK\r\n:1\r\n");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "WATCH y");
    support_expect_str(c, REDIS_REPLY_ARRAY, NULL, "SORT_RO y ALPHA");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "LRANGE l 0 -1");
    r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    cr_assert_str_eq(r->element[0]->element[0]->str, "3");
    freeReplyObject(r);
    close(w);
    redisFree(c);
}

Test(store_node, a_pop_stays_blocked_while_its_key_holds_another_type)
{
    redisContext *c;
    int w = start_blocked("BLMPOP 0 1 k LEFT COUNT 2\r\nPING\r\n", &c);
    /* As in Redis 7.0: a sorted set at the key is not what the list pop
     * waits for, and it is not an error either. */
    support_expect_int(c, 1, "ZADD k 1 a");
    support_expect_int(c, 1, "DEL k");
    support_expect_int(c, 3, "RPUSH k x y z");
    expect_raw(w, "*2\r\n$1\r\nk\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n+PONG\r\n");
    close(w);
    redisFree(c);
}

Test(store_node, subscribers_get_messages_and_only_subscriber_commands)
{
    start_ferry(NULL);
    int s = support_raw_connect(ferry.port);
    raw_cmd(s, "SUBSCRIBE news\r\nPSUBSCRIBE n*\r\n");
    expect_raw(s, "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
                  "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
    redisContext *c = support_connect(ferry.port);
    support_expect_int(c, 2, "PUBLISH news hi");
    support_expect_int(c, 0, "PUBLISH other hi");
    expect_raw(s, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
                  "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    /* RESP2's subscribed mode, in Redis's words. */
    raw_cmd(s, "GET k\r\nPING\r\nPING a b\r\nAUTH pw\r\nHELLO 3\r\n");
    expect_raw(s, "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                  "QUIT / RESET are allowed in this context\r\n"
                  "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
                  "-ERR wrong number of arguments for 'ping' command\r\n"
                  "-ERR Can't execute 'auth': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                  "QUIT / RESET are allowed in this context\r\n"
                  "-ERR Can't execute 'hello': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                  "QUIT / RESET are allowed in this context\r\n");
    support_expect_int(c, 1, "PUBSUB NUMPAT");
    raw_cmd(s, "UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nGET k\r\n");
    expect_raw(s, "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n"
                  "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n$-1\r\n");
    support_expect_int(c, 0, "PUBSUB NUMPAT");
    close(s);
    redisFree(c);
}

Test(store_node, a_publish_behind_writes_is_sent_after_their_commit)
{
    start_ferry(NULL);
    int s = support_raw_connect(ferry.port);
    raw_cmd(s, "SUBSCRIBE w\r\n");
    expect_raw(s, "*3\r\n$9\r\nsubscribe\r\n$1\r\nw\r\n:1\r\n");
    int p = support_raw_connect(ferry.port);
    raw_cmd(p, "SET k v1\r\nPUBLISH w done\r\nGET k\r\n");
    expect_raw(p, "+OK\r\n:1\r\n$2\r\nv1\r\n");
    expect_raw(s, "*3\r\n$7\r\nmessage\r\n$1\r\nw\r\n$4\r\ndone\r\n");
    /* Told of the write, anyone reads it. */
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STRING, "v1", "GET k");
    /* Inside MULTI (redis-py's default pipeline): sent after EXEC's commit,
     * its count in EXEC's array at its place. */
    raw_cmd(p, "MULTI\r\nPUBLISH w a\r\nSET k v2\r\nPUBLISH w b\r\nPUBLISH none c\r\n"
               "PING\r\nEXEC\r\n");
    expect_raw(p, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
                  "*5\r\n:1\r\n+OK\r\n:1\r\n:0\r\n+PONG\r\n");
    expect_raw(s, "*3\r\n$7\r\nmessage\r\n$1\r\nw\r\n$1\r\na\r\n"
                  "*3\r\n$7\r\nmessage\r\n$1\r\nw\r\n$1\r\nb\r\n");
    support_expect_str(c, REDIS_REPLY_STRING, "v2", "GET k");
    /* A transaction a WATCH aborted publishes nothing. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "WATCH k");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v3");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "PUBLISH w lost");
    redisReply *r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    support_expect_int(c, 1, "PUBLISH w after");
    expect_raw(s, "*3\r\n$7\r\nmessage\r\n$1\r\nw\r\n$5\r\nafter\r\n");
    /* Subscribing there stays refused: the store runs EXEC. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR ferry: SUBSCRIBE inside MULTI is not supported", "SUBSCRIBE w");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR ferry: HELLO inside MULTI cannot switch the protocol", "HELLO 3");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "EXECABORT Transaction discarded because of previous errors.", "EXEC");
    close(s);
    close(p);
    redisFree(c);
}

Test(store_node, closed_or_killed_subscribers_are_forgotten)
{
    start_ferry(NULL);
    int s1 = support_raw_connect(ferry.port), s2 = support_raw_connect(ferry.port);
    raw_cmd(s1, "SUBSCRIBE a b\r\n");
    raw_cmd(s2, "SSUBSCRIBE a\r\n");
    expect_raw(s1, "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
                   "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    expect_raw(s2, "*3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n:1\r\n");
    redisContext *c = support_connect(ferry.port);
    support_expect_int(c, 1, "SPUBLISH a x");
    expect_raw(s2, "*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nx\r\n");
    close(s1);
    usleep(100 * 1000);
    support_expect_int(c, 0, "PUBLISH a x");
    redisReply *r = redisCommand(c, "PUBSUB NUMSUB a b");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert_eq(r->element[1]->integer, 0);
    cr_assert_eq(r->element[3]->integer, 0);
    freeReplyObject(r);
    /* A subscribed client is of type pubsub. */
    support_expect_int(c, 1, "CLIENT KILL TYPE pubsub");
    cr_assert(raw_closed(s2));
    support_expect_int(c, 0, "SPUBLISH a x");
    close(s2);
    redisFree(c);
}

Test(store_node, subscribers_are_exempt_from_the_idle_timeout)
{
    const char *extra[] = {"--timeout", "1", NULL};
    start_ferry(extra);
    int s = support_raw_connect(ferry.port), idle = support_raw_connect(ferry.port);
    raw_cmd(s, "SUBSCRIBE a\r\n");
    expect_raw(s, "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    usleep(2500 * 1000);
    cr_assert(raw_closed(idle), "an idle client outlived the timeout");
    redisContext *c = support_connect(ferry.port);
    support_expect_int(c, 1, "PUBLISH a hi");
    expect_raw(s, "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
    close(s);
    close(idle);
    redisFree(c);
}

/* What a monitor connection receives until `last` is in it, with each
 * line's `+<time> [0 <addr>]` cut to `[0]`, the rest compared as is. */
static void monitor_feed(int m, const char *last, char *out, size_t cap)
{
    static char raw[1 << 16];
    size_t have = 0;
    raw[0] = 0;
    while (strstr(raw, last) == NULL) {
        cr_assert_lt(have, sizeof(raw) - 1);
        ssize_t r = recv(m, raw + have, sizeof(raw) - 1 - have, 0);
        cr_assert_gt(r, 0, "monitor feed ended or timed out after: %s", raw);
        have += (size_t)r;
        raw[have] = 0;
    }
    size_t o = 0;
    for (char *save, *l = strtok_r(raw, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
        char *addr_end = strchr(l, ']');
        cr_assert(l[0] == '+' && strstr(l, " [0 ") != NULL && addr_end, "%s", l);
        o += (size_t)snprintf(out + o, cap - o, "[0]%s\n", addr_end + 1);
        cr_assert_lt(o, cap);
    }
}

/* MONITOR in raft-only: the same lines Redis 7.0 feeds for the same
 * commands (not the refused, the queued until EXEC, admin commands or
 * passwords), and Redis's answers to MONITOR itself. */
Test(store_node, monitor_feeds_what_redis_feeds)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    static const char script[] =
        "PING\r\nSET a 1\r\nSET \"b c\" \"x\\ty\\x00\\\"q\\xff\\\\\\n\\r\\a\\b\"\r\n"
        "MULTI\r\nINCR a\r\nGET nosuch\r\nMONITOR\r\nEXEC\r\nMULTI\r\nSET q 1\r\nDISCARD\r\n"
        "WATCH a\r\nUNWATCH\r\nAUTH secret\r\nAUTH user secret\r\nHELLO 2 AUTH default pw\r\n"
        "CONFIG GET maxclients\r\nNOSUCHCMD\r\nGET\r\nCLIENT NOSUCH\r\nCLIENT SETNAME n\r\n"
        "LPUSH l v\r\nBLPOP l 0\r\nECHO end\r\n";
    static char want[1 << 16], got[1 << 16];
    int ports[2] = {real_redis.port, ferry.port};
    for (int i = 0; i < 2; i++) {
        int m = support_raw_connect(ports[i]), k = support_raw_connect(ports[i]);
        raw_cmd(m, "MONITOR\r\n");
        expect_raw(m, "+OK\r\n");
        raw_cmd(k, script);
        monitor_feed(m, "\"end\"\r\n", i == 0 ? want : got, sizeof(want));
        close(m);
        close(k);
    }
    cr_assert_str_eq(got, want);
    cr_assert(strstr(got, "\"(redacted)\"") && !strstr(got, "secret") && !strstr(got, "maxclients"),
              "%s", got);

    /* A second MONITOR is not answered; the monitor still runs commands
     * (and sees them), CLIENT LIST marks it O, RESET ends it. */
    int m = support_raw_connect(ferry.port);
    redisContext *c = support_connect(ferry.port);
    raw_cmd(m, "MONITOR\r\nMONITOR\r\nPING\r\n");
    expect_raw(m, "+OK\r\n+PONG\r\n");
    char feed[4096];
    monitor_feed(m, "\"PING\"\r\n", feed, sizeof(feed));
    cr_assert_str_eq(feed, "[0] \"PING\"\n");
    redisReply *list = redisCommand(c, "CLIENT LIST");
    cr_assert(list && list->type == REDIS_REPLY_STRING && strstr(list->str, " flags=O "), "%s",
              list ? list->str : "");
    freeReplyObject(list);
    raw_cmd(m, "RESET\r\n");
    expect_raw(m, "+RESET\r\n");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET after reset");
    raw_cmd(m, "PING\r\n");
    expect_raw(m, "+PONG\r\n"); /* and no line for the SET before it */
    close(m);
    redisFree(c);
}

/* A monitor that reads nothing is disconnected before ferry holds more
 * than 32 MB for it; the others carry on. */
Test(store_node, a_monitor_that_does_not_read_is_disconnected)
{
    start_ferry(NULL);
    int m = support_raw_connect(ferry.port);
    int rcvbuf = 4096;
    setsockopt(m, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    raw_cmd(m, "MONITOR\r\n");
    expect_raw(m, "+OK\r\n");
    redisContext *c = support_connect(ferry.port);
    static char big[1 << 20];
    memset(big, 'v', sizeof(big));
    for (int i = 0; i < 40; i++) {
        redisReply *r = redisCommand(c, "SET big %b", big, sizeof(big));
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "SET %d", i);
        freeReplyObject(r);
    }
    redisReply *list = redisCommand(c, "CLIENT LIST");
    cr_assert(list && list->type == REDIS_REPLY_STRING && !strstr(list->str, " flags=O "), "%s",
              list ? list->str : "");
    freeReplyObject(list);
    support_expect_int(c, 1 << 20, "STRLEN big");
    close(m);
    redisFree(c);
}

/* A client's pipeline after a blocking pop waits for the pop, as Redis
 * reads nothing more from a blocked client: its own LPUSH must not serve
 * it. */
Test(store_node, a_pipelined_push_does_not_serve_the_same_client_s_pop)
{
    start_ferry(NULL);
    int k = support_raw_connect(ferry.port);
    raw_cmd(k, "BLPOP l 0.2\r\nLPUSH l x\r\nLLEN l\r\nBRPOP l 0\r\nLLEN l\r\n");
    expect_raw(k, "*-1\r\n:1\r\n:1\r\n*2\r\n$1\r\nl\r\n$1\r\nx\r\n:0\r\n");
    close(k);
}

/* SLOWLOG GET's entries (newest first), each as "name|arg|arg|...|client
 * name" without the id, time, duration and address, which differ between
 * two servers; one line each. */
static void slowlog_args(redisContext *c, char *out, size_t cap)
{
    redisReply *r = redisCommand(c, "SLOWLOG GET -1");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        cr_assert(e->type == REDIS_REPLY_ARRAY && e->elements == 6);
        for (int k = 0; k < 3; k++)
            cr_assert_eq(e->element[k]->type, REDIS_REPLY_INTEGER);
        for (size_t k = 0; k < e->element[3]->elements; k++)
            n += (size_t)snprintf(out + n, cap - n, "%s|", e->element[3]->element[k]->str);
        cr_assert_eq(e->element[4]->type, REDIS_REPLY_STRING);
        cr_assert(strncmp(e->element[4]->str, "127.0.0.1:", 10) == 0, "%s", e->element[4]->str);
        n += (size_t)snprintf(out + n, cap - n, "%s\n", e->element[5]->str);
        cr_assert(n < cap);
    }
    freeReplyObject(r);
}

/* The same commands logged as Redis logs them: arguments cut at 32 and
 * at 128 bytes, passwords redacted, the client's name; refused commands
 * and a pop that timed out left out; a transaction's commands, not EXEC.
 * Its errors and help are Redis's. */
Test(store_node, slowlog_logs_what_redis_logs)
{
    const char *const all[] = {"--slowlog-log-slower-than", "0", NULL};
    cr_assert_eq(support_redis_start(&real_redis, all), 0);
    start_ferry(all);
    static char script[8192];
    /* Writes wait for the batch, where they are timed, so the commands
     * ferry runs at once come first, as they would be logged after them. */
    int n = snprintf(script, sizeof(script), "%s%0200d\r\nRPUSH l",
                     "HELLO 2 AUTH default pw\r\nAUTH default secret\r\nAUTH x\r\n"
                     "HELLO 4\r\nCLIENT SETNAME app\r\nGET\r\nNOSUCHCMD\r\n"
                     "CLIENT NOSUCH\r\nSET k ", 7);
    for (int i = 0; i < 40; i++)
        n += snprintf(script + n, sizeof(script) - (size_t)n, " %d", i);
    snprintf(script + n, sizeof(script) - (size_t)n, "%s",
             "\r\nBLPOP nolist 0.01\r\nGETRANGE k 0 2\r\nSLOWLOG NOSUCH\r\nSLOWLOG LEN\r\n"
             "slowlog help\r\nECHO end\r\nMULTI\r\nSET t 1\r\nPING\r\nEXEC\r\n");
    static char want[16384], got[16384];
    int ports[2] = {real_redis.port, ferry.port};
    for (int i = 0; i < 2; i++) {
        redisContext *c = support_connect(ports[i]);
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SLOWLOG RESET");
        redisFree(c);
        int k = support_raw_connect(ports[i]);
        raw_cmd(k, script);
        char echo[16384] = "";
        size_t got_n = 0;
        while (!strstr(echo, "+PONG\r\n")) { /* EXEC's, last */
            size_t r = support_raw_recv(k, echo + got_n, 1);
            cr_assert_eq(r, 1, "no reply to EXEC");
            echo[++got_n] = 0;
        }
        close(k);
        c = support_connect(ports[i]);
        slowlog_args(c, i == 0 ? want : got, sizeof(want));
        redisFree(c);
    }
    cr_assert_str_eq(got, want);
    cr_assert(strstr(got, "... (11 more arguments)|") && strstr(got, "... (72 more bytes)|") &&
                  strstr(got, "|(redacted)|(redacted)|") && !strstr(got, "pw") &&
                  strstr(got, "AUTH|(redacted)|(redacted)|") && !strstr(got, "secret") &&
                  strstr(got, "GETRANGE|k|0|2|app\n") && !strstr(got, "NOSUCH") &&
                  strstr(got, "PING|app\nSET|t|1|app\nMULTI|app\nECHO|end|app\n") &&
                  !strstr(got, "EXEC") &&
                  !strstr(got, "nolist"),
              "%s", got);

    const char *misuse[] = {"SLOWLOG", "SLOWLOG FOO", "SLOWLOG LEN 1", "SLOWLOG GET 1 2",
                            "SLOWLOG GET -2", "SLOWLOG GET x", "SLOWLOG HELP"};
    redisContext *r = support_connect(real_redis.port), *f = support_connect(ferry.port);
    for (size_t i = 0; i < sizeof(misuse) / sizeof(misuse[0]); i++) {
        redisReply *a = redisCommand(r, misuse[i]), *b = redisCommand(f, misuse[i]);
        cr_assert(a && b && a->type == b->type, "%s", misuse[i]);
        if (a->type == REDIS_REPLY_ERROR)
            cr_assert_str_eq(b->str, a->str, "%s", misuse[i]);
        else
            for (size_t k = 0; k < a->elements; k++)
                cr_assert_str_eq(b->element[k]->str, a->element[k]->str, "%s", misuse[i]);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(r);
    redisFree(f);
}

/* Ids grow and RESET does not restart them; the log keeps the newest
 * slowlog-max-len; a transaction's commands are logged one by one, EXEC
 * not at all, as in Redis; a threshold above every command's time logs
 * nothing. */
Test(store_node, slowlog_keeps_the_newest_with_growing_ids)
{
    const char *const args[] = {"--slowlog-log-slower-than", "0", "--slowlog-max-len", "3", NULL};
    start_ferry(args);
    redisContext *c = support_connect(ferry.port);
    for (int i = 0; i < 5; i++)
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
    support_expect_int(c, 3, "SLOWLOG LEN");
    redisReply *r = redisCommand(c, "SLOWLOG GET");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    /* SET k3, SET k4 and SLOWLOG LEN, newest first: ids 5, 4, 3. */
    cr_assert_str_eq(r->element[0]->element[3]->element[0]->str, "SLOWLOG");
    cr_assert_str_eq(r->element[1]->element[3]->element[1]->str, "k4");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(r->element[i]->element[0]->integer, 5 - i);
    long long t = r->element[0]->element[1]->integer;
    struct timeval now;
    gettimeofday(&now, NULL);
    cr_assert(t <= now.tv_sec && t > now.tv_sec - 60, "logged at %lld", t);
    freeReplyObject(r);

    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SLOWLOG RESET");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "INCR n");
    r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    freeReplyObject(r);
    r = redisCommand(c, "SLOWLOG GET 1");
    cr_assert(r && r->elements == 1);
    cr_assert_str_eq(r->element[0]->element[3]->element[0]->str, "INCR");
    /* After SLOWLOG LEN (5), GET (6), RESET (7, logged once it ran) and
     * MULTI (8). */
    cr_assert_eq(r->element[0]->element[0]->integer, 9);
    freeReplyObject(r);
    redisFree(c);

    const char *const never[] = {"--phase", "raft-only", "--slowlog-log-slower-than", "2000000000",
                                 NULL};
    cr_assert_eq(support_ferry_restart(&ferry, 0, never), 0);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_int(c, 0, "SLOWLOG LEN");
    redisFree(c);
}

/* INFO's ferry_checkpoints. */
static long long info_checkpoints(redisContext *c)
{
    long long n = info_field(c, "persistence", "ferry_checkpoints");
    cr_assert_geq(n, 0, "INFO persistence has no ferry_checkpoints");
    return n;
}

/* checkpoint-entries (and -bytes) change at once with CONFIG SET: every
 * fifth one-write turn checkpoints. With the default (8192) fifty turns
 * make only the idle ones, between turns. */
Test(store_node, checkpoint_thresholds_change_at_once)
{
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    long long before = info_checkpoints(c);
    for (int i = 0; i < 50; i++)
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
    long long idle = info_checkpoints(c) - before;
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET checkpoint-entries 5");
    redisReply *r = redisCommand(c, "CONFIG GET checkpoint-*");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert_str_eq(r->element[1]->str, "2097152");
    cr_assert_str_eq(r->element[3]->str, "5");
    freeReplyObject(r);
    before = info_checkpoints(c);
    for (int i = 0; i < 50; i++)
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
    long long counted = info_checkpoints(c) - before;
    cr_assert_geq(counted, 10, "%lld checkpoints (%lld before the change)", counted, idle);
    cr_assert_gt(counted, idle, "%lld checkpoints, %lld before the change", counted, idle);
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'checkpoint-bytes') - "
                       "'checkpoint-bytes' must be from 65536 to 1073741824 bytes, got '1k'",
                       "CONFIG SET checkpoint-bytes 1k");
    redisFree(c);
    stop_ferry();
}

/* maxclients fits the open files limit, as in Redis: lowered at start,
 * and CONFIG SET refuses more than fits, saying how many do. */
Test(store_node, maxclients_fits_the_open_files_limit)
{
    support_next_nofile(128);
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "CONFIG GET maxclients");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    cr_assert_str_eq(r->element[1]->str, "95", "128 less 33 kept for ferry itself");
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The "
                       "operating system is not able to handle the specified number of clients, "
                       "try with 95",
                       "CONFIG SET maxclients 96");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET maxclients 50");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET maxclients 95");
    redisFree(c);
    stop_ferry();
}

/* The file's text. */
static char *read_text(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* CONFIG REWRITE writes the running configuration into the file ferry
 * started with, as Redis does: comments and blank lines kept, each option
 * the file sets on its first line with its value now (a repeated one once),
 * the others that differ from their defaults (CONFIG SET's changes, the
 * command line's options) added below Redis's marker; values quoted where
 * they must be; through a symbolic link, its target. The file starts ferry
 * again with the same configuration, and a second rewrite changes nothing.
 * Without a file, or where it cannot be written, Redis's errors. */
Test(store_node, config_rewrite_writes_the_running_configuration_back)
{
    snprintf(ferry.dir, sizeof(ferry.dir), "/tmp/ferry-test-rewrite-XXXXXX");
    cr_assert(mkdtemp(ferry.dir) != NULL);
    snprintf(ferry.log, sizeof(ferry.log), "%s/out.log", ferry.dir);
    char conf[300], port[16];
    snprintf(conf, sizeof(conf), "%s/ferry.conf", ferry.dir);
    ferry.port = support_free_port();
    snprintf(port, sizeof(port), "%d", ferry.port);
    FILE *f = fopen(conf, "w");
    cr_assert(f != NULL);
    fprintf(f, "# ferry's own\n\nport %d\nphase raft-only\ndir %s/data\n"
               "maxclients 500\ntimeout 7\n  # indented comment\n"
               "timeout 9\n",
            ferry.port, ferry.dir);
    fclose(f);
    chmod(conf, 0640);
    /* Started through a symbolic link, as a ConfigMap's file is seen. */
    char link[320];
    snprintf(link, sizeof(link), "%s/link.conf", ferry.dir);
    cr_assert_eq(symlink("ferry.conf", link), 0);
    char *argv[] = {(char *)support_ferry_bin(), link, "--slowlog-max-len", "33", NULL};
    ferry.pid = support_spawn(argv, ferry.log);
    cr_assert_eq(support_wait_port(ferry.port, 10000), 0);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET maxclients 600");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET requirepass %s", "p w\"\\x");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "AUTH %s", "p w\"\\x");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET latency-tracking-info-percentiles %s",
                       "50 99.5");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR wrong number of arguments for 'config|rewrite' command",
                       "CONFIG REWRITE now");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG REWRITE");
    char want[2048];
    snprintf(want, sizeof(want),
             "# ferry's own\n\nport %d\nphase raft-only\ndir %s/data\nmaxclients 600\n"
             "timeout 9\n  # indented comment\n# Generated by CONFIG REWRITE\n"
             "requirepass \"p w\\\"\\\\x\"\nslowlog-max-len 33\n"
             "latency-tracking-info-percentiles 50 99.5\n",
             ferry.port, ferry.dir);
    cr_assert_str_eq(read_text(conf), want);
    struct stat st;
    cr_assert_eq(stat(conf, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640, "the file keeps its mode: %o", st.st_mode & 0777);
    cr_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
    /* Again: nothing changes. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG REWRITE");
    cr_assert_str_eq(read_text(conf), want);
    redisFree(c);

    /* The file alone starts the same configuration. */
    cr_assert_eq(WEXITSTATUS(support_stop_pid(ferry.pid, 10000)), 0);
    char *again[] = {(char *)support_ferry_bin(), conf, NULL};
    ferry.pid = support_spawn(again, ferry.log);
    cr_assert_eq(support_wait_port(ferry.port, 10000), 0);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "AUTH %s", "p w\"\\x");
    const char *names[] = {"maxclients", "timeout", "slowlog-max-len",
                           "latency-tracking-info-percentiles"};
    const char *values[] = {"600", "9", "33", "50 99.5"};
    for (int i = 0; i < 4; i++) {
        redisReply *r = redisCommand(c, "CONFIG GET %s", names[i]);
        cr_assert(r && r->elements == 2, "%s", names[i]);
        cr_assert_str_eq(r->element[1]->str, values[i], "%s", names[i]);
        freeReplyObject(r);
    }
    /* Where the file cannot be written: the reason, and the file as it was. */
    char *dir = strdup(ferry.dir);
    char moved[320];
    snprintf(moved, sizeof(moved), "%s.gone", ferry.dir);
    cr_assert_eq(rename(ferry.dir, moved), 0);
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR Rewriting config file: No such file or directory",
                       "CONFIG REWRITE");
    cr_assert_eq(rename(moved, ferry.dir), 0);
    free(dir);
    cr_assert_str_eq(read_text(conf), want);
    redisFree(c);
    support_proc_stop(&ferry);

    /* Options on the command line only: no file to write. */
    start_ferry(NULL);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR The server is running without a config file",
                       "CONFIG REWRITE");
    /* CONFIG's other words, as Redis's. */
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR unknown subcommand 'NOSUCH'. Try CONFIG HELP.",
                       "CONFIG NOSUCH");
    redisReply *r = redisCommand(c, "CONFIG HELP");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 11);
    cr_assert_str_eq(r->element[7]->str, "REWRITE");
    cr_assert_str_eq(r->element[8]->str, "    Rewrite the configuration file.");
    freeReplyObject(r);
    redisFree(c);
    stop_ferry();
}

/* SIGHUP re-reads the config file: the slow log turns on with its new
 * length; options that need a restart keep their value. */
Test(store_node, sighup_applies_the_slowlog_options)
{
    snprintf(ferry.dir, sizeof(ferry.dir), "/tmp/ferry-test-hup-XXXXXX");
    cr_assert(mkdtemp(ferry.dir) != NULL);
    snprintf(ferry.log, sizeof(ferry.log), "%s/out.log", ferry.dir);
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/ferry.conf", ferry.dir);
    ferry.port = support_free_port();
    for (int round = 0; round < 2; round++) {
        FILE *f = fopen(conf, "w");
        cr_assert(f != NULL);
        fprintf(f, "port %d\nphase raft-only\ndir %s/data\nslowlog-log-slower-than %s\n%s",
                round ? ferry.port + 1 : ferry.port, ferry.dir, round ? "0" : "-1",
                round ? "slowlog-max-len 2\n" : "");
        fclose(f);
        if (round == 0) {
            char *argv[] = {(char *)support_ferry_bin(), conf, NULL};
            ferry.pid = support_spawn(argv, ferry.log);
            cr_assert_eq(support_wait_port(ferry.port, 10000), 0);
        } else {
            kill(ferry.pid, SIGHUP);
        }
    }
    redisContext *c = support_connect(ferry.port);
    for (int i = 0; i < 500; i++) {
        redisReply *r = redisCommand(c, "CONFIG GET slowlog-log-slower-than");
        int on = r && r->elements == 2 && strcmp(r->element[1]->str, "0") == 0;
        freeReplyObject(r);
        if (on)
            break;
        usleep(10 * 1000);
    }
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET a 1");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET b 2");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET c 3");
    support_expect_int(c, 2, "SLOWLOG LEN");
    redisReply *r = redisCommand(c, "CONFIG GET port");
    cr_assert(r && r->elements == 2);
    cr_assert_eq(atoi(r->element[1]->str), ferry.port, "port changed without a restart");
    freeReplyObject(r);
    redisFree(c);
}

/* CONFIG SET changes the options SIGHUP may change, all or none, with
 * Redis's errors; credentials are redacted in the slow log as Redis
 * redacts them. */
Test(store_node, config_set_changes_runtime_options_all_or_none)
{
    const char *const all[] = {"--slowlog-log-slower-than", "0", NULL};
    cr_assert_eq(support_redis_start(&real_redis, all), 0);
    start_ferry(all);
    redisContext *r = support_connect(real_redis.port), *f = support_connect(ferry.port);
    const char *same[] = {"CONFIG SET nosuch 1", "CONFIG SET maxclients 10 maxclients 20",
                          "CONFIG SET maxclients", "CONFIG SET maxclients 10 nosuch 1"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        redisReply *a = redisCommand(r, same[i]), *b = redisCommand(f, same[i]);
        cr_assert(a && b && a->type == REDIS_REPLY_ERROR && b->type == REDIS_REPLY_ERROR,
                  "%s", same[i]);
        cr_assert_str_eq(b->str, a->str, "%s", same[i]);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    support_expect_str(f, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'port') - can't set "
                       "immutable config", "CONFIG SET port 1");
    support_expect_str(f, REDIS_REPLY_STATUS, "OK", "CONFIG SET MAXCLIENTS 100 slowlog-max-len 3");
    support_expect_str(f, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'loglevel') - "
                       "'loglevel' must be one of debug, verbose, notice, warning, got 'loud'",
                       "CONFIG SET maxclients 200 loglevel loud");
    support_expect_str(f, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'logfile') - cannot "
                       "open '/nonexistent/ferry.log': No such file or directory",
                       "CONFIG SET logfile /nonexistent/ferry.log");
    redisReply *g = redisCommand(f, "CONFIG GET maxclients");
    cr_assert(g && g->elements == 2);
    cr_assert_str_eq(g->element[1]->str, "100"); /* not 200: none of the failed SET took */
    freeReplyObject(g);

    /* A new password holds for new connections; this one stays in. */
    char want[4096], got[4096];
    for (int i = 0; i < 2; i++) {
        redisContext *c = i == 0 ? r : f;
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET requirepass s3cret");
        slowlog_args(c, i == 0 ? want : got, sizeof(want));
        char *newest = strchr(i == 0 ? want : got, '\n');
        newest[1] = 0;
    }
    cr_assert_str_eq(got, want);
    cr_assert_str_eq(got, "CONFIG|SET|requirepass|(redacted)|\n");
    redisContext *other = support_connect(ferry.port);
    support_expect_str(other, REDIS_REPLY_ERROR, "NOAUTH Authentication required.", "PING");
    support_expect_str(other, REDIS_REPLY_STATUS, "OK", "AUTH s3cret");
    support_expect_str(other, REDIS_REPLY_STATUS, "OK", "CONFIG SET requirepass %s", "");
    redisFree(other);
    other = support_connect(ferry.port);
    support_expect_str(other, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(other);
    redisFree(r);
    redisFree(f);
}

static long long memory_usage(redisContext *c, const char *key, const char *samples)
{
    redisReply *r = samples ? redisCommand(c, "MEMORY USAGE %s SAMPLES %s", key, samples)
                            : redisCommand(c, "MEMORY USAGE %s", key);
    cr_assert(r && (r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_NIL), "%s: %s", key,
              r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long n = r->type == REDIS_REPLY_NIL ? -1 : r->integer;
    freeReplyObject(r);
    return n;
}

/* MEMORY USAGE counts the bytes a key's records take in the store: more
 * for a longer value, for an expiry, for more members; a large value
 * takes whole overflow pages. (The differential test checks its errors
 * against Redis's.) */
Test(store_node, memory_usage_counts_a_key_s_records)
{
    start_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET small v");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET big %s", big);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET ttl v EX 100");
    long long small = memory_usage(c, "small", NULL), large = memory_usage(c, "big", NULL);
    cr_assert(small > 20 && small < 100, "%lld", small);
    cr_assert(large >= 12288 && large < 12288 + 100, "%lld: three 4 KB pages", large);
    cr_assert_gt(memory_usage(c, "ttl", NULL), small);
    cr_assert_eq(memory_usage(c, "nokey", NULL), -1);
    for (int i = 0; i < 300; i++) {
        redisAppendCommand(c, "HSET h field%d value%d", i, i);
        redisAppendCommand(c, "ZADD z %d member%d", i, i);
    }
    for (int i = 0; i < 600; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    long long h5 = memory_usage(c, "h", NULL), hall = memory_usage(c, "h", "0");
    cr_assert(hall > 300 * 20 && h5 > hall * 9 / 10 && h5 < hall * 11 / 10, "%lld %lld", h5, hall);
    cr_assert_gt(memory_usage(c, "z", "0"), hall); /* a member and an index record each */
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR ferry: MEMORY STATS is not supported while reads/writes are served "
                       "by the raft group", "MEMORY STATS");
    redisFree(c);
}

/* LATENCY answers as Redis's with the monitor off (the default), and with
 * a threshold it keeps samples: here of "ferry-commit", the journal write
 * and sync of an 8 MB value, which takes well over a millisecond. */
Test(store_node, latency_monitor_keeps_events_over_the_threshold)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    const char *same[] = {"LATENCY HELP", "LATENCY LATEST", "LATENCY HISTORY command",
                          "LATENCY RESET", "LATENCY RESET a b", "LATENCY GRAPH command",
                          "LATENCY", "LATENCY NOSUCH", "LATENCY HISTORY",
                          "CONFIG GET latency-monitor-threshold"};
    redisContext *r = support_connect(real_redis.port), *c = support_connect(ferry.port);
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        redisReply *a = redisCommand(r, same[i]), *b = redisCommand(c, same[i]);
        cr_assert(a && b && a->type == b->type && a->elements == b->elements, "%s", same[i]);
        if (a->type == REDIS_REPLY_ERROR)
            cr_assert_str_eq(b->str, a->str, "%s", same[i]);
        else if (a->type == REDIS_REPLY_INTEGER)
            cr_assert_eq(b->integer, a->integer, "%s", same[i]);
        for (size_t k = 0; k < a->elements; k++)
            if (a->element[k]->type != REDIS_REPLY_ARRAY)
                cr_assert_str_eq(b->element[k]->str, a->element[k]->str, "%s", same[i]);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(r);

    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET latency-monitor-threshold 1");
    char *big = malloc(8 << 20);
    memset(big, 'x', 8 << 20);
    redisReply *set = redisCommand(c, "SET big %b", big, (size_t)(8 << 20));
    cr_assert(set && set->type == REDIS_REPLY_STATUS);
    freeReplyObject(set);
    free(big);
    struct timeval now;
    gettimeofday(&now, NULL);
    redisReply *latest = redisCommand(c, "LATENCY LATEST");
    cr_assert(latest && latest->type == REDIS_REPLY_ARRAY);
    redisReply *commit = NULL;
    for (size_t i = 0; i < latest->elements; i++)
        if (strcmp(latest->element[i]->element[0]->str, "ferry-commit") == 0)
            commit = latest->element[i];
    cr_assert(commit != NULL && commit->elements == 4, "no ferry-commit event");
    cr_assert(commit->element[1]->integer <= now.tv_sec &&
              commit->element[1]->integer > now.tv_sec - 60);
    cr_assert(commit->element[2]->integer >= 1 &&
              commit->element[3]->integer >= commit->element[2]->integer);
    freeReplyObject(latest);
    redisReply *h = redisCommand(c, "LATENCY HISTORY ferry-commit");
    cr_assert(h && h->type == REDIS_REPLY_ARRAY && h->elements == 1);
    freeReplyObject(h);
    support_expect_int(c, 1, "LATENCY RESET ferry-commit nosuch");
    h = redisCommand(c, "LATENCY HISTORY ferry-commit");
    cr_assert(h && h->type == REDIS_REPLY_ARRAY && h->elements == 0);
    freeReplyObject(h);
    redisFree(c);
}

static void expect_same_script(int redis, int fer, const char *script)
{
    static char a[1 << 16], b[1 << 16];
    size_t na = support_script_replies(redis, script, a, sizeof(a));
    size_t nb = support_script_replies(fer, script, b, sizeof(b));
    cr_assert(na == nb && memcmp(a, b, na) == 0, "%s\nredis: %s\nferry: %s", script, a, b);
}

/* The connection's commands inside MULTI (AUTH, HELLO, CLIENT SETNAME,
 * CONFIG SET) are queued and run at EXEC, as in Redis: their replies in
 * EXEC's, in order, an option refused leaving those before it done, what
 * they did seen by the requests pipelined after EXEC, and nothing done at
 * all when a WATCH aborts the transaction. */
Test(store_node, connection_commands_inside_multi_run_at_exec_as_in_redis)
{
    const char *const pass[] = {"--requirepass", "pw", NULL};
    cr_assert_eq(support_redis_start(&real_redis, pass), 0);
    start_ferry(pass);
    int r = support_raw_connect(real_redis.port), f = support_raw_connect(ferry.port);
    static const char *const scripts[] = {
        "AUTH pw\r\nMULTI\r\nAUTH pw\r\nAUTH bad\r\nSET a 1\r\nAUTH x y z\r\nGET a\r\n"
        "EXEC\r\n",
        "MULTI\r\nAUTH\r\nSET a 2\r\nEXEC\r\nGET a\r\n",
        "MULTI\r\nHELLO x\r\nHELLO 4\r\nHELLO 2 AUTH default bad\r\n"
        "HELLO 2 SETNAME \"a b\"\r\nCLIENT SETNAME n1\r\nEXEC\r\nCLIENT GETNAME\r\n",
        "MULTI\r\nHELLO 2 SETNAME n2 X\r\nCLIENT GETNAME\r\n"
        "HELLO 2 AUTH default pw SETNAME n3\r\nEXEC\r\nCLIENT GETNAME\r\n",
        "HELLO 2 SETNAME n4 X\r\nCLIENT GETNAME\r\n",
        /* A transaction its WATCH aborts runs none of its commands. */
        "WATCH w\r\nSET w 1\r\nMULTI\r\nCLIENT SETNAME n5\r\nHELLO 2 SETNAME n6\r\n"
        "CONFIG SET maxmemory-policy allkeys-lru\r\nEXEC\r\nCLIENT GETNAME\r\n"
        "CONFIG GET maxmemory-policy\r\n",
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        expect_same_script(r, f, scripts[i]);
    close(r);
    close(f);
}

/* CLIENT REPLY OFF drops every reply until ON, SKIP the next request's, and
 * neither drops pushed messages; a request behind a blocking pop waits for
 * it, those ferry answers outside the store (AUTH, HELLO, QUIT) too. */
Test(store_node, client_reply_and_requests_behind_a_blocking_pop_are_redis_s)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    const char *scripts[] = {
        "CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nNOSUCH\r\nGET\r\nCLIENT REPLY foo\r\n"
        "CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nGET a\r\nCLIENT REPLY SKIP\r\nSET b 2\r\n"
        "GET b\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nGET a\r\nGET b\r\n",
        "CLIENT REPLY foo\r\nCLIENT REPLY\r\nCLIENT REPLY SKIP\r\nMULTI\r\nSET c 3\r\nEXEC\r\n"
        "CLIENT REPLY OFF\r\nMULTI\r\nSET d 4\r\nEXEC\r\nCLIENT REPLY ON\r\nGET d\r\n"
        "CLIENT REPLY SKIP\r\nBLPOP q 0.1\r\nGET c\r\n",
        /* Behind a pop that times out: SKIP drops the pop's reply, OFF and ON
         * apply in order, AUTH and HELLO wait their turn. */
        "CLIENT REPLY SKIP\r\nBLPOP q 0.2\r\nCLIENT REPLY OFF\r\nGET a\r\nAUTH x\r\n"
        "HELLO 4\r\nCLIENT REPLY ON\r\nGET b\r\nCLIENT REPLY SKIP\r\nAUTH x\r\nPING\r\n"
        "BLPOP q 0.1\r\nHELLO 3\r\nGET a\r\nHELLO 2\r\nAUTH a b\r\nAUTH default x\r\n"
        "HELLO 2 AUTH a b\r\nHELLO 2 AUTH default x SETNAME n\r\nCLIENT GETNAME\r\n",
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        expect_same_script(r, f, scripts[i]);
    /* QUIT behind a pop: the requests before it are answered first. */
    const char quit[] = "BLPOP q 0.1\r\nSET z 1\r\nGET z\r\nQUIT\r\n";
    const char want[] = "*-1\r\n+OK\r\n$1\r\n1\r\n+OK\r\n";
    raw_cmd(f, quit);
    expect_raw(f, want);
    cr_assert(raw_closed(f));
    close(r);

    /* Messages still reach a RESP3 subscriber whose replies are off. */
    int s = support_raw_connect(ferry.port);
    raw_cmd(s, "HELLO 3\r\nSUBSCRIBE ch\r\nCLIENT REPLY OFF\r\nPING\r\n");
    redisContext *c = support_connect(ferry.port);
    char buf[4096];
    size_t n = 0;
    while (n < 4 || memcmp(buf + n - 4, ":1\r\n", 4) != 0) /* SUBSCRIBE's count */
        n += support_raw_recv(s, buf + n, 1);
    support_expect_int(c, 1, "PUBLISH ch hello");
    expect_raw(s, ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    raw_cmd(s, "CLIENT REPLY ON\r\nPING\r\n");
    expect_raw(s, "+OK\r\n+PONG\r\n");
    close(s);
    redisFree(c);
    stop_ferry();
}

/* The lines of `info` (an INFO command), sorted, with each command's usec
 * figures (its own timing) taken out. */
static void info_counts(redisContext *c, const char *info, char *out, size_t cap)
{
    redisReply *r = redisCommand(c, info);
    cr_assert(r && r->type == REDIS_REPLY_STRING && r->len < cap, "%s", info);
    for (char *usec; (usec = strstr(r->str, ",usec=")) != NULL;) /* ",usec=N,usec_per_call=N" */
        memmove(usec, strstr(usec, ",rejected"), strlen(strstr(usec, ",rejected")) + 1);
    out[sorted_lines(r->str, strlen(r->str), out)] = 0;
    freeReplyObject(r);
}

/* SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE answer as Redis's, errors and
 * transactions included; each save puts what the journal holds into LMDB's
 * files (a checkpoint), after the writes sent before it, and INFO and
 * LASTSAVE say when. With `sync no` (no journal) SAVE syncs LMDB's files. */
Test(store_node, save_commands_checkpoint_as_redis_saves)
{
    long long started = (long long)time(NULL);
    int r, f;
    start_redis_and_ferry(&r, &f);
    expect_same_script(r, f,
                       "SAVE x\r\nBGSAVE x\r\nBGSAVE SCHEDULE x\r\nLASTSAVE x\r\n"
                       "BGREWRITEAOF x\r\nSET a 1\r\nSAVE\r\nGET a\r\nMULTI\r\nSAVE\r\n"
                       "LASTSAVE\r\nEXEC\r\nMULTI\r\nSAVE x\r\nEXEC\r\nMULTI\r\nBGSAVE x\r\n"
                       "EXEC\r\nMULTI\r\nLASTSAVE x\r\nEXEC\r\n");
    close(r);
    close(f);

    redisContext *c = support_connect(ferry.port);
    redisReply *lr = redisCommand(c, "LASTSAVE");
    cr_assert(lr && lr->type == REDIS_REPLY_INTEGER);
    cr_assert(lr->integer >= started && lr->integer <= (long long)time(NULL), "%lld",
              lr->integer);
    cr_assert_eq(lr->integer, info_field(c, "persistence", "rdb_last_save_time"));
    freeReplyObject(lr);
    /* Writes wait in the journal until a save. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET checkpoint-entries 100000");
    for (int i = 0; i < 3; i++)
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
    cr_assert_gt(info_field(c, "persistence", "ferry_journal_bytes"), 0);
    cr_assert_eq(info_field(c, "persistence", "rdb_changes_since_last_save"), 3);
    long long saves = info_field(c, "persistence", "rdb_saves");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SAVE");
    cr_assert_eq(info_field(c, "persistence", "ferry_journal_bytes"), 0);
    cr_assert_eq(info_field(c, "persistence", "rdb_changes_since_last_save"), 0);
    cr_assert_eq(info_field(c, "persistence", "rdb_saves"), saves + 1);
    /* Pipelined behind writes, BGSAVE and BGREWRITEAOF save them too, and
     * so does a BGSAVE queued in a transaction. */
    const char *after[] = {"BGSAVE", "BGREWRITEAOF", "MULTI"};
    for (int i = 0; i < 3; i++) {
        redisAppendCommand(c, "SET p%d v", i);
        redisAppendCommand(c, "%s", after[i]);
        if (i == 2) {
            redisAppendCommand(c, "BGSAVE");
            redisAppendCommand(c, "EXEC");
        }
        for (int k = 0; k < (i == 2 ? 4 : 2); k++) {
            redisReply *x = NULL;
            cr_assert_eq(redisGetReply(c, (void **)&x), REDIS_OK);
            cr_assert(x->type != REDIS_REPLY_ERROR, "%s", x->str);
            freeReplyObject(x);
        }
        cr_assert_eq(info_field(c, "persistence", "ferry_journal_bytes"), 0, "%s", after[i]);
        cr_assert_eq(info_field(c, "persistence", "rdb_saves"), saves + 2 + i, "%s", after[i]);
    }
    redisReply *st = redisCommand(c, "INFO persistence");
    cr_assert(strstr(st->str, "\r\nrdb_last_bgsave_status:ok\r\n"), "%s", st->str);
    freeReplyObject(st);
    redisFree(c);

    /* sync no: no journal, and SAVE syncs LMDB's files. */
    const char *nosync[] = {"--phase", "raft-only", "--sync", "no", NULL};
    cr_assert_eq(support_ferry_restart(&ferry, 0, nosync), 0);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET p2");
    saves = info_field(c, "persistence", "rdb_saves");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET nosync v");
    cr_assert_eq(info_field(c, "persistence", "rdb_changes_since_last_save"), 1);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SAVE");
    cr_assert_eq(info_field(c, "persistence", "rdb_saves"), saves + 1);
    cr_assert_eq(info_field(c, "persistence", "rdb_changes_since_last_save"), 0);
    redisFree(c);
    stop_ferry();
}

/* WAIT on a node with no replicas, as Redis without replicas answers: 0 at
 * once when that is enough, after the timeout otherwise (the requests
 * behind it waiting), at once inside MULTI; Redis's errors; a WAIT with no
 * timeout is blocked (flag b) until CLIENT UNBLOCK, which answers 0, or
 * with ERROR the error. Counted in commandstats as Redis counts it, and a
 * pop ended by CLIENT UNBLOCK too. */
/* What a Redis that is not a cluster, loads no modules and tracks no keys
 * answers, and COMMAND GETKEYS and GETKEYSANDFLAGS, byte for byte; an
 * unknown subcommand of any container is refused as Redis refuses it (and
 * aborts a transaction), whether ferry serves that command or not. */
Test(store_node, commands_a_plain_redis_answers_are_redis_s)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    expect_same_script(
        r, f,
        "CLUSTER INFO\r\nCLUSTER SLOTS\r\nCLUSTER KEYSLOT\r\nCLUSTER foo\r\nCLUSTER\r\n"
        "CLUSTER HELP\r\nASKING\r\nASKING x\r\nREADONLY\r\n"
        "MODULE LIST\r\nMODULE HELP\r\nMODULE foo\r\nMODULE LIST x\r\n"
        "CLIENT TRACKINGINFO\r\nCLIENT GETREDIR\r\nCLIENT GETREDIR x\r\nCLIENT CACHING yes\r\n"
        "CLIENT CACHING x\r\nSCRIPT foo\r\nOBJECT foo\r\nXINFO foo\r\nACL foo\r\n"
        "FUNCTION foo\r\nXGROUP foo\r\nMEMORY foo\r\n"
        "COMMAND HELP\r\nCOMMAND HELP x\r\nCOMMAND GETKEYS\r\nCOMMAND GETKEYS get\r\n"
        "COMMAND GETKEYS foo a\r\nCOMMAND GETKEYS ping a\r\nCOMMAND GETKEYS get a b\r\n"
        "COMMAND GETKEYS get a\r\nCOMMAND GETKEYS eval x 0\r\nCOMMAND GETKEYS eval x 2 a b\r\n"
        "COMMAND GETKEYS zunionstore d x a b\r\nCOMMAND GETKEYS memory usage k\r\n"
        "COMMAND GETKEYS memory foo k\r\nCOMMAND GETKEYS memory\r\n"
        "COMMAND GETKEYS spublish ch m\r\nCOMMAND GETKEYSANDFLAGS set k v get\r\n"
        "COMMAND GETKEYSANDFLAGS sort k by x store d\r\n"
        "COMMAND GETKEYSANDFLAGS lmove a b left right\r\n"
        "CONFIG GET maxmemory\r\nCONFIG GET maxmemory-policy\r\n"
        "CONFIG GET notify-keyspace-events\r\nPFSELFTEST\r\nPFSELFTEST x\r\n"
        "CONFIG SET save \"\"\r\nCONFIG SET appendonly no\r\nCONFIG SET maxmemory 0\r\n"
        "CONFIG SET maxmemory-policy noeviction notify-keyspace-events \"\"\r\n"
        "CONFIG SET databases 1\r\nCONFIG SET databases 2\r\n"
        "MEMORY PURGE\r\nMEMORY PURGE x\r\nMEMORY MALLOC-STATS x\r\n"
        "MULTI\r\nCLUSTER INFO\r\nMODULE LIST\r\nCOMMAND GETKEYS get k\r\nPFSELFTEST\r\n"
        "SLOWLOG GET 0\r\nLATENCY LATEST\r\nEXEC\r\n"
        "MULTI\r\nSET a 1\r\nCLIENT foo\r\nEXEC\r\nMULTI\r\nSET a 1\r\nSCRIPT foo\r\nEXEC\r\n"
        "GET a\r\nHELLO 3\r\nCLIENT TRACKINGINFO\r\nCOMMAND GETKEYSANDFLAGS set k v\r\n"
        "CONFIG GET maxmemory\r\n");
    /* Redis built with the C library's malloc, as ferry is, says this. */
    raw_cmd(f, "MEMORY MALLOC-STATS\r\n");
    expect_raw(f, "+Stats not supported for the current allocator\r\n");
    /* What ferry cannot be is refused with why, and nothing of the set is
     * taken (slowlog-max-len stays what it was). */
    raw_cmd(f, "CONFIG SET slowlog-max-len 5 maxmemory-policy allkeys-lru\r\n"
               "CONFIG GET slowlog-max-len\r\n");
    expect_raw(f, "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
                  "ferry: only 'noeviction': a full store refuses writes; nothing is evicted\r\n");
    expect_raw(f, "%1\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n"); /* RESP3 */
    stop_ferry();
}

/* One database: SELECT, MOVE, SWAPDB, COPY ... DB and CONFIG GET databases
 * answer as a redis-server started with `databases 1`. */
Test(store_node, one_database_as_redis_with_databases_1)
{
    static const char *const one[] = {"--databases", "1", NULL};
    cr_assert_eq(support_redis_start(&real_redis, one), 0);
    start_ferry(NULL);
    int r = support_raw_connect(real_redis.port), f = support_raw_connect(ferry.port);
    expect_same_script(
        r, f,
        "SET k v\r\nMOVE k 1\r\nMOVE k 0\r\nMOVE nokey 0\r\nMOVE k x\r\nMOVE k -1\r\n"
        "MOVE k 99999999999\r\nMOVE k\r\nSWAPDB 0 0\r\nSWAPDB 0 1\r\nSWAPDB x 0\r\nSWAPDB 0 x\r\n"
        "SWAPDB 99999999999 0\r\nSWAPDB 0 -1\r\nCOPY k d DB 1\r\nCOPY k d DB -1\r\n"
        "COPY k d DB x\r\nCOPY k d DB 99999999999\r\nCOPY k d DB 0\r\nGET d\r\nSELECT 1\r\n"
        "SELECT 0\r\nCONFIG GET databases\r\n"
        "MULTI\r\nMOVE k 1\r\nSWAPDB 0 0\r\nGET k\r\nEXEC\r\n");
    stop_ferry();
}

/* SHUTDOWN, parsed as Redis parses it, stops as SIGTERM does: the replies
 * owed before it are sent, SHUTDOWN itself gets none (its connection
 * closes, as Redis's does), nothing after it runs, a blocking pop and a
 * WAIT end at once as timed out (nothing could end them any more, and
 * shutdown-timeout is 30 s here), ferry exits 0, and the writes before it
 * are there after a restart. */
Test(store_node, shutdown_stops_as_sigterm_does_and_answers_nothing)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    static const char *const slow_stop[] = {"--shutdown-timeout", "30", NULL};
    start_ferry(slow_stop);
    int r = support_raw_connect(real_redis.port), f = support_raw_connect(ferry.port);
    expect_same_script(r, f,
                       "SHUTDOWN foo\r\nSHUTDOWN ABORT\r\nSHUTDOWN SAVE NOSAVE\r\n"
                       "SHUTDOWN ABORT NOW\r\nSHUTDOWN NOW foo\r\nMULTI\r\nSET a 0\r\n"
                       "SHUTDOWN\r\nEXEC\r\n");
    close(r);
    int idle = support_raw_connect(ferry.port);
    raw_cmd(idle, "PING\r\n"); /* accepted, not left in the listen queue */
    expect_raw(idle, "+PONG\r\n");
    int pop = support_raw_connect(ferry.port), wait = support_raw_connect(ferry.port);
    raw_cmd(pop, "BLPOP nothing 0\r\n");
    raw_cmd(wait, "WAIT 1 0\r\n");
    redisContext *ctl = support_connect(ferry.port);
    for (int i = 0; i < 500 && info_field(ctl, "clients", "blocked_clients") < 2; i++)
        usleep(10000);
    cr_assert_eq(info_field(ctl, "clients", "blocked_clients"), 2);
    redisFree(ctl);
    raw_cmd(f, "SET a 1\r\nSHUTDOWN NOSAVE NOW\r\nSET b 2\r\n");
    expect_raw(f, "+OK\r\n");
    char byte;
    cr_assert_eq(recv(f, &byte, 1, 0), 0, "SHUTDOWN's connection should close unanswered");
    cr_assert_eq(recv(idle, &byte, 1, 0), 0, "an idle client's connection should close");
    expect_raw(pop, "*-1\r\n");
    expect_raw(wait, ":0\r\n");
    cr_assert_eq(recv(pop, &byte, 1, 0), 0);
    cr_assert_eq(recv(wait, &byte, 1, 0), 0);
    close(pop);
    close(wait);
    int status = -1;
    for (int i = 0; i < 1000 && waitpid(ferry.pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ferry's exit status 0x%x", status);
    ferry.pid = 0;
    close(f);
    close(idle);
    static const char *const args[] = {"--phase", "raft-only", "--sync", "yes", NULL};
    cr_assert_eq(support_ferry_restart(&ferry, 0, args), 0);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STRING, "1", "GET a");
    support_expect_str(c, REDIS_REPLY_NIL, NULL, "GET b");
    redisFree(c);
    stop_ferry();
}

/* ACL as a Redis whose only user is default answers it, with and without
 * a password (requirepass), in RESP2 and RESP3; SETUSER, which would make
 * another user, is refused. */
Test(store_node, acl_answers_as_redis_with_only_the_default_user)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    expect_same_script(r, f,
                       "ACL HELP\r\nACL CAT\r\nACL CAT foo\r\nACL LOG\r\nACL LOG x\r\n"
                       "ACL LOG -1\r\nACL LOG RESET\r\nACL LOG RESET x\r\nACL LOG 1 2\r\n"
                       "ACL GENPASS 0\r\n"
                       "ACL GENPASS 4097\r\nACL GENPASS x\r\nACL DELUSER bob default\r\n"
                       "ACL DELUSER bob\r\nACL USERS\r\nACL WHOAMI\r\nACL WHOAMI x\r\nACL LIST\r\n"
                       "ACL GETUSER default\r\nACL GETUSER Default\r\n"
                       "ACL DRYRUN default client foo\r\nACL DRYRUN default client list\r\n"
                       "ACL DRYRUN default client list x y z\r\nACL DRYRUN default config\r\n"
                       "ACL DRYRUN default GET k\r\nACL DRYRUN default GET\r\n"
                       "ACL DRYRUN bob GET k\r\nACL LOAD\r\nACL SAVE\r\nACL foo\r\nACL\r\n"
                       "MULTI\r\nACL WHOAMI\r\nACL USERS\r\nEXEC\r\n"
                       "HELLO 3\r\nACL GETUSER default\r\nACL LOG\r\n");
    expect_same_as(r, f, "ACL CAT string\r\n", 1);
    expect_same_as(r, f, "ACL CAT Admin\r\n", 1);
    raw_cmd(f, "ACL SETUSER bob on\r\n");
    char buf[256];
    size_t n = read_reply(f, buf, sizeof(buf) - 1);
    buf[n] = 0;
    cr_assert(strstr(buf, "-ERR ferry: ACL SETUSER is not supported") == buf, "%s", buf);
    /* Random passwords of the bits asked for, in hex. */
    redisContext *c = support_connect(ferry.port);
    redisReply *a = redisCommand(c, "ACL GENPASS"), *b = redisCommand(c, "ACL GENPASS");
    cr_assert(a->type == REDIS_REPLY_STRING && a->len == 64 &&
                  strspn(a->str, "0123456789abcdef") == 64,
              "%s", a->str);
    cr_assert(b->type == REDIS_REPLY_STRING && strcmp(a->str, b->str) != 0);
    freeReplyObject(a);
    freeReplyObject(b);
    a = redisCommand(c, "ACL GENPASS 5");
    cr_assert(a->type == REDIS_REPLY_STRING && a->len == 2, "%s", a->str);
    freeReplyObject(a);
    redisFree(c);
    close(r);
    close(f);
    stop_ferry();

    /* With a password: shown as its SHA-256. */
    static const char *const pass[] = {"--requirepass", "secret", NULL};
    cr_assert_eq(support_redis_start(&real_redis, pass), 0);
    start_ferry(pass);
    r = support_raw_connect(real_redis.port);
    f = support_raw_connect(ferry.port);
    expect_same_script(r, f,
                       "AUTH secret\r\nACL LIST\r\nACL GETUSER default\r\nACL WHOAMI\r\n"
                       "HELLO 3\r\nACL GETUSER default\r\n");
    close(r);
    close(f);
    stop_ferry();
}

Test(store_node, wait_answers_as_redis_without_replicas)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    expect_same_script(r, f,
                       "WAIT 0 0\r\nWAIT -5 0\r\nWAIT x 0\r\nWAIT 1 x\r\nWAIT 1 -1\r\nWAIT 1 1.5\r\n"
                       "WAIT 1\r\nSET a 1\r\nWAIT 1 50\r\nGET a\r\nMULTI\r\nWAIT 1 0\r\nWAIT x 0\r\n"
                       "EXEC\r\n");
    close(r);
    close(f);
    int ports[2] = {real_redis.port, ferry.port};
    static char cmds[2][1 << 14];
    for (int i = 0; i < 2; i++) {
        redisContext *c = support_connect(ports[i]);
        int w = support_raw_connect(ports[i]);
        raw_cmd(w, "CLIENT ID\r\nWAIT 1 0\r\n");
        char id[32] = "";
        size_t n = 0;
        while (n < sizeof(id) - 1 && (n < 3 || memcmp(id + n - 2, "\r\n", 2) != 0))
            n += support_raw_recv(w, id + n, 1);
        long long wid = atoll(id + 1);
        /* Blocked: shown as b, and its next request waits. */
        raw_cmd(w, "PING\r\n");
        redisReply *rp = client_line_when_held(c, wid);
        cr_assert(strstr(rp->str, " cmd=wait "), "%s", rp->str);
        freeReplyObject(rp);
        support_expect_int(c, 1, "CLIENT UNBLOCK %lld", wid);
        expect_raw(w, ":0\r\n+PONG\r\n");
        raw_cmd(w, "WAIT 1 0\r\n");
        usleep(50000);
        support_expect_int(c, 1, "CLIENT UNBLOCK %lld ERROR", wid);
        expect_raw(w, "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
        /* A pop ended by CLIENT UNBLOCK counts alike: a failed call. */
        raw_cmd(w, "BLPOP nolist 0\r\n");
        usleep(50000);
        support_expect_int(c, 1, "CLIENT UNBLOCK %lld", wid);
        expect_raw(w, "*-1\r\n");
        close(w);
        info_counts(c, "INFO commandstats", cmds[i], sizeof(cmds[i]));
        redisFree(c);
    }
    for (int k = 0; k < 2; k++) {
        const char *line = k ? "cmdstat_blpop:" : "cmdstat_wait:";
        char *a = strstr(cmds[0], line), *b = strstr(cmds[1], line);
        cr_assert(a && b, "%s", line);
        cr_assert_eq(strcspn(b, "\n"), strcspn(a, "\n"), "%s\n%s", a, b);
        cr_assert(strncmp(a, b, strcspn(a, "\n")) == 0, "redis %.80s, ferry %.80s", a, b);
    }
    stop_ferry();
}

/* The commands INFO latencystats has a histogram for, one per line. */
static void latency_names(redisContext *c, char *out, size_t cap)
{
    redisReply *r = redisCommand(c, "INFO latencystats");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    size_t n = 0;
    out[0] = 0;
    for (const char *l = strstr(r->str, "latency_percentiles_usec_"); l;
         l = strstr(l + 1, "latency_percentiles_usec_")) {
        l += strlen("latency_percentiles_usec_");
        n += (size_t)snprintf(out + n, cap - n, "%.*s\n", (int)strcspn(l, ":"), l);
        cr_assert(n < cap);
    }
    freeReplyObject(r);
    char *sorted = strdup(out);
    out[sorted_lines(sorted, strlen(sorted), out)] = 0;
    free(sorted);
}

/* The same traffic gives the calls, rejected and failed calls of Redis's
 * commandstats, and its errorstats: transactions (queued commands count
 * at EXEC, a queueing error rejects), blocking pops (a call when they
 * block), a container without a subcommand, unknown commands and
 * subcommands (not counted), replies turned off (still counted). And the
 * latency histograms of the same commands: each command of a transaction
 * has its own, a served pop has one, a pop that timed out none. */
Test(store_node, info_commandstats_and_errorstats_count_as_redis_s)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    int ports[2] = {real_redis.port, ferry.port};
    static char cmds[2][1 << 14], errs[2][1 << 12], all[2][1 << 16], lat[2][1 << 12];
    for (int i = 0; i < 2; i++) {
        redisContext *c = support_connect(ports[i]);
        int f = support_raw_connect(ports[i]), w = support_raw_connect(ports[i]);
        freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
        raw_cmd(w, "BLPOP served 5\r\n"); /* answered by the push below */
        static char buf[1 << 14];
        support_script_replies(f, "SET a 1\r\nGET a\r\nLPUSH a x\r\nGET\r\nNOSUCH\r\nCLIENT NOSUCH\r\n"
                          "MULTI\r\nSET b 1\r\nLPUSH a y\r\nCONFIG GET maxclients\r\nEXEC\r\n"
                          "MULTI\r\nGET\r\nEXEC\r\nBLPOP q 0.1\r\nCLIENT LIST\r\n"
                          "AUTH x\r\nHELLO 4\r\nCLIENT REPLY foo\r\nCLIENT REPLY OFF\r\nGET\r\n"
                          "CLIENT REPLY ON\r\nCLIENT\r\nCONFIG\r\nINCR a\r\nRPUSH served v\r\n"
                          "SUBSCRIBE ch\r\nGET a\r\nUNSUBSCRIBE\r\n",
                       buf, sizeof(buf));
        expect_raw(w, "*2\r\n$6\r\nserved\r\n$1\r\nv\r\n");
        info_counts(c, "INFO commandstats", cmds[i], sizeof(cmds[i]));
        latency_names(c, lat[i], sizeof(lat[i]));
        redisReply *r = redisCommand(c, "INFO errorstats");
        snprintf(errs[i], sizeof(errs[i]), "%s", r->str);
        freeReplyObject(r);
        r = redisCommand(c, "INFO");
        snprintf(all[i], sizeof(all[i]), "%s", r->str);
        freeReplyObject(r);
        close(f);
        close(w);
        redisFree(c);
    }
    cr_assert_str_eq(cmds[1], cmds[0]);
    cr_assert_str_eq(errs[1], errs[0]);
    cr_assert_str_eq(lat[1], lat[0]);
    cr_assert(strstr(lat[1], "blpop\n") && strstr(lat[1], "lpush\n"), "%s", lat[1]);
    cr_assert(strstr(cmds[1], "cmdstat_exec:calls=2,rejected_calls=0,failed_calls=1"), "%s",
              cmds[1]);
    /* INFO with no section: Errorstats and the total, no Commandstats. */
    cr_assert(strstr(all[1], "# Errorstats\r\nerrorstat_ERR:count=") &&
                  strstr(all[1], "total_error_replies:") && !strstr(all[1], "Commandstats"),
              "%s", all[1]);
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "INFO all");
    cr_assert(r && strstr(r->str, "# Commandstats\r\ncmdstat_"), "%s", r ? r->str : "");
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");
    info_counts(c, "INFO commandstats errorstats", cmds[1], sizeof(cmds[1]));
    cr_assert_str_eq(cmds[1], "# Commandstats\n# Errorstats\n"
                              "cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0\n");
    redisFree(c);
    stop_ferry();
}

/* LATENCY HISTOGRAM as Redis 7.0 answers it, for the same traffic: the
 * commands named, in that order (twice when named twice, unknown ones left
 * out), each with its calls and histogram_usec: levels labelled 1, 2, 4,
 * 8, 16, 33, 66 ... us, cumulative counts growing to the calls; in RESP3
 * maps. The samples themselves are each server's own. */
Test(store_node, latency_histogram_is_redis_s)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    int ports[2] = {real_redis.port, ferry.port};
    char shape[2][512];
    for (int i = 0; i < 2; i++) {
        redisContext *c = support_connect(ports[i]);
        freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
        for (int k = 0; k < 20; k++)
            support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
        freeReplyObject(redisCommand(c, "CONFIG GET maxclients"));
        redisReply *r = redisCommand(c, "LATENCY HISTOGRAM set config|get nosuch SET");
        cr_assert(r && r->type == REDIS_REPLY_ARRAY, "%s", r && r->str ? r->str : "");
        size_t n = 0;
        shape[i][0] = 0;
        for (size_t e = 0; e + 1 < r->elements; e += 2) {
            redisReply *v = r->element[e + 1];
            cr_assert(v->type == REDIS_REPLY_ARRAY && v->elements == 4);
            cr_assert_str_eq(v->element[0]->str, "calls");
            cr_assert_str_eq(v->element[2]->str, "histogram_usec");
            redisReply *b = v->element[3];
            long long last = 0;
            for (size_t j = 0; j + 1 < b->elements; j += 2) {
                long long us = b->element[j]->integer, cum = b->element[j + 1]->integer;
                static const long long labels[] = {1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056,
                                                   2113, 4227, 8454, 16908, 33816};
                int known = 0;
                for (size_t l = 0; l < sizeof(labels) / sizeof(labels[0]); l++)
                    known |= labels[l] == us;
                cr_assert(known, "port %d: bucket label %lld", ports[i], us);
                cr_assert_gt(cum, last);
                last = cum;
            }
            cr_assert_eq(last, v->element[1]->integer, "the last bucket counts every call");
            n += (size_t)snprintf(shape[i] + n, sizeof(shape[i]) - n, "%s:%lld ",
                                  r->element[e]->str, v->element[1]->integer);
        }
        freeReplyObject(r);
        redisFree(c);
    }
    cr_assert_str_eq(shape[1], shape[0]);
    cr_assert_str_eq(shape[1], "set:20 config|get:1 set:20 ");
    /* RESP3: a map whose values are maps, histogram_usec a map too. */
    int raw = support_raw_connect(ferry.port);
    support_raw_send(raw, "HELLO 3\r\nLATENCY HISTOGRAM config|get\r\n", 39);
    static char buf[8192];
    size_t got = 0;
    while (got < sizeof(buf) - 1 && !strstr(buf, "histogram_usec\r\n%1\r\n:")) {
        size_t r = support_raw_recv(raw, buf + got, 1);
        cr_assert_eq(r, 1, "%s", buf);
        buf[++got] = 0;
    }
    cr_assert(strstr(buf, "%1\r\n$10\r\nconfig|get\r\n%2\r\n$5\r\ncalls\r\n:1\r\n"), "%s", buf);
    close(raw);
    stop_ferry();
}

/* Whether every line of INFO latencystats in s is Redis's shape for the
 * percentiles given as labels ("p50,p99,p99.9"), values in us with three
 * decimals, not decreasing; returns the number of lines. */
static int latency_lines(const char *s, const char *labels)
{
    int n = 0;
    for (const char *l = strstr(s, "latency_percentiles_usec_"); l;
         l = strstr(l + 1, "latency_percentiles_usec_"), n++) {
        const char *p = strchr(l, ':') + 1;
        char want[64];
        snprintf(want, sizeof(want), "%s", labels);
        double last = 0;
        for (char *save, *label = strtok_r(want, ",", &save); label;
             label = strtok_r(NULL, ",", &save)) {
            cr_assert(strncmp(p, label, strlen(label)) == 0 && p[strlen(label)] == '=', "%s", l);
            char *end;
            double v = strtod(p + strlen(label) + 1, &end);
            cr_assert(end[-4] == '.' && v >= last && v >= 0.001, "%s", l);
            last = v;
            p = *end == ',' ? end + 1 : end;
        }
        cr_assert(p[0] == '\r', "%s", l);
    }
    return n;
}

/* INFO latencystats: a histogram of each command's own run, printed at the
 * configured percentiles as Redis prints them; CONFIG SET changes them with
 * Redis's default, latency-tracking no stops recording, RESETSTAT clears. */
Test(store_node, info_latencystats_prints_the_configured_percentiles)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    redisContext *r = support_connect(real_redis.port), *c = support_connect(ferry.port);
    const char *same[] = {"CONFIG GET latency-tracking", "CONFIG GET latency-tracking-info-*"};
    for (size_t i = 0; i < 2; i++) {
        redisReply *a = redisCommand(r, same[i]), *b = redisCommand(c, same[i]);
        cr_assert(a && b && a->elements == 2 && b->elements == 2, "%s", same[i]);
        cr_assert_str_eq(b->element[1]->str, a->element[1]->str, "%s", same[i]);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisFree(r);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");
    for (int i = 0; i < 100; i++) {
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
        freeReplyObject(redisCommand(c, "GET k%d", i));
    }
    redisReply *info = redisCommand(c, "INFO latencystats");
    cr_assert(strstr(info->str, "# Latencystats\r\nlatency_percentiles_usec_"), "%s", info->str);
    cr_assert(strstr(info->str, "latency_percentiles_usec_set:p50=") &&
                  strstr(info->str, "latency_percentiles_usec_get:p50="),
              "%s", info->str);
    cr_assert_eq(latency_lines(info->str, "p50,p99,p99.9"), 3, "set, get, config|resetstat: %s",
                 info->str);
    freeReplyObject(info);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK",
                       "CONFIG SET latency-tracking-info-percentiles %s", "0 50.5 100");
    info = redisCommand(c, "INFO latencystats");
    /* set, get, config|resetstat, info, config|set */
    cr_assert_eq(latency_lines(info->str, "p0,p50.5,p100"), 5, "%s", info->str);
    freeReplyObject(info);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET latency-tracking-info-percentiles %s",
                       "");
    info = redisCommand(c, "INFO latencystats");
    cr_assert(strstr(info->str, "latency_percentiles_usec_set:\r\n"), "%s", info->str);
    freeReplyObject(info);
    redisReply *e = redisCommand(c, "CONFIG SET latency-tracking-info-percentiles %s", "50 101");
    cr_assert(e && e->type == REDIS_REPLY_ERROR && strstr(e->str, "from 0 to 100, got '101'"),
              "%s", e ? e->str : "");
    freeReplyObject(e);
    /* Off: a command not run before gets no line; the default INFO has no
     * per-command sections. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET latency-tracking no");
    support_expect_int(c, 1, "INCR n");
    info = redisCommand(c, "INFO");
    cr_assert(!strstr(info->str, "Latencystats") && !strstr(info->str, "cmdstat_"), "%s",
              info->str);
    freeReplyObject(info);
    info = redisCommand(c, "INFO everything");
    cr_assert(strstr(info->str, "# Latencystats\r\n") && !strstr(info->str, "usec_incr"), "%s",
              info->str);
    freeReplyObject(info);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");
    info = redisCommand(c, "INFO latencystats");
    cr_assert_str_eq(info->str, "# Latencystats\r\n");
    freeReplyObject(info);
    redisFree(c);
    stop_ferry();
}

/* Whether the raw client fd, with id `id`, is held back (Redis's flags=b)
 * rather than answered, once it has sent cmd under CLIENT PAUSE WRITE;
 * found by asking, not by waiting a while. The pause is ended after. */
static int held_by_pause(redisContext *ctl, int fd, long long id, const char *cmd)
{
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CLIENT PAUSE 100000 WRITE");
    raw_cmd(fd, cmd);
    int held = -1;
    for (int i = 0; i < 5000 && held < 0; i++) {
        char b;
        if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
            held = 0;
        redisReply *r = redisCommand(ctl, "CLIENT LIST ID %lld", id);
        if (held < 0 && r && r->type == REDIS_REPLY_STRING && strstr(r->str, " flags=b "))
            held = 1;
        freeReplyObject(r);
        if (held < 0)
            usleep(2000);
    }
    cr_assert_geq(held, 0, "%s: neither answered nor held", cmd);
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CLIENT UNPAUSE");
    char buf[4096];
    read_reply(fd, buf, sizeof(buf)); /* answered, once the pause is over */
    return held;
}

/* CLIENT PAUSE WRITE holds what Redis 7.0 holds: the writes, and the
 * commands that may replicate though COMMAND INFO does not say so (EVAL,
 * EVALSHA, FCALL, PUBLISH, SPUBLISH, PFCOUNT: resp/gen_commands.py lists
 * them); everything else runs. The arguments are checked as Redis does. */
Test(store_node, client_pause_holds_what_redis_holds)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    expect_same_script(r, f,
                       "CLIENT PAUSE\r\nCLIENT PAUSE abc\r\nCLIENT PAUSE -1\r\n"
                       "CLIENT PAUSE 100 foo\r\nCLIENT PAUSE abc foo\r\n"
                       "CLIENT PAUSE 100 write extra\r\nCLIENT PAUSE \" 10\"\r\nCLIENT PAUSE +5\r\n"
                       "CLIENT UNPAUSE x\r\nCLIENT PAUSE 0\r\nCLIENT UNPAUSE\r\n");
    close(r);
    close(f);
    static const char *const cmds[] = {
        "SET k v\r\n", "GET k\r\n", "GETDEL k\r\n", "EVAL 'return 1' 0\r\n",
        "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0\r\n", "EVAL_RO 'return 1' 0\r\n",
        "FCALL nofn 0\r\n", "FCALL_RO nofn 0\r\n", "PUBLISH ch x\r\n", "SPUBLISH ch x\r\n",
        "PFCOUNT hll\r\n", "PFADD hll a\r\n", "SORT nol\r\n", "SORT_RO nol\r\n",
        "BITFIELD b GET u8 0\r\n", "BITFIELD_RO b GET u8 0\r\n", "FLUSHDB\r\n", "WAIT 0 0\r\n",
        "PUBSUB CHANNELS\r\n", "CLIENT PAUSE 10 WRITE\r\n", "MULTI\r\n",
    };
    int ports[2] = {real_redis.port, ferry.port};
    int held[2][sizeof(cmds) / sizeof(cmds[0])];
    for (int s = 0; s < 2; s++) {
        redisContext *ctl = support_connect(ports[s]);
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            int fd = support_raw_connect(ports[s]);
            held[s][i] = held_by_pause(ctl, fd, raw_client_id(fd), cmds[i]);
            close(fd);
        }
        redisFree(ctl);
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        cr_expect_eq(held[1][i], held[0][i], "%.*s: Redis %s, ferry %s",
                     (int)strcspn(cmds[i], "\r"), cmds[i], held[0][i] ? "holds" : "runs",
                     held[1][i] ? "holds" : "runs");
    cr_assert(held[0][0] && !held[0][1], "the pause held SET and not GET on Redis");
    stop_ferry();
}

/* One client's traffic under CLIENT PAUSE, as text: what was answered at
 * once, what waited (and was counted and listed as blocked, in order,
 * a CLIENT REPLY SKIP kept), what a client gone meanwhile never ran,
 * UNPAUSE, a pause ALL that holds PING and ends by itself, the mode replaced
 * by a later pause, and no key expired while paused. */
static void pause_story(int port, char *out, size_t cap)
{
    size_t n = 0;
    char buf[4096];
    redisContext *ctl = support_connect(port);
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "FLUSHALL");
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "SET e 1 PX 50");
    int b = support_raw_connect(port), d = support_raw_connect(port);
    long long bid = raw_client_id(b), did = raw_client_id(d);
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CLIENT PAUSE 100000 WRITE");
    raw_cmd(b, "GET k\r\n");
    n += read_replies(b, 1, out + n, cap - n);
    raw_cmd(b, "CLIENT REPLY SKIP\r\nSET k v\r\nGET k\r\nPUBLISH ch x\r\nMULTI\r\nSET k w\r\n");
    raw_cmd(d, "SET gone 1\r\n");
    long long ids[2] = {bid, did};
    for (int i = 0; i < 2; i++) {
        redisReply *r = client_line_when_held(ctl, ids[i]);
        const char *cmd = strstr(r->str, " cmd=") + 1;
        n += (size_t)snprintf(out + n, cap - n, "[%.*s]\n", (int)strcspn(cmd, " \n"), cmd);
        freeReplyObject(r);
    }
    n += (size_t)snprintf(out + n, cap - n, "[blocked %lld]\n",
                          info_field(ctl, "clients", "blocked_clients"));
    usleep(200 * 1000); /* e expires meanwhile, but is not deleted */
    n += (size_t)snprintf(out + n, cap - n, "[expired %lld]\n",
                          info_field(ctl, "stats", "expired_keys"));
    cr_assert_eq(recv(b, buf, 1, MSG_DONTWAIT), -1, "answered under the pause");
    close(d);
    usleep(100 * 1000);
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CLIENT UNPAUSE");
    n += read_replies(b, 4, out + n, cap - n); /* GET, PUBLISH, MULTI, SET: not the first SET */
    support_expect_str(ctl, REDIS_REPLY_NIL, NULL, "GET gone");
    raw_cmd(b, "EXEC\r\n");
    n += read_replies(b, 1, out + n, cap - n);
    for (int k = 0; k < 500 && info_field(ctl, "stats", "expired_keys") < 1; k++)
        usleep(10 * 1000);
    n += (size_t)snprintf(out + n, cap - n, "[expired %lld]\n",
                          info_field(ctl, "stats", "expired_keys"));
    /* ALL holds PING too, until its end; a later WRITE pause takes the
     * mode, not the end. */
    support_expect_str(ctl, REDIS_REPLY_STATUS, "OK", "CLIENT PAUSE 400 ALL");
    raw_cmd(b, "PING\r\n");
    usleep(100 * 1000);
    cr_assert_eq(recv(b, buf, 1, MSG_DONTWAIT), -1, "PING answered under a pause ALL");
    n += read_replies(b, 1, out + n, cap - n);
    raw_cmd(b, "CLIENT PAUSE 600 WRITE\r\nCLIENT PAUSE 10 ALL\r\n");
    n += read_replies(b, 2, out + n, cap - n);
    int e = support_raw_connect(port);
    raw_cmd(e, "GET k\r\n");
    usleep(100 * 1000);
    cr_assert_eq(recv(e, buf, 1, MSG_DONTWAIT), -1, "GET answered under the replaced mode");
    n += read_replies(e, 1, out + n, cap - n); /* at the first pause's end */
    out[n] = 0;
    close(b);
    close(e);
    redisFree(ctl);
}

Test(store_node, client_pause_defers_as_redis_does)
{
    cr_assert_eq(support_redis_start(&real_redis, NULL), 0);
    start_ferry(NULL);
    static char want[1 << 14], got[1 << 14];
    pause_story(real_redis.port, want, sizeof(want));
    pause_story(ferry.port, got, sizeof(got));
    cr_assert_str_eq(got, want);
    cr_assert(strstr(want, "[blocked 2]") && strstr(want, "[cmd=set]\n[cmd=set]"), "%s", want);
    stop_ferry();
}

/* ------------------------------------------------------------------ keyspace events */

/* fd subscribes to every keyspace event, and to channel x for markers. */
static void events_subscribe(int fd)
{
    raw_cmd(fd, "PSUBSCRIBE __key*__:*\r\nSUBSCRIBE x\r\n");
    expect_raw(fd, "*3\r\n$10\r\npsubscribe\r\n$10\r\n__key*__:*\r\n:1\r\n"
                   "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:2\r\n");
}

/* What subscriber sub got until the marker that pub publishes on x now. */
static size_t events_until_marker(int pub, int sub, char *out, size_t cap)
{
    raw_cmd(pub, "PUBLISH x __mark__\r\n");
    expect_raw(pub, ":1\r\n");
    return support_recv_until(sub, "$8\r\n__mark__\r\n", out, cap);
}

static void expect_same_events(int rpub, int rsub, int fpub, int fsub, const char *what)
{
    static char a[1 << 16], b[1 << 16];
    size_t na = events_until_marker(rpub, rsub, a, sizeof(a));
    size_t nb = events_until_marker(fpub, fsub, b, sizeof(b));
    size_t at = 0;
    while (at < na && at < nb && a[at] == b[at])
        at++;
    cr_assert(na == nb && at == na, "%s: from byte %zu\nredis: %.300s\nferry: %.300s", what, at,
              a + at, b + at);
}

/* notify-keyspace-events: the events of each write, in Redis's order and
 * words, keymiss from reads and from the writes that read, a transaction's
 * events around its PUBLISHes, and a blocked pop's after the push that
 * serves it. The differential test (--events) covers every command. */
Test(store_node, keyspace_events_are_redis_s)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    int rsub = support_raw_connect(real_redis.port), fsub = support_raw_connect(ferry.port);
    events_subscribe(rsub);
    events_subscribe(fsub);
    expect_same_script(r, f,
                       "CONFIG SET notify-keyspace-events KEAnm\r\n"
                       "CONFIG GET notify-keyspace-events\r\n"
                       "SET s 1 EX 100\r\nINCRBY s 5\r\nMSET a 1 b 2\r\nGETDEL nokey\r\n"
                       "GETDEL a\r\nSET b 3 XX GET\r\nRPUSH l x y z\r\nLMOVE l l2 LEFT RIGHT\r\n"
                       "RPOPLPUSH l l2\r\nLPOP l\r\nSADD s1 m n\r\nSADD s2 n\r\n"
                       "SINTERSTORE d s1 s2\r\nSINTERSTORE d s1 none\r\nSMOVE s1 s2 m\r\n"
                       "ZADD z 1 a 2 b\r\nZINCRBY z 0 a\r\nZADD z INCR 1 a\r\nZPOPMIN z 2\r\n"
                       "HSET h f 1\r\nHINCRBY h f 2\r\nHDEL h f\r\nRENAME b b2\r\nCOPY b2 b3\r\n"
                       "EXPIRE b3 0\r\nPERSIST s\r\nSETBIT bits 7 1\r\nSETBIT bits 7 1\r\n"
                       "BITOP AND d2 bits nokey\r\nSORT l2 ALPHA STORE sorted\r\n"
                       "PFADD p a\r\nPFMERGE p2 p\r\nGEOADD g 13 38 m\r\n"
                       "GEOSEARCHSTORE gd g FROMLONLAT 13 38 BYRADIUS 10 km\r\n"
                       "EXISTS nokey nokey2\r\nMGET s nokey\r\nLPUSH s x\r\nDEL s2 d nokey\r\n"
                       "MULTI\r\nPUBLISH x one\r\nSET t 1\r\nPUBLISH x two\r\nDEL t\r\nEXEC\r\n"
                       "FLUSHALL\r\n");
    expect_same_events(r, rsub, f, fsub, "the script's events");
    /* A pop waiting for q is served after the push has told its events. */
    int rb = support_raw_connect(real_redis.port), fb = support_raw_connect(ferry.port);
    raw_cmd(rb, "BLPOP q 0\r\n");
    raw_cmd(fb, "BLPOP q 0\r\n");
    usleep(50 * 1000);
    expect_same_script(r, f, "RPUSH q a b\r\nCONFIG SET notify-keyspace-events Kl\r\n"
                             "RPUSH q c\r\nCONFIG SET notify-keyspace-events E\r\nRPUSH q d\r\n");
    expect_raw(rb, "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    expect_raw(fb, "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    expect_same_events(r, rsub, f, fsub, "a served pop's events; then only some classes");
    close(rb);
    close(fb);
    /* The active expiry's: "expired", whenever it comes. */
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET notify-keyspace-events Ex");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET e 1 PX 20");
    static const char expired[] = "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n"
                                  "$22\r\n__keyevent@0__:expired\r\n$1\r\ne\r\n";
    char buf[256];
    size_t n = support_raw_recv(fsub, buf, strlen(expired));
    buf[n] = 0;
    cr_assert_str_eq(buf, expired);
    redisFree(c);
    close(rsub);
    close(fsub);
    close(r);
    close(f);
}

/* Redis counts a keyspace hit or miss for each lookup it makes as a read,
 * the writes' that read too (GETDEL, the STORE forms' sources, SORT's
 * patterns, COPY's source), and none for the others (LPOP, INCR). */
Test(store_node, writes_that_read_count_hits_and_misses_as_redis_does)
{
    int r, f;
    start_redis_and_ferry(&r, &f);
    static const char script[] =
        "CONFIG RESETSTAT\r\nSET a 1\r\nGET a\r\nGET nokey\r\nGETDEL nokey\r\nGETDEL a\r\n"
        "SADD s x\r\nSINTERSTORE d s nokey\r\nSORT s BY w_* GET g_*\r\nCOPY nokey x\r\n"
        "COPY s s2\r\nBITOP OR b nokey s2\r\nMULTI\r\nGET nokey\r\nEXEC\r\n"
        "PFMERGE p nokey\r\nZRANGESTORE zd nokey 0 -1\r\nHGET h f\r\nLPOP nokey\r\n"
        "INCR nokey\r\nSET nokey2 1 GET\r\nEXISTS nokey nokey s\r\n";
    expect_same_script(r, f, script);
    redisContext *rc = support_connect(real_redis.port), *fc = support_connect(ferry.port);
    long long hits = info_field(rc, "stats", "keyspace_hits");
    long long misses = info_field(rc, "stats", "keyspace_misses");
    cr_assert(hits > 0 && misses > 0);
    cr_assert_eq(info_field(fc, "stats", "keyspace_hits"), hits);
    cr_assert_eq(info_field(fc, "stats", "keyspace_misses"), misses);
    redisFree(rc);
    redisFree(fc);
    close(r);
    close(f);
}
