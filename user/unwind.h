/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_UNWIND_H
#define RP_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Unwind tables for the BPF unwinder: one CFI table per executable object the
 * targets map, in the rows map once however many processes map it, and per
 * process the table of where each object sits, kept current as it maps new
 * objects. An object's rows are given back when no process's table lists it
 * (it was unmapped, its processes left), and reused after a grace period.
 */
struct unwinder;

struct unwinder *unwinder__new(pid_t pid);
void unwinder__free(struct unwinder *u);
void unwinder__set_pid(struct unwinder *u, pid_t pid);
/* Build tables now for these objects (paths to read); returns their rows. */
size_t unwinder__prepare(struct unwinder *u, const char *const *paths, size_t n);
/*
 * Give the unwinder the BPF maps: rows (an mmapable array of capacity rows),
 * the two-slot object table and the slot switch in the BPF program's .bss.
 */
int unwinder__attach_maps(struct unwinder *u, int rows_fd, size_t capacity, int maps_fd,
			  volatile uint32_t *slot);
/*
 * Read the target's mappings, build and load tables for objects not seen yet,
 * and publish the object table. Returns the number of objects published, or
 * a negative errno.
 */
int unwinder__sync(struct unwinder *u);
/*
 * Another process whose stacks the same rows serve (objects it shares with
 * the others are loaded once): its object table goes to the entries
 * 2 * index and 2 * index + 1 of the table map, slot says which is current.
 * Index 0 is the first process's, taken again only once it was removed.
 */
int unwinder__add_pid(struct unwinder *u, pid_t pid, uint32_t index, volatile uint32_t *slot);
/*
 * Its object table is no longer kept current (the process is gone, or left
 * the capture), and the rows of objects no other process maps are given
 * back. Its index may be given to another process from then on.
 */
void unwinder__remove_pid(struct unwinder *u, pid_t pid);
/* The same, at most once per interval: for events that met unknown code. */
void unwinder__maybe_sync(struct unwinder *u, uint64_t min_interval_ns);
size_t unwinder__rows_used(const struct unwinder *u);
struct unwinder_row_stats {
	size_t capacity;	/* rows the map holds */
	size_t used, peak;	/* in use now, at most at once */
	size_t loaded;		/* loaded in all (reused ranges counted again) */
	uint64_t graces;	/* grace periods waited for before reusing rows */
	size_t objects;		/* objects known now */
};
void unwinder__row_stats(const struct unwinder *u, struct unwinder_row_stats *st);
/* The first object whose rows did not fit in the table, or NULL. */
const char *unwinder__full_at(const struct unwinder *u);

#endif
