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

static struct {
    int n;                      /* indices in use: 1 (unknown) + commands + subcommands */
    int *base;                  /* per top-level command: its index */
    const char **name;          /* per index */
    struct proxy_cmdstat *stat; /* per index */
} st;

static void stats_init(void)
{
    int n = PROXY_STAT_UNKNOWN + 1;
    for (int i = 0; i < resp_ncommands; i++)
        n += 1 + resp_commands[i].nsub;
    st.base = malloc(sizeof(*st.base) * (size_t)resp_ncommands);
    st.name = malloc(sizeof(*st.name) * (size_t)n);
    st.stat = calloc((size_t)n, sizeof(*st.stat));
    PROXY_ASSERT(st.base && st.name && st.stat);
    st.name[0] = NULL;
    st.name[PROXY_STAT_UNKNOWN] = "unknown";
    int at = PROXY_STAT_UNKNOWN + 1;
    for (int i = 0; i < resp_ncommands; i++) {
        const struct resp_command *cmd = &resp_commands[i];
        st.base[i] = at;
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
        if (sub)
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

void proxy_stats_each(void (*fn)(const char *name, const struct proxy_cmdstat *s, void *arg),
                      void *arg)
{
    for (int i = PROXY_STAT_UNKNOWN; i < st.n; i++)
        if (st.stat[i].calls || st.stat[i].replies)
            fn(st.name[i], &st.stat[i], arg);
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
    memset(&st, 0, sizeof(st));
}
