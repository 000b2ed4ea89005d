/* The keyspace: records, members, expiry, versions; and the generic key
 * commands (Redis db.c and expire.c). */
#include "store/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <string.h>

void store_ctx_mdb_err(struct store_ctx *c, int rc)
{
    if (c->err == 0)
        c->err = rc;
}

int store_db_key_ok(struct store_ctx *c, size_t klen, size_t extra)
{
    (void)c;
    return 8 + klen + extra + 4 <= STORE_MAX_DBKEY;
}

/* keyspace db key: slot (big-endian, so SCAN walks in slot order) + key. */
static size_t store_kkey(unsigned char *buf, const char *key, size_t klen)
{
    store_put_be32(buf, store_key_slot(key, klen));
    memcpy(buf + 4, key, klen);
    return 4 + klen;
}

size_t store_mkey(unsigned char *buf, const char *key, size_t klen, const void *sub,
                  size_t sublen)
{
    store_put_be32(buf, store_key_slot(key, klen));
    store_put_be32(buf + 4, (uint32_t)klen);
    memcpy(buf + 8, key, klen);
    if (sublen)
        memcpy(buf + 8 + klen, sub, sublen);
    return 8 + klen + sublen;
}

static void store_expires_key(unsigned char *buf, int64_t expire, const char *key, size_t klen,
                              MDB_val *out)
{
    store_put_be64(buf, (uint64_t)expire);
    store_put_be32(buf + 8, store_key_slot(key, klen));
    memcpy(buf + 12, key, klen);
    out->mv_data = buf;
    out->mv_size = 12 + klen;
}

static void store_rec_parse(const MDB_val *v, struct store_rec *r)
{
    const unsigned char *p = v->mv_data;
    r->type = p[0];
    r->expire = (int64_t)store_get_u64(p + 1);
    r->version = store_get_u64(p + 9);
    r->payload = p + STORE_REC_HDR;
    r->plen = v->mv_size - STORE_REC_HDR;
}

int64_t store_rec_count(const struct store_rec *r)
{
    if (r->type == STORE_T_LIST)
        return (int64_t)(store_get_u64(r->payload + 8) - store_get_u64(r->payload));
    if (r->type == STORE_T_STRING)
        return 1;
    return (int64_t)store_get_u64(r->payload);
}

static int store_db_expired(struct store_ctx *c, const struct store_rec *r)
{
    return r->expire != 0 && (uint64_t)r->expire <= c->now;
}

static void store_db_unindex_expire(struct store_ctx *c, const char *key, size_t klen,
                                    int64_t expire)
{
    if (expire == 0)
        return;
    unsigned char buf[STORE_MAX_DBKEY + 16];
    MDB_val k;
    store_expires_key(buf, expire, key, klen, &k);
    int rc = mdb_del(c->txn, c->s->expires, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        store_ctx_mdb_err(c, rc);
}

static void store_db_remove(struct store_ctx *c, const char *key, size_t klen,
                            const struct store_rec *r)
{
    if (c->t) {
        unsigned char n[4];
        store_put_u32(n, (uint32_t)klen);
        resp_buf_append(&c->t->deleted, n, 4);
        resp_buf_append(&c->t->deleted, key, klen);
    }
    unsigned char kb[STORE_MAX_DBKEY + 8];
    int type = r->type;
    int64_t expire = r->expire;
    MDB_val k = {store_kkey(kb, key, klen), kb};
    int rc = mdb_del(c->txn, c->s->keys, &k, NULL);
    if (rc != 0)
        store_ctx_mdb_err(c, rc);
    store_db_unindex_expire(c, key, klen, expire);
    if (type != STORE_T_STRING)
        store_m_del_all(c, key, klen);
}

/* The write txn's keyspace cursor; NULL for reads (or if it cannot be
 * opened: callers then use plain gets and puts). */
static MDB_cursor *store_db_kcur(struct store_ctx *c)
{
    struct store_txn *t = c->t;
    if (t == NULL || c->txn != t->txn)
        return NULL;
    if (t->kcur == NULL && mdb_cursor_open(t->txn, c->s->keys, &t->kcur) != 0)
        t->kcur = NULL;
    return t->kcur;
}

/* A read command's lookup found nothing: Redis counts a miss and tells
 * the keymiss class. */
static void store_db_missed(struct store_ctx *c, const char *key, size_t klen)
{
    c->s->stats.keyspace_misses++;
    if (!c->quiet_miss)
        store_notify(c, STORE_EV_KEYMISS, "keymiss", key, klen);
}

/* The key's record, expired or not: 1 found, 0 not there, -1 a key too
 * long for the store or an LMDB error (recorded in c). */
static int store_db_get_any(struct store_ctx *c, const char *key, size_t klen,
                            struct store_rec *r)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    if (klen + 12 > STORE_MAX_DBKEY)
        return -1;
    MDB_val k = {store_kkey(kb, key, klen), kb}, v;
    MDB_cursor *cur = store_db_kcur(c);
    int rc = cur ? mdb_cursor_get(cur, &k, &v, MDB_SET_KEY) : mdb_get(c->txn, c->s->keys, &k, &v);
    if (rc != 0) {
        if (rc != MDB_NOTFOUND)
            store_ctx_mdb_err(c, rc);
        return rc == MDB_NOTFOUND ? 0 : -1;
    }
    store_rec_parse(&v, r);
    return 1;
}

int store_db_lookup(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r)
{
    int got = store_db_get_any(c, key, klen, r);
    if (got <= 0) {
        if (got == 0 && c->count_lookups)
            store_db_missed(c, key, klen);
        return 0;
    }
    if (store_db_expired(c, r)) {
        if (c->write) {
            store_db_remove(c, key, klen, r);
            if (c->t)
                c->t->expired++;
            store_notify(c, STORE_EV_EXPIRED, "expired", key, klen);
        } else {
            /* Redis deletes a key found expired, whoever looks: it counts
             * in expired_keys and tells the expired class at once, before
             * the read's keymiss. A read cannot write, so it runs again as
             * a write, which does. */
            c->needs_write = 1;
        }
        if (c->count_lookups)
            store_db_missed(c, key, klen);
        return 0;
    }
    if (c->count_lookups)
        c->s->stats.keyspace_hits++;
    return 1;
}

int store_db_lookup_read_type(struct store_ctx *c, const char *key, size_t klen, int type,
                              struct store_rec *r)
{
    int counted = c->count_lookups;
    c->count_lookups = 1;
    int rc = type ? store_db_lookup_type(c, key, klen, type, r) : store_db_lookup(c, key, klen, r);
    c->count_lookups = counted;
    return rc;
}

int store_db_lookup_read(struct store_ctx *c, const char *key, size_t klen, struct store_rec *r)
{
    return store_db_lookup_read_type(c, key, klen, 0, r);
}

int store_db_lookup_type(struct store_ctx *c, const char *key, size_t klen, int type,
                         struct store_rec *r)
{
    if (!store_db_lookup(c, key, klen, r))
        return 0;
    if (r->type != type) {
        resp_add_error(c->out, STORE_WRONGTYPE);
        return -1;
    }
    return 1;
}

/* Writes the record; version 0 gives the key a new one. */
static void store_db_write(struct store_ctx *c, const char *key, size_t klen, int type,
                           int64_t expire, const void *payload, size_t plen, uint64_t version)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    if (klen + 12 > STORE_MAX_DBKEY) {
        store_ctx_mdb_err(c, MDB_BAD_VALSIZE);
        return;
    }
    STORE_ASSERT(c->t != NULL);
    MDB_val k = {store_kkey(kb, key, klen), kb}, v;
    v.mv_size = STORE_REC_HDR + plen;
    MDB_cursor *cur = store_db_kcur(c);
    int rc = cur ? mdb_cursor_put(cur, &k, &v, MDB_RESERVE)
                 : mdb_put(c->txn, c->s->keys, &k, &v, MDB_RESERVE);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        return;
    }
    unsigned char *p = v.mv_data;
    p[0] = (unsigned char)type;
    store_put_u64(p + 1, (uint64_t)expire);
    store_put_u64(p + 9, version ? version : ++c->t->version);
    if (plen)
        memcpy(p + STORE_REC_HDR, payload, plen);
}

static void store_db_index_expire(struct store_ctx *c, const char *key, size_t klen,
                                  int64_t expire)
{
    if (expire == 0)
        return;
    unsigned char buf[STORE_MAX_DBKEY + 16];
    MDB_val k, v = {0, ""};
    store_expires_key(buf, expire, key, klen, &k);
    int rc = mdb_put(c->txn, c->s->expires, &k, &v, 0);
    if (rc != 0)
        store_ctx_mdb_err(c, rc);
}

void store_db_put_known(struct store_ctx *c, const char *key, size_t klen, int type,
                        int64_t expire, const void *payload, size_t plen, int found,
                        const struct store_rec *old)
{
    if (expire < 0)
        expire = 0;
    if (found) {
        /* An old record of another type must lose its members. */
        if (old->type != STORE_T_STRING && old->type != type)
            store_m_del_all(c, key, klen);
        if (old->expire != expire) {
            store_db_unindex_expire(c, key, klen, old->expire);
            store_db_index_expire(c, key, klen, expire);
        }
    } else {
        store_db_index_expire(c, key, klen, expire);
    }
    store_db_write(c, key, klen, type, expire, payload, plen, 0);
    if (!found && !c->replacing) /* Redis's dbAdd */
        store_notify(c, STORE_EV_NEW, "new", key, klen);
    c->replacing = 0;
}

void store_db_put(struct store_ctx *c, const char *key, size_t klen, int type, int64_t expire,
                  const void *payload, size_t plen)
{
    struct store_rec old;
    int found = store_db_lookup(c, key, klen, &old);
    store_db_put_known(c, key, klen, type, expire, payload, plen, found, &old);
}

static void store_db_rewrite(struct store_ctx *c, const char *key, size_t klen,
                             const struct store_rec *r, const void *payload, size_t plen,
                             uint64_t version)
{
    /* payload may point into r's LMDB page: copy first. */
    unsigned char small[64] = {0};
    unsigned char *tmp = plen <= sizeof(small) ? small : malloc(plen);
    STORE_ASSERT(tmp != NULL);
    if (plen)
        memcpy(tmp, payload, plen);
    store_db_write(c, key, klen, r->type, r->expire, tmp, plen, version);
    if (tmp != small)
        free(tmp);
}

void store_db_put_keep(struct store_ctx *c, const char *key, size_t klen,
                       const struct store_rec *r, const void *payload, size_t plen)
{
    store_db_rewrite(c, key, klen, r, payload, plen, 0);
}

void store_db_put_same_version(struct store_ctx *c, const char *key, size_t klen,
                               const struct store_rec *r, const void *payload, size_t plen)
{
    store_db_rewrite(c, key, klen, r, payload, plen, r->version);
}

void store_db_touch(struct store_ctx *c, const char *key, size_t klen, const struct store_rec *r)
{
    store_db_put_keep(c, key, klen, r, r->payload, r->plen);
}

int store_db_delete(struct store_ctx *c, const char *key, size_t klen)
{
    struct store_rec r;
    if (!store_db_lookup(c, key, klen, &r))
        return 0;
    store_db_remove(c, key, klen, &r);
    return 1;
}

int store_db_replace(struct store_ctx *c, const char *key, size_t klen, int empty)
{
    if (!empty) {
        c->replacing = store_db_delete(c, key, klen);
        return c->replacing;
    }
    struct store_rec r;
    if (store_db_get_any(c, key, klen, &r) <= 0)
        return 0;
    store_db_remove(c, key, klen, &r);
    return 1;
}

void store_db_set_expire(struct store_ctx *c, const char *key, size_t klen,
                         const struct store_rec *r, int64_t expire)
{
    size_t plen = r->plen;
    unsigned char small[64] = {0};
    unsigned char *tmp = plen <= sizeof(small) ? small : malloc(plen);
    STORE_ASSERT(tmp != NULL);
    memcpy(tmp, r->payload, plen);
    int type = r->type;
    store_db_unindex_expire(c, key, klen, r->expire);
    store_db_index_expire(c, key, klen, expire);
    store_db_write(c, key, klen, type, expire, tmp, plen, 0);
    if (tmp != small)
        free(tmp);
}

void store_db_ready(struct store_ctx *c, const char *key, size_t klen)
{
    if (c->t == NULL)
        return;
    unsigned char n[4];
    store_put_u32(n, (uint32_t)klen);
    resp_buf_append(&c->t->ready, n, 4);
    resp_buf_append(&c->t->ready, key, klen);
}

/* ------------------------------------------------------------------ members */

int store_m_get(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                size_t sublen, MDB_val *val)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    if (8 + klen + sublen > STORE_MAX_DBKEY)
        return 0;
    MDB_val k = {store_mkey(kb, key, klen, sub, sublen), kb};
    int rc = mdb_get(c->txn, c->s->members, &k, val);
    if (rc != 0) {
        if (rc != MDB_NOTFOUND)
            store_ctx_mdb_err(c, rc);
        return 0;
    }
    return 1;
}

void store_m_put(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                 size_t sublen, const void *val, size_t vlen)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    if (8 + klen + sublen > STORE_MAX_DBKEY) {
        store_ctx_mdb_err(c, MDB_BAD_VALSIZE);
        return;
    }
    MDB_val k = {store_mkey(kb, key, klen, sub, sublen), kb}, v = {vlen, (void *)val};
    int rc = mdb_put(c->txn, c->s->members, &k, &v, 0);
    if (rc != 0)
        store_ctx_mdb_err(c, rc);
}

int store_m_del(struct store_ctx *c, const char *key, size_t klen, const void *sub,
                size_t sublen)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    if (8 + klen + sublen > STORE_MAX_DBKEY)
        return 0;
    MDB_val k = {store_mkey(kb, key, klen, sub, sublen), kb};
    int rc = mdb_del(c->txn, c->s->members, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        return 0;
    }
    return 1;
}

int store_m_iter(struct store_ctx *c, const char *key, size_t klen, const void *from,
                 size_t fromlen, int reverse, store_m_iter_cb cb, void *arg)
{
    unsigned char kb[STORE_MAX_DBKEY + 8];
    unsigned char pb[STORE_MAX_DBKEY + 8];
    if (8 + klen + fromlen > STORE_MAX_DBKEY)
        return 0;
    size_t plen = store_mkey(pb, key, klen, NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->s->members, &cur);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        return 0;
    }
    MDB_val k, v;
    if (!reverse) {
        k.mv_size = store_mkey(kb, key, klen, from, fromlen);
        k.mv_data = kb;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        /* Position after the last key <= prefix+from (from empty: the end
         * of the prefix, found by seeking the prefix's successor). */
        if (fromlen) {
            k.mv_size = store_mkey(kb, key, klen, from, fromlen);
            k.mv_data = kb;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && !(k.mv_size == 8 + klen + fromlen &&
                             memcmp(k.mv_data, kb, k.mv_size) == 0))
                rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
            else if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        } else {
            /* Successor of the prefix: increment it as a big number. */
            memcpy(kb, pb, plen);
            size_t n = plen;
            while (n > 0 && kb[n - 1] == 0xff)
                n--;
            if (n == 0) {
                rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            } else {
                kb[n - 1]++;
                k.mv_size = n;
                k.mv_data = kb;
                rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                if (rc == 0)
                    rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
                else if (rc == MDB_NOTFOUND)
                    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            }
        }
    }
    int n = 0;
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, pb, plen) != 0)
            break;
        n++;
        if (cb(arg, (unsigned char *)k.mv_data + plen, k.mv_size - plen, v.mv_data, v.mv_size))
            break;
        rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        store_ctx_mdb_err(c, rc);
    mdb_cursor_close(cur);
    return n;
}

void store_m_del_all(struct store_ctx *c, const char *key, size_t klen)
{
    unsigned char pb[STORE_MAX_DBKEY + 8];
    size_t plen = store_mkey(pb, key, klen, NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->s->members, &cur);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        return;
    }
    MDB_val k = {plen, pb}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, pb, plen) == 0) {
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
        if (rc == MDB_NOTFOUND || rc == EINVAL)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        store_ctx_mdb_err(c, rc);
    mdb_cursor_close(cur);
}

/* ------------------------------------------------------------------ key commands */

static void store_del_generic(struct store_ctx *c, int argc, char **argv, size_t *len)
{
    long long n = 0;
    for (int i = 1; i < argc; i++) {
        if (store_db_delete(c, argv[i], len[i])) {
            store_notify(c, STORE_EV_GENERIC, "del", argv[i], len[i]);
            n++;
        }
    }
    resp_add_int(c->out, n);
}

STORE_DECL(del)
{
    store_del_generic(c, argc, argv, len);
}

STORE_DECL(unlink)
{
    store_del_generic(c, argc, argv, len);
}

STORE_DECL(exists)
{
    struct store_rec r;
    long long n = 0;
    for (int i = 1; i < argc; i++)
        n += store_db_lookup(c, argv[i], len[i], &r);
    resp_add_int(c->out, n);
}

STORE_DECL(touch)
{
    store_cmd_exists(c, argc, argv, len);
}

static const char *store_type_name(int t)
{
    switch (t) {
    case STORE_T_STRING:
        return "string";
    case STORE_T_HASH:
        return "hash";
    case STORE_T_LIST:
        return "list";
    case STORE_T_SET:
        return "set";
    case STORE_T_ZSET:
        return "zset";
    }
    return "none";
}

STORE_DECL(type)
{
    (void)argc;
    struct store_rec r;
    resp_add_simple(c->out, store_db_lookup(c, argv[1], len[1], &r) ? store_type_name(r.type)
                                                                   : "none");
}

#define EXPIRE_NX (1 << 0)
#define EXPIRE_XX (1 << 1)
#define EXPIRE_GT (1 << 2)
#define EXPIRE_LT (1 << 3)

static void store_expire_generic(struct store_ctx *c, int argc, char **argv, size_t *len,
                                 long long basetime, int seconds, const char *name)
{
    int flag = 0;
    int nx = 0, xx = 0, gt = 0, lt = 0;
    for (int j = 3; j < argc; j++) {
        if (store_strcasecmp_arg(argv[j], len[j], "nx"))
            flag |= EXPIRE_NX, nx = 1;
        else if (store_strcasecmp_arg(argv[j], len[j], "xx"))
            flag |= EXPIRE_XX, xx = 1;
        else if (store_strcasecmp_arg(argv[j], len[j], "gt"))
            flag |= EXPIRE_GT, gt = 1;
        else if (store_strcasecmp_arg(argv[j], len[j], "lt"))
            flag |= EXPIRE_LT, lt = 1;
        else {
            resp_add_errorf(c->out, "ERR Unsupported option %s", argv[j]);
            return;
        }
    }
    if ((nx && xx) || (nx && gt) || (nx && lt)) {
        resp_add_error(c->out,
                       "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if (gt && lt) {
        resp_add_error(c->out, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!resp_string2ll(argv[2], len[2], &when)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            resp_add_errorf(c->out, "ERR invalid expire time in '%s' command", name);
            return;
        }
        when *= 1000;
    }
    if (when > LLONG_MAX - basetime) {
        resp_add_errorf(c->out, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when += basetime;
    struct store_rec r;
    if (!store_db_lookup(c, argv[1], len[1], &r)) {
        resp_add_int(c->out, 0);
        return;
    }
    if (flag) {
        long long cur = r.expire ? r.expire : -1;
        if ((flag & EXPIRE_NX) && cur != -1) {
            resp_add_int(c->out, 0);
            return;
        }
        if ((flag & EXPIRE_XX) && cur == -1) {
            resp_add_int(c->out, 0);
            return;
        }
        if ((flag & EXPIRE_GT) && (when <= cur || cur == -1)) {
            resp_add_int(c->out, 0);
            return;
        }
        if ((flag & EXPIRE_LT) && cur != -1 && when >= cur) {
            resp_add_int(c->out, 0);
            return;
        }
    }
    if (when <= (long long)c->now) {
        store_db_delete(c, argv[1], len[1]);
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    } else {
        store_db_set_expire(c, argv[1], len[1], &r, when);
        store_notify(c, STORE_EV_GENERIC, "expire", argv[1], len[1]);
    }
    resp_add_int(c->out, 1);
}

STORE_DECL(expire)
{
    store_expire_generic(c, argc, argv, len, (long long)c->now, 1, "expire");
}

STORE_DECL(pexpire)
{
    store_expire_generic(c, argc, argv, len, (long long)c->now, 0, "pexpire");
}

STORE_DECL(expireat)
{
    store_expire_generic(c, argc, argv, len, 0, 1, "expireat");
}

STORE_DECL(pexpireat)
{
    store_expire_generic(c, argc, argv, len, 0, 0, "pexpireat");
}

static void store_ttl_generic(struct store_ctx *c, char **argv, size_t *len, int ms, int abs)
{
    struct store_rec r;
    if (!store_db_lookup(c, argv[1], len[1], &r)) {
        resp_add_int(c->out, -2);
        return;
    }
    if (r.expire == 0) {
        resp_add_int(c->out, -1);
        return;
    }
    long long ttl = abs ? r.expire : r.expire - (long long)c->now;
    if (ttl < 0)
        ttl = 0;
    resp_add_int(c->out, ms ? ttl : (ttl + 500) / 1000);
}

STORE_DECL(ttl)
{
    (void)argc;
    store_ttl_generic(c, argv, len, 0, 0);
}

STORE_DECL(pttl)
{
    (void)argc;
    store_ttl_generic(c, argv, len, 1, 0);
}

STORE_DECL(expiretime)
{
    (void)argc;
    store_ttl_generic(c, argv, len, 0, 1);
}

STORE_DECL(pexpiretime)
{
    (void)argc;
    store_ttl_generic(c, argv, len, 1, 1);
}

STORE_DECL(persist)
{
    (void)argc;
    struct store_rec r;
    if (store_db_lookup(c, argv[1], len[1], &r) && r.expire) {
        store_db_set_expire(c, argv[1], len[1], &r, 0);
        store_notify(c, STORE_EV_GENERIC, "persist", argv[1], len[1]);
        resp_add_int(c->out, 1);
    } else {
        resp_add_int(c->out, 0);
    }
}

/* Copies key src (record r) to dst with the given expire, members included. */
struct copy_arg {
    struct resp_buf buf; /* u32 sublen sub u32 vlen val ... */
};

static int store_copy_collect(void *arg, const unsigned char *sub, size_t sublen,
                              const unsigned char *val, size_t vlen)
{
    struct copy_arg *a = arg;
    unsigned char n[4];
    store_put_u32(n, (uint32_t)sublen);
    resp_buf_append(&a->buf, n, 4);
    resp_buf_append(&a->buf, sub, sublen);
    store_put_u32(n, (uint32_t)vlen);
    resp_buf_append(&a->buf, n, 4);
    resp_buf_append(&a->buf, val, vlen);
    return 0;
}

static void store_copy_key(struct store_ctx *c, const char *src, size_t slen, const char *dst,
                           size_t dlen, const struct store_rec *r)
{
    int type = r->type;
    int64_t expire = r->expire;
    struct resp_buf payload;
    resp_buf_init(&payload);
    resp_buf_append(&payload, r->payload, r->plen);
    struct copy_arg a;
    resp_buf_init(&a.buf);
    if (type != STORE_T_STRING)
        store_m_iter(c, src, slen, NULL, 0, 0, store_copy_collect, &a);
    store_db_delete(c, dst, dlen);
    store_db_put(c, dst, dlen, type, expire, payload.data, payload.len);
    size_t off = 0;
    while (off < a.buf.len) {
        const unsigned char *p = (unsigned char *)a.buf.data + off;
        uint32_t sl = store_get_u32(p);
        const unsigned char *sub = p + 4;
        uint32_t vl = store_get_u32(sub + sl);
        store_m_put(c, dst, dlen, sub, sl, sub + sl + 4, vl);
        off += 8 + sl + vl;
    }
    if (type == STORE_T_LIST || type == STORE_T_ZSET)
        store_db_ready(c, dst, dlen);
    resp_buf_fini(&payload);
    resp_buf_fini(&a.buf);
}

static void store_rename_generic(struct store_ctx *c, char **argv, size_t *len, int nx)
{
    int samekey = len[1] == len[2] && memcmp(argv[1], argv[2], len[1]) == 0;
    struct store_rec r;
    if (!store_db_lookup(c, argv[1], len[1], &r)) {
        resp_add_error(c->out, "ERR no such key");
        return;
    }
    if (samekey) {
        if (nx)
            resp_add_int(c->out, 0);
        else
            resp_add_simple(c->out, "OK");
        return;
    }
    struct store_rec d;
    if (nx && store_db_lookup(c, argv[2], len[2], &d)) {
        resp_add_int(c->out, 0);
        return;
    }
    store_db_lookup(c, argv[1], len[1], &r); /* reload: the lookup may have moved pages */
    store_copy_key(c, argv[1], len[1], argv[2], len[2], &r);
    store_db_delete(c, argv[1], len[1]);
    store_notify(c, STORE_EV_GENERIC, "rename_from", argv[1], len[1]);
    store_notify(c, STORE_EV_GENERIC, "rename_to", argv[2], len[2]);
    if (nx)
        resp_add_int(c->out, 1);
    else
        resp_add_simple(c->out, "OK");
}

STORE_DECL(rename)
{
    (void)argc;
    store_rename_generic(c, argv, len, 0);
}

STORE_DECL(renamenx)
{
    (void)argc;
    store_rename_generic(c, argv, len, 1);
}

STORE_DECL(copy)
{
    int replace = 0;
    for (int j = 3; j < argc; j++) {
        int additional = argc - 1 - j;
        if (store_strcasecmp_arg(argv[j], len[j], "replace")) {
            replace = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "db") && additional) {
            /* One database, as Redis with `databases 1` (CONFIG GET says so). */
            long long db;
            if (!resp_string2ll(argv[j + 1], len[j + 1], &db)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (db < INT_MIN || db > INT_MAX) {
                resp_add_errorf(c->out, "ERR value is out of range, value must between %d and %d",
                                INT_MIN, INT_MAX);
                return;
            }
            if (db != 0) {
                resp_add_error(c->out, "ERR DB index is out of range");
                return;
            }
            j++;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    if (len[1] == len[2] && memcmp(argv[1], argv[2], len[1]) == 0) {
        resp_add_error(c->out, "ERR source and destination objects are the same");
        return;
    }
    struct store_rec r, d;
    if (!store_db_lookup_read(c, argv[1], len[1], &r)) {
        resp_add_int(c->out, 0);
        return;
    }
    if (store_db_lookup(c, argv[2], len[2], &d) && !replace) {
        resp_add_int(c->out, 0);
        return;
    }
    store_db_lookup(c, argv[1], len[1], &r);
    store_copy_key(c, argv[1], len[1], argv[2], len[2], &r);
    store_notify(c, STORE_EV_GENERIC, "copy_to", argv[2], len[2]);
    resp_add_int(c->out, 1);
}

/* SCAN: the cursor is the next 32-bit key hash to visit (+1 so that 0 means
 * "done"); whole hash buckets are returned, so a key present during the
 * whole iteration is returned, as Redis guarantees. */
static int store_parse_cursor(struct store_ctx *c, const char *s, unsigned long *cursor)
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

STORE_DECL(scan)
{
    unsigned long cursor;
    if (store_parse_cursor(c, argv[1], &cursor) != 0)
        return;
    long count = 10;
    const char *pat = NULL;
    size_t patlen = 0;
    const char *tname = NULL;
    for (int i = 2; i < argc;) {
        int j = argc - i;
        if (store_strcasecmp_arg(argv[i], len[i], "count") && j >= 2) {
            if (!store_string2l(argv[i + 1], len[i + 1], &count)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (count < 1) {
                resp_add_error(c->out, STORE_ESYNTAX);
                return;
            }
            i += 2;
        } else if (store_strcasecmp_arg(argv[i], len[i], "match") && j >= 2) {
            pat = argv[i + 1];
            patlen = len[i + 1];
            if (patlen == 1 && pat[0] == '*')
                pat = NULL;
            i += 2;
        } else if (store_strcasecmp_arg(argv[i], len[i], "type") && j >= 2) {
            tname = argv[i + 1];
            i += 2;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    struct resp_buf keys;
    resp_buf_init(&keys);
    long nkeys = 0, visited = 0;
    unsigned long next = 0;
    if (cursor <= 0xffffffffUL) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(c->txn, c->s->keys, &cur);
        if (rc != 0) {
            store_ctx_mdb_err(c, rc);
            resp_add_error(c->out, "ERR ferry: store read failed");
            return;
        }
        /* The cursor is the next slot to visit, plus one (0 starts and
         * ends an iteration); a call ends only between slots. */
        unsigned char kb[4];
        store_put_be32(kb, cursor == 0 ? 0 : (uint32_t)(cursor - 1));
        MDB_val k = {4, kb}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        uint32_t lasth = 0;
        int have_last = 0;
        while (rc == 0) {
            uint32_t h = store_get_be32(k.mv_data);
            if (have_last && h != lasth && visited >= count) {
                next = (unsigned long)h + 1;
                break;
            }
            have_last = 1;
            lasth = h;
            visited++;
            struct store_rec r;
            store_rec_parse(&v, &r);
            const char *key = (const char *)k.mv_data + 4;
            int klen = (int)k.mv_size - 4;
            int ok = !store_db_expired(c, &r);
            if (ok && pat && !resp_string_match(pat, (int)patlen, key, klen, 0))
                ok = 0;
            if (ok && tname && strcasecmp(tname, store_type_name(r.type)) != 0)
                ok = 0;
            if (ok) {
                resp_add_bulk(&keys, key, (size_t)klen);
                nkeys++;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    resp_add_array(c->out, 2);
    resp_add_bulk_ll(c->out, (long long)next);
    resp_add_array(c->out, nkeys);
    resp_buf_append(c->out, keys.data, keys.len);
    resp_buf_fini(&keys);
}

STORE_DECL(keys)
{
    (void)argc;
    const char *pat = argv[1];
    int all = len[1] == 1 && pat[0] == '*';
    struct resp_buf keys;
    resp_buf_init(&keys);
    long n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->s->keys, &cur);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        resp_add_error(c->out, "ERR ferry: store read failed");
        return;
    }
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        struct store_rec r;
        store_rec_parse(&v, &r);
        const char *key = (const char *)k.mv_data + 4;
        int klen = (int)k.mv_size - 4;
        if (!store_db_expired(c, &r) &&
            (all || resp_string_match(pat, (int)len[1], key, klen, 0))) {
            resp_add_bulk(&keys, key, (size_t)klen);
            n++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    resp_add_array(c->out, n);
    resp_buf_append(c->out, keys.data, keys.len);
    resp_buf_fini(&keys);
}

STORE_DECL(randomkey)
{
    (void)argc;
    (void)argv;
    (void)len;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, c->s->keys, &cur);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        resp_add_error(c->out, "ERR ferry: store read failed");
        return;
    }
    /* A random point in slot space finds a bucket (the keys sharing the high
     * 24 bits), then a key drawn uniformly among the bucket's first 4,096:
     * within a bucket every key is as likely, and a bucket's chance is the
     * gap before it, as for any key under a plain hash. From there, the
     * first live key, wrapping once. */
    unsigned char kb[4];
    store_put_be32(kb, (uint32_t)store_rng_next(&c->rng));
    MDB_val k = {4, kb}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc == 0) {
        uint32_t bucket = store_get_be32(k.mv_data) & 0xffffff00u;
        store_put_be32(kb, bucket);
        k = (MDB_val){4, kb};
        long n = 0;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && n < 4096 && (store_get_be32(k.mv_data) & 0xffffff00u) == bucket;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            n++;
        long pick = n > 0 ? (long)(store_rng_next(&c->rng) % (uint64_t)n) : 0;
        store_put_be32(kb, bucket);
        k = (MDB_val){4, kb};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        for (long i = 0; i < pick && rc == 0; i++)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    unsigned char start[4];
    if (rc == 0)
        memcpy(start, k.mv_data, 4);
    int wrapped = 0;
    while (rc == 0) {
        struct store_rec rec;
        store_rec_parse(&v, &rec);
        if (!store_db_expired(c, &rec)) {
            resp_add_bulk(c->out, (char *)k.mv_data + 4, k.mv_size - 4);
            mdb_cursor_close(cur);
            return;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (rc == MDB_NOTFOUND && !wrapped) {
            wrapped = 1;
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
        if (wrapped && rc == 0 && memcmp(k.mv_data, start, 4) >= 0)
            break;
    }
    mdb_cursor_close(cur);
    resp_add_null(c->out);
}

STORE_DECL(dbsize)
{
    (void)argc;
    (void)argv;
    (void)len;
    MDB_stat st;
    int rc = mdb_stat(c->txn, c->s->keys, &st);
    if (rc != 0) {
        store_ctx_mdb_err(c, rc);
        resp_add_error(c->out, "ERR ferry: store read failed");
        return;
    }
    /* Expired keys wait for their deletion entry; Redis would have deleted
     * them on access or in its expiry cycle, so they do not count. The
     * expires index makes this O(expired-but-not-yet-deleted). */
    long long n = (long long)st.ms_entries;
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->expires, &cur) == 0) {
        MDB_val k, v;
        int rc2 = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc2 == 0 && k.mv_size >= 8 && store_get_be64(k.mv_data) <= c->now) {
            n--;
            rc2 = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    resp_add_int(c->out, n);
}

static void store_flush_generic(struct store_ctx *c, int argc, char **argv, size_t *len)
{
    if (argc > 2 || (argc == 2 && !store_strcasecmp_arg(argv[1], len[1], "sync") &&
                     !store_strcasecmp_arg(argv[1], len[1], "async"))) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    int rc;
    if ((rc = mdb_drop(c->txn, c->s->keys, 0)) != 0 ||
        (rc = mdb_drop(c->txn, c->s->members, 0)) != 0 ||
        (rc = mdb_drop(c->txn, c->s->expires, 0)) != 0)
        store_ctx_mdb_err(c, rc);
    resp_add_simple(c->out, "OK");
}

STORE_DECL(flushdb)
{
    store_flush_generic(c, argc, argv, len);
}

STORE_DECL(flushall)
{
    store_flush_generic(c, argc, argv, len);
}

/* MEMORY USAGE's measure: the bytes a key's LMDB records take. A record
 * on a leaf page is its node (an 8-byte header, the key, the value) and a
 * 2-byte slot; a node too big for half a page keeps its value on overflow
 * pages of its own, whole pages (LMDB's me_nodemax). */
static uint64_t memory_record_bytes(const struct store *s, size_t klen, size_t vlen)
{
    MDB_stat st;
    static size_t page; /* one environment per process */
    if (page == 0)
        page = mdb_env_stat(s->env, &st) == 0 ? st.ms_psize : 4096;
    size_t nodemax = (((page - 16) / 2) & ~(size_t)1) - 2;
    if (8 + klen + vlen <= nodemax)
        return 8 + klen + vlen + 2;
    return 8 + klen + 8 + 2 + (vlen + 16 + page - 1) / page * page;
}

struct memory_sample {
    const struct store *s;
    size_t prefix; /* of a member record's key: slot, key length, key */
    uint64_t records, bytes, max;
};

static int memory_sample_cb(void *arg, const unsigned char *sub, size_t sublen,
                            const unsigned char *val, size_t vlen)
{
    (void)sub;
    (void)val;
    struct memory_sample *m = arg;
    m->bytes += memory_record_bytes(m->s, m->prefix + sublen, vlen);
    return ++m->records >= m->max;
}

/* USAGE key [SAMPLES count]: the key's record, its expiry's, and its
 * members' (a sorted set has two records a member), the members
 * estimated from the first `count` as Redis estimates (default 5, 0: all).
 * The other subcommands are about Redis's allocator. */
static const char *const memory_help[] = {
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
};

STORE_DECL(memory)
{
    const struct resp_command *sub = resp_subcommand_check("memory", argc, argv, len, c->out);
    if (sub == NULL)
        return;
    if (store_strcasecmp_arg(argv[1], len[1], "help")) {
        resp_add_help(c->out, memory_help, sizeof(memory_help) / sizeof(memory_help[0]));
        return;
    }
    /* ferry allocates with the C library's malloc (INFO's mem_allocator is
     * libc): MALLOC-STATS says what Redis built with it says, and PURGE
     * hands the heap's free pages back to the system. */
    if (store_strcasecmp_arg(argv[1], len[1], "malloc-stats")) {
        resp_add_simple(c->out, "Stats not supported for the current allocator");
        return;
    }
    if (store_strcasecmp_arg(argv[1], len[1], "purge")) {
        malloc_trim(0);
        resp_add_simple(c->out, "OK");
        return;
    }
    if (!store_strcasecmp_arg(argv[1], len[1], "usage")) {
        char name[64];
        resp_command_upper_name(sub->name, name, sizeof(name));
        resp_add_errorf(c->out, "ERR ferry: %s is not supported while reads/writes are served by "
                                "the raft group", name);
        return;
    }
    long long samples = 5;
    for (int j = 3; j < argc; j++) {
        if (store_strcasecmp_arg(argv[j], len[j], "samples") && j + 1 < argc) {
            if (!resp_string2ll(argv[j + 1], len[j + 1], &samples)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (samples < 0) {
                resp_add_error(c->out, STORE_ESYNTAX);
                return;
            }
            j++;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    struct store_rec r;
    c->quiet_miss = 1; /* Redis's objectCommandLookup: LOOKUP_NONOTIFY */
    int found = store_db_lookup(c, argv[2], len[2], &r);
    c->quiet_miss = 0;
    if (!found) {
        resp_add_null(c->out);
        return;
    }
    uint64_t bytes = memory_record_bytes(c->s, 4 + len[2], STORE_REC_HDR + r.plen);
    if (r.expire)
        bytes += memory_record_bytes(c->s, 12 + len[2], 0);
    if (r.type != STORE_T_STRING) {
        uint64_t per = r.type == STORE_T_ZSET ? 2 : 1;
        uint64_t total = (uint64_t)store_rec_count(&r) * per;
        struct memory_sample m = {c->s, 8 + len[2], 0, 0,
                                  samples == 0 ? UINT64_MAX : (uint64_t)samples * per};
        store_m_iter(c, argv[2], len[2], NULL, 0, 0, memory_sample_cb, &m);
        if (m.records > 0)
            bytes += (uint64_t)((double)m.bytes / (double)m.records * (double)total);
    }
    resp_add_int(c->out, (long long)bytes);
}

STORE_DECL(object)
{
    (void)argc;
    (void)argv;
    (void)len;
    resp_add_error(c->out, "ERR ferry: OBJECT is not supported while reads/writes are served by "
                           "the raft group");
}
