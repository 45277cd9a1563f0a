/**
 * Architectural register numbering and bit definitions (Intel SDM Vol. 1 ch. 3, Vol. 3 ch. 2).
 *
 * Everything 64-bit is kept as two signed 32-bit halves in typed arrays: `lo` in one array,
 * `hi` in a sibling array with the same index. Nothing here allocates after construction.
 */

/** General-purpose register numbers, in encoding order. */
export const Reg = {
  RAX: 0,
  RCX: 1,
  RDX: 2,
  RBX: 3,
  RSP: 4,
  RBP: 5,
  RSI: 6,
  RDI: 7,
  R8: 8,
  R9: 9,
  R10: 10,
  R11: 11,
  R12: 12,
  R13: 13,
  R14: 14,
  R15: 15,
} as const;
export type Reg = (typeof Reg)[keyof typeof Reg];

/** Segment register numbers: the four data/stack/code registers in encoding order, then LDTR and TR. */
export const Seg = {
  ES: 0,
  CS: 1,
  SS: 2,
  DS: 3,
  FS: 4,
  GS: 5,
  LDTR: 6,
  TR: 7,
} as const;
export type Seg = (typeof Seg)[keyof typeof Seg];

export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;

/**
 * Segment attributes in the VMX "access rights" layout (SDM Vol. 3 §24.4.1, Table 24-2), so
 * the VMCS and the VMCB (whose 12-bit attrib field is the same bits, compacted) can take
 * them as they are.
 */
export const SegAttr = {
  /** Type field, bits 3:0. */
  TypeMask: 0xf,
  /** Accessed bit of the type (code/data). */
  Accessed: 1 << 0,
  /** Data: writable. Code: readable. */
  RW: 1 << 1,
  /** Data: expand-down. Code: conforming. */
  DC: 1 << 2,
  /** Code (1) or data (0). */
  Code: 1 << 3,
  /** S: code/data (1) or system (0). */
  S: 1 << 4,
  DplShift: 5,
  DplMask: 3 << 5,
  /** Present. */
  P: 1 << 7,
  Avl: 1 << 12,
  /** 64-bit code segment. */
  L: 1 << 13,
  /** Default operation size / big. */
  DB: 1 << 14,
  /** Granularity. */
  G: 1 << 15,
  /** Segment unusable (VMX): a null selector was loaded. */
  Unusable: 1 << 16,
} as const;

/** EFLAGS bits (SDM Vol. 1 §3.4.3). */
export const Flag = {
  CF: 1 << 0,
  /** Bit 1 always reads as 1. */
  Fixed1: 1 << 1,
  PF: 1 << 2,
  AF: 1 << 4,
  ZF: 1 << 6,
  SF: 1 << 7,
  TF: 1 << 8,
  IF: 1 << 9,
  DF: 1 << 10,
  OF: 1 << 11,
  IOPL: 3 << 12,
  NT: 1 << 14,
  RF: 1 << 16,
  VM: 1 << 17,
  AC: 1 << 18,
  VIF: 1 << 19,
  VIP: 1 << 20,
  ID: 1 << 21,
} as const;

/** The six arithmetic flags, kept lazily. */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;

/** EFLAGS bits that software can ever set (the rest are reserved: 0, or 1 for bit 1). */
export const EFLAGS_DEFINED = 0x3f7fd5;

/** CR0 bits (SDM Vol. 3 §2.5). */
export const Cr0 = {
  PE: 1 << 0,
  MP: 1 << 1,
  EM: 1 << 2,
  TS: 1 << 3,
  ET: 1 << 4,
  NE: 1 << 5,
  WP: 1 << 16,
  AM: 1 << 18,
  NW: 1 << 29,
  CD: 1 << 30,
  PG: 1 << 31,
} as const;

/** CR4 bits (SDM Vol. 3 §2.5). */
export const Cr4 = {
  VME: 1 << 0,
  PVI: 1 << 1,
  TSD: 1 << 2,
  DE: 1 << 3,
  PSE: 1 << 4,
  PAE: 1 << 5,
  MCE: 1 << 6,
  PGE: 1 << 7,
  PCE: 1 << 8,
  OSFXSR: 1 << 9,
  OSXMMEXCPT: 1 << 10,
  UMIP: 1 << 11,
  LA57: 1 << 12,
  VMXE: 1 << 13,
  SMXE: 1 << 14,
  FSGSBASE: 1 << 16,
  PCIDE: 1 << 17,
  OSXSAVE: 1 << 18,
  SMEP: 1 << 20,
  SMAP: 1 << 21,
  PKE: 1 << 22,
} as const;

/** IA32_EFER bits (SDM Vol. 3 §2.2.1; AMD APM Vol. 2 §3.1.7). */
export const Efer = {
  SCE: 1 << 0,
  LME: 1 << 8,
  LMA: 1 << 10,
  NXE: 1 << 11,
  SVME: 1 << 12,
  LMSLE: 1 << 13,
  FFXSR: 1 << 14,
} as const;

/** Exception vectors (SDM Vol. 3 §6.3.1, Table 6-1). */
export const Vector = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
  XM: 19,
  VE: 20,
  CP: 21,
} as const;

/** Whether exception `vector` pushes an error code (SDM Vol. 3 §6.13). */
export function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17 || vector === 21;
}

/** The decode/execution mode of the code segment. */
export const CodeMode = {
  /** 16-bit default operand and address size: real mode, v8086, 16-bit protected mode. */
  Bits16: 0,
  /** 32-bit protected mode or compatibility mode with CS.D = 1. */
  Bits32: 1,
  /** 64-bit mode (IA-32e with CS.L = 1). */
  Bits64: 2,
} as const;
export type CodeMode = (typeof CodeMode)[keyof typeof CodeMode];
