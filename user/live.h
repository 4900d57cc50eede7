/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_LIVE_H
#define RP_LIVE_H

#include <stdint.h>
#include <stdio.h>

struct capture_stats;
struct model;
struct session;
struct live_view;

/*
 * The live view (-i SECS): a top-like table of sites written to out every
 * tick, with totals, the event rate and lost events. On a terminal each
 * table replaces the last; otherwise tables are appended, one per tick.
 */
struct live_view *live_view__new(FILE *out, uint64_t interval_ns, int top);
/* One table of m's sites and the capture's figures st, as of st->now_ns. */
void live_view__draw(struct live_view *v, const struct model *m, const struct capture_stats *st);
/* One draw with the session's figures (ctx is the live view): called between polls. */
void live_view__tick(struct session *s, void *ctx);
void live_view__free(struct live_view *v);

#endif
