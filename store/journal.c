/* The journal: what makes a turn's writes durable with one sync.
 *
 * With `sync` on, a turn's entries are appended to this file as one record
 * and fdatasync'ed before their clients hear back, as Redis's AOF is under
 * `appendfsync always`. The entries are applied in LMDB too, but in a
 * transaction (jtxn) that stays open across turns: LMDB's files change only
 * at a checkpoint, when jtxn commits with LMDB's two ordered syncs, so what
 * they hold is always a whole commit. A durable LMDB commit per turn would
 * write every page the turn touched and sync twice; here a page that many
 * turns touch is written once per checkpoint.
 *
 * Recovery: LMDB opens at its last checkpoint, whose meta records the
 * checkpoint's number (epoch); the journal's records of that epoch are
 * exactly what was acknowledged since, and are applied again (apply is a
 * pure function of state and entry). A checkpoint raises the epoch in the
 * same commit and starts writing the journal from its beginning again, so
 * the records before it, still in the file, no longer count.
 *
 * Record: magic(4) crc32c(4) epoch(8) first index(8) count(8) length(8)
 * keep(8), then the entries, each as a u64 length and its bytes; the crc
 * covers everything after itself. keep is the turn's Raft log compaction
 * setting (store_txn_log_applied), so that a replay compacts as it did. Replay stops at the first record that is not
 * whole (a torn write, never acknowledged) or not of the epoch. */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define JOURNAL_FILE "journal"
#define JOURNAL_MAGIC 0x4a595246u /* "FRYJ" */
#define JOURNAL_HDR 48
/* Zero-filled ahead of the records, so that a record's sync writes data
 * blocks only, with no file-size change for the file system to journal. */
#define JOURNAL_PREALLOC ((uint64_t)4 << 20)

static uint32_t journal_crc(const unsigned char *hdr, const void *payload, size_t len)
{
    uint32_t crc = raft_crc32c(0, hdr + 8, JOURNAL_HDR - 8);
    return raft_crc32c(crc, payload, len);
}

int store_journal_open(struct store *s, const char *dir, int create, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/" JOURNAL_FILE, dir);
    s->jfd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (s->jfd < 0 && !create && errno == ENOENT)
        return 0;
    struct stat st;
    if (s->jfd < 0 || fstat(s->jfd, &st) != 0) {
        snprintf(err, errlen, "cannot open the journal %s: %s", path, strerror(errno));
        return STORE_EIO;
    }
    s->jsize = (uint64_t)st.st_size;
    if (s->jsize < JOURNAL_PREALLOC) {
        int e = store_write_zeros(s->jfd, s->jsize, JOURNAL_PREALLOC);
        if (e == 0 && fdatasync(s->jfd) != 0)
            e = errno;
        if (e == 0) {
            /* The file's name must outlive a power loss as well. */
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 || fsync(dfd) != 0)
                e = errno;
            if (dfd >= 0)
                close(dfd);
        }
        if (e != 0) {
            snprintf(err, errlen, "cannot create the journal %s: %s", path, strerror(e));
            return e == ENOSPC ? STORE_EDISK : STORE_EIO;
        }
        s->jsize = JOURNAL_PREALLOC;
    }
    return store_journal_replay(s, err, errlen);
}

int store_journal_replay(struct store *s, char *err, size_t errlen)
{
    STORE_ASSERT(s->jtxn == NULL);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read the store: %s", mdb_strerror(rc));
        return rc == MDB_PANIC ? STORE_EFATAL : STORE_EIO;
    }
    store_load_meta(s, txn);
    mdb_txn_abort(txn);
    s->jend = s->jentries = 0;
    if ((rc = store_jtxn_begin(s)) != 0) {
        snprintf(err, errlen, "cannot begin the store's transaction: %s", store_strerror(rc));
        return rc;
    }
    unsigned char hdr[JOURNAL_HDR];
    unsigned char *buf = NULL;
    rc = 0;
    while (s->jend + JOURNAL_HDR <= s->jsize) {
        if (pread(s->jfd, hdr, JOURNAL_HDR, (off_t)s->jend) != JOURNAL_HDR)
            break;
        uint64_t first = store_get_u64(hdr + 16), count = store_get_u64(hdr + 24);
        uint64_t len = store_get_u64(hdr + 32);
        if (store_get_u32(hdr) != JOURNAL_MAGIC || store_get_u64(hdr + 8) != s->jepoch ||
            len > s->jsize - s->jend - JOURNAL_HDR)
            break;
        unsigned char *nb = realloc(buf, len ? len : 1);
        STORE_ASSERT(nb != NULL);
        buf = nb;
        if (pread(s->jfd, buf, len, (off_t)(s->jend + JOURNAL_HDR)) != (ssize_t)len ||
            journal_crc(hdr, buf, len) != store_get_u32(hdr + 4))
            break; /* torn: its turn was never acknowledged */
        if (first != s->applied + 1) {
            snprintf(err, errlen, "the journal's record at byte %llu starts at entry %llu, "
                     "but the store has applied up to %llu",
                     (unsigned long long)s->jend, (unsigned long long)first,
                     (unsigned long long)s->applied);
            rc = STORE_ECORRUPT;
            break;
        }
        uint64_t at;
        if ((rc = store_apply_record(s, first, count, store_get_u64(hdr + 40), buf, len,
                                     &at)) != 0) {
            snprintf(err, errlen, "cannot apply the journal's entry %llu: %s",
                     (unsigned long long)at, store_strerror(rc));
            break;
        }
        s->jend += JOURNAL_HDR + len;
        s->jentries += count;
    }
    free(buf);
    s->jretry = 0;
    return rc;
}

int store_journal_append(struct store *s, const struct resp_buf *done, uint64_t first, uint64_t n,
                         uint64_t keep)
{
    unsigned char hdr[JOURNAL_HDR];
    store_put_u32(hdr, JOURNAL_MAGIC);
    store_put_u64(hdr + 8, s->jepoch);
    store_put_u64(hdr + 16, first);
    store_put_u64(hdr + 24, n);
    store_put_u64(hdr + 32, done->len);
    store_put_u64(hdr + 40, keep);
    store_put_u32(hdr + 4, journal_crc(hdr, done->data, done->len));
    struct iovec iov[2] = {{hdr, JOURNAL_HDR}, {done->data, done->len}};
    size_t want = JOURNAL_HDR + done->len, put = 0;
    while (put < want) {
        ssize_t w;
        if (put < JOURNAL_HDR) {
            iov[0].iov_base = hdr + put;
            iov[0].iov_len = JOURNAL_HDR - put;
            w = pwritev(s->jfd, iov, 2, (off_t)(s->jend + put));
        } else {
            w = pwrite(s->jfd, done->data + (put - JOURNAL_HDR), want - put,
                       (off_t)(s->jend + put));
        }
        if (w <= 0)
            return w < 0 ? errno : EIO;
        put += (size_t)w;
    }
    if (fdatasync(s->jfd) != 0)
        return errno;
    s->jend += want;
    s->jentries += n;
    if (s->jend > s->jsize)
        s->jsize = s->jend;
    return 0;
}

void store_journal_reset(struct store *s)
{
    s->jend = s->jentries = s->jretry = 0;
    /* A record far beyond the usual (a turn of huge values) grew the file:
     * give the room back. Unsynced, it costs nothing; if it is lost, the
     * records beyond are of an older epoch. */
    if (s->jsize > 4 * JOURNAL_PREALLOC && ftruncate(s->jfd, (off_t)JOURNAL_PREALLOC) == 0)
        s->jsize = JOURNAL_PREALLOC;
}

void store_journal_close(struct store *s)
{
    if (s->jfd >= 0)
        close(s->jfd);
    s->jfd = -1;
}
