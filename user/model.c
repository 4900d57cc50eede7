// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Aggregation: sites, drop sites, functions, histograms, outcomes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rsprobe.h"
#include "util.h"

struct model *model__new(struct symbolizer *sym)
{
	struct model *m = xcalloc(1, sizeof(*m));

	m->sym = sym;
	m->stacks = stack_table__new(sym);
	m->max_frames = RP_DEFAULT_FRAMES;
	m->timeline.max_points = TIMELINE_MAX_POINTS;
	u64map_init(&m->func_idx);
	return m;
}

void model__free(struct model *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nsites; i++) {
		struct site *s = m->sites[i];

		hist_free(&s->lifetime);
		free(s->tl);
		free(s->drops);
		u64map_free(&s->drop_idx);
		free(s);
	}
	for (i = 0; i < m->nfuncs; i++)
		free(m->funcs[i].name);
	free(m->sites);
	free(m->funcs);
	hist_free(&m->lifetime);
	free(m->site_of_stack);
	u64map_free(&m->func_idx);
	free(m->func_of_stack);
	if (!m->shares_stacks)
		stack_table__free(m->stacks);
	model__free(m->window);
	free(m->target.exe);
	free(m->exec_from);
	free(m->late_probed);
	free(m->forked);
	for (size_t i = 0; i < m->ntargets; i++)
		free(m->targets[i].exe);
	free(m->targets);
	free(m->tables_full);
	free(m->mode.source_reason);
	free(m);
}

static struct function *function_for(struct model *m, const char *name)
{
	uint64_t h = hash_bytes(name, strlen(name)), v;
	struct function *f;

	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&m->func_idx, h, &v))
			break;
		if (!strcmp(m->funcs[v - 1].name, name))
			return &m->funcs[v - 1];
	}
	ARR_RESERVE(m->funcs, m->funcs_cap, m->nfuncs + 1);
	f = &m->funcs[m->nfuncs++];
	memset(f, 0, sizeof(*f));
	f->name = xstrdup(name);
	u64map_put(&m->func_idx, h, m->nfuncs);
	return f;
}

struct site *model__site(struct model *m, uint32_t stack)
{
	struct site *s = model__site_of_stack(m, stack);

	if (s)
		return s;
	ARR_RESERVE(m->site_of_stack, m->site_of_stack_cap, (size_t)stack + 1);
	s = xcalloc(1, sizeof(*s));
	s->stack = stack;
	s->id = (uint32_t)m->nsites + 1;
	u64map_init(&s->drop_idx);
	ARR_RESERVE(m->sites, m->sites_cap, m->nsites + 1);
	m->sites[m->nsites++] = s;
	m->site_of_stack[stack] = s->id;
	if (stack_table__get(m->stacks, stack)->truncated)
		m->truncated_stacks++;
	return s;
}

/* The event time of what is being fed (see model.now_ns). */
static uint64_t model_now(const struct model *m)
{
	return m->now_ns ? m->now_ns : mono_ns();
}

static inline __attribute__((always_inline)) void curve_add(struct heap_curve *c, int64_t dbytes,
							    int64_t dblocks)
{
	/* Saturate: a lost event can make a free look bigger than what is live. */
	if (dbytes < 0 && (uint64_t)-dbytes > c->cur_bytes)
		dbytes = -(int64_t)c->cur_bytes;
	if (dblocks < 0 && (uint64_t)-dblocks > c->cur_blocks)
		dblocks = -(int64_t)c->cur_blocks;
	c->cur_bytes += dbytes;
	c->cur_blocks += dblocks;
	if (c->cur_bytes > c->max_bytes) {
		c->max_bytes = c->cur_bytes;
		c->max_blocks = c->cur_blocks;
	}
}

/* Halve the timeline's resolution: neighbouring buckets merge, in every site too. */
static void timeline_merge(struct model *m)
{
	struct timeline *t = &m->timeline;
	uint32_t i;
	size_t k, j, o;

	for (i = 0; i < (t->n + 1) / 2; i++) {
		struct tl_bucket a = t->b[2 * i], b = {};

		if (2 * i + 1 < t->n)
			b = t->b[2 * i + 1];
		else
			b = (struct tl_bucket){ .live_bytes = a.live_bytes, .live_allocs = a.live_allocs };
		t->b[i] = (struct tl_bucket){
			.allocs = a.allocs + b.allocs,
			.bytes = a.bytes + b.bytes,
			.frees = a.frees + b.frees,
			.live_bytes = b.live_bytes,
			.live_allocs = b.live_allocs,
			.max_live_bytes = MAX(a.max_live_bytes, b.max_live_bytes),
		};
	}
	t->n = (t->n + 1) / 2;
	memset(&t->b[t->n], 0, (TIMELINE_BUCKETS - t->n) * sizeof(t->b[0]));
	t->width_ns *= 2;
	t->points = 0;
	for (k = 0; k < m->nsites; k++) {
		struct site *s = m->sites[k];

		/* Points are in bucket order; of two that now share a bucket the later wins. */
		for (j = 0, o = 0; j < s->ntl; j++) {
			struct tl_point p = s->tl[j];

			p.bucket /= 2;
			if (o && s->tl[o - 1].bucket == p.bucket) {
				p.max = MAX(p.max, s->tl[o - 1].max);
				o--;
			}
			s->tl[o++] = p;
		}
		s->ntl = o;
		t->points += o;
	}
}

/* The timeline's bucket for the event being fed, made room for. */
static inline __attribute__((always_inline)) struct tl_bucket *timeline_now(struct model *m,
									    uint32_t *idx)
{
	struct timeline *t = &m->timeline;
	uint64_t now = model_now(m), off = now > m->start_ns ? now - m->start_ns : 0;
	uint32_t i;

	/* Most events fall in the last bucket in use: no division for them. */
	if (t->n && off >= (uint64_t)(t->n - 1) * t->width_ns &&
	    off - (uint64_t)(t->n - 1) * t->width_ns < t->width_ns) {
		*idx = t->n - 1;
		return &t->b[*idx];
	}
	if (!t->width_ns)
		t->width_ns = TIMELINE_FIRST_NS;
	while (off / t->width_ns >= TIMELINE_BUCKETS)
		timeline_merge(m);
	*idx = (uint32_t)(off / t->width_ns);
	/* Buckets with no event carry the live heap over. */
	for (i = t->n; i < *idx + 1; i++) {
		if (i) {
			t->b[i].live_bytes = t->b[i - 1].live_bytes;
			t->b[i].live_allocs = t->b[i - 1].live_allocs;
			t->b[i].max_live_bytes = t->b[i - 1].live_bytes;
		}
	}
	t->n = MAX(t->n, *idx + 1);
	return &t->b[*idx];
}

static inline __attribute__((always_inline)) void timeline_note(struct model *m, struct site *s)
{
	uint32_t i;
	struct tl_bucket *b = timeline_now(m, &i);

	b->live_bytes = m->heap.cur_bytes;
	b->live_allocs = m->heap.cur_blocks;
	b->max_live_bytes = MAX(b->max_live_bytes, m->heap.cur_bytes);
	if (s->ntl && s->tl[s->ntl - 1].bucket == i) {
		s->tl[s->ntl - 1].end = s->heap.cur_bytes;
		s->tl[s->ntl - 1].max = MAX(s->tl[s->ntl - 1].max, s->heap.cur_bytes);
		return;
	}
	if (m->timeline.points >= m->timeline.max_points && m->timeline.n > 1) {
		timeline_merge(m);
		b = timeline_now(m, &i);
		if (s->ntl && s->tl[s->ntl - 1].bucket == i) {
			s->tl[s->ntl - 1].end = s->heap.cur_bytes;
			s->tl[s->ntl - 1].max = MAX(s->tl[s->ntl - 1].max, s->heap.cur_bytes);
			return;
		}
	}
	/* What the site held when the bucket began counts towards its highest. */
	m->timeline.points++;
	ARR_RESERVE(s->tl, s->tl_cap, s->ntl + 1);
	s->tl[s->ntl] = (struct tl_point){ i, s->heap.cur_bytes, s->heap.cur_bytes };
	if (s->ntl)
		s->tl[s->ntl].max = MAX(s->heap.cur_bytes, s->tl[s->ntl - 1].end);
	s->ntl++;
}

void model__timeline_close(struct model *m, uint64_t end_ns)
{
	uint64_t saved = m->now_ns;
	uint32_t i;

	/* The end of the session: the heap after the last event lasts until then. */
	m->now_ns = end_ns > m->start_ns ? end_ns - 1 : m->start_ns;
	timeline_now(m, &i);
	m->now_ns = saved;
}

void model__site_timeline(const struct model *m, const struct site *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t j = 0;
	uint32_t i;

	for (i = 0; i < m->timeline.n; i++) {
		if (j < s->ntl && s->tl[j].bucket == i) {
			out[i] = s->tl[j].max;
			v = s->tl[j++].end;
		} else {
			out[i] = v;
		}
	}
}

/*
 * The live heap changes at site s. The global maximum is settled only when
 * the heap first shrinks after it: every site then records its value before
 * its own next change, so no pass over all sites is needed (DHAT does one).
 */
static inline __attribute__((always_inline)) void heap_change(struct model *m, struct site *s,
							      int64_t dbytes, int64_t dblocks)
{
	uint64_t max = m->heap.max_bytes;

	if (dbytes < 0 && m->peak_pending) {
		m->peak_epoch++;
		m->peak_pending = false;
	}
	if (s->heap.peak_epoch != m->peak_epoch) {
		s->heap.peak_bytes = s->heap.cur_bytes;
		s->heap.peak_blocks = s->heap.cur_blocks;
		s->heap.peak_epoch = m->peak_epoch;
	}
	curve_add(&s->heap, dbytes, dblocks);
	curve_add(&m->heap, dbytes, dblocks);
	if (m->heap.max_bytes > max) {
		m->peak_pending = true;
		m->peak_ns = model_now(m);
	}
	timeline_note(m, s);
}

void model__heap_at_peak(const struct model *m, const struct site *s, uint64_t *bytes,
			 uint64_t *blocks)
{
	/* Pending: the heap has not shrunk since its maximum, which is now. */
	if (m->peak_pending || s->heap.peak_epoch != m->peak_epoch) {
		*bytes = s->heap.cur_bytes;
		*blocks = s->heap.cur_blocks;
	} else {
		*bytes = s->heap.peak_bytes;
		*blocks = s->heap.peak_blocks;
	}
}

/*
 * The function a stack is attributed to: its name looked up once per stack,
 * not hashed again at every event.
 */
static void function_first(struct model *m, uint32_t stack)
{
	const struct stack *st = stack_table__get(m->stacks, stack);
	uint32_t f = (uint32_t)(function_for(m, stack__function(st)) - m->funcs) + 1;

	ARR_RESERVE(m->func_of_stack, m->func_of_stack_cap, (size_t)stack + 1);
	m->func_of_stack[stack] = f;
}

static inline struct function *function_of(struct model *m, uint32_t stack)
{
	if (stack >= m->func_of_stack_cap || !m->func_of_stack[stack])
		function_first(m, stack);
	return &m->funcs[m->func_of_stack[stack] - 1];
}

/* Allocations the event stands for (see model.weight). */
static uint64_t weight(const struct model *m)
{
	return m->weight ? m->weight : 1;
}

static void feed_alloc(struct model *m, struct site *s, uint64_t size)
{
	struct function *f = function_of(m, s->stack);
	uint64_t n = weight(m);

	s->allocs += n;
	s->bytes += size * n;
	f->allocs += n;
	f->bytes_allocated += size * n;
	m->totals.allocs += n;
	m->totals.bytes_allocated += size * n;
	heap_change(m, s, (int64_t)(size * n), (int64_t)n);
	m->timeline.b[s->tl[s->ntl - 1].bucket].allocs += n;
	m->timeline.b[s->tl[s->ntl - 1].bucket].bytes += size * n;
}

static void feed_realloc(struct model *m, struct site *s, uint64_t old_size, uint64_t new_size)
{
	uint64_t n = weight(m);

	m->totals.reallocs += n;
	if (!s) {
		/* Born before tracking began: its later free is an unknown free too. */
		m->totals.unknown_reallocs++;
		return;
	}
	s->reallocs += n;
	heap_change(m, s, (int64_t)(new_size - old_size) * (int64_t)n, 0);
	/* Growth counts as allocated bytes of the birth site. */
	if (new_size > old_size) {
		uint64_t grow = (new_size - old_size) * n;
		struct function *f = function_of(m, s->stack);

		m->timeline.b[s->tl[s->ntl - 1].bucket].bytes += grow;
		s->bytes += grow;
		f->bytes_allocated += grow;
		m->totals.bytes_allocated += grow;
	}
}

static void feed_free(struct model *m, struct site *s, uint32_t drop_stack, uint64_t size,
		      uint64_t lifetime_ns, bool cross_thread, bool temporary)
{
	struct function *f = function_of(m, drop_stack);
	struct drop_site *d;
	bool fresh;
	uint64_t *slot, n = weight(m);

	f->frees += n;
	f->bytes_freed += size * n;
	m->totals.frees += n;
	m->totals.bytes_freed += size * n;
	if (!s) {
		m->totals.unknown_frees += n;
		return;
	}
	s->frees += n;
	s->bytes_freed += size * n;
	heap_change(m, s, -(int64_t)(size * n), -(int64_t)n);
	m->timeline.b[s->tl[s->ntl - 1].bucket].frees += n;
	hist_add_n(&s->lifetime, lifetime_ns, n);
	hist_add_n(&m->lifetime, lifetime_ns, n);
	/* A site's frees mostly come from one place: the last drop site is tried first. */
	if (!s->last_drop || s->drops[s->last_drop - 1].stack != drop_stack) {
		slot = u64map_slot(&s->drop_idx, drop_stack, &fresh);
		if (fresh) {
			ARR_RESERVE(s->drops, s->drops_cap, s->ndrops + 1);
			d = &s->drops[s->ndrops++];
			d->stack = drop_stack;
			d->outcome = classify_outcome(stack_table__get(m->stacks, s->stack),
						      stack_table__get(m->stacks, drop_stack));
			*slot = s->ndrops;
		}
		s->last_drop = *slot;
	}
	d = &s->drops[s->last_drop - 1];
	d->frees += n;
	d->bytes += size * n;
	s->outcomes[d->outcome] += n;
	m->totals.outcomes[d->outcome] += n;
	if (cross_thread) {
		s->cross_thread += n;
		m->totals.cross_thread += n;
	}
	if (temporary) {
		s->temporaries += n;
		m->totals.temporaries += n;
	}
}

static void add_grown(struct model *m, struct site *s, uint32_t reallocs, uint64_t final_size)
{
	s->grown += weight(m);
	s->grown_final_bytes += final_size * weight(m);
	s->grown_max_final = MAX(s->grown_max_final, final_size);
	s->grown_max_reallocs = MAX(s->grown_max_reallocs, reallocs);
}

static void feed_grown(struct model *m, struct site *s, uint32_t reallocs, uint64_t final_size)
{
	if (!reallocs)
		return;
	add_grown(m, s, reallocs, final_size);
	s->grown_freed.n = s->grown;
	s->grown_freed.final_bytes = s->grown_final_bytes;
	s->grown_freed.max_final = s->grown_max_final;
	s->grown_freed.max_reallocs = s->grown_max_reallocs;
}

void model__live_clear(struct model *m)
{
	size_t i;

	for (i = 0; i < m->nsites; i++) {
		struct site *s = m->sites[i];

		s->live = s->live_bytes = s->live_age_sum = 0;
		s->noldest = 0;
		s->grown = s->grown_freed.n;
		s->grown_final_bytes = s->grown_freed.final_bytes;
		s->grown_max_final = s->grown_freed.max_final;
		s->grown_max_reallocs = s->grown_freed.max_reallocs;
	}
	m->totals.live_allocs = m->totals.live_bytes = 0;
}

void model__on_live(struct model *m, struct site *s, uint64_t size, uint64_t age_ns,
		    uint64_t ptr, uint32_t reallocs)
{
	uint64_t n = weight(m);
	int i;

	if (reallocs)
		add_grown(m, s, reallocs, size);

	s->live += n;
	s->live_bytes += size * n;
	s->live_age_sum += age_ns * n;
	m->totals.live_allocs += n;
	m->totals.live_bytes += size * n;
	/* Keep the oldest few, sorted oldest first. */
	for (i = s->noldest; i > 0 && s->oldest[i - 1].age_ns < age_ns; i--)
		if (i < MODEL_LIVE_SAMPLES)
			s->oldest[i] = s->oldest[i - 1];
	if (i < MODEL_LIVE_SAMPLES) {
		s->oldest[i] = (struct live_sample){ age_ns, size, ptr };
		if (s->noldest < MODEL_LIVE_SAMPLES)
			s->noldest++;
	}
}

struct site *model__site_like(struct model *m, const struct site *s)
{
	struct site *w;
	bool fresh = !model__site_of_stack(m, s->stack);

	w = model__site(m, s->stack);
	/* New in a window: what the site holds is live in the window too. */
	if (fresh && w != s) {
		w->heap.cur_bytes = w->heap.max_bytes = w->heap.peak_bytes = s->heap.cur_bytes;
		w->heap.cur_blocks = w->heap.max_blocks = w->heap.peak_blocks = s->heap.cur_blocks;
		w->heap.peak_epoch = m->peak_epoch;
	}
	return w;
}

/*
 * The window's site for a site of m, found before m changes it (a new
 * window site starts from the site's live heap before the event).
 */
static struct site *window_site(struct model *m, struct site *s)
{
	if (!m->window)
		return NULL;
	m->window->now_ns = m->now_ns;
	m->window->weight = m->weight;
	return s ? model__site_like(m->window, s) : NULL;
}

void model__on_alloc(struct model *m, struct site *s, uint64_t size)
{
	struct site *ws = window_site(m, s);

	feed_alloc(m, s, size);
	if (m->window)
		feed_alloc(m->window, ws, size);
}

void model__on_realloc(struct model *m, struct site *s, uint64_t old_size, uint64_t new_size)
{
	struct site *ws = window_site(m, s);

	feed_realloc(m, s, old_size, new_size);
	if (m->window)
		feed_realloc(m->window, ws, old_size, new_size);
}

void model__on_free(struct model *m, struct site *s, uint32_t drop_stack, uint64_t size,
		    uint64_t lifetime_ns, bool cross_thread, bool temporary)
{
	struct site *ws = window_site(m, s);

	feed_free(m, s, drop_stack, size, lifetime_ns, cross_thread, temporary);
	if (m->window)
		feed_free(m->window, ws, drop_stack, size, lifetime_ns, cross_thread, temporary);
}

void model__on_grown(struct model *m, struct site *s, uint32_t reallocs, uint64_t final_size)
{
	struct site *ws = window_site(m, s);

	feed_grown(m, s, reallocs, final_size);
	if (m->window)
		feed_grown(m->window, ws, reallocs, final_size);
}

void model__set_target(struct model *m, pid_t pid, const char *comm, const char *exe)
{
	m->target.pid = pid;
	if (comm)
		snprintf(m->target.comm, sizeof(m->target.comm), "%s", comm);
	if (exe && exe != m->target.exe) {
		free(m->target.exe);
		m->target.exe = xstrdup(exe);
	}
}

void model__set_stack_walk(struct model *m, const char *method, unsigned int max_frames)
{
	m->stacks_info.method = method;
	if (max_frames)
		m->max_frames = max_frames;
}

void model__on_stack(struct model *m, uint32_t flags)
{
	for (; m; m = m->window) {
		m->stacks_info.taken++;
		m->stacks_info.dwarf += !!(flags & RP_F_DWARF);
		m->stacks_info.complete += !!(flags & RP_F_COMPLETE);
		m->stacks_info.truncated += !!(flags & RP_F_TRUNCATED);
		m->stacks_info.unmapped += !!(flags & RP_F_UNMAPPED);
	}
}

void model__on_internal_free(struct model *m)
{
	for (; m; m = m->window)
		m->totals.allocator_internal_frees++;
}

void model__on_closed_by_exec(struct model *m, uint64_t size)
{
	uint64_t n = weight(m);

	for (; m; m = m->window) {
		m->totals.closed_by_exec += n;
		m->totals.closed_by_exec_bytes += n * size;
	}
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The run's metadata, as m has it now. */
static void copy_run(struct model *w, const struct model *m)
{
	free(w->target.exe);
	free(w->mode.source_reason);
	free(w->tables_full);
	w->target = m->target;
	w->target.exe = dup_or_null(m->target.exe);
	w->mode = m->mode;
	w->mode.source_reason = dup_or_null(m->mode.source_reason);
	w->tables_full = dup_or_null(m->tables_full);
	w->max_frames = m->max_frames;
	w->stacks_info.method = m->stacks_info.method;
	w->unsymbolized_frames = m->unsymbolized_frames;
	w->exec_ns = m->exec_ns >= w->start_ns ? m->exec_ns : 0;
}

static struct model *window_new(struct model *m, uint64_t now_ns)
{
	struct model *w = xcalloc(1, sizeof(*w));

	w->sym = m->sym;
	w->stacks = m->stacks;
	w->shares_stacks = true;
	w->max_frames = m->max_frames;
	w->timeline.max_points = m->timeline.max_points;
	u64map_init(&w->func_idx);
	w->start_ns = now_ns;
	/* The live heap goes on; the window's maximum starts from what is live now. */
	w->heap.cur_bytes = w->heap.max_bytes = m->heap.cur_bytes;
	w->heap.cur_blocks = w->heap.max_blocks = m->heap.cur_blocks;
	w->peak_ns = now_ns;
	copy_run(w, m);
	return w;
}

void model__window_begin(struct model *m, uint64_t now_ns)
{
	if (!m->window)
		m->window = window_new(m, now_ns);
}

struct model *model__rotate(struct model *m, uint64_t now_ns)
{
	struct model *w = m->window;

	if (!w)
		return NULL;
	w->end_ns = now_ns;
	model__timeline_close(w, now_ns);
	copy_run(w, m);
	m->window = window_new(m, now_ns);
	return w;
}

struct sort_key {
	enum site_order order;
	const struct model *m;
};

static uint64_t peak_bytes_of(const struct model *m, const struct site *s)
{
	uint64_t b, n;

	model__heap_at_peak(m, s, &b, &n);
	return b;
}

static int cmp_site(const void *a, const void *b, void *arg)
{
	const struct site *x = *(const struct site **)a, *y = *(const struct site **)b;
	const struct sort_key *k = arg;
	uint64_t kx, ky;

	switch (k->order) {
	case ORDER_ALLOCS:
		kx = x->allocs, ky = y->allocs;
		break;
	case ORDER_LIVE_BYTES:
		kx = x->live_bytes, ky = y->live_bytes;
		break;
	case ORDER_PEAK_BYTES:
		kx = peak_bytes_of(k->m, x), ky = peak_bytes_of(k->m, y);
		break;
	case ORDER_MAX_LIVE:
		kx = x->heap.max_bytes, ky = y->heap.max_bytes;
		break;
	case ORDER_REALLOCS:
		kx = x->reallocs, ky = y->reallocs;
		break;
	default:
		kx = x->bytes, ky = y->bytes;
	}
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return x->id < y->id ? -1 : 1;
}

struct site **model__sorted_sites(const struct model *m, enum site_order order)
{
	struct site **v = xmalloc((m->nsites + 1) * sizeof(*v));
	struct sort_key key = { order, m };

	if (m->nsites)
		memcpy(v, m->sites, m->nsites * sizeof(*v));
	qsort_r(v, m->nsites, sizeof(*v), cmp_site, &key);
	return v;
}

static int cmp_func(const void *a, const void *b)
{
	const struct function *x = *(const struct function **)a, *y = *(const struct function **)b;
	uint64_t kx = x->bytes_allocated + x->bytes_freed, ky = y->bytes_allocated + y->bytes_freed;

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->allocs + x->frees != y->allocs + y->frees)
		return x->allocs + x->frees > y->allocs + y->frees ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct function **model__sorted_functions(const struct model *m)
{
	struct function **v = xmalloc((m->nfuncs + 1) * sizeof(*v));
	size_t i;

	for (i = 0; i < m->nfuncs; i++)
		v[i] = &m->funcs[i];
	qsort(v, m->nfuncs, sizeof(*v), cmp_func);
	return v;
}

const struct drop_site *site__main_drop(const struct site *s)
{
	const struct drop_site *best = NULL;
	size_t i;

	for (i = 0; i < s->ndrops; i++)
		if (!best || s->drops[i].frees > best->frees)
			best = &s->drops[i];
	return best;
}

/* Heap-owning types, most specific first: a HashMap's table is a raw alloc. */
static const struct {
	const char *needle, *type;
} heap_types[] = {
	{ "hashbrown::", "HashMap" },
	{ "collections::hash::map", "HashMap" },
	{ "collections::hash::set", "HashSet" },
	{ "btree::", "BTreeMap" },
	{ "vec_deque::", "VecDeque" },
	{ "binary_heap::", "BinaryHeap" },
	{ "alloc::string::String", "String" },
	{ "ToString", "String" },
	{ "alloc::str::", "String" },
	{ "format", "String" },
	{ "alloc::ffi::c_str", "CString" },
	{ "alloc::sync::Arc", "Arc" },
	{ "alloc::rc::Rc", "Rc" },
	{ "alloc::boxed::Box", "Box" },
	{ "alloc::vec::Vec", "Vec" },
	{ "alloc::slice::", "Vec" },
	{ "alloc::raw_vec::", "Vec" },
};

const char *model__heap_type(const struct model *m, const struct site *s)
{
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	int i;
	size_t k;

	/* From the API the user called inwards: the outermost library frame wins. */
	for (i = st->attr - 1; i >= 0; i--) {
		const char *fn = st->fr[i]->function;

		if (!st->fr[i]->library)
			break;
		for (k = 0; k < ARRAY_SIZE(heap_types); k++)
			if (strstr(fn, heap_types[k].needle))
				return heap_types[k].type;
	}
	return "other";
}
