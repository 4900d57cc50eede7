/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_LIVE_H
#define RP_LIVE_H

#include <stdint.h>
#include <stdio.h>

struct session;
struct live_view;

/*
 * The live view (-i SECS): a top-like table of sites written to out every
 * tick, with totals, the event rate and lost events. On a terminal each
 * table replaces the last; otherwise tables are appended, one per tick.
 */
struct live_view *live_view__new(FILE *out, uint64_t interval_ns, int top);
/* The session's on_tick hook; ctx is the live view. */
void live_view__tick(struct session *s, void *ctx);
void live_view__free(struct live_view *v);

#endif
