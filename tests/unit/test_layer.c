// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Layer choice (layer.c) on hand-built objects: what each combination of
 * shims, references, #[global_allocator] methods and allocator libraries
 * makes rsprobe probe, and why. No files, no BPF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer.h"

static const struct layer_target launched = { "/bin/prog", "prog", 0, true };
static const struct layer_target attached = { "/bin/prog", "prog", 42, false };

/* A Rust program whose code calls all four shims. */
static void rust_exe(struct elf_object *o, const char *path)
{
	int k;

	memset(o, 0, sizeof(*o));
	o->path = (char *)path;
	o->rust = true;
	for (k = 0; k < SHIM_MAX; k++) {
		o->shim_off[k] = o->shim_probe_off[k] = 0x1000 + 0x10 * k;
		o->shim_vaddr[k] = 0x401000 + 0x10 * k;
		o->shim_refs[k] = 3;
	}
}

/* A C library defining malloc and free (and maybe more). */
static void libc_so(struct elf_object *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->path = (char *)path;
	o->libc_off[LIBC_MALLOC] = 0x100;
	o->libc_off[LIBC_CALLOC] = 0x200;
	o->libc_off[LIBC_REALLOC] = 0x300;
	o->libc_off[LIBC_FREE] = 0x400;
}

static void test_shims_in_use_are_probed(void)
{
	struct elf_object exe, libc;
	struct elf_object *objs[] = { &exe, &libc };
	struct layer_choice c;

	rust_exe(&exe, "/bin/prog");
	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_RUST);
	CHECK(!c.use_ga);
	CHECK_STR(c.source, "rust");
	CHECK_U64(c.nchosen, 1);
	CHECK_U64(c.nchosen ? c.chosen[0] : 99, 0);
	CHECK(c.reason && strstr(c.reason, "Rust allocator shims in /bin/prog (4 of 4"));
	CHECK(!c.error && !c.note);
	layer_choice__free(&c);
}

/* Two objects with shims (a cdylib): both probed, in order. */
static void test_every_object_with_shims(void)
{
	struct elf_object exe, cdy, libc;
	struct elf_object *objs[] = { &exe, &libc, &cdy };
	struct layer_choice c;

	rust_exe(&exe, "/bin/prog");
	libc_so(&libc, "/lib/libc.so.6");
	rust_exe(&cdy, "/lib/libcdy.so");
	CHECK_U64(layer__choose(objs, 3, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.nchosen, 2);
	CHECK_U64(c.nchosen == 2 ? c.chosen[0] * 10 + c.chosen[1] : 99, 2);
	layer_choice__free(&c);
}

/* LTO inlined the shims (nothing calls __rust_dealloc): the C allocator. */
static void test_bypassed_shims_fall_to_libc(void)
{
	struct elf_object exe, libc;
	struct elf_object *objs[] = { &exe, &libc };
	struct layer_choice c;

	rust_exe(&exe, "/bin/prog");
	exe.shim_refs[SHIM_DEALLOC] = 0;
	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_LIBC);
	CHECK_STR(c.source, "libc");
	CHECK_U64(c.nchosen, 1);
	CHECK_U64(c.nchosen ? c.chosen[0] : 99, 1);
	CHECK(c.reason && strstr(c.reason, "nothing in /bin/prog calls __rust_dealloc"));
	CHECK(c.reason && strstr(c.reason, "C allocator in /lib/libc.so.6 (4 allocator functions)"));
	layer_choice__free(&c);

	/* --source rust refuses, and says why and what to try. */
	CHECK_U64(layer__choose(objs, 2, SOURCE_RUST, &launched, &c), (uint64_t)-ENOENT);
	CHECK(c.error && strstr(c.error, "bypassed") && strstr(c.error, "try --source auto"));
	CHECK_U64(c.nchosen, 0);
	layer_choice__free(&c);
}

/* jemalloc linked in and called by Rust code: jemalloc's API, not libc's. */
static void test_jemalloc_backend(void)
{
	struct elf_object exe, libc;
	struct elf_object *objs[] = { &exe, &libc };
	struct layer_choice c;

	rust_exe(&exe, "/bin/prog");
	exe.backend_refs = 7;	/* the code calls the backend directly */
	exe.libc_off[JE_MALLOCX] = 0x5000;
	exe.libc_off[JE_SDALLOCX] = 0x5100;
	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_JEMALLOC);
	CHECK_STR(c.source, "jemalloc");
	CHECK_U64(c.nchosen, 1);
	CHECK_U64(c.nchosen ? c.chosen[0] : 99, 0);
	CHECK(c.reason && strstr(c.reason, "directly, 7 times"));
	layer_choice__free(&c);
}

/* The program calls its #[global_allocator]'s methods, which can be probed. */
static void test_global_allocator_methods(void)
{
	struct elf_object exe, libc;
	struct elf_object *objs[] = { &exe, &libc };
	struct layer_choice c;
	int k;

	rust_exe(&exe, "/bin/prog");
	exe.backend_refs = 5;
	for (k = 0; k < SHIM_MAX; k++) {
		exe.ga_ok[k] = true;
		exe.ga_probe_off[k] = 0x2000 + 0x10 * k;
	}
	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_RUST);
	CHECK(c.use_ga);
	CHECK_U64(c.nchosen, 1);
	CHECK(c.reason && strstr(c.reason, "#[global_allocator]'s methods in /bin/prog"));
	layer_choice__free(&c);

	/* One method that cannot be probed: the layer below instead. */
	exe.ga_ok[SHIM_REALLOC] = false;
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_LIBC);
	CHECK(!c.use_ga);
	layer_choice__free(&c);
}

/* A shim no uprobe can be placed on: noted, and the layer below probed. */
static void test_unprobeable_shim(void)
{
	struct elf_object exe, libc;
	struct elf_object *objs[] = { &exe, &libc };
	struct layer_choice c;
	char *why;

	rust_exe(&exe, "/bin/prog");
	exe.shim_unprobeable[SHIM_REALLOC] = true;
	exe.shim_why[SHIM_REALLOC] = "a locked instruction writes an argument";
	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 2, SOURCE_AUTO, &launched, &c), 0);
	CHECK_U64(c.layer, LAYER_LIBC);
	CHECK(c.note && strstr(c.note, "__rust_realloc in /bin/prog cannot be probed"));
	CHECK(c.reason && strstr(c.reason, "reaches the C allocator through it"));
	layer_choice__free(&c);

	CHECK_U64(layer__choose(objs, 2, SOURCE_RUST, &launched, &c), (uint64_t)-ENOTSUP);
	CHECK(c.error && strstr(c.error, "try --libc"));
	layer_choice__free(&c);
	why = layer__unprobeable(&exe);
	CHECK(why && strstr(why, "cannot probe __rust_realloc in /bin/prog"));
	free(why);
	exe.shim_unprobeable[SHIM_REALLOC] = false;
	CHECK(!layer__unprobeable(&exe));
}

static void test_not_rust_is_refused(void)
{
	struct elf_object libc;
	struct elf_object *objs[] = { &libc };
	struct layer_choice c;

	libc_so(&libc, "/lib/libc.so.6");
	CHECK_U64(layer__choose(objs, 1, SOURCE_AUTO, &attached, &c), (uint64_t)-ENOENT);
	CHECK(c.error && strstr(c.error, "process 42 (prog, /bin/prog) is not a Rust program"));
	layer_choice__free(&c);
	CHECK_U64(layer__choose(objs, 1, SOURCE_AUTO, &launched, &c), (uint64_t)-ENOENT);
	CHECK(c.error && strstr(c.error, "/bin/prog is not a Rust program"));
	layer_choice__free(&c);
	/* Asked for, the C allocator is probed in anything. */
	CHECK_U64(layer__choose(objs, 1, SOURCE_LIBC, &attached, &c), 0);
	CHECK_U64(c.layer, LAYER_LIBC);
	CHECK(c.reason && strstr(c.reason, "requested with --source libc"));
	layer_choice__free(&c);
	/* ... but not a mimalloc that is not there. */
	CHECK_U64(layer__choose(objs, 1, SOURCE_MIMALLOC, &attached, &c), (uint64_t)-ENOENT);
	CHECK(c.error && strstr(c.error, "no mimalloc functions found in /bin/prog"));
	CHECK_U64(c.nchosen, 0);
	layer_choice__free(&c);
}

/* Shims probed past a LOCK-prefixed preamble: the reason says how far. */
static void test_probe_points(void)
{
	struct elf_object exe;
	char *p;

	rust_exe(&exe, "/bin/prog");
	CHECK(!layer__probe_points(&exe));
	exe.shim_probe_off[SHIM_DEALLOC] += 16;
	p = layer__probe_points(&exe);
	CHECK(p && strstr(p, "__rust_dealloc probed 16 bytes in"));
	free(p);
	CHECK(layer__defines(LAYER_LIBC, &exe) == false);
	exe.libc_off[LIBC_MALLOC] = exe.libc_off[LIBC_FREE] = 1;
	CHECK(layer__defines(LAYER_LIBC, &exe));
	CHECK(!layer__defines(LAYER_RUST, &exe));
}

/* What each --unwind gives with and without bpf_loop. */
static void test_unwinding(void)
{
	const char *why;

	CHECK(layer__unwinding(UNWIND_AUTO, true, &why) == UNWIND_DWARF && !why);
	CHECK(layer__unwinding(UNWIND_DWARF, true, &why) == UNWIND_DWARF && !why);
	CHECK(layer__unwinding(UNWIND_FP, true, &why) == UNWIND_FP && !why);
	CHECK(layer__unwinding(UNWIND_COPY, true, &why) == UNWIND_COPY && !why);
	/* Without it, whole stacks still: copied, unwound in userspace. */
	CHECK(layer__unwinding(UNWIND_AUTO, false, &why) == UNWIND_COPY);
	CHECK(why && strstr(why, "bpf_loop") && strstr(why, "--unwind copy"));
	CHECK(layer__unwinding(UNWIND_DWARF, false, &why) == UNWIND_COPY && why);
	/* Frame pointers asked for: frame pointers, said nothing. */
	CHECK(layer__unwinding(UNWIND_FP, false, &why) == UNWIND_FP && !why);
	CHECK(layer__unwinding(UNWIND_COPY, false, &why) == UNWIND_COPY && !why);
}

int main(void)
{
	RUN(test_shims_in_use_are_probed);
	RUN(test_every_object_with_shims);
	RUN(test_bypassed_shims_fall_to_libc);
	RUN(test_jemalloc_backend);
	RUN(test_global_allocator_methods);
	RUN(test_unprobeable_shim);
	RUN(test_not_rust_is_refused);
	RUN(test_probe_points);
	RUN(test_unwinding);
	CHECK_DONE();
}
