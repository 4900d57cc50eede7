// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "procmaps.h"
#include "util.h"

const char *proc_stat_fields(pid_t pid, char *buf, size_t len)
{
	char fn[64];
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	/* "pid (comm) state ...": fields start after the last ')'. */
	buf = strrchr(buf, ')');
	return buf ? buf + 1 : NULL;
}

int procmaps__parse(FILE *f, struct procmaps *pm)
{
	char *line = NULL;
	size_t cap = 0, lcap = 0;

	memset(pm, 0, sizeof(*pm));
	while (getline(&line, &lcap, f) > 0) {
		unsigned long long start, end, off, ino;
		unsigned int major, minor;
		char perms[8];
		int pathpos = 0;
		struct mapping *m;

		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off,
			   &major, &minor, &ino, &pathpos) < 7 || strlen(perms) < 4 || start >= end)
			continue;
		ARR_RESERVE(pm->maps, cap, pm->n + 1);
		m = &pm->maps[pm->n++];
		m->start = start;
		m->end = end;
		m->offset = off;
		m->inode = ino;
		m->dev = makedev(major, minor);
		m->exec = perms[2] == 'x';
		m->path = NULL;
		if (pathpos && line[pathpos] == '/') {
			line[strcspn(line, "\n")] = 0;
			m->path = xstrdup(line + pathpos);
		}
	}
	free(line);
	return pm->n ? 0 : -ESRCH;
}

int procmaps__read(pid_t pid, struct procmaps *pm)
{
	char fn[64];
	FILE *f;
	int err;

	memset(pm, 0, sizeof(*pm));
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return -errno;
	err = procmaps__parse(f, pm);
	fclose(f);
	return err;
}

/* A read of one process's maps, shared by whoever holds it. */
struct view {
	struct procmaps pm;	/* first: views are handed out as &v->pm */
	pid_t pid;
	uint64_t read_ns;
	unsigned int refs;
	bool current;		/* the latest read of pid: what new lookups get */
};

static struct view **views;
static size_t nviews, views_cap;
static uint64_t view_reads;

static void view_drop(size_t i)
{
	procmaps__free(&views[i]->pm);
	free(views[i]);
	views[i] = views[--nviews];
}

/* Unheld views past PROCMAPS_VIEWS: the oldest reads go. */
static void views_trim(void)
{
	size_t i, idle = 0, oldest;

	for (i = 0; i < nviews; i++)
		idle += !views[i]->refs;
	while (idle > PROCMAPS_VIEWS) {
		oldest = nviews;
		for (i = 0; i < nviews; i++)
			if (!views[i]->refs &&
			    (oldest == nviews || views[i]->read_ns < views[oldest]->read_ns))
				oldest = i;
		view_drop(oldest);
		idle--;
	}
}

const struct procmaps *procmaps__view(pid_t pid, uint64_t max_age_ns)
{
	struct view *cur = NULL, *v;
	uint64_t now = mono_ns();
	size_t i;
	int err;

	for (i = 0; i < nviews && !cur; i++)
		if (views[i]->current && views[i]->pid == pid)
			cur = views[i];
	if (cur && max_age_ns && now - cur->read_ns <= max_age_ns) {
		cur->refs++;
		return &cur->pm;
	}
	v = xcalloc(1, sizeof(*v));
	err = procmaps__read(pid, &v->pm);
	view_reads++;
	if (err) {
		free(v);
		errno = -err;
		return NULL;
	}
	v->pid = pid;
	v->read_ns = now;
	v->refs = 1;
	v->current = true;
	if (cur) {
		cur->current = false;
		for (i = 0; i < nviews && !cur->refs; i++) {
			if (views[i] == cur) {
				view_drop(i);
				break;
			}
		}
	}
	ARR_RESERVE(views, views_cap, nviews + 1);
	views[nviews++] = v;
	views_trim();
	return &v->pm;
}

void procmaps__view_put(const struct procmaps *pm)
{
	size_t i;

	for (i = 0; pm && i < nviews; i++) {
		if (&views[i]->pm != pm)
			continue;
		if (!--views[i]->refs && !views[i]->current)
			view_drop(i);
		else if (!views[i]->refs)
			views_trim();
		return;
	}
}

uint64_t procmaps__view_read_ns(const struct procmaps *pm)
{
	return ((const struct view *)pm)->read_ns;
}

uint64_t procmaps__view_reads(void)
{
	return view_reads;
}

void procmaps__free(struct procmaps *pm)
{
	size_t i;

	for (i = 0; i < pm->n; i++)
		free(pm->maps[i].path);
	free(pm->maps);
	memset(pm, 0, sizeof(*pm));
}

const struct mapping *procmaps__find(const struct procmaps *pm, uint64_t addr)
{
	size_t lo = 0, hi = pm->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct mapping *m = &pm->maps[mid];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

const struct mapping *procmaps__by_path(const struct procmaps *pm, const char *path)
{
	const struct mapping *any = NULL;
	size_t i;

	for (i = 0; i < pm->n; i++) {
		if (!pm->maps[i].path || strcmp(pm->maps[i].path, path))
			continue;
		if (pm->maps[i].exec)
			return &pm->maps[i];
		any = any ? any : &pm->maps[i];
	}
	return any;
}

char *proc_map_path(pid_t pid, const struct mapping *m)
{
	char *p = xasprintf("/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)m->start,
			    (unsigned long long)m->end);
	struct stat st;

	/* The file the process maps, deleted or replaced since: if it is the one maps names. */
	if (!stat(p, &st) && S_ISREG(st.st_mode) && st.st_ino == m->inode && st.st_dev == m->dev)
		return p;
	free(p);
	return m->path ? proc_path(pid, m->path) : NULL;
}

char *proc_path(pid_t pid, const char *path)
{
	char *p = xasprintf("/proc/%d/root%s", pid, path);

	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return xstrdup(path);
}
