// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "check.h"
#include "hist.h"

/* Quantiles stay within the bucket resolution (1/16 of a power of two). */
static void test_quantiles_uniform(void)
{
	struct hist h = {};
	uint64_t v, q50, q90, q99;

	for (v = 1; v <= 100000; v++)
		hist_add(&h, v * 10);
	q50 = hist_quantile(&h, 0.5);
	q90 = hist_quantile(&h, 0.9);
	q99 = hist_quantile(&h, 0.99);
	CHECK(q50 > 500000 * 0.94 && q50 < 500000 * 1.06);
	CHECK(q90 > 900000 * 0.94 && q90 < 900000 * 1.06);
	CHECK(q99 > 990000 * 0.94 && q99 < 990000 * 1.06);
	CHECK_U64(hist_quantile(&h, 1), 1000000);
	CHECK_U64(h.max, 1000000);
	CHECK_U64(h.count, 100000);
	hist_free(&h);
}

static void test_small_values_exact(void)
{
	struct hist h = {};
	int i;

	for (i = 0; i < 10; i++)
		hist_add(&h, 3);
	hist_add(&h, 7);
	CHECK_U64(hist_quantile(&h, 0.5), 3);
	CHECK_U64(hist_quantile(&h, 0.99), 7);
	CHECK_U64(hist_quantile(&h, 0.9), 3);
	hist_free(&h);
	CHECK_U64(hist_quantile(&h, 0.5), 0);
}

static void test_log2_buckets(void)
{
	struct hist h = {};
	uint64_t b[HIST_LOG2_BUCKETS];

	hist_add(&h, 0);
	hist_add(&h, 1);
	hist_add(&h, 2);
	hist_add(&h, 3);
	hist_add(&h, 1023);
	hist_add(&h, 1024);
	hist_add(&h, 2047);
	hist_add(&h, 1ULL << 40);
	hist_log2(&h, b);
	CHECK_U64(b[0], 2);	/* [0, 2) */
	CHECK_U64(b[1], 2);	/* [2, 4) */
	CHECK_U64(b[9], 1);	/* [512, 1024) */
	CHECK_U64(b[10], 2);	/* [1024, 2048) */
	CHECK_U64(b[40], 1);
	CHECK_U64(hist_log2_lower(10), 1024);
	CHECK_U64(hist_log2_lower(0), 0);
	hist_free(&h);
}

static void test_merge(void)
{
	struct hist a = {}, b = {};

	hist_add(&a, 100);
	hist_add(&b, 5);
	hist_add(&b, 100000);
	hist_merge(&a, &b);
	CHECK_U64(a.count, 3);
	CHECK_U64(a.min, 5);
	CHECK_U64(a.max, 100000);
	CHECK_U64(a.sum, 100105);
	hist_free(&a);
	hist_free(&b);
}

int main(void)
{
	RUN(test_quantiles_uniform);
	RUN(test_small_values_exact);
	RUN(test_log2_buckets);
	RUN(test_merge);
	CHECK_DONE();
}
