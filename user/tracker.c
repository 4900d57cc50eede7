// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Matching frees to allocations; reallocs continue an allocation. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tracker.h"
#include "util.h"

void tracker__init(struct tracker *t, struct model *m)
{
	memset(t, 0, sizeof(*t));
	t->model = m;
	t->rng = 0x9e3779b97f4a7c15ULL;
	u64map_init(&t->live);
	u64map_init(&t->thread_seq);
}

void tracker__free(struct tracker *t)
{
	u64map_free(&t->live);
	u64map_free(&t->thread_seq);
	free(t->pool);
	free(t->free_slots);
	memset(t, 0, sizeof(*t));
}

static struct live_alloc *live_new(struct tracker *t, uint64_t ptr)
{
	uint64_t idx;

	if (t->nfree_slots) {
		idx = t->free_slots[--t->nfree_slots];
	} else {
		ARR_RESERVE(t->pool, t->pool_cap, t->pool_len + 1);
		idx = t->pool_len++;
	}
	u64map_put(&t->live, ptr, idx);
	return &t->pool[idx];
}

static void live_release(struct tracker *t, uint64_t idx)
{
	ARR_RESERVE(t->free_slots, t->free_slots_cap, t->nfree_slots + 1);
	t->free_slots[t->nfree_slots++] = idx;
}

static uint32_t intern(struct tracker *t, const struct rp_event *e)
{
	const uint64_t *f = (const uint64_t *)e->frames;
	uint32_t n = MIN(e->nframes, RP_MAX_FRAMES);

	/*
	 * frames[0] is the caller read from [rsp]. Kernels since 6.13 notice a
	 * uprobe at function entry and put that same caller in their own walk,
	 * right after the probed address; older ones do not. Keep it once.
	 */
	if (n >= 2 && f[0] == f[1]) {
		f++;
		n--;
	}
	return stack_table__intern(t->model->stacks, f, n, e->flags & RP_F_TRUNCATED);
}

double sample_weight(uint64_t size, uint64_t n)
{
	double p;

	if (!n || !size)
		return 1;
	p = -expm1(-(double)size / (double)n);
	return p > 0 ? 1 / p : 1;
}

/*
 * A whole number of allocations for a weight: the fraction is rounded up
 * with that probability, so the counts stay unbiased and every figure of
 * the model stays an integer (the allocation stands for n identical ones).
 */
static uint32_t round_weight(struct tracker *t, double w)
{
	double whole = floor(w), u;

	if (w >= 4294967295.0)
		return UINT32_MAX;
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	u = (double)(t->rng >> 11) / 9007199254740992.0;
	return (uint32_t)whole + (u < w - whole);
}

/* The thread's allocation count: from BPF when the event has it. */
static uint64_t *thread_seq(struct tracker *t, const struct rp_event *e, bool alloc)
{
	uint64_t *seq = u64map_slot(&t->thread_seq, e->tid, NULL);

	if (e->seq)
		*seq = e->seq;
	else if (alloc)
		(*seq)++;
	return seq;
}

static void on_alloc(struct tracker *t, const struct rp_event *e)
{
	struct site *s = model__site(t->model, intern(t, e));
	uint64_t *seq = thread_seq(t, e, true);
	struct live_alloc *a;
	uint64_t idx;

	/* A pointer handed out twice without a free between: the first free was lost. */
	if (u64map_del(&t->live, e->ptr, &idx))
		live_release(t, idx);
	a = live_new(t, e->ptr);
	a->birth_ns = e->ts;
	a->size = e->size;
	a->seq = *seq;
	a->site = s;
	a->tid = e->tid;
	a->reallocs = 0;
	a->weight = e->sample_bytes ? round_weight(t, sample_weight(e->size, e->sample_bytes)) : 1;
	if (e->sample_bytes)
		t->sampled_allocs++;
	t->model->weight = a->weight;
	model__on_alloc(t->model, s, e->size);
	t->model->weight = 0;
}

static void on_free(struct tracker *t, const struct rp_event *e)
{
	uint32_t drop = intern(t, e);
	struct live_alloc *a;
	uint64_t idx, seq = 0;
	bool temporary;

	if (e->seq)
		thread_seq(t, e, false);
	if (!u64map_del(&t->live, e->ptr, &idx)) {
		/* The allocator freeing its own cache is not memory of the program's. */
		if (stack__allocator_internal(stack_table__get(t->model->stacks, drop)))
			model__on_internal_free(t->model);
		else
			model__on_free(t->model, NULL, drop, e->size, 0, false, false);
		return;
	}
	a = &t->pool[idx];
	u64map_get(&t->thread_seq, a->tid, &seq);
	/* BPF counts 32 bits of it. */
	temporary = e->seq ? (uint32_t)seq == (uint32_t)a->seq : seq == a->seq;
	t->model->weight = a->weight;
	model__on_grown(t->model, a->site, a->reallocs, a->size);
	/* free() does not say the size (Rust's dealloc does): the tracked one. */
	model__on_free(t->model, a->site, drop, e->size ? e->size : a->size,
		       e->ts > a->birth_ns ? e->ts - a->birth_ns : 0, e->tid != a->tid, temporary);
	t->model->weight = 0;
	live_release(t, idx);
}

static void on_realloc(struct tracker *t, const struct rp_event *e)
{
	struct live_alloc *a;
	uint64_t idx, old_size;

	if (!u64map_del(&t->live, e->old_ptr, &idx)) {
		model__on_realloc(t->model, NULL, 0, e->size);
		return;
	}
	a = &t->pool[idx];
	old_size = a->size;
	a->size = e->size;
	a->reallocs++;
	u64map_put(&t->live, e->ptr, idx);
	t->model->weight = a->weight;
	model__on_realloc(t->model, a->site, old_size, e->size);
	t->model->weight = 0;
}

int tracker__event(struct tracker *t, const struct rp_event *e, size_t len)
{
	if (len < RP_EVENT_HDR_SIZE || len < RP_EVENT_HDR_SIZE + (size_t)e->nframes * 8)
		return -EINVAL;
	t->events++;
	/* The model's clock is event time (peaks, ages), not processing time. */
	t->model->now_ns = e->ts;
	if (e->type < 4)
		t->by_type[e->type]++;
	t->last_ts = e->ts;
	switch (e->type) {
	case RP_EV_ALLOC:
		on_alloc(t, e);
		break;
	case RP_EV_FREE:
		on_free(t, e);
		break;
	case RP_EV_REALLOC:
		on_realloc(t, e);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

void tracker__visit_live(const struct tracker *t, tracker_visit_fn fn, void *ctx)
{
	size_t i = 0;
	uint64_t ptr, idx;

	while (u64map_next(&t->live, &i, &ptr, &idx))
		fn(ctx, ptr, &t->pool[idx]);
}

static void close_one(void *ctx, uint64_t ptr, const struct live_alloc *a)
{
	struct model *m = ctx;

	m->weight = a->weight;
	model__on_closed_by_exec(m, a->size);
}

void tracker__close_all(struct tracker *t)
{
	tracker__visit_live(t, close_one, t->model);
	t->model->weight = 0;
	u64map_free(&t->live);
	u64map_init(&t->live);
	t->pool_len = 0;
	t->nfree_slots = 0;
}

struct fill {
	struct model *m;
	uint64_t now_ns;
};

static void fill_one(void *ctx, uint64_t ptr, const struct live_alloc *a)
{
	struct fill *f = ctx;
	struct site *s = model__site_like(f->m, a->site);

	f->m->weight = a->weight;
	model__on_live(f->m, s, a->size, f->now_ns > a->birth_ns ? f->now_ns - a->birth_ns : 0, ptr,
		       a->reallocs);
}

void tracker__fill_live(const struct tracker *t, struct model *m, uint64_t now_ns)
{
	struct fill f = { m, now_ns };

	model__live_clear(m);
	tracker__visit_live(t, fill_one, &f);
	m->weight = 0;
}

void tracker__finish(struct tracker *t, uint64_t end_ns)
{
	model__timeline_close(t->model, end_ns);
	tracker__fill_live(t, t->model, end_ns);
}
