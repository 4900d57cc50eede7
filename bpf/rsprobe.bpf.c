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
/* DWARF unwinding is available (bpf_loop exists on this kernel). */
const volatile bool use_dwarf = false;
/*
 * Frames walked per stack, 1..RP_MAX_FRAMES (--max-frames), and the room
 * kept for them: frames_mask + 1, a power of two, is what a free event
 * reserves in the ring and what bounds every write into frames[].
 */
const volatile __u32 max_frames = RP_DEFAULT_FRAMES;
const volatile __u32 frames_mask = RP_DEFAULT_FRAMES - 1;
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
/* Which unwind_maps slot is current; DWARF unwinding is off while it is empty. */
__u32 maps_slot = 0;
/* Launch mode: stop the new program once at its entry point (see entry_stop). */
bool stop_at_entry = false;
/* Launch mode: stop the program when the loader maps a library (dl_debug_state). */
bool stop_on_dlopen = false;
/* SIGSTOPs sent: userspace continues the program only for these. */
__u32 stops_sent = 0;

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

/* Unwind tables of every object, concatenated (sized from userspace). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);	/* userspace writes rows in place */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_cfi_row);
} cfi_rows SEC(".maps");

/*
 * Where the objects are: two slots, userspace fills the idle one and then
 * flips maps_slot, so a walk never sees a half-written table.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rp_maps);
} unwind_maps SEC(".maps");

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
 * Binary searches without data-dependent branches: the verifier follows every
 * branch of a loop separately, and a branchy search over thousands of rows
 * multiplies its paths past its limit. "x >= y" is computed as arithmetic.
 */
static __always_inline __u64 ge(__u64 x, __u64 y)
{
	return 1 - ((x - y) >> 63);	/* both below 2^63: user addresses */
}

/* The object containing pc. */
static __always_inline const struct rp_map_entry *find_map(const struct rp_maps *mt, __u64 pc)
{
	__u32 base = 0, n = mt->n, i;
	const struct rp_map_entry *m;

	if (n > RP_MAX_MAPS)
		n = RP_MAX_MAPS;
	if (!n)
		return NULL;
	/* The last entry with start <= pc. */
	for (i = 0; i < 9; i++) {	/* log2(RP_MAX_MAPS) + 1 */
		__u32 half = n / 2;

		base += half * ge(pc, mt->m[(base + half) & (RP_MAX_MAPS - 1)].start);
		n -= half;
	}
	m = &mt->m[base & (RP_MAX_MAPS - 1)];
	return pc >= m->start && pc < m->end ? m : NULL;
}

/* The last row at or before vaddr in the object's rows. */
static __always_inline const struct rp_cfi_row *find_row(const struct rp_map_entry *m,
							  __u64 vaddr)
{
	__u32 base = m->row_start, n = m->row_count, i, idx;
	const struct rp_cfi_row *r;

	if (!n)
		return NULL;
	for (i = 0; i < 24; i++) {	/* up to 16M rows */
		__u32 half = n / 2;

		idx = base + half;
		r = bpf_map_lookup_elem(&cfi_rows, &idx);
		if (!r)
			return NULL;
		base += half * ge(vaddr, r->pc);
		n -= half;
	}
	r = bpf_map_lookup_elem(&cfi_rows, &base);
	return r && r->pc <= vaddr ? r : NULL;
}

struct unwind_ctx {
	const struct rp_maps *mt;
	struct rp_event *e;
	__u64 ip, sp, bp;
};

/* One frame: find the object, the row, the CFA; read the return address. */
static int unwind_step(__u32 i, void *arg)
{
	struct unwind_ctx *u = arg;
	/* After the first frame, ip is a return address: look up the call. */
	__u64 at = i ? u->ip - 1 : u->ip, cfa, ra = 0, bp = u->bp;
	__u32 idx;
	const struct rp_map_entry *m = find_map(u->mt, at);
	const struct rp_cfi_row *r;

	if (!m) {
		u->e->flags |= RP_F_UNMAPPED;
		return 1;
	}
	r = find_row(m, at - m->bias);
	if (!r)
		return 1;
	/* Outermost (_start, clone): its CFA may not even be expressible. */
	if (r->rbp_type == RP_RBP_UNDEFINED) {
		u->e->flags |= RP_F_COMPLETE;
		return 1;
	}
	if (r->cfa_type == RP_CFA_RSP)
		cfa = u->sp + r->cfa_off;
	else if (r->cfa_type == RP_CFA_RBP)
		cfa = u->bp + r->cfa_off;
	else if (r->cfa_type == RP_CFA_PLT)
		cfa = u->sp + 8 + ((u->ip & 15) >= 11 ? 8 : 0);
	else
		return 1;
	/* The stack grows down: a caller's frame is above. Anything else is garbage. */
	if (cfa <= u->sp)
		return 1;
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
		return 1;
	if (r->rbp_type == RP_RBP_OFFSET &&
	    bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + r->rbp_off)))
		return 1;
	if (!ra) {
		u->e->flags |= RP_F_COMPLETE;
		return 1;
	}
	/*
	 * The index is read back from the event, not kept in u: the verifier
	 * then knows it only by the mask, and does not walk every value of a
	 * precise counter (which it gives up on for long limits).
	 */
	idx = u->e->nframes;
	if (idx >= max_frames) {
		u->e->flags |= RP_F_TRUNCATED;
		return 1;
	}
	u->e->frames[idx & frames_mask & (RP_MAX_FRAMES - 1)] = ra;
	u->e->nframes = idx + 1;
	u->sp = cfa;
	u->ip = ra;
	u->bp = bp;
	return 0;
}

/*
 * DWARF-CFI unwinding with the tables userspace loaded. bpf_loop (5.17)
 * keeps the verifier's work to one pass over the step; without it, or
 * without tables, the caller falls back to frame pointers.
 */
static __always_inline bool unwind_dwarf(struct pt_regs *ctx, struct rp_event *e)
{
	__u32 slot = maps_slot & 1;
	struct unwind_ctx u = {};

	if (!use_dwarf)
		return false;
	u.mt = bpf_map_lookup_elem(&unwind_maps, &slot);
	if (!u.mt || !u.mt->n)
		return false;
	u.e = e;
	u.ip = PT_REGS_IP(ctx);
	u.sp = PT_REGS_SP(ctx);
	u.bp = PT_REGS_FP(ctx);
	e->flags |= RP_F_DWARF;
	/* One step more than frames kept: the last one tells a full stack from a cut one. */
	e->nframes = 0;
	bpf_loop(max_frames + 1, unwind_step, &u, 0);
	return true;
}

/*
 * Without tables, the kernel's frame-pointer walk: the probed address first,
 * then return addresses. The shims begin with a jmp and have no frame of
 * their own, so the immediate caller's return address is at [rsp]; it
 * replaces the probed address in slot 0.
 */
static __always_inline void unwind_fp(struct pt_regs *ctx, struct rp_event *e)
{
	long n;
	__u64 ra = 0;

	n = bpf_get_stack(ctx, e->frames, ((frames_mask & (RP_MAX_FRAMES - 1)) + 1) * 8,
			  BPF_F_USER_STACK);
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
	if (e->nframes >= max_frames) {
		e->nframes = max_frames;
		e->flags |= RP_F_TRUNCATED;
	}
}

static __always_inline void take_stack(struct pt_regs *ctx, struct rp_event *e)
{
	e->nframes = 0;
	if (!capture_stacks)
		return;
	if (!unwind_dwarf(ctx, e))
		unwind_fp(ctx, e);
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

/*
 * This thread is inside a probed allocator call: an inner call is part of it,
 * not an event. A pending entry whose call has returned without its return
 * probe (our stack pointer is above its entry's now) is stale and is dropped.
 * The same stack pointer is a tail call (glibc's realloc(NULL, n) jumps to
 * malloc), still inside.
 */
static __always_inline struct rp_event *inside_call(struct pt_regs *ctx, __u32 tid)
{
	struct rp_event *p = bpf_map_lookup_elem(&pending, &tid);

	if (p && PT_REGS_SP(ctx) > p->entry_sp) {
		bpf_map_delete_elem(&pending, &tid);
		return NULL;
	}
	return p;
}

/* A fresh pending entry for this thread, owned by it until its return probe. */
static __always_inline struct rp_event *new_pending(struct pt_regs *ctx, __u32 type,
						    __u64 pid_tgid)
{
	__u32 zero = 0, tid = (__u32)pid_tgid;
	struct rp_event *z, *e = inside_call(ctx, tid);

	if (e) {
		e->depth++;
		return NULL;
	}
	z = bpf_map_lookup_elem(&zero_event, &zero);
	if (!z)
		return NULL;
	if (bpf_map_update_elem(&pending, &tid, z, BPF_ANY)) {
		count(RP_CNT_PENDING_FULL);
		return NULL;
	}
	e = bpf_map_lookup_elem(&pending, &tid);
	if (e) {
		init_event(e, type, pid_tgid);
		e->entry_sp = PT_REGS_SP(ctx);
		e->depth = 0;
	}
	return e;
}

static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u64 align,
				       __u16 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(ctx, RP_EV_ALLOC, pid_tgid);
	if (!e)
		return 0;
	e->size = size;
	e->align = align;
	e->flags = flags;
	take_stack(ctx, e);
	return 0;
}

/*
 * At a return probe: this thread's pending entry, or NULL when there is none
 * or this is the return of an inner call (then only the depth goes down).
 */
static __always_inline struct rp_event *pending_return(__u64 pid_tgid)
{
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return NULL;
	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e) {
		count(RP_CNT_NO_PENDING);
		return NULL;
	}
	if (e->depth) {
		e->depth--;
		return NULL;
	}
	return e;
}

static __always_inline int call_exit(__u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e = pending_return(pid_tgid);

	if (!e)
		return 0;
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

/* A realloc of a live block: the event continues the allocation. */
static __always_inline int realloc_enter(struct pt_regs *ctx, __u64 ptr, __u64 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(ctx, RP_EV_REALLOC, pid_tgid);
	if (!e)
		return 0;
	e->old_ptr = ptr;
	e->size = size;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(rust_realloc, __u64 ptr, __u64 old_size, __u64 align, __u64 new_size)
{
	return realloc_enter(ctx, ptr, new_size);
}

SEC("uretprobe")
int BPF_KRETPROBE(rust_realloc_ret, __u64 ret)
{
	return call_exit(ret);
}

static __always_inline int free_enter(struct pt_regs *ctx, __u64 ptr, __u64 size, __u64 align)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid) || !ptr)
		return 0;
	/* A free inside a probed call (glibc's realloc(p, 0)): the call reports. */
	if (inside_call(ctx, (__u32)pid_tgid))
		return 0;
	/* Room for the frame limit: the ring is the only memory this program owns. */
	e = bpf_ringbuf_reserve(&events,
				RP_EVENT_HDR_SIZE + ((frames_mask & (RP_MAX_FRAMES - 1)) + 1) * 8, 0);
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
	return realloc_enter(ctx, shim_arg(ctx, 0), shim_arg(ctx, 3));
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

	if (!stop_at_entry || (__u32)(pid_tgid >> 32) != targ_tgid)
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

/* posix_memalign returns 0 and stores the pointer through its first argument. */
SEC("uprobe")
int BPF_KPROBE(libc_posix_memalign, __u64 memptr, __u64 align, __u64 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(ctx, RP_EV_ALLOC, pid_tgid);
	if (!e)
		return 0;
	e->old_ptr = memptr;
	e->size = size;
	e->align = align;
	take_stack(ctx, e);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(libc_posix_memalign_ret, __u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e = pending_return(pid_tgid);
	__u64 ptr = 0;

	if (!e)
		return 0;
	if (ret == 0 && e->type == RP_EV_ALLOC && e->old_ptr &&
	    !bpf_probe_read_user(&ptr, sizeof(ptr), (void *)e->old_ptr) && ptr) {
		e->ptr = ptr;
		e->old_ptr = 0;
		emit(e);
	} else {
		count(RP_CNT_ALLOC_FAILED);
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/*
 * realloc(NULL, n) is a malloc, realloc(p, 0) a free (glibc). glibc does them
 * by calling its own malloc and free, which are inner calls here: the realloc
 * reports what happened, with its own stack.
 */
SEC("uprobe")
int BPF_KPROBE(libc_realloc, __u64 ptr, __u64 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	e = new_pending(ctx, ptr ? RP_EV_REALLOC : RP_EV_ALLOC, pid_tgid);
	if (!e)
		return 0;
	e->old_ptr = ptr;
	e->size = size;
	if (!ptr || !size)
		take_stack(ctx, e);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(libc_realloc_ret, __u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e = pending_return(pid_tgid);

	if (!e)
		return 0;
	if (ret) {
		e->ptr = ret;
		emit(e);
	} else if (e->old_ptr && !e->size) {
		/* realloc(p, 0) freed p */
		e->type = RP_EV_FREE;
		e->ptr = e->old_ptr;
		e->old_ptr = 0;
		emit(e);
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
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
	if (stop_on_dlopen) {
		__sync_fetch_and_add(&stops_sent, 1);
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
	return realloc_enter(ctx, ptr, size);
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
