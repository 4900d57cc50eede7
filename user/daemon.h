/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_DAEMON_H
#define RP_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"

#define DAEMON_MAX_PIDS 64
#define DAEMON_MAX_EXES 64

/* Defaults (README, Daemon). */
#define DAEMON_DEFAULT_OVERHEAD 1.0	/* % of a target's CPU */
#define DAEMON_DEFAULT_EXPORT_SECS 60
#define DAEMON_DEFAULT_KEEP 10
#define DAEMON_DEFAULT_RING_MB 8
/* Caps per target: about 110 MiB of live table at worst, and sites. */
#define DAEMON_DEFAULT_MAX_LIVE 2000000
#define DAEMON_DEFAULT_MAX_SITES 50000
#define DAEMON_SCAN_NS 100000000ULL	/* new processes: looked for this often */
#define DAEMON_RESCAN_NS 1000000000ULL	/* images of known processes (exec) */
#define DAEMON_SNAP_NS 250000000ULL	/* a target's figures, refreshed this often */
#define DAEMON_DUTY_PERIOD_NS (10 * 1000000000ULL)	/* probes on, then off, once per */
#define DAEMON_EXITED_KEEP_NS (300 * 1000000000ULL)	/* an exited target's last figures */

struct daemon_opts {
	pid_t pids[DAEMON_MAX_PIDS];
	int npids;
	const char *exes[DAEMON_MAX_EXES];
	int nexes;
	bool all_rust;
	double max_overhead;		/* % of a target's CPU */
	const char *metrics_addr;	/* "ADDR:PORT" or "PORT", NULL: no endpoint */
	char metrics_host[64];
	unsigned int metrics_port;
	int metrics_top;
	const char *export_dir;
	uint64_t export_interval_ns;
	int export_keep;
	const char *push_url;
	const char *log_path;
	uint64_t ring_bytes;
	bool all;			/* record every allocation (no budget) */
	uint64_t max_live, max_sites;	/* caps per target */
	/* Internal: this process profiles one target for the daemon. */
	pid_t child_pid;
	const char *state_dir;
};

/*
 * rsprobe daemon ARGS (argv[0] is "daemon"). preflight checks privileges
 * and the kernel (main.c), once, before anything is attached.
 */
int daemon_main(int argc, char **argv, int (*preflight)(void));

/* One target, profiled in a process of its own (daemon_target.c). */
int daemon_target_run(const struct daemon_opts *o);

/* Snapshots travel from a target's process to the daemon as files in the state directory. */
int snap_write(const char *path, const struct metrics_snap *s);
int snap_read(const char *path, struct metrics_snap *s);

#endif
