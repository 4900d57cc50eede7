// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Ownership outcomes from a birth stack and a drop stack.
 *
 * Both stacks are read root first, down to their attributed frames. They
 * describe the same chain of calls where every outer frame returns to the
 * same call site; at the deepest common level the frames only need to be in
 * the same function (birth and drop happen at different points of it). Then
 * the drop is in the allocating function itself (same depth), below it
 * (callee: the value moved in) or above it (caller: the value was returned).
 */
#include "outcome.h"

static const char *const names[OUTCOME_MAX] = {
	[OUTCOME_SAME] = "same",
	[OUTCOME_CALLEE] = "callee",
	[OUTCOME_CALLER] = "caller",
	[OUTCOME_OTHER] = "other",
};

const char *outcome_name(enum outcome o)
{
	return names[o];
}

enum outcome classify_outcome(const struct stack *b, const struct stack *d)
{
	int lb, ld, common, i;

	if (b->attr < 0 || d->attr < 0 || b->truncated || d->truncated)
		return OUTCOME_OTHER;
	lb = (int)b->n - b->attr;	/* levels from the root to attr, inclusive */
	ld = (int)d->n - d->attr;
	common = lb < ld ? lb : ld;
	for (i = 0; i < common; i++) {
		const struct frame_info *fb = b->fr[b->n - 1 - i];
		const struct frame_info *fd = d->fr[d->n - 1 - i];

		if (i < common - 1 ? fb->pc != fd->pc : fb->func_id != fd->func_id)
			return OUTCOME_OTHER;
	}
	if (lb == ld)
		return OUTCOME_SAME;
	return ld > lb ? OUTCOME_CALLEE : OUTCOME_CALLER;
}
