/* Helpers shared by the collection types (store-internal). */
#ifndef FERRY_STORE_COLL_H
#define FERRY_STORE_COLL_H

#include "store/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static inline int64_t coll_count(const struct store_rec *r)
{
    return store_rec_count(r);
}

/* Writes a collection's new member count (creating the key, or deleting it
 * when n == 0). existed: whether the key was there (with r valid). */
static inline void coll_set_count(struct store_ctx *c, const char *key, size_t klen, int type,
                                  int existed, const struct store_rec *r, int64_t n)
{
    unsigned char h[8];
    if (n == 0) {
        if (existed)
            store_db_delete(c, key, klen);
        return;
    }
    store_put_u64(h, (uint64_t)n);
    if (existed)
        store_db_put_keep(c, key, klen, r, h, 8);
    else
        store_db_put(c, key, klen, type, 0, h, 8);
}

/* Collected member list (u32 len + bytes, u32 vlen + bytes). */
struct coll_items {
    struct resp_buf b;
    long n;
};

static inline int coll_collect_cb(void *arg, const unsigned char *sub, size_t sublen,
                                  const unsigned char *val, size_t vlen)
{
    struct coll_items *it = arg;
    unsigned char n[4];
    store_put_u32(n, (uint32_t)sublen);
    resp_buf_append(&it->b, n, 4);
    resp_buf_append(&it->b, sub, sublen);
    store_put_u32(n, (uint32_t)vlen);
    resp_buf_append(&it->b, n, 4);
    resp_buf_append(&it->b, val, vlen);
    it->n++;
    return 0;
}

static inline void coll_collect(struct store_ctx *c, const char *key, size_t klen,
                                struct coll_items *it)
{
    resp_buf_init(&it->b);
    it->n = 0;
    store_m_iter(c, key, klen, NULL, 0, 0, coll_collect_cb, it);
}

/* Iteration over collected items. */
struct coll_pos {
    size_t off;
};

static inline int coll_next(const struct coll_items *it, struct coll_pos *p,
                            const unsigned char **sub, size_t *sublen,
                            const unsigned char **val, size_t *vlen)
{
    if (p->off >= it->b.len)
        return 0;
    const unsigned char *q = (const unsigned char *)it->b.data + p->off;
    *sublen = store_get_u32(q);
    *sub = q + 4;
    *vlen = store_get_u32(q + 4 + *sublen);
    *val = q + 8 + *sublen;
    p->off += 8 + *sublen + *vlen;
    return 1;
}

static inline void coll_items_fini(struct coll_items *it)
{
    resp_buf_fini(&it->b);
}

/* HSCAN/SSCAN/ZSCAN option parsing after the key lookup (Redis
 * scanGenericCommand with o != NULL). Returns 0 or -1 (error written). */
static inline int coll_scan_opts(struct store_ctx *c, int argc, char **argv, size_t *len,
                                 int first, long *count, const char **pat, size_t *patlen)
{
    *count = 10;
    *pat = NULL;
    *patlen = 0;
    for (int i = first; i < argc;) {
        int j = argc - i;
        if (store_strcasecmp_arg(argv[i], len[i], "count") && j >= 2) {
            if (!store_string2l(argv[i + 1], len[i + 1], count)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return -1;
            }
            if (*count < 1) {
                resp_add_error(c->out, STORE_ESYNTAX);
                return -1;
            }
            i += 2;
        } else if (store_strcasecmp_arg(argv[i], len[i], "match") && j >= 2) {
            *pat = argv[i + 1];
            *patlen = len[i + 1];
            if (*patlen == 1 && (*pat)[0] == '*')
                *pat = NULL;
            i += 2;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return -1;
        }
    }
    return 0;
}

static inline int coll_parse_cursor(struct store_ctx *c, const char *s, unsigned long *cursor)
{
    char *eptr;
    errno = 0;
    *cursor = strtoul(s, &eptr, 10);
    if (isspace((unsigned char)s[0]) || eptr[0] != '\0' || errno == ERANGE) {
        resp_add_error(c->out, "ERR invalid cursor");
        return -1;
    }
    return 0;
}

#define COLL_EMPTYSCAN "*2\r\n$1\r\n0\r\n*0\r\n"

/* getRangeLongFromObjectOrReply. msg NULL: Redis's default texts. */
static inline int coll_range_long(struct store_ctx *c, const char *s, size_t slen, long min,
                                  long max, long *out, const char *msg)
{
    long long v;
    if (!resp_string2ll(s, slen, &v)) {
        resp_add_error(c->out, msg ? msg : STORE_ENOTINT);
        return -1;
    }
    if (v < min || v > max) {
        if (msg)
            resp_add_error(c->out, msg);
        else
            resp_add_errorf(c->out, "ERR value is out of range, value must between %ld and %ld",
                            min, max);
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* HRANDFIELD key [count [WITHVALUES]] and ZRANDMEMBER key [count
 * [WITHSCORES]] (t_set.c): the count (0 when absent) and whether `with`
 * was given; -1 after an error reply. */
int coll_rand_args(struct store_ctx *c, int argc, char **argv, size_t *len, const char *with,
                   long *count, int *withflag);

/* Which of `size` members (size > 0) they reply with, drawn as Redis draws
 * them: one without a count; |count| with repeats for a negative count
 * (and for 1); otherwise min(count, size) distinct ones, by a partial
 * Fisher-Yates shuffle drawn as the reply goes. Nothing is allocated for
 * repeats, so a huge negative count streams. */
struct coll_rand {
    long n;    /* how many the reply holds */
    long k;    /* how many were drawn */
    long size;
    long *idx; /* distinct draws: the shuffle's state */
};

void coll_rand_begin(struct coll_rand *p, int given, long count, long size);
long coll_rand_next(struct store_ctx *c, struct coll_rand *p); /* -1: done */
void coll_rand_end(struct coll_rand *p);

/* The SCAN family over members (t_set.c). */
void store_coll_scan(struct store_ctx *c, int argc, char **argv, size_t *len, int type);

#endif
