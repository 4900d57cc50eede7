// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* A running capture's figures, read in one place (stats.h). */
#include <string.h>

#include "session.h"
#include "stats.h"
#include "util.h"

void capture_stats__read(struct session *s, struct capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->now_ns = mono_ns();
	session__totals(s, &st->exact);
	st->events = session__events(s);
	st->lost_events = session__lost(s);
	st->sample_bytes = session__sample_bytes(s);
	st->overhead_pct = session__overhead_pct(s);
}
