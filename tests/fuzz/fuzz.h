/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared by the fuzz targets: the parsers read files by path, so each input
 * is put in a memory file and read through /proc/self/fd/N, as the target's
 * files are read through /proc/PID/...
 */
#ifndef RP_FUZZ_H
#define RP_FUZZ_H
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memory file holding the input, its /proc path in path. -1 on failure. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t len)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	size_t off = 0;

	rp_verbosity = 0;
	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* Addresses to look up: spread over the low part of a small object's image. */
#define FUZZ_NADDRS 96
static inline uint64_t fuzz_addr(int i)
{
	return 0x1000 + (uint64_t)i * 0x30 + (i & 7);
}
#endif
