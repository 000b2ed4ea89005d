/* RESP3 replies from RESP2 ones.
 *
 * The store answers in RESP2 only: its replies are made while applying Raft
 * entries, which must not depend on which protocol the proposing client
 * speaks. A client that said HELLO 3 gets its replies converted here, at the
 * edge, the way Redis 7.0 writes them in RESP3: every null becomes `_`, and
 * the commands whose RESP3 reply has another shape (HGETALL's map,
 * SMEMBERS's set, ZSCORE's double, ZRANGE WITHSCORES's [member, score]
 * pairs, INFO's verbatim string, pub/sub's pushes ...) are named by
 * resp3_shape_of. The conversion is textual: a RESP3 double is the RESP2
 * bulk's digits behind a `,` (Redis writes both with the same formatting).
 */
#include "resp/resp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ shapes */

static int arg_is(const char *arg, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len == n && strncasecmp(arg, word, n) == 0;
}

/* Whether one of argv[from..] is `word`. */
static int has_arg(int argc, char **argv, const size_t *len, int from, const char *word)
{
    for (int i = from; i < argc; i++)
        if (arg_is(argv[i], len[i], word))
            return 1;
    return 0;
}

/* ZUNION, ZINTER, ZDIFF: numkeys key... [options]; the options start after
 * the keys, so a key named "withscores" is not taken for the option. */
static int zsetop_withscores(int argc, char **argv, const size_t *len)
{
    if (argc < 3)
        return 0;
    long long numkeys;
    if (!resp_string2ll(argv[1], len[1], &numkeys) || numkeys < 1 || numkeys > argc)
        return 0;
    return has_arg(argc, argv, len, 2 + (int)numkeys, "withscores");
}

int resp3_shape_of(int argc, char **argv, const size_t *len)
{
    if (argc < 1)
        return RESP3_PLAIN;
    const char *n = argv[0];
    size_t nl = len[0];
    static const struct {
        const char *name;
        int shape;
    } fixed[] = {
        {"hgetall", RESP3_MAP},         {"smembers", RESP3_SET},
        {"sinter", RESP3_SET},          {"sunion", RESP3_SET},
        {"sdiff", RESP3_SET},           {"zscore", RESP3_DOUBLE},
        {"zincrby", RESP3_DOUBLE},      {"zadd", RESP3_DOUBLE},
        {"zmscore", RESP3_DOUBLES},     {"bzpopmin", RESP3_KEY_SCORED},
        {"bzpopmax", RESP3_KEY_SCORED}, {"zmpop", RESP3_KEY_SCOREDS},
        {"bzmpop", RESP3_KEY_SCOREDS},  {"info", RESP3_VERBATIM},
        {"hello", RESP3_MAP},           {"subscribe", RESP3_PUSH},
        {"psubscribe", RESP3_PUSH},     {"ssubscribe", RESP3_PUSH},
        {"unsubscribe", RESP3_PUSH},    {"punsubscribe", RESP3_PUSH},
        {"sunsubscribe", RESP3_PUSH},   {"geopos", RESP3_GEOPOS},
        {"georadius", RESP3_GEO_ITEMS}, {"georadius_ro", RESP3_GEO_ITEMS},
        {"georadiusbymember", RESP3_GEO_ITEMS},
        {"georadiusbymember_ro", RESP3_GEO_ITEMS},
        {"geosearch", RESP3_GEO_ITEMS},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (arg_is(n, nl, fixed[i].name))
            return fixed[i].shape;
    if (arg_is(n, nl, "spop"))
        return argc == 3 ? RESP3_SET : RESP3_PLAIN;
    if (arg_is(n, nl, "zrange") || arg_is(n, nl, "zrangebyscore") || arg_is(n, nl, "zrevrange") ||
        arg_is(n, nl, "zrevrangebyscore"))
        return has_arg(argc, argv, len, 4, "withscores") ? RESP3_SCORED : RESP3_PLAIN;
    if (arg_is(n, nl, "zunion") || arg_is(n, nl, "zinter") || arg_is(n, nl, "zdiff"))
        return zsetop_withscores(argc, argv, len) ? RESP3_SCORED : RESP3_PLAIN;
    if (arg_is(n, nl, "zrandmember"))
        return argc == 4 && arg_is(argv[3], len[3], "withscores") ? RESP3_SCORED : RESP3_PLAIN;
    if (arg_is(n, nl, "zpopmin") || arg_is(n, nl, "zpopmax"))
        return argc == 3 ? RESP3_SCORED : RESP3_POP;
    if (arg_is(n, nl, "hrandfield"))
        return argc == 4 && arg_is(argv[3], len[3], "withvalues") ? RESP3_PAIRS : RESP3_PLAIN;
    if (arg_is(n, nl, "lcs"))
        return has_arg(argc, argv, len, 3, "idx") ? RESP3_MAP : RESP3_PLAIN;
    if (arg_is(n, nl, "config") && argc >= 2 && arg_is(argv[1], len[1], "get"))
        return RESP3_MAP;
    if (arg_is(n, nl, "client") && argc >= 2 &&
        (arg_is(argv[1], len[1], "info") || arg_is(argv[1], len[1], "list")))
        return RESP3_VERBATIM;
    if (arg_is(n, nl, "latency") && argc >= 2 && arg_is(argv[1], len[1], "histogram"))
        return RESP3_LATENCY_HISTOGRAM;
    if (arg_is(n, nl, "command") && argc >= 2 && arg_is(argv[1], len[1], "docs"))
        return RESP3_COMMAND_DOCS;
    if (arg_is(n, nl, "command") && argc >= 2 && arg_is(argv[1], len[1], "getkeysandflags"))
        return RESP3_KEYS_FLAGS;
    if ((arg_is(n, nl, "client") && argc >= 2 && arg_is(argv[1], len[1], "trackinginfo")) ||
        (arg_is(n, nl, "acl") && argc >= 2 && arg_is(argv[1], len[1], "getuser")))
        return RESP3_MAP_FLAGS;
    if (arg_is(n, nl, "command") && (argc == 1 || arg_is(argv[1], len[1], "info")))
        return RESP3_COMMAND_INFO;
    return RESP3_PLAIN;
}

/* ------------------------------------------------------------------ conversion */

struct conv {
    const char *p, *end;
    struct resp_buf *out;
};

static void put_header(struct resp_buf *out, char type, long long n)
{
    char h[32];
    int k = snprintf(h, sizeof(h), "%c%lld\r\n", type, n);
    resp_buf_append(out, h, (size_t)k);
}

/* Reads the header line at p: its type byte and, for the types that carry
 * one, its number. Input comes from the store (or a RESP3 reply already
 * converted), so it is well formed; a truncated one ends the conversion. */
static int take_line(struct conv *cv, char *type, const char **body, size_t *blen, long long *num)
{
    const char *nl = memchr(cv->p, '\n', (size_t)(cv->end - cv->p));
    if (nl == NULL || nl - cv->p < 2 || nl[-1] != '\r')
        return 0;
    *type = cv->p[0];
    *body = cv->p + 1;
    *blen = (size_t)(nl - 1 - *body);
    *num = 0;
    if (*type != '\0' && strchr("$*%~>=!|", *type)) {
        /* A count or length larger than the bytes left cannot be whole
         * (every item takes at least three), and refusing it here keeps
         * the arithmetic on it (2n, n + 4) from overflowing. */
        if (!resp_string2ll(*body, *blen, num) || *num > cv->end - (nl + 1))
            return 0;
        /* -1 is RESP2's null, of a bulk or an array; nothing else counts
         * below zero. */
        if (*num < 0 && !(*num == -1 && (*type == '$' || *type == '*')))
            return 0;
    }
    cv->p = nl + 1;
    return 1;
}

static int copy_value(struct conv *cv);

static int copy_values(struct conv *cv, long long n)
{
    for (long long i = 0; i < n; i++)
        if (!copy_value(cv))
            return 0;
    return 1;
}

/* Whether n payload bytes and their CRLF are there. */
static int payload_whole(const struct conv *cv, long long n)
{
    return n >= 0 && cv->end - cv->p >= n + 2 && cv->p[n] == '\r' && cv->p[n + 1] == '\n';
}

/* A bulk-like payload of n bytes and its CRLF. */
static int copy_payload(struct conv *cv, long long n)
{
    if (!payload_whole(cv, n))
        return 0;
    resp_buf_append(cv->out, cv->p, (size_t)n + 2);
    cv->p += n + 2;
    return 1;
}

/* One value, with RESP2's nulls as RESP3's `_`; RESP3 types pass as they
 * are. */
static int copy_value(struct conv *cv)
{
    const char *start = cv->p, *body;
    char type;
    size_t blen;
    long long n;
    if (!take_line(cv, &type, &body, &blen, &n))
        return 0;
    switch (type) {
    case '$':
    case '*':
        if (n < 0) {
            resp_buf_append(cv->out, "_\r\n", 3);
            return 1;
        }
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return type == '$' ? copy_payload(cv, n) : copy_values(cv, n);
    case '=':
    case '!':
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return copy_payload(cv, n);
    case '~':
    case '>':
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return copy_values(cv, n);
    case '%':
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return copy_values(cv, 2 * n);
    case '|': /* an attribute, then the value it describes */
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return copy_values(cv, 2 * n) && copy_value(cv);
    default: /* + - : _ , # ( */
        resp_buf_append(cv->out, start, (size_t)(cv->p - start));
        return 1;
    }
}

/* Peeks at the next value's header without consuming it. */
static int peek(const struct conv *cv, char *type, long long *n)
{
    struct conv probe = *cv;
    const char *body;
    size_t blen;
    return take_line(&probe, type, &body, &blen, n);
}

static void skip_line(struct conv *cv)
{
    const char *nl = memchr(cv->p, '\n', (size_t)(cv->end - cv->p));
    cv->p = nl ? nl + 1 : cv->end;
}

/* A bulk as a double (a score); anything else as it is. */
static int copy_double(struct conv *cv)
{
    char type;
    long long n;
    if (!peek(cv, &type, &n))
        return 0;
    if (type != '$' || n < 0)
        return copy_value(cv);
    /* A score's digits fit on a line; anything else stays a bulk. */
    const char *nl = memchr(cv->p, '\n', (size_t)(cv->end - cv->p));
    const char *payload = nl + 1;
    if (cv->end - payload < n || memchr(payload, '\r', (size_t)n) ||
        memchr(payload, '\n', (size_t)n))
        return copy_value(cv);
    skip_line(cv);
    if (!payload_whole(cv, n))
        return 0;
    resp_buf_append(cv->out, ",", 1);
    resp_buf_append(cv->out, cv->p, (size_t)n + 2);
    cv->p += n + 2;
    return 1;
}

/* Opens a value of type `want` (an array or a bulk) for conversion: its
 * header is consumed and its count or length returned in *n; anything else
 * (another type, a null) is copied as it is, with *n = -1. 0 on bad input. */
static int open_typed(struct conv *cv, char want, long long *n)
{
    char type;
    if (!peek(cv, &type, n))
        return 0;
    if (type != want || *n < 0) {
        *n = -1;
        return copy_value(cv);
    }
    skip_line(cv);
    return 1;
}

/* An array as an aggregate of `type` whose items are each converted by
 * `item` (told its index and the count); anything else as it is. */
typedef int (*item_fn)(struct conv *cv, long long i, long long n);

static int each_item(struct conv *cv, char type, item_fn item)
{
    long long n;
    if (!open_typed(cv, '*', &n))
        return 0;
    if (n < 0)
        return 1;
    put_header(cv->out, type, n);
    for (long long i = 0; i < n; i++)
        if (!item(cv, i, n))
            return 0;
    return 1;
}

static int item_value(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return copy_value(cv);
}

static int item_double(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return copy_double(cv);
}

/* [member, score] and [key, member, score]: the score is last. */
static int item_last_double(struct conv *cv, long long i, long long n)
{
    return i == n - 1 ? copy_double(cv) : copy_value(cv);
}

/* A flat array of pairs, opened: its pair count in *pairs, or -1 when it
 * was copied as it is (not an array, or an odd count: no pairs). */
static int open_pairs(struct conv *cv, long long *pairs)
{
    long long n;
    *pairs = -1;
    if (!open_typed(cv, '*', &n))
        return 0;
    if (n >= 0 && n % 2) {
        put_header(cv->out, '*', n);
        return copy_values(cv, n);
    }
    if (n >= 0)
        *pairs = n / 2;
    return 1;
}

/* A flat member, score, member, score ... array as [member, double] pairs
 * (doubles = 1), or a flat field, value ... array as [field, value] pairs
 * (doubles = 0). */
static int copy_pairs(struct conv *cv, int doubles)
{
    long long n;
    if (!open_pairs(cv, &n))
        return 0;
    if (n >= 0)
        put_header(cv->out, '*', n);
    for (long long i = 0; i < n; i++) {
        put_header(cv->out, '*', 2);
        if (!copy_value(cv) || !(doubles ? copy_double(cv) : copy_value(cv)))
            return 0;
    }
    return 1;
}

/* A flat name, value, ... array as a map whose values are converted by
 * `value` according to their names. */
typedef int (*value_fn)(struct conv *cv, const char *name, size_t len);

static int copy_map_with(struct conv *cv, value_fn value)
{
    long long n;
    if (!open_pairs(cv, &n))
        return 0;
    if (n >= 0)
        put_header(cv->out, '%', n);
    for (long long i = 0; i < n; i++) {
        char type;
        long long len;
        const char *name = cv->p;
        if (!peek(cv, &type, &len))
            return 0;
        const char *nl = memchr(cv->p, '\n', (size_t)(cv->end - cv->p));
        size_t nlen = 0;
        if (type == '$' && len >= 0 && nl) {
            name = nl + 1;
            nlen = (size_t)len;
        } else if (type == '+' && nl) {
            name = cv->p + 1;
            nlen = (size_t)(nl - 1 - name);
        }
        if (!copy_value(cv) || !value(cv, name, nlen))
            return 0;
    }
    return 1;
}

static int plain_value(struct conv *cv, const char *name, size_t len)
{
    (void)name;
    (void)len;
    return copy_value(cv);
}

static int name_is(const char *name, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(name, word, len) == 0;
}

/* COMMAND INFO's key specs and COMMAND DOCS's entries are maps in RESP3,
 * with their flag lists as sets, the way Redis 7.0 writes them. */
static int search_value(struct conv *cv, const char *name, size_t len)
{
    if (name_is(name, len, "spec"))
        return copy_map_with(cv, search_value);
    return copy_value(cv);
}

static int keyspec_value(struct conv *cv, const char *name, size_t len)
{
    if (name_is(name, len, "flags"))
        return each_item(cv, '~', item_value);
    if (name_is(name, len, "begin_search") || name_is(name, len, "find_keys"))
        return copy_map_with(cv, search_value);
    return copy_value(cv);
}

static int item_keyspec(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return copy_map_with(cv, keyspec_value);
}

static int item_info_entry(struct conv *cv, long long i, long long n);

/* A field of a COMMAND INFO entry: name, arity, flags, first, last, step,
 * ACL categories, tips, key specs, subcommands. Flags, categories, tips and
 * key specs are sets in Redis 7.0's RESP3; subcommands an array, or an
 * empty set when there are none. */
static int item_info_field(struct conv *cv, long long i, long long n)
{
    (void)n;
    if (i == 2 || i == 6 || i == 7)
        return each_item(cv, '~', item_value);
    if (i == 8)
        return each_item(cv, '~', item_keyspec);
    if (i == 9) {
        char type;
        long long k;
        if (!peek(cv, &type, &k))
            return 0;
        return each_item(cv, type == '*' && k == 0 ? '~' : '*', item_info_entry);
    }
    return copy_value(cv);
}

static int item_info_entry(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return each_item(cv, '*', item_info_field);
}

static int doc_value(struct conv *cv, const char *name, size_t len);

/* COMMAND DOCS: a map of command names to their documentation maps; a
 * command's subcommands are such a map too. */
static int doc_entry(struct conv *cv, const char *name, size_t len)
{
    (void)name;
    (void)len;
    return copy_map_with(cv, doc_value);
}

/* LATENCY HISTOGRAM: each command's entry a map, and its histogram_usec
 * (bucket, cumulative count pairs) a map too. */
static int histogram_field(struct conv *cv, const char *name, size_t len)
{
    return name_is(name, len, "histogram_usec") ? copy_map_with(cv, plain_value) : copy_value(cv);
}

static int histogram_entry(struct conv *cv, const char *name, size_t len)
{
    (void)name;
    (void)len;
    return copy_map_with(cv, histogram_field);
}

/* An argument's map: its own flags a set, its nested arguments maps. */
static int arg_value(struct conv *cv, const char *name, size_t len)
{
    if (name_is(name, len, "flags"))
        return each_item(cv, '~', item_value);
    if (name_is(name, len, "arguments"))
        return doc_value(cv, name, len);
    return copy_value(cv);
}

static int item_arg(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return copy_map_with(cv, arg_value);
}

static int doc_value(struct conv *cv, const char *name, size_t len)
{
    if (name_is(name, len, "doc_flags") || name_is(name, len, "history"))
        return each_item(cv, '~', item_value);
    if (name_is(name, len, "subcommands"))
        return copy_map_with(cv, doc_entry);
    if (name_is(name, len, "arguments"))
        return each_item(cv, '*', item_arg);
    return copy_value(cv);
}

/* ZMPOP's [key, [[member, score], ...]]. */
static int item_pop(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return each_item(cv, '*', item_last_double);
}

static int item_key_pops(struct conv *cv, long long i, long long n)
{
    (void)n;
    return i == 1 ? each_item(cv, '*', item_pop) : copy_value(cv);
}

/* GEOPOS's [longitude, latitude] (a null for a missing member). */
static int item_doubles(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return each_item(cv, '*', item_double);
}

/* A search's [member, distance?, hash?, [longitude, latitude]?]: only an
 * array in last place is the coordinates (WITHCOORD), whatever the options
 * were, so they need not be parsed here. */
static int item_geo_last(struct conv *cv, long long i, long long n)
{
    char type;
    long long m;
    if (i != n - 1 || !peek(cv, &type, &m) || type != '*')
        return copy_value(cv);
    return each_item(cv, '*', item_double);
}

static int item_geo(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return each_item(cv, '*', item_geo_last);
}

/* COMMAND GETKEYSANDFLAGS's [key, flags], and the flags of CLIENT
 * TRACKINGINFO and ACL GETUSER: sets in Redis 7.0's RESP3. */
static int item_key_flags_field(struct conv *cv, long long i, long long n)
{
    (void)n;
    return i == 1 ? each_item(cv, '~', item_value) : copy_value(cv);
}

static int item_key_flags(struct conv *cv, long long i, long long n)
{
    (void)i;
    (void)n;
    return each_item(cv, '*', item_key_flags_field);
}

static int flags_value(struct conv *cv, const char *name, size_t len)
{
    return name_is(name, len, "flags") ? each_item(cv, '~', item_value) : copy_value(cv);
}

/* One top-level value of the given shape. */
static int convert_one(struct conv *cv, int shape)
{
    switch (shape) {
    case RESP3_MAP:
        return copy_map_with(cv, plain_value);
    case RESP3_SET:
        return each_item(cv, '~', item_value);
    case RESP3_PUSH:
        return each_item(cv, '>', item_value);
    case RESP3_DOUBLE:
        return copy_double(cv);
    case RESP3_DOUBLES:
        return each_item(cv, '*', item_double);
    case RESP3_SCORED:
        return copy_pairs(cv, 1);
    case RESP3_PAIRS:
        return copy_pairs(cv, 0);
    case RESP3_POP:        /* [member, score] */
    case RESP3_KEY_SCORED: /* [key, member, score] */
        return each_item(cv, '*', item_last_double);
    case RESP3_KEY_SCOREDS:
        return each_item(cv, '*', item_key_pops);
    case RESP3_VERBATIM: {
        long long n;
        if (!open_typed(cv, '$', &n))
            return 0;
        if (n < 0)
            return 1;
        put_header(cv->out, '=', n + 4);
        resp_buf_append(cv->out, "txt:", 4);
        return copy_payload(cv, n);
    }
    case RESP3_COMMAND_INFO:
        return each_item(cv, '*', item_info_entry);
    case RESP3_COMMAND_DOCS:
        return copy_map_with(cv, doc_entry);
    case RESP3_LATENCY_HISTOGRAM:
        return copy_map_with(cv, histogram_entry);
    case RESP3_GEOPOS:
        return each_item(cv, '*', item_doubles);
    case RESP3_GEO_ITEMS:
        return each_item(cv, '*', item_geo);
    case RESP3_KEYS_FLAGS:
        return each_item(cv, '*', item_key_flags);
    case RESP3_MAP_FLAGS:
        return copy_map_with(cv, flags_value);
    default:
        return copy_value(cv);
    }
}

int resp3_convert(int shape, const char *in, size_t len, struct resp_buf *out)
{
    if (len == 0)
        return 0; /* in may be NULL then */
    struct conv cv = {in, in + len, out};
    while (cv.p < cv.end) {
        char type;
        long long n;
        if (!peek(&cv, &type, &n))
            return -1;
        /* Errors are errors in either protocol, whatever the shape. */
        if (!(type == '-' ? copy_value(&cv) : convert_one(&cv, shape)))
            return -1;
    }
    return 0;
}
