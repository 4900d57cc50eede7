/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_PUSH_H
#define RP_PUSH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Profiles pushed to Pyroscope's HTTP ingest API (POST URL/ingest,
 * format=pprof) from a thread of their own: the capture only queues them,
 * never waits. The queue is bounded; when it is full the oldest profile is
 * given up. A profile is retried with a growing delay while it is young
 * enough; one given up (queue full, too many failures, refused) is counted.
 */
#define PUSH_QUEUE_MAX 16
#define PUSH_TRIES 4

struct pusher;

/* url: the server's base URL (http://host:port), "/ingest" appended. NULL on error. */
struct pusher *pusher__new(const char *url);
/*
 * Queue a profile (copied) of application name (Pyroscope's "name", labels
 * in braces) covering [from, until] (Unix seconds).
 */
void pusher__enqueue(struct pusher *p, const void *buf, size_t len, const char *name,
		     uint64_t from, uint64_t until);
/* Delivered, and given up, so far. */
void pusher__counts(struct pusher *p, uint64_t *sent, uint64_t *failed);
/*
 * Try what is queued until deadline_ns (CLOCK_MONOTONIC), then stop the
 * thread; what is left is counted as given up.
 */
void pusher__stop(struct pusher *p, uint64_t deadline_ns);
void pusher__free(struct pusher *p);

/* Check a --push URL before anything starts: NULL if fine, or why not. */
const char *push_url_problem(const char *url);

#endif
