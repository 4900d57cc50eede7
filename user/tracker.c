// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Matching frees to allocations; reallocs continue an allocation. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tracker.h"
#include "util.h"

void tracker__init(struct tracker *t, struct model *m)
{
	memset(t, 0, sizeof(*t));
	t->model = m;
	t->rng = 0x9e3779b97f4a7c15ULL;
	u64map_init(&t->thread_seq);
}

void tracker__free(struct tracker *t)
{
	live_table_free(&t->live);
	u64map_free(&t->thread_seq);
	memset(t, 0, sizeof(*t));
}

/*
 * The live table: records in a dense array (a removal moves the last record
 * into the hole), and an open-addressing index over it with linear probing
 * and backward-shift deletion (no tombstones). A slot keeps the low 32 bits
 * of the pointer's hash: its home slot, and a check that spares most reads
 * of records that are not the one looked for.
 */
#define SLOT_EMPTY 0

/*
 * The array and the index live in mappings of their own: growing one by
 * mremap moves its pages instead of copying them, and pages never written
 * (the room the array grows into) cost no memory. From malloc, the copy of
 * each doubling would stay behind in the heap, and zeroed room counts too.
 */
static void *region_resize(void *p, size_t old_bytes, size_t new_bytes)
{
	void *q;

	if (p)
		q = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
	else
		q = mmap(NULL, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED) {
		fputs("rsprobe: out of memory\n", stderr);
		abort();
	}
	return q;
}

static void region_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

static inline uint64_t slot_of(uint32_t h, size_t idx)
{
	return (uint64_t)h << 32 | (idx + 1);
}

static inline size_t slot_idx(uint64_t s)
{
	return (size_t)(uint32_t)s - 1;
}

/* The slot holding ptr, or the empty slot where it would go. */
static inline __attribute__((always_inline)) size_t
live_probe(const struct live_table *lt, uint64_t ptr, uint32_t h, bool *found)
{
	size_t mask = lt->nslots - 1, i = h & mask;
	uint64_t s;

	while ((s = lt->slots[i]) != SLOT_EMPTY) {
		if ((uint32_t)(s >> 32) == h && lt->a[slot_idx(s)].ptr == ptr) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

static void live_rehash(struct live_table *lt, size_t nslots)
{
	size_t i, mask = nslots - 1;

	region_free(lt->slots, lt->nslots * sizeof(*lt->slots));
	lt->slots = region_resize(NULL, 0, nslots * sizeof(*lt->slots));
	lt->nslots = nslots;
	for (i = 0; i < lt->len; i++) {
		uint32_t h = (uint32_t)hash_u64(lt->a[i].ptr);
		size_t j = h & mask;

		while (lt->slots[j] != SLOT_EMPTY)
			j = (j + 1) & mask;
		lt->slots[j] = slot_of(h, i);
	}
}

struct live_alloc *live_find(struct live_table *lt, uint64_t ptr)
{
	bool found;
	size_t i;

	if (!lt->len)
		return NULL;
	i = live_probe(lt, ptr, (uint32_t)hash_u64(ptr), &found);
	return found ? &lt->a[slot_idx(lt->slots[i])] : NULL;
}

struct live_alloc *live_add(struct live_table *lt, uint64_t ptr)
{
	uint32_t h = (uint32_t)hash_u64(ptr);
	struct live_alloc *a;
	bool found;
	size_t i;

	/*
	 * At most 3/4 full: an allocation's probe (for a slot that is empty)
	 * stays a few slots long, and 8-byte slots stay under 22 B per record.
	 */
	if ((lt->len + 1) * 4 > lt->nslots * 3)
		live_rehash(lt, lt->nslots ? lt->nslots * 2 : 1024);
	if (lt->len == lt->cap) {
		size_t cap = lt->cap ? lt->cap * 2 : 4096;

		lt->a = region_resize(lt->a, lt->cap * sizeof(*lt->a), cap * sizeof(*lt->a));
		lt->cap = cap;
	}
	/* One probe: the slot of ptr if it is live, else where it goes. */
	i = live_probe(lt, ptr, h, &found);
	if (found) {
		a = &lt->a[slot_idx(lt->slots[i])];
	} else {
		lt->slots[i] = slot_of(h, lt->len);
		a = &lt->a[lt->len++];
	}
	memset(a, 0, sizeof(*a));
	a->ptr = ptr;
	return a;
}

/* Empty slot i, shifting back the entries after it that it would cut off. */
static void live_unslot(struct live_table *lt, size_t i)
{
	size_t mask = lt->nslots - 1, j = i, home;
	uint64_t s;

	for (;;) {
		j = (j + 1) & mask;
		s = lt->slots[j];
		if (s == SLOT_EMPTY)
			break;
		home = (uint32_t)(s >> 32) & mask;
		/* The entry at j may move to i if i lies on its probe path, home .. j. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			lt->slots[i] = s;
			i = j;
		}
	}
	lt->slots[i] = SLOT_EMPTY;
}

bool live_remove(struct live_table *lt, uint64_t ptr, struct live_alloc *out)
{
	size_t i, idx, last;
	bool found;

	if (!lt->len)
		return false;
	i = live_probe(lt, ptr, (uint32_t)hash_u64(ptr), &found);
	if (!found)
		return false;
	idx = slot_idx(lt->slots[i]);
	if (out)
		*out = lt->a[idx];
	live_unslot(lt, i);
	last = --lt->len;
	if (idx != last) {
		/* The last record fills the hole; its slot follows it. */
		uint64_t moved = lt->a[last].ptr;
		uint32_t h = (uint32_t)hash_u64(moved);
		size_t j = live_probe(lt, moved, h, &found);

		lt->a[idx] = lt->a[last];
		lt->slots[j] = slot_of(h, idx);
	}
	return true;
}

struct live_alloc *live_rekey(struct live_table *lt, uint64_t old_ptr, uint64_t ptr)
{
	struct live_alloc a, *n;

	if (old_ptr == ptr)
		return live_find(lt, ptr);
	if (!live_remove(lt, old_ptr, &a))
		return NULL;
	n = live_add(lt, ptr);
	a.ptr = ptr;
	*n = a;
	return n;
}

bool live_move(struct live_table *lt, uint64_t old_ptr, uint64_t ptr)
{
	return live_rekey(lt, old_ptr, ptr) != NULL;
}

void live_table_free(struct live_table *lt)
{
	region_free(lt->a, lt->cap * sizeof(*lt->a));
	region_free(lt->slots, lt->nslots * sizeof(*lt->slots));
	memset(lt, 0, sizeof(*lt));
}

static struct site *site_of(const struct tracker *t, const struct live_alloc *a)
{
	return t->model->sites[a->site - 1];
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

/* The slot of tid's allocation count (0 for a thread not seen yet). */
static uint64_t *thread_slot(struct tracker *t, uint32_t tid)
{
	typeof(t->thread_hint[0]) *c = &t->thread_hint[tid % ARRAY_SIZE(t->thread_hint)];

	if (c->slot && c->tid == tid && c->cap == t->thread_seq.cap)
		return c->slot;
	c->slot = u64map_slot(&t->thread_seq, tid, NULL);
	c->tid = tid;
	c->cap = t->thread_seq.cap;
	return c->slot;
}

/* The thread's allocation count: from BPF when the event has it. */
static uint64_t *thread_seq(struct tracker *t, const struct rp_event *e, bool alloc)
{
	uint64_t *seq = thread_slot(t, e->tid);

	if (e->seq)
		*seq = e->seq;
	else if (alloc)
		(*seq)++;
	return seq;
}

static void on_alloc(struct tracker *t, const struct rp_event *e)
{
	uint32_t stack = intern(t, e);
	uint64_t *seq = thread_seq(t, e, true);
	struct live_alloc *a;
	struct site *s;

	if (t->max_sites && t->model->nsites >= t->max_sites &&
	    !model__site_of_stack(t->model, stack)) {
		stack = 0;
		t->capped++;
	}
	s = model__site(t->model, stack);
	/*
	 * A pointer handed out twice without a free between: the first free was
	 * lost, and live_add() replaces its record.
	 */
	if (t->max_live && t->live.len >= t->max_live && !live_remove(&t->live, e->ptr, NULL)) {
		t->capped++;
		t->model->weight = e->sample_bytes ?
			round_weight(t, sample_weight(e->size, e->sample_bytes)) : 1;
		model__on_alloc(t->model, s, e->size);
		t->model->weight = 0;
		return;
	}
	a = live_add(&t->live, e->ptr);
	a->birth_ns = e->ts;
	a->size = MIN(e->size, LIVE_SIZE_MAX);
	a->seq = (uint32_t)*seq;
	a->site = s->id;
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
	struct live_alloc a;
	struct site *s;
	uint64_t seq = 0;
	bool temporary;

	if (e->seq)
		thread_seq(t, e, false);
	if (!live_remove(&t->live, e->ptr, &a)) {
		/* The allocator freeing its own cache is not memory of the program's. */
		if (stack__allocator_internal(stack_table__get(t->model->stacks, drop)))
			model__on_internal_free(t->model);
		else
			model__on_free(t->model, NULL, drop, e->size, 0, false, false);
		return;
	}
	s = site_of(t, &a);
	seq = *thread_slot(t, a.tid);
	/* BPF counts 32 bits of it, and so does the record. */
	temporary = (uint32_t)seq == a.seq;
	t->model->weight = a.weight;
	model__on_grown(t->model, s, a.reallocs, a.size);
	/* free() does not say the size (Rust's dealloc does): the tracked one. */
	model__on_free(t->model, s, drop, e->size ? e->size : a.size,
		       e->ts > a.birth_ns ? e->ts - a.birth_ns : 0, e->tid != a.tid, temporary);
	t->model->weight = 0;
}

static void on_realloc(struct tracker *t, const struct rp_event *e)
{
	/* The new block's pointer cannot be live: a lost free, as at an allocation. */
	struct live_alloc *a = live_rekey(&t->live, e->old_ptr, e->ptr);
	uint64_t old_size;

	if (!a) {
		model__on_realloc(t->model, NULL, 0, e->size);
		return;
	}
	old_size = a->size;
	a->size = MIN(e->size, LIVE_SIZE_MAX);
	if (a->reallocs < LIVE_REALLOCS_MAX)
		a->reallocs++;
	t->model->weight = a->weight;
	model__on_realloc(t->model, site_of(t, a), old_size, e->size);
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
	size_t i;

	for (i = 0; i < t->live.len; i++)
		fn(ctx, t->live.a[i].ptr, &t->live.a[i]);
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
	live_table_free(&t->live);
}

struct some {
	uint64_t mask, value;
	uint64_t *ptrs;
	size_t n, cap;
};

static void pick_one(void *ctx, uint64_t ptr, const struct live_alloc *a)
{
	struct some *s = ctx;

	if ((ptr & s->mask) == s->value) {
		ARR_RESERVE(s->ptrs, s->cap, s->n + 1);
		s->ptrs[s->n++] = ptr;
	}
}

void tracker__close_some(struct tracker *t, uint64_t mask, uint64_t value)
{
	struct some s = { mask, value, NULL, 0, 0 };
	struct live_alloc a;
	size_t i;

	tracker__visit_live(t, pick_one, &s);
	for (i = 0; i < s.n; i++)
		if (live_remove(&t->live, s.ptrs[i], &a))
			close_one(t->model, s.ptrs[i], &a);
	t->model->weight = 0;
	free(s.ptrs);
}

struct fill {
	const struct tracker *t;
	struct model *m;
	uint64_t now_ns;
};

static void fill_one(void *ctx, uint64_t ptr, const struct live_alloc *a)
{
	struct fill *f = ctx;
	struct site *s = model__site_like(f->m, site_of(f->t, a));

	f->m->weight = a->weight;
	model__on_live(f->m, s, a->size, f->now_ns > a->birth_ns ? f->now_ns - a->birth_ns : 0, ptr,
		       a->reallocs);
}

void tracker__fill_live(const struct tracker *t, struct model *m, uint64_t now_ns)
{
	struct fill f = { t, m, now_ns };

	model__live_clear(m);
	tracker__visit_live(t, fill_one, &f);
	m->weight = 0;
}

void tracker__finish(struct tracker *t, uint64_t end_ns)
{
	model__timeline_close(t->model, end_ns);
	tracker__fill_live(t, t->model, end_ns);
}
