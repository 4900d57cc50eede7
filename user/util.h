/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

extern int rp_verbosity;	/* 0 quiet, 1 normal, 2 verbose */

void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that cannot fail: a profiler out of memory has nothing to report. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *arr (of *cap elements of size sz) to hold at least want elements. */
void grow_array(void **arr, size_t *cap, size_t want, size_t sz);
#define ARR_RESERVE(arr, cap, want) grow_array((void **)&(arr), &(cap), (want), sizeof(*(arr)))

/*
 * Names come from the target's files: a name longer than this is cut (at a
 * character boundary, "..." appended), so hostile debug info cannot make one
 * name, or a report repeating it, arbitrarily large.
 */
#define RP_NAME_MAX 4096
char *name_cap(char *s);

/*
 * Open a file of the target's (an object, a debug file) to read: never a
 * FIFO, device or directory (O_NONBLOCK, so that opening one cannot block),
 * at most RP_FILE_MAX bytes. A path below /proc/PID/root/ is resolved inside
 * that root, absolute symbolic links included, as the target sees it, not
 * from ours. Returns an fd, or -1 with errno set.
 */
#define RP_FILE_MAX (16ULL << 30)
int rp_open_file(const char *path);

/*
 * Command-line errors: "PROG: what is wrong (see PROG --help)" on stderr, one
 * line, and exit status 2. PROG is rp_usage_prog ("rsprobe" unless a
 * subcommand says otherwise).
 */
#define EXIT_USAGE 2
extern const char *rp_usage_prog;
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A whole number from 0 to max given to option opt, or a usage error. */
uint64_t parse_uint(const char *opt, const char *arg, uint64_t max);

uint64_t mono_ns(void);
uint64_t hash_bytes(const void *p, size_t n);
static inline uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Format a duration in ns as a short human string ("1.5ms") into buf. */
const char *fmt_ns(char *buf, size_t len, uint64_t ns);
/* Format a byte count ("12.3 KiB") into buf. */
const char *fmt_bytes(char *buf, size_t len, uint64_t bytes);

#endif
