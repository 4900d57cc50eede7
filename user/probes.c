// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF object: load the programs a capture needs, attach them, read the
 * ring, sum the counters. Nothing else includes the skeleton, so an edit of
 * the BPF source rebuilds this file only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes.h"
#include "rsprobe.skel.h"
#include "unwind.h"
#include "util.h"

struct probes {
	struct probes_config cfg;
	struct rsprobe_bpf *skel;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	bool multi;			/* probes as uprobe_multi links (6.6 on) */
	int *mlinks;			/* their fds */
	size_t nmlinks, mlinks_cap;
	struct bpf_link *entry_link;	/* launch: stop at the entry point */
	struct bpf_link *exec_link;	/* behind a proxy: stop where an exec begins */
	struct ring_buffer *rb;
	struct attached {		/* objects probed, for whom, and their uprobes */
		dev_t dev;
		ino_t ino;
		pid_t pid;
		char *path;		/* as the processes map it */
		struct bpf_link **links;
		size_t nlinks, links_cap;
		int *fds;		/* uprobe_multi links */
		size_t nfds, fds_cap;
		uint64_t idle_since;	/* when it was first found unneeded (0: needed) */
	} *attached;
	size_t nattached, attached_cap;
	ssize_t cur;			/* the record being attached, or -1 */
	/*
	 * Removing a uprobe waits for the kernel's grace periods (a quarter of
	 * a second each on some kernels): uprobes nobody needs are removed by
	 * a thread of their own, so the capture goes on meanwhile.
	 */
	struct detacher {
		pthread_t thread;
		bool running, stop;
		pthread_mutex_t mu;
		pthread_cond_t work, done;
		struct pending_detach {
			dev_t dev;
			ino_t ino;
			pid_t pid;
			struct bpf_link **links;
			size_t nlinks;
			int *fds;
			size_t nfds;
		} *q;
		size_t nq, q_cap;
		bool busy;		/* the thread holds an entry it took off q */
		struct pending_detach cur;
	} det;
};

/* Files nobody maps keep their uprobes this long: a program started again soon finds them. */
#define PROBES_IDLE_NS (2 * 1000000000ULL)

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && rp_verbosity < 2)
		return 0;
	if (rp_verbosity < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void keep_link(struct probes *p, struct bpf_link *l)
{
	if (p->cur >= 0) {
		struct attached *a = &p->attached[p->cur];

		ARR_RESERVE(a->links, a->links_cap, a->nlinks + 1);
		a->links[a->nlinks++] = l;
		return;
	}
	ARR_RESERVE(p->links, p->links_cap, p->nlinks + 1);
	p->links[p->nlinks++] = l;
}

/*
 * BPF_LINK_CREATE of a uprobe_multi link (Linux 6.6 on), by hand: the
 * libbpf we build with predates it. The layout is the kernel's ABI.
 */
#define RP_TRACE_UPROBE_MULTI 48
#define RP_F_UPROBE_MULTI_RETURN 1U

struct uprobe_multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid, pad;
};

static int uprobe_multi_link(int prog_fd, const char *path, uint64_t off, uint64_t cookie,
			     bool ret, int pid)
{
	struct uprobe_multi_attr a = {
		.prog_fd = (uint32_t)prog_fd,
		.attach_type = RP_TRACE_UPROBE_MULTI,
		.path = (uint64_t)(uintptr_t)path,
		.offsets = (uint64_t)(uintptr_t)&off,
		.cookies = (uint64_t)(uintptr_t)&cookie,
		.cnt = 1,
		.multi_flags = ret ? RP_F_UPROBE_MULTI_RETURN : 0,
		.pid = (uint32_t)pid,
	};

	return (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

/* A probe for whichever process (pid -1, as perf events take it): 0 here. */
static int multi_link(int prog_fd, const char *path, uint64_t off, uint64_t cookie, bool ret,
		      pid_t pid)
{
	return uprobe_multi_link(prog_fd, path, off, cookie, ret, pid > 0 ? pid : 0);
}

/*
 * Whether this kernel has uprobe_multi links that filter by process: a
 * trivial program of that attach type, linked to "/" (not a file: EBADF
 * where the link type exists) and then with an invalid PID (EINVAL where
 * the filter is the process's; the first version filtered by thread).
 */
static bool uprobe_multi_works(void)
{
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = RP_TRACE_UPROBE_MULTI);
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	bool ok = false;
	int fd, l;

	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, ARRAY_SIZE(insns), &lo);
	if (fd < 0)
		return false;
	l = uprobe_multi_link(fd, "/", 0, 0, false, 0);
	if (l < 0 && errno == EBADF) {
		l = uprobe_multi_link(fd, "/", 0, 0, false, -1);
		ok = l < 0 && errno == EINVAL;
	}
	if (l >= 0)
		close(l);
	close(fd);
	return ok;
}

static int attach_cookie(struct probes *p, struct bpf_program *prog, pid_t pid, const char *path,
			 uint64_t off, bool ret, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = cookie);
	struct bpf_link *l;

	if (p->multi) {
		int fd = multi_link(bpf_program__fd(prog), path, off, cookie, ret, pid);

		if (fd < 0)
			return -errno;
		if (p->cur >= 0) {
			struct attached *a = &p->attached[p->cur];

			ARR_RESERVE(a->fds, a->fds_cap, a->nfds + 1);
			a->fds[a->nfds++] = fd;
			return 0;
		}
		ARR_RESERVE(p->mlinks, p->mlinks_cap, p->nmlinks + 1);
		p->mlinks[p->nmlinks++] = fd;
		return 0;
	}
	l = bpf_program__attach_uprobe_opts(prog, pid, path, off, &uo);
	if (!l)
		return -errno;
	keep_link(p, l);
	return 0;
}

static int attach_one(struct probes *p, struct bpf_program *prog, pid_t pid, const char *path,
		      uint64_t off, bool ret)
{
	return attach_cookie(p, prog, pid, path, off, ret, 0);
}

/* The #[global_allocator]'s methods, each told where its arguments are. */
static int attach_ga(struct probes *p, pid_t pid, const char *path, const struct elf_object *o)
{
	struct rsprobe_bpf *k = p->skel;
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
		err = attach_cookie(p, entry[sh], pid, path, o->ga_probe_off[sh], false,
				    o->ga_cookie[sh]);
		if (!err && ret[sh])
			err = attach_one(p, ret[sh], pid, path, o->ga_probe_off[sh], true);
	}
	return err;
}

/* off: where each shim's probes go (elf_object.shim_probe_off). */
static int attach_rust(struct probes *p, pid_t pid, const char *path, const uint64_t *off)
{
	struct rsprobe_bpf *k = p->skel;
	int err = 0;

	if (off[SHIM_ALLOC]) {
		err = err ?: attach_one(p, k->progs.rust_alloc, pid, path, off[SHIM_ALLOC], false);
		err = err ?: attach_one(p, k->progs.rust_alloc_ret, pid, path, off[SHIM_ALLOC], true);
	}
	if (off[SHIM_ALLOC_ZEROED]) {
		err = err ?: attach_one(p, k->progs.rust_alloc_zeroed, pid, path,
					off[SHIM_ALLOC_ZEROED], false);
		err = err ?: attach_one(p, k->progs.rust_alloc_ret, pid, path,
					off[SHIM_ALLOC_ZEROED], true);
	}
	if (off[SHIM_REALLOC]) {
		err = err ?: attach_one(p, k->progs.rust_realloc, pid, path, off[SHIM_REALLOC],
					false);
		err = err ?: attach_one(p, k->progs.rust_realloc_ret, pid, path, off[SHIM_REALLOC],
					true);
	}
	if (off[SHIM_DEALLOC])
		err = err ?: attach_one(p, k->progs.rust_dealloc, pid, path, off[SHIM_DEALLOC],
					false);
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
static int attach_libc(struct probes *p, pid_t pid, const char *path, const uint64_t *off)
{
	struct bpf_program *entry[LIBC_MAX], *ret[LIBC_MAX];
	int fn, other, err = 0;

	libc_progs(p->skel, entry, ret);
	for (fn = 0; fn < LIBC_MAX && !err; fn++) {
		bool dup = false;

		if (!off[fn])
			continue;
		for (other = 0; other < fn && !dup; other++)
			dup = off[other] == off[fn];
		if (dup)
			continue;
		err = attach_one(p, entry[fn], pid, path, off[fn], false);
		if (!err && ret[fn])
			err = attach_one(p, ret[fn], pid, path, off[fn], true);
	}
	return err;
}

static void *detach_thread(void *arg)
{
	struct detacher *d = arg;
	size_t i;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->nq && !d->stop)
			pthread_cond_wait(&d->work, &d->mu);
		if (!d->nq)
			break;
		d->cur = d->q[--d->nq];
		d->busy = true;
		pthread_mutex_unlock(&d->mu);
		for (i = 0; i < d->cur.nlinks; i++)
			bpf_link__destroy(d->cur.links[i]);
		for (i = 0; i < d->cur.nfds; i++)
			close(d->cur.fds[i]);
		free(d->cur.links);
		free(d->cur.fds);
		pthread_mutex_lock(&d->mu);
		d->busy = false;
		pthread_cond_broadcast(&d->done);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static bool pending_match(const struct pending_detach *e, dev_t dev, ino_t ino, pid_t pid)
{
	return e->dev == dev && e->ino == ino && e->pid == pid;
}

/*
 * The uprobes of a file being removed still fire: probing the file again
 * for the same processes waits until they are gone, or a call would be
 * counted twice.
 */
static void wait_detached(struct probes *p, dev_t dev, ino_t ino, pid_t pid)
{
	struct detacher *d = &p->det;
	bool pending;
	size_t i;

	if (!d->running)
		return;
	pthread_mutex_lock(&d->mu);
	do {
		pending = d->busy && pending_match(&d->cur, dev, ino, pid);
		for (i = 0; i < d->nq && !pending; i++)
			pending = pending_match(&d->q[i], dev, ino, pid);
		if (pending)
			pthread_cond_wait(&d->done, &d->mu);
	} while (pending);
	pthread_mutex_unlock(&d->mu);
}

/* Hand a record's uprobes to the thread (removed here when it cannot run). */
static void detach_later(struct probes *p, struct attached *a)
{
	struct detacher *d = &p->det;
	size_t i;

	if (!d->running && !d->stop) {
		pthread_mutex_init(&d->mu, NULL);
		pthread_cond_init(&d->work, NULL);
		pthread_cond_init(&d->done, NULL);
		d->running = !pthread_create(&d->thread, NULL, detach_thread, d);
		d->stop = !d->running;	/* no thread: never tried again */
	}
	if (!d->running) {
		for (i = 0; i < a->nlinks; i++)
			bpf_link__destroy(a->links[i]);
		for (i = 0; i < a->nfds; i++)
			close(a->fds[i]);
		free(a->links);
		free(a->fds);
		return;
	}
	pthread_mutex_lock(&d->mu);
	ARR_RESERVE(d->q, d->q_cap, d->nq + 1);
	d->q[d->nq++] = (struct pending_detach){ a->dev, a->ino, a->pid, a->links, a->nlinks,
						 a->fds, a->nfds };
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->mu);
}

/* Every uprobe handed over is gone; the thread ends. */
static void detacher_stop(struct probes *p)
{
	struct detacher *d = &p->det;

	if (!d->running)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	d->running = false;
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->done);
	free(d->q);
	d->q = NULL;
	d->nq = d->q_cap = 0;
}

/*
 * Not probed yet for pid (and now marked so, its uprobes kept with the
 * record from here to the end of the attach); false when it was.
 */
static bool first_time(struct probes *p, pid_t pid, const char *path, const char *map_path)
{
	struct stat st;
	size_t i;

	p->cur = -1;
	if (stat(path, &st))
		return true;	/* the attach says why */
	wait_detached(p, st.st_dev, st.st_ino, pid);
	for (i = 0; i < p->nattached; i++)
		if (p->attached[i].dev == st.st_dev && p->attached[i].ino == st.st_ino &&
		    p->attached[i].pid == pid)
			return false;
	ARR_RESERVE(p->attached, p->attached_cap, p->nattached + 1);
	p->attached[p->nattached] = (struct attached){ .dev = st.st_dev, .ino = st.st_ino,
						       .pid = pid, .path = xstrdup(map_path) };
	p->cur = (ssize_t)p->nattached++;
	return true;
}

/* The record's uprobes removed, now or by the thread (later). */
static void drop_record(struct probes *p, size_t i, bool later)
{
	struct attached *a = &p->attached[i];
	size_t k;

	if (later) {
		detach_later(p, a);
	} else {
		for (k = 0; k < a->nlinks; k++)
			bpf_link__destroy(a->links[k]);
		for (k = 0; k < a->nfds; k++)
			close(a->fds[k]);
		free(a->links);
		free(a->fds);
	}
	free(a->path);
	p->attached[i] = p->attached[--p->nattached];
}

/* A failed attach leaves no record: the next try starts over. */
static int attached(struct probes *p, int err)
{
	if (err && p->cur >= 0)
		drop_record(p, (size_t)p->cur, false);
	p->cur = -1;
	return err;
}

int probes__attach_object(struct probes *p, pid_t pid, const char *path,
			  const struct elf_object *o)
{
	if (!first_time(p, pid, path, o->path))
		return 0;
	if (p->cfg.layer == LAYER_RUST && p->cfg.use_ga)
		return attached(p, attach_ga(p, pid, path, o));
	if (p->cfg.layer == LAYER_RUST)
		return attached(p, attach_rust(p, pid, path, o->shim_probe_off));
	return attached(p, attach_libc(p, pid, path, o->libc_off));
}

int probes__attach_shims(struct probes *p, pid_t pid, const char *path,
			 const struct elf_object *o)
{
	if (!first_time(p, pid, path, o->path))
		return 0;
	return attached(p, attach_rust(p, pid, path, o->shim_probe_off));
}

size_t probes__prune(struct probes *p, probes_needed_fn needed, void *ctx)
{
	uint64_t now = mono_ns();
	size_t i = 0, n = 0;

	while (i < p->nattached) {
		struct attached *a = &p->attached[i];

		if (needed(ctx, a->pid, a->path, a->ino)) {
			a->idle_since = 0;
			i++;
			continue;
		}
		/* A process gone never needs its own again; a file may be mapped again soon. */
		if (a->pid < 0 && !a->idle_since)
			a->idle_since = now;
		if (a->pid < 0 && now - a->idle_since < PROBES_IDLE_NS) {
			i++;
			continue;
		}
		debug("uprobes on %s%s removed: no target maps it", a->path,
		      a->pid > 0 ? " for a process gone" : "");
		drop_record(p, i, true);
		n++;
	}
	return n;
}

int probes__attach_dl_hook(struct probes *p, pid_t pid, const char *path, uint64_t off)
{
	return attach_one(p, p->skel->progs.dl_debug_state, pid, path, off, false);
}

/*
 * Notice an execve of a target (its probes, tables and heap belong to the
 * old image). Not fatal: without it, an exec goes unseen.
 */
bool probes__attach_exec_hook(struct probes *p)
{
	struct bpf_link *l = bpf_program__attach(p->skel->progs.on_exec);

	if (!l) {
		warn("cannot watch for exec (raw tracepoint sched_process_exec): %s; an exec of "
		     "the target would go unnoticed", strerror(errno));
		return false;
	}
	keep_link(p, l);
	return true;
}

bool probes__attach_fork_hook(struct probes *p)
{
	struct bpf_link *l = bpf_program__attach(p->skel->progs.on_fork);

	if (!l) {
		warn("cannot watch for fork (raw tracepoint sched_process_fork): %s", strerror(errno));
		return false;
	}
	keep_link(p, l);
	return true;
}

int probes__arm_entry(struct probes *p, pid_t pid, const char *path, uint64_t off,
		      const char *ld_path, uint64_t ld_off, bool *ld_armed)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);

	p->skel->bss->stop_at_entry = true;
	p->entry_link = bpf_program__attach_uprobe_opts(p->skel->progs.entry_stop, pid, path, off,
							&uo);
	if (!p->entry_link)
		return -errno;
	if (ld_path)
		p->exec_link = bpf_program__attach_uprobe_opts(p->skel->progs.entry_stop, pid,
							       ld_path, ld_off, &uo);
	if (ld_armed)
		*ld_armed = p->exec_link != NULL;
	return 0;
}

void probes__disarm_entry(struct probes *p)
{
	bpf_link__destroy(p->entry_link);
	bpf_link__destroy(p->exec_link);
	p->entry_link = p->exec_link = NULL;
}

bool probes__entry_armed(const struct probes *p)
{
	return p && p->entry_link;
}

static void *close_link(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/*
 * Each uprobe link's removal waits for a grace period once its breakpoint
 * is gone, and the target keeps trapping on the probes not yet removed:
 * uprobe_multi links are closed all at once, each by a thread of its own,
 * so that every breakpoint goes at the start and the waits overlap. (Perf
 * event uprobes are removed under one kernel lock: one after the other.)
 */
void probes__detach_all(struct probes *p)
{
	pthread_t tids[64];
	size_t i, n = 0;

	if (!p)
		return;
	probes__disarm_entry(p);
	/* The files' uprobes go with the others, all at once. */
	while (p->nattached) {
		struct attached *a = &p->attached[--p->nattached];

		if (a->nfds) {
			ARR_RESERVE(p->mlinks, p->mlinks_cap, p->nmlinks + a->nfds);
			memcpy(p->mlinks + p->nmlinks, a->fds, a->nfds * sizeof(*a->fds));
			p->nmlinks += a->nfds;
		}
		if (a->nlinks) {
			ARR_RESERVE(p->links, p->links_cap, p->nlinks + a->nlinks);
			memcpy(p->links + p->nlinks, a->links, a->nlinks * sizeof(*a->links));
			p->nlinks += a->nlinks;
		}
		free(a->fds);
		free(a->links);
		free(a->path);
	}
	for (i = 0; i < p->nmlinks; i++)
		if (n == ARRAY_SIZE(tids) ||
		    pthread_create(&tids[n], NULL, close_link, (void *)(intptr_t)p->mlinks[i]))
			close(p->mlinks[i]);
		else
			n++;
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	p->nmlinks = 0;
	for (i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	p->nlinks = 0;
	detacher_stop(p);
}

/*
 * Load only the programs this capture attaches: each one with the DWARF
 * unwinder takes the verifier a noticeable fraction of a second.
 */
static bool prog_needed(struct probes *p, const struct bpf_program *prog)
{
	struct bpf_program *entry[LIBC_MAX], *ret[LIBC_MAX];
	size_t i;
	int fn;

	libc_progs(p->skel, entry, ret);
	for (i = 0; i < p->cfg.nobjs; i++)
		for (fn = 0; fn < LIBC_MAX; fn++)
			if (p->cfg.objs[i]->libc_off[fn] && (entry[fn] == prog || ret[fn] == prog))
				return true;
	return false;
}

static void disable_unused(struct probes *p)
{
	struct bpf_program *prog;
	bool rust = p->cfg.layer == LAYER_RUST;

	bpf_object__for_each_program(prog, p->skel->obj) {
		const char *name = bpf_program__name(prog);
		bool keep = rust ? !strncmp(name, "rust_", 5) : prog_needed(p, prog);

		if (!strncmp(name, "rust_ga_", 8))
			keep = rust && p->cfg.use_ga;

		if (!strcmp(name, "entry_stop"))
			keep = p->cfg.entry_stop;
		if (!strcmp(name, "dl_debug_state"))
			keep = true;
		if (!strcmp(name, "on_exec"))
			keep = !p->cfg.launched || p->cfg.follow_forks;
		if (!strcmp(name, "on_fork"))
			keep = p->cfg.launched;
		bpf_program__set_autoload(prog, keep);
	}
}

static uint64_t ring_size(uint64_t want)
{
	uint64_t sz = 4096;

	/* The ring must be a power of two and a multiple of the page size. */
	while (sz < want)
		sz <<= 1;
	return sz;
}

bool probes__have_bpf_loop(void)
{
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;
}

struct probes *probes__load(const struct probes_config *c, probes_event_fn fn, void *ctx)
{
	struct probes *p = xcalloc(1, sizeof(*p));
	struct rsprobe_bpf *k;
	int err;

	p->cfg = *c;
	p->cur = -1;
	libbpf_set_print(libbpf_print);
	p->skel = k = rsprobe_bpf__open();
	if (!k) {
		warn("cannot open the BPF object: %s", strerror(errno));
		free(p);
		return NULL;
	}
	disable_unused(p);
	p->multi = uprobe_multi_works();
	if (p->multi) {
		struct bpf_program *prog;

		/* Every probe but the launch's stop at the entry point (a perf event). */
		bpf_object__for_each_program(prog, k->obj)
			if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE &&
			    strcmp(bpf_program__name(prog), "entry_stop"))
				bpf_program__set_expected_attach_type(prog, RP_TRACE_UPROBE_MULTI);
	}
	debug("probes: %s", p->multi ? "uprobe_multi links" : "perf event uprobes");
	k->rodata->empty_programs = c->empty_programs;
	k->rodata->use_dwarf = c->dwarf;
	k->rodata->copy_stack = c->copy;
	if (c->max_frames) {
		uint32_t room = 1;

		while (room < c->max_frames)
			room <<= 1;
		k->rodata->max_frames = c->max_frames;
		k->rodata->frames_mask = room - 1;
	}
	k->rodata->fixed_exact = c->all;
	k->rodata->follow_forks = c->follow_forks;
	/*
	 * The shims never call each other; libc's realloc calls its malloc and
	 * free, and a GlobalAlloc's default realloc its own alloc and dealloc.
	 */
	k->rodata->nested_calls = c->layer != LAYER_RUST || c->use_ga;
	if (c->all)
		bpf_map__set_max_entries(k->maps.sampled_ptrs, 1);
	k->rodata->wakeup_bytes = ring_size(c->ring_bytes) / 8;
	bpf_map__set_max_entries(k->maps.events, (uint32_t)ring_size(c->ring_bytes));
	bpf_map__set_max_entries(k->maps.cfi_rows, (uint32_t)c->rows);
	p->cfg.max_targets = MAX(1, MIN(c->max_targets, RP_MAX_TARGETS));
	bpf_map__set_max_entries(k->maps.unwind_maps, 2 * p->cfg.max_targets);
	err = rsprobe_bpf__load(k);
	if (err) {
		warn("cannot load the BPF programs: %s (run with -v for the verifier log)",
		     strerror(-err));
		goto fail;
	}
	k->bss->sample_bytes = c->sample_bytes;
	p->rb = ring_buffer__new(bpf_map__fd(k->maps.events), fn, ctx, NULL);
	if (!p->rb) {
		err = -errno;
		warn("cannot set up the ring buffer: %s", strerror(-err));
		goto fail;
	}
	p->cfg.objs = NULL;	/* the caller's: not kept */
	p->cfg.nobjs = 0;
	return p;
fail:
	probes__free(p);
	return NULL;
}

int probes__attach_unwinder(struct probes *p, struct unwinder *u, size_t rows)
{
	int err = unwinder__attach_maps(u, bpf_map__fd(p->skel->maps.cfi_rows), rows,
					bpf_map__fd(p->skel->maps.unwind_maps),
					&p->skel->bss->maps_slot[0]);

	if (err)
		warn("cannot map the unwind tables: %s", strerror(-err));
	return err;
}

volatile uint32_t *probes__maps_slot(struct probes *p, uint32_t slot)
{
	return slot < RP_MAX_TARGETS ? &p->skel->bss->maps_slot[slot] : NULL;
}

int probes__add_target(struct probes *p, pid_t tgid, uint32_t slot, bool recording)
{
	struct rp_target t = { .slot = slot < p->cfg.max_targets ? slot : RP_MAX_TARGETS,
			       .recording = recording };
	uint32_t key = (uint32_t)tgid;

	int err = bpf_map_update_elem(bpf_map__fd(p->skel->maps.targets), &key, &t, BPF_ANY) ?
		  -errno : 0;

	/* After the map: BPF's per-CPU copies of targets hold for one generation. */
	__atomic_fetch_add(&p->skel->bss->targets_gen, 1, __ATOMIC_SEQ_CST);
	return err;
}

void probes__remove_target(struct probes *p, pid_t tgid)
{
	uint32_t key = (uint32_t)tgid;

	bpf_map_delete_elem(bpf_map__fd(p->skel->maps.targets), &key);
	__atomic_fetch_add(&p->skel->bss->targets_gen, 1, __ATOMIC_SEQ_CST);
}

bool probes__target_recording(struct probes *p, pid_t tgid)
{
	struct rp_target t;
	uint32_t key = (uint32_t)tgid;

	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.targets), &key, &t))
		return false;
	return t.recording;
}

int probes__set_target_recording(struct probes *p, pid_t tgid, bool on)
{
	struct rp_target t;
	uint32_t key = (uint32_t)tgid;
	int fd = bpf_map__fd(p->skel->maps.targets);

	if (bpf_map_lookup_elem(fd, &key, &t))
		return -errno;
	t.recording = on;
	if (bpf_map_update_elem(fd, &key, &t, BPF_EXIST))
		return -errno;
	__atomic_fetch_add(&p->skel->bss->targets_gen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

uint64_t probes__ring_size(const struct probes *p)
{
	return ring_size(p->cfg.ring_bytes);
}

uint32_t probes__copy_bytes(const struct probes *p)
{
	return p->skel->rodata->copy_bytes;
}

uint32_t probes__max_frames(const struct probes *p)
{
	return p->skel->rodata->max_frames;
}

int probes__poll(struct probes *p, int timeout_ms)
{
	return ring_buffer__poll(p->rb, timeout_ms);
}

int probes__consume(struct probes *p)
{
	return ring_buffer__consume(p->rb);
}

void probes__counters(struct probes *p, uint64_t sum[RP_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(p->skel->maps.counters);
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
	if (p->cfg.layer == LAYER_RUST && !p->cfg.use_ga)
		sum[RP_CNT_ALLOCS] -= MIN(sum[RP_CNT_ALLOCS], sum[RP_CNT_ALLOC_FAILED]);
}

bool probes__recording(const struct probes *p)
{
	return p->skel->bss->recording;
}

void probes__set_recording(struct probes *p, bool on)
{
	p->skel->bss->recording = on;
}

uint64_t probes__sample_bytes(const struct probes *p)
{
	return p->skel->bss->sample_bytes;
}

void probes__set_sample_bytes(struct probes *p, uint64_t n)
{
	p->skel->bss->sample_bytes = n;
}

uint32_t probes__stops_sent(const struct probes *p)
{
	return p->skel->bss->stops_sent;
}

bool probes__stop_at_entry(const struct probes *p)
{
	return p->skel->bss->stop_at_entry;
}

void probes__set_stop_at_entry(struct probes *p, bool on)
{
	p->skel->bss->stop_at_entry = on;
}

void probes__set_stop_on_dlopen(struct probes *p, bool on)
{
	p->skel->bss->stop_on_dlopen = on;
}

void probes__set_stop_tgid(struct probes *p, pid_t tgid)
{
	p->skel->bss->stop_tgid = (uint32_t)tgid;
}

void probes__free(struct probes *p)
{
	if (!p)
		return;
	probes__detach_all(p);
	free(p->links);
	free(p->mlinks);
	free(p->attached);
	ring_buffer__free(p->rb);
	rsprobe_bpf__destroy(p->skel);
	free(p);
}
