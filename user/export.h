/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_EXPORT_H
#define RP_EXPORT_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Rotated profile files of one target in a directory:
 * DIR/COMM-PID-YYYYMMDDTHHMMSS.uuuuuuZ.pb.gz (UTC), each written to a temporary file
 * and renamed into place when complete; beyond the newest keep files, the
 * oldest of this target's are removed.
 */
struct exporter;

struct exporter *exporter__new(const char *dir, int keep, const char *comm, pid_t pid);
/* Returns 0 or a negative errno; the file's name in *path (caller frees) if path. */
int exporter__write(struct exporter *e, const void *buf, size_t len, char **path);
void exporter__free(struct exporter *e);

/* Check --export-dir before anything starts: 0, or a negative errno. */
int export_dir_check(const char *dir);

#endif
