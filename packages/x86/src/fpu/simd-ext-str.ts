/**
 * SSE4.2 packed string comparisons: PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM (66 0F 3A
 * 60-63). SDM Vol. 2 §4.1 "Imm8 Control Byte Operation for PCMPESTRI / PCMPESTRM / PCMPISTRI /
 * PCMPISTRM" and the four instruction pages.
 *
 * Operand 1 is XMM(reg), operand 2 XMM(rm) or m128, which need not be aligned (SDM Vol. 2
 * §2.4: the PCMPxSTRx instructions are excepted from the legacy-SSE alignment rule).
 * - imm8[1:0] source format: 00 unsigned bytes, 01 unsigned words, 10 signed bytes, 11 signed
 *   words (16 or 8 elements).
 * - Lengths (§4.1.2): explicit forms take |EAX| for operand 1 and |EDX| for operand 2 (|RAX|,
 *   |RDX| with REX.W), saturated to the element count; implicit forms stop at the first zero
 *   element. Elements at or past the length are invalid.
 * - imm8[3:2] aggregation (§4.1.3-4.1.4, Table 4-7 for invalid elements): equal any, ranges,
 *   equal each, equal ordered. IntRes1 bit j belongs to element j of operand 2.
 * - imm8[5:4] polarity (§4.1.5): IntRes2 = IntRes1, its complement (01), or (11) the
 *   complement only in the bits of valid operand-2 elements.
 * - imm8[6] output selection (§4.1.6): the index forms write ECX (the least (0) or most (1)
 *   significant set bit of IntRes2, or the element count when none is set); the mask forms
 *   write XMM0 (IntRes2 zero-extended (0), or each bit widened to its element (1)).
 * - Flags: CF = IntRes2 != 0, ZF = operand 2 shorter than the element count, SF = operand 1
 *   shorter, OF = IntRes2[0], AF = PF = 0.
 * No MXCSR interaction.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as operandsNs from '../ops/operands.js';
import * as lanesNs from './simd-ext-lanes.js';
import type { Handler } from '../optable.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_INFO } = decodedNs;
const { setArithFlags } = flagsNs;
const { writeReg } = operandsNs;
const { D8, D8s, D16, D16s, S8, S8s, S16, S16s, fetchX } = lanesNs;

/** Operand 1 and operand 2 elements, as numbers (signed or unsigned per imm8[1]). */
const A = new Int32Array(16);
const B = new Int32Array(16);

/** |register| saturated to `n` (RAX/RDX when `w`, else EAX/EDX). */
function explicitLength(cpu: Cpu, r: number, w: boolean, n: number): number {
  const lo = cpu.gpr[r]!;
  let abs: number;
  if (w) {
    const hi = cpu.gprHi[r]!;
    if (hi === 0) abs = lo >>> 0;
    else if (hi === -1) abs = 0x1_0000_0000 - (lo >>> 0);
    else return n;
  } else abs = lo < 0 ? -lo : lo;
  return abs < n ? abs : n;
}

/** Index of the first zero element of `e`, or `n`. */
function implicitLength(e: Int32Array, n: number): number {
  for (let i = 0; i < n; i++) if (e[i] === 0) return i;
  return n;
}

/** Computes IntRes2 for the staged operands and sets the flags; returns IntRes2. */
function compare(cpu: Cpu, d: number, explicit: boolean): number {
  const imm = cpu.rec[d + R_IMM]! & 0xff;
  const words = (imm & 1) !== 0;
  const signed = (imm & 2) !== 0;
  const n = words ? 8 : 16;
  for (let i = 0; i < n; i++) {
    A[i] = words ? (signed ? D16s[i]! : D16[i]!) : signed ? D8s[i]! : D8[i]!;
    B[i] = words ? (signed ? S16s[i]! : S16[i]!) : signed ? S8s[i]! : S8[i]!;
  }
  let la: number;
  let lb: number;
  if (explicit) {
    const w = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
    la = explicitLength(cpu, 0, w, n);
    lb = explicitLength(cpu, 2, w, n);
  } else {
    la = implicitLength(A, n);
    lb = implicitLength(B, n);
  }
  let res = 0;
  switch ((imm >> 2) & 3) {
    case 0:
      // Equal any: operand-2 element j matches any valid operand-1 element.
      for (let j = 0; j < lb; j++) {
        const b = B[j]!;
        for (let i = 0; i < la; i++) {
          if (A[i] === b) {
            res |= 1 << j;
            break;
          }
        }
      }
      break;
    case 1:
      // Ranges: operand 1 holds (low, high) pairs; a pair counts only when both are valid.
      for (let j = 0; j < lb; j++) {
        const b = B[j]!;
        for (let i = 0; i + 1 < la; i += 2) {
          if (A[i]! <= b && b <= A[i + 1]!) {
            res |= 1 << j;
            break;
          }
        }
      }
      break;
    case 2:
      // Equal each: both invalid is true, one invalid false.
      for (let i = 0; i < n; i++) {
        const va = i < la;
        const vb = i < lb;
        if (va && vb ? A[i] === B[i] : !va && !vb) res |= 1 << i;
      }
      break;
    default:
      // Equal ordered: operand 1 occurs in operand 2 at position j; an invalid operand-1
      // element matches anything, a valid one against an invalid operand-2 element fails.
      for (let j = 0; j < n; j++) {
        let ok = true;
        for (let k = 0; j + k < n && k < la; k++) {
          if (j + k >= lb || A[k] !== B[j + k]) {
            ok = false;
            break;
          }
        }
        if (ok) res |= 1 << j;
      }
  }
  switch ((imm >> 4) & 3) {
    case 1:
      res = ~res & ((1 << n) - 1);
      break;
    case 3:
      res ^= (1 << lb) - 1;
      break;
    default:
  }
  setArithFlags(cpu, (res !== 0 ? 1 : 0) | (lb < n ? 0x40 : 0) | (la < n ? 0x80 : 0) | ((res & 1) << 11));
  return res;
}

/** PCMPESTRI / PCMPISTRI: the index to ECX (zero-extended into RCX). */
function index(explicit: boolean): Handler {
  return (cpu, d) => {
    fetchX(cpu, d, false);
    const res = compare(cpu, d, explicit);
    const n = (cpu.rec[d + R_IMM]! & 1) !== 0 ? 8 : 16;
    let k = n;
    if (res !== 0) k = (cpu.rec[d + R_IMM]! & 0x40) !== 0 ? 31 - Math.clz32(res) : 31 - Math.clz32(res & -res);
    writeReg(cpu, 1, 2, k, 0);
  };
}

/** PCMPESTRM / PCMPISTRM: the mask to XMM0. */
function mask(explicit: boolean): Handler {
  return (cpu, d) => {
    fetchX(cpu, d, false);
    const res = compare(cpu, d, explicit);
    const imm = cpu.rec[d + R_IMM]!;
    const x = cpu.xmm;
    if ((imm & 0x40) === 0) {
      x[0] = res;
      x[1] = x[2] = x[3] = 0;
    } else if ((imm & 1) === 0) {
      for (let k = 0; k < 4; k++) {
        const m = res >> (4 * k);
        x[k] = (m & 1 ? 0xff : 0) | (m & 2 ? 0xff00 : 0) | (m & 4 ? 0xff0000 : 0) | (m & 8 ? 0xff000000 : 0);
      }
    } else {
      for (let k = 0; k < 4; k++) {
        const m = res >> (2 * k);
        x[k] = (m & 1 ? 0xffff : 0) | (m & 2 ? 0xffff0000 : 0);
      }
    }
  };
}

/** Registers the four instructions through `put(opcode, name, handler)` (66 0F 3A, SSE4.2-gated). */
export function installSimdStr(put: (opcode: number, name: string, fn: Handler) => void): void {
  put(0x60, 'pcmpestrm xmm, xmm/m128, imm8', mask(true));
  put(0x61, 'pcmpestri xmm, xmm/m128, imm8', index(true));
  put(0x62, 'pcmpistrm xmm, xmm/m128, imm8', mask(false));
  put(0x63, 'pcmpistri xmm, xmm/m128, imm8', index(false));
}
