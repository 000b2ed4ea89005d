/* Unix sockets: ferry accepting clients on one (unixsocket, unixsocketperm,
 * port 0), and reaching its upstream Redis through one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;
static char *dir;      /* the sockets' directory */
static char sock[100]; /* ferry's socket in it (sun_path holds 107 bytes) */

static void setup(void)
{
    dir = support_tmpdir("ferry-unix");
    snprintf(sock, sizeof(sock), "%s/ferry.sock", dir);
}

static void teardown(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
    support_rmdir(dir);
}

TestSuite(unix_socket, .init = setup, .fini = teardown, .timeout = 60);

static redisContext *connect_unix(const char *path)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectUnixWithTimeout(path, tv);
    cr_assert(c != NULL && !c->err, "connect to %s: %s", path, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

/* Whether something accepts on the unix socket at path. */
static int accepts(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert(strlen(path) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    close(fd);
    return rc == 0;
}

/* What a shell command printed, on both outputs (support_runf). */
static char run_out[8192];
#define run(...) (support_runf(run_out, sizeof(run_out), __VA_ARGS__), run_out)

Test(unix_socket, clients_reach_redis_through_the_socket_with_its_permissions)
{
    cr_assert(support_redis_start(&redis, NULL) == 0);
    const char *args[] = {"--unixsocket", sock, "--unixsocketperm", "700", NULL};
    cr_assert(support_ferry_start(&ferry, redis.port, args) == 0);
    struct stat st;
    cr_assert_eq(lstat(sock, &st), 0, "%s: %s", sock, strerror(errno));
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);

    redisContext *c = connect_unix(sock);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET %s %b", "k", "v\0w", (size_t)3);
    redisReply *r = redisCommand(c, "GET k");
    cr_assert(r && r->type == REDIS_REPLY_STRING && r->len == 3 && memcmp(r->str, "v\0w", 3) == 0);
    freeReplyObject(r);
    /* A pipeline, answered in order. */
    for (int i = 0; i < 1000; i++)
        redisAppendCommand(c, "INCR counter");
    for (long long i = 1; i <= 1000; i++) {
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == i);
        freeReplyObject(r);
    }
    /* The same keys over TCP: one Redis behind both. */
    redisContext *t = support_connect(ferry.port);
    support_expect_str(t, REDIS_REPLY_STRING, "1000", "GET counter");
    redisFree(t);

    /* Real clients: redis-cli and redis-benchmark with -s. */
    cr_assert_str_eq(run("redis-cli -s %s PING", sock), "PONG\n");
    const char *out = run("redis-benchmark -s %s -t set,get -n 20000 -c 20 -r 1000 --csv", sock);
    /* It prints a test's line once every request of it was answered. */
    cr_assert(strstr(out, "\"SET\",") && strstr(out, "\"GET\","), "%s", out);
    redisFree(c);
}

Test(unix_socket, an_upstream_reached_through_a_unix_socket)
{
    char rsock[100];
    snprintf(rsock, sizeof(rsock), "%s/redis.sock", dir);
    const char *rargs[] = {"--unixsocket", rsock, NULL};
    cr_assert(support_redis_start(&redis, rargs) == 0);
    const char *args[] = {"--upstream", rsock, NULL};
    cr_assert(support_ferry_start(&ferry, 0, args) == 0);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");
    /* Redis sees ferry's connections on its unix socket: flag U. */
    const char *list = run("redis-cli -s %s CLIENT LIST", rsock);
    cr_assert(strstr(list, "flags=U") != NULL, "%s", list);
    /* Redis gone: the error names the socket and the reason. */
    support_proc_stop(&redis);
    char want[400];
    snprintf(want, sizeof(want), "ERR ferry: upstream %s unavailable (", rsock);
    redisReply *r = redisCommand(c, "GET k");
    if (r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "connection closed") != NULL) {
        freeReplyObject(r); /* the close itself, seen first */
        r = redisCommand(c, "GET k");
    }
    cr_assert(r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, want, strlen(want)) == 0,
              "%s", r ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
}

/* In raft-only ferry answers CLIENT and CONFIG itself, as Redis would. */
Test(unix_socket, raft_only_shows_unix_clients_as_redis_does)
{
    const char *args[] = {"--phase", "raft-only", "--unixsocket", sock, "--unixsocketperm", "770",
                          NULL};
    cr_assert(support_ferry_start(&ferry, 0, args) == 0);
    redisContext *c = connect_unix(sock);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "SET k v");
    redisContext *o = connect_unix(sock);
    redisReply *r = redisCommand(o, "CLIENT LIST");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    char addr[400];
    snprintf(addr, sizeof(addr), " addr=%s:0 laddr=%s:0 ", sock, sock);
    cr_assert(strstr(r->str, addr) != NULL, "%s", r->str);
    cr_assert(strstr(r->str, " flags=xU ") != NULL, "the client in MULTI: %s", r->str);
    cr_assert(strstr(r->str, " flags=U ") != NULL, "this one: %s", r->str);
    freeReplyObject(r);
    redisContext *t = support_connect(ferry.port);
    r = redisCommand(t, "CLIENT INFO");
    cr_assert(r && r->type == REDIS_REPLY_STRING && strstr(r->str, " flags=N "), "%s", r->str);
    freeReplyObject(r);
    redisFree(t);
    r = redisCommand(o, "CONFIG GET unixsocket*");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert_str_eq(r->element[0]->str, "unixsocket");
    cr_assert_str_eq(r->element[1]->str, sock);
    cr_assert_str_eq(r->element[2]->str, "unixsocketperm");
    cr_assert_str_eq(r->element[3]->str, "770");
    freeReplyObject(r);
    support_expect_str(o, REDIS_REPLY_ERROR,
                       "ERR CONFIG SET failed (possibly related to argument 'unixsocketperm') - "
                       "can't set immutable config",
                       "CONFIG SET unixsocketperm 777");
    redisFree(o);
    r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    freeReplyObject(r);
    redisFree(c);
}

/* Starts ferry with only a unix socket (port 0), its store in dir/data: it
 * is up once the socket accepts. */
static pid_t start_unix_only(const char *path, const char *log)
{
    char datadir[300];
    snprintf(datadir, sizeof(datadir), "%s/data", dir);
    char *argv[] = {(char *)support_ferry_bin(), "--phase", "raft-only", "--port", "0",
                    "--unixsocket", (char *)path, "--dir", datadir, "--loglevel", "verbose",
                    NULL};
    pid_t pid = support_spawn(argv, log);
    for (int i = 0; i < 1000 && !accepts(path); i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(10000);
    }
    return pid;
}

Test(unix_socket, port_0_listens_on_the_socket_alone_and_sigterm_removes_it)
{
    char log[300];
    snprintf(log, sizeof(log), "%s/ferry.log", dir);
    pid_t pid = start_unix_only(sock, log);
    cr_assert(pid > 0 && accepts(sock), "%s", run("cat %s", log));
    cr_assert(strstr(run("cat %s", log), "ready: listening on unix socket ") != NULL);
    redisContext *c = connect_unix(sock);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    redisReply *r = redisCommand(c, "CONFIG GET port");
    cr_assert(r && r->elements == 2 && strcmp(r->element[1]->str, "0") == 0);
    freeReplyObject(r);
    redisFree(c);
    int status = support_stop_pid(pid, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    struct stat st;
    cr_assert_eq(lstat(sock, &st), -1, "the socket file is still there");
}

/* A socket left by a killed ferry is replaced; one another process accepts
 * on is not taken, and a file that is no socket is not removed. */
Test(unix_socket, a_stale_socket_is_replaced_a_live_one_and_a_plain_file_are_not)
{
    char log[300];
    snprintf(log, sizeof(log), "%s/ferry.log", dir);
    pid_t first = start_unix_only(sock, log);
    cr_assert(first > 0, "%s", run("cat %s", log));
    redisContext *c = connect_unix(sock);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v"); /* acknowledged: durable */
    redisFree(c);
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    struct stat st;
    cr_assert_eq(lstat(sock, &st), 0, "kill -9 leaves the socket file behind");
    cr_assert(!accepts(sock));

    pid_t second = start_unix_only(sock, log);
    cr_assert(second > 0 && accepts(sock), "%s", run("cat %s", log));
    c = connect_unix(sock);
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");

    /* A third one on the same path fails and leaves the second serving. */
    const char *out = run("%s --phase raft-only --port 0 --unixsocket %s --dir %s/data3",
                          support_ferry_bin(), sock, dir);
    char want[400];
    snprintf(want, sizeof(want),
             "cannot listen on unix socket %s: Address already in use (another process accepts "
             "on it)",
             sock);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
    cr_assert(accepts(sock), "the failed start must not remove the live socket");
    int status = support_stop_pid(second, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);

    char plain[100];
    snprintf(plain, sizeof(plain), "%s/plain", dir);
    FILE *f = fopen(plain, "w");
    cr_assert(f != NULL);
    fputs("keep me\n", f);
    fclose(f);
    out = run("%s --phase raft-only --port 0 --unixsocket %s --dir %s/data4; echo status $?",
              support_ferry_bin(), plain, dir);
    snprintf(want, sizeof(want),
             "cannot listen on unix socket %s: the path exists and is not a socket", plain);
    cr_assert(strstr(out, want) != NULL && strstr(out, "status 1\n") != NULL, "%s", out);
    cr_assert_str_eq(run("cat %s", plain), "keep me\n");
}
