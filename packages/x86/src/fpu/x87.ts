/**
 * x87 FPU instructions: escape opcodes D8-DF and WAIT/FWAIT (9B). SDM Vol. 1 ch. 8, Vol. 2
 * instruction pages and opcode tables A-7..A-22; AMD APM Vol. 5.
 *
 * Every instruction: #NM when CR0.EM or CR0.TS (x87Available); waiting instructions then take
 * a pending unmasked exception (#MF / FERR#, x87Pending). Non-control instructions record
 * FIP/FCS/FOP and, with a memory operand, FDP/FDS (SDM Vol. 1 §8.1.8-8.1.9).
 *
 * Stack faults (SDM Vol. 1 §8.5.1.1): a push onto a non-empty register is an overflow (IE, SF,
 * C1 = 1), reading an empty register an underflow (IE, SF, C1 = 0); masked, the real indefinite
 * is used as the result. Unmasked pre-computation exceptions (IE, DE, ZE) leave the
 * destination and the stack unchanged; unmasked exceptions set FSW.ES and FSW.B, and #MF is
 * raised by the next waiting instruction (§8.6).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as operandsNs from '../ops/operands.js';
import * as stateNs from '../state.js';
import * as commonNs from './common.js';
import * as f80Ns from './f80.js';
import * as trNs from './transcendental.js';
import { Cpuid1Ecx } from '../model.js';
import { gated } from '../ops/feature.js';

const { R_INFO } = decodedNs;
const { condition, setArithFlags } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { memAddr } = operandsNs;
const { Cr0, Flag, Seg, CodeMode } = stateNs;
const { Fsw, highAfter, setFerr, x87Available, x87Pending } = commonNs;
const { r80, x2, Cls, classify, setControl, add, mul, div, sqrt, compare, fromInt64, toInt, roundInt, fromFloat, toFloat, scale, extract, prem, IE, DE, ZE } = f80Ns;
const { tr, fsin, fcos, fsincos, fptan, f2xm1, fyl2x, fyl2xp1, fpatan } = trNs;

const CC_MASK = Fsw.C0 | Fsw.C1 | Fsw.C2 | Fsw.C3;
const SF = Fsw.SF;
const C1 = Fsw.C1;
const INDEF_SE = 0xffff;
const INDEF_HI = 0xc0000000 | 0;
/** FCW bits that exist (bits 15:13 and 7 read as 0, bit 6 as 1; measured on the host). */
const FCW_BITS = 0x1f3f;

// ---- register stack --------------------------------------------------------------------

function phys(cpu: Cpu, i: number): number {
  return (cpu.fpTop + i) & 7;
}
function isEmpty(cpu: Cpu, p: number): boolean {
  return ((cpu.fpEmpty >> p) & 1) !== 0;
}
function setReg(cpu: Cpu, p: number, se: number, hi: number, lo: number): void {
  cpu.fpSe[p] = se & 0xffff;
  cpu.fpHi[p] = hi;
  cpu.fpLo[p] = lo;
  cpu.fpEmpty &= ~(1 << p);
}
function pop(cpu: Cpu): void {
  cpu.fpEmpty |= 1 << cpu.fpTop;
  cpu.fpTop = (cpu.fpTop + 1) & 7;
}
function push(cpu: Cpu, se: number, hi: number, lo: number): void {
  const p = (cpu.fpTop - 1) & 7;
  cpu.fpTop = p;
  setReg(cpu, p, se, hi, lo);
}

/** Sets ES and B when an exception flagged in FSW is unmasked, else clears them (FERR# follows). */
function updateEs(cpu: Cpu): void {
  if ((cpu.fsw & ~cpu.fcw & 0x3f) !== 0) cpu.fsw |= Fsw.ES | Fsw.B;
  else {
    cpu.fsw &= ~(Fsw.ES | Fsw.B);
    if (cpu.ferr) setFerr(cpu, false);
  }
}

/** Records new exception flags: returns true when an unmasked pre-computation exception (IE, DE, ZE) blocks the result. */
function raiseFlags(cpu: Cpu, flags: number): boolean {
  if (flags === 0) return false;
  // An invalid operand or a division by zero hides the denormal operand (as measured on the host).
  if ((flags & (IE | ZE)) !== 0) flags &= ~DE;
  const unmasked = flags & ~cpu.fcw & 0x3f;
  if ((unmasked & (IE | DE | ZE)) !== 0) {
    // Unmasked pre-computation exception: the operation is not carried out, so no post-computation
    // flags; C1 is cleared (host behaviour).
    cpu.fsw = (cpu.fsw & ~C1) | (flags & (IE | DE | ZE)) | Fsw.ES | Fsw.B;
    return true;
  }
  cpu.fsw |= flags;
  if (unmasked !== 0) cpu.fsw |= Fsw.ES | Fsw.B;
  return false;
}

function setC1(cpu: Cpu, c1: number): void {
  cpu.fsw = c1 !== 0 ? cpu.fsw | C1 : cpu.fsw & ~C1;
}

/** Stack underflow (SDM Vol. 1 §8.5.1.1): IE | SF, C1 = 0; returns true when masked (continue with the indefinite). */
function underflow(cpu: Cpu): boolean {
  cpu.fsw = (cpu.fsw & ~C1) | IE | SF;
  if ((cpu.fcw & IE) === 0) {
    cpu.fsw |= Fsw.ES | Fsw.B;
    return false;
  }
  return true;
}

/** Stack overflow on a push: IE | SF, C1 = 1; masked: the indefinite is pushed. Returns true if it happened. */
function pushOverflow(cpu: Cpu): boolean {
  if (isEmpty(cpu, (cpu.fpTop - 1) & 7)) return false;
  cpu.fsw |= IE | SF | C1;
  if ((cpu.fcw & IE) === 0) cpu.fsw |= Fsw.ES | Fsw.B;
  else push(cpu, INDEF_SE, INDEF_HI, 0);
  return true;
}

// ---- instruction and data pointers -----------------------------------------------------

/** Entry of a non-control instruction: #NM, #MF, then FIP/FCS/FOP. */
function enter(cpu: Cpu, d: number, op: number): void {
  x87Available(cpu);
  x87Pending(cpu);
  const info = cpu.rec[d + R_INFO]!;
  cpu.fipLo = cpu.ripLo;
  cpu.fipHi = cpu.mode === CodeMode.Bits64 ? cpu.ripHi : 0;
  cpu.fcs = cpu.segSel[Seg.CS]!;
  cpu.fop = ((op & 7) << 8) | (info >>> 24);
}

/** Linear address of the memory operand, recording FDP/FDS. */
function dataAddr(cpu: Cpu, d: number, size: number, write: boolean): number {
  const lo = memAddr(cpu, d, size, write);
  const hi = cpu.hi;
  cpu.fdpLo = cpu.eaLo;
  cpu.fdpHi = cpu.mode === CodeMode.Bits64 ? cpu.eaHi : 0;
  cpu.fds = cpu.segSel[(cpu.rec[d + R_INFO]! >>> 8) & 7]!;
  cpu.hi = hi;
  return lo;
}

/** Memory operand scratch as double-extended: (mSe, mHi, mLo) and conversion flags. */
let mSe = 0;
let mHi = 0;
let mLo = 0;
let mFlags = 0;

/**
 * Reads the memory source operand of an arithmetic/compare form: kind 0 m32real, 1 m32int,
 * 2 m64real, 3 m16int (the D8/DA/DC/DE rows). Real operands keep SNaNs signalling (the
 * operation flags them).
 */
function readArithMem(cpu: Cpu, d: number, kind: number): void {
  if (kind === 0) {
    const lo = dataAddr(cpu, d, 4, false);
    const v = cpu.rd32(lo, cpu.hi);
    fromFloat(0, v, false);
  } else if (kind === 2) {
    const lo = dataAddr(cpu, d, 8, false);
    const v = cpu.rd64(lo, cpu.hi);
    fromFloat(cpu.hi, v, true);
  } else if (kind === 1) {
    const lo = dataAddr(cpu, d, 4, false);
    const v = cpu.rd32(lo, cpu.hi);
    fromInt64(v, v >> 31);
  } else {
    const lo = dataAddr(cpu, d, 2, false);
    const v = (cpu.rd16(lo, cpu.hi) << 16) >> 16;
    fromInt64(v, v >> 31);
  }
  mSe = r80.se;
  mHi = r80.hi;
  mLo = r80.lo;
  // The SNaN check belongs to the operation: undo fromFloat's quieting.
  mFlags = r80.flags & ~IE;
  if ((r80.flags & IE) !== 0) mHi &= ~0x40000000;
}

// ---- arithmetic ------------------------------------------------------------------------

/**
 * ST(0) op b for ModRM.reg `op` (0 FADD, 1 FMUL, 4 a-b, 5 b-a, 6 a/b, 7 b/a), result into
 * physical register `dst`; `extra` flags from the operand conversion.
 */
function arith(cpu: Cpu, op: number, aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, dst: number, extra: number): boolean {
  setControl(cpu.fcw);
  switch (op) {
    case 0:
      add(aSe, aHi, aLo, bSe, bHi, bLo, 0);
      break;
    case 1:
      mul(aSe, aHi, aLo, bSe, bHi, bLo);
      break;
    case 4:
      add(aSe, aHi, aLo, bSe, bHi, bLo, 1);
      break;
    case 5:
      add(bSe, bHi, bLo, aSe, aHi, aLo, 1);
      break;
    case 6:
      div(aSe, aHi, aLo, bSe, bHi, bLo);
      break;
    default:
      div(bSe, bHi, bLo, aSe, aHi, aLo);
      break;
  }
  return storeResult(cpu, dst, r80.flags | extra);
}

/** Stores r80 into physical register `dst` unless an unmasked pre-computation exception occurred. */
function storeResult(cpu: Cpu, dst: number, flags: number): boolean {
  const c1 = r80.c1;
  if (raiseFlags(cpu, flags)) {
    cpu.fsw &= ~C1;
    return false;
  }
  setReg(cpu, dst, r80.se, r80.hi, r80.lo);
  setC1(cpu, c1);
  return true;
}

/** D8 /r, DA /r, DC /r, DE /r with a memory operand (kind: 0 m32real, 1 m32int, 2 m64real, 3 m16int). */
function arithMem(kind: number, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const op = (cpu.rec[d + R_INFO]! >>> 27) & 7;
    readArithMem(cpu, d, kind);
    const t = phys(cpu, 0);
    if (op === 2 || op === 3) {
      compareWith(cpu, t, mSe, mHi, mLo, mFlags, false, op === 3 ? 1 : 0);
      return;
    }
    if (isEmpty(cpu, t)) {
      if (underflow(cpu)) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
      return;
    }
    // A NaN operand hides the denormal memory operand (as measured on the host).
    const extra = classify(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!) >= Cls.QNaN ? 0 : mFlags;
    arith(cpu, op, cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, mSe, mHi, mLo, t, extra);
  };
}

/** Register forms: D8 (ST(0) = ST(0) op ST(i)), DC (ST(i) = ...), DE (... and pop). */
function arithReg(opByte: number): (cpu: Cpu, d: number) => void {
  const toSti = opByte !== 0xd8;
  const doPop = opByte === 0xde;
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const modrm = cpu.rec[d + R_INFO]! >>> 24;
    const op = (modrm >>> 3) & 7;
    const t = phys(cpu, 0);
    const s = phys(cpu, modrm & 7);
    const dst = toSti ? s : t;
    if (isEmpty(cpu, t) || isEmpty(cpu, s)) {
      if (!underflow(cpu)) return;
      setReg(cpu, dst, INDEF_SE, INDEF_HI, 0);
    } else if (!arith(cpu, op, cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!, dst, 0)) return;
    if (doPop) pop(cpu);
  };
}

// ---- compares ----------------------------------------------------------------------------

const CC_OF = [0, Fsw.C0, Fsw.C3, Fsw.C3 | Fsw.C2 | Fsw.C0];

/** FCOM/FUCOM family on ST(0) (physical t) and b; pops `pops` times unless blocked. */
function compareWith(cpu: Cpu, t: number, bSe: number, bHi: number, bLo: number, extra: number, quiet: boolean, pops: number): void {
  if (isEmpty(cpu, t)) {
    const masked = underflow(cpu);
    cpu.fsw = (cpu.fsw & ~CC_MASK) | CC_OF[3]!;
    if (masked) for (let i = 0; i < pops; i++) pop(cpu);
    return;
  }
  if (classify(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!) >= Cls.QNaN) extra = 0;
  compare(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, bSe, bHi, bLo, quiet);
  const cc = r80.cc;
  const blocked = raiseFlags(cpu, r80.flags | extra);
  // The condition codes are set even when an unmasked exception blocks the pop.
  cpu.fsw = (cpu.fsw & ~CC_MASK) | CC_OF[cc]!;
  if (blocked) return;
  for (let i = 0; i < pops; i++) pop(cpu);
}

function compareReg(quiet: boolean, pops: number, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const modrm = cpu.rec[d + R_INFO]! >>> 24;
    const s = phys(cpu, modrm & 7);
    const t = phys(cpu, 0);
    if (isEmpty(cpu, s) && !isEmpty(cpu, t)) {
      const masked = underflow(cpu);
      cpu.fsw = (cpu.fsw & ~CC_MASK) | CC_OF[3]!;
      if (masked) for (let i = 0; i < pops; i++) pop(cpu);
      return;
    }
    compareWith(cpu, t, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!, 0, quiet, pops);
  };
}

/** FCOMI/FUCOMI(P): ZF, PF, CF from the comparison; OF, SF, AF cleared (SDM Vol. 2 "FCOMI"). */
const EFL_OF = [0, Flag.CF, Flag.ZF, Flag.ZF | Flag.PF | Flag.CF];
function comi(quiet: boolean, doPop: boolean, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const modrm = cpu.rec[d + R_INFO]! >>> 24;
    const s = phys(cpu, modrm & 7);
    const t = phys(cpu, 0);
    // C1 is left as it was (host behaviour; the SDM lists C1 as cleared on underflow only).
    if (isEmpty(cpu, s) || isEmpty(cpu, t)) {
      const masked = underflow(cpu);
      setArithFlags(cpu, EFL_OF[3]!);
      if (masked && doPop) pop(cpu);
      return;
    }
    compare(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!, quiet);
    const cc = r80.cc;
    // EFLAGS are set even when an unmasked exception blocks the pop.
    setArithFlags(cpu, EFL_OF[cc]!);
    const c1 = cpu.fsw & C1;
    if (raiseFlags(cpu, r80.flags)) {
      cpu.fsw = (cpu.fsw & ~C1) | c1;
      return;
    }
    if (doPop) pop(cpu);
  };
}

// ---- loads and stores ------------------------------------------------------------------

/** Pushes (se, hi, lo) with conversion flags `flags` (IE for SNaN sources: quieted; DE). */
function pushValue(cpu: Cpu, se: number, hi: number, lo: number, flags: number): void {
  if (!isEmpty(cpu, (cpu.fpTop - 1) & 7)) {
    pushOverflow(cpu);
    return;
  }
  // A denormal source is loaded even with DE unmasked (as measured on the host).
  if (raiseFlags(cpu, flags & ~DE)) return;
  if ((flags & DE) !== 0) {
    cpu.fsw |= DE;
    if ((cpu.fcw & DE) === 0) cpu.fsw |= Fsw.ES | Fsw.B;
  }
  cpu.fsw &= ~C1;
  push(cpu, se, hi, lo);
}

function fldMem(kind: number, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    if (kind === 0) {
      const lo = dataAddr(cpu, d, 4, false);
      fromFloat(0, cpu.rd32(lo, cpu.hi), false);
    } else if (kind === 1) {
      const lo = dataAddr(cpu, d, 8, false);
      const v = cpu.rd64(lo, cpu.hi);
      fromFloat(cpu.hi, v, true);
    } else if (kind === 2) {
      const lo = dataAddr(cpu, d, 10, false);
      const hi = cpu.hi;
      const v = cpu.rd64(lo, hi);
      const vh = cpu.hi;
      const se = cpu.rd16((lo + 8) | 0, highAfter(cpu, lo, hi, 8));
      pushValue(cpu, se, vh, v, 0);
      return;
    } else if (kind === 3) {
      const lo = dataAddr(cpu, d, 2, false);
      const v = (cpu.rd16(lo, cpu.hi) << 16) >> 16;
      fromInt64(v, v >> 31);
    } else if (kind === 4) {
      const lo = dataAddr(cpu, d, 4, false);
      const v = cpu.rd32(lo, cpu.hi);
      fromInt64(v, v >> 31);
    } else if (kind === 5) {
      const lo = dataAddr(cpu, d, 8, false);
      const v = cpu.rd64(lo, cpu.hi);
      fromInt64(v, cpu.hi);
    } else {
      readBcd(cpu, d);
    }
    pushValue(cpu, r80.se, r80.hi, r80.lo, r80.flags);
  };
}

/** FBLD: 18 packed BCD digits and a sign byte (SDM Vol. 2 "FBLD"; invalid digits: undefined). */
function readBcd(cpu: Cpu, d: number): void {
  const lo = dataAddr(cpu, d, 10, false);
  const hi = cpu.hi;
  const a = cpu.rd64(lo, hi);
  const b = cpu.hi;
  const top = cpu.rd16((lo + 8) | 0, highAfter(cpu, lo, hi, 8));
  // The value as high and low nine-digit halves (each exact in a double).
  let hiPart = 0;
  let loPart = 0;
  for (let digit = 17; digit >= 0; digit--) {
    const n = digit >>> 1;
    const byte = n < 8 ? (n < 4 ? (a >>> (n * 8)) & 0xff : (b >>> ((n - 4) * 8)) & 0xff) : top & 0xff;
    const v = (digit & 1) !== 0 ? byte >>> 4 : byte & 15;
    if (digit >= 9) hiPart = hiPart * 10 + v;
    else loPart = loPart * 10 + v;
  }
  // total = hiPart * 1e9 + loPart < 1e18 < 2^60: split into 32-bit halves exactly.
  const p = hiPart * 1e9;
  const pHi = Math.floor(p / 4294967296);
  const pLo = p - pHi * 4294967296;
  let tLo = pLo + loPart;
  let tHi = pHi;
  if (tLo >= 4294967296) {
    tLo -= 4294967296;
    tHi++;
  }
  const neg = (top & 0x8000) !== 0;
  fromInt64(tLo | 0, tHi | 0);
  if (neg) r80.se |= 0x8000;
}

/** FLD ST(i) (D9 C0+i). */
function fldReg(cpu: Cpu, d: number): void {
  enter(cpu, d, 0xd9);
  const s = phys(cpu, (cpu.rec[d + R_INFO]! >>> 24) & 7);
  if (isEmpty(cpu, s)) {
    // An empty source is an underflow even when the push would overflow (host behaviour).
    if (underflow(cpu)) push(cpu, INDEF_SE, INDEF_HI, 0);
    return;
  }
  pushValue(cpu, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!, 0);
}

/**
 * Stores ST(0) to memory: kind 0 m32real, 1 m64real, 2 m80real, 3 m16int, 4 m32int, 5 m64int,
 * 6 m80bcd; `rc` -1 = FCW.RC, 3 = truncate (FISTTP).
 */
function fstMem(kind: number, doPop: boolean, trunc: boolean, opByte: number): (cpu: Cpu, d: number) => void {
  const size = kind === 0 || kind === 4 ? 4 : kind === 1 || kind === 5 ? 8 : kind === 3 ? 2 : 10;
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const lo = dataAddr(cpu, d, size, true);
    const hi = cpu.hi;
    const t = phys(cpu, 0);
    let vLo = 0;
    let vHi = 0;
    let vTop = 0;
    let flags = 0;
    let c1 = 0;
    if (isEmpty(cpu, t)) {
      if (!underflow(cpu)) return;
      // Masked: the indefinite of the destination format.
      if (kind === 0) vLo = 0xffc00000 | 0;
      else if (kind === 1) {
        vHi = 0xfff80000 | 0;
      } else if (kind === 2) {
        vHi = INDEF_HI;
        vTop = INDEF_SE;
      } else if (kind === 3) vLo = 0x8000;
      else if (kind === 4) vLo = 0x80000000 | 0;
      else if (kind === 5) vHi = 0x80000000 | 0;
      else {
        vHi = 0xc0000000 | 0;
        vTop = 0xffff;
      }
      writeMem(cpu, lo, hi, size, vLo, vHi, vTop);
      if (doPop) pop(cpu);
      return;
    }
    const se = cpu.fpSe[t]!;
    const sh = cpu.fpHi[t]!;
    const sl = cpu.fpLo[t]!;
    if (kind <= 1) {
      setControl(cpu.fcw);
      toFloat(se, sh, sl, kind === 1);
      vLo = r80.ilo;
      vHi = r80.ihi;
      // Stores do not signal DE (as measured on the host).
      flags = r80.flags & ~DE;
      c1 = r80.c1;
      if ((flags & ~cpu.fcw & 0x3f & ~f80Ns.PE) !== 0) {
        if ((flags & ~cpu.fcw & (f80Ns.OE | f80Ns.UE)) !== 0) flags &= ~f80Ns.PE;
        // Unmasked IE/DE/OE/UE: no store (SDM Vol. 1 §4.9.1.4-5, §8.5).
        raiseFlags(cpu, flags);
        cpu.fsw &= ~C1;
        return;
      }
    } else if (kind === 2) {
      vLo = sl;
      vHi = sh;
      vTop = se;
    } else if (kind <= 5) {
      toInt(se, sh, sl, kind === 3 ? 16 : kind === 4 ? 32 : 64, trunc ? 3 : (cpu.fcw >>> 10) & 3);
      vLo = r80.ilo;
      vHi = r80.ihi;
      flags = r80.flags & ~DE;
      c1 = r80.c1;
      if ((flags & ~cpu.fcw & IE) !== 0) {
        raiseFlags(cpu, flags);
        cpu.fsw &= ~C1;
        return;
      }
    } else {
      if (!bcdOf(cpu, se, sh, sl)) {
        cpu.fsw &= ~C1;
        return;
      }
      vLo = bcdLo;
      vHi = bcdHi;
      vTop = bcdTop;
      flags = bcdFlags;
      c1 = r80.c1;
    }
    writeMem(cpu, lo, hi, size, vLo, vHi, vTop);
    raiseFlags(cpu, flags);
    setC1(cpu, c1);
    if (doPop) pop(cpu);
  };
}

function writeMem(cpu: Cpu, lo: number, hi: number, size: number, vLo: number, vHi: number, vTop: number): void {
  if (size === 2) cpu.wr16(lo, hi, vLo);
  else if (size === 4) cpu.wr32(lo, hi, vLo);
  else if (size === 8) cpu.wr64(lo, hi, vLo, vHi);
  else {
    const hi8 = highAfter(cpu, lo, hi, 8);
    if ((lo & 0xfff) > 0xff6) {
      cpu.rdw8(lo, hi);
      cpu.rdw8((lo + 9) | 0, highAfter(cpu, lo, hi, 9));
    }
    cpu.wr64(lo, hi, vLo, vHi);
    cpu.wr16((lo + 8) | 0, hi8, vTop);
  }
}

let bcdLo = 0;
let bcdHi = 0;
let bcdTop = 0;
let bcdFlags = 0;
/** FBSTP: rounds with FCW.RC to an integer of at most 18 digits (else IE, BCD indefinite). Returns false when blocked. */
function bcdOf(cpu: Cpu, se: number, hi: number, lo: number): boolean {
  toInt(se, hi, lo, 64, (cpu.fcw >>> 10) & 3);
  let flags = r80.flags & ~DE;
  let mLo = r80.ilo;
  let mHi2 = r80.ihi;
  const neg = mHi2 < 0 || (mHi2 === 0 && mLo === 0 && (se & 0x8000) !== 0);
  if (mHi2 < 0 && (flags & IE) === 0) {
    mLo = -mLo | 0;
    mHi2 = (~mHi2 + (mLo === 0 ? 1 : 0)) | 0;
  }
  // |value| as a double-free exact split: value = mHi2 * 2^32 + mLo (< 10^18 when valid).
  const big = (flags & IE) !== 0 || mHi2 >>> 0 > 0x0de0b6b3 || (mHi2 >>> 0 === 0x0de0b6b3 && mLo >>> 0 > 0xa763ffff);
  if (big) {
    flags = (flags & ~f80Ns.PE) | IE;
    if ((cpu.fcw & IE) === 0) {
      raiseFlags(cpu, flags);
      return false;
    }
    r80.c1 = 0;
    bcdLo = 0;
    bcdHi = 0xc0000000 | 0;
    bcdTop = 0xffff;
    bcdFlags = IE;
    return true;
  }
  // Exact decimal digits: split value into high and low 9-digit halves.
  const hiD = mHi2 >>> 0;
  const loD = mLo >>> 0;
  // q = floor(value / 1e9), r = value % 1e9 via 16-bit chunks.
  let rem = 0;
  let q = 0;
  for (let i = 0; i < 4; i++) {
    const chunk = i === 0 ? hiD >>> 16 : i === 1 ? hiD & 0xffff : i === 2 ? loD >>> 16 : loD & 0xffff;
    const cur = rem * 65536 + chunk;
    const qd = Math.floor(cur / 1e9);
    rem = cur - qd * 1e9;
    q = q * 65536 + qd;
  }
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let lowPart = rem;
  let highPart = q;
  for (let digit = 0; digit < 18; digit++) {
    let v: number;
    if (digit < 9) {
      v = lowPart % 10;
      lowPart = Math.floor(lowPart / 10);
    } else {
      v = highPart % 10;
      highPart = Math.floor(highPart / 10);
    }
    const shift = (digit & 7) * 4;
    if (digit < 8) w0 |= v << shift;
    else if (digit < 16) w1 |= v << shift;
    else w2 |= v << ((digit - 16) * 4);
  }
  bcdLo = w0;
  bcdHi = w1;
  bcdTop = w2 | (neg ? 0x8000 : 0);
  bcdFlags = flags;
  return true;
}

/** FST/FSTP ST(i) and the aliases FSTP1 (D9 D8+i), FSTP8/9 (DF D0+i, D8+i). */
function fstReg(doPop: boolean, opByte: number): (cpu: Cpu, d: number) => void {
  const alias = opByte === 0xd9;
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const t = phys(cpu, 0);
    const s = phys(cpu, (cpu.rec[d + R_INFO]! >>> 24) & 7);
    if (alias && isEmpty(cpu, t)) {
      // FSTP1 (D9 D8+i) with an empty ST(0): no stack fault, nothing stored, C1 = 0, only the pop (host).
      cpu.fsw &= ~C1;
      pop(cpu);
      return;
    }
    if (isEmpty(cpu, t)) {
      if (!underflow(cpu)) return;
      setReg(cpu, s, INDEF_SE, INDEF_HI, 0);
    } else {
      setReg(cpu, s, cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!);
      cpu.fsw &= ~C1;
    }
    if (doPop) pop(cpu);
  };
}

/** FXCH ST(i) and the aliases FXCH4 (DD C8+i), FXCH7 (DF C8+i). */
function fxch(opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const t = phys(cpu, 0);
    const s = phys(cpu, (cpu.rec[d + R_INFO]! >>> 24) & 7);
    if (isEmpty(cpu, t) || isEmpty(cpu, s)) {
      if (!underflow(cpu)) return;
      if (isEmpty(cpu, t)) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
      if (isEmpty(cpu, s)) setReg(cpu, s, INDEF_SE, INDEF_HI, 0);
    } else cpu.fsw &= ~C1;
    const se = cpu.fpSe[t]!;
    const hi = cpu.fpHi[t]!;
    const lo = cpu.fpLo[t]!;
    setReg(cpu, t, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!);
    setReg(cpu, s, se, hi, lo);
  };
}

/** FCMOVcc (DA/DB C0-DF): condition codes B, E, BE, U and their negations. */
function fcmov(cc: number, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    const t = phys(cpu, 0);
    const s = phys(cpu, (cpu.rec[d + R_INFO]! >>> 24) & 7);
    if (isEmpty(cpu, t) || isEmpty(cpu, s)) {
      // Masked: ST(0) = indefinite whatever the condition (as measured on the host).
      if (underflow(cpu)) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
      return;
    }
    // C1 is left as it was (host behaviour).
    if (condition(cpu, cc)) setReg(cpu, t, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!);
  };
}

// ---- D9 E0-FF and other one-operand forms ------------------------------------------------

/** Runs `body` on a non-empty ST(0) (physical index), or handles the underflow (masked: ST(0) = indefinite). */
function unary(cpu: Cpu, d: number): number {
  enter(cpu, d, 0xd9);
  const t = phys(cpu, 0);
  if (isEmpty(cpu, t)) {
    if (underflow(cpu)) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
    return -1;
  }
  return t;
}

function fchs(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) return;
  cpu.fpSe[t] = cpu.fpSe[t]! ^ 0x8000;
  cpu.fsw &= ~C1;
}
function fabs(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) return;
  cpu.fpSe[t] = cpu.fpSe[t]! & 0x7fff;
  cpu.fsw &= ~C1;
}
function ftst(cpu: Cpu, d: number): void {
  enter(cpu, d, 0xd9);
  compareWith(cpu, phys(cpu, 0), 0, 0, 0, 0, false, 0);
}

/** FXAM (SDM Vol. 2 "FXAM", Table 3-xx): C3 C2 C0 class, C1 sign. */
function fxam(cpu: Cpu, d: number): void {
  enter(cpu, d, 0xd9);
  const t = phys(cpu, 0);
  const se = cpu.fpSe[t]!;
  let cc: number;
  if (isEmpty(cpu, t)) cc = Fsw.C3 | Fsw.C0;
  else {
    const c = classify(se, cpu.fpHi[t]!, cpu.fpLo[t]!);
    if (c === Cls.Zero) cc = Fsw.C3;
    else if (c === Cls.Denormal) cc = Fsw.C3 | Fsw.C2;
    else if (c === Cls.Normal) cc = Fsw.C2;
    else if (c === Cls.Inf) cc = Fsw.C2 | Fsw.C0;
    else if (c === Cls.Invalid) cc = 0;
    else cc = Fsw.C0;
  }
  if ((se & 0x8000) !== 0) cc |= C1;
  cpu.fsw = (cpu.fsw & ~CC_MASK) | cc;
}

/**
 * FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: the constants with their next bits so the
 * last bit follows FCW.RC (SDM Vol. 1 §8.3.8): [se, hi, lo, next 32 bits].
 */
const CONSTS = new Int32Array([
  0x3fff, 0x80000000 | 0, 0, 0,
  0x4000, 0xd49a784b | 0, 0xcd1b8afe | 0, 0x492bf6ff,
  0x3fff, 0xb8aa3b29 | 0, 0x5c17f0bb, 0xbe87fed0 | 0,
  0x4000, 0xc90fdaa2 | 0, 0x2168c234, 0xc4c6628b | 0,
  0x3ffd, 0x9a209a84 | 0, 0xfbcff798 | 0, 0x8f8959ac | 0,
  0x3ffe, 0xb17217f7 | 0, 0xd1cf79ab | 0, 0xc9e3b398 | 0,
  0, 0, 0, 0,
]);
function fldConst(k: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, 0xd9);
    const se = CONSTS[k * 4]!;
    const hi = CONSTS[k * 4 + 1]!;
    let lo = CONSTS[k * 4 + 2]!;
    const next = CONSTS[k * 4 + 3]!;
    const rc = (cpu.fcw >>> 10) & 3;
    // Round the 96-bit constant (positive): nearest uses the next bit (never a tie here); up adds 1 if any next bit.
    if ((rc === 0 && next < 0) || (rc === 2 && next !== 0)) lo = (lo + 1) | 0;
    pushValue(cpu, se, hi, lo, 0);
  };
}

/** One-operand arithmetic on ST(0): FSQRT, FRNDINT. */
function fsqrtH(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) return;
  setControl(cpu.fcw);
  sqrt(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!);
  storeResult(cpu, t, r80.flags);
}
function frndint(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) return;
  setControl(cpu.fcw);
  roundInt(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!);
  storeResult(cpu, t, r80.flags);
}

/** Two-operand forms on ST(0), ST(1) with ST(0) as the destination: FSCALE, FPREM, FPREM1. */
function binary01(cpu: Cpu, d: number): number {
  enter(cpu, d, 0xd9);
  const t = phys(cpu, 0);
  const s = phys(cpu, 1);
  if (isEmpty(cpu, t) || isEmpty(cpu, s)) {
    if (underflow(cpu)) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
    return -1;
  }
  return t;
}
function fscale(cpu: Cpu, d: number): void {
  const t = binary01(cpu, d);
  if (t < 0) return;
  const s = phys(cpu, 1);
  setControl(cpu.fcw);
  scale(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!);
  storeResult(cpu, t, r80.flags);
}
/**
 * FPREM/FPREM1: C2 = 1 for an incomplete reduction, else C0/C3/C1 = quotient bits Q2/Q1/Q0. A
 * NaN result, a blocked operation and a stack underflow clear C1 and C2 and keep C0 and C3
 * (host behaviour).
 */
function fpremH(nearest: boolean): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    const t = binary01(cpu, d);
    if (t < 0) {
      cpu.fsw &= ~(C1 | Fsw.C2);
      return;
    }
    const s = phys(cpu, 1);
    setControl(cpu.fcw);
    prem(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, cpu.fpSe[s]!, cpu.fpHi[s]!, cpu.fpLo[s]!, nearest);
    const q = r80.q;
    const c2 = r80.c2;
    const nan = (r80.se & 0x7fff) === 0x7fff && ((r80.hi & 0x7fffffff) | r80.lo) !== 0;
    if (!storeResult(cpu, t, r80.flags) || nan) {
      cpu.fsw &= ~(C1 | Fsw.C2);
      return;
    }
    let cc = c2 !== 0 ? Fsw.C2 : 0;
    if (c2 === 0) cc |= ((q & 4) !== 0 ? Fsw.C0 : 0) | ((q & 2) !== 0 ? Fsw.C3 : 0) | ((q & 1) !== 0 ? C1 : 0);
    cpu.fsw = (cpu.fsw & ~CC_MASK) | cc;
  };
}
function fxtract(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) {
    // Masked underflow: ST(0) = indefinite, and the indefinite is pushed too.
    if ((cpu.fsw & SF) !== 0 && (cpu.fcw & IE) !== 0 && isEmpty(cpu, (cpu.fpTop - 1) & 7)) push(cpu, INDEF_SE, INDEF_HI, 0);
    return;
  }
  if (!isEmpty(cpu, (cpu.fpTop - 1) & 7)) {
    // Masked overflow: ST(0) becomes the indefinite too, then the indefinite is pushed (host).
    if ((cpu.fcw & IE) !== 0) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
    pushOverflow(cpu);
    return;
  }
  extract(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!);
  const se = r80.se;
  const hi = r80.hi;
  const lo = r80.lo;
  if (raiseFlags(cpu, r80.flags)) return;
  cpu.fsw &= ~C1;
  setReg(cpu, t, x2.se, x2.hi, x2.lo);
  push(cpu, se, hi, lo);
}

// ---- transcendentals (math in transcendental.ts) -----------------------------------------

/**
 * FCW mask bits (OM 0x08, UM 0x10) whose clear state asks the math for the unbounded-exponent
 * result: a register destination then receives the result rebiased by -/+24576 (SDM Vol. 1
 * §4.9.1.4-5), which transcendental.ts produces when passed these bits.
 */
const TR_UNMASKABLE = 0x18;

/** Applies tr's result to ST(0) (physical t) unless blocked; returns false if blocked. */
function trStore(cpu: Cpu, t: number): boolean {
  const c1 = tr.c1;
  if (raiseFlags(cpu, tr.flags)) {
    cpu.fsw &= ~C1;
    return false;
  }
  setReg(cpu, t, tr.se, tr.hi, tr.lo);
  setC1(cpu, c1);
  return true;
}

/** FSIN (kind 0), FCOS (1), FSINCOS (2), FPTAN (3): C2 = 1 and no change when |x| >= 2^63. */
function trig(kind: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    const pushes = kind >= 2;
    enter(cpu, d, 0xd9);
    const t = phys(cpu, 0);
    if (isEmpty(cpu, t)) {
      if (underflow(cpu)) {
        setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
        if (pushes && isEmpty(cpu, (t - 1) & 7)) push(cpu, INDEF_SE, INDEF_HI, 0);
      }
      cpu.fsw &= ~Fsw.C2;
      return;
    }
    if (pushes && !isEmpty(cpu, (t - 1) & 7)) {
      // Stack overflow (FSINCOS, FPTAN): masked, ST(0) becomes the indefinite too, then the
      // indefinite is pushed (as FXTRACT; measured on the host); C2 is cleared.
      if ((cpu.fcw & IE) !== 0) setReg(cpu, t, INDEF_SE, INDEF_HI, 0);
      pushOverflow(cpu);
      cpu.fsw &= ~Fsw.C2;
      return;
    }
    const rc = (cpu.fcw >>> 10) & 3;
    const se = cpu.fpSe[t]!;
    const hi = cpu.fpHi[t]!;
    const lo = cpu.fpLo[t]!;
    const unm = ~cpu.fcw & TR_UNMASKABLE;
    if (kind === 0) fsin(se, hi, lo, rc, unm);
    else if (kind === 1) fcos(se, hi, lo, rc, unm);
    else if (kind === 2) fsincos(se, hi, lo, rc, unm);
    else fptan(se, hi, lo, rc, unm);
    if (tr.c2 !== 0) {
      cpu.fsw |= Fsw.C2;
      cpu.fsw &= ~C1;
      return;
    }
    cpu.fsw &= ~Fsw.C2;
    const se2 = tr.se2;
    const hi2 = tr.hi2;
    const lo2 = tr.lo2;
    const nan = (tr.se & 0x7fff) === 0x7fff && (tr.hi & 0x7fffffff | tr.lo) !== 0;
    if (!trStore(cpu, t)) return;
    if (kind === 2) push(cpu, se2, hi2, lo2);
    else if (kind === 3) {
      // FPTAN pushes 1.0 (a NaN result pushes the NaN again; SDM Vol. 2 "FPTAN").
      if (nan) push(cpu, tr.se, tr.hi, tr.lo);
      else push(cpu, 0x3fff, 0x80000000 | 0, 0);
    }
  };
}

function f2xm1H(cpu: Cpu, d: number): void {
  const t = unary(cpu, d);
  if (t < 0) return;
  f2xm1(cpu.fpSe[t]!, cpu.fpHi[t]!, cpu.fpLo[t]!, (cpu.fcw >>> 10) & 3, ~cpu.fcw & TR_UNMASKABLE);
  trStore(cpu, t);
}

/** FYL2X (0), FYL2XP1 (1), FPATAN (2): ST(1) = f(ST(1), ST(0)), pop. */
function trBinary(kind: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, 0xd9);
    const t = phys(cpu, 0);
    const s = phys(cpu, 1);
    if (isEmpty(cpu, t) || isEmpty(cpu, s)) {
      if (underflow(cpu)) {
        setReg(cpu, s, INDEF_SE, INDEF_HI, 0);
        pop(cpu);
      }
      return;
    }
    const rc = (cpu.fcw >>> 10) & 3;
    const xs = cpu.fpSe[t]!;
    const xh = cpu.fpHi[t]!;
    const xl = cpu.fpLo[t]!;
    const ys = cpu.fpSe[s]!;
    const yh = cpu.fpHi[s]!;
    const yl = cpu.fpLo[s]!;
    const unm = ~cpu.fcw & TR_UNMASKABLE;
    if (kind === 0) fyl2x(ys, yh, yl, xs, xh, xl, rc, unm);
    else if (kind === 1) fyl2xp1(ys, yh, yl, xs, xh, xl, rc, unm);
    else fpatan(ys, yh, yl, xs, xh, xl, rc, unm);
    if (trStore(cpu, s)) pop(cpu);
  };
}

// ---- stack and control -----------------------------------------------------------------

function fincstp(cpu: Cpu, d: number): void {
  enter(cpu, d, 0xd9);
  cpu.fpTop = (cpu.fpTop + 1) & 7;
  cpu.fsw &= ~C1;
}
function fdecstp(cpu: Cpu, d: number): void {
  enter(cpu, d, 0xd9);
  cpu.fpTop = (cpu.fpTop - 1) & 7;
  cpu.fsw &= ~C1;
}
function ffree(doPop: boolean, opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => {
    enter(cpu, d, opByte);
    cpu.fpEmpty |= 1 << phys(cpu, (cpu.rec[d + R_INFO]! >>> 24) & 7);
    cpu.fsw &= ~C1;
    if (doPop) pop(cpu);
  };
}
function fnop(opByte: number): (cpu: Cpu, d: number) => void {
  return (cpu, d) => enter(cpu, d, opByte);
}
/** FNENI/FNDISI/FNSETPM (DB E0/E1/E4): no operation on later processors, no wait. */
function fnopNoWait(cpu: Cpu): void {
  x87Available(cpu);
}

/** FNINIT (SDM Vol. 2 "FINIT/FNINIT"): FCW 037FH, FSW 0, all empty, pointers cleared. */
export function fpuInit(cpu: Cpu): void {
  cpu.fcw = 0x37f;
  cpu.fsw = 0;
  cpu.fpTop = 0;
  cpu.fpEmpty = 0xff;
  cpu.fipLo = cpu.fipHi = cpu.fcs = 0;
  cpu.fdpLo = cpu.fdpHi = cpu.fds = 0;
  cpu.fop = 0;
  if (cpu.ferr) setFerr(cpu, false);
}
function fninit(cpu: Cpu): void {
  x87Available(cpu);
  fpuInit(cpu);
}
function fnclex(cpu: Cpu): void {
  x87Available(cpu);
  cpu.fsw &= ~(0x3f | SF | Fsw.ES | Fsw.B);
  if (cpu.ferr) setFerr(cpu, false);
}
function fullFsw(cpu: Cpu): number {
  return (cpu.fsw & ~0x3800) | (cpu.fpTop << 11);
}
function fnstswAx(cpu: Cpu): void {
  x87Available(cpu);
  const g = cpu.gpr;
  g[0] = (g[0]! & ~0xffff) | fullFsw(cpu);
}
function fnstswMem(cpu: Cpu, d: number): void {
  x87Available(cpu);
  const lo = memAddr(cpu, d, 2, true);
  cpu.wr16(lo, cpu.hi, fullFsw(cpu));
}
function fnstcw(cpu: Cpu, d: number): void {
  x87Available(cpu);
  const lo = memAddr(cpu, d, 2, true);
  cpu.wr16(lo, cpu.hi, cpu.fcw);
}
function fldcw(cpu: Cpu, d: number): void {
  x87Available(cpu);
  x87Pending(cpu);
  const lo = memAddr(cpu, d, 2, false);
  cpu.fcw = (cpu.rd16(lo, cpu.hi) & FCW_BITS) | 0x40;
  updateEs(cpu);
}
function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) cpu.raise(stateNs.Vector.NM);
  x87Pending(cpu);
}

/** The full tag word (SDM Vol. 1 §8.1.7): 00 valid, 01 zero, 10 special, 11 empty, by physical register. */
function tagWord(cpu: Cpu): number {
  let tw = 0;
  for (let p = 0; p < 8; p++) {
    let tag: number;
    if (isEmpty(cpu, p)) tag = 3;
    else {
      const c = classify(cpu.fpSe[p]!, cpu.fpHi[p]!, cpu.fpLo[p]!);
      tag = c === Cls.Normal ? 0 : c === Cls.Zero ? 1 : 2;
    }
    tw |= tag << (p * 2);
  }
  return tw;
}

/** Real-address or virtual-8086 mode: the environment image holds linear pointers. */
function realFormat(cpu: Cpu): boolean {
  return (cpu.cr0 & Cr0.PE) === 0 || (cpu.flags & Flag.VM) !== 0;
}

/** Size of the environment image: 14 bytes with a 16-bit operand size, else 28. */
function envSize(cpu: Cpu, d: number): number {
  return ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 1 ? 14 : 28;
}

/** Address helpers for the environment image (no closures on the hot path). */
function envAt(lo: number, k: number): number {
  return (lo + k) | 0;
}
function envHk(cpu: Cpu, lo: number, hi: number, k: number): number {
  return highAfter(cpu, lo, hi, k);
}
function envRd(cpu: Cpu, lo: number, hi: number, o16: boolean, k: number): number {
  return o16 ? cpu.rd16(envAt(lo, k), envHk(cpu, lo, hi, k)) : cpu.rd32(envAt(lo, k), envHk(cpu, lo, hi, k));
}

/** Writes the 14- or 28-byte environment (SDM Vol. 1 Figures 8-9..8-12); returns its size. */
function storeEnv(cpu: Cpu, d: number, lo: number, hi: number): number {
  const o16 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 1;
  const real = realFormat(cpu);
  const size = o16 ? 14 : 28;
  // Probe both ends for write access first.
  cpu.rdw8(lo, hi);
  cpu.rdw8(envAt(lo, size - 1), envHk(cpu, lo, hi, size - 1));
  const fsw = fullFsw(cpu);
  const tw = tagWord(cpu);
  if (o16) {
    cpu.wr16(lo, hi, cpu.fcw);
    cpu.wr16(envAt(lo, 2), envHk(cpu, lo, hi, 2), fsw);
    cpu.wr16(envAt(lo, 4), envHk(cpu, lo, hi, 4), tw);
    if (real) {
      const ip = (cpu.fipLo + (cpu.fcs << 4)) | 0;
      const dp = (cpu.fdpLo + (cpu.fds << 4)) | 0;
      cpu.wr16(envAt(lo, 6), envHk(cpu, lo, hi, 6), ip);
      cpu.wr16(envAt(lo, 8), envHk(cpu, lo, hi, 8), ((ip >>> 4) & 0xf000) | (cpu.fop & 0x7ff));
      cpu.wr16(envAt(lo, 10), envHk(cpu, lo, hi, 10), dp);
      cpu.wr16(envAt(lo, 12), envHk(cpu, lo, hi, 12), (dp >>> 4) & 0xf000);
    } else {
      cpu.wr16(envAt(lo, 6), envHk(cpu, lo, hi, 6), cpu.fipLo);
      cpu.wr16(envAt(lo, 8), envHk(cpu, lo, hi, 8), cpu.fcs);
      cpu.wr16(envAt(lo, 10), envHk(cpu, lo, hi, 10), cpu.fdpLo);
      cpu.wr16(envAt(lo, 12), envHk(cpu, lo, hi, 12), cpu.fds);
    }
  } else {
    cpu.wr32(lo, hi, cpu.fcw | 0xffff0000);
    cpu.wr32(envAt(lo, 4), envHk(cpu, lo, hi, 4), fsw | 0xffff0000);
    cpu.wr32(envAt(lo, 8), envHk(cpu, lo, hi, 8), tw | 0xffff0000);
    if (real) {
      const ip = (cpu.fipLo + (cpu.fcs << 4)) | 0;
      const dp = (cpu.fdpLo + (cpu.fds << 4)) | 0;
      cpu.wr32(envAt(lo, 12), envHk(cpu, lo, hi, 12), (ip & 0xffff) | 0xffff0000);
      cpu.wr32(envAt(lo, 16), envHk(cpu, lo, hi, 16), ((ip >>> 4) & 0x0ffff000) | (cpu.fop & 0x7ff));
      cpu.wr32(envAt(lo, 20), envHk(cpu, lo, hi, 20), (dp & 0xffff) | 0xffff0000);
      cpu.wr32(envAt(lo, 24), envHk(cpu, lo, hi, 24), (dp >>> 4) & 0x0ffff000);
    } else {
      cpu.wr32(envAt(lo, 12), envHk(cpu, lo, hi, 12), cpu.fipLo);
      cpu.wr32(envAt(lo, 16), envHk(cpu, lo, hi, 16), (cpu.fcs & 0xffff) | ((cpu.fop & 0x7ff) << 16));
      cpu.wr32(envAt(lo, 20), envHk(cpu, lo, hi, 20), cpu.fdpLo);
      cpu.wr32(envAt(lo, 24), envHk(cpu, lo, hi, 24), (cpu.fds & 0xffff) | 0xffff0000);
    }
  }
  return size;
}

/** Reads the environment (FLDENV/FRSTOR); returns its size. */
function loadEnv(cpu: Cpu, d: number, lo: number, hi: number): number {
  const o16 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 1;
  const real = realFormat(cpu);
  const step = o16 ? 2 : 4;
  const fcw = envRd(cpu, lo, hi, o16, 0) & 0xffff;
  const fsw = envRd(cpu, lo, hi, o16, step) & 0xffff;
  const tw = envRd(cpu, lo, hi, o16, step * 2) & 0xffff;
  const w3 = envRd(cpu, lo, hi, o16, step * 3);
  const w4 = envRd(cpu, lo, hi, o16, step * 4);
  const w5 = envRd(cpu, lo, hi, o16, step * 5);
  const w6 = envRd(cpu, lo, hi, o16, step * 6);
  cpu.fcw = (fcw & FCW_BITS) | 0x40;
  cpu.fsw = fsw & ~0x3800;
  cpu.fpTop = (fsw >>> 11) & 7;
  let empty = 0;
  for (let p = 0; p < 8; p++) if (((tw >>> (p * 2)) & 3) === 3) empty |= 1 << p;
  cpu.fpEmpty = empty;
  if (real) {
    const shift = o16 ? 4 : 4;
    cpu.fipLo = (w3 & 0xffff) | ((w4 << shift) & 0xffff0000);
    cpu.fop = w4 & 0x7ff;
    cpu.fdpLo = (w5 & 0xffff) | ((w6 << shift) & 0xffff0000);
    cpu.fcs = cpu.fds = 0;
  } else {
    cpu.fipLo = o16 ? w3 & 0xffff : w3;
    cpu.fcs = w4 & 0xffff;
    cpu.fop = o16 ? cpu.fop : (w4 >>> 16) & 0x7ff;
    cpu.fdpLo = o16 ? w5 & 0xffff : w5;
    cpu.fds = w6 & 0xffff;
  }
  cpu.fipHi = cpu.fdpHi = 0;
  updateEs(cpu);
  return o16 ? 14 : 28;
}

function fnstenv(cpu: Cpu, d: number): void {
  x87Available(cpu);
  const lo = memAddr(cpu, d, envSize(cpu, d), true);
  storeEnv(cpu, d, lo, cpu.hi);
  // FSTENV masks all exceptions after storing (SDM Vol. 2 "FSTENV/FNSTENV").
  cpu.fcw |= 0x3f;
  updateEs(cpu);
}
function fldenv(cpu: Cpu, d: number): void {
  x87Available(cpu);
  x87Pending(cpu);
  const lo = memAddr(cpu, d, envSize(cpu, d), false);
  loadEnv(cpu, d, lo, cpu.hi);
}
function fnsave(cpu: Cpu, d: number): void {
  x87Available(cpu);
  const lo = memAddr(cpu, d, envSize(cpu, d) + 80, true);
  const hi = cpu.hi;
  const o16 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 1;
  const end = (o16 ? 94 : 108) - 1;
  cpu.rdw8((lo + end) | 0, highAfter(cpu, lo, hi, end));
  const base = storeEnv(cpu, d, lo, hi);
  for (let i = 0; i < 8; i++) {
    const p = phys(cpu, i);
    const k = base + i * 10;
    cpu.wr64((lo + k) | 0, highAfter(cpu, lo, hi, k), cpu.fpLo[p]!, cpu.fpHi[p]!);
    cpu.wr16((lo + k + 8) | 0, highAfter(cpu, lo, hi, k + 8), cpu.fpSe[p]!);
  }
  fpuInit(cpu);
}
function frstor(cpu: Cpu, d: number): void {
  x87Available(cpu);
  x87Pending(cpu);
  const lo = memAddr(cpu, d, envSize(cpu, d) + 80, false);
  const hi = cpu.hi;
  const o16 = ((cpu.rec[d + R_INFO]! >>> 4) & 3) === 1;
  const base = o16 ? 14 : 28;
  // Read the registers first (a fault leaves the state unchanged), then the environment.
  const regs = frstorScratch;
  for (let i = 0; i < 8; i++) {
    const k = base + i * 10;
    regs[i * 3] = cpu.rd64((lo + k) | 0, highAfter(cpu, lo, hi, k));
    regs[i * 3 + 1] = cpu.hi;
    regs[i * 3 + 2] = cpu.rd16((lo + k + 8) | 0, highAfter(cpu, lo, hi, k + 8));
  }
  loadEnv(cpu, d, lo, hi);
  for (let i = 0; i < 8; i++) {
    const p = phys(cpu, i);
    cpu.fpLo[p] = regs[i * 3]!;
    cpu.fpHi[p] = regs[i * 3 + 1]!;
    cpu.fpSe[p] = regs[i * 3 + 2]!;
  }
}
const frstorScratch = new Int32Array(24);

// ---- installation ------------------------------------------------------------------------

function reg(op: number, r: number, h: number): void {
  setOp(OpMap.One, op, h, { reg: r, mod3: false });
}
function rm(op: number, r: number, i: number, h: number): void {
  setOp(OpMap.One, op, h, { reg: r, rm: i, mod3: true });
}
function rmAll(op: number, r: number, h: number): void {
  for (let i = 0; i < 8; i++) rm(op, r, i, h);
}

export function installX87(): void {
  const def = defineHandler;
  // Memory forms of the arithmetic rows (SDM Vol. 2 Tables ).
  const rows: [number, number][] = [
    [0xd8, 0],
    [0xda, 1],
    [0xdc, 2],
    [0xde, 3],
  ];
  for (const [op, kind] of rows) {
    const h = def(`x87 arith m ${op.toString(16)}`, arithMem(kind, op));
    for (let r = 0; r < 8; r++) reg(op, r, h);
  }
  // Register forms.
  const d8 = def('x87 arith D8 reg', arithReg(0xd8));
  const dc = def('x87 arith DC reg', arithReg(0xdc));
  const de = def('x87 arith DE reg', arithReg(0xde));
  for (const r of [0, 1, 4, 5, 6, 7]) {
    rmAll(0xd8, r, d8);
    rmAll(0xdc, r, dc);
    rmAll(0xde, r, de);
  }
  rmAll(0xd8, 2, def('fcom st(i)', compareReg(false, 0, 0xd8)));
  rmAll(0xd8, 3, def('fcomp st(i)', compareReg(false, 1, 0xd8)));
  rmAll(0xdc, 2, def('fcom2', compareReg(false, 0, 0xdc)));
  rmAll(0xdc, 3, def('fcomp3', compareReg(false, 1, 0xdc)));
  rmAll(0xde, 2, def('fcomp5', compareReg(false, 1, 0xde)));
  rm(0xde, 3, 1, def('fcompp', compareReg(false, 2, 0xde)));
  rm(0xda, 5, 1, def('fucompp', compareReg(true, 2, 0xda)));
  rmAll(0xdd, 4, def('fucom', compareReg(true, 0, 0xdd)));
  rmAll(0xdd, 5, def('fucomp', compareReg(true, 1, 0xdd)));
  rmAll(0xdb, 5, def('fucomi', comi(true, false, 0xdb)));
  rmAll(0xdb, 6, def('fcomi', comi(false, false, 0xdb)));
  rmAll(0xdf, 5, def('fucomip', comi(true, true, 0xdf)));
  rmAll(0xdf, 6, def('fcomip', comi(false, true, 0xdf)));
  // FCMOVcc: condition codes of Jcc (B=2, E=4, BE=6, P=10; NB=3, NE=5, NBE=7, NP=11).
  const ccs = [2, 4, 6, 10];
  for (let r = 0; r < 4; r++) {
    rmAll(0xda, r, def(`fcmov ${ccs[r]}`, fcmov(ccs[r]!, 0xda)));
    rmAll(0xdb, r, def(`fcmovn ${ccs[r]}`, fcmov(ccs[r]! + 1, 0xdb)));
  }
  // Loads and stores.
  reg(0xd9, 0, def('fld m32', fldMem(0, 0xd9)));
  reg(0xdd, 0, def('fld m64', fldMem(1, 0xdd)));
  reg(0xdb, 5, def('fld m80', fldMem(2, 0xdb)));
  reg(0xdf, 0, def('fild m16', fldMem(3, 0xdf)));
  reg(0xdb, 0, def('fild m32', fldMem(4, 0xdb)));
  reg(0xdf, 5, def('fild m64', fldMem(5, 0xdf)));
  reg(0xdf, 4, def('fbld', fldMem(6, 0xdf)));
  rmAll(0xd9, 0, def('fld st(i)', fldReg));
  reg(0xd9, 2, def('fst m32', fstMem(0, false, false, 0xd9)));
  reg(0xd9, 3, def('fstp m32', fstMem(0, true, false, 0xd9)));
  reg(0xdd, 2, def('fst m64', fstMem(1, false, false, 0xdd)));
  reg(0xdd, 3, def('fstp m64', fstMem(1, true, false, 0xdd)));
  reg(0xdb, 7, def('fstp m80', fstMem(2, true, false, 0xdb)));
  reg(0xdf, 2, def('fist m16', fstMem(3, false, false, 0xdf)));
  reg(0xdf, 3, def('fistp m16', fstMem(3, true, false, 0xdf)));
  reg(0xdb, 2, def('fist m32', fstMem(4, false, false, 0xdb)));
  reg(0xdb, 3, def('fistp m32', fstMem(4, true, false, 0xdb)));
  reg(0xdf, 7, def('fistp m64', fstMem(5, true, false, 0xdf)));
  reg(0xdf, 6, def('fbstp', fstMem(6, true, false, 0xdf)));
  const sse3 = Cpuid1Ecx.SSE3;
  reg(0xdf, 1, def('fisttp m16', gated('leaf1Ecx', sse3, fstMem(3, true, true, 0xdf))));
  reg(0xdb, 1, def('fisttp m32', gated('leaf1Ecx', sse3, fstMem(4, true, true, 0xdb))));
  reg(0xdd, 1, def('fisttp m64', gated('leaf1Ecx', sse3, fstMem(5, true, true, 0xdd))));
  rmAll(0xdd, 2, def('fst st(i)', fstReg(false, 0xdd)));
  rmAll(0xdd, 3, def('fstp st(i)', fstReg(true, 0xdd)));
  rmAll(0xd9, 3, def('fstp1', fstReg(true, 0xd9)));
  rmAll(0xdf, 2, def('fstp8', fstReg(true, 0xdf)));
  rmAll(0xdf, 3, def('fstp9', fstReg(true, 0xdf)));
  rmAll(0xd9, 1, def('fxch', fxch(0xd9)));
  rmAll(0xdd, 1, def('fxch4', fxch(0xdd)));
  rmAll(0xdf, 1, def('fxch7', fxch(0xdf)));
  rmAll(0xdd, 0, def('ffree', ffree(false, 0xdd)));
  rmAll(0xdf, 0, def('ffreep', ffree(true, 0xdf)));
  // D9 D0-FF.
  rm(0xd9, 2, 0, def('fnop', fnop(0xd9)));
  rm(0xd9, 4, 0, def('fchs', fchs));
  rm(0xd9, 4, 1, def('fabs', fabs));
  rm(0xd9, 4, 4, def('ftst', ftst));
  rm(0xd9, 4, 5, def('fxam', fxam));
  for (let k = 0; k < 7; k++) rm(0xd9, 5, k, def(`fld const ${k}`, fldConst(k)));
  rm(0xd9, 6, 0, def('f2xm1', f2xm1H));
  rm(0xd9, 6, 1, def('fyl2x', trBinary(0)));
  rm(0xd9, 6, 2, def('fptan', trig(3)));
  rm(0xd9, 6, 3, def('fpatan', trBinary(2)));
  rm(0xd9, 6, 4, def('fxtract', fxtract));
  rm(0xd9, 6, 5, def('fprem1', fpremH(true)));
  rm(0xd9, 6, 6, def('fdecstp', fdecstp));
  rm(0xd9, 6, 7, def('fincstp', fincstp));
  rm(0xd9, 7, 0, def('fprem', fpremH(false)));
  rm(0xd9, 7, 1, def('fyl2xp1', trBinary(1)));
  rm(0xd9, 7, 2, def('fsqrt', fsqrtH));
  rm(0xd9, 7, 3, def('fsincos', trig(2)));
  rm(0xd9, 7, 4, def('frndint', frndint));
  rm(0xd9, 7, 5, def('fscale', fscale));
  rm(0xd9, 7, 6, def('fsin', trig(0)));
  rm(0xd9, 7, 7, def('fcos', trig(1)));
  // DB E0-E4.
  const nopNw = def('fneni/fndisi/fnsetpm', fnopNoWait);
  rm(0xdb, 4, 0, nopNw);
  rm(0xdb, 4, 1, nopNw);
  rm(0xdb, 4, 4, nopNw);
  rm(0xdb, 4, 2, def('fnclex', fnclex));
  rm(0xdb, 4, 3, def('fninit', fninit));
  rm(0xdf, 4, 0, def('fnstsw ax', fnstswAx));
  // Control and state.
  reg(0xd9, 4, def('fldenv', fldenv));
  reg(0xd9, 5, def('fldcw', fldcw));
  reg(0xd9, 6, def('fnstenv', fnstenv));
  reg(0xd9, 7, def('fnstcw', fnstcw));
  reg(0xdd, 4, def('frstor', frstor));
  reg(0xdd, 6, def('fnsave', fnsave));
  reg(0xdd, 7, def('fnstsw m16', fnstswMem));
  setOp(OpMap.One, 0x9b, def('fwait', fwait));
}
