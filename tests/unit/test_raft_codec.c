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
