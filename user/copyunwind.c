// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * --unwind copy: the stack BPF copied at an allocator's entry, unwound here
 * with libunwind's remote API. libunwind reads through our accessors: the
 * registers and the stack from the copy, everything else (the CFI) from the
 * target's files as they are mapped, so events read after the target exited
 * still unwind. Only .eh_frame (through .eh_frame_hdr) is used, as in BPF.
 */
#include <dwarf.h>
#include <elf.h>
#include <errno.h>
#include <libunwind.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copyunwind.h"
#include "hashmap.h"
#include "procmaps.h"
#include "util.h"

/* libunwind's own table search, exported but not in its headers. */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

struct cu_obj {
	uint64_t inode;
	dev_t dev;
	const uint8_t *img;	/* the whole file, mapped */
	size_t size;
	bool have_hdr;
	uint64_t hdr_off;	/* file offset of .eh_frame_hdr */
	uint64_t fde_count;
};

struct cu_map {
	uint64_t start, end, offset;
	bool exec;
	size_t obj;
};

struct cu_frames {
	uint16_t n, flags;
	uint64_t pc[];
};

struct copy_unwinder {
	pid_t pid;
	unsigned int max_frames;
	unw_addr_space_t as;
	struct cu_obj *objs;
	size_t nobjs;
	struct cu_map *maps;	/* sorted by start */
	size_t nmaps;
	struct u64map pending;	/* tid -> struct cu_frames * */
	const struct rp_stack_copy *cur;	/* the copy being unwound */
	size_t cur_len;
	struct rp_event *out;
	uint64_t stacks, ns;	/* unwound, and the time spent */
};

static const struct cu_map *find_map(const struct copy_unwinder *cu, uint64_t addr)
{
	size_t lo = 0, hi = cu->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cu->maps[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < cu->nmaps && cu->maps[lo].start <= addr)
		return &cu->maps[lo];
	return NULL;
}

/* Runtime address of a file offset of an object, 0 if no mapping has it. */
static uint64_t runtime_of(const struct copy_unwinder *cu, size_t obj, uint64_t off)
{
	size_t i;

	for (i = 0; i < cu->nmaps; i++) {
		const struct cu_map *m = &cu->maps[i];

		if (m->obj == obj && off >= m->offset && off - m->offset < m->end - m->start)
			return m->start + (off - m->offset);
	}
	return 0;
}

/* .eh_frame_hdr of an ELF image: where, and with a table we can search. */
static void find_hdr(struct cu_obj *o)
{
	const Elf64_Ehdr *eh = (const void *)o->img;
	const uint8_t *h;
	size_t i;

	if (o->size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff > o->size || (o->size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return;
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, o->img + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_GNU_EH_FRAME || ph.p_offset > o->size || o->size - ph.p_offset < 12)
			continue;
		h = o->img + ph.p_offset;
		/* version 1; fde_count udata4; table datarel|sdata4 (what linkers write) */
		if (h[0] != 1 || h[2] != DW_EH_PE_udata4 || h[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
			return;
		/* eh_frame_ptr takes 4 bytes in the encodings linkers use */
		if ((h[1] & 0x0f) != DW_EH_PE_sdata4 && (h[1] & 0x0f) != DW_EH_PE_udata4)
			return;
		{
			uint32_t n;

			memcpy(&n, h + 8, 4);
			if ((uint64_t)n * 8 > o->size - ph.p_offset - 12)
				return;
			o->fde_count = n;
		}
		o->hdr_off = ph.p_offset;
		o->have_hdr = true;
		return;
	}
}

static size_t object_of(struct copy_unwinder *cu, const struct mapping *m)
{
	struct cu_obj *o, *grown;
	struct stat st;
	char *path;
	void *img;
	size_t i;
	int fd;

	for (i = 0; i < cu->nobjs; i++)
		if (cu->objs[i].inode == m->inode && cu->objs[i].dev == m->dev)
			return i;
	path = proc_path(cu->pid, m->path);
	if (!path)
		return SIZE_MAX;
	fd = rp_open_file(path);
	free(path);
	if (fd < 0)
		return SIZE_MAX;
	/* The file mapped, not one put at its path since. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr) ||
	    (uint64_t)st.st_size > RP_FILE_MAX || st.st_ino != m->inode || st.st_dev != m->dev) {
		close(fd);
		return SIZE_MAX;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		return SIZE_MAX;
	grown = realloc(cu->objs, (cu->nobjs + 1) * sizeof(*grown));
	if (!grown) {
		munmap(img, (size_t)st.st_size);
		return SIZE_MAX;
	}
	cu->objs = grown;
	o = &cu->objs[cu->nobjs];
	memset(o, 0, sizeof(*o));
	o->inode = m->inode;
	o->dev = m->dev;
	o->img = img;
	o->size = (size_t)st.st_size;
	find_hdr(o);
	return cu->nobjs++;
}

void copyunw__refresh(struct copy_unwinder *cu)
{
	struct procmaps pm = {};
	struct cu_map *maps;
	size_t i, n = 0;

	if (procmaps__read(cu->pid, &pm))
		return;
	maps = calloc(pm.n ? pm.n : 1, sizeof(*maps));
	if (!maps) {
		procmaps__free(&pm);
		return;
	}
	for (i = 0; i < pm.n; i++) {
		const struct mapping *m = &pm.maps[i];
		size_t obj;

		if (!m->path || !m->inode || m->path[0] != '/')
			continue;
		obj = object_of(cu, m);
		if (obj == SIZE_MAX)
			continue;
		maps[n++] = (struct cu_map){ m->start, m->end, m->offset, m->exec, obj };
	}
	procmaps__free(&pm);
	free(cu->maps);
	cu->maps = maps;
	cu->nmaps = n;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct copy_unwinder *cu = arg;
	const struct cu_map *m = find_map(cu, ip);
	const struct cu_obj *o;
	unw_dyn_info_t di = {};
	uint64_t hdr, lo = UINT64_MAX, hi = 0;
	size_t i;

	if (!m || !m->exec)
		return -UNW_ENOINFO;
	o = &cu->objs[m->obj];
	if (!o->have_hdr)
		return -UNW_ENOINFO;
	hdr = runtime_of(cu, m->obj, o->hdr_off);
	if (!hdr)
		return -UNW_ENOINFO;
	for (i = 0; i < cu->nmaps; i++) {
		if (cu->maps[i].obj != m->obj || !cu->maps[i].exec)
			continue;
		if (cu->maps[i].start < lo)
			lo = cu->maps[i].start;
		if (cu->maps[i].end > hi)
			hi = cu->maps[i].end;
	}
	di.start_ip = lo;
	di.end_ip = hi;
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.u.rti.segbase = hdr;
	di.u.rti.table_data = hdr + 12;
	/* in words: two 4-byte fields per entry */
	di.u.rti.table_len = o->fde_count * 8 / sizeof(unw_word_t);
	return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)pi;
	(void)arg;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

/* The stack from the copy; code and CFI from the objects' files. */
static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
		      void *arg)
{
	struct copy_unwinder *cu = arg;
	const struct rp_stack_copy *c = cu->cur;
	const struct cu_map *m;
	const struct cu_obj *o;
	uint64_t off;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (addr >= c->sp && addr - c->sp <= cu->cur_len && cu->cur_len - (addr - c->sp) >= 8) {
		memcpy(valp, c->data + (addr - c->sp), 8);
		return 0;
	}
	m = find_map(cu, addr);
	if (!m || m->end - addr < 8)
		return -UNW_EINVAL;
	o = &cu->objs[m->obj];
	off = m->offset + (addr - m->start);
	if (off > o->size || o->size - off < 8)
		return -UNW_EINVAL;
	memcpy(valp, o->img + off, 8);
	return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
		      void *arg)
{
	struct copy_unwinder *cu = arg;
	const struct rp_stack_copy *c = cu->cur;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RIP: *valp = c->ip; break;
	case UNW_X86_64_RSP: *valp = c->sp; break;
	case UNW_X86_64_RBP: *valp = c->bp; break;
	case UNW_X86_64_RBX: *valp = c->bx; break;
	case UNW_X86_64_R12: *valp = c->r12; break;
	case UNW_X86_64_R13: *valp = c->r13; break;
	case UNW_X86_64_R14: *valp = c->r14; break;
	case UNW_X86_64_R15: *valp = c->r15; break;
	default: return -UNW_EBADREG;
	}
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *offp, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)offp;
	(void)arg;
	return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

struct copy_unwinder *copyunw__new(pid_t pid, unsigned int max_frames)
{
	struct copy_unwinder *cu = calloc(1, sizeof(*cu));

	if (!cu)
		return NULL;
	cu->pid = pid;
	cu->max_frames = max_frames ? max_frames : RP_DEFAULT_FRAMES;
	if (cu->max_frames > RP_MAX_FRAMES)
		cu->max_frames = RP_MAX_FRAMES;
	cu->out = calloc(1, sizeof(*cu->out));
	cu->as = unw_create_addr_space(&accessors, 0);
	if (!cu->out || !cu->as) {
		copyunw__free(cu);
		return NULL;
	}
	/* Rows found once per return address, not per event. */
	unw_set_caching_policy(cu->as, UNW_CACHE_GLOBAL);
	u64map_init(&cu->pending);
	return cu;
}

void copyunw__free(struct copy_unwinder *cu)
{
	size_t i = 0;
	uint64_t k, v;

	if (!cu)
		return;
	while (u64map_next(&cu->pending, &i, &k, &v))
		free((void *)(uintptr_t)v);
	u64map_free(&cu->pending);
	for (i = 0; i < cu->nobjs; i++)
		munmap((void *)cu->objs[i].img, cu->objs[i].size);
	free(cu->objs);
	free(cu->maps);
	if (cu->as)
		unw_destroy_addr_space(cu->as);
	free(cu->out);
	free(cu);
}

/* Walk the copy: return addresses, innermost first, as the BPF walk gives them. */
static void walk(struct copy_unwinder *cu, struct cu_frames *f)
{
	unw_cursor_t cur;
	unw_word_t ip;
	int r;

	f->flags = RP_F_DWARF;
	if (unw_init_remote(&cur, cu->as, cu) < 0)
		return;
	for (;;) {
		r = unw_step(&cur);
		if (r == 0) {
			f->flags |= RP_F_COMPLETE;
			return;
		}
		if (r < 0) {
			if (r == -UNW_ENOINFO)
				f->flags |= RP_F_UNMAPPED;
			return;
		}
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0)
			return;
		if (!ip) {
			f->flags |= RP_F_COMPLETE;
			return;
		}
		if (f->n >= cu->max_frames) {
			f->flags |= RP_F_TRUNCATED;
			return;
		}
		f->pc[f->n++] = ip;
	}
}

void copyunw__stack(struct copy_unwinder *cu, const struct rp_stack_copy *c, size_t len)
{
	struct cu_frames *f;
	uint64_t old;
	bool fresh;
	uint64_t *slot, t0;

	if (len < sizeof(*c) || c->len > len - sizeof(*c))
		return;
	f = calloc(1, sizeof(*f) + cu->max_frames * sizeof(f->pc[0]));
	if (!f)
		return;
	t0 = mono_ns();
	cu->cur = c;
	cu->cur_len = c->len;
	/* An object mapped since the last look (dlopen): look again, once. */
	if (!find_map(cu, c->ip))
		copyunw__refresh(cu);
	walk(cu, f);
	if ((f->flags & RP_F_UNMAPPED) && !(f->flags & RP_F_COMPLETE)) {
		copyunw__refresh(cu);
		f->n = 0;
		walk(cu, f);
	}
	cu->cur = NULL;
	cu->stacks++;
	cu->ns += mono_ns() - t0;
	slot = u64map_slot(&cu->pending, c->tid, &fresh);
	if (!slot) {
		free(f);
		return;
	}
	old = *slot;
	if (!fresh && old)
		free((void *)(uintptr_t)old);
	*slot = (uint64_t)(uintptr_t)f;
}

void copyunw__cost(const struct copy_unwinder *cu, uint64_t *stacks, uint64_t *ns)
{
	*stacks = cu->stacks;
	*ns = cu->ns;
}

const struct rp_event *copyunw__fill(struct copy_unwinder *cu, const struct rp_event *e,
				     size_t *len)
{
	struct cu_frames *f = NULL;
	uint64_t v;

	memcpy(cu->out, e, RP_EVENT_HDR_SIZE);
	cu->out->nframes = 0;
	if (u64map_del(&cu->pending, e->tid, &v) && v) {
		f = (struct cu_frames *)(uintptr_t)v;
		memcpy(cu->out->frames, f->pc, f->n * sizeof(f->pc[0]));
		cu->out->nframes = f->n;
		cu->out->flags |= f->flags;
		free(f);
	}
	*len = RP_EVENT_HDR_SIZE + cu->out->nframes * sizeof(uint64_t);
	return cu->out;
}
