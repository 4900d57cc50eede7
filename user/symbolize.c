// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Addresses in the target -> function names, modules and build IDs. */
#include <errno.h>
#include <regex.h>
#include <elfutils/debuginfod.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfi.h"
#include "dwarfsym.h"
#include "elfobj.h"
#include "hashmap.h"
#include "objcache.h"
#include "procmaps.h"
#include "symbolize.h"
#include "util.h"

/* A mapped file: its facts are the object cache's, shared with every reader. */
struct sym_obj {
	char *path;			/* as the target maps it */
	struct objfile *f;
	struct elf_object *o;		/* f->elf; NULL: could not open */
	bool asked;			/* debuginfod was asked for its debug file */
	bool placed;			/* mapped by another process (symbolizer__add_mapping) */
	dev_t dev;			/* placed: the file's identity in that process's maps */
	ino_t ino;
};

/* A mapping of another process's object, where the caller placed it. */
struct placed_map {
	uint64_t start, end;		/* [start, end) in the caller's address range */
	uint64_t offset;		/* file offset of start */
	size_t obj;			/* in objs */
};

struct symbolizer {
	pid_t pid;
	const struct procmaps *maps;	/* the last good layout (a shared view), or NULL */
	uint64_t maps_read_ns;		/* when that view was read */
	struct objcache *objs_cache;
	struct sym_obj *objs;		/* by path */
	size_t nobjs, objs_cap;
	const char *const *debug_roots;	/* NULL: the default */
	debuginfod_client *dfc;		/* only while prefetching */
	uint64_t dfc_deadline_ns;
	size_t fetched;
	struct u64map cache;		/* pc -> struct frame_info * */
	size_t unsymbolized;
	struct placed_map *placed;	/* sorted by start */
	size_t nplaced, placed_cap;
};

/* Crates of Rust's standard library and the crates std links internally. */
static const char *const lib_crates[] = {
	"std", "core", "alloc", "hashbrown", "gimli", "addr2line", "miniz_oxide",
	"rustc_demangle", "std_detect", "panic_unwind", "panic_abort", "__rustc",
	"object", "memchr", "adler", "adler2", "compiler_builtins", "unwind",
};

/* C runtime entry points that frame every Rust program. */
static const char *const runtime_syms[] = {
	"main", "_start", "__libc_start_main", "__libc_start_call_main", "start_thread",
	"clone", "clone3", "__clone", "__clone3", "__rust_try",
};

bool is_libc_module(const char *module)
{
	const char *base;

	if (!module)
		return false;
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
	       !strncmp(base, "ld-linux", 8) || !strncmp(base, "libpthread", 10);
}

/* libc and the loader, and the runtime libraries beside them. */
static bool is_lib_module(const char *module)
{
	const char *base;

	if (is_libc_module(module))
		return true;
	if (!module)
		return false;
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	return !strncmp(base, "libgcc_s", 8) || !strncmp(base, "libm.so", 7) ||
	       !strncmp(base, "libstd-", 7);
}

/* --library-frame patterns; few, compiled once, never freed (they live as long as the run). */
static regex_t *user_lib_res;
static size_t nuser_lib_res, user_lib_res_cap;

int symbolizer__add_library_regex(const char *re)
{
	ARR_RESERVE(user_lib_res, user_lib_res_cap, nuser_lib_res + 1);
	if (regcomp(&user_lib_res[nuser_lib_res], re, REG_EXTENDED | REG_NOSUB))
		return -EINVAL;
	nuser_lib_res++;
	return 0;
}

bool is_library_frame(const char *fn, const char *module)
{
	size_t i, n;

	if (is_lib_module(module))
		return true;
	if (!fn)
		return false;
	for (i = 0; i < nuser_lib_res; i++)
		if (!regexec(&user_lib_res[i], fn, 0, NULL, 0))
			return true;
	for (i = 0; i < ARRAY_SIZE(runtime_syms); i++)
		if (!strcmp(fn, runtime_syms[i]))
			return true;
	if (!strncmp(fn, "__rdl_", 6) || !strncmp(fn, "__rg_", 5) || !strncmp(fn, "__rust_", 7))
		return true;
	/* The program's #[global_allocator] is the allocator, not an allocation site. */
	if (strstr(fn, " as core::alloc::global::GlobalAlloc>::") ||
	    strstr(fn, " as core::alloc::Allocator>::"))
		return true;
	/*
	 * "<alloc::string::String as core::convert::From<&str>>::from": the
	 * implementing type decides; skip "<", "&", "&mut ", "*const ", "[".
	 */
	for (;;) {
		if (*fn == '<' || *fn == '&' || *fn == '[' || *fn == '(')
			fn++;
		else if (!strncmp(fn, "mut ", 4))
			fn += 4;
		else if (!strncmp(fn, "*const ", 7) || !strncmp(fn, "*mut ", 5))
			fn += fn[1] == 'c' ? 7 : 5;
		else if (!strncmp(fn, "dyn ", 4))
			fn += 4;
		else
			break;
	}
	n = strcspn(fn, ":<> ");
	/*
	 * "<T as core::ops::FnOnce>::call_once", "<u8 as alloc::...>": the type is
	 * a generic parameter or a primitive, so the trait's crate decides.
	 */
	if (!strncmp(fn + n, " as ", 4)) {
		fn += n + 4;
		n = strcspn(fn, ":<> ");
	}
	for (i = 0; i < ARRAY_SIZE(lib_crates); i++)
		if (strlen(lib_crates[i]) == n && !strncmp(fn, lib_crates[i], n) && fn[n] == ':')
			return true;
	return false;
}

struct symbolizer *symbolizer__new(pid_t pid)
{
	struct symbolizer *s = xcalloc(1, sizeof(*s));

	s->pid = pid;
	s->objs_cache = objcache__shared();
	u64map_init(&s->cache);
	return s;
}

void symbolizer__free(struct symbolizer *s)
{
	size_t i = 0;
	uint64_t v;

	if (!s)
		return;
	while (u64map_next(&s->cache, &i, NULL, &v)) {
		struct frame_info *f = (struct frame_info *)(uintptr_t)v;
		int k;

		for (k = 0; k < f->ninl; k++) {
			free((char *)f->inl[k]->function);	/* file: the dwarf_sym's */
			free((void *)f->inl[k]);
		}
		free(f->inl);
		free((char *)f->function);
		free(f);
	}
	u64map_free(&s->cache);
	for (i = 0; i < s->nobjs; i++) {
		objcache__put(s->objs_cache, s->objs[i].f);
		free(s->objs[i].path);
	}
	free(s->objs);
	free(s->placed);
	procmaps__view_put(s->maps);
	free(s);
}

void symbolizer__set_pid(struct symbolizer *s, pid_t pid)
{
	s->pid = pid;
}

void symbolizer__set_debug_roots(struct symbolizer *s, const char *const *roots)
{
	s->debug_roots = roots;
	objcache__set_debug_roots(s->objs_cache, roots);
}

/*
 * A view of the layout at most max_age_ns old (0: read now); the last good
 * one is kept when there is none: a target that exited has an empty maps file.
 */
static void refresh(struct symbolizer *s, uint64_t max_age_ns)
{
	const struct procmaps *pm = procmaps__view(s->pid, max_age_ns);

	if (!pm)
		return;
	procmaps__view_put(s->maps);
	s->maps = pm;
	s->maps_read_ns = procmaps__view_read_ns(pm);
}

/*
 * Read now: a view read a little earlier by another module may predate the
 * change (an exec, a dlopen), and an address found in a stale mapping would
 * be named after the wrong file for good.
 */
void symbolizer__refresh_maps(struct symbolizer *s)
{
	refresh(s, 0);
}

static struct sym_obj *object_for(struct symbolizer *s, const char *path);

/* Where to read the object mapped from path: the mapped file itself where it can. */
static char *open_path_of(struct symbolizer *s, const char *path)
{
	const struct mapping *m = s->maps ? procmaps__by_path(s->maps, path) : NULL;

	return m ? proc_map_path(s->pid, m) : proc_path(s->pid, path);
}

void symbolizer__preload(struct symbolizer *s)
{
	size_t i;

	symbolizer__refresh_maps(s);
	for (i = 0; s->maps && i < s->maps->n; i++)
		if (s->maps->maps[i].exec && s->maps->maps[i].path)
			object_for(s, s->maps->maps[i].path);
}

/* The object mapped from path: from the object cache, looked up once. */
static struct sym_obj *object_for(struct symbolizer *s, const char *path)
{
	const struct mapping *m = s->maps ? procmaps__by_path(s->maps, path) : NULL;
	struct sym_obj *so;
	char *open_path;
	size_t i;

	for (i = 0; i < s->nobjs; i++)
		if (!s->objs[i].placed && !strcmp(s->objs[i].path, path))
			return &s->objs[i];
	ARR_RESERVE(s->objs, s->objs_cap, s->nobjs + 1);
	so = &s->objs[s->nobjs++];
	memset(so, 0, sizeof(*so));
	so->path = xstrdup(path);
	open_path = open_path_of(s, path);
	so->f = objcache__get(s->objs_cache, path, open_path, m ? m->dev : 0, m ? m->inode : 0);
	so->o = so->f->elf;
	if (!so->o)
		debug("cannot read %s for symbols", open_path);
	else
		objfile__dwarf(s->objs_cache, so->f, path, open_path);
	free(open_path);
	return so;
}

void symbolizer__add_mapping(struct symbolizer *s, uint64_t start, uint64_t end,
			     uint64_t file_offset, const char *path, const char *open_path,
			     dev_t dev, ino_t ino)
{
	struct placed_map *pm;
	struct sym_obj *so;
	size_t i, n;

	for (i = 0; i < s->nobjs; i++)
		if (s->objs[i].placed && s->objs[i].dev == dev && s->objs[i].ino == ino &&
		    !strcmp(s->objs[i].path, path))
			break;
	if (i == s->nobjs) {
		ARR_RESERVE(s->objs, s->objs_cap, s->nobjs + 1);
		so = &s->objs[s->nobjs++];
		memset(so, 0, sizeof(*so));
		so->path = xstrdup(path);
		so->placed = true;
		so->dev = dev;
		so->ino = ino;
		so->f = objcache__get(s->objs_cache, path, open_path, dev, ino);
		so->o = so->f->elf;
		/* Read all it takes now: open_path may not outlast its process. */
		if (!so->o) {
			debug("cannot read %s for symbols", open_path);
		} else {
			objfile__dwarf(s->objs_cache, so->f, path, open_path);
			objfile__funcs(s->objs_cache, so->f, open_path, &n);
		}
	}
	ARR_RESERVE(s->placed, s->placed_cap, s->nplaced + 1);
	for (n = s->nplaced; n > 0 && s->placed[n - 1].start > start; n--)
		;
	memmove(&s->placed[n + 1], &s->placed[n], (s->nplaced - n) * sizeof(*s->placed));
	pm = &s->placed[n];
	*pm = (struct placed_map){ start, end, file_offset, i };
	s->nplaced++;
}

static const struct placed_map *find_placed(const struct symbolizer *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nplaced;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < s->placed[mid].start)
			hi = mid;
		else if (addr >= s->placed[mid].end)
			lo = mid + 1;
		else
			return &s->placed[mid];
	}
	return NULL;
}

/*
 * A debuginfod server's copy of the debug file (DEBUGINFOD_URLS): symbols
 * and DWARF. libdebuginfod caches what it fetched, so this costs a request
 * once per build ID and machine; it runs only from symbolizer__prefetch().
 */
static void from_debuginfod(struct symbolizer *s, struct sym_obj *so)
{
	struct dwarf_sym_opts dopts = { .debug_roots = s->debug_roots };
	char *path = NULL;
	int fd;

	if (!s->dfc || !so->o->build_id[0] || mono_ns() > s->dfc_deadline_ns)
		return;
	fd = debuginfod_find_debuginfo(s->dfc, (const unsigned char *)so->o->build_id, 0, &path);
	if (fd < 0) {
		debug("debuginfod: no debug file for %s (%s): %s", so->path, so->o->build_id,
		      strerror(-fd));
		return;
	}
	close(fd);
	if (!so->f->dbg)
		so->f->dbg = elf_object__open(path, path);
	if (!so->f->dwarf)
		so->f->dwarf = dwarf_sym__open(path, path, so->o->build_id, &dopts);
	info("debug file of %s from debuginfod: %s", so->path, path);
	s->fetched++;
	free(path);
}

/*
 * The start of the function containing vaddr in an object without a symbol
 * for it: the .eh_frame FDE that covers it (compilers emit one per function).
 */
static bool fde_start(struct symbolizer *s, struct sym_obj *so, uint64_t vaddr, uint64_t *start)
{
	const struct cfi_func *f, *fdes;
	size_t nfdes;

	if (so->f->funcs_read) {
		fdes = objfile__funcs(s->objs_cache, so->f, NULL, &nfdes);
	} else {
		char *open_path = open_path_of(s, so->path);

		fdes = objfile__funcs(s->objs_cache, so->f, open_path, &nfdes);
		free(open_path);
	}
	f = cfi_func_find(fdes, nfdes, vaddr);
	if (!f)
		return false;
	*start = f->start;
	return true;
}

#define MAX_INLINE 32

/*
 * Lines and inlined calls at vaddr, when the object has DWARF for it.
 * *low_pc: the start of the function, when DWARF knows it.
 */
static void add_dwarf(struct frame_info *f, struct dwarf_sym *dw, uint64_t vaddr,
		      uint64_t *low_pc)
{
	struct src_frame chain[MAX_INLINE];
	int n = dw ? dwarf_sym__lookup(dw, vaddr, chain, MAX_INLINE) : 0, j;

	if (n <= 0)
		return;
	*low_pc = chain[n - 1].low_pc;
	f->file = chain[n - 1].file;
	f->line = chain[n - 1].line;
	/* No symbol table entry (stripped), but a separate debug file names it. */
	if (!f->named && chain[n - 1].function) {
		free((char *)f->function);
		f->function = xstrdup(chain[n - 1].function);
		f->named = true;
		f->rust = strstr(f->function, "::") != NULL;
	}
	if (n == 1)
		return;
	f->inl = xcalloc(n - 1, sizeof(*f->inl));
	for (j = 0; j < n - 1; j++) {
		struct frame_info *in = xcalloc(1, sizeof(*in));
		const char *name = chain[j].function ? chain[j].function : "[inlined]";

		*in = *f;
		in->inl = NULL;
		in->ninl = 0;
		in->function = xstrdup(name);
		in->file = chain[j].file;
		in->line = chain[j].line;
		in->inlined = true;
		in->rust = strstr(name, "::") != NULL;
		/* Inlined calls have no address of their own: name them apart. */
		in->func_id = hash_bytes(name, strlen(name)) | 1ULL << 63;
		in->library = is_library_frame(name, f->module);
		f->inl[f->ninl++] = in;
	}
}

static const struct mapping *find_mapping(struct symbolizer *s, uint64_t pc)
{
	const struct mapping *m = NULL;

	if (s->maps)
		m = procmaps__find(s->maps, pc);
	/* An address outside the known layout: the target mapped something since. */
	if (!m && mono_ns() - s->maps_read_ns > 1000000) {
		refresh(s, 0);
		m = s->maps ? procmaps__find(s->maps, pc) : NULL;
	}
	return m;
}

/*
 * Every frame is a return address: the call that made it may be the last
 * instruction of its function, so look up pc - 1 to stay inside the caller.
 */
static void resolve(struct symbolizer *s, struct frame_info *f)
{
	uint64_t at = f->pc ? f->pc - 1 : 0;
	const struct placed_map *pl = find_placed(s, at);
	const struct mapping *m = pl ? NULL : find_mapping(s, at);
	struct mapping pm;
	struct sym_obj *so;
	struct elf_sym *sym = NULL;
	uint64_t off, vaddr = 0, start = 0, dw_start = 0;
	bool have_vaddr = false;
	const char *base;

	f->func_id = f->pc;
	f->build_id = "";
	if (pl) {
		pm = (struct mapping){ .start = pl->start,
				       .end = pl->end,
				       .offset = pl->offset,
				       .exec = true,
				       .path = s->objs[pl->obj].path };
		m = &pm;
	}
	if (!m || !m->path) {
		f->function = xasprintf("0x%llx", (unsigned long long)f->pc);
		f->offset = f->pc;
		return;
	}
	off = at - m->start + m->offset;
	f->offset = off + 1;
	so = pl ? &s->objs[pl->obj] : object_for(s, m->path);
	/* The path as this process maps it; it lives as long as the object table. */
	f->module = so->path;
	if (so->o) {
		f->build_id = so->o->build_id;
		if (elf_object__off_to_vaddr(so->o, off, &vaddr)) {
			have_vaddr = true;
			f->offset = vaddr + 1;
			sym = elf_object__lookup(so->o, vaddr);
			if (!sym && so->f->dbg)
				sym = elf_object__lookup(so->f->dbg, vaddr);
		}
	}
	if (sym) {
		f->function = xstrdup(elf_sym__name(sym));
		start = sym->addr;
		f->named = true;
		f->rust = !strncmp(sym->name, "_R", 2) || !strncmp(sym->name, "_ZN", 3);
	}
	base = strrchr(m->path, '/');
	if (!have_vaddr) {
		/* Unreadable, or outside its segments: the file offset is all there is. */
		f->function = xasprintf("%s+0x%llx", base ? base + 1 : m->path,
					(unsigned long long)f->offset);
		return;
	}
	add_dwarf(f, so->f->dwarf, vaddr, sym ? &dw_start : &start);
	/* No symbol, no DWARF: the FDE that covers the address. */
	if (!start && !fde_start(s, so, vaddr, &start))
		start = vaddr;
	/* A function is where it starts, whichever of its calls made the frame. */
	f->func_id = at - (vaddr - start);
	if (!f->function) {
		f->function = xasprintf("%s+0x%llx", base ? base + 1 : m->path,
					(unsigned long long)start);
	}
}

/* Stop a transfer past the session's budget for debuginfod. */
static int dfc_progress(debuginfod_client *c, long a, long b)
{
	struct symbolizer *s = debuginfod_get_user_data(c);

	(void)a;
	(void)b;
	return mono_ns() > s->dfc_deadline_ns;
}

size_t symbolizer__prefetch(struct symbolizer *s, uint64_t budget_ns)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	size_t i;

	if (!urls || !*urls)
		return 0;
	symbolizer__refresh_maps(s);
	s->dfc = debuginfod_begin();
	if (!s->dfc)
		return 0;
	debuginfod_set_user_data(s->dfc, s);
	debuginfod_set_progressfn(s->dfc, dfc_progress);
	s->dfc_deadline_ns = mono_ns() + budget_ns;
	s->fetched = 0;
	for (i = 0; s->maps && i < s->maps->n; i++) {
		const struct mapping *m = &s->maps->maps[i];
		struct sym_obj *so;

		if (!m->path || !m->exec || m->path[0] != '/')
			continue;
		so = object_for(s, m->path);
		if (so->o && !so->o->has_symtab && !so->f->dbg && !so->asked)
			from_debuginfod(s, so);
		so->asked = true;
	}
	debuginfod_end(s->dfc);
	s->dfc = NULL;
	return s->fetched;
}

const struct frame_info *symbolizer__frame(struct symbolizer *s, uint64_t pc)
{
	uint64_t v;
	struct frame_info *f;

	if (u64map_get(&s->cache, pc, &v))
		return (const struct frame_info *)(uintptr_t)v;
	f = xcalloc(1, sizeof(*f));
	f->pc = pc;
	resolve(s, f);
	f->library = is_library_frame(f->named ? f->function : NULL, f->module);
	if (!f->named)
		s->unsymbolized++;
	u64map_put(&s->cache, pc, (uintptr_t)f);
	return f;
}

int symbolizer__expand(struct symbolizer *s, uint64_t pc, const struct frame_info **out, int max)
{
	const struct frame_info *f = symbolizer__frame(s, pc);
	int k, n = 0;

	for (k = 0; k < f->ninl && n < max - 1; k++)
		out[n++] = f->inl[k];
	out[n++] = f;
	return n;
}

size_t symbolizer__unsymbolized(const struct symbolizer *s)
{
	return s->unsymbolized;
}

bool symbolizer__object_is_rust(struct symbolizer *s, const char *path)
{
	size_t i;

	if (!path)
		return false;
	for (i = 0; i < s->nobjs; i++)
		if (s->objs[i].o && (!strcmp(s->objs[i].path, path) ||
				     !strcmp(s->objs[i].o->path, path)))
			return s->objs[i].o->rust;
	return false;
}
