/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_PROCMATCH_H
#define RP_PROCMATCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "hashmap.h"

/*
 * Which processes the daemon profiles: given PIDs, executables by name or
 * path, or every Rust program. The daemon scans /proc; a process is judged
 * once per image: by its PID, start time and executable file, so that an
 * exec (same PID, new image) or a reused PID is judged again.
 */
struct procmatch {
	const pid_t *pids;
	int npids;
	const char *const *exes;	/* NAME (basename or comm) or PATH */
	int nexes;
	bool all_rust;
	struct u64map seen;	/* pid -> identity of the image judged */
	struct u64map gen;	/* pid -> scan generation it was last seen in */
	struct u64map rust;	/* (dev, inode, size, mtime) hash -> 1 Rust, 2 not */
	unsigned long scans;
	char *self_exe;
};

void procmatch__init(struct procmatch *pm);
void procmatch__free(struct procmatch *pm);
/*
 * One scan of /proc. full: judge every process again if its image changed
 * (an exec); otherwise only processes not seen before. For each process
 * that matches and whose image was not reported yet, calls found(pid);
 * busy(pid) true means the daemon still profiles that PID (its old image):
 * it is judged again at a later scan.
 */
void procmatch__scan(struct procmatch *pm, bool full, bool (*busy)(pid_t pid, void *ctx),
		     void (*found)(pid_t pid, void *ctx), void *ctx);
/* The process's image is no longer profiled: judge it again at the next scan. */
void procmatch__forget(struct procmatch *pm, pid_t pid);
/* Does the process match (exposed for tests)? */
bool procmatch__matches(struct procmatch *pm, pid_t pid);

#endif
