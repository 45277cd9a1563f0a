/**
 * Bit instructions: BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-/7), BSF/BSR (0F BC/BD), POPCNT
 * (F3 0F B8), TZCNT/LZCNT (F3 0F BC/BD), MOVBE (0F 38 F0/F1), ADCX/ADOX (66/F3 0F 38 F6)
 * (SDM Vol. 2 instruction pages; AMD APM Vol. 3).
 *
 * BT* with a register bit offset and a memory operand address the operand-sized word at
 * EA + (offset SAR log2(width)) * width/8, the offset taken as a signed 16/32/64-bit value
 * (SDM Vol. 2 "BT", Table 3-2 note). The immediate form takes the offset modulo the width.
 *
 * Flags the SDM leaves undefined, as measured on AMD (the differential oracle), used for both
 * vendors:
 * - BT/BTS/BTR/BTC change CF only;
 * - BSF/BSR: CF = OF = SF = AF = 0, PF from the result (the source is zero: ZF = PF = 1 and
 *   the destination is left entirely unchanged, even its upper half for 32-bit operands);
 * - TZCNT/LZCNT: SF = AF = PF = 0, OF unchanged;
 * - POPCNT: everything but ZF cleared (documented).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as operandsNs from './operands.js';
import { Cpuid1Ecx, Cpuid7Ebx, CpuidExt1Ecx } from '../model.js';
import type { Handler } from '../optable.js';
import { gated, orLegacy } from './feature.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_LOCK, I_MEM, R_IMM, R_INFO, R_REG } = decodedNs;
const { AUX_CF, AUX_PO, PARITY, setArithFlags } = flagsNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { ea, readReg, readRm, readRmw, segLinear, writeBack, writeReg, writeRm } = operandsNs;

const WIDTH_LOG = [3, 4, 5, 6] as const;

/** Bit operations: test only, set, reset, complement. */
const BitOp = { BT: 0, BTS: 1, BTR: 2, BTC: 3 } as const;

/** Sets CF only, keeping the other five flags. */
function setCfOnly(cpu: Cpu, cf: number): void {
  const of = (cpu.fAux ^ (cpu.fAux << 1)) >>> 31;
  cpu.fAux = (cpu.fAux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

/** Applies `op` to bit `b` of the 32-bit word `v`. */
function modify(op: number, v: number, b: number): number {
  if (op === BitOp.BTS) return v | (1 << b);
  if (op === BitOp.BTR) return v & ~(1 << b);
  return v ^ (1 << b);
}

/** BTx on a register or on the memory operand itself, bit already reduced modulo the width. */
function bitOnOperand(cpu: Cpu, d: number, op: number, o: number, bit: number): void {
  if (op === BitOp.BT) {
    const v = readRm(cpu, d, o);
    const w = bit >= 32 ? cpu.hi : v;
    setCfOnly(cpu, (w >>> (bit & 31)) & 1);
    return;
  }
  let v = readRmw(cpu, d, o);
  let vHi = cpu.hi;
  let cf: number;
  if (bit >= 32) {
    cf = (vHi >>> (bit - 32)) & 1;
    vHi = modify(op, vHi, bit - 32);
  } else {
    cf = (v >>> bit) & 1;
    v = modify(op, v, bit);
  }
  writeBack(cpu, d, o, v, vHi);
  setCfOnly(cpu, cf);
}

/** BT/BTS/BTR/BTC r/m, reg (0F A3/AB/B3/BB). */
function bitReg(cpu: Cpu, d: number, op: number): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const off = readReg(cpu, rec[d + R_REG]!, o);
  const offHi = cpu.hi;
  const log = WIDTH_LOG[o]!;
  if ((info & I_MEM) === 0) {
    bitOnOperand(cpu, d, op, o, off & ((1 << log) - 1));
    return;
  }
  // Byte displacement of the addressed word: (offset SAR log) * bytes, sign-extended to 64 bits.
  let dLo: number;
  let dHi: number;
  if (o === 3) {
    dLo = ((off >>> 3) | (offHi << 29)) & ~7;
    dHi = offHi >> 3;
  } else {
    const s = o === 1 ? (off << 16) >> 16 : off;
    dLo = (s >> log) << (log - 3);
    dHi = dLo >> 31;
  }
  const bit = off & ((1 << log) - 1);
  ea(cpu, d);
  const asz = (info >>> 6) & 3;
  let lo: number;
  let hi: number;
  if (asz === 3) {
    const sum = (cpu.eaLo >>> 0) + (dLo >>> 0);
    lo = sum | 0;
    hi = (cpu.eaHi + dHi + (sum > 0xffff_ffff ? 1 : 0)) | 0;
  } else if (asz === 2) {
    lo = (cpu.eaLo + dLo) | 0;
    hi = 0;
  } else {
    lo = (cpu.eaLo + dLo) & 0xffff;
    hi = 0;
  }
  const seg = (info >>> 8) & 7;
  const size = 1 << (log - 3);
  const write = op !== BitOp.BT;
  const a = segLinear(cpu, seg, lo, hi, size, write);
  const aHi = cpu.hi;
  let v: number;
  let vHi = 0;
  if (o === 1) v = write ? cpu.rdw16(a, aHi) : cpu.rd16(a, aHi);
  else if (o === 2) v = write ? cpu.rdw32(a, aHi) : cpu.rd32(a, aHi);
  else {
    v = write ? cpu.rdw64(a, aHi) : cpu.rd64(a, aHi);
    vHi = cpu.hi;
  }
  let cf: number;
  if (bit >= 32) {
    cf = (vHi >>> (bit - 32)) & 1;
    if (write) vHi = modify(op, vHi, bit - 32);
  } else {
    cf = (v >>> bit) & 1;
    if (write) v = modify(op, v, bit);
  }
  if (write) {
    if (o === 1) cpu.wr16(a, aHi, v);
    else if (o === 2) cpu.wr32(a, aHi, v);
    else cpu.wr64(a, aHi, v, vHi);
  }
  setCfOnly(cpu, cf);
}

/** BT/BTS/BTR/BTC r/m, imm8 (0F BA /4-/7). LOCK BT is #UD. */
function bitImm(cpu: Cpu, d: number, op: number): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  if (op === BitOp.BT && (info & I_LOCK) !== 0) cpu.ud();
  const o = (info >>> 4) & 3;
  bitOnOperand(cpu, d, op, o, rec[d + R_IMM]! & ((1 << WIDTH_LOG[o]!) - 1));
}

/** Index of the lowest set bit of a non-zero 32-bit value. */
function ctz32(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/** BSF/BSR (0F BC/BD without F3). */
function bitScan(cpu: Cpu, d: number, reverse: boolean): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  let v = readRm(cpu, d, o);
  const vHi = o === 3 ? cpu.hi : 0;
  if (o === 1) v &= 0xffff;
  if ((v | vHi) === 0) {
    // Destination unchanged; ZF = PF = 1, the others 0.
    setArithFlags(cpu, 0x44);
    return;
  }
  let r: number;
  if (reverse) r = vHi !== 0 ? 63 - Math.clz32(vHi) : 31 - Math.clz32(v);
  else r = v !== 0 ? ctz32(v) : 32 + ctz32(vHi);
  writeReg(cpu, rec[d + R_REG]!, o, r, 0);
  setArithFlags(cpu, PARITY[r]! << 2);
}

/** TZCNT/LZCNT (F3 0F BC/BD): CF = source is zero, ZF = result is zero. */
function countZeros(cpu: Cpu, d: number, leading: boolean): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  let v = readRm(cpu, d, o);
  const vHi = o === 3 ? cpu.hi : 0;
  const width = 8 << o;
  if (o === 1) v &= 0xffff;
  let r: number;
  if ((v | vHi) === 0) r = width;
  else if (leading) {
    if (o === 3) r = vHi !== 0 ? Math.clz32(vHi) : 32 + Math.clz32(v);
    else r = Math.clz32(v) - (32 - width);
  } else r = v !== 0 ? ctz32(v) : 32 + ctz32(vHi);
  writeReg(cpu, rec[d + R_REG]!, o, r, 0);
  const of = (cpu.fAux ^ (cpu.fAux << 1)) >>> 31;
  setArithFlags(cpu, (r === width ? 1 : 0) | (r === 0 ? 0x40 : 0) | (of << 11));
}

function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  return Math.imul(v, 0x01010101) >>> 24;
}

/** POPCNT (F3 0F B8). */
function popcnt(cpu: Cpu, d: number): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  let v = readRm(cpu, d, o);
  const vHi = o === 3 ? cpu.hi : 0;
  if (o === 1) v &= 0xffff;
  const r = popcount32(v) + popcount32(vHi);
  writeReg(cpu, rec[d + R_REG]!, o, r, 0);
  setArithFlags(cpu, r === 0 ? 0x40 : 0);
}

function bswap32(x: number): number {
  return ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
}

/** MOVBE reg, m (0F 38 F0) and MOVBE m, reg (0F 38 F1): a register operand is #UD. */
function movbe(cpu: Cpu, d: number, store: boolean): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  if ((info & I_MEM) === 0) cpu.ud();
  const o = (info >>> 4) & 3;
  const reg = rec[d + R_REG]!;
  if (store) {
    const v = readReg(cpu, reg, o);
    const vHi = cpu.hi;
    if (o === 1) writeRm(cpu, d, 1, ((v >>> 8) & 0xff) | ((v & 0xff) << 8), 0);
    else if (o === 2) writeRm(cpu, d, 2, bswap32(v), 0);
    else writeRm(cpu, d, 3, bswap32(vHi), bswap32(v));
    return;
  }
  const v = readRm(cpu, d, o);
  const vHi = cpu.hi;
  if (o === 1) writeReg(cpu, reg, 1, ((v >>> 8) & 0xff) | ((v & 0xff) << 8), 0);
  else if (o === 2) writeReg(cpu, reg, 2, bswap32(v), 0);
  else writeReg(cpu, reg, 3, bswap32(vHi), bswap32(v));
}

/**
 * ADCX (66 0F 38 F6): dst += src + CF, only CF changes. ADOX (F3 0F 38 F6): the same with OF
 * as the carry. The operand size is 32 bits, or 64 with REX.W (the 66 prefix is mandatory,
 * not an operand-size override).
 */
function adcxAdox(cpu: Cpu, d: number, useOf: boolean): void {
  const rec = cpu.rec;
  const o = ((rec[d + R_INFO]! >>> 4) & 3) === 3 ? 3 : 2;
  const reg = rec[d + R_REG]!;
  const b = readRm(cpu, d, o);
  const bHi = cpu.hi;
  const a = readReg(cpu, reg, o);
  const aHi = cpu.hi;
  const aux = cpu.fAux;
  const cfIn = aux >>> 31;
  const ofIn = (aux ^ (aux << 1)) >>> 31;
  const cin = useOf ? ofIn : cfIn;
  const s = (a >>> 0) + (b >>> 0) + cin;
  let cout: number;
  if (o === 2) {
    writeReg(cpu, reg, 2, s | 0, 0);
    cout = s > 0xffff_ffff ? 1 : 0;
  } else {
    const sh = (aHi >>> 0) + (bHi >>> 0) + (s > 0xffff_ffff ? 1 : 0);
    writeReg(cpu, reg, 3, s | 0, sh | 0);
    cout = sh > 0xffff_ffff ? 1 : 0;
  }
  const cf = useOf ? cfIn : cout;
  const of = useOf ? cout : ofIn;
  cpu.fAux = (aux & ~(AUX_CF | AUX_PO)) | (cf << 31) | ((cf ^ of) << 30);
}

export function installBits(): void {
  const names = ['bt', 'bts', 'btr', 'btc'];
  const regOps = [0xa3, 0xab, 0xb3, 0xbb];
  for (let op = 0; op < 4; op++) {
    setOp(OpMap.Two, regOps[op]!, defineHandler(`${names[op]!} rm,reg`, (cpu, d) => bitReg(cpu, d, op)));
    setOp(OpMap.Two, 0xba, defineHandler(`${names[op]!} rm,imm8`, (cpu, d) => bitImm(cpu, d, op)), { reg: 4 + op });
  }
  const bsf: Handler = (cpu, d) => bitScan(cpu, d, false);
  const bsr: Handler = (cpu, d) => bitScan(cpu, d, true);
  setOp(OpMap.Two, 0xbc, defineHandler('bsf', bsf));
  setOp(OpMap.Two, 0xbd, defineHandler('bsr', bsr));
  // F3 selects TZCNT/LZCNT/POPCNT; 66 keeps BSF/BSR (operand size). Without BMI1 / LZCNT the
  // F3 prefix is ignored and the encodings are BSF / BSR.
  setOp(OpMap.Two, 0xbc, defineHandler('tzcnt', orLegacy('leaf7Ebx', Cpuid7Ebx.BMI1, (cpu, d) => countZeros(cpu, d, false), bsf)), { prefix: Pfx.F3 });
  setOp(OpMap.Two, 0xbd, defineHandler('lzcnt', orLegacy('ext1Ecx', CpuidExt1Ecx.ABM, (cpu, d) => countZeros(cpu, d, true), bsr)), { prefix: Pfx.F3 });
  setOp(OpMap.Two, 0xb8, defineHandler('popcnt', gated('leaf1Ecx', Cpuid1Ecx.POPCNT, popcnt)), { prefix: Pfx.F3 });
  const ld = defineHandler('movbe reg,m', gated('leaf1Ecx', Cpuid1Ecx.MOVBE, (cpu, d) => movbe(cpu, d, false)));
  const st = defineHandler('movbe m,reg', gated('leaf1Ecx', Cpuid1Ecx.MOVBE, (cpu, d) => movbe(cpu, d, true)));
  setOp(OpMap.Three38, 0xf0, ld, { prefix: Pfx.None });
  setOp(OpMap.Three38, 0xf0, ld, { prefix: Pfx.P66 });
  setOp(OpMap.Three38, 0xf1, st, { prefix: Pfx.None });
  setOp(OpMap.Three38, 0xf1, st, { prefix: Pfx.P66 });
  setOp(OpMap.Three38, 0xf6, defineHandler('adcx', gated('leaf7Ebx', Cpuid7Ebx.ADX, (cpu, d) => adcxAdox(cpu, d, false))), { prefix: Pfx.P66 });
  setOp(OpMap.Three38, 0xf6, defineHandler('adox', gated('leaf7Ebx', Cpuid7Ebx.ADX, (cpu, d) => adcxAdox(cpu, d, true))), { prefix: Pfx.F3 });
}
