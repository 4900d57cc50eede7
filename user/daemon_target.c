// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon's work for one target, in a process of its own: a capture
 * session per probe window (one, attached all along, while the traps fit
 * the budget), with every tick a metrics snapshot for the daemon, and at
 * each export interval a pprof profile of the interval written to the
 * export directory and queued for the push thread. The process dies with
 * the daemon (PR_SET_PDEATHSIG), and its probes with it.
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
#include "sampler.h"
#include "session.h"
#include "trapcost.h"
#include "util.h"

/*
 * The overhead budget covers the traps too: every allocator call traps into
 * the kernel while the probes are attached, whatever is recorded. While
 * attached, the governor compares the traps' cost (measured at start-up,
 * trapcost.h, times the calls the BPF counters saw) with the target's own
 * CPU time (of a tenth of one CPU at least, as the sampler does); beyond the
 * budget the probes are attached in windows. The windows are paid for as
 * credit: the target's CPU time (again of a tenth of a CPU at least) times
 * the budget. A window's traps are owed once it closes; the next one opens
 * once the credit covers that debt and the next window's expected cost.
 *
 * The first window is a measurement: it closes as soon as GOV_MIN_CALLS
 * calls (or GOV_PERIOD_NS) show the traps beyond the budget, so a busy
 * target pays milliseconds of traps, not a window, before the first off
 * time. A target whose calls fit stays attached all along.
 */
#define GOV_FIRST_NS 5000000ULL	/* the first look, at the earliest */
#define GOV_MIN_CALLS 2000	/* ... once this many calls tell the rate */
#define GOV_PERIOD_NS 1000000000ULL
#define GOV_POLL_FIRST_MS 2	/* the session polled this often until the first look */
#define GOV_POLL_WINDOW_MS 10	/* ... and in a window, to see its credit spent */
/*
 * Nor is the ring read in the window's first GOV_QUIET_NS before that look:
 * the first events cost the daemon milliseconds each (objects, symbols),
 * all the while the target traps; BPF's counters tell the rate without
 * them. What they leave in the ring is read after the look, or as the
 * probes go.
 */
#define GOV_QUIET_NS 20000000ULL
#define DUTY_MIN 0.001
#define WINDOW_MIN_NS 200000000ULL	/* a window, the first one aside, lasts this long at least */
#define OFF_MAX_NS (600 * 1000000000ULL)
/* No window opens with less credit than this (some 2,000 calls' traps). */
#define WINDOW_MIN_COST_NS 3e6

struct target_ctx {
	const struct daemon_opts *o;
	char *snap_path;
	struct exporter *exp;
	struct pusher *push;
	uint64_t next_export_ns;
	uint64_t interval_start_real;	/* Unix seconds */
	char *push_name;
	uint64_t push_sent, push_failed;	/* once the pusher is gone */
	/* Duty cycling: figures of the windows closed so far, and the time attached. */
	struct metrics_snap acc;
	bool have_acc;
	uint64_t censored;
	uint64_t started_ns, attached_ns, window_start_ns;
	double duty;
	/* The governor's last look. */
	struct sampler cpu;	/* its reader of the target's CPU time */
	uint64_t gov_ns, gov_cpu, gov_calls, gov_returns;
	bool gov_first;		/* the next look is the window's first */
	uint64_t last_on_ns;	/* how long the last window was on */
	unsigned int nwindows;	/* windows closed */
	/* The budget's account, in ns of the target's CPU: credit minus traps. */
	double credit_ns;
	uint64_t win_cpu;	/* the target's CPU time as the window opened */
	uint64_t win_stop_ns;	/* when its probes began to go */
	double win_budget_ns;	/* the credit it opened with: its traps may cost that */
	double trap_rate;	/* traps' ns per ns attached, in the last window */
};

static double duty_now(const struct target_ctx *c, bool attached)
{
	uint64_t now = mono_ns(), on = c->attached_ns + (attached ? now - c->window_start_ns : 0);

	return now > c->started_ns ? MIN(1.0, (double)on / (double)(now - c->started_ns)) : 1;
}

static uint64_t real_secs(void)
{
	return (uint64_t)time(NULL);
}

static void write_snapshot(struct session *s, struct target_ctx *c)
{
	struct metrics_extra x = { .duty_cycle = duty_now(c, s != NULL) };
	struct metrics_snap snap = {};
	uint64_t interval;
	struct totals t;

	x.sampled_fraction = 1;
	if (c->push)
		pusher__counts(c->push, &c->push_sent, &c->push_failed);
	x.push_sent = c->push_sent;
	x.push_failed = c->push_failed;
	x.censored = c->censored;
	if (s) {
		session__totals(s, &t);
		x.lost_events = session__lost(s);
		/* BPF's table of sampled pointers, and the tracker's caps. */
		x.dropped_by_cap = session__model(s)->totals.sampled_full + session__capped(s);
		/*
		 * The chance an allocation of the mean size is sampled: the share
		 * recorded, as the interval in force sees it.
		 */
		interval = session__sample_bytes(s);
		if (interval && t.allocs) {
			double mean = (double)t.bytes_allocated / (double)t.allocs;

			x.sampled_fraction = -expm1(-mean / (double)interval);
		}
		if (metrics_snapshot(&snap, session__model(s), &t, &x, c->o->metrics_top))
			return;
		if (c->have_acc)
			metrics_snap_merge(&snap, &c->acc, c->o->metrics_top);
	} else {
		/* Detached: what the windows saw, nothing live known. */
		if (!c->have_acc)
			return;
		metrics_snap_copy(&snap, &c->acc);
		snap.x = x;
		/* As metrics_snapshot() does: the censored in [all]'s +Inf bucket. */
		if (snap.nrows)
			snap.rows[snap.nrows - 1].count += c->censored;
		snap.x.lost_events = c->acc.x.lost_events;
		snap.x.dropped_by_cap = c->acc.x.dropped_by_cap;
	}
	if (snap_write(c->snap_path, &snap))
		debug("cannot write %s: %s", c->snap_path, strerror(errno));
	metrics_snap_free(&snap);
}

/* The target's CPU time since the last reading, as the budget counts it. */
static double credit_base(struct target_ctx *c, uint64_t *cpu_prev, uint64_t wall)
{
	uint64_t cpu = sampler__target_cpu_ns(&c->cpu);
	double base = (double)(cpu - MIN(cpu, *cpu_prev));

	*cpu_prev = cpu;
	return MAX(base, (double)wall * SAMPLER_CPU_FLOOR);
}

/* A window's traps, owed; its share of the target's own CPU time, credited. */
static void charge_window(struct target_ctx *c, const struct totals *t)
{
	uint64_t cpu = sampler__target_cpu_ns(&c->cpu);
	uint64_t wall = MAX(c->win_stop_ns - MIN(c->win_stop_ns, c->window_start_ns), 1);
	double trap, base;
	struct trapcost tc;

	trapcost__measure(&tc);
	trap = (double)(t->allocs + t->frees + t->reallocs) * tc.entry_ns +
	       (double)(t->allocs + t->reallocs) * tc.ret_ns;
	base = MAX((double)(cpu - MIN(cpu, c->win_cpu)) - trap, (double)wall * SAMPLER_CPU_FLOOR);
	c->credit_ns += base * c->o->max_overhead / 100 - trap;
	c->trap_rate = trap / (double)wall;
}

/* A window closed: its figures join those of the earlier ones. */
static void close_window(struct session *s, struct target_ctx *c, bool censor)
{
	struct model *m = session__model(s);
	struct metrics_extra x = { .lost_events = session__lost(s),
				   .dropped_by_cap = m->totals.sampled_full + session__capped(s) };
	struct metrics_snap snap;
	struct totals t;

	session__totals(s, &t);
	/* Still live when the probes went: their lifetimes are longer than the window. */
	if (censor)
		c->censored += m->totals.live_allocs;
	c->last_on_ns = mono_ns() - c->window_start_ns;
	c->attached_ns += c->last_on_ns;
	c->nwindows++;
	if (!c->o->all)
		charge_window(c, &t);
	if (metrics_snapshot(&snap, m, &t, &x, c->o->metrics_top))
		return;
	if (c->have_acc) {
		metrics_snap_merge(&c->acc, &snap, c->o->metrics_top);
		/* Live as of the last window's end. */
		c->acc.live_allocs = snap.live_allocs;
		c->acc.live_bytes = snap.live_bytes;
		metrics_snap_free(&snap);
	} else {
		c->acc = snap;
		c->have_acc = true;
	}
	c->acc.pid = c->o->child_pid;
}

/* What the window's traps have cost the target so far. */
static double window_traps(struct session *s)
{
	struct trapcost tc;
	struct totals t;

	if (!trapcost__get(&tc))
		return 0;
	session__counted(s, &t);
	return (double)(t.allocs + t.frees + t.reallocs) * tc.entry_ns +
	       (double)(t.allocs + t.reallocs) * tc.ret_ns;
}

/*
 * The governor, once a period while attached: what the traps cost the
 * target, against the budget; the duty cycle that keeps them within it.
 */
static void govern(struct session *s, struct target_ctx *c)
{
	uint64_t now = mono_ns(), cpu, calls, returns;
	double trap, base, share, wall;
	struct trapcost tc;
	struct totals t;

	if (c->o->all)
		return;
	session__counted(s, &t);
	calls = t.allocs + t.frees + t.reallocs;
	returns = t.allocs + t.reallocs;
	/* The window's first look as soon as the calls tell the rate. */
	if (now - c->gov_ns < GOV_PERIOD_NS &&
	    (!c->gov_first || now - c->gov_ns < GOV_FIRST_NS || calls - c->gov_calls < GOV_MIN_CALLS))
		return;
	c->gov_first = !c->gov_ns;
	cpu = sampler__target_cpu_ns(&c->cpu);
	wall = (double)(now - c->gov_ns);
	if (c->gov_ns && calls >= c->gov_calls && trapcost__get(&tc)) {
		trap = (double)(calls - c->gov_calls) * tc.entry_ns +
		       (double)(returns - c->gov_returns) * tc.ret_ns;
		base = MAX((double)(cpu - c->gov_cpu) - trap, wall * SAMPLER_CPU_FLOOR);
		share = base > 0 ? trap / base : 0;
		c->duty = share * 100 > c->o->max_overhead ?
			  MAX(DUTY_MIN, c->o->max_overhead / 100 / share) : 1;
		debug("traps: %.2f%% of the target's CPU (%llu calls in %.1f ms); duty cycle %.3g",
		      share * 100, (unsigned long long)(calls - c->gov_calls), wall / 1e6, c->duty);
	}
	c->gov_ns = now;
	c->gov_cpu = cpu;
	c->gov_calls = calls;
	c->gov_returns = returns;
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

static bool target_alive(pid_t pid)
{
	return !(kill(pid, 0) && errno == ESRCH);
}

/*
 * One window: a session attached until the target is gone, SIGTERM, or (duty
 * cycling) the window's time is up. Returns 1 if the target is gone, 0 if
 * the window just closed, or a negative errno.
 */
static int window(struct target_ctx *c, const struct session_opts *so)
{
	uint64_t next_snap, on_ns;
	struct session *s;
	struct model *m;
	int err, rc = 0, gone = 0;

	s = session__new(so);
	if (!s)
		return target_alive(c->o->child_pid) ? -EINVAL : 1;
	current = s;
	m = session__model(s);
	if (!c->exp && c->o->export_dir)
		c->exp = exporter__new(c->o->export_dir, c->o->export_keep, m->target.comm,
				       c->o->child_pid);
	if (c->o->push_url && !c->push_name) {
		c->push = pusher__new(c->o->push_url);
		if (!c->push)
			warn("cannot start pushing to %s: %s", c->o->push_url, strerror(errno));
		c->push_name = xasprintf("rsprobe.alloc{comm=%s,pid=%d}", m->target.comm,
					 (int)c->o->child_pid);
	}
	/* The governor's first look needs the trap cost: measured before attaching. */
	if (!c->o->all && !c->nwindows) {
		struct trapcost tc;

		trapcost__measure(&tc);
	}
	err = stopping ? -EINTR : session__start(s);
	c->window_start_ns = mono_ns();
	/* The duty cycle counts from the first attach, not from setting up. */
	if (!c->attached_ns && !c->have_acc)
		c->started_ns = c->window_start_ns;
	/* Interval profiles: a window of the model, rotated at each export. */
	if (!err && (c->exp || c->push))
		model__window_begin(m, mono_ns());
	c->win_cpu = sampler__target_cpu_ns(&c->cpu);
	c->win_budget_ns = MAX(c->credit_ns, 0);
	c->gov_ns = 0;
	c->gov_first = false;
	govern(s, c);
	c->gov_first = true;
	next_snap = mono_ns();
	while (!err && !stopping) {
		uint64_t now = mono_ns();

		if (now >= next_snap) {
			write_snapshot(s, c);
			next_snap = now + DAEMON_SNAP_NS;
		}
		if ((c->exp || c->push) && now >= c->next_export_ns) {
			export_interval(s, c);
			c->next_export_ns += c->o->export_interval_ns;
		}
		govern(s, c);
		on_ns = MAX(WINDOW_MIN_NS, (uint64_t)(c->duty * DAEMON_DUTY_PERIOD_NS));
		/*
		 * The first window ends as soon as the traps are known not to fit;
		 * the others when their time is up, or their credit spent.
		 */
		if (c->duty < 1 && (!c->nwindows || now - c->window_start_ns >= on_ns ||
				    window_traps(s) >= c->win_budget_ns))
			break;
		if (c->gov_first && now - c->window_start_ns < GOV_QUIET_NS) {
			usleep(500);
			continue;
		}
		rc = session__poll(s, c->gov_first ? GOV_POLL_FIRST_MS :
					c->duty < 1 ? GOV_POLL_WINDOW_MS :
					(int)(DAEMON_SNAP_NS / 1000000));
		if (rc < 0 || rc == SESSION_DONE ||
		    (session__ntargets(s) &&
		     session_target__state(session__target(s, 0)) != TARGET_RUNNING)) {
			gone = 1;
			break;
		}
	}
	c->win_stop_ns = mono_ns();
	if (!err)
		err = session__stop(s);
	if (rc < 0 && !err)
		err = rc;
	/* The rest of the interval, then the window's figures join the others. */
	if (c->exp || c->push)
		export_interval(s, c);
	close_window(s, c, !gone && !stopping);
	current = NULL;
	write_snapshot(NULL, c);
	if (gone || stopping)
		info("detached; %llu allocations, %llu frees seen in the last window",
		     (unsigned long long)m->totals.allocs, (unsigned long long)m->totals.frees);
	else
		debug("probes off after %.1f ms attached (duty cycle %.3g; budget %.1f ms in credit)",
		      (double)c->last_on_ns / 1e6, c->duty, c->credit_ns / 1e6);
	session__free(s);
	return err ? err : gone;
}

int daemon_target_run(const struct daemon_opts *o)
{
	struct session_opts so = {
		.pids = &o->child_pid,
		.npids = 1,
		.ring_bytes = o->ring_bytes,
		.all = o->all,
		.budget_pct = o->max_overhead,
		.max_live = o->max_live,
		.max_sites = o->max_sites,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct target_ctx c = { .o = o, .duty = 1 };
	int rc;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);	/* the daemon reopens the log */
	signal(SIGPIPE, SIG_IGN);
	if (!o->all)
		trapcost__start();
	c.snap_path = xasprintf("%s/%d.snap", o->state_dir, (int)o->child_pid);
	c.started_ns = mono_ns();
	c.next_export_ns = c.started_ns + o->export_interval_ns;
	c.interval_start_real = real_secs();
	sampler__init(&c.cpu, o->child_pid, 1);
	for (;;) {
		uint64_t off_start, prev, cpu_prev, now;
		double need;

		rc = window(&c, &so);
		if (rc || stopping)
			break;
		/*
		 * Off: until the credit covers the debt and what the next window
		 * is expected to cost at the rate the last one saw.
		 */
		need = MAX(WINDOW_MIN_COST_NS,
			   c.trap_rate * (double)MAX(WINDOW_MIN_NS,
						     (uint64_t)(c.duty * DAEMON_DUTY_PERIOD_NS)));
		off_start = prev = mono_ns();
		cpu_prev = sampler__target_cpu_ns(&c.cpu);
		while (!stopping && c.credit_ns < need && target_alive(o->child_pid)) {
			now = mono_ns();
			if (now - off_start >= OFF_MAX_NS) {
				/* Long enough: what is still owed is forgiven, not carried. */
				c.credit_ns = need;
				break;
			}
			usleep(DAEMON_SNAP_NS / 1000);
			now = mono_ns();
			c.credit_ns += credit_base(&c, &cpu_prev, now - prev) * o->max_overhead / 100;
			prev = now;
			write_snapshot(NULL, &c);
		}
		if (!target_alive(o->child_pid))
			break;
		debug("probes on again after %.1f s off", (double)(mono_ns() - off_start) / 1e9);
		if (mono_ns() > c.next_export_ns)
			c.next_export_ns = mono_ns() + o->export_interval_ns;
	}
	sampler__free(&c.cpu);
	/* Undelivered profiles: a few seconds to get them out, then counted as lost. */
	if (c.push) {
		pusher__stop(c.push, mono_ns() + 5000000000ULL);
		pusher__counts(c.push, &c.push_sent, &c.push_failed);
		pusher__free(c.push);
		c.push = NULL;
	}
	write_snapshot(NULL, &c);
	exporter__free(c.exp);
	if (c.have_acc)
		metrics_snap_free(&c.acc);
	free(c.snap_path);
	free(c.push_name);
	return rc < 0 ? 1 : 0;
}
