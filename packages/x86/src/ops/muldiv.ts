/**
 * Multiplication and division: MUL, IMUL (one-, two- and three-operand forms: F6/F7 /4 /5,
 * 0F AF, 69, 6B), DIV, IDIV (F6/F7 /6 /7) (SDM Vol. 2 "MUL", "IMUL", "DIV", "IDIV").
 *
 * 64-bit operands use exact 32-bit-limb arithmetic (no BigInt): 32x32 products are built from
 * 16-bit halves so every intermediate is an exact double, 128/64 division runs on 16-bit
 * digits when the divisor fits in 32 bits and bit by bit otherwise. #DE (no error code) is
 * raised for a zero divisor and for a quotient that does not fit the destination, before any
 * register changes.
 *
 * Flags the SDM leaves undefined, as measured on hardware (the differential oracle):
 * - AMD: MUL/IMUL set CF = OF and leave SF, ZF, AF, PF unchanged; DIV/IDIV leave CF and OF
 *   unchanged and set SF = ZF = PF = 0, AF = 1.
 * - Intel (model vendor 'intel'): MUL/IMUL take SF, ZF, PF from the low half of the result
 *   and clear AF; DIV/IDIV leave all flags unchanged (not verified against Intel hardware).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_INFO, R_REG } = decodedNs;
const { AUX_CF, AUX_PO, flagsResult, flagsResult64, setArithFlags } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { Vector } = stateNs;
const { readReg, readRm, writeReg } = operandsNs;

const TWO32 = 4294967296;

// ---- exact limb arithmetic (results in module scratch, no allocation) -------------------------

/** High half of the last {@link mulU32}. */
let mHi = 0;

/** Unsigned 32x32 -> 64: returns the low half (int32), the high half in mHi. */
export function mulU32(a: number, b: number): number {
  // The low half is exact from Math.imul. The double product p is the exact product P rounded
  // to 53 bits (|p - P| <= 2^11 as P < 2^64), and p - lo rounds once more (again <= 2^11), so
  // (p - lo) / 2^32 is within 2^-20 of the exact high half, an integer: rounding recovers it.
  const lo = Math.imul(a, b);
  mHi = Math.round(((a >>> 0) * (b >>> 0) - (lo >>> 0)) / TWO32) | 0;
  return lo;
}

/** 128-bit product words (w0 lowest), as int32. */
let w0 = 0;
let w1 = 0;
let w2 = 0;
let w3 = 0;

/** Unsigned 64x64 -> 128 into w0..w3. */
export function mulU64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const llLo = mulU32(aLo, bLo);
  const llHi = mHi;
  const lhLo = mulU32(aLo, bHi);
  const lhHi = mHi;
  const hlLo = mulU32(aHi, bLo);
  const hlHi = mHi;
  const hhLo = mulU32(aHi, bHi);
  const hhHi = mHi;
  const s1 = (llHi >>> 0) + (lhLo >>> 0) + (hlLo >>> 0);
  const c1 = Math.floor(s1 / TWO32);
  const s2 = (hhLo >>> 0) + (lhHi >>> 0) + (hlHi >>> 0) + c1;
  const c2 = Math.floor(s2 / TWO32);
  w0 = llLo;
  w1 = s1 | 0;
  w2 = s2 | 0;
  w3 = (hhHi + c2) | 0;
}

/** High half of the last {@link mulU32}. */
export function mulHigh(): number {
  return mHi;
}

/** Word `i` (0 = lowest) of the last 128-bit product. */
export function productWord(i: number): number {
  return i === 0 ? w0 : i === 1 ? w1 : i === 2 ? w2 : w3;
}

/** Signed 64x64 -> 128 into w0..w3: the unsigned product minus the sign corrections. */
export function mulS64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulU64(aLo, aHi, bLo, bHi);
  if (aHi < 0) sub128High(bLo, bHi);
  if (bHi < 0) sub128High(aLo, aHi);
}

/** (w3:w2) -= (hi:lo). */
function sub128High(lo: number, hi: number): void {
  const s = (w2 >>> 0) - (lo >>> 0);
  w2 = s | 0;
  w3 = (w3 - hi - (s < 0 ? 1 : 0)) | 0;
}

/** Quotient and remainder of the last division. */
let qLo = 0;
let qHi = 0;
let rLo = 0;
let rHi = 0;

/**
 * Unsigned (n3:n2:n1:n0) / (dHi:dLo), the caller having checked (n3:n2) < (dHi:dLo) so the
 * quotient fits in 64 bits. Results in qLo/qHi/rLo/rHi.
 */
export function divU128(n3: number, n2: number, n1: number, n0: number, dLo: number, dHi: number): void {
  if (dHi === 0) {
    // 16-bit digits: remainder < 2^32, so r * 2^16 + digit < 2^48 stays exact.
    const dv = dLo >>> 0;
    // The precondition makes n3 = 0 and n2 < dLo: start with the remainder n2.
    let r = n2 >>> 0;
    let q1 = 0;
    let q0 = 0;
    for (let k = 3; k >= 0; k--) {
      const word = k >= 2 ? n1 : n0;
      const digit = (k & 1) === 1 ? word >>> 16 : word & 0xffff;
      const cur = r * 65536 + digit;
      const q = Math.floor(cur / dv);
      r = cur - q * dv;
      if (k >= 2) q1 = (q1 << 16) | q;
      else q0 = (q0 << 16) | q;
    }
    qLo = q0 | 0;
    qHi = q1 | 0;
    rLo = r | 0;
    rHi = 0;
    return;
  }
  // Restoring division, one quotient bit per step; the remainder (r1:r0) plus a carry bit.
  let r0 = n2;
  let r1 = n3;
  let x0 = n0;
  let x1 = n1;
  let q0 = 0;
  let q1 = 0;
  for (let i = 0; i < 64; i++) {
    const carry = r1 >>> 31;
    r1 = (r1 << 1) | (r0 >>> 31);
    r0 = (r0 << 1) | (x1 >>> 31);
    x1 = (x1 << 1) | (x0 >>> 31);
    x0 <<= 1;
    q1 = (q1 << 1) | (q0 >>> 31);
    q0 <<= 1;
    if (carry !== 0 || (r1 >>> 0) > (dHi >>> 0) || ((r1 >>> 0) === (dHi >>> 0) && (r0 >>> 0) >= (dLo >>> 0))) {
      const s = (r0 >>> 0) - (dLo >>> 0);
      r0 = s | 0;
      r1 = (r1 - dHi - (s < 0 ? 1 : 0)) | 0;
      q0 |= 1;
    }
  }
  qLo = q0;
  qHi = q1;
  rLo = r0;
  rHi = r1;
}

// ---- flags ---------------------------------------------------------------------------------------

const SIZE = [1, 2, 4, 4] as const;

/** MUL/IMUL flags: CF = OF = `ov`; see the file comment for the rest. */
function mulFlags(cpu: Cpu, o: number, ov: number, lo: number, hi: number): void {
  if (cpu.model.vendor === 'amd') {
    cpu.fAux = (cpu.fAux & ~(AUX_CF | AUX_PO)) | (ov << 31);
  } else if (o === 3) {
    flagsResult64(cpu, lo, hi, ov, ov, 0);
  } else {
    flagsResult(cpu, SIZE[o]!, lo, ov, ov, 0);
  }
}

/** DIV/IDIV flags (after a successful division). */
function divFlags(cpu: Cpu): void {
  if (cpu.model.vendor !== 'amd') return;
  const cf = cpu.fAux >>> 31;
  const of = (cpu.fAux ^ (cpu.fAux << 1)) >>> 31;
  setArithFlags(cpu, cf | 0x10 | (of << 11));
}

// ---- one-operand MUL / IMUL ------------------------------------------------------------------

function mul1(cpu: Cpu, d: number, signed: boolean): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const g = cpu.gpr;
  switch (o) {
    case 0: {
      const a = g[0]! & 0xff;
      const p = signed ? ((a << 24) >> 24) * ((b << 24) >> 24) : a * b;
      g[0] = (g[0]! & ~0xffff) | (p & 0xffff);
      const ov = signed ? (((p << 24) >> 24) !== p ? 1 : 0) : (p & 0xff00) !== 0 ? 1 : 0;
      mulFlags(cpu, 0, ov, p, 0);
      return;
    }
    case 1: {
      const a = g[0]! & 0xffff;
      const p = signed ? ((a << 16) >> 16) * ((b << 16) >> 16) : a * b;
      g[0] = (g[0]! & ~0xffff) | (p & 0xffff);
      g[2] = (g[2]! & ~0xffff) | ((p >>> 16) & 0xffff);
      const ov = signed ? (((p << 16) >> 16) !== p ? 1 : 0) : (p >>> 16) !== 0 ? 1 : 0;
      mulFlags(cpu, 1, ov, p, 0);
      return;
    }
    case 2: {
      const a = g[0]!;
      const lo = mulU32(a, b);
      let hi = mHi;
      if (signed) {
        if (a < 0) hi = (hi - b) | 0;
        if (b < 0) hi = (hi - a) | 0;
      }
      cpu.setReg32(0, lo);
      cpu.setReg32(2, hi);
      const ov = signed ? (hi !== lo >> 31 ? 1 : 0) : hi !== 0 ? 1 : 0;
      mulFlags(cpu, 2, ov, lo, 0);
      return;
    }
    default: {
      const aLo = g[0]!;
      const aHi = cpu.gprHi[0]!;
      if (signed) mulS64(aLo, aHi, b, bHi);
      else mulU64(aLo, aHi, b, bHi);
      cpu.setReg64(0, w0, w1);
      cpu.setReg64(2, w2, w3);
      const ov = signed ? (w2 !== w1 >> 31 || w3 !== w1 >> 31 ? 1 : 0) : (w2 | w3) !== 0 ? 1 : 0;
      mulFlags(cpu, 3, ov, w0, w1);
    }
  }
}

// ---- two- and three-operand IMUL ---------------------------------------------------------------

/** dst = a * b truncated to the operand size; CF = OF = the product did not fit. */
function imulInto(cpu: Cpu, reg: number, o: number, a: number, aHi: number, b: number, bHi: number): void {
  if (o === 1) {
    const p = ((a << 16) >> 16) * ((b << 16) >> 16);
    writeReg(cpu, reg, 1, p, 0);
    mulFlags(cpu, 1, ((p << 16) >> 16) !== p ? 1 : 0, p, 0);
  } else if (o === 2) {
    const lo = mulU32(a, b);
    let hi = mHi;
    if (a < 0) hi = (hi - b) | 0;
    if (b < 0) hi = (hi - a) | 0;
    writeReg(cpu, reg, 2, lo, 0);
    mulFlags(cpu, 2, hi !== lo >> 31 ? 1 : 0, lo, 0);
  } else {
    mulS64(a, aHi, b, bHi);
    writeReg(cpu, reg, 3, w0, w1);
    mulFlags(cpu, 3, w2 !== w1 >> 31 || w3 !== w1 >> 31 ? 1 : 0, w0, w1);
  }
}

/** IMUL reg, r/m (0F AF). */
function imul2(cpu: Cpu, d: number): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const a = readReg(cpu, reg, o);
  imulInto(cpu, reg, o, a, cpu.hi, b, bHi);
}

/** IMUL reg, r/m, imm (69: imm16/imm32; 6B: imm8), the immediate sign-extended. */
function imul3(cpu: Cpu, d: number, imm8: boolean): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  let imm = cpu.rec[d + R_IMM]!;
  if (imm8) imm = (imm << 24) >> 24;
  else if (o === 1) imm = (imm << 16) >> 16;
  const a = readRm(cpu, d, o);
  imulInto(cpu, reg, o, a, cpu.hi, imm, imm >> 31);
}

// ---- DIV / IDIV ----------------------------------------------------------------------------------

function divide(cpu: Cpu, d: number, signed: boolean): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const g = cpu.gpr;
  switch (o) {
    case 0: {
      const n = g[0]! & 0xffff;
      if ((b & 0xff) === 0) cpu.raise(Vector.DE);
      let q: number;
      let r: number;
      if (signed) {
        const sn = (n << 16) >> 16;
        const sd = (b << 24) >> 24;
        q = Math.trunc(sn / sd);
        r = sn - q * sd;
        if (q > 127 || q < -128) cpu.raise(Vector.DE);
      } else {
        q = Math.floor(n / b);
        r = n - q * b;
        if (q > 0xff) cpu.raise(Vector.DE);
      }
      g[0] = (g[0]! & ~0xffff) | (q & 0xff) | ((r & 0xff) << 8);
      break;
    }
    case 1: {
      const n = ((g[2]! & 0xffff) << 16) | (g[0]! & 0xffff);
      if ((b & 0xffff) === 0) cpu.raise(Vector.DE);
      let q: number;
      let r: number;
      if (signed) {
        const sd = (b << 16) >> 16;
        q = Math.trunc(n / sd);
        r = n - q * sd;
        if (q > 32767 || q < -32768) cpu.raise(Vector.DE);
      } else {
        const un = n >>> 0;
        q = Math.floor(un / b);
        r = un - q * b;
        if (q > 0xffff) cpu.raise(Vector.DE);
      }
      g[0] = (g[0]! & ~0xffff) | (q & 0xffff);
      g[2] = (g[2]! & ~0xffff) | (r & 0xffff);
      break;
    }
    case 2: {
      if (b === 0) cpu.raise(Vector.DE);
      let nLo = g[0]!;
      let nHi = g[2]!;
      if (!signed) {
        if ((nHi >>> 0) >= (b >>> 0)) cpu.raise(Vector.DE);
        divU128(0, 0, nHi, nLo, b, 0);
        cpu.setReg32(0, qLo);
        cpu.setReg32(2, rLo);
        break;
      }
      const nNeg = nHi < 0;
      if (nNeg) {
        nLo = -nLo | 0;
        nHi = (~nHi + (nLo === 0 ? 1 : 0)) | 0;
      }
      const dNeg = b < 0;
      const ud = dNeg ? -b | 0 : b;
      if ((nHi >>> 0) >= (ud >>> 0)) cpu.raise(Vector.DE);
      divU128(0, 0, nHi, nLo, ud, 0);
      // |quotient| < 2^32 here; it must fit in a signed 32-bit result.
      const qNeg = nNeg !== dNeg;
      if (qNeg ? (qLo >>> 0) > 0x8000_0000 : (qLo >>> 0) > 0x7fff_ffff) cpu.raise(Vector.DE);
      cpu.setReg32(0, qNeg ? -qLo | 0 : qLo);
      cpu.setReg32(2, nNeg ? -rLo | 0 : rLo);
      break;
    }
    default: {
      if ((b | bHi) === 0) cpu.raise(Vector.DE);
      let n0 = g[0]!;
      let n1 = cpu.gprHi[0]!;
      let n2 = g[2]!;
      let n3 = cpu.gprHi[2]!;
      if (!signed) {
        if ((n3 >>> 0) > (bHi >>> 0) || ((n3 >>> 0) === (bHi >>> 0) && (n2 >>> 0) >= (b >>> 0))) cpu.raise(Vector.DE);
        divU128(n3, n2, n1, n0, b, bHi);
        cpu.setReg64(0, qLo, qHi);
        cpu.setReg64(2, rLo, rHi);
        break;
      }
      const nNeg = n3 < 0;
      if (nNeg) {
        // 128-bit negate.
        n0 = ~n0;
        n1 = ~n1;
        n2 = ~n2;
        n3 = ~n3;
        n0 = (n0 + 1) | 0;
        if (n0 === 0) {
          n1 = (n1 + 1) | 0;
          if (n1 === 0) {
            n2 = (n2 + 1) | 0;
            if (n2 === 0) n3 = (n3 + 1) | 0;
          }
        }
      }
      const dNeg = bHi < 0;
      let dLo = b;
      let dHi = bHi;
      if (dNeg) {
        dLo = -b | 0;
        dHi = (~bHi + (dLo === 0 ? 1 : 0)) | 0;
      }
      if ((n3 >>> 0) > (dHi >>> 0) || ((n3 >>> 0) === (dHi >>> 0) && (n2 >>> 0) >= (dLo >>> 0))) cpu.raise(Vector.DE);
      divU128(n3, n2, n1, n0, dLo, dHi);
      const qNeg = nNeg !== dNeg;
      // The magnitude must be <= 2^63 (negative) or < 2^63 (positive).
      if (qHi < 0 && !(qNeg && qHi === (0x8000_0000 | 0) && qLo === 0)) cpu.raise(Vector.DE);
      let oLo = qLo;
      let oHi = qHi;
      if (qNeg) {
        oLo = -qLo | 0;
        oHi = (~qHi + (oLo === 0 ? 1 : 0)) | 0;
      }
      let sLo = rLo;
      let sHi = rHi;
      if (nNeg) {
        sLo = -rLo | 0;
        sHi = (~rHi + (sLo === 0 ? 1 : 0)) | 0;
      }
      cpu.setReg64(0, oLo, oHi);
      cpu.setReg64(2, sLo, sHi);
    }
  }
  divFlags(cpu);
}

export function installMulDiv(): void {
  const mul = defineHandler('mul', (cpu, d) => mul1(cpu, d, false));
  const imul = defineHandler('imul', (cpu, d) => mul1(cpu, d, true));
  const div = defineHandler('div', (cpu, d) => divide(cpu, d, false));
  const idiv = defineHandler('idiv', (cpu, d) => divide(cpu, d, true));
  for (const op of [0xf6, 0xf7]) {
    setOp(OpMap.One, op, mul, { reg: 4 });
    setOp(OpMap.One, op, imul, { reg: 5 });
    setOp(OpMap.One, op, div, { reg: 6 });
    setOp(OpMap.One, op, idiv, { reg: 7 });
  }
  setOp(OpMap.Two, 0xaf, defineHandler('imul reg,rm', imul2));
  setOp(OpMap.One, 0x69, defineHandler('imul reg,rm,imm', (cpu, d) => imul3(cpu, d, false)));
  setOp(OpMap.One, 0x6b, defineHandler('imul reg,rm,imm8', (cpu, d) => imul3(cpu, d, true)));
}
