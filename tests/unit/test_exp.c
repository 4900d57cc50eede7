// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The exponential draws of the BPF sampler (include/rp_exp.h), the same code
 * compiled here: over r spread evenly across its 2^32 values, the draws must
 * have the exponential's mean and its distribution, P(X <= s) = 1 - exp(-s/n),
 * which is what the weights 1/p of sampled allocations assume.
 */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "rp_exp.h"

#define STEPS (1u << 22)

static void test_mean_and_shape(void)
{
	const uint64_t n = 524288;
	const double at[] = { 0.001, 0.01, 0.1, 0.5, 1, 2, 5 };
	uint64_t below[7] = { 0 };
	double sum = 0;
	uint32_t i;
	int k;

	for (i = 0; i < STEPS; i++) {
		/* The middle of each of STEPS equal slices of [0, 2^32). */
		uint32_t r = (uint32_t)(((uint64_t)i << 32) / STEPS + (1u << 31) / STEPS);
		int64_t x = rp_exp_draw(r, n);

		CHECK(x >= 1);
		sum += (double)x;
		for (k = 0; k < 7; k++)
			below[k] += x <= at[k] * n;
	}
	/* The mean within 0.5%: the table's bias is far smaller. */
	CHECK(fabs(sum / STEPS / n - 1) < 0.005);
	for (k = 0; k < 7; k++) {
		double want = -expm1(-at[k]), got = (double)below[k] / STEPS;

		/* Within 1% of the probability, or 1e-4 near 0. */
		CHECK(fabs(got - want) < fmax(0.01 * want, 1e-4));
	}
}

static void test_extremes(void)
{
	/* The smallest r: the longest countdown, about 22 means (-ln 2^-32). */
	int64_t big = rp_exp_draw(0, 1000), small = rp_exp_draw(UINT32_MAX, 1000);

	CHECK(big > 21000 && big < 23000);
	CHECK(small >= 1 && small < 5);
	/* The largest mean used does not overflow. */
	CHECK(rp_exp_draw(0, 1ULL << 34) > 0);
}

int main(void)
{
	RUN(test_mean_and_shape);
	RUN(test_extremes);
	CHECK_DONE();
}
