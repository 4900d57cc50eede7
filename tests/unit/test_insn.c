// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Probe placement and thunk decoding (user/insn.c) on hand-assembled code. */
#include <errno.h>

#include "check.h"
#include "insn.h"

static char why[200];

/* lock incq 0x10(%rip); mov %rdi,%rdx; ret: probed at the mov, 8 bytes in. */
static void test_skip_lock(void)
{
	static const uint8_t code[] = { 0xf0, 0x48, 0xff, 0x05, 0x10, 0, 0, 0,
					0x48, 0x89, 0xfa, 0xc3 };
	size_t skip = 99;

	CHECK(insn__probe_point(code, sizeof(code), 0x1000, &skip, why, sizeof(why)) == 0);
	CHECK_U64(skip, 8);
}

/* mov %rdi,%rax; ret: the first instruction can be probed. */
static void test_no_skip(void)
{
	static const uint8_t code[] = { 0x48, 0x89, 0xf8, 0xc3 };
	size_t skip = 99;

	CHECK(insn__probe_point(code, sizeof(code), 0x1000, &skip, why, sizeof(why)) == 0);
	CHECK_U64(skip, 0);
}

/* lock xadd %rsi,0x10(%rip); ret: the locked instruction writes rsi. */
static void test_lock_writes_argument(void)
{
	static const uint8_t code[] = { 0xf0, 0x48, 0x0f, 0xc1, 0x35, 0x10, 0, 0, 0, 0xc3 };
	size_t skip;

	CHECK(insn__probe_point(code, sizeof(code), 0x1000, &skip, why, sizeof(why)) == -ENOTSUP);
	CHECK(strstr(why, "writes rsi") != NULL);
}

/* lock incq (%rax); cs nop; lock incq (%rax); ret: segment-prefixed too, then ret. */
static void test_segment_prefix(void)
{
	static const uint8_t code[] = { 0xf0, 0x48, 0xff, 0x00, 0x2e, 0x90, 0xc3 };
	size_t skip = 0;

	CHECK(insn__probe_point(code, sizeof(code), 0x1000, &skip, why, sizeof(why)) == 0);
	CHECK_U64(skip, 6);
}

/* mov %rdi,%rax; mov %rsi,%rdi; mov %rax,%rsi; jmp +0x100: arguments swapped. */
static void test_thunk_swap(void)
{
	static const uint8_t code[] = { 0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xc6,
					0xe9, 0x00, 0x01, 0, 0 };
	uint64_t target = 0;
	int8_t from[6];

	CHECK(insn__thunk(code, sizeof(code), 0x1000, &target, from) == 0);
	CHECK_U64(target, 0x1000 + sizeof(code) + 0x100);
	CHECK(from[0] == 1 && from[1] == 0 && from[2] == 2 && from[3] == 3);
}

/* A body is not a thunk. */
static void test_not_thunk(void)
{
	static const uint8_t code[] = { 0x48, 0x83, 0xc7, 0x01, 0xe9, 0, 0, 0, 0 };
	uint64_t target;
	int8_t from[6];

	CHECK(insn__thunk(code, sizeof(code), 0x1000, &target, from) == -ENOTSUP);
}

int main(void)
{
	RUN(test_skip_lock);
	RUN(test_no_skip);
	RUN(test_lock_writes_argument);
	RUN(test_segment_prefix);
	RUN(test_thunk_swap);
	RUN(test_not_thunk);
	CHECK_DONE();
}
