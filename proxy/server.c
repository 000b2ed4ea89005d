/* The server: the event loop, listeners, signals and the once-a-second cron. */
#include "proxy/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t proxy_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t proxy_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct event_base *proxy_server_base(struct proxy_server *s)
{
    return s->base;
}

const struct proxy_config *proxy_server_config(struct proxy_server *s)
{
    return &s->cfg;
}

/* Descriptors ferry keeps beyond one per client: listeners, the admin
 * endpoint, the store, the log, the event loop's own, the spare below, and
 * the shared upstream connections (Redis keeps 32, CONFIG_MIN_RESERVED_FDS). */
static int server_reserved_fds(const struct proxy_config *cfg)
{
    return 32 + cfg->upstream_shared_connections;
}

int proxy_server_fit_fds(struct proxy_server *s, int maxclients, unsigned long long *limit)
{
    rlim_t reserved = (rlim_t)server_reserved_fds(&s->cfg);
    rlim_t want = (rlim_t)maxclients * 2 + reserved;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return maxclients;
    if (rl.rlim_cur < want) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < want && rl.rlim_cur > reserved)
            proxy_log_verbose("open files limit %llu (was %llu): about %llu clients fit with "
                              "upstream connections of their own, which take two each",
                              (unsigned long long)rl.rlim_cur, (unsigned long long)old,
                              (unsigned long long)(rl.rlim_cur - reserved) / 2);
    }
    if (limit)
        *limit = (unsigned long long)rl.rlim_cur;
    if (rl.rlim_cur <= reserved)
        return 0;
    return rl.rlim_cur - reserved < (rlim_t)maxclients ? (int)(rl.rlim_cur - reserved)
                                                        : maxclients;
}

/* At start, as Redis's adjustOpenFilesLimit, in its words: maxclients is
 * lowered to what the limit fits at one descriptor per client, so clients
 * beyond it get `-ERR max number of clients reached` from the count rather
 * than from a failing accept; too low a limit for any client stops ferry. */
static int server_fit_maxclients(struct proxy_server *s, char *err, size_t errlen)
{
    unsigned long long limit = 0;
    int fit = proxy_server_fit_fds(s, s->cfg.maxclients, &limit);
    if (fit < 1) {
        snprintf(err, errlen,
                 "Your current 'ulimit -n' of %llu is not enough for ferry to start. Please "
                 "increase your open file limit to at least %d.",
                 limit, server_reserved_fds(&s->cfg) + 1);
        return -1;
    }
    if (fit < s->cfg.maxclients) {
        proxy_log_warning("You requested maxclients of %d requiring at least %d max file "
                          "descriptors.",
                          s->cfg.maxclients, s->cfg.maxclients + server_reserved_fds(&s->cfg));
        proxy_log_warning("Current maximum open files is %llu. maxclients has been reduced to %d "
                          "to compensate for low ulimit. If you need higher maxclients increase "
                          "'ulimit -n'.",
                          limit, fit);
        s->cfg.maxclients = fit;
    }
    return 0;
}

/* A descriptor held in reserve for when accept fails for want of them
 * (EMFILE, ENFILE): let go, it is enough to accept each waiting client,
 * answer it and close it again. One per process, as descriptors are. */
static int spare_fd = -1;

static void server_take_spare(void)
{
    if (spare_fd < 0)
        spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int proxy_refuse_waiting(evutil_socket_t lfd, const char *reply)
{
    if (spare_fd < 0)
        return -1;
    close(spare_fd);
    spare_fd = -1;
    int n = 0;
    int fd;
    /* Bounded: connections arriving as fast as they are refused end at
     * the next turn rather than holding this one. */
    while (n < 1024 && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (reply) {
            ssize_t ignored = write(fd, reply, strlen(reply));
            (void)ignored;
        }
        close(fd);
        n++;
    }
    server_take_spare();
    return n;
}

void proxy_tcp_keepalive(int fd, int interval)
{
    if (interval <= 0)
        return;
    /* As Redis's anetKeepAlive: probes after `interval` idle seconds, then
     * every interval/3, three of them. */
    int one = 1, idle = interval, intvl = idle / 3 ? idle / 3 : 1, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void proxy_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
    } else {
        /* Redis's form: the socket's path, port 0. An accepted peer's own
         * address is unnamed, so the listener's path stands for it. */
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        snprintf(buf, len, "%.*s:0", (int)sizeof(un->sun_path), un->sun_path);
    }
}

static void server_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    (void)l;
    (void)salen;
    struct proxy_server *s = arg;
    char addr[PROXY_UNIXSOCKET_MAX + 8];
    if (sa->sa_family == AF_UNIX)
        snprintf(addr, sizeof(addr), "%s:0", s->cfg.unixsocket);
    else
        proxy_format_addr(sa, addr, sizeof(addr));
    proxy_client_accept(s, fd, addr);
}

/* A client on tls-port: the same, its session's handshake first. */
static void server_accept_tls_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                                 int salen, void *arg)
{
    (void)l;
    (void)salen;
    char addr[PROXY_UNIXSOCKET_MAX + 8];
    proxy_format_addr(sa, addr, sizeof(addr));
    proxy_client_accept_tls(arg, fd, addr);
}

static void server_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_server *s = arg;
    /* Those still listening: shutdown may have closed them meanwhile. */
    for (int i = 0; i < s->nlisteners; i++)
        evconnlistener_enable(s->listeners[i]);
}

/* accept failed for another reason than the retriable ones libevent
 * skips. The listening socket stays readable, so doing nothing would spin
 * the loop on it while the waiting clients get no answer. Out of
 * descriptors (EMFILE, ENFILE: clients with connections of their own to
 * the upstream take two), the waiting clients are refused as Redis refuses
 * clients beyond maxclients; anything else pauses the listener for
 * ACCEPT_PAUSE_MS. Logged at most every ACCEPT_LOG_MS, with the count. */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_MS 10000

static void server_accept_failed(struct proxy_server *s, struct evconnlistener *l,
                                 const char *reply)
{
    int err = errno;
    int refused = -1;
    if (err == EMFILE || err == ENFILE)
        refused = proxy_refuse_waiting(evconnlistener_get_fd(l), reply);
    if (refused == 0)
        return; /* accept takes a descriptor before it looks for a client */
    if (refused > 0) {
        s->stats.connections_rejected += (uint64_t)refused;
        s->accept_refused += (uint64_t)refused;
    } else {
        evconnlistener_disable(l);
        if (s->accept_resume == NULL)
            s->accept_resume = evtimer_new(s->base, server_accept_resume_cb, s);
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        evtimer_add(s->accept_resume, &tv);
    }
    uint64_t now = proxy_now_ms();
    if (now - s->accept_logged_ms < ACCEPT_LOG_MS)
        return;
    s->accept_logged_ms = now;
    if (refused > 0)
        proxy_log_warning("accept failed: %s; refusing new clients with -ERR max number of "
                          "clients reached (%llu since the last report; %d clients, maxclients "
                          "%d)",
                          strerror(err), (unsigned long long)s->accept_refused, s->nclients,
                          s->cfg.maxclients);
    else
        proxy_log_warning("accept failed: %s; not accepting for %d ms", strerror(err),
                          ACCEPT_PAUSE_MS);
    s->accept_refused = 0;
}

static void server_accept_error_cb(struct evconnlistener *l, void *arg)
{
    server_accept_failed(arg, l, "-ERR max number of clients reached\r\n");
}

/* On tls-port a plain error reply would be read as a broken TLS record:
 * refused clients are only closed. */
static void server_accept_tls_error_cb(struct evconnlistener *l, void *arg)
{
    server_accept_failed(arg, l, NULL);
}

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == PROXY_UNIXSOCKET_MAX + 1,
               "unixsocket's longest path fits sun_path");

/* Whether a process accepts on the unix socket at path: a connect that is
 * refused means the file is left over from one that is gone. */
static int server_unix_in_use(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    int in_use = rc == 0 || errno == EAGAIN; /* EAGAIN: it accepts, its backlog is full */
    close(fd);
    return in_use;
}

/* The unix socket listener. Where Redis unlinks whatever is at the path,
 * ferry removes only a socket nobody accepts on: a regular file there is a
 * mistake in the config, and a live socket is another process's (a second
 * ferry started by mistake must not take the first one's clients). The file
 * is made with unixsocketperm's bits from the start (umask), not chmod'ed
 * after, so it is never open wider than asked. */
static int server_listen_unix(struct proxy_server *s, char *err, size_t errlen)
{
    const char *path = s->cfg.unixsocket;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1); /* fits: the config checked its length */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "cannot listen on unix socket %s: the path exists and is not "
                                  "a socket", path);
            return -1;
        }
        if (server_unix_in_use(&sun)) {
            snprintf(err, errlen, "cannot listen on unix socket %s: %s (another process accepts "
                                  "on it)", path, strerror(EADDRINUSE));
            return -1;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot listen on unix socket %s: cannot remove the stale "
                                  "socket: %s", path, strerror(errno));
            return -1;
        }
        proxy_log_verbose("unix socket %s: removed a stale socket nobody accepted on", path);
    }
    mode_t old = 0;
    if (s->cfg.unixsocketperm)
        old = umask((mode_t)(~s->cfg.unixsocketperm & 0777));
    struct evconnlistener *l = evconnlistener_new_bind(
        s->base, server_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 511,
        (struct sockaddr *)&sun, (int)sizeof(sun));
    int saved = errno;
    if (s->cfg.unixsocketperm)
        umask(old);
    if (l == NULL) {
        snprintf(err, errlen, "cannot listen on unix socket %s: %s", path, strerror(saved));
        return -1;
    }
    evconnlistener_set_error_cb(l, server_accept_error_cb);
    s->listeners[s->nlisteners++] = l;
    if (lstat(path, &st) == 0) {
        s->unix_made = 1;
        s->unix_dev = st.st_dev;
        s->unix_ino = st.st_ino;
    }
    return 0;
}

/* Listens on every bind address at port, accepting with cb; errcb handles
 * a failed accept. */
static int server_listen_port(struct proxy_server *s, int portno, evconnlistener_cb cb,
                              evconnlistener_errorcb errcb, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof(port), "%d", portno);
    for (int i = 0; i < s->cfg.nbind; i++) {
        const char *host = s->cfg.bind[i];
        if (strcmp(host, "*") == 0)
            host = "0.0.0.0";
        else if (strcmp(host, "::*") == 0)
            host = "::";
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        int gai = getaddrinfo(host, port, &hints, &ai);
        if (gai != 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", s->cfg.bind[i], portno,
                     gai_strerror(gai));
            return -1;
        }
        struct evconnlistener *l = evconnlistener_new_bind(
            s->base, cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 511,
            ai->ai_addr, (int)ai->ai_addrlen);
        int saved = errno;
        freeaddrinfo(ai);
        if (l == NULL) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", s->cfg.bind[i], portno,
                     strerror(saved));
            return -1;
        }
        evconnlistener_set_error_cb(l, errcb);
        s->listeners[s->nlisteners++] = l;
    }
    return 0;
}

/* The plain port last: what waits for it to accept (a probe, a test)
 * finds the unix socket and the TLS port ready too. */
static int server_listen(struct proxy_server *s, char *err, size_t errlen)
{
    if (s->cfg.unixsocket && server_listen_unix(s, err, errlen) < 0)
        return -1;
    if (s->cfg.tls_port > 0 &&
        server_listen_port(s, s->cfg.tls_port, server_accept_tls_cb, server_accept_tls_error_cb,
                           err, errlen) < 0)
        return -1;
    if (s->cfg.port > 0 && server_listen_port(s, s->cfg.port, server_accept_cb,
                                              server_accept_error_cb, err, errlen) < 0)
        return -1;
    return 0;
}

/* Closes the listeners and removes the unix socket file, as Redis does at
 * shutdown; here as soon as ferry stops accepting, so that a new ferry can
 * listen at the path while this one finishes its replies. */
static void server_stop_listening(struct proxy_server *s)
{
    for (int i = 0; i < s->nlisteners; i++)
        evconnlistener_free(s->listeners[i]);
    s->nlisteners = 0;
    struct stat st;
    if (s->unix_made && lstat(s->cfg.unixsocket, &st) == 0 && st.st_dev == s->unix_dev &&
        st.st_ino == s->unix_ino && unlink(s->cfg.unixsocket) != 0)
        proxy_log_warning("unix socket %s: cannot remove it: %s", s->cfg.unixsocket,
                          strerror(errno));
    s->unix_made = 0;
}

static void server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_client_flush_all(arg);
}

/* TLS certificates renewed on disk (cert-manager renewing a Secret, which
 * the kubelet swaps into the pod's volume) are loaded once they change, as
 * SIGHUP would: a renewal needs no restart nor a signal. Files that do not
 * load (half a rotation) leave the old ones in use until the next change. */
static void server_tls_watch(struct proxy_server *s)
{
    uint64_t stamp = proxy_tls_files_stamp(s);
    if (stamp == s->tls_stamp)
        return;
    s->tls_stamp = stamp;
    char err[512];
    if (proxy_tls_reload(s, err, sizeof(err)) < 0)
        proxy_log_warning("TLS files changed but do not load; the old ones stay: %s", err);
    else
        proxy_log_notice("TLS files changed: certificates reloaded for new connections");
}

static void server_cron_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_server *s = arg;
    if (s->tls_ctx || s->tls_server_ctx)
        server_tls_watch(s);
    uint64_t now = proxy_now_ms();
    if (now > s->ops.last_ms) {
        s->ops.per_sec = (s->stats.commands - s->ops.last_commands) * 1000 / (now - s->ops.last_ms);
        s->ops.last_commands = s->stats.commands;
        s->ops.last_ms = now;
    }
    if (s->cfg.timeout <= 0)
        return;
    struct proxy_client *c = s->clients, *next;
    for (; c; c = next) {
        next = c->next;
        if (proxy_client_idle_timed_out(c, now)) {
            proxy_log_verbose("client %s: closing after %d s idle", c->addr, s->cfg.timeout);
            proxy_client_close(c);
        }
    }
}

void proxy_server_client_gone(struct proxy_server *s)
{
    if (s->shutting_down && s->nclients == 0)
        event_base_loopbreak(s->base);
}

static void server_shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_server *s = arg;
    proxy_log_warning("shutdown: %d clients still had replies in flight after %d s; closing them",
                      s->nclients, s->cfg.shutdown_timeout);
    event_base_loopbreak(s->base);
}

/* SIGTERM/SIGINT: stop accepting, let every client receive the replies to
 * what it already sent (bounded by shutdown-timeout), then leave the loop. */
static void server_begin_shutdown(struct proxy_server *s, const char *why)
{
    if (s->shutting_down) {
        proxy_log_warning("%s again: exiting now", why);
        event_base_loopbreak(s->base);
        return;
    }
    s->shutting_down = 1;
    proxy_log_notice("%s: shutting down, finishing replies to %d clients", why, s->nclients);
    server_stop_listening(s);
    for (struct proxy_client *c = s->clients; c; c = c->next)
        proxy_client_shutdown(c);
    if (s->cfg.phase != PROXY_PHASE_REDIS)
        proxy_node_stopping();
    if (s->nclients == 0) {
        event_base_loopbreak(s->base);
        return;
    }
    struct timeval tv = {s->cfg.shutdown_timeout, 0};
    s->shutdown_timer = evtimer_new(s->base, server_shutdown_timeout_cb, s);
    evtimer_add(s->shutdown_timer, &tv);
}

void proxy_server_stop(struct proxy_server *s, const char *why)
{
    server_begin_shutdown(s, why);
}

void proxy_server_fail(struct proxy_server *s, const char *why)
{
    s->exit_status = 1;
    if (!s->shutting_down)
        server_begin_shutdown(s, why);
}

static void server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct proxy_server *s = arg;
    if (sig == SIGHUP) {
        proxy_server_reload(s);
        return;
    }
    server_begin_shutdown(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* 40 random hex digits, as Redis's run_id. */
static void server_make_run_id(char id[41])
{
    unsigned char r[20];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t x = proxy_now_ms() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof(r); i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
}

struct proxy_server *proxy_server_new(const struct proxy_config *cfg, char *err, size_t errlen)
{
    struct proxy_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->cfg = *cfg; /* takes over the strings */
    s->start_ms = s->ops.last_ms = proxy_now_ms();
    server_make_run_id(s->run_id);
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    s->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (s->base == NULL) {
        snprintf(err, errlen, "cannot create the event loop");
        free(s);
        return NULL;
    }
    if (server_fit_maxclients(s, err, errlen) < 0) {
        proxy_server_free(s);
        return NULL;
    }
    server_take_spare();
    signal(SIGPIPE, SIG_IGN);
    s->flush_ev = event_new(s->base, -1, 0, server_flush_cb, s);
    s->cron = event_new(s->base, -1, EV_PERSIST, server_cron_cb, s);
    struct timeval sec = {1, 0};
    event_add(s->cron, &sec);
    s->sigterm = evsignal_new(s->base, SIGTERM, server_signal_cb, s);
    s->sigint = evsignal_new(s->base, SIGINT, server_signal_cb, s);
    s->sighup = evsignal_new(s->base, SIGHUP, server_signal_cb, s);
    event_add(s->sigterm, NULL);
    event_add(s->sigint, NULL);
    event_add(s->sighup, NULL);
    s->tls_stamp = proxy_tls_files_stamp(s);
    if ((s->cfg.upstream_host && proxy_tls_init(s, err, errlen) < 0) ||
        proxy_tls_server_init(s, err, errlen) < 0) {
        proxy_server_free(s);
        return NULL;
    }
    if (s->cfg.upstream_host && s->cfg.upstream_shared_connections > 0) {
        s->nshared = s->cfg.upstream_shared_connections;
        s->shared = calloc((size_t)s->nshared, sizeof(*s->shared));
        for (int i = 0; i < s->nshared; i++)
            s->shared[i] = proxy_upstream_new(s, NULL);
    }
    if (s->cfg.phase != PROXY_PHASE_REDIS && proxy_node_open(s, err, errlen) < 0) {
        proxy_server_free(s);
        return NULL;
    }
    /* The admin endpoint first: once the client port accepts, so does it
     * (a probe or a test may ask it as soon as clients can connect). */
    if (proxy_admin_start(s, err, errlen) < 0 || server_listen(s, err, errlen) < 0) {
        proxy_server_free(s);
        return NULL;
    }
    return s;
}

/* The first two words of dir/file into w1 and w2; how many were read. */
static int server_read_words(const char *dir, const char *file, char w1[32], char w2[32])
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = fscanf(f, "%31s %31s", w1, w2);
    fclose(f);
    return n < 0 ? 0 : n;
}

/* The CPU quota of ferry's cgroup, as a container's CPU limit sets it, in
 * CPUs; 0 when there is none. cgroup v2 (cpu.max: "quota period", quota
 * "max" when unlimited) and v1 (cpu.cfs_quota_us, -1 when unlimited, and
 * cpu.cfs_period_us). The cgroup's own directory is tried first, then the
 * mount's root, which is the container's own cgroup where the host's path
 * is not visible. */
static double server_cgroup_quota(void)
{
    char line[512], v2[512] = "", v1[512] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f)) { /* id:controllers:path */
        line[strcspn(line, "\n")] = '\0';
        char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        ctl++;
        if (*ctl == '\0')
            snprintf(v2, sizeof(v2), "/sys/fs/cgroup%s", path);
        else
            for (char *save, *c = strtok_r(ctl, ",", &save); c; c = strtok_r(NULL, ",", &save))
                if (strcmp(c, "cpu") == 0)
                    snprintf(v1, sizeof(v1), "/sys/fs/cgroup/cpu%s", path);
    }
    fclose(f);
    char quota[32], period[32], unused[32];
    const char *const v2dirs[] = {v2, "/sys/fs/cgroup"};
    const char *const v1dirs[] = {v1, "/sys/fs/cgroup/cpu"};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++)
        found = (*v2dirs[i] && server_read_words(v2dirs[i], "cpu.max", quota, period) == 2) ||
                (*v1dirs[i] && server_read_words(v1dirs[i], "cpu.cfs_quota_us", quota, unused) &&
                 server_read_words(v1dirs[i], "cpu.cfs_period_us", period, unused));
    if (!found)
        return 0;
    long long q = strtoll(quota, NULL, 10), p = strtoll(period, NULL, 10); /* "max": 0 */
    return q > 0 && p > 0 ? (double)q / (double)p : 0;
}

/* CPUs ferry may use: its affinity mask, or its cgroup quota if smaller. */
/* CPUs in ferry's affinity mask (1 if it cannot be read). */
static int server_affinity_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

static double server_cpu_allowance(void)
{
    double cpus = server_affinity_cpus();
    double quota = server_cgroup_quota();
    return quota > 0 && quota < cpus ? quota : cpus;
}

/* How the kernel schedules ferry against the processes it serves. With
 * SCHED_BATCH, a request arriving while its client still runs on ferry's
 * CPU does not preempt the client: ferry runs once the client blocks
 * (waiting for its replies) or its time slice ends, and then finds the
 * requests of many clients waiting, where a preempting ferry is woken for
 * each and sends Redis a batch of one or two. On one CPU shared by 50
 * clients, ferry and Redis this cuts ferry's CPU time per request by a third
 * and Redis's by two thirds (docs/ARCHITECTURE.md). Where ferry has a CPU of
 * its own, a wake-up preempts nobody and the policy changes nothing, so
 * `auto` asks for it only when ferry's affinity mask allows a single CPU: a
 * CPU quota does not make ferry share a CPU with its clients. */
static void server_sched_policy(const struct proxy_server *s)
{
    int batch = s->cfg.sched_policy == PROXY_SCHED_BATCH;
    const char *why = "";
    if (s->cfg.sched_policy == PROXY_SCHED_AUTO) {
        batch = server_affinity_cpus() == 1;
        why = batch ? " (one CPU in the affinity mask)" : " (several CPUs in the affinity mask)";
    }
    struct sched_param param = {.sched_priority = 0};
    if (batch && sched_setscheduler(0, SCHED_BATCH, &param) != 0)
        proxy_log_warning("sched-policy: cannot switch to SCHED_BATCH: %s", strerror(errno));
    /* What the kernel says, not what was asked: the test reads this. */
    int policy = sched_getscheduler(0);
    char word[16];
    proxy_config_get(&s->cfg, "sched-policy", word, sizeof(word));
    proxy_log_verbose("sched-policy %s%s: ferry runs as %s", word, why,
                      policy == SCHED_BATCH   ? "SCHED_BATCH"
                      : policy == SCHED_OTHER ? "SCHED_OTHER"
                                              : "a policy it was started with");
}

/* The loop. libevent sleeps in epoll_wait between turns, and on a virtual
 * machine the wake-up that ends the sleep costs tens of us: with one client
 * sending one request at a time, two of them per request (the request, then
 * Redis's reply) are most of what the proxy hop adds. Busy-polling keeps
 * running non-blocking turns for a while after a socket read instead, so the
 * reply and the next request find ferry awake.
 *
 * `busy-poll N` polls for N us after every read, whatever the traffic.
 * `busy-poll auto` polls for up to AUTO_WINDOW_US, and only where it pays:
 * - while one client at a time is talking, that is while the last two
 *   client reads came from the same client: once another client is read
 *   from, the traffic keeps the loop busy by itself, and a polling ferry only
 *   splits its turns smaller and takes the CPU Redis and the clients need;
 * - while polling catches that client's next request: a poll that catches
 *   none (the client thinks between requests) makes the loop skip polling
 *   after the next 1, 2, 4 ... 64 wake-ups, so a slow client costs little;
 * - with at least two CPUs to run on (affinity and cgroup quota): on one, a
 *   poller only delays the processes it waits for, and under a quota the
 *   polled time is throttled later. */
#define AUTO_WINDOW_US 100
#define AUTO_MAX_SKIP 64

/* Whether the last two client reads came from the same client. */
static int server_one_talker(const struct proxy_server *s)
{
    return s->io.streak >= 2;
}

/* One turn of the loop: libevent's (sleeping first unless `flags` says
 * EVLOOP_NONBLOCK), then the shared connections' writes. Before those,
 * while the turn's requests are for a shared connection and more clients
 * have theirs waiting, further non-blocking turns read them too, up to
 * DRAIN_TURNS: with many clients, requests arrive a few microseconds apart
 * as the clients get their replies, and a write per turn sends Redis small
 * batches, each waking it (docs/ARCHITECTURE.md has the figures). One
 * client at a time has nothing more to send before its reply, so it costs
 * no extra poll, and nor does a batch already BATCH_ENOUGH long. */
#define DRAIN_TURNS 16

/* Whether the turn should read further before writing the shared output.
 * Never after a loop break (shutdown): libevent forgets the break when a
 * loop starts, so another turn would lose it. */
static int server_drains(struct proxy_server *s)
{
    return s->shared_dirty && !event_base_got_break(s->base) && !server_one_talker(s) &&
           proxy_upstream_shared_pending(s) < BATCH_ENOUGH;
}

static int server_turn(struct proxy_server *s, int flags)
{
    if (event_base_loop(s->base, flags) != 0)
        return -1;
    for (int i = 0; i < DRAIN_TURNS && server_drains(s); i++) {
        uint64_t client_reads = s->io.client_reads;
        if (event_base_loop(s->base, EVLOOP_NONBLOCK) != 0)
            return -1;
        if (s->io.client_reads == client_reads)
            break;
    }
    proxy_upstream_flush_shared(s);
    return 0;
}

static void server_loop(struct proxy_server *s)
{
    int autopoll = s->cfg.busy_poll == PROXY_BUSY_POLL_AUTO;
    uint64_t window = autopoll ? AUTO_WINDOW_US : (uint64_t)s->cfg.busy_poll;
    if (autopoll) {
        double cpus = server_cpu_allowance();
        if (cpus < 2)
            window = 0;
        proxy_log_verbose("busy-poll auto: %s, %.2f CPUs allowed",
                          window ? "polls while one client at a time is active" : "off", cpus);
    }
    unsigned skip = 0, skipped = 0;
    while (!event_base_got_break(s->base)) {
        uint64_t seen = s->io.reads;
        if (server_turn(s, EVLOOP_ONCE) != 0)
            return;
        if (window == 0 || s->io.reads == seen)
            continue; /* no polling, or a timer rather than traffic: sleep again */
        if (autopoll && (!server_one_talker(s) || skipped++ < skip))
            continue;
        skipped = 0;
        seen = s->io.reads;
        uint64_t client_reads = s->io.client_reads;
        uint64_t since = proxy_mono_us();
        while (!event_base_got_break(s->base) && proxy_mono_us() - since < window &&
               (!autopoll || server_one_talker(s))) {
            if (server_turn(s, EVLOOP_NONBLOCK) != 0)
                return;
            if (s->io.reads != seen) {
                seen = s->io.reads;
                since = proxy_mono_us();
            } else {
                /* A client or Redis woken by ferry's write may have been
                 * queued on this CPU: let it run now, not when the window
                 * ends. With nothing else runnable this returns at once. */
                sched_yield();
            }
        }
        if (autopoll) /* backoff: reset by a caught request, else doubled */
            skip = s->io.client_reads != client_reads ? 0
                   : skip == 0                       ? 1
                   : skip < AUTO_MAX_SKIP            ? skip * 2
                                                     : AUTO_MAX_SKIP;
    }
}

int proxy_server_run(struct proxy_server *s)
{
    char where[512] = "";
    if (s->cfg.port > 0) {
        for (int i = 0; i < s->cfg.nbind; i++) {
            size_t used = strlen(where);
            snprintf(where + used, sizeof(where) - used, "%s%s", i ? " " : "", s->cfg.bind[i]);
        }
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, " port %d", s->cfg.port);
    }
    if (s->cfg.tls_port > 0) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, "%sTLS port %d", used ? " and " : "",
                 s->cfg.tls_port);
    }
    if (s->cfg.unixsocket) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, "%sunix socket %s", used ? " and " : "",
                 s->cfg.unixsocket);
    }
    char up[300] = "none";
    if (s->cfg.upstream_host)
        proxy_config_get(&s->cfg, "upstream", up, sizeof(up));
    proxy_log_notice("ferry %s ready: listening on %s, phase %s, upstream %s, pid %d",
                     PROXY_VERSION, where, proxy_phase_name(s->cfg.phase), up, (int)getpid());
    server_sched_policy(s);
    server_loop(s);
    /* Replies that were flushed to the kernel are sent even after close. */
    proxy_client_flush_all(s);
    proxy_upstream_flush_shared(s);
    while (s->clients)
        proxy_client_close(s->clients);
    proxy_log_notice("ferry exiting%s", s->exit_status ? " with status 1" : "");
    return s->exit_status;
}

void proxy_server_free(struct proxy_server *s)
{
    if (s == NULL)
        return;
    server_stop_listening(s);
    proxy_admin_stop(s);
    while (s->clients)
        proxy_client_close(s->clients);
    if (s->cfg.phase != PROXY_PHASE_REDIS)
        proxy_node_close(s);
    for (int i = 0; i < s->nshared; i++) {
        proxy_upstream_release(s->shared[i]);
        proxy_upstream_free(s->shared[i]);
    }
    free(s->shared);
    proxy_tls_free(s); /* after every connection's session */
    struct event *evs[] = {s->flush_ev, s->cron, s->sigterm, s->sigint, s->sighup,
                           s->shutdown_timer, s->accept_resume};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    proxy_upstream_resolver_free(s); /* runs a last turn: nothing else is left to run */
    event_base_free(s->base);
    if (spare_fd >= 0) {
        close(spare_fd);
        spare_fd = -1;
    }
    proxy_config_fini(&s->cfg);
    proxy_stats_free();
    free(s);
}

const char *proxy_server_config_file(const struct proxy_server *s)
{
    return s->config_argc > 0 && strncmp(s->config_argv[0], "--", 2) != 0 ? s->config_argv[0]
                                                                           : NULL;
}

struct reload_check {
    const struct proxy_config *cur, *next;
};

static void reload_warn_restart_only(const char *name, void *arg)
{
    const struct reload_check *r = arg;
    if (proxy_config_is_runtime(name))
        return;
    char was[PROXY_CONFIG_VALUE_MAX + 1], now[PROXY_CONFIG_VALUE_MAX + 1];
    proxy_config_get(r->cur, name, was, sizeof(was));
    proxy_config_get(r->next, name, now, sizeof(now));
    if (strcmp(was, now) != 0)
        proxy_log_warning("SIGHUP: '%s' changed to '%s' but needs a restart; still '%s'", name,
                          now, was);
}

/* SIGHUP. Options that only matter when something new starts (a client, a
 * connection, a log line) change at once; the others need a restart, and
 * the log says so rather than pretending. */
void proxy_server_reload(struct proxy_server *s)
{
    struct proxy_config next;
    proxy_config_init(&next);
    const char *file;
    char err[512];
    if (proxy_config_from_args(&next, s->config_argc, s->config_argv, &file, err, sizeof(err)) <
            0 ||
        proxy_config_validate(&next, err, sizeof(err)) < 0) {
        proxy_log_warning("SIGHUP: config not reloaded: %s", err);
        proxy_config_fini(&next);
        return;
    }
    struct proxy_config *cur = &s->cfg;
    struct reload_check r = {cur, &next};
    proxy_config_each(reload_warn_restart_only, &r);
    proxy_config_take_runtime(cur, &next);
    proxy_config_fini(&next);
    proxy_log_open(cur);
    unsigned long long limit = 0;
    int fit = proxy_server_fit_fds(s, cur->maxclients, &limit);
    if (fit < cur->maxclients) {
        proxy_log_warning("SIGHUP: maxclients %d does not fit the open files limit of %llu; "
                          "it is %d",
                          cur->maxclients, limit, fit > 0 ? fit : 1);
        cur->maxclients = fit > 0 ? fit : 1;
    }
    proxy_log_notice("SIGHUP: configuration reloaded");
    if (s->tls_ctx || s->tls_server_ctx) {
        s->tls_stamp = proxy_tls_files_stamp(s);
        if (proxy_tls_reload(s, err, sizeof(err)) < 0)
            proxy_log_warning("SIGHUP: TLS certificates not reloaded, the old ones stay: %s", err);
        else
            proxy_log_notice("SIGHUP: TLS certificates reloaded for new connections");
    }
}
