/**
 * Stack instructions: PUSH/POP (register, immediate, r/m, segment registers), PUSHA/POPA,
 * ENTER/LEAVE (SDM Vol. 2 instruction pages; Vol. 1 §6.2).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as optableNs from '../optable.js';
import * as segmentsNs from '../segments.js';
import * as stateNs from '../state.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, R_IMM, R_IMM2, R_INFO, R_REG } = decodedNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { loadSegment } = segmentsNs;
const { CodeMode, Seg, SegAttr } = stateNs;
const { adjustSp, memAddr, peek, pop, push, readRm, segLinear, writeReg, SIZE_BYTES } = operandsNs;

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

function pushReg(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const r = cpu.rec[d + R_REG]!;
  if (o === 3) push(cpu, 8, cpu.gpr[r]!, cpu.gprHi[r]!);
  else push(cpu, SIZE_BYTES[o]!, cpu.gpr[r]!, 0);
}

function popReg(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const r = cpu.rec[d + R_REG]!;
  const v = pop(cpu, SIZE_BYTES[o]!);
  writeReg(cpu, r, o, v, cpu.hi);
}

/** PUSH imm (68, 6A): sign-extended to the operand size. */
function pushImm(cpu: Cpu, d: number, imm8: boolean): void {
  const o = osz(cpu, d);
  let v = cpu.rec[d + R_IMM]!;
  if (imm8) v = (v << 24) >> 24;
  else if (o === 1) v = (v << 16) >> 16;
  push(cpu, SIZE_BYTES[o]!, v, v >> 31);
}

/** PUSH r/m (FF /6): default operand size 64 in 64-bit mode (FF's format is shared with INC/DEC). */
function pushRm(cpu: Cpu, d: number): void {
  let o = osz(cpu, d);
  if (o === 2 && cpu.mode === CodeMode.Bits64) o = 3;
  const v = readRm(cpu, d, o);
  push(cpu, SIZE_BYTES[o]!, v, cpu.hi);
}

/**
 * POP r/m (8F /0). The value is read first; a memory destination that uses RSP as a base is
 * addressed with the incremented RSP (SDM Vol. 2 "POP").
 */
function popRm(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const size = SIZE_BYTES[o]!;
  const v = peek(cpu, size, 0);
  const vHi = cpu.hi;
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) {
    adjustSp(cpu, size);
    writeReg(cpu, cpu.rec[d + 3]!, o, v, vHi);
    return;
  }
  const spLo = cpu.gpr[4]!;
  const spHi = cpu.gprHi[4]!;
  adjustSp(cpu, size);
  try {
    const lo = memAddr(cpu, d, size, true);
    const hi = cpu.hi;
    if (size === 2) cpu.wr16(lo, hi, v);
    else if (size === 4) cpu.wr32(lo, hi, v);
    else cpu.wr64(lo, hi, v, vHi);
  } catch (e) {
    cpu.gpr[4] = spLo;
    cpu.gprHi[4] = spHi;
    throw e;
  }
}

/**
 * PUSH Sreg. With a 32/64-bit operand size, Intel processors write only the low 16 bits of the
 * slot (SDM Vol. 2 "PUSH"), leaving the rest unmodified; AMD zero-extends.
 */
function pushSeg(cpu: Cpu, d: number, seg: number): void {
  const o = osz(cpu, d);
  const size = SIZE_BYTES[o]!;
  const sel = cpu.segSel[seg]!;
  if (size === 2 || cpu.model.vendor === 'amd') {
    push(cpu, size, sel, 0);
    return;
  }
  // Intel: reserve the slot, then write 16 bits into it.
  const old = peek(cpu, size, -size);
  const oldHi = cpu.hi;
  push(cpu, size, (old & ~0xffff) | sel, oldHi);
}

/** POP Sreg: POP SS starts an interrupt shadow (SDM Vol. 3 §6.8.3). */
function popSeg(cpu: Cpu, d: number, seg: number): void {
  const o = osz(cpu, d);
  const size = SIZE_BYTES[o]!;
  const v = peek(cpu, size, 0);
  loadSegment(cpu, seg, v & 0xffff);
  adjustSp(cpu, size);
  if (seg === Seg.SS) {
    cpu.interruptShadow = true;
    cpu.exitBlock = true;
  }
}

/** PUSHA/PUSHAD (60): pushes AX, CX, DX, BX, original SP, BP, SI, DI. */
function pusha(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const size = o === 1 ? 2 : 4;
  const g = cpu.gpr;
  const sp = g[4]!;
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  // Check the whole frame first so a fault leaves ESP unchanged.
  try {
    for (let r = 0; r < 8; r++) push(cpu, size, r === 4 ? sp : g[r]!, 0);
  } catch (e) {
    g[4] = big ? sp : (g[4]! & ~0xffff) | (sp & 0xffff);
    throw e;
  }
}

/** POPA/POPAD (61): the saved SP is skipped. */
function popa(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const size = o === 1 ? 2 : 4;
  const g = cpu.gpr;
  const vals = cpu.frameScratch;
  for (let k = 0; k < 8; k++) vals[k] = peek(cpu, size, k * size);
  for (let k = 0; k < 8; k++) {
    const r = 7 - k;
    if (r === 4) continue;
    writeReg(cpu, r, o === 1 ? 1 : 2, vals[k]!, 0);
  }
  adjustSp(cpu, 8 * size);
  void g;
}

/** LEAVE (C9): rSP = rBP, then pop rBP. */
function leave(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const g = cpu.gpr;
  const spLo = g[4]!;
  const spHi = cpu.gprHi[4]!;
  if (cpu.mode === CodeMode.Bits64) {
    g[4] = g[5]!;
    cpu.gprHi[4] = cpu.gprHi[5]!;
  } else if ((cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0) g[4] = g[5]!;
  else g[4] = (g[4]! & ~0xffff) | (g[5]! & 0xffff);
  try {
    const v = pop(cpu, SIZE_BYTES[o]!);
    writeReg(cpu, 5, o, v, cpu.hi);
  } catch (e) {
    g[4] = spLo;
    cpu.gprHi[4] = spHi;
    throw e;
  }
}

/** ENTER imm16, imm8 (C8) (SDM Vol. 2 "ENTER" Operation). */
function enter(cpu: Cpu, d: number): void {
  const o = osz(cpu, d);
  const size = SIZE_BYTES[o]!;
  const allocSize = cpu.rec[d + R_IMM]! & 0xffff;
  const level = cpu.rec[d + R_IMM2]! & 31;
  const g = cpu.gpr;
  const save = cpu.frameScratch;
  save[0] = g[4]!;
  save[1] = cpu.gprHi[4]!;
  save[2] = g[5]!;
  save[3] = cpu.gprHi[5]!;
  try {
    push(cpu, size, g[5]!, cpu.gprHi[5]!);
    const frameLo = g[4]!;
    const frameHi = cpu.gprHi[4]!;
    const is64 = cpu.mode === CodeMode.Bits64;
    const bigStack = is64 || (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
    if (level > 0) {
      let bpLo = save[2]!;
      let bpHi = save[3]!;
      for (let i = 1; i < level; i++) {
        // Read from [rBP - i*size] in the stack segment.
        const s = (bpLo >>> 0) - size;
        bpLo = bigStack ? s | 0 : (bpLo & ~0xffff) | (s & 0xffff);
        if (is64 && s < 0) bpHi = (bpHi - 1) | 0;
        const offLo = bigStack ? bpLo : bpLo & 0xffff;
        const saveSp = g[4]!;
        const saveSpHi = cpu.gprHi[4]!;
        g[4] = offLo;
        cpu.gprHi[4] = bpHi;
        const v = peek(cpu, size, 0);
        const vHi = cpu.hi;
        g[4] = saveSp;
        cpu.gprHi[4] = saveSpHi;
        push(cpu, size, v, vHi);
      }
      push(cpu, size, frameLo, frameHi);
    }
    // rBP = frame temp; rSP -= size.
    if (o === 1) g[5] = (g[5]! & ~0xffff) | (frameLo & 0xffff);
    else writeReg(cpu, 5, o === 3 ? 3 : 2, frameLo, frameHi);
    adjustSp(cpu, -allocSize);
    // The new top of stack is probed for writing (the #PF error code of hardware has W = 1).
    const top = segLinear(cpu, Seg.SS, bigStack ? g[4]! : g[4]! & 0xffff, is64 ? cpu.gprHi[4]! : 0, 1, true);
    cpu.rdw8(top, cpu.hi);
  } catch (e) {
    g[4] = save[0]!;
    cpu.gprHi[4] = save[1]!;
    g[5] = save[2]!;
    cpu.gprHi[5] = save[3]!;
    throw e;
  }
}

export function installStack(): void {
  const pr = defineHandler('push reg', pushReg);
  const pp = defineHandler('pop reg', popReg);
  for (let i = 0; i < 8; i++) {
    setOp(OpMap.One, 0x50 + i, pr);
    setOp(OpMap.One, 0x58 + i, pp);
  }
  setOp(OpMap.One, 0x68, defineHandler('push imm', (cpu, d) => pushImm(cpu, d, false)));
  setOp(OpMap.One, 0x6a, defineHandler('push imm8', (cpu, d) => pushImm(cpu, d, true)));
  setOp(OpMap.One, 0xff, defineHandler('push rm', pushRm), { reg: 6 });
  setOp(OpMap.One, 0x8f, defineHandler('pop rm', popRm), { reg: 0 });
  const segPush: [number, number, number][] = [
    [OpMap.One, 0x06, Seg.ES],
    [OpMap.One, 0x0e, Seg.CS],
    [OpMap.One, 0x16, Seg.SS],
    [OpMap.One, 0x1e, Seg.DS],
    [OpMap.Two, 0xa0, Seg.FS],
    [OpMap.Two, 0xa8, Seg.GS],
  ];
  for (const [map, op, seg] of segPush) setOp(map as 0 | 1, op, defineHandler(`push ${seg}`, (cpu, d) => pushSeg(cpu, d, seg)));
  const segPop: [number, number, number][] = [
    [OpMap.One, 0x07, Seg.ES],
    [OpMap.One, 0x17, Seg.SS],
    [OpMap.One, 0x1f, Seg.DS],
    [OpMap.Two, 0xa1, Seg.FS],
    [OpMap.Two, 0xa9, Seg.GS],
  ];
  for (const [map, op, seg] of segPop) setOp(map as 0 | 1, op, defineHandler(`pop ${seg}`, (cpu, d) => popSeg(cpu, d, seg)));
  setOp(OpMap.One, 0x60, defineHandler('pusha', pusha));
  setOp(OpMap.One, 0x61, defineHandler('popa', popa));
  setOp(OpMap.One, 0xc9, defineHandler('leave', leave));
  setOp(OpMap.One, 0xc8, defineHandler('enter', enter));
}
