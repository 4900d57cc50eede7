/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_SYMBOLIZE_H
#define RP_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct frame_info {
	uint64_t pc;		/* absolute address in the target */
	const char *function;	/* demangled; "module+0xoff" or "0xaddr" if unknown */
	const char *module;	/* path of the object, NULL if not file-backed */
	const char *build_id;	/* hex or "" */
	uint64_t offset;	/* address in the object's own ELF address space */
	uint64_t func_id;	/* identity of the function: its start (runtime address) */
	bool named;		/* function comes from a symbol table */
	bool library;		/* std/core/alloc/..., allocator shims, libc, C runtime */
	bool rust;		/* a Rust (mangled) symbol */
	bool inlined;		/* an inlined call inside the frame that follows */
	const char *file;	/* source file from DWARF, or NULL */
	int line;		/* 0 when unknown */
	/* Inlined calls at pc, innermost first (from DWARF); physical frames only. */
	const struct frame_info **inl;
	int ninl;
};

struct symbolizer;

struct symbolizer *symbolizer__new(pid_t pid);
void symbolizer__free(struct symbolizer *s);
/* The process whose addresses are symbolized (launch mode learns it late). */
void symbolizer__set_pid(struct symbolizer *s, pid_t pid);
/* Roots searched for separate debug files (NULL-terminated, kept by reference). */
void symbolizer__set_debug_roots(struct symbolizer *s, const char *const *roots);
/* Frame for pc, symbolized once and cached; never NULL. */
const struct frame_info *symbolizer__frame(struct symbolizer *s, uint64_t pc);
/*
 * The frames pc stands for, innermost first: its inlined calls (when the
 * object has DWARF) and then the physical frame. Returns how many were
 * stored (at most max, at least 1).
 */
int symbolizer__expand(struct symbolizer *s, uint64_t pc, const struct frame_info **out, int max);
/*
 * With DEBUGINFOD_URLS set: open every object mapped now, and fetch from the
 * debuginfod servers the debug files of those that have no symbol table and
 * none on this machine, within budget_ns. Call before events flow: frames
 * symbolized later never wait for the network. Returns how many were fetched.
 */
size_t symbolizer__prefetch(struct symbolizer *s, uint64_t budget_ns);
/* Forget the address layout (the target mapped something new). */
void symbolizer__refresh_maps(struct symbolizer *s);
/*
 * The same, and open the symbols of every object mapped executable now:
 * done before recording, so that the first events do not wait for it while
 * the ring fills.
 */
void symbolizer__preload(struct symbolizer *s);
size_t symbolizer__unsymbolized(const struct symbolizer *s);
/*
 * Another process's executable mapping of path, at file_offset, placed by
 * the caller at [start, end): an address range no mapping of the process
 * symbolized can take. Frames there are symbolized from that file, read
 * now through open_path (proc_map_path() of the mapping's process); dev and
 * ino as its maps say.
 */
void symbolizer__add_mapping(struct symbolizer *s, uint64_t start, uint64_t end,
			     uint64_t file_offset, const char *path, const char *open_path,
			     dev_t dev, ino_t ino);

/* Classification by name and module, exported for tests. */
bool is_library_frame(const char *function, const char *module);
/*
 * --library-frame: functions matching the POSIX extended regular expression
 * re count as library frames too (allocator wrappers of C hosts). Returns 0
 * or -EINVAL for a pattern that does not compile. Set before symbolizing.
 */
int symbolizer__add_library_regex(const char *re);
/* Whether the object at path (a frame's module) holds Rust code. */
bool symbolizer__object_is_rust(struct symbolizer *s, const char *path);
/* The C library or the dynamic loader (by file name). */
bool is_libc_module(const char *module);

#endif
