// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Interval profiles of a target, written to a directory and rotated. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "util.h"

struct exporter {
	char *dir;
	char *prefix;		/* "COMM-PID-" */
	int keep;
	char **files;		/* oldest first (names sort by time) */
	size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int export_dir_check(const char *dir)
{
	struct stat st;

	if (stat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return access(dir, W_OK | X_OK) ? -errno : 0;
}

struct exporter *exporter__new(const char *dir, int keep, const char *comm, pid_t pid)
{
	struct exporter *e = xcalloc(1, sizeof(*e));
	char name[32];
	size_t i, plen;
	struct dirent *de;
	DIR *d;

	/* Names come from the target: only characters no shell or path treats specially. */
	snprintf(name, sizeof(name), "%s", comm[0] ? comm : "unknown");
	for (i = 0; name[i]; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= 'A' && name[i] <= 'Z') &&
		    !(name[i] >= '0' && name[i] <= '9') && name[i] != '_' && name[i] != '.' &&
		    name[i] != '+')
			name[i] = '_';
	if (name[0] == '.')
		name[0] = '_';
	e->dir = xstrdup(dir);
	e->prefix = xasprintf("%s-%d-", name, (int)pid);
	e->keep = keep;
	/* Files of the same process from before (the daemon followed an exec): rotated too. */
	plen = strlen(e->prefix);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (!strncmp(de->d_name, e->prefix, plen) && n > 6 &&
		    !strcmp(de->d_name + n - 6, ".pb.gz")) {
			ARR_RESERVE(e->files, e->cap, e->n + 1);
			e->files[e->n++] = xstrdup(de->d_name);
		}
	}
	if (d)
		closedir(d);
	if (e->n)
		qsort(e->files, e->n, sizeof(*e->files), cmp_str);
	return e;
}

static void rotate(struct exporter *e)
{
	size_t drop, i;

	if (e->keep <= 0 || e->n <= (size_t)e->keep)
		return;
	drop = e->n - (size_t)e->keep;
	for (i = 0; i < drop; i++) {
		char *p = xasprintf("%s/%s", e->dir, e->files[i]);

		if (unlink(p) && errno != ENOENT)
			warn("cannot remove %s: %s", p, strerror(errno));
		free(p);
		free(e->files[i]);
	}
	memmove(e->files, e->files + drop, (e->n - drop) * sizeof(*e->files));
	e->n -= drop;
}

int exporter__write(struct exporter *e, const void *buf, size_t len, char **path)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32], *name, *tmp, *final;
	mode_t mask = umask(0);
	int fd, err = 0;
	ssize_t w;
	size_t off = 0;

	umask(mask);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	/* Microseconds: names sort in time order, and two never meet. */
	name = xasprintf("%s%s.%06ldZ.pb.gz", e->prefix, stamp, ts.tv_nsec / 1000);
	tmp = xasprintf("%s/.%s.XXXXXX", e->dir, name);
	final = xasprintf("%s/%s", e->dir, name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	while (off < len) {
		w = write(fd, (const char *)buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!err && fchmod(fd, 0644 & ~mask))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, final))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	ARR_RESERVE(e->files, e->cap, e->n + 1);
	e->files[e->n++] = name;
	name = NULL;
	rotate(e);
	if (path) {
		*path = final;
		final = NULL;
	}
out:
	free(name);
	free(tmp);
	free(final);
	return err;
}

void exporter__free(struct exporter *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++)
		free(e->files[i]);
	free(e->files);
	free(e->prefix);
	free(e->dir);
	free(e);
}
