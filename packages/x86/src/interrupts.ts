/**
 * Interrupt and exception delivery (SDM Vol. 3 ch. 6, §20.1.4, §20.3; AMD APM Vol. 2 ch. 8).
 *
 * `deliverEvent` pushes the return frame and transfers to the handler named by the IVT (real
 * mode) or IDT (protected and IA-32e mode). The return address is `cpu.ripLo/ripHi`: the
 * faulting instruction for faults, the next instruction for traps and INT n (their handlers
 * move RIP forward before calling). On success RIP and the next-RIP both point at the handler.
 * Faults found while delivering propagate as {@link CPU_FAULT}; the caller applies the
 * double-fault rules (cpu.ts `deliverException`).
 *
 * Every check reads what it needs first and commits (stack pointer, CS, SS, flags) only after
 * the last check that can fault, so a fault during delivery leaves the interrupted context as
 * it was (only memory below the stack pointer may have been written).
 */
import type { Cpu } from './cpu.js';
import { segLinear } from './ops/operands.js';
import { taskSwitch, TaskSwitchReason } from './tasks.js';
import { descBase, descLimit, descAttr, dplOf, markAccessed, readDescriptor } from './segments.js';
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
 * Fault-class exceptions whose delivery sets RF in the saved EFLAGS image (SDM Vol. 3
 * §17.3.1.1: "all fault-class exceptions except #DB"; Table 6-1 classes). Bit n = vector n.
 */
const RF_FAULTS = (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 21);

/** VMX interruption type (SDM §24.8.3, Table 24-16) of an event, by EventKind and source instruction. */
function vmxType(kind: EventKind, src: number): number {
  switch (kind) {
    case EventKind.External:
      return 0;
    case EventKind.Nmi:
      return 2;
    case EventKind.Exception:
      return 3;
    case EventKind.PrivilegedSoftware:
      return 5;
    default:
      // INT n is a software interrupt (4); INT3 and INTO are software exceptions (6).
      return src === 2 || src === 3 ? 6 : 4;
  }
}

/**
 * Delivers an event. `errorCode` is pushed when >= 0 (exceptions that define one) and the
 * IDT form of the vector is used for errors raised during delivery (SDM Vol. 3 §6.13).
 * `src` names the instruction of a software event: 0 none (hardware), 1 INT n (CD ib), 2 INT3
 * (CC), 3 INTO (CE), 4 INT1 (F1).
 *
 * In guest mode every event but an external interrupt (intercepted before it is acknowledged,
 * see cpu.ts serviceEvents) is offered to `ext.intercept` (Intercept.Exception, or Intercept.Nmi)
 * first; then, until the handler's CS:RIP is loaded, `cpu.vectoringInfo` describes it, so a VM
 * exit raised during delivery can report IDT-vectoring information (SDM §27.2.4).
 */
export function deliverEvent(cpu: Cpu, kind: EventKind, vector: number, errorCode: number, src = 0): void {
  if (kind === EventKind.Exception && errorCode < 0 && hasErrorCode(vector)) errorCode = 0;
  if (cpu.onEvent !== null && cpu.onEvent(kind, vector, errorCode)) return;
  if (cpu.guestMode) {
    if (cpu.injecting) {
      // VM-entry event injection (SDM §26.6): the injected event itself is not intercepted.
      cpu.injecting = false;
    } else if (kind !== EventKind.External && cpu.ext !== null) {
      // vectoringInfo still describes an event whose delivery this one interrupted.
      if (cpu.ext.intercept(cpu, kind === EventKind.Nmi ? 16 : 14, vector | (kind << 8) | (src << 12), errorCode)) {
        cpu.vectoringInfo = 0;
        return;
      }
    }
    cpu.vectoringInfo = (1 << 31) | (errorCode >= 0 ? 1 << 11 : 0) | (vmxType(kind, src) << 8) | vector;
    cpu.vectoringError = errorCode >= 0 ? errorCode : 0;
  }
  // Delivering an NMI blocks further NMIs until the next IRET (SDM Vol. 3 §6.7.1).
  if (kind === EventKind.Nmi) cpu.nmiBlocked = true;
  deliverNow(cpu, kind, vector, errorCode);
  cpu.vectoringInfo = 0;
}

function deliverNow(cpu: Cpu, kind: EventKind, vector: number, errorCode: number): void {
  cpu.halted = false;
  // Faults save EFLAGS with RF = 1 so that IRET restarts the instruction without an
  // instruction-breakpoint re-trigger (SDM Vol. 3 §17.3.1.1).
  if (kind === EventKind.Exception && vector < 32 && ((RF_FAULTS >>> vector) & 1) !== 0) cpu.flags |= Flag.RF;
  if (vector === Vector.DB && kind !== EventKind.Software) {
    // The processor clears DR7.GD on entry to the #DB handler (SDM Vol. 3 §17.2.4).
    cpu.drLo[7] = cpu.drLo[7]! & ~0x2000;
  }
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
  push16x3(cpu, flags, cpu.segSel[Seg.CS]!, cpu.ripLo);
  cpu.flags &= ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF);
  cpu.setSegmentRaw(Seg.CS, cs, cs << 4, cpu.segLimit[Seg.CS]!, cpu.segAttr[Seg.CS]!);
  setRip(cpu, ip, 0);
  cpu.updateMode();
}

/**
 * Pushes three words (FLAGS, CS, IP) on a real-mode or virtual-8086 stack; the stack pointer
 * moves only after all three writes succeed.
 *
 * The stack accesses get the ordinary segment checks (ops/operands.ts `segLinear`), all three
 * before the first write: INT n, REAL-ADDRESS-MODE (SDM Vol. 2 "INT n/INTO/INT3/INT1"
 * Operation): "IF top 6 bytes of stack not within stack limits THEN #SS; FI". A slot past the
 * SS limit (SP = 1 or 3 with a 64 KiB segment, or a smaller limit left from protected mode)
 * raises #SS (exception 12, no error code in real mode; #SS(0) in virtual-8086 mode) and leaves
 * SP and the stack memory untouched. SP itself wraps at 16 bits (SP = 0 pushes at FFFEH).
 */
function push16x3(cpu: Cpu, a: number, b: number, c: number): void {
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  const esp = cpu.gpr[4]!;
  const o1 = big ? (esp - 2) | 0 : (esp - 2) & 0xffff;
  const o2 = big ? (esp - 4) | 0 : (esp - 4) & 0xffff;
  const o3 = big ? (esp - 6) | 0 : (esp - 6) & 0xffff;
  const l1 = segLinear(cpu, Seg.SS, o1, 0, 2, true);
  const l2 = segLinear(cpu, Seg.SS, o2, 0, 2, true);
  const l3 = segLinear(cpu, Seg.SS, o3, 0, 2, true);
  cpu.wr16(l1, 0, a);
  cpu.wr16(l2, 0, b);
  cpu.wr16(l3, 0, c);
  if (big) cpu.gpr[4] = o3;
  else cpu.gpr[4] = (esp & ~0xffff) | o3;
}

function setRip(cpu: Cpu, lo: number, hi: number): void {
  cpu.ripLo = lo | 0;
  cpu.ripHi = hi | 0;
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  cpu.exitBlock = true;
}

/**
 * INT n in virtual-8086 mode with CR4.VME = 1 whose bit in the TSS's software interrupt
 * redirection bitmap is 0 (SDM Vol. 3 §20.3.3, methods 5 and 6): delivered like a real-mode
 * interrupt through the IVT at linear address 0 of the virtual-8086 task. With IOPL < 3 the
 * FLAGS image carries IOPL = 3 and IF = VIF, and VIF (not IF) is cleared.
 */
export function deliverV86Redirected(cpu: Cpu, vector: number): void {
  const ip = cpu.sysRead16(vector * 4, 0);
  const cs = cpu.sysRead16(vector * 4 + 2, 0);
  const iopl = (cpu.flags >>> 12) & 3;
  let image = cpu.getEflags() & 0xffff;
  if (iopl < 3) {
    image |= Flag.IOPL;
    image = (cpu.flags & Flag.VIF) !== 0 ? image | Flag.IF : image & ~Flag.IF;
  }
  push16x3(cpu, image, cpu.segSel[Seg.CS]!, cpu.nipLo);
  cpu.flags &= ~(Flag.TF | Flag.RF);
  if (iopl === 3) cpu.flags &= ~Flag.IF;
  else cpu.flags &= ~Flag.VIF;
  const attr = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.Code | (3 << SegAttr.DplShift);
  cpu.setSegmentRaw(Seg.CS, cs, cs << 4, 0xffff, attr);
  setRip(cpu, ip, 0);
}

/**
 * Whether INT `vector` in virtual-8086 mode with CR4.VME = 1 is redirected to the virtual-8086
 * IVT: its bit in the redirection bitmap (the 32 bytes below the I/O map base of the 32-bit
 * TSS) is 0 (SDM Vol. 3 §20.3.3). A bitmap beyond the TSS limit is #GP(0).
 */
export function v86IntRedirected(cpu: Cpu, vector: number): boolean {
  const trType = cpu.segAttr[Seg.TR]! & 0xf;
  if (trType !== 0xb && trType !== 9) cpu.gp(0);
  const base = cpu.segBase[Seg.TR]!;
  const limit = cpu.segLimit[Seg.TR]!;
  if (0x67 > limit) cpu.gp(0);
  const ioBase = cpu.sysRead16((base + 0x66) | 0, 0);
  const off = ioBase - 32 + (vector >>> 3);
  if (off < 0 || off > limit) cpu.gp(0);
  const byte = cpu.sysRead8((base + off) | 0, 0);
  return ((byte >>> (vector & 7)) & 1) === 0;
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

/** Protected mode (not IA-32e), including interrupts from virtual-8086 mode: SDM Vol. 3 §6.12, §20.3.1 and the INT n Operation section. */
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
  if (kind === EventKind.Software && gateDpl < cpu.cpl) cpu.gp(idtErr);
  if ((gHi & 0x8000) === 0) cpu.raise(Vector.NP, idtErr);
  if (isTask) {
    // Task gate (SDM Vol. 3 §6.12.2): the switch checks the TSS and pushes the error code.
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
  const cdHi = cpu.desc.hi;
  const cdAddrLo = cpu.desc.addrLo;
  const cdAddrHi = cpu.desc.addrHi;
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
  const frame: number[] = cpu.frameScratch;
  let n = 0;

  if (!conforming && dpl < cpu.cpl) {
    // Inter-privilege: new stack from the TSS (SDM Vol. 3 §6.12.1, Figure 6-4).
    if (vm && dpl !== 0) cpu.gp(selErr);
    readTssStack(cpu, dpl, ext);
    const ssSel = cpu.tssSs;
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
    checkRoom(cpu, slimit, sattr, sbig, cpu.tssEsp, n * w, Vector.SS, ssErr);
    if ((offset >>> 0) > climit) cpu.gp(ext);
    const esp = pushFrame(cpu, sbase, sbig, cpu.tssEsp, frame, n, w, true);
    // The descriptors' accessed flags are written before anything is committed: that write may
    // still fault or cause a VM exit (an EPT-write-protected GDT), which must find the state of
    // before the delivery (SDM Vol. 3C §27.3.3 for VM exits during event delivery).
    markAccessed(cpu, cdAddrLo, cdAddrHi, cdHi);
    // Commit: new SS:ESP, CS:EIP.
    markAccessed(cpu, cpu.desc.addrLo, cpu.desc.addrHi, cpu.desc.hi);
    cpu.setSegmentRaw(Seg.SS, (ssSel & ~3) | dpl, sbase, slimit, sattr | SegAttr.Accessed);
    if (sbig) cpu.gpr[4] = esp;
    else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | (esp & 0xffff);
    if (vm) {
      // Leaving virtual-8086 mode: the data segment registers become null (SDM Vol. 3 §20.3.1.1).
      cpu.setSegmentRaw(Seg.DS, 0, 0, 0, SegAttr.Unusable);
      cpu.setSegmentRaw(Seg.ES, 0, 0, 0, SegAttr.Unusable);
      cpu.setSegmentRaw(Seg.FS, 0, 0, 0, SegAttr.Unusable);
      cpu.setSegmentRaw(Seg.GS, 0, 0, 0, SegAttr.Unusable);
    }
  } else {
    // Same privilege. From virtual-8086 mode only a privilege change to 0 is allowed.
    if (vm) cpu.gp(selErr);
    frame[n++] = oldFlags;
    frame[n++] = oldCs;
    frame[n++] = oldEip;
    if (errorCode >= 0) frame[n++] = errorCode;
    const sattr = cpu.segAttr[Seg.SS]!;
    const sbig = (sattr & SegAttr.DB) !== 0;
    checkRoom(cpu, cpu.segLimit[Seg.SS]!, sattr, sbig, oldEsp, n * w, Vector.SS, ext);
    if ((offset >>> 0) > climit) cpu.gp(ext);
    const esp = pushFrame(cpu, cpu.segBase[Seg.SS]!, sbig, oldEsp, frame, n, w, cpu.cpl < 3);
    // The CS descriptor's accessed flag before the commit (see above).
    markAccessed(cpu, cdAddrLo, cdAddrHi, cdHi);
    if (sbig) cpu.gpr[4] = esp;
    else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | (esp & 0xffff);
  }
  const newCpl = conforming ? cpu.cpl : dpl;
  cpu.setSegmentRaw(Seg.CS, (selector & ~3) | newCpl, cbase, climit, cattr | SegAttr.Accessed);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.VM | Flag.RF);
  if (isInt) cpu.flags &= ~Flag.IF;
  setRip(cpu, offset, 0);
  cpu.updateMode();
}

/**
 * Checks that `bytes` bytes can be pushed below `esp` on a stack segment with `limit` and
 * `attr` (expand-up or expand-down, SDM Vol. 3 §5.3); raises `vector(err)` otherwise.
 */
export function checkRoom(cpu: Cpu, limit: number, attr: number, big: boolean, esp: number, bytes: number, vector: number, err: number): void {
  const top = big ? esp >>> 0 : esp & 0xffff;
  // An empty stack (SP = 0) pushes at the top of the 64 KiB / 4 GiB offset space.
  const t = top === 0 ? (big ? 0x1_0000_0000 : 0x10000) : top;
  const b = t - bytes;
  if ((attr & SegAttr.DC) !== 0 && (attr & SegAttr.Code) === 0) {
    if (b <= limit) cpu.raise(vector, err);
  } else if ((b < 0 || t - 1 > limit) && !(big && limit === 0xffff_ffff)) {
    cpu.raise(vector, err);
  }
}

/**
 * Pushes `frame[0..n)` (first element pushed first) on a legacy stack; returns the new
 * stack pointer. The caller has checked the room ({@link checkRoom}); `sup` makes the
 * writes supervisor accesses (the new CPL is below 3).
 */
export function pushFrame(cpu: Cpu, base: number, big: boolean, esp: number, frame: number[], n: number, w: number, sup: boolean): number {
  let off = big ? esp | 0 : esp & 0xffff;
  for (let k = 0; k < n; k++) {
    off = big ? (off - w) | 0 : (off - w) & 0xffff;
    const lin = (base + off) | 0;
    if (w === 4) {
      if (sup) cpu.sysWrite32(lin, 0, frame[k]!);
      else cpu.wr32(lin, 0, frame[k]!);
    } else if (sup) cpu.sysWrite16(lin, 0, frame[k]!);
    else cpu.wr16(lin, 0, frame[k]!);
  }
  return off | 0;
}

/**
 * Reads SS:ESP for privilege level `dpl` from the current 16- or 32-bit TSS into
 * cpu.tssSs/tssEsp (SDM Vol. 3 §8.2.1, §8.2.4; #TS(TSS selector) when beyond the limit).
 */
export function readTssStack(cpu: Cpu, dpl: number, ext: number): void {
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

/**
 * Reads RSPn (or ISTn when `ist` > 0) from the 64-bit TSS into cpu.tssEsp (low) and cpu.hi
 * (high); #TS(TSS selector + EXT) beyond the TSS limit (SDM Vol. 3 §8.7, §6.14.5).
 */
export function readTss64Stack(cpu: Cpu, cpl: number, ist: number, ext: number): number {
  const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + cpl * 8;
  const trErr = (cpu.segSel[Seg.TR]! & 0xfffc) + ext;
  if (off + 7 > cpu.segLimit[Seg.TR]!) cpu.raise(Vector.TS, trErr);
  const base = cpu.segBase[Seg.TR]!;
  const baseHi = cpu.segBaseHi[Seg.TR]!;
  const a = (base >>> 0) + off;
  const hiAdj = a > 0xffff_ffff ? (baseHi + 1) | 0 : baseHi;
  const lo = cpu.sysRead32(a | 0, hiAdj);
  const hi = cpu.sysRead32((a + 4) | 0, (a + 4) > 0xffff_ffff ? (baseHi + 1) | 0 : baseHi);
  cpu.hi = hi;
  return lo;
}

/** IA-32e mode: 16-byte gates, 64-bit frames, IST, 16-byte stack alignment (SDM Vol. 3 §6.14). */
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
  const cbase = descBase(cpu.desc.lo, cpu.desc.hi);
  const climit = descLimit(cpu.desc.lo, cpu.desc.hi);
  if ((cattr & (SegAttr.S | SegAttr.Code)) !== (SegAttr.S | SegAttr.Code)) cpu.gp(selErr);
  if ((cattr & SegAttr.L) === 0 || (cattr & SegAttr.DB) !== 0) cpu.gp(selErr);
  const dpl = dplOf(cattr);
  if (dpl > cpu.cpl) cpu.gp(selErr);
  if ((cattr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
  const conforming = (cattr & SegAttr.DC) !== 0;
  const newCpl = conforming ? cpu.cpl : dpl;
  if (!isCanonicalFor(cpu, targetLo, targetHi)) cpu.gp(ext);
  const oldFlags = cpu.getEflags();
  const oldCs = cpu.segSel[Seg.CS]!;
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldRspLo = cpu.gpr[4]!;
  const oldRspHi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[4]! : 0;
  const oldRipLo = cpu.ripLo;
  const oldRipHi = cpu.mode === CodeMode.Bits64 ? cpu.ripHi : 0;
  let rspLo: number;
  let rspHi: number;
  const privChange = newCpl < cpu.cpl;
  if (ist !== 0 || privChange) {
    rspLo = readTss64Stack(cpu, newCpl, ist, ext);
    rspHi = cpu.hi;
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
  // The whole frame must lie in canonical space: #SS(EXT) otherwise (SDM Vol. 3 §6.14.3).
  const bottom = (rspLo >>> 0) - n * 4;
  const bottomHi = bottom < 0 ? (rspHi - 1) | 0 : rspHi;
  if (!isCanonicalFor(cpu, rspLo, rspHi) || !isCanonicalFor(cpu, bottom | 0, bottomHi)) cpu.raise(Vector.SS, ext);
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
  // Commit.
  if (privChange) cpu.setSegmentRaw(Seg.SS, newCpl, 0, 0, SegAttr.Unusable | (newCpl << SegAttr.DplShift));
  cpu.gpr[4] = rspLo;
  cpu.gprHi[4] = rspHi;
  cpu.setSegmentRaw(Seg.CS, (selector & ~3) | newCpl, cbase, climit, cattr | SegAttr.Accessed);
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.VM | Flag.RF);
  if (type === 0xe) cpu.flags &= ~Flag.IF;
  setRip(cpu, targetLo, targetHi);
  cpu.updateMode();
}

/** Whether (lo, hi) is canonical for the current linear-address width. */
export function isCanonicalFor(cpu: Cpu, lo: number, hi: number): boolean {
  void lo;
  const bits = cpu.linearBits;
  const sign = hi >> (bits - 33);
  return sign === 0 || sign === -1;
}

export { TaskSwitchReason };
