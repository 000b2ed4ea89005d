/* The growable buffer and the RESP2 encoder. */
#include "resp/resp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void resp_oom(size_t n)
{
    fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", n);
    abort();
}

void resp_buf_init(struct resp_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void resp_buf_fini(struct resp_buf *b)
{
    free(b->data);
    resp_buf_init(b);
}

void resp_buf_reset(struct resp_buf *b)
{
    b->len = 0;
}

void resp_buf_reset_shrink(struct resp_buf *b, size_t keep)
{
    if (b->cap > keep)
        resp_buf_fini(b);
    b->len = 0;
}

void resp_buf_reserve(struct resp_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap < (1u << 20) ? cap * 2 : cap + cap / 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        resp_oom(cap);
    b->data = p;
    b->cap = cap;
}

void resp_buf_append(struct resp_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    resp_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void resp_buf_consume(struct resp_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Writes v in decimal at the end of b (no prefix, no CRLF). */
static void resp_buf_ll(struct resp_buf *b, long long v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp), *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    resp_buf_append(b, p, (size_t)(end - p));
}

static void resp_header(struct resp_buf *b, char type, long long n)
{
    resp_buf_reserve(b, 24);
    b->data[b->len++] = type;
    resp_buf_ll(b, n);
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_add_simple_len(struct resp_buf *b, const char *s, size_t n)
{
    resp_buf_reserve(b, n + 3);
    b->data[b->len++] = '+';
    resp_buf_append(b, s, n);
    resp_buf_append(b, "\r\n", 2);
}

void resp_add_simple(struct resp_buf *b, const char *s)
{
    resp_add_simple_len(b, s, strlen(s));
}

void resp_add_help(struct resp_buf *b, const char *const *lines, size_t n)
{
    resp_add_array(b, (long long)n);
    for (size_t i = 0; i < n; i++)
        resp_add_simple(b, lines[i]);
}

void resp_add_subcommand_error(struct resp_buf *b, const char *sub, const char *command)
{
    resp_add_errorf(b,
                    "ERR unknown subcommand or wrong number of arguments for '%.128s'. "
                    "Try %s HELP.",
                    sub, command);
}

void resp_add_error(struct resp_buf *b, const char *s)
{
    size_t n = strlen(s);
    resp_buf_reserve(b, n + 3);
    b->data[b->len++] = '-';
    /* Like Redis's addReplyErrorLength: a newline would split the error
     * into two replies, so it becomes a space. */
    for (size_t i = 0; i < n; i++)
        b->data[b->len++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
    resp_buf_append(b, "\r\n", 2);
}

void resp_add_errorf(struct resp_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(small)) {
        resp_add_error(b, small);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        resp_oom((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    resp_add_error(b, big);
    free(big);
}

void resp_add_int(struct resp_buf *b, long long v)
{
    resp_header(b, ':', v);
}

void resp_add_bulk(struct resp_buf *b, const void *p, size_t n)
{
    resp_buf_reserve(b, n + 24);
    resp_header(b, '$', (long long)n);
    resp_buf_append(b, p, n);
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_add_bulk_str(struct resp_buf *b, const char *s)
{
    resp_add_bulk(b, s, strlen(s));
}

void resp_add_bulk_ll(struct resp_buf *b, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    resp_add_bulk(b, tmp, (size_t)n);
}

void resp_add_bulk_double(struct resp_buf *b, double v)
{
    /* Redis 7.0 addReplyDouble (RESP2): "inf"/"-inf", else %.17g. */
    if (isinf(v)) {
        resp_add_bulk_str(b, v > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    resp_add_bulk(b, tmp, (size_t)n);
}

void resp_add_null(struct resp_buf *b)
{
    resp_buf_append(b, "$-1\r\n", 5);
}

void resp_add_null_array(struct resp_buf *b)
{
    resp_buf_append(b, "*-1\r\n", 5);
}

void resp_add_array(struct resp_buf *b, long long n)
{
    resp_header(b, '*', n);
}

void resp_add_command(struct resp_buf *b, int argc, const char *const *argv,
                      const size_t *argvlen)
{
    resp_add_array(b, argc);
    for (int i = 0; i < argc; i++)
        resp_add_bulk(b, argv[i], argvlen[i]);
}
