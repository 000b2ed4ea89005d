/* A latency histogram laid out and rounded as HdrHistogram is with two
 * significant digits, the one Redis 7.0 keeps per command for INFO
 * latencystats: so ferry's percentiles are Redis's for the same samples
 * (7 us reads 7.007). Values are nanoseconds from 1 to 1e9; others are
 * clamped, as Redis clamps them.
 *
 * The layout: 256 sub-buckets of width 1 cover 0-255; each next bucket
 * doubles the width and holds its upper 128 sub-buckets (its lower half is
 * the previous bucket's range), so a value keeps its two leading digits
 * whatever its magnitude. */
#include "proxy/core.h"

#include <stdlib.h>

#define SUB_HALF_MAG 7                      /* log2 of half the sub-buckets */
#define SUB_HALF (1 << SUB_HALF_MAG)        /* 128 */
#define SUB_MASK ((uint64_t)(2 * SUB_HALF) - 1)
#define HIST_MIN 1
#define HIST_MAX 1000000000ULL
#define BUCKETS 23                          /* 256 << 22 is the first past HIST_MAX */
#define NCOUNTS ((BUCKETS + 1) * SUB_HALF)

struct proxy_hist {
    uint64_t total;
    uint64_t counts[NCOUNTS];
};

struct proxy_hist *proxy_hist_new(void)
{
    struct proxy_hist *h = calloc(1, sizeof(*h));
    PROXY_ASSERT(h != NULL);
    return h;
}

void proxy_hist_free(struct proxy_hist *h)
{
    free(h);
}

static int hist_index(uint64_t v)
{
    int bucket = 64 - __builtin_clzll(v | SUB_MASK) - (SUB_HALF_MAG + 1);
    int sub = (int)(v >> bucket);
    return ((bucket + 1) << SUB_HALF_MAG) + (sub - SUB_HALF);
}

/* The lowest or the highest value that falls in counts[i]; HdrHistogram
 * reports the highest, and the lowest for percentile 0. */
static uint64_t hist_value_at_index(int i, int highest)
{
    int bucket = (i >> SUB_HALF_MAG) - 1, sub = (i & (SUB_HALF - 1)) + SUB_HALF;
    if (bucket < 0) {
        sub -= SUB_HALF;
        bucket = 0;
    }
    return ((uint64_t)sub << bucket) + (highest ? ((uint64_t)1 << bucket) - 1 : 0);
}

void proxy_hist_record(struct proxy_hist *h, uint64_t v)
{
    v = v < HIST_MIN ? HIST_MIN : v > HIST_MAX ? HIST_MAX : v;
    h->counts[hist_index(v)]++;
    h->total++;
}

uint64_t proxy_hist_total(const struct proxy_hist *h)
{
    return h->total;
}

uint64_t proxy_hist_value_at(const struct proxy_hist *h, double percentile)
{
    if (percentile > 100.0)
        percentile = 100.0;
    uint64_t want = (uint64_t)(percentile / 100.0 * (double)h->total + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i < NCOUNTS; i++) {
        seen += h->counts[i];
        if (seen >= want)
            return hist_value_at_index(i, percentile > 0.0);
    }
    return 0;
}

size_t proxy_hist_cdf(const struct proxy_hist *h, uint64_t *usec, uint64_t *cumulative, size_t max)
{
    /* HdrHistogram's log iteration from 1024 ns, base 2, as Redis's LATENCY
     * HISTOGRAM runs it: at each level the iterator stands on the level's
     * own bucket, so the level reports every sample up to that bucket's
     * highest value, labelled with that value in whole microseconds; Redis
     * prints a level only when the count grew. Levels past the counts (over
     * about 0.54 s) are not reached, as in Redis. */
    size_t n = 0;
    uint64_t seen = 0, last = 0;
    int at = 0;
    for (uint64_t level = 1024; n < max && last < h->total; level <<= 1) {
        int i = hist_index(level);
        if (i >= NCOUNTS)
            break;
        for (; at <= i; at++)
            seen += h->counts[at];
        if (seen > last) {
            usec[n] = hist_value_at_index(i, 1) / 1000;
            cumulative[n] = seen;
            n++;
            last = seen;
        }
    }
    return n;
}
