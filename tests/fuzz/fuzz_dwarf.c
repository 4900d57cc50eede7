// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: DWARF functions, inline chains and lines (user/dwarfsym.c). */
#include <stdlib.h>

#include "dwarfsym.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* No separate debug files: only the input is read. */
	static const char *const roots[] = { "/nonexistent-fuzz-root", NULL };
	struct dwarf_sym_opts opts = { .debug_roots = roots };
	struct src_frame fr[16];
	struct dwarf_sym *d;
	char path[64];
	int i, k, n, fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	d = dwarf_sym__open("/fuzz/object", path, "", &opts);
	if (d) {
		for (i = 0; i < FUZZ_NADDRS; i++) {
			n = dwarf_sym__lookup(d, fuzz_addr(i), fr, 16);
			for (k = 0; k < n; k++)
				if (fr[k].function && fr[k].function[0] == 0x7f)
					abort();	/* never: keeps the names read */
		}
		dwarf_sym__close(d);
	}
	close(fd);
	return 0;
}
