/* The node: serves requests from ferry's own store (single-node, phase
 * raft-only for now).
 *
 * Reads answer at once from committed state. Writes join the current
 * batch; one event, activated on the first write of a loop turn, runs after
 * that turn's I/O callbacks and applies the whole batch in ONE LMDB write
 * transaction with applied_index (one commit, one sync: group commit), then
 * fills the writers' reply slots. A client with a write in the batch has its
 * later reads (and WATCHes) join the batch too, so it reads its own writes.
 *
 * MULTI/EXEC is one entry (atomic); WATCH compares per-key versions.
 * Blocking pops that find nothing keep their reply slot and wait: after
 * every write in a batch the lists it made non-empty serve the waiting
 * clients in arrival order, inside the same transaction, as Redis does.
 * Active expiry proposes deletions as entries, every 100 ms. */
#include <errno.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proxy/core.h"
#include "proxy/proxy.h"
#include "resp/resp.h"
#include "store/store.h"

/* Entries a single node keeps in its Raft log: compaction drops the applied
 * prefix once more than 2 * NODE_LOG_KEEP are held, leaving the last
 * NODE_LOG_KEEP. The log stays bounded (a few MB for typical entries); the
 * hysteresis makes the deletion one batch every NODE_LOG_KEEP entries rather
 * than a delete per commit; and the recent suffix stays readable for a
 * follower added later, which is what the log will be for (phase raft). */
#define NODE_LOG_KEEP 1024

/* An argv copy that outlives the request. */
struct node_argv {
    int argc;
    char **argv;
    size_t *len;
    /* A deferred request's stats.c timing, given back when it runs. */
    uint32_t stat;
    uint64_t stat_start_us;
};

enum node_op_kind {
    NODE_OP_WRITE,  /* a store write command */
    NODE_OP_READ,   /* a read that must see the client's earlier writes */
    NODE_OP_EXEC,   /* MULTI ... EXEC */
    NODE_OP_WATCH,  /* WATCH that must see the batch's writes */
    NODE_OP_EXPIRE, /* an active-expiry entry; no client */
    NODE_OP_UNWATCH, /* UNWATCH/DISCARD/RESET behind a queued WATCH; reply preset */
    NODE_OP_PUBLISH, /* PUBLISH after the client's writes: sent once they commit */
    NODE_OP_SAVE,    /* SAVE after the client's writes: a checkpoint once they commit */
};

struct node_client;

struct node_op {
    int kind;
    struct proxy_client *c; /* NULL for NODE_OP_EXPIRE */
    struct proxy_slot *slot;
    struct node_argv a;
    struct resp_buf entry; /* EXPIRE: the prepared entry; EXEC: the store's reply */
    struct resp_buf reply;
    int blocked;           /* a blocking pop that found nothing */
    /* Its client's next requests wait for the batch (batch_wait): a
     * blocking pop, or an EXEC with commands the node runs itself. */
    int holds_client;
    struct node_argv *queued; /* EXEC: the transaction's commands */
    int nqueued;
    /* EXEC applied: its reply is put together after the commit, when its
     * PUBLISHes are sent. entry holds the store's array, locals the
     * replies the node made, and from[i] says where queued[i]'s comes
     * from (enum node_exec_from). */
    int merge;
    char *from;
    struct resp_buf locals;
    uint64_t *ns; /* EXEC: how long each of queued ran, as Redis times them */
    /* Keyspace events: the store's mark after this op ran, and for EXEC
     * after each of queued (0 for those the store did not run), so that
     * its PUBLISHes go out between the events of the commands around them. */
    size_t ev_end;
    size_t *evm;
    unsigned ev_classes; /* notify-keyspace-events when it was sent */
};

enum node_exec_from { NODE_FROM_STORE, NODE_FROM_LOCAL, NODE_FROM_PUBLISH };

enum node_count_how { NODE_COUNT_BLOCKED, NODE_COUNT_SERVED, NODE_COUNT_UNBLOCKED };

/* A client waiting in a blocking pop. */
struct node_blocked {
    struct node_blocked *prev, *next; /* arrival order */
    struct proxy_client *c;
    struct proxy_slot *slot;
    struct node_argv a;
    struct event *timer;
    struct resp_buf reply; /* served in the current batch, filled after commit */
    int served;
    int unblocked; /* CLIENT UNBLOCK: 1 as a timeout, 2 with an error; answered by the timer */
    int wait;      /* WAIT for replicas: never served by a key, answered :0 when it ends */
    /* How long it ran when it blocked, and when it was served: Redis times
     * a blocking pop by these, not by its wait (node_blocked_counted). */
    uint64_t block_ns, serve_ns;
};

struct node_watch {
    char *key;
    size_t len;
    uint64_t version;
};

struct node_client {
    struct proxy_client *c;
    unsigned pending;       /* ops in the current batch */
    int in_multi;
    int multi_dirty;        /* a queueing error: EXEC aborts */
    struct node_argv *queued;
    int nqueued, capqueued;
    struct node_watch *watches;
    int nwatches, capwatches;
    char *name;
    const struct resp_command *last_cmd; /* CLIENT LIST's cmd= */
    struct proxy_pubsub *pubsub;          /* its subscriptions, NULL for none */
    struct node_blocked *blocked;
    /* Requests that arrived while blocked: Redis reads nothing more from a
     * blocked client, so they run once it is unblocked. */
    struct node_argv *deferred;
    int ndeferred, capdeferred;
    int monitor;            /* in MONITOR mode: on node.monitors */
    /* A blocking pop of this client is in the batch: until the batch says
     * whether it blocked, the client's next requests wait, as they would
     * behind a blocked one (else a pipelined LPUSH could serve its own
     * BLPOP, which Redis never lets happen). Likewise behind an EXEC that
     * runs commands of the node's own (CLIENT SETNAME, HELLO, CONFIG SET):
     * they run when the batch applies, and a CLIENT GETNAME pipelined
     * after EXEC must see what they did. */
    int batch_wait;
    /* Held by CLIENT PAUSE (node_pause_holds): on node.paused, its request
     * and every later one deferred until the pause ends. */
    int paused;
};

static struct {
    struct proxy_server *srv;
    struct store *store;
    struct event *commit_ev;
    struct event *expire_ev;
    int scheduled;
    struct node_op *ops;
    int nops, capops;
    struct node_blocked *bhead, *btail;
    uint64_t seed;
    uint64_t commits, entries;
    uint64_t commit_usec; /* time spent in commits (write + sync) */
    uint64_t commit_failures; /* in all */
    uint64_t checkpoint_failed_ms; /* when the last idle checkpoint was refused */
    uint64_t failing;         /* failed commits since the last that succeeded */
    uint64_t unreported;      /* of those, not yet in the log */
    uint64_t reported_ms;     /* when the last failure was logged */
    int fatal;                /* the store took a STORE_EFATAL: ferry is exiting */
    int stopping;             /* shutting down: no wait outlasts the turn */
    int committing;           /* in node_commit_cb: the store is in a write turn */
    int bgsave;               /* BGSAVE asked in a turn: a save once it commits */
    int bgsave_failed;        /* the last BGSAVE's save failed (INFO) */
    long watched;         /* watches held by all clients */
    struct resp_buf scratch;
    size_t ev_sent;       /* the store's keyspace events are published up to this mark */
    unsigned ev_classes;  /* the classes of those being published */
    struct resp_buf ev_chan; /* an event's channel name, being built */
    struct proxy_client **monitors; /* clients in MONITOR mode */
    int nmonitors, capmonitors;
    int unfed;            /* the request being served is not for the monitors (yet) */
    int batched;          /* the request being served went into the batch: timed there */
    /* CLIENT PAUSE: until pause_end_ms, the commands it holds wait (every
     * one, or those that write or may replicate), their clients on paused
     * in the order they stopped; and no key expires. */
    int pause;            /* NODE_PAUSE_OFF, NODE_PAUSE_WRITE or NODE_PAUSE_ALL */
    int64_t pause_end_ms; /* as Redis keeps it: signed, the largest asked for */
    struct event *pause_ev;
    struct node_client **paused;
    int npaused, cappaused;
} node;

enum { NODE_PAUSE_OFF, NODE_PAUSE_WRITE, NODE_PAUSE_ALL };
/* node_client.paused: held, or held and being let go by node_pause_cb. */
enum { NODE_HELD = 1, NODE_RESUMING = 2 };

#define NODE_OOM_FMT                                                                             \
    "OOM ferry: the store is full (store-size %lld bytes); raise store-size and restart"

/* A full disk fails every commit while it lasts: one log line per this many
 * ms, saying how many failed in between (as Redis does for AOF writes). */
#define NODE_FAIL_LOG_MS 10000

static void node_oom(void)
{
    fprintf(stderr, "ferry: out of memory\n");
    abort();
}

static void *node_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        node_oom();
    return p;
}

static void *node_xrealloc(void *p, size_t sz)
{
    p = realloc(p, sz ? sz : 1);
    if (p == NULL)
        node_oom();
    return p;
}

static uint64_t node_rand(void)
{
    /* splitmix64: the seed only has to differ between entries; apply
     * never draws its own randomness. */
    uint64_t z = (node.seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void node_argv_copy(struct node_argv *a, int argc, char **argv, const size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += len[i] + 1;
    a->argc = argc;
    a->stat = 0;
    a->stat_start_us = 0;
    a->argv = node_xcalloc((size_t)argc, sizeof(char *));
    a->len = node_xcalloc((size_t)argc, sizeof(size_t));
    char *mem = node_xcalloc(1, total);
    for (int i = 0; i < argc; i++) {
        memcpy(mem, argv[i], len[i]);
        mem[len[i]] = 0;
        a->argv[i] = mem;
        a->len[i] = len[i];
        mem += len[i] + 1;
    }
}

static void node_argv_free(struct node_argv *a)
{
    if (a->argc > 0)
        free(a->argv[0]);
    free(a->argv);
    free(a->len);
    a->argv = NULL;
    a->len = NULL;
    a->argc = 0;
}

static struct node_client *node_client_get(struct proxy_client *c)
{
    void **p = proxy_client_node_state(c);
    if (*p == NULL) {
        struct node_client *nc = node_xcalloc(1, sizeof(*nc));
        nc->c = c;
        *p = nc;
    }
    return *p;
}

/* node.scratch (and the entries it carries) is reused for every request;
 * past this it is freed after use instead of kept at its largest. */
#define NODE_SCRATCH_KEEP (1u << 20)

static void node_reply_buf(struct proxy_client *c, struct resp_buf *b)
{
    proxy_client_reply(c, b->data, b->len);
    resp_buf_reset_shrink(b, NODE_SCRATCH_KEEP);
}

/* ------------------------------------------------------------------ watches / multi */

static void node_unwatch(struct node_client *nc)
{
    for (int i = 0; i < nc->nwatches; i++)
        free(nc->watches[i].key);
    node.watched -= nc->nwatches;
    nc->nwatches = 0;
}

static void node_discard(struct node_client *nc)
{
    for (int i = 0; i < nc->nqueued; i++)
        node_argv_free(&nc->queued[i]);
    nc->nqueued = 0;
    nc->in_multi = 0;
    nc->multi_dirty = 0;
}

static void node_watch_add(struct node_client *nc, const char *key, size_t len, uint64_t ver)
{
    for (int i = 0; i < nc->nwatches; i++)
        if (nc->watches[i].len == len && memcmp(nc->watches[i].key, key, len) == 0)
            return; /* Redis keeps the first WATCH of a key */
    if (nc->nwatches == nc->capwatches) {
        nc->capwatches = nc->capwatches ? nc->capwatches * 2 : 4;
        nc->watches = node_xrealloc(nc->watches, sizeof(*nc->watches) * (size_t)nc->capwatches);
    }
    struct node_watch *w = &nc->watches[nc->nwatches++];
    node.watched++;
    w->key = node_xcalloc(1, len + 1);
    memcpy(w->key, key, len);
    w->len = len;
    w->version = ver;
}

/* ------------------------------------------------------------------ batch */

static void node_commit_cb(evutil_socket_t fd, short what, void *arg);

static void node_schedule(void)
{
    if (!node.scheduled) {
        node.scheduled = 1;
        event_active(node.commit_ev, EV_TIMEOUT, 0);
    }
}

static struct node_op *node_op_add(int kind, struct proxy_client *c)
{
    if (node.nops == node.capops) {
        node.capops = node.capops ? node.capops * 2 : 64;
        node.ops = node_xrealloc(node.ops, sizeof(*node.ops) * (size_t)node.capops);
    }
    struct node_op *op = &node.ops[node.nops++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->c = c;
    /* As it is now: a CONFIG SET pipelined behind this op is answered
     * before the op runs, but its events are the ones asked for when it
     * was sent. */
    op->ev_classes = (unsigned)node.srv->cfg.notify_keyspace_events;
    if (c) {
        node.batched = 1;
        op->slot = proxy_client_reserve(c);
        node_client_get(c)->pending++;
    }
    node_schedule();
    return op;
}

/* ------------------------------------------------------------------ blocking pops */

static void node_blocked_unlink(struct node_blocked *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        node.bhead = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        node.btail = b->prev;
    b->prev = b->next = NULL;
}

/* ------------------------------------------------------------------ monitor */

/* MONITOR shows the commands this ferry carries out, in Redis 7.0's words:
 * `+<unix time> [<db> <client addr>] "arg" ...`. A ferry is its own
 * application's sidecar, so its feed is that application's commands; the
 * group's other ferries feed their own. Like Redis, it shows a command
 * once it is carried out (not when refused, nor when queued in MULTI: the
 * queue shows at EXEC), and never admin commands or passwords. */

/* A monitor that does not read is disconnected past this, as a subscriber
 * is: the sidecar's memory is the application's. */
#define NODE_MONITOR_LIMIT (32u << 20)

static void node_monitor_remove(struct node_client *nc)
{
    if (!nc->monitor)
        return;
    for (int i = 0; i < node.nmonitors; i++) {
        if (node.monitors[i] == nc->c) {
            node.monitors[i] = node.monitors[--node.nmonitors];
            break;
        }
    }
    nc->monitor = 0;
}

/* Appends arg as Redis's sdscatrepr does: quoted, C escapes, \xHH. Runs
 * of printable bytes go in one append: values may be megabytes. */
static void node_monitor_repr(struct resp_buf *b, const char *arg, size_t len, int redacted)
{
    if (redacted) {
        resp_buf_append(b, " \"(redacted)\"", 13);
        return;
    }
    resp_buf_append(b, " \"", 2);
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && arg[run] >= 0x20 && arg[run] < 0x7f && arg[run] != '\\' &&
               arg[run] != '"')
            run++;
        resp_buf_append(b, arg + i, run - i);
        if (run == len)
            break;
        unsigned char ch = (unsigned char)arg[run];
        const char *e = ch == '\\' ? "\\\\" : ch == '"' ? "\\\"" : ch == '\n' ? "\\n"
                      : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : ch == '\a' ? "\\a"
                      : ch == '\b' ? "\\b" : NULL;
        char hex[5];
        if (e == NULL) {
            snprintf(hex, sizeof(hex), "\\x%02x", ch);
            e = hex;
        }
        resp_buf_append(b, e, strlen(e));
        i = run + 1;
    }
    resp_buf_append(b, "\"", 1);
}

static void node_monitor_feed(struct proxy_client *from, int argc, char **argv, size_t *len)
{
    if (node.nmonitors == 0 || argc < 1)
        return;
    const struct resp_command *cmd = resp_command_lookup(argv[0], len[0]);
    if (cmd && cmd->nsub)
        cmd = argc > 1 ? resp_command_lookup_sub(cmd, argv[1], len[1]) : NULL;
    if (cmd == NULL || (cmd->flags & (RESP_CMD_ADMIN | RESP_CMD_SKIP_MONITOR)))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    static struct resp_buf line; /* one loop thread: reused */
    resp_buf_reset(&line);
    char head[128];
    int n = snprintf(head, sizeof(head), "+%ld.%06ld [0 %s]", (long)tv.tv_sec,
                     (long)tv.tv_usec, from->addr);
    resp_buf_append(&line, head, (size_t)n);
    for (int i = 0; i < argc; i++)
        node_monitor_repr(&line, argv[i], len[i], proxy_arg_redacted(argc, argv, len, i));
    resp_buf_append(&line, "\r\n", 2);
    for (int i = 0; i < node.nmonitors; i++) {
        struct proxy_client *m = node.monitors[i];
        if (proxy_client_killed(m))
            continue;
        if (proxy_client_push_bytes(m, line.data, line.len) > NODE_MONITOR_LIMIT) {
            proxy_log_warning("client %s: disconnected, over %u MB of MONITOR output not read",
                              m->addr, NODE_MONITOR_LIMIT >> 20);
            proxy_client_kill(m);
        }
    }
    resp_buf_reset_shrink(&line, 64 * 1024);
}

void proxy_node_monitor(struct proxy_client *c, const struct resp_request *r)
{
    node_monitor_feed(c, r->argc, r->argv, r->argvlen);
}

static void node_timed(struct proxy_client *c, const struct resp_command *cmd, int argc,
                       char **argv, size_t *len, uint64_t usec);
static int node_timing_on(void);

void proxy_node_ran(struct proxy_client *c, uint32_t stat, const struct resp_request *r,
                    uint64_t ns)
{
    proxy_stats_ran_for(stat, ns, node.srv->cfg.latency_tracking);
    if (node_timing_on())
        node_timed(c, NULL, r->argc, r->argv, r->argvlen, ns / 1000);
}

static void node_monitor_start(struct proxy_client *c, struct node_client *nc)
{
    if (nc->monitor)
        return; /* Redis ignores a second MONITOR: no reply at all */
    if (node.nmonitors == node.capmonitors) {
        node.capmonitors = node.capmonitors ? node.capmonitors * 2 : 4;
        node.monitors =
            node_xrealloc(node.monitors, sizeof(*node.monitors) * (size_t)node.capmonitors);
    }
    node.monitors[node.nmonitors++] = c;
    nc->monitor = 1;
    proxy_client_reply(c, "+OK\r\n", 5);
}

static void node_request_internal(struct proxy_client *c, int argc, char **argv, size_t *len);

/* The slow log and the latency monitor time what Redis times: a command's
 * execution, here or in the batch (not its wait for the commit's sync, nor
 * a pop's wait). */
static int node_timing_on(void)
{
    const struct proxy_config *cfg = &node.srv->cfg;
    return cfg->slowlog_log_slower_than >= 0 || cfg->latency_monitor_threshold > 0;
}

/* The command Redis would time, or NULL: Redis rejects unknown commands
 * and subcommands before running them, and never times EXEC itself (the
 * commands in it instead). */
static const struct resp_command *node_timed_command(int argc, char **argv, size_t *len)
{
    const struct resp_command *cmd = resp_command_lookup(argv[0], len[0]);
    if (cmd == NULL || proxy_arg_is(argv[0], len[0], "exec"))
        return NULL;
    if (cmd->nsub == 0)
        return cmd;
    return argc > 1 ? resp_command_lookup_sub(cmd, argv[1], len[1]) : NULL;
}

/* A command that ran for usec: to the slow log and the latency monitor if
 * it took long enough for either. cmd NULL: the one argv names, looked up
 * only then, off the path of the many quick commands. */
static void node_timed(struct proxy_client *c, const struct resp_command *cmd, int argc,
                       char **argv, size_t *len, uint64_t usec)
{
    const struct proxy_config *cfg = &node.srv->cfg;
    if (!(cfg->slowlog_log_slower_than >= 0 && usec >= (uint64_t)cfg->slowlog_log_slower_than) &&
        !(cfg->latency_monitor_threshold > 0 &&
          usec / 1000 >= (uint64_t)cfg->latency_monitor_threshold))
        return;
    if (cmd == NULL && (cmd = node_timed_command(argc, argv, len)) == NULL)
        return;
    proxy_slowlog_push(&node.srv->cfg, c->addr, node_client_get(c)->name, argc, argv, len, usec);
    proxy_latency_add_command(&node.srv->cfg, cmd, usec);
}

/* Serves a request, then shows it to the monitors unless it was refused,
 * deferred or queued, and to the slow log if it also ran now rather than
 * in the batch. */
static void node_request(struct proxy_client *c, int argc, char **argv, size_t *len)
{
    /* CLIENT UNBLOCK runs the unblocked one's requests inside. */
    int outer = node.unfed, outer_batched = node.batched;
    node.unfed = node.batched = 0;
    uint32_t idx = c->stat; /* taken by the slot its reply reserves, if any */
    uint64_t t0 = proxy_mono_ns();
    node_request_internal(c, argc, argv, len);
    int unfed = node.unfed, batched = node.batched;
    node.unfed = outer;
    node.batched = outer_batched;
    if (!unfed)
        node_monitor_feed(c, argc, argv, len);
    if (!unfed && !batched && !c->rejected) {
        if (idx && c->stat == idx)
            proxy_stats_executed(idx, 0); /* no reply of its own: SUBSCRIBE's are pushes */
        proxy_stats_ran_for(idx, proxy_mono_ns() - t0, node.srv->cfg.latency_tracking);
        if (node_timing_on())
            node_timed(c, NULL, argc, argv, len, (proxy_mono_ns() - t0) / 1000);
    }
}

/* Runs the requests a client sent while it was blocked. */
static void node_client_resume(struct node_client *nc)
{
    while (nc->ndeferred > 0 && nc->blocked == NULL && !nc->batch_wait && !nc->paused &&
           !proxy_client_killed(nc->c)) {
        struct node_argv a = nc->deferred[0];
        memmove(nc->deferred, nc->deferred + 1, sizeof(*nc->deferred) * (size_t)(nc->ndeferred - 1));
        nc->ndeferred--;
        nc->c->stat = a.stat;
        nc->c->stat_start_us = a.stat_start_us;
        proxy_client_run(nc->c, a.argc, a.argv, a.len);
        nc->c->stat = 0;
        node_argv_free(&a);
    }
}

/* Keeps a request of nc's for later: at the back of its deferred
 * requests, or at the front, where a request the pause caught as it ran
 * from them came from. It is timed from its arrival, and shown to the
 * monitors when it runs. */
static void node_defer(struct node_client *nc, int argc, char **argv, size_t *len, int front)
{
    struct proxy_client *c = nc->c;
    if (nc->ndeferred == nc->capdeferred) {
        nc->capdeferred = nc->capdeferred ? nc->capdeferred * 2 : 4;
        nc->deferred =
            node_xrealloc(nc->deferred, sizeof(*nc->deferred) * (size_t)nc->capdeferred);
    }
    int at = front ? 0 : nc->ndeferred;
    memmove(nc->deferred + at + 1, nc->deferred + at,
            sizeof(*nc->deferred) * (size_t)(nc->ndeferred - at));
    nc->ndeferred++;
    struct node_argv *d = &nc->deferred[at];
    node_argv_copy(d, argc, argv, len);
    d->stat = c->stat;
    d->stat_start_us = c->stat_start_us;
    c->stat = 0;
    node.unfed = 1;
}

/* ------------------------------------------------------------------ CLIENT PAUSE */

/* Whether the pause holds cmd (the subcommand, for one that has them)
 * back, as Redis 7.0 decides: under ALL every command; under WRITE those
 * that write or may replicate (PUBLISH, PFCOUNT, ...), and EXEC of a
 * transaction that queued one. */
static int node_pause_holds(const struct node_client *nc, const struct resp_command *cmd,
                            const char *name, size_t nl)
{
    if (node.pause == NODE_PAUSE_OFF || cmd == NULL)
        return 0;
    if (node.pause == NODE_PAUSE_ALL)
        return 1;
    const unsigned writes = RESP_CMD_WRITE | RESP_CMD_MAY_REPLICATE;
    if (cmd->flags & writes)
        return 1;
    if (!nc->in_multi || !proxy_arg_is(name, nl, "exec"))
        return 0;
    for (int i = 0; i < nc->nqueued; i++) {
        const struct node_argv *q = &nc->queued[i];
        const struct resp_command *qc = node_timed_command(q->argc, q->argv, q->len);
        if (qc && (qc->flags & writes))
            return 1;
    }
    return 0;
}

static void node_paused_add(struct node_client *nc)
{
    if (node.npaused == node.cappaused) {
        node.cappaused = node.cappaused ? node.cappaused * 2 : 8;
        node.paused = node_xrealloc(node.paused, sizeof(*node.paused) * (size_t)node.cappaused);
    }
    node.paused[node.npaused++] = nc;
    nc->paused = NODE_HELD;
}

static void node_paused_remove(struct node_client *nc)
{
    for (int i = 0; i < node.npaused; i++) {
        if (node.paused[i] == nc) {
            memmove(node.paused + i, node.paused + i + 1,
                    sizeof(*node.paused) * (size_t)(node.npaused - i - 1));
            node.npaused--;
            break;
        }
    }
    nc->paused = 0;
}

/* The pause's timer, for its end (at most a day ahead: the callback looks
 * again), or at once when it is already over. */
static void node_pause_arm(void)
{
    int64_t left = node.pause == NODE_PAUSE_OFF ? 0 : node.pause_end_ms - (int64_t)proxy_now_ms();
    if (left > 86400000)
        left = 86400000;
    struct timeval tv = {0, 0};
    if (left > 0) {
        tv.tv_sec = left / 1000;
        tv.tv_usec = (left % 1000) * 1000;
    }
    evtimer_add(node.pause_ev, &tv);
}

/* The pause is over (its time passed, or CLIENT UNPAUSE): the clients it
 * held go on in the order they stopped. One that a new pause (started by a
 * client resumed before it) catches again joins the back of the list. */
static void node_pause_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (node.pause != NODE_PAUSE_OFF && (int64_t)proxy_now_ms() < node.pause_end_ms) {
        node_pause_arm();
        return;
    }
    node.pause = NODE_PAUSE_OFF;
    node.pause_end_ms = 0;
    for (int i = 0; i < node.npaused; i++)
        node.paused[i]->paused = NODE_RESUMING;
    while (node.npaused > 0 && node.paused[0]->paused == NODE_RESUMING) {
        struct node_client *nc = node.paused[0];
        node_paused_remove(nc);
        node_client_resume(nc);
    }
}

/* CLIENT PAUSE timeout [WRITE|ALL], parsed and kept as Redis 7.0 does: the
 * mode is checked before the timeout; the end only ever moves later (a
 * timeout of 0 leaves it where it is), and the mode is the last one asked
 * for. Redis adds the clock to a timeout without checking, so one near
 * LLONG_MAX wraps into the past: a pause that is over at once. */
static void node_client_pause(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    if (argc > 4) {
        resp_add_subcommand_error(out, argv[1], "CLIENT");
        return;
    }
    int mode = NODE_PAUSE_ALL;
    if (argc == 4) {
        if (proxy_arg_is(argv[3], len[3], "write")) {
            mode = NODE_PAUSE_WRITE;
        } else if (!proxy_arg_is(argv[3], len[3], "all")) {
            resp_add_error(out, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    long long ms;
    if (!resp_string2ll(argv[2], len[2], &ms)) {
        resp_add_error(out, "ERR timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        resp_add_error(out, "ERR timeout is negative");
        return;
    }
    int64_t end = ms > 0 ? (int64_t)((uint64_t)ms + proxy_now_ms()) : 0;
    node.pause = mode;
    if (end > node.pause_end_ms)
        node.pause_end_ms = end;
    node_pause_arm();
    resp_add_simple(out, "OK");
}

/* INFO commandstats and latencystats, the slow log and the latency monitor
 * for a blocking pop, as Redis 7.0 counts one:
 * - when it blocks, a call and its time, and nothing else;
 * - served, the time the serving took, a latency sample of it, and the
 *   slow log and latency monitor by it;
 * - timed out, nothing more;
 * - ended by CLIENT UNBLOCK (either form), a failed call (not another
 *   call), and the time it ran when it blocked once more, with a latency
 *   sample of it (measured on redis-server 7.0.15; WAIT the same). */
static void node_blocked_counted(struct node_blocked *b, int how)
{
    uint32_t idx = b->slot->stat;
    int track = node.srv->cfg.latency_tracking;
    if (how == NODE_COUNT_BLOCKED) {
        proxy_stats_ran_for(idx, b->block_ns, 0);
        if (b->slot->counts == PROXY_COUNTS_CALL) {
            proxy_stats_executed(idx, 0);
            b->slot->counts = PROXY_COUNTS_NOTHING; /* not again at its reply */
        }
    } else if (how == NODE_COUNT_SERVED) {
        proxy_stats_ran_for(idx, b->serve_ns, track);
        if (node_timing_on())
            node_timed(b->c, NULL, b->a.argc, b->a.argv, b->a.len, b->serve_ns / 1000);
    } else if (how == NODE_COUNT_UNBLOCKED) {
        proxy_stats_failed(idx);
        proxy_stats_ran_for(idx, b->block_ns, track);
    }
}

static void node_blocked_free(struct node_blocked *b)
{
    if (b->timer)
        event_free(b->timer);
    node_argv_free(&b->a);
    resp_buf_fini(&b->reply);
    free(b);
}

static void node_blocked_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node_blocked *b = arg;
    if (b->served)
        return;
    struct node_client *nc = node_client_get(b->c);
    node_blocked_unlink(b);
    nc->blocked = NULL;
    /* Redis answers a timed-out list pop (BLMOVE included) with *-1. */
    static const char unblocked[] = "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";
    if (b->unblocked)
        node_blocked_counted(b, NODE_COUNT_UNBLOCKED);
    if (b->unblocked == 2) {
        proxy_slot_fill(b->c, b->slot, unblocked, sizeof(unblocked) - 1);
    } else if (b->wait) {
        proxy_slot_fill(b->c, b->slot, ":0\r\n", 4); /* no replica acknowledged */
    } else {
        proxy_slot_fill(b->c, b->slot, "*-1\r\n", 5);
    }
    node_blocked_free(b);
    node_client_resume(nc);
}

/* b waits now, its client's requests behind it: in arrival order, with a
 * timer for ms from now (-1: none, until served or CLIENT UNBLOCK). */
/* Ends a wait now, as its timeout would, from the timer's callback. */
static void node_blocked_time_out_now(struct node_blocked *b)
{
    if (b->timer == NULL)
        b->timer = evtimer_new(proxy_server_base(node.srv), node_blocked_timeout_cb, b);
    struct timeval now = {0, 0};
    evtimer_add(b->timer, &now);
}

static void node_blocked_enlist(struct node_client *nc, struct node_blocked *b, long long ms)
{
    if (ms >= 0) {
        b->timer = evtimer_new(proxy_server_base(node.srv), node_blocked_timeout_cb, b);
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
        evtimer_add(b->timer, &tv);
    }
    b->prev = node.btail;
    if (node.btail)
        node.btail->next = b;
    else
        node.bhead = b;
    node.btail = b;
    nc->blocked = b;
    if (node.stopping)
        node_blocked_time_out_now(b);
}

void proxy_node_stopping(void)
{
    node.stopping = 1;
    for (struct node_blocked *b = node.bhead; b; b = b->next)
        node_blocked_time_out_now(b);
}

static void node_block(struct proxy_client *c, struct proxy_slot *slot, struct node_argv *a,
                       uint64_t now)
{
    struct node_client *nc = node_client_get(c);
    struct node_blocked *b = node_xcalloc(1, sizeof(*b));
    b->c = c;
    b->slot = slot;
    b->a = *a; /* takes the argv */
    memset(a, 0, sizeof(*a));
    resp_buf_init(&b->reply);
    long long deadline = 0;
    struct resp_buf tmp;
    resp_buf_init(&tmp);
    int ti = store_blocking_timeout_index(b->a.argc, b->a.argv, b->a.len);
    store_parse_timeout(b->a.argv[ti], b->a.len[ti], now, &deadline, &tmp);
    resp_buf_fini(&tmp);
    long long ms = deadline - (long long)now;
    node_blocked_enlist(nc, b, deadline > 0 ? (ms < 0 ? 0 : ms) : -1);
}

struct node_ready_ctx {
    struct store_txn *t;
    uint64_t now;
};

static void node_serve_ready(struct store_txn *t, uint64_t now);

static void node_ready_cb(void *arg, const char *key, size_t klen)
{
    struct node_ready_ctx *rc = arg;
    for (struct node_blocked *b = node.bhead; b; b = b->next) {
        /* Killed or unblocked clients are no longer waiting: an element
         * popped for them would be lost. */
        if (b->served || b->unblocked || b->wait || proxy_client_killed(b->c) ||
            !store_txn_blocked_on(rc->t, b->a.argc, b->a.argv, b->a.len, key, klen))
            continue;
        struct resp_buf *e = &node.scratch;
        resp_buf_reset(e);
        resp_buf_reset(&b->reply);
        uint64_t t0 = proxy_mono_ns();
        if (store_txn_prepare(rc->t, b->a.argc, b->a.argv, b->a.len, rc->now, node_rand(), e,
                              &b->reply) != 1)
            continue;
        int blocked = 0;
        if (store_txn_apply(rc->t, 0, e->data, e->len, &b->reply, &blocked) != 0)
            continue;
        if (!blocked) {
            b->served = 1;
            b->serve_ns = proxy_mono_ns() - t0;
            node.entries++;
        }
    }
}

/* A deleted key touches the watches that saw it missing (version 0): Redis
 * aborts their EXEC even if the key is missing again by then. */
static void node_deleted_cb(void *arg, const char *key, size_t klen)
{
    (void)arg;
    if (node.watched == 0)
        return;
    for (struct proxy_client *c = node.srv->clients; c; c = c->next) {
        struct node_client *nc = *proxy_client_node_state(c);
        if (nc == NULL)
            continue;
        for (int i = 0; i < nc->nwatches; i++) {
            struct node_watch *w = &nc->watches[i];
            if (w->version == 0 && w->len == klen && memcmp(w->key, key, klen) == 0)
                w->version = UINT64_MAX;
        }
    }
}

static void node_serve_ready(struct store_txn *t, uint64_t now)
{
    struct node_ready_ctx rc = {t, now};
    store_txn_ready_keys(t, node_ready_cb, &rc);
    store_txn_deleted_keys(t, node_deleted_cb, NULL);
}

/* After the commit: answer the clients served in this batch. */
static void node_blocked_finish(int ok)
{
    struct node_blocked *b = node.bhead, *next;
    for (; b; b = next) {
        next = b->next;
        if (!b->served)
            continue;
        struct node_client *nc = node_client_get(b->c);
        node_blocked_unlink(b);
        nc->blocked = NULL;
        if (ok) {
            node_blocked_counted(b, NODE_COUNT_SERVED);
            proxy_slot_fill(b->c, b->slot, b->reply.data, b->reply.len);
        } else
            proxy_slot_fill(b->c, b->slot, "-ERR ferry: the write failed\r\n", 30);
        node_blocked_free(b);
        node_client_resume(nc);
    }
}

/* ------------------------------------------------------------------ exec */

/* Commands the node answers itself inside MULTI (no store state). Returns 1
 * with the reply in out, 0 when the store must run it. */
static int node_local_reply(struct proxy_client *c, int argc, char **argv, size_t *len,
                            struct resp_buf *out);

/* A transaction's command's index in stats.c: Redis counts each one a
 * call at EXEC. */
static uint32_t node_argv_stat(const struct node_argv *a)
{
    return proxy_stats_index(resp_command_lookup(a->argv[0], a->len[0]), a->argc, a->argv, a->len);
}

/* A transaction's i-th command ran: its time and latency sample, the
 * slow log and the latency monitor, as Redis times each command of an
 * EXEC. At apply, in order with the batch's other commands, for the
 * store's commands and the node's own; a PUBLISH, sent after the commit,
 * then. Its call is counted after the commit, with its reply. */
static void node_exec_ran(struct node_op *op, int i)
{
    const struct node_argv *a = &op->queued[i];
    proxy_stats_ran_for(node_argv_stat(a), op->ns[i], node.srv->cfg.latency_tracking);
    if (op->c && node_timing_on())
        node_timed(op->c, NULL, a->argc, a->argv, a->len, op->ns[i] / 1000);
}

/* Times a transaction's store commands as the store runs them
 * (store_txn_on_exec_cmd): the i-th store command is queued[next]. */
struct node_exec_clock {
    struct node_op *op;
    int next;
    uint64_t last;
};

/* The first store command at queued index i or after it. */
static int node_exec_next_store(const struct node_op *op, int i)
{
    while (i < op->nqueued && op->from[i] != NODE_FROM_STORE)
        i++;
    return i;
}

static void node_exec_clock_cb(void *arg, int i)
{
    struct node_exec_clock *k = arg;
    uint64_t now = proxy_mono_ns();
    if (i >= 0 && k->next < k->op->nqueued) {
        k->op->ns[k->next] = now - k->last;
        k->op->evm[k->next] = store_events_mark(node.store);
        k->next = node_exec_next_store(k->op, k->next + 1);
    }
    k->last = now;
}

/* Builds the EXEC entry and applies it; local replies go to locals (in
 * order, from[] saying which command's reply comes from where). */
static void node_exec_apply(struct store_txn *t, struct node_op *op, uint64_t now)
{
    struct node_client *nc = node_client_get(op->c);
    struct resp_buf entry;
    resp_buf_init(&entry);
    resp_buf_init(&op->locals);
    int n = op->nqueued;
    op->from = node_xcalloc((size_t)n + 1, 1);
    op->ns = node_xcalloc((size_t)n + 1, sizeof(*op->ns));
    op->evm = node_xcalloc((size_t)n + 1, sizeof(*op->evm));
    store_prepare_exec_begin(node.store, now, node_rand(), &entry);
    for (int i = 0; i < nc->nwatches; i++)
        store_prepare_exec_watch(&entry, nc->watches[i].key, nc->watches[i].len,
                                 nc->watches[i].version);
    /* A WATCHed key that changed aborts the transaction, and then none of
     * its commands runs, the node's own (CLIENT SETNAME, HELLO, CONFIG
     * SET) neither: the store is asked first what it will find when it
     * applies the entry. (Aborting, it runs no command of the entry.) */
    int aborts = store_txn_exec_aborts(t, entry.data, entry.len);
    for (int i = 0; i < n; i++) {
        struct node_argv *a = &op->queued[i];
        uint64_t t0 = proxy_mono_ns();
        if (proxy_pubsub_is_publish(a->argv[0], a->len[0])) {
            op->from[i] = NODE_FROM_PUBLISH;
        } else if (!aborts && node_local_reply(op->c, a->argc, a->argv, a->len, &op->locals)) {
            op->from[i] = NODE_FROM_LOCAL;
            op->ns[i] = proxy_mono_ns() - t0;
        } else {
            store_prepare_exec_cmd(&entry, a->argc, a->argv, a->len);
        }
    }
    store_prepare_exec_end(&entry);
    struct resp_buf *sreply = &op->entry;
    struct node_exec_clock clock = {op, node_exec_next_store(op, 0), 0};
    store_txn_on_exec_cmd(t, node_exec_clock_cb, &clock);
    int rc = store_txn_apply(t, 0, entry.data, entry.len, sreply, NULL);
    store_txn_on_exec_cmd(t, NULL, NULL);
    if (rc == STORE_EFULL) {
        resp_add_errorf(&op->reply, NODE_OOM_FMT, (long long)store_map_size(node.store));
    } else if (rc == STORE_ETOOBIG) {
        resp_add_errorf(&op->reply, "ERR ferry: key or member too long for the store (keys "
                                    "and key+member up to %d bytes)", STORE_MAX_KEY_LEN);
    } else if (rc != 0) {
        resp_add_errorf(&op->reply, "ERR ferry: EXEC failed: %s", store_strerror(rc));
    } else if (sreply->len >= 5 && memcmp(sreply->data, "*-1\r\n", 5) == 0) {
        resp_buf_append(&op->reply, sreply->data, sreply->len); /* a WATCH aborted it */
    } else {
        node.entries++;
        op->merge = 1;
        for (int i = 0; i < n; i++)
            if (op->from[i] != NODE_FROM_PUBLISH)
                node_exec_ran(op, i);
    }
    resp_buf_fini(&entry);
    node_unwatch(nc);
}


/* ------------------------------------------------------------------ keyspace events */

/* The store records only the classes notify-keyspace-events asks for (as
 * it was when the command came: CONFIG SET and SIGHUP change it), and they
 * are published as they ask (K, E). */
static void node_events_config(unsigned classes)
{
    store_set_events(node.store, classes);
    node.ev_classes = classes;
}

static void node_event_send(const char *prefix, const char *name, size_t nlen,
                            const char *msg, size_t mlen)
{
    struct resp_buf *ch = &node.ev_chan;
    resp_buf_reset(ch);
    resp_buf_append(ch, prefix, strlen(prefix));
    resp_buf_append(ch, name, nlen);
    proxy_pubsub_message(ch->data, ch->len, msg, mlen);
}

static void node_event_cb(void *arg, const char *event, const char *key, size_t klen)
{
    (void)arg;
    unsigned classes = node.ev_classes;
    size_t elen = strlen(event);
    /* Only database 0 exists. */
    if (classes & STORE_EV_KEYSPACE)
        node_event_send("__keyspace@0__:", key, klen, event, elen);
    if (classes & STORE_EV_KEYEVENT)
        node_event_send("__keyevent@0__:", event, elen, key, klen);
}

/* Publishes the events the store recorded up to mark that are not out yet.
 * After a commit, in the order of the ops of the turn, so that a PUBLISH
 * comes after the events of the writes before it, as in Redis; and not
 * before the commit, as a subscriber told of a write could read the key
 * without it. */
static void node_events_publish(size_t mark)
{
    if (mark > node.ev_sent) {
        store_events_each(node.store, node.ev_sent, mark, node_event_cb, NULL);
        node.ev_sent = mark;
    }
}

/* The turn's events are all out, or are dropped with its failed commit. */
static void node_events_done(void)
{
    store_events_clear(node.store, 0);
    node.ev_sent = 0;
}

/* After the commit: an applied EXEC's reply, the store's array with the
 * node's own replies spliced in at their places, and its PUBLISHes sent,
 * in order (before the commit, a subscriber told of a write could read
 * the key without it). A failed commit has replied its error already. */
static void node_exec_finish(struct node_op *op, int ok)
{
    if (op->merge && ok) {
        struct resp_buf *sreply = &op->entry;
        const char *nl = memchr(sreply->data, '\n', sreply->len);
        size_t soff = nl ? (size_t)(nl - sreply->data) + 1 : sreply->len, loff = 0;
        resp_add_array(&op->reply, op->nqueued);
        size_t ev_upto = node.ev_sent;
        for (int i = 0; i < op->nqueued; i++) {
            if (op->evm[i])
                ev_upto = op->evm[i];
            if (op->from[i] == NODE_FROM_PUBLISH) {
                node_events_publish(ev_upto);
                uint64_t t0 = proxy_mono_ns();
                proxy_pubsub_publish(op->queued[i].argv, op->queued[i].len, &op->reply);
                op->ns[i] = proxy_mono_ns() - t0;
                proxy_stats_executed(node_argv_stat(&op->queued[i]), 0);
                node_exec_ran(op, i);
                continue;
            }
            struct resp_buf *src = op->from[i] == NODE_FROM_LOCAL ? &op->locals : sreply;
            size_t *off = op->from[i] == NODE_FROM_LOCAL ? &loff : &soff;
            size_t used = 0;
            struct resp_scanner sc;
            resp_scanner_init(&sc);
            if (resp_scanner_scan(&sc, src->data + *off, src->len - *off, &used) != RESP_OK)
                break;
            const struct node_argv *a = &op->queued[i];
            proxy_stats_executed(node_argv_stat(a), src->data[*off] == '-');
            if (op->c && op->c->resp3)
                resp3_convert(resp3_shape_of(a->argc, a->argv, a->len), src->data + *off, used,
                              &op->reply);
            else
                resp_buf_append(&op->reply, src->data + *off, used);
            *off += used;
        }
    }
    for (int i = 0; i < op->nqueued; i++)
        node_argv_free(&op->queued[i]);
    free(op->queued);
    op->queued = NULL;
    free(op->from);
    op->from = NULL;
    free(op->ns);
    op->ns = NULL;
    free(op->evm);
    op->evm = NULL;
    resp_buf_fini(&op->locals);
}

/* ------------------------------------------------------------------ commit */

static void node_fill_op(struct node_op *op)
{
    struct proxy_client *c = op->c;
    if (c == NULL)
        return;
    struct node_client *nc = node_client_get(c);
    nc->pending--;
    if (c->gone && nc->pending == 0 && nc->blocked == NULL) {
        /* proxy_node_client_closed kept the state for this op. Dropped
         * before the fill: the last fill of a closed client frees it. */
        *proxy_client_node_state(c) = NULL;
        free(nc);
    }
    if (!op->blocked) /* else the slot now belongs to the blocked entry */
        proxy_slot_fill(c, op->slot, op->reply.data, op->reply.len);
}

/* Whether a commit failed because the disk refused it. */
static int node_disk_failure(int rc)
{
    return rc == STORE_EDISK || rc == STORE_EFATAL;
}

/* Why the disk refused a commit, as strerror words. */
static const char *node_disk_reason(int rc)
{
    int e = store_last_errno(node.store);
    return e ? strerror(e) : store_strerror(rc);
}

static void node_commit_failed(int rc)
{
    node.commit_failures++;
    node.failing++;
    uint64_t now = proxy_now_ms();
    if (node.failing > 1 && now - node.reported_ms < NODE_FAIL_LOG_MS) {
        node.unreported++;
        return;
    }
    char why[256];
    if (node_disk_failure(rc))
        snprintf(why, sizeof(why), "%s: %s", store_strerror(rc), node_disk_reason(rc));
    else
        snprintf(why, sizeof(why), "%s", store_strerror(rc));
    if (node.unreported > 0)
        proxy_log_warning("store commit failed: %s (and %llu more since the last report)", why,
                          (unsigned long long)node.unreported);
    else
        proxy_log_warning("store commit failed: %s", why);
    node.unreported = 0;
    node.reported_ms = now;
}

static void node_store_fatal(int rc)
{
    if (node.fatal)
        return;
    /* As Redis exits on a failed AOF write under appendfsync always: LMDB
     * takes no more transactions, and a restart opens the last whole
     * checkpoint and applies the journal since. */
    node.fatal = 1;
    proxy_log_warning("the store cannot go on after a failed write of its meta page (%s); "
                      "exiting so that a restart reopens the last whole commit",
                      node_disk_reason(rc));
    proxy_server_fail(node.srv, "store failure");
}

/* SAVE, when the writes before it have committed: everything acknowledged
 * goes into LMDB's synced files (store_save). Redis answers a failed save
 * with a bare "-ERR"; ferry says why. */
static void node_save(struct resp_buf *out)
{
    if (node.fatal) { /* an earlier SAVE of the turn broke the store */
        resp_add_error(out, "ERR ferry: save failed: the store is closing after a failed write");
        return;
    }
    int rc = store_save(node.store);
    if (rc == 0) {
        resp_add_simple(out, "OK");
        return;
    }
    proxy_log_warning("SAVE failed: %s", node_disk_reason(rc));
    resp_add_errorf(out, "ERR ferry: save failed: %s%s", node_disk_reason(rc),
                    rc == STORE_EFATAL ? "" : " (acknowledged writes are safe in the journal)");
    if (rc == STORE_EFATAL)
        node_store_fatal(rc);
}

/* BGSAVE and BGREWRITEAOF: Redis answers at once and saves in a child; a
 * checkpoint takes milliseconds, so ferry saves in the loop, once the turn
 * that asked has committed (after its writes, as Redis's child would see
 * them). A failure shows in INFO (rdb_last_bgsave_status) and the log. */
static void node_bgsave_run(void)
{
    node.bgsave = 0;
    if (node.fatal)
        return;
    int rc = store_save(node.store);
    node.bgsave_failed = rc != 0;
    if (rc != 0)
        proxy_log_warning("BGSAVE failed: %s", node_disk_reason(rc));
    if (rc == STORE_EFATAL)
        node_store_fatal(rc);
}

static void node_bgsave(void)
{
    node.bgsave = 1;
    if (!node.committing && node.nops == 0)
        node_bgsave_run();
}

static void node_commit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    node.scheduled = 0;
    if (node.nops == 0)
        return;
    uint64_t now = proxy_now_ms();
    struct store_txn *t;
    /* checkpoint-bytes and -entries may have changed (CONFIG SET, SIGHUP). */
    const struct proxy_config *cfg = &node.srv->cfg;
    store_set_checkpoint_every(node.store, (uint64_t)cfg->checkpoint_bytes,
                               (uint64_t)cfg->checkpoint_entries);
    int rc = store_txn_begin(node.store, &t);
    node.committing = 1;
    int nops = node.nops;
    struct node_op *ops = node.ops;
    /* New ops (from resumed clients) go into a fresh array. */
    node.ops = NULL;
    node.nops = node.capops = 0;
    int timed = node_timing_on();
    for (int i = 0; i < nops && rc == 0; i++) {
        struct node_op *op = &ops[i];
        resp_buf_init(&op->reply);
        node_events_config(op->ev_classes);
        uint64_t t0_ns =
            op->kind == NODE_OP_READ || op->kind == NODE_OP_WRITE || op->kind == NODE_OP_EXEC
                ? proxy_mono_ns()
                : 0;
        switch (op->kind) {
        case NODE_OP_WATCH: {
            struct node_client *nc = node_client_get(op->c);
            for (int k = 1; k < op->a.argc; k++)
                node_watch_add(nc, op->a.argv[k], op->a.len[k],
                               store_txn_key_version(t, op->a.argv[k], op->a.len[k]));
            resp_add_simple(&op->reply, "OK");
            break;
        }
        case NODE_OP_EXEC:
            node_exec_apply(t, op, now);
            node_serve_ready(t, now);
            break;
        case NODE_OP_EXPIRE:
            store_txn_apply(t, 0, op->entry.data, op->entry.len, NULL, NULL);
            store_txn_deleted_keys(t, node_deleted_cb, NULL);
            break;
        case NODE_OP_UNWATCH:
            node_unwatch(node_client_get(op->c));
            resp_buf_append(&op->reply, op->entry.data, op->entry.len);
            break;
        case NODE_OP_PUBLISH: /* after the commit */
        case NODE_OP_SAVE:
            break;
        case NODE_OP_READ: {
            size_t ev_mark = store_events_mark(node.store);
            if (store_txn_read(t, op->a.argc, op->a.argv, op->a.len, now, &op->reply) !=
                STORE_EWRITE)
                break;
            store_events_clear(node.store, ev_mark); /* it runs again as a write */
        }
            __attribute__((fallthrough)); /* a read that must write */
        case NODE_OP_WRITE: {
            struct resp_buf *e = &node.scratch;
            resp_buf_reset(e);
            if (store_txn_prepare(t, op->a.argc, op->a.argv, op->a.len, now, node_rand(), e,
                                  &op->reply) != 1)
                break;
            int blocked = 0;
            int arc = store_txn_apply(t, 0, e->data, e->len, &op->reply, &blocked);
            if (arc == STORE_EFULL) {
                resp_add_errorf(&op->reply, NODE_OOM_FMT, (long long)store_map_size(node.store));
            } else if (arc == STORE_ETOOBIG) {
                resp_add_errorf(&op->reply, "ERR ferry: key or member too long for the store "
                                            "(keys and key+member up to %d bytes)",
                                STORE_MAX_KEY_LEN);
            } else if (arc != 0) {
                resp_add_errorf(&op->reply, "ERR ferry: write failed: %s", store_strerror(arc));
            } else if (blocked && proxy_client_killed(op->c)) {
                /* Closed (or about to be) since it asked: nobody to wait for;
                 * the empty reply only releases the slot. */
            } else if (blocked) {
                op->blocked = 1;
                node_block(op->c, op->slot, &op->a, now);
            } else {
                node.entries++;
                node_serve_ready(t, now);
            }
            break;
        }
        }
        op->ev_end = store_events_mark(node.store);
        if (t0_ns == 0)
            continue;
        uint64_t ran_ns = proxy_mono_ns() - t0_ns;
        if (op->blocked) {
            struct node_blocked *b = node_client_get(op->c)->blocked;
            b->block_ns = ran_ns;
            node_blocked_counted(b, NODE_COUNT_BLOCKED);
            continue;
        }
        proxy_stats_ran_for(op->slot->stat, ran_ns, node.srv->cfg.latency_tracking);
        if (!timed)
            continue;
        if (op->kind == NODE_OP_EXEC) {
            /* EXEC goes to the latency monitor, not to the slow log (its
             * commands do, one by one: node_exec_finish), as in Redis. */
            proxy_latency_add_command(&node.srv->cfg, resp_command_lookup("exec", 4),
                                      ran_ns / 1000);
        } else {
            node_timed(op->c, NULL, op->a.argc, op->a.argv, op->a.len, ran_ns / 1000);
        }
    }
    int ok = 0;
    if (rc == 0) {
        uint64_t start = proxy_mono_us();
        /* The turn's entries go into the Raft log in the same transaction
         * as their apply: one commit, one sync, and applied_index == last
         * log index after it. If the append fails (the map is full, say),
         * its own error is the one clients get: the commit is refused. */
        rc = store_txn_log_applied(t, NODE_LOG_KEEP);
        if (rc == 0)
            rc = store_txn_commit(t);
        else
            store_txn_abort(t);
        uint64_t usec = proxy_mono_us() - start;
        node.commit_usec += usec;
        proxy_latency_add(&node.srv->cfg, "ferry-commit", usec);
        ok = rc == 0;
        node.commits++;
    }
    if (!ok) {
        node_commit_failed(rc);
        for (int i = 0; i < nops; i++) {
            struct node_op *op = &ops[i];
            resp_buf_reset(&op->reply);
            if (rc == STORE_EFULL)
                resp_add_errorf(&op->reply, NODE_OOM_FMT, (long long)store_map_size(node.store));
            else if (node_disk_failure(rc)) /* Redis's AOF words */
                resp_add_errorf(&op->reply, "MISCONF Errors writing to the store: %s",
                                node_disk_reason(rc));
            else
                resp_add_errorf(&op->reply, "ERR ferry: commit failed: %s", store_strerror(rc));
        }
        if (rc == STORE_EFATAL)
            node_store_fatal(rc);
    } else if (node.failing > 0) {
        proxy_log_notice("store commits succeed again, after %llu failed",
                         (unsigned long long)node.failing);
        node.failing = node.unreported = 0;
    }
    node.committing = 0;
    if (!ok)
        node_events_done(); /* none of it happened */
    if (node.bgsave)
        node_bgsave_run();
    for (int i = 0; i < nops; i++) {
        node.ev_classes = ops[i].ev_classes;
        if (ops[i].kind != NODE_OP_EXEC)
            node_events_publish(ops[i].ev_end);
        if (ops[i].kind == NODE_OP_PUBLISH) {
            /* Published whether or not the writes before it committed:
             * the message is not a write. */
            resp_buf_reset(&ops[i].reply);
            proxy_pubsub_publish(ops[i].a.argv, ops[i].a.len, &ops[i].reply);
        } else if (ops[i].kind == NODE_OP_SAVE && ok) {
            uint64_t t0_ns = proxy_mono_ns();
            node_save(&ops[i].reply);
            uint64_t ran_ns = proxy_mono_ns() - t0_ns;
            proxy_stats_ran_for(ops[i].slot->stat, ran_ns, node.srv->cfg.latency_tracking);
            if (timed)
                node_timed(ops[i].c, NULL, ops[i].a.argc, ops[i].a.argv, ops[i].a.len,
                           ran_ns / 1000);
        } else if (ops[i].kind == NODE_OP_EXEC) {
            node_exec_finish(&ops[i], ok);
            node_events_publish(ops[i].ev_end);
        }
        struct proxy_client *c = ops[i].c;
        int resume = 0;
        if (ops[i].holds_client) {
            struct node_client *nc = node_client_get(c);
            nc->batch_wait = 0;
            /* A blocked pop resumes it when served or timed out. A closed
             * client has nothing to resume, and the fill may free it. */
            resume = !ops[i].blocked && !c->gone;
        }
        node_fill_op(&ops[i]);
        if (resume)
            node_client_resume(node_client_get(c));
        node_argv_free(&ops[i].a);
        resp_buf_fini(&ops[i].reply);
        resp_buf_fini(&ops[i].entry);
    }
    free(ops);
    node_events_done();
    node_blocked_finish(ok);
    resp_buf_reset_shrink(&node.scratch, NODE_SCRATCH_KEEP);
}

static void node_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    /* Between batches: move what the journal holds into LMDB's files (a
     * refused checkpoint is tried again a second later, its writes safe in
     * the journal meanwhile), then keep zero-filled file ahead of the data
     * (a few ms at most per tick), so checkpoints sync without file-system
     * metadata. */
    uint64_t now = proxy_now_ms();
    if (node.nops == 0 && !node.fatal && now - node.checkpoint_failed_ms >= 1000) {
        int rc = store_checkpoint(node.store);
        if (rc == STORE_EFATAL)
            node_store_fatal(rc);
        else if (rc != 0)
            node.checkpoint_failed_ms = now;
        else
            store_preallocate(node.store, 32u << 20, 4u << 20);
    }
    if (node.pause != NODE_PAUSE_OFF)
        return; /* as in Redis, nothing expires while clients are paused */
    struct resp_buf e;
    resp_buf_init(&e);
    if (store_prepare_expire(node.store, proxy_now_ms(), 1000, &e) > 0) {
        struct node_op *op = node_op_add(NODE_OP_EXPIRE, NULL);
        op->entry = e;
    } else {
        resp_buf_fini(&e);
    }
}

/* ------------------------------------------------------------------ open/close */

int proxy_node_open(struct proxy_server *s, char *err, size_t errlen)
{
    const struct proxy_config *cfg = proxy_server_config(s);
    if (cfg->phase != PROXY_PHASE_RAFT_ONLY) {
        snprintf(err, errlen, "phase %s needs the raft group, which this build lacks",
                 proxy_phase_name(cfg->phase));
        return -1;
    }
    if (mkdir(cfg->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create dir %s: %s", cfg->dir, strerror(errno));
        return -1;
    }
    memset(&node, 0, sizeof(node));
    node.srv = s;
    if (store_open(&node.store, cfg->dir, (size_t)cfg->store_size, cfg->sync ? 0 : STORE_NOSYNC,
                   err, errlen) != 0)
        return -1;
    node.seed = proxy_now_ms() ^ ((uint64_t)getpid() << 32);
    node.commit_ev = event_new(proxy_server_base(s), -1, 0, node_commit_cb, NULL);
    node.expire_ev = event_new(proxy_server_base(s), -1, EV_PERSIST, node_expire_cb, NULL);
    node.pause_ev = evtimer_new(proxy_server_base(s), node_pause_cb, NULL);
    struct timeval tv = {0, 100 * 1000};
    event_add(node.expire_ev, &tv);
    resp_buf_init(&node.scratch);
    proxy_log_notice("store open in %s: %llu keys, applied index %llu, store-size %lld, sync %s",
                     cfg->dir, (unsigned long long)store_key_count(node.store),
                     (unsigned long long)store_applied_index(node.store), cfg->store_size,
                     cfg->sync ? "always" : "no");
    return 0;
}

void proxy_node_close(struct proxy_server *s)
{
    (void)s;
    if (node.store == NULL)
        return;
    if (node.nops)
        node_commit_cb(-1, 0, NULL);
    while (node.bhead) {
        struct node_blocked *b = node.bhead;
        node_blocked_unlink(b);
        proxy_slot_fill(b->c, b->slot, "*-1\r\n", 5);
        struct node_client *nc = node_client_get(b->c);
        nc->blocked = NULL;
        node_blocked_free(b);
    }
    if (node.commit_ev)
        event_free(node.commit_ev);
    if (node.expire_ev)
        event_free(node.expire_ev);
    if (node.pause_ev)
        event_free(node.pause_ev);
    free(node.paused);
    node.paused = NULL;
    node.npaused = node.cappaused = 0;
    free(node.ops);
    resp_buf_fini(&node.scratch);
    resp_buf_fini(&node.ev_chan);
    proxy_pubsub_free_all();
    proxy_slowlog_reset();
    store_close(node.store);
    node.store = NULL;
}

int proxy_node_client_waits(const struct proxy_client *c)
{
    const struct node_client *nc = c->node_state;
    return nc && (nc->blocked || nc->batch_wait || nc->paused);
}

int proxy_node_pauses_all(void)
{
    return node.store && node.pause == NODE_PAUSE_ALL;
}

int proxy_node_client_in_multi(const struct proxy_client *c)
{
    const struct node_client *nc = c->node_state;
    return nc && nc->in_multi;
}

int proxy_node_client_subscribed(const struct proxy_client *c)
{
    const struct node_client *nc = c->node_state;
    return nc && proxy_pubsub_subscribed(nc->pubsub);
}

void proxy_node_client_closed(struct proxy_client *c)
{
    void **p = proxy_client_node_state(c);
    struct node_client *nc = *p;
    if (nc == NULL)
        return;
    if (nc->paused)
        node_paused_remove(nc); /* its requests never run, as in Redis */
    if (nc->blocked) {
        /* c is already marked gone (proxy_client_close does that first), so
         * filling its slot here queues no output and frees the slot. */
        struct node_blocked *b = nc->blocked;
        node_blocked_unlink(b);
        proxy_slot_fill(c, b->slot, "", 0);
        node_blocked_free(b);
        nc->blocked = NULL;
    }
    for (int i = 0; i < nc->ndeferred; i++)
        node_argv_free(&nc->deferred[i]);
    free(nc->deferred);
    node_monitor_remove(nc);
    proxy_pubsub_reset(c, &nc->pubsub);
    node_discard(nc);
    free(nc->queued);
    node_unwatch(nc);
    free(nc->watches);
    free(nc->name);
    /* Ops of this client still in the batch keep a pointer to c, which the
     * proxy keeps alive until their slots are filled; they look the state
     * up again, so it must stay: drop it only when nothing is pending. */
    if (nc->pending == 0) {
        free(nc);
        *p = NULL;
    } else {
        nc->queued = NULL;
        nc->watches = NULL;
        nc->name = NULL;
        nc->deferred = NULL;
        nc->ndeferred = nc->capqueued = nc->capwatches = nc->capdeferred = 0;
    }
}

/* ------------------------------------------------------------------ server commands */

static void node_arity_error(struct resp_buf *out, const char *name)
{
    resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", name);
}

static void node_client_line(struct proxy_client *c, struct resp_buf *out, uint64_t now)
{
    struct node_client *nc = node_client_get(c);
    int sub, psub, ssub;
    proxy_pubsub_client_counts(nc->pubsub, &sub, &psub, &ssub);
    /* Redis's flags in Redis's order; N when there is none. */
    char flags[8], *f = flags;
    if (nc->monitor)
        *f++ = 'O';
    if (proxy_pubsub_subscribed(nc->pubsub))
        *f++ = 'P';
    if (nc->in_multi)
        *f++ = 'x';
    if (nc->blocked || nc->paused)
        *f++ = 'b';
    if (c->unix_socket)
        *f++ = 'U';
    if (f == flags)
        *f++ = 'N';
    *f = '\0';
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 "
                     "sub=%d psub=%d ssub=%d multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
                     "rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default "
                     "redir=-1 resp=%d\n",
                     (unsigned long long)proxy_client_id(c), c->addr, c->laddr, c->fd,
                     nc->name ? nc->name : "", (unsigned long long)((now - c->created_ms) / 1000),
                     (unsigned long long)((now - c->last_active_ms) / 1000),
                     flags,
                     sub, psub, ssub, nc->in_multi ? nc->nqueued : -1,
                     nc->last_cmd ? nc->last_cmd->name : "NULL", c->resp3 ? 3 : 2);
    resp_buf_append(out, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
}

/* "client|tracking" -> "CLIENT TRACKING", for errors naming a command. */
/* Redis's client types by name: a node's clients are "pubsub" while
 * subscribed, else "normal"; it has no replica or master clients. */
enum { NODE_TYPE_NONE, NODE_TYPE_NORMAL, NODE_TYPE_PUBSUB };

static int node_client_type(const char *name, size_t len)
{
    if (proxy_arg_is(name, len, "normal"))
        return NODE_TYPE_NORMAL;
    if (proxy_arg_is(name, len, "pubsub"))
        return NODE_TYPE_PUBSUB;
    if (proxy_arg_is(name, len, "slave") || proxy_arg_is(name, len, "replica") ||
        proxy_arg_is(name, len, "master"))
        return NODE_TYPE_NONE;
    return -1;
}

static int node_client_is_type(struct proxy_client *c, int type)
{
    int pubsub = proxy_pubsub_subscribed(node_client_get(c)->pubsub);
    return type == (pubsub ? NODE_TYPE_PUBSUB : NODE_TYPE_NORMAL);
}

static struct proxy_client *node_client_by_id(long long id)
{
    for (struct proxy_client *o = node.srv->clients; o; o = o->next)
        if ((long long)proxy_client_id(o) == id && !proxy_client_killed(o))
            return o;
    return NULL;
}

/* CLIENT KILL addr, or CLIENT KILL <filter> <value> ..., as Redis 7.0. */
static void node_client_kill(struct proxy_client *c, int argc, char **argv, size_t *len,
                             struct resp_buf *out)
{
    const char *addr = NULL, *laddr = NULL;
    long long id = 0;
    int type = -1, skipme = 1;
    if (argc == 3) {
        addr = argv[2];
        skipme = 0; /* the old form can kill the caller */
    } else {
        for (int i = 2; i < argc; i += 2) {
            if (i + 1 >= argc) {
                resp_add_error(out, "ERR syntax error");
                return;
            }
            const char *v = argv[i + 1];
            size_t vl = len[i + 1];
            if (proxy_arg_is(argv[i], len[i], "id")) {
                if (!resp_string2ll(v, vl, &id) || id < 1) {
                    resp_add_error(out, "ERR client-id should be greater than 0");
                    return;
                }
            } else if (proxy_arg_is(argv[i], len[i], "type")) {
                if ((type = node_client_type(v, vl)) < 0) {
                    resp_add_errorf(out, "ERR Unknown client type '%s'", v);
                    return;
                }
            } else if (proxy_arg_is(argv[i], len[i], "addr")) {
                addr = v;
            } else if (proxy_arg_is(argv[i], len[i], "laddr")) {
                laddr = v;
            } else if (proxy_arg_is(argv[i], len[i], "user")) {
                if (!proxy_arg_is(v, vl, "default")) {
                    resp_add_errorf(out, "ERR No such user '%s'", v);
                    return;
                }
            } else if (proxy_arg_is(argv[i], len[i], "skipme")) {
                if (proxy_arg_is(v, vl, "yes")) {
                    skipme = 1;
                } else if (proxy_arg_is(v, vl, "no")) {
                    skipme = 0;
                } else {
                    resp_add_error(out, "ERR syntax error");
                    return;
                }
            } else {
                resp_add_error(out, "ERR syntax error");
                return;
            }
        }
    }
    long long killed = 0;
    int self = 0;
    for (struct proxy_client *o = node.srv->clients; o; o = o->next) {
        if (proxy_client_killed(o) || (addr && strcmp(o->addr, addr) != 0) ||
            (laddr && strcmp(o->laddr, laddr) != 0) || (type >= 0 && !node_client_is_type(o, type)) ||
            (id && (long long)proxy_client_id(o) != id) || (o == c && skipme))
            continue;
        if (o == c)
            self = 1;
        else
            proxy_client_kill(o);
        killed++;
    }
    if (argc == 3) {
        if (killed == 0)
            resp_add_error(out, "ERR No such client");
        else
            resp_add_simple(out, "OK");
    } else {
        resp_add_int(out, killed);
    }
    if (self) /* after the reply, as Redis */
        proxy_client_close_after_reply(c);
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR]: the pop is answered by its timer,
 * right after this turn, as if it had timed out (or with -UNBLOCKED). */
static void node_client_unblock(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    int how = 1;
    if (argc > 4) {
        resp_add_subcommand_error(out, "unblock", "CLIENT");
        return;
    }
    if (argc == 4) {
        if (proxy_arg_is(argv[3], len[3], "error")) {
            how = 2;
        } else if (!proxy_arg_is(argv[3], len[3], "timeout")) {
            resp_add_error(out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    long long id;
    if (!resp_string2ll(argv[2], len[2], &id)) {
        resp_add_error(out, "ERR value is not an integer or out of range");
        return;
    }
    struct proxy_client *o = node_client_by_id(id);
    struct node_client *onc = o ? *proxy_client_node_state(o) : NULL;
    struct node_blocked *b = onc ? onc->blocked : NULL;
    if (b == NULL || b->served || b->unblocked) {
        resp_add_int(out, 0);
        return;
    }
    b->unblocked = how;
    node_blocked_time_out_now(b);
    resp_add_int(out, 1);
}

static const char *const node_client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR <ip:port>",
    "      Kill connections made from the specified address",
    "    * LADDR <ip:port>",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <id> [<id> ...]",
    "      Return clients with the given IDs.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
};

static void node_client_list(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    int by_type = argc == 4 && proxy_arg_is(argv[2], len[2], "type");
    int by_id = argc > 3 && proxy_arg_is(argv[2], len[2], "id");
    int type = -1; /* any */
    long long id;
    if (by_type && (type = node_client_type(argv[3], len[3])) < 0) {
        resp_add_errorf(out, "ERR Unknown client type '%s'", argv[3]);
        return;
    }
    for (int i = 3; by_id && i < argc; i++) {
        if (!resp_string2ll(argv[i], len[i], &id)) {
            resp_add_error(out, "ERR Invalid client ID");
            return;
        }
    }
    if (argc != 2 && !by_type && !by_id) {
        resp_add_error(out, "ERR syntax error");
        return;
    }
    struct resp_buf lines;
    resp_buf_init(&lines);
    uint64_t now = proxy_now_ms();
    if (by_id) {
        for (int i = 3; i < argc; i++) {
            resp_string2ll(argv[i], len[i], &id);
            struct proxy_client *o = node_client_by_id(id);
            if (o)
                node_client_line(o, &lines, now);
        }
    } else {
        for (struct proxy_client *o = node.srv->clients; o; o = o->next)
            if (!proxy_client_killed(o) && (type < 0 || node_client_is_type(o, type)))
                node_client_line(o, &lines, now);
    }
    resp_add_bulk(out, lines.data, lines.len);
    resp_buf_fini(&lines);
}

static void node_cmd_client(struct proxy_client *c, int argc, char **argv, size_t *len,
                            struct resp_buf *out)
{
    struct node_client *nc = node_client_get(c);
    const char *sub = argv[1];
    const struct resp_command *cc = resp_command_lookup("client", 6);
    const struct resp_command *sc = cc ? resp_command_lookup_sub(cc, sub, len[1]) : NULL;
    if (sc && !resp_command_arity_ok(sc, argc)) {
        node_arity_error(out, sc->name);
        return;
    }
    if (proxy_arg_is(sub, len[1], "setname")) {
        for (size_t i = 0; i < len[2]; i++) {
            if (argv[2][i] < '!' || argv[2][i] > '~') {
                resp_add_error(out, "ERR Client names cannot contain spaces, newlines or "
                                    "special characters.");
                return;
            }
        }
        free(nc->name);
        nc->name = NULL;
        if (len[2]) {
            nc->name = node_xcalloc(1, len[2] + 1);
            memcpy(nc->name, argv[2], len[2]);
        }
        resp_add_simple(out, "OK");
    } else if (proxy_arg_is(sub, len[1], "getname")) {
        if (nc->name)
            resp_add_bulk_str(out, nc->name);
        else
            resp_add_null(out);
    } else if (proxy_arg_is(sub, len[1], "id")) {
        resp_add_int(out, (long long)proxy_client_id(c));
    } else if (proxy_arg_is(sub, len[1], "info")) {
        struct resp_buf line;
        resp_buf_init(&line);
        node_client_line(c, &line, proxy_now_ms());
        resp_add_bulk(out, line.data, line.len);
        resp_buf_fini(&line);
    } else if (proxy_arg_is(sub, len[1], "list")) {
        node_client_list(argc, argv, len, out);
    } else if (proxy_arg_is(sub, len[1], "kill")) {
        node_client_kill(c, argc, argv, len, out);
    } else if (proxy_arg_is(sub, len[1], "unblock")) {
        node_client_unblock(argc, argv, len, out);
    } else if (proxy_arg_is(sub, len[1], "pause")) {
        node_client_pause(argc, argv, len, out);
    } else if (proxy_arg_is(sub, len[1], "unpause")) {
        /* The clients it held go on from the timer's callback, after this
         * reply rather than inside it. */
        node.pause = NODE_PAUSE_OFF;
        node.pause_end_ms = 0;
        node_pause_arm();
        resp_add_simple(out, "OK");
    } else if (proxy_arg_is(sub, len[1], "reply")) {
        if (proxy_client_reply_mode(c, argv[2], len[2]) != 0)
            resp_add_error(out, "ERR syntax error");
        else if (!c->silent)
            resp_add_simple(out, "OK");
    } else if (proxy_arg_is(sub, len[1], "no-evict")) {
        /* ferry never evicts clients: both settings hold already. */
        if (proxy_arg_is(argv[2], len[2], "on") || proxy_arg_is(argv[2], len[2], "off"))
            resp_add_simple(out, "OK");
        else
            resp_add_error(out, "ERR syntax error");
    } else if (proxy_arg_is(sub, len[1], "getredir")) {
        resp_add_int(out, -1); /* no client ever tracks keys here */
    } else if (proxy_arg_is(sub, len[1], "trackinginfo")) {
        resp_add_array(out, 6);
        resp_add_bulk_str(out, "flags");
        resp_add_array(out, 1);
        resp_add_bulk_str(out, "off");
        resp_add_bulk_str(out, "redirect");
        resp_add_int(out, -1);
        resp_add_bulk_str(out, "prefixes");
        resp_add_array(out, 0);
    } else if (proxy_arg_is(sub, len[1], "caching")) {
        resp_add_error(out, "ERR CLIENT CACHING can be called only when the client is in tracking "
                            "mode with OPTIN or OPTOUT mode enabled");
    } else if (proxy_arg_is(sub, len[1], "help")) {
        resp_add_help(out, node_client_help, sizeof(node_client_help) / sizeof(node_client_help[0]));
    } else if (sc) {
        char name[64];
        resp_command_upper_name(sc->name, name, sizeof(name));
        resp_add_errorf(out, "ERR ferry: %s is not supported while reads/writes are served by "
                             "the raft group", name);
    } else {
        resp_add_errorf(out, "ERR unknown subcommand '%.128s'. Try CLIENT HELP.", sub);
    }
}

static const char *const node_command_help[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
};

/* COMMAND GETKEYS and GETKEYSANDFLAGS, as Redis 7.0's getKeysSubcommandImpl
 * answers: the command (a container's subcommand when one is named), its
 * arity, then the keys its specs, or Redis's own rules, find. */
static void node_command_getkeys(int argc, char **argv, size_t *len, int with_flags,
                                 struct resp_buf *out)
{
    const struct resp_command *cmd = resp_command_lookup(argv[2], len[2]);
    if (cmd && cmd->nsub && argc > 3)
        cmd = resp_command_lookup_sub(cmd, argv[3], len[3]);
    if (cmd == NULL) {
        resp_add_error(out, "ERR Invalid command specified");
        return;
    }
    int has_keys = 0;
    for (int i = 0; i < cmd->nkey_specs; i++)
        has_keys |= !(cmd->key_specs[i].flags & RESP_KEY_NOT_KEY);
    if (!has_keys) {
        resp_add_error(out, "ERR The command has no key arguments");
        return;
    }
    if (!resp_command_arity_ok(cmd, argc - 2)) {
        resp_add_error(out, "ERR Invalid number of arguments specified for command");
        return;
    }
    int *pos = node_xcalloc((size_t)argc, sizeof(*pos));
    uint32_t *flags = node_xcalloc((size_t)argc, sizeof(*flags));
    int n = resp_command_keys_flags(cmd, argc - 2, argv + 2, len + 2, pos, flags, argc);
    if (n == 0 && !(cmd->flags & RESP_CMD_NO_MANDATORY_KEYS)) {
        resp_add_error(out, "ERR Invalid arguments specified for command");
    } else {
        resp_add_array(out, n);
        for (int i = 0; i < n; i++) {
            if (with_flags)
                resp_add_array(out, 2);
            resp_add_bulk(out, argv[2 + pos[i]], len[2 + pos[i]]);
            if (with_flags)
                resp_add_key_flags(out, flags[i]);
        }
    }
    free(pos);
    free(flags);
}

static void node_cmd_command(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    if (argc == 1) {
        resp_add_array(out, resp_ncommands);
        for (int i = 0; i < resp_ncommands; i++)
            resp_buf_append(out, resp_commands[i].info_reply, resp_commands[i].info_reply_len);
        return;
    }
    const char *sub = argv[1];
    if (proxy_arg_is(sub, len[1], "count")) {
        if (argc != 2) {
            node_arity_error(out, "command|count");
            return;
        }
        resp_add_int(out, resp_ncommands);
    } else if (proxy_arg_is(sub, len[1], "info")) {
        if (argc == 2) {
            node_cmd_command(1, argv, len, out);
            return;
        }
        resp_add_array(out, argc - 2);
        for (int i = 2; i < argc; i++) {
            const struct resp_command *cmd = resp_command_lookup(argv[i], len[i]);
            if (cmd)
                resp_buf_append(out, cmd->info_reply, cmd->info_reply_len);
            else
                resp_add_null(out); /* Redis 7.0 answers $-1 for an unknown name */
        }
    } else if (proxy_arg_is(sub, len[1], "docs")) {
        if (argc == 2) {
            resp_add_array(out, 2LL * resp_ncommands);
            for (int i = 0; i < resp_ncommands; i++)
                resp_buf_append(out, resp_commands[i].docs_reply, resp_commands[i].docs_reply_len);
            return;
        }
        struct resp_buf body;
        resp_buf_init(&body);
        int n = 0;
        for (int i = 2; i < argc; i++) {
            const struct resp_command *cmd = resp_command_lookup(argv[i], len[i]);
            if (cmd) {
                resp_buf_append(&body, cmd->docs_reply, cmd->docs_reply_len);
                n++;
            }
        }
        resp_add_array(out, 2LL * n);
        resp_buf_append(out, body.data, body.len);
        resp_buf_fini(&body);
    } else if (proxy_arg_is(sub, len[1], "list")) {
        if (argc != 2) {
            resp_add_error(out, "ERR ferry: COMMAND LIST FILTERBY is not supported");
            return;
        }
        resp_add_array(out, resp_ncommands);
        for (int i = 0; i < resp_ncommands; i++)
            resp_add_bulk_str(out, resp_commands[i].name);
    } else if (proxy_arg_is(sub, len[1], "getkeys") ||
               proxy_arg_is(sub, len[1], "getkeysandflags")) {
        int with_flags = len[1] > 7;
        if (argc < 4)
            node_arity_error(out, with_flags ? "command|getkeysandflags" : "command|getkeys");
        else
            node_command_getkeys(argc, argv, len, with_flags, out);
    } else if (proxy_arg_is(sub, len[1], "help")) {
        if (argc != 2)
            node_arity_error(out, "command|help");
        else
            resp_add_help(out, node_command_help,
                          sizeof(node_command_help) / sizeof(node_command_help[0]));
    } else {
        resp_add_errorf(out, "ERR unknown subcommand '%.128s'. Try COMMAND HELP.", sub);
    }
}

struct node_cfg_acc {
    const char *pattern;
    struct resp_buf *body;
    int n;
};

static void node_config_each(const char *name, void *arg)
{
    struct node_cfg_acc *a = arg;
    if (fnmatch(a->pattern, name, FNM_CASEFOLD) != 0)
        return;
    char val[PROXY_CONFIG_VALUE_MAX + 1];
    if (proxy_config_get(proxy_server_config(node.srv), name, val, sizeof(val)) != 0)
        return;
    resp_add_bulk_str(a->body, name);
    resp_add_bulk_str(a->body, val);
    a->n++;
}

/* CONFIG REWRITE: the running configuration, CONFIG SET's changes and the
 * command line's options included, into the file ferry was started with,
 * as Redis rewrites its own (proxy_config_rewrite). */
static void node_config_rewrite(struct proxy_client *c, int argc, struct resp_buf *out)
{
    if (argc != 2) {
        node_arity_error(out, "config|rewrite");
        return;
    }
    const char *path = proxy_server_config_file(node.srv);
    if (path == NULL) {
        resp_add_error(out, "ERR The server is running without a config file");
        return;
    }
    char why[256];
    if (proxy_config_rewrite(proxy_server_config(node.srv), path, why, sizeof(why)) < 0) {
        proxy_log_warning("CONFIG REWRITE by client %s: cannot rewrite %s: %s", c->addr, path,
                          why);
        resp_add_errorf(out, "ERR Rewriting config file: %s", why);
        return;
    }
    proxy_log_notice("CONFIG REWRITE by client %s: %s rewritten", c->addr, path);
    resp_add_simple(out, "OK");
}

/* CONFIG SET name value [name value ...]: the options SIGHUP may change,
 * all of them or none (Redis's errors, with ferry's reason for a bad
 * value). Like SIGHUP's, the change lasts until the next SIGHUP or restart
 * reads the config file again. */
/* Redis options clients and tools probe (redis-benchmark asks for the
 * first two, GUIs for the databases), answered with what ferry does: no
 * RDB snapshots, no AOF, one database, no memory limit and so no eviction
 * (a full store refuses writes, as noeviction does), as INFO says too.
 * CONFIG SET takes each at the value it has (setups that turn snapshots
 * off, say), and refuses any other with why. */
struct node_compat {
    const char *name, *value, *why; /* why NULL: immutable in Redis too */
};

static const struct node_compat node_config_compat[] = {
    {"save", "", "ferry keeps every write in its journal; there are no RDB snapshots"},
    {"appendonly", "no", "ferry keeps every write in its journal; there is no AOF"},
    {"databases", "1", NULL},
    {"maxmemory", "0", "the store's limit is store-size, on disk"},
    {"maxmemory-policy", "noeviction", "a full store refuses writes; nothing is evicted"},
};
#define NODE_NCOMPAT (sizeof(node_config_compat) / sizeof(node_config_compat[0]))

static const struct node_compat *node_compat_of(const char *name, size_t len)
{
    for (size_t k = 0; k < NODE_NCOMPAT; k++)
        if (proxy_arg_is(name, len, node_config_compat[k].name))
            return &node_config_compat[k];
    return NULL;
}

static void node_config_set(struct proxy_client *c, int argc, char **argv, size_t *len,
                            struct resp_buf *out)
{
    if (argc < 4 || argc % 2 != 0) {
        node_arity_error(out, "config|set");
        return;
    }
    for (int i = 2; i < argc; i += 2) {
        const struct node_compat *k = node_compat_of(argv[i], len[i]);
        if (k && (k->why == NULL || !proxy_arg_is(argv[i + 1], len[i + 1], k->value))) {
            if (k->why)
                resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument "
                                     "'%s') - ferry: only '%s': %s",
                                argv[i], k->value, k->why);
            else
                resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument "
                                     "'%s') - can't set immutable config",
                                argv[i]);
            return;
        }
        int runtime = k ? 1
                        : strlen(argv[i]) == len[i] ? proxy_config_is_runtime(argv[i]) : -1;
        if (runtime < 0) {
            resp_add_errorf(out, "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                            argv[i]);
            return;
        }
        for (int j = 2; j < i; j += 2) {
            if (proxy_arg_is(argv[i], len[i], argv[j])) {
                resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument '%s') - "
                                     "duplicate parameter", argv[i]);
                return;
            }
        }
        if (!runtime) {
            resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument '%s') - "
                                 "can't set immutable config",
                            argv[i]);
            return;
        }
    }
    struct proxy_config *cur = &node.srv->cfg, next;
    proxy_config_copy(&next, cur);
    char err[512] = "", names[512] = "";
    for (int i = 2; i < argc && !err[0]; i += 2) {
        char *pair[2] = {argv[i], argv[i + 1]};
        if (node_compat_of(argv[i], len[i]))
            continue; /* already what it is asked to be */
        if (strlen(argv[i + 1]) != len[i + 1])
            snprintf(err, sizeof(err), "'%s' holds a NUL byte", argv[i]);
        else if (proxy_config_set(&next, 2, pair, err, sizeof(err)) == 0)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                     names[0] ? ", " : "", argv[i]);
        if (err[0])
            resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                            argv[i], err);
    }
    if (!err[0] && proxy_config_validate(&next, err, sizeof(err)) < 0)
        resp_add_errorf(out, "ERR CONFIG SET failed - %s", err);
    if (!err[0] && next.maxclients > cur->maxclients) {
        /* Redis's updateMaxclients: what the open files limit cannot fit
         * is refused, with the number that fits. */
        int fit = proxy_server_fit_fds(node.srv, next.maxclients, NULL);
        if (fit < next.maxclients) {
            snprintf(err, sizeof(err), "The operating system is not able to handle the "
                                       "specified number of clients, try with %d", fit);
            resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument "
                                 "'maxclients') - %s", err);
        }
    }
    if (!err[0] && next.logfile && next.logfile[0] &&
        (cur->logfile == NULL || strcmp(cur->logfile, next.logfile) != 0)) {
        FILE *f = fopen(next.logfile, "a"); /* refused now rather than ignored later */
        if (f == NULL) {
            snprintf(err, sizeof(err), "cannot open '%s': %s", next.logfile, strerror(errno));
            resp_add_errorf(out, "ERR CONFIG SET failed (possibly related to argument "
                                 "'logfile') - %s", err);
        } else {
            fclose(f);
        }
    }
    if (!err[0]) {
        proxy_config_take_runtime(cur, &next);
        proxy_log_open(cur);
        if (names[0])
            proxy_log_notice("CONFIG SET by client %s: %s", c->addr, names);
        resp_add_simple(out, "OK");
    }
    proxy_config_fini(&next);
}

/* Redis 7.0's, word for word. */
static const char *const node_config_help[] = {
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
};

static void node_cmd_config(struct proxy_client *c, int argc, char **argv, size_t *len,
                            struct resp_buf *out)
{
    if (proxy_arg_is(argv[1], len[1], "get")) {
        if (argc < 3) {
            node_arity_error(out, "config|get");
            return;
        }
        struct resp_buf body;
        resp_buf_init(&body);
        struct node_cfg_acc a = {NULL, &body, 0};
        const struct node_compat *compat = node_config_compat;
        for (int i = 2; i < argc; i++) {
            a.pattern = argv[i];
            proxy_config_each(node_config_each, &a);
            for (size_t k = 0; k < NODE_NCOMPAT; k++) {
                if (fnmatch(argv[i], compat[k].name, FNM_CASEFOLD) == 0) {
                    resp_add_bulk_str(&body, compat[k].name);
                    resp_add_bulk_str(&body, compat[k].value);
                    a.n++;
                }
            }
        }
        resp_add_array(out, 2LL * a.n);
        resp_buf_append(out, body.data, body.len);
        resp_buf_fini(&body);
    } else if (proxy_arg_is(argv[1], len[1], "set")) {
        node_config_set(c, argc, argv, len, out);
    } else if (proxy_arg_is(argv[1], len[1], "resetstat")) {
        if (argc != 2) {
            node_arity_error(out, "config|resetstat");
            return;
        }
        struct proxy_info_node figures;
        proxy_node_figures(&figures);
        proxy_info_resetstat(node.srv, &figures);
        resp_add_simple(out, "OK");
    } else if (proxy_arg_is(argv[1], len[1], "rewrite")) {
        node_config_rewrite(c, argc, out);
    } else if (proxy_arg_is(argv[1], len[1], "help")) {
        if (argc != 2)
            node_arity_error(out, "config|help");
        else
            resp_add_help(out, node_config_help,
                          sizeof(node_config_help) / sizeof(node_config_help[0]));
    } else {
        resp_add_errorf(out, "ERR unknown subcommand '%.128s'. Try CONFIG HELP.", argv[1]);
    }
}

static int node_blocked_count(void)
{
    int n = 0;
    for (struct node_blocked *b = node.bhead; b; b = b->next)
        n++;
    return n;
}

void proxy_node_figures(struct proxy_info_node *out)
{
    *out = (struct proxy_info_node){
        .store = node.store,
        .blocked_clients = node_blocked_count() + node.npaused, /* Redis counts both */
        .commit_failing = node.failing,
        .bgsave_failed = node.bgsave_failed,
        .commit_failures = node.commit_failures,
        .commits = node.commits,
        .commit_usec = node.commit_usec,
        .entries = node.entries,
    };
}

static void node_cmd_info(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    struct proxy_info_node info;
    proxy_node_figures(&info);
    proxy_info_reply(node.srv, &info, argc, argv, len, out);
}

/* WAIT numreplicas timeout's arguments, as Redis parses them; 0, or -1
 * with Redis's error in out. timeout is in ms, 0 for ever. */
static int node_wait_args(int argc, char **argv, size_t *len, long long *replicas,
                          long long *timeout, struct resp_buf *out)
{
    (void)argc;
    if (!resp_string2ll(argv[1], len[1], replicas)) {
        resp_add_error(out, "ERR value is not an integer or out of range");
        return -1;
    }
    if (!resp_string2ll(argv[2], len[2], timeout)) {
        resp_add_error(out, "ERR timeout is not an integer or out of range");
        return -1;
    }
    if (*timeout < 0) {
        resp_add_error(out, "ERR timeout is negative");
        return -1;
    }
    return 0;
}

static const char *const node_acl_help[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
};

/* Redis 7.0's ACL categories, in the order ACL CAT lists them. */
static const char *const node_acl_categories[] = {
    "keyspace", "read",  "write",     "set",   "sortedset", "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo", "stream",   "pubsub",      "admin",
    "fast",     "slow",  "blocking",  "dangerous", "connection", "transaction", "scripting",
};

/* The default user's password as ACL shows it: SHA-256, in hex. */
static void node_acl_password(const char *pass, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(pass, strlen(pass), md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = 0;
}

/* ACL CAT category: every command and subcommand COMMAND INFO puts in it. */
static void node_acl_cat(const char *cat, size_t len, struct resp_buf *out)
{
    struct resp_buf names;
    resp_buf_init(&names);
    long long n = 0;
    for (int i = 0; i < resp_ncommands; i++) {
        const struct resp_command *cmd = &resp_commands[i];
        if (resp_command_in_category(cmd, cat, len)) {
            resp_add_bulk_str(&names, cmd->name);
            n++;
        }
        for (int k = 0; k < cmd->nsub; k++) {
            if (resp_command_in_category(&cmd->subcommands[k], cat, len)) {
                resp_add_bulk_str(&names, cmd->subcommands[k].name);
                n++;
            }
        }
    }
    resp_add_array(out, n);
    resp_buf_append(out, names.data, names.len);
    resp_buf_fini(&names);
}

/* ACL, answered as Redis answers it with one user, default, whose password
 * is requirepass (nopass without one): ferry has no other users, so those
 * that would make one (SETUSER) are refused, and its log stays empty. The
 * arity and the subcommand were checked by node_request_internal. */
static void node_cmd_acl(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    const char *pass = proxy_server_config(node.srv)->requirepass;
    const char *sub = argv[1];
    size_t sl = len[1];
    char hex[65] = "";
    if (pass)
        node_acl_password(pass, hex);
    if (proxy_arg_is(sub, sl, "whoami")) {
        resp_add_bulk_str(out, "default");
    } else if (proxy_arg_is(sub, sl, "users")) {
        resp_add_array(out, 1);
        resp_add_bulk_str(out, "default");
    } else if (proxy_arg_is(sub, sl, "list")) {
        char line[128];
        snprintf(line, sizeof(line), "user default on %s%s ~* &* +@all", pass ? "#" : "nopass",
                 hex);
        resp_add_array(out, 1);
        resp_add_bulk_str(out, line);
    } else if (proxy_arg_is(sub, sl, "getuser")) {
        if (len[2] != 7 || memcmp(argv[2], "default", 7) != 0) {
            resp_add_null(out);
            return;
        }
        resp_add_array(out, 12);
        resp_add_bulk_str(out, "flags");
        resp_add_array(out, pass ? 1 : 2);
        resp_add_bulk_str(out, "on");
        if (!pass)
            resp_add_bulk_str(out, "nopass");
        resp_add_bulk_str(out, "passwords");
        resp_add_array(out, pass ? 1 : 0);
        if (pass)
            resp_add_bulk_str(out, hex);
        resp_add_bulk_str(out, "commands");
        resp_add_bulk_str(out, "+@all");
        resp_add_bulk_str(out, "keys");
        resp_add_bulk_str(out, "~*");
        resp_add_bulk_str(out, "channels");
        resp_add_bulk_str(out, "&*");
        resp_add_bulk_str(out, "selectors");
        resp_add_array(out, 0);
    } else if (proxy_arg_is(sub, sl, "cat")) {
        const size_t ncat = sizeof(node_acl_categories) / sizeof(node_acl_categories[0]);
        if (argc == 2) {
            resp_add_array(out, (long long)ncat);
            for (size_t i = 0; i < ncat; i++)
                resp_add_bulk_str(out, node_acl_categories[i]);
            return;
        }
        for (size_t i = 0; i < ncat; i++) {
            if (proxy_arg_is(argv[2], len[2], node_acl_categories[i])) {
                node_acl_cat(argv[2], len[2], out);
                return;
            }
        }
        resp_add_errorf(out, "ERR Unknown category '%.128s'", argv[2]);
    } else if (proxy_arg_is(sub, sl, "log")) {
        long long count;
        if (argc == 3 && proxy_arg_is(argv[2], len[2], "reset"))
            resp_add_simple(out, "OK");
        else if (argc > 3)
            resp_add_subcommand_error(out, sub, "ACL");
        else if (argc == 3 && !resp_string2ll(argv[2], len[2], &count))
            resp_add_error(out, "ERR value is not an integer or out of range");
        else
            resp_add_array(out, 0); /* nothing was ever denied */
    } else if (proxy_arg_is(sub, sl, "dryrun")) {
        const struct resp_command *cmd = resp_command_lookup(argv[3], len[3]);
        if (cmd && cmd->nsub && argc > 4)
            cmd = resp_command_lookup_sub(cmd, argv[4], len[4]);
        if (len[2] != 7 || memcmp(argv[2], "default", 7) != 0)
            resp_add_errorf(out, "ERR User '%.128s' not found", argv[2]);
        else if (cmd == NULL)
            resp_add_errorf(out, "ERR Command '%.128s' not found", argv[3]);
        else if (!resp_command_arity_ok(cmd, argc - 3))
            node_arity_error(out, cmd->name);
        else
            resp_add_simple(out, "OK"); /* default may run every command */
    } else if (proxy_arg_is(sub, sl, "genpass")) {
        long long bits = 256;
        if (argc == 3 && !resp_string2ll(argv[2], len[2], &bits)) {
            resp_add_error(out, "ERR value is not an integer or out of range");
            return;
        }
        if (bits <= 0 || bits > 4096) {
            resp_add_error(out, "ERR ACL GENPASS argument must be the number of bits for the "
                                "output password, a positive number up to 4096");
            return;
        }
        unsigned char raw[512];
        char pw[1025];
        size_t chars = (size_t)(bits + 3) / 4;
        if (getrandom(raw, (chars + 1) / 2, 0) != (ssize_t)((chars + 1) / 2)) {
            resp_add_error(out, "ERR ferry: no random bytes for ACL GENPASS");
            return;
        }
        for (size_t i = 0; i < chars; i++)
            pw[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
        resp_add_bulk(out, pw, chars);
    } else if (proxy_arg_is(sub, sl, "deluser")) {
        for (int i = 2; i < argc; i++) {
            if (len[i] == 7 && memcmp(argv[i], "default", 7) == 0) {
                resp_add_error(out, "ERR The 'default' user cannot be removed");
                return;
            }
        }
        resp_add_int(out, 0); /* no such users */
    } else if (proxy_arg_is(sub, sl, "load") || proxy_arg_is(sub, sl, "save")) {
        resp_add_error(out, "ERR This Redis instance is not configured to use an ACL file. You "
                            "may want to specify users via the ACL SETUSER command and then "
                            "issue a CONFIG REWRITE (assuming you have a Redis configuration "
                            "file set) in order to store users in the Redis configuration.");
    } else if (proxy_arg_is(sub, sl, "help")) {
        resp_add_help(out, node_acl_help, sizeof(node_acl_help) / sizeof(node_acl_help[0]));
    } else { /* SETUSER */
        resp_add_error(out, "ERR ferry: ACL SETUSER is not supported: ferry's only user is "
                            "default, whose password is requirepass");
    }
}

/* getIntFromObjectOrReply: 0 with *v set, or -1 after Redis's error (msg
 * in place of its own texts when not NULL). */
static int node_int_arg(const char *s, size_t n, int *v, const char *msg, struct resp_buf *out)
{
    long long ll;
    if (!resp_string2ll(s, n, &ll)) {
        resp_add_error(out, msg ? msg : "ERR value is not an integer or out of range");
        return -1;
    }
    if (ll < INT_MIN || ll > INT_MAX) {
        if (msg)
            resp_add_error(out, msg);
        else
            resp_add_errorf(out, "ERR value is out of range, value must between %d and %d",
                            INT_MIN, INT_MAX);
        return -1;
    }
    *v = (int)ll;
    return 0;
}

static const char *const node_module_help[] = {
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    ("    Load a module library from <path>, while passing it module configurations and "
     "optional arguments."),
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
};

/* What node_local_reply answers, and so what a transaction may queue
 * besides the store's commands and PUBLISH. HELLO is left out: a protocol
 * switch inside EXEC's reply is refused. */
static int node_answers_at_exec(const char *name, size_t nl)
{
    static const char *const names[] = {
        "wait",     "monitor",  "ping",    "echo",   "lastsave", "bgsave",    "bgrewriteaof",
        "time",     "select",   "client",  "command", "config",  "info",      "slowlog",
        "latency",  "role",     "readonly", "readwrite", "asking", "acl",      "move",
        "swapdb",   "cluster",  "module",  "unwatch", "auth",     "hello",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (proxy_arg_is(name, nl, names[i]))
            return 1;
    return 0;
}

static int node_local_reply(struct proxy_client *c, int argc, char **argv, size_t *len,
                            struct resp_buf *out)
{
    const char *name = argv[0];
    size_t nl = len[0];
    if (proxy_arg_is(name, nl, "wait")) {
        /* Only inside EXEC (elsewhere node_wait takes it): Redis answers at
         * once there, with the replicas that acknowledged: none. */
        long long replicas, timeout;
        if (node_wait_args(argc, argv, len, &replicas, &timeout, out) == 0)
            resp_add_int(out, 0);
        return 1;
    }
    if (proxy_arg_is(name, nl, "auth")) {
        /* Only inside EXEC: elsewhere the proxy core answers it. */
        proxy_client_auth(c, argc, argv, len, out);
        return 1;
    }
    if (proxy_arg_is(name, nl, "monitor")) {
        /* Only inside EXEC: elsewhere node_monitor_start takes it. */
        resp_add_error(out, "ERR MONITOR isn't allowed for DENY BLOCKING client");
    } else if (proxy_arg_is(name, nl, "ping")) {
        if (argc > 2)
            node_arity_error(out, "ping");
        else if (argc == 2)
            resp_add_bulk(out, argv[1], len[1]);
        else
            resp_add_simple(out, "PONG");
    } else if (proxy_arg_is(name, nl, "echo")) {
        if (argc != 2)
            node_arity_error(out, "echo");
        else
            resp_add_bulk(out, argv[1], len[1]);
    } else if (proxy_arg_is(name, nl, "lastsave")) {
        struct store_stats st;
        store_get_stats(node.store, &st);
        if (argc != 1)
            node_arity_error(out, "lastsave");
        else
            resp_add_int(out, (long long)st.last_save_time);
    } else if (proxy_arg_is(name, nl, "bgsave")) {
        if (argc > 2 || (argc == 2 && !proxy_arg_is(argv[1], len[1], "schedule"))) {
            resp_add_error(out, "ERR syntax error");
        } else {
            node_bgsave();
            resp_add_simple(out, "Background saving started");
        }
    } else if (proxy_arg_is(name, nl, "bgrewriteaof")) {
        /* The journal is ferry's append-only file, and a checkpoint is
         * what empties it. */
        if (argc != 1) {
            node_arity_error(out, "bgrewriteaof");
        } else {
            node_bgsave();
            resp_add_simple(out, "Background append only file rewriting started");
        }
    } else if (proxy_arg_is(name, nl, "time")) {
        if (argc != 1) {
            node_arity_error(out, "time");
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            resp_add_array(out, 2);
            resp_add_bulk_ll(out, (long long)ts.tv_sec);
            resp_add_bulk_ll(out, (long long)(ts.tv_nsec / 1000));
        }
    } else if (proxy_arg_is(name, nl, "select")) {
        if (argc != 2) {
            node_arity_error(out, "select");
        } else {
            char *end;
            errno = 0;
            long long db = strtoll(argv[1], &end, 10);
            if (len[1] == 0 || *end || errno || argv[1][0] == ' ' || argv[1][0] == '+' ||
                db < -2147483648LL || db > 2147483647LL)
                resp_add_error(out, "ERR value is not an integer or out of range");
            else if (db != 0)
                resp_add_error(out, "ERR DB index is out of range");
            else
                resp_add_simple(out, "OK");
        }
    } else if (proxy_arg_is(name, nl, "client")) {
        if (argc < 2)
            node_arity_error(out, "client");
        else
            node_cmd_client(c, argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "command")) {
        node_cmd_command(argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "config")) {
        if (argc < 2)
            node_arity_error(out, "config");
        else
            node_cmd_config(c, argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "info")) {
        node_cmd_info(argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "slowlog")) {
        proxy_slowlog_command(argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "latency")) {
        proxy_latency_command(argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "role")) {
        /* One node, no replicas yet: a master at offset 0, as Redis alone. */
        resp_add_array(out, 3);
        resp_add_bulk_str(out, "master");
        resp_add_int(out, 0);
        resp_add_array(out, 0);
    } else if (proxy_arg_is(name, nl, "readonly") || proxy_arg_is(name, nl, "readwrite") ||
               proxy_arg_is(name, nl, "asking")) {
        resp_add_error(out, "ERR This instance has cluster support disabled");
    } else if (proxy_arg_is(name, nl, "acl")) {
        node_cmd_acl(argc, argv, len, out);
    } else if (proxy_arg_is(name, nl, "move")) {
        /* One database (CONFIG GET databases), so MOVE and SWAPDB answer as
         * Redis with `databases 1`: nothing to move to, nothing to swap. */
        int db;
        if (node_int_arg(argv[2], len[2], &db, NULL, out) == 0)
            resp_add_error(out, db == 0 ? "ERR source and destination objects are the same"
                                        : "ERR DB index is out of range");
    } else if (proxy_arg_is(name, nl, "swapdb")) {
        int a, b;
        if (node_int_arg(argv[1], len[1], &a, "ERR invalid first DB index", out) == 0 &&
            node_int_arg(argv[2], len[2], &b, "ERR invalid second DB index", out) == 0) {
            if (a != 0 || b != 0)
                resp_add_error(out, "ERR DB index is out of range");
            else
                resp_add_simple(out, "OK");
        }
    } else if (proxy_arg_is(name, nl, "cluster")) {
        /* Not a cluster, as a Redis without cluster-enabled answers; a
         * cluster-aware client takes that as its cue to talk plainly. */
        if (resp_subcommand_check("cluster", argc, argv, len, out))
            resp_add_error(out, "ERR This instance has cluster support disabled");
    } else if (proxy_arg_is(name, nl, "module")) {
        const struct resp_command *sub = resp_subcommand_check("module", argc, argv, len, out);
        if (sub == NULL)
            return 1;
        if (proxy_arg_is(argv[1], len[1], "list")) {
            resp_add_array(out, 0); /* ferry loads no modules */
        } else if (proxy_arg_is(argv[1], len[1], "help")) {
            resp_add_help(out, node_module_help,
                          sizeof(node_module_help) / sizeof(node_module_help[0]));
        } else {
            char what[64];
            resp_command_upper_name(sub->name, what, sizeof(what));
            resp_add_errorf(out, "ERR ferry: %s is not supported while reads/writes are served "
                                 "by the raft group", what);
        }
    } else if (proxy_arg_is(name, nl, "unwatch")) {
        node_unwatch(node_client_get(c));
        resp_add_simple(out, "OK");
    } else if (proxy_arg_is(name, nl, "hello")) {
        /* Outside MULTI the proxy core has checked the version and AUTH;
         * at EXEC they are checked here, as helloCommand runs then. */
        struct node_client *nc = node_client_get(c);
        int proto = c->resp3 ? 3 : 2;
        if (argc >= 2) {
            long long ver;
            if (!resp_string2ll(argv[1], len[1], &ver)) {
                resp_add_error(out, "ERR Protocol version is not an integer or out of range");
                return 1;
            }
            if (ver != 2 && ver != 3) {
                resp_add_error(out, "NOPROTO unsupported protocol version");
                return 1;
            }
            proto = (int)ver;
        }
        /* In order, as Redis 7.0 runs them: an option refused leaves
         * those before it done. */
        for (int i = 2; i < argc; i++) {
            if (proxy_arg_is(argv[i], len[i], "auth") && i + 2 < argc) {
                /* (Outside MULTI the proxy core checked it: it passes.) */
                size_t mark = out->len;
                proxy_client_auth(c, 3, argv + i, len + i, out);
                if (out->data[mark] == '-')
                    return 1;
                out->len = mark;
                i += 2;
            } else if (proxy_arg_is(argv[i], len[i], "setname") && i + 1 < argc) {
                i++;
                for (size_t k = 0; k < len[i]; k++) {
                    if (argv[i][k] < '!' || argv[i][k] > '~') {
                        resp_add_error(out, "ERR Client names cannot contain spaces, "
                                            "newlines or special characters.");
                        return 1;
                    }
                }
                free(nc->name);
                nc->name = node_xcalloc(1, len[i] + 1);
                memcpy(nc->name, argv[i], len[i]);
            } else {
                resp_add_errorf(out, "ERR Syntax error in HELLO option '%.128s'", argv[i]);
                return 1;
            }
        }
        /* Switched now: this reply is the first in the new protocol. */
        c->resp3 = proto == 3;
        resp_add_array(out, 14);
        resp_add_bulk_str(out, "server");
        resp_add_bulk_str(out, "redis");
        resp_add_bulk_str(out, "version");
        resp_add_bulk_str(out, PROXY_REDIS_VERSION);
        resp_add_bulk_str(out, "proto");
        resp_add_int(out, proto);
        resp_add_bulk_str(out, "id");
        resp_add_int(out, (long long)proxy_client_id(c));
        resp_add_bulk_str(out, "mode");
        resp_add_bulk_str(out, "standalone");
        resp_add_bulk_str(out, "role");
        resp_add_bulk_str(out, "master");
        resp_add_bulk_str(out, "modules");
        resp_add_array(out, 0);
    } else {
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ dispatch */

/* What RESP2's subscribed mode lets a client run. */
static int node_subscribed_may_run(const char *name, size_t nl)
{
    static const char *const ok[] = {"subscribe",   "psubscribe",   "ssubscribe", "unsubscribe",
                                     "punsubscribe", "sunsubscribe", "ping",       "quit",
                                     "reset"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (proxy_arg_is(name, nl, ok[i]))
            return 1;
    return 0;
}

/* Unwatches and replies `reply`; when the client has ops in the batch (a
 * WATCH among them, perhaps), both wait for their turn there. */
static void node_unwatch_reply(struct proxy_client *c, const char *reply)
{
    struct node_client *nc = node_client_get(c);
    if (nc->pending) {
        struct node_op *op = node_op_add(NODE_OP_UNWATCH, c);
        resp_buf_append(&op->entry, reply, strlen(reply));
        return;
    }
    node_unwatch(nc);
    proxy_client_reply(c, reply, strlen(reply));
}

static void node_unsupported(struct resp_buf *out, int argc, char **argv, size_t *len)
{
    const struct resp_command *cmd = resp_command_lookup(argv[0], len[0]);
    if (cmd) {
        char name[64];
        resp_command_upper_name(cmd->name, name, sizeof(name));
        resp_add_errorf(out, "ERR ferry: %s is not supported while reads/writes are served by "
                             "the raft group", name);
    } else {
        store_reply_unknown(argc, argv, len, out);
    }
}

/* SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], parsed as Redis 7.0 parses
 * it. It shuts down as SIGTERM does: no more requests are read, every
 * reply owed for one read before is sent (the writes in the batch commit
 * first), the store checkpoints as it closes, and ferry exits 0. As from
 * Redis, the client gets no reply: its connection closes. SAVE and NOSAVE
 * change nothing, since every acknowledged write is already on disk (the
 * checkpoint at close only folds the journal into LMDB's files); NOW and
 * FORCE neither, as there are no replicas to wait for and no save to fail.
 * ABORT finds no shutdown in progress: once one starts, nothing more is
 * read. A transaction refuses it before (no_multi). */
static void node_shutdown(struct proxy_client *c, int argc, char **argv, size_t *len,
                          struct resp_buf *out)
{
    int save = 0, nosave = 0, other = 0, cancel = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (proxy_arg_is(argv[i], len[i], "nosave"))
            nosave = 1;
        else if (proxy_arg_is(argv[i], len[i], "save"))
            save = 1;
        else if (proxy_arg_is(argv[i], len[i], "now") || proxy_arg_is(argv[i], len[i], "force"))
            other = 1;
        else if (proxy_arg_is(argv[i], len[i], "abort"))
            cancel = 1;
        else
            bad = 1;
    }
    if (bad || (cancel && (save || nosave || other)) || (save && nosave)) {
        resp_add_error(out, "ERR syntax error");
    } else if (cancel) {
        resp_add_error(out, "ERR No shutdown in progress.");
    } else {
        char why[sizeof(c->addr) + 32];
        snprintf(why, sizeof(why), "SHUTDOWN from %s", c->addr);
        proxy_server_stop(node.srv, why);
        return;
    }
    node_reply_buf(c, out);
}

/* WAIT: how many replicas acknowledged the client's writes. The group is
 * one node, with no replicas, so that is 0 (every acknowledged write is on
 * this node's disk already): at once when that is enough (numreplicas <=
 * 0, or inside MULTI), else after the timeout, or never with timeout 0,
 * as Redis without replicas answers. A waiting client is blocked as a pop
 * is: its next requests wait, CLIENT UNBLOCK ends it, CLIENT LIST shows b. */
static void node_wait(struct proxy_client *c, int argc, char **argv, size_t *len,
                      struct resp_buf *out)
{
    long long replicas, timeout;
    if (node_wait_args(argc, argv, len, &replicas, &timeout, out) < 0) {
        node_reply_buf(c, out);
        return;
    }
    if (replicas <= 0) {
        resp_add_int(out, 0);
        node_reply_buf(c, out);
        return;
    }
    uint64_t t0 = proxy_mono_ns();
    struct node_client *nc = node_client_get(c);
    struct node_blocked *b = node_xcalloc(1, sizeof(*b));
    b->c = c;
    b->slot = proxy_client_reserve(c);
    b->wait = 1;
    node_argv_copy(&b->a, argc, argv, len);
    resp_buf_init(&b->reply);
    node_blocked_enlist(nc, b, timeout > 0 ? timeout : -1);
    /* Counted as Redis counts a command that blocks: now, with no sample. */
    b->block_ns = proxy_mono_ns() - t0;
    node_blocked_counted(b, NODE_COUNT_BLOCKED);
    node.batched = 1; /* node_request: counted here, not again */
}

/* Whether argv is a HELLO asking for the protocol c does not speak. */
static int node_hello_switches(const struct proxy_client *c, int argc, char **argv,
                               const size_t *len)
{
    long long ver;
    return proxy_arg_is(argv[0], len[0], "hello") && argc >= 2 &&
           resp_string2ll(argv[1], len[1], &ver) && (ver == 2 || ver == 3) &&
           (ver == 3) != (c->resp3 != 0);
}

static void node_request_internal(struct proxy_client *c, int argc, char **argv, size_t *len)
{
    struct node_client *nc = node_client_get(c);
    struct resp_buf *out = &node.scratch;
    resp_buf_reset(out);
    if (nc->blocked || nc->batch_wait || nc->paused) {
        node_defer(nc, argc, argv, len, 0);
        return;
    }
    proxy_client_reply_mode_step(c);
    const char *name = argv[0];
    size_t nl = len[0];
    if (c->resp3 || proxy_arg_is(name, nl, "hello")) /* HELLO 3 answers in RESP3 */
        c->reply_shape = (uint8_t)resp3_shape_of(argc, argv, len);
    const struct resp_command *rcmd = resp_command_lookup(name, nl);
    if (rcmd) {
        const struct resp_command *sub =
            rcmd->nsub && argc > 1 ? resp_command_lookup_sub(rcmd, argv[1], len[1]) : NULL;
        nc->last_cmd = sub ? sub : rcmd;
    }
    /* Redis's first checks, before any other (commandCheckExistence and
     * commandCheckArity): the arity, and for a container (CLIENT, SCRIPT,
     * ...) a known subcommand and its arity, whether ferry serves the
     * command or not; then, in a transaction, the commands flagged
     * no_multi (SAVE, SHUTDOWN, SYNC, PSYNC). */
    int refused = 0;
    if (rcmd && rcmd->nsub && argc > 1) {
        refused = resp_subcommand_check(rcmd->name, argc, argv, len, out) == NULL;
    } else if (rcmd && !resp_command_arity_ok(rcmd, argc)) {
        node_arity_error(out, rcmd->name);
        refused = 1;
    }
    if (!refused && rcmd && nc->in_multi && (rcmd->flags & RESP_CMD_NO_MULTI)) {
        resp_add_error(out, "ERR Command not allowed inside a transaction");
        refused = 1;
    }
    if (refused) {
        node.unfed = 1;
        c->rejected = 1;
        if (nc->in_multi)
            nc->multi_dirty = 1;
        node_reply_buf(c, out);
        return;
    }
    /* RESP3 has no subscribed mode: pushes cannot be taken for replies. */
    if (rcmd && !c->resp3 && proxy_pubsub_subscribed(nc->pubsub) &&
        !node_subscribed_may_run(name, nl)) {
        node.unfed = 1;
        c->rejected = 1;
        resp_add_errorf(out, "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                             "PING / QUIT / RESET are allowed in this context",
                        nc->last_cmd->name);
        node_reply_buf(c, out);
        return;
    }
    /* CLIENT PAUSE, where Redis checks it: after the arity and subscribed
     * mode, before a transaction queues the command. The request may come
     * from the client's deferred ones: it goes back to their front. */
    if (rcmd && node_pause_holds(nc, nc->last_cmd, name, nl)) {
        proxy_client_reply_mode_unstep(c);
        node_paused_add(nc);
        node_defer(nc, argc, argv, len, 1);
        return;
    }
    /* Transactions. */
    if (proxy_arg_is(name, nl, "multi")) {
        if (nc->in_multi)
            resp_add_error(out, "ERR MULTI calls can not be nested");
        else {
            nc->in_multi = 1;
            resp_add_simple(out, "OK");
        }
        node_reply_buf(c, out);
        return;
    }
    if (proxy_arg_is(name, nl, "discard")) {
        if (!nc->in_multi) {
            resp_add_error(out, "ERR DISCARD without MULTI");
        } else {
            node_discard(nc);
            node_unwatch_reply(c, "+OK\r\n");
            return;
        }
        node_reply_buf(c, out);
        return;
    }
    if (proxy_arg_is(name, nl, "exec")) {
        if (!nc->in_multi) {
            resp_add_error(out, "ERR EXEC without MULTI");
        } else if (nc->multi_dirty) {
            node_discard(nc);
            node_unwatch_reply(
                c, "-EXECABORT Transaction discarded because of previous errors.\r\n");
            return;
        } else {
            /* The monitors see the queue now, in the order the batch will
             * run it, then EXEC (even if a WATCH is to abort it). */
            for (int i = 0; i < nc->nqueued; i++)
                node_monitor_feed(c, nc->queued[i].argc, nc->queued[i].argv, nc->queued[i].len);
            struct node_op *op = node_op_add(NODE_OP_EXEC, c);
            op->queued = nc->queued;
            op->nqueued = nc->nqueued;
            for (int i = 0; i < op->nqueued; i++) {
                const struct node_argv *a = &op->queued[i];
                if (store_command_class(a->argv[0], a->len[0], NULL) == STORE_CLASS_UNKNOWN &&
                    !proxy_pubsub_is_publish(a->argv[0], a->len[0]))
                    op->holds_client = nc->batch_wait = 1;
            }
            nc->queued = NULL;
            nc->nqueued = nc->capqueued = 0;
            nc->in_multi = 0;
            nc->multi_dirty = 0;
            return;
        }
        node_reply_buf(c, out);
        return;
    }
    if (proxy_arg_is(name, nl, "watch")) {
        if (nc->in_multi) {
            resp_add_error(out, "ERR WATCH inside MULTI is not allowed");
        } else if (node.nops > 0) {
            struct node_op *op = node_op_add(NODE_OP_WATCH, c);
            node_argv_copy(&op->a, argc, argv, len);
            return;
        } else {
            uint64_t now = proxy_now_ms();
            for (int i = 1; i < argc; i++)
                node_watch_add(nc, argv[i], len[i],
                               store_key_version(node.store, argv[i], len[i], now));
            resp_add_simple(out, "OK");
        }
        node_reply_buf(c, out);
        return;
    }
    if (proxy_arg_is(name, nl, "unwatch") && !nc->in_multi) {
        node_unwatch_reply(c, "+OK\r\n");
        return;
    }
    if (proxy_arg_is(name, nl, "reset")) {
        node_monitor_remove(nc);
        proxy_pubsub_reset(c, &nc->pubsub);
        node_discard(nc);
        free(nc->name);
        nc->name = NULL;
        c->resp3 = 0;
        node_unwatch_reply(c, "+RESET\r\n");
        return;
    }
    if (proxy_arg_is(name, nl, "monitor") && !nc->in_multi) {
        node_monitor_start(c, nc);
        return;
    }
    if (proxy_arg_is(name, nl, "shutdown")) {
        node_shutdown(c, argc, argv, len, out);
        return;
    }
    if (proxy_arg_is(name, nl, "save")) {
        /* In the batch, after the writes before it (never at EXEC: a
         * transaction refused it above). */
        node_argv_copy(&node_op_add(NODE_OP_SAVE, c)->a, argc, argv, len);
        return;
    }
    unsigned flags = 0;
    int cls = store_command_class(name, nl, &flags);
    int pubsub = proxy_pubsub_is_command(rcmd);
    int publish = proxy_pubsub_is_publish(name, nl);
    if (nc->in_multi && ((pubsub && !publish) || node_hello_switches(c, argc, argv, len))) {
        /* EXEC runs in the store, which has no channels; its PUBLISHes the
         * node sends after the commit. A HELLO that switches the protocol
         * would do it in the middle of EXEC's reply, as in Redis, where
         * the replies after it in the array are in the new one. Both are
         * served outside MULTI. */
        char upper[64];
        resp_command_upper_name(nc->last_cmd->name, upper, sizeof(upper));
        if (pubsub)
            resp_add_errorf(out, "ERR ferry: %s inside MULTI is not supported", upper);
        else
            resp_add_error(out, "ERR ferry: HELLO inside MULTI cannot switch the protocol");
        c->rejected = 1;
        nc->multi_dirty = 1;
        node.unfed = 1;
        node_reply_buf(c, out);
        return;
    }
    if (!nc->in_multi && (pubsub || (!c->resp3 && proxy_pubsub_subscribed(nc->pubsub) &&
                                     proxy_arg_is(name, nl, "ping")))) {
        if (nc->pending && proxy_pubsub_is_publish(name, nl)) {
            /* After the client's writes are committed, so that a
             * subscriber told of them can read them. */
            struct node_op *op = node_op_add(NODE_OP_PUBLISH, c);
            node_argv_copy(&op->a, argc, argv, len);
            return;
        }
        proxy_pubsub_command(c, &nc->pubsub, argc, argv, len, out);
        node_reply_buf(c, out);
        return;
    }
    if (nc->in_multi) {
        node.unfed = 1; /* queued ones show at EXEC */
        int known = cls != STORE_CLASS_UNKNOWN || publish || node_answers_at_exec(name, nl);
        if (!known) {
            node_unsupported(out, argc, argv, len);
            c->rejected = 1;
            nc->multi_dirty = 1;
        } else if (cls != STORE_CLASS_UNKNOWN &&
                   store_command_check_arity(argc, argv, len, out)) {
            c->rejected = 1;
            nc->multi_dirty = 1;
        } else {
            c->queued = 1; /* called at EXEC */
            if (nc->nqueued == nc->capqueued) {
                nc->capqueued = nc->capqueued ? nc->capqueued * 2 : 8;
                nc->queued =
                    node_xrealloc(nc->queued, sizeof(*nc->queued) * (size_t)nc->capqueued);
            }
            node_argv_copy(&nc->queued[nc->nqueued++], argc, argv, len);
            resp_add_simple(out, "QUEUED");
        }
        node_reply_buf(c, out);
        return;
    }
    if (cls == STORE_CLASS_READ && !nc->pending) {
        /* Its keymiss events go out at once. A client resumed after a
         * commit reads here while that turn's events are being sent:
         * this read's come after them in the list, and leave it as it was. */
        unsigned ev_was = node.ev_classes;
        node_events_config((unsigned)node.srv->cfg.notify_keyspace_events);
        size_t ev_mark = store_events_mark(node.store);
        if (store_command_check_arity(argc, argv, len, out) ||
            store_read(node.store, argc, argv, len, proxy_now_ms(), out) != STORE_EWRITE) {
            store_events_each(node.store, ev_mark, store_events_mark(node.store), node_event_cb,
                              NULL);
            store_events_clear(node.store, ev_mark);
            node.ev_classes = ev_was;
            node_reply_buf(c, out);
            return;
        }
        store_events_clear(node.store, ev_mark); /* it runs again as a write */
        node.ev_classes = ev_was;
        cls = STORE_CLASS_WRITE; /* a read that must write */
    }
    if (cls == STORE_CLASS_WRITE || cls == STORE_CLASS_READ) {
        struct node_op *op =
            node_op_add(cls == STORE_CLASS_WRITE ? NODE_OP_WRITE : NODE_OP_READ, c);
        node_argv_copy(&op->a, argc, argv, len);
        if (rcmd && (rcmd->flags & RESP_CMD_BLOCKING))
            op->holds_client = nc->batch_wait = 1;
        return;
    }
    if (proxy_arg_is(name, nl, "wait")) {
        node_wait(c, argc, argv, len, out);
        return;
    }
    if (!node_local_reply(c, argc, argv, len, out)) {
        node_unsupported(out, argc, argv, len);
        c->rejected = 1; /* Redis would run it; ferry refuses it before running */
    }
    node_reply_buf(c, out);
}

void proxy_node_request(struct proxy_client *c, struct resp_request *req)
{
    if (req->argc < 1)
        return;
    node_request(c, req->argc, req->argv, req->argvlen);
}
