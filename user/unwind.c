// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unwind tables for the BPF unwinder, kept in step with the targets'
 * mappings. The rows of an object are loaded once for every process that
 * maps it, counted by the processes whose published table lists it, and
 * given back when none does: a range given back is reused only after a
 * grace period, when no walk that could still read it is running.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
	dev_t dev;		/* as the maps say (0: not known yet) */
	ino_t ino;
	struct objfile *f;
	const struct cfi_table *table;	/* NULL: none */
	uint32_t row_start;
	unsigned int refs;	/* processes whose published table lists it */
	bool failed, uploaded;
};

/* A process with an object table of its own (entries 2 * index, 2 * index + 1). */
struct uw_view {
	pid_t pid;
	uint32_t index;
	volatile uint32_t *slot;
	struct uw_obj **objs;	/* what its published table lists (one reference each) */
	size_t nobjs;
};

/* A range of rows. */
struct uw_range {
	uint32_t start, n;
};

struct unwinder {
	struct objcache *cache;
	struct uw_view *views;	/* views[0]: the first process (index 0) */
	size_t nviews, views_cap;
	struct uw_obj **objs;
	size_t nobjs, objs_cap;
	struct rp_cfi_row *rows;	/* the mmapped rows map */
	size_t capacity, used, peak, loaded;
	struct uw_range *free_r;	/* free rows, sorted, coalesced */
	size_t nfree, free_cap;
	struct uw_range *quar;		/* given back, not reusable before a grace period */
	size_t nquar, quar_cap;
	uint64_t graces;
	int maps_fd;
	uint64_t last_sync_ns;
	bool warned_full;
	const char *full_at;		/* the first object whose rows did not fit */
	char *full_at_buf;
};

struct unwinder *unwinder__new(pid_t pid)
{
	struct unwinder *u = xcalloc(1, sizeof(*u));

	u->cache = objcache__shared();
	u->maps_fd = -1;
	ARR_RESERVE(u->views, u->views_cap, 1);
	u->views[u->nviews++] = (struct uw_view){ .pid = pid };
	return u;
}

void unwinder__set_pid(struct unwinder *u, pid_t pid)
{
	u->views[0].pid = pid;
}

static void obj_free(struct unwinder *u, struct uw_obj *o)
{
	objcache__put(u->cache, o->f);
	free(o->path);
	free(o);
}

void unwinder__free(struct unwinder *u)
{
	size_t i;

	if (!u)
		return;
	for (i = 0; i < u->nobjs; i++)
		obj_free(u, u->objs[i]);
	free(u->objs);
	for (i = 0; i < u->nviews; i++)
		free(u->views[i].objs);
	free(u->views);
	free(u->free_r);
	free(u->quar);
	free(u->full_at_buf);
	if (u->rows)
		munmap(u->rows, u->capacity * sizeof(*u->rows));
	free(u);
}

static struct uw_obj *obj_new(struct unwinder *u, const char *path, const char *open_path,
			      const struct mapping *m)
{
	struct objfile *f = objcache__get(u->cache, path, open_path, m ? m->dev : 0,
					  m ? m->inode : 0);
	struct uw_obj *o;
	size_t i;
	int err;

	/* Another name of a file already here (a copy, another root): its rows serve. */
	for (i = 0; i < u->nobjs; i++)
		if (u->objs[i]->f == f) {
			objcache__put(u->cache, f);
			return u->objs[i];
		}
	o = xcalloc(1, sizeof(*o));
	o->path = xstrdup(path);
	o->dev = m ? m->dev : 0;
	o->ino = m ? m->inode : 0;
	o->f = f;
	o->table = objfile__cfi(u->cache, f, open_path, &err);
	if (!o->table) {
		debug("no unwind table for %s: %s", path, strerror(-err));
		o->failed = true;
	}
	ARR_RESERVE(u->objs, u->objs_cap, u->nobjs + 1);
	u->objs[u->nobjs++] = o;
	return o;
}

static struct uw_obj *obj_for(struct unwinder *u, const char *path, const char *open_path,
			      const struct mapping *m)
{
	size_t i;

	for (i = 0; i < u->nobjs; i++) {
		struct uw_obj *o = u->objs[i];

		if (strcmp(o->path, path))
			continue;
		if (m && o->ino && (o->ino != m->inode || o->dev != m->dev))
			continue;	/* replaced at its path: another file */
		if (m && !o->ino) {
			o->dev = m->dev;
			o->ino = m->inode;
		}
		return o;
	}
	return obj_new(u, path, open_path, m);
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
	u->views[0].slot = slot;
	ARR_RESERVE(u->free_r, u->free_cap, 1);
	u->free_r[0] = (struct uw_range){ 0, (uint32_t)capacity };
	u->nfree = 1;
	return 0;
}

/* Into the free list, kept sorted and coalesced. */
static void range_free(struct unwinder *u, struct uw_range r)
{
	size_t i = 0;

	while (i < u->nfree && u->free_r[i].start < r.start)
		i++;
	if (i > 0 && u->free_r[i - 1].start + u->free_r[i - 1].n == r.start) {
		u->free_r[i - 1].n += r.n;
		if (i < u->nfree && r.start + r.n == u->free_r[i].start) {
			u->free_r[i - 1].n += u->free_r[i].n;
			memmove(&u->free_r[i], &u->free_r[i + 1],
				(u->nfree - i - 1) * sizeof(*u->free_r));
			u->nfree--;
		}
		return;
	}
	if (i < u->nfree && r.start + r.n == u->free_r[i].start) {
		u->free_r[i].start = r.start;
		u->free_r[i].n += r.n;
		return;
	}
	ARR_RESERVE(u->free_r, u->free_cap, u->nfree + 1);
	memmove(&u->free_r[i + 1], &u->free_r[i], (u->nfree - i) * sizeof(*u->free_r));
	u->free_r[i] = r;
	u->nfree++;
}

/*
 * Walks run in BPF programs, inside an RCU read-side section: once a grace
 * period has passed since a table stopped listing an object, no walk reads
 * its rows. MEMBARRIER_CMD_GLOBAL waits for one (synchronize_rcu()); where
 * it is missing, a pause far longer than any walk.
 */
static void grace_period(struct unwinder *u)
{
	size_t i;

	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
		usleep(100000);
	u->graces++;
	for (i = 0; i < u->nquar; i++)
		range_free(u, u->quar[i]);
	u->nquar = 0;
}

static bool range_alloc(struct unwinder *u, uint32_t n, uint32_t *start)
{
	size_t i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < u->nfree; i++) {
			struct uw_range *r = &u->free_r[i];

			if (r->n < n)
				continue;
			*start = r->start;
			r->start += n;
			r->n -= n;
			if (!r->n) {
				memmove(r, r + 1, (u->nfree - i - 1) * sizeof(*r));
				u->nfree--;
			}
			return true;
		}
		if (!u->nquar)
			break;
		grace_period(u);
	}
	return false;
}

static void view_release(struct unwinder *u, struct uw_view *v);

/* Processes gone without being removed yet: what they held is given back. */
static void release_dead(struct unwinder *u)
{
	size_t i;

	for (i = 0; i < u->nviews; i++)
		if (u->views[i].nobjs && u->views[i].pid > 0 && kill(u->views[i].pid, 0) &&
		    errno == ESRCH)
			view_release(u, &u->views[i]);
}

static bool upload(struct unwinder *u, struct uw_obj *o)
{
	uint32_t start;

	if (o->uploaded)
		return true;
	if (o->failed || !o->table->n)
		return false;
	if (o->table->n > u->capacity || !range_alloc(u, (uint32_t)o->table->n, &start)) {
		release_dead(u);
		if (o->table->n > u->capacity || !range_alloc(u, (uint32_t)o->table->n, &start)) {
			if (!u->warned_full)
				warn("unwind tables full: %s unwinds with frame pointers only",
				     o->path);
			u->warned_full = true;
			if (!u->full_at)
				u->full_at = u->full_at_buf = xstrdup(o->path);
			return false;
		}
	}
	memcpy(u->rows + start, o->table->rows, o->table->n * sizeof(*u->rows));
	o->row_start = start;
	u->used += o->table->n;
	u->loaded += o->table->n;
	u->peak = MAX(u->peak, u->used);
	o->uploaded = true;
	debug("unwind rows: %zu for %s at %u (%zu of %zu in use)", o->table->n, o->path, start,
	      u->used, u->capacity);
	return true;
}

/* No published table lists o any more: its rows wait for a grace period. */
static void obj_unref(struct unwinder *u, struct uw_obj *o)
{
	size_t i;

	if (!o->refs || --o->refs)
		return;
	if (o->uploaded) {
		ARR_RESERVE(u->quar, u->quar_cap, u->nquar + 1);
		u->quar[u->nquar++] = (struct uw_range){ o->row_start, (uint32_t)o->table->n };
		u->used -= o->table->n;
	}
	for (i = 0; i < u->nobjs && u->objs[i] != o; i++)
		;
	if (i < u->nobjs)
		u->objs[i] = u->objs[--u->nobjs];
	obj_free(u, o);
}

static void view_release(struct unwinder *u, struct uw_view *v)
{
	size_t i;

	for (i = 0; i < v->nobjs; i++)
		obj_unref(u, v->objs[i]);
	free(v->objs);
	v->objs = NULL;
	v->nobjs = 0;
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

/* One process's object table, published to its entries. */
static int sync_one(struct unwinder *u, struct uw_view *v)
{
	struct uw_obj **held = NULL;
	size_t nheld = 0, held_cap = 0;
	const struct procmaps *pm;
	struct rp_maps *mt;
	uint32_t next;
	size_t i, k;
	int err;

	if (!v->slot || v->pid <= 0)
		return -EINVAL;
	/* Read now: the symbolizer shares this view when it refreshes next. */
	pm = procmaps__view(v->pid, 0);
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
		open_path = proc_map_path(v->pid, m);
		o = obj_for(u, m->path, open_path, m);
		free(open_path);
		/* Held from now on (once per object): nothing below gives it back. */
		for (k = 0; k < nheld && held[k] != o; k++)
			;
		if (k == nheld) {
			ARR_RESERVE(held, held_cap, nheld + 1);
			held[nheld++] = o;
			o->refs++;
		}
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
	next = (*v->slot + 1) & 1;
	i = 2 * v->index + next;
	err = bpf_map_update_elem(u->maps_fd, &(uint32_t){ (uint32_t)i }, mt, BPF_ANY) ? -errno : 0;
	if (!err) {
		__atomic_store_n(v->slot, next, __ATOMIC_RELEASE);
		err = (int)mt->n;
	}
	free(mt);
	/* What the table listed before and lists no more is given back. */
	view_release(u, v);
	v->objs = held;
	v->nobjs = nheld;
	return err;
}

/* Every process's table: the first's result is returned (the others' are best effort). */
int unwinder__sync(struct unwinder *u)
{
	size_t i;
	int err = -ESRCH, e;

	if (u->maps_fd < 0)
		return -EINVAL;
	u->last_sync_ns = mono_ns();
	for (i = 0; i < u->nviews; i++) {
		e = sync_one(u, &u->views[i]);
		if (!i)
			err = e;
	}
	return err;
}

int unwinder__add_pid(struct unwinder *u, pid_t pid, uint32_t index, volatile uint32_t *slot)
{
	struct uw_view *v;

	if (!slot)
		return -EINVAL;
	if (!index) {
		if (u->views[0].pid > 0)
			return -EBUSY;
		u->views[0].pid = pid;
		u->views[0].slot = slot;
		if (u->maps_fd >= 0)
			sync_one(u, &u->views[0]);
		return 0;
	}
	ARR_RESERVE(u->views, u->views_cap, u->nviews + 1);
	v = &u->views[u->nviews++];
	*v = (struct uw_view){ .pid = pid, .index = index, .slot = slot };
	if (u->maps_fd >= 0)
		sync_one(u, v);	/* else at the first sync */
	return 0;
}

void unwinder__remove_pid(struct unwinder *u, pid_t pid)
{
	size_t i;

	for (i = 0; i < u->nviews; i++) {
		if (u->views[i].pid != pid)
			continue;
		view_release(u, &u->views[i]);
		if (!i) {
			u->views[0].pid = 0;	/* the first's entries stay its own */
			return;
		}
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

void unwinder__row_stats(const struct unwinder *u, struct unwinder_row_stats *st)
{
	st->capacity = u->capacity;
	st->used = u->used;
	st->peak = u->peak;
	st->loaded = u->loaded;
	st->graces = u->graces;
	st->objects = u->nobjs;
}
