/* Per-command figures for /metrics: requests, error replies, and how long
 * each reply took, from the read that brought the request to the moment
 * ferry had its whole reply (the upstream's round trip in phase redis; the
 * store's work and, for writes, the commit in raft-only).
 *
 * A container command's subcommands count apart, as Redis 7.0's
 * commandstats count them: CLIENT LIST is "client|list". Every command and
 * subcommand of the table has a fixed index, so recording is an array
 * update; the table of figures is allocated once, and pages of it that are
 * never touched cost no memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/core.h"
#include "resp/resp.h"

/* Upper bounds of the latency buckets, in microseconds: from a loopback
 * round trip to a blocking pop's timeout. The last bucket (+Inf) is
 * implicit. */
static const uint32_t bucket_le_us[PROXY_STAT_BUCKETS] = {
    25,    50,    100,    250,    500,    1000,    2500,    5000,     10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

/* INFO commandstats' counters, per index (see core.h). */
struct cmdrun {
    uint64_t calls, usec, rejected, failed;
    struct proxy_hist *latency; /* allocated at the command's first tracked run */
};

static struct {
    int n;                      /* indices in use: 1 (unknown) + commands + subcommands */
    int *base;                  /* per top-level command: its index */
    const char **name;          /* per index */
    struct proxy_cmdstat *stat; /* per index */
    struct cmdrun *run;         /* per index */
    uint8_t *container;         /* per index: a command with subcommands itself */
    uint32_t exec;              /* EXEC's index: its reply holds the transaction's errors */
} st;

static void stats_init(void)
{
    int n = PROXY_STAT_UNKNOWN + 1;
    for (int i = 0; i < resp_ncommands; i++)
        n += 1 + resp_commands[i].nsub;
    st.base = malloc(sizeof(*st.base) * (size_t)resp_ncommands);
    st.name = malloc(sizeof(*st.name) * (size_t)n);
    st.stat = calloc((size_t)n, sizeof(*st.stat));
    st.run = calloc((size_t)n, sizeof(*st.run));
    st.container = calloc((size_t)n, 1);
    PROXY_ASSERT(st.base && st.name && st.stat && st.run && st.container);
    st.name[0] = NULL;
    st.name[PROXY_STAT_UNKNOWN] = "unknown";
    int at = PROXY_STAT_UNKNOWN + 1;
    for (int i = 0; i < resp_ncommands; i++) {
        const struct resp_command *cmd = &resp_commands[i];
        st.base[i] = at;
        st.container[at] = cmd->nsub > 0;
        if (strcmp(cmd->name, "exec") == 0)
            st.exec = (uint32_t)at;
        st.name[at++] = cmd->name;
        for (int j = 0; j < cmd->nsub; j++)
            st.name[at++] = cmd->subcommands[j].name;
    }
    st.n = at;
}

uint32_t proxy_stats_index(const struct resp_command *cmd, int argc, char *const *argv,
                           const size_t *argvlen)
{
    if (st.stat == NULL)
        stats_init();
    if (cmd == NULL)
        return PROXY_STAT_UNKNOWN;
    int at = st.base[cmd - resp_commands];
    if (cmd->nsub > 0 && argc > 1) {
        const struct resp_command *sub = resp_command_lookup_sub(cmd, argv[1], argvlen[1]);
        /* An unknown subcommand is refused before it is a command at all:
         * Redis counts it in no cmdstat, only in errorstats. */
        if (sub == NULL)
            return PROXY_STAT_UNKNOWN;
        at += 1 + (int)(sub - cmd->subcommands);
    }
    return (uint32_t)at;
}

void proxy_stats_call(uint32_t idx)
{
    st.stat[idx].calls++;
}

void proxy_stats_reply(uint32_t idx, uint64_t usec, int error)
{
    struct proxy_cmdstat *s = &st.stat[idx];
    int b = 0;
    while (b < PROXY_STAT_BUCKETS && usec > bucket_le_us[b])
        b++;
    s->bucket[b]++;
    s->replies++;
    s->usec += usec;
    s->errors += error != 0;
}

/* Whether runs of idx count: Redis counts none for an unknown command or
 * subcommand (a container's own index stands for the latter). */
static int counts_runs(uint32_t idx)
{
    return idx > PROXY_STAT_UNKNOWN && !st.container[idx];
}

void proxy_stats_executed(uint32_t idx, int failed)
{
    if (!counts_runs(idx))
        return;
    st.run[idx].calls++;
    st.run[idx].failed += failed != 0;
}

void proxy_stats_failed(uint32_t idx)
{
    if (counts_runs(idx))
        st.run[idx].failed++;
}

void proxy_stats_rejected(uint32_t idx)
{
    if (idx > PROXY_STAT_UNKNOWN)
        st.run[idx].rejected++;
}

void proxy_stats_ran_for(uint32_t idx, uint64_t ns, int track)
{
    if (!counts_runs(idx))
        return;
    st.run[idx].usec += ns / 1000;
    if (!track)
        return;
    if (st.run[idx].latency == NULL)
        st.run[idx].latency = proxy_hist_new();
    proxy_hist_record(st.run[idx].latency, ns);
}

void proxy_stats_commandstats_each(void (*fn)(const char *name, uint64_t calls, uint64_t usec,
                                              uint64_t rejected, uint64_t failed, void *arg),
                                   void *arg)
{
    for (int i = PROXY_STAT_UNKNOWN + 1; i < st.n; i++) {
        const struct cmdrun *r = &st.run[i];
        if (r->calls || r->rejected || r->failed)
            fn(st.name[i], r->calls, r->usec, r->rejected, r->failed, arg);
    }
}

void proxy_stats_commandstats_reset(void)
{
    for (int i = 0; i < st.n; i++)
        proxy_hist_free(st.run[i].latency);
    if (st.run)
        memset(st.run, 0, sizeof(*st.run) * (size_t)st.n);
}

void proxy_stats_latencystats_each(void (*fn)(const char *name, const struct proxy_hist *h,
                                              void *arg),
                                   void *arg)
{
    for (int i = PROXY_STAT_UNKNOWN + 1; i < st.n; i++)
        if (st.run[i].latency)
            fn(st.name[i], st.run[i].latency, arg);
}

void proxy_stats_each(void (*fn)(const char *name, const struct proxy_cmdstat *s, void *arg),
                      void *arg)
{
    for (int i = PROXY_STAT_UNKNOWN; i < st.n; i++)
        if (st.stat[i].calls || st.stat[i].replies)
            fn(st.name[i], &st.stat[i], arg);
}

/* Error replies by their code, as Redis 7.0's errorstats count them: the
 * code is the error's first word if a space ends it within its first 32
 * bytes, else ERR; an EXEC's array counts the errors in it. Like Redis,
 * only the first ERRORSTATS_MAX codes are kept, so a client inventing codes
 * cannot grow the table; the total counts every error. Kept sorted by
 * code, INFO's order. */
#define ERRORSTATS_MAX 128
static struct errorstat {
    char code[32];
    uint64_t count;
} errs[ERRORSTATS_MAX];
static int nerrs;
static uint64_t total_errors;

static void count_error(const char *line, size_t len)
{
    const char *space = memchr(line, ' ', len < 32 ? len : 32);
    const char *code = space ? line + 1 : "ERR";
    size_t n = space ? (size_t)(space - line - 1) : 3;
    total_errors++;
    int lo = 0, hi = nerrs;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int cmp = strncmp(errs[mid].code, code, n);
        if (cmp == 0 && errs[mid].code[n] != '\0')
            cmp = 1;
        if (cmp == 0) {
            errs[mid].count++;
            return;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (nerrs == ERRORSTATS_MAX)
        return;
    memmove(&errs[lo + 1], &errs[lo], sizeof(errs[0]) * (size_t)(nerrs - lo));
    memcpy(errs[lo].code, code, n);
    errs[lo].code[n] = '\0';
    errs[lo].count = 1;
    nerrs++;
}

/* The length of the RESP line at p (without its CRLF). */
static size_t line_len(const char *p, size_t len)
{
    const char *cr = memchr(p, '\r', len);
    return cr ? (size_t)(cr - p) : len;
}

void proxy_stats_error_replies(uint32_t idx, const char *reply, size_t len)
{
    if (len == 0)
        return;
    if (reply[0] == '-') {
        count_error(reply, line_len(reply, len));
        return;
    }
    if (reply[0] != '*' || idx == 0 || idx != st.exec)
        return;
    /* EXEC's reply: an array of the transaction's replies, one level. */
    struct resp_scanner sc;
    size_t at = line_len(reply, len) + 2;
    while (at < len) {
        if (reply[at] == '-')
            count_error(reply + at, line_len(reply + at, len - at));
        size_t used;
        resp_scanner_init(&sc);
        if (resp_scanner_scan(&sc, reply + at, len - at, &used) != RESP_OK)
            return;
        at += used;
    }
}

uint64_t proxy_stats_error_total(void)
{
    return total_errors;
}

void proxy_stats_errors_each(void (*fn)(const char *code, uint64_t count, void *arg), void *arg)
{
    for (int i = 0; i < nerrs; i++)
        fn(errs[i].code, errs[i].count, arg);
}

void proxy_stats_errors_reset(void)
{
    nerrs = 0;
    total_errors = 0;
}

uint32_t proxy_stats_bucket_le_us(int b)
{
    return bucket_le_us[b];
}

void proxy_stats_free(void)
{
    free(st.base);
    free(st.name);
    free(st.stat);
    proxy_stats_commandstats_reset();
    free(st.run);
    free(st.container);
    memset(&st, 0, sizeof(st));
}
