/**
 * System registers and system instructions (SDM Vol. 2 instruction pages; Vol. 3 ch. 2-5):
 *
 * - MOV to/from CR0, CR2, CR3, CR4 and CR8; CLTS, LMSW, SMSW (MOV DR, with the DR4/DR5 and
 *   general-detect rules, is in debug.ts with the breakpoint machinery);
 * - LGDT, LIDT, SGDT, SIDT, LLDT, SLDT, LTR, STR, LAR, LSL, VERR, VERW, ARPL;
 * - INVLPG, INVPCID, WBINVD, INVD, SWAPGS, CLAC, STAC, MONITOR, MWAIT, XGETBV, XSETBV and
 *   RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE.
 *
 * Order of checks in every handler: #UD conditions, then privilege (#GP(0), UMIP), then the
 * virtualization intercept (SDM Vol. 3 §26.1.1: faults based on privilege have priority over VM
 * exits), then the operand and rule checks, and only then any change of state.
 *
 * MWAIT is a NOP hint: it returns at once (SDM Vol. 2 "MWAIT": the processor may leave the
 * optimized state for any implementation-specific reason), so a guest's idle loop simply polls.
 */
import { isCanonical } from '@hvkit/mmu';
import type { Cpu } from '../cpu.js';
import { I_MEM, I_REP, I_REPNE, R_INFO, R_REG, R_RM } from '../decoded.js';
import { Intercept } from '../extension.js';
import { arithFlags, setArithFlags } from '../flags.js';
import { Cpuid1Ecx, Cpuid1Edx, Cpuid7Ebx, Cpuid7Ecx } from '../model.js';
import { defineHandler, OpMap, Pfx, setOp } from '../optable.js';
import { descAttr, descBase, descLimit, dplOf, readDescriptor } from '../segments.js';
import { CodeMode, Cr0, Cr4, Efer, Flag, Seg, SegAttr, Vector } from '../state.js';
import { MiscEnable } from './msr.js';
import { ea, memAddr, readRm16, readRmw, segLinear, writeBack, writeReg, writeRm } from './operands.js';
import { movsxdOrArpl } from './mov.js';

/** CR0 bits that exist (SDM Vol. 3 §2.5); writes to the others are ignored. */
const CR0_DEFINED = 0xe005003f;

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

/** Protected mode, not virtual-8086 mode. */
function protectedMode(cpu: Cpu): boolean {
  return (cpu.cr0 & Cr0.PE) !== 0 && (cpu.flags & Flag.VM) === 0;
}

function setZF(cpu: Cpu, z: boolean): void {
  const f = arithFlags(cpu);
  setArithFlags(cpu, z ? f | Flag.ZF : f & ~Flag.ZF);
}

/** `lo:hi + n` as a linear address: carries into the high half only in 64-bit mode. Returns lo, hi in cpu.hi. */
function linAdd(cpu: Cpu, lo: number, hi: number, n: number): number {
  const s = (lo >>> 0) + n;
  cpu.hi = cpu.mode === CodeMode.Bits64 && s > 0xffff_ffff ? (hi + 1) | 0 : hi;
  return s | 0;
}

/** The UMIP rule for SGDT, SIDT, SLDT, SMSW and STR: #GP(0) at CPL > 0 with CR4.UMIP = 1 (SDM Vol. 3 §2.5). */
function umipCheck(cpu: Cpu): void {
  if ((cpu.cr4 & Cr4.UMIP) !== 0 && cpu.cpl > 0) cpu.gp(0);
}

// ---- control registers --------------------------------------------------------------------

/**
 * The CR4 bits this CPU lets software set: those whose feature the model advertises (SDM
 * Vol. 3 §2.5, §2.6; bits of features not advertised are reserved and #GP).
 */
export function cr4ValidMask(cpu: Cpu): number {
  const m = cpu.model;
  let mask = Cr4.PCE;
  if ((m.leaf1Edx & Cpuid1Edx.VME) !== 0) mask |= Cr4.VME | Cr4.PVI;
  if ((m.leaf1Edx & Cpuid1Edx.TSC) !== 0) mask |= Cr4.TSD;
  if ((m.leaf1Edx & Cpuid1Edx.DE) !== 0) mask |= Cr4.DE;
  if ((m.leaf1Edx & Cpuid1Edx.PSE) !== 0) mask |= Cr4.PSE;
  if ((m.leaf1Edx & Cpuid1Edx.PAE) !== 0) mask |= Cr4.PAE;
  if ((m.leaf1Edx & Cpuid1Edx.MCE) !== 0) mask |= Cr4.MCE;
  if ((m.leaf1Edx & Cpuid1Edx.PGE) !== 0) mask |= Cr4.PGE;
  if ((m.leaf1Edx & Cpuid1Edx.FXSR) !== 0) mask |= Cr4.OSFXSR;
  if ((m.leaf1Edx & Cpuid1Edx.SSE) !== 0) mask |= Cr4.OSXMMEXCPT;
  if ((m.leaf7Ecx & Cpuid7Ecx.UMIP) !== 0) mask |= Cr4.UMIP;
  if ((m.leaf7Ecx & Cpuid7Ecx.LA57) !== 0) mask |= Cr4.LA57;
  if (cpu.ext !== null && cpu.ext.kind === 'vmx') mask |= Cr4.VMXE;
  if ((m.leaf7Ebx & Cpuid7Ebx.FSGSBASE) !== 0) mask |= Cr4.FSGSBASE;
  if ((m.leaf1Ecx & Cpuid1Ecx.PCID) !== 0) mask |= Cr4.PCIDE;
  if ((m.leaf1Ecx & Cpuid1Ecx.XSAVE) !== 0) mask |= Cr4.OSXSAVE;
  if ((m.leaf7Ebx & Cpuid7Ebx.SMEP) !== 0) mask |= Cr4.SMEP;
  if ((m.leaf7Ebx & Cpuid7Ebx.SMAP) !== 0) mask |= Cr4.SMAP;
  return mask;
}

/** Whether PAE paging (not IA-32e) is in use with these register values. */
function paePaging(cr0: number, cr4: number, efer: number): boolean {
  return (cr0 & Cr0.PG) !== 0 && (cr4 & Cr4.PAE) !== 0 && (efer & Efer.LMA) === 0;
}

/**
 * MOV to CR0 (SDM Vol. 2 "MOV—Move to/from Control Registers"; Vol. 3 §2.5, §9.8.5, §4.10.4.1).
 * Bits 63:32 must be 0; reserved low bits are ignored and ET reads 1; PG without PE and NW
 * without CD are #GP(0). Setting PG with EFER.LME = 1 activates IA-32e mode (LMA = 1) and needs
 * CR4.PAE = 1, CS.L = 0 and a 32/64-bit TSS in TR; clearing PG in 64-bit mode, or with
 * CR4.PCIDE = 1, is #GP(0). With PAE paging the PDPTEs are reloaded when PG, CD or NW change
 * (SDM §4.4.1), #GP(0) on a reserved bit. Changing PE, PG or WP flushes the whole TLB.
 */
export function writeCr0(cpu: Cpu, lo: number, hi: number): void {
  if (hi !== 0) cpu.gp(0);
  const v = ((lo | Cr0.ET) & CR0_DEFINED) | 0;
  const old = cpu.cr0;
  if ((v & Cr0.PG) !== 0 && (v & Cr0.PE) === 0) cpu.gp(0);
  if ((v & Cr0.NW) !== 0 && (v & Cr0.CD) === 0) cpu.gp(0);
  let efer = cpu.efer;
  if ((v & Cr0.PG) !== 0 && (old & Cr0.PG) === 0) {
    if ((efer & Efer.LME) !== 0) {
      if ((cpu.cr4 & Cr4.PAE) === 0) cpu.gp(0);
      if ((cpu.segAttr[Seg.CS]! & SegAttr.L) !== 0) cpu.gp(0);
      if ((cpu.segAttr[Seg.TR]! & SegAttr.TypeMask) <= 3) cpu.gp(0);
      efer |= Efer.LMA;
    }
  } else if ((v & Cr0.PG) === 0 && (old & Cr0.PG) !== 0) {
    if (cpu.mode === CodeMode.Bits64) cpu.gp(0);
    if ((efer & Efer.LMA) !== 0) {
      if ((cpu.cr4 & Cr4.PCIDE) !== 0) cpu.gp(0);
      efer &= ~Efer.LMA;
    }
  }
  if (paePaging(v, cpu.cr4, efer) && ((old ^ v) & (Cr0.PG | Cr0.CD | Cr0.NW)) !== 0) {
    if (!cpu.loadPdptes(cpu.cr3Lo)) cpu.gp(0);
  }
  cpu.cr0 = v;
  cpu.efer = efer;
  if (((old ^ v) & (Cr0.PE | Cr0.PG | Cr0.WP)) !== 0) cpu.flushTlb(true);
  cpu.updateMode();
}

/**
 * MOV to CR3 (SDM Vol. 3 §4.10.4.1). In IA-32e mode bits 63:MAXPHYADDR are reserved, except
 * bit 63 with CR4.PCIDE = 1, which asks not to invalidate the new PCID's entries and is not
 * stored. With PAE paging the PDPTEs are loaded from the new value (#GP(0) on a reserved bit).
 * Non-global TLB entries are flushed, unless bit 63 was set and the PCID stays the same (the
 * TLB is not tagged by PCID, so switching PCID flushes the non-global entries).
 */
export function writeCr3(cpu: Cpu, lo: number, hi: number): void {
  let noFlush = false;
  if ((cpu.cr4 & Cr4.PCIDE) !== 0 && hi < 0) {
    noFlush = true;
    hi &= 0x7fffffff;
  }
  if ((cpu.efer & Efer.LMA) !== 0) {
    const bits = cpu.model.physAddrBits;
    const hiMask = bits >= 52 ? 0xfffff : (1 << (bits - 32)) - 1;
    if ((hi & ~hiMask) !== 0) cpu.gp(0);
  } else {
    hi = 0;
  }
  if (paePaging(cpu.cr0, cpu.cr4, cpu.efer) && !cpu.loadPdptes(lo)) cpu.gp(0);
  const samePcid = ((cpu.cr3Lo ^ lo) & 0xfff) === 0;
  cpu.cr3Lo = lo | 0;
  cpu.cr3Hi = hi | 0;
  if (!noFlush || !samePcid) cpu.flushTlb(false);
  cpu.exitBlock = true;
}

/**
 * MOV to CR4 (SDM Vol. 3 §2.5; Vol. 2 MOV CR exceptions): bits 63:32 and the bits of features
 * not advertised are reserved; in IA-32e mode PAE cannot be cleared and LA57 cannot change;
 * PCIDE needs IA-32e mode and can go 0 -> 1 only with CR3[11:0] = 0; VMXE needs a VMX
 * extension that allows it. Changing PGE, PAE, PSE, PCIDE, SMEP, SMAP or LA57 flushes the whole
 * TLB; with PAE paging, changing PAE, PGE, PSE or SMEP reloads the PDPTEs (SDM §4.4.1).
 */
export function writeCr4(cpu: Cpu, lo: number, hi: number): void {
  if (hi !== 0) cpu.gp(0);
  const v = lo | 0;
  const old = cpu.cr4;
  if ((v & ~cr4ValidMask(cpu)) !== 0) cpu.gp(0);
  if ((cpu.efer & Efer.LMA) !== 0) {
    if ((v & Cr4.PAE) === 0) cpu.gp(0);
    if (((v ^ old) & Cr4.LA57) !== 0) cpu.gp(0);
  } else if ((v & Cr4.PCIDE) !== 0) {
    cpu.gp(0);
  }
  if ((v & Cr4.PCIDE) !== 0 && (old & Cr4.PCIDE) === 0 && (cpu.cr3Lo & 0xfff) !== 0) cpu.gp(0);
  if ((v & Cr4.VMXE) !== 0 && (old & Cr4.VMXE) === 0 && (cpu.ext === null || !cpu.ext.allowsEnable(cpu))) cpu.gp(0);
  const changed = (v ^ old) & (Cr4.PGE | Cr4.PAE | Cr4.PSE | Cr4.PCIDE | Cr4.SMEP | Cr4.SMAP | Cr4.LA57);
  if (paePaging(cpu.cr0, v, cpu.efer) && (changed & (Cr4.PAE | Cr4.PGE | Cr4.PSE | Cr4.SMEP)) !== 0) {
    if (!cpu.loadPdptes(cpu.cr3Lo)) cpu.gp(0);
  }
  cpu.cr4 = v;
  if (changed !== 0) cpu.flushTlb(true);
  cpu.updateMode();
}

/** MOV to CR8 (64-bit mode): the task-priority register; bits 63:4 are reserved (SDM Vol. 3 §11.8.6.5). */
export function writeCr8(cpu: Cpu, lo: number, hi: number): void {
  if (hi !== 0 || (lo & ~0xf) !== 0) cpu.gp(0);
  cpu.cr8 = lo;
  // CR8 is an alias of TPR[7:4] in the local APIC (SDM Vol. 3 §11.8.6.5).
  if (cpu.apic !== null) cpu.apic.writeCr8(lo);
  cpu.exitBlock = true;
}

/** Valid control-register numbers: 0, 2, 3, 4 and (64-bit mode, REX.R) 8; others are #UD. */
function crValid(n: number): boolean {
  return n === 0 || n === 2 || n === 3 || n === 4 || n === 8;
}

/** MOV r, CRn (0F 20): 32-bit operands outside 64-bit mode, 64-bit in 64-bit mode. */
function movFromCr(cpu: Cpu, d: number): void {
  const n = cpu.rec[d + R_REG]!;
  if (!crValid(n)) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.CrRead, n | (cpu.rec[d + R_RM]! << 4), 0)) return;
  let lo: number;
  let hi = 0;
  switch (n) {
    case 0:
      lo = cpu.cr0;
      // Guest-owned bits from CR0, host-owned ones from the read shadow (SDM §25.3).
      if (cpu.guestMode) lo = (lo & ~cpu.cr0GuestMask) | (cpu.cr0ReadShadow & cpu.cr0GuestMask);
      break;
    case 2:
      lo = cpu.cr2Lo;
      hi = cpu.cr2Hi;
      break;
    case 3:
      lo = cpu.cr3Lo;
      hi = cpu.cr3Hi;
      break;
    case 4:
      lo = cpu.cr4;
      if (cpu.guestMode) lo = (lo & ~cpu.cr4GuestMask) | (cpu.cr4ReadShadow & cpu.cr4GuestMask);
      break;
    default:
      lo = cpu.apic !== null ? cpu.apic.readCr8() & 0xf : cpu.cr8;
      break;
  }
  const r = cpu.rec[d + R_RM]!;
  if (cpu.mode === CodeMode.Bits64) cpu.setReg64(r, lo, hi);
  else cpu.setReg32(r, lo);
}

/** MOV CRn, r (0F 22). */
function movToCr(cpu: Cpu, d: number): void {
  const n = cpu.rec[d + R_REG]!;
  if (!crValid(n)) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.CrWrite, n | (cpu.rec[d + R_RM]! << 4), 0)) return;
  const r = cpu.rec[d + R_RM]!;
  let lo = cpu.gpr[r]!;
  const hi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[r]! : 0;
  // MOV to CR0/CR4 that did not exit leaves the host-owned bits unchanged (SDM §25.3).
  if (cpu.guestMode) {
    if (n === 0) lo = (lo & ~cpu.cr0GuestMask) | (cpu.cr0 & cpu.cr0GuestMask);
    else if (n === 4) lo = (lo & ~cpu.cr4GuestMask) | (cpu.cr4 & cpu.cr4GuestMask);
  }
  // Bits fixed in VMX operation (SDM Vol. 3C §23.8): the extension decides.
  if ((n === 0 || n === 4) && cpu.ext !== null && !cpu.ext.allowsCrWrite(cpu, n, lo, hi)) cpu.gp(0);
  switch (n) {
    case 0:
      writeCr0(cpu, lo, hi);
      break;
    case 2:
      cpu.cr2Lo = lo;
      cpu.cr2Hi = hi;
      break;
    case 3:
      writeCr3(cpu, lo, hi);
      break;
    case 4:
      writeCr4(cpu, lo, hi);
      break;
    default:
      writeCr8(cpu, lo, hi);
      break;
  }
}

// ---- CR0 shortcuts --------------------------------------------------------------------------

/** CLTS (0F 06): clears CR0.TS; CPL 0. */
function clts(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode) {
    if (cpu.interceptInsn(d, Intercept.Clts, 0, 0)) return;
    // A host-owned CR0.TS stays as it is (SDM §25.3 "CLTS").
    if ((cpu.cr0GuestMask & Cr0.TS) !== 0) return;
  }
  if (cpu.ext !== null && !cpu.ext.allowsCrWrite(cpu, 0, cpu.cr0 & ~Cr0.TS, 0)) cpu.gp(0);
  cpu.cr0 &= ~Cr0.TS;
}

/** LMSW (0F 01 /6): loads CR0[3:0] (PE, MP, EM, TS); it can set PE but never clear it. */
function lmsw(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  const mem = (cpu.rec[d + R_INFO]! & I_MEM) !== 0;
  let msw: number;
  if (mem) {
    // The operand's linear address stays in lastLo/lastHi for the extension (SDM §27.2.1).
    const lo = memAddr(cpu, d, 2, false);
    const hi = cpu.hi;
    cpu.lastLo = lo;
    cpu.lastHi = hi;
    msw = cpu.rd16(lo, hi);
  } else {
    msw = cpu.gpr[cpu.rec[d + R_RM]!]! & 0xffff;
  }
  let v = (cpu.cr0 & ~0xf) | (msw & 0xf) | (cpu.cr0 & Cr0.PE);
  if (cpu.guestMode) {
    if (cpu.interceptInsn(d, Intercept.Lmsw, msw, mem ? 1 : cpu.rec[d + R_RM]! << 1)) return;
    // Host-owned bits of CR0[3:0] stay unchanged (SDM §25.3 "LMSW").
    v = (v & ~cpu.cr0GuestMask) | (cpu.cr0 & cpu.cr0GuestMask);
  }
  if (cpu.ext !== null && !cpu.ext.allowsCrWrite(cpu, 0, v, 0)) cpu.gp(0);
  writeCr0(cpu, v, 0);
}

/** SMSW (0F 01 /4): a register destination gets CR0 at the operand size (zero-extended); memory gets 16 bits. */
function smsw(cpu: Cpu, d: number): void {
  umipCheck(cpu);
  let cr0 = cpu.cr0;
  if (cpu.guestMode) {
    if (cpu.interceptInsn(d, Intercept.Smsw, 0, 0)) return;
    cr0 = (cr0 & ~cpu.cr0GuestMask) | (cpu.cr0ReadShadow & cpu.cr0GuestMask);
  }
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) writeRm(cpu, d, 1, cr0, 0);
  else writeReg(cpu, cpu.rec[d + R_RM]!, osz(cpu, d), cr0, 0);
}

// ---- descriptor-table registers -----------------------------------------------------------

/**
 * LGDT/LIDT (0F 01 /2, /3): 16-bit limit then base: 24 bits with a 16-bit operand size, 32
 * bits otherwise, 64 bits in 64-bit mode (which must be canonical). CPL 0.
 */
function lgdtLidt(cpu: Cpu, d: number, idt: boolean): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DescriptorTable, idt ? 1 : 0, 0)) return;
  const is64 = cpu.mode === CodeMode.Bits64;
  const lo = memAddr(cpu, d, is64 ? 10 : 6, false);
  const hi = cpu.hi;
  const limit = cpu.rd16(lo, hi);
  const a2 = linAdd(cpu, lo, hi, 2);
  let baseLo = cpu.rd32(a2, cpu.hi);
  let baseHi = 0;
  if (is64) {
    const a6 = linAdd(cpu, lo, hi, 6);
    baseHi = cpu.rd32(a6, cpu.hi);
    if (!isCanonical(baseHi, cpu.model.linearAddrBits)) cpu.gp(0);
  } else if (osz(cpu, d) === 1) {
    baseLo &= 0x00ffffff;
  }
  if (idt) {
    cpu.idtrLimit = limit;
    cpu.idtrBaseLo = baseLo;
    cpu.idtrBaseHi = baseHi;
  } else {
    cpu.gdtrLimit = limit;
    cpu.gdtrBaseLo = baseLo;
    cpu.gdtrBaseHi = baseHi;
  }
}

/**
 * SGDT/SIDT (0F 01 /0, /1): stores the limit and the full 32-bit base (64-bit in 64-bit mode)
 * whatever the operand size. Both ends are probed for writing first, so a fault stores nothing.
 */
function sgdtSidt(cpu: Cpu, d: number, idt: boolean): void {
  umipCheck(cpu);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DescriptorTable, idt ? 3 : 2, 0)) return;
  const is64 = cpu.mode === CodeMode.Bits64;
  const size = is64 ? 10 : 6;
  const lo = memAddr(cpu, d, size, true);
  const hi = cpu.hi;
  cpu.rdw8(lo, hi);
  const last = linAdd(cpu, lo, hi, size - 1);
  cpu.rdw8(last, cpu.hi);
  const limit = idt ? cpu.idtrLimit : cpu.gdtrLimit;
  const baseLo = idt ? cpu.idtrBaseLo : cpu.gdtrBaseLo;
  const baseHi = idt ? cpu.idtrBaseHi : cpu.gdtrBaseHi;
  cpu.wr16(lo, hi, limit);
  const a2 = linAdd(cpu, lo, hi, 2);
  if (is64) cpu.wr64(a2, cpu.hi, baseLo, baseHi);
  else cpu.wr32(a2, cpu.hi, baseLo);
}

/** Reads a system descriptor for LLDT/LTR (16 bytes in IA-32e mode); #GP(selector) when beyond the GDT limit or TI = 1. */
function readSystemDescriptor(cpu: Cpu, sel: number): boolean {
  const long = (cpu.efer & Efer.LMA) !== 0;
  if ((sel & 4) !== 0 || !readDescriptor(cpu, sel, long)) cpu.gp(sel & 0xfffc);
  return long;
}

/**
 * LLDT (0F 00 /2): protected mode only (#UD in real and virtual-8086 mode), CPL 0. A null
 * selector marks LDTR unusable; otherwise the GDT entry must be a present LDT descriptor
 * (#GP(sel) / #NP(sel)); in IA-32e mode it is 16 bytes, its upper type must be 0 and its base
 * canonical (SDM Vol. 2 "LLDT"; Vol. 3 §7.2.3 ... §3.5.2).
 */
function lldt(cpu: Cpu, d: number): void {
  if (!protectedMode(cpu)) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  const sel = readRm16(cpu, d);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DescriptorTable, 4, 0)) return;
  if ((sel & 0xfffc) === 0) {
    cpu.setSegmentRaw(Seg.LDTR, sel, 0, 0, SegAttr.Unusable);
    return;
  }
  const err = sel & 0xfffc;
  const long = readSystemDescriptor(cpu, sel);
  const desc = cpu.desc;
  const attr = descAttr(desc.hi);
  if ((attr & (SegAttr.S | SegAttr.TypeMask)) !== 2) cpu.gp(err);
  if (long && cpu.descUpperType !== 0) cpu.gp(err);
  if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, err);
  const baseHi = long ? desc.hi2 : 0;
  if (long && !isCanonical(baseHi, cpu.model.linearAddrBits)) cpu.gp(err);
  cpu.setSegmentRaw(Seg.LDTR, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), attr, baseHi);
}

/**
 * LTR (0F 00 /3): protected mode, CPL 0; the selector must name an available TSS in the GDT
 * (16-bit or 32-bit; in IA-32e mode only a 64-bit TSS), present, with the same 16-byte rules as
 * LLDT. The descriptor is marked busy (SDM Vol. 2 "LTR").
 */
function ltr(cpu: Cpu, d: number): void {
  if (!protectedMode(cpu)) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  const sel = readRm16(cpu, d);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DescriptorTable, 5, 0)) return;
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const err = sel & 0xfffc;
  const long = readSystemDescriptor(cpu, sel);
  const desc = cpu.desc;
  const attr = descAttr(desc.hi);
  const type = attr & (SegAttr.S | SegAttr.TypeMask);
  if (long ? type !== 9 : type !== 1 && type !== 9) cpu.gp(err);
  if (long && cpu.descUpperType !== 0) cpu.gp(err);
  if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, err);
  const baseHi = long ? desc.hi2 : 0;
  if (long && !isCanonical(baseHi, cpu.model.linearAddrBits)) cpu.gp(err);
  desc.hi |= 0x200;
  cpu.sysWrite32((desc.addrLo + 4) | 0, desc.addrHi, desc.hi);
  cpu.setSegmentRaw(Seg.TR, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), attr | 2, baseHi);
}

/** SLDT / STR (0F 00 /0, /1): protected mode only; UMIP; register destinations are zero-extended. */
function storeSel(cpu: Cpu, d: number, seg: number): void {
  if (!protectedMode(cpu)) cpu.ud();
  umipCheck(cpu);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.DescriptorTable, seg === Seg.LDTR ? 6 : 7, 0)) return;
  const sel = cpu.segSel[seg]!;
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) writeRm(cpu, d, 1, sel, 0);
  else writeReg(cpu, cpu.rec[d + R_RM]!, osz(cpu, d), sel, 0);
}

// ---- LAR, LSL, VERR, VERW, ARPL ---------------------------------------------------------------

/**
 * Reads and checks the descriptor for LAR/LSL (SDM Vol. 2 "LAR", "LSL"): not null, within the
 * table, an allowed type, and (unless conforming code) DPL >= CPL and DPL >= RPL. System types
 * allowed: LAR 1, 2, 3, 4, 5, 9, B, C; LSL 1, 2, 3, 9, B; in IA-32e mode only 2, 9, B and (LAR) C,
 * read as 16-byte descriptors whose upper type must be 0.
 */
function larLslCheck(cpu: Cpu, sel: number, lsl: boolean): boolean {
  if ((sel & 0xfffc) === 0) return false;
  if (!readDescriptor(cpu, sel)) return false;
  const attr = descAttr(cpu.desc.hi);
  if ((attr & SegAttr.S) === 0) {
    const t = attr & SegAttr.TypeMask;
    const long = (cpu.efer & Efer.LMA) !== 0;
    let ok: boolean;
    if (long) ok = t === 2 || t === 9 || t === 11 || (!lsl && t === 12);
    else if (lsl) ok = t === 1 || t === 2 || t === 3 || t === 9 || t === 11;
    else ok = t === 1 || t === 2 || t === 3 || t === 4 || t === 5 || t === 9 || t === 11 || t === 12;
    if (!ok) return false;
    if (long && (!readDescriptor(cpu, sel, true) || cpu.descUpperType !== 0)) return false;
  }
  const conformingCode = (attr & (SegAttr.S | SegAttr.Code | SegAttr.DC)) === (SegAttr.S | SegAttr.Code | SegAttr.DC);
  if (!conformingCode) {
    const dpl = dplOf(attr);
    if (dpl < cpu.cpl || dpl < (sel & 3)) return false;
  }
  return true;
}

/** LAR (0F 02) and LSL (0F 03): ZF = 1 and the access rights (masked by 00FxFF00H) or the scaled limit on success. */
function larLsl(cpu: Cpu, d: number, lsl: boolean): void {
  if (!protectedMode(cpu)) cpu.ud();
  const sel = readRm16(cpu, d);
  if (!larLslCheck(cpu, sel, lsl)) {
    setZF(cpu, false);
    return;
  }
  const o = osz(cpu, d);
  const desc = cpu.desc;
  let v: number;
  if (lsl) v = descLimit(desc.lo, desc.hi);
  else v = o === 1 ? desc.hi & 0xff00 : desc.hi & 0x00ffff00;
  writeReg(cpu, cpu.rec[d + R_REG]!, o, v, 0);
  setZF(cpu, true);
}

/** VERR / VERW (0F 00 /4, /5): ZF = 1 when the segment is readable / writable at the current CPL and RPL. */
function verify(cpu: Cpu, d: number, write: boolean): void {
  if (!protectedMode(cpu)) cpu.ud();
  const sel = readRm16(cpu, d);
  let ok = false;
  if ((sel & 0xfffc) !== 0 && readDescriptor(cpu, sel)) {
    const attr = descAttr(cpu.desc.hi);
    if ((attr & SegAttr.S) !== 0) {
      const code = (attr & SegAttr.Code) !== 0;
      const dpl = dplOf(attr);
      const privOk = dpl >= cpu.cpl && dpl >= (sel & 3);
      if (write) ok = !code && (attr & SegAttr.RW) !== 0 && privOk;
      else if (code) ok = (attr & SegAttr.RW) !== 0 && ((attr & SegAttr.DC) !== 0 || privOk);
      else ok = privOk;
    }
  }
  setZF(cpu, ok);
}

/** ARPL r/m16, r16 (63 outside 64-bit mode): raises the destination's RPL to the source's (ZF = 1). */
function arpl(cpu: Cpu, d: number): void {
  if (!protectedMode(cpu)) cpu.ud();
  const dst = readRmw(cpu, d, 1);
  const src = cpu.gpr[cpu.rec[d + R_REG]!]! & 3;
  if ((dst & 3) < src) {
    writeBack(cpu, d, 1, (dst & ~3) | src, 0);
    setZF(cpu, true);
  } else {
    setZF(cpu, false);
  }
}

// ---- TLB and cache control ------------------------------------------------------------------

/** INVLPG m (0F 01 /7): drops the translations of the page holding the linear address; no access is made. */
function invlpg(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  ea(cpu, d);
  const seg = (cpu.rec[d + R_INFO]! >>> 8) & 7;
  let lo = cpu.eaLo;
  let hi = cpu.eaHi;
  if (cpu.mode !== CodeMode.Bits64 || seg >= Seg.FS) {
    const s = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
    lo = s | 0;
    hi = cpu.mode === CodeMode.Bits64 ? (hi + cpu.segBaseHi[seg]! + (s > 0xffff_ffff ? 1 : 0)) | 0 : 0;
  }
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Invlpg, lo, hi)) return;
  cpu.flushTlbPage(lo, hi);
}

/**
 * INVPCID (66 0F 38 82): type in a register (r64 in 64-bit mode), a 16-byte descriptor in memory
 * (PCID in bits 11:0, bits 63:12 zero, linear address in bits 127:64). Types: 0 one address,
 * 1 one PCID, 2 everything, 3 everything but global translations (SDM Vol. 2 "INVPCID").
 */
function invpcid(cpu: Cpu, d: number): void {
  if ((cpu.model.leaf7Ebx & Cpuid7Ebx.INVPCID) === 0 || (cpu.flags & Flag.VM) !== 0) cpu.ud();
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  const r = cpu.rec[d + R_REG]!;
  const typeLo = cpu.gpr[r]!;
  const typeHi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[r]! : 0;
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Invpcid, typeLo, 0)) return;
  const lo = memAddr(cpu, d, 16, false);
  const hi = cpu.hi;
  const descLo = cpu.rd64(lo, hi);
  const descHi = cpu.hi;
  const a8 = linAdd(cpu, lo, hi, 8);
  const linLo = cpu.rd64(a8, cpu.hi);
  const linHi = cpu.hi;
  if (typeHi !== 0 || typeLo >>> 0 > 3) cpu.gp(0);
  if ((descLo & ~0xfff) !== 0 || descHi !== 0) cpu.gp(0);
  const pcid = descLo & 0xfff;
  if (typeLo <= 1 && pcid !== 0 && (cpu.cr4 & Cr4.PCIDE) === 0) cpu.gp(0);
  switch (typeLo) {
    case 0:
      if (!isCanonical(linHi, cpu.linearBits)) cpu.gp(0);
      cpu.flushTlbPage(linLo, linHi);
      break;
    case 1:
    case 3:
      cpu.flushTlb(false);
      break;
    default:
      cpu.flushTlb(true);
      break;
  }
}

/** WBINVD (0F 09) and INVD (0F 08): CPL 0; caches are not modelled, so nothing else happens. */
function cacheFlush(cpu: Cpu, d: number, wb: boolean): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, wb ? Intercept.Wbinvd : Intercept.Invd, 0, 0)) return;
}

// ---- 64-bit segment bases ---------------------------------------------------------------------

/** SWAPGS (0F 01 F8): 64-bit mode only (#UD), CPL 0; exchanges GS.base with IA32_KERNEL_GS_BASE. */
function swapgs(cpu: Cpu): void {
  if (cpu.mode !== CodeMode.Bits64) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  const lo = cpu.segBase[Seg.GS]!;
  const hi = cpu.segBaseHi[Seg.GS]!;
  cpu.segBase[Seg.GS] = cpu.kernelGsBaseLo;
  cpu.segBaseHi[Seg.GS] = cpu.kernelGsBaseHi;
  cpu.kernelGsBaseLo = lo;
  cpu.kernelGsBaseHi = hi;
}

/**
 * RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (F3 0F AE /0-/3, register forms): 64-bit mode and
 * CR4.FSGSBASE = 1, else #UD; REX.W selects 64-bit operands; a 64-bit base must be canonical.
 */
function fsgsbase(cpu: Cpu, d: number, which: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & (I_REP | I_REPNE)) !== I_REP) cpu.ud();
  if (cpu.mode !== CodeMode.Bits64 || (cpu.cr4 & Cr4.FSGSBASE) === 0) cpu.ud();
  const seg = (which & 1) === 0 ? Seg.FS : Seg.GS;
  const r = cpu.rec[d + R_RM]!;
  const w64 = osz(cpu, d) === 3;
  if (which < 2) {
    cpu.setReg64(r, cpu.segBase[seg]!, w64 ? cpu.segBaseHi[seg]! : 0);
    return;
  }
  const lo = cpu.gpr[r]!;
  const hi = w64 ? cpu.gprHi[r]! : 0;
  if (!isCanonical(hi, cpu.model.linearAddrBits)) cpu.gp(0);
  cpu.segBase[seg] = lo;
  cpu.segBaseHi[seg] = hi;
}

// ---- SMAP, MONITOR/MWAIT, XSAVE control -------------------------------------------------------

/** CLAC / STAC (0F 01 CA / CB): clear / set EFLAGS.AC; #UD without SMAP or at CPL > 0. */
function clacStac(cpu: Cpu, set: boolean): void {
  if ((cpu.model.leaf7Ebx & Cpuid7Ebx.SMAP) === 0 || cpu.cpl !== 0) cpu.ud();
  const f = cpu.getEflags();
  cpu.setEflags(set ? f | Flag.AC : f & ~Flag.AC);
}

/** MONITOR/MWAIT are #UD without the feature, with IA32_MISC_ENABLE.MONITOR = 0 (Intel), or at CPL > 0. */
function monitorAllowed(cpu: Cpu): void {
  if ((cpu.model.leaf1Ecx & Cpuid1Ecx.MONITOR) === 0) cpu.ud();
  if (cpu.model.vendor === 'intel' && (cpu.miscEnableLo & MiscEnable.Monitor) === 0) cpu.ud();
  if (cpu.cpl !== 0) cpu.ud();
}

/**
 * MONITOR (0F 01 C8): arms monitoring of the line at DS:rAX (segment overridable, address-size
 * wide); ECX (extensions) must be 0. The address is checked and translated (#GP/#SS/#PF) as a
 * one-byte read. Nothing else is kept: MWAIT does not sleep.
 */
function monitor(cpu: Cpu, d: number): void {
  monitorAllowed(cpu);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Monitor, 0, 0)) return;
  const info = cpu.rec[d + R_INFO]!;
  const asz = (info >>> 6) & 3;
  if (cpu.gpr[1] !== 0 || (cpu.mode === CodeMode.Bits64 && cpu.gprHi[1] !== 0)) cpu.gp(0);
  let offLo = cpu.gpr[0]!;
  let offHi = 0;
  if (asz === 1) offLo &= 0xffff;
  else if (asz === 3) offHi = cpu.gprHi[0]!;
  const lo = segLinear(cpu, (info >>> 8) & 7, offLo, offHi, 1, false);
  cpu.translate(lo, cpu.hi, 0);
  cpu.monitorArmed = true;
}

/** MWAIT (0F 01 C9): ECX bit 0 (break on interrupt with IF = 0) is the only extension, others #GP(0); then a NOP. */
function mwait(cpu: Cpu, d: number): void {
  monitorAllowed(cpu);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Mwait, cpu.monitorArmed ? 1 : 0, 0)) return;
  if ((cpu.gpr[1]! & ~1) !== 0 || (cpu.mode === CodeMode.Bits64 && cpu.gprHi[1] !== 0)) cpu.gp(0);
  cpu.monitorArmed = false;
}

/** XCR0 bits this CPU supports: x87 (bit 0) and SSE (bit 1) state; no AVX (SDM Vol. 1 §13.3). */
export const XCR0_SUPPORTED = 3;

/** XGETBV/XSETBV are #UD without XSAVE in the model or with CR4.OSXSAVE = 0 (SDM Vol. 2 "XGETBV"). */
function xsaveEnabled(cpu: Cpu): void {
  if ((cpu.model.leaf1Ecx & Cpuid1Ecx.XSAVE) === 0 || (cpu.cr4 & Cr4.OSXSAVE) === 0) cpu.ud();
}

/**
 * XGETBV (0F 01 D0): EDX:EAX = XCR[ECX], any CPL; only XCR0 exists: ECX = 1 (XINUSE) needs
 * XGETBV1, which is not advertised (CPUID.(EAX=0DH,ECX=1):EAX[2] = 0), so #GP(0) like any other.
 */
function xgetbv(cpu: Cpu): void {
  xsaveEnabled(cpu);
  if (cpu.gpr[1] !== 0) cpu.gp(0);
  cpu.setReg32(0, cpu.xcr0);
  cpu.setReg32(2, 0);
}

/**
 * XSETBV (0F 01 D1): CPL 0 only; ECX must be 0; XCR0 must keep bit 0 (x87) and set only supported
 * bits, EDX (bits 63:32) zero (SDM Vol. 2 "XSETBV", Vol. 1 §13.3).
 */
function xsetbv(cpu: Cpu, d: number): void {
  xsaveEnabled(cpu);
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Xsetbv, cpu.gpr[1]!, 0)) return;
  const v = cpu.gpr[0]!;
  if (cpu.gpr[1] !== 0 || cpu.gpr[2] !== 0 || (v & 1) === 0 || (v & ~XCR0_SUPPORTED) !== 0) cpu.gp(0);
  cpu.xcr0 = v;
}

export function installSysreg(): void {
  setOp(OpMap.Two, 0x20, defineHandler('mov r,cr', movFromCr));
  setOp(OpMap.Two, 0x22, defineHandler('mov cr,r', movToCr));
  setOp(OpMap.Two, 0x06, defineHandler('clts', clts));
  setOp(OpMap.Two, 0x08, defineHandler('invd', (cpu, d) => cacheFlush(cpu, d, false)));
  setOp(OpMap.Two, 0x09, defineHandler('wbinvd', (cpu, d) => cacheFlush(cpu, d, true)));

  // Group 6 (0F 00).
  setOp(OpMap.Two, 0x00, defineHandler('sldt', (cpu, d) => storeSel(cpu, d, Seg.LDTR)), { reg: 0 });
  setOp(OpMap.Two, 0x00, defineHandler('str', (cpu, d) => storeSel(cpu, d, Seg.TR)), { reg: 1 });
  setOp(OpMap.Two, 0x00, defineHandler('lldt', lldt), { reg: 2 });
  setOp(OpMap.Two, 0x00, defineHandler('ltr', ltr), { reg: 3 });
  setOp(OpMap.Two, 0x00, defineHandler('verr', (cpu, d) => verify(cpu, d, false)), { reg: 4 });
  setOp(OpMap.Two, 0x00, defineHandler('verw', (cpu, d) => verify(cpu, d, true)), { reg: 5 });

  // Group 7 (0F 01): memory forms, then the register-form instructions by ModRM byte.
  setOp(OpMap.Two, 0x01, defineHandler('sgdt', (cpu, d) => sgdtSidt(cpu, d, false)), { reg: 0, mod3: false });
  setOp(OpMap.Two, 0x01, defineHandler('sidt', (cpu, d) => sgdtSidt(cpu, d, true)), { reg: 1, mod3: false });
  setOp(OpMap.Two, 0x01, defineHandler('lgdt', (cpu, d) => lgdtLidt(cpu, d, false)), { reg: 2, mod3: false });
  setOp(OpMap.Two, 0x01, defineHandler('lidt', (cpu, d) => lgdtLidt(cpu, d, true)), { reg: 3, mod3: false });
  setOp(OpMap.Two, 0x01, defineHandler('smsw', smsw), { reg: 4 });
  setOp(OpMap.Two, 0x01, defineHandler('lmsw', lmsw), { reg: 6 });
  setOp(OpMap.Two, 0x01, defineHandler('invlpg', invlpg), { reg: 7, mod3: false });
  setOp(OpMap.Two, 0x01, defineHandler('monitor', monitor), { reg: 1, mod3: true, rm: 0 });
  setOp(OpMap.Two, 0x01, defineHandler('mwait', mwait), { reg: 1, mod3: true, rm: 1 });
  setOp(OpMap.Two, 0x01, defineHandler('clac', (cpu) => clacStac(cpu, false)), { reg: 1, mod3: true, rm: 2 });
  setOp(OpMap.Two, 0x01, defineHandler('stac', (cpu) => clacStac(cpu, true)), { reg: 1, mod3: true, rm: 3 });
  setOp(OpMap.Two, 0x01, defineHandler('xgetbv', xgetbv), { reg: 2, mod3: true, rm: 0 });
  setOp(OpMap.Two, 0x01, defineHandler('xsetbv', xsetbv), { reg: 2, mod3: true, rm: 1 });
  setOp(OpMap.Two, 0x01, defineHandler('swapgs', swapgs), { reg: 7, mod3: true, rm: 0 });

  setOp(OpMap.Two, 0x02, defineHandler('lar', (cpu, d) => larLsl(cpu, d, false)));
  setOp(OpMap.Two, 0x03, defineHandler('lsl', (cpu, d) => larLsl(cpu, d, true)));
  setOp(OpMap.One, 0x63, defineHandler('movsxd/arpl', (cpu, d) => movsxdOrArpl(cpu, d, arpl)));
  setOp(OpMap.Three38, 0x82, defineHandler('invpcid', invpcid), { prefix: Pfx.P66 });

  // F3 0F AE /0-/3 register forms; no other prefix combination of these ModRM bytes is defined.
  for (let which = 0; which < 4; which++) {
    const id = defineHandler(['rdfsbase', 'rdgsbase', 'wrfsbase', 'wrgsbase'][which]!, (cpu, d) => fsgsbase(cpu, d, which));
    for (let rm = 0; rm < 8; rm++) setOp(OpMap.Two, 0xae, id, { reg: which, mod3: true, rm });
  }
}
