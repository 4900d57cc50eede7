// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon's work for one target, in a process of its own: one capture
 * session, with every tick a metrics snapshot for the daemon, and at each
 * export interval a pprof profile of the interval written to the export
 * directory and queued for the push thread. The process dies with the
 * daemon (PR_SET_PDEATHSIG), and its probes with it.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "export.h"
#include "push.h"
#include "report.h"
#include "session.h"
#include "util.h"

struct target_ctx {
	const struct daemon_opts *o;
	char *snap_path;
	struct exporter *exp;
	struct pusher *push;
	uint64_t next_export_ns;
	uint64_t interval_start_real;	/* Unix seconds */
	char *push_name;
	uint64_t push_sent, push_failed;	/* once the pusher is gone */
};

static uint64_t real_secs(void)
{
	return (uint64_t)time(NULL);
}

static void write_snapshot(struct session *s, struct target_ctx *c)
{
	struct model *m = session__model(s);
	struct metrics_extra x = { .duty_cycle = 1 };
	struct metrics_snap snap;
	uint64_t interval = session__sample_bytes(s);
	struct totals t;

	session__totals(s, &t);
	x.lost_events = session__lost(s);
	/*
	 * The chance an allocation of the mean size is sampled: the share
	 * recorded, as the interval in force sees it.
	 */
	x.sampled_fraction = 1;
	if (interval && t.allocs) {
		double mean = (double)t.bytes_allocated / (double)t.allocs;

		x.sampled_fraction = -expm1(-mean / (double)interval);
	}
	if (c->push)
		pusher__counts(c->push, &c->push_sent, &c->push_failed);
	x.push_sent = c->push_sent;
	x.push_failed = c->push_failed;
	if (metrics_snapshot(&snap, m, &t, &x, c->o->metrics_top))
		return;
	if (snap_write(c->snap_path, &snap))
		debug("cannot write %s: %s", c->snap_path, strerror(errno));
	metrics_snap_free(&snap);
}

/*
 * One interval's profile, of the window that ends now (or at the end of the
 * capture): written to the export directory and queued for the push.
 */
static void export_interval(struct session *s, struct target_ctx *c)
{
	struct model *m = session__model(s), *w;
	struct report_opts ro = { .top = 15 };
	uint64_t now = real_secs();
	char *buf = NULL, *path = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	w = model__rotate(m, m->end_ns ? m->end_ns : mono_ns());
	if (!w)
		return;
	/* In use as of the window's end, as in a heap profile. */
	session__fill_live(s, w);
	w->mode.sample_bytes = session__sample_bytes(s);
	f = open_memstream(&buf, &len);
	err = f ? report_pprof(f, w, &ro) : -errno;
	model__free(w);
	if (!f || fclose(f) || err) {
		warn("cannot render the interval profile: %s", strerror(err ? -err : errno));
		free(buf);
		return;
	}
	if (c->exp) {
		err = exporter__write(c->exp, buf, len, &path);
		if (err)
			warn("cannot write a profile to %s: %s", c->o->export_dir, strerror(-err));
		else
			debug("wrote %s", path);
		free(path);
	}
	if (c->push)
		pusher__enqueue(c->push, buf, len, c->push_name, c->interval_start_real,
				MAX(now, c->interval_start_real + 1));
	c->interval_start_real = now;
	free(buf);
}

static struct session *current;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
	session__interrupt(current);
}

int daemon_target_run(const struct daemon_opts *o)
{
	struct session_opts so = {
		.pids = &o->child_pid,
		.npids = 1,
		.ring_bytes = o->ring_bytes,
		.all = o->all,
		.budget_pct = o->max_overhead,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct target_ctx c = { .o = o };
	uint64_t next_snap;
	struct session *s;
	struct model *m;
	int err, rc = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);	/* the daemon reopens the log */
	signal(SIGPIPE, SIG_IGN);
	s = session__new(&so);
	if (!s)
		return 1;
	current = s;
	m = session__model(s);
	c.snap_path = xasprintf("%s/%d.snap", o->state_dir, (int)o->child_pid);
	if (o->export_dir)
		c.exp = exporter__new(o->export_dir, o->export_keep, m->target.comm, o->child_pid);
	if (o->push_url) {
		c.push = pusher__new(o->push_url);
		if (!c.push)
			warn("cannot start pushing to %s: %s", o->push_url, strerror(errno));
		c.push_name = xasprintf("rsprobe.alloc{comm=%s,pid=%d}", m->target.comm,
					(int)o->child_pid);
	}
	err = stopping ? -EINTR : session__start(s);
	/* Interval profiles: a window of the model, rotated at each export. */
	if (!err && (c.exp || c.push))
		model__window_begin(m, mono_ns());
	c.next_export_ns = mono_ns() + o->export_interval_ns;
	c.interval_start_real = real_secs();
	next_snap = mono_ns();
	/* Until the target exits or execs (a new image is a new target), or SIGTERM. */
	while (!err && !stopping) {
		uint64_t now = mono_ns();

		if (now >= next_snap) {
			write_snapshot(s, &c);
			next_snap = now + DAEMON_SNAP_NS;
		}
		if ((c.exp || c.push) && now >= c.next_export_ns) {
			export_interval(s, &c);
			c.next_export_ns += o->export_interval_ns;
		}
		rc = session__poll(s, (int)(DAEMON_SNAP_NS / 1000000));
		if (rc < 0 || rc == SESSION_DONE ||
		    (session__ntargets(s) &&
		     session_target__state(session__target(s, 0)) != TARGET_RUNNING))
			break;
	}
	if (!err)
		err = session__stop(s);
	if (rc < 0 && !err)
		err = rc;
	/* The final figures, then the rest of the last interval. */
	write_snapshot(s, &c);
	if (c.exp || c.push)
		export_interval(s, &c);
	/* Undelivered profiles: a few seconds to get them out, then counted as lost. */
	if (c.push) {
		pusher__stop(c.push, mono_ns() + 5000000000ULL);
		pusher__counts(c.push, &c.push_sent, &c.push_failed);
		pusher__free(c.push);
		c.push = NULL;
		write_snapshot(s, &c);
	}
	info("detached; %llu allocations, %llu frees seen", (unsigned long long)m->totals.allocs,
	     (unsigned long long)m->totals.frees);
	current = NULL;
	session__free(s);
	exporter__free(c.exp);
	free(c.snap_path);
	free(c.push_name);
	return err ? 1 : 0;
}
