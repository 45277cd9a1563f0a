/**
 * BOUND, WAIT/FWAIT and the x87 escape opcodes (D8-DF).
 *
 * x87 arithmetic arrives with the x87/SSE issue. Until then the escapes do what the
 * architecture requires before any x87 work: #NM when CR0.EM or CR0.TS is set (SDM Vol. 3
 * §2.5, Table 2-2 "Action Taken By x87 FPU Instructions for Different Combinations of EM,
 * MP, and TS"), and #UD otherwise (not implemented; CPUID does not advertise an FPU).
 */
import type { Cpu } from '../cpu.js';
import { I_MEM, R_INFO, R_REG } from '../decoded.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { Cr0, Vector } from '../state.js';
import { memAddr } from './operands.js';

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

/** x87 escape: #NM if CR0.EM or CR0.TS, else #UD until the x87 unit lands. */
function x87Escape(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.raise(Vector.NM);
  cpu.ud();
}

/** WAIT/FWAIT (9B): #NM when CR0.MP and CR0.TS are both set; otherwise no unmasked x87 exception can be pending. */
function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) cpu.raise(Vector.NM);
}

export function installLegacy(): void {
  setOp(OpMap.One, 0x62, defineHandler('bound', bound));
  const esc = defineHandler('x87 escape', x87Escape);
  for (let op = 0xd8; op <= 0xdf; op++) setOp(OpMap.One, op, esc);
  setOp(OpMap.One, 0x9b, defineHandler('fwait', fwait));
}
