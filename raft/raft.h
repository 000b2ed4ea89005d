/* raft: the Raft consensus core, a pure deterministic state machine.
 *
 * The core does no I/O, reads no clock and draws no randomness of its own: time
 * comes in through raft_tick, messages through raft_step, client requests
 * through raft_propose / raft_read_index / raft_transfer_leader /
 * raft_change_membership, and a seed for its generator through the config.
 * Everything the node must do in the world comes out of raft_ready as one
 * record (struct raft_ready): what to persist, what to send, what to apply and
 * which reads are safe. The application does it, then calls raft_advance.
 *
 * The core keeps the log entries it has not compacted in memory; the
 * application's durable log is written from raft_ready and read back only at
 * restart (struct raft_restore). Compaction is driven by snapshots the
 * application provides (raft_compact). The core keeps a copy of the latest
 * snapshot in memory, to send it in chunks; streaming it from the
 * application's storage instead is left for when snapshots grow large.
 *
 * Durability contracts (the application's side of the protocol):
 *
 *   - The application MUST make rd.hard_state, rd.entries and rd.snapshot of a
 *     ready durable (synced) before it sends any message of rd.msgs_after.
 *   - The application MAY send rd.msgs_now before or while it persists: they
 *     are a leader's replication messages, which promise nothing about the
 *     leader's own log (Raft thesis, section 10.2.1). The core only puts
 *     messages there once its term and vote are already durable.
 *   - Persisting rd.entries MUST first delete every persisted entry whose index
 *     is >= rd.entries[0].index, then append rd.entries, in one atomic step
 *     (a torn suffix must never be visible after a crash).
 *   - A non-NULL rd.snapshot MUST replace the state machine and the whole
 *     persisted log (every persisted entry is deleted), atomically.
 *   - rd.committed MUST be applied in order, after this ready's entries are
 *     persisted (or in the same atomic transaction), and MUST NOT be applied
 *     twice across a restart (persist the applied index with the
 *     application's state).
 *   - After raft_ready, the application MUST call raft_advance before any
 *     other raft_ function on that node (the core asserts it).
 *   - After raft_compact(index) returned 0, the application MUST have stored
 *     the snapshot durably before it deletes persisted entries <= index.
 *   - On restart the application MUST hand back, in struct raft_restore,
 *     exactly what it persisted: the last hard state, the snapshot and the
 *     entries after it. Anything lost makes the node unsafe to rejoin.
 *
 * Ownership: every pointer inside a struct raft_ready belongs to the node and
 * stays valid until raft_advance. Inputs (messages, proposal data, snapshot
 * data) are copied; the caller keeps ownership of what it passes in.
 *
 * Errors: functions return 0 or a negative RAFT_E* code; raft_strerror names
 * it. Out of memory aborts the process with a message.
 */
#ifndef FERRY_RAFT_H
#define FERRY_RAFT_H

#include <stddef.h>
#include <stdint.h>

#define RAFT_MAX_NODES 16         /* voters + learners in one configuration */
#define RAFT_MAX_INFLIGHT 1024    /* upper bound of config.max_inflight_msgs */
#define RAFT_MAX_FRAME (64u << 20) /* largest encoded message accepted */

enum {
    RAFT_OK = 0,
    RAFT_ENOTLEADER = -1,   /* only the leader may do this */
    RAFT_ETOOBIG = -2,      /* flow control: too many uncommitted bytes */
    RAFT_EBUSY = -3,        /* a membership change is still uncommitted */
    RAFT_ENOTREADY = -4,    /* the leader has not committed an entry of its term */
    RAFT_ETRANSFER = -5,    /* a leadership transfer is in progress */
    RAFT_EINVAL = -6,       /* bad argument */
    RAFT_ECORRUPT = -7,     /* a frame failed to decode (length, checksum, field) */
    RAFT_ESHORT = -8,       /* decoding needs more bytes */
    RAFT_ENOTCAUGHTUP = -9, /* the learner's log is behind the leader's commit */
    RAFT_ECOMPACTED = -10,  /* the requested index is compacted or not applied */
};
const char *raft_strerror(int err);

enum raft_role { RAFT_FOLLOWER, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* application data */
    RAFT_ENTRY_NOOP = 1,   /* appended by each new leader; apply as nothing */
    RAFT_ENTRY_CONF = 2,   /* a configuration (raft_conf_encode); the core acts on it */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type;     /* enum raft_entry_type */
    uint32_t len;
    uint8_t *data;    /* len bytes; NULL when len == 0 */
};

struct raft_hard_state {
    uint64_t term;
    uint64_t vote;    /* 0: no vote in this term */
    uint64_t commit;
};

/* Node ids are non-zero. A node is a voter or a learner, never both. */
struct raft_conf {
    uint32_t n_voters;
    uint32_t n_learners;
    uint64_t voters[RAFT_MAX_NODES];
    uint64_t learners[RAFT_MAX_NODES];
};

struct raft_snapshot_meta {
    uint64_t index;   /* last entry the snapshot covers */
    uint64_t term;    /* term of that entry */
    struct raft_conf conf; /* configuration as of index */
};

struct raft_snapshot {
    struct raft_snapshot_meta meta;
    const uint8_t *data;
    size_t len;
};

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,
    RAFT_MSG_APPEND_RESP,
    RAFT_MSG_VOTE,
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_PREVOTE,
    RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_HEARTBEAT,
    RAFT_MSG_HEARTBEAT_RESP,
    RAFT_MSG_SNAPSHOT,      /* one chunk of a snapshot */
    RAFT_MSG_SNAPSHOT_RESP, /* chunk acknowledged; ctx = bytes received so far */
    RAFT_MSG_TIMEOUT_NOW,   /* leadership transfer: campaign now */
    RAFT_MSG_READ_INDEX,    /* follower read: ctx, answered by the leader */
    RAFT_MSG_READ_INDEX_RESP, /* ctx and the read index (REJECT: cannot serve) */
    RAFT_MSG_TYPE_MAX = RAFT_MSG_READ_INDEX_RESP,
};

#define RAFT_MSG_FLAG_REJECT 1u   /* a response that refuses */
#define RAFT_MSG_FLAG_TRANSFER 2u /* a vote for a leadership transfer: ignore leases */

/* One message. Which fields matter depends on type; unused ones are zero. */
struct raft_msg {
    uint8_t type;         /* enum raft_msg_type */
    uint8_t flags;        /* RAFT_MSG_FLAG_* */
    uint64_t from, to, term;
    uint64_t log_term;    /* APPEND: prev term; (PRE)VOTE: last term; reject: hint term */
    uint64_t index;       /* APPEND: prev index; (PRE)VOTE: last index; resps: index */
    uint64_t commit;
    uint64_t hint;        /* APPEND_RESP reject: where the follower's log may match */
    uint64_t ctx;         /* HEARTBEAT(_RESP): read round; SNAPSHOT(_RESP): offset */
    uint32_t n_entries;
    struct raft_entry *entries;
    /* RAFT_MSG_SNAPSHOT only */
    struct raft_snapshot_meta snap;
    uint64_t snap_total;  /* whole snapshot size; the chunk is [ctx, ctx+snap_len) */
    uint32_t snap_len;
    uint8_t *snap_data;
};

struct raft_read_state {
    uint64_t ctx;     /* as given to raft_read_index */
    uint64_t index;   /* serve the read once the applied index reaches this */
};

struct raft_ready {
    int has_hard_state;
    struct raft_hard_state hard_state;
    const struct raft_entry *entries;   /* to persist; see the contract above */
    size_t n_entries;
    const struct raft_snapshot *snapshot; /* to install, or NULL */
    const struct raft_msg *msgs_now;    /* may be sent before persisting */
    size_t n_msgs_now;
    const struct raft_msg *msgs_after;  /* MUST wait until persisted */
    size_t n_msgs_after;
    const struct raft_entry *committed; /* to apply, in order */
    size_t n_committed;
    const struct raft_read_state *reads;
    size_t n_reads;
    int want_snapshot; /* the log passed config.snapshot_threshold: call raft_compact */
};

struct raft_config {
    uint64_t id;
    struct raft_conf bootstrap;  /* initial configuration when the log is empty */
    int election_tick;           /* follower timeout in ticks, randomized in [e, 2e) */
    int heartbeat_tick;
    uint64_t seed;               /* seeds the core's generator (election jitter) */
    uint32_t max_inflight_msgs;  /* per follower in pipelined replication */
    uint64_t max_inflight_bytes; /* per follower, 0: unlimited */
    uint64_t max_msg_bytes;      /* entry bytes batched into one APPEND */
    uint64_t max_uncommitted_bytes; /* leader refuses proposals beyond this, 0: unlimited */
    uint64_t snapshot_threshold; /* applied entries since the snapshot before want_snapshot */
    uint32_t snapshot_chunk;     /* bytes per snapshot chunk */
    int check_quorum;
    int pre_vote;
    /* Lease reads answer from the leader's commit index without a round of
     * heartbeats, trusting that no other leader can exist for
     * election_tick - lease_margin ticks after a quorum acknowledged it. They
     * are only safe when clocks drift by less than lease_margin/election_tick;
     * they require check_quorum. */
    int lease_read;
    int lease_margin;
};

/* What a restarting node persisted. entries follow snapshot.meta.index
 * without a gap; n_entries may be 0. snapshot.len == 0 with meta.index == 0
 * means no snapshot. */
struct raft_restore {
    struct raft_hard_state hard_state;
    uint64_t applied;   /* the state machine's applied index (>= snapshot index) */
    struct raft_snapshot snapshot;
    const struct raft_entry *entries;
    size_t n_entries;
};

struct raft;

/* Fills cfg with defaults (election 10, heartbeat 1, 256 inflight, ...). */
void raft_config_default(struct raft_config *cfg);

/* A new node. restore NULL starts from cfg->bootstrap with an empty log.
 * Returns NULL when cfg is invalid (id 0, ticks not positive, lease_read
 * without check_quorum). Copies everything it is given. */
struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *restore);
void raft_free(struct raft *r);

void raft_tick(struct raft *r);
/* Feeds one received message. Messages for another node, of unknown type
 * or malformed in content are dropped; returns 0 or RAFT_EINVAL. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Appends data as a new entry when this node is the leader.
 * Errors: RAFT_ENOTLEADER, RAFT_ETRANSFER, RAFT_ETOOBIG. *index gets the
 * entry's index (the entry is committed only if a later rd.committed holds
 * this index with this term). */
int raft_propose(struct raft *r, const void *data, uint32_t len, uint64_t *index, uint64_t *term);

/* Asks for a linearizable read: a later ready lists ctx with the index the
 * application must have applied before it serves the read. Each call starts
 * a fresh round of confirmation. On a follower the request goes to the
 * leader, which confirms its leadership and answers with its commit index
 * (follower reads). A read may never be answered (leadership lost, message
 * lost): the caller times it out. Errors: RAFT_ENOTLEADER (no leader known),
 * RAFT_ENOTREADY (no entry of this term committed yet), RAFT_ETRANSFER. */
int raft_read_index(struct raft *r, uint64_t ctx);

/* Hands leadership to voter `to` (TimeoutNow once it is caught up); aborted
 * after an election timeout. Errors: RAFT_ENOTLEADER, RAFT_EINVAL. */
int raft_transfer_leader(struct raft *r, uint64_t to);

enum raft_change {
    RAFT_CHANGE_ADD_LEARNER, /* a new node, replicated to but not voting */
    RAFT_CHANGE_PROMOTE,     /* learner -> voter; the learner must be caught up */
    RAFT_CHANGE_REMOVE,      /* voter or learner leaves */
};
/* One single-server change at a time (thesis section 4.1 with its fix: only
 * once the leader committed an entry of its own term and the previous change
 * is committed). The new configuration takes effect when appended.
 * Errors: RAFT_ENOTLEADER, RAFT_ENOTREADY, RAFT_EBUSY, RAFT_EINVAL,
 * RAFT_ENOTCAUGHTUP, RAFT_ETRANSFER. */
int raft_change_membership(struct raft *r, enum raft_change change, uint64_t id);

/* The application took a snapshot of its state at applied index `index`:
 * the core keeps a copy of data (to send to lagging followers) and drops
 * every log entry <= index from memory. Errors: RAFT_ECOMPACTED when index is
 * not in (snapshot index, applied index]. */
int raft_compact(struct raft *r, uint64_t index, const void *data, size_t len);

int raft_has_ready(const struct raft *r);
/* Fills rd (zeroing it first). Pointers stay valid until raft_advance. */
void raft_ready(struct raft *r, struct raft_ready *rd);
/* Acknowledges the last ready: everything in it was persisted, sent and applied. */
void raft_advance(struct raft *r);

/* Inspection, for the application, tests and the simulator. */
enum raft_role raft_role(const struct raft *r);
uint64_t raft_id(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_leader(const struct raft *r);  /* 0: unknown */
uint64_t raft_commit_index(const struct raft *r);
uint64_t raft_applied_index(const struct raft *r);
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_snapshot_index(const struct raft *r);
const struct raft_conf *raft_conf(const struct raft *r);
/* 0 with *term set, or RAFT_ECOMPACTED when index is outside the log.
 * Index 0 and the snapshot index answer too. */
int raft_log_term(const struct raft *r, uint64_t index, uint64_t *term);
/* The in-memory entry at index, or NULL; valid until the next call. */
const struct raft_entry *raft_log_entry(const struct raft *r, uint64_t index);
int raft_conf_has_voter(const struct raft_conf *c, uint64_t id);
int raft_conf_has_learner(const struct raft_conf *c, uint64_t id);

/* ------------------------------------------------------------------ codec
 * Wire format of one message: a frame
 *     u32 payload length | u32 CRC32C of the payload | payload
 * (little endian). The decoder checks every length against what is left,
 * every count against its limit and the checksum before anything else, so any
 * byte string either decodes to a message or is rejected. */

/* Encodes m into a malloc'd buffer (*out, *out_len); the caller frees it. */
void raft_msg_encode(const struct raft_msg *m, uint8_t **out, size_t *out_len);
/* Decodes one frame from buf. Returns the frame length consumed (> 0),
 * RAFT_ESHORT when buf holds only part of a frame, or RAFT_ECORRUPT. On
 * success m owns its entries and chunk: release with raft_msg_fini. */
long raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m);
void raft_msg_fini(struct raft_msg *m);

/* A configuration as bytes (the data of a RAFT_ENTRY_CONF entry). */
void raft_conf_encode(const struct raft_conf *c, uint8_t **out, uint32_t *out_len);
int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c);

uint32_t raft_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
