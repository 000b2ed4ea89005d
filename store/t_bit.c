/* Bitmaps (Redis bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP and
 * BITFIELD on string values. Bit 0 is the most significant bit of the first byte. */
#include "store/store_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* SETBIT and GETBIT's offset: a bit index whose byte fits in a string. */
static int bit_offset(struct store_ctx *c, const char *s, size_t len, uint64_t *offset)
{
    long long v;
    if (!resp_string2ll(s, len, &v) || v < 0 || (v >> 3) >= STORE_PROTO_MAX_BULK_LEN) {
        resp_add_error(c->out, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    *offset = (uint64_t)v;
    return 0;
}

static int bit_get(const unsigned char *p, size_t plen, uint64_t bit)
{
    uint64_t byte = bit >> 3;
    return byte < plen && (p[byte] >> (7 - (bit & 7))) & 1;
}

STORE_DECL(setbit)
{
    (void)argc;
    uint64_t offset;
    if (bit_offset(c, argv[2], len[2], &offset) != 0)
        return;
    long long on;
    if (!resp_string2ll(argv[3], len[3], &on) || (on & ~1)) {
        resp_add_error(c->out, "ERR bit is not an integer or out of range");
        return;
    }
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    size_t plen = rc ? r.plen : 0;
    int old = rc ? bit_get(r.payload, plen, offset) : 0;
    size_t byte = (size_t)(offset >> 3);
    /* As Redis: the key is written when it is created, grows, or the bit
     * changes; otherwise it is left alone (a WATCH on it holds). */
    if (rc == 0 || byte >= plen || old != on) {
        size_t n = byte >= plen ? byte + 1 : plen;
        unsigned char *buf = calloc(1, n);
        STORE_ASSERT(buf != NULL);
        if (plen)
            memcpy(buf, r.payload, plen);
        unsigned char mask = (unsigned char)(1u << (7 - (offset & 7)));
        buf[byte] = on ? buf[byte] | mask : buf[byte] & ~mask;
        if (rc)
            store_db_put_keep(c, argv[1], len[1], &r, buf, n);
        else
            store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, buf, n);
        free(buf);
        store_notify(c, STORE_EV_STRING, "setbit", argv[1], len[1]);
    }
    resp_add_int(c->out, old);
}

STORE_DECL(getbit)
{
    (void)argc;
    uint64_t offset;
    if (bit_offset(c, argv[2], len[2], &offset) != 0)
        return;
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    resp_add_int(c->out, rc ? bit_get(r.payload, r.plen, offset) : 0);
}

/* BITCOUNT and BITPOS's range, [start, end] in bytes or (with BIT) bits of
 * a string of plen bytes, made absolute and clipped as Redis does; *first
 * and *last are the bits it spans. Returns 0 when the range is empty. */
static int bit_range(long long start, long long end, int isbit, size_t plen, long long *first,
                     long long *last)
{
    long long total = isbit ? (long long)plen * 8 : (long long)plen;
    if (start < 0)
        start += total;
    if (end < 0)
        end += total;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= total)
        end = total - 1;
    if (start > end)
        return 0;
    *first = isbit ? start : start * 8;
    *last = isbit ? end : end * 8 + 7;
    return 1;
}

/* BYTE or BIT at argv[i]: 0, 1, or -1 after a syntax error. */
static int bit_unit(struct store_ctx *c, const char *s, size_t len)
{
    if (store_strcasecmp_arg(s, len, "bit"))
        return 1;
    if (store_strcasecmp_arg(s, len, "byte"))
        return 0;
    resp_add_error(c->out, STORE_ESYNTAX);
    return -1;
}

STORE_DECL(bitcount)
{
    /* Redis looks the key up before it reads the range. */
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) {
        resp_add_int(c->out, 0);
        return;
    }
    long long start = 0, end = -1;
    int isbit = 0;
    if (argc == 4 || argc == 5) {
        if (!resp_string2ll(argv[2], len[2], &start) || !resp_string2ll(argv[3], len[3], &end)) {
            resp_add_error(c->out, STORE_ENOTINT);
            return;
        }
        if (start < 0 && end < 0 && start > end) { /* before BIT or BYTE, as Redis */
            resp_add_int(c->out, 0);
            return;
        }
        if (argc == 5 && (isbit = bit_unit(c, argv[4], len[4])) < 0)
            return;
    } else if (argc != 2) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    long long first, last, count = 0;
    if (bit_range(start, end, isbit, r.plen, &first, &last)) {
        const unsigned char *p = r.payload;
        long long b = first;
        for (; b <= last && (b & 7); b++)
            count += bit_get(p, r.plen, (uint64_t)b);
        for (; b + 7 <= last; b += 8)
            count += __builtin_popcount(p[b >> 3]);
        for (; b <= last; b++)
            count += bit_get(p, r.plen, (uint64_t)b);
    }
    resp_add_int(c->out, count);
}

STORE_DECL(bitpos)
{
    long long bit;
    if (!resp_string2ll(argv[2], len[2], &bit)) {
        resp_add_error(c->out, STORE_ENOTINT);
        return;
    }
    if (bit != 0 && bit != 1) {
        resp_add_error(c->out, "ERR The bit argument must be 1 or 0.");
        return;
    }
    struct store_rec r;
    int rc = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0)
        return;
    if (rc == 0) { /* an endless run of zeros */
        resp_add_int(c->out, bit ? -1 : 0);
        return;
    }
    long long start = 0, end = -1;
    int isbit = 0, end_given = argc >= 5;
    if (argc >= 4 && argc <= 6) {
        if (!resp_string2ll(argv[3], len[3], &start)) {
            resp_add_error(c->out, STORE_ENOTINT);
            return;
        }
        if (argc == 6 && (isbit = bit_unit(c, argv[5], len[5])) < 0)
            return;
        if (end_given && !resp_string2ll(argv[4], len[4], &end)) {
            resp_add_error(c->out, STORE_ENOTINT);
            return;
        }
    } else if (argc != 3) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    long long first, last;
    if (!bit_range(start, end, isbit, r.plen, &first, &last)) {
        resp_add_int(c->out, -1); /* an empty range holds neither */
        return;
    }
    const unsigned char *p = r.payload;
    unsigned char skip = bit ? 0x00 : 0xff; /* whole bytes without the bit sought */
    for (long long b = first; b <= last;) {
        if (!(b & 7) && b + 7 <= last && p[b >> 3] == skip) {
            b += 8;
            continue;
        }
        if (bit_get(p, r.plen, (uint64_t)b) == bit) {
            resp_add_int(c->out, b);
            return;
        }
        b++;
    }
    /* No clear bit in the range: without an end, the zeros that pad the
     * string on the right count, as in Redis. */
    resp_add_int(c->out, bit == 0 && !end_given ? last + 1 : -1);
}

STORE_DECL(bitop)
{
    enum { OP_AND, OP_OR, OP_XOR, OP_NOT } op;
    if (store_strcasecmp_arg(argv[1], len[1], "and"))
        op = OP_AND;
    else if (store_strcasecmp_arg(argv[1], len[1], "or"))
        op = OP_OR;
    else if (store_strcasecmp_arg(argv[1], len[1], "xor"))
        op = OP_XOR;
    else if (store_strcasecmp_arg(argv[1], len[1], "not"))
        op = OP_NOT;
    else {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    if (op == OP_NOT && argc != 4) {
        resp_add_error(c->out, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    int nsrc = argc - 3;
    struct bit_src {
        unsigned char *p; /* copied: the payloads move when dst is written */
        size_t n;
    } *src = calloc((size_t)nsrc, sizeof(*src));
    STORE_ASSERT(src != NULL);
    size_t maxlen = 0;
    int ok = 1;
    for (int i = 0; i < nsrc && ok; i++) {
        struct store_rec r;
        int rc = store_db_lookup_read_type(c, argv[3 + i], len[3 + i], STORE_T_STRING, &r);
        if (rc < 0) {
            ok = 0;
        } else if (rc > 0 && r.plen > 0) {
            src[i].p = malloc(r.plen);
            STORE_ASSERT(src[i].p != NULL);
            memcpy(src[i].p, r.payload, r.plen);
            src[i].n = r.plen;
            if (r.plen > maxlen)
                maxlen = r.plen;
        }
    }
    if (ok && maxlen == 0) {
        if (store_db_replace(c, argv[2], len[2], 1))
            store_notify(c, STORE_EV_GENERIC, "del", argv[2], len[2]);
    } else if (ok) {
        unsigned char *res = malloc(maxlen);
        STORE_ASSERT(res != NULL);
        for (size_t j = 0; j < maxlen; j++) {
            unsigned char out = j < src[0].n ? src[0].p[j] : 0;
            if (op == OP_NOT)
                out = (unsigned char)~out;
            for (int i = 1; i < nsrc; i++) {
                unsigned char b = j < src[i].n ? src[i].p[j] : 0;
                out = op == OP_AND ? out & b : op == OP_OR ? out | b : out ^ b;
            }
            res[j] = out;
        }
        store_db_put(c, argv[2], len[2], STORE_T_STRING, 0, res, maxlen);
        store_notify(c, STORE_EV_STRING, "set", argv[2], len[2]);
        free(res);
    }
    for (int i = 0; i < nsrc; i++)
        free(src[i].p);
    free(src);
    if (ok)
        resp_add_int(c->out, (long long)maxlen);
}

/* ------------------------------------------------------------------ BITFIELD */

enum { BF_GET, BF_SET, BF_INCRBY };
enum { BF_WRAP, BF_SAT, BF_FAIL };

struct bf_op {
    int op, sign, bits, overflow;
    uint64_t offset;
    long long value;
};

static uint64_t bf_get_unsigned(const unsigned char *p, size_t plen, uint64_t offset, int bits)
{
    uint64_t v = 0;
    for (int i = 0; i < bits; i++)
        v = (v << 1) | (uint64_t)bit_get(p, plen, offset + (uint64_t)i);
    return v;
}

static int64_t bf_get_signed(const unsigned char *p, size_t plen, uint64_t offset, int bits)
{
    uint64_t u = bf_get_unsigned(p, plen, offset, bits);
    if (bits < 64 && (u & (1ULL << (bits - 1))))
        u |= UINT64_MAX << bits; /* two's complement: the sign fills the rest */
    return (int64_t)u;
}

static void bf_set(unsigned char *p, uint64_t offset, int bits, uint64_t v)
{
    for (int i = 0; i < bits; i++) {
        uint64_t o = offset + (uint64_t)i;
        unsigned char mask = (unsigned char)(1u << (7 - (o & 7)));
        if ((v >> (bits - 1 - i)) & 1)
            p[o >> 3] |= mask;
        else
            p[o >> 3] &= (unsigned char)~mask;
    }
}

/* value + incr in an unsigned field of bits bits: returns whether it
 * overflows, with *limit what WRAP or SAT make of it (Redis's
 * checkUnsignedBitfieldOverflow). */
static int bf_unsigned_overflow(uint64_t value, int64_t incr, int bits, int overflow,
                                uint64_t *limit)
{
    uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
    int64_t maxincr = (int64_t)(max - value);
    int64_t minincr = (int64_t)(0 - value);
    int over = value > max || (incr > 0 && incr > maxincr);
    if (!over && !(incr < 0 && incr < minincr))
        return 0;
    if (overflow == BF_WRAP)
        *limit = (value + (uint64_t)incr) & ~(UINT64_MAX << bits);
    else if (overflow == BF_SAT)
        *limit = over ? max : 0;
    return 1;
}

/* The same for a signed field (checkSignedBitfieldOverflow). */
static int bf_signed_overflow(int64_t value, int64_t incr, int bits, int overflow,
                              int64_t *limit)
{
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)((1ULL << (bits - 1)) - 1);
    int64_t min = -max - 1;
    /* May wrap around, but is used only once value is known in range. */
    int64_t maxincr = (int64_t)((uint64_t)max - (uint64_t)value);
    int64_t minincr = (int64_t)((uint64_t)min - (uint64_t)value);
    int over = value > max || (bits != 64 && incr > maxincr) ||
               (value >= 0 && incr > 0 && incr > maxincr);
    int under = !over && (value < min || (bits != 64 && incr < minincr) ||
                          (value < 0 && incr < 0 && incr < minincr));
    if (!over && !under)
        return 0;
    if (overflow == BF_WRAP) {
        uint64_t c = (uint64_t)value + (uint64_t)incr;
        if (bits < 64) {
            if (c & (1ULL << (bits - 1)))
                c |= UINT64_MAX << bits;
            else
                c &= ~(UINT64_MAX << bits);
        }
        *limit = (int64_t)c;
    } else if (overflow == BF_SAT) {
        *limit = over ? max : min;
    }
    return 1;
}

/* An operation's type (i1..i64, u1..u63) and offset (N, or #N in units of
 * the type's width). */
static int bf_type_offset(struct store_ctx *c, const char *t, size_t tl, const char *o,
                          size_t ol, struct bf_op *op)
{
    long long bits;
    op->sign = tl > 0 && t[0] == 'i';
    if (tl == 0 || (t[0] != 'i' && t[0] != 'u') || !resp_string2ll(t + 1, tl - 1, &bits) ||
        bits < 1 || bits > (op->sign ? 64 : 63)) {
        resp_add_error(c->out, "ERR Invalid bitfield type. Use something like i16 u8. Note "
                               "that u64 is not supported but i64 is.");
        return -1;
    }
    op->bits = (int)bits;
    int hash = ol > 1 && o[0] == '#';
    long long off;
    if (!resp_string2ll(o + hash, ol - (size_t)hash, &off) ||
        (hash && (off > LLONG_MAX / bits || off < LLONG_MIN / bits))) {
        resp_add_error(c->out, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    if (hash)
        off *= bits;
    if (off < 0 || (off >> 3) >= STORE_PROTO_MAX_BULK_LEN) {
        resp_add_error(c->out, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    op->offset = (uint64_t)off;
    return 0;
}

enum { BF_NOT_WRITTEN, BF_WRITTEN, BF_CHANGED };

/* Applies one SET or INCRBY to buf: appends its reply; returns
 * BF_NOT_WRITTEN (an overflow under FAIL), BF_WRITTEN (the field kept its
 * value) or BF_CHANGED. */
static int bf_write(struct store_ctx *c, unsigned char *buf, size_t n, const struct bf_op *op)
{
    int overflow, changed;
    if (op->sign) {
        int64_t old = bf_get_signed(buf, n, op->offset, op->bits), val, wrapped = 0;
        if (op->op == BF_INCRBY) {
            overflow = bf_signed_overflow(old, op->value, op->bits, op->overflow, &wrapped);
            val = overflow ? wrapped : (int64_t)((uint64_t)old + (uint64_t)op->value);
        } else {
            val = op->value;
            overflow = bf_signed_overflow(val, 0, op->bits, op->overflow, &wrapped);
            if (overflow)
                val = wrapped;
        }
        if (overflow && op->overflow == BF_FAIL) {
            resp_add_null(c->out);
            return BF_NOT_WRITTEN;
        }
        resp_add_int(c->out, op->op == BF_INCRBY ? val : old);
        bf_set(buf, op->offset, op->bits, (uint64_t)val);
        changed = old != val;
    } else {
        uint64_t old = bf_get_unsigned(buf, n, op->offset, op->bits), val, wrapped = 0;
        if (op->op == BF_INCRBY) {
            overflow = bf_unsigned_overflow(old, op->value, op->bits, op->overflow, &wrapped);
            val = overflow ? wrapped : old + (uint64_t)op->value;
        } else {
            val = (uint64_t)op->value;
            overflow = bf_unsigned_overflow(val, 0, op->bits, op->overflow, &wrapped);
            if (overflow)
                val = wrapped;
        }
        if (overflow && op->overflow == BF_FAIL) {
            resp_add_null(c->out);
            return BF_NOT_WRITTEN;
        }
        resp_add_int(c->out, (long long)(op->op == BF_INCRBY ? val : old));
        bf_set(buf, op->offset, op->bits, val);
        changed = old != val;
    }
    return changed ? BF_CHANGED : BF_WRITTEN;
}

static void bitfield_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int ro)
{
    struct bf_op *ops = malloc(sizeof(*ops) * (size_t)argc);
    STORE_ASSERT(ops != NULL);
    int nops = 0, overflow = BF_WRAP, writes = 0;
    uint64_t highest = 0; /* the last bit a write reaches */
    for (int j = 2; j < argc; j++) {
        int rem = argc - j - 1;
        struct bf_op *op = &ops[nops];
        if (store_strcasecmp_arg(argv[j], len[j], "get") && rem >= 2) {
            op->op = BF_GET;
        } else if (store_strcasecmp_arg(argv[j], len[j], "set") && rem >= 3) {
            op->op = BF_SET;
        } else if (store_strcasecmp_arg(argv[j], len[j], "incrby") && rem >= 3) {
            op->op = BF_INCRBY;
        } else if (store_strcasecmp_arg(argv[j], len[j], "overflow") && rem >= 1) {
            j++;
            if (store_strcasecmp_arg(argv[j], len[j], "wrap"))
                overflow = BF_WRAP;
            else if (store_strcasecmp_arg(argv[j], len[j], "sat"))
                overflow = BF_SAT;
            else if (store_strcasecmp_arg(argv[j], len[j], "fail"))
                overflow = BF_FAIL;
            else {
                resp_add_error(c->out, "ERR Invalid OVERFLOW type specified");
                free(ops);
                return;
            }
            continue;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            free(ops);
            return;
        }
        if (bf_type_offset(c, argv[j + 1], len[j + 1], argv[j + 2], len[j + 2], op) != 0) {
            free(ops);
            return;
        }
        op->overflow = overflow;
        if (op->op != BF_GET) {
            writes = 1;
            if (highest < op->offset + (uint64_t)op->bits - 1)
                highest = op->offset + (uint64_t)op->bits - 1;
            if (!resp_string2ll(argv[j + 3], len[j + 3], &op->value)) {
                resp_add_error(c->out, STORE_ENOTINT);
                free(ops);
                return;
            }
        }
        nops++;
        j += op->op == BF_GET ? 2 : 3;
    }
    if (writes && ro) {
        resp_add_error(c->out, "ERR BITFIELD_RO only supports the GET subcommand");
        free(ops);
        return;
    }
    struct store_rec r;
    /* Only GETs: Redis reads the key (a miss is a keymiss); with a write it
     * looks it up to write. */
    int rc = writes ? store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r)
                    : store_db_lookup_read_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (rc < 0) {
        free(ops);
        return;
    }
    size_t plen = rc ? r.plen : 0;
    /* Writes work on a copy as long as the furthest bit written needs;
     * reads alone read the value where it is. */
    size_t n = plen;
    unsigned char *buf = NULL;
    if (writes) {
        if ((size_t)(highest >> 3) >= plen)
            n = (size_t)(highest >> 3) + 1;
        buf = calloc(1, n);
        STORE_ASSERT(buf != NULL);
        if (plen)
            memcpy(buf, r.payload, plen);
    }
    const unsigned char *src = writes ? buf : rc ? r.payload : NULL;
    resp_add_array(c->out, nops);
    int changes = 0, written = 0;
    for (int i = 0; i < nops; i++) {
        if (ops[i].op == BF_GET) {
            if (ops[i].sign)
                resp_add_int(c->out, bf_get_signed(src, n, ops[i].offset, ops[i].bits));
            else
                resp_add_int(c->out,
                             (long long)bf_get_unsigned(src, n, ops[i].offset, ops[i].bits));
        } else {
            int w = bf_write(c, buf, n, &ops[i]);
            written += w != BF_NOT_WRITTEN;
            changes += w == BF_CHANGED;
        }
    }
    /* As Redis: a write creates or grows the key even when every write
     * fails on overflow; otherwise the key is written only if a field
     * changed. */
    if (writes && rc == 0)
        store_db_put(c, argv[1], len[1], STORE_T_STRING, 0, buf, n);
    else if (n > plen || changes)
        store_db_put_keep(c, argv[1], len[1], &r, buf, n);
    /* Redis counts a write that left its field as it was a change when
     * the string grew: then it tells of it too. */
    if (changes || (written && n > plen))
        store_notify(c, STORE_EV_STRING, "setbit", argv[1], len[1]);
    free(buf);
    free(ops);
}

STORE_DECL(bitfield)
{
    bitfield_generic(c, argc, argv, len, 0);
}

STORE_DECL(bitfield_ro)
{
    bitfield_generic(c, argc, argv, len, 1);
}
