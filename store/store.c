/* The environment, transactions, entries and the apply loop. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_VERSION 1
enum entry_kind {
    ENTRY_CMD = 1,    /* one command */
    ENTRY_EXEC = 2,   /* MULTI/EXEC: watches + commands */
    ENTRY_EXPIRE = 3, /* active expiry: keys to delete if still expired */
    ENTRY_FLOAT = 4,  /* (H)INCRBYFLOAT: version(8) result(u32 len + bytes) + argv */
};
#define ENTRY_HDR 18 /* version(1) kind(1) ts(8) seed(8) */

static const char META_APPLIED[] = "applied_index";
static const char META_VERSION[] = "version";
static const char META_TS[] = "last_ts";
const char STORE_META_EPOCH[] = "journal_epoch";

static int store_checkpoint_in(struct store *s);

/* Ends jtxn without committing it (the journal holds what it had). */
static void store_jtxn_drop(struct store *s)
{
    if (s->jtxn)
        mdb_txn_abort(s->jtxn);
    s->jtxn = NULL;
}

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK:
        return "ok";
    case STORE_EFULL:
        return "the store is full (raise store-size and restart)";
    case STORE_EIO:
        return "store I/O error";
    case STORE_EINVAL:
        return "invalid argument or malformed entry";
    case STORE_ECORRUPT:
        return "store data is corrupt or from an unknown version";
    case STORE_ETOOBIG:
        return "key or member too long for the store";
    case STORE_EBUSY:
        return "the store is in use by another process";
    case STORE_EDISK:
        return "the file system refused the write";
    case STORE_EFATAL:
        return "a failed write left the store unusable until it is opened again";
    case STORE_EWRITE:
        return "the read must run as a write";
    }
    return "unknown store error";
}

static int store_map_err(int rc)
{
    if (rc == MDB_MAP_FULL)
        return STORE_EFULL;
    if (rc == MDB_BAD_VALSIZE)
        return STORE_ETOOBIG;
    if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
        return STORE_ECORRUPT;
    if (rc == MDB_PANIC)
        return STORE_EFATAL;
    return STORE_EIO;
}

static uint64_t store_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, dbi, &k, &v) != 0 || v.mv_size != 8)
        return 0;
    return store_get_u64(v.mv_data);
}

static int store_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
    unsigned char b[8];
    store_put_u64(b, val);
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    return mdb_put(txn, dbi, &k, &v, 0);
}

void store_load_meta(struct store *s, MDB_txn *txn)
{
    s->applied = store_meta_u64(txn, s->meta, META_APPLIED);
    s->version = store_meta_u64(txn, s->meta, META_VERSION);
    s->last_ts = store_meta_u64(txn, s->meta, META_TS);
    s->jepoch = store_meta_u64(txn, s->meta, STORE_META_EPOCH);
    if (s->prep_ts < s->last_ts)
        s->prep_ts = s->last_ts;
}

MDB_txn *store_view_begin(struct store *s)
{
    MDB_txn *txn;
    /* During a turn, jtxn holds writes nobody has been answered for, and
     * LMDB's files only the last checkpoint: neither is the read's state. */
    STORE_ASSERT(!(s->jtxn && s->in_txn));
    if (s->jtxn)
        return s->jtxn;
    return mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0 ? txn : NULL;
}

void store_view_end(struct store *s, MDB_txn *txn)
{
    if (txn && txn != s->jtxn)
        mdb_txn_abort(txn);
}

/* Stores written before keys were placed by store_key_slot kept them, under
 * a whole-key hash, in "keys", "members" and "expires". Their records move to
 * the slot-placed databases, in the transaction that opens the store (so a
 * crash leaves either the old layout or the new one). The prefix offset is
 * where the 4-byte placement sits in each database's keys, and the key
 * itself follows it (after its 4-byte length, for members). */
static int store_migrate_one(MDB_txn *txn, const char *name, MDB_dbi to, size_t at, int members)
{
    MDB_dbi from;
    int rc = mdb_dbi_open(txn, name, 0, &from);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, from, &cur)) != 0)
        return rc;
    MDB_val k, v;
    unsigned char kb[STORE_MAX_DBKEY + 16];
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *p = k.mv_data;
        size_t keyat = at + 4 + (members ? 4 : 0);
        if (k.mv_size < keyat || k.mv_size > sizeof(kb)) {
            rc = MDB_CORRUPTED;
            break;
        }
        size_t klen = members ? store_get_be32(p + at + 4) : k.mv_size - keyat;
        if (keyat + klen > k.mv_size) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(kb, p, k.mv_size);
        store_put_be32(kb + at, store_key_slot(p + keyat, klen));
        MDB_val nk = {k.mv_size, kb};
        if ((rc = mdb_put(txn, to, &nk, &v, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return rc;
    return mdb_drop(txn, from, 1);
}

static int store_migrate_hashed(MDB_txn *txn, struct store *s)
{
    int rc = store_migrate_one(txn, "keys", s->keys, 0, 0);
    if (rc == 0)
        rc = store_migrate_one(txn, "members", s->members, 0, 1);
    if (rc == 0)
        rc = store_migrate_one(txn, "expires", s->expires, 8, 0);
    return rc;
}

/* Takes the directory for this store: an exclusive flock on a file in it,
 * which holds the owner's pid for the message another opener gets. LMDB
 * itself lets many processes share an environment, but each store caches
 * its applied index and version between transactions, so a second writer
 * would corrupt both views. The kernel drops the lock however the owner
 * ends, kill -9 included. Returns the descriptor, or -1 with err set. */
static int store_lock_dir(const char *dir, int *rc, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/" STORE_LOCK_FILE, dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the store in %s: %s", dir, strerror(errno));
        *rc = STORE_EIO;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen, "cannot open the store in %s: it is in use by another "
                     "process (pid %s)", dir, pid[0] ? pid : "unknown");
            *rc = STORE_EBUSY;
        } else {
            snprintf(err, errlen, "cannot lock the store in %s: %s", dir, strerror(e));
            *rc = STORE_EIO;
        }
        close(fd);
        return -1;
    }
    char pid[24];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* Only the message of a later opener would lack the pid. */
    }
    return fd;
}

int store_open(struct store **out, const char *dir, size_t map_size, unsigned flags, char *err,
               size_t errlen)
{
    int rc;
    int lock_fd = store_lock_dir(dir, &rc, err, errlen);
    if (lock_fd < 0) {
        *out = NULL;
        return rc;
    }
    struct store *s = calloc(1, sizeof(*s));
    STORE_ASSERT(s != NULL);
    s->lock_fd = lock_fd;
    s->jfd = -1;
    store_set_checkpoint_every(s, 0, 0);
    MDB_txn *txn = NULL;
    s->flags = flags;
    s->map_size = map_size;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->read_rng = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                  ((uint64_t)getpid() << 32);
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, 16);
    if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0)
        goto fail;
    /* NORDAHEAD: random access over a large map; NOTLS: read txns are not
     * tied to threads (one loop thread anyway). */
    unsigned eflags = MDB_NOTLS | MDB_NORDAHEAD;
    if (flags & STORE_NOSYNC)
        eflags |= MDB_NOSYNC;
    if ((rc = mdb_env_open(s->env, dir, eflags, 0644)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
        (rc = store_log_open_db(txn, &s->log)) != 0 ||
        (rc = mdb_dbi_open(txn, "keyspace", MDB_CREATE, &s->keys)) != 0 ||
        (rc = mdb_dbi_open(txn, "items", MDB_CREATE, &s->members)) != 0 ||
        (rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &s->expires)) != 0 ||
        (rc = store_migrate_hashed(txn, s)) != 0)
        goto fail;
    store_load_meta(s, txn);
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        goto fail;
    }
    if ((rc = store_log_attach(s, err, errlen)) != 0 ||
        (rc = store_journal_open(s, dir, !(flags & STORE_NOSYNC), err, errlen)) != 0) {
        store_jtxn_drop(s);
        store_close(s);
        return rc;
    }
    if (s->jfd >= 0 && (flags & STORE_NOSYNC)) {
        /* Opened with `sync no` after a crash under `sync yes`: what the
         * journal acknowledged goes into LMDB, then there is no journal. */
        if ((rc = store_checkpoint_in(s)) != 0) {
            snprintf(err, errlen, "cannot move the journal into the store in %s: %s", dir,
                     store_strerror(rc));
            store_jtxn_drop(s);
            store_close(s);
            return rc;
        }
        store_journal_close(s);
    }
    /* As Redis after loading: a save "now" and no changes since. */
    s->stats.last_save_time = (uint64_t)time(NULL);
    s->applied_at_save = s->applied;
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    /* MAP_FULL here: moving an old layout needs room (raise store-size). */
    snprintf(err, errlen, "cannot open the store in %s: %s%s", dir, mdb_strerror(rc),
             rc == MDB_MAP_FULL ? " (raise store-size)" : "");
    if (s->env)
        mdb_env_close(s->env);
    close(s->lock_fd);
    free(s);
    *out = NULL;
    return store_map_err(rc);
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    STORE_ASSERT(!s->in_txn);
    if (s->rtxn)
        mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
    if (s->jtxn && store_checkpoint(s) != 0)
        store_jtxn_drop(s); /* the journal still holds it */
    store_journal_close(s);
    resp_buf_fini(&s->wtxn.done);
    resp_buf_fini(&s->wtxn.ready);
    resp_buf_fini(&s->wtxn.deleted);
    resp_buf_fini(&s->events);
    store_log_detach(s);
    mdb_env_close(s->env);
    close(s->lock_fd); /* after LMDB is done with the files */
    free(s);
}

long long store_preallocate(struct store *s, size_t ahead, size_t chunk)
{
    STORE_ASSERT(!s->in_txn);
    if (s->jtxn)
        return 0; /* its commit may be writing there: after the checkpoint */
    MDB_envinfo info;
    MDB_stat st;
    int fd;
    struct stat sb;
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
        mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &sb) != 0)
        return STORE_EIO;
    size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    size_t size = (size_t)sb.st_size;
    size_t want = used + ahead;
    if (want > s->map_size)
        want = s->map_size;
    if (size >= want)
        return 0;
    size_t end = size + chunk < want ? size + chunk : want;
    if (store_write_zeros(fd, size, end) != 0)
        return STORE_EIO;
    if (!(s->flags & STORE_NOSYNC) && fdatasync(fd) != 0)
        return STORE_EIO;
    return (long long)(end - size);
}

int store_last_errno(const struct store *s)
{
    return s->last_errno;
}

size_t store_map_size(const struct store *s)
{
    return s->map_size;
}

uint64_t store_applied_index(const struct store *s)
{
    return s->applied;
}

uint64_t store_last_ts(const struct store *s)
{
    return s->last_ts;
}

static uint64_t store_count(struct store *s, MDB_dbi dbi)
{
    MDB_txn *txn = store_view_begin(s);
    MDB_stat st;
    uint64_t n = 0;
    if (txn && mdb_stat(txn, dbi, &st) == 0)
        n = st.ms_entries;
    store_view_end(s, txn);
    return n;
}

uint64_t store_key_count(struct store *s)
{
    return store_count(s, s->keys);
}

uint64_t store_expires_count(struct store *s)
{
    return store_count(s, s->expires);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
    MDB_envinfo info;
    MDB_stat st;
    *out = s->stats;
    out->used_bytes = 0;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
        out->used_bytes = (info.me_last_pgno + 1) * (uint64_t)st.ms_psize;
    out->journal_bytes = s->jend;
    out->changes_since_save = s->applied - s->applied_at_save;
}

/* Everything applied so far is in synced files. */
static void store_saved(struct store *s)
{
    s->stats.saves++;
    s->stats.last_save_time = (uint64_t)time(NULL);
    s->applied_at_save = s->applied;
}

/* ------------------------------------------------------------------ reads */

static void store_ctx_init(struct store_ctx *c, struct store *s, MDB_txn *txn, uint64_t now,
                           struct resp_buf *out)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->txn = txn;
    c->now = now;
    c->out = out;
    /* Reads draw from the store's own stream (RANDOMKEY must differ between
     * two calls in the same millisecond); apply replaces it with the
     * entry's seed. */
    c->rng = store_rng_next(&s->read_rng);
}

/* Reads share one read-only transaction until the next commit: beginning
 * one per read costs an allocation and a reader-table lock each time. */
static MDB_txn *store_read_txn(struct store *s, int *rc)
{
    *rc = 0;
    STORE_ASSERT(!(s->jtxn && s->in_txn)); /* as in store_view_begin */
    if (s->jtxn)
        return s->jtxn;
    if (s->rtxn_live)
        return s->rtxn;
    if (s->rtxn)
        *rc = mdb_txn_renew(s->rtxn);
    else
        *rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
    if (*rc != 0) {
        if (s->rtxn)
            mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
        return NULL;
    }
    s->rtxn_live = 1;
    return s->rtxn;
}

static void store_read_txn_reset(struct store *s)
{
    if (s->rtxn_live) {
        mdb_txn_reset(s->rtxn);
        s->rtxn_live = 0;
    }
}

/* What a read leaves behind, taken back if it finds it must write. */
struct store_read_mark {
    uint64_t hits, misses; /* INFO's keyspace counts */
    size_t reply, events;
};

static struct store_read_mark store_read_mark(struct store *s, const struct resp_buf *reply)
{
    return (struct store_read_mark){s->stats.keyspace_hits, s->stats.keyspace_misses,
                                    reply->len, store_events_mark(s)};
}

/* A read that found it must write (needs_write) ran here for nothing: it
 * replies, counts its lookups and tells its events when it runs as the
 * write. (A key found expired is found so once its reply is under way.) */
static int store_read_must_write(struct store *s, const struct store_read_mark *m,
                                 struct resp_buf *reply)
{
    s->stats.keyspace_hits = m->hits;
    s->stats.keyspace_misses = m->misses;
    reply->len = m->reply;
    store_events_clear(s, m->events);
    return STORE_EWRITE;
}

int store_read(struct store *s, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
               struct resp_buf *reply)
{
    int rc;
    MDB_txn *txn = store_read_txn(s, &rc);
    if (txn == NULL) {
        resp_add_errorf(reply, "ERR ferry: store read failed: %s", mdb_strerror(rc));
        return STORE_EIO;
    }
    struct store_ctx c;
    store_ctx_init(&c, s, txn, now_ms, reply);
    struct store_read_mark m = store_read_mark(s, reply);
    store_exec_cmd(&c, argc, argv, argvlen);
    if (c.err) {
        if (txn == s->rtxn)
            store_read_txn_reset(s);
        return STORE_EIO;
    }
    return c.needs_write ? store_read_must_write(s, &m, reply) : 0;
}

int store_txn_read(struct store_txn *t, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
                   struct resp_buf *reply)
{
    struct store_ctx c;
    store_ctx_init(&c, t->s, t->txn, now_ms > t->last_ts ? now_ms : t->last_ts, reply);
    struct store_read_mark m = store_read_mark(t->s, reply);
    store_exec_cmd(&c, argc, argv, argvlen);
    if (c.err)
        return STORE_EIO;
    return c.needs_write ? store_read_must_write(t->s, &m, reply) : 0;
}

uint64_t store_key_version(struct store *s, const char *key, size_t klen, uint64_t now_ms)
{
    MDB_txn *txn = store_view_begin(s);
    if (txn == NULL)
        return 0;
    struct store_ctx c;
    struct store_rec r;
    store_ctx_init(&c, s, txn, now_ms, NULL);
    uint64_t v = store_db_lookup(&c, key, klen, &r) ? r.version : 0;
    store_view_end(s, txn);
    return v;
}

uint64_t store_txn_key_version(struct store_txn *t, const char *key, size_t klen)
{
    struct store_ctx c;
    struct store_rec r;
    store_ctx_init(&c, t->s, t->txn, t->last_ts, NULL);
    return store_db_lookup(&c, key, klen, &r) ? r.version : 0;
}

/* Where a blocking command keeps its keys (argv[*first] to argv[*last])
 * and its timeout; returns the type of key it pops from, 0 if malformed. */
static int store_blocking_layout(int argc, char **argv, size_t *len, int *first, int *last,
                                 int *timeout)
{
    const struct store_cmd *cmd = store_cmd_find(argv[0], len[0]);
    const char *n = cmd ? cmd->name : "";
    long nk;
    *first = 1;
    *last = argc - 2;
    *timeout = argc - 1; /* BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: keys, then the timeout */
    if (strcmp(n, "blmove") == 0 || strcmp(n, "brpoplpush") == 0) {
        *last = 1;
    } else if (strcmp(n, "blmpop") == 0 || strcmp(n, "bzmpop") == 0) {
        *timeout = 1;
        if (argc < 3 || !store_string2l(argv[2], len[2], &nk) || nk < 1 || nk > argc - 3)
            return 0;
        *first = 3;
        *last = 2 + (int)nk;
    }
    return strncmp(n, "bz", 2) == 0 ? STORE_T_ZSET : STORE_T_LIST;
}

int store_blocking_timeout_index(int argc, char **argv, size_t *len)
{
    int first, last, timeout;
    store_blocking_layout(argc, argv, len, &first, &last, &timeout);
    return timeout;
}

int store_txn_blocked_on(struct store_txn *t, int argc, char **argv, size_t *len, const char *key,
                         size_t klen)
{
    int first, last, timeout;
    int type = store_blocking_layout(argc, argv, len, &first, &last, &timeout);
    int at = -1;
    for (int i = first; type && i <= last && at < 0; i++)
        if (len[i] == klen && memcmp(argv[i], key, klen) == 0)
            at = i;
    if (at < 0)
        return 0;
    struct store_ctx c;
    struct store_rec r;
    store_ctx_init(&c, t->s, t->txn, t->last_ts, NULL);
    if (!store_db_lookup(&c, key, klen, &r) || r.type != type)
        return 0;
    /* Redis serves a blocked client from the key that became ready, not
     * from its first key that holds something: put that key first. */
    char *k = argv[at];
    memmove(argv + first + 1, argv + first, sizeof(*argv) * (size_t)(at - first));
    memmove(len + first + 1, len + first, sizeof(*len) * (size_t)(at - first));
    argv[first] = k;
    len[first] = klen;
    return 1;
}

/* ------------------------------------------------------------------ prepare */

static uint64_t store_next_ts(struct store *s, uint64_t now_ms)
{
    if (now_ms < s->prep_ts)
        now_ms = s->prep_ts;
    if (now_ms < s->last_ts)
        now_ms = s->last_ts;
    s->prep_ts = now_ms;
    return now_ms;
}

static void entry_header(struct resp_buf *e, int kind, uint64_t ts, uint64_t seed)
{
    unsigned char h[ENTRY_HDR];
    h[0] = ENTRY_VERSION;
    h[1] = (unsigned char)kind;
    store_put_u64(h + 2, ts);
    store_put_u64(h + 10, seed);
    resp_buf_append(e, h, sizeof(h));
}

static void entry_u32(struct resp_buf *e, uint32_t v)
{
    unsigned char b[4];
    store_put_u32(b, v);
    resp_buf_append(e, b, 4);
}

static void entry_u64(struct resp_buf *e, uint64_t v)
{
    unsigned char b[8];
    store_put_u64(b, v);
    resp_buf_append(e, b, 8);
}

static void entry_argv(struct resp_buf *e, int argc, char **argv, size_t *argvlen)
{
    entry_u32(e, (uint32_t)argc);
    for (int i = 0; i < argc; i++) {
        entry_u32(e, (uint32_t)argvlen[i]);
        resp_buf_append(e, argv[i], argvlen[i]);
    }
}

static int store_is_float_cmd(const char *name, size_t len)
{
    return store_strcasecmp_arg(name, len, "incrbyfloat") ||
           store_strcasecmp_arg(name, len, "hincrbyfloat");
}

/* The prepare of both entry points; txn is the state to read (committed
 * state when it is a fresh read-only transaction). */
static int store_prepare_in(struct store *s, MDB_txn *txn, int argc, char **argv,
                            size_t *argvlen, uint64_t now_ms, uint64_t seed,
                            struct resp_buf *entry, struct resp_buf *reply)
{
    if (argc < 1) {
        resp_add_error(reply, "ERR empty command");
        return 0;
    }
    if (store_command_check_arity(argc, argv, argvlen, reply))
        return 0;
    uint64_t ts = store_next_ts(s, now_ms);
    if (txn && store_is_float_cmd(argv[0], argvlen[0])) {
        struct store_ctx c;
        char buf[5 * 1024];
        int n = 0;
        uint64_t version = 0;
        store_ctx_init(&c, s, txn, ts, NULL);
        if (store_float_prepare(&c, argc, argv, argvlen, buf, sizeof(buf), &n, &version)) {
            entry_header(entry, ENTRY_FLOAT, ts, seed);
            entry_u64(entry, version);
            entry_u32(entry, (uint32_t)n);
            resp_buf_append(entry, buf, (size_t)n);
            entry_argv(entry, argc, argv, argvlen);
            return 1;
        }
    }
    entry_header(entry, ENTRY_CMD, ts, seed);
    entry_argv(entry, argc, argv, argvlen);
    return 1;
}

int store_prepare(struct store *s, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
                  uint64_t seed, struct resp_buf *entry, struct resp_buf *reply)
{
    MDB_txn *txn = NULL;
    if (argc >= 1 && store_is_float_cmd(argv[0], argvlen[0]))
        txn = store_view_begin(s);
    int rc = store_prepare_in(s, txn, argc, argv, argvlen, now_ms, seed, entry, reply);
    store_view_end(s, txn);
    return rc;
}

int store_txn_prepare(struct store_txn *t, int argc, char **argv, size_t *argvlen,
                      uint64_t now_ms, uint64_t seed, struct resp_buf *entry,
                      struct resp_buf *reply)
{
    if (now_ms < t->last_ts)
        now_ms = t->last_ts;
    return store_prepare_in(t->s, t->txn, argc, argv, argvlen, now_ms, seed, entry, reply);
}

void store_prepare_exec_begin(struct store *s, uint64_t now_ms, uint64_t seed,
                              struct resp_buf *entry)
{
    entry_header(entry, ENTRY_EXEC, store_next_ts(s, now_ms), seed);
}

void store_prepare_exec_watch(struct resp_buf *entry, const char *key, size_t klen,
                              uint64_t version)
{
    /* 'W' version key */
    resp_buf_append(entry, "W", 1);
    entry_u64(entry, version);
    entry_u32(entry, (uint32_t)klen);
    resp_buf_append(entry, key, klen);
}

void store_prepare_exec_cmd(struct resp_buf *entry, int argc, char **argv, size_t *argvlen)
{
    resp_buf_append(entry, "C", 1);
    entry_argv(entry, argc, argv, argvlen);
}

void store_prepare_exec_end(struct resp_buf *entry)
{
    resp_buf_append(entry, "E", 1);
}

int store_prepare_expire(struct store *s, uint64_t now_ms, int max, struct resp_buf *entry)
{
    MDB_txn *txn = store_view_begin(s);
    MDB_cursor *cur;
    if (txn == NULL)
        return 0;
    if (mdb_cursor_open(txn, s->expires, &cur) != 0) {
        store_view_end(s, txn);
        return 0;
    }
    MDB_val k, v;
    int n = 0;
    size_t mark = entry->len;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && n < max) {
        const unsigned char *p = k.mv_data;
        if (k.mv_size < 12 || store_get_be64(p) > now_ms)
            break;
        if (n == 0) {
            entry_header(entry, ENTRY_EXPIRE, store_next_ts(s, now_ms), 0);
        }
        entry_u32(entry, (uint32_t)(k.mv_size - 12));
        resp_buf_append(entry, p + 12, k.mv_size - 12);
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    store_view_end(s, txn);
    if (n == 0)
        entry->len = mark;
    return n;
}

/* ------------------------------------------------------------------ transactions */

int store_jtxn_begin(struct store *s)
{
    STORE_ASSERT(s->jtxn == NULL);
    /* A reader must not hold old pages while jtxn writes new ones. */
    store_read_txn_reset(s);
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->jtxn);
    if (rc != 0)
        s->jtxn = NULL;
    return rc == 0 ? 0 : store_map_err(rc);
}

/* Starts t's working copies from the store's values, in txn. */
static void store_txn_init(struct store *s, struct store_txn *t, MDB_txn *txn)
{
    t->s = s;
    t->txn = txn;
    t->applied = s->applied;
    t->version = s->version;
    t->last_ts = s->last_ts;
    t->dead = 0;
    t->expired = 0;
    t->log_keep = 0;
    t->kcur = NULL;
    t->exec_cb = NULL;
    t->exec_arg = NULL;
    resp_buf_reset(&t->done);
    resp_buf_reset(&t->ready);
    resp_buf_reset(&t->deleted);
}

void store_txn_on_exec_cmd(struct store_txn *t, store_exec_cmd_cb cb, void *arg)
{
    t->exec_cb = cb;
    t->exec_arg = arg;
}

int store_txn_begin(struct store *s, struct store_txn **out)
{
    STORE_ASSERT(!s->in_txn);
    if (s->jbroken)
        return STORE_EFATAL;
    struct store_txn *t = &s->wtxn;
    MDB_txn *txn = NULL;
    int rc = 0;
    /* With a journal, the turn writes in jtxn itself; taking a turn back
     * (its record could not be written) rebuilds jtxn from the journal. A
     * nested transaction per turn would make that an abort, but costs a
     * copy of every page the turn touches and of LMDB's page lists: about
     * a tenth of synced SET throughput. */
    if (s->jfd >= 0) {
        if (s->jtxn == NULL && (rc = store_jtxn_begin(s)) != 0)
            return rc;
        txn = s->jtxn;
    } else if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        return store_map_err(rc);
    }
    store_txn_init(s, t, txn);
    store_log_txn_reset(s);
    s->in_txn = 1;
    *out = t;
    return 0;
}

static void store_txn_end(struct store_txn *t)
{
    /* A cursor left open in jtxn would live on across turns, and LMDB
     * adjusts every open cursor of a transaction on each write. */
    if (t->kcur && t->txn && t->txn == t->s->jtxn)
        mdb_cursor_close(t->kcur);
    t->kcur = NULL;
    t->s->in_txn = 0;
    t->txn = NULL;
    /* A large transaction's entries are not kept until the next one. */
    resp_buf_reset_shrink(&t->done, STORE_BUF_KEEP);
    resp_buf_reset_shrink(&t->ready, STORE_BUF_KEEP);
    resp_buf_reset_shrink(&t->deleted, STORE_BUF_KEEP);
}

/* jtxn again from the last checkpoint and the journal, without the turn
 * in progress; if that fails, the store takes no more transactions. */
static int store_rebuild(struct store *s)
{
    char err[256];
    store_jtxn_drop(s);
    store_log_txn_reset(s); /* the turn's log state is not the replay's */
    int rc = store_journal_replay(s, err, sizeof(err));
    if (rc != 0) {
        store_jtxn_drop(s);
        s->jbroken = 1;
    }
    return rc;
}

void store_txn_abort(struct store_txn *t)
{
    struct store *s = t->s;
    int in_jtxn = t->txn && t->txn == s->jtxn;
    if (t->txn && !in_jtxn)
        mdb_txn_abort(t->txn);
    s->prep_ts = s->prep_ts > s->last_ts ? s->prep_ts : s->last_ts;
    store_txn_end(t);
    if (in_jtxn && !s->jreplay)
        store_rebuild(s);
}

/* LMDB reports a short page write as EIO. A file system that has run out
 * of room is what cuts a write short, and leaves next to nothing free:
 * name that, rather than an I/O error the disk did not have. */
static int store_disk_errno(struct store *s, int rc)
{
    const char *dir;
    struct statvfs v;
    if (rc == EIO && mdb_env_get_path(s->env, &dir) == 0 && statvfs(dir, &v) == 0 &&
        (unsigned long long)v.f_bavail * v.f_frsize < (1u << 20))
        return ENOSPC;
    return rc;
}

/* Whether LMDB takes transactions after a failed commit: when the meta
 * page write itself failed, it has marked the environment fatal and answers
 * MDB_PANIC to everything from then on. */
static int store_usable(struct store *s)
{
    MDB_txn *probe = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe);
    if (rc == 0)
        mdb_txn_abort(probe);
    return rc != MDB_PANIC;
}

/* The turn is committed (or journaled): its values become the store's. */
static void store_txn_done(struct store_txn *t)
{
    struct store *s = t->s;
    s->applied = t->applied;
    s->version = t->version;
    s->last_ts = t->last_ts;
    s->stats.expired_keys += t->expired;
    if (s->prep_ts < s->last_ts)
        s->prep_ts = s->last_ts;
}

void store_set_checkpoint_every(struct store *s, uint64_t bytes, uint64_t entries)
{
    s->ckpt_bytes = bytes ? bytes : STORE_CKPT_BYTES;
    s->ckpt_entries = entries ? entries : STORE_CKPT_ENTRIES;
}

static int store_txn_commit_journal(struct store_txn *t)
{
    struct store *s = t->s;
    uint64_t n = t->applied - s->applied;
    if (n > 0) {
        int e = store_journal_append(s, &t->done, s->applied + 1, n, t->log_keep);
        if (e != 0) {
            /* Not acknowledged: the turn is taken back, the journal goes
             * on at the same place. A checkpoint frees the journal's room
             * for the next turns. */
            store_txn_abort(t);
            s->last_errno = e;
            if (s->jbroken)
                return STORE_EFATAL;
            int rc = store_checkpoint(s);
            return rc == STORE_EFATAL ? rc : STORE_EDISK;
        }
    }
    store_txn_end(t);
    store_txn_done(t);
    if (s->jend >= s->jretry &&
        (s->jend >= s->ckpt_bytes || s->jentries >= s->ckpt_entries)) {
        int rc = store_checkpoint(s);
        if (rc == STORE_EFATAL)
            return rc; /* this turn is durable; the store cannot go on */
    }
    return 0;
}

/* The values a turn's commit records in the meta database. */
static int store_txn_put_meta(struct store_txn *t)
{
    struct store *s = t->s;
    int rc;
    if ((rc = store_meta_put(t->txn, s->meta, META_APPLIED, t->applied)) != 0 ||
        (rc = store_meta_put(t->txn, s->meta, META_VERSION, t->version)) != 0 ||
        (rc = store_meta_put(t->txn, s->meta, META_TS, t->last_ts)) != 0)
        return store_map_err(rc);
    return 0;
}

int store_apply_record(struct store *s, uint64_t first, uint64_t count, uint64_t keep,
                       const unsigned char *p, uint64_t len, uint64_t *failed_at)
{
    struct store_txn rt;
    memset(&rt, 0, sizeof(rt));
    resp_buf_init(&rt.done);
    resp_buf_init(&rt.ready);
    resp_buf_init(&rt.deleted);
    store_txn_init(s, &rt, s->jtxn);
    s->jreplay = 1; /* a failure here is the replay's, not a turn's */
    s->ev_mute++;   /* the turn that wrote the record told its events */
    int rc = 0;
    uint64_t off = 0, i = 0;
    for (; rc == 0 && i < count; i++) {
        uint64_t n = off + 8 <= len ? store_get_u64(p + off) : UINT64_MAX;
        if (n > len - off - 8) {
            rc = STORE_ECORRUPT;
            break;
        }
        rc = store_txn_apply(&rt, first + i, p + off + 8, n, NULL, NULL);
        off += 8 + n;
    }
    *failed_at = first + i;
    if (rc == 0)
        rc = store_txn_log_applied(&rt, keep);
    if (rc == 0)
        rc = store_txn_put_meta(&rt);
    if (rc == 0) {
        if (rt.kcur)
            mdb_cursor_close(rt.kcur);
        store_txn_done(&rt);
    }
    s->jreplay = 0;
    s->ev_mute--;
    resp_buf_fini(&rt.done);
    resp_buf_fini(&rt.ready);
    resp_buf_fini(&rt.deleted);
    return rc;
}

int store_checkpoint(struct store *s)
{
    STORE_ASSERT(!s->in_txn);
    return store_checkpoint_in(s);
}

int store_save(struct store *s)
{
    STORE_ASSERT(!s->in_txn);
    uint64_t saves = s->stats.saves;
    int rc = s->jfd >= 0 ? store_checkpoint_in(s) : mdb_env_sync(s->env, 1);
    if (rc == 0) {
        if (s->stats.saves == saves) /* nothing to checkpoint: saved all the same */
            store_saved(s);
        return 0;
    }
    if (s->jfd >= 0)
        return rc; /* the checkpoint's own error */
    if (rc > 0) {
        s->last_errno = store_disk_errno(s, rc);
        return STORE_EDISK;
    }
    return store_map_err(rc);
}

static int store_checkpoint_in(struct store *s)
{
    if (s->jtxn == NULL)
        return 0;
    if (s->jend == 0) {
        store_jtxn_drop(s); /* only turns that wrote nothing since the last one */
        return 0;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = store_meta_put(s->jtxn, s->meta, STORE_META_EPOCH, s->jepoch + 1);
    if (rc == 0) {
        rc = mdb_txn_commit(s->jtxn);
    } else {
        mdb_txn_abort(s->jtxn);
    }
    s->jtxn = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->stats.checkpoint_usec += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000LL +
                                           (t1.tv_nsec - t0.tv_nsec) / 1000);
    if (rc == 0) {
        s->jepoch++;
        s->stats.checkpoints++;
        store_journal_reset(s);
        store_saved(s);
        return 0;
    }
    /* LMDB still has the last checkpoint, the journal everything since:
     * rebuild jtxn from them, and try again after more has been written. */
    s->stats.checkpoint_failures++;
    if (rc > 0)
        s->last_errno = store_disk_errno(s, rc);
    if (!store_usable(s)) {
        s->jbroken = 1;
        return STORE_EFATAL;
    }
    uint64_t tried = s->jend;
    if (store_rebuild(s) != 0)
        return STORE_EFATAL;
    s->jretry = tried + s->ckpt_bytes / 4;
    return rc > 0 ? STORE_EDISK : store_map_err(rc);
}

int store_txn_commit(struct store_txn *t)
{
    struct store *s = t->s;
    int rc = 0;
    if (t->dead || store_log_txn_failed(s)) {
        store_txn_abort(t);
        return STORE_EIO;
    }
    if ((rc = store_txn_put_meta(t)) != 0) {
        store_txn_abort(t);
        return rc;
    }
    if (s->jfd >= 0)
        return store_txn_commit_journal(t);
    rc = mdb_txn_commit(t->txn);
    t->txn = NULL;
    store_txn_end(t);
    if (rc > 0) {
        /* An errno from writing or syncing (LMDB's own codes are negative).
         * A failed page write or sync comes before the meta page: the last
         * commit stands, and a later one succeeds once the disk has room
         * again. A failed meta page write is fatal to the environment. */
        s->last_errno = store_disk_errno(s, rc);
        return store_usable(s) ? STORE_EDISK : STORE_EFATAL;
    }
    if (rc != 0)
        return store_map_err(rc);
    store_read_txn_reset(s); /* the next read sees this commit */
    store_txn_done(t);
    return 0;
}

void store_txn_ready_keys(struct store_txn *t, store_ready_cb cb, void *arg)
{
    size_t off = 0;
    /* cb may apply entries that add more ready keys: walk by offset. */
    while (off + 4 <= t->ready.len) {
        uint32_t n = store_get_u32((unsigned char *)t->ready.data + off);
        char tmp[512];
        char *k = n <= sizeof(tmp) ? tmp : malloc(n);
        STORE_ASSERT(k != NULL);
        memcpy(k, t->ready.data + off + 4, n);
        off += 4 + n;
        cb(arg, k, n);
        if (k != tmp)
            free(k);
    }
    resp_buf_reset(&t->ready);
}

void store_txn_deleted_keys(struct store_txn *t, store_ready_cb cb, void *arg)
{
    size_t off = 0;
    while (off + 4 <= t->deleted.len) {
        uint32_t n = store_get_u32((unsigned char *)t->deleted.data + off);
        cb(arg, t->deleted.data + off + 4, n);
        off += 4 + n;
    }
    resp_buf_reset(&t->deleted);
}

/* A bounds-checked reader over an entry. */
struct entry_rd {
    const unsigned char *p, *end;
    int bad;
};

static uint32_t rd_u32(struct entry_rd *r)
{
    if (r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = store_get_u32(r->p);
    r->p += 4;
    return v;
}

static uint64_t rd_u64(struct entry_rd *r)
{
    if (r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = store_get_u64(r->p);
    r->p += 8;
    return v;
}

static const char *rd_bytes(struct entry_rd *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const char *b = (const char *)r->p;
    r->p += n;
    return b;
}

/* Decodes an argv; the pointers are into the entry, copied to NUL-terminated
 * strings in the caller's buffers (handlers expect argv[i][len] == 0). */
struct entry_argv {
    int argc;
    char **argv;
    size_t *len;
    char *mem;
    /* Small commands decode without malloc. */
    char *argv_small[8];
    size_t len_small[8];
    char mem_small[512];
};

static int rd_argv(struct entry_rd *r, struct entry_argv *a)
{
    uint32_t argc = rd_u32(r);
    if (r->bad || argc == 0 || argc > (uint32_t)(r->end - r->p) / 4)
        return -1;
    const unsigned char *start = r->p;
    size_t total = 0;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t n = rd_u32(r);
        if (rd_bytes(r, n) == NULL)
            return -1;
        total += n + 1;
    }
    a->argc = (int)argc;
    if (argc <= 8 && total <= sizeof(a->mem_small)) {
        a->argv = a->argv_small;
        a->len = a->len_small;
        a->mem = a->mem_small;
    } else {
        a->argv = malloc(sizeof(char *) * argc);
        a->len = malloc(sizeof(size_t) * argc);
        a->mem = malloc(total);
        STORE_ASSERT(a->argv && a->len && a->mem);
    }
    struct entry_rd r2 = {start, r->end, 0};
    char *m = a->mem;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t n = rd_u32(&r2);
        const char *b = rd_bytes(&r2, n);
        memcpy(m, b, n);
        m[n] = 0;
        a->argv[i] = m;
        a->len[i] = n;
        m += n + 1;
    }
    return 0;
}

static void argv_free(struct entry_argv *a)
{
    if (a->argv == a->argv_small)
        return;
    free(a->argv);
    free(a->len);
    free(a->mem);
}

/* Executes one decoded entry. Returns 0 or STORE_EINVAL. */
/* Reads an EXEC entry's watch (after its 'W'): 1 when the key's version
 * is no longer the one watched, 0 when it is, -1 when malformed. (In an
 * apply, the lookup deletes the key if expired; either way it is absent.) */
static int rd_watch_changed(struct store_ctx *c, struct entry_rd *r)
{
    uint64_t ver = rd_u64(r);
    uint32_t n = rd_u32(r);
    const char *k = rd_bytes(r, n);
    if (r->bad)
        return -1;
    struct store_rec rec;
    return (store_db_lookup(c, k, n, &rec) ? rec.version : 0) != ver;
}

static int store_apply_one(struct store_ctx *c, const unsigned char *e, size_t len)
{
    struct entry_rd r = {e + ENTRY_HDR, e + len, 0};
    int kind = e[1];
    if (kind == ENTRY_CMD) {
        struct entry_argv a;
        if (rd_argv(&r, &a) != 0)
            return STORE_EINVAL;
        store_exec_cmd(c, a.argc, a.argv, a.len);
        argv_free(&a);
        return 0;
    }
    if (kind == ENTRY_FLOAT) {
        uint64_t version = rd_u64(&r);
        uint32_t rl = rd_u32(&r);
        const char *res = rd_bytes(&r, rl);
        struct entry_argv a;
        if (r.bad || rd_argv(&r, &a) != 0)
            return STORE_EINVAL;
        struct store_rec rec;
        uint64_t cur = store_db_lookup(c, a.argv[1], a.len[1], &rec) ? rec.version : 0;
        if (cur == version)
            store_float_apply(c, a.argc, a.argv, a.len, res, rl);
        else
            store_exec_cmd(c, a.argc, a.argv, a.len);
        argv_free(&a);
        return 0;
    }
    if (kind == ENTRY_EXPIRE) {
        while (r.p < r.end) {
            uint32_t n = rd_u32(&r);
            const char *k = rd_bytes(&r, n);
            if (r.bad)
                return STORE_EINVAL;
            struct store_rec rec;
            /* store_db_lookup deletes an expired key in write mode. */
            store_db_lookup(c, k, n, &rec);
        }
        return 0;
    }
    if (kind == ENTRY_EXEC) {
        /* First pass: check watches and count commands. */
        int dirty = 0;
        int ncmd = 0;
        const unsigned char *cmds = NULL;
        while (!r.bad && r.p < r.end) {
            const char *tag = rd_bytes(&r, 1);
            if (tag == NULL)
                return STORE_EINVAL;
            if (*tag == 'W') {
                int changed = rd_watch_changed(c, &r);
                if (changed < 0)
                    return STORE_EINVAL;
                dirty |= changed;
            } else if (*tag == 'C') {
                if (cmds == NULL)
                    cmds = r.p - 1;
                uint32_t argc = rd_u32(&r);
                for (uint32_t i = 0; i < argc && !r.bad; i++)
                    rd_bytes(&r, rd_u32(&r));
                ncmd++;
            } else if (*tag == 'E') {
                break;
            } else {
                return STORE_EINVAL;
            }
        }
        if (r.bad)
            return STORE_EINVAL;
        if (dirty) {
            resp_add_null_array(c->out);
            return 0;
        }
        resp_add_array(c->out, ncmd);
        if (ncmd == 0)
            return 0;
        struct entry_rd r2 = {cmds, e + len, 0};
        store_exec_cmd_cb cb = c->t ? c->t->exec_cb : NULL;
        c->in_multi = 1;
        if (cb)
            cb(c->t->exec_arg, -1);
        for (int i = 0; i < ncmd; i++) {
            rd_bytes(&r2, 1);
            struct entry_argv a;
            if (rd_argv(&r2, &a) != 0)
                return STORE_EINVAL;
            store_exec_cmd(c, a.argc, a.argv, a.len);
            argv_free(&a);
            if (cb)
                cb(c->t->exec_arg, i);
        }
        c->in_multi = 0;
        return 0;
    }
    return STORE_EINVAL;
}

/* The time entry e applies at in t: its own, never before t's last
 * (never backwards, even for a stale entry). */
static uint64_t entry_ts(const struct store_txn *t, const unsigned char *e)
{
    uint64_t ts = store_get_u64(e + 2);
    return ts < t->last_ts ? t->last_ts : ts;
}

int store_txn_exec_aborts(struct store_txn *t, const void *entry, size_t len)
{
    const unsigned char *e = entry;
    if (len < ENTRY_HDR || e[1] != ENTRY_EXEC)
        return 0;
    struct store_ctx c;
    store_ctx_init(&c, t->s, t->txn, entry_ts(t, e), NULL); /* a read: it writes nothing */
    struct entry_rd r = {e + ENTRY_HDR, e + len, 0};
    while (r.p < r.end && *r.p == 'W') {
        r.p++;
        if (rd_watch_changed(&c, &r) > 0)
            return 1;
    }
    return 0;
}

static int store_txn_apply_raw(struct store_txn *t, const unsigned char *e, size_t len,
                               struct resp_buf *reply, int *blocked)
{
    struct resp_buf scratch;
    resp_buf_init(&scratch);
    struct store_ctx c;
    uint64_t ts = entry_ts(t, e);
    store_ctx_init(&c, t->s, t->txn, ts, reply ? reply : &scratch);
    c.t = t;
    c.write = 1;
    c.rng = store_get_u64(e + 10);
    size_t mark = c.out->len;
    int rc = store_apply_one(&c, e, len);
    if (rc == 0 && c.err)
        rc = store_map_err(c.err);
    if (rc == 0) {
        t->last_ts = ts;
        if (c.blocked) {
            c.out->len = mark;
            if (blocked)
                *blocked = 1;
        }
    } else {
        c.out->len = mark;
    }
    resp_buf_fini(&scratch);
    return rc;
}

/* After MAP_FULL the LMDB transaction is unusable: start over and re-apply
 * what this transaction had applied before the failing entry. */
static int store_txn_replay(struct store_txn *t)
{
    struct store *s = t->s;
    int rc;
    t->kcur = NULL; /* LMDB frees it with the transaction */
    store_log_txn_lost(s);
    if (s->jfd >= 0) {
        if (s->jreplay) {
            t->dead = 1; /* the journal's replay fails as a whole, with */
            return 0;    /* the entry's own error */
        }
        /* jtxn again, then (MAP_FULL: the map may be short of room for
         * pages that only a commit frees) a checkpoint, and the turn's
         * entries so far. Log writes of the turn before this are gone:
         * its commit must fail, as store_log_txn_lost says. */
        int lost = store_log_txn_failed(s);
        t->txn = NULL;
        if ((rc = store_rebuild(s)) != 0 || (rc = store_checkpoint_in(s)) == STORE_EFATAL ||
            (s->jtxn == NULL && (rc = store_jtxn_begin(s)) != 0)) {
            t->dead = 1;
            return rc;
        }
        store_log_txn_reset(s);
        if (lost)
            store_log_txn_mark_failed(s);
        t->txn = s->jtxn;
    } else {
        mdb_txn_abort(t->txn);
        t->txn = NULL;
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &t->txn)) != 0) {
            t->dead = 1;
            return store_map_err(rc);
        }
    }
    t->applied = s->applied;
    t->version = s->version;
    t->last_ts = s->last_ts;
    t->expired = 0; /* the replay counts them again */
    size_t off = 0;
    s->ev_mute++; /* their events were recorded when they first ran */
    while (off + 8 <= t->done.len) {
        const unsigned char *p = (unsigned char *)t->done.data + off;
        uint64_t n = store_get_u64(p);
        rc = store_txn_apply_raw(t, p + 8, n, NULL, NULL);
        if (rc != 0) {
            s->ev_mute--;
            t->dead = 1;
            return rc;
        }
        t->applied++;
        off += 8 + n;
    }
    s->ev_mute--;
    resp_buf_reset(&t->ready);
    resp_buf_reset(&t->deleted);
    return 0;
}

int store_txn_apply(struct store_txn *t, uint64_t index, const void *entry, size_t len,
                    struct resp_buf *reply, int *blocked)
{
    const unsigned char *e = entry;
    if (blocked)
        *blocked = 0;
    if (t->dead)
        return STORE_EIO;
    if (len < ENTRY_HDR || e[0] != ENTRY_VERSION)
        return STORE_EINVAL;
    /* Time is signed milliseconds wherever Redis's rules use it (deadlines,
     * TTLs): prepare never goes past that, and an entry that does would
     * carry every later command's clock out of range with it. */
    if (store_get_u64(e + 2) > (uint64_t)INT64_MAX)
        return STORE_EINVAL;
    if (index != 0 && index != t->applied + 1)
        return STORE_EINVAL;
    size_t mark = reply ? reply->len : 0;
    size_t ev_mark = t->s->events.len;
    int rc = store_txn_apply_raw(t, e, len, reply, blocked);
    if (rc != 0) {
        /* Part of the entry may be written: roll back to before it. */
        if (reply)
            reply->len = mark;
        t->s->events.len = ev_mark;
        if (blocked)
            *blocked = 0;
        int rc2 = store_txn_replay(t);
        return rc2 ? rc2 : rc;
    }
    t->applied++;
    unsigned char n[8];
    store_put_u64(n, len);
    resp_buf_append(&t->done, n, 8);
    resp_buf_append(&t->done, e, len);
    return 0;
}

/* ------------------------------------------------------------------ dump */

int store_dump(struct store *s, struct resp_buf *out)
{
    MDB_txn *txn = store_view_begin(s);
    if (txn == NULL)
        return STORE_EIO;
    MDB_dbi dbis[4] = {s->meta, s->keys, s->members, s->expires};
    const char *names[4] = {"meta", "keyspace", "items", "expiry"};
    for (int i = 0; i < 4; i++) {
        MDB_cursor *cur;
        MDB_val k, v;
        resp_add_simple(out, names[i]);
        if (mdb_cursor_open(txn, dbis[i], &cur) != 0) {
            store_view_end(s, txn);
            return STORE_EIO;
        }
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            /* Raft state in meta (raft.hs, raft.snap) is log, not data;
             * the checkpoint's number is the journal's. */
            if (i == 0 && ((k.mv_size > 5 && memcmp(k.mv_data, "raft.", 5) == 0) ||
                           (k.mv_size == strlen(STORE_META_EPOCH) &&
                            memcmp(k.mv_data, STORE_META_EPOCH, k.mv_size) == 0))) {
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                continue;
            }
            resp_add_bulk(out, k.mv_data, k.mv_size);
            resp_add_bulk(out, v.mv_data, v.mv_size);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    store_view_end(s, txn);
    return 0;
}
