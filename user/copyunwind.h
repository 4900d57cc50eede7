/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_COPYUNWIND_H
#define RP_COPYUNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rsprobe.h"

/*
 * --unwind copy: stacks unwound in userspace with libunwind's remote API,
 * over the registers and stack bytes BPF copied at the allocator's entry
 * (RP_EV_STACK) and the target's own .eh_frame, read from its files.
 */
struct copy_unwinder;

struct copy_unwinder *copyunw__new(pid_t pid, unsigned int max_frames);
void copyunw__free(struct copy_unwinder *cu);
/* Learn the objects the target maps now (call while it is alive). */
void copyunw__refresh(struct copy_unwinder *cu);
/* A stack copy: unwind it and keep the frames for the thread's next event. */
void copyunw__stack(struct copy_unwinder *cu, const struct rp_stack_copy *c, size_t len);
/*
 * An event with RP_F_COPIED: the same event with the frames of its thread's
 * last copy (none if it was lost), in a buffer valid until the next call.
 */
/* Stacks unwound so far, and the time that took. */
void copyunw__cost(const struct copy_unwinder *cu, uint64_t *stacks, uint64_t *ns);
const struct rp_event *copyunw__fill(struct copy_unwinder *cu, const struct rp_event *e,
				     size_t *len);

#endif
