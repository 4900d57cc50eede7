// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "util.h"

/* [lo, hi] of values that fall into bucket b. */
static void bucket_range(int b, uint64_t *lo, uint64_t *hi)
{
	int e, sub;

	if (b < HIST_SUB) {
		*lo = *hi = b;
		return;
	}
	e = b / HIST_SUB + HIST_SUB_BITS - 1;
	sub = b % HIST_SUB;
	*lo = (1ULL << e) + ((uint64_t)sub << (e - HIST_SUB_BITS));
	*hi = *lo + (1ULL << (e - HIST_SUB_BITS)) - 1;
}

void hist_add(struct hist *h, uint64_t v)
{
	hist_add_n(h, v, 1);
}

void hist_alloc_(struct hist *h)
{
	h->buckets = xcalloc(HIST_BUCKETS, sizeof(*h->buckets));
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	int i;

	if (!src->count)
		return;
	if (!dst->buckets)
		dst->buckets = xcalloc(HIST_BUCKETS, sizeof(*dst->buckets));
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

void hist_free(struct hist *h)
{
	free(h->buckets);
	memset(h, 0, sizeof(*h));
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, mid;
	int b;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* The smallest value with at least ceil(q * count) values at or below it. */
	rank = (uint64_t)(q * h->count);
	if ((double)rank < q * h->count)
		rank++;
	if (!rank)
		rank = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank)
			break;
	}
	bucket_range(b, &lo, &hi);
	mid = lo + (hi - lo) / 2;
	return MAX(MIN(mid, h->max), h->min);
}

void hist_cumulative(const struct hist *h, const uint64_t *bounds, int n, uint64_t *out)
{
	uint64_t seen = 0, lo, hi;
	int b, i = 0;

	memset(out, 0, n * sizeof(*out));
	if (!h->buckets)
		return;
	for (b = 0; b < HIST_BUCKETS && i < n; b++) {
		if (!h->buckets[b])
			continue;
		bucket_range(b, &lo, &hi);
		/* Bounds below this bucket's midpoint see only what came before it. */
		while (i < n && bounds[i] < lo + (hi - lo) / 2)
			out[i++] = seen;
		seen += h->buckets[b];
	}
	while (i < n)
		out[i++] = seen;
}

void hist_log2(const struct hist *h, uint64_t out[HIST_LOG2_BUCKETS])
{
	int b;

	memset(out, 0, HIST_LOG2_BUCKETS * sizeof(*out));
	if (!h->buckets)
		return;
	for (b = 0; b < HIST_BUCKETS; b++) {
		uint64_t lo, hi;
		int k;

		if (!h->buckets[b])
			continue;
		bucket_range(b, &lo, &hi);
		k = lo < 2 ? 0 : 63 - __builtin_clzll(lo);
		out[k] += h->buckets[b];
	}
}
