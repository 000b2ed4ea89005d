/* Client connections.
 *
 * In phase redis a client's stateless requests travel on a shared,
 * pipelined upstream connection. The first request that needs connection
 * state Redis keeps (MULTI, WATCH, SELECT, AUTH, CLIENT, subscriptions,
 * blocking pops, ...) gives the client its own upstream connection for the
 * rest of its life, so that state is exactly what a direct connection would
 * have. The switch is fenced: nothing is sent on the new connection before
 * the client's requests on the shared one are answered, so the client's
 * requests still execute in the order it sent them.
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

/* A client with this many requests unanswered on the shared connection
 * is reading its replies slower than it sends: it moves to its own
 * connection, where backpressure can hold replies in Redis instead. */
#define PROXY_SHARED_INFLIGHT_MAX 4096

static void client_write_cb(evutil_socket_t fd, short what, void *arg);
static void client_tls_handshake(struct proxy_client *c);
static void client_free(struct proxy_client *c);

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

static void splice_free(struct proxy_splice *sp);

static void slot_free(struct proxy_slot *s)
{
    if (s->buf)
        evbuffer_free(s->buf);
    splice_free(s->splice);
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
struct evbuffer *proxy_client_slot_dest(struct proxy_client *c, struct proxy_slot *s)
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
        return s->filled; /* RAW: set when the client is shutting down */
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
        slot_free(s);
    }
}

/* ------------------------------------------------------------------ splices */

/* In phase redis a client's transaction is Redis's, but AUTH (checked
 * against ferry's requirepass) and HELLO's refusals are ferry's. Queued in
 * MULTI, they get QUEUED from ferry, and their replies go into Redis's
 * reply to EXEC where they stood, as Redis would have run them there:
 * Redis counts the commands it queued, and an EXEC reply that is not an
 * array of that many (nil for a WATCHed key, EXECABORT) goes unchanged. */
struct proxy_splice {
    struct resp_buf replies; /* one after another */
    uint32_t *at;            /* each one's index in the reply the client gets */
    uint32_t n, cap;
    uint32_t queued; /* the elements of Redis's own reply */
};

static void splice_free(struct proxy_splice *sp)
{
    if (sp == NULL)
        return;
    resp_buf_fini(&sp->replies);
    free(sp->at);
    free(sp);
}

/* Whether a reply ferry makes for c's request now belongs in EXEC's. A
 * raw client's replies are a stream ferry does not take apart. */
static int client_queues_here(const struct proxy_client *c)
{
    return c->srv->cfg.phase == PROXY_PHASE_REDIS && c->in_multi && c->raw == NULL;
}

/* Answers c's request with reply (whole RESP), or queues it in c's
 * transaction: QUEUED now, the reply at EXEC. */
static void client_answer(struct proxy_client *c, const char *reply, size_t len)
{
    if (!client_queues_here(c)) {
        proxy_client_reply(c, reply, len);
        return;
    }
    struct proxy_splice *sp = c->multi_local;
    if (sp == NULL)
        sp = c->multi_local = xcalloc(1, sizeof(*sp));
    if (sp->n == sp->cap) {
        sp->cap = sp->cap ? sp->cap * 2 : 4;
        sp->at = realloc(sp->at, sp->cap * sizeof(*sp->at));
        PROXY_ASSERT(sp->at != NULL);
    }
    sp->at[sp->n] = c->multi_count + sp->n;
    sp->n++;
    resp_buf_append(&sp->replies, reply, len);
    c->queued = 1;
    proxy_client_reply(c, "+QUEUED\r\n", 9);
}

static void client_answer_error(struct proxy_client *c, const char *err)
{
    struct resp_buf b = {0};
    resp_add_error(&b, err);
    client_answer(c, b.data, b.len);
    resp_buf_fini(&b);
}

/* The length of the one whole reply at p[0..len). */
static size_t splice_next(const char *p, size_t len)
{
    struct resp_scanner sc;
    size_t used;
    resp_scanner_init(&sc);
    int rc = resp_scanner_scan(&sc, p, len, &used);
    PROXY_ASSERT(rc == RESP_OK);
    return used;
}

/* Writes Redis's reply to EXEC, p[0..len), to dest with sp's replies put
 * in. The upstream's scanner framed p whole, so each element is too. */
static void splice_write(const struct proxy_splice *sp, const char *p, size_t len,
                         struct evbuffer *dest)
{
    const char *crlf = len > 1 && p[0] == '*' ? memchr(p, '\r', len) : NULL;
    long long count;
    if (crlf == NULL || !resp_string2ll(p + 1, (size_t)(crlf - p - 1), &count) ||
        count != (long long)sp->queued) {
        evbuffer_add(dest, p, len);
        return;
    }
    char head[32];
    evbuffer_add(dest, head, (size_t)snprintf(head, sizeof(head), "*%u\r\n", sp->queued + sp->n));
    size_t off = (size_t)(crlf - p) + 2, local = 0;
    for (uint32_t i = 0, k = 0; i < sp->queued + sp->n; i++) {
        size_t used;
        if (k < sp->n && sp->at[k] == i) {
            used = splice_next(sp->replies.data + local, sp->replies.len - local);
            evbuffer_add(dest, sp->replies.data + local, used);
            local += used;
            k++;
        } else {
            used = splice_next(p + off, len - off);
            evbuffer_add(dest, p + off, used);
            off += used;
        }
    }
}

/* ------------------------------------------------------------------ flushing */

void proxy_client_mark_dirty(struct proxy_client *c)
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
    if (c->read_paused && !c->close_after_reply && !c->killed && !c->srv->shutting_down) {
        event_add(c->rev, NULL);
        c->read_paused = 0;
        /* Requests TLS decrypted before the pause: no socket event is due. */
        if (proxy_tls_pending(c->ssl))
            event_active(c->rev, EV_READ, 0);
    }
}

/* The upstream this client's requests go to now. */
static struct proxy_upstream *client_upstream(struct proxy_client *c)
{
    return c->up ? c->up : c->shared;
}

/* One TLS write from the front of the client's output (proxy_tls_send):
 * the bytes written, 0 when the socket must become ready first, -1 when the
 * connection failed (logged). */
static int client_tls_send(struct proxy_client *c)
{
    int status;
    char why[256];
    ssize_t n = proxy_tls_send(c->ssl, c->out, &status, why, sizeof(why));
    if (n > 0)
        return (int)n;
    if (status == PROXY_TLS_WANT_READ) {
        c->write_wants_read = 1; /* the read event writes again */
        return 0;
    }
    if (status == PROXY_TLS_WANT_WRITE)
        return 0;
    if (status == PROXY_TLS_ERROR)
        proxy_log_verbose("client %s: %s", c->addr, why);
    return -1;
}

/* Sends what can be sent to the client and its own upstream, applies
 * backpressure, and closes the client when it is done. May free c. */
static void client_flush(struct proxy_client *c)
{
    if (c->gone)
        return;
    if (c->killed) {
        proxy_client_close(c);
        return;
    }
    if (c->up)
        proxy_upstream_flush(c->up);
    client_flush_slots(c);
    while (evbuffer_get_length(c->out) > 0) {
        if (c->ssl) {
            int n = client_tls_send(c);
            if (n < 0) {
                proxy_client_close(c);
                return;
            }
            if (n == 0)
                break;
            continue;
        }
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
    if (left > 0 && !c->wev_pending && !c->write_wants_read) {
        event_add(c->wev, NULL);
        c->wev_pending = 1;
    } else if (left == 0 && c->wev_pending) {
        event_del(c->wev);
        c->wev_pending = 0;
    }
    if (c->up && left < PROXY_OUT_LOW)
        proxy_upstream_resume(c->up);
    /* The upstream reads slower than the client writes: stop reading the
     * client until it catches up. */
    struct proxy_upstream *up = client_upstream(c);
    size_t queued = up ? evbuffer_get_length(up->out) : 0;
    if (queued > PROXY_OUT_HIGH)
        client_pause_reading(c);
    else if (queued < PROXY_OUT_LOW)
        client_resume_reading(c);
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
    if (c->tls_handshaking) {
        client_tls_handshake(c);
        return;
    }
    if (c->read_wants_write) {
        c->read_wants_write = 0;
        event_active(c->rev, EV_READ, 0);
    }
    client_flush(c);
}

/* ------------------------------------------------------------------ local replies */

struct proxy_slot *proxy_client_reserve(struct proxy_client *c)
{
    struct proxy_slot *s = slot_new(PROXY_SLOT_LOCAL);
    s->shape = c->resp3 ? c->reply_shape : RESP3_NONE;
    /* A request's shape is for the one slot it reserves; the proxy's own
     * replies after it (AUTH's, say) only have nulls to convert. */
    if (c->reply_shape != RESP3_NONE)
        c->reply_shape = RESP3_PLAIN;
    s->silent = c->silent;
    s->counts = c->rejected ? PROXY_COUNTS_REJECTED
                : c->queued ? PROXY_COUNTS_NOTHING
                            : PROXY_COUNTS_CALL;
    s->stat = c->stat; /* the first slot a request reserves times its reply */
    s->start_us = c->stat_start_us;
    c->stat = 0;
    c->unfilled++;
    if (c->gone)
        return s; /* never queued: fill only frees it */
    slot_enqueue(c, s);
    return s;
}

void proxy_slot_fill(struct proxy_client *c, struct proxy_slot *s, const char *reply, size_t len)
{
    PROXY_ASSERT(s->kind == PROXY_SLOT_LOCAL && !s->filled);
    PROXY_ASSERT(c->unfilled > 0);
    s->filled = 1;
    c->unfilled--;
    if (s->stat) {
        int error = len > 0 && reply[0] == '-';
        proxy_stats_reply(s->stat, proxy_mono_us() - s->start_us, error);
        if (s->counts == PROXY_COUNTS_CALL)
            proxy_stats_executed(s->stat, error);
        else if (s->counts == PROXY_COUNTS_REJECTED)
            proxy_stats_rejected(s->stat);
    }
    if (len > 0 && (reply[0] == '-' || reply[0] == '*'))
        proxy_stats_error_replies(s->stat, reply, len); /* even when dropped, as in Redis */
    if (c->gone) {
        /* Slots of a closed client are no longer queued; the last fill frees
         * the client. */
        slot_free(s);
        if (c->unfilled == 0 && c->shared_inflight == 0)
            client_free(c);
        return;
    }
    if (s->silent) {
        /* CLIENT REPLY OFF or SKIP: nothing to add, but messages pushed
         * into the slot's buffer while it waited still go out. */
    } else if (s->shape != RESP3_NONE) {
        static struct resp_buf conv; /* one loop thread: reused, not reallocated */
        resp_buf_reset(&conv);
        if (resp3_convert(s->shape, reply, len, &conv) == 0)
            evbuffer_add(proxy_client_slot_dest(c, s), conv.data, conv.len);
        else /* not whole RESP: a bug, but the client still gets an answer */
            evbuffer_add(proxy_client_slot_dest(c, s), reply, len);
        resp_buf_reset_shrink(&conv, 64 * 1024);
    } else {
        evbuffer_add(proxy_client_slot_dest(c, s), reply, len);
    }
    if (s == c->head)
        client_flush_slots(c);
    proxy_client_mark_dirty(c);
}

void proxy_client_reply(struct proxy_client *c, const char *reply, size_t len)
{
    proxy_slot_fill(c, proxy_client_reserve(c), reply, len);
}

int proxy_client_reply_mode(struct proxy_client *c, const char *word, size_t len)
{
    if (proxy_arg_is(word, len, "on")) {
        c->reply_off = c->reply_skip = c->silent = 0;
    } else if (proxy_arg_is(word, len, "off")) {
        c->reply_off = c->silent = 1;
    } else if (proxy_arg_is(word, len, "skip")) {
        /* Redis ignores SKIP while replies are off; SKIP itself has no reply. */
        c->reply_skip = !c->reply_off;
        c->silent = 1;
    } else {
        return -1;
    }
    return 0;
}

void proxy_client_reply_mode_step(struct proxy_client *c)
{
    if (c->stepped)
        return;
    c->stepped = 1;
    c->silent = c->reply_off || c->reply_skip;
    c->reply_skip = 0;
}

void proxy_client_reply_mode_unstep(struct proxy_client *c)
{
    if (!c->stepped)
        return;
    if (c->silent && !c->reply_off)
        c->reply_skip = 1; /* silent with replies on: the step took a SKIP */
    c->stepped = 0;
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
    proxy_client_mark_dirty(c);
}

void proxy_client_kill(struct proxy_client *c)
{
    if (c->gone || c->killed)
        return;
    c->killed = 1;
    client_pause_reading(c);
    proxy_client_mark_dirty(c);
}

int proxy_client_killed(const struct proxy_client *c)
{
    return c->killed || c->gone;
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

/* ------------------------------------------------------------------ replies from upstream */

void proxy_client_deliver(struct proxy_client *c, struct proxy_slot *s, struct evbuffer *src,
                          size_t len, unsigned n, int shared)
{
    if (shared) {
        PROXY_ASSERT(c->shared_inflight >= n);
        c->shared_inflight -= n;
    }
    if (c->gone) {
        evbuffer_drain(src, len);
        if (c->unfilled == 0 && c->shared_inflight == 0)
            client_free(c);
        return;
    }
    if (s->splice) {
        PROXY_ASSERT(n == 1); /* an EXEC with a splice has its own slot */
        splice_write(s->splice, (const char *)evbuffer_pullup(src, (ev_ssize_t)len), len,
                     proxy_client_slot_dest(c, s));
        evbuffer_drain(src, len);
    } else {
        evbuffer_remove_buffer(src, proxy_client_slot_dest(c, s), len);
    }
    if (s->kind == PROXY_SLOT_UPSTREAM) {
        PROXY_ASSERT(s->expect >= n);
        s->expect -= n;
        if (s->expect == 0 && s == c->head)
            client_flush_slots(c);
    }
    /* Whether it was the last reply it waited for or not, flush; the fence
     * on its own connection may have lifted too. */
    proxy_client_mark_dirty(c);
}

void proxy_client_push(struct proxy_client *c, struct evbuffer *src, size_t len)
{
    if (c->gone) {
        evbuffer_drain(src, len);
        return;
    }
    evbuffer_remove_buffer(src, c->tail ? proxy_client_slot_dest(c, c->tail) : c->out, len);
    proxy_client_mark_dirty(c);
}

size_t proxy_client_push_bytes(struct proxy_client *c, const void *p, size_t len)
{
    if (c->gone)
        return 0;
    evbuffer_add(c->tail ? proxy_client_slot_dest(c, c->tail) : c->out, p, len);
    proxy_client_mark_dirty(c);
    size_t waiting = evbuffer_get_length(c->out);
    for (struct proxy_slot *s = c->head; s; s = s->next)
        waiting += s->buf ? evbuffer_get_length(s->buf) : 0;
    return waiting;
}

void proxy_client_upstream_lost(struct proxy_client *c)
{
    if (c->raw || c->in_multi || c->watching || c->db_selected || c->identity || c->resp3) {
        proxy_log_verbose("client %s: closing, its connection state was on the upstream",
                          c->addr);
        proxy_client_close_after_reply(c);
    }
    c->wait_gap = 1; /* its writes went with the connection */
    proxy_client_mark_dirty(c);
}

/* ------------------------------------------------------------------ requests */

/* What the router needs to know of a command, by the command's index in
 * the generated table. Built once, so a request costs one table lookup. */
enum proxy_cmd_kind {
    PROXY_CMD_OTHER = 0,
    PROXY_CMD_AUTH,
    PROXY_CMD_HELLO,
    PROXY_CMD_QUIT,
    PROXY_CMD_MULTI,
    PROXY_CMD_EXEC,
    PROXY_CMD_DISCARD,
    PROXY_CMD_WATCH,
    PROXY_CMD_UNWATCH,
    PROXY_CMD_RESET,
    PROXY_CMD_SELECT,
    PROXY_CMD_CLIENT,
    PROXY_CMD_PUSHES, /* replies stop pairing with requests */
    PROXY_CMD_WAIT,
};

struct proxy_cmd_props {
    uint8_t kind;     /* enum proxy_cmd_kind */
    uint8_t own_conn; /* needs the client's own upstream connection */
    const struct resp_command *cmd; /* NULL: not a Redis command */
};

static struct proxy_cmd_props *cmd_props;

static void cmd_props_init(void)
{
    static const struct {
        const char *name;
        uint8_t kind;
        uint8_t own_conn;
    } special[] = {
        /* Connection state: these need the client's own connection. */
        {"auth", PROXY_CMD_AUTH, 1},        {"hello", PROXY_CMD_HELLO, 1},
        {"select", PROXY_CMD_SELECT, 1},    {"multi", PROXY_CMD_MULTI, 1},
        {"watch", PROXY_CMD_WATCH, 1},      {"reset", PROXY_CMD_RESET, 1},
        {"client", PROXY_CMD_CLIENT, 1},    {"readonly", PROXY_CMD_OTHER, 1},
        {"readwrite", PROXY_CMD_OTHER, 1},  {"asking", PROXY_CMD_OTHER, 1},
        {"monitor", PROXY_CMD_PUSHES, 1},   {"subscribe", PROXY_CMD_PUSHES, 1},
        {"psubscribe", PROXY_CMD_PUSHES, 1}, {"ssubscribe", PROXY_CMD_PUSHES, 1},
        {"unsubscribe", PROXY_CMD_OTHER, 1}, {"punsubscribe", PROXY_CMD_OTHER, 1},
        {"sunsubscribe", PROXY_CMD_OTHER, 1}, {"sync", PROXY_CMD_OTHER, 1},
        {"psync", PROXY_CMD_OTHER, 1},      {"replconf", PROXY_CMD_OTHER, 1},
        {"debug", PROXY_CMD_OTHER, 1},      {"wait", PROXY_CMD_WAIT, 1},
        /* Meaningful only after one of the above, so they never decide. */
        {"exec", PROXY_CMD_EXEC, 0},        {"discard", PROXY_CMD_DISCARD, 0},
        {"unwatch", PROXY_CMD_UNWATCH, 0},  {"quit", PROXY_CMD_QUIT, 0},
    };
    cmd_props = calloc((size_t)resp_ncommands, sizeof(*cmd_props));
    PROXY_ASSERT(cmd_props != NULL);
    for (int i = 0; i < resp_ncommands; i++)
        /* Blocking commands (Redis's own flag) would stall a shared one. */
        cmd_props[i] = (struct proxy_cmd_props){
            .own_conn = (resp_commands[i].flags & RESP_CMD_BLOCKING) != 0,
            .cmd = &resp_commands[i],
        };
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        const struct resp_command *cmd =
            resp_command_lookup(special[i].name, strlen(special[i].name));
        PROXY_ASSERT(cmd != NULL);
        cmd_props[cmd - resp_commands].kind = special[i].kind;
        cmd_props[cmd - resp_commands].own_conn = special[i].own_conn;
    }
}

static struct proxy_cmd_props request_props(const struct resp_request *r)
{
    if (cmd_props == NULL)
        cmd_props_init();
    const struct resp_command *cmd = resp_command_lookup(r->argv[0], r->argvlen[0]);
    /* An unknown command gets Redis's "unknown command" on any connection. */
    return cmd ? cmd_props[cmd - resp_commands] : (struct proxy_cmd_props){0, 0, NULL};
}

int proxy_arg_is(const char *arg, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(arg, word, len) == 0;
}

static int arg_is(const struct resp_request *r, int i, const char *name)
{
    return i < r->argc && proxy_arg_is(r->argv[i], r->argvlen[i], name);
}

/* Keeps the flags that say which connection state lives on the upstream. */
static void client_track_state(struct proxy_client *c, const struct resp_request *r, int kind)
{
    switch (kind) {
    case PROXY_CMD_MULTI:
        c->in_multi = 1;
        break;
    case PROXY_CMD_WATCH:
        c->watching = 1;
        break;
    case PROXY_CMD_EXEC:
    case PROXY_CMD_DISCARD:
        c->in_multi = c->watching = 0;
        break;
    case PROXY_CMD_UNWATCH:
        c->watching = 0;
        break;
    case PROXY_CMD_RESET:
        c->in_multi = c->watching = c->db_selected = c->identity = c->resp3 = 0;
        break;
    case PROXY_CMD_AUTH:
        /* Reaches here only when Redis checks it (or, in MULTI, refuses
         * it for a missing argument, which changes nothing). */
        if (r->argc >= 2)
            c->identity = 1;
        break;
    case PROXY_CMD_HELLO:
        if (r->argc >= 2)
            c->resp3 = r->argvlen[1] == 1 && r->argv[1][0] == '3';
        for (int i = 2; i < r->argc; i++)
            if (arg_is(r, i, "auth") || arg_is(r, i, "setname"))
                c->identity = 1;
        break;
    case PROXY_CMD_SELECT:
        c->db_selected = !(r->argc == 2 && r->argvlen[1] == 1 && r->argv[1][0] == '0');
        break;
    case PROXY_CMD_CLIENT:
        if (arg_is(r, 1, "setname") || arg_is(r, 1, "no-evict"))
            c->identity = 1;
        break;
    }
}

/* After these, replies no longer pair one-to-one with requests: pushed
 * messages (pub/sub, MONITOR) or suppressed replies (CLIENT REPLY). */
static int request_goes_raw(const struct resp_request *r, int kind)
{
    return kind == PROXY_CMD_PUSHES ||
           (kind == PROXY_CMD_CLIENT && (arg_is(r, 1, "reply") || arg_is(r, 1, "tracking")));
}

static void client_forward(struct proxy_client *c, const struct resp_request *r,
                           struct proxy_cmd_props props)
{
    struct proxy_server *srv = c->srv;
    if (c->up == NULL &&
        (srv->nshared == 0 || props.own_conn ||
         c->shared_inflight >= PROXY_SHARED_INFLIGHT_MAX ||
         evbuffer_get_length(c->out) > PROXY_OUT_HIGH)) {
        c->up = proxy_upstream_new(srv, c);
        proxy_log_debug("client %s: own upstream connection (%.*s)", c->addr,
                        (int)r->argvlen[0], r->argv[0]);
    }
    if (c->up == NULL && c->shared == NULL)
        c->shared = srv->shared[c->id % (uint64_t)srv->nshared];
    struct proxy_upstream *up = client_upstream(c);
    const char *why;
    if (proxy_upstream_ensure(up, &why) < 0) {
        struct proxy_slot *s = proxy_client_reserve(c);
        struct evbuffer *err = evbuffer_new();
        proxy_upstream_error_reply(srv, err, why);
        proxy_slot_fill(c, s, (const char *)evbuffer_pullup(err, -1), evbuffer_get_length(err));
        evbuffer_free(err);
        return;
    }
    int was_multi = c->in_multi;
    client_track_state(c, r, props.kind);
    /* EXEC takes the replies ferry made in its transaction (client_answer);
     * DISCARD and RESET drop them. Inside it, Redis queues every command
     * but MULTI and WATCH, which it refuses there at once. */
    struct proxy_splice *splice = NULL;
    if (was_multi && !c->in_multi) {
        if (props.kind == PROXY_CMD_EXEC && c->raw == NULL && c->multi_local) {
            splice = c->multi_local;
            splice->queued = c->multi_count;
        } else {
            splice_free(c->multi_local);
        }
        c->multi_local = NULL;
    } else if (!was_multi && c->in_multi) {
        c->multi_count = 0;
    } else if (c->in_multi && props.kind != PROXY_CMD_MULTI && props.kind != PROXY_CMD_WATCH) {
        c->multi_count++;
    }
    if (c->raw) {
        /* Its replies, whatever they are, flow through the raw slot. */
        proxy_upstream_send(up, c, NULL, r);
        if (props.kind == PROXY_CMD_RESET)
            proxy_upstream_send_reauth(up, 1);
        return;
    }
    if (request_goes_raw(r, props.kind)) {
        c->raw = slot_new(PROXY_SLOT_RAW);
        slot_enqueue(c, c->raw);
        proxy_upstream_send(up, c, NULL, r);
        return;
    }
    /* WAIT waits for replicas to have what its connection wrote; writes
     * sent on another are not counted, and a WAIT after them would answer
     * at once with replicas that never got them. The mark moves this
     * connection's offset past them first. Not inside MULTI: WAIT there
     * answers at once, counting the replicas that have all the master
     * has (so measured on redis-server 7.0), and the mark's reply would
     * join EXEC's. */
    if (up == c->shared) {
        if (props.cmd && (props.cmd->flags & (RESP_CMD_WRITE | RESP_CMD_MAY_REPLICATE)))
            c->wait_gap = 1;
    } else if (props.kind == PROXY_CMD_WAIT && c->wait_gap && !c->in_multi) {
        proxy_upstream_send_wait_mark(up);
        c->wait_gap = 0;
    }
    struct proxy_slot *t = c->tail;
    if (t == NULL || t->kind != PROXY_SLOT_UPSTREAM || t->up != up || t->splice || splice) {
        t = slot_new(PROXY_SLOT_UPSTREAM);
        t->up = up;
        t->splice = splice; /* its one reply is taken apart, alone */
        slot_enqueue(c, t);
    }
    t->expect++;
    if (up == c->shared)
        c->shared_inflight++;
    proxy_upstream_send(up, c, t, r);
    if (props.kind == PROXY_CMD_RESET)
        proxy_upstream_send_reauth(up, 0);
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
    /* No password: the default user is Redis's "nopass" user. */
    int ok = user_ok && (pass == NULL || secret_equal(argv[argc - 1], argvlen[argc - 1], pass));
    if (ok) {
        c->authenticated = 1;
        resp_reader_set_auth_required(c->reader, 0);
    }
    return ok;
}

void proxy_client_auth(struct proxy_client *c, int argc, char **argv, const size_t *len,
                       struct resp_buf *out)
{
    static const char wrongpass[] =
        "WRONGPASS invalid username-password pair or user is disabled.";
    /* Redis's arity (-2), then authCommand's own refusal of more. */
    if (argc < 2) {
        resp_add_error(out, "ERR wrong number of arguments for 'auth' command");
    } else if (argc > 3) {
        resp_add_error(out, "ERR syntax error");
    } else if (c->srv->cfg.requirepass == NULL && argc == 3) {
        /* Without a password the default user is Redis's "nopass" user:
         * any password is its password, and there is no other user. */
        if (len[1] == 7 && memcmp(argv[1], "default", 7) == 0)
            resp_add_simple(out, "OK");
        else
            resp_add_error(out, wrongpass);
    } else if (c->srv->cfg.requirepass == NULL) {
        resp_add_error(out, "ERR AUTH <password> called without any password configured for "
                            "the default user. Are you sure your configuration is correct?");
    } else if (client_check_password(c, argc - 1, argv + 1, len + 1)) {
        resp_add_simple(out, "OK");
    } else {
        resp_add_error(out, wrongpass);
    }
}

static void client_auth(struct proxy_client *c, const struct resp_request *r)
{
    struct resp_buf b = {0};
    proxy_client_auth(c, r->argc, r->argv, r->argvlen, &b);
    client_answer(c, b.data, b.len);
    resp_buf_fini(&b);
}

static void client_dispatch_routed(struct proxy_client *c, struct resp_request *r,
                                   struct proxy_cmd_props props);

/* HELLO: RESP3 passes to Redis in phase redis (the client is on its own
 * connection by then, and the scanner frames RESP3); in raft-only the node
 * converts the store's RESP2 replies (resp/resp3.c). AUTH inside HELLO is
 * checked here when ferry has its own password, and the rest goes where the
 * phase says. */
static int client_hello(struct proxy_client *c, struct resp_request *r,
                        struct proxy_cmd_props props)
{
    if (r->argc >= 2) {
        long long ver;
        if (!resp_string2ll(r->argv[1], r->argvlen[1], &ver)) {
            client_answer_error(c, "ERR Protocol version is not an integer or out of range");
            return 1;
        }
        if (ver != 2 && ver != 3) {
            client_answer_error(c, "NOPROTO unsupported protocol version");
            return 1;
        }
    }
    /* Without a password of ferry's own, phase redis leaves HELLO's AUTH to
     * Redis; where ferry serves, it checks it as Redis would. */
    if (c->srv->cfg.requirepass || c->srv->cfg.phase != PROXY_PHASE_REDIS) {
        /* HELLO's grammar: [AUTH user pass] [SETNAME name], in any order. */
        int auth_at = -1;
        for (int i = 2; i < r->argc; i++) {
            int more = r->argc - 1 - i;
            if (arg_is(r, i, "auth") && more >= 2) {
                auth_at = i;
                i += 2;
            } else if (arg_is(r, i, "setname") && more >= 1) {
                i++;
            } else {
                break; /* the upstream words the syntax error */
            }
        }
        if (auth_at >= 0) {
            if (!client_check_password(c, 2, r->argv + auth_at + 1, r->argvlen + auth_at + 1)) {
                client_answer_error(c, "WRONGPASS invalid username-password pair or "
                                       "user is disabled.");
                return 1;
            }
            if (c->srv->cfg.phase == PROXY_PHASE_REDIS) {
                /* The upstream has its own credentials: drop ours. (The
                 * node skips them itself, and MONITOR shows them redacted.) */
                int tail = r->argc - (auth_at + 3);
                memmove(r->argv + auth_at, r->argv + auth_at + 3,
                        (size_t)tail * sizeof(*r->argv));
                memmove(r->argvlen + auth_at, r->argvlen + auth_at + 3,
                        (size_t)tail * sizeof(*r->argvlen));
                r->argc -= 3;
                r->raw = NULL; /* what goes upstream is no longer what came in */
            }
        } else if (!c->authenticated) {
            client_answer_error(
                c, "NOAUTH HELLO must be called with the client already authenticated, "
                   "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                   "authenticate the client and select the RESP protocol version at the "
                   "same time");
            return 1;
        }
    }
    client_dispatch_routed(c, r, props);
    return 0;
}

static void client_dispatch_routed(struct proxy_client *c, struct resp_request *r,
                                   struct proxy_cmd_props props)
{
    if (c->srv->cfg.phase == PROXY_PHASE_REDIS)
        client_forward(c, r, props);
    else
        proxy_node_request(c, r);
}

static void client_run(struct proxy_client *c, struct resp_request *r,
                       struct proxy_cmd_props props);

static void client_dispatch(struct proxy_client *c, struct resp_request *r)
{
    struct proxy_cmd_props props = request_props(r);
    c->stat = proxy_stats_index(props.cmd, r->argc, r->argv, r->argvlen);
    proxy_stats_call(c->stat);
    /* Behind a blocking command the node keeps every request until it is
     * served, as Redis reads nothing more from a blocked client: an AUTH
     * or QUIT answered here at once would overtake the requests before it.
     * CLIENT PAUSE ALL holds AUTH, HELLO and QUIT too, but not the NOAUTH
     * refusals, which Redis makes before it looks at the pause. */
    if (c->srv->cfg.phase != PROXY_PHASE_REDIS &&
        (proxy_node_client_waits(c) ||
         (proxy_node_pauses_all() &&
          (c->authenticated || props.kind == PROXY_CMD_AUTH ||
           props.kind == PROXY_CMD_HELLO || props.kind == PROXY_CMD_QUIT)))) {
        proxy_node_request(c, r);
        return;
    }
    client_run(c, r, props);
}

void proxy_client_run(struct proxy_client *c, int argc, char **argv, size_t *len)
{
    struct resp_request r = {.argc = argc, .argv = argv, .argvlen = len};
    client_run(c, &r, request_props(&r));
}

/* A request answered here, from t0 on (stat: c->stat then): where ferry
 * serves (not phase redis, where Redis counts and times what it runs), it
 * counts as a run. */
static void client_ran_here(struct proxy_client *c, uint32_t stat, const struct resp_request *r,
                            uint64_t t0)
{
    if (c->srv->cfg.phase != PROXY_PHASE_REDIS)
        proxy_node_ran(c, stat, r, proxy_mono_ns() - t0);
}

static void client_run(struct proxy_client *c, struct resp_request *r,
                       struct proxy_cmd_props props)
{
    const struct proxy_config *cfg = &c->srv->cfg;
    /* A new request: the node decides whether its replies are dropped when
     * it runs it, the replies made here decide it below. */
    c->stepped = c->rejected = c->queued = 0;
    /* RESP2's subscribed mode refuses AUTH and HELLO too; the node words
     * the refusal (phase redis leaves it to Redis). */
    if ((props.kind == PROXY_CMD_AUTH || props.kind == PROXY_CMD_HELLO) &&
        cfg->phase != PROXY_PHASE_REDIS && proxy_node_client_subscribed(c)) {
        proxy_node_request(c, r);
        return;
    }
    /* In MULTI they are queued (Redis runs AUTH at EXEC), where the node
     * serves the transaction. */
    if ((props.kind == PROXY_CMD_AUTH || props.kind == PROXY_CMD_HELLO) &&
        cfg->phase != PROXY_PHASE_REDIS && proxy_node_client_in_multi(c)) {
        proxy_node_request(c, r);
        return;
    }
    switch (props.kind) {
    case PROXY_CMD_AUTH:
        /* Without a password of ferry's own, AUTH in phase redis is the
         * application's business with Redis. */
        if ((cfg->requirepass || cfg->phase != PROXY_PHASE_REDIS) &&
            !(client_queues_here(c) && r->argc < 2)) {
            /* (In a transaction Redis refuses AUTH's arity itself, and
             * EXEC then aborts.) */
            uint64_t t0 = proxy_mono_ns();
            uint32_t stat = c->stat;
            proxy_client_reply_mode_step(c);
            client_auth(c, r);
            client_ran_here(c, stat, r, t0);
            proxy_node_monitor(c, r);
            return;
        }
        break;
    case PROXY_CMD_HELLO: {
        /* Answered here (a refusal) or by whoever serves the phase. */
        uint64_t t0 = proxy_mono_ns();
        uint32_t stat = c->stat;
        proxy_client_reply_mode_step(c);
        if (client_hello(c, r, props)) {
            client_ran_here(c, stat, r, t0);
            proxy_node_monitor(c, r);
        }
        return;
    }
    case PROXY_CMD_QUIT:
        /* A raw client's replies are a stream ferry cannot put one of its
         * own into in order: Redis answers QUIT there (or drops the reply,
         * after CLIENT REPLY OFF) and closes, and the client goes with it. */
        if (cfg->phase == PROXY_PHASE_REDIS && c->raw && c->up)
            break;
        proxy_node_monitor(c, r);
        proxy_client_reply_mode_step(c);
        proxy_client_reply(c, "+OK\r\n", 5);
        proxy_client_close_after_reply(c);
        return;
    }
    if (!c->authenticated) {
        proxy_client_reply_mode_step(c);
        c->rejected = 1;
        proxy_client_reply_error(c, "NOAUTH Authentication required.");
        return;
    }
    client_dispatch_routed(c, r, props);
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct proxy_client *c = arg;
    struct proxy_server *srv = c->srv;
    srv->io.reads++;
    srv->io.client_reads++;
    if (srv->io.last_client == c->id) {
        srv->io.streak++;
    } else {
        srv->io.last_client = c->id;
        srv->io.streak = 1;
    }
    ssize_t n;
    if (c->ssl) {
        if (c->tls_handshaking) {
            client_tls_handshake(c);
            return;
        }
        if (c->write_wants_read) {
            c->write_wants_read = 0;
            proxy_client_mark_dirty(c);
        }
        int status;
        char why[256];
        n = proxy_tls_read(c->ssl, client_readbuf, sizeof(client_readbuf), &status, why,
                           sizeof(why));
        if (n < 0) {
            if (status == PROXY_TLS_WANT_READ)
                return;
            if (status == PROXY_TLS_WANT_WRITE) {
                c->read_wants_write = 1;
                if (!c->wev_pending) {
                    event_add(c->wev, NULL);
                    c->wev_pending = 1;
                }
                return;
            }
            if (status == PROXY_TLS_ERROR)
                proxy_log_verbose("client %s: %s", c->addr, why);
            proxy_client_close(c);
            return;
        }
    } else {
        n = read(fd, client_readbuf, sizeof(client_readbuf));
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            if (n < 0)
                proxy_log_verbose("client %s: read failed: %s", c->addr, strerror(errno));
            proxy_client_close(c);
            return;
        }
    }
    c->last_active_ms = proxy_now_ms();
    uint64_t now_us = proxy_mono_us(); /* every request of this read arrived now */
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
        c->stat_start_us = now_us;
        client_dispatch(c, &req);
        c->stat = 0; /* a request that reserved no reply (SUBSCRIBE) is not timed */
        if (c->gone)
            return;
    }
    proxy_client_mark_dirty(c);
    /* TLS may hold decrypted requests no socket event will announce. */
    if (c->ssl && !c->read_paused && proxy_tls_pending(c->ssl))
        event_active(c->rev, EV_READ, 0);
}

/* One step of a tls-port client's handshake; its requests are read once it
 * is over. A client that fails it is closed (logged at verbose). */
static void client_tls_handshake(struct proxy_client *c)
{
    char why[256];
    switch (proxy_tls_handshake(c->ssl, why, sizeof(why))) {
    case PROXY_TLS_OK:
        c->tls_handshaking = 0;
        if (proxy_tls_pending(c->ssl))
            event_active(c->rev, EV_READ, 0);
        break;
    case PROXY_TLS_WANT_READ:
        break; /* the read event is always on */
    case PROXY_TLS_WANT_WRITE:
        if (!c->wev_pending) {
            event_add(c->wev, NULL);
            c->wev_pending = 1;
        }
        break;
    default:
        proxy_log_verbose("client %s: %s", c->addr, why);
        proxy_client_close(c);
    }
}

/* ------------------------------------------------------------------ lifecycle */

static struct proxy_client *client_accept(struct proxy_server *srv, int fd, const char *addr,
                                          int tls)
{
    srv->stats.connections_received++;
    if (srv->nclients >= srv->cfg.maxclients) {
        /* As Redis: on tls-port no handshake has happened, so nothing is
         * written (it would read as a broken record) and the client just
         * drops. */
        static const char msg[] = "-ERR max number of clients reached\r\n";
        if (!tls) {
            ssize_t ignored = write(fd, msg, sizeof(msg) - 1);
            (void)ignored;
        }
        close(fd);
        srv->stats.connections_rejected++;
        return NULL;
    }
    struct sockaddr_storage local;
    socklen_t locallen = sizeof(local);
    int named = getsockname(fd, (struct sockaddr *)&local, &locallen) == 0;
    int unix_socket = named && local.ss_family == AF_UNIX;
    int one = 1;
    if (!unix_socket)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!unix_socket)
        proxy_tcp_keepalive(fd, srv->cfg.tcp_keepalive);
    struct proxy_client *c = xcalloc(1, sizeof(*c));
    c->id = ++srv->next_client_id;
    c->fd = fd;
    c->srv = srv;
    c->out = evbuffer_new();
    c->reader = resp_reader_new(srv->cfg.proto_max_bulk_len);
    c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, client_read_cb, c);
    c->wev = event_new(srv->base, fd, EV_WRITE, client_write_cb, c);
    c->last_active_ms = proxy_now_ms();
    c->authenticated = srv->cfg.requirepass == NULL;
    /* Redis's tighter limits (10 arguments, 16 KB bulks) for clients that
     * have not authenticated: an unauthenticated peer cannot make ferry
     * buffer much. */
    resp_reader_set_auth_required(c->reader, !c->authenticated);
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    c->unix_socket = unix_socket;
    if (named)
        proxy_format_addr((struct sockaddr *)&local, c->laddr, sizeof(c->laddr));
    else
        snprintf(c->laddr, sizeof(c->laddr), "?");
    c->created_ms = c->last_active_ms;
    c->prev = srv->clients_tail;
    if (srv->clients_tail)
        srv->clients_tail->next = c;
    else
        srv->clients = c;
    srv->clients_tail = c;
    srv->nclients++;
    event_add(c->rev, NULL);
    proxy_log_debug("client %s connected (id %llu)", c->addr, (unsigned long long)c->id);
    return c;
}

struct proxy_client *proxy_client_accept(struct proxy_server *srv, int fd, const char *addr)
{
    return client_accept(srv, fd, addr, 0);
}

void proxy_client_accept_tls(struct proxy_server *srv, int fd, const char *addr)
{
    struct proxy_client *c = client_accept(srv, fd, addr, 1);
    if (c == NULL)
        return;
    c->ssl = proxy_tls_accepted(srv, fd);
    if (c->ssl == NULL) {
        proxy_log_warning("client %s: cannot start TLS: out of memory", c->addr);
        proxy_client_close(c);
        return;
    }
    c->tls_handshaking = 1;
}

static void client_free(struct proxy_client *c)
{
    struct proxy_slot *s = c->head;
    while (s) {
        struct proxy_slot *next = s->next;
        slot_free(s);
        s = next;
    }
    proxy_upstream_free(c->up);
    splice_free(c->multi_local);
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
    proxy_tls_close(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    /* Its own connection goes with it; replies still due on the shared one
     * are drained as they come (proxy_client_deliver). */
    proxy_upstream_free(c->up);
    c->up = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        srv->clients_tail = c->prev;
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
    c->head = c->tail = c->raw = NULL;
    /* The client is closed for good now, so the node may fill its slots
     * from inside the call; the extra count keeps c alive across it. */
    c->unfilled++;
    proxy_node_client_closed(c);
    c->unfilled--;
    if (c->unfilled == 0 && c->shared_inflight == 0)
        client_free(c);
    proxy_server_client_gone(srv);
}

void proxy_client_shutdown(struct proxy_client *c)
{
    /* A subscriber is owed nothing but what already arrived: its raw slot
     * ends here, so it closes once that is flushed. */
    if (c->raw)
        c->raw->filled = 1;
    proxy_client_close_after_reply(c);
}

int proxy_client_idle_timed_out(const struct proxy_client *c, uint64_t now_ms)
{
    int timeout = c->srv->cfg.timeout;
    return timeout > 0 && c->head == NULL && c->raw == NULL &&
           now_ms - c->last_active_ms > (uint64_t)timeout * 1000 &&
           !proxy_node_client_subscribed(c) && !proxy_node_client_waits(c);
}
