/* The HTTP admin endpoint (admin-port): /healthz, /readyz and /metrics of
 * a real ferry, in phase redis in front of a real redis-server and in
 * raft-only, read over a plain socket as a probe or Prometheus would. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;
static int admin_port;

static void stop_all(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
}

TestSuite(admin, .fini = stop_all, .timeout = 120);

struct http_reply {
    int status;
    char head[2048];
    char body[256 * 1024];
};

/* One request over HTTP/1.0 (the server closes after the reply). */
static void http(const char *method, const char *path, struct http_reply *r)
{
    int fd = support_raw_connect(admin_port);
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
    support_raw_send(fd, req, (size_t)n);
    static char raw[sizeof(r->head) + sizeof(r->body)];
    size_t got = support_raw_recv(fd, raw, sizeof(raw) - 1);
    close(fd);
    raw[got] = '\0';
    cr_assert(sscanf(raw, "HTTP/1.%*d %d", &r->status) == 1, "no status line in: %s", raw);
    char *sep = strstr(raw, "\r\n\r\n");
    cr_assert(sep != NULL, "no end of headers in: %s", raw);
    size_t hl = (size_t)(sep - raw);
    cr_assert(hl < sizeof(r->head) && got - hl - 4 < sizeof(r->body));
    memcpy(r->head, raw, hl);
    r->head[hl] = '\0';
    memcpy(r->body, sep + 4, got - hl - 4 + 1);
}

static void start_ferry(int upstream_port, const char *const *more)
{
    admin_port = support_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", admin_port);
    const char *args[16] = {"--admin-port", port};
    int n = 2;
    for (int i = 0; more && more[i]; i++)
        args[n++] = more[i];
    args[n] = NULL;
    cr_assert(support_ferry_start(&ferry, upstream_port, args) == 0);
}

/* The value of the sample `series` (name and labels, exactly as printed);
 * -1 when it is not there. */
static double metric(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    return -1;
}

/* Every line is a comment or `name{labels} value`, every family has its
 * TYPE before its samples, and each histogram's buckets never decrease and
 * end with +Inf equal to _count. */
static void check_exposition(const char *text)
{
    char typed[256][96];
    int ntyped = 0;
    char *copy = strdup(text);
    char *save = NULL;
    char last_bucket_series[256] = "";
    double last_bucket = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[96], type[32];
            cr_assert(sscanf(line, "# TYPE %95s %31s", name, type) == 2, "%s", line);
            cr_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                          strcmp(type, "histogram") == 0,
                      "%s", line);
            cr_assert(ntyped < 256);
            snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
            continue;
        }
        cr_assert(line[0] != '#', "stray comment: %s", line);
        size_t nlen =
            strspn(line, "abcdefghijklmnopqrstuvwxyz_:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        cr_assert(nlen > 0, "%s", line);
        char name[96];
        snprintf(name, sizeof(name), "%.*s", (int)nlen, line);
        int known = 0;
        for (int i = 0; i < ntyped && !known; i++) {
            size_t tl = strlen(typed[i]);
            known = strcmp(name, typed[i]) == 0 ||
                    (strncmp(name, typed[i], tl) == 0 &&
                     (strcmp(name + tl, "_bucket") == 0 || strcmp(name + tl, "_sum") == 0 ||
                      strcmp(name + tl, "_count") == 0));
        }
        cr_assert(known, "sample before its TYPE: %s", line);
        const char *rest = line + nlen;
        if (*rest == '{') {
            rest = strchr(rest, '}');
            cr_assert(rest != NULL, "%s", line);
            rest++;
        }
        cr_assert(*rest == ' ', "%s", line);
        char *end;
        double v = strtod(rest + 1, &end);
        cr_assert(*end == '\0' && end != rest + 1, "value of %s", line);
        cr_assert(v >= 0, "%s", line);
        if (strstr(name, "_bucket")) {
            /* The series without its le label: buckets of one series come
             * in a row. */
            char series[256];
            const char *le = strstr(line, ",le=\"");
            cr_assert(le != NULL, "%s", line);
            snprintf(series, sizeof(series), "%.*s", (int)(le - line), line);
            if (strcmp(series, last_bucket_series) == 0)
                cr_assert(v >= last_bucket, "bucket decreases: %s", line);
            snprintf(last_bucket_series, sizeof(last_bucket_series), "%s", series);
            last_bucket = v;
            if (strstr(le, "+Inf")) {
                char count[300];
                const char *labels = strchr(series, '{');
                snprintf(count, sizeof(count), "ferry_command_duration_seconds_count%s}", labels);
                cr_assert_eq(metric(text, count), v, "+Inf bucket against %s", count);
            }
        }
    }
    free(copy);
}

Test(admin, phase_redis_health_readiness_and_metrics)
{
    cr_assert(support_redis_start(&redis, NULL) == 0);
    start_ferry(redis.port, NULL);
    struct http_reply *r = malloc(sizeof(*r));

    http("GET", "/healthz", r);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(r->body, "ok\n");
    http("GET", "/readyz", r);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_str_eq(r->body, "ready\n");

    redisContext *c = support_connect(ferry.port);
    for (int i = 0; i < 3; i++)
        support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k%d v", i);
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k0");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "WRONGTYPE Operation against a key holding the wrong kind of value",
                       "HGET k0 f");
    redisReply *rep = redisCommand(c, "CLIENT ID");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    rep = redisCommand(c, "NOSUCHCOMMAND");
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR);
    freeReplyObject(rep);

    http("GET", "/metrics", r);
    cr_assert_eq(r->status, 200);
    cr_assert(strstr(r->head, "Content-Type: text/plain; version=0.0.4") != NULL, "%s", r->head);
    check_exposition(r->body);
    const char *b = r->body;
    cr_assert_eq(metric(b, "ferry_info{version=\"0.1.0\",phase=\"redis\"}"), 1);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"set\"}"), 3);
    cr_assert_eq(metric(b, "ferry_command_errors_total{command=\"set\"}"), 0);
    cr_assert_eq(metric(b, "ferry_command_duration_seconds_count{command=\"set\"}"), 3);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"get\"}"), 1);
    cr_assert_eq(metric(b, "ferry_command_errors_total{command=\"hget\"}"), 1);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"client|id\"}"), 1);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"unknown\"}"), 1);
    cr_assert_eq(metric(b, "ferry_command_errors_total{command=\"unknown\"}"), 1);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"del\"}"), -1, "never called");
    cr_assert(metric(b, "ferry_command_duration_seconds_sum{command=\"set\"}") > 0);
    cr_assert_eq(metric(b, "ferry_connected_clients"), 1);
    cr_assert_eq(metric(b, "ferry_upstream_up"), 1);
    cr_assert(metric(b, "process_resident_memory_bytes") > 1e6);
    cr_assert(metric(b, "process_open_fds") > 3);

    http("GET", "/nosuch", r);
    cr_assert_eq(r->status, 404);
    http("POST", "/metrics", r);
    cr_assert_eq(r->status, 501);
    http("HEAD", "/healthz", r);
    cr_assert_eq(r->status, 200);

    /* The upstream goes away: not ready, with the reason; requests get
     * their error and are counted; ready again once Redis is back. */
    int port = redis.port;
    support_proc_stop(&redis);
    http("GET", "/readyz", r);
    cr_assert_eq(r->status, 503);
    char want[128];
    snprintf(want, sizeof(want), "upstream 127.0.0.1:%d unavailable (", port);
    cr_assert(strstr(r->body, want) != NULL, "%s", r->body);
    rep = redisCommand(c, "GET k0");
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "unavailable"));
    freeReplyObject(rep);
    http("GET", "/metrics", r);
    cr_assert_eq(metric(r->body, "ferry_upstream_up"), 0);
    cr_assert(metric(r->body, "ferry_upstream_errors_total") >= 1);
    cr_assert_eq(metric(r->body, "ferry_command_errors_total{command=\"get\"}"), 1);

    char portarg[16];
    snprintf(portarg, sizeof(portarg), "%d", port);
    char *argv[] = {"redis-server", "--port", portarg,        "--bind", "127.0.0.1",
                    "--save",       "",       "--appendonly", "no",     NULL};
    redis.pid = support_spawn(argv, "/dev/null");
    cr_assert(support_wait_port(port, 5000) == 0);
    /* The first attempt may fall in the reconnect backoff (at most 5 s). */
    int ready = 0;
    for (int i = 0; i < 80 && !ready; i++) {
        http("GET", "/readyz", r);
        ready = r->status == 200;
        if (!ready)
            usleep(100 * 1000);
    }
    cr_assert(ready, "still %d: %s", r->status, r->body);
    redisFree(c);
    free(r);
}

Test(admin, raft_only_store_figures_and_shutdown)
{
    const char *more[] = {"--phase", "raft-only", "--shutdown-timeout", "30", NULL};
    start_ferry(0, more);
    struct http_reply *r = malloc(sizeof(*r));
    http("GET", "/readyz", r);
    cr_assert_eq(r->status, 200, "%s", r->body);

    redisContext *c = support_connect(ferry.port);
    for (int i = 0; i < 5; i++)
        support_expect_int(c, 1, "RPUSH list%d x", i);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET s v EX 100");
    http("GET", "/metrics", r);
    cr_assert_eq(r->status, 200);
    check_exposition(r->body);
    const char *b = r->body;
    cr_assert_eq(metric(b, "ferry_info{version=\"0.1.0\",phase=\"raft-only\"}"), 1);
    cr_assert_eq(metric(b, "ferry_store_keys"), 6);
    cr_assert_eq(metric(b, "ferry_store_keys_with_expiry"), 1);
    cr_assert_eq(metric(b, "ferry_commands_total{command=\"rpush\"}"), 5);
    cr_assert_eq(metric(b, "ferry_command_duration_seconds_count{command=\"rpush\"}"), 5);
    cr_assert(metric(b, "ferry_raft_applied_index") >= 6);
    cr_assert(metric(b, "ferry_commits_total") >= 1);
    cr_assert_eq(metric(b, "ferry_commit_failing"), 0);
    cr_assert_eq(metric(b, "ferry_upstream_up"), -1, "no upstream in raft-only");

    /* CONFIG RESETSTAT starts INFO's counters over; /metrics' only go up. */
    double commits = metric(b, "ferry_commits_total");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET s");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG RESETSTAT");
    redisReply *info = redisCommand(c, "INFO stats");
    cr_assert(info && info->type == REDIS_REPLY_STRING);
    cr_assert(strstr(info->str, "\r\nkeyspace_hits:0\r\n") &&
                  strstr(info->str, "\r\nferry_commits:0\r\n") &&
                  strstr(info->str, "\r\ntotal_connections_received:0\r\n"),
              "%s", info->str);
    freeReplyObject(info);
    http("GET", "/metrics", r);
    cr_assert_eq(metric(r->body, "ferry_store_keyspace_hits_total"), 1);
    cr_assert(metric(r->body, "ferry_commits_total") >= commits);

    /* A blocked pop is counted, and ends when the shutdown begins. */
    redisContext *blocked = support_connect(ferry.port);
    cr_assert(redisAppendCommand(blocked, "BLPOP nothing 0") == REDIS_OK);
    int done = 0;
    cr_assert(redisBufferWrite(blocked, &done) == REDIS_OK && done);
    int blocking = 0; /* the pop and the scrape race in one loop */
    for (int i = 0; i < 100 && !blocking; i++) {
        http("GET", "/metrics", r);
        blocking = metric(r->body, "ferry_blocked_clients") == 1;
        if (!blocking)
            usleep(10 * 1000);
    }
    cr_assert(blocking);

    /* A reply the client has not read holds the shutdown open: meanwhile
     * the process is alive but no longer ready. 32 MB is more than the
     * loopback's socket buffers take. */
    static char big[32 << 20];
    memset(big, 'v', sizeof(big));
    redisReply *ok = redisCommand(c, "SET big %b", big, sizeof(big));
    cr_assert(ok && ok->type == REDIS_REPLY_STATUS);
    freeReplyObject(ok);
    int slow = support_raw_connect(ferry.port);
    support_raw_send(slow, "GET big\r\n", 9);
    char first;
    cr_assert_eq(support_raw_recv(slow, &first, 1), 1); /* the reply has begun */
    kill(ferry.pid, SIGTERM);
    int saw = 0;
    for (int i = 0; i < 50 && !saw; i++) {
        http("GET", "/readyz", r);
        saw = r->status == 503;
        if (!saw)
            usleep(20 * 1000);
    }
    cr_assert(saw, "still %d", r->status);
    cr_assert_str_eq(r->body, "shutting down\n");
    http("GET", "/healthz", r);
    cr_assert_eq(r->status, 200);
    redisReply *nil = NULL;
    cr_assert(redisGetReply(blocked, (void **)&nil) == REDIS_OK && nil->type == REDIS_REPLY_NIL,
              "the pop should end as timed out");
    freeReplyObject(nil);
    redisFree(blocked);
    redisFree(c);
    close(slow); /* the last client: ferry exits */
    free(r);
}

/* Bad admin settings stop ferry at start with a reason. */
Test(admin, bad_settings_are_refused)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "%s --phase raft-only --admin-port 70000 2>&1", support_ferry_bin());
    cr_assert_eq(support_run(cmd, out, sizeof(out)), 2, "%s", out);
    cr_assert(strstr(out, "admin-port") != NULL, "%s", out);
    snprintf(cmd, sizeof(cmd), "%s --phase raft-only --admin-bind 'a b' 2>&1", support_ferry_bin());
    cr_assert_eq(support_run(cmd, out, sizeof(out)), 2, "%s", out);
    cr_assert(strstr(out, "admin-bind") != NULL, "%s", out);

    /* The admin port is taken (by a redis-server): ferry says so and exits. */
    cr_assert(support_redis_start(&redis, NULL) == 0);
    char *dir = support_tmpdir("ferry-admin");
    snprintf(cmd, sizeof(cmd),
             "%s --phase raft-only --port %d --admin-port %d --dir %s 2>&1; echo status $?",
             support_ferry_bin(), support_free_port(), redis.port, dir);
    support_run(cmd, out, sizeof(out));
    char want[128];
    snprintf(want, sizeof(want), "admin endpoint: cannot listen on 127.0.0.1 port %d", redis.port);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    cr_assert(strstr(out, "status 0") == NULL, "%s", out);
    support_rmdir(dir);
}
