/* The Raft core: elections, replication, commit, reads, membership, transfer
 * and snapshots, as a pure state machine (see raft/raft.h for the contract).
 *
 * Structure follows etcd's raft: a Progress per peer (probe / replicate /
 * snapshot), in-flight windows for pipelining, messages queued during steps
 * and handed out by raft_ready. The log lives in memory from the snapshot on;
 * `stable` marks how much of it the application has persisted. */
#include <string.h>

#include "raft/raft_internal.h"

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

#define READ_RING 256 /* heartbeat rounds whose send tick we remember (leases) */
#define MAX_BATCH_ENTRIES 4096

struct progress {
    uint64_t id;
    uint64_t match, next;
    int state;
    int probe_sent;       /* PROBE: one message out, wait for an answer */
    int recent_active;    /* heard from in this check-quorum period */
    int learner;
    uint64_t acked_round; /* highest heartbeat round acknowledged in this term */
    /* in-flight window (REPLICATE): last index and bytes of each message */
    uint64_t *infl_idx;
    uint64_t *infl_bytes;
    uint32_t infl_start, infl_count;
    uint64_t infl_total;
    /* SNAPSHOT */
    uint64_t snap_index, snap_offset;
    uint32_t snap_sent_len; /* the chunk awaiting its acknowledgement */
    int snap_stall;         /* heartbeats answered without snapshot progress */
};

/* A queued outgoing message; APPEND entries are resolved at raft_ready. */
struct out_msg {
    struct raft_msg m;
    uint64_t last_term; /* APPEND with entries: term of the last one, to revalidate */
};

struct pending_read {
    uint64_t ctx, index, round;
    uint64_t from; /* the follower that asked, 0 for a local read */
};

struct raft {
    struct raft_config cfg;
    uint64_t id;
    /* hard state */
    uint64_t term, vote, commit;
    struct raft_hard_state persisted_hs;
    int role;
    uint64_t leader;

    /* log: ents[k].index == snap_index + 1 + k */
    struct raft_entry *ents;
    size_t n_ents, cap_ents;
    uint64_t snap_index, snap_term;
    struct raft_conf snap_conf;
    uint8_t *snap_data;
    size_t snap_len;
    int snap_to_install; /* received snapshot not yet handed out */
    uint64_t stable, applied;

    struct raft_conf conf;  /* latest configuration in the log (in effect) */
    uint64_t conf_index;    /* its index; snap_index when from the snapshot */

    /* incoming snapshot being assembled */
    uint8_t *rx_buf;
    size_t rx_len, rx_cap;
    uint64_t rx_index, rx_term;

    /* timers, in ticks */
    int election_elapsed, heartbeat_elapsed, randomized_timeout;
    int boot_guard;   /* in-lease until the first election timeout after start */
    uint64_t rng;

    /* election */
    uint64_t vote_ids[RAFT_MAX_NODES];
    int vote_granted[RAFT_MAX_NODES];
    int n_votes;
    int self_vote_pending; /* candidate: own vote not yet persisted */

    /* leader */
    struct progress prs[2 * RAFT_MAX_NODES];
    int n_prs;
    uint64_t term_start;  /* index of this term's no-op */
    uint64_t lead_transferee;
    int transfer_elapsed;
    uint64_t uncommitted;
    int bcast_pending;
    uint64_t ticks;       /* leader's ticks since it was elected */
    uint64_t round;       /* heartbeat round counter (read confirmation) */
    uint64_t round_tick[READ_RING];
    uint64_t lease_until; /* in leader ticks; 0: no lease */
    int lease_off;        /* a TimeoutNow went out in this term */
    struct pending_read *reads;
    size_t n_reads, cap_reads;

    /* outputs */
    struct out_msg *out;
    size_t n_out, cap_out;
    struct raft_read_state *ready_reads;
    size_t n_ready_reads, cap_ready_reads;

    /* the ready handed out, until raft_advance */
    int in_ready;
    struct raft_msg *rd_now, *rd_after;
    size_t cap_rd_now, cap_rd_after;
    struct raft_snapshot rd_snap;
    uint64_t h_stable, h_applied;
    struct raft_hard_state h_hs;
    int h_snap;
};

/* ------------------------------------------------------------------ utils */

void raft_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "raft: assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

void *raft_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "raft: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *raft_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "raft: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

void *raft_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "raft: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

#define GROW(arr, n, cap)                                                                \
    do {                                                                                 \
        if ((n) == (cap)) {                                                              \
            (cap) = (cap) ? 2 * (cap) : 16;                                              \
            (arr) = raft_xrealloc((arr), (cap) * sizeof(*(arr)));                        \
        }                                                                                \
    } while (0)

const char *raft_strerror(int err)
{
    switch (err) {
    case RAFT_OK: return "ok";
    case RAFT_ENOTLEADER: return "not the leader";
    case RAFT_ETOOBIG: return "too many uncommitted bytes (max_uncommitted_bytes), retry later";
    case RAFT_EBUSY: return "a membership change is in progress";
    case RAFT_ENOTREADY: return "leader has not committed an entry of its term yet";
    case RAFT_ETRANSFER: return "leadership transfer in progress";
    case RAFT_EINVAL: return "invalid argument";
    case RAFT_ECORRUPT: return "corrupt message";
    case RAFT_ESHORT: return "incomplete message";
    case RAFT_ENOTCAUGHTUP: return "learner is not caught up";
    case RAFT_ECOMPACTED: return "index compacted or out of range";
    }
    return "unknown raft error";
}

/* splitmix64: tiny, seedable, good enough for election jitter. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int raft_conf_has_voter(const struct raft_conf *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n_voters; i++)
        if (c->voters[i] == id) return 1;
    return 0;
}

int raft_conf_has_learner(const struct raft_conf *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (c->learners[i] == id) return 1;
    return 0;
}

/* Majority of the voters of the configuration in effect: never a constant. */
static int quorum(const struct raft *r)
{
    return (int)r->conf.n_voters / 2 + 1;
}

/* ------------------------------------------------------------------ log */

static uint64_t log_last_index(const struct raft *r)
{
    return r->snap_index + r->n_ents;
}

static struct raft_entry *log_at(const struct raft *r, uint64_t index)
{
    if (index <= r->snap_index || index > log_last_index(r)) return NULL;
    return &r->ents[index - r->snap_index - 1];
}

int raft_log_term(const struct raft *r, uint64_t index, uint64_t *term)
{
    if (index == r->snap_index) {
        *term = r->snap_term;
        return 0;
    }
    const struct raft_entry *e = log_at(r, index);
    if (!e) return RAFT_ECOMPACTED;
    *term = e->term;
    return 0;
}

static uint64_t log_last_term(const struct raft *r)
{
    return r->n_ents ? r->ents[r->n_ents - 1].term : r->snap_term;
}

static int log_matches(const struct raft *r, uint64_t index, uint64_t term)
{
    uint64_t t;
    return raft_log_term(r, index, &t) == 0 && t == term;
}

/* Largest index <= index whose term is <= term (fast back-tracking). */
static uint64_t log_find_conflict_by_term(const struct raft *r, uint64_t index, uint64_t term)
{
    if (index > log_last_index(r)) index = log_last_index(r);
    for (; index > r->snap_index; index--) {
        if (log_at(r, index)->term <= term) return index;
    }
    return r->snap_index;
}

static void progress_sync(struct raft *r);

/* The configuration in effect is the latest one in the log (thesis 4.1). */
static void conf_recompute(struct raft *r)
{
    for (uint64_t i = log_last_index(r); i > r->snap_index; i--) {
        const struct raft_entry *e = log_at(r, i);
        if (e->type == RAFT_ENTRY_CONF) {
            int rc = raft_conf_decode(e->data, e->len, &r->conf);
            RAFT_ASSERT(rc == 0);
            r->conf_index = i;
            return;
        }
    }
    r->conf = r->snap_conf;
    r->conf_index = r->snap_index;
}

/* Copies e (with a fresh copy of its data) to the end of the log. */
static void log_append(struct raft *r, const struct raft_entry *e)
{
    RAFT_ASSERT(e->index == log_last_index(r) + 1);
    GROW(r->ents, r->n_ents, r->cap_ents);
    struct raft_entry *d = &r->ents[r->n_ents++];
    *d = *e;
    d->data = NULL;
    if (e->len) {
        d->data = raft_xmalloc(e->len);
        memcpy(d->data, e->data, e->len);
    }
    if (e->type == RAFT_ENTRY_CONF) {
        int rc = raft_conf_decode(d->data, d->len, &r->conf);
        RAFT_ASSERT(rc == 0);
        r->conf_index = d->index;
        if (r->role == RAFT_LEADER) progress_sync(r);
    }
}

/* Drops entries >= from. */
static void log_truncate(struct raft *r, uint64_t from)
{
    RAFT_ASSERT(from > r->commit && from > r->snap_index);
    int had_conf = 0;
    while (log_last_index(r) >= from) {
        struct raft_entry *e = &r->ents[--r->n_ents];
        if (e->type == RAFT_ENTRY_CONF) had_conf = 1;
        free(e->data);
    }
    if (r->stable >= from) r->stable = from - 1;
    if (had_conf) conf_recompute(r);
}

static void log_free_all(struct raft *r)
{
    for (size_t i = 0; i < r->n_ents; i++) free(r->ents[i].data);
    r->n_ents = 0;
}

/* Drops entries <= index (index is in the log). */
static void log_compact(struct raft *r, uint64_t index)
{
    uint64_t t;
    RAFT_ASSERT(raft_log_term(r, index, &t) == 0);
    size_t drop = index - r->snap_index;
    for (size_t i = 0; i < drop; i++) free(r->ents[i].data);
    if (drop) memmove(r->ents, r->ents + drop, (r->n_ents - drop) * sizeof(*r->ents));
    r->n_ents -= drop;
    r->snap_index = index;
    r->snap_term = t;
}

/* ------------------------------------------------------------------ messages */

static int msg_goes_now(uint8_t type)
{
    /* A leader's replication messages promise nothing about its own disk. */
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT ||
           type == RAFT_MSG_SNAPSHOT || type == RAFT_MSG_TIMEOUT_NOW;
}

static struct raft_msg *msg_new(struct raft *r, uint8_t type, uint64_t to)
{
    GROW(r->out, r->n_out, r->cap_out);
    struct out_msg *o = &r->out[r->n_out++];
    memset(o, 0, sizeof(*o));
    o->m.type = type;
    o->m.from = r->id;
    o->m.to = to;
    o->m.term = r->term;
    return &o->m;
}

/* ------------------------------------------------------------------ progress */

static struct progress *pr_get(struct raft *r, uint64_t id)
{
    for (int i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return &r->prs[i];
    return NULL;
}

static void pr_infl_reset(struct progress *p)
{
    p->infl_start = p->infl_count = 0;
    p->infl_total = 0;
}

static void pr_init(struct raft *r, struct progress *p, uint64_t id)
{
    uint64_t *a = p->infl_idx, *b = p->infl_bytes;
    memset(p, 0, sizeof(*p));
    p->infl_idx = a ? a : raft_xcalloc(r->cfg.max_inflight_msgs, sizeof(uint64_t));
    p->infl_bytes = b ? b : raft_xcalloc(r->cfg.max_inflight_msgs, sizeof(uint64_t));
    p->id = id;
    p->next = log_last_index(r) + 1;
    p->state = PR_PROBE;
    p->recent_active = 1;
}

static void pr_free_all(struct raft *r)
{
    for (int i = 0; i < r->n_prs; i++) {
        free(r->prs[i].infl_idx);
        free(r->prs[i].infl_bytes);
    }
    r->n_prs = 0;
}

static int pr_infl_full(const struct raft *r, const struct progress *p)
{
    return p->infl_count >= r->cfg.max_inflight_msgs ||
           (r->cfg.max_inflight_bytes && p->infl_total >= r->cfg.max_inflight_bytes);
}

static void pr_infl_add(const struct raft *r, struct progress *p, uint64_t last, uint64_t bytes)
{
    RAFT_ASSERT(p->infl_count < r->cfg.max_inflight_msgs);
    uint32_t k = (p->infl_start + p->infl_count) % r->cfg.max_inflight_msgs;
    p->infl_idx[k] = last;
    p->infl_bytes[k] = bytes;
    p->infl_count++;
    p->infl_total += bytes;
}

static void pr_infl_free_to(const struct raft *r, struct progress *p, uint64_t index)
{
    while (p->infl_count && p->infl_idx[p->infl_start] <= index) {
        p->infl_total -= p->infl_bytes[p->infl_start];
        p->infl_start = (p->infl_start + 1) % r->cfg.max_inflight_msgs;
        p->infl_count--;
    }
}

static void pr_become_probe(struct progress *p)
{
    p->state = PR_PROBE;
    p->probe_sent = 0;
    pr_infl_reset(p);
}

static void pr_become_replicate(struct progress *p)
{
    p->state = PR_REPLICATE;
    p->next = p->match + 1;
    pr_infl_reset(p);
}

/* Makes the progress set match the configuration: one per member but us. */
static void progress_sync(struct raft *r)
{
    struct progress keep[2 * RAFT_MAX_NODES];
    int n = 0;
    const struct raft_conf *c = &r->conf;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t cnt = pass ? c->n_learners : c->n_voters;
        const uint64_t *ids = pass ? c->learners : c->voters;
        for (uint32_t i = 0; i < cnt; i++) {
            if (ids[i] == r->id) continue;
            struct progress *old = pr_get(r, ids[i]);
            if (old) {
                keep[n] = *old;
                old->id = 0; /* moved */
            } else {
                memset(&keep[n], 0, sizeof(keep[n]));
                pr_init(r, &keep[n], ids[i]);
                keep[n].recent_active = 1;
            }
            keep[n].learner = pass;
            n++;
        }
    }
    for (int i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id) {
            free(r->prs[i].infl_idx);
            free(r->prs[i].infl_bytes);
        }
    }
    if (n) memcpy(r->prs, keep, (size_t)n * sizeof(keep[0]));
    r->n_prs = n;
}

/* ------------------------------------------------------------------ replication */

static void send_snapshot_chunk(struct raft *r, struct progress *p)
{
    if (p->snap_index != r->snap_index) {
        p->snap_index = r->snap_index;
        p->snap_offset = 0;
    }
    if (p->snap_offset > r->snap_len) p->snap_offset = 0;
    size_t left = r->snap_len - p->snap_offset;
    uint32_t n = left > r->cfg.snapshot_chunk ? r->cfg.snapshot_chunk : (uint32_t)left;
    struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT, p->id);
    m->snap.index = r->snap_index;
    m->snap.term = r->snap_term;
    m->snap.conf = r->snap_conf;
    m->snap_total = r->snap_len;
    m->ctx = p->snap_offset;
    m->snap_len = n;
    m->commit = r->commit;
    p->snap_sent_len = n;
    p->snap_stall = 0;
}

static void become_snapshot(struct raft *r, struct progress *p)
{
    p->state = PR_SNAPSHOT;
    p->snap_index = r->snap_index;
    p->snap_offset = 0;
    pr_infl_reset(p);
    send_snapshot_chunk(r, p);
}

/* Sends what the follower is missing, within the flow-control limits.
 * Returns whether a message was queued. */
static int send_append(struct raft *r, struct progress *p, int allow_empty)
{
    if (p->state == PR_SNAPSHOT) return 0;
    if (p->state == PR_PROBE && p->probe_sent) return 0;
    if (p->state == PR_REPLICATE && pr_infl_full(r, p)) return 0;
    uint64_t prev = p->next - 1, prev_term;
    if (raft_log_term(r, prev, &prev_term) != 0) {
        become_snapshot(r, p);
        return 1;
    }
    uint64_t last = log_last_index(r);
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (uint64_t i = p->next; i <= last && n < MAX_BATCH_ENTRIES; i++) {
        uint64_t sz = log_at(r, i)->len;
        if (n > 0 && bytes + sz > r->cfg.max_msg_bytes) break;
        bytes += sz;
        n++;
        if (p->state == PR_PROBE) break; /* probes carry one entry at most */
    }
    if (n == 0 && !allow_empty) return 0;
    struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND, p->id);
    struct out_msg *o = (struct out_msg *)m;
    m->index = prev;
    m->log_term = prev_term;
    m->commit = r->commit;
    m->n_entries = n;
    if (n) o->last_term = log_at(r, prev + n)->term;
    if (p->state == PR_REPLICATE) {
        if (n) {
            p->next = prev + n + 1;
            pr_infl_add(r, p, prev + n, bytes);
        }
    } else {
        p->probe_sent = 1;
    }
    return 1;
}

/* Sends empty appends too, so followers learn a new commit index. */
static void bcast_commit(struct raft *r)
{
    for (int i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        if (!send_append(r, p, 0) && p->state == PR_REPLICATE && !pr_infl_full(r, p))
            send_append(r, p, 1);
    }
}

static void bcast_heartbeat(struct raft *r)
{
    r->round++;
    r->round_tick[r->round % READ_RING] = r->ticks;
    for (int i = 0; i < r->n_prs; i++) {
        struct progress *p = &r->prs[i];
        struct raft_msg *m = msg_new(r, RAFT_MSG_HEARTBEAT, p->id);
        /* Never more than the follower is known to hold: its log past match
         * may still differ from ours. */
        m->commit = p->match < r->commit ? p->match : r->commit;
        m->ctx = r->round;
    }
}

static void sort_desc(uint64_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        uint64_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] < v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

/* The value a quorum of voters has reached; self_value counts for us. */
static uint64_t quorum_value(struct raft *r, uint64_t self_value, int what)
{
    uint64_t v[RAFT_MAX_NODES];
    int n = 0;
    for (uint32_t i = 0; i < r->conf.n_voters; i++) {
        uint64_t id = r->conf.voters[i];
        if (id == r->id) {
            v[n++] = self_value;
        } else {
            struct progress *p = pr_get(r, id);
            v[n++] = p ? (what == 0 ? p->match : p->acked_round) : 0;
        }
    }
    if (n == 0) return 0;
    sort_desc(v, n);
    return v[quorum(r) - 1];
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader);

/* Commits what a quorum has persisted, if of the current term (thesis 3.6.2). */
static int maybe_commit(struct raft *r)
{
    uint64_t c = quorum_value(r, r->stable, 0), t;
    if (c <= r->commit || raft_log_term(r, c, &t) != 0 || t != r->term) return 0;
    for (uint64_t i = r->commit + 1; i <= c; i++) {
        const struct raft_entry *e = log_at(r, i);
        if (e && e->term == r->term) r->uncommitted -= e->len < r->uncommitted ? e->len : r->uncommitted;
    }
    r->commit = c;
    /* A leader removed from the voters leaves once its removal is committed. */
    if (r->conf_index <= r->commit && !raft_conf_has_voter(&r->conf, r->id)) {
        become_follower(r, r->term, 0);
        return 1;
    }
    r->bcast_pending = 1;
    return 1;
}

/* ------------------------------------------------------------------ reads */

static void read_answer(struct raft *r, uint64_t from, uint64_t ctx, uint64_t index)
{
    if (from) {
        struct raft_msg *m = msg_new(r, RAFT_MSG_READ_INDEX_RESP, from);
        m->ctx = ctx;
        m->index = index;
        return;
    }
    GROW(r->ready_reads, r->n_ready_reads, r->cap_ready_reads);
    r->ready_reads[r->n_ready_reads].ctx = ctx;
    r->ready_reads[r->n_ready_reads].index = index;
    r->n_ready_reads++;
}

static void reads_check(struct raft *r)
{
    if (r->role != RAFT_LEADER) return;
    uint64_t q = quorum_value(r, r->round, 1);
    /* Lease: a quorum acknowledged round q, so no other leader can be elected
     * before its send time + election timeout (followers refuse votes in lease). */
    if (r->cfg.lease_read && !r->lease_off && q && r->round - q < READ_RING) {
        uint64_t until = r->round_tick[q % READ_RING] + (uint64_t)r->cfg.election_tick -
                         (uint64_t)r->cfg.lease_margin;
        if (until > r->lease_until) r->lease_until = until;
    }
    size_t k = 0;
    while (k < r->n_reads && r->reads[k].round <= q) {
        read_answer(r, r->reads[k].from, r->reads[k].ctx, r->reads[k].index);
        k++;
    }
    if (k) memmove(r->reads, r->reads + k, (r->n_reads - k) * sizeof(*r->reads));
    r->n_reads -= k;
}

/* A read on the leader, for itself (from 0) or for a follower. */
static int leader_read(struct raft *r, uint64_t ctx, uint64_t from)
{
    if (r->lead_transferee) return RAFT_ETRANSFER;
    /* Our commit index is only known to be the cluster's once an entry of our
     * own term is committed (thesis 6.4). */
    if (r->commit < r->term_start) return RAFT_ENOTREADY;
    if (r->cfg.lease_read && !r->lease_off && r->ticks < r->lease_until) {
        read_answer(r, from, ctx, r->commit);
        return 0;
    }
    /* A fresh heartbeat round per read: only acknowledgements sent after this
     * moment prove we are still the leader. */
    bcast_heartbeat(r);
    GROW(r->reads, r->n_reads, r->cap_reads);
    r->reads[r->n_reads].ctx = ctx;
    r->reads[r->n_reads].index = r->commit;
    r->reads[r->n_reads].round = r->round;
    r->reads[r->n_reads].from = from;
    r->n_reads++;
    reads_check(r);
    return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    RAFT_ASSERT(!r->in_ready);
    if (r->role == RAFT_LEADER) return leader_read(r, ctx, 0);
    if (r->role != RAFT_FOLLOWER || r->leader == 0) return RAFT_ENOTLEADER;
    struct raft_msg *m = msg_new(r, RAFT_MSG_READ_INDEX, r->leader);
    m->ctx = ctx;
    return 0;
}

/* ------------------------------------------------------------------ roles */

static void reset_timeout(struct raft *r)
{
    int e = r->cfg.election_tick;
    r->randomized_timeout = e + (int)(rng_next(&r->rng) % (uint64_t)e);
}

static void reset_role(struct raft *r, uint64_t term)
{
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
    }
    r->leader = 0;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    reset_timeout(r);
    r->lead_transferee = 0;
    r->n_votes = 0;
    r->self_vote_pending = 0;
    r->n_reads = 0;
    r->lease_until = 0;
    r->lease_off = 0;
    r->uncommitted = 0;
    r->bcast_pending = 0;
    pr_free_all(r);
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    reset_role(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
}

static void become_leader(struct raft *r)
{
    reset_role(r, r->term);
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->ticks = 0;
    r->round = 0;
    progress_sync(r);
    struct raft_entry noop = {.term = r->term, .index = log_last_index(r) + 1,
                              .type = RAFT_ENTRY_NOOP};
    log_append(r, &noop);
    r->term_start = noop.index;
    for (int i = 0; i < r->n_prs; i++) r->prs[i].next = noop.index;
    r->bcast_pending = 1;
    maybe_commit(r);
}

static int is_voter(const struct raft *r)
{
    return raft_conf_has_voter(&r->conf, r->id);
}

/* May this node start an election? A voter may; so may a node the latest,
 * still uncommitted configuration removes: it may be needed to commit that
 * configuration (thesis 4.2.2). */
static int promotable(const struct raft *r)
{
    return is_voter(r) ||
           (r->conf_index > r->commit && !raft_conf_has_learner(&r->conf, r->id));
}

static int record_vote(struct raft *r, uint64_t from, int granted)
{
    if (!raft_conf_has_voter(&r->conf, from)) return 0;
    for (int i = 0; i < r->n_votes; i++)
        if (r->vote_ids[i] == from) return 0;
    r->vote_ids[r->n_votes] = from;
    r->vote_granted[r->n_votes] = granted;
    r->n_votes++;
    return 1;
}

/* 1 won, -1 lost, 0 pending. */
static int vote_result(const struct raft *r)
{
    int yes = 0, no = 0;
    for (int i = 0; i < r->n_votes; i++) {
        if (r->vote_granted[i]) yes++;
        else no++;
    }
    if (yes >= quorum(r)) return 1;
    if (no >= quorum(r)) return -1;
    return 0;
}

static void campaign(struct raft *r, int pre, int transfer)
{
    if (!promotable(r)) return;
    uint64_t vterm;
    if (pre) {
        reset_role(r, r->term);
        r->role = RAFT_PRECANDIDATE;
        vterm = r->term + 1;
    } else {
        reset_role(r, r->term + 1);
        r->role = RAFT_CANDIDATE;
        r->vote = r->id;
        vterm = r->term;
    }
    if (pre) {
        record_vote(r, r->id, 1);
        if (vote_result(r) == 1) {
            campaign(r, 0, transfer);
            return;
        }
    } else {
        /* Our own vote counts once it is durable (raft_advance): a node must
         * never lead a term it could forget having voted in. */
        r->self_vote_pending = 1;
    }
    for (uint32_t i = 0; i < r->conf.n_voters; i++) {
        uint64_t id = r->conf.voters[i];
        if (id == r->id) continue;
        struct raft_msg *m = msg_new(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, id);
        m->term = vterm;
        m->index = log_last_index(r);
        m->log_term = log_last_term(r);
        if (transfer) m->flags |= RAFT_MSG_FLAG_TRANSFER;
    }
}

/* Followers that heard from a leader within an election timeout refuse to
 * help depose it (thesis 4.2.3: removed servers must not disrupt the
 * cluster); with check-quorum this is also what makes leases sound. */
static int in_lease(const struct raft *r)
{
    return (r->leader != 0 || r->boot_guard) && r->election_elapsed < r->cfg.election_tick;
}

/* ------------------------------------------------------------------ handlers */

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    int can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                   (pre && m->term > r->term);
    uint64_t lt = log_last_term(r);
    int up_to_date = m->log_term > lt || (m->log_term == lt && m->index >= log_last_index(r));
    /* No membership test here: a voter of a newer configuration we have not
     * seen yet may need our vote. */
    struct raft_msg *resp = msg_new(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    if (can_vote && up_to_date) {
        resp->term = m->term;
        if (!pre) {
            r->vote = m->from;
            r->election_elapsed = 0;
        }
    } else {
        resp->flags |= RAFT_MSG_FLAG_REJECT;
    }
}

static void handle_append(struct raft *r, const struct raft_msg *m)
{
    if (m->index < r->commit) {
        struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
        resp->index = r->commit;
        return;
    }
    if (log_matches(r, m->index, m->log_term)) {
        uint64_t last_new = m->index + m->n_entries;
        uint32_t k = 0;
        for (; k < m->n_entries; k++) {
            const struct raft_entry *e = &m->entries[k];
            uint64_t t;
            if (raft_log_term(r, e->index, &t) != 0) break; /* past our end */
            if (t != e->term) {
                log_truncate(r, e->index);
                break;
            }
        }
        for (; k < m->n_entries; k++) log_append(r, &m->entries[k]);
        uint64_t c = m->commit < last_new ? m->commit : last_new;
        if (c > r->commit) r->commit = c;
        struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
        resp->index = last_new;
        return;
    }
    uint64_t hint = m->index < log_last_index(r) ? m->index : log_last_index(r);
    hint = log_find_conflict_by_term(r, hint, m->log_term);
    uint64_t ht = 0;
    raft_log_term(r, hint, &ht);
    struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    resp->flags |= RAFT_MSG_FLAG_REJECT;
    resp->index = m->index;
    resp->hint = hint;
    resp->log_term = ht;
}

static void handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    if (m->commit > r->commit && m->commit <= log_last_index(r)) r->commit = m->commit;
    struct raft_msg *resp = msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp->ctx = m->ctx;
}

static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    const struct raft_snapshot_meta *s = &m->snap;
    if (s->index <= r->commit) {
        struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
        resp->index = r->commit;
        return;
    }
    if (r->rx_index != s->index || r->rx_term != s->term || m->ctx == 0) {
        r->rx_index = s->index;
        r->rx_term = s->term;
        r->rx_len = 0;
    }
    if (m->ctx != r->rx_len || m->ctx + m->snap_len > m->snap_total) {
        struct raft_msg *resp = msg_new(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
        resp->index = s->index;
        resp->ctx = r->rx_len;
        return;
    }
    if (r->rx_len + m->snap_len > r->rx_cap) {
        /* Grow by what arrives, never by the claimed total: a peer's claim
         * must not make us allocate. */
        r->rx_cap = 2 * r->rx_cap > r->rx_len + m->snap_len ? 2 * r->rx_cap : r->rx_len + m->snap_len;
        r->rx_buf = raft_xrealloc(r->rx_buf, r->rx_cap);
    }
    if (m->snap_len) memcpy(r->rx_buf + r->rx_len, m->snap_data, m->snap_len);
    r->rx_len += m->snap_len;
    if (r->rx_len < m->snap_total) {
        struct raft_msg *resp = msg_new(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
        resp->index = s->index;
        resp->ctx = r->rx_len;
        return;
    }
    /* Complete. */
    r->rx_index = r->rx_term = 0;
    if (log_matches(r, s->index, s->term)) {
        /* We hold the entries: commit them instead of discarding the log. */
        r->commit = s->index;
        r->rx_len = 0;
    } else {
        log_free_all(r);
        r->snap_index = s->index;
        r->snap_term = s->term;
        r->snap_conf = s->conf;
        free(r->snap_data);
        r->snap_data = r->rx_buf;
        r->snap_len = r->rx_len;
        r->rx_buf = NULL;
        r->rx_len = r->rx_cap = 0;
        r->commit = s->index;
        r->applied = s->index;
        r->stable = s->index;
        r->snap_to_install = 1;
        conf_recompute(r);
    }
    struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    resp->index = s->index;
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
    msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
    /* The transferee will win without waiting for leases to run out, and the
     * message may arrive long after the transfer is abandoned: no more leases
     * in this term. */
    r->lease_until = 0;
    r->lease_off = 1;
}

static void handle_append_resp(struct raft *r, struct progress *p, const struct raft_msg *m)
{
    if (m->flags & RAFT_MSG_FLAG_REJECT) {
        uint64_t probe = m->hint;
        if (m->log_term > 0) probe = log_find_conflict_by_term(r, m->hint, m->log_term);
        if (p->state == PR_REPLICATE) {
            if (m->index <= p->match) return; /* stale */
            pr_become_probe(p);
        } else if (p->state == PR_PROBE) {
            if (p->next - 1 != m->index) return; /* stale */
            p->probe_sent = 0;
        } else {
            return;
        }
        uint64_t n = m->index < probe + 1 ? m->index : probe + 1;
        p->next = n > p->match + 1 ? n : p->match + 1;
        send_append(r, p, 1);
        return;
    }
    int advanced = 0;
    if (m->index > p->match) {
        p->match = m->index;
        advanced = 1;
    }
    if (p->next < p->match + 1) p->next = p->match + 1;
    if (p->state == PR_PROBE) {
        if (advanced || p->match + 1 == p->next) pr_become_replicate(p);
        else p->probe_sent = 0;
    } else if (p->state == PR_SNAPSHOT) {
        if (p->match >= p->snap_index) pr_become_replicate(p);
    } else {
        pr_infl_free_to(r, p, m->index);
    }
    if (advanced && maybe_commit(r) && r->role != RAFT_LEADER) return;
    if (r->lead_transferee == p->id && p->match == log_last_index(r))
        send_timeout_now(r, p->id);
    while (send_append(r, p, 0)) {
        if (p->state != PR_REPLICATE) break;
    }
}

static void step_leader(struct raft *r, const struct raft_msg *m)
{
    struct progress *p = pr_get(r, m->from);
    if (!p) return;
    p->recent_active = 1;
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP:
        handle_append_resp(r, p, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        if (m->ctx > p->acked_round && m->ctx <= r->round) p->acked_round = m->ctx;
        if (p->state == PR_PROBE) p->probe_sent = 0;
        if (p->state == PR_SNAPSHOT) {
            /* Chunks go one at a time, each sent on the previous one's
             * acknowledgement; a lost one is resent after a few heartbeats
             * (never on every heartbeat: that would start parallel streams). */
            if (++p->snap_stall >= 3) {
                if (p->snap_offset >= r->snap_len) p->snap_offset = 0;
                send_snapshot_chunk(r, p);
            }
        } else if (p->match < log_last_index(r)) {
            /* Replication may have lost messages: an (empty) append makes the
             * follower reject and the leader back up. A full window that no
             * answer drains is freed one message per heartbeat. */
            if (p->state == PR_REPLICATE && pr_infl_full(r, p)) {
                p->infl_total -= p->infl_bytes[p->infl_start];
                p->infl_start = (p->infl_start + 1) % r->cfg.max_inflight_msgs;
                p->infl_count--;
            }
            send_append(r, p, 1);
        }
        reads_check(r);
        break;
    case RAFT_MSG_READ_INDEX:
        if (leader_read(r, m->ctx, m->from) != 0) {
            struct raft_msg *resp = msg_new(r, RAFT_MSG_READ_INDEX_RESP, m->from);
            resp->ctx = m->ctx;
            resp->flags |= RAFT_MSG_FLAG_REJECT;
        }
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        if (p->state != PR_SNAPSHOT || m->index != p->snap_index) break;
        if (p->snap_sent_len && m->ctx == p->snap_offset + p->snap_sent_len) {
            p->snap_offset = m->ctx;
            p->snap_sent_len = 0;
            if (p->snap_offset < r->snap_len) send_snapshot_chunk(r, p);
        } else if (m->ctx != p->snap_offset + p->snap_sent_len) {
            /* The follower holds another prefix (it restarted, or this is a
             * stale answer): resume from there on the next stall resend. */
            p->snap_offset = m->ctx;
            p->snap_sent_len = 0;
        }
        break;
    default:
        break;
    }
}

/* Checks a message's content so that no peer can crash us with it. */
static int msg_valid(const struct raft *r, const struct raft_msg *m)
{
    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX) return 0;
    if (m->from == 0 || m->from == r->id || m->to != r->id) return 0;
    if (m->type == RAFT_MSG_APPEND) {
        uint64_t prev_term = m->log_term;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term) return 0;
            if (e->type > RAFT_ENTRY_CONF || (e->len && !e->data)) return 0;
            struct raft_conf c;
            if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(e->data, e->len, &c) != 0) return 0;
            prev_term = e->term;
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (m->snap_len && !m->snap_data) return 0;
        if (m->snap.conf.n_voters > RAFT_MAX_NODES || m->snap.conf.n_learners > RAFT_MAX_NODES)
            return 0;
        if (m->snap.index == 0) return 0;
    }
    return 1;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    RAFT_ASSERT(!r->in_ready);
    if (!msg_valid(r, m)) return RAFT_EINVAL;
    int t = m->type;
    if (m->term > r->term) {
        if ((t == RAFT_MSG_VOTE || t == RAFT_MSG_PREVOTE) &&
            !(m->flags & RAFT_MSG_FLAG_TRANSFER) && in_lease(r))
            return 0;
        if (t == RAFT_MSG_PREVOTE) {
            /* a pre-vote changes nothing here */
        } else if (t == RAFT_MSG_PREVOTE_RESP && !(m->flags & RAFT_MSG_FLAG_REJECT)) {
            /* granted for the term we would campaign in */
        } else if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT) {
            become_follower(r, m->term, m->from);
        } else {
            /* Only a leader's message or a granted vote resets the election
             * timer (Raft figure 2): a candidate that cannot win must not keep
             * a better one from timing out. */
            int elapsed = r->election_elapsed;
            become_follower(r, m->term, 0);
            r->election_elapsed = elapsed;
        }
    } else if (m->term < r->term) {
        if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT) {
            /* Tell a stale leader it is stale, so it steps down (figure 2). */
            msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
        } else if (t == RAFT_MSG_PREVOTE) {
            struct raft_msg *resp = msg_new(r, RAFT_MSG_PREVOTE_RESP, m->from);
            resp->flags |= RAFT_MSG_FLAG_REJECT;
        }
        return 0;
    }

    if (t == RAFT_MSG_VOTE || t == RAFT_MSG_PREVOTE) {
        handle_vote(r, m);
        return 0;
    }
    switch (r->role) {
    case RAFT_LEADER:
        step_leader(r, m);
        break;
    case RAFT_PRECANDIDATE:
    case RAFT_CANDIDATE:
        if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT) {
            become_follower(r, m->term, m->from);
            break; /* handled below as a follower */
        }
        if ((t == RAFT_MSG_PREVOTE_RESP && r->role == RAFT_PRECANDIDATE &&
             ((m->flags & RAFT_MSG_FLAG_REJECT) ? m->term == r->term : m->term == r->term + 1)) ||
            (t == RAFT_MSG_VOTE_RESP && r->role == RAFT_CANDIDATE)) {
            record_vote(r, m->from, !(m->flags & RAFT_MSG_FLAG_REJECT));
            int res = vote_result(r);
            if (res == 1) {
                if (r->role == RAFT_PRECANDIDATE) campaign(r, 0, 0);
                else become_leader(r);
            } else if (res == -1) {
                become_follower(r, r->term, 0);
            }
        }
        return 0;
    case RAFT_FOLLOWER:
        break;
    }
    if (r->role != RAFT_FOLLOWER) return 0;
    switch (t) {
    case RAFT_MSG_APPEND:
        r->leader = m->from;
        r->election_elapsed = 0;
        handle_append(r, m);
        break;
    case RAFT_MSG_HEARTBEAT:
        r->leader = m->from;
        r->election_elapsed = 0;
        handle_heartbeat(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        r->leader = m->from;
        r->election_elapsed = 0;
        handle_snapshot(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        campaign(r, 0, 1);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        /* Only the leader of our term answers reads: its index covers every
         * write completed before we asked. */
        if (!(m->flags & RAFT_MSG_FLAG_REJECT) && m->from == r->leader)
            read_answer(r, 0, m->ctx, m->index);
        break;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ tick */

static void tick_leader(struct raft *r)
{
    r->ticks++;
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_tick) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum) {
            int active = 0;
            for (uint32_t i = 0; i < r->conf.n_voters; i++) {
                uint64_t id = r->conf.voters[i];
                struct progress *p = pr_get(r, id);
                if (id == r->id || (p && p->recent_active)) active++;
            }
            for (int i = 0; i < r->n_prs; i++) r->prs[i].recent_active = 0;
            if (active < quorum(r)) {
                become_follower(r, r->term, 0);
                return;
            }
        }
        if (r->lead_transferee) r->lead_transferee = 0; /* transfer timed out */
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_tick) {
        r->heartbeat_elapsed = 0;
        bcast_heartbeat(r);
    }
}

void raft_tick(struct raft *r)
{
    RAFT_ASSERT(!r->in_ready);
    if (r->role == RAFT_LEADER) {
        tick_leader(r);
        return;
    }
    /* A node that may not campaign keeps counting, so that its lease on the
     * old leader runs out and it can vote for someone else. */
    if (r->election_elapsed < 1 << 30) r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_tick) r->boot_guard = 0;
    if (r->election_elapsed >= r->randomized_timeout && promotable(r)) {
        r->election_elapsed = 0;
        campaign(r, r->cfg.pre_vote, 0);
    }
}

/* ------------------------------------------------------------------ client API */

int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index, uint64_t *term)
{
    RAFT_ASSERT(!r->in_ready);
    if (r->role != RAFT_LEADER) return RAFT_ENOTLEADER;
    if (r->lead_transferee) return RAFT_ETRANSFER;
    if (r->cfg.max_uncommitted_bytes && r->uncommitted > 0 &&
        r->uncommitted + len > r->cfg.max_uncommitted_bytes)
        return RAFT_ETOOBIG;
    struct raft_entry e = {.term = r->term, .index = log_last_index(r) + 1,
                           .type = RAFT_ENTRY_NORMAL, .len = len, .data = (uint8_t *)data};
    log_append(r, &e);
    r->uncommitted += len;
    r->bcast_pending = 1;
    if (index) *index = e.index;
    if (term) *term = e.term;
    return 0;
}

int raft_transfer_leader(struct raft *r, uint64_t to)
{
    RAFT_ASSERT(!r->in_ready);
    if (r->role != RAFT_LEADER) return RAFT_ENOTLEADER;
    if (to == r->id || !raft_conf_has_voter(&r->conf, to)) return RAFT_EINVAL;
    struct progress *p = pr_get(r, to);
    if (!p) return RAFT_EINVAL;
    r->lead_transferee = to;
    r->election_elapsed = 0; /* the transfer gets one election timeout */
    if (p->match == log_last_index(r)) send_timeout_now(r, to);
    else send_append(r, p, 0);
    return 0;
}

int raft_change_membership(struct raft *r, enum raft_change change, uint64_t id)
{
    RAFT_ASSERT(!r->in_ready);
    if (r->role != RAFT_LEADER) return RAFT_ENOTLEADER;
    if (r->lead_transferee) return RAFT_ETRANSFER;
    /* Thesis 4.1 fix: no change before an entry of this term is committed. */
    if (r->commit < r->term_start) return RAFT_ENOTREADY;
    if (r->conf_index > r->commit) return RAFT_EBUSY;
    if (id == 0) return RAFT_EINVAL;
    struct raft_conf c = r->conf;
    int voter = raft_conf_has_voter(&c, id), learner = raft_conf_has_learner(&c, id);
    switch (change) {
    case RAFT_CHANGE_ADD_LEARNER:
        if (voter || learner || c.n_voters + c.n_learners >= RAFT_MAX_NODES) return RAFT_EINVAL;
        c.learners[c.n_learners++] = id;
        break;
    case RAFT_CHANGE_PROMOTE: {
        if (!learner) return RAFT_EINVAL;
        struct progress *p = pr_get(r, id);
        if (!p || p->match < r->commit) return RAFT_ENOTCAUGHTUP;
        for (uint32_t i = 0; i < c.n_learners; i++)
            if (c.learners[i] == id) c.learners[i] = c.learners[--c.n_learners];
        c.voters[c.n_voters++] = id;
        break;
    }
    case RAFT_CHANGE_REMOVE:
        if (voter) {
            if (c.n_voters <= 1) return RAFT_EINVAL;
            for (uint32_t i = 0; i < c.n_voters; i++)
                if (c.voters[i] == id) c.voters[i] = c.voters[--c.n_voters];
        } else if (learner) {
            for (uint32_t i = 0; i < c.n_learners; i++)
                if (c.learners[i] == id) c.learners[i] = c.learners[--c.n_learners];
        } else {
            return RAFT_EINVAL;
        }
        break;
    default:
        return RAFT_EINVAL;
    }
    struct raft_entry e = {.term = r->term, .index = log_last_index(r) + 1,
                           .type = RAFT_ENTRY_CONF};
    raft_conf_encode(&c, &e.data, &e.len);
    log_append(r, &e);
    free(e.data);
    r->bcast_pending = 1;
    /* A leader alone in the new configuration may commit at once. */
    maybe_commit(r);
    return 0;
}

static void conf_at(const struct raft *r, uint64_t index, struct raft_conf *out)
{
    for (uint64_t i = index; i > r->snap_index; i--) {
        const struct raft_entry *e = log_at(r, i);
        if (e->type == RAFT_ENTRY_CONF) {
            int rc = raft_conf_decode(e->data, e->len, out);
            RAFT_ASSERT(rc == 0);
            return;
        }
    }
    *out = r->snap_conf;
}

int raft_compact(struct raft *r, uint64_t index, const void *data, size_t len)
{
    RAFT_ASSERT(!r->in_ready);
    if (index <= r->snap_index || index > r->applied) return RAFT_ECOMPACTED;
    struct raft_conf c;
    conf_at(r, index, &c);
    log_compact(r, index);
    r->snap_conf = c;
    free(r->snap_data);
    r->snap_data = raft_xmalloc(len);
    if (len) memcpy(r->snap_data, data, len);
    r->snap_len = len;
    return 0;
}

/* ------------------------------------------------------------------ ready */

static void flush_bcast(struct raft *r)
{
    if (r->bcast_pending && r->role == RAFT_LEADER) bcast_commit(r);
    r->bcast_pending = 0;
}

int raft_has_ready(const struct raft *r)
{
    struct raft_hard_state hs = {r->term, r->vote, r->commit};
    return r->n_out || r->n_ready_reads || r->snap_to_install || r->stable < log_last_index(r) ||
           memcmp(&hs, &r->persisted_hs, sizeof(hs)) != 0 ||
           (r->applied < r->commit && r->applied < log_last_index(r)) ||
           (r->bcast_pending && r->role == RAFT_LEADER);
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
    RAFT_ASSERT(!r->in_ready);
    flush_bcast(r);
    memset(rd, 0, sizeof(*rd));
    r->in_ready = 1;
    struct raft_hard_state hs = {r->term, r->vote, r->commit};
    if (memcmp(&hs, &r->persisted_hs, sizeof(hs)) != 0) {
        rd->has_hard_state = 1;
        rd->hard_state = hs;
    }
    r->h_hs = hs;
    uint64_t last = log_last_index(r);
    if (r->stable < last) {
        rd->entries = log_at(r, r->stable + 1);
        rd->n_entries = last - r->stable;
    }
    r->h_stable = last;
    r->h_snap = r->snap_to_install;
    if (r->snap_to_install) {
        r->rd_snap.meta.index = r->snap_index;
        r->rd_snap.meta.term = r->snap_term;
        r->rd_snap.meta.conf = r->snap_conf;
        r->rd_snap.data = r->snap_data;
        r->rd_snap.len = r->snap_len;
        rd->snapshot = &r->rd_snap;
    }
    /* Apply only what is committed and persisted once this ready is. */
    uint64_t to = r->commit < last ? r->commit : last;
    if (to > r->applied) {
        rd->committed = log_at(r, r->applied + 1);
        rd->n_committed = to - r->applied;
    }
    r->h_applied = to > r->applied ? to : r->applied;

    if (r->n_out > r->cap_rd_now) {
        r->cap_rd_now = r->n_out;
        r->rd_now = raft_xrealloc(r->rd_now, r->cap_rd_now * sizeof(*r->rd_now));
    }
    if (r->n_out > r->cap_rd_after) {
        r->cap_rd_after = r->n_out;
        r->rd_after = raft_xrealloc(r->rd_after, r->cap_rd_after * sizeof(*r->rd_after));
    }
    size_t nn = 0, na = 0;
    /* Leadership of a term rests on our vote in it: until term and vote are
     * durable, even a leader's appends wait (else a restart could vote again
     * in the same term and two leaders would feed one term's log). */
    int hs_durable = hs.term == r->persisted_hs.term && hs.vote == r->persisted_hs.vote;
    for (size_t i = 0; i < r->n_out; i++) {
        struct out_msg *o = &r->out[i];
        struct raft_msg m = o->m;
        if (m.type == RAFT_MSG_APPEND && m.n_entries) {
            /* Revalidate against the log as it is now: same index and term of
             * the last entry means the same entries (log matching). */
            const struct raft_entry *e = log_at(r, m.index + m.n_entries);
            if (!e || e->term != o->last_term || m.index < r->snap_index) continue;
            m.entries = (struct raft_entry *)log_at(r, m.index + 1);
        }
        if (m.type == RAFT_MSG_SNAPSHOT) {
            if (m.snap.index != r->snap_index || m.ctx + m.snap_len > r->snap_len) continue;
            m.snap_data = r->snap_data + m.ctx;
        }
        if (hs_durable && msg_goes_now(m.type)) r->rd_now[nn++] = m;
        else r->rd_after[na++] = m;
    }
    rd->msgs_now = r->rd_now;
    rd->n_msgs_now = nn;
    rd->msgs_after = r->rd_after;
    rd->n_msgs_after = na;
    rd->reads = r->ready_reads;
    rd->n_reads = r->n_ready_reads;
    rd->want_snapshot = r->cfg.snapshot_threshold &&
                        r->h_applied - r->snap_index >= r->cfg.snapshot_threshold;
}

void raft_advance(struct raft *r)
{
    RAFT_ASSERT(r->in_ready);
    r->in_ready = 0;
    r->stable = r->h_stable;
    r->applied = r->h_applied;
    r->persisted_hs = r->h_hs;
    if (r->h_snap) r->snap_to_install = 0;
    r->n_out = 0;
    r->n_ready_reads = 0;
    if (r->role == RAFT_CANDIDATE && r->self_vote_pending && r->persisted_hs.term == r->term &&
        r->persisted_hs.vote == r->id) {
        r->self_vote_pending = 0;
        record_vote(r, r->id, 1);
        if (vote_result(r) == 1) become_leader(r);
    }
    if (r->role == RAFT_LEADER) maybe_commit(r);
}

/* ------------------------------------------------------------------ lifecycle */

void raft_config_default(struct raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->election_tick = 10;
    cfg->heartbeat_tick = 1;
    cfg->max_inflight_msgs = 256;
    cfg->max_inflight_bytes = 0;
    cfg->max_msg_bytes = 1 << 20;
    cfg->max_uncommitted_bytes = 0;
    cfg->snapshot_threshold = 0;
    cfg->snapshot_chunk = 1 << 20;
    cfg->check_quorum = 1;
    cfg->pre_vote = 1;
    cfg->lease_read = 0;
    cfg->lease_margin = 3;
}

static int conf_valid(const struct raft_conf *c)
{
    if (c->n_voters > RAFT_MAX_NODES || c->n_learners > RAFT_MAX_NODES ||
        c->n_voters + c->n_learners > RAFT_MAX_NODES)
        return 0;
    for (uint32_t i = 0; i < c->n_voters + c->n_learners; i++) {
        uint64_t id = i < c->n_voters ? c->voters[i] : c->learners[i - c->n_voters];
        if (id == 0) return 0;
        for (uint32_t j = 0; j < i; j++) {
            uint64_t o = j < c->n_voters ? c->voters[j] : c->learners[j - c->n_voters];
            if (o == id) return 0;
        }
    }
    return 1;
}

struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *rs)
{
    if (cfg->id == 0 || cfg->election_tick <= 0 || cfg->heartbeat_tick <= 0 ||
        cfg->heartbeat_tick >= cfg->election_tick || cfg->max_inflight_msgs == 0 ||
        cfg->max_inflight_msgs > RAFT_MAX_INFLIGHT || cfg->snapshot_chunk == 0 ||
        (cfg->lease_read && !cfg->check_quorum) || cfg->lease_margin < 0 ||
        cfg->lease_margin >= cfg->election_tick || !conf_valid(&cfg->bootstrap))
        return NULL;
    struct raft *r = raft_xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    if (r->cfg.max_msg_bytes == 0) r->cfg.max_msg_bytes = 1;
    r->id = cfg->id;
    r->rng = cfg->seed ^ (cfg->id * 0x2545f4914f6cdd1dULL);
    r->snap_conf = cfg->bootstrap;
    if (rs) {
        r->term = rs->hard_state.term;
        r->vote = rs->hard_state.vote;
        r->commit = rs->hard_state.commit;
        if (rs->snapshot.meta.index) {
            r->snap_index = rs->snapshot.meta.index;
            r->snap_term = rs->snapshot.meta.term;
            r->snap_conf = rs->snapshot.meta.conf;
            r->snap_data = raft_xmalloc(rs->snapshot.len);
            if (rs->snapshot.len) memcpy(r->snap_data, rs->snapshot.data, rs->snapshot.len);
            r->snap_len = rs->snapshot.len;
        }
        for (size_t i = 0; i < rs->n_entries; i++) {
            if (rs->entries[i].index != log_last_index(r) + 1) {
                raft_free(r);
                return NULL;
            }
            log_append(r, &rs->entries[i]);
        }
        if (r->commit < r->snap_index) r->commit = r->snap_index;
        if (r->commit > log_last_index(r)) r->commit = log_last_index(r);
        r->applied = rs->applied > r->snap_index ? rs->applied : r->snap_index;
        if (r->applied > r->commit) r->applied = r->commit;
        r->persisted_hs.term = r->term;
        r->persisted_hs.vote = r->vote;
        r->persisted_hs.commit = rs->hard_state.commit;
    }
    r->stable = log_last_index(r);
    conf_recompute(r);
    r->role = RAFT_FOLLOWER;
    r->boot_guard = 1;
    reset_timeout(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r) return;
    log_free_all(r);
    free(r->ents);
    free(r->snap_data);
    free(r->rx_buf);
    pr_free_all(r);
    free(r->reads);
    free(r->out);
    free(r->ready_reads);
    free(r->rd_now);
    free(r->rd_after);
    free(r);
}

/* ------------------------------------------------------------------ inspection */

enum raft_role raft_role(const struct raft *r) { return (enum raft_role)r->role; }
uint64_t raft_id(const struct raft *r) { return r->id; }
uint64_t raft_term(const struct raft *r) { return r->term; }
uint64_t raft_leader(const struct raft *r) { return r->leader; }
uint64_t raft_commit_index(const struct raft *r) { return r->commit; }
uint64_t raft_applied_index(const struct raft *r) { return r->applied; }
uint64_t raft_last_index(const struct raft *r) { return log_last_index(r); }
uint64_t raft_snapshot_index(const struct raft *r) { return r->snap_index; }
const struct raft_conf *raft_conf(const struct raft *r) { return &r->conf; }

const struct raft_entry *raft_log_entry(const struct raft *r, uint64_t index)
{
    return log_at(r, index);
}
