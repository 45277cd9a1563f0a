/**
 * MOV to and from debug registers (0F 21, 0F 23; SDM Vol. 2 "MOV—Move to/from Debug
 * Registers", Vol. 3 §17.2). The breakpoint machinery itself (instruction, data and I/O
 * breakpoints, single-step, task-switch trap) lives in the run loop and memory slow paths of
 * cpu.ts; writing DR0-DR3 or DR7 recomputes its masks through `cpu.updateDebug()`.
 */
import type { Cpu } from '../cpu.js';
import { R_REG, R_RM } from '../decoded.js';
import { Intercept } from '../extension.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { CodeMode, Cr0, Cr4, Vector } from '../state.js';

/** DR6.BD: the #DB was a general-detect fault (SDM Vol. 3 §17.2.3). */
const DR6_BD = 0x2000;
/** DR7.GD: general detect enable. */
const DR7_GD = 0x2000;

/**
 * The checks common to both directions, in the SDM's order: DR8-DR15 (REX.R) are #UD, CPL > 0
 * (and virtual-8086 mode) is #GP(0), DR4/DR5 with CR4.DE = 1 are #UD, and DR7.GD = 1 makes
 * any access a #DB fault with DR6.BD set (§17.2.4). Returns the register index (DR4/DR5
 * alias DR6/DR7 when CR4.DE = 0).
 */
function drIndex(cpu: Cpu, n: number): number {
  if (n > 7) cpu.ud();
  if ((cpu.cr0 & Cr0.PE) !== 0 && cpu.cpl !== 0) cpu.gp(0);
  if (n === 4 || n === 5) {
    if ((cpu.cr4 & Cr4.DE) !== 0) cpu.ud();
    n += 2;
  }
  if ((cpu.drLo[7]! & DR7_GD) !== 0) {
    cpu.drLo[6] = (cpu.drLo[6]! & ~0xf) | DR6_BD;
    cpu.raise(Vector.DB);
  }
  return n;
}

/** MOV r32/r64, DRn (0F 21 /r): 64-bit in 64-bit mode, 32-bit otherwise. */
function movFromDr(cpu: Cpu, d: number): void {
  const n = cpu.rec[d + R_REG]!;
  const r = cpu.rec[d + R_RM]!;
  const i = drIndex(cpu, n);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DrRead, n | (r << 4), 1)) return;
  if (cpu.mode === CodeMode.Bits64) cpu.setReg64(r, cpu.drLo[i]!, cpu.drHi[i]!);
  else cpu.setReg32(r, cpu.drLo[i]!);
}

/**
 * MOV DRn, r32/r64 (0F 23 /r). DR6 and DR7 keep their fixed bits (DR6 bits 4-11 and 16-31
 * read as 1, bit 12 as 0; DR7 bit 10 reads as 1, bits 11, 12, 14, 15 as 0); a 1 in bits 63:32
 * of DR6 or DR7 is #GP(0).
 */
function movToDr(cpu: Cpu, d: number): void {
  const n = cpu.rec[d + R_REG]!;
  const r = cpu.rec[d + R_RM]!;
  const i = drIndex(cpu, n);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DrWrite, n | (r << 4), 0)) return;
  const lo = cpu.gpr[r]!;
  const hi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[r]! : 0;
  if (i === 6) {
    if (hi !== 0) cpu.gp(0);
    cpu.drLo[6] = (lo & 0xe00f) | (0xffff0ff0 | 0);
    cpu.drHi[6] = 0;
    return;
  }
  if (i === 7) {
    if (hi !== 0) cpu.gp(0);
    cpu.drLo[7] = (lo & (0xffff23ff | 0)) | 0x400;
    cpu.drHi[7] = 0;
  } else {
    cpu.drLo[i] = lo;
    cpu.drHi[i] = hi;
  }
  cpu.updateDebug();
}

export function installDebug(): void {
  setOp(OpMap.Two, 0x21, defineHandler('mov r,dr', movFromDr));
  setOp(OpMap.Two, 0x23, defineHandler('mov dr,r', movToDr));
}
