// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF programs, one object. Probes on the Rust allocator shims:
 *   __rust_alloc(size, align)                      entry + return
 *   __rust_alloc_zeroed(size, align)               entry + return
 *   __rust_realloc(ptr, old_size, align, new_size) entry + return
 *   __rust_dealloc(ptr, size, align)               entry
 *
 * Stacks are taken at entry: once a uretprobe is armed, the kernel has replaced
 * the return address on the user stack with its trampoline.
 *
 * The pieces, by concern, are headers of this one object (one skeleton):
 *   events.bpf.h  the ring buffer, counters, events built and sent
 *   target.bpf.h  which processes are traced, recording on or off
 *   unwind.bpf.h  the stack at entry: DWARF-CFI, frame pointers, or a copy
 *   calls.bpf.h   per-thread call state, sampling, the entry preamble and return
 * and the programs here.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "rsprobe.h"
#include "rp_exp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Launch mode: stop the new program once at its entry point (see entry_stop). */
bool stop_at_entry = false;
/* Launch mode: stop the program when the loader maps a library (dl_debug_state). */
bool stop_on_dlopen = false;
/* Launch mode: the program rsprobe started, the one whose stops it waits for. */
__u32 stop_tgid = 0;
/*
 * -f: the children of targets are targets too (from their fork on), each
 * stopped at its exec until userspace has probed its new program.
 */
const volatile bool follow_forks = false;
/* SIGSTOPs sent: userspace continues the program only for these. */
__u32 stops_sent = 0;

#include "events.bpf.h"
#include "target.bpf.h"
#include "unwind.bpf.h"
#include "calls.bpf.h"


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
	return realloc_begin(ctx, ptr, old_size, new_size, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(rust_realloc_ret, __u64 ret)
{
	return call_exit_kind(ret, true);
}

SEC("uprobe")
int BPF_KPROBE(rust_dealloc, __u64 ptr, __u64 size, __u64 align)
{
	return free_enter(ctx, ptr, size, align);
}

/*
 * The methods of a #[global_allocator] (<A as GlobalAlloc>::alloc, ...),
 * probed where the program calls them directly. The Rust ABI passes the
 * shims' arguments in another order: the attach cookie says, per shim
 * argument (4 bits each), which register holds it (0..5: rdi..r9).
 */
static __always_inline __u64 shim_arg(struct pt_regs *ctx, int i)
{
	/* Loads at constant offsets: the verifier refuses a computed ctx offset. */
	__u64 r[8] = { PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx),
		       PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx), ctx->r9, 0, 0 };

	return r[(bpf_get_attach_cookie(ctx) >> (4 * i)) & 0x7];
}

SEC("uprobe")
int BPF_KPROBE(rust_ga_alloc)
{
	return alloc_enter(ctx, shim_arg(ctx, 0), shim_arg(ctx, 1), 0);
}

SEC("uprobe")
int BPF_KPROBE(rust_ga_alloc_zeroed)
{
	return alloc_enter(ctx, shim_arg(ctx, 0), shim_arg(ctx, 1), RP_F_ZEROED);
}

SEC("uprobe")
int BPF_KPROBE(rust_ga_realloc)
{
	return realloc_begin(ctx, shim_arg(ctx, 0), shim_arg(ctx, 1), shim_arg(ctx, 3), false);
}

SEC("uprobe")
int BPF_KPROBE(rust_ga_dealloc)
{
	return free_enter(ctx, shim_arg(ctx, 0), shim_arg(ctx, 1), shim_arg(ctx, 2));
}

/*
 * Launch mode: at the program's entry point every shared library is mapped
 * and no Rust code has run yet. Stopping here once lets rsprobe read the
 * layout and load unwind tables before the first allocation; it continues
 * the program right after (the program cannot tell).
 */
SEC("uprobe")
int BPF_KPROBE(entry_stop)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!stop_at_entry || !target_of(pid_tgid))
		return 0;
	stop_at_entry = false;
	__sync_fetch_and_add(&stops_sent, 1);
	bpf_send_signal(19 /* SIGSTOP */);
	return 0;
}

/*
 * The C allocator layer (--source libc): malloc, calloc, realloc, free,
 * posix_memalign, aligned_alloc. Same events as the shims; sizes of frees
 * are unknown here (0) and come from the tracked allocation.
 */
SEC("uprobe")
int BPF_KPROBE(libc_malloc, __u64 size)
{
	return alloc_enter(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(libc_calloc, __u64 n, __u64 size)
{
	return alloc_enter(ctx, n * size, 0, RP_F_ZEROED);
}

SEC("uprobe")
int BPF_KPROBE(libc_aligned_alloc, __u64 align, __u64 size)
{
	return alloc_enter(ctx, size, align, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(libc_alloc_ret, __u64 ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(libc_posix_memalign, __u64 memptr, __u64 align, __u64 size)
{
	return alloc_begin(ctx, RP_CALL_MEMALIGN, size, align, memptr, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(libc_posix_memalign_ret, __u64 ret)
{
	return call_exit(ret);
}

/*
 * realloc(NULL, n) is a malloc, realloc(p, 0) a free (glibc). glibc does them
 * by calling its own malloc and free, which are inner calls here: the realloc
 * reports what happened, with its own stack. The old size is not known here.
 */
SEC("uprobe")
int BPF_KPROBE(libc_realloc, __u64 ptr, __u64 size)
{
	if (!ptr)
		return alloc_enter(ctx, size, 0, 0);
	if (size)
		return realloc_begin(ctx, ptr, ~0ULL, size, false);
	return realloc_free_begin(ctx, ptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(libc_realloc_ret, __u64 ret)
{
	return call_exit(ret);
}

SEC("uprobe")
int BPF_KPROBE(libc_free, __u64 ptr)
{
	return free_enter(ctx, ptr, 0, 0);
}

/*
 * The dynamic loader calls _dl_debug_state() before and after it maps or
 * unmaps a library (the hook debuggers use). Tell userspace at once, so a
 * Rust cdylib loaded with dlopen gets its probes and unwind tables.
 */
SEC("uprobe")
int BPF_KPROBE(dl_debug_state)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (!is_target(pid_tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, RP_EVENT_HDR_SIZE, 0);
	if (!e) {
		count(RP_CNT_LOST);
		return 0;
	}
	init_event(e, RP_EV_MAPS, pid_tgid);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	/*
	 * Launch mode (rsprobe is the parent, nobody else sees the stop): hold
	 * the program until the new library's probes are attached, or its
	 * first allocations would go unseen.
	 */
	if (stop_on_dlopen && (__u32)(pid_tgid >> 32) == stop_tgid) {
		__sync_fetch_and_add(&stops_sent, 1);
		bpf_send_signal(19 /* SIGSTOP */);
	} else if (stop_on_dlopen && follow_forks) {
		/* -f, a child: userspace continues it once it has read this event. */
		bpf_send_signal(19 /* SIGSTOP */);
	}
	return 0;
}

/*
 * jemalloc's API (mallocx & co., what a #[global_allocator] over jemalloc
 * calls) and mimalloc's. Functions with the malloc family's signatures use
 * the libc programs above.
 */
#define MALLOCX_ZERO 0x40

SEC("uprobe")
int BPF_KPROBE(je_mallocx, __u64 size, __u64 flags)
{
	return alloc_enter(ctx, size, 0, flags & MALLOCX_ZERO ? RP_F_ZEROED : 0);
}

SEC("uprobe")
int BPF_KPROBE(je_rallocx, __u64 ptr, __u64 size, __u64 flags)
{
	return realloc_begin(ctx, ptr, ~0ULL, size, false);
}

SEC("uprobe")
int BPF_KPROBE(je_sdallocx, __u64 ptr, __u64 size, __u64 flags)
{
	return free_enter(ctx, ptr, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(mi_zalloc, __u64 size)
{
	return alloc_enter(ctx, size, 0, RP_F_ZEROED);
}

SEC("uprobe")
int BPF_KPROBE(mi_malloc_aligned, __u64 size, __u64 align)
{
	return alloc_enter(ctx, size, align, 0);
}

SEC("uprobe")
int BPF_KPROBE(mi_zalloc_aligned, __u64 size, __u64 align)
{
	return alloc_enter(ctx, size, align, RP_F_ZEROED);
}

/*
 * Attached to a running process (or with -f): an execve replaces its image,
 * and the old heap with it. Tell userspace, and stop recording the process at once, so
 * nothing of the new image is taken for the old one's.
 */
SEC("raw_tp/sched_process_exec")
int on_exec(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_target *t = is_target(pid_tgid);
	struct rp_event *e;

	if (!t)
		return 0;
	t->recording = 0;
	__sync_fetch_and_add(&targets_gen, 1);
	/* -f: held until userspace has probed the new program (it continues it). */
	if (follow_forks)
		bpf_send_signal(19 /* SIGSTOP */);
	e = bpf_ringbuf_reserve(&events, RP_EVENT_HDR_SIZE, 0);
	if (!e) {
		count(RP_CNT_LOST);
		return 0;
	}
	init_event(e, RP_EV_EXEC, pid_tgid);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/*
 * Launch mode: a target forked. With -f the child is a target from now on
 * (recording as its parent, without object tables until userspace gives it
 * some); without, userspace only says the command forked. Threads are not
 * children.
 */
SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_target *pt = target_of(pid_tgid), t = {};
	struct rp_event *e;
	__u32 tgid, pid;

	if (!pt)
		return 0;
	tgid = BPF_CORE_READ(child, tgid);
	pid = BPF_CORE_READ(child, pid);
	if (pid != tgid || tgid == (__u32)(pid_tgid >> 32))
		return 0;
	if (follow_forks) {
		t.slot = RP_MAX_TARGETS;
		t.recording = pt->recording;
		bpf_map_update_elem(&targets, &tgid, &t, BPF_NOEXIST);
		__sync_fetch_and_add(&targets_gen, 1);
	}
	e = bpf_ringbuf_reserve(&events, RP_EVENT_HDR_SIZE, 0);
	if (!e) {
		count(RP_CNT_LOST);
		return 0;
	}
	init_event(e, RP_EV_FORK, pid_tgid);
	e->ptr = tgid;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}
