/* requirepass on ferry, and ferry's own credentials for the upstream. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;

static void start_both(void)
{
    const char *redis_args[] = {"--requirepass", "upstream-secret", NULL};
    cr_assert(support_redis_start(&redis, redis_args) == 0);
    const char *ferry_args[] = {"--requirepass", "s3cret", "--upstream-password",
                                "upstream-secret", NULL};
    cr_assert(support_ferry_start(&ferry, redis.port, ferry_args) == 0);
}

static void stop_both(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
}

TestSuite(auth, .init = start_both, .fini = stop_both, .timeout = 60);

Test(auth, commands_before_auth_get_noauth)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_ERROR, "NOAUTH Authentication required.", "GET k");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "WRONGPASS invalid username-password pair or user is disabled.",
                       "AUTH nope");
    /* Redis's words: AUTH's arity takes three arguments, the command not. */
    support_expect_str(c, REDIS_REPLY_ERROR, "ERR syntax error", "AUTH a b c");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "ERR wrong number of arguments for 'auth' command", "AUTH");
    support_expect_str(c, REDIS_REPLY_ERROR, "NOAUTH Authentication required.", "PING");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "AUTH s3cret");
    /* Now the upstream is reached with ferry's own upstream password. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");
    redisFree(c);
}

Test(auth, auth_with_the_default_user)
{
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "WRONGPASS invalid username-password pair or user is disabled.",
                       "AUTH alice s3cret");
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "AUTH default s3cret");
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
}

Test(auth, hello_with_auth_authenticates)
{
    redisContext *c = support_connect(ferry.port);
    redisReply *r = redisCommand(c, "HELLO 2");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "NOAUTH HELLO must be called", 27) == 0, "%s", r->str);
    freeReplyObject(r);
    r = redisCommand(c, "HELLO 2 AUTH default s3cret SETNAME me");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d %s", r->type, r->str ? r->str : "");
    freeReplyObject(r);
    support_expect_str(c, REDIS_REPLY_STRING, "me", "CLIENT GETNAME");
    redisFree(c);
}

/* Inside MULTI, AUTH is queued and runs at EXEC, as in Redis: ferry checks
 * it against its own password and puts its reply into Redis's reply to
 * EXEC where it stood; HELLO's refusals likewise. Each script runs on
 * Redis with Redis's password and through ferry with ferry's. */
Test(auth, auth_and_hello_inside_multi_run_at_exec_as_in_redis)
{
    static const char *const scripts[] = {
        "AUTH %s\r\nMULTI\r\nAUTH %s\r\nAUTH bad\r\nSET a 1\r\nAUTH x y z\r\nGET a\r\n"
        "EXEC\r\n",
        "MULTI\r\nAUTH\r\nSET a 2\r\nEXEC\r\nGET a\r\n",
        "MULTI\r\nHELLO x\r\nAUTH %s\r\nDISCARD\r\nMULTI\r\nHELLO 4\r\nPING\r\n"
        "HELLO 2 AUTH default bad\r\nEXEC\r\n",
        "WATCH w\r\nSET w 1\r\nMULTI\r\nAUTH %s\r\nEXEC\r\n",
    };
    int r = support_raw_connect(redis.port), f = support_raw_connect(ferry.port);
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        static char sr[512], sf[512], a[8192], b[8192];
        snprintf(sr, sizeof(sr), scripts[i], "upstream-secret", "upstream-secret");
        snprintf(sf, sizeof(sf), scripts[i], "s3cret", "s3cret");
        /* (Not support_script_replies: its CLIENT REPLY makes a client of
         * phase redis raw, where replies are a stream ferry does not take
         * apart.) */
        strcat(sr, "ECHO __script__\r\n");
        strcat(sf, "ECHO __script__\r\n");
        support_raw_send(r, sr, strlen(sr));
        support_raw_send(f, sf, strlen(sf));
        size_t na = support_recv_until(r, "$10\r\n__script__\r\n", a, sizeof(a));
        size_t nb = support_recv_until(f, "$10\r\n__script__\r\n", b, sizeof(b));
        cr_assert(na == nb && memcmp(a, b, na) == 0, "%s\nredis: %s\nferry: %s", sf, a, b);
    }
    close(r);
    close(f);
}

/* Before AUTH, Redis's unauthenticated limits apply, with its words. */
Test(auth, unauthenticated_clients_get_redis_limits)
{
    int fd = support_raw_connect(ferry.port);
    const char req[] = "*11\r\n";
    support_raw_send(fd, req, sizeof(req) - 1);
    char out[128] = {0};
    support_raw_recv(fd, out, sizeof(out) - 1);
    cr_assert_str_eq(out, "-ERR Protocol error: unauthenticated multibulk length\r\n");
    close(fd);
}

/* Processes of the tests that start their own: stopped by the test's fini,
 * which runs after a failed assertion too. */
static struct support_proc own_redis, own_ferry;

static void stop_own(void)
{
    support_proc_stop(&own_ferry);
    support_proc_stop(&own_redis);
}

/* ferry authenticates to the upstream as an ACL user of its own. */
Test(auth, upstream_acl_user, .init = NULL, .fini = stop_own)
{
    struct support_proc *r = &own_redis, *f = &own_ferry;
    const char *redis_args[] = {"--user", "ferryuser", "on", ">ferrypw", "~*", "&*", "+@all", NULL};
    cr_assert(support_redis_start(r, redis_args) == 0);
    const char *ferry_args[] = {"--upstream-user", "ferryuser", "--upstream-password", "ferrypw",
                                NULL};
    cr_assert(support_ferry_start(f, r->port, ferry_args) == 0);
    redisContext *c = support_connect(f->port);
    support_expect_str(c, REDIS_REPLY_STRING, "ferryuser", "ACL WHOAMI");
    redisFree(c);
}

/* Sends cmd on c, whose upstream connection Redis has just closed: ferry
 * must close c rather than run cmd on a new connection as ferry's user. */
static void expect_closed(redisContext *c, const char *cmd)
{
    usleep(200 * 1000); /* ferry has seen the upstream close */
    redisReply *r = redisCommand(c, cmd);
    cr_assert(r == NULL, "%s ran on a new connection: %s", cmd,
              r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ? r->str : "a reply");
}

/* Without requirepass on ferry, AUTH is between the application and Redis:
 * its connection runs as the user it chose. Losing that connection must end
 * the client's, as with Redis itself; a new one would run its next commands
 * as ferry's upstream user, with that user's rights. CLIENT NO-EVICT is
 * the same kind of state. */
Test(auth, a_client_whose_identity_was_on_the_upstream_is_closed_with_it, .init = NULL,
     .fini = stop_own)
{
    struct support_proc *r = &own_redis, *f = &own_ferry;
    const char *redis_args[] = {"--requirepass", "upstream-secret", "--user", "ro", "on",
                                ">ropass", "~*", "+get", "+ping", "+client", NULL};
    cr_assert(support_redis_start(r, redis_args) == 0);
    const char *ferry_args[] = {"--upstream-password", "upstream-secret", NULL};
    cr_assert(support_ferry_start(f, r->port, ferry_args) == 0);
    redisContext *admin = support_connect(r->port);
    support_expect_str(admin, REDIS_REPLY_STATUS, "OK", "AUTH upstream-secret");

    redisContext *c = support_connect(f->port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "AUTH ro ropass");
    support_expect_str(c, REDIS_REPLY_ERROR,
                       "NOPERM this user has no permissions to run the 'set' command",
                       "SET auth:k 1");
    support_expect_int(admin, 1, "CLIENT KILL USER ro");
    expect_closed(c, "SET auth:k 1");
    redisFree(c);
    support_expect_int(admin, 0, "EXISTS auth:k");

    c = support_connect(f->port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CLIENT NO-EVICT on");
    redisReply *id = redisCommand(c, "CLIENT ID");
    cr_assert_eq(id->type, REDIS_REPLY_INTEGER);
    support_expect_int(admin, 1, "CLIENT KILL ID %lld", id->integer);
    freeReplyObject(id);
    expect_closed(c, "CLIENT INFO");
    redisFree(c);

    /* A client without such state gets a new connection, as before. */
    c = support_connect(f->port);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    id = redisCommand(c, "CLIENT ID");
    support_expect_int(admin, 1, "CLIENT KILL ID %lld", id->integer);
    freeReplyObject(id);
    usleep(200 * 1000);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);

    redisFree(admin);
}

/* RESET logs a connection out to Redis's default user. A client of ferry
 * is logged in by ferry (upstream-password), not by itself: after RESET on
 * its own connection it must stay logged in, in raw mode (subscribed) as
 * well as in the usual one, and without an extra reply. */
Test(auth, reset_keeps_the_client_logged_in_as_ferrys_upstream_user, .init = NULL,
     .fini = stop_own)
{
    struct support_proc *r = &own_redis, *f = &own_ferry;
    const char *redis_args[] = {"--requirepass", "upstream-secret", NULL};
    cr_assert(support_redis_start(r, redis_args) == 0);
    const char *ferry_args[] = {"--upstream-password", "upstream-secret", NULL};
    cr_assert(support_ferry_start(f, r->port, ferry_args) == 0);
    static const struct {
        const char *send, *want;
    } cases[] = {
        {"SET reset:k 1\r\nSELECT 1\r\nRESET\r\nGET reset:k\r\n",
         "+OK\r\n+OK\r\n+RESET\r\n$1\r\n1\r\n"},
        {"MULTI\r\nSET reset:k 2\r\nRESET\r\nGET reset:k\r\n",
         "+OK\r\n+QUEUED\r\n+RESET\r\n$1\r\n1\r\n"},
        {"SUBSCRIBE ch\r\nRESET\r\nGET reset:k\r\nPING\r\n",
         "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n+RESET\r\n$1\r\n1\r\n+PONG\r\n"},
        {"CLIENT REPLY OFF\r\nGET reset:k\r\nRESET\r\nGET reset:k\r\nRESET\r\nPING\r\n",
         "+RESET\r\n$1\r\n1\r\n+RESET\r\n+PONG\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = support_raw_connect(f->port);
        support_raw_send(fd, cases[i].send, strlen(cases[i].send));
        char got[256] = {0};
        size_t want = strlen(cases[i].want);
        size_t n = support_raw_recv(fd, got, want);
        cr_assert(n == want && memcmp(got, cases[i].want, want) == 0, "case %zu: got %s", i,
                  got);
        /* Nothing more: ferry's own AUTH's reply does not reach the client. */
        struct timeval tv = {0, 200 * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        cr_assert(recv(fd, got, sizeof(got), 0) <= 0, "case %zu: more came: %s", i, got);
        close(fd);
    }
}
