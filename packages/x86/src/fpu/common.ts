/**
 * What every x87, MMX and SSE instruction shares: the status/control bit names, the
 * device-not-available and pending-exception checks, SIMD floating-point exception delivery,
 * and 128-bit memory operands.
 *
 * Check order (SDM Vol. 2 §2.4 and the exception tables of Vol. 2 ch. 3-5, "Exceptions Class"):
 * - x87 instructions: CR0.EM = 1 or CR0.TS = 1 raise #NM (Vol. 3 §2.5, Table 2-2); then a
 *   waiting instruction with an unmasked exception pending raises #MF (CR0.NE = 1) or drives
 *   FERR# (CR0.NE = 0; the PC turns it into IRQ13, and the instruction goes on, as QEMU does).
 * - MMX instructions: CR0.EM = 1 is #UD, CR0.TS = 1 is #NM, a pending x87 exception is #MF;
 *   then the x87 state switches to MMX use (TOP = 0, all tags valid; Vol. 1 §9.5).
 * - SSE..SSE4.2: CR0.EM = 1 or CR4.OSFXSR = 0 is #UD, then CR0.TS = 1 is #NM; an unmasked SIMD
 *   floating-point exception is #XM with CR4.OSXMMEXCPT = 1, #UD without (Vol. 1 §11.5.1).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as extensionNs from '../extension.js';
import * as faultNs from '../fault.js';
import * as operandsNs from '../ops/operands.js';
import * as stateNs from '../state.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_INFO } = decodedNs;
const { memAddr } = operandsNs;
const { CodeMode, Cr0, Cr4, Vector } = stateNs;
const { Intercept } = extensionNs;
const { CPU_VMEXIT } = faultNs;

/** x87 status word bits (SDM Vol. 1 §8.1.3). TOP (bits 13:11) lives in `cpu.fpTop`. */
export const Fsw = {
  IE: 1 << 0,
  DE: 1 << 1,
  ZE: 1 << 2,
  OE: 1 << 3,
  UE: 1 << 4,
  PE: 1 << 5,
  /** Stack fault (with IE; C1 = 1 overflow, 0 underflow). */
  SF: 1 << 6,
  /** Exception summary status: an unmasked exception is pending. */
  ES: 1 << 7,
  C0: 1 << 8,
  C1: 1 << 9,
  C2: 1 << 10,
  C3: 1 << 14,
  /** Busy: mirrors ES (SDM Vol. 1 §8.1.3). */
  B: 1 << 15,
} as const;

/** x87 control word fields (SDM Vol. 1 §8.1.5). Bits 5:0 mask the exceptions of the same bit in the status word. */
export const Fcw = {
  EXC_MASKS: 0x3f,
  PC_SHIFT: 8,
  RC_SHIFT: 10,
  /** Bit 12, the infinity control: kept for compatibility, no effect (SDM Vol. 1 §8.1.5.3). */
  X: 1 << 12,
} as const;

/** MXCSR bits (SDM Vol. 1 §10.2.3). The six flag bits are the masks' bits >> 7. */
export const Mxcsr = {
  IE: 1 << 0,
  DE: 1 << 1,
  ZE: 1 << 2,
  OE: 1 << 3,
  UE: 1 << 4,
  PE: 1 << 5,
  DAZ: 1 << 6,
  IM: 1 << 7,
  DM: 1 << 8,
  ZM: 1 << 9,
  OM: 1 << 10,
  UM: 1 << 11,
  PM: 1 << 12,
  RC_SHIFT: 13,
  FTZ: 1 << 15,
} as const;

/** Writable MXCSR bits (MXCSR_MASK as FXSAVE stores it: DAZ supported; SDM Vol. 1 §11.6.6). */
export const MXCSR_MASK = 0xffff;

/** Rounding-control values shared by FCW.RC, MXCSR.RC and ROUNDSS's immediate (SDM Vol. 1 Table 4-8). */
export const Rounding = { Nearest: 0, Down: 1, Up: 2, Zero: 3 } as const;

/** #NM for x87 instructions: CR0.EM or CR0.TS set (SDM Vol. 3 Table 2-2). */
export function x87Available(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.raise(Vector.NM);
}

/**
 * A waiting x87 instruction (and FWAIT) with an unmasked exception pending (FSW.ES): #MF when
 * CR0.NE = 1; with CR0.NE = 0 the FERR# output is asserted for the board's IRQ13 and execution
 * continues (SDM Vol. 1 §8.7; QEMU does the same, the IGNNE# path of a PC chipset).
 */
export function x87Pending(cpu: Cpu): void {
  if ((cpu.fsw & Fsw.ES) === 0) return;
  if ((cpu.cr0 & Cr0.NE) !== 0) cpu.raise(Vector.MF);
  // Legacy FERR# reporting, where the processor would freeze until an interrupt: in guest mode
  // SVM's FERR_FREEZE intercept may turn it into a #VMEXIT (AMD APM Vol. 2 §15.9); the
  // instruction is then abandoned (CPU_VMEXIT ends it with the exit already performed).
  if (cpu.guestMode && cpu.ext !== null && cpu.ext.intercept(cpu, Intercept.FerrFreeze, 0, 0)) throw CPU_VMEXIT;
  setFerr(cpu, true);
}

/** Drives the FERR# output (no call when the level does not change). */
export function setFerr(cpu: Cpu, asserted: boolean): void {
  if (cpu.ferr === asserted) return;
  cpu.ferr = asserted;
  cpu.onFerr?.(asserted);
}

/**
 * The checks before an MMX instruction, then the switch to MMX use: TOP = 0 and every tag
 * valid (SDM Vol. 1 §9.5.1, Table 9-2). EMMS marks them all empty again.
 */
export function mmxEnter(cpu: Cpu): void {
  const cr0 = cpu.cr0;
  if ((cr0 & Cr0.EM) !== 0) cpu.raise(Vector.UD);
  if ((cr0 & Cr0.TS) !== 0) cpu.raise(Vector.NM);
  if ((cpu.fsw & Fsw.ES) !== 0) x87Pending(cpu);
  cpu.fpTop = 0;
  cpu.fpEmpty = 0;
}

/** Writes MMn (64 bits): the significand of R(n), exponent and sign all ones (SDM Vol. 1 §9.5.2). */
export function writeMmx(cpu: Cpu, n: number, lo: number, hi: number): void {
  cpu.fpLo[n] = lo;
  cpu.fpHi[n] = hi;
  cpu.fpSe[n] = 0xffff;
}

/** #UD / #NM for SSE..SSE4.2 instructions (SDM Vol. 2 §2.4, exception class tables). */
export function sseAvailable(cpu: Cpu): void {
  if ((cpu.cr0 & Cr0.EM) !== 0 || (cpu.cr4 & Cr4.OSFXSR) === 0) cpu.raise(Vector.UD);
  if ((cpu.cr0 & Cr0.TS) !== 0) cpu.raise(Vector.NM);
}

/**
 * Delivers an unmasked SIMD floating-point exception: #XM when CR4.OSXMMEXCPT = 1, else #UD
 * (SDM Vol. 1 §11.5.1). The caller has already set the MXCSR flags and left the destination
 * unchanged.
 */
export function simdException(cpu: Cpu): never {
  cpu.raise((cpu.cr4 & Cr4.OSXMMEXCPT) !== 0 ? Vector.XM : Vector.UD);
}

/**
 * Checks the new MXCSR flags of an instruction: if any flag set in `flags` is unmasked, the
 * flags are recorded and the exception is delivered (the destination must not have been
 * written yet); otherwise the flags are merged into MXCSR.
 */
export function mxcsrRaise(cpu: Cpu, flags: number): void {
  if (flags === 0) return;
  cpu.mxcsr |= flags;
  if ((flags & ~(cpu.mxcsr >>> 7) & 0x3f) !== 0) simdException(cpu);
}

/**
 * The linear address of a 16-byte memory operand. `aligned` forms raise #GP(0) when it is not
 * 16-byte aligned, whatever the segment (SDM Vol. 2 §2.4, "legacy SSE aligned").
 */
export function m128Address(cpu: Cpu, d: number, aligned: boolean, write: boolean): number {
  const lo = memAddr(cpu, d, 16, write);
  if (aligned && (lo & 15) !== 0) cpu.raise(Vector.GP, 0);
  return lo;
}

/** Reads the 16-byte memory operand of `d` into `cpu.m128` (lane k = bytes 4k..4k+3). */
export function readM128(cpu: Cpu, d: number, aligned: boolean): Int32Array {
  const lo = m128Address(cpu, d, aligned, false);
  const hi = cpu.hi;
  const m = cpu.m128;
  // Both halves are read before anything is stored, so a fault on the second page leaves the
  // destination untouched.
  const a = cpu.rd64(lo, hi);
  const b = cpu.hi;
  const c = cpu.rd64((lo + 8) | 0, highAfter(cpu, lo, hi, 8));
  m[0] = a;
  m[1] = b;
  m[2] = c;
  m[3] = cpu.hi;
  return m;
}

/**
 * Writes 16 bytes (`src[off..off+3]`) to the memory operand of `d`. Write access to both ends
 * is established first, so a fault leaves memory unchanged.
 */
export function writeM128(cpu: Cpu, d: number, aligned: boolean, src: Int32Array, off: number): void {
  const lo = m128Address(cpu, d, aligned, true);
  const hi = cpu.hi;
  if ((lo & 0xfff) > 0xff0) {
    cpu.rdw8(lo, hi);
    cpu.rdw8((lo + 15) | 0, highAfter(cpu, lo, hi, 15));
  }
  cpu.wr64(lo, hi, src[off]!, src[off + 1]!);
  cpu.wr64((lo + 8) | 0, highAfter(cpu, lo, hi, 8), src[off + 2]!, src[off + 3]!);
}

/**
 * The high half of linear address (lo, hi) + k (k < 16): outside 64-bit mode linear addresses
 * wrap at 4 GiB.
 */
export function highAfter(cpu: Cpu, lo: number, hi: number, k: number): number {
  if (cpu.mode !== CodeMode.Bits64) return 0;
  return (lo >>> 0) + k > 0xffffffff ? (hi + 1) | 0 : hi;
}

/** ModRM.rm register number of `d` (XMM/MM register operand when mod = 3). */
export function rmReg(cpu: Cpu, d: number): number {
  return cpu.rec[d + 3]!;
}

/** Whether the r/m operand of `d` is in memory. */
export function rmIsMem(cpu: Cpu, d: number): boolean {
  return (cpu.rec[d + R_INFO]! & (1 << 11)) !== 0;
}
