// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tracker's caps (the daemon's bounded memory): past max_live an
 * allocation is counted but not tracked, past max_sites a new birth stack
 * counts under the empty stack's site; what they dropped is counted.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "symbolize.h"
#include "tracker.h"

__attribute__((noinline)) void caps_site_a(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void caps_site_b(void)
{
	__asm__ volatile("nop" ::: "memory");
}

static struct symbolizer *sym;
static struct model *m;
static struct tracker t;

#define RA(fn) ((uint64_t)(uintptr_t)(fn) + 1)

static void ev(uint32_t type, uint64_t ts, uint64_t ptr, uint64_t size, uint64_t f0)
{
	struct rp_event e = { .type = type, .tid = 1, .pid = 1, .ts = ts, .ptr = ptr, .size = size,
			      .nframes = 1 };

	e.frames[0] = f0;
	CHECK(tracker__event(&t, &e, RP_EVENT_HDR_SIZE + 8) == 0);
}

static void test_max_live(void)
{
	uint64_t i;

	sym = symbolizer__new(getpid());
	m = model__new(sym);
	tracker__init(&t, m);
	t.max_live = 3;
	for (i = 0; i < 5; i++)
		ev(RP_EV_ALLOC, 10 + i, 0x1000 + i * 16, 8, RA(caps_site_a));
	CHECK_U64(t.capped, 2);
	CHECK_U64(t.live.len, 3);
	CHECK_U64(m->totals.allocs, 5);		/* counted all the same */
	ev(RP_EV_FREE, 20, 0x1000 + 4 * 16, 8, RA(caps_site_b));	/* untracked */
	ev(RP_EV_FREE, 21, 0x1000, 8, RA(caps_site_b));		/* tracked */
	CHECK_U64(m->totals.frees, 2);
	CHECK_U64(m->totals.unknown_frees, 1);
	CHECK_U64(m->lifetime.count, 1);
	/* Room again: the next one is tracked. */
	ev(RP_EV_ALLOC, 30, 0x9000, 8, RA(caps_site_a));
	CHECK_U64(t.capped, 2);
	CHECK_U64(t.live.len, 3);
	tracker__free(&t);
	model__free(m);
	symbolizer__free(sym);
}

static void test_max_sites(void)
{
	sym = symbolizer__new(getpid());
	m = model__new(sym);
	tracker__init(&t, m);
	t.max_sites = 1;
	ev(RP_EV_ALLOC, 1, 0x1000, 8, RA(caps_site_a));
	ev(RP_EV_ALLOC, 2, 0x2000, 8, RA(caps_site_a));	/* a known site: no cap */
	CHECK_U64(t.capped, 0);
	ev(RP_EV_ALLOC, 3, 0x3000, 8, RA(caps_site_b));	/* a new site past the cap */
	CHECK_U64(t.capped, 1);
	CHECK_U64(m->nsites, 2);			/* site_a and the empty stack's */
	if (m->nsites == 2) {
		CHECK_U64(m->sites[0]->allocs, 2);
		CHECK_U64(m->sites[1]->stack, 0);
		CHECK_U64(m->sites[1]->allocs, 1);
	}
	CHECK_U64(m->totals.allocs, 3);
	tracker__free(&t);
	model__free(m);
	symbolizer__free(sym);
}

int main(void)
{
	RUN(test_max_live);
	RUN(test_max_sites);
	CHECK_DONE();
}
