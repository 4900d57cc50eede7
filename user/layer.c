// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The allocation layer to probe, chosen from the facts elfobj.c found in
 * the target's objects (see layer.h). Nothing here opens a file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "util.h"

static void add_reason(struct layer_choice *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_reason(struct layer_choice *c, const char *fmt, ...)
{
	char *prev = c->reason, *add;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0)
		add = NULL;
	va_end(ap);
	c->reason = xasprintf("%s%s%s", prev ? prev : "", prev ? "; " : "", add ? add : "");
	free(prev);
	free(add);
}

static int fail(struct layer_choice *c, int err, char *msg)
{
	c->error = msg;
	return err;
}

static void choose(struct layer_choice *c, size_t i)
{
	c->chosen = xrealloc(c->chosen, (c->nchosen + 1) * sizeof(*c->chosen));
	c->chosen[c->nchosen++] = i;
}

static const char *describe_shims(const struct elf_object *o)
{
	return o->shim_v0 ? "v0-mangled symbols" : "legacy symbols";
}

/* The first shim of o that no uprobe can be placed on, or -1. */
static int unprobeable_shim(const struct elf_object *o)
{
	int k;

	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_unprobeable[k])
			return k;
	return -1;
}

char *layer__unprobeable(const struct elf_object *o)
{
	int k = unprobeable_shim(o);

	if (k < 0)
		return NULL;
	return xasprintf("cannot probe %s in %s: %s (a #[global_allocator] inlined into the "
			 "shim); try --libc", shim_name(k), o->path, o->shim_why[k]);
}

char *layer__probe_points(const struct elf_object *o)
{
	struct layer_choice c = {};
	int k;

	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_off[k] && o->shim_probe_off[k] != o->shim_off[k])
			add_reason(&c, "%s probed %llu bytes in, past a LOCK-prefixed preamble "
				   "that leaves its arguments alone", shim_name(k),
				   (unsigned long long)(o->shim_probe_off[k] - o->shim_off[k]));
	return c.reason;
}

/* The Rust shims in every object that has them. */
static int choose_rust(struct elf_object *const *objs, size_t n, struct layer_choice *c)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct elf_object *o = objs[i];
		char *why, *points;

		if (!elf_object__nshims(o))
			continue;
		why = layer__unprobeable(o);
		if (why)
			return fail(c, -ENOTSUP, why);
		choose(c, i);
		add_reason(c, "Rust allocator shims in %s (%d of 4, %s)", o->path,
			   elf_object__nshims(o), describe_shims(o));
		points = layer__probe_points(o);
		if (points)
			add_reason(c, "%s", points);
		free(points);
	}
	c->layer = LAYER_RUST;
	c->source = "rust";
	return 0;
}

/* A shim in use that no probe can be placed on: why, for the layer below. */
static char *unprobeable_reason(struct elf_object *const *objs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct elf_object *o = objs[i];
		int k = unprobeable_shim(o);

		if (elf_object__nshims(o) && k >= 0)
			return xasprintf("%s in %s cannot be probed: %s", shim_name(k), o->path,
					 o->shim_why[k]);
	}
	return NULL;
}

static const struct lower_layer {
	const char *name;
	bool (*has)(const struct elf_object *o);
	const char *what;
} lower_layers[] = {
	[LAYER_LIBC] = { "libc", elf_object__has_libc_alloc, "C allocator" },
	[LAYER_JEMALLOC] = { "jemalloc", elf_object__has_jemalloc, "jemalloc" },
	[LAYER_MIMALLOC] = { "mimalloc", elf_object__has_mimalloc, "mimalloc" },
};

bool layer__defines(enum layer l, const struct elf_object *o)
{
	return l != LAYER_RUST && lower_layers[l].has(o);
}

/* A layer below the shims, in every object that implements it. */
static int choose_lower(struct elf_object *const *objs, size_t n, enum layer layer,
			const char *why, const struct layer_target *t, struct layer_choice *c)
{
	const struct lower_layer *l = &lower_layers[layer];
	size_t i;
	int k, nfn;

	for (i = 0; i < n; i++) {
		const struct elf_object *o = objs[i];

		if (!l->has(o))
			continue;
		for (k = 0, nfn = 0; k < LIBC_MAX; k++)
			nfn += !!o->libc_off[k];
		choose(c, i);
		add_reason(c, "%s in %s (%d allocator functions)", l->what, o->path, nfn);
	}
	if (!c->nchosen)
		return fail(c, -ENOENT, xasprintf("no %s functions found in %s or its libraries",
						  l->what, t->exe));
	c->layer = layer;
	c->source = l->name;
	add_reason(c, "%s", why);
	return 0;
}

static bool any(struct elf_object *const *objs, size_t n,
		bool (*pred)(const struct elf_object *o))
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pred(objs[i]))
			return true;
	return false;
}

/* Calls jemalloc: imports it, or is Rust code that has it linked in. */
static bool imports_jemalloc(const struct elf_object *o)
{
	return o->imports_jemalloc || (o->libc_off[JE_MALLOCX] && o->rust);
}

static bool imports_mimalloc(const struct elf_object *o)
{
	return o->imports_mimalloc || (o->libc_off[MI_MALLOC] && o->rust);
}

static bool is_rust(const struct elf_object *o)
{
	return o->rust || elf_object__nshims(o) > 0;
}

/* With the shims out of the way, the allocator the program's code calls. */
static enum layer backend_layer(struct elf_object *const *objs, size_t n)
{
	if (any(objs, n, imports_jemalloc) && any(objs, n, elf_object__has_jemalloc))
		return LAYER_JEMALLOC;
	if (any(objs, n, imports_mimalloc) && any(objs, n, elf_object__has_mimalloc))
		return LAYER_MIMALLOC;
	return LAYER_LIBC;
}

/* Why the shims do not carry the allocations: what the objects show. */
static char *bypass_reason(struct elf_object *const *objs, size_t n, const char *exe)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct elf_object *o = objs[i];
		struct elf_sym *b;

		if (!elf_object__nshims(o))
			continue;
		if (!o->shim_off[SHIM_DEALLOC] || !o->shim_off[SHIM_ALLOC])
			return xasprintf("the Rust allocator shims of %s are partly gone (%s removed "
					 "by LTO)", o->path, o->shim_off[SHIM_ALLOC] ?
					 shim_name(SHIM_DEALLOC) : shim_name(SHIM_ALLOC));
		if (o->backend_refs) {
			const char *bn;

			b = elf_object__lookup(o, o->backend_vaddr);
			bn = b ? elf_sym__name(b) : "their backend";
			return xasprintf("the code of %s calls the allocator behind the Rust "
					 "allocator shims (%s) directly, %u times: %s", o->path, bn,
					 o->backend_refs,
					 strstr(bn, " as core::alloc::global::GlobalAlloc>::") ?
					 "LTO inlined the shims into their callers, or the "
					 "#[global_allocator] is defined in the program's own crate" :
					 "LTO inlined the shims into their callers");
		}
		return xasprintf("nothing in %s calls %s: the allocator is inlined into its "
				 "callers (LTO)", o->path, o->shim_refs[SHIM_DEALLOC] ?
				 shim_name(SHIM_ALLOC) : shim_name(SHIM_DEALLOC));
	}
	for (i = 0; i < n; i++)
		if (objs[i]->rust_stripped)
			return xasprintf("no Rust allocator shims in %s: a stripped Rust program "
					 "(no symbols; known as Rust by the std paths in its data)",
					 objs[i]->path);
	return xasprintf("%s %s", any(objs, n, is_rust) ?
			 "the Rust allocator shims are inlined away (LTO) in" :
			 "no Rust allocator shims (stripped, or not Rust) in", exe);
}

static bool ga_carries(const struct elf_object *o)
{
	return o->backend_refs && elf_object__ga_usable(o);
}

/*
 * The program's code calls its #[global_allocator]'s methods directly and
 * the shims only jump to them: every Rust allocation passes the methods.
 */
static int choose_ga(struct elf_object *const *objs, size_t n, struct layer_choice *c)
{
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		struct elf_object *o = objs[i];
		struct elf_sym *m;

		if (!ga_carries(o))
			continue;
		choose(c, i);
		m = elf_object__lookup(o, o->ga_vaddr[SHIM_ALLOC]);
		add_reason(c, "the #[global_allocator]'s methods in %s (%s and %d more): "
			   "the program's code calls them directly, %u times (LTO, or the "
			   "allocator is defined in the program's own crate), and the Rust "
			   "allocator shims only jump to them, so every Rust allocation passes "
			   "them", o->path, m ? elf_sym__name(m) : "alloc",
			   elf_object__nshims(o) - 1, o->backend_refs);
		for (k = 0; k < SHIM_MAX; k++) {
			uint64_t start = 0;

			m = o->ga_ok[k] ? elf_object__lookup(o, o->ga_vaddr[k]) : NULL;
			if (m && elf_object__vaddr_to_off(o, m->addr, &start) &&
			    start != o->ga_probe_off[k])
				add_reason(c, "%s probed %llu bytes in, past a LOCK-prefixed "
					   "preamble that leaves its arguments alone",
					   elf_sym__name(m),
					   (unsigned long long)(o->ga_probe_off[k] - start));
		}
	}
	c->use_ga = true;
	c->layer = LAYER_RUST;
	c->source = "rust";
	return 0;
}

/* auto: a process with no Rust code anywhere is not ours to guess about. */
static int refuse_not_rust(const struct layer_target *t, struct layer_choice *c)
{
	if (t->launched)
		return fail(c, -ENOENT, xasprintf("%s is not a Rust program: no Rust code in it "
						  "or in any library it loads; profile its C "
						  "allocator with --libc", t->exe));
	return fail(c, -ENOENT, xasprintf("process %d (%s, %s) is not a Rust program: no Rust "
					  "code in any object it maps; profile its C allocator "
					  "with --libc", t->pid, t->comm, t->exe));
}

int layer__choose(struct elf_object *const *objs, size_t n, enum source_mode src,
		  const struct layer_target *t, struct layer_choice *c)
{
	enum layer below;
	char *why, *unprobeable;
	int err;

	memset(c, 0, sizeof(*c));
	switch (src) {
	case SOURCE_RUST:
		if (!any(objs, n, is_rust))
			return fail(c, -ENOENT,
				    xasprintf("no Rust allocator symbols (__rust_alloc, "
					      "__rust_dealloc, ...) in %s: stripped, or not a "
					      "Rust program; try --libc", t->exe));
		if (!any(objs, n, elf_object__shims_in_use) && any(objs, n, ga_carries))
			return choose_ga(objs, n, c);
		if (!any(objs, n, elf_object__shims_in_use)) {
			why = bypass_reason(objs, n, t->exe);
			err = fail(c, -ENOENT, xasprintf("the Rust allocator shims are bypassed "
							 "(never called by part of the code): "
							 "%s; try --source auto", why));
			free(why);
			return err;
		}
		return choose_rust(objs, n, c);
	case SOURCE_LIBC:
		return choose_lower(objs, n, LAYER_LIBC, "requested with --source libc", t, c);
	case SOURCE_JEMALLOC:
		return choose_lower(objs, n, LAYER_JEMALLOC, "requested with --source jemalloc", t,
				    c);
	case SOURCE_MIMALLOC:
		return choose_lower(objs, n, LAYER_MIMALLOC, "requested with --source mimalloc", t,
				    c);
	default:
		if (!any(objs, n, is_rust))
			return refuse_not_rust(t, c);
		unprobeable = any(objs, n, elf_object__shims_in_use) ?
			      unprobeable_reason(objs, n) : NULL;
		if (any(objs, n, elf_object__shims_in_use) && !unprobeable)
			return choose_rust(objs, n, c);
		if (!any(objs, n, elf_object__shims_in_use) && any(objs, n, ga_carries))
			return choose_ga(objs, n, c);
		below = backend_layer(objs, n);
		if (unprobeable) {
			why = xasprintf("%s: every allocation reaches the %s through it", unprobeable,
					lower_layers[below].what);
			c->note = unprobeable;
		} else {
			char *bypass = bypass_reason(objs, n, t->exe);

			why = xasprintf("%s: every allocation reaches the %s directly", bypass,
					lower_layers[below].what);
			free(bypass);
		}
		err = choose_lower(objs, n, below, why, t, c);
		free(why);
		return err;
	}
}

void layer_choice__free(struct layer_choice *c)
{
	free(c->chosen);
	free(c->reason);
	free(c->note);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

enum unwind_mode layer__unwinding(enum unwind_mode asked, bool have_bpf_loop, const char **why)
{
	*why = NULL;
	if (have_bpf_loop)
		return asked == UNWIND_AUTO ? UNWIND_DWARF : asked;
	switch (asked) {
	case UNWIND_AUTO:
		/*
		 * The kernel's frame-pointer walk stops after a frame or two in
		 * a build without frame pointers: the copy gives whole stacks.
		 */
		*why = "this kernel has no bpf_loop (Linux 5.17): stacks are unwound in userspace "
		       "from a copy of the stack (--unwind copy)";
		return UNWIND_COPY;
	case UNWIND_DWARF:
		*why = "DWARF unwinding in BPF needs bpf_loop (Linux 5.17 or later): "
		       "stacks are unwound in userspace from a copy of the stack (--unwind copy)";
		return UNWIND_COPY;
	default:
		return asked;
	}
}
