/* Strings (Redis t_string.c). Values are kept as the bytes the client sent;
 * Redis's integer encoding never shows in replies, so it is not needed. */
#include "store/store_int.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define OBJ_SET_NX (1 << 0)
#define OBJ_SET_XX (1 << 1)
#define OBJ_EX (1 << 2)
#define OBJ_PX (1 << 3)
#define OBJ_KEEPTTL (1 << 4)
#define OBJ_SET_GET (1 << 5)
#define OBJ_EXAT (1 << 6)
#define OBJ_PXAT (1 << 7)
#define OBJ_PERSIST (1 << 8)

enum { CMD_SET, CMD_GET };

static int lc_eq(char a, char b)
{
    return a == b || a == (char)(b - 'a' + 'A');
}

static int opt_is(const char *opt, const char *lit)
{
    size_t i = 0;
    for (; lit[i]; i++)
        if (!lc_eq(opt[i], lit[i]))
            return 0;
    return opt[i] == '\0';
}

/* Redis parseExtendedStringArgumentsOrReply. */
static int store_parse_ext(struct store_ctx *c, int argc, char **argv, int *flags, int *ms,
                           int *expire_idx, int type)
{
    int j = type == CMD_GET ? 2 : 3;
    for (; j < argc; j++) {
        const char *opt = argv[j];
        int next = j == argc - 1 ? 0 : j + 1;
        int f = *flags;
        if (opt_is(opt, "nx") && !(f & OBJ_SET_XX) && type == CMD_SET) {
            *flags |= OBJ_SET_NX;
        } else if (opt_is(opt, "xx") && !(f & OBJ_SET_NX) && type == CMD_SET) {
            *flags |= OBJ_SET_XX;
        } else if (opt_is(opt, "get") && type == CMD_SET) {
            *flags |= OBJ_SET_GET;
        } else if (opt_is(opt, "keepttl") && !(f & OBJ_PERSIST) && !(f & OBJ_EX) &&
                   !(f & OBJ_EXAT) && !(f & OBJ_PX) && !(f & OBJ_PXAT) && type == CMD_SET) {
            *flags |= OBJ_KEEPTTL;
        } else if (opt_is(opt, "persist") && type == CMD_GET && !(f & OBJ_EX) &&
                   !(f & OBJ_EXAT) && !(f & OBJ_PX) && !(f & OBJ_PXAT) && !(f & OBJ_KEEPTTL)) {
            *flags |= OBJ_PERSIST;
        } else if (opt_is(opt, "ex") && !(f & OBJ_KEEPTTL) && !(f & OBJ_PERSIST) &&
                   !(f & OBJ_EXAT) && !(f & OBJ_PX) && !(f & OBJ_PXAT) && next) {
            *flags |= OBJ_EX;
            *expire_idx = next;
            j++;
        } else if (opt_is(opt, "px") && !(f & OBJ_KEEPTTL) && !(f & OBJ_PERSIST) &&
                   !(f & OBJ_EX) && !(f & OBJ_EXAT) && !(f & OBJ_PXAT) && next) {
            *flags |= OBJ_PX;
            *ms = 1;
            *expire_idx = next;
            j++;
        } else if (opt_is(opt, "exat") && !(f & OBJ_KEEPTTL) && !(f & OBJ_PERSIST) &&
                   !(f & OBJ_EX) && !(f & OBJ_PX) && !(f & OBJ_PXAT) && next) {
            *flags |= OBJ_EXAT;
            *expire_idx = next;
            j++;
        } else if (opt_is(opt, "pxat") && !(f & OBJ_KEEPTTL) && !(f & OBJ_PERSIST) &&
                   !(f & OBJ_EX) && !(f & OBJ_EXAT) && !(f & OBJ_PX) && next) {
            *flags |= OBJ_PXAT;
            *ms = 1;
            *expire_idx = next;
            j++;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return -1;
        }
    }
    return 0;
}

/* Redis getExpireMillisecondsOrReply. */
static int store_expire_ms(struct store_ctx *c, const char *arg, size_t alen, int flags, int ms,
                           const char *name, long long *out)
{
    long long v;
    if (!resp_string2ll(arg, alen, &v)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return -1;
    }
    if (v <= 0 || (!ms && v > LLONG_MAX / 1000)) {
        resp_add_errorf(c->out, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    if (!ms)
        v *= 1000;
    if ((flags & OBJ_PX) || (flags & OBJ_EX))
        v = (long long)((unsigned long long)v + c->now);
    if (v <= 0) {
        resp_add_errorf(c->out, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    *out = v;
    return 0;
}

/* GET's reply for key: 0 done (reply written), -1 wrong type (error written).
 * A read in the writes that reply the old value too (GETSET, SET GET). */
static int store_get_generic(struct store_ctx *c, const char *key, size_t klen)
{
    struct store_rec r;
    int rc = store_db_lookup_read_type(c, key, klen, STORE_T_STRING, &r);
    if (rc < 0)
        return -1;
    if (rc == 0)
        resp_add_null(c->out);
    else
        resp_add_bulk(c->out, r.payload, r.plen);
    return 0;
}

/* setKey and its "set" event: a new value; the TTL goes unless keepttl. */
static void store_set_key(struct store_ctx *c, const char *key, size_t klen, const char *val,
                          size_t vlen, int keepttl, long long expire)
{
    struct store_rec r;
    int64_t e = expire;
    if (keepttl && store_db_lookup(c, key, klen, &r))
        e = r.expire;
    store_db_put(c, key, klen, STORE_T_STRING, e, val, vlen);
    store_notify(c, STORE_EV_STRING, "set", key, klen);
}

static void store_set_generic(struct store_ctx *c, int flags, char **argv, size_t *len,
                              const char *key, size_t klen, const char *val, size_t vlen,
                              int expire_idx, int ms, const char *name, int ok_is_int)
{
    long long when = 0;
    if (expire_idx &&
        store_expire_ms(c, argv[expire_idx], len[expire_idx], flags, ms, name, &when) != 0)
        return;
    if (flags & OBJ_SET_GET) {
        if (store_get_generic(c, key, klen) != 0)
            return;
    }
    struct store_rec r;
    int found = store_db_lookup(c, key, klen, &r);
    if (((flags & OBJ_SET_NX) && found) || ((flags & OBJ_SET_XX) && !found)) {
        if (!(flags & OBJ_SET_GET)) {
            if (ok_is_int)
                resp_add_int(c->out, 0);
            else
                resp_add_null(c->out);
        }
        return;
    }
    int64_t e = expire_idx ? when : 0;
    if ((flags & OBJ_KEEPTTL) && found)
        e = r.expire;
    store_db_put_known(c, key, klen, STORE_T_STRING, e, val, vlen, found, &r);
    store_notify(c, STORE_EV_STRING, "set", key, klen);
    if (expire_idx)
        store_notify(c, STORE_EV_GENERIC, "expire", key, klen);
    if (!(flags & OBJ_SET_GET)) {
        if (ok_is_int)
            resp_add_int(c->out, 1);
        else
            resp_add_simple(c->out, "OK");
    }
}

STORE_DECL(get)
{
    (void)argc;
    store_get_generic(c, argv[1], len[1]);
}

STORE_DECL(set)
{
    int flags = 0, ms = 0, eidx = 0;
    if (store_parse_ext(c, argc, argv, &flags, &ms, &eidx, CMD_SET) != 0)
        return;
    store_set_generic(c, flags, argv, len, argv[1], len[1], argv[2], len[2], eidx, ms, "set", 0);
}

STORE_DECL(setnx)
{
    (void)argc;
    store_set_generic(c, OBJ_SET_NX, argv, len, argv[1], len[1], argv[2], len[2], 0, 0,
                      "setnx", 1);
}

STORE_DECL(setex)
{
    (void)argc;
    store_set_generic(c, OBJ_EX, argv, len, argv[1], len[1], argv[3], len[3], 2, 0, "setex",
                      0);
}

STORE_DECL(psetex)
{
    (void)argc;
    store_set_generic(c, OBJ_PX, argv, len, argv[1], len[1], argv[3], len[3], 2, 1, "psetex",
                      0);
}

STORE_DECL(mget)
{
    resp_add_array(c->out, argc - 1);
    for (int i = 1; i < argc; i++) {
        struct store_rec r;
        if (store_db_lookup(c, argv[i], len[i], &r) && r.type == STORE_T_STRING)
            resp_add_bulk(c->out, r.payload, r.plen);
        else
            resp_add_null(c->out);
    }
}

static void store_mset_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int nx,
                               const char *name)
{
    if (argc % 2 == 0) {
        resp_add_errorf(c->out, "ERR wrong number of arguments for '%s' command", name);
        return;
    }
    struct store_rec r;
    if (nx) {
        for (int j = 1; j < argc; j += 2) {
            if (store_db_lookup(c, argv[j], len[j], &r)) {
                resp_add_int(c->out, 0);
                return;
            }
        }
    }
    for (int j = 1; j < argc; j += 2)
        store_set_key(c, argv[j], len[j], argv[j + 1], len[j + 1], 0, 0);
    if (nx)
        resp_add_int(c->out, 1);
    else
        resp_add_simple(c->out, "OK");
}

STORE_DECL(mset)
{
    store_mset_generic(c, argc, argv, len, 0, "mset");
}

STORE_DECL(msetnx)
{
    store_mset_generic(c, argc, argv, len, 1, "msetnx");
}

STORE_DECL(getset)
{
    (void)argc;
    if (store_get_generic(c, argv[1], len[1]) != 0)
        return;
    store_set_key(c, argv[1], len[1], argv[2], len[2], 0, 0);
}

STORE_DECL(getdel)
{
    (void)argc;
    struct store_rec r;
    int rc = store_db_lookup_read_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_null(c->out);
        return;
    }
    resp_add_bulk(c->out, r.payload, r.plen);
    store_db_delete(c, argv[1], len[1]);
    store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
}

STORE_DECL(getex)
{
    int flags = 0, ms = 0, eidx = 0;
    if (store_parse_ext(c, argc, argv, &flags, &ms, &eidx, CMD_GET) != 0)
        return;
    struct store_rec r;
    int rc = store_db_lookup_read_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_null(c->out);
        return;
    }
    long long when = 0;
    if (eidx && store_expire_ms(c, argv[eidx], len[eidx], flags, ms, "getex", &when) != 0)
        return;
    resp_add_bulk(c->out, r.payload, r.plen);
    if (((flags & OBJ_PXAT) || (flags & OBJ_EXAT)) && when <= (long long)c->now) {
        store_db_delete(c, argv[1], len[1]);
        store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
    } else if (eidx) {
        store_db_set_expire(c, argv[1], len[1], &r, when);
        store_notify(c, STORE_EV_GENERIC, "expire", argv[1], len[1]);
    } else if (flags & OBJ_PERSIST) {
        if (r.expire) {
            store_db_set_expire(c, argv[1], len[1], &r, 0);
            store_notify(c, STORE_EV_GENERIC, "persist", argv[1], len[1]);
        }
    }
}

static void store_incr_generic(struct store_ctx *c, char **argv, size_t *len, long long incr)
{
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    long long value = 0;
    if (rc == 1 && !resp_string2ll((const char *)r.payload, r.plen, &value)) {
        resp_add_error(c->out, STORE_ENOTINT);
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
    if (rc == 1)
        store_db_put_keep(c, argv[1], len[1], &r, buf, (size_t)n);
    else
        store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, buf, (size_t)n);
    store_notify(c, STORE_EV_STRING, "incrby", argv[1], len[1]);
    resp_add_int(c->out, value);
}

STORE_DECL(incr)
{
    (void)argc;
    store_incr_generic(c, argv, len, 1);
}

STORE_DECL(decr)
{
    (void)argc;
    store_incr_generic(c, argv, len, -1);
}

STORE_DECL(incrby)
{
    (void)argc;
    long long incr;
    if (!resp_string2ll(argv[2], len[2], &incr)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    store_incr_generic(c, argv, len, incr);
}

STORE_DECL(decrby)
{
    (void)argc;
    long long incr;
    if (!resp_string2ll(argv[2], len[2], &incr)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (incr == LLONG_MIN) {
        resp_add_error(c->out, "ERR decrement would overflow");
        return;
    }
    store_incr_generic(c, argv, len, -incr);
}

STORE_DECL(incrbyfloat)
{
    (void)argc;
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    long double value = 0, incr;
    if ((rc == 1 && !store_string2ld((const char *)r.payload, r.plen, &value)) ||
        !store_string2ld(argv[2], len[2], &incr)) {
        resp_add_error(c->out, STORE_ENOTFLOAT);
        return;
    }
    value += incr;
    if (isnan(value) || isinf(value)) {
        resp_add_error(c->out, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[5 * 1024];
    int n = store_ld2string(buf, sizeof(buf), value);
    if (n <= 0) {
        resp_add_error(c->out, STORE_ENOTFLOAT);
        return;
    }
    if (rc == 1)
        store_db_put_keep(c, argv[1], len[1], &r, buf, (size_t)n);
    else
        store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, buf, (size_t)n);
    store_notify(c, STORE_EV_STRING, "incrbyfloat", argv[1], len[1]);
    resp_add_bulk(c->out, buf, (size_t)n);
}

static int store_check_len(struct store_ctx *c, long long size, long long append)
{
    if (size + append > STORE_PROTO_MAX_BULK_LEN) {
        resp_add_error(c->out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return -1;
    }
    return 0;
}

STORE_DECL(append)
{
    (void)argc;
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, argv[2], len[2]);
        store_notify(c, STORE_EV_STRING, "append", argv[1], len[1]);
        resp_add_int(c->out, (long long)len[2]);
        return;
    }
    if (store_check_len(c, (long long)r.plen, (long long)len[2]) != 0)
        return;
    size_t n = r.plen + len[2];
    char *buf = malloc(n ? n : 1);
    STORE_ASSERT(buf != NULL);
    memcpy(buf, r.payload, r.plen);
    memcpy(buf + r.plen, argv[2], len[2]);
    store_db_put_keep(c, argv[1], len[1], &r, buf, n);
    free(buf);
    store_notify(c, STORE_EV_STRING, "append", argv[1], len[1]);
    resp_add_int(c->out, (long long)n);
}

STORE_DECL(strlen)
{
    (void)argc;
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    resp_add_int(c->out, rc ? (long long)r.plen : 0);
}

STORE_DECL(getrange)
{
    (void)argc;
    long long start, end;
    if (!resp_string2ll(argv[2], len[2], &start) || !resp_string2ll(argv[3], len[3], &end)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_bulk(c->out, "", 0);
        return;
    }
    long long slen = (long long)r.plen;
    if (start < 0 && end < 0 && start > end) {
        resp_add_bulk(c->out, "", 0);
        return;
    }
    if (start < 0)
        start = slen + start;
    if (end < 0)
        end = slen + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if ((unsigned long long)end >= (unsigned long long)slen)
        end = slen - 1;
    if (start > end || slen == 0)
        resp_add_bulk(c->out, "", 0);
    else
        resp_add_bulk(c->out, r.payload + start, (size_t)(end - start + 1));
}

STORE_DECL(substr)
{
    store_cmd_getrange(c, argc, argv, len);
}

STORE_DECL(setrange)
{
    (void)argc;
    long offset;
    if (!store_string2l(argv[2], len[2], &offset)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (offset < 0) {
        resp_add_error(c->out, "ERR offset is out of range");
        return;
    }
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    size_t vlen = len[3];
    if (rc == 0) {
        if (vlen == 0) {
            resp_add_int(c->out, 0);
            return;
        }
        if (store_check_len(c, offset, (long long)vlen) != 0)
            return;
        size_t n = (size_t)offset + vlen;
        char *buf = calloc(1, n);
        STORE_ASSERT(buf != NULL);
        memcpy(buf + offset, argv[3], vlen);
        store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, buf, n);
        free(buf);
        store_notify(c, STORE_EV_STRING, "setrange", argv[1], len[1]);
        resp_add_int(c->out, (long long)n);
        return;
    }
    if (vlen == 0) {
        resp_add_int(c->out, (long long)r.plen);
        return;
    }
    if (store_check_len(c, offset, (long long)vlen) != 0)
        return;
    size_t n = r.plen > (size_t)offset + vlen ? r.plen : (size_t)offset + vlen;
    char *buf = calloc(1, n);
    STORE_ASSERT(buf != NULL);
    memcpy(buf, r.payload, r.plen);
    memcpy(buf + offset, argv[3], vlen);
    store_db_put_keep(c, argv[1], len[1], &r, buf, n);
    free(buf);
    store_notify(c, STORE_EV_STRING, "setrange", argv[1], len[1]);
    resp_add_int(c->out, (long long)n);
}

/* ------------------------------------------------------------------ fixed float results
 * INCRBYFLOAT and HINCRBYFLOAT compute with long double, whose precision
 * differs between platforms (80-bit x87 on x86-64, 128-bit on arm64), so a
 * replica must not compute them: prepare computes the result against the
 * state it sees and the entry carries it, with the version of the key it was
 * computed from. Apply writes it when the version still matches (the state
 * is the one prepare saw) and recomputes only when another write got in
 * between. */

int store_float_prepare(struct store_ctx *c, int argc, char **argv, size_t *len, char *buf,
                        size_t cap, int *n, uint64_t *version)
{
    struct store_rec r;
    long double value = 0, incr;
    int hash = argc == 4;
    if (!store_string2ld(argv[hash ? 3 : 2], len[hash ? 3 : 2], &incr))
        return 0;
    if (hash && (isnan(incr) || isinf(incr)))
        return 0;
    int found = store_db_lookup(c, argv[1], len[1], &r);
    if (found && r.type != (hash ? STORE_T_HASH : STORE_T_STRING))
        return 0;
    if (hash) {
        MDB_val v;
        if (found && store_m_get(c, argv[1], len[1], argv[2], len[2], &v) &&
            !store_string2ld(v.mv_data, v.mv_size, &value))
            return 0;
    } else if (found && !store_string2ld((const char *)r.payload, r.plen, &value)) {
        return 0;
    }
    value += incr;
    if (isnan(value) || isinf(value))
        return 0;
    *n = store_ld2string(buf, cap, value);
    if (*n <= 0)
        return 0;
    *version = found ? r.version : 0;
    return 1;
}

void store_float_apply(struct store_ctx *c, int argc, char **argv, size_t *len, const char *res,
                       size_t rlen)
{
    struct store_rec r;
    if (argc == 4) {
        store_hash_set_field(c, argv[1], len[1], argv[2], len[2], res, rlen);
        store_notify(c, STORE_EV_HASH, "hincrbyfloat", argv[1], len[1]);
    } else {
        if (store_db_lookup(c, argv[1], len[1], &r))
            store_db_put_keep(c, argv[1], len[1], &r, res, rlen);
        else
            store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, res, rlen);
        store_notify(c, STORE_EV_STRING, "incrbyfloat", argv[1], len[1]);
    }
    resp_add_bulk(c->out, res, rlen);
}

/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (Redis's
 * lcsCommand): the longest common subsequence by the dynamic-programming
 * table, walked back from its end to build the string and the ranges. */
STORE_DECL(lcs)
{
    struct store_rec ra, rb;
    int fa = store_db_lookup(c, argv[1], len[1], &ra);
    int fb = store_db_lookup(c, argv[2], len[2], &rb);
    if ((fa && ra.type != STORE_T_STRING) || (fb && rb.type != STORE_T_STRING)) {
        resp_add_error(c->out, "ERR The specified keys must contain string values");
        return;
    }
    const unsigned char *a = fa ? ra.payload : (const unsigned char *)"";
    const unsigned char *b = fb ? rb.payload : (const unsigned char *)"";
    size_t alen64 = fa ? ra.plen : 0, blen64 = fb ? rb.plen : 0;
    int getlen = 0, getidx = 0, withmatchlen = 0;
    long long minmatchlen = 0;
    for (int j = 3; j < argc; j++) {
        if (store_strcasecmp_arg(argv[j], len[j], "idx")) {
            getidx = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "len")) {
            getlen = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "withmatchlen")) {
            withmatchlen = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "minmatchlen") && j + 1 < argc) {
            if (!resp_string2ll(argv[j + 1], len[j + 1], &minmatchlen)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (minmatchlen < 0)
                minmatchlen = 0;
            j++;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    if (getlen && getidx) {
        resp_add_error(c->out,
                       "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    if (alen64 >= UINT32_MAX - 1 || blen64 >= UINT32_MAX - 1) {
        resp_add_error(c->out, "ERR String too long for LCS");
        return;
    }
    uint32_t alen = (uint32_t)alen64, blen = (uint32_t)blen64;
    unsigned long long cells = (unsigned long long)(alen + 1) * (blen + 1);
    if (cells * sizeof(uint32_t) > (unsigned long long)STORE_PROTO_MAX_BULK_LEN) {
        resp_add_error(c->out, "ERR Insufficient memory, transient memory for LCS exceeds "
                               "proto-max-bulk-len");
        return;
    }
    uint32_t *t = malloc((size_t)cells * sizeof(uint32_t));
    if (t == NULL) {
        resp_add_error(c->out,
                       "ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
#define LCS_AT(i, j) t[(size_t)(j) + (size_t)(i) * (blen + 1)]
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS_AT(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS_AT(i, j) = LCS_AT(i - 1, j - 1) + 1;
            else
                LCS_AT(i, j) = LCS_AT(i - 1, j) > LCS_AT(i, j - 1) ? LCS_AT(i - 1, j)
                                                                   : LCS_AT(i, j - 1);
        }
    }
    uint32_t total = LCS_AT(alen, blen), idx = total;
    int computelcs = getidx || !getlen;
    char *result = computelcs ? malloc(total + 1) : NULL;
    STORE_ASSERT(!computelcs || result != NULL);
    struct resp_buf ranges;
    resp_buf_init(&ranges);
    long nranges = 0;
    /* arange_start == alen: no range open. */
    uint32_t as = alen, ae = 0, bs = 0, be = 0, i = alen, j = blen;
    while (computelcs && i > 0 && j > 0) {
        int emit = 0;
        if (a[i - 1] == b[j - 1]) {
            result[idx - 1] = (char)a[i - 1];
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--; /* the range extends backward */
                bs--;
            } else {
                emit = 1;
            }
            if (as == 0 || bs == 0)
                emit = 1;
            idx--;
            i--;
            j--;
        } else {
            if (LCS_AT(i - 1, j) > LCS_AT(i, j - 1))
                i--;
            else
                j--;
            if (as != alen)
                emit = 1;
        }
        uint32_t matchlen = ae - as + 1;
        if (emit) {
            if (getidx && (minmatchlen == 0 || matchlen >= minmatchlen)) {
                resp_add_array(&ranges, 2 + withmatchlen);
                resp_add_array(&ranges, 2);
                resp_add_int(&ranges, as);
                resp_add_int(&ranges, ae);
                resp_add_array(&ranges, 2);
                resp_add_int(&ranges, bs);
                resp_add_int(&ranges, be);
                if (withmatchlen)
                    resp_add_int(&ranges, matchlen);
                nranges++;
            }
            as = alen;
        }
    }
#undef LCS_AT
    if (getidx) {
        resp_add_array(c->out, 4); /* RESP2's form of a map of two */
        resp_add_bulk_str(c->out, "matches");
        resp_add_array(c->out, nranges);
        resp_buf_append(c->out, ranges.data, ranges.len);
        resp_add_bulk_str(c->out, "len");
        resp_add_int(c->out, total);
    } else if (getlen) {
        resp_add_int(c->out, total);
    } else {
        resp_add_bulk(c->out, result, total);
    }
    resp_buf_fini(&ranges);
    free(result);
    free(t);
}
