/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_PROBES_H
#define RP_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfobj.h"
#include "layer.h"
#include "rsprobe.h"

/*
 * The BPF object (the only owner of its skeleton): programs loaded for one
 * layer, uprobes attached, the ring buffer, the counters, and the switches
 * userspace turns while the capture runs.
 */
struct probes;
struct unwinder;

struct probes_config {
	enum layer layer;
	bool use_ga;		/* rust layer: the #[global_allocator]'s methods */
	bool launched;		/* rsprobe is the target's parent */
	bool follow_forks;	/* -f: children are targets, held at each exec */
	bool entry_stop;	/* launch: stop the program at its entry point */
	bool dwarf;		/* unwind with CFI tables in BPF */
	bool copy;		/* --unwind copy: stacks copied for userspace */
	bool empty_programs;
	bool all;		/* never sampled */
	unsigned int max_frames;	/* 0: RP_DEFAULT_FRAMES */
	uint64_t ring_bytes;
	size_t rows;		/* unwind rows to make room for (dwarf) */
	unsigned int max_targets;	/* with object tables of their own, 1..RP_MAX_TARGETS */
	uint64_t sample_bytes;	/* the interval to start with */
	/* The objects to probe (lower layers load only the programs they need). */
	const struct elf_object *const *objs;
	size_t nobjs;
};

/* Called for each record read from the ring; a negative return ends the read. */
typedef int (*probes_event_fn)(void *ctx, void *data, size_t len);

/* bpf_loop exists (Linux 5.17): DWARF unwinding in BPF is possible. */
bool probes__have_bpf_loop(void);
/* Open, configure and load the programs. NULL (one line said) on failure. */
struct probes *probes__load(const struct probes_config *c, probes_event_fn fn, void *ctx);
void probes__free(struct probes *p);

/*
 * Record this process (its events are kept from now on); slot: its object
 * tables (< max_targets), or RP_MAX_TARGETS for none (frame pointers).
 */
int probes__add_target(struct probes *p, pid_t tgid, uint32_t slot, bool recording);
void probes__remove_target(struct probes *p, pid_t tgid);
/* Whether the process is recorded now (BPF stops at its exec); false if not a target. */
bool probes__target_recording(struct probes *p, pid_t tgid);
int probes__set_target_recording(struct probes *p, pid_t tgid, bool on);

/*
 * The layer's uprobes on one object (path: where to attach through), for
 * the process pid, or for every process that maps the file (pid -1; BPF
 * keeps the targets' events). Once per file and pid: again is a no-op.
 */
int probes__attach_object(struct probes *p, pid_t pid, const char *path,
			  const struct elf_object *o);
/*
 * Whether the uprobes on the file (its path as mapped, its inode) for pid
 * (-1: every process) are still needed: a target maps it.
 */
typedef bool (*probes_needed_fn)(void *ctx, pid_t pid, const char *path, ino_t ino);
/* Detach the uprobes nobody needs any more; returns how many files lost theirs. */
size_t probes__prune(struct probes *p, probes_needed_fn needed, void *ctx);
/* The Rust shims' uprobes on one object (a library loaded later). */
int probes__attach_shims(struct probes *p, pid_t pid, const char *path,
			 const struct elf_object *o);
/* The dynamic loader's _dl_debug_state at off in path. */
int probes__attach_dl_hook(struct probes *p, pid_t pid, const char *path, uint64_t off);
/* Attached mode: notice an execve of the target. Not fatal (false, said). */
bool probes__attach_exec_hook(struct probes *p);
/* Launch mode: notice forks of a target (with -f, its children become targets). */
bool probes__attach_fork_hook(struct probes *p);
/*
 * Launch mode: stop the program at off in path (its entry point), and at
 * the loader's entry (ld_path, ld_off) when ld_path is given.
 */
int probes__arm_entry(struct probes *p, pid_t pid, const char *path, uint64_t off,
		      const char *ld_path, uint64_t ld_off, bool *ld_armed);
/* The entry stops removed (once reached). */
void probes__disarm_entry(struct probes *p);
bool probes__entry_armed(const struct probes *p);
/* Every uprobe and hook removed (entry stops too). */
void probes__detach_all(struct probes *p);

/* Give the unwinder the rows map and the object tables; the first target's is slot 0. */
int probes__attach_unwinder(struct probes *p, struct unwinder *u, size_t rows);
/* Where the target of this slot says which of its two object tables is current. */
volatile uint32_t *probes__maps_slot(struct probes *p, uint32_t slot);
uint32_t probes__max_frames(const struct probes *p);
/* The ring's size, and the stack bytes each --unwind copy event carries. */
uint64_t probes__ring_size(const struct probes *p);
uint32_t probes__copy_bytes(const struct probes *p);

/* Read the ring: poll waits up to timeout_ms; consume reads what is there. */
int probes__poll(struct probes *p, int timeout_ms);
int probes__consume(struct probes *p);
/* BPF's counters, summed over CPUs (allocations net of failed ones). */
void probes__counters(struct probes *p, uint64_t sum[RP_CNT_MAX]);

/* The switches. */
bool probes__recording(const struct probes *p);
void probes__set_recording(struct probes *p, bool on);
uint64_t probes__sample_bytes(const struct probes *p);
void probes__set_sample_bytes(struct probes *p, uint64_t n);
/* Launch mode: SIGSTOPs the programs sent, and whether the entry stop is armed. */
uint32_t probes__stops_sent(const struct probes *p);
bool probes__stop_at_entry(const struct probes *p);
void probes__set_stop_at_entry(struct probes *p, bool on);
void probes__set_stop_on_dlopen(struct probes *p, bool on);
/* The one process whose stops rsprobe waits for (the launched program). */
void probes__set_stop_tgid(struct probes *p, pid_t tgid);

#endif
