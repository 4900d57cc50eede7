/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_TRACKER_H
#define RP_TRACKER_H

#include <stdint.h>

#include "hashmap.h"
#include "model.h"
#include "rsprobe.h"

/*
 * The lifetime tracker: the table of live allocations, keyed by pointer.
 * A free is matched to its allocation here; a realloc moves the entry to its
 * new pointer and keeps the birth time and site.
 */
/* The pointer is the live table's key, not stored again here. */
struct live_alloc {
	uint64_t birth_ns;
	uint64_t size;
	uint64_t seq;		/* birth thread's allocation count at birth */
	struct site *site;
	uint32_t tid;
	uint32_t reallocs;
	uint32_t weight;	/* allocations this one stands for (1 unless sampled) */
	uint32_t pad;
};

struct tracker {
	struct model *model;
	struct u64map live;		/* ptr -> index into pool */
	struct live_alloc *pool;
	size_t pool_len, pool_cap;
	uint64_t *free_slots;
	size_t nfree_slots, free_slots_cap;
	struct u64map thread_seq;	/* tid -> allocations made by the thread */
	uint64_t events;
	uint64_t by_type[4];
	uint64_t last_ts;
	uint64_t rng;			/* rounding of weights */
	uint64_t sampled_allocs;	/* alloc events recorded under sampling */
};

/*
 * The weight of an allocation of size bytes sampled with mean interval n
 * (Poisson sampling by bytes): 1 / (1 - exp(-size / n)), the inverse of its
 * chance of being sampled; 1 when n is 0 (every allocation recorded).
 */
double sample_weight(uint64_t size, uint64_t n);

void tracker__init(struct tracker *t, struct model *m);
void tracker__free(struct tracker *t);
/* Feed one event; returns 0, or -EINVAL for a malformed event. */
int tracker__event(struct tracker *t, const struct rp_event *e, size_t len);
/*
 * The target exec'd: its old heap is gone. Close every live allocation,
 * counted in the model's closed_by_exec, not as live.
 */
void tracker__close_all(struct tracker *t);
/*
 * Every live allocation, in no particular order; the table is left as it
 * is. fn must not feed the tracker.
 */
typedef void (*tracker_visit_fn)(void *ctx, uint64_t ptr, const struct live_alloc *a);
void tracker__visit_live(const struct tracker *t, tracker_visit_fn fn, void *ctx);
/*
 * The live figures of m (the tracker's model, or a window of it) at now_ns:
 * the last ones replaced by what is live now (see model__live_clear()).
 */
void tracker__fill_live(const struct tracker *t, struct model *m, uint64_t now_ns);
/* End of session at end_ns: the timeline closed, the live figures filled (again). */
void tracker__finish(struct tracker *t, uint64_t end_ns);

#endif
