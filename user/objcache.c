// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The target's files, read once per file identity and shared (objcache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dwarfsym.h"
#include "objcache.h"
#include "util.h"

struct objcache {
	struct objfile **files;
	size_t n, cap;
	uint64_t seq;			/* release order */
	const char *const *debug_roots;	/* NULL: the default */
	struct objcache_stats st;
};

struct objcache *objcache__new(void)
{
	return xcalloc(1, sizeof(struct objcache));
}

static struct objcache *shared_cache;

static void free_shared(void)
{
	struct objcache_stats st;

	objcache__stats(shared_cache, &st);
	debug("object cache: %zu files held, %zu indexed, %zu DWARF looked for, %zu unwind tables "
	      "built, %zu function range reads, %zu lookups answered, %zu evicted",
	      st.files, st.elf_opens, st.dwarf_opens, st.cfi_builds, st.func_reads, st.hits,
	      st.evicted);
	objcache__free(shared_cache);
	shared_cache = NULL;
}

struct objcache *objcache__shared(void)
{
	if (!shared_cache) {
		shared_cache = objcache__new();
		atexit(free_shared);
	}
	return shared_cache;
}

static void objfile_free(struct objfile *f)
{
	elf_object__free(f->elf);
	elf_object__free(f->dbg);
	dwarf_sym__close(f->dwarf);
	free(f->funcs);
	cfi_table__free(&f->cfi);
	free(f->path);
	free(f);
}

void objcache__free(struct objcache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		objfile_free(c->files[i]);
	free(c->files);
	free(c);
}

void objcache__set_debug_roots(struct objcache *c, const char *const *roots)
{
	c->debug_roots = roots;
}

const char *const *objcache__debug_roots(const struct objcache *c)
{
	return c->debug_roots;
}

static struct objfile *find(struct objcache *c, bool (*match)(const struct objfile *, const void *),
			    const void *key)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!c->files[i]->stale && match(c->files[i], key))
			return c->files[i];
	return NULL;
}

struct map_key {
	dev_t dev;
	ino_t ino;
};

static bool by_map_id(const struct objfile *f, const void *key)
{
	const struct map_key *k = key;

	return (f->map_ino == k->ino && f->map_dev == k->dev) ||
	       (f->id.ino == k->ino && f->id.dev == k->dev);
}

static bool by_build_id(const struct objfile *f, const void *key)
{
	return !strcmp(f->id.build_id, key);
}

/*
 * A file first read through a /proc path (map_files, a process's root)
 * takes the name a process maps it by, once a reader gives one.
 */
static void better_name(struct objfile *f, const char *path)
{
	if (!strncmp(path, "/proc/", 6) || strncmp(f->path, "/proc/", 6))
		return;
	free(f->path);
	f->path = xstrdup(path);
	if (f->elf && !strncmp(f->elf->path, "/proc/", 6)) {
		free(f->elf->path);
		f->elf->path = xstrdup(path);
	}
}

static struct objfile *take(struct objcache *c, struct objfile *f, const char *path)
{
	better_name(f, path);
	f->refs++;
	c->st.hits++;
	return f;
}

/* The oldest released entries beyond OBJCACHE_KEEP. */
static void evict(struct objcache *c)
{
	size_t i, kept = 0, oldest;

	for (i = 0; i < c->n; i++)
		kept += !c->files[i]->refs;
	while (kept > OBJCACHE_KEEP) {
		oldest = c->n;
		for (i = 0; i < c->n; i++)
			if (!c->files[i]->refs &&
			    (oldest == c->n || c->files[i]->released < c->files[oldest]->released))
				oldest = i;
		objfile_free(c->files[oldest]);
		c->files[oldest] = c->files[--c->n];
		c->st.evicted++;
		kept--;
	}
}

struct objfile *objcache__get(struct objcache *c, const char *path, const char *open_path,
			      dev_t dev, ino_t ino)
{
	struct map_key mk = { dev, ino };
	struct elf_identity id;
	struct objfile *f = ino ? find(c, by_map_id, &mk) : NULL;
	bool readable = !elf_file_identity(open_path, &id);

	/* Known: the same file, unless its build ID changed (replaced in place). */
	if (f && (!readable || !strcmp(f->id.build_id, id.build_id)))
		return take(c, f, path);
	if (f)
		f->stale = true;
	if (readable) {
		mk = (struct map_key){ id.dev, id.ino };
		f = find(c, by_map_id, &mk);
		if (f && strcmp(f->id.build_id, id.build_id)) {
			f->stale = true;
			f = NULL;
		}
		/* Another path to the same contents (a copy, a container's layer). */
		if (!f && id.build_id[0])
			f = find(c, by_build_id, id.build_id);
		if (f)
			return take(c, f, path);
	}
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->id = readable ? id : (struct elf_identity){ 0 };
	f->map_dev = dev;
	f->map_ino = ino;
	f->refs = 1;
	/* Nothing to know it by: found by no later lookup. */
	f->stale = !readable;
	f->elf = readable ? elf_object__open(path, open_path) : NULL;
	debug("object cache: %s read (%s)", path,
	      f->elf ? f->id.build_id : "not ELF or unreadable");
	c->st.elf_opens += !!f->elf;
	ARR_RESERVE(c->files, c->cap, c->n + 1);
	c->files[c->n++] = f;
	return f;
}

void objcache__put(struct objcache *c, struct objfile *f)
{
	size_t i;

	if (!f || !f->refs)
		return;
	if (--f->refs)
		return;
	f->released = ++c->seq;
	/* Replaced on disk and no longer used: nobody will find it again. */
	if (f->stale) {
		for (i = 0; i < c->n && c->files[i] != f; i++)
			;
		if (i < c->n) {
			c->files[i] = c->files[--c->n];
			objfile_free(f);
			c->st.evicted++;
		}
		return;
	}
	evict(c);
}

struct dwarf_sym *objfile__dwarf(struct objcache *c, struct objfile *f, const char *path,
				 const char *open_path)
{
	struct dwarf_sym_opts dopts = { .debug_roots = c->debug_roots };

	if (f->dwarf_read || !f->elf)
		return f->dwarf;
	f->dwarf_read = true;
	c->st.dwarf_opens++;
	f->dwarf = dwarf_sym__open(path, open_path, f->elf->build_id, &dopts);
	/* Stripped: the separate debug file may keep the .symtab that strip removed. */
	if (!f->elf->has_symtab && !f->dbg) {
		char *dbg = debug_file_find(path, open_path, f->elf->build_id, &dopts);

		if (dbg) {
			f->dbg = elf_object__open(dbg, dbg);
			debug("symbols of %s from %s", path, dbg);
			free(dbg);
		}
	}
	return f->dwarf;
}

const struct cfi_func *objfile__funcs(struct objcache *c, struct objfile *f,
				      const char *open_path, size_t *n)
{
	if (!f->funcs_read) {
		f->funcs_read = true;
		c->st.func_reads++;
		if (cfi_func_ranges(open_path, &f->funcs, &f->nfuncs))
			debug("no function ranges in %s", open_path);
	}
	*n = f->nfuncs;
	return f->funcs;
}

const struct cfi_table *objfile__cfi(struct objcache *c, struct objfile *f, const char *open_path,
				     int *err)
{
	if (!f->cfi_read) {
		f->cfi_read = true;
		c->st.cfi_builds++;
		f->cfi_err = f->elf ? cfi_table__build(open_path, &f->cfi) : -ENOEXEC;
	}
	*err = f->cfi_err;
	return f->cfi_err ? NULL : &f->cfi;
}

void objcache__stats(const struct objcache *c, struct objcache_stats *st)
{
	*st = c->st;
	st->files = c->n;
}
