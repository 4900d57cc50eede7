/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <stdint.h>

#include "model.h"

struct session;

/*
 * What a running capture knows beyond its model, taken at one time: the
 * figures the live view shows next to the model's sites, and those a
 * metrics endpoint exports as gauges and counters.
 */
struct capture_stats {
	uint64_t now_ns;		/* when taken, CLOCK_MONOTONIC */
	struct totals exact;		/* counted in BPF: exact in every mode */
	uint64_t events;		/* events taken from the ring */
	uint64_t lost_events;		/* events lost (ring full) */
	uint64_t sample_bytes;		/* sampling interval in force, 0: every allocation */
	double overhead_pct;		/* estimated cost of recording, % of the target's CPU */
};

/* The session's figures now. */
void capture_stats__read(struct session *s, struct capture_stats *st);

#endif
