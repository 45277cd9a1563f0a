/**
 * Miscellaneous user-mode instructions (SDM Vol. 2 instruction pages):
 * PUSHF/POPF (9C/9D) with the privilege rules of "POPF" and the VME rules of Vol. 3 §20.3,
 * RDRAND/RDSEED (0F C7 /6 /7, register form), PAUSE (F3 90), LFENCE/MFENCE/SFENCE
 * (0F AE /5 /6 /7 with a register operand), CLFLUSH/CLFLUSHOPT (0F AE /7 and 66 0F AE /7 with a
 * memory operand), CRC32 (F2 0F 38 F0/F1; SSE4.2, but an integer instruction), and named #UD
 * handlers for UD0 (0F FF), UD1 (0F B9) and UD2 (0F 0B).
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as extensionNs from '../extension.js';
import * as flagsNs from '../flags.js';
import * as optableNs from '../optable.js';
import * as stateNs from '../state.js';
import * as operandsNs from './operands.js';
import * as movNs from './mov.js';
import { Cpuid1Ecx, Cpuid7Ebx } from '../model.js';
import { gated } from './feature.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { byteRegOf, I_MEM, I_REP, I_REPNE, R_INFO, R_REG, R_RM } = decodedNs;
const { Intercept } = extensionNs;
const { setArithFlags } = flagsNs;
const { defineHandler, OpMap, Pfx, setOp } = optableNs;
const { Cr0, Cr4, Flag, Vector } = stateNs;
const { memAddr, pop, peek, push, readReg, readRm, writeReg } = operandsNs;
const { xchgAcc } = movNs;

function osz(cpu: Cpu, d: number): number {
  return (cpu.rec[d + R_INFO]! >>> 4) & 3;
}

function iopl(cpu: Cpu): number {
  return (cpu.flags >>> 12) & 3;
}

/**
 * PUSHF/PUSHFD/PUSHFQ (9C). The image has VM and RF cleared. In virtual-8086 mode with
 * IOPL < 3: #GP(0), unless CR4.VME = 1 and the operand size is 16, when IF's place holds VIF
 * and IOPL reads as 3 (SDM Vol. 3 §20.3.3, Table 20-2).
 */
function pushf(cpu: Cpu, d: number): void {
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Pushf, 0, 0)) return;
  const o = osz(cpu, d);
  let f = cpu.getEflags() & ~(Flag.VM | Flag.RF);
  if ((cpu.flags & Flag.VM) !== 0 && iopl(cpu) < 3) {
    if ((cpu.cr4 & Cr4.VME) === 0 || o !== 1) cpu.gp(0);
    f = (f & ~Flag.IF) | ((cpu.flags & Flag.VIF) !== 0 ? Flag.IF : 0) | Flag.IOPL;
  }
  if (o === 1) push(cpu, 2, f & 0xffff, 0);
  else if (o === 2) push(cpu, 4, f, 0);
  else push(cpu, 8, f, 0);
}

/** Bits POPF may change, before the privilege rules (all defined flags but VM, VIF, VIP; RF is cleared). */
const POPF_BASE = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.IF | Flag.DF | Flag.OF | Flag.IOPL | Flag.NT | Flag.AC | Flag.ID;

/**
 * POPF/POPFD/POPFQ (9D) (SDM Vol. 2 "POPF" Operation):
 * - real mode and CPL 0: every flag but VM, VIF, VIP (and RF, which is cleared);
 * - 0 < CPL <= IOPL: also not IOPL;
 * - CPL > IOPL: also not IF (no fault);
 * - virtual-8086 mode, IOPL = 3: not IOPL (nor VM, VIF, VIP);
 * - virtual-8086 mode, IOPL < 3: #GP(0) unless CR4.VME = 1 and the operand size is 16, where
 *   #GP(0) also when the popped IF = 1 with VIP = 1, or the popped TF = 1; otherwise VIF takes
 *   the popped IF and the other low flags but IOPL and IF are loaded (SDM Vol. 3 §20.3.3).
 * A 16-bit operand size changes only the low 16 bits.
 */
function popf(cpu: Cpu, d: number): void {
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Popf, 0, 0)) return;
  const o = osz(cpu, d);
  const size = o === 1 ? 2 : o === 2 ? 4 : 8;
  const v = peek(cpu, size, 0);
  const old = cpu.getEflags();
  let mask = POPF_BASE;
  if ((cpu.flags & Flag.VM) !== 0) {
    if (iopl(cpu) < 3) {
      if ((cpu.cr4 & Cr4.VME) === 0 || o !== 1) cpu.gp(0);
      if (((v & Flag.IF) !== 0 && (cpu.flags & Flag.VIP) !== 0) || (v & Flag.TF) !== 0) cpu.gp(0);
      pop(cpu, size);
      const m = 0xffff & mask & ~(Flag.IOPL | Flag.IF);
      const vif = (v & Flag.IF) !== 0 ? Flag.VIF : 0;
      cpu.setEflags((((old & ~m) | (v & m)) & ~(Flag.RF | Flag.VIF)) | vif);
      return;
    }
    mask &= ~Flag.IOPL;
  } else if ((cpu.cr0 & Cr0.PE) !== 0 && cpu.cpl > 0) {
    mask &= ~Flag.IOPL;
    if (cpu.cpl > iopl(cpu)) mask &= ~Flag.IF;
  }
  if (o === 1) mask &= 0xffff;
  pop(cpu, size);
  cpu.setEflags(((old & ~mask) | (v & mask)) & ~Flag.RF);
  cpu.exitBlock = true;
}

// ---- RDRAND / RDSEED -----------------------------------------------------------------------------

/** xorshift128+ state for RDRAND/RDSEED (seeded from Math.random once; not cryptographic). */
const rngState = new Int32Array(4);
{
  for (let i = 0; i < 4; i++) rngState[i] = (Math.random() * 0x1_0000_0000) | 0;
  if ((rngState[0]! | rngState[1]! | rngState[2]! | rngState[3]!) === 0) rngState[0] = 1;
}

/** A random 32-bit value (xoshiro128**). */
function random32(): number {
  const s = rngState;
  const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9);
  const t = s[1]! << 9;
  s[2] = s[2]! ^ s[0]!;
  s[3] = s[3]! ^ s[1]!;
  s[1] = s[1]! ^ s[2]!;
  s[0] = s[0]! ^ s[3]!;
  s[2] = s[2]! ^ t;
  s[3] = rotl(s[3]!, 11);
  return result;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * RDRAND/RDSEED r16/r32/r64 (0F C7 /6 /7, register form): a random value with CF = 1 and
 * OF = SF = ZF = AF = PF = 0. F2/F3 prefixes make other instructions (RDPID is F3 /7): #UD here.
 */
function rdrand(cpu: Cpu, d: number, seed: boolean): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & (I_REP | I_REPNE)) !== 0) cpu.ud();
  if (cpu.guestMode && cpu.interceptInsn(d, seed ? Intercept.Rdseed : Intercept.Rdrand, 0, 0)) return;
  const o = (info >>> 4) & 3;
  writeReg(cpu, cpu.rec[d + R_RM]!, o, random32(), random32());
  setArithFlags(cpu, 1);
}

// ---- PAUSE, fences, cache-line flushes --------------------------------------------------------

/** PAUSE (F3 90); with REX.B it is XCHG r8, rAX (F3 ignored). */
function pause(cpu: Cpu, d: number): void {
  if (cpu.rec[d + R_REG]! !== 0) {
    xchgAcc(cpu, d);
    return;
  }
  // A PAUSE that caused a VM exit did not execute: the hypervisor runs next, no turn to yield.
  if (cpu.guestMode && cpu.interceptInsn(d, Intercept.Pause, 0, 0)) return;
  // A spin-wait hint (SDM Vol. 2 "PAUSE"): on a machine whose cores take turns on one thread,
  // the spinning core gives up the rest of its turn, so the core it waits for can run (as
  // QEMU's TCG does); otherwise a lock released and re-taken within one turn starves the others.
  if (cpu.pauseYields) cpu.yieldTurn();
}

/** LFENCE/MFENCE/SFENCE: ordering is trivially kept by an in-order interpreter; F2/F3/66 forms are other instructions (#UD). */
function fence(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & (I_REP | I_REPNE)) !== 0 || osz(cpu, d) === 1) cpu.ud();
}

/**
 * CLFLUSH m8 (0F AE /7) and CLFLUSHOPT m8 (66 0F AE /7): no caches to flush, but the byte is
 * accessed like a read for segmentation and paging faults (SDM Vol. 2 "CLFLUSH").
 */
function clflush(cpu: Cpu, d: number): void {
  const info = cpu.rec[d + R_INFO]!;
  if ((info & (I_REP | I_REPNE)) !== 0) cpu.ud();
  const lo = memAddr(cpu, d, 1, false);
  cpu.rd8(lo, cpu.hi);
}

// ---- CRC32 -----------------------------------------------------------------------------------------

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) byte table. */
const CRC32C = new Int32Array(256);
/** CPUID.01H:ECX.SSE4_2. */
const SSE42 = 1 << 20;
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[i] = c;
}

function crcBytes(crc: number, v: number, n: number): number {
  for (let k = 0; k < n; k++) {
    crc = CRC32C[(crc ^ (v >>> (8 * k))) & 0xff]! ^ (crc >>> 8);
  }
  return crc;
}

/**
 * CRC32 r32/r64, r/m8 (F2 0F 38 F0) and r/m16/32/64 (F2 0F 38 F1) (SDM Vol. 2 "CRC32"):
 * accumulates CRC-32C over the source bytes; the 64-bit form zero-extends. No flags.
 */
function crc32(cpu: Cpu, d: number, byteSrc: boolean): void {
  // CRC32 belongs to SSE4.2: #UD unless the model advertises it (SDM Vol. 2 "CRC32", #UD if
  // CPUID.01H:ECX.SSE4_2 = 0). The stock models do not, since the SSE4.2 vector instructions
  // are not implemented; the differential test's model does.
  if ((cpu.model.leaf1Ecx & SSE42) === 0) cpu.ud();
  const info = cpu.rec[d + R_INFO]!;
  const o = (info >>> 4) & 3;
  const reg = cpu.rec[d + R_REG]!;
  let crc = readReg(cpu, reg, 2);
  if (byteSrc) {
    const v = (info & I_MEM) === 0 ? cpu.getReg8(byteRegOf(cpu.rec[d + R_RM]!, info)) : readRm(cpu, d, 0);
    crc = crcBytes(crc, v, 1);
  } else {
    const v = readRm(cpu, d, o);
    const vHi = cpu.hi;
    if (o === 1) crc = crcBytes(crc, v, 2);
    else {
      crc = crcBytes(crc, v, 4);
      if (o === 3) crc = crcBytes(crc, vHi, 4);
    }
  }
  writeReg(cpu, reg, o === 3 ? 3 : 2, crc, 0);
}

export function installMiscUser(): void {
  setOp(OpMap.One, 0x9c, defineHandler('pushf', pushf));
  setOp(OpMap.One, 0x9d, defineHandler('popf', popf));
  setOp(OpMap.Two, 0xc7, defineHandler('rdrand', gated('leaf1Ecx', Cpuid1Ecx.RDRAND, (cpu, d) => rdrand(cpu, d, false))), { reg: 6, mod3: true });
  setOp(OpMap.Two, 0xc7, defineHandler('rdseed', gated('leaf7Ebx', Cpuid7Ebx.RDSEED, (cpu, d) => rdrand(cpu, d, true))), { reg: 7, mod3: true });
  setOp(OpMap.One, 0x90, defineHandler('pause', pause), { prefix: Pfx.F3 });
  const f = defineHandler('lfence/mfence/sfence', fence);
  for (let r = 5; r <= 7; r++) setOp(OpMap.Two, 0xae, f, { reg: r, mod3: true });
  setOp(OpMap.Two, 0xae, defineHandler('clflush/clflushopt', clflush), { reg: 7, mod3: false });
  setOp(OpMap.Three38, 0xf0, defineHandler('crc32 rm8', (cpu, d) => crc32(cpu, d, true)), { prefix: Pfx.F2 });
  setOp(OpMap.Three38, 0xf1, defineHandler('crc32 rm', (cpu, d) => crc32(cpu, d, false)), { prefix: Pfx.F2 });
  const ud = defineHandler('ud0/ud1/ud2', (cpu) => cpu.raise(Vector.UD));
  setOp(OpMap.Two, 0x0b, ud);
  setOp(OpMap.Two, 0xb9, ud);
  setOp(OpMap.Two, 0xff, ud);
}
