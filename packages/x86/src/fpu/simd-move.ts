/**
 * SSE/SSE2/SSE3 data movement of the 0F map (SDM Vol. 2 instruction pages, Table A-3; AMD APM
 * Vol. 4/5): MOVUPS/UPD, MOVAPS/APD, MOVDQA/DQU, LDDQU, MOVNTPS/PD/DQ/Q/I, MOVSS/MOVSD,
 * MOVLPS/LPD/HPS/HPD, MOVHLPS/MOVLHPS, MOVSLDUP/MOVSHDUP/MOVDDUP, MOVMSKPS/PD, SHUFPS/PD,
 * MOVD/MOVQ (MMX and XMM, general registers and memory), MOVQ2DQ/MOVDQ2Q, MASKMOVQ/MASKMOVDQU.
 *
 * Alignment: MOVAPS/APD, MOVDQA, MOVNTPS/PD/DQ, MOVSLDUP/MOVSHDUP and SHUFPS/PD need a 16-byte
 * aligned m128 (#GP(0)); MOVUPS/UPD, MOVDQU and LDDQU do not; the 32/64-bit memory forms are
 * never checked (SDM Vol. 2 §2.4, exception classes 1, 4, 5). Forms that take only a register
 * (MOVHLPS, MOVLHPS, MOVMSK*, MOVQ2DQ, MOVDQ2Q, MASKMOV*) or only memory (MOVLPS/HPS/LPD/HPD
 * stores, MOVNT*, LDDQU) are #UD otherwise, before any other check.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as optableNs from '../optable.js';
import * as operandsNs from '../ops/operands.js';
import * as commonNs from './common.js';
import * as lanesNs from './simd-lanes.js';
import { Cpuid1Ecx } from '../model.js';
import type { Handler } from '../optable.js';
import { gated } from '../ops/feature.js';

const { R_IMM, R_INFO } = decodedNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { memAddr, segLinear, writeReg } = operandsNs;
const { highAfter, readM128, sseAvailable, writeM128, writeMmx } = commonNs;
const { A32, B32, isMemOp, isW, mmxCheck, mmxSwitch, putXmm, xmmSrc, xmmToA } = lanesNs;

// ---- 128-bit moves ---------------------------------------------------------------------------

/** MOVUPS/MOVUPD/MOVDQU (unaligned) and MOVAPS/MOVAPD/MOVDQA (aligned) xmm, xmm/m128. */
function movLoad(cpu: Cpu, d: number, aligned: boolean): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    const m = readM128(cpu, d, aligned);
    x[r] = m[0]!;
    x[r + 1] = m[1]!;
    x[r + 2] = m[2]!;
    x[r + 3] = m[3]!;
  } else {
    const s = cpu.rec[d + 3]! << 2;
    x[r] = x[s]!;
    x[r + 1] = x[s + 1]!;
    x[r + 2] = x[s + 2]!;
    x[r + 3] = x[s + 3]!;
  }
}
function movLoadU(cpu: Cpu, d: number): void {
  movLoad(cpu, d, false);
}
function movLoadA(cpu: Cpu, d: number): void {
  movLoad(cpu, d, true);
}

/** The store forms: xmm/m128, xmm. */
function movStore(cpu: Cpu, d: number, aligned: boolean): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    writeM128(cpu, d, aligned, x, r);
  } else {
    const s = cpu.rec[d + 3]! << 2;
    x[s] = x[r]!;
    x[s + 1] = x[r + 1]!;
    x[s + 2] = x[r + 2]!;
    x[s + 3] = x[r + 3]!;
  }
}
function movStoreU(cpu: Cpu, d: number): void {
  movStore(cpu, d, false);
}
function movStoreA(cpu: Cpu, d: number): void {
  movStore(cpu, d, true);
}

/** MOVNTPS/MOVNTPD (0F 2B), MOVNTDQ (66 0F E7): m128, xmm, aligned; memory operand only. */
function movntX(cpu: Cpu, d: number): void {
  if (!isMemOp(cpu, d)) cpu.ud();
  movStore(cpu, d, true);
}

/** LDDQU xmm, m128 (F2 0F F0, SSE3): unaligned load; memory operand only. */
function lddqu(cpu: Cpu, d: number): void {
  if (!isMemOp(cpu, d)) cpu.ud();
  movLoad(cpu, d, false);
}

// ---- 32/64-bit pieces of XMM registers ----------------------------------------------------------

/** Reads 8 bytes at the memory operand: low half returned, high half in `cpu.hi`. */
function readM64(cpu: Cpu, d: number): number {
  const lo = memAddr(cpu, d, 8, false);
  return cpu.rd64(lo, cpu.hi);
}

/** Writes (lo, hi) as 8 bytes at the memory operand. */
function writeM64(cpu: Cpu, d: number, lo: number, hi: number): void {
  const a = memAddr(cpu, d, 8, true);
  cpu.wr64(a, cpu.hi, lo, hi);
}

/** MOVSS xmm, xmm/m32 (F3 0F 10): memory zeroes lanes 1-3, a register source merges lane 0. */
function movssLoad(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    const a = memAddr(cpu, d, 4, false);
    x[r] = cpu.rd32(a, cpu.hi);
    x[r + 1] = x[r + 2] = x[r + 3] = 0;
  } else {
    x[r] = x[cpu.rec[d + 3]! << 2]!;
  }
}

/** MOVSD xmm, xmm/m64 (F2 0F 10): memory zeroes the high quadword, a register source merges. */
function movsdLoad(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    const lo = readM64(cpu, d);
    x[r] = lo;
    x[r + 1] = cpu.hi;
    x[r + 2] = x[r + 3] = 0;
  } else {
    const s = cpu.rec[d + 3]! << 2;
    x[r] = x[s]!;
    x[r + 1] = x[s + 1]!;
  }
}

/** MOVSS xmm/m32, xmm (F3 0F 11). */
function movssStore(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    const a = memAddr(cpu, d, 4, true);
    cpu.wr32(a, cpu.hi, x[r]!);
  } else {
    x[cpu.rec[d + 3]! << 2] = x[r]!;
  }
}

/** MOVSD xmm/m64, xmm (F2 0F 11). */
function movsdStore(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    writeM64(cpu, d, x[r]!, x[r + 1]!);
  } else {
    const s = cpu.rec[d + 3]! << 2;
    x[s] = x[r]!;
    x[s + 1] = x[r + 1]!;
  }
}

/**
 * 0F 12 / 0F 16 without prefix: MOVLPS/MOVHPS xmm, m64 load the low/high quadword; with a
 * register operand they are MOVHLPS (low = source high) and MOVLHPS (high = source low).
 * With 66 (MOVLPD/MOVHPD) a register operand is #UD.
 */
function movLoHiLoad(cpu: Cpu, d: number, high: boolean, pd: boolean): void {
  const mem = isMemOp(cpu, d);
  if (!mem && pd) cpu.ud();
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = (cpu.rec[d + 2]! << 2) + (high ? 2 : 0);
  if (mem) {
    const lo = readM64(cpu, d);
    x[r] = lo;
    x[r + 1] = cpu.hi;
  } else {
    const s = (cpu.rec[d + 3]! << 2) + (high ? 0 : 2);
    x[r] = x[s]!;
    x[r + 1] = x[s + 1]!;
  }
}

/** MOVLPS/MOVLPD m64, xmm (0F 13) and MOVHPS/MOVHPD m64, xmm (0F 17): memory operand only. */
function movLoHiStore(cpu: Cpu, d: number, high: boolean): void {
  if (!isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = (cpu.rec[d + 2]! << 2) + (high ? 2 : 0);
  writeM64(cpu, d, x[r]!, x[r + 1]!);
}

/** MOVSLDUP (F3 0F 12, odd = false) / MOVSHDUP (F3 0F 16): duplicate the even/odd lanes (SSE3, m128 aligned). */
function movsxdup(cpu: Cpu, d: number, odd: boolean): void {
  sseAvailable(cpu);
  xmmSrc(cpu, d, true);
  const o = odd ? 1 : 0;
  A32[0] = A32[1] = B32[o]!;
  A32[2] = A32[3] = B32[2 + o]!;
  putXmm(cpu, cpu.rec[d + 2]!, A32);
}

/** MOVDDUP xmm, xmm/m64 (F2 0F 12, SSE3): the low quadword twice; memory is 8 bytes, unaligned. */
function movddup(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  let lo: number;
  let hi: number;
  if (isMemOp(cpu, d)) {
    lo = readM64(cpu, d);
    hi = cpu.hi;
  } else {
    const s = cpu.rec[d + 3]! << 2;
    lo = cpu.xmm[s]!;
    hi = cpu.xmm[s + 1]!;
  }
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  x[r] = x[r + 2] = lo;
  x[r + 1] = x[r + 3] = hi;
}

/** MOVMSKPS (0F 50) / MOVMSKPD (66 0F 50) r32/r64, xmm: the lanes' sign bits, zero-extended. */
function movmsk(cpu: Cpu, d: number, pd: boolean): void {
  if (isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  const x = cpu.xmm;
  const s = cpu.rec[d + 3]! << 2;
  const v = pd
    ? (x[s + 1]! >>> 31) | ((x[s + 3]! >>> 31) << 1)
    : (x[s]! >>> 31) | ((x[s + 1]! >>> 31) << 1) | ((x[s + 2]! >>> 31) << 2) | ((x[s + 3]! >>> 31) << 3);
  writeReg(cpu, cpu.rec[d + 2]!, 2, v, 0);
}

/**
 * SHUFPS (0F C6): lanes 0-1 from the destination, 2-3 from the source, each picked by two bits
 * of imm8; SHUFPD (66 0F C6): low quadword from the destination (imm bit 0), high from the
 * source (imm bit 1).
 */
function shufp(cpu: Cpu, d: number, pd: boolean): void {
  sseAvailable(cpu);
  xmmSrc(cpu, d, true);
  const r = cpu.rec[d + 2]!;
  const x = cpu.xmm;
  const o = r << 2;
  const imm = cpu.rec[d + R_IMM]!;
  if (pd) {
    const a = (imm & 1) << 1;
    const b = imm & 2;
    A32[0] = x[o + a]!;
    A32[1] = x[o + a + 1]!;
    A32[2] = B32[b]!;
    A32[3] = B32[b + 1]!;
  } else {
    const d0 = x[o + (imm & 3)]!;
    const d1 = x[o + ((imm >> 2) & 3)]!;
    A32[2] = B32[(imm >> 4) & 3]!;
    A32[3] = B32[(imm >> 6) & 3]!;
    A32[0] = d0;
    A32[1] = d1;
  }
  putXmm(cpu, r, A32);
}

// ---- MOVD / MOVQ ------------------------------------------------------------------------------

/** The 32- or 64-bit (REX.W) source of MOVD/MOVQ from r/m: low half returned, high in `cpu.hi`. */
function gprOrMemSource(cpu: Cpu, d: number, w: boolean): number {
  if (isMemOp(cpu, d)) {
    const a = memAddr(cpu, d, w ? 8 : 4, false);
    if (w) return cpu.rd64(a, cpu.hi);
    const v = cpu.rd32(a, cpu.hi);
    cpu.hi = 0;
    return v;
  }
  const s = cpu.rec[d + 3]!;
  cpu.hi = w ? cpu.gprHi[s]! : 0;
  return cpu.gpr[s]!;
}

/** Writes MOVD/MOVQ's 32/64-bit result to r/m (a 32-bit register write zero-extends). */
function gprOrMemStore(cpu: Cpu, d: number, w: boolean, lo: number, hi: number): void {
  if (isMemOp(cpu, d)) {
    const a = memAddr(cpu, d, w ? 8 : 4, true);
    if (w) cpu.wr64(a, cpu.hi, lo, hi);
    else cpu.wr32(a, cpu.hi, lo);
  } else {
    writeReg(cpu, cpu.rec[d + 3]!, w ? 3 : 2, lo, hi);
  }
}

/** MOVD/MOVQ mm, r/m32/r/m64 (0F 6E): zero-extended into MMn. */
function movdToMm(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  const lo = gprOrMemSource(cpu, d, isW(cpu, d));
  const hi = cpu.hi;
  mmxSwitch(cpu);
  writeMmx(cpu, cpu.rec[d + 2]! & 7, lo, hi);
}

/** MOVD/MOVQ r/m32/r/m64, mm (0F 7E). */
function movdFromMm(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  const r = cpu.rec[d + 2]! & 7;
  gprOrMemStore(cpu, d, isW(cpu, d), cpu.fpLo[r]!, cpu.fpHi[r]!);
  mmxSwitch(cpu);
}

/** MOVD/MOVQ xmm, r/m32/r/m64 (66 0F 6E): zero-extended to 128 bits. */
function movdToXmm(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const lo = gprOrMemSource(cpu, d, isW(cpu, d));
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  x[r] = lo;
  x[r + 1] = cpu.hi;
  x[r + 2] = x[r + 3] = 0;
}

/** MOVD/MOVQ r/m32/r/m64, xmm (66 0F 7E). */
function movdFromXmm(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const r = cpu.rec[d + 2]! << 2;
  gprOrMemStore(cpu, d, isW(cpu, d), cpu.xmm[r]!, cpu.xmm[r + 1]!);
}

/** MOVQ mm, mm/m64 (0F 6F). */
function movqMmLoad(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  let lo: number;
  let hi: number;
  if (isMemOp(cpu, d)) {
    lo = readM64(cpu, d);
    hi = cpu.hi;
  } else {
    const s = cpu.rec[d + 3]! & 7;
    lo = cpu.fpLo[s]!;
    hi = cpu.fpHi[s]!;
  }
  mmxSwitch(cpu);
  writeMmx(cpu, cpu.rec[d + 2]! & 7, lo, hi);
}

/** MOVQ mm/m64, mm (0F 7F), and MOVNTQ m64, mm (0F E7, memory only). */
function movqMmStore(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  const r = cpu.rec[d + 2]! & 7;
  const lo = cpu.fpLo[r]!;
  const hi = cpu.fpHi[r]!;
  if (isMemOp(cpu, d)) writeM64(cpu, d, lo, hi);
  else writeMmx(cpu, cpu.rec[d + 3]! & 7, lo, hi);
  mmxSwitch(cpu);
}
function movntq(cpu: Cpu, d: number): void {
  if (!isMemOp(cpu, d)) cpu.ud();
  movqMmStore(cpu, d);
}

/** MOVQ xmm, xmm/m64 (F3 0F 7E): the low quadword, high quadword zeroed. */
function movqXmmLoad(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  let lo: number;
  let hi: number;
  if (isMemOp(cpu, d)) {
    lo = readM64(cpu, d);
    hi = cpu.hi;
  } else {
    const s = cpu.rec[d + 3]! << 2;
    lo = cpu.xmm[s]!;
    hi = cpu.xmm[s + 1]!;
  }
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  x[r] = lo;
  x[r + 1] = hi;
  x[r + 2] = x[r + 3] = 0;
}

/** MOVQ xmm/m64, xmm (66 0F D6): a register destination gets its high quadword zeroed. */
function movqXmmStore(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) writeM64(cpu, d, x[r]!, x[r + 1]!);
  else {
    const s = cpu.rec[d + 3]! << 2;
    x[s] = x[r]!;
    x[s + 1] = x[r + 1]!;
    x[s + 2] = x[s + 3] = 0;
  }
}

/** MOVQ2DQ xmm, mm (F3 0F D6): register operands only; an MMX transition. */
function movq2dq(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  mmxCheck(cpu);
  mmxSwitch(cpu);
  const s = cpu.rec[d + 3]! & 7;
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  x[r] = cpu.fpLo[s]!;
  x[r + 1] = cpu.fpHi[s]!;
  x[r + 2] = x[r + 3] = 0;
}

/** MOVDQ2Q mm, xmm (F2 0F D6): register operands only. */
function movdq2q(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  mmxCheck(cpu);
  mmxSwitch(cpu);
  const s = cpu.rec[d + 3]! << 2;
  writeMmx(cpu, cpu.rec[d + 2]! & 7, cpu.xmm[s]!, cpu.xmm[s + 1]!);
}

/**
 * MOVNTI m32/m64, r32/r64 (0F C3, SSE2): a general-register store; no CR0/CR4 checks (SDM Vol. 2
 * "MOVNTI"); memory operand only.
 */
function movnti(cpu: Cpu, d: number): void {
  if (!isMemOp(cpu, d)) cpu.ud();
  const r = cpu.rec[d + 2]!;
  if (isW(cpu, d)) {
    const a = memAddr(cpu, d, 8, true);
    cpu.wr64(a, cpu.hi, cpu.gpr[r]!, cpu.gprHi[r]!);
  } else {
    const a = memAddr(cpu, d, 4, true);
    cpu.wr32(a, cpu.hi, cpu.gpr[r]!);
  }
}

/**
 * MASKMOVQ mm1, mm2 (0F F7) / MASKMOVDQU xmm1, xmm2 (66 0F F7): the bytes of the first operand
 * whose mask byte (second operand) has bit 7 set are stored at DS:rDI (segment override
 * allowed; rDI by address size). Register operands only. Write access to the whole destination
 * is checked first: the AMD host faults even with an all-zero mask.
 */
function maskmov(cpu: Cpu, d: number, xmm: boolean): void {
  if (isMemOp(cpu, d)) cpu.ud();
  const n = xmm ? 16 : 8;
  if (xmm) {
    sseAvailable(cpu);
    xmmToA(cpu, cpu.rec[d + 2]!);
    const s = cpu.rec[d + 3]! << 2;
    for (let i = 0; i < 4; i++) B32[i] = cpu.xmm[s + i]!;
  } else {
    mmxCheck(cpu);
    // Unlike the MMX loads and stores through ModRM, MASKMOVQ switches to MMX state even when
    // its store then faults (measured on the AMD host).
    mmxSwitch(cpu);
    const r = cpu.rec[d + 2]! & 7;
    const s = cpu.rec[d + 3]! & 7;
    A32[0] = cpu.fpLo[r]!;
    A32[1] = cpu.fpHi[r]!;
    B32[0] = cpu.fpLo[s]!;
    B32[1] = cpu.fpHi[s]!;
  }
  const info = cpu.rec[d + R_INFO]!;
  const asz = (info >>> 6) & 3;
  const seg = (info >>> 8) & 7;
  const offLo = asz === 1 ? cpu.gpr[7]! & 0xffff : cpu.gpr[7]!;
  const offHi = asz === 3 ? cpu.gprHi[7]! : 0;
  const lo = segLinear(cpu, seg, offLo, offHi, n, true);
  const hi = cpu.hi;
  cpu.rdw8(lo, hi);
  cpu.rdw8((lo + n - 1) | 0, highAfter(cpu, lo, hi, n - 1));
  for (let i = 0; i < n; i++) {
    const lane = i >> 2;
    const sh = (i & 3) << 3;
    if (((B32[lane]! >>> sh) & 0x80) !== 0) cpu.wr8((lo + i) | 0, highAfter(cpu, lo, hi, i), (A32[lane]! >>> sh) & 0xff);
  }
}

// ---- installation ------------------------------------------------------------------------------

export function installSimdMove(): void {
  const two = OpMap.Two;
  const def = (name: string, fn: Handler): number => defineHandler(name, fn);
  const sse3 = (fn: Handler): Handler => gated('leaf1Ecx', Cpuid1Ecx.SSE3, fn);
  const P = Pfx;
  // 0F 10/11: MOVUPS, MOVUPD, MOVSS, MOVSD.
  setOp(two, 0x10, def('movups', movLoadU), { prefix: P.None });
  setOp(two, 0x10, def('movupd', movLoadU), { prefix: P.P66 });
  setOp(two, 0x10, def('movss', movssLoad), { prefix: P.F3 });
  setOp(two, 0x10, def('movsd', movsdLoad), { prefix: P.F2 });
  setOp(two, 0x11, def('movups store', movStoreU), { prefix: P.None });
  setOp(two, 0x11, def('movupd store', movStoreU), { prefix: P.P66 });
  setOp(two, 0x11, def('movss store', movssStore), { prefix: P.F3 });
  setOp(two, 0x11, def('movsd store', movsdStore), { prefix: P.F2 });
  // 0F 12/13/16/17: MOVLPS/MOVHLPS, MOVLPD, MOVSLDUP, MOVDDUP; MOVHPS/MOVLHPS, MOVHPD, MOVSHDUP.
  setOp(two, 0x12, def('movlps/movhlps', (cpu, d) => movLoHiLoad(cpu, d, false, false)), { prefix: P.None });
  setOp(two, 0x12, def('movlpd', (cpu, d) => movLoHiLoad(cpu, d, false, true)), { prefix: P.P66 });
  setOp(two, 0x12, def('movsldup', sse3((cpu, d) => movsxdup(cpu, d, false))), { prefix: P.F3 });
  setOp(two, 0x12, def('movddup', sse3(movddup)), { prefix: P.F2 });
  setOp(two, 0x13, def('movlps store', (cpu, d) => movLoHiStore(cpu, d, false)), { prefix: P.None });
  setOp(two, 0x13, def('movlpd store', (cpu, d) => movLoHiStore(cpu, d, false)), { prefix: P.P66 });
  setOp(two, 0x16, def('movhps/movlhps', (cpu, d) => movLoHiLoad(cpu, d, true, false)), { prefix: P.None });
  setOp(two, 0x16, def('movhpd', (cpu, d) => movLoHiLoad(cpu, d, true, true)), { prefix: P.P66 });
  setOp(two, 0x16, def('movshdup', sse3((cpu, d) => movsxdup(cpu, d, true))), { prefix: P.F3 });
  setOp(two, 0x17, def('movhps store', (cpu, d) => movLoHiStore(cpu, d, true)), { prefix: P.None });
  setOp(two, 0x17, def('movhpd store', (cpu, d) => movLoHiStore(cpu, d, true)), { prefix: P.P66 });
  // 0F 28/29/2B: MOVAPS/MOVAPD, MOVNTPS/MOVNTPD.
  setOp(two, 0x28, def('movaps', movLoadA), { prefix: P.None });
  setOp(two, 0x28, def('movapd', movLoadA), { prefix: P.P66 });
  setOp(two, 0x29, def('movaps store', movStoreA), { prefix: P.None });
  setOp(two, 0x29, def('movapd store', movStoreA), { prefix: P.P66 });
  setOp(two, 0x2b, def('movntps', movntX), { prefix: P.None });
  setOp(two, 0x2b, def('movntpd', movntX), { prefix: P.P66 });
  setOp(two, 0x50, def('movmskps', (cpu, d) => movmsk(cpu, d, false)), { prefix: P.None });
  setOp(two, 0x50, def('movmskpd', (cpu, d) => movmsk(cpu, d, true)), { prefix: P.P66 });
  // MOVD/MOVQ, MOVQ, MOVDQA, MOVDQU.
  setOp(two, 0x6e, def('movd mm, r/m', movdToMm), { prefix: P.None });
  setOp(two, 0x6e, def('movd xmm, r/m', movdToXmm), { prefix: P.P66 });
  setOp(two, 0x7e, def('movd r/m, mm', movdFromMm), { prefix: P.None });
  setOp(two, 0x7e, def('movd r/m, xmm', movdFromXmm), { prefix: P.P66 });
  setOp(two, 0x7e, def('movq xmm, xmm/m64', movqXmmLoad), { prefix: P.F3 });
  setOp(two, 0x6f, def('movq mm, mm/m64', movqMmLoad), { prefix: P.None });
  setOp(two, 0x6f, def('movdqa', movLoadA), { prefix: P.P66 });
  setOp(two, 0x6f, def('movdqu', movLoadU), { prefix: P.F3 });
  setOp(two, 0x7f, def('movq mm/m64, mm', movqMmStore), { prefix: P.None });
  setOp(two, 0x7f, def('movdqa store', movStoreA), { prefix: P.P66 });
  setOp(two, 0x7f, def('movdqu store', movStoreU), { prefix: P.F3 });
  setOp(two, 0xd6, def('movq xmm/m64, xmm', movqXmmStore), { prefix: P.P66 });
  setOp(two, 0xd6, def('movq2dq', movq2dq), { prefix: P.F3 });
  setOp(two, 0xd6, def('movdq2q', movdq2q), { prefix: P.F2 });
  setOp(two, 0xe7, def('movntq', movntq), { prefix: P.None });
  setOp(two, 0xe7, def('movntdq', movntX), { prefix: P.P66 });
  setOp(two, 0xc3, def('movnti', movnti), { prefix: P.None });
  setOp(two, 0xf7, def('maskmovq', (cpu, d) => maskmov(cpu, d, false)), { prefix: P.None });
  setOp(two, 0xf7, def('maskmovdqu', (cpu, d) => maskmov(cpu, d, true)), { prefix: P.P66 });
  setOp(two, 0xf0, def('lddqu', sse3(lddqu)), { prefix: P.F2 });
  setOp(two, 0xc6, def('shufps', (cpu, d) => shufp(cpu, d, false)), { prefix: P.None });
  setOp(two, 0xc6, def('shufpd', (cpu, d) => shufp(cpu, d, true)), { prefix: P.P66 });
}
