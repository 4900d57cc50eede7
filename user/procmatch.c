// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Finding the daemon's targets in /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfobj.h"
#include "procmatch.h"
#include "procmaps.h"
#include "util.h"

void procmatch__init(struct procmatch *pm)
{
	u64map_init(&pm->seen);
	u64map_init(&pm->gen);
	u64map_init(&pm->rust);
	pm->self_exe = realpath("/proc/self/exe", NULL);
}

void procmatch__free(struct procmatch *pm)
{
	u64map_free(&pm->seen);
	u64map_free(&pm->gen);
	u64map_free(&pm->rust);
	free(pm->self_exe);
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
static uint64_t start_time(pid_t pid)
{
	char buf[1024];
	const char *p = proc_stat_fields(pid, buf, sizeof(buf));
	int i;

	for (i = 3; i < 22 && p; i++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* Who the process is now: PID, start and executable; 0 for none (gone, a kernel thread). */
static uint64_t identity(pid_t pid, struct stat *exe)
{
	char fn[64];
	uint64_t st;

	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	if (stat(fn, exe))
		return 0;
	st = start_time(pid);
	return hash_u64(hash_u64((uint64_t)pid ^ (st << 20)) ^ exe->st_ino) ^ exe->st_dev ^
	       (uint64_t)exe->st_mtime ^ 1;
}

static bool is_rust(struct procmatch *pm, pid_t pid, const struct stat *st)
{
	uint64_t key = hash_u64(st->st_dev ^ hash_u64(st->st_ino ^ hash_u64((uint64_t)st->st_size ^
					    (uint64_t)st->st_mtime))), v;
	char fn[64], exe[PATH_MAX];
	struct elf_object *o;
	ssize_t n;

	if (u64map_get(&pm->rust, key, &v))
		return v == 1;
	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	/* Through /proc/PID/exe: the file the process runs, in its container or not. */
	o = elf_object__open(exe[0] ? exe : fn, fn);
	v = o && (o->rust || elf_object__nshims(o) > 0) ? 1 : 2;
	elf_object__free(o);
	u64map_put(&pm->rust, key, v);
	return v == 1;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char fn[64];
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/comm", pid);
	buf[0] = 0;
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

static bool exe_matches(const char *want, const char *exe, const char *comm)
{
	const char *base = strrchr(exe, '/');
	char real[PATH_MAX];

	if (strchr(want, '/'))
		return !strcmp(want, exe) || (realpath(want, real) && !strcmp(real, exe));
	base = base ? base + 1 : exe;
	/* The kernel keeps 15 bytes of a comm. */
	return !strcmp(want, base) || (comm[0] && !strncmp(want, comm, 15) && strlen(comm) ==
				       MIN(strlen(want), 15));
}

bool procmatch__matches(struct procmatch *pm, pid_t pid)
{
	char fn[64], exe[PATH_MAX], comm[32];
	struct stat st;
	ssize_t n;
	int i;

	if (pid == getpid())
		return false;
	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;	/* a kernel thread, a zombie, or gone */
	exe[n] = 0;
	/* A replaced binary still running: the old file, as the kernel names it. */
	if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
		exe[n - 10] = 0;
	/* Never ourselves, nor another rsprobe. */
	if (pm->self_exe && !strcmp(exe, pm->self_exe))
		return false;
	for (i = 0; i < pm->npids; i++)
		if (pm->pids[i] == pid)
			return true;
	read_comm(pid, comm, sizeof(comm));
	for (i = 0; i < pm->nexes; i++)
		if (exe_matches(pm->exes[i], exe, comm))
			return true;
	return pm->all_rust && !stat(fn, &st) && is_rust(pm, pid, &st);
}

void procmatch__scan(struct procmatch *pm, bool full, bool (*busy)(pid_t pid, void *ctx),
		     void (*found)(pid_t pid, void *ctx), void *ctx)
{
	struct dirent *de;
	uint64_t key, val, id, old;
	size_t it;
	DIR *d;

	pm->scans++;
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		pid_t pid;
		bool known;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		u64map_put(&pm->gen, (uint64_t)pid, pm->scans);
		known = u64map_get(&pm->seen, (uint64_t)pid, &old);
		if (known && !full)
			continue;
		id = identity(pid, &st);
		if (known && id == old)
			continue;
		if (busy(pid, ctx))
			continue;	/* its old image is still being profiled */
		u64map_put(&pm->seen, (uint64_t)pid, id);
		if (id && procmatch__matches(pm, pid))
			found(pid, ctx);
	}
	closedir(d);
	/* Processes gone since: their PIDs may come back as someone else. */
	for (it = 0; u64map_next(&pm->gen, &it, &key, &val);) {
		if (val == pm->scans)
			continue;
		u64map_del(&pm->gen, key, NULL);
		u64map_del(&pm->seen, key, NULL);
		it = 0;	/* deletion shifts entries back: start over */
	}
}

void procmatch__forget(struct procmatch *pm, pid_t pid)
{
	u64map_del(&pm->seen, (uint64_t)pid, NULL);
}
