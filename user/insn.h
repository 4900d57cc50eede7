/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RP_INSN_H
#define RP_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Where a uprobe can sit on a function that starts at code (ELF address
 * addr, len bytes of the function's body): the first instruction the
 * kernel can step (x86 refuses LOCK and ES/CS/SS/DS prefixes), provided
 * every instruction before it runs straight through and leaves the
 * argument registers (rdi, rsi, rdx, rcx, r8, r9) and rsp untouched, and no
 * branch of the function lands between the start and that instruction.
 * An entry probe there sees the arguments of the call, and a return probe
 * still finds the return address at [rsp].
 * Returns 0 with *skip (bytes past the start; 0 when the first instruction
 * can be probed), or -ENOTSUP with a reason in why.
 */
int insn__probe_point(const uint8_t *code, size_t len, uint64_t addr, size_t *skip,
		      char *why, size_t why_len);

/*
 * A thunk: 64-bit register moves, then a direct jmp. Returns 0 with *target,
 * and for each argument register of the target (rdi, rsi, rdx, rcx, r8, r9:
 * 0..5), which of the thunk's own argument registers it holds (from[i], -1
 * for none); -ENOTSUP for anything else.
 */
int insn__thunk(const uint8_t *code, size_t len, uint64_t addr, uint64_t *target,
		int8_t from[6]);
/* Whether the code calls or jumps to one of the n addresses. */
bool insn__branches_to(const uint8_t *code, size_t len, uint64_t addr, const uint64_t *to,
		       size_t n);

#endif
