// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Target discovery: what a process is (its executable, its name, whether it
 * has a user space), and the executable objects it maps or will map, where
 * an allocator may be.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "procmaps.h"
#include "util.h"

const char *proc_exe(pid_t pid, char *buf, size_t len)
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

void proc_comm(pid_t pid, char *buf, size_t len)
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
int proc_check_user(pid_t pid)
{
	char buf[1024], state = 0;
	unsigned int flags = 0;
	const char *p;

	/* "state ppid pgrp session tty tpgid flags" */
	p = proc_stat_fields(pid, buf, sizeof(buf));
	if (!p || sscanf(p, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
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

bool objects__has(const struct objects *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].obj->path, path))
			return true;
	return false;
}

void objects__add(struct objects *s, const char *path, const char *open_path)
{
	struct elf_object *o;
	char *real = NULL;

	/* Before the program runs, paths are ours: name them as the maps will. */
	if (path == open_path && (real = realpath(path, NULL)))
		path = open_path = real;
	if (objects__has(s, path)) {
		free(real);
		return;
	}
	o = elf_object__open(path, open_path);
	if (o) {
		ARR_RESERVE(s->v, s->cap, s->n + 1);
		s->v[s->n].path = xstrdup(open_path);
		s->v[s->n].obj = o;
		s->n++;
	}
	free(real);
}

/* Every executable file mapping of the process: where an allocator may be. */
int objects__add_pid(struct objects *s, pid_t pid)
{
	struct procmaps pm;
	size_t i;
	int err;

	err = procmaps__read(pid, &pm);
	if (err)
		return err;
	for (i = 0; i < pm.n; i++) {
		const struct mapping *m = &pm.maps[i];
		char *open_path;

		if (!m->exec || !m->path || objects__has(s, m->path))
			continue;
		open_path = proc_map_path(pid, m);
		objects__add(s, m->path, open_path);
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
void objects__add_exe(struct objects *s, const char *exe)
{
	size_t i, j;

	objects__add(s, exe, exe);
	/* The dynamic loader: its _dl_debug_state() announces every dlopen. */
	if (s->n && s->v[0].obj->interp)
		objects__add(s, s->v[0].obj->interp, s->v[0].obj->interp);
	/* The loader maps what LD_PRELOAD names first: it is part of the program. */
	if (s->n && getenv("LD_PRELOAD")) {
		char *list = xstrdup(getenv("LD_PRELOAD")), *tok, *save = NULL;

		for (tok = strtok_r(list, " :", &save); tok; tok = strtok_r(NULL, " :", &save)) {
			char *lib = strchr(tok, '/') ? xstrdup(tok) :
				    elf_object__resolve_needed(s->v[0].obj, tok);

			if (lib && access(lib, R_OK) == 0)
				objects__add(s, lib, lib);
			free(lib);
		}
		free(list);
	}
	/* Breadth first: s->v grows while it is walked. */
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < s->v[i].obj->nneeded; j++) {
			char *lib = elf_object__resolve_needed(s->v[i].obj,
							       s->v[i].obj->needed[j]);

			if (lib)
				objects__add(s, lib, lib);
			free(lib);
		}
	}
}

void objects__free(struct objects *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].path);
		elf_object__free(s->v[i].obj);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}
