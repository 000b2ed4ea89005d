/* Connections to the upstream Redis.
 *
 * A connection keeps a ring of waiters, one per request sent: Redis answers
 * in order, so the next complete reply belongs to the oldest waiter. The
 * same code serves a client's own connection and a shared one; only what
 * happens on failure differs.
 */
#include "proxy/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void upstream_read_cb(evutil_socket_t fd, short what, void *arg);
static void upstream_write_cb(evutil_socket_t fd, short what, void *arg);
static void upstream_open(struct proxy_upstream *up);
static void resolve_failed(struct proxy_server *srv, const char *why);
static void resolve_unlink(struct proxy_upstream *up);

struct proxy_upstream *proxy_upstream_new(struct proxy_server *srv, struct proxy_client *owner)
{
    struct proxy_upstream *up = calloc(1, sizeof(*up));
    if (up == NULL)
        abort();
    up->srv = srv;
    up->owner = owner;
    up->fd = -1;
    up->in = evbuffer_new();
    up->out = evbuffer_new();
    resp_scanner_init(&up->scan);
    return up;
}

/* Closes the socket and forgets everything in flight. */
static void upstream_disconnect(struct proxy_upstream *up)
{
    if (up->state == PROXY_UP_RESOLVING)
        resolve_unlink(up);
    if (up->rev)
        event_free(up->rev);
    if (up->wev)
        event_free(up->wev);
    if (up->connect_timer)
        event_free(up->connect_timer);
    up->rev = up->wev = up->connect_timer = NULL;
    proxy_tls_close(up->ssl);
    up->ssl = NULL;
    up->read_wants_write = up->write_wants_read = 0;
    if (up->fd >= 0)
        close(up->fd);
    up->fd = -1;
    up->state = PROXY_UP_IDLE;
    evbuffer_drain(up->in, evbuffer_get_length(up->in));
    evbuffer_drain(up->out, evbuffer_get_length(up->out));
    resp_scanner_init(&up->scan);
    up->scanned = 0;
    up->hidden = 0;
    up->reset_auths = up->drop_next = 0;
    up->read_paused = 0;
    up->written = 0;
}

void proxy_upstream_free(struct proxy_upstream *up)
{
    if (up == NULL)
        return;
    upstream_disconnect(up);
    evbuffer_free(up->in);
    evbuffer_free(up->out);
    free(up->q);
    free(up);
}

/* ------------------------------------------------------------------ waiters */

static void waiter_push(struct proxy_upstream *up, struct proxy_client *c, struct proxy_slot *s)
{
    if (up->qlen == up->qcap) {
        size_t cap = up->qcap ? up->qcap * 2 : 16;
        struct proxy_waiter *q = malloc(cap * sizeof(*q));
        if (q == NULL)
            abort();
        for (size_t i = 0; i < up->qlen; i++)
            q[i] = up->q[(up->qhead + i) % up->qcap];
        free(up->q);
        up->q = q;
        up->qcap = cap;
        up->qhead = 0;
    }
    /* The waiter times the request's reply. No client: a request of
     * ferry's own, whose reply goes nowhere (upstream_route). */
    struct proxy_waiter w = {c, s, 0, 0};
    if (c != NULL) {
        w.stat = c->stat;
        w.start_us = c->stat_start_us;
        c->stat = 0;
    }
    up->q[(up->qhead + up->qlen) % up->qcap] = w;
    up->qlen++;
}

/* Requests of ferry's own, whose replies go nowhere: a waiter without a
 * client, its stat field saying which (for the log, upstream_drop_reply). */
enum { OWN_WAIT_MARK = 1, OWN_REAUTH };

static void waiter_push_own(struct proxy_upstream *up, uint32_t kind)
{
    waiter_push(up, NULL, NULL);
    up->q[(up->qhead + up->qlen - 1) % up->qcap].stat = kind;
}

/* A waiter's reply has come (or an error stands for it): its figures. */
static void waiter_timed(const struct proxy_waiter *w, uint64_t now_us, int error)
{
    if (w->stat)
        proxy_stats_reply(w->stat, now_us - w->start_us, error);
}

static struct proxy_waiter waiter_pop(struct proxy_upstream *up)
{
    struct proxy_waiter w = up->q[up->qhead];
    up->qhead = (up->qhead + 1) % up->qcap;
    up->qlen--;
    if (up->written > 0)
        up->written--;
    return w;
}

/* ------------------------------------------------------------------ health */

static const char *upstream_name(const struct proxy_server *srv, char *buf, size_t len)
{
    proxy_config_get(&srv->cfg, "upstream", buf, len);
    return buf;
}

void proxy_upstream_error_reply(struct proxy_server *srv, struct evbuffer *dst, const char *reason)
{
    char name[300];
    evbuffer_add_printf(dst, "-ERR ferry: upstream %s unavailable (%s)\r\n",
                        upstream_name(srv, name, sizeof(name)), reason);
    srv->stats.upstream_errors++;
}

/* A connect attempt failed: later attempts wait, doubling from 100 ms to
 * 5 s, so a dead Redis is not hammered by every request. */
static void upstream_mark_down(struct proxy_server *srv, const char *reason)
{
    uint64_t delay = 100ULL << (srv->upstream.failures < 6 ? srv->upstream.failures : 6);
    if (delay > 5000)
        delay = 5000;
    srv->upstream.failures++;
    srv->upstream.retry_at_ms = proxy_now_ms() + delay;
    srv->resolve.at_ms = 0; /* the next attempt looks the name up again */
    if (!srv->upstream.down || strcmp(srv->upstream.reason, reason) != 0) {
        char name[300];
        proxy_log_warning("upstream %s unavailable (%s); retrying with backoff",
                          upstream_name(srv, name, sizeof(name)), reason);
    }
    srv->upstream.down = 1;
    snprintf(srv->upstream.reason, sizeof(srv->upstream.reason), "%s", reason);
}

static void upstream_mark_up(struct proxy_server *srv)
{
    if (srv->upstream.down) {
        char name[300];
        proxy_log_notice("upstream %s is reachable again", upstream_name(srv, name, sizeof(name)));
    }
    srv->upstream.down = 0;
    srv->upstream.failures = 0;
}

/* Every waiter gets the unavailable-upstream error for `reason`; a client
 * already gone only drops it (and is freed by its last one). */
static void upstream_answer_all(struct proxy_upstream *up, const char *reason)
{
    struct evbuffer *err = evbuffer_new();
    uint64_t now_us = up->qlen > 0 ? proxy_mono_us() : 0;
    while (up->qlen > 0) {
        struct proxy_waiter w = waiter_pop(up);
        if (w.c == NULL)
            continue;
        waiter_timed(&w, now_us, 1);
        proxy_upstream_error_reply(up->srv, err, reason);
        proxy_client_deliver(w.c, w.s, err, evbuffer_get_length(err), 1, up->owner == NULL);
    }
    evbuffer_free(err);
}

/* The connection is gone: every waiter gets an error reply. A client whose
 * own connection it was is told, since its connection state went with it. */
static void upstream_fail(struct proxy_upstream *up, const char *reason, int connecting)
{
    struct proxy_server *srv = up->srv;
    if (connecting)
        upstream_mark_down(srv, reason);
    else
        proxy_log_verbose("upstream connection lost (%s), %zu replies outstanding", reason,
                          up->qlen);
    upstream_disconnect(up);
    upstream_answer_all(up, reason);
    if (up->owner)
        proxy_client_upstream_lost(up->owner);
    proxy_admin_upstream_event(srv);
}

/* ------------------------------------------------------------------ connect */

static void upstream_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_upstream *up = arg;
    if (up->state == PROXY_UP_RESOLVING) {
        struct proxy_server *srv = up->srv;
        resolve_unlink(up);
        resolve_failed(srv, "no answer within upstream-connect-timeout");
        upstream_open(up);
        return;
    }
    /* A server that speaks no TLS takes the hello for a request's start
     * and waits for the rest: the handshake times out. */
    upstream_fail(up, up->state == PROXY_UP_HANDSHAKE ? "TLS handshake timeout: does the upstream "
                                                        "serve TLS on that port?"
                                                      : "connect timeout",
                  1);
}

/* Connected (and through TLS's handshake, with upstream-tls): requests go. */
static void upstream_ready(struct proxy_upstream *up)
{
    event_free(up->connect_timer);
    up->connect_timer = NULL;
    up->state = PROXY_UP_READY;
    upstream_mark_up(up->srv);
    proxy_admin_upstream_event(up->srv);
    event_add(up->rev, NULL);
    proxy_upstream_flush(up);
}

/* One step of TLS's handshake, run again by whichever event it waits for;
 * the connect timeout covers it too. */
static void upstream_handshake(struct proxy_upstream *up)
{
    char why[256];
    switch (proxy_tls_handshake(up->ssl, why, sizeof(why))) {
    case PROXY_TLS_OK:
        upstream_ready(up);
        break;
    case PROXY_TLS_WANT_READ:
        event_del(up->wev);
        event_add(up->rev, NULL);
        break;
    case PROXY_TLS_WANT_WRITE:
        event_add(up->wev, NULL);
        break;
    default:
        upstream_fail(up, why, 1);
    }
}

static void upstream_connected(struct proxy_upstream *up)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        upstream_fail(up, strerror(err), 1);
        return;
    }
    if (up->srv->tls_ctx == NULL) {
        upstream_ready(up);
        return;
    }
    char why[256];
    up->ssl = proxy_tls_new(up->srv, up->fd, why, sizeof(why));
    if (up->ssl == NULL) {
        upstream_fail(up, why, 1);
        return;
    }
    up->state = PROXY_UP_HANDSHAKE;
    upstream_handshake(up);
}

/* A non-blocking connect to sa, started: its descriptor; -1 and why not
 * in *why; or -2 with errno set when ferry could not open a socket (out of
 * descriptors or memory: ferry's trouble, not the upstream's). Keepalive
 * as for clients: a Redis host gone without a reset (a crashed node, a
 * partition) is noticed, and a client blocked on it gets its error. */
static int upstream_connect_addr(const struct proxy_server *srv, const struct sockaddr *sa,
                                 socklen_t len, const char **why)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -2;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    proxy_tcp_keepalive(fd, srv->cfg.tcp_keepalive);
    if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

/* The same to a unix socket (upstream /path): a connect there completes or
 * fails at once, or with EAGAIN when the listener's backlog is full, which
 * is worth no wait of its own: the connection counts as down and is retried
 * with the usual backoff. */
static int upstream_connect_unix(const char *path, const char **why)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1); /* fits: the config checked its length */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -2;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *why = strerror(errno);
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Queues AUTH with ferry's upstream credentials; 0 when it has none. */
static int upstream_add_auth(struct proxy_upstream *up)
{
    const struct proxy_config *cfg = &up->srv->cfg;
    if (cfg->upstream_password == NULL)
        return 0;
    const char *argv[3] = {"AUTH", cfg->upstream_user, cfg->upstream_password};
    size_t argvlen[3] = {4, cfg->upstream_user ? strlen(cfg->upstream_user) : 0,
                         strlen(cfg->upstream_password)};
    int argc = 3;
    if (cfg->upstream_user == NULL) {
        argv[1] = argv[2];
        argvlen[1] = argvlen[2];
        argc = 2;
    }
    struct resp_buf b = {0};
    resp_add_command(&b, argc, argv, argvlen);
    evbuffer_add(up->out, b.data, b.len);
    resp_buf_fini(&b);
    return 1;
}

/* ------------------------------------------------------------------ resolving */

/* The upstream's host, when it is a name, is resolved by evdns (libevent's
 * resolver: /etc/resolv.conf and /etc/hosts, read at the first lookup, and
 * again at the next one once either has changed)
 * inside the loop. getaddrinfo would stop every client for as long as the
 * DNS server takes, at each connection opened (a Service name in a pod's
 * cluster DNS, a managed Redis's endpoint). The address is reused for
 * upstream-resolve-interval seconds; after that, or after a failed connect,
 * the next connection waits for a fresh lookup, and goes to the last
 * address known if the lookup fails or outlasts upstream-connect-timeout. */

static int resolve_fresh(const struct proxy_server *srv)
{
    if (srv->resolve.numeric)
        return 1;
    return srv->resolve.addrlen > 0 && srv->resolve.at_ms > 0 &&
           proxy_now_ms() - srv->resolve.at_ms <=
               (uint64_t)srv->cfg.upstream_resolve_interval * 1000;
}

static void resolve_unlink(struct proxy_upstream *up)
{
    for (struct proxy_upstream **p = &up->srv->resolve.waiting; *p; p = &(*p)->resolve_next) {
        if (*p == up) {
            *p = up->resolve_next;
            break;
        }
    }
    up->resolve_next = NULL;
}

static void resolve_failed(struct proxy_server *srv, const char *why)
{
    snprintf(srv->resolve.reason, sizeof(srv->resolve.reason), "cannot resolve %s: %s",
             srv->cfg.upstream_host, why);
    uint64_t now = proxy_now_ms();
    if (!srv->resolve.failing || now - srv->resolve.logged_ms >= 10000) {
        proxy_log_warning("upstream %s%s", srv->resolve.reason,
                          srv->resolve.addrlen ? "; connecting to its last address" : "");
        srv->resolve.logged_ms = now;
    }
    srv->resolve.failing = 1;
}

static void resolve_done(int err, struct evutil_addrinfo *res, void *arg)
{
    struct proxy_server *srv = arg;
    srv->resolve.req = NULL;
    if (err == EVUTIL_EAI_CANCEL)
        return; /* ferry is exiting */
    if (err == 0 && res != NULL && res->ai_addrlen <= sizeof(srv->resolve.addr)) {
        memcpy(&srv->resolve.addr, res->ai_addr, res->ai_addrlen);
        srv->resolve.addrlen = (socklen_t)res->ai_addrlen;
        srv->resolve.at_ms = proxy_now_ms();
        if (srv->resolve.failing)
            proxy_log_notice("upstream %s resolves again", srv->cfg.upstream_host);
        srv->resolve.failing = 0;
    } else {
        /* libevent's codes are the C library's EAI_ ones here; its own
         * texts are BSD's, and getaddrinfo's are what users know. */
        resolve_failed(srv, err ? gai_strerror(err) : "no address");
    }
    if (res)
        evutil_freeaddrinfo(res);
    if (srv->resolve.in_call)
        return; /* answered at once: proxy_upstream_ensure goes on */
    while (srv->resolve.waiting) {
        struct proxy_upstream *up = srv->resolve.waiting;
        srv->resolve.waiting = up->resolve_next;
        up->resolve_next = NULL;
        upstream_open(up);
    }
}

static void resolve_log(int is_warning, const char *msg)
{
    if (is_warning)
        proxy_log_verbose("resolver: %s", msg);
    else
        proxy_log_debug("resolver: %s", msg);
}

/* The resolver's files as they are now: their inode, size and change time,
 * folded together (0 for a file that is missing). */
static uint64_t resolve_files_stamp(void)
{
    static const char *const files[] = {"/etc/resolv.conf", "/etc/hosts"};
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct stat st;
        uint64_t v[4] = {0, 0, 0, 0};
        if (stat(files[i], &st) == 0) {
            v[0] = (uint64_t)st.st_ino;
            v[1] = (uint64_t)st.st_size;
            v[2] = (uint64_t)st.st_mtim.tv_sec;
            v[3] = (uint64_t)st.st_mtim.tv_nsec;
        }
        for (int k = 0; k < 4; k++)
            h = (h ^ v[k]) * 1099511628211ULL;
    }
    return h;
}

/* resolv.conf or hosts changed since the resolver read them (the host moved
 * to another network, a nameserver was replaced): they are read again, as
 * the C library's resolver does. With no lookup in flight, a new resolver
 * reads both. A lookup in flight, most likely waiting on the nameservers
 * that were replaced, goes on with the new ones; the hosts file waits for
 * the next resolver (evdns would add its entries a second time). */
static void resolve_reread(struct proxy_server *srv)
{
    uint64_t files = resolve_files_stamp();
    if (files == srv->resolve.files || (srv->resolve.req && files == srv->resolve.reread))
        return;
    proxy_log_notice("upstream: /etc/resolv.conf or /etc/hosts changed; reading them again");
    if (srv->resolve.req == NULL) {
        evdns_base_free(srv->resolve.dns, 0);
        srv->resolve.dns = NULL;
        return;
    }
    evdns_base_clear_nameservers_and_suspend(srv->resolve.dns);
    evdns_base_resolv_conf_parse(srv->resolve.dns, DNS_OPTIONS_ALL & ~DNS_OPTION_HOSTSFILE,
                                 "/etc/resolv.conf");
    evdns_base_resume(srv->resolve.dns);
    srv->resolve.reread = files;
}

/* Starts a lookup unless one is in flight. An IP literal, a name in
 * /etc/hosts and an error are answered within the call. */
static void resolve_start(struct proxy_server *srv)
{
    if (srv->resolve.dns)
        resolve_reread(srv);
    if (srv->resolve.req)
        return;
    const char *host = srv->cfg.upstream_host;
    int port = srv->cfg.upstream_port;
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &in.sin_addr) == 1) {
        memcpy(&srv->resolve.addr, &in, sizeof(in));
        srv->resolve.addrlen = sizeof(in);
        srv->resolve.numeric = 1;
        return;
    }
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
        memcpy(&srv->resolve.addr, &in6, sizeof(in6));
        srv->resolve.addrlen = sizeof(in6);
        srv->resolve.numeric = 1;
        return;
    }
    if (srv->resolve.dns == NULL) {
        srv->resolve.files = resolve_files_stamp();
        evdns_set_log_fn(resolve_log);
        srv->resolve.dns = evdns_base_new(srv->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (srv->resolve.dns == NULL) {
            resolve_failed(srv, "the resolver did not start (/etc/resolv.conf)");
            return;
        }
    }
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP};
    srv->resolve.in_call = 1;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(srv->resolve.dns, host, service, &hints, resolve_done, srv);
    srv->resolve.in_call = 0;
    srv->resolve.req = req; /* NULL when answered already */
}

void proxy_upstream_resolver_free(struct proxy_server *srv)
{
    if (srv->resolve.req) {
        /* evdns frees a cancelled lookup in a callback of the next turn. */
        evdns_getaddrinfo_cancel(srv->resolve.req);
        event_base_loop(srv->base, EVLOOP_NONBLOCK);
    }
    srv->resolve.req = NULL;
    if (srv->resolve.dns)
        evdns_base_free(srv->resolve.dns, 0);
    srv->resolve.dns = NULL;
}

/* The connect timer, for the lookup and then the connect (and TLS's
 * handshake): each gets upstream-connect-timeout. */
static void upstream_arm_timer(struct proxy_upstream *up)
{
    const struct proxy_config *cfg = &up->srv->cfg;
    if (up->connect_timer == NULL)
        up->connect_timer = evtimer_new(up->srv->base, upstream_connect_timeout_cb, up);
    struct timeval tv = {cfg->upstream_connect_timeout / 1000,
                         (cfg->upstream_connect_timeout % 1000) * 1000};
    evtimer_add(up->connect_timer, &tv);
}

/* The connect has started on fd: wait for it. */
static void upstream_start(struct proxy_upstream *up, int fd)
{
    struct proxy_server *srv = up->srv;
    up->fd = fd;
    up->state = PROXY_UP_CONNECTING;
    up->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, upstream_read_cb, up);
    up->wev = event_new(srv->base, fd, EV_WRITE, upstream_write_cb, up);
    upstream_arm_timer(up);
    event_add(up->wev, NULL);
}

/* Why a socket could not be opened, for the error reply. */
static const char *upstream_local_failure(void)
{
    static char local[128];
    snprintf(local, sizeof(local), "ferry cannot open a socket: %s", strerror(errno));
    proxy_log_verbose("upstream connection not opened: %s", local);
    return local;
}

/* A connection that waited for the lookup: to the address it found, or
 * to the last one known; the lookup's error when there is none. */
static void upstream_open(struct proxy_upstream *up)
{
    struct proxy_server *srv = up->srv;
    if (srv->resolve.addrlen == 0) {
        upstream_fail(up, srv->resolve.reason, 1);
        return;
    }
    const char *failed = NULL;
    int fd = upstream_connect_addr(srv, (struct sockaddr *)&srv->resolve.addr,
                                   srv->resolve.addrlen, &failed);
    if (fd == -2)
        upstream_fail(up, upstream_local_failure(), 0);
    else if (fd < 0)
        upstream_fail(up, failed, 1);
    else
        upstream_start(up, fd);
}

int proxy_upstream_ensure(struct proxy_upstream *up, const char **why)
{
    struct proxy_server *srv = up->srv;
    const struct proxy_config *cfg = &srv->cfg;
    if (up->state != PROXY_UP_IDLE)
        return 0;
    *why = srv->upstream.reason;
    if (srv->upstream.down && proxy_now_ms() < srv->upstream.retry_at_ms)
        return -1;

    const char *failed = NULL;
    int fd;
    if (cfg->upstream_port == 0) {
        fd = upstream_connect_unix(cfg->upstream_host, &failed);
    } else {
        if (!resolve_fresh(srv)) {
            resolve_start(srv);
            if (srv->resolve.req) {
                /* Requests queue behind our AUTH until the answer comes. */
                if (upstream_add_auth(up))
                    up->hidden = 1;
                up->state = PROXY_UP_RESOLVING;
                up->resolve_next = srv->resolve.waiting;
                srv->resolve.waiting = up;
                upstream_arm_timer(up);
                return 0;
            }
            if (srv->resolve.addrlen == 0) {
                upstream_mark_down(srv, srv->resolve.reason);
                return -1;
            }
        }
        fd = upstream_connect_addr(srv, (struct sockaddr *)&srv->resolve.addr,
                                   srv->resolve.addrlen, &failed);
    }
    if (fd == -2) {
        /* The upstream was never asked: the other connections, and the
         * next attempt, go on as before. */
        *why = upstream_local_failure();
        return -1;
    }
    if (fd < 0) {
        upstream_mark_down(srv, failed);
        return -1;
    }
    upstream_start(up, fd);
    /* Our AUTH goes first; its reply is swallowed (upstream_route). */
    if (upstream_add_auth(up))
        up->hidden = 1;
    return 0;
}

void proxy_upstream_send_reauth(struct proxy_upstream *up, int raw)
{
    if (!upstream_add_auth(up))
        return;
    if (raw)
        up->reset_auths++;
    else
        waiter_push_own(up, OWN_REAUTH);
}

/* ------------------------------------------------------------------ writing */

/* Appends r as a multibulk (inline requests are normalised). Small requests
 * are built in one piece, so the evbuffer sees one add per request. */
static void upstream_encode(struct evbuffer *out, const struct resp_request *r)
{
    /* As the client sent it, when the reader still has it whole: one copy
     * instead of an encoding per argument. */
    if (r->raw != NULL) {
        evbuffer_add(out, r->raw, r->raw_len);
        return;
    }
    static struct resp_buf scratch;
    resp_buf_reset(&scratch);
    for (int i = 0; i < r->argc; i++) {
        if (r->argvlen[i] >= 16 * 1024) {
            /* A large argument: not worth copying into the scratch too. */
            if (i == 0)
                resp_add_array(&scratch, r->argc);
            char hdr[32];
            int n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", r->argvlen[i]);
            resp_buf_append(&scratch, hdr, (size_t)n);
            evbuffer_add(out, scratch.data, scratch.len);
            resp_buf_reset(&scratch);
            evbuffer_add(out, r->argv[i], r->argvlen[i]);
            resp_buf_append(&scratch, "\r\n", 2);
            continue;
        }
        if (i == 0)
            resp_add_array(&scratch, r->argc);
        resp_add_bulk(&scratch, r->argv[i], r->argvlen[i]);
    }
    evbuffer_add(out, scratch.data, scratch.len);
}

/* A shared connection's output goes at the end of the turn, with every
 * other request of the turn (proxy_upstream_flush_shared). */
static void upstream_mark_dirty(struct proxy_upstream *up)
{
    up->dirty = 1;
    up->srv->shared_dirty = 1;
}

void proxy_upstream_send(struct proxy_upstream *up, struct proxy_client *c, struct proxy_slot *s,
                         const struct resp_request *r)
{
    upstream_encode(up->out, r);
    if (s != NULL)
        waiter_push(up, c, s);
    if (up->owner == NULL)
        upstream_mark_dirty(up);
}

void proxy_upstream_send_wait_mark(struct proxy_upstream *up)
{
    static const char mark[] = "*3\r\n$7\r\nPUBLISH\r\n$14\r\n__ferry__:wait\r\n$0\r\n\r\n";
    evbuffer_add(up->out, mark, sizeof(mark) - 1);
    waiter_push_own(up, OWN_WAIT_MARK);
}

void proxy_upstream_release(struct proxy_upstream *up)
{
    upstream_answer_all(up, "ferry is exiting"); /* to clients already gone */
}

void proxy_upstream_flush_shared(struct proxy_server *srv)
{
    if (!srv->shared_dirty)
        return;
    srv->shared_dirty = 0;
    for (int i = 0; i < srv->nshared; i++)
        if (srv->shared[i]->dirty)
            proxy_upstream_flush(srv->shared[i]);
}

/* A shared connection keeps one small batch in flight: while HOLD_BEHIND
 * or more requests written are unanswered, and fewer than BATCH_ENOUGH,
 * what comes waits, and goes in one write once the replies are in. Redis
 * is then woken once per batch rather than once per turn of ferry's, and
 * the wait costs a request no more than the batch ahead of it, which it
 * would wait behind in Redis anyway.
 * - One request in flight holds nothing back: behind it, two clients take
 *   turns, each waiting for the other's reply (at -c 2 that cost 13-18%
 *   of the throughput).
 * - A large batch holds nothing back either: it keeps Redis busy by
 *   itself, and holding behind it left Redis idle while its replies
 *   travelled (pipelining clients, -c 4 -P 16, lost 7-25%). */
#define HOLD_BEHIND 2

static int upstream_holds(const struct proxy_upstream *up)
{
    return up->owner == NULL && up->written >= HOLD_BEHIND && up->written < BATCH_ENOUGH;
}

size_t proxy_upstream_shared_pending(const struct proxy_server *srv)
{
    size_t most = 0;
    for (int i = 0; i < srv->nshared; i++) {
        const struct proxy_upstream *up = srv->shared[i];
        if (up->dirty && up->qlen - up->written > most)
            most = up->qlen - up->written;
    }
    return most;
}

/* One TLS write from the front of out (proxy_tls_send): the bytes written;
 * 0 when the socket must become ready first; -1 when the connection failed
 * (handled). */
static int upstream_tls_send(struct proxy_upstream *up)
{
    int status;
    char why[256];
    ssize_t n = proxy_tls_send(up->ssl, up->out, &status, why, sizeof(why));
    if (n > 0)
        return (int)n;
    if (status == PROXY_TLS_WANT_READ) {
        up->write_wants_read = 1;
        return 0;
    }
    if (status == PROXY_TLS_WANT_WRITE)
        return 0;
    upstream_fail(up, status == PROXY_TLS_CLOSED ? "connection closed by upstream" : why, 0);
    return -1;
}

int proxy_upstream_flush(struct proxy_upstream *up)
{
    up->dirty = 0;
    if (up->state != PROXY_UP_READY)
        return 0;
    /* A client moving to its own connection waits until its requests on
     * the shared one are answered, so its order of execution holds. */
    if (up->owner && up->owner->shared_inflight > 0)
        return 0;
    if (upstream_holds(up))
        return 0;
    while (evbuffer_get_length(up->out) > 0) {
        if (up->ssl) {
            int n = upstream_tls_send(up);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            continue;
        }
        int n = evbuffer_write(up->out, up->fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            upstream_fail(up, strerror(errno), 0);
            return -1;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(up->out) > 0) {
        if (!up->write_wants_read) /* else the read event runs the write again */
            event_add(up->wev, NULL);
    } else {
        event_del(up->wev);
        if (up->owner == NULL)
            up->written = up->qlen;
    }
    return 0;
}

static void upstream_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_upstream *up = arg;
    if (up->state == PROXY_UP_CONNECTING) {
        upstream_connected(up);
        return;
    }
    if (up->state == PROXY_UP_HANDSHAKE) {
        upstream_handshake(up);
        return;
    }
    if (up->read_wants_write) {
        up->read_wants_write = 0;
        upstream_read_cb(up->fd, EV_READ, up);
        if (up->state != PROXY_UP_READY)
            return;
    }
    proxy_upstream_flush(up);
    /* Clients held back by this connection's full output may go on. */
    if (evbuffer_get_length(up->out) < PROXY_OUT_LOW) {
        if (up->owner)
            proxy_client_mark_dirty(up->owner);
        else
            for (struct proxy_client *c = up->srv->clients; c; c = c->next)
                if (c->read_paused && c->up == NULL)
                    proxy_client_mark_dirty(c);
    }
}

void proxy_upstream_resume(struct proxy_upstream *up)
{
    if (up->read_paused && up->state == PROXY_UP_READY) {
        event_add(up->rev, NULL);
        up->read_paused = 0;
        /* Replies TLS decrypted before the pause: no socket event is due. */
        if (proxy_tls_pending(up->ssl))
            event_active(up->rev, EV_READ, 0);
    }
}

/* ------------------------------------------------------------------ reading */

/* Feeds the scanner from offset `scanned` of the input until a reply ends
 * (RESP_OK: the first `scanned` bytes are exactly one reply) or the input
 * runs out (RESP_AGAIN). */
static int upstream_scan(struct proxy_upstream *up)
{
    size_t avail = evbuffer_get_length(up->in);
    while (up->scanned < avail) {
        struct evbuffer_ptr pos;
        struct evbuffer_iovec v[4];
        evbuffer_ptr_set(up->in, &pos, up->scanned, EVBUFFER_PTR_SET);
        int nv = evbuffer_peek(up->in, -1, &pos, v, 4);
        if (nv > 4)
            nv = 4;
        for (int i = 0; i < nv; i++) {
            size_t used = 0;
            int rc = resp_scanner_scan(&up->scan, v[i].iov_base, v[i].iov_len, &used);
            up->scanned += used;
            if (rc != RESP_AGAIN)
                return rc;
        }
    }
    return RESP_AGAIN;
}

/* Takes the reply just scanned (the first `scanned` bytes of the input)
 * off the input, keeping its first line, CRLF cut, in line. */
static void upstream_take_reply(struct proxy_upstream *up, char *line, size_t cap)
{
    size_t n = up->scanned < cap - 1 ? up->scanned : cap - 1;
    evbuffer_copyout(up->in, line, n);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    evbuffer_drain(up->in, up->scanned);
    up->scanned = 0;
}

/* Our own AUTH's reply: +OK, or an error that makes the upstream unusable. */
static int upstream_check_auth(struct proxy_upstream *up)
{
    char first[160];
    upstream_take_reply(up, first, sizeof(first));
    up->hidden--;
    if (first[0] != '-')
        return 0;
    char reason[200];
    snprintf(reason, sizeof(reason), "AUTH failed: %s", first + 1);
    upstream_fail(up, reason, 1);
    return -1;
}

/* The reply to request `kind` of ferry's own (the first `scanned` bytes of
 * the input): dropped. A refusal is logged with what it costs, as a
 * warning the first time for each kind, then verbose: a WAIT after every
 * write could repeat it. */
static void upstream_drop_reply(struct proxy_upstream *up, uint32_t kind)
{
    static int told[OWN_REAUTH + 1];
    char first[160];
    upstream_take_reply(up, first, sizeof(first));
    if (up->scan.is_error) {
        const char *what = kind == OWN_REAUTH ? "AUTH after a client's RESET"
                                              : "PUBLISH __ferry__:wait before a WAIT";
        const char *cost = kind == OWN_REAUTH
                               ? "the client is logged out of Redis"
                               : "WAIT counts only the writes the client sent on its own "
                                 "upstream connection";
        if (told[kind]++ == 0)
            proxy_log_warning("upstream refused %s (%s): %s", what, first + 1, cost);
        else
            proxy_log_verbose("upstream refused %s (%s): %s", what, first + 1, cost);
    }
}

/* Raw mode: whether the reply just scanned is our AUTH after a RESET, to
 * drop. It is the reply after +RESET: RESET ends subscriptions and
 * tracking, so no push comes between. */
static int upstream_reset_auth_reply(struct proxy_upstream *up)
{
    if (up->reset_auths == 0 || up->qlen > 0)
        return 0;
    if (up->drop_next) {
        up->drop_next = 0;
        up->reset_auths--;
        return 1;
    }
    char first[8];
    if (up->scanned == sizeof(first) && evbuffer_copyout(up->in, first, sizeof(first)) == 8 &&
        memcmp(first, "+RESET\r\n", 8) == 0)
        up->drop_next = 1;
    return 0;
}

/* A RESP3 push (the first len bytes of the input) answers no request: it
 * goes where the client's next reply will go, or after all it is owed;
 * it does not count as a reply. -1 when there is nobody to give it to. */
static int upstream_push(struct proxy_upstream *up, size_t len)
{
    up->scanned -= len;
    if (up->qlen > 0 && up->q[up->qhead].c != NULL) {
        struct proxy_waiter w = up->q[up->qhead];
        proxy_client_deliver(w.c, w.s, up->in, len, 0, up->owner == NULL);
    } else if (up->owner) {
        proxy_client_push(up->owner, up->in, len);
    } else {
        upstream_fail(up, "push message on a shared connection", 0);
        return -1;
    }
    return 0;
}

/* Hands every complete reply in the input, read at now_us, to its waiter. */
static void upstream_route(struct proxy_upstream *up, uint64_t now_us)
{
    for (;;) {
        int rc = upstream_scan(up);
        if (rc == RESP_ERR) {
            upstream_fail(up, "protocol error in the upstream's reply", 0);
            return;
        }
        if (rc == RESP_AGAIN)
            return;
        if (up->hidden > 0) {
            if (upstream_check_auth(up) < 0)
                return;
            continue;
        }
        if (upstream_reset_auth_reply(up)) {
            upstream_drop_reply(up, OWN_REAUTH);
            continue;
        }
        if (up->scan.is_push) {
            if (upstream_push(up, up->scanned) < 0)
                return;
            continue;
        }
        struct proxy_waiter w;
        if (up->qlen > 0 && up->q[up->qhead].c == NULL) {
            upstream_drop_reply(up, waiter_pop(up).stat);
            continue;
        }
        if (up->qlen > 0) {
            w = waiter_pop(up);
            waiter_timed(&w, now_us, up->scan.is_error);
        } else if (up->owner && up->owner->raw) {
            w = (struct proxy_waiter){up->owner, up->owner->raw, 0, 0}; /* pushed message */
        } else {
            upstream_fail(up, "reply to no request", 0);
            return;
        }
        /* A client's pipeline waits in one slot: the replies to it that
         * follow in a row go over in one move. */
        size_t len = up->scanned;
        unsigned n = 1;
        while (up->qlen > 0 && up->q[up->qhead].c == w.c && up->q[up->qhead].s == w.s &&
               (rc = upstream_scan(up)) == RESP_OK && !up->scan.is_push) {
            struct proxy_waiter next = waiter_pop(up);
            waiter_timed(&next, now_us, up->scan.is_error);
            len = up->scanned;
            n++;
        }
        size_t push = rc == RESP_OK && up->scan.is_push ? up->scanned - len : 0;
        up->scanned -= len; /* what remains is part of a reply not yet whole */
        proxy_client_deliver(w.c, w.s, up->in, len, n, up->owner == NULL);
        /* A push that ended the run: the run's slot still waits for the
         * next reply, so it is alive and the push goes there. */
        if (push && upstream_push(up, push) < 0)
            return;
        if (rc == RESP_ERR) {
            upstream_fail(up, "protocol error in the upstream's reply", 0);
            return;
        }
    }
}

/* One read: 1 when bytes came and the connection is still up. */
static int upstream_read_once(struct proxy_upstream *up)
{
    /* One read buffer for every connection (one thread); only the bytes
     * read are copied into the evbuffer. Reserving 64 KB in the evbuffer
     * instead costs a large malloc and free per read, and libevent's
     * evbuffer_read asks the kernel first how much is there (an ioctl). */
    static char buf[64 * 1024];
    up->srv->io.reads++;
    ssize_t n;
    if (up->ssl) {
        int status;
        char why[256];
        n = proxy_tls_read(up->ssl, buf, sizeof(buf), &status, why, sizeof(why));
        if (n < 0) {
            if (status == PROXY_TLS_WANT_WRITE) {
                up->read_wants_write = 1;
                event_add(up->wev, NULL);
            } else if (status != PROXY_TLS_WANT_READ) {
                upstream_fail(up, status == PROXY_TLS_CLOSED ? "connection closed by upstream" : why,
                              0);
            }
            return 0;
        }
    } else {
        n = read(up->fd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return 0;
            upstream_fail(up, n == 0 ? "connection closed by upstream" : strerror(errno), 0);
            return 0;
        }
    }
    evbuffer_add(up->in, buf, (size_t)n);
    struct proxy_client *owner = up->owner;
    upstream_route(up, proxy_mono_us());
    /* The batch in flight is answered: the requests held meanwhile go. */
    if (owner == NULL && !upstream_holds(up) && evbuffer_get_length(up->out) > 0)
        upstream_mark_dirty(up);
    /* A dedicated connection stops reading while its client is slow to
     * take replies: they wait in Redis's output buffer instead of ours. */
    if (owner && up->state == PROXY_UP_READY && !owner->gone &&
        evbuffer_get_length(owner->out) > PROXY_OUT_HIGH) {
        event_del(up->rev);
        up->read_paused = 1;
    }
    return up->state == PROXY_UP_READY;
}

static void upstream_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_upstream *up = arg;
    if (up->state == PROXY_UP_HANDSHAKE) {
        upstream_handshake(up);
        return;
    }
    if (up->write_wants_read) {
        up->write_wants_read = 0;
        if (proxy_upstream_flush(up) < 0)
            return;
    }
    /* TLS may have read and decrypted more than one read returns, and no
     * socket event will announce those bytes: read until it holds none. */
    while (upstream_read_once(up) && up->ssl && proxy_tls_pending(up->ssl) && !up->read_paused)
        ;
}
