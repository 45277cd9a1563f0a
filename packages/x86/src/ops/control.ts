/**
 * Near control transfer: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JCXZ/JECXZ/JRCXZ, and the
 * near indirect forms of group 5 (SDM Vol. 2 instruction pages; Vol. 1 §6.3).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_IMM, R_INFO } = decodedNs;
const { condition } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { CodeMode } = stateNs;
const { adjustSp, countIsZero, decrementCount, jumpTo, peek, push, readRm } = operandsNs;

/** Branch target = next RIP + displacement, at the operand size (16-bit targets wrap at 64 KiB). */
function relTarget(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const disp = cpu.rec[d + R_IMM]!;
  if (cpu.mode === CodeMode.Bits64) {
    const s = (cpu.nipLo >>> 0) + disp;
    const hi = (cpu.nipHi + Math.floor(s / 4294967296)) | 0;
    jumpTo(cpu, s | 0, hi, o);
  } else {
    jumpTo(cpu, (cpu.nipLo + disp) | 0, 0, o);
  }
}

/**
 * Handler ids of the conditional branches (Jcc, LOOPcc, JrCXZ). A decoded block continues past
 * them (the not-taken path is the next record); when one is taken it sets `cpu.branched` so the
 * run loop leaves the block for the target.
 */
export const CONDITIONAL_BRANCH = new Uint8Array(8192);

function jcc(cpu: Cpu, d: number, cc: number): void {
  if (condition(cpu, cc)) {
    relTarget(cpu, d);
    cpu.branched = true;
  }
}

function jmpRel(cpu: Cpu, d: number): void {
  relTarget(cpu, d);
}

/** Pushes the return address (the next RIP) at operand size `o`. */
function pushReturn(cpu: Cpu, o: number): void {
  if (o === 3) push(cpu, 8, cpu.nipLo, cpu.nipHi);
  else if (o === 2) push(cpu, 4, cpu.nipLo, 0);
  else push(cpu, 2, cpu.nipLo & 0xffff, 0);
}

function callRel(cpu: Cpu, d: number): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  // Check the target before pushing so a #GP leaves the stack unchanged.
  const retLo = cpu.nipLo;
  const retHi = cpu.nipHi;
  relTarget(cpu, d);
  const tLo = cpu.nipLo;
  const tHi = cpu.nipHi;
  cpu.nipLo = retLo;
  cpu.nipHi = retHi;
  pushReturn(cpu, o);
  cpu.nipLo = tLo;
  cpu.nipHi = tHi;
}

/**
 * Operand size of the near indirect branches (FF /2, FF /4). FF's format is shared with
 * INC/DEC, so the decoder gives the ordinary operand size; in 64-bit mode these are forced to
 * 64 bits, except that AMD honours a 66 prefix (16 bits) (SDM Vol. 2 "CALL", AMD APM Vol. 3).
 */
function nearIndirectOsz(cpu: Cpu, d: number): number {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  if (cpu.mode !== CodeMode.Bits64) return o;
  return o === 1 && cpu.model.vendor === 'amd' ? 1 : 3;
}

/** CALL r/m (FF /2). */
function callRm(cpu: Cpu, d: number): void {
  const o = nearIndirectOsz(cpu, d);
  const t = readRm(cpu, d, o);
  const tHi = o === 3 ? cpu.hi : 0;
  const retLo = cpu.nipLo;
  const retHi = cpu.nipHi;
  jumpTo(cpu, t, tHi, o);
  const nLo = cpu.nipLo;
  const nHi = cpu.nipHi;
  cpu.nipLo = retLo;
  cpu.nipHi = retHi;
  pushReturn(cpu, o);
  cpu.nipLo = nLo;
  cpu.nipHi = nHi;
}

/** JMP r/m (FF /4). */
function jmpRm(cpu: Cpu, d: number): void {
  const o = nearIndirectOsz(cpu, d);
  const t = readRm(cpu, d, o);
  jumpTo(cpu, t, o === 3 ? cpu.hi : 0, o);
}

/** RET / RET imm16 (C3, C2). */
function retNear(cpu: Cpu, d: number, imm: boolean): void {
  const o = (cpu.rec[d + R_INFO]! >>> 4) & 3;
  const size = o === 3 ? 8 : o === 2 ? 4 : 2;
  const t = peek(cpu, size, 0);
  const tHi = o === 3 ? cpu.hi : 0;
  jumpTo(cpu, t, tHi, o);
  adjustSp(cpu, size + (imm ? cpu.rec[d + R_IMM]! & 0xffff : 0));
}



/** LOOP (E2), LOOPE (E1), LOOPNE (E0): decrement the count without touching flags. */
function loop(cpu: Cpu, d: number, kind: number): void {
  const asz = (cpu.rec[d + R_INFO]! >>> 6) & 3;
  decrementCount(cpu, asz);
  if (countIsZero(cpu, asz)) return;
  if (kind === 1 && !condition(cpu, 4)) return; // LOOPE: ZF = 1
  if (kind === 0 && condition(cpu, 4)) return; // LOOPNE: ZF = 0
  relTarget(cpu, d);
  cpu.branched = true;
}

function jcxz(cpu: Cpu, d: number): void {
  const asz = (cpu.rec[d + R_INFO]! >>> 6) & 3;
  if (countIsZero(cpu, asz)) {
    relTarget(cpu, d);
    cpu.branched = true;
  }
}

export function installControl(): void {
  for (let cc = 0; cc < 16; cc++) {
    const h = defineHandler(`j${cc}`, (cpu, d) => jcc(cpu, d, cc));
    CONDITIONAL_BRANCH[h] = 1;
    setOp(OpMap.One, 0x70 + cc, h);
    setOp(OpMap.Two, 0x80 + cc, h);
  }
  const jmp = defineHandler('jmp rel', jmpRel);
  setOp(OpMap.One, 0xeb, jmp);
  setOp(OpMap.One, 0xe9, jmp);
  setOp(OpMap.One, 0xe8, defineHandler('call rel', callRel));
  setOp(OpMap.One, 0xff, defineHandler('call rm', callRm), { reg: 2 });
  setOp(OpMap.One, 0xff, defineHandler('jmp rm', jmpRm), { reg: 4 });
  setOp(OpMap.One, 0xc3, defineHandler('ret', (cpu, d) => retNear(cpu, d, false)));
  setOp(OpMap.One, 0xc2, defineHandler('ret imm', (cpu, d) => retNear(cpu, d, true)));
  const loopIds = [
    defineHandler('loopne', (cpu, d) => loop(cpu, d, 0)),
    defineHandler('loope', (cpu, d) => loop(cpu, d, 1)),
    defineHandler('loop', (cpu, d) => loop(cpu, d, 2)),
    defineHandler('jcxz', jcxz),
  ];
  for (let i = 0; i < 4; i++) {
    setOp(OpMap.One, 0xe0 + i, loopIds[i]!);
    CONDITIONAL_BRANCH[loopIds[i]!] = 1;
  }
}
