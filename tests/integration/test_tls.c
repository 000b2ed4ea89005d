/* TLS to the upstream (upstream-tls): a real redis-server with its
 * --tls-port, certificates made by the openssl tool for each suite run. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

static struct support_proc redis, ferry;
static char *dir; /* the certificates */
static char ca[256], cert[256], key[256], client_cert[256], client_key[256], other_ca[256];
static int tls_port;

/* Runs a shell command in dir; asserts it succeeded. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048], out[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(cmd, sizeof(cmd), "cd '%s' && { ", dir);
    n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, "; } 2>&1");
    va_end(ap);
    cr_assert_eq(support_run(cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
}

/* A CA, a server certificate for localhost and 127.0.0.1 signed by it, a
 * client certificate signed by it, and another CA that signed nothing. */
static void make_certificates(void)
{
    dir = support_tmpdir("ferry-tls");
    const char *req = "openssl req -newkey rsa:2048 -nodes -subj";
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-test-ca "
       "-keyout ca.key -out ca.crt");
    sh("%s /CN=localhost -keyout redis.key -out redis.csr && "
       "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' >san.cnf && "
       "openssl x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
       "-extfile san.cnf -out redis.crt",
       req);
    sh("%s /CN=ferry -keyout client.key -out client.csr && openssl x509 -req -in client.csr "
       "-CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt",
       req);
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca "
       "-keyout other.key -out other.crt");
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(cert, sizeof(cert), "%s/redis.crt", dir);
    snprintf(key, sizeof(key), "%s/redis.key", dir);
    snprintf(client_cert, sizeof(client_cert), "%s/client.crt", dir);
    snprintf(client_key, sizeof(client_key), "%s/client.key", dir);
    snprintf(other_ca, sizeof(other_ca), "%s/other.crt", dir);
}

/* redis-server with a TLS port beside its plain one; auth_clients: it
 * asks for a client certificate. */
static void start_tls_redis(int auth_clients)
{
    tls_port = support_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", tls_port);
    const char *args[] = {"--tls-port", port, "--tls-cert-file", cert, "--tls-key-file", key,
                          "--tls-ca-cert-file", ca, "--tls-auth-clients",
                          auth_clients ? "yes" : "no", NULL};
    cr_assert_eq(support_redis_start(&redis, args), 0);
    cr_assert_eq(support_wait_port(tls_port, 10000), 0);
}

/* ferry in front of the TLS port, with extra arguments after the TLS ones. */
static void start_tls_ferry(const char *const *extra)
{
    char upstream[64];
    snprintf(upstream, sizeof(upstream), "127.0.0.1:%d", tls_port);
    const char *args[24] = {"--upstream", upstream, "--upstream-tls", "yes",
                            "--upstream-tls-ca-cert-file", ca};
    int n = 6;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cr_assert_eq(support_ferry_start(&ferry, 0, args), 0);
}

static void teardown(void)
{
    support_proc_stop(&ferry);
    support_proc_stop(&redis);
    support_rmdir(dir);
}

TestSuite(tls, .init = make_certificates, .fini = teardown, .timeout = 120);

/* The first error reply to GET k, past one that only reports the close. */
static void expect_unavailable(redisContext *c, const char *reason)
{
    redisReply *r = redisCommand(c, "GET k");
    cr_assert(r && r->type == REDIS_REPLY_ERROR, "%s", r ? r->str : c->errstr);
    char want[512];
    snprintf(want, sizeof(want), "ERR ferry: upstream 127.0.0.1:%d unavailable (%s", tls_port,
             reason);
    cr_assert(strncmp(r->str, want, strlen(want)) == 0, "got '%s', want '%s...'", r->str, want);
    freeReplyObject(r);
}

Test(tls, every_kind_of_traffic_goes_through)
{
    start_tls_redis(0);
    start_tls_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");
    /* A pipeline larger than a TLS record many times over, in order. */
    for (int i = 0; i < 20000; i++)
        redisAppendCommand(c, "INCR n");
    for (long long i = 1; i <= 20000; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_INTEGER && r->integer == i, "reply %lld", i);
        freeReplyObject(r);
    }
    /* A transaction, on the client's own connection. */
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "MULTI");
    support_expect_str(c, REDIS_REPLY_STATUS, "QUEUED", "INCR n");
    redisReply *r = redisCommand(c, "EXEC");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 20001);
    freeReplyObject(r);
    /* 4 MB of every byte value, both ways; read back ten times over a
     * connection whose client is slow to read, so that the upstream's
     * reads pause with replies already decrypted. */
    size_t big = 4 << 20;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (char)(i * 7919 % 251);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET big %b", v, big);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SELECT 0"); /* its own connection */
    for (int i = 0; i < 10; i++)
        redisAppendCommand(c, "GET big");
    usleep(300 * 1000);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_STRING && r->len == big && memcmp(r->str, v, big) == 0,
                  "copy %d", i);
        freeReplyObject(r);
    }
    free(v);
    redisFree(c);
    /* redis-benchmark, pipelining: every request answered. */
    char out[8192];
    cr_assert_eq(support_runf(out, sizeof(out),
                              "redis-benchmark -p %d -t set,get -n 50000 -c 20 -P 16 --csv",
                              ferry.port),
                 0, "%s", out);
    cr_assert(strstr(out, "\"SET\",") && strstr(out, "\"GET\","), "%s", out);
}

Test(tls, the_upstream_certificate_is_verified)
{
    start_tls_redis(0);
    const char *other[] = {"--upstream-tls-ca-cert-file", other_ca, NULL};
    start_tls_ferry(other);
    redisContext *c = support_connect(ferry.port);
    expect_unavailable(c, "TLS handshake failed: certificate verify failed: self-signed "
                          "certificate in certificate chain)");
    redisFree(c);
    support_proc_stop(&ferry);

    const char *name[] = {"--upstream-tls-server-name", "redis.example", NULL};
    start_tls_ferry(name);
    c = support_connect(ferry.port);
    expect_unavailable(c, "TLS handshake failed: certificate verify failed: hostname mismatch)");
    redisFree(c);
    support_proc_stop(&ferry);

    /* The name the certificate carries, given instead of the address. */
    const char *right[] = {"--upstream-tls-server-name", "localhost", NULL};
    start_tls_ferry(right);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    redisFree(c);
}

Test(tls, a_client_certificate_when_redis_asks_for_one)
{
    start_tls_redis(1);
    start_tls_ferry(NULL);
    redisContext *c = support_connect(ferry.port);
    /* Redis refuses the session once the handshake is over (TLS 1.3): ferry
     * reads its alert, or, when the write of the request comes first, the
     * reset of the connection Redis closed. */
    redisReply *r = redisCommand(c, "GET k");
    cr_assert(r && r->type == REDIS_REPLY_ERROR, "%s", r ? r->str : c->errstr);
    cr_assert(strstr(r->str, "unavailable (TLS read: tlsv13 alert certificate required)") ||
                  strstr(r->str, "unavailable (TLS write: Connection reset by peer)"),
              "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
    support_proc_stop(&ferry);
    const char *mutual[] = {"--upstream-tls-cert-file", client_cert, "--upstream-tls-key-file",
                            client_key, NULL};
    start_tls_ferry(mutual);
    c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "SET k v");
    support_expect_str(c, REDIS_REPLY_STRING, "v", "GET k");
    redisFree(c);
}

/* TLS to a port that speaks plain RESP: the hello waits for a reply that
 * never comes, and the connect timeout says what it waited for. */
Test(tls, a_plain_upstream_times_the_handshake_out)
{
    cr_assert_eq(support_redis_start(&redis, NULL), 0);
    tls_port = redis.port;
    const char *quick[] = {"--upstream-connect-timeout", "300", NULL};
    start_tls_ferry(quick);
    redisContext *c = support_connect(ferry.port);
    expect_unavailable(c, "TLS handshake timeout: does the upstream serve TLS on that port?)");
    redisFree(c);
}

/* What cannot work is refused at start, with the option and the reason. */
Test(tls, bad_settings_are_start_errors)
{
    char out[4096];
    const char *bin = support_ferry_bin();
    support_runf(out, sizeof(out),
                 "%s --port %d --upstream 127.0.0.1:1 --upstream-tls yes "
                 "--upstream-tls-ca-cert-file %s/nonexistent.crt 2>&1; echo status $?",
                 bin, support_free_port(), dir);
    cr_assert(strstr(out, "upstream-tls-ca-cert-file ") &&
                  strstr(out, "/nonexistent.crt: No such file or directory") &&
                  strstr(out, "status 1\n"),
              "%s", out);
    support_runf(out, sizeof(out),
                 "%s --port %d --upstream 127.0.0.1:1 --upstream-tls yes "
                 "--upstream-tls-cert-file %s --upstream-tls-key-file %s 2>&1; echo status $?",
                 bin, support_free_port(), client_cert, key);
    cr_assert(strstr(out, "upstream-tls-key-file ") && strstr(out, "key values mismatch") &&
                  strstr(out, "status 1\n"),
              "%s", out);
    support_runf(out, sizeof(out),
                 "%s --upstream /tmp/redis.sock --upstream-tls yes 2>&1; echo status $?", bin);
    cr_assert_str_eq(out, "ferry: 'upstream-tls' needs a host:port upstream: Redis serves no TLS "
                          "on a unix socket\nstatus 2\n");
    support_runf(out, sizeof(out),
                 "%s --upstream 127.0.0.1:1 --upstream-tls yes --upstream-tls-cert-file %s 2>&1; "
                 "echo status $?",
                 bin, client_cert);
    cr_assert_str_eq(out, "ferry: 'upstream-tls-cert-file' and 'upstream-tls-key-file' go "
                          "together: set both or neither\nstatus 2\n");
}

/* ------------------------------------------------------------------ tls-port */

/* ferry serving raft-only on a plain port and a TLS port; extra options
 * after the TLS ones. */
static int ferry_tls_port;

static void start_tls_listener(const char *auth_clients)
{
    ferry_tls_port = support_free_port();
    char port[16];
    snprintf(port, sizeof(port), "%d", ferry_tls_port);
    const char *args[] = {"--phase", "raft-only", "--tls-port", port, "--tls-cert-file", cert,
                          "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients",
                          auth_clients, NULL};
    cr_assert_eq(support_ferry_start(&ferry, 0, args), 0);
    cr_assert_eq(support_wait_port(ferry_tls_port, 10000), 0);
}

/* redis-cli on the TLS port with the client certificate (cert 1) or
 * without; its output on both streams. */
static const char *tls_cli(int with_cert, const char *args)
{
    static char out[1 << 16];
    support_runf(out, sizeof(out), "redis-cli --tls --cacert %s %s%s%s%s -p %d %s 2>&1", ca,
                 with_cert ? "--cert " : "", with_cert ? client_cert : "",
                 with_cert ? " --key " : "", with_cert ? client_key : "", ferry_tls_port, args);
    return out;
}

Test(tls, tls_port_serves_clients_with_certificates)
{
    start_tls_listener("yes");
    cr_assert_str_eq(tls_cli(1, "SET k over-tls"), "OK\n");
    cr_assert_str_eq(tls_cli(1, "GET k"), "over-tls\n");
    /* The plain port serves the same store beside it. */
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STRING, "over-tls", "GET k");
    /* 4 MB up and down (base64, so the shell carries it whole). */
    char out[256];
    support_runf(
        out, sizeof(out),
        "head -c 3145728 /dev/urandom | base64 -w0 >%s/big && redis-cli --tls --cacert %s "
        "--cert %s --key %s -p %d -x SET big <%s/big && redis-cli --tls --cacert %s --cert %s "
        "--key %s -p %d --raw GET big | head -c 4194304 | cmp - %s/big && echo same",
        dir, ca, client_cert, client_key, ferry_tls_port, dir, ca, client_cert, client_key,
        ferry_tls_port, dir);
    cr_assert_str_eq(out, "OK\nsame\n");
    /* Pipelined clients: every request answered. */
    static char bench[8192];
    cr_assert_eq(
        support_runf(
            bench, sizeof(bench),
            "redis-benchmark --tls --cacert %s --cert %s --key %s -p %d -t set,get -n 50000 -c 20 "
            "-P 16 --csv",
            ca, client_cert, client_key, ferry_tls_port),
        0, "%s", bench);
    cr_assert(strstr(bench, "\"SET\",") && strstr(bench, "\"GET\","), "%s", bench);
    /* No client certificate, or no TLS at all: refused, and ferry goes on. */
    const char *refused = tls_cli(0, "PING");
    cr_assert_null(strstr(refused, "PONG"), "%s", refused);
    int raw = support_raw_connect(ferry_tls_port);
    support_raw_send(raw, "PING\r\n", 6);
    char buf[64];
    cr_assert_eq(support_raw_recv(raw, buf, sizeof(buf)), 0, "a plain client gets no reply");
    close(raw);
    cr_assert_str_eq(tls_cli(1, "PING"), "PONG\n");
    support_expect_str(c, REDIS_REPLY_STATUS, "PONG", "PING");
    redisFree(c);
}

Test(tls, tls_auth_clients_no_takes_any_client)
{
    start_tls_listener("no");
    cr_assert_str_eq(tls_cli(0, "SET k v"), "OK\n");
    cr_assert_str_eq(tls_cli(1, "GET k"), "v\n");
}

/* Beyond maxclients a client on tls-port is dropped with nothing written,
 * as Redis does: before the handshake, plain text would read as a broken
 * TLS record. */
Test(tls, a_client_beyond_maxclients_on_tls_port_is_dropped_silently)
{
    start_tls_listener("no");
    redisContext *c = support_connect(ferry.port);
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET maxclients 1");
    int raw = support_raw_connect(ferry_tls_port);
    char buf[64];
    cr_assert_eq(support_raw_recv(raw, buf, sizeof(buf)), 0, "bytes before any handshake");
    close(raw);
    cr_assert_null(strstr(tls_cli(0, "PING"), "PONG"));
    support_expect_str(c, REDIS_REPLY_STATUS, "OK", "CONFIG SET maxclients 10");
    cr_assert_str_eq(tls_cli(0, "PING"), "PONG\n");
    redisFree(c);
}

/* admin-tls: the admin endpoint speaks HTTPS with tls-cert-file's
 * certificate and asks for no client certificate, even where
 * tls-auth-clients is yes (kubelet probes bring none). Plain HTTP there
 * gets no answer. */
Test(tls, admin_tls_serves_health_and_metrics_over_https)
{
    int admin = support_free_port();
    char tport[16], aport[16];
    snprintf(tport, sizeof(tport), "%d", support_free_port());
    snprintf(aport, sizeof(aport), "%d", admin);
    const char *args[] = {"--phase", "raft-only", "--tls-port", tport, "--tls-cert-file", cert,
                          "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients",
                          "yes", "--admin-port", aport, "--admin-tls", "yes", NULL};
    cr_assert_eq(support_ferry_start(&ferry, 0, args), 0);
    cr_assert_eq(support_wait_port(admin, 10000), 0);
    static char out[1 << 16];
    support_runf(out, sizeof(out),
                 "printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | openssl s_client -quiet "
                 "-verify_return_error -connect 127.0.0.1:%d -CAfile %s 2>/dev/null",
                 admin, ca);
    cr_assert(strstr(out, "HTTP/1.0 200 OK") && strstr(out, "\r\n\r\nok"), "%s", out);
    support_runf(out, sizeof(out),
                 "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | openssl s_client -quiet "
                 "-verify_return_error -connect 127.0.0.1:%d -CAfile %s 2>/dev/null",
                 admin, ca);
    cr_assert(strstr(out, "ferry_maxclients"), "%s", out);
    int raw = support_raw_connect(admin);
    support_raw_send(raw, "GET /healthz HTTP/1.0\r\n\r\n", 26);
    char buf[256] = {0};
    support_raw_recv(raw, buf, sizeof(buf) - 1);
    cr_assert_null(strstr(buf, "200 OK"), "plain HTTP answered: %s", buf);
    close(raw);
}

Test(tls, tls_port_settings_are_checked)
{
    char out[4096];
    const char *bin = support_ferry_bin();
    support_runf(out, sizeof(out), "%s --phase raft-only --tls-port 7999 2>&1; echo status $?",
                 bin);
    cr_assert_str_eq(out, "ferry: 'tls-port' needs 'tls-cert-file' and 'tls-key-file'\n"
                          "status 2\n");
    support_runf(out, sizeof(out),
                 "%s --phase raft-only --admin-port 7998 --admin-tls yes 2>&1; echo status $?",
                 bin);
    cr_assert_str_eq(out, "ferry: 'admin-tls' needs 'tls-cert-file' and 'tls-key-file'\n"
                          "status 2\n");
    support_runf(out, sizeof(out), "%s --phase raft-only --admin-tls yes 2>&1; echo status $?",
                 bin);
    cr_assert_str_eq(out, "ferry: 'admin-tls' needs 'admin-port'\nstatus 2\n");
    support_runf(out, sizeof(out),
                 "%s --phase raft-only --tls-port 7999 --tls-cert-file %s --tls-key-file %s 2>&1; "
                 "echo status $?",
                 bin, cert, key);
    cr_assert_str_eq(out, "ferry: 'tls-auth-clients yes' needs 'tls-ca-cert-file' to check "
                          "client certificates against (or set it to no)\nstatus 2\n");
    support_runf(out, sizeof(out),
                 "%s --phase raft-only --dir %s/data --port %d --tls-port %d --tls-cert-file %s "
                 "--tls-key-file %s --tls-auth-clients no 2>&1; echo status $?",
                 bin, dir, support_free_port(), support_free_port(), cert, client_key);
    cr_assert(strstr(out, "tls-key-file ") && strstr(out, "key values mismatch") &&
                  strstr(out, "status 1\n"),
              "%s", out);
}

/* Rotated certificates: once the files change (as cert-manager renews a
 * Secret), ferry loads them for new connections by itself, within a
 * second or two; SIGHUP does the same at once. Files that do not load
 * leave the certificate in use serving, and the log says why. */
Test(tls, rotated_certificates_are_loaded_without_a_restart)
{
    /* ferry's own copies of the server certificate, to rotate. */
    sh("mkdir -p live && cp redis.crt live/server.crt && cp redis.key live/server.key");
    char live_cert[300], live_key[300], port[16];
    snprintf(live_cert, sizeof(live_cert), "%s/live/server.crt", dir);
    snprintf(live_key, sizeof(live_key), "%s/live/server.key", dir);
    ferry_tls_port = support_free_port();
    snprintf(port, sizeof(port), "%d", ferry_tls_port);
    const char *args[] = {"--phase", "raft-only", "--tls-port", port, "--tls-cert-file", live_cert,
                          "--tls-key-file", live_key, "--tls-auth-clients", "no", NULL};
    cr_assert_eq(support_ferry_start(&ferry, 0, args), 0);
    cr_assert_eq(support_wait_port(ferry_tls_port, 10000), 0);
    char cmd[1024], out[4096];
    support_runf(out, sizeof(out), "redis-cli --tls --cacert %s/ca.crt -p %d PING 2>&1", dir,
                 ferry_tls_port);
    cr_assert_str_eq(out, "PONG\n");
    /* A new CA and a certificate from it, written beside the old files and
     * moved over them in one step, as the kubelet swaps a Secret's files. */
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-test-ca-2 "
       "-keyout ca2.key -out ca2.crt && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
       "-keyout live/next.key -out live/next.csr && openssl x509 -req -in live/next.csr "
       "-CA ca2.crt -CAkey ca2.key -CAcreateserial -days 2 -extfile san.cnf "
       "-out live/next.crt && mv live/next.key live/server.key && mv live/next.crt "
       "live/server.crt");
    snprintf(cmd, sizeof(cmd), "redis-cli --tls --cacert %s/ca2.crt -p %d PING 2>&1", dir,
             ferry_tls_port);
    for (int i = 0; i < 100; i++) { /* no signal: ferry notices the files */
        support_run(cmd, out, sizeof(out));
        if (strcmp(out, "PONG\n") == 0)
            break;
        usleep(50000);
    }
    cr_assert_str_eq(out, "PONG\n", "the new certificate once the files changed");
    /* A key that does not match: the new certificate stays, by itself and
     * after SIGHUP alike. */
    sh("cp other.key live/server.key");
    usleep(2500000);
    kill(ferry.pid, SIGHUP);
    usleep(200000);
    support_run(cmd, out, sizeof(out));
    cr_assert_str_eq(out, "PONG\n");
    support_runf(out, sizeof(out),
                 "grep -c 'TLS files changed but do not load; the old ones stay: tls-key-file "
                 ".*key values mismatch' %s; grep -c 'SIGHUP: TLS certificates not reloaded, the "
                 "old ones stay: tls-key-file .*key values mismatch' %s",
                 ferry.log, ferry.log);
    cr_assert_str_eq(out, "1\n1\n");
}
