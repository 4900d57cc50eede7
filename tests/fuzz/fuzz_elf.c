// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: ELF objects as rsprobe indexes them (user/elfobj.c). */
#include <stdlib.h>

#include "elfobj.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_object *o;
	char path[64];
	uint64_t off, va;
	size_t i;
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	o = elf_object__open("/fuzz/object", path);
	if (o) {
		for (i = 0; i < FUZZ_NADDRS; i++) {
			struct elf_sym *s = elf_object__lookup(o, fuzz_addr((int)i));

			if (s)
				elf_sym__name(s);
			if (elf_object__vaddr_to_off(o, fuzz_addr((int)i), &off))
				elf_object__off_to_vaddr(o, off, &va);
		}
		for (i = 0; i < o->nneeded; i++)
			free(elf_object__resolve_needed(o, o->needed[i]));
		elf_object__func_offset(o, "_dl_debug_state");
		elf_object__shims_in_use(o);
		elf_object__free(o);
	}
	close(fd);
	return 0;
}
