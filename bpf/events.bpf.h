/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Event plumbing: the ring buffer to userspace, the per-CPU counters, and
 * events built and sent. Included by rsprobe.bpf.c only (one BPF object).
 */
#ifndef RP_EVENTS_BPF_H
#define RP_EVENTS_BPF_H

/* Wake the consumer once this much data waits; below it, it drains on a timer. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* Diagnostic: do nothing at all in the programs (the uprobe floor). */
const volatile bool empty_programs = false;
/* Set by the first event: wake the consumer at once so it reads the layout early. */
bool first_event_sent = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 * 1024 * 1024);	/* resized from userspace */
} events SEC(".maps");

/*
 * Bytes of the user stack a DWARF walk copies in one read (a power of two,
 * at most a page), where it then finds the words it needs: 4 KiB holds the
 * frames of most allocation stacks of the bench's text workload.
 */
#define STACK_WIN_BYTES 4096

/*
 * The walk's copy of a thread's stack, and where the thread's stack ends
 * when a walk has met its end: a copy that runs past the end fails whole,
 * at the cost of a fault (about a microsecond), and a program's main
 * thread, shallow, often allocates within a page of it.
 */
struct stack_win {
	__u64 w[STACK_WIN_BYTES / 8];
	__u64 end;		/* the stack's end, 0: not met */
};

/* A thread's event, and the walk's copy of its stack. */
struct pending_event {
	struct rp_event e;
	struct stack_win win;
};

/*
 * Each thread's event under construction, kept for the thread's life (the
 * least recently used are forgotten): the call in flight between its entry
 * and its return while type is not 0, else the room a free's event is built
 * in. Made once per thread: an update copies the whole value, and a lookup
 * copies nothing.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RP_MAX_PENDING);
	__type(key, __u32);
	__type(value, struct pending_event);
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
	__type(value, struct pending_event);
} zero_event SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_percpu);
} counters SEC(".maps");

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

/*
 * Recording steps (stack walk, event) are timed one in TIME_ONE_IN, drawn at
 * random, and that time is counted TIME_ONE_IN times: reading the clock twice
 * costs about as much as a step's own work, and what the sampler needs is
 * the mean cost of a step. record_start() gives 0 for a step not timed.
 */
#define TIME_ONE_IN 8

static __always_inline __u64 record_start(void)
{
	return bpf_get_prandom_u32() & (TIME_ONE_IN - 1) ? 0 : bpf_ktime_get_ns();
}

/*
 * Time spent because recording is on, without a step of its own (a return
 * that looks for its event while another thread's call is in flight).
 */
static __always_inline void recording_cost(__u64 t0)
{
	struct rp_percpu *c;

	if (t0 && (c = percpu()))
		c->cnt[RP_CNT_SAMPLE_NS] += (bpf_ktime_get_ns() - t0) * TIME_ONE_IN;
}

/* A recording step that record_start() began: what it cost. */
static __always_inline void recorded(__u64 t0)
{
	struct rp_percpu *c = percpu();

	if (c) {
		if (t0)
			c->cnt[RP_CNT_SAMPLE_NS] += (bpf_ktime_get_ns() - t0) * TIME_ONE_IN;
		c->cnt[RP_CNT_RECORDED]++;
	}
}

static __always_inline __u64 wakeup_flags(void)
{
	if (!first_event_sent) {
		first_event_sent = true;
		return BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
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

/* This thread's event, made if it has none yet. */
static __always_inline struct pending_event *pending_of(__u32 tid)
{
	struct pending_event *p = bpf_map_lookup_elem(&pending, &tid), *z;
	__u32 zero = 0;

	if (p)
		return p;
	z = bpf_map_lookup_elem(&zero_event, &zero);
	if (!z)
		return NULL;
	bpf_map_update_elem(&pending, &tid, z, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pending, &tid);
}

/* This thread's call in flight, if it has one. */
static __always_inline struct rp_event *in_flight(__u32 tid)
{
	struct pending_event *p = bpf_map_lookup_elem(&pending, &tid);

	return p && p->e.type ? &p->e : NULL;
}

/* The call in flight is over (sent, failed or stale). */
static __always_inline void drop_pending(__u32 tid)
{
	struct pending_event *p = bpf_map_lookup_elem(&pending, &tid);

	if (p)
		p->e.type = 0;
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

#endif /* RP_EVENTS_BPF_H */
