// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probes on the Rust allocator shims:
 *   __rust_alloc(size, align)                      entry + return
 *   __rust_alloc_zeroed(size, align)               entry + return
 *   __rust_realloc(ptr, old_size, align, new_size) entry + return
 *   __rust_dealloc(ptr, size, align)               entry
 *
 * Stacks are taken at entry: once a uretprobe is armed, the kernel has replaced
 * the return address on the user stack with its trampoline.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "rsprobe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Only this process's events are kept (0: all processes the probes see). */
const volatile __u32 targ_tgid = 0;
/* Wake the consumer once this much data waits; below it, it drains on a timer. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* Capture user stacks at all (off for the bare-probe cost floor). */
const volatile bool capture_stacks = true;
/* Diagnostic: do nothing at all in the programs (the uprobe floor). */
const volatile bool empty_programs = false;
/* Set by the first event: wake the consumer at once so it reads the layout early. */
bool first_event_sent = false;
/*
 * Userspace turns recording on once every probe is attached and off before
 * any is detached: attaching and detaching take time per probe, and a window
 * with frees recorded but not allocations would skew every figure.
 */
bool recording = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 * 1024 * 1024);	/* resized from userspace */
} events SEC(".maps");

/* Entry state kept per thread until the matching return. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RP_MAX_PENDING);
	__type(key, __u32);
	__type(value, struct rp_event);
} pending SEC(".maps");

/*
 * An all-zero event, only ever read: the initial value of a pending entry,
 * which is too large for the BPF stack. (A per-CPU scratch buffer is not safe
 * here: uprobe programs run with migration, not preemption, disabled, so two
 * threads' programs can interleave on one CPU.)
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_event);
} zero_event SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline bool is_target(__u64 pid_tgid)
{
	return recording && (!targ_tgid || (__u32)(pid_tgid >> 32) == targ_tgid);
}

/*
 * Fill e->frames: the kernel's frame-pointer walk gives the probed address
 * first, then return addresses. The shims begin with a jmp and have no frame
 * of their own, so the immediate caller's return address is at [rsp]; it
 * replaces the probed address in slot 0.
 */
static __always_inline void take_stack(struct pt_regs *ctx, struct rp_event *e)
{
	long n;
	__u64 ra = 0;

	e->nframes = 0;
	if (!capture_stacks)
		return;
	n = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);
	if (n < 0) {
		count(RP_CNT_STACK_ERR);
		n = 8;
	} else if (n < 8) {
		n = 8;
	}
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx)) < 0)
		ra = 0;
	e->frames[0] = ra;
	e->nframes = n / 8;
	if (e->nframes >= RP_MAX_FRAMES)
		e->flags |= RP_F_TRUNCATED;
}

static __always_inline __u64 wakeup_flags(void)
{
	if (!first_event_sent ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		first_event_sent = true;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

/* Send a pending entry (a map value) with only the frames it holds. */
static __always_inline void emit(struct rp_event *e)
{
	__u64 sz = RP_EVENT_HDR_SIZE + (__u64)e->nframes * 8;

	if (sz > sizeof(*e))
		sz = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, sz, wakeup_flags()))
		count(RP_CNT_LOST);
}

static __always_inline void init_event(struct rp_event *e, __u32 type, __u64 pid_tgid)
{
	e->type = type;
	e->tid = (__u32)pid_tgid;
	e->pid = pid_tgid >> 32;
	e->flags = 0;
	e->nframes = 0;
	e->ts = bpf_ktime_get_ns();
	e->ptr = 0;
	e->old_ptr = 0;
	e->size = 0;
	e->align = 0;
}

/* A fresh pending entry for this thread, owned by it until its return probe. */
static __always_inline struct rp_event *new_pending(__u32 type, __u64 pid_tgid)
{
	__u32 zero = 0, tid = (__u32)pid_tgid;
	struct rp_event *z = bpf_map_lookup_elem(&zero_event, &zero), *e;

	if (!z)
		return NULL;
	if (bpf_map_update_elem(&pending, &tid, z, BPF_ANY)) {
		count(RP_CNT_PENDING_FULL);
		return NULL;
	}
	e = bpf_map_lookup_elem(&pending, &tid);
	if (e)
		init_event(e, type, pid_tgid);
	return e;
}

static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u64 align,
				       __u16 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(RP_EV_ALLOC, pid_tgid);
	if (!e)
		return 0;
	e->size = size;
	e->align = align;
	e->flags = flags;
	take_stack(ctx, e);
	return 0;
}

static __always_inline int call_exit(__u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e) {
		count(RP_CNT_NO_PENDING);
		return 0;
	}
	if (ret) {
		e->ptr = ret;
		emit(e);
	} else {
		count(RP_CNT_ALLOC_FAILED);
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(rust_alloc, __u64 size, __u64 align)
{
	return alloc_enter(ctx, size, align, 0);
}

SEC("uprobe")
int BPF_KPROBE(rust_alloc_zeroed, __u64 size, __u64 align)
{
	return alloc_enter(ctx, size, align, RP_F_ZEROED);
}

SEC("uretprobe")
int BPF_KRETPROBE(rust_alloc_ret, __u64 ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(rust_realloc, __u64 ptr, __u64 old_size, __u64 align, __u64 new_size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(RP_EV_REALLOC, pid_tgid);
	if (!e)
		return 0;
	e->old_ptr = ptr;
	e->size = new_size;
	e->align = align;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(rust_realloc_ret, __u64 ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(rust_dealloc, __u64 ptr, __u64 size, __u64 align)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid) || !ptr)
		return 0;
	/* Reserved at full size: the ring is the only memory this program owns. */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(RP_CNT_LOST);
		return 0;
	}
	init_event(e, RP_EV_FREE, pid_tgid);
	e->ptr = ptr;
	e->size = size;
	e->align = align;
	take_stack(ctx, e);
	bpf_ringbuf_submit(e, wakeup_flags());
	return 0;
}
