/* store: LMDB storage of a ferry node.
 *
 * (On branch `raft` this header holds only the Raft log section; the rest of
 * the store API lives on branch `store`, whose store.h reserves this section
 * for store/log.c. Merging keeps theirs and puts this section in place of the
 * reserved one.) */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* ------------------------------------------------------------------ Raft log storage
 * The Raft log, hard state and snapshot metadata in an LMDB environment:
 *   "log"  big-endian u64 index -> u64 term | u8 type | u32 CRC32C | data
 *          (the CRC covers term, type and data: a damaged record is reported,
 *          never returned);
 *   "meta" "raft.hs"   -> term, vote, commit (u64 each, little endian)
 *          "raft.snap" -> index, term, configuration (raft_conf_encode)
 *          "applied"   -> the state machine's applied index.
 * The log always holds the entries (snapshot index, last index] without a gap.
 *
 * Every change goes through a write transaction (struct store_log_txn), so
 * the entries, the hard state and the applied index of one turn of the node
 * commit together; a commit is synced unless opened with STORE_LOG_NOSYNC.
 * Until the store's own environment (branch `store`) is merged, store_log_open
 * opens a self-contained environment; the transaction API is the seam where
 * the store's apply transaction plugs in.
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

#endif
