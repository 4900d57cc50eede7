// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The live view: a table of the busiest sites, refreshed while collecting. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "escape.h"
#include "live.h"
#include "model.h"
#include "session.h"
#include "stats.h"
#include "util.h"

#define HEADER_LINES 6

/* A site's counts at the previous tick, for per-second rates. */
struct site_prev {
	uint64_t allocs, bytes;
};

struct live_view {
	FILE *out;
	uint64_t interval_ns;
	int top;
	bool tty;
	uint64_t last_ns, last_events, last_allocs, last_bytes;
	struct site_prev *prev;
	size_t nprev, prev_cap;
	/* Sort scratch: site index and its bytes since the last tick. */
	struct row { size_t site; uint64_t dallocs, dbytes; } *rows;
	size_t rows_cap;
};

struct live_view *live_view__new(FILE *out, uint64_t interval_ns, int top)
{
	struct live_view *v = xcalloc(1, sizeof(*v));

	v->out = out;
	v->interval_ns = interval_ns;
	v->top = top;
	v->tty = isatty(fileno(out));
	return v;
}

void live_view__free(struct live_view *v)
{
	if (!v)
		return;
	free(v->prev);
	free(v->rows);
	free(v);
}

static double per_sec(uint64_t delta, uint64_t dt_ns)
{
	return dt_ns ? delta * 1e9 / dt_ns : 0;
}

/* Rows that fit the terminal under the header, or --top when not a terminal. */
static int visible_rows(const struct live_view *v)
{
	struct winsize ws;

	if (!v->tty || ioctl(fileno(v->out), TIOCGWINSZ, &ws) || ws.ws_row <= HEADER_LINES + 2)
		return v->top;
	return MIN(v->top, ws.ws_row - HEADER_LINES - 2);
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->dbytes != y->dbytes)
		return x->dbytes > y->dbytes ? -1 : 1;
	if (x->dallocs != y->dallocs)
		return x->dallocs > y->dallocs ? -1 : 1;
	return x->site < y->site ? -1 : 1;
}

/* Per-site deltas since the last tick, busiest first. */
static void collect_rows(struct live_view *v, const struct model *m)
{
	size_t i;

	ARR_RESERVE(v->prev, v->prev_cap, m->nsites);
	ARR_RESERVE(v->rows, v->rows_cap, m->nsites);
	for (; v->nprev < m->nsites; v->nprev++)
		v->prev[v->nprev] = (struct site_prev){ 0, 0 };
	for (i = 0; i < m->nsites; i++) {
		const struct site *s = m->sites[i];

		v->rows[i] = (struct row){ i, s->allocs - v->prev[i].allocs,
					   s->bytes - v->prev[i].bytes };
		v->prev[i] = (struct site_prev){ s->allocs, s->bytes };
	}
	qsort(v->rows, m->nsites, sizeof(*v->rows), cmp_row);
}

static void header(struct live_view *v, const struct model *m, const struct capture_stats *st,
		   uint64_t dt)
{
	/* Counted in BPF: exact in every mode. */
	const struct totals *t = &st->exact;
	uint64_t events = st->events, interval = st->sample_bytes, now = st->now_ns;
	char a[32], b[32], c[32];

	fprintf(v->out, "rsprobe live: pid %d (%s)  elapsed %s  refresh %s\n", m->target.pid,
		m->target.comm, fmt_ns(a, sizeof(a), m->start_ns ? now - m->start_ns : 0),
		fmt_ns(b, sizeof(b), v->interval_ns));
	fprintf(v->out, "allocs %llu (%.0f/s, %s/s)  frees %llu  reallocs %llu\n",
		(unsigned long long)t->allocs, per_sec(t->allocs - v->last_allocs, dt),
		fmt_bytes(a, sizeof(a), (uint64_t)per_sec(t->bytes_allocated - v->last_bytes, dt)),
		(unsigned long long)t->frees, (unsigned long long)t->reallocs);
	fprintf(v->out, "live now %llu (%s)  peak %s%s  allocated %s  unknown frees %llu\n",
		(unsigned long long)(m->mode.sampled ? t->live_allocs : m->heap.cur_blocks),
		fmt_bytes(a, sizeof(a), m->mode.sampled ? t->live_bytes : m->heap.cur_bytes),
		m->mode.sampled ? "~" : "", fmt_bytes(b, sizeof(b), m->heap.max_bytes),
		fmt_bytes(c, sizeof(c), t->bytes_allocated), (unsigned long long)t->unknown_frees);
	if (m->mode.all)
		fprintf(v->out, "mode --all: every allocation recorded\n");
	else if (interval)
		fprintf(v->out, "mode %s: sampling one per %s allocated, recording ~%.1f%% of the "
			"traps' cost; site figures are estimates (~)\n",
			m->mode.adaptive ? "adaptive" : "--sample-bytes", fmt_bytes(a, sizeof(a), interval),
			st->overhead_pct);
	else
		fprintf(v->out, "mode adaptive: every allocation recorded, recording ~%.1f%% of the "
			"traps' cost (budget %.0f%%)\n", st->overhead_pct, m->mode.budget_pct);
	fprintf(v->out, "events %llu (%.0f/s)  lost %llu%s\n", (unsigned long long)events,
		per_sec(events - v->last_events, dt), (unsigned long long)st->lost_events,
		st->lost_events ? "  (raise --ring-mb)" : "");
	fprintf(v->out, "\n%5s %10s %10s %9s %10s %7s %10s  %s\n", "site", "allocs/s", "bytes/s",
		"allocs", "bytes", "live", "live bytes", "function");
	v->last_events = events;
}

static void table(struct live_view *v, const struct model *m, uint64_t dt)
{
	int i, n = (int)MIN((size_t)visible_rows(v), m->nsites);
	const char *est = m->mode.sampled ? "~" : "";
	char a[32], b[32], c[32], na[32];

	for (i = 0; i < n; i++) {
		const struct row *r = &v->rows[i];
		const struct site *s = m->sites[r->site];

		snprintf(na, sizeof(na), "%s%llu", est, (unsigned long long)s->allocs);
		fprintf(v->out, "%5u %10.0f %10s %9s %10s %7llu %10s  %s\n", s->id,
			per_sec(r->dallocs, dt),
			fmt_bytes(a, sizeof(a), (uint64_t)per_sec(r->dbytes, dt)),
			na, fmt_bytes(b, sizeof(b), s->bytes),
			(unsigned long long)s->heap.cur_blocks,
			fmt_bytes(c, sizeof(c), s->heap.cur_bytes),
			stack__function(stack_table__get(m->stacks, s->stack)));
	}
}

void live_view__draw(struct live_view *v, const struct model *m, const struct capture_stats *st)
{
	uint64_t now = st->now_ns;
	uint64_t since = v->last_ns ? v->last_ns : m->start_ns ? m->start_ns : now;
	uint64_t dt = now - since;

	FILE *out = v->out, *mem;
	char *buf = NULL;
	size_t len = 0;

	collect_rows(v, m);
	/* A terminal gets a fresh screen; a file or pipe keeps every snapshot. */
	fputs(v->tty ? "\033[H\033[2J" : "\n", out);
	/* The rest has the target's names in it: written with their control bytes escaped. */
	mem = open_memstream(&buf, &len);
	if (mem)
		v->out = mem;
	header(v, m, st, dt);
	table(v, m, dt);
	if (mem) {
		fclose(mem);
		v->out = out;
		text_write(out, buf, len);
		free(buf);
	}
	fflush(out);
	v->last_ns = now;
	v->last_allocs = st->exact.allocs;
	v->last_bytes = st->exact.bytes_allocated;
}

void live_view__tick(struct session *s, void *ctx)
{
	struct capture_stats st;

	capture_stats__read(s, &st);
	live_view__draw(ctx, session__model(s), &st);
}
