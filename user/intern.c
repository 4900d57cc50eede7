// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Interning of word sequences: an arena and an open-addressing index over it. */
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "util.h"

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
