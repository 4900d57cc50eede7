// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * DWARF symbolization on real files (inputs from tests/run-unit.sh):
 *   argv[1]  tests/fixtures/inline.rs built with -O -C debuginfo=2
 *   argv[2]  its source: the expected lines are the ones marked "// @name"
 *   argv[3]  an ELF without DWARF (/bin/true)
 * Split copies (build-ID tree, debuglinks) are made here with binutils in a
 * temporary directory. Addresses come from the fixture's symbol table. The
 * chains at every byte of the fixture's own functions are also compared with
 * binutils' `addr2line -i` (file, line and demangled name of every frame).
 * V=1 prints the chains and the measured costs.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

#include "check.h"
#include "dwarfsym.h"
#include "elfobj.h"
#include "util.h"

#define MAXF 64

static const char *fixture, *source, *nodwarf;
static char workdir[] = "/tmp/rsprobe-dwarfsym-XXXXXX";
static char build_id[41];
static bool verbose;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
	free(cmd);
	return rc;
}

static const char *base(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

static bool str_is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The line of the source marked "// @marker". */
static int marker_line(const char *marker)
{
	char buf[512], want[64];
	int line = 0;
	FILE *f = fopen(source, "r");

	snprintf(want, sizeof(want), "// @%s\n", marker);
	while (f && fgets(buf, sizeof(buf), f)) {
		char *at = strstr(buf, want);

		line++;
		if (at && strlen(at) == strlen(want)) {
			fclose(f);
			return line;
		}
	}
	if (f)
		fclose(f);
	fprintf(stderr, "  marker @%s not found in %s\n", marker, source);
	return -1;
}

/* [lo, hi) of a function of the fixture, from its symbol table. */
static bool fn_range(const char *name, uint64_t *lo, uint64_t *hi)
{
	struct elf_object *o = elf_object__open(fixture, fixture);
	bool found = false;
	size_t i;

	for (i = 0; o && i < o->nsyms && !found; i++) {
		if (o->syms[i].size && str_is(elf_sym__name(&o->syms[i]), name)) {
			*lo = o->syms[i].addr;
			*hi = o->syms[i].addr + o->syms[i].size;
			found = true;
		}
	}
	elf_object__free(o);
	if (!found)
		fprintf(stderr, "  symbol %s not found in %s\n", name, fixture);
	return found;
}

static void print_chain(uint64_t addr, const struct src_frame *f, int n)
{
	int i;

	if (!verbose)
		return;
	printf("  0x%" PRIx64 ":\n", addr);
	for (i = 0; i < n; i++)
		printf("    %s%s  %s:%d\n", f[i].inlined ? "(inlined) " : "",
		       f[i].function ? f[i].function : "??", f[i].file ? f[i].file : "??",
		       f[i].line);
}

static struct dwarf_sym *open_fixture(void)
{
	struct dwarf_sym *d = dwarf_sym__open(fixture, fixture, build_id, NULL);

	CHECK(d != NULL);
	return d;
}

/* The address in outer() whose innermost frame is the inlined mix(). */
static uint64_t mix_addr(struct dwarf_sym *d)
{
	struct src_frame f[MAXF];
	uint64_t lo, hi, a;

	if (!fn_range("inline::outer", &lo, &hi))
		return 0;
	for (a = lo; a < hi; a++)
		if (dwarf_sym__lookup(d, a, f, MAXF) == 2 && str_is(f[0].function, "inline::mix"))
			return a;
	return 0;
}

static void test_forced_inline(void)
{
	struct dwarf_sym *d = open_fixture();
	int body = marker_line("mix-body"), call = marker_line("mix-call");
	struct src_frame f[MAXF];
	uint64_t lo, hi, a;
	int n, bad = 0;

	if (!d || !fn_range("inline::outer", &lo, &hi))
		goto out;
	/* Every instruction of outer() ends in outer(), the real function. */
	for (a = lo; a < hi; a++) {
		n = dwarf_sym__lookup(d, a, f, MAXF);
		bad += n < 1 || !str_is(f[n - 1].function, "inline::outer") || f[n - 1].inlined;
	}
	CHECK(bad == 0);
	a = mix_addr(d);
	CHECK(a != 0);
	n = dwarf_sym__lookup(d, a, f, MAXF);
	print_chain(a, f, n);
	CHECK(n == 2);
	CHECK_STR(f[0].function, "inline::mix");
	CHECK(f[0].inlined);
	CHECK_STR(base(f[0].file), "inline.rs");
	CHECK(f[0].line == body);
	CHECK_STR(f[1].function, "inline::outer");
	CHECK(!f[1].inlined);
	CHECK_STR(base(f[1].file), "inline.rs");
	CHECK(f[1].line == call);
	/* A short buffer keeps the innermost frames. */
	CHECK(dwarf_sym__lookup(d, a, f, 1) == 1);
	CHECK_STR(f[0].function, "inline::mix");
out:
	dwarf_sym__close(d);
}

/*
 * Somewhere in fn, frame k is the inlined std function `lib` (a name
 * satisfying match) called from fn, the real function, at line `line`.
 * Returns how many addresses of fn show that; the longest chain is printed.
 */
static int count_std_inlined(const char *fn, bool (*match)(const char *), const char *lib_file,
			     int line)
{
	struct dwarf_sym *d = open_fixture();
	struct src_frame f[MAXF];
	uint64_t lo, hi, a, longest = 0;
	int n, k, hits = 0, maxn = 0;

	if (!d || !fn_range(fn, &lo, &hi))
		goto out;
	for (a = lo; a < hi; a++) {
		n = dwarf_sym__lookup(d, a, f, MAXF);
		if (n < 2)
			continue;
		k = n - 2;
		if (match(f[k].function) && f[k].inlined && f[k].file &&
		    strstr(f[k].file, lib_file) && str_is(f[n - 1].function, fn) &&
		    !f[n - 1].inlined && str_is(base(f[n - 1].file), "inline.rs") &&
		    f[n - 1].line == line) {
			hits++;
			if (n > maxn) {
				maxn = n;
				longest = a;
			}
		}
	}
	if (hits) {
		n = dwarf_sym__lookup(d, longest, f, MAXF);
		print_chain(longest, f, n);
	}
out:
	dwarf_sym__close(d);
	return hits;
}

static bool is_string_from(const char *name)
{
	return str_is(name, "<alloc::string::String as core::convert::From<&str>>::from");
}

static bool is_vec_push(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 6 && strstr(name, "alloc::vec::Vec") && !strcmp(name + n - 6, "::push");
}

static void test_string_from(void)
{
	CHECK(count_std_inlined("inline::make_name", is_string_from, "alloc/src/string.rs",
				marker_line("string-from")) > 0);
}

static void test_vec_push(void)
{
	CHECK(count_std_inlined("inline::collect", is_vec_push, "alloc/src/vec/",
				marker_line("vec-push")) > 0);
}

/* ---- the same answers as binutils' addr2line -i ---- */

struct a2l_frame {
	char function[512], file[512];
	int line;
};

/* Reads one "function\nfile:line" pair; false at the next "0x..." or EOF. */
static bool a2l_next(FILE *f, char *peek, size_t len, struct a2l_frame *out)
{
	char *colon, *disc;

	if (!peek[0] || !strncmp(peek, "0x", 2))
		return false;
	snprintf(out->function, sizeof(out->function), "%.*s", (int)strcspn(peek, "\n"), peek);
	if (!fgets(out->file, sizeof(out->file), f))
		return false;
	out->file[strcspn(out->file, "\n")] = 0;
	/* "file:line" or "file:line (discriminator N)". */
	disc = strstr(out->file, " (discriminator ");
	if (disc)
		*disc = 0;
	colon = strrchr(out->file, ':');
	out->line = colon ? atoi(colon + 1) : 0;
	if (colon)
		*colon = 0;
	if (!fgets(peek, len, f))
		peek[0] = 0;
	return true;
}

/* Differences between our chain at addr and addr2line's, reported on stderr. */
static int compare_a2l(FILE *f, char *peek, size_t len, struct dwarf_sym *d, uint64_t addr)
{
	struct src_frame fr[MAXF];
	struct a2l_frame a;
	int n = dwarf_sym__lookup(d, addr, fr, MAXF), i = 0, diff = 0;

	while (a2l_next(f, peek, len, &a)) {
		if (!strcmp(a.function, "??"))
			continue;	/* no DWARF here: addr2line says ??, we return 0 */
		if (i >= n || !str_is(fr[i].function, a.function) ||
		    !str_is(fr[i].file, a.file) || fr[i].line != a.line) {
			if (diff++ == 0 && i < n)
				fprintf(stderr, "  0x%" PRIx64 " frame %d: %s %s:%d, addr2line: %s %s:%d\n",
					addr, i, fr[i].function, fr[i].file, fr[i].line,
					a.function, a.file, a.line);
		}
		i++;
	}
	if (i != n)
		fprintf(stderr, "  0x%" PRIx64 ": %d frames, addr2line %d\n", addr, n, i);
	return diff + (i != n);
}

static void test_matches_addr2line(void)
{
	static const char *const fns[] = { "inline::outer", "inline::make_name", "inline::collect",
					   "inline::main" };
	struct dwarf_sym *d = open_fixture();
	char path[PATH_MAX], peek[1024];
	int i, naddr = 0, bad = 0;
	uint64_t lo, hi, a;
	FILE *f;

	snprintf(path, sizeof(path), "%s/addrs", workdir);
	f = fopen(path, "w");
	for (i = 0; f && i < (int)ARRAY_SIZE(fns); i++) {
		if (!fn_range(fns[i], &lo, &hi))
			continue;
		for (a = lo; a < hi; a++, naddr++)
			fprintf(f, "0x%" PRIx64 "\n", a);
	}
	if (f)
		fclose(f);
	CHECK(naddr > 100);
	CHECK(sh("addr2line -e %s -a -i -f -C <%s/addrs >%s/a2l", fixture, workdir, workdir) == 0);
	snprintf(path, sizeof(path), "%s/a2l", workdir);
	f = fopen(path, "r");
	CHECK(f && d);
	if (!f || !d || !fgets(peek, sizeof(peek), f))
		goto out;
	while (!strncmp(peek, "0x", 2)) {
		a = strtoull(peek, NULL, 16);
		if (!fgets(peek, sizeof(peek), f))
			break;
		bad += compare_a2l(f, peek, sizeof(peek), d, a) != 0;
	}
	if (verbose || bad)
		printf("  %d addresses compared with addr2line, %d differ\n", naddr, bad);
	CHECK(bad == 0);
out:
	if (f)
		fclose(f);
	dwarf_sym__close(d);
}

/* ---- separate debug files ---- */

/* The mix() chain, looked up through d: a debug file found is the right one. */
static void check_mix_chain(struct dwarf_sym *d)
{
	struct dwarf_sym *full = open_fixture();
	struct src_frame f[MAXF];
	uint64_t a = full ? mix_addr(full) : 0;

	CHECK(d != NULL);
	if (d && a) {
		CHECK(dwarf_sym__lookup(d, a, f, MAXF) == 2);
		CHECK_STR(f[0].function, "inline::mix");
		CHECK_STR(f[1].function, "inline::outer");
		CHECK(f[1].line == marker_line("mix-call"));
	}
	dwarf_sym__close(full);
	dwarf_sym__close(d);
}

static void test_build_id_tree(void)
{
	char root[PATH_MAX], stripped[PATH_MAX], proc_path[PATH_MAX + 16], fake[41];
	const char *const roots[] = { "/nonexistent", root, NULL };
	struct dwarf_sym_opts opts = { .debug_roots = roots };
	struct dwarf_sym *d;

	snprintf(root, sizeof(root), "%s/root", workdir);
	snprintf(stripped, sizeof(stripped), "%s/stripped", workdir);
	CHECK(strlen(build_id) == 40);
	CHECK(sh("mkdir -p %s/.build-id/%.2s && cp %s/inline.debug %s/.build-id/%.2s/%s.debug",
		 root, build_id, workdir, root, build_id, build_id + 2) == 0);
	/* Not found without the root, found with it, even through a /proc prefix. */
	d = dwarf_sym__open(stripped, stripped, build_id, NULL);
	CHECK(d == NULL && errno == ENODATA);
	check_mix_chain(dwarf_sym__open(stripped, stripped, build_id, &opts));
	snprintf(proc_path, sizeof(proc_path), "/proc/self/root%s", stripped);
	check_mix_chain(dwarf_sym__open(stripped, proc_path, build_id, &opts));
	/* A file at the path of another build ID is not taken for it. */
	snprintf(fake, sizeof(fake), "%.39s%c", build_id, build_id[39] == '0' ? '1' : '0');
	CHECK(sh("mkdir -p %s/.build-id/%.2s && cp %s/inline.debug %s/.build-id/%.2s/%s.debug",
		 root, fake, workdir, root, fake, fake + 2) == 0);
	d = dwarf_sym__open(stripped, stripped, fake, &opts);
	CHECK(d == NULL && errno == ENODATA);
	dwarf_sym__close(d);
}

/* dir/inline: stripped, with a .gnu_debuglink to inline.debug. */
static void make_linked(const char *dir)
{
	CHECK(sh("mkdir -p %s/%s && cd %s && objcopy --add-gnu-debuglink=inline.debug stripped-all "
		 "%s/inline", workdir, dir, workdir, dir) == 0);
}

static struct dwarf_sym *open_linked(const char *dir, const char *bid,
				     const struct dwarf_sym_opts *opts)
{
	char path[PATH_MAX], open_path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s/inline", workdir, dir);
	snprintf(open_path, sizeof(open_path), "/proc/self/root%s", path);
	return dwarf_sym__open(path, open_path, bid, opts);
}

static void test_debuglink(void)
{
	char root[PATH_MAX];
	const char *const roots[] = { root, NULL };
	struct dwarf_sym_opts opts = { .debug_roots = roots };
	struct dwarf_sym *d;

	snprintf(root, sizeof(root), "%s/root2", workdir);
	make_linked("same");
	make_linked("sub");
	make_linked("rooted");
	make_linked("bad");
	CHECK(sh("cd %s && cp inline.debug same/ && mkdir -p sub/.debug && "
		 "cp inline.debug sub/.debug/ && mkdir -p root2%s/rooted && "
		 "cp inline.debug root2%s/rooted/", workdir, workdir, workdir) == 0);
	/* No build ID given: the CRC decides. */
	check_mix_chain(open_linked("same", "", &opts));
	check_mix_chain(open_linked("sub", "", &opts));
	check_mix_chain(open_linked("rooted", "", &opts));
	/* With one, the build IDs must agree. */
	check_mix_chain(open_linked("same", build_id, &opts));
	/* A debug file that changed since the link was made is refused. */
	CHECK(sh("cd %s && cp inline.debug bad/ && echo junk >>bad/inline.debug", workdir) == 0);
	d = open_linked("bad", "", &opts);
	CHECK(d == NULL && errno == ENODATA);
	dwarf_sym__close(d);
}

static void test_no_dwarf(void)
{
	struct dwarf_sym *d;
	uint64_t t0, ns;
	int i, n = 200;

	d = dwarf_sym__open(nodwarf, nodwarf, "", NULL);
	CHECK(d == NULL && errno == ENODATA);
	d = dwarf_sym__open("/nonexistent/x", "/nonexistent/x", "", NULL);
	CHECK(d == NULL && errno == ENOENT);
	t0 = mono_ns();
	for (i = 0; i < n; i++)
		dwarf_sym__close(dwarf_sym__open(nodwarf, nodwarf, "", NULL));
	ns = (mono_ns() - t0) / n;
	if (verbose)
		printf("  open of %s (no DWARF): %.1f us\n", nodwarf, ns / 1e3);
	/* Generous: it is a few failed open()s, cheap even under ASan. */
	CHECK(ns < 5000000);
}

static void test_misses(void)
{
	struct dwarf_sym *d = open_fixture();
	struct src_frame f[4];

	CHECK(dwarf_sym__lookup(d, 0, f, 4) == 0);
	CHECK(dwarf_sym__lookup(d, UINT64_MAX - 1, f, 4) == 0);
	CHECK(dwarf_sym__lookup(d, 0x1000, f, 0) == -EINVAL);
	CHECK(dwarf_sym__lookup(NULL, 0x1000, f, 4) == -EINVAL);
	dwarf_sym__close(d);
}

/* What a caller pays: every function start of the fixture, each looked up once. */
static void test_cost(void)
{
	struct elf_object *o = elf_object__open(fixture, fixture);
	struct src_frame f[MAXF];
	uint64_t t0, t1, t2, t3;
	struct dwarf_sym *d;
	size_t i, n = 0, frames = 0;

	CHECK(o != NULL);
	if (!o)
		return;
	t0 = mono_ns();
	d = open_fixture();
	t1 = mono_ns();
	for (i = 0; d && i < o->nsyms; i++) {
		int r = dwarf_sym__lookup(d, o->syms[i].addr + 1, f, MAXF);

		frames += r > 0 ? r : 0;
		n++;
	}
	t2 = mono_ns();
	for (i = 0; d && i < o->nsyms; i++)
		dwarf_sym__lookup(d, o->syms[i].addr + 1, f, MAXF);
	t3 = mono_ns();
	CHECK(n > 100 && frames >= n / 2);
	if (verbose)
		printf("  open %.1f us; %zu addresses, %zu frames: first lookup %.2f us/address, "
		       "cached %.0f ns/address\n", (t1 - t0) / 1e3, n, frames,
		       (t2 - t1) / 1e3 / n, (double)(t3 - t2) / n);
	dwarf_sym__close(d);
	elf_object__free(o);
}

static int setup(void)
{
	struct elf_object *o = elf_object__open(fixture, fixture);

	if (!o || !mkdtemp(workdir))
		return -1;
	snprintf(build_id, sizeof(build_id), "%s", o->build_id);
	elf_object__free(o);
	return sh("cd %s && objcopy --only-keep-debug %s inline.debug && "
		  "strip --strip-debug -o stripped %s && strip --strip-all -o stripped-all %s",
		  workdir, fixture, fixture, fixture);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: %s INLINE_FIXTURE INLINE_RS NODWARF_ELF\n", argv[0]);
		return 2;
	}
	/* Absolute: the split copies are made from another directory. */
	fixture = realpath(argv[1], NULL);
	source = realpath(argv[2], NULL);
	nodwarf = argv[3];
	if (!fixture || !source) {
		fprintf(stderr, "test_dwarfsym: %s or %s not found\n", argv[1], argv[2]);
		return 1;
	}
	verbose = getenv("V") && !strcmp(getenv("V"), "1");
	if (setup()) {
		fprintf(stderr, "test_dwarfsym: cannot prepare %s\n", workdir);
		return 1;
	}
	RUN(test_forced_inline);
	RUN(test_string_from);
	RUN(test_vec_push);
	RUN(test_matches_addr2line);
	RUN(test_build_id_tree);
	RUN(test_debuglink);
	RUN(test_no_dwarf);
	RUN(test_misses);
	RUN(test_cost);
	rc = tests_failed ? 1 : 0;
	if (!getenv("KEEP"))
		sh("rm -rf %s", workdir);
	printf("%d passed, %d failed\n", tests_passed, tests_failed);
	return rc;
}
