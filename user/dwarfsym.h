/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_DWARFSYM_H
#define RP_DWARFSYM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * DWARF symbolization of one ELF object (libdw): source file, line and the
 * chain of inlined functions at an address. Not thread-safe.
 */
struct dwarf_sym;

struct dwarf_sym_opts {
	/*
	 * Roots searched for separate debug files, NULL-terminated; NULL means
	 * { "/usr/lib/debug", NULL }. Host paths; for an object read through
	 * /proc/PID/root they are also searched by build ID under that root.
	 */
	const char *const *debug_roots;
};

/*
 * One frame of an inline chain. function and file are owned by the
 * dwarf_sym and stay valid until dwarf_sym__close(); never free them.
 */
struct src_frame {
	char *function;		/* demangled (no legacy ::h<hash>); NULL if DWARF names none */
	const char *file;	/* absolute with the CU's comp_dir; NULL if unknown */
	int line;		/* 0 if unknown */
	bool inlined;		/* an inlined instance; false for the real function */
	uint64_t low_pc;	/* the real function's start (vaddr), 0 if unknown or inlined */
};

/*
 * Find the DWARF of an object: in the file itself, else a separate debug
 * file by build ID (<root>/.build-id/xx/yyyy.debug), else by .gnu_debuglink
 * (same directory, .debug/ below it, <root>/<directory>/).
 *   path          the object's path as the target sees it
 *   open_path     the path to read it through (e.g. /proc/PID/root/...)
 *   build_id_hex  its NT_GNU_BUILD_ID in hex, "" or NULL when absent
 *   opts          may be NULL
 * A debug file is taken when its build ID matches (by build ID, or by
 * debuglink when both files have one), else when its CRC32 matches the
 * debuglink's. NULL with errno ENODATA when there is no DWARF (the common,
 * cheap case), or the errno of opening open_path (ENOEXEC: not ELF).
 */
struct dwarf_sym *dwarf_sym__open(const char *path, const char *open_path, const char *build_id_hex,
				  const struct dwarf_sym_opts *opts);

/*
 * The inline chain at vaddr (an address of the object's own ELF address
 * space, as st_value), innermost first: the inlined instances containing
 * vaddr, then the real function. The innermost frame has the line of vaddr;
 * each outer frame has the call site of the instance inlined into it.
 * For a return address, pass the address of the call (return address - 1):
 * the instruction after a call can belong to another inline context.
 * Returns the number of frames written to out (at most max: the outermost
 * are cut), 0 if no DWARF describes vaddr, or -EINVAL.
 * Results are cached per address; the first lookup in a compile unit
 * indexes it (one pass over its DIEs).
 */
int dwarf_sym__lookup(struct dwarf_sym *d, uint64_t vaddr, struct src_frame *out, int max);

void dwarf_sym__close(struct dwarf_sym *d);

/*
 * The separate debug file of an object that has no .symtab, found as
 * dwarf_sym__open() finds one, but also taken when it has only a .symtab
 * (objcopy --only-keep-debug of a build without -g). A newly allocated path,
 * or NULL.
 */
char *debug_file_find(const char *path, const char *open_path, const char *build_id_hex,
		      const struct dwarf_sym_opts *opts);

#endif
