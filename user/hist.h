/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_HIST_H
#define RP_HIST_H

#include <stdint.h>

/*
 * Lifetime histogram: log-linear buckets (16 per power of two, exact below
 * 16 ns) for percentiles within ~6%, and exact count, sum and max. The log2
 * view exported in reports is derived from it.
 */
#define HIST_SUB_BITS 4
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)
#define HIST_LOG2_BUCKETS 64

struct hist {
	uint64_t count, sum, max, min;
	uint32_t *buckets;	/* HIST_BUCKETS, allocated on first add */
};

void hist_add(struct hist *h, uint64_t v);
/* The bucket of v, and the buckets allocated (on first add); for hist_add_n(). */
static inline int hist_bucket_(uint64_t v)
{
	int e;

	if (v < HIST_SUB)
		return (int)v;
	e = 63 - __builtin_clzll(v);
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}
void hist_alloc_(struct hist *h);
/* n values v at once (a sampled allocation standing for n); inline: two at every free. */
static inline void hist_add_n(struct hist *h, uint64_t v, uint64_t n)
{
	if (!n)
		return;
	if (!h->buckets)
		hist_alloc_(h);
	h->buckets[hist_bucket_(v)] += (uint32_t)n;
	if (!h->count || v < h->min)
		h->min = v;
	h->count += n;
	h->sum += v * n;
	if (v > h->max)
		h->max = v;
}
void hist_merge(struct hist *dst, const struct hist *src);
void hist_free(struct hist *h);
/* Value at quantile q in [0, 1]; 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);
/*
 * Cumulative counts at n ascending bounds: out[i] = values at or below
 * bounds[i], a bucket that holds a bound counted by its midpoint.
 */
void hist_cumulative(const struct hist *h, const uint64_t *bounds, int n, uint64_t *out);
/* Counts per log2 bucket: out[0] holds [0, 2), out[k] holds [2^k, 2^(k+1)). */
void hist_log2(const struct hist *h, uint64_t out[HIST_LOG2_BUCKETS]);
static inline uint64_t hist_log2_lower(int k)
{
	return k ? 1ULL << k : 0;
}

#endif
