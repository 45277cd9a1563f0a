/**
 * Interrupt and exception delivery (SDM Vol. 3 ch. 6 and §20.1.4; AMD APM Vol. 2 ch. 8).
 *
 * `deliverEvent` pushes the return frame and transfers to the handler named by the IVT (real
 * mode) or IDT (protected and IA-32e mode). The return address is `cpu.ripLo/ripHi`: the
 * faulting instruction for faults, the next instruction for traps and INT n (their handlers
 * move RIP forward before calling). On success RIP and the next-RIP both point at the handler.
 * Faults found while delivering propagate as {@link CPU_FAULT}; the caller applies the
 * double-fault rules.
 */
import type { Cpu } from './cpu.js';
import { taskSwitch, TaskSwitchReason } from './tasks.js';
import { descBase, descLimit, descAttr, dplOf, readDescriptor } from './segments.js';
import { CodeMode, Cr0, Efer, Flag, Seg, SegAttr, Vector, hasErrorCode } from './state.js';

export const EventKind = {
  /** A CPU exception (fault, trap or abort). EXT = 1. */
  Exception: 0,
  /** An external interrupt (INTR). EXT = 1. */
  External: 1,
  /** NMI. EXT = 1. */
  Nmi: 2,
  /** INT n, INT3 and INTO: gate DPL is checked against CPL. EXT = 0. */
  Software: 3,
  /** INT1 (ICEBP): a privileged software exception, no DPL check. EXT = 1. */
  PrivilegedSoftware: 4,
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

/**
 * Delivers an event. `errorCode` is pushed when >= 0 (exceptions that define one) and the
 * IDT form of the vector is used for errors raised during delivery (SDM Vol. 3 §6.13).
 */
export function deliverEvent(cpu: Cpu, kind: EventKind, vector: number, errorCode: number): void {
  if (kind === EventKind.Exception && errorCode < 0 && hasErrorCode(vector)) errorCode = 0;
  if (cpu.guestMode && cpu.ext !== null) {
    const what = kind === EventKind.External ? 15 : kind === EventKind.Nmi ? 16 : 14;
    if (cpu.ext.intercept(cpu, what, vector, errorCode)) return;
  }
  cpu.halted = false;
  if ((cpu.cr0 & Cr0.PE) === 0) {
    deliverReal(cpu, vector);
    return;
  }
  const ext = kind === EventKind.Software ? 0 : 1;
  if ((cpu.efer & Efer.LMA) !== 0) deliverLong(cpu, kind, vector, errorCode, ext);
  else deliverProtected(cpu, kind, vector, errorCode, ext);
}

/** Real-address mode: the IVT entry is IP:CS at vector * 4 (SDM Vol. 3 §20.1.4). */
function deliverReal(cpu: Cpu, vector: number): void {
  const entry = vector * 4;
  if (entry + 3 > cpu.idtrLimit) cpu.gp(0);
  const ip = cpu.sysRead16((cpu.idtrBaseLo + entry) | 0, 0);
  const cs = cpu.sysRead16((cpu.idtrBaseLo + entry + 2) | 0, 0);
  const flags = cpu.getEflags();
  push16(cpu, flags);
  push16(cpu, cpu.segSel[Seg.CS]!);
  push16(cpu, cpu.ripLo);
  cpu.flags &= ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF);
  cpu.setSegmentRaw(Seg.CS, cs, cs << 4, cpu.segLimit[Seg.CS]!, cpu.segAttr[Seg.CS]!);
  setRip(cpu, ip, 0);
  cpu.updateMode();
}

function push16(cpu: Cpu, v: number): void {
  const sp = (cpu.gpr[4]! - 2) & 0xffff;
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  const off = big ? (cpu.gpr[4]! - 2) | 0 : sp;
  cpu.wr16((cpu.segBase[Seg.SS]! + off) | 0, 0, v);
  if (big) cpu.gpr[4] = off;
  else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | sp;
}

function setRip(cpu: Cpu, lo: number, hi: number): void {
  cpu.ripLo = lo | 0;
  cpu.ripHi = hi | 0;
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  cpu.exitBlock = true;
}

/** Reads the IDT gate for `vector` (8 bytes, or 16 in IA-32e mode) into cpu.desc. */
function readGate(cpu: Cpu, vector: number, size: number, ext: number): void {
  const off = vector * size;
  const idtErr = vector * 8 + 2 + ext;
  if (off + size - 1 > cpu.idtrLimit) cpu.gp(idtErr);
  const d = cpu.desc;
  const lo = (cpu.idtrBaseLo + off) | 0;
  const hi = (cpu.efer & Efer.LMA) !== 0 ? cpu.idtrBaseHi + ((cpu.idtrBaseLo >>> 0) + off > 0xffff_ffff ? 1 : 0) : 0;
  d.lo = cpu.sysRead32(lo, hi);
  d.hi = cpu.sysRead32((lo + 4) | 0, hi);
  if (size === 16) {
    d.hi2 = cpu.sysRead32((lo + 8) | 0, hi);
  }
}

/** Protected mode (not IA-32e): SDM Vol. 3 §6.12 and the INT n Operation section. */
function deliverProtected(cpu: Cpu, kind: EventKind, vector: number, errorCode: number, ext: number): void {
  readGate(cpu, vector, 8, ext);
  const gLo = cpu.desc.lo;
  const gHi = cpu.desc.hi;
  const type = (gHi >>> 8) & 0x1f; // S and type
  const idtErr = vector * 8 + 2 + ext;
  const isTask = type === 5;
  const isInt = type === 6 || type === 0xe;
  const isTrap = type === 7 || type === 0xf;
  if (!isTask && !isInt && !isTrap) cpu.gp(idtErr);
  const gateDpl = (gHi >>> 13) & 3;
  if ((kind === EventKind.Software) && gateDpl < cpu.cpl) cpu.gp(idtErr);
  if ((gHi & 0x8000) === 0) cpu.raise(Vector.NP, idtErr);
  if (isTask) {
    taskSwitch(cpu, gLo >>> 16, TaskSwitchReason.Gate, errorCode, ext);
    return;
  }
  const gate32 = (type & 8) !== 0;
  const selector = gLo >>> 16;
  const offset = gate32 ? (gLo & 0xffff) | (gHi & 0xffff0000) : gLo & 0xffff;
  const selErr = (selector & 0xfffc) + ext;
  if ((selector & 0xfffc) === 0) cpu.gp(ext);
  if (!readDescriptor(cpu, selector)) cpu.gp(selErr);
  const cattr = descAttr(cpu.desc.hi);
  const cbase = descBase(cpu.desc.lo, cpu.desc.hi);
  const climit = descLimit(cpu.desc.lo, cpu.desc.hi);
  if ((cattr & (SegAttr.S | SegAttr.Code)) !== (SegAttr.S | SegAttr.Code)) cpu.gp(selErr);
  const dpl = dplOf(cattr);
  if (dpl > cpu.cpl) cpu.gp(selErr);
  if ((cattr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
  const conforming = (cattr & SegAttr.DC) !== 0;
  const vm = (cpu.flags & Flag.VM) !== 0;
  const oldFlags = cpu.getEflags();
  const oldCs = cpu.segSel[Seg.CS]!;
  const oldEip = cpu.ripLo;
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldEsp = cpu.gpr[4]!;
  const w = gate32 ? 4 : 2;

  if (!conforming && dpl < cpu.cpl) {
    // Inter-privilege: new stack from the TSS (SDM Vol. 3 §6.12.1, Figure 6-4).
    if (vm && dpl !== 0) cpu.gp(selErr);
    readTssStack(cpu, dpl, ext);
    const ssSel = cpu.tssSs;
    let esp = cpu.tssEsp;
    const ssErr = (ssSel & 0xfffc) + ext;
    if ((ssSel & 0xfffc) === 0) cpu.raise(Vector.TS, ext);
    if ((ssSel & 3) !== dpl) cpu.raise(Vector.TS, ssErr);
    if (!readDescriptor(cpu, ssSel)) cpu.raise(Vector.TS, ssErr);
    const sattr = descAttr(cpu.desc.hi);
    if (dplOf(sattr) !== dpl || (sattr & (SegAttr.S | SegAttr.Code | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW)) cpu.raise(Vector.TS, ssErr);
    if ((sattr & SegAttr.P) === 0) cpu.raise(Vector.SS, ssErr);
    const sbase = descBase(cpu.desc.lo, cpu.desc.hi);
    const slimit = descLimit(cpu.desc.lo, cpu.desc.hi);
    const sbig = (sattr & SegAttr.DB) !== 0;
    const frame: number[] = cpu.frameScratch;
    let n = 0;
    if (vm) {
      frame[n++] = cpu.segSel[Seg.GS]!;
      frame[n++] = cpu.segSel[Seg.FS]!;
      frame[n++] = cpu.segSel[Seg.DS]!;
      frame[n++] = cpu.segSel[Seg.ES]!;
    }
    frame[n++] = oldSs;
    frame[n++] = oldEsp;
    frame[n++] = oldFlags;
    frame[n++] = oldCs;
    frame[n++] = oldEip;
    if (errorCode >= 0) frame[n++] = errorCode;
    esp = pushFrame(cpu, sbase, slimit, sattr, sbig, esp, frame, n, w, ssErr, dpl < 3);
    // Commit: new SS:ESP, CS:EIP.
    cpu.setSegmentRaw(Seg.SS, (ssSel & ~3) | dpl, sbase, slimit, sattr | SegAttr.Accessed);
    if (sbig) cpu.gpr[4] = esp;
    else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | (esp & 0xffff);
    if (vm) {
      for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, 0, 0, 0, SegAttr.Unusable);
    }
  } else {
    if (vm) cpu.gp(selErr);
    const frame: number[] = cpu.frameScratch;
    let n = 0;
    frame[n++] = oldFlags;
    frame[n++] = oldCs;
    frame[n++] = oldEip;
    if (errorCode >= 0) frame[n++] = errorCode;
    const sattr = cpu.segAttr[Seg.SS]!;
    const sbig = (sattr & SegAttr.DB) !== 0;
    const esp = pushFrame(cpu, cpu.segBase[Seg.SS]!, cpu.segLimit[Seg.SS]!, sattr, sbig, oldEsp, frame, n, w, ext, false);
    if (sbig) cpu.gpr[4] = esp;
    else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | (esp & 0xffff);
  }
  const newCpl = conforming ? cpu.cpl : dpl;
  cpu.setSegmentRaw(Seg.CS, (selector & ~3) | newCpl, cbase, climit, cattr | SegAttr.Accessed);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.VM | Flag.RF);
  if (isInt) cpu.flags &= ~Flag.IF;
  setRip(cpu, gate32 ? offset : offset & 0xffff, 0);
  cpu.updateMode();
}

/**
 * Pushes `frame[0..n)` (first element pushed first) on a legacy stack; returns the new
 * stack pointer. Checks the limit of an expand-up or expand-down stack (#SS).
 */
function pushFrame(cpu: Cpu, base: number, limit: number, attr: number, big: boolean, esp: number, frame: number[], n: number, w: number, ssErr: number, sup: boolean): number {
  const total = n * w;
  const top = big ? esp >>> 0 : esp & 0xffff;
  const bottom = top - total;
  const expandDown = (attr & SegAttr.DC) !== 0;
  const maxOff = big ? 0xffff_ffff : 0xffff;
  if (expandDown) {
    if (bottom <= limit || top - 1 > maxOff) cpu.raise(Vector.SS, ssErr);
  } else if (bottom < 0 || top - 1 > limit) {
    if (!(bottom < 0 && big && limit === 0xffff_ffff)) cpu.raise(Vector.SS, ssErr);
  }
  let off = top;
  for (let k = 0; k < n; k++) {
    off -= w;
    const o = big ? off >>> 0 : off & 0xffff;
    const lin = (base + o) | 0;
    if (w === 4) {
      if (sup) cpu.sysWrite32(lin, 0, frame[k]!);
      else cpu.wr32(lin, 0, frame[k]!);
    } else if (sup) cpu.sysWrite16(lin, 0, frame[k]!);
    else cpu.wr16(lin, 0, frame[k]!);
  }
  return off | 0;
}

/** Reads SS:ESP for privilege level `dpl` from the current 16- or 32-bit TSS (SDM Vol. 3 §8.2.1). */
function readTssStack(cpu: Cpu, dpl: number, ext: number): void {
  const trAttr = cpu.segAttr[Seg.TR]!;
  const is32 = (trAttr & 0xf) === 0xb || (trAttr & 0xf) === 9;
  const trErr = (cpu.segSel[Seg.TR]! & 0xfffc) + ext;
  const base = cpu.segBase[Seg.TR]!;
  if (is32) {
    const off = 4 + dpl * 8;
    if (off + 5 > cpu.segLimit[Seg.TR]!) cpu.raise(Vector.TS, trErr);
    cpu.tssEsp = cpu.sysRead32((base + off) | 0, 0);
    cpu.tssSs = cpu.sysRead16((base + off + 4) | 0, 0);
  } else {
    const off = 2 + dpl * 4;
    if (off + 3 > cpu.segLimit[Seg.TR]!) cpu.raise(Vector.TS, trErr);
    cpu.tssEsp = cpu.sysRead16((base + off) | 0, 0);
    cpu.tssSs = cpu.sysRead16((base + off + 2) | 0, 0);
  }
}

/** IA-32e mode: 16-byte gates, 64-bit frames, IST (SDM Vol. 3 §6.14). */
function deliverLong(cpu: Cpu, kind: EventKind, vector: number, errorCode: number, ext: number): void {
  readGate(cpu, vector, 16, ext);
  const gLo = cpu.desc.lo;
  const gHi = cpu.desc.hi;
  const gHi2 = cpu.desc.hi2;
  const type = (gHi >>> 8) & 0x1f;
  const idtErr = vector * 8 + 2 + ext;
  if (type !== 0xe && type !== 0xf) cpu.gp(idtErr);
  const gateDpl = (gHi >>> 13) & 3;
  if (kind === EventKind.Software && gateDpl < cpu.cpl) cpu.gp(idtErr);
  if ((gHi & 0x8000) === 0) cpu.raise(Vector.NP, idtErr);
  const selector = gLo >>> 16;
  const selErr = (selector & 0xfffc) + ext;
  const ist = gHi & 7;
  const targetLo = (gLo & 0xffff) | (gHi & 0xffff0000);
  const targetHi = gHi2;
  if ((selector & 0xfffc) === 0) cpu.gp(ext);
  if (!readDescriptor(cpu, selector)) cpu.gp(selErr);
  const cattr = descAttr(cpu.desc.hi);
  if ((cattr & (SegAttr.S | SegAttr.Code)) !== (SegAttr.S | SegAttr.Code)) cpu.gp(selErr);
  if ((cattr & SegAttr.L) === 0 || (cattr & SegAttr.DB) !== 0) cpu.gp(selErr);
  const dpl = dplOf(cattr);
  if (dpl > cpu.cpl) cpu.gp(selErr);
  if ((cattr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
  const conforming = (cattr & SegAttr.DC) !== 0;
  const newCpl = conforming ? cpu.cpl : dpl;
  if (!isCanonicalFor(cpu, targetHi)) cpu.gp(ext);
  const oldFlags = cpu.getEflags();
  const oldCs = cpu.segSel[Seg.CS]!;
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldRspLo = cpu.gpr[4]!;
  const oldRspHi = cpu.gprHi[4]!;
  const oldRipLo = cpu.ripLo;
  const oldRipHi = cpu.mode === CodeMode.Bits64 ? cpu.ripHi : 0;
  let rspLo: number;
  let rspHi: number;
  const tssBase = cpu.segBase[Seg.TR]!;
  const tssBaseHi = cpu.segBaseHi[Seg.TR]!;
  const trErr = (cpu.segSel[Seg.TR]! & 0xfffc) + ext;
  const privChange = newCpl < cpu.cpl;
  if (ist !== 0 || privChange) {
    const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
    if (off + 7 > cpu.segLimit[Seg.TR]!) cpu.raise(Vector.TS, trErr);
    rspLo = cpu.sysRead32((tssBase + off) | 0, tssBaseHi);
    rspHi = cpu.sysRead32((tssBase + off + 4) | 0, tssBaseHi);
    if (!isCanonicalFor(cpu, rspHi)) cpu.raise(Vector.SS, ext);
  } else {
    rspLo = oldRspLo;
    rspHi = oldRspHi;
  }
  // Align to 16 bytes (SDM Vol. 3 §6.14.2).
  rspLo &= ~0xf;
  const frame = cpu.frameScratch;
  let n = 0;
  frame[n++] = oldSs;
  frame[n++] = 0;
  frame[n++] = oldRspLo;
  frame[n++] = oldRspHi;
  frame[n++] = oldFlags;
  frame[n++] = 0;
  frame[n++] = oldCs;
  frame[n++] = 0;
  frame[n++] = oldRipLo;
  frame[n++] = oldRipHi;
  if (errorCode >= 0) {
    frame[n++] = errorCode;
    frame[n++] = 0;
  }
  for (let k = 0; k < n; k += 2) {
    const lo = (rspLo - 8) | 0;
    if ((lo >>> 0) > (rspLo >>> 0)) rspHi = (rspHi - 1) | 0;
    rspLo = lo;
    if (newCpl < 3) {
      cpu.sysWrite32(rspLo, rspHi, frame[k]!);
      cpu.sysWrite32((rspLo + 4) | 0, rspHi, frame[k + 1]!);
    } else {
      cpu.wr64(rspLo, rspHi, frame[k]!, frame[k + 1]!);
    }
  }
  if (privChange) cpu.setSegmentRaw(Seg.SS, newCpl, 0, 0, SegAttr.Unusable | (newCpl << SegAttr.DplShift));
  cpu.gpr[4] = rspLo;
  cpu.gprHi[4] = rspHi;
  if (!readDescriptor(cpu, selector)) cpu.gp(selErr);
  cpu.setSegmentRaw(Seg.CS, (selector & ~3) | newCpl, descBase(cpu.desc.lo, cpu.desc.hi), descLimit(cpu.desc.lo, cpu.desc.hi), cattr | SegAttr.Accessed);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.VM | Flag.RF);
  if (type === 0xe) cpu.flags &= ~Flag.IF;
  setRip(cpu, targetLo, targetHi);
  cpu.updateMode();
}

function isCanonicalFor(cpu: Cpu, hi: number): boolean {
  const bits = cpu.linearBits;
  const sign = hi >> (bits - 33);
  return sign === 0 || sign === -1;
}

export { TaskSwitchReason };
