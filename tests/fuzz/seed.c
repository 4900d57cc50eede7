// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Source of small seed objects for the fuzz targets (built by tests/fuzz/seeds.sh
 * with and without debug info, frame pointers and .eh_frame): a few functions
 * with inlining, a namespace-like static, a loop and a tail call.
 */
static int counter;

static inline __attribute__((always_inline)) int inner(int x)
{
	return x * 3 + counter;
}

__attribute__((noinline)) int middle(int x)
{
	int i, acc = 0;

	for (i = 0; i < x; i++)
		acc += inner(i);
	return acc;
}

__attribute__((noinline)) int outer(int x)
{
	char buf[64];

	__builtin_memset(buf, x, sizeof(buf));
	counter += buf[x & 63];
	return middle(x) + buf[3];
}

int entry(int x)
{
	return outer(x + 1);
}
