/* Conversions with Redis's exact rules (src/util.c; string2ll is resp_string2ll), hashing. */
#include "store/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

int store_string2l(const char *s, size_t slen, long *lval)
{
    long long llval;
    if (!resp_string2ll(s, slen, &llval))
        return 0;
    if (llval < LONG_MIN || llval > LONG_MAX)
        return 0;
    *lval = (long)llval;
    return 1;
}

/* Redis getDoubleFromObject on a string. */
int store_string2d(const char *s, size_t slen, double *value)
{
    char buf[128];
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf))
        return 0;
    memcpy(buf, s, slen);
    buf[slen] = 0;
    if (isspace((unsigned char)buf[0]))
        return 0;
    errno = 0;
    double v = strtod(buf, &eptr);
    if ((size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *value = v;
    return 1;
}

/* Redis string2ld. */
int store_string2ld(const char *s, size_t slen, long double *dp)
{
    char buf[5 * 1024];
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf))
        return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    long double value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL ||
                             fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    if (dp)
        *dp = value;
    return 1;
}

/* Redis ld2string in LD_STR_HUMAN mode: %.17Lf with trailing zeros cut. */
int store_ld2string(char *buf, size_t len, long double value)
{
    size_t l;
    if (isinf(value)) {
        if (value > 0) {
            memcpy(buf, "inf", 3);
            l = 3;
        } else {
            memcpy(buf, "-inf", 4);
            l = 4;
        }
    } else {
        int n = snprintf(buf, len, "%.17Lf", value);
        if (n < 0 || (size_t)n + 1 > len)
            return 0;
        l = (size_t)n;
        if (strchr(buf, '.') != NULL) {
            char *p = buf + l - 1;
            while (*p == '0') {
                p--;
                l--;
            }
            if (*p == '.')
                l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') {
            buf[0] = '0';
            l = 1;
        }
    }
    buf[l] = '\0';
    return (int)l;
}

int store_ll2string(char *buf, size_t len, long long v)
{
    return snprintf(buf, len, "%lld", v);
}

int store_strcasecmp_arg(const char *arg, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(arg, lit, n) == 0;
}


/* FNV-1a with a final mix: only needs to be stable and to spread. */
static uint32_t fnv1a(uint32_t h, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t mix32(uint32_t h)
{
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    return h;
}

uint32_t store_hash32(const void *p, size_t n)
{
    return mix32(fnv1a(2166136261u, p, n));
}

uint32_t store_key_slot(const void *key, size_t klen)
{
    const unsigned char *b = key;
    size_t head = klen > 2 ? klen - 2 : 0;
    uint32_t h = fnv1a(2166136261u, b, head);
    uint32_t bucket = mix32(h) & 0xffffff00u;
    return bucket | (mix32(fnv1a(h, b + head, klen - head)) & 0xffu);
}

/* splitmix64: deterministic from the entry's seed. */
uint64_t store_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int store_write_zeros(int fd, uint64_t from, uint64_t to)
{
    static const char zeros[1 << 16];
    while (from < to) {
        size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)from);
        if (w <= 0)
            return w < 0 ? errno : EIO;
        from += (uint64_t)w;
    }
    return 0;
}
