/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_STACKS_H
#define RP_STACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "symbolize.h"

/* A call stack as the model sees it: symbolized, garbage tail cut off. */
struct stack {
	uint32_t n;			/* frames in fr[], inlined calls included */
	uint32_t npcs;			/* addresses in pcs[] */
	bool truncated;			/* deeper than the probe could record */
	int attr;			/* attributed frame, -1 when the stack is empty */
	int via;			/* library frame just inside attr, or -1 */
	uint64_t *pcs;			/* innermost first */
	const struct frame_info **fr;	/* innermost first, inlined calls expanded */
};

struct stack_table;

struct stack_table *stack_table__new(struct symbolizer *sym);
void stack_table__free(struct stack_table *t);
/*
 * Intern a raw stack from an event; returns its id. Raw stacks are cut at the
 * first address outside any mapped file (a frame-pointer walk through code
 * that uses rbp for data yields such garbage), so several raw stacks may share
 * one id. Id 0 is the empty stack.
 */
uint32_t stack_table__intern(struct stack_table *t, const uint64_t *pcs, uint32_t n,
			     bool truncated);
const struct stack *stack_table__get(const struct stack_table *t, uint32_t id);
uint32_t stack_table__count(const struct stack_table *t);
/* Name of the attributed function / via, "[unknown]" / NULL when absent. */
const char *stack__function(const struct stack *s);
const char *stack__via(const struct stack *s);
/*
 * A free the C allocator makes of its own accord: glibc flushing an exiting
 * thread's cache (tcache_thread_shutdown from __libc_thread_freeres, under
 * start_thread), its arenas' freeres, and any free whose whole stack lies in
 * libc and the loader, with no frame of the program between it and the
 * thread's start. Works on a stripped libc: the file names suffice.
 */
bool stack__allocator_internal(const struct stack *s);
/* Compute attr/via from frame classification (exported for tests). */
void stack__attribute(struct stack *s);

#endif
