// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* JSON output, schema 1: the keys are a contract (product.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "report.h"
#include "util.h"

static void jstack(FILE *f, const struct stack *st)
{
	uint32_t i;

	fputc('[', f);
	for (i = 0; i < st->n; i++) {
		const struct frame_info *fr = st->fr[i];

		fputs(i ? ",{\"function\":" : "{\"function\":", f);
		json_string(f, fr->function);
		fputs(",\"module\":", f);
		json_string(f, fr->module);
		fprintf(f, ",\"offset\":%llu,\"address\":%llu,\"build_id\":",
			(unsigned long long)fr->offset, (unsigned long long)fr->pc);
		json_string(f, fr->build_id);
		fputs(",\"file\":", f);
		json_string(f, fr->file);
		fprintf(f, ",\"line\":%d,\"inlined\":%s,\"library\":%s}", fr->line,
			fr->inlined ? "true" : "false", fr->library ? "true" : "false");
	}
	fputc(']', f);
}

static void jhist(FILE *f, const struct hist *h)
{
	uint64_t b[HIST_LOG2_BUCKETS];
	bool first = true;
	int k;

	fprintf(f, "{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu,\"mean\":%llu,"
		   "\"log2_histogram\":[",
		(unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
		(unsigned long long)hist_quantile(h, 0.99), (unsigned long long)h->max,
		(unsigned long long)(h->count ? h->sum / h->count : 0));
	hist_log2(h, b);
	for (k = 0; k < HIST_LOG2_BUCKETS; k++) {
		if (!b[k])
			continue;
		fprintf(f, "%s[%llu,%llu]", first ? "" : ",", (unsigned long long)hist_log2_lower(k),
			(unsigned long long)b[k]);
		first = false;
	}
	fputs("]}", f);
}

static void jsite(FILE *f, const struct model *m, const struct site *s)
{
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	uint64_t pb, pn;
	size_t i;
	int k;

	fprintf(f, "{\"id\":%u,\"function\":", s->id);
	json_string(f, stack__function(st));
	fputs(",\"via\":", f);
	json_string(f, stack__via(st));
	fputs(",\"heap_type\":", f);
	json_string(f, model__heap_type(m, s));
	fputs(",\"stack\":", f);
	jstack(f, st);
	fprintf(f, ",\"stack_truncated\":%s", st->truncated ? "true" : "false");
	fprintf(f, ",\"allocs\":%llu,\"bytes\":%llu,\"frees\":%llu,\"bytes_freed\":%llu,"
		   "\"reallocs\":%llu,\"live\":%llu,\"live_bytes\":%llu,\"lifetime_ns\":",
		(unsigned long long)s->allocs, (unsigned long long)s->bytes,
		(unsigned long long)s->frees, (unsigned long long)s->bytes_freed,
		(unsigned long long)s->reallocs, (unsigned long long)s->live,
		(unsigned long long)s->live_bytes);
	jhist(f, &s->lifetime);
	model__heap_at_peak(m, s, &pb, &pn);
	fprintf(f, ",\"at_peak\":{\"bytes\":%llu,\"allocs\":%llu},\"max_live_bytes\":%llu",
		(unsigned long long)pb, (unsigned long long)pn,
		(unsigned long long)s->heap.max_bytes);
	fputs(",\"outcomes\":{", f);
	for (k = 0; k < OUTCOME_MAX; k++)
		fprintf(f, "\"%s\":%llu,", outcome_name(k), (unsigned long long)s->outcomes[k]);
	fprintf(f, "\"cross_thread\":%llu},\"temporaries\":%llu",
		(unsigned long long)s->cross_thread, (unsigned long long)s->temporaries);
	fprintf(f, ",\"growth\":{\"grown_allocs\":%llu,\"max_reallocs\":%llu,"
		   "\"mean_final_bytes\":%llu,\"max_final_bytes\":%llu}",
		(unsigned long long)s->grown, (unsigned long long)s->grown_max_reallocs,
		(unsigned long long)(s->grown ? s->grown_final_bytes / s->grown : 0),
		(unsigned long long)s->grown_max_final);
	fputs(",\"oldest_live\":[", f);
	for (k = 0; k < s->noldest; k++)
		fprintf(f, "%s{\"age_ns\":%llu,\"size\":%llu,\"ptr\":%llu}", k ? "," : "",
			(unsigned long long)s->oldest[k].age_ns, (unsigned long long)s->oldest[k].size,
			(unsigned long long)s->oldest[k].ptr);
	fputs("],\"drop_sites\":[", f);
	for (i = 0; i < s->ndrops; i++) {
		const struct drop_site *d = &s->drops[i];
		const struct stack *ds = stack_table__get(m->stacks, d->stack);

		fputs(i ? ",{\"function\":" : "{\"function\":", f);
		json_string(f, stack__function(ds));
		fprintf(f, ",\"frees\":%llu,\"bytes\":%llu,\"outcome\":\"%s\",\"stack\":",
			(unsigned long long)d->frees, (unsigned long long)d->bytes,
			outcome_name(d->outcome));
		jstack(f, ds);
		fputc('}', f);
	}
	fputs("]}", f);
}

#define TIMELINE_SITES 8	/* sites with a series of their own */

/* The heap over time, compact: one row per bucket, and the top sites' live bytes. */
static void jtimeline(FILE *f, const struct model *m)
{
	const struct timeline *t = &m->timeline;
	struct site **v = model__sorted_sites(m, ORDER_MAX_LIVE);
	uint64_t *series = xcalloc(t->n + 1, sizeof(*series));
	uint32_t i;
	size_t k;

	fprintf(f, ",\"timeline\":{\"bucket_ns\":%llu,\"columns\":[\"t_ns\",\"allocs\",\"bytes\","
		   "\"frees\",\"live_bytes\",\"live_allocs\",\"max_live_bytes\"],\"buckets\":[",
		(unsigned long long)t->width_ns);
	for (i = 0; i < t->n; i++) {
		const struct tl_bucket *b = &t->b[i];

		fprintf(f, "%s[%llu,%llu,%llu,%llu,%llu,%llu,%llu]", i ? "," : "",
			(unsigned long long)(i * t->width_ns), (unsigned long long)b->allocs,
			(unsigned long long)b->bytes, (unsigned long long)b->frees,
			(unsigned long long)b->live_bytes, (unsigned long long)b->live_allocs,
			(unsigned long long)b->max_live_bytes);
	}
	fputs("],\"sites\":[", f);
	for (k = 0; k < m->nsites && k < TIMELINE_SITES && v[k]->heap.max_bytes; k++) {
		model__site_timeline(m, v[k], series);
		fprintf(f, "%s{\"id\":%u,\"function\":", k ? "," : "", v[k]->id);
		json_string(f, stack__function(stack_table__get(m->stacks, v[k]->stack)));
		fputs(",\"max_live_bytes\":[", f);
		for (i = 0; i < t->n; i++)
			fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)series[i]);
		fputs("]}", f);
	}
	fputs("]}", f);
	free(series);
	free(v);
}

int report_json(FILE *f, const struct model *m, const struct report_opts *o)
{
	const struct totals *t = &m->totals;
	struct site **sites = model__sorted_sites(m, ORDER_BYTES);
	struct function **fns = model__sorted_functions(m);
	char **warns;
	int nw, k;
	size_t i;

	fprintf(f, "{\"schema\":1,\"rsprobe_version\":");
	json_string(f, RSPROBE_VERSION);
	fprintf(f, ",\"mode\":{\"all\":%s,\"sample_bytes\":%llu,\"sampled\":%s,"
		   "\"sampled_fraction\":%.6f,\"adaptive\":%s,\"sample_bytes_min\":%llu,"
		   "\"sample_bytes_max\":%llu,\"budget_pct\":%.1f,\"overhead_pct\":%.2f,"
		   "\"source\":",
		m->mode.all ? "true" : "false", (unsigned long long)m->mode.sample_bytes,
		m->mode.sampled ? "true" : "false", m->mode.sampled_fraction,
		m->mode.adaptive ? "true" : "false", (unsigned long long)m->mode.sample_bytes_min,
		(unsigned long long)m->mode.sample_bytes_max, m->mode.budget_pct,
		m->mode.overhead_pct);
	json_string(f, m->mode.source);
	fputs(",\"source_reason\":", f);
	json_string(f, m->mode.source_reason);
	fprintf(f, "},\"target\":{\"pid\":%d,\"comm\":", m->target.pid);
	json_string(f, m->target.comm);
	fputs(",\"exe\":", f);
	json_string(f, m->target.exe);
	/* Every process recorded: the first is target. */
	fputs("},\"targets\":[", f);
	for (size_t i = 0; i < m->ntargets; i++) {
		fprintf(f, "%s{\"pid\":%d,\"comm\":", i ? "," : "", m->targets[i].pid);
		json_string(f, m->targets[i].comm);
		fputs(",\"exe\":", f);
		json_string(f, m->targets[i].exe);
		fputs(",\"state\":", f);
		json_string(f, m->targets[i].state);
		fputc('}', f);
	}
	fprintf(f, "],\"duration_ns\":%llu,\"start_ns\":%llu,",
		(unsigned long long)(m->end_ns - m->start_ns), (unsigned long long)m->start_ns);
	fprintf(f, "\"totals\":{\"allocs\":%llu,\"frees\":%llu,\"reallocs\":%llu,"
		   "\"bytes_allocated\":%llu,\"bytes_freed\":%llu,\"live_allocs\":%llu,"
		   "\"live_bytes\":%llu,\"unknown_frees\":%llu,\"allocator_internal_frees\":%llu,"
		   "\"unknown_reallocs\":%llu,"
		   "\"lost_events\":%llu,\"failed_allocs\":%llu,\"temporaries\":%llu,"
		   "\"cross_thread\":%llu,\"peak_live_bytes\":%llu,\"peak_live_allocs\":%llu,"
		   "\"peak_ns\":%llu,\"sampled_full\":%llu,\"closed_by_exec\":%llu,"
		   "\"closed_by_exec_bytes\":%llu,\"outcomes\":{",
		(unsigned long long)t->allocs, (unsigned long long)t->frees,
		(unsigned long long)t->reallocs, (unsigned long long)t->bytes_allocated,
		(unsigned long long)t->bytes_freed, (unsigned long long)t->live_allocs,
		(unsigned long long)t->live_bytes, (unsigned long long)t->unknown_frees,
		(unsigned long long)t->allocator_internal_frees, (unsigned long long)t->unknown_reallocs, (unsigned long long)t->lost_events,
		(unsigned long long)t->failed_allocs, (unsigned long long)t->temporaries,
		(unsigned long long)t->cross_thread, (unsigned long long)m->heap.max_bytes,
		(unsigned long long)m->heap.max_blocks,
		(unsigned long long)model__peak_offset_ns(m), (unsigned long long)t->sampled_full,
		(unsigned long long)t->closed_by_exec, (unsigned long long)t->closed_by_exec_bytes);
	for (k = 0; k < OUTCOME_MAX; k++)
		fprintf(f, "%s\"%s\":%llu", k ? "," : "", outcome_name(k),
			(unsigned long long)t->outcomes[k]);
	fprintf(f, "}},\"stacks\":{\"method\":");
	json_string(f, m->stacks_info.method);
	fprintf(f, ",\"taken\":%llu,\"dwarf\":%llu,\"complete\":%llu,\"truncated\":%llu,"
		   "\"unmapped\":%llu}",
		(unsigned long long)m->stacks_info.taken, (unsigned long long)m->stacks_info.dwarf,
		(unsigned long long)m->stacks_info.complete,
		(unsigned long long)m->stacks_info.truncated,
		(unsigned long long)m->stacks_info.unmapped);
	fputs(",\"lifetime_ns\":", f);
	jhist(f, &m->lifetime);
	jtimeline(f, m);
	fputs(",\"sites\":[", f);
	for (i = 0; i < m->nsites; i++) {
		if (i)
			fputc(',', f);
		jsite(f, m, sites[i]);
	}
	fputs("],\"functions\":[", f);
	for (i = 0; i < m->nfuncs; i++) {
		fputs(i ? ",{\"function\":" : "{\"function\":", f);
		json_string(f, fns[i]->name);
		fprintf(f, ",\"allocs\":%llu,\"frees\":%llu,\"bytes_allocated\":%llu,"
			   "\"bytes_freed\":%llu}",
			(unsigned long long)fns[i]->allocs, (unsigned long long)fns[i]->frees,
			(unsigned long long)fns[i]->bytes_allocated,
			(unsigned long long)fns[i]->bytes_freed);
	}
	fputs("],\"warnings\":[", f);
	nw = report_warnings(m, &warns);
	for (k = 0; k < nw; k++) {
		if (k)
			fputc(',', f);
		json_string(f, warns[k]);
	}
	report_warnings_free(warns, nw);
	fputs("]}\n", f);
	free(sites);
	free(fns);
	return ferror(f) ? -EIO : 0;
}
