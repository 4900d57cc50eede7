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

/*
 * Frames kept per stack, including the caller read from [rsp]: room for
 * RP_MAX_FRAMES (a power of two), RP_DEFAULT_FRAMES walked unless told.
 */
#define RP_MAX_FRAMES 256
#define RP_DEFAULT_FRAMES 64
/*
 * Threads with an event of their own in BPF (the least recently used are
 * forgotten): room for the call in flight and a copy of the stack top.
 */
#define RP_MAX_PENDING 4096
/* Threads with sampling state (least recently used ones are forgotten). */
#define RP_MAX_THREADS 16384
/* Sampled allocations remembered until their free (sized from userspace). */
#define RP_MAX_SAMPLED (1 << 18)

enum rp_event_type {
	RP_EV_ALLOC = 1,	/* ptr, size, align: a new allocation */
	RP_EV_FREE = 2,		/* ptr, size, align: an allocation ends */
	RP_EV_REALLOC = 3,	/* old_ptr -> ptr, size: an allocation continues */
	RP_EV_MAPS = 4,		/* the dynamic loader changed the objects mapped */
	RP_EV_EXEC = 5,		/* the target called execve: its old image is gone */
	RP_EV_FORK = 6,		/* the target forked: ptr is the child's pid (-f: now a target) */
	/*
	 * struct rp_stack_copy: the registers and the top of the user stack
	 * at an allocator's entry (--unwind copy), sent before the event whose
	 * stack it is (that event has RP_F_COPIED and no frames).
	 */
	RP_EV_STACK = 16,
};

enum rp_event_flags {
	RP_F_ZEROED = 1 << 0,	/* __rust_alloc_zeroed / calloc */
	RP_F_TRUNCATED = 1 << 1,/* the stack had more frames than the limit (max_frames) */
	RP_F_DWARF = 1 << 2,	/* unwound with CFI tables (else frame pointers) */
	RP_F_COMPLETE = 1 << 3,	/* the walk reached the outermost frame */
	RP_F_UNMAPPED = 1 << 4,	/* the walk met code outside the known objects */
	RP_F_COPIED = 1 << 12,	/* the stack is in this thread's last RP_EV_STACK */
};

/* One program run in this many is timed for RP_CNT_COUNT_NS (a power of two). */
#define RP_COUNT_ONE_IN 64

/* Indexes into the counters map. */
enum rp_counter {
	RP_CNT_LOST = 0,	/* ring buffer full: event dropped */
	RP_CNT_PENDING_FULL,	/* no room to remember an entry until its return */
	RP_CNT_ALLOC_FAILED,	/* allocator returned NULL */
	RP_CNT_STACK_ERR,	/* bpf_get_stack failed: event kept without stack */
	RP_CNT_NO_PENDING,	/* a return without its entry (attached mid-call) */
	/*
	 * Every call of the target, sampled or not: the exact totals. Sizes are
	 * those the allocator's arguments give (free() gives none).
	 */
	RP_CNT_ALLOCS,
	RP_CNT_FREES,
	RP_CNT_REALLOCS,
	RP_CNT_BYTES_ALLOC,	/* allocated sizes plus realloc growth */
	RP_CNT_BYTES_FREED,
	RP_CNT_BYTES_SHRUNK,	/* realloc shrinkage */
	RP_CNT_SAMPLED_FULL,	/* a sampled allocation the table had no room for */
	RP_CNT_SAMPLE_NS,	/* time spent recording (stacks, events), ns: estimated */
	RP_CNT_RECORDED,	/* recording steps (a random one in 8 is timed) */
	/*
	 * What the calls that are only counted cost in BPF, measured on one
	 * program run in RP_COUNT_ONE_IN of each CPU: the time, ns, and the
	 * calls timed.
	 */
	RP_CNT_COUNT_NS,
	RP_CNT_COUNT_TIMED,
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
	/*
	 * Mean bytes between samples in force when the allocation was born
	 * (RP_EV_ALLOC) or was freed (RP_EV_FREE); 0: every allocation is
	 * recorded. A sampled allocation of s bytes stands for
	 * 1 / (1 - exp(-s / sample_bytes)) allocations.
	 */
	__u64 sample_bytes;
	__u32 seq;		/* allocations made by this thread so far (low 32 bits) */
	__u32 pad;
	/* innermost first; frames[0] is the shim's caller (its return address) */
	__u64 frames[RP_MAX_FRAMES];
};

/*
 * Unwind tables for DWARF-CFI unwinding in BPF (x86-64), built in userspace
 * from each object's .eh_frame / .debug_frame.
 *
 * One row per address range of an object, sorted by pc; a row holds from its
 * pc up to the next row's pc. pc is an ELF virtual address of the object
 * (what st_value and p_vaddr use), so rows do not depend on where the object
 * is loaded. The return address is always at CFA - 8 (rows where the CFI
 * says otherwise are RP_CFA_UNSUPPORTED).
 */
enum rp_cfa_type {
	RP_CFA_END = 0,		/* no CFI here (gap between FDEs, end of table) */
	RP_CFA_RSP = 1,		/* CFA = rsp + cfa_off */
	RP_CFA_RBP = 2,		/* CFA = rbp + cfa_off */
	RP_CFA_PLT = 3,		/* PLT stub: CFA = rsp + 8 + ((rip & 15) >= 11 ? 8 : 0) */
	RP_CFA_UNSUPPORTED = 4,	/* an expression or register we cannot evaluate */
};

enum rp_rbp_type {
	RP_RBP_SAME = 0,	/* rbp keeps the caller's value (same value / unspecified) */
	RP_RBP_OFFSET = 1,	/* caller's rbp saved at CFA + rbp_off */
	RP_RBP_UNDEFINED = 2,	/* outermost frame marker (e.g. _start): stop */
};

/*
 * 16 bytes: BPF array elements are 8-byte aligned, and the rows map is written
 * in place through mmap, so the userspace stride must be the kernel's.
 * cfa_off is 32 bits: Rust frames larger than 32 KiB exist.
 */
struct rp_cfi_row {
	__u32 pc;		/* ELF vaddr (objects above 4 GiB are not supported) */
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa_type;		/* enum rp_cfa_type */
	__u8 rbp_type;		/* enum rp_rbp_type */
	__u32 pad;
};

/*
 * The processes recorded (the targets map: tgid -> struct rp_target). Each
 * has its own object table (slot, in unwind_maps) over the shared rows.
 */
#define RP_MAX_TARGETS 64		/* with an object table of their own */
#define RP_MAX_TRACKED 4096		/* in the targets map */

struct rp_target {
	__u32 slot;		/* object tables 2 * slot, 2 * slot + 1; RP_MAX_TARGETS: none */
	__u8 recording;		/* off at its exec, or before its program starts */
	__u8 pad[3];
};

/* Objects of the target with unwind tables, by runtime address. */
#define RP_MAX_MAPS 256

struct rp_map_entry {
	__u64 start, end;	/* runtime addresses [start, end) of executable code */
	__u64 bias;		/* runtime address - ELF vaddr */
	__u32 row_start;	/* first row in the rows map */
	__u32 row_count;
};

struct rp_maps {
	__u32 n;		/* valid entries, sorted by start */
	__u32 pad;
	struct rp_map_entry m[RP_MAX_MAPS];
};

/*
 * Per-thread state, BPF's own: the allocator call in progress (with its
 * entry stack pointer, and allocator calls made inside this one, which are
 * not events of their own: glibc's realloc calls its malloc and free,
 * mimalloc's realloc its mi_malloc and mi_free), and the sampling countdown.
 */
enum rp_call_kind {
	RP_CALL_ALLOC = 0,
	RP_CALL_REALLOC = 1,
	RP_CALL_FREE = 2,	/* realloc(p, 0) */
	RP_CALL_MEMALIGN = 3,	/* posix_memalign: the pointer is stored through arg */
};

struct rp_thread {
	__u64 entry_sp;
	__u64 size;		/* new size */
	__u64 old_size;		/* realloc: old size, ~0 if unknown */
	__u64 arg;		/* realloc: old pointer; posix_memalign: where it stores */
	__u32 seq;
	__u16 depth;
	__u8 in_call;
	__u8 kind;		/* enum rp_call_kind */
	__u8 sampled;
	__u8 pad[3];
};

/*
 * Per-CPU: the counters (one lookup gives them all) and the sampling
 * countdown. Poisson sampling does not care which stream of bytes a
 * countdown runs over: an allocation of s bytes is sampled with chance
 * 1 - exp(-s / n) whatever came before it, so one countdown per CPU does
 * what one per thread would, without a per-thread lookup.
 */
struct rp_percpu {
	__u64 cnt[RP_CNT_MAX];	/* enum rp_counter */
	__s64 countdown;	/* bytes until the next sample */
	__u64 interval;		/* the mean the countdown was drawn with */
	/*
	 * BPF's own: the target this CPU's last call came from, recording
	 * (targets_gen << 40 | slot << 32 | tgid), so that a call of the same
	 * process spares the lookup in the targets map. One word: programs that
	 * interleave on a CPU never read half of an update.
	 */
	__u64 target;
	__u64 calls;		/* BPF's own: program runs here, for timing one in 64 */
};

/*
 * --unwind copy: stack bytes copied per event, at most (a power of two); the
 * ring reserves header + copy_bytes per copy whatever part of it is used.
 */
#define RP_COPY_MAX (64 * 1024)
#define RP_COPY_DEFAULT (16 * 1024)

struct rp_stack_copy {
	__u32 type;		/* RP_EV_STACK */
	__u32 tid;
	__u32 pid;
	__u32 len;		/* valid bytes in data[], copied from sp up */
	/* at the probed entry: rip, rsp, rbp and the other callee-saved registers */
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u8 data[];
};

#define RP_EVENT_HDR_SIZE ((unsigned long)&((struct rp_event *)0)->frames)

#endif /* RSPROBE_H */
