// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prometheus text exposition: per process (comm, pid) and attributed
 * function, counts, bytes, frees, ownership outcomes and the lifetime
 * histogram; per process the live heap and what was lost or capped.
 * Cardinality is bounded: the top N functions by bytes, the rest summed
 * under function="[other]", the exact totals under function="[all]".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

/* 1-2.5-5 steps from a microsecond to five seconds, then coarser to ten minutes. */
const double metrics_le_seconds[METRICS_NLE] = {
	1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
	1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600,
};

static const char *const outcome_labels[OUTCOME_MAX] = {
	[OUTCOME_SAME] = "same",
	[OUTCOME_CALLEE] = "callee",
	[OUTCOME_CALLER] = "caller",
	[OUTCOME_OTHER] = "other",
};

/* A function's row while the snapshot is built, found by name. */
struct fn_acc {
	struct metrics_row *rows;
	size_t n, cap;
	struct u64map idx;	/* name hash -> index + 1 */
};

static struct metrics_row *acc_row(struct fn_acc *a, const char *name)
{
	uint64_t h = hash_bytes(name, strlen(name)), v;
	struct metrics_row *r;

	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(&a->idx, h, &v))
			break;
		if (!strcmp(a->rows[v - 1].function, name))
			return &a->rows[v - 1];
	}
	ARR_RESERVE(a->rows, a->cap, a->n + 1);
	r = &a->rows[a->n++];
	memset(r, 0, sizeof(*r));
	r->function = xstrdup(name);
	u64map_put(&a->idx, h, a->n);
	return r;
}

static void add_hist(struct metrics_row *r, const struct hist *h)
{
	uint64_t bounds[METRICS_NLE], le[METRICS_NLE];
	int i;

	if (!h->count)
		return;
	for (i = 0; i < METRICS_NLE; i++)
		bounds[i] = (uint64_t)(metrics_le_seconds[i] * 1e9 + 0.5);
	hist_cumulative(h, bounds, METRICS_NLE, le);
	for (i = 0; i < METRICS_NLE; i++)
		r->le[i] += le[i];
	r->count += h->count;
	r->sum_ns += h->sum;
}

static void add_row(struct metrics_row *dst, const struct metrics_row *src)
{
	int i;

	dst->allocs += src->allocs;
	dst->bytes += src->bytes;
	dst->frees += src->frees;
	for (i = 0; i < METRICS_NLE; i++)
		dst->le[i] += src->le[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	for (i = 0; i < OUTCOME_MAX; i++)
		dst->outcomes[i] += src->outcomes[i];
	dst->cross_thread += src->cross_thread;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct metrics_row *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->allocs != y->allocs)
		return x->allocs > y->allocs ? -1 : 1;
	return strcmp(x->function, y->function);
}

int metrics_snapshot(struct metrics_snap *out, const struct model *m, const struct totals *exact,
		     const struct metrics_extra *x, int top)
{
	struct fn_acc a = {};
	struct metrics_row other = {}, all = {};
	size_t i, keep;
	int k;

	memset(out, 0, sizeof(*out));
	out->pid = m->target.pid;
	snprintf(out->comm, sizeof(out->comm), "%s", m->target.comm);
	if (x)
		out->x = *x;
	if (!exact)
		exact = &m->totals;
	u64map_init(&a.idx);
	for (i = 0; i < m->nsites; i++) {
		const struct site *s = m->sites[i];
		struct metrics_row *r = acc_row(&a, stack__function(stack_table__get(m->stacks,
										     s->stack)));

		r->allocs += s->allocs;
		r->bytes += s->bytes;
		r->frees += s->frees;
		add_hist(r, &s->lifetime);
		for (k = 0; k < OUTCOME_MAX; k++)
			r->outcomes[k] += s->outcomes[k];
		r->cross_thread += s->cross_thread;
	}
	u64map_free(&a.idx);
	if (a.n)
		qsort(a.rows, a.n, sizeof(*a.rows), cmp_rows);
	keep = top < 0 ? 0 : MIN(a.n, (size_t)top);
	for (i = keep; i < a.n; i++) {
		add_row(&other, &a.rows[i]);
		free(a.rows[i].function);
	}
	/* The exact totals, and the histogram of every lifetime seen. */
	all.allocs = exact->allocs;
	all.bytes = exact->bytes_allocated;
	all.frees = exact->frees;
	add_hist(&all, &m->lifetime);
	for (k = 0; k < OUTCOME_MAX; k++)
		all.outcomes[k] = m->totals.outcomes[k];
	all.cross_thread = m->totals.cross_thread;
	all.function = xstrdup("[all]");
	out->rows = xrealloc(a.rows, (keep + 2) * sizeof(*out->rows));
	out->nrows = keep;
	if (keep < a.n) {
		other.function = xstrdup("[other]");
		out->rows[out->nrows++] = other;
	}
	out->rows[out->nrows++] = all;
	out->live_allocs = exact->allocs > exact->frees ? exact->allocs - exact->frees : 0;
	out->live_bytes = exact->live_bytes;
	if (!out->live_bytes && exact->bytes_allocated > exact->bytes_freed)
		out->live_bytes = exact->bytes_allocated - exact->bytes_freed;
	/* Lifetimes a closed probe window cut short: beyond every finite bound. */
	out->rows[out->nrows - 1].count += out->x.censored;
	return 0;
}

void metrics_snap_merge(struct metrics_snap *dst, const struct metrics_snap *src, int top)
{
	struct metrics_row other = {}, all = {}, *rows;
	size_t i, j, n = 0, keep;
	bool has_other = false;

	rows = xcalloc(dst->nrows + src->nrows + 2, sizeof(*rows));
	for (i = 0; i < dst->nrows + src->nrows; i++) {
		const struct metrics_row *r = i < dst->nrows ? &dst->rows[i] :
							       &src->rows[i - dst->nrows];

		if (!strcmp(r->function, "[other]")) {
			add_row(&other, r);
			has_other = true;
			continue;
		}
		if (!strcmp(r->function, "[all]")) {
			add_row(&all, r);
			continue;
		}
		for (j = 0; j < n && strcmp(rows[j].function, r->function); j++)
			;
		if (j == n)
			rows[n++].function = xstrdup(r->function);
		add_row(&rows[j], r);
	}
	if (n)
		qsort(rows, n, sizeof(*rows), cmp_rows);
	keep = top < 0 ? 0 : MIN(n, (size_t)top);
	for (i = keep; i < n; i++) {
		add_row(&other, &rows[i]);
		free(rows[i].function);
		has_other = true;
	}
	n = keep;
	if (has_other) {
		other.function = xstrdup("[other]");
		rows[n++] = other;
	}
	all.function = xstrdup("[all]");
	rows[n++] = all;
	for (i = 0; i < dst->nrows; i++)
		free(dst->rows[i].function);
	free(dst->rows);
	dst->rows = rows;
	dst->nrows = n;
	dst->x.lost_events += src->x.lost_events;
	dst->x.dropped_by_cap += src->x.dropped_by_cap;
	dst->x.censored += src->x.censored;
}

void metrics_snap_free(struct metrics_snap *s)
{
	size_t i;

	for (i = 0; i < s->nrows; i++)
		free(s->rows[i].function);
	free(s->rows);
	s->rows = NULL;
	s->nrows = 0;
}

void metrics_snap_copy(struct metrics_snap *dst, const struct metrics_snap *src)
{
	size_t i;

	*dst = *src;
	dst->rows = xmalloc((src->nrows + 1) * sizeof(*dst->rows));
	for (i = 0; i < src->nrows; i++) {
		dst->rows[i] = src->rows[i];
		dst->rows[i].function = xstrdup(src->rows[i].function);
	}
}

void metrics_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The labels every per-process series starts with. */
static void proc_labels(FILE *f, const struct metrics_snap *s)
{
	fputs("comm=\"", f);
	metrics_label_value(f, s->comm);
	fprintf(f, "\",pid=\"%d\"", (int)s->pid);
}

static void fn_labels(FILE *f, const struct metrics_snap *s, const struct metrics_row *r)
{
	proc_labels(f, s);
	fputs(",function=\"", f);
	metrics_label_value(f, r->function);
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum fn_counter { FC_ALLOCS, FC_BYTES, FC_FREES };

static void fn_counter(FILE *f, const struct metrics_snap *snaps, size_t n, const char *name,
		       enum fn_counter which, const char *help)
{
	size_t i, j;

	family(f, name, "counter", help);
	for (i = 0; i < n; i++) {
		for (j = 0; j < snaps[i].nrows; j++) {
			const struct metrics_row *r = &snaps[i].rows[j];
			uint64_t v = which == FC_ALLOCS ? r->allocs : which == FC_BYTES ? r->bytes :
											   r->frees;

			fprintf(f, "%s{", name);
			fn_labels(f, &snaps[i], r);
			fprintf(f, "} %llu\n", (unsigned long long)v);
		}
	}
}

static void lifetime_histogram(FILE *f, const struct metrics_snap *snaps, size_t n)
{
	static const char name[] = "rsprobe_allocation_lifetime_seconds";
	char le[32];
	size_t i, j;
	int k;

	family(f, name, "histogram",
	       "Lifetimes of freed allocations (birth to free), by the function that allocated");
	for (i = 0; i < n; i++) {
		for (j = 0; j < snaps[i].nrows; j++) {
			const struct metrics_row *r = &snaps[i].rows[j];

			for (k = 0; k < METRICS_NLE; k++) {
				/* Short and the same at every scrape: le is part of the series. */
				snprintf(le, sizeof(le), "%.10g", metrics_le_seconds[k]);
				fprintf(f, "%s_bucket{", name);
				fn_labels(f, &snaps[i], r);
				fprintf(f, ",le=\"%s\"} %llu\n", le, (unsigned long long)r->le[k]);
			}
			fprintf(f, "%s_bucket{", name);
			fn_labels(f, &snaps[i], r);
			fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)r->count);
			fprintf(f, "%s_sum{", name);
			fn_labels(f, &snaps[i], r);
			fprintf(f, "} %.9f\n", r->sum_ns / 1e9);
			fprintf(f, "%s_count{", name);
			fn_labels(f, &snaps[i], r);
			fprintf(f, "} %llu\n", (unsigned long long)r->count);
		}
	}
}

static void ownership(FILE *f, const struct metrics_snap *snaps, size_t n)
{
	static const char name[] = "rsprobe_ownership_total";
	size_t i, j;
	int k;

	family(f, name, "counter",
	       "Frees by where the value was dropped relative to where it was allocated");
	for (i = 0; i < n; i++) {
		for (j = 0; j < snaps[i].nrows; j++) {
			const struct metrics_row *r = &snaps[i].rows[j];

			for (k = 0; k <= OUTCOME_MAX; k++) {
				fprintf(f, "%s{", name);
				fn_labels(f, &snaps[i], r);
				fprintf(f, ",outcome=\"%s\"} %llu\n",
					k < OUTCOME_MAX ? outcome_labels[k] : "cross_thread",
					(unsigned long long)(k < OUTCOME_MAX ? r->outcomes[k] :
									       r->cross_thread));
			}
		}
	}
}

enum proc_value { PV_LIVE_BYTES, PV_LIVE_ALLOCS, PV_LOST, PV_CAP, PV_SAMPLED, PV_DUTY, PV_CENSORED };

static void proc_metric(FILE *f, const struct metrics_snap *snaps, size_t n, const char *name,
			const char *type, enum proc_value which, const char *help)
{
	size_t i;

	family(f, name, type, help);
	for (i = 0; i < n; i++) {
		const struct metrics_snap *s = &snaps[i];

		fprintf(f, "%s{", name);
		proc_labels(f, s);
		switch (which) {
		case PV_LIVE_BYTES:
			fprintf(f, "} %llu\n", (unsigned long long)s->live_bytes);
			break;
		case PV_LIVE_ALLOCS:
			fprintf(f, "} %llu\n", (unsigned long long)s->live_allocs);
			break;
		case PV_LOST:
			fprintf(f, "} %llu\n", (unsigned long long)s->x.lost_events);
			break;
		case PV_CAP:
			fprintf(f, "} %llu\n", (unsigned long long)s->x.dropped_by_cap);
			break;
		case PV_SAMPLED:
			fprintf(f, "} %.6g\n", s->x.sampled_fraction);
			break;
		case PV_DUTY:
			fprintf(f, "} %.6g\n", s->x.duty_cycle);
			break;
		case PV_CENSORED:
			fprintf(f, "} %llu\n", (unsigned long long)s->x.censored);
			break;
		}
	}
}

int metrics_render(FILE *f, const struct metrics_snap *snaps, size_t n,
		   const struct metrics_daemon *d)
{
	fn_counter(f, snaps, n, "rsprobe_allocations_total", FC_ALLOCS,
		   "Allocations, by the function that allocated ([all]: exact total)");
	fn_counter(f, snaps, n, "rsprobe_allocated_bytes_total", FC_BYTES,
		   "Bytes allocated, growth by realloc included ([all]: exact total)");
	fn_counter(f, snaps, n, "rsprobe_frees_total", FC_FREES,
		   "Frees, by the function that allocated what was freed ([all]: exact total)");
	lifetime_histogram(f, snaps, n);
	ownership(f, snaps, n);
	proc_metric(f, snaps, n, "rsprobe_live_bytes", "gauge", PV_LIVE_BYTES,
		    "Bytes allocated and not yet freed");
	proc_metric(f, snaps, n, "rsprobe_live_allocations", "gauge", PV_LIVE_ALLOCS,
		    "Allocations not yet freed");
	proc_metric(f, snaps, n, "rsprobe_lost_events_total", "counter", PV_LOST,
		    "Events the ring buffer had no room for");
	proc_metric(f, snaps, n, "rsprobe_dropped_by_cap_total", "counter", PV_CAP,
		    "Allocations or sites not tracked because a memory cap was reached");
	proc_metric(f, snaps, n, "rsprobe_sampled_fraction", "gauge", PV_SAMPLED,
		    "Allocations recorded with their stack, as a share of all allocations");
	proc_metric(f, snaps, n, "rsprobe_probe_duty_cycle", "gauge", PV_DUTY,
		    "Share of the time the probes were attached");
	proc_metric(f, snaps, n, "rsprobe_lifetimes_censored_total", "counter", PV_CENSORED,
		    "Allocations still live when a probe window closed: lifetimes longer than "
		    "the window, in the histogram's +Inf bucket only");
	family(f, "rsprobe_targets", "gauge", "Processes being profiled");
	fprintf(f, "rsprobe_targets %llu\n", (unsigned long long)(d ? d->targets : n));
	if (d) {
		family(f, "rsprobe_push_failed_total", "counter",
		       "Profiles that could not be delivered to the --push URL");
		fprintf(f, "rsprobe_push_failed_total %llu\n", (unsigned long long)d->push_failed);
		family(f, "rsprobe_push_sent_total", "counter",
		       "Profiles delivered to the --push URL");
		fprintf(f, "rsprobe_push_sent_total %llu\n", (unsigned long long)d->push_sent);
	}
	return ferror(f) ? -EIO : 0;
}
