/* The ferry command line: --help, --version, --check-config, exit codes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Runs ferry for half a second behind `wrapper` (a shell command prefix),
 * with logging at verbose, capturing its output; the exit status of timeout,
 * 124 when ferry was still up. */
static int run_briefly(const char *wrapper, const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "%s timeout -s TERM 0.5 %s --upstream 127.0.0.1:1 --port %d --loglevel verbose %s "
             "2>&1",
             wrapper, support_ferry_bin(), support_free_port(), args);
    return support_run(cmd, out, cap);
}

/* busy-poll auto polls only with two CPUs to run on: on one, a polling ferry
 * would only delay Redis and the clients it waits for. */
Test(cli, busy_poll_auto_needs_two_cpus)
{
    char out[4096];
    cr_assert_eq(run_briefly("taskset -c 0", "", out, sizeof(out)), 124, "%s", out);
    cr_assert(strstr(out, "busy-poll auto: off, 1.00 CPUs allowed"), "%s", out);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cr_assert_eq(run_briefly("taskset -c 0,1", "", out, sizeof(out)), 124, "%s", out);
    cr_assert(strstr(out, "busy-poll auto: polls while one client at a time is active, 2.00 "
                          "CPUs allowed"),
              "%s", out);
    cr_assert_eq(run_briefly("", "--busy-poll 0", out, sizeof(out)), 124, "%s", out);
    cr_assert_null(strstr(out, "busy-poll auto"), "%s", out);
}

/* ... nor under a CPU quota below two CPUs (a container's CPU limit): the
 * time it polled would be taken back by throttling. The test makes a cgroup
 * with half a CPU, in cgroup v1's cpu hierarchy or v2's, whichever this
 * machine lets root write. */
Test(cli, busy_poll_auto_is_off_under_a_cpu_quota)
{
    char dir[128], setquota[256], out[4096];
    if (access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", W_OK) == 0) {
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/ferry-test-%d", (int)getpid());
        snprintf(setquota, sizeof(setquota), "echo 50000 >%s/cpu.cfs_quota_us", dir);
    } else if (access("/sys/fs/cgroup/cgroup.subtree_control", W_OK) == 0 &&
               system("grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control") == 0) {
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/ferry-test-%d", (int)getpid());
        snprintf(setquota, sizeof(setquota), "echo '50000 100000' >%s/cpu.max", dir);
    } else {
        cr_skip_test("no writable cgroup with the cpu controller here");
    }
    cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
    char wrapper[512];
    snprintf(wrapper, sizeof(wrapper), "%s && sh -c 'echo $$ >%s/cgroup.procs && exec \"$@\"' sh",
             setquota, dir);
    int rc = run_briefly(wrapper, "", out, sizeof(out));
    for (int i = 0; i < 50 && rmdir(dir) != 0; i++)
        usleep(20000); /* the exited processes leave the cgroup a moment later */
    cr_assert_eq(rc, 124, "%s", out);
    cr_assert(strstr(out, "busy-poll auto: off, 0.50 CPUs allowed"), "%s", out);
}

/* sched-policy auto asks for SCHED_BATCH only where ferry shares its one CPU
 * with whatever it serves; the log line reports the policy the kernel gives
 * ferry afterwards (sched_getscheduler), not the one asked for. */
Test(cli, sched_policy_batch_on_one_cpu)
{
    char out[4096];
    cr_assert_eq(run_briefly("taskset -c 0", "", out, sizeof(out)), 124, "%s", out);
    cr_assert(strstr(out, "sched-policy auto (one CPU in the affinity mask): ferry runs as "
                          "SCHED_BATCH"),
              "%s", out);
    cr_assert_eq(run_briefly("taskset -c 0", "--sched-policy normal", out, sizeof(out)), 124, "%s",
                 out);
    cr_assert(strstr(out, "sched-policy normal: ferry runs as SCHED_OTHER"), "%s", out);
    cr_assert_eq(run_briefly("", "--sched-policy batch", out, sizeof(out)), 124, "%s", out);
    cr_assert(strstr(out, "sched-policy batch: ferry runs as SCHED_BATCH"), "%s", out);
    cr_assert_eq(run("--upstream 127.0.0.1:1 --sched-policy fifo", out, sizeof(out)), 2);
    cr_assert(strstr(out, "'sched-policy' must be one of auto, normal, batch, got 'fifo'"), "%s",
              out);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cr_assert_eq(run_briefly("taskset -c 0,1", "", out, sizeof(out)), 124, "%s", out);
    cr_assert(strstr(out, "sched-policy auto (several CPUs in the affinity mask): ferry runs as "
                          "SCHED_OTHER"),
              "%s", out);
}
