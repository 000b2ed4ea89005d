/* The reply scanner: where does each upstream reply end?
 *
 * A byte-at-a-time state machine, except that text lines are searched with
 * memchr and bulk payloads are skipped by count, so a 100 MB value costs a
 * few calls, not a pass over its bytes. Aggregates are a stack of "items
 * left" counters; an item that completes decrements the innermost one and
 * pops every aggregate it completes. */
#include "resp/resp.h"

#include <limits.h>
#include <string.h>

enum {
    RESP_SC_TYPE,    /* expecting a type byte */
    RESP_SC_TEXT,    /* skipping a text line (+ - : _ , ( #) up to its CR */
    RESP_SC_COUNT,   /* collecting a length/count line into line[] */
    RESP_SC_LF,      /* CR seen, LF must follow */
    RESP_SC_BULK,    /* skipping bulk_left payload bytes */
    RESP_SC_BULK_CR, /* payload skipped, CR must follow */
    RESP_SC_BULK_LF, /* then LF */
    RESP_SC_ERROR,
};

void resp_scanner_init(struct resp_scanner *s)
{
    memset(s, 0, sizeof(*s));
    s->bulk_left = -1;
    s->state = RESP_SC_TYPE;
}

/* A count: "-1" (null) or a non-negative decimal without sign or leading
 * zeros. RESP3 streamed "?" is refused. Returns 0 and sets *v, or -1. */
static int resp_scan_count(const char *p, size_t n, long long *v)
{
    if (n == 2 && p[0] == '-' && p[1] == '1') {
        *v = -1;
        return 0;
    }
    if (n == 0 || n > 18 || (p[0] == '0' && n > 1))
        return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 0;
}

/* An item (scalar or empty/null aggregate) is complete: pop what it
 * completes. Returns 1 when the top-level reply is complete. */
static int resp_scan_item_done(struct resp_scanner *s)
{
    s->state = RESP_SC_TYPE;
    while (s->depth > 0) {
        if (--s->remain[s->depth - 1] > 0)
            return 0;
        s->depth--;
    }
    return 1;
}

/* The count line of type s->type is complete in s->line. Returns 1 when a
 * reply completes, 0 to go on, -1 on a protocol error. */
static int resp_scan_header_done(struct resp_scanner *s)
{
    long long v;
    if (resp_scan_count(s->line, s->line_len, &v) < 0)
        return -1;
    switch (s->type) {
    case '$':
    case '=':
    case '!':
        if (v < 0)
            return resp_scan_item_done(s);
        s->bulk_left = v;
        s->state = RESP_SC_BULK;
        return 0;
    default: /* aggregates */
        if (v < 0 && s->type != '*')
            return -1; /* only RESP2 arrays have a null form */
        if (s->type == '%' || s->type == '|')
            v *= 2;
        if (s->type == '|')
            v += 1; /* an attribute's map is followed by the reply it annotates */
        if (v <= 0)
            return resp_scan_item_done(s);
        if (s->depth == RESP_SCAN_MAX_DEPTH)
            return -1;
        s->remain[s->depth++] = v;
        s->state = RESP_SC_TYPE;
        return 0;
    }
}

int resp_scanner_scan(struct resp_scanner *s, const char *p, size_t n, size_t *used)
{
    size_t i = 0;
    int r;
    if (s->state == RESP_SC_ERROR)
        goto fail;
    while (i < n) {
        switch (s->state) {
        case RESP_SC_TYPE: {
            char c = p[i++];
            s->type = c;
            s->line_len = 0;
            if (s->depth == 0) {
                s->is_error = (c == '-' || c == '!');
                s->is_push = (c == '>');
            }
            switch (c) {
            case '+': case '-': case ':': case '_': case ',': case '(': case '#':
                s->state = RESP_SC_TEXT;
                break;
            case '$': case '=': case '!':
            case '*': case '%': case '~': case '>': case '|':
                s->state = RESP_SC_COUNT;
                break;
            default:
                i--;
                goto fail;
            }
            break;
        }
        case RESP_SC_TEXT: {
            const char *cr = memchr(p + i, '\r', n - i);
            if (cr == NULL) {
                i = n;
                break;
            }
            i = (size_t)(cr - p) + 1;
            s->state = RESP_SC_LF;
            break;
        }
        case RESP_SC_COUNT: {
            char c = p[i++];
            if (c == '\r') {
                s->state = RESP_SC_LF;
                break;
            }
            if (s->line_len >= sizeof(s->line) - 1) {
                i--;
                goto fail;
            }
            s->line[s->line_len++] = c;
            break;
        }
        case RESP_SC_LF:
            if (p[i] != '\n')
                goto fail;
            i++;
            if (s->type == '+' || s->type == '-' || s->type == ':' || s->type == '_' ||
                s->type == ',' || s->type == '(' || s->type == '#')
                r = resp_scan_item_done(s);
            else
                r = resp_scan_header_done(s);
            if (r < 0) {
                i--;
                goto fail;
            }
            if (r > 0)
                goto done;
            break;
        case RESP_SC_BULK: {
            size_t avail = n - i;
            if ((unsigned long long)s->bulk_left <= avail) {
                i += (size_t)s->bulk_left;
                s->bulk_left = -1;
                s->state = RESP_SC_BULK_CR;
            } else {
                s->bulk_left -= (long long)avail;
                i = n;
            }
            break;
        }
        case RESP_SC_BULK_CR:
            if (p[i] != '\r')
                goto fail;
            i++;
            s->state = RESP_SC_BULK_LF;
            break;
        case RESP_SC_BULK_LF:
            if (p[i] != '\n')
                goto fail;
            i++;
            if (resp_scan_item_done(s))
                goto done;
            break;
        default:
            goto fail;
        }
    }
    *used = n;
    return RESP_AGAIN;
done:
    *used = i;
    return RESP_OK;
fail:
    s->state = RESP_SC_ERROR;
    *used = i;
    return RESP_ERR;
}
