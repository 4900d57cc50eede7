/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

/* What a flame graph measures (--weight). */
enum weight {
	WEIGHT_ALLOC_BYTES,	/* bytes allocated, growth by realloc included */
	WEIGHT_ALLOCS,		/* allocations */
	WEIGHT_LIVE_BYTES,	/* bytes still live at the end */
	WEIGHT_LIFETIME,	/* nanoseconds lived, summed over allocations */
	WEIGHT_MAX,
};

struct report_opts {
	int top;		/* rows per table */
	enum weight weight;	/* flame graphs */
	int stacks;		/* sites whose stacks the text report prints (--stacks) */
};

/* --weight names and units, by enum weight. */
extern const char *const weight_names[WEIGHT_MAX];
extern const char *const weight_units[WEIGHT_MAX];
/* A site's value under weight w. */
uint64_t site_weight(const struct site *s, enum weight w);

/* Renderers over one model. Return 0 or a negative errno (write error). */
int report_text(FILE *f, const struct model *m, const struct report_opts *o);
int report_json(FILE *f, const struct model *m, const struct report_opts *o);
int report_folded(FILE *f, const struct model *m, const struct report_opts *o);
int report_svg(FILE *f, const struct model *m, const struct report_opts *o);
int report_pprof(FILE *f, const struct model *m, const struct report_opts *o);
int report_dhat(FILE *f, const struct model *m, const struct report_opts *o);
int report_html(FILE *f, const struct model *m, const struct report_opts *o);

/*
 * Output formats, by file name suffix: the CLI's -o and the daemon's
 * exports pick from the same table.
 */
struct report_format {
	const char *suffix;	/* ".json", ".pb.gz", ... */
	int (*render)(FILE *f, const struct model *m, const struct report_opts *o);
	bool text;		/* names written with their control bytes made visible */
};
extern const struct report_format report_formats[];
extern const size_t report_nformats;
/* The format a file name asks for (the longest suffix that matches), or NULL. */
const struct report_format *report_format_of(const char *path);
/* The format of a suffix (".txt", ".pb.gz", ...), or NULL. */
const struct report_format *report_format_by_suffix(const char *suffix);
/* The suffixes known, ", "-separated, in buf. */
const char *report_format_list(char *buf, size_t len);
/* m rendered by fmt to f, text escaped as escape.h says. Returns 0 or a negative errno. */
int report_write(FILE *f, const struct report_format *fmt, const struct model *m,
		 const struct report_opts *o);

/*
 * Where a frame is: "file:line" when DWARF says, and always the object and
 * offset of its address ("rg+0x203d9d"), which no two distinct stacks share.
 * Inlined frames share their address with the frame that follows them.
 */
const char *frame_where(char *buf, size_t len, const struct frame_info *fr);

/* Allocations and bytes per heap type (String, Vec, ...), in order of first site. */
struct heap_type_row {
	const char *type;
	uint64_t allocs, bytes;
};
int heap_type_rows(const struct model *m, struct heap_type_row *rows, int max);

/*
 * A site whose allocations realloc again and again: the advice for it in buf
 * (with_capacity, or a larger capacity where it sets one); false for others.
 */
bool growth_hint(const struct model *m, const struct site *s, char *buf, size_t len);

/*
 * The recording mode in one line, for every output: which mode, and whether
 * per-site figures are estimates (caller frees).
 */
char *report_mode(const struct model *m);
/* Per-site and per-function figures are scaled estimates (sampling was in force). */
static inline bool report_estimated(const struct model *m)
{
	return m->mode.sampled;
}

/* Warnings every output carries (lost events, unknown frees, ...). */
int report_warnings(const struct model *m, char ***out);
void report_warnings_free(char **w, int n);

#endif
