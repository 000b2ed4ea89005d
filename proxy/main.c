/* ferry: a Redis-protocol sidecar. See README.md and docs/CONFIG.md. */
#include "proxy/core.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(void)
{
    printf("ferry %s: a Redis-protocol proxy that moves a Redis onto a Raft group\n\n"
           "usage: ferry [config-file] [--option value ...]\n"
           "       ferry --check-config config-file [--option value ...]\n"
           "       ferry --help | --version\n\n"
           "Options are the names of the config file (docs/CONFIG.md), for example:\n"
           "  --port 6380 --bind 127.0.0.1 --upstream 127.0.0.1:6379 --phase redis\n\n"
           "Every option:\n",
           PROXY_VERSION);
}

static void print_option(const char *name, void *arg)
{
    const struct proxy_config *cfg = arg;
    char value[PROXY_CONFIG_VALUE_MAX + 1];
    proxy_config_get(cfg, name, value, sizeof(value));
    printf("  --%-26s (default: %s)\n", name, value[0] ? value : "\"\"");
}

int main(int argc, char **argv)
{
    /* SORT ... ALPHA compares with strcoll in the environment's collation,
     * as Redis does (it sets the same category, and only that one). */
    setlocale(LC_COLLATE, "");
    int check_only = 0;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        struct proxy_config defaults;
        proxy_config_init(&defaults);
        print_help();
        proxy_config_each(print_option, &defaults);
        proxy_config_fini(&defaults);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
        printf("ferry %s (speaks Redis %s protocol)\n", PROXY_VERSION, PROXY_REDIS_VERSION);
        return 0;
    }
    int first = 1;
    if (argc >= 2 && strcmp(argv[1], "--check-config") == 0) {
        if (argc < 3 || strncmp(argv[2], "--", 2) == 0) {
            fprintf(stderr, "ferry: --check-config needs a config file\n");
            return 2;
        }
        check_only = 1;
        first = 2;
    }

    struct proxy_config cfg;
    proxy_config_init(&cfg);
    const char *file;
    char err[1024];
    if (proxy_config_from_args(&cfg, argc - first, argv + first, &file, err, sizeof(err)) < 0 ||
        proxy_config_validate(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ferry: %s\n", err);
        proxy_config_fini(&cfg);
        return 2;
    }
    if (check_only) {
        printf("ferry: %s: configuration OK\n", file ? file : "(command line)");
        proxy_config_fini(&cfg);
        return 0;
    }

    proxy_log_open(&cfg);
    struct proxy_server *s = proxy_server_new(&cfg, err, sizeof(err));
    if (s == NULL) {
        proxy_log_warning("%s", err);
        fprintf(stderr, "ferry: %s\n", err);
        return 1;
    }
    s->config_argc = argc - first;
    s->config_argv = argv + first;
    int rc = proxy_server_run(s);
    proxy_server_free(s);
    proxy_log_close();
    return rc;
}
