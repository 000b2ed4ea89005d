/* PUBLISH and the SUBSCRIBE family where ferry serves them itself (phase
 * raft-only, one node): channels, patterns and shard channels of this
 * process's clients, with Redis 7.0's replies and RESP2 message frames.
 *
 * A channel is a named list of its subscribers in subscription order, kept
 * in a chained hash table per kind; each client keeps the channels it is
 * on, in order, for its counts and for UNSUBSCRIBE without arguments. A
 * message is appended after everything already queued for the subscriber,
 * as Redis appends it to the output buffer. */
#include "proxy/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { PS_CHANNEL, PS_PATTERN, PS_SHARD, PS_KINDS };

/* Redis's client-output-buffer-limit for pubsub clients, the hard part: a
 * subscriber that lets this much output pile up is disconnected rather
 * than let it grow without bound. */
#define PS_OUTPUT_LIMIT (32u << 20)

struct ps_chan {
    struct ps_chan *next; /* in its hash bucket */
    struct proxy_client **subs;
    int nsubs, capsubs;
    size_t len;
    char name[];
};

struct ps_table {
    struct ps_chan **b;
    size_t nb, n;
};

struct proxy_pubsub {
    struct ps_chan **on[PS_KINDS]; /* the client's channels, in order */
    int n[PS_KINDS], cap[PS_KINDS];
};

static struct ps_table ps_tables[PS_KINDS];

static const char *const ps_sub_word[PS_KINDS] = {"subscribe", "psubscribe", "ssubscribe"};
static const char *const ps_unsub_word[PS_KINDS] = {"unsubscribe", "punsubscribe",
                                                     "sunsubscribe"};

static void *ps_xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        abort();
    return p;
}

static size_t ps_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static struct ps_chan **ps_slot(struct ps_table *t, const char *name, size_t len)
{
    struct ps_chan **p = &t->b[ps_hash(name, len) & (t->nb - 1)];
    while (*p && !((*p)->len == len && memcmp((*p)->name, name, len) == 0))
        p = &(*p)->next;
    return p;
}

static struct ps_chan *ps_find(int kind, const char *name, size_t len)
{
    struct ps_table *t = &ps_tables[kind];
    return t->nb ? *ps_slot(t, name, len) : NULL;
}

static struct ps_chan *ps_get(int kind, const char *name, size_t len)
{
    struct ps_table *t = &ps_tables[kind];
    if (t->n >= t->nb) { /* grow: keep chains short */
        size_t nb = t->nb ? t->nb * 2 : 64;
        struct ps_chan **b = calloc(nb, sizeof(*b));
        if (b == NULL)
            abort();
        for (size_t i = 0; i < t->nb; i++) {
            for (struct ps_chan *ch = t->b[i], *next; ch; ch = next) {
                next = ch->next;
                size_t h = ps_hash(ch->name, ch->len) & (nb - 1);
                ch->next = b[h];
                b[h] = ch;
            }
        }
        free(t->b);
        t->b = b;
        t->nb = nb;
    }
    struct ps_chan **p = ps_slot(t, name, len);
    if (*p == NULL) {
        struct ps_chan *ch = calloc(1, sizeof(*ch) + len + 1);
        if (ch == NULL)
            abort();
        memcpy(ch->name, name, len);
        ch->len = len;
        *p = ch;
        t->n++;
    }
    return *p;
}

static int ps_index(const struct proxy_pubsub *ps, int kind, const struct ps_chan *ch)
{
    for (int i = 0; ps && i < ps->n[kind]; i++)
        if (ps->on[kind][i] == ch)
            return i;
    return -1;
}

static void ps_add(struct proxy_client *c, struct proxy_pubsub *ps, int kind, struct ps_chan *ch)
{
    if (ch->nsubs == ch->capsubs) {
        ch->capsubs = ch->capsubs ? ch->capsubs * 2 : 4;
        ch->subs = ps_xrealloc(ch->subs, sizeof(*ch->subs) * (size_t)ch->capsubs);
    }
    ch->subs[ch->nsubs++] = c;
    if (ps->n[kind] == ps->cap[kind]) {
        ps->cap[kind] = ps->cap[kind] ? ps->cap[kind] * 2 : 4;
        ps->on[kind] = ps_xrealloc(ps->on[kind], sizeof(*ps->on[kind]) * (size_t)ps->cap[kind]);
    }
    ps->on[kind][ps->n[kind]++] = ch;
}

/* Takes c off channel i of its list; the channel goes when nobody is left. */
static void ps_del(struct proxy_client *c, struct proxy_pubsub *ps, int kind, int i)
{
    struct ps_chan *ch = ps->on[kind][i];
    memmove(&ps->on[kind][i], &ps->on[kind][i + 1],
            sizeof(*ps->on[kind]) * (size_t)(ps->n[kind] - i - 1));
    ps->n[kind]--;
    for (int k = 0; k < ch->nsubs; k++) {
        if (ch->subs[k] == c) {
            memmove(&ch->subs[k], &ch->subs[k + 1],
                    sizeof(*ch->subs) * (size_t)(ch->nsubs - k - 1));
            ch->nsubs--;
            break;
        }
    }
    if (ch->nsubs == 0) {
        struct ps_table *t = &ps_tables[kind];
        *ps_slot(t, ch->name, ch->len) = ch->next;
        t->n--;
        free(ch->subs);
        free(ch);
    }
}

/* Subscriptions that count in kind's replies: channels and patterns
 * together, shard channels apart (Redis 7.0). */
static int ps_count(const struct proxy_pubsub *ps, int kind)
{
    if (ps == NULL)
        return 0;
    return kind == PS_SHARD ? ps->n[PS_SHARD] : ps->n[PS_CHANNEL] + ps->n[PS_PATTERN];
}

static void ps_reply(struct resp_buf *out, const char *word, const char *name, size_t len,
                     int count)
{
    resp_add_array(out, 3);
    resp_add_bulk(out, word, strlen(word));
    if (name)
        resp_add_bulk(out, name, len);
    else
        resp_add_null(out);
    resp_add_int(out, count);
}

static void ps_subscribe(struct proxy_client *c, struct proxy_pubsub **psp, int kind, int argc,
                         char **argv, size_t *len, struct resp_buf *out)
{
    if (*psp == NULL) {
        *psp = calloc(1, sizeof(**psp));
        if (*psp == NULL)
            abort();
    }
    struct proxy_pubsub *ps = *psp;
    for (int i = 1; i < argc; i++) {
        struct ps_chan *ch = ps_get(kind, argv[i], len[i]);
        if (ps_index(ps, kind, ch) < 0)
            ps_add(c, ps, kind, ch);
        ps_reply(out, ps_sub_word[kind], argv[i], len[i], ps_count(ps, kind));
    }
}

static void ps_unsubscribe(struct proxy_client *c, struct proxy_pubsub *ps, int kind, int argc,
                           char **argv, size_t *len, struct resp_buf *out)
{
    if (argc == 1) { /* all of them, in the order they were taken */
        if (ps == NULL || ps->n[kind] == 0)
            ps_reply(out, ps_unsub_word[kind], NULL, 0, ps_count(ps, kind));
        while (ps && ps->n[kind] > 0) {
            struct ps_chan *ch = ps->on[kind][0];
            /* The name outlives ps_del only while others are on it. */
            char small[256];
            size_t n = ch->len;
            char *name = n <= sizeof(small) ? small : malloc(n);
            if (name == NULL)
                abort();
            memcpy(name, ch->name, n);
            ps_del(c, ps, kind, 0);
            ps_reply(out, ps_unsub_word[kind], name, n, ps_count(ps, kind));
            if (name != small)
                free(name);
        }
        return;
    }
    for (int i = 1; i < argc; i++) {
        struct ps_chan *ch = ps_find(kind, argv[i], len[i]);
        int at = ch ? ps_index(ps, kind, ch) : -1;
        if (at >= 0)
            ps_del(c, ps, kind, at);
        ps_reply(out, ps_unsub_word[kind], argv[i], len[i], ps_count(ps, kind));
    }
}

/* Appends one message to subscriber c; a subscriber too far behind is
 * disconnected, as Redis does past its pubsub output limit. */
static void ps_deliver(struct proxy_client *c, const struct resp_buf *msg)
{
    if (proxy_client_killed(c))
        return;
    /* The same message in RESP3 is a push: only its first byte differs. */
    if (c->resp3)
        proxy_client_push_bytes(c, ">", 1);
    size_t skip = c->resp3 ? 1 : 0;
    if (proxy_client_push_bytes(c, msg->data + skip, msg->len - skip) > PS_OUTPUT_LIMIT) {
        proxy_log_warning("client %s: disconnected, over %u MB of pub/sub messages not read",
                          c->addr, PS_OUTPUT_LIMIT >> 20);
        proxy_client_kill(c);
    }
}

/* PUBLISH (kind PS_CHANNEL) and SPUBLISH (PS_SHARD): the receivers. */
static long long ps_publish(int kind, const char *chname, size_t chlen, const char *m,
                            size_t mlen)
{
    long long receivers = 0;
    struct resp_buf msg;
    resp_buf_init(&msg);
    struct ps_chan *ch = ps_find(kind, chname, chlen);
    if (ch) {
        resp_add_array(&msg, 3);
        resp_add_bulk(&msg, kind == PS_SHARD ? "smessage" : "message", kind == PS_SHARD ? 8 : 7);
        resp_add_bulk(&msg, chname, chlen);
        resp_add_bulk(&msg, m, mlen);
        for (int i = 0; i < ch->nsubs; i++)
            ps_deliver(ch->subs[i], &msg);
        receivers += ch->nsubs;
    }
    struct ps_table *t = &ps_tables[PS_PATTERN];
    for (size_t b = 0; kind == PS_CHANNEL && b < t->nb; b++) {
        for (struct ps_chan *p = t->b[b]; p; p = p->next) {
            if (!resp_string_match(p->name, (int)p->len, chname, (int)chlen, 0))
                continue;
            resp_buf_reset(&msg);
            resp_add_array(&msg, 4);
            resp_add_bulk(&msg, "pmessage", 8);
            resp_add_bulk(&msg, p->name, p->len);
            resp_add_bulk(&msg, chname, chlen);
            resp_add_bulk(&msg, m, mlen);
            for (int i = 0; i < p->nsubs; i++)
                ps_deliver(p->subs[i], &msg);
            receivers += p->nsubs;
        }
    }
    resp_buf_fini(&msg);
    return receivers;
}

/* PUBSUB CHANNELS and SHARDCHANNELS: the active ones matching the pattern. */
static void ps_channels(int kind, int argc, char **argv, size_t *len, struct resp_buf *out)
{
    struct ps_table *t = &ps_tables[kind];
    struct resp_buf body;
    resp_buf_init(&body);
    long long n = 0;
    for (size_t b = 0; b < t->nb; b++) {
        for (struct ps_chan *ch = t->b[b]; ch; ch = ch->next) {
            if (argc == 3 && !resp_string_match(argv[2], (int)len[2], ch->name, (int)ch->len, 0))
                continue;
            resp_add_bulk(&body, ch->name, ch->len);
            n++;
        }
    }
    resp_add_array(out, n);
    resp_buf_append(out, body.data, body.len);
    resp_buf_fini(&body);
}

static void ps_numsub(int kind, int argc, char **argv, size_t *len, struct resp_buf *out)
{
    resp_add_array(out, (long long)(argc - 2) * 2);
    for (int i = 2; i < argc; i++) {
        struct ps_chan *ch = ps_find(kind, argv[i], len[i]);
        resp_add_bulk(out, argv[i], len[i]);
        resp_add_int(out, ch ? ch->nsubs : 0);
    }
}

static const char *const ps_help[] = {
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
};

static void ps_pubsub(int argc, char **argv, size_t *len, struct resp_buf *out)
{
    const char *sub = argv[1];
    size_t sl = len[1];
    const struct resp_command *pc = resp_command_lookup("pubsub", 6);
    const struct resp_command *sc = pc ? resp_command_lookup_sub(pc, sub, sl) : NULL;
    if (sc && !resp_command_arity_ok(sc, argc)) {
        resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", sc->name);
        return;
    }
    if (proxy_arg_is(sub, sl, "channels") && argc <= 3) {
        ps_channels(PS_CHANNEL, argc, argv, len, out);
    } else if (proxy_arg_is(sub, sl, "shardchannels") && argc <= 3) {
        ps_channels(PS_SHARD, argc, argv, len, out);
    } else if (proxy_arg_is(sub, sl, "numsub")) {
        ps_numsub(PS_CHANNEL, argc, argv, len, out);
    } else if (proxy_arg_is(sub, sl, "shardnumsub")) {
        ps_numsub(PS_SHARD, argc, argv, len, out);
    } else if (proxy_arg_is(sub, sl, "numpat") && argc == 2) {
        resp_add_int(out, (long long)ps_tables[PS_PATTERN].n);
    } else if (proxy_arg_is(sub, sl, "help") && argc == 2) {
        resp_add_help(out, ps_help, sizeof(ps_help) / sizeof(ps_help[0]));
    } else if (proxy_arg_is(sub, sl, "channels") || proxy_arg_is(sub, sl, "shardchannels") ||
               proxy_arg_is(sub, sl, "numpat") || proxy_arg_is(sub, sl, "help")) {
        resp_add_subcommand_error(out, sub, "PUBSUB");
    } else {
        resp_add_errorf(out, "ERR unknown subcommand '%.128s'. Try PUBSUB HELP.", sub);
    }
}

int proxy_pubsub_is_command(const struct resp_command *cmd)
{
    /* Redis's table flags each of them, and of PUBSUB its subcommands. */
    return cmd && ((cmd->flags & RESP_CMD_PUBSUB) ||
                   (cmd->nsub > 0 && (cmd->subcommands[0].flags & RESP_CMD_PUBSUB)));
}

int proxy_pubsub_is_publish(const char *name, size_t len)
{
    return proxy_arg_is(name, len, "publish") || proxy_arg_is(name, len, "spublish");
}

void proxy_pubsub_publish(char **argv, size_t *len, struct resp_buf *out)
{
    int kind = proxy_arg_is(argv[0], len[0], "spublish") ? PS_SHARD : PS_CHANNEL;
    resp_add_int(out, ps_publish(kind, argv[1], len[1], argv[2], len[2]));
}

long long proxy_pubsub_message(const char *channel, size_t chlen, const char *msg, size_t mlen)
{
    return ps_publish(PS_CHANNEL, channel, chlen, msg, mlen);
}

int proxy_pubsub_command(struct proxy_client *c, struct proxy_pubsub **ps, int argc, char **argv,
                         size_t *len, struct resp_buf *out)
{
    const char *n = argv[0];
    size_t nl = len[0];
    if (proxy_arg_is(n, nl, "subscribe"))
        ps_subscribe(c, ps, PS_CHANNEL, argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "psubscribe"))
        ps_subscribe(c, ps, PS_PATTERN, argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "ssubscribe"))
        ps_subscribe(c, ps, PS_SHARD, argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "unsubscribe"))
        ps_unsubscribe(c, *ps, PS_CHANNEL, argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "punsubscribe"))
        ps_unsubscribe(c, *ps, PS_PATTERN, argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "sunsubscribe"))
        ps_unsubscribe(c, *ps, PS_SHARD, argc, argv, len, out);
    else if (proxy_pubsub_is_publish(n, nl))
        proxy_pubsub_publish(argv, len, out);
    else if (proxy_arg_is(n, nl, "pubsub"))
        ps_pubsub(argc, argv, len, out);
    else if (proxy_arg_is(n, nl, "ping") && proxy_pubsub_subscribed(*ps) && argc > 2)
        resp_add_error(out, "ERR wrong number of arguments for 'ping' command");
    else if (proxy_arg_is(n, nl, "ping") && proxy_pubsub_subscribed(*ps)) {
        /* RESP2's subscribed mode answers PING as a message-like array. */
        resp_add_array(out, 2);
        resp_add_bulk(out, "pong", 4);
        resp_add_bulk(out, argc == 2 ? argv[1] : "", argc == 2 ? len[1] : 0);
    } else
        return 0;
    return 1;
}

int proxy_pubsub_subscribed(const struct proxy_pubsub *ps)
{
    return ps && ps->n[PS_CHANNEL] + ps->n[PS_PATTERN] + ps->n[PS_SHARD] > 0;
}

void proxy_pubsub_client_counts(const struct proxy_pubsub *ps, int *sub, int *psub, int *ssub)
{
    *sub = ps ? ps->n[PS_CHANNEL] : 0;
    *psub = ps ? ps->n[PS_PATTERN] : 0;
    *ssub = ps ? ps->n[PS_SHARD] : 0;
}

void proxy_pubsub_reset(struct proxy_client *c, struct proxy_pubsub **ps)
{
    if (*ps == NULL)
        return;
    for (int k = 0; k < PS_KINDS; k++) {
        while ((*ps)->n[k] > 0)
            ps_del(c, *ps, k, (*ps)->n[k] - 1);
        free((*ps)->on[k]);
    }
    free(*ps);
    *ps = NULL;
}

void proxy_pubsub_stats(size_t *channels, size_t *patterns, size_t *shard_channels)
{
    *channels = ps_tables[PS_CHANNEL].n;
    *patterns = ps_tables[PS_PATTERN].n;
    *shard_channels = ps_tables[PS_SHARD].n;
}

void proxy_pubsub_free_all(void)
{
    for (int k = 0; k < PS_KINDS; k++) {
        free(ps_tables[k].b); /* every channel went with its last client */
        memset(&ps_tables[k], 0, sizeof(ps_tables[k]));
    }
}
