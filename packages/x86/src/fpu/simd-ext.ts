/**
 * SSSE3, the SSE4.1 integer, blend, insert/extract instructions, and SSE4.2 (PCMPGTQ here;
 * the string comparisons in simd-ext-str.ts). Opcode maps 0F 38 and 0F 3A (SDM Vol. 2
 * Appendix A, Tables ); each instruction's page in SDM Vol. 2 ch. 3-4 defines the
 * operation cited on its function.
 *
 * - SSSE3 (CPUID.01H:ECX.SSSE3[bit 9]): the MM form without a prefix and the XMM form with 66.
 * - SSE4.1 (ECX.SSE4_1[bit 19]) and SSE4.2 (ECX.SSE4_2[bit 20]): 66 only. Every other
 *   mandatory-prefix class of these opcodes is left without a handler, so it decodes to #UD.
 * - A model without the feature bit raises #UD (feature.ts `gated`).
 * - Checks: MM forms `mmxEnter` (#UD CR0.EM, #NM CR0.TS, #MF pending x87 exception, then TOP = 0
 *   and all tags valid); XMM forms `sseAvailable` (#UD CR0.EM or !CR4.OSFXSR, #NM CR0.TS). 16-byte
 *   memory operands must be aligned (#GP(0), exceptions type 4 / type 1 for MOVNTDQA); the
 *   narrower memory operands of PMOVSX/PMOVZX, PINSR*, PEXTR*, EXTRACTPS, INSERTPS have no
 *   alignment rule (exceptions type 5).
 * No instruction here reads or changes MXCSR: all are integer or bitwise operations (BLENDVPS
 * and BLENDVPD only test sign bits).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as muldivNs from '../ops/muldiv.js';
import * as operandsNs from '../ops/operands.js';
import * as commonNs from './common.js';
import * as lanesNs from './simd-ext-lanes.js';
import * as strNs from './simd-ext-str.js';
import { Cpuid1Ecx } from '../model.js';
import type { Handler } from '../optable.js';
import { gated } from '../ops/feature.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, R_IMM, R_INFO, R_REG, R_RM } = decodedNs;
const { setArithFlags } = flagsNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { mulHigh, mulU32 } = muldivNs;
const { memAddr, writeReg } = operandsNs;
const { readM128, sseAvailable } = commonNs;
const { D, D8, D8s, D16, D16s, S, S8, S8s, S16, S16s, R, R8, R16, R16s, X, X8 } = lanesNs;
const { fetchM, fetchX, fetchXmm0, storeM, storeX } = lanesNs;
const { installSimdStr } = strNs;

/** A lane operation on the staged operands D and S into R: `n` = 8 (MM) or 16 (XMM) bytes. */
type LaneOp = (n: number, imm: number) => void;

function sat16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

// ---- SSSE3 ---------------------------------------------------------------------------------

/** PSHUFB: byte i = 0 when bit 7 of source byte i is set, else the destination byte it indexes (low 3 or 4 bits). */
function pshufb(n: number): void {
  const m = n - 1;
  for (let i = 0; i < n; i++) {
    const b = S8[i]!;
    R8[i] = (b & 0x80) !== 0 ? 0 : D8[b & m]!;
  }
}

/**
 * PHADDW/PHADDSW/PHSUBW/PHSUBSW: adjacent word pairs of the destination fill the low half of
 * the result, those of the source the high half; `kind` 0 add, 1 add with signed saturation,
 * 2 subtract (even - odd), 3 subtract with saturation.
 */
function hWords(n: number, kind: number): void {
  const h = n >> 2;
  for (let i = 0; i < h; i++) {
    const a0 = D16s[2 * i]!;
    const a1 = D16s[2 * i + 1]!;
    const b0 = S16s[2 * i]!;
    const b1 = S16s[2 * i + 1]!;
    let ra = kind < 2 ? a0 + a1 : a0 - a1;
    let rb = kind < 2 ? b0 + b1 : b0 - b1;
    if ((kind & 1) !== 0) {
      ra = sat16(ra);
      rb = sat16(rb);
    }
    R16s[i] = ra;
    R16s[h + i] = rb;
  }
}

/** PHADDD/PHSUBD: the same on doubleword pairs, wrapping. */
function hDwords(n: number, sub: boolean): void {
  const h = n >> 3;
  for (let i = 0; i < h; i++) {
    R[i] = sub ? (D[2 * i]! - D[2 * i + 1]!) | 0 : (D[2 * i]! + D[2 * i + 1]!) | 0;
    R[h + i] = sub ? (S[2 * i]! - S[2 * i + 1]!) | 0 : (S[2 * i]! + S[2 * i + 1]!) | 0;
  }
}

/** PMADDUBSW: unsigned destination bytes times signed source bytes, adjacent products added with signed word saturation. */
function pmaddubsw(n: number): void {
  for (let i = 0; i < n >> 1; i++) R16s[i] = sat16(D8[2 * i]! * S8s[2 * i]! + D8[2 * i + 1]! * S8s[2 * i + 1]!);
}

/** PSIGNB/W/D (`size` 1, 2, 4): the destination element negated, zeroed or kept as the source element is negative, zero or positive. */
function psign(n: number, size: number): void {
  if (size === 1) {
    for (let i = 0; i < n; i++) {
      const s = S8s[i]!;
      R8[i] = s < 0 ? -D8[i]! : s === 0 ? 0 : D8[i]!;
    }
  } else if (size === 2) {
    for (let i = 0; i < n >> 1; i++) {
      const s = S16s[i]!;
      R16[i] = s < 0 ? -D16[i]! : s === 0 ? 0 : D16[i]!;
    }
  } else {
    for (let i = 0; i < n >> 2; i++) {
      const s = S[i]!;
      R[i] = s < 0 ? -D[i]! | 0 : s === 0 ? 0 : D[i]!;
    }
  }
}

/** PMULHRSW: the signed 32-bit products shifted right 14, plus 1, and bits 16:1 kept. */
function pmulhrsw(n: number): void {
  for (let i = 0; i < n >> 1; i++) R16s[i] = (((D16s[i]! * S16s[i]!) >> 14) + 1) >> 1;
}

/** PABSB/W/D (`size` 1, 2, 4): unsigned absolute values of the source elements. */
function pabs(n: number, size: number): void {
  if (size === 1) for (let i = 0; i < n; i++) R8[i] = S8s[i]! < 0 ? -S8s[i]! : S8s[i]!;
  else if (size === 2) for (let i = 0; i < n >> 1; i++) R16[i] = S16s[i]! < 0 ? -S16s[i]! : S16s[i]!;
  else for (let i = 0; i < n >> 2; i++) R[i] = S[i]! < 0 ? -S[i]! | 0 : S[i]!;
}

/** PALIGNR: destination (high) and source (low) concatenated, shifted right by imm8 bytes; the low half kept. */
function palignr(n: number, imm: number): void {
  for (let i = 0; i < n; i++) {
    const k = i + imm;
    R8[i] = k < n ? S8[k]! : k < 2 * n ? D8[k - n]! : 0;
  }
}

// ---- SSE4.1 -----------------------------------------------------------------------------------

/** PBLENDVB: byte i from the source where bit 7 of XMM0 byte i is set. */
function pblendvb(): void {
  for (let i = 0; i < 16; i++) R8[i] = (X8[i]! & 0x80) !== 0 ? S8[i]! : D8[i]!;
}

/** BLENDVPS: doubleword i from the source where the sign of XMM0 doubleword i is set. */
function blendvps(): void {
  for (let i = 0; i < 4; i++) R[i] = X[i]! < 0 ? S[i]! : D[i]!;
}

/** BLENDVPD: quadword i from the source where the sign of XMM0 quadword i is set. */
function blendvpd(): void {
  for (let i = 0; i < 4; i += 2) {
    const s = X[i + 1]! < 0;
    R[i] = s ? S[i]! : D[i]!;
    R[i + 1] = s ? S[i + 1]! : D[i + 1]!;
  }
}

/** BLENDPS: doubleword i from the source where imm8 bit i is set. */
function blendps(_n: number, imm: number): void {
  for (let i = 0; i < 4; i++) R[i] = ((imm >> i) & 1) !== 0 ? S[i]! : D[i]!;
}

/** BLENDPD: quadword i from the source where imm8 bit i is set. */
function blendpd(_n: number, imm: number): void {
  for (let i = 0; i < 4; i++) R[i] = ((imm >> (i >> 1)) & 1) !== 0 ? S[i]! : D[i]!;
}

/** PBLENDW: word i from the source where imm8 bit i is set. */
function pblendw(_n: number, imm: number): void {
  for (let i = 0; i < 8; i++) R16[i] = ((imm >> i) & 1) !== 0 ? S16[i]! : D16[i]!;
}

/** PMULDQ: signed doublewords 0 and 2 multiplied into two signed quadwords. */
function pmuldq(): void {
  for (let i = 0; i < 4; i += 2) {
    const a = D[i]!;
    const b = S[i]!;
    R[i] = mulU32(a, b);
    let hi = mulHigh();
    // Signed from unsigned: subtract 2^32 * the other factor for each negative factor.
    if (a < 0) hi = (hi - b) | 0;
    if (b < 0) hi = (hi - a) | 0;
    R[i + 1] = hi;
  }
}

/** PCMPEQQ: quadwords all ones where equal. */
function pcmpeqq(): void {
  for (let i = 0; i < 4; i += 2) {
    const e = D[i] === S[i] && D[i + 1] === S[i + 1] ? -1 : 0;
    R[i] = R[i + 1] = e;
  }
}

/** PCMPGTQ (SSE4.2): quadwords all ones where the destination is greater (signed). */
function pcmpgtq(): void {
  for (let i = 0; i < 4; i += 2) {
    const dh = D[i + 1]!;
    const sh = S[i + 1]!;
    const gt = dh > sh || (dh === sh && D[i]! >>> 0 > S[i]! >>> 0);
    R[i] = R[i + 1] = gt ? -1 : 0;
  }
}

/** PACKUSDW: signed doublewords (destination's, then source's) to words with unsigned saturation. */
function packusdw(): void {
  for (let i = 0; i < 4; i++) {
    const a = D[i]!;
    const b = S[i]!;
    R16[i] = a < 0 ? 0 : a > 0xffff ? 0xffff : a;
    R16[i + 4] = b < 0 ? 0 : b > 0xffff ? 0xffff : b;
  }
}

/** PMINSB, PMAXSB. */
function minMaxSb(max: boolean): void {
  for (let i = 0; i < 16; i++) {
    const a = D8s[i]!;
    const b = S8s[i]!;
    R8[i] = (max ? a > b : a < b) ? a : b;
  }
}

/** PMINUW, PMAXUW. */
function minMaxUw(max: boolean): void {
  for (let i = 0; i < 8; i++) {
    const a = D16[i]!;
    const b = S16[i]!;
    R16[i] = (max ? a > b : a < b) ? a : b;
  }
}

/** PMINSD, PMAXSD, PMINUD, PMAXUD. */
function minMaxD(max: boolean, unsigned: boolean): void {
  for (let i = 0; i < 4; i++) {
    const a = D[i]!;
    const b = S[i]!;
    const ac = unsigned ? a >>> 0 : a;
    const bc = unsigned ? b >>> 0 : b;
    R[i] = (max ? ac > bc : ac < bc) ? a : b;
  }
}

/** PMULLD: the low 32 bits of the doubleword products. */
function pmulld(): void {
  for (let i = 0; i < 4; i++) R[i] = Math.imul(D[i]!, S[i]!);
}

/** PHMINPOSUW: the minimum unsigned source word in word 0, its lowest index in word 1, the rest zero. */
function phminposuw(): void {
  let m = S16[0]!;
  let k = 0;
  for (let i = 1; i < 8; i++) {
    if (S16[i]! < m) {
      m = S16[i]!;
      k = i;
    }
  }
  R[0] = m | (k << 16);
  R[1] = R[2] = R[3] = 0;
}

/**
 * MPSADBW: imm8[2] selects the destination block (byte offset 0 or 4), imm8[1:0] the source
 * doubleword; result word i is the sum of absolute differences of destination bytes
 * i..i+3 of the block and the four source bytes.
 */
function mpsadbw(_n: number, imm: number): void {
  const a = (imm & 4) !== 0 ? 4 : 0;
  const b = (imm & 3) << 2;
  const s0 = S8[b]!;
  const s1 = S8[b + 1]!;
  const s2 = S8[b + 2]!;
  const s3 = S8[b + 3]!;
  for (let i = 0; i < 8; i++) {
    const k = a + i;
    R16[i] = Math.abs(D8[k]! - s0) + Math.abs(D8[k + 1]! - s1) + Math.abs(D8[k + 2]! - s2) + Math.abs(D8[k + 3]! - s3);
  }
}

// ---- handler shapes -----------------------------------------------------------------------------

function xmmForm(op: LaneOp, aligned = true): Handler {
  return (cpu, d) => {
    fetchX(cpu, d, aligned);
    op(16, cpu.rec[d + R_IMM]! & 0xff);
    storeX(cpu, d);
  };
}

function mmForm(op: LaneOp): Handler {
  return (cpu, d) => {
    fetchM(cpu, d);
    op(8, cpu.rec[d + R_IMM]! & 0xff);
    storeM(cpu, d);
  };
}

/** The variable blends: XMM0 is the mask (implicit third operand). */
function blendvForm(op: () => void): Handler {
  return (cpu, d) => {
    fetchX(cpu, d, true);
    fetchXmm0(cpu);
    op();
    storeX(cpu, d);
  };
}

/** PTEST: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0; AF, OF, PF, SF cleared. No register written. */
function ptest(cpu: Cpu, d: number): void {
  fetchX(cpu, d, true);
  const and = (D[0]! & S[0]!) | (D[1]! & S[1]!) | (D[2]! & S[2]!) | (D[3]! & S[3]!);
  const andn = (~D[0]! & S[0]!) | (~D[1]! & S[1]!) | (~D[2]! & S[2]!) | (~D[3]! & S[3]!);
  setArithFlags(cpu, (and === 0 ? 0x40 : 0) | (andn === 0 ? 1 : 0));
}

/**
 * MOVNTDQA: an aligned 16-byte load. Memory only: the decoder maps a register operand to #UD
 * (optable.ts MOD3_REGS_38). The non-temporal hint has no effect here.
 */
function movntdqa(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const m = readM128(cpu, d, true);
  R[0] = m[0]!;
  R[1] = m[1]!;
  R[2] = m[2]!;
  R[3] = m[3]!;
  storeX(cpu, d);
}

/**
 * PMOVSX / PMOVZX: the low `16 / (to / from)` elements of `from` bytes of the source widened to
 * `to` bytes, sign- or zero-extended. A memory source is exactly the bytes used (8, 4 or 2).
 */
function pmovx(from: number, to: number, signed: boolean): Handler {
  const count = 16 / to;
  const bytes = count * from;
  return (cpu, d) => {
    sseAvailable(cpu);
    const rec = cpu.rec;
    if ((rec[d + R_INFO]! & I_MEM) !== 0) {
      const lo = memAddr(cpu, d, bytes, false);
      const hi = cpu.hi;
      S[1] = 0;
      if (bytes === 8) {
        S[0] = cpu.rd64(lo, hi);
        S[1] = cpu.hi;
      } else if (bytes === 4) S[0] = cpu.rd32(lo, hi);
      else S[0] = cpu.rd16(lo, hi);
    } else {
      const x = cpu.xmm;
      const o = rec[d + R_RM]! << 2;
      S[0] = x[o]!;
      S[1] = x[o + 1]!;
    }
    for (let i = 0; i < count; i++) {
      const v = from === 1 ? (signed ? S8s[i]! : S8[i]!) : from === 2 ? (signed ? S16s[i]! : S16[i]!) : signed ? S[i]! : S[i]! >>> 0;
      if (to === 2) R16[i] = v;
      else if (to === 4) R[i] = v;
      else {
        R[2 * i] = v;
        R[2 * i + 1] = v < 0 ? -1 : 0;
      }
    }
    storeX(cpu, d);
  };
}

/** XMM(reg) lane `k` (dword) of the current instruction. */
function xmmDword(cpu: Cpu, d: number, k: number): number {
  return cpu.xmm[(cpu.rec[d + R_REG]! << 2) + k]!;
}

/**
 * PEXTRB/PEXTRW/PEXTRD/PEXTRQ/EXTRACTPS (66 0F 3A 14-17): an element of XMM(reg) selected by
 * imm8 to a memory operand of the element's size, or to a general register zero-extended
 * (32-bit write; PEXTRQ, REX.W with 66 0F 3A 16, writes 64 bits).
 */
function pextr(size: number, wide: boolean): Handler {
  return (cpu, d) => {
    sseAvailable(cpu);
    const rec = cpu.rec;
    const imm = rec[d + R_IMM]!;
    const q = wide && ((rec[d + R_INFO]! >>> 4) & 3) === 3;
    let v: number;
    let vHi = 0;
    if (q) {
      const k = (imm & 1) << 1;
      v = xmmDword(cpu, d, k);
      vHi = xmmDword(cpu, d, k + 1);
    } else if (size === 1) v = (xmmDword(cpu, d, (imm >> 2) & 3) >>> ((imm & 3) << 3)) & 0xff;
    else if (size === 2) v = (xmmDword(cpu, d, (imm >> 1) & 3) >>> ((imm & 1) << 4)) & 0xffff;
    else v = xmmDword(cpu, d, imm & 3);
    if ((rec[d + R_INFO]! & I_MEM) !== 0) {
      const lo = memAddr(cpu, d, q ? 8 : size, true);
      const hi = cpu.hi;
      if (q) cpu.wr64(lo, hi, v, vHi);
      else if (size === 1) cpu.wr8(lo, hi, v);
      else if (size === 2) cpu.wr16(lo, hi, v);
      else cpu.wr32(lo, hi, v);
    } else writeReg(cpu, rec[d + R_RM]!, q ? 3 : 2, v, vHi);
  };
}

/** PINSRB/PINSRD/PINSRQ (66 0F 3A 20/22): r32 (low byte) / m8, r32/m32, r64/m64 (REX.W) into the element of XMM(reg) selected by imm8. */
function pinsr(size: number): Handler {
  return (cpu, d) => {
    sseAvailable(cpu);
    const rec = cpu.rec;
    const info = rec[d + R_INFO]!;
    const imm = rec[d + R_IMM]!;
    const q = size === 4 && ((info >>> 4) & 3) === 3;
    let v: number;
    let vHi = 0;
    if ((info & I_MEM) !== 0) {
      const lo = memAddr(cpu, d, q ? 8 : size, false);
      const hi = cpu.hi;
      if (q) {
        v = cpu.rd64(lo, hi);
        vHi = cpu.hi;
      } else v = size === 1 ? cpu.rd8(lo, hi) : cpu.rd32(lo, hi);
    } else {
      const r = rec[d + R_RM]!;
      v = cpu.gpr[r]!;
      vHi = cpu.gprHi[r]!;
    }
    const x = cpu.xmm;
    const base = rec[d + R_REG]! << 2;
    if (q) {
      const k = base + ((imm & 1) << 1);
      x[k] = v;
      x[k + 1] = vHi;
    } else if (size === 1) {
      const k = base + ((imm >> 2) & 3);
      const sh = (imm & 3) << 3;
      x[k] = (x[k]! & ~(0xff << sh)) | ((v & 0xff) << sh);
    } else x[base + (imm & 3)] = v;
  };
}

/**
 * INSERTPS (66 0F 3A 21): source doubleword imm8[7:6] of XMM(rm), or the m32 operand, into
 * destination doubleword imm8[5:4]; then the doublewords set in imm8[3:0] are zeroed.
 */
function insertps(cpu: Cpu, d: number): void {
  sseAvailable(cpu);
  const rec = cpu.rec;
  const imm = rec[d + R_IMM]!;
  const x = cpu.xmm;
  let v: number;
  if ((rec[d + R_INFO]! & I_MEM) !== 0) {
    const lo = memAddr(cpu, d, 4, false);
    v = cpu.rd32(lo, cpu.hi);
  } else v = x[(rec[d + R_RM]! << 2) + ((imm >> 6) & 3)]!;
  const base = rec[d + R_REG]! << 2;
  x[base + ((imm >> 4) & 3)] = v;
  for (let i = 0; i < 4; i++) if (((imm >> i) & 1) !== 0) x[base + i] = 0;
}

// ---- installation ----------------------------------------------------------------------------

const SSSE3 = Cpuid1Ecx.SSSE3;
const SSE41 = Cpuid1Ecx.SSE41;
const SSE42 = Cpuid1Ecx.SSE42;

function put(map: OpMap3, opcode: number, name: string, bit: number, fn: Handler, prefix: number): void {
  setOp(map, opcode, defineHandler(name, gated('leaf1Ecx', bit, fn)), { prefix });
}
type OpMap3 = typeof OpMap.Three38 | typeof OpMap.Three3A;

/** An SSSE3 instruction: NP (MM) and 66 (XMM). */
function ssse3(map: OpMap3, opcode: number, name: string, op: LaneOp): void {
  put(map, opcode, `${name} mm, mm/m64`, SSSE3, mmForm(op), Pfx.None);
  put(map, opcode, `${name} xmm, xmm/m128`, SSSE3, xmmForm(op), Pfx.P66);
}

export function installSimdExt(): void {
  const T38 = OpMap.Three38;
  const T3A = OpMap.Three3A;
  // SSSE3 (SDM Vol. 2 "PSHUFB", "PHADDW/PHADDD", "PHADDSW", "PMADDUBSW", "PHSUBW/PHSUBD",
  // "PHSUBSW", "PSIGNB/PSIGNW/PSIGND", "PMULHRSW", "PABSB/PABSW/PABSD", "PALIGNR").
  ssse3(T38, 0x00, 'pshufb', pshufb);
  ssse3(T38, 0x01, 'phaddw', (n) => hWords(n, 0));
  ssse3(T38, 0x02, 'phaddd', (n) => hDwords(n, false));
  ssse3(T38, 0x03, 'phaddsw', (n) => hWords(n, 1));
  ssse3(T38, 0x04, 'pmaddubsw', pmaddubsw);
  ssse3(T38, 0x05, 'phsubw', (n) => hWords(n, 2));
  ssse3(T38, 0x06, 'phsubd', (n) => hDwords(n, true));
  ssse3(T38, 0x07, 'phsubsw', (n) => hWords(n, 3));
  ssse3(T38, 0x08, 'psignb', (n) => psign(n, 1));
  ssse3(T38, 0x09, 'psignw', (n) => psign(n, 2));
  ssse3(T38, 0x0a, 'psignd', (n) => psign(n, 4));
  ssse3(T38, 0x0b, 'pmulhrsw', pmulhrsw);
  ssse3(T38, 0x1c, 'pabsb', (n) => pabs(n, 1));
  ssse3(T38, 0x1d, 'pabsw', (n) => pabs(n, 2));
  ssse3(T38, 0x1e, 'pabsd', (n) => pabs(n, 4));
  ssse3(T3A, 0x0f, 'palignr', palignr);

  // SSE4.1 (SDM Vol. 2, the instruction pages of the same names).
  const P66 = Pfx.P66;
  put(T38, 0x10, 'pblendvb xmm, xmm/m128, <xmm0>', SSE41, blendvForm(pblendvb), P66);
  put(T38, 0x14, 'blendvps xmm, xmm/m128, <xmm0>', SSE41, blendvForm(blendvps), P66);
  put(T38, 0x15, 'blendvpd xmm, xmm/m128, <xmm0>', SSE41, blendvForm(blendvpd), P66);
  put(T38, 0x17, 'ptest xmm, xmm/m128', SSE41, ptest, P66);
  const movx: [number, string, number, number][] = [
    [0x20, 'bw', 1, 2],
    [0x21, 'bd', 1, 4],
    [0x22, 'bq', 1, 8],
    [0x23, 'wd', 2, 4],
    [0x24, 'wq', 2, 8],
    [0x25, 'dq', 4, 8],
  ];
  for (const [op, nm, from, to] of movx) {
    put(T38, op, `pmovsx${nm}`, SSE41, pmovx(from, to, true), P66);
    put(T38, op + 0x10, `pmovzx${nm}`, SSE41, pmovx(from, to, false), P66);
  }
  put(T38, 0x28, 'pmuldq', SSE41, xmmForm(pmuldq), P66);
  put(T38, 0x29, 'pcmpeqq', SSE41, xmmForm(pcmpeqq), P66);
  put(T38, 0x2a, 'movntdqa xmm, m128', SSE41, movntdqa, P66);
  put(T38, 0x2b, 'packusdw', SSE41, xmmForm(packusdw), P66);
  put(T38, 0x38, 'pminsb', SSE41, xmmForm(() => minMaxSb(false)), P66);
  put(T38, 0x39, 'pminsd', SSE41, xmmForm(() => minMaxD(false, false)), P66);
  put(T38, 0x3a, 'pminuw', SSE41, xmmForm(() => minMaxUw(false)), P66);
  put(T38, 0x3b, 'pminud', SSE41, xmmForm(() => minMaxD(false, true)), P66);
  put(T38, 0x3c, 'pmaxsb', SSE41, xmmForm(() => minMaxSb(true)), P66);
  put(T38, 0x3d, 'pmaxsd', SSE41, xmmForm(() => minMaxD(true, false)), P66);
  put(T38, 0x3e, 'pmaxuw', SSE41, xmmForm(() => minMaxUw(true)), P66);
  put(T38, 0x3f, 'pmaxud', SSE41, xmmForm(() => minMaxD(true, true)), P66);
  put(T38, 0x40, 'pmulld', SSE41, xmmForm(pmulld), P66);
  put(T38, 0x41, 'phminposuw', SSE41, xmmForm(phminposuw), P66);
  put(T3A, 0x0c, 'blendps', SSE41, xmmForm(blendps), P66);
  put(T3A, 0x0d, 'blendpd', SSE41, xmmForm(blendpd), P66);
  put(T3A, 0x0e, 'pblendw', SSE41, xmmForm(pblendw), P66);
  put(T3A, 0x14, 'pextrb r32/m8, xmm, imm8', SSE41, pextr(1, false), P66);
  put(T3A, 0x15, 'pextrw r32/m16, xmm, imm8', SSE41, pextr(2, false), P66);
  put(T3A, 0x16, 'pextrd/pextrq r/m, xmm, imm8', SSE41, pextr(4, true), P66);
  put(T3A, 0x17, 'extractps r/m32, xmm, imm8', SSE41, pextr(4, false), P66);
  put(T3A, 0x20, 'pinsrb xmm, r32/m8, imm8', SSE41, pinsr(1), P66);
  put(T3A, 0x21, 'insertps xmm, xmm/m32, imm8', SSE41, insertps, P66);
  put(T3A, 0x22, 'pinsrd/pinsrq xmm, r/m, imm8', SSE41, pinsr(4), P66);
  put(T3A, 0x42, 'mpsadbw', SSE41, xmmForm(mpsadbw), P66);

  // SSE4.2 (SDM Vol. 2 "PCMPGTQ"; "PCMPESTRI" .. "PCMPISTRM" in simd-ext-str.ts).
  put(T38, 0x37, 'pcmpgtq', SSE42, xmmForm(pcmpgtq), P66);
  installSimdStr((opcode, name, fn) => put(T3A, opcode, name, SSE42, fn, P66));
}
