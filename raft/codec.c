/* Message and configuration encoding: a frame is
 *     u32 payload length | u32 CRC32C(payload) | payload
 * in little endian. The decoder trusts nothing: the checksum is verified
 * first, then every field is read through a bounds-checked cursor, and counts
 * are checked against the bytes left before anything is allocated. */
#include <string.h>

#include "raft/raft_internal.h"

/* ------------------------------------------------------------------ crc32c */

static uint32_t crc_table[256];
static int crc_table_ready;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    crc_table_ready = 1;
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!crc_table_ready) crc_table_init();
    while (len--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t raft_crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hw(crc, buf, len);
#endif
    return ~crc32c_sw(crc, buf, len);
}

/* ------------------------------------------------------------------ writer */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
};

static void w_reserve(struct wbuf *w, size_t n)
{
    if (w->len + n <= w->cap) return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n) cap *= 2;
    w->p = raft_xrealloc(w->p, cap);
    w->cap = cap;
}

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
    w_reserve(w, n);
    if (n) memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void w_u8(struct wbuf *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 4);
}

static void w_u64(struct wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

/* ------------------------------------------------------------------ reader */

struct rbuf {
    const uint8_t *p;
    size_t left;
    int bad;
};

static int r_bytes(struct rbuf *r, void *out, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = 1;
        return -1;
    }
    if (n) memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static uint8_t r_u8(struct rbuf *r)
{
    uint8_t v = 0;
    r_bytes(r, &v, 1);
    return v;
}

static uint32_t r_u32(struct rbuf *r)
{
    uint8_t b[4] = {0};
    r_bytes(r, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t r_u64(struct rbuf *r)
{
    uint8_t b[8] = {0};
    r_bytes(r, b, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static uint32_t get_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ------------------------------------------------------------------ conf */

static void w_conf(struct wbuf *w, const struct raft_conf *c)
{
    w_u32(w, c->n_voters);
    w_u32(w, c->n_learners);
    for (uint32_t i = 0; i < c->n_voters; i++) w_u64(w, c->voters[i]);
    for (uint32_t i = 0; i < c->n_learners; i++) w_u64(w, c->learners[i]);
}

static int r_conf(struct rbuf *r, struct raft_conf *c)
{
    memset(c, 0, sizeof(*c));
    uint32_t nv = r_u32(r), nl = r_u32(r);
    if (r->bad || nv > RAFT_MAX_NODES || nl > RAFT_MAX_NODES || nv + nl > RAFT_MAX_NODES)
        return -1;
    c->n_voters = nv;
    c->n_learners = nl;
    for (uint32_t i = 0; i < nv; i++) c->voters[i] = r_u64(r);
    for (uint32_t i = 0; i < nl; i++) c->learners[i] = r_u64(r);
    if (r->bad) return -1;
    for (uint32_t i = 0; i < nv + nl; i++) {
        uint64_t id = i < nv ? c->voters[i] : c->learners[i - nv];
        if (id == 0) return -1;
        for (uint32_t j = 0; j < i; j++)
            if ((j < nv ? c->voters[j] : c->learners[j - nv]) == id) return -1;
    }
    return 0;
}

void raft_conf_encode(const struct raft_conf *c, uint8_t **out, uint32_t *out_len)
{
    struct wbuf w = {0};
    w_conf(&w, c);
    *out = w.p;
    *out_len = (uint32_t)w.len;
}

int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c)
{
    struct rbuf r = {buf, len, 0};
    if (!buf || r_conf(&r, c) != 0 || r.left != 0) return RAFT_ECORRUPT;
    return 0;
}

/* ------------------------------------------------------------------ messages */

#define ENTRY_HDR 21 /* term, index, type, len */

void raft_msg_encode(const struct raft_msg *m, uint8_t **out, size_t *out_len)
{
    struct wbuf w = {0};
    size_t need = 8 + 80 + (size_t)m->n_entries * ENTRY_HDR;
    for (uint32_t i = 0; i < m->n_entries; i++) need += m->entries[i].len;
    if (m->type == RAFT_MSG_SNAPSHOT) need += 300 + m->snap_len;
    w_reserve(&w, need);
    w.len = 8; /* frame header, filled below */
    w_u8(&w, m->type);
    w_u8(&w, m->flags);
    w_u64(&w, m->from);
    w_u64(&w, m->to);
    w_u64(&w, m->term);
    w_u64(&w, m->log_term);
    w_u64(&w, m->index);
    w_u64(&w, m->commit);
    w_u64(&w, m->hint);
    w_u64(&w, m->ctx);
    w_u32(&w, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        w_u64(&w, e->term);
        w_u64(&w, e->index);
        w_u8(&w, e->type);
        w_u32(&w, e->len);
        w_bytes(&w, e->data, e->len);
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        w_u64(&w, m->snap.index);
        w_u64(&w, m->snap.term);
        w_conf(&w, &m->snap.conf);
        w_u64(&w, m->snap_total);
        w_u32(&w, m->snap_len);
        w_bytes(&w, m->snap_data, m->snap_len);
    }
    size_t plen = w.len - 8;
    RAFT_ASSERT(plen <= RAFT_MAX_FRAME);
    uint32_t crc = raft_crc32c(0, w.p + 8, plen);
    for (int i = 0; i < 4; i++) {
        w.p[i] = (uint8_t)(plen >> (8 * i));
        w.p[4 + i] = (uint8_t)(crc >> (8 * i));
    }
    *out = w.p;
    *out_len = w.len;
}

void raft_msg_fini(struct raft_msg *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->n_entries && m->entries; i++) free(m->entries[i].data);
    free(m->entries);
    free(m->snap_data);
    memset(m, 0, sizeof(*m));
}

long raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (len < 8) return RAFT_ESHORT;
    uint32_t plen = get_u32(buf), crc = get_u32(buf + 4);
    if (plen > RAFT_MAX_FRAME) return RAFT_ECORRUPT;
    if (len - 8 < plen) return RAFT_ESHORT;
    if (raft_crc32c(0, buf + 8, plen) != crc) return RAFT_ECORRUPT;
    struct rbuf r = {buf + 8, plen, 0};
    m->type = r_u8(&r);
    m->flags = r_u8(&r);
    m->from = r_u64(&r);
    m->to = r_u64(&r);
    m->term = r_u64(&r);
    m->log_term = r_u64(&r);
    m->index = r_u64(&r);
    m->commit = r_u64(&r);
    m->hint = r_u64(&r);
    m->ctx = r_u64(&r);
    uint32_t n = r_u32(&r);
    if (r.bad || m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TYPE_MAX ||
        (m->flags & ~(RAFT_MSG_FLAG_REJECT | RAFT_MSG_FLAG_TRANSFER)))
        goto bad;
    if (n > r.left / ENTRY_HDR) goto bad;
    if (n && m->type != RAFT_MSG_APPEND) goto bad;
    if (n && m->index > UINT64_MAX - n) goto bad;
    if (n) m->entries = raft_xcalloc(n, sizeof(*m->entries));
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &m->entries[i];
        m->n_entries = i + 1;
        e->term = r_u64(&r);
        e->index = r_u64(&r);
        e->type = r_u8(&r);
        e->len = r_u32(&r);
        if (r.bad || e->type > RAFT_ENTRY_CONF || e->len > r.left) goto bad;
        /* Only what a leader sends, since a node appends it as it is:
         * entries numbered on from index, their terms never going back
         * (from log_term) nor past the message's, and configurations that
         * decode. Anything else would break an invariant the node
         * asserts (entries appended in order, a configuration entry
         * readable). */
        uint64_t prev_term = i ? m->entries[i - 1].term : m->log_term;
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term) goto bad;
        if (e->len) {
            e->data = raft_xmalloc(e->len);
            r_bytes(&r, e->data, e->len);
        }
        struct raft_conf conf;
        if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(e->data, e->len, &conf) != 0) goto bad;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        m->snap.index = r_u64(&r);
        m->snap.term = r_u64(&r);
        if (r_conf(&r, &m->snap.conf) != 0) goto bad;
        m->snap_total = r_u64(&r);
        m->snap_len = r_u32(&r);
        if (r.bad || m->snap_len > r.left || m->ctx > m->snap_total ||
            m->snap_len > m->snap_total - m->ctx || m->snap.term > m->term)
            goto bad;
        if (m->snap_len) {
            m->snap_data = raft_xmalloc(m->snap_len);
            r_bytes(&r, m->snap_data, m->snap_len);
        }
    }
    if (r.bad || r.left != 0) goto bad;
    return (long)plen + 8;
bad:
    raft_msg_fini(m);
    return RAFT_ECORRUPT;
}
