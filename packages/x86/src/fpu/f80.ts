/**
 * A software implementation of the x87 double-extended floating-point format (IEEE 754
 * binary64-extended as the x87 FPU implements it; SDM Vol. 1 §4.2, §4.8, ch. 8).
 *
 * Operands are passed as (se, hi, lo): se = sign << 15 | 15-bit biased exponent (bias 16383);
 * hi:lo the 64-bit significand with the explicit integer bit J at hi bit 31. Results go to the
 * module-level {@link r80} object (no allocation). Exception flags use the FSW/MXCSR bit
 * positions (IE=1 DE=2 ZE=4 OE=8 UE=0x10 PE=0x20).
 *
 * Encodings (SDM Vol. 1 §8.2.2, Table 8-3): exponent 0 with J = 0 is a denormal; exponent 0
 * with J = 1 a pseudo-denormal (a denormal operand, DE, valued with exponent 1); J = 0 with a
 * non-zero exponent is an unnormal, pseudo-infinity or pseudo-NaN, all invalid operands (IE).
 *
 * Rounding (SDM Vol. 1 §4.8.4, §8.1.5.2): precision control rounds the significand at bit 24,
 * 53 or 64 of the 64-bit field, exponent range unchanged; the four rounding modes; C1 = 1 when
 * the result was rounded up in magnitude (§8.1.3.3). Tiny results (§4.9.1.5): masked UE is
 * flagged only when the result is also inexact; unmasked UE (register destinations) stores
 * the result with the exponent biased by +24576, unmasked OE by -24576 (§8.4, "numeric
 * overflow/underflow exception"). Tininess is detected after rounding (§4.9.1.5: the result
 * rounded with unbounded exponent at the precision control's precision is below the smallest
 * normal), as this CPU does.
 *
 * All arithmetic uses 32-bit halves plus a 32-bit guard word whose bit 0 collects the sticky
 * bits; no BigInt, no allocation.
 */

export const IE = 1;
export const DE = 2;
export const ZE = 4;
export const OE = 8;
export const UE = 0x10;
export const PE = 0x20;

export const BIAS = 16383;
/** Unbias amount for unmasked OE/UE on register destinations (SDM Vol. 1 §4.9.1.4-5). */
export const REBIAS = 24576;

/** Operand classes. */
export const Cls = { Zero: 0, Denormal: 1, Normal: 2, Inf: 3, QNaN: 4, SNaN: 5, Invalid: 6 } as const;

/** The result of the last operation. `ilo/ihi`: integer results; `cc`: comparison result. */
export const r80 = { se: 0, hi: 0, lo: 0, flags: 0, c1: 0, ilo: 0, ihi: 0, cc: 0, q: 0, c2: 0 };

/** Rounding control and precision (24, 53, 64 bits) used by the operations; see {@link setControl}. */
let rcMode = 0;
let precBits = 64;
/** Masks from FCW bits 5:0 (1 = masked). */
let maskBits = 0x3f;
/** Whether results go to a register (unmasked OE/UE rebias) or memory (no store). */

/** Takes RC, PC and the masks from an x87 control word. PC 01 (reserved) acts as 64 bits (measured on the host). */
export function setControl(fcw: number): void {
  rcMode = (fcw >>> 10) & 3;
  const pc = (fcw >>> 8) & 3;
  precBits = pc === 2 ? 53 : pc === 0 ? 24 : 64;
  maskBits = fcw & 0x3f;
}

export function classify(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  if (e === 0) return (hi | lo) === 0 ? Cls.Zero : Cls.Denormal;
  if (hi >= 0) return Cls.Invalid;
  if (e === 0x7fff) {
    if ((hi & 0x7fffffff) === 0 && lo === 0) return Cls.Inf;
    return (hi & 0x40000000) !== 0 ? Cls.QNaN : Cls.SNaN;
  }
  return Cls.Normal;
}

// ---- working registers -----------------------------------------------------------------
// Operand A / B unpacked: sign, biased exponent (may go below 1 after normalizing), significand.
let aS = 0;
let aE = 0;
let aH = 0;
let aL = 0;
let bS = 0;
let bE = 0;
let bH = 0;
let bL = 0;
// A 96-bit value being shifted: wH:wL:wX.
let wH = 0;
let wL = 0;
let wX = 0;
// 32x32 multiply result.
let mH = 0;
let mL = 0;

function setResult(se: number, hi: number, lo: number, flags: number, c1: number): void {
  r80.se = se;
  r80.hi = hi;
  r80.lo = lo;
  r80.flags = flags;
  r80.c1 = c1;
}

/** The real indefinite: negative QNaN 0xFFFF C0000000 00000000 (SDM Vol. 1 §4.8.3.7). */
function indefinite(flags: number): void {
  setResult(0xffff, 0xc0000000 | 0, 0, flags, 0);
}

function clz64(h: number, l: number): number {
  return h !== 0 ? Math.clz32(h) : 32 + Math.clz32(l);
}

/** Normalizes operand A (denormals and pseudo-denormals: exponent 1 then shift left). */
function normA(): void {
  if (aE === 0) {
    aE = 1;
    if ((aH | aL) === 0) return;
    const s = clz64(aH, aL);
    if (s >= 32) {
      aH = aL << (s - 32);
      aL = 0;
    } else if (s > 0) {
      aH = (aH << s) | (aL >>> (32 - s));
      aL <<= s;
    }
    aE -= s;
  }
}
function normB(): void {
  if (bE === 0) {
    bE = 1;
    if ((bH | bL) === 0) return;
    const s = clz64(bH, bL);
    if (s >= 32) {
      bH = bL << (s - 32);
      bL = 0;
    } else if (s > 0) {
      bH = (bH << s) | (bL >>> (32 - s));
      bL <<= s;
    }
    bE -= s;
  }
}

/** Shifts wH:wL:wX right by n, OR-ing the bits shifted out into bit 0 of wX. */
function shrJam(n: number): void {
  if (n <= 0) return;
  if (n >= 96) {
    wX = (wH | wL | wX) !== 0 ? 1 : 0;
    wH = wL = 0;
    return;
  }
  while (n >= 32) {
    wX = wL | (wX !== 0 ? 1 : 0);
    wL = wH;
    wH = 0;
    n -= 32;
  }
  if (n > 0) {
    const lost = (wX << (32 - n)) !== 0 ? 1 : 0;
    wX = (wL << (32 - n)) | (wX >>> n) | lost;
    wL = (wH << (32 - n)) | (wL >>> n);
    wH >>>= n;
  }
}

/** Shifts wH:wL:wX left until wH bit 31 is set (non-zero value); returns the shift. */
function normW(): number {
  let s: number;
  if (wH !== 0) s = Math.clz32(wH);
  else if (wL !== 0) s = 32 + Math.clz32(wL);
  else s = 64 + Math.clz32(wX);
  let n = s;
  while (n >= 32) {
    wH = wL;
    wL = wX;
    wX = 0;
    n -= 32;
  }
  if (n > 0) {
    wH = (wH << n) | (wL >>> (32 - n));
    wL = (wL << n) | (wX >>> (32 - n));
    wX <<= n;
  }
  return s;
}

/** 2^32 and 2^-32 (exact). */
const TWO32 = 4294967296;
const TWO_M32 = 1 / 4294967296;

/**
 * 32 x 32 -> 64-bit unsigned product into mH:mL. The low half is exact from Math.imul; the
 * float64 product is within 2^11 of the true one, so (product - low) / 2^32 is within 2^-20
 * of the exact high half, which rounding to the nearest integer recovers.
 */
function mul32(a: number, b: number): void {
  const l = Math.imul(a, b);
  mL = l;
  mH = Math.round(((a >>> 0) * (b >>> 0) - (l >>> 0)) * TWO_M32) | 0;
}

/**
 * Whether rounding wH:wL:wX (normalized) to `prec` bits with the current rounding control
 * carries out of the significand: the kept bits are all ones and the rounding increments.
 */
function roundsToNormal(sign: number, prec: number): boolean {
  let ones: boolean;
  let half: number;
  let sticky: number;
  if (prec === 64) {
    ones = (wH & wL) === -1;
    half = wX >>> 31;
    sticky = wX & 0x7fffffff;
  } else if (prec === 53) {
    ones = wH === -1 && wL >>> 11 === 0x1fffff;
    half = (wL >>> 10) & 1;
    sticky = (wL & 0x3ff) | wX;
  } else {
    ones = wH >>> 8 === 0xffffff;
    half = (wH >>> 7) & 1;
    sticky = (wH & 0x7f) | wL | wX;
  }
  if (!ones || (half | sticky) === 0) return false;
  const rc = rcMode;
  return rc === 0 ? half !== 0 : rc === 1 ? sign !== 0 : rc === 2 ? sign === 0 : false;
}

/**
 * Rounds wH:wL:wX (normalized: wH bit 31 set) with biased exponent `e` to `prec` bits of the
 * 64-bit field, exponent field maximum `emax` (0x7fff, 0x7ff, 0xff), and packs it into r80
 * (se = sign << 15 | exponent field, hi/lo = the 64-bit field). `rebias` is the exponent
 * adjustment for unmasked OE/UE on a register destination (0: a memory destination, whose
 * store the caller suppresses). Flags are OR-ed into `flags0`.
 */
function roundPack(sign: number, e: number, prec: number, emax: number, rebias: number, flags0: number): void {
  // The common case, small enough to be inlined: full precision, an exponent that can neither
  // be tiny nor overflow after a carry.
  if (prec === 64 && e >= 1 && e <= emax - 2) {
    const x = wX;
    if (x === 0) {
      setResult((sign << 15) | e, wH, wL, flags0, 0);
      return;
    }
    const rc = rcMode;
    const inc = rc === 0 ? x < 0 && ((x & 0x7fffffff) !== 0 || (wL & 1) !== 0) : rc === 1 ? sign !== 0 : rc === 2 && sign === 0;
    let h = wH;
    let l = wL;
    if (inc) {
      l = (l + 1) | 0;
      if (l === 0) {
        h = (h + 1) | 0;
        if (h === 0) {
          h = 0x80000000 | 0;
          e++;
        }
      }
    }
    setResult((sign << 15) | e, h, l, flags0 | PE, inc ? 1 : 0);
    return;
  }
  roundPackGeneral(sign, e, prec, emax, rebias, flags0);
}

/** {@link roundPack} for every case: precision control, tiny results, overflow. */
function roundPackGeneral(sign: number, e: number, prec: number, emax: number, rebias: number, flags0: number): void {
  let flags = flags0;
  let tiny = false;
  const ueMasked = (maskBits & UE) !== 0;
  if (e === 0 && roundsToNormal(sign, prec)) {
    // Not tiny: SDM Vol. 1 §4.9.1.5 judges tininess on the result rounded with unbounded
    // exponent (at the precision control's precision), here the smallest normal. Rounding the
    // denormalized significand gives that same value.
    shrJam(1);
  } else if (e < 1) {
    if (!ueMasked) flags |= UE;
    if (!ueMasked && rebias !== 0 && e + rebias < 1) {
      // Unmasked, but beyond the rebiased range too: a signed zero (host behaviour).
      setResult(sign << 15, 0, 0, flags | PE, 0);
      return;
    }
    if (!ueMasked && rebias !== 0) e += rebias;
    else {
      shrJam(1 - e);
      e = 0;
      tiny = true;
    }
  }
  let h = wH;
  let l = wL;
  const x = wX;
  let half: number;
  let sticky: number;
  let lsb: number;
  if (prec === 64) {
    lsb = l & 1;
    half = x >>> 31;
    sticky = x & 0x7fffffff;
  } else if (prec === 53) {
    lsb = (l >>> 11) & 1;
    half = (l >>> 10) & 1;
    sticky = (l & 0x3ff) | x;
    l &= ~0x7ff;
  } else {
    lsb = (h >>> 8) & 1;
    half = (h >>> 7) & 1;
    sticky = (h & 0x7f) | l | x;
    h &= ~0xff;
    l = 0;
  }
  const inexact = (half | sticky) !== 0;
  let inc = false;
  if (inexact) {
    const rc = rcMode;
    if (rc === 0) inc = half !== 0 && (sticky !== 0 || lsb !== 0);
    else if (rc === 1) inc = sign !== 0;
    else if (rc === 2) inc = sign === 0;
    flags |= PE;
    if (tiny && ueMasked) flags |= UE;
  }
  if (inc) {
    const add = prec === 64 ? 1 : prec === 53 ? 0x800 : 0;
    if (add !== 0) {
      const nl = (l + add) | 0;
      if ((nl >>> 0) < (l >>> 0)) {
        h = (h + 1) | 0;
        if (h === 0) {
          h = 0x80000000 | 0;
          e++;
        }
      }
      l = nl;
    } else {
      const nh = (h + 0x100) | 0;
      if ((nh >>> 0) < (h >>> 0)) {
        h = 0x80000000 | 0;
        e++;
      } else h = nh;
    }
  }
  if (e === 0 && h < 0) e = 1;
  let c1 = inc ? 1 : 0;
  if (e >= emax) {
    if ((maskBits & OE) === 0 && (rebias === 0 || e - rebias < emax)) {
      flags |= OE;
      e -= rebias;
    } else if ((maskBits & OE) === 0) {
      // Unmasked, but beyond the rebiased range too: infinity, rounded up (host behaviour).
      flags |= OE | PE;
      e = emax;
      h = 0x80000000 | 0;
      l = 0;
      c1 = 1;
    } else {
      flags |= OE | PE;
      const rc = rcMode;
      const toInf = rc === 0 || (rc === 2 && sign === 0) || (rc === 1 && sign !== 0);
      if (toInf) {
        e = emax;
        h = 0x80000000 | 0;
        l = 0;
        c1 = 1;
      } else {
        e = emax - 1;
        h = prec === 24 ? 0xffffff00 | 0 : -1;
        l = prec === 64 ? -1 : prec === 53 ? 0xfffff800 | 0 : 0;
        c1 = 0;
      }
    }
  }
  setResult((sign << 15) | (e & 0x7fff), h, l, flags, c1);
}

/**
 * NaN and invalid-encoding rules for two operands (SDM Vol. 1 Table 4-7): returns true when
 * the result is decided (into r80). SNaNs are quieted with IE; with two NaNs the one with the
 * larger significand wins (a QNaN over an SNaN).
 */
function twoNaN(ca: number, aSe: number, aHi: number, aLo: number, cb: number, bSe: number, bHi: number, bLo: number): boolean {
  if (ca === Cls.Invalid || cb === Cls.Invalid) {
    indefinite(IE);
    return true;
  }
  const an = ca === Cls.QNaN || ca === Cls.SNaN;
  const bn = cb === Cls.QNaN || cb === Cls.SNaN;
  if (!an && !bn) return false;
  const flags = ca === Cls.SNaN || cb === Cls.SNaN ? IE : 0;
  let pickA: boolean;
  if (an && bn) {
    if (ca === Cls.QNaN && cb === Cls.SNaN) pickA = true;
    else if (ca === Cls.SNaN && cb === Cls.QNaN) pickA = false;
    else {
      const ah = aHi & 0x7fffffff;
      const bh = bHi & 0x7fffffff;
      if (ah !== bh) pickA = ah >>> 0 > bh >>> 0;
      else if (aLo !== bLo) pickA = aLo >>> 0 > bLo >>> 0;
      else pickA = (aSe & 0x8000) === 0 || (bSe & 0x8000) !== 0;
    }
  } else pickA = an;
  if (pickA) setResult(aSe, aHi | 0x40000000, aLo, flags, 0);
  else setResult(bSe, bHi | 0x40000000, bLo, flags, 0);
  return true;
}

function loadA(se: number, hi: number, lo: number): void {
  aS = se >>> 15;
  aE = se & 0x7fff;
  aH = hi;
  aL = lo;
}
function loadB(se: number, hi: number, lo: number): void {
  bS = se >>> 15;
  bE = se & 0x7fff;
  bH = hi;
  bL = lo;
}

/** Rounds a finite non-zero A (normalized) to the precision control and packs it. */
function packA(flags: number): void {
  wH = aH;
  wL = aL;
  wX = 0;
  roundPack(aS, aE, precBits, 0x7fff, REBIAS, flags);
}

/**
 * Rounds a raw significand hi:lo:x (hi bit 31 set; x holds further bits, its bit 0 sticky) with
 * biased exponent e under the current control word, as the arithmetic operations do, into
 * r80. For tests that check the operations against reference significand algorithms.
 */
export function roundRaw(sign: number, e: number, hi: number, lo: number, x: number, flags: number): void {
  wH = hi;
  wL = lo;
  wX = x;
  roundPack(sign, e, precBits, 0x7fff, REBIAS, flags);
}

// ---- add / subtract (SDM Vol. 2 "FADD/FADDP/FIADD", "FSUB/FSUBP/FISUB") -------------------

/** a + b (sub = 0) or a - b (sub = 1), rounded to PC/RC. */
export function add(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, sub: number): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    twoNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return;
  }
  const flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  loadA(aSe, aHi, aLo);
  loadB(bSe ^ (sub << 15), bHi, bLo);
  if (ca === Cls.Inf || cb === Cls.Inf) {
    if (ca === Cls.Inf && cb === Cls.Inf && aS !== bS) indefinite(IE | flags);
    else if (ca === Cls.Inf) setResult(aSe, aHi, aLo, flags, 0);
    else setResult((bS << 15) | 0x7fff, 0x80000000 | 0, 0, flags, 0);
    return;
  }
  if (cb === Cls.Zero) {
    if (ca === Cls.Zero) {
      const s = aS === bS ? aS : rcMode === 1 ? 1 : 0;
      setResult(s << 15, 0, 0, flags, 0);
      return;
    }
    normA();
    packA(flags);
    return;
  }
  if (ca === Cls.Zero) {
    aS = bS;
    aE = bE;
    aH = bH;
    aL = bL;
    normA();
    packA(flags);
    return;
  }
  normA();
  normB();
  addCore(flags);
}

/** Adds the normalized non-zero A and B (signs applied) and rounds. */
function addCore(flags: number): void {
  // Make A the larger magnitude.
  if (aE < bE || (aE === bE && (aH >>> 0 < bH >>> 0 || (aH === bH && aL >>> 0 < bL >>> 0)))) {
    let t = aS;
    aS = bS;
    bS = t;
    t = aE;
    aE = bE;
    bE = t;
    t = aH;
    aH = bH;
    bH = t;
    t = aL;
    aL = bL;
    bL = t;
  }
  wH = bH;
  wL = bL;
  wX = 0;
  shrJam(aE - bE);
  let e = aE;
  if (aS === bS) {
    const l = (aL + wL) | 0;
    let c = (l >>> 0) < (aL >>> 0) ? 1 : 0;
    const h = (aH + wH + c) | 0;
    c = (h >>> 0) < (aH >>> 0) || ((h >>> 0) === (aH >>> 0) && c === 1) ? 1 : 0;
    wH = h;
    wL = l;
    if (c !== 0) {
      shrJam(1);
      wH |= 0x80000000;
      e++;
    }
  } else {
    // (aH:aL:0) - (wH:wL:wX)
    const x = (0 - wX) | 0;
    let br = wX !== 0 ? 1 : 0;
    const l = (aL - wL - br) | 0;
    br = (aL >>> 0) < (wL >>> 0) + br ? 1 : 0;
    const h = (aH - wH - br) | 0;
    wH = h;
    wL = l;
    wX = x;
    if ((wH | wL | wX) === 0) {
      setResult((rcMode === 1 ? 1 : 0) << 15, 0, 0, flags, 0);
      return;
    }
    e -= normW();
  }
  roundPack(aS, e, precBits, 0x7fff, REBIAS, flags);
}

// ---- multiply (SDM Vol. 2 "FMUL/FMULP/FIMUL") ----------------------------------------------

export function mul(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    twoNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return;
  }
  const flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  const s = ((aSe ^ bSe) >>> 15) & 1;
  if (ca === Cls.Inf || cb === Cls.Inf) {
    if (ca === Cls.Zero || cb === Cls.Zero) indefinite(IE | flags);
    else setResult((s << 15) | 0x7fff, 0x80000000 | 0, 0, flags, 0);
    return;
  }
  if (ca === Cls.Zero || cb === Cls.Zero) {
    setResult(s << 15, 0, 0, flags, 0);
    return;
  }
  loadA(aSe, aHi, aLo);
  loadB(bSe, bHi, bLo);
  normA();
  normB();
  mulCore(s, aE + bE - BIAS + 1, flags, precBits, 0x7fff, REBIAS);
}

/** A * B (normalized significands) with result exponent `e` for a product >= 2^127; rounds. */
function mulCore(s: number, e: number, flags: number, prec: number, emax: number, rebias: number): void {
  // Four 64-bit partial products summed by 32-bit columns; column sums stay below 2^34.
  mul32(aL, bL);
  const p0l = mL;
  let col = mH >>> 0;
  mul32(aL, bH);
  col += mL >>> 0;
  let next = mH >>> 0;
  mul32(aH, bL);
  col += mL >>> 0;
  next += mH >>> 0;
  const w1 = col >>> 0;
  next += (col - w1) * TWO_M32;
  mul32(aH, bH);
  next += mL >>> 0;
  const w2 = next >>> 0;
  const w3 = (mH >>> 0) + (next - w2) * TWO_M32;
  wH = w3 | 0;
  wL = w2 | 0;
  wX = w1 | (p0l !== 0 ? 1 : 0);
  if (wH >= 0) {
    const jam = wX & 1;
    wH = (wH << 1) | (wL >>> 31);
    wL = (wL << 1) | (wX >>> 31);
    wX = (wX << 1) | jam;
    e--;
  }
  roundPack(s, e, prec, emax, rebias, flags);
}

// ---- divide (SDM Vol. 2 "FDIV/FDIVP/FIDIV", "FDIVR") ---------------------------------------

export function div(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    twoNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return;
  }
  const flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  const s = ((aSe ^ bSe) >>> 15) & 1;
  if (ca === Cls.Inf) {
    if (cb === Cls.Inf) indefinite(IE | flags);
    else setResult((s << 15) | 0x7fff, 0x80000000 | 0, 0, flags, 0);
    return;
  }
  if (cb === Cls.Inf) {
    setResult(s << 15, 0, 0, flags, 0);
    return;
  }
  if (cb === Cls.Zero) {
    if (ca === Cls.Zero) indefinite(IE | flags);
    else setResult((s << 15) | 0x7fff, 0x80000000 | 0, 0, ZE, 0); // ZE hides DE (host)
    return;
  }
  if (ca === Cls.Zero) {
    setResult(s << 15, 0, 0, flags, 0);
    return;
  }
  loadA(aSe, aHi, aLo);
  loadB(bSe, bHi, bLo);
  normA();
  normB();
  let e = aE - bE + BIAS;
  // Quotient digits: q0 (the integer bit, 0 or 1), then two radix-2^32 digits, remainder in rH:rL.
  let q0 = 0;
  rH = aH;
  rL = aL;
  if (!(aH >>> 0 < bH >>> 0 || (aH === bH && aL >>> 0 < bL >>> 0))) {
    const br = (aL >>> 0) < (bL >>> 0) ? 1 : 0;
    rL = (aL - bL) | 0;
    rH = (aH - bH - br) | 0;
    q0 = 1;
  }
  invB = TWO32 / ((bH >>> 0) * TWO32 + (bL >>> 0));
  const q1 = divDigit();
  const q2 = divDigit();
  if (q0 !== 0) {
    // 1.q1 q2: 64 bits, the round bit (q2 bit 0) and the sticky bit from the remainder.
    wH = 0x80000000 | (q1 >>> 1);
    wL = (q1 << 31) | (q2 >>> 1);
    wX = (q2 << 31) | ((rH | rL) !== 0 ? 1 : 0);
  } else {
    // 0.q1 q2 (q1 bit 31 set, as A > B / 2): the round bit is 2R >= B, the sticky bit 2R != B.
    e--;
    wH = q1 | 0;
    wL = q2 | 0;
    const tc = rH >>> 31;
    const th = (rH << 1) | (rL >>> 31);
    const tl = rL << 1;
    if (tc !== 0 || th >>> 0 > bH >>> 0 || (th === bH && tl >>> 0 >= bL >>> 0)) {
      wX = (0x80000000 | (th !== bH || tl !== bL || tc !== 0 ? 1 : 0)) | 0;
    } else wX = (rH | rL) !== 0 ? 1 : 0;
  }
  roundPack(s, e, precBits, 0x7fff, REBIAS, flags);
}

/** Division remainder (0 <= R < B) and the float64 estimate of 2^32 / B. */
let rH = 0;
let rL = 0;
let invB = 0;

/**
 * One radix-2^32 digit of the quotient: d = floor(R * 2^32 / B) with R = rH:rL < B = bH:bL,
 * and R <- R * 2^32 - d * B. The float64 estimate R * (2^32 / B) has a relative error below
 * 2^-50, less than 2^-18 in absolute terms, so its floor is d or d +- 1; the exact 96-bit
 * remainder R * 2^32 - d * B (computed with integer words) decides the correction.
 */
function divDigit(): number {
  let d = Math.floor(((rH >>> 0) * TWO32 + (rL >>> 0)) * invB);
  if (d > 0xffffffff) d = 0xffffffff;
  // P = d * B as p2:p1:p0.
  mul32(d, bL);
  const p0 = mL >>> 0;
  const c1 = mH >>> 0;
  mul32(d, bH);
  const s1 = (mL >>> 0) + c1;
  const p1 = s1 >>> 0;
  const p2 = (mH >>> 0) + (s1 - p1) * TWO_M32;
  // X = rH:rL:0 - P: x2 is -1, 0 or 1 (|X| < 2B < 2^65).
  const b0 = p0 !== 0 ? 1 : 0;
  let x0 = (0 - p0) >>> 0;
  const v1 = (rL >>> 0) - p1 - b0;
  let x1 = v1 >>> 0;
  const x2 = (rH >>> 0) - p2 - (v1 < 0 ? 1 : 0);
  const bh = bH >>> 0;
  const bl = bL >>> 0;
  if (x2 < 0) {
    // d was one too large: X += B.
    d--;
    const t = x0 + bl;
    x0 = t >>> 0;
    x1 = (x1 + bh + (t > 0xffffffff ? 1 : 0)) >>> 0;
  } else if (x2 > 0 || x1 > bh || (x1 === bh && x0 >= bl)) {
    // d was one too small: X -= B.
    d++;
    const t = x0 - bl;
    x0 = t >>> 0;
    x1 = (x1 - bh - (t < 0 ? 1 : 0)) >>> 0;
  }
  rH = x1 | 0;
  rL = x0 | 0;
  return d;
}

// ---- square root (SDM Vol. 2 "FSQRT") --------------------------------------------------------

export function sqrt(se: number, hi: number, lo: number): void {
  const c = classify(se, hi, lo);
  if (c >= Cls.QNaN) {
    twoNaN(c, se, hi, lo, Cls.Zero, 0, 0, 0);
    return;
  }
  const neg = (se & 0x8000) !== 0;
  if (c === Cls.Zero) {
    setResult(se, hi, lo, 0, 0);
    return;
  }
  const flags = c === Cls.Denormal ? DE : 0;
  if (neg) {
    indefinite(IE | flags);
    return;
  }
  if (c === Cls.Inf) {
    setResult(se, hi, lo, 0, 0);
    return;
  }
  loadA(se, hi, lo);
  normA();
  let ex = aE - BIAS;
  // The 64-bit root Q = floor(sqrt(S)) of S = M * 2^63 (even exponent) or M * 2^64 (odd), M the
  // significand: Q / 2^63 is the root of M / 2^63 (or M / 2^62). S = T * 2^64 + uh * 2^32.
  let th: number;
  let tl: number;
  let uh: number;
  if ((ex & 1) === 0) {
    th = aH >>> 1;
    tl = (aH << 31) | (aL >>> 1);
    uh = aL << 31;
  } else {
    th = aH;
    tl = aL;
    uh = 0;
    ex -= 1;
  }
  // High digit s = floor(sqrt(T)) in [2^31, 2^32): the float64 root is within one of it;
  // the exact remainder r = T - s^2 (|r| < 2^34, exact in float64) corrects it.
  let sd = Math.floor(Math.sqrt((th >>> 0) * TWO32 + (tl >>> 0)));
  if (sd > 0xffffffff) sd = 0xffffffff;
  mul32(sd, sd);
  const rl0 = (tl >>> 0) - (mL >>> 0);
  let r = ((th >>> 0) - (mH >>> 0) - (rl0 < 0 ? 1 : 0)) * TWO32 + (rl0 >>> 0);
  if (r < 0) {
    sd--;
    r += 2 * sd + 1;
  } else if (r > 2 * sd) {
    r -= 2 * sd + 1;
    sd++;
  }
  // Low digit d = floor(sqrt(S)) - s * 2^32 in [0, 2^32): the largest d with
  // d * (2 s 2^32 + d) <= R' = r * 2^64 + uh * 2^32, estimated by one fixed-point step in float64
  // (error far below one), then corrected with the exact remainder R' - d (2 s 2^32 + d):
  // with d0 = R' / (2 s 2^32) <= 2^32 + 2, d = d0 / (1 + d / (2 s 2^32)) = d0 (1 - d0 / (2 s 2^32))
  // up to terms below 2^-30.
  const rd = r * TWO32 + (uh >>> 0);
  const inv = 1 / (2 * sd);
  const d0 = rd * inv;
  let d = Math.floor(d0 - d0 * d0 * inv * TWO_M32);
  if (d > 0xffffffff) d = 0xffffffff;
  // rem = R' - (s d << 33) - d^2 as words x3 (small, signed):x2:x1:x0.
  mul32(sd, d);
  const ph = mH >>> 0;
  const pl = mL >>> 0;
  mul32(d, d);
  const ql = mL >>> 0;
  const qh = mH >>> 0;
  let x0 = (0 - ql) >>> 0;
  const v1 = (uh >>> 0) - ((pl << 1) >>> 0) - qh - (ql !== 0 ? 1 : 0);
  let x1 = v1 >>> 0;
  const rhi = Math.floor(r * TWO_M32);
  const v2 = (r >>> 0) - (((ph << 1) | (pl >>> 31)) >>> 0) - (x1 - v1) * TWO_M32;
  let x2 = v2 >>> 0;
  const x3 = rhi - (ph >>> 31) - (x2 - v2) * TWO_M32;
  // 2Q + 1 = 1 : (s << 1 | d >>> 31) : (d << 1 | 1) (s >= 2^31), recomputed after d changes.
  if (x3 < 0) {
    // d one too large: d - 1, rem + 2Q + 1 with the new Q.
    d--;
    const a0 = x0 + (((d << 1) | 1) >>> 0);
    x0 = a0 >>> 0;
    const a1 = x1 + (((sd << 1) | (d >>> 31)) >>> 0) + (a0 > 0xffffffff ? 1 : 0);
    x1 = a1 >>> 0;
    x2 = (x2 + 1 + (a1 > 0xffffffff ? 1 : 0)) >>> 0;
  } else {
    const w1 = ((sd << 1) | (d >>> 31)) >>> 0;
    const w0 = (d << 1) >>> 0;
    if (x3 > 0 || x2 > 1 || (x2 === 1 && (x1 > w1 || (x1 === w1 && x0 > w0)))) {
      // d one too small (rem > 2Q): rem - (2Q + 1), d + 1.
      const s0 = x0 - w0 - 1;
      x0 = s0 >>> 0;
      const s1 = x1 - w1 - (s0 < 0 ? 1 : 0);
      x1 = s1 >>> 0;
      x2 = (x2 - 1 - (s1 < 0 ? 1 : 0)) >>> 0;
      d++;
    }
  }
  // 0 <= rem <= 2Q now (x2 <= 1). The root's next bit is 1 iff rem > Q; the rest is non-zero iff rem != 0.
  const sU = sd >>> 0;
  const half = x2 !== 0 || x1 > sU || (x1 === sU && x0 > d);
  wH = sd | 0;
  wL = d | 0;
  wX = (half ? 0x80000000 : 0) | ((x2 | x1 | x0) !== 0 ? 1 : 0);
  roundPack(0, ex / 2 + BIAS, precBits, 0x7fff, REBIAS, flags);
}

// ---- compare (SDM Vol. 2 "FCOM", "FUCOM", "FCOMI", "FTST") ---------------------------------

/**
 * Compares a with b: r80.cc = 0 (a > b), 1 (a < b), 2 (equal), 3 (unordered). IE for SNaN
 * operands, invalid encodings, and (ordered compares, `quiet` false) any NaN; DE for denormals.
 */
export function compare(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, quiet: boolean): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  r80.c1 = 0;
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    r80.cc = 3;
    const inv = ca === Cls.Invalid || cb === Cls.Invalid || ca === Cls.SNaN || cb === Cls.SNaN || !quiet;
    r80.flags = inv ? IE : 0;
    return;
  }
  r80.flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  const as = ca === Cls.Zero ? 0 : aSe >>> 15;
  const bs = cb === Cls.Zero ? 0 : bSe >>> 15;
  if (ca === Cls.Zero && cb === Cls.Zero) {
    r80.cc = 2;
    return;
  }
  if (as !== bs) {
    r80.cc = as !== 0 ? 1 : 0;
    return;
  }
  // Same sign: compare magnitudes (denormals: exponent 0 and pseudo-denormals compare as exponent 1).
  let ae = aSe & 0x7fff;
  let be = bSe & 0x7fff;
  if (ae === 0) ae = 1;
  if (be === 0) be = 1;
  loadA(aSe, aHi, aLo);
  loadB(bSe, bHi, bLo);
  aE = ae === 1 && (aSe & 0x7fff) === 0 ? 0 : ae;
  bE = be === 1 && (bSe & 0x7fff) === 0 ? 0 : be;
  if (ca !== Cls.Zero) normA();
  else aE = -100000;
  if (cb !== Cls.Zero) normB();
  else bE = -100000;
  let cmp: number;
  if (aE !== bE) cmp = aE > bE ? 1 : -1;
  else if (aH !== bH) cmp = aH >>> 0 > bH >>> 0 ? 1 : -1;
  else if (aL !== bL) cmp = aL >>> 0 > bL >>> 0 ? 1 : -1;
  else cmp = 0;
  if (as !== 0) cmp = -cmp;
  r80.cc = cmp === 0 ? 2 : cmp > 0 ? 0 : 1;
}

// ---- integers (SDM Vol. 2 "FILD", "FIST/FISTP", "FISTTP", "FRNDINT") ------------------------

/** Exact conversion of the signed 64-bit integer hi:lo to double-extended. */
export function fromInt64(lo: number, hi: number): void {
  let s = 0;
  if (hi < 0) {
    s = 1;
    lo = -lo | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
  if ((hi | lo) === 0) {
    setResult(0, 0, 0, 0, 0);
    return;
  }
  const n = clz64(hi, lo);
  if (n >= 32) {
    hi = lo << (n - 32);
    lo = 0;
  } else if (n > 0) {
    hi = (hi << n) | (lo >>> (32 - n));
    lo <<= n;
  }
  setResult((s << 15) | (BIAS + 63 - n), hi, lo, 0, 0);
}

/**
 * Rounds finite A (any class but NaN/inf/invalid) to an integer magnitude in wH:wL with the
 * given rounding mode; returns false if the magnitude needs more than 64 bits. Sets PE in
 * `rndFlags` when inexact, `rndUp` when rounded up in magnitude.
 */
let rndFlags = 0;
let rndUp = 0;
function roundToInt(rc: number): boolean {
  rndFlags = 0;
  rndUp = 0;
  if ((aH | aL) === 0) {
    wH = wL = 0;
    return true;
  }
  const sh = BIAS + 63 - aE;
  if (sh <= 0) {
    if (sh < 0) return false;
    wH = aH;
    wL = aL;
    return true;
  }
  wH = aH;
  wL = aL;
  wX = 0;
  let half: number;
  let sticky: number;
  if (sh > 64) {
    wH = wL = 0;
    half = 0;
    sticky = 1;
  } else {
    shrJam(sh);
    half = wX >>> 31;
    sticky = wX & 0x7fffffff;
  }
  if ((half | sticky) === 0) return true;
  rndFlags = PE;
  let inc: boolean;
  if (rc === 0) inc = half !== 0 && (sticky !== 0 || (wL & 1) !== 0);
  else if (rc === 1) inc = aS !== 0;
  else if (rc === 2) inc = aS === 0;
  else inc = false;
  if (inc) {
    rndUp = 1;
    wL = (wL + 1) | 0;
    if (wL === 0) {
      wH = (wH + 1) | 0;
      if (wH === 0) return false;
    }
  }
  return true;
}

/**
 * Converts to a signed integer of `bits` (16, 32, 64) bits rounding with `rc` (3 for FISTTP):
 * r80.ilo/ihi (sign-extended to 64 bits); out of range, NaN, infinity, invalid -> IE and the
 * integer indefinite (the most negative value).
 */
export function toInt(se: number, hi: number, lo: number, bits: number, rc: number): void {
  const c = classify(se, hi, lo);
  r80.c1 = 0;
  if (c >= Cls.Inf) {
    intIndefinite(bits);
    return;
  }
  let flags = c === Cls.Denormal ? DE : 0;
  loadA(se, hi, lo);
  if (c !== Cls.Zero) normA();
  const ok = roundToInt(rc);
  flags |= rndFlags;
  // Range check of the magnitude wH:wL with the sign.
  let inRange = ok;
  if (inRange) {
    if (bits === 64) inRange = wH >= 0 || (aS === 1 && wH === (0x80000000 | 0) && wL === 0);
    else {
      const lim = bits === 32 ? 0x80000000 : 0x8000;
      inRange = wH === 0 && (wL >>> 0 < lim || (aS === 1 && wL >>> 0 === lim));
    }
  }
  if (!inRange) {
    intIndefinite(bits);
    return;
  }
  let l = wL;
  let h = wH;
  if (aS !== 0) {
    l = -l | 0;
    h = (~h + (l === 0 ? 1 : 0)) | 0;
  }
  r80.ilo = l;
  r80.ihi = h;
  r80.flags = flags;
  r80.c1 = rndUp;
}

function intIndefinite(bits: number): void {
  r80.flags = IE;
  r80.c1 = 0;
  r80.ihi = bits === 64 ? 0x80000000 | 0 : -1;
  r80.ilo = bits === 64 ? 0 : bits === 32 ? 0x80000000 | 0 : 0xffff8000 | 0;
}

/** FRNDINT: rounds to an integral value with FCW.RC (PC does not apply). */
export function roundInt(se: number, hi: number, lo: number): void {
  const c = classify(se, hi, lo);
  if (c >= Cls.QNaN) {
    twoNaN(c, se, hi, lo, Cls.Zero, 0, 0, 0);
    return;
  }
  if (c === Cls.Zero || c === Cls.Inf) {
    setResult(se, hi, lo, 0, 0);
    return;
  }
  const flags = c === Cls.Denormal ? DE : 0;
  loadA(se, hi, lo);
  normA();
  if (aE >= BIAS + 63) {
    setResult(se, hi, lo, flags, 0);
    return;
  }
  roundToInt(rcMode);
  if ((wH | wL) === 0) {
    setResult(aS << 15, 0, 0, flags | rndFlags, rndUp);
    return;
  }
  const n = clz64(wH, wL);
  let h = wH;
  let l = wL;
  if (n >= 32) {
    h = l << (n - 32);
    l = 0;
  } else if (n > 0) {
    h = (h << n) | (l >>> (32 - n));
    l <<= n;
  }
  setResult((aS << 15) | (BIAS + 63 - n), h, l, flags | rndFlags, rndUp);
}

// ---- single / double (SDM Vol. 2 "FLD", "FST/FSTP") ----------------------------------------

/**
 * Binary32 (fracBits 23, bias 127) or binary64 (fracBits 52, bias 1023) given as hi:lo
 * (binary32: in lo) to double-extended: exact; SNaN -> QNaN with IE; denormals -> DE.
 */
export function fromFloat(hi: number, lo: number, dbl: boolean): void {
  let s: number;
  let e: number;
  let fh: number;
  let fl: number;
  let emax: number;
  let bias: number;
  if (dbl) {
    s = hi >>> 31;
    e = (hi >>> 20) & 0x7ff;
    fh = ((hi & 0xfffff) << 11) | (lo >>> 21);
    fl = lo << 11;
    emax = 0x7ff;
    bias = 1023;
  } else {
    s = lo >>> 31;
    e = (lo >>> 23) & 0xff;
    fh = (lo & 0x7fffff) << 8;
    fl = 0;
    emax = 0xff;
    bias = 127;
  }
  // fh:fl: the fraction left-aligned below the J position (bit 31 of fh is free: fraction in 30..)
  if (e === emax) {
    if ((fh | fl) === 0) setResult((s << 15) | 0x7fff, 0x80000000 | 0, 0, 0, 0);
    else {
      const snan = (fh & 0x40000000) === 0;
      setResult((s << 15) | 0x7fff, fh | 0xc0000000, fl, snan ? IE : 0, 0);
    }
    return;
  }
  if (e === 0) {
    if ((fh | fl) === 0) {
      setResult(s << 15, 0, 0, 0, 0);
      return;
    }
    const n = clz64(fh, fl);
    let h = fh;
    let l = fl;
    if (n >= 32) {
      h = l << (n - 32);
      l = 0;
    } else {
      h = (h << n) | (l >>> (32 - n));
      l <<= n;
    }
    setResult((s << 15) | (BIAS - bias + 1 - n), h, l, DE, 0);
    return;
  }
  setResult((s << 15) | (e - bias + BIAS), fh | 0x80000000, fl, 0, 0);
}

/**
 * Double-extended to binary32/binary64, rounding to the format's precision and exponent range
 * with FCW.RC (FST m32/m64). The packed value goes to r80.ilo/ihi (binary32: ilo). NaNs: SNaN
 * quieted with IE; invalid encodings give the indefinite. Flags as for arithmetic; the caller
 * stores nothing when an unmasked exception results.
 */
export function toFloat(se: number, hi: number, lo: number, dbl: boolean): void {
  const c = classify(se, hi, lo);
  const s = se >>> 15;
  let flags = 0;
  if (c === Cls.Zero) {
    packFloat(s, 0, 0, 0, dbl, 0);
    return;
  }
  if (c === Cls.Inf) {
    packFloat(s, dbl ? 0x7ff : 0xff, 0, 0, dbl, 0);
    return;
  }
  if (c >= Cls.QNaN) {
    let h = hi;
    let l = lo;
    let ss = s;
    if (c === Cls.Invalid) {
      h = 0xc0000000 | 0;
      l = 0;
      ss = 1;
      flags = IE;
    } else if (c === Cls.SNaN) flags = IE;
    h |= 0x40000000;
    // Truncate the NaN's significand to the format.
    if (dbl) l &= ~0x7ff;
    else {
      h &= ~0xff;
      l = 0;
    }
    packFloat(ss, dbl ? 0x7ff : 0xff, h, l, dbl, flags);
    return;
  }
  if (c === Cls.Denormal) flags = DE;
  loadA(se, hi, lo);
  normA();
  wH = aH;
  wL = aL;
  wX = 0;
  const bias = dbl ? 1023 : 127;
  roundPack(s, aE - BIAS + bias, dbl ? 53 : 24, dbl ? 0x7ff : 0xff, 0, flags);
  packFloat(s, r80.se & 0x7fff, r80.hi, r80.lo, dbl, r80.flags);
}

function packFloat(s: number, e: number, h: number, l: number, dbl: boolean, flags: number): void {
  const c1 = r80.c1;
  if (dbl) {
    r80.ihi = (s << 31) | (e << 20) | ((h >>> 11) & 0xfffff);
    r80.ilo = (h << 21) | (l >>> 11);
  } else {
    r80.ilo = (s << 31) | (e << 23) | ((h >>> 8) & 0x7fffff);
    r80.ihi = 0;
  }
  r80.flags = flags;
  r80.c1 = flags & PE ? c1 : 0;
}

// ---- FSCALE, FXTRACT (SDM Vol. 2 pages) ----------------------------------------------------

/** FSCALE: a * 2^trunc(b). */
export function scale(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    twoNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return;
  }
  const flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  const bNeg = (bSe & 0x8000) !== 0;
  if (cb === Cls.Inf) {
    if (ca === Cls.Zero) {
      if (bNeg) setResult(aSe, 0, 0, flags, 0);
      else indefinite(IE | flags);
    } else if (ca === Cls.Inf) {
      if (bNeg) indefinite(IE | flags);
      else setResult(aSe, aHi, aLo, flags, 0);
    } else if (bNeg) setResult(aSe & 0x8000, 0, 0, flags, 0);
    else setResult((aSe & 0x8000) | 0x7fff, 0x80000000 | 0, 0, flags, 0);
    return;
  }
  if (ca === Cls.Zero || ca === Cls.Inf) {
    setResult(aSe, aHi, aLo, flags, 0);
    return;
  }
  // n = trunc(b), clamped (beyond +-2^16 the result over/underflows anyway).
  let n = 0;
  if (cb !== Cls.Zero) {
    const be = bSe & 0x7fff;
    if (be >= BIAS + 16) n = 0x10000;
    else if (be >= BIAS) n = bHi >>> (31 - (be - BIAS));
    if (bNeg) n = -n;
  }
  loadA(aSe, aHi, aLo);
  normA();
  wH = aH;
  wL = aL;
  wX = 0;
  roundPack(aS, aE + n, 64, 0x7fff, REBIAS, flags);
}

/** FXTRACT: r80 = significand (exponent 0 unbiased), r80 second result in ilo = exponent as f80 (se2/hi2). */
export const x2 = { se: 0, hi: 0, lo: 0 };
export function extract(se: number, hi: number, lo: number): void {
  const c = classify(se, hi, lo);
  if (c >= Cls.QNaN) {
    twoNaN(c, se, hi, lo, Cls.Zero, 0, 0, 0);
    x2.se = r80.se;
    x2.hi = r80.hi;
    x2.lo = r80.lo;
    return;
  }
  if (c === Cls.Zero) {
    // ZE; exponent -inf, significand the zero.
    x2.se = 0xffff;
    x2.hi = 0x80000000 | 0;
    x2.lo = 0;
    setResult(se, 0, 0, ZE, 0);
    return;
  }
  if (c === Cls.Inf) {
    x2.se = 0x7fff;
    x2.hi = 0x80000000 | 0;
    x2.lo = 0;
    setResult(se, hi, lo, 0, 0);
    return;
  }
  const flags = c === Cls.Denormal ? DE : 0;
  loadA(se, hi, lo);
  normA();
  const ex = aE - BIAS;
  fromInt64(ex, ex < 0 ? -1 : 0);
  x2.se = r80.se;
  x2.hi = r80.hi;
  x2.lo = r80.lo;
  setResult((aS << 15) | BIAS, aH, aL, flags, 0);
}

// ---- FPREM / FPREM1 (SDM Vol. 2 pages) -----------------------------------------------------

/**
 * Partial remainder of a / b: truncating quotient (FPREM) or round-to-nearest (FPREM1). When
 * the exponent difference is 64 or more the reduction is partial (C2 = 1, r80.c2): the
 * quotient is computed to `PARTIAL_BITS` bits and the remainder stays exact. r80.q holds the
 * quotient's low three bits (C0 = Q2, C3 = Q1, C1 = Q0).
 */
export function prem(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, nearest: boolean): void {
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  r80.q = 0;
  r80.c2 = 0;
  if (ca >= Cls.QNaN || cb >= Cls.QNaN) {
    twoNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return;
  }
  const flags = ca === Cls.Denormal || cb === Cls.Denormal ? DE : 0;
  if (ca === Cls.Inf || cb === Cls.Zero) {
    indefinite(IE | flags);
    return;
  }
  if (ca === Cls.Zero) {
    setResult(aSe, aHi, aLo, flags, 0);
    return;
  }
  loadA(aSe, aHi, aLo);
  loadB(bSe, bHi, bLo);
  normA();
  normB();
  if (cb === Cls.Inf) {
    // The dividend is the remainder, packed again as a result: a pseudo-denormal gets exponent
    // 1, a denormal signals UE when unmasked and is rebiased (host behaviour).
    wH = aH;
    wL = aL;
    wX = 0;
    roundPack(aS, aE, 64, 0x7fff, REBIAS, flags);
    r80.q = 0;
    r80.c2 = 0;
    return;
  }
  let d = aE - bE;
  if (nearest && d === -1) {
    // |a| in [|b|/4, |b|/2]...: the quotient rounds to 1 when 2|a| > |b| (ties to even: 0).
    if (aH >>> 0 > bH >>> 0 || (aH === bH && aL >>> 0 > bL >>> 0)) {
      const savedPrec = precBits;
      precBits = 64;
      add(aSe, aHi, aLo, (bSe & 0x7fff) | (aSe & 0x8000), bHi, bLo, 1);
      precBits = savedPrec;
      r80.flags = (r80.flags & ~PE) | flags;
      r80.q = 1;
      r80.c2 = 0;
      return;
    }
    d = -2;
  }
  if (d < 0) {
    wH = aH;
    wL = aL;
    wX = 0;
    roundPack(aS, aE, 64, 0x7fff, REBIAS, flags);
    return;
  }
  // D >= 64: a partial reduction by N = 32 + (D mod 32) quotient bits (measured on the host;
  // the SDM allows an implementation-specific N in 32..63): the divisor is scaled by 2^(D - N).
  const partial = d >= 64;
  if (partial) d = PARTIAL_BITS + ((d - PARTIAL_BITS) % 32);
  // Restoring division over d + 1 quotient bits; remainder rc:rh:rl (65 bits between steps).
  let rc = 0;
  let rh = aH;
  let rl = aL;
  let q = 0;
  for (let i = 0; i <= d; i++) {
    q <<= 1;
    if (rc !== 0 || rh >>> 0 > bH >>> 0 || (rh === bH && rl >>> 0 >= bL >>> 0)) {
      const br = (rl >>> 0) < (bL >>> 0) ? 1 : 0;
      rl = (rl - bL) | 0;
      rh = (rh - bH - br) | 0;
      rc = 0;
      q |= 1;
    }
    if (i < d) {
      rc = rh >>> 31;
      rh = (rh << 1) | (rl >>> 31);
      rl <<= 1;
    }
  }
  // Now 0 <= R < B (rc = 0), R on B's scale.
  let s = aS;
  if (nearest && !partial) {
    // FPREM1: round the quotient to nearest, ties to even: if 2R > B (or = B with Q odd),
    // Q += 1 and the remainder becomes -(B - R).
    const twoC = rh >>> 31;
    const twoH = (rh << 1) | (rl >>> 31);
    const twoL = rl << 1;
    const gt = twoC !== 0 || twoH >>> 0 > bH >>> 0 || (twoH === bH && twoL >>> 0 > bL >>> 0);
    const eq = twoC === 0 && twoH === bH && twoL === bL;
    if (gt || (eq && (q & 1) !== 0)) {
      q = (q + 1) | 0;
      const br = (bL >>> 0) < (rl >>> 0) ? 1 : 0;
      rl = (bL - rl) | 0;
      rh = (bH - rh - br) | 0;
      s ^= 1;
    }
  }
  const qq = q & 7;
  const c2 = partial ? 1 : 0;
  if ((rh | rl) === 0) {
    // A zero remainder has the dividend's sign.
    setResult(aS << 15, 0, 0, flags, 0);
  } else {
    wH = rh;
    wL = rl;
    wX = 0;
    const e = aE - d - normW();
    // The remainder is exact; a tiny one is denormalized (or rebiased when UE is unmasked).
    roundPack(s, e, 64, 0x7fff, REBIAS, flags);
    r80.flags &= ~PE;
  }
  r80.q = qq;
  r80.c2 = c2;
}
/** Bits of quotient a partial FPREM step computes (implementation specific; SDM: 32..63). */
export const PARTIAL_BITS = 32;

