/**
 * Fast system calls: SYSCALL/SYSRET (0F 05 / 0F 07) and SYSENTER/SYSEXIT (0F 34 / 0F 35), with
 * the CS/SS hidden parts loaded exactly as the SDM pseudo-code says (flat, base 0, limit 4 GiB
 * with G = 1, fixed types and DPLs; no descriptor is read).
 *
 * Vendor differences (SDM Vol. 2 "SYSCALL", "SYSRET", "SYSENTER", "SYSEXIT"; AMD APM Vol. 3):
 * - Intel: SYSCALL and SYSRET are #UD outside 64-bit mode; SYSRET to a non-canonical RCX is
 *   #GP(0) at CPL 0.
 * - AMD: SYSCALL also works in legacy mode (EIP from STAR[31:0]) and compatibility mode (RIP
 *   from CSTAR); SYSRET works outside 64-bit mode (IF set) and loads RCX as it is (a
 *   non-canonical RIP then faults #GP(0) at CPL 3 on the fetch); SYSRET keeps SS's base and
 *   limit; SYSENTER/SYSEXIT are #UD in long mode.
 */
import { isCanonical } from '@hvkit/mmu';
import type { Cpu } from '../cpu.js';
import { R_INFO } from '../decoded.js';
import { Cpuid1Edx, CpuidExt1Edx } from '../model.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { CodeMode, Cr0, Efer, Flag, Seg, SegAttr } from '../state.js';

/** Execute/read code, accessed (type 11), present, S = 1, G = 1. */
const CODE = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.G;
const CODE64 = CODE | SegAttr.L;
const CODE32 = CODE | SegAttr.DB;
/** Read/write data, accessed (type 3), present, S = 1, B = 1, G = 1. */
const STACK = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
const DPL3 = 3 << SegAttr.DplShift;
/** RFLAGS bits SYSRET takes from R11: RF, VM and the reserved bits are cleared, bit 1 set. */
const SYSRET_FLAGS = 0x3c7fd7;

function setRip(cpu: Cpu, lo: number, hi: number): void {
  cpu.nipLo = lo | 0;
  cpu.nipHi = hi | 0;
}

/** SYSCALL (0F 05). */
function syscall(cpu: Cpu): void {
  const intel = cpu.model.vendor === 'intel';
  if ((cpu.model.ext1Edx & CpuidExt1Edx.SYSCALL) === 0 || (cpu.efer & Efer.SCE) === 0) cpu.ud();
  if (intel && cpu.mode !== CodeMode.Bits64) cpu.ud();
  const csSel = (cpu.starHi & 0xfffc) & 0xffff;
  const ssSel = (cpu.starHi + 8) & 0xffff;
  const flags = cpu.getEflags();
  if ((cpu.efer & Efer.LMA) !== 0) {
    const in64 = cpu.mode === CodeMode.Bits64;
    cpu.setReg64(1, cpu.nipLo, in64 ? cpu.nipHi : 0);
    cpu.setReg64(11, flags & ~Flag.RF, 0);
    cpu.setEflags(flags & ~cpu.sfmask & ~Flag.RF);
    cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, CODE64);
    cpu.setSegmentRaw(Seg.SS, ssSel, 0, 0xffffffff, STACK);
    if (in64) setRip(cpu, cpu.lstarLo, cpu.lstarHi);
    else setRip(cpu, cpu.cstarLo, cpu.cstarHi);
  } else {
    // AMD legacy mode: ECX = return EIP; VM, IF and RF cleared.
    cpu.setReg32(1, cpu.nipLo);
    cpu.setEflags(flags & ~(Flag.VM | Flag.IF | Flag.RF));
    cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, CODE32);
    cpu.setSegmentRaw(Seg.SS, ssSel, 0, 0xffffffff, STACK);
    setRip(cpu, cpu.starLo, 0);
  }
  cpu.updateMode();
}

/** SYSRET (0F 07): REX.W returns to 64-bit mode at RCX, otherwise to compatibility (or legacy) mode at ECX. */
function sysret(cpu: Cpu, d: number): void {
  const intel = cpu.model.vendor === 'intel';
  if ((cpu.model.ext1Edx & CpuidExt1Edx.SYSCALL) === 0 || (cpu.efer & Efer.SCE) === 0) cpu.ud();
  if (intel && cpu.mode !== CodeMode.Bits64) cpu.ud();
  if ((cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0 || cpu.cpl !== 0) cpu.gp(0);
  const base = cpu.starHi >>> 16;
  const w64 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
  let ripLo: number;
  let ripHi = 0;
  let csSel: number;
  let csAttr: number;
  if (cpu.mode === CodeMode.Bits64 && w64) {
    ripLo = cpu.gpr[1]!;
    ripHi = cpu.gprHi[1]!;
    if (intel && !isCanonical(ripHi, cpu.linearBits)) cpu.gp(0);
    csSel = ((base + 16) | 3) & 0xffff;
    csAttr = CODE64 | DPL3;
  } else {
    ripLo = cpu.gpr[1]!;
    csSel = (base | 3) & 0xffff;
    csAttr = CODE32 | DPL3;
  }
  const ssSel = ((base + 8) | 3) & 0xffff;
  if (cpu.mode === CodeMode.Bits64) cpu.setEflags((cpu.gpr[11]! & SYSRET_FLAGS) | Flag.Fixed1);
  else cpu.setEflags(cpu.getEflags() | Flag.IF);
  cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, csAttr);
  if (intel) {
    cpu.setSegmentRaw(Seg.SS, ssSel, 0, 0xffffffff, STACK | DPL3);
  } else {
    // AMD: "SS base, limit, attributes unchanged" apart from the selector; the CPL (SS.DPL
    // here) becomes 3 and the register is usable.
    const old = cpu.segAttr[Seg.SS]! & (SegAttr.DB | SegAttr.G | SegAttr.Avl);
    cpu.setSegmentRaw(Seg.SS, ssSel, cpu.segBase[Seg.SS]!, cpu.segLimit[Seg.SS]!, old | SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | DPL3, cpu.segBaseHi[Seg.SS]!);
  }
  setRip(cpu, ripLo, ripHi);
  cpu.updateMode();
}

/** SYSENTER (0F 34): to CPL 0 at IA32_SYSENTER_EIP with SS:ESP from the MSRs (SDM Vol. 2 "SYSENTER"). */
function sysenter(cpu: Cpu): void {
  const lma = (cpu.efer & Efer.LMA) !== 0;
  if ((cpu.model.leaf1Edx & Cpuid1Edx.SEP) === 0 || (lma && cpu.model.vendor === 'amd')) cpu.ud();
  if ((cpu.cr0 & Cr0.PE) === 0 || (cpu.sysenterCs & 0xfffc) === 0) cpu.gp(0);
  if (lma && (!isCanonical(cpu.sysenterEipHi, cpu.linearBits) || !isCanonical(cpu.sysenterEspHi, cpu.linearBits))) cpu.gp(0);
  const csSel = cpu.sysenterCs & 0xfffc;
  cpu.setEflags(cpu.getEflags() & ~(Flag.VM | Flag.IF | Flag.RF));
  cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, lma ? CODE64 : CODE32);
  cpu.setSegmentRaw(Seg.SS, (csSel + 8) & 0xffff, 0, 0xffffffff, STACK);
  if (lma) {
    cpu.setReg64(4, cpu.sysenterEspLo, cpu.sysenterEspHi);
    setRip(cpu, cpu.sysenterEipLo, cpu.sysenterEipHi);
  } else {
    cpu.setReg32(4, cpu.sysenterEspLo);
    setRip(cpu, cpu.sysenterEipLo, 0);
  }
  cpu.updateMode();
}

/** SYSEXIT (0F 35): to CPL 3 at rDX with rSP = rCX; REX.W returns to 64-bit mode (SDM Vol. 2 "SYSEXIT"). */
function sysexit(cpu: Cpu, d: number): void {
  const lma = (cpu.efer & Efer.LMA) !== 0;
  if ((cpu.model.leaf1Edx & Cpuid1Edx.SEP) === 0 || (lma && cpu.model.vendor === 'amd')) cpu.ud();
  if ((cpu.cr0 & Cr0.PE) === 0 || cpu.cpl !== 0 || (cpu.sysenterCs & 0xfffc) === 0) cpu.gp(0);
  const w64 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 3;
  const cs = cpu.sysenterCs;
  if (w64) {
    if (!isCanonical(cpu.gprHi[2]!, cpu.linearBits) || !isCanonical(cpu.gprHi[1]!, cpu.linearBits)) cpu.gp(0);
    const csSel = ((cs + 32) | 3) & 0xffff;
    cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, CODE64 | DPL3);
    cpu.setSegmentRaw(Seg.SS, (csSel + 8) & 0xffff, 0, 0xffffffff, STACK | DPL3);
    cpu.setReg64(4, cpu.gpr[1]!, cpu.gprHi[1]!);
    setRip(cpu, cpu.gpr[2]!, cpu.gprHi[2]!);
  } else {
    const csSel = ((cs + 16) | 3) & 0xffff;
    cpu.setSegmentRaw(Seg.CS, csSel, 0, 0xffffffff, CODE32 | DPL3);
    cpu.setSegmentRaw(Seg.SS, (csSel + 8) & 0xffff, 0, 0xffffffff, STACK | DPL3);
    cpu.setReg32(4, cpu.gpr[1]!);
    setRip(cpu, cpu.gpr[2]!, 0);
  }
  cpu.updateMode();
}

export function installFastcall(): void {
  setOp(OpMap.Two, 0x05, defineHandler('syscall', syscall));
  setOp(OpMap.Two, 0x07, defineHandler('sysret', sysret));
  setOp(OpMap.Two, 0x34, defineHandler('sysenter', sysenter));
  setOp(OpMap.Two, 0x35, defineHandler('sysexit', sysexit));
}
