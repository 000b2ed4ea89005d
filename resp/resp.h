/* resp: the Redis protocol, with no knowledge of sockets, storage or Raft.
 *
 * Four pieces:
 *   - struct resp_buf: a growable byte buffer and the RESP2 encoder on it;
 *   - struct resp_reader: the request reader (multibulk through hiredis's
 *     redisReader with our own object functions, and inline commands),
 *     enforcing Redis's protocol limits before anything is allocated;
 *   - struct resp_scanner: finds where each reply ends in a byte stream from
 *     an upstream Redis, without copying or allocating per reply;
 *   - the command table, generated from a real Redis 7.0 (resp/commands.c).
 *
 * Ownership rules: a function that returns a pointer into an object says how
 * long it stays valid; everything else is owned by the caller.
 */
#ifndef FERRY_RESP_H
#define FERRY_RESP_H

#include <stddef.h>
#include <stdint.h>

/* Result codes shared by the reader and the scanner. */
enum {
    RESP_OK = 0,     /* a complete item is available */
    RESP_AGAIN = 1,  /* more bytes are needed */
    RESP_ERR = -1,   /* protocol error: the stream cannot continue */
};

/* Redis's limits (src/server.h), used as defaults. Note: the multibulk
 * limit is Redis 6's; Redis 7.0 accepts up to INT_MAX arguments (it grows
 * argv as they arrive, as this reader does). resp_reader_set_max_multibulk_len
 * selects 7.0's behaviour. */
#define RESP_MAX_MULTIBULK_LEN (1024 * 1024)
#define RESP_MAX_INLINE_LEN (1024 * 64)
#define RESP_DEFAULT_MAX_BULK_LEN (512LL * 1024 * 1024)

/* ------------------------------------------------------------------ buffer
 * A growable buffer. Zero-initialise (or resp_buf_init) before use;
 * resp_buf_fini releases the memory. Growth aborts the process on OOM.
 * data is valid until the next call that appends or resets. */
struct resp_buf {
    char *data;
    size_t len;
    size_t cap;
};

void resp_buf_init(struct resp_buf *b);
void resp_buf_fini(struct resp_buf *b);
void resp_buf_reset(struct resp_buf *b); /* len = 0, keeps capacity */
/* Empties b and, when it grew past keep bytes, frees its memory: a buffer
 * reused for every request must not keep the largest one's size. */
void resp_buf_reset_shrink(struct resp_buf *b, size_t keep);
void resp_buf_reserve(struct resp_buf *b, size_t extra);
void resp_buf_append(struct resp_buf *b, const void *p, size_t n);
/* Drops the first n bytes (n <= len). */
void resp_buf_consume(struct resp_buf *b, size_t n);

/* RESP2 encoders. Simple strings and errors must not contain CR or LF; the
 * error text is written as given, so it carries its own code ("ERR ...",
 * "WRONGTYPE ...") exactly as Redis words it. */
void resp_add_simple(struct resp_buf *b, const char *s);
void resp_add_simple_len(struct resp_buf *b, const char *s, size_t n);
/* A HELP subcommand's reply: an array of n simple strings, as Redis's
 * addReplyHelp. */
void resp_add_help(struct resp_buf *b, const char *const *lines, size_t n);
/* Redis's addReplySubcommandSyntaxError: "ERR unknown subcommand or wrong
 * number of arguments for 'sub'. Try COMMAND HELP." (sub as typed, at
 * most 128 bytes; command in capitals). */
void resp_add_subcommand_error(struct resp_buf *b, const char *sub, const char *command);
void resp_add_error(struct resp_buf *b, const char *s);
void resp_add_errorf(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_add_int(struct resp_buf *b, long long v);
void resp_add_bulk(struct resp_buf *b, const void *p, size_t n);
void resp_add_bulk_str(struct resp_buf *b, const char *s);
void resp_add_bulk_ll(struct resp_buf *b, long long v);
/* A double as Redis 7.0 writes it in a bulk reply (ZSCORE, INCRBYFLOAT:
 * "%.17g"-style shortest round-trip, "inf"/"-inf"). */
void resp_add_bulk_double(struct resp_buf *b, double v);
void resp_add_null(struct resp_buf *b);       /* $-1 */
void resp_add_null_array(struct resp_buf *b); /* *-1 */
void resp_add_array(struct resp_buf *b, long long n);
/* A request as a client would send it: *argc then one bulk per argument. */
void resp_add_command(struct resp_buf *b, int argc, const char *const *argv,
                      const size_t *argvlen);

/* Redis's string2ll (util.c): a strict decimal long long, no sign but '-',
 * no leading zeros or spaces, overflow rejected. 1 on success, else 0.
 * value may be NULL (a check only). */
int resp_string2ll(const char *s, size_t slen, long long *value);

/* Redis's stringmatchlen: whether string matches the glob pattern (*, ?,
 * [a-z], [^x], backslash escapes), byte for byte or with nocase. */
int resp_string_match(const char *pattern, int patternLen, const char *string, int stringLen,
                      int nocase);

/* ------------------------------------------------------------------ reader
 * The request reader. Feed it the bytes a client sent, then pull requests
 * until it answers RESP_AGAIN. Multibulk requests are parsed by hiredis's
 * redisReader; inline requests (a line not starting with '*') are split as
 * Redis splits them (quotes and escapes as in sdssplitargs).
 *
 * Limits are checked on the header, before the announced bytes arrive or any
 * memory is reserved for them: multibulk length <= RESP_MAX_MULTIBULK_LEN,
 * bulk length <= max_bulk_len, inline line and multibulk/bulk header lines
 * <= RESP_MAX_INLINE_LEN. A violation makes resp_reader_next return RESP_ERR
 * and resp_reader_error return Redis's exact text, for example
 * "ERR Protocol error: invalid multibulk length". After RESP_ERR the reader
 * returns RESP_ERR forever; the caller flushes earlier replies and closes.
 * Requests before the offending bytes are returned first, as Redis runs
 * them before it answers the error.
 *
 * Redis's quirks are kept, because clients see them: a header line ends at
 * its first CR whatever byte follows (that byte is skipped), the two bytes
 * after a bulk payload are skipped unchecked, and a NUL byte before a line's
 * end hides the end (Redis searches with strchr), so the line only ever
 * ends as "too big". The 64 KB checks run whenever bytes are fed, as Redis
 * runs them after each read: fed in 16 KB pieces (Redis's read size, and
 * libevent's default), the verdict on a long line is Redis's own.
 *
 * An empty inline line or "*0"/"*-1" is no request (Redis ignores it):
 * the reader skips it and carries on.
 *
 * Cost: one copy of the input, one into hiredis and one into the argv arena;
 * no allocation per request once warm; linear in the input however it is
 * split (a 100,000-command pipeline fed at once takes ~20 ms). */
struct resp_reader;

/* One parsed request. argv[i] points at argvlen[i] bytes followed by a NUL
 * (so argv[0] can be used as a C string); the arguments are binary-safe;
 * argc >= 1. wire_len is how many input bytes the request occupied, counted
 * from the end of the previous request: the sum of wire_len over all
 * requests is exactly the bytes consumed, so a caller holding the original
 * stream can forward or drop each request's bytes by count. The first
 * skip_len of those bytes are no-op lines Redis ignores (empty inline lines,
 * "*0", "*-1") that came before the request; the request's own bytes are the
 * remaining wire_len - skip_len. (Forwarding all wire_len bytes is harmless:
 * Redis ignores the no-ops too.) The pointers stay valid until the next
 * resp_reader_next, resp_reader_feed or resp_reader_free on the same reader. */
struct resp_request {
    int argc;
    char **argv;
    size_t *argvlen;
    size_t wire_len;
    size_t skip_len; /* leading no-op bytes included in wire_len */
    int inline_cmd;  /* 1 when it came as an inline command */
    /* The request's own bytes as received (after skip_len), when they are
     * still in one piece in the reader's buffer: a multibulk request fed in
     * one resp_reader_feed, or spread over feeds the buffer kept whole.
     * NULL otherwise and for inline requests. Same lifetime as argv. A
     * proxy forwards these instead of encoding argv again. */
    const char *raw;
    size_t raw_len;
};

/* max_bulk_len <= 0 selects RESP_DEFAULT_MAX_BULK_LEN. */
struct resp_reader *resp_reader_new(long long max_bulk_len);
void resp_reader_free(struct resp_reader *r); /* NULL is a no-op */
/* Settings below take effect from the next resp_reader_next: the request
 * after an AUTH is parsed under the new state if the caller changes it
 * before pulling that request (as Redis runs each command before parsing
 * the next).
 *
 * While set (requirepass configured and the client not yet authenticated),
 * Redis 7.0's tighter limits apply: more than 10 arguments gives "ERR Protocol
 * error: unauthenticated multibulk length", a bulk over 16384 bytes "ERR
 * Protocol error: unauthenticated bulk length". Off by default. */
void resp_reader_set_auth_required(struct resp_reader *r, int required);
/* The largest multibulk count accepted (n <= 0: RESP_MAX_MULTIBULK_LEN; at
 * most INT_MAX, which is Redis 7.0's own limit). Memory never follows the
 * count, only the arguments received, so a large limit is safe. */
void resp_reader_set_max_multibulk_len(struct resp_reader *r, long long n);
/* Copies the bytes in; returns RESP_OK, or RESP_ERR once in error state. */
int resp_reader_feed(struct resp_reader *r, const char *buf, size_t len);
/* RESP_OK with *req filled, RESP_AGAIN, or RESP_ERR (see above). */
int resp_reader_next(struct resp_reader *r, struct resp_request *req);
/* The error text after RESP_ERR, without the leading '-' or CRLF; NULL
 * before any error. Valid until resp_reader_free. */
const char *resp_reader_error(const struct resp_reader *r);
/* Bytes fed but not yet returned as requests (for backpressure decisions). */
size_t resp_reader_pending(const struct resp_reader *r);

/* ------------------------------------------------------------------ RESP3
 * The store replies in RESP2; a client that said HELLO 3 gets each reply
 * converted, as Redis 7.0 writes it in RESP3 (resp/resp3.c). */
enum resp3_shape {
    RESP3_NONE = 0,      /* not converted (Redis answered itself) */
    RESP3_PLAIN,         /* only nulls change, to `_` */
    RESP3_MAP,           /* a flat name, value ... array: a map (HGETALL) */
    RESP3_SET,           /* an array: a set (SMEMBERS) */
    RESP3_DOUBLE,        /* a bulk: a double (ZSCORE) */
    RESP3_DOUBLES,       /* an array of bulks: doubles (ZMSCORE) */
    RESP3_SCORED,        /* member, score ...: [member, double] pairs */
    RESP3_POP,           /* [member, score]: the score a double (ZPOPMIN) */
    RESP3_PAIRS,         /* field, value ...: [field, value] pairs */
    RESP3_KEY_SCORED,    /* [key, member, score] (BZPOPMIN) */
    RESP3_KEY_SCOREDS,   /* [key, [[member, score] ...]] (ZMPOP) */
    RESP3_VERBATIM,      /* a bulk: a verbatim txt string (INFO) */
    RESP3_PUSH,          /* each array a push (SUBSCRIBE's confirmations) */
    RESP3_COMMAND_INFO,  /* COMMAND [INFO]: flag lists sets, key specs maps */
    RESP3_COMMAND_DOCS,  /* COMMAND DOCS: maps all the way down */
    RESP3_LATENCY_HISTOGRAM, /* LATENCY HISTOGRAM: a map of maps, histogram_usec a map */
    RESP3_GEOPOS,        /* [[longitude, latitude] ...]: doubles (GEOPOS) */
    RESP3_GEO_ITEMS,     /* [[member, ..., [longitude, latitude]] ...] (WITHCOORD) */
    RESP3_KEYS_FLAGS,    /* [[key, flags] ...]: the flags a set (COMMAND GETKEYSANDFLAGS) */
    RESP3_MAP_FLAGS,     /* a map whose "flags" is a set (CLIENT TRACKINGINFO, ACL GETUSER) */
};

/* The shape of the reply to this request. */
int resp3_shape_of(int argc, char **argv, const size_t *len);
/* Appends to out the RESP3 form of the RESP2 replies in[0..len) of a
 * request of that shape (several for SUBSCRIBE a b). Errors pass as they
 * are. 0, or -1 on input that is not whole RESP (out then holds a prefix). */
int resp3_convert(int shape, const char *in, size_t len, struct resp_buf *out);

/* ------------------------------------------------------------------ scanner
 * Finds reply boundaries in a stream of RESP2 (and RESP3) replies from an
 * upstream server. Resumable: bytes can arrive in any split, and a large
 * bulk is skipped by count, never re-scanned. It does not copy the bytes and
 * never allocates: its whole state is this struct (embed it, no _fini).
 *
 * resp_scanner_scan(s, p, n, &used) examines p[0..n): it returns RESP_OK when
 * a reply ends inside it (used = bytes up to and including that reply's
 * last byte, counted from p), RESP_AGAIN when all n bytes were consumed
 * without a reply ending (used = n), RESP_ERR on bytes that are not RESP
 * (used = offset of the offending byte; the scanner stays in error).
 * After RESP_OK the scanner is ready for the next reply at p + used, and
 * is_error tells whether the reply just ended was an error (- or !), is_push
 * whether it was a RESP3 push, which answers no request.
 *
 * Accepted: + - : $ * and RESP3 _ , # ( = % ~ > | ! (attributes are taken
 * as part of the reply they precede). Lines must end in CRLF, bulk payloads
 * must be followed by CRLF. Aggregates nest at most RESP_SCAN_MAX_DEPTH
 * deep; streamed RESP3 types ($?, *?) are refused. */
#define RESP_SCAN_MAX_DEPTH 64

struct resp_scanner {
    int depth;                             /* open aggregates */
    long long remain[RESP_SCAN_MAX_DEPTH]; /* items left in each open aggregate */
    long long bulk_left; /* payload bytes still to skip, or -1 */
    int state;           /* internal */
    char type;           /* type byte of the item being read */
    char is_error;       /* the top-level reply is an error (- or !) */
    char is_push;        /* the top-level item is a RESP3 push (>), no reply */
    size_t line_len;     /* bytes of the current header line seen */
    char line[32];       /* the first bytes of the current header line */
};

void resp_scanner_init(struct resp_scanner *s);
int resp_scanner_scan(struct resp_scanner *s, const char *p, size_t n, size_t *used);

/* ------------------------------------------------------------------ commands
 * The command table, generated by resp/gen_commands.py from a running
 * redis-server 7.0 (COMMAND INFO and COMMAND DOCS) and checked in. */
enum resp_cmd_flag {
    RESP_CMD_WRITE = 1u << 0,
    RESP_CMD_READONLY = 1u << 1,
    RESP_CMD_DENYOOM = 1u << 2,
    RESP_CMD_ADMIN = 1u << 3,
    RESP_CMD_PUBSUB = 1u << 4,
    RESP_CMD_NOSCRIPT = 1u << 5,
    RESP_CMD_BLOCKING = 1u << 6,
    RESP_CMD_LOADING = 1u << 7,
    RESP_CMD_STALE = 1u << 8,
    RESP_CMD_SKIP_MONITOR = 1u << 9,
    RESP_CMD_SKIP_SLOWLOG = 1u << 10,
    RESP_CMD_ASKING = 1u << 11,
    RESP_CMD_FAST = 1u << 12,
    RESP_CMD_NO_AUTH = 1u << 13,
    RESP_CMD_MAY_REPLICATE = 1u << 14,
    RESP_CMD_NO_MANDATORY_KEYS = 1u << 15,
    RESP_CMD_NO_MULTI = 1u << 16,
    RESP_CMD_MOVABLEKEYS = 1u << 17,
    RESP_CMD_ALLOW_BUSY = 1u << 18,
    RESP_CMD_NO_ASYNC_LOADING = 1u << 19,
};

/* Key spec flags, as COMMAND INFO names them (Redis 7 key specs). */
enum resp_key_flag {
    RESP_KEY_RO = 1u << 0,
    RESP_KEY_RW = 1u << 1,
    RESP_KEY_OW = 1u << 2,
    RESP_KEY_RM = 1u << 3,
    RESP_KEY_ACCESS = 1u << 4,
    RESP_KEY_UPDATE = 1u << 5,
    RESP_KEY_INSERT = 1u << 6,
    RESP_KEY_DELETE = 1u << 7,
    RESP_KEY_NOT_KEY = 1u << 8,        /* not a key name (e.g. a channel) */
    RESP_KEY_INCOMPLETE = 1u << 9,     /* may miss keys: Redis falls back to code */
    RESP_KEY_VARIABLE_FLAGS = 1u << 10, /* flags depend on the arguments */
};

/* How to find keys (Redis 7 key specs, reduced to what lookups need). */
struct resp_key_spec {
    uint32_t flags;      /* enum resp_key_flag */
    uint8_t begin_kind;  /* 1 = index, 2 = keyword, 0 = unknown */
    int begin_index;     /* index kind: argv position */
    const char *keyword; /* keyword kind: search for this word ... */
    int keyword_start;   /* ... starting here (negative: from the end) */
    uint8_t find_kind;   /* 1 = range, 2 = keynum, 0 = unknown */
    int lastkey, keystep, limit;          /* range */
    int keynumidx, firstkey, keynumstep;  /* keynum */
};

struct resp_command {
    const char *name; /* lower case; "client|setname" for a subcommand */
    int arity;        /* as Redis: -N means at least N */
    uint32_t flags;   /* enum resp_cmd_flag */
    int first_key, last_key, key_step; /* legacy triple from COMMAND INFO */
    int nkey_specs;
    const struct resp_key_spec *key_specs;
    int nsub;
    const struct resp_command *subcommands;
    const char *info_reply; /* the raw RESP of this command's COMMAND INFO entry */
    size_t info_reply_len;
    const char *docs_reply; /* the raw RESP of its COMMAND DOCS name+doc pair */
    size_t docs_reply_len;
};

/* Case-insensitive lookup by name; NULL when Redis has no such command.
 * Returned pointers are static. */
const struct resp_command *resp_command_lookup(const char *name, size_t len);
/* For a container command (CLIENT, CONFIG, ...), the subcommand named by
 * argv[1]; NULL when there is none. */
const struct resp_command *resp_command_lookup_sub(const struct resp_command *cmd,
                                                   const char *name, size_t len);
/* Whether argc satisfies the arity. */
int resp_command_arity_ok(const struct resp_command *cmd, int argc);
/* A command's name as errors print it: "client|list" -> "CLIENT LIST". */
void resp_command_upper_name(const char *name, char *buf, size_t size);
/* The checks Redis makes of a container command (named in lower case)
 * before running it: its own arity, a known subcommand, the subcommand's
 * arity. Returns the subcommand, or NULL after writing Redis's error. */
const struct resp_command *resp_subcommand_check(const char *container, int argc, char **argv,
                                                 const size_t *len, struct resp_buf *err);
/* Fills pos[] with the argv indices of the keys (at most max) and returns
 * how many keys there are (which may exceed max). The answer is what Redis
 * 7.0's COMMAND GETKEYS gives (checked against it in the tests): key specs,
 * skipping not_key ones (SPUBLISH's channel), plus Redis's own rules where
 * specs are "unknown"/"incomplete" (SORT ... STORE, MIGRATE ... KEYS).
 * 0 when argc fails the arity or an argument such as numkeys is invalid.
 * For a container, pass the subcommand (indices still count from the
 * command name). */
int resp_command_keys(const struct resp_command *cmd, int argc, char *const *argv,
                      const size_t *argvlen, int *pos, int max);
/* The same, with each key's enum resp_key_flag bits in flags[] too: what
 * COMMAND GETKEYSANDFLAGS prints (the spec's flags, or the ones Redis's own
 * rules give for SORT, MIGRATE, SET and BITFIELD). */
int resp_command_keys_flags(const struct resp_command *cmd, int argc, char *const *argv,
                            const size_t *argvlen, int *pos, uint32_t *flags, int max);
/* A key's enum resp_key_flag bits as Redis lists them (RO, RW, ..., as
 * simple strings, in one array). */
void resp_add_key_flags(struct resp_buf *b, uint32_t flags);
/* Whether COMMAND INFO lists the ACL category cat[0..len) (no '@', any
 * case) for the command. */
int resp_command_in_category(const struct resp_command *cmd, const char *cat, size_t len);
/* The whole table, sorted by name. */
extern const struct resp_command resp_commands[];
extern const int resp_ncommands;

#endif
