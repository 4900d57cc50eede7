// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rsprobe: allocation lifetimes of running Rust processes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "daemon.h"
#include "diff.h"
#include "live.h"
#include "report.h"
#include "rsprobe.h"
#include "session.h"
#include "symbolize.h"
#include "util.h"

#define MAX_OUTPUTS 16
#define MAX_DEBUG_DIRS 8
#define MAX_PIDS 64

struct output {
	const char *path;
	const struct report_format *fmt;
	FILE *f;
	char *tmp;	/* written here, renamed to path when complete */
};

struct cli {
	struct session_opts sess;
	pid_t pids[MAX_PIDS];
	uint64_t duration_ns;	/* -d, 0: until the targets exit or a signal */
	struct report_opts report;
	struct output outputs[MAX_OUTPUTS];
	int noutputs;
	uint64_t interval_ns;	/* live view, 0: none */
	const char *debug_roots[MAX_DEBUG_DIRS + 2];	/* --debug-dir..., /usr/lib/debug */
	int ndebug;
};

static const char usage_text[] =
"Usage: rsprobe [OPTIONS] -p PID [-p PID...]\n"
"       rsprobe [OPTIONS] -- CMD [ARG...]\n"
"       rsprobe diff [OPTIONS] OLD.json NEW.json   (see rsprobe diff --help)\n"
"       rsprobe daemon [OPTIONS] TARGETS...        (see rsprobe daemon --help)\n"
"\n"
"Allocation lifetimes of a running Rust process: who allocates, who drops,\n"
"how long values live. Probes the Rust allocator shims (__rust_alloc,\n"
"__rust_alloc_zeroed, __rust_realloc, __rust_dealloc), or the allocator\n"
"below them where LTO inlined them away, with eBPF uprobes; stacks are\n"
"unwound in BPF with the binaries' DWARF CFI, no frame pointers needed. The\n"
"target is neither restarted nor modified, and keeps running after rsprobe\n"
"detaches.\n"
"\n"
"Target:\n"
"  -p, --pid PID          attach to a running process (all its threads);\n"
"                         repeatable: several processes (pre-fork workers,\n"
"                         replicas) in one capture, merged by stack\n"
"  -f, --follow-forks     with -- CMD: the processes CMD forks, and the programs\n"
"                         they exec, in the same capture (cargo run, shell\n"
"                         scripts, test runners); CMD itself may be no Rust\n"
"                         program then\n"
"  -- CMD [ARG...]        run CMD profiled from its first instruction; rsprobe\n"
"                         exits with CMD's exit status (128+N if killed by N)\n"
"\n"
"Session:\n"
"  -d, --duration SECS    stop after SECS (default: until the target exits,\n"
"                         Ctrl-C or SIGTERM)\n"
"      --all              record every allocation and free with its stack:\n"
"                         every figure exact, at full cost\n"
"      --sample-bytes N   Poisson sampling by bytes, one sample per N bytes\n"
"                         allocated on average: per-site figures are scaled\n"
"                         estimates (marked ~), totals stay exact\n"
"      --budget PCT       default (adaptive) mode: record every allocation\n"
"                         while that adds less than PCT% to what the uprobe\n"
"                         traps cost (measured at start; a tenth of one CPU\n"
"                         if that is less), sample beyond, with an interval\n"
"                         that keeps the cost below PCT% (default 10)\n"
"      --source S         which allocation layer to probe: rust (the\n"
"                         __rust_alloc shims), libc (malloc, calloc,\n"
"                         realloc, free, posix_memalign, aligned_alloc),\n"
"                         jemalloc (mallocx, rallocx, sdallocx, dallocx\n"
"                         and its malloc family), mimalloc (mi_malloc,\n"
"                         mi_free, ...), or auto (default: the shims where\n"
"                         the program calls them; where LTO inlined them\n"
"                         away or they are stripped, the allocator the\n"
"                         code calls instead; a program with no Rust code\n"
"                         is refused: use --libc); outputs say which and why\n"
"      --libc             shorthand for --source libc\n"
"      --unwind MODE      how stacks are unwound: dwarf (CFI tables from\n"
"                         .eh_frame, walked in BPF; needs Linux 5.17), fp\n"
"                         (frame pointers), copy (the top of the stack is\n"
"                         copied and unwound in userspace with libunwind;\n"
"                         any kernel, more ring bandwidth per event), or\n"
"                         auto (default: dwarf where the kernel can,\n"
"                         copy where it cannot)\n"
"      --ring-mb N        ring buffer size in MiB (default 32, at most 2048);\n"
"                         raise it if events are reported lost\n"
"      --library-frame REGEX  functions matching REGEX (POSIX extended) are\n"
"                         library frames too, skipped when a site is\n"
"                         attributed: allocator wrappers of C hosts\n"
"                         (CRYPTO_zalloc, _PyObject_Malloc); repeatable\n"
"      --probe-only       attach the same probes with programs that do\n"
"                         nothing: the cost floor, for benchmarks (the\n"
"                         report is empty)\n"
"\n"
"Output:\n"
"  -o, --output FILE      write a report; repeatable, all from one capture; the\n"
"                         extension picks the format:\n"
"                           .txt        text report\n"
"                           .json       JSON (schema 1)\n"
"                           .folded     folded stacks (flamegraph.pl, inferno,\n"
"                                       speedscope)\n"
"                           .svg        interactive flame graph\n"
"                           .pb.gz      pprof profile (go tool pprof, Pyroscope,\n"
"                                       Parca)\n"
"                           .dhat.json  DHAT (dh_view.html, Firefox Profiler)\n"
"                           .html       self-contained report page\n"
"                         Without -o the text report goes to stdout. Files\n"
"                         are renamed into place when complete, never\n"
"                         written through a link\n"
"      --weight W         what flame graphs (.folded, .svg, .html) measure:\n"
"                         alloc-bytes (default), allocs, live-bytes (at the\n"
"                         end), lifetime (nanoseconds lived, summed)\n"
"      --top N            rows per table in the text report (default 15)\n"
"      --stacks N         print the birth stack and main drop stack of the\n"
"                         top N sites in the text report and the HTML page\n"
"                         (default 5; 0: none)\n"
"      --max-frames N     frames walked per stack (default 64, at most 256);\n"
"                         deeper stacks are cut and hang under [truncated]\n"
"      --debug-dir DIR    look for separate debug files (symbols of stripped\n"
"                         programs) by build ID under DIR/.build-id/, and\n"
"                         by debuglink under DIR/<object's directory>/, before\n"
"                         /usr/lib/debug; repeatable. With DEBUGINFOD_URLS\n"
"                         set, debug files not found here are fetched from\n"
"                         those debuginfod servers once, before capture\n"
"  -i, --interval SECS    live view: a table of the top sites every SECS on\n"
"                         stdout (redrawn on a terminal, appended otherwise)\n"
"  -v, --verbose          more messages, libbpf's and the verifier's included\n"
"  -q, --quiet            only errors\n"
"  -V, --version          print the version\n"
"  -h, --help             this help\n"
"\n"
"Needs root, or CAP_BPF and CAP_PERFMON, and a kernel with BTF and the BPF\n"
"ring buffer (5.8 or later; 5.17 or later for DWARF unwinding). Exit status:\n"
"0, 1 on a runtime error, 2 on a usage error, or the command's status in\n"
"launch mode.\n";

static uint64_t parse_secs(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 1e7)
		usage_error("%s: expected a positive number of seconds, got '%s'", opt, arg);
	/* Below a nanosecond is not "no limit": the shortest session there is. */
	return v * 1e9 < 1 ? 1 : (uint64_t)(v * 1e9);
}

static enum weight parse_weight(const char *arg)
{
	int w;

	for (w = 0; w < WEIGHT_MAX; w++)
		if (!strcmp(arg, weight_names[w]))
			return w;
	usage_error("--weight: expected alloc-bytes, allocs, live-bytes or lifetime, got '%s'",
		    arg);
}

static void add_output(struct cli *c, const char *path)
{
	char known[256];
	struct output *o;

	if (c->noutputs == MAX_OUTPUTS)
		usage_error("-o: at most %d outputs", MAX_OUTPUTS);
	o = &c->outputs[c->noutputs++];
	o->path = path;
	o->fmt = report_format_of(path);
	if (o->fmt)
		return;
	usage_error("-o %s: unknown format; the file name must end in one of %s", path,
		    report_format_list(known, sizeof(known)));
}

static void parse_args(int argc, char **argv, struct cli *c)
{
	enum { OPT_ALL = 256, OPT_TOP, OPT_RING, OPT_PROBE_ONLY, OPT_UNWIND, OPT_WEIGHT,
	       OPT_SOURCE, OPT_LIBC, OPT_STACKS, OPT_DEBUG_DIR, OPT_LIBFRAME,
	       OPT_MAX_FRAMES, OPT_SAMPLE_BYTES, OPT_BUDGET };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "follow-forks", no_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "weight", required_argument, NULL, OPT_WEIGHT },
		{ "interval", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "stacks", required_argument, NULL, OPT_STACKS },
		{ "library-frame", required_argument, NULL, OPT_LIBFRAME },
		{ "ring-mb", required_argument, NULL, OPT_RING },
		{ "probe-only", no_argument, NULL, OPT_PROBE_ONLY },
		{ "unwind", required_argument, NULL, OPT_UNWIND },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "libc", no_argument, NULL, OPT_LIBC },
		{ "debug-dir", required_argument, NULL, OPT_DEBUG_DIR },
		{ "max-frames", required_argument, NULL, OPT_MAX_FRAMES },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt;

	c->report.top = 15;
	c->report.stacks = 5;
	c->sess.ring_bytes = 32ULL << 20;
	c->sess.budget_pct = 10;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:p:fd:o:i:vqVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': {
			pid_t pid = (pid_t)parse_uint("-p", optarg, INT_MAX);
			size_t i;

			if (pid <= 0)
				usage_error("-p: expected a process ID, got '%s'", optarg);
			if (pid == getpid())
				usage_error("-p: rsprobe cannot profile itself");
			for (i = 0; i < c->sess.npids; i++)
				if (c->pids[i] == pid)
					usage_error("-p %d: given twice", pid);
			if (c->sess.npids == MAX_PIDS)
				usage_error("-p: at most %d processes", MAX_PIDS);
			c->pids[c->sess.npids++] = pid;
			break;
		}
		case 'f':
			c->sess.follow_forks = true;
			break;
		case 'd':
			c->duration_ns = parse_secs("-d", optarg);
			break;
		case 'o':
			add_output(c, optarg);
			break;
		case OPT_WEIGHT:
			c->report.weight = parse_weight(optarg);
			break;
		case 'i':
			c->interval_ns = parse_secs("-i", optarg);
			break;
		case OPT_ALL:
			c->sess.all = true;
			break;
		case OPT_SAMPLE_BYTES:
			c->sess.sample_bytes = parse_uint("--sample-bytes", optarg, 1ULL << 34);
			if (!c->sess.sample_bytes)
				usage_error("--sample-bytes: must be at least 1");
			break;
		case OPT_BUDGET:
			c->sess.budget_pct = (double)parse_uint("--budget", optarg, 1000);
			if (!c->sess.budget_pct)
				usage_error("--budget: must be at least 1");
			break;
		case OPT_TOP:
			c->report.top = (int)parse_uint("--top", optarg, 100000);
			break;
		case OPT_LIBFRAME:
			if (symbolizer__add_library_regex(optarg))
				usage_error("--library-frame: not a valid regular expression: '%s'",
					    optarg);
			break;
		case OPT_STACKS:
			c->report.stacks = (int)parse_uint("--stacks", optarg, 100000);
			break;
		case OPT_RING:
			/* The kernel sizes rings with 32 bits, in powers of two: 2 GiB at most. */
			c->sess.ring_bytes = parse_uint("--ring-mb", optarg, 2048) << 20;
			if (!c->sess.ring_bytes)
				usage_error("--ring-mb: must be at least 1");
			break;
		case OPT_SOURCE:
			if (!strcmp(optarg, "auto"))
				c->sess.source = SOURCE_AUTO;
			else if (!strcmp(optarg, "rust"))
				c->sess.source = SOURCE_RUST;
			else if (!strcmp(optarg, "libc"))
				c->sess.source = SOURCE_LIBC;
			else if (!strcmp(optarg, "jemalloc"))
				c->sess.source = SOURCE_JEMALLOC;
			else if (!strcmp(optarg, "mimalloc"))
				c->sess.source = SOURCE_MIMALLOC;
			else
				usage_error("--source: expected auto, rust, libc, jemalloc or mimalloc, "
					    "got '%s'", optarg);
			break;
		case OPT_LIBC:
			c->sess.source = SOURCE_LIBC;
			break;
		case OPT_MAX_FRAMES:
			c->sess.max_frames = (unsigned int)parse_uint("--max-frames", optarg,
								      RP_MAX_FRAMES);
			if (!c->sess.max_frames)
				usage_error("--max-frames: expected 1 to %d, got '%s'", RP_MAX_FRAMES,
					    optarg);
			break;
		case OPT_DEBUG_DIR:
			if (c->ndebug == MAX_DEBUG_DIRS)
				usage_error("--debug-dir: at most %d directories", MAX_DEBUG_DIRS);
			if (!*optarg)
				usage_error("--debug-dir: expected a directory");
			c->debug_roots[c->ndebug++] = optarg;
			break;
		case OPT_UNWIND:
			if (!strcmp(optarg, "auto"))
				c->sess.unwind = UNWIND_AUTO;
			else if (!strcmp(optarg, "dwarf"))
				c->sess.unwind = UNWIND_DWARF;
			else if (!strcmp(optarg, "fp"))
				c->sess.unwind = UNWIND_FP;
			else if (!strcmp(optarg, "copy"))
				c->sess.unwind = UNWIND_COPY;
			else
				usage_error("--unwind: expected auto, dwarf, fp or copy, got '%s'", optarg);
			break;
		case OPT_PROBE_ONLY:
			c->sess.empty_programs = true;
			break;
		case 'v':
			rp_verbosity = 2;
			break;
		case 'q':
			rp_verbosity = 0;
			break;
		case 'V':
			printf("rsprobe %s\n", RSPROBE_VERSION);
			exit(0);
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option -%c", optopt);
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	c->debug_roots[c->ndebug] = "/usr/lib/debug";
	c->sess.debug_roots = c->debug_roots;
	if (optind < argc)
		c->sess.argv = &argv[optind];
	c->sess.pids = c->pids;
	if (c->sess.npids && c->sess.argv)
		usage_error("give either -p PID or a command after --, not both");
	if (c->sess.all && c->sess.sample_bytes)
		usage_error("--all records every allocation: it cannot be combined with --sample-bytes");
	if (!c->sess.npids && !c->sess.argv)
		usage_error("nothing to profile: give -p PID or -- CMD [ARG...]");
	if (c->sess.follow_forks && !c->sess.argv)
		usage_error("-f follows the children of a command run by rsprobe (-- CMD), not of -p");
	if (c->sess.follow_forks && c->sess.unwind == UNWIND_COPY)
		usage_error("--unwind copy follows one process: it cannot be combined with -f");
}

/*
 * CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21) for both. Root
 * is no exception: a container, or a capability bounding set, can leave
 * root without them, and the kernel's refusals would then read as a kernel
 * too old for the BPF ring buffer.
 */
static bool has_privileges(void)
{
	unsigned long long eff = 0;
	char line[256];
	bool bpf, perfmon;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	bpf = (eff >> 39 & 1) || (eff >> 21 & 1);
	perfmon = (eff >> 38 & 1) || (eff >> 21 & 1);
	if (bpf && perfmon)
		return true;
	if (geteuid() == 0)
		warn("running as root but without %s%s%s (a container, or a dropped capability "
		     "set): BPF programs cannot be loaded", bpf ? "" : "CAP_BPF",
		     bpf || perfmon ? "" : " and ", perfmon ? "" : "CAP_PERFMON");
	else
		warn("needs root, or CAP_BPF and CAP_PERFMON, to load BPF programs");
	return false;
}

static int check_kernel(void)
{
	/* RSPROBE_BTF_PATH: where to look for the kernel's BTF (tests use it). */
	const char *btf = getenv("RSPROBE_BTF_PATH") ?: "/sys/kernel/btf/vmlinux";

	if (access(btf, R_OK)) {
		warn("this kernel has no BTF (%s): rsprobe needs a kernel built with "
		     "CONFIG_DEBUG_INFO_BTF=y", btf);
		return -ENOTSUP;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		warn("this kernel has no BPF ring buffer: rsprobe needs Linux 5.8 or later");
		return -ENOTSUP;
	}
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK)) {
		warn("this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe): "
		     "rsprobe needs CONFIG_UPROBE_EVENTS=y");
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Open every output before profiling, so no capture is lost to a bad path.
 * Each report is written to a new file next to its destination, created with
 * O_EXCL (never through a link an attacker planted there), and renamed into
 * place once complete: a link at the destination is replaced, not followed,
 * and an existing report stays whole until the new one is.
 */
static int open_output(struct output *o)
{
	char *dir = xstrdup(o->path), *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : o->path;
	struct stat st;
	int fd, err;

	if (!lstat(o->path, &st) && S_ISDIR(st.st_mode)) {
		free(dir);
		return -EISDIR;
	}
	if (slash)
		slash[slash == dir] = 0;	/* "/x.json": the directory is "/" */
	o->tmp = xasprintf("%s/.%s.XXXXXX", slash ? dir : ".", base);
	free(dir);
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		err = -errno;
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		o->tmp = NULL;
		return err;
	}
	return 0;
}

static int open_outputs(struct cli *c)
{
	int i, err;

	for (i = 0; i < c->noutputs; i++) {
		err = open_output(&c->outputs[i]);
		if (err) {
			warn("cannot write %s: %s", c->outputs[i].path, strerror(-err));
			return err;
		}
	}
	return 0;
}

static void discard_outputs(struct cli *c)
{
	int i;

	for (i = 0; i < c->noutputs; i++) {
		struct output *o = &c->outputs[i];

		if (o->f)
			fclose(o->f);
		o->f = NULL;
		if (o->tmp)
			unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
	}
}

/* The report is complete: give it a file's usual mode and put it in place. */
static int finish_output(struct output *o)
{
	mode_t mask = umask(0);
	int err = 0;

	umask(mask);
	if (fflush(o->f) || fchmod(fileno(o->f), 0644 & ~mask) || fsync(fileno(o->f)))
		err = -errno;
	if (fclose(o->f) && !err)
		err = -errno;
	o->f = NULL;
	if (err)
		return err;
	if (rename(o->tmp, o->path)) {
		err = -errno;
		/* Complete but not in place: say where it is rather than lose it. */
		warn("cannot write %s: %s; the report is in %s", o->path, strerror(-err), o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		return err;
	}
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

static int write_outputs(struct cli *c, const struct model *m)
{
	int i, err = 0;

	if (!c->noutputs)
		return report_write(stdout, report_format_by_suffix(".txt"), m, &c->report);
	for (i = 0; i < c->noutputs; i++) {
		struct output *o = &c->outputs[i];
		int e;

		e = report_write(o->f, o->fmt, m, &c->report) ?: finish_output(o);
		if (!e) {
			info("wrote %s", o->path);
		} else if (o->tmp) {
			warn("writing %s failed: %s", o->path, strerror(-e));
		}
		err = err ?: e;
	}
	discard_outputs(c);	/* what is left is incomplete */
	return err;
}

static volatile sig_atomic_t rp_exiting;
static struct session *running;

static void on_signal(int sig)
{
	rp_exiting = 1;
	session__interrupt(running);
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Start the capture and run it until the targets are gone, -d passes or a
 * signal arrives; the live view is drawn between polls. The models hold
 * what was captured whatever ends it.
 */
static int capture(struct cli *c, struct session *s, struct live_view *live)
{
	uint64_t deadline, next_tick, now, until;
	int rc = 0, err;

	err = session__start(s);
	if (err)
		return err;
	/* -d counts from the start of recording, whatever setting up took. */
	deadline = c->duration_ns ? session__start_ns(s) + c->duration_ns : 0;
	next_tick = live ? mono_ns() + c->interval_ns : 0;
	while (!rp_exiting) {
		now = mono_ns();
		if (deadline && now >= deadline)
			break;
		if (next_tick && now >= next_tick) {
			live_view__tick(s, live);
			next_tick += c->interval_ns;
		}
		until = now + 100000000ULL;
		if (deadline && deadline < until)
			until = deadline;
		if (next_tick && next_tick < until)
			until = next_tick;
		rc = session__poll(s, (int)((until - now + 999999) / 1000000));
		if (rc < 0 || rc == SESSION_DONE)
			break;
	}
	err = session__stop(s);
	return rc < 0 ? rc : err;
}

/* What the daemon checks once, before it attaches anything. */
static int daemon_preflight(void)
{
	if (!has_privileges())
		return -EPERM;
	return check_kernel();
}

int main(int argc, char **argv)
{
	struct cli cli = {};
	struct session *s = NULL;
	struct live_view *live = NULL;
	int err, status, ret = 1;

	if (argc > 1 && !strcmp(argv[1], "diff"))
		return diff_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "daemon"))
		return daemon_main(argc - 1, argv + 1, daemon_preflight);
	parse_args(argc, argv, &cli);
	if (!has_privileges())
		return 1;
	if (check_kernel())
		return 1;
	if (open_outputs(&cli)) {
		discard_outputs(&cli);
		return 1;
	}
	if (cli.interval_ns) {
		live = live_view__new(stdout, cli.interval_ns, cli.report.top);
		cli.sess.measure_cost = true;
	}
	s = session__new(&cli.sess);
	if (!s) {
		discard_outputs(&cli);
		goto cleanup;
	}
	running = s;
	setup_signals();
	err = capture(&cli, s, live);
	if (err && !session__model(s)->totals.allocs && !session__model(s)->totals.frees) {
		discard_outputs(&cli);
		goto cleanup;
	}
	err = write_outputs(&cli, session__model(s)) ?: err;
	ret = err ? 1 : 0;
	session__wait_child(s);
	status = session__child_status(s);
	if (status >= 0 && !err)
		ret = status;
cleanup:
	session__free(s);
	live_view__free(live);
	return ret;
}
