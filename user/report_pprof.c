// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pprof: a gzipped profile.proto, encoded with protobuf-c from user/pprof.proto.
 *
 * Sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count and
 * inuse_space/bytes, as a Go heap profile has them, so go tool pprof, Pyroscope
 * and Parca read it as a heap profile; "in use" means live at the end. Like
 * tcmalloc's lifetime profiles, allocations and frees are paired: each site
 * has one sample at its birth stack and one per drop stack, which carries
 * freed_objects/count and freed_space/bytes, and both carry the label
 * callstack-pair-id = the site id (the same id as in the JSON).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "hashmap.h"
#include "pprof.pb-c.h"
#include "report.h"
#include "util.h"

enum { V_ALLOC_OBJ, V_ALLOC_SPACE, V_INUSE_OBJ, V_INUSE_SPACE, V_FREED_OBJ, V_FREED_SPACE, NV };

static const char *const value_types[NV][2] = {
	{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
	{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	{ "freed_objects", "count" }, { "freed_space", "bytes" },
};

/* An object being mapped: its range grows with every address seen in it. */
struct map_range {
	uint64_t lo, hi, bias;
};

struct pp {
	const struct model *m;
	void **owned;			/* everything allocated, freed at the end */
	size_t nowned, owned_cap;
	char **strs;
	size_t nstrs, strs_cap;
	struct u64map str_idx;		/* string hash -> index + 1 */
	Pprof__Function **fns;
	size_t nfns, fns_cap;
	struct u64map fn_of_str;	/* name string index -> function id */
	Pprof__Location **locs;
	size_t nlocs, locs_cap;
	struct u64map loc_of_pc;	/* pc -> location id */
	Pprof__Mapping **maps;
	struct map_range *ranges;
	size_t nmaps, maps_cap, ranges_cap;
	struct u64map map_of_str;	/* module string index -> mapping id */
	Pprof__Sample **samples;
	size_t nsamples, samples_cap;
};

static void *pp_alloc(struct pp *p, size_t n)
{
	void *v = xcalloc(1, n ?: 1);

	ARR_RESERVE(p->owned, p->owned_cap, p->nowned + 1);
	p->owned[p->nowned++] = v;
	return v;
}

static int64_t str_index(struct pp *p, const char *s)
{
	uint64_t h = hash_bytes(s, strlen(s)), v;

	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&p->str_idx, h, &v))
			break;
		if (!strcmp(p->strs[v - 1], s))
			return (int64_t)v - 1;
	}
	ARR_RESERVE(p->strs, p->strs_cap, p->nstrs + 1);
	p->strs[p->nstrs] = pp_alloc(p, strlen(s) + 1);
	strcpy(p->strs[p->nstrs++], s);
	u64map_put(&p->str_idx, h, p->nstrs);
	return (int64_t)p->nstrs - 1;
}

static uint64_t function_id(struct pp *p, const char *name)
{
	int64_t s = str_index(p, name);
	uint64_t id;
	Pprof__Function *fn;

	if (u64map_get(&p->fn_of_str, (uint64_t)s, &id))
		return id;
	fn = pp_alloc(p, sizeof(*fn));
	pprof__function__init(fn);
	fn->id = p->nfns + 1;
	/*
	 * Names are demangled already. system_name stays "" (we do not keep the
	 * mangled symbol): pprof demangles, and strips <...> from, names equal
	 * to their system_name, which would cut "<Vec<T>>::push" to "::push".
	 */
	fn->name = s;
	ARR_RESERVE(p->fns, p->fns_cap, p->nfns + 1);
	p->fns[p->nfns++] = fn;
	u64map_put(&p->fn_of_str, (uint64_t)s, fn->id);
	return fn->id;
}

static uint64_t mapping_id(struct pp *p, const struct frame_info *fr)
{
	int64_t s;
	uint64_t id;
	Pprof__Mapping *mp;
	struct map_range *r;

	if (!fr->module)
		return 0;
	s = str_index(p, fr->module);
	if (!u64map_get(&p->map_of_str, (uint64_t)s, &id)) {
		mp = pp_alloc(p, sizeof(*mp));
		pprof__mapping__init(mp);
		mp->id = id = p->nmaps + 1;
		mp->filename = s;
		mp->build_id = str_index(p, fr->build_id ? fr->build_id : "");
		mp->has_functions = true;
		ARR_RESERVE(p->maps, p->maps_cap, p->nmaps + 1);
		ARR_RESERVE(p->ranges, p->ranges_cap, p->nmaps + 1);
		p->ranges[p->nmaps] = (struct map_range){ fr->pc, fr->pc, fr->pc - fr->offset };
		p->maps[p->nmaps++] = mp;
		u64map_put(&p->map_of_str, (uint64_t)s, id);
	}
	r = &p->ranges[id - 1];
	r->lo = MIN(r->lo, fr->pc);
	r->hi = MAX(r->hi, fr->pc);
	return id;
}

/*
 * The location of frames fr[0..n), which share one address: an address
 * whose code was inlined has one frame per function, innermost first, and
 * becomes one Location with a Line for each.
 */
static uint64_t location_id(struct pp *p, const struct frame_info *const *fr, uint32_t n)
{
	Pprof__Location *loc;
	uint64_t id;
	uint32_t i;

	if (u64map_get(&p->loc_of_pc, fr[0]->pc, &id))
		return id;
	loc = pp_alloc(p, sizeof(*loc));
	pprof__location__init(loc);
	loc->id = id = p->nlocs + 1;
	loc->mapping_id = mapping_id(p, fr[0]);
	loc->address = fr[0]->pc;
	loc->n_line = n;
	loc->line = pp_alloc(p, n * sizeof(*loc->line));
	for (i = 0; i < n; i++) {
		loc->line[i] = pp_alloc(p, sizeof(**loc->line));
		pprof__line__init(loc->line[i]);
		loc->line[i]->function_id = function_id(p, fr[i]->function);
	}
	if (n > 1 && loc->mapping_id)
		p->maps[loc->mapping_id - 1]->has_inline_frames = true;
	ARR_RESERVE(p->locs, p->locs_cap, p->nlocs + 1);
	p->locs[p->nlocs++] = loc;
	u64map_put(&p->loc_of_pc, fr[0]->pc, id);
	return id;
}

/* The root that stacks cut at the frame limit hang under: no address, one name. */
static uint64_t truncated_location(struct pp *p)
{
	static const struct frame_info trunc = { .pc = UINT64_MAX, .function = "[truncated]" };
	const struct frame_info *fr = &trunc;
	uint64_t id = location_id(p, &fr, 1);

	p->locs[id - 1]->address = 0;
	return id;
}

static Pprof__Sample *sample_new(struct pp *p, const struct stack *st, int nlabels)
{
	Pprof__Sample *s = pp_alloc(p, sizeof(*s));
	uint32_t i, j;

	pprof__sample__init(s);
	s->location_id = pp_alloc(p, (st->n + 1) * sizeof(*s->location_id));
	for (i = 0; i < st->n; i = j) {
		for (j = i + 1; j < st->n && st->fr[j]->pc == st->fr[i]->pc; j++)
			;
		s->location_id[s->n_location_id++] = location_id(p, &st->fr[i], j - i);
	}
	if (st->truncated)
		s->location_id[s->n_location_id++] = truncated_location(p);
	s->n_value = NV;
	s->value = pp_alloc(p, NV * sizeof(*s->value));
	s->label = pp_alloc(p, nlabels * sizeof(*s->label));
	ARR_RESERVE(p->samples, p->samples_cap, p->nsamples + 1);
	p->samples[p->nsamples++] = s;
	return s;
}

static void label(struct pp *p, Pprof__Sample *s, const char *key, const char *str,
		  int64_t num, const char *unit)
{
	Pprof__Label *l = pp_alloc(p, sizeof(*l));

	pprof__label__init(l);
	l->key = str_index(p, key);
	if (str)
		l->str = str_index(p, str);
	l->num = num;
	if (unit)
		l->num_unit = str_index(p, unit);
	s->label[s->n_label++] = l;
}

static void site_samples(struct pp *p, const struct site *site)
{
	const struct model *m = p->m;
	Pprof__Sample *s = sample_new(p, stack_table__get(m->stacks, site->stack), 6);
	size_t i;

	s->value[V_ALLOC_OBJ] = (int64_t)site->allocs;
	s->value[V_ALLOC_SPACE] = (int64_t)site->bytes;
	s->value[V_INUSE_OBJ] = (int64_t)site->live;
	s->value[V_INUSE_SPACE] = (int64_t)site->live_bytes;
	label(p, s, "callstack-pair-id", NULL, site->id, NULL);
	label(p, s, "event", "alloc", 0, NULL);
	label(p, s, "heap_type", model__heap_type(m, site), 0, NULL);
	if (site->frees) {
		label(p, s, "avg_lifetime", NULL, (int64_t)(site->lifetime.sum / site->frees),
		      "nanoseconds");
		label(p, s, "min_lifetime", NULL, (int64_t)site->lifetime.min, "nanoseconds");
		label(p, s, "max_lifetime", NULL, (int64_t)site->lifetime.max, "nanoseconds");
	}
	for (i = 0; i < site->ndrops; i++) {
		const struct drop_site *d = &site->drops[i];

		s = sample_new(p, stack_table__get(m->stacks, d->stack), 3);
		s->value[V_FREED_OBJ] = (int64_t)d->frees;
		s->value[V_FREED_SPACE] = (int64_t)d->bytes;
		label(p, s, "callstack-pair-id", NULL, site->id, NULL);
		label(p, s, "event", "free", 0, NULL);
		label(p, s, "outcome", outcome_name(d->outcome), 0, NULL);
	}
}

/* pprof lists the main executable's mapping first. */
static void main_mapping_first(struct pp *p)
{
	const struct model *m = p->m;
	size_t i;
	uint32_t k;

	for (i = 0; i < m->nsites && m->target.exe; i++) {
		const struct stack *st = stack_table__get(m->stacks, m->sites[i]->stack);

		for (k = 0; k < st->n; k++) {
			if (st->fr[k]->module && !strcmp(st->fr[k]->module, m->target.exe)) {
				mapping_id(p, st->fr[k]);
				return;
			}
		}
	}
}

/*
 * Mapping ranges from the addresses seen, page aligned. file_offset is the
 * ELF address of memory_start, which is its file offset in the usual layout
 * of executable segments (p_vaddr == p_offset); frames already carry their
 * function names, so pprof does not need to symbolize through it.
 */
static void finish_mappings(struct pp *p)
{
	size_t i;

	for (i = 0; i < p->nmaps; i++) {
		const struct map_range *r = &p->ranges[i];

		p->maps[i]->memory_start = r->lo & ~0xfffULL;
		p->maps[i]->memory_limit = (r->hi | 0xfffULL) + 1;
		p->maps[i]->file_offset = p->maps[i]->memory_start - r->bias;
	}
}

static void header(struct pp *p, Pprof__Profile *prof, Pprof__ValueType *vt)
{
	const struct model *m = p->m;
	struct timespec rt;
	int i;

	str_index(p, "");	/* string 0 is always "" */
	prof->sample_type = pp_alloc(p, NV * sizeof(*prof->sample_type));
	for (i = 0; i < NV; i++) {
		pprof__value_type__init(&vt[i]);
		vt[i].type = str_index(p, value_types[i][0]);
		vt[i].unit = str_index(p, value_types[i][1]);
		prof->sample_type[prof->n_sample_type++] = &vt[i];
	}
	pprof__value_type__init(&vt[NV]);
	vt[NV].type = str_index(p, "space");
	vt[NV].unit = str_index(p, "bytes");
	prof->period_type = &vt[NV];
	prof->period = m->mode.sample_bytes ? (int64_t)m->mode.sample_bytes : 1;
	prof->default_sample_type = vt[V_ALLOC_SPACE].type;
	prof->duration_nanos = (int64_t)(m->end_ns - m->start_ns);
	clock_gettime(CLOCK_REALTIME, &rt);
	prof->time_nanos = (int64_t)(rt.tv_sec * 1000000000ULL + rt.tv_nsec) -
			   (int64_t)(mono_ns() - m->start_ns);
}

/* Comments: what was probed, and the warnings every output carries. */
static void comments(struct pp *p, Pprof__Profile *prof)
{
	char **w, *c;
	int nw, i;

	nw = report_warnings(p->m, &w);
	prof->comment = pp_alloc(p, (nw + 3) * sizeof(*prof->comment));
	c = xasprintf("rsprobe %s: pid %d (%s)", RSPROBE_VERSION, p->m->target.pid,
		      p->m->target.comm);
	prof->comment[prof->n_comment++] = str_index(p, c);
	free(c);
	c = xasprintf("source %s: %s", p->m->mode.source ?: "?", p->m->mode.source_reason ?: "");
	prof->comment[prof->n_comment++] = str_index(p, c);
	free(c);
	c = report_mode(p->m);
	prof->comment[prof->n_comment++] = str_index(p, c);
	free(c);
	for (i = 0; i < nw; i++)
		prof->comment[prof->n_comment++] = str_index(p, w[i]);
	report_warnings_free(w, nw);
}

static int write_gzip(FILE *f, const uint8_t *buf, size_t len)
{
	uint8_t out[1 << 16];
	z_stream z = {};
	int ret;

	/* windowBits 15 + 16: a gzip header and trailer around the deflate stream. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY))
		return -ENOMEM;
	z.next_in = (uint8_t *)buf;
	z.avail_in = (uInt)len;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		ret = deflate(&z, Z_FINISH);
		fwrite(out, 1, sizeof(out) - z.avail_out, f);
	} while (ret == Z_OK);
	deflateEnd(&z);
	if (ret != Z_STREAM_END)
		return -EIO;
	return ferror(f) ? -EIO : 0;
}

static void pp_free(struct pp *p)
{
	size_t i;

	for (i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->strs);
	free(p->fns);
	free(p->locs);
	free(p->maps);
	free(p->ranges);
	free(p->samples);
	u64map_free(&p->str_idx);
	u64map_free(&p->fn_of_str);
	u64map_free(&p->loc_of_pc);
	u64map_free(&p->map_of_str);
}

static int pack_and_write(FILE *f, struct pp *p, Pprof__Profile *prof)
{
	size_t len;
	uint8_t *buf;
	int err;

	prof->n_string_table = p->nstrs;
	prof->string_table = p->strs;
	prof->n_function = p->nfns;
	prof->function = p->fns;
	prof->n_location = p->nlocs;
	prof->location = p->locs;
	prof->n_mapping = p->nmaps;
	prof->mapping = p->maps;
	prof->n_sample = p->nsamples;
	prof->sample = p->samples;
	len = pprof__profile__get_packed_size(prof);
	buf = xmalloc(len ?: 1);
	pprof__profile__pack(prof, buf);
	err = write_gzip(f, buf, len);
	free(buf);
	return err;
}

int report_pprof(FILE *f, const struct model *m, const struct report_opts *o)
{
	Pprof__Profile prof = PPROF__PROFILE__INIT;
	Pprof__ValueType vt[NV + 1];
	struct pp p = { .m = m };
	size_t i;
	int err;

	u64map_init(&p.str_idx);
	u64map_init(&p.fn_of_str);
	u64map_init(&p.loc_of_pc);
	u64map_init(&p.map_of_str);
	header(&p, &prof, vt);
	main_mapping_first(&p);
	for (i = 0; i < m->nsites; i++)
		site_samples(&p, m->sites[i]);
	finish_mappings(&p);
	comments(&p, &prof);
	err = pack_and_write(f, &p, &prof);
	pp_free(&p);
	return err;
}
