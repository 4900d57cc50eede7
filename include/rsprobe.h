/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Events shared by the BPF programs (bpf/rsprobe.bpf.c) and userspace.
 *
 * Every field is fixed width with explicit padding so that the BPF object
 * (built with clang -target bpf) and the userspace build agree on the layout.
 */
#ifndef RSPROBE_H
#define RSPROBE_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Frames kept per stack, including the caller read from [rsp]. */
#define RP_MAX_FRAMES 64
/* Threads that may be inside an allocator call at once. */
#define RP_MAX_PENDING 16384

enum rp_event_type {
	RP_EV_ALLOC = 1,	/* ptr, size, align: a new allocation */
	RP_EV_FREE = 2,		/* ptr, size, align: an allocation ends */
	RP_EV_REALLOC = 3,	/* old_ptr -> ptr, size: an allocation continues */
};

enum rp_event_flags {
	RP_F_ZEROED = 1 << 0,	/* __rust_alloc_zeroed / calloc */
	RP_F_TRUNCATED = 1 << 1,/* the stack had more than RP_MAX_FRAMES frames */
};

/* Indexes into the counters map. */
enum rp_counter {
	RP_CNT_LOST = 0,	/* ring buffer full: event dropped */
	RP_CNT_PENDING_FULL,	/* no room to remember an entry until its return */
	RP_CNT_ALLOC_FAILED,	/* allocator returned NULL */
	RP_CNT_STACK_ERR,	/* bpf_get_stack failed: event kept without stack */
	RP_CNT_NO_PENDING,	/* a return without its entry (attached mid-call) */
	RP_CNT_MAX,
};

struct rp_event {
	__u32 type;		/* enum rp_event_type */
	__u32 tid;
	__u32 pid;
	__u16 flags;		/* enum rp_event_flags */
	__u16 nframes;		/* valid entries in frames[] */
	__u64 ts;		/* CLOCK_MONOTONIC, ns */
	__u64 ptr;
	__u64 old_ptr;		/* RP_EV_REALLOC only */
	__u64 size;
	__u64 align;
	/* innermost first; frames[0] is the shim's caller (its return address) */
	__u64 frames[RP_MAX_FRAMES];
};

#define RP_EVENT_HDR_SIZE ((unsigned long)&((struct rp_event *)0)->frames)

#endif /* RSPROBE_H */
