/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_LAUNCH_H
#define RP_LAUNCH_H

#include <sys/types.h>

/* The command's path as execvp would find it (real path), or NULL. */
char *launch__resolve(const char *cmd);
/*
 * A rustup proxy (~/.cargo/bin/cargo, ...) execs the toolchain's program:
 * that program's real path, or NULL when exe is no such proxy.
 */
char *launch__resolve_proxy(const char *exe, char *const argv[]);

/* A command forked and held before its exec. */
struct child {
	pid_t pid;
	int go_fd, err_fd;	/* release it / learn that its exec failed */
	const char *argv0;
};

/* Fork argv, held until launch__release. Returns 0 or a negative errno. */
int launch__fork(struct child *c, char **argv);
/* Let it exec; a failed exec is said and returned as a negative errno. */
int launch__release(struct child *c);
void launch__close(struct child *c);

#endif
