/* store-pipe: serves RESP requests from stdin with the store alone (no
 * proxy, no event loop), replies on stdout. Used by the differential test to
 * check the store's replies against redis-server independently of the
 * proxy, and handy for poking at the store by hand:
 *     printf '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' | build/tests/diff/store-pipe DIR
 * Every write is prepared, applied and committed on its own (no sync). */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "store/store.h"

static unsigned long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000;
}

static int read_line(char *buf, size_t cap)
{
    if (fgets(buf, (int)cap, stdin) == NULL)
        return -1;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return (int)n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store-pipe DIR [MAPSIZE]\n");
        return 2;
    }
    setlocale(LC_COLLATE, ""); /* SORT ALPHA collates as ferry and Redis do */
    size_t map = argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)1 << 30;
    struct store *s;
    char err[256];
    if (store_open(&s, argv[1], map, STORE_NOSYNC, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct resp_buf out, entry;
    resp_buf_init(&out);
    resp_buf_init(&entry);
    char line[1024];
    uint64_t seed = 12345;
    while (read_line(line, sizeof(line)) >= 0) {
        if (line[0] != '*')
            continue;
        int n = atoi(line + 1);
        if (n <= 0)
            continue;
        char **av = calloc((size_t)n, sizeof(char *));
        size_t *al = calloc((size_t)n, sizeof(size_t));
        for (int i = 0; i < n; i++) {
            if (read_line(line, sizeof(line)) < 0 || line[0] != '$')
                return 1;
            al[i] = strtoull(line + 1, NULL, 10);
            av[i] = malloc(al[i] + 3);
            if (fread(av[i], 1, al[i] + 2, stdin) != al[i] + 2)
                return 1;
            av[i][al[i]] = 0;
        }
        unsigned flags;
        int cls = store_command_class(av[0], al[0], &flags);
        uint64_t now = now_ms();
        resp_buf_reset(&out);
        if (cls == STORE_CLASS_UNKNOWN) {
            store_reply_unknown(n, av, al, &out);
        } else if (store_command_check_arity(n, av, al, &out)) {
        } else if (cls != STORE_CLASS_READ ||
                   store_read(s, n, av, al, now, &out) == STORE_EWRITE) {
            resp_buf_reset(&entry);
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (store_prepare(s, n, av, al, now, seed, &entry, &out) == 1) {
                struct store_txn *t;
                int blocked = 0;
                int rc = store_txn_begin(s, &t);
                if (rc == 0)
                    rc = store_txn_apply(t, 0, entry.data, entry.len, &out, &blocked);
                if (rc == 0)
                    rc = store_txn_commit(t);
                else
                    store_txn_abort(t);
                if (rc != 0)
                    resp_add_errorf(&out, "ERR store: %s", store_strerror(rc));
                else if (blocked)
                    resp_add_null_array(&out);
            }
        }
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
        for (int i = 0; i < n; i++)
            free(av[i]);
        free(av);
        free(al);
    }
    store_close(s);
    resp_buf_fini(&out);
    resp_buf_fini(&entry);
    return 0;
}
