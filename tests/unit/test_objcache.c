// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The object cache: one entry per file identity, whoever asks and by
 * whichever path; a file replaced in place gets a new entry; released
 * entries are kept up to OBJCACHE_KEEP; each part is read once. The files
 * are this test program, copies of it, /bin/true and small text files.
 * And the shared views of /proc/PID/maps, and the fields of /proc/PID/stat.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "objcache.h"
#include "procmaps.h"
#include "symbolize.h"
#include "unwind.h"
#include "util.h"

static char self[PATH_MAX];
static char tmpdir[] = "/tmp/rsprobe-objcache-XXXXXX";

__attribute__((noinline)) void objcache_probe_fn(void)
{
	__asm__ volatile("" ::: "memory");
}

static int copy_file(const char *from, const char *to, int flags)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | flags, 0755);
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return in >= 0 && out >= 0 ? 0 : -1;
}

static struct objfile *get_path(struct objcache *c, const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return objcache__get(c, path, path, st.st_dev, st.st_ino);
}

/* One file by two paths, and its copy: one entry, indexed once. */
static void test_one_entry_per_file(void)
{
	struct objcache *c = objcache__new();
	struct objcache_stats st;
	struct objfile *a, *b, *d;
	char *copy = xasprintf("%s/copy", tmpdir);

	b = objcache__get(c, "/proc/self/exe", "/proc/self/exe", 0, 0);
	a = objcache__get(c, self, self, 0, 0);
	CHECK(a == b);
	/* Read through /proc first, named as the process maps it once a reader says. */
	CHECK_STR(a->path, self);
	CHECK(a->elf && !strcmp(a->elf->path, self));
	CHECK(a->elf != NULL);
	CHECK(a->id.build_id[0] != 0);
	CHECK(copy_file(self, copy, O_TRUNC) == 0);
	/* Another inode, the same build ID. */
	d = get_path(c, copy);
	CHECK(d == a);
	CHECK_U64(a->refs, 3);
	objcache__stats(c, &st);
	CHECK_U64(st.files, 1);
	CHECK_U64(st.elf_opens, 1);
	CHECK_U64(st.hits, 2);
	objcache__put(c, a);
	objcache__put(c, b);
	objcache__put(c, d);
	objcache__stats(c, &st);
	CHECK_U64(st.files, 1);		/* released, kept */
	CHECK_U64(st.evicted, 0);
	unlink(copy);
	free(copy);
	objcache__free(c);
}

/*
 * Rewritten in place (same inode, another build ID): a new entry; the old
 * one lives on while held.
 */
static void test_replaced_in_place(void)
{
	struct objcache *c = objcache__new();
	struct objcache_stats st;
	struct objfile *a, *b;
	char *path = xasprintf("%s/replaced", tmpdir), id[41];

	CHECK(copy_file(self, path, O_TRUNC) == 0);
	a = get_path(c, path);
	snprintf(id, sizeof(id), "%s", a->id.build_id);
	CHECK(copy_file("/bin/true", path, O_TRUNC) == 0);
	b = get_path(c, path);
	CHECK(a != b);
	CHECK(a->stale && !b->stale);
	CHECK(strcmp(b->id.build_id, id) != 0);
	CHECK_STR(a->id.build_id, id);		/* still what its holder read */
	CHECK(a->elf && a->elf->nsyms > 0);
	objcache__put(c, a);
	objcache__stats(c, &st);
	CHECK_U64(st.files, 1);
	CHECK_U64(st.evicted, 1);
	objcache__put(c, b);
	unlink(path);
	free(path);
	objcache__free(c);
}

/* Released entries past OBJCACHE_KEEP are freed, the oldest first. */
static void test_bounded(void)
{
	struct objcache *c = objcache__new();
	struct objcache_stats st;
	struct objfile *first = NULL, *last = NULL, *again;
	int i, n = OBJCACHE_KEEP + 6;

	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s/f%d", tmpdir, i);
		FILE *f = fopen(p, "w");
		struct objfile *o;

		CHECK(f != NULL);
		if (f) {
			fprintf(f, "not ELF %d\n", i);
			fclose(f);
		}
		o = get_path(c, p);
		CHECK(o->elf == NULL && !o->stale);
		if (!i)
			first = o;
		last = o;
		objcache__put(c, o);
		free(p);
	}
	objcache__stats(c, &st);
	CHECK_U64(st.files, OBJCACHE_KEEP);
	CHECK_U64(st.evicted, n - OBJCACHE_KEEP);
	/* The newest is still there: found, not read again. */
	{
		char *p = xasprintf("%s/f%d", tmpdir, n - 1);

		again = get_path(c, p);
		CHECK(again == last);
		objcache__put(c, again);
		free(p);
	}
	(void)first;
	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s/f%d", tmpdir, i);

		unlink(p);
		free(p);
	}
	objcache__free(c);
}

/* DWARF, function ranges and CFI rows: each read once, however often asked. */
static void test_parts_once(void)
{
	struct objcache *c = objcache__new();
	struct objcache_stats st;
	struct objfile *a = objcache__get(c, self, self, 0, 0);
	const struct cfi_table *t1, *t2;
	size_t n1, n2;
	int err;

	t1 = objfile__cfi(c, a, self, &err);
	t2 = objfile__cfi(c, a, self, &err);
	CHECK(t1 && t1 == t2 && t1->n > 0);
	CHECK(objfile__funcs(c, a, self, &n1) == objfile__funcs(c, a, self, &n2));
	CHECK(n1 > 0 && n1 == n2);
	objfile__dwarf(c, a, self, self);
	objfile__dwarf(c, a, self, self);
	objcache__stats(c, &st);
	CHECK_U64(st.cfi_builds, 1);
	CHECK_U64(st.func_reads, 1);
	CHECK_U64(st.dwarf_opens, 1);
	objcache__put(c, a);
	objcache__free(c);
}

/*
 * Two symbolizers and two unwinders of one process (two targets running
 * the same binary): the binary is indexed once and its table built once.
 */
static void test_shared_by_readers(void)
{
	struct objcache *c = objcache__shared();
	struct objcache_stats before, after;
	struct symbolizer *s1, *s2;
	struct unwinder *u1, *u2;
	const char *paths[] = { self };
	const struct frame_info *f1, *f2;
	size_t r1, r2;

	objcache__stats(c, &before);
	s1 = symbolizer__new(getpid());
	s2 = symbolizer__new(getpid());
	symbolizer__refresh_maps(s1);
	symbolizer__refresh_maps(s2);
	f1 = symbolizer__frame(s1, (uint64_t)(uintptr_t)objcache_probe_fn + 1);
	f2 = symbolizer__frame(s2, (uint64_t)(uintptr_t)objcache_probe_fn + 1);
	CHECK_STR(f1->function, "objcache_probe_fn");
	CHECK_STR(f2->function, "objcache_probe_fn");
	u1 = unwinder__new(getpid());
	u2 = unwinder__new(getpid());
	r1 = unwinder__prepare(u1, paths, 1);
	r2 = unwinder__prepare(u2, paths, 1);
	CHECK(r1 > 0 && r1 == r2);
	objcache__stats(c, &after);
	CHECK_U64(after.elf_opens - before.elf_opens, 1);
	CHECK_U64(after.cfi_builds - before.cfi_builds, 1);
	CHECK_U64(after.dwarf_opens - before.dwarf_opens, 1);
	unwinder__free(u1);
	unwinder__free(u2);
	symbolizer__free(s1);
	symbolizer__free(s2);
	objcache__stats(c, &after);
	CHECK(after.files >= 1);	/* released, kept for a target that comes back */
}

/* One read of a process's maps serves every reader that can take one that old. */
static void test_maps_view(void)
{
	uint64_t reads = procmaps__view_reads();
	const struct procmaps *v1, *v2, *v3, *v4;
	struct symbolizer *sym;
	size_t n;

	v1 = procmaps__view(getpid(), 0);
	CHECK(v1 && v1->n > 0);
	if (!v1)
		return;
	n = v1->n;
	v2 = procmaps__view(getpid(), 60ULL * 1000000000);
	CHECK(v2 == v1);
	CHECK_U64(procmaps__view_reads() - reads, 1);
	/* Read now: a new view; the old one stays as it was for its holders. */
	v3 = procmaps__view(getpid(), 0);
	CHECK(v3 && v3 != v1);
	CHECK_U64(procmaps__view_reads() - reads, 2);
	/* The symbolizer reads when told the layout changed, and holds the latest read. */
	sym = symbolizer__new(getpid());
	symbolizer__refresh_maps(sym);
	CHECK_U64(procmaps__view_reads() - reads, 3);
	CHECK_STR(symbolizer__frame(sym, (uint64_t)(uintptr_t)objcache_probe_fn + 1)->function,
		  "objcache_probe_fn");
	v4 = procmaps__view(getpid(), 60ULL * 1000000000);
	CHECK(v4 && v4 != v3);		/* the symbolizer's read is the latest */
	CHECK_U64(procmaps__view_reads() - reads, 3);
	procmaps__view_put(v4);
	CHECK_U64(v1->n, n);
	CHECK(procmaps__find(v1, (uint64_t)(uintptr_t)objcache_probe_fn) != NULL);
	procmaps__view_put(v1);
	procmaps__view_put(v2);
	procmaps__view_put(v3);
	symbolizer__free(sym);
	/* A process that does not exist has no view. */
	CHECK(procmaps__view(0x7ffffff0, 0) == NULL);
}

/* /proc/PID/stat of a child whose name holds ") Z 1 (": its fields all the same. */
static void test_stat_fields(void)
{
	char buf[1024];
	const char *p;
	int ppid = 0, fds[2];
	char state = 0, c;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_NAME, "a) Z 1 (b)");
		c = 1;
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK(read(fds[0], &c, 1) == 1);
	p = proc_stat_fields(pid, buf, sizeof(buf));
	CHECK(p && sscanf(p, " %c %d", &state, &ppid) == 2);
	CHECK(state == 'S' || state == 'R');
	CHECK_U64(ppid, getpid());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(proc_stat_fields(pid, buf, sizeof(buf)) == NULL);
	close(fds[0]);
	close(fds[1]);
}

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0 || !mkdtemp(tmpdir)) {
		fprintf(stderr, "cannot set up\n");
		return 1;
	}
	self[n] = 0;
	RUN(test_one_entry_per_file);
	RUN(test_replaced_in_place);
	RUN(test_bounded);
	RUN(test_parts_once);
	RUN(test_shared_by_readers);
	RUN(test_maps_view);
	RUN(test_stat_fields);
	rmdir(tmpdir);
	CHECK_DONE();
}
