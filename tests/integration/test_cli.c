/* The ferry command line: --help, --version, --check-config, exit codes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

/* Runs ferry with args (a shell word list), capturing stdout+stderr. */
static int run(const char *args, char *out, size_t cap)
{
    const char *bin = support_ferry_bin();
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", bin, args);
    return support_run(cmd, out, cap);
}

Test(cli, help_and_version)
{
    char out[8192];
    cr_assert_eq(run("--help", out, sizeof(out)), 0);
    cr_assert(strstr(out, "--upstream") && strstr(out, "--requirepass"), "%s", out);
    cr_assert_eq(run("--version", out, sizeof(out)), 0);
    cr_assert(strncmp(out, "ferry ", 6) == 0, "%s", out);
}

Test(cli, check_config_reports_file_line_and_reason_with_status_2)
{
    char conf[] = "/tmp/ferry-cli-XXXXXX";
    int fd = mkstemp(conf);
    const char text[] = "port 6390\nupstream 127.0.0.1:6379\ntimeout soon\n";
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    char args[128], out[4096], want[256];
    snprintf(args, sizeof(args), "--check-config %s", conf);
    cr_assert_eq(run(args, out, sizeof(out)), 2, "%s", out);
    snprintf(want, sizeof(want),
             "ferry: %s:3: 'timeout' must be an integer from 0 to 2147483647, got 'soon'\n", conf);
    cr_assert_str_eq(out, want);
    /* The same file with the line fixed on the command line passes. */
    snprintf(args, sizeof(args), "--check-config %s --timeout 5", conf);
    cr_assert_eq(run(args, out, sizeof(out)), 2, "the file is read before overrides: %s", out);
    unlink(conf);
}

Test(cli, unknown_option_on_the_command_line)
{
    char out[4096];
    cr_assert_eq(run("--upstream 127.0.0.1:1 --colour blue", out, sizeof(out)), 2);
    cr_assert_str_eq(out, "ferry: command line: unknown option 'colour'\n");
}

Test(cli, unreachable_port_is_a_clear_start_error)
{
    char out[4096];
    cr_assert_eq(run("--upstream 127.0.0.1:1 --bind 203.0.113.1 --port 6399", out, sizeof(out)), 1);
    cr_assert(strstr(out, "cannot listen on 203.0.113.1:6399: Cannot assign requested address"),
              "%s", out);
}
