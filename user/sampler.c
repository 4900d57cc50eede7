// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The adaptive recording mode: the sampling interval that fits the budget. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsprobe.h"
#include "sampler.h"
#include "trapcost.h"
#include "util.h"

#define PERIOD_FIRST_NS 10000000ULL
#define PERIOD_MIN_NS 100000000ULL
#define PERIOD_MAX_NS 1000000000ULL

void sampler__init(struct sampler *sp, pid_t pid, double budget_pct)
{
	memset(sp, 0, sizeof(*sp));
	sp->pid = pid;
	sp->budget = budget_pct / 100;
	sp->period_ns = PERIOD_FIRST_NS;
	sp->count_per_call = SAMPLER_COUNT_NS_PER_CALL;
	u64map_init(&sp->cpu);
	trapcost__start();
}

void sampler__free(struct sampler *sp)
{
	u64map_free(&sp->cpu);
}

/*
 * CPU time of every thread from /proc/PID/task/TID/schedstat (ns, unlike the
 * clock ticks of /proc/PID/stat): what each thread added since the last look.
 */
uint64_t sampler__target_cpu_ns(struct sampler *sp)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", sp->pid);
	d = opendir(path);
	if (!d)
		return sp->last_cpu_ns;
	while ((de = readdir(d))) {
		unsigned long long ns;
		uint64_t tid, *prev;
		bool fresh;
		FILE *f;
		int ok;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		tid = strtoull(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%d/task/%llu/schedstat", sp->pid,
			 (unsigned long long)tid);
		f = fopen(path, "re");
		if (!f)
			continue;
		ok = fscanf(f, "%llu", &ns) == 1;
		fclose(f);
		if (!ok)
			continue;
		prev = u64map_slot(&sp->cpu, tid, &fresh);
		if (fresh)
			*prev = 0;
		if (ns > *prev)
			sp->last_cpu_ns += ns - *prev;
		*prev = ns;
	}
	closedir(d);
	return sp->last_cpu_ns;
}

static uint64_t clamp_interval(double v)
{
	if (v < SAMPLER_MIN_INTERVAL)
		return SAMPLER_MIN_INTERVAL;
	if (v > (double)SAMPLER_MAX_INTERVAL)
		return SAMPLER_MAX_INTERVAL;
	return (uint64_t)v;
}

/*
 * What the period's traps cost: the reference the budget is a share of.
 * Until the trap is measured, the target's CPU time, which for a program
 * that does little but allocate is about the same.
 */
static double trap_reference(struct sampler *sp, double base_ns, const struct sampler_stats *d)
{
	struct trapcost tc;

	if (!sp->trap_entry_ns && trapcost__get(&tc) && tc.measured) {
		sp->trap_entry_ns = tc.entry_ns;
		sp->trap_ret_ns = tc.ret_ns;
	}
	if (!sp->trap_entry_ns)
		return base_ns;
	return (double)d->calls * sp->trap_entry_ns + (double)d->returns * sp->trap_ret_ns;
}

/*
 * What the budget is a share of: the traps' cost, or a tenth of one CPU when
 * that is more (a program that allocates now and then): what costs so little
 * is recorded whole.
 */
static double reference(struct sampler *sp, double base_ns, double wall_ns,
			const struct sampler_stats *d)
{
	return MAX(trap_reference(sp, base_ns, d), wall_ns * SAMPLER_CPU_FLOOR);
}

/*
 * What counting every call cost in the period, ns: measured in BPF on one
 * call in RP_COUNT_ONE_IN of those only counted, or, in a period with too
 * few of them (recording everything), the last cost per call measured.
 */
static double counting_ns(struct sampler *sp, const struct sampler_stats *d)
{
	if (d->count_timed >= SAMPLER_COUNT_MIN_TIMED) {
		double ns = (double)d->count_ns * RP_COUNT_ONE_IN * SAMPLER_COUNT_FACTOR;

		sp->count_per_call = ns / d->calls;
		return ns;
	}
	return sp->count_per_call * d->calls;
}

/*
 * The interval for the next period, from what this one cost: recording
 * (record_ns) and counting, which every call pays, recorded or not. Both
 * count against the budget; only recording shrinks with a longer interval.
 */
static uint64_t next_interval(struct sampler *sp, double base_ns, double wall_ns,
			      double record_ns, double counting, const struct sampler_stats *d)
{
	/* Aim below the budget: costs vary from period to period. */
	double allowed = sp->budget * reference(sp, base_ns, wall_ns, d);
	double target = 0.5 * allowed - counting, per_event, exact_cost;

	if (!d->events || record_ns <= 0)
		return sp->interval;
	per_event = record_ns / d->events;
	/*
	 * Recording everything: a step per call, and one more per allocation
	 * (its return); the counting is the same either way.
	 */
	exact_cost = per_event * (d->calls + d->allocs);
	/*
	 * Everything stays recorded while that fits the budget (as --budget
	 * promises); only an interval, once sampling, aims below it.
	 */
	if (exact_cost <= allowed - counting)
		return 0;
	/* A short program, or a short burst: recorded whole. */
	if (!sp->interval && sp->total_record_ns < SAMPLER_GRACE_NS)
		return 0;
	if (target < allowed * 0.05)
		target = allowed * 0.05;
	if (!sp->interval) {
		/* Small allocations are sampled with chance size / interval. */
		double mean = d->allocs ? (double)d->bytes / d->allocs : 1;

		return clamp_interval(MAX(mean, mean * exact_cost / target));
	}
	/* Recording costs about 1 / interval. */
	return clamp_interval((double)sp->interval * record_ns / target);
}

/*
 * --unwind copy: every recorded step sends kilobytes of stack that the
 * consumer unwinds, at tens of microseconds each, far more than BPF spends
 * sending it. Whatever the budget allows the target, recording is kept to
 * what the consumer unwinds in a share of one CPU, or the ring fills and
 * events are lost. A burst the ring holds is recorded whole.
 */
static uint64_t drain_interval(const struct sampler *sp, double wall_ns,
			       const struct sampler_stats *st, const struct sampler_stats *d)
{
	double per, exact_need, allowed = SAMPLER_DRAIN_SHARE * wall_ns, target = 0.5 * allowed;

	if (!st->drained || !st->ring_copies)
		return 0;
	/* Every step counted as a stack (returns send none): on the safe side. */
	per = (double)st->drain_ns / st->drained;
	exact_need = per * (d->calls + d->allocs);
	if (exact_need <= allowed)
		return 0;
	if (!sp->interval) {
		double mean = d->allocs ? (double)d->bytes / d->allocs : 1;

		if (st->events < st->ring_copies / 2)
			return 0;
		return clamp_interval(MAX(mean, mean * exact_need / target));
	}
	return clamp_interval((double)sp->interval * per * d->events / target);
}

void sampler__follow(struct sampler *sp, uint64_t interval)
{
	sp->interval = interval;
	sp->ever_sampled = true;
	sp->min_interval = sp->min_interval ? MIN(sp->min_interval, interval) : interval;
	sp->max_interval = MAX(sp->max_interval, interval);
	sp->period_ns = PERIOD_FIRST_NS;
}

bool sampler__tick(struct sampler *sp, uint64_t now_ns, const struct sampler_stats *st,
		   uint64_t *interval)
{
	struct sampler_stats d;
	uint64_t cpu, dcpu, next, wall = now_ns - sp->last_ns;
	double base, rec, ratio, counting;

	if (!sp->last_ns) {
		sp->last_ns = now_ns;
		sp->last = *st;
		sampler__target_cpu_ns(sp);
		return false;
	}
	if (now_ns - sp->last_ns < sp->period_ns)
		return false;
	d.calls = st->calls - sp->last.calls;
	/* Nothing happened: the period stays open until something does. */
	if (!d.calls)
		return false;
	cpu = sp->last_cpu_ns;
	dcpu = sampler__target_cpu_ns(sp) - cpu;
	d.allocs = st->allocs - sp->last.allocs;
	d.returns = st->returns - sp->last.returns;
	d.bytes = st->bytes - sp->last.bytes;
	d.record_ns = st->record_ns - sp->last.record_ns;
	d.events = st->events - sp->last.events;
	d.count_ns = st->count_ns - sp->last.count_ns;
	d.count_timed = st->count_timed - sp->last.count_timed;
	sp->last = *st;
	sp->last_ns = now_ns;
	sp->total_record_ns += d.record_ns;
	/*
	 * Every call traps, at 0.3 us or more on any machine: less CPU than that
	 * means the reading missed threads (those that exited in the period).
	 */
	if (dcpu < d.calls * SAMPLER_MIN_TRAP_NS)
		return false;
	/*
	 * The target's time without recording: what was measured inside BPF
	 * is in its CPU time; the cache misses it left behind are spread over
	 * everything else, the target's own code too.
	 */
	counting = counting_ns(sp, &d);
	base = MAX((double)dcpu - (double)d.record_ns - counting, (double)dcpu / 20);
	d.record_ns = (uint64_t)(d.record_ns * SAMPLER_RECORD_FACTOR);
	rec = (double)d.record_ns + counting;
	sp->overhead = rec / reference(sp, base, (double)wall, &d);
	debug("period: target CPU %.1f ms, recording %.2f ms (estimated), counting %.2f ms "
	      "(%.1f ns a call), %llu calls, %llu steps",
	      dcpu / 1e6, d.record_ns / 1e6, counting / 1e6, counting / d.calls,
	      (unsigned long long)d.calls, (unsigned long long)d.events);
	next = next_interval(sp, base, (double)wall, (double)d.record_ns, counting, &d);
	next = MAX(next, drain_interval(sp, (double)wall, st, &d));
	/*
	 * Recording everything, look often: a burst must not run at full cost
	 * for long. A steady interval is looked at less often.
	 */
	ratio = next && sp->interval ? (double)next / sp->interval : 0;
	if (!next)
		sp->period_ns = PERIOD_FIRST_NS;
	else if (ratio > 0.7 && ratio < 1.4)
		sp->period_ns = MIN(MAX(sp->period_ns * 2, PERIOD_MIN_NS), PERIOD_MAX_NS);
	else
		sp->period_ns = PERIOD_MIN_NS;
	if (next == sp->interval)
		return false;
	sp->interval = next;
	if (next) {
		sp->ever_sampled = true;
		sp->min_interval = sp->min_interval ? MIN(sp->min_interval, next) : next;
		sp->max_interval = MAX(sp->max_interval, next);
	}
	*interval = next;
	return true;
}
