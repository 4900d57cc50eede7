/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_OUTCOME_H
#define RP_OUTCOME_H

#include "stacks.h"

enum outcome {
	OUTCOME_SAME,	/* dropped by the function that allocated it (borrowed) */
	OUTCOME_CALLEE,	/* dropped in a function it called (moved into a callee) */
	OUTCOME_CALLER,	/* dropped by one of its callers (returned out) */
	OUTCOME_OTHER,	/* stored and dropped elsewhere, or another thread */
	OUTCOME_MAX,
};

const char *outcome_name(enum outcome o);
/* Ownership outcome of an allocation born at stack b and freed at stack d. */
enum outcome classify_outcome(const struct stack *b, const struct stack *d);

#endif
