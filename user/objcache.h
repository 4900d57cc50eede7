/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_OBJCACHE_H
#define RP_OBJCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cfi.h"
#include "elfobj.h"

/*
 * What rsprobe reads from the target's files, read once per file whoever
 * asks (allocator discovery, the symbolizer, the unwinder) and however many
 * processes map it: the ELF object (symbols, PT_LOADs, shims), its DWARF,
 * the symbol table of a separate debug file, the function ranges of
 * .eh_frame and the CFI rows of the BPF unwinder.
 *
 * A file is known by its identity: device and inode (as /proc/PID/maps or
 * stat() says), checked by build ID at every new lookup, so that a file
 * replaced in place gets an entry of its own; a copy of a file (another
 * inode, the same build ID) shares the entry of the first.
 *
 * Entries are counted references: objcache__get() takes one, objcache__put()
 * gives it back. Released entries are kept for a while (a target that
 * restarts maps them again) and freed beyond OBJCACHE_KEEP, oldest first.
 * Not thread-safe.
 */
#define OBJCACHE_KEEP 64

struct objfile {
	/*
	 * As the first reader named it, or the first name a process maps it
	 * by when that reader gave a /proc path it read it through; elf->path
	 * likewise (each reader keeps its own name for its frames).
	 */
	char *path;
	struct elf_identity id;		/* from stat() of the file read */
	dev_t map_dev;			/* as /proc/PID/maps names it (0: not known) */
	ino_t map_ino;
	unsigned int refs;
	bool stale;			/* replaced on disk since: no lookup finds it */
	uint64_t released;		/* when refs last fell to 0 (a sequence number) */
	struct elf_object *elf;		/* NULL: unreadable, or not ELF */
	/* Read on first use, by the functions below. */
	bool dwarf_read, funcs_read, cfi_read;
	/*
	 * DWARF, and the .symtab of a separate debug file (a stripped
	 * object); whoever finds a debug file later (debuginfod) may set
	 * them where they are NULL.
	 */
	struct dwarf_sym *dwarf;
	struct elf_object *dbg;
	struct cfi_func *funcs;		/* .eh_frame FDE ranges */
	size_t nfuncs;
	struct cfi_table cfi;		/* rows for the BPF unwinder */
	int cfi_err;
};

struct objcache_stats {
	size_t files;			/* entries held (referenced or kept) */
	size_t elf_opens;		/* ELF objects indexed */
	size_t dwarf_opens;		/* DWARF looked for */
	size_t cfi_builds;		/* unwind tables built */
	size_t func_reads;		/* .eh_frame function ranges read */
	size_t hits;			/* lookups answered by an entry */
	size_t evicted;			/* entries freed after release */
};

struct objcache;

/* The cache of this process, shared by every symbolizer and unwinder. */
struct objcache *objcache__shared(void);
struct objcache *objcache__new(void);
/* Frees every entry, referenced or not. */
void objcache__free(struct objcache *c);
/* Roots searched for separate debug files, NULL-terminated (kept by reference). */
void objcache__set_debug_roots(struct objcache *c, const char *const *roots);
const char *const *objcache__debug_roots(const struct objcache *c);

/*
 * The file a process maps from path, read through open_path (proc_map_path()
 * or proc_path()); dev and ino as the process's maps say (0, 0: unknown,
 * stat() of open_path decides). Found or read now; never NULL (elf is NULL
 * when the file cannot be read). A reference: objcache__put() it.
 */
struct objfile *objcache__get(struct objcache *c, const char *path, const char *open_path,
			      dev_t dev, ino_t ino);
void objcache__put(struct objcache *c, struct objfile *f);

/*
 * DWARF and a separate debug file's symbols, looked for once: path is the
 * object's name in the process that asks (debug links are found beside it),
 * open_path where to read it now. Returns f->dwarf, may be NULL.
 */
struct dwarf_sym *objfile__dwarf(struct objcache *c, struct objfile *f, const char *path,
				 const char *open_path);
/* .eh_frame function ranges, read once; NULL (and *n 0) when there are none. */
const struct cfi_func *objfile__funcs(struct objcache *c, struct objfile *f,
				      const char *open_path, size_t *n);
/* The CFI rows, built once; NULL with *err a negative errno when there are none. */
const struct cfi_table *objfile__cfi(struct objcache *c, struct objfile *f, const char *open_path,
				     int *err);

void objcache__stats(const struct objcache *c, struct objcache_stats *st);

#endif
