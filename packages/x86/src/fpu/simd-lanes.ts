/**
 * Operand plumbing shared by the MMX and SSE2 integer instructions (simd-int.ts) and the
 * SSE/SSE2 data-movement instructions (simd-move.ts): the MMX entry checks and state switch,
 * and scratch lanes for two 128-bit operands and a result.
 *
 * Lane data is handled as integers only (see fpu/common.ts). The scratch views alias one
 * little-endian buffer: lane k of a 128-bit value is `X32[k]`, its bytes `X8[4k..4k+3]`.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as stateNs from '../state.js';
import * as commonNs from './common.js';

const { R_INFO, R_REG, R_RM } = decodedNs;
const { Cr0, Vector } = stateNs;
const { Fsw, readM128, x87Pending } = commonNs;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('simd lanes need a little-endian host');

const buf = new ArrayBuffer(48);
/** Destination (first) operand: 16 bytes. */
export const A32 = new Int32Array(buf, 0, 4);
export const A16 = new Int16Array(buf, 0, 8);
export const AU16 = new Uint16Array(buf, 0, 8);
export const A8 = new Uint8Array(buf, 0, 16);
export const AS8 = new Int8Array(buf, 0, 16);
/** Source (second) operand: 16 bytes. */
export const B32 = new Int32Array(buf, 16, 4);
export const B16 = new Int16Array(buf, 16, 8);
export const BU16 = new Uint16Array(buf, 16, 8);
export const B8 = new Uint8Array(buf, 16, 16);
export const BS8 = new Int8Array(buf, 16, 16);
/** Result scratch for operations whose output lanes interleave both inputs. */
export const R32 = new Int32Array(buf, 32, 4);
export const R16 = new Int16Array(buf, 32, 8);
export const RU16 = new Uint16Array(buf, 32, 8);
export const R8 = new Uint8Array(buf, 32, 16);
export const RS8 = new Int8Array(buf, 32, 16);

/**
 * The checks an MMX instruction makes before it touches memory: CR0.EM = 1 is #UD, CR0.TS = 1
 * is #NM, a pending unmasked x87 exception is #MF (SDM Vol. 2, the "Protected Mode Exceptions"
 * of each MMX instruction; Vol. 1 §9.5). The switch to MMX state comes after the memory access
 * ({@link mmxSwitch}): a faulting MMX instruction leaves TOP and the tags alone (measured on
 * the AMD host).
 */
export function mmxCheck(cpu: Cpu): void {
  const cr0 = cpu.cr0;
  if ((cr0 & Cr0.EM) !== 0) cpu.raise(Vector.UD);
  if ((cr0 & Cr0.TS) !== 0) cpu.raise(Vector.NM);
  if ((cpu.fsw & Fsw.ES) !== 0) x87Pending(cpu);
}

/** The x87-to-MMX transition: TOP = 0, every tag valid (SDM Vol. 1 §9.5.1, Table 9-2). */
export function mmxSwitch(cpu: Cpu): void {
  cpu.fpTop = 0;
  cpu.fpEmpty = 0;
}

/** ModRM.reg of `d` (XMM registers 0-15 with REX.R; MMX callers mask with 7). */
export function regOf(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_REG]!;
}

/** ModRM.rm register of `d` when mod = 3 (with REX.B). */
export function rmOf(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_RM]!;
}

/** Whether the ModRM operand of `d` is memory. */
export function isMemOp(cpu: Cpu, d: number): boolean {
  return (cpu.rec[d + R_INFO]! & (1 << 11)) !== 0;
}

/** Whether the decoded operand size is 64 bits (REX.W). */
export function isW(cpu: Cpu, d: number): boolean {
  return ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
}

/** Source XMM operand (register or 16-byte memory) into B32. */
export function xmmSrc(cpu: Cpu, d: number, aligned: boolean): void {
  if (isMemOp(cpu, d)) {
    const m = readM128(cpu, d, aligned);
    B32[0] = m[0]!;
    B32[1] = m[1]!;
    B32[2] = m[2]!;
    B32[3] = m[3]!;
  } else {
    const x = cpu.xmm;
    const s = cpu.rec[d + R_RM]! << 2;
    B32[0] = x[s]!;
    B32[1] = x[s + 1]!;
    B32[2] = x[s + 2]!;
    B32[3] = x[s + 3]!;
  }
}

/** XMM register `r` into A32. */
export function xmmToA(cpu: Cpu, r: number): void {
  const x = cpu.xmm;
  const o = r << 2;
  A32[0] = x[o]!;
  A32[1] = x[o + 1]!;
  A32[2] = x[o + 2]!;
  A32[3] = x[o + 3]!;
}

/** `src` (4 lanes) into XMM register `r`. */
export function putXmm(cpu: Cpu, r: number, src: Int32Array): void {
  const x = cpu.xmm;
  const o = r << 2;
  x[o] = src[0]!;
  x[o + 1] = src[1]!;
  x[o + 2] = src[2]!;
  x[o + 3] = src[3]!;
}
