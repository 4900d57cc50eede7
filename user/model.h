/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_MODEL_H
#define RP_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashmap.h"
#include "hist.h"
#include "outcome.h"
#include "stacks.h"

/*
 * The aggregated profile every renderer reads: sites (distinct birth stacks),
 * their drop sites, the function table and the totals.
 */

struct drop_site {
	uint32_t stack;
	enum outcome outcome;
	uint64_t frees;
	uint64_t bytes;
};

struct live_sample {
	uint64_t age_ns;
	uint64_t size;
	uint64_t ptr;
};

#define MODEL_LIVE_SAMPLES 5	/* oldest live allocations kept per site */

/*
 * Live heap of a site (or of the whole process) while the capture runs, as
 * DHAT measures it: now, at the site's own maximum, and at the moment of the
 * global maximum. The global-maximum figures are taken lazily: a site records
 * its value before its first change after a new global maximum was passed
 * (see model__heap_at_peak()).
 */
struct heap_curve {
	uint64_t cur_bytes, cur_blocks;
	uint64_t max_bytes, max_blocks;	/* blocks: at the time of max_bytes */
	uint64_t peak_bytes, peak_blocks;	/* at the global maximum of epoch peak_epoch */
	uint64_t peak_epoch;
};

/*
 * The heap over time: the session cut into at most TIMELINE_BUCKETS buckets
 * of equal width, which doubles (neighbours merge) when the session outgrows
 * them. Each bucket holds the allocations, bytes and frees made in it and
 * the live heap at its end and at its highest.
 */
#define TIMELINE_BUCKETS 1024
#define TIMELINE_FIRST_NS 1000000ULL	/* first bucket width: 1 ms */
/*
 * Sites' points, all together, at most (24 bytes each): past it the buckets
 * widen as if the session had outgrown them, so memory stays bounded however
 * many sites a long capture sees.
 */
#define TIMELINE_MAX_POINTS (4u << 20)

struct tl_bucket {
	uint64_t allocs, bytes, frees;
	uint64_t live_bytes, live_allocs;	/* at the bucket's end */
	uint64_t max_live_bytes;		/* highest within it */
};

struct timeline {
	uint64_t width_ns;
	uint32_t n;			/* buckets in use */
	size_t points;			/* sites' points, summed */
	size_t max_points;		/* TIMELINE_MAX_POINTS (tests set less) */
	struct tl_bucket b[TIMELINE_BUCKETS];
};

/* A site's live bytes in a bucket where they changed: at its end and highest. */
struct tl_point {
	uint32_t bucket;
	uint64_t end, max;
};

struct site {
	uint32_t id;		/* 1-based, in order of first appearance */
	uint32_t stack;
	uint64_t allocs, bytes, frees, bytes_freed, reallocs;
	uint64_t live, live_bytes;
	uint64_t outcomes[OUTCOME_MAX];
	uint64_t cross_thread, temporaries;
	struct hist lifetime;
	/*
	 * Growth: allocations that were reallocated at least once, freed or live
	 * at the last model__live_clear(); grown_freed: the freed ones alone.
	 */
	uint64_t grown, grown_final_bytes, grown_max_final, grown_max_reallocs;
	struct {
		uint64_t n, final_bytes, max_final, max_reallocs;
	} grown_freed;
	struct drop_site *drops;
	size_t ndrops, drops_cap;
	struct u64map drop_idx;	/* drop stack -> index + 1 */
	size_t last_drop;	/* the drop site of the last free, index + 1 (0: none yet) */
	struct live_sample oldest[MODEL_LIVE_SAMPLES];
	int noldest;
	/* Ages at the end of those still live, summed (lifetime weight). */
	uint64_t live_age_sum;
	struct heap_curve heap;
	struct tl_point *tl;	/* one point per bucket in which the site changed */
	size_t ntl, tl_cap;
};

struct function {
	char *name;
	uint64_t allocs, frees, bytes_allocated, bytes_freed;
};

struct totals {
	uint64_t allocs, frees, reallocs, bytes_allocated, bytes_freed;
	uint64_t live_allocs, live_bytes, unknown_frees, unknown_reallocs, lost_events;
	uint64_t temporaries, cross_thread, failed_allocs;
	/* Frees the allocator made of its own memory (thread-exit cache flush): in no other count. */
	uint64_t allocator_internal_frees;
	uint64_t sampled_full;		/* sampled allocations BPF had no room to remember */
	/* Live when the target exec'd (attach mode): closed, in no live count. */
	uint64_t closed_by_exec, closed_by_exec_bytes;
	uint64_t outcomes[OUTCOME_MAX];
};

struct target_info {
	pid_t pid;
	char comm[32];
	char *exe;
	const char *state;	/* in targets[]: "running", "exited", "exec'd" at the end */
};

struct mode_info {
	bool all;
	uint64_t sample_bytes;		/* interval in force at the end; 0: exact */
	bool adaptive;			/* the default mode: exact or sampled, as affordable */
	bool sampled;			/* sampling was in force at some time: estimates */
	double sampled_fraction;	/* allocations recorded / all allocations */
	uint64_t sample_bytes_min, sample_bytes_max;	/* intervals used (adaptive) */
	double budget_pct;		/* adaptive: the overhead budget */
	double overhead_pct;		/* estimated cost of recording, % of the budget's reference */
	const char *source;		/* "rust", "libc", ... */
	char *source_reason;
};

struct model {
	struct symbolizer *sym;
	struct stack_table *stacks;
	struct site **sites;		/* by id - 1 */
	size_t nsites, sites_cap;
	/* By stack id (ids are dense): the site's id, 0 for none; looked up at every allocation. */
	uint32_t *site_of_stack;
	size_t site_of_stack_cap;
	struct function *funcs;
	size_t nfuncs, funcs_cap;
	struct u64map func_idx;		/* name hash -> index + 1 */
	/* By stack id: the function's index + 1, 0 not looked up yet; at every event. */
	uint32_t *func_of_stack;
	size_t func_of_stack_cap;
	struct hist lifetime;		/* all frees */
	struct totals totals;
	struct target_info target;
	/* Every process recorded (target is the first), in the order added. */
	struct target_info *targets;
	size_t ntargets;
	struct mode_info mode;
	uint64_t start_ns, end_ns;	/* session, CLOCK_MONOTONIC */
	uint64_t exec_ns;		/* the target exec'd then (capture ended); 0: it did not */
	/* The command forked, its children not followed (without -f): a warning. */
	char *forked;
	/* Libraries used right after dlopen, before their probes were in place (a warning). */
	char *late_probed;
	/* After the exec, the new program was profiled (attach mode): the capture went on. */
	bool exec_followed;
	char *exec_from;		/* the program it exec'd from, when followed */
	uint64_t unsymbolized_frames;
	uint64_t truncated_stacks;
	unsigned int max_frames;	/* the frame limit stacks were walked with */
	char *tables_full;		/* first object left out of full unwind tables, or NULL */
	struct {
		const char *method;	/* "dwarf" or "frame pointers" */
		uint64_t taken;		/* events that carried a stack */
		uint64_t dwarf;		/* of those, unwound with CFI tables */
		uint64_t complete;	/* reached the outermost frame */
		uint64_t truncated;	/* deeper than the frame limit */
		uint64_t unmapped;	/* met code outside the known objects */
	} stacks_info;
	/* Live heap over time: whole process (heap.max_* is the global maximum). */
	struct heap_curve heap;
	uint64_t peak_ns;		/* when the global maximum was reached (CLOCK_MONOTONIC) */
	struct timeline timeline;
	uint64_t peak_epoch;		/* global maxima passed so far */
	bool peak_pending;		/* at a maximum that no site has recorded yet */
	/*
	 * Event time of the event being fed, set by the tracker; 0 means "now"
	 * (the clock when the event is processed, a little late).
	 */
	uint64_t now_ns;
	/*
	 * Allocations the event being fed stands for (a sampled allocation's
	 * weight), set by the tracker; 0 means 1.
	 */
	uint64_t weight;
	/* The window being recorded (model__window_begin()), or NULL. */
	struct model *window;
	bool shares_stacks;		/* a window: the stack table is its parent's */
};

struct model *model__new(struct symbolizer *sym);
void model__free(struct model *m);

/* Site for a birth stack, created on first use. */
struct site *model__site(struct model *m, uint32_t stack);
/* The site of a birth stack, NULL when it has none yet. */
static inline struct site *model__site_of_stack(const struct model *m, uint32_t stack)
{
	return stack < m->site_of_stack_cap && m->site_of_stack[stack] ?
		       m->sites[m->site_of_stack[stack] - 1] :
		       NULL;
}
void model__on_alloc(struct model *m, struct site *s, uint64_t size);
void model__on_realloc(struct model *m, struct site *s, uint64_t old_size, uint64_t new_size);
void model__on_free(struct model *m, struct site *s, uint32_t drop_stack, uint64_t size,
		    uint64_t lifetime_ns, bool cross_thread, bool temporary);
/* An allocation ended its growth (freed, or still live at the end). */
void model__on_grown(struct model *m, struct site *s, uint32_t reallocs, uint64_t final_size);
/*
 * The run's metadata goes in through these (the capture layer writes no
 * field of it), and a window copies it when it is rotated: the target (exe
 * and comm copied; NULL leaves them as they are), how stacks are walked,
 * and each event's stack figures (model__on_stack()).
 */
void model__set_target(struct model *m, pid_t pid, const char *comm, const char *exe);
void model__set_stack_walk(struct model *m, const char *method, unsigned int max_frames);
/* An event's stack was taken, walked as its RP_F_* flags say. */
void model__on_stack(struct model *m, uint32_t flags);
/* The allocator freed memory of its own (see totals.allocator_internal_frees). */
void model__on_internal_free(struct model *m);
/* The target exec'd: an allocation of size bytes live then is closed (weighted). */
void model__on_closed_by_exec(struct model *m, uint64_t size);

/*
 * Live figures (sites' live, live_bytes, oldest, live_age_sum, the growth of
 * live allocations; totals.live_*) are a picture of the live table taken at
 * one time, not accumulated: model__live_clear() forgets the last picture,
 * then model__on_live() adds each live allocation (tracker__fill_live() does
 * both). A model can be pictured any number of times.
 */
void model__live_clear(struct model *m);
void model__on_live(struct model *m, struct site *s, uint64_t size, uint64_t age_ns,
		    uint64_t ptr, uint32_t reallocs);

/*
 * Windows, for interval exports (a profile per interval, counters since the
 * start). model__window_begin(m, now) starts recording a window: from then
 * on, everything fed to m is fed to m->window too, a model of its own whose
 * sites are found by birth stack and which shares m's symbolizer and stack
 * table. Its live heap starts from m's at that time; its counts, lifetimes,
 * functions and timeline start from zero. model__rotate(m, now) ends the
 * window at now, gives it to the caller (to render, fill with
 * tracker__fill_live() for the in-use figures, and model__free() before m),
 * and starts the next one; NULL if no window was being recorded. The run's
 * metadata (target, mode, stack method, frame limit) is copied from m then.
 */
void model__window_begin(struct model *m, uint64_t now_ns);
struct model *model__rotate(struct model *m, uint64_t now_ns);
/* A site of m for a site of the model m's window came from (by birth stack). */
struct site *model__site_like(struct model *m, const struct site *s);

/* A site's live bytes and blocks at the global maximum. */
void model__heap_at_peak(const struct model *m, const struct site *s, uint64_t *bytes,
			 uint64_t *blocks);

/* When the live heap peaked, in ns since the session began. */
static inline uint64_t model__peak_offset_ns(const struct model *m)
{
	if (!m->heap.max_bytes || m->peak_ns < m->start_ns)
		return 0;
	return m->end_ns > m->start_ns && m->peak_ns > m->end_ns ? m->end_ns - m->start_ns :
								   m->peak_ns - m->start_ns;
}

/* Extend the timeline to the session's end. */
void model__timeline_close(struct model *m, uint64_t end_ns);
/* A site's highest live bytes in each of the timeline's buckets (out[n]). */
void model__site_timeline(const struct model *m, const struct site *s, uint64_t *out);

/* Sites sorted by a key, for renderers (caller frees the array). */
enum site_order { ORDER_BYTES, ORDER_ALLOCS, ORDER_LIVE_BYTES, ORDER_PEAK_BYTES, ORDER_MAX_LIVE,
		  ORDER_REALLOCS };
struct site **model__sorted_sites(const struct model *m, enum site_order order);
struct function **model__sorted_functions(const struct model *m);
/* Main drop site of a site (most frees), or NULL. */
const struct drop_site *site__main_drop(const struct site *s);
/* Heap-owning type recognised from the birth stack's library frames. */
const char *model__heap_type(const struct model *m, const struct site *s);

#endif
