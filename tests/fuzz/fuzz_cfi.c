// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: unwind tables from .eh_frame / .debug_frame (user/cfi.c),
 * and the reference unwinder walking a "stack" made of the input's bytes.
 */
#include <string.h>

#include "cfi.h"
#include "fuzz.h"

struct mem {
	const uint8_t *data;
	size_t size;
};

#define STACK_BASE 0x7ff000000000ULL

static int read_mem(void *arg, uint64_t addr, uint64_t *val)
{
	const struct mem *m = arg;

	if (addr < STACK_BASE || addr - STACK_BASE > m->size || m->size - (addr - STACK_BASE) < 8)
		return -EFAULT;
	memcpy(val, m->data + (addr - STACK_BASE), 8);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfi_table t = {};
	struct cfi_stats st = {};
	char path[64];
	int i, fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	if (!cfi_table__build_stats(path, &t, &st)) {
		struct mem m = { data, size };
		struct cfi_map map = { .start = 0, .end = 1ULL << 40, .bias = 0, .table = &t };
		struct cfi_unwind_ctx ctx = { .maps = &map, .nmaps = 1, .read = read_mem, .arg = &m };
		uint64_t pcs[64];
		enum cfi_stop stop;

		for (i = 0; i < FUZZ_NADDRS; i++) {
			cfi_table__find(&t, fuzz_addr(i));
			if (i % 8 == 0)
				cfi_unwind_stop(&ctx, fuzz_addr(i), STACK_BASE + 64, STACK_BASE + 128,
						pcs, 64, &stop);
		}
		cfi_table__free(&t);
	}
	close(fd);
	return 0;
}
