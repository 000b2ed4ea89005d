/* The structures shared by server.c, client.c and admin.c. Internal to
 * proxy/. */
#ifndef FERRY_PROXY_CORE_H
#define FERRY_PROXY_CORE_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proxy/proxy.h"

struct evbuffer;

/* Output above HIGH pauses the producer; it resumes below LOW. Ferry never
 * stops reading a client because the client is slow to read its replies
 * (that deadlocks clients that write a whole pipeline before reading, and
 * Redis does not do it either); instead it stops reading the upstream, so
 * the replies wait in Redis's own output buffer. */
#define PROXY_OUT_HIGH (1024 * 1024)
#define PROXY_OUT_LOW (256 * 1024)

enum proxy_slot_kind {
    PROXY_SLOT_UPSTREAM, /* a run of `expect` replies from the upstream */
    PROXY_SLOT_LOCAL,    /* one reply made by ferry, filled now or later */
    PROXY_SLOT_RAW,      /* everything the upstream sends from now on */
};

struct proxy_splice;

struct proxy_slot {
    struct proxy_slot *next;
    uint8_t kind;          /* enum proxy_slot_kind */
    uint8_t filled;        /* LOCAL: the reply is in buf; RAW: the stream ended */
    uint8_t silent;        /* LOCAL: CLIENT REPLY OFF/SKIP: the reply is dropped */
    uint8_t counts;        /* LOCAL: enum proxy_slot_counts, for commandstats */
    uint8_t shape;         /* LOCAL: enum resp3_shape to convert its reply by */
    uint32_t expect;       /* UPSTREAM: replies still to come */
    uint32_t stat;         /* LOCAL: the request's stats.c index; 0: not timed */
    uint64_t start_us;     /* LOCAL: when the request was read (proxy_mono_us) */
    struct proxy_upstream *up; /* UPSTREAM: the connection they come on */
    struct evbuffer *buf;  /* replies held while an earlier slot is unanswered */
    struct proxy_splice *splice; /* UPSTREAM: an EXEC's, see proxy_client */
};

enum proxy_slot_counts { PROXY_COUNTS_CALL = 0, PROXY_COUNTS_REJECTED, PROXY_COUNTS_NOTHING };

/* RESOLVING: waiting for the upstream's name to resolve; CONNECTING: the
 * TCP connect; HANDSHAKE: then TLS's (upstream-tls). */
enum proxy_upstream_state {
    PROXY_UP_IDLE = 0,
    PROXY_UP_RESOLVING,
    PROXY_UP_CONNECTING,
    PROXY_UP_HANDSHAKE,
    PROXY_UP_READY
};

/* Who is waiting for the next reply on an upstream connection. */
struct proxy_waiter {
    struct proxy_client *c;
    struct proxy_slot *s;
    uint32_t stat;     /* the request's stats.c index; 0: not timed */
    uint64_t start_us; /* when the request was read */
};

/* A connection to the upstream Redis: either a client's own (owner set),
 * or a shared one that carries the stateless requests of many clients,
 * pipelined, so one write and one read serve a whole loop turn. */
struct proxy_upstream {
    struct proxy_server *srv;
    struct proxy_client *owner;  /* NULL for a shared connection */
    int fd;
    int state;                   /* enum proxy_upstream_state */
    struct event *rev, *wev;
    struct event *connect_timer;
    struct evbuffer *in, *out;
    struct resp_scanner scan;
    size_t scanned;              /* bytes of `in` already given to the scanner */
    int hidden;                  /* replies to our own AUTH still to swallow */
    /* Raw mode (no waiters): our AUTHs sent after a RESET whose replies
     * are still to swallow, and whether the next reply is one (it follows
     * RESET's +RESET). */
    int reset_auths;
    int drop_next;
    int read_paused;             /* dedicated: the owner's output is over PROXY_OUT_HIGH */
    int dirty;                   /* shared: output waiting for the end of the turn */
    size_t written;              /* shared: requests written and not answered yet,
                                  * counted when a write empties `out` */
    struct proxy_waiter *q;      /* requests sent and not yet answered: a ring */
    size_t qhead, qlen, qcap;
    /* upstream-tls: the session, once the TCP connect is done (tls.c). A
     * read or write that must wait for the socket's other direction sets
     * its flag, and the other direction's event runs it again. */
    struct ssl_st *ssl;
    unsigned read_wants_write : 1, write_wants_read : 1;
    struct proxy_upstream *resolve_next; /* RESOLVING: the next one waiting */
};

struct proxy_client {
    uint64_t id;
    int fd;
    struct proxy_server *srv;
    struct proxy_client *prev, *next; /* the server's list of live clients */
    struct event *rev, *wev;
    struct evbuffer *out;
    struct resp_reader *reader;
    struct proxy_slot *head, *tail;   /* replies in request order */
    struct proxy_slot *raw;           /* set once the client is in raw mode */
    unsigned unfilled;                /* LOCAL slots reserved and not yet filled */
    struct proxy_upstream *up;     /* its own connection, once it has one */
    struct proxy_upstream *shared; /* the shared connection it uses until then */
    unsigned shared_inflight;      /* its requests on `shared` not yet answered */
    uint64_t last_active_ms;
    /* The request being dispatched, for stats.c: its index (0 once taken
     * by the slot or upstream waiter that will time its reply) and when
     * the read that brought it happened. */
    uint32_t stat;
    uint64_t stat_start_us;
    void *node_state;
    struct proxy_client *dirty_prev, *dirty_next; /* the server's flush list */
    unsigned dirty : 1;            /* on the flush list */
    unsigned wev_pending : 1;      /* waiting for the socket to be writable */
    unsigned authenticated : 1;
    unsigned read_paused : 1;      /* an upstream's output is over PROXY_OUT_HIGH */
    unsigned close_after_reply : 1;
    unsigned gone : 1;             /* the socket is closed; waiting for unfilled slots */
    /* Connection state that the upstream holds for this client: losing the
     * upstream connection then loses it silently, so the client is closed. */
    unsigned in_multi : 1;
    /* Phase redis, in MULTI: the replies ferry made itself for commands
     * queued (AUTH against requirepass, HELLO's refusals), which go into
     * EXEC's reply from Redis where the commands stood; and how many
     * commands Redis queued meanwhile (client.c, splices). */
    struct proxy_splice *multi_local;
    uint32_t multi_count;
    unsigned watching : 1;
    unsigned db_selected : 1;
    /* Who it is and how Redis treats it: AUTH (a user other than
     * ferry's upstream-user), CLIENT SETNAME, CLIENT NO-EVICT, HELLO's
     * AUTH and SETNAME. A new connection would run it as ferry's user. */
    unsigned identity : 1;
    unsigned resp3 : 1;            /* HELLO 3: its replies are RESP3 */
    /* Writes went on a connection other than its own one of now (the
     * shared one, or an own one since lost): a WAIT must first move its
     * own connection's replication offset past them (client_forward). */
    unsigned wait_gap : 1;
    /* The enum resp3_shape of the reply to the request being served by the
     * node, for a RESP3 client: the slot it reserves takes it (it is then
     * RESP3_PLAIN again), and its store (RESP2) reply is converted when
     * filled. 0 in phase redis, where Redis answers in RESP3 itself. */
    uint8_t reply_shape;
    unsigned killed : 1;           /* CLIENT KILL: closed at the next flush */
    /* CLIENT REPLY (proxy_client_reply_mode); phase redis leaves it to
     * Redis. */
    unsigned reply_off : 1;
    unsigned reply_skip : 1;       /* the next request's replies are dropped */
    unsigned silent : 1;           /* the running request's replies are dropped */
    unsigned stepped : 1;          /* `silent` is decided for the running request */
    /* How the running request's first slot counts in INFO commandstats:
     * refused before running, or only queued in MULTI. */
    unsigned rejected : 1;
    unsigned queued : 1;
    uint64_t created_ms;
    unsigned unix_socket : 1;      /* came in on the unix socket (CLIENT LIST's U) */
    /* Came in on tls-port: its session, the handshake not over yet, and a
     * read or write waiting for the socket's other direction (tls.c). */
    struct ssl_st *ssl;
    unsigned tls_handshaking : 1, read_wants_write : 1, write_wants_read : 1;
    /* As Redis shows them: ip:port, or for the unix socket its path:0 */
    char addr[PROXY_UNIXSOCKET_MAX + 8]; /* the peer */
    char laddr[PROXY_UNIXSOCKET_MAX + 8]; /* ferry's end */
};

struct proxy_server {
    struct proxy_config cfg;
    struct event_base *base;
    struct ssl_ctx_st *tls_ctx;    /* upstream-tls; NULL without it (tls.c) */
    struct ssl_ctx_st *tls_server_ctx; /* tls-port; NULL without it */
    uint64_t tls_stamp;            /* proxy_tls_files_stamp when last loaded or tried */
    /* unixsocket's, bind's on tls-port, then bind's on port */
    struct evconnlistener *listeners[2 * PROXY_MAX_BIND + 1];
    int nlisteners;
    /* The unix socket file ferry made: removed when it stops listening,
     * unless another process has put its own at the path since. */
    int unix_made;
    dev_t unix_dev;
    ino_t unix_ino;
    /* Live clients, oldest first (CLIENT LIST's order, as Redis's). */
    struct proxy_client *clients, *clients_tail;
    int nclients;
    uint64_t next_client_id;
    struct event *cron;            /* once a second: idle timeouts */
    /* Clients with output to send. Flushed once per loop turn, after every
     * I/O callback of the turn, so a turn costs one write per connection. */
    struct event *flush_ev;
    struct proxy_client *dirty;
    struct proxy_upstream **shared; /* upstream-shared-connections of them */
    int nshared;
    int shared_dirty;              /* one of them has output for the end of the turn */
    struct event *sigterm, *sigint, *sighup;
    struct event *shutdown_timer;
    /* accept failing (server.c): the listeners' pause, and the log's pace */
    struct event *accept_resume;
    uint64_t accept_logged_ms;
    uint64_t accept_refused;       /* clients refused since the last log line */
    struct proxy_admin *admin;     /* admin.c; NULL without admin-port */
    int shutting_down;
    int exit_status;               /* of proxy_server_run: 1 after proxy_server_fail */
    /* What the polling loop watches (server.c): socket reads served, and
     * how many client reads in a row came from the same client. */
    struct {
        uint64_t reads;
        uint64_t client_reads;
        uint64_t last_client;      /* id of the client read from last */
        uint64_t streak;           /* reads in a row from last_client */
    } io;
    /* The upstream's address (upstream.c). A name is resolved with evdns,
     * in the loop, and its address reused for upstream-resolve-interval. */
    struct {
        struct evdns_base *dns;        /* made when a name first needs it */
        uint64_t files;                /* what dns read: resolv.conf and hosts, stamped */
        uint64_t reread;               /* resolv.conf read again into dns, in a lookup */
        struct evdns_getaddrinfo_request *req; /* in flight */
        struct sockaddr_storage addr;
        socklen_t addrlen;             /* 0: none yet */
        uint64_t at_ms;                /* when addr was resolved; 0: to resolve again */
        int numeric;                   /* an IP literal: addr holds for good */
        int in_call;                   /* evdns may answer within the call */
        int failing;                   /* the last resolution failed (logged) */
        uint64_t logged_ms;
        char reason[160];              /* why the last one failed */
        struct proxy_upstream *waiting; /* connections waiting for the answer */
    } resolve;
    /* Upstream health, shared by every client's connection: after a failed
     * connect nobody tries again before retry_at, so a dead Redis costs one
     * attempt per backoff period rather than one per request. */
    struct {
        int down;
        int failures;
        uint64_t retry_at_ms;
        char reason[128];
    } upstream;
    struct {
        uint64_t connections_received;
        uint64_t connections_rejected;
        uint64_t commands;
        uint64_t protocol_errors;
        uint64_t upstream_errors;
    } stats;
    /* Commands per second over the last cron period (INFO's
     * instantaneous_ops_per_sec), from the count at the previous tick. */
    struct {
        uint64_t per_sec;
        uint64_t last_commands;
        uint64_t last_ms;
    } ops;
    uint64_t start_ms;
    char run_id[41];               /* random, per process, as Redis's */
    /* Where the config came from, for SIGHUP. */
    char *config_file;
    int config_argc;
    char **config_argv;
};

/* info.c: INFO's reply for the node, which passes what it keeps. */
struct store;
struct proxy_info_node {
    struct store *store;
    int blocked_clients;
    int commit_failing;
    int bgsave_failed; /* the last BGSAVE or BGREWRITEAOF did not save */
    uint64_t commit_failures, commits, commit_usec, entries;
};
void proxy_info_reply(struct proxy_server *s, const struct proxy_info_node *node, int argc,
                      char **argv, size_t *len, struct resp_buf *out);
/* CONFIG RESETSTAT: INFO's Stats counters count from now on. /metrics
 * keeps its counters whole (a Prometheus counter only goes up). */
void proxy_info_resetstat(struct proxy_server *s, const struct proxy_info_node *node);
unsigned long long proxy_rss_bytes(void); /* resident memory, from /proc/self/statm */
/* node.c: the node's figures (INFO, /metrics), in a store-served phase. */
void proxy_node_figures(struct proxy_info_node *out);

/* stats.c: per-command figures (see there). Index 0 means "none". */
#define PROXY_STAT_UNKNOWN 1   /* commands not in the table */
#define PROXY_STAT_BUCKETS 17  /* finite latency buckets; one more for +Inf */
struct proxy_cmdstat {
    uint64_t calls;   /* requests */
    uint64_t replies; /* replies timed (pub/sub and MONITOR streams are not) */
    uint64_t errors;  /* of those, error replies */
    uint64_t usec;    /* their total time */
    uint64_t bucket[PROXY_STAT_BUCKETS + 1]; /* replies per latency bucket, not cumulative */
};
/* INFO commandstats where ferry serves (raft-only), in Redis's meanings:
 * a command counts as called when its reply is made (a blocking pop's when
 * it is answered, a transaction's commands at EXEC), failed when that reply
 * is an error, rejected when refused before running (arity, NOAUTH, a
 * command ferry does not serve); usec is its own run, without the commit's
 * sync. A container without a known subcommand counts only rejections, as
 * in Redis. CONFIG RESETSTAT clears them (/metrics keeps its own). */
void proxy_stats_executed(uint32_t idx, int failed);
void proxy_stats_rejected(uint32_t idx);
void proxy_stats_failed(uint32_t idx); /* a failed call already counted as a call */
/* A command's own run of ns; track: into its latency histogram too. */
void proxy_stats_ran_for(uint32_t idx, uint64_t ns, int track);
void proxy_stats_commandstats_each(void (*fn)(const char *name, uint64_t calls, uint64_t usec,
                                              uint64_t rejected, uint64_t failed, void *arg),
                                   void *arg);
void proxy_stats_commandstats_reset(void);
/* Latency histograms (INFO latencystats), per command when
 * latency-tracking is on: the command's own run, in ns. */
struct proxy_hist;
void proxy_stats_latencystats_each(void (*fn)(const char *name, const struct proxy_hist *h,
                                              void *arg),
                                   void *arg);

/* hist.c: a latency histogram with HdrHistogram's layout and rounding (two
 * significant digits), values 1 to 1e9 ns. */
struct proxy_hist *proxy_hist_new(void);
void proxy_hist_free(struct proxy_hist *h);
void proxy_hist_record(struct proxy_hist *h, uint64_t v);
uint64_t proxy_hist_total(const struct proxy_hist *h);
/* The value at a percentile (0-100) as HdrHistogram reports it: the
 * highest value of the bucket reaching it; 0 when empty. */
uint64_t proxy_hist_value_at(const struct proxy_hist *h, double percentile);
/* LATENCY HISTOGRAM's buckets, as Redis prints them: at most max (bucket
 * in us, cumulative count) pairs, where the count grew; returns how many. */
size_t proxy_hist_cdf(const struct proxy_hist *h, uint64_t *usec, uint64_t *cumulative, size_t max);
struct resp_command;
/* The index of a request's command: its subcommand for a container (argv[1]
 * names it), PROXY_STAT_UNKNOWN for NULL (a command not in the table). */
uint32_t proxy_stats_index(const struct resp_command *cmd, int argc, char *const *argv,
                           const size_t *argvlen);
void proxy_stats_call(uint32_t idx);
void proxy_stats_reply(uint32_t idx, uint64_t usec, int error);
/* Calls fn for every command with a request or reply counted, by index. */
void proxy_stats_each(void (*fn)(const char *name, const struct proxy_cmdstat *s, void *arg),
                      void *arg);
uint32_t proxy_stats_bucket_le_us(int b); /* upper bound of finite bucket b */
/* errorstats: counts the error replies in a reply to a request of index
 * idx (the reply itself, or the errors in EXEC's array). */
void proxy_stats_error_replies(uint32_t idx, const char *reply, size_t len);
uint64_t proxy_stats_error_total(void);
void proxy_stats_errors_each(void (*fn)(const char *code, uint64_t count, void *arg), void *arg);
void proxy_stats_errors_reset(void); /* CONFIG RESETSTAT */
void proxy_stats_free(void);

/* admin.c: the HTTP admin endpoint (admin-port): /healthz, /readyz,
 * /metrics. */
int proxy_admin_start(struct proxy_server *s, char *err, size_t errlen);
void proxy_admin_stop(struct proxy_server *s);
/* Called by upstream.c when a connection to the upstream opens or fails:
 * a /readyz waiting for its probe connection gets its answer. */
void proxy_admin_upstream_event(struct proxy_server *s);

/* server.c: raises the open-files limit for maxclients clients (two
 * descriptors each, as a client with an upstream connection of its own
 * takes) and returns how many fit at one each: maxclients when all do. The
 * limit reached goes to *limit (may be NULL). */
int proxy_server_fit_fds(struct proxy_server *s, int maxclients, unsigned long long *limit);
/* server.c: accept failed for want of descriptors on listening socket lfd:
 * every client waiting there is accepted, sent reply (NULL: none) and
 * closed, with the descriptor ferry keeps spare for it. How many; -1 when
 * there was no spare. */
int proxy_refuse_waiting(evutil_socket_t lfd, const char *reply);
/* server.c: TCP keepalive on fd as tcp-keepalive sets it (interval
 * seconds; 0: none). */
void proxy_tcp_keepalive(int fd, int interval);
/* server.c: ip:port, [ipv6]:port, or a unix socket's path:0. */
void proxy_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* client.c */
void proxy_client_flush_all(struct proxy_server *s);
/* Called by upstream.c: moves `len` bytes (n complete replies) from the
 * front of src into slot s of client c. */
void proxy_client_deliver(struct proxy_client *c, struct proxy_slot *s, struct evbuffer *src,
                          size_t len, unsigned n, int shared);
/* Called by upstream.c: c's own upstream connection failed (the waiters
 * have had their errors). */
void proxy_client_upstream_lost(struct proxy_client *c);
void proxy_client_mark_dirty(struct proxy_client *c);
/* Called by upstream.c: moves `len` bytes of RESP3 pushes, which answer no
 * request, from src to c after everything queued for it so far. */
void proxy_client_push(struct proxy_client *c, struct evbuffer *src, size_t len);
struct evbuffer *proxy_client_slot_dest(struct proxy_client *c, struct proxy_slot *s);
/* Appends bytes that answer no request (a pub/sub message) after
 * everything queued for c so far; returns what c has waiting to be sent. */
size_t proxy_client_push_bytes(struct proxy_client *c, const void *p, size_t len);

/* Whether the len bytes at arg are word, ignoring case (a command name or
 * an option, as Redis compares them). */
int proxy_arg_is(const char *arg, size_t len, const char *word);

/* pubsub.c: PUBLISH, PUBSUB and the (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE
 * family among this process's clients (phase raft-only). A client's
 * subscriptions hang off *ps (NULL until the first). */
struct proxy_pubsub;
int proxy_pubsub_is_command(const struct resp_command *cmd);
/* Runs one of those commands (or PING while subscribed), appending its
 * replies to out, and returns 1; 0 for any other command. */
int proxy_pubsub_command(struct proxy_client *c, struct proxy_pubsub **ps, int argc, char **argv,
                         size_t *len, struct resp_buf *out);
/* PUBLISH and SPUBLISH, which need no subscriber state: the receivers. */
int proxy_pubsub_is_publish(const char *name, size_t len);
void proxy_pubsub_publish(char **argv, size_t *len, struct resp_buf *out);
/* Publishes msg on channel (keyspace events); returns the receivers. */
long long proxy_pubsub_message(const char *channel, size_t chlen, const char *msg, size_t mlen);
/* Whether the client is subscribed to anything (RESP2's subscribed mode). */
int proxy_pubsub_subscribed(const struct proxy_pubsub *ps);
void proxy_pubsub_client_counts(const struct proxy_pubsub *ps, int *sub, int *psub, int *ssub);
/* Drops every subscription of c, without replies (RESET, a closed client). */
void proxy_pubsub_reset(struct proxy_client *c, struct proxy_pubsub **ps);
/* Channels, patterns and shard channels with subscribers (INFO). */
void proxy_pubsub_stats(size_t *channels, size_t *patterns, size_t *shard_channels);
void proxy_pubsub_free_all(void);

/* slowlog.c: SLOWLOG in phase raft-only. proxy_slowlog_push logs a
 * command that ran for usec microseconds if the config asks for it (the
 * caller leaves out what Redis never logs: EXEC, refused commands). */
void proxy_slowlog_push(const struct proxy_config *cfg, const char *addr, const char *name,
                        int argc, char **argv, const size_t *len, uint64_t usec);
void proxy_slowlog_command(int argc, char **argv, size_t *len, struct resp_buf *out);
void proxy_slowlog_reset(void);
/* latency.c: LATENCY in phase raft-only. proxy_latency_add adds a sample
 * of usec to an event if the config's threshold asks for it;
 * proxy_latency_add_command does it for a command that ran for usec. */
void proxy_latency_add(const struct proxy_config *cfg, const char *event, uint64_t usec);
void proxy_latency_add_command(const struct proxy_config *cfg, const struct resp_command *cmd,
                           uint64_t usec);
void proxy_latency_command(int argc, char **argv, size_t *len, struct resp_buf *out);
/* Whether Redis shows argument i as "(redacted)" in MONITOR and SLOWLOG
 * (AUTH's password, HELLO's AUTH user and password, credentials given to
 * CONFIG SET). */
int proxy_arg_redacted(int argc, char **argv, const size_t *len, int i);

/* upstream.c */
struct proxy_upstream *proxy_upstream_new(struct proxy_server *s, struct proxy_client *owner);
/* Closes the connection. Waiters get no reply: only for an owner that is
 * itself closing, or at exit. */
void proxy_upstream_free(struct proxy_upstream *up);
/* Connects if needed (after the backoff, if the upstream is down). -1 when
 * it cannot, with the reason in *why (valid until the next call). */
int proxy_upstream_ensure(struct proxy_upstream *up, const char **why);
/* Cancels the lookup in flight and frees the resolver (at exit, with no
 * other event left: it runs one last turn of the loop). */
void proxy_upstream_resolver_free(struct proxy_server *s);
/* Queues request r; its reply goes to slot s of client c. */
void proxy_upstream_send(struct proxy_upstream *up, struct proxy_client *c, struct proxy_slot *s,
                         const struct resp_request *r);
/* Queues PUBLISH __ferry__:wait "" on client connection up, whose reply
 * goes nowhere: Redis propagates it to replicas as it does a write, so the
 * connection's replication offset (what WAIT waits for) passes every write
 * Redis has executed. */
void proxy_upstream_send_wait_mark(struct proxy_upstream *up);
/* After a RESET sent on client connection up (raw: the client is in raw
 * mode): RESET logs the connection out to Redis's default user, so
 * ferry's own AUTH follows, its reply swallowed. Nothing without
 * upstream-password. */
void proxy_upstream_send_reauth(struct proxy_upstream *up, int raw);
/* At exit, after every client closed: a client closed with replies still
 * due on shared connection up is freed by the last of them, and they will
 * not come now; this lets them go. */
void proxy_upstream_release(struct proxy_upstream *up);
/* Writes what is queued. -1 when the connection failed (handled). */
int proxy_upstream_flush(struct proxy_upstream *up);
/* Writes the shared connections' output of the turn (server.c calls it
 * once the turn has read what the clients sent). */
void proxy_upstream_flush_shared(struct proxy_server *s);
/* Requests waiting for a shared connection's next write (the most of any). */
size_t proxy_upstream_shared_pending(const struct proxy_server *s);
/* Requests enough in one write to keep Redis busy by itself: a shared
 * connection holds nothing back behind a batch this large, and a turn
 * reads no further for one (upstream.c, server.c). */
#define BATCH_ENOUGH 16
/* Appends the error reply for an unavailable upstream to dst. */
void proxy_upstream_error_reply(struct proxy_server *s, struct evbuffer *dst, const char *reason);
/* Resumes reading the owner's upstream once its output drained. */
void proxy_upstream_resume(struct proxy_upstream *up);
/* A new client on fd (NULL: refused, maxclients). */
struct proxy_client *proxy_client_accept(struct proxy_server *s, int fd, const char *addr);
/* The same on tls-port: the TLS handshake comes first. */
void proxy_client_accept_tls(struct proxy_server *s, int fd, const char *addr);
void proxy_client_close(struct proxy_client *c);
void proxy_client_shutdown(struct proxy_client *c); /* stop reading; close after replies */
int proxy_client_idle_timed_out(const struct proxy_client *c, uint64_t now_ms);

/* server.c */
struct proxy_server *proxy_server_new(const struct proxy_config *cfg, char *err, size_t errlen);
int proxy_server_run(struct proxy_server *s);
void proxy_server_free(struct proxy_server *s);
/* SIGHUP: re-reads the config and applies what can change at runtime. */
void proxy_server_reload(struct proxy_server *s);

/* tls.c: TLS to the upstream. init builds the context from the config's
 * upstream-tls options (nothing without upstream-tls); 0, or -1 with the
 * option and the reason in err. The steps return what they need next:
 * done (or bytes), the socket readable or writable, or an error (why). */
enum { PROXY_TLS_OK = 0, PROXY_TLS_WANT_READ, PROXY_TLS_WANT_WRITE, PROXY_TLS_CLOSED,
       PROXY_TLS_ERROR };
int proxy_tls_init(struct proxy_server *s, char *err, size_t errlen);
void proxy_tls_free(struct proxy_server *s);
struct ssl_st *proxy_tls_new(struct proxy_server *s, int fd, char *err, size_t errlen);
/* The server side (tls-port): its context from the tls-* options, and a
 * session for an accepted client (NULL: out of memory). */
int proxy_tls_server_init(struct proxy_server *s, char *err, size_t errlen);
/* SIGHUP: both contexts again from their files (rotated certificates), for
 * the connections that start from then on; on failure the old ones stay
 * and err says why. */
int proxy_tls_reload(struct proxy_server *s, char *err, size_t errlen);
/* A number that changes when one of the TLS files does (stat: inode, size,
 * mtime), for the once-a-second check that reloads renewed certificates. */
uint64_t proxy_tls_files_stamp(const struct proxy_server *s);
struct ssl_st *proxy_tls_accepted(struct proxy_server *s, int fd);
void proxy_tls_close(struct ssl_st *ssl);
int proxy_tls_handshake(struct ssl_st *ssl, char *why, size_t whylen);
/* > 0 bytes, or -1 with *status one of the others. */
ssize_t proxy_tls_read(struct ssl_st *ssl, void *buf, size_t len, int *status, char *why,
                       size_t whylen);
ssize_t proxy_tls_write(struct ssl_st *ssl, const void *buf, size_t len, int *status, char *why,
                        size_t whylen);
/* Writes what fits of a TLS record's worth (16 KB) from the front of out,
 * draining what went: the bytes, or -1 with *status. A write retried after
 * a wait starts from the same front, as OpenSSL requires. */
ssize_t proxy_tls_send(struct ssl_st *ssl, struct evbuffer *out, int *status, char *why,
                       size_t whylen);
/* Whether it holds decrypted bytes not read yet (no socket event will say so). */
int proxy_tls_pending(const struct ssl_st *ssl);
/* The config file ferry was started with, or NULL (options on the command
 * line only). */
const char *proxy_server_config_file(const struct proxy_server *s);
void proxy_server_client_gone(struct proxy_server *s); /* shutdown waits for the last */
/* Something ferry cannot go on without has failed (why, logged): shut down
 * as on SIGTERM, replies in flight delivered, and exit with status 1. */
void proxy_server_fail(struct proxy_server *s, const char *why);
/* SHUTDOWN (raft-only): shut down as on SIGTERM and exit 0. */
void proxy_server_stop(struct proxy_server *s, const char *why);

#endif
