// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "util.h"

int rp_verbosity = 1;
const char *rp_usage_prog = "rsprobe";

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", rp_usage_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", rp_usage_prog);
	exit(EXIT_USAGE);
}

uint64_t parse_uint(const char *opt, const char *arg, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > max)
		usage_error("%s: expected a whole number up to %llu, got '%s'", opt,
			    (unsigned long long)max, arg);
	return v;
}

/* Messages name the target's files and processes: control bytes made visible. */
static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char *msg;
	int n = vasprintf(&msg, fmt, ap);

	fputs(prefix, stderr);
	if (n >= 0) {
		text_write(stderr, msg, (size_t)n);
		free(msg);
	}
	fputc('\n', stderr);
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("rsprobe: ", fmt, ap);
	va_end(ap);
}

void info(const char *fmt, ...)
{
	va_list ap;

	if (rp_verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog("rsprobe: ", fmt, ap);
	va_end(ap);
}

void debug(const char *fmt, ...)
{
	va_list ap;

	if (rp_verbosity < 2)
		return;
	va_start(ap, fmt);
	vlog("rsprobe: debug: ", fmt, ap);
	va_end(ap);
}

static void oom(void)
{
	fputs("rsprobe: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

void grow_array(void **arr, size_t *cap, size_t want, size_t sz)
{
	size_t n = *cap;

	if (want <= n)
		return;
	n = n ? n : 8;
	while (n < want)
		n *= 2;
	*arr = xrealloc(*arr, n * sz);
	memset((char *)*arr + *cap * sz, 0, (n - *cap) * sz);
	*cap = n;
}

char *name_cap(char *s)
{
	size_t n;

	if (!s || strnlen(s, RP_NAME_MAX + 1) <= RP_NAME_MAX)
		return s;
	n = RP_NAME_MAX - 3;
	while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;	/* not inside a UTF-8 sequence */
	memcpy(s + n, "...", 4);
	return s;
}

static int open_in_root(const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char root[64];
	int pid, n = 0, dfd, fd, e;

	if (sscanf(path, "/proc/%d/root/%n", &pid, &n) != 1 || !n)
		return -2;	/* not below a process's root */
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, dfd, path + n, &how, sizeof(how));
	e = errno;
	close(dfd);
	errno = e;
	return fd < 0 && errno == ENOSYS ? -2 : fd;	/* before Linux 5.6: plain open */
}

int rp_open_file(const char *path)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd = open_in_root(path, flags);

	if (fd == -2)
		fd = open(path, flags);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > RP_FILE_MAX) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : ENOEXEC;
		return -1;
	}
	return fd;
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t hash_bytes(const void *p, size_t n)
{
	/* Word at a time: stacks, the hottest input, are arrays of u64. */
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, sizeof(w));
		h = hash_u64(h ^ w) + 0x9e3779b97f4a7c15ULL;
	}
	for (w = 0; i < n; i++)
		w = w << 8 | b[i];
	return hash_u64(h ^ w);
}

const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	if (bytes < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else if (bytes < 1024ULL * 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024));
	else
		snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
	return buf;
}
