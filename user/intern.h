/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_INTERN_H
#define RP_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Interning of word sequences (call stacks as addresses), met at every
 * event: each distinct sequence, with a flag, gets a dense index (0, 1, ...)
 * in order of first sight. The words live in one arena, the index is open
 * addressing with linear probing over slots that keep each sequence's full
 * hash, so a lookup reads one slot line and compares words only where the
 * hashes agree; an event costs no allocation. Nothing is ever removed.
 */
struct intern_seq {
	size_t off;		/* first word in the arena */
	uint32_t n;		/* words */
	uint32_t flag;
};

struct intern_slot {
	uint64_t hash;
	uint32_t idx;		/* index + 1; 0: empty */
	uint32_t n;		/* the sequence's length, a second check before the words */
};

struct intern_table {
	struct intern_slot *slots;
	size_t nslots;		/* power of two, or 0 */
	struct intern_seq *seqs;
	size_t len, cap;
	uint64_t *words;
	size_t nwords, words_cap;
};

/* The hash intern_find() and intern_add() are meant to be given. */
uint64_t intern_hash(const uint64_t *w, uint32_t n, uint32_t flag);
/* The index of (w, n, flag) whose hash is h, or -1 when it is not interned. */
int64_t intern_find(const struct intern_table *t, uint64_t h, const uint64_t *w, uint32_t n,
		    uint32_t flag);
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
