// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ELF objects the target maps: symbol tables, build IDs, allocator shims. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <demangle.h>

#include "elfobj.h"
#include "insn.h"
#include "util.h"

static const char *const shim_names[SHIM_MAX] = {
	[SHIM_ALLOC] = "__rust_alloc",
	[SHIM_ALLOC_ZEROED] = "__rust_alloc_zeroed",
	[SHIM_REALLOC] = "__rust_realloc",
	[SHIM_DEALLOC] = "__rust_dealloc",
};

const char *shim_name(enum shim_kind k)
{
	return shim_names[k];
}

static const char *const libc_names[LIBC_MAX] = {
	[LIBC_MALLOC] = "malloc",
	[LIBC_CALLOC] = "calloc",
	[LIBC_REALLOC] = "realloc",
	[LIBC_FREE] = "free",
	[LIBC_POSIX_MEMALIGN] = "posix_memalign",
	[LIBC_ALIGNED_ALLOC] = "aligned_alloc",
	[JE_MALLOCX] = "mallocx",
	[JE_RALLOCX] = "rallocx",
	[JE_SDALLOCX] = "sdallocx",
	[JE_DALLOCX] = "dallocx",
	[MI_MALLOC] = "mi_malloc",
	[MI_ZALLOC] = "mi_zalloc",
	[MI_CALLOC] = "mi_calloc",
	[MI_MALLOC_ALIGNED] = "mi_malloc_aligned",
	[MI_ZALLOC_ALIGNED] = "mi_zalloc_aligned",
	[MI_REALLOC] = "mi_realloc",
	[MI_REALLOC_ALIGNED] = "mi_realloc_aligned",
	[MI_FREE] = "mi_free",
};

const char *libc_fn_name(enum libc_fn k)
{
	return libc_names[k];
}

bool elf_object__has_libc_alloc(const struct elf_object *o)
{
	return o->libc_off[LIBC_MALLOC] && o->libc_off[LIBC_FREE];
}

bool elf_object__has_jemalloc(const struct elf_object *o)
{
	return o->libc_off[JE_MALLOCX] && (o->libc_off[JE_SDALLOCX] || o->libc_off[JE_DALLOCX]);
}

bool elf_object__has_mimalloc(const struct elf_object *o)
{
	return o->libc_off[MI_MALLOC] && o->libc_off[MI_FREE];
}

/*
 * Legacy: the plain C name. v0 (rustc >= 1.85 or so): the shims live in the
 * crate root "__rustc" with a per-build disambiguator:
 *   _RNvCs<hash>_7___rustc12___rust_alloc
 * i.e. "_RNvC", optional "s<base62>_", then "7_" "__rustc", then <len> "_" <name>
 * (v0 separates a length from an identifier that starts with '_').
 */
int shim_kind_of(const char *name)
{
	int k;

	if (name[0] != '_')
		return -1;
	if (name[1] == '_') {
		for (k = 0; k < SHIM_MAX; k++)
			if (!strcmp(name, shim_names[k]))
				return k;
		return -1;
	}
	if (strncmp(name, "_RNvC", 5))
		return -1;
	name += 5;
	if (*name == 's') {
		name = strchr(name, '_');
		if (!name)
			return -1;
		name++;
	}
	if (strncmp(name, "7___rustc", 9))
		return -1;
	name += 9;
	for (k = 0; k < SHIM_MAX; k++) {
		char want[40];

		/* An identifier starting with '_' gets a '_' separator after its length. */
		snprintf(want, sizeof(want), "%zu_%s", strlen(shim_names[k]), shim_names[k]);
		if (!strcmp(name, want))
			return k;
	}
	return -1;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Prefer the sized symbol, then the longer (more specific) name. */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return 0;
}

static void read_build_id(Elf *elf, char *build_id)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + doff;
			size_t i;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((char *)d->d_buf + noff, "GNU", 4))
				continue;
			for (i = 0; i < nh.n_descsz && i < 20; i++)
				snprintf(build_id + 2 * i, 3, "%02x", desc[i]);
			return;
		}
	}
}

static int libc_kind_of(const char *name)
{
	int k;

	/* jemalloc built with a prefix (as Rust's jemalloc crates do it). */
	if (!strncmp(name, "_rjem_", 6))
		name += 6;
	if (name[0] != 'm' && name[0] != 'c' && name[0] != 'r' && name[0] != 'f' &&
	    name[0] != 'p' && name[0] != 'a' && name[0] != 's' && name[0] != 'd')
		return -1;
	for (k = 0; k < LIBC_MAX; k++)
		if (!strcmp(name, libc_names[k]))
			return k;
	return -1;
}

/* An undefined symbol: what the object imports tells which allocator it uses. */
static void check_import(struct elf_object *o, const char *name)
{
	int k = libc_kind_of(name);

	if (k >= JE_MALLOCX && k <= JE_DALLOCX)
		o->imports_jemalloc = true;
	else if (k >= MI_MALLOC)
		o->imports_mimalloc = true;
}

/* Record the file offset of an allocator symbol: what a uprobe is attached at. */
static void check_shim(struct elf_object *o, Elf *elf, const char *name, const GElf_Sym *s)
{
	int k = shim_kind_of(name), c = k < 0 ? libc_kind_of(name) : -1;
	Elf_Scn *scn;
	GElf_Shdr sh;
	Elf_Data *d;

	if ((k < 0 && c < 0) || (k >= 0 && o->shim_off[k]))
		return;
	scn = elf_getscn(elf, s->st_shndx);
	if (!scn || !gelf_getshdr(scn, &sh))
		return;
	if (c >= 0) {
		if (!o->libc_off[c] && GELF_ST_BIND(s->st_info) != STB_LOCAL)
			o->libc_off[c] = s->st_value - sh.sh_addr + sh.sh_offset;
		return;
	}
	o->shim_off[k] = s->st_value - sh.sh_addr + sh.sh_offset;
	o->shim_vaddr[k] = s->st_value;
	o->shim_v0 = name[1] == 'R';
	o->shim_probe_off[k] = o->shim_off[k];
	d = elf_getdata(scn, NULL);
	if (d && d->d_buf && s->st_value - sh.sh_addr < d->d_size) {
		size_t at = s->st_value - sh.sh_addr, len = d->d_size - at, skip;
		char why[200];

		if (s->st_size && s->st_size < len)
			len = s->st_size;
		else if (!s->st_size && len > 256)
			len = 256;
		/*
		 * x86 uprobes refuse to step an instruction with a LOCK or a
		 * segment prefix: a counting #[global_allocator] inlined into
		 * the shim starts it with `lock incq`. Probe further in.
		 */
		if (insn__probe_point((const uint8_t *)d->d_buf + at, len, s->st_value, &skip, why,
				      sizeof(why))) {
			o->shim_unprobeable[k] = true;
			o->shim_why[k] = xstrdup(why);
		} else {
			o->shim_probe_off[k] += skip;
		}
	}
}

/* Which shim starts at a (-1 for none). */
static int shim_at(const struct elf_object *o, uint64_t a)
{
	int k;

	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_vaddr[k] && o->shim_vaddr[k] == a)
			return k;
	return -1;
}

bool elf_object__shims_in_use(const struct elf_object *o)
{
	return o->shim_off[SHIM_ALLOC] && o->shim_off[SHIM_DEALLOC] &&
	       o->shim_refs[SHIM_ALLOC] && o->shim_refs[SHIM_DEALLOC] && !o->backend_refs;
}

struct got_slot {
	uint64_t slot, target;
};

struct ref_scan {
	struct got_slot *slots;		/* pointer-sized relocations, by slot */
	size_t nslots, cap;
	uint64_t backend[SHIM_MAX];	/* where each shim jumps to, 0 if not a thunk */
};

static int cmp_slot(const void *a, const void *b)
{
	const struct got_slot *x = a, *y = b;

	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static uint64_t slot_target(const struct ref_scan *rs, uint64_t slot)
{
	size_t lo = 0, hi = rs->nslots;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rs->slots[mid].slot < slot)
			lo = mid + 1;
		else if (rs->slots[mid].slot > slot)
			hi = mid;
		else
			return rs->slots[mid].target;
	}
	return 0;
}

/* Pointers the loader writes (RELATIVE relocations, symbol relocations). */
static void collect_slots(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct ref_scan *rs)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	Elf_Scn *symscn = elf_getscn(elf, sh->sh_link);
	Elf_Data *syms = symscn ? elf_getdata(symscn, NULL) : NULL;
	size_t i, cnt;

	if (!d || !sh->sh_entsize)
		return;
	cnt = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < cnt; i++) {
		GElf_Rela r;
		GElf_Sym sym;
		uint64_t target = 0;

		if (!gelf_getrela(d, i, &r))
			continue;
		if (GELF_R_TYPE(r.r_info) == R_X86_64_RELATIVE)
			target = (uint64_t)r.r_addend;
		else if (GELF_R_SYM(r.r_info) && syms &&
			 gelf_getsym(syms, GELF_R_SYM(r.r_info), &sym))
			target = sym.st_value;
		if (!target)
			continue;
		ARR_RESERVE(rs->slots, rs->cap, rs->nslots + 1);
		rs->slots[rs->nslots++] = (struct got_slot){ r.r_offset, target };
	}
}

/* A call or jump at p (section address a): its target, or 0. */
static uint64_t branch_target(const struct ref_scan *rs, const unsigned char *p, size_t left,
			      uint64_t a, size_t *len)
{
	int32_t rel;

	if ((p[0] == 0xe8 || p[0] == 0xe9) && left >= 5) {
		memcpy(&rel, p + 1, sizeof(rel));
		*len = 5;
		return a + 5 + (int64_t)rel;
	}
	/* call/jmp *disp32(%rip): through a GOT slot */
	if (p[0] == 0xff && (p[1] == 0x15 || p[1] == 0x25) && left >= 6) {
		memcpy(&rel, p + 2, sizeof(rel));
		*len = 6;
		return slot_target(rs, a + 6 + (int64_t)rel);
	}
	return 0;
}

/*
 * A shim that is a thunk (moves its arguments, then jumps to the allocator's
 * backend) names that backend: __rdl_alloc, or the #[global_allocator]'s
 * method.
 */
static void find_backends(struct elf_object *o, Elf_Scn *scn, const GElf_Shdr *sh,
			  struct ref_scan *rs)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	int k;

	if (!d || !d->d_buf)
		return;
	for (k = 0; k < SHIM_MAX; k++) {
		uint64_t v = o->shim_vaddr[k];
		size_t i, len;

		if (!v || v < sh->sh_addr || v >= sh->sh_addr + d->d_size)
			continue;
		for (i = v - sh->sh_addr; i < v - sh->sh_addr + 16 && i + 6 <= d->d_size; i++) {
			const unsigned char *p = (const unsigned char *)d->d_buf + i;

			if (p[0] == 0xc3 || p[0] == 0xe8)
				break;	/* a body, not a thunk */
			if (p[0] == 0xe9 || (p[0] == 0xff && p[1] == 0x25)) {
				rs->backend[k] = branch_target(rs, p, d->d_size - i, sh->sh_addr + i,
							       &len);
				break;
			}
		}
	}
}

/* The allocator's own code may call its backend; everyone else should not. */
static bool allocator_code(struct elf_object *o, uint64_t a)
{
	struct elf_sym *sym = elf_object__lookup(o, a);
	const char *n;

	if (!sym)
		return false;
	if (shim_at(o, sym->addr) >= 0)
		return true;
	n = elf_sym__name(sym);
	return strstr(n, "__rdl_") || strstr(n, "__rg_") ||
	       strstr(n, " as core::alloc::global::GlobalAlloc>::");
}

static void scan_branches(struct elf_object *o, Elf_Scn *scn, const GElf_Shdr *sh,
			  const struct ref_scan *rs)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	const unsigned char *p;
	size_t i, len;
	int k;

	if (!d || !d->d_buf)
		return;
	p = d->d_buf;
	for (i = 0; i + 5 <= d->d_size; i++) {
		uint64_t t, at = sh->sh_addr + i;

		if (p[i] != 0xe8 && p[i] != 0xe9 && p[i] != 0xff)
			continue;
		t = branch_target(rs, p + i, d->d_size - i, at, &len);
		if (!t)
			continue;
		k = shim_at(o, t);
		if (k >= 0) {
			o->shim_refs[k]++;
			continue;
		}
		for (k = 0; k < SHIM_MAX; k++)
			if (rs->backend[k] == t && !allocator_code(o, at)) {
				o->backend_refs++;
				o->backend_vaddr = t;
			}
	}
}

/*
 * Whether the shims carry the allocations: something calls them, and nothing
 * but them calls their backend. LTO inlines __rust_alloc into its callers,
 * which then call the backend (or malloc) directly; the shim symbols may
 * survive with few or no callers.
 */
static void count_shim_refs(struct elf_object *o, Elf *elf)
{
	struct ref_scan rs = {};
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_RELA)
			collect_slots(elf, scn, &sh, &rs);
	if (rs.nslots)
		qsort(rs.slots, rs.nslots, sizeof(*rs.slots), cmp_slot);
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR))
			find_backends(o, scn, &sh, &rs);
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR))
			scan_branches(o, scn, &sh, &rs);
	free(rs.slots);
}

/*
 * What rustc leaves in every object that links std or core, stripped or
 * not: the source paths of its panic locations (/rustc/<hash>/library/core/src/...,
 * or a distribution's /usr/src/rustc-<version>/library/...) and std's
 * RUST_BACKTRACE, in read-only data.
 */
static bool has_rust_marks(Elf *elf)
{
	static const char *const marks[] = {
		"/library/core/src/", "/library/std/src/", "/library/alloc/src/", "RUST_BACKTRACE",
	};
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t k;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || (sh.sh_flags & (SHF_EXECINSTR | SHF_WRITE)))
			continue;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf)
			continue;
		for (k = 0; k < ARRAY_SIZE(marks); k++)
			if (memmem(d->d_buf, d->d_size, marks[k], strlen(marks[k])))
				return true;
	}
	return false;
}

/* The bytes of executable code at vaddr, to the end of its section. */
static const uint8_t *code_at(Elf *elf, uint64_t vaddr, size_t *len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR) || vaddr < sh.sh_addr ||
		    vaddr >= sh.sh_addr + sh.sh_size)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || vaddr - sh.sh_addr >= d->d_size)
			return NULL;
		*len = d->d_size - (vaddr - sh.sh_addr);
		return (const uint8_t *)d->d_buf + (vaddr - sh.sh_addr);
	}
	return NULL;
}

/* The shim arguments each BPF program reads: size, align; ptr, _, _, new_size; ptr, size, align. */
static const uint8_t shim_args_used[SHIM_MAX] = {
	[SHIM_ALLOC] = 0x3, [SHIM_ALLOC_ZEROED] = 0x3, [SHIM_REALLOC] = 0x9, [SHIM_DEALLOC] = 0x7,
};

/*
 * A shim that only moves registers and jumps to a GlobalAlloc method: the
 * method, where it can be probed, and where the shim's arguments land.
 */
static void find_ga_method(struct elf_object *o, Elf *elf, int k)
{
	const uint8_t *code;
	struct elf_sym *m;
	uint64_t target, cookie = 0, off;
	size_t len, skip;
	int8_t from[6];
	char why[200];
	int arg, r;

	code = code_at(elf, o->shim_vaddr[k], &len);
	if (!code || insn__thunk(code, len < 64 ? len : 64, o->shim_vaddr[k], &target, from))
		return;
	m = elf_object__lookup(o, target);
	if (!m || m->addr != target || !m->size ||
	    !strstr(elf_sym__name(m), " as core::alloc::global::GlobalAlloc>::"))
		return;
	for (arg = 0; arg < 4; arg++) {
		int at = 0xf;

		for (r = 0; r < 6; r++)
			if (from[r] == arg)
				at = r;
		if ((shim_args_used[k] & (1u << arg)) && at == 0xf)
			return;	/* an argument the probe reads is lost */
		cookie |= (uint64_t)at << (4 * arg);
	}
	code = code_at(elf, target, &len);
	if (!code || len < m->size)
		return;
	if (insn__probe_point(code, m->size, target, &skip, why, sizeof(why)) ||
	    !elf_object__vaddr_to_off(o, target + skip, &off))
		return;
	o->ga_ok[k] = true;
	o->ga_vaddr[k] = target;
	o->ga_probe_off[k] = off;
	o->ga_cookie[k] = cookie;
}

/* No method calls another (GlobalAlloc's provided realloc calls alloc and dealloc). */
static void check_ga_nesting(struct elf_object *o, Elf *elf)
{
	int k;

	for (k = 0; k < SHIM_MAX; k++) {
		struct elf_sym *m;
		const uint8_t *code;
		size_t len;

		if (!o->ga_ok[k] || !(m = elf_object__lookup(o, o->ga_vaddr[k])))
			continue;
		code = code_at(elf, o->ga_vaddr[k], &len);
		if (!code || insn__branches_to(code, m->size < len ? m->size : len, o->ga_vaddr[k],
					       o->ga_vaddr, SHIM_MAX))
			memset(o->ga_ok, 0, sizeof(o->ga_ok));
	}
}

bool elf_object__ga_usable(const struct elf_object *o)
{
	int k;

	if (!o->shim_off[SHIM_ALLOC] || !o->shim_off[SHIM_DEALLOC])
		return false;
	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_off[k] && !o->ga_ok[k])
			return false;
	return true;
}

static void read_interp(Elf *elf, const GElf_Phdr *ph, struct elf_object *o)
{
	size_t size;
	const char *raw = elf_rawfile(elf, &size);

	/* The first PT_INTERP is the loader's; a second one is malformed. */
	if (o->interp || !raw || ph->p_offset >= size || ph->p_filesz > size - ph->p_offset ||
	    !ph->p_filesz)
		return;
	o->interp = strndup(raw + ph->p_offset, ph->p_filesz);
}

static void read_dynamic(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elf_object *o)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t i, n, cap = 0;
	const char *rpath = NULL;

	if (!d || !sh->sh_entsize)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		GElf_Dyn dyn;
		const char *str;

		if (!gelf_getdyn(d, i, &dyn))
			continue;
		if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH)
			continue;
		str = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);
		if (!str)
			continue;
		if (dyn.d_tag == DT_NEEDED) {
			ARR_RESERVE(o->needed, cap, o->nneeded + 1);
			o->needed[o->nneeded++] = xstrdup(str);
		} else if (dyn.d_tag == DT_RUNPATH || !rpath) {
			rpath = str;
		}
	}
	if (rpath)
		o->runpath = xstrdup(rpath);
}

static void add_symtab(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elf_object *o,
		       size_t *cap, char **strs, size_t *strs_len, size_t *strs_cap)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t i, n;

	if (!d || !sh->sh_entsize)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		GElf_Sym s;
		const char *name;
		int t;
		size_t len;
		struct elf_sym *es;

		if (!gelf_getsym(d, i, &s))
			continue;
		t = GELF_ST_TYPE(s.st_info);
		name = elf_strptr(elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		if (s.st_shndx == SHN_UNDEF) {
			check_import(o, name);
			continue;
		}
		if ((t != STT_FUNC && t != STT_GNU_IFUNC) || !s.st_value)
			continue;
		/* Items of the __rustc crate outlive LTO (rust_begin_unwind & co.). */
		if (!o->rust && (strstr(name, "7___rustc") || !strcmp(name, "rust_eh_personality")))
			o->rust = true;
		check_shim(o, elf, name, &s);
		len = strlen(name) + 1;
		ARR_RESERVE(*strs, *strs_cap, *strs_len + len);
		memcpy(*strs + *strs_len, name, len);
		ARR_RESERVE(o->syms, *cap, o->nsyms + 1);
		es = &o->syms[o->nsyms++];
		es->addr = s.st_value;
		es->size = s.st_size;
		/* Offsets for now: the string buffer moves while it grows. */
		es->name = (const char *)(uintptr_t)*strs_len;
		es->demangled = NULL;
		*strs_len += len;
	}
}

int elf_file_identity(const char *open_path, struct elf_identity *id)
{
	struct stat st;
	Elf *elf;
	int fd;

	memset(id, 0, sizeof(*id));
	elf_version(EV_CURRENT);
	fd = rp_open_file(open_path);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return err;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		read_build_id(elf, id->build_id);
	if (elf)
		elf_end(elf);
	close(fd);
	return 0;
}

struct elf_object *elf_object__open(const char *path, const char *open_path)
{
	struct elf_object *o;
	size_t cap = 0, strs_len = 0, strs_cap = 0, lcap = 0, i, nph;
	char *strs = NULL;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err = 0;

	elf_version(EV_CURRENT);
	fd = rp_open_file(open_path);
	if (fd < 0)
		return NULL;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = ENOEXEC;
		goto fail;
	}
	o = xcalloc(1, sizeof(*o));
	o->path = xstrdup(path);
	o->open_path = xstrdup(open_path);

	if (elf_getphdrnum(elf, &nph) == 0) {
		for (i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, i, &ph))
				continue;
			if (ph.p_type == PT_INTERP)
				read_interp(elf, &ph, o);
			if (ph.p_type != PT_LOAD)
				continue;
			ARR_RESERVE(o->loads, lcap, o->nloads + 1);
			o->loads[o->nloads].vaddr = ph.p_vaddr;
			o->loads[o->nloads].offset = ph.p_offset;
			o->loads[o->nloads].filesz = ph.p_filesz;
			o->loads[o->nloads].exec = !!(ph.p_flags & PF_X);
			o->nloads++;
		}
	}
	read_build_id(elf, o->build_id);
	{
		GElf_Ehdr eh;

		if (gelf_getehdr(elf, &eh))
			o->entry = eh.e_entry;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNAMIC)
			read_dynamic(elf, scn, &sh, o);
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			if (sh.sh_type == SHT_SYMTAB)
				o->has_symtab = true;
			add_symtab(elf, scn, &sh, o, &cap, &strs, &strs_len, &strs_cap);
		}
	}
	o->strings = strs;
	for (i = 0; i < o->nsyms; i++)
		o->syms[i].name = strs + (uintptr_t)o->syms[i].name;
	if (o->nsyms)
		qsort(o->syms, o->nsyms, sizeof(*o->syms), cmp_sym);
	if (elf_object__nshims(o)) {
		int k;

		count_shim_refs(o, elf);
		for (k = 0; k < SHIM_MAX; k++)
			if (o->shim_vaddr[k])
				find_ga_method(o, elf, k);
		check_ga_nesting(o, elf);
	}
	if (!o->rust && !elf_object__nshims(o) && has_rust_marks(elf))
		o->rust = o->rust_stripped = true;
	elf_end(elf);
	close(fd);
	return o;
fail:
	if (elf)
		elf_end(elf);
	close(fd);
	errno = err;
	return NULL;
}

void elf_object__free(struct elf_object *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->nsyms; i++)
		free(o->syms[i].demangled);
	for (i = 0; i < SHIM_MAX; i++)
		free(o->shim_why[i]);
	for (i = 0; i < o->nneeded; i++)
		free(o->needed[i]);
	free(o->needed);
	free(o->runpath);
	free(o->interp);
	free(o->syms);
	free(o->strings);
	free(o->loads);
	free(o->path);
	free(o->open_path);
	free(o);
}

bool elf_object__off_to_vaddr(const struct elf_object *o, uint64_t off, uint64_t *vaddr)
{
	size_t i;

	for (i = 0; i < o->nloads; i++) {
		const struct elf_load *l = &o->loads[i];

		if (off >= l->offset && off < l->offset + l->filesz) {
			*vaddr = off - l->offset + l->vaddr;
			return true;
		}
	}
	return false;
}

uint64_t elf_object__func_offset(const struct elf_object *o, const char *name)
{
	size_t i;
	uint64_t off;

	for (i = 0; i < o->nsyms; i++)
		if (!strcmp(o->syms[i].name, name) &&
		    elf_object__vaddr_to_off(o, o->syms[i].addr, &off))
			return off;
	return 0;
}

bool elf_object__vaddr_to_off(const struct elf_object *o, uint64_t vaddr, uint64_t *off)
{
	size_t i;

	for (i = 0; i < o->nloads; i++) {
		const struct elf_load *l = &o->loads[i];

		if (vaddr >= l->vaddr && vaddr < l->vaddr + l->filesz) {
			*off = vaddr - l->vaddr + l->offset;
			return true;
		}
	}
	return false;
}

struct elf_sym *elf_object__lookup(struct elf_object *o, uint64_t vaddr)
{
	size_t lo = 0, hi = o->nsyms;
	struct elf_sym *s;

	/* Last symbol with addr <= vaddr. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (o->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &o->syms[lo - 1];
	/* Aliases share an address: take the first (sized) one of the run. */
	while (s > o->syms && s[-1].addr == s->addr)
		s--;
	if (s->size && vaddr >= s->addr + s->size)
		return NULL;
	return s;
}

char *rp_demangle(const char *name)
{
	char *d = NULL;

	/* A name too long to be real is not worth demangling, only cutting. */
	if (strnlen(name, RP_NAME_MAX + 1) > RP_NAME_MAX)
		return name_cap(strndup(name, RP_NAME_MAX + 1) ?: xstrdup("?"));
	if (!strncmp(name, "_R", 2) || !strncmp(name, "_ZN", 3))
		d = cplus_demangle(name, DMGL_RUST | DMGL_PARAMS);
	if (!d && !strncmp(name, "_Z", 2))
		d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
	if (!d)
		return xstrdup(name);
	return name_cap(d);
}

const char *elf_sym__name(struct elf_sym *sym)
{
	if (!sym->demangled)
		sym->demangled = rp_demangle(sym->name);
	return sym->demangled;
}

int elf_object__nshims(const struct elf_object *o)
{
	int k, n = 0;

	for (k = 0; k < SHIM_MAX; k++)
		n += !!o->shim_off[k];
	return n;
}

/*
 * The dynamic loader's search, enough to find an allocator library before the
 * program runs: DT_RUNPATH/DT_RPATH (with $ORIGIN), LD_LIBRARY_PATH, then the
 * default directories (the ld.so.cache is not read).
 */
char *elf_object__resolve_needed(const struct elf_object *o, const char *name)
{
	static const char *const defaults[] = {
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
		"/lib", "/usr/lib", "/usr/local/lib",
	};
	const char *env = getenv("LD_LIBRARY_PATH");
	char *origin = xstrdup(o->path), *slash = strrchr(origin, '/');
	char *list, *dir, *save = NULL, *found = NULL;
	size_t i;

	if (slash)
		*slash = 0;
	list = xasprintf("%s:%s", o->runpath ? o->runpath : "", env ? env : "");
	for (dir = strtok_r(list, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *p = !strncmp(dir, "$ORIGIN", 7) ? xasprintf("%s%s/%s", origin, dir + 7, name)
						       : xasprintf("%s/%s", dir, name);

		if (access(p, R_OK) == 0)
			found = p;
		else
			free(p);
	}
	for (i = 0; i < ARRAY_SIZE(defaults) && !found; i++) {
		char *p = xasprintf("%s/%s", defaults[i], name);

		if (access(p, R_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(list);
	free(origin);
	return found;
}
