/**
 * Port I/O: IN and OUT (a first set: IOPL and the TSS I/O permission bitmap come next).
 */
import type { Cpu } from '../cpu.js';
import { R_IMM, R_INFO } from '../decoded.js';
import { defineHandler, OpMap, setOp } from '../optable.js';

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

const IO_SIZE = [1, 2, 4, 4] as const;

function ioSize(cpu: Cpu, d: number): 1 | 2 | 4 {
  return IO_SIZE[osz(cpu, d)]!;
}

function inImm(cpu: Cpu, d: number): void {
  const size = ioSize(cpu, d);
  const v = cpu.ioRead(cpu.rec[d + R_IMM]! & 0xff, size);
  writeAcc(cpu, size, v);
}
function inDx(cpu: Cpu, d: number): void {
  const size = ioSize(cpu, d);
  const v = cpu.ioRead(cpu.gpr[2]! & 0xffff, size);
  writeAcc(cpu, size, v);
}
function outImm(cpu: Cpu, d: number): void {
  const size = ioSize(cpu, d);
  cpu.ioWrite(cpu.rec[d + R_IMM]! & 0xff, size, readAcc(cpu, size));
}
function outDx(cpu: Cpu, d: number): void {
  const size = ioSize(cpu, d);
  cpu.ioWrite(cpu.gpr[2]! & 0xffff, size, readAcc(cpu, size));
}
function readAcc(cpu: Cpu, size: number): number {
  const v = cpu.gpr[0]!;
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v >>> 0;
}
function writeAcc(cpu: Cpu, size: number, v: number): void {
  if (size === 1) cpu.setReg8(0, v);
  else if (size === 2) cpu.setReg16(0, v);
  else cpu.setReg32(0, v | 0);
}

export function installIo(): void {
  const ii = defineHandler('in imm', inImm);
  setOp(OpMap.One, 0xe4, ii);
  setOp(OpMap.One, 0xe5, ii);
  const id = defineHandler('in dx', inDx);
  setOp(OpMap.One, 0xec, id);
  setOp(OpMap.One, 0xed, id);
  const oi = defineHandler('out imm', outImm);
  setOp(OpMap.One, 0xe6, oi);
  setOp(OpMap.One, 0xe7, oi);
  const od = defineHandler('out dx', outDx);
  setOp(OpMap.One, 0xee, od);
  setOp(OpMap.One, 0xef, od);
}
