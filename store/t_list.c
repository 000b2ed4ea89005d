/* Lists (Redis t_list.c): items are members keyed by a signed position
 * (big-endian with the sign bit flipped, so LMDB order is list order); the
 * record holds [head, tail). Pushes and pops at either end are O(1);
 * LINSERT and LREM rewrite the list. */
#include "store/coll.h"

#include <limits.h>
#include <math.h>

enum { LIST_HEAD = 0, LIST_TAIL = 1 };

static void list_pos(unsigned char *b, int64_t pos)
{
    store_put_be64(b, (uint64_t)pos ^ 0x8000000000000000ULL);
}

struct list_hdr {
    int64_t head, tail;
};

static void list_hdr_get(const struct store_rec *r, struct list_hdr *h)
{
    h->head = (int64_t)store_get_u64(r->payload);
    h->tail = (int64_t)store_get_u64(r->payload + 8);
}

static int list_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r,
                       struct list_hdr *h)
{
    int rc = store_db_lookup_type(c, key, klen, STORE_T_LIST, r);
    if (rc == 1)
        list_hdr_get(r, h);
    else
        h->head = h->tail = 0;
    return rc;
}

/* Writes the header (deleting the key when empty). */
static void list_hdr_put(struct store_ctx *c, const char *key, size_t klen, int existed,
                         const struct store_rec *r, const struct list_hdr *h)
{
    if (h->tail == h->head) {
        if (existed)
            store_db_delete(c, key, klen);
        return;
    }
    unsigned char b[16];
    store_put_u64(b, (uint64_t)h->head);
    store_put_u64(b + 8, (uint64_t)h->tail);
    if (existed)
        store_db_put_keep(c, key, klen, r, b, 16);
    else
        store_db_put(c, key, klen, STORE_T_LIST, 0, b, 16);
}

static void list_put(struct store_ctx *c, const char *key, size_t klen, int64_t pos,
                     const void *v, size_t vlen)
{
    unsigned char b[8];
    list_pos(b, pos);
    store_m_put(c, key, klen, b, 8, v, vlen);
}

static int list_get(struct store_ctx *c, const char *key, size_t klen, int64_t pos, MDB_val *v)
{
    unsigned char b[8];
    list_pos(b, pos);
    return store_m_get(c, key, klen, b, 8, v);
}

static void list_del(struct store_ctx *c, const char *key, size_t klen, int64_t pos)
{
    unsigned char b[8];
    list_pos(b, pos);
    store_m_del(c, key, klen, b, 8);
}

/* The events of a pop from key: "lpop" or "rpop", then "del" when it
 * emptied the list (h: the header after the pop). */
static void list_popped(struct store_ctx *c, const char *key, size_t klen, int where,
                        const struct list_hdr *h)
{
    store_notify(c, STORE_EV_LIST, where == LIST_HEAD ? "lpop" : "rpop", key, klen);
    if (h->tail == h->head)
        store_notify(c, STORE_EV_GENERIC, "del", key, klen);
}

static const char *list_push_event(int where)
{
    return where == LIST_HEAD ? "lpush" : "rpush";
}

static void list_push_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int where,
                              int xx)
{
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (xx && rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    for (int i = 2; i < argc; i++) {
        if (where == LIST_HEAD)
            list_put(c, argv[1], len[1], --h.head, argv[i], len[i]);
        else
            list_put(c, argv[1], len[1], h.tail++, argv[i], len[i]);
    }
    list_hdr_put(c, argv[1], len[1], rc, &r, &h);
    store_db_ready(c, argv[1], len[1]);
    store_notify(c, STORE_EV_LIST, list_push_event(where), argv[1], len[1]);
    resp_add_int(c->out, h.tail - h.head);
}

STORE_DECL(lpush)
{
    list_push_generic(c, argc, argv, len, LIST_HEAD, 0);
}

STORE_DECL(rpush)
{
    list_push_generic(c, argc, argv, len, LIST_TAIL, 0);
}

STORE_DECL(lpushx)
{
    list_push_generic(c, argc, argv, len, LIST_HEAD, 1);
}

STORE_DECL(rpushx)
{
    list_push_generic(c, argc, argv, len, LIST_TAIL, 1);
}

/* Pops one item into out (a copy); returns 1, or 0 if the list is empty. */
static int list_pop(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r,
                    struct list_hdr *h, int where, struct resp_buf *val)
{
    if (h->tail == h->head)
        return 0;
    int64_t pos = where == LIST_HEAD ? h->head : h->tail - 1;
    MDB_val v;
    if (!list_get(c, key, klen, pos, &v)) {
        store_ctx_mdb_err(c, MDB_CORRUPTED);
        return 0;
    }
    resp_buf_reset(val);
    resp_buf_append(val, v.mv_data, v.mv_size);
    list_del(c, key, klen, pos);
    if (where == LIST_HEAD)
        h->head++;
    else
        h->tail--;
    list_hdr_put(c, key, klen, 1, r, h);
    return 1;
}

struct list_emit {
    struct resp_buf *out;
    long left;
};

static int list_emit_cb(void *arg, const unsigned char *sub, size_t sublen,
                        const unsigned char *val, size_t vlen)
{
    (void)sub;
    (void)sublen;
    struct list_emit *e = arg;
    if (e->left <= 0)
        return 1;
    resp_add_bulk(e->out, val, vlen);
    e->left--;
    return e->left <= 0;
}

/* Emits items [start, end] (0-based, valid) in order or reversed. */
static void list_emit_range(struct store_ctx *c, const char *key, size_t klen,
                            const struct list_hdr *h, long start, long end, int reverse)
{
    long n = end - start + 1;
    resp_add_array(c->out, n);
    struct list_emit e = {c->out, n};
    unsigned char b[8];
    list_pos(b, reverse ? h->head + end : h->head + start);
    store_m_iter(c, key, klen, b, 8, reverse, list_emit_cb, &e);
}

/* Pops up to count items from the non-empty list key, replying them as an
 * array in the order popped. */
static void list_pop_range(struct store_ctx *c, const char *key, size_t klen,
                           struct store_rec *r, struct list_hdr *h, int where, long count)
{
    long llen = (long)(h->tail - h->head);
    long n = count > llen ? llen : count;
    if (where == LIST_HEAD)
        list_emit_range(c, key, klen, h, 0, n - 1, 0);
    else
        list_emit_range(c, key, klen, h, llen - n, llen - 1, 1);
    for (long i = 0; i < n; i++) {
        if (where == LIST_HEAD)
            list_del(c, key, klen, h->head++);
        else
            list_del(c, key, klen, --h->tail);
    }
    list_hdr_put(c, key, klen, 1, r, h);
}

static void list_pop_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int where)
{
    int hascount = argc == 3;
    long count = 0;
    if (argc > 3) {
        resp_add_errorf(c->out, "ERR wrong number of arguments for '%s' command",
                        where == LIST_HEAD ? "lpop" : "rpop");
        return;
    } else if (hascount) {
        if (coll_range_long(c, argv[2], len[2], 0, LONG_MAX, &count,
                            "ERR value is out of range, must be positive") != 0)
            return;
    }
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (hascount)
            resp_add_null_array(c->out);
        else
            resp_add_null(c->out);
        return;
    }
    if (hascount && !count) {
        resp_add_array(c->out, 0);
        return;
    }
    if (!count) {
        struct resp_buf v;
        resp_buf_init(&v);
        list_pop(c, argv[1], len[1], &r, &h, where, &v);
        resp_add_bulk(c->out, v.data, v.len);
        resp_buf_fini(&v);
    } else {
        list_pop_range(c, argv[1], len[1], &r, &h, where, count);
    }
    list_popped(c, argv[1], len[1], where, &h);
}

STORE_DECL(lpop)
{
    list_pop_generic(c, argc, argv, len, LIST_HEAD);
}

STORE_DECL(rpop)
{
    list_pop_generic(c, argc, argv, len, LIST_TAIL);
}

STORE_DECL(llen)
{
    (void)argc;
    struct store_rec r;
    struct list_hdr h;
    if (list_lookup(c, argv[1], len[1], &r, &h) < 0)
        return;
    resp_add_int(c->out, h.tail - h.head);
}

static int list_get_long(struct store_ctx *c, const char *s, size_t l, long *out)
{
    if (!store_string2l(s, l, out)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return -1;
    }
    return 0;
}

STORE_DECL(lrange)
{
    (void)argc;
    long start, end;
    if (list_get_long(c, argv[2], len[2], &start) || list_get_long(c, argv[3], len[3], &end))
        return;
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    long llen = (long)(h.tail - h.head);
    if (start < 0)
        start = llen + start;
    if (end < 0)
        end = llen + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= llen) {
        resp_add_array(c->out, 0);
        return;
    }
    if (end >= llen)
        end = llen - 1;
    list_emit_range(c, argv[1], len[1], &h, start, end, 0);
}

STORE_DECL(lindex)
{
    (void)argc;
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_null(c->out);
        return;
    }
    long index;
    if (list_get_long(c, argv[2], len[2], &index))
        return;
    long llen = (long)(h.tail - h.head);
    if (index < 0)
        index = llen + index;
    MDB_val v;
    if (index < 0 || index >= llen || !list_get(c, argv[1], len[1], h.head + index, &v))
        resp_add_null(c->out);
    else
        resp_add_bulk(c->out, v.mv_data, v.mv_size);
}

STORE_DECL(lset)
{
    (void)argc;
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_error(c->out, "ERR no such key");
        return;
    }
    long index;
    if (list_get_long(c, argv[2], len[2], &index))
        return;
    long llen = (long)(h.tail - h.head);
    if (index < 0)
        index = llen + index;
    if (index < 0 || index >= llen) {
        resp_add_error(c->out, "ERR index out of range");
        return;
    }
    list_put(c, argv[1], len[1], h.head + index, argv[3], len[3]);
    list_hdr_put(c, argv[1], len[1], 1, &r, &h);
    store_notify(c, STORE_EV_LIST, "lset", argv[1], len[1]);
    resp_add_simple(c->out, "OK");
}

/* Rewrites the whole list from items (collected values). */
static void list_rewrite(struct store_ctx *c, const char *key, size_t klen,
                         const struct store_rec *r, struct coll_items *items)
{
    store_m_del_all(c, key, klen);
    struct list_hdr h = {0, 0};
    struct coll_pos p = {0};
    const unsigned char *sub, *val;
    size_t sl, vl;
    while (coll_next(items, &p, &sub, &sl, &val, &vl))
        list_put(c, key, klen, h.tail++, val, vl);
    list_hdr_put(c, key, klen, 1, r, &h);
}

STORE_DECL(linsert)
{
    (void)argc;
    int after;
    if (store_strcasecmp_arg(argv[2], len[2], "after"))
        after = 1;
    else if (store_strcasecmp_arg(argv[2], len[2], "before"))
        after = 0;
    else {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    struct coll_items items, out;
    coll_collect(c, argv[1], len[1], &items);
    resp_buf_init(&out.b);
    out.n = 0;
    struct coll_pos p = {0};
    const unsigned char *sub, *val;
    size_t sl, vl;
    int found = 0;
    while (coll_next(&items, &p, &sub, &sl, &val, &vl)) {
        int match = !found && vl == len[3] && memcmp(val, argv[3], vl) == 0;
        if (match && !after)
            coll_collect_cb(&out, sub, 0, (const unsigned char *)argv[4], len[4]);
        coll_collect_cb(&out, sub, 0, val, vl);
        if (match && after)
            coll_collect_cb(&out, sub, 0, (const unsigned char *)argv[4], len[4]);
        if (match)
            found = 1;
    }
    if (found) {
        list_rewrite(c, argv[1], len[1], &r, &out);
        store_notify(c, STORE_EV_LIST, "linsert", argv[1], len[1]);
        resp_add_int(c->out, out.n);
    } else {
        resp_add_int(c->out, -1);
    }
    coll_items_fini(&items);
    coll_items_fini(&out);
}

STORE_DECL(lrem)
{
    (void)argc;
    long toremove;
    if (list_get_long(c, argv[2], len[2], &toremove))
        return;
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    struct coll_items items;
    coll_collect(c, argv[1], len[1], &items);
    long n = items.n;
    /* Mark removals, from the head (toremove >= 0) or the tail. */
    const unsigned char **vals = malloc(sizeof(*vals) * (size_t)(n + 1));
    size_t *vls = malloc(sizeof(*vls) * (size_t)(n + 1));
    char *gone = calloc((size_t)n + 1, 1);
    STORE_ASSERT(vals && vls && gone);
    struct coll_pos p = {0};
    const unsigned char *sub;
    size_t sl;
    for (long i = 0; i < n; i++)
        coll_next(&items, &p, &sub, &sl, &vals[i], &vls[i]);
    long removed = 0;
    unsigned long limit = toremove < 0 ? 0UL - (unsigned long)toremove : (unsigned long)toremove;
    for (long k = 0; k < n; k++) {
        long i = toremove < 0 ? n - 1 - k : k;
        if (vls[i] == len[3] && memcmp(vals[i], argv[3], vls[i]) == 0) {
            gone[i] = 1;
            removed++;
            if (limit && (unsigned long)removed == limit)
                break;
        }
    }
    if (removed) {
        struct coll_items out;
        resp_buf_init(&out.b);
        out.n = 0;
        for (long i = 0; i < n; i++)
            if (!gone[i])
                coll_collect_cb(&out, NULL, 0, vals[i], vls[i]);
        if (out.n == 0)
            store_db_delete(c, argv[1], len[1]);
        else
            list_rewrite(c, argv[1], len[1], &r, &out);
        store_notify(c, STORE_EV_LIST, "lrem", argv[1], len[1]);
        if (out.n == 0)
            store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
        coll_items_fini(&out);
    }
    free(vals);
    free(vls);
    free(gone);
    coll_items_fini(&items);
    resp_add_int(c->out, removed);
}

STORE_DECL(ltrim)
{
    (void)argc;
    long start, end;
    if (list_get_long(c, argv[2], len[2], &start) || list_get_long(c, argv[3], len[3], &end))
        return;
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_simple(c->out, "OK");
        return;
    }
    long llen = (long)(h.tail - h.head), ltrim, rtrim;
    if (start < 0)
        start = llen + start;
    if (end < 0)
        end = llen + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= llen) {
        ltrim = llen;
        rtrim = 0;
    } else {
        if (end >= llen)
            end = llen - 1;
        ltrim = start;
        rtrim = llen - end - 1;
    }
    for (long i = 0; i < ltrim; i++)
        list_del(c, argv[1], len[1], h.head++);
    for (long i = 0; i < rtrim; i++)
        list_del(c, argv[1], len[1], --h.tail);
    if (ltrim || rtrim)
        list_hdr_put(c, argv[1], len[1], 1, &r, &h);
    store_notify(c, STORE_EV_LIST, "ltrim", argv[1], len[1]);
    if (h.tail == h.head)
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    resp_add_simple(c->out, "OK");
}

STORE_DECL(lpos)
{
    long rank = 1, count = -1, maxlen = 0;
    int tail_first = 0;
    for (int j = 3; j < argc; j++) {
        int more = argc - 1 - j;
        if (store_strcasecmp_arg(argv[j], len[j], "rank") && more) {
            j++;
            if (list_get_long(c, argv[j], len[j], &rank))
                return;
            if (rank == 0) {
                resp_add_error(c->out,
                               "ERR RANK can't be zero: use 1 to start from the first match, 2 "
                               "from the second ... or use negative to start from the end of "
                               "the list");
                return;
            }
        } else if (store_strcasecmp_arg(argv[j], len[j], "count") && more) {
            j++;
            if (coll_range_long(c, argv[j], len[j], 0, LONG_MAX, &count,
                                "ERR COUNT can't be negative") != 0)
                return;
        } else if (store_strcasecmp_arg(argv[j], len[j], "maxlen") && more) {
            j++;
            if (coll_range_long(c, argv[j], len[j], 0, LONG_MAX, &maxlen,
                                "ERR MAXLEN can't be negative") != 0)
                return;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    if (rank < 0) {
        rank = -rank;
        tail_first = 1;
    }
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, argv[1], len[1], &r, &h);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (count != -1)
            resp_add_array(c->out, 0);
        else
            resp_add_null(c->out);
        return;
    }
    struct coll_items items;
    coll_collect(c, argv[1], len[1], &items);
    long llen = items.n;
    const unsigned char **vals = malloc(sizeof(*vals) * (size_t)(llen + 1));
    size_t *vls = malloc(sizeof(*vls) * (size_t)(llen + 1));
    STORE_ASSERT(vals && vls);
    struct coll_pos p = {0};
    const unsigned char *sub;
    size_t sl;
    for (long i = 0; i < llen; i++)
        coll_next(&items, &p, &sub, &sl, &vals[i], &vls[i]);
    struct resp_buf arr;
    resp_buf_init(&arr);
    long index = 0, matches = 0, matchindex = -1, arraylen = 0;
    while (index < llen && (maxlen == 0 || index < maxlen)) {
        long i = tail_first ? llen - 1 - index : index;
        if (vls[i] == len[2] && memcmp(vals[i], argv[2], vls[i]) == 0) {
            matches++;
            matchindex = i;
            if (matches >= rank) {
                if (count != -1) {
                    arraylen++;
                    resp_add_int(&arr, matchindex);
                    if (count && matches - rank + 1 >= count)
                        break;
                } else {
                    break;
                }
            }
        }
        index++;
        matchindex = -1;
    }
    if (count != -1) {
        resp_add_array(c->out, arraylen);
        resp_buf_append(c->out, arr.data, arr.len);
    } else if (matchindex != -1) {
        resp_add_int(c->out, matchindex);
    } else {
        resp_add_null(c->out);
    }
    resp_buf_fini(&arr);
    free(vals);
    free(vls);
    coll_items_fini(&items);
}

static int list_where(struct store_ctx *c, const char *s, size_t l, int *where)
{
    if (store_strcasecmp_arg(s, l, "right"))
        *where = LIST_TAIL;
    else if (store_strcasecmp_arg(s, l, "left"))
        *where = LIST_HEAD;
    else {
        resp_add_error(c->out, STORE_ESYNTAX);
        return -1;
    }
    return 0;
}

/* lmoveGenericCommand once the source is known to hold items. */
static void list_move(struct store_ctx *c, char **argv, size_t *len, int from, int to,
                      struct store_rec *sr, struct list_hdr *sh)
{
    struct store_rec dr;
    struct list_hdr dh;
    if (list_lookup(c, argv[2], len[2], &dr, &dh) < 0)
        return;
    struct resp_buf v;
    resp_buf_init(&v);
    if (len[1] == len[2] && memcmp(argv[1], argv[2], len[1]) == 0) {
        /* A rotation: the list never becomes empty, so it keeps its TTL
         * (Redis pops and pushes on the same object). */
        int64_t pos = from == LIST_HEAD ? sh->head : sh->tail - 1;
        MDB_val mv;
        if (!list_get(c, argv[1], len[1], pos, &mv)) {
            store_ctx_mdb_err(c, MDB_CORRUPTED);
            resp_buf_fini(&v);
            return;
        }
        resp_buf_append(&v, mv.mv_data, mv.mv_size);
        list_del(c, argv[1], len[1], pos);
        if (from == LIST_HEAD)
            sh->head++;
        else
            sh->tail--;
        if (to == LIST_HEAD)
            list_put(c, argv[1], len[1], --sh->head, v.data, v.len);
        else
            list_put(c, argv[1], len[1], sh->tail++, v.data, v.len);
        list_hdr_put(c, argv[1], len[1], 1, sr, sh);
        store_notify(c, STORE_EV_LIST, list_push_event(to), argv[1], len[1]);
        list_popped(c, argv[1], len[1], from, sh);
        resp_add_bulk(c->out, v.data, v.len);
        resp_buf_fini(&v);
        return;
    }
    list_pop(c, argv[1], len[1], sr, sh, from, &v);
    /* Look the destination up again: the pop wrote pages. */
    int drc = list_lookup(c, argv[2], len[2], &dr, &dh);
    if (to == LIST_HEAD)
        list_put(c, argv[2], len[2], --dh.head, v.data, v.len);
    else
        list_put(c, argv[2], len[2], dh.tail++, v.data, v.len);
    list_hdr_put(c, argv[2], len[2], drc, &dr, &dh);
    store_db_ready(c, argv[2], len[2]);
    /* Redis pushes, then tells of the pop. */
    store_notify(c, STORE_EV_LIST, list_push_event(to), argv[2], len[2]);
    list_popped(c, argv[1], len[1], from, sh);
    resp_add_bulk(c->out, v.data, v.len);
    resp_buf_fini(&v);
}

static void list_lmove_generic(struct store_ctx *c, char **argv, size_t *len, int from, int to)
{
    struct store_rec sr;
    struct list_hdr sh;
    int rc = list_lookup(c, argv[1], len[1], &sr, &sh);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_null(c->out);
        return;
    }
    list_move(c, argv, len, from, to, &sr, &sh);
}

STORE_DECL(lmove)
{
    (void)argc;
    int from, to;
    if (list_where(c, argv[3], len[3], &from) || list_where(c, argv[4], len[4], &to))
        return;
    list_lmove_generic(c, argv, len, from, to);
}

STORE_DECL(rpoplpush)
{
    (void)argc;
    list_lmove_generic(c, argv, len, LIST_TAIL, LIST_HEAD);
}

/* Redis getTimeoutFromObjectOrReply (seconds, as a float). */
int store_parse_timeout(const char *s, size_t l, uint64_t now_ms, long long *deadline,
                        struct resp_buf *reply)
{
    long double ft;
    if (!store_string2ld(s, l, &ft)) {
        resp_add_error(reply, "ERR timeout is not a float or out of range");
        return -1;
    }
    /* Redis rounds up, so a timeout under a millisecond (0.0001, or 0.001,
     * which is 0.99999... ms in long double) still times out rather than
     * meaning "forever"; and it converts with a plain cast, which on x86
     * makes a value out of long long's range (inf included) LLONG_MIN, so
     * Redis calls it negative. The same answers here, without the cast's
     * undefined behaviour. */
    long double ms = ceill(ft * 1000.0L);
    long long tval = ms >= -0x1p63L && ms < 0x1p63L ? (long long)ms : LLONG_MIN;
    if (tval < 0) {
        resp_add_error(reply, "ERR timeout is negative");
        return -1;
    }
    if (tval > 0) {
        if (tval > LLONG_MAX - (long long)now_ms) {
            resp_add_error(reply, "ERR timeout is out of range");
            return -1;
        }
        tval += (long long)now_ms;
    }
    *deadline = tval;
    return 0;
}

/* BLPOP, BRPOP, LMPOP and BLMPOP: the first key holding a list gives one
 * item, or up to COUNT, replied with the key's name. */
static int list_pop_one(struct store_ctx *c, const char *key, size_t klen,
                        const struct store_pop *p)
{
    struct store_rec r;
    struct list_hdr h;
    int rc = list_lookup(c, key, klen, &r, &h);
    if (rc <= 0 || h.tail == h.head)
        return rc < 0 ? -1 : 0;
    int where = p->where ? LIST_TAIL : LIST_HEAD;
    resp_add_array(c->out, 2);
    resp_add_bulk(c->out, key, klen);
    if (p->nested) {
        list_pop_range(c, key, klen, &r, &h, where, p->count);
    } else {
        struct resp_buf v;
        resp_buf_init(&v);
        list_pop(c, key, klen, &r, &h, where, &v);
        resp_add_bulk(c->out, v.data, v.len);
        resp_buf_fini(&v);
    }
    list_popped(c, key, klen, where, &h);
    return 1;
}

static void list_bpop_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int where)
{
    struct store_pop p = {1, argc - 2, where == LIST_TAIL, 1, 0};
    store_pop_first(c, argv, len, argc - 1, list_pop_one, &p);
}

STORE_DECL(blpop)
{
    list_bpop_generic(c, argc, argv, len, LIST_HEAD);
}

STORE_DECL(brpop)
{
    list_bpop_generic(c, argc, argv, len, LIST_TAIL);
}

static void list_bmove_generic(struct store_ctx *c, char **argv, size_t *len, int from, int to,
                               int tidx)
{
    long long deadline;
    if (store_parse_timeout(argv[tidx], len[tidx], c->now, &deadline, c->out) != 0)
        return;
    struct store_rec sr;
    struct list_hdr sh;
    int rc = list_lookup(c, argv[1], len[1], &sr, &sh);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (c->in_multi)
            resp_add_null(c->out);
        else
            c->blocked = 1;
        return;
    }
    list_move(c, argv, len, from, to, &sr, &sh);
}

STORE_DECL(blmove)
{
    (void)argc;
    int from, to;
    if (list_where(c, argv[3], len[3], &from) || list_where(c, argv[4], len[4], &to))
        return;
    list_bmove_generic(c, argv, len, from, to, 5);
}

STORE_DECL(brpoplpush)
{
    (void)argc;
    list_bmove_generic(c, argv, len, LIST_TAIL, LIST_HEAD, 3);
}

STORE_DECL(lmpop)
{
    store_mpop(c, argc, argv, len, 0, "left", "right", list_pop_one);
}

STORE_DECL(blmpop)
{
    store_mpop(c, argc, argv, len, 1, "left", "right", list_pop_one);
}

/* ------------------------------------------------------------------ for SORT */

struct list_walk {
    store_elem_cb cb;
    void *arg;
};

static int list_walk_cb(void *arg, const unsigned char *sub, size_t sublen,
                        const unsigned char *val, size_t vlen)
{
    (void)sub;
    (void)sublen;
    struct list_walk *w = arg;
    return w->cb(w->arg, val, vlen);
}

void store_list_walk(struct store_ctx *c, const char *key, size_t klen,
                     const struct store_rec *r, long start, int reverse, store_elem_cb cb,
                     void *arg)
{
    struct list_hdr h;
    list_hdr_get(r, &h);
    if (start < 0 || start >= h.tail - h.head)
        return;
    struct list_walk w = {cb, arg};
    unsigned char b[8];
    list_pos(b, reverse ? h.tail - 1 - start : h.head + start);
    store_m_iter(c, key, klen, b, 8, reverse, list_walk_cb, &w);
}

void store_list_write(struct store_ctx *c, const char *key, size_t klen,
                      const unsigned char *const *e, const size_t *elen, long n)
{
    struct list_hdr h = {0, 0};
    for (long i = 0; i < n; i++)
        list_put(c, key, klen, h.tail++, e[i], elen[i]);
    list_hdr_put(c, key, klen, 0, NULL, &h);
}

void store_list_create(struct store_ctx *c, const char *key, size_t klen,
                       const unsigned char *const *e, const size_t *elen, long n)
{
    int had = store_db_replace(c, key, klen, n == 0);
    store_list_write(c, key, klen, e, elen, n);
    if (n > 0) {
        store_db_ready(c, key, klen);
        store_notify(c, STORE_EV_LIST, "sortstore", key, klen);
    } else if (had) {
        store_notify(c, STORE_EV_GENERIC, "del", key, klen);
    }
}
