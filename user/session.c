// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One profiling session: find the allocator in the target, load and attach
 * the BPF programs, launch or follow the target, drain the ring buffer into
 * the tracker until the session ends, then detach.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "elfobj.h"
#include "procmaps.h"
#include "rsprobe.skel.h"
#include "sampler.h"
#include "session.h"
#include "tracker.h"
#include "unwind.h"
#include "copyunwind.h"
#include "util.h"

/* What on_event returns to end a batch of the ring buffer early. */
#define RP_BATCH_END (-ECANCELED)

struct probe_target {
	char *path;		/* path to attach through */
	struct elf_object *obj;
};

enum layer { LAYER_RUST, LAYER_LIBC, LAYER_JEMALLOC, LAYER_MIMALLOC };

/* A process the capture records. */
struct session_target {
	pid_t pid;
	enum target_state state;
	char comm[32];
	char *exe;
	struct model *model;
};

struct session {
	struct session_opts opts;
	pid_t pid;
	struct session_target *procs;	/* the processes recorded */
	size_t nprocs;
	bool started, stopped;
	volatile sig_atomic_t interrupted;
	bool launched;
	bool proxied;		/* launch: argv[0] is a proxy that execs the program */
	bool use_ga;		/* rust layer: the #[global_allocator]'s methods */
	int child_status;	/* raw waitpid status, -1 while running */
	int go_fd, err_fd;	/* launch: release the child / learn exec failure */
	int pidfd;
	struct probe_target *cands;	/* objects that may hold an allocator */
	size_t ncands, cands_cap;
	struct probe_target **targets;	/* those probed, in the chosen layer */
	size_t ntargets, targets_cap;
	enum layer layer;
	struct rsprobe_bpf *skel;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct ring_buffer *rb;
	struct symbolizer *sym;
	struct unwinder *unwinder;
	bool dwarf;		/* BPF unwinds with CFI tables */
	struct copy_unwinder *copyunw;	/* --unwind copy: stacks unwound here */
	struct bpf_link *entry_link;	/* launch: stop at the entry point */
	struct bpf_link *exec_link;	/* behind a proxy: stop where an exec begins */
	uint64_t rescan_until;	/* the loader is changing the maps: look until then */
	uint32_t stops_handled;	/* launch: SIGSTOPs from the probes handled */
	uint64_t last_scan_ns;
	struct model *model;
	struct tracker tracker;
	int bad_events;
	uint64_t batch_end;	/* ring drain: hand control back to the loop then */
	uint32_t batch_events;
	bool draining;		/* probes removed: read the ring to its end */
	bool exec_armed;	/* attached: an execve of the target ends the capture */
	bool exec_seen;		/* it did: later events are the new image's */
	struct sampler sampler;	/* adaptive mode */
	bool adaptive;
	uint64_t last_interval_check;
};

/* Time allowed for fetching debug files from debuginfod servers, per session. */
#define DEBUGINFOD_BUDGET_NS (30 * 1000000000ULL)

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

/* A zombie or a kernel thread has no memory to profile: say which. */
static int check_user_process(pid_t pid)
{
	char fn[64], buf[1024], state = 0, *p;
	unsigned int flags = 0;
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* "pid (comm) state ppid pgrp session tty tpgid flags": comm may hold anything. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
		return 0;
	if (state == 'Z' || state == 'X') {
		warn("process %d has exited (a zombie its parent has not reaped): nothing to profile",
		     pid);
		return -ESRCH;
	}
	if (flags & 0x00200000) {	/* PF_KTHREAD */
		warn("process %d is a kernel thread: it has no user space to profile", pid);
		return -EINVAL;
	}
	return 0;
}

static void add_target(struct session *s, struct probe_target *t)
{
	ARR_RESERVE(s->targets, s->targets_cap, s->ntargets + 1);
	s->targets[s->ntargets++] = t;
}

static bool seen_path(struct session *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->ncands; i++)
		if (!strcmp(s->cands[i].obj->path, path))
			return true;
	return false;
}

static void add_candidate(struct session *s, const char *path, const char *open_path)
{
	struct elf_object *o;
	char *real = NULL;

	/* Before the program runs, paths are ours: name them as the maps will. */
	if (path == open_path && (real = realpath(path, NULL)))
		path = open_path = real;
	if (seen_path(s, path)) {
		free(real);
		return;
	}
	o = elf_object__open(path, open_path);
	if (o) {
		ARR_RESERVE(s->cands, s->cands_cap, s->ncands + 1);
		s->cands[s->ncands].path = xstrdup(open_path);
		s->cands[s->ncands].obj = o;
		s->ncands++;
	}
	free(real);
}

/* Every executable file mapping of the process: where an allocator may be. */
static int find_candidates_pid(struct session *s)
{
	struct procmaps pm;
	size_t i;
	int err;

	err = procmaps__read(s->pid, &pm);
	if (err)
		return err;
	for (i = 0; i < pm.n; i++) {
		const struct mapping *m = &pm.maps[i];
		char *open_path;

		if (!m->exec || !m->path || seen_path(s, m->path))
			continue;
		open_path = proc_map_path(s->pid, m);
		add_candidate(s, m->path, open_path);
		free(open_path);
	}
	procmaps__free(&pm);
	return 0;
}

/*
 * Before the program runs: the executable, the dynamic loader and every
 * library the loader will map (the whole DT_NEEDED closure), so that the
 * unwind tables are sized for all of them.
 */
static void find_candidates_exe(struct session *s, const char *exe)
{
	size_t i, j;

	add_candidate(s, exe, exe);
	/* The dynamic loader: its _dl_debug_state() announces every dlopen. */
	if (s->ncands && s->cands[0].obj->interp)
		add_candidate(s, s->cands[0].obj->interp, s->cands[0].obj->interp);
	/* The loader maps what LD_PRELOAD names first: it is part of the program. */
	if (s->ncands && getenv("LD_PRELOAD")) {
		char *list = xstrdup(getenv("LD_PRELOAD")), *tok, *save = NULL;

		for (tok = strtok_r(list, " :", &save); tok; tok = strtok_r(NULL, " :", &save)) {
			char *lib = strchr(tok, '/') ? xstrdup(tok) :
				    elf_object__resolve_needed(s->cands[0].obj, tok);

			if (lib && access(lib, R_OK) == 0)
				add_candidate(s, lib, lib);
			free(lib);
		}
		free(list);
	}
	/* Breadth first: s->cands grows while it is walked. */
	for (i = 0; i < s->ncands; i++) {
		for (j = 0; j < s->cands[i].obj->nneeded; j++) {
			char *lib = elf_object__resolve_needed(s->cands[i].obj,
							       s->cands[i].obj->needed[j]);

			if (lib)
				add_candidate(s, lib, lib);
			free(lib);
		}
	}
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

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

/*
 * rustup's proxies (~/.cargo/bin/rustc, cargo, ...) are links to rustup,
 * which picks a toolchain and execs its program: that program is what runs,
 * what gets diagnosed and what the header names. rustup says which one it
 * would run (`rustup which`, with the proxy's +toolchain argument). NULL when
 * exe is no such proxy.
 */
static char *resolve_proxy(const char *exe, char *const argv[])
{
	const char *name = base_name(argv[0]);
	char *av[6], out[PATH_MAX + 1], *nl, *real = NULL;
	int p[2], ac = 0, st, devnull;
	ssize_t n, got = 0;
	pid_t pid;

	if (strcmp(base_name(exe), "rustup") || !strcmp(name, "rustup"))
		return NULL;
	av[ac++] = "rustup";
	av[ac++] = "which";
	if (argv[1] && argv[1][0] == '+' && argv[1][1]) {
		av[ac++] = "--toolchain";
		av[ac++] = argv[1] + 1;
	}
	av[ac++] = (char *)name;
	av[ac] = NULL;
	if (pipe2(p, O_CLOEXEC))
		return NULL;
	pid = fork();
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (dup2(p[1], 1) < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		setenv("RUSTUP_AUTO_INSTALL", "0", 1);	/* a question, not an install */
		execv(exe, av);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && got < (ssize_t)sizeof(out) - 1 &&
	       ((n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	close(p[0]);
	if (pid < 0)
		return NULL;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	out[got] = 0;
	nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
	if (WIFEXITED(st) && !WEXITSTATUS(st) && out[0] == '/' && access(out, X_OK) == 0)
		real = realpath(out, NULL);
	debug("%s is a rustup proxy for %s", exe, real ? real : "(rustup which failed)");
	return real;
}

static const char *describe_shims(const struct elf_object *o)
{
	return o->shim_v0 ? "v0-mangled symbols" : "legacy symbols";
}

/* The first shim of o that no uprobe can be placed on, or -1. */
static int unprobeable_shim(const struct elf_object *o)
{
	int k;

	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_unprobeable[k])
			return k;
	return -1;
}

static int check_probeable(const struct elf_object *o)
{
	int k = unprobeable_shim(o);

	if (k < 0)
		return 0;
	warn("cannot probe %s in %s: %s (a #[global_allocator] inlined into the shim); "
	     "try --libc", shim_name(k), o->path, o->shim_why[k]);
	return -ENOTSUP;
}

/* Shims probed past their first instruction: say where, once. */
static void note_probe_points(struct model *m, const struct elf_object *o);

/* Append to the "why this layer" text every output carries. */
static void add_reason(struct model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_reason(struct model *m, const char *fmt, ...)
{
	char *prev = m->mode.source_reason, *add;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0)
		add = NULL;
	va_end(ap);
	m->mode.source_reason = xasprintf("%s%s%s", prev ? prev : "", prev ? "; " : "",
					  add ? add : "");
	free(prev);
	free(add);
}

/* The Rust shims in every object that has them. */
static int choose_rust(struct session *s)
{
	size_t i;
	int err;

	for (i = 0; i < s->ncands; i++) {
		const struct elf_object *o = s->cands[i].obj;

		if (!elf_object__nshims(o))
			continue;
		err = check_probeable(o);
		if (err)
			return err;
		add_target(s, &s->cands[i]);
		add_reason(s->model, "Rust allocator shims in %s (%d of 4, %s)", o->path,
			   elf_object__nshims(o), describe_shims(o));
		note_probe_points(s->model, o);
	}
	s->layer = LAYER_RUST;
	s->model->mode.source = "rust";
	return 0;
}

static void note_probe_points(struct model *m, const struct elf_object *o)
{
	int k;

	for (k = 0; k < SHIM_MAX; k++)
		if (o->shim_off[k] && o->shim_probe_off[k] != o->shim_off[k])
			add_reason(m, "%s probed %llu bytes in, past a LOCK-prefixed preamble that "
				   "leaves its arguments alone", shim_name(k),
				   (unsigned long long)(o->shim_probe_off[k] - o->shim_off[k]));
}

/* A shim in use that no probe can be placed on: why, for the layer below. */
static char *unprobeable_reason(const struct session *s)
{
	size_t i;

	for (i = 0; i < s->ncands; i++) {
		const struct elf_object *o = s->cands[i].obj;
		int k = unprobeable_shim(o);

		if (elf_object__nshims(o) && k >= 0)
			return xasprintf("%s in %s cannot be probed: %s", shim_name(k), o->path,
					 o->shim_why[k]);
	}
	return NULL;
}

static const struct lower_layer {
	const char *name;
	bool (*has)(const struct elf_object *o);
	const char *what;
} lower_layers[] = {
	[LAYER_LIBC] = { "libc", elf_object__has_libc_alloc, "C allocator" },
	[LAYER_JEMALLOC] = { "jemalloc", elf_object__has_jemalloc, "jemalloc" },
	[LAYER_MIMALLOC] = { "mimalloc", elf_object__has_mimalloc, "mimalloc" },
};

/* A layer below the shims, in every object that implements it. */
static int choose_lower(struct session *s, enum layer layer, const char *why)
{
	const struct lower_layer *l = &lower_layers[layer];
	size_t i;
	int k, n;

	for (i = 0; i < s->ncands; i++) {
		const struct elf_object *o = s->cands[i].obj;

		if (!l->has(o))
			continue;
		for (k = 0, n = 0; k < LIBC_MAX; k++)
			n += !!o->libc_off[k];
		add_target(s, &s->cands[i]);
		add_reason(s->model, "%s in %s (%d allocator functions)", l->what, o->path, n);
	}
	if (!s->ntargets) {
		warn("no %s functions found in %s or its libraries", l->what,
		     s->model->target.exe);
		return -ENOENT;
	}
	s->layer = layer;
	s->model->mode.source = l->name;
	add_reason(s->model, "%s", why);
	return 0;
}

static bool any_cand(const struct session *s, bool (*pred)(const struct elf_object *o))
{
	size_t i;

	for (i = 0; i < s->ncands; i++)
		if (pred(s->cands[i].obj))
			return true;
	return false;
}

/* Calls jemalloc: imports it, or is Rust code that has it linked in. */
static bool imports_jemalloc(const struct elf_object *o)
{
	return o->imports_jemalloc || (o->libc_off[JE_MALLOCX] && o->rust);
}

static bool imports_mimalloc(const struct elf_object *o)
{
	return o->imports_mimalloc || (o->libc_off[MI_MALLOC] && o->rust);
}

static bool is_rust(const struct elf_object *o)
{
	return o->rust || elf_object__nshims(o) > 0;
}

/* With the shims out of the way, the allocator the program's code calls. */
static enum layer backend_layer(const struct session *s)
{
	if (any_cand(s, imports_jemalloc) && any_cand(s, elf_object__has_jemalloc))
		return LAYER_JEMALLOC;
	if (any_cand(s, imports_mimalloc) && any_cand(s, elf_object__has_mimalloc))
		return LAYER_MIMALLOC;
	return LAYER_LIBC;
}

/* Why the shims do not carry the allocations: what the objects show. */
static char *bypass_reason(struct session *s)
{
	const char *exe = s->model->target.exe;
	size_t i;

	for (i = 0; i < s->ncands; i++) {
		struct elf_object *o = s->cands[i].obj;
		struct elf_sym *b;

		if (!elf_object__nshims(o))
			continue;
		if (!o->shim_off[SHIM_DEALLOC] || !o->shim_off[SHIM_ALLOC])
			return xasprintf("the Rust allocator shims of %s are partly gone (%s removed "
					 "by LTO)", o->path, o->shim_off[SHIM_ALLOC] ?
					 shim_name(SHIM_DEALLOC) : shim_name(SHIM_ALLOC));
		if (o->backend_refs) {
			const char *n;

			b = elf_object__lookup(o, o->backend_vaddr);
			n = b ? elf_sym__name(b) : "their backend";
			return xasprintf("the code of %s calls the allocator behind the Rust "
					 "allocator shims (%s) directly, %u times: %s", o->path, n,
					 o->backend_refs,
					 strstr(n, " as core::alloc::global::GlobalAlloc>::") ?
					 "LTO inlined the shims into their callers, or the "
					 "#[global_allocator] is defined in the program's own crate" :
					 "LTO inlined the shims into their callers");
		}
		return xasprintf("nothing in %s calls %s: the allocator is inlined into its "
				 "callers (LTO)", o->path, o->shim_refs[SHIM_DEALLOC] ?
				 shim_name(SHIM_ALLOC) : shim_name(SHIM_DEALLOC));
	}
	for (i = 0; i < s->ncands; i++)
		if (s->cands[i].obj->rust_stripped)
			return xasprintf("no Rust allocator shims in %s: a stripped Rust program "
					 "(no symbols; known as Rust by the std paths in its data)",
					 s->cands[i].obj->path);
	return xasprintf("%s %s", any_cand(s, is_rust) ?
			 "the Rust allocator shims are inlined away (LTO) in" :
			 "no Rust allocator shims (stripped, or not Rust) in", exe);
}

static bool ga_carries(const struct elf_object *o)
{
	return o->backend_refs && elf_object__ga_usable(o);
}

/*
 * The program's code calls its #[global_allocator]'s methods directly and
 * the shims only jump to them: every Rust allocation passes the methods.
 */
static int choose_ga(struct session *s)
{
	size_t i;
	int k;

	for (i = 0; i < s->ncands; i++) {
		struct elf_object *o = s->cands[i].obj;
		struct elf_sym *m;

		if (!ga_carries(o))
			continue;
		add_target(s, &s->cands[i]);
		m = elf_object__lookup(o, o->ga_vaddr[SHIM_ALLOC]);
		add_reason(s->model, "the #[global_allocator]'s methods in %s (%s and %d more): "
			   "the program's code calls them directly, %u times (LTO, or the "
			   "allocator is defined in the program's own crate), and the Rust "
			   "allocator shims only jump to them, so every Rust allocation passes "
			   "them", o->path, m ? elf_sym__name(m) : "alloc",
			   elf_object__nshims(o) - 1, o->backend_refs);
		for (k = 0; k < SHIM_MAX; k++) {
			uint64_t start = 0;

			m = o->ga_ok[k] ? elf_object__lookup(o, o->ga_vaddr[k]) : NULL;
			if (m && elf_object__vaddr_to_off(o, m->addr, &start) &&
			    start != o->ga_probe_off[k])
				add_reason(s->model, "%s probed %llu bytes in, past a LOCK-prefixed "
					   "preamble that leaves its arguments alone",
					   elf_sym__name(m),
					   (unsigned long long)(o->ga_probe_off[k] - start));
		}
	}
	s->use_ga = true;
	s->layer = LAYER_RUST;
	s->model->mode.source = "rust";
	return 0;
}

/* auto: a process with no Rust code anywhere is not ours to guess about. */
static int refuse_not_rust(struct session *s)
{
	const struct target_info *t = &s->model->target;

	if (s->launched)
		warn("%s is not a Rust program: no Rust code in it or in any library it loads; "
		     "profile its C allocator with --libc", t->exe);
	else
		warn("process %d (%s, %s) is not a Rust program: no Rust code in any object it "
		     "maps; profile its C allocator with --libc", s->pid, t->comm, t->exe);
	return -ENOENT;
}

static int choose_layer(struct session *s)
{
	const char *exe = s->model->target.exe;
	enum layer below;
	char *why, *unprobeable;
	int err;

	switch (s->opts.source) {
	case SOURCE_RUST:
		if (!any_cand(s, is_rust)) {
			warn("no Rust allocator symbols (__rust_alloc, __rust_dealloc, ...) in %s: "
			     "stripped, or not a Rust program; try --libc", exe);
			return -ENOENT;
		}
		if (!any_cand(s, elf_object__shims_in_use) && any_cand(s, ga_carries))
			return choose_ga(s);
		if (!any_cand(s, elf_object__shims_in_use)) {
			why = bypass_reason(s);
			warn("the Rust allocator shims are bypassed (never called by part of the "
			     "code): %s; "
			     "try --source auto", why);
			free(why);
			return -ENOENT;
		}
		return choose_rust(s);
	case SOURCE_LIBC:
		return choose_lower(s, LAYER_LIBC, "requested with --source libc");
	case SOURCE_JEMALLOC:
		return choose_lower(s, LAYER_JEMALLOC, "requested with --source jemalloc");
	case SOURCE_MIMALLOC:
		return choose_lower(s, LAYER_MIMALLOC, "requested with --source mimalloc");
	default:
		if (!any_cand(s, is_rust))
			return refuse_not_rust(s);
		unprobeable = any_cand(s, elf_object__shims_in_use) ? unprobeable_reason(s) : NULL;
		if (any_cand(s, elf_object__shims_in_use) && !unprobeable)
			return choose_rust(s);
		if (!any_cand(s, elf_object__shims_in_use) && any_cand(s, ga_carries))
			return choose_ga(s);
		below = backend_layer(s);
		if (unprobeable) {
			why = xasprintf("%s: every allocation reaches the %s through it", unprobeable,
					lower_layers[below].what);
			info("%s", unprobeable);
			free(unprobeable);
		} else {
			char *bypass = bypass_reason(s);

			why = xasprintf("%s: every allocation reaches the %s directly", bypass,
					lower_layers[below].what);
			free(bypass);
		}
		err = choose_lower(s, below, why);
		free(why);
		return err;
	}
}

static int prepare_target(struct session *s)
{
	struct model *m = s->model;
	char buf[PATH_MAX];

	if (s->launched) {
		char *exe = resolve_command(s->opts.argv[0]), *real;
		char *proxy = NULL;
		struct elf_object *o;

		if (!exe) {
			warn("%s: command not found or not executable", s->opts.argv[0]);
			return -ENOENT;
		}
		real = resolve_proxy(exe, s->opts.argv);
		if (real) {
			/* Said in every output's reason: errors stay one line. */
			proxy = exe;
			exe = real;
			s->proxied = true;
		}
		m->target.exe = exe;
		o = elf_object__open(exe, exe);
		if (!o) {
			warn("%s: not an ELF executable (a script? profile the interpreter's "
			     "Rust program with -p instead)", exe);
			free(proxy);
			return -ENOEXEC;
		}
		elf_object__free(o);
		find_candidates_exe(s, exe);
		snprintf(m->target.comm, sizeof(m->target.comm), "%s",
			 strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
		if (proxy) {
			add_reason(m, "%s, run by the rustup proxy %s, is the program profiled",
				   exe, proxy);
			free(proxy);
		}
	} else {
		int err;

		if (kill(s->pid, 0) && errno == ESRCH) {
			warn("no such process: %d", s->pid);
			return -ESRCH;
		}
		err = check_user_process(s->pid);
		if (err)
			return err;
		err = find_candidates_pid(s);
		if (err) {
			warn("cannot read the memory map of process %d: %s", s->pid, strerror(-err));
			return err;
		}
		m->target.exe = xstrdup(exe_path_of(s->pid, buf, sizeof(buf)) ?: "?");
		read_comm(s->pid, m->target.comm, sizeof(m->target.comm));
	}
	return choose_layer(s);
}

struct session *session__new(const struct session_opts *opts)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->opts = *opts;
	s->opts.pids = NULL;	/* the caller's array: not kept */
	if (opts->npids > 1) {
		warn("one process at a time: -p given %zu times", opts->npids);
		free(s);
		return NULL;
	}
	s->pid = opts->npids ? opts->pids[0] : 0;
	s->launched = opts->argv != NULL;
	s->child_status = -1;
	s->go_fd = s->err_fd = s->pidfd = -1;
	s->sym = symbolizer__new(0);
	symbolizer__set_debug_roots(s->sym, s->opts.debug_roots);
	s->model = model__new(s->sym);
	s->model->mode.all = opts->all;
	s->adaptive = !opts->all && !opts->sample_bytes;
	s->model->mode.adaptive = s->adaptive;
	s->model->mode.sample_bytes = opts->all ? 0 : opts->sample_bytes;
	s->model->mode.budget_pct = opts->budget_pct;
	s->model->mode.sampled = !opts->all && opts->sample_bytes;
	s->model->mode.sampled_fraction = 1;
	tracker__init(&s->tracker, s->model);
	s->tracker.max_live = opts->max_live;
	s->tracker.max_sites = opts->max_sites;
	if (prepare_target(s)) {
		session__free(s);
		return NULL;
	}
	s->unwinder = unwinder__new(s->pid);
	s->procs = xcalloc(1, sizeof(*s->procs));
	s->nprocs = 1;
	s->procs[0].pid = s->pid;
	s->procs[0].model = s->model;
	snprintf(s->procs[0].comm, sizeof(s->procs[0].comm), "%s", s->model->target.comm);
	s->procs[0].exe = xstrdup(s->model->target.exe ? s->model->target.exe : "?");
	return s;
}

/* Fork the command, held before exec until the probes are in place. */
static int fork_child(struct session *s)
{
	int go[2], err[2];
	pid_t pid, parent = getpid();

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
		/*
		 * If rsprobe dies while the program is held at a stop its probes
		 * asked for, the kernel continues it. The setting survives exec
		 * (not of set-user-ID or file-capability binaries) and fires when
		 * the forking thread exits: rsprobe's only thread.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGCONT) || getppid() != parent)
			_exit(127);
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

static int attach_cookie(struct session *s, struct bpf_program *prog, const char *path,
			 uint64_t off, bool ret, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = cookie);
	struct bpf_link *l;

	l = bpf_program__attach_uprobe_opts(prog, s->pid, path, off, &uo);
	if (!l)
		return -errno;
	ARR_RESERVE(s->links, s->links_cap, s->nlinks + 1);
	s->links[s->nlinks++] = l;
	return 0;
}

static int attach_one(struct session *s, struct bpf_program *prog, const char *path,
		      uint64_t off, bool ret)
{
	return attach_cookie(s, prog, path, off, ret, 0);
}

/* The #[global_allocator]'s methods, each told where its arguments are. */
static int attach_ga(struct session *s, const char *p, const struct elf_object *o)
{
	struct rsprobe_bpf *k = s->skel;
	struct bpf_program *entry[SHIM_MAX] = {
		[SHIM_ALLOC] = k->progs.rust_ga_alloc,
		[SHIM_ALLOC_ZEROED] = k->progs.rust_ga_alloc_zeroed,
		[SHIM_REALLOC] = k->progs.rust_ga_realloc,
		[SHIM_DEALLOC] = k->progs.rust_ga_dealloc,
	};
	struct bpf_program *ret[SHIM_MAX] = {
		[SHIM_ALLOC] = k->progs.rust_alloc_ret,
		[SHIM_ALLOC_ZEROED] = k->progs.rust_alloc_ret,
		[SHIM_REALLOC] = k->progs.rust_realloc_ret,
	};
	int sh, err = 0;

	for (sh = 0; sh < SHIM_MAX && !err; sh++) {
		if (!o->ga_ok[sh])
			continue;
		err = attach_cookie(s, entry[sh], p, o->ga_probe_off[sh], false, o->ga_cookie[sh]);
		if (!err && ret[sh])
			err = attach_one(s, ret[sh], p, o->ga_probe_off[sh], true);
	}
	return err;
}

/* off: where each shim's probes go (elf_object.shim_probe_off). */
static int attach_rust(struct session *s, const char *p, const uint64_t *off)
{
	struct rsprobe_bpf *k = s->skel;
	int err = 0;

	if (off[SHIM_ALLOC]) {
		err = err ?: attach_one(s, k->progs.rust_alloc, p, off[SHIM_ALLOC], false);
		err = err ?: attach_one(s, k->progs.rust_alloc_ret, p, off[SHIM_ALLOC], true);
	}
	if (off[SHIM_ALLOC_ZEROED]) {
		err = err ?: attach_one(s, k->progs.rust_alloc_zeroed, p, off[SHIM_ALLOC_ZEROED],
					false);
		err = err ?: attach_one(s, k->progs.rust_alloc_ret, p, off[SHIM_ALLOC_ZEROED], true);
	}
	if (off[SHIM_REALLOC]) {
		err = err ?: attach_one(s, k->progs.rust_realloc, p, off[SHIM_REALLOC], false);
		err = err ?: attach_one(s, k->progs.rust_realloc_ret, p, off[SHIM_REALLOC], true);
	}
	if (off[SHIM_DEALLOC])
		err = err ?: attach_one(s, k->progs.rust_dealloc, p, off[SHIM_DEALLOC], false);
	return err;
}

/* Entry and return programs of each allocator function below the shims. */
static void libc_progs(struct rsprobe_bpf *k, struct bpf_program *entry[LIBC_MAX],
		       struct bpf_program *ret[LIBC_MAX])
{
	memset(entry, 0, LIBC_MAX * sizeof(*entry));
	memset(ret, 0, LIBC_MAX * sizeof(*ret));
	entry[LIBC_MALLOC] = entry[MI_MALLOC] = k->progs.libc_malloc;
	entry[LIBC_CALLOC] = entry[MI_CALLOC] = k->progs.libc_calloc;
	entry[LIBC_ALIGNED_ALLOC] = k->progs.libc_aligned_alloc;
	entry[LIBC_POSIX_MEMALIGN] = k->progs.libc_posix_memalign;
	entry[LIBC_REALLOC] = entry[MI_REALLOC] = entry[MI_REALLOC_ALIGNED] = k->progs.libc_realloc;
	entry[LIBC_FREE] = entry[JE_DALLOCX] = entry[MI_FREE] = k->progs.libc_free;
	entry[JE_MALLOCX] = k->progs.je_mallocx;
	entry[JE_RALLOCX] = k->progs.je_rallocx;
	entry[JE_SDALLOCX] = k->progs.je_sdallocx;
	entry[MI_ZALLOC] = k->progs.mi_zalloc;
	entry[MI_MALLOC_ALIGNED] = k->progs.mi_malloc_aligned;
	entry[MI_ZALLOC_ALIGNED] = k->progs.mi_zalloc_aligned;
	ret[LIBC_MALLOC] = ret[LIBC_CALLOC] = ret[LIBC_ALIGNED_ALLOC] = k->progs.libc_alloc_ret;
	ret[JE_MALLOCX] = ret[MI_MALLOC] = ret[MI_ZALLOC] = ret[MI_CALLOC] = k->progs.libc_alloc_ret;
	ret[MI_MALLOC_ALIGNED] = ret[MI_ZALLOC_ALIGNED] = k->progs.libc_alloc_ret;
	ret[LIBC_POSIX_MEMALIGN] = k->progs.libc_posix_memalign_ret;
	ret[LIBC_REALLOC] = ret[MI_REALLOC] = ret[MI_REALLOC_ALIGNED] = k->progs.libc_realloc_ret;
	ret[JE_RALLOCX] = k->progs.libc_realloc_ret;
}

/*
 * Every allocator function the object defines. Aliases (mimalloc's malloc is
 * mi_malloc) share an address: one probe each, or every call counts twice.
 */
static int attach_libc(struct session *s, const char *p, const uint64_t *off)
{
	struct bpf_program *entry[LIBC_MAX], *ret[LIBC_MAX];
	int fn, other, err = 0;

	libc_progs(s->skel, entry, ret);
	for (fn = 0; fn < LIBC_MAX && !err; fn++) {
		bool dup = false;

		if (!off[fn])
			continue;
		for (other = 0; other < fn && !dup; other++)
			dup = off[other] == off[fn];
		if (dup)
			continue;
		err = attach_one(s, entry[fn], p, off[fn], false);
		if (!err && ret[fn])
			err = attach_one(s, ret[fn], p, off[fn], true);
	}
	return err;
}

/* A uprobe on the loader's _dl_debug_state(), where there is one. */
static void attach_dl_hook(struct session *s)
{
	size_t i;

	for (i = 0; i < s->ncands; i++) {
		uint64_t off = elf_object__func_offset(s->cands[i].obj, "_dl_debug_state");

		if (off && !attach_one(s, s->skel->progs.dl_debug_state, s->cands[i].path, off,
				       false))
			return;
	}
	debug("no dynamic loader hook: objects loaded later are found by polling");
}

/*
 * Attached: notice an execve of the target (its probes, tables and heap
 * belong to the old image). Not fatal: without it, an exec goes unseen.
 */
static void attach_exec_hook(struct session *s)
{
	struct bpf_link *l;

	if (s->launched)
		return;
	l = bpf_program__attach(s->skel->progs.on_exec);
	if (!l) {
		warn("cannot watch for exec (raw tracepoint sched_process_exec): %s; an exec of "
		     "the target would go unnoticed", strerror(errno));
		return;
	}
	ARR_RESERVE(s->links, s->links_cap, s->nlinks + 1);
	s->links[s->nlinks++] = l;
	s->exec_armed = true;
}

/* The target exec'd: close the old image's heap; the capture ends here. */
static void on_exec(struct session *s, uint64_t ts)
{
	if (s->exec_seen)
		return;
	s->exec_seen = true;
	s->model->exec_ns = ts ? ts : mono_ns();
	tracker__close_all(&s->tracker);
}

/*
 * Objects mapped since the start (dlopen): probe the ones that hold the
 * layer's allocator, and give every new one its unwind table and symbols.
 */
static void rescan_objects(struct session *s, bool sync)
{
	size_t before = s->ncands, i;

	s->last_scan_ns = mono_ns();
	if (find_candidates_pid(s) || (s->ncands == before && !sync))
		return;
	debug("rescan: %zu new objects", s->ncands - before);
	for (i = before; i < s->ncands; i++) {
		struct probe_target *t = &s->cands[i];
		int err;

		if (s->layer != LAYER_RUST || !elf_object__nshims(t->obj) ||
		    check_probeable(t->obj))
			continue;
		err = attach_rust(s, t->path, t->obj->shim_probe_off);
		if (err) {
			warn("cannot attach uprobes to %s: %s", t->path, strerror(-err));
			continue;
		}
		info("probing %s (loaded after the start)", t->obj->path);
		add_reason(s->model, "Rust allocator shims in %s, loaded after the start",
			   t->obj->path);
	}
	if (s->dwarf)
		unwinder__sync(s->unwinder);
	if (s->copyunw)
		copyunw__refresh(s->copyunw);
	symbolizer__refresh_maps(s->sym);
}

static int attach_all(struct session *s)
{
	size_t i;
	int err = 0;

	for (i = 0; i < s->ntargets && !err; i++) {
		const struct probe_target *t = s->targets[i];

		if (s->layer == LAYER_RUST && s->use_ga)
			err = attach_ga(s, t->path, t->obj);
		else if (s->layer == LAYER_RUST)
			err = attach_rust(s, t->path, t->obj->shim_probe_off);
		else
			err = attach_libc(s, t->path, t->obj->libc_off);
		if (err)
			warn("cannot attach uprobes to %s: %s", t->path, strerror(-err));
	}
	return err;
}

/* Launch mode: stop the program at its entry point to load its tables. */
static int attach_entry_stop(struct session *s)
{
	const struct elf_object *exe = NULL;
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	uint64_t off;
	size_t i;
	struct elf_object *o;
	char *interp;

	for (i = 0; i < s->ncands; i++)
		if (!strcmp(s->cands[i].obj->path, s->model->target.exe))
			exe = s->cands[i].obj;
	o = exe ? NULL : elf_object__open(s->model->target.exe, s->model->target.exe);
	if (!exe)
		exe = o;
	if (!exe || !exe->entry || !elf_object__vaddr_to_off(exe, exe->entry, &off)) {
		elf_object__free(o);
		return -ENOEXEC;
	}
	interp = s->proxied && exe->interp ? realpath(exe->interp, NULL) : NULL;
	elf_object__free(o);
	s->skel->bss->stop_at_entry = true;
	s->entry_link = bpf_program__attach_uprobe_opts(s->skel->progs.entry_stop, s->pid,
							s->model->target.exe, off, &uo);
	/*
	 * Behind a proxy, also stop where each exec begins (the loader's
	 * entry), to start recording when the program itself starts: its
	 * libraries' constructors run before its entry point.
	 */
	for (i = 0; interp && s->entry_link && i < s->ncands; i++) {
		const struct elf_object *ld = s->cands[i].obj;

		if (strcmp(ld->path, interp) || !ld->entry ||
		    !elf_object__vaddr_to_off(ld, ld->entry, &off))
			continue;
		s->exec_link = bpf_program__attach_uprobe_opts(s->skel->progs.entry_stop, s->pid,
							       s->cands[i].path, off, &uo);
		break;
	}
	free(interp);
	if (s->proxied && !s->exec_link)
		debug("no stop at the loader's entry: recording starts at %s's entry point",
		      s->model->target.exe);
	return s->entry_link ? 0 : -errno;
}

/*
 * Launch mode: the program stopped itself (at its entry point, or in the
 * loader after a dlopen) because a probe asked it to. Everything it maps is
 * in place: probe new objects, load tables and the layout, then continue.
 * A stop rsprobe did not ask for is left alone.
 */
static void handle_stop(struct session *s, int st)
{
	bool at_entry;

	if (WSTOPSIG(st) != SIGSTOP || s->stops_handled >= s->skel->bss->stops_sent)
		return;
	s->stops_handled++;
	rescan_objects(s, true);
	at_entry = s->entry_link && !s->skel->bss->stop_at_entry;
	/*
	 * Behind a proxy: the first entry stop in the program itself (the
	 * loader's, or its own) starts recording; until its own entry point
	 * the stops stay armed.
	 */
	if (at_entry && !s->skel->bss->recording) {
		char exe[PATH_MAX];

		if (exe_path_of(s->pid, exe, sizeof(exe)) && !strcmp(exe, s->model->target.exe))
			s->skel->bss->recording = true;
		s->skel->bss->stop_at_entry = true;
		at_entry = false;
	}
	/* At the entry stop the program waits: the time to fetch symbols. */
	if (at_entry)
		symbolizer__prefetch(s->sym, DEBUGINFOD_BUDGET_NS);
	symbolizer__preload(s->sym);
	kill(s->pid, SIGCONT);
	if (at_entry) {
		bpf_link__destroy(s->entry_link);
		bpf_link__destroy(s->exec_link);
		s->entry_link = s->exec_link = NULL;
	}
}

/* Launch mode: wait for the first stop (or the end) before collecting. */
static void sync_at_entry(struct session *s)
{
	uint32_t before;
	int st;

	/* Behind a proxy, the proxy's own dlopen stops may come first. */
	while (s->entry_link) {
		while (waitpid(s->pid, &st, WUNTRACED) < 0)
			if (errno != EINTR || s->interrupted)
				return;	/* the end of the session continues it */
		if (!WIFSTOPPED(st)) {
			s->child_status = st;	/* exited before reaching its entry point */
			return;
		}
		before = s->stops_handled;
		handle_stop(s, st);
		if (s->stops_handled == before)
			return;	/* not ours: the collect loop sees the rest */
	}
}

/*
 * Launch mode, at the end: no more stops, and a program held at one (or
 * about to be: a probe may have sent SIGSTOP just now) continues.
 */
static void release_stops(struct session *s)
{
	if (!s->launched || s->child_status >= 0 || s->pid <= 0)
		return;
	if (s->skel && s->skel->bss) {
		s->skel->bss->stop_at_entry = false;
		s->skel->bss->stop_on_dlopen = false;
	}
	bpf_link__destroy(s->entry_link);
	bpf_link__destroy(s->exec_link);
	s->entry_link = s->exec_link = NULL;
	kill(s->pid, SIGCONT);
}

static void detach_all(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		bpf_link__destroy(s->links[i]);
	s->nlinks = 0;
}

static void count_stack(struct session *s, const struct rp_event *e)
{
	struct model *m = s->model;

	if (e->type == RP_EV_REALLOC)
		return;
	m->stacks_info.taken++;
	m->stacks_info.dwarf += !!(e->flags & RP_F_DWARF);
	m->stacks_info.complete += !!(e->flags & RP_F_COMPLETE);
	m->stacks_info.truncated += !!(e->flags & RP_F_TRUNCATED);
	if (e->flags & RP_F_UNMAPPED) {
		m->stacks_info.unmapped++;
		/* Probably a new object (dlopen): its table, and its shims. */
		if (s->dwarf)
			unwinder__maybe_sync(s->unwinder, 100000000);
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;

	/*
	 * The loader announces a change before and after it maps a library; the
	 * event may be read before the mapping shows in /proc: keep looking for
	 * a little while.
	 */
	if (len >= RP_EVENT_HDR_SIZE && ((struct rp_event *)data)->type == RP_EV_MAPS) {
		s->rescan_until = mono_ns() + 300000000ULL;
		return 0;
	}
	/* Nothing after an exec is the old image's (BPF stops recording there). */
	if (s->exec_seen)
		return 0;
	if (len >= RP_EVENT_HDR_SIZE && ((struct rp_event *)data)->type == RP_EV_EXEC) {
		on_exec(s, ((struct rp_event *)data)->ts);
		return RP_BATCH_END;
	}
	/* --unwind copy: a stack, then the event it belongs to (RP_F_COPIED). */
	if (len >= sizeof(struct rp_stack_copy) &&
	    ((struct rp_stack_copy *)data)->type == RP_EV_STACK) {
		if (s->copyunw)
			copyunw__stack(s->copyunw, data, len);
		/*
		 * Unwinding a copy takes tens of microseconds, a clock read
		 * nothing beside it: the batch ends on time, so the sampler
		 * is not kept waiting while the ring fills.
		 */
		if (!s->draining && (s->interrupted || mono_ns() >= s->batch_end))
			return RP_BATCH_END;
		return 0;
	}
	if (s->copyunw && len >= RP_EVENT_HDR_SIZE && (((struct rp_event *)data)->flags & RP_F_COPIED))
		data = (void *)copyunw__fill(s->copyunw, data, &len);
	if (len >= RP_EVENT_HDR_SIZE)
		count_stack(s, data);

	if (tracker__event(&s->tracker, data, len))
		s->bad_events++;
	/*
	 * libbpf's ring_buffer__poll() and __consume() read for as long as
	 * producers keep the ring non-empty, which busy threads can do for
	 * minutes: end the batch from here so the loop sees its deadline and
	 * signals. The event is consumed; the ring keeps the rest, and what
	 * does not fit is counted as lost in BPF.
	 */
	if (!s->draining && !(++s->batch_events % 256) &&
	    (s->interrupted || mono_ns() >= s->batch_end))
		return RP_BATCH_END;
	return 0;
}

/* Drain the ring for at most budget_ns (less if the session ends first). */
static int drain(struct session *s, int timeout_ms, uint64_t budget_ns, uint64_t deadline)
{
	int err;

	s->batch_end = mono_ns() + budget_ns;
	if (deadline && deadline < s->batch_end)
		s->batch_end = deadline;
	err = timeout_ms >= 0 ? ring_buffer__poll(s->rb, timeout_ms) : ring_buffer__consume(s->rb);
	return err == RP_BATCH_END || err == -EINTR ? 0 : err;
}

static uint64_t ring_size(uint64_t want)
{
	uint64_t sz = 4096;

	/* The ring must be a power of two and a multiple of the page size. */
	while (sz < want)
		sz <<= 1;
	return sz;
}

/* Spare rows for objects mapped after the start (dlopen), at least: 16 MiB. */
#define UNWIND_SPARE_ROWS (1u << 20)

/*
 * Decide how stacks are unwound and size the unwind tables: DWARF needs
 * bpf_loop (Linux 5.17); otherwise, or with --unwind fp, frame pointers.
 */
static size_t plan_unwinding(struct session *s)
{
	const char *paths[RP_MAX_MAPS];
	struct procmaps pm = {};
	size_t i, n = 0, rows;
	bool have_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;

	if (s->opts.unwind == UNWIND_COPY) {
		s->dwarf = false;
		s->copyunw = copyunw__new(s->pid, s->opts.max_frames);
		if (!s->copyunw)
			warn("cannot set up unwinding in userspace: using frame pointers");
		/* Launched, the program is not exec'd yet: its entry stop looks. */
		else if (!s->launched)
			copyunw__refresh(s->copyunw);
		return 1;
	}
	s->dwarf = s->opts.unwind != UNWIND_FP && have_loop;
	if (s->opts.unwind == UNWIND_DWARF && !have_loop)
		warn("DWARF unwinding needs bpf_loop (Linux 5.17 or later): using frame pointers");
	if (!s->dwarf)
		return 1;
	if (s->launched) {
		/* Everything the loader will map, known before exec. */
		for (i = 0; i < s->ncands && n < ARRAY_SIZE(paths); i++)
			paths[n++] = s->cands[i].obj->path;
	} else if (!procmaps__read(s->pid, &pm)) {
		for (i = 0; i < pm.n && n < ARRAY_SIZE(paths); i++)
			if (pm.maps[i].exec && pm.maps[i].path)
				paths[n++] = proc_map_path(s->pid, &pm.maps[i]);
	}
	rows = unwinder__prepare(s->unwinder, paths, n);
	if (!s->launched)
		for (i = 0; i < n; i++)
			free((char *)paths[i]);
	procmaps__free(&pm);
	/* Room for what dlopen brings: a fixed floor, or a quarter more. */
	return rows + (rows / 4 > UNWIND_SPARE_ROWS ? rows / 4 : UNWIND_SPARE_ROWS);
}

/*
 * Load only the programs this session attaches: each one with the DWARF
 * unwinder takes the verifier a noticeable fraction of a second.
 */
static bool prog_needed(struct session *s, const struct bpf_program *p)
{
	struct bpf_program *entry[LIBC_MAX], *ret[LIBC_MAX];
	size_t i;
	int fn;

	libc_progs(s->skel, entry, ret);
	for (i = 0; i < s->ntargets; i++)
		for (fn = 0; fn < LIBC_MAX; fn++)
			if (s->targets[i]->obj->libc_off[fn] && (entry[fn] == p || ret[fn] == p))
				return true;
	return false;
}

static void disable_unused(struct session *s)
{
	struct bpf_program *p;
	bool rust = s->layer == LAYER_RUST;

	bpf_object__for_each_program(p, s->skel->obj) {
		const char *name = bpf_program__name(p);
		bool keep = rust ? !strncmp(name, "rust_", 5) : prog_needed(s, p);

		if (!strncmp(name, "rust_ga_", 8))
			keep = rust && s->use_ga;

		if (!strcmp(name, "entry_stop"))
			keep = s->launched && (s->dwarf || s->copyunw);
		if (!strcmp(name, "dl_debug_state"))
			keep = true;
		if (!strcmp(name, "on_exec"))
			keep = !s->launched;
		bpf_program__set_autoload(p, keep);
	}
}

static int load_bpf(struct session *s)
{
	size_t rows;
	int err;

	libbpf_set_print(libbpf_print);
	rows = plan_unwinding(s);
	s->skel = rsprobe_bpf__open();
	if (!s->skel) {
		warn("cannot open the BPF object: %s", strerror(errno));
		return -errno;
	}
	disable_unused(s);
	s->skel->rodata->targ_tgid = (uint32_t)s->pid;
	s->skel->rodata->empty_programs = s->opts.empty_programs;
	s->skel->rodata->use_dwarf = s->dwarf;
	s->skel->rodata->copy_stack = s->copyunw != NULL;
	if (s->opts.max_frames) {
		uint32_t room = 1;

		while (room < s->opts.max_frames)
			room <<= 1;
		s->skel->rodata->max_frames = s->opts.max_frames;
		s->skel->rodata->frames_mask = room - 1;
	}
	s->model->max_frames = s->skel->rodata->max_frames;
	s->skel->rodata->fixed_exact = s->opts.all;
	/*
	 * The shims never call each other; libc's realloc calls its malloc and
	 * free, and a GlobalAlloc's default realloc its own alloc and dealloc.
	 */
	s->skel->rodata->nested_calls = s->layer != LAYER_RUST || s->use_ga;
	if (s->opts.all)
		bpf_map__set_max_entries(s->skel->maps.sampled_ptrs, 1);
	s->skel->rodata->wakeup_bytes = ring_size(s->opts.ring_bytes) / 8;
	bpf_map__set_max_entries(s->skel->maps.events, (uint32_t)ring_size(s->opts.ring_bytes));
	bpf_map__set_max_entries(s->skel->maps.cfi_rows, (uint32_t)rows);
	err = rsprobe_bpf__load(s->skel);
	if (err) {
		warn("cannot load the BPF programs: %s (run with -v for the verifier log)",
		     strerror(-err));
		return err;
	}
	s->skel->bss->sample_bytes = s->model->mode.sample_bytes;
	if (s->dwarf) {
		err = unwinder__attach_maps(s->unwinder, bpf_map__fd(s->skel->maps.cfi_rows), rows,
					    bpf_map__fd(s->skel->maps.unwind_maps),
					    &s->skel->bss->maps_slot);
		if (err) {
			warn("cannot map the unwind tables: %s", strerror(-err));
			return err;
		}
	}
	s->model->stacks_info.method = s->copyunw ? "copy" : s->dwarf ? "dwarf" : "frame pointers";
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
	struct rp_percpu *vals;
	uint32_t zero = 0, k;
	int c;

	memset(sum, 0, RP_CNT_MAX * sizeof(*sum));
	if (ncpu <= 0)
		return;
	vals = xcalloc(ncpu, sizeof(*vals));
	if (!bpf_map_lookup_elem(fd, &zero, vals))
		for (c = 0; c < ncpu; c++)
			for (k = 0; k < RP_CNT_MAX; k++)
				sum[k] += vals[c].cnt[k];
	free(vals);
	/* The shims count an allocation at entry and take a failed one back. */
	if (s->layer == LAYER_RUST && !s->use_ga)
		sum[RP_CNT_ALLOCS] -= MIN(sum[RP_CNT_ALLOCS], sum[RP_CNT_ALLOC_FAILED]);
}

uint64_t session__lost(struct session *s)
{
	uint64_t sum[RP_CNT_MAX];

	if (!s->skel)
		return 0;
	sum_counters(s, sum);
	return sum[RP_CNT_LOST] + sum[RP_CNT_PENDING_FULL];
}

uint64_t session__capped(struct session *s)
{
	return s->tracker.capped;
}

void session__fill_live(struct session *s, struct model *m)
{
	tracker__fill_live(&s->tracker, m, s->stopped ? s->model->end_ns : mono_ns());
}

uint64_t session__events(struct session *s)
{
	return s->tracker.events;
}

/* The counts of every call, recorded or not, from BPF's counters. */
static void counter_totals(const uint64_t sum[RP_CNT_MAX], struct totals *t)
{
	t->allocs = sum[RP_CNT_ALLOCS];
	t->frees = sum[RP_CNT_FREES];
	t->reallocs = sum[RP_CNT_REALLOCS];
	t->bytes_allocated = sum[RP_CNT_BYTES_ALLOC];
	t->bytes_freed = sum[RP_CNT_BYTES_FREED];
	t->live_allocs = t->allocs > t->frees ? t->allocs - t->frees : 0;
	t->live_bytes = t->bytes_allocated > t->bytes_freed + sum[RP_CNT_BYTES_SHRUNK] ?
		t->bytes_allocated - t->bytes_freed - sum[RP_CNT_BYTES_SHRUNK] : 0;
}

void session__totals(struct session *s, struct totals *t)
{
	uint64_t sum[RP_CNT_MAX];

	*t = s->model->totals;
	if (!s->skel || !s->model->mode.sampled)
		return;
	sum_counters(s, sum);
	counter_totals(sum, t);
}

uint64_t session__sample_bytes(struct session *s)
{
	return s->skel ? s->skel->bss->sample_bytes : s->model->mode.sample_bytes;
}

double session__overhead_pct(struct session *s)
{
	return s->model->mode.overhead_pct;
}

/*
 * Adaptive mode: at the end of each period, the interval that keeps the
 * cost of recording within the budget.
 */
static void adapt(struct session *s)
{
	struct sampler_stats st;
	uint64_t sum[RP_CNT_MAX], now = mono_ns(), next;
	struct model *m = s->model;

	/* Other modes only measure, for the live view. */
	if ((!s->adaptive && !s->opts.measure_cost) ||
	    now - s->last_interval_check < s->sampler.period_ns / 4)
		return;
	s->last_interval_check = now;
	sum_counters(s, sum);
	st.calls = sum[RP_CNT_ALLOCS] + sum[RP_CNT_FREES] + sum[RP_CNT_REALLOCS];
	st.allocs = sum[RP_CNT_ALLOCS];
	st.returns = sum[RP_CNT_ALLOCS] + sum[RP_CNT_REALLOCS];
	st.bytes = sum[RP_CNT_BYTES_ALLOC];
	st.record_ns = sum[RP_CNT_SAMPLE_NS];
	st.events = sum[RP_CNT_RECORDED];
	st.drained = st.drain_ns = st.ring_copies = 0;
	debug("XXX t=%.1f ms lost %llu recorded %llu sample_bytes %llu", (now - s->model->start_ns) / 1e6, (unsigned long long)sum[RP_CNT_LOST], (unsigned long long)sum[RP_CNT_RECORDED], (unsigned long long)s->skel->bss->sample_bytes);
	if (s->copyunw) {
		copyunw__cost(s->copyunw, &st.drained, &st.drain_ns);
		/* Each copy takes its header and copy_bytes, plus the ring's own 8. */
		st.ring_copies = ring_size(s->opts.ring_bytes) /
				 (sizeof(struct rp_stack_copy) + s->skel->rodata->copy_bytes + 8);
	}
	/* --unwind copy: BPF switched to sampling itself, the ring half full. */
	if (s->adaptive && !s->sampler.interval && s->skel->bss->sample_bytes) {
		debug("sampling interval: %llu bytes, set in BPF (the ring is half full)",
		      (unsigned long long)s->skel->bss->sample_bytes);
		sampler__follow(&s->sampler, s->skel->bss->sample_bytes);
		m->mode.sampled = true;
	}
	/* Not adaptive: the sampler measures the interval in force, never changes it. */
	if (!s->adaptive)
		s->sampler.interval = s->skel->bss->sample_bytes;
	if (sampler__tick(&s->sampler, now, &st, &next) && s->adaptive) {
		debug("sampling interval: %llu bytes (recording cost %.1f%% of the traps')",
		      (unsigned long long)next, s->sampler.overhead * 100);
		s->skel->bss->sample_bytes = next;
		if (next)
			m->mode.sampled = true;
	}
	m->mode.overhead_pct = s->sampler.overhead * 100;
}

static void read_counters(struct session *s)
{
	uint64_t sum[RP_CNT_MAX];

	sum_counters(s, sum);
	s->model->totals.lost_events = sum[RP_CNT_LOST] + sum[RP_CNT_PENDING_FULL];
	debug("XXX lost %llu pending_full %llu", (unsigned long long)sum[RP_CNT_LOST], (unsigned long long)sum[RP_CNT_PENDING_FULL]);
	if (s->copyunw) {
		uint64_t n, ns;

		copyunw__cost(s->copyunw, &n, &ns);
		debug("unwound %llu copied stacks in userspace, %.1f us each",
		      (unsigned long long)n, n ? ns / 1e3 / n : 0.0);
	}
	s->model->totals.failed_allocs = sum[RP_CNT_ALLOC_FAILED];
	s->model->totals.sampled_full = sum[RP_CNT_SAMPLED_FULL];
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
		if (waitpid(s->pid, &st, WNOHANG | WUNTRACED) != s->pid)
			return false;
		if (WIFSTOPPED(st)) {
			handle_stop(s, st);
			return false;
		}
		s->child_status = st;
		return true;
	}
	if (s->pidfd >= 0) {
		p.fd = s->pidfd;
		p.events = POLLIN;
		return poll(&p, 1, 0) > 0;
	}
	return kill(s->pid, 0) && errno == ESRCH;
}

/*
 * How long to wait for events, and to read them at most before looking
 * around: short while the loader is changing the maps, and while the
 * adaptive mode records everything (a burst must be seen soon).
 */
static int poll_ms(struct session *s)
{
	if (mono_ns() < s->rescan_until)
		return 5;
	if (s->adaptive && !s->skel->bss->sample_bytes)
		return 10;
	return 50;
}

/* The state of each target; SESSION_DONE when none is running. */
static int look_after_targets(struct session *s)
{
	struct session_target *t = &s->procs[0];
	enum target_state was = t->state;

	if (t->state == TARGET_RUNNING && target_gone(s))
		t->state = TARGET_EXITED;
	/* BPF turns recording off at an exec, even with no room in the ring. */
	if (t->state == TARGET_RUNNING &&
	    (s->exec_seen || (s->exec_armed && !s->skel->bss->recording)))
		t->state = TARGET_EXECED;
	if (t->state != TARGET_RUNNING)
		return SESSION_DONE;
	return t->state != was ? SESSION_CHANGED : SESSION_RUNNING;
}

int session__poll(struct session *s, int timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ULL;
	int err, rc;

	if (!s->started || s->stopped)
		return -EINVAL;
	do {
		uint64_t now = mono_ns();
		int ms = poll_ms(s);

		if (now < end && (end - now) / 1000000ULL < (uint64_t)ms)
			ms = (int)((end - now) / 1000000ULL);
		err = drain(s, ms, (uint64_t)poll_ms(s) * 1000000ULL, end);
		/* Events submitted without a wakeup sit until drained here. */
		if (err >= 0 && !s->interrupted)
			err = drain(s, -1, (uint64_t)poll_ms(s) * 1000000ULL, end);
		if (err < 0) {
			warn("ring buffer: %s", strerror(-err));
			return err;
		}
		if (mono_ns() < s->rescan_until || mono_ns() - s->last_scan_ns > 1000000000ULL)
			rescan_objects(s, false);
		rc = look_after_targets(s);
		if (rc != SESSION_RUNNING)
			return rc;
		adapt(s);
	} while (!s->interrupted && mono_ns() < end);
	return SESSION_RUNNING;
}

void session__interrupt(struct session *s)
{
	if (s)
		s->interrupted = 1;
}

int session__add_target(struct session *s, pid_t pid)
{
	warn("cannot add process %d: this capture records one process", pid);
	return -ENOTSUP;
}

uint64_t session__start_ns(struct session *s)
{
	return s->model->start_ns;
}

size_t session__ntargets(struct session *s)
{
	return s->nprocs;
}

struct session_target *session__target(struct session *s, size_t i)
{
	return i < s->nprocs ? &s->procs[i] : NULL;
}

pid_t session_target__pid(const struct session_target *t)
{
	return t->pid;
}

const char *session_target__comm(const struct session_target *t)
{
	return t->comm;
}

const char *session_target__exe(const struct session_target *t)
{
	return t->exe ? t->exe : "?";
}

enum target_state session_target__state(const struct session_target *t)
{
	return t->state;
}

struct model *session_target__model(struct session_target *t)
{
	return t->model;
}

/*
 * When sampling was in force, the model's totals are weighted estimates:
 * replace the counts with BPF's, which saw every call. Bytes freed come
 * from the allocator's arguments, which only the Rust shims (and jemalloc's
 * sdallocx) give: elsewhere they stay estimates.
 */
static void exact_totals(struct session *s)
{
	struct model *m = s->model;
	uint64_t sum[RP_CNT_MAX];
	struct totals c;

	if (s->model->mode.all || !s->model->mode.sampled)
		return;
	sum_counters(s, sum);
	counter_totals(sum, &c);
	m->mode.sampled_fraction = c.allocs ? (double)s->tracker.by_type[RP_EV_ALLOC] / c.allocs : 1;
	if (m->mode.sampled_fraction > 1)
		m->mode.sampled_fraction = 1;
	m->totals.allocs = c.allocs;
	m->totals.frees = c.frees;
	m->totals.reallocs = c.reallocs;
	m->totals.live_allocs = c.live_allocs;
	if (s->layer == LAYER_RUST) {
		m->totals.bytes_allocated = c.bytes_allocated;
		m->totals.bytes_freed = c.bytes_freed;
		m->totals.live_bytes = c.live_bytes;
	}
	/* The old image's heap was closed at its exec: nothing of it is live. */
	if (m->exec_ns) {
		/* BPF stopped counting at the exec: its counts are exact there. */
		m->totals.closed_by_exec = c.live_allocs;
		if (s->layer == LAYER_RUST)
			m->totals.closed_by_exec_bytes = c.live_bytes;
		m->totals.live_allocs = m->totals.live_bytes = 0;
	}
}

int session__start(struct session *s)
{
	struct model *m = s->model;
	uint64_t t0;
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
	s->procs[0].pid = s->pid;
	symbolizer__set_pid(s->sym, s->pid);
	unwinder__set_pid(s->unwinder, s->pid);
	/* Attached: before any probe, so nothing waits in the ring meanwhile. */
	if (!s->launched)
		symbolizer__prefetch(s->sym, DEBUGINFOD_BUDGET_NS);
	sampler__init(&s->sampler, s->pid, s->opts.budget_pct);

	t0 = mono_ns();
	err = load_bpf(s);
	debug("BPF programs loaded in %.0f ms", (mono_ns() - t0) / 1e6);
	if (!err)
		err = attach_all(s);
	if (!err) {
		attach_dl_hook(s);
		attach_exec_hook(s);
		/* Only as the parent: nobody else waits for the program's stops. */
		s->skel->bss->stop_on_dlopen = s->launched;
	}
	/* Not fatal: without tables, events that meet unknown code ask for them. */
	if (!err && s->copyunw && s->launched && attach_entry_stop(s) < 0)
		debug("objects will be found at the first stack");
	if (!err && s->dwarf && (s->launched ? attach_entry_stop(s) : unwinder__sync(s->unwinder)) < 0)
		debug("unwind tables will be loaded lazily");
	if (err) {
		detach_all(s);
		if (s->launched) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &s->child_status, 0);
			s->child_status = -1;
		}
		return err;
	}
	if (!s->launched)
		symbolizer__preload(s->sym);
	/* A proxy's own allocations are not the program's: from its entry on. */
	s->skel->bss->recording = !(s->proxied && s->entry_link);
	m->start_ns = mono_ns();
	if (s->launched) {
		err = release_child(s);
		if (err) {
			waitpid(s->pid, &s->child_status, 0);
			detach_all(s);
			return err;
		}
		sync_at_entry(s);
	}
	symbolizer__refresh_maps(s->sym);
	info("profiling pid %d (%s); Ctrl-C to stop", s->pid, m->target.comm);
	s->started = true;
	return 0;
}

int session__stop(struct session *s)
{
	struct model *m = s->model;

	if (!s->started || s->stopped)
		return 0;
	s->stopped = true;
	/*
	 * Everything in the ring before the exec's event is the old image's:
	 * read it all (up to that event) before closing its heap.
	 */
	if (s->exec_armed && !s->exec_seen && !s->skel->bss->recording) {
		s->draining = true;
		ring_buffer__consume(s->rb);
		s->draining = false;
		on_exec(s, 0);
	}

	s->skel->bss->recording = false;
	m->end_ns = mono_ns();
	release_stops(s);
	detach_all(s);
	debug("probes removed in %.0f ms", (mono_ns() - m->end_ns) / 1e6);
	/* Probes are gone: what is in the ring now is all there is. */
	s->draining = true;
	ring_buffer__consume(s->rb);
	read_counters(s);
	debug("events: %llu allocs, %llu frees, %llu reallocs",
	      (unsigned long long)s->tracker.by_type[RP_EV_ALLOC],
	      (unsigned long long)s->tracker.by_type[RP_EV_FREE],
	      (unsigned long long)s->tracker.by_type[RP_EV_REALLOC]);
	if (s->bad_events)
		warn("%d malformed events ignored", s->bad_events);
	tracker__finish(&s->tracker, m->end_ns);
	exact_totals(s);
	if (s->adaptive)
		m->mode.sample_bytes = s->skel->bss->sample_bytes;
	m->mode.sample_bytes_min = s->sampler.min_interval;
	m->mode.sample_bytes_max = s->sampler.max_interval;
	if (s->opts.sample_bytes && !s->opts.all) {
		m->mode.sample_bytes_min = m->mode.sample_bytes_max = s->opts.sample_bytes;
	}
	m->unsymbolized_frames = symbolizer__unsymbolized(s->sym);
	if (s->unwinder && unwinder__full_at(s->unwinder) && !m->tables_full)
		m->tables_full = xstrdup(unwinder__full_at(s->unwinder));
	return 0;
}

struct model *session__model(struct session *s)
{
	return s->model;
}

void session__wait_child(struct session *s)
{
	int st;

	if (!s->launched || s->child_status >= 0 || s->pid <= 0)
		return;
	release_stops(s);
	for (;;) {
		if (waitpid(s->pid, &st, WUNTRACED) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (!WIFSTOPPED(st)) {
			s->child_status = st;
			return;
		}
		/* A stop our probes sent before they were removed: continue it. */
		if (WSTOPSIG(st) == SIGSTOP && s->skel && s->stops_handled < s->skel->bss->stops_sent) {
			s->stops_handled++;
			kill(s->pid, SIGCONT);
		}
	}
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
	release_stops(s);
	detach_all(s);
	bpf_link__destroy(s->entry_link);
	bpf_link__destroy(s->exec_link);
	free(s->links);
	ring_buffer__free(s->rb);
	rsprobe_bpf__destroy(s->skel);
	for (i = 0; i < s->ncands; i++) {
		free(s->cands[i].path);
		elf_object__free(s->cands[i].obj);
	}
	free(s->cands);
	free(s->targets);
	for (i = 0; i < s->nprocs; i++)
		free(s->procs[i].exe);
	free(s->procs);
	if (s->go_fd >= 0)
		close(s->go_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	tracker__free(&s->tracker);
	sampler__free(&s->sampler);
	model__free(s->model);
	symbolizer__free(s->sym);
	unwinder__free(s->unwinder);
	copyunw__free(s->copyunw);
	free(s);
}
