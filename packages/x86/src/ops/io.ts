/**
 * Port I/O: IN, OUT, INS and OUTS (SDM Vol. 2 instruction pages; Vol. 1 ch. 19).
 *
 * Protection (SDM Vol. 1 §19.5; Vol. 3 §20.2.8.1): in protected mode with CPL > IOPL, and
 * always in virtual-8086 mode, every bit of the TSS I/O permission bitmap covering the access
 * must be 0. The bitmap starts at the 16-bit offset stored at TSS + 66H; the processor reads
 * two bytes of it, and a byte beyond the TSS limit counts as all ones; a 16-bit TSS has no
 * bitmap. Violations are #GP(0), which has priority over a VM exit (SDM Vol. 3 §26.1.1).
 *
 * The virtualization intercept gets info = port | size << 16 | in << 19 | string << 20 |
 * rep << 21, and info2 = the address size (1 = 16, 2 = 32, 3 = 64) | the segment of the memory
 * operand << 4 (ES for INS, DS or the override for OUTS); info2 is 0 for IN and OUT.
 *
 * REP INS/OUTS run in batches: after {@link REP_BATCH} iterations, or when a fault interrupts an
 * iteration, rDI/rSI/rCX describe the work left and RIP still points at the instruction, so it
 * resumes where it stopped (interrupts can be taken between batches), as string instructions do.
 */
import type { Cpu } from '../cpu.js';
import { I_REP, I_REPNE, R_IMM, R_INFO } from '../decoded.js';
import { Intercept } from '../extension.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { CodeMode, Cr0, Efer, Flag, Seg } from '../state.js';
import { countIsZero, decrementCount, segLinear } from './operands.js';

/** Iterations of REP INS/OUTS per execution before the instruction restarts itself. */
export const REP_BATCH = 1024;

const IO_SIZE = [1, 2, 4, 4] as const;

function ioSize(cpu: Cpu, d: number): 1 | 2 | 4 {
  return IO_SIZE[(cpu.rec[d + R_INFO]! >>> 4) & 3]!;
}

/**
 * Raises #GP(0) unless an access of `size` bytes at `port` is allowed at the current privilege
 * (the I/O permission bitmap rules above).
 */
export function checkIoPermission(cpu: Cpu, port: number, size: number): void {
  if ((cpu.cr0 & Cr0.PE) === 0) return;
  if ((cpu.flags & Flag.VM) === 0 && cpu.cpl <= ((cpu.flags >>> 12) & 3)) return;
  checkIoBitmap(cpu, port, size);
}

function checkIoBitmap(cpu: Cpu, port: number, size: number): void {
  const type = cpu.segAttr[Seg.TR]! & 0x1f;
  if (type !== 9 && type !== 11) cpu.gp(0);
  const limit = cpu.segLimit[Seg.TR]!;
  if (limit < 0x67) cpu.gp(0);
  const baseLo = cpu.segBase[Seg.TR]!;
  const baseHi = (cpu.efer & Efer.LMA) !== 0 ? cpu.segBaseHi[Seg.TR]! : 0;
  const ioBase = cpu.sysRead16(tssAddr(cpu, baseLo, baseHi, 0x66), cpu.hi);
  const off = ioBase + (port >>> 3);
  if (off + 1 > limit) cpu.gp(0);
  const bits = cpu.sysRead16(tssAddr(cpu, baseLo, baseHi, off), cpu.hi);
  if (((bits >>> (port & 7)) & ((1 << size) - 1)) !== 0) cpu.gp(0);
}

/** Linear address TSS.base + off (IA-32e: 64-bit). Returns lo, hi in cpu.hi. */
function tssAddr(cpu: Cpu, baseLo: number, baseHi: number, off: number): number {
  const s = (baseLo >>> 0) + off;
  cpu.hi = baseHi !== 0 || (cpu.efer & Efer.LMA) !== 0 ? (baseHi + (s > 0xffff_ffff ? 1 : 0)) | 0 : 0;
  return s | 0;
}

function readAcc(cpu: Cpu, size: number): number {
  const v = cpu.gpr[0]!;
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v >>> 0;
}
function writeAcc(cpu: Cpu, size: number, v: number): void {
  if (size === 1) cpu.setReg8(0, v);
  else if (size === 2) cpu.setReg16(0, v);
  else cpu.setReg32(0, v | 0);
}

/** Bit 22 of the Io intercept info: the port is an immediate (E4-E7), not DX. */
const IO_IMM = 1 << 22;

function portIn(cpu: Cpu, d: number, port: number, size: 1 | 2 | 4, imm: number): void {
  checkIoPermission(cpu, port, size);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Io, port | (size << 16) | (1 << 19) | imm, 0)) return;
  writeAcc(cpu, size, cpu.ioRead(port, size));
}
function portOut(cpu: Cpu, d: number, port: number, size: 1 | 2 | 4, imm: number): void {
  checkIoPermission(cpu, port, size);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Io, port | (size << 16) | imm, 0)) return;
  cpu.ioWrite(port, size, readAcc(cpu, size));
}

// ---- string forms ----------------------------------------------------------------------------



/** Linear address of seg:[index register] at address size `asz` (with segment checks). Returns lo, hi in cpu.hi. */
function strLinear(cpu: Cpu, seg: number, reg: number, asz: number, size: number, write: boolean): number {
  const v = cpu.gpr[reg]!;
  if (asz === 1) return segLinear(cpu, seg, v & 0xffff, 0, size, write);
  if (asz === 2) return segLinear(cpu, seg, v, 0, size, write);
  return segLinear(cpu, seg, v, cpu.gprHi[reg]!, size, write);
}

/** Moves the index register by ±size (DF) at address size `asz`. */
function advance(cpu: Cpu, reg: number, asz: number, size: number): void {
  const delta = (cpu.flags & Flag.DF) !== 0 ? -size : size;
  const g = cpu.gpr;
  if (asz === 1) g[reg] = (g[reg]! & ~0xffff) | ((g[reg]! + delta) & 0xffff);
  else if (asz === 2) cpu.setReg32(reg, (g[reg]! + delta) | 0);
  else {
    const s = (g[reg]! >>> 0) + delta;
    g[reg] = s | 0;
    if (s > 0xffff_ffff) cpu.gprHi[reg] = (cpu.gprHi[reg]! + 1) | 0;
    else if (s < 0) cpu.gprHi[reg] = (cpu.gprHi[reg]! - 1) | 0;
  }
}

/**
 * The linear address of a string I/O operand (seg:rSI or ES:rDI at address size `asz`), without
 * checks, into `cpu.lastLo/lastHi` for the extension (the VM exit's guest-linear address, SDM
 * §27.2.1). Segment bases other than FS/GS are 0 in 64-bit mode.
 */
function ioStringLinear(cpu: Cpu, seg: number, reg: number, asz: number): void {
  let lo = cpu.gpr[reg]!;
  let hi = 0;
  if (asz === 1) lo &= 0xffff;
  else if (asz === 3) hi = cpu.gprHi[reg]!;
  if (cpu.mode !== CodeMode.Bits64) {
    lo = (cpu.segBase[seg]! + lo) | 0;
  } else if (seg === Seg.FS || seg === Seg.GS) {
    const sum = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
    lo = sum | 0;
    hi = (hi + cpu.segBaseHi[seg]! + (sum > 0xffff_ffff ? 1 : 0)) | 0;
  }
  cpu.lastLo = lo;
  cpu.lastHi = hi;
}

/** INS (6C, 6D): port DX to ES:[rDI]. The destination is probed for writing before the port is read. */
function ins(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  const size = ioSize(cpu, d);
  const asz = (info >>> 6) & 3;
  const rep = (info & (I_REP | I_REPNE)) !== 0;
  if (rep && countIsZero(cpu, asz)) return;
  const port = cpu.gpr[2]! & 0xffff;
  checkIoPermission(cpu, port, size);
  if (cpu.guestMode) {
    ioStringLinear(cpu, Seg.ES, 7, asz);
    if (cpu.interceptInsn(d, Intercept.Io, port | (size << 16) | (1 << 19) | (1 << 20) | (rep ? 1 << 21 : 0), asz | (Seg.ES << 4))) return;
  }
  let n = rep ? REP_BATCH : 1;
  // A data or I/O breakpoint hit ends the batch after its iteration ({@link restart}).
  const db = cpu.pendingDb & 0xf;
  do {
    const lo = strLinear(cpu, Seg.ES, 7, asz, size, true);
    const hi = cpu.hi;
    if (size === 1) {
      cpu.rdw8(lo, hi);
      cpu.wr8(lo, hi, cpu.ioRead(port, 1));
    } else if (size === 2) {
      cpu.rdw16(lo, hi);
      cpu.wr16(lo, hi, cpu.ioRead(port, 2));
    } else {
      cpu.rdw32(lo, hi);
      cpu.wr32(lo, hi, cpu.ioRead(port, 4));
    }
    advance(cpu, 7, asz, size);
    if (rep) decrementCount(cpu, asz);
    if ((cpu.pendingDb & 0xf) !== db) n = 1;
    // The extension ends the operation after this iteration (cpu.endOperation).
    if (cpu.endOperation) {
      cpu.endOperation = false;
      n = 1;
    }
  } while (rep && --n > 0 && !countIsZero(cpu, asz));
  if (rep && !countIsZero(cpu, asz)) restart(cpu);
}

/** OUTS (6E, 6F): DS:[rSI] (segment overridable) to port DX. */
function outs(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  const size = ioSize(cpu, d);
  const asz = (info >>> 6) & 3;
  const seg = (info >>> 8) & 7;
  const rep = (info & (I_REP | I_REPNE)) !== 0;
  if (rep && countIsZero(cpu, asz)) return;
  const port = cpu.gpr[2]! & 0xffff;
  checkIoPermission(cpu, port, size);
  if (cpu.guestMode) {
    ioStringLinear(cpu, seg, 6, asz);
    if (cpu.interceptInsn(d, Intercept.Io, port | (size << 16) | (1 << 20) | (rep ? 1 << 21 : 0), asz | (seg << 4))) return;
  }
  let n = rep ? REP_BATCH : 1;
  // A data or I/O breakpoint hit ends the batch after its iteration ({@link restart}).
  const db = cpu.pendingDb & 0xf;
  do {
    const lo = strLinear(cpu, seg, 6, asz, size, false);
    const hi = cpu.hi;
    const v = size === 1 ? cpu.rd8(lo, hi) : size === 2 ? cpu.rd16(lo, hi) : cpu.rd32(lo, hi);
    cpu.ioWrite(port, size, v);
    advance(cpu, 6, asz, size);
    if (rep) decrementCount(cpu, asz);
    if ((cpu.pendingDb & 0xf) !== db) n = 1;
  } while (rep && --n > 0 && !countIsZero(cpu, asz));
  if (rep && !countIsZero(cpu, asz)) restart(cpu);
}

/**
 * Leaves RIP at the instruction so the rest of a REP runs after any pending event. A data
 * breakpoint (or I/O breakpoint) hit by an iteration ends the batch right after that iteration:
 * "repeated INS and OUTS instructions generate a data-breakpoint debug exception trap after the
 * iteration in which the memory address breakpoint location is accessed" (SDM Vol. 3
 * §17.3.1.2), so the trap reports rCX/rSI/rDI as that iteration left them and returns to this
 * instruction.
 */
function restart(cpu: Cpu): void {
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  cpu.exitBlock = true;
}

export function installIo(): void {
  const ii = defineHandler('in imm', (cpu, d) => portIn(cpu, d, cpu.rec[d + R_IMM]! & 0xff, ioSize(cpu, d), IO_IMM));
  setOp(OpMap.One, 0xe4, ii);
  setOp(OpMap.One, 0xe5, ii);
  const id = defineHandler('in dx', (cpu, d) => portIn(cpu, d, cpu.gpr[2]! & 0xffff, ioSize(cpu, d), 0));
  setOp(OpMap.One, 0xec, id);
  setOp(OpMap.One, 0xed, id);
  const oi = defineHandler('out imm', (cpu, d) => portOut(cpu, d, cpu.rec[d + R_IMM]! & 0xff, ioSize(cpu, d), IO_IMM));
  setOp(OpMap.One, 0xe6, oi);
  setOp(OpMap.One, 0xe7, oi);
  const od = defineHandler('out dx', (cpu, d) => portOut(cpu, d, cpu.gpr[2]! & 0xffff, ioSize(cpu, d), 0));
  setOp(OpMap.One, 0xee, od);
  setOp(OpMap.One, 0xef, od);
  const hIns = defineHandler('ins', ins);
  setOp(OpMap.One, 0x6c, hIns);
  setOp(OpMap.One, 0x6d, hIns);
  const hOuts = defineHandler('outs', outs);
  setOp(OpMap.One, 0x6e, hOuts);
  setOp(OpMap.One, 0x6f, hOuts);
}
