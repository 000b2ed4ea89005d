/* Sets (Redis t_set.c): members with empty values. */
#include "store/coll.h"

#include <limits.h>

static int set_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r)
{
    return store_db_lookup_type(c, key, klen, STORE_T_SET, r);
}

STORE_DECL(sadd)
{
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    int64_t count = rc ? coll_count(&r) : 0, added = 0;
    for (int i = 2; i < argc; i++) {
        MDB_val v;
        if (!store_m_get(c, argv[1], len[1], argv[i], len[i], &v)) {
            store_m_put(c, argv[1], len[1], argv[i], len[i], "", 0);
            added++;
        }
    }
    if (added) {
        coll_set_count(c, argv[1], len[1], STORE_T_SET, rc, &r, count + added);
        store_notify(c, STORE_EV_SET, "sadd", argv[1], len[1]);
    }
    resp_add_int(c->out, added);
}

STORE_DECL(srem)
{
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    int64_t count = coll_count(&r), deleted = 0;
    for (int i = 2; i < argc; i++) {
        if (store_m_del(c, argv[1], len[1], argv[i], len[i]))
            deleted++;
    }
    if (deleted) {
        coll_set_count(c, argv[1], len[1], STORE_T_SET, 1, &r, count - deleted);
        store_notify(c, STORE_EV_SET, "srem", argv[1], len[1]);
        if (count == deleted)
            store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    }
    resp_add_int(c->out, deleted);
}

static int set_emit_cb(void *arg, const unsigned char *sub, size_t sublen,
                       const unsigned char *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    resp_add_bulk(arg, sub, sublen);
    return 0;
}

STORE_DECL(smembers)
{
    (void)argc;
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    resp_add_array(c->out, coll_count(&r));
    store_m_iter(c, argv[1], len[1], NULL, 0, 0, set_emit_cb, c->out);
}

STORE_DECL(sismember)
{
    (void)argc;
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    resp_add_int(c->out, rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v));
}

STORE_DECL(smismember)
{
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_array(c->out, argc - 2);
    for (int i = 2; i < argc; i++) {
        MDB_val v;
        resp_add_int(c->out, rc && store_m_get(c, argv[1], len[1], argv[i], len[i], &v));
    }
}

STORE_DECL(scard)
{
    (void)argc;
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_int(c->out, rc ? coll_count(&r) : 0);
}

/* Picks count distinct random members (count < size) or all of them. */
struct set_pick {
    const unsigned char **m;
    size_t *l;
    long n;
};

static void set_pick_load(struct coll_items *it, struct set_pick *p)
{
    p->n = it->n;
    p->m = malloc(sizeof(*p->m) * (size_t)(it->n + 1));
    p->l = malloc(sizeof(*p->l) * (size_t)(it->n + 1));
    STORE_ASSERT(p->m && p->l);
    struct coll_pos pos = {0};
    const unsigned char *val;
    size_t vlen;
    for (long i = 0; i < it->n; i++)
        coll_next(it, &pos, &p->m[i], &p->l[i], &val, &vlen);
}

static void set_pick_shuffle(struct store_ctx *c, struct set_pick *p, long count)
{
    for (long k = 0; k < count && k < p->n; k++) {
        long j = k + (long)(store_rng_next(&c->rng) % (uint64_t)(p->n - k));
        const unsigned char *tm = p->m[k];
        size_t tl = p->l[k];
        p->m[k] = p->m[j];
        p->l[k] = p->l[j];
        p->m[j] = tm;
        p->l[j] = tl;
    }
}

static void set_pick_free(struct set_pick *p)
{
    free(p->m);
    free(p->l);
}

STORE_DECL(spop)
{
    long count = 1;
    int with_count = argc == 3;
    if (argc > 3) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    if (with_count &&
        coll_range_long(c, argv[2], len[2], 0, LONG_MAX, &count,
                        "ERR value is out of range, must be positive") != 0)
        return;
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (with_count)
            resp_add_array(c->out, 0);
        else
            resp_add_null(c->out);
        return;
    }
    if (with_count && count == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    struct coll_items it;
    coll_collect(c, argv[1], len[1], &it);
    struct set_pick p;
    set_pick_load(&it, &p);
    if (count > p.n)
        count = p.n;
    set_pick_shuffle(c, &p, count);
    if (with_count)
        resp_add_array(c->out, count);
    for (long k = 0; k < count; k++) {
        resp_add_bulk(c->out, p.m[k], p.l[k]);
        store_m_del(c, argv[1], len[1], p.m[k], p.l[k]);
    }
    coll_set_count(c, argv[1], len[1], STORE_T_SET, 1, &r, p.n - count);
    store_notify(c, STORE_EV_SET, "spop", argv[1], len[1]);
    if (p.n == count)
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    set_pick_free(&p);
    coll_items_fini(&it);
}

STORE_DECL(srandmember)
{
    long l = 1;
    int with_count = argc == 3;
    if (argc > 3) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    if (with_count && coll_range_long(c, argv[2], len[2], -LONG_MAX, LONG_MAX, &l, NULL) != 0)
        return;
    struct store_rec r;
    int rc = set_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (with_count)
            resp_add_array(c->out, 0);
        else
            resp_add_null(c->out);
        return;
    }
    if (l == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    struct coll_items it;
    coll_collect(c, argv[1], len[1], &it);
    struct set_pick p;
    set_pick_load(&it, &p);
    if (!with_count) {
        long i = (long)(store_rng_next(&c->rng) % (uint64_t)p.n);
        resp_add_bulk(c->out, p.m[i], p.l[i]);
    } else if (l < 0) {
        resp_add_array(c->out, -l);
        for (long k = 0; k < -l; k++) {
            long i = (long)(store_rng_next(&c->rng) % (uint64_t)p.n);
            resp_add_bulk(c->out, p.m[i], p.l[i]);
        }
    } else {
        long count = l > p.n ? p.n : l;
        set_pick_shuffle(c, &p, count);
        resp_add_array(c->out, count);
        for (long k = 0; k < count; k++)
            resp_add_bulk(c->out, p.m[k], p.l[k]);
    }
    set_pick_free(&p);
    coll_items_fini(&it);
}

STORE_DECL(smove)
{
    (void)argc;
    struct store_rec sr, dr;
    int src = store_db_lookup(c, argv[1], len[1], &sr);
    int dst = store_db_lookup(c, argv[2], len[2], &dr);
    if (!src) {
        resp_add_int(c->out, 0);
        return;
    }
    if (sr.type != STORE_T_SET || (dst && dr.type != STORE_T_SET)) {
        resp_add_error(c->out, STORE_WRONGTYPE);
        return;
    }
    MDB_val v;
    if (len[1] == len[2] && memcmp(argv[1], argv[2], len[1]) == 0) {
        resp_add_int(c->out, store_m_get(c, argv[1], len[1], argv[3], len[3], &v));
        return;
    }
    if (!store_m_del(c, argv[1], len[1], argv[3], len[3])) {
        resp_add_int(c->out, 0);
        return;
    }
    int64_t left = coll_count(&sr) - 1; /* sr's payload may change with the write */
    coll_set_count(c, argv[1], len[1], STORE_T_SET, 1, &sr, left);
    store_notify(c, STORE_EV_SET, "srem", argv[1], len[1]);
    if (left == 0)
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    dst = store_db_lookup(c, argv[2], len[2], &dr);
    if (!store_m_get(c, argv[2], len[2], argv[3], len[3], &v)) {
        store_m_put(c, argv[2], len[2], argv[3], len[3], "", 0);
        coll_set_count(c, argv[2], len[2], STORE_T_SET, dst, &dr,
                       (dst ? coll_count(&dr) : 0) + 1);
        store_notify(c, STORE_EV_SET, "sadd", argv[2], len[2]);
    }
    resp_add_int(c->out, 1);
}

/* ------------------------------------------------------------------ algebra */

enum { SET_INTER, SET_UNION, SET_DIFF };

/* Computes the result into out (collected items, sorted by member as LMDB
 * returns them). Returns 0, or -1 when a key has the wrong type (error
 * written). limit (inter only): stop after that many (0 = none). */
static int set_algebra(struct store_ctx *c, char **keys, size_t *klens, int n, int op,
                       long limit, struct coll_items *out)
{
    resp_buf_init(&out->b);
    out->n = 0;
    int empty = 0;
    int *exists = calloc((size_t)n, sizeof(int));
    STORE_ASSERT(exists);
    for (int j = 0; j < n; j++) {
        struct store_rec r;
        int rc = store_db_lookup_read(c, keys[j], klens[j], &r);
        if (!rc) {
            empty++;
            continue;
        }
        if (r.type != STORE_T_SET) {
            resp_add_error(c->out, STORE_WRONGTYPE);
            free(exists);
            return -1;
        }
        exists[j] = 1;
    }
    if (op == SET_INTER && empty > 0) {
        free(exists);
        return 0;
    }
    int first = -1;
    for (int j = 0; j < n; j++)
        if (exists[j]) {
            first = j;
            break;
        }
    if (op == SET_DIFF && !exists[0]) {
        free(exists);
        return 0;
    }
    if (op == SET_UNION) {
        /* Merge: collect every set, then keep unique members. A simple
         * approach: gather all into one buffer, sort, dedupe. */
        struct coll_items all;
        resp_buf_init(&all.b);
        all.n = 0;
        for (int j = 0; j < n; j++)
            if (exists[j])
                store_m_iter(c, keys[j], klens[j], NULL, 0, 0, coll_collect_cb, &all);
        struct set_pick p;
        set_pick_load(&all, &p);
        /* insertion sort by memcmp order would be O(n^2); use qsort. */
        long *idx = malloc(sizeof(long) * (size_t)(p.n + 1));
        STORE_ASSERT(idx);
        for (long i = 0; i < p.n; i++)
            idx[i] = i;
        /* qsort needs a global context; do a simple merge sort instead. */
        long *tmp = malloc(sizeof(long) * (size_t)(p.n + 1));
        STORE_ASSERT(tmp);
        for (long width = 1; width < p.n; width *= 2) {
            for (long i = 0; i < p.n; i += 2 * width) {
                long a = i, am = i + width < p.n ? i + width : p.n;
                long b = am, bm = i + 2 * width < p.n ? i + 2 * width : p.n;
                long k = i;
                while (a < am || b < bm) {
                    int take_a;
                    if (a >= am)
                        take_a = 0;
                    else if (b >= bm)
                        take_a = 1;
                    else {
                        size_t la = p.l[idx[a]], lb = p.l[idx[b]];
                        int cmp = memcmp(p.m[idx[a]], p.m[idx[b]], la < lb ? la : lb);
                        take_a = cmp < 0 || (cmp == 0 && la <= lb);
                    }
                    tmp[k++] = take_a ? idx[a++] : idx[b++];
                }
            }
            long *t = idx;
            idx = tmp;
            tmp = t;
        }
        for (long i = 0; i < p.n; i++) {
            long cur = idx[i];
            if (i > 0) {
                long prev = idx[i - 1];
                if (p.l[prev] == p.l[cur] && memcmp(p.m[prev], p.m[cur], p.l[cur]) == 0)
                    continue;
            }
            coll_collect_cb(out, p.m[cur], p.l[cur], (const unsigned char *)"", 0);
        }
        free(idx);
        free(tmp);
        set_pick_free(&p);
        coll_items_fini(&all);
        free(exists);
        return 0;
    }
    /* INTER and DIFF: walk the first set, test the others. */
    struct coll_items base;
    coll_collect(c, keys[op == SET_DIFF ? 0 : first], klens[op == SET_DIFF ? 0 : first], &base);
    struct coll_pos pos = {0};
    const unsigned char *m, *val;
    size_t ml, vl;
    while (coll_next(&base, &pos, &m, &ml, &val, &vl)) {
        int keep = 1;
        for (int j = 0; j < n; j++) {
            if (op == SET_INTER && j == first)
                continue;
            if (op == SET_DIFF && j == 0)
                continue;
            if (!exists[j])
                continue;
            MDB_val v;
            int in = store_m_get(c, keys[j], klens[j], m, ml, &v);
            if (op == SET_INTER && !in) {
                keep = 0;
                break;
            }
            if (op == SET_DIFF && in) {
                keep = 0;
                break;
            }
        }
        if (keep) {
            coll_collect_cb(out, m, ml, val, 0);
            if (limit && out->n >= limit)
                break;
        }
    }
    coll_items_fini(&base);
    free(exists);
    return 0;
}

static void set_algebra_cmd(struct store_ctx *c, int argc, char **argv, size_t *len, int op)
{
    struct coll_items res;
    if (set_algebra(c, argv + 1, len + 1, argc - 1, op, 0, &res) != 0) {
        coll_items_fini(&res);
        return;
    }
    resp_add_array(c->out, res.n);
    struct coll_pos pos = {0};
    const unsigned char *m, *val;
    size_t ml, vl;
    while (coll_next(&res, &pos, &m, &ml, &val, &vl))
        resp_add_bulk(c->out, m, ml);
    coll_items_fini(&res);
}

static void set_algebra_store(struct store_ctx *c, int argc, char **argv, size_t *len, int op)
{
    struct coll_items res;
    if (set_algebra(c, argv + 2, len + 2, argc - 2, op, 0, &res) != 0) {
        coll_items_fini(&res);
        return;
    }
    int had = store_db_replace(c, argv[1], len[1], res.n == 0);
    if (res.n > 0) {
        struct coll_pos pos = {0};
        const unsigned char *m, *val;
        size_t ml, vl;
        while (coll_next(&res, &pos, &m, &ml, &val, &vl))
            store_m_put(c, argv[1], len[1], m, ml, "", 0);
        coll_set_count(c, argv[1], len[1], STORE_T_SET, 0, NULL, res.n);
        static const char *const events[] = {"sinterstore", "sunionstore", "sdiffstore"};
        store_notify(c, STORE_EV_SET, events[op], argv[1], len[1]);
    } else if (had) {
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    }
    resp_add_int(c->out, res.n);
    coll_items_fini(&res);
}

STORE_DECL(sinter)
{
    set_algebra_cmd(c, argc, argv, len, SET_INTER);
}

STORE_DECL(sunion)
{
    set_algebra_cmd(c, argc, argv, len, SET_UNION);
}

STORE_DECL(sdiff)
{
    set_algebra_cmd(c, argc, argv, len, SET_DIFF);
}

STORE_DECL(sinterstore)
{
    set_algebra_store(c, argc, argv, len, SET_INTER);
}

STORE_DECL(sunionstore)
{
    set_algebra_store(c, argc, argv, len, SET_UNION);
}

STORE_DECL(sdiffstore)
{
    set_algebra_store(c, argc, argv, len, SET_DIFF);
}

STORE_DECL(sintercard)
{
    long numkeys = 0, limit = 0;
    if (coll_range_long(c, argv[1], len[1], 1, LONG_MAX, &numkeys,
                        "ERR numkeys should be greater than 0") != 0)
        return;
    if (numkeys > argc - 2) {
        resp_add_error(c->out, "ERR Number of keys can't be greater than number of args");
        return;
    }
    for (int j = 2 + (int)numkeys; j < argc; j++) {
        int more = argc - 1 - j;
        if (store_strcasecmp_arg(argv[j], len[j], "limit") && more) {
            j++;
            if (coll_range_long(c, argv[j], len[j], 0, LONG_MAX, &limit,
                                "ERR LIMIT can't be negative") != 0)
                return;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    struct coll_items res;
    if (set_algebra(c, argv + 2, len + 2, (int)numkeys, SET_INTER, limit, &res) != 0) {
        coll_items_fini(&res);
        return;
    }
    resp_add_int(c->out, res.n);
    coll_items_fini(&res);
}

STORE_DECL(sscan)
{
    store_coll_scan(c, argc, argv, len, STORE_T_SET);
}

/* ------------------------------------------------------------------ SCAN family */

struct scan_acc {
    struct store_ctx *c;
    int type;
    const char *pat;
    size_t patlen;
    unsigned long skip; /* members to skip (cursor) */
    long want;          /* members to visit, -1 = all */
    unsigned long seen;
    long visited;
    long nout;
    struct resp_buf out;
    int more;
};

static int scan_cb(void *arg, const unsigned char *sub, size_t sublen, const unsigned char *val,
                   size_t vlen)
{
    struct scan_acc *a = arg;
    const unsigned char *member = sub;
    size_t mlen = sublen;
    if (a->type == STORE_T_ZSET) {
        if (sublen == 0 || sub[0] != 'm')
            return 1;
        member = sub + 1;
        mlen = sublen - 1;
    }
    if (a->seen++ < a->skip)
        return 0;
    if (a->want >= 0 && a->visited >= a->want) {
        a->more = 1;
        return 1;
    }
    a->visited++;
    if (a->pat && !resp_string_match(a->pat, (int)a->patlen, (const char *)member, (int)mlen, 0))
        return 0;
    resp_add_bulk(&a->out, member, mlen);
    if (a->type == STORE_T_HASH) {
        resp_add_bulk(&a->out, val, vlen);
    } else if (a->type == STORE_T_ZSET) {
        double d;
        memcpy(&d, val, 8);
        resp_add_bulk_double(&a->out, d);
    }
    a->nout++;
    return 0;
}

int coll_rand_args(struct store_ctx *c, int argc, char **argv, size_t *len, const char *with,
                   long *count, int *withflag)
{
    *count = 0;
    *withflag = 0;
    if (argc < 3)
        return 0;
    if (coll_range_long(c, argv[2], len[2], -LONG_MAX, LONG_MAX, count, NULL) != 0)
        return -1;
    if (argc > 4 || (argc == 4 && !store_strcasecmp_arg(argv[3], len[3], with))) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return -1;
    }
    if (argc == 4) {
        *withflag = 1;
        /* Redis refuses a count whose reply length (two per member) overflows. */
        if (*count < -LONG_MAX / 2 || *count > LONG_MAX / 2) {
            resp_add_error(c->out, "ERR value is out of range");
            return -1;
        }
    }
    return 0;
}

void coll_rand_begin(struct coll_rand *p, int given, long count, long size)
{
    *p = (struct coll_rand){.size = size};
    if (!given || count < 0 || count == 1) {
        p->n = !given ? 1 : count < 0 ? -count : 1;
        return;
    }
    p->n = count >= size ? size : count;
    if (p->n == 0)
        return;
    p->idx = malloc(sizeof(*p->idx) * (size_t)size);
    STORE_ASSERT(p->idx);
    for (long i = 0; i < size; i++)
        p->idx[i] = i;
}

long coll_rand_next(struct store_ctx *c, struct coll_rand *p)
{
    if (p->k == p->n)
        return -1;
    long k = p->k++;
    if (p->idx == NULL)
        return (long)(store_rng_next(&c->rng) % (uint64_t)p->size);
    if (p->n < p->size) { /* all of them: no draws, in stored order */
        long j = k + (long)(store_rng_next(&c->rng) % (uint64_t)(p->size - k));
        long t = p->idx[k];
        p->idx[k] = p->idx[j];
        p->idx[j] = t;
    }
    return p->idx[k];
}

void coll_rand_end(struct coll_rand *p)
{
    free(p->idx);
    p->idx = NULL;
}

void store_coll_scan(struct store_ctx *c, int argc, char **argv, size_t *len, int type)
{
    unsigned long cursor;
    if (coll_parse_cursor(c, argv[2], &cursor) != 0)
        return;
    struct store_rec r;
    int rc = store_db_lookup(c, argv[1], len[1], &r);
    if (!rc) {
        resp_buf_append(c->out, COLL_EMPTYSCAN, sizeof(COLL_EMPTYSCAN) - 1);
        return;
    }
    if (r.type != type) {
        resp_add_error(c->out, STORE_WRONGTYPE);
        return;
    }
    long count;
    const char *pat;
    size_t patlen;
    if (coll_scan_opts(c, argc, argv, len, 3, &count, &pat, &patlen) != 0)
        return;
    struct scan_acc a = {c, type, pat, patlen, 0, -1, 0, 0, 0, {0}, 0};
    int64_t n = coll_count(&r);
    /* Small collections come back whole with cursor 0, as Redis does for
     * its compact encodings; larger ones page by position. */
    if (n > 128) {
        a.skip = cursor;
        a.want = count;
    }
    resp_buf_init(&a.out);
    store_m_iter(c, argv[1], len[1], type == STORE_T_ZSET ? "m" : NULL,
                 type == STORE_T_ZSET ? 1 : 0, 0, scan_cb, &a);
    int mult = type == STORE_T_SET ? 1 : 2;
    resp_add_array(c->out, 2);
    resp_add_bulk_ll(c->out, a.more ? (long long)(cursor + (unsigned long)a.visited) : 0);
    resp_add_array(c->out, a.nout * mult);
    resp_buf_append(c->out, a.out.data, a.out.len);
    resp_buf_fini(&a.out);
}
