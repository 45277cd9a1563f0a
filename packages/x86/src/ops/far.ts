/**
 * Far control transfer: JMP far (EA, FF /5), CALL far (9A, FF /3) and RET far (CB, CA) in
 * real-address, virtual-8086, protected and IA-32e mode (SDM Vol. 2 "JMP", "CALL", "RET"
 * Operation sections; Vol. 3 §5.8 "Privilege Level Checking When Transferring Program
 * Control Between Code Segments", §5.8.3-5.8.6 call gates, §5.8.3.1 IA-32e call gates,
 * §8.3 task switches through JMP/CALL).
 *
 * Every handler reads and checks everything before the commit: CS, SS, RSP and RIP change
 * only after the last check that can fault (the stack may have been written below RSP).
 */
import type { Cpu } from '../cpu.js';
import { R_IMM, R_IMM2, R_INFO } from '../decoded.js';
import { checkRoom, isCanonicalFor, pushFrame, readTss64Stack, readTssStack } from '../interrupts.js';
import { defineHandler, OpMap, setOp } from '../optable.js';
import {
  descAttr,
  descBase,
  descLimit,
  dplOf,
  isCodeSegment,
  isWritableData,
  loadSegmentReal,
  markAccessed,
  nullInaccessibleDataSegments,
  readDescriptor,
} from '../segments.js';
import { CodeMode, Cr0, Efer, Flag, Seg, SegAttr, Vector } from '../state.js';
import { taskSwitch, TaskSwitchReason } from '../tasks.js';
import { adjustSp, ea, peek, segLinear } from './operands.js';

/** Parameters copied by a call gate (5-bit count) plus SS, ESP, CS, EIP. */
const frame = new Array<number>(40).fill(0);

function oszOf(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

/** Real-address or virtual-8086 mode: segments are paragraph-based (SDM Vol. 3 §20.1.1). */
function realOrV86(cpu: Cpu): boolean {
  return (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0;
}

/**
 * Checks a far target offset: canonical for a 64-bit code segment, else within the limit
 * (and below 4 GiB) of the new code segment; #GP(0) otherwise.
 */
function checkTarget(cpu: Cpu, target64: boolean, lo: number, hi: number, limit: number): void {
  if (target64) {
    if (!isCanonicalFor(cpu, lo, hi)) cpu.gp(0);
  } else if (hi !== 0 || (lo >>> 0) > limit) {
    cpu.gp(0);
  }
}

/**
 * Pushes CS then the return offset (`size` bytes each) on the current stack, atomically:
 * both slots are checked (limit or canonical, #SS(0)) before RSP moves.
 */
function pushCsIp(cpu: Cpu, size: number, cs: number, ipLo: number, ipHi: number): void {
  const g = cpu.gpr;
  if (cpu.mode === CodeMode.Bits64) {
    const spLo = g[4]!;
    const nLo = (spLo - 2 * size) | 0;
    const nHi = (nLo >>> 0) > (spLo >>> 0) ? (cpu.gprHi[4]! - 1) | 0 : cpu.gprHi[4]!;
    const lo = segLinear(cpu, Seg.SS, nLo, nHi, 2 * size, true);
    const hi = cpu.hi;
    writeSized(cpu, (lo + size) | 0, (lo >>> 0) + size > 0xffff_ffff ? (hi + 1) | 0 : hi, size, cs, 0);
    writeSized(cpu, lo, hi, size, ipLo, ipHi);
    g[4] = nLo;
    cpu.gprHi[4] = nHi;
    return;
  }
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  const sp = big ? (g[4]! - 2 * size) | 0 : (g[4]! - 2 * size) & 0xffff;
  const lo = segLinear(cpu, Seg.SS, sp, 0, 2 * size, true);
  writeSized(cpu, (lo + size) | 0, 0, size, cs, 0);
  writeSized(cpu, lo, 0, size, ipLo, ipHi);
  if (big) g[4] = sp;
  else g[4] = (g[4]! & ~0xffff) | sp;
}

function writeSized(cpu: Cpu, lo: number, hi: number, size: number, v: number, vHi: number): void {
  if (size === 2) cpu.wr16(lo, hi, v);
  else if (size === 4) cpu.wr32(lo, hi, v);
  else cpu.wr64(lo, hi, v, vHi);
}

/** Pushes 8-byte values on a 64-bit stack at RSP = (lo, hi) with supervisor writes; returns the new RSP low half (high half in cpu.hi). */
function push64s(cpu: Cpu, lo: number, hi: number, n: number): number {
  for (let k = 0; k < n; k += 2) {
    const l = (lo - 8) | 0;
    if ((l >>> 0) > (lo >>> 0)) hi = (hi - 1) | 0;
    lo = l;
    cpu.sysWrite32(lo, hi, frame[k]!);
    cpu.sysWrite32((lo + 4) | 0, hi, frame[k + 1]!);
  }
  cpu.hi = hi;
  return lo;
}

/** Loads CS from a checked descriptor with RPL = `cpl` and sets RIP (the mode may change). */
function commitCs(cpu: Cpu, sel: number, cpl: number, base: number, limit: number, attr: number, addrLo: number, addrHi: number, dHi: number, ipLo: number, ipHi: number): void {
  markAccessed(cpu, addrLo, addrHi, dHi);
  cpu.setSegmentRaw(Seg.CS, (sel & ~3) | cpl, base, limit, attr | SegAttr.Accessed);
  cpu.nipLo = ipLo;
  cpu.nipHi = ipHi;
  cpu.updateMode();
  cpu.exitBlock = true;
}

/** Reads an m16:16 / m16:32 / m16:64 far pointer (FF /3, FF /5) into farLo/farHi/farSel. */
let farLo = 0;
let farHi = 0;
let farSel = 0;
function readFarPointer(cpu: Cpu, d: number, o: number): void {
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  ea(cpu, d);
  const seg = (cpu.rec[d + R_INFO]! >>> 8) & 7;
  const lo = segLinear(cpu, seg, cpu.eaLo, cpu.eaHi, size + 2, false);
  const hi = cpu.hi;
  farHi = 0;
  if (size === 2) farLo = cpu.rd16(lo, hi);
  else if (size === 4) farLo = cpu.rd32(lo, hi);
  else {
    farLo = cpu.rd64(lo, hi);
    farHi = cpu.hi;
  }
  const sLo = (lo + size) | 0;
  const sHi = (lo >>> 0) + size > 0xffff_ffff && cpu.mode === CodeMode.Bits64 ? (hi + 1) | 0 : hi;
  farSel = cpu.rd16(sLo, sHi);
}

/**
 * The operand size of FF /3 and FF /5: REX.W selects m16:64 on Intel; AMD processors ignore
 * REX.W here and use m16:32 (AMD APM Vol. 3 "CALL (Far)", "JMP (Far)").
 */
function farOsz(cpu: Cpu, d: number): number {
  const o = oszOf(cpu, d);
  return o === 3 && cpu.model.vendor === 'amd' ? 2 : o;
}

// ---- JMP / CALL far --------------------------------------------------------------------------

/** JMP far / CALL far to selector:offset at operand size `o` (1 = 16, 2 = 32, 3 = 64). */
export function farTransfer(cpu: Cpu, isCall: boolean, sel: number, offLo: number, offHi: number, o: number): void {
  sel &= 0xffff;
  const retLo = cpu.nipLo;
  const retHi = cpu.mode === CodeMode.Bits64 ? cpu.nipHi : 0;
  const oldCs = cpu.segSel[Seg.CS]!;
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  if (realOrV86(cpu)) {
    // SDM Vol. 2 "JMP"/"CALL": real-address or virtual-8086 mode far transfer.
    const ip = o === 1 ? offLo & 0xffff : offLo;
    if ((ip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
    if (isCall) pushCsIp(cpu, size, oldCs, retLo, 0);
    loadSegmentReal(cpu, Seg.CS, sel);
    cpu.nipLo = ip;
    cpu.nipHi = 0;
    cpu.updateMode();
    cpu.exitBlock = true;
    return;
  }
  const lma = (cpu.efer & Efer.LMA) !== 0;
  const cpl = cpu.cpl;
  const rpl = sel & 3;
  const selErr = sel & 0xfffc;
  if (selErr === 0) cpu.gp(0);
  if (!readDescriptor(cpu, sel)) cpu.gp(selErr);
  const dLo = cpu.desc.lo;
  const dHi = cpu.desc.hi;
  const attr = descAttr(dHi);
  if ((attr & SegAttr.S) !== 0) {
    // Direct transfer to a code segment (SDM Vol. 3 §5.8.1, §5.8.2).
    if ((attr & SegAttr.Code) === 0) cpu.gp(selErr);
    if (lma && (attr & SegAttr.L) !== 0 && (attr & SegAttr.DB) !== 0) cpu.gp(selErr);
    const dpl = dplOf(attr);
    if ((attr & SegAttr.DC) !== 0) {
      if (dpl > cpl) cpu.gp(selErr);
    } else if (rpl > cpl || dpl !== cpl) {
      cpu.gp(selErr);
    }
    if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
    const limit = descLimit(dLo, dHi);
    const target64 = lma && (attr & SegAttr.L) !== 0;
    const ipLo = o === 1 ? offLo & 0xffff : offLo;
    const ipHi = o === 3 ? offHi : 0;
    checkTarget(cpu, target64, ipLo, ipHi, limit);
    // The accessed flag first: its write may fault or cause a VM exit, which must find RSP as
    // it was (the instruction is restartable).
    markAccessed(cpu, cpu.desc.addrLo, cpu.desc.addrHi, dHi);
    if (isCall) pushCsIp(cpu, size, oldCs, retLo, retHi);
    commitCs(cpu, sel, cpl, descBase(dLo, dHi), limit, attr, cpu.desc.addrLo, cpu.desc.addrHi, dHi | 0x100, ipLo, ipHi);
    return;
  }
  const type = attr & 0xf;
  if (lma) {
    // IA-32e mode: only 64-bit call gates (SDM Vol. 3 §5.8.3.1); no task switching.
    if (type !== 0xc) cpu.gp(selErr);
    viaCallGate(cpu, isCall, sel, retLo, retHi, oldCs);
    return;
  }
  switch (type) {
    case 4:
    case 0xc:
      viaCallGate(cpu, isCall, sel, retLo, retHi, oldCs);
      return;
    case 5: {
      // Task gate (SDM Vol. 3 §8.3.2 / JMP, CALL "TASK-GATE").
      const gDpl = dplOf(attr);
      if (gDpl < cpl || gDpl < rpl) cpu.gp(selErr);
      if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
      taskSwitch(cpu, dLo >>> 16, isCall ? TaskSwitchReason.Call : TaskSwitchReason.Jmp, -1, 0);
      return;
    }
    case 1:
    case 9: {
      // Available TSS (a busy TSS falls to the default case: #GP(selector)).
      const tDpl = dplOf(attr);
      if (tDpl < cpl || tDpl < rpl) cpu.gp(selErr);
      if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
      taskSwitch(cpu, sel, isCall ? TaskSwitchReason.Call : TaskSwitchReason.Jmp, -1, 0);
      return;
    }
    default:
      cpu.gp(selErr);
  }
}

/**
 * Through a call gate (SDM Vol. 3 §5.8.4-5.8.6, Figure 5-13 privilege rules; Vol. 2 CALL
 * "CALL-GATE", "MORE-PRIVILEGE", "SAME-PRIVILEGE"; JMP "CALL-GATE"). The gate descriptor is
 * in cpu.desc (8 bytes; re-read as 16 bytes in IA-32e mode).
 */
function viaCallGate(cpu: Cpu, isCall: boolean, gateSel: number, retLo: number, retHi: number, oldCs: number): void {
  const lma = (cpu.efer & Efer.LMA) !== 0;
  const cpl = cpu.cpl;
  const gErr = gateSel & 0xfffc;
  if (lma) {
    // 16-byte gate: the upper 8 bytes hold offset 63:32 and a type field that must be 0.
    if (!readDescriptor(cpu, gateSel, true) || cpu.descUpperType !== 0) cpu.gp(gErr);
  }
  const gLo = cpu.desc.lo;
  const gHi = cpu.desc.hi;
  const gType = (gHi >>> 8) & 0xf;
  const gateDpl = (gHi >>> 13) & 3;
  if (gateDpl < cpl || (gateSel & 3) > gateDpl) cpu.gp(gErr);
  if ((gHi & 0x8000) === 0) cpu.raise(Vector.NP, gErr);
  const gate16 = gType === 4;
  const csSel = gLo >>> 16;
  const offLo = gate16 ? gLo & 0xffff : (gLo & 0xffff) | (gHi & 0xffff0000);
  const offHi = lma ? cpu.desc.hi2 : 0;
  const params = gHi & 0x1f;
  const csErr = csSel & 0xfffc;
  if (csErr === 0) cpu.gp(0);
  if (!readDescriptor(cpu, csSel)) cpu.gp(csErr);
  const cLo = cpu.desc.lo;
  const cHi = cpu.desc.hi;
  const cAddrLo = cpu.desc.addrLo;
  const cAddrHi = cpu.desc.addrHi;
  const cattr = descAttr(cHi);
  if (!isCodeSegment(cattr)) cpu.gp(csErr);
  const dpl = dplOf(cattr);
  const conforming = (cattr & SegAttr.DC) !== 0;
  if (isCall) {
    if (dpl > cpl) cpu.gp(csErr);
  } else if (conforming ? dpl > cpl : dpl !== cpl) {
    cpu.gp(csErr);
  }
  if (lma && ((cattr & SegAttr.L) === 0 || (cattr & SegAttr.DB) !== 0)) cpu.gp(csErr);
  if ((cattr & SegAttr.P) === 0) cpu.raise(Vector.NP, csErr);
  const cbase = descBase(cLo, cHi);
  const climit = descLimit(cLo, cHi);
  const target64 = lma;

  if (!isCall || conforming || dpl === cpl) {
    // Same privilege (JMP through a gate never changes CPL).
    if (isCall) {
      if (lma) {
        // 64-bit gate: 8-byte pushes on the (64-bit) stack.
        const spLo = cpu.gpr[4]!;
        const spHi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[4]! : 0;
        const endLo = (spLo >>> 0) - 16;
        if (!isCanonicalFor(cpu, spLo, spHi) || !isCanonicalFor(cpu, endLo | 0, endLo < 0 ? (spHi - 1) | 0 : spHi)) cpu.raise(Vector.SS, 0);
        checkTarget(cpu, true, offLo, offHi, climit);
        frame[0] = oldCs;
        frame[1] = 0;
        frame[2] = retLo;
        frame[3] = retHi;
        markAccessed(cpu, cAddrLo, cAddrHi, cHi);
        if (cpl === 3) {
          const lo = (spLo - 16) | 0;
          const hi = endLo < 0 ? (spHi - 1) | 0 : spHi;
          cpu.wr64((lo + 8) | 0, (lo >>> 0) + 8 > 0xffff_ffff ? (hi + 1) | 0 : hi, oldCs, 0);
          cpu.wr64(lo, hi, retLo, retHi);
          cpu.gpr[4] = lo;
          cpu.gprHi[4] = hi;
        } else {
          cpu.gpr[4] = push64s(cpu, spLo, spHi, 4);
          cpu.gprHi[4] = cpu.hi;
        }
      } else {
        const w = gate16 ? 2 : 4;
        const sattr = cpu.segAttr[Seg.SS]!;
        checkRoom(cpu, cpu.segLimit[Seg.SS]!, sattr, (sattr & SegAttr.DB) !== 0, cpu.gpr[4]!, 2 * w, Vector.SS, 0);
        checkTarget(cpu, false, offLo, 0, climit);
        markAccessed(cpu, cAddrLo, cAddrHi, cHi);
        pushCsIp(cpu, w, oldCs, retLo, 0);
      }
    } else {
      checkTarget(cpu, target64, offLo, offHi, climit);
    }
    // A CALL set the accessed flag before it pushed (a fault or VM exit there leaves RSP as it was).
    commitCs(cpu, csSel, cpl, cbase, climit, cattr, cAddrLo, cAddrHi, isCall ? cHi | 0x100 : cHi, offLo, offHi);
    return;
  }

  // MORE-PRIVILEGE: stack switch from the TSS (SDM Vol. 3 §5.8.5, Figure 5-13).
  const oldSs = cpu.segSel[Seg.SS]!;
  const oldEsp = cpu.gpr[4]!;
  if (lma) {
    const rspLo = readTss64Stack(cpu, dpl, 0, 0);
    const rspHi = cpu.hi;
    const endLo = (rspLo >>> 0) - 32;
    if (!isCanonicalFor(cpu, rspLo, rspHi) || !isCanonicalFor(cpu, endLo | 0, endLo < 0 ? (rspHi - 1) | 0 : rspHi)) cpu.raise(Vector.SS, 0);
    checkTarget(cpu, true, offLo, offHi, climit);
    frame[0] = oldSs;
    frame[1] = 0;
    frame[2] = oldEsp;
    frame[3] = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[4]! : 0;
    frame[4] = oldCs;
    frame[5] = 0;
    frame[6] = retLo;
    frame[7] = retHi;
    const lo = push64s(cpu, rspLo, rspHi, 8);
    const hi = cpu.hi;
    markAccessed(cpu, cAddrLo, cAddrHi, cHi);
    // The new SS is a null selector with RPL = new CPL (SDM Vol. 3 §5.8.5.1 / §6.14.4).
    cpu.setSegmentRaw(Seg.SS, dpl, 0, 0, SegAttr.Unusable | (dpl << SegAttr.DplShift));
    cpu.gpr[4] = lo;
    cpu.gprHi[4] = hi;
    commitCs(cpu, csSel, dpl, cbase, climit, cattr, cAddrLo, cAddrHi, cHi | 0x100, offLo, offHi);
    return;
  }
  readTssStack(cpu, dpl, 0);
  const ssSel = cpu.tssSs;
  const newEsp = cpu.tssEsp;
  const ssErr = ssSel & 0xfffc;
  if (ssErr === 0) cpu.raise(Vector.TS, 0);
  if (!readDescriptor(cpu, ssSel)) cpu.raise(Vector.TS, ssErr);
  const sattr = descAttr(cpu.desc.hi);
  if ((ssSel & 3) !== dpl || dplOf(sattr) !== dpl || !isWritableData(sattr)) cpu.raise(Vector.TS, ssErr);
  if ((sattr & SegAttr.P) === 0) cpu.raise(Vector.SS, ssErr);
  const sbase = descBase(cpu.desc.lo, cpu.desc.hi);
  const slimit = descLimit(cpu.desc.lo, cpu.desc.hi);
  const sbig = (sattr & SegAttr.DB) !== 0;
  const sAddrLo = cpu.desc.addrLo;
  const sAddrHi = cpu.desc.addrHi;
  const sHi = cpu.desc.hi;
  const w = gate16 ? 2 : 4;
  const n = params + 4;
  checkRoom(cpu, slimit, sattr, sbig, newEsp, n * w, Vector.SS, ssErr);
  checkTarget(cpu, false, offLo, 0, climit);
  // Copy the parameters from the caller's stack, deepest first, so their order is kept.
  let k = 0;
  frame[k++] = oldSs;
  frame[k++] = w === 2 ? oldEsp & 0xffff : oldEsp;
  const oldBig = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  for (let i = params - 1; i >= 0; i--) {
    const off = oldBig ? (oldEsp + i * w) | 0 : (oldEsp + i * w) & 0xffff;
    const lin = segLinear(cpu, Seg.SS, off, 0, w, false);
    frame[k++] = w === 4 ? cpu.rd32(lin, 0) : cpu.rd16(lin, 0);
  }
  frame[k++] = oldCs;
  frame[k++] = retLo;
  const esp = pushFrame(cpu, sbase, sbig, newEsp, frame, k, w, true);
  // Both accessed flags before anything is committed (a fault or VM exit on their write).
  markAccessed(cpu, cAddrLo, cAddrHi, cHi);
  markAccessed(cpu, sAddrLo, sAddrHi, sHi);
  cpu.setSegmentRaw(Seg.SS, (ssSel & ~3) | dpl, sbase, slimit, sattr | SegAttr.Accessed);
  if (sbig) cpu.gpr[4] = esp;
  else cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | (esp & 0xffff);
  commitCs(cpu, csSel, dpl, cbase, climit, cattr, cAddrLo, cAddrHi, cHi | 0x100, offLo, 0);
}

// ---- RET far ---------------------------------------------------------------------------------

/** RET far (CB) / RET far imm16 (CA): SDM Vol. 2 "RET" Operation, far-return branches. */
export function farReturn(cpu: Cpu, o: number, imm: number): void {
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  if (realOrV86(cpu)) {
    const ip = peek(cpu, size, 0);
    const cs = peek(cpu, 2, size);
    const tip = size === 2 ? ip & 0xffff : ip;
    if ((tip >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
    adjustSp(cpu, 2 * size + imm);
    loadSegmentReal(cpu, Seg.CS, cs);
    cpu.nipLo = tip;
    cpu.nipHi = 0;
    cpu.updateMode();
    cpu.exitBlock = true;
    return;
  }
  const lma = (cpu.efer & Efer.LMA) !== 0;
  const cpl = cpu.cpl;
  let ipLo = peek(cpu, size, 0);
  let ipHi = size === 8 ? cpu.hi : 0;
  if (size === 2) ipLo &= 0xffff;
  const sel = peek(cpu, 2, size);
  const rpl = sel & 3;
  const attr = checkReturnCs(cpu, sel, lma);
  const cLo = cpu.desc.lo;
  const cHi = cpu.desc.hi;
  const cAddrLo = cpu.desc.addrLo;
  const cAddrHi = cpu.desc.addrHi;
  const target64 = lma && (attr & SegAttr.L) !== 0;
  if (!target64) ipHi = 0;
  const cbase = descBase(cLo, cHi);
  const climit = descLimit(cLo, cHi);
  if (rpl === cpl) {
    checkTarget(cpu, target64, ipLo, ipHi, climit);
    // The accessed flag before RSP moves (its write may fault or cause a VM exit).
    markAccessed(cpu, cAddrLo, cAddrHi, cHi);
    adjustSp(cpu, 2 * size + imm);
    commitCs(cpu, sel, cpl, cbase, climit, attr, cAddrLo, cAddrHi, cHi | 0x100, ipLo, ipHi);
    return;
  }
  // RETURN-TO-OUTER-PRIVILEGE-LEVEL: pop SS:ESP too.
  const espLo = peek(cpu, size, 2 * size + imm);
  const espHi = size === 8 ? cpu.hi : 0;
  const ssSel = peek(cpu, 2, 3 * size + imm);
  applyOuterStack(cpu, ssSel, rpl, target64);
  checkTarget(cpu, target64, ipLo, ipHi, climit);
  markAccessed(cpu, cAddrLo, cAddrHi, cHi);
  commitOuterStack(cpu, ssSel, target64, size, espLo, espHi, imm);
  commitCs(cpu, sel, rpl, cbase, climit, attr, cAddrLo, cAddrHi, cHi | 0x100, ipLo, ipHi);
  nullInaccessibleDataSegments(cpu, rpl);
}

// Checked stack-segment descriptor for an outer return (RET far, IRET).
let outerBase = 0;
let outerLimit = 0;
let outerAttr = 0;
let outerAddrLo = 0;
let outerAddrHi = 0;
let outerDHi = 0;

/**
 * Checks the SS selector popped by a return to privilege `rpl` (SDM Vol. 2 RET/IRET
 * "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): a null SS is allowed only for a 64-bit target at
 * CPL < 3; else #GP(SS) for a bad type, RPL or DPL, #SS(SS) when absent.
 */
export function applyOuterStack(cpu: Cpu, ssSel: number, rpl: number, target64: boolean): void {
  const ssErr = ssSel & 0xfffc;
  if (ssErr === 0) {
    if (!(target64 && rpl !== 3)) cpu.gp(0);
    outerAttr = SegAttr.Unusable | (rpl << SegAttr.DplShift);
    outerBase = 0;
    outerLimit = 0;
    return;
  }
  if (!readDescriptor(cpu, ssSel)) cpu.gp(ssErr);
  const sattr = descAttr(cpu.desc.hi);
  if ((ssSel & 3) !== rpl || !isWritableData(sattr) || dplOf(sattr) !== rpl) cpu.gp(ssErr);
  if ((sattr & SegAttr.P) === 0) cpu.raise(Vector.SS, ssErr);
  outerBase = descBase(cpu.desc.lo, cpu.desc.hi);
  outerLimit = descLimit(cpu.desc.lo, cpu.desc.hi);
  outerAttr = sattr;
  outerAddrLo = cpu.desc.addrLo;
  outerAddrHi = cpu.desc.addrHi;
  outerDHi = cpu.desc.hi;
}

/** Loads the SS checked by {@link applyOuterStack} and RSP (+ `imm`). */
export function commitOuterStack(cpu: Cpu, ssSel: number, target64: boolean, size: number, espLo: number, espHi: number, imm: number): void {
  if ((outerAttr & SegAttr.Unusable) !== 0) {
    cpu.setSegmentRaw(Seg.SS, ssSel, 0, 0, outerAttr);
  } else {
    markAccessed(cpu, outerAddrLo, outerAddrHi, outerDHi);
    cpu.setSegmentRaw(Seg.SS, ssSel, outerBase, outerLimit, outerAttr | SegAttr.Accessed);
  }
  if (size === 2) espLo &= 0xffff;
  if (target64) {
    const s = (espLo >>> 0) + imm;
    cpu.gpr[4] = s | 0;
    cpu.gprHi[4] = (espHi + (s > 0xffff_ffff ? 1 : 0)) | 0;
  } else if ((outerAttr & SegAttr.DB) !== 0) {
    cpu.gpr[4] = (espLo + imm) | 0;
    cpu.gprHi[4] = 0;
  } else {
    cpu.gpr[4] = (cpu.gpr[4]! & ~0xffff) | ((espLo + imm) & 0xffff);
  }
}

/**
 * The checks on the code-segment selector popped by RETF and IRET when returning in protected
 * or IA-32e mode (SDM Vol. 2 "RET" and "IRET" Operation): not null, inside the table, a code
 * segment (not 64-bit with D = 1), RPL >= CPL, DPL = RPL (non-conforming) or DPL <= RPL
 * (conforming), present. Returns its attributes; the descriptor stays in `cpu.desc`.
 */
export function checkReturnCs(cpu: Cpu, sel: number, lma: boolean): number {
  const rpl = sel & 3;
  const selErr = sel & 0xfffc;
  if (selErr === 0) cpu.gp(0);
  if (!readDescriptor(cpu, sel)) cpu.gp(selErr);
  const attr = descAttr(cpu.desc.hi);
  if (!isCodeSegment(attr)) cpu.gp(selErr);
  if (lma && (attr & SegAttr.L) !== 0 && (attr & SegAttr.DB) !== 0) cpu.gp(selErr);
  if (rpl < cpu.cpl) cpu.gp(selErr);
  const dpl = dplOf(attr);
  if ((attr & SegAttr.DC) !== 0 ? dpl > rpl : dpl !== rpl) cpu.gp(selErr);
  if ((attr & SegAttr.P) === 0) cpu.raise(Vector.NP, selErr);
  return attr;
}

export function installFar(): void {
  setOp(
    OpMap.One,
    0xea,
    defineHandler('jmp far ptr', (cpu, d) => {
      // A task switch's intercept reads the instruction (its length) from curRec.
      if (cpu.guestMode) cpu.curRec = d;
      farTransfer(cpu, false, cpu.rec[d + R_IMM2]!, cpu.rec[d + R_IMM]!, 0, oszOf(cpu, d));
    }),
  );
  setOp(
    OpMap.One,
    0x9a,
    defineHandler('call far ptr', (cpu, d) => {
      if (cpu.guestMode) cpu.curRec = d;
      farTransfer(cpu, true, cpu.rec[d + R_IMM2]!, cpu.rec[d + R_IMM]!, 0, oszOf(cpu, d));
    }),
  );
  setOp(
    OpMap.One,
    0xff,
    defineHandler('call far m', (cpu, d) => {
      const o = farOsz(cpu, d);
      readFarPointer(cpu, d, o);
      if (cpu.guestMode) cpu.curRec = d;
      farTransfer(cpu, true, farSel, farLo, farHi, o);
    }),
    { reg: 3, mod3: false },
  );
  setOp(
    OpMap.One,
    0xff,
    defineHandler('jmp far m', (cpu, d) => {
      const o = farOsz(cpu, d);
      readFarPointer(cpu, d, o);
      if (cpu.guestMode) cpu.curRec = d;
      farTransfer(cpu, false, farSel, farLo, farHi, o);
    }),
    { reg: 5, mod3: false },
  );
  setOp(OpMap.One, 0xcb, defineHandler('retf', (cpu, d) => farReturn(cpu, oszOf(cpu, d), 0)));
  setOp(OpMap.One, 0xca, defineHandler('retf imm', (cpu, d) => farReturn(cpu, oszOf(cpu, d), cpu.rec[d + R_IMM]! & 0xffff)));
}
