/* Config parsing: every bad line is reported with its file, line and reason. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy.h"

static char path[64];

static void cleanup(void)
{
    if (path[0])
        unlink(path);
    path[0] = '\0';
}

/* Writes text to a new file named in path; the one before is removed. */
static void write_conf(const char *text)
{
    cleanup();
    snprintf(path, sizeof(path), "/tmp/ferry-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

TestSuite(proxy_config, .fini = cleanup);

/* Loads text and returns the error (empty when it loaded). */
static const char *load(struct proxy_config *cfg, const char *text)
{
    static char err[512];
    err[0] = '\0';
    write_conf(text);
    proxy_config_init(cfg);
    proxy_config_load_file(cfg, path, err, sizeof(err));
    return err;
}

static void expect_error(const char *text, int line, const char *reason)
{
    struct proxy_config cfg;
    const char *err = load(&cfg, text);
    char want[256];
    snprintf(want, sizeof(want), "%s:%d: %s", path, line, reason);
    cr_assert_str_eq(err, want);
    proxy_config_fini(&cfg);
}

Test(proxy_config, good_file_sets_every_kind_of_option)
{
    struct proxy_config cfg;
    const char *err = load(&cfg, "# comment\n\n  port 7000\nbind 127.0.0.1 ::1\n"
                                 "upstream redis.local:6379\nproto-max-bulk-len 1gb\n"
                                 "requirepass \"with space\"\nloglevel WARNING\nsync no\n"
                                 "phase raft-only\nstore-size 10m\n");
    cr_assert_str_eq(err, "");
    cr_assert_eq(cfg.port, 7000);
    cr_assert_eq(cfg.nbind, 2);
    cr_assert_str_eq(cfg.bind[1], "::1");
    cr_assert_str_eq(cfg.upstream_host, "redis.local");
    cr_assert_eq(cfg.upstream_port, 6379);
    cr_assert_eq(cfg.proto_max_bulk_len, 1024LL * 1024 * 1024);
    cr_assert_str_eq(cfg.requirepass, "with space");
    cr_assert_eq(cfg.loglevel, PROXY_LOG_WARNING);
    cr_assert_eq(cfg.sync, 0);
    cr_assert_eq(cfg.phase, PROXY_PHASE_RAFT_ONLY);
    cr_assert_eq(cfg.store_size, 10 * 1000 * 1000);
    cr_assert_str_eq(cfg.admin_bind, "127.0.0.1"); /* the defaults */
    cr_assert_eq(cfg.admin_port, 0);
    cr_assert_eq(cfg.slowlog_log_slower_than, 10000);
    cr_assert_eq(cfg.slowlog_max_len, 128);
    char out[64];
    cr_assert_eq(proxy_config_get(&cfg, "upstream", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "redis.local:6379");
    proxy_config_fini(&cfg);
}

Test(proxy_config, bad_lines_say_file_line_and_reason)
{
    expect_error("port 6380\nport abc\n", 2, "'port' must be an integer from 0 to 65535, got 'abc'");
    expect_error("port 70000\n", 1, "'port' must be an integer from 0 to 65535, got '70000'");
    expect_error("\n\nnosuch 1\n", 3, "unknown option 'nosuch'");
    expect_error("loglevel loud\n", 1,
                 "'loglevel' must be one of debug, verbose, notice, warning, got 'loud'");
    expect_error("phase sideways\n", 1,
                 "'phase' must be one of redis, mirror, read-raft, raft, raft-only, got 'sideways'");
    expect_error("upstream localhost\n", 1, "'upstream' must be host:port or a unix socket's /path, got 'localhost'");
    expect_error("upstream host:0\n", 1, "'upstream' must be host:port or a unix socket's /path, got 'host:0'");
    expect_error("proto-max-bulk-len 12parsecs\n", 1,
                 "'proto-max-bulk-len' must be a size such as 512mb or 1gb, got '12parsecs'");
    expect_error("proto-max-bulk-len 10\n", 1,
                 "'proto-max-bulk-len' must be from 1048576 to 9223372036854775807 bytes, got '10'");
    expect_error("sync maybe\n", 1, "'sync' must be yes or no, got 'maybe'");
    expect_error("busy-poll often\n", 1,
                 "'busy-poll' must be auto or an integer from 0 to 1000000, got 'often'");
    expect_error("busy-poll -1\n", 1,
                 "'busy-poll' must be auto or an integer from 0 to 1000000, got '-1'");
    expect_error("port 1 2\n", 1, "'port' takes exactly one value, got 2");
    expect_error("bind 127.0.0.1 \"::1 \"\n", 1,
                 "'bind' address '::1 ' is empty or holds a blank or control character");
    expect_error("bind \"\"\n", 1,
                 "'bind' address '' is empty or holds a blank or control character");
    expect_error("port 1\nadmin-bind \"0.0.0.0 \"\n", 2,
                 "'admin-bind' address '0.0.0.0 ' is empty or holds a blank or control character");
    expect_error("admin-bind 127.0.0.1 ::1\n", 1, "'admin-bind' takes exactly one value, got 2");
    expect_error("admin-port -1\n", 1, "'admin-port' must be an integer from 0 to 65535, got '-1'");
    expect_error("upstream [[]:30\n", 1, "'upstream' must be host:port or a unix socket's /path, got '[[]:30'");
    expect_error("slowlog-log-slower-than -2\n", 1,
                 "'slowlog-log-slower-than' must be an integer from -1 to 2147483647, got '-2'");
    expect_error("slowlog-max-len many\n", 1,
                 "'slowlog-max-len' must be an integer from 0 to 2147483647, got 'many'");
    /* Values stay short enough for CONFIG GET to print whole. */
    char line[PROXY_CONFIG_VALUE_MAX + 64], host[PROXY_CONFIG_HOST_MAX + 2];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(line, sizeof(line), "bind %s\n", host);
    expect_error(line, 1, "'bind' address is longer than 255 bytes");
    snprintf(line, sizeof(line), "requirepass %0*d\n", PROXY_CONFIG_VALUE_MAX + 1, 0);
    expect_error(line, 1, "'requirepass' is longer than 4096 bytes");
    expect_error("upstream \"redis .local:6379\"\n", 1,
                 "'upstream' must be host:port or a unix socket's /path, got 'redis .local:6379'");
    expect_error("requirepass \"open\n", 1, "unbalanced quotes");
    expect_error("requirepass \"a\"b\n", 1, "unbalanced quotes");
    /* Unbalanced from the first word on, so no word was finished: this
     * used to read an uninitialised pointer on line 1, and on a later line
     * one into the line before, which getline had freed to make room for a
     * longer one (make asan catches that). */
    expect_error("\"port 7000\n", 1, "unbalanced quotes");
    expect_error("port 7000\n'bind 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 "
                 "127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9 127.0.0.10 127.0.0.11\n",
                 2, "unbalanced quotes");
}

/* A unix socket to listen on, its permission bits (octal, as Redis reads
 * and prints them), and an upstream reached through one. */
Test(proxy_config, unix_sockets)
{
    struct proxy_config cfg;
    const char *err = load(&cfg, "port 0\nunixsocket /run/ferry/ferry.sock\nunixsocketperm 770\n"
                                 "upstream /run/redis/redis.sock\n");
    cr_assert_str_eq(err, "");
    char v[PROXY_CONFIG_VALUE_MAX + 1], why[256];
    cr_assert_eq(proxy_config_validate(&cfg, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(cfg.unixsocketperm, 0770);
    proxy_config_get(&cfg, "unixsocketperm", v, sizeof(v));
    cr_assert_str_eq(v, "770");
    proxy_config_get(&cfg, "unixsocket", v, sizeof(v));
    cr_assert_str_eq(v, "/run/ferry/ferry.sock");
    cr_assert_eq(cfg.upstream_port, 0);
    proxy_config_get(&cfg, "upstream", v, sizeof(v));
    cr_assert_str_eq(v, "/run/redis/redis.sock");
    struct proxy_config copy;
    proxy_config_copy(&copy, &cfg);
    proxy_config_fini(&cfg);
    cr_assert_str_eq(copy.unixsocket, "/run/ferry/ferry.sock");
    proxy_config_fini(&copy);

    expect_error("unixsocketperm 0800\n", 1,
                 "'unixsocketperm' must be octal permission bits from 0 to 777, got '0800'");
    expect_error("unixsocketperm 1777\n", 1,
                 "'unixsocketperm' must be octal permission bits from 0 to 777, got '1777'");
    expect_error("unixsocketperm -7\n", 1,
                 "'unixsocketperm' must be octal permission bits from 0 to 777, got '-7'");
    /* sun_path holds 107 bytes and a NUL: a longer path is refused, not
     * cut short as Redis does. */
    char line[256], p107[PROXY_UNIXSOCKET_MAX + 1];
    memset(p107, 'p', sizeof(p107) - 1);
    p107[0] = '/';
    p107[sizeof(p107) - 1] = '\0';
    snprintf(line, sizeof(line), "unixsocket %s\n", p107);
    cr_assert_str_eq(load(&cfg, line), "");
    proxy_config_fini(&cfg);
    snprintf(line, sizeof(line), "unixsocket %sp\n", p107);
    expect_error(line, 1, "'unixsocket' is longer than 107 bytes");
    snprintf(line, sizeof(line), "upstream %sp\n", p107);
    expect_error(line, 1, "'upstream' unix socket path is longer than 107 bytes");
    /* A bracketed host that starts with '/' would print as a path (found
     * by fuzz_config through CONFIG REWRITE). */
    expect_error("upstream [/x]:9\n", 1,
                 "'upstream' must be host:port or a unix socket's /path, got '[/x]:9'");

    /* port 0 turns TCP off, which leaves the unix socket or nothing. */
    cr_assert_str_eq(load(&cfg, "port 0\nupstream 127.0.0.1:6379\n"), "");
    cr_assert_eq(proxy_config_validate(&cfg, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "'port' is 0 and neither 'unixsocket' nor 'tls-port' is set: ferry "
                          "would accept no clients");
    proxy_config_fini(&cfg);
}

/* Comments are skipped before their words are split, as in Redis. */
Test(proxy_config, a_comment_may_hold_any_quotes)
{
    struct proxy_config cfg;
    cr_assert_str_eq(load(&cfg, "# don't \"panic\nport 7000\n   #'\n"), "");
    cr_assert_eq(cfg.port, 7000);
    proxy_config_fini(&cfg);
}

/* busy-poll is a number of microseconds or the word auto, its default. */
Test(proxy_config, busy_poll_takes_a_number_or_auto)
{
    struct proxy_config cfg;
    char out[64];
    cr_assert_str_eq(load(&cfg, "port 7000\n"), "");
    cr_assert_eq(cfg.busy_poll, PROXY_BUSY_POLL_AUTO);
    cr_assert_eq(proxy_config_get(&cfg, "busy-poll", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "auto");
    proxy_config_fini(&cfg);
    cr_assert_str_eq(load(&cfg, "busy-poll 250\n"), "");
    cr_assert_eq(cfg.busy_poll, 250);
    cr_assert_eq(proxy_config_get(&cfg, "busy-poll", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "250");
    proxy_config_fini(&cfg);
    cr_assert_str_eq(load(&cfg, "busy-poll 250\nbusy-poll AUTO\n"), "");
    cr_assert_eq(cfg.busy_poll, PROXY_BUSY_POLL_AUTO);
    proxy_config_fini(&cfg);
}

/* As Redis takes it: words in a file, one word of numbers from CONFIG SET
 * or the command line, nothing for none. */
Test(proxy_config, latency_percentiles_take_words_or_one_quoted_list)
{
    struct proxy_config cfg;
    char out[128];
    cr_assert_str_eq(load(&cfg, "port 7000\n"), "");
    cr_assert_eq(proxy_config_get(&cfg, "latency-tracking-info-percentiles", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "50 99 99.9");
    proxy_config_fini(&cfg);
    cr_assert_str_eq(load(&cfg, "latency-tracking-info-percentiles 0 50.5 \"99 100\"\n"), "");
    cr_assert_eq(cfg.latency_percentiles.n, 4);
    cr_assert_float_eq(cfg.latency_percentiles.p[1], 50.5, 1e-9);
    cr_assert_eq(proxy_config_get(&cfg, "latency-tracking-info-percentiles", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "0 50.5 99 100");
    proxy_config_fini(&cfg);
    cr_assert_str_eq(load(&cfg, "latency-tracking-info-percentiles\n"), "");
    cr_assert_eq(cfg.latency_percentiles.n, 0);
    proxy_config_fini(&cfg);
    char want[256];
    const char *bad[] = {"101", "-1", "5x", "nan", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"};
    const char *why[] = {"must be numbers from 0 to 100, got '101'",
                         "must be numbers from 0 to 100, got '-1'",
                         "must be numbers from 0 to 100, got '5x'",
                         "must be numbers from 0 to 100, got 'nan'", "takes at most 16 numbers"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "port 7000\nlatency-tracking-info-percentiles \"%s\"\n",
                 bad[i]);
        snprintf(want, sizeof(want), "%%s:2: 'latency-tracking-info-percentiles' %s", why[i]);
        const char *got = load(&cfg, text);
        char expect[512];
        snprintf(expect, sizeof(expect), want, path);
        cr_assert_str_eq(got, expect);
        proxy_config_fini(&cfg);
    }
}

Test(proxy_config, missing_file_is_an_error)
{
    struct proxy_config cfg;
    char err[256];
    proxy_config_init(&cfg);
    cr_assert_eq(proxy_config_load_file(&cfg, "/nonexistent/ferry.conf", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "/nonexistent/ferry.conf: cannot open: No such file or directory");
    proxy_config_fini(&cfg);
}

Test(proxy_config, command_line_overrides_the_file)
{
    write_conf("port 7000\nloglevel debug\n");
    struct proxy_config cfg;
    proxy_config_init(&cfg);
    char *argv[] = {path, "--port", "7001", "--bind", "127.0.0.2", "127.0.0.3"};
    const char *file;
    char err[256];
    cr_assert_eq(proxy_config_from_args(&cfg, 6, argv, &file, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(file, path);
    cr_assert_eq(cfg.port, 7001);
    cr_assert_eq(cfg.loglevel, PROXY_LOG_DEBUG);
    cr_assert_eq(cfg.nbind, 2);
    char *bad[] = {"--port"};
    cr_assert_eq(proxy_config_from_args(&cfg, 1, bad, &file, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "command line: 'port' takes exactly one value, got 0");
    proxy_config_fini(&cfg);
}

Test(proxy_config, validation_needs_an_upstream_for_phase_redis)
{
    struct proxy_config cfg;
    char err[256];
    proxy_config_init(&cfg);
    cr_assert_eq(proxy_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "phase redis needs an upstream Redis: set 'upstream host:port'");
    proxy_config_fini(&cfg);
}

/* docs/CONFIG.md has a row for every option, marked *runtime* exactly for
 * those SIGHUP and CONFIG SET may change. */
static char *config_doc;

static void doc_row_check(const char *name, void *arg)
{
    (void)arg;
    char head[96];
    snprintf(head, sizeof(head), "\n| `%s` | ", name);
    const char *row = strstr(config_doc, head);
    cr_assert(row != NULL, "docs/CONFIG.md has no row for '%s'", name);
    const char *end = strchr(row + 1, '\n');
    int marked = end && memmem(row, (size_t)(end - row), "*runtime.*", 10) != NULL;
    cr_assert_eq(marked, proxy_config_is_runtime(name), "'%s': *runtime.* in docs/CONFIG.md is %s",
                 name, marked ? "there but it needs a restart" : "missing");
}

Test(proxy_config, every_option_is_documented_with_when_it_changes)
{
    FILE *f = fopen("docs/CONFIG.md", "r");
    cr_assert(f != NULL, "run from the repository's root");
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    config_doc = buf;
    proxy_config_each(doc_row_check, NULL);
    cr_assert_eq(proxy_config_is_runtime("nosuch"), -1);
}
