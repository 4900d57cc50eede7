// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * DWARF symbolization of one ELF object: file, line and inline chain of an
 * address (libdw).
 *
 * The debug file is found here rather than with libdwfl's
 * dwfl_standard_find_debuginfo(): that one asks debuginfod servers whenever
 * DEBUGINFOD_URLS is set (Debian's libdebuginfod-common ships a profile
 * script that sets it), a network round trip per object without local debug
 * info in the middle of a report. Objects without DWARF are the common case
 * (libc, stripped binaries) and must stay cheap: a few failed open()s.
 * debuginfod is asked only by symbolizer__prefetch(), before events flow.
 *
 * Lookup: a table of compile-unit address ranges is built at the first
 * lookup (CU DIEs only); a CU's table of function ranges at the first lookup
 * that lands in it (one pass over that CU's DIEs); each lookup then descends
 * from the function DIE through the scopes that contain the address.
 * libdw's dwarf_getscopes() is not used: it walks the whole CU per address,
 * and past an inlined instance it returns the scopes of the inlined
 * function's definition, not of its caller.
 * Split DWARF (.dwo) is not followed.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "dwarfsym.h"
#include "elfobj.h"
#include "hashmap.h"
#include "util.h"

static const char *const default_roots[] = { "/usr/lib/debug", NULL };

/* Address ranges sorted by lo; reach ends the backward scan over overlaps. */
struct range {
	uint64_t lo, hi;
	uint64_t reach;		/* max hi of this entry and all before it */
	size_t idx;		/* what the range belongs to */
};

struct rtab {
	struct range *r;
	size_t n, cap;
};

struct cu_ent {
	Dwarf_Die die;
	bool indexed;
	struct rtab fns;	/* idx: into fn_dies */
	Dwarf_Die *fn_dies;
	size_t nfn, fncap;
};

struct chain {
	struct src_frame *f;
	int n;
};

struct dwarf_sym {
	int fd;
	Elf *elf;
	Dwarf *dw;
	bool cus_built;
	struct rtab cus;	/* idx: into cu */
	struct cu_ent *cu;
	size_t ncu, cucap;
	struct u64map by_addr;	/* vaddr -> index into chains */
	struct chain *chains;
	size_t nchains, chaincap;
	struct u64map names;	/* DIE offset -> demangled name (char *) */
	struct u64map parents;	/* DIE offset -> parent DIE offset, for naming */
	struct u64map paths;	/* libdw file name -> name joined to comp_dir (char *) */
	Dwarf_Die *path;	/* scratch: inlined instances, outermost first */
	size_t pathcap;
};

/* ---- range tables ---- */

static void rtab_add(struct rtab *t, uint64_t lo, uint64_t hi, size_t idx)
{
	ARR_RESERVE(t->r, t->cap, t->n + 1);
	t->r[t->n++] = (struct range){ .lo = lo, .hi = hi, .idx = idx };
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void rtab_finish(struct rtab *t)
{
	uint64_t reach = 0;
	size_t i;

	if (t->n)	/* qsort(NULL, 0) is undefined */
		qsort(t->r, t->n, sizeof(*t->r), cmp_range);
	for (i = 0; i < t->n; i++) {
		reach = MAX(reach, t->r[i].hi);
		t->r[i].reach = reach;
	}
}

/*
 * The ranges containing addr, greatest lo first (the innermost of nested
 * ranges): pass from = -1, then the previous result. -1 when none is left.
 */
static ssize_t rtab_find(const struct rtab *t, uint64_t addr, ssize_t from)
{
	ssize_t i;

	if (from < 0) {
		size_t lo = 0, hi = t->n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (t->r[mid].lo <= addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		from = lo;
	}
	for (i = from - 1; i >= 0 && t->r[i].reach > addr; i--)
		if (t->r[i].hi > addr)
			return i;
	return -1;
}

/*
 * Ranges starting at 0 are code the linker discarded (GNU ld resolves
 * their addresses to 0); an inverted range is a tombstone (lld's -1).
 */
static size_t add_die_ranges(struct rtab *t, Dwarf_Die *die, size_t idx)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	size_t n = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (lo && lo < hi) {
			rtab_add(t, lo, hi, idx);
			n++;
		}
	}
	return n;
}

/* ---- finding the DWARF ---- */

struct elf_file {
	int fd;
	Elf *elf;
};

static void elf_file__close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

static int elf_file__open(struct elf_file *f, const char *path)
{
	f->elf = NULL;
	f->fd = rp_open_file(path);
	if (f->fd < 0)
		return -errno;
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF) {
		elf_file__close(f);
		return -ENOEXEC;
	}
	return 0;
}

/* A stripped file keeps section headers of debug sections as NOBITS. */
static bool has_dwarf(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && (!strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info")))
			return true;
	}
	return false;
}

static bool build_id_is(Elf *elf, const char *hex)
{
	const unsigned char *id;
	char buf[2 * 64 + 1];
	ssize_t n, i;

	n = dwelf_elf_gnu_build_id(elf, (const void **)&id);
	if (n <= 0 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", id[i]);
	return !strcasecmp(buf, hex);
}

/*
 * A debuglink names a file by basename only, so check it is ours: by build
 * ID when both files have one (reading a large debug file whole for its CRC
 * costs more than the rest of the lookup), else by the CRC32 of the file.
 */
static bool debuglink_matches(Elf *dbg, const char *build_id, GElf_Word crc)
{
	const void *id;
	size_t size;
	char *raw;

	if (*build_id && dwelf_elf_gnu_build_id(dbg, &id) > 0)
		return build_id_is(dbg, build_id);
	raw = elf_rawfile(dbg, &size);
	return raw && crc32_z(0, (const Bytef *)raw, size) == crc;
}

/* How a candidate debug file is checked: by build ID, or as a debuglink. */
struct want {
	const char *build_id;
	bool link;
	GElf_Word crc;
	bool symtab_ok;		/* a .symtab without DWARF will do */
	char **found;		/* where to store the path taken, or NULL */
};

static bool has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_size)
			return true;
	return false;
}

static int try_candidate(struct elf_file *out, const char *path, const struct want *w)
{
	bool ok;

	if (elf_file__open(out, path))
		return -ENOENT;
	ok = (has_dwarf(out->elf) || (w->symtab_ok && has_symtab(out->elf))) &&
	     (w->link ? debuglink_matches(out->elf, w->build_id, w->crc) :
			build_id_is(out->elf, w->build_id));
	if (ok) {
		if (w->found)
			*w->found = xstrdup(path);
		return 0;
	}
	debug("dwarfsym: %s does not match, ignored", path);
	elf_file__close(out);
	return -ENOENT;
}

/*
 * The root of the target's mount namespace as we reach it: open_path minus
 * path ("/proc/PID/root"), or "" when they are the same file name.
 */
static char *target_prefix(const char *path, const char *open_path)
{
	size_t pl = strlen(path), ol = strlen(open_path);

	const char *mf = strstr(open_path, "/map_files/");

	if (path[0] == '/' && ol > pl && !strcmp(open_path + ol - pl, path))
		return xasprintf("%.*s", (int)(ol - pl), open_path);
	/* /proc/PID/map_files/A-B: the mapped file itself, in PID's root. */
	if (path[0] == '/' && mf && !strncmp(open_path, "/proc/", 6))
		return xasprintf("%.*s/root", (int)(mf - open_path), open_path);
	return xstrdup("");
}

static int by_build_id(struct elf_file *out, const char *prefix, const char *const *roots,
		       const char *build_id, const struct want *like)
{
	struct want w = { .build_id = build_id, .symtab_ok = like->symtab_ok, .found = like->found };
	int i, err = -ENOENT;

	if (strlen(build_id) < 3)
		return -ENOENT;
	for (i = 0; roots[i] && err; i++) {
		char *p = xasprintf("%s%s/.build-id/%.2s/%s.debug", prefix, roots[i], build_id,
				    build_id + 2);

		err = try_candidate(out, p, &w);
		free(p);
	}
	return err;
}

/* "dir" of "dir/name", "." of "name". */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? xasprintf("%.*s", (int)(slash - path), path) : xstrdup(".");
}

static int by_debuglink(struct elf_file *out, Elf *elf, const char *path, const char *open_path,
			const char *prefix, const char *const *roots, const char *build_id,
			const struct want *like)
{
	struct want w = { .build_id = build_id, .link = true, .symtab_ok = like->symtab_ok,
			  .found = like->found };
	char *odir, *tdir, *cand[3 + 8] = { NULL };
	const char *name;
	int i, n = 0, err = -ENOENT;

	name = dwelf_elf_gnu_debuglink(elf, &w.crc);
	/*
	 * The object's owner writes this name: a plain file name only, or
	 * "../../x" would steer the search anywhere on the host.
	 */
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > 255) {
		if (name && *name)
			debug("dwarfsym: %s: debug link '%s' is not a file name, ignored", path, name);
		return -ENOENT;
	}
	tdir = dir_of(path);
	/* Read through /proc/PID/map_files: "next to it" is in the target's root. */
	odir = strstr(open_path, "/map_files/") && path[0] == '/' ?
		xasprintf("%s%s", prefix, tdir) : dir_of(open_path);
	cand[n++] = xasprintf("%s/%s", odir, name);
	cand[n++] = xasprintf("%s/.debug/%s", odir, name);
	for (i = 0; roots[i] && n < (int)ARRAY_SIZE(cand); i++)
		cand[n++] = xasprintf("%s%s%s/%s", roots[i], tdir[0] == '/' ? "" : "/", tdir, name);
	for (i = 0; i < n; i++) {
		if (err)
			err = try_candidate(out, cand[i], &w);
		free(cand[i]);
	}
	free(odir);
	free(tdir);
	return err;
}

/* A separate debug file for elf: by build ID (host, then target roots), by debuglink. */
static int find_separate(struct elf_file *out, Elf *elf, const char *path, const char *open_path,
			 const char *build_id, const char *const *roots, const struct want *like)
{
	char *prefix = target_prefix(path, open_path);
	int err;

	err = by_build_id(out, "", roots, build_id, like);
	if (err && *prefix)
		err = by_build_id(out, prefix, roots, build_id, like);
	if (err)
		err = by_debuglink(out, elf, path, open_path, prefix, roots, build_id, like);
	free(prefix);
	return err;
}

/*
 * libdw returns strings from .debug_str and .debug_line_str as pointers into
 * the section and it, and we, read them to their NUL: a section that does not
 * end with one would be read past its end. Producers always end it so.
 */
static bool strings_terminated(Elf *elf)
{
	static const char *const names[] = { ".debug_str", ".debug_line_str" };
	Elf_Scn *scn = NULL;
	size_t shstrndx, i;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;
		Elf_Data *data;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		for (i = 0; name && i < ARRAY_SIZE(names); i++) {
			if (strcmp(name, names[i]))
				continue;
			data = elf_getdata(scn, NULL);
			if (data && data->d_size &&
			    (!data->d_buf || ((const char *)data->d_buf)[data->d_size - 1]))
				return false;
		}
	}
	return true;
}

struct dwarf_sym *dwarf_sym__open(const char *path, const char *open_path, const char *build_id_hex,
				  const struct dwarf_sym_opts *opts)
{
	const char *const *roots = opts && opts->debug_roots ? opts->debug_roots : default_roots;
	const char *bid = build_id_hex ? build_id_hex : "";
	struct elf_file f, dbg;
	struct dwarf_sym *d;
	int err;

	elf_version(EV_CURRENT);
	err = elf_file__open(&f, open_path);
	if (err) {
		errno = -err;
		return NULL;
	}
	if (!has_dwarf(f.elf)) {
		struct want like = { 0 };

		err = find_separate(&dbg, f.elf, path, open_path, bid, roots, &like);
		elf_file__close(&f);
		if (err) {
			errno = ENODATA;
			return NULL;
		}
		f = dbg;
	}
	d = xcalloc(1, sizeof(*d));
	d->fd = f.fd;
	d->elf = f.elf;
	u64map_init(&d->by_addr);
	u64map_init(&d->names);
	u64map_init(&d->paths);
	u64map_init(&d->parents);
	d->dw = dwarf_begin_elf(f.elf, DWARF_C_READ, NULL);
	if (!d->dw) {
		debug("dwarfsym: %s: %s", open_path, dwarf_errmsg(-1));
		dwarf_sym__close(d);
		errno = ENODATA;
		return NULL;
	}
	/* After dwarf_begin_elf: it decompresses SHF_COMPRESSED sections in place. */
	if (!strings_terminated(d->elf)) {
		debug("dwarfsym: %s: a string section does not end with NUL, ignored", open_path);
		dwarf_sym__close(d);
		errno = EBADMSG;
		return NULL;
	}
	return d;
}

char *debug_file_find(const char *path, const char *open_path, const char *build_id_hex,
		      const struct dwarf_sym_opts *opts)
{
	const char *const *roots = opts && opts->debug_roots ? opts->debug_roots : default_roots;
	char *found = NULL;
	struct want like = { .symtab_ok = true, .found = &found };
	struct elf_file f, dbg;

	elf_version(EV_CURRENT);
	if (elf_file__open(&f, open_path))
		return NULL;
	if (!find_separate(&dbg, f.elf, path, open_path, build_id_hex ? build_id_hex : "", roots,
			   &like))
		elf_file__close(&dbg);
	elf_file__close(&f);
	return found;
}

/* ---- indexes ---- */

static bool is_name_scope(int tag)
{
	switch (tag) {
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
		return true;
	default:
		return false;
	}
}

static void build_cu_table(struct dwarf_sym *d)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, subdie;
	uint8_t type;

	while (dwarf_get_units(d->dw, cu, &cu, NULL, &type, &cudie, &subdie) == 0) {
		if (type != DW_UT_compile && type != DW_UT_partial)
			continue;
		if (!add_die_ranges(&d->cus, &cudie, d->ncu))
			continue;
		ARR_RESERVE(d->cu, d->cucap, d->ncu + 1);
		d->cu[d->ncu++] = (struct cu_ent){ .die = cudie };
	}
	rtab_finish(&d->cus);
	d->cus_built = true;
}

/*
 * Functions with code are children of the CU or of namespaces (C, C++ and
 * Rust compilers put definitions there, methods included, with
 * DW_AT_specification pointing into the type); the bodies and types around
 * them are not entered. Parents are noted for naming functions that have no
 * linkage name (C, #[no_mangle]): libdw has no parent links, and
 * dwarf_getscopes_die() walks the whole CU for each name.
 */
/*
 * Namespaces nested deeper than this are not entered: real programs stay far
 * below it, and hostile debug info nesting them without end would otherwise
 * cost a walk of everything below for each level.
 */
#define MAX_SCOPE_DEPTH 64

static void index_children(struct dwarf_sym *d, struct cu_ent *c, Dwarf_Die *parent)
{
	/* An explicit stack, not recursion: the depth comes from the file. */
	struct todo {
		Dwarf_Die die;
		int depth;
	} *todo = NULL, cur;
	size_t ntodo = 0, cap = 0;
	Dwarf_Die child;

	ARR_RESERVE(todo, cap, 1);
	todo[ntodo++] = (struct todo){ .die = *parent };
	while (ntodo) {
		uint64_t parent_off;

		cur = todo[--ntodo];
		parent_off = dwarf_dieoffset(&cur.die);
		if (dwarf_child(&cur.die, &child))
			continue;
		do {
			int tag = dwarf_tag(&child);

			if (tag == DW_TAG_subprogram || is_name_scope(tag))
				u64map_put(&d->parents, dwarf_dieoffset(&child), parent_off);
			if (tag == DW_TAG_subprogram && add_die_ranges(&c->fns, &child, c->nfn)) {
				ARR_RESERVE(c->fn_dies, c->fncap, c->nfn + 1);
				c->fn_dies[c->nfn++] = child;
			}
			if ((tag == DW_TAG_namespace || tag == DW_TAG_module) &&
			    dwarf_haschildren(&child) && cur.depth < MAX_SCOPE_DEPTH) {
				ARR_RESERVE(todo, cap, ntodo + 1);
				todo[ntodo++] = (struct todo){ .die = child, .depth = cur.depth + 1 };
			}
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	free(todo);
}

static void index_cu(struct dwarf_sym *d, struct cu_ent *c)
{
	index_children(d, c, &c->die);
	rtab_finish(&c->fns);
	c->indexed = true;
}

/* The innermost function DIE whose code contains addr, and its CU DIE. */
static int find_function(struct dwarf_sym *d, uint64_t addr, Dwarf_Die *fn, Dwarf_Die *cudie)
{
	ssize_t i, j;

	if (!d->cus_built)
		build_cu_table(d);
	for (i = rtab_find(&d->cus, addr, -1); i >= 0; i = rtab_find(&d->cus, addr, i)) {
		struct cu_ent *c = &d->cu[d->cus.r[i].idx];

		if (!c->indexed)
			index_cu(d, c);
		j = rtab_find(&c->fns, addr, -1);
		if (j >= 0) {
			*fn = c->fn_dies[c->fns.r[j].idx];
			*cudie = c->die;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- inline chains ---- */

/* The child scope of parent whose code contains addr. */
static bool child_containing(Dwarf_Die *parent, uint64_t addr, Dwarf_Die *out)
{
	if (dwarf_child(parent, out))
		return false;
	do {
		switch (dwarf_tag(out)) {
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			if (dwarf_haspc(out, addr) > 0)
				return true;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(out, out) == 0);
	return false;
}

/* Fills d->path with the inlined instances containing addr; returns how many. */
static int inline_path(struct dwarf_sym *d, Dwarf_Die *fn, uint64_t addr)
{
	Dwarf_Die scope = *fn, child;
	int depth = 0, levels = 0;

	/* Scopes nest as deep as the file says: follow a sane number of them. */
	while (levels++ < 16 * MAX_SCOPE_DEPTH && child_containing(&scope, addr, &child)) {
		if (dwarf_tag(&child) == DW_TAG_inlined_subroutine) {
			ARR_RESERVE(d->path, d->pathcap, (size_t)depth + 1);
			d->path[depth++] = child;
		}
		scope = child;
	}
	return depth;
}

/*
 * A DIE's identity: its offset, marked when it lives in the alternate file
 * of a dwz-compressed debug file (DW_FORM_GNU_ref_alt), whose offsets
 * overlap ours.
 */
static uint64_t die_key(struct dwarf_sym *d, Dwarf_Die *die)
{
	uint64_t off = dwarf_dieoffset(die);

	return dwarf_cu_getdwarf(die->cu) == d->dw ? off : off | 1ULL << 63;
}

/* Follow abstract origins and specifications to the DIE that declares a function. */
static void declaration_of(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute a;
	Dwarf_Die next;
	int hops;

	*out = *die;
	for (hops = 0; hops < 8; hops++) {
		if (!dwarf_attr(out, DW_AT_abstract_origin, &a) &&
		    !dwarf_attr(out, DW_AT_specification, &a))
			return;
		if (!dwarf_formref_die(&a, &next))
			return;
		*out = next;
	}
}

/*
 * As dwarf_getscopes_die(): die, then its enclosing scopes outwards; from
 * the parents noted by the index, else by a walk of the CU.
 */
static int scopes_of(struct dwarf_sym *d, Dwarf_Die *die, Dwarf_Die **scopes)
{
	Dwarf_Die parent;
	uint64_t off;
	int n = 1;

	if (!u64map_get(&d->parents, die_key(d, die), &off))
		return dwarf_getscopes_die(die, scopes);
	*scopes = xmalloc(sizeof(**scopes));
	(*scopes)[0] = *die;
	do {
		if (!dwarf_offdie(d->dw, off, &parent))
			break;
		*scopes = xrealloc(*scopes, (n + 1) * sizeof(**scopes));
		(*scopes)[n++] = parent;
	} while (n <= MAX_SCOPE_DEPTH + 1 && u64map_get(&d->parents, off, &off));
	return n;
}

/* DW_AT_name qualified by its enclosing namespaces and types: "a::b::f". */
static char *qualified_name(struct dwarf_sym *d, Dwarf_Die *die)
{
	Dwarf_Die decl, *scopes = NULL;
	const char *name = dwarf_diename(die);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int i, n;

	if (!name) {
		Dwarf_Attribute a;

		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
		if (!name)
			return NULL;
	}
	declaration_of(die, &decl);
	n = scopes_of(d, &decl, &scopes);
	f = open_memstream(&buf, &len);
	if (!f) {
		free(scopes);
		return xstrdup(name);
	}
	for (i = n - 1; i >= 1; i--)
		if (is_name_scope(dwarf_tag(&scopes[i])) && dwarf_diename(&scopes[i]))
			fprintf(f, "%s::", dwarf_diename(&scopes[i]));
	fputs(name, f);
	fclose(f);
	free(scopes);
	return name_cap(buf);
}

static char *function_name(struct dwarf_sym *d, Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s;

	s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	return s ? rp_demangle(s) : qualified_name(d, die);
}

/*
 * Names are cached by the DIE the instance refers to (its abstract origin):
 * every inlined copy of a function shares one string.
 */
static char *die_name(struct dwarf_sym *d, Dwarf_Die *die)
{
	Dwarf_Die origin = *die, ref;
	Dwarf_Attribute a;
	uint64_t v;
	char *name;

	if (dwarf_attr(die, DW_AT_abstract_origin, &a) && dwarf_formref_die(&a, &ref))
		origin = ref;
	if (u64map_get(&d->names, die_key(d, &origin), &v))
		return (char *)(uintptr_t)v;
	name = function_name(d, &origin);
	u64map_put(&d->names, die_key(d, &origin), (uintptr_t)name);
	return name;
}

/*
 * DWARF makes a relative include directory relative to the CU's comp_dir;
 * libdw leaves it relative (rustc records "tests/fixtures" for a source
 * below its working directory). The key is libdw's string: each belongs to
 * one CU's file table, which is how comp_dir is known.
 */
static const char *full_path(struct dwarf_sym *d, Dwarf_Die *cudie, const char *file)
{
	Dwarf_Attribute a;
	const char *dir;
	uint64_t v;
	char *p;

	if (!file || file[0] == '/')
		return file;
	if (u64map_get(&d->paths, (uintptr_t)file, &v))
		return (const char *)(uintptr_t)v;
	dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &a));
	p = dir && *dir ? xasprintf("%s/%s", dir, file) : xstrdup(file);
	u64map_put(&d->paths, (uintptr_t)file, (uintptr_t)p);
	return p;
}

static void line_of(struct dwarf_sym *d, Dwarf_Die *cudie, uint64_t addr, struct src_frame *f)
{
	Dwarf_Line *l = dwarf_getsrc_die(cudie, addr);

	if (!l)
		return;
	f->file = full_path(d, cudie, dwarf_linesrc(l, NULL, NULL));
	dwarf_lineno(l, &f->line);
}

/* Where the inlined instance inst was called from, in its CU's file table. */
static void call_site_of(struct dwarf_sym *d, Dwarf_Die *cudie, Dwarf_Die *inst,
			 struct src_frame *f)
{
	Dwarf_Attribute a;
	Dwarf_Files *files;
	Dwarf_Word w;
	size_t nfiles;

	if (dwarf_formudata(dwarf_attr(inst, DW_AT_call_line, &a), &w) == 0)
		f->line = (int)w;
	if (dwarf_formudata(dwarf_attr(inst, DW_AT_call_file, &a), &w) == 0 &&
	    dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && w < nfiles)
		f->file = full_path(d, cudie, dwarf_filesrc(files, w, NULL, NULL));
}

/* Where a function's code starts: DW_AT_low_pc, else its lowest range. */
static uint64_t die_low_pc(Dwarf_Die *die)
{
	Dwarf_Addr base, lo, hi, low = 0;
	ptrdiff_t off = 0;

	if (!dwarf_lowpc(die, &low))
		return low;
	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0)
		if (lo && lo < hi && (!low || lo < low))
			low = lo;
	return low;
}

/* Frame k (0 innermost) is d->path[depth - 1 - k]; the real function is last. */
static struct chain make_chain(struct dwarf_sym *d, Dwarf_Die *fn, Dwarf_Die *cudie, int depth,
			       uint64_t addr)
{
	struct chain ch = { .n = depth + 1 };
	int k;

	ch.f = xcalloc(ch.n, sizeof(*ch.f));
	for (k = 0; k < ch.n; k++) {
		Dwarf_Die *die = k < depth ? &d->path[depth - 1 - k] : fn;

		ch.f[k].function = die_name(d, die);
		ch.f[k].inlined = k < depth;
		if (k == depth)
			ch.f[k].low_pc = die_low_pc(die);
		if (k == 0)
			line_of(d, cudie, addr, &ch.f[k]);
		else
			call_site_of(d, cudie, &d->path[depth - k], &ch.f[k]);
	}
	return ch;
}

static size_t resolve(struct dwarf_sym *d, uint64_t addr)
{
	struct chain ch = { 0 };
	Dwarf_Die fn, cudie;

	if (!find_function(d, addr, &fn, &cudie))
		ch = make_chain(d, &fn, &cudie, inline_path(d, &fn, addr), addr);
	ARR_RESERVE(d->chains, d->chaincap, d->nchains + 1);
	d->chains[d->nchains] = ch;
	u64map_put(&d->by_addr, addr, d->nchains);
	return d->nchains++;
}

int dwarf_sym__lookup(struct dwarf_sym *d, uint64_t vaddr, struct src_frame *out, int max)
{
	const struct chain *ch;
	uint64_t i;
	int n;

	if (!d || !out || max <= 0)
		return -EINVAL;
	if (!u64map_get(&d->by_addr, vaddr, &i))
		i = resolve(d, vaddr);
	ch = &d->chains[i];
	n = MIN(ch->n, max);
	if (n)
		memcpy(out, ch->f, n * sizeof(*out));
	return n;
}

static void free_tables(struct dwarf_sym *d)
{
	uint64_t k, v;
	size_t i;

	for (i = 0; i < d->ncu; i++) {
		free(d->cu[i].fns.r);
		free(d->cu[i].fn_dies);
	}
	free(d->cu);
	free(d->cus.r);
	for (i = 0; i < d->nchains; i++)
		free(d->chains[i].f);
	free(d->chains);
	for (i = 0; u64map_next(&d->names, &i, &k, &v);)
		free((char *)(uintptr_t)v);
	u64map_free(&d->names);
	u64map_free(&d->parents);
	for (i = 0; u64map_next(&d->paths, &i, &k, &v);)
		free((char *)(uintptr_t)v);
	u64map_free(&d->paths);
	u64map_free(&d->by_addr);
	free(d->path);
}

void dwarf_sym__close(struct dwarf_sym *d)
{
	if (!d)
		return;
	free_tables(d);
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}
