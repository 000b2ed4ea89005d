/* libFuzzer target: the peer message decoder must reject any malformed input
 * without crashing, and whatever it accepts must re-encode to the same frame
 * and be safe to feed to a node. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct raft *node;

static void one(const uint8_t *data, size_t size);

/* Random bytes almost never carry a valid checksum, so each input is also
 * tried with its frame header fixed up: that fuzzes the payload parser. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    if (size >= 8 && size - 8 <= RAFT_MAX_FRAME) {
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        uint32_t plen = (uint32_t)(size - 8), crc = raft_crc32c(0, copy + 8, plen);
        for (int i = 0; i < 4; i++) {
            copy[i] = (uint8_t)(plen >> (8 * i));
            copy[4 + i] = (uint8_t)(crc >> (8 * i));
        }
        one(copy, size);
        free(copy);
    }
    return 0;
}

static void one(const uint8_t *data, size_t size)
{
    if (!node) {
        struct raft_config cfg;
        raft_config_default(&cfg);
        cfg.id = 1;
        cfg.bootstrap.n_voters = 3;
        cfg.bootstrap.voters[0] = 1;
        cfg.bootstrap.voters[1] = 2;
        cfg.bootstrap.voters[2] = 3;
        node = raft_new(&cfg, NULL);
    }
    struct raft_msg m;
    long rc = raft_msg_decode(data, size, &m);
    if (rc > 0) {
        uint8_t *buf;
        size_t len;
        raft_msg_encode(&m, &buf, &len);
        if (len != (size_t)rc || memcmp(buf, data, len) != 0) abort();
        free(buf);
        /* Any decoded message, however odd, must be safe to step. */
        raft_step(node, &m);
        while (raft_has_ready(node)) {
            struct raft_ready rd;
            raft_ready(node, &rd);
            raft_advance(node);
        }
        raft_msg_fini(&m);
    } else if (rc != RAFT_ESHORT && rc != RAFT_ECORRUPT) {
        abort();
    }
}
