// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Hostile files: the debug info and tables a target's owner controls must
 * neither crash the parsers nor blow up what they return. Inputs are made by
 * tests/hostile/make-inputs.py (argv[1] is its output directory):
 *   unterminated-str.so  .debug_str without a final NUL, ending at a page end
 *   ff-str.so            .debug_str of 0xff bytes: quarter-megabyte names
 *   nested.o             200,000 nested namespaces around a function
 *   no-cfi.so            no .eh_frame, no .debug_frame
 *   base.so              the well-formed object the others were made from
 */
#include <errno.h>
#include <stdlib.h>

#include "cfi.h"
#include "check.h"
#include "dwarfsym.h"
#include "elfobj.h"
#include "util.h"

static const char *dir;
static const char *const no_roots[] = { "/nonexistent-debug-root", NULL };
static const struct dwarf_sym_opts opts = { .debug_roots = no_roots };

static char *input(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* Every function name found at addr..addr+len, checked against a bound. */
static int names_within(struct dwarf_sym *d, uint64_t lo, uint64_t hi, size_t max, size_t *found)
{
	struct src_frame f[8];
	uint64_t a;
	int k, n, bad = 0;

	*found = 0;
	for (a = lo; a < hi; a++) {
		n = dwarf_sym__lookup(d, a, f, 8);
		for (k = 0; k < n; k++) {
			if (!f[k].function)
				continue;
			(*found)++;
			if (strlen(f[k].function) > max)
				bad++;
		}
	}
	return bad;
}

/* The control: the well-formed object names its functions. */
static void test_base_names(void)
{
	char *p = input("base.so");
	struct dwarf_sym *d = dwarf_sym__open(p, p, "", &opts);
	size_t found;

	CHECK(d != NULL);
	if (d) {
		CHECK_U64(names_within(d, 0x1000, 0x1100, 64, &found), 0);
		CHECK(found > 0);
		dwarf_sym__close(d);
	}
	free(p);
}

/* libdw hands out pointers into .debug_str: unterminated, they run off the map. */
static void test_unterminated_debug_str(void)
{
	char *p = input("unterminated-str.so");
	struct dwarf_sym *d = dwarf_sym__open(p, p, "", &opts);

	CHECK(d == NULL);
	CHECK_U64(errno, EBADMSG);
	if (d)
		dwarf_sym__close(d);
	free(p);
}

/* Names as long as the section: each is cut at RP_NAME_MAX. */
static void test_huge_names_capped(void)
{
	char *p = input("ff-str.so");
	struct dwarf_sym *d = dwarf_sym__open(p, p, "", &opts);
	size_t found;

	CHECK(d != NULL);
	if (d) {
		CHECK_U64(names_within(d, 0x1000, 0x1100, RP_NAME_MAX, &found), 0);
		CHECK(found > 0);
		dwarf_sym__close(d);
	}
	free(p);
}

/* Recursion over namespaces overflowed the stack here; now: no crash, bounded. */
static void test_deeply_nested_namespaces(void)
{
	char *p = input("nested.o");
	struct dwarf_sym *d = dwarf_sym__open(p, p, "", &opts);
	uint64_t t0 = mono_ns();
	size_t found;

	CHECK(d != NULL);
	if (d) {
		CHECK_U64(names_within(d, 0x1100, 0x1110, RP_NAME_MAX, &found), 0);
		dwarf_sym__close(d);
	}
	/* Deeper than MAX_SCOPE_DEPTH is not entered: seconds at most, not hours. */
	CHECK(mono_ns() - t0 < 20000000000ULL);
	free(p);
}

/* qsort(NULL, 0) aborted the sanitizer build on objects without CFI. */
static void test_no_cfi(void)
{
	char *p = input("no-cfi.so");
	struct cfi_table t = {};
	int err = cfi_table__build(p, &t);

	CHECK(err == 0 || err == -ENOENT || err == -ENODATA);
	if (!err) {
		CHECK(cfi_table__find(&t, 0x1000) == NULL ||
		      cfi_table__find(&t, 0x1000)->cfa_type == RP_CFA_END);
		cfi_table__free(&t);
	}
	free(p);
}

/* Names from .symtab are cut too, and the object still opens. */
static void test_long_symbol_demangled_capped(void)
{
	char *name = xmalloc(3 * RP_NAME_MAX);
	char *d;

	memset(name, 'a', 3 * RP_NAME_MAX - 1);
	memcpy(name, "_ZN", 3);
	name[3 * RP_NAME_MAX - 1] = 0;
	d = rp_demangle(name);
	CHECK(strlen(d) <= RP_NAME_MAX);
	CHECK(!strcmp(d + strlen(d) - 3, "..."));
	free(d);
	free(name);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s HOSTILE_DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	rp_verbosity = 0;
	RUN(test_base_names);
	RUN(test_unterminated_debug_str);
	RUN(test_huge_names_capped);
	RUN(test_deeply_nested_namespaces);
	RUN(test_no_cfi);
	RUN(test_long_symbol_demangled_capped);
	CHECK_DONE();
}
