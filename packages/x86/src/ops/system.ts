/**
 * System instructions of the control-transfer and event group: HLT, CLI/STI (with the
 * virtual-8086 and protected-mode virtual interrupts of SDM Vol. 3 §20.4), INT n / INT3 /
 * INTO / INT1, and IRET/IRETD/IRETQ in every mode (SDM Vol. 2 "IRET/IRETD/IRETQ").
 */
import type { Cpu } from '../cpu.js';
import { R_IMM, R_INFO } from '../decoded.js';
import { Intercept } from '../extension.js';
import { condition } from '../flags.js';
import { deliverEvent, deliverV86Redirected, EventKind, isCanonicalFor, v86IntRedirected } from '../interrupts.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import { descBase, descLimit, loadSegmentReal, markAccessed, nullInaccessibleDataSegments } from '../segments.js';
import { CodeMode, Cr0, Cr4, Efer, Flag, Seg, SegAttr, Vector } from '../state.js';
import { taskSwitch, TaskSwitchReason } from '../tasks.js';
import { applyOuterStack, checkReturnCs, commitOuterStack } from './far.js';
import { adjustSp, peek } from './operands.js';

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

/** HLT (F4): CPL 0 only (SDM Vol. 2 "HLT"). */
function hlt(cpu: Cpu, d: number): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  if (cpu.guestMode && cpu.interceptInsn(d, 2, 0, 0)) return;
  cpu.halted = true;
  cpu.exitBlock = true;
}

function iopl(cpu: Cpu): number {
  return (cpu.flags >>> 12) & 3;
}

/**
 * Whether CLI/STI must act on VIF instead of IF: IOPL too low, but virtual-8086 mode with
 * CR4.VME, or CPL 3 protected mode with CR4.PVI (SDM Vol. 2 "CLI", "STI"; Vol. 3 §20.4).
 * Raises #GP(0) when neither applies.
 */
function virtualIf(cpu: Cpu): boolean {
  if ((cpu.cr0 & Cr0.PE) === 0) return false;
  if ((cpu.flags & Flag.VM) !== 0) {
    if (iopl(cpu) === 3) return false;
    if ((cpu.cr4 & Cr4.VME) !== 0) return true;
    cpu.gp(0);
  }
  if (cpu.cpl <= iopl(cpu)) return false;
  if (cpu.cpl === 3 && (cpu.cr4 & Cr4.PVI) !== 0) return true;
  return cpu.gp(0);
}

/** CLI (FA). */
function cli(cpu: Cpu): void {
  if (virtualIf(cpu)) cpu.flags &= ~Flag.VIF;
  else cpu.flags &= ~Flag.IF;
}

/** STI (FB): sets IF; the next instruction runs in an interrupt shadow (SDM Vol. 3 §6.8.3). */
function sti(cpu: Cpu): void {
  if (virtualIf(cpu)) {
    // A pending virtual interrupt (VIP) makes STI fault so the monitor can deliver it.
    if ((cpu.flags & Flag.VIP) !== 0) cpu.gp(0);
    cpu.flags |= Flag.VIF;
    return;
  }
  if ((cpu.flags & Flag.IF) === 0) {
    cpu.interruptShadow = true;
    cpu.stiShadow = true;
  }
  cpu.flags |= Flag.IF;
  cpu.exitBlock = true;
}

/**
 * INT n (CD), INT3 (CC), INTO (CE), INT1 (F1): traps, the return address is the next
 * instruction. `src` is deliverEvent's source code (1 INT n, 2 INT3, 3 INTO, 4 INT1); the
 * instruction length goes to `cpu.vectoringInsnLen` for the extension (SDM §27.2.5).
 */
function intN(cpu: Cpu, d: number, vector: number, kind: 3 | 4, src: number): void {
  const lo = cpu.ripLo;
  const hi = cpu.ripHi;
  cpu.ripLo = cpu.nipLo;
  cpu.ripHi = cpu.nipHi;
  cpu.vectoringInsnLen = cpu.rec[d + R_INFO]! & 0xf;
  try {
    deliverEvent(cpu, kind, vector, -1, src);
  } catch (e) {
    // A fault while delivering is reported at the INT instruction itself.
    cpu.ripLo = lo;
    cpu.ripHi = hi;
    throw e;
  }
}

/**
 * INT n (CD ib). In virtual-8086 mode (SDM Vol. 3 §20.3, Table 20-2): without VME, IOPL < 3 is
 * #GP(0) (method 2) and IOPL = 3 goes to the protected-mode handler (method 1); with VME the
 * redirection bitmap picks the virtual-8086 IVT (methods 5, 6) or the protected-mode handler
 * (method 4, IOPL = 3) or #GP(0) (method 3, IOPL < 3).
 */
function intImm(cpu: Cpu, d: number): void {
  const vector = cpu.rec[d + R_IMM]! & 0xff;
  if (cpu.guestMode && cpu.ext !== null) {
    cpu.curRec = d;
    if (cpu.ext.intercept(cpu, Intercept.Swint, vector, 0)) return;
  }
  if ((cpu.flags & Flag.VM) !== 0 && (cpu.cr0 & Cr0.PE) !== 0) {
    if ((cpu.cr4 & Cr4.VME) !== 0 && v86IntRedirected(cpu, vector)) {
      deliverV86Redirected(cpu, vector);
      return;
    }
    if (iopl(cpu) < 3) cpu.gp(0);
  }
  intN(cpu, d, vector, EventKind.Software, 1);
}

// ---- IRET --------------------------------------------------------------------------------

/** IRET/IRETD/IRETQ (CF). IRET unblocks NMIs even when it faults (SDM Vol. 3 §6.7.1). */
function iret(cpu: Cpu, d: number): void {
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Iret, 0, 0)) return;
  cpu.nmiBlocked = false;
  const o = osz(cpu, d);
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  if ((cpu.cr0 & Cr0.PE) === 0) iretReal(cpu, size);
  else if ((cpu.efer & Efer.LMA) !== 0) iretLong(cpu, size);
  else if ((cpu.flags & Flag.VM) !== 0) iretV86(cpu, size);
  else iretProtected(cpu, size);
  cpu.exitBlock = true;
}

/** Real-address mode (SDM Vol. 2 IRET "REAL-ADDRESS-MODE"). */
function iretReal(cpu: Cpu, size: number): void {
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, 2, size);
  const fl = peek(cpu, size, 2 * size);
  const tip = size === 2 ? ip & 0xffff : ip;
  if ((tip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
  adjustSp(cpu, 3 * size);
  loadSegmentReal(cpu, Seg.CS, cs);
  cpu.nipLo = tip;
  cpu.nipHi = 0;
  const cur = cpu.getEflags();
  // 32-bit: EFLAGS <- (tempEFLAGS AND 257FD5H) OR (EFLAGS AND 1A0000H).
  if (size === 2) cpu.setEflags((cur & ~0xffff) | (fl & 0xffff));
  else cpu.setEflags((fl & 0x257fd5) | (cur & 0x1a0000));
  cpu.updateMode();
}

/**
 * Virtual-8086 mode (SDM Vol. 2 IRET "RETURN-FROM-VIRTUAL-8086-MODE"; §20.4 for VME):
 * IOPL = 3 pops with IOPL (and VM, VIF, VIP) unchanged; with IOPL < 3 only a 16-bit IRET under
 * CR4.VME is allowed, and it writes IF to VIF; otherwise #GP(0).
 */
function iretV86(cpu: Cpu, size: number): void {
  const cur = cpu.getEflags();
  const pl = iopl(cpu);
  const vme = (cpu.cr4 & Cr4.VME) !== 0;
  if (pl < 3 && !(vme && size === 2)) cpu.gp(0);
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, 2, size);
  let fl = peek(cpu, size, 2 * size);
  const tip = size === 2 ? ip & 0xffff : ip;
  if (pl === 3) {
    if ((tip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
    const keep = size === 2 ? ~0xffff | Flag.IOPL : Flag.VM | Flag.IOPL | Flag.VIP | Flag.VIF;
    fl = (cur & keep) | (fl & ~keep);
  } else {
    fl &= 0xffff;
    if (((fl & Flag.IF) !== 0 && (cur & Flag.VIP) !== 0) || (fl & Flag.TF) !== 0) cpu.gp(0);
    if ((tip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
    const vif = (fl & Flag.IF) !== 0 ? Flag.VIF : 0;
    fl = (cur & ~0xffff & ~Flag.VIF) | (cur & (Flag.IOPL | Flag.IF)) | (fl & ~(Flag.IOPL | Flag.IF)) | vif;
  }
  adjustSp(cpu, 3 * size);
  loadSegmentReal(cpu, Seg.CS, cs);
  cpu.nipLo = tip;
  cpu.nipHi = 0;
  cpu.setEflags(fl);
}

/** Protected mode, not IA-32e (SDM Vol. 2 IRET "PROTECTED-MODE"). */
function iretProtected(cpu: Cpu, size: number): void {
  if ((cpu.flags & Flag.NT) !== 0) {
    // TASK-RETURN: back to the task named by the link field of the current TSS.
    const link = cpu.sysRead16(cpu.segBase[Seg.TR]!, 0);
    taskSwitch(cpu, link, TaskSwitchReason.Iret, -1, 0);
    return;
  }
  const ip = peek(cpu, size, 0);
  const cs = peek(cpu, 2, size);
  let fl = peek(cpu, size, 2 * size);
  if (size === 2) fl &= 0xffff;
  if (size === 4 && (fl & Flag.VM) !== 0 && cpu.cpl === 0) {
    iretToV86(cpu, ip, cs, fl);
    return;
  }
  returnProtected(cpu, size, size === 2 ? ip & 0xffff : ip, 0, cs, fl, false);
}

/**
 * RETURN-TO-VIRTUAL-8086-MODE (CPL 0, VM = 1 in the popped EFLAGS; SDM Vol. 2 IRET and Vol. 3
 * §20.2.5): pops ESP, SS, ES, DS, FS, GS after EIP, CS, EFLAGS and resumes at CPL 3.
 */
function iretToV86(cpu: Cpu, ip: number, cs: number, fl: number): void {
  const esp = peek(cpu, 4, 12);
  const ss = peek(cpu, 2, 16);
  const es = peek(cpu, 2, 20);
  const ds = peek(cpu, 2, 24);
  const fs = peek(cpu, 2, 28);
  const gs = peek(cpu, 2, 32);
  if ((ip >>> 0) > 0xffff) cpu.gp(0);
  cpu.setEflags(fl);
  loadSegmentReal(cpu, Seg.CS, cs);
  loadSegmentReal(cpu, Seg.SS, ss);
  loadSegmentReal(cpu, Seg.ES, es);
  loadSegmentReal(cpu, Seg.DS, ds);
  loadSegmentReal(cpu, Seg.FS, fs);
  loadSegmentReal(cpu, Seg.GS, gs);
  cpu.gpr[4] = esp;
  cpu.gprHi[4] = 0;
  cpu.nipLo = ip;
  cpu.nipHi = 0;
  cpu.updateMode();
}

/** IA-32e mode (SDM Vol. 2 IRET "IA-32e-MODE"): NT = 1 is #GP(0); 64-bit mode always pops SS:RSP. */
function iretLong(cpu: Cpu, size: number): void {
  if ((cpu.flags & Flag.NT) !== 0) cpu.gp(0);
  let ip = peek(cpu, size, 0);
  const ipHi = size === 8 ? cpu.hi : 0;
  if (size === 2) ip &= 0xffff;
  const cs = peek(cpu, 2, size);
  let fl = peek(cpu, size, 2 * size);
  if (size === 2) fl &= 0xffff;
  returnProtected(cpu, size, ip, ipHi, cs, fl, cpu.mode === CodeMode.Bits64);
}

/**
 * PROTECTED-MODE-RETURN for IRET: checks the return CS, then returns to the same privilege
 * level (no stack switch, unless `popStack` for an IRET from 64-bit mode) or to an outer one
 * (pops SS:ESP, nulls data segments the new CPL may not use).
 */
function returnProtected(cpu: Cpu, size: number, ipLo: number, ipHi: number, sel: number, fl: number, popStack: boolean): void {
  const lma = (cpu.efer & Efer.LMA) !== 0;
  const cpl = cpu.cpl;
  const rpl = sel & 3;
  const attr = checkReturnCs(cpu, sel, lma);
  const cLo = cpu.desc.lo;
  const cHi = cpu.desc.hi;
  const cAddrLo = cpu.desc.addrLo;
  const cAddrHi = cpu.desc.addrHi;
  const target64 = lma && (attr & SegAttr.L) !== 0;
  if (!target64) ipHi = 0;
  const climit = descLimit(cLo, cHi);
  const outer = rpl > cpl;
  let espLo = 0;
  let espHi = 0;
  let ssSel = 0;
  if (outer || popStack) {
    espLo = peek(cpu, size, 3 * size);
    espHi = size === 8 ? cpu.hi : 0;
    ssSel = peek(cpu, 2, 4 * size);
    applyOuterStack(cpu, ssSel, rpl, target64);
  }
  if (target64) {
    if (!isCanonicalFor(cpu, ipLo, ipHi)) cpu.gp(0);
  } else if ((ipLo >>> 0) > climit) {
    cpu.gp(0);
  }
  // Commit. EFLAGS by the rules of the old CPL.
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (size >= 4) mask |= Flag.RF | Flag.AC | Flag.ID;
  if (cpl <= iopl(cpu)) mask |= Flag.IF;
  if (cpl === 0) {
    mask |= Flag.IOPL;
    if (size >= 4) mask |= Flag.VIF | Flag.VIP;
  }
  const newFlags = (cpu.getEflags() & ~mask) | (fl & mask);
  // The CS accessed flag before the stack moves: its write may fault or cause a VM exit, which
  // must find the state of before the instruction.
  markAccessed(cpu, cAddrLo, cAddrHi, cHi);
  if (outer || popStack) {
    commitOuterStack(cpu, ssSel, target64, size, espLo, espHi, 0);
  } else {
    adjustSp(cpu, 3 * size);
  }
  cpu.setSegmentRaw(Seg.CS, sel, descBase(cLo, cHi), climit, attr | SegAttr.Accessed);
  cpu.nipLo = ipLo;
  cpu.nipHi = ipHi;
  cpu.setEflags(newFlags);
  cpu.updateMode();
  if (outer) nullInaccessibleDataSegments(cpu, rpl);
}

export function installSystem(): void {
  setOp(OpMap.One, 0xf4, defineHandler('hlt', hlt));
  setOp(OpMap.One, 0xfa, defineHandler('cli', cli));
  setOp(OpMap.One, 0xfb, defineHandler('sti', sti));
  setOp(OpMap.One, 0xcd, defineHandler('int n', intImm));
  setOp(OpMap.One, 0xcc, defineHandler('int3', (cpu, d) => intN(cpu, d, Vector.BP, EventKind.Software, 2)));
  setOp(
    OpMap.One,
    0xce,
    defineHandler('into', (cpu, d) => {
      if (condition(cpu, 0)) intN(cpu, d, Vector.OF, EventKind.Software, 3);
    }),
  );
  setOp(
    OpMap.One,
    0xf1,
    defineHandler('int1', (cpu, d) => {
      if (cpu.guestMode && cpu.ext !== null) {
        cpu.curRec = d;
        if (cpu.ext.intercept(cpu, Intercept.Icebp, 0, 0)) return;
      }
      intN(cpu, d, Vector.DB, EventKind.PrivilegedSoftware, 4);
    }),
  );
  setOp(OpMap.One, 0xcf, defineHandler('iret', iret));
  setOp(OpMap.Two, 0xaa, defineHandler('rsm', rsm));
}

/**
 * RSM (0F AA): this core has no System Management Mode, so RSM is #UD, except that in guest mode
 * the extension sees it first: SVM's RSM intercept is checked before the #UD of RSM outside SMM
 * (AMD APM Vol. 2 §15.7.1 names RSM among the exceptions to "intercepts after simple
 * exceptions"; a hypervisor emulating SMM for its guest relies on it). VMX never claims it.
 */
function rsm(cpu: Cpu, d: number): void {
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Rsm, 0, 0)) return;
  cpu.ud();
}
