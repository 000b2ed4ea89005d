/* A throw-away redis-server for the resp unit tests that compare with the
 * real thing: own free port, own temporary directory, killed with the test
 * process even when a failed assertion ends the test early. Header-only
 * (static inline) so each test binary takes what it uses. */
#ifndef FERRY_RESP_TEST_REDIS_H
#define FERRY_RESP_TEST_REDIS_H

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "resp/resp.h"

struct test_redis {
    pid_t pid;
    struct sockaddr_in addr;
    char dir[64];
};

/* extra: NULL-terminated extra redis-server arguments, or NULL. */
static inline void test_redis_start(struct test_redis *r, const char *const *extra)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    r->addr = a;
    char port[16];
    snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
    snprintf(r->dir, sizeof(r->dir), "/tmp/ferry-test-XXXXXX");
    cr_assert_not_null(mkdtemp(r->dir));
    r->pid = fork();
    cr_assert_geq(r->pid, 0);
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        const char *argv[32] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                                "", "--appendonly", "no", "--dir", r->dir};
        int argc = 11;
        for (int i = 0; extra && extra[i] && argc < 31; i++)
            argv[argc++] = extra[i];
        argv[argc] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            close(fd);
            return;
        }
        close(fd);
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL); /* waiting for another process to listen */
    }
    cr_assert_fail("redis-server did not start on port %s", port);
}

static inline void test_redis_stop(struct test_redis *r)
{
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    rmdir(r->dir);
}

static inline int test_redis_connect(struct test_redis *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&r->addr, sizeof(r->addr)), 0);
    return fd;
}

/* Reads until `replies` whole replies have arrived (found with the reply
 * scanner) and returns them raw in out. */
static inline void test_redis_read_replies(int fd, int replies, struct resp_buf *out)
{
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t scanned = 0;
    resp_buf_reset(out);
    while (replies > 0) {
        if (scanned == out->len) {
            resp_buf_reserve(out, 65536);
            ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
            cr_assert_gt(n, 0, "connection closed with %d replies missing", replies);
            out->len += (size_t)n;
        }
        size_t used;
        int rc = resp_scanner_scan(&s, out->data + scanned, out->len - scanned, &used);
        cr_assert_neq(rc, RESP_ERR, "not RESP at %zu", scanned + used);
        scanned += used;
        if (rc == RESP_OK)
            replies--;
    }
    cr_assert_eq(scanned, out->len, "bytes after the last reply");
}

static inline void test_redis_send(int fd, int argc, const char *const *argv,
                                   const size_t *argvlen)
{
    struct resp_buf req;
    resp_buf_init(&req);
    resp_add_command(&req, argc, argv, argvlen);
    cr_assert_eq(write(fd, req.data, req.len), (ssize_t)req.len);
    resp_buf_fini(&req);
}

#endif
