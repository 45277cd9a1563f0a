/**
 * BMI1 and BMI2 (VEX-encoded general-purpose instructions; SDM Vol. 2 instruction pages, AMD
 * APM Vol. 3): ANDN, BEXTR, BLSI, BLSMSK, BLSR, BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX.
 *
 * All take 32-bit operands, or 64-bit with VEX.W in 64-bit mode (VEX.W is ignored elsewhere:
 * the decoder then gives a 32-bit operand size). VEX.L = 1 is #UD, and so is a VEX.vvvv other
 * than 1111b for RORX, which has no vvvv operand. R_IMM2 holds vvvv | L << 4.
 *
 * Flags the SDM leaves undefined, as measured on AMD (the differential oracle), for both
 * vendors: PF from the result's low byte, AF = 0, SF/ZF from the result (BEXTR: AF = 1, SF = 0).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as muldivNs from './muldiv.js';
import * as operandsNs from './operands.js';
import * as wideNs from './wide.js';
import { Cpuid7Ebx } from '../model.js';
import type { Handler } from '../optable.js';
import { gated } from './feature.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_IMM2, R_INFO, R_REG } = decodedNs;
const { PARITY, setArithFlags } = flagsNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { mulHigh, mulU32, mulU64, productWord } = muldivNs;
const { readReg, readRm, writeReg } = operandsNs;
const { shl64, shr64, wide } = wideNs;

/** Checks VEX.L (and, when `noV`, that vvvv is unused) and returns the operand size code: 2 or 3. */
function vexOsz(cpu: Cpu, d: number, noV: boolean): number {
  // VEX-encoded instructions are #UD in real-address and virtual-8086 mode (SDM Vol. 2 §2.3.x
  // exception class tables: "#UD if in real-address or virtual-8086 mode").
  if ((cpu.cr0 & 1) === 0 || (cpu.flags & (1 << 17)) !== 0) cpu.ud();
  const v = cpu.rec[d + R_IMM2]!;
  if ((v & 0x10) !== 0 || (noV && (v & 0xf) !== 0)) cpu.ud();
  return ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3 ? 3 : 2;
}

function vvvv(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_IMM2]! & 0xf;
}

/** Flags from a 32/64-bit result: SF, ZF, PF from it, the given CF and AF, OF = 0. */
function resultFlags(cpu: Cpu, o: number, lo: number, hi: number, cf: number, af = 0, noSf = false): void {
  const sf = noSf ? 0 : o === 3 ? hi >>> 31 : lo >>> 31;
  const zf = (o === 3 ? lo | hi : lo) === 0 ? 1 : 0;
  setArithFlags(cpu, cf | (PARITY[lo & 0xff]! << 2) | (af << 4) | (zf << 6) | (sf << 7));
}

/** ANDN r, vvvv, r/m (VEX.0F38 F2): dst = ~src1 & src2. */
function andn(cpu: Cpu, d: number): void {
  const o = vexOsz(cpu, d, false);
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const a = readReg(cpu, vvvv(cpu, d), o);
  const aHi = o === 3 ? cpu.hi : 0;
  const lo = ~a & b;
  const hi = o === 3 ? ~aHi & bHi : 0;
  writeReg(cpu, cpu.rec[d + R_REG]!, o, lo, hi);
  resultFlags(cpu, o, lo, hi, 0);
}


/** Keeps the low `n` bits (n >= 64 keeps all) into wide.lo/wide.hi. */
function lowBits(lo: number, hi: number, n: number): void {
  if (n >= 64) {
    wide.lo = lo;
    wide.hi = hi;
  } else if (n >= 32) {
    wide.lo = lo;
    wide.hi = n === 32 ? 0 : hi & (-1 >>> (64 - n));
  } else {
    wide.lo = n === 0 ? 0 : lo & (-1 >>> (32 - n));
    wide.hi = 0;
  }
}

/** BEXTR r, r/m, vvvv (VEX.0F38 F7, no prefix): start = ctl[7:0], length = ctl[15:8]. */
function bextr(cpu: Cpu, d: number): void {
  const o = vexOsz(cpu, d, false);
  const src = readRm(cpu, d, o);
  const srcHi = o === 3 ? cpu.hi : 0;
  const ctl = readReg(cpu, vvvv(cpu, d), o);
  const start = ctl & 0xff;
  const len = (ctl >>> 8) & 0xff;
  const width = o === 3 ? 64 : 32;
  let lo = 0;
  let hi = 0;
  if (start < width) {
    if (o === 3) shr64(src, srcHi, start);
    else {
      wide.lo = src >>> start;
      wide.hi = 0;
    }
    lowBits(wide.lo, wide.hi, len);
    lo = wide.lo;
    hi = wide.hi;
  }
  writeReg(cpu, cpu.rec[d + R_REG]!, o, lo, hi);
  resultFlags(cpu, o, lo, hi, 0, 1, true);
}

/** BLSR (/1), BLSMSK (/2), BLSI (/3): VEX.0F38 F3, destination vvvv. */
function blsGroup(cpu: Cpu, d: number, kind: number): void {
  const o = vexOsz(cpu, d, false);
  const s = readRm(cpu, d, o);
  const sHi = o === 3 ? cpu.hi : 0;
  // s - 1 as 64-bit.
  const mLo = (s - 1) | 0;
  const mHi = o === 3 ? (s === 0 ? (sHi - 1) | 0 : sHi) : 0;
  const zero = (s | sHi) === 0 ? 1 : 0;
  let lo: number;
  let hi: number;
  let cf: number;
  if (kind === 1) {
    lo = s & mLo;
    hi = sHi & mHi;
    cf = zero;
  } else if (kind === 2) {
    lo = s ^ mLo;
    hi = o === 3 ? sHi ^ mHi : 0;
    cf = zero;
  } else {
    // -s & s
    const nLo = -s | 0;
    const nHi = o === 3 ? (~sHi + (s === 0 ? 1 : 0)) | 0 : 0;
    lo = s & nLo;
    hi = sHi & nHi;
    cf = zero ^ 1;
  }
  writeReg(cpu, vvvv(cpu, d), o, lo, hi);
  resultFlags(cpu, o, lo, hi, cf);
}

/** BZHI r, r/m, vvvv (VEX.0F38 F5, no prefix): zero the bits from index ctl[7:0] up. */
function bzhi(cpu: Cpu, d: number): void {
  const o = vexOsz(cpu, d, false);
  const src = readRm(cpu, d, o);
  const srcHi = o === 3 ? cpu.hi : 0;
  const n = readReg(cpu, vvvv(cpu, d), o) & 0xff;
  const width = o === 3 ? 64 : 32;
  lowBits(src, srcHi, n);
  const lo = wide.lo;
  const hi = o === 3 ? wide.hi : 0;
  writeReg(cpu, cpu.rec[d + R_REG]!, o, lo, hi);
  resultFlags(cpu, o, lo, hi, n > width - 1 ? 1 : 0);
}

/** MULX hi, lo(vvvv), r/m (VEX.F2.0F38 F6): unsigned rDX * r/m, no flags. The high half is written last. */
function mulx(cpu: Cpu, d: number): void {
  const o = vexOsz(cpu, d, false);
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const reg = cpu.rec[d + R_REG]!;
  const v = vvvv(cpu, d);
  if (o === 2) {
    const lo = mulU32(cpu.gpr[2]!, b);
    const hi = mulHigh();
    writeReg(cpu, v, 2, lo, 0);
    writeReg(cpu, reg, 2, hi, 0);
  } else {
    mulU64(cpu.gpr[2]!, cpu.gprHi[2]!, b, bHi);
    writeReg(cpu, v, 3, productWord(0), productWord(1));
    writeReg(cpu, reg, 3, productWord(2), productWord(3));
  }
}

/** PDEP (VEX.F2.0F38 F5) / PEXT (VEX.F3.0F38 F5): r = deposit/extract of vvvv through mask r/m. */
function pdepPext(cpu: Cpu, d: number, extract: boolean): void {
  const o = vexOsz(cpu, d, false);
  const mLo0 = readRm(cpu, d, o);
  const mHi0 = o === 3 ? cpu.hi : 0;
  const sLo = readReg(cpu, vvvv(cpu, d), o);
  const sHi = o === 3 ? cpu.hi : 0;
  let rLo = 0;
  let rHi = 0;
  let k = 0; // running bit index in the packed value
  for (let half = 0; half < 2; half++) {
    let m = half === 0 ? mLo0 : mHi0;
    while (m !== 0) {
      const low = m & -m;
      const pos = 31 - Math.clz32(low) + half * 32;
      m ^= low;
      if (extract) {
        const bitv = pos < 32 ? (sLo >>> pos) & 1 : (sHi >>> (pos - 32)) & 1;
        if (bitv !== 0) {
          if (k < 32) rLo |= 1 << k;
          else rHi |= 1 << (k - 32);
        }
      } else {
        const bitv = k < 32 ? (sLo >>> k) & 1 : (sHi >>> (k - 32)) & 1;
        if (bitv !== 0) {
          if (pos < 32) rLo |= 1 << pos;
          else rHi |= 1 << (pos - 32);
        }
      }
      k++;
    }
  }
  writeReg(cpu, cpu.rec[d + R_REG]!, o, rLo, rHi);
}

/** RORX r, r/m, imm8 (VEX.F2.0F3A F0): rotate right, no flags. */
function rorx(cpu: Cpu, d: number): void {
  const o = vexOsz(cpu, d, true);
  const lo = readRm(cpu, d, o);
  const hi = cpu.hi;
  const imm = cpu.rec[d + R_IMM]!;
  if (o === 2) {
    const c = imm & 31;
    writeReg(cpu, cpu.rec[d + R_REG]!, 2, (lo >>> c) | (lo << (32 - c)), 0);
    return;
  }
  const c = imm & 63;
  shr64(lo, hi, c);
  const aLo = wide.lo;
  const aHi = wide.hi;
  shl64(lo, hi, (64 - c) & 63);
  writeReg(cpu, cpu.rec[d + R_REG]!, 3, c === 0 ? lo : aLo | wide.lo, c === 0 ? hi : aHi | wide.hi);
}

/** SHLX (66), SARX (F3), SHRX (F2): VEX.0F38 F7 r, r/m, vvvv; count masked; no flags. */
function shiftX(cpu: Cpu, d: number, kind: number): void {
  const o = vexOsz(cpu, d, false);
  const lo = readRm(cpu, d, o);
  const hi = cpu.hi;
  const cnt = readReg(cpu, vvvv(cpu, d), o);
  const reg = cpu.rec[d + R_REG]!;
  if (o === 2) {
    const c = cnt & 31;
    writeReg(cpu, reg, 2, kind === 0 ? lo << c : kind === 1 ? lo >> c : lo >>> c, 0);
    return;
  }
  const c = cnt & 63;
  if (kind === 0) shl64(lo, hi, c);
  else if (kind === 2) shr64(lo, hi, c);
  else if (c < 32) {
    wide.lo = c === 0 ? lo : (lo >>> c) | (hi << (32 - c));
    wide.hi = hi >> c;
  } else {
    wide.lo = hi >> (c - 32);
    wide.hi = hi >> 31;
  }
  writeReg(cpu, reg, 3, wide.lo, wide.hi);
}

export function installBmi(): void {
  const b1 = (fn: Handler): Handler => gated('leaf7Ebx', Cpuid7Ebx.BMI1, fn);
  const b2 = (fn: Handler): Handler => gated('leaf7Ebx', Cpuid7Ebx.BMI2, fn);
  setOp(OpMap.Vex38, 0xf2, defineHandler('andn', b1(andn)), { prefix: Pfx.None });
  setOp(OpMap.Vex38, 0xf3, defineHandler('blsr', b1((cpu, d) => blsGroup(cpu, d, 1))), { prefix: Pfx.None, reg: 1 });
  setOp(OpMap.Vex38, 0xf3, defineHandler('blsmsk', b1((cpu, d) => blsGroup(cpu, d, 2))), { prefix: Pfx.None, reg: 2 });
  setOp(OpMap.Vex38, 0xf3, defineHandler('blsi', b1((cpu, d) => blsGroup(cpu, d, 3))), { prefix: Pfx.None, reg: 3 });
  setOp(OpMap.Vex38, 0xf5, defineHandler('bzhi', b2(bzhi)), { prefix: Pfx.None });
  setOp(OpMap.Vex38, 0xf5, defineHandler('pext', b2((cpu, d) => pdepPext(cpu, d, true))), { prefix: Pfx.F3 });
  setOp(OpMap.Vex38, 0xf5, defineHandler('pdep', b2((cpu, d) => pdepPext(cpu, d, false))), { prefix: Pfx.F2 });
  setOp(OpMap.Vex38, 0xf6, defineHandler('mulx', b2(mulx)), { prefix: Pfx.F2 });
  setOp(OpMap.Vex38, 0xf7, defineHandler('bextr', b1(bextr)), { prefix: Pfx.None });
  setOp(OpMap.Vex38, 0xf7, defineHandler('shlx', b2((cpu, d) => shiftX(cpu, d, 0))), { prefix: Pfx.P66 });
  setOp(OpMap.Vex38, 0xf7, defineHandler('sarx', b2((cpu, d) => shiftX(cpu, d, 1))), { prefix: Pfx.F3 });
  setOp(OpMap.Vex38, 0xf7, defineHandler('shrx', b2((cpu, d) => shiftX(cpu, d, 2))), { prefix: Pfx.F2 });
  setOp(OpMap.Vex3A, 0xf0, defineHandler('rorx', b2(rorx)), { prefix: Pfx.F2 });
}
