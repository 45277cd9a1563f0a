/**
 * Opcode maps: the operand format of every opcode (which the decoder needs to find an
 * instruction's length) and the handler that executes it (which instruction groups fill in).
 *
 * Formats follow the SDM's opcode tables (Vol. 2 Appendix A): `M` = has a ModRM byte, then
 * the immediate kind. Handler slots start out as 0, the #UD handler, so an opcode nobody
 * implements raises #UD rather than misbehaving.
 */
import type { Cpu } from './cpu.js';

/** Executes one decoded instruction: `d` is the index of its record in `cpu.rec`. */
export type Handler = (cpu: Cpu, d: number) => void;

// ---- format bits -------------------------------------------------------------------------
export const F_M = 1;
export const F_IMM_SHIFT = 1;
export const F_IMM_MASK = 0xf << 1;
export const Imm = {
  None: 0,
  Ib: 1,
  Iw: 2,
  /** 16 or 32 bits by operand size (32 for 64-bit operand size, sign-extended). */
  Iz: 3,
  /** 16, 32 or 64 bits by operand size (MOV r, imm). */
  Iv: 4,
  /** ENTER: imm16 then imm8. */
  IwIb: 5,
  /** Far pointer: offset (16/32 by operand size) then selector. */
  Ap: 6,
  /** Memory offset of address-size width (MOV A0-A3). */
  Ob: 7,
  /** rel8. */
  Jb: 8,
  /** rel16/rel32 by operand size. */
  Jz: 9,
  /** Group 3 byte form: Ib when ModRM.reg < 2. */
  G3b: 10,
  /** Group 3 word form: Iz when ModRM.reg < 2. */
  G3v: 11,
} as const;
/** Invalid in 64-bit mode. */
export const F_I64 = 1 << 5;
/** Default operand size 64 in 64-bit mode (66 selects 16). */
export const F_D64 = 1 << 6;
/** Operand size forced to 64 in 64-bit mode (near branches; Intel ignores 66, AMD honours it). */
export const F_F64 = 1 << 7;
/** Byte operation: operand size 8. */
export const F_BYTE = 1 << 8;
/** LOCK is allowed (with a memory destination); group opcodes narrow it in LOCK_REGS_*. */
export const F_LOCK = 1 << 9;
/** The block ends after this instruction. */
export const F_END = 1 << 11;
/** No instruction at this opcode. */
export const F_INV = 1 << 13;
/** The ModRM operand is always a register (MOV CRn/DRn): mod is ignored. */
export const F_REGONLY = 1 << 14;
/** The ModRM operand must be memory: mod = 3 is #UD (LEA, LSS/LFS/LGS, BOUND, LES/LDS). */
export const F_MEMONLY = 1 << 15;

const M = F_M;
const Ib = Imm.Ib << F_IMM_SHIFT;
const Iw = Imm.Iw << F_IMM_SHIFT;
const Iz = Imm.Iz << F_IMM_SHIFT;
const Iv = Imm.Iv << F_IMM_SHIFT;
const Jb = Imm.Jb << F_IMM_SHIFT;
const Jz = Imm.Jz << F_IMM_SHIFT;
const B = F_BYTE;
const L = F_LOCK;
const E = F_END;

/** Formats of the one-byte opcode map (SDM Vol. 2 Table A-2). Prefix bytes are handled by the decoder. */
export const FORMAT_1B = new Int32Array(256);
/** Formats of the two-byte (0F) map (SDM Vol. 2 Table A-3). */
export const FORMAT_0F = new Int32Array(256);
/**
 * For opcodes with ModRM: the ModRM.reg values (bit mask) with which a LOCK prefix is
 * allowed (memory destination still required). The SDM's "LOCK" page lists the lockable
 * instructions: ADD/ADC/AND/BTC/BTR/BTS/CMPXCHG/CMPXCHG8B/CMPXCHG16B/DEC/INC/NEG/NOT/OR/
 * SBB/SUB/XOR/XADD/XCHG; everything else, and any register destination, is #UD.
 */
export const LOCK_REGS_1B = new Uint8Array(256);
export const LOCK_REGS_0F = new Uint8Array(256);
/** ModRM.reg values (bit mask) that encode an instruction at all; the others are #UD. */
export const VALID_REGS_1B = new Uint8Array(256).fill(0xff);
export const VALID_REGS_0F = new Uint8Array(256).fill(0xff);
/**
 * ModRM.reg values (bit mask) that allow a register operand (mod = 3); with the others the
 * operand must be memory and mod = 3 is #UD (LEA, far pointers, CMPXCHG8B, ...).
 */
export const MOD3_REGS_1B = new Uint8Array(256).fill(0xff);
export const MOD3_REGS_0F = new Uint8Array(256).fill(0xff);

/**
 * Mandatory-prefix and mode legality of 0F-map ModRM forms. Entry `opcode * 16 + (mod = 3 ?
 * 8 : 0) + ModRM.reg`: bit `p` is set when prefix class `p` ({@link Pfx}: none, 66, F3, F2)
 * may precede the opcode, and {@link PL_O64} when the form exists only in 64-bit mode.
 * Prefix classes with nothing defined are #UD (SDM Vol. 2 Tables ).
 */
export const PFX_LEGAL_0F = new Uint8Array(256 * 16).fill(0x0f);
export const PL_NONE = 1;
export const PL_66 = 2;
export const PL_F3 = 4;
export const PL_F2 = 8;
export const PL_O64 = 16;
/** ModRM.reg values (bit mask) that allow a register operand in the 0F38 map. */
export const MOD3_REGS_38 = new Uint8Array(256).fill(0xff);

/** VEX rule: VEX.L must be 0 (the scalar/integer VEX instructions: BMI1, BMI2). */
export const V_L0 = 1;
/** VEX rule: VEX.vvvv must be 1111b (no register there: RORX). */
export const V_NOVVVV = 2;
/** VEX encoding rules per opcode of the VEX 0F38 and 0F3A maps ({@link V_L0}, {@link V_NOVVVV}). */
export const VEX_RULES_38 = new Uint8Array(256);
export const VEX_RULES_3A = new Uint8Array(256);

function fill1b(): void {
  const f = FORMAT_1B;
  // ALU blocks: 00-3F
  for (let g = 0; g < 8; g++) {
    const b = g * 8;
    const lock = g === 7 ? 0 : L;
    f[b] = M | B | lock;
    f[b + 1] = M | lock;
    f[b + 2] = M | B;
    f[b + 3] = M;
    f[b + 4] = Ib | B;
    f[b + 5] = Iz;
  }
  f[0x06] = f[0x07] = f[0x0e] = f[0x16] = f[0x1e] = f[0x1f] = F_I64;
  f[0x17] = F_I64 | E; // POP SS: interrupt shadow
  f[0x0f] = F_INV; // escape, handled by the decoder
  f[0x27] = f[0x2f] = f[0x37] = f[0x3f] = F_I64;
  for (let i = 0x40; i < 0x50; i++) f[i] = F_I64; // INC/DEC (REX in 64-bit mode)
  for (let i = 0x50; i < 0x60; i++) f[i] = F_D64;
  f[0x60] = f[0x61] = F_I64;
  f[0x62] = M | F_I64; // BOUND
  f[0x63] = M; // ARPL / MOVSXD
  f[0x68] = Iz | F_D64;
  f[0x69] = M | Iz;
  f[0x6a] = Ib | F_D64;
  f[0x6b] = M | Ib;
  f[0x6c] = B;
  f[0x6d] = 0;
  f[0x6e] = B;
  f[0x6f] = 0;
  for (let i = 0x70; i < 0x80; i++) f[i] = Jb | F_F64 | E;
  f[0x80] = M | Ib | B | L;
  f[0x81] = M | Iz | L;
  f[0x82] = M | Ib | B | L | F_I64;
  f[0x83] = M | Ib | L;
  f[0x84] = M | B;
  f[0x85] = M;
  f[0x86] = M | B | L;
  f[0x87] = M | L;
  f[0x88] = M | B;
  f[0x89] = M;
  f[0x8a] = M | B;
  f[0x8b] = M;
  f[0x8c] = M;
  f[0x8d] = M;
  f[0x8e] = M | E;
  f[0x8f] = M | F_D64;
  for (let i = 0x90; i < 0x98; i++) f[i] = 0;
  f[0x98] = f[0x99] = 0;
  f[0x9a] = (Imm.Ap << F_IMM_SHIFT) | F_I64 | E;
  f[0x9b] = 0;
  f[0x9c] = F_D64;
  f[0x9d] = F_D64 | E;
  f[0x9e] = f[0x9f] = 0;
  f[0xa0] = (Imm.Ob << F_IMM_SHIFT) | B;
  f[0xa1] = Imm.Ob << F_IMM_SHIFT;
  f[0xa2] = (Imm.Ob << F_IMM_SHIFT) | B;
  f[0xa3] = Imm.Ob << F_IMM_SHIFT;
  f[0xa4] = B;
  f[0xa5] = 0;
  f[0xa6] = B;
  f[0xa7] = 0;
  f[0xa8] = Ib | B;
  f[0xa9] = Iz;
  f[0xaa] = B;
  f[0xab] = 0;
  f[0xac] = B;
  f[0xad] = 0;
  f[0xae] = B;
  f[0xaf] = 0;
  for (let i = 0xb0; i < 0xb8; i++) f[i] = Ib | B;
  for (let i = 0xb8; i < 0xc0; i++) f[i] = Iv;
  f[0xc0] = M | Ib | B;
  f[0xc1] = M | Ib;
  f[0xc2] = Iw | F_F64 | E;
  f[0xc3] = F_F64 | E;
  f[0xc4] = M | F_I64 | E; // LES (VEX3 in 64-bit mode or with mod = 3: decoder)
  f[0xc5] = M | F_I64 | E; // LDS (VEX2)
  f[0xc6] = M | Ib | B;
  f[0xc7] = M | Iz;
  f[0xc8] = (Imm.IwIb << F_IMM_SHIFT) | F_D64;
  f[0xc9] = F_D64;
  f[0xca] = Iw | E;
  f[0xcb] = E;
  f[0xcc] = E;
  f[0xcd] = Ib | E;
  f[0xce] = F_I64 | E;
  f[0xcf] = E;
  f[0xd0] = M | B;
  f[0xd1] = M;
  f[0xd2] = M | B;
  f[0xd3] = M;
  f[0xd4] = Ib | F_I64;
  f[0xd5] = Ib | F_I64;
  f[0xd6] = F_I64; // SALC (undocumented)
  f[0xd7] = 0;
  for (let i = 0xd8; i < 0xe0; i++) f[i] = M; // x87 escape
  for (let i = 0xe0; i < 0xe4; i++) f[i] = Jb | F_F64 | E;
  f[0xe4] = Ib | B;
  f[0xe5] = Ib;
  f[0xe6] = Ib | B;
  f[0xe7] = Ib;
  f[0xe8] = Jz | F_F64 | E;
  f[0xe9] = Jz | F_F64 | E;
  f[0xea] = (Imm.Ap << F_IMM_SHIFT) | F_I64 | E;
  f[0xeb] = Jb | F_F64 | E;
  f[0xec] = B;
  f[0xed] = 0;
  f[0xee] = B;
  f[0xef] = 0;
  f[0xf1] = E;
  f[0xf4] = E;
  f[0xf5] = 0;
  f[0xf6] = M | (Imm.G3b << F_IMM_SHIFT) | B | L;
  f[0xf7] = M | (Imm.G3v << F_IMM_SHIFT) | L;
  f[0xf8] = f[0xf9] = f[0xfc] = f[0xfd] = 0;
  f[0xfa] = E;
  f[0xfb] = E;
  f[0xfe] = M | B | L;
  f[0xff] = M | L | E;
  f[0x8d] |= F_MEMONLY; // LEA
  f[0x62] |= F_MEMONLY; // BOUND (mod = 3 is EVEX)
  f[0xc4] |= F_MEMONLY; // LES (mod = 3 is VEX)
  f[0xc5] |= F_MEMONLY; // LDS
  for (let i = 0; i < 256; i++) if ((f[i]! & F_MEMONLY) !== 0) MOD3_REGS_1B[i] = 0;
  MOD3_REGS_1B[0xff] = 0xd7; // CALL/JMP far (/3, /5) take m16:16/32/64

  const lk = LOCK_REGS_1B;
  for (let i = 0; i < 256; i++) if ((f[i]! & L) !== 0) lk[i] = 0xff;
  for (let i = 0x80; i < 0x84; i++) lk[i] = 0x7f; // group 1: not CMP (/7)
  lk[0xf6] = lk[0xf7] = 0x0c; // group 3: NOT (/2), NEG (/3)
  lk[0xfe] = lk[0xff] = 0x03; // groups 4/5: INC (/0), DEC (/1)
  // MOV r/m, Sreg and MOV Sreg, r/m: segment registers 0-5; MOV to CS is #UD (SDM Vol. 2 "MOV").
  VALID_REGS_1B[0x8c] = 0x3f;
  VALID_REGS_1B[0x8e] = 0x3d;
  // Groups with undefined members (SDM Vol. 2 Table A-6): 1A (POP, /0), 11 (MOV, /0; XABORT and
  // XBEGIN at /7 are TSX, not claimed), 4 (INC/DEC), 5 (/7 undefined).
  VALID_REGS_1B[0x8f] = 0x01;
  VALID_REGS_1B[0xc6] = VALID_REGS_1B[0xc7] = 0x01;
  VALID_REGS_1B[0xfe] = 0x03;
  VALID_REGS_1B[0xff] = 0x7f;
}

function fill0f(): void {
  const f = FORMAT_0F;
  f.fill(F_INV);
  f[0x00] = M | E;
  f[0x01] = M | E;
  f[0x02] = M;
  f[0x03] = M;
  f[0x05] = E;
  f[0x06] = E;
  f[0x07] = E;
  f[0x08] = E;
  f[0x09] = E;
  f[0x0b] = E;
  f[0x0d] = M;
  for (let i = 0x10; i < 0x18; i++) f[i] = M;
  for (let i = 0x18; i < 0x20; i++) f[i] = M; // hint NOPs
  for (let i = 0x20; i < 0x24; i++) f[i] = M | F_REGONLY | E;
  for (let i = 0x28; i < 0x30; i++) f[i] = M;
  f[0x30] = E;
  f[0x31] = 0;
  f[0x32] = 0;
  f[0x33] = 0;
  f[0x34] = E;
  f[0x35] = E;
  f[0x37] = E;
  for (let i = 0x40; i < 0x50; i++) f[i] = M;
  for (let i = 0x50; i < 0x70; i++) f[i] = M;
  for (let i = 0x70; i < 0x74; i++) f[i] = M | Ib;
  for (let i = 0x74; i < 0x77; i++) f[i] = M;
  f[0x77] = 0;
  f[0x78] = M;
  f[0x79] = M;
  for (let i = 0x7c; i < 0x80; i++) f[i] = M;
  for (let i = 0x80; i < 0x90; i++) f[i] = Jz | F_F64 | E;
  for (let i = 0x90; i < 0xa0; i++) f[i] = M | B;
  f[0xa0] = F_D64;
  f[0xa1] = F_D64 | E;
  f[0xa2] = 0;
  f[0xa3] = M;
  f[0xa4] = M | Ib;
  f[0xa5] = M;
  f[0xa8] = F_D64;
  f[0xa9] = F_D64 | E;
  f[0xaa] = E;
  f[0xab] = M | L;
  f[0xac] = M | Ib;
  f[0xad] = M;
  f[0xae] = M;
  f[0xaf] = M;
  f[0xb0] = M | B | L;
  f[0xb1] = M | L;
  f[0xb2] = M | E;
  f[0xb3] = M | L;
  f[0xb4] = M | E;
  f[0xb5] = M | E;
  f[0xb6] = M;
  f[0xb7] = M;
  f[0xb8] = M;
  f[0xb9] = M;
  f[0xba] = M | Ib | L;
  f[0xbb] = M | L;
  f[0xbc] = M;
  f[0xbd] = M;
  f[0xbe] = M;
  f[0xbf] = M;
  f[0xc0] = M | B | L;
  f[0xc1] = M | L;
  f[0xc2] = M | Ib;
  f[0xc3] = M;
  f[0xc4] = M | Ib;
  f[0xc5] = M | Ib;
  f[0xc6] = M | Ib;
  f[0xc7] = M | L;
  for (let i = 0xc8; i < 0xd0; i++) f[i] = 0;
  for (let i = 0xd0; i < 0x100; i++) f[i] = M;
  f[0xb2] |= F_MEMONLY; // LSS
  f[0xb4] |= F_MEMONLY; // LFS
  f[0xb5] |= F_MEMONLY; // LGS
  for (let i = 0; i < 256; i++) if ((f[i]! & F_MEMONLY) !== 0) MOD3_REGS_0F[i] = 0;
  // Group 9: only RDRAND (/6), RDSEED and RDPID (/7) take a register (SDM Vol. 2 Table A-6).
  MOD3_REGS_0F[0xc7] = 0xc0;

  const legal = (op: number, mod3: boolean, regs: readonly number[], bits: number): void => {
    for (const r of regs) PFX_LEGAL_0F[op * 16 + (mod3 ? 8 : 0) + r] = bits;
  };
  // Group 7 register forms: Intel's VMCALL..VMXOFF, MONITOR/MWAIT/CLAC/STAC, XGETBV/XSETBV/
  // VMFUNC take no prefix; AMD's SVM instructions (/3), SWAPGS, RDTSCP (/7) ignore 66/F2/F3
  // (but F2/F3 VMMCALL is VMGEXIT: the decoder handles that one); SMSW (/4) and LMSW (/6)
  // take 66 as the operand size.
  legal(0x01, true, [0, 1, 2, 5], PL_NONE);
  // Group 15: RDFSBASE..WRGSBASE are F3-only and 64-bit only; the fences take no prefix;
  // CLFLUSH is NP, CLFLUSHOPT 66.
  legal(0xae, true, [0, 1, 2, 3], PL_F3 | PL_O64);
  legal(0xae, true, [5, 6, 7], PL_NONE);
  legal(0xae, false, [7], PL_NONE | PL_66);
  // FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, XSAVE, XRSTOR, XSAVEOPT (/0-/6 memory) are NP: 66/F3/F2 #UD.
  legal(0xae, false, [0, 1, 2, 3, 4, 5, 6], PL_NONE);
  // Group 9: VMPTRLD (NP), VMCLEAR (66), VMXON (F3); VMPTRST (NP); RDRAND, RDSEED (NFx);
  // RDPID (F3).
  legal(0xc7, false, [6], PL_NONE | PL_66 | PL_F3);
  legal(0xc7, false, [7], PL_NONE);
  legal(0xc7, true, [6], PL_NONE | PL_66);
  legal(0xc7, true, [7], PL_NONE | PL_66 | PL_F3);

  // MMX/SSE forms that exist only with a register operand, or only with a memory operand (SDM
  // Vol. 2 Table A-3 and the instruction pages: "mod = 11B" / "m" operand encodings). Entries
  // list the prefix classes that remain defined for that operand kind.
  const ALL = [0, 1, 2, 3, 4, 5, 6, 7];
  const P_ALL = PL_NONE | PL_66 | PL_F3 | PL_F2;
  legal(0x12, true, ALL, PL_NONE | PL_F3 | PL_F2); // MOVHLPS; MOVLPD needs memory
  legal(0x16, true, ALL, PL_NONE | PL_F3); // MOVLHPS, MOVSHDUP; MOVHPD needs memory
  legal(0x13, true, ALL, 0); // MOVLPS/MOVLPD stores
  legal(0x17, true, ALL, 0); // MOVHPS/MOVHPD stores
  legal(0x2b, true, ALL, 0); // MOVNTPS/MOVNTPD
  legal(0x50, false, ALL, 0); // MOVMSKPS/MOVMSKPD
  legal(0xc3, true, ALL, 0); // MOVNTI
  legal(0xc5, false, ALL, 0); // PEXTRW
  legal(0xd6, true, ALL, P_ALL & ~PL_NONE); // MOVQ (66), MOVQ2DQ (F3), MOVDQ2Q (F2)
  legal(0xd6, false, ALL, PL_66); // only MOVQ m64, xmm takes memory
  legal(0xd7, false, ALL, 0); // PMOVMSKB
  legal(0xe7, true, ALL, 0); // MOVNTQ/MOVNTDQ
  legal(0xf0, true, ALL, 0); // LDDQU
  legal(0xf7, false, ALL, 0); // MASKMOVQ/MASKMOVDQU
  for (const op of [0x71, 0x72, 0x73]) legal(op, false, ALL, 0); // shift-by-immediate groups 12-14
  // INVEPT, INVVPID, INVPCID take a memory descriptor (SDM Vol. 2 "INVPCID", Vol. 3 "INVEPT",
  // "INVVPID").
  MOD3_REGS_38[0x80] = MOD3_REGS_38[0x81] = MOD3_REGS_38[0x82] = 0;
  // MOVNTDQA (66 0F 38 2A) takes m128 only (SDM Vol. 2 "MOVNTDQA").
  MOD3_REGS_38[0x2a] = 0;

  // BMI1/BMI2 (SDM Vol. 2, the instruction pages): VEX.L = 1 is #UD; RORX has no vvvv operand
  // (VEX.vvvv != 1111b is #UD).
  for (const o of [0xf2, 0xf3, 0xf5, 0xf6, 0xf7]) VEX_RULES_38[o] = V_L0;
  VEX_RULES_3A[0xf0] = V_L0 | V_NOVVVV;

  const lk = LOCK_REGS_0F;
  for (let i = 0; i < 256; i++) if ((f[i]! & L) !== 0) lk[i] = 0xff;
  lk[0xba] = 0xe0; // group 8: BTS (/5), BTR (/6), BTC (/7); not BT (/4)
  lk[0xc7] = 0x02; // group 9: CMPXCHG8B/16B (/1)
  // Group 6 (/6, /7 undefined), group 8 (/0-/3 undefined), group 9 (/0, /2 undefined).
  VALID_REGS_0F[0x00] = 0x3f;
  VALID_REGS_0F[0xba] = 0xf0;
  VALID_REGS_0F[0xc7] = 0xfa;
}

fill1b();
fill0f();

// ---- handler slots ---------------------------------------------------------------------

/** Opcode maps. */
export const OpMap = { One: 0, Two: 1, Three38: 2, Three3A: 3, Vex38: 4, Vex3A: 5, Vex0F: 6 } as const;
export type OpMap = (typeof OpMap)[keyof typeof OpMap];

/** Mandatory-prefix classes (SSE-style opcode selection): none, 66, F3, F2. */
export const Pfx = { None: 0, P66: 1, F3: 2, F2: 3 } as const;

/**
 * Where handlers for one opcode live. The decoder picks, in order: `byRm` (ModRM.mod = 3,
 * indexed by reg * 8 + rm), `byRegMod3` (mod = 3) or `byRegMem` (mod != 3), `byReg`,
 * `byPrefix` (mandatory prefix), then `op`.
 */
export class OpSlot {
  op = 0;
  byReg: Int32Array | null = null;
  byRegMem: Int32Array | null = null;
  byRegMod3: Int32Array | null = null;
  byRm: Int32Array | null = null;
  byPrefix: Int32Array | null = null;
  /** Handler for a prefix class within a ModRM.reg group: index prefix * 8 + reg. */
  byPrefixReg: Int32Array | null = null;
}

function makeMap(): OpSlot[] {
  const m: OpSlot[] = [];
  for (let i = 0; i < 256; i++) m.push(new OpSlot());
  return m;
}

/** Slots for each map, indexed by {@link OpMap}. */
export const SLOTS: OpSlot[][] = [makeMap(), makeMap(), makeMap(), makeMap(), makeMap(), makeMap(), makeMap()];

/** The handler table; index 0 is #UD. */
export const HANDLERS: Handler[] = [];
export const HANDLER_NAMES: string[] = [];

/** Registers a handler and returns its id. */
export function defineHandler(name: string, fn: Handler): number {
  HANDLERS.push(fn);
  HANDLER_NAMES.push(name);
  return HANDLERS.length - 1;
}

export interface SlotSelector {
  /** ModRM.reg value for group opcodes. */
  reg?: number;
  /** Restrict to ModRM.mod = 3 (`true`) or mod != 3 (`false`). */
  mod3?: boolean;
  /** ModRM.rm value (with `mod3: true` and `reg`). */
  rm?: number;
  /** Mandatory prefix class. */
  prefix?: number;
}

/** Installs handler `id` for an opcode. */
export function setOp(map: OpMap, opcode: number, id: number, sel: SlotSelector = {}): void {
  const s = SLOTS[map]![opcode]!;
  if (sel.rm !== undefined) {
    if (sel.reg === undefined) throw new Error('rm selector needs reg');
    s.byRm ??= new Int32Array(64).fill(-1);
    s.byRm[sel.reg * 8 + sel.rm] = id;
  } else if (sel.prefix !== undefined && sel.reg !== undefined) {
    s.byPrefixReg ??= new Int32Array(32).fill(-1);
    s.byPrefixReg[sel.prefix * 8 + sel.reg] = id;
  } else if (sel.reg !== undefined) {
    if (sel.mod3 === true) {
      s.byRegMod3 ??= new Int32Array(8).fill(-1);
      s.byRegMod3[sel.reg] = id;
    } else if (sel.mod3 === false) {
      s.byRegMem ??= new Int32Array(8).fill(-1);
      s.byRegMem[sel.reg] = id;
    } else {
      s.byReg ??= new Int32Array(8).fill(-1);
      s.byReg[sel.reg] = id;
    }
  } else if (sel.prefix !== undefined) {
    s.byPrefix ??= new Int32Array(4).fill(-1);
    s.byPrefix[sel.prefix] = id;
  } else {
    s.op = id;
  }
}

/** Resolves the handler for a decoded opcode. */
export function resolveOp(s: OpSlot, modrm: number, prefix: number): number {
  const mod3 = modrm >= 0xc0;
  const reg = (modrm >> 3) & 7;
  let id = -1;
  if (mod3 && s.byRm !== null) id = s.byRm[modrm & 0x3f]!;
  if (id < 0 && s.byPrefixReg !== null) id = s.byPrefixReg[prefix * 8 + reg]!;
  if (id < 0 && mod3 && s.byRegMod3 !== null) id = s.byRegMod3[reg]!;
  if (id < 0 && !mod3 && s.byRegMem !== null) id = s.byRegMem[reg]!;
  if (id < 0 && s.byReg !== null) id = s.byReg[reg]!;
  if (id < 0 && s.byPrefix !== null) id = s.byPrefix[prefix]!;
  if (id < 0) id = s.op;
  return id;
}
