/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <stdio.h>

#include "model.h"

struct report_opts {
	int top;		/* rows per table */
};

/* Renderers over one model. Return 0 or a negative errno (write error). */
int report_text(FILE *f, const struct model *m, const struct report_opts *o);
int report_json(FILE *f, const struct model *m, const struct report_opts *o);

/* Warnings every output carries (lost events, unknown frees, ...). */
int report_warnings(const struct model *m, char ***out);
void report_warnings_free(char **w, int n);

#endif
