/* The HTTP admin endpoint (admin-port), on libevent's evhttp in the same
 * loop as everything else:
 *
 *   /healthz  200 "ok" whenever the loop turns: the process is alive.
 *   /readyz   200 "ready" when ferry can serve in its phase, else 503 and
 *             the reason. Phase redis: the upstream accepts a connection
 *             (ferry keeps one of its own open for the question; while it
 *             is being opened, the answer waits for the outcome, at most
 *             upstream-connect-timeout). raft-only: commits succeed. While
 *             shutting down: 503.
 *   /metrics  Prometheus text format 0.0.4: per-command requests, errors
 *             and latency histograms (stats.c), connections, the upstream
 *             or the store and its log, and the usual process_* figures.
 *
 * Only GET and HEAD are served (libevent answers anything else with 501),
 * and an unknown path gets 404. */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proxy/core.h"
#include "store/store.h"

/* A /readyz waiting for the probe connection to open or fail. */
struct admin_wait {
    struct admin_wait *next;
    struct evhttp_request *req;
};

struct proxy_admin {
    struct proxy_server *srv;
    struct evhttp *http;
    struct proxy_upstream *probe; /* phase redis: opened by the first /readyz */
    struct admin_wait *waits;
    struct evconnlistener *listener;
};

/* The running endpoint (one per process): a pause's timer that outlives
 * it finds nothing to resume. */
static struct proxy_admin *admin_current;

/* ------------------------------------------------------------------ replies */

static void admin_send(struct evhttp_request *req, int code, const char *reason, const char *type,
                       struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reason, body);
}

static void admin_send_text(struct evhttp_request *req, int code, const char *reason,
                            const char *text)
{
    struct evbuffer *body = evbuffer_new();
    evbuffer_add_printf(body, "%s\n", text);
    admin_send(req, code, reason, "text/plain; charset=utf-8", body);
    evbuffer_free(body);
}

/* ------------------------------------------------------------------ readiness */

/* 1 ready, 0 not (why in buf), -1 not known yet (the probe is connecting). */
static int admin_ready(struct proxy_admin *a, char *why, size_t len)
{
    struct proxy_server *s = a->srv;
    if (s->shutting_down) {
        snprintf(why, len, "shutting down");
        return 0;
    }
    if (s->cfg.phase != PROXY_PHASE_REDIS) {
        struct proxy_info_node node;
        proxy_node_figures(&node);
        if (node.commit_failing) {
            snprintf(why, len, "store commits failing (%d in a row; the log says why)",
                     node.commit_failing);
            return 0;
        }
        return 1;
    }
    if (a->probe == NULL)
        a->probe = proxy_upstream_new(s, NULL);
    if (a->probe->state == PROXY_UP_READY)
        return 1;
    const char *reason;
    if (a->probe->state == PROXY_UP_IDLE && proxy_upstream_ensure(a->probe, &reason) < 0) {
        char name[300]; /* host (at most PROXY_CONFIG_HOST_MAX) and port */
        proxy_config_get(&s->cfg, "upstream", name, sizeof(name));
        snprintf(why, len, "upstream %s unavailable (%s)", name, reason);
        return 0;
    }
    return -1;
}

static void admin_answer_ready(struct proxy_admin *a, struct evhttp_request *req)
{
    char why[600];
    int ready = admin_ready(a, why, sizeof(why));
    if (ready == 1) {
        admin_send_text(req, 200, "OK", "ready");
    } else if (ready == 0) {
        admin_send_text(req, 503, "Service Unavailable", why);
    } else {
        struct admin_wait *w = calloc(1, sizeof(*w));
        PROXY_ASSERT(w != NULL);
        w->req = req;
        w->next = a->waits;
        a->waits = w;
    }
}

void proxy_admin_upstream_event(struct proxy_server *s)
{
    struct proxy_admin *a = s->admin;
    if (a == NULL || a->probe == NULL || a->probe->state == PROXY_UP_RESOLVING ||
        a->probe->state == PROXY_UP_CONNECTING)
        return;
    struct admin_wait *w = a->waits;
    a->waits = NULL;
    while (w) {
        struct admin_wait *next = w->next;
        admin_answer_ready(a, w->req);
        free(w);
        w = next;
    }
}

/* A connection closed with its /readyz unanswered: libevent frees the
 * request, so it must leave the list first. */
static void admin_conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct proxy_admin *a = arg;
    for (struct admin_wait **p = &a->waits; *p;) {
        if (evhttp_request_get_connection((*p)->req) == conn) {
            struct admin_wait *gone = *p;
            *p = gone->next;
            free(gone);
        } else {
            p = &(*p)->next;
        }
    }
}

/* ------------------------------------------------------------------ metrics */

struct metrics {
    struct evbuffer *b;
};

static void m_family(struct metrics *m, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(m->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void m_value(struct metrics *m, const char *name, const char *type, const char *help,
                    unsigned long long v)
{
    m_family(m, name, type, help);
    evbuffer_add_printf(m->b, "%s %llu\n", name, v);
}

static void m_seconds_value(struct metrics *m, const char *name, const char *help, double v)
{
    m_family(m, name, "counter", help);
    evbuffer_add_printf(m->b, "%s %.6f\n", name, v);
}

/* Seconds from microseconds, as a short decimal: 0.000025, 2.5, 10. */
static void m_seconds(char *out, size_t len, uint64_t us)
{
    snprintf(out, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
             (unsigned long long)(us % 1000000));
    char *end = out + strlen(out) - 1;
    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
}

enum { M_CALLS, M_ERRORS, M_HIST };

struct m_cmd {
    struct metrics *m;
    int what;
};

static void m_cmd_line(const char *name, const struct proxy_cmdstat *st, void *arg)
{
    struct m_cmd *mc = arg;
    struct evbuffer *b = mc->m->b;
    if (mc->what == M_CALLS) {
        evbuffer_add_printf(b, "ferry_commands_total{command=\"%s\"} %llu\n", name,
                            (unsigned long long)st->calls);
    } else if (mc->what == M_ERRORS) {
        evbuffer_add_printf(b, "ferry_command_errors_total{command=\"%s\"} %llu\n", name,
                            (unsigned long long)st->errors);
    } else {
        uint64_t cum = 0;
        char le[32];
        for (int i = 0; i < PROXY_STAT_BUCKETS; i++) {
            cum += st->bucket[i];
            m_seconds(le, sizeof(le), proxy_stats_bucket_le_us(i));
            evbuffer_add_printf(b,
                                "ferry_command_duration_seconds_bucket{command=\"%s\",le=\"%s\"}"
                                " %llu\n",
                                name, le, (unsigned long long)cum);
        }
        char sum[32];
        m_seconds(sum, sizeof(sum), st->usec);
        evbuffer_add_printf(b,
                            "ferry_command_duration_seconds_bucket{command=\"%s\",le=\"+Inf\"} "
                            "%llu\n"
                            "ferry_command_duration_seconds_sum{command=\"%s\"} %s\n"
                            "ferry_command_duration_seconds_count{command=\"%s\"} %llu\n",
                            name, (unsigned long long)st->replies, name, sum[0] ? sum : "0", name,
                            (unsigned long long)st->replies);
    }
}

static void m_commands(struct metrics *m)
{
    struct m_cmd mc = {m, M_CALLS};
    m_family(m, "ferry_commands_total", "counter", "Requests received, by command.");
    proxy_stats_each(m_cmd_line, &mc);
    mc.what = M_ERRORS;
    m_family(m, "ferry_command_errors_total", "counter", "Error replies, by command.");
    proxy_stats_each(m_cmd_line, &mc);
    mc.what = M_HIST;
    m_family(m, "ferry_command_duration_seconds", "histogram",
             "From reading a request to having its whole reply, by command.");
    proxy_stats_each(m_cmd_line, &mc);
}

static void m_store(struct metrics *m, long long size)
{
    struct proxy_info_node node;
    proxy_node_figures(&node);
    struct store_stats st;
    store_get_stats(node.store, &st);
    struct store_log *log = store_log_of(node.store);
    m_value(m, "ferry_store_keys", "gauge", "Keys in the store.",
            (unsigned long long)store_key_count(node.store));
    m_value(m, "ferry_store_keys_with_expiry", "gauge", "Keys with a time to live.",
            (unsigned long long)store_expires_count(node.store));
    m_value(m, "ferry_store_used_bytes", "gauge", "Bytes of the store's map in use.",
            (unsigned long long)st.used_bytes);
    m_value(m, "ferry_store_size_bytes", "gauge", "The store's map size (store-size).",
            (unsigned long long)size);
    m_value(m, "ferry_store_expired_keys_total", "counter", "Keys deleted as expired.",
            (unsigned long long)st.expired_keys);
    m_value(m, "ferry_store_keyspace_hits_total", "counter", "Key lookups that found the key.",
            (unsigned long long)st.keyspace_hits);
    m_value(m, "ferry_store_keyspace_misses_total", "counter", "Key lookups that did not find it.",
            (unsigned long long)st.keyspace_misses);
    m_value(m, "ferry_store_journal_bytes", "gauge",
            "Journal bytes written since the last checkpoint.",
            (unsigned long long)st.journal_bytes);
    m_value(m, "ferry_store_checkpoints_total", "counter", "Journal checkpoints committed.",
            (unsigned long long)st.checkpoints);
    m_value(m, "ferry_store_checkpoint_failures_total", "counter",
            "Journal checkpoints the disk refused.", (unsigned long long)st.checkpoint_failures);
    m_value(m, "ferry_commits_total", "counter", "Commits of client writes.",
            (unsigned long long)node.commits);
    m_seconds_value(m, "ferry_commit_seconds_total", "Time spent in commits (write and sync).",
                    (double)node.commit_usec / 1e6);
    m_value(m, "ferry_commit_failures_total", "counter", "Commits that failed.",
            (unsigned long long)node.commit_failures);
    m_value(m, "ferry_commit_failing", "gauge",
            "1 while commits fail (writes are refused), else 0.", node.commit_failing ? 1 : 0);
    m_value(m, "ferry_entries_applied_total", "counter", "Log entries applied to the store.",
            (unsigned long long)node.entries);
    m_value(m, "ferry_blocked_clients", "gauge",
            "Clients waiting in a blocking command or held by CLIENT PAUSE.", node.blocked_clients);
    m_value(m, "ferry_raft_applied_index", "gauge", "Index of the last applied log entry.",
            (unsigned long long)store_applied_index(node.store));
    m_value(m, "ferry_raft_last_log_index", "gauge", "Index of the last log entry.",
            (unsigned long long)store_log_last_index(log));
    m_value(m, "ferry_raft_snapshot_index", "gauge", "Index the log was compacted up to.",
            (unsigned long long)store_log_snapshot_index(log));
}

static int admin_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

static void admin_metrics(struct proxy_admin *a, struct evbuffer *b)
{
    struct proxy_server *s = a->srv;
    struct metrics m = {b};
    m_family(&m, "ferry_info", "gauge", "Version and phase of this ferry (always 1).");
    evbuffer_add_printf(b, "ferry_info{version=\"%s\",phase=\"%s\"} 1\n", PROXY_VERSION,
                        proxy_phase_name(s->cfg.phase));
    m_value(&m, "ferry_connected_clients", "gauge", "Client connections open.", s->nclients);
    m_value(&m, "ferry_maxclients", "gauge", "The maxclients limit.", s->cfg.maxclients);
    m_value(&m, "ferry_connections_received_total", "counter", "Client connections accepted.",
            (unsigned long long)s->stats.connections_received);
    m_value(&m, "ferry_connections_rejected_total", "counter",
            "Client connections refused (maxclients).",
            (unsigned long long)s->stats.connections_rejected);
    m_value(&m, "ferry_protocol_errors_total", "counter",
            "Malformed requests (the client was disconnected).",
            (unsigned long long)s->stats.protocol_errors);
    m_commands(&m);
    if (s->cfg.phase == PROXY_PHASE_REDIS) {
        m_value(&m, "ferry_upstream_up", "gauge",
                "0 after a failed connection to the upstream, until one succeeds; else 1.",
                s->upstream.down ? 0 : 1);
        m_value(&m, "ferry_upstream_errors_total", "counter",
                "Requests answered with an upstream unavailable error.",
                (unsigned long long)s->stats.upstream_errors);
    } else {
        m_store(&m, s->cfg.store_size);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m_seconds_value(&m, "process_cpu_seconds_total", "User and system CPU time spent.",
                    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    m_value(&m, "process_resident_memory_bytes", "gauge", "Resident memory.",
            (unsigned long long)proxy_rss_bytes());
    m_value(&m, "process_open_fds", "gauge", "Open file descriptors.", admin_open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        m_value(&m, "process_max_fds", "gauge", "The limit on open file descriptors.",
                (unsigned long long)rl.rlim_cur);
    m_value(&m, "process_start_time_seconds", "gauge", "Start time, in seconds since the epoch.",
            (unsigned long long)(s->start_ms / 1000));
}

/* ------------------------------------------------------------------ dispatch */

static void admin_request_cb(struct evhttp_request *req, void *arg)
{
    struct proxy_admin *a = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = "";
    if (strcmp(path, "/healthz") == 0) {
        admin_send_text(req, 200, "OK", "ok");
    } else if (strcmp(path, "/readyz") == 0) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), admin_conn_closed, a);
        admin_answer_ready(a, req);
    } else if (strcmp(path, "/metrics") == 0) {
        struct evbuffer *body = evbuffer_new();
        admin_metrics(a, body);
        admin_send(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
        evbuffer_free(body);
    } else {
        admin_send_text(req, 404, "Not Found", "not found: try /healthz, /readyz or /metrics");
    }
}

static void admin_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (admin_current && admin_current->listener == arg)
        evconnlistener_enable(arg);
}

/* accept failing on the admin port, as on the client ports (server.c):
 * out of descriptors, the waiting connections are closed with ferry's
 * spare one; anything else pauses the listener for 100 ms. Either way the
 * loop does not spin on the readable listening socket. The pause's timer
 * belongs to the event base (evhttp's callback argument is not ours), so
 * it checks that the listener is still the running endpoint's. */
static void admin_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)arg; /* evhttp's */
    int err = errno;
    if ((err == EMFILE || err == ENFILE) &&
        proxy_refuse_waiting(evconnlistener_get_fd(l), NULL) >= 0)
        return;
    proxy_log_verbose("admin endpoint: accept failed: %s; not accepting for 100 ms", strerror(err));
    evconnlistener_disable(l);
    struct timeval tv = {0, 100 * 1000};
    event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, admin_accept_resume_cb, l, &tv);
}

/* admin-tls: each connection is a TLS session on tls-cert-file's
 * certificate (the context SIGHUP and renewed files reload). No client
 * certificate is asked for, whatever tls-auth-clients says: kubelet probes
 * and Prometheus scrapes bring none, and the endpoint answers health and
 * metrics to anyone who reaches it, as it does in plain HTTP. */
static struct bufferevent *admin_tls_bev(struct event_base *base, void *arg)
{
    struct proxy_admin *a = arg;
    SSL *ssl = SSL_new(a->srv->tls_server_ctx);
    if (ssl == NULL) {
        proxy_log_warning("admin endpoint: cannot start TLS: out of memory");
        return NULL;
    }
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

int proxy_admin_start(struct proxy_server *s, char *err, size_t errlen)
{
    if (s->cfg.admin_port == 0)
        return 0;
    struct proxy_admin *a = calloc(1, sizeof(*a));
    PROXY_ASSERT(a != NULL);
    a->srv = s;
    a->http = evhttp_new(s->base);
    PROXY_ASSERT(a->http != NULL);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(a->http, 16 * 1024);
    evhttp_set_max_body_size(a->http, 0);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_gencb(a->http, admin_request_cb, a);
    if (s->cfg.admin_tls)
        evhttp_set_bevcb(a->http, admin_tls_bev, a);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(a->http, s->cfg.admin_bind, (ev_uint16_t)s->cfg.admin_port);
    if (bound == NULL) {
        snprintf(err, errlen, "admin endpoint: cannot listen on %s port %d: %s", s->cfg.admin_bind,
                 s->cfg.admin_port, strerror(errno));
        evhttp_free(a->http);
        free(a);
        return -1;
    }
    a->listener = evhttp_bound_socket_get_listener(bound);
    evconnlistener_set_error_cb(a->listener, admin_accept_error_cb);
    s->admin = a;
    admin_current = a;
    return 0;
}

void proxy_admin_stop(struct proxy_server *s)
{
    struct proxy_admin *a = s->admin;
    if (a == NULL)
        return;
    s->admin = NULL;
    admin_current = NULL;
    evhttp_free(a->http); /* frees the requests still waiting, too */
    while (a->waits) {
        struct admin_wait *next = a->waits->next;
        free(a->waits);
        a->waits = next;
    }
    proxy_upstream_free(a->probe);
    free(a);
}
