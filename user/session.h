/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_SESSION_H
#define RP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layer.h"
#include "model.h"

/*
 * One capture: a BPF object, the probes, and the processes it records (its
 * targets). The caller owns the loop and the signals:
 *
 *	s = session__new(&opts);		checks, nothing attached
 *	session__start(s);			probes attached, recording
 *	while (!stop_wanted) {
 *		rc = session__poll(s, 100);	events read for up to 100 ms
 *		if (rc == SESSION_DONE) break;	every target is gone
 *		...				live views, exports, add targets
 *	}
 *	session__stop(s);			probes removed, models final
 *	session__free(s);
 */
struct session;
struct session_target;

struct session_opts {
	/* Attach to these processes (one capture, merged by stack), or */
	const pid_t *pids;
	size_t npids;
	char **argv;		/* launch this command */
	uint64_t ring_bytes;
	bool all;		/* record every allocation, never sample */
	uint64_t sample_bytes;	/* fixed sampling interval; 0 (and !all): adaptive */
	double budget_pct;	/* adaptive: recording cost allowed, % of the traps' cost */
	bool measure_cost;	/* measure the cost of recording in every mode (live views) */
	bool empty_programs;	/* bench: the bare-uprobe floor */
	/*
	 * Launch mode: the command's children (and what they exec) are targets
	 * too, each held at its exec until its new program is probed.
	 */
	bool follow_forks;
	enum unwind_mode unwind;	/* layer.h */
	enum source_mode source;	/* layer.h */
	/* Roots searched for separate debug files, NULL-terminated; NULL: default. */
	const char *const *debug_roots;
	unsigned int max_frames;	/* frames walked per stack, 0: RP_DEFAULT_FRAMES */
	/* Caps on tracked live allocations and on sites, 0: none (tracker.h). */
	uint64_t max_live, max_sites;
};

/*
 * Everything that can be checked before probing: the targets, their
 * allocator symbols, the command to launch. Prints one line and returns
 * NULL on error.
 */
struct session *session__new(const struct session_opts *opts);
/*
 * Load and attach the probes, start the command (launch mode), and start
 * recording. Returns 0 or a negative errno (then nothing stays attached and
 * a launched command is gone).
 */
int session__start(struct session *s);

/* What session__poll returns (or a negative errno). */
enum session_poll {
	SESSION_RUNNING = 0,	/* the timeout passed */
	SESSION_CHANGED = 1,	/* a target exited, exec'd or was added: look at them */
	SESSION_DONE = 2,	/* every target is gone: nothing more will come */
};
/*
 * Read events for at most timeout_ms (also when they keep coming), and look
 * after the targets. Returns early when something needs the caller.
 */
int session__poll(struct session *s, int timeout_ms);
/*
 * Async-signal-safe: a poll (or a start waiting for the launched program)
 * returns as soon as it can. The caller then stops the session.
 */
void session__interrupt(struct session *s);
/*
 * Record one more running process, while the session runs: its objects are
 * probed (a file probed for every target already serves it as it is; only
 * files not probed yet get uprobes), its unwind tables are loaded over the
 * rows shared with the targets that map the same objects, and its events
 * join the capture from now on. Refused (nothing changed) for a process
 * that is gone, that maps no allocator of the capture's layer, or with
 * --unwind copy. Returns 0 (also when it is a target already) or a
 * negative errno, with one line said.
 *
 * A target that exits leaves by itself (seen by session__poll): it leaves
 * the targets map, its tables and the rows nobody else maps are given
 * back, and the uprobes no target needs any more are removed.
 */
int session__add_target(struct session *s, pid_t pid);
/*
 * The same leaving for a running target that is not wanted any more (its
 * state becomes TARGET_REMOVED; what it allocated until then stays in the
 * capture, live where it was). -ENOENT if it is not a running target,
 * -EINVAL for a launched command.
 */
int session__remove_target(struct session *s, pid_t pid);
/*
 * Stop recording, remove every probe, read what is left in the ring, and
 * make the models final. What was captured stays in the models whatever
 * went wrong before. Returns 0 or a negative errno.
 */
int session__stop(struct session *s);
void session__free(struct session *s);

/* Monotonic time recording started, ns (0 before session__start). */
uint64_t session__start_ns(struct session *s);
/* The model every target records into: one capture, merged by stack. */
struct model *session__model(struct session *s);

/*
 * The targets, in the order they were added (one launched command: one).
 * A target pointer is valid until the next session__poll, __add_target or
 * __remove_target.
 */
size_t session__ntargets(struct session *s);
struct session_target *session__target(struct session *s, size_t i);

enum target_state {
	TARGET_RUNNING,
	TARGET_EXITED,		/* the process is gone */
	TARGET_EXECED,		/* it exec'd and was not followed: its old heap was closed */
	TARGET_REMOVED,		/* session__remove_target: recorded no more */
};
pid_t session_target__pid(const struct session_target *t);
/* The program running now (after an exec, the new one). */
const char *session_target__comm(const struct session_target *t);
const char *session_target__exe(const struct session_target *t);
enum target_state session_target__state(const struct session_target *t);
/* Execs followed so far (attach mode: the new program is profiled on, same pid). */
unsigned int session_target__execs(const struct session_target *t);

/*
 * Picture the live table into m, the session's model or a window rotated
 * off it (model__rotate): in-use figures as of now (as of the end once
 * stopped).
 */
void session__fill_live(struct session *s, struct model *m);
/* Allocations the caps (max_live, max_sites) left untracked or unsited so far. */
uint64_t session__capped(struct session *s);
/* Events taken from the ring so far, and events lost so far (live). */
uint64_t session__events(struct session *s);
uint64_t session__lost(struct session *s);
/* The exact totals so far, from BPF's counters (live). */
void session__totals(struct session *s, struct totals *t);
/* BPF's counters as totals, whatever the mode: up to date before the ring is read. */
void session__counted(struct session *s, struct totals *t);
/* Sampling interval in force (0: every allocation), estimated recording cost (%). */
uint64_t session__sample_bytes(struct session *s);
double session__overhead_pct(struct session *s);
/* Exit status for rsprobe in launch mode (the command's), -1 otherwise. */
int session__child_status(struct session *s);
/* Wait for a launched command to finish after session__stop. */
void session__wait_child(struct session *s);

#endif
