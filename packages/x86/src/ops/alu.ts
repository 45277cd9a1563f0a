/**
 * Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP in every form
 * (00-3F, group 1 80-83), TEST, INC, DEC, NOT, NEG (SDM Vol. 2 instruction pages).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_INFO, R_REG } = decodedNs;
const { flagsAdd, flagsAdd64, flagsLogic, flagsLogic64, flagsSub, flagsSub64, AUX_AF, AUX_CF, AUX_PO } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { readReg, readRm, readRmw, writeBack, writeReg } = operandsNs;

/** ALU operation numbers: the ModRM.reg of group 1 and bits 5:3 of opcodes 00-3F. */
export const Alu = { ADD: 0, OR: 1, ADC: 2, SBB: 3, AND: 4, SUB: 5, XOR: 6, CMP: 7 } as const;

const SIZE_OF = [1, 2, 4, 4] as const;

/**
 * Computes `a op b` at operand size `osz` (0-2), sets the flags and returns the result.
 * For 64-bit operations use {@link alu64}.
 */
export function alu(cpu: Cpu, op: number, osz: number, a: number, b: number): number {
  const size = SIZE_OF[osz]!;
  let r: number;
  switch (op) {
    case Alu.ADD:
      r = (a + b) | 0;
      flagsAdd(cpu, size, a, b, r);
      return r;
    case Alu.OR:
      r = a | b;
      flagsLogic(cpu, size, r);
      return r;
    case Alu.ADC:
      r = (a + b + (cpu.fAux >>> 31)) | 0;
      flagsAdd(cpu, size, a, b, r);
      return r;
    case Alu.SBB:
      r = (a - b - (cpu.fAux >>> 31)) | 0;
      flagsSub(cpu, size, a, b, r);
      return r;
    case Alu.AND:
      r = a & b;
      flagsLogic(cpu, size, r);
      return r;
    case Alu.SUB:
    case Alu.CMP:
      r = (a - b) | 0;
      flagsSub(cpu, size, a, b, r);
      return r;
    default:
      r = a ^ b;
      flagsLogic(cpu, size, r);
      return r;
  }
}

/** 64-bit ALU operation: returns the low half, high half in cpu.hi. */
export function alu64(cpu: Cpu, op: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  let lo: number;
  let hi: number;
  switch (op) {
    case Alu.ADD:
    case Alu.ADC: {
      const c = op === Alu.ADC ? cpu.fAux >>> 31 : 0;
      const s = (aLo >>> 0) + (bLo >>> 0) + c;
      lo = s | 0;
      hi = (aHi + bHi + (s > 0xffff_ffff ? 1 : 0)) | 0;
      flagsAdd64(cpu, aLo, aHi, bLo, bHi, lo, hi);
      break;
    }
    case Alu.SUB:
    case Alu.CMP:
    case Alu.SBB: {
      const c = op === Alu.SBB ? cpu.fAux >>> 31 : 0;
      const s = (aLo >>> 0) - (bLo >>> 0) - c;
      lo = s | 0;
      hi = (aHi - bHi - (s < 0 ? 1 : 0)) | 0;
      flagsSub64(cpu, aLo, aHi, bLo, bHi, lo, hi);
      break;
    }
    case Alu.OR:
      lo = aLo | bLo;
      hi = aHi | bHi;
      flagsLogic64(cpu, lo, hi);
      break;
    case Alu.AND:
      lo = aLo & bLo;
      hi = aHi & bHi;
      flagsLogic64(cpu, lo, hi);
      break;
    default:
      lo = aLo ^ bLo;
      hi = aHi ^ bHi;
      flagsLogic64(cpu, lo, hi);
      break;
  }
  cpu.hi = hi;
  return lo;
}

/** op r/m, reg (00, 01, 08, ...): destination is r/m. */
function aluRmReg(cpu: Cpu, d: number, op: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  if (op === Alu.CMP) {
    const a = readRm(cpu, d, osz);
    const aHi = cpu.hi;
    const b = readReg(cpu, reg, osz);
    if (osz === 3) alu64(cpu, op, a, aHi, b, cpu.hi);
    else alu(cpu, op, osz, a, b);
    return;
  }
  const a = readRmw(cpu, d, osz);
  const aHi = cpu.hi;
  const b = readReg(cpu, reg, osz);
  if (osz === 3) {
    const r = alu64(cpu, op, a, aHi, b, cpu.hi);
    writeBack(cpu, d, 3, r, cpu.hi);
  } else {
    writeBack(cpu, d, osz, alu(cpu, op, osz, a, b), 0);
  }
}

/** op reg, r/m (02, 03, ...): destination is the register. */
function aluRegRm(cpu: Cpu, d: number, op: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  const b = readRm(cpu, d, osz);
  const bHi = cpu.hi;
  const a = readReg(cpu, reg, osz);
  if (osz === 3) {
    const r = alu64(cpu, op, a, cpu.hi, b, bHi);
    if (op !== Alu.CMP) writeReg(cpu, reg, 3, r, cpu.hi);
  } else {
    const r = alu(cpu, op, osz, a, b);
    if (op !== Alu.CMP) writeReg(cpu, reg, osz, r, 0);
  }
}

/** op AL/eAX/rAX, imm (04, 05, ...). */
function aluAccImm(cpu: Cpu, d: number, op: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const imm = cpu.rec[d + R_IMM]!;
  const a = readReg(cpu, 0, osz);
  if (osz === 3) {
    const r = alu64(cpu, op, a, cpu.hi, imm, imm >> 31);
    if (op !== Alu.CMP) writeReg(cpu, 0, 3, r, cpu.hi);
  } else {
    const r = alu(cpu, op, osz, a, imm);
    if (op !== Alu.CMP) writeReg(cpu, 0, osz, r, 0);
  }
}

/** Group 1 (80, 81, 82, 83): op r/m, imm; the operation is ModRM.reg. */
function aluRmImm(cpu: Cpu, d: number, op: number, signExtend8: boolean): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  let imm = cpu.rec[d + R_IMM]!;
  if (signExtend8) imm = (imm << 24) >> 24;
  if (op === Alu.CMP) {
    const a = readRm(cpu, d, osz);
    if (osz === 3) alu64(cpu, op, a, cpu.hi, imm, imm >> 31);
    else alu(cpu, op, osz, a, imm);
    return;
  }
  const a = readRmw(cpu, d, osz);
  if (osz === 3) {
    const r = alu64(cpu, op, a, cpu.hi, imm, imm >> 31);
    writeBack(cpu, d, 3, r, cpu.hi);
  } else {
    writeBack(cpu, d, osz, alu(cpu, op, osz, a, imm), 0);
  }
}

/** TEST r/m, reg (84, 85). */
function testRmReg(cpu: Cpu, d: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const a = readRm(cpu, d, osz);
  const aHi = cpu.hi;
  const b = readReg(cpu, cpu.rec[d + R_REG]!, osz);
  if (osz === 3) flagsLogic64(cpu, a & b, aHi & cpu.hi);
  else flagsLogic(cpu, SIZE_OF[osz]!, a & b);
}

/** TEST r/m, imm (F6/F7 /0 and /1) and TEST AL/eAX, imm (A8, A9). */
function testImm(cpu: Cpu, d: number, acc: boolean): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const imm = cpu.rec[d + R_IMM]!;
  const a = acc ? readReg(cpu, 0, osz) : readRm(cpu, d, osz);
  if (osz === 3) flagsLogic64(cpu, a & imm, cpu.hi & (imm >> 31));
  else flagsLogic(cpu, SIZE_OF[osz]!, a & imm);
}

/** INC/DEC keep CF (SDM Vol. 2 "INC", "DEC"). */
function incDec(cpu: Cpu, osz: number, a: number, aHi: number, dec: boolean): number {
  const cf = cpu.fAux & AUX_CF;
  let r: number;
  if (osz === 3) {
    if (dec) {
      r = alu64(cpu, Alu.SUB, a, aHi, 1, 0);
    } else {
      r = alu64(cpu, Alu.ADD, a, aHi, 1, 0);
    }
  } else {
    r = alu(cpu, dec ? Alu.SUB : Alu.ADD, osz, a, 1);
  }
  // Keep the old CF; re-encode OF = newCF ^ newPO as oldCF ^ PO'.
  const aux = cpu.fAux;
  const of = (aux ^ (aux << 1)) >>> 31;
  cpu.fAux = (aux & ~(AUX_CF | AUX_PO)) | cf | (((cf >>> 31) ^ of) << 30);
  return r;
}

function incDecRm(cpu: Cpu, d: number, dec: boolean): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const a = readRmw(cpu, d, osz);
  const r = incDec(cpu, osz, a, cpu.hi, dec);
  writeBack(cpu, d, osz, r, cpu.hi);
}

/** INC/DEC r16/r32 (40-4F outside 64-bit mode). */
function incDecReg(cpu: Cpu, d: number, dec: boolean): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  const r = incDec(cpu, osz, readReg(cpu, reg, osz), 0, dec);
  writeReg(cpu, reg, osz, r, 0);
}

/** NOT r/m (F6/F7 /2): no flags. */
function notRm(cpu: Cpu, d: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const a = readRmw(cpu, d, osz);
  writeBack(cpu, d, osz, ~a, ~cpu.hi);
}

/** NEG r/m (F6/F7 /3): 0 - x, CF = (x != 0). */
function negRm(cpu: Cpu, d: number): void {
  const osz = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const a = readRmw(cpu, d, osz);
  if (osz === 3) {
    const r = alu64(cpu, Alu.SUB, 0, 0, a, cpu.hi);
    writeBack(cpu, d, 3, r, cpu.hi);
  } else {
    writeBack(cpu, d, osz, alu(cpu, Alu.SUB, osz, 0, a), 0);
  }
}

export function installAlu(): void {
  for (let op = 0; op < 8; op++) {
    const base = op * 8;
    const hRmReg = defineHandler(`alu${op} rm,reg`, (cpu, d) => aluRmReg(cpu, d, op));
    const hRegRm = defineHandler(`alu${op} reg,rm`, (cpu, d) => aluRegRm(cpu, d, op));
    const hAcc = defineHandler(`alu${op} acc,imm`, (cpu, d) => aluAccImm(cpu, d, op));
    const hImm = defineHandler(`alu${op} rm,imm`, (cpu, d) => aluRmImm(cpu, d, op, false));
    const hImm8 = defineHandler(`alu${op} rm,imm8`, (cpu, d) => aluRmImm(cpu, d, op, true));
    setOp(OpMap.One, base, hRmReg);
    setOp(OpMap.One, base + 1, hRmReg);
    setOp(OpMap.One, base + 2, hRegRm);
    setOp(OpMap.One, base + 3, hRegRm);
    setOp(OpMap.One, base + 4, hAcc);
    setOp(OpMap.One, base + 5, hAcc);
    setOp(OpMap.One, 0x80, hImm, { reg: op });
    setOp(OpMap.One, 0x81, hImm, { reg: op });
    setOp(OpMap.One, 0x82, hImm, { reg: op });
    setOp(OpMap.One, 0x83, hImm8, { reg: op });
  }
  const test = defineHandler('test rm,reg', testRmReg);
  setOp(OpMap.One, 0x84, test);
  setOp(OpMap.One, 0x85, test);
  const testAcc = defineHandler('test acc,imm', (cpu, d) => testImm(cpu, d, true));
  setOp(OpMap.One, 0xa8, testAcc);
  setOp(OpMap.One, 0xa9, testAcc);
  const testRm = defineHandler('test rm,imm', (cpu, d) => testImm(cpu, d, false));
  const not = defineHandler('not', notRm);
  const neg = defineHandler('neg', negRm);
  for (const o of [0xf6, 0xf7]) {
    setOp(OpMap.One, o, testRm, { reg: 0 });
    setOp(OpMap.One, o, testRm, { reg: 1 });
    setOp(OpMap.One, o, not, { reg: 2 });
    setOp(OpMap.One, o, neg, { reg: 3 });
  }
  const inc = defineHandler('inc rm', (cpu, d) => incDecRm(cpu, d, false));
  const dec = defineHandler('dec rm', (cpu, d) => incDecRm(cpu, d, true));
  setOp(OpMap.One, 0xfe, inc, { reg: 0 });
  setOp(OpMap.One, 0xfe, dec, { reg: 1 });
  setOp(OpMap.One, 0xff, inc, { reg: 0 });
  setOp(OpMap.One, 0xff, dec, { reg: 1 });
  const incR = defineHandler('inc reg', (cpu, d) => incDecReg(cpu, d, false));
  const decR = defineHandler('dec reg', (cpu, d) => incDecReg(cpu, d, true));
  for (let i = 0; i < 8; i++) {
    setOp(OpMap.One, 0x40 + i, incR);
    setOp(OpMap.One, 0x48 + i, decR);
  }
}

export { AUX_AF };
