/* Hashes (Redis t_hash.c): fields are members (sub = field, value = value). */
#include "store/coll.h"

#include <limits.h>
#include <math.h>

/* hashTypeLookupWriteOrCreate: 1 existed, 0 new (r unset), -1 wrong type. */
static int hash_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r)
{
    return store_db_lookup_type(c, key, klen, STORE_T_HASH, r);
}

static int64_t hash_set_fields(struct store_ctx *c, char **argv, size_t *len, int argc,
                               int64_t *count)
{
    int64_t created = 0;
    for (int i = 2; i < argc; i += 2) {
        MDB_val v;
        if (!store_m_get(c, argv[1], len[1], argv[i], len[i], &v)) {
            created++;
            (*count)++;
        }
        store_m_put(c, argv[1], len[1], argv[i], len[i], argv[i + 1], len[i + 1]);
    }
    return created;
}

static void hash_hset_generic(struct store_ctx *c, int argc, char **argv, size_t *len,
                              int is_hmset)
{
    if (argc % 2 == 1) {
        resp_add_errorf(c->out, "ERR wrong number of arguments for '%s' command",
                        is_hmset ? "hmset" : "hset");
        return;
    }
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    int64_t count = rc ? coll_count(&r) : 0;
    int64_t created = hash_set_fields(c, argv, len, argc, &count);
    coll_set_count(c, argv[1], len[1], STORE_T_HASH, rc, &r, count);
    store_notify(c, STORE_EV_HASH, "hset", argv[1], len[1]);
    if (is_hmset)
        resp_add_simple(c->out, "OK");
    else
        resp_add_int(c->out, created);
}

STORE_DECL(hset)
{
    hash_hset_generic(c, argc, argv, len, 0);
}

STORE_DECL(hmset)
{
    hash_hset_generic(c, argc, argv, len, 1);
}

STORE_DECL(hsetnx)
{
    (void)argc;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    if (rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v)) {
        resp_add_int(c->out, 0);
        return;
    }
    int64_t count = rc ? coll_count(&r) : 0;
    store_m_put(c, argv[1], len[1], argv[2], len[2], argv[3], len[3]);
    coll_set_count(c, argv[1], len[1], STORE_T_HASH, rc, &r, count + 1);
    store_notify(c, STORE_EV_HASH, "hset", argv[1], len[1]);
    resp_add_int(c->out, 1);
}

STORE_DECL(hget)
{
    (void)argc;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    if (rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v))
        resp_add_bulk(c->out, v.mv_data, v.mv_size);
    else
        resp_add_null(c->out);
}

STORE_DECL(hmget)
{
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_array(c->out, argc - 2);
    for (int i = 2; i < argc; i++) {
        MDB_val v;
        if (rc && store_m_get(c, argv[1], len[1], argv[i], len[i], &v))
            resp_add_bulk(c->out, v.mv_data, v.mv_size);
        else
            resp_add_null(c->out);
    }
}

STORE_DECL(hdel)
{
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    int64_t count = coll_count(&r), deleted = 0;
    for (int i = 2; i < argc && count > 0; i++) {
        if (store_m_del(c, argv[1], len[1], argv[i], len[i])) {
            deleted++;
            count--;
        }
    }
    if (deleted) {
        coll_set_count(c, argv[1], len[1], STORE_T_HASH, 1, &r, count);
        store_notify(c, STORE_EV_HASH, "hdel", argv[1], len[1]);
        if (count == 0)
            store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    }
    resp_add_int(c->out, deleted);
}

STORE_DECL(hlen)
{
    (void)argc;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    resp_add_int(c->out, rc ? coll_count(&r) : 0);
}

STORE_DECL(hstrlen)
{
    (void)argc;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    if (rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v))
        resp_add_int(c->out, (long long)v.mv_size);
    else
        resp_add_int(c->out, 0);
}

STORE_DECL(hexists)
{
    (void)argc;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    resp_add_int(c->out, rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v));
}

struct hash_emit {
    struct resp_buf *out;
    int what; /* 1 fields, 2 values, 3 both */
};

static int hash_emit_cb(void *arg, const unsigned char *sub, size_t sublen,
                        const unsigned char *val, size_t vlen)
{
    struct hash_emit *e = arg;
    if (e->what & 1)
        resp_add_bulk(e->out, sub, sublen);
    if (e->what & 2)
        resp_add_bulk(e->out, val, vlen);
    return 0;
}

static void hash_getall_generic(struct store_ctx *c, char **argv, size_t *len, int what)
{
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_array(c->out, 0);
        return;
    }
    int64_t n = coll_count(&r);
    resp_add_array(c->out, what == 3 ? 2 * n : n);
    struct hash_emit e = {c->out, what};
    store_m_iter(c, argv[1], len[1], NULL, 0, 0, hash_emit_cb, &e);
}

STORE_DECL(hkeys)
{
    (void)argc;
    hash_getall_generic(c, argv, len, 1);
}

STORE_DECL(hvals)
{
    (void)argc;
    hash_getall_generic(c, argv, len, 2);
}

STORE_DECL(hgetall)
{
    (void)argc;
    hash_getall_generic(c, argv, len, 3);
}

STORE_DECL(hincrby)
{
    (void)argc;
    long long incr, value = 0;
    if (!resp_string2ll(argv[3], len[3], &incr)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    int had = rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v);
    if (had && !resp_string2ll(v.mv_data, v.mv_size, &value)) {
        resp_add_error(c->out, "ERR hash value is not an integer");
        return;
    }
    long long old = value;
    if ((incr < 0 && old < 0 && incr < (LLONG_MIN - old)) ||
        (incr > 0 && old > 0 && incr > (LLONG_MAX - old))) {
        resp_add_error(c->out, "ERR increment or decrement would overflow");
        return;
    }
    value += incr;
    char buf[32];
    int n = store_ll2string(buf, sizeof(buf), value);
    store_m_put(c, argv[1], len[1], argv[2], len[2], buf, (size_t)n);
    coll_set_count(c, argv[1], len[1], STORE_T_HASH, rc, &r,
                   (rc ? coll_count(&r) : 0) + (had ? 0 : 1));
    store_notify(c, STORE_EV_HASH, "hincrby", argv[1], len[1]);
    resp_add_int(c->out, value);
}

STORE_DECL(hincrbyfloat)
{
    (void)argc;
    long double incr, value = 0;
    if (!store_string2ld(argv[3], len[3], &incr)) {
        resp_add_error(c->out, STORE_ENOTFLOAT);
        return;
    }
    if (isnan(incr) || isinf(incr)) {
        resp_add_error(c->out, "ERR value is NaN or Infinity");
        return;
    }
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    MDB_val v;
    int had = rc && store_m_get(c, argv[1], len[1], argv[2], len[2], &v);
    if (had && !store_string2ld(v.mv_data, v.mv_size, &value)) {
        resp_add_error(c->out, "ERR hash value is not a float");
        return;
    }
    value += incr;
    if (isnan(value) || isinf(value)) {
        resp_add_error(c->out, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[5 * 1024];
    int n = store_ld2string(buf, sizeof(buf), value);
    store_m_put(c, argv[1], len[1], argv[2], len[2], buf, (size_t)n);
    coll_set_count(c, argv[1], len[1], STORE_T_HASH, rc, &r,
                   (rc ? coll_count(&r) : 0) + (had ? 0 : 1));
    store_notify(c, STORE_EV_HASH, "hincrbyfloat", argv[1], len[1]);
    resp_add_bulk(c->out, buf, (size_t)n);
}

STORE_DECL(hscan)
{
    store_coll_scan(c, argc, argv, len, STORE_T_HASH);
}

STORE_DECL(hrandfield)
{
    long l;
    int withvalues;
    if (coll_rand_args(c, argc, argv, len, "withvalues", &l, &withvalues) < 0)
        return;
    struct store_rec r;
    int rc = hash_lookup(c, argv[1], len[1], &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        if (argc >= 3)
            resp_add_array(c->out, 0);
        else
            resp_add_null(c->out);
        return;
    }
    struct coll_items it;
    coll_collect(c, argv[1], len[1], &it);
    long size = it.n;
    /* index the fields and their values */
    const unsigned char **subs = malloc(sizeof(*subs) * (size_t)size * 2);
    size_t *lens = malloc(sizeof(*lens) * (size_t)size * 2);
    STORE_ASSERT(subs && lens);
    struct coll_pos pos = {0};
    for (long i = 0; i < size; i++)
        coll_next(&it, &pos, &subs[2 * i], &lens[2 * i], &subs[2 * i + 1], &lens[2 * i + 1]);
    struct coll_rand p;
    coll_rand_begin(&p, argc >= 3, l, size);
    if (argc >= 3)
        resp_add_array(c->out, withvalues ? p.n * 2 : p.n);
    for (long i; (i = coll_rand_next(c, &p)) >= 0;) {
        resp_add_bulk(c->out, subs[2 * i], lens[2 * i]);
        if (withvalues)
            resp_add_bulk(c->out, subs[2 * i + 1], lens[2 * i + 1]);
    }
    coll_rand_end(&p);
    free(subs);
    free(lens);
    coll_items_fini(&it);
}

/* Sets one field, creating the hash (for fixed float results). */
int store_hash_set_field(struct store_ctx *c, const char *key, size_t klen, const char *f,
                         size_t flen, const char *v, size_t vlen)
{
    struct store_rec r;
    int rc = store_db_lookup(c, key, klen, &r);
    MDB_val old;
    int had = rc && store_m_get(c, key, klen, f, flen, &old);
    store_m_put(c, key, klen, f, flen, v, vlen);
    coll_set_count(c, key, klen, STORE_T_HASH, rc, &r, (rc ? coll_count(&r) : 0) + (had ? 0 : 1));
    return !had;
}
