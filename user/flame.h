/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_FLAME_H
#define RP_FLAME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "escape.h"
#include "report.h"

/*
 * The call tree of birth stacks, root first, that flame graphs draw: frames
 * merge by function name along a path, as flamegraph.pl merges folded lines.
 * Node 0 is the root ("all"); children are sorted by name.
 */
/*
 * Where a frame's code comes from, for colours and legends: the target's own
 * Rust code (USER), Rust's standard library and the allocator shims
 * (LIBRARY), other native code (C/C++ libraries, the host of a Rust cdylib),
 * libc and the C runtime, or no symbol at all.
 */
enum frame_kind { FRAME_USER, FRAME_LIBRARY, FRAME_UNKNOWN, FRAME_ROOT, FRAME_NATIVE, FRAME_LIBC };

struct symbolizer;
struct frame_info;
enum frame_kind frame_kind_of(struct symbolizer *sym, const struct frame_info *fr);
/* "user", "library", "native", "libc", "unknown", "root". */
const char *frame_kind_name(enum frame_kind k);

struct flame_node {
	const char *name;	/* owned by the model's symbolizer */
	enum frame_kind kind;
	uint32_t depth;		/* root 0 */
	uint64_t value;		/* this frame and everything it called */
	uint64_t self;		/* sites ending here */
	uint64_t start;		/* offset from the left, in weight units */
	uint32_t *kids;
	uint32_t nkids;
	size_t kids_cap;
};

struct flame {
	struct flame_node *nodes;
	size_t n, cap;
	uint32_t max_depth;
	enum weight weight;
};

struct flame *flame__new(const struct model *m, enum weight w);
void flame__free(struct flame *f);
static inline const struct flame_node *flame__root(const struct flame *f)
{
	return &f->nodes[0];
}

/*
 * The interactive flame graph as an <svg> element: standalone adds the XML
 * prolog (a .svg file); without it the element is fit for inlining in HTML.
 * xml_escape() (escape.h) escapes names in it.
 */
int flame__svg(FILE *f, const struct model *m, const struct report_opts *o, bool standalone);

#endif
