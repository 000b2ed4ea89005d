/* The latency histogram reads as HdrHistogram (two significant digits)
 * does, so INFO latencystats gives Redis's figures for the same samples.
 * The expected values follow HdrHistogram's bucket arithmetic: a value's
 * bucket holds the values with its leading 8 bits, and a percentile reads
 * as the highest value of the bucket that reaches it. */
#include <criterion/criterion.h>

#include "proxy/core.h"

Test(proxy_hist, a_percentile_reads_as_the_top_of_its_bucket)
{
    struct proxy_hist *h = proxy_hist_new();
    cr_assert_eq(proxy_hist_value_at(h, 50), 0, "empty");
    proxy_hist_record(h, 7000); /* bucket of width 32 from 6976 */
    cr_assert_eq(proxy_hist_value_at(h, 50), 7007);
    cr_assert_eq(proxy_hist_value_at(h, 0), 6976, "percentile 0: the bottom of the bucket");
    proxy_hist_record(h, 200); /* below 256: exact */
    cr_assert_eq(proxy_hist_value_at(h, 50), 200);
    cr_assert_eq(proxy_hist_value_at(h, 100), 7007);
    cr_assert_eq(proxy_hist_total(h), 2);
    proxy_hist_free(h);
}

Test(proxy_hist, values_are_clamped_to_1_ns_and_1_s)
{
    struct proxy_hist *h = proxy_hist_new();
    proxy_hist_record(h, 0);
    cr_assert_eq(proxy_hist_value_at(h, 100), 1, "Redis prints 0.001 for a 0 us command");
    proxy_hist_record(h, 5000000000ULL);
    /* 1e9 lies in the bucket of width 2^22 from 998244352. */
    cr_assert_eq(proxy_hist_value_at(h, 100), 998244352ULL + (1ULL << 22) - 1);
    proxy_hist_free(h);
}

Test(proxy_hist, percentiles_count_samples_rounding_half_up)
{
    struct proxy_hist *h = proxy_hist_new();
    for (uint64_t us = 1; us <= 1000; us++)
        proxy_hist_record(h, us * 1000);
    /* The 500th sample, 500,000 ns, in the bucket of width 2048 from 499,712. */
    cr_assert_eq(proxy_hist_value_at(h, 50), 499712 + 2047);
    /* 99.9% of 1000 is the 999th: 999,000 ns, width 4096 from 995,328. */
    cr_assert_eq(proxy_hist_value_at(h, 99.9), 995328 + 4095);
    /* 0.04% of 1000 rounds to 0 samples, read as the first. */
    cr_assert_eq(proxy_hist_value_at(h, 0.04), 1000 + 3);
    proxy_hist_free(h);
}

/* LATENCY HISTOGRAM's buckets: levels 1024 ns, 2048 ns, ... each labelled
 * with its own bucket's highest value in whole us (as Redis 7.0 prints
 * 1, 2, 4, 8, 16, 33, 66, ...), cumulative counts, a level only where the
 * count grew. */
Test(proxy_hist, cdf_buckets_are_redis_s)
{
    struct proxy_hist *h = proxy_hist_new();
    uint64_t us[64], n[64];
    cr_assert_eq(proxy_hist_cdf(h, us, n, 64), 0, "no samples, no buckets");
    proxy_hist_record(h, 500);     /* below the first level: counted there */
    proxy_hist_record(h, 1500);
    proxy_hist_record(h, 3000);
    proxy_hist_record(h, 3000);
    proxy_hist_record(h, 40000);   /* 40 us: past 32768 + its bucket's width */
    proxy_hist_record(h, 1000000); /* 1 ms */
    size_t k = proxy_hist_cdf(h, us, n, 64);
    uint64_t want_us[] = {1, 2, 4, 66, 1056}, want_n[] = {1, 2, 4, 5, 6};
    cr_assert_eq(k, 5);
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(us[i], want_us[i], "bucket %zu: %llu us", i, (unsigned long long)us[i]);
        cr_assert_eq(n[i], want_n[i], "bucket %zu: %llu", i, (unsigned long long)n[i]);
    }
    cr_assert_eq(proxy_hist_cdf(h, us, n, 2), 2, "max caps the pairs");
    proxy_hist_free(h);
}
