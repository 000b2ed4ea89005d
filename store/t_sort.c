/* SORT and SORT_RO (Redis sort.c): the elements of a list, set or sorted
 * set, sorted as numbers or (ALPHA) as strings, by themselves or by the
 * values a BY pattern names, each replied as itself or as the values GET
 * patterns name, or stored as a list (STORE). */
#include "store/coll.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* One element to sort. Its bytes and the value it sorts by (ALPHA BY) live
 * in the sort's arena, NUL-terminated for strcoll, and are kept as offsets
 * because the arena moves as it grows. */
struct sort_el {
    size_t off, len;
    double score;      /* a numeric sort's key */
    size_t by_off;     /* ALPHA BY: the value looked up ... */
    size_t by_len;
    int has_by;        /* ... when the pattern named one */
    long idx;          /* the place it was loaded at */
};

struct sort {
    struct store_ctx *c;
    int desc, alpha, store;
    const char *by;    /* the BY pattern, NULL when none */
    size_t bylen;
    int dontsort;      /* BY names no key: keep the source's order */
    int erange;        /* Redis's errno is ERANGE before the sort parses */
    struct resp_buf arena;
    struct sort_el *el;
    long n, cap;
    struct resp_buf keybuf;
};

static size_t sort_keep(struct sort *s, const void *p, size_t len)
{
    size_t off = s->arena.len;
    const char *base = s->arena.data;
    if (base && (const char *)p >= base && (const char *)p < base + off) {
        /* GET # names an element, in the arena: growing it may move p. */
        size_t from = (size_t)((const char *)p - base);
        resp_buf_reserve(&s->arena, len + 1);
        p = s->arena.data + from;
    }
    resp_buf_append(&s->arena, p, len);
    resp_buf_append(&s->arena, "", 1);
    return off;
}

static const char *sort_bytes(const struct sort *s, size_t off)
{
    return s->arena.data + off;
}

static int sort_load_cb(void *arg, const unsigned char *e, size_t elen)
{
    struct sort *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->el = realloc(s->el, sizeof(*s->el) * (size_t)s->cap);
        STORE_ASSERT(s->el != NULL);
    }
    struct sort_el *x = &s->el[s->n];
    memset(x, 0, sizeof(*x));
    x->off = sort_keep(s, e, elen);
    x->len = elen;
    x->idx = s->n++;
    return 0;
}

struct sort_load_n {
    struct sort *s;
    long left;
};

static int sort_load_n_cb(void *arg, const unsigned char *e, size_t elen)
{
    struct sort_load_n *l = arg;
    if (l->left <= 0)
        return 1;
    sort_load_cb(l->s, e, elen);
    return --l->left <= 0;
}

static int sort_set_cb(void *arg, const unsigned char *sub, size_t sublen,
                       const unsigned char *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    return sort_load_cb(arg, sub, sublen); /* a set's members are its keys */
}

/* lookupKeyByPattern: the value pattern names for element e (a string key,
 * or with "->field" a hash field), or "#" the element itself. Redis reads
 * the pattern as a C string to find '*', "->" and "#", and the whole of it
 * to build the key and field. Returns 1 with *v, valid until the next
 * lookup or write, or 0 when it names nothing. */
static int sort_lookup(struct sort *s, const char *pat, size_t patlen, const char *e,
                       size_t elen, const unsigned char **v, size_t *vl)
{
    size_t cl = strnlen(pat, patlen);
    if (cl == 1 && pat[0] == '#') {
        *v = (const unsigned char *)e;
        *vl = elen;
        return 1;
    }
    const char *star = memchr(pat, '*', cl);
    if (star == NULL)
        return 0;
    const char *arrow = memmem(star + 1, cl - (size_t)(star + 1 - pat), "->", 2);
    size_t fieldlen = arrow && arrow + 2 < pat + cl ? patlen - (size_t)(arrow - pat) - 2 : 0;
    size_t prefix = (size_t)(star - pat);
    size_t postfix = patlen - prefix - 1 - (fieldlen ? fieldlen + 2 : 0);
    resp_buf_reset(&s->keybuf);
    resp_buf_append(&s->keybuf, pat, prefix);
    resp_buf_append(&s->keybuf, e, elen);
    resp_buf_append(&s->keybuf, star + 1, postfix);
    const char *key = s->keybuf.len ? s->keybuf.data : ""; /* the empty key exists too */
    struct store_rec r;
    if (!store_db_lookup_read(s->c, key, s->keybuf.len, &r))
        return 0;
    if (fieldlen) {
        MDB_val mv;
        if (r.type != STORE_T_HASH ||
            !store_m_get(s->c, key, s->keybuf.len, arrow + 2, fieldlen, &mv))
            return 0;
        *v = mv.mv_data;
        *vl = mv.mv_size;
        return 1;
    }
    if (r.type != STORE_T_STRING)
        return 0;
    *v = r.payload;
    *vl = r.plen;
    return 1;
}

/* compareStringObjects: bytes, then length. */
static int sort_binary(const char *a, size_t al, const char *b, size_t bl)
{
    int cmp = memcmp(a, b, al < bl ? al : bl);
    if (cmp)
        return cmp;
    return al < bl ? -1 : al > bl;
}

/* sortCompare. Redis sorts with the C library's qsort, which glibc makes a
 * merge sort: elements that compare equal keep the order they were loaded
 * in, and so they do here. */
static int sort_cmp(const void *pa, const void *pb, void *arg)
{
    const struct sort_el *a = pa, *b = pb;
    const struct sort *s = arg;
    int cmp;
    if (!s->alpha) {
        cmp = a->score > b->score   ? 1
              : a->score < b->score ? -1
                                    : sort_binary(sort_bytes(s, a->off), a->len,
                                                  sort_bytes(s, b->off), b->len);
    } else if (s->by) {
        if (!a->has_by || !b->has_by)
            cmp = a->has_by == b->has_by ? 0 : a->has_by ? 1 : -1;
        else if (s->store)
            cmp = sort_binary(sort_bytes(s, a->by_off), a->by_len, sort_bytes(s, b->by_off),
                              b->by_len);
        else
            cmp = strcoll(sort_bytes(s, a->by_off), sort_bytes(s, b->by_off));
    } else if (s->store) {
        cmp = sort_binary(sort_bytes(s, a->off), a->len, sort_bytes(s, b->off), b->len);
    } else {
        cmp = strcoll(sort_bytes(s, a->off), sort_bytes(s, b->off));
    }
    if (s->desc)
        cmp = -cmp;
    return cmp ? cmp : (a->idx > b->idx) - (a->idx < b->idx);
}

/* The keys to sort by; 0, or -1 when a value is no number. */
static int sort_keys(struct sort *s)
{
    int bad = 0;
    for (long j = 0; j < s->n; j++) {
        struct sort_el *x = &s->el[j];
        const unsigned char *v;
        size_t vl;
        if (s->by) {
            if (!sort_lookup(s, s->by, s->bylen, sort_bytes(s, x->off), x->len, &v, &vl))
                continue;
        } else {
            v = (const unsigned char *)sort_bytes(s, x->off);
            vl = x->len;
        }
        if (s->alpha) {
            if (s->by) {
                x->has_by = 1;
                x->by_len = vl;
                x->by_off = sort_keep(s, v, vl);
            }
            continue;
        }
        /* strtod over the value as a C string, as Redis does. */
        char small[128];
        char *z = vl < sizeof(small) ? small : malloc(vl + 1);
        STORE_ASSERT(z != NULL);
        memcpy(z, v, vl);
        z[vl] = 0;
        char *end;
        errno = s->erange ? ERANGE : 0; /* strtod leaves errno alone on success */
        x->score = strtod(z, &end);
        if (end[0] != '\0' || errno == ERANGE || isnan(x->score))
            bad = 1;
        if (z != small)
            free(z);
    }
    return bad ? -1 : 0;
}

static void sort_reply_or_store(struct sort *s, long start, long end, const char *const *get,
                                const size_t *getlen, int ngets, const char *dst, size_t dstlen)
{
    long rows = end - start + 1;
    long outlen = ngets ? ngets * rows : rows;
    if (dst == NULL) {
        resp_add_array(s->c->out, outlen);
        for (long j = start; j <= end; j++) {
            const struct sort_el *x = &s->el[j];
            if (!ngets)
                resp_add_bulk(s->c->out, sort_bytes(s, x->off), x->len);
            for (int g = 0; g < ngets; g++) {
                const unsigned char *v;
                size_t vl;
                if (sort_lookup(s, get[g], getlen[g], sort_bytes(s, x->off), x->len, &v, &vl))
                    resp_add_bulk(s->c->out, v, vl);
                else
                    resp_add_null(s->c->out);
            }
        }
        return;
    }
    /* STORE: the values first (lookups read pages the writes may move),
     * a missing one as an empty string. */
    size_t *off = malloc(sizeof(*off) * (size_t)(outlen + 1));
    size_t *len = malloc(sizeof(*len) * (size_t)(outlen + 1));
    const unsigned char **e = malloc(sizeof(*e) * (size_t)(outlen + 1));
    STORE_ASSERT(off && len && e);
    long k = 0;
    for (long j = start; j <= end; j++) {
        const struct sort_el *x = &s->el[j];
        if (!ngets) {
            off[k] = x->off;
            len[k++] = x->len;
        }
        for (int g = 0; g < ngets; g++) {
            const unsigned char *v = (const unsigned char *)"";
            size_t vl = 0;
            sort_lookup(s, get[g], getlen[g], sort_bytes(s, x->off), x->len, &v, &vl);
            len[k] = vl;
            off[k++] = sort_keep(s, v, vl);
        }
    }
    for (long i = 0; i < k; i++)
        e[i] = (const unsigned char *)sort_bytes(s, off[i]);
    store_list_create(s->c, dst, dstlen, e, len, k);
    resp_add_int(s->c->out, outlen);
    free(off);
    free(len);
    free(e);
}

static void sort_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int readonly)
{
    struct sort s = {.c = c};
    long limit_start = 0, limit_count = -1;
    const char *dst = NULL;
    size_t dstlen = 0;
    int ngets = 0;
    const char **get = calloc((size_t)argc, sizeof(*get));
    size_t *getlen = calloc((size_t)argc, sizeof(*getlen));
    STORE_ASSERT(get && getlen);
    for (int j = 2; j < argc; j++) {
        int left = argc - j - 1;
        if (store_strcasecmp_arg(argv[j], len[j], "asc")) {
            s.desc = 0;
        } else if (store_strcasecmp_arg(argv[j], len[j], "desc")) {
            s.desc = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "alpha")) {
            s.alpha = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "limit") && left >= 2) {
            if (coll_range_long(c, argv[j + 1], len[j + 1], LONG_MIN, LONG_MAX, &limit_start,
                                NULL) ||
                coll_range_long(c, argv[j + 2], len[j + 2], LONG_MIN, LONG_MAX, &limit_count,
                                NULL))
                goto done;
            j += 2;
        } else if (!readonly && store_strcasecmp_arg(argv[j], len[j], "store") && left >= 1) {
            dst = argv[++j];
            dstlen = len[j];
        } else if (store_strcasecmp_arg(argv[j], len[j], "by") && left >= 1) {
            s.by = argv[++j];
            s.bylen = len[j];
            /* A pattern without '*' names no key: nothing to sort by. As
             * in Redis, that holds even when a later BY has a '*'. */
            if (memchr(s.by, '*', strnlen(s.by, s.bylen)) == NULL)
                s.dontsort = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "get") && left >= 1) {
            get[ngets] = argv[++j];
            getlen[ngets++] = len[j];
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            goto done;
        }
    }
    struct store_rec r;
    int found = store_db_lookup_read(c, argv[1], len[1], &r);
    if (found && r.type != STORE_T_LIST && r.type != STORE_T_SET && r.type != STORE_T_ZSET) {
        resp_add_error(c->out, STORE_WRONGTYPE);
        goto done;
    }
    int type = found ? r.type : STORE_T_LIST;
    s.store = dst != NULL;
    /* A set has no order of its own to keep: stored, it is sorted. */
    if (s.dontsort && type == STORE_T_SET && dst) {
        s.dontsort = 0;
        s.alpha = 1;
        s.by = NULL;
    }
    /* Redis 7.0 turns a sorted set into a skiplist to sort it, even for
     * SORT_RO, and a skiplist keeps the -0 scores written to it later. */
    if (type == STORE_T_ZSET && !store_zset_is_skiplist(&r)) {
        if (!c->write) {
            c->needs_write = 1;
            goto done;
        }
        /* And Redis 7.0 tests errno after each parse without clearing it
         * first: after a conversion that left ERANGE, every value SORT
         * parses counts as no number. */
        s.erange = store_zset_to_skiplist(c, argv[1], len[1], &r);
        store_db_lookup(c, argv[1], len[1], &r);
    }
    long vectorlen = found ? (long)coll_count(&r) : 0;
    /* LIMIT, clamped to the size first so the sums cannot overflow. */
    long start = limit_start < 0 ? 0 : limit_start > vectorlen ? vectorlen : limit_start;
    long count = limit_count < -1 ? -1 : limit_count > vectorlen ? vectorlen : limit_count;
    long end = count < 0 ? vectorlen - 1 : start + count - 1;
    if (start >= vectorlen) {
        start = vectorlen - 1;
        end = vectorlen - 2;
    }
    if (end >= vectorlen)
        end = vectorlen - 1;
    resp_buf_init(&s.arena);
    resp_buf_init(&s.keybuf);
    if (s.dontsort && (type == STORE_T_LIST || type == STORE_T_ZSET)) {
        /* The source's own order: load just the range. */
        if (end >= start && found) {
            struct sort_load_n l = {&s, end - start + 1};
            if (type == STORE_T_LIST)
                store_list_walk(c, argv[1], len[1], &r, start, s.desc, sort_load_n_cb, &l);
            else
                store_zset_walk(c, argv[1], len[1], start, s.desc, sort_load_n_cb, &l);
            end -= start;
            start = 0;
        }
    } else if (found) {
        if (type == STORE_T_LIST)
            store_list_walk(c, argv[1], len[1], &r, 0, 0, sort_load_cb, &s);
        else if (type == STORE_T_ZSET)
            store_zset_walk(c, argv[1], len[1], 0, 0, sort_load_cb, &s);
        else
            store_m_iter(c, argv[1], len[1], NULL, 0, 0, sort_set_cb, &s);
    }
    if (!s.dontsort) {
        int bad = sort_keys(&s);
        if (bad) {
            resp_add_error(c->out, "ERR One or more scores can't be converted into double");
            goto free;
        }
        if (s.n > 1)
            qsort_r(s.el, (size_t)s.n, sizeof(*s.el), sort_cmp, &s);
    }
    sort_reply_or_store(&s, start, end, get, getlen, ngets, dst, dstlen);
free:
    free(s.el);
    resp_buf_fini(&s.arena);
    resp_buf_fini(&s.keybuf);
done:
    free(get);
    free(getlen);
}

STORE_DECL(sort)
{
    sort_generic(c, argc, argv, len, 0);
}

STORE_DECL(sort_ro)
{
    sort_generic(c, argc, argv, len, 1);
}
