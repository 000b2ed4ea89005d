/* Deterministic simulation of a Raft cluster built on the raft/ core.
 *
 * One seed decides everything: cluster size (1..7), options, clock rates,
 * and every fault. Virtual time only; every message crosses the real codec.
 * A node persists each ready after a random disk latency and is busy until
 * then (a crash meanwhile loses that ready: nothing unsynced survives).
 *
 * Checked after every event: election safety, log matching (on the persisted
 * logs, by chained hashes), leader completeness, state machine safety,
 * monotonic commit, linearizable reads against the model of completed writes.
 * After the faults heal: a leader is elected and every proposal is decided
 * within a bound.
 *
 *   sim --seeds N [--from S] [--jobs J] [-x]   many seeds, summary line
 *   sim --seed S --trace                        replay one seed, readable trace
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raft/raft.h"

#define MAXN 7
#define TICK 100          /* virtual time units per nominal tick */
#define ELECTION 10
#define CHAOS_TIME (800 * TICK)
#define HEAL_BOUND_TICKS (60 * ELECTION)

/* ------------------------------------------------------------------ rng */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t rn(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int per_mille) { return (int)rn(1000) < per_mille; }

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* ------------------------------------------------------------------ state */

static int trace_on;
static uint64_t now;
static uint64_t trace_hash;
static int failed;
static char fail_msg[512];
static uint64_t cur_seed;
static uint64_t recovery_ticks; /* from healing to a recovered cluster */

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    if (!trace_on) return;
    va_list ap;
    va_start(ap, fmt);
    printf("%8llu ", (unsigned long long)now);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    if (failed) return;
    failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
    va_end(ap);
    trace("FAIL: %s", fail_msg);
}

struct dentry { /* a persisted entry */
    struct raft_entry e;
    uint64_t chain;  /* hash of the log up to and including this entry */
};

struct disk {
    struct raft_hard_state hs;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    size_t snap_len;
    uint64_t snap_chain;
    struct dentry *ents;   /* ents[k].e.index == snap.index + 1 + k */
    size_t n, cap;
};

struct node {
    uint64_t id;
    struct raft *r;
    int up;
    uint64_t inc;           /* incarnation: stale events are ignored */
    uint64_t period;        /* time units per tick (clock skew) */
    struct disk disk;
    uint64_t sm_index, sm_hash;  /* the state machine */
    int busy;               /* a ready is being persisted */
    struct raft_ready rd;
    int missed_ticks;
    uint64_t seen_commit;
    uint64_t leader_term_checked;
    uint64_t waiting_read[64], waiting_index[64]; /* reads answered, waiting for apply */
    int n_waiting;
    /* frames that arrived while the node was blocked on its disk */
    struct frame { uint8_t *buf; size_t len; } *inbox;
    size_t n_inbox, cap_inbox;
};

static struct node nodes[MAXN + 1];
static int N;

/* options of this seed */
static struct raft_config base_cfg;
static int loss_pm, dup_pm, delay_max, disk_max;
static int blocked[MAXN + 1][MAXN + 1];
static int chaos;
static int crash_in_write_pm, quick_restart_pm, leader_hunt_pm, fault_gap, young_leader_crash_pm;

/* model */
static uint64_t *committed_term; /* by index; 0 unknown */
/* By index: the lowest term a node was in when it saw the index committed,
 * which is the term of the leader that committed it (that leader sees it
 * first, in its own term; every other node later, in that term or after). */
static uint64_t *committed_in;
static uint64_t *committed_chain;
static size_t committed_cap;
static uint64_t global_commit;
static uint64_t *leader_of_term;
static size_t leader_cap;

struct reg { uint64_t index, term, chain; };
static struct reg *regtab;
static size_t reg_cap, reg_n;

struct read_op { uint64_t node, inc, required; int done; };
static struct read_op *reads;
static size_t n_reads, cap_reads;

struct proposal { uint64_t index, term; };
static struct proposal *props;
static size_t n_props, cap_props;

static uint64_t stat_commits, stat_reads_ok, stat_elections, stat_snapshots;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) abort();
    return p;
}

static void ensure_committed(uint64_t index)
{
    if (index < committed_cap) return;
    size_t cap = committed_cap ? committed_cap : 1024;
    while (cap <= index) cap *= 2;
    committed_term = xrealloc(committed_term, cap * sizeof(uint64_t));
    committed_in = xrealloc(committed_in, cap * sizeof(uint64_t));
    committed_chain = xrealloc(committed_chain, cap * sizeof(uint64_t));
    memset(committed_term + committed_cap, 0, (cap - committed_cap) * sizeof(uint64_t));
    memset(committed_in + committed_cap, 0, (cap - committed_cap) * sizeof(uint64_t));
    memset(committed_chain + committed_cap, 0, (cap - committed_cap) * sizeof(uint64_t));
    committed_cap = cap;
}

/* (index, term) -> chain: log matching across every persisted log. */
static void reg_check(uint64_t index, uint64_t term, uint64_t chain)
{
    if (reg_n * 2 >= reg_cap) {
        size_t ocap = reg_cap;
        struct reg *old = regtab;
        reg_cap = reg_cap ? reg_cap * 2 : 4096;
        regtab = calloc(reg_cap, sizeof(*regtab));
        reg_n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].index) reg_check(old[i].index, old[i].term, old[i].chain);
        free(old);
    }
    size_t h = (size_t)((index * 0x9e3779b97f4a7c15ULL) ^ (term * 0xc2b2ae3d27d4eb4fULL));
    for (size_t i = h & (reg_cap - 1);; i = (i + 1) & (reg_cap - 1)) {
        if (regtab[i].index == 0) {
            regtab[i] = (struct reg){index, term, chain};
            reg_n++;
            return;
        }
        if (regtab[i].index == index && regtab[i].term == term) {
            if (regtab[i].chain != chain)
                fail("log matching: two logs hold (index %llu, term %llu) with different prefixes",
                     (unsigned long long)index, (unsigned long long)term);
            return;
        }
    }
}

static uint64_t chain_next(uint64_t chain, const struct raft_entry *e)
{
    uint64_t h = fnv(chain ^ 0xcbf29ce484222325ULL, &e->index, 8);
    h = fnv(h, &e->term, 8);
    h = fnv(h, &e->type, 1);
    return fnv(h, e->data, e->len);
}

/* ------------------------------------------------------------------ events */

enum { EV_TICK, EV_DELIVER, EV_PERSIST, EV_CLIENT, EV_FAULT, EV_RESTART, EV_CRASH, EV_CLIENT_ONCE };

struct event {
    uint64_t time, seq;
    int type;
    int node;
    uint64_t inc;
    uint8_t *buf;
    size_t len;
};

static struct event *heap;
static size_t heap_n, heap_cap;
static uint64_t ev_seq;

static int ev_less(const struct event *a, const struct event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void ev_push(struct event e)
{
    e.seq = ev_seq++;
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = xrealloc(heap, heap_cap * sizeof(*heap));
    }
    size_t i = heap_n++;
    heap[i] = e;
    while (i && ev_less(&heap[i], &heap[(i - 1) / 2])) {
        struct event t = heap[i];
        heap[i] = heap[(i - 1) / 2];
        heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct event ev_pop(void)
{
    struct event top = heap[0];
    heap[0] = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && ev_less(&heap[l], &heap[m])) m = l;
        if (r < heap_n && ev_less(&heap[r], &heap[m])) m = r;
        if (m == i) break;
        struct event t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
    return top;
}

/* ------------------------------------------------------------------ network */

static const char *msg_name(int t)
{
    static const char *names[] = {"?", "APPEND", "APPEND_RESP", "VOTE", "VOTE_RESP", "PREVOTE",
                                  "PREVOTE_RESP", "HEARTBEAT", "HEARTBEAT_RESP", "SNAPSHOT",
                                  "SNAPSHOT_RESP", "TIMEOUT_NOW", "READ_INDEX", "READ_INDEX_RESP"};
    return t >= 1 && t <= RAFT_MSG_TYPE_MAX ? names[t] : "?";
}

static uint64_t disk_last_index(const struct disk *d);

/* The durability contract, checked from outside: a vote or an acknowledgement
 * leaves only once what it promises is on the sender's disk. */
static void check_promise(const struct raft_msg *m)
{
    if (m->from < 1 || m->from > (uint64_t)N || (m->flags & RAFT_MSG_FLAG_REJECT)) return;
    const struct disk *d = &nodes[m->from].disk;
    /* A later durable term keeps the promise too: the node can never vote in
     * the granted term again. */
    if (m->type == RAFT_MSG_VOTE_RESP && d->hs.term <= m->term &&
        (d->hs.term != m->term || d->hs.vote != m->to))
        fail("node %llu granted its vote in term %llu before persisting it",
             (unsigned long long)m->from, (unsigned long long)m->term);
    /* Likewise an acknowledgement made stale, in the same ready, by a newer
     * leader's truncation: it was true in its term, which is over for good. */
    if (m->type == RAFT_MSG_APPEND_RESP && m->index > disk_last_index(d) && d->hs.term <= m->term)
        fail("node %llu acknowledged index %llu before persisting it", (unsigned long long)m->from,
             (unsigned long long)m->index);
}

static void net_send(const struct raft_msg *m)
{
    check_promise(m);
    uint8_t *buf;
    size_t len;
    raft_msg_encode(m, &buf, &len);
    trace_hash = fnv(trace_hash, buf, len);
    int to = (int)m->to, from = (int)m->from;
    if (to < 1 || to > N) {
        free(buf);
        return;
    }
    trace("  %llu->%llu %s term=%llu idx=%llu lt=%llu n=%u commit=%llu%s%s", (unsigned long long)m->from,
          (unsigned long long)m->to, msg_name(m->type), (unsigned long long)m->term,
          (unsigned long long)m->index, (unsigned long long)m->log_term, m->n_entries,
          (unsigned long long)m->commit, m->flags & RAFT_MSG_FLAG_REJECT ? " REJECT" : "",
          blocked[from][to] ? " (blocked)" : "");
    if (blocked[from][to] || (chaos && chance(loss_pm))) {
        free(buf);
        return;
    }
    int copies = chaos && chance(dup_pm) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        uint8_t *b = buf;
        if (c == 1) {
            b = malloc(len);
            memcpy(b, buf, len);
        }
        ev_push((struct event){.time = now + 1 + rn((uint64_t)delay_max), .type = EV_DELIVER,
                               .node = to, .buf = b, .len = len, .inc = (uint64_t)from});
    }
}

/* ------------------------------------------------------------------ disk */

static uint64_t disk_last_index(const struct disk *d)
{
    return d->snap.index + d->n;
}

static void disk_truncate(struct disk *d, uint64_t from)
{
    while (d->n && d->ents[d->n - 1].e.index >= from) free(d->ents[--d->n].e.data);
}

static void disk_append(struct node *n, const struct raft_entry *e)
{
    struct disk *d = &n->disk;
    uint64_t want = d->snap.index + d->n + 1;
    if (e->index != want) {
        fail("node %llu: persisted log gap (append %llu, expected %llu)", (unsigned long long)n->id,
             (unsigned long long)e->index, (unsigned long long)want);
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
    }
    struct dentry *de = &d->ents[d->n++];
    de->e = *e;
    de->e.data = NULL;
    if (e->len) {
        de->e.data = malloc(e->len);
        memcpy(de->e.data, e->data, e->len);
    }
    uint64_t prev = d->n > 1 ? d->ents[d->n - 2].chain : d->snap_chain;
    de->chain = chain_next(prev, e);
    reg_check(e->index, e->term, de->chain);
}

static void disk_set_snapshot(struct node *n, const struct raft_snapshot_meta *meta,
                              const uint8_t *data, size_t len, uint64_t chain)
{
    struct disk *d = &n->disk;
    free(d->snap_data);
    d->snap_data = malloc(len ? len : 1);
    if (len) memcpy(d->snap_data, data, len);
    d->snap_len = len;
    /* Drop the prefix the snapshot covers, or the whole log if it diverges. */
    size_t keep_from = 0;
    int matches = 0;
    for (size_t k = 0; k < d->n; k++) {
        if (d->ents[k].e.index == meta->index) {
            matches = d->ents[k].e.term == meta->term;
            keep_from = k + 1;
        }
    }
    if (!matches) keep_from = d->n;
    for (size_t k = 0; k < keep_from; k++) free(d->ents[k].e.data);
    if (keep_from) memmove(d->ents, d->ents + keep_from, (d->n - keep_from) * sizeof(*d->ents));
    d->n -= keep_from;
    d->snap = *meta;
    d->snap_chain = chain;
}

static void disk_free(struct disk *d)
{
    disk_truncate(d, 0);
    free(d->ents);
    free(d->snap_data);
    memset(d, 0, sizeof(*d));
}

/* The state machine's snapshot: index, chain hash, then filler so snapshots
 * span several chunks. */
static void sm_snapshot(struct node *n, uint8_t **out, size_t *len)
{
    size_t fill = (size_t)(n->sm_hash % 1500);
    *len = 16 + fill;
    *out = malloc(*len);
    memcpy(*out, &n->sm_index, 8);
    memcpy(*out + 8, &n->sm_hash, 8);
    for (size_t i = 0; i < fill; i++) (*out)[16 + i] = (uint8_t)(n->sm_hash >> (i % 8));
}

static int sm_load(struct node *n, const uint8_t *data, size_t len, uint64_t index)
{
    if (len < 16) return -1;
    memcpy(&n->sm_index, data, 8);
    memcpy(&n->sm_hash, data + 8, 8);
    size_t fill = (size_t)(n->sm_hash % 1500);
    if (len != 16 + fill || n->sm_index != index) return -1;
    for (size_t i = 0; i < fill; i++)
        if (data[16 + i] != (uint8_t)(n->sm_hash >> (i % 8))) return -1;
    return 0;
}

/* ------------------------------------------------------------------ checks */

static void note_committed(uint64_t index, uint64_t term, const char *who)
{
    ensure_committed(index);
    if (committed_term[index] && committed_term[index] != term)
        fail("state machine safety: index %llu committed with term %llu and term %llu (%s)",
             (unsigned long long)index, (unsigned long long)committed_term[index],
             (unsigned long long)term, who);
    committed_term[index] = term;
}

static int disk_term(const struct disk *d, uint64_t index, uint64_t *term)
{
    if (index == d->snap.index) {
        *term = d->snap.term;
        return 0;
    }
    if (index < d->snap.index || index > disk_last_index(d)) return -1;
    *term = d->ents[index - d->snap.index - 1].e.term;
    return 0;
}

static uint64_t disk_last_term(const struct disk *d)
{
    return d->n ? d->ents[d->n - 1].e.term : d->snap.term;
}

/* A commit is durable only if no node lacking the entry could still win an
 * election: that is leader completeness for every future, checked at the
 * moment of commit against the persisted logs (what survives any crash). */
static void check_commit_durable(struct node *l, uint64_t index, uint64_t term)
{
    const struct raft_conf *c = raft_conf(l->r);
    for (uint32_t x = 0; x < c->n_voters && !failed; x++) {
        uint64_t xid = c->voters[x], t;
        if (xid < 1 || xid > (uint64_t)N) continue;
        const struct disk *xd = &nodes[xid].disk;
        if (xd->snap.index >= index || (disk_term(xd, index, &t) == 0 && t == term)) continue;
        uint64_t xlt = disk_last_term(xd), xli = disk_last_index(xd);
        uint32_t votes = 0;
        for (uint32_t v = 0; v < c->n_voters; v++) {
            uint64_t vid = c->voters[v];
            if (vid < 1 || vid > (uint64_t)N) continue;
            const struct disk *vd = &nodes[vid].disk;
            uint64_t vlt = disk_last_term(vd), vli = disk_last_index(vd);
            if (xlt > vlt || (xlt == vlt && xli >= vli)) votes++;
        }
        if (votes >= c->n_voters / 2 + 1)
            fail("leader %llu committed (index %llu, term %llu) but node %llu, without it, could "
                 "still be elected",
                 (unsigned long long)l->id, (unsigned long long)index, (unsigned long long)term,
                 (unsigned long long)xid);
    }
}

static void check_node(struct node *n)
{
    if (!n->up || failed) return;
    struct raft *r = n->r;
    uint64_t term = raft_term(r), commit = raft_commit_index(r);
    if (commit < n->seen_commit)
        fail("node %llu: commit index went back from %llu to %llu", (unsigned long long)n->id,
             (unsigned long long)n->seen_commit, (unsigned long long)commit);
    for (uint64_t i = n->seen_commit + 1; i <= commit; i++) {
        uint64_t t;
        if (raft_log_term(r, i, &t) == 0) note_committed(i, t, "commit");
        ensure_committed(i);
        if (committed_in[i] == 0 || term < committed_in[i]) committed_in[i] = term;
    }
    if (commit > n->seen_commit && raft_role(r) == RAFT_LEADER) {
        uint64_t t;
        if (raft_log_term(r, commit, &t) == 0) check_commit_durable(n, commit, t);
    }
    if (commit > n->seen_commit) n->seen_commit = commit;
    if (commit > global_commit) global_commit = commit;
    if (raft_role(r) == RAFT_LEADER) {
        if (n->disk.hs.term != term || n->disk.hs.vote != n->id)
            fail("node %llu leads term %llu before its vote in it is durable", (unsigned long long)n->id,
                 (unsigned long long)term);
        if (term >= leader_cap) {
            size_t cap = leader_cap ? leader_cap : 64;
            while (cap <= term) cap *= 2;
            leader_of_term = xrealloc(leader_of_term, cap * sizeof(uint64_t));
            memset(leader_of_term + leader_cap, 0, (cap - leader_cap) * sizeof(uint64_t));
            leader_cap = cap;
        }
        if (leader_of_term[term] && leader_of_term[term] != n->id)
            fail("election safety: nodes %llu and %llu both leaders of term %llu",
                 (unsigned long long)leader_of_term[term], (unsigned long long)n->id,
                 (unsigned long long)term);
        leader_of_term[term] = n->id;
        if (n->leader_term_checked != term) {
            n->leader_term_checked = term;
            stat_elections++;
            trace("node %llu is leader of term %llu", (unsigned long long)n->id,
                  (unsigned long long)term);
            /* Nemesis: new leaders often die young (before their first
             * entries spread), the recipe of Raft's figure 8. */
            if (chaos && chance(young_leader_crash_pm))
                ev_push((struct event){.time = now + 1 + rn(3 * TICK), .type = EV_CRASH,
                                       .node = (int)n->id, .inc = n->inc});
            /* Leader completeness: every entry committed in an earlier term
             * is in the new leader's log. A leader of an older term, elected
             * by votes cast before the others moved on (a stale vote
             * response delivered late), may lack entries committed since,
             * in later terms: it can commit nothing, as every majority
             * holds a node of the later term, which refuses its appends. */
            for (uint64_t i = raft_snapshot_index(r) + 1; i <= global_commit && !failed; i++) {
                uint64_t t = 0;
                if (i < committed_cap && committed_in[i] >= term) continue;
                if (raft_log_term(r, i, &t) != 0 || (committed_term[i] && t != committed_term[i]))
                    fail("leader completeness: leader %llu of term %llu lacks committed entry %llu",
                         (unsigned long long)n->id, (unsigned long long)term, (unsigned long long)i);
            }
        }
    }
}

static void apply_entry(struct node *n, const struct raft_entry *e)
{
    if (e->index != n->sm_index + 1) {
        fail("node %llu: applies %llu after %llu", (unsigned long long)n->id,
             (unsigned long long)e->index, (unsigned long long)n->sm_index);
        return;
    }
    n->sm_hash = chain_next(n->sm_hash, e);
    n->sm_index = e->index;
    note_committed(e->index, e->term, "apply");
    ensure_committed(e->index);
    if (committed_chain[e->index] && committed_chain[e->index] != n->sm_hash)
        fail("state machine safety: node %llu applied a different entry at %llu",
             (unsigned long long)n->id, (unsigned long long)e->index);
    committed_chain[e->index] = n->sm_hash;
    if (e->index > global_commit) global_commit = e->index;
    stat_commits++;
}

static void serve_reads(struct node *n)
{
    int k = 0;
    for (int i = 0; i < n->n_waiting; i++) {
        if (n->sm_index >= n->waiting_index[i]) {
            struct read_op *op = &reads[n->waiting_read[i]];
            if (!op->done) {
                op->done = 1;
                stat_reads_ok++;
                trace("node %llu serves read %llu at %llu (needs >= %llu)", (unsigned long long)n->id,
                      (unsigned long long)n->waiting_read[i], (unsigned long long)n->sm_index,
                      (unsigned long long)op->required);
                if (n->sm_index < op->required)
                    fail("linearizability: read %llu at node %llu saw index %llu but %llu had "
                         "completed before it started",
                         (unsigned long long)n->waiting_read[i], (unsigned long long)n->id,
                         (unsigned long long)n->sm_index, (unsigned long long)op->required);
            }
        } else {
            n->waiting_read[k] = n->waiting_read[i];
            n->waiting_index[k] = n->waiting_index[i];
            k++;
        }
    }
    n->n_waiting = k;
}

/* ------------------------------------------------------------------ node life */

static void schedule_tick(struct node *n)
{
    ev_push((struct event){.time = now + n->period, .type = EV_TICK, .node = (int)n->id,
                           .inc = n->inc});
}

static void node_start(struct node *n)
{
    struct raft_config cfg = base_cfg;
    cfg.id = n->id;
    cfg.seed = rnd();
    struct disk *d = &n->disk;
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.hard_state = d->hs;
    rs.snapshot.meta = d->snap;
    rs.snapshot.data = d->snap_data;
    rs.snapshot.len = d->snap_len;
    struct raft_entry *es = malloc((d->n + 1) * sizeof(*es));
    for (size_t k = 0; k < d->n; k++) es[k] = d->ents[k].e;
    rs.entries = es;
    rs.n_entries = d->n;
    rs.applied = d->snap.index;
    n->r = raft_new(&cfg, &rs);
    free(es);
    if (!n->r) {
        fail("node %llu: raft_new refused the persisted state", (unsigned long long)n->id);
        return;
    }
    n->sm_index = 0;
    n->sm_hash = 0;
    if (d->snap.index && sm_load(n, d->snap_data, d->snap_len, d->snap.index) != 0)
        fail("node %llu: persisted snapshot is corrupt", (unsigned long long)n->id);
    n->up = 1;
    n->busy = 0;
    n->inc++;
    n->missed_ticks = 0;
    n->seen_commit = raft_commit_index(n->r);
    n->n_waiting = 0;
    n->leader_term_checked = 0;
    schedule_tick(n);
}

static void inbox_drop(struct node *n)
{
    for (size_t i = 0; i < n->n_inbox; i++) free(n->inbox[i].buf);
    n->n_inbox = 0;
}

static void node_crash(struct node *n)
{
    trace("node %llu crashes%s", (unsigned long long)n->id, n->busy ? " (losing an unsynced ready)" : "");
    raft_free(n->r);
    n->r = NULL;
    inbox_drop(n);
    n->up = 0;
    n->busy = 0;
    n->inc++;
}

static void node_process(struct node *n);

static void deliver(struct node *n, uint8_t *buf, size_t len)
{
    struct raft_msg m;
    long rc = raft_msg_decode(buf, len, &m);
    if (rc != (long)len) fail("codec: a frame failed to decode (%ld)", rc);
    else {
        trace("  deliver %llu->%llu %s term=%llu", (unsigned long long)m.from,
              (unsigned long long)m.to, msg_name(m.type), (unsigned long long)m.term);
        raft_step(n->r, &m);
    }
    raft_msg_fini(&m);
    free(buf);
}


/* The disk write of the pending ready completed: persist, send, apply, advance. */
static void node_persisted(struct node *n)
{
    struct raft_ready *rd = &n->rd;
    struct disk *d = &n->disk;
    if (rd->snapshot) {
        struct node tmp = *n;
        if (sm_load(&tmp, rd->snapshot->data, rd->snapshot->len, rd->snapshot->meta.index) != 0) {
            fail("node %llu: received a corrupt snapshot", (unsigned long long)n->id);
            return;
        }
        ensure_committed(tmp.sm_index);
        if (committed_chain[tmp.sm_index] && committed_chain[tmp.sm_index] != tmp.sm_hash)
            fail("state machine safety: snapshot at %llu differs from what was applied",
                 (unsigned long long)tmp.sm_index);
        disk_set_snapshot(n, &rd->snapshot->meta, rd->snapshot->data, rd->snapshot->len, tmp.sm_hash);
        disk_truncate(d, 0);
        n->sm_index = tmp.sm_index;
        n->sm_hash = tmp.sm_hash;
        note_committed(rd->snapshot->meta.index, rd->snapshot->meta.term, "snapshot");
        trace("node %llu installs snapshot at %llu", (unsigned long long)n->id,
              (unsigned long long)n->sm_index);
    }
    if (rd->n_entries) {
        disk_truncate(d, rd->entries[0].index);
        for (size_t i = 0; i < rd->n_entries; i++) disk_append(n, &rd->entries[i]);
    }
    if (rd->has_hard_state) {
        if (rd->hard_state.term < d->hs.term ||
            (rd->hard_state.term == d->hs.term && d->hs.vote && rd->hard_state.vote != d->hs.vote))
            fail("node %llu: persisted vote changed within term %llu", (unsigned long long)n->id,
                 (unsigned long long)d->hs.term);
        if (rd->hard_state.commit < d->hs.commit)
            fail("node %llu: persisted commit went back", (unsigned long long)n->id);
        d->hs = rd->hard_state;
    }
    for (size_t i = 0; i < rd->n_msgs_after; i++) net_send(&rd->msgs_after[i]);
    for (size_t i = 0; i < rd->n_committed; i++) {
        if (rd->committed[i].index > raft_commit_index(n->r))
            fail("node %llu applies %llu beyond its commit index", (unsigned long long)n->id,
                 (unsigned long long)rd->committed[i].index);
        apply_entry(n, &rd->committed[i]);
    }
    for (size_t i = 0; i < rd->n_reads; i++) {
        uint64_t id = rd->reads[i].ctx;
        if (id < n_reads && n->n_waiting < 64) {
            n->waiting_read[n->n_waiting] = id;
            n->waiting_index[n->n_waiting] = rd->reads[i].index;
            n->n_waiting++;
        }
    }
    int want = rd->want_snapshot;
    n->busy = 0;
    raft_advance(n->r);
    serve_reads(n);
    if (want && n->sm_index > raft_snapshot_index(n->r) && chance(700)) {
        uint8_t *data;
        size_t len;
        sm_snapshot(n, &data, &len);
        uint64_t t;
        raft_log_term(n->r, n->sm_index, &t);
        if (raft_compact(n->r, n->sm_index, data, len) == 0) {
            struct raft_snapshot_meta meta = {.index = n->sm_index, .term = t};
            meta.conf = *raft_conf(n->r); /* compacted at applied: the core's view */
            /* the conf at sm_index: recompute from the persisted log */
            struct raft_conf c = n->disk.snap.conf;
            if (n->disk.snap.index == 0) c = base_cfg.bootstrap;
            for (size_t k = 0; k < d->n && d->ents[k].e.index <= n->sm_index; k++)
                if (d->ents[k].e.type == RAFT_ENTRY_CONF)
                    raft_conf_decode(d->ents[k].e.data, d->ents[k].e.len, &c);
            meta.conf = c;
            disk_set_snapshot(n, &meta, data, len, n->sm_hash);
            stat_snapshots++;
            trace("node %llu compacts to %llu", (unsigned long long)n->id, (unsigned long long)n->sm_index);
        }
        free(data);
    }
    while (n->missed_ticks > 0) {
        n->missed_ticks--;
        raft_tick(n->r);
    }
    for (size_t i = 0; i < n->n_inbox; i++) deliver(n, n->inbox[i].buf, n->inbox[i].len);
    n->n_inbox = 0;
    check_node(n);
    node_process(n);
}

static void node_process(struct node *n)
{
    if (!n->up || n->busy || failed) return;
    check_node(n);
    if (!raft_has_ready(n->r)) return;
    raft_ready(n->r, &n->rd);
    n->busy = 1;
    for (size_t i = 0; i < n->rd.n_msgs_now; i++) net_send(&n->rd.msgs_now[i]);
    uint64_t done = now + rn((uint64_t)disk_max + 1);
    ev_push((struct event){.time = done, .type = EV_PERSIST, .node = (int)n->id, .inc = n->inc});
    /* Power loss during the disk write: what is not synced is lost. */
    if (chaos && chance(crash_in_write_pm))
        ev_push((struct event){.time = now + rn(done - now + 1), .type = EV_CRASH, .node = (int)n->id,
                               .inc = n->inc});
}

/* ------------------------------------------------------------------ client and faults */

static struct node *find_leader(void)
{
    struct node *best = NULL;
    for (int i = 1; i <= N; i++) {
        struct node *n = &nodes[i];
        if (n->up && !n->busy && raft_role(n->r) == RAFT_LEADER &&
            (!best || raft_term(n->r) > raft_term(best->r)))
            best = n;
    }
    return best;
}

static struct node *any_leader(void)
{
    struct node *c[MAXN];
    int k = 0;
    for (int i = 1; i <= N; i++)
        if (nodes[i].up && raft_role(nodes[i].r) == RAFT_LEADER) c[k++] = &nodes[i];
    if (k > 1 && chance(500)) { /* several claim to lead: ask the stalest */
        struct node *old = c[0];
        for (int i = 1; i < k; i++)
            if (raft_term(c[i]->r) < raft_term(old->r)) old = c[i];
        return old;
    }
    return k ? c[rn((uint64_t)k)] : NULL;
}

static void client_op(void)
{
    struct node *n = any_leader(); /* may be a stale leader: that is the point */
    if (!n) return;
    if (n->busy) { /* the client waits for the node's disk write */
        ev_push((struct event){.time = now + 1 + (uint64_t)disk_max, .type = EV_CLIENT_ONCE});
        return;
    }
    int op = (int)rn(100);
    if (op < 60) {
        uint8_t buf[120];
        uint32_t len = 8 + (uint32_t)rn(100);
        for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)rnd();
        uint64_t index, term;
        if (raft_propose(n->r, buf, len, &index, &term) == 0) {
            if (n_props == cap_props) {
                cap_props = cap_props ? cap_props * 2 : 256;
                props = xrealloc(props, cap_props * sizeof(*props));
            }
            props[n_props++] = (struct proposal){index, term};
            trace("client proposes at node %llu -> index %llu term %llu", (unsigned long long)n->id,
                  (unsigned long long)index, (unsigned long long)term);
        }
    } else if (op < 90) {
        /* Some reads go to a follower, which asks the leader for the index. */
        if (chance(400)) {
            struct node *f = &nodes[1 + rn((uint64_t)N)];
            if (f->up && !f->busy && raft_role(f->r) == RAFT_FOLLOWER) n = f;
        }
        if (n_reads == cap_reads) {
            cap_reads = cap_reads ? cap_reads * 2 : 256;
            reads = xrealloc(reads, cap_reads * sizeof(*reads));
        }
        /* Every write that completed (committed anywhere) before the read starts. */
        reads[n_reads] = (struct read_op){n->id, n->inc, global_commit, 0};
        int rc = raft_read_index(n->r, n_reads);
        if (rc == 0) {
            trace("client reads at node %llu (read %zu, needs >= %llu)", (unsigned long long)n->id,
                  n_reads, (unsigned long long)global_commit);
            n_reads++;
        } else {
            trace("client read at node %llu refused: %s", (unsigned long long)n->id, raft_strerror(rc));
        }
    } else if (op < 96) {
        uint64_t id = 1 + rn((uint64_t)N);
        const struct raft_conf *c = raft_conf(n->r);
        enum raft_change ch = raft_conf_has_learner(c, id)   ? RAFT_CHANGE_PROMOTE
                              : raft_conf_has_voter(c, id) ? RAFT_CHANGE_REMOVE
                                                           : RAFT_CHANGE_ADD_LEARNER;
        int rc = raft_change_membership(n->r, ch, id);
        trace("client membership change %d of node %llu at %llu: %s", ch, (unsigned long long)id,
              (unsigned long long)n->id, raft_strerror(rc));
    } else {
        uint64_t to = 1 + rn((uint64_t)N);
        int rc = raft_transfer_leader(n->r, to);
        trace("client transfers leadership %llu -> %llu: %s", (unsigned long long)n->id,
              (unsigned long long)to, raft_strerror(rc));
    }
    node_process(n);
}

static void heal_network(void)
{
    memset(blocked, 0, sizeof(blocked));
}

static void fault_op(void)
{
    int op = (int)rn(100);
    if (op < 30) {
        /* crash: prefer a node with an unsynced ready in flight */
        struct node *victim = NULL;
        for (int i = 1; i <= N; i++)
            if (nodes[i].up && nodes[i].busy && chance(500)) victim = &nodes[i];
        struct node *l = find_leader();
        if (!victim && l && chance(leader_hunt_pm)) victim = l;
        if (!victim) victim = &nodes[1 + rn((uint64_t)N)];
        if (victim->up) {
            node_crash(victim);
            ev_push((struct event){.time = now + 1 + (chance(quick_restart_pm) ? rn(TICK) : rn(30 * TICK)),
                                   .type = EV_RESTART,
                                   .node = (int)victim->id, .inc = victim->inc});
        }
    } else if (op < 50) {
        heal_network();
        uint64_t side = rnd();
        struct node *l = find_leader();
        if (l && chance(leader_hunt_pm)) {
            /* isolate the leader with at most a minority */
            side = 0;
            for (int i = 1; i <= N; i++)
                if ((uint64_t)i == l->id || (chance(300) && i <= N / 2)) side |= 1ull << i;
        }
        for (int a = 1; a <= N; a++)
            for (int b = 1; b <= N; b++)
                blocked[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
        trace("partition %llx", (unsigned long long)(side & 0xff));
    } else if (op < 65) {
        int a = 1 + (int)rn((uint64_t)N), b = 1 + (int)rn((uint64_t)N);
        blocked[a][b] = 1;
        trace("asymmetric block %d -> %d", a, b);
    } else if (op < 90) {
        heal_network();
        trace("network heals");
    } else {
        loss_pm = (int)rn(300);
        dup_pm = (int)rn(100);
        delay_max = 1 + (int)rn(3 * TICK);
        trace("network loss %d/1000 dup %d/1000 delay <= %d", loss_pm, dup_pm, delay_max);
    }
}

/* ------------------------------------------------------------------ one run */

static void run_events(uint64_t until)
{
    while (heap_n && heap[0].time <= until && !failed) {
        struct event e = ev_pop();
        now = e.time;
        trace_hash = fnv(trace_hash, &e.type, sizeof(e.type));
        trace_hash = fnv(trace_hash, &e.node, sizeof(e.node));
        struct node *n = e.node ? &nodes[e.node] : NULL;
        switch (e.type) {
        case EV_TICK:
            if (!n->up || e.inc != n->inc) break;
            if (n->busy) n->missed_ticks++;
            else raft_tick(n->r);
            schedule_tick(n);
            node_process(n);
            break;
        case EV_DELIVER: {
            int from = (int)e.inc;
            if (!n->up || blocked[from][e.node]) {
                free(e.buf);
                break;
            }
            if (n->busy) { /* a node blocked on its disk reads its socket afterwards */
                if (n->n_inbox == n->cap_inbox) {
                    n->cap_inbox = n->cap_inbox ? 2 * n->cap_inbox : 16;
                    n->inbox = xrealloc(n->inbox, n->cap_inbox * sizeof(*n->inbox));
                }
                n->inbox[n->n_inbox++] = (struct frame){e.buf, e.len};
                break;
            }
            deliver(n, e.buf, e.len);
            node_process(n);
            break;
        }
        case EV_PERSIST:
            if (!n->up || e.inc != n->inc || !n->busy) break;
            node_persisted(n);
            break;
        case EV_CLIENT:
            if (chaos) {
                client_op();
                ev_push((struct event){.time = now + 1 + rn(2 * TICK), .type = EV_CLIENT});
            }
            break;
        case EV_CLIENT_ONCE:
            if (chaos) client_op();
            break;
        case EV_FAULT:
            if (chaos) {
                fault_op();
                ev_push((struct event){.time = now + 1 + rn((uint64_t)fault_gap), .type = EV_FAULT});
            }
            break;
        case EV_CRASH:
            if (!n->up || e.inc != n->inc) break;
            node_crash(n);
            ev_push((struct event){.time = now + 1 + (chance(quick_restart_pm) ? rn(TICK) : rn(30 * TICK)),
                                   .type = EV_RESTART, .node = (int)n->id, .inc = n->inc});
            break;
        case EV_RESTART:
            if (n->up || e.inc != n->inc) break;
            trace("node %llu restarts", (unsigned long long)n->id);
            node_start(n);
            break;
        }
    }
    if (!failed && now < until) now = until;
}

static int liveness_ok(const char **why)
{
    struct node *l = find_leader();
    if (!l) {
        *why = "no leader";
        return 0;
    }
    struct raft *r = l->r;
    uint64_t last = raft_last_index(r), lt = 0;
    raft_log_term(r, last, &lt);
    if (raft_commit_index(r) != last || lt != raft_term(r)) {
        *why = "leader has uncommitted entries";
        return 0;
    }
    for (size_t i = 0; i < n_props; i++) {
        uint64_t idx = props[i].index;
        int decided = (idx < committed_cap && committed_term[idx]) ||
                      (idx > last && props[i].term < lt);
        if (!decided) {
            *why = "a proposal is undecided";
            return 0;
        }
    }
    for (int i = 1; i <= N; i++) {
        struct node *n = &nodes[i];
        const struct raft_conf *c = raft_conf(r);
        if (!raft_conf_has_voter(c, n->id) && !raft_conf_has_learner(c, n->id)) continue;
        if (n->sm_index != raft_commit_index(r)) {
            *why = "a member has not applied everything";
            return 0;
        }
    }
    return 1;
}

static void reset_world(void)
{
    for (int i = 1; i <= MAXN; i++) {
        raft_free(nodes[i].r);
        disk_free(&nodes[i].disk);
        inbox_drop(&nodes[i]);
        free(nodes[i].inbox);
    }
    memset(nodes, 0, sizeof(nodes));
    while (heap_n) free(ev_pop().buf);
    free(committed_term);
    free(committed_in);
    free(committed_chain);
    free(leader_of_term);
    free(regtab);
    free(reads);
    free(props);
    committed_term = committed_in = committed_chain = leader_of_term = NULL;
    regtab = NULL;
    reads = NULL;
    props = NULL;
    committed_cap = leader_cap = reg_cap = reg_n = n_reads = cap_reads = n_props = cap_props = 0;
    global_commit = 0;
    failed = 0;
    fail_msg[0] = 0;
    heal_network();
}

/* Runs one seed; returns 0 when every check held. */
static int run_seed(uint64_t seed, uint64_t *hash_out)
{
    reset_world();
    cur_seed = seed;
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 12345;
    now = 0;
    ev_seq = 0;
    trace_hash = 0xcbf29ce484222325ULL;
    N = 1 + (int)(seed % MAXN);
    raft_config_default(&base_cfg);
    base_cfg.election_tick = ELECTION;
    base_cfg.heartbeat_tick = 1 + (int)rn(2);
    base_cfg.pre_vote = !chance(250);
    base_cfg.check_quorum = !chance(400);
    base_cfg.lease_read = base_cfg.check_quorum && chance(400);
    base_cfg.lease_margin = 3;
    base_cfg.max_inflight_msgs = 1 + (uint32_t)rn(8);
    base_cfg.max_inflight_bytes = chance(500) ? 0 : 200 + rn(2000);
    base_cfg.max_msg_bytes = 64 + rn(chance(500) ? 300 : 1000);
    base_cfg.max_uncommitted_bytes = chance(500) ? 0 : 500 + rn(3000);
    base_cfg.snapshot_threshold = 10 + rn(60);
    base_cfg.snapshot_chunk = 64 + (uint32_t)rn(600);
    int voters = N > 2 && chance(400) ? N - 1 - (int)rn(2) : N;
    memset(&base_cfg.bootstrap, 0, sizeof(base_cfg.bootstrap));
    for (int i = 1; i <= voters; i++) base_cfg.bootstrap.voters[base_cfg.bootstrap.n_voters++] = (uint64_t)i;
    loss_pm = (int)rn(150);
    dup_pm = (int)rn(50);
    delay_max = 1 + (int)rn(2 * TICK);
    disk_max = 1 + (int)rn(TICK / 2);
    crash_in_write_pm = (int)rn(30);
    quick_restart_pm = (int)rn(700);
    leader_hunt_pm = (int)rn(800);
    young_leader_crash_pm = (int)rn(600);
    fault_gap = (int)(chance(300) ? 3 * TICK + rn(12 * TICK) : 5 * TICK + rn(40 * TICK));
    /* Leases assume bounded drift: clocks within +-7%; otherwise +-30%. */
    int skew = base_cfg.lease_read ? 7 : 30;
    trace("seed %llu: %d nodes (%d voters), pre_vote %d check_quorum %d lease_read %d inflight %u",
          (unsigned long long)seed, N, voters, base_cfg.pre_vote, base_cfg.check_quorum,
          base_cfg.lease_read, base_cfg.max_inflight_msgs);
    for (int i = 1; i <= N; i++) {
        nodes[i].id = (uint64_t)i;
        nodes[i].period = (uint64_t)(TICK * (100 - skew) / 100) + rn((uint64_t)(2 * skew * TICK / 100 + 1));
        node_start(&nodes[i]);
    }
    chaos = 1;
    ev_push((struct event){.time = 1, .type = EV_CLIENT});
    ev_push((struct event){.time = 5 * TICK, .type = EV_FAULT});
    run_events(CHAOS_TIME);

    /* Heal: everyone up, no partitions, no loss; the cluster must recover. */
    chaos = 0;
    heal_network();
    trace("heal");
    for (int i = 1; i <= N; i++)
        if (!nodes[i].up && !failed) {
            trace("node %d restarts", i);
            node_start(&nodes[i]);
        }
    uint64_t heal_start = now, step = TICK;
    const char *why = "";
    int ok = 0;
    while (!failed && now - heal_start < (uint64_t)HEAL_BOUND_TICKS * TICK) {
        run_events(now + step);
        if (!heap_n) break;
        if (liveness_ok(&why)) {
            ok = 1;
            break;
        }
    }
    if (!failed && !ok)
        fail("liveness: not recovered %d ticks after healing (%s)", HEAL_BOUND_TICKS, why);
    for (int i = 1; i <= N && trace_on; i++) {
        struct node *n = &nodes[i];
        if (!n->up) continue;
        const struct raft_conf *c = raft_conf(n->r);
        char cs[200] = "";
        size_t o = 0;
        for (uint32_t k = 0; k < c->n_voters; k++) o += (size_t)snprintf(cs + o, sizeof(cs) - o, "v%llu ", (unsigned long long)c->voters[k]);
        for (uint32_t k = 0; k < c->n_learners; k++) o += (size_t)snprintf(cs + o, sizeof(cs) - o, "l%llu ", (unsigned long long)c->learners[k]);
        trace("node %d: role %d term %llu leader %llu last %llu commit %llu applied %llu snap %llu conf %s", i,
              raft_role(n->r), (unsigned long long)raft_term(n->r), (unsigned long long)raft_leader(n->r),
              (unsigned long long)raft_last_index(n->r), (unsigned long long)raft_commit_index(n->r),
              (unsigned long long)n->sm_index, (unsigned long long)raft_snapshot_index(n->r), cs);
    }
    recovery_ticks = (now - heal_start) / TICK;
    if (!failed) trace("recovered %llu ticks after healing", (unsigned long long)recovery_ticks);
    *hash_out = trace_hash;
    return failed;
}

/* ------------------------------------------------------------------ driver */

static const char *self_path;

static void usage(void)
{
    fprintf(stderr, "usage: sim [--seeds N] [--from S] [--jobs J] [-x] [-v] | --seed S [--trace]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t seeds = 100, from = 1;
    int jobs = 1, stop_first = 0, verbose = 0, one = 0;
    self_path = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--from") && i + 1 < argc) from = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            from = strtoull(argv[++i], NULL, 10);
            seeds = 1;
            one = 1;
        } else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trace")) trace_on = 1;
        else if (!strcmp(argv[i], "-x")) stop_first = 1;
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else usage();
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (one) {
        uint64_t h;
        int rc = run_seed(from, &h);
        printf("seed %llu: %d nodes, trace hash %016llx, %s%s\n", (unsigned long long)from, N,
               (unsigned long long)h, rc ? "FAILED: " : "ok", rc ? fail_msg : "");
        printf("commits %llu, reads %llu, elections %llu, snapshots %llu\n",
               (unsigned long long)stat_commits, (unsigned long long)stat_reads_ok,
               (unsigned long long)stat_elections, (unsigned long long)stat_snapshots);
        printf("%d passed, %d failed\n", !rc, rc);
        reset_world();
        return rc;
    }
    if (jobs < 1) jobs = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Each seed runs in its own child so an assertion in the core is a
     * reported failure of that seed, not the end of the suite. */
    int pipes[64][2];
    if (jobs > 64) jobs = 64;
    for (int j = 0; j < jobs; j++) {
        if (pipe(pipes[j]) != 0) return 2;
        pid_t pid = fork();
        if (pid == 0) {
            close(pipes[j][0]);
            uint64_t passed = 0, nfailed = 0, combined = 0, maxrec = 0;
            for (uint64_t s = from + (uint64_t)j; s < from + seeds; s += (uint64_t)jobs) {
                int fd[2];
                if (pipe(fd) != 0) _exit(2);
                pid_t c = fork();
                if (c == 0) {
                    close(fd[0]);
                    uint64_t h;
                    int rc = run_seed(s, &h);
                    char line[700];
                    int len = snprintf(line, sizeof(line), "%016llx %06llu %s", (unsigned long long)h,
                                       (unsigned long long)recovery_ticks, rc ? fail_msg : "");
                    if (write(fd[1], line, (size_t)len) < 0) _exit(3);
                    _exit(rc ? 1 : 0);
                }
                close(fd[1]);
                char line[700] = {0};
                size_t got = 0;
                ssize_t k;
                while (got < sizeof(line) - 1 && (k = read(fd[0], line + got, sizeof(line) - 1 - got)) > 0)
                    got += (size_t)k;
                close(fd[0]);
                int st;
                waitpid(c, &st, 0);
                int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
                uint64_t h = strtoull(line, NULL, 16);
                combined ^= h * (s | 1);
                uint64_t rec = got > 17 ? strtoull(line + 17, NULL, 10) : 0;
                if (ok && rec > maxrec) maxrec = rec;
                if (verbose) printf("seed %llu: trace hash %.16s %s\n", (unsigned long long)s, line, ok ? "ok" : "FAILED");
                if (ok) {
                    passed++;
                } else {
                    nfailed++;
                    printf("FAIL seed %llu (%llu nodes): %s\n", (unsigned long long)s,
                           (unsigned long long)(1 + s % MAXN),
                           WIFSIGNALED(st) ? "crashed (assertion or signal in the core)" : line + (got > 24 ? 24 : got));
                    printf("  replay: %s --seed %llu --trace\n", self_path, (unsigned long long)s);
                    if (stop_first) break;
                }
            }
            char out[128];
            int len = snprintf(out, sizeof(out), "%llu %llu %llu %llu\n", (unsigned long long)passed,
                               (unsigned long long)nfailed, (unsigned long long)combined,
                               (unsigned long long)maxrec);
            if (write(pipes[j][1], out, (size_t)len) < 0) _exit(3);
            _exit(0);
        }
        close(pipes[j][1]);
    }
    uint64_t passed = 0, nfailed = 0, combined = 0, maxrec = 0;
    for (int j = 0; j < jobs; j++) {
        char buf[128] = {0};
        ssize_t k = read(pipes[j][0], buf, sizeof(buf) - 1);
        close(pipes[j][0]);
        unsigned long long p = 0, f = 0, c = 0, m = 0;
        if (k <= 0 || sscanf(buf, "%llu %llu %llu %llu", &p, &f, &c, &m) != 4) f = 1;
        if (m > maxrec) maxrec = m;
        passed += p;
        nfailed += f;
        combined ^= c;
    }
    while (wait(NULL) > 0) {
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("sim: seeds %llu..%llu, cluster sizes 1..%d, %.1f s, combined trace hash %016llx\n",
           (unsigned long long)from, (unsigned long long)(from + seeds - 1), MAXN, secs,
           (unsigned long long)combined);
    printf("sim: slowest recovery after healing %llu ticks (bound %d, election timeout %d)\n",
           (unsigned long long)maxrec, HEAL_BOUND_TICKS, ELECTION);
    printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)nfailed);
    return nfailed ? 1 : 0;
}
