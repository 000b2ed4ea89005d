/* Message encoding: round trips, and every damaged frame is rejected. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

static struct raft_msg sample(void)
{
    static uint8_t d1[] = "first", d2[] = "second entry";
    static struct raft_entry ents[2];
    ents[0] = (struct raft_entry){.term = 3, .index = 11, .type = RAFT_ENTRY_NORMAL, .len = 5, .data = d1};
    ents[1] = (struct raft_entry){.term = 4, .index = 12, .type = RAFT_ENTRY_NORMAL, .len = 12, .data = d2};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 4, .log_term = 3,
                         .index = 10, .commit = 9, .n_entries = 2, .entries = ents};
    return m;
}

Test(raft_codec, append_round_trips)
{
    struct raft_msg m = sample(), d;
    uint8_t *buf;
    size_t len;
    raft_msg_encode(&m, &buf, &len);
    cr_assert_eq(raft_msg_decode(buf, len, &d), (long)len);
    cr_assert_eq(d.type, m.type);
    cr_assert_eq(d.term, 4);
    cr_assert_eq(d.index, 10);
    cr_assert_eq(d.n_entries, 2);
    cr_assert_eq(d.entries[1].len, 12);
    cr_assert(memcmp(d.entries[1].data, "second entry", 12) == 0);
    raft_msg_fini(&d);
    free(buf);
}

/* Whether the sample, changed by `change`, still decodes. */
static long decode_changed(void (*change)(struct raft_msg *))
{
    struct raft_msg m = sample(), d;
    struct raft_entry ents[2] = {m.entries[0], m.entries[1]};
    m.entries = ents;
    change(&m);
    uint8_t *buf;
    size_t len;
    raft_msg_encode(&m, &buf, &len);
    long rc = raft_msg_decode(buf, len, &d);
    if (rc > 0)
        raft_msg_fini(&d);
    free(buf);
    return rc;
}

static void index_gap(struct raft_msg *m) { m->entries[1].index = 13; }
static void index_not_next(struct raft_msg *m) { m->entries[0].index = 10; }
static void index_wraps(struct raft_msg *m)
{
    m->index = UINT64_MAX;
    m->entries[0].index = 0;
    m->entries[1].index = 1;
}
static void term_goes_back(struct raft_msg *m) { m->entries[1].term = 2; }
static void term_below_log_term(struct raft_msg *m) { m->entries[0].term = 2; }
static void term_past_message(struct raft_msg *m) { m->entries[1].term = 5; }
static void conf_unreadable(struct raft_msg *m) { m->entries[0].type = RAFT_ENTRY_CONF; }
static void conf_readable(struct raft_msg *m)
{
    static uint8_t *buf;
    uint32_t len;
    struct raft_conf c = {.n_voters = 2, .voters = {1, 2}};
    free(buf);
    raft_conf_encode(&c, &buf, &len);
    m->entries[0] = (struct raft_entry){.term = 3, .index = 11, .type = RAFT_ENTRY_CONF,
                                        .len = len, .data = buf};
}

/* An append no leader could send is refused as corrupt, whatever its
 * checksum says: a node appends entries as they come, and asserts they are
 * numbered on from its log's end and that a configuration entry reads (a
 * fuzzed frame with index UINT64_MAX and an entry numbered 0 stopped one). */
Test(raft_codec, appends_no_leader_could_send_are_rejected)
{
    cr_assert_gt(decode_changed(conf_readable), 0);
    cr_assert_eq(decode_changed(index_gap), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(index_not_next), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(index_wraps), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(term_goes_back), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(term_below_log_term), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(term_past_message), RAFT_ECORRUPT);
    cr_assert_eq(decode_changed(conf_unreadable), RAFT_ECORRUPT);
}

Test(raft_codec, snapshot_chunk_round_trips)
{
    uint8_t chunk[100];
    memset(chunk, 7, sizeof(chunk));
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 3, .to = 1, .term = 9, .ctx = 200,
                         .snap_total = 1000, .snap_len = 100, .snap_data = chunk};
    m.snap.index = 50;
    m.snap.term = 8;
    m.snap.conf.n_voters = 2;
    m.snap.conf.voters[0] = 1;
    m.snap.conf.voters[1] = 3;
    m.snap.conf.n_learners = 1;
    m.snap.conf.learners[0] = 5;
    uint8_t *buf;
    size_t len;
    raft_msg_encode(&m, &buf, &len);
    struct raft_msg d;
    cr_assert_eq(raft_msg_decode(buf, len, &d), (long)len);
    cr_assert_eq(d.snap.index, 50);
    cr_assert_eq(d.snap.conf.learners[0], 5);
    cr_assert_eq(d.snap_len, 100);
    cr_assert(memcmp(d.snap_data, chunk, 100) == 0);
    raft_msg_fini(&d);
    free(buf);
    /* Nor can a snapshot be of a term later than its sender's. */
    m.snap.term = 10;
    raft_msg_encode(&m, &buf, &len);
    cr_assert_eq(raft_msg_decode(buf, len, &d), RAFT_ECORRUPT);
    free(buf);
}

Test(raft_codec, every_truncation_and_bit_flip_is_rejected)
{
    struct raft_msg m = sample(), d;
    uint8_t *buf;
    size_t len;
    raft_msg_encode(&m, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        long rc = raft_msg_decode(buf, n, &d);
        cr_assert(rc == RAFT_ESHORT || rc == RAFT_ECORRUPT, "prefix %zu: %ld", n, rc);
    }
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1 << bit);
            long rc = raft_msg_decode(buf, len, &d);
            cr_assert(rc < 0, "flip at byte %zu bit %d accepted", i, bit);
            buf[i] ^= (uint8_t)(1 << bit);
        }
    }
    free(buf);
}

Test(raft_codec, counts_beyond_the_frame_are_rejected_before_allocating)
{
    /* A valid checksum over a payload that claims 2^32-1 entries. */
    uint8_t payload[2 + 8 * 8 + 4];
    memset(payload, 0, sizeof(payload));
    payload[0] = RAFT_MSG_APPEND;
    memset(payload + 2 + 64, 0xff, 4);
    uint8_t frame[8 + sizeof(payload)];
    uint32_t plen = sizeof(payload), crc = raft_crc32c(0, payload, sizeof(payload));
    memcpy(frame, &plen, 4);
    memcpy(frame + 4, &crc, 4);
    memcpy(frame + 8, payload, sizeof(payload));
    struct raft_msg d;
    cr_assert_eq(raft_msg_decode(frame, sizeof(frame), &d), RAFT_ECORRUPT);
}

Test(raft_codec, crc32c_matches_the_standard_check_value)
{
    cr_assert_eq(raft_crc32c(0, "123456789", 9), 0xe3069283u);
}

Test(raft_codec, configurations_round_trip_and_duplicates_are_rejected)
{
    struct raft_conf c = {.n_voters = 2, .voters = {4, 9}, .n_learners = 1, .learners = {2}}, d;
    uint8_t *buf;
    uint32_t len;
    raft_conf_encode(&c, &buf, &len);
    cr_assert_eq(raft_conf_decode(buf, len, &d), 0);
    cr_assert_eq(d.voters[1], 9);
    cr_assert_eq(raft_conf_decode(buf, len - 1, &d), RAFT_ECORRUPT);
    free(buf);
    c.learners[0] = 4;
    raft_conf_encode(&c, &buf, &len);
    cr_assert_eq(raft_conf_decode(buf, len, &d), RAFT_ECORRUPT);
    free(buf);
}
