/* The request reader.
 *
 * Multibulk requests are parsed by hiredis's redisReader with our own object
 * functions (an argv in one arena per request, no redisReply trees). hiredis
 * alone is not Redis, though: it accepts "+5" and "05" as counts, takes
 * "$-1" inside a request as nil, truncates counts to int, checks no limit,
 * and would accept ':' or nested '*' items. So every header line passes a
 * gate first that applies processMultibulkBuffer's rules (Redis 7.0
 * networking.c) and only then is handed to hiredis. The gate also walks
 * payloads by count, so it knows exactly where a request ends: hiredis only
 * ever holds the current request, which keeps its buffer compaction (a
 * memmove of the unread rest after each reply) from going quadratic on a
 * large pipeline, and gives wire_len for free.
 *
 * Inline requests (first byte not '*') are split here as sdssplitargs does.
 *
 * Redis looks for line ends with strchr on a NUL-terminated buffer, so a NUL
 * byte before the terminator hides it; and a header line ends at the first
 * '\r' whatever byte follows it. Both quirks are reproduced so that errors
 * and request boundaries match Redis byte for byte. */
#include "resp/resp.h"

#include <hiredis/read.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis 7.0's limits for clients that have not authenticated yet. */
#define RESP_UNAUTH_MULTIBULK_LEN 10
#define RESP_UNAUTH_BULK_LEN 16384

/* Arenas bigger than this are released after their request, so one 100 MB
 * value does not pin 100 MB per idle client. */
#define RESP_KEEP_ARENA (64 * 1024)
#define RESP_KEEP_ARGV 1024

enum { RESP_STEP_DONE, RESP_STEP_AGAIN, RESP_STEP_ERR, RESP_STEP_SKIP };

struct resp_reader {
    long long max_bulk_len;
    long long max_multibulk_len;
    int auth_required; /* apply Redis's unauthenticated limits */
    int failed;
    char err[160];

    /* Our copy of the fed bytes that no request has taken yet. */
    char *in;
    size_t in_pos; /* first byte not yet consumed */
    size_t in_len;
    size_t in_cap;
    size_t scan; /* line-end search resumes here (offset in in); SIZE_MAX
                    when a NUL hides the current line's end for good */

    size_t skipped; /* no-op bytes (empty lines, *0) since the last request */

    /* The multibulk request being gated and parsed. */
    int mb_active;
    long long mb_left;   /* bulk headers not yet gated */
    long long bulk_left; /* payload bytes (with CRLF) not yet gated */
    size_t gate;         /* bytes in[in_pos, gate) passed the gate */
    size_t req_wire;     /* bytes of this request already handed to hiredis */
    size_t req_start;    /* where its "*" is in `in`; SIZE_MAX once dropped */

    redisReader *hr;
    int hr_big; /* hiredis's buffer grew for a big request */

    /* The argv under construction: offsets into the arena until complete. */
    int argc;
    int argv_cap;
    char **argv;
    size_t *argvlen;
    size_t *off;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

static void resp_reader_oom(size_t n)
{
    fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", n);
    abort();
}

static void *resp_reader_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        resp_reader_oom(n);
    return q;
}

/* Records the error once; the text is what Redis sends after '-'. CR and LF
 * become spaces, as addReplyErrorFormat does, so the text is one line. */
__attribute__((format(printf, 2, 3))) static int resp_reader_fail(struct resp_reader *r,
                                                                  const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
        for (char *c = r->err; *c; c++)
            if (*c == '\r' || *c == '\n')
                *c = ' ';
        r->failed = 1;
    }
    return RESP_STEP_ERR;
}

/* ------------------------------------------------------------ argv arena */

static void resp_argv_reset(struct resp_reader *r)
{
    r->argc = 0;
    r->arena_len = 0;
    if (r->arena_cap > RESP_KEEP_ARENA) {
        free(r->arena);
        r->arena = NULL;
        r->arena_cap = 0;
    }
    if (r->argv_cap > RESP_KEEP_ARGV) {
        free(r->argv);
        free(r->argvlen);
        free(r->off);
        r->argv = NULL;
        r->argvlen = NULL;
        r->off = NULL;
        r->argv_cap = 0;
    }
}

/* Appends one argument (and its NUL). Growth follows the bytes actually
 * received, never an announced count. */
static void resp_argv_push(struct resp_reader *r, const char *p, size_t n)
{
    if (r->argc == r->argv_cap) {
        int cap = r->argv_cap ? r->argv_cap * 2 : 8;
        r->argv = resp_reader_realloc(r->argv, (size_t)cap * sizeof(*r->argv));
        r->argvlen = resp_reader_realloc(r->argvlen, (size_t)cap * sizeof(*r->argvlen));
        r->off = resp_reader_realloc(r->off, (size_t)cap * sizeof(*r->off));
        r->argv_cap = cap;
    }
    if (r->arena_cap - r->arena_len < n + 1) {
        size_t cap = r->arena_cap ? r->arena_cap : 256;
        while (cap - r->arena_len < n + 1)
            cap *= 2;
        r->arena = resp_reader_realloc(r->arena, cap);
        r->arena_cap = cap;
    }
    r->off[r->argc] = r->arena_len;
    r->argvlen[r->argc] = n;
    if (n)
        memcpy(r->arena + r->arena_len, p, n);
    r->arena[r->arena_len + n] = '\0';
    r->arena_len += n + 1;
    r->argc++;
}

/* Appends one byte to the last argument (inline splitting builds tokens
 * byte by byte). The argument must be the last thing in the arena. */
static void resp_argv_addbyte(struct resp_reader *r, char c)
{
    if (r->arena_cap - r->arena_len < 2) {
        size_t cap = r->arena_cap ? r->arena_cap * 2 : 256;
        r->arena = resp_reader_realloc(r->arena, cap);
        r->arena_cap = cap;
    }
    /* Overwrite the NUL, then re-terminate. */
    r->arena[r->arena_len - 1] = c;
    r->arena[r->arena_len++] = '\0';
    r->argvlen[r->argc - 1]++;
}

static void resp_argv_finish(struct resp_reader *r, struct resp_request *req, size_t wire,
                             int inline_cmd)
{
    for (int i = 0; i < r->argc; i++)
        r->argv[i] = r->arena + r->off[i];
    req->argc = r->argc;
    req->argv = r->argv;
    req->argvlen = r->argvlen;
    req->wire_len = r->skipped + wire;
    req->skip_len = r->skipped;
    req->inline_cmd = inline_cmd;
    req->raw = NULL;
    req->raw_len = 0;
    r->skipped = 0;
}

/* ------------------------------------------------------ hiredis callbacks
 * The gate guarantees hiredis sees only "*N" with 0 < N and "$L" lines, so
 * only createArray (the root) and createString are reachable. The others
 * report an internal error rather than build something wrong. */

static void *resp_hr_array(const redisReadTask *task, int elements)
{
    struct resp_reader *r = task->privdata;
    (void)elements; /* argv grows with the arguments that arrive, not this */
    if (task->parent != NULL)
        return NULL;
    return r;
}

static void *resp_hr_string(const redisReadTask *task, char *str, size_t len)
{
    struct resp_reader *r = task->privdata;
    if (task->type != REDIS_REPLY_STRING || task->parent == NULL)
        return NULL;
    resp_argv_push(r, str, len);
    return r;
}

static void *resp_hr_integer(const redisReadTask *task, long long v)
{
    (void)task;
    (void)v;
    return NULL;
}

static void *resp_hr_nil(const redisReadTask *task)
{
    (void)task;
    return NULL;
}

static void resp_hr_free(void *obj)
{
    (void)obj; /* everything lives in the reader's arena */
}

static redisReplyObjectFunctions resp_hr_fns = {
    resp_hr_string, resp_hr_array, resp_hr_integer, resp_hr_nil, resp_hr_free,
};

/* ------------------------------------------------------------ helpers */

int resp_string2ll(const char *s, size_t slen, long long *value)
{
    const char *p = s;
    size_t plen = 0;
    int negative = 0;
    unsigned long long v;

    if (slen == 0 || slen >= 21)
        return 0;
    if (slen == 1 && p[0] == '0') {
        if (value != NULL)
            *value = 0;
        return 1;
    }
    if (p[0] == '-') {
        negative = 1;
        p++;
        plen++;
        if (plen == slen)
            return 0;
    }
    if (p[0] >= '1' && p[0] <= '9') {
        v = (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    } else {
        return 0;
    }
    while (plen < slen && p[0] >= '0' && p[0] <= '9') {
        if (v > ULLONG_MAX / 10)
            return 0;
        v *= 10;
        if (v > ULLONG_MAX - (unsigned long long)(p[0] - '0'))
            return 0;
        v += (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    }
    if (plen < slen)
        return 0;
    if (negative) {
        if (v > (unsigned long long)(-(LLONG_MIN + 1)) + 1)
            return 0;
        if (value != NULL)
            *value = (long long)(0 - v);
    } else {
        if (v > LLONG_MAX)
            return 0;
        if (value != NULL)
            *value = (long long)v;
    }
    return 1;
}

/* Finds the line end Redis would find from in[from]: the first `c` byte
 * before any NUL (strchr semantics). Returns its offset, or SIZE_MAX when
 * there is none yet or a NUL hides it for good. r->scan remembers how far
 * the search got, so a line arriving byte by byte is scanned once. */
static size_t resp_find(struct resp_reader *r, size_t from, char c)
{
    if (r->scan == SIZE_MAX)
        return SIZE_MAX; /* a NUL hid this line's end */
    size_t s = r->scan > from ? r->scan : from;
    const char *base = r->in;
    const char *hit = memchr(base + s, c, r->in_len - s);
    size_t end = hit ? (size_t)(hit - base) : r->in_len;
    if (memchr(base + s, '\0', end - s) != NULL) {
        /* strchr stops here forever: never report an end for this line. */
        r->scan = SIZE_MAX;
        return SIZE_MAX;
    }
    r->scan = end;
    return hit ? end : SIZE_MAX;
}

/* ------------------------------------------------------------ inline */

static int resp_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int resp_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int resp_hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* sdssplitargs (Redis sds.c) over line[0..n), which holds no NUL: reading
 * past the end yields '\0' as reading the C string would. Returns 0, or -1
 * on unbalanced quotes. */
static int resp_split_inline(struct resp_reader *r, const char *line, size_t n)
{
#define AT(i) ((size_t)(i) < n ? line[(i)] : '\0')
    size_t p = 0;
    for (;;) {
        while (AT(p) && resp_is_space(AT(p)))
            p++;
        if (!AT(p))
            return 0;
        int inq = 0, insq = 0, done = 0;
        resp_argv_push(r, "", 0);
        while (!done) {
            char c = AT(p);
            if (inq) {
                if (c == '\\' && AT(p + 1) == 'x' && resp_is_hex(AT(p + 2)) &&
                    resp_is_hex(AT(p + 3))) {
                    resp_argv_addbyte(r,
                                      (char)(resp_hex_val(AT(p + 2)) * 16 + resp_hex_val(AT(p + 3))));
                    p += 3;
                } else if (c == '\\' && AT(p + 1)) {
                    p++;
                    switch (AT(p)) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = AT(p); break;
                    }
                    resp_argv_addbyte(r, c);
                } else if (c == '"') {
                    /* A closing quote must be followed by a space or the end. */
                    if (AT(p + 1) && !resp_is_space(AT(p + 1)))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    resp_argv_addbyte(r, c);
                }
            } else if (insq) {
                if (c == '\\' && AT(p + 1) == '\'') {
                    p++;
                    resp_argv_addbyte(r, '\'');
                } else if (c == '\'') {
                    if (AT(p + 1) && !resp_is_space(AT(p + 1)))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    resp_argv_addbyte(r, c);
                }
            } else {
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: resp_argv_addbyte(r, c); break;
                }
            }
            if (AT(p))
                p++;
        }
    }
#undef AT
}

/* processInlineBuffer: a line up to '\n' (a '\r' before it is dropped). */
static int resp_read_inline(struct resp_reader *r, struct resp_request *req)
{
    size_t start = r->in_pos;
    size_t nl = resp_find(r, start, '\n');
    if (nl == SIZE_MAX) {
        if (r->in_len - start > RESP_MAX_INLINE_LEN)
            return resp_reader_fail(r, "ERR Protocol error: too big inline request");
        return RESP_STEP_AGAIN;
    }
    size_t end = nl;
    if (end > start && r->in[end - 1] == '\r')
        end--;
    size_t wire = nl + 1 - start;
    if (resp_split_inline(r, r->in + start, end - start) < 0)
        return resp_reader_fail(r, "ERR Protocol error: unbalanced quotes in request");
    r->in_pos = nl + 1;
    r->scan = r->in_pos;
    if (r->argc == 0) {
        r->skipped += wire;
        return RESP_STEP_SKIP;
    }
    resp_argv_finish(r, req, wire, 1);
    return RESP_STEP_DONE;
}

/* ------------------------------------------------------------ multibulk */

/* A header line at in[at]: its terminator is the first '\r' (before any
 * NUL) with at least one byte after it, whatever that byte is. Returns the
 * offset of the '\r', SIZE_MAX when incomplete. */
static size_t resp_header_end(struct resp_reader *r, size_t at)
{
    size_t cr = resp_find(r, at, '\r');
    if (cr == SIZE_MAX || cr + 1 >= r->in_len) {
        if (cr != SIZE_MAX)
            r->scan = cr; /* look at this '\r' again when its next byte comes */
        return SIZE_MAX;
    }
    /* hiredis wants "\r\n"; Redis takes any byte there. Our copy is ours to
     * normalise, so hiredis sees the line Redis sees. */
    r->in[cr + 1] = '\n';
    return cr;
}

static int resp_start_multibulk(struct resp_reader *r)
{
    size_t start = r->in_pos;
    size_t cr = resp_header_end(r, start);
    if (cr == SIZE_MAX) {
        if (r->in_len - start > RESP_MAX_INLINE_LEN)
            return resp_reader_fail(r, "ERR Protocol error: too big mbulk count string");
        return RESP_STEP_AGAIN;
    }
    long long ll;
    if (!resp_string2ll(r->in + start + 1, cr - start - 1, &ll) || ll > r->max_multibulk_len)
        return resp_reader_fail(r, "ERR Protocol error: invalid multibulk length");
    if (ll > RESP_UNAUTH_MULTIBULK_LEN && r->auth_required)
        return resp_reader_fail(r, "ERR Protocol error: unauthenticated multibulk length");
    if (ll <= 0) {
        r->skipped += cr + 2 - start;
        r->in_pos = cr + 2;
        r->scan = r->in_pos;
        return RESP_STEP_SKIP;
    }
    r->mb_active = 1;
    r->mb_left = ll;
    r->bulk_left = 0;
    r->gate = cr + 2;
    r->scan = r->gate;
    r->req_wire = 0;
    r->req_start = start;
    return RESP_STEP_DONE;
}

/* Moves the gate over every complete header and available payload byte of
 * the current request. DONE when the whole request has passed. */
static int resp_gate_advance(struct resp_reader *r)
{
    for (;;) {
        if (r->bulk_left > 0) {
            size_t avail = r->in_len - r->gate;
            size_t take = (unsigned long long)r->bulk_left < avail ? (size_t)r->bulk_left : avail;
            r->gate += take;
            r->bulk_left -= (long long)take;
            r->scan = r->gate;
            if (r->bulk_left > 0)
                return RESP_STEP_AGAIN;
        }
        if (r->mb_left == 0)
            return RESP_STEP_DONE;
        size_t at = r->gate;
        size_t cr = resp_header_end(r, at);
        if (cr == SIZE_MAX) {
            if (r->in_len - at > RESP_MAX_INLINE_LEN)
                return resp_reader_fail(r, "ERR Protocol error: too big bulk count string");
            return RESP_STEP_AGAIN;
        }
        if (r->in[at] != '$')
            return resp_reader_fail(r, "ERR Protocol error: expected '$', got '%c'", r->in[at]);
        long long ll;
        if (!resp_string2ll(r->in + at + 1, cr - at - 1, &ll) || ll < 0 || ll > r->max_bulk_len)
            return resp_reader_fail(r, "ERR Protocol error: invalid bulk length");
        if (ll > RESP_UNAUTH_BULK_LEN && r->auth_required)
            return resp_reader_fail(r, "ERR Protocol error: unauthenticated bulk length");
        r->gate = cr + 2;
        r->scan = r->gate;
        r->bulk_left = ll + 2; /* Redis skips the two bytes after the payload unchecked */
        r->mb_left--;
    }
}

static int resp_read_multibulk(struct resp_reader *r, struct resp_request *req)
{
    int rc = resp_gate_advance(r);
    if (rc == RESP_STEP_ERR)
        return rc;
    if (r->gate > r->in_pos) {
        if (redisReaderFeed(r->hr, r->in + r->in_pos, r->gate - r->in_pos) != REDIS_OK)
            resp_reader_oom(r->gate - r->in_pos);
        r->req_wire += r->gate - r->in_pos;
        r->in_pos = r->gate;
    }
    /* hiredis gets the request's bytes as they pass the gate but is asked
     * for the reply only once the gate has seen all of it: before that it
     * could only re-parse what it already has. */
    if (rc == RESP_STEP_AGAIN)
        return RESP_STEP_AGAIN;
    void *reply = NULL;
    if (redisReaderGetReply(r->hr, &reply) != REDIS_OK)
        return resp_reader_fail(r, "ERR Protocol error: %s", r->hr->errstr);
    if (reply == NULL)
        return resp_reader_fail(r, "ERR Protocol error: internal reader state");
    r->mb_active = 0;
    r->hr_big = r->req_wire > RESP_KEEP_ARENA;
    resp_argv_finish(r, req, r->req_wire, 0);
    if (r->req_start != SIZE_MAX) {
        req->raw = r->in + r->req_start;
        req->raw_len = r->req_wire;
    }
    r->req_wire = 0;
    return RESP_STEP_DONE;
}

/* ------------------------------------------------------------ public API */

struct resp_reader *resp_reader_new(long long max_bulk_len)
{
    struct resp_reader *r = calloc(1, sizeof(*r));
    if (r == NULL)
        resp_reader_oom(sizeof(*r));
    r->max_bulk_len = max_bulk_len > 0 ? max_bulk_len : RESP_DEFAULT_MAX_BULK_LEN;
    r->max_multibulk_len = RESP_MAX_MULTIBULK_LEN;
    r->hr = redisReaderCreateWithFunctions(&resp_hr_fns);
    if (r->hr == NULL)
        resp_reader_oom(sizeof(redisReader));
    r->hr->privdata = r;
    return r;
}

void resp_reader_free(struct resp_reader *r)
{
    if (r == NULL)
        return;
    redisReaderFree(r->hr);
    free(r->in);
    free(r->argv);
    free(r->argvlen);
    free(r->off);
    free(r->arena);
    free(r);
}

void resp_reader_set_max_multibulk_len(struct resp_reader *r, long long n)
{
    /* Redis 7.0 checks ll > INT_MAX: nothing larger is meaningful. */
    r->max_multibulk_len = n <= 0 ? RESP_MAX_MULTIBULK_LEN : n > INT_MAX ? INT_MAX : n;
}

void resp_reader_set_auth_required(struct resp_reader *r, int required)
{
    r->auth_required = required != 0;
}

int resp_reader_feed(struct resp_reader *r, const char *buf, size_t len)
{
    if (r->failed)
        return RESP_ERR;
    if (len == 0)
        return RESP_OK;
    /* Drop consumed bytes once they are at least half the buffer, so the
     * memmove cost stays proportional to bytes consumed. */
    if (r->in_pos > 0 && r->in_pos >= r->in_len - r->in_pos) {
        size_t keep = r->in_len - r->in_pos;
        /* A request in progress loses the bytes hiredis already has. */
        if (r->mb_active && r->req_start != SIZE_MAX)
            r->req_start = r->req_start >= r->in_pos ? r->req_start - r->in_pos : SIZE_MAX;
        memmove(r->in, r->in + r->in_pos, keep);
        r->gate -= r->gate >= r->in_pos ? r->in_pos : r->gate;
        if (r->scan != SIZE_MAX)
            r->scan -= r->scan >= r->in_pos ? r->in_pos : r->scan;
        r->in_len = keep;
        r->in_pos = 0;
        if (keep == 0 && r->in_cap > RESP_KEEP_ARENA) {
            free(r->in);
            r->in = NULL;
            r->in_cap = 0;
        }
    }
    if (r->in_cap - r->in_len < len) {
        size_t cap = r->in_cap ? r->in_cap : 4096;
        while (cap - r->in_len < len)
            cap *= 2;
        r->in = resp_reader_realloc(r->in, cap);
        r->in_cap = cap;
    }
    memcpy(r->in + r->in_len, buf, len);
    r->in_len += len;
    return RESP_OK;
}

/* The previous request has been consumed (its pointers die here): let go
 * of anything a big request left behind, so an idle connection that once
 * sent 100 MB does not keep 200 MB. */
static void resp_reader_release(struct resp_reader *r)
{
    resp_argv_reset(r);
    if (r->in_pos == r->in_len && r->in_cap > RESP_KEEP_ARENA) {
        free(r->in);
        r->in = NULL;
        r->in_cap = r->in_len = r->in_pos = 0;
        r->scan = 0;
    }
    /* hiredis keeps its buffer's capacity; after a big request, start a
     * fresh reader (it holds nothing between requests). */
    if (r->hr_big) {
        redisReaderFree(r->hr);
        r->hr = redisReaderCreateWithFunctions(&resp_hr_fns);
        if (r->hr == NULL)
            resp_reader_oom(sizeof(redisReader));
        r->hr->privdata = r;
        r->hr_big = 0;
    }
}

int resp_reader_next(struct resp_reader *r, struct resp_request *req)
{
    if (!r->mb_active && !r->failed)
        resp_reader_release(r);
    for (;;) {
        if (r->failed)
            return RESP_ERR;
        int rc;
        if (r->mb_active) {
            rc = resp_read_multibulk(r, req);
        } else if (r->in_pos == r->in_len) {
            return RESP_AGAIN;
        } else if (r->in[r->in_pos] == '*') {
            rc = resp_start_multibulk(r);
            if (rc == RESP_STEP_DONE)
                continue;
        } else {
            rc = resp_read_inline(r, req);
        }
        switch (rc) {
        case RESP_STEP_DONE: return RESP_OK;
        case RESP_STEP_AGAIN: return RESP_AGAIN;
        case RESP_STEP_ERR: return RESP_ERR;
        default: break; /* skipped a no-op line: carry on */
        }
    }
}

const char *resp_reader_error(const struct resp_reader *r)
{
    return r->failed ? r->err : NULL;
}

size_t resp_reader_pending(const struct resp_reader *r)
{
    return r->skipped + r->req_wire + (r->in_len - r->in_pos);
}
