// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The human-readable report (stdout by default). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rsprobe.h"
#include "util.h"

#define BAR_WIDTH 40

static const char *const outcome_desc[OUTCOME_MAX] = {
	[OUTCOME_SAME] = "dropped by the allocating function (borrowed)",
	[OUTCOME_CALLEE] = "moved into a callee and dropped there",
	[OUTCOME_CALLER] = "returned to a caller and dropped there",
	[OUTCOME_OTHER] = "dropped elsewhere (stored, or another thread)",
};

/* Shorten a long name to fit w columns, keeping its end (the function). */
static const char *fit(char *buf, size_t len, const char *s, size_t w)
{
	size_t n = strlen(s);

	if (n <= w || w < 4) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	snprintf(buf, len, "...%s", s + n - (w - 3));
	return buf;
}

/* A count as the tables show it: "~" in front when it is an estimate. */
static const char *num(char *buf, size_t len, const struct model *m, uint64_t v)
{
	snprintf(buf, len, "%s%llu", report_estimated(m) ? "~" : "", (unsigned long long)v);
	return buf;
}

static const char *bytes(char *buf, size_t len, const struct model *m, uint64_t v)
{
	char b[32];

	snprintf(buf, len, "%s%s", report_estimated(m) ? "~" : "", fmt_bytes(b, sizeof(b), v));
	return buf;
}

static void header(FILE *f, const struct model *m)
{
	char d[32], *mode = report_mode(m);

	fprintf(f, "rsprobe %s: pid %d (%s) %s\n", RSPROBE_VERSION, m->target.pid, m->target.comm,
		m->target.exe ? m->target.exe : "");
	if (m->ntargets > 1) {
		fprintf(f, "%zu processes, merged by stack:", m->ntargets);
		for (size_t i = 0; i < m->ntargets; i++)
			fprintf(f, "%s pid %d (%s, %s)", i ? "," : "", m->targets[i].pid,
				m->targets[i].comm, m->targets[i].state);
		fputc('\n', f);
	}
	fprintf(f, "duration %s, %s\n", fmt_ns(d, sizeof(d), m->end_ns - m->start_ns), mode);
	free(mode);
	fprintf(f, "source %s: %s\n", m->mode.source ? m->mode.source : "?",
		m->mode.source_reason ? m->mode.source_reason : "");
	if (m->stacks_info.method)
		fprintf(f, "stacks unwound with %s: %llu of %llu complete to the outermost frame\n",
			m->stacks_info.method, (unsigned long long)m->stacks_info.complete,
			(unsigned long long)m->stacks_info.taken);
}

static void totals(FILE *f, const struct model *m)
{
	const struct totals *t = &m->totals;
	char a[32], b[32];

	fprintf(f, "\nTotals%s\n", report_estimated(m) ? " (exact: every call counted in BPF)" : "");
	fprintf(f, "  allocations   %12llu  %s\n", (unsigned long long)t->allocs,
		fmt_bytes(a, sizeof(a), t->bytes_allocated));
	fprintf(f, "  frees         %12llu  %s\n", (unsigned long long)t->frees,
		fmt_bytes(a, sizeof(a), t->bytes_freed));
	fprintf(f, "  reallocs      %12llu\n", (unsigned long long)t->reallocs);
	fprintf(f, "  live at end   %12llu  %s\n", (unsigned long long)t->live_allocs,
		fmt_bytes(b, sizeof(b), t->live_bytes));
	fprintf(f, "  unknown frees %12llu  (born before tracking began)\n",
		(unsigned long long)t->unknown_frees);
	if (t->allocator_internal_frees)
		fprintf(f, "  allocator's own frees %llu  (its caches flushed at thread exit; "
			"not counted as frees)\n", (unsigned long long)t->allocator_internal_frees);
	fprintf(f, "  lost events   %12llu\n", (unsigned long long)t->lost_events);
}

static void sites(FILE *f, const struct model *m, int top)
{
	struct site **v = model__sorted_sites(m, ORDER_BYTES);
	char b[32], p50[32], p99[32], fn[64], via[48], drop[48], na[32], nl[32];
	int i, n = (int)MIN((size_t)top, m->nsites);

	fprintf(f, "\nTop sites by bytes allocated (%zu sites)\n", m->nsites);
	fprintf(f, "  %4s %9s %10s %7s %8s %8s  %-44s %-34s %s\n", "site", "allocs", "bytes", "live",
		"p50", "p99", "function", "via", "dropped by (outcome)");
	for (i = 0; i < n; i++) {
		const struct site *s = v[i];
		const struct stack *st = stack_table__get(m->stacks, s->stack);
		const struct drop_site *d = site__main_drop(s);
		const char *vn = stack__via(st);
		char dbuf[96];

		if (d)
			snprintf(dbuf, sizeof(dbuf), "%s (%s)",
				 fit(drop, sizeof(drop), stack__function(stack_table__get(m->stacks,
											  d->stack)),
				     36),
				 outcome_name(d->outcome));
		else
			snprintf(dbuf, sizeof(dbuf), "-");
		fprintf(f, "  %4u %9s %10s %7s %8s %8s  %-44s %-34s %s\n", s->id,
			num(na, sizeof(na), m, s->allocs), bytes(b, sizeof(b), m, s->bytes),
			num(nl, sizeof(nl), m, s->live),
			s->frees ? fmt_ns(p50, sizeof(p50), hist_quantile(&s->lifetime, 0.5)) : "-",
			s->frees ? fmt_ns(p99, sizeof(p99), hist_quantile(&s->lifetime, 0.99)) : "-",
			fit(fn, sizeof(fn), stack__function(st), 44),
			vn ? fit(via, sizeof(via), vn, 34) : "-", dbuf);
	}
	free(v);
}

/*
 * One line per frame. Inlined library frames are folded into the frame they
 * were inlined into (they share its address, so no two stacks that differ
 * read the same); long names keep their end.
 */
static void print_stack(FILE *f, const struct stack *st, unsigned int max_frames)
{
	char where[512], fn[80], more[48], num[16];
	uint32_t i, folded = 0, phys = 0;

	for (i = 0; i < st->n; i++) {
		const struct frame_info *fr = st->fr[i];

		if (fr->inlined && fr->library && (int)i != st->attr && i + 1 < st->n) {
			folded++;
			continue;
		}
		more[0] = 0;
		if (folded)
			snprintf(more, sizeof(more), "  (+%u inlined library frame%s)", folded,
				 folded == 1 ? "" : "s");
		folded = 0;
		/* Physical frames are numbered; an inlined call shares the number after it. */
		if (fr->inlined)
			snprintf(num, sizeof(num), "   ");
		else
			snprintf(num, sizeof(num), "#%-2u", phys++);
		fprintf(f, "    %s %c %-64s %s%s\n", num, (int)i == st->attr ? '>' : ' ',
			fit(fn, sizeof(fn), fr->function, 64),
			frame_where(where, sizeof(where), fr), more);
	}
	if (st->truncated)
		fprintf(f, "        ... (deeper than %u frames: cut short)\n", max_frames);
}

/* The birth stack and main drop stack of the top sites (--stacks N). */
static void site_stacks(FILE *f, const struct model *m, int nstacks)
{
	struct site **v = model__sorted_sites(m, ORDER_BYTES);
	char b[32];
	int i, n = (int)MIN((size_t)nstacks, m->nsites);

	if (n <= 0) {
		free(v);
		return;
	}
	fprintf(f, "\nStacks of the top %d sites (innermost frame first; > marks the function "
		   "the site is attributed to)\n", n);
	for (i = 0; i < n; i++) {
		const struct site *s = v[i];
		const struct drop_site *d = site__main_drop(s);

		const struct stack *st = stack_table__get(m->stacks, s->stack);
		int j;

		fprintf(f, "  site %u: %llu allocation%s, %s, %s\n", s->id,
			(unsigned long long)s->allocs, s->allocs == 1 ? "" : "s",
			fmt_bytes(b, sizeof(b), s->bytes), stack__function(st));
		/* Sites of one function: say where their stacks part. */
		for (j = 0; j < n; j++) {
			const struct stack *o = stack_table__get(m->stacks, v[j]->stack);
			uint32_t k;

			if (j == i || strcmp(stack__function(o), stack__function(st)))
				continue;
			for (k = 0; k < st->npcs && k < o->npcs && st->pcs[k] == o->pcs[k]; k++)
				;
			fprintf(f, "    (site %u is in this function too; their stacks part at #%u)\n",
				v[j]->id, k);
		}
		fprintf(f, "    born at:\n");
		print_stack(f, st, m->max_frames);
		if (!d) {
			fprintf(f, "    never freed\n");
			continue;
		}
		fprintf(f, "    dropped (%s) %llu of %llu frees, %zu drop site%s, main one at:\n",
			outcome_name(d->outcome), (unsigned long long)d->frees,
			(unsigned long long)s->frees, s->ndrops, s->ndrops == 1 ? "" : "s");
		print_stack(f, stack_table__get(m->stacks, d->stack), m->max_frames);
	}
	free(v);
}

static void functions(FILE *f, const struct model *m, int top)
{
	struct function **v = model__sorted_functions(m);
	char a[32], b[32], fn[80], na[32], nf[32];
	int i, n = (int)MIN((size_t)top, m->nfuncs);

	fprintf(f, "\nFunctions (allocations born there, frees done there)\n");
	fprintf(f, "  %-60s %9s %10s %9s %10s\n", "function", "allocs", "bytes", "frees", "bytes");
	for (i = 0; i < n; i++)
		fprintf(f, "  %-60s %9s %10s %9s %10s\n", fit(fn, sizeof(fn), v[i]->name, 60),
			num(na, sizeof(na), m, v[i]->allocs),
			bytes(a, sizeof(a), m, v[i]->bytes_allocated),
			num(nf, sizeof(nf), m, v[i]->frees), bytes(b, sizeof(b), m, v[i]->bytes_freed));
	free(v);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * a / b : 0;
}

static void ownership(FILE *f, const struct model *m)
{
	const struct totals *t = &m->totals;
	uint64_t matched = t->frees - t->unknown_frees;
	int k;

	fprintf(f, "\nOwnership (of %llu frees matched to their allocation)\n",
		(unsigned long long)matched);
	for (k = 0; k < OUTCOME_MAX; k++)
		fprintf(f, "  %-12s %10llu %5.1f%%  %s\n", outcome_name(k),
			(unsigned long long)t->outcomes[k], pct(t->outcomes[k], matched),
			outcome_desc[k]);
	fprintf(f, "  (same, callee, caller and other divide the frees; the rows below overlap "
		   "them)\n");
	fprintf(f, "  %-12s %10llu %5.1f%%  freed on another thread than the one that allocated\n",
		"cross_thread", (unsigned long long)t->cross_thread, pct(t->cross_thread, matched));
	fprintf(f, "  %-12s %10llu %5.1f%%  freed before their thread allocated again\n",
		"temporaries", (unsigned long long)t->temporaries, pct(t->temporaries, matched));
}

static void histogram(FILE *f, const char *title, const struct hist *h)
{
	uint64_t b[HIST_LOG2_BUCKETS], most = 0;
	char lo[32], hi[32];
	int k, first = -1, last = -1;

	hist_log2(h, b);
	for (k = 0; k < HIST_LOG2_BUCKETS; k++) {
		if (!b[k])
			continue;
		if (first < 0)
			first = k;
		last = k;
		most = MAX(most, b[k]);
	}
	if (first < 0)
		return;
	fprintf(f, "\n%s (%llu frees; p50 %s, p99 %s)\n", title, (unsigned long long)h->count,
		fmt_ns(lo, sizeof(lo), hist_quantile(h, 0.5)), fmt_ns(hi, sizeof(hi),
								    hist_quantile(h, 0.99)));
	for (k = first; k <= last; k++) {
		int w = (int)((b[k] * BAR_WIDTH + most - 1) / most);
		char bar[BAR_WIDTH + 1];

		memset(bar, '#', w);
		bar[w] = 0;
		fprintf(f, "  %8s .. %-8s %10llu |%-*s|\n", fmt_ns(lo, sizeof(lo), hist_log2_lower(k)),
			fmt_ns(hi, sizeof(hi), hist_log2_lower(k + 1)), (unsigned long long)b[k],
			BAR_WIDTH, bar);
	}
}

static void heap_types(FILE *f, const struct model *m)
{
	struct heap_type_row rows[24];
	int nrows = heap_type_rows(m, rows, (int)ARRAY_SIZE(rows)), i;
	char b[32];

	if (!nrows)
		return;
	fprintf(f, "\nHeap types (from the API that allocated)\n");
	for (i = 0; i < nrows; i++)
		fprintf(f, "  %-12s %10llu allocs %10s\n", rows[i].type,
			(unsigned long long)rows[i].allocs, fmt_bytes(b, sizeof(b), rows[i].bytes));
}

static void growth(FILE *f, const struct model *m, int top)
{
	struct site **v = model__sorted_sites(m, ORDER_REALLOCS);
	char a[32], b[32], fn[64], hint[160];
	size_t i;
	int shown = 0;

	for (i = 0; i < m->nsites && shown < top; i++) {
		const struct site *s = v[i];

		if (!growth_hint(m, s, hint, sizeof(hint)))
			continue;
		if (!shown++)
			fprintf(f, "\nGrowth hints (allocations that reallocate repeatedly, most "
				   "reallocs first)\n");
		fprintf(f, "  site %u %s: %llu allocation%s grew with %llu reallocs (up to %llu "
			   "each), final size mean %s, max %s: %s\n",
			s->id, fit(fn, sizeof(fn), stack__function(stack_table__get(m->stacks, s->stack)), 60),
			(unsigned long long)s->grown, s->grown == 1 ? "" : "s",
			(unsigned long long)s->reallocs, (unsigned long long)s->grown_max_reallocs,
			fmt_bytes(a, sizeof(a), s->grown_final_bytes / s->grown),
			fmt_bytes(b, sizeof(b), s->grown_max_final), hint);
	}
	free(v);
}

static void live(FILE *f, const struct model *m, int top)
{
	char a[32], b[32], fn[64];
	struct site **v;
	size_t i;

	if (!m->totals.live_allocs)
		return;
	v = model__sorted_sites(m, ORDER_LIVE_BYTES);
	fprintf(f, "\nLive at end (leak candidates: the oldest first within each site)\n");
	for (i = 0; i < m->nsites && (int)i < top && v[i]->live; i++)
		fprintf(f, "  site %u %-50s %8llu live %10s  oldest %s\n", v[i]->id,
			fit(fn, sizeof(fn), stack__function(stack_table__get(m->stacks, v[i]->stack)), 50),
			(unsigned long long)v[i]->live, fmt_bytes(a, sizeof(a), v[i]->live_bytes),
			v[i]->noldest ? fmt_ns(b, sizeof(b), v[i]->oldest[0].age_ns) : "-");
	free(v);
}

/* The peak of the live heap: when, how big, and which sites held it. */
static void peak(FILE *f, const struct model *m, int top)
{
	struct site **v;
	char a[32], b[32], c[32], fn[64];
	int i, n;

	if (!m->heap.max_bytes)
		return;
	fprintf(f, "\nPeak of the live heap: %s in %llu allocations, at %s (of %s)\n",
		fmt_bytes(a, sizeof(a), m->heap.max_bytes), (unsigned long long)m->heap.max_blocks,
		fmt_ns(b, sizeof(b), model__peak_offset_ns(m)),
		fmt_ns(c, sizeof(c), m->end_ns - m->start_ns));
	v = model__sorted_sites(m, ORDER_PEAK_BYTES);
	n = (int)MIN((size_t)top, m->nsites);
	fprintf(f, "  %4s %10s %7s %6s  %s\n", "site", "bytes", "allocs", "share", "function");
	for (i = 0; i < n; i++) {
		uint64_t pb, pn;

		model__heap_at_peak(m, v[i], &pb, &pn);
		if (!pb)
			break;
		fprintf(f, "  %4u %10s %7llu %5.1f%%  %s\n", v[i]->id, fmt_bytes(a, sizeof(a), pb),
			(unsigned long long)pn, pct(pb, m->heap.max_bytes),
			fit(fn, sizeof(fn), stack__function(stack_table__get(m->stacks, v[i]->stack)),
			    60));
	}
	free(v);
}

int report_text(FILE *f, const struct model *m, const struct report_opts *o)
{
	char **w;
	int nw, i;

	header(f, m);
	totals(f, m);
	sites(f, m, o->top);
	site_stacks(f, m, o->stacks);
	functions(f, m, o->top);
	ownership(f, m);
	histogram(f, "Lifetimes", &m->lifetime);
	heap_types(f, m);
	growth(f, m, o->top);
	live(f, m, o->top);
	peak(f, m, o->top);
	nw = report_warnings(m, &w);
	if (nw) {
		fprintf(f, "\nWarnings\n");
		for (i = 0; i < nw; i++)
			fprintf(f, "  ! %s\n", w[i]);
	}
	report_warnings_free(w, nw);
	return ferror(f) ? -EIO : 0;
}
