/**
 * Data movement and flag instructions: MOV (all forms), MOVZX/MOVSX/MOVSXD, LEA, XCHG,
 * CBW/CWDE/CDQE, CWD/CDQ/CQO, LAHF/SAHF, CLC/STC/CMC/CLD/STD, CMOVcc, SETcc, BSWAP, XLAT,
 * and the NOP family (SDM Vol. 2 instruction pages).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as segmentsNs from '../segments.js';
import * as stateNs from '../state.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { byteRegOf, I_MEM, I_REX, R_IMM, R_IMM2, R_INFO, R_REG, R_RM } = decodedNs;
const { arithFlags, condition, getOF, setArithFlags } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { loadSegment } = segmentsNs;
const { CodeMode, Flag, Seg } = stateNs;
const { ea, memAddr, readReg, readRm, readRm16, readRm8, segLinear, writeReg, writeRm, SIZE_BYTES } = operandsNs;

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

function movRmReg(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const v = readReg(cpu, cpu.rec[d + R_REG]!, o);
  writeRm(cpu, d, o, v, cpu.hi);
}

function movRegRm(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const v = readRm(cpu, d, o);
  writeReg(cpu, cpu.rec[d + R_REG]!, o, v, cpu.hi);
}

/** MOV r/m, Sreg (8C): a register destination receives the zero-extended selector. */
function movRmSreg(cpu: Cpu, d: number): void {
  const s = cpu.rec[d + R_REG]! & 7;
  if (s > 5) cpu.ud();
  const sel = cpu.segSel[s]!;
  const o = osz(cpu, d);
  if ((cpu.rec[d + R_INFO]! & I_MEM) !== 0) writeRm(cpu, d, 1, sel, 0);
  else writeReg(cpu, cpu.rec[d + R_RM]!, o === 1 ? 1 : o, sel, 0);
}

/** MOV Sreg, r/m (8E): CS is #UD; SS starts an interrupt shadow (SDM Vol. 3 §6.8.3). */
function movSregRm(cpu: Cpu, d: number): void {
  const s = cpu.rec[d + R_REG]! & 7;
  if (s === Seg.CS || s > 5) cpu.ud();
  const sel = readRm16(cpu, d);
  loadSegment(cpu, s, sel);
  if (s === Seg.SS) {
    cpu.interruptShadow = true;
    cpu.exitBlock = true;
  }
}

/** LEA (8D): the effective address, truncated to the operand size; a register operand is #UD. */
function lea(cpu: Cpu, d: number): void {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) cpu.ud();
  ea(cpu, d);
  const o = osz(cpu, d);
  writeReg(cpu, cpu.rec[d + R_REG]!, o, cpu.eaLo, cpu.eaHi);
}

/** MOV AL/eAX, moffs and MOV moffs, AL/eAX (A0-A3). */
function movMoffs(cpu: Cpu, d: number, toAcc: boolean): void {
  const info = cpu.rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const asz = (info >>> 6) & 3;
  const seg = (info >>> 8) & 7;
  let offLo = cpu.rec[d + R_IMM]!;
  const offHi = asz === 3 ? cpu.rec[d + R_IMM2]! : 0;
  if (asz === 1) offLo &= 0xffff;
  const size = SIZE_BYTES[o]!;
  const lo = segLinear(cpu, seg, offLo, offHi, size, !toAcc);
  const hi = cpu.hi;
  if (toAcc) {
    let v: number;
    let vHi = 0;
    if (o === 0) v = cpu.rd8(lo, hi);
    else if (o === 1) v = cpu.rd16(lo, hi);
    else if (o === 2) v = cpu.rd32(lo, hi);
    else {
      v = cpu.rd64(lo, hi);
      vHi = cpu.hi;
    }
    writeReg(cpu, 0, o, v, vHi);
  } else {
    const v = readReg(cpu, 0, o);
    if (o === 0) cpu.wr8(lo, hi, v);
    else if (o === 1) cpu.wr16(lo, hi, v);
    else if (o === 2) cpu.wr32(lo, hi, v);
    else cpu.wr64(lo, hi, v, cpu.hi);
  }
}

/** MOV reg, imm (B0-BF). */
function movRegImm(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  writeReg(cpu, cpu.rec[d + R_REG]!, o, cpu.rec[d + R_IMM]!, cpu.rec[d + R_IMM2]!);
}

/** MOV r/m, imm (C6/C7 /0): the 64-bit form sign-extends imm32. */
function movRmImm(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const imm = cpu.rec[d + R_IMM]!;
  writeRm(cpu, d, o, imm, imm >> 31);
}

/** MOVZX (0F B6, 0F B7). */
function movzx(cpu: Cpu, d: number, srcWord: boolean): void {
  const o = osz(cpu, d);
  const info = cpu.rec[d + R_INFO]!;
  let v: number;
  if (srcWord) v = readRm16(cpu, d);
  else if ((info & I_MEM) === 0) v = cpu.getReg8(byteRegOf(cpu.rec[d + R_RM]!, info));
  else v = readRm8(cpu, d);
  writeReg(cpu, cpu.rec[d + R_REG]!, o, v, 0);
}

/** MOVSX (0F BE, 0F BF). */
function movsx(cpu: Cpu, d: number, srcWord: boolean): void {
  const o = osz(cpu, d);
  const info = cpu.rec[d + R_INFO]!;
  let v: number;
  if (srcWord) v = (readRm16(cpu, d) << 16) >> 16;
  else if ((info & I_MEM) === 0) v = (cpu.getReg8(byteRegOf(cpu.rec[d + R_RM]!, info)) << 24) >> 24;
  else v = (readRm8(cpu, d) << 24) >> 24;
  writeReg(cpu, cpu.rec[d + R_REG]!, o, v, v >> 31);
}

/**
 * MOVSXD (63 in 64-bit mode): sign-extends a 32-bit source to 64 bits; without REX.W it moves
 * 32 bits (zero-extended), with 66 it moves 16 bits (the source is then a 16-bit operand).
 */
function movsxd(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const v = readRm(cpu, d, o === 1 ? 1 : 2);
  writeReg(cpu, cpu.rec[d + R_REG]!, o, v, v >> 31);
}

/** XCHG r/m, reg (86, 87): always locked with memory. */
function xchgRmReg(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const reg = cpu.rec[d + R_REG]!;
  const info = cpu.rec[d + R_INFO]!;
  let a: number;
  let aHi = 0;
  if ((info & I_MEM) !== 0) {
    const size = SIZE_BYTES[o]!;
    const lo = memAddr(cpu, d, size, true);
    const hi = cpu.hi;
    cpu.lastLo = lo;
    cpu.lastHi = hi;
    if (o === 0) a = cpu.rdw8(lo, hi);
    else if (o === 1) a = cpu.rdw16(lo, hi);
    else if (o === 2) a = cpu.rdw32(lo, hi);
    else {
      a = cpu.rdw64(lo, hi);
      aHi = cpu.hi;
    }
    const b = readReg(cpu, reg, o);
    const bHi = cpu.hi;
    if (o === 0) cpu.wr8(lo, hi, b);
    else if (o === 1) cpu.wr16(lo, hi, b);
    else if (o === 2) cpu.wr32(lo, hi, b);
    else cpu.wr64(lo, hi, b, bHi);
    writeReg(cpu, reg, o, a, aHi);
    return;
  }
  const rm = cpu.rec[d + R_RM]!;
  a = readReg(cpu, rm, o);
  aHi = cpu.hi;
  const b = readReg(cpu, reg, o);
  const bHi = cpu.hi;
  writeReg(cpu, rm, o, b, bHi);
  writeReg(cpu, reg, o, a, aHi);
}

/** XCHG rAX, reg (90-97). 90 without REX.B is NOP (no zero-extension of EAX, SDM Vol. 2 "XCHG"). */
export function xchgAcc(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const reg = cpu.rec[d + R_REG]!;
  if (reg === 0) return; // NOP: XCHG (E/R)AX with itself changes nothing

  const a = readReg(cpu, 0, o);
  const aHi = cpu.hi;
  const b = readReg(cpu, reg, o);
  writeReg(cpu, 0, o, b, cpu.hi);
  writeReg(cpu, reg, o, a, aHi);
}

/** CBW / CWDE / CDQE (98). */
function cbw(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const g = cpu.gpr;
  if (o === 1) g[0] = (g[0]! & ~0xffff) | (((g[0]! << 24) >> 24) & 0xffff);
  else if (o === 2) cpu.setReg32(0, (g[0]! << 16) >> 16);
  else cpu.gprHi[0] = g[0]! >> 31;
}

/** CWD / CDQ / CQO (99). */
function cwd(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const g = cpu.gpr;
  if (o === 1) g[2] = (g[2]! & ~0xffff) | ((((g[0]! << 16) >> 16) >> 31) & 0xffff);
  else if (o === 2) cpu.setReg32(2, g[0]! >> 31);
  else {
    const s = cpu.gprHi[0]! >> 31;
    g[2] = s;
    cpu.gprHi[2] = s;
  }
}

/** LAHF (9F): AH = SF:ZF:0:AF:0:PF:1:CF. */
function lahf(cpu: Cpu): void {
  lahfAllowed(cpu);
  const f = arithFlags(cpu) | Flag.Fixed1;
  cpu.gpr[0] = (cpu.gpr[0]! & ~0xff00) | ((f & 0xd7) << 8);
}

/** LAHF/SAHF in 64-bit mode need CPUID.80000001H:ECX.LAHF-SAHF[0] (SDM Vol. 2 "LAHF"). */
function lahfAllowed(cpu: Cpu): void {
  if (cpu.mode === CodeMode.Bits64 && (cpu.model.ext1Ecx & 1) === 0) cpu.ud();
}

/** SAHF (9E): SF, ZF, AF, PF, CF from AH; OF unchanged. */
function sahf(cpu: Cpu): void {
  lahfAllowed(cpu);
  const ah = (cpu.gpr[0]! >> 8) & 0xd5;
  const of = getOF(cpu);
  setArithFlags(cpu, ah | (of << 11));
}

function setCarry(cpu: Cpu, mode: number): void {
  const f = arithFlags(cpu);
  const cf = mode === 0 ? 0 : mode === 1 ? 1 : (f & 1) ^ 1;
  setArithFlags(cpu, (f & ~1) | cf);
}

/** CMOVcc (0F 40-4F): the source is always read; a 32-bit destination is zero-extended even when false. */
function cmov(cpu: Cpu, d: number, cc: number): void {
  const o = osz(cpu, d);
  const v = readRm(cpu, d, o);
  const vHi = cpu.hi;
  const reg = cpu.rec[d + R_REG]!;
  if (condition(cpu, cc)) writeReg(cpu, reg, o, v, vHi);
  else if (o === 2) cpu.gprHi[reg] = 0;
}

/** SETcc (0F 90-9F). */
function setcc(cpu: Cpu, d: number, cc: number): void {
  writeRm(cpu, d, 0, condition(cpu, cc) ? 1 : 0, 0);
}

/** BSWAP (0F C8-CF); the 16-bit form is undefined and clears the register's low word (as hardware does). */
function sw(x: number): number {
  return ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
}

function bswap(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const r = cpu.rec[d + R_REG]!;
  const g = cpu.gpr;
  if (o === 3) {
    const lo = g[r]!;
    g[r] = sw(cpu.gprHi[r]!);
    cpu.gprHi[r] = sw(lo);
  } else if (o === 2) cpu.setReg32(r, sw(g[r]!));
  else g[r] = g[r]! & ~0xffff;
}

/** XLAT (D7): AL = [seg:rBX + AL]. */
function xlat(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  const asz = (info >>> 6) & 3;
  const seg = (info >>> 8) & 7;
  const al = cpu.gpr[0]! & 0xff;
  let lo: number;
  let hi = 0;
  if (asz === 1) lo = (cpu.gpr[3]! + al) & 0xffff;
  else if (asz === 2) lo = (cpu.gpr[3]! + al) | 0;
  else {
    const s = (cpu.gpr[3]! >>> 0) + al;
    lo = s | 0;
    hi = (cpu.gprHi[3]! + (s > 0xffff_ffff ? 1 : 0)) | 0;
  }
  const a = segLinear(cpu, seg, lo, hi, 1, false);
  cpu.setReg8(0, cpu.rd8(a, cpu.hi));
}

/** NOP r/m (0F 1F, 0F 18-1E hints, 0F 0D): the operand is decoded but not accessed. */
function nopRm(): void {
  // Nothing.
}

export function installMov(): void {
  const mrr = defineHandler('mov rm,reg', movRmReg);
  setOp(OpMap.One, 0x88, mrr);
  setOp(OpMap.One, 0x89, mrr);
  const mrm = defineHandler('mov reg,rm', movRegRm);
  setOp(OpMap.One, 0x8a, mrm);
  setOp(OpMap.One, 0x8b, mrm);
  setOp(OpMap.One, 0x8c, defineHandler('mov rm,sreg', movRmSreg));
  setOp(OpMap.One, 0x8e, defineHandler('mov sreg,rm', movSregRm));
  setOp(OpMap.One, 0x8d, defineHandler('lea', lea));
  const mtoA = defineHandler('mov acc,moffs', (cpu, d) => movMoffs(cpu, d, true));
  const mfromA = defineHandler('mov moffs,acc', (cpu, d) => movMoffs(cpu, d, false));
  setOp(OpMap.One, 0xa0, mtoA);
  setOp(OpMap.One, 0xa1, mtoA);
  setOp(OpMap.One, 0xa2, mfromA);
  setOp(OpMap.One, 0xa3, mfromA);
  const mri = defineHandler('mov reg,imm', movRegImm);
  for (let i = 0xb0; i < 0xc0; i++) setOp(OpMap.One, i, mri);
  const mrmi = defineHandler('mov rm,imm', movRmImm);
  setOp(OpMap.One, 0xc6, mrmi, { reg: 0 });
  setOp(OpMap.One, 0xc7, mrmi, { reg: 0 });
  setOp(OpMap.Two, 0xb6, defineHandler('movzx rm8', (cpu, d) => movzx(cpu, d, false)));
  setOp(OpMap.Two, 0xb7, defineHandler('movzx rm16', (cpu, d) => movzx(cpu, d, true)));
  setOp(OpMap.Two, 0xbe, defineHandler('movsx rm8', (cpu, d) => movsx(cpu, d, false)));
  setOp(OpMap.Two, 0xbf, defineHandler('movsx rm16', (cpu, d) => movsx(cpu, d, true)));
  const xrr = defineHandler('xchg rm,reg', xchgRmReg);
  setOp(OpMap.One, 0x86, xrr);
  setOp(OpMap.One, 0x87, xrr);
  const xa = defineHandler('xchg acc,reg', xchgAcc);
  for (let i = 0x90; i < 0x98; i++) setOp(OpMap.One, i, xa);
  setOp(OpMap.One, 0x98, defineHandler('cbw', cbw));
  setOp(OpMap.One, 0x99, defineHandler('cwd', cwd));
  setOp(OpMap.One, 0x9e, defineHandler('sahf', sahf));
  setOp(OpMap.One, 0x9f, defineHandler('lahf', lahf));
  setOp(OpMap.One, 0xf8, defineHandler('clc', (cpu) => setCarry(cpu, 0)));
  setOp(OpMap.One, 0xf9, defineHandler('stc', (cpu) => setCarry(cpu, 1)));
  setOp(OpMap.One, 0xf5, defineHandler('cmc', (cpu) => setCarry(cpu, 2)));
  setOp(OpMap.One, 0xfc, defineHandler('cld', (cpu) => void (cpu.flags &= ~Flag.DF)));
  setOp(OpMap.One, 0xfd, defineHandler('std', (cpu) => void (cpu.flags |= Flag.DF)));
  for (let cc = 0; cc < 16; cc++) {
    setOp(OpMap.Two, 0x40 + cc, defineHandler(`cmov${cc}`, (cpu, d) => cmov(cpu, d, cc)));
    setOp(OpMap.Two, 0x90 + cc, defineHandler(`set${cc}`, (cpu, d) => setcc(cpu, d, cc)));
  }
  const bs = defineHandler('bswap', bswap);
  for (let i = 0xc8; i < 0xd0; i++) setOp(OpMap.Two, i, bs);
  setOp(OpMap.One, 0xd7, defineHandler('xlat', xlat));
  const npRm = defineHandler('nop rm', nopRm);
  for (let i = 0x18; i < 0x20; i++) setOp(OpMap.Two, i, npRm);
  setOp(OpMap.Two, 0x0d, npRm);
}

/** MOVSXD is installed by the mode-dependent 63 handler (ARPL outside 64-bit mode). */
export function movsxdOrArpl(cpu: Cpu, d: number, arpl: (cpu: Cpu, d: number) => void): void {
  if (cpu.mode === CodeMode.Bits64) movsxd(cpu, d);
  else arpl(cpu, d);
}

export { I_REX };
