// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The call tree of birth stacks that the flame graph renderers share. */
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "symbolize.h"
#include "util.h"

static uint32_t node_new(struct flame *f, const char *name, enum frame_kind kind, uint32_t depth)
{
	struct flame_node *n;

	ARR_RESERVE(f->nodes, f->cap, f->n + 1);
	n = &f->nodes[f->n];
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->kind = kind;
	n->depth = depth;
	f->max_depth = MAX(f->max_depth, depth);
	return (uint32_t)f->n++;
}

/* libc, the dynamic loader and the C runtime's entry points that frame every program. */
static bool is_c_runtime(const struct frame_info *fr)
{
	static const char *const mods[] = { "libc.so", "libc-", "ld-linux", "libpthread", "libm.so",
					    "libgcc_s", "libdl", "librt", "ld64.so" };
	static const char *const fns[] = { "main", "_start", "__libc_start_main",
					   "__libc_start_call_main", "start_thread", "clone",
					   "clone3", "__clone", "__clone3" };
	const char *base = fr->module ? strrchr(fr->module, '/') : NULL;
	size_t i;

	base = base ? base + 1 : fr->module;
	for (i = 0; base && i < ARRAY_SIZE(mods); i++)
		if (!strncmp(base, mods[i], strlen(mods[i])))
			return true;
	for (i = 0; fr->named && i < ARRAY_SIZE(fns); i++)
		if (!strcmp(fr->function, fns[i]))
			return true;
	return false;
}

enum frame_kind frame_kind_of(struct symbolizer *sym, const struct frame_info *fr)
{
	if (is_c_runtime(fr))
		return FRAME_LIBC;
	if (!fr->named)
		return FRAME_UNKNOWN;
	/* Code of an object with no Rust in it: a C/C++ library or a C host. */
	if (!symbolizer__object_is_rust(sym, fr->module))
		return FRAME_NATIVE;
	return fr->library ? FRAME_LIBRARY : FRAME_USER;
}

const char *frame_kind_name(enum frame_kind k)
{
	switch (k) {
	case FRAME_USER:
		return "user";
	case FRAME_LIBRARY:
		return "library";
	case FRAME_NATIVE:
		return "native";
	case FRAME_LIBC:
		return "libc";
	case FRAME_UNKNOWN:
		return "unknown";
	default:
		return "root";
	}
}

static uint32_t child(struct flame *f, uint32_t parent, const char *name, enum frame_kind kind)
{
	struct flame_node *p = &f->nodes[parent];
	uint32_t i, id;

	for (i = 0; i < p->nkids; i++)
		if (!strcmp(f->nodes[p->kids[i]].name, name))
			return p->kids[i];
	id = node_new(f, name, kind, p->depth + 1);
	p = &f->nodes[parent];	/* node_new may have moved the array */
	ARR_RESERVE(p->kids, p->kids_cap, p->nkids + 1);
	p->kids[p->nkids++] = id;
	return id;
}

static void add_stack(struct flame *f, struct symbolizer *sym, const struct stack *st,
		      uint64_t v)
{
	uint32_t cur = 0;
	int i;

	f->nodes[0].value += v;
	if (!st->n) {
		cur = child(f, 0, "[unknown]", FRAME_UNKNOWN);
		f->nodes[cur].value += v;
	}
	/* Cut at the frame limit: the root is lost, so do not pose the outermost frame kept as one. */
	if (st->truncated) {
		cur = child(f, 0, "[truncated]", FRAME_UNKNOWN);
		f->nodes[cur].value += v;
	}
	for (i = (int)st->n - 1; i >= 0; i--) {
		cur = child(f, cur, st->fr[i]->function, frame_kind_of(sym, st->fr[i]));
		f->nodes[cur].value += v;
	}
	f->nodes[cur].self += v;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
	const struct flame_node *nodes = ctx;

	return strcmp(nodes[*(const uint32_t *)a].name, nodes[*(const uint32_t *)b].name);
}

/* Sort children by name and lay them out left to right. */
static void layout(struct flame *f, uint32_t id)
{
	struct flame_node *n = &f->nodes[id];
	uint64_t x = n->start;
	uint32_t i;

	if (n->nkids > 1)
		qsort_r(n->kids, n->nkids, sizeof(*n->kids), cmp_name, f->nodes);
	for (i = 0; i < n->nkids; i++) {
		struct flame_node *k = &f->nodes[n->kids[i]];

		k->start = x;
		x += k->value;
		layout(f, n->kids[i]);
	}
}

struct flame *flame__new(const struct model *m, enum weight w)
{
	struct flame *f = xcalloc(1, sizeof(*f));
	size_t i;

	f->weight = w;
	node_new(f, "all", FRAME_ROOT, 0);
	for (i = 0; i < m->nsites; i++) {
		uint64_t v = site_weight(m->sites[i], w);

		if (v)
			add_stack(f, m->sym, stack_table__get(m->stacks, m->sites[i]->stack), v);
	}
	layout(f, 0);
	return f;
}

void flame__free(struct flame *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++)
		free(f->nodes[i].kids);
	free(f->nodes);
	free(f);
}
