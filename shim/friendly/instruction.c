/*
 * instruction.c — the instruction that trapped, decoded as far as the
 * report needs.
 *
 * On x86-64 the kernel reports every divide error (#DE) as FPE_INTDIV,
 * whether the divisor was zero or the quotient did not fit (INT_MIN / -1,
 * and INT_MIN % -1, which computes the same quotient). Only the divisor
 * tells them apart, so the div or idiv is decoded (prefixes, REX, ModRM,
 * SIB, displacement: the Intel SDM's volume 2, chapter 2) and its divisor
 * read from the interrupted registers or from memory.
 *
 * Freestanding: memory is read with space_read, which cannot fault.
 */
#define _GNU_SOURCE /* REG_* */
#include <signal.h>
#include <sys/ucontext.h>

#include "friendly/clues.h"

/* An instruction is at most 15 bytes long (SDM vol. 2, 2.3.11). */
#define INSTRUCTION_BYTES_MAX 15

#define PREFIX_OPERAND_SIZE 0x66
#define PREFIX_ADDRESS_SIZE 0x67
#define PREFIX_FS 0x64
#define PREFIX_GS 0x65
#define PREFIX_LOCK 0xf0
#define PREFIX_REPNE 0xf2
#define PREFIX_REP 0xf3
#define PREFIX_CS 0x2e
#define PREFIX_SS 0x36
#define PREFIX_DS 0x3e
#define PREFIX_ES 0x26
#define REX_FIRST 0x40
#define REX_LAST 0x4f
#define REX_W 0x8
#define REX_R 0x4
#define REX_X 0x2
#define REX_B 0x1
/* Group 3: test/not/neg/mul/imul/div/idiv r/m, chosen by ModRM.reg. */
#define OPCODE_GROUP3_BYTE 0xf6
#define OPCODE_GROUP3 0xf7
#define GROUP3_DIV 6
#define GROUP3_IDIV 7
/* ModRM.mod: a memory operand with no, an 8-bit or a 32-bit displacement,
 * or a register. */
#define MODRM_DISPLACEMENT8 1
#define MODRM_DISPLACEMENT32 2
#define MODRM_REGISTER 3
#define RM_SIB 4
#define RM_RIP_RELATIVE 5
#define SIB_NO_INDEX 4
#define SIB_NO_BASE 5
#define DISPLACEMENT8_BYTES 1
#define DISPLACEMENT32_BYTES 4
#define BITS_PER_BYTE 8

/* The ucontext's slot for each register, in the encoding's order: rax
 * rcx rdx rbx rsp rbp rsi rdi, then r8..r15. */
static const int register_slot[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

uint32_t readable_bytes(uint64_t address, uint8_t *out, uint32_t n) {
	/* A read that crosses into an unreadable page fails as a whole: take
	 * fewer bytes then. */
	while (n > 0 && !space_read(address, out, n))
		n--;
	return n;
}

static int legacy_prefix(uint8_t b) {
	return b == PREFIX_LOCK || b == PREFIX_REPNE || b == PREFIX_REP || b == PREFIX_CS || b == PREFIX_SS ||
	       b == PREFIX_DS || b == PREFIX_ES;
}

static uint64_t little_endian(const uint8_t *bytes, int n) {
	uint64_t value = 0;
	for (int i = n - 1; i >= 0; i--)
		value = value << 8 | bytes[i];
	return value;
}

/* A value of the operand size, sign-extended to 64 bits. */
static int64_t sign_extend(uint64_t value, uint32_t bits) {
	if (bits == 64)
		return (int64_t)value;
	uint64_t sign = 1ull << (bits - 1);
	value &= (sign << 1) - 1;
	return (int64_t)((value ^ sign) - sign);
}

void division_at(const void *context, struct division *out) {
	const greg_t *regs = ((const ucontext_t *)context)->uc_mcontext.gregs;
	uint64_t pc = (uint64_t)regs[REG_RIP];
	uint8_t code[INSTRUCTION_BYTES_MAX];
	uint32_t n = readable_bytes(pc, code, sizeof code);
	out->outcome = DIVISION_NOT_DECODED;
	out->bits = 0;
	out->is_signed = 0;

	uint32_t i = 0;
	int operand_16 = 0;
	for (; i < n; i++) {
		if (code[i] == PREFIX_OPERAND_SIZE)
			operand_16 = 1;
		else if (code[i] == PREFIX_ADDRESS_SIZE || code[i] == PREFIX_FS || code[i] == PREFIX_GS)
			return; /* 32-bit addressing or a segment base: not worth reading */
		else if (!legacy_prefix(code[i]))
			break;
	}
	uint8_t rex = 0;
	if (i < n && code[i] >= REX_FIRST && code[i] <= REX_LAST)
		rex = code[i++];
	if (i + 2 > n || (code[i] != OPCODE_GROUP3_BYTE && code[i] != OPCODE_GROUP3))
		return;
	uint32_t bits = code[i] == OPCODE_GROUP3_BYTE ? 8 : (rex & REX_W) ? 64 : operand_16 ? 16 : 32;
	uint8_t modrm = code[i + 1];
	i += 2;
	uint32_t mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
	if (reg != GROUP3_DIV && reg != GROUP3_IDIV)
		return;

	uint64_t divisor;
	if (mod == MODRM_REGISTER) {
		uint32_t number = rm | ((rex & REX_B) ? 8u : 0u);
		uint64_t value = (uint64_t)regs[register_slot[number]];
		/* Without REX, byte registers 4-7 are ah ch dh bh: the second
		 * byte of rax rcx rdx rbx. */
		if (bits == 8 && rex == 0 && number >= 4)
			value = (uint64_t)regs[register_slot[number - 4]] >> 8;
		divisor = value;
	} else {
		uint64_t address = 0;
		if (rm == RM_SIB) {
			if (i >= n)
				return;
			uint8_t sib = code[i++];
			uint32_t scale = sib >> 6, index = ((sib >> 3) & 7) | ((rex & REX_X) ? 8u : 0u);
			uint32_t base = (sib & 7) | ((rex & REX_B) ? 8u : 0u);
			if (index != SIB_NO_INDEX)
				address += (uint64_t)regs[register_slot[index]] << scale;
			if ((base & 7) == SIB_NO_BASE && mod == 0) {
				if (i + DISPLACEMENT32_BYTES > n)
					return;
				address += (uint64_t)sign_extend(little_endian(&code[i], DISPLACEMENT32_BYTES), 32);
				i += DISPLACEMENT32_BYTES;
			} else {
				address += (uint64_t)regs[register_slot[base]];
			}
		} else if (rm == RM_RIP_RELATIVE && mod == 0) {
			if (i + DISPLACEMENT32_BYTES > n)
				return;
			int64_t displacement = sign_extend(little_endian(&code[i], DISPLACEMENT32_BYTES), 32);
			i += DISPLACEMENT32_BYTES;
			/* Relative to the next instruction; div takes no immediate. */
			address = pc + i + (uint64_t)displacement;
		} else {
			address = (uint64_t)regs[register_slot[rm | ((rex & REX_B) ? 8u : 0u)]];
		}
		if (mod == MODRM_DISPLACEMENT8) {
			if (i + DISPLACEMENT8_BYTES > n)
				return;
			address += (uint64_t)sign_extend(code[i], 8);
		} else if (mod == MODRM_DISPLACEMENT32) {
			if (i + DISPLACEMENT32_BYTES > n)
				return;
			address += (uint64_t)sign_extend(little_endian(&code[i], DISPLACEMENT32_BYTES), 32);
		}
		uint8_t bytes[sizeof(uint64_t)];
		if (!space_read(address, bytes, bits / BITS_PER_BYTE))
			return;
		divisor = little_endian(bytes, (int)(bits / BITS_PER_BYTE));
	}

	out->bits = bits;
	out->is_signed = reg == GROUP3_IDIV;
	int64_t value = sign_extend(divisor, bits);
	if (value == 0)
		out->outcome = DIVISION_BY_ZERO;
	else if (out->is_signed && value == -1)
		out->outcome = DIVISION_MOST_NEGATIVE;
	else
		out->outcome = DIVISION_TOO_LARGE;
}
