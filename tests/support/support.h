/* Test support: real processes on free loopback ports.
 *
 * Every process started here is tied to the test process (PR_SET_PDEATHSIG),
 * so a crashed test leaves nothing behind, and is stopped by pid in the
 * test's teardown. */
#ifndef FERRY_TEST_SUPPORT_H
#define FERRY_TEST_SUPPORT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/types.h>

struct support_proc {
    pid_t pid;
    int port;
    char dir[256]; /* a private temporary directory; removed by stop */
    char log[300]; /* its output */
};

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int support_free_port(void);
/* Waits until something accepts on 127.0.0.1:port; 0, or -1 after timeout_ms. */
int support_wait_port(int port, int timeout_ms);
/* Starts argv[0] (searched in PATH) with output to logfile. */
pid_t support_spawn(char *const argv[], const char *logfile);
/* The process the next support_*_start starts gets this open files limit,
 * soft and hard (so it cannot raise it); so does every support_spawn until
 * then. */
void support_next_nofile(unsigned long n);
/* SIGTERM, then SIGKILL after grace_ms; reaps; returns the wait status. */
int support_stop_pid(pid_t pid, int grace_ms);

/* redis-server on a free port, no persistence. extra: NULL-terminated
 * additional arguments (e.g. "--requirepass", "x"), or NULL. */
int support_redis_start(struct support_proc *p, const char *const *extra);
/* ferry in front of upstream_port (0: none), with extra arguments. The
 * binary is support_ferry_bin(). */
/* The ferry binary: $FERRY_BIN (set by the Makefile) or ./build/ferry. */
const char *support_ferry_bin(void);
int support_ferry_start(struct support_proc *p, int upstream_port, const char *const *extra);
/* Stops p's ferry (it must exit cleanly) and starts it again on the same
 * data directory, with these arguments; 0, or -1. */
int support_ferry_restart(struct support_proc *p, int upstream_port, const char *const *extra);
void support_proc_stop(struct support_proc *p);
/* Prints the last lines of the process's log to stderr (for failures). */
void support_proc_dump_log(const struct support_proc *p);

/* A hiredis connection to 127.0.0.1:port with a 10 s timeout; asserts. */
redisContext *support_connect(int port);
/* Runs a command and checks the reply's type and string/integer value.
 * `want` is the expected string for STATUS/STRING/ERROR replies. */
void support_expect_str(redisContext *c, int type, const char *want, const char *fmt, ...);
void support_expect_int(redisContext *c, long long want, const char *fmt, ...);
/* A raw socket to 127.0.0.1:port, blocking, 10 s timeouts. */
int support_raw_connect(int port);
/* Sends bytes on a raw socket; asserts they all went. */
void support_raw_send(int fd, const void *p, size_t n);
/* Reads until `n` bytes, EOF or the 10 s timeout; returns how many were read. */
size_t support_raw_recv(int fd, char *buf, size_t n);
/* Reads from fd into out until what was read ends with marker; returns
 * the length (out is NUL-terminated). */
size_t support_recv_until(int fd, const char *marker, char *out, size_t cap);
/* Sends a pipelined script (inline requests, one per line) and then ECHO of
 * a marker, and reads until the marker's reply: everything the script got
 * back, with HELLO's connection ids (which differ) taken out. */
size_t support_script_replies(int fd, const char *script, char *out, size_t cap);
/* Runs a shell command, capturing its standard output (NUL-terminated, at
 * most cap-1 bytes); returns its exit status, or -1 if it did not exit. */
int support_run(const char *cmd, char *out, size_t cap);
/* The same with the command made from fmt, both its outputs captured. */
int support_runf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Splits line in place on spaces into at most max arguments ('' stands for
 * an empty one); returns how many. */
int support_split(char *line, char **argv, size_t *len, int max);
/* A fresh directory under /tmp named after prefix (malloc'd; the test fails
 * if it cannot be made), and its removal with everything in it (frees it). */
char *support_tmpdir(const char *prefix);
void support_rmdir(char *dir);

/* Moves the test process into a network namespace of its own, with its
 * loopback up: what it starts afterwards runs there too, and nothing done
 * to that loopback touches the machine's. 0, or -1 without the privilege
 * (CAP_SYS_ADMIN, as root has); asserts on any other failure. */
int support_enter_netns(void);
/* Takes the namespace's loopback device up or down; asserts. Down, a TCP
 * connection on it gets no answer, as across a partition: packets sent
 * fail to leave, and nothing resets the connection. */
void support_loopback(int up);

/* Resident set size of pid in KiB. */
long support_rss_kb(pid_t pid);
/* A "Field: N kB" line of /proc/pid/status (RssAnon, VmHWM, ...); -1 if none. */
long support_status_kb(pid_t pid, const char *field);

#endif
