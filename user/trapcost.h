/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_TRAPCOST_H
#define RP_TRAPCOST_H

#include <stdbool.h>

/*
 * What the uprobe trap itself costs on this machine and kernel, measured
 * once at start-up: a function of rsprobe's own is called in a loop bare,
 * then under a uprobe, then under a uprobe and a uretprobe (perf events of
 * the kernel's uprobe PMU, no BPF program). Every allocator call of a
 * target pays the entry trap; allocations and reallocs pay the return trap
 * too. This is the cost rsprobe cannot avoid, the reference its budgets are
 * stated against.
 */
struct trapcost {
	double entry_ns;	/* a uprobe hit */
	double ret_ns;		/* a uretprobe hit, on top of the entry */
	bool measured;		/* false: the figures are a conservative guess */
};

/*
 * Start measuring, in the background, once per process (about 10 ms of
 * calls; removing the probes afterwards takes longer, off the caller's path).
 */
void trapcost__start(void);
/* The figures, once measured: false until then. Without a uprobe PMU, a guess. */
bool trapcost__get(struct trapcost *tc);
/* Start if needed and wait for the figures. */
void trapcost__measure(struct trapcost *tc);

#endif
