// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CFI unwind tables and the reference unwinder (user/cfi.c), checked against
 * two implementations that share no code with them:
 *  - binutils: every row `readelf --debug-dump=frames-interp` prints for an
 *    object must be what our table says at that address;
 *  - libdw's unwinder: a fixture stopped in a known call chain is unwound by
 *    cfi_unwind() over its memory and by dwfl_getthread_frames(); the two pc
 *    lists must agree frame for frame, end the same way, and name the
 *    expected functions in order.
 * Arguments (tests/run-unit.sh):
 *   argv[1]  deep: Rust, -O, no frame pointers (tests/fixtures/deep.rs)
 *   argv[2]  deep-fp: the same with -C force-frame-pointers=yes
 *   argv[3]  cfi-debugframe: C, non-PIE, its own functions only in .debug_frame
 * test_cfi --dump FILE...  prints each table, its statistics and build time.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfi.h"
#include "check.h"
#include "elfobj.h"
#include "procmaps.h"
#include "util.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LDSO "/lib64/ld-linux-x86-64.so.2"
#define MAXW 512		/* frames kept per walk */

static const char *deep, *deep_fp, *debugframe;
static bool verbose;

/* ---- tables, built once per object for the whole run ---- */

static struct {
	char *path;
	struct cfi_table t;
} cache[32];
static size_t ncache;

static const struct cfi_table *table_for(const char *path)
{
	size_t i;

	for (i = 0; i < ncache; i++) {
		if (!strcmp(cache[i].path, path))
			return &cache[i].t;
	}
	if (ncache == ARRAY_SIZE(cache) || cfi_table__build(path, &cache[ncache].t))
		return NULL;
	cache[ncache].path = xstrdup(path);
	return &cache[ncache++].t;
}

static void free_tables(void)
{
	while (ncache) {
		ncache--;
		cfi_table__free(&cache[ncache].t);
		free(cache[ncache].path);
	}
}

/* ---- the reference unwinder on a synthetic stack ---- */

#define MEM_BASE 0x7f0000000000ULL
#define BIAS 0x400000ULL

static uint64_t mem[64];

static int mem_read(void *arg, uint64_t addr, uint64_t *val)
{
	if (addr < MEM_BASE || addr >= MEM_BASE + sizeof(mem) || addr % 8)
		return -EFAULT;
	*val = mem[(addr - MEM_BASE) / 8];
	return 0;
}

static uint64_t at(int slot)
{
	return MEM_BASE + 8 * (uint64_t)slot;
}

/* One object at BIAS: a function with frame pointer, a PLT, _start, asm. */
static struct rp_cfi_row syn_rows[] = {
	{ .pc = 0x1000, .cfa_type = RP_CFA_RSP, .cfa_off = 8 },		/* fp(): entry */
	{ .pc = 0x1001, .cfa_type = RP_CFA_RSP, .cfa_off = 16,		/* push %rbp */
	  .rbp_type = RP_RBP_OFFSET, .rbp_off = -16 },
	{ .pc = 0x1004, .cfa_type = RP_CFA_RBP, .cfa_off = 16,		/* mov %rsp,%rbp */
	  .rbp_type = RP_RBP_OFFSET, .rbp_off = -16 },
	{ .pc = 0x1020, .cfa_type = RP_CFA_END },
	{ .pc = 0x1100, .cfa_type = RP_CFA_PLT, .cfa_off = 8 },
	{ .pc = 0x1140, .cfa_type = RP_CFA_END },
	{ .pc = 0x1200, .cfa_type = RP_CFA_RSP, .cfa_off = 8, .rbp_type = RP_RBP_UNDEFINED },
	{ .pc = 0x1210, .cfa_type = RP_CFA_UNSUPPORTED },
	{ .pc = 0x1220, .cfa_type = RP_CFA_RSP, .cfa_off = 24 },		/* leaf(): sub $16,%rsp */
	{ .pc = 0x1240, .cfa_type = RP_CFA_END },
};
static const struct cfi_table syn_table = { syn_rows, ARRAY_SIZE(syn_rows) };
static const struct cfi_map syn_map = { BIAS + 0x1000, BIAS + 0x1240, BIAS, &syn_table };
static const struct cfi_unwind_ctx syn_ctx = { &syn_map, 1, mem_read, NULL };

static int syn_unwind(uint64_t ip, uint64_t sp, uint64_t bp, uint64_t *pcs, int max,
		      enum cfi_stop *stop)
{
	return cfi_unwind_stop(&syn_ctx, BIAS + ip, sp, bp, pcs, max, stop);
}

static void test_find(void)
{
	const struct cfi_table empty = { NULL, 0 };

	CHECK(cfi_table__find(&syn_table, 0xfff) == NULL);
	CHECK(cfi_table__find(&syn_table, 0x1000) == &syn_rows[0]);
	CHECK(cfi_table__find(&syn_table, 0x1003) == &syn_rows[1]);
	CHECK(cfi_table__find(&syn_table, 0x101f) == &syn_rows[2]);
	CHECK(cfi_table__find(&syn_table, 0x1020) == &syn_rows[3]);
	CHECK(cfi_table__find(&syn_table, 0x10ff) == &syn_rows[3]);
	CHECK(cfi_table__find(&syn_table, 0x9999) == &syn_rows[ARRAY_SIZE(syn_rows) - 1]);
	CHECK(cfi_table__find(&syn_table, 0x100001000ULL) == NULL);
	CHECK(cfi_table__find(&empty, 0x1000) == NULL);
}

/* leaf() -> fp()'s body -> _start, each frame found by its own row type. */
static void test_syn_chain(void)
{
	uint64_t pcs[8];
	enum cfi_stop stop;
	int n;

	/* leaf: CFA = rsp + 24, so its return address is at rsp + 16 */
	memset(mem, 0, sizeof(mem));
	mem[2] = BIAS + 0x1010;		/* leaf -> fp() */
	mem[4] = 0x1234;		/* fp's saved rbp, at its CFA - 16 */
	mem[5] = BIAS + 0x1205;		/* fp -> _start */
	n = syn_unwind(0x1225, at(0), at(4), pcs, 8, &stop);
	CHECK_U64(n, 2);
	CHECK_U64(pcs[0], BIAS + 0x1010);
	CHECK_U64(pcs[1], BIAS + 0x1205);
	CHECK(stop == CFI_STOP_OUTERMOST);
	CHECK(cfi_stop_complete(stop));

	/* A full pcs[] that holds the whole stack still reads as complete. */
	n = syn_unwind(0x1225, at(0), at(4), pcs, 2, &stop);
	CHECK_U64(n, 2);
	CHECK(stop == CFI_STOP_OUTERMOST);
	n = syn_unwind(0x1225, at(0), at(4), pcs, 1, &stop);
	CHECK_U64(n, 1);
	CHECK(stop == CFI_STOP_MAX);
	CHECK(!cfi_stop_complete(stop));
	CHECK_U64(cfi_unwind(&syn_ctx, BIAS + 0x1225, at(0), at(4), pcs, 0), 0);
}

/* At a function's first instruction: CFA = rsp + 8, the return address at [rsp]. */
static void test_syn_entry_and_saved_rbp(void)
{
	uint64_t pcs[8];
	enum cfi_stop stop;
	int n;

	memset(mem, 0, sizeof(mem));
	/* fp() at entry, called from fp()'s body (recursion), which came from _start */
	mem[0] = BIAS + 0x1010;
	/* the caller's frame: CFA(caller) = its rbp + 16; rbp is unchanged by the callee */
	mem[6] = 0x5555;		/* caller's saved rbp (at CFA - 16) */
	mem[7] = BIAS + 0x1205;
	n = syn_unwind(0x1000, at(0), at(6), pcs, 8, &stop);
	CHECK_U64(n, 2);
	CHECK_U64(pcs[0], BIAS + 0x1010);
	CHECK_U64(pcs[1], BIAS + 0x1205);
	CHECK(stop == CFI_STOP_OUTERMOST);

	/* After push %rbp: the caller's rbp comes back from CFA - 16 and is used. */
	memset(mem, 0, sizeof(mem));
	mem[0] = at(6);			/* pushed rbp: the caller's frame base */
	mem[1] = BIAS + 0x1010;
	mem[7] = BIAS + 0x1205;
	n = syn_unwind(0x1001, at(0), 0xdead, pcs, 8, &stop);
	CHECK_U64(n, 2);
	CHECK_U64(pcs[1], BIAS + 0x1205);
	CHECK(stop == CFI_STOP_OUTERMOST);
}

/* A return address at the very end of a function is looked up at pc - 1. */
static void test_syn_pc_minus_one(void)
{
	uint64_t pcs[8];
	enum cfi_stop stop;
	int n;

	memset(mem, 0, sizeof(mem));
	mem[2] = BIAS + 0x1020;		/* a noreturn call ending fp(): 0x1020 is a gap */
	mem[4] = 0;
	mem[5] = BIAS + 0x1205;
	n = syn_unwind(0x1225, at(0), at(4), pcs, 8, &stop);
	CHECK_U64(n, 2);
	CHECK_U64(pcs[1], BIAS + 0x1205);
	CHECK(stop == CFI_STOP_OUTERMOST);
	/* the first frame is not: ip itself in the gap has no CFI */
	n = syn_unwind(0x1020, at(0), at(4), pcs, 8, &stop);
	CHECK_U64(n, 0);
	CHECK(stop == CFI_STOP_NO_CFI);
}

static void test_syn_plt(void)
{
	uint64_t pcs[8];
	enum cfi_stop stop;

	memset(mem, 0, sizeof(mem));
	mem[0] = BIAS + 0x1205;		/* return address, before the push */
	mem[1] = BIAS + 0x1206;		/* return address, after "push $n" */
	CHECK_U64(syn_unwind(0x1110, at(0), 0, pcs, 8, &stop), 1);
	CHECK_U64(pcs[0], BIAS + 0x1205);
	CHECK_U64(syn_unwind(0x111a, at(0), 0, pcs, 8, &stop), 1);
	CHECK_U64(pcs[0], BIAS + 0x1205);
	CHECK_U64(syn_unwind(0x111b, at(0), 0, pcs, 8, &stop), 1);
	CHECK_U64(pcs[0], BIAS + 0x1206);
	CHECK(stop == CFI_STOP_OUTERMOST);
}

static void test_syn_stops(void)
{
	uint64_t pcs[8];
	enum cfi_stop stop;

	memset(mem, 0, sizeof(mem));
	CHECK_U64(syn_unwind(0x1205, at(0), 0, pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_OUTERMOST);
	CHECK_U64(syn_unwind(0x1215, at(0), 0, pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_UNSUPPORTED);
	CHECK_U64(syn_unwind(0x1000, at(0), 0, pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_RA_ZERO);
	CHECK(cfi_stop_complete(stop));
	CHECK_U64(syn_unwind(0x2000, at(0), 0, pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_NO_MAP);
	CHECK_U64(syn_unwind(0x1000, 0x1000, 0, pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_READ);
	/* rbp below sp: the CFA would go down the stack */
	CHECK_U64(syn_unwind(0x1010, at(8), at(2), pcs, 8, &stop), 0);
	CHECK(stop == CFI_STOP_BAD_CFA);
	/* a return address outside every object is kept, then the walk stops */
	mem[0] = 0x1234;
	CHECK_U64(syn_unwind(0x1000, at(0), 0, pcs, 8, &stop), 1);
	CHECK_U64(pcs[0], 0x1234);
	CHECK(stop == CFI_STOP_NO_MAP);
	CHECK(!strcmp(cfi_stop_str(CFI_STOP_NO_MAP), "no-map"));
}

/* ---- tables of real objects ---- */

static void check_shape(const struct cfi_table *t)
{
	size_t i, bad_order = 0, dups = 0, bad_type = 0;

	CHECK(t->n > 1);
	if (t->n < 2)
		return;
	CHECK(t->rows[t->n - 1].cfa_type == RP_CFA_END);
	for (i = 0; i < t->n; i++) {
		const struct rp_cfi_row *r = &t->rows[i], *p = i ? r - 1 : NULL;

		bad_type += r->cfa_type > RP_CFA_UNSUPPORTED || r->rbp_type > RP_RBP_UNDEFINED ||
			    r->pad;
		if (!p)
			continue;
		bad_order += p->pc >= r->pc;
		dups += p->cfa_type == r->cfa_type && p->cfa_off == r->cfa_off &&
			p->rbp_type == r->rbp_type && p->rbp_off == r->rbp_off;
	}
	CHECK_U64(bad_order, 0);
	CHECK_U64(dups, 0);
	CHECK_U64(bad_type, 0);
}

/* ELF vaddr of the function symbol whose demangled name is name, 0 if none. */
static uint64_t sym_vaddr(const char *path, const char *name)
{
	struct elf_object *o = elf_object__open(path, path);
	uint64_t va = 0;
	size_t i;

	if (!o)
		return 0;
	for (i = 0; i < o->nsyms && !va; i++) {
		if (!strcmp(elf_sym__name(&o->syms[i]), name))
			va = o->syms[i].addr;
	}
	elf_object__free(o);
	return va;
}

static void test_table_rust(void)
{
	const struct cfi_table *t = table_for(deep);
	const struct rp_cfi_row *r;
	uint64_t start = sym_vaddr(deep, "_start"), chain5 = sym_vaddr(deep, "deep::chain5");

	CHECK(t && start && chain5);
	if (!t || !start || !chain5)
		return;
	check_shape(t);
	/* _start: the return address is undefined, the outermost frame */
	r = cfi_table__find(t, start);
	CHECK(r && r->rbp_type == RP_RBP_UNDEFINED);
	/* a function's entry: CFA = rsp + 8; later in it, its stack frame */
	r = cfi_table__find(t, chain5);
	CHECK(r && r->cfa_type == RP_CFA_RSP && r->cfa_off == 8 && r->rbp_type == RP_RBP_SAME);
	r = cfi_table__find(t, chain5 + 16);
	CHECK(r && r->cfa_type == RP_CFA_RSP && r->cfa_off > 8);
	/* without frame pointers nothing in chain5 is rbp-based */
	for (; r && r->pc < chain5 + 64 && r->cfa_type != RP_CFA_END; r++)
		CHECK(r->cfa_type == RP_CFA_RSP);
}

/* Function starts of a stripped object: every sized function symbol is an FDE start. */
static void test_func_ranges(void)
{
	struct elf_object *o = elf_object__open(deep, deep);
	struct cfi_func *f = NULL;
	size_t n = 0, i, checked = 0, bad = 0;

	CHECK(o && !cfi_func_ranges(deep, &f, &n) && n > 100);
	for (i = 1; i < n; i++)
		bad += f[i - 1].start >= f[i].start || f[i - 1].start >= f[i - 1].end;
	CHECK_U64(bad, 0);
	for (i = 0; o && i < o->nsyms; i++) {
		const struct elf_sym *s = &o->syms[i];
		const struct cfi_func *in;

		if (s->size < 2)
			continue;
		in = cfi_func_find(f, n, s->addr + s->size - 1);
		/* a symbol's last byte lies in the FDE that starts at the symbol */
		bad += !in || in->start != s->addr;
		checked++;
	}
	CHECK(checked > 100);
	CHECK_U64(bad, 0);
	CHECK(!cfi_func_find(f, n, 0));
	free(f);
	CHECK(cfi_func_ranges("/nonexistent", &f, &n) == -ENOENT && !f && !n);
	elf_object__free(o);
}

static void test_table_rust_fp(void)
{
	const struct cfi_table *t = table_for(deep_fp);
	uint64_t chain5 = sym_vaddr(deep_fp, "deep::chain5");
	const struct rp_cfi_row *r;
	bool rbp16 = false;

	CHECK(t && chain5);
	if (!t || !chain5)
		return;
	check_shape(t);
	/* push %rbp; mov %rsp,%rbp: CFA = rbp + 16, caller's rbp at CFA - 16 */
	for (r = cfi_table__find(t, chain5); r && r->pc < chain5 + 16; r++)
		rbp16 |= r->cfa_type == RP_CFA_RBP && r->cfa_off == 16 &&
			 r->rbp_type == RP_RBP_OFFSET && r->rbp_off == -16;
	CHECK(rbp16);
}

static size_t count_type(const struct cfi_table *t, int cfa_type, int rbp_type)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		n += (cfa_type < 0 || t->rows[i].cfa_type == cfa_type) &&
		     (rbp_type < 0 || t->rows[i].rbp_type == rbp_type);
	return n;
}

static void test_table_libc(void)
{
	const struct cfi_table *t = table_for(LIBC);

	CHECK(t != NULL);
	if (!t)
		return;
	check_shape(t);
	CHECK(count_type(t, RP_CFA_PLT, -1) >= 1);	/* its .plt */
	CHECK(count_type(t, -1, RP_RBP_UNDEFINED) >= 1);	/* clone, clone3 */
	/* a handful of hand-written functions only (longjmp, setcontext, ...) */
	CHECK(count_type(t, RP_CFA_UNSUPPORTED, -1) < 32);
}

static void test_table_ldso(void)
{
	const struct cfi_table *t = table_for(LDSO);

	CHECK(t != NULL);
	if (t)
		check_shape(t);
}

/* The C fixture: crt code in .eh_frame, its own functions only in .debug_frame. */
static void test_table_debug_frame(void)
{
	struct cfi_stats st;
	struct cfi_table t;
	const struct rp_cfi_row *r;
	uint64_t f2 = sym_vaddr(debugframe, "f2");

	CHECK_U64(cfi_table__build_stats(debugframe, &t, &st), 0);
	CHECK(f2 != 0);
	if (!t.n || !f2)
		return;
	check_shape(&t);
	CHECK(st.fdes_debug_frame >= 4);
	r = cfi_table__find(&t, f2);
	CHECK(r && r->cfa_type == RP_CFA_RSP && r->cfa_off == 8);
	cfi_table__free(&t);
}

static void test_table_errors(void)
{
	struct cfi_table t;

	CHECK(cfi_table__build("/nonexistent", &t) == -ENOENT);
	CHECK(cfi_table__build("/etc/passwd", &t) == -ENOEXEC);
	CHECK(t.rows == NULL && t.n == 0);
}

/* ---- every row against binutils' readelf ---- */

struct interp_cie {
	unsigned long off;
	bool signal;		/* 'S' augmentation */
	bool has_row;
	char cfa[32], rbp[32], ra[32];
};

struct interp {
	const struct cfi_table *t;
	int rbp_col, ra_col;	/* columns of the last LOC header, -1 absent */
	struct interp_cie cies[64];
	size_t ncies;
	struct interp_cie *cur_cie;	/* the CIE being read, or the FDE's */
	bool in_cie, fde_rows;
	unsigned long fde_start;
	size_t rows, bad;
	struct { uint64_t start, end; } *fdes;	/* every FDE's range, for the gaps */
	size_t nfdes, cap_fdes;
};

/* What our row must be, given readelf's cells for the CFA, rbp and ra columns. */
static struct rp_cfi_row expected_row(const char *cfa, const char *rbp, const char *ra, bool signal)
{
	struct rp_cfi_row e = { .cfa_type = RP_CFA_UNSUPPORTED };
	long off;
	char reg[8];

	if (!strcmp(ra, "u")) {
		e.rbp_type = RP_RBP_UNDEFINED;
		return e;
	}
	if (signal || strcmp(ra, "c-8"))
		return e;
	if (!strcmp(cfa, "exp")) {
		e.cfa_type = 0xff;	/* PLT or UNSUPPORTED, see check_row */
		return e;
	}
	if (sscanf(cfa, "%3[a-z]+%ld", reg, &off) != 2 || off > INT32_MAX ||
	    (strcmp(reg, "rsp") && strcmp(reg, "rbp")))
		return e;
	if (rbp[0] == 'c') {
		if (sscanf(rbp + 1, "%ld", &off) != 1 || off < INT16_MIN || off > INT16_MAX)
			return e;
		e.rbp_type = RP_RBP_OFFSET;
		e.rbp_off = off;
	} else if (strcmp(rbp, "u") && strcmp(rbp, "s")) {
		return e;
	}
	sscanf(cfa, "%3[a-z]+%ld", reg, &off);
	e.cfa_type = strcmp(reg, "rsp") ? RP_CFA_RBP : RP_CFA_RSP;
	e.cfa_off = off;
	return e;
}

static void check_row(struct interp *in, unsigned long loc, const char *cfa, const char *rbp,
		      const char *ra)
{
	struct rp_cfi_row e = expected_row(cfa, rbp, ra, in->cur_cie && in->cur_cie->signal);
	const struct rp_cfi_row *r = cfi_table__find(in->t, loc);
	bool ok;

	in->rows++;
	if (!r)
		ok = false;
	else if (e.rbp_type == RP_RBP_UNDEFINED)
		ok = r->rbp_type == RP_RBP_UNDEFINED;
	else if (e.cfa_type == 0xff)
		ok = r->cfa_type == RP_CFA_PLT || r->cfa_type == RP_CFA_UNSUPPORTED;
	else if (e.cfa_type == RP_CFA_UNSUPPORTED)
		ok = r->cfa_type == RP_CFA_UNSUPPORTED;
	else
		ok = r->cfa_type == e.cfa_type && r->cfa_off == e.cfa_off &&
		     r->rbp_type == e.rbp_type && (e.rbp_type != RP_RBP_OFFSET ||
						   r->rbp_off == e.rbp_off);
	if (ok)
		return;
	if (in->bad++ < 5)
		fprintf(stderr, "  %#lx: readelf CFA %s rbp %s ra %s; ours %d/%d %d/%d\n", loc, cfa,
			rbp, ra, r ? r->cfa_type : -1, r ? r->cfa_off : 0, r ? r->rbp_type : -1,
			r ? r->rbp_off : 0);
}

/* Split a readelf line into cells; "r9 (r9)" is one cell. */
static int cells(char *line, char *cell[], int max)
{
	int n = 0;
	char *tok, *save;

	for (tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (tok[0] == '(' && n)
			continue;
		if (n == max)
			break;
		cell[n++] = tok;
	}
	return n;
}

static void interp_header(struct interp *in, char *line)
{
	char *cell[64];
	int n = cells(line, cell, 64), i;

	in->rbp_col = in->ra_col = -1;
	for (i = 0; i < n; i++) {
		if (!strcmp(cell[i], "rbp"))
			in->rbp_col = i;
		else if (!strcmp(cell[i], "ra"))
			in->ra_col = i;
	}
}

static void interp_row(struct interp *in, char *line)
{
	char *cell[64];
	int n = cells(line, cell, 64);
	const char *rbp = in->rbp_col >= 0 && in->rbp_col < n ? cell[in->rbp_col] : "u";
	const char *ra = in->ra_col >= 0 && in->ra_col < n ? cell[in->ra_col] : "?";
	struct interp_cie *c = in->cur_cie;

	if (n < 2)
		return;
	if (!in->in_cie) {
		in->fde_rows = true;
		check_row(in, strtoul(cell[0], NULL, 16), cell[1], rbp, ra);
	} else if (c && !c->has_row) {
		/* the CIE's initial state: what an FDE without instructions has */
		c->has_row = true;
		snprintf(c->cfa, sizeof(c->cfa), "%s", cell[1]);
		snprintf(c->rbp, sizeof(c->rbp), "%s", rbp);
		snprintf(c->ra, sizeof(c->ra), "%s", ra);
	}
}

static void interp_fde_end(struct interp *in)
{
	struct interp_cie *c = in->cur_cie;

	if (!in->in_cie && !in->fde_rows && c && c->has_row)
		check_row(in, in->fde_start, c->cfa, c->rbp, c->ra);
	in->fde_rows = false;
}

static void interp_line(struct interp *in, char *line)
{
	unsigned long off, cie, start, end;
	char aug[64];
	size_t i;

	if (sscanf(line, "%lx %*x %*x CIE \"%63[^\"]\"", &off, aug) == 2) {
		interp_fde_end(in);
		in->in_cie = true;
		in->cur_cie = in->ncies < ARRAY_SIZE(in->cies) ? &in->cies[in->ncies++] : NULL;
		if (in->cur_cie)
			*in->cur_cie = (struct interp_cie){ .off = off, .signal = !!strchr(aug, 'S') };
	} else if (sscanf(line, "%lx %*x %*x FDE cie=%lx pc=%lx..%lx", &off, &cie, &start,
			  &end) == 4) {
		interp_fde_end(in);
		in->in_cie = false;
		in->fde_start = start;
		ARR_RESERVE(in->fdes, in->cap_fdes, in->nfdes + 1);
		in->fdes[in->nfdes].start = start;
		in->fdes[in->nfdes++].end = end;
		in->cur_cie = NULL;
		for (i = 0; i < in->ncies; i++) {
			if (in->cies[i].off == cie)
				in->cur_cie = &in->cies[i];
		}
	} else if (strstr(line, " LOC ")) {
		interp_header(in, line);
	} else if (strspn(line, "0123456789abcdef") == 16 && line[16] == ' ') {
		interp_row(in, line);
	} else if (strstr(line, "Contents of the")) {
		interp_fde_end(in);
		in->ncies = 0;	/* CIE offsets are per section */
		in->in_cie = true;
	}
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Where an FDE ends and no other starts, the table must say "no CFI". */
static void check_gaps(struct interp *in)
{
	size_t i, bad = 0;

	qsort(in->fdes, in->nfdes, sizeof(*in->fdes), cmp_range);
	for (i = 0; i < in->nfdes; i++) {
		const struct rp_cfi_row *r = cfi_table__find(in->t, in->fdes[i].end);

		if (i + 1 < in->nfdes && in->fdes[i + 1].start <= in->fdes[i].end)
			continue;
		bad += !r || r->cfa_type != RP_CFA_END;
	}
	CHECK(in->nfdes > 0);
	CHECK_U64(bad, 0);
}

static void check_against_readelf(const char *path, size_t min_rows)
{
	struct interp *in = xcalloc(1, sizeof(*in));
	/* not into separate debug files: libc6-dbg's has a NOBITS .eh_frame */
	char *cmd = xasprintf("readelf --debug-dump=frames-interp "
			      "--debug-dump=no-follow-links '%s'", path);
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	in->t = table_for(path);
	in->in_cie = true;
	f = popen(cmd, "r");
	CHECK(in->t && f);
	while (in->t && f && getline(&line, &cap, f) > 0)
		interp_line(in, line);
	interp_fde_end(in);
	if (f)
		CHECK(pclose(f) == 0);
	CHECK(in->rows >= min_rows);
	CHECK_U64(in->bad, 0);
	if (in->t)
		check_gaps(in);
	if (verbose)
		printf("  %s: %zu readelf rows checked\n", path, in->rows);
	free(line);
	free(cmd);
	free(in->fdes);
	free(in);
}

static void test_readelf_rust(void)
{
	check_against_readelf(deep, 2000);
	check_against_readelf(deep_fp, 2000);
}

static void test_readelf_libc(void)
{
	check_against_readelf(LIBC, 20000);
	check_against_readelf(LDSO, 1000);
}

static void test_readelf_debug_frame(void)
{
	check_against_readelf(debugframe, 10);
}

/* ---- build cost ---- */

static void test_build_time(void)
{
	const char *paths[] = { deep, LIBC };
	struct cfi_table t[2];
	uint64_t t0, ns[2];
	size_t i;

	for (i = 0; i < 2; i++) {
		t0 = mono_ns();
		CHECK_U64(cfi_table__build(paths[i], &t[i]), 0);
		ns[i] = mono_ns() - t0;
	}
	printf("  tables: %s %zu rows in %.1f ms, libc %zu rows in %.1f ms\n", deep, t[0].n,
	       ns[0] / 1e6, t[1].n, ns[1] / 1e6);
	/* generous for sanitizer builds; about 5 + 20 ms here without */
	CHECK(ns[0] + ns[1] < 1000000000ULL);
	cfi_table__free(&t[0]);
	cfi_table__free(&t[1]);
}

/* ---- live processes: our walk against libdw's ---- */

struct tracee {
	pid_t pid;		/* the process (its main thread) */
	pid_t tid;		/* the thread that stopped */
	int out;		/* its stdout when piped, else -1 */
	pid_t seen[8];		/* threads whose attach stop has passed */
	int nseen;
};

/* Start argv traced, stopped after exec; new threads traced too. */
static int tracee_start(struct tracee *t, char *const argv[], bool pipe_out)
{
	int p[2] = { -1, -1 }, st;

	memset(t, 0, sizeof(*t));
	t->out = -1;
	if (pipe_out && pipe2(p, O_CLOEXEC))
		return -errno;
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (!t->pid) {
		if (pipe_out)
			dup2(p[1], 1);
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pipe_out) {
		close(p[1]);
		t->out = p[0];
	}
	if (waitpid(t->pid, &st, 0) != t->pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
		t->pid = 0;	/* exec failed: reaped */
		return -ECHILD;
	}
	if (ptrace(PTRACE_SETOPTIONS, t->pid, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)))
		return -errno;
	return 0;
}

static bool first_stop(struct tracee *t, pid_t tid)
{
	int i;

	for (i = 0; i < t->nseen; i++) {
		if (t->seen[i] == tid)
			return false;
	}
	if (t->nseen < (int)ARRAY_SIZE(t->seen))
		t->seen[t->nseen++] = tid;
	return true;
}

/* Let the process run until one of its threads stops with sig. */
static int tracee_wait(struct tracee *t, int sig)
{
	int st, s;
	pid_t tid;

	for (;;) {
		tid = waitpid(-1, &st, __WALL);
		if (tid < 0)
			return -errno;
		if (!WIFSTOPPED(st)) {
			if (tid == t->pid)
				return -ESRCH;
			continue;
		}
		s = WSTOPSIG(st);
		/* clone events, and the SIGSTOP a new traced thread starts with */
		if ((st >> 16) || (s == SIGSTOP && tid != t->pid && first_stop(t, tid))) {
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			continue;
		}
		if (s == sig) {
			t->tid = tid;
			return 0;
		}
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)s);
	}
}

static void tracee_kill(struct tracee *t)
{
	int st;

	if (t->out >= 0)
		close(t->out);
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGKILL);
	while (waitpid(-1, &st, __WALL) > 0 || errno == EINTR)
		;
}

static int read_mem(void *arg, uint64_t addr, uint64_t *val)
{
	struct iovec local = { val, 8 }, remote = { (void *)addr, 8 };

	return process_vm_readv(*(pid_t *)arg, &local, 1, &remote, 1, 0) == 8 ? 0 : -EFAULT;
}

/* runtime address - ELF vaddr of the executable mapping m of path */
static bool load_bias(const char *path, const struct mapping *m, uint64_t *bias)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	size_t i, n = 0;
	GElf_Phdr ph;
	bool ok = false;

	if (elf && elf_getphdrnum(elf, &n))
		n = 0;
	for (i = 0; i < n && !ok; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (m->offset < (ph.p_offset & ~0xfffULL) || m->offset >= ph.p_offset + ph.p_filesz)
			continue;
		*bias = m->start - (ph.p_vaddr - ph.p_offset + m->offset);
		ok = true;
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return ok;
}

struct our_walk {
	uint64_t pcs[MAXW];
	int n;
	enum cfi_stop stop;
};

static int unwind_ours(pid_t pid, const struct user_regs_struct *regs, int max,
		       struct our_walk *w)
{
	struct cfi_map maps[64];
	struct cfi_unwind_ctx ctx = { maps, 0, read_mem, &pid };
	struct procmaps pm;
	size_t i;
	int err = procmaps__read(pid, &pm);

	for (i = 0; !err && i < pm.n && ctx.nmaps < ARRAY_SIZE(maps); i++) {
		const struct mapping *m = &pm.maps[i];
		struct cfi_map *c = &maps[ctx.nmaps];

		if (!m->exec || !m->path || !(c->table = table_for(m->path)) ||
		    !load_bias(m->path, m, &c->bias))
			continue;
		c->start = m->start;
		c->end = m->end;
		ctx.nmaps++;
	}
	procmaps__free(&pm);
	if (err)
		return err;
	w->n = cfi_unwind_stop(&ctx, regs->rip, regs->rsp, regs->rbp, w->pcs, max, &w->stop);
	return 0;
}

struct dw_walk {
	uint64_t pcs[MAXW];
	bool activation[MAXW];
	int n, rc;
	Dwfl *dwfl;		/* kept for symbols */
};

static int dw_frame(Dwfl_Frame *state, void *arg)
{
	struct dw_walk *w = arg;
	Dwarf_Addr pc;
	bool act;

	if (!dwfl_frame_pc(state, &pc, &act))
		return DWARF_CB_ABORT;
	w->activation[w->n] = act;
	w->pcs[w->n++] = pc;
	return w->n < MAXW ? DWARF_CB_OK : DWARF_CB_ABORT;
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static Dwfl *dwfl_for(pid_t pid)
{
	Dwfl *dwfl = dwfl_begin(&proc_callbacks);

	if (dwfl && (dwfl_linux_proc_report(dwfl, pid) || dwfl_report_end(dwfl, NULL, NULL))) {
		dwfl_end(dwfl);
		return NULL;
	}
	return dwfl;
}

/* libdw's own unwinder: reads the registers and memory of the stopped tid itself. */
static int unwind_libdw(pid_t pid, pid_t tid, struct dw_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->dwfl = dwfl_for(pid);
	if (!w->dwfl || dwfl_linux_proc_attach(w->dwfl, pid, true))
		return -EINVAL;
	w->rc = dwfl_getthread_frames(w->dwfl, tid, dw_frame, w);
	if (w->rc && verbose)
		printf("  libdw: %s\n", dwfl_errmsg(-1));
	return 0;
}

/* Demangled name of the function containing pc (return addresses: pc - 1). */
static char *name_at(Dwfl *dwfl, uint64_t pc)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
	const char *s = mod ? dwfl_module_addrname(mod, pc) : NULL;
	char *name;

	if (!s)
		return xasprintf("%#" PRIx64, pc);
	/* .symtab of libc6-dbg: "__libc_start_main@@GLIBC_2.34" */
	name = rp_demangle(s);
	name[strcspn(name, "@")] = 0;
	return name;
}

struct stack_names {
	char *name[MAXW + 1];
	int n;
};

static void names_of(Dwfl *dwfl, uint64_t ip, const struct our_walk *w, struct stack_names *s)
{
	int i;

	s->n = 0;
	s->name[s->n++] = name_at(dwfl, ip);
	for (i = 0; i < w->n; i++)
		s->name[s->n++] = name_at(dwfl, w->pcs[i] - 1);
}

static void names_free(struct stack_names *s)
{
	while (s->n)
		free(s->name[--s->n]);
}

static void print_stack(const char *what, uint64_t ip, const struct our_walk *w,
			const struct stack_names *s)
{
	int i;

	printf("  %s: %d frames, %s\n", what, w->n, cfi_stop_str(w->stop));
	for (i = 0; i < s->n; i++)
		printf("    #%-3d %#" PRIx64 " %s\n", i, i ? w->pcs[i - 1] : ip, s->name[i]);
}

/* want[] (NULL-terminated) appears in this order in the stack's names. */
static bool names_in_order(const struct stack_names *s, const char *const *want)
{
	int i = 0, k;

	for (k = 0; want[k]; k++) {
		while (i < s->n && strcmp(s->name[i], want[k]))
			i++;
		if (i == s->n) {
			fprintf(stderr, "  %s not found in order\n", want[k]);
			return false;
		}
		i++;
	}
	return true;
}

static int count_name(const struct stack_names *s, const char *name)
{
	int i, n = 0;

	for (i = 0; i < s->n; i++)
		n += !strcmp(s->name[i], name);
	return n;
}

/* libdw's frames are the activation pc, then return addresses: ours from [1]. */
static bool same_pcs(const struct our_walk *o, const struct dw_walk *d, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (i + 1 >= d->n || o->pcs[i] != d->pcs[i + 1] || d->activation[i + 1]) {
			fprintf(stderr, "  frame %d: ours %#" PRIx64 ", libdw %#" PRIx64 "\n", i,
				o->pcs[i], i + 1 < d->n ? (uint64_t)d->pcs[i + 1] : 0);
			return false;
		}
	}
	return true;
}

struct scenario {
	const char *what;
	const char *const *want;	/* function names, innermost first */
	int max;			/* our walk's frame limit */
	int recurse;			/* deep::recurse frames expected, 0: no check */
};

/*
 * Unwind the stopped thread both ways and compare: same pcs, and a complete
 * walk exactly when libdw's ended without error.
 */
static void compare_walks(const struct tracee *t, const struct scenario *sc)
{
	struct user_regs_struct regs;
	struct our_walk *o = xcalloc(1, sizeof(*o));
	struct dw_walk *d = xcalloc(1, sizeof(*d));
	struct stack_names *s = xcalloc(1, sizeof(*s));
	bool ok = true;

	CHECK(ptrace(PTRACE_GETREGS, t->tid, NULL, &regs) == 0);
	CHECK_U64(unwind_ours(t->pid, &regs, sc->max, o), 0);
	CHECK_U64(unwind_libdw(t->pid, t->tid, d), 0);
	CHECK(d->n > 0 && d->pcs[0] == regs.rip && d->activation[0]);
	if (o->stop == CFI_STOP_MAX) {
		CHECK_U64(o->n, sc->max);
		ok &= o->n < d->n;
	} else {
		ok &= o->n == d->n - 1;
		CHECK(cfi_stop_complete(o->stop));
		CHECK_U64(d->rc, 0);
	}
	CHECK_U64(o->n, d->n - 1 < sc->max ? d->n - 1 : sc->max);
	ok &= same_pcs(o, d, o->n);
	names_of(d->dwfl, regs.rip, o, s);
	ok &= names_in_order(s, sc->want);
	if (sc->recurse)
		CHECK_U64(count_name(s, "deep::recurse"), sc->recurse);
	CHECK(ok);
	if (!ok || verbose)
		print_stack(sc->what, regs.rip, o, s);
	names_free(s);
	dwfl_end(d->dwfl);
	free(s);
	free(d);
	free(o);
}

static const char *const want_chain[] = {
	"deep::park", "deep::chain6", "deep::chain5", "deep::chain4", "deep::chain3",
	"deep::chain2", "deep::chain1", "deep::main", "main", "__libc_start_main", "_start", NULL,
};

/* Run `bin mode [arg]` until it stops itself with SIGSTOP, then compare. */
static void stopped_in(const char *bin, const char *mode, const char *arg,
		       const struct scenario *sc)
{
	char *argv[] = { (char *)bin, (char *)mode, (char *)arg, NULL };
	struct tracee t;

	CHECK_U64(tracee_start(&t, argv, false), 0);
	CHECK(ptrace(PTRACE_CONT, t.pid, NULL, NULL) == 0);
	CHECK_U64(tracee_wait(&t, SIGSTOP), 0);
	if (!check_failed_in_test)
		compare_walks(&t, sc);
	tracee_kill(&t);
}

static void test_unwind_chain(void)
{
	const struct scenario sc = { "deep chain", want_chain, MAXW, 0 };

	stopped_in(deep, "chain", NULL, &sc);
}

static void test_unwind_chain_fp(void)
{
	const struct scenario sc = { "deep-fp chain", want_chain, MAXW, 0 };

	stopped_in(deep_fp, "chain", NULL, &sc);
}

/* The frame limit (RP_DEFAULT_FRAMES unless --max-frames): the walk stops there, not complete. */
static void test_unwind_recurse_max(void)
{
	static const char *const want[] = { "deep::park", "deep::recurse", NULL };
	const struct scenario sc = { "deep recurse 100, max", want, RP_DEFAULT_FRAMES, 0 };

	stopped_in(deep, "recurse", "100", &sc);
}

static void test_unwind_recurse_full(void)
{
	static const char *const want[] = {
		"deep::park", "deep::recurse", "deep::main", "main", "_start", NULL,
	};
	const struct scenario sc = { "deep recurse 100", want, MAXW, 101 };

	stopped_in(deep, "recurse", "100", &sc);
}

/* A thread's stack ends in clone3, whose CFI marks the return address undefined. */
static void test_unwind_thread(void)
{
	static const char *const want[] = {
		"deep::park", "deep::worker3", "deep::worker2", "deep::worker1", NULL,
	};
	const struct scenario sc = { "deep thread", want, MAXW, 0 };

	stopped_in(deep, "thread", NULL, &sc);
}

static void test_unwind_debug_frame(void)
{
	static const char *const want[] = {
		"f3", "f2", "f1", "main", "__libc_start_main", "_start", NULL,
	};
	const struct scenario sc = { "cfi-debugframe", want, MAXW, 0 };

	stopped_in(debugframe, NULL, NULL, &sc);
}

static bool stopped_in_function(const struct tracee *t, const char *name)
{
	struct user_regs_struct regs;
	Dwfl *dwfl = dwfl_for(t->pid);
	char *s;
	bool yes;

	if (!dwfl || ptrace(PTRACE_GETREGS, t->tid, NULL, &regs)) {
		if (dwfl)
			dwfl_end(dwfl);
		return false;
	}
	s = name_at(dwfl, regs.rip);
	yes = !strcmp(s, name);
	free(s);
	dwfl_end(dwfl);
	return yes;
}

/* Stopped by us in the middle of Rust code (park's spin loop), not in libc. */
static void test_unwind_spin(void)
{
	char *argv[] = { (char *)deep, "spin", NULL };
	const struct scenario sc = { "deep spin", want_chain, MAXW, 0 };
	struct pollfd pfd;
	struct tracee t;
	char buf[16];
	int tries;

	CHECK_U64(tracee_start(&t, argv, true), 0);
	CHECK(ptrace(PTRACE_CONT, t.pid, NULL, NULL) == 0);
	pfd = (struct pollfd){ .fd = t.out, .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1 && read(t.out, buf, sizeof(buf)) > 0);
	/* "ready" is printed just before the loop: the stop may still land in write() */
	for (tries = 0; tries < 100 && !check_failed_in_test; tries++) {
		CHECK(syscall(SYS_tgkill, t.pid, t.pid, SIGSTOP) == 0);
		CHECK_U64(tracee_wait(&t, SIGSTOP), 0);
		if (stopped_in_function(&t, "deep::park"))
			break;
		ptrace(PTRACE_CONT, t.tid, NULL, NULL);
		usleep(10000);
	}
	CHECK(tries < 100);
	if (!check_failed_in_test)
		compare_walks(&t, &sc);
	tracee_kill(&t);
}

struct sym_search {
	const char *name;
	uint64_t addr;
};

static int search_module(Dwfl_Module *mod, void **userdata, const char *modname,
			 Dwarf_Addr start, void *arg)
{
	struct sym_search *ss = arg;
	int i, n = dwfl_module_getsymtab(mod);
	GElf_Addr addr;
	GElf_Sym sym;
	const char *s;
	char *dm;

	for (i = 1; i < n && !ss->addr; i++) {
		s = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
		if (!s || GELF_ST_TYPE(sym.st_info) != STT_FUNC)
			continue;
		dm = rp_demangle(s);
		if (!strcmp(dm, ss->name))
			ss->addr = addr;
		free(dm);
	}
	return ss->addr ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/* Runtime address of the function named name (demangled) in pid, 0 if none. */
static uint64_t runtime_sym(pid_t pid, const char *name)
{
	struct sym_search ss = { name, 0 };
	Dwfl *dwfl = dwfl_for(pid);

	if (!dwfl)
		return 0;
	dwfl_getmodules(dwfl, search_module, &ss, 0);
	dwfl_end(dwfl);
	return ss.addr;
}

/*
 * What a uprobe at a function's entry sees: a breakpoint on deep::park's
 * first instruction, rip moved back onto it. CFA = rsp + 8 there, even in
 * the frame-pointer build (rbp is the caller's until the push).
 */
static void entry_of_park(const char *bin)
{
	char *argv[] = { (char *)bin, "chain", NULL };
	const struct scenario sc = { "deep park entry", want_chain + 1, MAXW, 0 };
	struct user_regs_struct regs;
	uint64_t park;
	long orig = 0;
	struct tracee t;

	CHECK_U64(tracee_start(&t, argv, false), 0);
	park = runtime_sym(t.pid, "deep::park");
	CHECK(park != 0);
	errno = 0;
	if (park)
		orig = ptrace(PTRACE_PEEKTEXT, t.pid, (void *)park, NULL);
	CHECK(errno == 0);
	CHECK(!ptrace(PTRACE_POKETEXT, t.pid, (void *)park, (void *)((orig & ~0xffL) | 0xcc)));
	CHECK(ptrace(PTRACE_CONT, t.pid, NULL, NULL) == 0);
	CHECK_U64(tracee_wait(&t, SIGTRAP), 0);
	CHECK(ptrace(PTRACE_GETREGS, t.tid, NULL, &regs) == 0);
	CHECK_U64(regs.rip, park + 1);
	regs.rip = park;
	CHECK(ptrace(PTRACE_SETREGS, t.tid, NULL, &regs) == 0);
	CHECK(!ptrace(PTRACE_POKETEXT, t.pid, (void *)park, (void *)orig));
	if (!check_failed_in_test)
		compare_walks(&t, &sc);
	tracee_kill(&t);
}

static void test_unwind_entry(void)
{
	entry_of_park(deep);
}

static void test_unwind_entry_fp(void)
{
	entry_of_park(deep_fp);
}

/* ---- test_cfi --dump FILE... ---- */

static const char *const cfa_names[] = { "end", "rsp", "rbp", "plt", "unsupported" };
static const char *const rbp_names[] = { "same", "cfa", "undefined" };

static void dump_rows(const struct cfi_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct rp_cfi_row *r = &t->rows[i];

		printf("%08x %-11s %5d  rbp %-9s %d\n", r->pc, cfa_names[r->cfa_type],
		       r->cfa_off, rbp_names[r->rbp_type], r->rbp_off);
	}
}

static int dump(int argc, char **argv)
{
	struct cfi_stats st;
	struct cfi_table t;
	uint64_t t0, ns;
	int i, err;

	for (i = 0; i < argc; i++) {
		t0 = mono_ns();
		err = cfi_table__build_stats(argv[i], &t, &st);
		ns = mono_ns() - t0;
		if (err) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(-err));
			return 1;
		}
		printf("# %s: %zu rows from %zu CFI rows, %zu FDEs (%zu .debug_frame, %zu skipped), "
		       "%.2f ms\n# end %zu rsp %zu rbp %zu plt %zu unsupported %zu outermost %zu\n"
		       "# unsupported: cfa-expr %zu cfa-reg %zu range %zu ra %zu rbp %zu "
		       "signal %zu error %zu; rbp undefined %zu\n",
		       argv[i], t.n, st.rows_in, st.fdes, st.fdes_debug_frame, st.fdes_skipped,
		       ns / 1e6, count_type(&t, RP_CFA_END, -1), count_type(&t, RP_CFA_RSP, -1),
		       count_type(&t, RP_CFA_RBP, -1), count_type(&t, RP_CFA_PLT, -1),
		       count_type(&t, RP_CFA_UNSUPPORTED, -1), count_type(&t, -1, RP_RBP_UNDEFINED),
		       st.unsup_cfa_expr, st.unsup_cfa_reg, st.unsup_range, st.unsup_ra,
		       st.unsup_rbp, st.unsup_signal, st.unsup_error, st.rbp_undefined);
		if (!getenv("CFI_DUMP_STATS"))
			dump_rows(&t);
		cfi_table__free(&t);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--dump"))
		return dump(argc - 2, argv + 2);
	if (argc < 4) {
		fprintf(stderr, "usage: test_cfi DEEP DEEP_FP CFI_DEBUGFRAME | --dump FILE...\n");
		return 2;
	}
	deep = argv[1];
	deep_fp = argv[2];
	debugframe = argv[3];
	verbose = getenv("CFI_VERBOSE") != NULL;
	/* a fixture that never stops would hang the suite; PTRACE_O_EXITKILL reaps it */
	alarm(120);
	elf_version(EV_CURRENT);
	RUN(test_find);
	RUN(test_syn_chain);
	RUN(test_syn_entry_and_saved_rbp);
	RUN(test_syn_pc_minus_one);
	RUN(test_syn_plt);
	RUN(test_syn_stops);
	RUN(test_table_rust);
	RUN(test_table_rust_fp);
	RUN(test_func_ranges);
	RUN(test_table_libc);
	RUN(test_table_ldso);
	RUN(test_table_debug_frame);
	RUN(test_table_errors);
	RUN(test_readelf_rust);
	RUN(test_readelf_libc);
	RUN(test_readelf_debug_frame);
	RUN(test_build_time);
	RUN(test_unwind_chain);
	RUN(test_unwind_chain_fp);
	RUN(test_unwind_spin);
	RUN(test_unwind_entry);
	RUN(test_unwind_entry_fp);
	RUN(test_unwind_recurse_max);
	RUN(test_unwind_recurse_full);
	RUN(test_unwind_thread);
	RUN(test_unwind_debug_frame);
	free_tables();
	CHECK_DONE();
}
