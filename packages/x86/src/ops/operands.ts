/**
 * Operand access shared by all instruction handlers: effective addresses (SDM Vol. 1 §3.7.5),
 * segmentation checks (SDM Vol. 3 §5.3 limit checking, §5.4 type checking), canonical checks
 * (SDM Vol. 1 §3.3.7.1), and ModRM register/memory operands of every size.
 *
 * 64-bit values travel as (lo, hi) halves: a function that returns a 64-bit value returns the
 * low half and leaves the high half in `cpu.hi`.
 */
import type { Cpu } from '../cpu.js';
import * as decodedNs from '../decoded.js';
import * as stateNs from '../state.js';

// Imported bindings copied into module constants: module runners that rewrite ES modules
// (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { I_MEM, NO_REG, R_DISP, R_INFO, R_REG, R_RM, R_SIB, RIP_BASE } = decodedNs;
const { CodeMode, Cr0, Flag, Seg, SegAttr, Vector } = stateNs;

export const SIZE_BYTES = [1, 2, 4, 8] as const;

/** Computes the effective address of record `d` into cpu.eaLo/eaHi (address-size wrapped). */
export function ea(cpu: Cpu, d: number): void {
  const rec = cpu.rec;
  const info = rec[d + R_INFO]!;
  const asz = (info >>> 6) & 3;
  const base = rec[d + R_RM]!;
  const sib = rec[d + R_SIB]!;
  const disp = rec[d + R_DISP]!;
  const g = cpu.gpr;
  if (asz === 2) {
    let a = disp;
    if (base !== NO_REG) a += base === RIP_BASE ? cpu.nipLo : g[base]!;
    if (sib !== NO_REG) a += g[sib & 0xff]! << (sib >> 8);
    cpu.eaLo = a | 0;
    cpu.eaHi = 0;
  } else if (asz === 3) {
    let lo: number;
    let hi: number;
    if (base === NO_REG) {
      lo = 0;
      hi = 0;
    } else if (base === RIP_BASE) {
      lo = cpu.nipLo;
      hi = cpu.nipHi;
    } else {
      lo = g[base]!;
      hi = cpu.gprHi[base]!;
    }
    let sum = (lo >>> 0) + disp;
    if (sib !== NO_REG) {
      const x = sib & 0xff;
      const sc = sib >> 8;
      const xl = g[x]!;
      const xh = cpu.gprHi[x]!;
      sum += (xl << sc) >>> 0;
      hi += sc === 0 ? xh : (xh << sc) | (xl >>> (32 - sc));
    }
    const carry = Math.floor(sum / 4294967296);
    cpu.eaLo = sum | 0;
    cpu.eaHi = (hi + carry) | 0;
  } else {
    let a = disp;
    if (base !== NO_REG) a += g[base]! & 0xffff;
    if (sib !== NO_REG) a += g[sib & 0xff]! & 0xffff;
    cpu.eaLo = a & 0xffff;
    cpu.eaHi = 0;
  }
}

/**
 * Segment checks for an access of `size` bytes at offset `off` (an unsigned 32-bit value)
 * in segment `seg`, then the linear address. `write` selects the write-type checks.
 * Returns the low half of the linear address; the high half is in `cpu.hi`.
 */
export function segLinear(cpu: Cpu, seg: number, offLo: number, offHi: number, size: number, write: boolean): number {
  if (cpu.mode === CodeMode.Bits64) {
    let lo = offLo;
    let hi = offHi;
    if (seg >= Seg.FS) {
      const s = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
      lo = s | 0;
      hi = (hi + cpu.segBaseHi[seg]! + (s > 0xffff_ffff ? 1 : 0)) | 0;
    }
    const sign = hi >> (cpu.linearBits - 33);
    if (sign !== 0 && sign !== -1) cpu.raise(seg === Seg.SS ? Vector.SS : Vector.GP, 0);
    cpu.hi = hi;
    return lo;
  }
  const off = offLo >>> 0;
  const max = write ? cpu.segWMax[seg]! : cpu.segRMax[seg]!;
  if (off + size - 1 > max) checkSegmentSlow(cpu, seg, off, size, write);
  cpu.hi = 0;
  return (cpu.segBase[seg]! + offLo) | 0;
}

/** The full protected-mode segment checks, for accesses the cached fast limits do not clear. */
function checkSegmentSlow(cpu: Cpu, seg: number, off: number, size: number, write: boolean): void {
  const attr = cpu.segAttr[seg]!;
  const vec = seg === Seg.SS ? Vector.SS : Vector.GP;
  const pm = (cpu.cr0 & Cr0.PE) !== 0 && (cpu.flags & Flag.VM) === 0;
  if (pm) {
    if ((attr & SegAttr.Unusable) !== 0) cpu.raise(vec, 0);
    const code = (attr & SegAttr.Code) !== 0;
    if (write && (code || (attr & SegAttr.RW) === 0)) cpu.raise(vec, 0);
    if (!write && code && (attr & SegAttr.RW) === 0) cpu.raise(vec, 0);
  }
  const limit = cpu.segLimit[seg]!;
  const last = off + size - 1;
  if ((attr & (SegAttr.Code | SegAttr.DC)) === SegAttr.DC && (attr & SegAttr.S) !== 0) {
    // Expand-down data segment: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF.
    const upper = (attr & SegAttr.DB) !== 0 ? 0xffff_ffff : 0xffff;
    if (off <= limit || last > upper) cpu.raise(vec, 0);
    return;
  }
  if (last > limit) {
    // A 4 GiB segment wraps around (the access is split at 2^32 by the paging unit).
    if (limit === 0xffff_ffff) return;
    cpu.raise(vec, 0);
  }
}

/** Cached per-segment fast-path limits, refreshed when a segment register or the mode changes. */
export function segmentFastLimits(cpu: Cpu, seg: number): void {
  const attr = cpu.segAttr[seg]!;
  const pm = (cpu.cr0 & Cr0.PE) !== 0 && (cpu.flags & Flag.VM) === 0;
  const limit = cpu.segLimit[seg]!;
  let r = limit;
  let w = limit;
  if ((attr & SegAttr.DC) !== 0 && (attr & SegAttr.Code) === 0) {
    r = -1;
    w = -1;
  } else if (pm) {
    if ((attr & SegAttr.Unusable) !== 0) {
      r = -1;
      w = -1;
    } else if ((attr & SegAttr.Code) !== 0) {
      w = -1;
      if ((attr & SegAttr.RW) === 0) r = -1;
    } else if ((attr & SegAttr.RW) === 0) {
      w = -1;
    }
  }
  cpu.segRMax[seg] = r;
  cpu.segWMax[seg] = w;
}

/** Linear address of the memory operand of `d` for an access of `size` bytes. */
export function memAddr(cpu: Cpu, d: number, size: number, write: boolean): number {
  ea(cpu, d);
  const seg = (cpu.rec[d + R_INFO]! >>> 8) & 7;
  return segLinear(cpu, seg, cpu.eaLo, cpu.eaHi, size, write);
}

export function isMem(cpu: Cpu, d: number): boolean {
  return (cpu.rec[d + R_INFO]! & I_MEM) !== 0;
}

// ---- ModRM r/m operand, by size --------------------------------------------------------------

export function readRm8(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) return cpu.getReg8(cpu.rec[d + R_RM]!);
  const lo = memAddr(cpu, d, 1, false);
  return cpu.rd8(lo, cpu.hi);
}
export function readRm16(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) return cpu.gpr[cpu.rec[d + R_RM]!]! & 0xffff;
  const lo = memAddr(cpu, d, 2, false);
  return cpu.rd16(lo, cpu.hi);
}
export function readRm32(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) return cpu.gpr[cpu.rec[d + R_RM]!]!;
  const lo = memAddr(cpu, d, 4, false);
  return cpu.rd32(lo, cpu.hi);
}
/** Returns the low half; the high half is in cpu.hi. */
export function readRm64(cpu: Cpu, d: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) {
    const r = cpu.rec[d + R_RM]!;
    cpu.hi = cpu.gprHi[r]!;
    return cpu.gpr[r]!;
  }
  const lo = memAddr(cpu, d, 8, false);
  return cpu.rd64(lo, cpu.hi);
}

/** Reads the r/m operand of `size` bytes (1, 2, 4; 8 returns lo with hi in cpu.hi). */
export function readRm(cpu: Cpu, d: number, osz: number): number {
  switch (osz) {
    case 0:
      return readRm8(cpu, d);
    case 1:
      return readRm16(cpu, d);
    case 2:
      return readRm32(cpu, d);
    default:
      return readRm64(cpu, d);
  }
}

/**
 * Read for read-modify-write: memory operands are translated with write intent and their
 * address kept in cpu.lastLo/lastHi for {@link writeBack}.
 */
export function readRmw(cpu: Cpu, d: number, osz: number): number {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) {
    const r = cpu.rec[d + R_RM]!;
    if (osz === 0) return cpu.getReg8(r);
    if (osz === 1) return cpu.gpr[r]! & 0xffff;
    if (osz === 3) cpu.hi = cpu.gprHi[r]!;
    return cpu.gpr[r]!;
  }
  const size = SIZE_BYTES[osz]!;
  const lo = memAddr(cpu, d, size, true);
  const hi = cpu.hi;
  cpu.lastLo = lo;
  cpu.lastHi = hi;
  switch (osz) {
    case 0:
      return cpu.rdw8(lo, hi);
    case 1:
      return cpu.rdw16(lo, hi);
    case 2:
      return cpu.rdw32(lo, hi);
    default:
      return cpu.rdw64(lo, hi);
  }
}

/** Reads `osz` (0-3: 1, 2, 4, 8 bytes) at a linear address; 8 bytes: lo returned, hi in cpu.hi. */
export function readAt(cpu: Cpu, lo: number, hi: number, osz: number): number {
  switch (osz) {
    case 0:
      return cpu.rd8(lo, hi);
    case 1:
      return cpu.rd16(lo, hi);
    case 2:
      return cpu.rd32(lo, hi);
    default:
      return cpu.rd64(lo, hi);
  }
}

/** Writes `osz` (0-3: 1, 2, 4, 8 bytes) at a linear address. */
export function writeAt(cpu: Cpu, lo: number, hi: number, osz: number, v: number, vHi: number): void {
  switch (osz) {
    case 0:
      cpu.wr8(lo, hi, v);
      break;
    case 1:
      cpu.wr16(lo, hi, v);
      break;
    case 2:
      cpu.wr32(lo, hi, v);
      break;
    default:
      cpu.wr64(lo, hi, v, vHi);
  }
}

/** Writes the r/m operand after {@link readRmw} (same address, no second translation of the operand). */
export function writeBack(cpu: Cpu, d: number, osz: number, v: number, vHi: number): void {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) {
    writeReg(cpu, cpu.rec[d + R_RM]!, osz, v, vHi);
    return;
  }
  writeAt(cpu, cpu.lastLo, cpu.lastHi, osz, v, vHi);
}

/** Writes the r/m operand (no prior read). */
export function writeRm(cpu: Cpu, d: number, osz: number, v: number, vHi: number): void {
  if ((cpu.rec[d + R_INFO]! & I_MEM) === 0) {
    writeReg(cpu, cpu.rec[d + R_RM]!, osz, v, vHi);
    return;
  }
  const lo = memAddr(cpu, d, SIZE_BYTES[osz]!, true);
  writeAt(cpu, lo, cpu.hi, osz, v, vHi);
}

/** Whether the count register at address size `asz` (CX, ECX or RCX) is zero (LOOP, JrCXZ, REP). */
export function countIsZero(cpu: Cpu, asz: number): boolean {
  const g = cpu.gpr;
  if (asz === 1) return (g[1]! & 0xffff) === 0;
  if (asz === 2) return g[1] === 0;
  return g[1] === 0 && cpu.gprHi[1] === 0;
}

/** Decrements the count register at address size `asz`; flags are not affected. */
export function decrementCount(cpu: Cpu, asz: number): void {
  const g = cpu.gpr;
  if (asz === 1) g[1] = (g[1]! & ~0xffff) | ((g[1]! - 1) & 0xffff);
  else if (asz === 2) cpu.setReg32(1, (g[1]! - 1) | 0);
  else {
    if (g[1] === 0) cpu.gprHi[1] = (cpu.gprHi[1]! - 1) | 0;
    g[1] = (g[1]! - 1) | 0;
  }
}

/** Reads register `r` at operand size `osz` (64: lo, hi in cpu.hi). */
export function readReg(cpu: Cpu, r: number, osz: number): number {
  if (osz === 0) return cpu.getReg8(r);
  if (osz === 1) return cpu.gpr[r]! & 0xffff;
  if (osz === 3) cpu.hi = cpu.gprHi[r]!;
  return cpu.gpr[r]!;
}

/** Writes register `r` at operand size `osz`: 8/16-bit writes merge, 32-bit writes zero-extend (SDM Vol. 1 §3.4.1.1). */
export function writeReg(cpu: Cpu, r: number, osz: number, v: number, vHi: number): void {
  switch (osz) {
    case 0:
      cpu.setReg8(r, v);
      break;
    case 1:
      cpu.gpr[r] = (cpu.gpr[r]! & ~0xffff) | (v & 0xffff);
      break;
    case 2:
      cpu.gpr[r] = v;
      cpu.gprHi[r] = 0;
      break;
    default:
      cpu.gpr[r] = v;
      cpu.gprHi[r] = vHi;
  }
}

/** The ModRM.reg register number of `d`. */
export function regOf(cpu: Cpu, d: number): number {
  return cpu.rec[d + R_REG]!;
}

// ---- stack ------------------------------------------------------------------------------------

/** Stack address size: 8 (64-bit mode), 4 (SS.B = 1) or 2. */
export function stackWidth(cpu: Cpu): number {
  if (cpu.mode === CodeMode.Bits64) return 8;
  return (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0 ? 4 : 2;
}

/** Pushes a value of `size` bytes (2, 4 or 8; vHi for 8). RSP is updated only after the write succeeds. */
export function push(cpu: Cpu, size: number, v: number, vHi: number): void {
  const g = cpu.gpr;
  if (cpu.mode === CodeMode.Bits64) {
    const spLo = g[4]!;
    let spHi = cpu.gprHi[4]!;
    const nLo = (spLo - size) | 0;
    if ((nLo >>> 0) > (spLo >>> 0)) spHi = (spHi - 1) | 0;
    const lo = segLinear(cpu, Seg.SS, nLo, spHi, size, true);
    const hi = cpu.hi;
    if (size === 8) cpu.wr64(lo, hi, v, vHi);
    else if (size === 4) cpu.wr32(lo, hi, v);
    else cpu.wr16(lo, hi, v);
    g[4] = nLo;
    cpu.gprHi[4] = spHi;
    return;
  }
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  const sp = big ? (g[4]! - size) | 0 : (g[4]! - size) & 0xffff;
  const lo = segLinear(cpu, Seg.SS, sp, 0, size, true);
  if (size === 4) cpu.wr32(lo, 0, v);
  else cpu.wr16(lo, 0, v);
  if (big) g[4] = sp;
  else g[4] = (g[4]! & ~0xffff) | sp;
}

/** Reads the value `size` bytes at the top of the stack plus `offset`, without popping. */
export function peek(cpu: Cpu, size: number, offset: number): number {
  const g = cpu.gpr;
  if (cpu.mode === CodeMode.Bits64) {
    const s = (g[4]! >>> 0) + offset;
    const hiIn = (cpu.gprHi[4]! + (s > 0xffff_ffff ? 1 : 0)) | 0;
    const lo = segLinear(cpu, Seg.SS, s | 0, hiIn, size, false);
    const hi = cpu.hi;
    if (size === 8) return cpu.rd64(lo, hi);
    if (size === 4) return cpu.rd32(lo, hi);
    return cpu.rd16(lo, hi);
  }
  const big = (cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0;
  const sp = big ? (g[4]! + offset) | 0 : (g[4]! + offset) & 0xffff;
  const lo = segLinear(cpu, Seg.SS, sp, 0, size, false);
  if (size === 4) return cpu.rd32(lo, 0);
  return cpu.rd16(lo, 0);
}

/** Adds `n` to the stack pointer at the stack's address size. */
export function adjustSp(cpu: Cpu, n: number): void {
  const g = cpu.gpr;
  if (cpu.mode === CodeMode.Bits64) {
    const s = (g[4]! >>> 0) + n;
    g[4] = s | 0;
    if (s > 0xffff_ffff) cpu.gprHi[4] = (cpu.gprHi[4]! + 1) | 0;
    else if (s < 0) cpu.gprHi[4] = (cpu.gprHi[4]! - 1) | 0;
    return;
  }
  if ((cpu.segAttr[Seg.SS]! & SegAttr.DB) !== 0) g[4] = (g[4]! + n) | 0;
  else g[4] = (g[4]! & ~0xffff) | ((g[4]! + n) & 0xffff);
}

/** Pops `size` bytes (8: lo returned, hi in cpu.hi). */
export function pop(cpu: Cpu, size: number): number {
  const v = peek(cpu, size, 0);
  const h = cpu.hi;
  adjustSp(cpu, size);
  cpu.hi = h;
  return v;
}

/** Sets RIP (the next RIP) to a branch target, checking the CS limit or canonical form (#GP(0)). */
export function jumpTo(cpu: Cpu, lo: number, hi: number, osz: number): void {
  if (cpu.mode === CodeMode.Bits64) {
    if (osz === 1) {
      lo &= 0xffff;
      hi = 0;
    }
    const sign = hi >> (cpu.linearBits - 33);
    if (sign !== 0 && sign !== -1) cpu.gp(0);
    cpu.nipLo = lo;
    cpu.nipHi = hi;
    return;
  }
  if (osz === 1) lo &= 0xffff;
  if ((lo >>> 0) > cpu.segLimit[Seg.CS]!) cpu.gp(0);
  cpu.nipLo = lo;
  cpu.nipHi = 0;
}
