// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: /proc/PID/maps lines (user/procmaps.c). */
#include <stdio.h>

#include "fuzz.h"
#include "procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps pm;
	FILE *f;
	size_t i;

	rp_verbosity = 0;
	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (!procmaps__parse(f, &pm)) {
		for (i = 0; i < pm.n; i++)
			procmaps__find(&pm, pm.maps[i].start + (pm.maps[i].end - pm.maps[i].start) / 2);
		procmaps__find(&pm, 0);
		procmaps__free(&pm);
	}
	fclose(f);
	return 0;
}
