/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which processes are traced, and whether recording is on.
 * Included by rsprobe.bpf.c only (one BPF object).
 */
#ifndef RP_TARGET_BPF_H
#define RP_TARGET_BPF_H

/*
 * The processes whose events are kept. Probes on a file serve every process
 * that runs it: the others are filtered out here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RP_MAX_TRACKED);
	__type(key, __u32);
	__type(value, struct rp_target);
} targets SEC(".maps");

/*
 * Userspace turns recording on once every probe is attached and off before
 * any is detached: attaching and detaching take time per probe, and a window
 * with frees recorded but not allocations would skew every figure.
 */
bool recording = false;

/* The calling process, when it is a target (recording or not). */
static __always_inline struct rp_target *target_of(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	return bpf_map_lookup_elem(&targets, &tgid);
}

/* The calling process, when it is a target being recorded now. */
static __always_inline struct rp_target *is_target(__u64 pid_tgid)
{
	struct rp_target *t;

	if (!recording)
		return NULL;
	t = target_of(pid_tgid);
	return t && t->recording ? t : NULL;
}

#endif /* RP_TARGET_BPF_H */
