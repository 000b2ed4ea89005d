/* libFuzzer target: the store's command path, prepare and apply, with
 * apply's determinism as the oracle.
 *
 * An input is a list of lines. A line's first byte picks a command of the
 * store's table (store/cmds.h, so every command is one byte away) and the
 * rest, split at spaces, are its arguments; a few first bytes are controls:
 *   0xff  the rest of the line is applied as a raw entry (malformed entries
 *         must be refused, never crash);
 *   0xfe  commit the open write transaction;
 *   0xfd  begin a MULTI: later commands are queued ...
 *   0xfc  ... until EXEC applies them as one entry;
 *   0xfb  advance the clock by the next byte's worth of seconds (expiry).
 * Store A prepares and applies every command, as the single-node path does
 * (reads and prepares inside the open transaction, blocked pops served when
 * a push makes their list ready); store B applies only the entries A
 * produced, as a replica would. Every entry must give B the same result and
 * reply as A, and at the end of the input both stores must dump the same
 * bytes: apply is a pure function of (state, entry). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* LMDB 0.9.24 (Debian 12) never frees a write transaction's spill list:
 * a transaction that may dirty more pages than LMDB keeps in memory (one
 * value of 256 MB or more, a SETRANGE far into a string) leaks 1 MB, on
 * commit or abort. Not ours to fix; see docs/ARCHITECTURE.md. */
const char *__lsan_default_suppressions(void)
{
    return "leak:mdb_midl_alloc\n";
}

static const char *const commands[] = {
#define STORE_CMD(n, a, c, f) #n,
#include "store/cmds.h"
#undef STORE_CMD
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

#define MAX_ARGS 64
#define MAX_BLOCKED 4
#define MAX_QUEUED 16

struct argv {
    int argc;
    char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
};

static struct store *a, *b;
static struct store_txn *ta, *tb;
static uint64_t now, seed;
static struct resp_buf entry, reply_a, reply_b, scratch;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_store_apply: %s\n", what);
    abort();
}

static uint64_t next_seed(void)
{
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed;
}

static char dir[] = "/tmp/fuzz-store.XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* At exit (libFuzzer ends a run with exit()): the stores' files go too. */
static void stores_remove(void)
{
    store_close(a);
    store_close(b);
    nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void stores_open(void)
{
    char path[64], err[256];
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp");
    atexit(stores_remove);
    struct store **s[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%c", dir, 'a' + i);
        mkdir(path, 0700);
        /* A small map: map-full is a path worth fuzzing too. */
        if (store_open(s[i], path, (size_t)32 << 20, STORE_NOSYNC, err, sizeof(err)) != 0)
            fail(err);
        /* Every keyspace event: the two stores must tell the same ones. */
        store_set_events(*s[i], (unsigned)store_events_parse("KEAnm", 5));
    }
}

static void event_cat(void *arg, const char *event, const char *key, size_t klen)
{
    struct resp_buf *out = arg;
    resp_add_bulk(out, event, strlen(event));
    resp_add_bulk(out, key, klen);
}

/* The events each store recorded, compared and then forgotten. */
static void events_compare(void)
{
    static struct resp_buf ea, eb;
    resp_buf_reset(&ea);
    resp_buf_reset(&eb);
    store_events_each(a, 0, store_events_mark(a), event_cat, &ea);
    store_events_each(b, 0, store_events_mark(b), event_cat, &eb);
    if (ea.len != eb.len || (ea.len && memcmp(ea.data, eb.data, ea.len) != 0))
        fail("keyspace events differ between the stores");
    store_events_clear(a, 0);
    store_events_clear(b, 0);
}

static void begin(void)
{
    if (ta)
        return;
    if (store_txn_begin(a, &ta) != 0 || store_txn_begin(b, &tb) != 0)
        fail("txn begin");
}

static void commit(void)
{
    if (!ta)
        return;
    int ra = store_txn_commit(ta), rb = store_txn_commit(tb);
    ta = tb = NULL;
    if (ra != rb)
        fail("commit results differ");
}

/* Applies the entry in `entry` to both stores; A's reply goes to ra. */
static int apply_both(struct resp_buf *ra, int *blocked)
{
    resp_buf_reset(&reply_b);
    size_t before = ra->len;
    int blocked_b = 0;
    *blocked = 0;
    int rca = store_txn_apply(ta, 0, entry.data, entry.len, ra, blocked);
    int rcb = store_txn_apply(tb, 0, entry.data, entry.len, &reply_b, &blocked_b);
    if (rca != rcb || *blocked != blocked_b)
        fail("apply results differ between the stores");
    if (ra->len - before != reply_b.len ||
        (reply_b.len > 0 && memcmp(ra->data + before, reply_b.data, reply_b.len) != 0))
        fail("apply replies differ between the stores");
    events_compare();
    return rca;
}

/* Blocked pops wait here, as the node keeps them, until a push serves them. */
static struct argv blocked[MAX_BLOCKED];
static int nblocked;

/* Tries every blocked pop again; the served ones leave the list. */
static void serve_blocked(void)
{
    int j = 0;
    for (int i = 0; i < nblocked; i++) {
        struct argv *w = &blocked[i];
        resp_buf_reset(&entry);
        resp_buf_reset(&scratch);
        int was_blocked = 1;
        if (store_txn_prepare(ta, w->argc, w->argv, w->len, now, next_seed(), &entry,
                              &scratch) == 1 &&
            apply_both(&scratch, &was_blocked) != 0)
            was_blocked = 1;
        if (was_blocked)
            blocked[j++] = *w;
    }
    nblocked = j;
}

static void note_key(void *arg, const char *key, size_t klen)
{
    (void)key;
    (void)klen;
    if (arg)
        *(int *)arg = 1;
}

/* As the node does after each write: serve the pops while pushes (a served
 * BLMOVE pushes too) make lists ready, and drain the deleted keys (WATCH's
 * business, not this target's). */
static void serve_ready(void)
{
    for (;;) {
        int ready = 0;
        store_txn_ready_keys(ta, note_key, &ready);
        if (!ready || nblocked == 0)
            break;
        serve_blocked();
    }
    store_txn_deleted_keys(ta, note_key, NULL);
}

/* The command's class, or STORE_CLASS_UNKNOWN also when its arity is wrong
 * (the error goes to reply). */
static int command_class(struct argv *c, struct resp_buf *reply)
{
    unsigned flags;
    int cls = store_command_class(c->argv[0], c->len[0], &flags);
    if (cls != STORE_CLASS_UNKNOWN &&
        store_command_check_arity(c->argc, c->argv, c->len, reply))
        return STORE_CLASS_UNKNOWN;
    return cls;
}

static void run_command(struct argv *c)
{
    resp_buf_reset(&reply_a);
    int cls = command_class(c, &reply_a);
    if (cls == STORE_CLASS_UNKNOWN)
        return;
    begin();
    if (cls == STORE_CLASS_READ) {
        int rc = store_txn_read(ta, c->argc, c->argv, c->len, now, &reply_a);
        store_events_clear(a, 0); /* a read runs on A alone */
        if (rc != STORE_EWRITE)
            return;
    }
    resp_buf_reset(&entry);
    if (store_txn_prepare(ta, c->argc, c->argv, c->len, now, next_seed(), &entry, &reply_a) != 1)
        return;
    int was_blocked;
    if (apply_both(&reply_a, &was_blocked) != 0)
        return;
    if (was_blocked && nblocked < MAX_BLOCKED)
        blocked[nblocked++] = *c; /* the line's bytes outlive the input's run */
    serve_ready();
}

static void run_exec(struct argv *queued, int n)
{
    begin();
    resp_buf_reset(&entry);
    store_prepare_exec_begin(a, now, next_seed(), &entry);
    if (n > 0 && queued[0].argc > 1)
        store_prepare_exec_watch(&entry, queued[0].argv[1], queued[0].len[1],
                                 store_txn_key_version(ta, queued[0].argv[1], queued[0].len[1]));
    for (int i = 0; i < n; i++)
        store_prepare_exec_cmd(&entry, queued[i].argc, queued[i].argv, queued[i].len);
    store_prepare_exec_end(&entry);
    resp_buf_reset(&reply_a);
    int was_blocked;
    if (apply_both(&reply_a, &was_blocked) == 0)
        serve_ready();
}

/* Splits line (len bytes, NUL-terminated copy owned by the caller) into c:
 * the command picked by the first byte, then space-separated arguments. */
static void split(char *line, size_t len, struct argv *c)
{
    c->argc = 1;
    c->argv[0] = (char *)commands[(uint8_t)line[0] % NCOMMANDS];
    /* PFSELFTEST touches no key and adds ten million elements: nothing to
     * fuzz, and seconds of each run under ASan. */
    if (strcmp(c->argv[0], "pfselftest") == 0)
        c->argv[0] = "pfcount";
    c->len[0] = strlen(c->argv[0]);
    size_t i = 1;
    while (i < len && c->argc < MAX_ARGS) {
        size_t j = i;
        while (j < len && line[j] != ' ')
            j++;
        line[j] = 0;
        c->argv[c->argc] = line + i;
        c->len[c->argc] = j - i;
        c->argc++;
        i = j + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!a) {
        stores_open();
        now = 1700000000000ULL;
    }
    /* Each input starts from empty stores. */
    begin();
    char flushall[] = "flushall";
    struct argv fa = {1, {flushall}, {8}};
    resp_buf_reset(&entry);
    resp_buf_reset(&reply_a);
    int was_blocked;
    if (store_txn_prepare(ta, fa.argc, fa.argv, fa.len, now, 0, &entry, &reply_a) == 1)
        apply_both(&reply_a, &was_blocked);
    commit();
    nblocked = 0;

    /* One copy of the input, its lines NUL-split in place; blocked commands
     * point into it, so it lives until the next input. */
    static char *copy;
    free(copy);
    copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = 0;

    struct argv queued[MAX_QUEUED];
    int nqueued = 0, in_multi = 0;
    size_t pos = 0;
    while (pos < size) {
        size_t end = pos;
        while (end < size && copy[end] != '\n')
            end++;
        copy[end] = 0;
        char *line = copy + pos;
        size_t len = end - pos;
        pos = end + 1;
        if (len == 0)
            continue;
        switch ((uint8_t)line[0]) {
        case 0xff:
            begin();
            resp_buf_reset(&entry);
            resp_buf_append(&entry, line + 1, len - 1);
            resp_buf_reset(&reply_a);
            apply_both(&reply_a, &was_blocked);
            continue;
        case 0xfe:
            commit();
            continue;
        case 0xfd:
            in_multi = 1;
            nqueued = 0;
            continue;
        case 0xfc:
            if (in_multi)
                run_exec(queued, nqueued);
            in_multi = 0;
            continue;
        case 0xfb:
            now += 1000ULL * (len > 1 ? (uint8_t)line[1] : 1);
            continue;
        }
        struct argv c;
        split(line, len, &c);
        if (in_multi) {
            resp_buf_reset(&scratch);
            if (nqueued < MAX_QUEUED && command_class(&c, &scratch) != STORE_CLASS_UNKNOWN)
                queued[nqueued++] = c;
        } else {
            run_command(&c);
        }
    }
    commit();

    struct resp_buf da, db;
    resp_buf_init(&da);
    resp_buf_init(&db);
    if (store_dump(a, &da) != 0 || store_dump(b, &db) != 0)
        fail("dump");
    if (da.len != db.len || memcmp(da.data, db.data, da.len) != 0)
        fail("the stores differ after applying the same entries");
    resp_buf_fini(&da);
    resp_buf_fini(&db);
    return 0;
}
