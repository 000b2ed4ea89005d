/* TLS to the upstream Redis (upstream-tls) and for clients (tls-port),
 * with OpenSSL on each connection's own non-blocking socket.
 *
 * libevent's OpenSSL bufferevents would bring their own buffers and
 * callbacks, but upstream.c reads into one shared buffer, writes batches
 * from its evbuffer when it decides to, and parks a connection's reads for
 * backpressure: the same code serves plain TCP, a unix socket and TLS if
 * TLS is only a different pair of read and write calls. That is this file:
 * the handshake, read and write steps report what they wait for (the
 * socket readable or writable), and upstream.c waits for it with the events
 * it already has. */
#include "proxy/core.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The error OpenSSL queued for the last call, as one line: its reason,
 * or its whole code where it has no reason string. */
static const char *tls_error(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        snprintf(buf, len, "%s", reason);
    else if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
    return buf;
}

/* A file option must name a readable file: said plainly, before OpenSSL's
 * own wording of the same. */
static int tls_readable(const char *option, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s %s: %s", option, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* The settings both ends share, for a context of method: TLS 1.2 or later;
 * a peer that closes without close_notify, as most Redis clients and
 * servers do, has closed, not failed; partial writes, since a write takes
 * what fits and the rest stays in the connection's evbuffer, whose front
 * may move between tries. First the files (cert, key, CA: option and path,
 * path NULL when unset) must be readable. */
static SSL_CTX *tls_ctx_new(const SSL_METHOD *method, const char *files[3][2], const char *what,
                            char *err, size_t errlen)
{
    for (int i = 0; i < 3; i++)
        if (files[i][1] && tls_readable(files[i][0], files[i][1], err, errlen) < 0)
            return NULL;
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        char why[256];
        snprintf(err, errlen, "%s: %s", what, tls_error(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* Loads files' certificate and key (when set) and CA (when set, else the
 * system's if system_ca); 0, or -1 with the option, file and reason in
 * err (ctx freed). */
static int tls_ctx_load(SSL_CTX *ctx, const char *files[3][2], int system_ca, char *err,
                        size_t errlen)
{
    const char *cert = files[0][1], *key = files[1][1], *ca = files[2][1];
    int bad = -1; /* the index in files of the one that does not load */
    if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        bad = 0;
    else if (key && (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                     SSL_CTX_check_private_key(ctx) != 1))
        bad = 1;
    else if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
                : system_ca && SSL_CTX_set_default_verify_paths(ctx) != 1)
        bad = 2;
    if (bad < 0)
        return 0;
    char why[256];
    snprintf(err, errlen, "%s %s: %s", files[bad][0], files[bad][1] ? files[bad][1] : "(the system's)",
             tls_error(why, sizeof(why)));
    SSL_CTX_free(ctx);
    return -1;
}

int proxy_tls_init(struct proxy_server *s, char *err, size_t errlen)
{
    const struct proxy_config *cfg = &s->cfg;
    if (!cfg->upstream_tls)
        return 0;
    const char *files[3][2] = {{"upstream-tls-cert-file", cfg->upstream_tls_cert_file},
                               {"upstream-tls-key-file", cfg->upstream_tls_key_file},
                               {"upstream-tls-ca-cert-file", cfg->upstream_tls_ca_cert_file}};
    SSL_CTX *ctx = tls_ctx_new(TLS_client_method(), files, "upstream-tls", err, errlen);
    if (ctx == NULL || tls_ctx_load(ctx, files, 1, err, errlen) < 0)
        return -1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    s->tls_ctx = ctx;
    return 0;
}

int proxy_tls_server_init(struct proxy_server *s, char *err, size_t errlen)
{
    const struct proxy_config *cfg = &s->cfg;
    if (cfg->tls_port == 0 && !cfg->admin_tls)
        return 0;
    const char *files[3][2] = {{"tls-cert-file", cfg->tls_cert_file},
                               {"tls-key-file", cfg->tls_key_file},
                               {"tls-ca-cert-file", cfg->tls_ca_cert_file}};
    SSL_CTX *ctx = tls_ctx_new(TLS_server_method(), files, "tls-port", err, errlen);
    if (ctx == NULL || tls_ctx_load(ctx, files, 0, err, errlen) < 0)
        return -1;
    /* tls-auth-clients, as Redis: yes asks for a certificate and refuses a
     * client without one, optional checks one if it comes. */
    int mode = cfg->tls_auth_clients == PROXY_TLS_AUTH_YES        ? SSL_VERIFY_PEER |
                                                                      SSL_VERIFY_FAIL_IF_NO_PEER_CERT
               : cfg->tls_auth_clients == PROXY_TLS_AUTH_OPTIONAL ? SSL_VERIFY_PEER
                                                                  : SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (cfg->tls_ca_cert_file)
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(cfg->tls_ca_cert_file));
    s->tls_server_ctx = ctx;
    return 0;
}

uint64_t proxy_tls_files_stamp(const struct proxy_server *s)
{
    const struct proxy_config *cfg = &s->cfg;
    const char *files[] = {cfg->tls_cert_file,          cfg->tls_key_file,
                           cfg->tls_ca_cert_file,       cfg->upstream_tls_cert_file,
                           cfg->upstream_tls_key_file,  cfg->upstream_tls_ca_cert_file};
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over what stat says */
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct stat st;
        uint64_t v[4] = {0, 0, 0, 0};
        if (files[i] && stat(files[i], &st) == 0) {
            v[0] = (uint64_t)st.st_ino;
            v[1] = (uint64_t)st.st_size;
            v[2] = (uint64_t)st.st_mtim.tv_sec;
            v[3] = (uint64_t)st.st_mtim.tv_nsec;
        }
        for (int k = 0; k < 4; k++) {
            h ^= v[k];
            h *= 1099511628211ULL;
        }
    }
    return h;
}

int proxy_tls_reload(struct proxy_server *s, char *err, size_t errlen)
{
    /* Build both anew from the same options; take them only if both load.
     * Sessions hold a reference to the context they started with, so the
     * old ones go when their last connection does. */
    struct ssl_ctx_st *up = s->tls_ctx, *srv = s->tls_server_ctx;
    s->tls_ctx = s->tls_server_ctx = NULL;
    if ((s->cfg.upstream_host && proxy_tls_init(s, err, errlen) < 0) ||
        proxy_tls_server_init(s, err, errlen) < 0) {
        proxy_tls_free(s);
        s->tls_ctx = up;
        s->tls_server_ctx = srv;
        return -1;
    }
    SSL_CTX_free(up);
    SSL_CTX_free(srv);
    return 0;
}

void proxy_tls_free(struct proxy_server *s)
{
    SSL_CTX_free(s->tls_ctx);
    s->tls_ctx = NULL;
    SSL_CTX_free(s->tls_server_ctx);
    s->tls_server_ctx = NULL;
}

struct ssl_st *proxy_tls_accepted(struct proxy_server *s, int fd)
{
    SSL *ssl = SSL_new(s->tls_server_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

struct ssl_st *proxy_tls_new(struct proxy_server *s, int fd, char *err, size_t errlen)
{
    const struct proxy_config *cfg = &s->cfg;
    char why[256];
    SSL *ssl = SSL_new(s->tls_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        snprintf(err, errlen, "TLS: %s", tls_error(why, sizeof(why)));
        SSL_free(ssl);
        return NULL;
    }
    /* The name the certificate must carry: upstream-tls-server-name, else
     * the upstream's host. An IP address is matched against the
     * certificate's IP entries and sent no SNI (RFC 6066 allows names
     * only); a name is both sent and matched. */
    const char *name = cfg->upstream_tls_server_name ? cfg->upstream_tls_server_name
                                                     : cfg->upstream_host;
    unsigned char addr[16];
    int ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
                : SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
    if (!ok) {
        snprintf(err, errlen, "TLS: cannot check the name %s: %s", name,
                 tls_error(why, sizeof(why)));
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void proxy_tls_close(struct ssl_st *ssl)
{
    if (ssl == NULL)
        return;
    /* Redis needs no close_notify: the socket closes next. */
    SSL_free(ssl);
    ERR_clear_error();
}

/* What an SSL call's result means for the caller: PROXY_TLS_WANT_READ or
 * _WRITE to try again once the socket is ready, PROXY_TLS_CLOSED, or
 * PROXY_TLS_ERROR with the reason in why. */
static int tls_result(SSL *ssl, int rc, const char *what, char *why, size_t whylen)
{
    int e = SSL_get_error(ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return PROXY_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return PROXY_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return PROXY_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (errno == 0)
                return PROXY_TLS_CLOSED; /* EOF without close_notify */
            snprintf(why, whylen, "%s: %s", what, strerror(errno));
            return PROXY_TLS_ERROR;
        }
        break;
    default:
        break;
    }
    char buf[200];
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        snprintf(why, whylen, "%s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(v));
    else
        snprintf(why, whylen, "%s: %s", what, tls_error(buf, sizeof(buf)));
    ERR_clear_error();
    return PROXY_TLS_ERROR;
}

int proxy_tls_handshake(struct ssl_st *ssl, char *why, size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return PROXY_TLS_OK;
    int r = tls_result(ssl, rc, "TLS handshake failed", why, whylen);
    if (r == PROXY_TLS_CLOSED) {
        snprintf(why, whylen, "TLS handshake failed: connection closed by upstream");
        return PROXY_TLS_ERROR;
    }
    return r;
}

ssize_t proxy_tls_read(struct ssl_st *ssl, void *buf, size_t len, int *status, char *why,
                       size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    *status = tls_result(ssl, n, "TLS read", why, whylen);
    return -1;
}

ssize_t proxy_tls_write(struct ssl_st *ssl, const void *buf, size_t len, int *status, char *why,
                        size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    *status = tls_result(ssl, n, "TLS write", why, whylen);
    return -1;
}

ssize_t proxy_tls_send(struct ssl_st *ssl, struct evbuffer *out, int *status, char *why,
                       size_t whylen)
{
    size_t len = evbuffer_get_length(out);
    if (len > 16384)
        len = 16384;
    ssize_t n = proxy_tls_write(ssl, evbuffer_pullup(out, (ssize_t)len), len, status, why, whylen);
    if (n > 0)
        evbuffer_drain(out, (size_t)n);
    return n;
}

int proxy_tls_pending(const struct ssl_st *ssl)
{
    return ssl && SSL_has_pending(ssl);
}
