// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One capture: its targets found (discovery.c), the layer chosen (layer.c),
 * the command launched (launch.c), the probes loaded and attached
 * (probes.c); the ring read into the tracker while the caller polls, the
 * targets looked after, and at the end the models made final.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "discovery.h"
#include "elfobj.h"
#include "hashmap.h"
#include "launch.h"
#include "layer.h"
#include "probes.h"
#include "procmaps.h"
#include "sampler.h"
#include "session.h"
#include "tracker.h"
#include "unwind.h"
#include "copyunwind.h"
#include "util.h"

/* What on_event returns to end a batch of the ring buffer early. */
#define RP_BATCH_END (-ECANCELED)

/* Where a range of a target's addresses sits in the first target's layout. */
struct xrange {
	uint64_t start, end;	/* [start, end) in the target */
	int64_t delta;		/* add to land in the first target's layout */
};

/*
 * A mapping of an object the first target does not map, given a range of
 * its own where no user address can be (bit 62 set, 63 clear: not canonical
 * on x86-64, above 52-bit user space on arm64): frames there are symbolized
 * from the file. One per file and range of it, whichever targets map it.
 */
struct placement {
	dev_t dev;
	uint64_t inode, offset, len;
	uint64_t start;
};
#define PLACED_BASE (1ULL << 62)

/* A process the capture records. */
struct session_target {
	pid_t pid;
	enum target_state state;
	char comm[32];
	char *exe;
	uint32_t index;		/* in procs: its pointers' tag */
	uint32_t slot;		/* its object tables (RP_MAX_TARGETS: none), given back at exit */
	bool left;		/* gone, and out of the targets map */
	int pidfd;
	bool exec_seen;		/* its exec was read: later events are the new image's */
	unsigned int execs;	/* execs followed */
	bool held;		/* -f: stopped by BPF at a loader change, for its tables */
	/*
	 * Beyond the first target: its code addresses moved into the first
	 * one's layout, where the symbolizer knows them (sorted by start).
	 */
	struct xrange *x;
	size_t nx;
	uint64_t unplaced;	/* frames in no executable mapping of a file */
};

/* Pointers of the targets after the first are told apart by their top bits. */
#define TAG_SHIFT 48
#define TAG_MASK (0xffffULL << TAG_SHIFT)

struct session {
	struct session_opts opts;
	pid_t *pids;		/* attach: the processes asked for */
	pid_t pid;		/* the first target: the symbolizer's layout is its */
	struct session_target *procs;	/* the processes recorded */
	size_t nprocs;
	struct u64map bypid;	/* pid -> index in procs, while it is a target */
	uint64_t slots;		/* object table slots in use (a bit each) */
	uint32_t max_slots;
	bool started, stopped;
	volatile sig_atomic_t interrupted;
	bool launched;
	bool shared;		/* several targets: probes on files, BPF filters */
	bool follow;		/* -f: the command's children are targets */
	bool first_exec_seen;	/* -f: the launched command's own exec (not a new program) */
	bool fork_warned;
	/*
	 * The target whose layout the symbolizer knows (frames of the others
	 * are moved into it), and that layout as last read: it stays usable
	 * after that process is gone.
	 */
	uint32_t primary;
	bool primary_rust;	/* -f: it runs Rust code (else the first that does takes over) */
	struct procmaps pmaps;
	bool pmaps_valid;
	struct placement *placed;	/* the others' objects it does not map */
	size_t nplaced, placed_cap;
	uint64_t placed_next;
	bool proxied;		/* launch: argv[0] is a proxy that execs the program */
	bool use_ga;		/* rust layer: the #[global_allocator]'s methods */
	int child_status;	/* raw waitpid status, -1 while running */
	struct child child;	/* launch mode */
	struct objects objs;	/* objects that may hold an allocator */
	size_t *probed;		/* those probed in the chosen layer (indexes into objs) */
	size_t nprobed, probed_cap;
	enum layer layer;
	struct probes *probes;
	struct symbolizer *sym;
	struct unwinder *unwinder;
	bool dwarf;		/* BPF unwinds with CFI tables */
	size_t unwind_rows;	/* RSPROBE_UNWIND_ROWS: the rows map's size, 0: sized here */
	struct copy_unwinder *copyunw;	/* --unwind copy: stacks unwound here */
	uint64_t rescan_until;	/* the loader is changing the maps: look until then */
	uint32_t stops_handled;	/* launch: SIGSTOPs from the probes handled */
	uint64_t last_scan_ns;
	uint64_t last_prune_ns;
	size_t nleft;		/* targets that left the capture */
	struct model *model;
	struct tracker tracker;
	int bad_events;
	uint64_t batch_end;	/* ring drain: hand control back to the loop then */
	uint32_t batch_events;
	bool draining;		/* probes removed: read the ring to its end */
	bool exec_armed;	/* attached: an execve of a target ends its capture */
	struct rp_event evbuf;	
	/*
	 * Attached: objects probed after the start (dlopen), and the frees seen
	 * in them of allocations never seen (made before their probes were in).
	 */
	struct late_obj {
		char *path;
		uint64_t unseen_frees;
	} *late;
	size_t nlate, late_cap;	/* an event moved to the first target's layout */
	struct sampler sampler;	/* adaptive mode */
	bool adaptive;
	uint64_t last_interval_check;
};

/* Time allowed for fetching debug files from debuginfod servers, per session. */
#define DEBUGINFOD_BUDGET_NS (30 * 1000000000ULL)

static void add_probed(struct session *s, size_t i)
{
	ARR_RESERVE(s->probed, s->probed_cap, s->nprobed + 1);
	s->probed[s->nprobed++] = i;
}

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

/* The allocation layer (layer.c), from every object found. */
static int choose_layer(struct session *s)
{
	struct elf_object **objs = xcalloc(s->objs.n + 1, sizeof(*objs));
	struct layer_target lt = {
		.exe = s->model->target.exe,
		.comm = s->model->target.comm,
		.pid = s->pid,
		.launched = s->launched,
	};
	struct layer_choice c;
	size_t i;
	int err;

	for (i = 0; i < s->objs.n; i++)
		objs[i] = s->objs.v[i].obj;
	err = layer__choose(objs, s->objs.n, s->opts.source, &lt, &c);
	free(objs);
	if (err && s->follow && s->opts.source == SOURCE_AUTO) {
		/* -f: the command may be a shell or cargo; the Rust programs it runs count. */
		add_reason(s->model, "%s is not profiled itself (%s): with -f, the Rust programs "
			   "it runs are", s->model->target.exe, c.error);
		layer_choice__free(&c);
		s->layer = LAYER_RUST;
		s->model->mode.source = "rust";
		return 0;
	}
	if (err) {
		warn("%s", c.error);
		layer_choice__free(&c);
		return err;
	}
	if (c.note)
		info("%s", c.note);
	for (i = 0; i < c.nchosen; i++)
		add_probed(s, c.chosen[i]);
	s->layer = c.layer;
	s->use_ga = c.use_ga;
	s->model->mode.source = c.source;
	if (c.reason)
		add_reason(s->model, "%s", c.reason);
	layer_choice__free(&c);
	return 0;
}

/* A process to attach to: it exists, has a user space, and its objects are known. */
static int check_process(struct session *s, pid_t pid)
{
	int err;

	if (kill(pid, 0) && errno == ESRCH) {
		warn("no such process: %d", pid);
		return -ESRCH;
	}
	err = proc_check_user(pid);
	if (err)
		return err;
	err = objects__add_pid(&s->objs, pid);
	if (err)
		warn("cannot read the memory map of process %d: %s", pid, strerror(-err));
	return err;
}

static int prepare_target(struct session *s)
{
	struct model *m = s->model;
	char buf[PATH_MAX];

	if (s->launched) {
		char *exe = launch__resolve(s->opts.argv[0]), *real;
		char *proxy = NULL;
		struct elf_object *o;

		if (!exe) {
			warn("%s: command not found or not executable", s->opts.argv[0]);
			return -ENOENT;
		}
		real = launch__resolve_proxy(exe, s->opts.argv);
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
		objects__add_exe(&s->objs, exe);
		snprintf(m->target.comm, sizeof(m->target.comm), "%s",
			 strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
		if (proxy) {
			add_reason(m, "%s, run by the rustup proxy %s, is the program profiled",
				   exe, proxy);
			free(proxy);
		}
	} else {
		size_t i;
		int err;

		for (i = 0; i < s->opts.npids; i++) {
			err = check_process(s, s->pids[i]);
			if (err)
				return err;
		}
		m->target.exe = xstrdup(proc_exe(s->pid, buf, sizeof(buf)) ?: "?");
		proc_comm(s->pid, m->target.comm, sizeof(m->target.comm));
	}
	return choose_layer(s);
}

_Static_assert(RP_MAX_TARGETS <= 64, "object table slots: one bit each");

/* The lowest object table slot free, RP_MAX_TARGETS when none is. */
static uint32_t slot_take(struct session *s)
{
	uint32_t i;

	for (i = 0; i < s->max_slots; i++)
		if (!(s->slots & (1ULL << i))) {
			s->slots |= 1ULL << i;
			return i;
		}
	return RP_MAX_TARGETS;
}

static void slot_give(struct session *s, uint32_t slot)
{
	if (slot < RP_MAX_TARGETS)
		s->slots &= ~(1ULL << slot);
}

static void add_proc(struct session *s, pid_t pid, const char *comm, const char *exe)
{
	struct session_target *t;

	s->procs = xrealloc(s->procs, (s->nprocs + 1) * sizeof(*s->procs));
	t = &s->procs[s->nprocs];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->index = (uint32_t)s->nprocs++;
	t->slot = slot_take(s);
	u64map_put(&s->bypid, (uint32_t)pid, t->index);
	t->pidfd = -1;
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	t->exe = xstrdup(exe ? exe : "?");
}

struct session *session__new(const struct session_opts *opts)
{
	struct session *s = xcalloc(1, sizeof(*s));
	size_t i;

	s->opts = *opts;
	s->opts.pids = NULL;	/* the caller's array: a copy is kept */
	if (opts->npids > RP_MAX_TARGETS) {
		warn("at most %d processes in one capture, not %zu", RP_MAX_TARGETS, opts->npids);
		free(s);
		return NULL;
	}
	if (opts->npids > 1 && opts->unwind == UNWIND_COPY) {
		warn("--unwind copy follows one process: give one -p");
		free(s);
		return NULL;
	}
	if (getenv("RSPROBE_UNWIND_ROWS")) {
		const char *v = getenv("RSPROBE_UNWIND_ROWS");
		char *end;
		unsigned long long n = strtoull(v, &end, 10);

		if (!*v || *end || !n || n > UINT32_MAX || *v == '-') {
			warn("RSPROBE_UNWIND_ROWS=%s: not a number of rows (1 to %u)", v,
			     UINT32_MAX);
			free(s);
			return NULL;
		}
		s->unwind_rows = (size_t)n;
	}
	s->pids = xcalloc(opts->npids + 1, sizeof(*s->pids));
	if (opts->npids)
		memcpy(s->pids, opts->pids, opts->npids * sizeof(*s->pids));
	s->pid = opts->npids ? opts->pids[0] : 0;
	s->follow = opts->follow_forks && opts->argv;
	s->shared = opts->npids > 1 || s->follow;
	s->launched = opts->argv != NULL;
	s->child_status = -1;
	s->child.go_fd = s->child.err_fd = -1;
	u64map_init(&s->bypid);
	/* Object tables for every target when targets may be more than one. */
	s->max_slots = s->shared || !s->launched ? RP_MAX_TARGETS : 1;
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
	add_proc(s, s->pid, s->model->target.comm, s->model->target.exe);
	for (i = 1; i < s->opts.npids; i++) {
		char comm[32], exe[PATH_MAX];

		proc_comm(s->pids[i], comm, sizeof(comm));
		add_proc(s, s->pids[i], comm, proc_exe(s->pids[i], exe, sizeof(exe)));
	}
	return s;
}

/* A uprobe on the loader's _dl_debug_state(), where there is one. */
static void attach_dl_hook(struct session *s, pid_t pid)
{
	size_t i;

	for (i = 0; i < s->objs.n; i++) {
		uint64_t off = elf_object__func_offset(s->objs.v[i].obj, "_dl_debug_state");

		if (off && !probes__attach_dl_hook(s->probes, pid, s->objs.v[i].path, off))
			return;
	}
	debug("no dynamic loader hook: objects loaded later are found by polling");
}

/* Probes of the shims for every target (-1), or of a lower layer for this one. */
static pid_t probe_pid(const struct session *s, pid_t pid)
{
	return s->shared && s->layer == LAYER_RUST ? -1 : pid;
}

static struct session_target *target_by_pid(struct session *s, uint32_t pid)
{
	uint64_t i;

	return u64map_get(&s->bypid, pid, &i) && i < s->nprocs ? &s->procs[i] : NULL;
}

/* Where a mapping of t the first target lacks sits: placed once per file and range. */
static uint64_t place(struct session *s, struct session_target *t, const struct mapping *m)
{
	uint64_t len = m->end - m->start;
	struct placement *p;
	char *open_path;
	size_t i;

	for (i = 0; i < s->nplaced; i++) {
		p = &s->placed[i];
		if (p->dev == m->dev && p->inode == m->inode && p->offset == m->offset &&
		    p->len == len)
			return p->start;
	}
	if (!s->placed_next)
		s->placed_next = PLACED_BASE;
	ARR_RESERVE(s->placed, s->placed_cap, s->nplaced + 1);
	p = &s->placed[s->nplaced++];
	*p = (struct placement){ m->dev, m->inode, m->offset, len, s->placed_next };
	/* A page apart: a return address at the end of one is not the next one's. */
	s->placed_next += ((len + 0xfff) & ~0xfffULL) + 0x1000;
	open_path = proc_map_path(t->pid, m);
	symbolizer__add_mapping(s->sym, p->start, p->start + len, m->offset, m->path, open_path,
				m->dev, (ino_t)m->inode);
	free(open_path);
	return p->start;
}

/*
 * Where each executable mapping of t sits in the first target's layout:
 * the same file at the same offset, or a placement of its own where the
 * first target lacks it. Frames outside them all are dropped, and counted.
 */
static void build_xlate(struct session *s, struct session_target *t)
{
	const struct procmaps *pa = &s->pmaps;
	struct procmaps b;
	size_t i, j, cap = 0;

	if (t->index == s->primary || !s->pmaps_valid || procmaps__read(t->pid, &b))
		return;
	free(t->x);
	t->x = NULL;
	t->nx = 0;
	for (i = 0; i < b.n; i++) {
		const struct mapping *m = &b.maps[i];

		if (!m->exec || !m->path)
			continue;
		for (j = 0; j < pa->n; j++) {
			const struct mapping *p = &pa->maps[j];

			if (!p->exec || !p->path || p->offset != m->offset ||
			    p->end - p->start != m->end - m->start || strcmp(p->path, m->path))
				continue;
			ARR_RESERVE(t->x, cap, t->nx + 1);
			t->x[t->nx++] = (struct xrange){ m->start, m->end,
							 (int64_t)(p->start - m->start) };
			break;
		}
		/* Not known by its inode: it could not be told from another file. */
		if (j == pa->n && m->inode) {
			ARR_RESERVE(t->x, cap, t->nx + 1);
			t->x[t->nx++] = (struct xrange){ m->start, m->end,
							 (int64_t)(place(s, t, m) - m->start) };
		}
	}
	procmaps__free(&b);
}

/* The layout of the target the symbolizer follows, read again while it runs. */
static void read_primary_maps(struct session *s)
{
	struct procmaps pm;

	if (procmaps__read(s->procs[s->primary].pid, &pm))
		return;
	if (s->pmaps_valid)
		procmaps__free(&s->pmaps);
	s->pmaps = pm;
	s->pmaps_valid = true;
}

static uint64_t xlate_pc(struct session_target *t, uint64_t pc)
{
	size_t lo = 0, hi = t->nx;

	/* A return address: the call is at pc - 1, inside the caller's mapping. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pc - 1 < t->x[mid].start)
			hi = mid;
		else if (pc - 1 >= t->x[mid].end)
			lo = mid + 1;
		else
			return pc + (uint64_t)t->x[mid].delta;
	}
	t->unplaced++;
	return 0;
}

/*
 * An event of a target beyond the first, as the tracker and the symbolizer
 * take it: its frames in the first target's layout, its pointers tagged.
 */
static const void *as_first_target(struct session *s, struct session_target *t,
				   const void *data, size_t *len)
{
	struct rp_event *e = &s->evbuf;
	uint32_t i, n;

	if (t->index == s->primary || *len > sizeof(s->evbuf) || *len < RP_EVENT_HDR_SIZE)
		return data;
	memcpy(e, data, *len);
	n = MIN(e->nframes, (uint32_t)((*len - RP_EVENT_HDR_SIZE) / 8));
	for (i = 0; i < n; i++) {
		e->frames[i] = xlate_pc(t, e->frames[i]);
		/* Code in no file's mapping: the stack says so (stacks.unmapped). */
		if (!e->frames[i])
			e->flags |= RP_F_UNMAPPED;
	}
	if (e->ptr)
		e->ptr |= (uint64_t)t->index << TAG_SHIFT;
	if (e->old_ptr)
		e->old_ptr |= (uint64_t)t->index << TAG_SHIFT;
	return e;
}

/* The target exec'd: close the old image's heap; the capture ends here. */
static void on_exec(struct session *s, struct session_target *t, uint64_t ts)
{
	if (t->exec_seen)
		return;
	t->exec_seen = true;
	if (s->follow)
		;	/* children exec'ing their programs: the usual way */
	else
		s->model->exec_ns = ts ? ts : mono_ns();
	if (s->nprocs == 1)
		tracker__close_all(&s->tracker);
	else
		tracker__close_some(&s->tracker, TAG_MASK, (uint64_t)t->index << TAG_SHIFT);
}

/*
 * Objects mapped since the start (dlopen): probe the ones that hold the
 * layer's allocator, and give every new one its unwind table and symbols.
 */
static void rescan_objects(struct session *s, bool sync)
{
	size_t before = s->objs.n, i;

	s->last_scan_ns = mono_ns();
	for (i = 0; i < s->nprocs; i++)
		if (s->procs[i].state == TARGET_RUNNING)
			objects__add_pid(&s->objs, s->procs[i].pid);
	if (s->objs.n == before && !sync)
		return;
	debug("rescan: %zu new objects", s->objs.n - before);
	for (i = before; i < s->objs.n; i++) {
		struct object_ref *t = &s->objs.v[i];
		char *why;
		int err;

		if (s->layer != LAYER_RUST || !elf_object__nshims(t->obj))
			continue;
		why = layer__unprobeable(t->obj);
		if (why) {
			warn("%s", why);
			free(why);
			continue;
		}
		err = probes__attach_shims(s->probes, probe_pid(s, s->pid), t->path, t->obj);
		if (err) {
			warn("cannot attach uprobes to %s: %s", t->path, strerror(-err));
			continue;
		}
		info("probing %s (loaded after the start)", t->obj->path);
		if (!s->launched) {
			ARR_RESERVE(s->late, s->late_cap, s->nlate + 1);
			s->late[s->nlate++] = (struct late_obj){ xstrdup(t->obj->path), 0 };
		}
		add_reason(s->model, "Rust allocator shims in %s, loaded after the start",
			   t->obj->path);
	}
	if (s->dwarf)
		unwinder__sync(s->unwinder);
	if (s->copyunw)
		copyunw__refresh(s->copyunw);
	symbolizer__refresh_maps(s->sym);
	if (s->nprocs > 1 && s->procs[s->primary].state == TARGET_RUNNING)
		read_primary_maps(s);
	for (i = 0; i < s->nprocs; i++)
		if (s->procs[i].state == TARGET_RUNNING)
			build_xlate(s, &s->procs[i]);
}

static int attach_all(struct session *s)
{
	size_t i;
	int err = 0;

	size_t k;

	for (i = 0; i < s->nprobed && !err; i++) {
		const struct object_ref *t = &s->objs.v[s->probed[i]];

		/* Once for every target, or once per target (lower layers). */
		for (k = 0; k < s->nprocs && !err; k++)
			err = probes__attach_object(s->probes, probe_pid(s, s->procs[k].pid), t->path,
						    t->obj);
		if (err)
			warn("cannot attach uprobes to %s: %s", t->path, strerror(-err));
	}
	return err;
}

/* Launch mode: stop the program at its entry point to load its tables. */
static int attach_entry_stop(struct session *s)
{
	const struct elf_object *exe = NULL, *ld = NULL;
	const char *ld_path = NULL;
	uint64_t off, ld_off = 0;
	bool ld_armed = false;
	size_t i;
	struct elf_object *o;
	char *interp;
	int err;

	for (i = 0; i < s->objs.n; i++)
		if (!strcmp(s->objs.v[i].obj->path, s->model->target.exe))
			exe = s->objs.v[i].obj;
	o = exe ? NULL : elf_object__open(s->model->target.exe, s->model->target.exe);
	if (!exe)
		exe = o;
	if (!exe || !exe->entry || !elf_object__vaddr_to_off(exe, exe->entry, &off)) {
		elf_object__free(o);
		return -ENOEXEC;
	}
	interp = s->proxied && exe->interp ? realpath(exe->interp, NULL) : NULL;
	elf_object__free(o);
	/*
	 * Behind a proxy, also stop where each exec begins (the loader's
	 * entry), to start recording when the program itself starts: its
	 * libraries' constructors run before its entry point.
	 */
	for (i = 0; interp && i < s->objs.n; i++) {
		ld = s->objs.v[i].obj;
		if (strcmp(ld->path, interp) || !ld->entry ||
		    !elf_object__vaddr_to_off(ld, ld->entry, &ld_off))
			continue;
		ld_path = s->objs.v[i].path;
		break;
	}
	free(interp);
	err = probes__arm_entry(s->probes, s->pid, s->model->target.exe, off, ld_path, ld_off,
				&ld_armed);
	if (!err && s->proxied && !ld_armed)
		debug("no stop at the loader's entry: recording starts at %s's entry point",
		      s->model->target.exe);
	return err;
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

	if (WSTOPSIG(st) != SIGSTOP || s->stops_handled >= probes__stops_sent(s->probes))
		return;
	s->stops_handled++;
	rescan_objects(s, true);
	at_entry = probes__entry_armed(s->probes) && !probes__stop_at_entry(s->probes);
	/*
	 * Behind a proxy: the first entry stop in the program itself (the
	 * loader's, or its own) starts recording; until its own entry point
	 * the stops stay armed.
	 */
	if (at_entry && !probes__recording(s->probes)) {
		char exe[PATH_MAX];

		if (proc_exe(s->pid, exe, sizeof(exe)) && !strcmp(exe, s->model->target.exe))
			probes__set_recording(s->probes, true);
		probes__set_stop_at_entry(s->probes, true);
		at_entry = false;
	}
	/* At the entry stop the program waits: the time to fetch symbols. */
	if (at_entry)
		symbolizer__prefetch(s->sym, DEBUGINFOD_BUDGET_NS);
	symbolizer__preload(s->sym);
	kill(s->pid, SIGCONT);
	if (at_entry)
		probes__disarm_entry(s->probes);
}

/* Launch mode: wait for the first stop (or the end) before collecting. */
static void sync_at_entry(struct session *s)
{
	uint32_t before;
	int st;

	/* Behind a proxy, the proxy's own dlopen stops may come first. */
	while (probes__entry_armed(s->probes)) {
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
	size_t i;

	/* -f: children BPF held (at an exec, a loader change) continue. */
	for (i = 1; s->follow && s->probes && i < s->nprocs; i++) {
		probes__set_stop_on_dlopen(s->probes, false);
		if (s->procs[i].state == TARGET_RUNNING)
			kill(s->procs[i].pid, SIGCONT);
	}
	if (!s->launched || s->child_status >= 0 || s->pid <= 0)
		return;
	if (s->probes) {
		probes__set_stop_at_entry(s->probes, false);
		probes__set_stop_on_dlopen(s->probes, false);
		probes__disarm_entry(s->probes);
	}
	kill(s->pid, SIGCONT);
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

/*
 * Attached, a library is probed a moment after dlopen maps it: a free made
 * in it (its frames) of an allocation never seen means it allocated before
 * its probes were in place. Seen only where frees are recorded whatever the
 * allocation (every allocation recorded, not sampled).
 */
static void check_late_free(struct session *s, const struct rp_event *e, size_t len)
{
	uint32_t i, k, n = MIN(e->nframes, (uint32_t)((len - RP_EVENT_HDR_SIZE) / 8));

	if (e->type != RP_EV_FREE || e->sample_bytes || live_find(&s->tracker.live, e->ptr))
		return;
	for (i = 0; i < n && i < 4; i++) {
		const char *mod = symbolizer__frame(s->sym, e->frames[i])->module;

		for (k = 0; mod && k < s->nlate; k++)
			if (!strcmp(mod, s->late[k].path)) {
				s->late[k].unseen_frees++;
				return;
			}
	}
}

/* The warning every output carries when a late library allocated unseen. */
static void note_late_libraries(struct session *s)
{
	char *prev;
	size_t k;

	for (k = 0; k < s->nlate; k++) {
		if (!s->late[k].unseen_frees)
			continue;
		prev = s->model->late_probed;
		s->model->late_probed = xasprintf(
			"%s%s%s was used right after dlopen, before its probes were in place "
			"(attached with -p, rsprobe cannot hold the program): %llu frees in it were "
			"of allocations never seen, so what it allocated in its first moments is "
			"missing; run the program under rsprobe (-- CMD) to see everything",
			prev ? prev : "", prev ? "; " : "", s->late[k].path,
			(unsigned long long)s->late[k].unseen_frees);
		free(prev);
	}
	if (s->model->late_probed)
		warn("%s", s->model->late_probed);
}

static void on_fork(struct session *s, struct session_target *parent, pid_t child);

static int on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;
	struct session_target *t = &s->procs[0];

	if (len >= RP_EVENT_HDR_SIZE && s->nprocs > 1) {
		t = target_by_pid(s, ((struct rp_event *)data)->pid);
		if (!t)
			return 0;	/* a process no longer recorded */
	}

	/*
	 * The loader announces a change before and after it maps a library; the
	 * event may be read before the mapping shows in /proc: keep looking for
	 * a little while.
	 */
	if (len >= RP_EVENT_HDR_SIZE && ((struct rp_event *)data)->type == RP_EV_MAPS) {
		s->rescan_until = mono_ns() + 300000000ULL;
		t->held |= s->follow && t->index;
		return 0;
	}
	/* Nothing after an exec is the old image's (BPF stops recording there). */
	if (t->exec_seen)
		return 0;
	if (len >= RP_EVENT_HDR_SIZE && ((struct rp_event *)data)->type == RP_EV_FORK) {
		on_fork(s, t, (pid_t)((struct rp_event *)data)->ptr);
		return 0;
	}
	if (len >= RP_EVENT_HDR_SIZE && ((struct rp_event *)data)->type == RP_EV_EXEC) {
		on_exec(s, t, ((struct rp_event *)data)->ts);
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
	if (t->index != s->primary)
		data = (void *)as_first_target(s, t, data, &len);
	if (len >= RP_EVENT_HDR_SIZE)
		count_stack(s, data);
	if (s->nlate && len >= RP_EVENT_HDR_SIZE)
		check_late_free(s, data, len);

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
	err = timeout_ms >= 0 ? probes__poll(s->probes, timeout_ms) : probes__consume(s->probes);
	return err == RP_BATCH_END || err == -EINTR ? 0 : err;
}

/* Spare rows for objects mapped after the start (dlopen), at least: 16 MiB. */
#define UNWIND_SPARE_ROWS (1u << 20)

/*
 * Decide how stacks are unwound (layer__unwinding) and size the unwind
 * tables.
 */
static size_t plan_unwinding(struct session *s)
{
	const char *paths[RP_MAX_MAPS];
	struct procmaps pm = {};
	size_t i, n = 0, rows;
	const char *why;
	enum unwind_mode mode = layer__unwinding(s->opts.unwind, probes__have_bpf_loop(), &why);

	if (why && s->opts.unwind == UNWIND_AUTO)
		info("%s", why);
	else if (why)
		warn("%s", why);
	if (mode == UNWIND_COPY) {
		s->dwarf = false;
		s->copyunw = copyunw__new(s->pid, s->opts.max_frames);
		if (!s->copyunw)
			warn("cannot set up unwinding in userspace: using frame pointers");
		/* Launched, the program is not exec'd yet: its entry stop looks. */
		else if (!s->launched)
			copyunw__refresh(s->copyunw);
		return 1;
	}
	s->dwarf = mode == UNWIND_DWARF;
	if (!s->dwarf)
		return 1;
	if (s->launched) {
		/* Everything the loader will map, known before exec. */
		for (i = 0; i < s->objs.n && n < ARRAY_SIZE(paths); i++)
			paths[n++] = s->objs.v[i].obj->path;
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
	if (s->unwind_rows)
		return s->unwind_rows;
	/* Room for what dlopen brings: a fixed floor, or a quarter more. */
	return rows + (rows / 4 > UNWIND_SPARE_ROWS ? rows / 4 : UNWIND_SPARE_ROWS);
}

static int load_bpf(struct session *s)
{
	const struct elf_object **objs = xcalloc(s->nprobed + 1, sizeof(*objs));
	struct probes_config cfg = {
		.layer = s->layer,
		.use_ga = s->use_ga,
		.launched = s->launched,
		.follow_forks = s->follow,
		.empty_programs = s->opts.empty_programs,
		.all = s->opts.all,
		.max_frames = s->opts.max_frames,
		.ring_bytes = s->opts.ring_bytes,
		.max_targets = s->max_slots,
		.sample_bytes = s->model->mode.sample_bytes,
		.objs = objs,
		.nobjs = s->nprobed,
	};
	size_t i;
	int err;

	cfg.rows = plan_unwinding(s);
	cfg.dwarf = s->dwarf;
	cfg.copy = s->copyunw != NULL;
	cfg.entry_stop = s->launched && (s->dwarf || s->copyunw);
	for (i = 0; i < s->nprobed; i++)
		objs[i] = s->objs.v[s->probed[i]].obj;
	s->probes = probes__load(&cfg, on_event, s);
	free(objs);
	if (!s->probes)
		return -EINVAL;
	s->model->max_frames = probes__max_frames(s->probes);
	for (i = 0; i < s->nprocs; i++) {
		err = probes__add_target(s->probes, s->procs[i].pid, s->procs[i].slot, true);
		if (err) {
			warn("cannot record process %d: %s", s->procs[i].pid, strerror(-err));
			return err;
		}
	}
	if (s->dwarf) {
		err = probes__attach_unwinder(s->probes, s->unwinder, cfg.rows);
		/* The first target's tables are slot 0's. */
		for (i = 1; !err && i < s->nprocs; i++)
			if (s->procs[i].slot < RP_MAX_TARGETS)
				err = unwinder__add_pid(s->unwinder, s->procs[i].pid,
							s->procs[i].slot,
							probes__maps_slot(s->probes,
									  s->procs[i].slot));
		if (err)
			return err;
	}
	s->model->stacks_info.method = s->copyunw ? "copy" : s->dwarf ? "dwarf" : "frame pointers";
	return 0;
}

static void sum_counters(struct session *s, uint64_t sum[RP_CNT_MAX])
{
	probes__counters(s->probes, sum);
}

uint64_t session__lost(struct session *s)
{
	uint64_t sum[RP_CNT_MAX];

	if (!s->probes)
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
	if (!s->probes || !s->model->mode.sampled)
		return;
	sum_counters(s, sum);
	counter_totals(sum, t);
}

void session__counted(struct session *s, struct totals *t)
{
	uint64_t sum[RP_CNT_MAX];

	memset(t, 0, sizeof(*t));
	if (!s->probes)
		return;
	sum_counters(s, sum);
	counter_totals(sum, t);
}

uint64_t session__sample_bytes(struct session *s)
{
	return s->probes ? probes__sample_bytes(s->probes) : s->model->mode.sample_bytes;
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
	st.count_ns = sum[RP_CNT_COUNT_NS];
	st.count_timed = sum[RP_CNT_COUNT_TIMED];
	st.drained = st.drain_ns = st.ring_copies = 0;
	if (s->copyunw) {
		copyunw__cost(s->copyunw, &st.drained, &st.drain_ns);
		/* Each copy takes its header and copy_bytes, plus the ring's own 8. */
		st.ring_copies = probes__ring_size(s->probes) /
				 (sizeof(struct rp_stack_copy) + probes__copy_bytes(s->probes) + 8);
	}
	/* --unwind copy: BPF switched to sampling itself, the ring half full. */
	if (s->adaptive && !s->sampler.interval && probes__sample_bytes(s->probes)) {
		debug("sampling interval: %llu bytes, set in BPF (the ring is half full)",
		      (unsigned long long)probes__sample_bytes(s->probes));
		sampler__follow(&s->sampler, probes__sample_bytes(s->probes));
		m->mode.sampled = true;
	}
	/* Not adaptive: the sampler measures the interval in force, never changes it. */
	if (!s->adaptive)
		s->sampler.interval = probes__sample_bytes(s->probes);
	if (sampler__tick(&s->sampler, now, &st, &next) && s->adaptive) {
		debug("sampling interval: %llu bytes (recording cost %.1f%% of the traps')",
		      (unsigned long long)next, s->sampler.overhead * 100);
		probes__set_sample_bytes(s->probes, next);
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

static bool target_gone(struct session *s, struct session_target *t)
{
	struct pollfd p;
	int st;

	if (s->launched && !t->index) {
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
	if (t->pidfd >= 0) {
		p.fd = t->pidfd;
		p.events = POLLIN;
		return poll(&p, 1, 0) > 0;
	}
	return kill(t->pid, 0) && errno == ESRCH;
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
	if (s->adaptive && !probes__sample_bytes(s->probes))
		return 10;
	return 50;
}

static const char *const state_names[] = {
	[TARGET_RUNNING] = "running", [TARGET_EXITED] = "exited", [TARGET_EXECED] = "exec'd",
	[TARGET_REMOVED] = "removed",
};

/* The targets, as every output lists them. */
static void fill_model_targets(struct session *s)
{
	struct model *m = s->model;
	size_t i;

	for (i = 0; i < m->ntargets; i++)
		free(m->targets[i].exe);
	free(m->targets);
	m->targets = xcalloc(s->nprocs, sizeof(*m->targets));
	m->ntargets = s->nprocs;
	for (i = 0; i < s->nprocs; i++) {
		m->targets[i].pid = s->procs[i].pid;
		snprintf(m->targets[i].comm, sizeof(m->targets[i].comm), "%s", s->procs[i].comm);
		m->targets[i].exe = xstrdup(s->procs[i].exe);
		m->targets[i].state = state_names[s->procs[i].state];
	}
}

/* The process maps an object with the Rust shims. */
static bool maps_rust(struct session *s, pid_t pid)
{
	struct procmaps pm;
	bool rust = false;
	size_t i, k;

	if (procmaps__read(pid, &pm))
		return false;
	for (i = 0; i < pm.n && !rust; i++)
		for (k = 0; pm.maps[i].exec && pm.maps[i].path && k < s->objs.n && !rust; k++)
			rust = !strcmp(s->objs.v[k].obj->path, pm.maps[i].path) &&
			       elf_object__nshims(s->objs.v[k].obj) > 0;
	procmaps__free(&pm);
	return rust;
}

/* Frames are symbolized in t's layout from now on (the others' moved into it). */
static void make_primary(struct session *s, struct session_target *t)
{
	size_t i;

	s->primary = t->index;
	s->primary_rust = true;
	symbolizer__set_pid(s->sym, t->pid);
	symbolizer__preload(s->sym);
	read_primary_maps(s);
	for (i = 0; i < s->nprocs; i++) {
		free(s->procs[i].x);
		s->procs[i].x = NULL;
		s->procs[i].nx = 0;
		if (s->procs[i].state == TARGET_RUNNING)
			build_xlate(s, &s->procs[i]);
	}
	if (!t->index)
		return;
	s->model->target.pid = t->pid;
	free(s->model->target.exe);
	s->model->target.exe = xstrdup(t->exe);
	snprintf(s->model->target.comm, sizeof(s->model->target.comm), "%s", t->comm);
}

/*
 * A target forked. With -f its child is a target from now on (BPF made it
 * one): it gets an index, object tables and a pidfd. Without, the command's
 * children go unprofiled: said once.
 */
static void on_fork(struct session *s, struct session_target *parent, pid_t child)
{
	struct session_target *t;
	char comm[32], exe[PATH_MAX];
	pid_t ppid = parent->pid;	/* procs moves as it grows */
	int err;

	if (!s->follow) {
		if (s->fork_warned)
			return;
		s->fork_warned = true;
		s->model->forked = xasprintf("%s (pid %d) forked (pid %d): its children are not "
					     "profiled; -f follows them and what they exec",
					     parent->comm, parent->pid, child);
		warn("%s", s->model->forked);
		return;
	}
	if (target_by_pid(s, (uint32_t)child))
		return;
	proc_comm(child, comm, sizeof(comm));
	add_proc(s, child, comm, proc_exe(child, exe, sizeof(exe)));
	t = &s->procs[s->nprocs - 1];
	t->pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	/*
	 * Its object tables first, then its slot (a walk never meets the
	 * tables of the slot's last owner); recording stays as BPF set it
	 * (its parent's, or off at its exec).
	 */
	if (s->dwarf && t->slot < RP_MAX_TARGETS)
		unwinder__add_pid(s->unwinder, child, t->slot,
				  probes__maps_slot(s->probes, t->slot));
	err = probes__add_target(s->probes, child, t->slot,
				 probes__target_recording(s->probes, child));
	/* Lower layers are probed per process: the child's are its parent's objects. */
	for (size_t i = 0; !err && s->layer != LAYER_RUST && i < s->nprobed; i++)
		err = probes__attach_object(s->probes, child, s->objs.v[s->probed[i]].path,
					    s->objs.v[s->probed[i]].obj);
	if (err)
		warn("cannot follow pid %d: %s", child, strerror(-err));
	build_xlate(s, t);
	debug("following pid %d, forked by %d", child, ppid);
}

static ssize_t object_index(const struct session *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->objs.n; i++)
		if (!strcmp(s->objs.v[i].obj->path, path))
			return (ssize_t)i;
	return -1;
}

static bool is_probed(const struct session *s, size_t idx)
{
	size_t i;

	for (i = 0; i < s->nprobed; i++)
		if (s->probed[i] == idx)
			return true;
	return false;
}

/*
 * Probe what t maps that holds the layer's allocator: the objects chosen
 * at the start, and (the Rust layer) any other object with the shims.
 * Files probed already (for every target, or for this one) keep their
 * uprobes; the others get theirs, attached through t's view of the file
 * (whoever mapped it first may be gone). Returns the objects t maps that
 * are probed for it now, or a negative errno.
 */
static int probe_target_objects(struct session *s, struct session_target *t)
{
	const struct procmaps *pm = procmaps__view(t->pid, 0);
	pid_t pid = probe_pid(s, t->pid);
	size_t i;
	int n = 0;

	if (!pm)
		return -errno;
	for (i = 0; i < pm->n; i++) {
		const struct mapping *m = &pm->maps[i];
		const struct object_ref *o;
		ssize_t k;
		char *open_path;
		int err;

		if (!m->exec || !m->path || (k = object_index(s, m->path)) < 0)
			continue;
		o = &s->objs.v[k];
		if (!is_probed(s, (size_t)k) &&
		    (s->layer != LAYER_RUST || !elf_object__nshims(o->obj)))
			continue;
		if (!is_probed(s, (size_t)k)) {
			char *why = layer__unprobeable(o->obj);

			free(why);
			if (why)
				continue;	/* said when it was found */
		}
		open_path = proc_map_path(t->pid, m);
		err = is_probed(s, (size_t)k) ?
		      probes__attach_object(s->probes, pid, open_path, o->obj) :
		      probes__attach_shims(s->probes, pid, open_path, o->obj);
		free(open_path);
		if (err) {
			warn("cannot attach uprobes to %s for process %d: %s", m->path, t->pid,
			     strerror(-err));
			continue;
		}
		n++;
	}
	procmaps__view_put(pm);
	return n;
}

/* The uprobes of a file are needed while a target maps it. */
static bool probe_needed(void *ctx, pid_t pid, const char *path, ino_t ino)
{
	struct session *s = ctx;
	struct session_target *t;
	size_t i, k;

	if (pid > 0)
		return (t = target_by_pid(s, (uint32_t)pid)) && t->state == TARGET_RUNNING;
	for (i = 0; i < s->nprocs; i++) {
		const struct procmaps *pm;
		bool found = false;

		if (s->procs[i].state != TARGET_RUNNING)
			continue;
		pm = procmaps__view(s->procs[i].pid, 100000000ULL);
		if (!pm)
			return true;	/* cannot tell: kept */
		for (k = 0; k < pm->n && !found; k++)
			found = pm->maps[k].exec && pm->maps[k].path &&
				(pm->maps[k].inode == ino || !strcmp(pm->maps[k].path, path));
		procmaps__view_put(pm);
		if (found)
			return true;
	}
	return false;
}

/*
 * t is gone (or no longer wanted): it leaves the targets map (BPF records
 * nothing more of it), what is in the ring of it is read, its object tables
 * are given back (and the rows of objects no other target maps), and the
 * uprobes that no target needs any more are detached. Its figures stay in
 * the capture.
 */
static void target_leave(struct session *s, size_t i)
{
	struct session_target *t = &s->procs[i];
	pid_t pid = t->pid;

	if (t->left)
		return;
	probes__remove_target(s->probes, pid);
	s->draining = true;
	probes__consume(s->probes);
	s->draining = false;
	t = &s->procs[i];	/* a fork read there may have moved procs */
	if (s->dwarf && t->slot < RP_MAX_TARGETS)
		unwinder__remove_pid(s->unwinder, pid);
	slot_give(s, t->slot);
	t->slot = RP_MAX_TARGETS;
	t->left = true;
	free(t->x);
	t->x = NULL;
	t->nx = 0;
	u64map_del(&s->bypid, (uint32_t)pid, NULL);
	s->nleft++;
	s->last_prune_ns = mono_ns();
	probes__prune(s->probes, probe_needed, s);
	debug("process %d left the capture", pid);
}

/*
 * Attached, the target exec'd (its old heap is closed): the new program is
 * profiled on. Its objects are probed (those of the old image that it maps
 * again keep their probes), its tables and symbols loaded, its name taken,
 * and recording turned on again for it. A program is never held here: what
 * the new one allocates before its probes are in place is missed.
 */
static void follow_exec(struct session *s, struct session_target *t)
{
	char exe[PATH_MAX];
	const char *now = proc_exe(t->pid, exe, sizeof(exe));
	int err;

	t->exec_seen = false;
	if (s->follow && !t->index && !s->first_exec_seen) {
		/* The launched command's own exec: its program starts. */
		s->first_exec_seen = true;
	} else {
		t->execs++;
		/* Under -f a child exec'ing its program is the usual way: no warning. */
		if (!s->model->exec_from && !s->follow)
			s->model->exec_from = xstrdup(t->exe);
		s->model->exec_followed |= !s->follow;
	}
	free(t->exe);
	t->exe = xstrdup(now ? now : "?");
	proc_comm(t->pid, t->comm, sizeof(t->comm));
	if (!t->index) {
		free(s->model->target.exe);
		s->model->target.exe = xstrdup(t->exe);
		snprintf(s->model->target.comm, sizeof(s->model->target.comm), "%s", t->comm);
	}
	rescan_objects(s, true);
	/* Files probed before and detached since (nobody mapped them) are probed again. */
	probe_target_objects(s, t);
	/* -f: the symbols follow the first process that runs Rust code. */
	if (s->follow && !s->primary_rust && maps_rust(s, t->pid))
		make_primary(s, t);
	err = probes__set_target_recording(s->probes, t->pid, true);
	if (err)
		warn("cannot record process %d after its exec: %s", t->pid, strerror(-err));
	else if (!s->follow)
		info("process %d exec'd %s: profiling it on", t->pid, t->exe);
	else
		debug("process %d exec'd %s", t->pid, t->exe);
	/* -f: BPF held it at its exec for this. */
	if (s->follow)
		kill(t->pid, SIGCONT);
}

/* The state of each target; SESSION_DONE when none is running. */
static int look_after_targets(struct session *s)
{
	bool changed = false, running = false;
	size_t i;

	for (i = 0; i < s->nprocs; i++) {
		struct session_target *t = &s->procs[i];
		enum target_state was = t->state;

		if (t->state == TARGET_RUNNING && target_gone(s, t)) {
			t->state = TARGET_EXITED;
			target_leave(s, i);
			t = &s->procs[i];
		}
		/* BPF turns recording off at an exec, even with no room in the ring. */
		if (t->state == TARGET_RUNNING && !t->exec_seen && s->exec_armed &&
		    !probes__target_recording(s->probes, t->pid)) {
			/* Its exec event was lost: what is in the ring up to it is the old image's. */
			s->draining = true;
			probes__consume(s->probes);
			s->draining = false;
			t = &s->procs[i];	/* a fork read there may have moved procs */
			on_exec(s, t, 0);
		}
		if (t->state == TARGET_RUNNING && t->exec_seen) {
			follow_exec(s, t);
			changed = true;
		}
		if (t->held) {
			t->held = false;
			rescan_objects(s, true);
			kill(t->pid, SIGCONT);
		}
		if (t->state != was && t->pidfd >= 0) {
			close(t->pidfd);
			t->pidfd = -1;
		}
		changed |= t->state != was;
		running |= t->state == TARGET_RUNNING;
	}
	if (!running)
		return SESSION_DONE;
	return changed ? SESSION_CHANGED : SESSION_RUNNING;
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
		now = mono_ns();
		/*
		 * While the loader changes the maps, every 5 ms (reading the maps
		 * costs ~0.1 ms; polls come faster while events flow); else each second.
		 */
		if (now - s->last_scan_ns > (now < s->rescan_until ? 5000000ULL : 1000000000ULL))
			rescan_objects(s, false);
		rc = look_after_targets(s);
		if (rc != SESSION_RUNNING)
			return rc;
		/* Uprobes on files that no target maps any more go after a while. */
		if (s->nleft && mono_ns() - s->last_prune_ns > 1000000000ULL) {
			s->last_prune_ns = mono_ns();
			probes__prune(s->probes, probe_needed, s);
		}
		adapt(s);
	} while (!s->interrupted && mono_ns() < end);
	return SESSION_RUNNING;
}

void session__interrupt(struct session *s)
{
	if (s)
		s->interrupted = 1;
}

static size_t running_targets(const struct session *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nprocs; i++)
		n += s->procs[i].state == TARGET_RUNNING;
	return n;
}

/*
 * A running process joins the capture: its objects are probed (files
 * probed already serve it as they are), its object tables loaded over the
 * shared rows, and its events kept from now on. Nothing is attached or
 * changed for it on error.
 */
int session__add_target(struct session *s, pid_t pid)
{
	char comm[32], exe[PATH_MAX];
	const struct procmaps *pm;
	struct session_target *t;
	bool probeable = false;
	size_t i;
	int err;

	if (!s->started || s->stopped) {
		warn("cannot add process %d: the capture is not running", pid);
		return -EINVAL;
	}
	if (s->copyunw) {
		warn("cannot add process %d: --unwind copy follows one process", pid);
		return -ENOTSUP;
	}
	if ((t = target_by_pid(s, (uint32_t)pid)) && t->state == TARGET_RUNNING)
		return 0;	/* recorded already */
	if (running_targets(s) >= RP_MAX_TRACKED) {
		warn("cannot add process %d: %d processes are recorded already", pid,
		     RP_MAX_TRACKED);
		return -ENOSPC;
	}
	err = check_process(s, pid);
	if (err)
		return err;
	/* Something of the layer's to probe in it, or it would be recorded for nothing. */
	pm = procmaps__view(pid, 0);
	for (i = 0; pm && i < pm->n && !probeable; i++) {
		const struct mapping *m = &pm->maps[i];
		ssize_t k = m->exec && m->path ? object_index(s, m->path) : -1;

		probeable = k >= 0 && (is_probed(s, (size_t)k) ||
				       (s->layer == LAYER_RUST &&
					elf_object__nshims(s->objs.v[k].obj)));
	}
	procmaps__view_put(pm);
	if (!probeable) {
		warn("cannot add process %d: it maps no allocator this capture probes (%s layer)",
		     pid, s->model->mode.source ? s->model->mode.source : "?");
		return -ENOENT;
	}
	proc_comm(pid, comm, sizeof(comm));
	add_proc(s, pid, comm, proc_exe(pid, exe, sizeof(exe)));
	t = &s->procs[s->nprocs - 1];
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* Tables before the slot: a walk never meets those of the slot's last owner. */
	if (s->dwarf && t->slot < RP_MAX_TARGETS)
		unwinder__add_pid(s->unwinder, pid, t->slot, probes__maps_slot(s->probes, t->slot));
	err = probes__add_target(s->probes, pid, t->slot, true);
	if (!err) {
		err = probe_target_objects(s, t);
		err = err < 0 ? err : 0;
	}
	if (err) {
		warn("cannot record process %d: %s", pid, strerror(-err));
		t->state = TARGET_EXITED;
		target_leave(s, s->nprocs - 1);
		return err;
	}
	if (!s->follow)
		attach_dl_hook(s, pid);
	if (!s->pmaps_valid)
		read_primary_maps(s);
	build_xlate(s, &s->procs[s->nprocs - 1]);
	symbolizer__refresh_maps(s->sym);
	info("profiling pid %d (%s) too", pid, comm);
	return 0;
}

int session__remove_target(struct session *s, pid_t pid)
{
	struct session_target *t = target_by_pid(s, (uint32_t)pid);

	if (!s->started || s->stopped || !t || t->state != TARGET_RUNNING)
		return -ENOENT;
	if (s->launched && !t->index)
		return -EINVAL;	/* the command rsprobe runs and waits for */
	t->state = TARGET_REMOVED;
	if (t->pidfd >= 0) {
		close(t->pidfd);
		t->pidfd = -1;
	}
	target_leave(s, (size_t)(t - s->procs));
	return 0;
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

unsigned int session_target__execs(const struct session_target *t)
{
	return t->execs;
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
	if (m->exec_followed) {
		/* BPF counted on across the exec: the closed allocations are not live. */
		m->totals.live_allocs -= MIN(m->totals.live_allocs, m->totals.closed_by_exec);
	} else if (m->exec_ns && s->nprocs == 1) {
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
	size_t i;
	int err;

	if (s->launched) {
		err = launch__fork(&s->child, s->opts.argv);
		if (err) {
			warn("cannot start %s: %s", s->opts.argv[0], strerror(-err));
			return err;
		}
		s->pid = s->child.pid;
		m->target.pid = s->pid;
	} else {
		m->target.pid = s->pid;
		for (i = 0; i < s->nprocs; i++)
			s->procs[i].pidfd = (int)syscall(SYS_pidfd_open, s->procs[i].pid, 0);
	}
	s->procs[0].pid = s->pid;
	u64map_del(&s->bypid, 0, NULL);
	u64map_put(&s->bypid, (uint32_t)s->pid, 0);
	symbolizer__set_pid(s->sym, s->pid);
	unwinder__set_pid(s->unwinder, s->pid);
	/* Attached: before any probe, so nothing waits in the ring meanwhile. */
	if (!s->launched)
		symbolizer__prefetch(s->sym, DEBUGINFOD_BUDGET_NS);
	sampler__init(&s->sampler, s->pid, s->opts.budget_pct);

	t0 = mono_ns();
	err = load_bpf(s);
	debug("BPF programs loaded in %.0f ms", (mono_ns() - t0) / 1e6);
	/*
	 * A running process: its unwind tables and symbols before the probes,
	 * which trap from the first one attached on, recording or not.
	 */
	if (!err && !s->launched) {
		if (s->dwarf && unwinder__sync(s->unwinder) < 0)
			debug("unwind tables will be loaded lazily");
		symbolizer__preload(s->sym);
	}
	t0 = mono_ns();
	if (!err)
		err = attach_all(s);
	if (!err)
		debug("probes attached in %.1f ms", (mono_ns() - t0) / 1e6);
	if (!err) {
		/* -f: the children's loaders too, whichever process they become. */
		for (i = 0; i < s->nprocs; i++)
			attach_dl_hook(s, s->follow ? -1 : s->procs[i].pid);
		/* Attached (or -f): an exec of a target is noticed (not fatal without). */
		if (!s->launched || s->follow)
			s->exec_armed = probes__attach_exec_hook(s->probes);
		/* Launch mode: forks are followed (-f), or said. */
		if (s->launched)
			probes__attach_fork_hook(s->probes);
		probes__set_stop_tgid(s->probes, s->pid);
		/* Only as the parent: nobody else waits for the program's stops. */
		probes__set_stop_on_dlopen(s->probes, s->launched);
	}
	/* Not fatal: without tables, events that meet unknown code ask for them. */
	if (!err && s->copyunw && s->launched && attach_entry_stop(s) < 0)
		debug("objects will be found at the first stack");
	if (!err && s->dwarf && s->launched && attach_entry_stop(s) < 0)
		debug("unwind tables will be loaded lazily");
	if (err) {
		probes__detach_all(s->probes);
		if (s->launched) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &s->child_status, 0);
			s->child_status = -1;
		}
		return err;
	}
	/* A proxy's own allocations are not the program's: from its entry on. */
	probes__set_recording(s->probes, !(s->proxied && probes__entry_armed(s->probes)));
	m->start_ns = mono_ns();
	if (s->launched) {
		err = launch__release(&s->child);
		if (err) {
			waitpid(s->pid, &s->child_status, 0);
			probes__detach_all(s->probes);
			return err;
		}
		sync_at_entry(s);
	}
	symbolizer__refresh_maps(s->sym);
	if (s->shared)
		read_primary_maps(s);
	for (i = 1; i < s->nprocs; i++)
		build_xlate(s, &s->procs[i]);
	if (s->nprocs == 1)
		info("profiling pid %d (%s); Ctrl-C to stop", s->pid, m->target.comm);
	else
		info("profiling pid %d (%s) and %zu more processes; Ctrl-C to stop", s->pid,
		     m->target.comm, s->nprocs - 1);
	s->started = true;
	return 0;
}

int session__stop(struct session *s)
{
	struct model *m = s->model;
	size_t i;

	if (!s->started || s->stopped)
		return 0;
	s->stopped = true;
	/*
	 * Everything in the ring before the exec's event is the old image's:
	 * read it all (up to that event) before closing its heap.
	 */
	for (i = 0; s->exec_armed && i < s->nprocs; i++) {
		struct session_target *t = &s->procs[i];

		/* One that left is out of the targets map, exec or not. */
		if (t->left || t->exec_seen || probes__target_recording(s->probes, t->pid))
			continue;
		s->draining = true;
		probes__consume(s->probes);
		s->draining = false;
		on_exec(s, &s->procs[i], 0);
	}

	probes__set_recording(s->probes, false);
	m->end_ns = mono_ns();
	release_stops(s);
	probes__detach_all(s->probes);
	debug("probes removed in %.0f ms", (mono_ns() - m->end_ns) / 1e6);
	/* Probes are gone: what is in the ring now is all there is. */
	s->draining = true;
	probes__consume(s->probes);
	read_counters(s);
	debug("events: %llu allocs, %llu frees, %llu reallocs",
	      (unsigned long long)s->tracker.by_type[RP_EV_ALLOC],
	      (unsigned long long)s->tracker.by_type[RP_EV_FREE],
	      (unsigned long long)s->tracker.by_type[RP_EV_REALLOC]);
	if (s->bad_events)
		warn("%d malformed events ignored", s->bad_events);
	tracker__finish(&s->tracker, m->end_ns);
	for (i = 1; i < s->nprocs; i++)
		if (s->procs[i].unplaced)
			debug("process %d: %llu frames in no mapping of a file, dropped",
			      s->procs[i].pid, (unsigned long long)s->procs[i].unplaced);
	fill_model_targets(s);
	note_late_libraries(s);
	exact_totals(s);
	if (s->adaptive)
		m->mode.sample_bytes = probes__sample_bytes(s->probes);
	m->mode.sample_bytes_min = s->sampler.min_interval;
	m->mode.sample_bytes_max = s->sampler.max_interval;
	if (s->opts.sample_bytes && !s->opts.all) {
		m->mode.sample_bytes_min = m->mode.sample_bytes_max = s->opts.sample_bytes;
	}
	m->unsymbolized_frames = symbolizer__unsymbolized(s->sym);
	if (s->dwarf) {
		struct unwinder_row_stats rs;

		unwinder__row_stats(s->unwinder, &rs);
		debug("unwind rows: %zu loaded in all, %zu in use at most, %zu at the end, of %zu; "
		      "%llu grace periods before reuse", rs.loaded, rs.peak, rs.used, rs.capacity,
		      (unsigned long long)rs.graces);
	}
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
		if (WSTOPSIG(st) == SIGSTOP && s->probes &&
		    s->stops_handled < probes__stops_sent(s->probes)) {
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
	probes__free(s->probes);
	objects__free(&s->objs);
	free(s->probed);
	for (i = 0; i < s->nprocs; i++) {
		free(s->procs[i].exe);
		free(s->procs[i].x);
		if (s->procs[i].pidfd >= 0)
			close(s->procs[i].pidfd);
	}
	free(s->procs);
	free(s->placed);
	u64map_free(&s->bypid);
	launch__close(&s->child);
	free(s->pids);
	if (s->pmaps_valid)
		procmaps__free(&s->pmaps);
	for (i = 0; i < s->nlate; i++)
		free(s->late[i].path);
	free(s->late);
	tracker__free(&s->tracker);
	sampler__free(&s->sampler);
	model__free(s->model);
	symbolizer__free(s->sym);
	unwinder__free(s->unwinder);
	copyunw__free(s->copyunw);
	free(s);
}
