// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The lifetime tracker on synthetic events. Stack frames are addresses of
 * functions of this test program, so symbolization is real (this process).
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "modelkit.h"
#include "model.h"
#include "symbolize.h"
#include "tracker.h"

__attribute__((noinline)) void user_alloc_site(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void user_drop_site(void)
{
	__asm__ volatile("nop" ::: "memory");
}

__attribute__((noinline)) void user_other_site(void)
{
	__asm__ volatile("nop; nop" ::: "memory");
}

static void ev(uint32_t type, uint32_t tid, uint64_t ts, uint64_t ptr, uint64_t old_ptr,
	       uint64_t size, uint64_t frame)
{
	struct rp_event e = {
		.type = type, .tid = tid, .pid = 1, .ts = ts, .ptr = ptr,
		.old_ptr = old_ptr, .size = size, .nframes = frame ? 1 : 0,
	};

	e.frames[0] = frame;
	kit_feed(&e);
}

#define ALLOC(tid, ts, p, sz, fr) ev(RP_EV_ALLOC, tid, ts, p, 0, sz, fr)
#define FREE(tid, ts, p, sz, fr) ev(RP_EV_FREE, tid, ts, p, 0, sz, fr)
#define REALLOC(tid, ts, old, p, sz) ev(RP_EV_REALLOC, tid, ts, p, old, sz, 0)

static struct site *only_site(void)
{
	CHECK_U64(m->nsites, 1);
	return m->nsites ? m->sites[0] : NULL;
}

static void test_match_and_lifetime(void)
{
	struct site *s;

	setup();
	ALLOC(1, 100, 0x1000, 16, RA(user_alloc_site));
	FREE(1, 350, 0x1000, 16, RA(user_drop_site));
	s = only_site();
	if (s) {
		CHECK_U64(s->allocs, 1);
		CHECK_U64(s->frees, 1);
		CHECK_U64(s->bytes, 16);
		CHECK_U64(s->lifetime.max, 250);
		CHECK_STR(stack__function(stack_table__get(m->stacks, s->stack)),
			  "user_alloc_site");
		CHECK_U64(s->ndrops, 1);
		CHECK_STR(stack__function(stack_table__get(m->stacks, s->drops[0].stack)),
			  "user_drop_site");
	}
	CHECK_U64(m->totals.allocs, 1);
	CHECK_U64(m->totals.frees, 1);
	CHECK_U64(m->totals.unknown_frees, 0);
	teardown();
}

static void test_realloc_continues(void)
{
	struct site *s;

	setup();
	ALLOC(1, 0, 0x2000, 8, RA(user_alloc_site));
	REALLOC(1, 10, 0x2000, 0x3000, 64);
	REALLOC(1, 20, 0x3000, 0x3000, 128);
	FREE(1, 1000, 0x3000, 128, RA(user_drop_site));
	/* The old pointer is gone: freeing it again is an unknown free. */
	FREE(1, 1001, 0x2000, 8, RA(user_drop_site));
	s = only_site();
	if (s) {
		CHECK_U64(s->allocs, 1);
		CHECK_U64(s->reallocs, 2);
		CHECK_U64(s->bytes, 128);	/* 8 at birth, grown by 56 and 64 */
		CHECK_U64(s->frees, 1);
		CHECK_U64(s->lifetime.max, 1000);	/* from the birth, not the realloc */
		CHECK_U64(s->grown, 1);
		CHECK_U64(s->grown_max_final, 128);
		CHECK_U64(s->grown_max_reallocs, 2);
	}
	CHECK_U64(m->totals.reallocs, 2);
	CHECK_U64(m->totals.unknown_frees, 1);
	CHECK_U64(m->totals.frees, 2);
	teardown();
}

static void test_unknown(void)
{
	setup();
	FREE(1, 5, 0x9000, 32, RA(user_drop_site));
	REALLOC(1, 6, 0x9100, 0x9200, 64);
	FREE(1, 7, 0x9200, 64, RA(user_drop_site));
	CHECK_U64(m->totals.unknown_frees, 2);
	CHECK_U64(m->totals.unknown_reallocs, 1);
	CHECK_U64(m->totals.allocs, 0);
	CHECK_U64(m->nsites, 0);
	teardown();
}

static void test_temporaries_and_threads(void)
{
	struct site *s;

	setup();
	/* A: freed before its thread allocates again -> temporary. */
	ALLOC(1, 1, 0xa000, 8, RA(user_alloc_site));
	FREE(1, 2, 0xa000, 8, RA(user_alloc_site));
	/* B, C: B outlives C's birth -> not a temporary; C is. */
	ALLOC(1, 3, 0xb000, 8, RA(user_alloc_site));
	ALLOC(1, 4, 0xc000, 8, RA(user_alloc_site));
	FREE(1, 5, 0xb000, 8, RA(user_alloc_site));
	FREE(1, 6, 0xc000, 8, RA(user_alloc_site));
	/* D: born on thread 1, freed on thread 2; thread 2's allocations don't count. */
	ALLOC(1, 7, 0xd000, 8, RA(user_alloc_site));
	ALLOC(2, 8, 0xe000, 8, RA(user_other_site));
	FREE(2, 9, 0xd000, 8, RA(user_other_site));
	s = m->nsites ? m->sites[0] : NULL;
	CHECK(s != NULL);
	if (s) {
		CHECK_U64(s->allocs, 4);
		CHECK_U64(s->temporaries, 3);	/* A, C, D */
		CHECK_U64(s->cross_thread, 1);
	}
	CHECK_U64(m->totals.cross_thread, 1);
	teardown();
}

static void test_live_at_end(void)
{
	struct site *s;

	setup();
	ALLOC(1, 100, 0x1000, 10, RA(user_alloc_site));
	ALLOC(1, 500, 0x2000, 20, RA(user_alloc_site));
	ALLOC(1, 600, 0x3000, 30, RA(user_alloc_site));
	FREE(1, 700, 0x3000, 30, RA(user_alloc_site));
	tracker__finish(&t, 1100);
	s = only_site();
	if (s) {
		CHECK_U64(s->live, 2);
		CHECK_U64(s->live_bytes, 30);
		CHECK(s->noldest == 2);
		CHECK_U64(s->oldest[0].age_ns, 1000);
		CHECK_U64(s->oldest[0].ptr, 0x1000);
		CHECK_U64(s->oldest[1].age_ns, 600);
	}
	CHECK_U64(m->totals.live_allocs, 2);
	CHECK_U64(m->totals.live_bytes, 30);
	teardown();
}

static void test_malformed(void)
{
	struct rp_event e = { .type = RP_EV_ALLOC, .nframes = 10 };

	setup();
	CHECK(tracker__event(&t, &e, RP_EVENT_HDR_SIZE) != 0);	/* frames missing */
	e.type = 99;
	e.nframes = 0;
	CHECK(tracker__event(&t, &e, RP_EVENT_HDR_SIZE) != 0);
	CHECK(tracker__event(&t, &e, 8) != 0);
	teardown();
}

/*
 * The heap over time: buckets of 1 ms that merge as the session outgrows 256
 * of them. Expected values are worked out by hand from the events below.
 */
static void test_timeline(void)
{
	const uint64_t ms = 1000000, t0 = 1000 * ms;
	uint64_t series[TIMELINE_BUCKETS], allocs = 0, bytes = 0, frees = 0, max = 0;
	struct site *s;
	uint32_t i;

	setup();
	m->start_ns = t0;
	/* 0.5 ms: 100 B; 0.7 ms: 300 B (400 live); 1.2 ms: free 300 B. */
	ev(RP_EV_ALLOC, 1, t0 + ms / 2, 0x1000, 0, 100, RA(user_alloc_site));
	ev(RP_EV_ALLOC, 1, t0 + 7 * ms / 10, 0x2000, 0, 300, RA(user_alloc_site));
	ev(RP_EV_FREE, 1, t0 + 12 * ms / 10, 0x2000, 0, 300, RA(user_drop_site));
	CHECK_U64(m->timeline.width_ns, ms);
	CHECK_U64(m->timeline.n, 2);
	CHECK_U64(m->timeline.b[0].allocs, 2);
	CHECK_U64(m->timeline.b[0].bytes, 400);
	CHECK_U64(m->timeline.b[0].max_live_bytes, 400);
	CHECK_U64(m->timeline.b[0].live_bytes, 400);
	CHECK_U64(m->timeline.b[1].frees, 1);
	CHECK_U64(m->timeline.b[1].live_bytes, 100);
	/* The bucket began with 400 live: its highest is 400 too. */
	CHECK_U64(m->timeline.b[1].max_live_bytes, 400);
	s = m->sites[0];
	model__site_timeline(m, s, series);
	CHECK_U64(series[0], 400);
	CHECK_U64(series[1], 400);
	/* 2400.5 ms: past 1024 buckets of 1 ms, so they merge twice (4 ms each). */
	CHECK_U64(TIMELINE_BUCKETS, 1024);
	ev(RP_EV_ALLOC, 1, t0 + 2400 * ms + ms / 2, 0x3000, 0, 50, RA(user_other_site));
	CHECK_U64(m->timeline.width_ns, 4 * ms);
	CHECK_U64(m->timeline.n, 601);
	CHECK_U64(m->timeline.b[0].allocs, 2);
	CHECK_U64(m->timeline.b[0].frees, 1);
	CHECK_U64(m->timeline.b[0].max_live_bytes, 400);
	CHECK_U64(m->timeline.b[0].live_bytes, 100);
	/* Buckets without events carry the heap over. */
	CHECK_U64(m->timeline.b[100].live_bytes, 100);
	CHECK_U64(m->timeline.b[600].live_bytes, 150);
	CHECK_U64(m->timeline.b[600].bytes, 50);
	model__site_timeline(m, s, series);
	CHECK_U64(series[0], 400);
	CHECK_U64(series[1], 100);
	CHECK_U64(series[600], 100);
	model__timeline_close(m, t0 + 2800 * ms);
	CHECK_U64(m->timeline.n, 700);
	CHECK_U64(m->timeline.b[699].live_bytes, 150);
	for (i = 0; i < m->timeline.n; i++) {
		allocs += m->timeline.b[i].allocs;
		bytes += m->timeline.b[i].bytes;
		frees += m->timeline.b[i].frees;
		max = m->timeline.b[i].max_live_bytes > max ? m->timeline.b[i].max_live_bytes : max;
	}
	CHECK_U64(allocs, m->totals.allocs);
	CHECK_U64(bytes, m->totals.bytes_allocated);
	CHECK_U64(frees, m->totals.frees);
	CHECK_U64(max, m->heap.max_bytes);
	teardown();
}

/* Sites' points past the budget widen the buckets: memory stays bounded. */
static void test_timeline_budget(void)
{
	const uint64_t ms = 1000000, t0 = 1000 * ms;
	uint64_t k, bytes = 0;

	setup();
	m->start_ns = t0;
	m->timeline.max_points = 8;
	/* One site, one allocation per millisecond: a point per bucket. */
	for (k = 0; k < 40; k++) {
		ev(RP_EV_ALLOC, 1, t0 + k * ms + ms / 2, 0x1000 + 16 * k, 0, 10, RA(user_alloc_site));
		CHECK(m->timeline.points <= 8);
	}
	/* 40 points asked for, 8 allowed: buckets of 8 ms at least. */
	CHECK(m->timeline.width_ns >= 8 * ms);
	CHECK(m->timeline.n * m->timeline.width_ns >= 40 * ms);
	for (k = 0; k < m->timeline.n; k++)
		bytes += m->timeline.b[k].bytes;
	CHECK_U64(bytes, 400);
	CHECK_U64(m->timeline.b[m->timeline.n - 1].live_bytes, 400);
	teardown();
}

/*
 * Sampled allocations stand for 1/p each (p = 1 - exp(-size/n)), rounded to
 * whole allocations at random: 4000 of them, each of weight 1/p = 10.5, must
 * count as 42000 within the rounding's spread (sd <= sqrt(4000)/2 ~ 32), and
 * every later event of an allocation carries its birth weight.
 */
static void test_sampled_weights(void)
{
	const uint64_t n = 4096;
	uint64_t size = (uint64_t)(-(double)n * log1p(-1 / 10.5) + 0.5), ptr;
	double w = sample_weight(size, n);
	struct site *s;
	uint64_t got;

	setup();
	CHECK(sample_weight(100, 0) == 1);
	CHECK(sample_weight(0, 4096) == 1);
	CHECK(w > 10.4 && w < 10.6);
	for (ptr = 1; ptr <= 4000; ptr++) {
		struct rp_event e = { .type = RP_EV_ALLOC, .tid = 7, .pid = 1, .ts = ptr * 10,
				      .ptr = ptr * 64, .size = size, .nframes = 1,
				      .sample_bytes = n };

		e.frames[0] = RA(user_alloc_site);
		CHECK(tracker__event(&t, &e, RP_EVENT_HDR_SIZE + 8) == 0);
		ev(RP_EV_FREE, 7, ptr * 10 + 5, ptr * 64, 0, size, RA(user_drop_site));
	}
	CHECK(m->nsites == 1);
	s = m->sites[0];
	got = s->allocs;
	CHECK(got > (uint64_t)(4000 * w) - 5 * 32 && got < (uint64_t)(4000 * w) + 5 * 32);
	/* Frees, outcomes and lifetimes carry the same weights. */
	CHECK_U64(s->frees, got);
	CHECK_U64(s->bytes, got * size);
	CHECK_U64(s->lifetime.count, got);
	CHECK_U64(m->totals.allocs, got);
	teardown();
}

/*
 * The live table against a plain array of what should be live, through
 * random adds, removes and moves: pointers clustered (as an allocator hands
 * them out) so that probe runs collide and removals shift entries back.
 */
static void test_live_table(void)
{
	enum { N = 4096, OPS = 200000 };
	static uint64_t ref[N];	/* 0: not live; else the pointer, its birth time = index */
	struct live_table lt = { 0 };
	uint64_t rng = 12345, n = 0, i;
	int op;

	for (op = 0; op < OPS; op++) {
		uint64_t k, r;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = rng % N;
		r = (rng >> 20) % 8;
		if (!ref[k]) {
			struct live_alloc *a = live_add(&lt, 0x10000 + k * 16);

			a->birth_ns = k;
			ref[k] = 0x10000 + k * 16;
			n++;
		} else if (r < 5) {
			struct live_alloc out;

			CHECK(live_remove(&lt, ref[k], &out));
			CHECK_U64(out.birth_ns, k);
			CHECK(!live_remove(&lt, ref[k], NULL));
			ref[k] = 0;
			n--;
		} else {
			/* Moved to a pointer far from the others, then back. */
			uint64_t far = 0x7f0000000000ULL + k * 4096;

			CHECK(live_move(&lt, ref[k], far));
			CHECK(live_find(&lt, ref[k]) == NULL);
			CHECK(live_move(&lt, far, ref[k]));
			CHECK(live_move(&lt, ref[k], ref[k]));
		}
		CHECK_U64(lt.len, n);
	}
	for (i = 0; i < N; i++) {
		struct live_alloc *a = live_find(&lt, 0x10000 + i * 16);

		CHECK((a != NULL) == (ref[i] != 0));
		if (a)
			CHECK_U64(a->birth_ns, i);
	}
	CHECK(!live_move(&lt, 0x42, 0x43));
	/* 8 bytes a slot, at most 7/8 full: under 19 B of index per record. */
	CHECK(lt.nslots * 8 <= 19 * lt.len || lt.nslots == 1024);
	live_table_free(&lt);
}

/*
 * Stacks met in turn (the last few are tried before the hash): the same
 * frames always give the same id, and stacks that share their first frame
 * and length but differ further out, or differ only in being truncated,
 * are told apart, however they interleave.
 */
static void test_stack_ids(void)
{
	const uint64_t a = RA(user_alloc_site), d = RA(user_drop_site), o = RA(user_other_site);
	const uint64_t st[6][3] = { { a, d, o }, { a, o, d }, { a, d, d },
				    { d, a, o }, { a, o, o }, { o, d, a } };
	uint32_t id[6][2], k, r, x;

	setup();
	for (k = 0; k < 6; k++)
		for (x = 0; x < 2; x++)
			id[k][x] = stack_table__intern(m->stacks, st[k], 3, x);
	for (k = 0; k < 6; k++) {
		CHECK(id[k][0] != 0);
		CHECK(id[k][0] != id[k][1]);
		for (r = 0; r < k; r++)
			CHECK(id[k][0] != id[r][0] && id[k][1] != id[r][1]);
	}
	/* Again in many orders: pairs, runs longer than the recent ones, one apart. */
	for (r = 0; r < 200; r++) {
		k = (r * 7 + r / 3) % 6;
		x = r % 3 == 0;
		CHECK_U64(stack_table__intern(m->stacks, st[k], 3, x), id[k][x]);
		CHECK_U64(stack_table__intern(m->stacks, st[(k + 1) % 6], 3, 0),
			  id[(k + 1) % 6][0]);
		CHECK_U64(stack_table__intern(m->stacks, st[k], 2, 0),
			  stack_table__intern(m->stacks, st[k], 2, 0));
	}
	/* A prefix is a stack of its own. */
	CHECK(stack_table__intern(m->stacks, st[0], 2, 0) != id[0][0]);
	CHECK(stack_table__intern(m->stacks, st[0], 2, 0) !=
	      stack_table__intern(m->stacks, st[2], 2, 1));
	CHECK_U64(stack_table__intern(m->stacks, st[0], 2, 0),
		  stack_table__intern(m->stacks, st[2], 2, 0));
	teardown();
}

int main(void)
{
	RUN(test_stack_ids);
	RUN(test_live_table);
	RUN(test_match_and_lifetime);
	RUN(test_timeline);
	RUN(test_timeline_budget);
	RUN(test_realloc_continues);
	RUN(test_unknown);
	RUN(test_temporaries_and_threads);
	RUN(test_live_at_end);
	RUN(test_malformed);
	RUN(test_sampled_weights);
	CHECK_DONE();
}
