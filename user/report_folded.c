// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Folded stacks ("root;...;leaf value", one line per path) for flamegraph.pl,
 * inferno and speedscope. Values follow --weight.
 */
#include <errno.h>
#include <stdlib.h>

#include "flame.h"
#include "report.h"

/* ';' separates frames: Rust array types ("[u8; 16]") must not split one. */
static void put_frame(FILE *f, const char *name)
{
	for (; *name; name++)
		fputc(*name == ';' ? ',' : *name == '\n' ? ' ' : *name, f);
}

static void walk(FILE *f, const struct flame *fl, uint32_t id, uint32_t *path)
{
	const struct flame_node *n = &fl->nodes[id];
	uint32_t i;

	path[n->depth] = id;
	if (n->self && n->depth) {
		for (i = 1; i <= n->depth; i++) {
			if (i > 1)
				fputc(';', f);
			put_frame(f, fl->nodes[path[i]].name);
		}
		fprintf(f, " %llu\n", (unsigned long long)n->self);
	}
	for (i = 0; i < n->nkids; i++)
		walk(f, fl, n->kids[i], path);
}

int report_folded(FILE *f, const struct model *m, const struct report_opts *o)
{
	struct flame *fl = flame__new(m, o->weight);
	uint32_t *path = calloc(fl->max_depth + 1, sizeof(*path));

	if (!path) {
		flame__free(fl);
		return -ENOMEM;
	}
	/* Readers skip a line without a count (flamegraph.pl, inferno say so). */
	if (report_estimated(m)) {
		char *mode = report_mode(m);

		fprintf(f, "# rsprobe: %s\n", mode);
		free(mode);
	}
	walk(f, fl, 0, path);
	free(path);
	flame__free(fl);
	return ferror(f) ? -EIO : 0;
}
