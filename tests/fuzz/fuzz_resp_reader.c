/* libFuzzer target for the request reader and the reply scanner.
 *
 * The first input byte chooses how the rest is split into feeds; the rest
 * goes to a reader in those pieces and, whole, to a second reader. Both must
 * agree exactly (requests, wire lengths, error), since a split that changes
 * the result is a bug even when nothing crashes. Every parsed request also
 * goes through command lookup, arity and key extraction, which gives those
 * random argv. The same bytes go to the scanner, split and whole, with the
 * same rule. Build and run with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ABORT_IF(cond)                                                                    \
    do {                                                                                       \
        if (cond)                                                                              \
            abort();                                                                           \
    } while (0)

/* A running hash of everything a reader produced, so two runs compare
 * cheaply. */
struct fuzz_digest {
    uint64_t h;
    size_t nreq;
    size_t wire;
};

static void fuzz_mix(struct fuzz_digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 1099511628211ULL;
}

static void fuzz_commands(const struct resp_request *req)
{
    const struct resp_command *cmd = resp_command_lookup(req->argv[0], req->argvlen[0]);
    if (cmd == NULL)
        return;
    if (cmd->nsub && req->argc > 1) {
        const struct resp_command *sub = resp_command_lookup_sub(cmd, req->argv[1], req->argvlen[1]);
        if (sub)
            cmd = sub;
    }
    int pos[8];
    int n = resp_command_keys(cmd, req->argc, req->argv, req->argvlen, pos, 8);
    FUZZ_ABORT_IF(n < 0);
    for (int i = 0; i < n && i < 8; i++)
        FUZZ_ABORT_IF(pos[i] < 1 || pos[i] >= req->argc);
}

static int fuzz_drain(struct resp_reader *r, struct fuzz_digest *d, int check_cmds)
{
    struct resp_request req;
    int rc;
    while ((rc = resp_reader_next(r, &req)) == RESP_OK) {
        FUZZ_ABORT_IF(req.argc < 1 || req.skip_len > req.wire_len);
        fuzz_mix(d, &req.argc, sizeof(req.argc));
        for (int i = 0; i < req.argc; i++) {
            FUZZ_ABORT_IF(req.argv[i][req.argvlen[i]] != '\0');
            fuzz_mix(d, &req.argvlen[i], sizeof(req.argvlen[i]));
            fuzz_mix(d, req.argv[i], req.argvlen[i]);
        }
        fuzz_mix(d, &req.wire_len, sizeof(req.wire_len));
        fuzz_mix(d, &req.inline_cmd, sizeof(req.inline_cmd));
        d->nreq++;
        d->wire += req.wire_len;
        if (check_cmds)
            fuzz_commands(&req);
    }
    return rc;
}

/* Feeds p[0..n) in pieces of `step` bytes (0: whole). */
static int fuzz_reader(const char *p, size_t n, size_t step, struct fuzz_digest *d,
                       const char **err, struct resp_reader **out)
{
    struct resp_reader *r = resp_reader_new(1 << 20);
    if (p[0] & 1)
        resp_reader_set_auth_required(r, 1);
    int rc = RESP_AGAIN;
    size_t at = 0;
    do {
        size_t k = step == 0 || n - at < step ? n - at : step;
        if (resp_reader_feed(r, p + at, k) != RESP_OK)
            abort(); /* only after an error, and we stop at the first */
        at += k;
        rc = fuzz_drain(r, d, step == 0);
    } while (rc != RESP_ERR && at < n);
    if (rc == RESP_ERR) {
        *err = resp_reader_error(r);
        FUZZ_ABORT_IF(*err == NULL);
        FUZZ_ABORT_IF(resp_reader_feed(r, "x", 1) != RESP_ERR);
    } else {
        *err = NULL;
        FUZZ_ABORT_IF(d->wire + resp_reader_pending(r) != n);
    }
    *out = r;
    return rc;
}

/* Replies found by the scanner: offsets hashed, plus the final state. */
static int fuzz_scan(const char *p, size_t n, size_t step, struct fuzz_digest *d)
{
    struct resp_scanner s;
    resp_scanner_init(&s);
    size_t at = 0;
    while (at < n) {
        size_t end = step == 0 || n - at < step ? n : at + step;
        while (at < end) {
            size_t used;
            int rc = resp_scanner_scan(&s, p + at, end - at, &used);
            FUZZ_ABORT_IF(used > end - at);
            if (rc == RESP_ERR) {
                at += used;
                fuzz_mix(d, &at, sizeof(at));
                return RESP_ERR;
            }
            at += used;
            if (rc == RESP_OK) {
                FUZZ_ABORT_IF(used == 0 || s.depth != 0);
                fuzz_mix(d, &at, sizeof(at));
                fuzz_mix(d, &s.is_error, 1);
                d->nreq++;
            } else {
                FUZZ_ABORT_IF(at != end);
            }
        }
    }
    return RESP_AGAIN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = (size_t)(data[0] >> 1) % 17 + 1; /* 1..17 bytes per feed */
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    struct fuzz_digest a = {14695981039346656037ULL, 0, 0}, b = a;
    const char *ea, *eb;
    struct resp_reader *ra, *rb;
    int rca = fuzz_reader((const char *)data, size, step, &a, &ea, &ra);
    int rcb = fuzz_reader((const char *)data, size, 0, &b, &eb, &rb);
    FUZZ_ABORT_IF(rca != rcb || a.h != b.h || a.nreq != b.nreq);
    FUZZ_ABORT_IF((ea == NULL) != (eb == NULL) || (ea && strcmp(ea, eb) != 0));
    resp_reader_free(ra);
    resp_reader_free(rb);

    struct fuzz_digest sa = {14695981039346656037ULL, 0, 0}, sb = sa;
    int sra = fuzz_scan(p, n, step, &sa);
    int srb = fuzz_scan(p, n, 0, &sb);
    FUZZ_ABORT_IF(sra != srb || sa.h != sb.h || sa.nreq != sb.nreq);
    return 0;
}
