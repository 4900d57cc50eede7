// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unwind tables for the BPF unwinder, kept in step with the target's mappings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cfi.h"
#include "objcache.h"
#include "procmaps.h"
#include "rsprobe.h"
#include "unwind.h"
#include "util.h"

_Static_assert(sizeof(struct rp_cfi_row) == 16, "rows are written in place: kernel stride");

/* A mapped file: its table and segments are the object cache's, shared. */
struct uw_obj {
	char *path;		/* as the target maps it */
	struct objfile *f;
	const struct cfi_table *table;	/* NULL: none */
	uint32_t row_start;
	bool failed, uploaded;
};

/* A process beyond the first, with an object table of its own. */
struct uw_view {
	pid_t pid;
	uint32_t index;			/* its entries in the table map: 2 * index, + 1 */
	volatile uint32_t *slot;
};

struct unwinder {
	pid_t pid;
	struct objcache *cache;
	struct uw_view *views;
	size_t nviews, views_cap;
	struct uw_obj *objs;
	size_t nobjs, objs_cap;
	struct rp_cfi_row *rows;	/* the mmapped rows map */
	size_t capacity, used;
	int maps_fd;
	volatile uint32_t *slot;
	uint64_t last_sync_ns;
	bool warned_full;
	const char *full_at;		/* the first object whose rows did not fit */
};

struct unwinder *unwinder__new(pid_t pid)
{
	struct unwinder *u = xcalloc(1, sizeof(*u));

	u->pid = pid;
	u->cache = objcache__shared();
	u->maps_fd = -1;
	return u;
}

void unwinder__set_pid(struct unwinder *u, pid_t pid)
{
	u->pid = pid;
}

void unwinder__free(struct unwinder *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->nobjs; i++) {
		objcache__put(u->cache, u->objs[i].f);
		free(u->objs[i].path);
	}
	free(u->objs);
	free(u->views);
	if (u->rows)
		munmap(u->rows, u->capacity * sizeof(*u->rows));
	free(u);
}

static struct uw_obj *obj_for(struct unwinder *u, const char *path, const char *open_path,
			      const struct mapping *m)
{
	struct uw_obj *o;
	size_t i;
	int err;

	for (i = 0; i < u->nobjs; i++)
		if (!strcmp(u->objs[i].path, path))
			return &u->objs[i];
	ARR_RESERVE(u->objs, u->objs_cap, u->nobjs + 1);
	o = &u->objs[u->nobjs++];
	memset(o, 0, sizeof(*o));
	o->path = xstrdup(path);
	o->f = objcache__get(u->cache, path, open_path, m ? m->dev : 0, m ? m->inode : 0);
	o->table = objfile__cfi(u->cache, o->f, open_path, &err);
	if (!o->table) {
		debug("no unwind table for %s: %s", path, strerror(-err));
		o->failed = true;
	}
	return o;
}

size_t unwinder__prepare(struct unwinder *u, const char *const *paths, size_t n)
{
	size_t i, rows = 0;

	for (i = 0; i < n; i++) {
		struct uw_obj *o = obj_for(u, paths[i], paths[i], NULL);

		if (!o->failed)
			rows += o->table->n;
	}
	return rows;
}

int unwinder__attach_maps(struct unwinder *u, int rows_fd, size_t capacity, int maps_fd,
			  volatile uint32_t *slot)
{
	void *p = mmap(NULL, capacity * sizeof(struct rp_cfi_row), PROT_READ | PROT_WRITE,
		       MAP_SHARED, rows_fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	u->rows = p;
	u->capacity = capacity;
	u->maps_fd = maps_fd;
	u->slot = slot;
	return 0;
}

static bool upload(struct unwinder *u, struct uw_obj *o)
{
	if (o->uploaded)
		return true;
	if (o->failed || !o->table->n)
		return false;
	if (u->used + o->table->n > u->capacity) {
		if (!u->warned_full)
			warn("unwind tables full: %s unwinds with frame pointers only", o->path);
		u->warned_full = true;
		if (!u->full_at)
			u->full_at = o->path;
		return false;
	}
	memcpy(u->rows + u->used, o->table->rows, o->table->n * sizeof(*u->rows));
	o->row_start = (uint32_t)u->used;
	u->used += o->table->n;
	o->uploaded = true;
	return true;
}

/*
 * runtime - vaddr for an executable mapping. The mapping starts at a page
 * boundary that is usually below its segment's p_offset, so match the
 * executable segment that overlaps the mapped file range.
 */
static bool bias_of(const struct uw_obj *o, const struct mapping *m, uint64_t *bias)
{
	uint64_t lo = m->offset, hi = m->offset + (m->end - m->start);
	const struct elf_object *e = o->f->elf;
	size_t i;

	for (i = 0; e && i < e->nloads; i++) {
		const struct elf_load *l = &e->loads[i];

		if (!l->exec || l->offset >= hi || l->offset + l->filesz <= lo)
			continue;
		*bias = m->start - m->offset + l->offset - l->vaddr;
		return true;
	}
	return false;
}

/* One process's object table, published to its entries (index). */
static int sync_one(struct unwinder *u, pid_t pid, uint32_t index, volatile uint32_t *slot)
{
	const struct procmaps *pm;
	struct rp_maps *mt;
	uint32_t next;
	size_t i;
	int err;

	/* Read now: the symbolizer shares this view when it refreshes next. */
	pm = procmaps__view(pid, 0);
	if (!pm)
		return -errno;
	mt = xcalloc(1, sizeof(*mt));
	for (i = 0; i < pm->n && mt->n < RP_MAX_MAPS; i++) {
		const struct mapping *m = &pm->maps[i];
		struct rp_map_entry *e;
		struct uw_obj *o;
		char *open_path;
		uint64_t bias;

		if (!m->exec || !m->path)
			continue;
		open_path = proc_map_path(pid, m);
		o = obj_for(u, m->path, open_path, m);
		free(open_path);
		if (!upload(u, o) || !bias_of(o, m, &bias))
			continue;
		/* procmaps are sorted by address, so the table is too. */
		e = &mt->m[mt->n++];
		e->start = m->start;
		e->end = m->end;
		e->bias = bias;
		e->row_start = o->row_start;
		e->row_count = (uint32_t)o->table->n;
	}
	procmaps__view_put(pm);
	/* Fill the idle slot, then switch: a walk in progress keeps its slot. */
	next = (*slot + 1) & 1;
	i = 2 * index + next;
	err = bpf_map_update_elem(u->maps_fd, &(uint32_t){ (uint32_t)i }, mt, BPF_ANY) ? -errno : 0;
	if (!err) {
		__atomic_store_n(slot, next, __ATOMIC_RELEASE);
		err = (int)mt->n;
	}
	free(mt);
	return err;
}

/* Every process's table: the first's result is returned (the others' are best effort). */
int unwinder__sync(struct unwinder *u)
{
	size_t i;
	int err;

	if (u->maps_fd < 0)
		return -EINVAL;
	u->last_sync_ns = mono_ns();
	err = sync_one(u, u->pid, 0, u->slot);
	for (i = 0; i < u->nviews; i++)
		sync_one(u, u->views[i].pid, u->views[i].index, u->views[i].slot);
	return err;
}

int unwinder__add_pid(struct unwinder *u, pid_t pid, uint32_t index, volatile uint32_t *slot)
{
	if (!slot || !index)
		return -EINVAL;
	ARR_RESERVE(u->views, u->views_cap, u->nviews + 1);
	u->views[u->nviews++] = (struct uw_view){ pid, index, slot };
	if (u->maps_fd >= 0)
		sync_one(u, pid, index, slot);	/* else at the first sync */
	return 0;
}

void unwinder__remove_pid(struct unwinder *u, pid_t pid)
{
	size_t i;

	for (i = 0; i < u->nviews; i++)
		if (u->views[i].pid == pid) {
			u->views[i] = u->views[--u->nviews];
			return;
		}
}

void unwinder__maybe_sync(struct unwinder *u, uint64_t min_interval_ns)
{
	if (u->maps_fd >= 0 && mono_ns() - u->last_sync_ns >= min_interval_ns)
		unwinder__sync(u);
}

const char *unwinder__full_at(const struct unwinder *u)
{
	return u->full_at;
}

size_t unwinder__rows_used(const struct unwinder *u)
{
	return u->used;
}
