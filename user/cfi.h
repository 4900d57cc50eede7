/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Compact DWARF-CFI unwind tables (struct rp_cfi_row, include/rsprobe.h) built
 * from an object's .eh_frame / .debug_frame, and a reference unwinder over
 * them that does what the BPF unwinder does, step for step.
 */
#ifndef RP_CFI_H
#define RP_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rsprobe.h"

struct cfi_table {
	struct rp_cfi_row *rows;	/* sorted by pc, last one RP_CFA_END */
	size_t n;
};

/* What the builder saw, for diagnostics and tests. */
struct cfi_stats {
	size_t fdes;		/* FDEs turned into rows */
	size_t fdes_debug_frame;	/* of which from .debug_frame */
	size_t fdes_skipped;	/* overlapping, empty or undecodable FDEs */
	size_t rows_in;		/* CFI rows before merging */
	/* Why rows became RP_CFA_UNSUPPORTED (counted before merging). */
	size_t unsup_cfa_expr;	/* CFA by an expression other than the PLT one */
	size_t unsup_cfa_reg;	/* CFA = a register other than rsp/rbp */
	size_t unsup_range;	/* an offset that does not fit in 16 bits */
	size_t unsup_ra;	/* return address not at CFA - 8 */
	size_t unsup_rbp;	/* rbp saved in a register or by an expression */
	size_t unsup_signal;	/* signal trampolines (exact-pc return) */
	size_t unsup_error;	/* libdw could not evaluate the row */
	size_t rbp_undefined;	/* rbp undefined but RA defined: kept as SAME */
};

/*
 * Build the unwind table of the ELF file at path (x86-64). Returns 0, or a
 * negative errno: -ENOENT/-EACCES (open), -ENOEXEC (not ELF), -ENOTSUP (not
 * x86-64), -ENODATA (no CFI at all), -ERANGE (code above 4 GiB).
 * stats may be NULL.
 */
int cfi_table__build_stats(const char *path, struct cfi_table *out, struct cfi_stats *stats);
int cfi_table__build(const char *path, struct cfi_table *out);
void cfi_table__free(struct cfi_table *t);
/* The row covering vaddr: NULL below the first row, an END row in gaps. */
const struct rp_cfi_row *cfi_table__find(const struct cfi_table *t, uint64_t vaddr);

/*
 * Where functions start in a stripped object: the address range of each
 * .eh_frame FDE (one per function, as compilers emit them), sorted by start.
 * 0 or a negative errno (-ENODATA: no .eh_frame). *out is freed by the caller.
 */
struct cfi_func {
	uint64_t start, end;	/* ELF vaddrs [start, end) */
};

int cfi_func_ranges(const char *path, struct cfi_func **out, size_t *n);
/* The range containing vaddr, or NULL. */
const struct cfi_func *cfi_func_find(const struct cfi_func *f, size_t n, uint64_t vaddr);

/* One mapped object of the target: runtime [start, end) uses table. */
struct cfi_map {
	uint64_t start, end;
	uint64_t bias;			/* runtime address - ELF vaddr */
	const struct cfi_table *table;
};

struct cfi_unwind_ctx {
	const struct cfi_map *maps;	/* sorted by start, not overlapping */
	size_t nmaps;
	/* Read the 8 bytes at addr of the target. 0 or a negative errno. */
	int (*read)(void *arg, uint64_t addr, uint64_t *val);
	void *arg;
};

/* Why a walk ended. */
enum cfi_stop {
	CFI_STOP_OUTERMOST,	/* a row with the return address undefined (_start, clone) */
	CFI_STOP_RA_ZERO,	/* a return address of 0 */
	CFI_STOP_MAX,		/* pcs[] was full and there was another frame */
	CFI_STOP_NO_MAP,	/* pc in no mapped object */
	CFI_STOP_NO_CFI,	/* pc in a gap of its object's table (RP_CFA_END) */
	CFI_STOP_UNSUPPORTED,	/* an RP_CFA_UNSUPPORTED row */
	CFI_STOP_READ,		/* stack memory could not be read */
	CFI_STOP_BAD_CFA,	/* the CFA was not above sp: a corrupt walk */
};

/* A walk that reached the outermost frame: the whole stack is in pcs[]. */
static inline bool cfi_stop_complete(enum cfi_stop s)
{
	return s == CFI_STOP_OUTERMOST || s == CFI_STOP_RA_ZERO;
}

const char *cfi_stop_str(enum cfi_stop s);

/*
 * Unwind from the registers ip, sp, bp of a stopped thread. pcs[0] is the
 * return address into the caller of the function containing ip, pcs[1] its
 * caller's, and so on: ip itself is not stored. Rows are looked up at ip for
 * the first frame and at pc - 1 after it (a return address may be the first
 * byte of the next function). Returns the number of pcs written (0..max);
 * *stop (may be NULL) says why the walk ended.
 *
 * One step, as the BPF side must do it:
 *   row = the row of (first ? pc : pc - 1) - bias of the map holding it
 *   no map: NO_MAP; no row or END: NO_CFI
 *   rbp_type UNDEFINED: OUTERMOST (checked before cfa_type: such a row's
 *     CFA may be UNSUPPORTED, it does not matter)
 *   CFA = rsp + cfa_off | rbp + cfa_off | PLT: rsp + 8 + ((pc & 15) >= 11 ? 8 : 0)
 *     (pc itself, not pc - 1); UNSUPPORTED: stop
 *   CFA <= rsp: BAD_CFA (stacks grow down; this also bounds garbage walks)
 *   ra = [CFA - 8]; rbp = rbp_type OFFSET ? [CFA + rbp_off] : rbp
 *   ra == 0: RA_ZERO; pcs full: MAX; else pcs[n++] = ra, rsp = CFA, pc = ra
 */
int cfi_unwind_stop(const struct cfi_unwind_ctx *ctx, uint64_t ip, uint64_t sp, uint64_t bp,
		    uint64_t *pcs, int max, enum cfi_stop *stop);
int cfi_unwind(const struct cfi_unwind_ctx *ctx, uint64_t ip, uint64_t sp, uint64_t bp,
	       uint64_t *pcs, int max);

#endif
