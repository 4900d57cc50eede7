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
#include "rp_exp.h"

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
 * --unwind copy: no walk here; the registers and the top copy_bytes of the
 * stack go to userspace (RP_EV_STACK), which unwinds them with libunwind.
 */
const volatile bool copy_stack = false;
const volatile __u32 copy_bytes = RP_COPY_DEFAULT;
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
/*
 * Mean bytes between sampled allocations; 0: record every allocation.
 * Userspace changes it while the capture runs (adaptive mode).
 */
__u64 sample_bytes = 0;
/* --all: never sampled, so no table of sampled pointers is kept. */
const volatile bool fixed_exact = true;
/* The probed layer calls itself (libc, mimalloc): look for inner calls at frees. */
const volatile bool nested_calls = true;

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

/* Per-thread call and sampling state. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct rp_thread);
} threads SEC(".maps");

/* Pointers of the sampled allocations still live: only their frees are recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RP_MAX_SAMPLED);	/* resized from userspace */
	__type(key, __u64);
	__type(value, __u8);
} sampled_ptrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_percpu);
} counters SEC(".maps");

/* Sampled calls between their entry and their return, all threads. */
__u64 sampled_in_flight = 0;

static __always_inline struct rp_percpu *percpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void add(__u32 idx, __u64 n)
{
	struct rp_percpu *c = percpu();

	if (c && idx < RP_CNT_MAX)
		c->cnt[idx] += n;
}

static __always_inline void count(__u32 idx)
{
	add(idx, 1);
}

/* A recording step (stack walk, event) that began at t0: what it cost. */
static __always_inline void recorded(__u64 t0)
{
	struct rp_percpu *c = percpu();

	if (c) {
		c->cnt[RP_CNT_SAMPLE_NS] += bpf_ktime_get_ns() - t0;
		c->cnt[RP_CNT_RECORDED]++;
	}
}

/* An exponential draw of the given mean (include/rp_exp.h). */
static __always_inline __s64 draw_exp(__u64 mean)
{
	return rp_exp_draw(bpf_get_prandom_u32(), mean);
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

/*
 * --unwind copy: send the registers and the stack from rsp up, as much of
 * copy_bytes as is mapped (a read that crosses the end of the stack fails
 * whole, so shorter lengths are tried, ending at a page boundary each).
 */
static __always_inline void send_stack_copy(struct pt_regs *ctx, __u64 pid_tgid)
{
	struct rp_stack_copy *c;
	__u64 sp = PT_REGS_SP(ctx), first = 4096 - (sp & 4095), len;
	int i;

	c = bpf_ringbuf_reserve(&events, sizeof(*c) + copy_bytes, 0);
	if (!c) {
		count(RP_CNT_LOST);
		return;
	}
	c->type = RP_EV_STACK;
	c->tid = (__u32)pid_tgid;
	c->pid = pid_tgid >> 32;
	c->ip = PT_REGS_IP(ctx);
	c->sp = sp;
	c->bp = PT_REGS_FP(ctx);
	c->bx = ctx->bx;
	c->r12 = ctx->r12;
	c->r13 = ctx->r13;
	c->r14 = ctx->r14;
	c->r15 = ctx->r15;
	c->len = 0;
	for (i = RP_COPY_MAX / 4096; i >= 0; i--) {
		len = first + (__u64)i * 4096;
		/* The bounds are checked on the register passed on. */
		asm volatile("" : "+r"(len));
		if (len > copy_bytes || len > RP_COPY_MAX)
			continue;
		if (!bpf_probe_read_user(c->data, len, (void *)sp)) {
			c->len = len;
			break;
		}
	}
	if (!c->len && copy_bytes < first &&
	    !bpf_probe_read_user(c->data, copy_bytes & (RP_COPY_MAX - 1), (void *)sp))
		c->len = copy_bytes;
	bpf_ringbuf_submit(c, 0);
}

static __always_inline void take_stack(struct pt_regs *ctx, struct rp_event *e)
{
	e->nframes = 0;
	if (!capture_stacks)
		return;
	if (copy_stack) {
		e->flags |= RP_F_COPIED;
		send_stack_copy(ctx, bpf_get_current_pid_tgid());
		return;
	}
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
	e->sample_bytes = 0;
	e->seq = 0;
}

static __always_inline struct rp_thread *thread_of(__u32 tid)
{
	struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid), z = {};

	if (t)
		return t;
	bpf_map_update_elem(&threads, &tid, &z, BPF_NOEXIST);
	return bpf_map_lookup_elem(&threads, &tid);
}

/*
 * Entry of an allocator call: this thread's state, or NULL when this is an
 * inner call of one already in progress (part of it, not an event). A call
 * in progress whose stack pointer is below ours has returned without its
 * return probe (attached mid-call): it is stale and replaced. The same stack
 * pointer is a tail call (glibc's realloc(NULL, n) jumps to malloc), inside.
 */
static __always_inline struct rp_thread *enter_call(struct pt_regs *ctx, __u32 tid, __u8 kind)
{
	struct rp_thread *t = thread_of(tid);

	if (!t) {
		count(RP_CNT_PENDING_FULL);
		return NULL;
	}
	if (t->in_call) {
		if (PT_REGS_SP(ctx) <= t->entry_sp) {
			t->depth++;
			return NULL;
		}
		if (t->sampled)
			bpf_map_delete_elem(&pending, &tid);
	}
	t->in_call = 1;
	t->depth = 0;
	t->entry_sp = PT_REGS_SP(ctx);
	t->kind = kind;
	t->sampled = 0;
	return t;
}

/* At a return probe: the call that returns, or NULL for an inner call's return. */
static __always_inline struct rp_thread *leave_call(__u32 tid)
{
	struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid);

	if (!t || !t->in_call) {
		count(RP_CNT_NO_PENDING);
		return NULL;
	}
	if (t->depth) {
		t->depth--;
		return NULL;
	}
	t->in_call = 0;
	return t;
}

/*
 * Poisson sampling by bytes: the allocation is sampled when the thread's
 * countdown, drawn from an exponential of mean n, runs out within its bytes
 * (probability 1 - exp(-size / n), whatever came before). A new interval
 * starts a new countdown.
 */
static __always_inline bool countdown(struct rp_percpu *c, __u64 n, __u64 size)
{
	if (c->interval != n) {
		c->interval = n;
		c->countdown = draw_exp(n);
	}
	c->countdown -= (__s64)size;
	if (c->countdown > 0)
		return false;
	c->countdown = draw_exp(n);
	return true;
}

/*
 * In front of the table of sampled pointers, a counting filter small enough
 * to stay in cache: a free whose slot is zero was not sampled, and most
 * frees are told so by one load, without hashing into a table of megabytes.
 */
#define FILTER_SLOTS (1u << 15)
__u32 sampled_filter[FILTER_SLOTS];

static __always_inline __u32 filter_slot(__u64 ptr)
{
	return (__u32)((ptr * 0x9e3779b97f4a7c15ULL) >> 49) & (FILTER_SLOTS - 1);
}

static __always_inline bool is_sampled_ptr(__u64 ptr)
{
	if (!sampled_filter[filter_slot(ptr)])
		return false;
	return bpf_map_lookup_elem(&sampled_ptrs, &ptr) != NULL;
}

/* A fresh pending event for this thread, owned by it until its return probe. */
static __always_inline struct rp_event *new_pending(struct pt_regs *ctx, __u32 type,
						    __u64 pid_tgid, struct rp_thread *t,
						    __u64 n)
{
	__u32 zero = 0, tid = (__u32)pid_tgid;
	struct rp_event *z, *e;

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
		e->sample_bytes = n;
		if (t) {
			e->seq = t->seq;
			t->sampled = 1;
		} else {
			__sync_fetch_and_add(&sampled_in_flight, 1);
		}
	}
	return e;
}

/* An allocation begins: counted always, recorded when sampled. */
static __always_inline int alloc_begin(struct pt_regs *ctx, __u8 kind, __u64 size, __u64 align,
				       __u64 arg, __u16 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), n = sample_bytes, t0;
	struct rp_thread *t;
	struct rp_event *e;

	struct rp_percpu *c;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	c = percpu();
	if (!c)
		return 0;
	if (!nested_calls) {
		/*
		 * The shims: no inner calls, so no per-thread state. The call is
		 * counted here (a failure is taken back at the return).
		 */
		t = NULL;
		c->cnt[RP_CNT_ALLOCS]++;
		c->cnt[RP_CNT_BYTES_ALLOC] += size;
	} else {
		t = enter_call(ctx, (__u32)pid_tgid, kind);
		if (!t)
			return 0;
		t->size = size;
		t->arg = arg;
		t->seq++;
	}
	if (n && !countdown(c, n, size))
		return 0;
	t0 = bpf_ktime_get_ns();
	e = new_pending(ctx, RP_EV_ALLOC, pid_tgid, t, n);
	if (!e)
		return 0;
	e->size = size;
	e->align = align;
	e->flags = flags;
	take_stack(ctx, e);
	recorded(t0);
	return 0;
}

static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u64 align,
				       __u16 flags)
{
	return alloc_begin(ctx, RP_CALL_ALLOC, size, align, 0, flags);
}

/*
 * A realloc of a live block continues its allocation: recorded when the
 * allocation is (always, when every allocation is recorded). The growth of
 * one that is not counts towards the countdown: a sample that falls in it
 * finds no birth to continue and is not taken, which leaves each birth's
 * chance of being sampled what its weight says.
 */
static __always_inline int realloc_begin(struct pt_regs *ctx, __u64 ptr, __u64 old_size,
					 __u64 size, bool stack)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), n = sample_bytes, t0;
	struct rp_thread *t;
	struct rp_event *e;

	struct rp_percpu *c;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	c = percpu();
	if (!c)
		return 0;
	if (!nested_calls) {
		t = NULL;
		c->cnt[RP_CNT_REALLOCS]++;
		if (size > old_size)
			c->cnt[RP_CNT_BYTES_ALLOC] += size - old_size;
		else
			c->cnt[RP_CNT_BYTES_SHRUNK] += old_size - size;
	} else {
		t = enter_call(ctx, (__u32)pid_tgid, RP_CALL_REALLOC);
		if (!t)
			return 0;
		t->size = size;
		t->old_size = old_size;
		t->arg = ptr;
	}
	if (n && !is_sampled_ptr(ptr)) {
		if (old_size != ~0ULL && size > old_size)
			countdown(c, n, size - old_size);
		return 0;
	}
	t0 = bpf_ktime_get_ns();
	e = new_pending(ctx, RP_EV_REALLOC, pid_tgid, t, 0);
	if (!e)
		return 0;
	e->old_ptr = ptr;
	e->size = size;
	if (stack)
		take_stack(ctx, e);
	recorded(t0);
	return 0;
}

/* Remember a sampled allocation's pointer until its free. */
static __always_inline void remember(__u64 ptr)
{
	__u8 one = 1;
	long err;

	if (fixed_exact)
		return;
	err = bpf_map_update_elem(&sampled_ptrs, &ptr, &one, BPF_NOEXIST);
	if (!err)
		__sync_fetch_and_add(&sampled_filter[filter_slot(ptr)], 1);
	else if (err != -17 /* EEXIST: handed out again, its free was not seen */)
		count(RP_CNT_SAMPLED_FULL);
}

static __always_inline void forget(__u64 ptr)
{
	if (!fixed_exact && !bpf_map_delete_elem(&sampled_ptrs, &ptr))
		__sync_fetch_and_add(&sampled_filter[filter_slot(ptr)], -1);
}

static __always_inline int call_exit_kind(__u64 ret, bool realloc);

static __always_inline int call_exit(__u64 ret)
{
	return call_exit_kind(ret, false);
}

/*
 * The return of an allocator call: count what it did; if it was sampled,
 * complete its pending event and send it.
 */
/*
 * The return of a shim. Unsampled calls were counted at their entry and have
 * nothing here; only while some sampled call is in flight (rarely, when
 * sampling) is this thread's pending event looked for.
 */
static __always_inline int shim_exit(__u32 tid, __u64 ret, bool realloc)
{
	struct rp_event *e;
	__u64 t0;

	if (!ret) {
		/* Counted at entry: take it back (its bytes stay counted). */
		if (!realloc)
			count(RP_CNT_ALLOC_FAILED);
		else
			add(RP_CNT_REALLOCS, -1ULL);
	}
	if (!sampled_in_flight)
		return 0;
	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e)
		return 0;
	t0 = bpf_ktime_get_ns();
	__sync_fetch_and_add(&sampled_in_flight, -1);
	if (ret) {
		e->ptr = ret;
		if (realloc && ret != e->old_ptr)
			forget(e->old_ptr);
		remember(ret);
		emit(e);
	}
	bpf_map_delete_elem(&pending, &tid);
	recorded(t0);
	return 0;
}

static __always_inline int call_exit_kind(__u64 ret, bool realloc)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), t0;
	__u32 tid = (__u32)pid_tgid;
	struct rp_thread *t;
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid))
		return 0;
	if (!nested_calls)
		return shim_exit(tid, ret, realloc);
	t = leave_call(tid);
	if (!t)
		return 0;
	if (t->kind == RP_CALL_MEMALIGN) {
		__u64 ptr = 0;

		/* posix_memalign returns 0 and stores the pointer through its first argument. */
		if (ret || !t->arg || bpf_probe_read_user(&ptr, sizeof(ptr), (void *)t->arg))
			ptr = 0;
		ret = ptr;
	}
	if (t->kind == RP_CALL_FREE) {
		/* realloc(p, 0) freed p (glibc returns NULL) */
		if (ret)
			return 0;
		count(RP_CNT_FREES);
	} else if (!ret) {
		if (t->kind != RP_CALL_REALLOC)
			count(RP_CNT_ALLOC_FAILED);
		if (t->sampled)
			bpf_map_delete_elem(&pending, &tid);
		return 0;
	} else if (t->kind == RP_CALL_REALLOC) {
		count(RP_CNT_REALLOCS);
		if (t->old_size != ~0ULL && t->size > t->old_size)
			add(RP_CNT_BYTES_ALLOC, t->size - t->old_size);
		else if (t->old_size != ~0ULL)
			add(RP_CNT_BYTES_SHRUNK, t->old_size - t->size);
	} else {
		count(RP_CNT_ALLOCS);
		add(RP_CNT_BYTES_ALLOC, t->size);
	}
	if (!t->sampled)
		return 0;
	t0 = bpf_ktime_get_ns();
	e = bpf_map_lookup_elem(&pending, &tid);
	if (e) {
		if (t->kind == RP_CALL_FREE) {
			e->type = RP_EV_FREE;
			e->ptr = e->old_ptr;
			e->old_ptr = 0;
			forget(e->ptr);
		} else {
			e->ptr = ret;
			if (t->kind == RP_CALL_REALLOC && ret != e->old_ptr)
				forget(e->old_ptr);
			remember(ret);
		}
		emit(e);
	}
	bpf_map_delete_elem(&pending, &tid);
	recorded(t0);
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
	return realloc_begin(ctx, ptr, old_size, new_size, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(rust_realloc_ret, __u64 ret)
{
	return call_exit_kind(ret, true);
}

/*
 * A free: counted always; recorded when its allocation was sampled, or when
 * every allocation is being recorded (then frees of memory born before the
 * capture are recorded too, as unknown frees).
 */
static __always_inline int free_enter(struct pt_regs *ctx, __u64 ptr, __u64 size, __u64 align)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), n = sample_bytes, t0;
	__u32 tid = (__u32)pid_tgid;
	struct rp_event *e;

	if (empty_programs || !is_target(pid_tgid) || !ptr)
		return 0;
	/* A free inside a probed call (glibc's realloc(p, 0)): the call reports. */
	if (nested_calls) {
		struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid);

		if (t && t->in_call && PT_REGS_SP(ctx) <= t->entry_sp)
			return 0;
	}
	{
		struct rp_percpu *c = percpu();

		if (c) {
			c->cnt[RP_CNT_FREES]++;
			c->cnt[RP_CNT_BYTES_FREED] += size;
		}
	}
	if (!fixed_exact) {
		if (is_sampled_ptr(ptr))
			forget(ptr);
		else if (n)
			return 0;
	}
	t0 = bpf_ktime_get_ns();
	/* The copy goes first: userspace joins it with the next event of the thread. */
	if (copy_stack && capture_stacks)
		send_stack_copy(ctx, pid_tgid);
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
	e->sample_bytes = n;
	if (nested_calls) {
		/* The freeing thread's allocations so far: temporaries. */
		struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid);

		e->seq = t ? t->seq : 0;
	}
	if (copy_stack && capture_stacks)
		e->flags |= RP_F_COPIED;
	else
		take_stack(ctx, e);
	bpf_ringbuf_submit(e, wakeup_flags());
	recorded(t0);
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
	__u64 pid_tgid = bpf_get_current_pid_tgid(), n = sample_bytes, t0;
	struct rp_thread *t;
	struct rp_event *e;

	if (!ptr)
		return alloc_enter(ctx, size, 0, 0);
	if (size)
		return realloc_begin(ctx, ptr, ~0ULL, size, false);
	if (empty_programs || !is_target(pid_tgid))
		return 0;
	t = enter_call(ctx, (__u32)pid_tgid, RP_CALL_FREE);
	if (!t)
		return 0;
	t->arg = ptr;
	if (n && !is_sampled_ptr(ptr))
		return 0;
	t0 = bpf_ktime_get_ns();
	e = new_pending(ctx, RP_EV_FREE, pid_tgid, t, n);
	if (!e)
		return 0;
	e->old_ptr = ptr;
	take_stack(ctx, e);
	recorded(t0);
	return 0;
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
 * Attached to a running process: an execve replaces its image, and the old
 * heap with it. Tell userspace, and stop recording at once, so nothing of
 * the new image is taken for the old one's.
 */
SEC("raw_tp/sched_process_exec")
int on_exec(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct rp_event *e;

	if (!recording || !targ_tgid || (__u32)(pid_tgid >> 32) != targ_tgid)
		return 0;
	recording = false;
	e = bpf_ringbuf_reserve(&events, RP_EVENT_HDR_SIZE, 0);
	if (!e) {
		count(RP_CNT_LOST);
		return 0;
	}
	init_event(e, RP_EV_EXEC, pid_tgid);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}
