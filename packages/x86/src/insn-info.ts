/**
 * Decode-record fields a virtualization extension needs to describe the instruction that caused
 * a VM exit (`cpu.curRec`, set before every `ext.intercept` call made for an instruction): the
 * VM-exit instruction-information field (SDM Vol. 3C §27.2.5 "Information for VM Exits Due to
 * Instruction Execution", Tables 27-9 to 27-14), the exit qualification's displacement and the
 * guest-linear address of a memory operand. Nothing here checks or translates anything: the
 * core did that before the intercept.
 */
import type { Cpu } from './cpu.js';
import { I_MEM, NO_REG, R_DISP, R_INFO, R_REG, R_RM, R_SIB, RIP_BASE } from './decoded.js';
import { CodeMode, Seg } from './state.js';

/** Instruction length in bytes (the VM-exit instruction length, SDM §27.2.5). */
export function insnLength(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_INFO]! & 0xf;
}

/** Whether the ModRM r/m operand is in memory (mod != 3). */
export function insnIsMem(cpu: Cpu, d: number): boolean {
  return (cpu.rec[d + R_INFO]! & I_MEM) !== 0;
}

/** Address size in the VMX encoding: 0 16-bit, 1 32-bit, 2 64-bit (SDM Table 27-9 to 27-14 bits 9:7). */
export function insnAddrSize(cpu: Cpu, d: number): number {
  return ((cpu.rec[d + R_INFO]! >>> 6) & 3) - 1;
}

/** Operand size as the decoder keeps it: 0 8-bit, 1 16-bit, 2 32-bit, 3 64-bit. */
export function insnOpSize(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

/** Segment register of the memory operand (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS: the VMX encoding). */
export function insnSegment(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 8) & 7;
}

/** Scaling of the index register: 0 none (x1), 1 x2, 2 x4, 3 x8. */
export function insnScale(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_SIB]! >>> 8) & 3;
}

/** Index register 0-15 of a memory operand, or -1 for none (or a register operand). */
export function insnIndexReg(cpu: Cpu, d: number): number {
  if (!insnIsMem(cpu, d)) return -1;
  const i = cpu.rec[d + R_SIB]! & 0xff;
  return i === NO_REG ? -1 : i;
}

/** Base register 0-15 of a memory operand, or -1 for none (absolute, RIP-relative, or a register operand). */
export function insnBaseReg(cpu: Cpu, d: number): number {
  if (!insnIsMem(cpu, d)) return -1;
  const b = cpu.rec[d + R_RM]!;
  return b === NO_REG || b === RIP_BASE ? -1 : b;
}

/** Whether the memory operand is RIP-relative (64-bit mode). */
export function insnRipRelative(cpu: Cpu, d: number): boolean {
  return insnIsMem(cpu, d) && cpu.rec[d + R_RM] === RIP_BASE;
}

/** The ModRM.reg operand (with REX.R): "Reg2" of Table 27-14, the destination of Table 27-13. */
export function insnRegField(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_REG]! & 0xf;
}

/** The ModRM.rm register of a register operand (with REX.B), or -1 for a memory operand: "Reg1" of Tables 27-12 and 27-14. */
export function insnRmReg(cpu: Cpu, d: number): number {
  return insnIsMem(cpu, d) ? -1 : cpu.rec[d + R_RM]! & 0xf;
}

/** The sign-extended displacement (low 32 bits) of a memory operand: the exit qualification of SDM §27.2.1 for instructions with memory operands. */
export function insnDisplacement(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_DISP]! | 0;
}

/**
 * The linear address of the memory operand (segment base + effective address, wrapped to the
 * address size; in 64-bit mode only FS and GS add a base), without any check: low half
 * returned, high half in `cpu.hi`. Valid during the intercept call (RIP-relative operands use
 * the next RIP, which the run loop has set).
 */
export function memOperandLinear(cpu: Cpu, d: number): number {
  const rec = cpu.rec;
  const asz = (rec[d + R_INFO]! >>> 6) & 3;
  const base = rec[d + R_RM]!;
  const sib = rec[d + R_SIB]!;
  const index = sib & 0xff;
  const shift = (sib >>> 8) & 3;
  const g = cpu.gpr;
  let lo: number;
  let hi = 0;
  if (asz === 3) {
    // 64-bit: sum the halves with carries.
    let sum = rec[d + R_DISP]! >>> 0;
    let sumHi = rec[d + R_DISP]! < 0 ? -1 : 0;
    if (base === RIP_BASE) {
      sum += cpu.nipLo >>> 0;
      sumHi += cpu.nipHi;
    } else if (base !== NO_REG) {
      sum += g[base]! >>> 0;
      sumHi += cpu.gprHi[base]!;
    }
    if (index !== NO_REG) {
      // (hi:lo) << shift, shift <= 3.
      const ilo = g[index]! >>> 0;
      const ihi = cpu.gprHi[index]!;
      const scaled = ilo * (1 << shift);
      sum += scaled % 4294967296;
      sumHi += ihi * (1 << shift) + Math.floor(scaled / 4294967296);
    }
    lo = sum % 4294967296;
    hi = (sumHi + Math.floor(sum / 4294967296)) | 0;
    lo |= 0;
  } else {
    let a = rec[d + R_DISP]!;
    if (base !== NO_REG) a += base === RIP_BASE ? cpu.nipLo : g[base]!;
    if (index !== NO_REG) a += g[index]! << shift;
    lo = asz === 1 ? a & 0xffff : a | 0;
  }
  const seg = (rec[d + R_INFO]! >>> 8) & 7;
  if (cpu.mode !== CodeMode.Bits64) {
    lo = (cpu.segBase[seg]! + lo) | 0;
    hi = 0;
  } else if (seg === Seg.FS || seg === Seg.GS) {
    const s = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
    lo = s | 0;
    hi = (hi + cpu.segBaseHi[seg]! + (s > 0xffff_ffff ? 1 : 0)) | 0;
  }
  cpu.hi = hi;
  return lo;
}

/**
 * The VM-exit instruction-information field in the layout of SDM Table 27-14 (VMCLEAR, VMPTRLD,
 * VMPTRST, VMREAD, VMWRITE, VMXON; also the base of Tables 27-10 to 27-13): bits 1:0 scaling,
 * 6:3 Reg1 (the r/m register of a register operand), 9:7 address size, 10 Mem/Reg (1 =
 * register), 17:15 segment, 21:18 index register, 22 index invalid, 26:23 base register, 27
 * base invalid, 31:28 Reg2 (ModRM.reg). Undefined fields are 0; the extension adds the
 * operand size (bits 12:11) and instruction identity (bits 29:28) of the other tables.
 */
export function vmxInstructionInfo(cpu: Cpu, d: number): number {
  const mem = insnIsMem(cpu, d);
  let v = (insnAddrSize(cpu, d) << 7) | (insnRegField(cpu, d) << 28);
  if (!mem) return v | (1 << 10) | (insnRmReg(cpu, d) << 3);
  v |= insnScale(cpu, d) | (insnSegment(cpu, d) << 15);
  const index = insnIndexReg(cpu, d);
  v |= index < 0 ? 1 << 22 : index << 18;
  const base = insnBaseReg(cpu, d);
  v |= base < 0 ? 1 << 27 : base << 23;
  return v | 0;
}
