/* Test support: see support.h. */
#include "tests/support/support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int support_free_port(void)
{
    /* Bind to port 0, read the port, close. Another test could take it
     * before our server binds; starting retries on a fresh port then. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    return rc;
}

int support_wait_port(int port, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (try_connect(port) != 0) {
        if (now_ms() > deadline)
            return -1;
        usleep(5000);
    }
    return 0;
}

static unsigned long next_nofile;

void support_next_nofile(unsigned long n)
{
    next_nofile = n;
}

pid_t support_spawn(char *const argv[], const char *logfile)
{
    pid_t parent = getpid();
    unsigned long nofile = next_nofile;
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (nofile) {
            struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                _exit(127);
        }
        int fd = open(logfile ? logfile : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int support_stop_pid(pid_t pid, int grace_ms)
{
    int status = 0;
    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    long long deadline = now_ms() + grace_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return status;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        usleep(2000);
    }
}

static void make_dir(struct support_proc *p, const char *what)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/ferry-test-%s-XXXXXX", what);
    cr_assert(mkdtemp(p->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(p->log, sizeof(p->log), "%s/out.log", p->dir);
}

static int start(struct support_proc *p, char **argv, int port_index)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        p->port = support_free_port();
        char port[16];
        snprintf(port, sizeof(port), "%d", p->port);
        argv[port_index] = port;
        p->pid = support_spawn(argv, p->log);
        if (support_wait_port(p->port, 10000) == 0) {
            next_nofile = 0;
            return 0;
        }
        support_stop_pid(p->pid, 100);
        p->pid = 0;
    }
    next_nofile = 0;
    support_proc_dump_log(p);
    return -1;
}

int support_redis_start(struct support_proc *p, const char *const *extra)
{
    memset(p, 0, sizeof(*p));
    make_dir(p, "redis");
    char *argv[64] = {"redis-server", "--port", NULL, "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--dir", p->dir, "--daemonize", "no"};
    int n = 13;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return start(p, argv, 2);
}

const char *support_ferry_bin(void)
{
    const char *bin = getenv("FERRY_BIN");
    return bin ? bin : "./build/ferry";
}

static int ferry_spawn(struct support_proc *p, int upstream_port, const char *const *extra)
{
    const char *bin = support_ferry_bin();
    char upstream[64];
    char datadir[300];
    snprintf(datadir, sizeof(datadir), "%s/data", p->dir);
    char *argv[64] = {(char *)bin, "--port", NULL, "--dir", datadir,
                      "--loglevel", "verbose"};
    int n = 7;
    if (upstream_port > 0) {
        snprintf(upstream, sizeof(upstream), "127.0.0.1:%d", upstream_port);
        argv[n++] = "--upstream";
        argv[n++] = upstream;
    }
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = (char *)extra[i];
    /* $FERRY_TEST_ARGS: more arguments for every ferry, space-separated (a
     * suite runs again with, say, --busy-poll 100). */
    char more[256];
    snprintf(more, sizeof(more), "%s", getenv("FERRY_TEST_ARGS") ? getenv("FERRY_TEST_ARGS") : "");
    for (char *tok = strtok(more, " "); tok && n < 62; tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    return start(p, argv, 2);
}

int support_ferry_start(struct support_proc *p, int upstream_port, const char *const *extra)
{
    memset(p, 0, sizeof(*p));
    make_dir(p, "ferry");
    return ferry_spawn(p, upstream_port, extra);
}

int support_ferry_restart(struct support_proc *p, int upstream_port, const char *const *extra)
{
    int status = support_stop_pid(p->pid, 10000);
    p->pid = 0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        support_proc_dump_log(p);
        return -1;
    }
    return ferry_spawn(p, upstream_port, extra);
}

void support_proc_stop(struct support_proc *p)
{
    if (p->pid > 0) {
        /* A clean exit is part of the contract: under `make asan` a leak or
         * a sanitizer report makes the process exit non-zero. */
        int status = support_stop_pid(p->pid, 10000);
        p->pid = 0;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            support_proc_dump_log(p);
            cr_expect(0, "process in %s did not exit cleanly (status 0x%x)", p->dir, status);
        }
    }
    if (p->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", p->dir);
        p->dir[0] = '\0';
    }
}

void support_proc_dump_log(const struct support_proc *p)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", p->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log at %s)\n", p->log);
}

redisContext *support_connect(int port)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    cr_assert(c != NULL && !c->err, "connect to %d: %s", port, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

static redisReply *vcommand(redisContext *c, const char *fmt, va_list ap)
{
    redisReply *r = redisvCommand(c, fmt, ap);
    cr_assert(r != NULL, "command '%s' failed: %s", fmt, c->errstr);
    return r;
}

void support_expect_str(redisContext *c, int type, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    cr_assert_eq(r->type, type, "'%s': reply type %d, want %d (%s)", fmt, r->type, type,
                 r->str ? r->str : "");
    if (want)
        cr_assert_str_eq(r->str, want, "'%s'", fmt);
    freeReplyObject(r);
}

void support_expect_int(redisContext *c, long long want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcommand(c, fmt, ap);
    va_end(ap);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "'%s': type %d (%s)", fmt, r->type,
                 r->str ? r->str : "");
    cr_assert_eq(r->integer, want, "'%s': %lld, want %lld", fmt, r->integer, want);
    freeReplyObject(r);
}

int support_raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
              strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

void support_raw_send(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        cr_assert(w > 0, "send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

size_t support_raw_recv(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

size_t support_recv_until(int fd, const char *marker, char *out, size_t cap)
{
    size_t n = 0, m = strlen(marker);
    while (n < m || memcmp(out + n - m, marker, m) != 0) {
        cr_assert_lt(n, cap - 1, "no marker in %zu bytes", n);
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        cr_assert_gt(r, 0, "closed or timed out after: %.*s", (int)n, out);
        n += (size_t)r;
    }
    out[n] = 0;
    return n;
}

size_t support_script_replies(int fd, const char *script, char *out, size_t cap)
{
    static const char tail[] = "CLIENT REPLY ON\r\nECHO __script__\r\n";
    support_raw_send(fd, script, strlen(script));
    support_raw_send(fd, tail, sizeof(tail) - 1);
    support_recv_until(fd, "$10\r\n__script__\r\n", out, cap);
    for (char *id; (id = strstr(out, "$2\r\nid\r\n:")) != NULL;) {
        char *end = strstr(id + 9, "\r\n");
        memmove(id, end + 2, strlen(end + 2) + 1);
    }
    return strlen(out);
}

int support_run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL, "popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int support_runf(char *out, size_t cap, const char *fmt, ...)
{
    char inner[4096], cmd[4200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(inner, sizeof(inner), fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(inner), "command too long: %s", fmt);
    snprintf(cmd, sizeof(cmd), "{ %s; } 2>&1", inner);
    return support_run(cmd, out, cap);
}

long support_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':' &&
            sscanf(line + n + 1, "%ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

long support_rss_kb(pid_t pid)
{
    return support_status_kb(pid, "VmRSS");
}

char *support_tmpdir(const char *prefix)
{
    char *d = NULL;
    cr_assert(asprintf(&d, "/tmp/%s.XXXXXX", prefix) > 0);
    cr_assert(mkdtemp(d) != NULL, "mkdtemp %s: %s", d, strerror(errno));
    return d;
}

void support_rmdir(char *dir)
{
    char *cmd = NULL;
    cr_assert(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    cr_assert(system(cmd) == 0);
    free(cmd);
    free(dir);
}

int support_split(char *line, char **argv, size_t *len, int max)
{
    int argc = 0;
    char *save;
    for (char *t = strtok_r(line, " ", &save); t && argc < max; t = strtok_r(NULL, " ", &save)) {
        if (strcmp(t, "''") == 0)
            *t = '\0';
        argv[argc] = t;
        len[argc++] = strlen(t);
    }
    return argc;
}

int support_enter_netns(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        /* Only without the privilege: a user namespace would give it, but
         * the kernel refuses one to a process with threads, as a test
         * process has. */
        cr_assert(errno == EPERM, "unshare: %s", strerror(errno));
        return -1;
    }
    support_loopback(1);
    return 0;
}

void support_loopback(int up)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    cr_assert(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS: %s", strerror(errno));
    if (up)
        ifr.ifr_flags |= IFF_UP;
    else
        ifr.ifr_flags &= ~IFF_UP;
    cr_assert(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS: %s", strerror(errno));
    close(fd);
}
