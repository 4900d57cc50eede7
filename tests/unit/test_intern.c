// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>

#include "check.h"
#include "intern.h"

/* Sequence k of the tests: k % 7 + 1 words, all of them drawn from k. */
static uint32_t seq_of(uint32_t k, uint64_t *w)
{
	uint32_t n = k % 7 + 1, i;

	for (i = 0; i < n; i++)
		w[i] = 0x400000 + (uint64_t)k * 0x40 + i;
	return n;
}

/* Every sequence under one hash: found by its words alone, through growth. */
static void test_all_colliding(void)
{
	enum { N = 600 };
	struct intern_table t = { 0 };
	uint64_t w[8];
	uint32_t k, n;

	for (k = 0; k < N; k++) {
		n = seq_of(k, w);
		CHECK(intern_find(&t, 42, w, n, 0) == -1);
		CHECK_U64(intern_add(&t, 42, w, n, 0), k);
	}
	CHECK(t.nslots >= 2 * N);
	for (k = 0; k < N; k++) {
		n = seq_of(k, w);
		CHECK_U64(intern_find(&t, 42, w, n, 0), k);
		CHECK(!memcmp(intern_words(&t, k), w, n * sizeof(*w)));
		CHECK_U64(t.seqs[k].n, n);
	}
	intern_free(&t);
}

/* The flag, the length and each word tell sequences apart; a prefix is another sequence. */
static void test_distinct(void)
{
	struct intern_table t = { 0 };
	uint64_t a[3] = { 10, 20, 30 }, b[3] = { 10, 20, 31 };
	uint32_t ia, ib, ia2, iflag, iempty;

	ia = intern_add(&t, intern_hash(a, 3, 0), a, 3, 0);
	CHECK(intern_find(&t, intern_hash(a, 2, 0), a, 2, 0) == -1);
	CHECK(intern_find(&t, intern_hash(a, 3, 1), a, 3, 1) == -1);
	CHECK(intern_find(&t, intern_hash(b, 3, 0), b, 3, 0) == -1);
	/* Same hash (a caller's collision), other words. */
	CHECK(intern_find(&t, intern_hash(a, 3, 0), b, 3, 0) == -1);
	ia2 = intern_add(&t, intern_hash(a, 2, 0), a, 2, 0);
	iflag = intern_add(&t, intern_hash(a, 3, 1), a, 3, 1);
	ib = intern_add(&t, intern_hash(a, 3, 0), b, 3, 0);
	iempty = intern_add(&t, intern_hash(a, 0, 0), a, 0, 0);
	CHECK_U64(ia, 0);
	CHECK_U64(ia2, 1);
	CHECK_U64(iflag, 2);
	CHECK_U64(ib, 3);
	CHECK_U64(iempty, 4);
	CHECK_U64(intern_find(&t, intern_hash(a, 3, 0), a, 3, 0), ia);
	CHECK_U64(intern_find(&t, intern_hash(a, 2, 0), a, 2, 0), ia2);
	CHECK_U64(intern_find(&t, intern_hash(a, 3, 1), a, 3, 1), iflag);
	CHECK_U64(intern_find(&t, intern_hash(a, 3, 0), b, 3, 0), ib);
	CHECK_U64(intern_find(&t, intern_hash(a, 0, 0), a, 0, 0), iempty);
	intern_free(&t);
}

/* Many sequences with their real hashes, against the order they were added in. */
static void test_growth(void)
{
	enum { N = 50000 };
	struct intern_table t = { 0 };
	uint64_t w[8];
	uint32_t k, n;

	for (k = 0; k < N; k++) {
		n = seq_of(k, w);
		CHECK_U64(intern_add(&t, intern_hash(w, n, k & 1), w, n, k & 1), k);
	}
	CHECK_U64(t.len, N);
	for (k = 0; k < N; k++) {
		n = seq_of(k, w);
		CHECK_U64(intern_find(&t, intern_hash(w, n, k & 1), w, n, k & 1), k);
		CHECK(intern_find(&t, intern_hash(w, n, !(k & 1)), w, n, !(k & 1)) == -1);
	}
	/* The table stays at most half full. */
	CHECK(t.len * 2 <= t.nslots);
	intern_free(&t);
}

/* The hash covers every word and the flag (each lane, and the tail). */
static void test_hash_covers_words(void)
{
	uint64_t w[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, h = intern_hash(w, 9, 0);
	int i;

	for (i = 0; i < 9; i++) {
		w[i] ^= 0x10;
		CHECK(intern_hash(w, 9, 0) != h);
		w[i] ^= 0x10;
	}
	CHECK(intern_hash(w, 9, 1) != h);
	CHECK(intern_hash(w, 8, 0) != h);
	CHECK_U64(intern_hash(w, 9, 0), h);
}

int main(void)
{
	RUN(test_all_colliding);
	RUN(test_distinct);
	RUN(test_growth);
	RUN(test_hash_covers_words);
	CHECK_DONE();
}
