// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Ownership outcomes and attribution on hand-built stacks. */
#include <stdlib.h>

#include "check.h"
#include "outcome.h"
#include "stacks.h"

struct fspec {
	uint64_t pc, func;
	bool library, rust;
	const char *name;
};

#define LIB(pc, fn, name) { pc, fn, true, true, name }
#define USR(pc, fn, name) { pc, fn, false, true, name }

/* Frames innermost first; the root frames of every main-thread stack. */
#define ROOT LIB(0x21, 0x20, "main"), LIB(0x11, 0x10, "_start")

static struct stack *mk(const struct fspec *f, int n, bool truncated)
{
	struct stack *s = calloc(1, sizeof(*s));
	struct frame_info *fi = calloc(n, sizeof(*fi));
	int i;

	s->n = n;
	s->truncated = truncated;
	s->pcs = calloc(n, sizeof(*s->pcs));
	s->fr = calloc(n, sizeof(*s->fr));
	for (i = 0; i < n; i++) {
		fi[i].pc = f[i].pc;
		fi[i].func_id = f[i].func;
		fi[i].library = f[i].library;
		fi[i].rust = f[i].rust;
		fi[i].named = true;
		fi[i].function = f[i].name;
		s->pcs[i] = f[i].pc;
		s->fr[i] = &fi[i];
	}
	stack__attribute(s);
	return s;
}

static void rm(struct stack *s)
{
	free((void *)s->fr[0]);
	free(s->fr);
	free(s->pcs);
	free(s);
}

#define MK(arr, trunc) mk(arr, (int)(sizeof(arr) / sizeof(arr[0])), trunc)

/* f allocates (through String::from) while called from main at 0x110. */
static const struct fspec birth_in_f[] = {
	LIB(0x901, 0x900, "alloc::string::String::from"),
	USR(0x210, 0x200, "app::f"),
	USR(0x110, 0x100, "app::main"),
	ROOT,
};

static void test_same(void)
{
	static const struct fspec drop[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x260, 0x200, "app::f"),	/* same invocation, later point */
		USR(0x110, 0x100, "app::main"),
		ROOT,
	};
	struct stack *b = MK(birth_in_f, false), *d = MK(drop, false);

	CHECK_STR(stack__function(b), "app::f");
	CHECK_STR(stack__via(b), "alloc::string::String::from");
	CHECK_U64(classify_outcome(b, d), OUTCOME_SAME);
	rm(b);
	rm(d);
}

static void test_callee(void)
{
	static const struct fspec drop[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x310, 0x300, "app::consume"),
		USR(0x230, 0x200, "app::f"),	/* f calls consume */
		USR(0x110, 0x100, "app::main"),
		ROOT,
	};
	struct stack *b = MK(birth_in_f, false), *d = MK(drop, false);

	CHECK_STR(stack__function(d), "app::consume");
	CHECK_U64(classify_outcome(b, d), OUTCOME_CALLEE);
	rm(b);
	rm(d);
}

static void test_caller(void)
{
	static const struct fspec drop[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x120, 0x100, "app::main"),	/* f returned the value to main */
		ROOT,
	};
	struct stack *b = MK(birth_in_f, false), *d = MK(drop, false);

	CHECK_U64(classify_outcome(b, d), OUTCOME_CALLER);
	rm(b);
	rm(d);
}

static void test_other_sibling(void)
{
	/* Dropped in h, called from another point of main: stored, then dropped. */
	static const struct fspec drop[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x410, 0x400, "app::h"),
		USR(0x130, 0x100, "app::main"),
		ROOT,
	};
	/* The same function f, but a different invocation of it (another call site). */
	static const struct fspec drop_other_f[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x260, 0x200, "app::f"),
		USR(0x140, 0x100, "app::main"),
		ROOT,
	};
	struct stack *b = MK(birth_in_f, false), *d = MK(drop, false), *d2 = MK(drop_other_f, false);

	CHECK_U64(classify_outcome(b, d), OUTCOME_OTHER);
	CHECK_U64(classify_outcome(b, d2), OUTCOME_OTHER);
	rm(b);
	rm(d);
	rm(d2);
}

static void test_other_thread_and_truncated(void)
{
	static const struct fspec drop[] = {
		LIB(0x951, 0x950, "core::ptr::drop_in_place"),
		USR(0x510, 0x500, "app::worker"),
		LIB(0x611, 0x600, "start_thread"),
	};
	struct stack *b = MK(birth_in_f, false), *d = MK(drop, false);
	struct stack *bt = MK(birth_in_f, true), *same = MK(birth_in_f, false);

	CHECK_U64(classify_outcome(b, d), OUTCOME_OTHER);
	/* A truncated stack has lost its root: nothing can be said. */
	CHECK_U64(classify_outcome(bt, same), OUTCOME_OTHER);
	rm(b);
	rm(d);
	rm(bt);
	rm(same);
}

static void test_attribution_all_library(void)
{
	/* Runtime start-up: every frame is a library frame. */
	static const struct fspec f[] = {
		LIB(0x701, 0x700, "alloc::raw_vec::finish_grow"),
		LIB(0x801, 0x800, "std::rt::init"),
		LIB(0x811, 0x810, "std::rt::lang_start_internal"),
		{ 0x21, 0x20, true, false, "main" },
		{ 0x11, 0x10, true, false, "_start" },
	};
	struct stack *s = MK(f, false);

	CHECK_STR(stack__function(s), "std::rt::lang_start_internal");
	/* via: the library frame just inside the attributed one, as always. */
	CHECK_STR(stack__via(s), "std::rt::init");
	rm(s);
}

/* Frames of files, unnamed as in a stripped libc: only the module is known. */
static struct stack *mk_mod(const char *const *mods, const char *const *names, int n)
{
	struct stack *s = calloc(1, sizeof(*s));
	struct frame_info *fi = calloc(n, sizeof(*fi));
	int i;

	s->n = n;
	s->fr = calloc(n, sizeof(*s->fr));
	for (i = 0; i < n; i++) {
		fi[i].module = mods[i];
		fi[i].named = names && names[i];
		fi[i].function = names && names[i] ? names[i] : "libc.so.6+0x1000";
		s->fr[i] = &fi[i];
	}
	return s;
}

static void test_allocator_internal(void)
{
	static const char *const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
	static const char *const exe = "/usr/bin/app";
	/* tcache_thread_shutdown <- __libc_thread_freeres <- start_thread <- clone3 */
	const char *const exit_path[] = { libc, libc, libc, libc };
	/* free called by the program */
	const char *const user_path[] = { exe, exe, libc, libc };
	/* a static program: glibc's cleanup inside the executable, named */
	const char *const static_path[] = { exe, exe, exe };
	const char *const static_names[] = { "tcache_thread_shutdown", "__libc_thread_freeres",
					     "start_thread" };
	struct stack *a = mk_mod(exit_path, NULL, 4), *b = mk_mod(user_path, NULL, 4),
		     *c = mk_mod(static_path, static_names, 3), *d = mk_mod(exit_path, NULL, 4),
		     *e = calloc(1, sizeof(*e));

	CHECK(stack__allocator_internal(a));
	CHECK(!stack__allocator_internal(b));
	CHECK(stack__allocator_internal(c));
	/* a cut stack may have lost the program's frames: not the allocator's own */
	d->truncated = true;
	CHECK(!stack__allocator_internal(d));
	CHECK(!stack__allocator_internal(e));
	rm(a);
	rm(b);
	rm(c);
	rm(d);
	free(e);
}

int main(void)
{
	RUN(test_same);
	RUN(test_callee);
	RUN(test_caller);
	RUN(test_other_sibling);
	RUN(test_other_thread_and_truncated);
	RUN(test_allocator_internal);
	RUN(test_attribution_all_library);
	CHECK_DONE();
}
