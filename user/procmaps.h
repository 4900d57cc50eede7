/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_PROCMAPS_H
#define RP_PROCMAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct mapping {
	uint64_t start, end;	/* [start, end) in the target's address space */
	uint64_t offset;	/* file offset of start */
	uint64_t inode;
	dev_t dev;		/* device of the mapped file */
	bool exec;
	char *path;		/* as the target sees it; NULL for anonymous */
};

struct procmaps {
	struct mapping *maps;	/* sorted by start */
	size_t n;
};

/* Read /proc/PID/maps. Returns 0 or a negative errno. */
int procmaps__read(pid_t pid, struct procmaps *pm);
/* The same from an open maps file (tests, fuzzing). */
int procmaps__parse(FILE *f, struct procmaps *pm);
void procmaps__free(struct procmaps *pm);
const struct mapping *procmaps__find(const struct procmaps *pm, uint64_t addr);
/*
 * A process's mappings as last read, shared by the modules that read them
 * (the symbolizer, the unwinder, discovery): /proc/PID/maps is read again
 * only when the last read of it is older than max_age_ns (0: read now), so
 * that the readers of one rescan read it once. A view stays as it was read
 * until procmaps__view_put(), whatever is read later. NULL with errno set
 * when the file cannot be read or is empty (the process exited).
 * Views of PROCMAPS_VIEWS processes at most are kept when nobody holds them.
 */
#define PROCMAPS_VIEWS 64
const struct procmaps *procmaps__view(pid_t pid, uint64_t max_age_ns);
void procmaps__view_put(const struct procmaps *pm);
/* When a view was read (CLOCK_MONOTONIC). */
uint64_t procmaps__view_read_ns(const struct procmaps *pm);
/* Reads of /proc/PID/maps made for views, for tests and -v. */
uint64_t procmaps__view_reads(void);

/*
 * /proc/PID/stat read into buf: a pointer to its fields after the command
 * name (which may hold anything, ')' included), i.e. to " STATE PPID ...",
 * field 3 on; NULL when the process is gone or the file is malformed.
 */
const char *proc_stat_fields(pid_t pid, char *buf, size_t len);

/* Path to open a file the target maps, through its root (containers). */
char *proc_path(pid_t pid, const char *path);
/* The mapping of the file at path, an executable one if there is one. */
const struct mapping *procmaps__by_path(const struct procmaps *pm, const char *path);
/*
 * Where to read the object m maps: /proc/PID/map_files/START-END, the very
 * file mapped (deleted, or replaced at its path, since) when its device and
 * inode are the mapping's; else proc_path() of its path. Caller frees.
 */
char *proc_map_path(pid_t pid, const struct mapping *m);

#endif
