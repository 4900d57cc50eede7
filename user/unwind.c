// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unwind tables for the BPF unwinder, kept in step with the target's mappings. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cfi.h"
#include "procmaps.h"
#include "rsprobe.h"
#include "unwind.h"
#include "util.h"

_Static_assert(sizeof(struct rp_cfi_row) == 16, "rows are written in place: kernel stride");

struct uw_load {
	uint64_t vaddr, offset, filesz;
	bool exec;
};

struct uw_obj {
	char *path;		/* as the target maps it */
	struct cfi_table table;
	struct uw_load *loads;
	size_t nloads;
	uint32_t row_start;
	bool built, failed, uploaded;
};

struct unwinder {
	pid_t pid;
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
		cfi_table__free(&u->objs[i].table);
		free(u->objs[i].loads);
		free(u->objs[i].path);
	}
	free(u->objs);
	if (u->rows)
		munmap(u->rows, u->capacity * sizeof(*u->rows));
	free(u);
}

/* PT_LOAD segments: a mapping's file offset -> ELF vaddr gives the load bias. */
static int read_loads(const char *path, struct uw_obj *o)
{
	size_t i, n, cap = 0;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = rp_open_file(path);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_getphdrnum(elf, &n)) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		ARR_RESERVE(o->loads, cap, o->nloads + 1);
		o->loads[o->nloads++] = (struct uw_load){ ph.p_vaddr, ph.p_offset, ph.p_filesz,
							  !!(ph.p_flags & PF_X) };
	}
	elf_end(elf);
	close(fd);
	return 0;
}

static struct uw_obj *obj_for(struct unwinder *u, const char *path, const char *open_path)
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
	err = read_loads(open_path, o);
	if (!err)
		err = cfi_table__build(open_path, &o->table);
	if (err) {
		debug("no unwind table for %s: %s", path, strerror(-err));
		o->failed = true;
	}
	o->built = true;
	return o;
}

size_t unwinder__prepare(struct unwinder *u, const char *const *paths, size_t n)
{
	size_t i, rows = 0;

	for (i = 0; i < n; i++) {
		struct uw_obj *o = obj_for(u, paths[i], paths[i]);

		if (!o->failed)
			rows += o->table.n;
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
	if (o->failed || !o->table.n)
		return false;
	if (u->used + o->table.n > u->capacity) {
		if (!u->warned_full)
			warn("unwind tables full: %s unwinds with frame pointers only", o->path);
		u->warned_full = true;
		if (!u->full_at)
			u->full_at = o->path;
		return false;
	}
	memcpy(u->rows + u->used, o->table.rows, o->table.n * sizeof(*u->rows));
	o->row_start = (uint32_t)u->used;
	u->used += o->table.n;
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
	size_t i;

	for (i = 0; i < o->nloads; i++) {
		const struct uw_load *l = &o->loads[i];

		if (!l->exec || l->offset >= hi || l->offset + l->filesz <= lo)
			continue;
		*bias = m->start - m->offset + l->offset - l->vaddr;
		return true;
	}
	return false;
}

int unwinder__sync(struct unwinder *u)
{
	struct rp_maps *mt;
	struct procmaps pm;
	uint32_t next;
	size_t i;
	int err;

	if (u->maps_fd < 0)
		return -EINVAL;
	u->last_sync_ns = mono_ns();
	err = procmaps__read(u->pid, &pm);
	if (err)
		return err;
	mt = xcalloc(1, sizeof(*mt));
	for (i = 0; i < pm.n && mt->n < RP_MAX_MAPS; i++) {
		const struct mapping *m = &pm.maps[i];
		struct rp_map_entry *e;
		struct uw_obj *o;
		char *open_path;
		uint64_t bias;

		if (!m->exec || !m->path)
			continue;
		open_path = proc_map_path(u->pid, m);
		o = obj_for(u, m->path, open_path);
		free(open_path);
		if (!upload(u, o) || !bias_of(o, m, &bias))
			continue;
		/* procmaps are sorted by address, so the table is too. */
		e = &mt->m[mt->n++];
		e->start = m->start;
		e->end = m->end;
		e->bias = bias;
		e->row_start = o->row_start;
		e->row_count = (uint32_t)o->table.n;
	}
	procmaps__free(&pm);
	/* Fill the idle slot, then switch: a walk in progress keeps its slot. */
	next = (*u->slot + 1) & 1;
	err = bpf_map_update_elem(u->maps_fd, &next, mt, BPF_ANY) ? -errno : 0;
	if (!err) {
		__atomic_store_n(u->slot, next, __ATOMIC_RELEASE);
		err = (int)mt->n;
	}
	free(mt);
	return err;
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
