/**
 * Case generation for x87, MMX and SSE forms of the native differential campaign: the FP
 * counterpart of generator.ts's `Gen`/`CaseGenerator`.
 *
 * `FpGen` extends `Gen` (registers, flags, the data window, memory operands, `emit`) with the
 * case's FXSAVE64 image (`fx`: FCW, FSW with TOP, abridged tag, MXCSR, ST0-ST7, XMM0-15; see
 * layout.ts `FX_*`), which the oracle loads with FXRSTOR64 right before the snippet and the
 * emulator runner loads into the Cpu. After `reset` the image is the state Linux gives a fresh
 * process: FCW 0x037F, FSW 0 (TOP 0), every register empty (contents zero), MXCSR 0x1F80, XMM
 * zero. Forms then pick what they need:
 *
 * - whole state: `randomFpState()` (random FCW and MXCSR, stack, XMM, all the helpers below);
 * - control: `randomFcw()` (every RC x every PC, mostly all exceptions masked), `randomMxcsr()`
 *   (every RC, FTZ, DAZ, sticky flags, mostly masked), `setFcw`, `setMxcsr`, `setFswFlags`;
 * - the x87 stack: `randomStack(min, max)` (random TOP and depth, so pushes overflow and pops
 *   underflow), `setTop`, `setSt(i, se, hi, lo)`, `setEmpty(i)`, `f80()` special values;
 * - XMM/MMX: `randomXmm(n, kind)` lanes mixing specials, `setXmm`, `setMm`;
 * - values: `f32()`, `f64()`, `f80()` put a random special or ordinary value in `vlo`/`vhi`
 *   (`vse` for f80): +-0, +-denormals (smallest, largest, random), normals (random, near 1.0,
 *   near overflow, near underflow, max, min), +-inf, QNaN/SNaN with random payloads, the default
 *   NaN, integers at conversion edges (2^31, 2^63, -2^63 and their neighbours), ties (0.5, 1.5,
 *   2.5, ...), small integers; f80 adds unnormals, pseudo-denormals, pseudo-NaNs and
 *   pseudo-infinities (encodings the 80387 and later treat as invalid);
 * - memory operands: `memF32(off)`, `memF64(off)`, `memF80(off)`, `memInt(off, bytes)` put such
 *   values into the data window; `xmmRm(bytes, opts)` / `mmRm(bytes, opts)` give a ModRM r/m that
 *   is an XMM/MM register or a memory operand inside the window (Gen's addressing machinery).
 *
 * The FSW's ES and B bits are made consistent with its flags and FCW's masks after every form
 * (`finish`): Linux retries a "spurious" #MF for ever otherwise (see oracle.c).
 */
import * as layout from './layout.js';
import type { Tolerance } from './tolerance.js';
import { type FaultKind, Gen, type MemOpts, type Rm, Rng } from './generator.js';

const { CODE_MAX, FX_FCW, FX_FSW, FX_FTW, FX_MXCSR, FX_SIZE, FX_ST, FX_XMM } = layout;

/** A form of the FP campaign (like generator.ts's `Form`, generating into an `FpGen`). */
export interface FpForm {
  /** Unique descriptive name, e.g. `addss xmm, xmm/m32`. */
  readonly name: string;
  /** Coarse group for reports (x87-arith, sse-move, ...). */
  readonly group: string;
  /** Writes code, registers, memory and the FP image of one case into `g` (already reset). */
  readonly gen: (g: FpGen) => void;
  /** Whether the form raises exceptions natively: never, sometimes, or on every case. */
  readonly faults: FaultKind;
  /** Behaviour differs between x86 vendors. */
  readonly vendorSpecific: boolean;
  /** /proc/cpuinfo flag the form needs (fpu mmx sse sse2 pni ssse3 sse4_1 sse4_2 popcnt ...), if any. */
  readonly feature?: string;
  /** Differences tolerated in the comparison (tolerance.ts; only the x87 transcendentals): absent, exact. */
  readonly tolerance?: Tolerance;
}

export interface FpFormOpts {
  faults?: FaultKind;
  vendorSpecific?: boolean;
  feature?: string;
  tolerance?: Tolerance;
}

/** Builds an FpForm (defaults: faults 'may', not vendor-specific, no feature). */
export function fpForm(name: string, group: string, gen: (g: FpGen) => void, o: FpFormOpts = {}): FpForm {
  return { name, group, gen, faults: o.faults ?? 'may', vendorSpecific: o.vendorSpecific ?? false, feature: o.feature, tolerance: o.tolerance };
}

/** Kinds of XMM lane contents for `randomXmm`. */
export type LaneKind = 'f32' | 'f64' | 'int' | 'any';

// f32 encodings of conversion edges and ties.
const F32_EDGES = [
  0x4f000000, // 2^31
  0x4effffff, // 2^31 - 128 (largest float below 2^31)
  0xcf000000, // -2^31
  0xcf000001, // -(2^31 + 256)
  0x5f000000, // 2^63
  0xdf000000, // -2^63
  0xdf000001, // just below -2^63
  0x5effffff, // largest float below 2^63
  0x3f000000, // 0.5
  0x3fc00000, // 1.5
  0x40200000, // 2.5
  0xbf000000, // -0.5
  0xbfc00000, // -1.5
  0xc0200000, // -2.5
  0x4b000001, // 2^23 + 1
  0x4b7fffff, // 2^24 - 1
  0x4f800000, // 2^32
  0x477fff00, // 65535
  0x47000000, // 32768
  0xc7000080, // -32768.5
  0x3effffff, // just below 0.5
  0x3f000001, // just above 0.5
];

// f64 encodings (hi, lo) of conversion edges and ties.
const F64_EDGES = [
  [0x41e00000, 0], // 2^31
  [0x41dfffff, 0xffc00000], // 2^31 - 1
  [0x41dfffff, 0xffe00000], // 2^31 - 0.5
  [0xc1e00000, 0], // -2^31
  [0xc1e00000, 0x00200000], // -2^31 - 1
  [0xc1e00000, 0x00100000], // -2^31 - 0.5
  [0x43e00000, 0], // 2^63
  [0xc3e00000, 0], // -2^63
  [0xc3e00000, 1], // -2^63 - 2048 (the double after -2^63: "-2^63 - 1" rounds to it or to -2^63)
  [0x43dfffff, 0xffffffff], // largest double below 2^63
  [0x3fe00000, 0], // 0.5
  [0x3ff80000, 0], // 1.5
  [0x40040000, 0], // 2.5
  [0xbfe00000, 0], // -0.5
  [0xbff80000, 0], // -1.5
  [0xc0040000, 0], // -2.5
  [0x43300000, 1], // 2^52 + 1
  [0x432fffff, 0xffffffff], // 2^52 - 0.5
  [0x43400000, 0], // 2^53
  [0x41f00000, 0], // 2^32
  [0x40dfffc0, 0], // 32767
  [0xc0e00000, 0], // -32768
  [0xc0e00010, 0], // -32768.5
  [0x3fdfffff, 0xffffffff], // just below 0.5
];

/** Exception-mask patterns: one exception unmasked, or all. */
const MASK_PICKS: readonly number[] = [0x3e, 0x3b, 0x37, 0x2f, 0x1f, 0x3d, 0];
/** Precision control: 24, 53, 64 (64 twice as often). */
const PC_PICKS: readonly number[] = [0, 2, 3, 3];
const XMM_KINDS: readonly ('f32' | 'f64' | 'int')[] = ['f32', 'f64', 'int', 'int'];
const MEM_KINDS: readonly ('f32' | 'f64' | 'int')[] = ['f32', 'f64', 'int'];

/** The state of one FP case under construction. */
export class FpGen extends Gen {
  /** The case's FXSAVE64 image (input to both sides). */
  readonly fx = new Uint8Array(FX_SIZE);
  private readonly fxv = new DataView(this.fx.buffer);
  /** Sign/exponent of the last `f80()` value (`vhi`:`vlo` hold its significand). */
  vse = 0;

  override reset(rng: Rng): void {
    super.reset(rng);
    this.fx.fill(0);
    this.fxv.setUint16(FX_FCW, 0x037f, true);
    this.fxv.setUint32(FX_MXCSR, 0x1f80, true);
  }

  /**
   * Called after the form: the FCW as this CPU holds it (FLDCW and FXRSTOR keep bits 12, 11:8
   * and 5:0, force bit 6 to 1 and bits 7, 15:13 to 0; measured on the AMD host), and ES and B
   * following the flags and masks (FSW bits 7 and 15; FXRSTOR recomputes them the same way).
   */
  finish(): void {
    const fcw = (this.fcw() & 0x1f3f) | 0x40;
    this.fxv.setUint16(FX_FCW, fcw, true);
    let fsw = this.fsw();
    fsw = fsw & ~fcw & 0x3f ? fsw | 0x8080 : fsw & ~0x8080;
    this.fxv.setUint16(FX_FSW, fsw, true);
    this.fxv.setUint32(FX_MXCSR, this.mxcsr() & 0xffff, true);
  }

  // ----- control and status

  fcw(): number {
    return this.fxv.getUint16(FX_FCW, true);
  }

  fsw(): number {
    return this.fxv.getUint16(FX_FSW, true);
  }

  mxcsr(): number {
    return this.fxv.getUint32(FX_MXCSR, true);
  }

  top(): number {
    return (this.fsw() >> 11) & 7;
  }

  setFcw(v: number): void {
    this.fxv.setUint16(FX_FCW, v & 0xffff, true);
  }

  setMxcsr(v: number): void {
    this.fxv.setUint32(FX_MXCSR, v & 0xffff, true);
  }

  /** Replaces FSW bits other than TOP (ES/B are fixed up by `finish`). */
  setFswFlags(v: number): void {
    this.fxv.setUint16(FX_FSW, (v & ~0x3800) | (this.top() << 11), true);
  }

  /**
   * Sets TOP, keeping each physical register's contents and tag (ST(i) moves with it: the image
   * stores the stack in ST order, so the slots are rotated).
   */
  setTop(top: number): void {
    const old = this.top();
    if (old === (top & 7)) return;
    const tmp = this.fx.slice(FX_ST, FX_ST + 128);
    for (let i = 0; i < 8; i++) {
      const phys = (old + i) & 7;
      const j = (phys - top) & 7;
      this.fx.set(tmp.subarray(16 * i, 16 * i + 16), FX_ST + 16 * j);
    }
    this.fxv.setUint16(FX_FSW, (this.fsw() & ~0x3800) | ((top & 7) << 11), true);
  }

  /** A random FCW: every RC, every PC (reserved 01 sometimes); masks all set 3/4 of the time. */
  randomFcw(): void {
    const rng = this.rng;
    let masks = 0x3f;
    if (rng.chance(1, 4)) masks = rng.chance(1, 3) ? rng.pick(MASK_PICKS) : rng.below(64);
    const pc = rng.chance(1, 16) ? 1 : rng.pick(PC_PICKS);
    let v = masks | 0x40 | (pc << 8) | (rng.below(4) << 10);
    if (rng.chance(1, 32)) v ^= rng.next() & 0xf0c0; // reserved bits (bit 6 reads as written? the oracle decides)
    this.setFcw(v);
  }

  /** Random sticky exception flags and condition codes in the FSW (none half the time). */
  randomFswFlags(): void {
    const rng = this.rng;
    const flags = rng.bool() ? 0 : rng.below(128);
    this.setFswFlags(flags | (rng.next() & 0x4700));
  }

  /** A random MXCSR: every RC, FTZ, DAZ, sticky flags; masks all set 3/4 of the time. */
  randomMxcsr(): void {
    const rng = this.rng;
    let masks = 0x3f;
    if (rng.chance(1, 4)) masks = rng.chance(1, 3) ? rng.pick(MASK_PICKS) : rng.below(64);
    const flags = rng.bool() ? 0 : rng.below(64);
    const daz = rng.chance(1, 4) ? 0x40 : 0;
    const ftz = rng.chance(1, 4) ? 0x8000 : 0;
    this.setMxcsr(flags | daz | (masks << 7) | (rng.below(4) << 13) | ftz);
  }

  // ----- x87 registers

  /** Writes ST(i) (stack order) and tags its physical register valid. */
  setSt(i: number, se: number, hi: number, lo: number): void {
    const o = FX_ST + 16 * (i & 7);
    this.fxv.setUint32(o, lo >>> 0, true);
    this.fxv.setUint32(o + 4, hi >>> 0, true);
    this.fxv.setUint16(o + 8, se & 0xffff, true);
    this.fx[FX_FTW] = this.fx[FX_FTW]! | (1 << ((this.top() + i) & 7));
  }

  /** Tags ST(i)'s physical register empty (its contents stay in the image). */
  setEmpty(i: number): void {
    this.fx[FX_FTW] = this.fx[FX_FTW]! & ~(1 << ((this.top() + i) & 7));
  }

  /** Whether ST(i) is tagged valid. */
  stValid(i: number): boolean {
    return ((this.fx[FX_FTW]! >> ((this.top() + i) & 7)) & 1) === 1;
  }

  /**
   * A random stack: TOP random, ST(0)..ST(depth-1) valid with `f80()` values, the others empty
   * (holding leftover values). Depth is in [min, max] (default 0..8, favouring the ends).
   */
  randomStack(min = 0, max = 8): void {
    const rng = this.rng;
    const top = rng.below(8);
    this.fxv.setUint16(FX_FSW, (this.fsw() & ~0x3800) | (top << 11), true);
    const k = rng.below(10);
    const depth = k === 0 ? min : k === 1 ? max : rng.range(min, max);
    this.fx[FX_FTW] = 0;
    for (let i = 0; i < 8; i++) {
      this.f80();
      const o = FX_ST + 16 * i;
      this.fxv.setUint32(o, this.vlo >>> 0, true);
      this.fxv.setUint32(o + 4, this.vhi >>> 0, true);
      this.fxv.setUint16(o + 8, this.vse, true);
      if (i < depth) this.fx[FX_FTW] = this.fx[FX_FTW]! | (1 << ((top + i) & 7));
    }
  }

  /** Random FCW, FSW flags, stack, MXCSR and XMM0-15 (lanes mixing kinds). */
  randomFpState(): void {
    this.randomFcw();
    this.randomFswFlags();
    this.randomStack();
    this.randomMxcsr();
    for (let n = 0; n < 16; n++) this.randomXmm(n, 'any');
  }

  // ----- XMM / MMX

  /** Writes XMMn's four 32-bit lanes (lane 0 first). */
  setXmm(n: number, l0: number, l1: number, l2: number, l3: number): void {
    const o = FX_XMM + 16 * (n & 15);
    this.fxv.setUint32(o, l0 >>> 0, true);
    this.fxv.setUint32(o + 4, l1 >>> 0, true);
    this.fxv.setUint32(o + 8, l2 >>> 0, true);
    this.fxv.setUint32(o + 12, l3 >>> 0, true);
  }

  /** Lane k (0..3) of XMMn as an unsigned 32-bit number. */
  xmmLane(n: number, k: number): number {
    return this.fxv.getUint32(FX_XMM + 16 * (n & 15) + 4 * k, true);
  }

  /** Fills XMMn: 'f32' four f32() values, 'f64' two f64(), 'int' integer edge/random lanes, 'any' a mix. */
  randomXmm(n: number, kind: LaneKind): void {
    const rng = this.rng;
    const o = FX_XMM + 16 * (n & 15);
    const k = kind === 'any' ? rng.pick(XMM_KINDS) : kind;
    if (k === 'f64') {
      for (let j = 0; j < 2; j++) {
        this.f64();
        this.fxv.setUint32(o + 8 * j, this.vlo >>> 0, true);
        this.fxv.setUint32(o + 8 * j + 4, this.vhi >>> 0, true);
      }
    } else if (k === 'f32') {
      for (let j = 0; j < 4; j++) {
        this.f32();
        this.fxv.setUint32(o + 4 * j, this.vlo >>> 0, true);
      }
    } else {
      for (let j = 0; j < 2; j++) {
        this.value(64);
        this.fxv.setUint32(o + 8 * j, this.vlo >>> 0, true);
        this.fxv.setUint32(o + 8 * j + 4, this.vhi >>> 0, true);
      }
    }
  }

  /** Writes MMn (the significand of physical register Rn) and, as MMX writes do, sign/exponent 0xFFFF; tags unchanged. */
  setMm(n: number, lo: number, hi: number): void {
    const i = ((n & 7) - this.top()) & 7; // the ST slot holding physical Rn
    const o = FX_ST + 16 * i;
    this.fxv.setUint32(o, lo >>> 0, true);
    this.fxv.setUint32(o + 4, hi >>> 0, true);
    this.fxv.setUint16(o + 8, 0xffff, true);
  }

  // ----- values

  /** A random f32 (special or ordinary) into `vlo` (`vhi` = 0). */
  f32(): void {
    const rng = this.rng;
    const s = rng.bool() ? 0x80000000 : 0;
    const m = rng.next() & 0x7fffff;
    let v: number;
    switch (rng.below(18)) {
      case 0: v = 0; break;
      case 1: v = 1; break; // smallest denormal
      case 2: v = 0x7fffff; break; // largest denormal
      case 3: v = m | 1; break; // random denormal
      case 4: case 5: v = (rng.range(1, 254) << 23) | m; break; // random normal
      case 6: v = (rng.range(120, 134) << 23) | (rng.bool() ? m : m & 0x7f); break; // near 1.0
      case 7: v = (rng.range(250, 254) << 23) | m; break; // near overflow
      case 8: v = (rng.range(1, 4) << 23) | m; break; // near underflow
      case 9: v = rng.bool() ? 0x7f7fffff : 0x00800000; break; // max / min normal
      case 10: v = 0x7f800000; break; // inf
      case 11: v = 0x7fc00000 | (rng.bool() ? 0 : m); break; // QNaN
      case 12: v = 0x7f800000 | (m & 0x3fffff) | (m & 0x3fffff ? 0 : 1); break; // SNaN
      case 13: v = 0x7fc00000; break; // the default NaN (negative half the time)
      case 14: case 15: this.vlo = rng.pick(F32_EDGES) >>> 0; this.vhi = 0; return;
      case 16: v = (rng.range(127, 157) << 23) | (m & ~((1 << rng.below(24)) - 1)); break; // integers
      default: v = rng.next() & 0x7fffffff; break; // any bits
    }
    this.vlo = (v | s) >>> 0;
    this.vhi = 0;
  }

  /** A random f64 (special or ordinary) into `vhi`:`vlo`. */
  f64(): void {
    const rng = this.rng;
    const s = rng.bool() ? 0x80000000 : 0;
    const mh = rng.next() & 0xfffff;
    const ml = rng.next();
    let hi: number;
    let lo = ml;
    switch (rng.below(18)) {
      case 0: hi = 0; lo = 0; break;
      case 1: hi = 0; lo = 1; break;
      case 2: hi = 0xfffff; lo = 0xffffffff; break;
      case 3: hi = mh; lo = ml | 1; break;
      case 4: case 5: hi = (rng.range(1, 2046) << 20) | mh; break;
      case 6: hi = (rng.range(1016, 1040) << 20) | mh; if (rng.bool()) lo = 0; break;
      case 7: hi = (rng.range(2040, 2046) << 20) | mh; break;
      case 8: hi = (rng.range(1, 4) << 20) | mh; break;
      case 9: if (rng.bool()) { hi = 0x7fefffff; lo = 0xffffffff; } else { hi = 0x00100000; lo = 0; } break;
      case 10: hi = 0x7ff00000; lo = 0; break;
      case 11: hi = 0x7ff80000 | (rng.bool() ? 0 : mh); if (hi === 0x7ff80000 && rng.bool()) lo = 0; break;
      case 12: hi = 0x7ff00000 | (mh & 0x7ffff); if ((hi & 0x7ffff) === 0 && lo === 0) lo = 1; break;
      case 13: this.vhi = 0xfff80000; this.vlo = 0; return;
      case 14: case 15: { const e = rng.pick(F64_EDGES); this.vhi = e[0]! >>> 0; this.vlo = e[1]! >>> 0; return; }
      case 16: { hi = (rng.range(1023, 1086) << 20) | mh; if (rng.bool()) lo = 0; break; }
      default: hi = rng.next() & 0x7fffffff; break;
    }
    this.vhi = (hi | s) >>> 0;
    this.vlo = lo >>> 0;
  }

  /** A random f80 into `vse` (sign/exponent), `vhi`:`vlo` (significand with the explicit integer bit 63). */
  f80(): void {
    const rng = this.rng;
    const s = rng.bool() ? 0x8000 : 0;
    const sh = rng.next();
    const sl = rng.next();
    let e: number;
    let hi: number;
    let lo = sl;
    switch (rng.below(20)) {
      case 0: e = 0; hi = 0; lo = 0; break; // zero
      case 1: e = 0; hi = sh & 0x7fffffff; if (hi === 0 && lo === 0) lo = 1; break; // denormal
      case 2: e = 0; hi = 0; lo = 1; break; // smallest denormal
      case 3: e = 0; hi = (sh | 0x80000000) >>> 0; break; // pseudo-denormal
      case 4: case 5: e = rng.range(1, 0x7ffe); hi = (sh | 0x80000000) >>> 0; break; // random normal
      case 6: case 7: e = rng.range(0x3ff0, 0x4010); hi = (sh | 0x80000000) >>> 0; if (rng.bool()) lo = 0; break; // near 1.0
      case 8: e = rng.range(0x7ff0, 0x7ffe); hi = (sh | 0x80000000) >>> 0; break; // near overflow
      case 9: e = rng.range(1, 8); hi = (sh | 0x80000000) >>> 0; break; // near underflow
      case 10: e = 0x7fff; hi = 0x80000000; lo = 0; break; // inf
      case 11: e = 0x7fff; hi = (0xc0000000 | (rng.bool() ? 0 : sh)) >>> 0; if (rng.bool()) lo = 0; break; // QNaN (incl. indefinite)
      case 12: e = 0x7fff; hi = (0x80000000 | (sh & 0x3fffffff)) >>> 0; if (hi === 0x80000000 && lo === 0) lo = 1; break; // SNaN
      case 13: e = rng.range(1, 0x7ffe); hi = sh & 0x7fffffff; break; // unnormal
      case 14: e = 0x7fff; hi = sh & 0x7fffffff; if (hi === 0 && lo === 0 && rng.bool()) lo = 1; break; // pseudo-NaN / pseudo-infinity
      case 15: case 16: { // an f64 value, converted exactly
        this.f64();
        this.f64ToF80(this.vhi, this.vlo);
        return;
      }
      case 17: e = rng.range(0x3fff, 0x3fff + 64); hi = (sh | 0x80000000) >>> 0; { // integers around 2^0..2^64
        const frac = 63 - (e - 0x3fff); // fraction bits below the binary point
        if (frac >= 32) { hi = (hi & ~((2 ** (frac - 32)) - 1)) >>> 0; lo = 0; } else if (frac > 0) lo = (lo & ~((1 << frac) - 1)) >>> 0;
        if (rng.chance(1, 4)) { hi = 0x80000000; lo = 0; }
      } break;
      case 18: e = 0x3ffe + rng.below(3); hi = 0x80000000 | (rng.bool() ? 0x40000000 : 0); lo = 0; break; // 0.5, 0.75, 1, 1.5, 2, 3 (ties)
      default: e = rng.next() & 0x7fff; hi = sh; break; // any bits
    }
    this.vse = s | e;
    this.vhi = hi >>> 0;
    this.vlo = lo >>> 0;
  }

  /** Converts the f64 `hi`:`lo` exactly to f80 in `vse`/`vhi`/`vlo` (SDM Vol. 1 §4.2.2 formats). */
  f64ToF80(hi: number, lo: number): void {
    const s = (hi >>> 16) & 0x8000;
    const e = (hi >>> 20) & 0x7ff;
    let mh = hi & 0xfffff;
    let ml = lo >>> 0;
    if (e === 0x7ff) {
      this.vse = s | 0x7fff;
      this.vhi = (0x80000000 | (mh << 11) | (ml >>> 21)) >>> 0;
      this.vlo = (ml << 11) >>> 0;
      return;
    }
    if (e === 0) {
      if (mh === 0 && ml === 0) {
        this.vse = s;
        this.vhi = 0;
        this.vlo = 0;
        return;
      }
      // Denormal: value = m * 2^-1074; normalise into the 64-bit significand.
      let ex = 0x3fff - 1022;
      while ((mh & 0x100000) === 0) {
        mh = ((mh << 1) | (ml >>> 31)) & 0x1fffff;
        ml = (ml << 1) >>> 0;
        ex--;
      }
      this.vse = s | ex;
      this.vhi = (((mh & 0xfffff) << 11) | 0x80000000 | (ml >>> 21)) >>> 0;
      this.vlo = (ml << 11) >>> 0;
      return;
    }
    this.vse = s | (e - 1023 + 0x3fff);
    this.vhi = (0x80000000 | (mh << 11) | (ml >>> 21)) >>> 0;
    this.vlo = (ml << 11) >>> 0;
  }

  // ----- memory operands

  /** Writes an `f32()` value at window offset `off`. */
  memF32(off: number): void {
    this.f32();
    this.memWrite(off, 4, this.vlo);
  }

  /** Writes an `f64()` value at window offset `off`. */
  memF64(off: number): void {
    this.f64();
    this.memWrite(off, 8, this.vlo, this.vhi);
  }

  /** Writes an `f80()` value (10 bytes) at window offset `off`. */
  memF80(off: number): void {
    this.f80();
    this.memWrite(off, 8, this.vlo, this.vhi);
    this.mem[off + 8] = this.vse & 0xff;
    this.mem[off + 9] = this.vse >>> 8;
  }

  /** Writes an integer of `bytes` (2, 4, 8) with edge values (Gen.value) at window offset `off`. */
  memInt(off: number, bytes: 2 | 4 | 8): void {
    this.value(bytes === 8 ? 64 : bytes === 4 ? 32 : 16);
    this.memWrite(off, bytes, this.vlo, this.vhi);
  }

  /** Fills `bytes` at window offset `off` with lanes of `kind` (4-byte f32, 8-byte f64 or int lanes). */
  memLanes(off: number, bytes: number, kind: LaneKind): void {
    const k = kind === 'any' ? this.rng.pick(MEM_KINDS) : kind;
    for (let o = 0; o < bytes; o += k === 'f32' ? 4 : 8) {
      if (k === 'f32') this.memF32(off + o);
      else if (bytes - o < 8) this.memInt(off + o, 4);
      else if (k === 'f64') this.memF64(off + o);
      else this.memInt(off + o, 8);
    }
  }

  /**
   * An r/m operand that is an XMM register (0-15, half the time) or a `bytes`-byte memory operand
   * in the window (filled with `kind` lanes when given). `opts.align` 16 for aligned forms.
   */
  xmmRm(bytes: number, opts?: MemOpts & { kind?: LaneKind; memOnly?: boolean; regOnly?: boolean }): Rm {
    if (opts?.regOnly || (!opts?.memOnly && this.rng.bool())) return this.regRm(this.rng.below(16));
    const rm = this.memRm(bytes, opts);
    if (opts?.kind !== undefined) this.memLanes(rm.off, bytes, opts.kind);
    return rm;
  }

  /** An r/m operand that is an MMX register (0-7) or a `bytes`-byte memory operand in the window. */
  mmRm(bytes: number, opts?: MemOpts & { memOnly?: boolean; regOnly?: boolean }): Rm {
    if (opts?.regOnly || (!opts?.memOnly && this.rng.bool())) return this.regRm(this.rng.below(8));
    return this.memRm(bytes, opts);
  }
}

/** Generates reproducible FP cases: case `index` of campaign `seed` is always the same. */
export class FpCaseGenerator {
  readonly forms: readonly FpForm[];
  /** Cases carry an FXSAVE64 image. */
  readonly fp = true;
  private readonly rng = new Rng();
  /** The case generated last. */
  readonly gen = new FpGen();
  /** Form index of the case generated last. */
  form = 0;

  constructor(forms: readonly FpForm[]) {
    if (forms.length === 0) throw new Error('FpCaseGenerator: no forms');
    this.forms = forms;
  }

  /** Generates case `index` of campaign `seed` into `this.gen` and returns its form index. */
  generate(seed: number, index: number): number {
    const rng = this.rng;
    rng.reseed(seed, index);
    const f = rng.below(this.forms.length);
    this.run(f);
    return f;
  }

  /** Generates case `index` of `seed` with form `f` (per-form tests). */
  generateForm(seed: number, index: number, f: number): void {
    this.rng.reseed(seed, index);
    this.rng.next();
    this.run(f);
  }

  private run(f: number): void {
    const g = this.gen;
    g.reset(this.rng);
    const form = this.forms[f]!;
    form.gen(g);
    g.finish();
    if (g.len > CODE_MAX) throw new Error(`generator bug: form '${form.name}' made ${g.len} bytes`);
    this.form = f;
  }
}
