/**
 * Hardware task switching (SDM Vol. 3 ch. 8): JMP/CALL to a TSS or task gate, IRET with NT,
 * and interrupts/exceptions through task gates; 32-bit and 16-bit TSSs.
 *
 * The switch follows §8.3 "Task Switching" step by step: the new TSS descriptor is checked
 * and the whole new state is read before anything changes (faults there are taken in the old
 * task); then the old state is saved, busy bits, NT and the back link are updated, TR, CR3
 * and the registers are loaded (the commit point); the segment registers are then validated
 * in the context of the new task (Table 8-2), so faults there are delivered with the new
 * task's CS:EIP as the return address.
 *
 * Task switches do not exist in IA-32e mode: the callers raise #GP there (JMP/CALL find no
 * TSS or task gate type; IRET with NT = 1 is #GP(0); IDT task gates are invalid).
 */
import type { Cpu } from './cpu.js';
import { Intercept } from './extension.js';
import { checkRoom } from './interrupts.js';
import { descAttr, descBase, descLimit, dplOf, isCodeSegment, isWritableData, loadSegmentReal, markAccessed, readDescriptor } from './segments.js';
import { Cr0, Cr4, Efer, Flag, Seg, SegAttr, Vector } from './state.js';

export const TaskSwitchReason = {
  Call: 0,
  Iret: 1,
  Jmp: 2,
  /** Through a task gate in the IDT. */
  Gate: 3,
} as const;
export type TaskSwitchReason = (typeof TaskSwitchReason)[keyof typeof TaskSwitchReason];

/** TSS descriptor type bit that marks a busy task (type 3 / 0xB vs 1 / 9). */
const BUSY = 0x200;
/** DR6.BT: task-switch debug trap (SDM Vol. 3 §17.2.3). */
const DR6_BT = 0x8000;

// New-task state read before the commit (no allocation per switch).
const newGpr = new Int32Array(8);
const newSel = new Int32Array(6);

/**
 * Switches to the task whose TSS selector is `selector` (a TSS descriptor, or a task gate's
 * TSS selector). The caller has done the checks specific to its instruction (DPL of the TSS
 * or gate for JMP/CALL). `errorCode` >= 0 is pushed on the new task's stack (exceptions
 * through task gates); `ext` is the EXT bit for error codes.
 */
export function taskSwitch(cpu: Cpu, selector: number, reason: TaskSwitchReason, errorCode: number, ext: number): void {
  if (cpu.guestMode && cpu.ext !== null && cpu.ext.intercept(cpu, Intercept.TaskSwitch, selector, reason)) return;
  if ((cpu.efer & Efer.LMA) !== 0) cpu.gp(0);
  const selErr = (selector & 0xfffc) | ext;
  const badVec = reason === TaskSwitchReason.Iret ? Vector.TS : Vector.GP;
  // The TSS descriptor must be in the GDT (SDM Vol. 3 §8.2.2).
  if ((selector & 4) !== 0 || (selector & 0xfffc) === 0) cpu.raise(badVec, selErr);
  if (!readDescriptor(cpu, selector)) cpu.raise(badVec, selErr);
  const d = cpu.desc;
  const nLo = d.lo;
  const nHi = d.hi;
  const nAddrLo = d.addrLo;
  const nAddrHi = d.addrHi;
  const type = (nHi >>> 8) & 0x1f;
  const busy = type === 3 || type === 0xb;
  const avail = type === 1 || type === 9;
  // IRET returns to a busy task; every other switch needs an available one (§8.3 step 4).
  if (reason === TaskSwitchReason.Iret ? !busy : !avail) cpu.raise(badVec, selErr);
  if ((nHi & 0x8000) === 0) cpu.raise(Vector.NP, selErr);
  const new32 = (type & 8) !== 0;
  const nBase = descBase(nLo, nHi);
  const nLimit = descLimit(nLo, nHi);
  if (nLimit < (new32 ? 0x67 : 0x2b)) cpu.raise(Vector.TS, selErr);

  const oldSel = cpu.segSel[Seg.TR]!;
  const oBase = cpu.segBase[Seg.TR]!;
  const old32 = (cpu.segAttr[Seg.TR]! & 8) !== 0;
  if (cpu.segLimit[Seg.TR]! < (old32 ? 0x5f : 0x29)) cpu.raise(Vector.TS, (oldSel & 0xfffc) | ext);

  // Read the new task's state (§8.3 step 5: everything must be accessible before the switch).
  let newEip: number;
  let newFlags: number;
  let newLdt: number;
  let newCr3 = 0;
  let tBit = 0;
  if (new32) {
    newCr3 = cpu.sysRead32((nBase + 0x1c) | 0, 0);
    newEip = cpu.sysRead32((nBase + 0x20) | 0, 0);
    newFlags = cpu.sysRead32((nBase + 0x24) | 0, 0);
    for (let r = 0; r < 8; r++) newGpr[r] = cpu.sysRead32((nBase + 0x28 + 4 * r) | 0, 0);
    for (let s = 0; s < 6; s++) newSel[s] = cpu.sysRead16((nBase + 0x48 + 4 * s) | 0, 0);
    newLdt = cpu.sysRead16((nBase + 0x60) | 0, 0);
    tBit = cpu.sysRead16((nBase + 0x64) | 0, 0) & 1;
  } else {
    newEip = cpu.sysRead16((nBase + 0x0e) | 0, 0);
    newFlags = cpu.sysRead16((nBase + 0x10) | 0, 0);
    for (let r = 0; r < 8; r++) newGpr[r] = cpu.sysRead16((nBase + 0x12 + 2 * r) | 0, 0);
    for (let s = 0; s < 4; s++) newSel[s] = cpu.sysRead16((nBase + 0x22 + 2 * s) | 0, 0);
    newSel[Seg.FS] = 0;
    newSel[Seg.GS] = 0;
    newLdt = cpu.sysRead16((nBase + 0x2a) | 0, 0);
  }

  // Save the old task (§8.3 steps 6-8). EIP: the faulting/next instruction for events, the
  // next instruction for JMP, CALL and IRET.
  const retEip = reason === TaskSwitchReason.Gate ? cpu.ripLo : cpu.nipLo;
  let oldFlags = cpu.getEflags();
  if (reason === TaskSwitchReason.Iret) oldFlags &= ~Flag.NT;
  if (old32) {
    cpu.sysWrite32((oBase + 0x20) | 0, 0, retEip);
    cpu.sysWrite32((oBase + 0x24) | 0, 0, oldFlags);
    for (let r = 0; r < 8; r++) cpu.sysWrite32((oBase + 0x28 + 4 * r) | 0, 0, cpu.gpr[r]!);
    for (let s = 0; s < 6; s++) cpu.sysWrite16((oBase + 0x48 + 4 * s) | 0, 0, cpu.segSel[s]!);
  } else {
    cpu.sysWrite16((oBase + 0x0e) | 0, 0, retEip);
    cpu.sysWrite16((oBase + 0x10) | 0, 0, oldFlags);
    for (let r = 0; r < 8; r++) cpu.sysWrite16((oBase + 0x12 + 2 * r) | 0, 0, cpu.gpr[r]!);
    for (let s = 0; s < 4; s++) cpu.sysWrite16((oBase + 0x22 + 2 * s) | 0, 0, cpu.segSel[s]!);
  }
  // JMP and IRET leave the old task; CALL and events nest (busy stays set).
  if (reason === TaskSwitchReason.Jmp || reason === TaskSwitchReason.Iret) {
    const a = (cpu.gdtrBaseLo + (oldSel & 0xfff8) + 4) | 0;
    cpu.sysWrite32(a, 0, cpu.sysRead32(a, 0) & ~BUSY);
  }
  if (reason === TaskSwitchReason.Call || reason === TaskSwitchReason.Gate) {
    cpu.sysWrite16(nBase, 0, oldSel);
    newFlags |= Flag.NT;
  }
  if (reason !== TaskSwitchReason.Iret) cpu.sysWrite32((nAddrLo + 4) | 0, nAddrHi, nHi | BUSY);

  // ---- commit: TR, CR0.TS, CR3, registers (§8.3 steps 11-12) ----
  cpu.setSegmentRaw(Seg.TR, selector, nBase, nLimit, descAttr(nHi) | 2);
  cpu.cr0 |= Cr0.TS;
  // CR3 (§8.3 step 12; only a 32-bit TSS has a CR3 field). Task switches cannot happen in
  // IA-32e mode, and CR4.PCIDE = 1 needs IA-32e mode (MOV to CR4 #GP(0) otherwise, SDM Vol. 3
  // §2.5), so PCIDE is 0 here: CR3[11:0] hold no PCID and the new CR3 flushes every non-global
  // TLB entry. With PAE paging, "if PAE paging is in use and a task switch changes the value of
  // CR3, the PDPTEs are loaded from the address in the new CR3 value" (SDM Vol. 3 §4.4.1); a
  // present PDPTE with a reserved bit set "causes a general-protection exception (#GP(0)) and
  // the PDPTEs are not loaded" (same section). CR3 is loaded after the commit point, so the
  // #GP(0) is raised in the context of the new task, once its registers and selectors are in
  // place (like the other checks of Table 8-2 that follow the commit point). Table 8-2 itself
  // does not list this check; Bochs raises #TS(0) here instead, we follow §4.4.1's #GP(0).
  let badPdpte = false;
  if (new32 && (cpu.cr0 & Cr0.PG) !== 0 && newCr3 !== cpu.cr3Lo) {
    if ((cpu.cr4 & Cr4.PAE) !== 0 && !cpu.loadPdptes(newCr3)) badPdpte = true;
    cpu.cr3Lo = newCr3;
    cpu.cr3Hi = 0;
    cpu.flushTlb(false);
  }
  cpu.ripLo = newEip;
  cpu.ripHi = 0;
  cpu.nipLo = newEip;
  cpu.nipHi = 0;
  if (new32) {
    for (let r = 0; r < 8; r++) cpu.setReg32(r, newGpr[r]!);
  } else {
    // A 16-bit TSS holds only the low words; the upper halves keep their values.
    for (let r = 0; r < 8; r++) cpu.gpr[r] = (cpu.gpr[r]! & ~0xffff) | newGpr[r]!;
  }
  cpu.setEflags(newFlags);
  const vm = (cpu.flags & Flag.VM) !== 0;
  const newCpl = vm ? 3 : newSel[Seg.CS]! & 3;
  // Selectors first, descriptors not yet valid (§8.3 step 13).
  for (let s = 0; s < 6; s++) cpu.setSegmentRaw(s, newSel[s]!, 0, 0, SegAttr.Unusable | (s === Seg.SS ? newCpl << SegAttr.DplShift : 0));
  cpu.setSegmentRaw(Seg.LDTR, newLdt, 0, 0, SegAttr.Unusable);
  // Local breakpoint enables are cleared on a task switch (SDM Vol. 3 §17.2.4).
  cpu.drLo[7] = cpu.drLo[7]! & ~0x155;
  cpu.updateDebug();
  if (tBit !== 0) cpu.pendingDb |= DR6_BT;
  cpu.updateMode();
  if (badPdpte) cpu.gp(0);

  // ---- the new task's context: LDTR, then the segment registers (Table 8-2) ----
  if ((newLdt & 0xfffc) !== 0) {
    const ldtErr = (newLdt & 0xfffc) | ext;
    if ((newLdt & 4) !== 0 || !readDescriptor(cpu, newLdt)) cpu.raise(Vector.TS, ldtErr);
    const a = descAttr(cpu.desc.hi);
    if ((a & 0x1f) !== 2 || (a & SegAttr.P) === 0) cpu.raise(Vector.TS, ldtErr);
    cpu.setSegmentRaw(Seg.LDTR, newLdt, descBase(cpu.desc.lo, cpu.desc.hi), descLimit(cpu.desc.lo, cpu.desc.hi), a);
  }
  if (vm) {
    for (let s = 0; s < 6; s++) loadSegmentReal(cpu, s, newSel[s]!);
  } else {
    loadTaskCs(cpu, newSel[Seg.CS]!, ext);
    // Mode and CPL follow the new CS at once, so a fault on the loads below is delivered in
    // the new task's context (SDM Vol. 3 §8.3, step 12).
    cpu.updateMode();
    loadTaskSs(cpu, newSel[Seg.SS]!, newCpl, ext);
    loadTaskData(cpu, Seg.ES, newSel[Seg.ES]!, newCpl, ext);
    loadTaskData(cpu, Seg.DS, newSel[Seg.DS]!, newCpl, ext);
    loadTaskData(cpu, Seg.FS, newSel[Seg.FS]!, newCpl, ext);
    loadTaskData(cpu, Seg.GS, newSel[Seg.GS]!, newCpl, ext);
  }
  cpu.updateMode();
  cpu.exitBlock = true;

  // Error code of an exception delivered through a task gate, on the new task's stack.
  if (errorCode >= 0) {
    const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
    const w = new32 ? 4 : 2;
    checkRoom(cpu, cpu.segLimit[Seg.SS]!, cpu.segAttr[Seg.SS]!, big, cpu.gpr[4]!, w, Vector.SS, ext);
    const sp = big ? (cpu.gpr[4]! - w) | 0 : (cpu.gpr[4]! - w) & 0xffff;
    const lin = (cpu.segBase[Seg.SS]! + sp) | 0;
    if (w === 4) cpu.sysWrite32(lin, 0, errorCode);
    else cpu.sysWrite16(lin, 0, errorCode);
    cpu.gpr[4] = big ? sp : (cpu.gpr[4]! & ~0xffff) | sp;
  }
  if ((newEip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(ext);
}

/** CS of the new task: #TS(CS) for a null, non-code or privilege-mismatched selector, #NP(CS) when absent. */
function loadTaskCs(cpu: Cpu, sel: number, ext: number): void {
  const err = (sel & 0xfffc) | ext;
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) cpu.raise(Vector.TS, err);
  const a = descAttr(cpu.desc.hi);
  if (!isCodeSegment(a)) cpu.raise(Vector.TS, err);
  const dpl = dplOf(a);
  const rpl = sel & 3;
  if ((a & SegAttr.DC) !== 0 ? dpl > rpl : dpl !== rpl) cpu.raise(Vector.TS, err);
  if ((a & SegAttr.P) === 0) cpu.raise(Vector.NP, err);
  markAccessed(cpu, cpu.desc.addrLo, cpu.desc.addrHi, cpu.desc.hi);
  cpu.setSegmentRaw(Seg.CS, sel, descBase(cpu.desc.lo, cpu.desc.hi), descLimit(cpu.desc.lo, cpu.desc.hi), a | SegAttr.Accessed);
}

/** SS of the new task: a writable data segment with RPL = DPL = CPL (#TS), present (#SS). */
function loadTaskSs(cpu: Cpu, sel: number, cpl: number, ext: number): void {
  const err = (sel & 0xfffc) | ext;
  if ((sel & 0xfffc) === 0 || !readDescriptor(cpu, sel)) cpu.raise(Vector.TS, err);
  const a = descAttr(cpu.desc.hi);
  if (!isWritableData(a) || (sel & 3) !== cpl || dplOf(a) !== cpl) cpu.raise(Vector.TS, err);
  if ((a & SegAttr.P) === 0) cpu.raise(Vector.SS, err);
  markAccessed(cpu, cpu.desc.addrLo, cpu.desc.addrHi, cpu.desc.hi);
  cpu.setSegmentRaw(Seg.SS, sel, descBase(cpu.desc.lo, cpu.desc.hi), descLimit(cpu.desc.lo, cpu.desc.hi), a | SegAttr.Accessed);
}

/** DS/ES/FS/GS of the new task: null is allowed; else readable, DPL >= CPL and RPL unless conforming (#TS), present (#NP). */
function loadTaskData(cpu: Cpu, seg: number, sel: number, cpl: number, ext: number): void {
  if ((sel & 0xfffc) === 0) {
    cpu.setSegmentRaw(seg, sel, 0, 0, SegAttr.Unusable);
    return;
  }
  const err = (sel & 0xfffc) | ext;
  if (!readDescriptor(cpu, sel)) cpu.raise(Vector.TS, err);
  const a = descAttr(cpu.desc.hi);
  const code = (a & SegAttr.Code) !== 0;
  if ((a & SegAttr.S) === 0 || (code && (a & SegAttr.RW) === 0)) cpu.raise(Vector.TS, err);
  const conforming = code && (a & SegAttr.DC) !== 0;
  const dpl = dplOf(a);
  if (!conforming && (dpl < cpl || dpl < (sel & 3))) cpu.raise(Vector.TS, err);
  if ((a & SegAttr.P) === 0) cpu.raise(Vector.NP, err);
  markAccessed(cpu, cpu.desc.addrLo, cpu.desc.addrHi, cpu.desc.hi);
  cpu.setSegmentRaw(seg, sel, descBase(cpu.desc.lo, cpu.desc.hi), descLimit(cpu.desc.lo, cpu.desc.hi), a | SegAttr.Accessed);
}
