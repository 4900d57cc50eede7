// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Interning of word sequences: an arena and an open-addressing index over it. */
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "util.h"

/*
 * Four independent lanes of one multiply a word, folded at the end: a
 * 30-frame stack costs some 30 cycles, not the latency of 30 chained
 * multiplies. The words are code addresses, already far apart; the final
 * mix spreads their high bits over the low ones the index uses.
 */
uint64_t intern_hash(const uint64_t *w, uint32_t n, uint32_t flag)
{
	const uint64_t k = 0x9fb21c651e98df25ULL;
	uint64_t a = 0x9e3779b97f4a7c15ULL ^ n, b = 0xc2b2ae3d27d4eb4fULL ^ flag;
	uint64_t c = 0x165667b19e3779f9ULL, d = 0x27d4eb2f165667c5ULL;
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		a = (a ^ w[i]) * k;
		b = (b ^ w[i + 1]) * k;
		c = (c ^ w[i + 2]) * k;
		d = (d ^ w[i + 3]) * k;
		a ^= a >> 29;
		b ^= b >> 29;
		c ^= c >> 29;
		d ^= d >> 29;
	}
	for (; i < n; i++) {
		a = (a ^ w[i]) * k;
		a ^= a >> 29;
	}
	return hash_u64(a ^ (b << 1 | b >> 63) ^ (c << 2 | c >> 62) ^ (d << 3 | d >> 61));
}

static bool same(const struct intern_table *t, const struct intern_slot *s, uint64_t h,
		 const uint64_t *w, uint32_t n, uint32_t flag)
{
	const struct intern_seq *q;

	if (s->hash != h || s->n != n)
		return false;
	q = &t->seqs[s->idx - 1];
	return q->flag == flag && !memcmp(t->words + q->off, w, (size_t)n * sizeof(*w));
}

int64_t intern_find(const struct intern_table *t, uint64_t h, const uint64_t *w, uint32_t n,
		    uint32_t flag)
{
	size_t mask = t->nslots - 1, i;

	if (!t->nslots)
		return -1;
	for (i = h & mask; t->slots[i].idx; i = (i + 1) & mask)
		if (same(t, &t->slots[i], h, w, n, flag))
			return (int64_t)t->slots[i].idx - 1;
	return -1;
}

static void place(struct intern_slot *slots, size_t nslots, struct intern_slot s)
{
	size_t mask = nslots - 1, i;

	for (i = s.hash & mask; slots[i].idx; i = (i + 1) & mask)
		;
	slots[i] = s;
}

/* At most half full: slots are 16 bytes, and a table holds thousands of stacks, not millions. */
static void grow(struct intern_table *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 256, i;
	struct intern_slot *slots = xcalloc(n, sizeof(*slots));

	for (i = 0; i < t->nslots; i++)
		if (t->slots[i].idx)
			place(slots, n, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
}

uint32_t intern_add(struct intern_table *t, uint64_t h, const uint64_t *w, uint32_t n,
		    uint32_t flag)
{
	struct intern_seq *q;

	if ((t->len + 1) * 2 > t->nslots)
		grow(t);
	ARR_RESERVE(t->words, t->words_cap, t->nwords + n);
	ARR_RESERVE(t->seqs, t->cap, t->len + 1);
	q = &t->seqs[t->len];
	q->off = t->nwords;
	q->n = n;
	q->flag = flag;
	if (n)
		memcpy(t->words + t->nwords, w, (size_t)n * sizeof(*w));
	t->nwords += n;
	place(t->slots, t->nslots, (struct intern_slot){ h, (uint32_t)t->len + 1, n });
	return (uint32_t)t->len++;
}

void intern_free(struct intern_table *t)
{
	free(t->slots);
	free(t->seqs);
	free(t->words);
	memset(t, 0, sizeof(*t));
}
