/* Configuration: a redis.conf-style file plus --name value overrides, both
 * going through one table, so every option is parsed, validated and printed
 * (CONFIG GET) the same way wherever it came from. */
#include "proxy/proxy.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum option_type {
    OPT_STRING,
    OPT_INT,
    OPT_MEMORY,
    OPT_BOOL,
    OPT_ENUM,
    OPT_BIND,
    OPT_ADDR,
    OPT_HOST, /* one address or host name to listen on */
    OPT_PERCENTILES, /* numbers from 0 to 100, as words or in one quoted word */
    OPT_OCTAL,       /* file permission bits, written and printed in octal */
    OPT_EVENTS,      /* notify-keyspace-events' class letters (an int of bits) */
};

struct option {
    const char *name;
    enum option_type type;
    size_t offset;
    long long min, max;          /* OPT_INT, OPT_MEMORY, OPT_OCTAL; OPT_STRING: max is its
                                    longest length when not 0 */
    /* OPT_ENUM: NULL-terminated, the index is the value. OPT_INT: words
     * accepted besides numbers, word i standing for the value -(i + 1). */
    const char *const *choices;
    int runtime; /* SIGHUP and CONFIG SET change it; the others need a restart */
};

static const char *const loglevels[] = {"debug", "verbose", "notice", "warning", NULL};
static const char *const logformats[] = {"text", "json", NULL};
static const char *const phases[] = {"redis", "mirror", "read-raft", "raft", "raft-only", NULL};
static const char *const busypoll_words[] = {"auto", NULL}; /* PROXY_BUSY_POLL_AUTO */
static const char *const schedpolicies[] = {"auto", "normal", "batch", NULL};
static const char *const tlsauth[] = {"no", "yes", "optional", NULL}; /* enum proxy_tls_auth */

#define OFF(field) offsetof(struct proxy_config, field)

static const struct option options[] = {
    {"bind", OPT_BIND, OFF(bind), 0, 0, NULL, 0},
    {"port", OPT_INT, OFF(port), 0, 65535, NULL, 0},
    {"unixsocket", OPT_STRING, OFF(unixsocket), 0, PROXY_UNIXSOCKET_MAX, NULL, 0},
    {"unixsocketperm", OPT_OCTAL, OFF(unixsocketperm), 0, 0777, NULL, 0},
    {"tls-port", OPT_INT, OFF(tls_port), 0, 65535, NULL, 0},
    {"tls-cert-file", OPT_STRING, OFF(tls_cert_file), 0, 0, NULL, 0},
    {"tls-key-file", OPT_STRING, OFF(tls_key_file), 0, 0, NULL, 0},
    {"tls-ca-cert-file", OPT_STRING, OFF(tls_ca_cert_file), 0, 0, NULL, 0},
    {"tls-auth-clients", OPT_ENUM, OFF(tls_auth_clients), 0, 0, tlsauth, 0},
    {"upstream", OPT_ADDR, OFF(upstream_host), 0, 0, NULL, 0},
    {"upstream-user", OPT_STRING, OFF(upstream_user), 0, 0, NULL, 1},
    {"upstream-password", OPT_STRING, OFF(upstream_password), 0, 0, NULL, 1},
    {"upstream-connect-timeout", OPT_INT, OFF(upstream_connect_timeout), 1, 600000, NULL, 1},
    {"upstream-resolve-interval", OPT_INT, OFF(upstream_resolve_interval), 0, 86400, NULL, 1},
    {"upstream-shared-connections", OPT_INT, OFF(upstream_shared_connections), 0, 64, NULL, 0},
    {"upstream-tls", OPT_BOOL, OFF(upstream_tls), 0, 0, NULL, 0},
    {"upstream-tls-ca-cert-file", OPT_STRING, OFF(upstream_tls_ca_cert_file), 0, 0, NULL, 0},
    {"upstream-tls-cert-file", OPT_STRING, OFF(upstream_tls_cert_file), 0, 0, NULL, 0},
    {"upstream-tls-key-file", OPT_STRING, OFF(upstream_tls_key_file), 0, 0, NULL, 0},
    {"upstream-tls-server-name", OPT_STRING, OFF(upstream_tls_server_name), 0, 0, NULL, 0},
    {"requirepass", OPT_STRING, OFF(requirepass), 0, 0, NULL, 1},
    {"maxclients", OPT_INT, OFF(maxclients), 1, 1000000, NULL, 1},
    {"timeout", OPT_INT, OFF(timeout), 0, INT_MAX, NULL, 1},
    {"tcp-keepalive", OPT_INT, OFF(tcp_keepalive), 0, INT_MAX, NULL, 1},
    {"proto-max-bulk-len", OPT_MEMORY, OFF(proto_max_bulk_len), 1024 * 1024, LLONG_MAX, NULL, 1},
    {"loglevel", OPT_ENUM, OFF(loglevel), 0, 0, loglevels, 1},
    {"logfile", OPT_STRING, OFF(logfile), 0, 0, NULL, 1},
    {"log-format", OPT_ENUM, OFF(log_format), 0, 0, logformats, 1},
    {"phase", OPT_ENUM, OFF(phase), 0, 0, phases, 0},
    {"dir", OPT_STRING, OFF(dir), 0, 0, NULL, 0},
    {"store-size", OPT_MEMORY, OFF(store_size), 1024 * 1024, 1LL << 46, NULL, 0},
    {"sync", OPT_BOOL, OFF(sync), 0, 0, NULL, 0},
    {"checkpoint-bytes", OPT_MEMORY, OFF(checkpoint_bytes), 64 * 1024, 1LL << 30, NULL, 1},
    {"checkpoint-entries", OPT_INT, OFF(checkpoint_entries), 1, 100000000, NULL, 1},
    {"shutdown-timeout", OPT_INT, OFF(shutdown_timeout), 0, 3600, NULL, 1},
    {"busy-poll", OPT_INT, OFF(busy_poll), 0, 1000000, busypoll_words, 0},
    {"sched-policy", OPT_ENUM, OFF(sched_policy), 0, 0, schedpolicies, 0},
    {"admin-bind", OPT_HOST, OFF(admin_bind), 0, 0, NULL, 0},
    {"admin-port", OPT_INT, OFF(admin_port), 0, 65535, NULL, 0},
    {"admin-tls", OPT_BOOL, OFF(admin_tls), 0, 0, NULL, 0},
    {"slowlog-log-slower-than", OPT_INT, OFF(slowlog_log_slower_than), -1, INT_MAX, NULL, 1},
    {"slowlog-max-len", OPT_INT, OFF(slowlog_max_len), 0, INT_MAX, NULL, 1},
    {"latency-monitor-threshold", OPT_INT, OFF(latency_monitor_threshold), 0, INT_MAX, NULL, 1},
    {"latency-tracking", OPT_BOOL, OFF(latency_tracking), 0, 0, NULL, 1},
    {"latency-tracking-info-percentiles", OPT_PERCENTILES, OFF(latency_percentiles), 0, 0, NULL,
     1},
    {"notify-keyspace-events", OPT_EVENTS, OFF(notify_keyspace_events), 0, 0, NULL, 1},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* The line above the options CONFIG REWRITE adds, as Redis writes it. */
#define REWRITE_MARKER "# Generated by CONFIG REWRITE"

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        fprintf(stderr, "ferry: out of memory\n");
        abort();
    }
    return p;
}

void proxy_config_init(struct proxy_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind[0] = xstrdup("127.0.0.1");
    cfg->nbind = 1;
    cfg->port = 6380;
    cfg->upstream_connect_timeout = 1000;
    cfg->upstream_resolve_interval = 5;
    cfg->upstream_shared_connections = 1;
    cfg->maxclients = 10000;
    cfg->timeout = 0;
    cfg->tcp_keepalive = 300;
    cfg->proto_max_bulk_len = RESP_DEFAULT_MAX_BULK_LEN;
    cfg->loglevel = PROXY_LOG_NOTICE;
    cfg->log_format = PROXY_LOG_TEXT;
    cfg->phase = PROXY_PHASE_REDIS;
    cfg->dir = xstrdup("./ferry-data");
    cfg->store_size = 1LL << 30;
    cfg->tls_auth_clients = PROXY_TLS_AUTH_YES; /* Redis's default */
    cfg->sync = 1;
    cfg->checkpoint_bytes = (long long)STORE_CKPT_BYTES;
    cfg->checkpoint_entries = STORE_CKPT_ENTRIES;
    cfg->shutdown_timeout = 10;
    cfg->busy_poll = PROXY_BUSY_POLL_AUTO;
    cfg->sched_policy = PROXY_SCHED_AUTO;
    cfg->admin_bind = xstrdup("127.0.0.1");
    cfg->admin_port = 0;
    cfg->slowlog_log_slower_than = 10000; /* Redis's defaults */
    cfg->slowlog_max_len = 128;
    cfg->latency_tracking = 1; /* Redis's defaults */
    cfg->latency_percentiles = (struct proxy_percentiles){3, {50, 99, 99.9}};
}

void proxy_config_fini(struct proxy_config *cfg)
{
    for (int i = 0; i < cfg->nbind; i++)
        free(cfg->bind[i]);
    free(cfg->upstream_host);
    free(cfg->upstream_user);
    free(cfg->upstream_password);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->tls_ca_cert_file);
    free(cfg->upstream_tls_ca_cert_file);
    free(cfg->upstream_tls_cert_file);
    free(cfg->upstream_tls_key_file);
    free(cfg->upstream_tls_server_name);
    free(cfg->requirepass);
    free(cfg->unixsocket);
    free(cfg->logfile);
    free(cfg->dir);
    free(cfg->admin_bind);
    memset(cfg, 0, sizeof(*cfg));
}

static const struct option *option_find(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcasecmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A whole decimal number, nothing else. */
static int parse_ll(const char *s, long long *out)
{
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Redis's memtoll: a number with an optional unit, k/m/g (powers of 1000)
 * or kb/mb/gb (powers of 1024), case-insensitive. */
static int parse_memory(const char *s, long long *out)
{
    size_t n = strlen(s), digits = n;
    while (digits > 0 && isalpha((unsigned char)s[digits - 1]))
        digits--;
    long long mul = 1;
    const char *unit = s + digits;
    if (*unit == '\0')
        mul = 1;
    else if (strcasecmp(unit, "b") == 0)
        mul = 1;
    else if (strcasecmp(unit, "k") == 0)
        mul = 1000;
    else if (strcasecmp(unit, "kb") == 0)
        mul = 1024;
    else if (strcasecmp(unit, "m") == 0)
        mul = 1000 * 1000;
    else if (strcasecmp(unit, "mb") == 0)
        mul = 1024 * 1024;
    else if (strcasecmp(unit, "g") == 0)
        mul = 1000LL * 1000 * 1000;
    else if (strcasecmp(unit, "gb") == 0)
        mul = 1024LL * 1024 * 1024;
    else
        return -1;
    char num[32];
    if (digits == 0 || digits >= sizeof(num))
        return -1;
    memcpy(num, s, digits);
    num[digits] = '\0';
    long long v;
    if (parse_ll(num, &v) < 0 || v < 0 || (mul > 1 && v > LLONG_MAX / mul))
        return -1;
    *out = v * mul;
    return 0;
}

/* host:port, [v6]:port. */
/* Whether c may be part of a host name or address: no blank or control
 * character is. */
static int host_char(unsigned char c)
{
    return !isspace(c) && !iscntrl(c);
}

static int parse_addr(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return -1;
    const char *h = s, *hend = colon;
    if (*h == '[') {
        if (hend[-1] != ']')
            return -1;
        h++;
        hend--;
    }
    long long p;
    if (parse_ll(colon + 1, &p) < 0 || p < 1 || p > 65535 || hend <= h)
        return -1;
    /* No host name or address is longer, or holds brackets or blanks; nor
     * starts with '/', which would print as a unix socket's path. */
    if (hend - h > PROXY_CONFIG_HOST_MAX || *h == '/')
        return -1;
    for (const char *c = h; c < hend; c++)
        if (*c == '[' || *c == ']' || !host_char((unsigned char)*c))
            return -1;
    *host = strndup(h, (size_t)(hend - h));
    if (*host == NULL)
        abort();
    *port = (int)p;
    return 0;
}

static int enum_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcasecmp(choices[i], s) == 0)
            return i;
    return -1;
}

static void enum_list(const char *const *choices, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int i = 0; choices[i]; i++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", choices[i]);
    }
}

/* An address to listen on. No address or host name holds a blank, and
 * CONFIG GET prints bind's addresses separated by spaces: refuse them here,
 * with the line. */
static int check_host(const struct option *o, const char *host, char *err, size_t errlen)
{
    const char *a = host;
    while (*a && host_char((unsigned char)*a))
        a++;
    if (*a || host[0] == '\0')
        return fail(err, errlen, "'%s' address '%s' is empty or holds a blank or control character",
                    o->name, host);
    if (a - host > PROXY_CONFIG_HOST_MAX)
        return fail(err, errlen, "'%s' address is longer than %d bytes", o->name,
                    PROXY_CONFIG_HOST_MAX);
    return 0;
}

/* Percentiles as Redis takes them: separate words in a file, one word of
 * space-separated numbers from CONFIG SET; none at all is an empty list. */
static int set_percentiles(const struct option *o, struct proxy_percentiles *out, int argc,
                           char **argv, char *err, size_t errlen)
{
    struct proxy_percentiles p = {0};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        while (*s) {
            while (*s == ' ')
                s++;
            if (*s == '\0')
                break;
            size_t len = strcspn(s, " ");
            char word[64];
            snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), s);
            char *end;
            errno = 0;
            double v = strtod(word, &end);
            if (len >= 63 || end == word || *end || errno || !(v >= 0.0 && v <= 100.0))
                return fail(err, errlen, "'%s' must be numbers from 0 to 100, got '%.*s'",
                            o->name, (int)len, s);
            if (p.n == PROXY_MAX_PERCENTILES)
                return fail(err, errlen, "'%s' takes at most %d numbers", o->name,
                            PROXY_MAX_PERCENTILES);
            p.p[p.n++] = v;
            s += len;
        }
    }
    *out = p;
    return 0;
}

int proxy_config_set(struct proxy_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const struct option *o = option_find(argv[0]);
    if (o == NULL)
        return fail(err, errlen, "unknown option '%s'", argv[0]);
    void *field = (char *)cfg + o->offset;
    if (o->type == OPT_BIND) {
        if (argc < 2)
            return fail(err, errlen, "'%s' needs at least one address", o->name);
        if (argc - 1 > PROXY_MAX_BIND)
            return fail(err, errlen, "'%s' takes at most %d addresses", o->name, PROXY_MAX_BIND);
        for (int i = 1; i < argc; i++)
            if (check_host(o, argv[i], err, errlen) < 0)
                return -1;
        for (int i = 0; i < cfg->nbind; i++)
            free(cfg->bind[i]);
        cfg->nbind = 0;
        for (int i = 1; i < argc; i++)
            cfg->bind[cfg->nbind++] = xstrdup(argv[i]);
        return 0;
    }
    if (o->type == OPT_PERCENTILES)
        return set_percentiles(o, field, argc - 1, argv + 1, err, errlen);
    if (argc != 2)
        return fail(err, errlen, "'%s' takes exactly one value, got %d", o->name, argc - 1);
    const char *v = argv[1];
    long long n;
    switch (o->type) {
    case OPT_STRING: {
        char **s = field;
        long long most = o->max ? o->max : PROXY_CONFIG_VALUE_MAX;
        if (strlen(v) > (size_t)most)
            return fail(err, errlen, "'%s' is longer than %lld bytes", o->name, most);
        free(*s);
        *s = *v ? xstrdup(v) : NULL;
        return 0;
    }
    case OPT_INT: {
        int word = o->choices ? enum_index(o->choices, v) : -1;
        if (word >= 0) {
            *(int *)field = -(word + 1);
            return 0;
        }
        if (parse_ll(v, &n) < 0 || n < o->min || n > o->max) {
            char list[64] = "", words[70] = "";
            if (o->choices) {
                enum_list(o->choices, list, sizeof(list));
                snprintf(words, sizeof(words), "%s or ", list);
            }
            return fail(err, errlen, "'%s' must be %san integer from %lld to %lld, got '%s'",
                        o->name, words, o->min, o->max, v);
        }
        *(int *)field = (int)n;
        return 0;
    }
    case OPT_OCTAL: {
        /* As Redis reads unixsocketperm: octal digits only, "770". */
        char *end;
        errno = 0;
        n = strtoll(v, &end, 8);
        if (*v == '\0' || !isdigit((unsigned char)*v) || *end != '\0' || errno || n < o->min ||
            n > o->max)
            return fail(err, errlen, "'%s' must be octal permission bits from %llo to %llo, got '%s'",
                        o->name, o->min, o->max, v);
        *(int *)field = (int)n;
        return 0;
    }
    case OPT_MEMORY:
        if (parse_memory(v, &n) < 0)
            return fail(err, errlen, "'%s' must be a size such as 512mb or 1gb, got '%s'",
                        o->name, v);
        if (n < o->min || n > o->max)
            return fail(err, errlen, "'%s' must be from %lld to %lld bytes, got '%s'", o->name,
                        o->min, o->max, v);
        *(long long *)field = n;
        return 0;
    case OPT_BOOL:
        if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "always") == 0)
            *(int *)field = 1;
        else if (strcasecmp(v, "no") == 0)
            *(int *)field = 0;
        else
            return fail(err, errlen, "'%s' must be yes or no, got '%s'", o->name, v);
        return 0;
    case OPT_ENUM: {
        int i = enum_index(o->choices, v);
        if (i < 0) {
            char list[128];
            enum_list(o->choices, list, sizeof(list));
            return fail(err, errlen, "'%s' must be one of %s, got '%s'", o->name, list, v);
        }
        *(int *)field = i;
        return 0;
    }
    case OPT_ADDR: {
        char *host;
        int port;
        if (*v == '\0') {
            free(cfg->upstream_host);
            cfg->upstream_host = NULL;
            return 0;
        }
        if (*v == '/') {
            /* A unix socket's path (redis-server's unixsocket): port 0. */
            if (strlen(v) > PROXY_UNIXSOCKET_MAX)
                return fail(err, errlen, "'%s' unix socket path is longer than %d bytes",
                            o->name, PROXY_UNIXSOCKET_MAX);
            free(cfg->upstream_host);
            cfg->upstream_host = xstrdup(v);
            cfg->upstream_port = 0;
            return 0;
        }
        if (parse_addr(v, &host, &port) < 0)
            return fail(err, errlen, "'%s' must be host:port or a unix socket's /path, got '%s'",
                        o->name, v);
        free(cfg->upstream_host);
        cfg->upstream_host = host;
        cfg->upstream_port = port;
        return 0;
    }
    case OPT_HOST: {
        if (check_host(o, v, err, errlen) < 0)
            return -1;
        char **s = field;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case OPT_EVENTS: {
        long classes = store_events_parse(v, strlen(v));
        if (classes < 0) /* Redis's words */
            return fail(err, errlen, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        *(int *)field = (int)classes;
        return 0;
    }
    case OPT_BIND:
    case OPT_PERCENTILES:
        break;
    }
    return fail(err, errlen, "internal: option type %d", o->type);
}

/* Splits a config line the way Redis does (sdssplitargs): words separated
 * by blanks, "double quotes" with \n \t \xHH escapes, 'single quotes'.
 * Returns the word count, or -1 on unbalanced quotes. Words point into buf,
 * which is rewritten in place. */
static int split_line(char *buf, char **words, int max)
{
    int n = 0;
    char *p = buf;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return n;
        if (n == max)
            return max + 1;
        char *out = p, *start = p;
        int inq = 0, insq = 0;
        for (;;) {
            if (inq) {
                if (*p == '\0')
                    return -1;
                if (*p == '\\' && p[1] == 'x' && isxdigit((unsigned char)p[2]) &&
                    isxdigit((unsigned char)p[3])) {
                    char hex[3] = {p[2], p[3], 0};
                    *out++ = (char)strtol(hex, NULL, 16);
                    p += 4;
                    continue;
                }
                if (*p == '\\' && p[1]) {
                    char c = p[1];
                    *out++ = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == 'b' ? '\b'
                                                                  : c == 'a' ? '\a' : c;
                    p += 2;
                    continue;
                }
                if (*p == '"') {
                    p++;
                    if (*p && !isspace((unsigned char)*p))
                        return -1; /* closing quote must be followed by a space */
                    break;
                }
                *out++ = *p++;
            } else if (insq) {
                if (*p == '\0')
                    return -1;
                if (*p == '\\' && p[1] == '\'') {
                    *out++ = '\'';
                    p += 2;
                    continue;
                }
                if (*p == '\'') {
                    p++;
                    if (*p && !isspace((unsigned char)*p))
                        return -1;
                    break;
                }
                *out++ = *p++;
            } else {
                if (*p == '\0' || isspace((unsigned char)*p))
                    break;
                if (*p == '"' && out == start) {
                    inq = 1;
                    p++;
                    continue;
                }
                if (*p == '\'' && out == start) {
                    insq = 1;
                    p++;
                    continue;
                }
                *out++ = *p++;
            }
        }
        char *next = *p ? p + 1 : p;
        *out = '\0';
        words[n++] = start;
        p = next;
    }
}

int proxy_config_load_file(struct proxy_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)got) != NULL) {
            rc = fail(err, errlen, "%s:%d: NUL byte in line", path, lineno);
            break;
        }
        /* A comment is skipped before it is split, as Redis does: its words
         * may have quotes that do not balance ("# don't"). */
        const char *first = line;
        while (isspace((unsigned char)*first))
            first++;
        if (*first == '#')
            continue;
        char *words[PROXY_MAX_BIND + 2];
        int n = split_line(line, words, PROXY_MAX_BIND + 1);
        if (n == 0)
            continue;
        if (n < 0) {
            rc = fail(err, errlen, "%s:%d: unbalanced quotes", path, lineno);
            break;
        }
        if (n > PROXY_MAX_BIND + 1) {
            rc = fail(err, errlen, "%s:%d: too many arguments", path, lineno);
            break;
        }
        char why[256];
        if (proxy_config_set(cfg, n, words, why, sizeof(why)) < 0) {
            rc = fail(err, errlen, "%s:%d: %s", path, lineno, why);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ CONFIG REWRITE */

/* A growable string for the rewritten file. */
struct text {
    char *p;
    size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            abort();
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* One word as split_line reads it back: bare when it can be, else in
 * double quotes with Redis's escapes (sdscatrepr's). */
static void text_word(struct text *t, const char *w)
{
    int bare = *w != '\0' && *w != '"' && *w != '\'';
    for (const char *c = w; *c && bare; c++)
        bare = isgraph((unsigned char)*c);
    if (bare) {
        text_str(t, w);
        return;
    }
    text_str(t, "\"");
    for (const unsigned char *c = (const unsigned char *)w; *c; c++) {
        char esc[5];
        switch (*c) {
        case '\\': text_str(t, "\\\\"); break;
        case '"': text_str(t, "\\\""); break;
        case '\n': text_str(t, "\\n"); break;
        case '\r': text_str(t, "\\r"); break;
        case '\t': text_str(t, "\\t"); break;
        case '\a': text_str(t, "\\a"); break;
        case '\b': text_str(t, "\\b"); break;
        default:
            if (isprint(*c)) {
                text_add(t, (const char *)c, 1);
            } else {
                snprintf(esc, sizeof(esc), "\\x%02x", *c);
                text_str(t, esc);
            }
        }
    }
    text_str(t, "\"");
}

/* The option's line as the file should hold it now: "name value...". A
 * list (bind, the percentiles) is one word per item; anything else is one
 * word, quoted when it must be. */
static void text_option(struct text *t, const struct proxy_config *cfg, const struct option *o)
{
    char value[PROXY_CONFIG_VALUE_MAX + 1];
    proxy_config_get(cfg, o->name, value, sizeof(value));
    text_str(t, o->name);
    if (o->type == OPT_BIND || o->type == OPT_PERCENTILES) {
        if (*value == '\0') {
            text_str(t, " \"\"");
        }
        for (char *save, *w = strtok_r(value, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            text_str(t, " ");
            text_word(t, w);
        }
    } else {
        text_str(t, " ");
        text_word(t, value);
    }
    text_str(t, "\n");
}

/* The option a file line sets, read as the loader reads it (its first
 * word may be quoted), or NULL: a comment, a blank line, or a line that
 * does not split. */
static const struct option *line_option(const char *line)
{
    const char *first = line;
    while (isspace((unsigned char)*first))
        first++;
    if (*first == '#' || *first == '\0')
        return NULL;
    char *copy = xstrdup(first);
    char *words[PROXY_MAX_BIND + 2];
    int n = split_line(copy, words, PROXY_MAX_BIND + 1);
    const struct option *o = n > 0 ? option_find(words[0]) : NULL;
    free(copy);
    return o;
}

/* Writes text to path through a temporary file in the same directory,
 * synced, then renamed over it: a crash leaves the old file or the new
 * one, never half of one. The file keeps its permission bits; a symbolic
 * link keeps pointing where it did, at the rewritten file. */
static int write_atomically(const char *link, const struct text *t, char *err, size_t errlen)
{
    char real[PATH_MAX];
    const char *path = realpath(link, real) ? real : link;
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
    char tmp[PATH_MAX + 32];
    if (snprintf(tmp, sizeof(tmp), "%s.rewrite-XXXXXX", path) >= (int)sizeof(tmp))
        return fail(err, errlen, "%s", strerror(ENAMETOOLONG));
    int fd = mkstemp(tmp);
    if (fd < 0)
        return fail(err, errlen, "%s", strerror(errno));
    size_t done = 0;
    while (done < t->len) {
        ssize_t w = write(fd, t->p + done, t->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        done += (size_t)w;
    }
    int e = done < t->len ? errno : 0;
    if (e == 0 && (fchmod(fd, mode) != 0 || fsync(fd) != 0))
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        return fail(err, errlen, "%s", strerror(e));
    }
    /* The rename itself is durable once the directory is synced. */
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int proxy_config_rewrite(const struct proxy_config *cfg, const char *path, char *err,
                         size_t errlen)
{
    struct text out = {0};
    struct proxy_config defaults;
    proxy_config_init(&defaults);
    int written[NOPTIONS] = {0};
    FILE *f = fopen(path, "r");
    if (f == NULL && errno != ENOENT) {
        proxy_config_fini(&defaults);
        return fail(err, errlen, "%s", strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int marker = 0;
    while (f && (got = getline(&line, &cap, f)) >= 0) {
        if (strcmp(line, REWRITE_MARKER "\n") == 0 || strcmp(line, REWRITE_MARKER) == 0) {
            marker = 1;
            text_str(&out, REWRITE_MARKER "\n");
            continue;
        }
        const struct option *o = line_option(line);
        if (o == NULL) {
            text_add(&out, line, (size_t)got);
            if (got > 0 && line[got - 1] != '\n')
                text_str(&out, "\n");
            continue;
        }
        /* The option's first line takes its value now; later ones, which
         * the value now stands for, go. */
        size_t i = (size_t)(o - options);
        if (!written[i])
            text_option(&out, cfg, o);
        written[i] = 1;
    }
    int read_failed = f && ferror(f);
    free(line);
    if (f)
        fclose(f);
    if (read_failed) {
        proxy_config_fini(&defaults);
        free(out.p);
        return fail(err, errlen, "%s", strerror(EIO));
    }
    /* Options the file did not set and that no longer have their default
     * go at the end, below Redis's marker. */
    for (size_t i = 0; i < NOPTIONS; i++) {
        char now[PROXY_CONFIG_VALUE_MAX + 1], def[PROXY_CONFIG_VALUE_MAX + 1];
        proxy_config_get(cfg, options[i].name, now, sizeof(now));
        proxy_config_get(&defaults, options[i].name, def, sizeof(def));
        if (written[i] || strcmp(now, def) == 0)
            continue;
        if (!marker) {
            text_str(&out, REWRITE_MARKER "\n");
            marker = 1;
        }
        text_option(&out, cfg, &options[i]);
    }
    proxy_config_fini(&defaults);
    int rc = write_atomically(path, &out, err, errlen);
    free(out.p);
    return rc;
}

int proxy_config_validate(const struct proxy_config *cfg, char *err, size_t errlen)
{
    if (cfg->upstream_host == NULL && cfg->phase != PROXY_PHASE_RAFT_ONLY)
        return fail(err, errlen, "phase %s needs an upstream Redis: set 'upstream host:port'",
                    proxy_phase_name(cfg->phase));
    if (cfg->phase != PROXY_PHASE_REDIS && cfg->phase != PROXY_PHASE_RAFT_ONLY)
        return fail(err, errlen,
                    "phase %s needs a raft group, which this node does not run yet; "
                    "use 'redis' or 'raft-only'",
                    proxy_phase_name(cfg->phase));
    if (cfg->port == 0 && cfg->unixsocket == NULL && cfg->tls_port == 0)
        return fail(err, errlen, "'port' is 0 and neither 'unixsocket' nor 'tls-port' is set: "
                                 "ferry would accept no clients");
    if (cfg->tls_port && (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL))
        return fail(err, errlen, "'tls-port' needs 'tls-cert-file' and 'tls-key-file'");
    if (cfg->admin_tls && cfg->admin_port == 0)
        return fail(err, errlen, "'admin-tls' needs 'admin-port'");
    if (cfg->admin_tls && (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL))
        return fail(err, errlen, "'admin-tls' needs 'tls-cert-file' and 'tls-key-file'");
    if (cfg->tls_port && cfg->tls_auth_clients != PROXY_TLS_AUTH_NO && !cfg->tls_ca_cert_file)
        return fail(err, errlen, "'tls-auth-clients %s' needs 'tls-ca-cert-file' to check client "
                                 "certificates against (or set it to no)",
                    tlsauth[cfg->tls_auth_clients]);
    if (cfg->tls_port && cfg->tls_port == cfg->port)
        return fail(err, errlen, "'tls-port' and 'port' are both %d", cfg->port);
    if (cfg->upstream_tls && cfg->upstream_host && cfg->upstream_port == 0)
        return fail(err, errlen, "'upstream-tls' needs a host:port upstream: Redis serves no "
                                 "TLS on a unix socket");
    if ((cfg->upstream_tls_cert_file == NULL) != (cfg->upstream_tls_key_file == NULL))
        return fail(err, errlen, "'upstream-tls-cert-file' and 'upstream-tls-key-file' go "
                                 "together: set both or neither");
    if (cfg->upstream_user != NULL && cfg->upstream_password == NULL)
        return fail(err, errlen, "'upstream-user' is set but 'upstream-password' is not");
    return 0;
}

int proxy_config_get(const struct proxy_config *cfg, const char *name, char *out, size_t outlen)
{
    const struct option *o = option_find(name);
    if (o == NULL)
        return -1;
    const void *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STRING:
    case OPT_HOST: {
        const char *s = *(char *const *)field;
        snprintf(out, outlen, "%s", s ? s : "");
        break;
    }
    case OPT_INT: {
        int v = *(const int *)field;
        if (v < 0 && o->choices)
            snprintf(out, outlen, "%s", o->choices[-v - 1]);
        else
            snprintf(out, outlen, "%d", v);
        break;
    }
    case OPT_MEMORY:
        snprintf(out, outlen, "%lld", *(const long long *)field);
        break;
    case OPT_OCTAL:
        snprintf(out, outlen, "%o", (unsigned)*(const int *)field);
        break;
    case OPT_BOOL:
        snprintf(out, outlen, "%s", *(const int *)field ? "yes" : "no");
        break;
    case OPT_ENUM:
        snprintf(out, outlen, "%s", o->choices[*(const int *)field]);
        break;
    case OPT_EVENTS: {
        char letters[32];
        store_events_format((unsigned)*(const int *)field, letters);
        snprintf(out, outlen, "%s", letters);
        break;
    }
    case OPT_PERCENTILES: {
        const struct proxy_percentiles *p = field;
        out[0] = '\0';
        for (int i = 0; i < p->n; i++) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%g", i ? " " : "", p->p[i]);
        }
        break;
    }
    case OPT_BIND:
        out[0] = '\0';
        for (int i = 0; i < cfg->nbind; i++) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%s", i ? " " : "", cfg->bind[i]);
        }
        break;
    case OPT_ADDR:
        if (cfg->upstream_host == NULL)
            out[0] = '\0';
        else if (cfg->upstream_port == 0)
            snprintf(out, outlen, "%s", cfg->upstream_host); /* a unix socket */
        else if (strchr(cfg->upstream_host, ':'))
            snprintf(out, outlen, "[%s]:%d", cfg->upstream_host, cfg->upstream_port);
        else
            snprintf(out, outlen, "%s:%d", cfg->upstream_host, cfg->upstream_port);
        break;
    }
    return 0;
}

int proxy_config_is_runtime(const char *name)
{
    const struct option *o = option_find(name);
    return o ? o->runtime : -1;
}

void proxy_config_copy(struct proxy_config *dst, const struct proxy_config *src)
{
    *dst = *src;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        char **s = (char **)((char *)dst + o->offset);
        if (o->type == OPT_BIND) {
            for (int k = 0; k < dst->nbind; k++)
                dst->bind[k] = xstrdup(src->bind[k]);
        } else if ((o->type == OPT_STRING || o->type == OPT_HOST || o->type == OPT_ADDR) && *s) {
            *s = xstrdup(*s);
        }
    }
}

void proxy_config_take_runtime(struct proxy_config *cur, struct proxy_config *next)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        if (!o->runtime)
            continue;
        char *a = (char *)cur + o->offset, *b = (char *)next + o->offset;
        char tmp[sizeof(struct proxy_percentiles)];
        size_t size = o->type == OPT_STRING        ? sizeof(char *)
                      : o->type == OPT_MEMORY      ? sizeof(long long)
                      : o->type == OPT_PERCENTILES ? sizeof(struct proxy_percentiles)
                                                   : sizeof(int); /* OPT_INT, OPT_ENUM, OPT_BOOL,
                                                                     OPT_OCTAL, OPT_EVENTS */
        _Static_assert(sizeof(char *) <= sizeof(tmp) && sizeof(long long) <= sizeof(tmp),
                       "a field fits tmp");
        memcpy(tmp, a, size);
        memcpy(a, b, size);
        memcpy(b, tmp, size);
    }
}

void proxy_config_each(void (*fn)(const char *name, void *arg), void *arg)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        fn(options[i].name, arg);
}

const char *proxy_phase_name(int phase)
{
    return phase >= 0 && phase <= PROXY_PHASE_RAFT_ONLY ? phases[phase] : "?";
}

int proxy_phase_parse(const char *s)
{
    return enum_index(phases, s);
}

int proxy_config_from_args(struct proxy_config *cfg, int argc, char **argv, const char **file,
                           char *err, size_t errlen)
{
    int i = 0;
    *file = NULL;
    if (argc > 0 && strncmp(argv[0], "--", 2) != 0) {
        *file = argv[0];
        if (proxy_config_load_file(cfg, argv[0], err, errlen) < 0)
            return -1;
        i = 1;
    }
    while (i < argc) {
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0')
            return fail(err, errlen, "command line: expected --option, got '%s'", argv[i]);
        int j = i + 1;
        while (j < argc && strncmp(argv[j], "--", 2) != 0)
            j++;
        char *words[PROXY_MAX_BIND + 1];
        int n = j - i;
        if (n > PROXY_MAX_BIND + 1)
            return fail(err, errlen, "command line: too many values for %s", argv[i]);
        words[0] = argv[i] + 2;
        for (int k = 1; k < n; k++)
            words[k] = argv[i + k];
        char why[256];
        if (proxy_config_set(cfg, n, words, why, sizeof(why)) < 0)
            return fail(err, errlen, "command line: %s", why);
        i = j;
    }
    return 0;
}
