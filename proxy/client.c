/* Client connections and their upstream connections.
 *
 * Each client owns one upstream connection, opened on its first forwarded
 * request, so every piece of connection state Redis keeps (MULTI, WATCH,
 * SELECT, subscriptions, blocking pops, CLIENT SETNAME) stays exactly as it
 * would be with a direct connection.
 *
 * Replies leave in request order. Each request takes a place in the client's
 * slot queue: a run of upstream replies, one local reply (made by ferry, now
 * or later), or, once the client subscribes or monitors, a raw slot that
 * takes everything the upstream sends. Replies for the slot at the head go
 * straight to the client's output; replies for later slots wait in the
 * slot's own buffer.
 */
#include "proxy/core.h"

#include <errno.h>
#include <event2/buffer.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read buffer for every client: the loop is single-threaded and the
 * reader copies what it keeps. */
static char client_readbuf[64 * 1024];

static void client_write_cb(evutil_socket_t fd, short what, void *arg);
static void upstream_read_cb(evutil_socket_t fd, short what, void *arg);
static void upstream_write_cb(evutil_socket_t fd, short what, void *arg);
static void upstream_fail(struct proxy_client *c, const char *reason, int connecting);

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "ferry: out of memory\n");
        abort();
    }
    return p;
}

/* ------------------------------------------------------------------ slots */

static struct proxy_slot *slot_new(int kind)
{
    struct proxy_slot *s = xcalloc(1, sizeof(*s));
    s->kind = (uint8_t)kind;
    return s;
}

static void slot_free(struct proxy_slot *s)
{
    if (s->buf)
        evbuffer_free(s->buf);
    free(s);
}

/* Appends s to the queue. While the client is raw, the raw slot stays last,
 * so a local reply goes in front of it. */
static void slot_enqueue(struct proxy_client *c, struct proxy_slot *s)
{
    if (c->raw == NULL || s == c->raw) {
        if (c->tail)
            c->tail->next = s;
        else
            c->head = s;
        c->tail = s;
        return;
    }
    struct proxy_slot **pp = &c->head;
    while (*pp != c->raw)
        pp = &(*pp)->next;
    s->next = c->raw;
    *pp = s;
}

/* Where bytes for slot s go now. */
static struct evbuffer *slot_dest(struct proxy_client *c, struct proxy_slot *s)
{
    if (s == c->head && (s->buf == NULL || evbuffer_get_length(s->buf) == 0))
        return c->out;
    if (s->buf == NULL)
        s->buf = evbuffer_new();
    return s->buf;
}

static int slot_done(const struct proxy_slot *s)
{
    switch (s->kind) {
    case PROXY_SLOT_LOCAL:
        return s->filled;
    case PROXY_SLOT_UPSTREAM:
        return s->expect == 0;
    default:
        return 0;
    }
}

/* Moves answered slots from the head of the queue to the output. */
static void client_flush_slots(struct proxy_client *c)
{
    struct proxy_slot *s;
    while ((s = c->head) != NULL) {
        if (s->buf && evbuffer_get_length(s->buf) > 0)
            evbuffer_add_buffer(c->out, s->buf);
        if (!slot_done(s))
            break;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        PROXY_ASSERT(c->up_next != s);
        slot_free(s);
    }
}

/* The next UPSTREAM slot after s that still expects replies. */
static struct proxy_slot *next_upstream_slot(struct proxy_slot *s)
{
    for (s = s->next; s; s = s->next)
        if (s->kind == PROXY_SLOT_UPSTREAM && s->expect > 0)
            return s;
    return NULL;
}

/* ------------------------------------------------------------------ flushing */

static void client_mark_dirty(struct proxy_client *c)
{
    struct proxy_server *srv = c->srv;
    if (c->dirty || c->gone)
        return;
    c->dirty = 1;
    c->dirty_prev = NULL;
    c->dirty_next = srv->dirty;
    if (srv->dirty)
        srv->dirty->dirty_prev = c;
    srv->dirty = c;
    event_active(srv->flush_ev, EV_WRITE, 0);
}

static void client_unmark_dirty(struct proxy_client *c)
{
    if (!c->dirty)
        return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        c->srv->dirty = c->dirty_next;
    if (c->dirty_next)
        c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty = 0;
    c->dirty_prev = c->dirty_next = NULL;
}

static void client_pause_reading(struct proxy_client *c)
{
    if (!c->read_paused && c->rev) {
        event_del(c->rev);
        c->read_paused = 1;
    }
}

static void client_resume_reading(struct proxy_client *c)
{
    if (c->read_paused && !c->close_after_reply && !c->srv->shutting_down) {
        event_add(c->rev, NULL);
        c->read_paused = 0;
    }
}

/* Writes what the upstream connection has queued. Returns -1 when the
 * upstream failed (already handled). */
static int upstream_flush(struct proxy_client *c)
{
    struct proxy_upstream *up = &c->up;
    if (up->state != PROXY_UP_READY)
        return 0;
    while (evbuffer_get_length(up->out) > 0) {
        int n = evbuffer_write(up->out, up->fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            upstream_fail(c, strerror(errno), 0);
            return -1;
        }
        if (n == 0)
            break;
    }
    size_t left = evbuffer_get_length(up->out);
    if (left > 0)
        event_add(up->wev, NULL);
    else
        event_del(up->wev);
    /* The upstream reads slower than the client writes: stop reading the
     * client until it catches up. */
    if (left > PROXY_OUT_HIGH)
        client_pause_reading(c);
    else if (left < PROXY_OUT_LOW)
        client_resume_reading(c);
    return 0;
}

/* Sends what can be sent to the client and its upstream, and closes the
 * client when it is done. May free c. */
static void client_flush(struct proxy_client *c)
{
    if (c->gone)
        return;
    if (upstream_flush(c) < 0 && c->gone)
        return;
    client_flush_slots(c);
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            proxy_log_verbose("client %s: write failed: %s", c->addr, strerror(errno));
            proxy_client_close(c);
            return;
        }
        if (n == 0)
            break;
    }
    size_t left = evbuffer_get_length(c->out);
    if (left > 0 && !c->wev_pending) {
        event_add(c->wev, NULL);
        c->wev_pending = 1;
    } else if (left == 0 && c->wev_pending) {
        event_del(c->wev);
        c->wev_pending = 0;
    }
    if (c->up.read_paused && left < PROXY_OUT_LOW && c->up.state == PROXY_UP_READY) {
        event_add(c->up.rev, NULL);
        c->up.read_paused = 0;
    }
    if (c->close_after_reply && c->head == NULL && left == 0)
        proxy_client_close(c);
}

void proxy_client_flush_all(struct proxy_server *srv)
{
    struct proxy_client *c;
    while ((c = srv->dirty) != NULL) {
        client_unmark_dirty(c);
        client_flush(c);
    }
}

static void client_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_client *c = arg;
    c->wev_pending = 0; /* a non-persistent event fired: it is no longer added */
    client_flush(c);
}

/* ------------------------------------------------------------------ local replies */

struct proxy_slot *proxy_client_reserve(struct proxy_client *c)
{
    struct proxy_slot *s = slot_new(PROXY_SLOT_LOCAL);
    c->unfilled++;
    if (c->gone)
        return s; /* never queued: fill only frees it */
    slot_enqueue(c, s);
    return s;
}

static void client_free(struct proxy_client *c);

void proxy_slot_fill(struct proxy_client *c, struct proxy_slot *s, const char *reply, size_t len)
{
    PROXY_ASSERT(s->kind == PROXY_SLOT_LOCAL && !s->filled);
    PROXY_ASSERT(c->unfilled > 0);
    s->filled = 1;
    c->unfilled--;
    if (c->gone) {
        /* Slots of a closed client are no longer queued; the last fill frees
         * the client. */
        slot_free(s);
        if (c->unfilled == 0)
            client_free(c);
        return;
    }
    evbuffer_add(slot_dest(c, s), reply, len);
    if (s == c->head)
        client_flush_slots(c);
    client_mark_dirty(c);
}

void proxy_client_reply(struct proxy_client *c, const char *reply, size_t len)
{
    proxy_slot_fill(c, proxy_client_reserve(c), reply, len);
}

void proxy_client_reply_error(struct proxy_client *c, const char *err)
{
    struct resp_buf b = {0};
    resp_add_error(&b, err);
    proxy_client_reply(c, b.data, b.len);
    resp_buf_fini(&b);
}

void proxy_client_close_after_reply(struct proxy_client *c)
{
    c->close_after_reply = 1;
    client_pause_reading(c);
    client_mark_dirty(c);
}

void **proxy_client_node_state(struct proxy_client *c)
{
    return &c->node_state;
}

uint64_t proxy_client_id(const struct proxy_client *c)
{
    return c->id;
}

struct proxy_server *proxy_client_server(struct proxy_client *c)
{
    return c->srv;
}

/* ------------------------------------------------------------------ upstream */

static void upstream_reset(struct proxy_upstream *up)
{
    if (up->rev)
        event_free(up->rev);
    if (up->wev)
        event_free(up->wev);
    if (up->connect_timer)
        event_free(up->connect_timer);
    up->rev = up->wev = up->connect_timer = NULL;
    if (up->fd >= 0)
        close(up->fd);
    up->fd = -1;
    up->state = PROXY_UP_IDLE;
    if (up->in)
        evbuffer_drain(up->in, evbuffer_get_length(up->in));
    if (up->out)
        evbuffer_drain(up->out, evbuffer_get_length(up->out));
    resp_scanner_init(&up->scan);
    up->scanned = 0;
    up->hidden = 0;
    up->read_paused = 0;
}

static const char *upstream_name(const struct proxy_server *srv, char *buf, size_t len)
{
    const struct proxy_config *cfg = &srv->cfg;
    if (strchr(cfg->upstream_host, ':'))
        snprintf(buf, len, "[%s]:%d", cfg->upstream_host, cfg->upstream_port);
    else
        snprintf(buf, len, "%s:%d", cfg->upstream_host, cfg->upstream_port);
    return buf;
}

static void upstream_error_reply(struct proxy_client *c, struct evbuffer *dst, const char *reason)
{
    char name[300];
    evbuffer_add_printf(dst, "-ERR ferry: upstream %s unavailable (%s)\r\n",
                        upstream_name(c->srv, name, sizeof(name)), reason);
    c->srv->stats.upstream_errors++;
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

/* The upstream connection is gone: every reply still expected from it
 * becomes an error, and a client whose connection state lived there is
 * closed once those errors are sent. */
static void upstream_fail(struct proxy_client *c, const char *reason, int connecting)
{
    if (connecting)
        upstream_mark_down(c->srv, reason);
    else
        proxy_log_verbose("client %s: upstream connection lost (%s)", c->addr, reason);
    upstream_reset(&c->up);
    for (struct proxy_slot *s = c->up_next; s; s = s->next) {
        if (s->kind != PROXY_SLOT_UPSTREAM)
            continue;
        for (; s->expect > 0; s->expect--)
            upstream_error_reply(c, slot_dest(c, s), reason);
    }
    c->up_next = NULL;
    if (c->raw || c->in_multi || c->watching || c->db_selected || c->named) {
        proxy_log_verbose("client %s: closing, its connection state was on the upstream",
                          c->addr);
        c->close_after_reply = 1;
        client_pause_reading(c);
    }
    client_flush_slots(c);
    client_mark_dirty(c);
}

static void upstream_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upstream_fail(arg, "connect timeout", 1);
}

static void upstream_connected(struct proxy_client *c)
{
    struct proxy_upstream *up = &c->up;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        upstream_fail(c, strerror(err), 1);
        return;
    }
    event_free(up->connect_timer);
    up->connect_timer = NULL;
    up->state = PROXY_UP_READY;
    upstream_mark_up(c->srv);
    event_add(up->rev, NULL);
    client_mark_dirty(c);
}

static int upstream_connect(struct proxy_client *c)
{
    struct proxy_server *srv = c->srv;
    struct proxy_upstream *up = &c->up;
    const struct proxy_config *cfg = &srv->cfg;
    if (srv->upstream.down && proxy_now_ms() < srv->upstream.retry_at_ms)
        return -1;

    /* Resolution blocks; it only happens when a client opens its upstream
     * connection, and for the usual IP literal or /etc/hosts name it does
     * not touch the network (docs/ARCHITECTURE.md). */
    char port[8];
    snprintf(port, sizeof(port), "%d", cfg->upstream_port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(cfg->upstream_host, port, &hints, &ai);
    if (gai != 0) {
        upstream_mark_down(srv, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        upstream_mark_down(srv, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        upstream_mark_down(srv, strerror(err));
        return -1;
    }
    up->fd = fd;
    up->state = PROXY_UP_CONNECTING;
    if (up->in == NULL) {
        up->in = evbuffer_new();
        up->out = evbuffer_new();
    }
    up->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, upstream_read_cb, c);
    up->wev = event_new(srv->base, fd, EV_WRITE, upstream_write_cb, c);
    up->connect_timer = evtimer_new(srv->base, upstream_connect_timeout_cb, c);
    struct timeval tv = {cfg->upstream_connect_timeout / 1000,
                         (cfg->upstream_connect_timeout % 1000) * 1000};
    evtimer_add(up->connect_timer, &tv);
    event_add(up->wev, NULL);
    if (cfg->upstream_password) {
        /* Our AUTH goes first; its reply is swallowed (upstream_route). */
        const char *argv[3] = {"AUTH", cfg->upstream_user, cfg->upstream_password};
        size_t argvlen[3] = {4, cfg->upstream_user ? strlen(cfg->upstream_user) : 0,
                             strlen(cfg->upstream_password)};
        struct resp_buf b = {0};
        if (cfg->upstream_user) {
            resp_add_command(&b, 3, argv, argvlen);
        } else {
            argv[1] = argv[2];
            argvlen[1] = argvlen[2];
            resp_add_command(&b, 2, argv, argvlen);
        }
        evbuffer_add(up->out, b.data, b.len);
        resp_buf_fini(&b);
        up->hidden = 1;
    }
    return 0;
}

static void upstream_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct proxy_client *c = arg;
    if (c->up.state == PROXY_UP_CONNECTING) {
        upstream_connected(c);
        return;
    }
    upstream_flush(c);
}

/* Feeds the scanner from offset `scanned` of the input until a reply ends
 * (RESP_OK: the first `scanned` bytes hold whole replies) or the input runs
 * out (RESP_AGAIN). */
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

/* Our own AUTH's reply: +OK, or an error that makes the upstream unusable. */
static int upstream_check_auth(struct proxy_client *c, size_t len)
{
    char first[160];
    size_t n = len < sizeof(first) - 1 ? len : sizeof(first) - 1;
    evbuffer_copyout(c->up.in, first, n);
    first[n] = '\0';
    evbuffer_drain(c->up.in, len);
    c->up.scanned -= len;
    c->up.hidden--;
    if (first[0] != '-')
        return 0;
    first[strcspn(first, "\r\n")] = '\0';
    char reason[200];
    snprintf(reason, sizeof(reason), "AUTH failed: %s", first + 1);
    upstream_fail(c, reason, 1);
    return -1;
}

/* Sends every complete reply in the upstream's input to its slot. Replies
 * bound for the same place are moved together, without copying whole
 * chains (evbuffer_remove_buffer). */
static void upstream_route(struct proxy_client *c)
{
    struct proxy_upstream *up = &c->up;
    struct evbuffer *batch_dst = NULL;
    size_t batch = 0; /* leading bytes of `in` bound for batch_dst */

    for (;;) {
        int rc = upstream_scan(up);
        if (rc == RESP_ERR) {
            upstream_fail(c, "protocol error in the upstream's reply", 0);
            return;
        }
        if (rc == RESP_AGAIN)
            break;
        if (up->hidden > 0) {
            PROXY_ASSERT(batch == 0);
            if (upstream_check_auth(c, up->scanned) < 0)
                return;
            continue;
        }
        struct proxy_slot *s = c->up_next ? c->up_next : c->raw;
        if (s == NULL) {
            upstream_fail(c, "reply to no request", 0);
            return;
        }
        int head_done = 0;
        if (s->kind == PROXY_SLOT_UPSTREAM && --s->expect == 0) {
            c->up_next = next_upstream_slot(s);
            head_done = (s == c->head);
        }
        struct evbuffer *dst = slot_dest(c, s);
        if (dst != batch_dst && batch > 0) {
            evbuffer_remove_buffer(up->in, batch_dst, batch);
            up->scanned -= batch;
        }
        batch_dst = dst;
        batch = up->scanned;
        if (head_done) {
            /* Later slots may now move up: deliver first, then flush. */
            evbuffer_remove_buffer(up->in, batch_dst, batch);
            up->scanned -= batch;
            batch = 0;
            batch_dst = NULL;
            client_flush_slots(c);
        }
    }
    if (batch > 0) {
        evbuffer_remove_buffer(up->in, batch_dst, batch);
        up->scanned -= batch;
    }
}

static void upstream_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct proxy_client *c = arg;
    struct proxy_upstream *up = &c->up;
    int n = evbuffer_read(up->in, fd, 64 * 1024);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        upstream_fail(c, strerror(errno), 0);
        return;
    }
    if (n == 0) {
        upstream_fail(c, "connection closed by upstream", 0);
        return;
    }
    upstream_route(c);
    if (c->up.state == PROXY_UP_READY && evbuffer_get_length(c->out) > PROXY_OUT_HIGH) {
        event_del(up->rev);
        up->read_paused = 1;
    }
    client_mark_dirty(c);
}

/* ------------------------------------------------------------------ requests */

static int cmd_is(const struct resp_request *r, int i, const char *name)
{
    size_t n = strlen(name);
    return i < r->argc && r->argvlen[i] == n && strncasecmp(r->argv[i], name, n) == 0;
}

/* Keeps the flags that say which connection state lives on the upstream. */
static void client_track_state(struct proxy_client *c, const struct resp_request *r)
{
    switch (r->argvlen[0]) {
    case 4:
        if (cmd_is(r, 0, "exec"))
            c->in_multi = c->watching = 0;
        break;
    case 5:
        if (cmd_is(r, 0, "multi"))
            c->in_multi = 1;
        else if (cmd_is(r, 0, "watch"))
            c->watching = 1;
        else if (cmd_is(r, 0, "reset"))
            c->in_multi = c->watching = c->db_selected = c->named = 0;
        break;
    case 6:
        if (cmd_is(r, 0, "select"))
            c->db_selected = !(r->argc == 2 && r->argvlen[1] == 1 && r->argv[1][0] == '0');
        else if (cmd_is(r, 0, "client") && cmd_is(r, 1, "setname"))
            c->named = 1;
        break;
    case 7:
        if (cmd_is(r, 0, "discard"))
            c->in_multi = c->watching = 0;
        else if (cmd_is(r, 0, "unwatch"))
            c->watching = 0;
        break;
    }
}

/* Commands after which replies no longer pair one-to-one with requests:
 * pushed messages (pub/sub, MONITOR) or suppressed replies (CLIENT REPLY). */
static int request_goes_raw(const struct resp_request *r)
{
    return cmd_is(r, 0, "subscribe") || cmd_is(r, 0, "psubscribe") ||
           cmd_is(r, 0, "ssubscribe") || cmd_is(r, 0, "monitor") ||
           (cmd_is(r, 0, "client") && (cmd_is(r, 1, "reply") || cmd_is(r, 1, "tracking")));
}

/* Appends a request to the upstream's output, as a multibulk (inline
 * requests are normalised). */
static void upstream_encode(struct evbuffer *out, const struct resp_request *r)
{
    char hdr[32];
    int n = snprintf(hdr, sizeof(hdr), "*%d\r\n", r->argc);
    evbuffer_add(out, hdr, (size_t)n);
    for (int i = 0; i < r->argc; i++) {
        n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", r->argvlen[i]);
        evbuffer_add(out, hdr, (size_t)n);
        evbuffer_add(out, r->argv[i], r->argvlen[i]);
        evbuffer_add(out, "\r\n", 2);
    }
}

static void client_forward(struct proxy_client *c, const struct resp_request *r)
{
    if (c->up.state == PROXY_UP_IDLE && upstream_connect(c) < 0) {
        struct proxy_slot *s = proxy_client_reserve(c);
        upstream_error_reply(c, slot_dest(c, s), c->srv->upstream.reason);
        s->filled = 1;
        c->unfilled--;
        client_flush_slots(c);
        client_mark_dirty(c);
        return;
    }
    client_track_state(c, r);
    upstream_encode(c->up.out, r);
    if (c->raw)
        return; /* its replies, whatever they are, flow through the raw slot */
    if (request_goes_raw(r)) {
        c->raw = slot_new(PROXY_SLOT_RAW);
        slot_enqueue(c, c->raw);
        return;
    }
    struct proxy_slot *t = c->tail;
    if (t && t->kind == PROXY_SLOT_UPSTREAM) {
        t->expect++;
    } else {
        t = slot_new(PROXY_SLOT_UPSTREAM);
        t->expect = 1;
        slot_enqueue(c, t);
    }
    if (c->up_next == NULL)
        c->up_next = t;
}

/* Constant-time comparison, so a wrong password leaks nothing by timing. */
static int secret_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
    return diff == 0;
}

/* Checks AUTH's arguments (user optional) against requirepass. */
static int client_check_password(struct proxy_client *c, int argc, char **argv,
                                 const size_t *argvlen)
{
    const char *pass = c->srv->cfg.requirepass;
    int user_ok = argc == 1 || (argvlen[0] == 7 && memcmp(argv[0], "default", 7) == 0);
    int ok = secret_equal(argv[argc - 1], argvlen[argc - 1], pass) && user_ok;
    if (ok)
        c->authenticated = 1;
    return ok;
}

static void client_auth(struct proxy_client *c, const struct resp_request *r)
{
    if (r->argc < 2 || r->argc > 3) {
        proxy_client_reply_error(c, "ERR wrong number of arguments for 'auth' command");
        return;
    }
    if (c->srv->cfg.requirepass == NULL) {
        proxy_client_reply_error(c, "ERR AUTH <password> called without any password "
                                    "configured for the default user. Are you sure your "
                                    "configuration is correct?");
        return;
    }
    if (client_check_password(c, r->argc - 1, r->argv + 1, r->argvlen + 1))
        proxy_client_reply(c, "+OK\r\n", 5);
    else
        proxy_client_reply_error(c, "WRONGPASS invalid username-password pair or user is "
                                    "disabled.");
}

/* HELLO: ferry speaks RESP2 only; AUTH inside HELLO is checked here when
 * ferry has its own password, and the rest goes where the phase says. */
static void client_dispatch_routed(struct proxy_client *c, struct resp_request *r);

/* Redis's string2ll for small protocol numbers: digits, optional '-'. */
static int parse_strict_ll(const char *p, size_t len, long long *out)
{
    if (len == 0 || len > 20)
        return -1;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end != p + len || p[0] == '+' || p[0] == ' ' || (p[0] == '0' && len > 1))
        return -1;
    *out = v;
    return 0;
}

static void client_hello(struct proxy_client *c, struct resp_request *r)
{
    if (r->argc >= 2) {
        long long ver;
        if (parse_strict_ll(r->argv[1], r->argvlen[1], &ver) < 0) {
            proxy_client_reply_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver != 2) {
            proxy_client_reply_error(c, "NOPROTO unsupported protocol version");
            return;
        }
    }
    if (c->srv->cfg.requirepass) {
        /* HELLO's grammar: [AUTH user pass] [SETNAME name], in any order. */
        int auth_at = -1;
        for (int i = 2; i < r->argc; i++) {
            int more = r->argc - 1 - i;
            if (cmd_is(r, i, "auth") && more >= 2) {
                auth_at = i;
                i += 2;
            } else if (cmd_is(r, i, "setname") && more >= 1) {
                i++;
            } else {
                break; /* the upstream words the syntax error */
            }
        }
        if (auth_at >= 0) {
            if (!client_check_password(c, 2, r->argv + auth_at + 1, r->argvlen + auth_at + 1)) {
                proxy_client_reply_error(c, "WRONGPASS invalid username-password pair or "
                                            "user is disabled.");
                return;
            }
            /* The upstream has its own credentials: drop ours. */
            int tail = r->argc - (auth_at + 3);
            memmove(r->argv + auth_at, r->argv + auth_at + 3, (size_t)tail * sizeof(*r->argv));
            memmove(r->argvlen + auth_at, r->argvlen + auth_at + 3,
                    (size_t)tail * sizeof(*r->argvlen));
            r->argc -= 3;
        } else if (!c->authenticated) {
            proxy_client_reply_error(
                c, "NOAUTH HELLO must be called with the client already authenticated, "
                   "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                   "authenticate the client and select the RESP protocol version at the "
                   "same time");
            return;
        }
    }
    client_dispatch_routed(c, r);
}

static void client_dispatch_routed(struct proxy_client *c, struct resp_request *r)
{
    if (c->srv->cfg.phase == PROXY_PHASE_REDIS)
        client_forward(c, r);
    else
        proxy_node_request(c, r);
}

static void client_dispatch(struct proxy_client *c, struct resp_request *r)
{
    int guarded = c->srv->cfg.requirepass != NULL && !c->authenticated;
    if (cmd_is(r, 0, "auth") && (c->srv->cfg.requirepass || c->srv->cfg.phase != PROXY_PHASE_REDIS)) {
        client_auth(c, r);
        return;
    }
    if (cmd_is(r, 0, "hello")) {
        client_hello(c, r);
        return;
    }
    if (cmd_is(r, 0, "quit")) {
        proxy_client_reply(c, "+OK\r\n", 5);
        proxy_client_close_after_reply(c);
        return;
    }
    if (guarded) {
        proxy_client_reply_error(c, "NOAUTH Authentication required.");
        return;
    }
    client_dispatch_routed(c, r);
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct proxy_client *c = arg;
    ssize_t n = read(fd, client_readbuf, sizeof(client_readbuf));
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n < 0)
            proxy_log_verbose("client %s: read failed: %s", c->addr, strerror(errno));
        proxy_client_close(c);
        return;
    }
    c->last_active_ms = proxy_now_ms();
    resp_reader_feed(c->reader, client_readbuf, (size_t)n);
    struct resp_request req;
    while (!c->close_after_reply) {
        int rc = resp_reader_next(c->reader, &req);
        if (rc == RESP_AGAIN)
            break;
        if (rc == RESP_ERR) {
            /* Redis's behaviour: the error, earlier replies flushed, close. */
            c->srv->stats.protocol_errors++;
            proxy_log_verbose("client %s: %s", c->addr, resp_reader_error(c->reader));
            proxy_client_reply_error(c, resp_reader_error(c->reader));
            proxy_client_close_after_reply(c);
            break;
        }
        c->srv->stats.commands++;
        client_dispatch(c, &req);
        if (c->gone)
            return;
    }
    client_mark_dirty(c);
}

/* ------------------------------------------------------------------ lifecycle */

void proxy_client_accept(struct proxy_server *srv, int fd, const char *addr)
{
    srv->stats.connections_received++;
    if (srv->nclients >= srv->cfg.maxclients) {
        static const char msg[] = "-ERR max number of clients reached\r\n";
        ssize_t ignored = write(fd, msg, sizeof(msg) - 1);
        (void)ignored;
        close(fd);
        srv->stats.connections_rejected++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (srv->cfg.tcp_keepalive > 0) {
        /* As Redis's anetKeepAlive: probes after `interval` idle seconds,
         * then every interval/3, three of them. */
        int idle = srv->cfg.tcp_keepalive, intvl = idle / 3 ? idle / 3 : 1, cnt = 3;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }
    struct proxy_client *c = xcalloc(1, sizeof(*c));
    c->id = ++srv->next_client_id;
    c->fd = fd;
    c->srv = srv;
    c->up.fd = -1;
    resp_scanner_init(&c->up.scan);
    c->out = evbuffer_new();
    c->reader = resp_reader_new(srv->cfg.proto_max_bulk_len);
    c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, client_read_cb, c);
    c->wev = event_new(srv->base, fd, EV_WRITE, client_write_cb, c);
    c->last_active_ms = proxy_now_ms();
    c->authenticated = srv->cfg.requirepass == NULL;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    c->next = srv->clients;
    if (srv->clients)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
    event_add(c->rev, NULL);
    proxy_log_debug("client %s connected (id %llu)", c->addr, (unsigned long long)c->id);
}

static void client_free(struct proxy_client *c)
{
    struct proxy_slot *s = c->head;
    while (s) {
        struct proxy_slot *next = s->next;
        slot_free(s);
        s = next;
    }
    if (c->up.in)
        evbuffer_free(c->up.in);
    if (c->up.out)
        evbuffer_free(c->up.out);
    evbuffer_free(c->out);
    resp_reader_free(c->reader);
    free(c);
}

void proxy_client_close(struct proxy_client *c)
{
    if (c->gone)
        return;
    struct proxy_server *srv = c->srv;
    client_unmark_dirty(c);
    event_free(c->rev);
    event_free(c->wev);
    c->rev = c->wev = NULL;
    close(c->fd);
    c->fd = -1;
    upstream_reset(&c->up);
    proxy_node_client_closed(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nclients--;
    c->gone = 1;
    proxy_log_debug("client %s closed (id %llu)", c->addr, (unsigned long long)c->id);
    /* Unfilled local slots still belong to the node; they are unhooked
     * from the queue and freed as they are filled. */
    struct proxy_slot *s = c->head;
    while (s) {
        struct proxy_slot *next = s->next;
        s->next = NULL;
        if (!(s->kind == PROXY_SLOT_LOCAL && !s->filled))
            slot_free(s);
        s = next;
    }
    c->head = c->tail = c->up_next = c->raw = NULL;
    if (c->unfilled == 0)
        client_free(c);
    proxy_server_client_gone(srv);
}

void proxy_client_shutdown(struct proxy_client *c)
{
    proxy_client_close_after_reply(c);
}

int proxy_client_idle_timed_out(const struct proxy_client *c, uint64_t now_ms)
{
    int timeout = c->srv->cfg.timeout;
    return timeout > 0 && c->head == NULL && c->raw == NULL &&
           now_ms - c->last_active_ms > (uint64_t)timeout * 1000;
}
