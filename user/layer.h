/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_LAYER_H
#define RP_LAYER_H

#include <stdbool.h>
#include <stddef.h>

#include "elfobj.h"

/*
 * Which allocation layer to probe, from what the target's objects show:
 * the Rust shims, a #[global_allocator]'s methods, or the allocator below
 * (libc's malloc family, jemalloc, mimalloc). Pure: no files, no probes,
 * no messages; every output carries the reason.
 */
enum layer { LAYER_RUST, LAYER_LIBC, LAYER_JEMALLOC, LAYER_MIMALLOC };

enum source_mode {
	SOURCE_AUTO, SOURCE_RUST, SOURCE_LIBC, SOURCE_JEMALLOC, SOURCE_MIMALLOC
};

/* How stacks are unwound (--unwind). */
enum unwind_mode { UNWIND_AUTO, UNWIND_DWARF, UNWIND_FP, UNWIND_COPY };

/* Who the target is, for the messages. */
struct layer_target {
	const char *exe;
	const char *comm;
	int pid;
	bool launched;
};

struct layer_choice {
	enum layer layer;
	bool use_ga;		/* rust layer: the #[global_allocator]'s methods */
	const char *source;	/* "rust", "libc", "jemalloc", "mimalloc" */
	size_t *chosen;		/* indexes of the objects to probe */
	size_t nchosen;
	char *reason;		/* why this layer, "; "-separated */
	char *note;		/* worth saying (a shim that cannot be probed), or NULL */
	char *error;		/* why no layer fits (one line), or NULL */
};

/*
 * Choose for objs (every executable object of the target). Returns 0, or
 * a negative errno with c->error set. Free c with layer_choice__free().
 */
int layer__choose(struct elf_object *const *objs, size_t n, enum source_mode src,
		  const struct layer_target *t, struct layer_choice *c);
void layer_choice__free(struct layer_choice *c);
/* An object of the rust layer whose shims cannot all be probed: why, or NULL. */
char *layer__unprobeable(const struct elf_object *o);
/* Shims probed past their first instruction: where, as reasons ("; "-separated), or NULL. */
char *layer__probe_points(const struct elf_object *o);
/* The functions of a lower layer an object defines (0: none). */
bool layer__defines(enum layer l, const struct elf_object *o);

/*
 * The unwinding a session uses for what was asked, on a kernel with or
 * without bpf_loop (Linux 5.17, which the DWARF walk in BPF needs). Never
 * UNWIND_AUTO. *why: a line worth saying about the choice, or NULL.
 */
enum unwind_mode layer__unwinding(enum unwind_mode asked, bool have_bpf_loop, const char **why);

#endif
