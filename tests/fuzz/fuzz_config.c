/* libFuzzer target: the config file parser.
 *
 * The input is a config file. Whatever it holds, loading it must end in
 * success or in one "FILE:LINE: reason" error, never a crash or a leak; and
 * after a successful load every option must survive a round trip: what
 * CONFIG GET prints for it, set again, must print the same (so a config
 * written back from CONFIG GET means what was running). And the file as
 * CONFIG REWRITE rewrites it must load, to the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *name, const char *value)
{
    fprintf(stderr, "fuzz_config: %s: %s '%s'\n", what, name, value);
    abort();
}

/* Sets the option from a CONFIG GET value: one word, but for bind, which
 * prints its addresses with spaces between them, as Redis does. */
static int set_from(struct proxy_config *cfg, const char *name, char *value)
{
    char *argv[PROXY_MAX_BIND + 2];
    int argc = 0;
    argv[argc++] = (char *)name;
    if (strcmp(name, "bind") == 0) {
        char *save = NULL;
        for (char *w = strtok_r(value, " ", &save); w && argc < PROXY_MAX_BIND + 1;
             w = strtok_r(NULL, " ", &save))
            argv[argc++] = w;
    } else {
        argv[argc++] = value;
    }
    char why[256];
    return proxy_config_set(cfg, argc, argv, why, sizeof(why));
}

struct rewrite_check {
    const struct proxy_config *before, *after;
};

static void rewrite_compare(const char *name, void *arg)
{
    const struct rewrite_check *r = arg;
    char before[PROXY_CONFIG_VALUE_MAX + 1], after[PROXY_CONFIG_VALUE_MAX + 1];
    proxy_config_get(r->before, name, before, sizeof(before));
    proxy_config_get(r->after, name, after, sizeof(after));
    if (strcmp(before, after) != 0)
        fail("CONFIG REWRITE changed a value", name, before);
}

static struct proxy_config *round_cfg;

static void round_trip(const char *name, void *arg)
{
    (void)arg;
    char before[PROXY_CONFIG_VALUE_MAX + 1], copy[PROXY_CONFIG_VALUE_MAX + 1],
        after[PROXY_CONFIG_VALUE_MAX + 1];
    if (proxy_config_get(round_cfg, name, before, sizeof(before)) < 0)
        fail("an option CONFIG GET does not know", name, "");
    snprintf(copy, sizeof(copy), "%s", before);
    if (set_from(round_cfg, name, copy) < 0)
        fail("CONFIG GET printed a value that does not load", name, before);
    if (proxy_config_get(round_cfg, name, after, sizeof(after)) < 0 || strcmp(before, after))
        fail("a value changed on its way round", name, before);
}

/* CONFIG REWRITE of the input file, holding what cfg loaded from it, and
 * the rewritten file loaded again: every option as it was. The copy is in
 * /dev/shm where there is one, so that the rewrite's fsyncs cost nothing. */
static void rewrite_round_trip(const struct proxy_config *cfg, const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "%s/fuzz-config-%d.conf",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    char err[512];
    if (proxy_config_rewrite(cfg, path, err, sizeof(err)) != 0)
        fail("CONFIG REWRITE failed", path, err);
    struct proxy_config back;
    proxy_config_init(&back);
    if (proxy_config_load_file(&back, path, err, sizeof(err)) != 0)
        fail("a rewritten file does not load", path, err);
    unlink(path);
    struct rewrite_check r = {cfg, &back};
    proxy_config_each(rewrite_compare, &r);
    proxy_config_fini(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz-config", 0)) < 0)
        abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char path[64], err[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    struct proxy_config cfg;
    proxy_config_init(&cfg);
    err[0] = 0;
    if (proxy_config_load_file(&cfg, path, err, sizeof(err)) == 0) {
        proxy_config_validate(&cfg, err, sizeof(err));
        rewrite_round_trip(&cfg, data, size);
        round_cfg = &cfg;
        proxy_config_each(round_trip, NULL);
    } else if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':') {
        fail("an error without the file's name", path, err);
    }
    proxy_config_fini(&cfg);
    return 0;
}
