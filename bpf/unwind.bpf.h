/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Stacks at an allocator's entry: DWARF-CFI unwinding over the tables
 * userspace loaded, the frame-pointer walk without them, or a copy of the
 * stack top for userspace to unwind (--unwind copy).
 * Included by rsprobe.bpf.c only (one BPF object).
 */
#ifndef RP_UNWIND_BPF_H
#define RP_UNWIND_BPF_H

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
/*
 * Per target (its rp_target.slot): which of its two unwind_maps entries is
 * current; DWARF unwinding is off while it is empty.
 */
__u32 maps_slot[RP_MAX_TARGETS];

/* Unwind tables of every object, concatenated (sized from userspace). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);	/* userspace writes rows in place */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_cfi_row);
} cfi_rows SEC(".maps");

/*
 * Where the objects are, per target: two entries, userspace fills the idle
 * one and then flips the target's maps_slot, so a walk never sees a
 * half-written table (sized from userspace: two per target).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rp_maps);
} unwind_maps SEC(".maps");

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

/* The last row at or before vaddr in the object's rows; *at: its index. */
static __always_inline const struct rp_cfi_row *find_row(const struct rp_map_entry *m,
							  __u64 vaddr, __u32 *at)
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
	*at = base;
	return r && r->pc <= vaddr ? r : NULL;
}

/*
 * The rows the walks found last, by pc: a hint that spares the two searches,
 * checked before use. A slot holds (object index << 32 | row index + 1) in
 * one word, so a walk on another CPU never reads half of an update; 0 is an
 * empty slot.
 */
#define ROW_CACHE_SLOTS (1u << 14)
__u64 row_cache[ROW_CACHE_SLOTS];

static __always_inline __u32 row_slot(__u64 pc)
{
	return (__u32)((pc * 0x9e3779b97f4a7c15ULL) >> 40) & (ROW_CACHE_SLOTS - 1);
}

/*
 * pc's object and row as the searches would find them, from the cache: the
 * object the hint names holds pc, and the row is the last of its rows at or
 * before pc (the object's next row, if it has one, begins after pc). Tables
 * that changed since the hint was written fail the check and are searched.
 */
static __always_inline const struct rp_cfi_row *cached_row(const struct rp_maps *mt, __u64 pc,
							    __u32 slot,
							    const struct rp_map_entry **mp)
{
	__u64 hint = row_cache[slot & (ROW_CACHE_SLOTS - 1)], vaddr;
	__u32 mi = hint >> 32, ri = (__u32)hint - 1, next;
	const struct rp_map_entry *m;
	const struct rp_cfi_row *r, *nr;

	if (!hint || mi >= mt->n || mi >= RP_MAX_MAPS)
		return NULL;
	m = &mt->m[mi & (RP_MAX_MAPS - 1)];
	if (pc < m->start || pc >= m->end || ri < m->row_start ||
	    ri - m->row_start >= m->row_count)
		return NULL;
	vaddr = pc - m->bias;
	r = bpf_map_lookup_elem(&cfi_rows, &ri);
	if (!r || r->pc > vaddr)
		return NULL;
	next = ri + 1;
	if (next - m->row_start < m->row_count) {
		nr = bpf_map_lookup_elem(&cfi_rows, &next);
		if (!nr || nr->pc <= vaddr)
			return NULL;
	}
	*mp = m;
	return r;
}

struct unwind_ctx {
	const struct rp_maps *mt;
	struct rp_event *e;
	struct stack_win *win;	/* the thread's copy of its stack, or NULL */
	__u64 win_lo, win_len;	/* the copy holds [win_lo, win_lo + win_len) */
	__u64 ip, sp, bp;
};

/*
 * A read per word costs more than the walk's own work: before the walk, the
 * stack is copied from rsp up, STACK_WIN_BYTES of it, or up to the end of its
 * page where a copy that long would cross the end of the stack. The words of
 * the frames above it are read one by one. (Copying again from inside the
 * walk costs the verifier more than it saves.)
 */
static __always_inline void win_fill(struct unwind_ctx *u, __u64 at)
{
	__u64 len = STACK_WIN_BYTES, first = 4096 - (at & 4095), end;

	u->win_lo = at;
	u->win_len = 0;
	if (!u->win)
		return;
	/* The end of the stack met before, within reach: up to it, no fault. */
	end = u->win->end;
	if (end > at && end - at < STACK_WIN_BYTES && end - at >= first)
		len = end - at;
	/* The bounds are checked on the register passed on. */
	asm volatile("" : "+r"(len));
	if (!len || len > STACK_WIN_BYTES)
		return;
	if (bpf_probe_read_user(u->win->w, len, (void *)at)) {
		if (first >= len)
			return;
		len = first;
		asm volatile("" : "+r"(len));
		if (!len || len > STACK_WIN_BYTES)
			return;
		if (bpf_probe_read_user(u->win->w, len, (void *)at))
			return;
		/* The stack ends with this page (its mapping ends on one). */
		u->win->end = at + len;
	}
	u->win_len = len;
}

/* The stack word at addr: from the copy when it holds it, else read alone. */
static __always_inline long stack_word(struct unwind_ctx *u, __u64 addr, __u64 *out)
{
	__u64 off = addr - u->win_lo;
	struct stack_win *w = u->win;

	if (w && addr >= u->win_lo && off + 8 <= u->win_len && !(off & 7)) {
		*out = w->w[(off >> 3) & (STACK_WIN_BYTES / 8 - 1)];
		return 0;
	}
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/* One frame: find the object, the row, the CFA; read the return address. */
static int unwind_step(__u32 i, void *arg)
{
	struct unwind_ctx *u = arg;
	/* After the first frame, ip is a return address: look up the call. */
	__u64 at = i ? u->ip - 1 : u->ip, cfa, ra = 0, bp = u->bp;
	__u32 idx, slot = row_slot(at), ri = 0;
	const struct rp_map_entry *m = NULL;
	const struct rp_cfi_row *r = cached_row(u->mt, at, slot, &m);

	if (!r) {
		m = find_map(u->mt, at);
		if (!m) {
			u->e->flags |= RP_F_UNMAPPED;
			return 1;
		}
		r = find_row(m, at - m->bias, &ri);
		if (!r)
			return 1;
		row_cache[slot & (ROW_CACHE_SLOTS - 1)] =
			((__u64)(m - u->mt->m) << 32) | (ri + 1);
	}
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
	if (stack_word(u, cfa - 8, &ra))
		return 1;
	if (r->rbp_type == RP_RBP_OFFSET && stack_word(u, cfa + r->rbp_off, &bp))
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
static __always_inline bool unwind_dwarf(struct pt_regs *ctx, struct rp_event *e,
					 struct stack_win *win, __u32 tslot)
{
	__u32 slot, i = tslot;
	struct unwind_ctx u = {};

	if (!use_dwarf || tslot >= RP_MAX_TARGETS)
		return false;
	/*
	 * The compiler drops a mask it knows to be redundant after the check
	 * above, and a verifier before 6.2 or so loses the bound of a value
	 * reloaded from the stack: the mask is applied where it cannot be
	 * dropped, to the very register that indexes.
	 */
	barrier_var(i);
	i &= RP_MAX_TARGETS - 1;
	slot = 2 * i + (maps_slot[i] & 1);
	u.mt = bpf_map_lookup_elem(&unwind_maps, &slot);
	if (!u.mt || !u.mt->n)
		return false;
	u.e = e;
	u.win = win;
	win_fill(&u, PT_REGS_SP(ctx));
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
 * False when nothing was sent: the event then goes without a stack. Past
 * three quarters of the ring (the consumer behind, a burst of frees of what
 * was recorded before sampling began), events go without theirs rather than
 * be lost for want of room.
 */
static __always_inline bool send_stack_copy(struct pt_regs *ctx, __u64 pid_tgid)
{
	struct rp_stack_copy *c;
	__u64 sp = PT_REGS_SP(ctx), first = 4096 - (sp & 4095), len;
	int i;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4 * 3) {
		count(RP_CNT_STACK_ERR);
		return false;
	}
	c = bpf_ringbuf_reserve(&events, sizeof(*c) + copy_bytes, 0);
	if (!c) {
		count(RP_CNT_LOST);
		return false;
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
	return true;
}

/*
 * win: room for the walk's copy of the stack (the thread's event's), or NULL;
 * tslot: the target's object tables (rp_target.slot).
 */
static __always_inline void take_stack(struct pt_regs *ctx, struct rp_event *e,
				       struct stack_win *win, __u32 tslot)
{
	e->nframes = 0;
	if (!capture_stacks)
		return;
	if (copy_stack) {
		if (send_stack_copy(ctx, bpf_get_current_pid_tgid()))
			e->flags |= RP_F_COPIED;
		return;
	}
	if (!unwind_dwarf(ctx, e, win, tslot))
		unwind_fp(ctx, e);
}

#endif /* RP_UNWIND_BPF_H */
