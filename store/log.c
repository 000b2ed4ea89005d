/* The Raft log in LMDB (see the "Raft log storage" section of store/store.h).
 *
 * Keys of "raftlog" are big-endian indexes (of a run's first entry) so that
 * LMDB's byte order is index order and appends can use MDB_APPEND. The
 * snapshot metadata in "meta" defines where the log starts; the last run
 * where it ends. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct store_log_txn {
    struct store_log *l;
    MDB_txn *txn;
    int failed;
};

struct store_log {
    MDB_env *env;
    MDB_dbi log, meta;
    struct store_log_txn wtxn;
    int in_txn;
    /* Non-NULL: the log lives in this store's environment (store_log_of).
     * Writes then go through store_txn_log and commit with the store. */
    struct store *store;
};

#define REC_HDR 13 /* term u64, type u8, crc u32 */

const char *store_log_strerror(int err)
{
    switch (err) {
    case STORE_LOG_OK: return "ok";
    case STORE_LOG_EIO: return "I/O or LMDB failure";
    case STORE_LOG_EFULL: return "map full";
    case STORE_LOG_ECORRUPT: return "corrupt raft log (checksum or gap)";
    case STORE_LOG_ERANGE: return "index outside the log";
    case STORE_LOG_EINVAL: return "invalid argument";
    }
    return "unknown store_log error";
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "store: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static int map_err(int rc)
{
    if (rc == 0) return 0;
    if (rc == MDB_MAP_FULL) return STORE_LOG_EFULL;
    return STORE_LOG_EIO;
}

static uint32_t rec_crc(uint64_t term, uint8_t type, const void *data, size_t len)
{
    uint8_t h[9];
    store_put_u64(h, term);
    h[8] = type;
    return raft_crc32c(raft_crc32c(0, h, 9), data, len);
}

/* ------------------------------------------------------------------ runs
 *
 * The log is kept as runs of consecutive entries, one LMDB record each, so
 * that a turn's entries cost one put rather than one per entry (a put costs
 * far more than encoding an entry):
 *   key    big-endian u64 index of the run's first entry
 *   value  u32 count | u32 offset[count] | the entries
 * Each entry is term u64 | type u8 | u32 CRC32C | data (REC_HDR + data), the
 * CRC over term, type and data; offset[i] is where entry i starts in the
 * value, and it ends where the next starts (the last at the value's end).
 * A run stays within RUN_MAX bytes, which keeps it inside a leaf page instead
 * of overflow pages, unless it is a single larger entry. After compaction
 * the first run may still hold entries at or below the snapshot index; they
 * are dead and never read. */

#define RUN_MAX 2000 /* under LMDB's largest in-page value with 4 KiB pages */

struct run {
    uint64_t first;
    uint32_t count;
    const uint8_t *v;
    size_t size;
};

static uint64_t run_last(const struct run *r)
{
    return r->first + r->count - 1;
}

/* Checks a run's key and header; the entries are checked as they are read. */
static int run_decode(const MDB_val *k, const MDB_val *v, struct run *r)
{
    if (k->mv_size != 8 || v->mv_size < 4) return STORE_LOG_ECORRUPT;
    r->first = store_get_be64(k->mv_data);
    r->v = v->mv_data;
    r->size = v->mv_size;
    r->count = store_get_u32(r->v);
    if (r->count == 0 || r->first == 0 || (r->size - 4) / 4 < r->count ||
        r->first + r->count < r->first)
        return STORE_LOG_ECORRUPT;
    return 0;
}

/* Where entry i of r starts and ends; 0 or STORE_LOG_ECORRUPT. */
static int run_span(const struct run *r, uint32_t i, size_t *start, size_t *end)
{
    *start = store_get_u32(r->v + 4 + 4 * (size_t)i);
    *end = i + 1 < r->count ? store_get_u32(r->v + 8 + 4 * (size_t)i) : r->size;
    if (*start < 4 + 4 * (size_t)r->count || *end > r->size || *start + REC_HDR > *end)
        return STORE_LOG_ECORRUPT;
    return 0;
}

/* Entry index of r (first <= index <= last), checked against its CRC;
 * e->data points into the run. */
static int run_entry(const struct run *r, uint64_t index, struct raft_entry *e)
{
    size_t start, end;
    if (run_span(r, (uint32_t)(index - r->first), &start, &end)) return STORE_LOG_ECORRUPT;
    const uint8_t *p = r->v + start;
    e->index = index;
    e->term = store_get_u64(p);
    e->type = p[8];
    e->len = (uint32_t)(end - start - REC_HDR);
    e->data = e->len ? (uint8_t *)p + REC_HDR : NULL;
    uint32_t crc = store_get_u32(p + 9);
    if (e->type > RAFT_ENTRY_CONF || rec_crc(e->term, e->type, e->data, e->len) != crc)
        return STORE_LOG_ECORRUPT;
    return 0;
}

/* Puts c on the run that holds index: 0 and *r, 1 when no run holds it, or
 * an error. */
static int run_seek(MDB_cursor *c, uint64_t index, struct run *r)
{
    uint8_t kb[8];
    store_put_be64(kb, index);
    MDB_val k = {8, kb}, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0) {
        if ((rc = run_decode(&k, &v, r))) return rc;
        if (r->first == index) return 0;
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV); /* the run before may hold it */
    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    if (rc == MDB_NOTFOUND) return 1;
    if (rc) return map_err(rc);
    if ((rc = run_decode(&k, &v, r))) return rc;
    return index <= run_last(r) ? 0 : 1;
}

/* Entry index, which the caller knows is in the log; e->data points into
 * the transaction's view. */
static int entry_at(MDB_txn *txn, struct store_log *l, uint64_t index, struct raft_entry *e)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, l->log, &c);
    if (rc) return map_err(rc);
    struct run r;
    rc = run_seek(c, index, &r);
    if (rc == 1) rc = STORE_LOG_ERANGE;
    else if (rc == 0) rc = run_entry(&r, index, e);
    mdb_cursor_close(c);
    return rc;
}

/* Writes ents[0..n) (consecutive) as runs of at most RUN_MAX bytes; c is a
 * cursor on the log, and every index is above the log's last key. crcs: the
 * entries' stored CRCs (migration), or NULL to compute them. Returns an LMDB
 * code. */
static int runs_append(MDB_cursor *c, const struct raft_entry *ents, const uint32_t *crcs,
                       size_t n)
{
    int rc = 0;
    for (size_t i = 0, j; i < n && !rc; i = j) {
        size_t bytes = 4 + 4 + REC_HDR + (size_t)ents[i].len;
        for (j = i + 1; j < n && bytes + 4 + REC_HDR + ents[j].len <= RUN_MAX; j++)
            bytes += 4 + REC_HDR + (size_t)ents[j].len;
        uint8_t kb[8];
        store_put_be64(kb, ents[i].index);
        MDB_val k = {8, kb}, v = {bytes, NULL};
        if ((rc = mdb_cursor_put(c, &k, &v, MDB_APPEND | MDB_RESERVE))) break;
        uint8_t *p = v.mv_data;
        store_put_u32(p, (uint32_t)(j - i));
        size_t off = 4 + 4 * (j - i);
        for (size_t x = i; x < j; x++) {
            const struct raft_entry *e = &ents[x];
            uint8_t *q = p + off;
            store_put_u32(p + 4 + 4 * (x - i), (uint32_t)off);
            store_put_u64(q, e->term);
            q[8] = e->type;
            store_put_u32(q + 9, crcs ? crcs[x] : rec_crc(e->term, e->type, e->data, e->len));
            if (e->len) memcpy(q + REC_HDR, e->data, e->len);
            off += REC_HDR + e->len;
        }
    }
    return rc;
}

/* Logs written before runs kept one record per entry in "log", keyed as
 * runs are and holding the bytes of one entry of a run. They move into runs
 * in the transaction that opens the log, CRCs as stored (a damaged record
 * stays one, for load to report), and "log" goes. A gap stays a gap. */
static int runs_migrate(MDB_txn *txn, MDB_dbi to)
{
    MDB_dbi from;
    int rc = mdb_dbi_open(txn, "log", 0, &from);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    MDB_cursor *c, *w;
    if ((rc = mdb_cursor_open(txn, from, &c))) return rc;
    if ((rc = mdb_cursor_open(txn, to, &w))) {
        mdb_cursor_close(c);
        return rc;
    }
    struct raft_entry *ents = NULL;
    uint32_t *crcs = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size < REC_HDR) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t idx = store_get_be64(k.mv_data);
        if (n && (idx != ents[0].index + n || bytes + 4 + v.mv_size > RUN_MAX)) {
            if ((rc = runs_append(w, ents, crcs, n))) break;
            n = 0;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            ents = realloc(ents, cap * sizeof(*ents));
            crcs = realloc(crcs, cap * sizeof(*crcs));
            if (!ents || !crcs) abort();
        }
        if (n == 0) bytes = 4;
        bytes += 4 + v.mv_size;
        const uint8_t *p = v.mv_data;
        ents[n] = (struct raft_entry){.index = idx, .term = store_get_u64(p), .type = p[8],
                                      .len = (uint32_t)(v.mv_size - REC_HDR),
                                      .data = (uint8_t *)p + REC_HDR};
        crcs[n++] = store_get_u32(p + 9);
    }
    if (rc == MDB_NOTFOUND) rc = n ? runs_append(w, ents, crcs, n) : 0;
    free(ents);
    free(crcs);
    mdb_cursor_close(w);
    mdb_cursor_close(c);
    return rc ? rc : mdb_drop(txn, from, 1);
}

int store_log_open_db(MDB_txn *txn, MDB_dbi *log)
{
    int rc = mdb_dbi_open(txn, "raftlog", MDB_CREATE, log);
    return rc ? rc : runs_migrate(txn, *log);
}

/* ------------------------------------------------------------------ meta */

static const char KEY_HS[] = "raft.hs", KEY_SNAP[] = "raft.snap";

/* Standalone, the log keeps its own "applied"; on the store's environment
 * the store's "applied_index" (same u64 LE layout) is the one truth. */
static const char *key_applied(const struct store_log *l)
{
    return l->store ? "applied_index" : "applied";
}

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    int rc = mdb_get(txn, dbi, &k, v);
    if (rc == MDB_NOTFOUND) return 1;
    return map_err(rc);
}

static int meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *p, size_t n)
{
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)p};
    return map_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* Snapshot metadata; zero when there is none. */
static int snap_read(MDB_txn *txn, MDB_dbi dbi, struct raft_snapshot_meta *m)
{
    memset(m, 0, sizeof(*m));
    MDB_val v;
    int rc = meta_get(txn, dbi, KEY_SNAP, &v);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (v.mv_size < 16) return STORE_LOG_ECORRUPT;
    m->index = store_get_u64(v.mv_data);
    m->term = store_get_u64((uint8_t *)v.mv_data + 8);
    if (raft_conf_decode((uint8_t *)v.mv_data + 16, v.mv_size - 16, &m->conf) != 0)
        return STORE_LOG_ECORRUPT;
    return 0;
}

static int snap_write(MDB_txn *txn, MDB_dbi dbi, const struct raft_snapshot_meta *m)
{
    uint8_t *conf;
    uint32_t clen;
    raft_conf_encode(&m->conf, &conf, &clen);
    uint8_t *buf = xmalloc(16 + clen);
    store_put_u64(buf, m->index);
    store_put_u64(buf + 8, m->term);
    memcpy(buf + 16, conf, clen);
    int rc = meta_put(txn, dbi, KEY_SNAP, buf, 16 + clen);
    free(buf);
    free(conf);
    return rc;
}

/* Last index in the log, or the snapshot index when it is empty. */
static int last_index(MDB_txn *txn, struct store_log *l, uint64_t *out)
{
    struct raft_snapshot_meta m;
    int rc = snap_read(txn, l->meta, &m);
    if (rc) return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, l->log, &c))) return map_err(rc);
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        *out = m.index;
        return 0;
    }
    if (rc) return map_err(rc);
    struct run r;
    if ((rc = run_decode(&k, &v, &r))) return rc;
    *out = run_last(&r);
    return 0;
}

/* ------------------------------------------------------------------ open */

int store_log_open(struct store_log **out, const char *dir, size_t map_size, unsigned flags,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct store_log *l = calloc(1, sizeof(*l));
    if (!l) abort();
    int rc = mdb_env_create(&l->env);
    if (!rc) rc = mdb_env_set_maxdbs(l->env, 8);
    if (!rc) rc = mdb_env_set_mapsize(l->env, map_size);
    if (!rc)
        rc = mdb_env_open(l->env, dir, MDB_NOTLS | (flags & STORE_LOG_NOSYNC ? MDB_NOSYNC : 0), 0644);
    MDB_txn *txn = NULL;
    if (!rc) rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (!rc) rc = store_log_open_db(txn, &l->log);
    if (!rc) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->meta);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        snprintf(err, errlen, "raft log in %s: %s", dir, mdb_strerror(rc));
        if (txn) mdb_txn_abort(txn);
        mdb_env_close(l->env);
        free(l);
        return map_err(rc);
    }
    *out = l;
    return 0;
}

void store_log_close(struct store_log *l)
{
    if (!l || l->store) return; /* store_log_of's log belongs to the store */
    if (l->in_txn) store_log_txn_abort(&l->wtxn);
    mdb_env_close(l->env);
    free(l);
}

/* ------------------------------------------------------------------ write */

int store_log_txn_begin(struct store_log *l, struct store_log_txn **out)
{
    if (l->in_txn || l->store) return STORE_LOG_EINVAL;
    struct store_log_txn *t = &l->wtxn;
    memset(t, 0, sizeof(*t));
    t->l = l;
    int rc = mdb_txn_begin(l->env, NULL, 0, &t->txn);
    if (rc) return map_err(rc);
    l->in_txn = 1;
    *out = t;
    return 0;
}

static int txn_fail(struct store_log_txn *t, int rc)
{
    if (rc) t->failed = 1;
    return rc;
}

/* Deletes the cursor's record and reads the one that followed into k, v:
 * 0, MDB_NOTFOUND after the last record, or an LMDB error. */
static int delete_step(MDB_cursor *c, MDB_val *k, MDB_val *v)
{
    int rc = mdb_cursor_del(c, 0);
    if (rc) return rc;
    /* After a delete the cursor is on the record that followed (the next
     * page's first after a page's last): MDB_GET_CURRENT reads it without a
     * descent from the root per record. */
    rc = mdb_cursor_get(c, k, v, MDB_GET_CURRENT);
    return rc == EINVAL ? MDB_NOTFOUND : rc; /* EINVAL: deleted the last record */
}

/* Deletes the cursor's record and every one after it. */
static int delete_rest(MDB_cursor *c, int rc)
{
    MDB_val k, v;
    while (rc == 0) rc = delete_step(c, &k, &v);
    return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

/* Deletes entries from index from on: later runs go, and the run holding
 * from keeps its entries before it. */
static int delete_from(struct store_log_txn *t, uint64_t from)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->l->log, &c);
    if (rc) return map_err(rc);
    struct run r;
    rc = run_seek(c, from, &r);
    if (rc == 0 && r.first < from) {
        uint32_t keep = (uint32_t)(from - r.first);
        size_t start, end, cut = 4 * (size_t)(r.count - keep); /* offsets dropped */
        if ((rc = run_span(&r, keep, &start, &end)) == 0) {
            size_t len = start - cut;
            uint8_t *b = xmalloc(len), kb[8];
            store_put_u32(b, keep);
            for (uint32_t i = 0; i < keep; i++) {
                uint32_t off = store_get_u32(r.v + 4 + 4 * (size_t)i);
                store_put_u32(b + 4 + 4 * (size_t)i, off - (uint32_t)cut);
            }
            memcpy(b + 4 + 4 * (size_t)keep, r.v + 4 + 4 * (size_t)r.count,
                   start - 4 - 4 * (size_t)r.count);
            store_put_be64(kb, r.first);
            MDB_val k = {8, kb}, v = {len, b};
            rc = map_err(mdb_cursor_put(c, &k, &v, MDB_CURRENT));
            free(b);
        }
    }
    if (rc == 0 || rc == 1) {
        uint8_t kb[8];
        store_put_be64(kb, from);
        MDB_val k = {8, kb}, v;
        rc = delete_rest(c, mdb_cursor_get(c, &k, &v, MDB_SET_RANGE));
    }
    mdb_cursor_close(c);
    return rc;
}

/* Deletes the runs whose entries are all at or below index to. */
static int delete_through(struct store_log_txn *t, uint64_t to)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->l->log, &c);
    if (rc) return map_err(rc);
    MDB_val k, v;
    struct run r;
    int bad = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;) {
        if ((bad = run_decode(&k, &v, &r)) || run_last(&r) > to) break;
        rc = delete_step(c, &k, &v);
    }
    mdb_cursor_close(c);
    if (bad) return bad;
    return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

int store_log_txn_truncate(struct store_log_txn *t, uint64_t from)
{
    if (t->failed) return STORE_LOG_EIO;
    struct raft_snapshot_meta m;
    int rc = snap_read(t->txn, t->l->meta, &m);
    if (rc) return txn_fail(t, rc);
    if (from <= m.index) return STORE_LOG_ERANGE;
    return txn_fail(t, delete_from(t, from));
}

int store_log_txn_append(struct store_log_txn *t, const struct raft_entry *ents, size_t n)
{
    if (t->failed) return STORE_LOG_EIO;
    if (n == 0) return 0;
    for (size_t i = 1; i < n; i++)
        if (ents[i].index != ents[0].index + i) return STORE_LOG_EINVAL;
    struct raft_snapshot_meta m;
    uint64_t last;
    int rc = snap_read(t->txn, t->l->meta, &m);
    if (!rc) rc = last_index(t->txn, t->l, &last);
    if (rc) return txn_fail(t, rc);
    if (ents[0].index <= m.index || ents[0].index > last + 1) return STORE_LOG_EINVAL;
    if (ents[0].index <= last && (rc = delete_from(t, ents[0].index))) return txn_fail(t, rc);
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(t->txn, t->l->log, &c))) return txn_fail(t, map_err(rc));
    rc = runs_append(c, ents, NULL, n);
    mdb_cursor_close(c);
    return txn_fail(t, map_err(rc));
}

int store_log_txn_compact(struct store_log_txn *t, const struct raft_snapshot_meta *meta)
{
    if (t->failed) return STORE_LOG_EIO;
    struct raft_snapshot_meta old;
    uint64_t last;
    int rc = snap_read(t->txn, t->l->meta, &old);
    if (!rc) rc = last_index(t->txn, t->l, &last);
    if (rc) return txn_fail(t, rc);
    if (meta->index < old.index || meta->index > last) return STORE_LOG_ERANGE;
    if ((rc = delete_through(t, meta->index))) return txn_fail(t, rc);
    return txn_fail(t, snap_write(t->txn, t->l->meta, meta));
}

int store_log_txn_install(struct store_log_txn *t, const struct raft_snapshot_meta *meta)
{
    if (t->failed) return STORE_LOG_EIO;
    int rc = map_err(mdb_drop(t->txn, t->l->log, 0));
    if (!rc) rc = snap_write(t->txn, t->l->meta, meta);
    return txn_fail(t, rc);
}

int store_log_txn_set_hard_state(struct store_log_txn *t, const struct raft_hard_state *hs)
{
    if (t->failed) return STORE_LOG_EIO;
    uint8_t b[24];
    store_put_u64(b, hs->term);
    store_put_u64(b + 8, hs->vote);
    store_put_u64(b + 16, hs->commit);
    return txn_fail(t, meta_put(t->txn, t->l->meta, KEY_HS, b, sizeof(b)));
}

int store_log_txn_set_applied(struct store_log_txn *t, uint64_t applied)
{
    if (t->failed) return STORE_LOG_EIO;
    uint8_t b[8];
    store_put_u64(b, applied);
    return txn_fail(t, meta_put(t->txn, t->l->meta, key_applied(t->l), b, sizeof(b)));
}

int store_log_txn_commit(struct store_log_txn *t)
{
    struct store_log *l = t->l;
    if (l->store) return STORE_LOG_EINVAL; /* store_txn_commit commits it */
    if (t->failed) {
        store_log_txn_abort(t);
        return STORE_LOG_EIO;
    }
    int rc = mdb_txn_commit(t->txn);
    l->in_txn = 0;
    return map_err(rc);
}

void store_log_txn_abort(struct store_log_txn *t)
{
    if (t->l->store) {
        t->failed = 1; /* store_txn_commit will refuse; the owner aborts */
        return;
    }
    mdb_txn_abort(t->txn);
    t->l->in_txn = 0;
}

int store_log_txn_save_ready(struct store_log_txn *t, const struct raft_ready *rd)
{
    int rc = 0;
    if (rd->snapshot) rc = store_log_txn_install(t, &rd->snapshot->meta);
    if (!rc && rd->n_entries) rc = store_log_txn_append(t, rd->entries, rd->n_entries);
    if (!rc && rd->has_hard_state) rc = store_log_txn_set_hard_state(t, &rd->hard_state);
    return rc;
}

int store_log_save_ready(struct store_log *l, const struct raft_ready *rd)
{
    if (!rd->snapshot && !rd->n_entries && !rd->has_hard_state) return 0;
    struct store_log_txn *t;
    int rc = store_log_txn_begin(l, &t);
    if (rc) return rc;
    if ((rc = store_log_txn_save_ready(t, rd))) {
        store_log_txn_abort(t);
        return rc;
    }
    return store_log_txn_commit(t);
}

/* ------------------------------------------------------------------ read */

/* A store's log is read where the store's reads are: in what the journal
 * has acknowledged (store_view_begin). */
static int read_begin(struct store_log *l, MDB_txn **txn)
{
    if (l->store) return (*txn = store_view_begin(l->store)) ? 0 : STORE_LOG_EIO;
    return map_err(mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn));
}

static void read_end(struct store_log *l, MDB_txn *txn)
{
    if (l->store)
        store_view_end(l->store, txn);
    else
        mdb_txn_abort(txn);
}

uint64_t store_log_snapshot_index(struct store_log *l)
{
    MDB_txn *txn;
    struct raft_snapshot_meta m = {0};
    if (read_begin(l, &txn)) return 0;
    snap_read(txn, l->meta, &m);
    read_end(l, txn);
    return m.index;
}

uint64_t store_log_last_index(struct store_log *l)
{
    MDB_txn *txn;
    uint64_t last = 0;
    if (read_begin(l, &txn)) return 0;
    last_index(txn, l, &last);
    read_end(l, txn);
    return last;
}

int store_log_term(struct store_log *l, uint64_t index, uint64_t *term)
{
    MDB_txn *txn;
    int rc = read_begin(l, &txn);
    if (rc) return rc;
    struct raft_snapshot_meta m;
    if ((rc = snap_read(txn, l->meta, &m))) goto out;
    if (index == m.index) {
        *term = m.term;
        goto out;
    }
    struct raft_entry e;
    if (index < m.index) rc = STORE_LOG_ERANGE; /* a run may still hold it: dead */
    else if (!(rc = entry_at(txn, l, index, &e))) *term = e.term;
out:
    read_end(l, txn);
    return rc;
}

void store_log_entries_free(struct raft_entry *ents, size_t n)
{
    for (size_t i = 0; i < n && ents; i++) free(ents[i].data);
    free(ents);
}

/* Entries [lo, hi], checking every entry and that none is missing. */
static int read_range(MDB_txn *txn, struct store_log *l, uint64_t lo, uint64_t hi,
                      struct raft_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (hi < lo) return 0;
    struct raft_entry *ents = NULL;
    size_t cap = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, l->log, &c);
    if (rc) return map_err(rc);
    struct run r;
    uint64_t want = lo;
    rc = run_seek(c, lo, &r);
    while (rc == 0) {
        for (; want <= hi && want <= run_last(&r); want++) {
            struct raft_entry e;
            if ((rc = run_entry(&r, want, &e))) break;
            uint8_t *d = NULL;
            if (e.len) {
                d = xmalloc(e.len);
                memcpy(d, e.data, e.len);
            }
            e.data = d;
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                ents = realloc(ents, cap * sizeof(*ents));
                if (!ents) abort();
            }
            ents[(*n)++] = e;
        }
        if (rc || want > hi) break;
        MDB_val k, v;
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))) {
            rc = rc == MDB_NOTFOUND ? 1 : map_err(rc);
            break;
        }
        if (!(rc = run_decode(&k, &v, &r)) && r.first != want)
            rc = STORE_LOG_ECORRUPT; /* runs with a gap or overlapping */
    }
    mdb_cursor_close(c);
    if (rc == 1 || (!rc && want != hi + 1)) rc = STORE_LOG_ECORRUPT; /* entries missing */
    if (rc) {
        store_log_entries_free(ents, *n);
        *n = 0;
        return rc;
    }
    *out = ents;
    return 0;
}

int store_log_entries(struct store_log *l, uint64_t lo, uint64_t hi, struct raft_entry **out,
                      size_t *n)
{
    MDB_txn *txn;
    int rc = read_begin(l, &txn);
    if (rc) return rc;
    struct raft_snapshot_meta m;
    uint64_t last;
    if (!(rc = snap_read(txn, l->meta, &m)) && !(rc = last_index(txn, l, &last))) {
        if (lo <= m.index || hi > last) rc = STORE_LOG_ERANGE;
        else rc = read_range(txn, l, lo, hi, out, n);
    }
    read_end(l, txn);
    return rc;
}

int store_log_load(struct store_log *l, struct raft_restore *rs)
{
    memset(rs, 0, sizeof(*rs));
    MDB_txn *txn;
    int rc = read_begin(l, &txn);
    if (rc) return rc;
    uint64_t last;
    MDB_val v;
    if ((rc = snap_read(txn, l->meta, &rs->snapshot.meta))) goto out;
    if ((rc = last_index(txn, l, &last))) goto out;
    rc = meta_get(txn, l->meta, KEY_HS, &v);
    if (rc == 0) {
        if (v.mv_size != 24) {
            rc = STORE_LOG_ECORRUPT;
            goto out;
        }
        rs->hard_state.term = store_get_u64(v.mv_data);
        rs->hard_state.vote = store_get_u64((uint8_t *)v.mv_data + 8);
        rs->hard_state.commit = store_get_u64((uint8_t *)v.mv_data + 16);
    } else if (rc != 1) {
        goto out;
    }
    rc = meta_get(txn, l->meta, key_applied(l), &v);
    if (rc == 0 && v.mv_size == 8) rs->applied = store_get_u64(v.mv_data);
    else if (rc != 1 && rc != 0) goto out;
    struct raft_entry *ents;
    size_t n;
    if ((rc = read_range(txn, l, rs->snapshot.meta.index + 1, last, &ents, &n))) goto out;
    /* Compaction leaves no run that ends at or below the snapshot. */
    MDB_cursor *c;
    if (!(rc = mdb_cursor_open(txn, l->log, &c))) {
        MDB_val k;
        struct run r;
        int r2 = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (r2 == 0 && (run_decode(&k, &v, &r) || run_last(&r) <= rs->snapshot.meta.index))
            rc = STORE_LOG_ECORRUPT;
        mdb_cursor_close(c);
    } else {
        rc = map_err(rc);
    }
    if (rc) {
        store_log_entries_free(ents, n);
        goto out;
    }
    for (size_t i = 1; i < n; i++)
        if (ents[i].term < ents[i - 1].term) rc = STORE_LOG_ECORRUPT;
    if (rc) {
        store_log_entries_free(ents, n);
        goto out;
    }
    rs->entries = ents;
    rs->n_entries = n;
out:
    read_end(l, txn);
    if (rc == 1) rc = 0;
    return rc;
}

void store_log_restore_fini(struct raft_restore *rs)
{
    store_log_entries_free((struct raft_entry *)rs->entries, rs->n_entries);
    memset(rs, 0, sizeof(*rs));
}

/* ------------------------------------------------------------------ on the store's environment
 *
 * The store opens "log" and "meta" in its environment; here the same struct
 * store_log points at them, so every log write lands in the store's write
 * transaction and commits (one commit, one sync) with the apply and
 * applied_index. */

static int log_to_store_err(int rc)
{
    switch (rc) {
    case 0: return 0;
    case STORE_LOG_EFULL: return STORE_EFULL;
    case STORE_LOG_ECORRUPT: return STORE_ECORRUPT;
    case STORE_LOG_EINVAL:
    case STORE_LOG_ERANGE: return STORE_EINVAL;
    }
    return STORE_EIO;
}

int store_log_attach(struct store *s, char *err, size_t errlen)
{
    struct store_log *l = calloc(1, sizeof(*l));
    if (!l) abort();
    l->env = s->env;
    l->log = s->log;
    l->meta = s->meta;
    l->store = s;
    l->wtxn.l = l;
    MDB_txn *txn;
    uint64_t last = 0;
    struct raft_snapshot_meta m;
    int rc = read_begin(l, &txn);
    if (!rc) {
        rc = last_index(txn, l, &last);
        if (!rc) rc = snap_read(txn, l->meta, &m);
        read_end(l, txn);
    }
    if (rc) {
        snprintf(err, errlen, "raft log: %s", store_log_strerror(rc));
        free(l);
        return log_to_store_err(rc);
    }
    /* Entries are appended in the transaction that applies them, so the log
     * never ends above applied_index; if it does, something else wrote this
     * store, and applying them here would guess at their meaning. */
    if (last > s->applied) {
        snprintf(err, errlen,
                 "raft log ends at %llu, above applied_index %llu: log and apply are "
                 "committed together, so this store was not written by ferry's store",
                 (unsigned long long)last, (unsigned long long)s->applied);
        free(l);
        return STORE_ECORRUPT;
    }
    s->rlog = l;
    return 0;
}

void store_log_detach(struct store *s)
{
    free(s->rlog);
    s->rlog = NULL;
}

void store_log_txn_reset(struct store *s)
{
    s->rlog->wtxn.failed = 0;
    s->rlog->wtxn.txn = NULL;
}

void store_log_txn_lost(struct store *s)
{
    /* The store restarted its LMDB transaction after MAP_FULL and replays
     * only applies: log writes made before are gone, so the txn must not
     * commit as if they were there. */
    if (s->rlog->wtxn.txn) s->rlog->wtxn.failed = 1;
}

void store_log_txn_mark_failed(struct store *s)
{
    s->rlog->wtxn.failed = 1;
}

int store_log_txn_failed(struct store *s)
{
    return s->rlog->wtxn.failed;
}

struct store_log *store_log_of(struct store *s)
{
    return s->rlog;
}

struct store_log_txn *store_txn_log(struct store_txn *t)
{
    struct store_log_txn *lt = &t->s->rlog->wtxn;
    if (t->dead) lt->failed = 1;
    lt->txn = t->txn;
    return lt;
}

int store_txn_log_applied(struct store_txn *t, uint64_t keep)
{
    struct store *s = t->s;
    if (t->dead) return STORE_EIO;
    t->log_keep = keep;
    uint64_t n = t->applied - s->applied;
    if (n == 0) return 0;
    struct store_log_txn *lt = store_txn_log(t);
    struct store_log *l = lt->l;
    if (lt->failed) return STORE_EIO;
    struct raft_entry *ents = xmalloc(sizeof(*ents) * n);
    struct raft_hard_state hs = {1, 0, 0};
    struct raft_snapshot_meta m;
    uint64_t last = 0, i = 0;
    MDB_val v;
    int rc = meta_get(t->txn, l->meta, KEY_HS, &v);
    if (rc == 0) {
        if (v.mv_size != 24) {
            rc = STORE_LOG_ECORRUPT;
            goto out;
        }
        hs.term = store_get_u64(v.mv_data);
        hs.vote = store_get_u64((uint8_t *)v.mv_data + 8);
    } else if (rc != 1) {
        goto out;
    }
    if (hs.term == 0) hs.term = 1;
    if ((rc = last_index(t->txn, l, &last))) goto out;
    if (last > s->applied) {
        rc = STORE_LOG_ECORRUPT; /* checked at open; commits keep them equal */
        goto out;
    }
    if (last < s->applied) {
        /* A store written before its log was kept here: what it applied
         * becomes the snapshot the log starts after. */
        memset(&m, 0, sizeof(m));
        m.index = s->applied;
        m.term = hs.term;
        if ((rc = store_log_txn_install(lt, &m))) goto out;
    }
    for (size_t off = 0; off + 8 <= t->done.len && i < n; i++) {
        const uint8_t *p = (const uint8_t *)t->done.data + off;
        uint64_t len = store_get_u64(p);
        ents[i].index = s->applied + 1 + i;
        ents[i].term = hs.term;
        ents[i].type = RAFT_ENTRY_NORMAL;
        ents[i].len = (uint32_t)len;
        ents[i].data = (uint8_t *)p + 8;
        off += 8 + len;
    }
    if (i != n) {
        rc = STORE_LOG_EINVAL; /* applied entries that the txn did not record */
        goto out;
    }
    if ((rc = store_log_txn_append(lt, ents, n))) goto out;
    hs.commit = t->applied;
    if ((rc = store_log_txn_set_hard_state(lt, &hs))) goto out;
    if ((rc = snap_read(t->txn, l->meta, &m))) goto out;
    if (keep && t->applied - m.index > 2 * keep) {
        uint64_t idx = t->applied - keep;
        struct raft_entry e;
        if ((rc = entry_at(t->txn, l, idx, &e))) goto out;
        memset(&m, 0, sizeof(m));
        m.index = idx;
        m.term = e.term;
        rc = store_log_txn_compact(lt, &m);
    }
out:
    free(ents);
    if (rc == 1) rc = STORE_LOG_ECORRUPT;
    if (rc) {
        lt->failed = 1;
        t->dead = 1; /* after an LMDB error the transaction may be unusable */
    }
    return log_to_store_err(rc);
}
