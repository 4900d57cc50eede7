// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Interning of call stacks and their attribution to a function. */
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "rsprobe.h"
#include "stacks.h"
#include "util.h"

/* Raw stacks tried before hashing, by innermost frame and depth (a power of two). */
#define STACK_RECENT 64

/* Frames kept per stack once inlined calls are expanded. */
#define STACK_MAX_EXPANDED (4 * RP_MAX_FRAMES)

struct stack_table {
	struct symbolizer *sym;
	struct stack *stacks;
	size_t nstacks, cap;
	struct intern_table canon; /* canonical pcs -> id - 1 (id 0, the empty stack, is not in it) */
	struct intern_table raw;   /* raw pcs as events carry them -> raw index */
	uint32_t *raw_canon;	   /* raw index -> canonical id */
	size_t raw_canon_cap;
	/*
	 * The raw stack met last for each innermost frame and depth (index + 1,
	 * 0: none), tried before the hash: a loop allocates and frees from the
	 * same few stacks in turn.
	 */
	uint32_t recent[STACK_RECENT];
};

struct stack_table *stack_table__new(struct symbolizer *sym)
{
	struct stack_table *t = xcalloc(1, sizeof(*t));

	t->sym = sym;
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
	free(t->stacks);
	intern_free(&t->canon);
	intern_free(&t->raw);
	free(t->raw_canon);
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

static uint32_t intern_canon(struct stack_table *t, const uint64_t *pcs, uint32_t n,
			     bool truncated)
{
	uint64_t h = intern_hash(pcs, n, truncated);
	struct stack *s;
	int64_t id;

	if (!n)
		return 0;
	id = intern_find(&t->canon, h, pcs, n, truncated);
	if (id >= 0)
		return (uint32_t)id + 1;
	ARR_RESERVE(t->stacks, t->cap, t->nstacks + 1);
	s = &t->stacks[t->nstacks];
	s->npcs = n;
	s->truncated = truncated;
	s->pcs = xmalloc(n * sizeof(*pcs));
	memcpy(s->pcs, pcs, n * sizeof(*pcs));
	expand(t, s);
	stack__attribute(s);
	intern_add(&t->canon, h, pcs, n, truncated);
	return (uint32_t)t->nstacks++;
}

/*
 * At every event: the raw stack is found by its hash and its words, with
 * no allocation; only a stack never seen is cut, symbolized and kept.
 */
uint32_t stack_table__intern(struct stack_table *t, const uint64_t *pcs, uint32_t n,
			     bool truncated)
{
	uint64_t h;
	int64_t r;
	uint32_t i, keep = 0, idx, *slot;

	if (!n)
		return 0;
	slot = &t->recent[((pcs[0] * 0x9e3779b97f4a7c15ULL) >> 58 ^ n) % STACK_RECENT];
	if (*slot) {
		const struct intern_seq *q = &t->raw.seqs[*slot - 1];

		if (q->n == n && q->flag == truncated &&
		    !memcmp(t->raw.words + q->off, pcs, (size_t)n * sizeof(*pcs)))
			return t->raw_canon[*slot - 1];
	}
	h = intern_hash(pcs, n, truncated);
	r = intern_find(&t->raw, h, pcs, n, truncated);
	if (r >= 0) {
		*slot = (uint32_t)r + 1;
		return t->raw_canon[r];
	}
	/* New raw stack: cut at the first frame that is not in a mapped file. */
	for (i = 0; i < n; i++) {
		if (!symbolizer__frame(t->sym, pcs[i])->module)
			break;
		keep = i + 1;
	}
	idx = intern_add(&t->raw, h, pcs, n, truncated);
	ARR_RESERVE(t->raw_canon, t->raw_canon_cap, (size_t)idx + 1);
	t->raw_canon[idx] = intern_canon(t, pcs, keep, truncated && keep == n);
	*slot = idx + 1;
	return t->raw_canon[idx];
}

const struct stack *stack_table__get(const struct stack_table *t, uint32_t id)
{
	return &t->stacks[id];
}

uint32_t stack_table__count(const struct stack_table *t)
{
	return (uint32_t)t->nstacks;
}
