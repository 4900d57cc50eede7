// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The HTML report: one self-contained page (no network, no script but the
 * flame graph's own) with the summary, warnings, the flame graph, top sites,
 * ownership moves, lifetime histograms drawn as bar charts, growth hints and
 * leak candidates. Figures carry data-* attributes with the exact numbers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "report.h"
#include "util.h"

#define CHART_W 560
#define CHART_H 160
#define SMALL_W 180
#define SMALL_H 46
#define SITE_CHARTS 6	/* sites with a histogram of their own */

static const char css[] =
	"body { font: 14px/1.4 'DejaVu Sans', Verdana, sans-serif; margin: 24px; color: #222;"
	" background: #fff; }\n"
	"h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;"
	" border-bottom: 1px solid #ddd; }\n"
	".meta { color: #555; } .cards { display: flex; flex-wrap: wrap; gap: 10px; }\n"
	".card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: "
	"120px; }\n"
	".card .v { font-size: 20px; font-weight: bold; } .card .k { color: #666; font-size: "
	"12px; }\n"
	".warn { background: #fff4d6; border: 1px solid #e5c36a; padding: 8px 14px;"
	" border-radius: 6px; }\n"
	"table { border-collapse: collapse; font-size: 13px; max-width: 100%; }\n"
	"table.wide { width: 100%; }\n"
	"th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right;"
	" white-space: nowrap; vertical-align: top; }\n"
	"th { background: #f3f3f3; } td.fn { text-align: left; font-family: monospace;"
	" white-space: normal; overflow-wrap: anywhere; min-width: 10em; }\n"
	"td.fn .via { color: #777; font-size: 12px; } th.fn { text-align: left; }\n"
	".bar { fill: #e0782f; } .bar.lib { fill: #5aaaeb; } .axis { font-size: 10px; fill: "
	"#555; }\n"
	".flame { overflow-x: auto; }\n"
	"svg.tl { display: block; max-width: 1400px; } svg.tl .grid { stroke: #ddd; }\n"
	"svg.tl .peak { stroke: #b3261e; stroke-dasharray: 4 3; }\n"
	".legend { font-size: 12px; max-width: 1400px; } .legend span { margin-right: 12px;"
	" white-space: nowrap; }\n"
	".legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }\n"
	"tr.stacks td { text-align: left; border-bottom: 1px solid #ddd; padding: 0 8px 2px;"
	" white-space: normal; }\n"
	"tr.stacks summary { cursor: pointer; color: #555; font-size: 12px; }\n"
	".stk { display: flex; flex-wrap: wrap; gap: 4px 24px; font-size: 12px; }\n"
	".stk > div { flex: 1 1 480px; min-width: 0; }\n"
	"ol.stack { margin: 2px 0 6px; padding-left: 4px; font-family: monospace;"
	" list-style: none; }\n"
	"ol.stack .no { display: inline-block; width: 3em; color: #999; }\n"
	"ol.stack li { overflow-wrap: anywhere; } ol.stack li.attr .fnn { font-weight: bold; }\n"
	"ol.stack .where { color: #777; } ol.stack li.user .fnn { color: #b4501a; }\n"
	"ol.stack li.library .fnn { color: #2a6fb0; } ol.stack li.native .fnn { color: #7b4bb7; }\n"
	"ol.stack li.libc .fnn { color: #2f8a4a; } ol.stack li.unknown .fnn { color: #666; }\n"
	".stk .key span { margin-right: 12px; }\n";

static void esc(FILE *f, const char *s)
{
	xml_escape(f, s ? s : "-");
}

static void page_head(FILE *f, const struct model *m)
{
	char d[32], *mode = report_mode(m);

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<title>rsprobe: ", f);
	esc(f, m->target.comm);
	fprintf(f, " (pid %d)</title>\n<style>\n%s</style>\n</head>\n<body>\n", m->target.pid, css);
	fputs("<h1>rsprobe: ", f);
	esc(f, m->target.comm);
	fprintf(f, " (pid %d)</h1>\n<div class=\"meta\">", m->target.pid);
	esc(f, m->target.exe);
	fprintf(f, "<br>rsprobe %s, duration %s, ", RSPROBE_VERSION,
		fmt_ns(d, sizeof(d), m->end_ns - m->start_ns));
	if (report_estimated(m))
		fputs("<!-- rsprobe: estimates from samples -->", f);
	esc(f, mode);
	free(mode);
	fputs("<br>source ", f);
	esc(f, m->mode.source);
	fputs(": ", f);
	esc(f, m->mode.source_reason);
	fputs("</div>\n", f);
}

static void card(FILE *f, const char *id, const char *key, uint64_t v, const char *shown)
{
	fprintf(f, "<div class=\"card\"><div class=\"v\" id=\"%s\" data-v=\"%llu\">%s</div>"
		   "<div class=\"k\">%s</div></div>\n",
		id, (unsigned long long)v, shown, key);
}

static void summary(FILE *f, const struct model *m)
{
	const struct totals *t = &m->totals;
	char b[32], n[32];

#define COUNT(id, key, v) \
	(snprintf(n, sizeof(n), "%llu", (unsigned long long)(v)), card(f, id, key, v, n))
	fputs("<h2>Summary</h2>\n<div class=\"cards\">\n", f);
	COUNT("allocs", "allocations", t->allocs);
	card(f, "bytes_allocated", "bytes allocated", t->bytes_allocated,
	     fmt_bytes(b, sizeof(b), t->bytes_allocated));
	COUNT("frees", "frees", t->frees);
	COUNT("reallocs", "reallocs", t->reallocs);
	COUNT("live_allocs", "live at end", t->live_allocs);
	card(f, "live_bytes", "live bytes at end", t->live_bytes,
	     fmt_bytes(b, sizeof(b), t->live_bytes));
	card(f, "peak_bytes", "peak live bytes", m->heap.max_bytes,
	     fmt_bytes(b, sizeof(b), m->heap.max_bytes));
	COUNT("unknown_frees", "unknown frees", t->unknown_frees);
	COUNT("lost_events", "lost events", t->lost_events);
	COUNT("sites", "sites", m->nsites);
	fputs("</div>\n", f);
#undef COUNT
}

static void warnings(FILE *f, const struct model *m)
{
	char **w;
	int nw = report_warnings(m, &w), i;

	if (nw) {
		fputs("<h2>Warnings</h2>\n<div class=\"warn\" id=\"warnings\"><ul>\n", f);
		for (i = 0; i < nw; i++) {
			fputs("<li>", f);
			esc(f, w[i]);
			fputs("</li>\n", f);
		}
		fputs("</ul></div>\n", f);
	}
	report_warnings_free(w, nw);
}

/* The range of log2 buckets in use, so that every chart shares one axis. */
struct axis {
	int first, last;
};

static struct axis axis_of(const struct hist *h)
{
	uint64_t b[HIST_LOG2_BUCKETS];
	struct axis a = { -1, -1 };
	int k;

	hist_log2(h, b);
	for (k = 0; k < HIST_LOG2_BUCKETS; k++) {
		if (b[k]) {
			a.first = a.first < 0 ? k : a.first;
			a.last = k;
		}
	}
	return a;
}

static void axis_labels(FILE *f, struct axis a, double bw, int y, uint64_t most, int ht, int w)
{
	int k, every = (int)(48 / bw) + 1;
	char lo[32];

	/* Labels near the right edge end there rather than run past it. */
	for (k = a.first; k <= a.last; k += every) {
		double x = 2 + (k - a.first) * bw;

		fprintf(f, "<text class=\"axis\" x=\"%.1f\" y=\"%d\"%s>%s</text>",
			x > w - 48 ? w - 2 : x, y, x > w - 48 ? " text-anchor=\"end\"" : "",
			fmt_ns(lo, sizeof(lo), hist_log2_lower(k)));
	}
	fprintf(f, "<text class=\"axis\" x=\"2\" y=\"10\">%llu frees in the tallest bar</text>"
		   "<text class=\"axis\" x=\"2\" y=\"%d\">lifetime (log2 buckets, lower bound)"
		   "</text>", (unsigned long long)most, ht - 2);
}

/* Log2 buckets of h over axis a as an SVG bar chart; labelled unless small. */
static void hist_chart(FILE *f, const struct hist *h, struct axis a, int w, int ht, bool small)
{
	uint64_t b[HIST_LOG2_BUCKETS], most = 0;
	int k, base = small ? 12 : 26;
	double bw = a.first < 0 ? 0 : (double)(w - 4) / (a.last - a.first + 1);
	char lo[32], hi[32];

	hist_log2(h, b);
	for (k = a.first; a.first >= 0 && k <= a.last; k++)
		most = MAX(most, b[k]);
	fprintf(f, "<svg class=\"hist\" width=\"%d\" height=\"%d\" data-count=\"%llu\" "
		   "xmlns=\"http://www.w3.org/2000/svg\">", w, ht, (unsigned long long)h->count);
	for (k = a.first; most && k <= a.last; k++) {
		double bh = (double)b[k] * (ht - base - 14 * !small) / most;

		if (!b[k])
			continue;
		fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			   "height=\"%.1f\" data-lo=\"%llu\" data-n=\"%llu\"><title>from %s: %llu"
			   "</title></rect>",
			2 + (k - a.first) * bw, ht - base - bh, MAX(bw - 1, 0.5), MAX(bh, 1.0),
			(unsigned long long)hist_log2_lower(k), (unsigned long long)b[k],
			fmt_ns(lo, sizeof(lo), hist_log2_lower(k)), (unsigned long long)b[k]);
	}
	if (!small && most)
		axis_labels(f, a, bw, ht - base + 12, most, ht, w);
	/* Sparklines: the axis's two ends and the tallest bar's count. */
	if (small && a.first >= 0)
		fprintf(f, "<text class=\"axis\" x=\"2\" y=\"%d\">%s</text>"
			   "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
			   "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">tallest %llu"
			   "</text>",
			ht - 1, fmt_ns(lo, sizeof(lo), hist_log2_lower(a.first)), w - 2, ht - 1,
			fmt_ns(hi, sizeof(hi), hist_log2_lower(a.last + 1)), w / 2, ht - 1,
			(unsigned long long)most);
	fputs("</svg>", f);
}

static void flame(FILE *f, const struct model *m, const struct report_opts *o)
{
	fprintf(f, "<h2>Flame graph (%s)</h2>\n<div class=\"flame\">\n", weight_names[o->weight]);
	flame__svg(f, m, o, false);
	fputs("</div>\n", f);
}

static void site_row(FILE *f, const struct model *m, const struct site *s, bool chart)
{
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	const struct drop_site *d = site__main_drop(s);
	char b[32], lb[32], p50[32], p99[32];

	fprintf(f, "<tr id=\"site-%u\" data-site=\"%u\" data-bytes=\"%llu\" data-allocs=\"%llu\"><td>%u</td>"
		   "<td>%llu</td><td>%s</td><td>%llu</td><td>%s</td><td>%s</td><td>%s</td>"
		   "<td class=\"fn\">",
		s->id, s->id, (unsigned long long)s->bytes, (unsigned long long)s->allocs, s->id,
		(unsigned long long)s->allocs, fmt_bytes(b, sizeof(b), s->bytes),
		(unsigned long long)s->live, fmt_bytes(lb, sizeof(lb), s->live_bytes),
		s->frees ? fmt_ns(p50, sizeof(p50), hist_quantile(&s->lifetime, 0.5)) : "-",
		s->frees ? fmt_ns(p99, sizeof(p99), hist_quantile(&s->lifetime, 0.99)) : "-");
	esc(f, stack__function(st));
	if (stack__via(st)) {
		fputs("<div class=\"via\">via ", f);
		esc(f, stack__via(st));
		fputs("</div>", f);
	}
	fputs("</td><td class=\"fn\">", f);
	if (d) {
		esc(f, stack__function(stack_table__get(m->stacks, d->stack)));
		fprintf(f, " (%s)", outcome_name(d->outcome));
	} else {
		fputs("-", f);
	}
	fputs("</td><td>", f);
	if (chart && s->frees)
		hist_chart(f, &s->lifetime, axis_of(&m->lifetime), SMALL_W, SMALL_H, true);
	fputs("</td></tr>\n", f);
}

static void stack_list(FILE *f, const struct model *m, const struct stack *st)
{
	char where[512];
	uint32_t i, phys = 0;

	fputs("<ol class=\"stack\">", f);
	for (i = 0; i < st->n; i++) {
		const struct frame_info *fr = st->fr[i];

		fprintf(f, "<li class=\"%s%s\">", frame_kind_name(frame_kind_of(m->sym, fr)),
			(int)i == st->attr ? " attr" : "");
		/* Physical frames numbered as in the text report; inlined calls share the next. */
		if (fr->inlined)
			fputs("<span class=\"no\"></span>", f);
		else
			fprintf(f, "<span class=\"no\">#%u</span>", phys++);
		fputs("<span class=\"fnn\">", f);
		esc(f, fr->function);
		fputs("</span> <span class=\"where\">", f);
		esc(f, frame_where(where, sizeof(where), fr));
		fputs("</span></li>", f);
	}
	fputs("</ol>", f);
}

/* A row under a site's row that opens on its birth and main drop stacks. */
static void stacks_row(FILE *f, const struct model *m, struct site **v, int n, int at)
{
	const struct site *s = v[at];
	const struct drop_site *d = site__main_drop(s);
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	int j;

	fprintf(f, "<tr class=\"stacks\" data-stacks-of=\"%u\"><td colspan=\"10\"><details>"
		   "<summary>stacks of site %u", s->id, s->id);
	/* Sites of one function: where their stacks part. */
	for (j = 0; j < n; j++) {
		const struct stack *o = stack_table__get(m->stacks, v[j]->stack);
		uint32_t k;

		if (j == at || strcmp(stack__function(o), stack__function(st)))
			continue;
		for (k = 0; k < st->npcs && k < o->npcs && st->pcs[k] == o->pcs[k]; k++)
			;
		fprintf(f, " (site %u is in this function too; their stacks part at #%u)", v[j]->id, k);
	}
	fprintf(f, "</summary><div class=\"stk key\"><span class=\"user\">"
		   "your Rust code</span><span class=\"library\">Rust std</span><span class=\"native\">"
		   "other native</span><span class=\"libc\">libc</span></div>"
		   "<div class=\"stk\"><div>born at:");
	stack_list(f, m, stack_table__get(m->stacks, s->stack));
	fputs("</div>", f);
	if (d) {
		fprintf(f, "<div>dropped (%s), %llu of %llu frees, at:", outcome_name(d->outcome),
			(unsigned long long)d->frees, (unsigned long long)s->frees);
		stack_list(f, m, stack_table__get(m->stacks, d->stack));
		fputs("</div>", f);
	}
	fputs("</div></details></td></tr>\n", f);
}

static void top_sites(FILE *f, const struct model *m, int top, int nstacks)
{
	struct site **v = model__sorted_sites(m, ORDER_BYTES);
	int i, n = (int)MIN((size_t)top, m->nsites);

	fprintf(f, "<h2>Top sites by bytes allocated (%d of %zu)</h2>\n<table id=\"sites\" class=\"wide\">\n"
		   "<tr><th>site</th><th>allocs</th><th>bytes</th><th>live</th><th>live bytes</th>"
		   "<th>p50</th><th>p99</th><th class=\"fn\">function (via)</th>"
		   "<th class=\"fn\">dropped by (outcome)</th><th>lifetimes</th></tr>\n",
		n, m->nsites);
	for (i = 0; i < n; i++) {
		site_row(f, m, v[i], i < SITE_CHARTS);
		if (i < nstacks)
			stacks_row(f, m, v, MIN(n, nstacks), i);
	}
	fputs("</table>\n", f);
	free(v);
}

static void ownership(FILE *f, const struct model *m)
{
	static const char *const desc[OUTCOME_MAX] = {
		"dropped by the allocating function (borrowed)",
		"moved into a callee and dropped there",
		"returned to a caller and dropped there",
		"dropped elsewhere (stored, or another thread)",
	};
	const struct totals *t = &m->totals;
	uint64_t matched = t->frees - t->unknown_frees;
	int k;

	fprintf(f, "<h2>Ownership moves (%llu frees matched to their allocation)</h2>\n"
		   "<table id=\"ownership\">\n", (unsigned long long)matched);
	for (k = 0; k < OUTCOME_MAX + 2; k++) {
		const char *name = k < OUTCOME_MAX ? outcome_name(k) :
				   k == OUTCOME_MAX ? "cross_thread" : "temporaries";
		uint64_t v = k < OUTCOME_MAX ? t->outcomes[k] :
			     k == OUTCOME_MAX ? t->cross_thread : t->temporaries;
		double pct = matched ? 100.0 * v / matched : 0;

		if (k == OUTCOME_MAX)
			fputs("<tr><td class=\"fn note\" colspan=\"5\">same, callee, caller and other "
			      "divide the frees; the rows below overlap them</td></tr>\n", f);

		fprintf(f, "<tr data-outcome=\"%s\" data-v=\"%llu\"><td class=\"fn\">%s</td>"
			   "<td>%llu</td><td>%.1f%%</td><td><svg width=\"300\" height=\"12\">"
			   "<rect class=\"bar\" width=\"%.1f\" height=\"12\"/></svg></td>"
			   "<td class=\"fn\">%s</td></tr>\n",
			name, (unsigned long long)v, name, (unsigned long long)v, pct, 3 * pct,
			k < OUTCOME_MAX ? desc[k] : k == OUTCOME_MAX ?
			"freed on another thread than the one that allocated" :
			"freed before their thread allocated again");
	}
	fputs("</table>\n", f);
}

static void lifetimes(FILE *f, const struct model *m)
{
	char p50[32], p99[32];

	fprintf(f, "<h2>Lifetimes (%llu frees; p50 %s, p99 %s)</h2>\n<div id=\"lifetimes\">",
		(unsigned long long)m->lifetime.count,
		fmt_ns(p50, sizeof(p50), hist_quantile(&m->lifetime, 0.5)),
		fmt_ns(p99, sizeof(p99), hist_quantile(&m->lifetime, 0.99)));
	hist_chart(f, &m->lifetime, axis_of(&m->lifetime), CHART_W, CHART_H, false);
	fputs("</div>\n", f);
}

static void growth_and_leaks(FILE *f, const struct model *m, int top)
{
	struct site **v = model__sorted_sites(m, ORDER_LIVE_BYTES);
	char a[32], b[32];
	size_t i;
	int shown = 0;

	struct site **g = model__sorted_sites(m, ORDER_REALLOCS);
	char hint[160];

	fputs("<h2>Growth hints (most reallocs first)</h2>\n<ul id=\"growth\">\n", f);
	for (i = 0; i < m->nsites && shown < top; i++) {
		const struct site *s = g[i];

		if (!growth_hint(m, s, hint, sizeof(hint)))
			continue;
		shown++;
		fprintf(f, "<li data-growth-site=\"%u\" data-reallocs=\"%llu\">site %u <code>", s->id,
			(unsigned long long)s->reallocs, s->id);
		esc(f, stack__function(stack_table__get(m->stacks, s->stack)));
		fprintf(f, "</code>: %llu allocation%s grew with %llu reallocs; final size mean %s, "
			   "max %s (%s)</li>\n",
			(unsigned long long)s->grown, s->grown == 1 ? "" : "s",
			(unsigned long long)s->reallocs,
			fmt_bytes(a, sizeof(a), s->grown_final_bytes / s->grown),
			fmt_bytes(b, sizeof(b), s->grown_max_final), hint);
	}
	free(g);
	fputs("</ul>\n<h2>Live at end (leak candidates, oldest first)</h2>\n<ul id=\"live\">\n", f);
	for (i = 0; i < m->nsites && (int)i < top && v[i]->live; i++) {
		fprintf(f, "<li>site %u <code>", v[i]->id);
		esc(f, stack__function(stack_table__get(m->stacks, v[i]->stack)));
		fprintf(f, "</code>: %llu live, %s, oldest %s</li>\n",
			(unsigned long long)v[i]->live, fmt_bytes(a, sizeof(a), v[i]->live_bytes),
			v[i]->noldest ? fmt_ns(b, sizeof(b), v[i]->oldest[0].age_ns) : "-");
	}
	fputs("</ul>\n", f);
	free(v);
}

static void functions(FILE *f, const struct model *m, int top)
{
	struct function **v = model__sorted_functions(m);
	char a[32], b[32];
	int i, n = (int)MIN((size_t)top, m->nfuncs);

	fprintf(f, "<h2>Functions (allocations born there, frees done there; %d of %zu)</h2>\n"
		   "<table id=\"functions\"><tr><th class=\"fn\">function</th><th>allocs</th>"
		   "<th>bytes</th><th>frees</th><th>bytes freed</th></tr>\n", n, m->nfuncs);
	for (i = 0; i < n; i++) {
		fprintf(f, "<tr data-function-allocs=\"%llu\"><td class=\"fn\">",
			(unsigned long long)v[i]->allocs);
		esc(f, v[i]->name);
		fprintf(f, "</td><td>%llu</td><td>%s</td><td>%llu</td><td>%s</td></tr>\n",
			(unsigned long long)v[i]->allocs, fmt_bytes(a, sizeof(a), v[i]->bytes_allocated),
			(unsigned long long)v[i]->frees, fmt_bytes(b, sizeof(b), v[i]->bytes_freed));
	}
	fputs("</table>\n", f);
	free(v);
}

static void heap_types(FILE *f, const struct model *m)
{
	struct heap_type_row rows[24];
	int n = heap_type_rows(m, rows, (int)ARRAY_SIZE(rows)), i;
	char b[32];

	fputs("<h2>Heap types (from the API that allocated)</h2>\n<table id=\"heap-types\">"
	      "<tr><th class=\"fn\">type</th><th>allocs</th><th>bytes</th></tr>\n", f);
	for (i = 0; i < n; i++)
		fprintf(f, "<tr data-heap-type=\"%s\" data-allocs=\"%llu\"><td class=\"fn\">%s</td>"
			   "<td>%llu</td><td>%s</td></tr>\n",
			rows[i].type, (unsigned long long)rows[i].allocs, rows[i].type,
			(unsigned long long)rows[i].allocs, fmt_bytes(b, sizeof(b), rows[i].bytes));
	fputs("</table>\n", f);
}

/* The peak of the live heap: when, how big, and which sites held it. */
static void peak(FILE *f, const struct model *m, int top)
{
	struct site **v = model__sorted_sites(m, ORDER_PEAK_BYTES);
	char a[32], b[32], c[32];
	int i, n = (int)MIN((size_t)top, m->nsites);

	fprintf(f, "<h2>Peak of the live heap</h2>\n<p id=\"peak\" data-bytes=\"%llu\" "
		   "data-allocs=\"%llu\" data-ns=\"%llu\">%s in %llu allocations, at %s "
		   "(of %s)</p>\n<table id=\"peak-sites\">\n<tr><th>site</th><th>bytes at peak</th>"
		   "<th>allocs at peak</th><th>share</th><th class=\"fn\">function</th></tr>\n",
		(unsigned long long)m->heap.max_bytes, (unsigned long long)m->heap.max_blocks,
		(unsigned long long)model__peak_offset_ns(m),
		fmt_bytes(a, sizeof(a), m->heap.max_bytes), (unsigned long long)m->heap.max_blocks,
		fmt_ns(b, sizeof(b), model__peak_offset_ns(m)),
		fmt_ns(c, sizeof(c), m->end_ns - m->start_ns));
	for (i = 0; i < n; i++) {
		uint64_t pb, pn;

		model__heap_at_peak(m, v[i], &pb, &pn);
		if (!pb)
			break;
		fprintf(f, "<tr data-peak-site=\"%u\" data-bytes=\"%llu\" data-allocs=\"%llu\">"
			   "<td><a href=\"#site-%u\">%u</a></td><td>%s</td><td>%llu</td>"
			   "<td>%.1f%%</td><td class=\"fn\">",
			v[i]->id, (unsigned long long)pb, (unsigned long long)pn, v[i]->id, v[i]->id,
			fmt_bytes(a, sizeof(a), pb), (unsigned long long)pn,
			100.0 * pb / m->heap.max_bytes);
		esc(f, stack__function(stack_table__get(m->stacks, v[i]->stack)));
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	free(v);
}

#define TL_W 1000	/* viewBox units; the chart scales to the page */
#define TL_H 200
#define TL_RATE_H 80
#define TL_LEFT 70
#define TL_SITES 8

static const char *const tl_colours[TL_SITES + 1] = {
	"#e0782f", "#4c8bd6", "#6aa84f", "#c45ab3", "#e6b422", "#45b5aa", "#b0413e", "#8e7cc3",
	"#c8c8c8",	/* the rest of the heap */
};

/* Time labels, since the capture began, for buckets first to last (excluded). */
static void tl_axis_time(FILE *f, const struct model *m, uint32_t first, uint32_t last,
			 double x0, double w, int y)
{
	uint64_t from = (uint64_t)first * m->timeline.width_ns;
	uint64_t span = (uint64_t)last * m->timeline.width_ns - from;
	char t[32];
	int k;

	for (k = 0; k <= 4; k++)
		fprintf(f, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>",
			x0 + w * k / 4, y, k == 0 ? "start" : k == 4 ? "end" : "middle",
			fmt_ns(t, sizeof(t), from + span * k / 4));
}

/* A stepped band from lo[] up to hi[] (scaled values), one step per bucket. */
static void tl_band(FILE *f, const double *lo, const double *hi, uint32_t n, double bw,
		    const char *colour, const char *title)
{
	uint32_t i;

	fprintf(f, "<path fill=\"%s\" d=\"M%d %.1f", colour, TL_LEFT, lo[0]);
	for (i = 0; i < n; i++)
		fprintf(f, "L%.1f %.1fL%.1f %.1f", TL_LEFT + i * bw, hi[i], TL_LEFT + (i + 1) * bw,
			hi[i]);
	for (i = n; i-- > 0;)
		fprintf(f, "L%.1f %.1fL%.1f %.1f", TL_LEFT + (i + 1) * bw, lo[i], TL_LEFT + i * bw,
			lo[i]);
	fputs("Z\"><title>", f);
	esc(f, title);
	fputs("</title></path>\n", f);
}

/* The heap over time: live bytes with the top sites stacked, and the allocation rate. */
static void timeline(FILE *f, const struct model *m)
{
	const struct timeline *t = &m->timeline;
	struct site **v = model__sorted_sites(m, ORDER_MAX_LIVE);
	const struct tl_bucket *bk;
	uint32_t n = t->n, i, first = 0, last;
	uint64_t *all, *series, top = 0, rate_max = 0;
	double *lo, *hi, bw, plot_w = TL_W - TL_LEFT - 4, ybase = TL_H - 20, yspan = TL_H - 40;
	char a[32], b[32], title[300];
	int k, nsites = 0;

	fputs("<h2>Heap over time</h2>\n<div id=\"timeline\">", f);
	if (!n || !m->heap.max_bytes) {
		fputs("<p>No allocation was live during the capture.</p></div>\n", f);
		free(v);
		return;
	}
	/* From the first event: a launched program starts a little after the capture. */
	while (first + 1 < t->n && !t->b[first].allocs && !t->b[first].frees)
		first++;
	if (first)
		first--;
	/* ... and to the last: what is live after it stays so until the end. */
	while (n > first + 1 && !t->b[n - 1].allocs && !t->b[n - 1].frees)
		n--;
	n = MIN(n + 1, t->n);
	bk = t->b + first;
	last = n;
	n -= first;
	all = xcalloc(t->n, sizeof(*all));
	series = all + first;
	lo = xcalloc(n, sizeof(*lo));
	hi = xcalloc(n, sizeof(*hi));
	bw = plot_w / n;
	for (i = 0; i < n; i++) {
		top = MAX(top, bk[i].max_live_bytes);
		rate_max = MAX(rate_max, bk[i].allocs);
	}
	fprintf(f, "<svg class=\"tl\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
		   "preserveAspectRatio=\"xMinYMin meet\" data-buckets=\"%u\" data-first=\"%u\" data-bucket-ns=\"%llu\" "
		   "xmlns=\"http://www.w3.org/2000/svg\">\n",
		TL_W, TL_H, n, first, (unsigned long long)t->width_ns);
	for (i = 0; i < n; i++)
		lo[i] = ybase;
	/* The top sites by their own highest live bytes, stacked from the bottom. */
	for (k = 0; k < TL_SITES && (size_t)k < m->nsites && v[k]->heap.max_bytes; k++, nsites++) {
		model__site_timeline(m, v[k], all);
		/*
		 * Sites reach their highs at different moments of a bucket: the
		 * bands never rise above the whole heap's high in it.
		 */
		for (i = 0; i < n; i++)
			hi[i] = MAX(lo[i] - (double)series[i] * yspan / top,
				    ybase - (double)bk[i].max_live_bytes * yspan / top);
		snprintf(title, sizeof(title), "site %u %s: up to %s", v[k]->id,
			 stack__function(stack_table__get(m->stacks, v[k]->stack)),
			 fmt_bytes(a, sizeof(a), v[k]->heap.max_bytes));
		tl_band(f, lo, hi, n, bw, tl_colours[k], title);
		memcpy(lo, hi, n * sizeof(*lo));
	}
	/* The rest of the heap up to the whole: the whole's highest in each bucket. */
	for (i = 0; i < n; i++)
		hi[i] = MIN(lo[i], ybase - (double)bk[i].max_live_bytes * yspan / top);
	tl_band(f, lo, hi, n, bw, tl_colours[TL_SITES], "other sites");
	fprintf(f, "<path fill=\"none\" stroke=\"#222\" stroke-width=\"1\" d=\"M%d %.1f", TL_LEFT,
		ybase);
	for (i = 0; i < n; i++)
		fprintf(f, "L%.1f %.1fL%.1f %.1f", TL_LEFT + i * bw,
			ybase - (double)bk[i].max_live_bytes * yspan / top, TL_LEFT + (i + 1) * bw,
			ybase - (double)bk[i].max_live_bytes * yspan / top);
	fputs("\"/>\n", f);
	/* Scale, and the peak. */
	fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
		   "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>"
		   "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>"
		   "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">0</text>\n",
		TL_LEFT, TL_W - 4, ybase - yspan, ybase - yspan, TL_LEFT - 4, ybase - yspan + 4,
		fmt_bytes(a, sizeof(a), top), TL_LEFT - 4, ybase - yspan / 2 + 4,
		fmt_bytes(b, sizeof(b), top / 2), TL_LEFT - 4, ybase);
	{
		double px = TL_LEFT + ((double)model__peak_offset_ns(m) / t->width_ns - first) * bw;

		fprintf(f, "<line class=\"peak\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
			   "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">peak %s at "
			   "%s</text>\n",
			px, px, ybase - yspan - 6, ybase, px + (px > TL_W / 2 ? -4 : 4),
			ybase - yspan - 8, px > TL_W / 2 ? "end" : "start",
			fmt_bytes(a, sizeof(a), m->heap.max_bytes),
			fmt_ns(b, sizeof(b), model__peak_offset_ns(m)));
	}
	tl_axis_time(f, m, first, last, TL_LEFT, plot_w, TL_H - 4);
	fputs("</svg>\n", f);
	/* Allocation rate per bucket. */
	fprintf(f, "<svg class=\"tl rate\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
		   "preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		TL_W, TL_RATE_H);
	for (i = 0; i < n && rate_max; i++) {
		double h = (double)bk[i].allocs * (TL_RATE_H - 30) / rate_max;

		if (bk[i].allocs)
			fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" "
				   "height=\"%.1f\" data-allocs=\"%llu\"/>",
				TL_LEFT + i * bw, TL_RATE_H - 20 - h, MAX(bw - 0.3, 0.3), MAX(h, 0.5),
				(unsigned long long)bk[i].allocs);
	}
	fprintf(f, "\n<text class=\"axis\" x=\"%d\" y=\"12\" text-anchor=\"end\">%.0f/s</text>"
		   "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>",
		TL_LEFT - 4, rate_max * 1e9 / t->width_ns, TL_LEFT - 4, TL_RATE_H - 20);
	tl_axis_time(f, m, first, last, TL_LEFT, plot_w, TL_RATE_H - 4);
	fputs("</svg>\n<div class=\"legend\">", f);
	for (k = 0; k < nsites; k++) {
		fprintf(f, "<span><i style=\"background:%s\"></i><a href=\"#site-%u\">site %u</a> <code>",
			tl_colours[k], v[k]->id, v[k]->id);
		esc(f, stack__function(stack_table__get(m->stacks, v[k]->stack)));
		fputs("</code></span> ", f);
	}
	fprintf(f, "<span><i style=\"background:%s\"></i>other sites</span> <span>top: live "
		   "bytes (each site at its highest within a %s bucket; the line is the whole heap), "
		   "bottom: allocations per second</span></div></div>\n",
		tl_colours[TL_SITES], fmt_ns(a, sizeof(a), t->width_ns));
	free(all);
	free(lo);
	free(hi);
	free(v);
}

int report_html(FILE *f, const struct model *m, const struct report_opts *o)
{
	page_head(f, m);
	summary(f, m);
	warnings(f, m);
	flame(f, m, o);
	top_sites(f, m, o->top, o->stacks);
	functions(f, m, o->top);
	timeline(f, m);
	peak(f, m, o->top);
	ownership(f, m);
	lifetimes(f, m);
	heap_types(f, m);
	growth_and_leaks(f, m, o->top);
	fputs("</body>\n</html>\n", f);
	return ferror(f) ? -EIO : 0;
}
