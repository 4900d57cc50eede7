// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * DHAT's JSON (dhatFileVersion 2, mode "rust-heap", as the dhat crate writes
 * for Rust programs), so Valgrind's dh_view.html and the Firefox Profiler
 * open the profile of a live process. One program point per site; frames
 * innermost first, as DHAT lists them. Times are in microseconds since the
 * capture began.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "escape.h"
#include "report.h"
#include "util.h"

/* Short-lived threshold for dh_view, in time units (us). */
#define SHORT_LIVED_US 10

/* The frame table: one string per distinct frame, index 0 is "[root]". */
struct ftbl {
	const struct frame_info **fr;
	size_t n, cap;
	struct u64map idx;	/* frame (one per pc, or per inlined function) -> index */
};

static uint32_t ftbl_index(struct ftbl *t, const struct frame_info *fr)
{
	bool fresh;
	uint64_t *slot = u64map_slot(&t->idx, (uint64_t)(uintptr_t)fr, &fresh);

	if (fresh) {
		ARR_RESERVE(t->fr, t->cap, t->n + 1);
		t->fr[t->n] = fr;
		*slot = ++t->n;	/* the table starts with "[root]" */
	}
	return (uint32_t)*slot;
}

static uint64_t us(uint64_t ns)
{
	return ns / 1000;
}

static void header(FILE *f, const struct model *m)
{
	uint64_t end = m->end_ns > m->start_ns ? m->end_ns - m->start_ns : 0;
	uint64_t peak = m->peak_ns > m->start_ns ? m->peak_ns - m->start_ns : 0;

	fputs("{\"dhatFileVersion\":2,\"mode\":\"rust-heap\",\"verb\":\"Allocated\","
	      "\"bklt\":true,\"bkacc\":false,\"bu\":\"byte\",\"bsu\":\"bytes\",\"bksu\":\"blocks\","
	      "\"tu\":\"µs\",\"Mtu\":\"s\",", f);
	fprintf(f, "\"tuth\":%d,\"cmd\":", SHORT_LIVED_US);
	json_string(f, m->target.exe ? m->target.exe : m->target.comm);
	fprintf(f, ",\"pid\":%d,\"te\":%llu,\"tg\":%llu,\n\"pps\":[", m->target.pid,
		(unsigned long long)us(end), (unsigned long long)us(MIN(peak, end)));
}

static void program_point(FILE *f, const struct model *m, const struct site *s, struct ftbl *t,
			  bool first)
{
	const struct stack *st = stack_table__get(m->stacks, s->stack);
	uint64_t gb, gbk;
	uint32_t i;

	model__heap_at_peak(m, s, &gb, &gbk);
	fprintf(f, "%s\n{\"tb\":%llu,\"tbk\":%llu,\"tl\":%llu,\"mb\":%llu,\"mbk\":%llu,"
		   "\"gb\":%llu,\"gbk\":%llu,\"eb\":%llu,\"ebk\":%llu,\"fs\":[",
		first ? "" : ",", (unsigned long long)s->bytes, (unsigned long long)s->allocs,
		(unsigned long long)us(s->lifetime.sum + s->live_age_sum),
		(unsigned long long)s->heap.max_bytes, (unsigned long long)s->heap.max_blocks,
		(unsigned long long)gb, (unsigned long long)gbk,
		(unsigned long long)s->live_bytes, (unsigned long long)s->live);
	for (i = 0; i < st->n; i++)
		fprintf(f, "%s%u", i ? "," : "", ftbl_index(t, st->fr[i]));
	fputs("]}", f);
}

/*
 * "0xADDR: function (in module)": the form DHAT writes for frames without
 * source lines, which dh_view shows and the Firefox Profiler parses.
 */
static void frame_string(FILE *f, const struct frame_info *fr)
{
	char *s = xasprintf("0x%llx: %s (in %s)", (unsigned long long)fr->pc, fr->function,
			    fr->module ? fr->module : "[anonymous]");

	json_string(f, s);
	free(s);
}

int report_dhat(FILE *f, const struct model *m, const struct report_opts *o)
{
	struct ftbl t = {};
	size_t i;

	u64map_init(&t.idx);
	header(f, m);
	for (i = 0; i < m->nsites; i++)
		program_point(f, m, m->sites[i], &t, i == 0);
	fputs("\n],\n\"ftbl\":[\"[root]\"", f);
	for (i = 0; i < t.n; i++) {
		fputs(",\n", f);
		frame_string(f, t.fr[i]);
	}
	fputs("\n]}\n", f);
	free(t.fr);
	u64map_free(&t.idx);
	return ferror(f) ? -EIO : 0;
}
