/* LATENCY when ferry serves from its own store (phase raft-only; in phase
 * redis the command goes to the upstream).
 *
 * Redis 7.0's latency monitor: with `latency-monitor-threshold` N ms set
 * (0, the default, turns it off), every command that ran for N ms or more
 * adds a sample to its event, "command" or "fast-command" (Redis's fast
 * flag), and every commit whose journal write and sync took that long adds
 * one to "ferry-commit" (ferry's counterpart of "aof-fsync-always"). An
 * event keeps its last 160 samples, one a second (the largest of that
 * second), and its largest ever. LATEST, HISTORY, RESET and HELP answer as
 * Redis's, and HISTOGRAM from the per-command histograms of INFO
 * latencystats (stats.c, hist.c); DOCTOR and GRAPH are not served. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/core.h"
#include "resp/resp.h"

#define LATENCY_SAMPLES 160

struct latency_event {
    const char *name;
    struct {
        long long time; /* Unix seconds; 0: none yet */
        long long ms;
    } samples[LATENCY_SAMPLES];
    int next; /* where the next second's sample goes */
    long long max;
};

/* The events ferry can report, in the order LATEST lists them. */
static struct latency_event events[] = {
    {.name = "command"},
    {.name = "fast-command"},
    {.name = "ferry-commit"},
};
#define NEVENTS ((int)(sizeof(events) / sizeof(events[0])))

static struct latency_event *latency_find(const char *name, size_t len)
{
    for (int i = 0; i < NEVENTS; i++)
        if (proxy_arg_is(name, len, events[i].name))
            return &events[i];
    return NULL;
}

static int latency_empty(const struct latency_event *e)
{
    return e->samples[(e->next + LATENCY_SAMPLES - 1) % LATENCY_SAMPLES].time == 0;
}

void proxy_latency_add(const struct proxy_config *cfg, const char *event, uint64_t usec)
{
    long long ms = (long long)(usec / 1000);
    if (cfg->latency_monitor_threshold == 0 || ms < cfg->latency_monitor_threshold)
        return;
    struct latency_event *e = latency_find(event, strlen(event));
    if (e == NULL)
        return;
    long long now = (long long)time(NULL);
    if (ms > e->max)
        e->max = ms;
    int prev = (e->next + LATENCY_SAMPLES - 1) % LATENCY_SAMPLES;
    if (e->samples[prev].time == now) {
        if (ms > e->samples[prev].ms)
            e->samples[prev].ms = ms;
        return;
    }
    e->samples[e->next].time = now;
    e->samples[e->next].ms = ms;
    e->next = (e->next + 1) % LATENCY_SAMPLES;
}

void proxy_latency_add_command(const struct proxy_config *cfg, const struct resp_command *cmd,
                           uint64_t usec)
{
    proxy_latency_add(cfg, cmd && (cmd->flags & RESP_CMD_FAST) ? "fast-command" : "command",
                      usec);
}

static void latency_reset(struct latency_event *e)
{
    const char *name = e->name;
    memset(e, 0, sizeof(*e));
    e->name = name;
}

static void latency_unsupported(const struct resp_command *sub, struct resp_buf *out)
{
    char name[64];
    resp_command_upper_name(sub->name, name, sizeof(name));
    resp_add_errorf(out, "ERR ferry: %s is not supported while reads/writes are served by the "
                         "raft group", name);
}

static const char *const latency_help[] = {
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    ("    Return a cumulative distribution of latencies in the format of a histogram for the "
     "specified command names."), /* one line of Redis's help, split for width */
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
};

/* LATENCY HISTOGRAM [command ...]: for each command with a histogram
 * (all, or those named, in the order named, a name given twice twice;
 * unknown names and commands that never ran left out), its calls and its
 * buckets (hist.c), as Redis 7.0 prints them. */
struct histogram_walk {
    int argc;
    char **argv;
    size_t *len;
    int want;          /* the argument being looked for; 0: every command */
    int n;             /* entries written */
    struct resp_buf *body;
};

static void histogram_entry(const char *name, const struct proxy_hist *h, void *arg)
{
    struct histogram_walk *w = arg;
    if (w->want && !proxy_arg_is(w->argv[w->want], w->len[w->want], name))
        return;
    uint64_t usec[64], count[64];
    size_t k = proxy_hist_cdf(h, usec, count, 64);
    resp_add_bulk_str(w->body, name);
    resp_add_array(w->body, 4);
    resp_add_bulk_str(w->body, "calls");
    resp_add_int(w->body, (long long)proxy_hist_total(h));
    resp_add_bulk_str(w->body, "histogram_usec");
    resp_add_array(w->body, 2 * (long long)k);
    for (size_t i = 0; i < k; i++) {
        resp_add_int(w->body, (long long)usec[i]);
        resp_add_int(w->body, (long long)count[i]);
    }
    w->n++;
}

static void latency_histogram(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    struct resp_buf body;
    resp_buf_init(&body);
    struct histogram_walk w = {argc, argv, len, 0, 0, &body};
    if (argc == 2) {
        proxy_stats_latencystats_each(histogram_entry, &w);
    } else {
        /* A name given twice is listed twice, as Redis 7.0 lists it. */
        for (w.want = 2; w.want < argc; w.want++)
            proxy_stats_latencystats_each(histogram_entry, &w);
    }
    resp_add_array(out, 2LL * w.n);
    resp_buf_append(out, body.data, body.len);
    resp_buf_fini(&body);
}

void proxy_latency_command(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    const struct resp_command *cmd = resp_subcommand_check("latency", argc, argv, len, out);
    if (cmd == NULL)
        return;
    const char *sub = argv[1];
    size_t sl = len[1];
    if (proxy_arg_is(sub, sl, "help")) {
        resp_add_help(out, latency_help, sizeof(latency_help) / sizeof(latency_help[0]));
    } else if (proxy_arg_is(sub, sl, "latest")) {
        int n = 0;
        for (int i = 0; i < NEVENTS; i++)
            n += !latency_empty(&events[i]);
        resp_add_array(out, n);
        for (int i = 0; i < NEVENTS; i++) {
            const struct latency_event *e = &events[i];
            if (latency_empty(e))
                continue;
            int last = (e->next + LATENCY_SAMPLES - 1) % LATENCY_SAMPLES;
            resp_add_array(out, 4);
            resp_add_bulk_str(out, e->name);
            resp_add_int(out, e->samples[last].time);
            resp_add_int(out, e->samples[last].ms);
            resp_add_int(out, e->max);
        }
    } else if (proxy_arg_is(sub, sl, "history")) {
        const struct latency_event *e = latency_find(argv[2], len[2]);
        int n = 0;
        for (int k = 0; e && k < LATENCY_SAMPLES; k++)
            n += e->samples[k].time != 0;
        resp_add_array(out, n);
        for (int k = 0; e && k < LATENCY_SAMPLES; k++) {
            int i = (e->next + k) % LATENCY_SAMPLES; /* oldest first */
            if (e->samples[i].time == 0)
                continue;
            resp_add_array(out, 2);
            resp_add_int(out, e->samples[i].time);
            resp_add_int(out, e->samples[i].ms);
        }
    } else if (proxy_arg_is(sub, sl, "reset")) {
        int n = 0;
        for (int i = 0; i < NEVENTS; i++) {
            struct latency_event *e = &events[i];
            int named = argc == 2;
            for (int k = 2; k < argc && !named; k++)
                named = proxy_arg_is(argv[k], len[k], e->name);
            if (named && !latency_empty(e)) {
                latency_reset(e);
                n++;
            }
        }
        resp_add_int(out, n);
    } else if (proxy_arg_is(sub, sl, "graph")) {
        const struct latency_event *e = latency_find(argv[2], len[2]);
        if (e == NULL || latency_empty(e))
            resp_add_errorf(out, "ERR No samples available for event '%.128s'", argv[2]);
        else
            latency_unsupported(cmd, out);
    } else if (proxy_arg_is(sub, sl, "histogram")) {
        latency_histogram(argc, argv, len, out);
    } else {
        latency_unsupported(cmd, out); /* DOCTOR */
    }
}
