// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A target's metrics snapshot as a file: written by the process that
 * profiles the target (to a temporary name, renamed into place), read by
 * the daemon when it serves /metrics. A target's last figures outlive its
 * profiling process, and a slow scrape never holds up a capture.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "util.h"

#define SNAP_MAGIC 0x53505352u	/* "RSPS" */
#define SNAP_VERSION 1
#define SNAP_MAX_ROWS 100000
#define SNAP_MAX_NAME 65536

static void put(FILE *f, const void *p, size_t n)
{
	fwrite(p, 1, n, f);
}

static void put_u64(FILE *f, uint64_t v)
{
	put(f, &v, sizeof(v));
}

int snap_write(const char *path, const struct metrics_snap *s)
{
	char *tmp = xasprintf("%s.tmp", path);
	uint32_t hdr[3] = { SNAP_MAGIC, SNAP_VERSION, (uint32_t)s->nrows };
	FILE *f = fopen(tmp, "we");
	size_t i;
	int err = 0, k;

	if (!f) {
		err = -errno;
		free(tmp);
		return err;
	}
	put(f, hdr, sizeof(hdr));
	put_u64(f, (uint64_t)s->pid);
	put(f, s->comm, sizeof(s->comm));
	put_u64(f, s->live_bytes);
	put_u64(f, s->live_allocs);
	put(f, &s->x, sizeof(s->x));
	for (i = 0; i < s->nrows; i++) {
		const struct metrics_row *r = &s->rows[i];
		uint32_t n = (uint32_t)MIN(strlen(r->function), SNAP_MAX_NAME);

		put(f, &n, sizeof(n));
		put(f, r->function, n);
		put_u64(f, r->allocs);
		put_u64(f, r->bytes);
		put_u64(f, r->frees);
		for (k = 0; k < METRICS_NLE; k++)
			put_u64(f, r->le[k]);
		put_u64(f, r->count);
		put_u64(f, r->sum_ns);
		for (k = 0; k < OUTCOME_MAX; k++)
			put_u64(f, r->outcomes[k]);
		put_u64(f, r->cross_thread);
	}
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

static bool get(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n;
}

static bool get_u64(FILE *f, uint64_t *v)
{
	return get(f, v, sizeof(*v));
}

int snap_read(const char *path, struct metrics_snap *s)
{
	FILE *f = fopen(path, "re");
	uint32_t hdr[3];
	uint64_t pid = 0;
	size_t i;
	bool ok;
	int k;

	memset(s, 0, sizeof(*s));
	if (!f)
		return -errno;
	ok = get(f, hdr, sizeof(hdr)) && hdr[0] == SNAP_MAGIC && hdr[1] == SNAP_VERSION &&
	     hdr[2] <= SNAP_MAX_ROWS && get_u64(f, &pid) && get(f, s->comm, sizeof(s->comm)) &&
	     get_u64(f, &s->live_bytes) && get_u64(f, &s->live_allocs) && get(f, &s->x, sizeof(s->x));
	s->pid = (pid_t)pid;
	s->comm[sizeof(s->comm) - 1] = 0;
	if (ok)
		s->rows = xcalloc(hdr[2] + 1, sizeof(*s->rows));
	for (i = 0; ok && i < hdr[2]; i++) {
		struct metrics_row *r = &s->rows[i];
		uint32_t n;

		ok = get(f, &n, sizeof(n)) && n <= SNAP_MAX_NAME;
		if (!ok)
			break;
		r->function = xmalloc(n + 1);
		s->nrows++;
		ok = get(f, r->function, n);
		r->function[ok ? n : 0] = 0;
		ok = ok && get_u64(f, &r->allocs) && get_u64(f, &r->bytes) && get_u64(f, &r->frees);
		for (k = 0; ok && k < METRICS_NLE; k++)
			ok = get_u64(f, &r->le[k]);
		ok = ok && get_u64(f, &r->count) && get_u64(f, &r->sum_ns);
		for (k = 0; ok && k < OUTCOME_MAX; k++)
			ok = get_u64(f, &r->outcomes[k]);
		ok = ok && get_u64(f, &r->cross_thread);
	}
	fclose(f);
	if (!ok) {
		metrics_snap_free(s);
		return -EINVAL;
	}
	return 0;
}
