/**
 * SSE/SSE2/SSE3/SSE4.1 floating-point instructions (SDM Vol. 2 instruction pages; opcode map
 * Vol. 2 Tables; AMD APM Vol. 4): arithmetic ADD/SUB/MUL/DIV/MIN/MAX/SQRT in the
 * PS/SS/PD/SD forms, RCP/RSQRT, CMP, COMIS/UCOMIS, the conversions of 0F 2A/2C/2D/5A/5B/E6,
 * ADDSUB, HADD/HSUB, ROUND, DPPS/DPPD. The numbers come from ./f32f64.ts.
 *
 * Every instruction: `sseAvailable` (#UD/#NM), then the memory operand (packed 16-byte
 * operands must be 16-byte aligned, #GP(0); scalar and 64-bit operands need not be), then all
 * lanes are computed into scratch, then the SIMD floating-point exceptions are delivered (SDM
 * Vol. 1 §11.5.1): if any lane has an unmasked pre-computation exception (IE, DE, ZE) only the
 * pre-computation flags of all lanes are recorded; otherwise all flags are recorded; with any
 * unmasked flag the destination is left unchanged and #XM (or #UD when CR4.OSXMMEXCPT = 0) is
 * raised.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as operandsNs from '../ops/operands.js';
import * as commonNs from './common.js';
import * as engineNs from './f32f64.js';
import { Cpuid1Ecx } from '../model.js';
import type { Handler } from '../optable.js';
import { gated } from '../ops/feature.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, R_IMM, R_INFO, R_REG, R_RM } = decodedNs;
const { setArithFlags } = flagsNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { memAddr, readRm, writeReg } = operandsNs;
const { Fsw, mmxEnter, readM128, simdException, sseAvailable, writeMmx, x87Pending } = commonNs;
const { f32Approx, f32Arith, f32Cmp, f32Comi, f32Round, f32ToF64, f32ToInt, f64Arith, f64Cmp, f64Comi, f64Round, f64ToF32, f64ToInt, fx, i32ToFloat, i64ToFloat } = engineNs;

const ADD = 0;
const SUB = 1;
const MUL = 2;
const DIV = 3;
const MIN = 4;
const MAX = 5;
const SQRT = 6;

/** Lane results before they are committed. */
const res = new Int32Array(4);

/** Checks #UD/#NM and starts a fresh set of flags. */
function begin(cpu: Cpu): void {
  sseAvailable(cpu);
  fx.mx = cpu.mxcsr;
  fx.pre = 0;
  fx.post = 0;
}

/** Records the flags of all lanes and raises #XM/#UD for unmasked ones (SDM Vol. 1 §11.5.1). */
function deliver(cpu: Cpu): void {
  const pre = fx.pre;
  const all = pre | fx.post;
  if (all === 0) return;
  const unmasked = ~(cpu.mxcsr >>> 7) & 0x3f;
  if ((pre & unmasked) !== 0) {
    cpu.mxcsr |= pre;
    simdException(cpu);
  }
  cpu.mxcsr |= all;
  if ((all & unmasked) !== 0) simdException(cpu);
}

/**
 * DPPS/DPPD run as three dependent steps (products, pair sums, final sum); each step is checked
 * like one SIMD instruction, and an unmasked exception in a step ends the instruction with the
 * flags of the earlier steps and that step's recorded (host-measured: e.g. a masked overflow in
 * a product followed by an unmasked invalid inf - inf in the sum reports OE, PE and IE).
 */
let stageFlags = 0;
function stage(cpu: Cpu): void {
  const pre = fx.pre;
  const unmasked = ~(cpu.mxcsr >>> 7) & 0x3f;
  if ((pre & unmasked) !== 0) {
    cpu.mxcsr |= stageFlags | pre;
    simdException(cpu);
  }
  stageFlags |= pre | fx.post;
  if ((stageFlags & unmasked) !== 0) {
    cpu.mxcsr |= stageFlags;
    simdException(cpu);
  }
  fx.pre = 0;
  fx.post = 0;
}

// ---- operands ---------------------------------------------------------------------------------

/** Source lanes: `src[sOff..sOff+3]` after {@link srcP}. */
let sOff = 0;
/** The xmm/m128 operand (aligned for the legacy SSE forms). */
function srcP(cpu: Cpu, d: number): Int32Array {
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) {
    sOff = 0;
    return readM128(cpu, d, true);
  }
  sOff = cpu.rec[d + R_RM]! << 2;
  return cpu.xmm;
}
/** The xmm/m32 operand: lane 0. */
function srcS32(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) {
    const lo = memAddr(cpu, d, 4, false);
    return cpu.rd32(lo, cpu.hi);
  }
  return cpu.xmm[cpu.rec[d + R_RM]! << 2]!;
}
/** The xmm/m64 operand: low half returned, high half in `s64Hi`. */
let s64Hi = 0;
function srcS64(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) {
    const lo = memAddr(cpu, d, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    s64Hi = cpu.hi;
    return v;
  }
  const i = cpu.rec[d + R_RM]! << 2;
  s64Hi = cpu.xmm[i + 1]!;
  return cpu.xmm[i]!;
}
/** The mm/m64 operand (MMX register: enters MMX state, SDM Vol. 1 §9.5). */
function srcMm64(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) {
    const lo = memAddr(cpu, d, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    s64Hi = cpu.hi;
    return v;
  }
  mmxEnter(cpu);
  const n = cpu.rec[d + R_RM]! & 7;
  s64Hi = cpu.fpHi[n]!;
  return cpu.fpLo[n]!;
}

function dstIndex(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_REG]! << 2;
}

function commit(cpu: Cpu, d: number, n: number): void {
  const x = cpu.xmm;
  const i = dstIndex(cpu, d);
  x[i] = res[0]!;
  x[i + 1] = res[1]!;
  if (n > 2) {
    x[i + 2] = res[2]!;
    x[i + 3] = res[3]!;
  }
}

function imm8(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_IMM]! & 0xff;
}

/** Operand size 64 (REX.W) for the GPR forms of CVTSI2SS & co. */
function isW(cpu: Cpu, d: number): boolean {
  return ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
}

// ---- arithmetic -------------------------------------------------------------------------------

/** ADDPS..SQRTPS (0F 58-5F, 51): four binary32 lanes. */
function arithPs(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  for (let k = 0; k < 4; k++) res[k] = f32Arith(op, x[a + k]!, s[o + k]!);
  deliver(cpu);
  commit(cpu, d, 4);
}

/** ADDPD..SQRTPD (66 0F 58-5F, 51): two binary64 lanes. */
function arithPd(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  for (let k = 0; k < 4; k += 2) {
    f64Arith(op, x[a + k]!, x[a + k + 1]!, s[o + k]!, s[o + k + 1]!);
    res[k] = fx.lo;
    res[k + 1] = fx.hi;
  }
  deliver(cpu);
  commit(cpu, d, 4);
}

/** ADDSS..SQRTSS (F3 0F 58-5F, 51): lane 0; lanes 1-3 of the destination unchanged. */
function arithSs(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const b = srcS32(cpu, d);
  const a = dstIndex(cpu, d);
  const r = f32Arith(op, cpu.xmm[a]!, b);
  deliver(cpu);
  cpu.xmm[a] = r;
}

/** ADDSD..SQRTSD (F2 0F 58-5F, 51): the low binary64; the high one unchanged. */
function arithSd(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const b = srcS64(cpu, d);
  const a = dstIndex(cpu, d);
  f64Arith(op, cpu.xmm[a]!, cpu.xmm[a + 1]!, b, s64Hi);
  deliver(cpu);
  cpu.xmm[a] = fx.lo;
  cpu.xmm[a + 1] = fx.hi;
}

/** RCPPS/RSQRTPS (0F 53/52): approximations, no exceptions (SDM Vol. 2 "RCPPS"). */
function approxPs(cpu: Cpu, d: number, rsqrt: boolean): void {
  sseAvailable(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  for (let k = 0; k < 4; k++) res[k] = f32Approx(s[o + k]!, rsqrt);
  commit(cpu, d, 4);
}
function approxSs(cpu: Cpu, d: number, rsqrt: boolean): void {
  sseAvailable(cpu);
  const b = srcS32(cpu, d);
  cpu.xmm[dstIndex(cpu, d)] = f32Approx(b, rsqrt);
}

// ---- SSE3 horizontal and alternating forms -------------------------------------------------------

/** ADDSUBPS (F2 0F D0): lanes 0, 2 subtract, 1, 3 add. */
function addsubps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  for (let k = 0; k < 4; k++) res[k] = f32Arith((k & 1) === 0 ? SUB : ADD, x[a + k]!, s[o + k]!);
  deliver(cpu);
  commit(cpu, d, 4);
}
/** ADDSUBPD (66 0F D0): lane 0 subtracts, lane 1 adds. */
function addsubpd(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  f64Arith(SUB, x[a]!, x[a + 1]!, s[o]!, s[o + 1]!);
  res[0] = fx.lo;
  res[1] = fx.hi;
  f64Arith(ADD, x[a + 2]!, x[a + 3]!, s[o + 2]!, s[o + 3]!);
  res[2] = fx.lo;
  res[3] = fx.hi;
  deliver(cpu);
  commit(cpu, d, 4);
}
/** HADDPS/HSUBPS (F2 0F 7C/7D): dest = {a0 op a1, a2 op a3, b0 op b1, b2 op b3}. */
function hps(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  res[0] = f32Arith(op, x[a]!, x[a + 1]!);
  res[1] = f32Arith(op, x[a + 2]!, x[a + 3]!);
  res[2] = f32Arith(op, s[o]!, s[o + 1]!);
  res[3] = f32Arith(op, s[o + 2]!, s[o + 3]!);
  deliver(cpu);
  commit(cpu, d, 4);
}
/** HADDPD/HSUBPD (66 0F 7C/7D): dest = {a0 op a1, b0 op b1}. */
function hpd(cpu: Cpu, d: number, op: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  f64Arith(op, x[a]!, x[a + 1]!, x[a + 2]!, x[a + 3]!);
  res[0] = fx.lo;
  res[1] = fx.hi;
  f64Arith(op, s[o]!, s[o + 1]!, s[o + 2]!, s[o + 3]!);
  res[2] = fx.lo;
  res[3] = fx.hi;
  deliver(cpu);
  commit(cpu, d, 4);
}

// ---- compares ---------------------------------------------------------------------------------

/** CMPPS/CMPPD/CMPSS/CMPSD (0F C2 ib; predicate imm8[2:0], SDM Vol. 2 Table 3-1). */
function cmpps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const p = imm8(cpu, d) & 7;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  for (let k = 0; k < 4; k++) res[k] = f32Cmp(p, x[a + k]!, s[o + k]!);
  deliver(cpu);
  commit(cpu, d, 4);
}
function cmppd(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const p = imm8(cpu, d) & 7;
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  for (let k = 0; k < 4; k += 2) res[k] = res[k + 1] = f64Cmp(p, x[a + k]!, x[a + k + 1]!, s[o + k]!, s[o + k + 1]!);
  deliver(cpu);
  commit(cpu, d, 4);
}
function cmpss(cpu: Cpu, d: number): void {
  begin(cpu);
  const b = srcS32(cpu, d);
  const a = dstIndex(cpu, d);
  const r = f32Cmp(imm8(cpu, d) & 7, cpu.xmm[a]!, b);
  deliver(cpu);
  cpu.xmm[a] = r;
}
function cmpsd(cpu: Cpu, d: number): void {
  begin(cpu);
  const b = srcS64(cpu, d);
  const a = dstIndex(cpu, d);
  const r = f64Cmp(imm8(cpu, d) & 7, cpu.xmm[a]!, cpu.xmm[a + 1]!, b, s64Hi);
  deliver(cpu);
  cpu.xmm[a] = r;
  cpu.xmm[a + 1] = r;
}

/** COMISS/UCOMISS (0F 2F/2E): ZF, PF, CF from the compare; OF, SF, AF cleared. */
function comiss(cpu: Cpu, d: number, signalQnan: boolean): void {
  begin(cpu);
  const b = srcS32(cpu, d);
  const e = f32Comi(cpu.xmm[dstIndex(cpu, d)]!, b, signalQnan);
  deliver(cpu);
  setArithFlags(cpu, e);
}
function comisd(cpu: Cpu, d: number, signalQnan: boolean): void {
  begin(cpu);
  const b = srcS64(cpu, d);
  const a = dstIndex(cpu, d);
  const e = f64Comi(cpu.xmm[a]!, cpu.xmm[a + 1]!, b, s64Hi, signalQnan);
  deliver(cpu);
  setArithFlags(cpu, e);
}

// ---- conversions ------------------------------------------------------------------------------

/** CVTSI2SS (F3 0F 2A): r/m32 or r/m64 (REX.W) to binary32 in lane 0. */
function cvtsi2ss(cpu: Cpu, d: number): void {
  begin(cpu);
  const w = isW(cpu, d);
  const v = readRm(cpu, d, w ? 3 : 2);
  if (w) i64ToFloat(v, cpu.hi, false);
  else i32ToFloat(v, false);
  deliver(cpu);
  cpu.xmm[dstIndex(cpu, d)] = fx.lo;
}
/** CVTSI2SD (F2 0F 2A): r/m32 (exact) or r/m64 to binary64 in the low half. */
function cvtsi2sd(cpu: Cpu, d: number): void {
  begin(cpu);
  const w = isW(cpu, d);
  const v = readRm(cpu, d, w ? 3 : 2);
  if (w) i64ToFloat(v, cpu.hi, true);
  else i32ToFloat(v, true);
  deliver(cpu);
  const a = dstIndex(cpu, d);
  cpu.xmm[a] = fx.lo;
  cpu.xmm[a + 1] = fx.hi;
}
/** CVT(T)SS2SI (F3 0F 2D/2C): binary32 to r32/r64. */
function cvtss2si(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  const w = isW(cpu, d);
  const b = srcS32(cpu, d);
  f32ToInt(b, trunc, w);
  deliver(cpu);
  writeReg(cpu, cpu.rec[d + R_REG]!, w ? 3 : 2, fx.lo, fx.hi);
}
/** CVT(T)SD2SI (F2 0F 2D/2C). */
function cvtsd2si(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  const w = isW(cpu, d);
  const b = srcS64(cpu, d);
  f64ToInt(b, s64Hi, trunc, w);
  deliver(cpu);
  writeReg(cpu, cpu.rec[d + R_REG]!, w ? 3 : 2, fx.lo, fx.hi);
}
/** CVTPI2PS (0F 2A): two int32 from mm/m64 to lanes 0-1 (lanes 2-3 unchanged). */
function cvtpi2ps(cpu: Cpu, d: number): void {
  begin(cpu);
  const lo = srcMm64(cpu, d);
  const hi = s64Hi;
  i32ToFloat(lo, false);
  res[0] = fx.lo;
  i32ToFloat(hi, false);
  res[1] = fx.lo;
  deliver(cpu);
  commit(cpu, d, 2);
}
/** CVTPI2PD (66 0F 2A): two int32 from mm/m64 to two binary64 (exact). */
function cvtpi2pd(cpu: Cpu, d: number): void {
  begin(cpu);
  const lo = srcMm64(cpu, d);
  const hi = s64Hi;
  i32ToFloat(lo, true);
  res[0] = fx.lo;
  res[1] = fx.hi;
  i32ToFloat(hi, true);
  res[2] = fx.lo;
  res[3] = fx.hi;
  commit(cpu, d, 4);
}
/** CVT(T)PS2PI (0F 2D/2C): the two low binary32 of xmm/m64 to int32 in an MMX register. */
function cvtps2pi(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  // A pending x87 exception (#MF) is taken before the memory operand is read (host-measured).
  if ((cpu.fsw & Fsw.ES) !== 0) x87Pending(cpu);
  const a = srcS64(cpu, d);
  const b = s64Hi;
  mmxEnter(cpu);
  f32ToInt(a, trunc, false);
  const r0 = fx.lo;
  f32ToInt(b, trunc, false);
  deliver(cpu);
  writeMmx(cpu, cpu.rec[d + R_REG]! & 7, r0, fx.lo);
}
/** CVT(T)PD2PI (66 0F 2D/2C): two binary64 of xmm/m128 to int32 in an MMX register. */
function cvtpd2pi(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  // A pending x87 exception (#MF) is taken before the memory operand is read (host-measured).
  if ((cpu.fsw & Fsw.ES) !== 0) x87Pending(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  mmxEnter(cpu);
  f64ToInt(s[o]!, s[o + 1]!, trunc, false);
  const r0 = fx.lo;
  f64ToInt(s[o + 2]!, s[o + 3]!, trunc, false);
  deliver(cpu);
  writeMmx(cpu, cpu.rec[d + R_REG]! & 7, r0, fx.lo);
}
/** CVTPS2PD (0F 5A): two binary32 of xmm/m64 to binary64. */
function cvtps2pd(cpu: Cpu, d: number): void {
  begin(cpu);
  const a = srcS64(cpu, d);
  const b = s64Hi;
  f32ToF64(a);
  res[0] = fx.lo;
  res[1] = fx.hi;
  f32ToF64(b);
  res[2] = fx.lo;
  res[3] = fx.hi;
  deliver(cpu);
  commit(cpu, d, 4);
}
/** CVTPD2PS (66 0F 5A): two binary64 to binary32 in lanes 0-1, lanes 2-3 zeroed. */
function cvtpd2ps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  res[0] = f64ToF32(s[o]!, s[o + 1]!);
  res[1] = f64ToF32(s[o + 2]!, s[o + 3]!);
  res[2] = 0;
  res[3] = 0;
  deliver(cpu);
  commit(cpu, d, 4);
}
/** CVTSS2SD (F3 0F 5A). */
function cvtss2sd(cpu: Cpu, d: number): void {
  begin(cpu);
  f32ToF64(srcS32(cpu, d));
  deliver(cpu);
  const a = dstIndex(cpu, d);
  cpu.xmm[a] = fx.lo;
  cpu.xmm[a + 1] = fx.hi;
}
/** CVTSD2SS (F2 0F 5A). */
function cvtsd2ss(cpu: Cpu, d: number): void {
  begin(cpu);
  const lo = srcS64(cpu, d);
  const r = f64ToF32(lo, s64Hi);
  deliver(cpu);
  cpu.xmm[dstIndex(cpu, d)] = r;
}
/** CVTDQ2PS (0F 5B). */
function cvtdq2ps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  for (let k = 0; k < 4; k++) {
    i32ToFloat(s[o + k]!, false);
    res[k] = fx.lo;
  }
  deliver(cpu);
  commit(cpu, d, 4);
}
/** CVTPS2DQ (66 0F 5B) and CVTTPS2DQ (F3 0F 5B). */
function cvtps2dq(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  for (let k = 0; k < 4; k++) {
    f32ToInt(s[o + k]!, trunc, false);
    res[k] = fx.lo;
  }
  deliver(cpu);
  commit(cpu, d, 4);
}
/** CVTDQ2PD (F3 0F E6): two int32 of xmm/m64, exact. */
function cvtdq2pd(cpu: Cpu, d: number): void {
  begin(cpu);
  const a = srcS64(cpu, d);
  const b = s64Hi;
  i32ToFloat(a, true);
  res[0] = fx.lo;
  res[1] = fx.hi;
  i32ToFloat(b, true);
  res[2] = fx.lo;
  res[3] = fx.hi;
  commit(cpu, d, 4);
}
/** CVTPD2DQ (F2 0F E6) and CVTTPD2DQ (66 0F E6): upper two lanes zeroed. */
function cvtpd2dq(cpu: Cpu, d: number, trunc: boolean): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  f64ToInt(s[o]!, s[o + 1]!, trunc, false);
  res[0] = fx.lo;
  f64ToInt(s[o + 2]!, s[o + 3]!, trunc, false);
  res[1] = fx.lo;
  res[2] = 0;
  res[3] = 0;
  deliver(cpu);
  commit(cpu, d, 4);
}

// ---- SSE4.1 ----------------------------------------------------------------------------------

/** ROUNDPS (66 0F 3A 08 ib). */
function roundps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const imm = imm8(cpu, d);
  for (let k = 0; k < 4; k++) res[k] = f32Round(s[o + k]!, imm);
  deliver(cpu);
  commit(cpu, d, 4);
}
/** ROUNDPD (66 0F 3A 09 ib). */
function roundpd(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const imm = imm8(cpu, d);
  for (let k = 0; k < 4; k += 2) {
    f64Round(s[o + k]!, s[o + k + 1]!, imm);
    res[k] = fx.lo;
    res[k + 1] = fx.hi;
  }
  deliver(cpu);
  commit(cpu, d, 4);
}
/** ROUNDSS (66 0F 3A 0A ib). */
function roundss(cpu: Cpu, d: number): void {
  begin(cpu);
  const r = f32Round(srcS32(cpu, d), imm8(cpu, d));
  deliver(cpu);
  cpu.xmm[dstIndex(cpu, d)] = r;
}
/** ROUNDSD (66 0F 3A 0B ib). */
function roundsd(cpu: Cpu, d: number): void {
  begin(cpu);
  const lo = srcS64(cpu, d);
  f64Round(lo, s64Hi, imm8(cpu, d));
  deliver(cpu);
  const a = dstIndex(cpu, d);
  cpu.xmm[a] = fx.lo;
  cpu.xmm[a + 1] = fx.hi;
}

/**
 * DPPS (66 0F 3A 40 ib; SDM Vol. 2 "DPPS" Operation): products of the lanes selected by
 * imm[7:4] (+0.0 for the others), then (p0 + p1) + (p2 + p3), each step rounded; the sum goes
 * to the lanes selected by imm[3:0], +0.0 to the others. The products and sums are ordinary
 * SSE operations (a denormal product raises DE in the sum), checked step by step ({@link stage}).
 */
function dpps(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const imm = imm8(cpu, d);
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  const p0 = (imm & 0x10) !== 0 ? f32Arith(MUL, x[a]!, s[o]!) : 0;
  const p1 = (imm & 0x20) !== 0 ? f32Arith(MUL, x[a + 1]!, s[o + 1]!) : 0;
  const p2 = (imm & 0x40) !== 0 ? f32Arith(MUL, x[a + 2]!, s[o + 2]!) : 0;
  const p3 = (imm & 0x80) !== 0 ? f32Arith(MUL, x[a + 3]!, s[o + 3]!) : 0;
  stageFlags = 0;
  stage(cpu);
  const t0 = f32Arith(ADD, p0, p1);
  const t1 = f32Arith(ADD, p2, p3);
  stage(cpu);
  const sum = f32Arith(ADD, t0, t1);
  stage(cpu);
  cpu.mxcsr |= stageFlags;
  for (let k = 0; k < 4; k++) res[k] = ((imm >>> k) & 1) !== 0 ? sum : 0;
  commit(cpu, d, 4);
}
/** DPPD (66 0F 3A 41 ib): as DPPS with two binary64 lanes (imm[5:4], imm[1:0]). */
function dppd(cpu: Cpu, d: number): void {
  begin(cpu);
  const s = srcP(cpu, d);
  const o = sOff;
  const imm = imm8(cpu, d);
  const x = cpu.xmm;
  const a = dstIndex(cpu, d);
  let p0l = 0;
  let p0h = 0;
  let p1l = 0;
  let p1h = 0;
  if ((imm & 0x10) !== 0) {
    f64Arith(MUL, x[a]!, x[a + 1]!, s[o]!, s[o + 1]!);
    p0l = fx.lo;
    p0h = fx.hi;
  }
  if ((imm & 0x20) !== 0) {
    f64Arith(MUL, x[a + 2]!, x[a + 3]!, s[o + 2]!, s[o + 3]!);
    p1l = fx.lo;
    p1h = fx.hi;
  }
  stageFlags = 0;
  stage(cpu);
  f64Arith(ADD, p0l, p0h, p1l, p1h);
  stage(cpu);
  cpu.mxcsr |= stageFlags;
  const sl = fx.lo;
  const sh = fx.hi;
  res[0] = (imm & 1) !== 0 ? sl : 0;
  res[1] = (imm & 1) !== 0 ? sh : 0;
  res[2] = (imm & 2) !== 0 ? sl : 0;
  res[3] = (imm & 2) !== 0 ? sh : 0;
  commit(cpu, d, 4);
}

// ---- installation -----------------------------------------------------------------------------

function def(name: string, fn: Handler): number {
  return defineHandler(name, fn);
}

/** SSE/SSE2/SSE3/SSE4.1 floating-point instructions. */
export function installSseFloat(): void {
  const two = OpMap.Two;
  const ops: [number, string, number][] = [
    [0x58, 'add', ADD],
    [0x59, 'mul', MUL],
    [0x5c, 'sub', SUB],
    [0x5d, 'min', MIN],
    [0x5e, 'div', DIV],
    [0x5f, 'max', MAX],
    [0x51, 'sqrt', SQRT],
  ];
  for (const [opc, name, op] of ops) {
    setOp(two, opc, def(`${name}ps`, (cpu, d) => arithPs(cpu, d, op)), { prefix: Pfx.None });
    setOp(two, opc, def(`${name}pd`, (cpu, d) => arithPd(cpu, d, op)), { prefix: Pfx.P66 });
    setOp(two, opc, def(`${name}ss`, (cpu, d) => arithSs(cpu, d, op)), { prefix: Pfx.F3 });
    setOp(two, opc, def(`${name}sd`, (cpu, d) => arithSd(cpu, d, op)), { prefix: Pfx.F2 });
  }
  setOp(two, 0x52, def('rsqrtps', (cpu, d) => approxPs(cpu, d, true)), { prefix: Pfx.None });
  setOp(two, 0x52, def('rsqrtss', (cpu, d) => approxSs(cpu, d, true)), { prefix: Pfx.F3 });
  setOp(two, 0x53, def('rcpps', (cpu, d) => approxPs(cpu, d, false)), { prefix: Pfx.None });
  setOp(two, 0x53, def('rcpss', (cpu, d) => approxSs(cpu, d, false)), { prefix: Pfx.F3 });

  setOp(two, 0xc2, def('cmpps', cmpps), { prefix: Pfx.None });
  setOp(two, 0xc2, def('cmppd', cmppd), { prefix: Pfx.P66 });
  setOp(two, 0xc2, def('cmpss', cmpss), { prefix: Pfx.F3 });
  setOp(two, 0xc2, def('cmpsd', cmpsd), { prefix: Pfx.F2 });
  setOp(two, 0x2e, def('ucomiss', (cpu, d) => comiss(cpu, d, false)), { prefix: Pfx.None });
  setOp(two, 0x2e, def('ucomisd', (cpu, d) => comisd(cpu, d, false)), { prefix: Pfx.P66 });
  setOp(two, 0x2f, def('comiss', (cpu, d) => comiss(cpu, d, true)), { prefix: Pfx.None });
  setOp(two, 0x2f, def('comisd', (cpu, d) => comisd(cpu, d, true)), { prefix: Pfx.P66 });

  setOp(two, 0x2a, def('cvtpi2ps', cvtpi2ps), { prefix: Pfx.None });
  setOp(two, 0x2a, def('cvtpi2pd', cvtpi2pd), { prefix: Pfx.P66 });
  setOp(two, 0x2a, def('cvtsi2ss', cvtsi2ss), { prefix: Pfx.F3 });
  setOp(two, 0x2a, def('cvtsi2sd', cvtsi2sd), { prefix: Pfx.F2 });
  for (const [opc, t] of [
    [0x2c, true],
    [0x2d, false],
  ] as const) {
    const n = t ? 'cvtt' : 'cvt';
    setOp(two, opc, def(`${n}ps2pi`, (cpu, d) => cvtps2pi(cpu, d, t)), { prefix: Pfx.None });
    setOp(two, opc, def(`${n}pd2pi`, (cpu, d) => cvtpd2pi(cpu, d, t)), { prefix: Pfx.P66 });
    setOp(two, opc, def(`${n}ss2si`, (cpu, d) => cvtss2si(cpu, d, t)), { prefix: Pfx.F3 });
    setOp(two, opc, def(`${n}sd2si`, (cpu, d) => cvtsd2si(cpu, d, t)), { prefix: Pfx.F2 });
  }
  setOp(two, 0x5a, def('cvtps2pd', cvtps2pd), { prefix: Pfx.None });
  setOp(two, 0x5a, def('cvtpd2ps', cvtpd2ps), { prefix: Pfx.P66 });
  setOp(two, 0x5a, def('cvtss2sd', cvtss2sd), { prefix: Pfx.F3 });
  setOp(two, 0x5a, def('cvtsd2ss', cvtsd2ss), { prefix: Pfx.F2 });
  setOp(two, 0x5b, def('cvtdq2ps', cvtdq2ps), { prefix: Pfx.None });
  setOp(two, 0x5b, def('cvtps2dq', (cpu, d) => cvtps2dq(cpu, d, false)), { prefix: Pfx.P66 });
  setOp(two, 0x5b, def('cvttps2dq', (cpu, d) => cvtps2dq(cpu, d, true)), { prefix: Pfx.F3 });
  setOp(two, 0xe6, def('cvttpd2dq', (cpu, d) => cvtpd2dq(cpu, d, true)), { prefix: Pfx.P66 });
  setOp(two, 0xe6, def('cvtpd2dq', (cpu, d) => cvtpd2dq(cpu, d, false)), { prefix: Pfx.F2 });
  setOp(two, 0xe6, def('cvtdq2pd', cvtdq2pd), { prefix: Pfx.F3 });

  // SSE3 (CPUID.1:ECX.SSE3[bit 0]).
  const sse3 = (name: string, fn: Handler): number => def(name, gated('leaf1Ecx', Cpuid1Ecx.SSE3, fn));
  setOp(two, 0xd0, sse3('addsubpd', addsubpd), { prefix: Pfx.P66 });
  setOp(two, 0xd0, sse3('addsubps', addsubps), { prefix: Pfx.F2 });
  setOp(two, 0x7c, sse3('haddpd', (cpu, d) => hpd(cpu, d, ADD)), { prefix: Pfx.P66 });
  setOp(two, 0x7c, sse3('haddps', (cpu, d) => hps(cpu, d, ADD)), { prefix: Pfx.F2 });
  setOp(two, 0x7d, sse3('hsubpd', (cpu, d) => hpd(cpu, d, SUB)), { prefix: Pfx.P66 });
  setOp(two, 0x7d, sse3('hsubps', (cpu, d) => hps(cpu, d, SUB)), { prefix: Pfx.F2 });

  // SSE4.1 (CPUID.1:ECX.SSE4_1[bit 19]).
  const sse41 = (name: string, fn: Handler): number => def(name, gated('leaf1Ecx', Cpuid1Ecx.SSE41, fn));
  const m3a = OpMap.Three3A;
  setOp(m3a, 0x08, sse41('roundps', roundps), { prefix: Pfx.P66 });
  setOp(m3a, 0x09, sse41('roundpd', roundpd), { prefix: Pfx.P66 });
  setOp(m3a, 0x0a, sse41('roundss', roundss), { prefix: Pfx.P66 });
  setOp(m3a, 0x0b, sse41('roundsd', roundsd), { prefix: Pfx.P66 });
  setOp(m3a, 0x40, sse41('dpps', dpps), { prefix: Pfx.P66 });
  setOp(m3a, 0x41, sse41('dppd', dppd), { prefix: Pfx.P66 });
}
