/**
 * The decoded-instruction record.
 *
 * The decoder turns an instruction's bytes into eight 32-bit words in a shared `Int32Array`
 * pool, so a cached instruction costs no object and executing it reads a few typed-array
 * slots. Handlers receive the pool index `d` of their record's first word.
 */

/** Words per record. */
export const REC_WORDS = 8;

/** Handler id (index into the handler table). */
export const R_OP = 0;
/** Packed information, see the `I_*` fields. */
export const R_INFO = 1;
/** ModRM.reg operand (with REX.R): a register number, see {@link BYTE_HIGH}. Also the opcode's low 3 bits (+REX.B) for register-in-opcode forms. */
export const R_REG = 2;
/** ModRM.rm register when the operand is a register; otherwise the memory base register ({@link NO_REG} for none, {@link RIP_BASE} for RIP-relative). */
export const R_RM = 3;
/** Memory index register ({@link NO_REG} for none) in bits 7:0, scale shift in bits 9:8. */
export const R_SIB = 4;
/** Displacement, sign-extended. */
export const R_DISP = 5;
/** First immediate (sign- or zero-extended as the instruction defines), or the branch target displacement. */
export const R_IMM = 6;
/** Second immediate: high 32 bits of a 64-bit immediate, ENTER's nesting level, a far pointer's selector. */
export const R_IMM2 = 7;

/** Instruction length in bytes, bits 3:0. */
export const I_LEN_MASK = 0xf;
/** Operand size: 0 = 8-bit, 1 = 16, 2 = 32, 3 = 64; bits 5:4. */
export const I_OSZ_SHIFT = 4;
/** Address size: 1 = 16, 2 = 32, 3 = 64; bits 7:6. */
export const I_ASZ_SHIFT = 6;
/** Effective segment of the memory operand (Seg number), bits 10:8. */
export const I_SEG_SHIFT = 8;
/** The operand is in memory (ModRM.mod != 3). */
export const I_MEM = 1 << 11;
/** REP/REPE (F3) prefix. */
export const I_REP = 1 << 12;
/** REPNE (F2) prefix. */
export const I_REPNE = 1 << 13;
/** LOCK prefix. */
export const I_LOCK = 1 << 14;
/** A segment-override prefix was given. */
export const I_SEGOVR = 1 << 15;
/** The instruction may change the mode, CS, paging or IF: the block ends after it. */
export const I_ENDS_BLOCK = 1 << 16;
/** A REX prefix was present (byte registers 4-7 are SPL..DIL, not AH..BH). */
export const I_REX = 1 << 17;
/** ModRM byte present, its raw value in bits 31:24 (for groups that need mod/rm). */
export const I_MODRM_SHIFT = 24;

export const NO_REG = 0xff;
export const RIP_BASE = 16;
/**
 * Byte-register operands 16-19 mean AH, CH, DH, BH (no REX prefix, encodings 4-7);
 * 0-15 mean AL..R15B (SPL/BPL/SIL/DIL with a REX prefix).
 */
export const BYTE_HIGH = 16;

/**
 * The register number for a byte operand encoded as `r` in an instruction whose format is
 * not a byte format (MOVZX/MOVSX sources): without REX, 4-7 are AH, CH, DH, BH.
 */
export function byteRegOf(r: number, info: number): number {
  return (info & I_REX) === 0 && r >= 4 && r < 8 ? BYTE_HIGH + r - 4 : r;
}

export function recLength(info: number): number {
  return info & I_LEN_MASK;
}
export function recOsz(info: number): number {
  return (info >>> I_OSZ_SHIFT) & 3;
}
export function recAsz(info: number): number {
  return (info >>> I_ASZ_SHIFT) & 3;
}
export function recSeg(info: number): number {
  return (info >>> I_SEG_SHIFT) & 7;
}
