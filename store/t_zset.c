/* Sorted sets (Redis t_zset.c). Two tables under the key's member prefix:
 *   'm' member            -> score (8 bytes, native double)
 *   's' sortable(score) member -> score (the index, in Redis's order: score,
 *                                 then member bytes)
 * Range commands walk the index as Redis walks a listpack. */
#include "store/coll.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

static void zs_enc(unsigned char *b, double d)
{
    if (d == 0)
        d = 0.0; /* -0 and 0 sort together, as in Redis */
    uint64_t u;
    memcpy(&u, &d, 8);
    if (u >> 63)
        u = ~u;
    else
        u |= 1ULL << 63;
    store_put_be64(b, u);
}

static int zs_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r)
{
    return store_db_lookup_type(c, key, klen, STORE_T_ZSET, r);
}

static int zs_score(struct store_ctx *c, const char *key, size_t klen, const void *m, size_t ml,
                    double *score)
{
    unsigned char sub[STORE_MAX_DBKEY];
    if (ml + 1 > sizeof(sub))
        return 0;
    sub[0] = 'm';
    memcpy(sub + 1, m, ml);
    MDB_val v;
    if (!store_m_get(c, key, klen, sub, ml + 1, &v) || v.mv_size != 8)
        return 0;
    memcpy(score, v.mv_data, 8);
    return 1;
}

static void zs_del(struct store_ctx *c, const char *key, size_t klen, const void *m, size_t ml,
                   double score)
{
    unsigned char sub[STORE_MAX_DBKEY + 16];
    if (ml + 9 > STORE_MAX_DBKEY)
        return;
    sub[0] = 'm';
    memcpy(sub + 1, m, ml);
    store_m_del(c, key, klen, sub, ml + 1);
    sub[0] = 's';
    zs_enc(sub + 1, score);
    memcpy(sub + 9, m, ml);
    store_m_del(c, key, klen, sub, ml + 9);
}

static void zs_put(struct store_ctx *c, const char *key, size_t klen, const void *m, size_t ml,
                   double score, int skiplist)
{
    unsigned char sub[STORE_MAX_DBKEY + 16];
    if (ml + 9 > STORE_MAX_DBKEY) {
        store_ctx_mdb_err(c, MDB_BAD_VALSIZE);
        return;
    }
    if (score == 0 && !skiplist)
        score = 0.0; /* a listpack stores -0 as the integer 0 (double2ll) */
    sub[0] = 'm';
    memcpy(sub + 1, m, ml);
    store_m_put(c, key, klen, sub, ml + 1, &score, 8);
    sub[0] = 's';
    zs_enc(sub + 1, score);
    memcpy(sub + 9, m, ml);
    store_m_put(c, key, klen, sub, ml + 9, &score, 8);
}

/* The whole sorted set in index order (copied out of LMDB). */
struct zs_arr {
    long n;
    const unsigned char **m;
    size_t *ml;
    double *sc;
    struct coll_items items;
};

static int zs_load_cb(void *arg, const unsigned char *sub, size_t sublen,
                      const unsigned char *val, size_t vlen)
{
    if (sublen < 9 || sub[0] != 's')
        return 1;
    return coll_collect_cb(arg, sub + 9, sublen - 9, val, vlen);
}

static void zs_load(struct store_ctx *c, const char *key, size_t klen, struct zs_arr *a)
{
    resp_buf_init(&a->items.b);
    a->items.n = 0;
    store_m_iter(c, key, klen, "s", 1, 0, zs_load_cb, &a->items);
    a->n = a->items.n;
    a->m = malloc(sizeof(*a->m) * (size_t)(a->n + 1));
    a->ml = malloc(sizeof(*a->ml) * (size_t)(a->n + 1));
    a->sc = malloc(sizeof(*a->sc) * (size_t)(a->n + 1));
    STORE_ASSERT(a->m && a->ml && a->sc);
    struct coll_pos p = {0};
    for (long i = 0; i < a->n; i++) {
        const unsigned char *v = NULL;
        size_t vl = 0;
        coll_next(&a->items, &p, &a->m[i], &a->ml[i], &v, &vl);
        memcpy(&a->sc[i], v, 8);
    }
}

/* Like zs_load, but only `limit` elements after skipping `skip`, walking
 * from the highest score when reverse: O(skip + limit), not O(size). */
struct zs_range_acc {
    struct coll_items *items;
    long skip, limit;
};

static int zs_load_range_cb(void *arg, const unsigned char *sub, size_t sublen,
                            const unsigned char *val, size_t vlen)
{
    struct zs_range_acc *a = arg;
    if (sublen < 9 || sub[0] != 's' || a->limit <= 0)
        return 1;
    if (a->skip > 0) {
        a->skip--;
        return 0;
    }
    coll_collect_cb(a->items, sub + 9, sublen - 9, val, vlen);
    return --a->limit <= 0;
}

static void zs_load_range(struct store_ctx *c, const char *key, size_t klen, int reverse,
                          long skip, long limit, struct zs_arr *a)
{
    resp_buf_init(&a->items.b);
    a->items.n = 0;
    struct zs_range_acc acc = {&a->items, skip, limit};
    if (limit > 0)
        store_m_iter(c, key, klen, reverse ? "t" : "s", 1, reverse, zs_load_range_cb, &acc);
    a->n = a->items.n;
    a->m = malloc(sizeof(*a->m) * (size_t)(a->n + 1));
    a->ml = malloc(sizeof(*a->ml) * (size_t)(a->n + 1));
    a->sc = malloc(sizeof(*a->sc) * (size_t)(a->n + 1));
    STORE_ASSERT(a->m && a->ml && a->sc);
    struct coll_pos p = {0};
    for (long i = 0; i < a->n; i++) {
        const unsigned char *v = NULL;
        size_t vl = 0;
        coll_next(&a->items, &p, &a->m[i], &a->ml[i], &v, &vl);
        memcpy(&a->sc[i], v, 8);
    }
}

static void zs_free(struct zs_arr *a)
{
    free(a->m);
    free(a->ml);
    free(a->sc);
    coll_items_fini(&a->items);
}

/* The zset header: count(8) and Redis's encoding (1 byte: 1 = skiplist),
 * which shows in replies: a listpack stores a -0 score as 0, a skiplist
 * keeps -0. Like Redis, a zset turns skiplist past 128 entries or a member
 * over 64 bytes and never turns back (store commands build afresh). */
#define ZSET_MAX_LISTPACK_ENTRIES 128
#define ZSET_MAX_LISTPACK_VALUE 64

static int zs_skiplist(const struct store_rec *r)
{
    return r->plen >= 9 && r->payload[8] == 1;
}

static void zs_hdr(unsigned char h[9], int64_t n, int skiplist)
{
    store_put_u64(h, (uint64_t)n);
    h[8] = (unsigned char)(skiplist ? 1 : 0);
}

static void zs_set_count(struct store_ctx *c, const char *key, size_t klen, int existed,
                         const struct store_rec *r, int64_t n, int skiplist)
{
    unsigned char h[9];
    if (n == 0) {
        if (existed)
            store_db_delete(c, key, klen);
        return;
    }
    zs_hdr(h, n, skiplist);
    if (existed)
        store_db_put_keep(c, key, klen, r, h, 9);
    else
        store_db_put(c, key, klen, STORE_T_ZSET, 0, h, 9);
}

/* ------------------------------------------------------------------ ranges */

struct zrange {
    double min, max;
    int minex, maxex;
};

static int zs_parse_bound(const char *s, double *v, int *ex)
{
    char *eptr;
    if (s[0] == '(') {
        *v = strtod(s + 1, &eptr);
        if (eptr[0] != '\0' || isnan(*v))
            return -1;
        *ex = 1;
    } else {
        *v = strtod(s, &eptr);
        if (eptr[0] != '\0' || isnan(*v))
            return -1;
        *ex = 0;
    }
    return 0;
}

static int zs_parse_range(const char *min, const char *max, struct zrange *r)
{
    if (zs_parse_bound(min, &r->min, &r->minex) || zs_parse_bound(max, &r->max, &r->maxex))
        return -1;
    return 0;
}

static int zs_gte_min(double v, const struct zrange *r)
{
    return r->minex ? v > r->min : v >= r->min;
}

static int zs_lte_max(double v, const struct zrange *r)
{
    return r->maxex ? v < r->max : v <= r->max;
}

/* Lex ranges: kind 1 = "-" (min string), 2 = "+" (max string), 0 = a value. */
struct zlex {
    const char *min, *max;
    size_t minlen, maxlen;
    int minkind, maxkind, minex, maxex;
};

static int zs_parse_lex_item(const char *s, size_t l, const char **d, size_t *dl, int *kind,
                             int *ex)
{
    switch (s[0]) {
    case '+':
        if (l != 1)
            return -1;
        *ex = 1;
        *kind = 2;
        return 0;
    case '-':
        if (l != 1)
            return -1;
        *ex = 1;
        *kind = 1;
        return 0;
    case '(':
        *ex = 1;
        *kind = 0;
        *d = s + 1;
        *dl = l - 1;
        return 0;
    case '[':
        *ex = 0;
        *kind = 0;
        *d = s + 1;
        *dl = l - 1;
        return 0;
    default:
        return -1;
    }
}

static int zs_parse_lex(const char *min, size_t minl, const char *max, size_t maxl,
                        struct zlex *r)
{
    if (zs_parse_lex_item(min, minl, &r->min, &r->minlen, &r->minkind, &r->minex) ||
        zs_parse_lex_item(max, maxl, &r->max, &r->maxlen, &r->maxkind, &r->maxex))
        return -1;
    return 0;
}

/* sdscmplex with the shared min/max strings. */
static int zs_lexcmp(const unsigned char *a, size_t al, int akind, const char *b, size_t bl,
                     int bkind)
{
    if (akind == bkind && akind != 0)
        return 0;
    if (akind == 1 || bkind == 2)
        return -1;
    if (akind == 2 || bkind == 1)
        return 1;
    size_t m = al < bl ? al : bl;
    int cmp = memcmp(a, b, m);
    if (cmp == 0)
        return al < bl ? -1 : (al > bl ? 1 : 0);
    return cmp;
}

static int zs_lex_gte_min(const unsigned char *m, size_t ml, const struct zlex *r)
{
    int cmp = zs_lexcmp(m, ml, 0, r->min, r->minlen, r->minkind);
    return r->minex ? cmp > 0 : cmp >= 0;
}

static int zs_lex_lte_max(const unsigned char *m, size_t ml, const struct zlex *r)
{
    int cmp = zs_lexcmp(m, ml, 0, r->max, r->maxlen, r->maxkind);
    return r->maxex ? cmp < 0 : cmp <= 0;
}

/* Index range [first, last] of elements in a score range, walking as
 * zzlFirstInRange/zzlLastInRange do. Returns 0 if empty. */
static int zs_score_span(const struct zs_arr *a, const struct zrange *r, long *first, long *last)
{
    /* zslIsInRange: empty when min > max or equal with an exclusive end. */
    if (r->min > r->max || (r->min == r->max && (r->minex || r->maxex)))
        return 0;
    long i = 0;
    while (i < a->n && !zs_gte_min(a->sc[i], r))
        i++;
    if (i >= a->n || !zs_lte_max(a->sc[i], r))
        return 0;
    long j = i;
    while (j + 1 < a->n && zs_lte_max(a->sc[j + 1], r))
        j++;
    *first = i;
    *last = j;
    return 1;
}

static int zs_lex_span(const struct zs_arr *a, const struct zlex *r, long *first, long *last)
{
    /* zslIsInLexRange */
    int cmp = zs_lexcmp((const unsigned char *)r->min, r->minlen, r->minkind, r->max,
                        r->maxlen, r->maxkind);
    if (cmp > 0 || (cmp == 0 && (r->minex || r->maxex)))
        return 0;
    /* zzlIsInLexRange: the last element >= min and the first <= max (with
     * mixed scores this is what makes Redis answer "nothing"). */
    if (a->n == 0 || !zs_lex_gte_min(a->m[a->n - 1], a->ml[a->n - 1], r) ||
        !zs_lex_lte_max(a->m[0], a->ml[0], r))
        return 0;
    long i = 0;
    while (i < a->n && !zs_lex_gte_min(a->m[i], a->ml[i], r))
        i++;
    if (i >= a->n || !zs_lex_lte_max(a->m[i], a->ml[i], r))
        return 0;
    long j = i;
    while (j + 1 < a->n && zs_lex_lte_max(a->m[j + 1], a->ml[j + 1], r))
        j++;
    *first = i;
    *last = j;
    return 1;
}

/* Reverse walks (zzlLastInRange) start from the end: the last element
 * <= max, then back while >= min. */
static int zs_score_span_rev(const struct zs_arr *a, const struct zrange *r, long *first,
                             long *last)
{
    if (r->min > r->max || (r->min == r->max && (r->minex || r->maxex)))
        return 0;
    long i = a->n - 1;
    while (i >= 0 && !zs_lte_max(a->sc[i], r))
        i--;
    if (i < 0 || !zs_gte_min(a->sc[i], r))
        return 0;
    long j = i;
    while (j - 1 >= 0 && zs_gte_min(a->sc[j - 1], r))
        j--;
    *first = j;
    *last = i;
    return 1;
}

static int zs_lex_span_rev(const struct zs_arr *a, const struct zlex *r, long *first,
                           long *last)
{
    int cmp = zs_lexcmp((const unsigned char *)r->min, r->minlen, r->minkind, r->max,
                        r->maxlen, r->maxkind);
    if (cmp > 0 || (cmp == 0 && (r->minex || r->maxex)))
        return 0;
    /* zzlIsInLexRange: the last element >= min and the first <= max (with
     * mixed scores this is what makes Redis answer "nothing"). */
    if (a->n == 0 || !zs_lex_gte_min(a->m[a->n - 1], a->ml[a->n - 1], r) ||
        !zs_lex_lte_max(a->m[0], a->ml[0], r))
        return 0;
    long i = a->n - 1;
    while (i >= 0 && !zs_lex_lte_max(a->m[i], a->ml[i], r))
        i--;
    if (i < 0 || !zs_lex_gte_min(a->m[i], a->ml[i], r))
        return 0;
    long j = i;
    while (j - 1 >= 0 && zs_lex_gte_min(a->m[j - 1], a->ml[j - 1], r))
        j--;
    *first = j;
    *last = i;
    return 1;
}

/* ------------------------------------------------------------------ ZADD */

#define ZADD_NX (1 << 0)
#define ZADD_XX (1 << 1)
#define ZADD_INCR (1 << 2)
#define ZADD_GT (1 << 3)
#define ZADD_LT (1 << 4)

static void zadd_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int flags)
{
    int ch = 0;
    int scoreidx = 2;
    while (scoreidx < argc) {
        const char *o = argv[scoreidx];
        size_t ol = len[scoreidx];
        if (store_strcasecmp_arg(o, ol, "nx"))
            flags |= ZADD_NX;
        else if (store_strcasecmp_arg(o, ol, "xx"))
            flags |= ZADD_XX;
        else if (store_strcasecmp_arg(o, ol, "ch"))
            ch = 1;
        else if (store_strcasecmp_arg(o, ol, "incr"))
            flags |= ZADD_INCR;
        else if (store_strcasecmp_arg(o, ol, "gt"))
            flags |= ZADD_GT;
        else if (store_strcasecmp_arg(o, ol, "lt"))
            flags |= ZADD_LT;
        else
            break;
        scoreidx++;
    }
    int incr = (flags & ZADD_INCR) != 0, nx = (flags & ZADD_NX) != 0;
    int xx = (flags & ZADD_XX) != 0, gt = (flags & ZADD_GT) != 0, lt = (flags & ZADD_LT) != 0;
    int elements = argc - scoreidx;
    if (elements % 2 || !elements) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    elements /= 2;
    if (nx && xx) {
        resp_add_error(c->out, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if ((gt && nx) || (lt && nx) || (gt && lt)) {
        resp_add_error(c->out, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if (incr && elements > 1) {
        resp_add_error(c->out, "ERR INCR option supports a single increment-element pair");
        return;
    }
    double *scores = malloc(sizeof(double) * (size_t)elements);
    STORE_ASSERT(scores);
    for (int j = 0; j < elements; j++) {
        if (!store_string2d(argv[scoreidx + j * 2], len[scoreidx + j * 2], &scores[j])) {
            resp_add_error(c->out, STORE_ENOTFLOAT);
            free(scores);
            return;
        }
    }
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    int added = 0, updated = 0, processed = 0;
    double score = 0;
    if (rc < 0) {
        free(scores);
        return;
    }
    if (rc == 0 && xx)
        goto reply;
    int64_t count = rc ? coll_count(&r) : 0;
    /* Redis 7.0 creates a listpack unless the first member is long; it
     * turns skiplist when an insert would pass 128 entries. */
    int skiplist = rc ? zs_skiplist(&r) : len[scoreidx + 1] > ZSET_MAX_LISTPACK_VALUE;
    for (int j = 0; j < elements; j++) {
        const char *m = argv[scoreidx + 1 + j * 2];
        size_t ml = len[scoreidx + 1 + j * 2];
        score = scores[j];
        double cur;
        if (zs_score(c, argv[1], len[1], m, ml, &cur)) {
            if (nx)
                continue;
            if (incr) {
                score += cur;
                if (isnan(score)) {
                    resp_add_error(c->out, "ERR resulting score is not a number (NaN)");
                    if (added || updated) {
                        zs_set_count(c, argv[1], len[1], rc, &r, count, skiplist);
                        store_notify(c, STORE_EV_ZSET, "zadd", argv[1], len[1]);
                    }
                    free(scores);
                    return;
                }
            }
            if ((lt && score >= cur) || (gt && score <= cur))
                continue;
            processed++;
            if (score != cur) {
                zs_del(c, argv[1], len[1], m, ml, cur);
                zs_put(c, argv[1], len[1], m, ml, score, skiplist);
                updated++;
            }
        } else if (!xx) {
            if (count + 1 > ZSET_MAX_LISTPACK_ENTRIES || ml > ZSET_MAX_LISTPACK_VALUE)
                skiplist = 1;
            zs_put(c, argv[1], len[1], m, ml, score, skiplist);
            added++;
            processed++;
            count++;
        }
    }
    if (added || updated || rc == 0 || skiplist != zs_skiplist(&r))
        zs_set_count(c, argv[1], len[1], rc, &r, count, skiplist);
    if (rc == 0 && count > 0)
        store_db_ready(c, argv[1], len[1]); /* for BZPOPMIN and the like */
    if (added || updated)
        store_notify(c, STORE_EV_ZSET, incr ? "zincr" : "zadd", argv[1], len[1]);
reply:
    if (incr) {
        if (processed)
            resp_add_bulk_double(c->out, score);
        else
            resp_add_null(c->out);
    } else {
        resp_add_int(c->out, ch ? added + updated : added);
    }
    free(scores);
}

STORE_DECL(zadd)
{
    zadd_generic(c, argc, argv, len, 0);
}

STORE_DECL(zincrby)
{
    zadd_generic(c, argc, argv, len, ZADD_INCR);
}

STORE_DECL(zrem)
{
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    int64_t count = coll_count(&r), deleted = 0;
    for (int i = 2; i < argc; i++) {
        double sc;
        if (zs_score(c, argv[1], len[1], argv[i], len[i], &sc)) {
            zs_del(c, argv[1], len[1], argv[i], len[i], sc);
            deleted++;
        }
    }
    if (deleted) {
        zs_set_count(c, argv[1], len[1], 1, &r, count - deleted, zs_skiplist(&r));
        store_notify(c, STORE_EV_ZSET, "zrem", argv[1], len[1]);
        if (count == deleted)
            store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    }
    resp_add_int(c->out, deleted);
}

STORE_DECL(zscore)
{
    (void)argc;
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    double sc;
    if (rc && zs_score(c, argv[1], len[1], argv[2], len[2], &sc))
        resp_add_bulk_double(c->out, sc);
    else
        resp_add_null(c->out);
}

STORE_DECL(zmscore)
{
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_array(c->out, argc - 2);
    for (int i = 2; i < argc; i++) {
        double sc;
        if (rc && zs_score(c, argv[1], len[1], argv[i], len[i], &sc))
            resp_add_bulk_double(c->out, sc);
        else
            resp_add_null(c->out);
    }
}

STORE_DECL(zcard)
{
    (void)argc;
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_int(c->out, rc ? coll_count(&r) : 0);
}

STORE_DECL(zcount)
{
    (void)argc;
    struct zrange range;
    if (zs_parse_range(argv[2], argv[3], &range) != 0) {
        resp_add_error(c->out, "ERR min or max is not a float");
        return;
    }
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    struct zs_arr a;
    zs_load(c, argv[1], len[1], &a);
    long first, last;
    resp_add_int(c->out, zs_score_span(&a, &range, &first, &last) ? last - first + 1 : 0);
    zs_free(&a);
}

STORE_DECL(zlexcount)
{
    (void)argc;
    struct zlex range;
    if (zs_parse_lex(argv[2], len[2], argv[3], len[3], &range) != 0) {
        resp_add_error(c->out, "ERR min or max not valid string range item");
        return;
    }
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    struct zs_arr a;
    zs_load(c, argv[1], len[1], &a);
    long first, last;
    resp_add_int(c->out, zs_lex_span(&a, &range, &first, &last) ? last - first + 1 : 0);
    zs_free(&a);
}

/* ------------------------------------------------------------------ ZRANGE family */

enum { ZR_AUTO, ZR_RANK, ZR_SCORE, ZR_LEX };
enum { ZD_AUTO, ZD_FWD, ZD_REV };

static void zs_emit(struct store_ctx *c, const struct zs_arr *a, long i, int withscores)
{
    resp_add_bulk(c->out, a->m[i], a->ml[i]);
    if (withscores)
        resp_add_bulk_double(c->out, a->sc[i]);
}

static void zr_store(struct store_ctx *c, const char *dst, size_t dlen, const struct zs_arr *a,
                     long first, long n, long step);

/* A range's result: n members of a from index first, step apart (a may be
 * NULL when n is 0), replied or, with dst, stored (ZRANGESTORE). */
static void zr_result(struct store_ctx *c, const char *dst, size_t dlen, const struct zs_arr *a,
                      long first, long n, long step, int withscores)
{
    if (dst) {
        zr_store(c, dst, dlen, a, first, n, step);
        return;
    }
    resp_add_array(c->out, withscores ? 2 * n : n);
    for (long k = 0, i = first; k < n; k++, i += step)
        zs_emit(c, a, i, withscores);
}

/* ZRANGE and its older forms; with dst (argv then starts at the source
 * key's place, less one) ZRANGESTORE, which stores the range instead. */
static void zrange_generic(struct store_ctx *c, int argc, char **argv, size_t *len,
                           int rangetype, int direction, const char *dst, size_t dlen)
{
    int minidx = 2, maxidx = 3;
    long opt_start = 0, opt_end = 0, opt_offset = 0, opt_limit = -1;
    int withscores = 0;
    for (int j = 4; j < argc; j++) {
        int left = argc - j - 1;
        if (dst == NULL && store_strcasecmp_arg(argv[j], len[j], "withscores")) {
            withscores = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "limit") && left >= 2) {
            if (!store_string2l(argv[j + 1], len[j + 1], &opt_offset) ||
                !store_string2l(argv[j + 2], len[j + 2], &opt_limit)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            j += 2;
        } else if (direction == ZD_AUTO && store_strcasecmp_arg(argv[j], len[j], "rev")) {
            direction = ZD_REV;
        } else if (rangetype == ZR_AUTO && store_strcasecmp_arg(argv[j], len[j], "bylex")) {
            rangetype = ZR_LEX;
        } else if (rangetype == ZR_AUTO && store_strcasecmp_arg(argv[j], len[j], "byscore")) {
            rangetype = ZR_SCORE;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    if (direction == ZD_AUTO)
        direction = ZD_FWD;
    if (rangetype == ZR_AUTO)
        rangetype = ZR_RANK;
    if (opt_limit != -1 && rangetype == ZR_RANK) {
        resp_add_error(c->out, "ERR syntax error, LIMIT is only supported in combination with "
                               "either BYSCORE or BYLEX");
        return;
    }
    if (withscores && rangetype == ZR_LEX) {
        resp_add_error(c->out,
                       "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    int rev = direction == ZD_REV;
    if (rev && (rangetype == ZR_SCORE || rangetype == ZR_LEX)) {
        minidx = 3;
        maxidx = 2;
    }
    struct zrange range;
    struct zlex lex;
    if (rangetype == ZR_RANK) {
        if (!store_string2l(argv[minidx], len[minidx], &opt_start) ||
            !store_string2l(argv[maxidx], len[maxidx], &opt_end)) {
            resp_add_error(c->out, STORE_ENOTINT);
            return;
        }
    } else if (rangetype == ZR_SCORE) {
        if (zs_parse_range(argv[minidx], argv[maxidx], &range) != 0) {
            resp_add_error(c->out, "ERR min or max is not a float");
            return;
        }
    } else {
        if (zs_parse_lex(argv[minidx], len[minidx], argv[maxidx], len[maxidx], &lex) != 0) {
            resp_add_error(c->out, "ERR min or max not valid string range item");
            return;
        }
    }
    struct store_rec r;
    /* ZRANGESTORE reads its source as ZRANGE does. */
    int rc = store_db_lookup_read_type(c, argv[1], len[1], STORE_T_ZSET, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        zr_result(c, dst, dlen, NULL, 0, 0, 1, withscores);
        return;
    }
    struct zs_arr a;
    if (rangetype == ZR_RANK) {
        long llen = (long)coll_count(&r);
        long start = opt_start, end = opt_end;
        if (start < 0)
            start = llen + start;
        if (end < 0)
            end = llen + end;
        if (start < 0)
            start = 0;
        if (start > end || start >= llen) {
            zr_result(c, dst, dlen, NULL, 0, 0, 1, withscores);
            return;
        }
        if (end >= llen)
            end = llen - 1;
        long n = end - start + 1;
        zs_load_range(c, argv[1], len[1], rev, start, n, &a);
        zr_result(c, dst, dlen, &a, 0, a.n, 1, withscores);
        zs_free(&a);
        return;
    }
    zs_load(c, argv[1], len[1], &a);
    long llen = a.n;
    long first, last;
    int any;
    if (opt_offset > 0 && opt_offset >= llen) {
        zr_result(c, dst, dlen, NULL, 0, 0, 1, withscores);
        zs_free(&a);
        return;
    }
    if (rangetype == ZR_SCORE)
        any = rev ? zs_score_span_rev(&a, &range, &first, &last)
                  : zs_score_span(&a, &range, &first, &last);
    else
        any = rev ? zs_lex_span_rev(&a, &lex, &first, &last)
                  : zs_lex_span(&a, &lex, &first, &last);
    long from = 0, emitted = 0, step = rev ? -1 : 1;
    if (any) {
        /* Walk from the first element in range in the walk direction:
         * skip offset elements (without range checks, as Redis does),
         * then take while in range and under the limit. */
        long pos = rev ? last : first;
        long offset = opt_offset, limit = opt_limit;
        if (offset < 0)
            pos = rev ? -1 : llen; /* Redis skips to the end */
        else
            pos += step * offset;
        from = pos;
        while (pos >= 0 && pos < llen && limit != 0) {
            int in;
            if (rangetype == ZR_SCORE)
                in = rev ? zs_gte_min(a.sc[pos], &range) : zs_lte_max(a.sc[pos], &range);
            else
                in = rev ? zs_lex_gte_min(a.m[pos], a.ml[pos], &lex)
                         : zs_lex_lte_max(a.m[pos], a.ml[pos], &lex);
            if (!in)
                break;
            emitted++;
            if (limit > 0)
                limit--;
            pos += step;
        }
    }
    zr_result(c, dst, dlen, &a, from, emitted, step, withscores);
    zs_free(&a);
}

STORE_DECL(zrange)
{
    zrange_generic(c, argc, argv, len, ZR_AUTO, ZD_AUTO, NULL, 0);
}

STORE_DECL(zrangestore)
{
    zrange_generic(c, argc - 1, argv + 1, len + 1, ZR_AUTO, ZD_AUTO, argv[1], len[1]);
}

STORE_DECL(zrangebyscore)
{
    zrange_generic(c, argc, argv, len, ZR_SCORE, ZD_FWD, NULL, 0);
}

STORE_DECL(zrevrangebyscore)
{
    zrange_generic(c, argc, argv, len, ZR_SCORE, ZD_REV, NULL, 0);
}

STORE_DECL(zrangebylex)
{
    zrange_generic(c, argc, argv, len, ZR_LEX, ZD_FWD, NULL, 0);
}

STORE_DECL(zrevrangebylex)
{
    zrange_generic(c, argc, argv, len, ZR_LEX, ZD_REV, NULL, 0);
}

STORE_DECL(zrevrange)
{
    zrange_generic(c, argc, argv, len, ZR_RANK, ZD_REV, NULL, 0);
}

static void zrank_generic(struct store_ctx *c, char **argv, size_t *len, int rev)
{
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    double sc;
    if (rc == 0 || !zs_score(c, argv[1], len[1], argv[2], len[2], &sc)) {
        resp_add_null(c->out);
        return;
    }
    struct zs_arr a;
    zs_load(c, argv[1], len[1], &a);
    long rank = -1;
    for (long i = 0; i < a.n; i++) {
        if (a.ml[i] == len[2] && memcmp(a.m[i], argv[2], len[2]) == 0) {
            rank = i;
            break;
        }
    }
    if (rank < 0)
        resp_add_null(c->out);
    else
        resp_add_int(c->out, rev ? a.n - 1 - rank : rank);
    zs_free(&a);
}

STORE_DECL(zrank)
{
    (void)argc;
    zrank_generic(c, argv, len, 0);
}

STORE_DECL(zrevrank)
{
    (void)argc;
    zrank_generic(c, argv, len, 1);
}

/* How a pop replies: ZPOPMIN's member, score, ...; BZPOPMIN's key, member,
 * score, ...; ZMPOP's [key, [[member, score], ...]]. */
enum { ZPOP_FLAT, ZPOP_KEYED, ZPOP_NESTED };

/* Pops up to count members from the low (or, with max, high) end of the
 * sorted set key, whose record is r. */
static void zs_pop(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r,
                   int max, long count, int form)
{
    long size = (long)coll_count(r);
    struct zs_arr a;
    zs_load_range(c, key, klen, max, 0, count > size ? size : count, &a);
    long n = a.n;
    if (form == ZPOP_FLAT) {
        resp_add_array(c->out, 2 * n);
    } else if (form == ZPOP_KEYED) {
        resp_add_array(c->out, 2 * n + 1);
        resp_add_bulk(c->out, key, klen);
    } else {
        resp_add_array(c->out, 2);
        resp_add_bulk(c->out, key, klen);
        resp_add_array(c->out, n);
    }
    for (long k = 0; k < n; k++) {
        if (form == ZPOP_NESTED)
            resp_add_array(c->out, 2);
        zs_emit(c, &a, k, 1);
        zs_del(c, key, klen, a.m[k], a.ml[k], a.sc[k]);
    }
    zs_set_count(c, key, klen, 1, r, size - n, zs_skiplist(r));
    store_notify(c, STORE_EV_ZSET, max ? "zpopmax" : "zpopmin", key, klen);
    if (size == n)
        store_notify(c, STORE_EV_GENERIC, "del", key, klen);
    zs_free(&a);
}

static void zpop_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int max)
{
    if (argc > 3) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    long count = -1;
    if (argc == 3 && coll_range_long(c, argv[2], len[2], 0, LONG_MAX, &count,
                                     "ERR value is out of range, must be positive") != 0)
        return;
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0 || count == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    zs_pop(c, argv[1], len[1], &r, max, count < 0 ? 1 : count, ZPOP_FLAT);
}

STORE_DECL(zpopmin)
{
    zpop_generic(c, argc, argv, len, 0);
}

STORE_DECL(zpopmax)
{
    zpop_generic(c, argc, argv, len, 1);
}

/* BZPOPMIN, BZPOPMAX, ZMPOP and BZMPOP: the first key holding a sorted set
 * gives one member, or up to COUNT. */
static int zs_pop_one(struct store_ctx *c, const char *key, size_t klen,
                      const struct store_pop *p)
{
    struct store_rec r;
    int rc = zs_lookup(c, key, klen, &r);
    if (rc > 0)
        zs_pop(c, key, klen, &r, p->where, p->count, p->nested ? ZPOP_NESTED : ZPOP_KEYED);
    return rc;
}

static void zs_bpop_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int max)
{
    struct store_pop p = {1, argc - 2, max, 1, 0};
    store_pop_first(c, argv, len, argc - 1, zs_pop_one, &p);
}

STORE_DECL(bzpopmin)
{
    zs_bpop_generic(c, argc, argv, len, 0);
}

STORE_DECL(bzpopmax)
{
    zs_bpop_generic(c, argc, argv, len, 1);
}

STORE_DECL(zmpop)
{
    store_mpop(c, argc, argv, len, 0, "min", "max", zs_pop_one);
}

STORE_DECL(bzmpop)
{
    store_mpop(c, argc, argv, len, 1, "min", "max", zs_pop_one);
}

static void zremrange_generic(struct store_ctx *c, char **argv, size_t *len, int type)
{
    long start = 0, end = 0;
    struct zrange range;
    struct zlex lex;
    if (type == ZR_RANK) {
        if (!store_string2l(argv[2], len[2], &start) || !store_string2l(argv[3], len[3], &end)) {
            resp_add_error(c->out, STORE_ENOTINT);
            return;
        }
    } else if (type == ZR_SCORE) {
        if (zs_parse_range(argv[2], argv[3], &range) != 0) {
            resp_add_error(c->out, "ERR min or max is not a float");
            return;
        }
    } else {
        if (zs_parse_lex(argv[2], len[2], argv[3], len[3], &lex) != 0) {
            resp_add_error(c->out, "ERR min or max not valid string range item");
            return;
        }
    }
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    struct zs_arr a;
    zs_load(c, argv[1], len[1], &a);
    long first = 0, last = -1;
    if (type == ZR_RANK) {
        long llen = a.n;
        if (start < 0)
            start = llen + start;
        if (end < 0)
            end = llen + end;
        if (start < 0)
            start = 0;
        if (!(start > end || start >= llen)) {
            if (end >= llen)
                end = llen - 1;
            first = start;
            last = end;
        }
    } else if (type == ZR_SCORE) {
        if (!zs_score_span(&a, &range, &first, &last))
            last = -1, first = 0;
    } else {
        if (!zs_lex_span(&a, &lex, &first, &last))
            last = -1, first = 0;
    }
    long removed = last - first + 1;
    for (long i = first; i <= last; i++)
        zs_del(c, argv[1], len[1], a.m[i], a.ml[i], a.sc[i]);
    if (removed > 0) {
        zs_set_count(c, argv[1], len[1], 1, &r, a.n - removed, zs_skiplist(&r));
        static const char *const events[] = {NULL, "zremrangebyrank", "zremrangebyscore",
                                             "zremrangebylex"};
        store_notify(c, STORE_EV_ZSET, events[type], argv[1], len[1]);
        if (a.n == removed)
            store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    }
    resp_add_int(c->out, removed > 0 ? removed : 0);
    zs_free(&a);
}

STORE_DECL(zremrangebyscore)
{
    (void)argc;
    zremrange_generic(c, argv, len, ZR_SCORE);
}

STORE_DECL(zremrangebyrank)
{
    (void)argc;
    zremrange_generic(c, argv, len, ZR_RANK);
}

STORE_DECL(zremrangebylex)
{
    (void)argc;
    zremrange_generic(c, argv, len, ZR_LEX);
}

STORE_DECL(zscan)
{
    store_coll_scan(c, argc, argv, len, STORE_T_ZSET);
}

STORE_DECL(zrandmember)
{
    long l;
    int withscores;
    if (coll_rand_args(c, argc, argv, len, "withscores", &l, &withscores) < 0)
        return;
    struct store_rec r;
    int rc = zs_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (argc >= 3)
            resp_add_array(c->out, 0);
        else
            resp_add_null(c->out);
        return;
    }
    struct zs_arr a;
    zs_load(c, argv[1], len[1], &a);
    struct coll_rand p;
    coll_rand_begin(&p, argc >= 3, l, a.n);
    if (argc >= 3)
        resp_add_array(c->out, withscores ? p.n * 2 : p.n);
    for (long i; (i = coll_rand_next(c, &p)) >= 0;)
        zs_emit(c, &a, i, withscores);
    coll_rand_end(&p);
    zs_free(&a);
}

/* ------------------------------------------------------------------ ZUNION, ZINTER, ZDIFF and their STORE forms */

enum { AGG_SUM, AGG_MIN, AGG_MAX };
enum { ZOP_UNION, ZOP_INTER, ZOP_DIFF };

static void zs_aggregate(double *target, double val, int agg)
{
    if (agg == AGG_SUM) {
        *target = *target + val;
        if (isnan(*target))
            *target = 0.0;
    } else if (agg == AGG_MIN) {
        *target = val < *target ? val : *target;
    } else {
        *target = val > *target ? val : *target;
    }
}

struct zsrc {
    const char *key;
    size_t klen;
    int type; /* 0 missing */
    double weight;
    struct zs_arr a; /* for sets: members with score 1 */
    int idx;         /* original position (stable sort) */
};

static int zs_load_set_cb(void *arg, const unsigned char *sub, size_t sublen,
                          const unsigned char *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    double one = 1.0;
    return coll_collect_cb(arg, sub, sublen, (const unsigned char *)&one, 8);
}

static void zsrc_load(struct store_ctx *c, struct zsrc *s)
{
    struct zs_arr *a = &s->a;
    resp_buf_init(&a->items.b);
    a->items.n = 0;
    if (s->type == STORE_T_ZSET)
        store_m_iter(c, s->key, s->klen, "s", 1, 0, zs_load_cb, &a->items);
    else if (s->type == STORE_T_SET)
        store_m_iter(c, s->key, s->klen, NULL, 0, 0, zs_load_set_cb, &a->items);
    a->n = a->items.n;
    a->m = malloc(sizeof(*a->m) * (size_t)(a->n + 1));
    a->ml = malloc(sizeof(*a->ml) * (size_t)(a->n + 1));
    a->sc = malloc(sizeof(*a->sc) * (size_t)(a->n + 1));
    STORE_ASSERT(a->m && a->ml && a->sc);
    struct coll_pos p = {0};
    for (long i = 0; i < a->n; i++) {
        const unsigned char *v = NULL;
        size_t vl = 0;
        coll_next(&a->items, &p, &a->m[i], &a->ml[i], &v, &vl);
        memcpy(&a->sc[i], v, 8);
    }
}

static int zsrc_find(struct store_ctx *c, const struct zsrc *s, const unsigned char *m,
                     size_t ml, double *score)
{
    if (s->type == STORE_T_ZSET)
        return zs_score(c, s->key, s->klen, m, ml, score);
    if (s->type == STORE_T_SET) {
        MDB_val v;
        if (store_m_get(c, s->key, s->klen, m, ml, &v)) {
            *score = 1.0;
            return 1;
        }
    }
    return 0;
}

/* A result accumulator: member -> score, kept as a simple open-addressing
 * table over copied members. */
struct zacc_ent {
    char *m;
    size_t ml;
    double score;
    int used;
};

struct zacc {
    struct zacc_ent *t;
    size_t cap, n;
};

static struct zacc_ent *zacc_find(struct zacc *z, const unsigned char *m, size_t ml, int add)
{
    if (add && (z->n + 1) * 2 > z->cap) {
        size_t ncap = z->cap ? z->cap * 2 : 64;
        struct zacc_ent *nt = calloc(ncap, sizeof(*nt));
        STORE_ASSERT(nt);
        for (size_t i = 0; i < z->cap; i++) {
            if (!z->t[i].used)
                continue;
            size_t h = store_hash32(z->t[i].m, z->t[i].ml) & (ncap - 1);
            while (nt[h].used)
                h = (h + 1) & (ncap - 1);
            nt[h] = z->t[i];
        }
        free(z->t);
        z->t = nt;
        z->cap = ncap;
    }
    if (z->cap == 0)
        return NULL;
    size_t h = store_hash32(m, ml) & (z->cap - 1);
    while (z->t[h].used) {
        if (z->t[h].ml == ml && memcmp(z->t[h].m, m, ml) == 0)
            return &z->t[h];
        h = (h + 1) & (z->cap - 1);
    }
    if (!add)
        return NULL;
    z->t[h].used = 1;
    z->t[h].m = malloc(ml ? ml : 1);
    STORE_ASSERT(z->t[h].m);
    memcpy(z->t[h].m, m, ml);
    z->t[h].ml = ml;
    z->n++;
    return &z->t[h];
}

/* zacc entries in a skiplist's order: score (-0 and 0 alike), then member. */
static int zacc_cmp(const void *pa, const void *pb)
{
    const struct zacc_ent *a = *(const struct zacc_ent *const *)pa;
    const struct zacc_ent *b = *(const struct zacc_ent *const *)pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    int d = memcmp(a->m, b->m, a->ml < b->ml ? a->ml : b->ml);
    if (d != 0)
        return d;
    return a->ml < b->ml ? -1 : a->ml > b->ml;
}

/* Replies with the result as ZRANGE 0 -1 of it would (Redis builds a
 * skiplist, so a -0 score shows as -0). */
static void zacc_reply(struct store_ctx *c, const struct zacc *acc, int withscores)
{
    struct zacc_ent **v = malloc(sizeof(*v) * (acc->n + 1));
    STORE_ASSERT(v);
    size_t n = 0;
    for (size_t i = 0; i < acc->cap; i++)
        if (acc->t[i].used)
            v[n++] = &acc->t[i];
    qsort(v, n, sizeof(*v), zacc_cmp);
    resp_add_array(c->out, (long long)(withscores ? 2 * n : n));
    for (size_t i = 0; i < n; i++) {
        resp_add_bulk(c->out, v[i]->m, v[i]->ml);
        if (withscores)
            resp_add_bulk_double(c->out, v[i]->score);
    }
    free(v);
}

/* Replaces dst with the result and replies its size, as the STORE forms
 * do: an empty result deletes dst. event: the command's, told when it
 * stored something ("del" when it deleted dst instead). */
static void zacc_store(struct store_ctx *c, const char *dst, size_t dlen, const struct zacc *acc,
                       const char *event)
{
    int had = store_db_replace(c, dst, dlen, acc->n == 0);
    /* zsetConvertToListpackIfNeeded on the result. */
    size_t maxlen = 0;
    for (size_t i = 0; i < acc->cap; i++)
        if (acc->t[i].used && acc->t[i].ml > maxlen)
            maxlen = acc->t[i].ml;
    int skiplist = acc->n > ZSET_MAX_LISTPACK_ENTRIES || maxlen > ZSET_MAX_LISTPACK_VALUE;
    for (size_t i = 0; i < acc->cap; i++)
        if (acc->t[i].used)
            zs_put(c, dst, dlen, acc->t[i].m, acc->t[i].ml, acc->t[i].score, skiplist);
    if (acc->n) {
        zs_set_count(c, dst, dlen, 0, NULL, (int64_t)acc->n, skiplist);
        store_db_ready(c, dst, dlen);
        store_notify(c, STORE_EV_ZSET, event, dst, dlen);
    } else if (had) {
        store_notify(c, STORE_EV_GENERIC, "del", dst, dlen);
    }
    resp_add_int(c->out, (long long)acc->n);
}

static void zacc_free(struct zacc *acc)
{
    for (size_t i = 0; i < acc->cap; i++)
        if (acc->t[i].used)
            free(acc->t[i].m);
    free(acc->t);
}

/* Whether member e of src[0] is in every other input (ZOP_INTER, with its
 * aggregated score in *score) or in none of them (ZOP_DIFF). An input that
 * is src[0]'s own key is not looked up again. */
static int zs_in_others(struct store_ctx *c, const struct zsrc *src, long setnum, long e,
                        int op, int agg, double *score)
{
    const struct zsrc *s0 = &src[0];
    for (long k = 1; k < setnum; k++) {
        double value;
        int same = src[k].klen == s0->klen && memcmp(src[k].key, s0->key, s0->klen) == 0;
        int found = same ? (value = s0->a.sc[e], 1)
                         : zsrc_find(c, &src[k], s0->a.m[e], s0->a.ml[e], &value);
        if (op == ZOP_DIFF) {
            if (found)
                return 0;
            continue;
        }
        if (!found)
            return 0;
        zs_aggregate(score, value * src[k].weight, agg);
    }
    return 1;
}

/* ZUNION, ZINTER, ZDIFF, their STORE forms (dst set) and ZINTERCARD
 * (cardonly), as Redis's zunionInterDiffGenericCommand: numkeys is argv[nk]
 * and the keys follow it; sets count as sorted sets with scores of 1. */
static void zsetop(struct store_ctx *c, int argc, char **argv, size_t *len, int nk, int op,
                   int cardonly)
{
    const char *dst = nk == 2 ? argv[1] : NULL;
    size_t dlen = nk == 2 ? len[1] : 0;
    long setnum;
    if (!store_string2l(argv[nk], len[nk], &setnum)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (setnum < 1) {
        resp_add_errorf(c->out, "ERR at least 1 input key is needed for '%s' command",
                        store_cmd_find(argv[0], len[0])->name);
        return;
    }
    if (setnum > argc - nk - 1) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    struct zsrc *src = calloc((size_t)setnum, sizeof(*src));
    STORE_ASSERT(src);
    int j = nk + 1;
    for (long i = 0; i < setnum; i++, j++) {
        struct store_rec r;
        src[i].key = argv[j];
        src[i].klen = len[j];
        src[i].weight = 1.0;
        src[i].idx = (int)i;
        if (store_db_lookup_read(c, argv[j], len[j], &r)) {
            if (r.type != STORE_T_ZSET && r.type != STORE_T_SET) {
                free(src);
                resp_add_error(c->out, STORE_WRONGTYPE);
                return;
            }
            src[i].type = r.type;
        }
    }
    int agg = AGG_SUM, withscores = 0;
    long limit = 0;
    const char *err = NULL;
    for (int remaining = argc - j; remaining > 0 && err == NULL;) {
        if (op != ZOP_DIFF && !cardonly && remaining >= setnum + 1 &&
            store_strcasecmp_arg(argv[j], len[j], "weights")) {
            j++;
            remaining--;
            for (long i = 0; i < setnum && err == NULL; i++, j++, remaining--)
                if (!store_string2d(argv[j], len[j], &src[i].weight))
                    err = "ERR weight value is not a float";
        } else if (op != ZOP_DIFF && !cardonly && remaining >= 2 &&
                   store_strcasecmp_arg(argv[j], len[j], "aggregate")) {
            if (store_strcasecmp_arg(argv[j + 1], len[j + 1], "sum"))
                agg = AGG_SUM;
            else if (store_strcasecmp_arg(argv[j + 1], len[j + 1], "min"))
                agg = AGG_MIN;
            else if (store_strcasecmp_arg(argv[j + 1], len[j + 1], "max"))
                agg = AGG_MAX;
            else
                err = STORE_ESYNTAX;
            j += 2;
            remaining -= 2;
        } else if (dst == NULL && !cardonly && store_strcasecmp_arg(argv[j], len[j], "withscores")) {
            withscores = 1;
            j++;
            remaining--;
        } else if (cardonly && remaining >= 2 && store_strcasecmp_arg(argv[j], len[j], "limit")) {
            if (!store_string2l(argv[j + 1], len[j + 1], &limit) || limit < 0)
                err = "ERR LIMIT can't be negative";
            j += 2;
            remaining -= 2;
        } else {
            err = STORE_ESYNTAX;
        }
    }
    if (err) {
        free(src);
        resp_add_error(c->out, err);
        return;
    }
    for (long i = 0; i < setnum; i++)
        zsrc_load(c, &src[i]);
    /* Sort by cardinality (stable), as Redis does before union and
     * intersection; a difference keeps its first input first. */
    for (long i = 1; op != ZOP_DIFF && i < setnum; i++) {
        struct zsrc t = src[i];
        long k = i - 1;
        while (k >= 0 && src[k].a.n > t.a.n) {
            src[k + 1] = src[k];
            k--;
        }
        src[k + 1] = t;
    }
    struct zacc acc = {NULL, 0, 0};
    long card = 0;
    /* Insertion order of the result does not matter: it is sorted after. */
    if (op == ZOP_INTER || op == ZOP_DIFF) {
        for (long e = 0; e < src[0].a.n; e++) {
            double score = op == ZOP_DIFF ? src[0].a.sc[e] : src[0].weight * src[0].a.sc[e];
            if (isnan(score))
                score = 0;
            if (!zs_in_others(c, src, setnum, e, op, agg, &score))
                continue;
            if (cardonly) {
                if (++card == limit)
                    break;
                continue;
            }
            zacc_find(&acc, src[0].a.m[e], src[0].a.ml[e], 1)->score = score;
        }
    } else {
        for (long i = 0; i < setnum; i++) {
            for (long e = 0; e < src[i].a.n; e++) {
                double score = src[i].weight * src[i].a.sc[e];
                if (isnan(score))
                    score = 0;
                struct zacc_ent *z = zacc_find(&acc, src[i].a.m[e], src[i].a.ml[e], 0);
                if (z == NULL)
                    zacc_find(&acc, src[i].a.m[e], src[i].a.ml[e], 1)->score = score;
                else
                    zs_aggregate(&z->score, score, agg);
            }
        }
    }
    for (long i = 0; i < setnum; i++)
        zs_free(&src[i].a);
    free(src);
    if (cardonly)
        resp_add_int(c->out, card);
    else if (dst)
        zacc_store(c, dst, dlen, &acc,
                   op == ZOP_UNION ? "zunionstore" : op == ZOP_INTER ? "zinterstore" : "zdiffstore");
    else
        zacc_reply(c, &acc, withscores);
    zacc_free(&acc);
}

STORE_DECL(zunionstore)
{
    zsetop(c, argc, argv, len, 2, ZOP_UNION, 0);
}

STORE_DECL(zinterstore)
{
    zsetop(c, argc, argv, len, 2, ZOP_INTER, 0);
}

STORE_DECL(zdiffstore)
{
    zsetop(c, argc, argv, len, 2, ZOP_DIFF, 0);
}

STORE_DECL(zunion)
{
    zsetop(c, argc, argv, len, 1, ZOP_UNION, 0);
}

STORE_DECL(zinter)
{
    zsetop(c, argc, argv, len, 1, ZOP_INTER, 0);
}

STORE_DECL(zdiff)
{
    zsetop(c, argc, argv, len, 1, ZOP_DIFF, 0);
}

STORE_DECL(zintercard)
{
    zsetop(c, argc, argv, len, 1, ZOP_INTER, 1);
}

/* ZRANGESTORE's result: n members of a from index first, step apart. */
static void zr_store(struct store_ctx *c, const char *dst, size_t dlen, const struct zs_arr *a,
                     long first, long n, long step)
{
    struct zacc acc = {NULL, 0, 0};
    for (long k = 0, i = first; k < n; k++, i += step)
        zacc_find(&acc, a->m[i], a->ml[i], 1)->score = a->sc[i];
    zacc_store(c, dst, dlen, &acc, "zrangestore");
    zacc_free(&acc);
}

/* ------------------------------------------------------------------ for SORT */

struct zs_walk {
    long skip;
    store_elem_cb cb;
    void *arg;
};

static int zs_walk_cb(void *arg, const unsigned char *sub, size_t sublen,
                      const unsigned char *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct zs_walk *w = arg;
    if (sublen < 9 || sub[0] != 's')
        return 1;
    if (w->skip > 0) {
        w->skip--;
        return 0;
    }
    return w->cb(w->arg, sub + 9, sublen - 9);
}

void store_zset_walk(struct store_ctx *c, const char *key, size_t klen, long start,
                     int reverse, store_elem_cb cb, void *arg)
{
    struct zs_walk w = {start, cb, arg};
    store_m_iter(c, key, klen, reverse ? "t" : "s", 1, reverse, zs_walk_cb, &w);
}

int store_zset_is_skiplist(const struct store_rec *r)
{
    return zs_skiplist(r);
}

static int zs_subnormal_cb(void *arg, const unsigned char *sub, size_t sublen,
                           const unsigned char *val, size_t vlen)
{
    double d;
    if (sublen < 9 || sub[0] != 's' || vlen != 8)
        return 1;
    memcpy(&d, val, 8);
    if (fpclassify(d) == FP_SUBNORMAL)
        *(int *)arg = 1;
    return *(int *)arg;
}

int store_zset_to_skiplist(struct store_ctx *c, const char *key, size_t klen,
                           const struct store_rec *r)
{
    int subnormal = 0;
    store_m_iter(c, key, klen, "s", 1, 0, zs_subnormal_cb, &subnormal);
    unsigned char h[9];
    zs_hdr(h, coll_count(r), 1);
    store_db_put_same_version(c, key, klen, r, h, 9);
    return subnormal;
}

/* ------------------------------------------------------------------ for geo */

int store_zset_score(struct store_ctx *c, const char *key, size_t klen, const void *m,
                     size_t ml, double *score)
{
    return zs_score(c, key, klen, m, ml, score);
}

struct zs_scores {
    store_zscore_cb cb;
    void *arg;
};

static int zs_scores_cb(void *arg, const unsigned char *sub, size_t sublen,
                        const unsigned char *val, size_t vlen)
{
    struct zs_scores *w = arg;
    double score;
    if (sublen < 9 || sub[0] != 's' || vlen != 8)
        return 1;
    memcpy(&score, val, 8);
    return w->cb(w->arg, sub + 9, sublen - 9, score);
}

void store_zset_walk_scores(struct store_ctx *c, const char *key, size_t klen, double min,
                            store_zscore_cb cb, void *arg)
{
    unsigned char from[9] = {'s'};
    zs_enc(from + 1, min);
    struct zs_scores w = {cb, arg};
    store_m_iter(c, key, klen, from, sizeof(from), 0, zs_scores_cb, &w);
}

void store_zset_write(struct store_ctx *c, const char *key, size_t klen,
                      const unsigned char *const *m, const size_t *ml, const double *sc, long n)
{
    size_t maxlen = 0;
    for (long i = 0; i < n; i++)
        if (ml[i] > maxlen)
            maxlen = ml[i];
    int skiplist = n > ZSET_MAX_LISTPACK_ENTRIES || maxlen > ZSET_MAX_LISTPACK_VALUE;
    for (long i = 0; i < n; i++)
        zs_put(c, key, klen, m[i], ml[i], sc[i], skiplist);
    zs_set_count(c, key, klen, 0, NULL, n, skiplist);
    store_db_ready(c, key, klen);
}

void store_zset_store(struct store_ctx *c, const char *dst, size_t dlen,
                      const unsigned char *const *m, const size_t *ml, const double *sc, long n,
                      const char *event)
{
    struct zacc acc = {NULL, 0, 0};
    for (long i = 0; i < n; i++)
        zacc_find(&acc, m[i], ml[i], 1)->score = sc[i];
    zacc_store(c, dst, dlen, &acc, event);
    zacc_free(&acc);
}
