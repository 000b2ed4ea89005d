/* proxy: the process — config, listener, client connections, the router,
 * upstream Redis connections, the node glue and logging. Internal to proxy/;
 * no other folder includes this header.
 *
 * Everything runs on one libevent loop on one thread (see
 * docs/ARCHITECTURE.md), so nothing here locks.
 */
#ifndef FERRY_PROXY_H
#define FERRY_PROXY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "resp/resp.h"

struct event_base;
struct evbuffer;
struct proxy_client;
struct proxy_server;
struct proxy_slot;

#define PROXY_VERSION "0.1.0"
/* The Redis version ferry presents itself as (INFO, HELLO). */
#define PROXY_REDIS_VERSION "7.0.15"

/* ------------------------------------------------------------------ config */
enum proxy_phase {
    PROXY_PHASE_REDIS = 0,
    PROXY_PHASE_MIRROR,
    PROXY_PHASE_READ_RAFT,
    PROXY_PHASE_RAFT,
    PROXY_PHASE_RAFT_ONLY,
};

enum proxy_log_level {
    PROXY_LOG_DEBUG = 0,
    PROXY_LOG_VERBOSE,
    PROXY_LOG_NOTICE,
    PROXY_LOG_WARNING,
};

enum proxy_log_format { PROXY_LOG_TEXT = 0, PROXY_LOG_JSON };

#define PROXY_MAX_BIND 16
#define PROXY_BUSY_POLL_AUTO (-1) /* busy-poll auto: the word "auto" of its option */

/* latency-tracking-info-percentiles: the percentiles INFO latencystats
 * prints, in the order given. */
#define PROXY_MAX_PERCENTILES 16
struct proxy_percentiles {
    int n;
    double p[PROXY_MAX_PERCENTILES];
};

enum proxy_sched_policy { PROXY_SCHED_AUTO = 0, PROXY_SCHED_NORMAL, PROXY_SCHED_BATCH };
enum proxy_tls_auth { PROXY_TLS_AUTH_NO = 0, PROXY_TLS_AUTH_YES, PROXY_TLS_AUTH_OPTIONAL };

/* Every option of docs/CONFIG.md. Strings are owned by the config and freed
 * by proxy_config_fini; NULL means unset. */
struct proxy_config {
    char *bind[PROXY_MAX_BIND];
    int nbind;
    int port;                     /* 0: no TCP listener */
    char *unixsocket;             /* NULL: no unix socket listener */
    int unixsocketperm;           /* its permission bits; 0: as the umask leaves them */
    char *upstream_host;          /* NULL: no upstream configured */
    int upstream_port;            /* 0: upstream_host is a unix socket's path */
    char *upstream_user;
    char *upstream_password;
    int upstream_connect_timeout; /* ms */
    int upstream_resolve_interval; /* s: an upstream name's address is reused this long */
    int upstream_shared_connections; /* 0: every client gets its own */
    int upstream_tls;             /* TLS to the upstream (proxy/tls.c) */
    char *upstream_tls_ca_cert_file; /* NULL: the system's CAs */
    char *upstream_tls_cert_file; /* a client certificate, with its key: mutual TLS */
    char *upstream_tls_key_file;
    char *upstream_tls_server_name; /* NULL: the upstream's host */
    int tls_port;                 /* 0: no TLS listener */
    char *tls_cert_file, *tls_key_file, *tls_ca_cert_file;
    int tls_auth_clients;         /* enum proxy_tls_auth */
    char *requirepass;
    int maxclients;
    int timeout;                  /* seconds idle before close; 0 = never */
    int tcp_keepalive;            /* seconds; 0 = off */
    long long proto_max_bulk_len;
    int loglevel;                 /* enum proxy_log_level */
    char *logfile;                /* NULL or "": standard output */
    int log_format;               /* enum proxy_log_format */
    int phase;                    /* enum proxy_phase */
    char *dir;                    /* the LMDB environment's directory */
    long long store_size;         /* LMDB map size in bytes */
    int sync;                     /* 1: fsync every commit; 0: leave it to the OS */
    long long checkpoint_bytes;   /* journal bytes that make a checkpoint */
    int checkpoint_entries;       /* ... or entries */
    int shutdown_timeout;         /* seconds to flush replies on SIGTERM */
    int busy_poll;                /* us to keep polling after a read; 0 = sleep;
                                     PROXY_BUSY_POLL_AUTO: see server.c */
    int sched_policy;             /* enum proxy_sched_policy; see server.c */
    char *admin_bind;             /* the HTTP admin endpoint's address */
    int admin_port;               /* 0: no admin endpoint */
    int admin_tls;                /* HTTPS there, with tls-cert-file's certificate */
    int slowlog_log_slower_than;  /* us; -1: no slow log (raft-only) */
    int slowlog_max_len;          /* entries the slow log keeps */
    int latency_monitor_threshold; /* ms; 0: no latency monitor (raft-only) */
    int latency_tracking;         /* per-command latency histograms (raft-only) */
    struct proxy_percentiles latency_percentiles; /* INFO latencystats' */
    int notify_keyspace_events;   /* enum store_event_class bits (raft-only) */
};

/* The longest value CONFIG GET prints, so its callers' buffers of
 * PROXY_CONFIG_VALUE_MAX + 1 bytes always hold it: a string option is at
 * most this long (a path up to PATH_MAX), a host name or address at most
 * PROXY_CONFIG_HOST_MAX (DNS names stop at 253). */
#define PROXY_CONFIG_VALUE_MAX 4096
#define PROXY_CONFIG_HOST_MAX 255
/* The longest unix socket path: sun_path's size less its NUL. */
#define PROXY_UNIXSOCKET_MAX 107

void proxy_config_init(struct proxy_config *cfg); /* the defaults */
void proxy_config_fini(struct proxy_config *cfg);
/* Applies one option given as argv (name first). Returns 0, or -1 with a
 * reason (no file/line: the caller adds where it came from) in err. */
int proxy_config_set(struct proxy_config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Reads a redis.conf-style file. Returns 0, or -1 with "FILE:LINE: reason"
 * in err. */
int proxy_config_load_file(struct proxy_config *cfg, const char *path, char *err,
                           size_t errlen);
/* The command line: an optional config file first, then --name value...
 * overrides (a name takes every word up to the next --name). Loads the file
 * and the overrides over cfg; *file is set to the file name or NULL. */
int proxy_config_from_args(struct proxy_config *cfg, int argc, char **argv, const char **file,
                           char *err, size_t errlen);
/* Cross-option checks after everything is loaded (for example: phase redis
 * needs an upstream). Returns 0 or -1 with a reason. */
int proxy_config_validate(const struct proxy_config *cfg, char *err, size_t errlen);
/* CONFIG REWRITE, as Redis does it: the file at path (missing: a new one)
 * with each option it sets given its value in cfg on its first line (later
 * lines for it removed), comments and blank lines kept, and the options it
 * does not set that differ from their defaults added at the end below
 * "# Generated by CONFIG REWRITE"; written to a temporary file, synced and
 * renamed over it. Returns 0, or -1 with strerror's reason in err. */
int proxy_config_rewrite(const struct proxy_config *cfg, const char *path, char *err,
                         size_t errlen);
/* CONFIG GET: the value of option `name` as Redis would print it, written
 * into out; returns -1 for an unknown option. */
int proxy_config_get(const struct proxy_config *cfg, const char *name, char *out, size_t outlen);
/* 1 if option `name` can change while ferry runs (SIGHUP, CONFIG SET), 0
 * if it needs a restart, -1 if there is no such option. */
int proxy_config_is_runtime(const char *name);
/* A deep copy (dst is then finished on its own). */
void proxy_config_copy(struct proxy_config *dst, const struct proxy_config *src);
/* Moves the runtime options' values from next into cur, and cur's old ones
 * into next (which the caller finishes, freeing them). */
void proxy_config_take_runtime(struct proxy_config *cur, struct proxy_config *next);
/* Calls fn for every option name, in table order. */
void proxy_config_each(void (*fn)(const char *name, void *arg), void *arg);
const char *proxy_phase_name(int phase);
int proxy_phase_parse(const char *s); /* -1 when unknown */

/* ------------------------------------------------------------------ logging */
void proxy_log_open(const struct proxy_config *cfg);
void proxy_log_close(void);
void proxy_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define proxy_log_debug(...) proxy_log(PROXY_LOG_DEBUG, __VA_ARGS__)
#define proxy_log_verbose(...) proxy_log(PROXY_LOG_VERBOSE, __VA_ARGS__)
#define proxy_log_notice(...) proxy_log(PROXY_LOG_NOTICE, __VA_ARGS__)
#define proxy_log_warning(...) proxy_log(PROXY_LOG_WARNING, __VA_ARGS__)

/* Always-on invariant check. */
#define PROXY_ASSERT(cond)                                                                    \
    ((cond) ? (void)0 : proxy_assert_fail(#cond, __FILE__, __LINE__))
void proxy_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* ------------------------------------------------------------------ server */
struct event_base *proxy_server_base(struct proxy_server *s);
const struct proxy_config *proxy_server_config(struct proxy_server *s);
/* Wall-clock milliseconds (the node turns it into entry timestamps). */
uint64_t proxy_now_ms(void);
/* Monotonic microseconds, for durations. */
uint64_t proxy_mono_us(void);
uint64_t proxy_mono_ns(void);

/* ------------------------------------------------------------------ clients
 * Replies leave in request order whatever answered them. A request that is
 * answered later (a write waiting for its commit, a blocked pop) reserves a
 * slot; filling it flushes every reply that was waiting behind it.
 *
 * Lifetime: a client whose connection closed stays allocated until every
 * slot it reserved has been filled; filling then discards the bytes. So a
 * slot pointer stays valid until proxy_slot_fill is called on it, exactly
 * once. */
struct proxy_slot *proxy_client_reserve(struct proxy_client *c);
/* reply is one or more complete RESP replies; it is copied. */
void proxy_slot_fill(struct proxy_client *c, struct proxy_slot *s, const char *reply, size_t len);
/* Reserve + fill: a reply that is ready now. */
void proxy_client_reply(struct proxy_client *c, const char *reply, size_t len);
void proxy_client_reply_error(struct proxy_client *c, const char *err);
/* AUTH user pass (argv[0] is AUTH): checks them against requirepass, as
 * Redis's authCommand checks its default user, and puts its reply in out.
 * c is authenticated after a success; a failure leaves it as it was. */
void proxy_client_auth(struct proxy_client *c, int argc, char **argv, const size_t *len,
                       struct resp_buf *out);
/* CLIENT REPLY ON|OFF|SKIP where ferry serves it: OFF drops the replies to
 * every request from this one on, SKIP the next request's, ON ends both
 * (and its own +OK is sent). Pushed messages (pub/sub) are not dropped, as
 * in Redis 7.0. Returns -1 for another word. */
int proxy_client_reply_mode(struct proxy_client *c, const char *word, size_t len);
/* Decides, once per request and when it runs, whether its replies are
 * dropped; the slots it reserves keep the decision. */
void proxy_client_reply_mode_step(struct proxy_client *c);
/* Takes that back for a request that will run later (CLIENT PAUSE kept
 * it): a SKIP it took is still its own when it runs. */
void proxy_client_reply_mode_unstep(struct proxy_client *c);
/* Runs a request that waited (proxy_node_client_waits) as a new one runs,
 * its stats already counted when it arrived. */
void proxy_client_run(struct proxy_client *c, int argc, char **argv, size_t *len);
/* Closes the connection once every reply reserved so far has been sent. */
void proxy_client_close_after_reply(struct proxy_client *c);
/* CLIENT KILL: stops reading c now and closes it, dropping whatever it is
 * still owed, at the end of the loop turn. Not at once: the caller may be
 * inside a loop over clients or blocked pops that the close would cut. */
void proxy_client_kill(struct proxy_client *c);
/* Whether c was killed (and waits for its close) or is closed already. */
int proxy_client_killed(const struct proxy_client *c);
/* A per-client pointer owned by the node (proxy/node.c); NULL initially. */
void **proxy_client_node_state(struct proxy_client *c);
uint64_t proxy_client_id(const struct proxy_client *c);
struct proxy_server *proxy_client_server(struct proxy_client *c);

/* ------------------------------------------------------------------ node
 * The node serves requests from ferry's own store (proxy/node.c). */
int proxy_node_open(struct proxy_server *s, char *err, size_t errlen);
void proxy_node_close(struct proxy_server *s);
/* ferry is shutting down (SIGTERM, SHUTDOWN): nothing more will be read, so
 * no write can come to end a blocking pop or a WAIT. Each ends now as its
 * timeout would, and any that blocks from here on at once. */
void proxy_node_stopping(void);
/* Serves one request in a store-served phase. argv is valid only during the
 * call. Reads answer at once; writes reserve a slot and fill it after their
 * commit. */
void proxy_node_request(struct proxy_client *c, struct resp_request *req);
/* The client's connection closed: drop its state (blocked pops, watches).
 * The client is already closed when this is called, so the node may fill
 * its reserved slots right here (which frees them); c stays valid until the
 * last of its slots is filled. */
void proxy_node_client_closed(struct proxy_client *c);
/* Whether c is subscribed to a channel: such a client idles by design and
 * is exempt from `timeout`, as in Redis. */
int proxy_node_client_subscribed(const struct proxy_client *c);
/* Whether c is in MULTI: AUTH and HELLO then go to the node, to be queued. */
int proxy_node_client_in_multi(const struct proxy_client *c);
/* Whether c waits for a blocking command or CLIENT PAUSE: its requests
 * wait behind it, all of them, those ferry answers outside the node (AUTH,
 * HELLO, QUIT) too, and run through proxy_client_run when it is served. */
int proxy_node_client_waits(const struct proxy_client *c);
/* Whether a CLIENT PAUSE ALL holds every command, AUTH, HELLO and QUIT
 * too: those then go to the node, which keeps them until it ends. */
int proxy_node_pauses_all(void);
/* Shows a request the proxy answered itself (AUTH, HELLO's refusals, QUIT)
 * to the clients in MONITOR mode; a no-op without any (always in phase
 * redis, where MONITOR is Redis's). */
void proxy_node_monitor(struct proxy_client *c, const struct resp_request *r);
/* A request client.c answered itself (AUTH, a refused HELLO) ran for ns
 * (stat: its index in stats.c, which its reply's slot took from c): INFO
 * commandstats and latencystats, the slow log and the latency monitor
 * take it as Redis does. Phases the node serves only. */
void proxy_node_ran(struct proxy_client *c, uint32_t stat, const struct resp_request *r,
                    uint64_t ns);

#endif
