// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe placement on x86-64 with the capstone disassembler. Capstone rather
 * than zydis or libopcodes: cs_regs_access() reports every register an
 * instruction writes, implicit ones included (push writes rsp, rep movs
 * writes rdi/rsi/rcx, cpuid writes rcx/rdx), which is exactly the question
 * asked here; it is a small, stable C API packaged by Debian (4.0.2), and
 * libopcodes only prints text.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "insn.h"

/* Look this far for a place: an allocator's counting preamble is short. */
#define MAX_SKIP_INSNS 8

/* The kernel's is_prefix_bad(): uprobes refuse these legacy prefixes. */
static bool prefix_bad(const cs_insn *in)
{
	uint16_t i;

	for (i = 0; i < in->size; i++) {
		switch (in->bytes[i]) {
		case 0xf0: case 0x26: case 0x2e: case 0x36: case 0x3e:
			return true;
		case 0x66: case 0x67: case 0xf2: case 0xf3: case 0x64: case 0x65:
			continue;
		default:
			return false;	/* REX or the opcode: prefixes are over */
		}
	}
	return false;
}

/* Instructions a uprobe cannot (or must not) single-step out of line. */
static bool insn_refused(const cs_insn *in)
{
	switch (in->id) {
	case X86_INS_INT3: case X86_INS_INT: case X86_INS_INTO: case X86_INS_HLT:
	case X86_INS_UD2: case X86_INS_IN: case X86_INS_OUT:
		return true;
	default:
		return prefix_bad(in);
	}
}

/* rdi, rsi, rdx, rcx, r8, r9 and rsp, in any width. */
static bool is_arg_or_sp(unsigned int r)
{
	switch (r) {
	case X86_REG_RDI: case X86_REG_EDI: case X86_REG_DI: case X86_REG_DIL:
	case X86_REG_RSI: case X86_REG_ESI: case X86_REG_SI: case X86_REG_SIL:
	case X86_REG_RDX: case X86_REG_EDX: case X86_REG_DX: case X86_REG_DL: case X86_REG_DH:
	case X86_REG_RCX: case X86_REG_ECX: case X86_REG_CX: case X86_REG_CL: case X86_REG_CH:
	case X86_REG_R8: case X86_REG_R8D: case X86_REG_R8W: case X86_REG_R8B:
	case X86_REG_R9: case X86_REG_R9D: case X86_REG_R9W: case X86_REG_R9B:
	case X86_REG_RSP: case X86_REG_ESP: case X86_REG_SP: case X86_REG_SPL:
		return true;
	default:
		return false;
	}
}

static bool changes_flow(csh h, const cs_insn *in)
{
	return cs_insn_group(h, in, CS_GRP_JUMP) || cs_insn_group(h, in, CS_GRP_CALL) ||
	       cs_insn_group(h, in, CS_GRP_RET) || cs_insn_group(h, in, CS_GRP_INT) ||
	       cs_insn_group(h, in, CS_GRP_IRET);
}

/* Why a skipped instruction disqualifies the place after it, or NULL. */
static const char *skip_hazard(csh h, const cs_insn *in, const char **reg)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0, i;

	if (changes_flow(h, in))
		return "branches";
	if (cs_regs_access(h, in, rd, &nrd, wr, &nwr))
		return "cannot be decoded for the registers it writes";
	for (i = 0; i < nwr; i++) {
		if (is_arg_or_sp(wr[i])) {
			*reg = cs_reg_name(h, wr[i]);
			return "writes";
		}
	}
	return NULL;
}

/* A branch of the function into (addr, addr + skip]: the probe would be passed or hit twice. */
static bool branch_into(csh h, cs_insn *in, const uint8_t *code, size_t len, uint64_t addr,
			size_t skip)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;

	while (cs_disasm_iter(h, &p, &left, &a, in)) {
		const cs_x86 *x = &in->detail->x86;
		uint8_t i;

		if (!cs_insn_group(h, in, CS_GRP_JUMP) && !cs_insn_group(h, in, CS_GRP_CALL))
			continue;
		for (i = 0; i < x->op_count; i++)
			if (x->operands[i].type == X86_OP_IMM &&
			    (uint64_t)x->operands[i].imm > addr &&
			    (uint64_t)x->operands[i].imm <= addr + skip)
				return true;
	}
	return false;
}

int insn__probe_point(const uint8_t *code, size_t len, uint64_t addr, size_t *skip,
		      char *why, size_t why_len)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;
	cs_insn *in;
	csh h;
	int n, err = -ENOTSUP;

	*skip = 0;
	snprintf(why, why_len, "its first instructions cannot be decoded");
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	for (n = 0; n < MAX_SKIP_INSNS && cs_disasm_iter(h, &p, &left, &a, in); n++) {
		const char *hazard, *reg = NULL;

		if (!insn_refused(in)) {
			*skip = (size_t)(in->address - addr);
			if (*skip && branch_into(h, in, code, len, addr, *skip)) {
				snprintf(why, why_len, "its first instruction has a LOCK or segment "
					 "prefix, and a branch of the function returns past it");
				break;
			}
			err = 0;
			break;
		}
		hazard = skip_hazard(h, in, &reg);
		if (hazard) {
			snprintf(why, why_len, "its first instruction a uprobe can step comes after "
				 "'%s %s', which %s%s%s", in->mnemonic, in->op_str, hazard,
				 reg ? " " : "", reg ? reg : "");
			break;
		}
		snprintf(why, why_len, "no instruction a uprobe can step among its first %d", n + 1);
	}
	cs_free(in, 1);
	cs_close(&h);
	return err;
}

/* The 64-bit general registers, numbered 0..15; -1 for any other. */
static int gpr64(unsigned int r)
{
	static const unsigned int regs[16] = {
		X86_REG_RDI, X86_REG_RSI, X86_REG_RDX, X86_REG_RCX, X86_REG_R8, X86_REG_R9,
		X86_REG_RAX, X86_REG_RBX, X86_REG_RBP, X86_REG_RSP, X86_REG_R10, X86_REG_R11,
		X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15,
	};
	int i;

	for (i = 0; i < 16; i++)
		if (regs[i] == r)
			return i;
	return -1;
}

int insn__thunk(const uint8_t *code, size_t len, uint64_t addr, uint64_t *target,
		int8_t from[6])
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;
	int8_t holds[16];
	cs_insn *in;
	csh h;
	int n, i, err = -ENOTSUP;

	/* The first six registers hold the thunk's arguments 0..5 (gpr64 order). */
	for (i = 0; i < 16; i++)
		holds[i] = i < 6 ? (int8_t)i : -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	for (n = 0; n < 8 && cs_disasm_iter(h, &p, &left, &a, in); n++) {
		const cs_x86 *x = &in->detail->x86;
		int d, s;

		if (in->id == X86_INS_JMP && x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
			*target = (uint64_t)x->operands[0].imm;
			for (i = 0; i < 6; i++)
				from[i] = holds[i];
			err = 0;
			break;
		}
		if (in->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_REG ||
		    x->operands[1].type != X86_OP_REG)
			break;
		d = gpr64(x->operands[0].reg);
		s = gpr64(x->operands[1].reg);
		if (d < 0 || s < 0)
			break;	/* not a 64-bit move */
		holds[d] = holds[s];
	}
	cs_free(in, 1);
	cs_close(&h);
	return err;
}

bool insn__branches_to(const uint8_t *code, size_t len, uint64_t addr, const uint64_t *to,
		       size_t n)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len, k;
	bool found = false;
	cs_insn *in;
	csh h;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return true;	/* cannot tell: assume the worst */
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	while (!found && cs_disasm_iter(h, &p, &left, &a, in)) {
		const cs_x86 *x = &in->detail->x86;

		if (!cs_insn_group(h, in, CS_GRP_JUMP) && !cs_insn_group(h, in, CS_GRP_CALL))
			continue;
		if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
			continue;
		for (k = 0; k < n; k++)
			found |= (uint64_t)x->operands[0].imm == to[k];
	}
	cs_free(in, 1);
	cs_close(&h);
	return found;
}
