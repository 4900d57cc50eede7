/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_SAMPLER_H
#define RP_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashmap.h"

/*
 * The adaptive recording mode: every allocation is recorded while that is
 * cheap; when recording costs more than the budget allows, Poisson sampling
 * by bytes with a mean interval that follows the load. Each period (100 ms,
 * growing to 1 s while the interval is steady) compares what recording cost
 * the target (time spent in BPF taking stacks and sending events, measured
 * there, plus an estimate for the counting every call pays) with what the
 * traps of the period's calls cost (trapcost.h: measured at start-up; until
 * then, and without a measurement, the target's own CPU time in the period),
 * and sets the interval for the next.
 */
struct sampler_stats {
	uint64_t calls;		/* allocator calls (allocs, frees, reallocs) */
	uint64_t allocs;
	uint64_t returns;	/* calls that pay a return probe (allocations, reallocs) */
	uint64_t bytes;		/* bytes allocated */
	uint64_t record_ns;	/* time BPF spent recording */
	uint64_t events;	/* recording steps (an allocation's entry and return, a free) */
	/* Calls only counted: the time of those timed (RP_CNT_COUNT_NS), and how many */
	uint64_t count_ns;
	uint64_t count_timed;
	/* --unwind copy (0 otherwise): the consumer's side, see drain_interval() */
	uint64_t drained;	/* copied stacks unwound so far */
	uint64_t drain_ns;	/* the time that took */
	uint64_t ring_copies;	/* copies the ring buffer holds */
};

struct sampler {
	pid_t pid;
	double budget;		/* fraction of the traps' cost */
	double trap_entry_ns, trap_ret_ns;	/* measured; 0 until known */
	uint64_t interval;	/* mean bytes between samples; 0: exact */
	uint64_t period_ns, last_ns;
	struct sampler_stats last;
	uint64_t last_cpu_ns;
	struct u64map cpu;	/* tid -> CPU time at the last look */
	double overhead;	/* estimate for the last period, fraction */
	double count_per_call;	/* what counting cost per call, ns: last measured */
	uint64_t total_record_ns;
	bool ever_sampled;
	uint64_t min_interval, max_interval;	/* used so far (nonzero ones) */
};

/* Bytes between samples is kept in [SAMPLER_MIN, SAMPLER_MAX]. */
#define SAMPLER_MIN_INTERVAL 64ULL
#define SAMPLER_MAX_INTERVAL (1ULL << 34)
/*
 * What every call pays whether or not it is recorded (the target's check,
 * counters, the countdown, the filter of sampled pointers) is measured in
 * BPF on one call in 64 (RP_CNT_COUNT_NS). Until a period has timed at
 * least SAMPLER_COUNT_MIN_TIMED calls (recording everything, none is only
 * counted), the last figure measured, or this one (bpf_stats on the
 * development machines, with margin).
 */
#define SAMPLER_COUNT_NS_PER_CALL 20
#define SAMPLER_COUNT_MIN_TIMED 16
/*
 * What a recorded event really costs against what BPF measures around its
 * work: stack walks search unwind tables of megabytes, and the cache misses
 * they leave behind slow down every program that runs after them; threads
 * on other CPUs share the table of sampled pointers and the ring. bpf_stats
 * (run_time_ns over the whole programs, the default mode against
 * --sample-bytes 512K) showed 3 times the time measured inside on one
 * thread, 6.5 times with three threads on two CPUs.
 */
#define SAMPLER_RECORD_FACTOR 5.0
/*
 * The same for counting: bpf_stats showed about twice what BPF measures
 * from the preamble on (the program's start and end are outside).
 */
#define SAMPLER_COUNT_FACTOR 2.0
/*
 * Recording is never sampled before it has cost the target this much in
 * all: a short program, or a short burst after attaching, is recorded whole.
 */
#define SAMPLER_GRACE_NS 2000000ULL
/* No allocator call under a uprobe costs less CPU than this. */
#define SAMPLER_MIN_TRAP_NS 300
/* The budget applies to at least this share of one CPU (see next_interval). */
#define SAMPLER_CPU_FLOOR 0.1
/* --unwind copy: unwinding copied stacks may take this share of one CPU. */
#define SAMPLER_DRAIN_SHARE 0.5

void sampler__init(struct sampler *sp, pid_t pid, double budget_pct);
void sampler__free(struct sampler *sp);
/*
 * Called often while collecting with the counters so far; at the end of a
 * period, returns true and sets *interval when the interval should change.
 */
bool sampler__tick(struct sampler *sp, uint64_t now_ns, const struct sampler_stats *st,
		   uint64_t *interval);
/*
 * The interval in force was set elsewhere (BPF's brake for --unwind copy):
 * the next period starts from it.
 */
void sampler__follow(struct sampler *sp, uint64_t interval);
/* The target's CPU time, summed over its threads, ns (0 if unreadable). */
uint64_t sampler__target_cpu_ns(struct sampler *sp);

#endif
