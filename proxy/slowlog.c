/* SLOWLOG when ferry serves from its own store (phase raft-only; in phase
 * redis the command goes to the upstream, whose log it is).
 *
 * As Redis 7.0 keeps it: the newest `slowlog-max-len` commands that took at
 * least `slowlog-log-slower-than` microseconds, newest first, each with a
 * unique id, the Unix time it was logged, its duration, its arguments (at
 * most 32, each cut at 128 bytes, passwords shown as "(redacted)"), and
 * the client's address and name. The log is trimmed as entries are added,
 * so a smaller max-len takes effect with the next slow command, and RESET
 * empties it without restarting the ids. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/core.h"
#include "resp/resp.h"

#define SLOWLOG_MAX_ARGC 32
#define SLOWLOG_MAX_STRING 128

struct slowlog_entry {
    struct slowlog_entry *newer, *older;
    long long id;
    long long time;     /* Unix seconds */
    long long duration; /* microseconds */
    int argc;
    char **argv;        /* into the same allocation */
    size_t *len;
    char *addr, *name;
};

static struct {
    struct slowlog_entry *newest, *oldest;
    long long n;
    long long next_id;
} sl;

/* Which argument Redis shows as "(redacted)": AUTH's all, HELLO's after
 * AUTH (its user and password), and the values CONFIG SET gives to
 * credentials (Redis's masteruser and masterauth are ferry's upstream-user
 * and upstream-password). */
int proxy_arg_redacted(int argc, char **argv, const size_t *len, int i)
{
    if (i == 0)
        return 0;
    if (proxy_arg_is(argv[0], len[0], "auth"))
        return 1;
    if (proxy_arg_is(argv[0], len[0], "config"))
        return i >= 3 && i % 2 == 1 && proxy_arg_is(argv[1], len[1], "set") &&
               (proxy_arg_is(argv[i - 1], len[i - 1], "requirepass") ||
                proxy_arg_is(argv[i - 1], len[i - 1], "upstream-password") ||
                proxy_arg_is(argv[i - 1], len[i - 1], "upstream-user"));
    if (!proxy_arg_is(argv[0], len[0], "hello"))
        return 0;
    for (int j = 2; j < i && j < argc; j++)
        if (proxy_arg_is(argv[j], len[j], "auth") && i <= j + 2 && argc - 1 - j >= 2)
            return 1;
    return 0;
}

static void slowlog_drop_oldest(void)
{
    struct slowlog_entry *e = sl.oldest;
    sl.oldest = e->newer;
    if (sl.oldest)
        sl.oldest->older = NULL;
    else
        sl.newest = NULL;
    sl.n--;
    free(e);
}

/* The argument as the log keeps it, written to dst if not NULL; returns
 * its length. */
static size_t slowlog_arg(int argc, char **argv, const size_t *len, int i, char *dst)
{
    char tail[64];
    const char *src = argv[i];
    size_t keep = len[i];
    int t = 0;
    if (argc > SLOWLOG_MAX_ARGC && i == SLOWLOG_MAX_ARGC - 1) {
        keep = 0;
        t = snprintf(tail, sizeof(tail), "... (%d more arguments)", argc - SLOWLOG_MAX_ARGC + 1);
    } else if (proxy_arg_redacted(argc, argv, len, i)) {
        src = "(redacted)";
        keep = strlen(src);
    } else if (keep > SLOWLOG_MAX_STRING) {
        t = snprintf(tail, sizeof(tail), "... (%zu more bytes)", keep - SLOWLOG_MAX_STRING);
        keep = SLOWLOG_MAX_STRING;
    }
    if (dst) {
        memcpy(dst, src, keep);
        memcpy(dst + keep, tail, (size_t)t);
    }
    return keep + (size_t)t;
}

void proxy_slowlog_push(const struct proxy_config *cfg, const char *addr, const char *name,
                        int argc, char **argv, const size_t *len, uint64_t usec)
{
    if (cfg->slowlog_log_slower_than < 0 || usec < (uint64_t)cfg->slowlog_log_slower_than ||
        argc < 1)
        return;
    int n = argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : argc;
    if (name == NULL)
        name = "";
    size_t bytes = sizeof(struct slowlog_entry) + (size_t)n * (sizeof(char *) + sizeof(size_t)) +
                   strlen(addr) + 1 + strlen(name) + 1;
    for (int i = 0; i < n; i++)
        bytes += slowlog_arg(argc, argv, len, i, NULL);
    struct slowlog_entry *e = malloc(bytes);
    if (e == NULL)
        abort();
    e->id = sl.next_id++;
    e->time = (long long)time(NULL);
    e->duration = (long long)usec;
    e->argc = n;
    e->argv = (char **)(e + 1);
    e->len = (size_t *)(e->argv + n);
    char *p = (char *)(e->len + n);
    for (int i = 0; i < n; i++) {
        e->argv[i] = p;
        e->len[i] = slowlog_arg(argc, argv, len, i, p);
        p += e->len[i];
    }
    e->addr = strcpy(p, addr);
    e->name = strcpy(p + strlen(addr) + 1, name);
    e->older = sl.newest;
    e->newer = NULL;
    if (sl.newest)
        sl.newest->newer = e;
    else
        sl.oldest = e;
    sl.newest = e;
    sl.n++;
    while (sl.n > cfg->slowlog_max_len)
        slowlog_drop_oldest();
}

void proxy_slowlog_reset(void)
{
    while (sl.oldest)
        slowlog_drop_oldest();
}

static const char *const slowlog_help[] = {
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
};

void proxy_slowlog_command(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    if (resp_subcommand_check("slowlog", argc, argv, len, out) == NULL) {
        return;
    } else if (argc == 2 && proxy_arg_is(argv[1], len[1], "help")) {
        resp_add_help(out, slowlog_help, sizeof(slowlog_help) / sizeof(slowlog_help[0]));
    } else if (argc == 2 && proxy_arg_is(argv[1], len[1], "reset")) {
        proxy_slowlog_reset();
        resp_add_simple(out, "OK");
    } else if (argc == 2 && proxy_arg_is(argv[1], len[1], "len")) {
        resp_add_int(out, sl.n);
    } else if ((argc == 2 || argc == 3) && proxy_arg_is(argv[1], len[1], "get")) {
        long long count = 10;
        if (argc == 3) {
            if (!resp_string2ll(argv[2], len[2], &count) || count < -1 || count > LONG_MAX) {
                resp_add_error(out, "ERR count should be greater than or equal to -1");
                return;
            }
            if (count == -1)
                count = sl.n;
        }
        if (count > sl.n)
            count = sl.n;
        resp_add_array(out, count);
        struct slowlog_entry *e = sl.newest;
        for (long long k = 0; k < count; k++, e = e->older) {
            resp_add_array(out, 6);
            resp_add_int(out, e->id);
            resp_add_int(out, e->time);
            resp_add_int(out, e->duration);
            resp_add_array(out, e->argc);
            for (int i = 0; i < e->argc; i++)
                resp_add_bulk(out, e->argv[i], e->len[i]);
            resp_add_bulk_str(out, e->addr);
            resp_add_bulk_str(out, e->name);
        }
    } else {
        resp_add_subcommand_error(out, argv[1], "SLOWLOG");
    }
}
