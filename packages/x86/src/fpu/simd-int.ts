/**
 * MMX and SSE2 packed-integer instructions of the 0F map (SDM Vol. 1 ch. 9 and §11.4.2; Vol. 2
 * instruction pages; AMD APM Vol. 5): every operation exists as an MMX form (no prefix, MMn and
 * m64) and an SSE2 form (66 prefix, XMMn and m128, 16-byte alignment required).
 *
 * - unpack/pack: PUNPCKL/H{BW,WD,DQ}, PUNPCKL/HQDQ, PACKSSWB, PACKSSDW, PACKUSWB (0F 60-6D);
 * - compares: PCMPEQB/W/D, PCMPGTB/W/D (0F 64-66, 74-76);
 * - shifts: PSRLW/D/Q, PSRAW/D, PSLLW/D/Q by register/memory (0F D1-D3, E1-E2, F1-F3) and by
 *   immediate (groups 12-14: 0F 71-73, register operand only), PSRLDQ/PSLLDQ (66 only);
 * - arithmetic: PADD/PSUB{B,W,D,Q}, saturating PADDS/PSUBS{B,W}, PADDUS/PSUBUS{B,W}, PMULLW,
 *   PMULHW, PMULHUW, PMULUDQ, PMADDWD, PAVGB/W, PMINUB/PMAXUB, PMINSW/PMAXSW, PSADBW;
 * - logic: PAND, PANDN, POR, PXOR (and ANDPS..XORPD, which are the same bit operations);
 * - PSHUFW/PSHUFD/PSHUFHW/PSHUFLW (0F 70), PINSRW/PEXTRW (0F C4/C5), PMOVMSKB (0F D7), EMMS.
 *
 * MMX forms check CR0.EM/TS and a pending x87 exception, then switch the x87 unit to MMX use
 * once the memory operand has been read, and write MMn with the exponent field all ones.
 * PUNPCKLBW/WD/DQ on MMX registers read only 32 bits of memory (SDM Vol. 2 "PUNPCKLBW...":
 * mm/m32).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as optableNs from '../optable.js';
import * as muldivNs from '../ops/muldiv.js';
import * as operandsNs from '../ops/operands.js';
import * as commonNs from './common.js';
import * as lanesNs from './simd-lanes.js';
import type { Handler } from '../optable.js';
import { installSimdMove } from './simd-move.js';

const { R_IMM } = decodedNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { mulHigh, mulU32 } = muldivNs;
const { memAddr, writeReg } = operandsNs;
const { readM128, sseAvailable, writeMmx } = commonNs;
const { A16, A32, A8, AS8, AU16, B16, B32, B8, BS8, BU16, R16, R32, R8, RS8, RU16, isMemOp, mmxCheck, mmxSwitch, putXmm, xmmSrc, xmmToA } = lanesNs;

// ---- lane kernels: A op B -> A over n bytes (8 for MMX, 16 for XMM) --------------------------

const K = {
  PUNPCKLBW: 0, PUNPCKLWD: 1, PUNPCKLDQ: 2, PACKSSWB: 3, PCMPGTB: 4, PCMPGTW: 5, PCMPGTD: 6, PACKUSWB: 7,
  PUNPCKHBW: 8, PUNPCKHWD: 9, PUNPCKHDQ: 10, PACKSSDW: 11, PUNPCKLQDQ: 12, PUNPCKHQDQ: 13,
  PCMPEQB: 14, PCMPEQW: 15, PCMPEQD: 16,
  PSRLW: 17, PSRLD: 18, PSRLQ: 19, PADDQ: 20, PMULLW: 21,
  PSUBUSB: 22, PSUBUSW: 23, PMINUB: 24, PAND: 25, PADDUSB: 26, PADDUSW: 27, PMAXUB: 28, PANDN: 29,
  PAVGB: 30, PSRAW: 31, PSRAD: 32, PAVGW: 33, PMULHUW: 34, PMULHW: 35,
  PSUBSB: 36, PSUBSW: 37, PMINSW: 38, POR: 39, PADDSB: 40, PADDSW: 41, PMAXSW: 42, PXOR: 43,
  PSLLW: 44, PSLLD: 45, PSLLQ: 46, PMULUDQ: 47, PMADDWD: 48, PSADBW: 49,
  PSUBB: 50, PSUBW: 51, PSUBD: 52, PSUBQ: 53, PADDB: 54, PADDW: 55, PADDD: 56,
  PSRLDQ: 57, PSLLDQ: 58,
} as const;

function sat8s(v: number): number {
  return v > 127 ? 127 : v < -128 ? -128 : v;
}
function sat8u(v: number): number {
  return v > 255 ? 255 : v < 0 ? 0 : v;
}
function sat16s(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
function sat16u(v: number): number {
  return v > 65535 ? 65535 : v < 0 ? 0 : v;
}

/**
 * The shift count of PSRLW..PSLLQ: the whole low quadword of the source (B32[0], B32[1]) as an
 * unsigned 64-bit number, clamped to `max + 1` (SDM Vol. 2 "PSLLW/PSLLD/PSLLQ": a count
 * greater than the element width clears the destination, or fills it with the sign for PSRAW/PSRAD).
 */
function shiftCount(max: number): number {
  const lo = B32[0]! >>> 0;
  return B32[1] !== 0 || lo > max ? max + 1 : lo;
}

/** 64-bit lane shifts (PSRLQ, PSLLQ) of A by c (0..64). */
function shiftQ(n: number, c: number, left: boolean): void {
  for (let j = 0; j < n >> 2; j += 2) {
    const lo = A32[j]!;
    const hi = A32[j + 1]!;
    if (c >= 64) {
      A32[j] = 0;
      A32[j + 1] = 0;
    } else if (c === 0) {
      // unchanged
    } else if (left) {
      if (c >= 32) {
        A32[j + 1] = lo << (c - 32);
        A32[j] = 0;
      } else {
        A32[j + 1] = (hi << c) | (lo >>> (32 - c));
        A32[j] = lo << c;
      }
    } else if (c >= 32) {
      A32[j] = hi >>> (c - 32);
      A32[j + 1] = 0;
    } else {
      A32[j] = (lo >>> c) | (hi << (32 - c));
      A32[j + 1] = hi >>> c;
    }
  }
}

/** Runs kernel `k` on A (destination) and B (source) over `n` bytes, result in A. */
function kernel(k: number, n: number): void {
  const h = n >> 1;
  switch (k) {
    // Unpacks interleave the low (or high) halves: destination element first (SDM Vol. 2 "PUNPCKLBW...").
    case K.PUNPCKLBW:
    case K.PUNPCKHBW: {
      const o = k === K.PUNPCKHBW ? h : 0;
      for (let i = 0; i < h; i++) {
        R8[2 * i] = A8[o + i]!;
        R8[2 * i + 1] = B8[o + i]!;
      }
      copyR(n);
      return;
    }
    case K.PUNPCKLWD:
    case K.PUNPCKHWD: {
      const o = k === K.PUNPCKHWD ? h >> 1 : 0;
      for (let i = 0; i < h >> 1; i++) {
        RU16[2 * i] = AU16[o + i]!;
        RU16[2 * i + 1] = BU16[o + i]!;
      }
      copyR(n);
      return;
    }
    case K.PUNPCKLDQ:
    case K.PUNPCKHDQ: {
      const o = k === K.PUNPCKHDQ ? h >> 2 : 0;
      for (let i = 0; i < h >> 2; i++) {
        R32[2 * i] = A32[o + i]!;
        R32[2 * i + 1] = B32[o + i]!;
      }
      copyR(n);
      return;
    }
    case K.PUNPCKLQDQ:
      A32[2] = B32[0]!;
      A32[3] = B32[1]!;
      return;
    case K.PUNPCKHQDQ:
      A32[0] = A32[2]!;
      A32[1] = A32[3]!;
      A32[2] = B32[2]!;
      A32[3] = B32[3]!;
      return;
    // Packs: destination elements to the low half, source elements to the high half.
    case K.PACKSSWB:
    case K.PACKUSWB: {
      const signed = k === K.PACKSSWB;
      for (let i = 0; i < n; i++) {
        const v = i < h ? A16[i]! : B16[i - h]!;
        if (signed) RS8[i] = sat8s(v);
        else R8[i] = sat8u(v);
      }
      copyR(n);
      return;
    }
    case K.PACKSSDW:
      for (let i = 0; i < h; i++) R16[i] = sat16s(i < n >> 2 ? A32[i]! : B32[i - (n >> 2)]!);
      copyR(n);
      return;
    case K.PCMPGTB:
      for (let i = 0; i < n; i++) A8[i] = AS8[i]! > BS8[i]! ? 0xff : 0;
      return;
    case K.PCMPGTW:
      for (let i = 0; i < h; i++) A16[i] = A16[i]! > B16[i]! ? -1 : 0;
      return;
    case K.PCMPGTD:
      for (let i = 0; i < n >> 2; i++) A32[i] = A32[i]! > B32[i]! ? -1 : 0;
      return;
    case K.PCMPEQB:
      for (let i = 0; i < n >> 2; i++) A32[i] = eqBytes(A32[i]!, B32[i]!);
      return;
    case K.PCMPEQW:
      for (let i = 0; i < h; i++) A16[i] = A16[i] === B16[i] ? -1 : 0;
      return;
    case K.PCMPEQD:
      for (let i = 0; i < n >> 2; i++) A32[i] = A32[i] === B32[i] ? -1 : 0;
      return;
    case K.PSRLW:
    case K.PSRAW:
    case K.PSLLW: {
      const c = shiftCount(15);
      for (let i = 0; i < h; i++) {
        if (k === K.PSRAW) A16[i] = A16[i]! >> (c > 15 ? 15 : c);
        else if (c > 15) A16[i] = 0;
        else if (k === K.PSRLW) AU16[i] = AU16[i]! >>> c;
        else AU16[i] = AU16[i]! << c;
      }
      return;
    }
    case K.PSRLD:
    case K.PSRAD:
    case K.PSLLD: {
      const c = shiftCount(31);
      for (let i = 0; i < n >> 2; i++) {
        if (k === K.PSRAD) A32[i] = A32[i]! >> (c > 31 ? 31 : c);
        else if (c > 31) A32[i] = 0;
        else if (k === K.PSRLD) A32[i] = A32[i]! >>> c;
        else A32[i] = A32[i]! << c;
      }
      return;
    }
    case K.PSRLQ:
    case K.PSLLQ:
      shiftQ(n, shiftCount(63), k === K.PSLLQ);
      return;
    case K.PSRLDQ:
    case K.PSLLDQ: {
      // Byte shifts of the whole register by imm8 (> 15 clears it; SDM Vol. 2 "PSRLDQ", "PSLLDQ").
      const c = shiftCount(15);
      for (let i = 0; i < 16; i++) {
        const s = k === K.PSRLDQ ? i + c : i - c;
        R8[i] = s >= 0 && s < 16 ? A8[s]! : 0;
      }
      copyR(16);
      return;
    }
    case K.PADDQ:
    case K.PSUBQ:
      for (let j = 0; j < n >> 2; j += 2) {
        const aLo = A32[j]! >>> 0;
        const bLo = B32[j]! >>> 0;
        if (k === K.PADDQ) {
          const s = aLo + bLo;
          A32[j] = s | 0;
          A32[j + 1] = (A32[j + 1]! + B32[j + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
        } else {
          A32[j] = (aLo - bLo) | 0;
          A32[j + 1] = (A32[j + 1]! - B32[j + 1]! - (aLo < bLo ? 1 : 0)) | 0;
        }
      }
      return;
    case K.PMULLW:
      for (let i = 0; i < h; i++) A16[i] = Math.imul(A16[i]!, B16[i]!);
      return;
    case K.PMULHW:
      for (let i = 0; i < h; i++) A16[i] = (A16[i]! * B16[i]!) >> 16;
      return;
    case K.PMULHUW:
      for (let i = 0; i < h; i++) AU16[i] = (AU16[i]! * BU16[i]!) >>> 16;
      return;
    case K.PMULUDQ:
      // Unsigned low doublets of each quadword, 64-bit product (SDM Vol. 2 "PMULUDQ").
      for (let j = 0; j < n >> 2; j += 2) {
        A32[j] = mulU32(A32[j]!, B32[j]!);
        A32[j + 1] = mulHigh();
      }
      return;
    case K.PMADDWD:
      // 0x8000 * 0x8000 twice sums to 2^31, which wraps to 0x80000000 (SDM Vol. 2 "PMADDWD").
      for (let i = 0; i < n >> 2; i++) {
        R32[i] = (A16[2 * i]! * B16[2 * i]! + A16[2 * i + 1]! * B16[2 * i + 1]!) | 0;
      }
      copyR(n);
      return;
    case K.PSADBW:
      // Sum of absolute byte differences per quadword, in its low word; the rest zero.
      for (let j = 0; j < n; j += 8) {
        let s = 0;
        for (let i = j; i < j + 8; i++) {
          const t = A8[i]! - B8[i]!;
          s += t < 0 ? -t : t;
        }
        A32[j >> 2] = s;
        A32[(j >> 2) + 1] = 0;
      }
      return;
    case K.PSUBUSB:
      for (let i = 0; i < n; i++) A8[i] = sat8u(A8[i]! - B8[i]!);
      return;
    case K.PSUBUSW:
      for (let i = 0; i < h; i++) AU16[i] = sat16u(AU16[i]! - BU16[i]!);
      return;
    case K.PADDUSB:
      for (let i = 0; i < n; i++) A8[i] = sat8u(A8[i]! + B8[i]!);
      return;
    case K.PADDUSW:
      for (let i = 0; i < h; i++) AU16[i] = sat16u(AU16[i]! + BU16[i]!);
      return;
    case K.PSUBSB:
      for (let i = 0; i < n; i++) AS8[i] = sat8s(AS8[i]! - BS8[i]!);
      return;
    case K.PSUBSW:
      for (let i = 0; i < h; i++) A16[i] = sat16s(A16[i]! - B16[i]!);
      return;
    case K.PADDSB:
      for (let i = 0; i < n; i++) AS8[i] = sat8s(AS8[i]! + BS8[i]!);
      return;
    case K.PADDSW:
      for (let i = 0; i < h; i++) A16[i] = sat16s(A16[i]! + B16[i]!);
      return;
    case K.PMINUB:
      for (let i = 0; i < n; i++) if (B8[i]! < A8[i]!) A8[i] = B8[i]!;
      return;
    case K.PMAXUB:
      for (let i = 0; i < n; i++) if (B8[i]! > A8[i]!) A8[i] = B8[i]!;
      return;
    case K.PMINSW:
      for (let i = 0; i < h; i++) if (B16[i]! < A16[i]!) A16[i] = B16[i]!;
      return;
    case K.PMAXSW:
      for (let i = 0; i < h; i++) if (B16[i]! > A16[i]!) A16[i] = B16[i]!;
      return;
    case K.PAVGB:
      for (let i = 0; i < n; i++) A8[i] = (A8[i]! + B8[i]! + 1) >> 1;
      return;
    case K.PAVGW:
      for (let i = 0; i < h; i++) AU16[i] = (AU16[i]! + BU16[i]! + 1) >> 1;
      return;
    case K.PAND:
      for (let i = 0; i < n >> 2; i++) A32[i] = A32[i]! & B32[i]!;
      return;
    case K.PANDN:
      for (let i = 0; i < n >> 2; i++) A32[i] = ~A32[i]! & B32[i]!;
      return;
    case K.POR:
      for (let i = 0; i < n >> 2; i++) A32[i] = A32[i]! | B32[i]!;
      return;
    case K.PXOR:
      for (let i = 0; i < n >> 2; i++) A32[i] = A32[i]! ^ B32[i]!;
      return;
    case K.PSUBB:
      for (let i = 0; i < n; i++) A8[i] = A8[i]! - B8[i]!;
      return;
    case K.PSUBW:
      for (let i = 0; i < h; i++) A16[i] = A16[i]! - B16[i]!;
      return;
    case K.PSUBD:
      for (let i = 0; i < n >> 2; i++) A32[i] = (A32[i]! - B32[i]!) | 0;
      return;
    case K.PADDB:
      for (let i = 0; i < n; i++) A8[i] = A8[i]! + B8[i]!;
      return;
    case K.PADDW:
      for (let i = 0; i < h; i++) A16[i] = A16[i]! + B16[i]!;
      return;
    case K.PADDD:
      for (let i = 0; i < n >> 2; i++) A32[i] = (A32[i]! + B32[i]!) | 0;
      return;
    default:
      throw new Error(`simd-int: no kernel ${k}`);
  }
}

function copyR(n: number): void {
  A32[0] = R32[0]!;
  A32[1] = R32[1]!;
  if (n === 16) {
    A32[2] = R32[2]!;
    A32[3] = R32[3]!;
  }
}

/** Per-byte equality of two 32-bit words: 0xFF where the bytes are equal, 0 elsewhere. */
function eqBytes(a: number, b: number): number {
  const x = a ^ b;
  // Bit 7 of each byte of t is set when that byte of x is non-zero.
  const t = ((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x;
  return ~Math.imul((t >>> 7) & 0x01010101, 0xff);
}

/** The high bit of each byte of a 32-bit word, as 4 bits (PMOVMSKB). */
function byteSigns(v: number): number {
  return (Math.imul((v >>> 7) & 0x01010101, 0x00204081) >>> 21) & 15;
}

// ---- operand plumbing --------------------------------------------------------------------------

/** MMX source operand into B32[0..1]: MMn, or `bytes` (8, or 4 for the unpack-low forms) of memory. */
function mmSrc(cpu: Cpu, d: number, bytes: number): void {
  if (isMemOp(cpu, d)) {
    const lo = memAddr(cpu, d, bytes, false);
    if (bytes === 8) {
      B32[0] = cpu.rd64(lo, cpu.hi);
      B32[1] = cpu.hi;
    } else {
      B32[0] = cpu.rd32(lo, cpu.hi);
      B32[1] = 0;
    }
  } else {
    const s = cpu.rec[d + 3]! & 7;
    B32[0] = cpu.fpLo[s]!;
    B32[1] = cpu.fpHi[s]!;
  }
}

/** The MMX form of a two-operand kernel: MMn op= mm/m64. */
function mmOp(k: number, bytes = 8): Handler {
  return (cpu, d) => {
    mmxCheck(cpu);
    mmSrc(cpu, d, bytes);
    mmxSwitch(cpu);
    const r = cpu.rec[d + 2]! & 7;
    A32[0] = cpu.fpLo[r]!;
    A32[1] = cpu.fpHi[r]!;
    kernel(k, 8);
    writeMmx(cpu, r, A32[0]!, A32[1]!);
  };
}

/** The SSE2 form of a two-operand kernel: XMMn op= xmm/m128 (aligned). */
function xmOp(k: number): Handler {
  return (cpu, d) => {
    sseAvailable(cpu);
    xmmSrc(cpu, d, true);
    const r = cpu.rec[d + 2]!;
    xmmToA(cpu, r);
    kernel(k, 16);
    putXmm(cpu, r, A32);
  };
}

/** Shift by immediate (groups 12-14): the register operand (ModRM.rm) shifted by imm8; memory is #UD. */
function mmShiftImm(k: number): Handler {
  return (cpu, d) => {
    if (isMemOp(cpu, d)) cpu.ud();
    mmxCheck(cpu);
    mmxSwitch(cpu);
    const r = cpu.rec[d + 3]! & 7;
    A32[0] = cpu.fpLo[r]!;
    A32[1] = cpu.fpHi[r]!;
    B32[0] = cpu.rec[d + R_IMM]! & 0xff;
    B32[1] = 0;
    kernel(k, 8);
    writeMmx(cpu, r, A32[0]!, A32[1]!);
  };
}

function xmShiftImm(k: number): Handler {
  return (cpu, d) => {
    if (isMemOp(cpu, d)) cpu.ud();
    sseAvailable(cpu);
    const r = cpu.rec[d + 3]!;
    xmmToA(cpu, r);
    B32[0] = cpu.rec[d + R_IMM]! & 0xff;
    B32[1] = 0;
    kernel(k, 16);
    putXmm(cpu, r, A32);
  };
}

// ---- fast XMM forms (what compilers and string functions emit) -----------------------------

/** PXOR/XORPS/XORPD xmm, xmm/m128. */
function pxorX(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  if (isMemOp(cpu, d)) {
    const m = readM128(cpu, d, true);
    x[r] ^= m[0]!;
    x[r + 1] ^= m[1]!;
    x[r + 2] ^= m[2]!;
    x[r + 3] ^= m[3]!;
  } else {
    const s = cpu.rec[d + 3]! << 2;
    if (s === r) {
      x[r] = x[r + 1] = x[r + 2] = x[r + 3] = 0;
      return;
    }
    x[r] ^= x[s]!;
    x[r + 1] ^= x[s + 1]!;
    x[r + 2] ^= x[s + 2]!;
    x[r + 3] ^= x[s + 3]!;
  }
}

/** Source lanes of an XMM op: `cpu.m128` for memory, else `cpu.xmm` at the returned offset (or -1 for m128). */
function xSrcOff(cpu: Cpu, d: number): number {
  if (isMemOp(cpu, d)) {
    readM128(cpu, d, true);
    return -1;
  }
  return cpu.rec[d + 3]! << 2;
}

/** PAND/ANDPS/ANDPD (kind 0), PANDN/ANDNPS/ANDNPD (1), POR/ORPS/ORPD (2) on XMM. */
function logicX(cpu: Cpu, d: number, kind: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  const so = xSrcOff(cpu, d);
  const src = so < 0 ? cpu.m128 : x;
  const s = so < 0 ? 0 : so;
  for (let i = 0; i < 4; i++) {
    const a = x[r + i]!;
    const b = src[s + i]!;
    x[r + i] = kind === 0 ? a & b : kind === 1 ? ~a & b : a | b;
  }
}

/** PCMPEQB xmm, xmm/m128. */
function pcmpeqbX(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const x = cpu.xmm;
  const r = cpu.rec[d + 2]! << 2;
  const so = xSrcOff(cpu, d);
  const src = so < 0 ? cpu.m128 : x;
  const s = so < 0 ? 0 : so;
  x[r] = eqBytes(x[r]!, src[s]!);
  x[r + 1] = eqBytes(x[r + 1]!, src[s + 1]!);
  x[r + 2] = eqBytes(x[r + 2]!, src[s + 2]!);
  x[r + 3] = eqBytes(x[r + 3]!, src[s + 3]!);
}

// ---- PMOVMSKB, PSHUF*, PINSRW, PEXTRW, EMMS --------------------------------------------------

/** PMOVMSKB r32/r64, mm (0F D7) / xmm (66 0F D7): byte sign bits, zero-extended; register operand only. */
function pmovmskbM(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  mmxCheck(cpu);
  mmxSwitch(cpu);
  const s = cpu.rec[d + 3]! & 7;
  writeReg(cpu, cpu.rec[d + 2]!, 2, byteSigns(cpu.fpLo[s]!) | (byteSigns(cpu.fpHi[s]!) << 4), 0);
}
function pmovmskbX(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  const x = cpu.xmm;
  const s = cpu.rec[d + 3]! << 2;
  const v = byteSigns(x[s]!) | (byteSigns(x[s + 1]!) << 4) | (byteSigns(x[s + 2]!) << 8) | (byteSigns(x[s + 3]!) << 12);
  writeReg(cpu, cpu.rec[d + 2]!, 2, v, 0);
}

/** PSHUFW mm, mm/m64, imm8 (0F 70): word i = source word imm[2i+1:2i]. */
function pshufw(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  mmSrc(cpu, d, 8);
  mmxSwitch(cpu);
  const imm = cpu.rec[d + R_IMM]!;
  for (let i = 0; i < 4; i++) AU16[i] = BU16[(imm >> (2 * i)) & 3]!;
  writeMmx(cpu, cpu.rec[d + 2]! & 7, A32[0]!, A32[1]!);
}

/**
 * PSHUFD (66 0F 70, kind 0): doubleword i = source doubleword imm[2i+1:2i]; PSHUFHW (F3, kind 1)
 * shuffles the high four words and copies the low quadword; PSHUFLW (F2, kind 2) the reverse.
 */
function pshufX(cpu: Cpu, d: number, kind: number): void {
  sseAvailable(cpu);
  xmmSrc(cpu, d, true);
  const imm = cpu.rec[d + R_IMM]!;
  if (kind === 0) {
    for (let i = 0; i < 4; i++) A32[i] = B32[(imm >> (2 * i)) & 3]!;
  } else {
    const o = kind === 1 ? 4 : 0;
    const keep = kind === 1 ? 0 : 2;
    A32[keep] = B32[keep]!;
    A32[keep + 1] = B32[keep + 1]!;
    for (let i = 0; i < 4; i++) AU16[o + i] = BU16[o + ((imm >> (2 * i)) & 3)]!;
  }
  putXmm(cpu, cpu.rec[d + 2]!, A32);
}

/** The 16-bit source of PINSRW: the low word of a general register, or m16. */
function pinsrwSource(cpu: Cpu, d: number): number {
  if (isMemOp(cpu, d)) {
    const lo = memAddr(cpu, d, 2, false);
    return cpu.rd16(lo, cpu.hi);
  }
  return cpu.gpr[cpu.rec[d + 3]!]! & 0xffff;
}

/** PINSRW mm, r32/m16, imm8 (0F C4): word imm[1:0]. */
function pinsrwM(cpu: Cpu, d: number): void {
  mmxCheck(cpu);
  const v = pinsrwSource(cpu, d);
  mmxSwitch(cpu);
  const r = cpu.rec[d + 2]! & 7;
  A32[0] = cpu.fpLo[r]!;
  A32[1] = cpu.fpHi[r]!;
  AU16[cpu.rec[d + R_IMM]! & 3] = v;
  writeMmx(cpu, r, A32[0]!, A32[1]!);
}

/** PINSRW xmm, r32/m16, imm8 (66 0F C4): word imm[2:0]. */
function pinsrwX(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const v = pinsrwSource(cpu, d);
  const r = cpu.rec[d + 2]!;
  xmmToA(cpu, r);
  AU16[cpu.rec[d + R_IMM]! & 7] = v;
  putXmm(cpu, r, A32);
}

/** PEXTRW r32/r64, mm, imm8 (0F C5): word imm[1:0], zero-extended; register operand only. */
function pextrwM(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  mmxCheck(cpu);
  mmxSwitch(cpu);
  const s = cpu.rec[d + 3]! & 7;
  const i = cpu.rec[d + R_IMM]! & 3;
  const w = i < 2 ? cpu.fpLo[s]! : cpu.fpHi[s]!;
  writeReg(cpu, cpu.rec[d + 2]!, 2, (w >>> ((i & 1) * 16)) & 0xffff, 0);
}

/** PEXTRW r32/r64, xmm, imm8 (66 0F C5): word imm[2:0]. */
function pextrwX(cpu: Cpu, d: number): void {
  if (isMemOp(cpu, d)) cpu.ud();
  sseAvailable(cpu);
  const i = cpu.rec[d + R_IMM]! & 7;
  const w = cpu.xmm[(cpu.rec[d + 3]! << 2) + (i >> 1)]!;
  writeReg(cpu, cpu.rec[d + 2]!, 2, (w >>> ((i & 1) * 16)) & 0xffff, 0);
}

/**
 * EMMS (0F 77): every tag empty (SDM Vol. 2 "EMMS"). The AMD host also clears TOP (measured:
 * FSW.TOP reads 0 after EMMS), so AMD models do the same; the SDM's operation leaves it.
 */
function emms(cpu: Cpu): void {
  mmxCheck(cpu);
  cpu.fpEmpty = 0xff;
  if (cpu.model.vendor === 'amd') cpu.fpTop = 0;
}

// ---- installation ------------------------------------------------------------------------------

/** Opcode -> kernel for the rows where MMX (no prefix) and SSE2 (66) forms share a kernel. */
const BOTH: readonly (readonly [number, number])[] = [
  [0x60, K.PUNPCKLBW], [0x61, K.PUNPCKLWD], [0x62, K.PUNPCKLDQ], [0x63, K.PACKSSWB],
  [0x64, K.PCMPGTB], [0x65, K.PCMPGTW], [0x66, K.PCMPGTD], [0x67, K.PACKUSWB],
  [0x68, K.PUNPCKHBW], [0x69, K.PUNPCKHWD], [0x6a, K.PUNPCKHDQ], [0x6b, K.PACKSSDW],
  [0x74, K.PCMPEQB], [0x75, K.PCMPEQW], [0x76, K.PCMPEQD],
  [0xd1, K.PSRLW], [0xd2, K.PSRLD], [0xd3, K.PSRLQ], [0xd4, K.PADDQ], [0xd5, K.PMULLW],
  [0xd8, K.PSUBUSB], [0xd9, K.PSUBUSW], [0xda, K.PMINUB], [0xdb, K.PAND],
  [0xdc, K.PADDUSB], [0xdd, K.PADDUSW], [0xde, K.PMAXUB], [0xdf, K.PANDN],
  [0xe0, K.PAVGB], [0xe1, K.PSRAW], [0xe2, K.PSRAD], [0xe3, K.PAVGW], [0xe4, K.PMULHUW], [0xe5, K.PMULHW],
  [0xe8, K.PSUBSB], [0xe9, K.PSUBSW], [0xea, K.PMINSW], [0xeb, K.POR],
  [0xec, K.PADDSB], [0xed, K.PADDSW], [0xee, K.PMAXSW], [0xef, K.PXOR],
  [0xf1, K.PSLLW], [0xf2, K.PSLLD], [0xf3, K.PSLLQ], [0xf4, K.PMULUDQ], [0xf5, K.PMADDWD], [0xf6, K.PSADBW],
  [0xf8, K.PSUBB], [0xf9, K.PSUBW], [0xfa, K.PSUBD], [0xfb, K.PSUBQ], [0xfc, K.PADDB], [0xfd, K.PADDW], [0xfe, K.PADDD],
];

const NAMES = Object.fromEntries(Object.entries(K).map(([n, v]) => [v, n.toLowerCase()])) as Record<number, string>;

/** Installs the MMX/SSE2 integer instructions and the SSE/SSE2 data movement (simd-move.ts). */
export function installSimdInt(): void {
  const two = OpMap.Two;
  for (const [op, k] of BOTH) {
    // PUNPCKLBW/WD/DQ mm, mm/m32 (SDM Vol. 2: the MMX forms read 32 bits of memory).
    const bytes = op >= 0x60 && op <= 0x62 ? 4 : 8;
    setOp(two, op, defineHandler(`${NAMES[k]!} mm`, mmOp(k, bytes)), { prefix: Pfx.None });
    let x: Handler;
    if (k === K.PXOR) x = pxorX;
    else if (k === K.PAND) x = (cpu, d) => logicX(cpu, d, 0);
    else if (k === K.PANDN) x = (cpu, d) => logicX(cpu, d, 1);
    else if (k === K.POR) x = (cpu, d) => logicX(cpu, d, 2);
    else if (k === K.PCMPEQB) x = pcmpeqbX;
    else x = xmOp(k);
    setOp(two, op, defineHandler(`${NAMES[k]!} xmm`, x), { prefix: Pfx.P66 });
  }
  setOp(two, 0x6c, defineHandler('punpcklqdq', xmOp(K.PUNPCKLQDQ)), { prefix: Pfx.P66 });
  setOp(two, 0x6d, defineHandler('punpckhqdq', xmOp(K.PUNPCKHQDQ)), { prefix: Pfx.P66 });
  // UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD (0F 14/15) interleave like PUNPCKLDQ/HDQ/LQDQ/HQDQ.
  setOp(two, 0x14, defineHandler('unpcklps', xmOp(K.PUNPCKLDQ)), { prefix: Pfx.None });
  setOp(two, 0x15, defineHandler('unpckhps', xmOp(K.PUNPCKHDQ)), { prefix: Pfx.None });
  setOp(two, 0x14, defineHandler('unpcklpd', xmOp(K.PUNPCKLQDQ)), { prefix: Pfx.P66 });
  setOp(two, 0x15, defineHandler('unpckhpd', xmOp(K.PUNPCKHQDQ)), { prefix: Pfx.P66 });
  // ANDPS/ANDNPS/ORPS/XORPS and the PD forms (0F 54-57): bitwise, no floating-point exceptions.
  for (const p of [Pfx.None, Pfx.P66]) {
    const sfx = p === Pfx.None ? 'ps' : 'pd';
    setOp(two, 0x54, defineHandler(`and${sfx}`, (cpu, d) => logicX(cpu, d, 0)), { prefix: p });
    setOp(two, 0x55, defineHandler(`andn${sfx}`, (cpu, d) => logicX(cpu, d, 1)), { prefix: p });
    setOp(two, 0x56, defineHandler(`or${sfx}`, (cpu, d) => logicX(cpu, d, 2)), { prefix: p });
    setOp(two, 0x57, defineHandler(`xor${sfx}`, pxorX), { prefix: p });
  }
  // Shift groups 12, 13, 14 (0F 71/72/73; SDM Vol. 2 Table A-6): /2 right logical, /4 right
  // arithmetic, /6 left; 0F 73 /3 and /7 are PSRLDQ/PSLLDQ (66 only).
  const groups: readonly (readonly [number, number, number])[] = [
    [0x71, 2, K.PSRLW], [0x71, 4, K.PSRAW], [0x71, 6, K.PSLLW],
    [0x72, 2, K.PSRLD], [0x72, 4, K.PSRAD], [0x72, 6, K.PSLLD],
    [0x73, 2, K.PSRLQ], [0x73, 6, K.PSLLQ],
  ];
  for (const [op, reg, k] of groups) {
    setOp(two, op, defineHandler(`${NAMES[k]!} mm, imm8`, mmShiftImm(k)), { prefix: Pfx.None, reg });
    setOp(two, op, defineHandler(`${NAMES[k]!} xmm, imm8`, xmShiftImm(k)), { prefix: Pfx.P66, reg });
  }
  setOp(two, 0x73, defineHandler('psrldq', xmShiftImm(K.PSRLDQ)), { prefix: Pfx.P66, reg: 3 });
  setOp(two, 0x73, defineHandler('pslldq', xmShiftImm(K.PSLLDQ)), { prefix: Pfx.P66, reg: 7 });

  setOp(two, 0x70, defineHandler('pshufw', pshufw), { prefix: Pfx.None });
  setOp(two, 0x70, defineHandler('pshufd', (cpu, d) => pshufX(cpu, d, 0)), { prefix: Pfx.P66 });
  setOp(two, 0x70, defineHandler('pshufhw', (cpu, d) => pshufX(cpu, d, 1)), { prefix: Pfx.F3 });
  setOp(two, 0x70, defineHandler('pshuflw', (cpu, d) => pshufX(cpu, d, 2)), { prefix: Pfx.F2 });
  setOp(two, 0xc4, defineHandler('pinsrw mm', pinsrwM), { prefix: Pfx.None });
  setOp(two, 0xc4, defineHandler('pinsrw xmm', pinsrwX), { prefix: Pfx.P66 });
  setOp(two, 0xc5, defineHandler('pextrw mm', pextrwM), { prefix: Pfx.None });
  setOp(two, 0xc5, defineHandler('pextrw xmm', pextrwX), { prefix: Pfx.P66 });
  setOp(two, 0xd7, defineHandler('pmovmskb mm', pmovmskbM), { prefix: Pfx.None });
  setOp(two, 0xd7, defineHandler('pmovmskb xmm', pmovmskbX), { prefix: Pfx.P66 });
  setOp(two, 0x77, defineHandler('emms', emms), { prefix: Pfx.None });
  installSimdMove();
}
