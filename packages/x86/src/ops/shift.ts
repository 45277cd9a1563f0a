/**
 * Shifts and rotates: group 2 (C0, C1, D0-D3: ROL, ROR, RCL, RCR, SHL/SAL, SHR, /6 = SAL alias,
 * SAR) and the double-precision shifts SHLD/SHRD (0F A4/A5/AC/AD) (SDM Vol. 2 "RCL/RCR/ROL/ROR",
 * "SAL/SAR/SHL/SHR", "SHLD", "SHRD"; AMD APM Vol. 3 ch. 3).
 *
 * Counts are masked to 5 bits (6 with a 64-bit operand); a masked count of 0 changes no flag,
 * though a memory operand is still accessed (read with write intent, as the #PF error code of
 * hardware shows) and a 32-bit register destination is still written, i.e. zero-extended. RCL/RCR rotate through CF over 9 (8-bit) or 17 (16-bit)
 * bits, so their count is the masked count modulo 9 or 17.
 *
 * Flags the SDM leaves undefined follow measured hardware (the differential oracle):
 * - shifts: AF = 1 on AMD (Intel: 0); OF for counts > 1 is computed by the count-1 formula on
 *   the final result: SHL: MSB(result) XOR CF; SHR: the top two result bits XORed (0 for
 *   counts > 1); SAR: 0;
 * - rotates change only CF and OF, OF by the count-1 formula on the final result (ROL/RCL:
 *   MSB XOR CF; ROR/RCR: the top two bits XORed), also when the rotate count modulo the width
 *   (ROL/ROR) or width + 1 (RCL/RCR) is 0 but the masked count is not;
 * - SHLD/SHRD: AF as for shifts, OF as SHL/SHR (16-bit SHLD by 16: OF = CF); 16-bit counts of 17-31 shift the source
 *   through itself (AMD: result = SHLD(src, src, count - 16), CF = 0, OF = 0 for SHLD; SHRD
 *   likewise with OF from the result). Intel differs for those counts (the result is
 *   undefined there; we use the AMD behaviour for both vendors).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as operandsNs from './operands.js';
import * as wideNs from './wide.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_INFO, R_REG } = decodedNs;
const { AUX_CF, AUX_PO, flagsResult, flagsResult64 } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { readReg, readRmw, writeBack } = operandsNs;
const { shl64, shr64, wide } = wideNs;

/** Group 2 operations (ModRM.reg). */
export const Shift = { ROL: 0, ROR: 1, RCL: 2, RCR: 3, SHL: 4, SHR: 5, SAL: 6, SAR: 7 } as const;

const WIDTH = [8, 16, 32, 64] as const;
const MASK = [0xff, 0xffff, -1, -1] as const;
const SIZE = [1, 2, 4, 4] as const;


/** Bit `b` (0..63) of (lo, hi). */
function bit64(lo: number, hi: number, b: number): number {
  return b < 32 ? (lo >>> b) & 1 : (hi >>> (b - 32)) & 1;
}

function amdAf(cpu: Cpu): number {
  return cpu.model.vendor === 'amd' ? 1 : 0;
}

/** Replaces CF and OF only (rotates). */
function setCfOf(cpu: Cpu, cf: number, of: number): void {
  cpu.fAux = (cpu.fAux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

/**
 * Group 2 on an 8/16/32-bit value `v` (zero-extended for 8/16; any 32-bit form for 32), count
 * 1..31 (already masked). Writes the result back, then sets the flags.
 */
function group2Narrow(cpu: Cpu, d: number, op: number, o: number, v: number, count: number): void {
  const w = WIDTH[o]!;
  const mask = MASK[o]!;
  const top = w - 1;
  const vu = (v & mask) >>> 0;
  let r: number;
  let cf: number;
  switch (op) {
    case Shift.ROL: {
      const c = count & top;
      r = ((vu << c) | (vu >>> (w - c))) & mask;
      writeBack(cpu, d, o, r, 0);
      cf = r & 1;
      setCfOf(cpu, cf, ((r >>> top) & 1) ^ cf);
      return;
    }
    case Shift.ROR: {
      const c = count & top;
      r = ((vu >>> c) | (vu << (w - c))) & mask;
      writeBack(cpu, d, o, r, 0);
      cf = (r >>> top) & 1;
      setCfOf(cpu, cf, cf ^ ((r >>> (top - 1)) & 1));
      return;
    }
    case Shift.RCL: {
      const cin = cpu.fAux >>> 31;
      const c = w === 8 ? count % 9 : w === 16 ? count % 17 : count;
      if (c === 0) {
        r = vu;
        cf = cin;
      } else if (w < 32) {
        const x = vu | (cin << w);
        const m = (1 << (w + 1)) - 1;
        const x2 = ((x << c) | (x >>> (w + 1 - c))) & m;
        r = x2 & mask;
        cf = x2 >>> w;
      } else {
        r = (vu << c) | (cin << (c - 1)) | (c === 1 ? 0 : vu >>> (33 - c));
        cf = (vu >>> (32 - c)) & 1;
      }
      writeBack(cpu, d, o, r, 0);
      setCfOf(cpu, cf, ((r >>> top) & 1) ^ cf);
      return;
    }
    case Shift.RCR: {
      const cin = cpu.fAux >>> 31;
      const c = w === 8 ? count % 9 : w === 16 ? count % 17 : count;
      if (c === 0) {
        r = vu;
        cf = cin;
      } else if (w < 32) {
        const x = vu | (cin << w);
        const m = (1 << (w + 1)) - 1;
        const x2 = ((x >>> c) | (x << (w + 1 - c))) & m;
        r = x2 & mask;
        cf = x2 >>> w;
      } else {
        r = (vu >>> c) | (cin << (32 - c)) | (c === 1 ? 0 : vu << (33 - c));
        cf = (vu >>> (c - 1)) & 1;
      }
      writeBack(cpu, d, o, r, 0);
      setCfOf(cpu, cf, ((r >>> top) ^ (r >>> (top - 1))) & 1);
      return;
    }
    case Shift.SHL:
    case Shift.SAL: {
      r = (vu << count) & mask;
      cf = count <= w ? (vu >>> (w - count)) & 1 : 0;
      writeBack(cpu, d, o, r, 0);
      flagsResult(cpu, SIZE[o]!, r, cf, ((r >>> top) & 1) ^ cf, amdAf(cpu));
      return;
    }
    case Shift.SHR: {
      r = vu >>> count;
      cf = count <= w ? (vu >>> (count - 1)) & 1 : 0;
      writeBack(cpu, d, o, r, 0);
      flagsResult(cpu, SIZE[o]!, r, cf, ((r >>> top) ^ (r >>> (top - 1))) & 1, amdAf(cpu));
      return;
    }
    default: {
      // SAR
      const sv = (vu << (32 - w)) >> (32 - w);
      r = (sv >> count) & mask;
      cf = (sv >> (count - 1)) & 1;
      writeBack(cpu, d, o, r, 0);
      flagsResult(cpu, SIZE[o]!, r, cf, 0, amdAf(cpu));
    }
  }
}

/** Group 2 on a 64-bit value (lo, hi), count 1..63. */
function group2Wide(cpu: Cpu, d: number, op: number, lo: number, hi: number, count: number): void {
  let rLo: number;
  let rHi: number;
  let cf: number;
  switch (op) {
    case Shift.ROL:
    case Shift.ROR: {
      const c = op === Shift.ROL ? count : 64 - count;
      shl64(lo, hi, c);
      rLo = wide.lo;
      rHi = wide.hi;
      shr64(lo, hi, 64 - c);
      rLo |= wide.lo;
      rHi |= wide.hi;
      writeBack(cpu, d, 3, rLo, rHi);
      if (op === Shift.ROL) {
        cf = rLo & 1;
        setCfOf(cpu, cf, (rHi >>> 31) ^ cf);
      } else {
        cf = rHi >>> 31;
        setCfOf(cpu, cf, cf ^ ((rHi >>> 30) & 1));
      }
      return;
    }
    case Shift.RCL: {
      const cin = cpu.fAux >>> 31;
      shl64(lo, hi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      shr64(lo, hi, 65 - count);
      rLo |= wide.lo;
      rHi |= wide.hi;
      if (count <= 32) rLo |= cin << (count - 1);
      else rHi |= cin << (count - 33);
      cf = bit64(lo, hi, 64 - count);
      writeBack(cpu, d, 3, rLo, rHi);
      setCfOf(cpu, cf, (rHi >>> 31) ^ cf);
      return;
    }
    case Shift.RCR: {
      const cin = cpu.fAux >>> 31;
      shr64(lo, hi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      shl64(lo, hi, 65 - count);
      rLo |= wide.lo;
      rHi |= wide.hi;
      const b = 64 - count;
      if (b < 32) rLo |= cin << b;
      else rHi |= cin << (b - 32);
      cf = bit64(lo, hi, count - 1);
      writeBack(cpu, d, 3, rLo, rHi);
      setCfOf(cpu, cf, ((rHi >>> 31) ^ (rHi >>> 30)) & 1);
      return;
    }
    case Shift.SHL:
    case Shift.SAL:
      shl64(lo, hi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      cf = bit64(lo, hi, 64 - count);
      writeBack(cpu, d, 3, rLo, rHi);
      flagsResult64(cpu, rLo, rHi, cf, (rHi >>> 31) ^ cf, amdAf(cpu));
      return;
    case Shift.SHR:
      shr64(lo, hi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      cf = bit64(lo, hi, count - 1);
      writeBack(cpu, d, 3, rLo, rHi);
      flagsResult64(cpu, rLo, rHi, cf, ((rHi >>> 31) ^ (rHi >>> 30)) & 1, amdAf(cpu));
      return;
    default: {
      // SAR
      if (count < 32) {
        rLo = (lo >>> count) | (hi << (32 - count));
        rHi = hi >> count;
      } else {
        rLo = hi >> (count - 32);
        rHi = hi >> 31;
      }
      cf = bit64(lo, hi, count - 1);
      writeBack(cpu, d, 3, rLo, rHi);
      flagsResult64(cpu, rLo, rHi, cf, 0, amdAf(cpu));
    }
  }
}

/** Count sources: 1 (D0/D1), CL (D2/D3), imm8 (C0/C1). */
const CountKind = { One: 0, Cl: 1, Imm: 2 } as const;

function group2(cpu: Cpu, d: number, op: number, kind: number): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  let count = kind === CountKind.One ? 1 : kind === CountKind.Cl ? cpu.gpr[1]! : rec[d + R_IMM]!;
  count &= o === 3 ? 63 : 31;
  const v = readRmw(cpu, d, o);
  if (count === 0) {
    // A 32-bit register destination is still written (zero-extended), as on hardware.
    if (o === 2) writeBack(cpu, d, 2, v, 0);
    return;
  }
  if (o === 3) group2Wide(cpu, d, op, v, cpu.hi, count);
  else group2Narrow(cpu, d, op, o, v, count);
}

/**
 * SHLD/SHRD r/m, reg, imm8/CL. `left` selects SHLD. Flags: see the file comment.
 */
function shiftDouble(cpu: Cpu, d: number, left: boolean, useCl: boolean): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  let count = useCl ? cpu.gpr[1]! : rec[d + R_IMM]!;
  count &= o === 3 ? 63 : 31;
  const dst = readRmw(cpu, d, o);
  const dstHi = cpu.hi;
  const src = readReg(cpu, rec[d + R_REG]!, o);
  const srcHi = cpu.hi;
  if (count === 0) {
    if (o === 2) writeBack(cpu, d, 2, dst, 0);
    return;
  }
  const af = amdAf(cpu);
  if (o === 3) {
    let rLo: number;
    let rHi: number;
    let cf: number;
    if (left) {
      shl64(dst, dstHi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      shr64(src, srcHi, 64 - count);
      rLo |= wide.lo;
      rHi |= wide.hi;
      cf = bit64(dst, dstHi, 64 - count);
      writeBack(cpu, d, 3, rLo, rHi);
      flagsResult64(cpu, rLo, rHi, cf, (rHi >>> 31) ^ cf, af);
    } else {
      shr64(dst, dstHi, count);
      rLo = wide.lo;
      rHi = wide.hi;
      shl64(src, srcHi, 64 - count);
      rLo |= wide.lo;
      rHi |= wide.hi;
      cf = bit64(dst, dstHi, count - 1);
      writeBack(cpu, d, 3, rLo, rHi);
      flagsResult64(cpu, rLo, rHi, cf, ((rHi >>> 31) ^ (rHi >>> 30)) & 1, af);
    }
    return;
  }
  let r: number;
  let cf: number;
  let of: number;
  if (o === 2) {
    if (left) {
      r = (dst << count) | (src >>> (32 - count));
      cf = (dst >>> (32 - count)) & 1;
      of = (r >>> 31) ^ cf;
    } else {
      r = (dst >>> count) | (src << (32 - count));
      cf = (dst >>> (count - 1)) & 1;
      of = ((r >>> 31) ^ (r >>> 30)) & 1;
    }
  } else {
    // 16-bit (the decoder never gives 8 here).
    const a = dst & 0xffff;
    const b = src & 0xffff;
    if (count <= 16) {
      if (left) {
        r = ((a << count) | (b >>> (16 - count))) & 0xffff;
        cf = (a >>> (16 - count)) & 1;
        // AMD: at count 16 OF equals CF.
        of = count === 16 ? cf : ((r >>> 15) & 1) ^ cf;
      } else {
        r = ((a >>> count) | (b << (16 - count))) & 0xffff;
        cf = (a >>> (count - 1)) & 1;
        of = ((r >>> 15) ^ (r >>> 14)) & 1;
      }
    } else {
      // Counts 17-31: the source shifts through itself (AMD).
      const c = count - 16;
      if (left) {
        r = ((b << c) | (b >>> (16 - c))) & 0xffff;
        of = 0;
      } else {
        r = ((b >>> c) | (b << (16 - c))) & 0xffff;
        of = ((r >>> 15) ^ (r >>> 14)) & 1;
      }
      cf = 0;
    }
  }
  writeBack(cpu, d, o, r, 0);
  flagsResult(cpu, SIZE[o]!, r, cf, of, af);
}

export function installShift(): void {
  for (let op = 0; op < 8; op++) {
    const one = defineHandler(`shift${op} rm,1`, (cpu, d) => group2(cpu, d, op, CountKind.One));
    const cl = defineHandler(`shift${op} rm,cl`, (cpu, d) => group2(cpu, d, op, CountKind.Cl));
    const imm = defineHandler(`shift${op} rm,imm8`, (cpu, d) => group2(cpu, d, op, CountKind.Imm));
    setOp(OpMap.One, 0xd0, one, { reg: op });
    setOp(OpMap.One, 0xd1, one, { reg: op });
    setOp(OpMap.One, 0xd2, cl, { reg: op });
    setOp(OpMap.One, 0xd3, cl, { reg: op });
    setOp(OpMap.One, 0xc0, imm, { reg: op });
    setOp(OpMap.One, 0xc1, imm, { reg: op });
  }
  setOp(OpMap.Two, 0xa4, defineHandler('shld imm', (cpu, d) => shiftDouble(cpu, d, true, false)));
  setOp(OpMap.Two, 0xa5, defineHandler('shld cl', (cpu, d) => shiftDouble(cpu, d, true, true)));
  setOp(OpMap.Two, 0xac, defineHandler('shrd imm', (cpu, d) => shiftDouble(cpu, d, false, false)));
  setOp(OpMap.Two, 0xad, defineHandler('shrd cl', (cpu, d) => shiftDouble(cpu, d, false, true)));
}
