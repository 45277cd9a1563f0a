/**
 * Lazy arithmetic flags.
 *
 * The six arithmetic flags (CF, PF, AF, ZF, SF, OF; SDM Vol. 1 §3.4.3.1) are not computed when
 * an instruction executes. Instead the instruction leaves three 32-bit words behind:
 *
 * - `fRes`/`fResHi`: the result, sign-extended to 64 bits (so ZF is `(fRes | fResHi) === 0`
 *   for every operand size, and SF is the sign of `fResHi`);
 * - `fAux`: bit 31 is CF; bit 30 is "partial overflow", with OF = bit 31 XOR bit 30, which is
 *   exactly "carry out of the top bit XOR carry out of the bit below" for additions and
 *   subtractions; bit 3 is AF (carry out of bit 3); bits 15:8 are XORed into the result's low
 *   byte before its parity is taken; bit 0 is XORed into the sign.
 *
 * Additions and subtractions store their carry-out vector directly, so each costs a few ALU
 * operations and no branches. Any combination of flags can be encoded (see
 * {@link setArithFlags}), so instructions with unusual flag rules (shifts, rotates, BCD,
 * multiplies, POPF) write the flags they define exactly. A conditional jump reads just the
 * flags it tests.
 */
import { Flag } from './state.js';

/** The fields of the CPU that hold the lazy flags. */
export interface LazyFlags {
  fRes: number;
  fResHi: number;
  fAux: number;
}

/** 1 when the byte has an even number of set bits (PF's definition). */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let v = i;
  v ^= v >> 4;
  v ^= v >> 2;
  v ^= v >> 1;
  PARITY[i] = (v & 1) ^ 1;
}

/** Bits of `fAux`. */
export const AUX_CF = 1 << 31;
export const AUX_PO = 1 << 30;
export const AUX_AF = 1 << 3;

export function getCF(f: LazyFlags): number {
  return f.fAux >>> 31;
}
export function getOF(f: LazyFlags): number {
  return (f.fAux ^ (f.fAux << 1)) >>> 31;
}
export function getAF(f: LazyFlags): number {
  return (f.fAux >>> 3) & 1;
}
export function getZF(f: LazyFlags): number {
  return (f.fRes | f.fResHi) === 0 ? 1 : 0;
}
export function getSF(f: LazyFlags): number {
  return ((f.fResHi >>> 31) ^ f.fAux) & 1;
}
export function getPF(f: LazyFlags): number {
  return PARITY[(f.fRes ^ (f.fAux >>> 8)) & 0xff]!;
}

/** The six arithmetic flags as EFLAGS bits. */
export function arithFlags(f: LazyFlags): number {
  return (
    getCF(f) |
    (getPF(f) << 2) |
    (getAF(f) << 4) |
    (getZF(f) << 6) |
    (getSF(f) << 7) |
    (getOF(f) << 11)
  );
}

/** Sets the six arithmetic flags from EFLAGS bits. */
export function setArithFlags(f: LazyFlags, eflags: number): void {
  const cf = eflags & 1;
  const pf = (eflags >>> 2) & 1;
  const af = (eflags >>> 4) & 1;
  const zf = (eflags >>> 6) & 1;
  const sf = (eflags >>> 7) & 1;
  const of = (eflags >>> 11) & 1;
  const low = zf ^ 1; // the result's low byte: 0 or 1
  const pdb = low ^ (pf ^ 1);
  f.fRes = low;
  f.fResHi = 0;
  f.fAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3) | (pdb << 8) | sf;
}

/**
 * Evaluates condition code `cc` (the low 4 bits of Jcc/SETcc/CMOVcc opcodes, SDM Vol. 1
 * Appendix B) against the lazy flags.
 */
export function condition(f: LazyFlags, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: // O
      r = (f.fAux ^ (f.fAux << 1)) < 0;
      break;
    case 1: // B / C
      r = f.fAux < 0;
      break;
    case 2: // Z
      r = (f.fRes | f.fResHi) === 0;
      break;
    case 3: // BE: CF or ZF
      r = f.fAux < 0 || (f.fRes | f.fResHi) === 0;
      break;
    case 4: // S
      r = (((f.fResHi >>> 31) ^ f.fAux) & 1) !== 0;
      break;
    case 5: // P
      r = PARITY[(f.fRes ^ (f.fAux >>> 8)) & 0xff] !== 0;
      break;
    case 6: // L: SF != OF
      r = (((f.fResHi >>> 31) ^ f.fAux) & 1) !== (f.fAux ^ (f.fAux << 1)) >>> 31;
      break;
    default: // LE: ZF or SF != OF
      r = (f.fRes | f.fResHi) === 0 || (((f.fResHi >>> 31) ^ f.fAux) & 1) !== (f.fAux ^ (f.fAux << 1)) >>> 31;
      break;
  }
  return (cc & 1) === 0 ? r : !r;
}

/** Shift that moves the top two carry bits of an `size`-byte operation to bits 31:30. */
const TOP_SHIFT = [0, 24, 16, 0, 0] as const;

/** Result of an 8/16/32-bit addition `a + b (+ carry) = r` (values in any 32-bit form). */
export function flagsAdd(f: LazyFlags, size: 1 | 2 | 4, a: number, b: number, r: number): void {
  const sh = TOP_SHIFT[size];
  const c = (a & b) | ((a | b) & ~r);
  const res = (r << sh) >> sh;
  f.fRes = res;
  f.fResHi = res >> 31;
  f.fAux = (c & AUX_AF) | ((c << sh) & (AUX_CF | AUX_PO));
}

/** Result of an 8/16/32-bit subtraction `a - b (- borrow) = r`. */
export function flagsSub(f: LazyFlags, size: 1 | 2 | 4, a: number, b: number, r: number): void {
  const sh = TOP_SHIFT[size];
  const c = (~a & b) | (~(a ^ b) & r);
  const res = (r << sh) >> sh;
  f.fRes = res;
  f.fResHi = res >> 31;
  f.fAux = (c & AUX_AF) | ((c << sh) & (AUX_CF | AUX_PO));
}

/** Result of a 64-bit addition; `a`, `b`, `r` are given as halves. */
export function flagsAdd64(f: LazyFlags, aLo: number, aHi: number, bLo: number, bHi: number, rLo: number, rHi: number): void {
  const cLo = (aLo & bLo) | ((aLo | bLo) & ~rLo);
  const cHi = (aHi & bHi) | ((aHi | bHi) & ~rHi);
  f.fRes = rLo;
  f.fResHi = rHi;
  f.fAux = (cLo & AUX_AF) | (cHi & (AUX_CF | AUX_PO));
}

/** Result of a 64-bit subtraction. */
export function flagsSub64(f: LazyFlags, aLo: number, aHi: number, bLo: number, bHi: number, rLo: number, rHi: number): void {
  const cLo = (~aLo & bLo) | (~(aLo ^ bLo) & rLo);
  const cHi = (~aHi & bHi) | (~(aHi ^ bHi) & rHi);
  f.fRes = rLo;
  f.fResHi = rHi;
  f.fAux = (cLo & AUX_AF) | (cHi & (AUX_CF | AUX_PO));
}

/** Result of a logical operation (AND/OR/XOR/TEST): CF = OF = AF = 0 (SDM: AF undefined; 0 on hardware). */
export function flagsLogic(f: LazyFlags, size: 1 | 2 | 4, r: number): void {
  const sh = TOP_SHIFT[size];
  const res = (r << sh) >> sh;
  f.fRes = res;
  f.fResHi = res >> 31;
  f.fAux = 0;
}

export function flagsLogic64(f: LazyFlags, rLo: number, rHi: number): void {
  f.fRes = rLo;
  f.fResHi = rHi;
  f.fAux = 0;
}

/**
 * A result whose ZF/SF/PF come from `r` and whose CF, OF and AF are given (shifts, rotates,
 * multiplies, BCD).
 */
export function flagsResult(f: LazyFlags, size: 1 | 2 | 4, r: number, cf: number, of: number, af: number): void {
  const sh = TOP_SHIFT[size];
  const res = (r << sh) >> sh;
  f.fRes = res;
  f.fResHi = res >> 31;
  f.fAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3);
}

export function flagsResult64(f: LazyFlags, rLo: number, rHi: number, cf: number, of: number, af: number): void {
  f.fRes = rLo;
  f.fResHi = rHi;
  f.fAux = (cf << 31) | ((cf ^ of) << 30) | (af << 3);
}

/** Replaces CF only, keeping the other five flags. */
export function setCF(f: LazyFlags, cf: number): void {
  const of = getOF(f);
  f.fAux = (f.fAux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

/** Replaces CF and OF, keeping ZF, SF, PF and AF. */
export function setCFOF(f: LazyFlags, cf: number, of: number): void {
  f.fAux = (f.fAux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

/** The flags register bits kept lazily, for readers of the full EFLAGS. */
export const LAZY_MASK = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
