/**
 * Segmentation: descriptor parsing, descriptor-table reads and the segment-register load
 * rules (SDM Vol. 3 ch. 3 and ch. 5; the "Operation" sections of MOV, POP, LDS/LES/LFS/LGS/LSS).
 */
import type { Cpu } from './cpu.js';
import { CodeMode, Cr0, Flag, Seg, SegAttr, Vector } from './state.js';

/** Base of a segment descriptor given its two dwords (SDM Vol. 3 §3.4.5, Figure 3-8). */
export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

/** Byte-granular limit of a descriptor. */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Attributes of a descriptor in VMX access-rights layout. */
export function descAttr(hi: number): number {
  return ((hi >>> 8) & 0xff) | ((hi >>> 8) & 0xf000);
}

/** Whether a descriptor table entry is a code/data (S = 1) descriptor. */
export function isCodeData(attr: number): boolean {
  return (attr & SegAttr.S) !== 0;
}

export function dplOf(attr: number): number {
  return (attr >> SegAttr.DplShift) & 3;
}

/** The last descriptor read by {@link readDescriptor}. */
export class DescriptorScratch {
  lo = 0;
  hi = 0;
  /** Third dword (bits 63:32 of the base) of a 16-byte system descriptor in IA-32e mode. */
  hi2 = 0;
  /** Linear address of the entry. */
  addrLo = 0;
  addrHi = 0;
}

/**
 * Reads the descriptor for `selector` from the GDT or LDT into `cpu.desc`. Returns false
 * when the selector's index lies beyond the table limit (the caller raises the exception
 * its instruction defines; SDM Vol. 3 §3.4.2).
 */
export function readDescriptor(cpu: Cpu, selector: number, wide = false): boolean {
  const index = selector & 0xfff8;
  let baseLo: number;
  let baseHi: number;
  let limit: number;
  if ((selector & 4) !== 0) {
    if ((cpu.segAttr[Seg.LDTR]! & SegAttr.Unusable) !== 0 || (cpu.segAttr[Seg.LDTR]! & SegAttr.P) === 0) return false;
    baseLo = cpu.segBase[Seg.LDTR]!;
    baseHi = cpu.segBaseHi[Seg.LDTR]!;
    limit = cpu.segLimit[Seg.LDTR]!;
  } else {
    baseLo = cpu.gdtrBaseLo;
    baseHi = cpu.gdtrBaseHi;
    limit = cpu.gdtrLimit;
  }
  if (index + (wide ? 15 : 7) > limit) return false;
  const d = cpu.desc;
  let lo = (baseLo >>> 0) + index;
  let hi = baseHi;
  if (lo > 0xffff_ffff) {
    lo -= 2 ** 32;
    hi = cpu.mode === CodeMode.Bits64 || (cpu.efer & 0x400) !== 0 ? (hi + 1) | 0 : hi;
  }
  if (cpu.mode !== CodeMode.Bits64 && (cpu.efer & 0x400) === 0) hi = 0;
  d.addrLo = lo | 0;
  d.addrHi = hi;
  d.lo = cpu.sysRead32(d.addrLo, hi);
  d.hi = cpu.sysRead32((d.addrLo + 4) | 0, hi);
  d.hi2 = wide ? cpu.sysRead32((d.addrLo + 8) | 0, hi) : 0;
  if (wide) {
    const typeCheck = cpu.sysRead32((d.addrLo + 12) | 0, hi);
    // Bits 12:8 of the upper dword must be zero for a valid 16-byte system descriptor.
    if ((typeCheck & 0x1f00) !== 0) d.hi2 = d.hi2 | 0; // checked by callers through `upperTypeOk`
    cpu.descUpperType = (typeCheck >>> 8) & 0x1f;
  }
  return true;
}

/** Sets the accessed bit of the last descriptor read, if clear (SDM Vol. 3 §3.4.5.1). */
export function setAccessed(cpu: Cpu): void {
  const d = cpu.desc;
  if ((d.hi & 0x100) === 0) {
    d.hi |= 0x100;
    cpu.sysWrite32((d.addrLo + 4) | 0, d.addrHi, d.hi);
  }
}

/** Loads a segment register from the last descriptor read. */
export function loadFromDescriptor(cpu: Cpu, seg: number, selector: number): void {
  const d = cpu.desc;
  cpu.setSegmentRaw(seg, selector, descBase(d.lo, d.hi), descLimit(d.lo, d.hi), descAttr(d.hi));
}

/** Loads a null selector into a data segment register: usable = false (SDM Vol. 3 §3.4.3). */
export function loadNull(cpu: Cpu, seg: number, selector: number): void {
  cpu.setSegmentRaw(seg, selector, 0, 0, SegAttr.Unusable);
}

/** Real-address and virtual-8086 mode: base = selector * 16 (SDM Vol. 3 §20.1.1). */
export function loadSegmentReal(cpu: Cpu, seg: number, selector: number): void {
  selector &= 0xffff;
  if ((cpu.flags & Flag.VM) !== 0) {
    // Virtual-8086 mode: fixed 64 KiB, DPL 3, read/write data attributes (SDM Vol. 3 §20.2.1).
    const attr = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | (3 << SegAttr.DplShift) | (seg === Seg.CS ? SegAttr.Code : 0);
    cpu.setSegmentRaw(seg, selector, selector << 4, 0xffff, attr);
    return;
  }
  // Real mode keeps the cached limit and attributes ("unreal mode"); only selector and base change.
  let attr = cpu.segAttr[seg]! & ~SegAttr.Unusable;
  if (seg === Seg.CS) attr = (attr & ~(SegAttr.L | SegAttr.DB)) | SegAttr.P | SegAttr.S;
  else attr |= SegAttr.P | SegAttr.S;
  cpu.setSegmentRaw(seg, selector, selector << 4, cpu.segLimit[seg]!, attr);
  if (seg === Seg.SS) cpu.updateMode();
}

/**
 * Loads DS, ES, FS, GS or SS with `selector` following the protected-mode checks of
 * MOV/POP Sreg (SDM Vol. 2 "MOV—Move" Operation; Vol. 3 §5.7 and §5.10.1 for SS).
 */
export function loadSegmentProtected(cpu: Cpu, seg: number, selector: number): void {
  selector &= 0xffff;
  const rpl = selector & 3;
  const cpl = cpu.cpl;
  const errSel = selector & 0xfffc;
  if ((selector & 0xfffc) === 0) {
    if (seg === Seg.SS) {
      // 64-bit mode allows a null SS at CPL < 3 when RPL = CPL (SDM Vol. 3 §5.10.1... Vol. 2 MOV).
      if (cpu.mode === CodeMode.Bits64 && cpl !== 3 && rpl === cpl) {
        cpu.setSegmentRaw(Seg.SS, selector, 0, 0, SegAttr.Unusable | (cpl << SegAttr.DplShift));
        cpu.updateMode();
        return;
      }
      cpu.gp(0);
    }
    loadNull(cpu, seg, selector);
    return;
  }
  if (!readDescriptor(cpu, selector)) cpu.gp(errSel);
  const attr = descAttr(cpu.desc.hi);
  const dpl = dplOf(attr);
  if (seg === Seg.SS) {
    const writableData = (attr & (SegAttr.S | SegAttr.Code | SegAttr.RW)) === (SegAttr.S | SegAttr.RW);
    if (rpl !== cpl || !writableData || dpl !== cpl) cpu.gp(errSel);
    if ((attr & SegAttr.P) === 0) cpu.raise(Vector.SS, errSel);
  } else {
    if ((attr & SegAttr.S) === 0) cpu.gp(errSel);
    const code = (attr & SegAttr.Code) !== 0;
    if (code && (attr & SegAttr.RW) === 0) cpu.gp(errSel); // execute-only code
    const conforming = code && (attr & SegAttr.DC) !== 0;
    if (!conforming && (rpl > dpl || cpl > dpl)) cpu.gp(errSel);
    if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, errSel);
  }
  setAccessed(cpu);
  loadFromDescriptor(cpu, seg, selector);
  if (seg === Seg.SS) cpu.updateMode();
}

/** MOV/POP/LxS to a data or stack segment register in the current mode. */
export function loadSegment(cpu: Cpu, seg: number, selector: number): void {
  if ((cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0) loadSegmentReal(cpu, seg, selector);
  else loadSegmentProtected(cpu, seg, selector);
}

/** Sets the accessed bit of the code/data descriptor at (addrLo, addrHi) whose upper dword is `hi`, if clear (SDM Vol. 3 §3.4.5.1). */
export function markAccessed(cpu: Cpu, addrLo: number, addrHi: number, hi: number): void {
  if ((hi & 0x100) === 0 && (hi & 0x1000) !== 0) cpu.sysWrite32((addrLo + 4) | 0, addrHi, hi | 0x100);
}

/**
 * After a return to an outer privilege level (RET far, IRET), DS, ES, FS and GS are made null
 * when they hold a data or non-conforming code segment whose DPL is below the new CPL
 * (SDM Vol. 2 "RET" and "IRET" Operation: "FOR each SegReg in (ES, FS, GS, and DS)").
 */
export function nullInaccessibleDataSegments(cpu: Cpu, newCpl: number): void {
  for (let s = 0; s < 6; s++) {
    if (s === Seg.CS || s === Seg.SS) continue;
    const attr = cpu.segAttr[s]!;
    if ((attr & SegAttr.Unusable) !== 0) continue;
    const conformingCode = (attr & (SegAttr.Code | SegAttr.DC)) === (SegAttr.Code | SegAttr.DC);
    if (!conformingCode && dplOf(attr) < newCpl) cpu.setSegmentRaw(s, 0, 0, 0, SegAttr.Unusable);
  }
}

/** Whether a descriptor's attributes (VMX layout) describe a present or absent code segment. */
export function isCodeSegment(attr: number): boolean {
  return (attr & (SegAttr.S | SegAttr.Code)) === (SegAttr.S | SegAttr.Code);
}

/** Whether a descriptor's attributes describe a writable data segment (a valid stack segment). */
export function isWritableData(attr: number): boolean {
  return (attr & (SegAttr.S | SegAttr.Code | SegAttr.RW)) === (SegAttr.S | SegAttr.RW);
}
