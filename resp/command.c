/* Command lookup, arity and key extraction over the generated table
 * (resp/commands.c). Key extraction follows Redis 7.0's
 * getKeysFromCommandWithSpecs (db.c), so it returns what COMMAND GETKEYS
 * returns: key specs first, and Redis's hand-written getkeys functions where
 * the specs cannot tell (SORT's STORE, MIGRATE's KEYS). */
#include "resp/resp.h"
#include "resp/command_table.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Compares the len bytes at s, lowercased, with the NUL-terminated,
 * lower-case table name, as strcmp would order them. */
static int resp_name_cmp(const char *s, size_t len, const char *name)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char a = (unsigned char)s[i];
        unsigned char b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + ('a' - 'A'));
        if (b == '\0')
            return 1; /* name is a proper prefix of s */
        if (a != b)
            return a < b ? -1 : 1;
    }
    return name[len] == '\0' ? 0 : -1;
}

/* Binary search over a name-sorted table (subcommands: a few dozen at most).
 * skip: bytes of each name to ignore (the "parent|" prefix). */
static const struct resp_command *resp_bsearch(const struct resp_command *tab, int n,
                                               const char *s, size_t len, size_t skip)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = resp_name_cmp(s, len, tab[mid].name + skip);
        if (c == 0)
            return &tab[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Longer than any command name: such a name is not looked up at all. */
#define RESP_NAME_MAX 64

const struct resp_command *resp_command_lookup(const char *name, size_t len)
{
    /* Runs once per request: lower-case and hash in one pass, then probe
     * the generator's hash index (resp/command_table.h). */
    char low[RESP_NAME_MAX];
    uint32_t h = 2166136261u;
    if (len == 0 || len >= RESP_NAME_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        else if (c == '\0')
            return NULL; /* no name holds a NUL */
        low[i] = (char)c;
        h = (h ^ c) * 16777619u;
    }
    for (uint32_t slot = h & (RESP_COMMAND_HASH_SIZE - 1);;
         slot = (slot + 1) & (RESP_COMMAND_HASH_SIZE - 1)) {
        unsigned idx = resp_command_hash[slot];
        if (idx == 0)
            return NULL;
        const struct resp_command *c = &resp_commands[idx - 1];
        if (strncmp(c->name, low, len) == 0 && c->name[len] == '\0')
            return c;
    }
}

const struct resp_command *resp_command_lookup_sub(const struct resp_command *cmd,
                                                   const char *name, size_t len)
{
    if (cmd == NULL || cmd->nsub == 0 || len == 0 || memchr(name, '\0', len) != NULL)
        return NULL;
    /* Subcommands are named "parent|sub" and share the parent's prefix. */
    size_t skip = strlen(cmd->name) + 1;
    return resp_bsearch(cmd->subcommands, cmd->nsub, name, len, skip);
}

int resp_command_arity_ok(const struct resp_command *cmd, int argc)
{
    if (cmd->arity >= 0)
        return argc == cmd->arity;
    return argc >= -cmd->arity;
}

void resp_command_upper_name(const char *name, char *buf, size_t size)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        buf[i] = name[i] == '|' ? ' ' : (char)toupper((unsigned char)name[i]);
    buf[i] = 0;
}

const struct resp_command *resp_subcommand_check(const char *container, int argc, char **argv,
                                                 const size_t *len, struct resp_buf *err)
{
    const struct resp_command *cmd = resp_command_lookup(container, strlen(container));
    if (cmd == NULL || !resp_command_arity_ok(cmd, argc)) {
        resp_add_errorf(err, "ERR wrong number of arguments for '%s' command", container);
        return NULL;
    }
    const struct resp_command *sub = resp_command_lookup_sub(cmd, argv[1], len[1]);
    if (sub == NULL) {
        char upper[32];
        resp_command_upper_name(container, upper, sizeof(upper));
        resp_add_errorf(err, "ERR unknown subcommand '%.128s'. Try %s HELP.", argv[1], upper);
        return NULL;
    }
    if (!resp_command_arity_ok(sub, argc)) {
        resp_add_errorf(err, "ERR wrong number of arguments for '%s' command", sub->name);
        return NULL;
    }
    return sub;
}

static int resp_arg_is(char *const *argv, const size_t *argvlen, int i, const char *word)
{
    size_t n = strlen(word);
    return argvlen[i] == n && strncasecmp(argv[i], word, n) == 0;
}

/* Collected keys: positions (and, when flags is not NULL, each key's
 * enum resp_key_flag bits) go to pos[] while there is room; n counts all. */
struct resp_keys {
    int *pos;
    uint32_t *flags;
    int max;
    int n;
};

static void resp_keys_add(struct resp_keys *k, int i, uint32_t flags)
{
    if (k->n < k->max) {
        k->pos[k->n] = i;
        if (k->flags)
            k->flags[k->n] = flags;
    }
    k->n++;
}

/* getKeysUsingKeySpecs: 0 with the keys added, or -1 when a spec cannot be
 * applied (unknown kind, bad numkeys, out of range). */
static int resp_keys_from_specs(const struct resp_command *cmd, int argc, char *const *argv,
                                const size_t *argvlen, struct resp_keys *k)
{
    for (int j = 0; j < cmd->nkey_specs; j++) {
        const struct resp_key_spec *spec = &cmd->key_specs[j];
        int first = 0, last, step;
        if (spec->flags & RESP_KEY_NOT_KEY)
            continue;
        if (spec->begin_kind == 1) {
            first = spec->begin_index;
        } else if (spec->begin_kind == 2) {
            int from = spec->keyword_start;
            int start = from > 0 ? from : argc + from;
            int end = from > 0 ? argc - 1 : 1;
            for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
                if (i >= argc || i < 1)
                    break;
                if (resp_arg_is(argv, argvlen, i, spec->keyword)) {
                    first = i + 1;
                    break;
                }
            }
            if (!first)
                continue; /* keyword not present: no keys from this spec */
        } else {
            return -1;
        }

        if (spec->find_kind == 1) {
            step = spec->keystep;
            if (spec->lastkey >= 0)
                last = first + spec->lastkey;
            else if (!spec->limit)
                last = argc + spec->lastkey;
            else
                last = first + ((argc - first) / spec->limit + spec->lastkey);
        } else if (spec->find_kind == 2) {
            step = spec->keynumstep;
            if (spec->keynumidx >= argc - first)
                continue; /* too few arguments: the arity check reports it */
            int ni = first + spec->keynumidx;
            long long numkeys;
            if (!resp_string2ll(argv[ni], argvlen[ni], &numkeys) || numkeys < 0 ||
                numkeys > argc)
                return -1;
            first += spec->firstkey;
            last = first + (int)numkeys - 1;
        } else {
            return -1;
        }

        if (last >= argc || last < first || first >= argc)
            return -1;
        if (step <= 0)
            return -1;
        for (int i = first; i <= last; i += step)
            resp_keys_add(k, i, spec->flags);
    }
    return 0;
}

/* sortGetKeys: the sorted key, and the last STORE destination. BY/GET
 * patterns are not keys. */
static void resp_keys_sort(int argc, char *const *argv, const size_t *argvlen,
                           struct resp_keys *k)
{
    int store = -1;
    for (int i = 2; i < argc; i++) {
        if (resp_arg_is(argv, argvlen, i, "limit"))
            i += 2;
        else if (resp_arg_is(argv, argvlen, i, "get") || resp_arg_is(argv, argvlen, i, "by"))
            i += 1;
        else if (resp_arg_is(argv, argvlen, i, "store") && i + 1 < argc)
            store = i + 1;
    }
    resp_keys_add(k, 1, RESP_KEY_RO | RESP_KEY_ACCESS);
    if (store > 0)
        resp_keys_add(k, store, RESP_KEY_OW | RESP_KEY_UPDATE);
}

/* migrateGetKeys: argv[3], or with an empty argv[3] the keys after KEYS. */
static void resp_keys_migrate(int argc, char *const *argv, const size_t *argvlen,
                              struct resp_keys *k)
{
    int first = 3, num = 1;
    if (argc > 6) {
        for (int i = 6; i < argc; i++) {
            if (resp_arg_is(argv, argvlen, i, "keys")) {
                if (argvlen[3] > 0)
                    return; /* Redis refuses KEYS with a non-empty key */
                first = i + 1;
                num = argc - first;
                break;
            }
            if (resp_arg_is(argv, argvlen, i, "auth"))
                i += 1;
            else if (resp_arg_is(argv, argvlen, i, "auth2"))
                i += 2;
        }
    }
    for (int i = 0; i < num; i++)
        resp_keys_add(k, first + i, RESP_KEY_RW | RESP_KEY_ACCESS | RESP_KEY_DELETE);
}

/* setGetKeys and bitfieldGetKeys: the flags of SET's and BITFIELD's key,
 * which their specs mark variable. SET with GET reads the old value;
 * BITFIELD only reads while every operation is a GET (an operation it
 * cannot parse counts as a write). */
static uint32_t resp_keys_variable_flags(const struct resp_command *cmd, int argc,
                                         char *const *argv, const size_t *argvlen)
{
    const uint32_t rw = RESP_KEY_RW | RESP_KEY_ACCESS | RESP_KEY_UPDATE;
    if (strcmp(cmd->name, "set") == 0) {
        for (int i = 3; i < argc; i++)
            if (resp_arg_is(argv, argvlen, i, "get"))
                return rw;
        return RESP_KEY_OW | RESP_KEY_UPDATE;
    }
    for (int i = 2; i < argc; i++) {
        int left = argc - i - 1;
        if (resp_arg_is(argv, argvlen, i, "get") && left >= 2)
            i += 2;
        else if ((resp_arg_is(argv, argvlen, i, "set") ||
                  resp_arg_is(argv, argvlen, i, "incrby")) && left >= 3)
            return rw;
        else if (resp_arg_is(argv, argvlen, i, "overflow") && left >= 1)
            i += 1;
        else
            return rw;
    }
    return RESP_KEY_RO | RESP_KEY_ACCESS;
}

int resp_command_keys(const struct resp_command *cmd, int argc, char *const *argv,
                      const size_t *argvlen, int *pos, int max)
{
    return resp_command_keys_flags(cmd, argc, argv, argvlen, pos, NULL, max);
}

int resp_command_keys_flags(const struct resp_command *cmd, int argc, char *const *argv,
                            const size_t *argvlen, int *pos, uint32_t *flags, int max)
{
    struct resp_keys k = {pos, flags, max, 0};
    if (!resp_command_arity_ok(cmd, argc))
        return 0;
    /* Redis prefers the hand-written functions for these: their specs are
     * "unknown" or "incomplete". SET and BITFIELD only vary their flags, so
     * their specs give the right positions. */
    if (strcmp(cmd->name, "sort") == 0) {
        resp_keys_sort(argc, argv, argvlen, &k);
        return k.n;
    }
    if (strcmp(cmd->name, "sort_ro") == 0) {
        resp_keys_add(&k, 1, RESP_KEY_RO | RESP_KEY_ACCESS);
        return k.n;
    }
    if (strcmp(cmd->name, "migrate") == 0) {
        resp_keys_migrate(argc, argv, argvlen, &k);
        return k.n;
    }
    if (resp_keys_from_specs(cmd, argc, argv, argvlen, &k) < 0)
        return 0;
    if (flags && cmd->nkey_specs && (cmd->key_specs[0].flags & RESP_KEY_VARIABLE_FLAGS)) {
        uint32_t f = resp_keys_variable_flags(cmd, argc, argv, argvlen);
        for (int i = 0; i < k.n && i < max; i++)
            flags[i] = f;
    }
    return k.n;
}

void resp_add_key_flags(struct resp_buf *b, uint32_t flags)
{
    /* enum resp_key_flag's bits, in order, as addReplyFlagsForKeyArgs
     * names them. */
    static const char *const names[] = {"RO",     "RW",      "OW",         "RM",
                                        "access", "update",  "insert",     "delete",
                                        "not_key", "incomplete", "variable_flags"};
    const size_t nnames = sizeof(names) / sizeof(names[0]);
    int n = 0;
    for (size_t i = 0; i < nnames; i++)
        n += (flags >> i) & 1;
    resp_add_array(b, n);
    for (size_t i = 0; i < nnames; i++)
        if ((flags >> i) & 1)
            resp_add_simple(b, names[i]);
}

/* Skips the RESP value at *p (the well-formed bytes of a COMMAND INFO
 * entry); 0 at the end of the input. */
static int resp_info_skip(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        return 0;
    char type = **p;
    long long n = 0;
    if (type == '$' || type == '*')
        resp_string2ll(*p + 1, (size_t)(nl - 1 - (*p + 1)), &n);
    *p = nl + 1;
    if (type == '$' && n >= 0)
        *p += n + 2;
    for (long long i = 0; type == '*' && i < n; i++)
        if (!resp_info_skip(p, end))
            return 0;
    return *p <= end;
}

int resp_command_in_category(const struct resp_command *cmd, const char *cat, size_t len)
{
    const char *p = cmd->info_reply, *end = p + cmd->info_reply_len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return 0;
    p = nl + 1; /* the entry's array header */
    for (int i = 0; i < 6; i++) /* name, arity, flags, first, last, step */
        if (!resp_info_skip(&p, end))
            return 0;
    nl = memchr(p, '\n', (size_t)(end - p));
    long long n;
    if (nl == NULL || *p != '*' || !resp_string2ll(p + 1, (size_t)(nl - 1 - (p + 1)), &n))
        return 0;
    p = nl + 1;
    for (long long i = 0; i < n; i++) { /* "+@read" */
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return 0;
        size_t l = (size_t)(nl - 1 - p);
        if (l == len + 2 && strncasecmp(p + 2, cat, len) == 0)
            return 1;
        p = nl + 1;
    }
    return 0;
}

