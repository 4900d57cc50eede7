/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which processes are traced, and whether recording is on.
 * Included by rsprobe.bpf.c only (one BPF object).
 */
#ifndef RP_TARGET_BPF_H
#define RP_TARGET_BPF_H

/* Only this process's events are kept (0: all processes the probes see). */
const volatile __u32 targ_tgid = 0;
/*
 * Userspace turns recording on once every probe is attached and off before
 * any is detached: attaching and detaching take time per probe, and a window
 * with frees recorded but not allocations would skew every figure.
 */
bool recording = false;

static __always_inline bool is_target(__u64 pid_tgid)
{
	return recording && (!targ_tgid || (__u32)(pid_tgid >> 32) == targ_tgid);
}

#endif /* RP_TARGET_BPF_H */
