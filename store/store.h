/* store: the Redis data model on LMDB.
 *
 * One LMDB environment per node (one directory). Named databases:
 *   "meta"    applied index, version counter, timestamp high-water mark (and,
 *             from the Raft work, hard state and membership);
 *   "log"     the Raft log (big-endian index keys), owned by store/log.c;
 *   "keys"    keyspace: key -> type, absolute expiry (ms), per-key version and
 *             the value of a string inline, or a collection's header;
 *   "members" members of collections under composite keys (hash fields, set
 *             members, list items by position, sorted-set member->score and
 *             the score-ordered index);
 *   "expires" absolute expiry (ms) + key, for active expiry.
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
 * Threading: a struct store and its transactions belong to one thread.
 * Errors: functions return 0 (or a documented non-negative value) or a
 * negative STORE_E* code; store_strerror names it. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "resp/resp.h"

enum store_error {
    STORE_OK = 0,
    STORE_EFULL = -1,    /* the map is full: raise store-size */
    STORE_EIO = -2,      /* an I/O or LMDB failure */
    STORE_EINVAL = -3,   /* a malformed entry or argument */
    STORE_ECORRUPT = -4, /* on-disk data that this code cannot read */
    STORE_ETOOBIG = -5,  /* a key or member longer than STORE_MAX_KEY_LEN: the
                          * entry changed nothing (same on every replica) */
};

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
 * be finished first). */
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
 * now_ms and appends its reply to reply. Returns 0 or STORE_EIO. */
int store_read(struct store *s, int argc, char **argv, size_t *argvlen, uint64_t now_ms,
               struct resp_buf *reply);

/* Runs a read command inside the write transaction t (so it sees what t has
 * applied so far), as of the timestamp of t's last entry or now_ms,
 * whichever is later. */
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

/* Lists keys that became non-empty lists (pushed to or created) since the
 * last call in this transaction: calls cb for each, then forgets them. Used
 * to serve blocked clients in the order Redis does. */
typedef void (*store_ready_cb)(void *arg, const char *key, size_t klen);
void store_txn_ready_keys(struct store_txn *t, store_ready_cb cb, void *arg);

/* Lists keys deleted (by a command, or as expired) since the last call in
 * this transaction, for WATCH: a key that was missing when watched and was
 * created and deleted since has the same version (none) but must abort EXEC.
 * key is valid during the call only. */
void store_txn_deleted_keys(struct store_txn *t, store_ready_cb cb, void *arg);

/* Commits (and, unless STORE_NOSYNC, syncs) the transaction; the handle is
 * gone either way. Returns 0, STORE_EFULL or STORE_EIO. */
int store_txn_commit(struct store_txn *t);
void store_txn_abort(struct store_txn *t);

/* ------------------------------------------------------------------ testing
 * Appends a canonical dump of every database except "log" (key and value
 * bytes of every record, in order) to out. Two stores that applied the same
 * entries produce identical dumps. */
int store_dump(struct store *s, struct resp_buf *out);

/* ------------------------------------------------------------------ Raft log storage
 * Reserved for the Raft work (store/log.c): the "log" database and the hard
 * state in "meta" live in this environment and are written inside the same
 * write transaction as an apply. store/log.c sees the internals
 * (store/store_int.h): struct store_txn's MDB_txn (txn) and the store's
 * `log` and `meta` handles. "meta" keys used by the store itself:
 * "applied_index", "version", "last_ts" (8-byte little-endian values); pick
 * other names for hard state. The single-node path (proxy/node.c) applies
 * entries without appending them to "log". */

#endif
