/* libFuzzer target: RESTORE of any payload. The input is a payload's value
 * (the RDB type byte and the object); the version and the checksum are put
 * after it here, since random bytes never carry a right CRC64. RESTORE must
 * refuse what it cannot read, without crashing or writing anything, and
 * take what store_dump_payload_check takes; what it took, DUMP gives back
 * in a form that RESTORE takes again and DUMP then repeats byte for byte. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *s;
static char dir[] = "/tmp/fuzz-dump.XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (s)
        store_close(s);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_dump_payload: %s\n", what);
    abort();
}

/* Runs one command against the store (a write through an entry); returns
 * what the apply did (STORE_ETOOBIG: a member too long for the store). */
static int run(int argc, char **argv, size_t *len, struct resp_buf *reply)
{
    resp_buf_reset(reply);
    int cls = store_command_class(argv[0], len[0], NULL);
    if (cls == STORE_CLASS_READ) {
        int rc = store_read(s, argc, argv, len, 1000, reply);
        if (rc == 0)
            return 0;
        if (rc != STORE_EWRITE) /* (a key found expired: as a write) */
            fail("read");
    }
    struct resp_buf e;
    resp_buf_init(&e);
    int rc = 0;
    if (store_prepare(s, argc, argv, len, 1000, 1, &e, reply) == 1) {
        struct store_txn *t;
        if (store_txn_begin(s, &t) != 0)
            fail("txn begin");
        rc = store_txn_apply(t, 0, e.data, e.len, reply, NULL);
        if (store_txn_commit(t) != 0)
            fail("commit");
        if (rc != 0 && rc != STORE_ETOOBIG)
            fail("apply");
    }
    resp_buf_fini(&e);
    return rc;
}

/* The payload a DUMP reply holds ($n\r\n...\r\n), into out. */
static int dump(const char *key, struct resp_buf *out)
{
    char *argv[] = {"DUMP", (char *)key};
    size_t len[] = {4, strlen(key)};
    struct resp_buf r;
    resp_buf_init(&r);
    run(2, argv, len, &r);
    int ok = r.len > 5 && r.data[0] == '$' && r.data[1] != '-';
    if (ok) {
        const char *nl = memchr(r.data, '\n', r.len);
        size_t at = (size_t)(nl - r.data) + 1;
        resp_buf_reset(out);
        resp_buf_append(out, r.data + at, r.len - at - 2);
    }
    resp_buf_fini(&r);
    return ok;
}

/* 1 taken, 0 refused, -1 a member too long for the store. */
static int restore(const char *key, const void *p, size_t n)
{
    char *argv[] = {"RESTORE", (char *)key, "0", (char *)p, "REPLACE"};
    size_t len[] = {7, strlen(key), 1, n, 7};
    struct resp_buf r;
    resp_buf_init(&r);
    int rc = run(5, argv, len, &r);
    int ok = rc == STORE_ETOOBIG ? -1 : r.len >= 3 && memcmp(r.data, "+OK", 3) == 0;
    resp_buf_fini(&r);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16))
        return 0;
    if (s == NULL) {
        char err[256];
        if (mkdtemp(dir) == NULL)
            fail("mkdtemp");
        atexit(remove_dir);
        if (store_open(&s, dir, (size_t)64 << 20, STORE_NOSYNC, err, sizeof(err)) != 0)
            fail(err);
    }
    unsigned char *p = malloc(size + 10);
    memcpy(p, data, size);
    p[size] = 10; /* RDB version 10 */
    p[size + 1] = 0;
    store_put_u64(p + size + 2, store_crc64(0, p, size + 2));
    int check = store_dump_payload_check(p, size + 10);
    int took = restore("k", p, size + 10);
    free(p);
    if (took != -1 && took != (check == 0))
        fail("RESTORE and the payload check disagree");
    if (took != 1)
        return 0;
    struct resp_buf a, b;
    resp_buf_init(&a);
    resp_buf_init(&b);
    if (!dump("k", &a) || restore("k2", a.data, a.len) != 1 || !dump("k2", &b))
        fail("DUMP of a restored value does not restore");
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail("DUMP, RESTORE, DUMP changed the payload");
    resp_buf_fini(&a);
    resp_buf_fini(&b);
    return 0;
}
