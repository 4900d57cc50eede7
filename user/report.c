// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What every output shares: the format table, weights, the recording mode
 * and warnings in words, and the small facts several renderers print.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "report.h"
#include "rsprobe.h"
#include "util.h"

/* Text formats carry the target's names as they are: escaped as they are written. */
const struct report_format report_formats[] = {
	{ ".txt", report_text, true },
	{ ".json", report_json, false },
	{ ".folded", report_folded, true },
	{ ".svg", report_svg, false },
	{ ".pb.gz", report_pprof, false },
	{ ".dhat.json", report_dhat, false },
	{ ".html", report_html, false },
};
const size_t report_nformats = ARRAY_SIZE(report_formats);

const struct report_format *report_format_of(const char *path)
{
	const struct report_format *best = NULL;
	size_t i, n = strlen(path);

	/* The longest suffix wins: "p.dhat.json" is DHAT, not JSON. */
	for (i = 0; i < report_nformats; i++) {
		size_t k = strlen(report_formats[i].suffix);

		if (n > k && !strcmp(path + n - k, report_formats[i].suffix) &&
		    (!best || k > strlen(best->suffix)))
			best = &report_formats[i];
	}
	return best;
}

const struct report_format *report_format_by_suffix(const char *suffix)
{
	size_t i;

	for (i = 0; i < report_nformats; i++)
		if (!strcmp(report_formats[i].suffix, suffix))
			return &report_formats[i];
	return NULL;
}

const char *report_format_list(char *buf, size_t len)
{
	size_t i;

	buf[0] = 0;
	for (i = 0; i < report_nformats; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "",
			 report_formats[i].suffix);
	return buf;
}

/*
 * A text format is rendered, then written with its control bytes made
 * visible (escape.h), so that no name moves a terminal's cursor or sets its
 * title.
 */
int report_write(FILE *f, const struct report_format *fmt, const struct model *m,
		 const struct report_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int err;

	if (!fmt->text)
		return fmt->render(f, m, o);
	mem = open_memstream(&buf, &len);
	if (!mem)
		return -errno;
	err = fmt->render(mem, m, o);
	if (fclose(mem) && !err)
		err = -errno;
	if (!err)
		text_write(f, buf, len);
	free(buf);
	return err ?: ferror(f) ? -EIO : 0;
}

const char *const weight_names[WEIGHT_MAX] = {
	[WEIGHT_ALLOC_BYTES] = "alloc-bytes",
	[WEIGHT_ALLOCS] = "allocs",
	[WEIGHT_LIVE_BYTES] = "live-bytes",
	[WEIGHT_LIFETIME] = "lifetime",
};

const char *const weight_units[WEIGHT_MAX] = {
	[WEIGHT_ALLOC_BYTES] = "bytes",
	[WEIGHT_ALLOCS] = "allocations",
	[WEIGHT_LIVE_BYTES] = "bytes",
	[WEIGHT_LIFETIME] = "ns",
};

uint64_t site_weight(const struct site *s, enum weight w)
{
	switch (w) {
	case WEIGHT_ALLOCS:
		return s->allocs;
	case WEIGHT_LIVE_BYTES:
		return s->live_bytes;
	case WEIGHT_LIFETIME:
		/* Freed ones lived their lifetime; live ones their age at the end. */
		return s->lifetime.sum + s->live_age_sum;
	default:
		return s->bytes;
	}
}

char *report_mode(const struct model *m)
{
	char a[32], b[32];

	if (m->mode.all)
		return xasprintf("every allocation recorded (--all)");
	if (!m->mode.sampled)
		return xasprintf("adaptive: every allocation recorded, never sampled");
	if (!m->mode.adaptive)
		return xasprintf("sampled: one sample per %s allocated on average (--sample-bytes), "
				 "%.2f%% of allocations recorded; per-site figures are estimates (~), "
				 "totals are exact",
				 fmt_bytes(a, sizeof(a), m->mode.sample_bytes),
				 m->mode.sampled_fraction * 100);
	fmt_bytes(a, sizeof(a), m->mode.sample_bytes_min);
	fmt_bytes(b, sizeof(b), m->mode.sample_bytes_max);
	return xasprintf("adaptive, sampled: one sample per %s%s%s allocated on average, to keep "
			 "recording within %.0f%% of the traps' cost; %.2f%% of allocations "
			 "recorded; per-site figures are estimates (~), totals are exact",
			 a, strcmp(a, b) ? " to " : "", strcmp(a, b) ? b : "",
			 m->mode.budget_pct, m->mode.sampled_fraction * 100);
}

/* A source path shortened to its last two components. */
static const char *short_path(const char *p)
{
	const char *a = strrchr(p, '/'), *b;

	if (!a)
		return p;
	for (b = a - 1; b > p && *b != '/'; b--)
		;
	return b > p ? b + 1 : p;
}

const char *frame_where(char *buf, size_t len, const struct frame_info *fr)
{
	const char *mod = fr->module ? strrchr(fr->module, '/') : NULL;
	int n = 0;

	mod = mod ? mod + 1 : fr->module;
	buf[0] = 0;
	if (fr->file && fr->line)
		n = snprintf(buf, len, "%s:%d  ", short_path(fr->file), fr->line);
	if (n < 0 || (size_t)n >= len)
		return buf;
	if (fr->inlined)
		snprintf(buf + n, len - n, "(inlined)");
	else if (mod)
		snprintf(buf + n, len - n, "%s+0x%llx", mod, (unsigned long long)fr->offset);
	else
		snprintf(buf + n, len - n, "0x%llx", (unsigned long long)fr->pc);
	return buf;
}

int heap_type_rows(const struct model *m, struct heap_type_row *rows, int max)
{
	int nrows = 0, i;
	size_t s;

	for (s = 0; s < m->nsites; s++) {
		const char *t = model__heap_type(m, m->sites[s]);

		for (i = 0; i < nrows && strcmp(rows[i].type, t); i++)
			;
		if (i == nrows) {
			if (nrows == max)
				continue;
			rows[nrows].type = t;
			rows[nrows].allocs = rows[nrows].bytes = 0;
			nrows++;
		}
		rows[i].allocs += m->sites[s]->allocs;
		rows[i].bytes += m->sites[s]->bytes;
	}
	return nrows;
}

bool growth_hint(const struct model *m, const struct site *s, char *buf, size_t len)
{
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	const char *fn = stack__function(st), *via = stack__via(st);
	bool sized;

	if (!s->grown || s->reallocs < 2 * s->grown)
		return false;
	/* A site that already asks for a capacity: the size it asks for is too small. */
	sized = strstr(fn, "with_capacity") || strstr(fn, "reserve") ||
		(via && (strstr(via, "with_capacity") || strstr(via, "reserve")));
	snprintf(buf, len, sized ? "it sets a capacity already, one closer to the final size "
				   "would avoid the copies" :
				   "reserve or with_capacity would avoid the copies");
	return true;
}

/* Stacks that did not reach the outermost frame, by why (stored in w, returns how many). */
static int stack_warnings(const struct model *m, char **w)
{
	uint64_t taken = m->stacks_info.taken, cut = m->stacks_info.truncated,
		 unmapped = m->stacks_info.unmapped, complete = m->stacks_info.complete, other;
	int n = 0;

	if (!taken)
		return 0;
	if (cut)
		w[n++] = xasprintf("%llu of %llu stacks (%.1f%%) were cut at the frame limit of %u: "
				   "raise it with --max-frames (up to %d)",
				   (unsigned long long)cut, (unsigned long long)taken,
				   100.0 * cut / taken, m->max_frames, RP_MAX_FRAMES);
	if (unmapped)
		w[n++] = xasprintf("%llu of %llu stacks (%.1f%%) stopped in code without an unwind "
				   "table (outside the objects mapped when the tables were loaded, or "
				   "JIT code)%s%s",
				   (unsigned long long)unmapped, (unsigned long long)taken,
				   100.0 * unmapped / taken, m->tables_full ? "; tables full at " : "",
				   m->tables_full ? m->tables_full : "");
	other = taken > complete + cut + unmapped ? taken - complete - cut - unmapped : 0;
	if (other && !strcmp(m->stacks_info.method ? m->stacks_info.method : "", "dwarf"))
		w[n++] = xasprintf("%llu of %llu stacks (%.1f%%) stopped early where the unwind "
				   "tables have no usable row (code without CFI, or a rule rsprobe "
				   "cannot evaluate%s%s)",
				   (unsigned long long)other, (unsigned long long)taken,
				   100.0 * other / taken, m->tables_full ? ", or the tables were full at " : "",
				   m->tables_full ? m->tables_full : "");
	return n;
}

/* Allocations whose attributed frame has no name (a stripped object without debug file). */
static uint64_t unnamed_attributed(const struct model *m)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < m->nsites; i++) {
		const struct stack *st = stack_table__get(m->stacks, m->sites[i]->stack);

		if (st->attr >= 0 && !st->fr[st->attr]->named && st->fr[st->attr]->module)
			n += m->sites[i]->allocs;
	}
	return n;
}

int report_warnings(const struct model *m, char ***out)
{
	char **w = xcalloc(21, sizeof(*w));
	uint64_t unnamed;
	int n = 0;

	if (m->exec_ns && m->exec_followed)
		w[n++] = xasprintf("the target exec'd a new program %.3f s into the session (from "
				   "%s): the old image's %llu allocations still live (%llu bytes) were "
				   "closed by the exec, not counted as live or leaks; the new program "
				   "was profiled from its first milliseconds on (what it allocated "
				   "before its probes were in place is missed, and its frees are "
				   "unknown frees)",
				   m->exec_ns > m->start_ns ? (m->exec_ns - m->start_ns) / 1e9 : 0.0,
				   m->exec_from ? m->exec_from : "?",
				   (unsigned long long)m->totals.closed_by_exec,
				   (unsigned long long)m->totals.closed_by_exec_bytes);
	else if (m->exec_ns)
		w[n++] = xasprintf("the target exec'd a new program %.3f s into the session: capture "
				   "ended there (figures are the old image's up to its exec); its %llu "
				   "allocations still live (%llu bytes) were closed by the exec, not "
				   "counted as live or leaks",
				   m->exec_ns > m->start_ns ? (m->exec_ns - m->start_ns) / 1e9 : 0.0,
				   (unsigned long long)m->totals.closed_by_exec,
				   (unsigned long long)m->totals.closed_by_exec_bytes);
	if (m->late_probed)
		w[n++] = xstrdup(m->late_probed);
	if (m->forked)
		w[n++] = xstrdup(m->forked);
	if (m->totals.sampled_full)
		w[n++] = xasprintf("%llu sampled allocations could not be remembered in BPF (table "
				   "full): their frees were not recorded, so they count as live",
				   (unsigned long long)m->totals.sampled_full);
	if (report_estimated(m) && m->mode.source && strcmp(m->mode.source, "rust"))
		w[n++] = xasprintf("sampled at the %s layer, whose free() takes no size: bytes "
				   "freed and live bytes are estimates", m->mode.source);

	if (m->totals.lost_events)
		w[n++] = xasprintf("%llu events were lost (ring buffer full): figures are incomplete; "
				   "try a larger --ring-mb",
				   (unsigned long long)m->totals.lost_events);
	if (m->totals.unknown_frees)
		w[n++] = xasprintf("%llu frees of allocations born before tracking began",
				   (unsigned long long)m->totals.unknown_frees);
	if (m->totals.unknown_reallocs)
		w[n++] = xasprintf("%llu reallocs of allocations born before tracking began",
				   (unsigned long long)m->totals.unknown_reallocs);
	if (m->unsymbolized_frames)
		w[n++] = xasprintf("%llu distinct frames could not be symbolized (shown as "
				   "module+0xSTART of their function): for names, install the "
				   "program's debug symbols (its -dbgsym package, or a build-ID "
				   "debug file under --debug-dir DIR), set DEBUGINFOD_URLS to a "
				   "debuginfod server, or keep the symbol table when building",
				   (unsigned long long)m->unsymbolized_frames);
	unnamed = unnamed_attributed(m);
	if (unnamed)
		w[n++] = xasprintf("%llu allocations are attributed to functions without names: "
				   "standard-library frames cannot be told from the program's own "
				   "there, so their functions, via and ownership outcomes are "
				   "approximate",
				   (unsigned long long)unnamed);
	if (m->truncated_stacks)
		w[n++] = xasprintf("%llu sites have stacks deeper than %u frames (truncated)",
				   (unsigned long long)m->truncated_stacks, m->max_frames);
	n += stack_warnings(m, w + n);
	*out = w;
	return n;
}

void report_warnings_free(char **w, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(w[i]);
	free(w);
}
