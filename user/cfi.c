// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * DWARF-CFI unwind tables for the BPF unwinder, and the same unwinder in C.
 *
 * libdw interprets the CFI: for every FDE we ask it for the frame state at
 * the FDE's first address, then at the end of that row, and so on
 * (dwarf_cfi_addrframe + dwarf_frame_info), and reduce each state to the few
 * rules x86-64 code uses: CFA = rsp or rbp + offset (or the PLT expression),
 * return address at CFA - 8, caller's rbp unchanged or saved at CFA + offset.
 * Everything else becomes RP_CFA_UNSUPPORTED, where the BPF walk stops.
 *
 * libdw has no iterator over FDE address ranges, so the ranges are decoded
 * here from dwarf_next_cfi's raw entries with their CIE's pointer encoding.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfi.h"
#include "util.h"

/* x86-64 DWARF register numbers (psABI, "DWARF Register Number Mapping"). */
#define DWREG_RBP 6
#define DWREG_RSP 7
#define DWREG_RA 16

struct fde_range {
	uint64_t start, end;
	Dwarf_CFI *cfi;		/* of the section it came from: rows come from there */
};

struct cie_enc {
	Dwarf_Off off;
	uint8_t enc;		/* DW_EH_PE_* encoding of its FDEs' addresses */
};

/* A CFI section being enumerated. */
struct cfi_section {
	Elf_Data *data;
	uint64_t addr;		/* sh_addr: pc-relative pointers are relative to it */
	bool eh;		/* .eh_frame, else .debug_frame */
	Dwarf_CFI *cfi;
	struct cie_enc *cies;	/* CIEs seen, few per object */
	size_t ncies, cap_cies;
};

struct builder {
	const unsigned char *ident;
	struct fde_range *fdes;
	size_t nfdes, cap_fdes;
	struct rp_cfi_row *rows;
	size_t nrows, cap_rows;
	struct cfi_stats st;
};

/* ---- decoding FDE address ranges ---- */

static int read_leb(const uint8_t **pp, const uint8_t *end, bool sign, uint64_t *val)
{
	const uint8_t *p = *pp;
	unsigned int shift = 0;
	uint64_t v = 0;
	uint8_t byte;

	do {
		if (p >= end || shift >= 64)
			return -EINVAL;
		byte = *p++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	if (sign && shift < 64 && (byte & 0x40))
		v |= ~0ULL << shift;
	*pp = p;
	*val = v;
	return 0;
}

/* CFI sections of an x86-64 object are little endian. */
static int read_fixed(const uint8_t **pp, const uint8_t *end, size_t size, bool sign,
		      uint64_t *val)
{
	uint64_t v = 0;
	size_t i;

	if ((size_t)(end - *pp) < size)
		return -EINVAL;
	for (i = 0; i < size; i++)
		v |= (uint64_t)(*pp)[i] << (8 * i);
	if (sign && size < 8 && (v >> (8 * size - 1)) & 1)
		v |= ~0ULL << (8 * size);
	*pp += size;
	*val = v;
	return 0;
}

/* A value in the format part (low 4 bits) of a DW_EH_PE_* encoding. */
static int read_format(const uint8_t **pp, const uint8_t *end, uint8_t enc, uint64_t *val)
{
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
		return read_fixed(pp, end, 8, false, val);
	case DW_EH_PE_sdata8:
		return read_fixed(pp, end, 8, true, val);
	case DW_EH_PE_udata4:
		return read_fixed(pp, end, 4, false, val);
	case DW_EH_PE_sdata4:
		return read_fixed(pp, end, 4, true, val);
	case DW_EH_PE_udata2:
		return read_fixed(pp, end, 2, false, val);
	case DW_EH_PE_sdata2:
		return read_fixed(pp, end, 2, true, val);
	case DW_EH_PE_uleb128:
		return read_leb(pp, end, false, val);
	case DW_EH_PE_sleb128:
		return read_leb(pp, end, true, val);
	default:
		return -ENOTSUP;
	}
}

/* An FDE's initial location: only absolute and pc-relative occur there. */
static int read_pointer(const struct cfi_section *s, const uint8_t **pp, const uint8_t *end,
			uint8_t enc, uint64_t *val)
{
	uint64_t here = s->addr + (uint64_t)(*pp - (const uint8_t *)s->data->d_buf);
	int err = read_format(pp, end, enc, val);

	if (err)
		return err;
	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
		return 0;
	case DW_EH_PE_pcrel:
		*val += here;
		return 0;
	default:
		return -ENOTSUP;
	}
}

/*
 * The 'R' augmentation of a CIE gives its FDEs' pointer encoding. Without a
 * 'z' string (.debug_frame) pointers are absolute, address-sized.
 */
static int cie_fde_encoding(const Dwarf_CIE *cie, uint8_t *enc)
{
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p + cie->augmentation_data_size;
	const char *a = cie->augmentation;
	uint64_t skip;

	*enc = DW_EH_PE_absptr;
	if (a[0] != 'z')
		return 0;
	for (a++; *a; a++) {
		if (*a == 'S' || *a == 'B')
			continue;
		if (p >= end)
			return -EINVAL;
		if (*a == 'R') {
			*enc = *p;
			return 0;
		}
		if (*a == 'L') {
			p++;
		} else if (*a == 'P') {
			uint8_t penc = *p++;

			/* 'aligned' would need the field's address; never seen in 'P' */
			if ((penc & 0x70) == DW_EH_PE_aligned || read_format(&p, end, penc, &skip))
				return -ENOTSUP;
		} else {
			return -ENOTSUP;
		}
	}
	return 0;
}

static int cie_encoding(struct builder *b, struct cfi_section *s, Dwarf_Off off, uint8_t *enc)
{
	Dwarf_CFI_Entry e;
	Dwarf_Off next;
	size_t i;
	int err;

	for (i = 0; i < s->ncies; i++) {
		if (s->cies[i].off == off) {
			*enc = s->cies[i].enc;
			return 0;
		}
	}
	if (dwarf_next_cfi(b->ident, s->data, s->eh, off, &next, &e) || !dwarf_cfi_cie_p(&e))
		return -EINVAL;
	err = cie_fde_encoding(&e.cie, enc);
	if (err)
		return err;
	ARR_RESERVE(s->cies, s->cap_cies, s->ncies + 1);
	s->cies[s->ncies++] = (struct cie_enc){ .off = off, .enc = *enc };
	return 0;
}

static void add_fde(struct builder *b, struct cfi_section *s, const Dwarf_FDE *fde)
{
	const uint8_t *p = fde->start;
	uint64_t start, len;
	uint8_t enc;

	/*
	 * A start of 0 is an FDE of code the linker discarded (its relocation
	 * resolved to nothing); no object maps code at vaddr 0.
	 */
	if (cie_encoding(b, s, fde->CIE_pointer, &enc) ||
	    read_pointer(s, &p, fde->end, enc, &start) ||
	    read_format(&p, fde->end, enc, &len) || !len || !start || start + len < start) {
		b->st.fdes_skipped++;
		return;
	}
	ARR_RESERVE(b->fdes, b->cap_fdes, b->nfdes + 1);
	b->fdes[b->nfdes++] = (struct fde_range){ .start = start, .end = start + len, .cfi = s->cfi };
}

static void section_fdes(struct builder *b, struct cfi_section *s)
{
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	int rc;

	for (;;) {
		next = (Dwarf_Off)-1;
		rc = dwarf_next_cfi(b->ident, s->data, s->eh, off, &next, &e);
		if (rc > 0)
			break;
		if (rc < 0) {
			/* libdw sets next when the bad entry can be stepped over */
			b->st.fdes_skipped++;
			if (next == (Dwarf_Off)-1 || next <= off)
				break;
		} else if (!dwarf_cfi_cie_p(&e)) {
			add_fde(b, s, &e.fde);
		}
		off = next;
	}
	free(s->cies);
	s->cies = NULL;
	s->ncies = s->cap_cies = 0;
}

/* ---- rows ---- */

static bool fits_s16(int64_t v)
{
	return v >= INT16_MIN && v <= INT16_MAX;
}

static bool op_breg(const Dwarf_Op *op, int *reg, int64_t *off)
{
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		*reg = op->atom - DW_OP_breg0;
		*off = (int64_t)op->number;
		return true;
	}
	/* libdw reports DW_CFA_def_cfa rules as DW_OP_bregx reg, offset */
	if (op->atom == DW_OP_bregx) {
		*reg = (int)op->number;
		*off = (int64_t)op->number2;
		return true;
	}
	return false;
}

/*
 * The CFA of GNU ld's lazy PLT entries (16 bytes: jmp *got; push $n; jmp
 * plt0): once the push at offset 11 has run there is one more word on the
 * stack, so CFA = rsp + 8, plus 8 when (rip & 15) >= 11.
 */
static bool is_plt_expr(const Dwarf_Op *ops, size_t n)
{
	static const uint8_t want[] = {
		DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, DW_OP_lit11,
		DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus,
	};
	size_t i;

	if (n != ARRAY_SIZE(want))
		return false;
	for (i = 0; i < n; i++) {
		if (ops[i].atom != want[i])
			return false;
	}
	return ops[0].number == 8 && ops[1].number == 0;
}

static const struct rp_cfi_row unsupported_row = { .cfa_type = RP_CFA_UNSUPPORTED };

/* Fill row's CFA rule; false (and a reason counted) if it has none we can use. */
static bool cfa_rule(struct builder *b, Dwarf_Frame *frame, struct rp_cfi_row *row)
{
	Dwarf_Op *ops;
	size_t n;
	int64_t off;
	int reg;

	if (dwarf_frame_cfa(frame, &ops, &n) || !n) {
		b->st.unsup_error++;
		return false;
	}
	if (is_plt_expr(ops, n)) {
		row->cfa_type = RP_CFA_PLT;
		row->cfa_off = 8;
		return true;
	}
	if (n != 1 || !op_breg(&ops[0], &reg, &off)) {
		b->st.unsup_cfa_expr++;
		return false;
	}
	if (reg != DWREG_RSP && reg != DWREG_RBP) {
		b->st.unsup_cfa_reg++;
		return false;
	}
	if (off < INT32_MIN || off > INT32_MAX) {
		b->st.unsup_range++;
		return false;
	}
	row->cfa_type = reg == DWREG_RSP ? RP_CFA_RSP : RP_CFA_RBP;
	row->cfa_off = (__s32)off;
	return true;
}

enum reg_rule {
	RULE_SAME,		/* same value, or unspecified callee-saved */
	RULE_UNDEFINED,
	RULE_AT_CFA,		/* saved at CFA + off */
	RULE_OTHER,		/* in another register, an expression, a value */
};

static enum reg_rule reg_rule(Dwarf_Frame *frame, int regno, int64_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t n;

	if (dwarf_frame_register(frame, regno, mem, &ops, &n))
		return RULE_OTHER;
	/* libdw: no ops and a NULL pointer is same_value, else undefined */
	if (!n)
		return ops ? RULE_UNDEFINED : RULE_SAME;
	/* offset(N) comes as call_frame_cfa [, plus_uconst N] (N two's complement) */
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return RULE_OTHER;
	*off = 0;
	if (n == 1)
		return RULE_AT_CFA;
	if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return RULE_AT_CFA;
	}
	return RULE_OTHER;
}

static bool rbp_rule(struct builder *b, Dwarf_Frame *frame, struct rp_cfi_row *row)
{
	int64_t off;

	switch (reg_rule(frame, DWREG_RBP, &off)) {
	case RULE_SAME:
		return true;
	case RULE_UNDEFINED:
		/* Only a frame whose caller uses rbp as CFA base would need it. */
		b->st.rbp_undefined++;
		return true;
	case RULE_AT_CFA:
		if (!fits_s16(off))
			break;
		row->rbp_type = RP_RBP_OFFSET;
		row->rbp_off = (__s16)off;
		return true;
	default:
		break;
	}
	b->st.unsup_rbp++;
	return false;
}

/* ra: the return address column (dwarf_frame_info), signal: a signal frame */
static struct rp_cfi_row row_from_frame(struct builder *b, Dwarf_Frame *frame, int ra,
					bool signal)
{
	struct rp_cfi_row row = { 0 };
	int64_t off = 0;

	/* A signal frame's return address is an exact pc: no "- 1" lookup. */
	if (signal) {
		b->st.unsup_signal++;
		return unsupported_row;
	}
	if (!cfa_rule(b, frame, &row))
		row = unsupported_row;
	switch (ra == DWREG_RA ? reg_rule(frame, DWREG_RA, &off) : RULE_OTHER) {
	case RULE_UNDEFINED:
		/* outermost: the CFA does not matter, the walk ends here */
		row.rbp_type = RP_RBP_UNDEFINED;
		return row;
	case RULE_AT_CFA:
		if (off == -8)
			break;
		/* fallthrough */
	default:
		b->st.unsup_ra += row.cfa_type != RP_CFA_UNSUPPORTED;
		return unsupported_row;
	}
	if (row.cfa_type == RP_CFA_UNSUPPORTED || !rbp_rule(b, frame, &row))
		return unsupported_row;
	return row;
}

static void push_row(struct builder *b, uint64_t pc, struct rp_cfi_row row)
{
	row.pc = (__u32)pc;
	ARR_RESERVE(b->rows, b->cap_rows, b->nrows + 1);
	b->rows[b->nrows++] = row;
}

/* Rows of one FDE from pc (its start, or later when FDEs overlap). */
static int fde_rows(struct builder *b, const struct fde_range *f, uint64_t pc)
{
	Dwarf_Frame *frame;
	Dwarf_Addr start, end;
	bool signal = false;
	int ra;

	if (f->end > UINT32_MAX)
		return -ERANGE;
	while (pc < f->end) {
		/* libdw runs the CIE and FDE instructions up to pc: the row there */
		if (dwarf_cfi_addrframe(f->cfi, pc, &frame)) {
			b->st.unsup_error++;
			push_row(b, pc, unsupported_row);
			return 0;
		}
		end = 0;
		ra = dwarf_frame_info(frame, &start, &end, &signal);
		push_row(b, pc, row_from_frame(b, frame, ra, signal));
		b->st.rows_in++;
		free(frame);
		/* end is where the next row starts (the FDE's end for its last row) */
		if (end <= pc)
			break;
		pc = end;
	}
	return 0;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct fde_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static int build_rows(struct builder *b)
{
	uint64_t end = 0;
	bool any = false;
	size_t i;
	int err;

	if (b->nfdes)	/* qsort(NULL, 0) is undefined */
		qsort(b->fdes, b->nfdes, sizeof(*b->fdes), cmp_fde);
	for (i = 0; i < b->nfdes; i++) {
		const struct fde_range *f = &b->fdes[i];
		uint64_t pc = f->start;

		if (any && f->end <= end) {
			b->st.fdes_skipped++;
			continue;
		}
		if (any && pc < end)
			pc = end;	/* overlap: the earlier FDE keeps its range */
		if (any && pc != end)
			push_row(b, end, (struct rp_cfi_row){ .cfa_type = RP_CFA_END });
		err = fde_rows(b, f, pc);
		if (err)
			return err;
		b->st.fdes++;
		end = f->end;
		any = true;
	}
	if (!any)
		return -ENODATA;
	push_row(b, end, (struct rp_cfi_row){ .cfa_type = RP_CFA_END });
	return 0;
}

static bool same_rule(const struct rp_cfi_row *a, const struct rp_cfi_row *b)
{
	return a->cfa_type == b->cfa_type && a->cfa_off == b->cfa_off &&
	       a->rbp_type == b->rbp_type && a->rbp_off == b->rbp_off;
}

/* Drop empty ranges (a later row at the same pc wins) and merge equal neighbours. */
static void compact_rows(struct builder *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->nrows; i++) {
		const struct rp_cfi_row *r = &b->rows[i];

		if (i + 1 < b->nrows && b->rows[i + 1].pc == r->pc)
			continue;
		if (n && same_rule(&b->rows[n - 1], r))
			continue;
		b->rows[n++] = *r;
	}
	b->nrows = n;
}

/* ---- sections ---- */

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	const char *s;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, sh->sh_name);
		if (s && !strcmp(s, name))
			return scn;
	}
	return NULL;
}

static bool section_data(Elf *elf, const char *name, struct cfi_section *s)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(elf, name, &sh);

	if (!scn || !(s->data = elf_getdata(scn, NULL)) || !s->data->d_size)
		return false;
	s->addr = sh.sh_addr;
	return true;
}

static bool overlaps(const struct fde_range *sorted, size_t n, const struct fde_range *f)
{
	size_t lo = 0, hi = n;

	/* first range ending after f->start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sorted[mid].end <= f->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sorted[lo].start < f->end;
}

/*
 * .debug_frame fills only what .eh_frame leaves out (code built with
 * -fno-asynchronous-unwind-tables): where both describe a function, the
 * .eh_frame is what the program itself unwinds with.
 */
static void add_debug_frame(struct builder *b, Elf *elf, Dwarf *dw)
{
	struct cfi_section s = { .eh = false };
	size_t neh = b->nfdes, i;

	s.cfi = dwarf_getcfi(dw);
	/* after dwarf_begin_elf: it decompresses SHF_COMPRESSED sections in place */
	if (!s.cfi || !section_data(elf, ".debug_frame", &s))
		return;
	if (neh)
		qsort(b->fdes, neh, sizeof(*b->fdes), cmp_fde);
	section_fdes(b, &s);
	for (i = neh; i < b->nfdes; i++) {
		if (overlaps(b->fdes, neh, &b->fdes[i])) {
			b->fdes[i--] = b->fdes[--b->nfdes];
			continue;
		}
		b->st.fdes_debug_frame++;
	}
}

static int check_elf(Elf *elf)
{
	GElf_Ehdr eh;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		return -ENOEXEC;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
		return -ENOTSUP;
	return 0;
}

static int build_elf(struct builder *b, Elf *elf)
{
	struct cfi_section eh = { .eh = true };
	Dwarf_CFI *ehcfi = NULL;
	Dwarf *dw;
	int err;

	err = check_elf(elf);
	if (err)
		return err;
	b->ident = (const unsigned char *)elf_getident(elf, NULL);
	if (section_data(elf, ".eh_frame", &eh) && (ehcfi = dwarf_getcfi_elf(elf))) {
		eh.cfi = ehcfi;
		section_fdes(b, &eh);
	}
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (dw)
		add_debug_frame(b, elf, dw);
	err = build_rows(b);
	if (!err)
		compact_rows(b);
	if (dw)
		dwarf_end(dw);
	if (ehcfi)
		dwarf_cfi_end(ehcfi);
	return err;
}

int cfi_table__build_stats(const char *path, struct cfi_table *out, struct cfi_stats *stats)
{
	struct builder b = { 0 };
	Elf *elf;
	int fd, err;

	out->rows = NULL;
	out->n = 0;
	fd = rp_open_file(path);
	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	err = elf ? build_elf(&b, elf) : -ENOEXEC;
	if (elf)
		elf_end(elf);
	close(fd);
	free(b.fdes);
	if (stats)
		*stats = b.st;
	if (err) {
		free(b.rows);
		return err;
	}
	out->rows = xrealloc(b.rows, b.nrows * sizeof(*b.rows));
	out->n = b.nrows;
	return 0;
}

int cfi_table__build(const char *path, struct cfi_table *out)
{
	return cfi_table__build_stats(path, out, NULL);
}

void cfi_table__free(struct cfi_table *t)
{
	free(t->rows);
	t->rows = NULL;
	t->n = 0;
}

const struct rp_cfi_row *cfi_table__find(const struct cfi_table *t, uint64_t vaddr)
{
	size_t lo = 0, hi = t->n;

	if (vaddr > UINT32_MAX)
		return NULL;
	/* the last row with pc <= vaddr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].pc <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}

/* ---- function ranges ---- */

int cfi_func_ranges(const char *path, struct cfi_func **out, size_t *n)
{
	struct cfi_section eh = { .eh = true };
	struct builder b = { 0 };
	size_t i, k = 0;
	Elf *elf;
	int fd, err;

	*out = NULL;
	*n = 0;
	fd = rp_open_file(path);
	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	err = elf ? check_elf(elf) : -ENOEXEC;
	if (!err) {
		b.ident = (const unsigned char *)elf_getident(elf, NULL);
		/* Only the FDE headers are read: no CFI program is evaluated. */
		if (section_data(elf, ".eh_frame", &eh))
			section_fdes(&b, &eh);
		else
			err = -ENODATA;
	}
	if (elf)
		elf_end(elf);
	close(fd);
	if (!err && b.nfdes) {
		qsort(b.fdes, b.nfdes, sizeof(*b.fdes), cmp_fde);
		*out = xmalloc(b.nfdes * sizeof(**out));
		for (i = 0; i < b.nfdes; i++) {
			/* Duplicates (same start) keep the first, the shortest. */
			if (k && (*out)[k - 1].start == b.fdes[i].start)
				continue;
			(*out)[k].start = b.fdes[i].start;
			(*out)[k++].end = b.fdes[i].end;
		}
		*n = k;
	}
	free(b.fdes);
	return err;
}

const struct cfi_func *cfi_func_find(const struct cfi_func *f, size_t n, uint64_t vaddr)
{
	size_t lo = 0, hi = n;

	/* the last range starting at or below vaddr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || vaddr >= f[lo - 1].end)
		return NULL;
	return &f[lo - 1];
}

/* ---- the reference unwinder ---- */

const char *cfi_stop_str(enum cfi_stop s)
{
	static const char *const names[] = {
		[CFI_STOP_OUTERMOST] = "outermost",
		[CFI_STOP_RA_ZERO] = "ra-zero",
		[CFI_STOP_MAX] = "max",
		[CFI_STOP_NO_MAP] = "no-map",
		[CFI_STOP_NO_CFI] = "no-cfi",
		[CFI_STOP_UNSUPPORTED] = "unsupported",
		[CFI_STOP_READ] = "read",
		[CFI_STOP_BAD_CFA] = "bad-cfa",
	};

	return (unsigned int)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static const struct cfi_map *find_map(const struct cfi_unwind_ctx *ctx, uint64_t addr)
{
	size_t lo = 0, hi = ctx->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ctx->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || addr >= ctx->maps[lo - 1].end)
		return NULL;
	return &ctx->maps[lo - 1];
}

struct uregs {
	uint64_t ip, sp, bp;
};

static const struct rp_cfi_row *lookup(const struct cfi_unwind_ctx *ctx, uint64_t pc,
				       enum cfi_stop *why)
{
	const struct cfi_map *m = find_map(ctx, pc);
	const struct rp_cfi_row *row;

	if (!m) {
		*why = CFI_STOP_NO_MAP;
		return NULL;
	}
	row = cfi_table__find(m->table, pc - m->bias);
	if (!row || row->cfa_type == RP_CFA_END) {
		*why = CFI_STOP_NO_CFI;
		return NULL;
	}
	/* Outermost rows are checked first: their CFA may be anything. */
	if (row->rbp_type == RP_RBP_UNDEFINED) {
		*why = CFI_STOP_OUTERMOST;
		return NULL;
	}
	return row;
}

/* From r's frame to its caller's. false with *why set when the walk ends. */
static bool step(const struct cfi_unwind_ctx *ctx, struct uregs *r, bool first,
		 enum cfi_stop *why)
{
	const struct rp_cfi_row *row = lookup(ctx, first ? r->ip : r->ip - 1, why);
	uint64_t cfa, ra, bp = r->bp;

	if (!row)
		return false;
	switch (row->cfa_type) {
	case RP_CFA_RSP:
		cfa = r->sp + (int64_t)row->cfa_off;
		break;
	case RP_CFA_RBP:
		cfa = r->bp + (int64_t)row->cfa_off;
		break;
	case RP_CFA_PLT:
		cfa = r->sp + 8 + ((r->ip & 15) >= 11 ? 8 : 0);
		break;
	default:
		*why = CFI_STOP_UNSUPPORTED;
		return false;
	}
	/* Callers' frames are above: anything else is a corrupt walk, maybe a loop. */
	if (cfa <= r->sp) {
		*why = CFI_STOP_BAD_CFA;
		return false;
	}
	if (ctx->read(ctx->arg, cfa - 8, &ra) ||
	    (row->rbp_type == RP_RBP_OFFSET &&
	     ctx->read(ctx->arg, cfa + (int64_t)row->rbp_off, &bp))) {
		*why = CFI_STOP_READ;
		return false;
	}
	if (!ra) {
		*why = CFI_STOP_RA_ZERO;
		return false;
	}
	*r = (struct uregs){ .ip = ra, .sp = cfa, .bp = bp };
	return true;
}

int cfi_unwind_stop(const struct cfi_unwind_ctx *ctx, uint64_t ip, uint64_t sp, uint64_t bp,
		    uint64_t *pcs, int max, enum cfi_stop *stop)
{
	struct uregs r = { .ip = ip, .sp = sp, .bp = bp };
	enum cfi_stop why;
	int n = 0;

	while (step(ctx, &r, n == 0, &why)) {
		/* checked after the step, so that a full stack still reads as complete */
		if (n >= max) {
			why = CFI_STOP_MAX;
			break;
		}
		pcs[n++] = r.ip;
	}
	if (stop)
		*stop = why;
	return n;
}

int cfi_unwind(const struct cfi_unwind_ctx *ctx, uint64_t ip, uint64_t sp, uint64_t bp,
	       uint64_t *pcs, int max)
{
	return cfi_unwind_stop(ctx, ip, sp, bp, pcs, max, NULL);
}
