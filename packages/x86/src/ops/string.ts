/**
 * String instructions MOVS, CMPS, STOS, LODS, SCAS (A4-AF) with REP (F3), REPE (F3 with
 * CMPS/SCAS) and REPNE (F2) prefixes (SDM Vol. 2 instruction pages and "REP/REPE/REPZ/REPNE/
 * REPNZ"; Vol. 1 §7.3.9).
 *
 * - The index registers (rSI, rDI) and the count register (rCX) follow the ADDRESS size: 16-bit
 *   updates leave the upper bits alone, 32-bit updates zero-extend (in 64-bit mode), 64-bit
 *   updates use the whole register.
 * - The source (rSI) segment is DS or the override; the destination is always ES:rDI (whose
 *   base is ignored in 64-bit mode like every segment but FS/GS).
 * - DF selects the direction. F2 with MOVS/STOS/LODS repeats like F3.
 * - Restartable: every iteration commits rSI/rDI/rCX after its memory accesses, so a fault in
 *   the middle leaves the registers describing the iterations done and RIP at the instruction.
 *   At most {@link MAX_ITERATIONS} iterations run per dispatch (one while TF is set, so the
 *   single-step trap follows each iteration); if more remain the instruction is not retired
 *   (next RIP = RIP) and the block ends, so the run loop polls for interrupts in between.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';
import * as aluNs from './alu.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_REP, I_REPNE, R_INFO } = decodedNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { Flag, Seg } = stateNs;
const { alu, alu64, Alu } = aluNs;
const { readAt, segLinear, writeAt, writeReg } = operandsNs;

/** Iterations per dispatch before the instruction yields to the run loop. */
export const MAX_ITERATIONS = 1024;

const SIZE = [1, 2, 4, 8] as const;

/** String operations. */
const Str = { MOVS: 0, CMPS: 1, STOS: 2, LODS: 3, SCAS: 4 } as const;

// Per-instruction scratch (no allocation): the current index register offsets.
let siLo = 0;
let siHi = 0;
let diLo = 0;
let diHi = 0;

/** Reads the index register `r` (6 or 7) at address size `asz` into the given scratch. */
function readIndex(cpu: Cpu, r: number, asz: number): number {
  const v = cpu.gpr[r]!;
  cpu.hi = asz === 3 ? cpu.gprHi[r]! : 0;
  return asz === 1 ? v & 0xffff : v;
}

/** Adds `delta` (small, signed) to register `r` at address size `asz`. */
function stepIndex(cpu: Cpu, r: number, asz: number, delta: number): void {
  const g = cpu.gpr;
  if (asz === 1) {
    g[r] = (g[r]! & ~0xffff) | ((g[r]! + delta) & 0xffff);
  } else if (asz === 2) {
    g[r] = (g[r]! + delta) | 0;
    cpu.gprHi[r] = 0;
  } else {
    const s = (g[r]! >>> 0) + delta;
    g[r] = s | 0;
    if (s > 0xffff_ffff) cpu.gprHi[r] = (cpu.gprHi[r]! + 1) | 0;
    else if (s < 0) cpu.gprHi[r] = (cpu.gprHi[r]! - 1) | 0;
  }
}

/** Whether the count register is zero at address size `asz`. */
function countIsZero(cpu: Cpu, asz: number): boolean {
  const g = cpu.gpr;
  if (asz === 1) return (g[1]! & 0xffff) === 0;
  if (asz === 2) return g[1] === 0;
  return g[1] === 0 && cpu.gprHi[1] === 0;
}



/** Source linear address (seg:rSI) for an access of `size` bytes. */
function srcLinear(cpu: Cpu, seg: number, asz: number, size: number): number {
  siLo = readIndex(cpu, 6, asz);
  siHi = cpu.hi;
  return segLinear(cpu, seg, siLo, siHi, size, false);
}

/** Destination linear address (ES:rDI). */
function dstLinear(cpu: Cpu, asz: number, size: number, write: boolean): number {
  diLo = readIndex(cpu, 7, asz);
  diHi = cpu.hi;
  return segLinear(cpu, Seg.ES, diLo, diHi, size, write);
}

/**
 * One iteration of `op`. Returns the ZF the iteration produced (CMPS/SCAS), else true.
 * Registers are updated only after the memory accesses succeed.
 */
function iterate(cpu: Cpu, op: number, o: number, asz: number, seg: number, delta: number): boolean {
  const size = SIZE[o]!;
  switch (op) {
    case Str.MOVS: {
      const s = srcLinear(cpu, seg, asz, size);
      const sh = cpu.hi;
      const v = readAt(cpu, s, sh, o);
      const vHi = cpu.hi;
      const t = dstLinear(cpu, asz, size, true);
      writeAt(cpu, t, cpu.hi, o, v, vHi);
      stepIndex(cpu, 6, asz, delta);
      stepIndex(cpu, 7, asz, delta);
      return true;
    }
    case Str.STOS: {
      const t = dstLinear(cpu, asz, size, true);
      writeAt(cpu, t, cpu.hi, o, cpu.gpr[0]!, cpu.gprHi[0]!);
      stepIndex(cpu, 7, asz, delta);
      return true;
    }
    case Str.LODS: {
      const s = srcLinear(cpu, seg, asz, size);
      const v = readAt(cpu, s, cpu.hi, o);
      writeReg(cpu, 0, o, v, cpu.hi);
      stepIndex(cpu, 6, asz, delta);
      return true;
    }
    case Str.CMPS: {
      const s = srcLinear(cpu, seg, asz, size);
      const a = readAt(cpu, s, cpu.hi, o);
      const aHi = cpu.hi;
      const t = dstLinear(cpu, asz, size, false);
      const b = readAt(cpu, t, cpu.hi, o);
      const bHi = cpu.hi;
      if (o === 3) alu64(cpu, Alu.CMP, a, aHi, b, bHi);
      else alu(cpu, Alu.CMP, o, a, b);
      stepIndex(cpu, 6, asz, delta);
      stepIndex(cpu, 7, asz, delta);
      return (cpu.fRes | cpu.fResHi) === 0;
    }
    default: {
      // SCAS: compare the accumulator with ES:rDI.
      const t = dstLinear(cpu, asz, size, false);
      const b = readAt(cpu, t, cpu.hi, o);
      const bHi = cpu.hi;
      if (o === 3) alu64(cpu, Alu.CMP, cpu.gpr[0]!, cpu.gprHi[0]!, b, bHi);
      else alu(cpu, Alu.CMP, o, cpu.gpr[0]!, b);
      stepIndex(cpu, 7, asz, delta);
      return (cpu.fRes | cpu.fResHi) === 0;
    }
  }
}

/** Decrements the count register at address size `asz`. */
function decCount(cpu: Cpu, asz: number): void {
  stepIndex(cpu, 1, asz, -1);
}

function stringOp(cpu: Cpu, d: number, op: number): void {
  const info = cpu.rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const asz = (info >>> 6) & 3;
  const seg = (info >>> 8) & 7;
  const delta = (cpu.flags & Flag.DF) !== 0 ? -SIZE[o]! : SIZE[o]!;
  if ((info & (I_REP | I_REPNE)) === 0) {
    iterate(cpu, op, o, asz, seg, delta);
    return;
  }
  const compares = op === Str.CMPS || op === Str.SCAS;
  // REPE (F3) stops when ZF = 0, REPNE (F2) when ZF = 1.
  const stopOnEqual = (info & I_REPNE) !== 0;
  let n = (cpu.flags & Flag.TF) !== 0 ? 1 : MAX_ITERATIONS;
  // Data-breakpoint hits so far (B0-B3 of pendingDb): a new hit ends the batch (see below).
  const db = cpu.pendingDb & 0xf;
  while (!countIsZero(cpu, asz)) {
    const zf = iterate(cpu, op, o, asz, seg, delta);
    decCount(cpu, asz);
    if (compares && zf === stopOnEqual) return;
    // "Repeated string instructions ... the processor generates the debug exception after the
    // iteration in which the memory address breakpoint location is accessed" (SDM Vol. 3
    // §17.3.1.2): stop right after the iteration that hit, so the #DB trap sees rCX/rSI/rDI as
    // that iteration left them and RIP at this instruction, which resumes after the handler.
    if ((cpu.pendingDb & 0xf) !== db) n = 1;
    // The extension ends the operation after this iteration (cpu.endOperation).
    if (cpu.endOperation) {
      cpu.endOperation = false;
      n = 1;
    }
    if (--n === 0) {
      if (!countIsZero(cpu, asz)) {
        // Not done: come back to this instruction after the run loop has had a look.
        cpu.nipLo = cpu.ripLo;
        cpu.nipHi = cpu.ripHi;
        // With TF set the run loop already stops after this dispatch (and then traps).
        if ((cpu.flags & Flag.TF) === 0) cpu.exitBlock = true;
      }
      return;
    }
  }
}

export function installString(): void {
  const ops: [number, number][] = [
    [0xa4, Str.MOVS],
    [0xa6, Str.CMPS],
    [0xaa, Str.STOS],
    [0xac, Str.LODS],
    [0xae, Str.SCAS],
  ];
  const names = ['movs', 'cmps', 'stos', 'lods', 'scas'];
  for (const [opcode, op] of ops) {
    const h = defineHandler(names[op]!, (cpu, d) => stringOp(cpu, d, op));
    setOp(OpMap.One, opcode, h);
    setOp(OpMap.One, opcode + 1, h);
  }
}
