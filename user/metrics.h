/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "model.h"

/*
 * Prometheus text exposition (format 0.0.4) of the daemon's targets, in two
 * steps: a snapshot of one target's model (taken by whoever owns the model,
 * while it is consistent), then one page rendered from the snapshots of all
 * targets. Metric names and labels are a contract (docs: product.md).
 */

/* Upper bounds of the lifetime histogram's finite buckets, seconds. */
#define METRICS_NLE 24
extern const double metrics_le_seconds[METRICS_NLE];

/* Functions with a series of their own per process, by default (--metrics-top). */
#define METRICS_DEFAULT_TOP 50

/* One function's series; also "[other]" (the rest summed) and "[all]". */
struct metrics_row {
	char *function;
	uint64_t allocs, bytes, frees;
	uint64_t le[METRICS_NLE];	/* lifetimes at or below each bound (cumulative) */
	uint64_t count;			/* lifetimes observed (the +Inf bucket) */
	uint64_t sum_ns;		/* their sum */
	uint64_t outcomes[OUTCOME_MAX];
	uint64_t cross_thread;
};

/* Whatever the model cannot say about a target: the driver's figures. */
struct metrics_extra {
	uint64_t lost_events;
	uint64_t dropped_by_cap;
	double sampled_fraction;	/* allocations recorded / all allocations */
	double duty_cycle;		/* share of time the probes were attached */
	/*
	 * Lifetimes still running when a probe window closed: right-censored,
	 * counted in the histogram's +Inf bucket only (never dropped).
	 */
	uint64_t censored;
	uint64_t push_sent, push_failed;	/* profiles delivered / given up (--push) */
};

struct metrics_snap {
	pid_t pid;
	char comm[32];
	struct metrics_row *rows;	/* top functions by bytes, then [other], then [all] */
	size_t nrows;
	uint64_t live_bytes, live_allocs;
	struct metrics_extra x;
};

/*
 * Snapshot of a model: per attributed function (of the birth stack) the
 * counts and lifetimes of its sites; the top functions by bytes allocated
 * get their own row, the rest are summed under "[other]". exact: the
 * target's exact totals (BPF's counters; the model's own when NULL), which
 * "[all]" and the live gauges report. Returns 0 or -ENOMEM.
 */
int metrics_snapshot(struct metrics_snap *out, const struct model *m, const struct totals *exact,
		     const struct metrics_extra *x, int top);
void metrics_snap_free(struct metrics_snap *s);
/*
 * Add src's rows and counters (lost, dropped, censored) to dst, by function:
 * the figures of an earlier capture of the same process (duty cycling).
 * Beyond top functions of their own, the smallest are folded into
 * "[other]". dst's gauges stay.
 */
void metrics_snap_merge(struct metrics_snap *dst, const struct metrics_snap *src, int top);
/* Deep copy (the page is rendered from copies while models change). */
void metrics_snap_copy(struct metrics_snap *dst, const struct metrics_snap *src);

/* Figures of the daemon itself: whatever is not a target's. */
struct metrics_daemon {
	uint64_t targets;
	uint64_t push_failed;		/* profiles that could not be delivered */
	uint64_t push_sent;
};

/* The whole page. Returns 0 or -EIO. */
int metrics_render(FILE *f, const struct metrics_snap *snaps, size_t n,
		   const struct metrics_daemon *d);

/* A label value escaped as the text format wants (\\, \", \n). */
void metrics_label_value(FILE *f, const char *s);

#endif
