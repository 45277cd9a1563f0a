/**
 * BOUND, LDS/LES/LSS/LFS/LGS, and the fallback of the x87 escape opcodes (D8-DF).
 *
 * The x87 instructions and WAIT/FWAIT are src/fpu/x87.ts. The escape encodings that define no
 * instruction still do what the architecture requires before any x87 work: #NM when CR0.EM or
 * CR0.TS is set (SDM Vol. 3 §2.5, Table 2-2 "Action Taken By x87 FPU Instructions for Different
 * Combinations of EM, MP, and TS"), and #UD otherwise.
 */
import type { Cpu } from '../cpu.js';
import { I_MEM, R_INFO, R_REG } from '../decoded.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { loadSegment } from '../segments.js';
import { Cr0, Seg, Vector } from '../state.js';
import { memAddr, writeReg } from './operands.js';

/**
 * BOUND r16/r32, m16&16/m32&32 (62, not in 64-bit mode): #BR when the signed index is below the
 * lower bound or above the upper bound (SDM Vol. 2 "BOUND"); a register operand is #UD.
 */
function bound(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & I_MEM) === 0) cpu.ud();
  const o = (info >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  if (o === 1) {
    const lo = memAddr(cpu, d, 4, false);
    const hi = cpu.hi;
    const lower = (cpu.rd16(lo, hi) << 16) >> 16;
    const upper = (cpu.rd16((lo + 2) | 0, hi) << 16) >> 16;
    const index = (cpu.gpr[reg]! << 16) >> 16;
    if (index < lower || index > upper) cpu.raise(Vector.BR);
  } else {
    const lo = memAddr(cpu, d, 8, false);
    const hi = cpu.hi;
    const lower = cpu.rd32(lo, hi);
    const upper = cpu.rd32((lo + 4) | 0, hi);
    const index = cpu.gpr[reg]!;
    if (index < lower || index > upper) cpu.raise(Vector.BR);
  }
}

/**
 * LDS/LES (C5/C4, not in 64-bit mode), LSS/LFS/LGS (0F B2/B4/B5): loads a far pointer
 * m16:16/m16:32 (m16:64 with REX.W on Intel; AMD reads m16:32 and zero-extends) into the segment
 * register and the destination (SDM Vol. 2 "LDS/LES/LFS/LGS/LSS"). The segment register is
 * loaded with the checks of MOV Sreg first, so a fault leaves the destination unchanged; a
 * register operand is #UD (the decoder rejects it).
 */
function loadFarPointer(cpu: Cpu, d: number, seg: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & I_MEM) === 0) cpu.ud();
  let o = (info >>> 4) & 3;
  if (o === 3 && cpu.isAmd) o = 2;
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  const lo = memAddr(cpu, d, size + 2, false);
  const hi = cpu.hi;
  let off: number;
  let offHi = 0;
  if (size === 2) off = cpu.rd16(lo, hi);
  else if (size === 4) off = cpu.rd32(lo, hi);
  else {
    off = cpu.rd64(lo, hi);
    offHi = cpu.hi;
  }
  const selLo = (lo + size) | 0;
  const selHi = (selLo >>> 0) < (lo >>> 0) ? (hi + 1) | 0 : hi;
  const sel = cpu.rd16(selLo, selHi);
  loadSegment(cpu, seg, sel);
  writeReg(cpu, cpu.rec[d + R_REG]!, (info >>> 4) & 3, off, offHi);
}

/** x87 escape encodings with no instruction (src/fpu/x87.ts installs the rest over this): #NM if CR0.EM or CR0.TS, else #UD. */
function x87Escape(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.raise(Vector.NM);
  cpu.ud();
}

export function installLegacy(): void {
  setOp(OpMap.One, 0x62, defineHandler('bound', bound));
  const esc = defineHandler('x87 escape', x87Escape);
  for (let op = 0xd8; op <= 0xdf; op++) setOp(OpMap.One, op, esc);
  // WAIT/FWAIT (9B) is installed by src/fpu/x87.ts.
  setOp(OpMap.One, 0xc4, defineHandler('les', (cpu, d) => loadFarPointer(cpu, d, Seg.ES)));
  setOp(OpMap.One, 0xc5, defineHandler('lds', (cpu, d) => loadFarPointer(cpu, d, Seg.DS)));
  setOp(OpMap.Two, 0xb2, defineHandler('lss', (cpu, d) => loadFarPointer(cpu, d, Seg.SS)));
  setOp(OpMap.Two, 0xb4, defineHandler('lfs', (cpu, d) => loadFarPointer(cpu, d, Seg.FS)));
  setOp(OpMap.Two, 0xb5, defineHandler('lgs', (cpu, d) => loadFarPointer(cpu, d, Seg.GS)));
}
