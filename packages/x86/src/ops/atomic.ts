/**
 * Compare-and-exchange and exchange-and-add: CMPXCHG (0F B0/B1), XADD (0F C0/C1),
 * CMPXCHG8B/CMPXCHG16B (0F C7 /1, memory only) (SDM Vol. 2 instruction pages). The emulator
 * runs one CPU thread at a time, so LOCK (validated by the decoder) needs no extra work here.
 *
 * Memory destinations are read with write intent and always written, also when a comparison
 * fails (the SDM: "the destination operand is written back if the comparison fails"), so
 * a read-only page faults either way.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as aluNs from './alu.js';
import * as operandsNs from './operands.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, R_INFO, R_REG } = decodedNs;
const { arithFlags, setArithFlags } = flagsNs;
const { defineHandler, OpMap, setOp } = optableNs;
const { alu, alu64, Alu } = aluNs;
const { memAddr, readReg, readRmw, writeBack, writeReg } = operandsNs;

/**
 * CMPXCHG r/m, reg: compares the accumulator with the destination (flags as CMP acc, dest);
 * equal: dest = reg; else: acc = dest and dest is written back unchanged. A 32-bit register
 * destination is written (zero-extended) only when equal; a 32-bit accumulator only when not.
 */
function cmpxchg(cpu: Cpu, d: number): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const dest = readRmw(cpu, d, o);
  const destHi = cpu.hi;
  const src = readReg(cpu, rec[d + R_REG]!, o);
  const srcHi = cpu.hi;
  const acc = readReg(cpu, 0, o);
  const accHi = cpu.hi;
  let equal: boolean;
  if (o === 3) {
    alu64(cpu, Alu.CMP, acc, accHi, dest, destHi);
    equal = acc === dest && accHi === destHi;
  } else {
    alu(cpu, Alu.CMP, o, acc, dest);
    const mask = o === 0 ? 0xff : o === 1 ? 0xffff : -1;
    equal = ((acc ^ dest) & mask) === 0;
  }
  // The memory write cannot fault: readRmw translated the operand for writing.
  if (equal) {
    writeBack(cpu, d, o, src, srcHi);
  } else {
    if ((info & I_MEM) !== 0) writeBack(cpu, d, o, dest, destHi);
    writeReg(cpu, 0, o, dest, destHi);
  }
}

/** XADD r/m, reg: tmp = dest + src; reg = dest; dest = tmp (the destination is written last). */
function xadd(cpu: Cpu, d: number): void {
  const rec = cpu.rec;
  const o = (rec[d + R_INFO]! >>> 4) & 3;
  const reg = rec[d + R_REG]!;
  const dest = readRmw(cpu, d, o);
  const destHi = cpu.hi;
  const src = readReg(cpu, reg, o);
  const srcHi = cpu.hi;
  let sum: number;
  let sumHi = 0;
  if (o === 3) {
    sum = alu64(cpu, Alu.ADD, dest, destHi, src, srcHi);
    sumHi = cpu.hi;
  } else {
    sum = alu(cpu, Alu.ADD, o, dest, src);
  }
  // The memory write cannot fault (readRmw translated it for writing).
  writeReg(cpu, reg, o, dest, destHi);
  writeBack(cpu, d, o, sum, sumHi);
}

/** Sets ZF only, keeping the other five flags. */
function setZf(cpu: Cpu, zf: boolean): void {
  setArithFlags(cpu, (arithFlags(cpu) & ~0x40) | (zf ? 0x40 : 0));
}

/**
 * CMPXCHG8B m64 / CMPXCHG16B m128 (0F C7 /1): compares EDX:EAX (RDX:RAX) with the memory
 * operand; equal: ZF = 1 and memory = ECX:EBX (RCX:RBX); else ZF = 0 and the accumulator pair
 * receives the memory value (written back unchanged to memory). Only ZF changes. CMPXCHG16B
 * needs a 16-byte aligned operand (#GP(0)); a register operand is #UD.
 */
function cmpxchgNb(cpu: Cpu, d: number): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  if ((info & I_MEM) === 0) cpu.ud();
  const g = cpu.gpr;
  const gh = cpu.gprHi;
  const wide = ((info >>> 4) & 3) === 3;
  // CMPXCHG16B needs CPUID.01H:ECX.CX16, CMPXCHG8B CPUID.01H:EDX.CX8 (SDM Vol. 2 "CMPXCHG8B/CMPXCHG16B").
  if (wide ? (cpu.model.leaf1Ecx & (1 << 13)) === 0 : (cpu.model.leaf1Edx & (1 << 8)) === 0) cpu.ud();
  if (wide) {
    const lo = memAddr(cpu, d, 16, true);
    const hi = cpu.hi;
    if ((lo & 15) !== 0) cpu.gp(0);
    const m0 = cpu.rdw64(lo, hi);
    const m1 = cpu.hi;
    const lo2 = (lo + 8) | 0;
    const m2 = cpu.rdw64(lo2, hi);
    const m3 = cpu.hi;
    const equal = m0 === g[0] && m1 === gh[0] && m2 === g[2] && m3 === gh[2];
    if (equal) {
      cpu.wr64(lo, hi, g[3]!, gh[3]!);
      cpu.wr64(lo2, hi, g[1]!, gh[1]!);
    } else {
      cpu.wr64(lo, hi, m0, m1);
      cpu.wr64(lo2, hi, m2, m3);
      cpu.setReg64(0, m0, m1);
      cpu.setReg64(2, m2, m3);
    }
    setZf(cpu, equal);
    return;
  }
  const lo = memAddr(cpu, d, 8, true);
  const hi = cpu.hi;
  const m0 = cpu.rdw64(lo, hi);
  const m1 = cpu.hi;
  const equal = m0 === g[0] && m1 === g[2];
  if (equal) {
    cpu.wr64(lo, hi, g[3]!, g[1]!);
  } else {
    cpu.wr64(lo, hi, m0, m1);
    cpu.setReg32(0, m0);
    cpu.setReg32(2, m1);
  }
  setZf(cpu, equal);
}

export function installAtomic(): void {
  const cx = defineHandler('cmpxchg', cmpxchg);
  setOp(OpMap.Two, 0xb0, cx);
  setOp(OpMap.Two, 0xb1, cx);
  const xa = defineHandler('xadd', xadd);
  setOp(OpMap.Two, 0xc0, xa);
  setOp(OpMap.Two, 0xc1, xa);
  setOp(OpMap.Two, 0xc7, defineHandler('cmpxchg8b/16b', cmpxchgNb), { reg: 1 });
}
