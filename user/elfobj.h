/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_ELFOBJ_H
#define RP_ELFOBJ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum shim_kind {
	SHIM_ALLOC,
	SHIM_ALLOC_ZEROED,
	SHIM_REALLOC,
	SHIM_DEALLOC,
	SHIM_MAX,
};

/*
 * Allocator entry points below the Rust shims: the C allocator (libc, or the
 * malloc of jemalloc/mimalloc), jemalloc's own API (also with the _rjem_
 * prefix of prefixed builds) and mimalloc's.
 */
enum libc_fn {
	LIBC_MALLOC,
	LIBC_CALLOC,
	LIBC_REALLOC,
	LIBC_FREE,
	LIBC_POSIX_MEMALIGN,
	LIBC_ALIGNED_ALLOC,
	JE_MALLOCX,
	JE_RALLOCX,
	JE_SDALLOCX,
	JE_DALLOCX,
	MI_MALLOC,
	MI_ZALLOC,
	MI_CALLOC,
	MI_MALLOC_ALIGNED,
	MI_ZALLOC_ALIGNED,
	MI_REALLOC,
	MI_REALLOC_ALIGNED,
	MI_FREE,
	LIBC_MAX,
};

#define LIBC_STD_MAX (LIBC_ALIGNED_ALLOC + 1)	/* the C standard's functions */

struct elf_sym {
	uint64_t addr;		/* ELF virtual address */
	uint64_t size;
	const char *name;	/* mangled, owned by the object */
	char *demangled;	/* lazily */
};

struct elf_load {
	uint64_t vaddr, offset, filesz;
	bool exec;		/* PF_X */
};

struct elf_object {
	char *path;		/* path as the target maps it */
	char *open_path;	/* path we read it through */
	char build_id[41];	/* hex, "" when absent */
	bool has_symtab;
	struct elf_sym *syms;	/* sorted by addr */
	size_t nsyms;
	char *strings;		/* copy of the string tables */
	struct elf_load *loads;
	size_t nloads;
	/* File offsets of the shims, 0 when absent. */
	uint64_t shim_off[SHIM_MAX];
	/*
	 * Where each shim's entry probe goes: its start, or the first
	 * instruction past a preamble a uprobe cannot step (user/insn.h).
	 */
	uint64_t shim_probe_off[SHIM_MAX];
	/* A shim with no such place, and why. */
	bool shim_unprobeable[SHIM_MAX];
	char *shim_why[SHIM_MAX];
	bool shim_v0;		/* shims are v0-mangled */
	bool rust;		/* Rust code (shims or not) */
	bool rust_stripped;	/* known as Rust by its data only (no Rust symbols) */
	uint64_t entry;		/* e_entry (ELF vaddr), 0 for none */
	/* File offsets of the allocator functions it defines, 0 when absent. */
	uint64_t libc_off[LIBC_MAX];
	/* It calls jemalloc's / mimalloc's API (undefined symbols it imports). */
	bool imports_jemalloc, imports_mimalloc;
	/* ELF addresses of the shims, and how many calls and references reach them. */
	uint64_t shim_vaddr[SHIM_MAX];
	unsigned int shim_refs[SHIM_MAX];
	/* Calls that reach the shims' backend (__rdl_alloc, the GlobalAlloc) directly. */
	unsigned int backend_refs;
	uint64_t backend_vaddr;	/* one such backend, for diagnosis */
	/*
	 * Where each shim is a thunk to a #[global_allocator]'s method
	 * (<A as GlobalAlloc>::alloc, ...): the method's probe offset, and
	 * in which of its registers each argument of the shim arrives (4 bits
	 * per argument, register 0..5 = rdi..r9, 0xf for none).
	 */
	bool ga_ok[SHIM_MAX];
	uint64_t ga_probe_off[SHIM_MAX];
	uint64_t ga_cookie[SHIM_MAX];
	uint64_t ga_vaddr[SHIM_MAX];
	char **needed;		/* DT_NEEDED names */
	size_t nneeded;
	char *runpath;		/* DT_RUNPATH, else DT_RPATH, or NULL */
	char *interp;		/* PT_INTERP: the dynamic loader, or NULL */
};

/* What tells one file from another: device and inode, and the build ID ("" if none). */
struct elf_identity {
	dev_t dev;
	ino_t ino;
	char build_id[41];
};
/*
 * The identity of the file at open_path, read cheaply (its notes, not its
 * symbols). 0, or a negative errno when it cannot be opened; a file that
 * is not ELF has an empty build ID.
 */
int elf_file_identity(const char *open_path, struct elf_identity *id);

/* Open and index an ELF file. NULL with errno set on failure. */
struct elf_object *elf_object__open(const char *path, const char *open_path);
void elf_object__free(struct elf_object *o);
/* ELF virtual address -> file offset; false if not in a PT_LOAD segment. */
bool elf_object__vaddr_to_off(const struct elf_object *o, uint64_t vaddr, uint64_t *off);
/* File offset -> ELF virtual address; false if not in a PT_LOAD segment. */
bool elf_object__off_to_vaddr(const struct elf_object *o, uint64_t off, uint64_t *vaddr);
/* The function symbol containing vaddr, or NULL. */
struct elf_sym *elf_object__lookup(struct elf_object *o, uint64_t vaddr);
/* File offset of the function named name (as mangled), 0 if absent. */
uint64_t elf_object__func_offset(const struct elf_object *o, const char *name);
/* Demangled name of sym (v0 and legacy Rust, C++; no legacy ::h<hash>). */
const char *elf_sym__name(struct elf_sym *sym);
/*
 * The shims carry every allocation: alloc and dealloc exist and something
 * calls them. LTO inlines them away, wholly or for some callers only; where
 * __rust_dealloc is gone, frees go to the backend directly.
 */
bool elf_object__shims_in_use(const struct elf_object *o);
/*
 * Every shim is a thunk to a #[global_allocator] method that can be probed
 * instead: that layer sees every allocation where the program's code calls
 * the methods directly (LTO, or the allocator in the program's own crate).
 */
bool elf_object__ga_usable(const struct elf_object *o);
/* Number of shims found (0..SHIM_MAX). */
int elf_object__nshims(const struct elf_object *o);
const char *shim_name(enum shim_kind k);
const char *libc_fn_name(enum libc_fn k);
/* Defines malloc and free: an allocator library (or a static executable). */
bool elf_object__has_libc_alloc(const struct elf_object *o);
bool elf_object__has_jemalloc(const struct elf_object *o);
bool elf_object__has_mimalloc(const struct elf_object *o);
/* Where the dynamic loader would find a DT_NEEDED library of this object. */
char *elf_object__resolve_needed(const struct elf_object *o, const char *name);
/* Which shim a (mangled) symbol name is, or -1. */
int shim_kind_of(const char *name);
/* Demangle into a newly allocated string; the input copied when not mangled. */
char *rp_demangle(const char *name);

#endif
