// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Model windows on synthetic events: live figures pictured any number of
 * times, and windows rotated for interval exports. Every expected figure is
 * worked out from the events fed (written next to them), not from a run.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "modelkit.h"
#include "model.h"
#include "report.h"
#include "symbolize.h"
#include "tracker.h"
#include "util.h"

__attribute__((noinline)) void win_site_a(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void win_site_b(void)
{
	__asm__ volatile("nop" ::: "memory");
}

__attribute__((noinline)) void win_drop(void)
{
	__asm__ volatile("nop; nop" ::: "memory");
}

static void ev(uint32_t type, uint64_t ts, uint64_t ptr, uint64_t old_ptr, uint64_t size,
	       uint64_t frame, uint16_t flags)
{
	struct rp_event e = {
		.type = type, .tid = 1, .pid = 1, .ts = ts, .ptr = ptr, .old_ptr = old_ptr,
		.size = size, .nframes = frame ? 1 : 0, .flags = flags,
	};

	e.frames[0] = frame;
	kit_feed(&e);
}

#define ALLOC(ts, p, sz, fr) ev(RP_EV_ALLOC, ts, p, 0, sz, fr, 0)
#define FREE(ts, p, sz) ev(RP_EV_FREE, ts, p, 0, sz, RA(win_drop), 0)
#define REALLOC(ts, old, p, sz) ev(RP_EV_REALLOC, ts, p, old, sz, 0, 0)

/* The site of a model with the birth stack of site s (of any model), or NULL. */
static struct site *site_of(const struct model *mm, const struct site *s)
{
	return s ? model__site_of_stack(mm, s->stack) : NULL;
}

/* The cumulative model's site born in fn (the first site of that frame). */
static struct site *site_born_in(uint64_t frame)
{
	size_t i;

	for (i = 0; i < m->nsites; i++) {
		const struct stack *st = stack_table__get(m->stacks, m->sites[i]->stack);

		if (st->npcs && st->pcs[0] == frame)
			return m->sites[i];
	}
	return NULL;
}

/*
 * The end of a session pictured twice: the same live figures, the growth of
 * live allocations counted once, ages from the later time.
 */
static void test_live_pictured_twice(void)
{
	struct site *a;
	int pass;

	setup();
	ALLOC(100, 0x1000, 10, RA(win_site_a));
	REALLOC(200, 0x1000, 0x1100, 40);	/* grown, stays live: 40 bytes */
	ALLOC(150, 0x3000, 8, RA(win_site_a));
	REALLOC(160, 0x3000, 0x3100, 16);	/* grown, freed at 16 bytes */
	FREE(170, 0x3100, 16);
	ALLOC(300, 0x2000, 20, RA(win_site_a));
	for (pass = 0; pass < 3; pass++) {
		uint64_t end = 1000 * (pass + 1);

		tracker__finish(&t, end);
		a = site_born_in(RA(win_site_a));
		CHECK(a != NULL);
		if (!a)
			break;
		CHECK_U64(a->live, 2);
		CHECK_U64(a->live_bytes, 60);
		CHECK_U64(a->grown, 2);
		CHECK_U64(a->grown_final_bytes, 56);
		CHECK_U64(a->grown_max_final, 40);
		CHECK_U64(a->noldest, 2);
		CHECK_U64(a->oldest[0].age_ns, end - 100);
		CHECK_U64(a->oldest[0].ptr, 0x1100);
		CHECK_U64(a->oldest[1].age_ns, end - 300);
		CHECK_U64(a->live_age_sum, (end - 100) + (end - 300));
		CHECK_U64(m->totals.live_allocs, 2);
		CHECK_U64(m->totals.live_bytes, 60);
		/* Counts of what happened do not move. */
		CHECK_U64(a->allocs, 3);
		CHECK_U64(a->frees, 1);
	}
	/* A free after a picture: the next picture has one live allocation fewer. */
	FREE(3500, 0x2000, 20);
	tracker__finish(&t, 4000);
	CHECK_U64(m->totals.live_allocs, 1);
	CHECK_U64(m->totals.live_bytes, 40);
	CHECK_U64(a->grown, 2);
	teardown();
}

/*
 * Two windows of a run: each has what happened in it, both together what
 * the whole run has; in-use figures are what is live at each window's end.
 */
static void test_windows(void)
{
	struct model *w1, *w2, *w3;
	struct site *a, *b, *wa, *wb, **v;
	size_t i;

	setup();
	model__set_target(m, 42, "target", "/bin/target");
	model__set_stack_walk(m, "dwarf", 64);
	m->mode.source = "rust";
	model__window_begin(m, 0);
	/* Window 1, [0, 1000): A1 100 B, A2 50 B at a; B1 30 B at b; A2 freed. */
	ALLOC(100, 0xa1, 100, RA(win_site_a));
	ALLOC(200, 0xa2, 50, RA(win_site_a));
	ALLOC(300, 0xb1, 30, RA(win_site_b));
	FREE(400, 0xa2, 50);
	w1 = model__rotate(m, 1000);
	CHECK(w1 != NULL && m->window != NULL && m->window != w1);
	if (!w1)
		goto out;
	tracker__fill_live(&t, w1, 1000);
	a = site_born_in(RA(win_site_a));
	b = site_born_in(RA(win_site_b));
	CHECK(a && b);
	CHECK_U64(w1->start_ns, 0);
	CHECK_U64(w1->end_ns, 1000);
	CHECK_U64(w1->totals.allocs, 3);
	CHECK_U64(w1->totals.bytes_allocated, 180);
	CHECK_U64(w1->totals.frees, 1);
	CHECK_U64(w1->totals.bytes_freed, 50);
	CHECK_U64(w1->totals.live_allocs, 2);	/* A1, B1 */
	CHECK_U64(w1->totals.live_bytes, 130);
	CHECK_U64(w1->lifetime.count, 1);
	CHECK_U64(w1->heap.max_bytes, 180);	/* at 300, before A2's free */
	CHECK_U64(w1->heap.cur_bytes, 130);
	CHECK_U64(w1->nsites, 2);
	wa = site_of(w1, a);
	CHECK(wa && wa->allocs == 2 && wa->frees == 1 && wa->live == 1 && wa->live_bytes == 100);
	/* The run's metadata, copied. */
	CHECK_U64(w1->target.pid, 42);
	CHECK_STR(w1->target.exe, "/bin/target");
	CHECK(w1->target.exe != m->target.exe);
	CHECK_STR(w1->mode.source, "rust");
	CHECK_STR(w1->target.comm, "target");
	CHECK_STR(w1->stacks_info.method, "dwarf");
	CHECK_U64(w1->max_frames, 64);
	/* The target exec'd: its new name, in the next window and the run. */
	model__set_target(m, 42, "newname", "/bin/new");
	CHECK_STR(m->target.exe, "/bin/new");
	CHECK_STR(w1->target.exe, "/bin/target");

	/* Window 2, [1000, 2000): A1 freed (lifetime 1400), C1 70 B at b. */
	FREE(1500, 0xa1, 100);
	ALLOC(1600, 0xc1, 70, RA(win_site_b));
	w2 = model__rotate(m, 2000);
	CHECK(w2 != NULL);
	if (!w2) {
		model__free(w1);
		goto out;
	}
	tracker__fill_live(&t, w2, 2000);
	CHECK_U64(w2->totals.allocs, 1);
	CHECK_U64(w2->totals.bytes_allocated, 70);
	CHECK_U64(w2->totals.frees, 1);
	CHECK_U64(w2->totals.bytes_freed, 100);
	CHECK_U64(w2->totals.live_allocs, 2);	/* B1, C1 */
	CHECK_U64(w2->totals.live_bytes, 100);
	CHECK_U64(w2->lifetime.count, 1);
	CHECK_U64(w2->lifetime.max, 1400);
	/* The live heap went on from window 1's end: 130, then 30, then 100. */
	CHECK_U64(w2->heap.max_bytes, 130);
	CHECK_U64(w2->heap.cur_bytes, 100);
	wa = site_of(w2, a);
	wb = site_of(w2, b);
	CHECK(wa && wb);
	if (wa && wb) {
		CHECK_U64(wa->allocs, 0);
		CHECK_U64(wa->frees, 1);
		CHECK_U64(wa->heap.max_bytes, 100);
		CHECK_U64(wa->heap.cur_bytes, 0);
		CHECK_U64(wa->live, 0);
		CHECK_U64(wb->allocs, 1);
		CHECK_U64(wb->heap.max_bytes, 100);
		CHECK_U64(wb->live, 2);
		CHECK_U64(wb->live_bytes, 100);
		/* Sorted by the window's bytes: b (70) before a (0); by the run's, a first. */
		v = model__sorted_sites(w2, ORDER_BYTES);
		CHECK(v[0] == wb && v[1] == wa);
		free(v);
		v = model__sorted_sites(m, ORDER_BYTES);
		CHECK(v[0] == a && v[1] == b);
		free(v);
	}
	/* A window renders as a run does, in every format. */
	for (i = 0; i < report_nformats; i++) {
		const struct report_opts o = { .top = 5, .stacks = 2 };
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		CHECK(report_write(f, &report_formats[i], w2, &o) == 0);
		fclose(f);
		CHECK(len > 0);
		free(buf);
	}
	/* Both windows together: the whole run. */
	tracker__fill_live(&t, m, 2000);
	CHECK_U64(m->totals.allocs, w1->totals.allocs + w2->totals.allocs);
	CHECK_U64(m->totals.frees, w1->totals.frees + w2->totals.frees);
	CHECK_U64(m->totals.bytes_allocated, 250);
	CHECK_U64(m->lifetime.count, 2);
	CHECK_U64(m->totals.live_bytes, w2->totals.live_bytes);
	/* Nothing happened since: the window being recorded is empty. */
	w3 = m->window;
	CHECK(w3 && w3->nsites == 0 && w3->totals.allocs == 0 && w3->start_ns == 2000);
	CHECK_STR(w2->target.comm, "newname");
	CHECK_STR(w2->target.exe, "/bin/new");
	model__free(w1);
	model__free(w2);
out:
	teardown();
}

/* What the tracker counts without a site, and stack figures, reach the window too. */
static void test_window_side_counts(void)
{
	struct model *w;

	setup();
	ALLOC(10, 0x10, 8, RA(win_site_a));	/* before the window */
	model__window_begin(m, 100);
	FREE(200, 0xdead, 8);			/* unknown free */
	REALLOC(210, 0xbeef, 0xbef0, 16);	/* unknown realloc */
	model__on_stack(m, RP_F_DWARF | RP_F_COMPLETE);
	model__on_stack(m, RP_F_TRUNCATED | RP_F_UNMAPPED);
	tracker__close_all(&t);			/* the exec: 0x10 closed */
	w = model__rotate(m, 300);
	CHECK(w != NULL);
	if (w) {
		CHECK_U64(w->totals.unknown_frees, 1);
		CHECK_U64(w->totals.unknown_reallocs, 1);
		CHECK_U64(w->totals.reallocs, 1);
		CHECK_U64(w->totals.closed_by_exec, 1);
		CHECK_U64(w->totals.closed_by_exec_bytes, 8);
		CHECK_U64(w->totals.allocs, 0);
		CHECK_U64(w->stacks_info.taken, 2);
		CHECK_U64(w->stacks_info.dwarf, 1);
		CHECK_U64(w->stacks_info.complete, 1);
		CHECK_U64(w->stacks_info.truncated, 1);
		CHECK_U64(w->stacks_info.unmapped, 1);
	}
	CHECK_U64(m->totals.unknown_frees, 1);
	CHECK_U64(m->totals.unknown_reallocs, 1);
	CHECK_U64(m->totals.closed_by_exec, 1);
	CHECK_U64(m->totals.allocs, 1);
	CHECK_U64(m->stacks_info.taken, 2);
	model__free(w);
	teardown();
}

/*
 * Sampled events carry their weights into the window: a window spanning
 * the whole run has the run's figures, weight for weight.
 */
static void test_window_weights(void)
{
	struct model *w;
	uint64_t ptr;

	setup();
	model__window_begin(m, 0);
	for (ptr = 1; ptr <= 500; ptr++) {
		struct rp_event e = { .type = RP_EV_ALLOC, .tid = 1, .pid = 1, .ts = ptr * 10,
				      .ptr = ptr * 64, .size = 100, .nframes = 1,
				      .sample_bytes = 4096 };

		e.frames[0] = RA(win_site_a);
		CHECK(tracker__event(&t, &e, RP_EVENT_HDR_SIZE + 8) == 0);
		if (ptr % 2)
			FREE(ptr * 10 + 5, ptr * 64, 100);
	}
	w = model__rotate(m, 10000);
	CHECK(w != NULL);
	if (w) {
		tracker__fill_live(&t, w, 10000);
		tracker__finish(&t, 10000);
		/* Weight 1/p = 1/(1 - exp(-100/4096)) ~ 41.5 each: far more than 500. */
		CHECK(m->totals.allocs > 500 * 30);
		CHECK_U64(w->totals.allocs, m->totals.allocs);
		CHECK_U64(w->totals.frees, m->totals.frees);
		CHECK_U64(w->totals.live_allocs, m->totals.live_allocs);
		CHECK_U64(w->totals.live_bytes, m->totals.live_bytes);
		CHECK_U64(w->lifetime.count, m->lifetime.count);
		CHECK_U64(w->heap.max_bytes, m->heap.max_bytes);
	}
	model__free(w);
	teardown();
}

int main(void)
{
	RUN(test_live_pictured_twice);
	RUN(test_windows);
	RUN(test_window_side_counts);
	RUN(test_window_weights);
	CHECK_DONE();
}
