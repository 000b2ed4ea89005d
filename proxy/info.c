/* INFO when ferry serves from its own store: Redis 7.0's reply format and
 * section selection, with the fields monitoring tools and redis-cli read
 * (used_memory, keyspace_hits, instantaneous_ops_per_sec, dbN:keys, ...).
 *
 * Sections are chosen as Redis chooses them: none or `default` give every
 * section ferry has but Commandstats and Latencystats, `all` and
 * `everything` add them; otherwise each argument names one,
 * case-insensitively; they print in Redis's fixed order whatever the order
 * of the arguments, and a name ferry does not know adds nothing (a reply of
 * only unknown names is an empty string, as from Redis). Commandstats,
 * Errorstats and Latencystats count as Redis does (stats.c, hist.c). */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "proxy/core.h"
#include "resp/resp.h"
#include "store/store.h"

enum {
    INFO_SERVER = 1u << 0,
    INFO_CLIENTS = 1u << 1,
    INFO_MEMORY = 1u << 2,
    INFO_PERSISTENCE = 1u << 3,
    INFO_STATS = 1u << 4,
    INFO_REPLICATION = 1u << 5,
    INFO_CPU = 1u << 6,
    INFO_MODULES = 1u << 7,
    INFO_CLUSTER = 1u << 8,
    INFO_FERRY = 1u << 9,
    INFO_RAFT = 1u << 10,
    INFO_KEYSPACE = 1u << 11,
    INFO_ERRORSTATS = 1u << 12,
    INFO_COMMANDSTATS = 1u << 13,
    INFO_LATENCYSTATS = 1u << 14,
    INFO_EVERY = (1u << 15) - 1,
    /* As in Redis, the per-command sections are only in `all` and
     * `everything` or asked for by name. */
    INFO_DEFAULT = INFO_EVERY & ~(INFO_COMMANDSTATS | INFO_LATENCYSTATS),
};

static const struct {
    const char *name;
    unsigned bit;
} info_names[] = {
    {"server", INFO_SERVER},     {"clients", INFO_CLIENTS},
    {"memory", INFO_MEMORY},     {"persistence", INFO_PERSISTENCE},
    {"stats", INFO_STATS},       {"replication", INFO_REPLICATION},
    {"cpu", INFO_CPU},           {"modules", INFO_MODULES},
    {"cluster", INFO_CLUSTER},   {"ferry", INFO_FERRY},
    {"raft", INFO_RAFT},         {"keyspace", INFO_KEYSPACE},
    {"errorstats", INFO_ERRORSTATS}, {"commandstats", INFO_COMMANDSTATS},
    {"latencystats", INFO_LATENCYSTATS},
    {"default", INFO_DEFAULT},   {"all", INFO_EVERY},
    {"everything", INFO_EVERY},
};

static unsigned info_wanted(int argc, char **argv, size_t *len)
{
    if (argc < 2)
        return INFO_DEFAULT;
    unsigned want = 0;
    for (int i = 1; i < argc; i++)
        for (size_t k = 0; k < sizeof(info_names) / sizeof(info_names[0]); k++)
            if (len[i] == strlen(info_names[k].name) &&
                strncasecmp(argv[i], info_names[k].name, len[i]) == 0)
                want |= info_names[k].bit;
    return want;
}

struct info {
    struct resp_buf *b;
    unsigned want;
};

/* Starts a section if it was asked for; sections are separated by a blank
 * line, as in Redis. */
static int info_section(struct info *in, unsigned bit, const char *title)
{
    if (!(in->want & bit))
        return 0;
    if (in->b->len)
        resp_buf_append(in->b, "\r\n", 2);
    resp_buf_append(in->b, "# ", 2);
    resp_buf_append(in->b, title, strlen(title));
    resp_buf_append(in->b, "\r\n", 2);
    return 1;
}

/* One field line. Values are short: a path is the longest. */
static void info_line(struct info *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void info_line(struct info *in, const char *fmt, ...)
{
    char line[PROXY_CONFIG_VALUE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    resp_buf_append(in->b, line, (size_t)n);
    resp_buf_append(in->b, "\r\n", 2);
}

/* Redis's bytesToHuman. */
static void info_human(char *buf, size_t size, unsigned long long n)
{
    static const char units[] = "KMGTP";
    if (n < 1024) {
        snprintf(buf, size, "%lluB", n);
        return;
    }
    double d = (double)n / 1024;
    int u = 0;
    while (d >= 1024 && u < (int)sizeof(units) - 2) {
        d /= 1024;
        u++;
    }
    snprintf(buf, size, "%.2f%c", d, units[u]);
}

static void info_bytes(struct info *in, const char *name, unsigned long long n)
{
    char human[32];
    info_human(human, sizeof(human), n);
    info_line(in, "%s:%llu", name, n);
    info_line(in, "%s_human:%s", name, human);
}

/* The counters' values at the last CONFIG RESETSTAT, which INFO's Stats
 * section subtracts: the counters themselves also feed /metrics. */
static struct {
    uint64_t connections_received, commands, connections_rejected, protocol_errors;
    uint64_t expired_keys, keyspace_hits, keyspace_misses;
    uint64_t commits, commit_usec, entries;
} base;

void proxy_info_resetstat(struct proxy_server *s, const struct proxy_info_node *node)
{
    struct store_stats st;
    store_get_stats(node->store, &st);
    base.connections_received = s->stats.connections_received;
    base.commands = s->stats.commands;
    base.connections_rejected = s->stats.connections_rejected;
    base.protocol_errors = s->stats.protocol_errors;
    base.expired_keys = st.expired_keys;
    base.keyspace_hits = st.keyspace_hits;
    base.keyspace_misses = st.keyspace_misses;
    base.commits = node->commits;
    base.commit_usec = node->commit_usec;
    base.entries = node->entries;
    proxy_stats_errors_reset();
    proxy_stats_commandstats_reset();
}

unsigned long long proxy_rss_bytes(void)
{
    unsigned long long pages_total, pages_resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    int ok = fscanf(f, "%llu %llu", &pages_total, &pages_resident) == 2;
    fclose(f);
    return ok ? pages_resident * (unsigned long long)sysconf(_SC_PAGESIZE) : 0;
}

static void info_cmdstat(const char *name, uint64_t calls, uint64_t usec, uint64_t rejected,
                         uint64_t failed, void *arg)
{
    info_line(arg, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                   "failed_calls=%llu",
              name, (unsigned long long)calls, (unsigned long long)usec,
              calls ? (double)usec / (double)calls : 0.0, (unsigned long long)rejected,
              (unsigned long long)failed);
}

struct info_latency {
    struct info *in;
    const struct proxy_percentiles *p;
};

/* Redis's line: the percentiles as configured, each value in us with ns
 * digits ("p50=7.007"); no percentiles configured leaves the line empty. */
static void info_latencystat(const char *name, const struct proxy_hist *h, void *arg)
{
    const struct info_latency *l = arg;
    char line[64 * PROXY_MAX_PERCENTILES] = "";
    size_t used = 0;
    for (int i = 0; i < l->p->n; i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%sp%g=%.3f", i ? "," : "",
                                 l->p->p[i], (double)proxy_hist_value_at(h, l->p->p[i]) / 1000.0);
    info_line(l->in, "latency_percentiles_usec_%s:%s", name, line);
}

static void info_errorstat(const char *code, uint64_t count, void *arg)
{
    info_line(arg, "errorstat_%s:count=%llu", code, (unsigned long long)count);
}

static void info_server(struct info *in, struct proxy_server *s, uint64_t now_ms)
{
    struct utsname u;
    if (uname(&u) != 0)
        strcpy(u.sysname, "?"), u.release[0] = u.machine[0] = 0;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = 0;
    char *config = s->config_file ? realpath(s->config_file, NULL) : NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t up = (now_ms - s->start_ms) / 1000;
    info_line(in, "redis_version:%s", PROXY_REDIS_VERSION);
    info_line(in, "ferry_version:%s", PROXY_VERSION);
    info_line(in, "redis_git_sha1:00000000");
    info_line(in, "redis_git_dirty:0");
    info_line(in, "redis_mode:standalone");
    info_line(in, "os:%s %s %s", u.sysname, u.release, u.machine);
    info_line(in, "arch_bits:%d", (int)sizeof(long) * 8);
    info_line(in, "multiplexing_api:%s", event_base_get_method(s->base));
#ifdef __GNUC__
    info_line(in, "gcc_version:%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
    info_line(in, "process_id:%d", (int)getpid());
    info_line(in, "run_id:%s", s->run_id);
    info_line(in, "tcp_port:%d", s->cfg.port);
    info_line(in, "server_time_usec:%lld", (long long)tv.tv_sec * 1000000 + tv.tv_usec);
    info_line(in, "uptime_in_seconds:%llu", (unsigned long long)up);
    info_line(in, "uptime_in_days:%llu", (unsigned long long)(up / 86400));
    info_line(in, "executable:%s", exe);
    info_line(in, "config_file:%s", config ? config : s->config_file ? s->config_file : "");
    free(config);
}

static void info_cpu(struct info *in)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    info_line(in, "used_cpu_sys:%ld.%06ld", (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec);
    info_line(in, "used_cpu_user:%ld.%06ld", (long)self.ru_utime.tv_sec,
              (long)self.ru_utime.tv_usec);
    info_line(in, "used_cpu_sys_children:%ld.%06ld", (long)children.ru_stime.tv_sec,
              (long)children.ru_stime.tv_usec);
    info_line(in, "used_cpu_user_children:%ld.%06ld", (long)children.ru_utime.tv_sec,
              (long)children.ru_utime.tv_usec);
}

void proxy_info_reply(struct proxy_server *s, const struct proxy_info_node *node, int argc,
                      char **argv, size_t *len, struct resp_buf *out)
{
    struct resp_buf body;
    resp_buf_init(&body);
    struct info in = {&body, info_wanted(argc, argv, len)};
    struct store_stats st;
    store_get_stats(node->store, &st);
    uint64_t now = proxy_now_ms();

    if (info_section(&in, INFO_SERVER, "Server"))
        info_server(&in, s, now);
    if (info_section(&in, INFO_CLIENTS, "Clients")) {
        info_line(&in, "connected_clients:%d", s->nclients);
        info_line(&in, "maxclients:%d", s->cfg.maxclients);
        info_line(&in, "blocked_clients:%d", node->blocked_clients);
    }
    if (info_section(&in, INFO_MEMORY, "Memory")) {
        /* The heap ferry allocated; the store's pages are in the file
         * mapping, counted in the RSS and in ferry_store_used. */
        struct mallinfo2 mi = mallinfo2();
        info_bytes(&in, "used_memory", (unsigned long long)(mi.uordblks + mi.hblkhd));
        info_bytes(&in, "used_memory_rss", proxy_rss_bytes());
        info_bytes(&in, "total_system_memory",
                   (unsigned long long)sysconf(_SC_PHYS_PAGES) *
                       (unsigned long long)sysconf(_SC_PAGESIZE));
        info_line(&in, "maxmemory:0");
        info_line(&in, "maxmemory_human:0B");
        info_line(&in, "maxmemory_policy:noeviction");
        info_line(&in, "mem_allocator:libc");
    }
    if (info_section(&in, INFO_PERSISTENCE, "Persistence")) {
        /* No RDB or AOF: the store is durable by itself, and a save (SAVE,
         * BGSAVE, or a checkpoint of the journal) puts what it holds into
         * LMDB's synced files, in the loop. The zeros are for tools that
         * watch for a save or rewrite in progress. */
        info_line(&in, "loading:0");
        info_line(&in, "async_loading:0");
        info_line(&in, "rdb_changes_since_last_save:%llu",
                  (unsigned long long)st.changes_since_save);
        info_line(&in, "rdb_bgsave_in_progress:0");
        info_line(&in, "rdb_last_save_time:%llu", (unsigned long long)st.last_save_time);
        info_line(&in, "rdb_last_bgsave_status:%s", node->bgsave_failed ? "err" : "ok");
        info_line(&in, "rdb_saves:%llu", (unsigned long long)st.saves);
        info_line(&in, "aof_enabled:0");
        info_line(&in, "aof_rewrite_in_progress:0");
        info_line(&in, "aof_last_bgrewrite_status:%s", node->bgsave_failed ? "err" : "ok");
        info_line(&in, "ferry_store_sync:%s",
                  s->cfg.sync ? "always" : "no (acknowledged writes can be lost in a crash)");
        info_line(&in, "ferry_last_commit_status:%s", node->commit_failing ? "err" : "ok");
        info_line(&in, "ferry_commit_failures:%llu", (unsigned long long)node->commit_failures);
        info_line(&in, "ferry_journal_bytes:%llu", (unsigned long long)st.journal_bytes);
        info_line(&in, "ferry_checkpoints:%llu", (unsigned long long)st.checkpoints);
        info_line(&in, "ferry_checkpoint_failures:%llu",
                  (unsigned long long)st.checkpoint_failures);
        info_line(&in, "ferry_checkpoint_avg_usec:%llu",
                  (unsigned long long)(st.checkpoints ? st.checkpoint_usec / st.checkpoints : 0));
    }
    if (info_section(&in, INFO_STATS, "Stats")) {
#define SINCE(now, field) ((unsigned long long)((now) - base.field))
        info_line(&in, "total_connections_received:%llu",
                  SINCE(s->stats.connections_received, connections_received));
        info_line(&in, "total_commands_processed:%llu", SINCE(s->stats.commands, commands));
        info_line(&in, "instantaneous_ops_per_sec:%llu", (unsigned long long)s->ops.per_sec);
        info_line(&in, "rejected_connections:%llu",
                  SINCE(s->stats.connections_rejected, connections_rejected));
        info_line(&in, "expired_keys:%llu", SINCE(st.expired_keys, expired_keys));
        info_line(&in, "evicted_keys:0");
        info_line(&in, "keyspace_hits:%llu", SINCE(st.keyspace_hits, keyspace_hits));
        info_line(&in, "keyspace_misses:%llu", SINCE(st.keyspace_misses, keyspace_misses));
        size_t channels, patterns, shard_channels;
        proxy_pubsub_stats(&channels, &patterns, &shard_channels);
        info_line(&in, "pubsub_channels:%zu", channels);
        info_line(&in, "pubsub_patterns:%zu", patterns);
        info_line(&in, "pubsubshard_channels:%zu", shard_channels);
        info_line(&in, "unexpected_error_replies:0"); /* from a master or the AOF: none */
        info_line(&in, "total_error_replies:%llu", (unsigned long long)proxy_stats_error_total());
        info_line(&in, "ferry_protocol_errors:%llu",
                  SINCE(s->stats.protocol_errors, protocol_errors));
        uint64_t commits = node->commits - base.commits;
        info_line(&in, "ferry_commits:%llu", (unsigned long long)commits);
        info_line(&in, "ferry_commit_avg_usec:%llu",
                  commits ? SINCE(node->commit_usec, commit_usec) / commits : 0ULL);
        info_line(&in, "ferry_entries_applied:%llu", SINCE(node->entries, entries));
#undef SINCE
    }
    if (info_section(&in, INFO_REPLICATION, "Replication")) {
        info_line(&in, "role:master");
        info_line(&in, "connected_slaves:0");
    }
    if (info_section(&in, INFO_CPU, "CPU"))
        info_cpu(&in);
    info_section(&in, INFO_MODULES, "Modules");
    if (info_section(&in, INFO_COMMANDSTATS, "Commandstats"))
        proxy_stats_commandstats_each(info_cmdstat, &in);
    if (info_section(&in, INFO_ERRORSTATS, "Errorstats"))
        proxy_stats_errors_each(info_errorstat, &in);
    if (info_section(&in, INFO_LATENCYSTATS, "Latencystats")) {
        struct info_latency l = {&in, &s->cfg.latency_percentiles};
        proxy_stats_latencystats_each(info_latencystat, &l);
    }
    if (info_section(&in, INFO_CLUSTER, "Cluster"))
        info_line(&in, "cluster_enabled:0");
    if (info_section(&in, INFO_FERRY, "Ferry")) {
        info_line(&in, "ferry_phase:%s", proxy_phase_name(s->cfg.phase));
        info_line(&in, "ferry_store_dir:%s", s->cfg.dir);
        info_line(&in, "ferry_store_size:%lld", s->cfg.store_size);
        info_bytes(&in, "ferry_store_used", (unsigned long long)st.used_bytes);
        info_line(&in, "ferry_applied_index:%llu",
                  (unsigned long long)store_applied_index(node->store));
    }
    if (info_section(&in, INFO_RAFT, "Raft")) {
        struct store_log *log = store_log_of(node->store);
        info_line(&in, "raft_last_log_index:%llu",
                  (unsigned long long)store_log_last_index(log));
        info_line(&in, "raft_snapshot_index:%llu",
                  (unsigned long long)store_log_snapshot_index(log));
        info_line(&in, "raft_applied_index:%llu",
                  (unsigned long long)store_applied_index(node->store));
    }
    if (info_section(&in, INFO_KEYSPACE, "Keyspace")) {
        uint64_t keys = store_key_count(node->store);
        if (keys)
            info_line(&in, "db0:keys=%llu,expires=%llu,avg_ttl=0", (unsigned long long)keys,
                      (unsigned long long)store_expires_count(node->store));
    }
    resp_add_bulk(out, body.data, body.len);
    resp_buf_fini(&body);
}
