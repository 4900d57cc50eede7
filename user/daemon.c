// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rsprobe daemon: finds its targets (by PID, executable, or every Rust
 * program), profiles each in a process of its own (daemon_target.c) that
 * dies with the daemon, and serves their figures on /metrics. Processes
 * that start later, or exec, are found by scanning /proc; a target that
 * exits or crashes ends its own profiling process and nothing else.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "export.h"
#include "http.h"
#include "procmatch.h"
#include "push.h"
#include "rsprobe.h"
#include "util.h"

#define MAX_CHILDREN 1024
/* SIGTERM: how long targets' processes get to detach and flush. */
#define STOP_GRACE_NS (15 * 1000000000ULL)

static const char daemon_usage[] =
"Usage: rsprobe daemon [OPTIONS] (--pid PID | --exe NAME|PATH | --all-rust)...\n"
"\n"
"Profiles processes for as long as they run, within an overhead budget, and\n"
"exports allocation counts and lifetime histograms to Prometheus and\n"
"interval profiles to files or to Pyroscope. Runs until SIGTERM or SIGINT.\n"
"Each target is profiled by a process of its own that dies with the daemon:\n"
"even after kill -9 of the daemon, no probe stays in any target.\n"
"\n"
"Targets (repeatable, combinable):\n"
"      --pid PID          this process (and its next image, if it execs a\n"
"                         program that still matches)\n"
"      --exe NAME|PATH    every process running this executable: NAME matches\n"
"                         the file's base name or the process name (comm),\n"
"                         PATH the executable's path; processes that start\n"
"                         later or restart are found within 0.1 s, an exec\n"
"                         of a running process within 1 s\n"
"      --all-rust         every process whose executable is a Rust program\n"
"\n"
"Budget:\n"
"      --max-overhead PCT profiling may cost a target at most PCT% of its CPU\n"
"                         time (of a tenth of a CPU at least; default 1),\n"
"                         the uprobe traps included (their cost measured at\n"
"                         start, times the calls): recording is sampled by\n"
"                         bytes beyond what fits (totals stay exact), and\n"
"                         where the traps alone do not fit, the probes are\n"
"                         attached in windows (rsprobe_probe_duty_cycle): the\n"
"                         first closes once the call rate is known, the\n"
"                         others are paid for by the budget the target's\n"
"                         CPU time earns while they are off; lifetimes a\n"
"                         window cuts are counted as censored\n"
"      --all              record every allocation, attached all along,\n"
"                         whatever it costs\n"
"      --ring-mb N        ring buffer per target in MiB (default 8)\n"
"      --max-live N       live allocations tracked per target at most\n"
"                         (default 2000000); beyond, allocations are counted\n"
"                         but their lifetimes are not (rsprobe_dropped_by_cap_total)\n"
"      --max-sites N      allocation sites per target at most (default 50000);\n"
"                         beyond, new sites count under one unknown site\n"
"\n"
"Exports:\n"
"      --metrics [ADDR:]PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                         (ADDR defaults to 127.0.0.1; [::1]:PORT for IPv6)\n"
"      --metrics-top N    functions with series of their own per process\n"
"                         (default 50); the rest are summed under\n"
"                         function=\"[other]\", exact totals under \"[all]\"\n"
"      --export-dir DIR   write one pprof profile (.pb.gz) per target per\n"
"                         interval to DIR: COMM-PID-TIME.pb.gz\n"
"      --export-interval SECS  the interval (default 60)\n"
"      --export-keep N    profiles kept per target (default 10; 0: all)\n"
"      --push URL         push each interval profile to Pyroscope\n"
"                         (URL/ingest, format=pprof, application\n"
"                         rsprobe.alloc{comm=...,pid=...}); retried, queued\n"
"                         (at most 16 per target), never blocking capture;\n"
"                         undelivered ones are counted\n"
"                         (rsprobe_push_failed_total)\n"
"\n"
"Operation:\n"
"      --log FILE         messages to FILE instead of stderr; SIGHUP reopens it\n"
"                         (for logrotate); every message about a target names\n"
"                         its PID and process name\n"
"  -v, --verbose          more messages\n"
"  -q, --quiet            only errors\n"
"  -h, --help             this help\n"
"\n"
"Signals: SIGTERM or SIGINT detach from every target, write the last interval\n"
"profiles and exit 0; SIGHUP reopens the log. Needs root, or CAP_BPF,\n"
"CAP_PERFMON and CAP_SYS_PTRACE (scripts/rsprobe.service). Exit status: 0,\n"
"1 on a runtime error, 2 on a usage error.\n";

static double parse_pct(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 100)
		usage_error("%s: expected a percentage above 0 and at most 100, got '%s'", opt, arg);
	return v;
}

static uint64_t parse_secs(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0.1) || v > 1e7)
		usage_error("%s: expected a number of seconds, at least 0.1, got '%s'", opt, arg);
	return (uint64_t)(v * 1e9);
}

enum {
	OPT_PID = 256, OPT_EXE, OPT_ALL_RUST, OPT_MAX_OVERHEAD, OPT_ALL, OPT_RING, OPT_METRICS,
	OPT_METRICS_TOP, OPT_EXPORT_DIR, OPT_EXPORT_INTERVAL, OPT_EXPORT_KEEP, OPT_PUSH, OPT_LOG,
	OPT_CHILD_PID, OPT_STATE_DIR, OPT_MAX_LIVE, OPT_MAX_SITES,
};

static const struct option longopts[] = {
	{ "pid", required_argument, NULL, OPT_PID },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "all-rust", no_argument, NULL, OPT_ALL_RUST },
	{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "ring-mb", required_argument, NULL, OPT_RING },
	{ "max-live", required_argument, NULL, OPT_MAX_LIVE },
	{ "max-sites", required_argument, NULL, OPT_MAX_SITES },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "metrics-top", required_argument, NULL, OPT_METRICS_TOP },
	{ "export-dir", required_argument, NULL, OPT_EXPORT_DIR },
	{ "export-interval", required_argument, NULL, OPT_EXPORT_INTERVAL },
	{ "export-keep", required_argument, NULL, OPT_EXPORT_KEEP },
	{ "push", required_argument, NULL, OPT_PUSH },
	{ "log", required_argument, NULL, OPT_LOG },
	/* Internal: how the daemon starts the process that profiles one target. */
	{ "target-process", required_argument, NULL, OPT_CHILD_PID },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{},
};

static void parse_args(int argc, char **argv, struct daemon_opts *o)
{
	bool interval_set = false, keep_set = false;
	const char *why;
	int opt, err;

	rp_usage_prog = "rsprobe daemon";
	o->max_overhead = DAEMON_DEFAULT_OVERHEAD;
	o->metrics_top = METRICS_DEFAULT_TOP;
	o->export_interval_ns = DAEMON_DEFAULT_EXPORT_SECS * 1000000000ULL;
	o->export_keep = DAEMON_DEFAULT_KEEP;
	o->ring_bytes = (uint64_t)DAEMON_DEFAULT_RING_MB << 20;
	o->max_live = DAEMON_DEFAULT_MAX_LIVE;
	o->max_sites = DAEMON_DEFAULT_MAX_SITES;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vqh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_PID:
			if (o->npids == DAEMON_MAX_PIDS)
				usage_error("--pid: at most %d", DAEMON_MAX_PIDS);
			o->pids[o->npids] = (pid_t)parse_uint("--pid", optarg, INT_MAX);
			if (o->pids[o->npids] <= 0)
				usage_error("--pid: expected a process ID, got '%s'", optarg);
			if (o->pids[o->npids] == getpid())
				usage_error("--pid: rsprobe cannot profile itself");
			o->npids++;
			break;
		case OPT_EXE:
			if (o->nexes == DAEMON_MAX_EXES)
				usage_error("--exe: at most %d", DAEMON_MAX_EXES);
			if (!*optarg)
				usage_error("--exe: expected an executable's name or path");
			o->exes[o->nexes++] = optarg;
			break;
		case OPT_ALL_RUST:
			o->all_rust = true;
			break;
		case OPT_MAX_OVERHEAD:
			o->max_overhead = parse_pct("--max-overhead", optarg);
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_RING:
			o->ring_bytes = parse_uint("--ring-mb", optarg, 2048) << 20;
			if (!o->ring_bytes)
				usage_error("--ring-mb: must be at least 1");
			break;
		case OPT_MAX_LIVE:
			o->max_live = parse_uint("--max-live", optarg, 1ULL << 32);
			if (!o->max_live)
				usage_error("--max-live: must be at least 1");
			break;
		case OPT_MAX_SITES:
			o->max_sites = parse_uint("--max-sites", optarg, 1ULL << 24);
			if (!o->max_sites)
				usage_error("--max-sites: must be at least 1");
			break;
		case OPT_METRICS:
			o->metrics_addr = optarg;
			if (http_parse_addr(optarg, o->metrics_host, sizeof(o->metrics_host),
					    &o->metrics_port))
				usage_error("--metrics: expected [ADDR:]PORT, e.g. 9464 or "
					    "0.0.0.0:9464, got '%s'", optarg);
			break;
		case OPT_METRICS_TOP:
			o->metrics_top = (int)parse_uint("--metrics-top", optarg, 100000);
			break;
		case OPT_EXPORT_DIR:
			o->export_dir = optarg;
			break;
		case OPT_EXPORT_INTERVAL:
			o->export_interval_ns = parse_secs("--export-interval", optarg);
			interval_set = true;
			break;
		case OPT_EXPORT_KEEP:
			o->export_keep = (int)parse_uint("--export-keep", optarg, 1000000);
			keep_set = true;
			break;
		case OPT_PUSH:
			why = push_url_problem(optarg);
			if (why)
				usage_error("--push: %s, got '%s'", why, optarg);
			o->push_url = optarg;
			break;
		case OPT_LOG:
			if (!*optarg)
				usage_error("--log: expected a file");
			o->log_path = optarg;
			break;
		case OPT_CHILD_PID:
			o->child_pid = (pid_t)parse_uint("--target-process", optarg, INT_MAX);
			break;
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case 'v':
			rp_verbosity = 2;
			break;
		case 'q':
			rp_verbosity = 0;
			break;
		case 'h':
			fputs(daemon_usage, stdout);
			exit(0);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->npids && !o->nexes && !o->all_rust)
		usage_error("no targets: give --pid PID, --exe NAME|PATH or --all-rust");
	if (o->all && o->max_overhead != DAEMON_DEFAULT_OVERHEAD)
		usage_error("--all records every allocation: it cannot be combined with "
			    "--max-overhead");
	if ((interval_set || keep_set) && !o->export_dir && !o->push_url)
		usage_error("--export-interval and --export-keep need --export-dir or --push");
	if (o->export_dir && !o->child_pid && (err = export_dir_check(o->export_dir)))
		usage_error("--export-dir %s: %s", o->export_dir, strerror(-err));
}

/* One target's profiling process. */
struct child {
	pid_t target, proc;
	char comm[32];
	int logfd;		/* its stderr, read here */
	char line[4096];
	size_t linelen;
	bool running;
	uint64_t exited_ns;	/* its snapshot file goes some time after */
};

struct daemon {
	struct daemon_opts *o;
	char **argv;
	int argc;
	char state_dir[PATH_MAX];
	struct procmatch pm;
	struct child children[MAX_CHILDREN];
	int nchildren;
	atomic_uint running;		/* read by the HTTP thread */
	atomic_ullong push_sent_base, push_failed_base;	/* of snapshots removed */
	struct http_server *http;
	int sigfd;
	int logfd;
	bool stopping;
};

static void reopen_log(struct daemon *d)
{
	int fd;

	if (!d->o->log_path)
		return;
	fd = open(d->o->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		warn("cannot open the log %s: %s; messages stay where they went", d->o->log_path,
		     strerror(errno));
		return;
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* A line a target's process wrote: said with the target it is about. */
static void child_line(struct child *c, char *line)
{
	if (!strncmp(line, "rsprobe: ", 9))
		line += 9;
	fprintf(stderr, "rsprobe: pid %d (%s): %s\n", (int)c->target, c->comm, line);
}

static void drain_child_log(struct child *c, bool eof)
{
	char buf[4096];
	ssize_t n;

	while (c->logfd >= 0) {
		n = read(c->logfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || eof) {
				close(c->logfd);
				c->logfd = -1;
			}
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || c->linelen == sizeof(c->line) - 1) {
				c->line[c->linelen] = 0;
				child_line(c, c->line);
				c->linelen = 0;
				if (buf[i] == '\n')
					continue;
			}
			c->line[c->linelen++] = buf[i];
		}
	}
	if (c->logfd < 0 && c->linelen) {
		c->line[c->linelen] = 0;
		child_line(c, c->line);
		c->linelen = 0;
	}
}

static char *snap_path(struct daemon *d, pid_t pid)
{
	return xasprintf("%s/%d.snap", d->state_dir, (int)pid);
}

/* A snapshot file goes: its push counts stay in the totals. */
static void retire_snapshot(struct daemon *d, pid_t pid)
{
	char *p = snap_path(d, pid);
	struct metrics_snap s;

	if (!snap_read(p, &s)) {
		atomic_fetch_add(&d->push_sent_base, s.x.push_sent);
		atomic_fetch_add(&d->push_failed_base, s.x.push_failed);
		metrics_snap_free(&s);
	}
	unlink(p);
	free(p);
}

static bool busy(pid_t pid, void *ctx)
{
	struct daemon *d = ctx;
	int i;

	for (i = 0; i < d->nchildren; i++)
		if (d->children[i].running && d->children[i].target == pid)
			return true;
	return false;
}

static struct child *child_slot(struct daemon *d, pid_t target)
{
	int i;

	/* The same PID again (it exec'd): its old entry is reused. */
	for (i = 0; i < d->nchildren; i++)
		if (!d->children[i].running && d->children[i].target == target)
			return &d->children[i];
	for (i = 0; i < d->nchildren; i++)
		if (!d->children[i].running && d->children[i].logfd < 0 && !d->children[i].exited_ns)
			return &d->children[i];
	if (d->nchildren == MAX_CHILDREN)
		return NULL;
	return &d->children[d->nchildren++];
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char fn[64];
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/comm", pid);
	buf[0] = 0;
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		close(fd);
	}
	for (n = 0; buf[n]; n++)
		if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
			buf[n] = '?';
}

/* A new target: its own process, this program again with --target-process. */
static void spawn(pid_t target, void *ctx)
{
	struct daemon *d = ctx;
	struct child *c = child_slot(d, target);
	char pidarg[16], **av;
	int p[2], i, n = 0;
	pid_t proc, parent = getpid();

	if (!c) {
		warn("pid %d: not profiled, %d targets already", (int)target, MAX_CHILDREN);
		return;
	}
	if (c->target == target && c->exited_ns)
		retire_snapshot(d, target);
	if (pipe2(p, O_CLOEXEC)) {
		warn("pid %d: cannot start profiling: %s", (int)target, strerror(errno));
		return;
	}
	snprintf(pidarg, sizeof(pidarg), "%d", (int)target);
	av = xcalloc((size_t)d->argc + 6, sizeof(*av));
	av[n++] = "rsprobe";
	av[n++] = "daemon";
	for (i = 1; i < d->argc; i++)
		av[n++] = d->argv[i];
	av[n++] = "--target-process";
	av[n++] = pidarg;
	av[n++] = "--state-dir";
	av[n++] = d->state_dir;
	proc = fork();
	if (proc < 0) {
		warn("pid %d: cannot start profiling: %s", (int)target, strerror(errno));
		close(p[0]);
		close(p[1]);
		free(av);
		return;
	}
	if (proc == 0) {
		sigset_t none;

		/* Dies with the daemon, even by SIGKILL: its probes go with it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(1);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[1], STDERR_FILENO);
		execv("/proc/self/exe", av);
		_exit(127);
	}
	free(av);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	memset(c, 0, sizeof(*c));
	c->target = target;
	c->proc = proc;
	c->logfd = p[0];
	c->running = true;
	read_comm(target, c->comm, sizeof(c->comm));
	atomic_fetch_add(&d->running, 1);
	info("pid %d (%s): profiling", (int)target, c->comm);
}

static void reap(struct daemon *d)
{
	pid_t proc;
	int st, i;

	while ((proc = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < d->nchildren; i++) {
			struct child *c = &d->children[i];

			if (!c->running || c->proc != proc)
				continue;
			drain_child_log(c, true);
			c->running = false;
			c->exited_ns = mono_ns();
			atomic_fetch_sub(&d->running, 1);
			if (WIFSIGNALED(st))
				warn("pid %d (%s): its profiling process was killed by signal %d",
				     (int)c->target, c->comm, WTERMSIG(st));
			else if (WEXITSTATUS(st) && !d->stopping && kill(c->target, 0) && errno == ESRCH)
				info("pid %d (%s): exited before it could be profiled", (int)c->target,
				     c->comm);
			else if (WEXITSTATUS(st) && !d->stopping)
				warn("pid %d (%s): not profiled (see the message above)",
				     (int)c->target, c->comm);
			else
				info("pid %d (%s): done", (int)c->target, c->comm);
		}
	}
}

/* An exited target's last figures stay on /metrics for a while, then go. */
static void expire(struct daemon *d)
{
	uint64_t now = mono_ns();
	int i;

	for (i = 0; i < d->nchildren; i++) {
		struct child *c = &d->children[i];

		if (c->running || !c->exited_ns || now - c->exited_ns < DAEMON_EXITED_KEEP_NS)
			continue;
		retire_snapshot(d, c->target);
		c->exited_ns = 0;
	}
}

static int cmp_snap(const void *a, const void *b)
{
	const struct metrics_snap *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The /metrics page (on the HTTP thread): every target's last snapshot. */
static char *render_page(void *ctx, size_t *len)
{
	struct daemon *d = ctx;
	struct metrics_snap *snaps = NULL;
	struct metrics_daemon md = {};
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	char *buf = NULL;
	FILE *f;
	DIR *dir;

	dir = opendir(d->state_dir);
	while (dir && (de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		char *p;

		if (l < 6 || strcmp(de->d_name + l - 5, ".snap"))
			continue;
		ARR_RESERVE(snaps, cap, n + 1);
		p = xasprintf("%s/%s", d->state_dir, de->d_name);
		if (!snap_read(p, &snaps[n]))
			n++;
		free(p);
	}
	if (dir)
		closedir(dir);
	if (n)
		qsort(snaps, n, sizeof(*snaps), cmp_snap);
	md.targets = atomic_load(&d->running);
	md.push_sent = atomic_load(&d->push_sent_base);
	md.push_failed = atomic_load(&d->push_failed_base);
	for (i = 0; i < n; i++) {
		md.push_sent += snaps[i].x.push_sent;
		md.push_failed += snaps[i].x.push_failed;
	}
	f = open_memstream(&buf, len);
	if (f) {
		if (metrics_render(f, snaps, n, &md) && buf) {
			fclose(f);
			free(buf);
			buf = NULL;
		} else {
			fclose(f);
		}
	}
	for (i = 0; i < n; i++)
		metrics_snap_free(&snaps[i]);
	free(snaps);
	return buf;
}

static int make_state_dir(struct daemon *d)
{
	const char *base = getenv("RUNTIME_DIRECTORY");

	/* systemd's RuntimeDirectory= may list several: the first. */
	snprintf(d->state_dir, sizeof(d->state_dir), "%.*s/rsprobe.XXXXXX",
		 base && *base ? (int)strcspn(base, ":") : 4, base && *base ? base : "/tmp");
	if (!mkdtemp(d->state_dir)) {
		warn("cannot create a state directory in %s: %s", base && *base ? base : "/tmp",
		     strerror(errno));
		return -errno;
	}
	return 0;
}

static void remove_state_dir(struct daemon *d)
{
	struct dirent *de;
	DIR *dir = opendir(d->state_dir);

	while (dir && (de = readdir(dir))) {
		char *p;

		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		p = xasprintf("%s/%s", d->state_dir, de->d_name);
		unlink(p);
		free(p);
	}
	if (dir)
		closedir(dir);
	rmdir(d->state_dir);
}

static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!d->stopping)
				info("signal %d: detaching from every target", (int)si.ssi_signo);
			d->stopping = true;
			break;
		case SIGHUP:
			reopen_log(d);
			info("log reopened");
			break;
		case SIGCHLD:
			reap(d);
			break;
		}
	}
}

/* Wait for events: signals, targets' messages, or the next scan. */
static void wait_events(struct daemon *d, int timeout_ms)
{
	struct pollfd fds[MAX_CHILDREN + 1];
	struct child *who[MAX_CHILDREN + 1];
	int n = 0, i;

	fds[n].fd = d->sigfd;
	fds[n].events = POLLIN;
	who[n++] = NULL;
	for (i = 0; i < d->nchildren; i++) {
		if (d->children[i].logfd < 0)
			continue;
		fds[n].fd = d->children[i].logfd;
		fds[n].events = POLLIN;
		who[n++] = &d->children[i];
	}
	if (poll(fds, (nfds_t)n, timeout_ms) <= 0)
		return;
	for (i = 1; i < n; i++)
		if (fds[i].revents)
			drain_child_log(who[i], false);
	if (fds[0].revents)
		handle_signals(d);
}

/* SIGTERM: every target's process detaches and writes its last figures. */
static void stop_children(struct daemon *d)
{
	uint64_t deadline = mono_ns() + STOP_GRACE_NS;
	int i;

	for (i = 0; i < d->nchildren; i++)
		if (d->children[i].running)
			kill(d->children[i].proc, SIGTERM);
	while (atomic_load(&d->running) && mono_ns() < deadline) {
		wait_events(d, 100);
		reap(d);
	}
	for (i = 0; i < d->nchildren; i++) {
		if (!d->children[i].running)
			continue;
		warn("pid %d (%s): its profiling process did not stop in time: killed",
		     (int)d->children[i].target, d->children[i].comm);
		kill(d->children[i].proc, SIGKILL);
	}
	while (atomic_load(&d->running)) {
		wait_events(d, 100);
		reap(d);
	}
}

static int check_pids(const struct daemon_opts *o)
{
	int i;

	for (i = 0; i < o->npids; i++) {
		if (kill(o->pids[i], 0) && errno == ESRCH) {
			warn("no such process: %d", (int)o->pids[i]);
			return -ESRCH;
		}
	}
	return 0;
}

static int run(struct daemon *d)
{
	struct daemon_opts *o = d->o;
	uint64_t next_full = 0, now;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0) {
		warn("signalfd: %s", strerror(errno));
		return 1;
	}
	procmatch__init(&d->pm);
	d->pm.pids = o->pids;
	d->pm.npids = o->npids;
	d->pm.exes = o->exes;
	d->pm.nexes = o->nexes;
	d->pm.all_rust = o->all_rust;
	if (make_state_dir(d))
		return 1;
	if (o->metrics_addr) {
		d->http = http_server__new(o->metrics_host, o->metrics_port, render_page, d);
		if (!d->http) {
			remove_state_dir(d);
			return 1;
		}
	}
	/* Errors so far went to stderr; from here on, messages go to the log. */
	reopen_log(d);
	if (d->http)
		info("metrics on http://%s%s%s:%u/metrics", strchr(o->metrics_host, ':') ? "[" : "",
		     o->metrics_host, strchr(o->metrics_host, ':') ? "]" : "",
		     http_server__port(d->http));
	info("daemon %s started: %d pids, %d executables%s; budget %.3g%% of each target's CPU",
	     RSPROBE_VERSION, o->npids, o->nexes, o->all_rust ? ", every Rust program" : "",
	     o->all ? 100.0 : o->max_overhead);
	while (!d->stopping) {
		now = mono_ns();
		/* New processes every scan; known ones' images (exec) less often. */
		procmatch__scan(&d->pm, now >= next_full, busy, spawn, d);
		if (now >= next_full)
			next_full = now + DAEMON_RESCAN_NS;
		expire(d);
		wait_events(d, (int)(DAEMON_SCAN_NS / 1000000));
		reap(d);
	}
	stop_children(d);
	http_server__free(d->http);
	d->http = NULL;
	remove_state_dir(d);
	procmatch__free(&d->pm);
	close(d->sigfd);
	info("daemon stopped");
	return 0;
}

int daemon_main(int argc, char **argv, int (*preflight)(void))
{
	static struct daemon d;
	static struct daemon_opts o;

	parse_args(argc, argv, &o);
	if (o.child_pid) {
		if (!o.state_dir)
			usage_error("--target-process needs --state-dir");
		return daemon_target_run(&o);
	}
	if (preflight && preflight())
		return 1;
	if (check_pids(&o))
		return 1;
	d.o = &o;
	d.argc = argc;
	d.argv = argv;
	d.logfd = -1;
	return run(&d);
}
