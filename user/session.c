// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One profiling session: find the allocator in the target, load and attach
 * the BPF programs, launch or follow the target, drain the ring buffer into
 * the tracker until the session ends, then detach.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "elfobj.h"
#include "procmaps.h"
#include "rsprobe.skel.h"
#include "session.h"
#include "tracker.h"
#include "util.h"

volatile sig_atomic_t rp_exiting;

struct probe_target {
	char *path;		/* path to attach through */
	struct elf_object *obj;
};

struct session {
	struct session_opts opts;
	pid_t pid;
	bool launched;
	int child_status;	/* raw waitpid status, -1 while running */
	int go_fd, err_fd;	/* launch: release the child / learn exec failure */
	int pidfd;
	struct probe_target *targets;
	size_t ntargets, targets_cap;
	struct rsprobe_bpf *skel;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct ring_buffer *rb;
	struct symbolizer *sym;
	struct model *model;
	struct tracker tracker;
	int bad_events;
};

static const char *exe_path_of(pid_t pid, char *buf, size_t len)
{
	char fn[64];
	ssize_t n;

	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, buf, len - 1);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	return buf;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char fn[64];
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/comm", pid);
	buf[0] = 0;
	f = fopen(fn, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void add_target(struct session *s, const char *path, struct elf_object *o)
{
	ARR_RESERVE(s->targets, s->targets_cap, s->ntargets + 1);
	s->targets[s->ntargets].path = xstrdup(path);
	s->targets[s->ntargets].obj = o;
	s->ntargets++;
}

/* Every executable file mapping of the process that holds the shims. */
static int find_targets_pid(struct session *s)
{
	struct procmaps pm;
	char **seen = NULL;
	size_t nseen = 0, cap = 0, i, j;
	int err;

	err = procmaps__read(s->pid, &pm);
	if (err)
		return err;
	for (i = 0; i < pm.n; i++) {
		const struct mapping *m = &pm.maps[i];
		struct elf_object *o;
		char *open_path;
		bool dup = false;

		if (!m->exec || !m->path)
			continue;
		for (j = 0; j < nseen && !dup; j++)
			dup = !strcmp(seen[j], m->path);
		if (dup)
			continue;
		ARR_RESERVE(seen, cap, nseen + 1);
		seen[nseen++] = m->path;
		open_path = proc_path(s->pid, m->path);
		o = elf_object__open(m->path, open_path);
		if (o && elf_object__nshims(o))
			add_target(s, open_path, o);
		else
			elf_object__free(o);
		free(open_path);
	}
	free(seen);
	procmaps__free(&pm);
	return 0;
}

/* The command's path as execvp would find it. */
static char *resolve_command(const char *cmd)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0 ? realpath(cmd, NULL) : NULL;
	dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *dir ? dir : ".", cmd);
		struct stat st;

		if (access(p, X_OK) == 0 && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			char *r = realpath(p, NULL);

			free(p);
			free(dirs);
			return r;
		}
		free(p);
	}
	free(dirs);
	return NULL;
}

static const char *describe_shims(const struct elf_object *o)
{
	return o->shim_v0 ? "v0-mangled symbols" : "legacy symbols";
}

static int prepare_target(struct session *s)
{
	struct model *m = s->model;
	char buf[PATH_MAX];
	size_t i;

	if (s->launched) {
		char *exe = resolve_command(s->opts.argv[0]);
		struct elf_object *o;

		if (!exe) {
			warn("%s: command not found or not executable", s->opts.argv[0]);
			return -ENOENT;
		}
		m->target.exe = exe;
		o = elf_object__open(exe, exe);
		if (!o) {
			warn("%s: not an ELF executable (a script? profile the interpreter's "
			     "Rust program with -p instead)", exe);
			return -ENOEXEC;
		}
		if (elf_object__nshims(o))
			add_target(s, exe, o);
		else
			elf_object__free(o);
		snprintf(m->target.comm, sizeof(m->target.comm), "%s",
			 strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	} else {
		int err;

		if (kill(s->pid, 0) && errno == ESRCH) {
			warn("no such process: %d", s->pid);
			return -ESRCH;
		}
		err = find_targets_pid(s);
		if (err) {
			warn("cannot read the memory map of process %d: %s", s->pid, strerror(-err));
			return err;
		}
		m->target.exe = xstrdup(exe_path_of(s->pid, buf, sizeof(buf)) ?: "?");
		read_comm(s->pid, m->target.comm, sizeof(m->target.comm));
	}
	if (!s->ntargets) {
		warn("no Rust allocator symbols (__rust_alloc, __rust_dealloc, ...) in %s: "
		     "stripped, built with LTO, or not a Rust program; try --libc",
		     m->target.exe);
		return -ENOENT;
	}
	m->mode.source = "rust";
	for (i = 0; i < s->ntargets; i++) {
		const struct elf_object *o = s->targets[i].obj;
		char *prev = m->mode.source_reason;
		int k;

		for (k = 0; k < SHIM_MAX; k++) {
			if (!o->shim_unprobeable[k])
				continue;
			warn("cannot probe %s in %s: its first instruction has a LOCK or segment "
			     "prefix, which uprobes cannot step over (a #[global_allocator] inlined "
			     "into the shim); try --libc", shim_name(k), o->path);
			return -ENOTSUP;
		}

		m->mode.source_reason = xasprintf("%s%sRust allocator shims in %s (%d of 4, %s)",
						  prev ? prev : "", prev ? "; " : "", o->path,
						  elf_object__nshims(o), describe_shims(o));
		free(prev);
	}
	return 0;
}

struct session *session__new(const struct session_opts *opts)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->opts = *opts;
	s->pid = opts->pid;
	s->launched = opts->argv != NULL;
	s->child_status = -1;
	s->go_fd = s->err_fd = s->pidfd = -1;
	s->sym = symbolizer__new(0);
	s->model = model__new(s->sym);
	s->model->mode.all = true;
	tracker__init(&s->tracker, s->model);
	if (prepare_target(s)) {
		session__free(s);
		return NULL;
	}
	return s;
}

/* Fork the command, held before exec until the probes are in place. */
static int fork_child(struct session *s)
{
	int go[2], err[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(err[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* rsprobe gave up: never run unprofiled */
		execvp(s->opts.argv[0], s->opts.argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	s->go_fd = go[1];
	s->err_fd = err[0];
	s->pid = pid;
	return 0;
}

static int release_child(struct session *s)
{
	int e = 0;
	ssize_t n;

	if (write(s->go_fd, "g", 1) != 1)
		return -errno;
	close(s->go_fd);
	s->go_fd = -1;
	/* EOF: exec succeeded and closed the pipe; data: exec's errno. */
	n = read(s->err_fd, &e, sizeof(e));
	close(s->err_fd);
	s->err_fd = -1;
	if (n == sizeof(e)) {
		warn("cannot run %s: %s", s->opts.argv[0], strerror(e));
		return -e;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && rp_verbosity < 2)
		return 0;
	if (rp_verbosity < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int attach_one(struct session *s, struct bpf_program *prog, const char *path,
		      uint64_t off, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret);
	struct bpf_link *l;

	l = bpf_program__attach_uprobe_opts(prog, s->pid, path, off, &uo);
	if (!l)
		return -errno;
	ARR_RESERVE(s->links, s->links_cap, s->nlinks + 1);
	s->links[s->nlinks++] = l;
	return 0;
}

static int attach_all(struct session *s)
{
	struct rsprobe_bpf *k = s->skel;
	size_t i;
	int err = 0;

	for (i = 0; i < s->ntargets && !err; i++) {
		const char *p = s->targets[i].path;
		const uint64_t *off = s->targets[i].obj->shim_off;

		if (off[SHIM_ALLOC]) {
			err = err ?: attach_one(s, k->progs.rust_alloc, p, off[SHIM_ALLOC], false);
			err = err ?: attach_one(s, k->progs.rust_alloc_ret, p, off[SHIM_ALLOC], true);
		}
		if (off[SHIM_ALLOC_ZEROED]) {
			err = err ?: attach_one(s, k->progs.rust_alloc_zeroed, p,
						off[SHIM_ALLOC_ZEROED], false);
			err = err ?: attach_one(s, k->progs.rust_alloc_ret, p,
						off[SHIM_ALLOC_ZEROED], true);
		}
		if (off[SHIM_REALLOC]) {
			err = err ?: attach_one(s, k->progs.rust_realloc, p, off[SHIM_REALLOC], false);
			err = err ?: attach_one(s, k->progs.rust_realloc_ret, p, off[SHIM_REALLOC],
						true);
		}
		if (off[SHIM_DEALLOC])
			err = err ?: attach_one(s, k->progs.rust_dealloc, p, off[SHIM_DEALLOC], false);
		if (err)
			warn("cannot attach uprobes to %s: %s", p, strerror(-err));
	}
	return err;
}

static void detach_all(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		bpf_link__destroy(s->links[i]);
	s->nlinks = 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;

	if (tracker__event(&s->tracker, data, len))
		s->bad_events++;
	return 0;
}

static uint64_t ring_size(uint64_t want)
{
	uint64_t sz = 4096;

	/* The ring must be a power of two and a multiple of the page size. */
	while (sz < want)
		sz <<= 1;
	return sz;
}

static int load_bpf(struct session *s)
{
	int err;

	libbpf_set_print(libbpf_print);
	s->skel = rsprobe_bpf__open();
	if (!s->skel) {
		warn("cannot open the BPF object: %s", strerror(errno));
		return -errno;
	}
	s->skel->rodata->targ_tgid = (uint32_t)s->pid;
	s->skel->rodata->empty_programs = s->opts.empty_programs;
	s->skel->rodata->wakeup_bytes = ring_size(s->opts.ring_bytes) / 8;
	bpf_map__set_max_entries(s->skel->maps.events, (uint32_t)ring_size(s->opts.ring_bytes));
	err = rsprobe_bpf__load(s->skel);
	if (err) {
		warn("cannot load the BPF programs: %s (run with -v for the verifier log)",
		     strerror(-err));
		return err;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_event, s, NULL);
	if (!s->rb) {
		err = -errno;
		warn("cannot set up the ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

static void sum_counters(struct session *s, uint64_t sum[RP_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(s->skel->maps.counters);
	uint64_t *vals;
	uint32_t k;
	int c;

	memset(sum, 0, RP_CNT_MAX * sizeof(*sum));
	if (ncpu <= 0)
		return;
	vals = xcalloc(ncpu, sizeof(*vals));
	for (k = 0; k < RP_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (c = 0; c < ncpu; c++)
			sum[k] += vals[c];
	}
	free(vals);
}

uint64_t session__lost(struct session *s)
{
	uint64_t sum[RP_CNT_MAX];

	if (!s->skel)
		return 0;
	sum_counters(s, sum);
	return sum[RP_CNT_LOST] + sum[RP_CNT_PENDING_FULL];
}

uint64_t session__events(struct session *s)
{
	return s->tracker.events;
}

static void read_counters(struct session *s)
{
	uint64_t sum[RP_CNT_MAX];

	sum_counters(s, sum);
	s->model->totals.lost_events = sum[RP_CNT_LOST] + sum[RP_CNT_PENDING_FULL];
	s->model->totals.failed_allocs = sum[RP_CNT_ALLOC_FAILED];
	debug("%llu returns without their entry (calls in flight at start or end)",
	      (unsigned long long)sum[RP_CNT_NO_PENDING]);
	if (sum[RP_CNT_STACK_ERR])
		debug("%llu stacks could not be read", (unsigned long long)sum[RP_CNT_STACK_ERR]);
}

static bool target_gone(struct session *s)
{
	struct pollfd p;
	int st;

	if (s->launched) {
		if (s->child_status >= 0)
			return true;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->child_status = st;
			return true;
		}
		return false;
	}
	if (s->pidfd >= 0) {
		p.fd = s->pidfd;
		p.events = POLLIN;
		return poll(&p, 1, 0) > 0;
	}
	return kill(s->pid, 0) && errno == ESRCH;
}

static void collect(struct session *s)
{
	uint64_t deadline = s->opts.duration_ns ? mono_ns() + s->opts.duration_ns : 0;
	uint64_t next_tick = s->opts.tick_ns ? mono_ns() + s->opts.tick_ns : 0;
	int err;

	while (!rp_exiting) {
		if (next_tick && mono_ns() >= next_tick && s->opts.on_tick) {
			s->opts.on_tick(s, s->opts.tick_ctx);
			next_tick += s->opts.tick_ns;
		}
		err = ring_buffer__poll(s->rb, 50);
		if (err < 0 && err != -EINTR) {
			warn("ring buffer: %s", strerror(-err));
			break;
		}
		/* Events submitted without a wakeup sit until drained here. */
		ring_buffer__consume(s->rb);
		if (target_gone(s))
			break;
		if (deadline && mono_ns() >= deadline)
			break;
	}
}

int session__run(struct session *s)
{
	struct model *m = s->model;
	int err;

	if (s->launched) {
		err = fork_child(s);
		if (err) {
			warn("cannot start %s: %s", s->opts.argv[0], strerror(-err));
			return err;
		}
		m->target.pid = s->pid;
	} else {
		m->target.pid = s->pid;
		s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	}
	symbolizer__set_pid(s->sym, s->pid);

	err = load_bpf(s);
	if (!err)
		err = attach_all(s);
	if (err) {
		detach_all(s);
		if (s->launched) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &s->child_status, 0);
			s->child_status = -1;
		}
		return err;
	}
	s->skel->bss->recording = true;
	m->start_ns = mono_ns();
	if (s->launched) {
		err = release_child(s);
		if (err) {
			waitpid(s->pid, &s->child_status, 0);
			detach_all(s);
			return err;
		}
	}
	symbolizer__refresh_maps(s->sym);
	info("profiling pid %d (%s); Ctrl-C to stop", s->pid, m->target.comm);

	collect(s);

	s->skel->bss->recording = false;
	m->end_ns = mono_ns();
	detach_all(s);
	/* Probes are gone: what is in the ring now is all there is. */
	ring_buffer__consume(s->rb);
	read_counters(s);
	debug("events: %llu allocs, %llu frees, %llu reallocs",
	      (unsigned long long)s->tracker.by_type[RP_EV_ALLOC],
	      (unsigned long long)s->tracker.by_type[RP_EV_FREE],
	      (unsigned long long)s->tracker.by_type[RP_EV_REALLOC]);
	if (s->bad_events)
		warn("%d malformed events ignored", s->bad_events);
	tracker__finish(&s->tracker, m->end_ns);
	m->unsymbolized_frames = symbolizer__unsymbolized(s->sym);
	return 0;
}

struct model *session__model(struct session *s)
{
	return s->model;
}

void session__wait_child(struct session *s)
{
	if (!s->launched || s->child_status >= 0 || s->pid <= 0)
		return;
	while (waitpid(s->pid, &s->child_status, 0) < 0 && errno == EINTR)
		;
}

int session__child_status(struct session *s)
{
	int st = s->child_status;

	if (!s->launched || st < 0)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

void session__free(struct session *s)
{
	size_t i;

	if (!s)
		return;
	detach_all(s);
	free(s->links);
	ring_buffer__free(s->rb);
	rsprobe_bpf__destroy(s->skel);
	for (i = 0; i < s->ntargets; i++) {
		free(s->targets[i].path);
		elf_object__free(s->targets[i].obj);
	}
	free(s->targets);
	if (s->go_fd >= 0)
		close(s->go_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	tracker__free(&s->tracker);
	model__free(s->model);
	symbolizer__free(s->sym);
	free(s);
}
