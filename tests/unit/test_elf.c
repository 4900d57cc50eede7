// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Symbol discovery on real ELF files (built by tests/run-unit.sh):
 *   argv[1]  a Rust program (v0-mangled shims)
 *   argv[2]  a shared object with legacy-named shims (__rust_alloc, ...)
 *   argv[3]  the same, stripped (.dynsym only)
 *   argv[4]  a shared object whose shims start with a lock prefix
 *   argv[5]  an ELF without shims (/bin/true)
 *   argv[6]  a Rust program stripped of every symbol (strip --strip-all)
 */
#include <stdlib.h>

#include "check.h"
#include "elfobj.h"

static char **args;

static void test_rust_v0(void)
{
	struct elf_object *o = elf_object__open(args[1], args[1]);
	int k;

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(o->shim_v0);
	CHECK(o->has_symtab);
	CHECK(elf_object__nshims(o) == SHIM_MAX);
	for (k = 0; k < SHIM_MAX; k++)
		CHECK(!o->shim_unprobeable[k]);
	CHECK(strlen(o->build_id) == 40);
	elf_object__free(o);
}

static void check_legacy(const char *path, bool symtab)
{
	struct elf_object *o = elf_object__open(path, path);
	uint64_t va;
	struct elf_sym *s;

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(!o->shim_v0);
	CHECK(o->has_symtab == symtab);
	CHECK(elf_object__nshims(o) == SHIM_MAX);
	/* The offset found maps back to the symbol of that name. */
	CHECK(elf_object__off_to_vaddr(o, o->shim_off[SHIM_DEALLOC], &va));
	s = elf_object__lookup(o, va);
	CHECK(s && !strcmp(elf_sym__name(s), "__rust_dealloc"));
	s = elf_object__lookup(o, va + 1);
	CHECK(s && !strcmp(elf_sym__name(s), "__rust_dealloc"));
	elf_object__free(o);
}

static void test_legacy(void)
{
	check_legacy(args[2], true);
}

static void test_legacy_stripped(void)
{
	check_legacy(args[3], false);
}

static void test_unprobeable(void)
{
	struct elf_object *o = elf_object__open(args[4], args[4]);

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(!o->shim_unprobeable[SHIM_ALLOC]);
	CHECK(o->shim_probe_off[SHIM_ALLOC] == o->shim_off[SHIM_ALLOC]);
	/* lock incq rip (8 bytes), lock addq %rsi, rip (8 bytes): then ret. */
	CHECK(!o->shim_unprobeable[SHIM_DEALLOC]);
	CHECK(o->shim_probe_off[SHIM_DEALLOC] == o->shim_off[SHIM_DEALLOC] + 16);
	CHECK(o->shim_unprobeable[SHIM_REALLOC]);
	CHECK(o->shim_why[SHIM_REALLOC] && strstr(o->shim_why[SHIM_REALLOC], "writes rdi"));
	CHECK(o->shim_unprobeable[SHIM_ALLOC_ZEROED]);
	CHECK(o->shim_why[SHIM_ALLOC_ZEROED] &&
	      strstr(o->shim_why[SHIM_ALLOC_ZEROED], "branch"));
	elf_object__free(o);
}

static void test_no_shims(void)
{
	struct elf_object *o = elf_object__open(args[5], args[5]);

	CHECK(o != NULL);
	if (o)
		CHECK(elf_object__nshims(o) == 0);
	elf_object__free(o);
	CHECK(elf_object__open("/nonexistent", "/nonexistent") == NULL);
	CHECK(elf_object__open("/etc/passwd", "/etc/passwd") == NULL);
}

/* Rust without symbols is still Rust; C is not (its object has no Rust marks). */
static void test_rust_marks(void)
{
	struct elf_object *o = elf_object__open(args[6], args[6]);

	CHECK(o != NULL);
	if (o) {
		CHECK(!o->has_symtab && elf_object__nshims(o) == 0);
		CHECK(o->rust && o->rust_stripped);
	}
	elf_object__free(o);
	o = elf_object__open(args[5], args[5]);
	CHECK(o != NULL);
	if (o)
		CHECK(!o->rust && !o->rust_stripped);
	elf_object__free(o);
	o = elf_object__open(args[1], args[1]);
	CHECK(o != NULL);
	if (o)
		CHECK(o->rust && !o->rust_stripped);
	elf_object__free(o);
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: test_elf RUST LEGACY.so STRIPPED.so LOCK.so OTHER "
			"RUST-STRIPPED\n");
		return 2;
	}
	args = argv;
	RUN(test_rust_v0);
	RUN(test_legacy);
	RUN(test_legacy_stripped);
	RUN(test_unprobeable);
	RUN(test_no_shims);
	RUN(test_rust_marks);
	CHECK_DONE();
}
