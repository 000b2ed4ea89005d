/* DUMP and RESTORE (Redis's cluster.c, and rdb.c's object serialization):
 * a key's value in Redis's RDB format, followed by the RDB version (two
 * bytes) and a CRC64 of all that (eight bytes), both little-endian.
 *
 * RESTORE reads every encoding Redis 7.0 writes or still loads (RDB
 * version up to 10): strings (raw, integer, LZF-compressed), lists (the
 * quicklists of listpacks or ziplists, and older ziplists and plain
 * lists), sets (plain, intset), sorted sets (plain with text or binary
 * scores, ziplist, listpack), hashes (plain, zipmap, ziplist, listpack).
 * Redis checks only the outline of a payload unless sanitize-dump-payload
 * is on; here every byte is checked, and anything malformed (a blob that
 * runs past its end, a duplicate member, a NaN score, an empty
 * collection) is "Bad data format", as Redis's loader says it. Streams and
 * module values have no home in the store.
 *
 * DUMP writes what Redis would for a value of that shape: the encoding
 * Redis gives it by its size (listpack or intset while small), integers
 * as integers. Strings are not compressed (Redis compresses those over 20
 * bytes): the payload is larger than Redis's, and any Redis restores it. */
#include "store/coll.h"

#include <math.h>

#define RDB_VERSION 10 /* Redis 7.0's */

enum {
    RDB_TYPE_STRING = 0,
    RDB_TYPE_LIST = 1,
    RDB_TYPE_SET = 2,
    RDB_TYPE_ZSET = 3,
    RDB_TYPE_HASH = 4,
    RDB_TYPE_ZSET_2 = 5,
    RDB_TYPE_MODULE = 6,
    RDB_TYPE_MODULE_2 = 7,
    RDB_TYPE_HASH_ZIPMAP = 9,
    RDB_TYPE_LIST_ZIPLIST = 10,
    RDB_TYPE_SET_INTSET = 11,
    RDB_TYPE_ZSET_ZIPLIST = 12,
    RDB_TYPE_HASH_ZIPLIST = 13,
    RDB_TYPE_LIST_QUICKLIST = 14,
    RDB_TYPE_STREAM_LISTPACKS = 15,
    RDB_TYPE_HASH_LISTPACK = 16,
    RDB_TYPE_ZSET_LISTPACK = 17,
    RDB_TYPE_LIST_QUICKLIST_2 = 18,
    RDB_TYPE_STREAM_LISTPACKS_2 = 19,
};

/* Length prefixes (rdbSaveLen): two top bits 00, 01 or 10 (then 0x80: 32
 * bits, 0x81: 64 bits, big-endian), 11 for an encoded string. */
#define RDB_ENC_INT8 0
#define RDB_ENC_INT16 1
#define RDB_ENC_INT32 2
#define RDB_ENC_LZF 3

/* Redis's defaults for the small encodings, which DUMP follows. */
#define DUMP_LISTPACK_ENTRIES 128 /* hash-/zset-max-listpack-entries */
#define DUMP_LISTPACK_VALUE 64    /* hash-/zset-max-listpack-value */
#define DUMP_INTSET_ENTRIES 512   /* set-max-intset-entries */
#define DUMP_LIST_NODE_BYTES 8192 /* list-max-listpack-size -2 */

#define QUICKLIST_NODE_PLAIN 1
#define QUICKLIST_NODE_PACKED 2

/* ------------------------------------------------------------------ CRC64 */

/* Redis's crc64 (Jones polynomial, reflected, no final xor). */
static uint64_t crc64_table[256];

uint64_t store_crc64(uint64_t crc, const void *data, size_t len)
{
    if (crc64_table[1] == 0) {
        for (int i = 0; i < 256; i++) {
            uint64_t c = (uint64_t)i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x95ac9329ac4bc9b5ULL : c >> 1;
            crc64_table[i] = c;
        }
    }
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        crc = crc64_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ------------------------------------------------------------------ LZF */

/* lzf_decompress: the input must expand to exactly outlen bytes. */
static int lzf_expand(const unsigned char *in, size_t inlen, unsigned char *out, size_t outlen)
{
    const unsigned char *ip = in, *iend = in + inlen;
    unsigned char *op = out, *oend = out + outlen;
    while (ip < iend) {
        unsigned ctrl = *ip++;
        if (ctrl < 32) { /* a literal run of ctrl + 1 bytes */
            size_t n = ctrl + 1;
            if ((size_t)(iend - ip) < n || (size_t)(oend - op) < n)
                return -1;
            memcpy(op, ip, n);
            op += n;
            ip += n;
            continue;
        }
        size_t n = ctrl >> 5; /* a back reference */
        if (n == 7) {
            if (ip >= iend)
                return -1;
            n += *ip++;
        }
        if (ip >= iend)
            return -1;
        size_t back = ((size_t)(ctrl & 0x1f) << 8) + *ip++ + 1;
        n += 2;
        if (back > (size_t)(op - out) || (size_t)(oend - op) < n)
            return -1;
        for (size_t i = 0; i < n; i++, op++) /* may overlap itself */
            *op = op[-(ptrdiff_t)back];
    }
    return op == oend ? 0 : -1;
}

/* lzf_compress as Redis builds liblzf (HLOG 16, VERY_FAST), with its hash
 * table zeroed where Redis leaves it as the stack had it: into out (cap
 * bytes), returning the compressed length, 0 when it does not fit. */
#define LZF_HLOG 16
#define LZF_MAX_LIT (1 << 5)
#define LZF_MAX_OFF (1 << 13)
#define LZF_MAX_REF ((1 << 8) + (1 << 3))
#define LZF_IDX(h) ((((h) >> (3 * 8 - LZF_HLOG)) - (h) * 5) & ((1u << LZF_HLOG) - 1))

static size_t lzf_squeeze(const unsigned char *in, size_t inlen, unsigned char *out, size_t cap)
{
    if (inlen < 3 || cap == 0)
        return 0;
    /* Positions + 1 (0: none), so that the zeroed table means empty. */
    uint32_t *htab = calloc((size_t)1 << LZF_HLOG, sizeof(*htab));
    STORE_ASSERT(htab != NULL);
    const unsigned char *ip = in, *end = in + inlen;
    unsigned char *op = out, *oend = out + cap;
    int lit = 0;
    op++; /* a literal run starts */
    unsigned hval = (unsigned)ip[0] << 8 | ip[1];
    size_t result = 0;
    while (ip < end - 2) {
        hval = hval << 8 | ip[2];
        uint32_t *slot = htab + LZF_IDX(hval);
        const unsigned char *ref = *slot ? in + *slot - 1 : NULL;
        *slot = (uint32_t)(ip - in) + 1;
        size_t off;
        if (ref && (off = (size_t)(ip - ref - 1)) < LZF_MAX_OFF && ref > in &&
            ref[2] == ip[2] && ref[0] == ip[0] && ref[1] == ip[1]) {
            size_t len = 2, maxlen = (size_t)(end - ip) - len;
            maxlen = maxlen > LZF_MAX_REF ? LZF_MAX_REF : maxlen;
            if (op + 3 + 1 >= oend && op - !lit + 3 + 1 >= oend)
                goto done;
            op[-lit - 1] = (unsigned char)(lit - 1); /* the run ends */
            op -= !lit;                              /* an empty one is taken back */
            do
                len++;
            while (len < maxlen && ref[len] == ip[len]);
            len -= 2; /* the match's length - 1 */
            ip++;
            if (len < 7) {
                *op++ = (unsigned char)((off >> 8) + (len << 5));
            } else {
                *op++ = (unsigned char)((off >> 8) + (7 << 5));
                *op++ = (unsigned char)(len - 7);
            }
            *op++ = (unsigned char)off;
            lit = 0;
            op++;
            ip += len + 1;
            if (ip >= end - 2)
                break;
            ip -= 2; /* the two positions before are hashed too */
            hval = (unsigned)ip[0] << 8 | ip[1];
            for (int k = 0; k < 2; k++) {
                hval = hval << 8 | ip[2];
                htab[LZF_IDX(hval)] = (uint32_t)(ip - in) + 1;
                ip++;
            }
        } else {
            if (op >= oend)
                goto done;
            lit++;
            *op++ = *ip++;
            if (lit == LZF_MAX_LIT) {
                op[-lit - 1] = (unsigned char)(lit - 1);
                lit = 0;
                op++;
            }
        }
    }
    if (op + 3 > oend)
        goto done;
    while (ip < end) {
        lit++;
        *op++ = *ip++;
        if (lit == LZF_MAX_LIT) {
            op[-lit - 1] = (unsigned char)(lit - 1);
            lit = 0;
            op++;
        }
    }
    op[-lit - 1] = (unsigned char)(lit - 1);
    op -= !lit;
    result = (size_t)(op - out);
done:
    free(htab);
    return result;
}

/* ------------------------------------------------------------------ reading */

/* A little-endian signed integer of 1 to 8 bytes. */
static int64_t le_int(const unsigned char *p, int bytes)
{
    uint64_t u = 0;
    for (int i = bytes - 1; i >= 0; i--)
        u = u << 8 | p[i];
    int shift = 64 - 8 * bytes;
    return (int64_t)(u << shift) >> shift; /* sign-extended */
}

struct rdb_rd {
    const unsigned char *p, *end;
    int bad;
};

static unsigned rd_u8(struct rdb_rd *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static const unsigned char *rd_bytes(struct rdb_rd *r, uint64_t n)
{
    if (r->bad || (uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    return p;
}

/* rdbLoadLen: *enc set to the encoding of an encoded string (the return is
 * then its RDB_ENC_*), -1 otherwise. */
static uint64_t rd_len(struct rdb_rd *r, int *enc)
{
    unsigned b = rd_u8(r);
    *enc = -1;
    switch (b >> 6) {
    case 0:
        return b & 0x3f;
    case 1:
        return ((uint64_t)(b & 0x3f) << 8) | rd_u8(r);
    case 2: {
        int n = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
        if (n == 0) {
            r->bad = 1;
            return 0;
        }
        const unsigned char *p = rd_bytes(r, (uint64_t)n);
        uint64_t v = 0;
        for (int i = 0; p && i < n; i++)
            v = v << 8 | p[i];
        return v;
    }
    default:
        *enc = (int)(b & 0x3f);
        return (uint64_t)*enc;
    }
}

/* A length where no encoded string can be (rdbLoadLen with no isencoded):
 * an encoding byte counts as its low six bits, as in Redis. */
static uint64_t rd_plain_len(struct rdb_rd *r)
{
    int enc;
    return rd_len(r, &enc);
}

/* A string (rdbGenericLoadStringObject) appended to out. */
static void rd_string(struct rdb_rd *r, struct resp_buf *out)
{
    int enc;
    uint64_t n = rd_len(r, &enc);
    if (r->bad)
        return;
    if (enc == -1) {
        const unsigned char *p = rd_bytes(r, n);
        if (p)
            resp_buf_append(out, p, (size_t)n);
        return;
    }
    if (enc == RDB_ENC_LZF) {
        uint64_t clen = rd_plain_len(r), ulen = rd_plain_len(r);
        const unsigned char *p = rd_bytes(r, clen);
        /* LZF makes at most 264 bytes of three: a length beyond that is a
         * lie, and no memory is taken for it. Redis takes a length of 0 as
         * the empty string, whatever the compressed bytes. */
        if (p == NULL || ulen > (uint64_t)STORE_PROTO_MAX_BULK_LEN || ulen > clen * 88) {
            r->bad = 1;
            return;
        }
        if (ulen == 0)
            return;
        resp_buf_reserve(out, (size_t)ulen);
        if (lzf_expand(p, (size_t)clen, (unsigned char *)out->data + out->len, (size_t)ulen) != 0)
            r->bad = 1;
        else
            out->len += (size_t)ulen;
        return;
    }
    int width = enc == RDB_ENC_INT8 ? 1 : enc == RDB_ENC_INT16 ? 2 : enc == RDB_ENC_INT32 ? 4 : 0;
    const unsigned char *p = width ? rd_bytes(r, (uint64_t)width) : NULL;
    if (p == NULL) {
        r->bad = 1;
        return;
    }
    char buf[32];
    int len = store_ll2string(buf, sizeof(buf), le_int(p, width));
    resp_buf_append(out, buf, (size_t)len);
}

/* ------------------------------------------------------------------ values */

/* A value read from a payload: its elements (a hash's as field, value,
 * ...) in a byte arena, a sorted set's scores beside them. */
struct rdb_val {
    int type; /* STORE_T_* */
    struct resp_buf arena;
    size_t *off, *len;
    double *score;
    long n, cap;
};

/* Indexes the element at [off, off + n) of the arena. */
static void val_push(struct rdb_val *v, size_t off, size_t n, double score)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->off = realloc(v->off, sizeof(*v->off) * (size_t)v->cap);
        v->len = realloc(v->len, sizeof(*v->len) * (size_t)v->cap);
        v->score = realloc(v->score, sizeof(*v->score) * (size_t)v->cap);
        STORE_ASSERT(v->off && v->len && v->score);
    }
    v->off[v->n] = off;
    v->len[v->n] = n;
    v->score[v->n] = score;
    v->n++;
}

static void val_add(struct rdb_val *v, const void *p, size_t n, double score)
{
    val_push(v, v->arena.len, n, score);
    resp_buf_append(&v->arena, p, n);
}

/* Reads a string element straight into the arena. */
static void val_read(struct rdb_val *v, struct rdb_rd *r, double score)
{
    size_t at = v->arena.len;
    rd_string(r, &v->arena);
    if (!r->bad)
        val_push(v, at, v->arena.len - at, score);
}

static void val_free(struct rdb_val *v)
{
    resp_buf_fini(&v->arena);
    free(v->off);
    free(v->len);
    free(v->score);
}

static const unsigned char *val_at(const struct rdb_val *v, long i)
{
    /* Empty elements alone leave the arena unallocated. */
    return v->arena.data ? (const unsigned char *)v->arena.data + v->off[i]
                         : (const unsigned char *)"";
}

/* A score kept as text in a listpack or ziplist, as Redis reads it
 * (zzlStrtod): strtod of at most 127 bytes, whatever follows the number
 * ignored, 0 where there is none. A NaN, which no sorted set can hold, is
 * refused. */
static int lp_score(const unsigned char *s, size_t n, double *d)
{
    char buf[128];
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    *d = strtod(buf, NULL);
    return isnan(*d) ? -1 : 0;
}

/* ------------------------------------------------------------------ blobs */

typedef int (*blob_cb)(void *arg, const unsigned char *s, size_t n);

static int blob_int(blob_cb cb, void *arg, int64_t v)
{
    char buf[32];
    int n = store_ll2string(buf, sizeof(buf), v);
    return cb(arg, (const unsigned char *)buf, (size_t)n);
}

static size_t lp_backlen_size(uint64_t l)
{
    return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

/* Each element of a listpack, as a string; -1 if it is malformed. */
static int lp_each(const unsigned char *lp, size_t size, blob_cb cb, void *arg)
{
    if (size < 7 || store_get_u32(lp) != size || lp[size - 1] != 0xff)
        return -1;
    unsigned count = (unsigned)lp[4] | (unsigned)lp[5] << 8, seen = 0;
    const unsigned char *p = lp + 6, *end = lp + size - 1;
    while (p < end) {
        unsigned b = p[0];
        uint64_t hdr, len = 0;
        int64_t iv = 0;
        int isint = 1;
        if (b < 0x80) {
            hdr = 1;
            iv = b;
        } else if ((b & 0xc0) == 0x80) {
            hdr = 1, len = b & 0x3f, isint = 0;
        } else if ((b & 0xe0) == 0xc0) {
            if (end - p < 2)
                return -1;
            hdr = 2;
            iv = (int64_t)(((uint64_t)(b & 0x1f) << 8) | p[1]);
            if (iv >= 4096)
                iv -= 8192;
        } else if ((b & 0xf0) == 0xe0) {
            if (end - p < 2)
                return -1;
            hdr = 2, len = ((uint64_t)(b & 0x0f) << 8) | p[1], isint = 0;
        } else if (b == 0xf0) {
            if (end - p < 5)
                return -1;
            hdr = 5, len = store_get_u32(p + 1), isint = 0;
        } else if (b >= 0xf1 && b <= 0xf4) {
            static const int width[] = {2, 3, 4, 8};
            int w = width[b - 0xf1];
            if (end - p < 1 + w)
                return -1;
            hdr = 1 + (uint64_t)w;
            iv = le_int(p + 1, w);
        } else {
            return -1;
        }
        uint64_t entry = hdr + len;
        if ((uint64_t)(end - p) < entry + lp_backlen_size(entry))
            return -1;
        /* The back length, read from its end as a reader going backwards
         * does (lpDecodeBacklen: on while a byte has its top bit, at most
         * five bytes, into the entry if they say so), must give the
         * entry's. */
        const unsigned char *bl = p + entry + lp_backlen_size(entry) - 1;
        uint64_t back = 0;
        for (int shift = 0;; shift += 7, bl--) {
            back |= (uint64_t)(*bl & 127) << shift;
            if (!(*bl & 128))
                break;
            if (shift == 28 || bl == lp)
                return -1;
        }
        if (back != entry)
            return -1;
        int rc = isint ? blob_int(cb, arg, iv) : cb(arg, p + hdr, (size_t)len);
        if (rc != 0)
            return -1;
        p += entry + lp_backlen_size(entry);
        seen++;
    }
    return p == end && (count == 65535 || count == seen) ? 0 : -1;
}

/* Each element of a ziplist (Redis 6's small encodings), as a string. */
static int zl_each(const unsigned char *zl, size_t size, blob_cb cb, void *arg)
{
    if (size < 11 || store_get_u32(zl) != size || zl[size - 1] != 0xff)
        return -1;
    unsigned count = (unsigned)zl[8] | (unsigned)zl[9] << 8, seen = 0;
    const unsigned char *p = zl + 10, *end = zl + size - 1, *last = p;
    size_t prev = 0;
    while (p < end) {
        last = p;
        size_t plen = p[0] < 254 ? 1 : 5;
        if ((size_t)(end - p) < plen + 1)
            return -1;
        size_t pv = p[0] < 254 ? p[0] : store_get_u32(p + 1);
        if (pv != prev)
            return -1;
        const unsigned char *e = p + plen;
        unsigned b = e[0];
        size_t hdr = 1, len = 0;
        int64_t iv = 0;
        int isint = 1;
        switch (b >> 6) {
        case 0:
            len = b & 0x3f, isint = 0;
            break;
        case 1:
            if (end - e < 2)
                return -1;
            hdr = 2, len = (size_t)(b & 0x3f) << 8 | e[1], isint = 0;
            break;
        case 2:
            if (b != 0x80 || end - e < 5)
                return -1;
            hdr = 5, isint = 0;
            len = (size_t)e[1] << 24 | (size_t)e[2] << 16 | (size_t)e[3] << 8 | e[4];
            break;
        default: {
            int w = b == 0xc0   ? 2
                    : b == 0xd0 ? 4
                    : b == 0xe0 ? 8
                    : b == 0xf0 ? 3
                    : b == 0xfe ? 1
                                : 0;
            if (w) {
                if (end - e < 1 + w)
                    return -1;
                len = (size_t)w;
                iv = le_int(e + 1, w);
            } else if (b >= 0xf1 && b <= 0xfd) {
                iv = (int64_t)(b & 0x0f) - 1;
            } else {
                return -1;
            }
        }
        }
        if ((size_t)(end - e) < hdr + len)
            return -1;
        int rc = isint ? blob_int(cb, arg, iv) : cb(arg, e + hdr, len);
        if (rc != 0)
            return -1;
        prev = plen + hdr + len;
        p = e + hdr + len;
        seen++;
    }
    /* The header's offset of the last entry must be right. */
    return p == end && store_get_u32(zl + 4) == (size_t)(last - zl) &&
                   (count == 65535 || count == seen)
               ? 0
               : -1;
}

/* Each member of an intset, as a string: strictly increasing. */
static int is_each(const unsigned char *is, size_t size, blob_cb cb, void *arg)
{
    if (size < 8)
        return -1;
    uint32_t w = store_get_u32(is), n = store_get_u32(is + 4);
    if ((w != 2 && w != 4 && w != 8) || n == 0 || (size - 8) / w != n || (size - 8) % w)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        int64_t v = le_int(is + 8 + (size_t)i * w, (int)w);
        if ((i > 0 && v <= le_int(is + 8 + (size_t)(i - 1) * w, (int)w)) ||
            blob_int(cb, arg, v) != 0)
            return -1;
    }
    return 0;
}

/* Each field and value of a zipmap (Redis 2's small hashes). */
static int zm_each(const unsigned char *zm, size_t size, blob_cb cb, void *arg)
{
    const unsigned char *p = zm + 1, *end = zm + size;
    if (size < 2)
        return -1;
    unsigned pairs = 0;
    for (int field = 1;; field = !field) {
        if (p >= end)
            return -1;
        if (*p == 255) /* the count in the header, when it is below 254 */
            return field && p + 1 == end && (zm[0] >= 254 || zm[0] == pairs) ? 0 : -1;
        pairs += !field;
        size_t len = *p, hdr = 1;
        if (len == 254) {
            if (end - p < 5)
                return -1;
            len = store_get_u32(p + 1), hdr = 5;
        }
        size_t free_bytes = field ? 0 : 1;
        if ((size_t)(end - p) < hdr + free_bytes + len)
            return -1;
        if (cb(arg, p + hdr + free_bytes, len) != 0)
            return -1;
        p += hdr + free_bytes + len + (field ? 0 : p[hdr]);
    }
}

/* ------------------------------------------------------------------ loading */

/* Blob elements into a value; a sorted set's come member, score, .... */
struct blob_to_val {
    struct rdb_val *v;
    int zset;
    int want_score;
};

static int blob_to_val_cb(void *arg, const unsigned char *s, size_t n)
{
    struct blob_to_val *b = arg;
    if (b->zset && b->want_score) {
        double d;
        if (lp_score(s, n, &d) != 0)
            return -1;
        b->v->score[b->v->n - 1] = d;
    } else {
        val_add(b->v, s, n, 0);
    }
    if (b->zset)
        b->want_score = !b->want_score;
    return 0;
}

/* Reads a string holding a blob and walks it into v. */
static int rd_blob(struct rdb_rd *r, struct rdb_val *v, int zset,
                   int (*each)(const unsigned char *, size_t, blob_cb, void *))
{
    struct resp_buf blob;
    resp_buf_init(&blob);
    rd_string(r, &blob);
    struct blob_to_val b = {v, zset, 0};
    /* No encoding is empty: an empty blob is never walked. */
    int rc = r->bad || blob.len == 0 ||
                     each((const unsigned char *)blob.data, blob.len, blob_to_val_cb, &b) != 0 ||
                     b.want_score
                 ? -1
                 : 0;
    resp_buf_fini(&blob);
    return rc;
}

/* rdbLoadDoubleValue: a length byte, then text (253 nan, 254 inf, 255
 * -inf) that Redis reads with sscanf's %lg: leading blanks skipped, what
 * follows the number ignored, no number at all an error. */
static double rd_text_double(struct rdb_rd *r)
{
    unsigned n = rd_u8(r);
    if (n == 253)
        return NAN;
    if (n == 254)
        return INFINITY;
    if (n == 255)
        return -INFINITY;
    const unsigned char *p = rd_bytes(r, n);
    char buf[256];
    double d = 0;
    if (p) {
        memcpy(buf, p, n);
        buf[n] = 0;
    }
    if (p == NULL || sscanf(buf, "%lg", &d) != 1)
        r->bad = 1;
    return d;
}

static double rd_binary_double(struct rdb_rd *r)
{
    const unsigned char *p = rd_bytes(r, 8);
    double d = 0;
    if (p) {
        uint64_t u = store_get_u64(p);
        memcpy(&d, &u, 8);
    }
    return d;
}

static int cmp_elems(const void *a, const void *b, void *arg)
{
    const struct rdb_val *v = arg;
    long i = *(const long *)a, j = *(const long *)b;
    size_t n = v->len[i] < v->len[j] ? v->len[i] : v->len[j];
    int c = memcmp(val_at(v, i), val_at(v, j), n);
    return c ? c : v->len[i] < v->len[j] ? -1 : v->len[i] > v->len[j];
}

/* Whether the members (every step-th element) are distinct. */
static int val_distinct(const struct rdb_val *v, int step)
{
    long n = v->n / step;
    long *idx = malloc(sizeof(*idx) * (size_t)(n + 1));
    STORE_ASSERT(idx != NULL);
    for (long i = 0; i < n; i++)
        idx[i] = i * step;
    qsort_r(idx, (size_t)n, sizeof(*idx), cmp_elems, (void *)v);
    int ok = 1;
    for (long i = 1; i < n && ok; i++)
        ok = cmp_elems(&idx[i - 1], &idx[i], (void *)v) != 0;
    free(idx);
    return ok;
}

enum { LOAD_OK, LOAD_BAD, LOAD_STREAM, LOAD_MODULE };

/* rdbLoadObject: the value of type `type` into v. */
static int rdb_load(struct rdb_rd *r, int type, struct rdb_val *v)
{
    int zset = 0;
    switch (type) {
    case RDB_TYPE_STRING:
        v->type = STORE_T_STRING;
        val_read(v, r, 0);
        return r->bad ? LOAD_BAD : LOAD_OK;
    case RDB_TYPE_LIST:
    case RDB_TYPE_SET:
    case RDB_TYPE_HASH: {
        v->type = type == RDB_TYPE_LIST ? STORE_T_LIST : type == RDB_TYPE_SET ? STORE_T_SET
                                                                              : STORE_T_HASH;
        uint64_t n = rd_plain_len(r) * (type == RDB_TYPE_HASH ? 2 : 1);
        for (uint64_t i = 0; i < n && !r->bad; i++)
            val_read(v, r, 0);
        break;
    }
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2: {
        v->type = STORE_T_ZSET;
        uint64_t n = rd_plain_len(r);
        for (uint64_t i = 0; i < n && !r->bad; i++) {
            val_read(v, r, 0);
            double d = type == RDB_TYPE_ZSET ? rd_text_double(r) : rd_binary_double(r);
            if (isnan(d))
                r->bad = 1;
            else if (!r->bad)
                v->score[v->n - 1] = d;
        }
        zset = 1;
        break;
    }
    case RDB_TYPE_LIST_QUICKLIST:
    case RDB_TYPE_LIST_QUICKLIST_2: {
        v->type = STORE_T_LIST;
        uint64_t nodes = rd_plain_len(r);
        for (uint64_t i = 0; i < nodes && !r->bad; i++) {
            unsigned container = QUICKLIST_NODE_PACKED;
            if (type == RDB_TYPE_LIST_QUICKLIST_2)
                container = (unsigned)rd_plain_len(r);
            if (container == QUICKLIST_NODE_PLAIN)
                val_read(v, r, 0);
            else if (container != QUICKLIST_NODE_PACKED ||
                     rd_blob(r, v, 0, type == RDB_TYPE_LIST_QUICKLIST ? zl_each : lp_each) != 0)
                r->bad = 1;
        }
        break;
    }
    case RDB_TYPE_LIST_ZIPLIST:
        v->type = STORE_T_LIST;
        if (rd_blob(r, v, 0, zl_each) != 0)
            r->bad = 1;
        break;
    case RDB_TYPE_SET_INTSET:
        v->type = STORE_T_SET;
        if (rd_blob(r, v, 0, is_each) != 0)
            r->bad = 1;
        break;
    case RDB_TYPE_ZSET_ZIPLIST:
    case RDB_TYPE_ZSET_LISTPACK:
        v->type = STORE_T_ZSET;
        zset = 1;
        if (rd_blob(r, v, 1, type == RDB_TYPE_ZSET_ZIPLIST ? zl_each : lp_each) != 0)
            r->bad = 1;
        break;
    case RDB_TYPE_HASH_ZIPMAP:
    case RDB_TYPE_HASH_ZIPLIST:
    case RDB_TYPE_HASH_LISTPACK:
        v->type = STORE_T_HASH;
        if (rd_blob(r, v, 0, type == RDB_TYPE_HASH_ZIPMAP   ? zm_each
                             : type == RDB_TYPE_HASH_ZIPLIST ? zl_each
                                                             : lp_each) != 0 ||
            v->n % 2)
            r->bad = 1;
        break;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
        return LOAD_STREAM;
    case RDB_TYPE_MODULE:
    case RDB_TYPE_MODULE_2:
        return LOAD_MODULE;
    default:
        return LOAD_BAD;
    }
    if (r->bad || v->n == 0)
        return LOAD_BAD; /* Redis loads no empty collection */
    if ((v->type == STORE_T_SET || v->type == STORE_T_HASH || zset) &&
        !val_distinct(v, v->type == STORE_T_HASH ? 2 : 1))
        return LOAD_BAD;
    return LOAD_OK;
}

/* verifyDumpPayload, then the value. */
static int rdb_parse(const unsigned char *p, size_t len, struct rdb_val *v, int *checksum_ok)
{
    *checksum_ok = 0;
    if (len < 10)
        return LOAD_BAD;
    const unsigned char *footer = p + len - 10;
    unsigned version = (unsigned)footer[0] | (unsigned)footer[1] << 8;
    if (version > RDB_VERSION || store_crc64(0, p, len - 8) != store_get_u64(footer + 2))
        return LOAD_BAD;
    *checksum_ok = 1;
    /* Redis reads the value from the whole payload: a value that runs into
     * the version and checksum reads them as its own, and what follows a
     * value is never looked at. So does this, so that both take the same
     * payloads. */
    struct rdb_rd r = {p, p + len, 0};
    int type = (int)rd_u8(&r);
    return r.bad ? LOAD_BAD : rdb_load(&r, type, v);
}

int store_dump_payload_check(const void *payload, size_t len)
{
    struct rdb_val v = {0};
    int ok;
    int rc = rdb_parse(payload, len, &v, &ok);
    val_free(&v);
    return !ok ? -2 : rc == LOAD_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ RESTORE */

static void restore_write(struct store_ctx *c, const char *key, size_t klen,
                          const struct rdb_val *v)
{
    if (v->type == STORE_T_STRING) {
        store_db_put(c, key, klen, STORE_T_STRING, 0, val_at(v, 0), v->len[0]);
        return;
    }
    const unsigned char **e = malloc(sizeof(*e) * (size_t)(v->n + 1));
    STORE_ASSERT(e != NULL);
    for (long i = 0; i < v->n; i++)
        e[i] = val_at(v, i);
    if (v->type == STORE_T_LIST) {
        store_list_write(c, key, klen, e, v->len, v->n);
        store_db_ready(c, key, klen);
    } else if (v->type == STORE_T_ZSET) {
        store_zset_write(c, key, klen, e, v->len, v->score, v->n);
    } else {
        int hash = v->type == STORE_T_HASH;
        for (long i = 0; i < v->n; i += hash ? 2 : 1)
            store_m_put(c, key, klen, e[i], v->len[i], hash ? e[i + 1] : (const unsigned char *)"",
                        hash ? v->len[i + 1] : 0);
        coll_set_count(c, key, klen, v->type, 0, NULL, hash ? v->n / 2 : v->n);
    }
    free(e);
}

/* RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
 * [FREQ frequency] (restoreCommand, its checks in its order). IDLETIME and
 * FREQ are checked and kept nowhere: nothing is evicted. */
STORE_DECL(restore)
{
    int replace = 0, absttl = 0, idle = 0, freq = 0;
    for (int j = 4; j < argc; j++) {
        int additional = argc - j - 1;
        long long n;
        if (store_strcasecmp_arg(argv[j], len[j], "replace")) {
            replace = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "absttl")) {
            absttl = 1;
        } else if (store_strcasecmp_arg(argv[j], len[j], "idletime") && additional >= 1 &&
                   !freq) {
            if (!resp_string2ll(argv[j + 1], len[j + 1], &n)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (n < 0) {
                resp_add_error(c->out, "ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
            idle = 1;
            j++;
        } else if (store_strcasecmp_arg(argv[j], len[j], "freq") && additional >= 1 && !idle) {
            if (!resp_string2ll(argv[j + 1], len[j + 1], &n)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (n < 0 || n > 255) {
                resp_add_error(c->out, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            freq = 1;
            j++;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    struct store_rec r;
    if (!replace && store_db_lookup(c, argv[1], len[1], &r)) {
        resp_add_error(c->out, "BUSYKEY Target key name already exists.");
        return;
    }
    long long ttl;
    if (!resp_string2ll(argv[2], len[2], &ttl)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (ttl < 0) {
        resp_add_error(c->out, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    struct rdb_val v = {0};
    int checksum_ok;
    int rc = rdb_parse((const unsigned char *)argv[3], len[3], &v, &checksum_ok);
    if (!checksum_ok) {
        resp_add_error(c->out, "ERR DUMP payload version or checksum are wrong");
    } else if (rc == LOAD_STREAM) {
        resp_add_error(c->out, "ERR ferry: streams are not supported while reads/writes are "
                               "served by the raft group");
    } else if (rc != LOAD_OK) {
        resp_add_error(c->out, "ERR Bad data format");
    } else {
        int deleted = replace && store_db_replace(c, argv[1], len[1], 1);
        if (ttl && !absttl)
            ttl = ttl > INT64_MAX - (long long)c->now ? INT64_MAX : ttl + (long long)c->now;
        if (ttl && ttl <= (long long)c->now) {
            if (deleted)
                store_notify(c, STORE_EV_GENERIC, "del", argv[1], len[1]);
        } else {
            restore_write(c, argv[1], len[1], &v);
            if (ttl && store_db_lookup(c, argv[1], len[1], &r))
                store_db_set_expire(c, argv[1], len[1], &r, ttl);
            store_notify(c, STORE_EV_GENERIC, "restore", argv[1], len[1]);
        }
        resp_add_simple(c->out, "OK");
    }
    val_free(&v);
}

/* ------------------------------------------------------------------ DUMP */

/* Redis 7.0's d2string: how a listpack keeps a sorted set's score. */
static int dump_d2string(char *buf, size_t len, double v)
{
    if (isinf(v))
        return snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    if (v == 0)
        return snprintf(buf, len, "%s", signbit(v) ? "-0" : "0");
    if (v > -4503599627370495.0 && v < 4503599627370496.0 && v == (double)(long long)v)
        return store_ll2string(buf, len, (long long)v);
    return snprintf(buf, len, "%.17g", v);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void wr_len(struct resp_buf *b, uint64_t n)
{
    unsigned char h[9];
    if (n < 64) {
        h[0] = (unsigned char)n;
        resp_buf_append(b, h, 1);
    } else if (n < 16384) {
        h[0] = (unsigned char)(0x40 | n >> 8);
        h[1] = (unsigned char)n;
        resp_buf_append(b, h, 2);
    } else if (n <= UINT32_MAX) {
        h[0] = 0x80;
        store_put_be32(h + 1, (uint32_t)n);
        resp_buf_append(b, h, 5);
    } else {
        h[0] = 0x81;
        store_put_be64(h + 1, n);
        resp_buf_append(b, h, 9);
    }
}

/* The integer a string spells in Redis's canonical form (string2ll, and
 * printed back the same); 0 when it is not one. */
static int canonical_int(const unsigned char *s, size_t n, long long *v)
{
    char buf[32];
    return n > 0 && n <= 20 && resp_string2ll((const char *)s, n, v) &&
           store_ll2string(buf, sizeof(buf), *v) == (int)n && memcmp(buf, s, n) == 0;
}

/* rdbSaveRawString: a short integer as one, a string over 20 bytes that
 * LZF shrinks by more than 4 compressed, else the bytes. */
static void wr_string(struct resp_buf *b, const void *s, size_t n)
{
    long long v;
    if (n <= 11 && canonical_int(s, n, &v) && v >= INT32_MIN && v <= INT32_MAX) {
        unsigned char h[5];
        int w = v >= -128 && v <= 127 ? 1 : v >= -32768 && v <= 32767 ? 2 : 4;
        h[0] = (unsigned char)(0xc0 | (w == 1 ? RDB_ENC_INT8 : w == 2 ? RDB_ENC_INT16
                                                                        : RDB_ENC_INT32));
        for (int i = 0; i < w; i++)
            h[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        resp_buf_append(b, h, (size_t)(1 + w));
        return;
    }
    if (n > 20) {
        unsigned char *z = malloc(n - 4);
        STORE_ASSERT(z != NULL);
        size_t zn = lzf_squeeze(s, n, z, n - 4);
        if (zn > 0) {
            unsigned char h = 0xc0 | RDB_ENC_LZF;
            resp_buf_append(b, &h, 1);
            wr_len(b, zn);
            wr_len(b, n);
            resp_buf_append(b, z, zn);
        }
        free(z);
        if (zn > 0)
            return;
    }
    wr_len(b, n);
    resp_buf_append(b, s, n);
}

/* A listpack being built: header, then entries, then 0xff. */
static void lp_begin(struct resp_buf *lp)
{
    resp_buf_reset(lp);
    resp_buf_append(lp, "\0\0\0\0\0\0", 6);
}

static void lp_add(struct resp_buf *lp, const unsigned char *s, size_t n)
{
    unsigned char e[16];
    size_t hdr;
    long long v;
    int isint = canonical_int(s, n, &v);
    if (isint && v >= 0 && v <= 127) {
        e[0] = (unsigned char)v, hdr = 1;
    } else if (isint && v >= -4096 && v <= 4095) {
        uint64_t u = (uint64_t)v & 0x1fff;
        e[0] = (unsigned char)(0xc0 | u >> 8), e[1] = (unsigned char)u, hdr = 2;
    } else if (isint) {
        int w = v >= -32768 && v <= 32767       ? 2
                : v >= -8388608 && v <= 8388607 ? 3
                : v >= INT32_MIN && v <= INT32_MAX ? 4
                                                   : 8;
        e[0] = (unsigned char)(w == 2 ? 0xf1 : w == 3 ? 0xf2 : w == 4 ? 0xf3 : 0xf4);
        for (int i = 0; i < w; i++)
            e[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        hdr = (size_t)(1 + w);
    } else if (n < 64) {
        e[0] = (unsigned char)(0x80 | n), hdr = 1;
    } else if (n < 4096) {
        e[0] = (unsigned char)(0xe0 | n >> 8), e[1] = (unsigned char)n, hdr = 2;
    } else {
        e[0] = 0xf0;
        store_put_u32(e + 1, (uint32_t)n);
        hdr = 5;
    }
    uint64_t entry = hdr + (isint ? 0 : n);
    resp_buf_append(lp, e, hdr);
    if (!isint)
        resp_buf_append(lp, s, n);
    /* The back length: its highest 7 bits first, each byte but the first
     * with the top bit set. */
    size_t bl = lp_backlen_size(entry);
    for (size_t i = 0; i < bl; i++) {
        unsigned char x = (unsigned char)((entry >> (7 * (bl - 1 - i))) & 127);
        if (i > 0)
            x |= 128;
        resp_buf_append(lp, &x, 1);
    }
    const unsigned char *h = (const unsigned char *)lp->data;
    unsigned count = (unsigned)h[4] | (unsigned)h[5] << 8;
    if (count < 65535)
        count++;
    lp->data[4] = (char)(count & 0xff);
    lp->data[5] = (char)(count >> 8);
}

static void lp_end(struct resp_buf *lp)
{
    resp_buf_append(lp, "\xff", 1);
    store_put_u32((unsigned char *)lp->data, (uint32_t)lp->len);
}

/* The walks that collect a value's elements into an rdb_val (arg). */
static int dump_elem_cb(void *arg, const unsigned char *e, size_t n)
{
    val_add(arg, e, n, 0);
    return 0;
}

static int dump_member_cb(void *arg, const unsigned char *sub, size_t sublen,
                          const unsigned char *val, size_t vlen)
{
    struct rdb_val *v = arg;
    val_add(v, sub, sublen, 0);
    if (v->type == STORE_T_HASH)
        val_add(v, val, vlen, 0);
    return 0;
}

static int dump_score_cb(void *arg, const unsigned char *m, size_t ml, double score)
{
    val_add(arg, m, ml, score);
    return 0;
}

/* The value of key (record r) as Redis would serialize it, into out. */
static void dump_value(struct store_ctx *c, const char *key, size_t klen,
                       const struct store_rec *r, struct resp_buf *out)
{
    if (r->type == STORE_T_STRING) {
        resp_buf_append(out, "\0", 1);
        wr_string(out, r->payload, r->plen);
        return;
    }
    int skiplist = r->type == STORE_T_ZSET && store_zset_is_skiplist(r);
    struct rdb_val val = {.type = r->type}, *v = &val;
    if (r->type == STORE_T_LIST)
        store_list_walk(c, key, klen, r, 0, 0, dump_elem_cb, v);
    else if (r->type == STORE_T_ZSET)
        store_zset_walk_scores(c, key, klen, -INFINITY, dump_score_cb, v);
    else
        store_m_iter(c, key, klen, NULL, 0, 0, dump_member_cb, v);
    size_t maxlen = 0;
    int ints = 1;
    for (long i = 0; i < v->n; i++) {
        long long x;
        if (v->len[i] > maxlen)
            maxlen = v->len[i];
        if (ints && !canonical_int(val_at(v, i), v->len[i], &x))
            ints = 0;
    }
    struct resp_buf lp;
    resp_buf_init(&lp);
    unsigned char type;
    if (r->type == STORE_T_LIST) {
        type = RDB_TYPE_LIST_QUICKLIST_2;
        resp_buf_append(out, &type, 1);
        /* Nodes of up to 8 kB, as list-max-listpack-size -2 fills them
         * (_quicklistNodeAllowInsert: the node's size, the element's length
         * and 8 more within the limit). */
        struct resp_buf nodes;
        resp_buf_init(&nodes);
        long nnodes = 0;
        for (long i = 0; i < v->n;) {
            lp_begin(&lp);
            do
                lp_add(&lp, val_at(v, i), v->len[i]);
            while (++i < v->n && lp.len + 1 + v->len[i] + 8 <= DUMP_LIST_NODE_BYTES);
            lp_end(&lp);
            wr_len(&nodes, QUICKLIST_NODE_PACKED);
            wr_string(&nodes, lp.data, lp.len);
            nnodes++;
        }
        wr_len(out, (uint64_t)nnodes);
        resp_buf_append(out, nodes.data, nodes.len);
        resp_buf_fini(&nodes);
    } else if (r->type == STORE_T_SET && ints && v->n <= DUMP_INTSET_ENTRIES) {
        type = RDB_TYPE_SET_INTSET;
        resp_buf_append(out, &type, 1);
        long long *x = malloc(sizeof(*x) * (size_t)(v->n + 1));
        STORE_ASSERT(x != NULL);
        int w8 = 2;
        for (long i = 0; i < v->n; i++) {
            canonical_int(val_at(v, i), v->len[i], &x[i]);
            if (x[i] < INT16_MIN || x[i] > INT16_MAX)
                w8 = w8 < 4 ? 4 : w8;
            if (x[i] < INT32_MIN || x[i] > INT32_MAX)
                w8 = 8;
        }
        qsort(x, (size_t)v->n, sizeof(*x), cmp_ll);
        resp_buf_reset(&lp);
        unsigned char h[8];
        store_put_u32(h, (uint32_t)w8);
        store_put_u32(h + 4, (uint32_t)v->n);
        resp_buf_append(&lp, h, 8);
        for (long i = 0; i < v->n; i++) {
            store_put_u64(h, (uint64_t)x[i]);
            resp_buf_append(&lp, h, (size_t)w8);
        }
        free(x);
        wr_string(out, lp.data, lp.len);
    } else if (r->type == STORE_T_SET) {
        type = RDB_TYPE_SET;
        resp_buf_append(out, &type, 1);
        wr_len(out, (uint64_t)v->n);
        for (long i = 0; i < v->n; i++)
            wr_string(out, val_at(v, i), v->len[i]);
    } else if (!skiplist && (r->type == STORE_T_HASH ? v->n / 2 : v->n) <= DUMP_LISTPACK_ENTRIES &&
               maxlen <= DUMP_LISTPACK_VALUE) {
        type = r->type == STORE_T_HASH ? RDB_TYPE_HASH_LISTPACK : RDB_TYPE_ZSET_LISTPACK;
        resp_buf_append(out, &type, 1);
        lp_begin(&lp);
        for (long i = 0; i < v->n; i++) {
            lp_add(&lp, val_at(v, i), v->len[i]);
            if (r->type == STORE_T_ZSET) {
                char sbuf[64];
                int n = dump_d2string(sbuf, sizeof(sbuf), v->score[i]);
                lp_add(&lp, (const unsigned char *)sbuf, (size_t)n);
            }
        }
        lp_end(&lp);
        wr_string(out, lp.data, lp.len);
    } else if (r->type == STORE_T_HASH) {
        type = RDB_TYPE_HASH;
        resp_buf_append(out, &type, 1);
        wr_len(out, (uint64_t)v->n / 2);
        for (long i = 0; i < v->n; i++)
            wr_string(out, val_at(v, i), v->len[i]);
    } else {
        /* A skiplist's, from the highest score down, as Redis walks it. */
        type = RDB_TYPE_ZSET_2;
        resp_buf_append(out, &type, 1);
        wr_len(out, (uint64_t)v->n);
        for (long i = v->n - 1; i >= 0; i--) {
            wr_string(out, val_at(v, i), v->len[i]);
            uint64_t u;
            memcpy(&u, &v->score[i], 8);
            unsigned char d[8];
            store_put_u64(d, u);
            resp_buf_append(out, d, 8);
        }
    }
    resp_buf_fini(&lp);
    val_free(v);
}

STORE_DECL(dump)
{
    (void)argc;
    struct store_rec r;
    if (!store_db_lookup(c, argv[1], len[1], &r)) {
        resp_add_null(c->out);
        return;
    }
    struct resp_buf p;
    resp_buf_init(&p);
    dump_value(c, argv[1], len[1], &r, &p);
    unsigned char footer[10];
    footer[0] = RDB_VERSION & 0xff;
    footer[1] = RDB_VERSION >> 8;
    resp_buf_append(&p, footer, 2);
    store_put_u64(footer, store_crc64(0, p.data, p.len));
    resp_buf_append(&p, footer, 8);
    resp_add_bulk(c->out, p.data, p.len);
    resp_buf_fini(&p);
}
