/* The command table and dispatch. */
#include "store/store_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static const struct store_cmd store_cmds[] = {
#define STORE_CMD(n, a, c, f) {#n, a, c, f, store_cmd_##n},
#include "store/cmds.h"
#undef STORE_CMD
};

#define STORE_NCMDS ((int)(sizeof(store_cmds) / sizeof(store_cmds[0])))

/* Indexed by position in resp_commands: the command table's own hash finds
 * a name once per entry, and this maps it to the store's implementation. */
static const struct store_cmd **store_cmd_index;

static void store_cmd_index_build(void)
{
    const struct store_cmd **idx = calloc((size_t)resp_ncommands, sizeof(*idx));
    STORE_ASSERT(idx != NULL);
    for (int i = 0; i < STORE_NCMDS; i++) {
        const struct resp_command *rc =
            resp_command_lookup(store_cmds[i].name, strlen(store_cmds[i].name));
        STORE_ASSERT(rc != NULL); /* the store serves Redis commands only */
        idx[rc - resp_commands] = &store_cmds[i];
    }
    store_cmd_index = idx;
}

const struct store_cmd *store_cmd_find(const char *name, size_t len)
{
    if (store_cmd_index == NULL)
        store_cmd_index_build();
    const struct resp_command *rc = resp_command_lookup(name, len);
    return rc ? store_cmd_index[rc - resp_commands] : NULL;
}

int store_command_class(const char *name, size_t len, unsigned *flags)
{
    const struct store_cmd *cmd = store_cmd_find(name, len);
    if (flags)
        *flags = cmd ? cmd->flags : 0;
    return cmd ? cmd->cls : STORE_CLASS_UNKNOWN;
}

static int store_arity_ok(int arity, int argc)
{
    return arity > 0 ? argc == arity : argc >= -arity;
}

int store_command_check_arity(int argc, char **argv, size_t *argvlen, struct resp_buf *reply)
{
    const struct store_cmd *cmd = store_cmd_find(argv[0], argvlen[0]);
    if (cmd == NULL || store_arity_ok(cmd->arity, argc))
        return 0;
    resp_add_errorf(reply, "ERR wrong number of arguments for '%s' command", cmd->name);
    return 1;
}

void store_exec_cmd(struct store_ctx *c, int argc, char **argv, size_t *len)
{
    const struct store_cmd *cmd = store_cmd_find(argv[0], len[0]);
    if (cmd == NULL) {
        resp_add_errorf(c->out, "ERR unknown command '%.128s'", argv[0]);
        return;
    }
    if (!store_arity_ok(cmd->arity, argc)) {
        resp_add_errorf(c->out, "ERR wrong number of arguments for '%s' command", cmd->name);
        return;
    }
    if (cmd->cls == STORE_CLASS_WRITE && !c->write) {
        resp_add_error(c->out, "ERR ferry: write command in a read context");
        return;
    }
    c->replacing = 0;
    /* A read's lookups are Redis's lookupKeyRead, in a transaction too. */
    c->count_lookups = cmd->cls == STORE_CLASS_READ;
    cmd->fn(c, argc, argv, len);
}

void store_reply_unknown(int argc, char **argv, size_t *argvlen, struct resp_buf *reply)
{
    /* Redis processCommand: each argument as '%.*s' followed by a space,
     * while the list stays under 128 bytes. */
    char args[512];
    size_t n = 0;
    args[0] = 0;
    for (int i = 1; i < argc && n < 128; i++) {
        int room = 128 - (int)n;
        int w = snprintf(args + n, sizeof(args) - n, "'%.*s' ",
                         (int)(argvlen[i] < (size_t)room ? argvlen[i] : (size_t)room), argv[i]);
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= sizeof(args))
            n = sizeof(args) - 1;
    }
    resp_add_errorf(reply, "ERR unknown command '%.128s', with args beginning with: %s", argv[0],
                    args);
}

/* The arguments of LMPOP, ZMPOP and their blocking forms, numkeys
 * (argv[nk]) on: the keys, a direction (w0: where 0, w1: where 1), then
 * COUNT n. Checked in Redis's order; -1 with the error replied. */
static int store_mpop_args(struct store_ctx *c, int argc, char **argv, size_t *len, int nk,
                           const char *w0, const char *w1, struct store_pop *m)
{
    long long numkeys;
    if (!resp_string2ll(argv[nk], len[nk], &numkeys) || numkeys < 1) {
        resp_add_error(c->out, "ERR numkeys should be greater than 0");
        return -1;
    }
    if (numkeys > argc - nk - 2) { /* no room for the direction */
        resp_add_error(c->out, STORE_ESYNTAX);
        return -1;
    }
    int widx = nk + 1 + (int)numkeys;
    if (store_strcasecmp_arg(argv[widx], len[widx], w0))
        m->where = 0;
    else if (store_strcasecmp_arg(argv[widx], len[widx], w1))
        m->where = 1;
    else {
        resp_add_error(c->out, STORE_ESYNTAX);
        return -1;
    }
    long long count = -1;
    for (int j = widx + 1; j < argc; j++) {
        if (count == -1 && j + 1 < argc && store_strcasecmp_arg(argv[j], len[j], "count")) {
            j++;
            if (!resp_string2ll(argv[j], len[j], &count) || count < 1 || count > LONG_MAX) {
                resp_add_error(c->out, "ERR count should be greater than 0");
                return -1;
            }
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return -1;
        }
    }
    m->first = nk + 1;
    m->nkeys = (int)numkeys;
    m->count = count == -1 ? 1 : (long)count;
    return 0;
}

void store_pop_first(struct store_ctx *c, char **argv, size_t *len, int timeout,
                     store_pop_fn pop, const struct store_pop *p)
{
    long long deadline;
    if (timeout && store_parse_timeout(argv[timeout], len[timeout], c->now, &deadline, c->out))
        return;
    for (int j = p->first; j < p->first + p->nkeys; j++)
        if (pop(c, argv[j], len[j], p) != 0)
            return;
    if (timeout && !c->in_multi)
        c->blocked = 1;
    else
        resp_add_null_array(c->out);
}

void store_mpop(struct store_ctx *c, int argc, char **argv, size_t *len, int block,
                const char *w0, const char *w1, store_pop_fn pop)
{
    struct store_pop m = {.nested = 1};
    if (store_mpop_args(c, argc, argv, len, block ? 2 : 1, w0, w1, &m) == 0)
        store_pop_first(c, argv, len, block ? 1 : 0, pop, &m);
}
