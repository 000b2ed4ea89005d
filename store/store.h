/* store: the Redis data model on LMDB.
 *
 * One LMDB environment per node (one directory). Named databases:
 *   "meta"    applied index, version counter, timestamp high-water mark (and,
 *             from the Raft work, hard state and membership);
 *   "raftlog" the Raft log (runs of entries under big-endian index keys),
 *             owned by store/log.c;
 *   "keyspace" key -> type, absolute expiry (ms), per-key version and the
 *             value of a string inline, or a collection's header;
 *   "items"   members of collections under composite keys (hash fields, set
 *             members, list items by position, sorted-set member->score and
 *             the score-ordered index);
 *   "expiry"  absolute expiry (ms) + key, for active expiry.
 * Keys are placed by a 32-bit slot (store_key_slot in store_int.h) that
 * keeps keys differing only in their last two bytes together.
 *
 * The write path is split in two, so that the store can be the state machine
 * of a Raft group:
 *   - store_prepare (leader) turns a client command into an entry: a
 *     self-contained byte string with the leader's timestamp (never going
 *     backwards), a random seed for commands that need randomness, and the
 *     command. Relative TTLs are resolved against the entry's timestamp.
 *   - store_txn_apply (every replica) executes an entry: a pure function of
 *     (state, entry) with no clock and no randomness of its own. Applying a
 *     batch and recording applied_index happen in one write transaction
 *     (store_txn_begin ... store_txn_commit).
 * Reads run against committed state in a read transaction (store_read),
 * with lazy expiry against the caller's clock; expired keys are deleted only
 * through entries (store_prepare_expire).
 *
 * Threading: a struct store and its transactions belong to one thread. The
 * calls that read the store outside a transaction (store_read, store_prepare,
 * store_key_version, the counts, store_dump) are made between transactions,
 * not while one is open.
 * Errors: functions return 0 (or a documented non-negative value) or a
 * negative STORE_E* code; store_strerror names it. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "resp/resp.h"

enum store_error {
    STORE_OK = 0,
    STORE_EFULL = -1,    /* the map is full: raise store-size */
    STORE_EIO = -2,      /* an I/O or LMDB failure */
    STORE_EINVAL = -3,   /* a malformed entry or argument */
    STORE_ECORRUPT = -4, /* on-disk data that this code cannot read */
    STORE_ETOOBIG = -5,  /* a key or member longer than STORE_MAX_KEY_LEN: the
                          * entry changed nothing (same on every replica) */
    STORE_EDISK = -6,    /* the file system refused a commit (a full disk, an
                          * I/O error): none of it took effect, the last
                          * commit stands; the reason is store_last_errno */
    STORE_EBUSY = -7,    /* another store (process) has the directory open */
    STORE_EFATAL = -8,   /* a failed write left LMDB unusable (MDB_PANIC):
                          * nothing more can be read or written until the
                          * store is opened again, which finds the last
                          * commit that was whole */
    STORE_EWRITE = -9,   /* a read that must write (SORT_RO gives a sorted set
                          * Redis's skiplist encoding, as Redis 7.0 does; a
                          * lookup found a key expired, which Redis deletes):
                          * it replied nothing; run it as a write instead */
};

/* In the store's directory, beside LMDB's files: the owner's lock and pid. */
#define STORE_LOCK_FILE "store.lock"

/* LMDB indexes at most 511 bytes per record key; a Redis key, and a key plus
 * a collection member, must fit in that with the store's prefixes. */
#define STORE_MAX_KEY_LEN 490

const char *store_strerror(int err);

struct store;
struct store_txn;

/* Open flags. */
enum store_open_flag {
    STORE_NOSYNC = 1u << 0, /* `sync no`: commits are not fsynced */
};

/* Opens (creating if needed) the environment in directory dir, which must
 * exist, with a map of map_size bytes. On failure returns a negative code and
 * writes a message into err. The returned store is owned by the caller;
 * release it with store_close (which aborts nothing: every transaction must
 * be finished first). One store at a time owns a directory (it caches what
 * it committed): while one is open, another open of the same directory, from
 * any process, fails with STORE_EBUSY. */
int store_open(struct store **out, const char *dir, size_t map_size, unsigned flags,
               char *err, size_t errlen);
void store_close(struct store *s); /* NULL is a no-op */

/* Keeps at least `ahead` bytes of zero-filled (allocated) file beyond the
 * data LMDB uses, writing at most `chunk` bytes per call (never past the map
 * size). Commits that grow the file then overwrite allocated blocks, and
 * their fdatasync has no file-system metadata to journal: it costs about
 * half as much. Call it between write transactions (at open, on a timer).
 * Returns the bytes written (0: nothing to do) or STORE_EIO. */
long long store_preallocate(struct store *s, size_t ahead, size_t chunk);

/* With `sync` on (no STORE_NOSYNC), a commit appends its entries to the
 * journal and syncs that; LMDB's files take them at a checkpoint, which a
 * commit makes when the journal has grown enough and which the owner also
 * calls when idle (then store_preallocate has work to do). Returns 0,
 * STORE_EDISK or STORE_EFULL (the writes stay in the journal and in what
 * reads see; a later checkpoint takes them), or STORE_EFATAL. Without a
 * journal, a no-op. */
int store_checkpoint(struct store *s);

/* SAVE: makes everything committed so far part of LMDB's synced files. With
 * the journal, a checkpoint; without one (`sync no`), LMDB's files synced
 * now. Returns what store_checkpoint does, or STORE_EDISK when the sync
 * fails (store_last_errno says why). */
int store_save(struct store *s);

/* A commit checkpoints once the journal since the last checkpoint holds
 * `bytes` bytes or `entries` entries (0: the default, STORE_CKPT_BYTES and
 * STORE_CKPT_ENTRIES). Larger: fewer checkpoints, so a page that many turns
 * touch is written fewer times; but more dirty pages held in memory until
 * the checkpoint (LMDB keeps them), and more journal to replay after a
 * crash. Takes effect at the next commit. */
#define STORE_CKPT_BYTES ((uint64_t)2 << 20)
#define STORE_CKPT_ENTRIES 8192
void store_set_checkpoint_every(struct store *s, uint64_t bytes, uint64_t entries);

/* The errno of the last commit that failed with STORE_EDISK (ENOSPC for a
 * full disk), 0 if none has. */
int store_last_errno(const struct store *s);

/* The map size in bytes as opened. */
size_t store_map_size(const struct store *s);
/* The index of the last applied entry (0 for a fresh store). */
uint64_t store_applied_index(const struct store *s);
/* The highest entry timestamp applied so far (ms); prepare never goes below. */
uint64_t store_last_ts(const struct store *s);
/* Number of keys in committed state, expired-but-not-yet-deleted included. */
uint64_t store_key_count(struct store *s);
/* Number of keys with a TTL in committed state. */
uint64_t store_expires_count(struct store *s);

/* What INFO reports of the store, counted since it was opened. */
struct store_stats {
    uint64_t keyspace_hits;   /* keys read commands found ... */
    uint64_t keyspace_misses; /* ... and did not (absent or expired) */
    uint64_t expired_keys;    /* deleted as expired by committed entries */
    uint64_t used_bytes;      /* of the data file, in pages in use (filled by the call) */
    uint64_t checkpoints;     /* journal checkpoints committed ... */
    uint64_t checkpoint_failures; /* ... and refused (the journal keeps the writes) */
    uint64_t checkpoint_usec; /* time spent in them */
    uint64_t journal_bytes;   /* of records since the last checkpoint (filled by the call) */
    uint64_t saves;           /* checkpoints and store_save syncs that succeeded ... */
    uint64_t last_save_time;  /* ... the last one's Unix time (the opening's before one) */
    uint64_t changes_since_save; /* entries applied since then (filled by the call) */
};
void store_get_stats(struct store *s, struct store_stats *out);

/* ------------------------------------------------------------------ commands
 * Classification of a request by its first argument (case-insensitive). */
enum store_cmd_class {
    STORE_CLASS_UNKNOWN = 0, /* not a data command of the store */
    STORE_CLASS_READ = 1,    /* served by store_read */
    STORE_CLASS_WRITE = 2,   /* served by store_prepare + store_txn_apply */
};

/* Flags returned by store_command_flags (beyond the class). */
enum store_cmd_flag {
    STORE_CMD_BLOCKING = 1u << 0, /* BLPOP/BRPOP/BLMOVE: may block */
    STORE_CMD_RANDOM = 1u << 1,   /* uses randomness (entry carries a seed) */
};

/* Returns the class (enum store_cmd_class); *flags (when not NULL) gets
 * enum store_cmd_flag bits. */
int store_command_class(const char *name, size_t len, unsigned *flags);

/* Appends the Redis arity error to reply when argc does not fit the command
 * and returns 1; returns 0 when the arity is fine (or the command unknown). */
int store_command_check_arity(int argc, char **argv, size_t *argvlen, struct resp_buf *reply);

/* Appends Redis's reply to a command it does not know:
 * "-ERR unknown command 'x', with args beginning with: 'a' 'b' ". */
void store_reply_unknown(int argc, char **argv, size_t *argvlen, struct resp_buf *reply);

/* Runs a read command (STORE_CLASS_READ) against committed state as of
 * now_ms and appends its reply to reply. Returns 0, STORE_EIO, or
 * STORE_EWRITE (nothing appended) when the command must run as a write:
 * store_prepare and store_txn_apply take it as they take any write. */
int store_read(struct store *s, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
               struct resp_buf *reply);

/* Runs a read command inside the write transaction t (so it sees what t has
 * applied so far), as of the timestamp of t's last entry or now_ms,
 * whichever is later. Returns as store_read does. */
int store_txn_read(struct store_txn *t, int argc, char **argv, size_t *argvlen,
                   uint64_t now_ms, struct resp_buf *reply);

/* Parses a blocking command's timeout (seconds, a float) as Redis does:
 * on success *deadline is an absolute time in ms (0 = block forever) and 0
 * is returned; on error Redis's error reply is appended and -1 returned. */
int store_parse_timeout(const char *s, size_t len, uint64_t now_ms, long long *deadline,
                        struct resp_buf *reply);

/* ------------------------------------------------------------------ entries
 * store_prepare turns a write command into an entry appended to entry.
 * Returns 1 when an entry was produced, 0 when the command was answered at
 * once (an arity or syntax error that needs no state) with the reply appended
 * to reply. now_ms is the leader's clock; the entry's timestamp is
 * max(now_ms, the last timestamp this store prepared or applied). seed is
 * used only by commands with STORE_CMD_RANDOM. INCRBYFLOAT and HINCRBYFLOAT
 * are computed here, against committed state, and the entry carries the
 * result (apply does no long-double arithmetic unless another write to the
 * key got in between). */
int store_prepare(struct store *s, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
                  uint64_t seed, struct resp_buf *entry, struct resp_buf *reply);

/* store_prepare against the state of write transaction t (what t has
 * applied so far): the single-node path prepares inside its batch. */
int store_txn_prepare(struct store_txn *t, int argc, char **argv, size_t *argvlen,
                      uint64_t now_ms, uint64_t seed, struct resp_buf *entry,
                      struct resp_buf *reply);

/* MULTI/EXEC as one entry: begin with the watched keys and the versions the
 * client saw (store_key_version), add each queued command, and the entry is
 * complete. Applying it replies *-1 when a watched version changed, else an
 * array of the commands' replies. */
void store_prepare_exec_begin(struct store *s, uint64_t now_ms, uint64_t seed,
                              struct resp_buf *entry);
void store_prepare_exec_watch(struct resp_buf *entry, const char *key, size_t klen,
                              uint64_t version);
void store_prepare_exec_cmd(struct resp_buf *entry, int argc, char **argv, size_t *argvlen);
void store_prepare_exec_end(struct resp_buf *entry);

/* Active expiry: collects up to max keys whose expiry is <= now_ms (from
 * committed state) into an entry that deletes those still expired when it is
 * applied. Returns how many keys it holds (0: no entry was written). */
int store_prepare_expire(struct store *s, uint64_t now_ms, int max, struct resp_buf *entry);

/* The version of key as of committed state (0 when it does not exist).
 * Every write to a key gives it a new version, never reused. */
uint64_t store_key_version(struct store *s, const char *key, size_t klen, uint64_t now_ms);
uint64_t store_txn_key_version(struct store_txn *t, const char *key, size_t klen);
/* Whether an EXEC entry, its watches written (store_prepare_exec_watch)
 * and its commands not yet, will abort when applied in t next, a WATCHed
 * key having changed: the same check store_txn_apply makes, at the
 * entry's own time, and no write. 1 aborts, 0 runs. */
int store_txn_exec_aborts(struct store_txn *t, const void *entry, size_t len);

/* ------------------------------------------------------------------ transactions
 * One write transaction at a time. store_txn_begin returns a handle owned by
 * the store, valid until store_txn_commit or store_txn_abort. */
int store_txn_begin(struct store *s, struct store_txn **out);

/* Applies one entry with log index index (> the last applied index; 0 means
 * "the next one"), appending the client reply to reply (may be NULL).
 * Returns 0; on STORE_EFULL (the map filled), STORE_ETOOBIG, STORE_EINVAL (a
 * malformed entry) or STORE_EIO the transaction holds nothing of this entry
 * (it was rolled back to before it), nothing is appended to reply, and the
 * caller may go on or commit.
 * When the entry is a blocking command that found nothing to pop, nothing
 * is appended to reply and *blocked (when not NULL) is set to 1. */
int store_txn_apply(struct store_txn *t, uint64_t index, const void *entry, size_t len,
                    struct resp_buf *reply, int *blocked);

/* Makes store_txn_apply call cb as it runs an EXEC entry's commands:
 * cb(arg, -1) before the first, then cb(arg, i) after the i-th (from 0),
 * so that the caller can time each one, as Redis times the commands of a
 * transaction one by one. The store itself reads no clock. cb NULL: none.
 * Lasts until changed or the transaction ends. */
typedef void (*store_exec_cmd_cb)(void *arg, int i);
void store_txn_on_exec_cmd(struct store_txn *t, store_exec_cmd_cb cb, void *arg);

/* Lists keys that became non-empty lists (pushed to or created), or sorted
 * sets that were created, since the last call in this transaction: calls cb
 * for each, then forgets them. Used to serve blocked clients in the order
 * Redis does. */
typedef void (*store_ready_cb)(void *arg, const char *key, size_t klen);
void store_txn_ready_keys(struct store_txn *t, store_ready_cb cb, void *arg);

/* A blocking command (STORE_CMD_BLOCKING) that blocked: the index of its
 * timeout argument, and whether it waits on key and key now holds what it
 * pops (Redis 7.0 leaves a BLPOP blocked on a key that became a sorted set,
 * and a BZPOPMIN on one that became a list). When it does, key is moved
 * first among the command's keys in argv, so that running the command
 * again pops from it: Redis serves keys in the order they became ready. */
int store_blocking_timeout_index(int argc, char **argv, size_t *argvlen);
int store_txn_blocked_on(struct store_txn *t, int argc, char **argv, size_t *argvlen,
                         const char *key, size_t klen);

/* Lists keys deleted (by a command, or as expired) since the last call in
 * this transaction, for WATCH: a key that was missing when watched and was
 * created and deleted since has the same version (none) but must abort EXEC.
 * key is valid during the call only. */
void store_txn_deleted_keys(struct store_txn *t, store_ready_cb cb, void *arg);

/* Commits (and, unless STORE_NOSYNC, syncs) the transaction; the handle is
 * gone either way. Returns 0, STORE_EFULL, STORE_EDISK, STORE_EFATAL or
 * STORE_EIO. */
int store_txn_commit(struct store_txn *t);
void store_txn_abort(struct store_txn *t);

/* ------------------------------------------------------------------ keyspace events
 * Redis's keyspace notifications: what each command did to which key, in
 * the order Redis reports it ("set", "lpush", "del", "expired", ...). The
 * classes are Redis's NOTIFY_* bits, one per letter of
 * notify-keyspace-events. Apply records an event only when its class is
 * on (store_set_events), together with K or E; events are recorded as
 * entries run (store_txn_apply, and reads: "keymiss") into one list that
 * the owner takes with store_events_each and empties with
 * store_events_clear. An entry that fails takes its events back; a
 * transaction that does not commit leaves its events to be cleared by the
 * owner, unpublished. Replaying entries (after MAP_FULL, or the journal)
 * records none again. */
enum store_event_class {
    STORE_EV_KEYSPACE = 1u << 0, /* K: __keyspace@0__:<key> <event> */
    STORE_EV_KEYEVENT = 1u << 1, /* E: __keyevent@0__:<event> <key> */
    STORE_EV_GENERIC = 1u << 2,  /* g */
    STORE_EV_STRING = 1u << 3,   /* $ */
    STORE_EV_LIST = 1u << 4,     /* l */
    STORE_EV_SET = 1u << 5,      /* s */
    STORE_EV_HASH = 1u << 6,     /* h */
    STORE_EV_ZSET = 1u << 7,     /* z */
    STORE_EV_EXPIRED = 1u << 8,  /* x */
    STORE_EV_EVICTED = 1u << 9,  /* e (nothing is evicted: noeviction) */
    STORE_EV_STREAM = 1u << 10,  /* t (no streams) */
    STORE_EV_KEYMISS = 1u << 11, /* m */
    STORE_EV_MODULE = 1u << 13,  /* d (no modules) */
    STORE_EV_NEW = 1u << 14,     /* n */
};
/* Redis's 'A': every class but m and n. */
#define STORE_EV_ALL                                                                       \
    (STORE_EV_GENERIC | STORE_EV_STRING | STORE_EV_LIST | STORE_EV_SET | STORE_EV_HASH |   \
     STORE_EV_ZSET | STORE_EV_EXPIRED | STORE_EV_EVICTED | STORE_EV_STREAM | STORE_EV_MODULE)

/* Parses notify-keyspace-events' letters into classes as Redis does (any
 * order, repeats allowed); -1 for a letter that is not a class. format:
 * Redis's canonical string of classes ("AKE", "Kx$"...) into buf (at
 * least 16 bytes). */
long store_events_parse(const char *s, size_t len);
void store_events_format(unsigned classes, char *buf);

void store_set_events(struct store *s, unsigned classes);
/* The length of the list so far: a mark for store_events_each. */
size_t store_events_mark(const struct store *s);
/* Calls cb for each event recorded between the marks from and to; event
 * and key are valid during the call. */
typedef void (*store_event_cb)(void *arg, const char *event, const char *key, size_t klen);
void store_events_each(const struct store *s, size_t from, size_t to, store_event_cb cb,
                       void *arg);
/* Forgets the events recorded from mark on (0: all of them). */
void store_events_clear(struct store *s, size_t mark);

/* ------------------------------------------------------------------ testing
 * Appends a canonical dump of every database except "raftlog" (key and value
 * bytes of every record, in order) to out. Two stores that applied the same
 * entries produce identical dumps. */
int store_dump(struct store *s, struct resp_buf *out);

/* ------------------------------------------------------------------ Raft log storage
 * The Raft log, hard state and snapshot metadata in an LMDB environment:
 *   "raftlog" runs of consecutive entries, one record per run (a turn's
 *          entries are one put): big-endian u64 index of the first entry ->
 *          u32 count | u32 offset[count] | entries, each u64 term | u8 type |
 *          u32 CRC32C | data (the CRC covers term, type and data: a damaged
 *          entry is reported, never returned). A log of the older layout,
 *          one record per entry in "log", moves into runs when opened;
 *   "meta" "raft.hs"   -> term, vote, commit (u64 each, little endian)
 *          "raft.snap" -> index, term, configuration (raft_conf_encode)
 *          "applied"   -> the state machine's applied index.
 * The log always holds the entries (snapshot index, last index] without a gap.
 *
 * Every change goes through a write transaction (struct store_log_txn), so
 * the entries, the hard state and the applied index of one turn of the node
 * commit together; a commit is synced unless opened with STORE_LOG_NOSYNC.
 * Two homes: store_log_of gives the log in the store's own environment (the
 * "raftlog" and "meta" databases above), whose writes go through store_txn_log
 * and commit with store_txn_commit, so a turn's entries, hard state, apply
 * and applied_index ("applied_index" in meta) are one LMDB transaction.
 * store_log_open opens a self-contained environment (tests, benchmarks).
 *
 * Durability: when store_log_txn_commit returns 0 (without STORE_LOG_NOSYNC)
 * everything in the transaction is on disk; after a crash the log is as of
 * the last successful commit, never part of a transaction.
 *
 * Errors: 0 or a negative STORE_LOG_E* code (store_log_strerror). Not
 * thread-safe: one struct store_log per thread. */

enum {
    STORE_LOG_OK = 0,
    STORE_LOG_EIO = -1,       /* LMDB or file-system failure */
    STORE_LOG_EFULL = -2,     /* the map is full */
    STORE_LOG_ECORRUPT = -3,  /* a record fails its checksum, or the log has a gap */
    STORE_LOG_ERANGE = -4,    /* index outside (snapshot index, last index] */
    STORE_LOG_EINVAL = -5,    /* entries not contiguous with the log, bad argument */
};
const char *store_log_strerror(int err);

#define STORE_LOG_NOSYNC 1u /* commits are not fsynced (`sync no`) */

struct store_log;
struct store_log_txn;

/* Opens (creating) the environment in directory dir, which must exist.
 * On failure *out is NULL and err holds a message. Close with store_log_close. */
int store_log_open(struct store_log **out, const char *dir, size_t map_size, unsigned flags,
                   char *err, size_t errlen);
void store_log_close(struct store_log *l); /* NULL is a no-op */

/* One write transaction at a time; the handle belongs to l and is valid until
 * commit or abort. Any failed operation leaves the transaction only abortable. */
int store_log_txn_begin(struct store_log *l, struct store_log_txn **out);
/* Deletes entries >= ents[0].index, then appends ents (contiguous; the first
 * must be <= last index + 1 and > snapshot index). */
int store_log_txn_append(struct store_log_txn *t, const struct raft_entry *ents, size_t n);
/* Deletes entries >= from (a conflicting suffix). */
int store_log_txn_truncate(struct store_log_txn *t, uint64_t from);
/* Compaction: records meta as the snapshot and deletes entries <= meta->index
 * (meta->index must be in the log or be the current snapshot index). */
int store_log_txn_compact(struct store_log_txn *t, const struct raft_snapshot_meta *meta);
/* A received snapshot: deletes every entry and records meta. */
int store_log_txn_install(struct store_log_txn *t, const struct raft_snapshot_meta *meta);
int store_log_txn_set_hard_state(struct store_log_txn *t, const struct raft_hard_state *hs);
int store_log_txn_set_applied(struct store_log_txn *t, uint64_t applied);
int store_log_txn_commit(struct store_log_txn *t);
void store_log_txn_abort(struct store_log_txn *t);

/* Writes the persistence part of a raft ready (snapshot, entries, hard state)
 * into t. The node's turn is then: begin; save the ready; apply rd.committed
 * and store_log_txn_set_applied (the store's apply joins here); commit (one
 * sync); send rd.msgs_after; raft_advance. */
int store_log_txn_save_ready(struct store_log_txn *t, const struct raft_ready *rd);
/* The same in a transaction of its own, committed (synced) on return. */
int store_log_save_ready(struct store_log *l, const struct raft_ready *rd);

/* Reads (each in its own read transaction). */
uint64_t store_log_snapshot_index(struct store_log *l);
uint64_t store_log_last_index(struct store_log *l);
int store_log_term(struct store_log *l, uint64_t index, uint64_t *term);
/* Entries [lo, hi] into a malloc'd array (each data malloc'd too); release
 * with store_log_entries_free. */
int store_log_entries(struct store_log *l, uint64_t lo, uint64_t hi, struct raft_entry **out,
                      size_t *n);
void store_log_entries_free(struct raft_entry *ents, size_t n);
/* Everything a restarting node hands to raft_new, verified on the way: no gap,
 * every checksum right. The snapshot's data is not part of the log: rs
 * carries its metadata only (the application sets data/len). Release with
 * store_log_restore_fini. */
int store_log_load(struct store_log *l, struct raft_restore *rs);
void store_log_restore_fini(struct raft_restore *rs);

/* The Raft log in s's environment, owned by s and valid until store_close
 * (store_log_close on it is a no-op). Use it for reads; store_log_txn_begin
 * and store_log_txn_commit on it return STORE_LOG_EINVAL. */
struct store_log *store_log_of(struct store *s);

/* The log side of the store write transaction t: appends, truncation, hard
 * state and compaction through it are part of t and commit or abort with it.
 * Valid until the next store_txn_apply, store_txn_commit or store_txn_abort
 * (a MAP_FULL replay restarts t's LMDB transaction: log writes made before
 * it make store_txn_commit fail with STORE_EIO rather than lose them).
 * store_log_txn_abort on it makes t's commit fail; it does not end t. */
struct store_log_txn *store_txn_log(struct store_txn *t);

/* Single node: appends every entry applied in t (store_txn_apply since
 * store_txn_begin) to the log at indexes applied_index+1.., with the hard
 * state's term (1 on a fresh store), sets the hard state's commit to the new
 * applied index, and compacts the prefix so that at most 2*keep and at least
 * keep entries stay (keep 0: never compact). Call after the turn's last
 * apply, right before store_txn_commit. A store that applied entries before
 * it kept a log gets a snapshot point at its applied index first.
 * Returns 0, or STORE_EFULL / STORE_EIO / STORE_ECORRUPT, after which t can
 * only be aborted (store_txn_commit aborts it and returns STORE_EIO). */
int store_txn_log_applied(struct store_txn *t, uint64_t keep);

#endif
