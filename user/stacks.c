// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Interning of call stacks and their attribution to a function. */
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "rsprobe.h"
#include "stacks.h"
#include "util.h"

/* Frames kept per stack once inlined calls are expanded. */
#define STACK_MAX_EXPANDED (4 * RP_MAX_FRAMES)

struct raw_stack {
	uint32_t n;
	uint32_t canon;
	uint64_t *pcs;
};

struct stack_table {
	struct symbolizer *sym;
	struct stack *stacks;
	size_t nstacks, cap;
	struct u64map by_hash;		/* hash of canonical pcs -> id */
	struct raw_stack *raw;
	size_t nraw, raw_cap;
	struct u64map raw_by_hash;	/* hash of raw pcs -> raw index + 1 */
};

struct stack_table *stack_table__new(struct symbolizer *sym)
{
	struct stack_table *t = xcalloc(1, sizeof(*t));

	t->sym = sym;
	u64map_init(&t->by_hash);
	u64map_init(&t->raw_by_hash);
	/* id 0: the empty stack */
	ARR_RESERVE(t->stacks, t->cap, 1);
	t->stacks[0].attr = -1;
	t->stacks[0].via = -1;
	t->nstacks = 1;
	return t;
}

void stack_table__free(struct stack_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nstacks; i++) {
		free(t->stacks[i].pcs);
		free(t->stacks[i].fr);
	}
	for (i = 0; i < t->nraw; i++)
		free(t->raw[i].pcs);
	free(t->stacks);
	free(t->raw);
	u64map_free(&t->by_hash);
	u64map_free(&t->raw_by_hash);
	free(t);
}

void stack__attribute(struct stack *s)
{
	int i, n = (int)s->n;

	s->attr = -1;
	s->via = -1;
	for (i = 0; i < n; i++) {
		if (!s->fr[i]->library) {
			s->attr = i;
			break;
		}
	}
	if (s->attr < 0) {
		/* All library frames (runtime start-up): the outermost Rust frame. */
		for (i = n - 1; i >= 0; i--) {
			if (s->fr[i]->rust) {
				s->attr = i;
				break;
			}
		}
		if (s->attr < 0 && n)
			s->attr = 0;
	}
	if (s->attr > 0 && s->fr[s->attr - 1]->library)
		s->via = s->attr - 1;
}

/* glibc's own cleanup paths that free what the allocator holds (malloc/arena.c, malloc.c). */
static const char *const allocator_cleanup[] = {
	"tcache_thread_shutdown", "__libc_thread_freeres", "__libc_freeres",
	"arena_thread_freeres", "__malloc_arena_thread_freeres",
};

bool stack__allocator_internal(const struct stack *s)
{
	bool all_libc = s->n > 0 && !s->truncated;
	uint32_t i;
	size_t k;

	for (i = 0; i < s->n; i++) {
		const struct frame_info *f = s->fr[i];

		if (f->named)
			for (k = 0; k < ARRAY_SIZE(allocator_cleanup); k++)
				if (!strcmp(f->function, allocator_cleanup[k]))
					return true;
		if (!is_libc_module(f->module))
			all_libc = false;
	}
	return all_libc;
}

const char *stack__function(const struct stack *s)
{
	return s->attr >= 0 ? s->fr[s->attr]->function : "[unknown]";
}

const char *stack__via(const struct stack *s)
{
	return s->via >= 0 ? s->fr[s->via]->function : NULL;
}

/* One frame per address, plus one per inlined call where DWARF says so. */
static void expand(struct stack_table *t, struct stack *s)
{
	const struct frame_info *buf[STACK_MAX_EXPANDED];
	uint32_t i, n = 0;

	for (i = 0; i < s->npcs && n < STACK_MAX_EXPANDED; i++)
		n += symbolizer__expand(t->sym, s->pcs[i], buf + n, STACK_MAX_EXPANDED - n);
	s->n = n;
	s->fr = xmalloc((n + 1) * sizeof(*s->fr));
	memcpy(s->fr, buf, n * sizeof(*buf));
}

/*
 * The hash of a stack, met at every event: one multiply a frame, mixed at
 * the end (the words are code addresses, already far apart).
 */
static uint64_t hash_pcs(const uint64_t *pcs, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	uint32_t i;

	for (i = 0; i < n; i++) {
		h = (h ^ pcs[i]) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return hash_u64(h);
}

static uint32_t intern_canon(struct stack_table *t, const uint64_t *pcs, uint32_t n,
			     bool truncated)
{
	uint64_t h = hash_pcs(pcs, n) ^ truncated, v;
	struct stack *s;

	if (!n)
		return 0;
	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&t->by_hash, h, &v))
			break;
		s = &t->stacks[v];
		if (s->npcs == n && s->truncated == truncated &&
		    !memcmp(s->pcs, pcs, n * sizeof(*pcs)))
			return (uint32_t)v;
	}
	ARR_RESERVE(t->stacks, t->cap, t->nstacks + 1);
	s = &t->stacks[t->nstacks];
	s->npcs = n;
	s->truncated = truncated;
	s->pcs = xmalloc(n * sizeof(*pcs));
	memcpy(s->pcs, pcs, n * sizeof(*pcs));
	expand(t, s);
	stack__attribute(s);
	u64map_put(&t->by_hash, h, t->nstacks);
	return (uint32_t)t->nstacks++;
}

uint32_t stack_table__intern(struct stack_table *t, const uint64_t *pcs, uint32_t n,
			     bool truncated)
{
	uint64_t h = hash_pcs(pcs, n) ^ truncated, v;
	struct raw_stack *r;
	uint32_t i, keep = 0;

	if (!n)
		return 0;
	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&t->raw_by_hash, h, &v))
			break;
		r = &t->raw[v];
		if (r->n == n && !memcmp(r->pcs, pcs, n * sizeof(*pcs)))
			return r->canon;
	}
	/* New raw stack: cut at the first frame that is not in a mapped file. */
	for (i = 0; i < n; i++) {
		if (!symbolizer__frame(t->sym, pcs[i])->module)
			break;
		keep = i + 1;
	}
	ARR_RESERVE(t->raw, t->raw_cap, t->nraw + 1);
	r = &t->raw[t->nraw];
	r->n = n;
	r->pcs = xmalloc(n * sizeof(*pcs));
	memcpy(r->pcs, pcs, n * sizeof(*pcs));
	r->canon = intern_canon(t, pcs, keep, truncated && keep == n);
	u64map_put(&t->raw_by_hash, h, t->nraw++);
	return r->canon;
}

const struct stack *stack_table__get(const struct stack_table *t, uint32_t id)
{
	return &t->stacks[id];
}

uint32_t stack_table__count(const struct stack_table *t)
{
	return (uint32_t)t->nstacks;
}
