/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocator calls: per-thread call state between entry and return, Poisson
 * sampling by bytes, the table of sampled pointers, the one entry preamble
 * and the one return every program goes through.
 * Included by rsprobe.bpf.c only (one BPF object).
 */
#ifndef RP_CALLS_BPF_H
#define RP_CALLS_BPF_H

/*
 * Mean bytes between sampled allocations; 0: record every allocation.
 * Userspace changes it while the capture runs (adaptive mode).
 */
__u64 sample_bytes = 0;
/* --all: never sampled, so no table of sampled pointers is kept. */
const volatile bool fixed_exact = true;
/* The probed layer calls itself (libc, mimalloc): look for inner calls at frees. */
const volatile bool nested_calls = true;

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

/*
 * Sampled calls between their entry and their return, all threads: on a
 * cache line of its own, written on other CPUs, away from the settings that
 * every call reads (recording, sample_bytes, targets_gen).
 */
struct {
	__u64 n;
	__u64 pad[7];
} sampled_in_flight __attribute__((aligned(64)));

/* An exponential draw of the given mean (include/rp_exp.h). */
static __always_inline __s64 draw_exp(__u64 mean)
{
	return rp_exp_draw(bpf_get_prandom_u32(), mean);
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
			drop_pending(tid);
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
 * 16 KiB: the frees of a program touch its slots at random, and a filter
 * of 128 KiB cost them a cache miss each (40 ns on the bench's threads and
 * text workloads), more than the lookups that fewer slots let through.
 */
#define FILTER_SLOTS (1u << 12)
__u32 sampled_filter[FILTER_SLOTS] __attribute__((aligned(64)));

static __always_inline __u32 filter_slot(__u64 ptr)
{
	return (__u32)((ptr * 0x9e3779b97f4a7c15ULL) >> 52) & (FILTER_SLOTS - 1);
}

/*
 * Whether ptr is a sampled allocation's. Past the filter, the lookup in the
 * table is part of recording, and timed with it: *t0 is the recording's
 * start (record_start()), drawn here when the filter lets ptr through.
 */
static __always_inline bool is_sampled_ptr(__u64 ptr, __u64 *t0)
{
	if (!sampled_filter[filter_slot(ptr)])
		return false;
	*t0 = record_start();
	return bpf_map_lookup_elem(&sampled_ptrs, &ptr) != NULL;
}

/* A fresh pending event for this thread, owned by it until its return probe. */
static __always_inline struct pending_event *new_pending(struct pt_regs *ctx, __u32 type,
							  __u64 pid_tgid, struct rp_thread *t,
							  __u64 n)
{
	struct pending_event *p = pending_of((__u32)pid_tgid);
	struct rp_event *e;

	if (!p) {
		count(RP_CNT_PENDING_FULL);
		return NULL;
	}
	e = &p->e;
	init_event(e, type, pid_tgid);
	e->sample_bytes = n;
	if (t) {
		e->seq = t->seq;
		t->sampled = 1;
	} else if (!fixed_exact) {
		__sync_fetch_and_add(&sampled_in_flight.n, 1);
	}
	return p;
}

/*
 * What every program at an allocator's entry or return starts from: the
 * thread, the sampling interval in force, this CPU's counters.
 */
struct call {
	__u64 pid_tgid;
	__u64 n;		/* sample_bytes: 0, every allocation is recorded */
	struct rp_percpu *c;
	bool copied;		/* --unwind copy: this call's stack was sent */
	__u32 tslot;		/* the target's object tables */
	__u64 t0, clock_ns;	/* a timed call: its start, and what reading the clock took */
};

/*
 * What the calls that are only counted cost is part of what rsprobe adds,
 * and the budget's (user/sampler.c): one program run in RP_COUNT_ONE_IN on
 * each CPU is timed from its preamble to where it is known not to record.
 * The clock is read twice at the start: the second reading less the first
 * is what a reading adds to the interval, taken back. A call preempted
 * (longer than COUNT_MAX_NS) is not counted.
 */
#define COUNT_MAX_NS 20000

static __always_inline void count_start(struct call *k)
{
	__u64 t;

	k->t0 = 0;
	/* --all: every call is recorded, none only counted. */
	if (fixed_exact || ++k->c->calls & (RP_COUNT_ONE_IN - 1))
		return;
	t = bpf_ktime_get_ns();
	k->t0 = bpf_ktime_get_ns();
	k->clock_ns = k->t0 - t;
}

/* The call is only counted: what it cost, if it was timed. */
static __always_inline void counted(struct call *k)
{
	__u64 ns;

	if (!k->t0)
		return;
	ns = bpf_ktime_get_ns() - k->t0;
	if (ns > COUNT_MAX_NS)
		return;
	k->c->cnt[RP_CNT_COUNT_NS] += ns > k->clock_ns ? ns - k->clock_ns : 0;
	k->c->cnt[RP_CNT_COUNT_TIMED]++;
}

/*
 * --unwind copy in the default mode, still recording everything: each step
 * sends 16 KiB that userspace unwinds at tens of microseconds. Once the ring
 * is half full (the consumer is behind: at the start, or in a burst), switch
 * to sampling here and now rather than lose what follows; the sampler sees
 * the interval at its next look and takes over.
 */
#define COPY_BRAKE_BYTES 65536

static __always_inline void copy_brake(struct call *k)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
		sample_bytes = COPY_BRAKE_BYTES;
		k->n = COPY_BRAKE_BYTES;
	}
}

/*
 * Changed each time a target is added, removed or has recording turned on or
 * off (by userspace after it writes the targets map, by BPF at an exec or a
 * fork): a CPU's cached target (rp_percpu.target) holds only under the
 * generation it was read in.
 */
__u64 targets_gen = 0;

#define TARGET_GEN_MASK 0xffffffULL

/*
 * The calling process, when it is a target being recorded: its slot, from
 * this CPU's cache when the last call here came from it, else from the map
 * (and cached). The generation is read before the map: an update that comes
 * between them has already changed it.
 */
static __always_inline bool recorded_target(struct rp_percpu *c, __u64 pid_tgid, __u32 *slot)
{
	__u64 gen = targets_gen & TARGET_GEN_MASK, tgid = pid_tgid >> 32, w = c->target;
	struct rp_target *t;

	if ((__u32)w == tgid && w >> 40 == gen) {
		*slot = (w >> 32) & 0xff;
		return true;
	}
	t = is_target(pid_tgid);
	if (!t)
		return false;
	*slot = t->slot;
	if (t->slot <= 0xff)
		c->target = gen << 40 | (__u64)t->slot << 32 | tgid;
	return true;
}

/* The one preamble: false when the calling process is not traced now. */
static __always_inline bool call_begin(struct call *k)
{
	k->pid_tgid = bpf_get_current_pid_tgid();
	k->n = sample_bytes;
	k->copied = false;
	if (empty_programs || !recording)
		return false;
	k->c = percpu();
	if (!k->c)
		return false;
	count_start(k);
	if (!recorded_target(k->c, k->pid_tgid, &k->tslot))
		return false;
	if (copy_stack && !fixed_exact && !k->n)
		copy_brake(k);
	return true;
}

/*
 * The entry of an allocation or a realloc, counted: the shims have no inner
 * calls and no per-thread state, and their calls are counted here (a failure
 * is taken back at the return); the other layers count at the return, once
 * they know the call was not an inner one. False: an inner call, or no room.
 */
static __always_inline bool begin_counted(struct pt_regs *ctx, struct call *k,
					  struct rp_thread **tp, __u8 kind, __u64 size,
					  __u64 old_size, __u64 arg)
{
	struct rp_thread *t;

	*tp = NULL;
	if (!nested_calls) {
		if (kind == RP_CALL_REALLOC) {
			k->c->cnt[RP_CNT_REALLOCS]++;
			if (size > old_size)
				k->c->cnt[RP_CNT_BYTES_ALLOC] += size - old_size;
			else
				k->c->cnt[RP_CNT_BYTES_SHRUNK] += old_size - size;
		} else {
			k->c->cnt[RP_CNT_ALLOCS]++;
			k->c->cnt[RP_CNT_BYTES_ALLOC] += size;
		}
		return true;
	}
	t = enter_call(ctx, (__u32)k->pid_tgid, kind);
	if (!t)
		return false;
	t->size = size;
	t->old_size = old_size;
	t->arg = arg;
	if (kind != RP_CALL_REALLOC)
		t->seq++;
	*tp = t;
	return true;
}

/* An allocation begins: counted always, recorded when sampled. */
static __always_inline int alloc_begin(struct pt_regs *ctx, __u8 kind, __u64 size, __u64 align,
				       __u64 arg, __u16 flags)
{
	struct call k;
	struct rp_thread *t;
	struct pending_event *p;
	struct rp_event *e;
	__u64 t0;

	if (!call_begin(&k) || !begin_counted(ctx, &k, &t, kind, size, 0, arg))
		return 0;
	if (k.n && !countdown(k.c, k.n, size)) {
		counted(&k);
		return 0;
	}
	t0 = record_start();
	p = new_pending(ctx, RP_EV_ALLOC, k.pid_tgid, t, k.n);
	if (!p)
		return 0;
	e = &p->e;
	e->size = size;
	e->align = align;
	e->flags = flags;
	take_stack(ctx, e, &p->win, k.tslot);
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
	struct call k;
	struct rp_thread *t;
	struct pending_event *p;
	struct rp_event *e;
	__u64 t0;

	if (!call_begin(&k) ||
	    !begin_counted(ctx, &k, &t, RP_CALL_REALLOC, size, old_size, ptr))
		return 0;
	if (!k.n)
		t0 = record_start();
	else if (!is_sampled_ptr(ptr, &t0)) {
		if (old_size != ~0ULL && size > old_size)
			countdown(k.c, k.n, size - old_size);
		counted(&k);
		return 0;
	}
	p = new_pending(ctx, RP_EV_REALLOC, k.pid_tgid, t, 0);
	if (!p)
		return 0;
	e = &p->e;
	e->old_ptr = ptr;
	e->size = size;
	if (stack)
		take_stack(ctx, e, &p->win, k.tslot);
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
 * The return of a shim. Unsampled calls were counted at their entry and have
 * nothing here; only while some sampled call is in flight (rarely, when
 * sampling) is this thread's pending event looked for.
 */
static __always_inline int shim_exit(__u64 pid_tgid, __u64 ret, bool realloc)
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
	/* Every call is in flight when every one is recorded (--all). */
	if (!fixed_exact && !sampled_in_flight.n)
		return 0;
	t0 = record_start();
	e = in_flight((__u32)pid_tgid);
	if (!e || e->pid != pid_tgid >> 32) {
		recording_cost(t0);
		return 0;
	}
	if (!fixed_exact)
		__sync_fetch_and_add(&sampled_in_flight.n, -1);
	if (ret) {
		e->ptr = ret;
		if (realloc && ret != e->old_ptr)
			forget(e->old_ptr);
		remember(ret);
		emit(e);
	}
	e->type = 0;
	recorded(t0);
	return 0;
}

/*
 * The return of an allocator call: count what it did; if it was sampled,
 * complete its pending event and send it.
 */
static __always_inline int call_exit_kind(__u64 ret, bool realloc)
{
	struct call k;
	struct rp_thread *t;
	struct rp_event *e;
	__u32 tid;
	__u64 t0;

	/*
	 * A shim's call that succeeded was counted at its entry: unless some
	 * sampled call is in flight, its return has nothing to do, and is told
	 * so before any lookup. Else its event, if it has one, was made by an
	 * entry that checked the target: no preamble.
	 */
	if (!nested_calls && ret && !empty_programs) {
		if (!fixed_exact && !sampled_in_flight.n)
			return 0;
		return shim_exit(bpf_get_current_pid_tgid(), ret, realloc);
	}
	if (!call_begin(&k))
		return 0;
	tid = (__u32)k.pid_tgid;
	if (!nested_calls)
		return shim_exit(k.pid_tgid, ret, realloc);
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
			drop_pending(tid);
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
	if (!t->sampled) {
		counted(&k);
		return 0;
	}
	t0 = record_start();
	e = in_flight(tid);
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
		e->type = 0;
	}
	recorded(t0);
	return 0;
}
/* A free's event, stack included (win: room for the walk's copy of the stack, or NULL). */
static __always_inline void free_event(struct pt_regs *ctx, struct rp_event *e,
				       struct stack_win *win, struct call *k, __u64 ptr,
				       __u64 size, __u64 align)
{
	__u32 tid = (__u32)k->pid_tgid;

	init_event(e, RP_EV_FREE, k->pid_tgid);
	e->ptr = ptr;
	e->size = size;
	e->align = align;
	e->sample_bytes = k->n;
	if (nested_calls) {
		/* The freeing thread's allocations so far: temporaries. */
		struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid);

		e->seq = t ? t->seq : 0;
	}
	if (copy_stack && capture_stacks) {
		if (k->copied)
			e->flags |= RP_F_COPIED;
	} else {
		take_stack(ctx, e, win, k->tslot);
	}
}

/*
 * A free: counted always; recorded when its allocation was sampled, or when
 * every allocation is being recorded (then frees of memory born before the
 * capture are recorded too, as unknown frees).
 */
static __always_inline int free_enter(struct pt_regs *ctx, __u64 ptr, __u64 size, __u64 align)
{
	struct call k;
	struct pending_event *p;
	struct rp_event *e;
	__u32 tid;
	__u64 t0;

	if (!call_begin(&k) || !ptr)
		return 0;
	tid = (__u32)k.pid_tgid;
	/* A free inside a probed call (glibc's realloc(p, 0)): the call reports. */
	if (nested_calls) {
		struct rp_thread *t = bpf_map_lookup_elem(&threads, &tid);

		if (t && t->in_call && PT_REGS_SP(ctx) <= t->entry_sp)
			return 0;
	}
	k.c->cnt[RP_CNT_FREES]++;
	k.c->cnt[RP_CNT_BYTES_FREED] += size;
	if (fixed_exact) {
		t0 = record_start();
	} else if (is_sampled_ptr(ptr, &t0)) {
		forget(ptr);
	} else if (k.n) {
		counted(&k);
		return 0;
	} else {
		/* Recording every allocation: this free too (if born before, unknown). */
		t0 = record_start();
	}
	/* The copy goes first: userspace joins it with the next event of the thread. */
	if (copy_stack && capture_stacks)
		k.copied = send_stack_copy(ctx, k.pid_tgid);
	/*
	 * Built in the thread's event, then sent with only the frames it holds.
	 * A call in flight holds it (a free from a signal handler that came
	 * during an allocation): then in the ring, with room for the frame limit.
	 */
	p = pending_of(tid);
	if (p && !p->e.type) {
		free_event(ctx, &p->e, &p->win, &k, ptr, size, align);
		emit(&p->e);
		p->e.type = 0;
	} else {
		e = bpf_ringbuf_reserve(&events, RP_EVENT_HDR_SIZE +
					((frames_mask & (RP_MAX_FRAMES - 1)) + 1) * 8, 0);
		if (!e) {
			count(RP_CNT_LOST);
			return 0;
		}
		free_event(ctx, e, NULL, &k, ptr, size, align);
		bpf_ringbuf_submit(e, wakeup_flags());
	}
	recorded(t0);
	return 0;
}

/*
 * realloc(p, 0) is a free (glibc), done by calling its own free, an inner
 * call here: the realloc reports it, with its own stack.
 */
static __always_inline int realloc_free_begin(struct pt_regs *ctx, __u64 ptr)
{
	struct call k;
	struct rp_thread *t;
	struct pending_event *p;
	struct rp_event *e;
	__u64 t0;

	if (!call_begin(&k))
		return 0;
	t = enter_call(ctx, (__u32)k.pid_tgid, RP_CALL_FREE);
	if (!t)
		return 0;
	t->arg = ptr;
	if (!k.n) {
		t0 = record_start();
	} else if (!is_sampled_ptr(ptr, &t0)) {
		counted(&k);
		return 0;
	}
	p = new_pending(ctx, RP_EV_FREE, k.pid_tgid, t, k.n);
	if (!p)
		return 0;
	e = &p->e;
	e->old_ptr = ptr;
	take_stack(ctx, e, &p->win, k.tslot);
	recorded(t0);
	return 0;
}

#endif /* RP_CALLS_BPF_H */
