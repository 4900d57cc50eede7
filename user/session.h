/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_SESSION_H
#define RP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "model.h"

struct session;

struct session_opts {
	pid_t pid;		/* attach to this process, or */
	char **argv;		/* launch this command */
	uint64_t duration_ns;	/* 0: until the target exits or a signal */
	uint64_t ring_bytes;
	bool all;		/* record every allocation, never sample */
	uint64_t sample_bytes;	/* fixed sampling interval; 0 (and !all): adaptive */
	double budget_pct;	/* adaptive: recording cost allowed, % of the traps' cost */
	bool empty_programs;	/* bench: the bare-uprobe floor */
	enum unwind_mode { UNWIND_AUTO, UNWIND_DWARF, UNWIND_FP, UNWIND_COPY } unwind;
	enum source_mode {
		SOURCE_AUTO, SOURCE_RUST, SOURCE_LIBC, SOURCE_JEMALLOC, SOURCE_MIMALLOC
	} source;
	/* Roots searched for separate debug files, NULL-terminated; NULL: default. */
	const char *const *debug_roots;
	unsigned int max_frames;	/* frames walked per stack, 0: RP_DEFAULT_FRAMES */
	/* Called every tick_ns while collecting (live views); may be NULL. */
	void (*on_tick)(struct session *s, void *ctx);
	void *tick_ctx;
	uint64_t tick_ns;
};

/*
 * Everything that can be checked before probing: the target, its allocator
 * symbols, the command to launch. Prints one line and returns NULL on error.
 */
struct session *session__new(const struct session_opts *opts);
/*
 * Load and attach the probes, start the command (launch mode), and collect
 * until the target exits, the duration passes or a signal arrives. The model
 * holds what was captured even when an error ends the session early.
 * Returns 0 or a negative errno.
 */
int session__run(struct session *s);
struct model *session__model(struct session *s);
/* Events taken from the ring so far, and events lost so far (live). */
uint64_t session__events(struct session *s);
uint64_t session__lost(struct session *s);
/* The exact totals so far, from BPF's counters (live). */
void session__totals(struct session *s, struct totals *t);
/* Sampling interval in force (0: every allocation), estimated recording cost (%). */
uint64_t session__sample_bytes(struct session *s);
double session__overhead_pct(struct session *s);
/* Exit status for rsprobe in launch mode (the command's), -1 otherwise. */
int session__child_status(struct session *s);
/* Wait for a launched command to finish after detach. */
void session__wait_child(struct session *s);
void session__free(struct session *s);

extern volatile sig_atomic_t rp_exiting;

#endif
