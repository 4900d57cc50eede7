/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_INTERN_H
#define RP_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

/*
 * Interning of word sequences (call stacks as addresses), met at every
 * event: each distinct sequence, with a flag, gets a dense index (0, 1, ...)
 * in order of first sight. The words live in one arena, the index is open
 * addressing with linear probing over slots that keep each sequence's full
 * hash, so a lookup reads one slot line and compares words only where the
 * hashes agree; an event costs no allocation. Nothing is ever removed.
 */
struct intern_seq {
	size_t off; /* first word in the arena */
	uint32_t n; /* words */
	uint32_t flag;
};

struct intern_slot {
	uint64_t hash;
	uint32_t idx; /* index + 1; 0: empty */
	uint32_t n;   /* the sequence's length, a second check before the words */
};

struct intern_table {
	struct intern_slot *slots;
	size_t nslots; /* power of two, or 0 */
	struct intern_seq *seqs;
	size_t len, cap;
	uint64_t *words;
	size_t nwords, words_cap;
};

/*
 * The hash intern_find() and intern_add() are meant to be given. Four
 * independent lanes of one multiply a word, folded at the end: a 30-frame
 * stack costs some 30 cycles, not the latency of 30 chained multiplies (a
 * collision costs a comparison, never a wrong stack). The
 * words are code addresses, already far apart; the final mix spreads their
 * high bits over the low ones the index uses.
 */
static inline uint64_t intern_hash(const uint64_t *w, uint32_t n, uint32_t flag)
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
	}
	for (; i < n; i++)
		a = (a ^ w[i]) * k;
	/* Each lane's high bits folded down before they meet (a multiply only carries upwards). */
	a ^= a >> 29;
	b ^= b >> 31;
	c ^= c >> 27;
	d ^= d >> 33;
	return hash_u64(a ^ (b << 1 | b >> 63) ^ (c << 2 | c >> 62) ^ (d << 3 | d >> 61));
}

static inline bool intern_same_(const struct intern_table *t, const struct intern_slot *s,
				uint64_t h, const uint64_t *w, uint32_t n, uint32_t flag)
{
	const struct intern_seq *q;

	if (s->hash != h || s->n != n)
		return false;
	q = &t->seqs[s->idx - 1];
	return q->flag == flag && !memcmp(t->words + q->off, w, (size_t)n * sizeof(*w));
}

/* The index of (w, n, flag) whose hash is h, or -1 when it is not interned. */
static inline int64_t intern_find(const struct intern_table *t, uint64_t h, const uint64_t *w,
				  uint32_t n, uint32_t flag)
{
	size_t mask = t->nslots - 1, i;

	if (!t->nslots)
		return -1;
	for (i = h & mask; t->slots[i].idx; i = (i + 1) & mask)
		if (intern_same_(t, &t->slots[i], h, w, n, flag))
			return (int64_t)t->slots[i].idx - 1;
	return -1;
}

/* Intern (w, n, flag), which must not be interned yet; returns its index. */
uint32_t intern_add(struct intern_table *t, uint64_t h, const uint64_t *w, uint32_t n,
		    uint32_t flag);
/* The words of sequence idx (valid until the next intern_add()). */
static inline const uint64_t *intern_words(const struct intern_table *t, uint32_t idx)
{
	return t->words + t->seqs[idx].off;
}
void intern_free(struct intern_table *t);

#endif
