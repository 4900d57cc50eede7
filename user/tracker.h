/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_TRACKER_H
#define RP_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "hashmap.h"
#include "model.h"
#include "rsprobe.h"

/*
 * The lifetime tracker: the table of live allocations, keyed by pointer.
 * A free is matched to its allocation here; a realloc moves the entry to its
 * new pointer and keeps the birth time and site.
 */
/*
 * A live allocation: 40 bytes, in one dense array. The table from pointers
 * to it holds 8 bytes a slot (its index and 32 bits of the pointer's hash),
 * so a tracked allocation costs about 54 bytes all told, at worst 62.
 */
struct live_alloc {
	uint64_t ptr;
	uint64_t birth_ns;
	uint64_t size : 44;	/* saturates at 16 TiB */
	uint64_t reallocs : 20;	/* saturates at 2^20 - 1 */
	uint32_t site;		/* the site's id in the tracker's model (1-based) */
	uint32_t tid;
	uint32_t seq;		/* birth thread's allocation count at birth, low 32 bits */
	uint32_t weight;	/* allocations this one stands for (1 unless sampled) */
};

#define LIVE_SIZE_MAX ((1ULL << 44) - 1)
#define LIVE_REALLOCS_MAX ((1U << 20) - 1)

struct live_table {
	struct live_alloc *a;	/* dense: [0, len) */
	size_t len, cap;
	uint64_t *slots;	/* 0, or hash low 32 bits << 32 | index + 1 */
	size_t nslots;		/* power of two, or 0 */
};

struct tracker {
	struct model *model;
	struct live_table live;
	struct u64map thread_seq;	/* tid -> allocations made by the thread */
	/*
	 * The slots of recent threads in thread_seq, by tid: valid while the
	 * map keeps its capacity (slots move only when it grows).
	 */
	struct {
		uint32_t tid;
		size_t cap;
		uint64_t *slot;
	} thread_hint[8];
	uint64_t events;
	uint64_t by_type[4];
	uint64_t last_ts;
	uint64_t rng;			/* rounding of weights */
	uint64_t sampled_allocs;	/* alloc events recorded under sampling */
	/*
	 * Caps, 0 for none: live allocations tracked (past it, an allocation is
	 * counted but not tracked, and its free is an unknown one), and sites
	 * (past it, a new birth stack counts under the empty stack's site).
	 */
	size_t max_live, max_sites;
	uint64_t capped;		/* allocations the caps left untracked or unsited */
};

/* The table alone, for its tests: NULL when ptr is not live. */
struct live_alloc *live_find(struct live_table *lt, uint64_t ptr);
/*
 * A record for ptr, its other fields to fill (zeroed); a record of ptr
 * already live is replaced (its free was lost).
 */
struct live_alloc *live_add(struct live_table *lt, uint64_t ptr);
/* ptr is no longer live; false when it was not. *out: its record, if out. */
bool live_remove(struct live_table *lt, uint64_t ptr, struct live_alloc *out);
/*
 * The record of old_ptr now under ptr, replacing a record of ptr (whose
 * free was lost); NULL when old_ptr was not live.
 */
struct live_alloc *live_rekey(struct live_table *lt, uint64_t old_ptr, uint64_t ptr);
/* The same: whether old_ptr was live. */
bool live_move(struct live_table *lt, uint64_t old_ptr, uint64_t ptr);
void live_table_free(struct live_table *lt);

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
 * The same for the live allocations whose pointer p has (p & mask) == value
 * (one process's, when pointers carry a tag); the others stay live.
 */
void tracker__close_some(struct tracker *t, uint64_t mask, uint64_t value);
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
