/*
 * unwind.c — the chain of calls that led to a fault, from the signal
 * context up to the outermost frame.
 *
 * Each step computes the caller's registers from the callee's, the way
 * debuggers and C++ exceptions do: by the call-frame information the
 * compiler leaves in .eh_frame (DWARF CFI: for every instruction, where
 * the caller's stack pointer, return address and saved registers are), so
 * code built without frame pointers (-O2 -fomit-frame-pointer) unwinds as
 * well as code built with them. Only where a module has none for the code
 * (hand-written assembly, code in memory no file describes) does the step
 * follow the frame pointer, rbp: [rbp] the caller's rbp, [rbp+8] the
 * return address.
 *
 * The information is read from the module's file (module.c); the stack is
 * read with space_read, which cannot fault. Nothing on the stack is
 * trusted: a return address must point into code, each caller's frame must
 * lie above its callee's (but across a signal frame), and the walk stops
 * after UNWIND_STEPS_MAX frames. Its frames are recorded as runs of one
 * return address, so a runaway recursion is one entry with its count.
 *
 * The format (DWARF 4 section 6.4, and the LSB's .eh_frame and
 * .eh_frame_hdr) is implemented as far as GCC, Clang and glibc's assembly
 * use it on x86-64; anything else ends the walk.
 */
#define _GNU_SOURCE /* REG_* */
#include <signal.h>
#include <sys/ucontext.h>

#include "friendly/backtrace.h"

/* DWARF's register numbers on x86-64 (System V psABI, figure 3.36):
 * rax rdx rcx rbx rsi rdi rbp rsp r8..r15, then the return address. */
#define DWARF_REGISTERS 17
#define DWARF_RBP 6
#define DWARF_RSP 7
#define DWARF_RA 16

/* Bounds that keep a corrupt stack or file from running the walk long. */
#define UNWIND_STEPS_MAX (1u << 20)
#define CFA_INSTRUCTIONS_MAX 4096
#define CFA_STATES_MAX 8
#define EXPRESSION_STACK 16
#define EXPRESSION_STEPS_MAX 256
#define HEADER_SEARCH_STEPS_MAX 64
#define EH_FRAME_ENTRIES_MAX (1u << 20)
#define AUGMENTATION_MAX 8
/* Rows already computed, by pc: a recursion reuses its one row. */
#define ROW_CACHE_SLOTS 8

/* Pointer encodings (DW_EH_PE_*). */
#define PE_OMIT 0xff
#define PE_FORMAT 0x0f
#define PE_APPLICATION 0x70
#define PE_INDIRECT 0x80
#define PE_ABSOLUTE 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
/* .eh_frame_hdr's table: every linker writes datarel sdata4 pairs. */
#define HEADER_TABLE_ENCODING (PE_DATAREL | PE_SDATA4)
#define HEADER_TABLE_ENTRY_BYTES 8
#define HEADER_VERSION 1
/* The 32-bit length that announces a 64-bit one. */
#define EXTENDED_LENGTH 0xffffffffu

/* Call-frame instructions (DW_CFA_*): the high two bits, or the whole
 * byte when they are zero. */
#define CFA_ADVANCE_LOC 0x40
#define CFA_OFFSET 0x80
#define CFA_RESTORE 0xc0
#define CFA_HIGH_BITS 0xc0
#define CFA_LOW_BITS 0x3f
#define CFA_NOP 0x00
#define CFA_SET_LOC 0x01
#define CFA_ADVANCE_LOC1 0x02
#define CFA_ADVANCE_LOC2 0x03
#define CFA_ADVANCE_LOC4 0x04
#define CFA_OFFSET_EXTENDED 0x05
#define CFA_RESTORE_EXTENDED 0x06
#define CFA_UNDEFINED 0x07
#define CFA_SAME_VALUE 0x08
#define CFA_REGISTER 0x09
#define CFA_REMEMBER_STATE 0x0a
#define CFA_RESTORE_STATE 0x0b
#define CFA_DEF_CFA 0x0c
#define CFA_DEF_CFA_REGISTER 0x0d
#define CFA_DEF_CFA_OFFSET 0x0e
#define CFA_DEF_CFA_EXPRESSION 0x0f
#define CFA_EXPRESSION 0x10
#define CFA_OFFSET_EXTENDED_SF 0x11
#define CFA_DEF_CFA_SF 0x12
#define CFA_DEF_CFA_OFFSET_SF 0x13
#define CFA_VAL_OFFSET 0x14
#define CFA_VAL_OFFSET_SF 0x15
#define CFA_VAL_EXPRESSION 0x16
#define CFA_GNU_ARGS_SIZE 0x2e
#define CFA_GNU_NEGATIVE_OFFSET_EXTENDED 0x2f

/* DWARF expression operations (DW_OP_*) that CFI uses. */
#define OP_DEREF 0x06
#define OP_CONST1U 0x08
#define OP_CONST1S 0x09
#define OP_CONST2U 0x0a
#define OP_CONST2S 0x0b
#define OP_CONST4U 0x0c
#define OP_CONST4S 0x0d
#define OP_CONST8U 0x0e
#define OP_CONST8S 0x0f
#define OP_CONSTU 0x10
#define OP_CONSTS 0x11
#define OP_DUP 0x12
#define OP_DROP 0x13
#define OP_OVER 0x14
#define OP_SWAP 0x16
#define OP_AND 0x1a
#define OP_MINUS 0x1c
#define OP_MUL 0x1e
#define OP_NEG 0x1f
#define OP_NOT 0x20
#define OP_OR 0x21
#define OP_PLUS 0x22
#define OP_PLUS_UCONST 0x23
#define OP_SHL 0x24
#define OP_SHR 0x25
#define OP_SHRA 0x26
#define OP_XOR 0x27
#define OP_BRA 0x28
#define OP_EQ 0x29
#define OP_GE 0x2a
#define OP_GT 0x2b
#define OP_LE 0x2c
#define OP_LT 0x2d
#define OP_NE 0x2e
#define OP_SKIP 0x2f
#define OP_LIT0 0x30
#define OP_LIT31 0x4f
#define OP_BREG0 0x70
#define OP_BREG31 0x8f
#define OP_BREGX 0x92
#define OP_DEREF_SIZE 0x94
#define OP_NOP 0x96

struct registers {
	uint64_t value[DWARF_REGISTERS];
	uint32_t known; /* bit r: value[r] is known */
};

enum rule_kind {
	RULE_SAME, /* unchanged from the callee (the default) */
	RULE_UNDEFINED,
	RULE_OFFSET,     /* saved at CFA + offset */
	RULE_VAL_OFFSET, /* is CFA + offset */
	RULE_REGISTER,   /* is in another register */
	RULE_EXPRESSION, /* saved at the address an expression computes */
	RULE_VAL_EXPRESSION,
};

struct rule {
	uint8_t kind;
	uint8_t reg;
	int64_t offset;
	uint64_t expression; /* link address of the expression's bytes */
	uint64_t length;
};

/* The rules for one instruction: how to find the canonical frame address
 * (the caller's stack pointer before its call) and each register. */
struct row {
	int cfa_is_expression;
	uint8_t cfa_register;
	int64_t cfa_offset;
	uint64_t cfa_expression, cfa_length;
	struct rule rules[DWARF_REGISTERS];
};

/* A common information entry: what its FDEs share. */
struct cie {
	uint64_t code_alignment;
	int64_t data_alignment;
	uint64_t return_register;
	uint8_t fde_encoding;
	int has_augmentation_data;
	int signal_frame;
	uint64_t instructions, end;
};

/* Reading the file's bytes in order, through module_read. */
struct cursor {
	struct module *module;
	uint64_t at, end;
	int ok;
};

/* What the walk knows about how to leave one frame. */
struct frame_rules {
	int found;
	int signal_frame;
	struct row row;
};

static struct {
	int used;
	uint64_t pc;
	int exact;
	struct module *module;
	struct frame_rules rules;
} row_cache[ROW_CACHE_SLOTS];
static uint32_t row_cache_next;

/* Scratch space for one row's computation, kept off the small signal
 * stack: the row being built, the CIE's initial one, the state stack. */
static struct row initial_row;
static struct row saved_rows[CFA_STATES_MAX];

static void copy_row(struct row *to, const struct row *from) {
	bytes_copy(to, from, sizeof *to);
}

static uint64_t next_bytes(struct cursor *c, int n) {
	uint8_t bytes[8];
	if (!c->ok || c->at > c->end || (uint64_t)n > c->end - c->at || !module_read(c->module, c->at, bytes, (uint64_t)n)) {
		c->ok = 0;
		return 0;
	}
	c->at += (uint64_t)n;
	uint64_t value = 0;
	for (int i = n - 1; i >= 0; i--)
		value = value << 8 | bytes[i];
	return value;
}

static uint64_t sign_extend(uint64_t value, int bits) {
	uint64_t sign = 1ull << (bits - 1);
	return (value ^ sign) - sign;
}

static uint64_t next_uleb(struct cursor *c) {
	uint64_t value = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint64_t byte = next_bytes(c, 1);
		value |= (byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return value;
	}
	c->ok = 0;
	return 0;
}

static int64_t next_sleb(struct cursor *c) {
	uint64_t value = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint64_t byte = next_bytes(c, 1);
		value |= (byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			if (shift + 7 < 64 && (byte & 0x40))
				value |= ~0ull << (shift + 7);
			return (int64_t)value;
		}
	}
	c->ok = 0;
	return 0;
}

/* A pointer as encoding says, relative to the field itself (pcrel) or to
 * data_base (datarel); link addresses throughout. */
static uint64_t next_pointer(struct cursor *c, uint8_t encoding, uint64_t data_base) {
	uint64_t field = c->at, value;
	if (encoding == PE_OMIT || (encoding & PE_INDIRECT)) {
		c->ok = 0;
		return 0;
	}
	switch (encoding & PE_FORMAT) {
	case PE_ABSOLUTE:
	case PE_UDATA8:
	case PE_SDATA8:
		value = next_bytes(c, 8);
		break;
	case PE_ULEB128:
		value = next_uleb(c);
		break;
	case PE_SLEB128:
		value = (uint64_t)next_sleb(c);
		break;
	case PE_UDATA2:
		value = next_bytes(c, 2);
		break;
	case PE_SDATA2:
		value = sign_extend(next_bytes(c, 2), 16);
		break;
	case PE_UDATA4:
		value = next_bytes(c, 4);
		break;
	case PE_SDATA4:
		value = sign_extend(next_bytes(c, 4), 32);
		break;
	default:
		c->ok = 0;
		return 0;
	}
	switch (encoding & PE_APPLICATION) {
	case 0:
		return value;
	case PE_PCREL:
		return value + field;
	case PE_DATAREL:
		if (data_base != 0)
			return value + data_base;
		break;
	default:
		break;
	}
	c->ok = 0;
	return 0;
}

/* Step over a pointer of the given encoding without computing it (the
 * personality routine's: its value is of no use here, and indirect). */
static void skip_pointer(struct cursor *c, uint8_t encoding) {
	switch (encoding & PE_FORMAT) {
	case PE_ABSOLUTE:
	case PE_UDATA8:
	case PE_SDATA8:
		(void)next_bytes(c, 8);
		break;
	case PE_ULEB128:
	case PE_SLEB128:
		(void)next_uleb(c);
		break;
	case PE_UDATA2:
	case PE_SDATA2:
		(void)next_bytes(c, 2);
		break;
	case PE_UDATA4:
	case PE_SDATA4:
		(void)next_bytes(c, 4);
		break;
	default:
		c->ok = 0;
		break;
	}
}

/* An entry's length field: where the entry's content ends. */
static uint64_t entry_end(struct cursor *c) {
	uint64_t length = next_bytes(c, 4);
	if (length == EXTENDED_LENGTH)
		length = next_bytes(c, 8);
	if (c->at + length < c->at) {
		c->ok = 0;
		return 0;
	}
	return c->at + length;
}

static int parse_cie(struct module *m, uint64_t address, struct cie *cie) {
	struct cursor c = { m, address, ~0ull, 1 };
	uint64_t end = entry_end(&c);
	c.end = end;
	if (next_bytes(&c, 4) != 0)
		return 0;
	uint64_t version = next_bytes(&c, 1);
	char augmentation[AUGMENTATION_MAX + 1];
	int n = 0;
	for (;;) {
		char ch = (char)next_bytes(&c, 1);
		if (!c.ok || n == AUGMENTATION_MAX)
			return 0;
		augmentation[n++] = ch;
		if (ch == '\0')
			break;
	}
	/* "eh" is the pre-1998 GCC form, with a pointer between; unused since. */
	if (augmentation[0] == 'e')
		return 0;
	cie->code_alignment = next_uleb(&c);
	cie->data_alignment = next_sleb(&c);
	cie->return_register = version == 1 ? next_bytes(&c, 1) : next_uleb(&c);
	cie->fde_encoding = PE_ABSOLUTE;
	cie->signal_frame = 0;
	cie->has_augmentation_data = augmentation[0] == 'z';
	if (cie->has_augmentation_data) {
		uint64_t length = next_uleb(&c);
		uint64_t data_end = c.at + length;
		for (int i = 1; augmentation[i] != '\0' && c.ok; i++) {
			if (augmentation[i] == 'R')
				cie->fde_encoding = (uint8_t)next_bytes(&c, 1);
			else if (augmentation[i] == 'S')
				cie->signal_frame = 1;
			else if (augmentation[i] == 'L')
				(void)next_bytes(&c, 1);
			else if (augmentation[i] == 'P')
				/* C++ code's personality routine: its encoding, then
				 * the pointer. 'R' often follows ("zPLR"). */
				skip_pointer(&c, (uint8_t)next_bytes(&c, 1));
			else if (augmentation[i] != 'B')
				break;
		}
		c.at = data_end;
	}
	cie->instructions = c.at;
	cie->end = end;
	return c.ok && c.at <= end && cie->return_register == DWARF_RA;
}

/* The FDE at address: its CIE, the code it covers and its instructions. */
struct fde {
	struct cie cie;
	uint64_t pc_begin, pc_end;
	uint64_t instructions, end;
};

static int parse_fde(struct module *m, uint64_t address, struct fde *fde) {
	struct cursor c = { m, address, ~0ull, 1 };
	uint64_t end = entry_end(&c);
	c.end = end;
	uint64_t id_field = c.at;
	uint64_t id = next_bytes(&c, 4);
	if (!c.ok || id == 0 || id > id_field || !parse_cie(m, id_field - id, &fde->cie))
		return 0;
	fde->pc_begin = next_pointer(&c, fde->cie.fde_encoding, 0);
	fde->pc_end = fde->pc_begin + next_pointer(&c, fde->cie.fde_encoding & PE_FORMAT, 0);
	if (fde->cie.has_augmentation_data) {
		uint64_t length = next_uleb(&c);
		c.at += length;
	}
	fde->instructions = c.at;
	fde->end = end;
	return c.ok && c.at <= end;
}

/* Binary search of .eh_frame_hdr's sorted table for the FDE that covers
 * pc; 0 if none does. */
static int find_fde_indexed(struct module *m, uint64_t pc, struct fde *fde) {
	uint64_t header = m->eh_frame_hdr;
	struct cursor c = { m, header, header + m->eh_frame_hdr_size, 1 };
	uint64_t version = next_bytes(&c, 1);
	uint8_t pointer_encoding = (uint8_t)next_bytes(&c, 1);
	uint8_t count_encoding = (uint8_t)next_bytes(&c, 1);
	uint8_t table_encoding = (uint8_t)next_bytes(&c, 1);
	(void)next_pointer(&c, pointer_encoding, header);
	uint64_t count = next_pointer(&c, count_encoding, header);
	if (!c.ok || version != HEADER_VERSION || table_encoding != HEADER_TABLE_ENCODING || count == 0 ||
	    count > (c.end - c.at) / HEADER_TABLE_ENTRY_BYTES)
		return 0;
	uint64_t table = c.at, low = 0, high = count;
	for (int step = 0; step < HEADER_SEARCH_STEPS_MAX && high - low > 1; step++) {
		uint64_t middle = low + (high - low) / 2;
		c.at = table + middle * HEADER_TABLE_ENTRY_BYTES;
		uint64_t start = next_pointer(&c, table_encoding, header);
		if (!c.ok)
			return 0;
		if (start <= pc)
			low = middle;
		else
			high = middle;
	}
	c.at = table + low * HEADER_TABLE_ENTRY_BYTES;
	uint64_t start = next_pointer(&c, table_encoding, header);
	uint64_t address = next_pointer(&c, table_encoding, header);
	return c.ok && start <= pc && parse_fde(m, address, fde) && fde->pc_begin <= pc && pc < fde->pc_end;
}

/* Without the header's table (static executables): every entry of
 * .eh_frame in turn. */
static int find_fde_scanning(struct module *m, uint64_t pc, struct fde *fde) {
	uint64_t at = m->eh_frame, end = m->eh_frame + m->eh_frame_size;
	for (uint32_t entries = 0; entries < EH_FRAME_ENTRIES_MAX && at < end; entries++) {
		struct cursor c = { m, at, end, 1 };
		uint64_t next = entry_end(&c);
		if (!c.ok || next == c.at)
			return 0; /* the zero terminator, or unreadable */
		uint64_t id = next_bytes(&c, 4);
		if (!c.ok)
			return 0;
		if (id != 0 && parse_fde(m, at, fde) && fde->pc_begin <= pc && pc < fde->pc_end)
			return 1;
		at = next;
	}
	return 0;
}

static void set_rule(struct row *row, uint64_t reg, enum rule_kind kind, int64_t offset) {
	if (reg >= DWARF_REGISTERS)
		return; /* vector registers and the like: never needed to unwind */
	row->rules[reg].kind = (uint8_t)kind;
	row->rules[reg].offset = offset;
}

static void set_expression(struct row *row, uint64_t reg, enum rule_kind kind, struct cursor *c) {
	uint64_t length = next_uleb(c);
	if (reg < DWARF_REGISTERS) {
		row->rules[reg].kind = (uint8_t)kind;
		row->rules[reg].expression = c->at;
		row->rules[reg].length = length;
	}
	c->at += length;
}

/* DW_CFA_restore: the rule the CIE's instructions gave, or the default. */
static void restore_rule(struct row *row, uint64_t reg, const struct row *initial) {
	if (reg >= DWARF_REGISTERS)
		return;
	struct rule *rule = &row->rules[reg];
	if (initial == 0) {
		rule->kind = RULE_SAME;
		return;
	}
	const struct rule *from = &initial->rules[reg];
	rule->kind = from->kind;
	rule->reg = from->reg;
	rule->offset = from->offset;
	rule->expression = from->expression;
	rule->length = from->length;
}

static void define_cfa(struct row *row, uint64_t reg) {
	row->cfa_is_expression = 0;
	row->cfa_register = (uint8_t)(reg < DWARF_REGISTERS ? reg : DWARF_REGISTERS);
}

/* What one instruction (of call-frame information, or of a DWARF
 * expression) came to: done, not of the kind the step reads (the next
 * step's), a failure that ends the walk, or, for call-frame instructions,
 * the location moved past the target (the row is the target's). */
enum step { STEP_DONE, STEP_OTHER, STEP_FAILED, STEP_AT_TARGET };

/* A run of call-frame instructions: where they are read, the location the
 * row is for and the one the run stops before passing, the row, the CIE's
 * row (for DW_CFA_restore; 0 while running the CIE's own), the states
 * remembered (in saved_rows). */
struct cfa_run {
	struct cursor *c;
	const struct cie *cie;
	uint64_t location, target;
	struct row *row;
	const struct row *initial;
	int saved;
};

static enum step move_to(struct cfa_run *r, uint64_t location) {
	if (location > r->target)
		return STEP_AT_TARGET;
	r->location = location;
	return STEP_DONE;
}

/* DW_CFA_advance_loc, DW_CFA_offset and DW_CFA_restore: the operand is in
 * the opcode's low six bits. */
static enum step packed_instruction(struct cfa_run *r, uint8_t op) {
	uint8_t operand = op & CFA_LOW_BITS;
	switch (op & CFA_HIGH_BITS) {
	case CFA_ADVANCE_LOC:
		return move_to(r, r->location + (uint64_t)operand * r->cie->code_alignment);
	case CFA_OFFSET:
		set_rule(r->row, operand, RULE_OFFSET, (int64_t)next_uleb(r->c) * r->cie->data_alignment);
		return STEP_DONE;
	case CFA_RESTORE:
		restore_rule(r->row, operand, r->initial);
		return STEP_DONE;
	default:
		return STEP_OTHER;
	}
}

/* Instructions that move the location, or change nothing the walk uses. */
static enum step location_instruction(struct cfa_run *r, uint8_t op) {
	struct cursor *c = r->c;
	switch (op) {
	case CFA_NOP:
		return STEP_DONE;
	case CFA_GNU_ARGS_SIZE:
		(void)next_uleb(c);
		return STEP_DONE;
	case CFA_SET_LOC:
		return move_to(r, next_pointer(c, r->cie->fde_encoding, 0));
	case CFA_ADVANCE_LOC1:
	case CFA_ADVANCE_LOC2:
	case CFA_ADVANCE_LOC4: {
		uint64_t delta = next_bytes(c, op == CFA_ADVANCE_LOC1 ? 1 : op == CFA_ADVANCE_LOC2 ? 2 : 4);
		return move_to(r, r->location + delta * r->cie->code_alignment);
	}
	default:
		return STEP_OTHER;
	}
}

/* Instructions that give one register its rule. */
static enum step register_instruction(struct cfa_run *r, uint8_t op) {
	struct cursor *c = r->c;
	int64_t data_alignment = r->cie->data_alignment;
	uint64_t reg;
	switch (op) {
	case CFA_OFFSET_EXTENDED:
		reg = next_uleb(c);
		set_rule(r->row, reg, RULE_OFFSET, (int64_t)next_uleb(c) * data_alignment);
		return STEP_DONE;
	case CFA_OFFSET_EXTENDED_SF:
		reg = next_uleb(c);
		set_rule(r->row, reg, RULE_OFFSET, next_sleb(c) * data_alignment);
		return STEP_DONE;
	case CFA_GNU_NEGATIVE_OFFSET_EXTENDED:
		reg = next_uleb(c);
		set_rule(r->row, reg, RULE_OFFSET, -(int64_t)next_uleb(c) * data_alignment);
		return STEP_DONE;
	case CFA_VAL_OFFSET:
		reg = next_uleb(c);
		set_rule(r->row, reg, RULE_VAL_OFFSET, (int64_t)next_uleb(c) * data_alignment);
		return STEP_DONE;
	case CFA_VAL_OFFSET_SF:
		reg = next_uleb(c);
		set_rule(r->row, reg, RULE_VAL_OFFSET, next_sleb(c) * data_alignment);
		return STEP_DONE;
	case CFA_RESTORE_EXTENDED:
		restore_rule(r->row, next_uleb(c), r->initial);
		return STEP_DONE;
	case CFA_UNDEFINED:
		set_rule(r->row, next_uleb(c), RULE_UNDEFINED, 0);
		return STEP_DONE;
	case CFA_SAME_VALUE:
		set_rule(r->row, next_uleb(c), RULE_SAME, 0);
		return STEP_DONE;
	case CFA_REGISTER: {
		reg = next_uleb(c);
		uint64_t from = next_uleb(c);
		set_rule(r->row, reg, RULE_REGISTER, 0);
		if (reg < DWARF_REGISTERS)
			r->row->rules[reg].reg = (uint8_t)(from < DWARF_REGISTERS ? from : DWARF_REGISTERS);
		return STEP_DONE;
	}
	case CFA_EXPRESSION:
		reg = next_uleb(c);
		set_expression(r->row, reg, RULE_EXPRESSION, c);
		return STEP_DONE;
	case CFA_VAL_EXPRESSION:
		reg = next_uleb(c);
		set_expression(r->row, reg, RULE_VAL_EXPRESSION, c);
		return STEP_DONE;
	default:
		return STEP_OTHER;
	}
}

/* Instructions that define the CFA, or remember and restore the row. */
static enum step cfa_instruction(struct cfa_run *r, uint8_t op) {
	struct cursor *c = r->c;
	struct row *row = r->row;
	switch (op) {
	case CFA_REMEMBER_STATE:
		if (r->saved == CFA_STATES_MAX)
			return STEP_FAILED;
		copy_row(&saved_rows[r->saved++], row);
		return STEP_DONE;
	case CFA_RESTORE_STATE:
		if (r->saved == 0)
			return STEP_FAILED;
		copy_row(row, &saved_rows[--r->saved]);
		return STEP_DONE;
	case CFA_DEF_CFA:
		define_cfa(row, next_uleb(c));
		row->cfa_offset = (int64_t)next_uleb(c);
		return STEP_DONE;
	case CFA_DEF_CFA_SF:
		define_cfa(row, next_uleb(c));
		row->cfa_offset = next_sleb(c) * r->cie->data_alignment;
		return STEP_DONE;
	case CFA_DEF_CFA_REGISTER:
		/* Keeps the offset (the register changes, say, rsp to rbp). */
		define_cfa(row, next_uleb(c));
		return STEP_DONE;
	case CFA_DEF_CFA_OFFSET:
		row->cfa_offset = (int64_t)next_uleb(c);
		return STEP_DONE;
	case CFA_DEF_CFA_OFFSET_SF:
		row->cfa_offset = next_sleb(c) * r->cie->data_alignment;
		return STEP_DONE;
	case CFA_DEF_CFA_EXPRESSION:
		row->cfa_is_expression = 1;
		row->cfa_length = next_uleb(c);
		row->cfa_expression = c->at;
		c->at += row->cfa_length;
		return STEP_DONE;
	default:
		return STEP_OTHER;
	}
}

/*
 * Run call-frame instructions from location start until the one that
 * would move past target: row then holds the rules at target. initial is
 * the CIE's row (for DW_CFA_restore), or 0 while running the CIE's own.
 * An instruction of no kind here ends the walk.
 */
static int run_instructions(struct cursor *c, const struct cie *cie, uint64_t start, uint64_t target,
			    struct row *row, const struct row *initial) {
	struct cfa_run r = { c, cie, start, target, row, initial, 0 };
	for (int steps = 0; steps < CFA_INSTRUCTIONS_MAX && c->ok && c->at < c->end; steps++) {
		uint8_t op = (uint8_t)next_bytes(c, 1);
		enum step step = packed_instruction(&r, op);
		if (step == STEP_OTHER)
			step = location_instruction(&r, op);
		if (step == STEP_OTHER)
			step = register_instruction(&r, op);
		if (step == STEP_OTHER)
			step = cfa_instruction(&r, op);
		if (step == STEP_AT_TARGET)
			return 1;
		if (step != STEP_DONE)
			return 0;
	}
	return c->ok;
}

/* The rules at link address pc of module m, from its CFI. */
static int rules_from_cfi(struct module *m, uint64_t pc, struct frame_rules *out) {
	struct fde fde;
	int found = m->eh_frame_hdr != 0 ? find_fde_indexed(m, pc, &fde) : 0;
	if (!found && m->eh_frame_size != 0)
		found = find_fde_scanning(m, pc, &fde);
	if (!found)
		return 0;
	struct row *row = &out->row;
	bytes_zero(row, sizeof *row);
	row->cfa_register = DWARF_REGISTERS; /* none until defined */
	struct cursor c = { m, fde.cie.instructions, fde.cie.end, 1 };
	if (!run_instructions(&c, &fde.cie, 0, ~0ull, row, 0))
		return 0;
	copy_row(&initial_row, row);
	c.at = fde.instructions;
	c.end = fde.end;
	if (!run_instructions(&c, &fde.cie, fde.pc_begin, pc, row, &initial_row))
		return 0;
	out->signal_frame = fde.cie.signal_frame;
	return 1;
}

/* A DWARF expression being evaluated: its bytes, and its stack (depth
 * entries, the top at depth - 1). */
struct evaluation {
	struct cursor c;
	uint64_t stack[EXPRESSION_STACK];
	int depth;
};

/* Operations that take nothing off the stack: constants, a register plus
 * an offset, and the jumps (DW_OP_bra pops its condition). */
static enum step push_or_jump(struct evaluation *e, uint8_t op, const struct registers *regs) {
	struct cursor *c = &e->c;
	if (op >= OP_LIT0 && op <= OP_LIT31) {
		e->stack[e->depth++] = op - OP_LIT0;
		return STEP_DONE;
	}
	if ((op >= OP_BREG0 && op <= OP_BREG31) || op == OP_BREGX) {
		uint64_t reg = op == OP_BREGX ? next_uleb(c) : (uint64_t)(op - OP_BREG0);
		int64_t offset = next_sleb(c);
		if (reg >= DWARF_REGISTERS || !(regs->known & (1u << reg)))
			return STEP_FAILED;
		e->stack[e->depth++] = regs->value[reg] + (uint64_t)offset;
		return STEP_DONE;
	}
	switch (op) {
	case OP_CONST1U:
	case OP_CONST2U:
	case OP_CONST4U:
	case OP_CONST8U: {
		int n = op == OP_CONST1U ? 1 : op == OP_CONST2U ? 2 : op == OP_CONST4U ? 4 : 8;
		e->stack[e->depth++] = next_bytes(c, n);
		return STEP_DONE;
	}
	case OP_CONST1S:
	case OP_CONST2S:
	case OP_CONST4S:
	case OP_CONST8S: {
		int n = op == OP_CONST1S ? 1 : op == OP_CONST2S ? 2 : op == OP_CONST4S ? 4 : 8;
		e->stack[e->depth++] = n == 8 ? next_bytes(c, 8) : sign_extend(next_bytes(c, n), 8 * n);
		return STEP_DONE;
	}
	case OP_CONSTU:
		e->stack[e->depth++] = next_uleb(c);
		return STEP_DONE;
	case OP_CONSTS:
		e->stack[e->depth++] = (uint64_t)next_sleb(c);
		return STEP_DONE;
	case OP_NOP:
		return STEP_DONE;
	case OP_SKIP:
	case OP_BRA: {
		int64_t jump = (int64_t)sign_extend(next_bytes(c, 2), 16);
		if (op == OP_BRA) {
			if (e->depth < 1)
				return STEP_FAILED;
			if (e->stack[--e->depth] == 0)
				return STEP_DONE;
		}
		c->at += (uint64_t)jump;
		return STEP_DONE;
	}
	default:
		return STEP_OTHER;
	}
}

/* Operations on the top entry alone (the caller has checked there is one). */
static enum step on_top(struct evaluation *e, uint8_t op) {
	uint64_t *top = &e->stack[e->depth - 1];
	uint64_t a = *top;
	switch (op) {
	case OP_DEREF:
		return space_read(a, top, 8) ? STEP_DONE : STEP_FAILED;
	case OP_DEREF_SIZE: {
		uint64_t n = next_bytes(&e->c, 1);
		uint64_t value = 0;
		if (n == 0 || n > 8 || !space_read(a, &value, n))
			return STEP_FAILED;
		*top = value;
		return STEP_DONE;
	}
	case OP_DUP:
		e->stack[e->depth++] = a;
		return STEP_DONE;
	case OP_DROP:
		e->depth--;
		return STEP_DONE;
	case OP_NEG:
		*top = -a;
		return STEP_DONE;
	case OP_NOT:
		*top = ~a;
		return STEP_DONE;
	case OP_PLUS_UCONST:
		*top = a + next_uleb(&e->c);
		return STEP_DONE;
	default:
		return STEP_OTHER;
	}
}

/* Operations on the top two entries, a the top and b below it (the caller
 * has checked there are two); an operation of no kind fails. */
static enum step on_top_two(struct evaluation *e, uint8_t op) {
	uint64_t a = e->stack[e->depth - 1];
	uint64_t b = e->stack[e->depth - 2];
	switch (op) {
	case OP_OVER:
		e->stack[e->depth++] = b;
		return STEP_DONE;
	case OP_SWAP:
		e->stack[e->depth - 1] = b;
		e->stack[e->depth - 2] = a;
		return STEP_DONE;
	default:
		break;
	}
	/* Binary operations: b op a, both popped, the result pushed. */
	uint64_t value;
	switch (op) {
	case OP_AND: value = b & a; break;
	case OP_OR: value = b | a; break;
	case OP_XOR: value = b ^ a; break;
	case OP_PLUS: value = b + a; break;
	case OP_MINUS: value = b - a; break;
	case OP_MUL: value = b * a; break;
	case OP_SHL: value = a < 64 ? b << a : 0; break;
	case OP_SHR: value = a < 64 ? b >> a : 0; break;
	case OP_SHRA: value = a < 64 ? (uint64_t)((int64_t)b >> a) : 0; break;
	case OP_EQ: value = b == a; break;
	case OP_NE: value = b != a; break;
	case OP_GE: value = (int64_t)b >= (int64_t)a; break;
	case OP_GT: value = (int64_t)b > (int64_t)a; break;
	case OP_LE: value = (int64_t)b <= (int64_t)a; break;
	case OP_LT: value = (int64_t)b < (int64_t)a; break;
	default: return STEP_FAILED;
	}
	e->depth--;
	e->stack[e->depth - 1] = value;
	return STEP_DONE;
}

/* A DWARF expression's value, with initial (if any) pushed first. */
static int evaluate(struct module *m, uint64_t expression, uint64_t length, const struct registers *regs,
		    const uint64_t *initial, uint64_t *result) {
	struct evaluation e; /* the stack is not cleared: only entries below depth are read */
	e.c = (struct cursor){ m, expression, expression + length, 1 };
	e.depth = 0;
	if (initial)
		e.stack[e.depth++] = *initial;
	for (int steps = 0; steps < EXPRESSION_STEPS_MAX && e.c.ok && e.c.at < e.c.end; steps++) {
		uint8_t op = (uint8_t)next_bytes(&e.c, 1);
		if (e.depth >= EXPRESSION_STACK - 1)
			return 0;
		enum step step = push_or_jump(&e, op, regs);
		if (step == STEP_OTHER)
			step = e.depth < 1 ? STEP_FAILED : on_top(&e, op);
		if (step == STEP_OTHER)
			step = e.depth < 2 ? STEP_FAILED : on_top_two(&e, op);
		if (step != STEP_DONE)
			return 0;
	}
	if (!e.c.ok || e.depth < 1)
		return 0;
	*result = e.stack[e.depth - 1];
	return 1;
}

/* The rules for leaving the frame at pc (runtime), cached. exact: pc is
 * the instruction itself rather than a return address. */
static const struct frame_rules *rules_at(uint64_t pc, int exact, struct module **module) {
	for (int i = 0; i < ROW_CACHE_SLOTS; i++)
		if (row_cache[i].used && row_cache[i].pc == pc && row_cache[i].exact == exact) {
			*module = row_cache[i].module;
			return &row_cache[i].rules;
		}
	uint32_t slot = row_cache_next;
	row_cache_next = (row_cache_next + 1) % ROW_CACHE_SLOTS;
	row_cache[slot].used = 1;
	row_cache[slot].pc = pc;
	row_cache[slot].exact = exact;
	row_cache[slot].module = *module = module_at(pc);
	struct frame_rules *rules = &row_cache[slot].rules;
	rules->found = 0;
	/* A return address may be just past the function's end (a call to a
	 * function that does not return): the call is the byte before it. */
	uint64_t lookup = exact ? pc : pc - 1;
	if (*module != 0)
		rules->found = rules_from_cfi(*module, lookup - (*module)->bias, rules);
	return rules;
}

static int read_word(uint64_t address, uint64_t *value) {
	return space_read(address, value, sizeof *value);
}

static void know(struct registers *regs, int reg, uint64_t value) {
	regs->value[reg] = value;
	regs->known |= 1u << reg;
}

static void copy_registers(struct registers *to, const struct registers *from) {
	for (int r = 0; r < DWARF_REGISTERS; r++)
		to->value[r] = from->value[r];
	to->known = from->known;
}

/* One step up: the caller's registers from the callee's. Each returns 1,
 * or 0 with why (and where, the address that could not be read). */

/* By the CFI's rules. */
static int step_by_rules(struct module *m, const struct row *row, const struct registers *callee,
			 struct registers *caller, enum walk_end *why, uint64_t *where) {
	uint64_t cfa;
	*why = WALK_UNREADABLE;
	if (row->cfa_is_expression) {
		if (!evaluate(m, row->cfa_expression, row->cfa_length, callee, 0, &cfa))
			return 0;
	} else {
		*why = WALK_NO_RULES;
		if (row->cfa_register >= DWARF_REGISTERS || !(callee->known & (1u << row->cfa_register)))
			return 0;
		cfa = callee->value[row->cfa_register] + (uint64_t)row->cfa_offset;
	}
	copy_registers(caller, callee);
	know(caller, DWARF_RSP, cfa);
	for (int r = 0; r < DWARF_REGISTERS; r++) {
		const struct rule *rule = &row->rules[r];
		uint64_t address = 0, value = 0;
		switch (rule->kind) {
		case RULE_SAME:
			if (r == DWARF_RA) {
				*why = WALK_NO_RULES;
				return 0;
			}
			continue;
		case RULE_UNDEFINED:
			caller->known &= ~(1u << r);
			continue;
		case RULE_OFFSET:
			address = cfa + (uint64_t)rule->offset;
			break;
		case RULE_VAL_OFFSET:
			know(caller, r, cfa + (uint64_t)rule->offset);
			continue;
		case RULE_REGISTER:
			if (rule->reg >= DWARF_REGISTERS || !(callee->known & (1u << rule->reg)))
				caller->known &= ~(1u << r);
			else
				know(caller, r, callee->value[rule->reg]);
			continue;
		case RULE_EXPRESSION:
		case RULE_VAL_EXPRESSION:
			if (!evaluate(m, rule->expression, rule->length, callee, &cfa, &value)) {
				*why = WALK_UNREADABLE;
				*where = cfa;
				return 0;
			}
			if (rule->kind == RULE_VAL_EXPRESSION) {
				know(caller, r, value);
				continue;
			}
			address = value;
			break;
		default:
			*why = WALK_NO_RULES;
			return 0;
		}
		if (!read_word(address, &value)) {
			*why = WALK_UNREADABLE;
			*where = address;
			return 0;
		}
		know(caller, r, value);
	}
	return 1;
}

static int is_code(uint64_t address) {
	const struct space_mapping *m = space_find(address);
	return m != 0 && (m->access & SPACE_EXECUTABLE);
}

/* By the frame pointer: [rbp] the caller's rbp, [rbp+8] the return
 * address, rbp+16 its stack pointer. */
static int step_by_frame_pointer(const struct registers *callee, struct registers *caller, enum walk_end *why,
				 uint64_t *where) {
	uint64_t rbp = callee->value[DWARF_RBP], saved_rbp, ra;
	*why = WALK_NO_RULES;
	if (!(callee->known & (1u << DWARF_RBP)))
		return 0;
	/* A frame lies above the stack pointer, aligned, and readable. */
	*why = WALK_BAD_FRAME_POINTER;
	*where = rbp;
	if (rbp % sizeof(uint64_t) != 0 || rbp < callee->value[DWARF_RSP] || !read_word(rbp, &saved_rbp) ||
	    !read_word(rbp + 8, &ra))
		return 0;
	copy_registers(caller, callee);
	know(caller, DWARF_RBP, saved_rbp);
	know(caller, DWARF_RSP, rbp + 16);
	know(caller, DWARF_RA, ra);
	return 1;
}

/* Where no code is (a call through a bad pointer): the call that got
 * there pushed its return address, which is now on top of the stack. */
static int step_from_nowhere(const struct registers *callee, struct registers *caller, enum walk_end *why,
			     uint64_t *where) {
	uint64_t rsp = callee->value[DWARF_RSP], ra;
	if (!read_word(rsp, &ra)) {
		*why = WALK_UNREADABLE;
		*where = rsp;
		return 0;
	}
	copy_registers(caller, callee);
	know(caller, DWARF_RSP, rsp + 8);
	know(caller, DWARF_RA, ra);
	return 1;
}

/* The encodings of call: e8 rel32, and ff /2 (an indirect call through a
 * register or memory), the longest with a SIB byte and a 32-bit
 * displacement, 7 bytes. */
#define CALL_RELATIVE 0xe8
#define CALL_RELATIVE_BYTES 5
#define CALL_INDIRECT 0xff
#define CALL_INDIRECT_REG 2
#define CALL_BYTES_MAX 7

/* Whether the instruction just before address is a call, so that address
 * is a return address. */
static int follows_call(uint64_t address) {
	uint8_t before[CALL_BYTES_MAX];
	if (address < CALL_BYTES_MAX || !is_code(address - CALL_BYTES_MAX) ||
	    !space_read(address - CALL_BYTES_MAX, before, sizeof before))
		return 0;
	if (before[CALL_BYTES_MAX - CALL_RELATIVE_BYTES] == CALL_RELATIVE)
		return 1;
	for (int length = 2; length <= CALL_BYTES_MAX; length++) {
		const uint8_t *call = &before[CALL_BYTES_MAX - length];
		if (call[0] == CALL_INDIRECT && ((call[1] >> 3) & 7) == CALL_INDIRECT_REG)
			return 1;
	}
	return 0;
}

/* Code no file describes, where the program stopped at once (a call into
 * data it made executable, say): when the top of the stack is a return
 * address, the call that got there pushed it, and rbp is still the
 * caller's, so the frame pointer would skip the caller. */
static int entered_by_call(const struct registers *regs) {
	uint64_t ra;
	return read_word(regs->value[DWARF_RSP], &ra) && is_code(ra) && follows_call(ra);
}

static void record(struct backtrace *bt, uint64_t pc, int exact) {
	if (bt->count > 0) {
		struct frame *last = &bt->frames[bt->count - 1];
		if (bt->more == 0 && last->pc == pc && last->exact == exact) {
			last->repeat++;
			return;
		}
	}
	if (bt->count == BACKTRACE_FRAMES) {
		bt->more++;
		return;
	}
	struct frame *f = &bt->frames[bt->count++];
	f->pc = pc;
	f->exact = exact;
	f->signal_return = 0;
	f->repeat = 1;
}

static void from_context(const void *context, struct registers *regs) {
	const ucontext_t *uc = context;
	const greg_t *g = uc->uc_mcontext.gregs;
	static const int dwarf_to_greg[DWARF_REGISTERS] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
	};
	for (int r = 0; r < DWARF_REGISTERS; r++)
		regs->value[r] = (uint64_t)g[dwarf_to_greg[r]];
	regs->known = (1u << DWARF_REGISTERS) - 1;
}

uint64_t frame_lookup_address(const struct frame *f) {
	/* A signal frame's "return address" is the trampoline's first
	 * instruction: no call precedes it. */
	return f->exact || f->signal_return ? f->pc : f->pc - 1;
}

void unwind(const void *context, int map_known, struct backtrace *bt) {
	static struct registers regs, caller;
	for (int i = 0; i < ROW_CACHE_SLOTS; i++)
		row_cache[i].used = 0;
	bt->count = 0;
	bt->more = 0;
	bt->end = WALK_OUTERMOST;
	bt->end_address = 0;
	from_context(context, &regs);
	uint64_t pc = regs.value[DWARF_RA];
	int exact = 1;
	record(bt, pc, exact);
	if (!map_known) {
		bt->end = WALK_NO_MAP;
		return;
	}
	for (uint32_t steps = 1;; steps++) {
		enum walk_end why = WALK_NO_RULES;
		int stepped, signal_frame = 0;
		if (steps == UNWIND_STEPS_MAX) {
			bt->end = WALK_TOO_DEEP;
			return;
		}
		if (!is_code(pc)) {
			/* Only the faulting frame can be where no code is: every
			 * return address is checked before it is followed. */
			stepped = step_from_nowhere(&regs, &caller, &why, &bt->end_address);
		} else {
			struct module *m;
			const struct frame_rules *rules = rules_at(pc, exact, &m);
			if (rules->found) {
				stepped = step_by_rules(m, &rules->row, &regs, &caller, &why, &bt->end_address);
				signal_frame = rules->signal_frame;
				if (signal_frame && bt->more == 0)
					bt->frames[bt->count - 1].signal_return = 1;
				if (stepped && !(caller.known & (1u << DWARF_RA)))
					return; /* the CFI says: there is no caller */
			} else if (steps == 1 && m == 0 && entered_by_call(&regs)) {
				stepped = step_from_nowhere(&regs, &caller, &why, &bt->end_address);
			} else {
				stepped = step_by_frame_pointer(&regs, &caller, &why, &bt->end_address);
			}
		}
		if (!stepped) {
			bt->end = why;
			return;
		}
		uint64_t ra = caller.value[DWARF_RA];
		if (ra == 0)
			return; /* the outermost frame's conventional zero */
		if (!signal_frame && caller.value[DWARF_RSP] <= regs.value[DWARF_RSP]) {
			bt->end = WALK_NO_PROGRESS;
			bt->end_address = caller.value[DWARF_RSP];
			return;
		}
		if (!is_code(ra)) {
			bt->end = WALK_RETURN_NOT_CODE;
			bt->end_address = ra;
			return;
		}
		copy_registers(&regs, &caller);
		pc = ra;
		/* After a signal frame, the interrupted instruction itself. */
		exact = signal_frame;
		record(bt, pc, exact);
	}
}
