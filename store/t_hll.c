/* HyperLogLog (Redis hyperloglog.c): PFADD, PFCOUNT, PFMERGE and PFDEBUG.
 *
 * A HyperLogLog is a string value in Redis 7.0's own layout, byte for
 * byte, so that GET, SET and every reply agree with Redis's, and a value
 * copied between ferry and Redis keeps working on either:
 *
 *   "HYLL" encoding(1) unused(3) cached cardinality(8, little-endian; top
 *   bit set: stale) registers
 *
 * with 16,384 6-bit registers, either dense (12,288 bytes, register i at
 * bit 6i, least significant bits first) or sparse: a run-length code of
 * opcodes ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx yyyyyyyy
 * (1-16,384 zero registers) and VAL 1vvvvvxx (1-4 registers of value
 * 1-32). A new HyperLogLog is sparse; it turns dense when a register needs
 * a value over 32, or when the sparse code would pass 3,000 bytes.
 *
 * Every step that shapes the bytes follows Redis's order: which opcodes a
 * split writes, the merge of neighbouring VAL opcodes after an update,
 * when the cache is marked stale. The count is Ertl's estimator on the
 * register histogram ("New cardinality estimation algorithms for
 * HyperLogLog sketches", arXiv:1702.01284) in Redis's order of operations,
 * so it rounds to the same integer. Values that only look like a
 * HyperLogLog (a SET of made-up bytes, an APPEND) get Redis's errors and
 * are read no further than their own bytes. */
#include "store/store_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HLL_P 14
#define HLL_Q (64 - HLL_P) /* hash bits after the register index */
#define HLL_REGISTERS (1 << HLL_P)
#define HLL_P_MASK (HLL_REGISTERS - 1)
#define HLL_BITS 6
#define HLL_REGISTER_MAX ((1 << HLL_BITS) - 1)
#define HLL_HDR 16
#define HLL_DENSE_SIZE (HLL_HDR + (HLL_REGISTERS * HLL_BITS + 7) / 8)
#define HLL_ENC 4  /* offset of the encoding byte */
#define HLL_CARD 8 /* offset of the cached cardinality */
#define HLL_DENSE 0
#define HLL_SPARSE 1
/* Redis's hll-sparse-max-bytes default. Fixed, not an option: every node
 * of a group must turn the same values dense at the same step. */
#define HLL_SPARSE_MAX 3000
#define HLL_ALPHA_INF 0.721347520444481703680 /* 0.5 / ln(2) */

/* Sparse opcodes. */
#define SP_IS_ZERO(b) (((b)&0xc0) == 0)
#define SP_IS_XZERO(b) (((b)&0xc0) == 0x40)
#define SP_IS_VAL(b) (((b)&0x80) != 0)
#define SP_ZERO_LEN(b) (((b)&0x3f) + 1)
#define SP_XZERO_LEN(p) (((((p)[0] & 0x3f) << 8) | (p)[1]) + 1)
#define SP_VAL_VALUE(b) ((((b) >> 2) & 0x1f) + 1)
#define SP_VAL_LEN(b) (((b)&0x3) + 1)
#define SP_VAL_MAX_VALUE 32
#define SP_VAL_MAX_LEN 4
#define SP_ZERO_MAX_LEN 64
#define SP_XZERO_MAX_LEN 16384

static const char HLL_ENOTHLL[] = "WRONGTYPE Key is not a valid HyperLogLog string value.";
static const char HLL_EINVALID[] = "INVALIDOBJ Corrupted HLL object detected";

/* A HyperLogLog being worked on: a copy of the value with room behind it.
 * The byte at p[len] is readable and, as Redis's string terminator, zero
 * unless an update wrote past the end (see hll_sparse_set): a sparse code
 * cut off after the first byte of an XZERO reads its second byte there,
 * as Redis does. */
struct hll {
    unsigned char *p;
    size_t len;
};

static void hll_alloc(struct hll *h, size_t len)
{
    /* A sparse code grows by at most 3 bytes per update and stops growing
     * at HLL_SPARSE_MAX, and a split may write 4 bytes past the end. */
    size_t cap = (len > HLL_DENSE_SIZE ? len : HLL_DENSE_SIZE) + 8;
    h->p = calloc(1, cap);
    STORE_ASSERT(h->p != NULL);
    h->len = len;
}

static void hll_free(struct hll *h)
{
    free(h->p);
    h->p = NULL;
}

/* An empty HyperLogLog: sparse, one XZERO of all the registers, and a
 * cached cardinality of 0 that is valid. */
static void hll_new(struct hll *h)
{
    hll_alloc(h, HLL_HDR + 2);
    memcpy(h->p, "HYLL", 4);
    h->p[HLL_ENC] = HLL_SPARSE;
    h->p[HLL_HDR] = 0x40 | ((SP_XZERO_MAX_LEN - 1) >> 8);
    h->p[HLL_HDR + 1] = (SP_XZERO_MAX_LEN - 1) & 0xff;
}

/* Whether a string holds a HyperLogLog, as Redis checks it: the magic, a
 * known encoding, and the exact size when dense. A sparse code is checked
 * only where it is read. */
static int hll_is_valid(const unsigned char *p, size_t len)
{
    return len >= HLL_HDR && memcmp(p, "HYLL", 4) == 0 && p[HLL_ENC] <= HLL_SPARSE &&
           (p[HLL_ENC] != HLL_DENSE || len == HLL_DENSE_SIZE);
}

/* Copies the string of r into h if it holds a HyperLogLog; else replies
 * Redis's error and returns -1. */
static int hll_load(struct store_ctx *c, struct hll *h, const struct store_rec *r)
{
    if (!hll_is_valid(r->payload, r->plen)) {
        resp_add_error(c->out, HLL_ENOTHLL);
        return -1;
    }
    hll_alloc(h, r->plen);
    memcpy(h->p, r->payload, r->plen);
    return 0;
}

static int hll_encoding(const struct hll *h)
{
    return h->p[HLL_ENC];
}

static unsigned char *hll_regs(const struct hll *h)
{
    return h->p + HLL_HDR;
}

static void hll_invalidate(struct hll *h)
{
    h->p[HLL_CARD + 7] |= 0x80;
}

/* ------------------------------------------------------------ the hash */

/* MurmurHash64A with Redis's seed, reading the input little-endian on
 * every machine, as Redis's endian-neutral variant does. */
static uint64_t hll_hash(const unsigned char *data, size_t len)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    uint64_t h = 0xadc83b19ULL ^ (len * m);
    const unsigned char *end = data + (len & ~(size_t)7);
    for (; data != end; data += 8) {
        uint64_t k = 0;
        for (int i = 7; i >= 0; i--)
            k = k << 8 | data[i];
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    size_t tail = len & 7;
    if (tail) {
        for (size_t i = tail; i-- > 0;)
            h ^= (uint64_t)data[i] << (8 * i);
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

/* The register an element goes to, and the value it offers it: the
 * position of the first 1 bit in the hash above the index bits (1-51). */
static int hll_pattern(const void *ele, size_t len, long *reg)
{
    uint64_t hash = hll_hash(ele, len);
    *reg = (long)(hash & HLL_P_MASK);
    hash >>= HLL_P;
    hash |= (uint64_t)1 << HLL_Q; /* at most Q zeros */
    return __builtin_ctzll(hash) + 1;
}

/* ------------------------------------------------------------ dense */

/* Register i of the dense registers. The last register ends inside its
 * first byte, so nothing past the registers is read. */
static unsigned dense_get(const unsigned char *regs, long i)
{
    size_t byte = (size_t)i * HLL_BITS / 8;
    unsigned fb = (unsigned)(i * HLL_BITS) & 7;
    unsigned v = regs[byte] >> fb;
    if (fb > 8 - HLL_BITS)
        v |= (unsigned)regs[byte + 1] << (8 - fb);
    return v & HLL_REGISTER_MAX;
}

static void dense_put(unsigned char *regs, long i, unsigned v)
{
    size_t byte = (size_t)i * HLL_BITS / 8;
    unsigned fb = (unsigned)(i * HLL_BITS) & 7;
    regs[byte] = (unsigned char)((regs[byte] & ~(HLL_REGISTER_MAX << fb)) | (v << fb));
    if (fb > 8 - HLL_BITS) {
        unsigned hi = 8 - fb;
        regs[byte + 1] = (unsigned char)((regs[byte + 1] & ~(HLL_REGISTER_MAX >> hi)) | (v >> hi));
    }
}

/* Raises register i to count: 1 if it was lower. */
static int dense_set(unsigned char *regs, long i, int count)
{
    if ((unsigned)count <= dense_get(regs, i))
        return 0;
    dense_put(regs, i, (unsigned)count);
    return 1;
}

/* Adds the histogram of the dense registers to histo. */
static void dense_histo(const unsigned char *regs, int *histo)
{
    for (long i = 0; i < HLL_REGISTERS; i++)
        histo[dense_get(regs, i)]++;
}

/* ------------------------------------------------------------ sparse */

/* Walks the sparse code of h run by run: fn gets each run's first
 * register, length and value (0 for ZERO and XZERO). Returns 0, or -1 when
 * a run would pass the last register or the runs end short of it (Redis
 * 7.0.15 with the fix of CVE-2025-32023: the walk stops at the first run
 * that does not fit, before fn sees it). */
typedef void (*sparse_run_fn)(void *arg, long first, long run, int value);

static int sparse_walk(const struct hll *h, sparse_run_fn fn, void *arg)
{
    const unsigned char *p = hll_regs(h), *end = h->p + h->len;
    long idx = 0;
    while (p < end) {
        long run;
        int value = 0;
        if (SP_IS_ZERO(*p)) {
            run = SP_ZERO_LEN(*p);
            p++;
        } else if (SP_IS_XZERO(*p)) {
            run = SP_XZERO_LEN(p);
            p += 2;
        } else {
            run = SP_VAL_LEN(*p);
            value = SP_VAL_VALUE(*p);
            p++;
        }
        if (idx + run > HLL_REGISTERS)
            return -1;
        fn(arg, idx, run, value);
        idx += run;
    }
    return idx == HLL_REGISTERS ? 0 : -1;
}

static void run_to_dense(void *arg, long first, long run, int value)
{
    if (value)
        for (long i = first; i < first + run; i++)
            dense_put(arg, i, (unsigned)value);
}

static void run_to_histo(void *arg, long first, long run, int value)
{
    (void)first;
    ((int *)arg)[value] += (int)run;
}

static void run_to_max(void *arg, long first, long run, int value)
{
    unsigned char *max = arg;
    for (long i = first; i < first + run; i++)
        if (value > max[i])
            max[i] = (unsigned char)value;
}

/* The sparse code of h as dense registers; -1 (h unchanged) when it is
 * not valid. The header is kept, the cached cardinality with it. */
static int hll_sparse_to_dense(struct hll *h)
{
    if (hll_encoding(h) == HLL_DENSE)
        return 0;
    struct hll d;
    hll_alloc(&d, HLL_DENSE_SIZE);
    memcpy(d.p, h->p, HLL_HDR);
    d.p[HLL_ENC] = HLL_DENSE;
    if (sparse_walk(h, run_to_dense, hll_regs(&d)) != 0) {
        hll_free(&d);
        return -1;
    }
    hll_free(h);
    *h = d;
    return 0;
}

/* Writes a run of len zero registers at *n as ZERO or XZERO. */
static void sparse_put_zeros(unsigned char **n, long len)
{
    if (len > SP_ZERO_MAX_LEN) {
        (*n)[0] = (unsigned char)(0x40 | ((len - 1) >> 8));
        (*n)[1] = (unsigned char)((len - 1) & 0xff);
        *n += 2;
    } else {
        *(*n)++ = (unsigned char)(len - 1);
    }
}

static unsigned char sparse_val(int value, long len)
{
    return (unsigned char)(0x80 | (value - 1) << 2 | (len - 1));
}

/* Raises register idx of the sparse h to count: 1 if it was lower, 0 if
 * not, -1 when the code does not reach idx (or, turning dense, is not
 * valid). Turns h dense when count does not fit a VAL opcode or the code
 * would outgrow HLL_SPARSE_MAX. */
static int hll_sparse_set(struct hll *h, long idx, int count)
{
    if (count > SP_VAL_MAX_VALUE)
        goto promote;

    /* The opcode covering idx, with first its first register. */
    unsigned char *sparse = hll_regs(h), *end = h->p + h->len, *p = sparse, *prev = NULL;
    long first = 0, span = 0;
    while (p < end) {
        long oplen = 1;
        if (SP_IS_ZERO(*p)) {
            span = SP_ZERO_LEN(*p);
        } else if (SP_IS_VAL(*p)) {
            span = SP_VAL_LEN(*p);
        } else {
            span = SP_XZERO_LEN(p);
            oplen = 2;
        }
        if (idx <= first + span - 1)
            break;
        prev = p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end)
        return -1;
    int is_xzero = SP_IS_XZERO(*p), is_val = SP_IS_VAL(*p);
    unsigned char *next = p + (is_xzero ? 2 : 1);
    if (next >= end)
        next = NULL;

    /* The easy cases: a VAL as high already, or a one-register VAL or
     * ZERO rewritten in place. */
    if (is_val) {
        int old = SP_VAL_VALUE(*p);
        if (old >= count)
            return 0;
        if (SP_VAL_LEN(*p) == 1) {
            *p = sparse_val(count, 1);
            goto updated;
        }
    } else if (!is_xzero && SP_ZERO_LEN(*p) == 1) {
        *p = sparse_val(count, 1);
        goto updated;
    }

    /* Otherwise the opcode splits into up to three: what comes before idx,
     * a VAL for idx, what comes after (XZERO VAL XZERO at most, 5 bytes). */
    unsigned char seq[5], *n = seq;
    long last = first + span - 1;
    if (is_val) {
        int cur = SP_VAL_VALUE(*p);
        if (idx != first)
            *n++ = sparse_val(cur, idx - first);
        *n++ = sparse_val(count, 1);
        if (idx != last)
            *n++ = sparse_val(cur, last - idx);
    } else {
        if (idx != first)
            sparse_put_zeros(&n, idx - first);
        *n++ = sparse_val(count, 1);
        if (idx != last)
            sparse_put_zeros(&n, last - idx);
    }
    long seqlen = n - seq, delta = seqlen - (is_xzero ? 2 : 1);
    if (delta > 0 && h->len + (size_t)delta > HLL_SPARSE_MAX)
        goto promote;
    if (delta && next)
        memmove(next + delta, next, (size_t)(end - next));
    h->len = (size_t)((long)h->len + delta);
    h->p[h->len] = 0;
    /* After the new end is marked: an XZERO cut off at the end of the code
     * is replaced whole, so its split may write a byte past the end, as
     * Redis's does (see struct hll). */
    memcpy(p, seq, (size_t)seqlen);
    end += delta;

updated:
    /* Neighbouring VALs of the same value merge while they fit one
     * opcode: up to five opcodes from the one before the update. */
    p = prev ? prev : sparse;
    for (int scan = 5; p < end && scan--;) {
        if (SP_IS_XZERO(*p)) {
            p += 2;
            continue;
        }
        if (SP_IS_ZERO(*p)) {
            p++;
            continue;
        }
        if (p + 1 < end && SP_IS_VAL(p[1])) {
            int v1 = SP_VAL_VALUE(p[0]), v2 = SP_VAL_VALUE(p[1]);
            long l = SP_VAL_LEN(p[0]) + SP_VAL_LEN(p[1]);
            if (v1 == v2 && l <= SP_VAL_MAX_LEN) {
                p[1] = sparse_val(v1, l);
                memmove(p, p + 1, (size_t)(end - p));
                h->len--;
                h->p[h->len] = 0;
                end--;
                continue; /* and try the merged one with the next */
            }
        }
        p++;
    }
    hll_invalidate(h);
    return 1;

promote:
    if (hll_sparse_to_dense(h) != 0)
        return -1;
    /* Turning dense always comes with a register to raise. */
    STORE_ASSERT(dense_set(hll_regs(h), idx, count) == 1);
    return 1;
}

/* ------------------------------------------------------------ the count */

/* Ertl's sigma and tau, the corrections for registers at 0 and at Q+1. */
static double hll_sigma(double x)
{
    if (x == 1.)
        return INFINITY;
    double y = 1, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (prev != z);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0. || x == 1.)
        return 0.;
    double y = 1.0, z = 1 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (prev != z);
    return z / 3;
}

/* The estimated cardinality from the register histogram. */
static uint64_t hll_estimate(const int *histo)
{
    double m = HLL_REGISTERS;
    double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
    for (int j = HLL_Q; j >= 1; --j) {
        z += histo[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] / m);
    double e = (double)llroundl(HLL_ALPHA_INF * m * m / z);
    return (uint64_t)e;
}

/* The count of h; -1 for a sparse code that is not valid. */
static int hll_count(const struct hll *h, uint64_t *card)
{
    int histo[64] = {0}; /* registers reach 63 in a made-up dense value */
    if (hll_encoding(h) == HLL_DENSE)
        dense_histo(hll_regs(h), histo);
    else if (sparse_walk(h, run_to_histo, histo) != 0)
        return -1;
    *card = hll_estimate(histo);
    return 0;
}

/* max[i] = the larger of max[i] and h's register i; -1 for a sparse code
 * that is not valid. */
static int hll_merge(unsigned char *max, const struct hll *h)
{
    if (hll_encoding(h) == HLL_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = dense_get(hll_regs(h), i);
            if (v > max[i])
                max[i] = (unsigned char)v;
        }
        return 0;
    }
    return sparse_walk(h, run_to_max, max);
}

/* Raises register idx of h to count, in either encoding: 1, 0 or -1 as
 * hll_sparse_set. */
static int hll_set(struct hll *h, long idx, int count)
{
    if (hll_encoding(h) == HLL_DENSE)
        return dense_set(hll_regs(h), idx, count);
    return hll_sparse_set(h, idx, count);
}

static void hll_put_card(struct hll *h, uint64_t card)
{
    for (int i = 0; i < 8; i++)
        h->p[HLL_CARD + i] = (unsigned char)(card >> (8 * i));
}

static uint64_t hll_get_card(const unsigned char *p)
{
    uint64_t card = 0;
    for (int i = 7; i >= 0; i--)
        card = card << 8 | p[HLL_CARD + i];
    return card;
}

/* ------------------------------------------------------------ commands */

STORE_DECL(pfadd)
{
    struct store_rec r;
    int found = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (found < 0)
        return;
    struct hll h;
    if (!found)
        hll_new(&h);
    else if (hll_load(c, &h, &r) != 0)
        return;
    int updated = !found, changed = 0;
    for (int j = 2; j < argc; j++) {
        long idx;
        int count = hll_pattern(argv[j], len[j], &idx);
        int rc = hll_set(&h, idx, count);
        if (rc < 0) {
            /* As Redis: what the elements before changed stays, but is no
             * write of the key's (WATCH holds), and the cache keeps its
             * state. */
            resp_add_error(c->out, HLL_EINVALID);
            if (changed)
                store_db_put_same_version(c, argv[1], len[1], &r, h.p, h.len);
            hll_free(&h);
            return;
        }
        updated += rc;
        changed |= rc;
    }
    if (updated) {
        hll_invalidate(&h);
        if (found)
            store_db_put_keep(c, argv[1], len[1], &r, h.p, h.len);
        else
            store_db_put_known(c, argv[1], len[1], STORE_T_STRING, 0, h.p, h.len, 0, NULL);
        store_notify(c, STORE_EV_STRING, "pfadd", argv[1], len[1]);
    }
    resp_add_int(c->out, updated ? 1 : 0);
    hll_free(&h);
}

/* max = the register-wise maximum of the HyperLogLogs at argv[1..argc),
 * a missing key counting as an empty one, and *dense set when one of them
 * is dense. -1 after an error reply (the first key that is not a valid
 * HyperLogLog, in order). */
static int hll_union(struct store_ctx *c, int argc, char **argv, size_t *len, unsigned char *max,
                     int *dense)
{
    for (int j = 1; j < argc; j++) {
        struct store_rec r;
        struct hll h;
        int found = store_db_lookup_read_type(c, argv[j], len[j], STORE_T_STRING, &r);
        if (found < 0)
            return -1;
        if (!found)
            continue;
        if (hll_load(c, &h, &r) != 0)
            return -1;
        *dense |= hll_encoding(&h) == HLL_DENSE;
        int rc = hll_merge(max, &h);
        hll_free(&h);
        if (rc != 0) {
            resp_add_error(c->out, HLL_EINVALID);
            return -1;
        }
    }
    return 0;
}

STORE_DECL(pfcount)
{
    if (argc > 2) {
        /* The count of the union; no cache to use or update. */
        unsigned char max[HLL_REGISTERS] = {0};
        int dense = 0;
        if (hll_union(c, argc, argv, len, max, &dense) != 0)
            return;
        int histo[64] = {0};
        for (long i = 0; i < HLL_REGISTERS; i++)
            histo[max[i]]++;
        resp_add_int(c->out, (long long)hll_estimate(histo));
        return;
    }
    struct store_rec r;
    int found = store_db_lookup_type(c, argv[1], len[1], STORE_T_STRING, &r);
    if (found <= 0) {
        if (found == 0)
            resp_add_int(c->out, 0);
        return;
    }
    if (!hll_is_valid(r.payload, r.plen)) {
        resp_add_error(c->out, HLL_ENOTHLL);
        return;
    }
    if ((r.payload[HLL_CARD + 7] & 0x80) == 0) {
        resp_add_int(c->out, (long long)hll_get_card(r.payload));
        return;
    }
    struct hll h;
    hll_load(c, &h, &r);
    uint64_t card;
    if (hll_count(&h, &card) != 0) {
        resp_add_error(c->out, HLL_EINVALID);
    } else if (!c->write) {
        /* Caching the count changes the value (and Redis counts it as a
         * write of the key): it goes through the log. */
        c->needs_write = 1;
    } else {
        hll_put_card(&h, card);
        store_db_put_keep(c, argv[1], len[1], &r, h.p, h.len);
        resp_add_int(c->out, (long long)card);
    }
    hll_free(&h);
}

STORE_DECL(pfmerge)
{
    unsigned char max[HLL_REGISTERS] = {0};
    struct store_rec r;
    struct hll h;
    int dense = 0;
    /* The destination is a source too. */
    if (hll_union(c, argc, argv, len, max, &dense) != 0)
        return;
    /* A destination that exists passed as a source above. */
    int found = store_db_lookup(c, argv[1], len[1], &r);
    if (!found)
        hll_new(&h);
    else if (hll_load(c, &h, &r) != 0)
        return;
    /* With a dense source the result is dense at once, as Redis makes it. */
    if (dense && hll_sparse_to_dense(&h) != 0) {
        resp_add_error(c->out, HLL_EINVALID);
        hll_free(&h);
        return;
    }
    for (long i = 0; i < HLL_REGISTERS; i++)
        if (max[i])
            hll_set(&h, i, max[i]);
    hll_invalidate(&h);
    if (found)
        store_db_put_keep(c, argv[1], len[1], &r, h.p, h.len);
    else
        store_db_put_known(c, argv[1], len[1], STORE_T_STRING, 0, h.p, h.len, 0, NULL);
    store_notify(c, STORE_EV_STRING, "pfadd", argv[1], len[1]);
    resp_add_simple(c->out, "OK");
    hll_free(&h);
}

/* PFDEBUG DECODE's text of a sparse code. */
static void hll_decode(struct store_ctx *c, const struct hll *h)
{
    struct resp_buf s;
    resp_buf_init(&s);
    const unsigned char *p = hll_regs(h), *end = h->p + h->len;
    while (p < end) {
        char op[32];
        int n;
        if (SP_IS_ZERO(*p)) {
            n = snprintf(op, sizeof(op), "z:%d ", SP_ZERO_LEN(*p));
            p++;
        } else if (SP_IS_XZERO(*p)) {
            n = snprintf(op, sizeof(op), "Z:%d ", SP_XZERO_LEN(p));
            p += 2;
        } else {
            n = snprintf(op, sizeof(op), "v:%d,%d ", SP_VAL_VALUE(*p), SP_VAL_LEN(*p));
            p++;
        }
        resp_buf_append(&s, op, (size_t)n);
    }
    size_t n = s.len;
    while (n > 0 && s.data[n - 1] == ' ')
        n--;
    resp_add_bulk(c->out, s.data, n);
    resp_buf_fini(&s);
}

STORE_DECL(pfdebug)
{
    (void)argc;
    struct store_rec r;
    int found = store_db_lookup_type(c, argv[2], len[2], STORE_T_STRING, &r);
    if (found < 0)
        return;
    if (!found) {
        resp_add_error(c->out, "ERR The specified key does not exist");
        return;
    }
    struct hll h;
    if (hll_load(c, &h, &r) != 0)
        return;
    const char *sub = argv[1];
    size_t sublen = len[1];
    int sparse = hll_encoding(&h) == HLL_SPARSE;
    if (store_strcasecmp_arg(sub, sublen, "getreg") ||
        store_strcasecmp_arg(sub, sublen, "todense")) {
        int getreg = store_strcasecmp_arg(sub, sublen, "getreg");
        if (sparse) {
            if (hll_sparse_to_dense(&h) != 0) {
                resp_add_error(c->out, HLL_EINVALID);
                hll_free(&h);
                return;
            }
            /* A change of encoding, not of the value: WATCH holds. */
            store_db_put_same_version(c, argv[2], len[2], &r, h.p, h.len);
        }
        if (getreg) {
            resp_add_array(c->out, HLL_REGISTERS);
            for (long i = 0; i < HLL_REGISTERS; i++)
                resp_add_int(c->out, dense_get(hll_regs(&h), i));
        } else {
            resp_add_int(c->out, sparse);
        }
    } else if (store_strcasecmp_arg(sub, sublen, "decode")) {
        if (!sparse)
            resp_add_error(c->out, "ERR HLL encoding is not sparse");
        else
            hll_decode(c, &h);
    } else if (store_strcasecmp_arg(sub, sublen, "encoding")) {
        resp_add_simple(c->out, sparse ? "sparse" : "dense");
    } else {
        /* Redis prints the name as a C string: up to a NUL byte. */
        resp_add_errorf(c->out, "ERR Unknown PFDEBUG subcommand '%.*s'", (int)strnlen(sub, sublen),
                        sub);
    }
    hll_free(&h);
}

/* PFSELFTEST: Redis's checks of its HyperLogLog code (pfselftestCommand),
 * run on ferry's. Every dense register keeps what is put in it without
 * touching its neighbours; and a dense and a sparse HyperLogLog fed the
 * same ten million elements agree at each power of ten, the sparse one
 * staying sparse while small, with the estimate within six standard
 * errors (one element at 10). The elements come from a fixed seed, so a
 * run checks the same as every other; it takes a second or two, during
 * which, as in Redis, nothing else is served. */
#define HLL_TEST_CYCLES 1000

STORE_DECL(pfselftest)
{
    (void)argc;
    (void)argv;
    (void)len;
    struct hll d, sp;
    hll_alloc(&d, HLL_DENSE_SIZE);
    memcpy(d.p, "HYLL", 4);
    d.p[HLL_ENC] = HLL_DENSE;
    hll_new(&sp);
    unsigned char *regs = hll_regs(&d);
    static unsigned char bytes[HLL_REGISTERS];
    uint64_t x = 0x9e3779b97f4a7c15ULL; /* xorshift64 */
    for (int cycle = 0; cycle < HLL_TEST_CYCLES; cycle++) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes[i] = (unsigned char)(x & HLL_REGISTER_MAX);
            dense_put(regs, i, bytes[i]);
        }
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = dense_get(regs, i);
            if (v != bytes[i]) {
                resp_add_errorf(c->out, "TESTFAILED Register %ld should be %d but is %u", i,
                                (int)bytes[i], v);
                goto out;
            }
        }
    }

    memset(regs, 0, HLL_DENSE_SIZE - HLL_HDR);
    double relerr = 1.04 / sqrt(HLL_REGISTERS);
    uint64_t checkpoint = 1, seed = x;
    for (uint64_t j = 1; j <= 10000000; j++) {
        unsigned char ele[8];
        uint64_t e = j ^ seed;
        memcpy(ele, &e, sizeof(ele)); /* as Redis adds it: the integer's own bytes */
        long idx;
        int count = hll_pattern(ele, sizeof(ele), &idx);
        dense_set(regs, idx, count);
        if (hll_set(&sp, idx, count) < 0) {
            resp_add_error(c->out, "TESTFAILED sparse update failed");
            goto out;
        }
        if (j != checkpoint)
            continue;
        if (j < HLL_SPARSE_MAX / 2 && hll_encoding(&sp) != HLL_SPARSE) {
            resp_add_error(c->out, "TESTFAILED sparse encoding not used");
            goto out;
        }
        uint64_t dc, sc;
        if (hll_count(&d, &dc) != 0 || hll_count(&sp, &sc) != 0 || dc != sc) {
            resp_add_error(c->out, "TESTFAILED dense/sparse disagree");
            goto out;
        }
        int64_t abserr = (int64_t)checkpoint - (int64_t)dc;
        uint64_t maxerr = (uint64_t)ceil(relerr * 6 * (double)checkpoint);
        if (j == 10)
            maxerr = 1;
        if (abserr < 0)
            abserr = -abserr;
        if ((uint64_t)abserr > maxerr) {
            resp_add_errorf(c->out, "TESTFAILED Too big error. card:%llu abserr:%llu",
                            (unsigned long long)checkpoint, (unsigned long long)abserr);
            goto out;
        }
        checkpoint *= 10;
    }
    resp_add_simple(c->out, "OK");
out:
    hll_free(&d);
    hll_free(&sp);
}

