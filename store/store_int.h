/* store internals: shared by the store/ sources only. */
#ifndef FERRY_STORE_INT_H
#define FERRY_STORE_INT_H

#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define STORE_ASSERT(cond)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "ferry: store assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Value types, as stored in the keyspace record. */
enum store_type {
    STORE_T_STRING = 1,
    STORE_T_HASH = 2,
    STORE_T_LIST = 3,
    STORE_T_SET = 4,
    STORE_T_ZSET = 5,
};

/* Keyspace record layout: type(1) expire(8, LE, 0 = none) version(8, LE)
 * then the string value, or the collection header: count(8) for hash, set
 * and zset; head(8) tail(8) (signed positions, items at [head, tail)) for
 * lists. */
#define STORE_REC_HDR 17

/* Reused buffers above this size are freed rather than kept for reuse. */
#define STORE_BUF_KEEP (1u << 20)

struct store_txn {
    struct store *s;
    MDB_txn *txn;
    uint64_t applied;    /* working copies of the meta values */
    uint64_t version;
    uint64_t last_ts;
    struct resp_buf done; /* entries applied in this txn, for replay after MAP_FULL */
    struct resp_buf ready; /* ready list keys: u32 len + bytes each */
    struct resp_buf deleted; /* deleted keys, same layout */
    int dead;             /* the LMDB txn failed: only abort is possible */
    uint64_t expired;     /* keys deleted as expired by this txn's entries */
    uint64_t log_keep;    /* store_txn_log_applied's keep, for the journal */
    /* The keyspace cursor of this txn: a lookup leaves it on the key's leaf
     * page, so the write that usually follows (SET after reading the old
     * record) finds its place there instead of descending from the root
     * again. LMDB closes it with the txn. */
    MDB_cursor *kcur;
    /* store_txn_on_exec_cmd's observer of a transaction's commands. */
    store_exec_cmd_cb exec_cb;
    void *exec_arg;
};

struct store {
    MDB_env *env;
    MDB_dbi meta, log, keys, members, expires;
    size_t map_size;
    unsigned flags;
    uint64_t applied; /* committed values */
    uint64_t version;
    uint64_t last_ts;
    uint64_t prep_ts; /* last timestamp handed out by prepare */
    uint64_t read_rng; /* randomness of reads (RANDOMKEY); apply has its own */
    int in_txn;
    int last_errno;  /* of the last commit that failed with STORE_EDISK */
    /* The journal (store/journal.c), with `sync` on. A turn's entries are
     * appended to it and synced, and applied in jtxn, an LMDB transaction
     * that stays open across turns; a checkpoint commits jtxn (LMDB's own
     * two syncs) and starts the journal over. */
    int jfd;            /* -1 without a journal (STORE_NOSYNC) */
    MDB_txn *jtxn;      /* everything journaled since the last checkpoint */
    uint64_t jepoch;    /* the checkpoint's number, in its records */
    uint64_t jend;      /* bytes of records since the checkpoint */
    uint64_t jentries;  /* entries in them */
    uint64_t ckpt_bytes, ckpt_entries; /* store_set_checkpoint_every's */
    uint64_t jsize;     /* the file's size (zero-filled beyond jend) */
    uint64_t jretry;    /* after a failed checkpoint: jend for the next try */
    int jreplay;        /* applying the journal's own records: not again */
    int jbroken;        /* jtxn could not be rebuilt: no more transactions */
    int lock_fd;     /* holds the flock on STORE_LOCK_FILE in the directory */
    struct store_txn wtxn;
    MDB_txn *rtxn;   /* the read snapshot store_read reuses until a commit */
    int rtxn_live;   /* rtxn is renewed (not reset) */
    struct store_log *rlog; /* the Raft log on this environment (store/log.c) */
    struct store_stats stats; /* INFO's counters (store_get_stats) */
    uint64_t applied_at_save; /* `applied` when the last save succeeded */
    /* Keyspace events (store_set_events): the classes recorded, and the
     * records, each u8 name length | name | u32 key length | key. Muted
     * while entries are applied a second time. */
    unsigned ev_classes;
    int ev_mute;
    struct resp_buf events;
};

/* The transaction reads see: jtxn between turns (what was acknowledged),
 * else a fresh read-only one. store_view_end releases what begin gave. */
MDB_txn *store_view_begin(struct store *s);
void store_view_end(struct store *s, MDB_txn *txn);

/* store/journal.c. open: opens (with create, creating and zero-filling)
 * the journal in dir and applies its records of the current checkpoint to
 * the store (in jtxn); without create and without a journal, does nothing; replay: the same from an aborted jtxn, after a failed checkpoint.
 * append: writes the record of n entries (done's u64-length-prefixed form)
 * from index first, with the turn's log keep, and syncs it; 0 or an errno. reset: after a checkpoint. */
int store_journal_open(struct store *s, const char *dir, int create, char *err, size_t errlen);
int store_journal_replay(struct store *s, char *err, size_t errlen);
int store_journal_append(struct store *s, const struct resp_buf *done, uint64_t first, uint64_t n,
                         uint64_t keep);
void store_journal_reset(struct store *s);
void store_journal_close(struct store *s);
/* Begins jtxn (after which reads see it). apply_record: applies a journal
 * record's count entries (as store_txn_apply, from index first) in jtxn,
 * appends them to the Raft log with keep and records the meta values, as
 * the turn that wrote it did; on failure *failed_at is the entry. */
int store_jtxn_begin(struct store *s);
int store_apply_record(struct store *s, uint64_t first, uint64_t count, uint64_t keep,
                       const unsigned char *p, uint64_t len, uint64_t *failed_at);
/* Reads applied index, version, timestamp and checkpoint epoch from txn. */
void store_load_meta(struct store *s, MDB_txn *txn);
extern const char STORE_META_EPOCH[];

/* store/log.c on the store's environment. attach: after the store's meta is
 * loaded; fails (STORE_ECORRUPT, message in err) when the log ends above
 * applied_index. reset: at store_txn_begin. lost: the store restarted its
 * LMDB txn (MAP_FULL replay). failed: a log write of this txn failed. */
int store_log_attach(struct store *s, char *err, size_t errlen);
void store_log_detach(struct store *s);
void store_log_txn_reset(struct store *s);
void store_log_txn_lost(struct store *s);
void store_log_txn_mark_failed(struct store *s);
int store_log_txn_failed(struct store *s);
/* Opens the log's database in txn, moving a log of the older one-record-
 * per-entry layout into it; an LMDB code. */
int store_log_open_db(MDB_txn *txn, MDB_dbi *log);

/* The context of one command execution. */
struct store_ctx {
    struct store *s;
    struct store_txn *t; /* NULL for reads */
    MDB_txn *txn;
    int write;          /* may modify (apply) */
    uint64_t now;       /* ms: the entry's timestamp, or the read's clock */
    uint64_t rng;       /* PRNG state (apply: from the entry's seed) */
    struct resp_buf *out;
    int err;            /* first LMDB error, 0 if none */
    int blocked;        /* a blocking command found nothing */
    int needs_write;    /* a read found it must write: STORE_EWRITE */
    int in_multi;       /* inside EXEC: blocking commands do not block */
    int count_lookups;  /* a read command: key lookups count as hits or misses */
    int replacing;      /* store_db_replace deleted the key the next write creates */
    int quiet_miss;     /* a miss counts, but is no keymiss event (MEMORY USAGE) */
};

/* A keyspace lookup result. The payload points into LMDB memory, valid until
 * the next write in the transaction. */
struct store_rec {
    int type;
    int64_t expire;
    uint64_t version;
    const unsigned char *payload;
    size_t plen;
};

/* ----- util.c */
/* Writes zeros over [from, to) of fd (allocating file that a later write
 * then overwrites without changing the file's size): 0 or an errno. */
int store_write_zeros(int fd, uint64_t from, uint64_t to);
int store_string2l(const char *s, size_t slen, long *value);
int store_string2d(const char *s, size_t slen, double *value);
int store_string2ld(const char *s, size_t slen, long double *value);
int store_ld2string(char *buf, size_t len, long double value);
int store_ll2string(char *buf, size_t len, long long v);
int store_strcasecmp_arg(const char *arg, size_t len, const char *lit);
uint32_t store_hash32(const void *p, size_t n);
/* Where a key sits in the keyspace (the first four bytes of its database
 * keys, big-endian; SCAN's cursor). The high 24 bits hash the key without its
 * last two bytes, the low 8 bits the whole key: keys that differ only in
 * their tail (user:1000, user:1001, ...), which applications tend to write
 * together, share a bucket and so a few leaf pages, and a batch of them
 * dirties (and commits) a few pages instead of one page per key. Otherwise
 * keys spread uniformly, and keys sharing all 32 bits stay few (at most 256
 * per bucket on average), which bounds what one SCAN call must return. */
uint32_t store_key_slot(const void *key, size_t klen);
uint64_t store_rng_next(uint64_t *state);

/* Fixed-width integers in records and keys: little-endian in values,
 * big-endian in keys (so LMDB's byte order is numeric order). Inline: every
 * record access goes through them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define STORE_LE(x, bits) (x)
#else
#define STORE_LE(x, bits) __builtin_bswap##bits(x)
#endif

static inline void store_put_u64(unsigned char *p, uint64_t v)
{
    v = STORE_LE(v, 64);
    memcpy(p, &v, 8);
}

static inline uint64_t store_get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return STORE_LE(v, 64);
}

static inline void store_put_u32(unsigned char *p, uint32_t v)
{
    v = STORE_LE(v, 32);
    memcpy(p, &v, 4);
}

static inline uint32_t store_get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return STORE_LE(v, 32);
}

static inline void store_put_be64(unsigned char *p, uint64_t v)
{
    v = __builtin_bswap64(STORE_LE(v, 64));
    memcpy(p, &v, 8);
}

static inline uint64_t store_get_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(STORE_LE(v, 64));
}

static inline void store_put_be32(unsigned char *p, uint32_t v)
{
    v = __builtin_bswap32(STORE_LE(v, 32));
    memcpy(p, &v, 4);
}

static inline uint32_t store_get_be32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(STORE_LE(v, 32));
}

/* ----- db.c: keyspace and members */
#define STORE_MAX_DBKEY 511 /* LMDB's default maximum key size */

/* Replies that many commands share. */
#define STORE_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
#define STORE_ENOTINT "ERR value is not an integer or out of range"
#define STORE_ESYNTAX "ERR syntax error"
#define STORE_ENOTFLOAT "ERR value is not a valid float"

/* The longest string a command may make: Redis's proto-max-bulk-len default. */
#define STORE_PROTO_MAX_BULK_LEN (512LL * 1024 * 1024)

int store_db_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r);
/* store_db_lookup as Redis's lookupKeyRead, which some writes make too
 * (GETDEL, the sources of the STORE forms): it counts as a keyspace hit or
 * miss, and a miss is a "keymiss" event. Reads' lookups all count. */
int store_db_lookup_read(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r);
/* Lookup that answers WRONGTYPE when the key exists with another type:
 * returns 1 found (right type), 0 missing, -1 wrong type (reply written). */
int store_db_lookup_type(struct store_ctx *c, const char *key, size_t klen, int type,
                         struct store_rec *r);
/* store_db_lookup_type as a read (store_db_lookup_read); type 0: any. */
int store_db_lookup_read_type(struct store_ctx *c, const char *key, size_t klen, int type,
                              struct store_rec *r);
/* Writes the record (new version). expire < 0 keeps none. */
void store_db_put(struct store_ctx *c, const char *key, size_t klen, int type, int64_t expire,
                  const void *payload, size_t plen);
/* store_db_put when the caller has just looked the key up (found, old). */
void store_db_put_known(struct store_ctx *c, const char *key, size_t klen, int type,
                        int64_t expire, const void *payload, size_t plen, int found,
                        const struct store_rec *old);
/* Rewrites only the header payload of an existing record keeping expire
 * (new version). */
void store_db_put_keep(struct store_ctx *c, const char *key, size_t klen,
                       const struct store_rec *r, const void *payload, size_t plen);
/* store_db_put_keep that keeps the key's version too: a change of
 * encoding, which Redis does not count as a write (WATCH stays valid). */
void store_db_put_same_version(struct store_ctx *c, const char *key, size_t klen,
                               const struct store_rec *r, const void *payload, size_t plen);
void store_db_touch(struct store_ctx *c, const char *key, size_t klen, const struct store_rec *r);
/* Deletes the key and all its members. Returns 1 if it existed (not expired). */
int store_db_delete(struct store_ctx *c, const char *key, size_t klen);
/* The STORE forms' destination, before they write their result: when the
 * result is empty, Redis's dbDelete, which takes the key even if it has
 * expired (it is "del", not "expired"); otherwise the store_db_delete of a
 * key about to be written anew, as Redis's setKey overwrites one, after
 * which the key written is "new" (a keyspace event) only if this found
 * none. Returns whether a key was deleted. */
int store_db_replace(struct store_ctx *c, const char *key, size_t klen, int empty);
void store_db_set_expire(struct store_ctx *c, const char *key, size_t klen,
                         const struct store_rec *r, int64_t expire);
void store_db_ready(struct store_ctx *c, const char *key, size_t klen);
int store_db_key_ok(struct store_ctx *c, size_t klen, size_t extra);

/* members: composite key = slot(4) klen(4) key sub. */
size_t store_mkey(unsigned char *buf, const char *key, size_t klen, const void *sub,
                  size_t sublen);
int store_m_get(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                size_t sublen, MDB_val *val);
void store_m_put(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                 size_t sublen, const void *val, size_t vlen);
int store_m_del(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                size_t sublen);

/* Iterates the members of key in order. Callback returns 0 to go on, 1 to
 * stop. sub/val point into LMDB memory valid during the callback. */
typedef int (*store_m_iter_cb)(void *arg, const unsigned char *sub, size_t sublen,
                               const unsigned char *val, size_t vlen);
int store_m_iter(struct store_ctx *c, const char *key, size_t klen, const void *from,
                 size_t fromlen, int reverse, store_m_iter_cb cb, void *arg);
void store_m_del_all(struct store_ctx *c, const char *key, size_t klen);

void store_ctx_mdb_err(struct store_ctx *c, int rc);
/* Records keyspace event `event` (a string literal) of class cls on key,
 * when that class is on (store_set_events). */
void store_notify(struct store_ctx *c, unsigned cls, const char *event, const char *key,
                  size_t klen);
int64_t store_rec_count(const struct store_rec *r);

/* ----- fixed float results (t_string.c, t_hash.c) */
int store_float_prepare(struct store_ctx *c, int argc, char **argv, size_t *len, char *buf,
                        size_t cap, int *n, uint64_t *version);
void store_float_apply(struct store_ctx *c, int argc, char **argv, size_t *len, const char *res,
                       size_t rlen);
int store_hash_set_field(struct store_ctx *c, const char *key, size_t klen, const char *f,
                         size_t flen, const char *v, size_t vlen);

/* ----- t_dump.c: Redis's crc64 (DUMP payloads), and a payload's check: 0
 * a value RESTORE takes, -1 a malformed one, -2 a wrong version or
 * checksum. */
uint64_t store_crc64(uint64_t crc, const void *data, size_t len);
int store_dump_payload_check(const void *payload, size_t len);

/* ----- walks over a collection's elements, for SORT (t_sort.c): cb gets
 * each element, valid during the call, and returns 1 to stop. */
typedef int (*store_elem_cb)(void *arg, const unsigned char *e, size_t elen);
/* The list at key (r: its record) from index start toward the tail, or,
 * when reverse, from index start counted from the tail toward the head. */
void store_list_walk(struct store_ctx *c, const char *key, size_t klen,
                     const struct store_rec *r, long start, int reverse, store_elem_cb cb,
                     void *arg);
/* Replaces key (of any type) with the list e[0..n), none when n is 0
 * (SORT ... STORE, and its events). */
/* Writes the list e[0..n) at key, which holds nothing (n > 0). */
void store_list_write(struct store_ctx *c, const char *key, size_t klen,
                      const unsigned char *const *e, const size_t *elen, long n);
void store_list_create(struct store_ctx *c, const char *key, size_t klen,
                       const unsigned char *const *e, const size_t *elen, long n);
/* The members of the sorted set at key in rank order (from the highest
 * score when reverse), from rank start. */
void store_zset_walk(struct store_ctx *c, const char *key, size_t klen, long start,
                     int reverse, store_elem_cb cb, void *arg);
/* Whether the sorted set r has Redis's skiplist encoding, which keeps -0
 * scores (a listpack stores them as 0); to_skiplist gives it that, and
 * returns 1 when a score is subnormal: Redis converts by parsing the
 * listpack's scores back from text, and such a score leaves errno ERANGE
 * behind it. */
int store_zset_is_skiplist(const struct store_rec *r);
/* Writes the sorted set of the distinct members m[i] with scores sc[i] at
 * key, which holds nothing (n > 0), in the encoding Redis gives a set of
 * that shape (zsetConvertToListpackIfNeeded). */
void store_zset_write(struct store_ctx *c, const char *key, size_t klen,
                      const unsigned char *const *m, const size_t *ml, const double *sc, long n);
/* For geo (t_geo.c): a member's score (1, or 0 when absent); a walk of the
 * members from score min upward in the index's order, cb returning 1 to
 * stop; and dst replaced by the sorted set of m[i] with scores sc[i],
 * deleted when n is 0, replying its size (the STORE forms). */
typedef int (*store_zscore_cb)(void *arg, const unsigned char *m, size_t ml, double score);
int store_zset_score(struct store_ctx *c, const char *key, size_t klen, const void *m,
                     size_t ml, double *score);
void store_zset_walk_scores(struct store_ctx *c, const char *key, size_t klen, double min,
                            store_zscore_cb cb, void *arg);
void store_zset_store(struct store_ctx *c, const char *dst, size_t dlen,
                      const unsigned char *const *m, const size_t *ml, const double *sc, long n,
                      const char *event);
int store_zset_to_skiplist(struct store_ctx *c, const char *key, size_t klen,
                           const struct store_rec *r);

/* ----- command handlers */
typedef void (*store_cmd_fn)(struct store_ctx *c, int argc, char **argv, size_t *len);

struct store_cmd {
    const char *name;
    int arity;
    int cls; /* enum store_cmd_class */
    unsigned flags;
    store_cmd_fn fn;
};

const struct store_cmd *store_cmd_find(const char *name, size_t len);
void store_exec_cmd(struct store_ctx *c, int argc, char **argv, size_t *len);

/* The pops that walk their keys for the first with something to pop:
 * BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, LMPOP, ZMPOP, BLMPOP, BZMPOP. pop
 * returns 1 when it popped from the key and replied, 0 when the key holds
 * nothing, -1 after an error reply. */
struct store_pop {
    int first, nkeys; /* the keys: argv[first] to argv[first + nkeys - 1] */
    int where;        /* 0: LEFT or MIN, 1: RIGHT or MAX */
    long count;       /* 1 unless given */
    int nested;       /* MPOP's reply, [key, [popped, ...]]; else [key, popped] */
};
typedef int (*store_pop_fn)(struct store_ctx *c, const char *key, size_t klen,
                            const struct store_pop *p);
/* Parses the timeout at argv[timeout] (0: the pop does not block), offers
 * each key in turn to pop, and with none to pop from blocks the client or
 * (not blocking, or inside EXEC) replies a null array. */
void store_pop_first(struct store_ctx *c, char **argv, size_t *len, int timeout,
                     store_pop_fn pop, const struct store_pop *p);
/* LMPOP, ZMPOP, and with block BLMPOP, BZMPOP (timeout at argv[1]): checks
 * numkeys, the direction (w0 or w1) and COUNT as Redis does, then
 * store_pop_first. */
void store_mpop(struct store_ctx *c, int argc, char **argv, size_t *len, int block,
                const char *w0, const char *w1, store_pop_fn pop);

#define STORE_DECL(n) void store_cmd_##n(struct store_ctx *c, int argc, char **argv, size_t *len)
#include "store/cmds.h"

#endif
