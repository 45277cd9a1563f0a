/**
 * Operand staging shared by the SSSE3, SSE4.1 and SSE4.2 handlers (simd-ext*.ts): the
 * destination and source of one instruction are copied into module scratch buffers, worked on
 * through typed-array views of every lane width, and the result copied back.
 *
 * XMM forms (66 prefix): destination XMM(ModRM.reg), source XMM(ModRM.rm) or a 16-byte memory
 * operand, which the legacy-SSE forms require to be 16-byte aligned (#GP(0); SDM Vol. 2 §2.4,
 * exceptions type 4) except where an instruction page says otherwise (PCMPxSTRx).
 * MM forms (SSSE3 without prefix): MM(ModRM.reg & 7), MM(ModRM.rm & 7) or an 8-byte memory
 * operand (no alignment rule); REX.R/REX.B select no MMX register (SDM Vol. 1 §9.2.2).
 *
 * The views assume a little-endian host (lane k of a buffer is bytes 4k..4k+3), as every JS
 * engine on x86 and ARM is.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as operandsNs from '../ops/operands.js';
import * as stateNs from '../state.js';
import * as commonNs from './common.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, R_INFO, R_REG, R_RM } = decodedNs;
const { memAddr } = operandsNs;
const { Fsw, mmxEnter, readM128, sseAvailable, writeMmx, x87Pending } = commonNs;
const { Cr0, Vector } = stateNs;

const dBuf = new ArrayBuffer(16);
const sBuf = new ArrayBuffer(16);
const rBuf = new ArrayBuffer(16);
const xBuf = new ArrayBuffer(16);

/** The destination operand's value before the instruction (dwords, bytes, words; signed views end in `s`). */
export const D = new Int32Array(dBuf);
export const D8 = new Uint8Array(dBuf);
export const D8s = new Int8Array(dBuf);
export const D16 = new Uint16Array(dBuf);
export const D16s = new Int16Array(dBuf);
/** The source operand. */
export const S = new Int32Array(sBuf);
export const S8 = new Uint8Array(sBuf);
export const S8s = new Int8Array(sBuf);
export const S16 = new Uint16Array(sBuf);
export const S16s = new Int16Array(sBuf);
/** The result. */
export const R = new Int32Array(rBuf);
export const R8 = new Uint8Array(rBuf);
export const R16 = new Uint16Array(rBuf);
export const R16s = new Int16Array(rBuf);
/** XMM0 (the implicit mask of the variable blends). */
export const X = new Int32Array(xBuf);
export const X8 = new Uint8Array(xBuf);

/**
 * XMM form: checks #UD/#NM, stages D = XMM(reg) and S = XMM(rm) or m128 (`aligned`: #GP(0)
 * unless 16-byte aligned).
 */
export function fetchX(cpu: Cpu, d: number, aligned: boolean): void {
  sseAvailable(cpu);
  const rec = cpu.rec;
  const x = cpu.xmm;
  let src: Int32Array = x;
  let o = 0;
  if ((rec[d + R_INFO]! & I_MEM) !== 0) src = readM128(cpu, d, aligned);
  else o = rec[d + R_RM]! << 2;
  S[0] = src[o]!;
  S[1] = src[o + 1]!;
  S[2] = src[o + 2]!;
  S[3] = src[o + 3]!;
  const r = rec[d + R_REG]! << 2;
  D[0] = x[r]!;
  D[1] = x[r + 1]!;
  D[2] = x[r + 2]!;
  D[3] = x[r + 3]!;
}

/** Writes R to XMM(reg). */
export function storeX(cpu: Cpu, d: number): void {
  const x = cpu.xmm;
  const r = cpu.rec[d + R_REG]! << 2;
  x[r] = R[0]!;
  x[r + 1] = R[1]!;
  x[r + 2] = R[2]!;
  x[r + 3] = R[3]!;
}

/** Copies XMM0 into X. */
export function fetchXmm0(cpu: Cpu): void {
  const x = cpu.xmm;
  X[0] = x[0]!;
  X[1] = x[1]!;
  X[2] = x[2]!;
  X[3] = x[3]!;
}

/**
 * MM form: the MMX checks (#UD CR0.EM, #NM CR0.TS, #MF pending x87 exception, in that order:
 * the "Protected Mode Exceptions" of the SSSE3 pages, SDM Vol. 1 §9.5.1), then D = MM(reg), S = MM(rm) or m64
 * (lanes 2-3 of both zeroed), then the switch to MMX use (common.ts `mmxEnter`). The switch
 * comes after the memory read: on the oracle host (AMD Zen 4) an MMX instruction whose memory
 * operand faults leaves TOP and the tags as they were, while a pending x87 exception (#MF) is
 * reported before the memory fault.
 */
export function fetchM(cpu: Cpu, d: number): void {
  const cr0 = cpu.cr0;
  if ((cr0 & Cr0.EM) !== 0) cpu.raise(Vector.UD);
  if ((cr0 & Cr0.TS) !== 0) cpu.raise(Vector.NM);
  if ((cpu.fsw & Fsw.ES) !== 0) x87Pending(cpu);
  const rec = cpu.rec;
  if ((rec[d + R_INFO]! & I_MEM) !== 0) {
    const lo = memAddr(cpu, d, 8, false);
    S[0] = cpu.rd64(lo, cpu.hi);
    S[1] = cpu.hi;
  } else {
    const m = rec[d + R_RM]! & 7;
    S[0] = cpu.fpLo[m]!;
    S[1] = cpu.fpHi[m]!;
  }
  mmxEnter(cpu);
  const r = rec[d + R_REG]! & 7;
  D[0] = cpu.fpLo[r]!;
  D[1] = cpu.fpHi[r]!;
  D[2] = D[3] = S[2] = S[3] = 0;
}

/** Writes R's low 64 bits to MM(reg). */
export function storeM(cpu: Cpu, d: number): void {
  writeMmx(cpu, cpu.rec[d + R_REG]! & 7, R[0]!, R[1]!);
}
