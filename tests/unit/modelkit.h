/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A model fed by hand, for the unit tests of what lies above the tracker:
 * the symbolizer of the test's own process (so that frames inside its
 * functions have names), a model and its tracker, and events built in the
 * test. Include after check.h; one test file per binary.
 */
#ifndef RP_TEST_MODELKIT_H
#define RP_TEST_MODELKIT_H

#include <stdint.h>
#include <unistd.h>

#include "model.h"
#include "rsprobe.h"
#include "symbolize.h"
#include "tracker.h"

static struct symbolizer *sym;
static struct model *m;
static struct tracker t;

/* A return address inside fn: the tracker looks up pc - 1. */
#define RA(fn) ((uint64_t)(uintptr_t)(fn) + 1)

static void setup(void)
{
	sym = symbolizer__new(getpid());
	m = model__new(sym);
	tracker__init(&t, m);
}

static void teardown(void)
{
	tracker__free(&t);
	model__free(m);
	symbolizer__free(sym);
}

/* e into the tracker, with its e->nframes frames. */
static void kit_feed(struct rp_event *e)
{
	CHECK(tracker__event(&t, e, RP_EVENT_HDR_SIZE + e->nframes * 8) == 0);
}

#endif
