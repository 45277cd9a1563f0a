/**
 * IEEE 754 binary32 / binary64 arithmetic with the MXCSR rules of SSE (SDM Vol. 1 §4.8-4.9,
 * §10.2.3, §11.5; AMD APM Vol. 1 §4.4, §4.9).
 *
 * Values are bit patterns: a binary32 is one Int32, a binary64 a (lo, hi) pair of Int32 halves.
 * No operand is ever turned into a JS number while it may be a NaN (a float-to-double
 * conversion may quiet a signalling NaN). Finite operands are read exactly through a
 * module-level scratch buffer.
 *
 * How results are rounded: every finite operation reduces to an exactly known value
 * `(p + t) * 2^E`, where `p` is the binary64 round-to-nearest result of the operation on the
 * significands (JS arithmetic is IEEE binary64 round-to-nearest-even) and `t` its error term,
 * recovered exactly with the error-free transformations TwoSum (Knuth) and TwoProduct (Dekker,
 * Veltkamp splitting) on significands in [1, 2), where neither can overflow or underflow. For
 * division and square root only the sign of the error is needed, obtained from the exact
 * remainder. {@link emit} turns that into an integer significand of 64 bits with a sticky bit
 * and {@link roundPack} rounds it once to the destination format in the MXCSR rounding mode
 * (SDM Vol. 1 §4.8.4, Table 4-8), with gradual underflow, overflow, FTZ and the OE/UE/PE flags.
 *
 * Flags: each operation adds pre-computation flags (IE, DE, ZE; SDM Vol. 1 §11.5.2.1) to
 * `fx.pre` and post-computation flags (OE, UE, PE) to `fx.post`. The caller sets `fx.mx` to
 * MXCSR (rounding control, DAZ, FTZ, masks) before the first lane and delivers the flags after
 * the last one (§11.5.1: destination untouched when any flag is unmasked).
 */

import * as tableNs from './sse-approx-table.js';

const { RCP_TABLE, RSQRT_TABLE } = tableNs;

/** Exception flag bits (same in MXCSR and the x87 status word). */
const IE = 1;
const DE = 2;
const ZE = 4;
const OE = 8;
const UE = 0x10;
const PE = 0x20;
const DAZ = 0x40;
const OM = 0x400;
const UM = 0x800;
const FTZ = 0x8000;

/** Operation numbers for {@link f32Arith} / {@link f64Arith}. */
export const FOp = { Add: 0, Sub: 1, Mul: 2, Div: 3, Min: 4, Max: 5, Sqrt: 6 } as const;

/** Engine state: MXCSR in, flags and 64-bit results out. */
export const fx = {
  /** MXCSR to use (RC, DAZ, FTZ, UM). */
  mx: 0x1f80,
  /** Pre-computation flags (IE, DE, ZE) of the lanes so far. */
  pre: 0,
  /** Post-computation flags (OE, UE, PE) of the lanes so far. */
  post: 0,
  /** Result, low half (binary64 / int64) or the binary32 / int32 value. */
  lo: 0,
  /** Result, high half. */
  hi: 0,
};

/**
 * Tininess is detected after rounding (SDM Vol. 1 §4.9.1.5 leaves the choice to the
 * implementation; this was measured on the host CPU, see test/sse-float-native.test.ts).
 */
const TINY_AFTER_ROUNDING = true;

// ---- scratch and small helpers -------------------------------------------------------------

const sBuf = new ArrayBuffer(8);
const sF64 = new Float64Array(sBuf);
const sF32 = new Float32Array(sBuf);
const sI32 = new Int32Array(sBuf);

const TWO32 = 4294967296;
const SPLIT = 134217729; // 2^27 + 1 (Veltkamp splitting of a binary64)

/** Value of a finite binary32 bit pattern (not NaN). */
function f32Val(a: number): number {
  sI32[0] = a;
  return sF32[0]!;
}
/**
 * `POW2[n + 1074]` = 2^n for integer n in [-1074, 1023], built from exponent fields (exact).
 * Scaling by a table entry instead of assembling a double from two 32-bit stores matters: a
 * 64-bit load of two separate 32-bit stores defeats the CPU's store-to-load forwarding, a stall
 * of tens of cycles per conversion.
 */
const POW2 = new Float64Array(2098);
for (let n = -1022; n <= 1023; n++) {
  sI32[0] = 0;
  sI32[1] = (n + 1023) << 20;
  POW2[n + 1074] = sF64[0]!;
}
for (let n = -1074; n < -1022; n++) POW2[n + 1074] = POW2[n + 64 + 1074]! * POW2[-64 + 1074]!;

/** 2^n for integer n in [-1074, 1023], exactly. */
function pow2(n: number): number {
  return POW2[n + 1074]!;
}

/**
 * Value of a finite binary64 bit pattern (not NaN): the integer significand (below 2^53, exact)
 * times 2^(e - 1075), or 2^-1074 for denormals and zeros; exact for every finite value.
 */
function f64Val(lo: number, hi: number): number {
  const e = (hi >>> 20) & 0x7ff;
  const m = (hi & 0xfffff) * TWO32 + (lo >>> 0);
  const v = e === 0 ? m * POW2[0]! : (m + 4503599627370496) * POW2[e - 1]!;
  return hi < 0 ? -v : v;
}

/** Significand in [1, 2) and exponent of a finite nonzero double: `spM`, `spE`. */
let spM = 0;
let spE = 0;
function split(x: number): void {
  sF64[0] = x;
  let e = (sI32[1]! >>> 20) & 0x7ff;
  let adj = 0;
  if (e === 0) {
    x *= 18446744073709551616; // 2^64: normalises binary64 denormals exactly
    sF64[0] = x;
    e = (sI32[1]! >>> 20) & 0x7ff;
    adj = 64;
  }
  // Scaling by a power of two is exact: |x| * 2^-(e - 1023) is in [1, 2).
  spM = Math.abs(x) * POW2[1074 + 1023 - e]!;
  spE = e - 1023 - adj;
}

/** Dekker's TwoProduct error of a * b (exact for |a|, |b| < 2^4 with 53-bit significands). */
function mulErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return al * bl - (p - ah * bh - al * bh - ah * bl);
}

// ---- rounding --------------------------------------------------------------------------------

/**
 * Rounds the nonzero value `(hi * 2^32 + lo) * 2^e0` (hi, lo unsigned 32-bit; the least
 * significant bit may be a sticky bit) to binary32 (`dbl` false: result in `fx.lo`) or binary64
 * (`fx.lo`, `fx.hi`), with sign `neg`, in the MXCSR rounding mode; sets OE/UE/PE.
 */
export function roundPack(neg: boolean, hi: number, lo: number, e0: number, dbl: boolean): void {
  // Normalise: leading one at bit 63.
  if (hi === 0) {
    hi = lo;
    lo = 0;
    e0 -= 32;
  }
  const n = Math.clz32(hi);
  if (n !== 0) {
    hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    lo = (lo << n) >>> 0;
    e0 -= n;
  }
  const e = e0 + 63; // exponent of the leading bit
  const p = dbl ? 53 : 24;
  const emin = dbl ? -1022 : -126;
  const emax = dbl ? 1023 : 127;
  const mode = (fx.mx >>> 13) & 3;
  let sh = 64 - p;
  let exp: number; // biased exponent field
  let kept: number;
  let inexact: boolean;
  if (e < emin) {
    // Below the normal range: the significand is rounded at the denormal position.
    let tiny = true;
    if (TINY_AFTER_ROUNDING && e === emin - 1) {
      // Tiny only if rounding to p bits with an unbounded exponent stays below 2^emin.
      roundBits(hi, lo, sh, mode, neg);
      if (rKept === 2 ** p) tiny = false;
    }
    sh += emin - e;
    roundBits(hi, lo, sh, mode, neg);
    kept = rKept;
    inexact = rInexact;
    if (tiny) {
      if ((fx.mx & FTZ) !== 0 && (fx.mx & UM) !== 0) {
        // Flush to zero (SDM Vol. 1 §10.2.3.3): only with underflow masked.
        fx.post |= UE | PE;
        packOut(neg, 0, 0, dbl, true);
        return;
      }
      if ((fx.mx & UM) === 0) {
        // Unmasked: UE, exact or not, and PE when the result rounded to p bits (unbounded
        // exponent) is inexact (measured on the host; no result is written).
        fx.post |= UE;
        roundBits(hi, lo, 64 - p, mode, neg);
        if (rInexact) fx.post |= PE;
        packOut(neg, 0, 0, dbl, true);
        return;
      }
      if (inexact) fx.post |= UE;
    }
    exp = kept >= 2 ** (p - 1) ? 1 : 0;
  } else {
    roundBits(hi, lo, sh, mode, neg);
    kept = rKept;
    inexact = rInexact;
    exp = e;
    if (kept === 2 ** p) {
      kept /= 2;
      exp++;
    }
    if (exp > emax) {
      // Overflow (SDM Vol. 1 §4.9.1.4, Table 4-10): infinity or the largest finite number.
      // With OE unmasked, PE accompanies OE only when the significand rounded to p bits is
      // inexact (SSE delivers no exponent-adjusted result to the handler, unlike x87's SDM Vol. 1
      // §4.9.1.4, but this PE is reported: measured on the host).
      fx.post |= (fx.mx & OM) !== 0 || inexact ? OE | PE : OE;
      const toInf = mode === 0 || (mode === 1 && neg) || (mode === 2 && !neg);
      const bias = dbl ? 1023 : 127;
      packOut(neg, toInf ? emax + 1 + bias : emax + bias, toInf ? 0 : 2 ** p - 1, dbl, toInf);
      return;
    }
    exp += dbl ? 1023 : 127;
  }
  if (inexact) fx.post |= PE;
  packOut(neg, exp, kept, dbl, false);
}

/** Writes sign, biased exponent and significand (with or without its integer bit) to fx. */
function packOut(neg: boolean, exp: number, sig: number, dbl: boolean, raw: boolean): void {
  if (dbl) {
    const fracHi = raw ? 0 : Math.floor(sig / TWO32) & 0xfffff;
    fx.lo = raw ? 0 : sig % TWO32 | 0;
    fx.hi = (neg ? 0x80000000 : 0) | (exp << 20) | fracHi;
  } else {
    fx.lo = (neg ? 0x80000000 : 0) | (exp << 23) | (raw ? 0 : sig & 0x7fffff);
    fx.hi = 0;
  }
}

let rKept = 0;
let rInexact = false;
/** Keeps the bits of hi:lo above bit `sh` (11 <= sh), rounded in `mode`: rKept, rInexact. */
function roundBits(hi: number, lo: number, sh: number, mode: number, neg: boolean): void {
  let kept: number;
  let half: number;
  let sticky: boolean;
  if (sh < 32) {
    kept = hi * 2 ** (32 - sh) + (lo >>> sh);
    half = (lo >>> (sh - 1)) & 1;
    sticky = (lo & ((1 << (sh - 1)) - 1)) !== 0;
  } else if (sh === 32) {
    kept = hi;
    half = lo >>> 31;
    sticky = (lo & 0x7fffffff) !== 0;
  } else if (sh < 64) {
    const s = sh - 32;
    kept = hi >>> s;
    half = (hi >>> (s - 1)) & 1;
    sticky = lo !== 0 || (s > 1 && (hi & ((1 << (s - 1)) - 1)) !== 0);
  } else if (sh === 64) {
    kept = 0;
    half = hi >>> 31;
    sticky = lo !== 0 || (hi & 0x7fffffff) !== 0;
  } else {
    kept = 0;
    half = 0;
    sticky = true;
  }
  rInexact = half !== 0 || sticky;
  if (rInexact) {
    let up: boolean;
    if (mode === 0) up = half !== 0 && (sticky || kept % 2 === 1);
    else if (mode === 1) up = neg;
    else if (mode === 2) up = !neg;
    else up = false;
    if (up) kept++;
  }
  rKept = kept;
}

/**
 * Rounds the exact value `(p + t) * 2^E` to the destination: p a nonzero double (its sign is
 * the result's), |t| <= ulp(p) / 2, and p + t never exactly halfway unless t carries it.
 */
function emit(p: number, t: number, E: number, dbl: boolean): void {
  const neg = p < 0;
  if (neg) {
    p = -p;
    t = -t;
  }
  sF64[0] = p;
  const k = ((sI32[1]! >>> 20) & 0x7ff) - 1023; // p is normal here
  const sc = pow2(62 - k); // p * sc in [2^62, 2^63): 53 bits, ten zero bits below
  const v = p * sc;
  let hi = Math.floor(v / TWO32);
  let lo = v - hi * TWO32;
  if (t !== 0) {
    const tv = t * sc; // |tv| <= 512
    const ti = Math.floor(tv);
    lo += ti;
    if (lo < 0) {
      lo += TWO32;
      hi--;
    } else if (lo >= TWO32) {
      lo -= TWO32;
      hi++;
    }
    if (tv !== ti) lo = (lo | 1) >>> 0;
  }
  roundPack(neg, hi, lo, E + k - 62, dbl);
}

// ---- operand classes -----------------------------------------------------------------------

/** Operand classes. */
const C_ZERO = 0;
const C_FIN = 1; // normal, or denormal without DAZ
const C_INF = 2;
const C_QNAN = 3;
const C_SNAN = 4;

/**
 * A denormal operand was seen (DAZ clear). DE is reported only when the lane has no NaN operand
 * and no IE or ZE of its own (measured on the host: "x / 0" with a denormal x is ZE alone).
 */
let den = false;
/** The lane raised IE or ZE. */
let bad = false;

/** Class of a binary32 operand; finite value in `clsV`. Denormals: DE, or zero with DAZ. */
let clsV = 0;
function cls32(a: number, de: boolean): number {
  const ex = (a >>> 23) & 0xff;
  const fr = a & 0x7fffff;
  if (ex === 0xff) return fr === 0 ? C_INF : (fr & 0x400000) !== 0 ? C_QNAN : C_SNAN;
  if (ex === 0) {
    if (fr === 0) {
      clsV = a < 0 ? -0 : 0;
      return C_ZERO;
    }
    if ((fx.mx & DAZ) !== 0) {
      clsV = a < 0 ? -0 : 0;
      return C_ZERO;
    }
    if (de) den = true;
  }
  clsV = f32Val(a);
  return C_FIN;
}
function cls64(lo: number, hi: number, de: boolean): number {
  const ex = (hi >>> 20) & 0x7ff;
  const frHi = hi & 0xfffff;
  if (ex === 0x7ff) return (frHi | lo) === 0 ? C_INF : (frHi & 0x80000) !== 0 ? C_QNAN : C_SNAN;
  if (ex === 0) {
    if ((frHi | lo) === 0 || (fx.mx & DAZ) !== 0) {
      clsV = hi < 0 ? -0 : 0;
      return C_ZERO;
    }
    if (de) den = true;
  }
  clsV = f64Val(lo, hi);
  return C_FIN;
}

// ---- arithmetic -----------------------------------------------------------------------------

/** The default NaN ("QNaN floating-point indefinite", SDM Vol. 1 Table 4-3). */
export const F32_INDEFINITE = 0xffc00000 | 0;
export const F64_INDEFINITE_HI = 0xfff80000 | 0;

/**
 * Exactly rounded a op b (sqrt: of b) on finite values va, vb (doubles, exact), classes ca, cb
 * (zero or finite). Result bits in fx.lo (fx.hi for binary64).
 */
function finiteArith(op: number, va: number, vb: number, dbl: boolean): void {
  const mode = (fx.mx >>> 13) & 3;
  switch (op) {
    case 0:
    case 1: {
      if (op === 1) vb = -vb;
      if (va === 0 || vb === 0) {
        if (va === 0 && vb === 0) {
          // Exact zero sum: -0 for (-0) + (-0), and for opposite signs in round-down (IEEE 754
          // §6.3; SDM Vol. 1 §4.2.2 "Signed Zeros").
          const negz = Object.is(va, -0) && Object.is(vb, -0) ? true : Object.is(va, -0) !== Object.is(vb, -0) ? mode === 1 : Object.is(va, -0);
          zeroOut(negz, dbl);
          return;
        }
        const x = va === 0 ? vb : va;
        split(x);
        emit(x < 0 ? -spM : spM, 0, spE, dbl);
        return;
      }
      split(va);
      const ma = va < 0 ? -spM : spM;
      const ea = spE;
      split(vb);
      const mb = vb < 0 ? -spM : spM;
      const eb = spE;
      let big: number;
      let small: number;
      let E: number;
      let d: number;
      if (ea >= eb) {
        big = ma;
        small = mb;
        E = ea;
        d = ea - eb;
      } else {
        big = mb;
        small = ma;
        E = eb;
        d = eb - ea;
      }
      if (d > 80) {
        // The smaller operand only decides the direction of the sticky bit.
        emit(big, small > 0 ? 2 ** -80 : -(2 ** -80), E, dbl);
        return;
      }
      const b2 = small * pow2(-d);
      const s = big + b2;
      if (s === 0) {
        zeroOut(mode === 1, dbl);
        return;
      }
      const bb = s - big;
      const err = big - (s - bb) + (b2 - bb);
      emit(s, err, E, dbl);
      return;
    }
    case 2: {
      if (va === 0 || vb === 0) {
        zeroOut(mulSign(va, vb), dbl);
        return;
      }
      split(va);
      const ma = spM;
      const ea = spE;
      split(vb);
      const p = ma * spM;
      const t = mulErr(ma, spM, p);
      emit((va < 0) !== (vb < 0) ? -p : p, (va < 0) !== (vb < 0) ? -t : t, ea + spE, dbl);
      return;
    }
    case 3: {
      // vb != 0 here (the caller handles division by zero).
      if (va === 0) {
        zeroOut(mulSign(va, vb), dbl);
        return;
      }
      split(va);
      const ma = spM;
      const ea = spE;
      split(vb);
      const mb = spM;
      const q = ma / mb;
      const pp = q * mb;
      const r = ma - pp - mulErr(q, mb, pp);
      const neg = (va < 0) !== (vb < 0);
      const t = r === 0 ? 0 : r > 0 ? q * 2 ** -70 : -q * 2 ** -70;
      emit(neg ? -q : q, neg ? -t : t, ea - spE, dbl);
      return;
    }
    default: {
      // Square root of vb >= 0 (zero handled by the caller).
      split(vb);
      let m = spM;
      let e = spE;
      if ((e & 1) !== 0) {
        m *= 2;
        e--;
      }
      const s = Math.sqrt(m);
      const pp = s * s;
      const r = m - pp - mulErr(s, s, pp);
      emit(s, r === 0 ? 0 : r > 0 ? s * 2 ** -70 : -s * 2 ** -70, e / 2, dbl);
    }
  }
}

function mulSign(va: number, vb: number): boolean {
  return (va < 0 || Object.is(va, -0)) !== (vb < 0 || Object.is(vb, -0));
}

function zeroOut(neg: boolean, dbl: boolean): void {
  fx.lo = dbl ? 0 : neg ? 0x80000000 | 0 : 0;
  fx.hi = dbl && neg ? 0x80000000 | 0 : 0;
}

function infOut(neg: boolean, dbl: boolean): void {
  if (dbl) {
    fx.lo = 0;
    fx.hi = neg ? 0xfff00000 | 0 : 0x7ff00000;
  } else fx.lo = neg ? 0xff800000 | 0 : 0x7f800000;
}

function indefOut(dbl: boolean): void {
  fx.pre |= IE;
  bad = true;
  fx.lo = dbl ? 0 : F32_INDEFINITE;
  fx.hi = dbl ? F64_INDEFINITE_HI : 0;
}

/**
 * Shared special-operand handling of ADD/SUB/MUL/DIV/SQRT/MIN/MAX once the classes are known:
 * returns true when the result is already in fx.
 */
function specials(op: number, ca: number, cb: number, negA: boolean, negB: boolean, dbl: boolean): boolean {
  switch (op) {
    case 0:
    case 1: {
      if (op === 1) negB = !negB;
      if (ca === C_INF && cb === C_INF) {
        if (negA !== negB) indefOut(dbl);
        else infOut(negA, dbl);
        return true;
      }
      if (ca === C_INF || cb === C_INF) {
        infOut(ca === C_INF ? negA : negB, dbl);
        return true;
      }
      return false;
    }
    case 2:
      if (ca === C_INF || cb === C_INF) {
        if (ca === C_ZERO || cb === C_ZERO) indefOut(dbl);
        else infOut(negA !== negB, dbl);
        return true;
      }
      return false;
    case 3:
      if (ca === C_INF) {
        if (cb === C_INF) indefOut(dbl);
        else infOut(negA !== negB, dbl);
        return true;
      }
      if (cb === C_INF) {
        zeroOut(negA !== negB, dbl);
        return true;
      }
      if (cb === C_ZERO) {
        if (ca === C_ZERO) indefOut(dbl);
        else {
          fx.pre |= ZE;
          bad = true;
          infOut(negA !== negB, dbl);
        }
        return true;
      }
      return false;
    default:
      // SQRT of b.
      if (cb === C_ZERO) {
        zeroOut(negB, dbl);
        return true;
      }
      if (negB) {
        indefOut(dbl);
        return true;
      }
      if (cb === C_INF) {
        infOut(false, dbl);
        return true;
      }
      return false;
  }
}

// ---- fast paths --------------------------------------------------------------------------------

/** The fast path gave up: the general code computes the result. */
let bail = false;

const F32_MIN_NORMAL = 1.1754943508222875e-38;
const F32_MAX = 3.4028234663852886e38;
const F64_MIN_NORMAL = 2.2250738585072014e-308;
const F64_MAX = 1.7976931348623157e308;

/**
 * binary32 with normal or zero operands. Sums (exponents at most 29 apart, or a zero operand)
 * and products are exact in binary64; quotients and square roots are rounded to binary64
 * first, which is innocuous for a binary32 result (53 >= 2 * 24 + 2, Figueroa's condition for
 * +, -, *, /, sqrt). The sign of (exact - rounded) comes from exact binary64 residuals;
 * directed modes step one ulp from the nearest value. Results that are neither normal nor an
 * exact zero go to the general path (`bail`).
 */
function f32Fast(op: number, a: number, b: number): number {
  bail = false;
  const va = f32Val(a);
  const vb = f32Val(b);
  let x: number;
  switch (op) {
    case 0:
    case 1: {
      const d = ((a >>> 23) & 0xff) - ((b >>> 23) & 0xff);
      // With a zero operand (exponent field 0) the sum is the other operand, exact.
      if ((d > 29 || d < -29) && a << 1 !== 0 && b << 1 !== 0) {
        bail = true;
        return 0;
      }
      x = op === 0 ? va + vb : va - vb;
      break;
    }
    case 2:
      x = va * vb;
      break;
    case 3:
      x = va / vb;
      break;
    case 4:
      return va < vb ? a : b;
    case 5:
      return va > vb ? a : b;
    default:
      if (vb < 0) {
        bail = true;
        return 0;
      }
      x = Math.sqrt(vb);
  }
  if (x === 0) {
    // An exact zero (a zero operand, or x - x): JS gives the IEEE round-to-nearest sign, which
    // is every mode's except a zero sum in round down (IEEE 754 §6.3; SDM Vol. 1 §4.2.2).
    if (op <= 1 && (fx.mx & 0x6000) === 0x2000) {
      bail = true;
      return 0;
    }
    return 1 / x < 0 ? 0x80000000 | 0 : 0;
  }
  const r = Math.fround(x);
  const m = r < 0 ? -r : r;
  if (!(m > F32_MIN_NORMAL && m < F32_MAX)) {
    bail = true;
    return 0;
  }
  // cmp: sign of (exact result - r).
  let cmp: number;
  if (op <= 2) cmp = x - r;
  else if (op === 3) {
    const rem = va - r * vb; // r * vb is exact (24 x 24 bits); the difference's sign is right
    cmp = vb < 0 ? -rem : rem;
  } else cmp = vb - r * r;
  sF32[0] = r;
  let bits = sI32[0]!;
  if (cmp !== 0) {
    fx.post |= PE;
    const mode = (fx.mx >>> 13) & 3;
    if (mode !== 0) {
      // Step one ulp in magnitude (bits +/- 1) when r lies on the wrong side for the mode.
      if (mode === 3) {
        if (r > 0 ? cmp < 0 : cmp > 0) bits--;
      } else if (mode === 2) {
        if (cmp > 0) bits += r > 0 ? 1 : -1;
      } else if (cmp < 0) bits += r > 0 ? -1 : 1;
    }
  }
  return bits;
}

/**
 * Trailing zero bits of the 53-bit integer significand of a normal binary64 (integer bit
 * included): 0..52.
 */
function sigTz(lo: number, hi: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const h = (hi & 0xfffff) | 0x100000;
  return 63 - Math.clz32(h & -h);
}

/** Trailing zeros of the significand product of the check in f64Fast: a * b, r * b or r * r. */
function productTz(op: number, aLo: number, aHi: number, bLo: number, bHi: number, rLo: number, rHi: number): number {
  if (op === 2) return sigTz(aLo, aHi) + sigTz(bLo, bHi);
  if (op === 3) return sigTz(rLo, rHi) + sigTz(bLo, bHi);
  return 2 * sigTz(rLo, rHi);
}

/**
 * binary64 with operands in [2^-500, 2^500) or zero: the error-free transformations cannot
 * overflow or underflow, so the sign of (exact - rounded) is exact. Result in fx.lo, fx.hi.
 *
 * Round to nearest needs only whether the result is inexact (PE), and for products, quotients
 * and roots a cheap test usually decides it: the product of two 53-bit integer significands
 * Ma, Mb has 105 or 106 bits and tz(Ma) + tz(Mb) trailing zeros, so it is not a binary64 when
 * tz(Ma) + tz(Mb) <= 51. A product a * b is then inexact; a quotient r = a / b is inexact when
 * r * b is not a binary64 (an exact quotient gives r * b = a), a root r = sqrt(b) when r * r is
 * not. Otherwise (and in the directed modes, which need the sign) the error-free
 * transformations decide.
 */
function f64Fast(op: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  bail = false;
  const va = f64Val(aLo, aHi);
  const vb = f64Val(bLo, bHi);
  let r: number;
  switch (op) {
    case 0:
      r = va + vb;
      break;
    case 1:
      r = va - vb;
      break;
    case 2:
      r = va * vb;
      break;
    case 3:
      r = va / vb;
      break;
    case 4:
    case 5: {
      const pickA = op === 4 ? va < vb : va > vb;
      fx.lo = pickA ? aLo : bLo;
      fx.hi = pickA ? aHi : bHi;
      return;
    }
    default:
      if (vb < 0) {
        bail = true;
        return;
      }
      r = Math.sqrt(vb);
  }
  if (r === 0) {
    // An exact zero (operands are zero or at least 2^-500, so no product, quotient or sum
    // underflows to zero): as in f32Fast.
    if (op <= 1 && (fx.mx & 0x6000) === 0x2000) {
      bail = true;
      return;
    }
    fx.lo = 0;
    fx.hi = 1 / r < 0 ? 0x80000000 | 0 : 0;
    return;
  }
  const m = r < 0 ? -r : r;
  if (!(m > F64_MIN_NORMAL && m < F64_MAX)) {
    bail = true;
    return;
  }
  sF64[0] = r;
  let lo = sI32[0]!;
  let hi = sI32[1]!;
  const mode = (fx.mx >>> 13) & 3;
  // cmp: the sign of (exact - r); only "non-zero" matters in round to nearest.
  let cmp: number;
  if (op <= 1) {
    // TwoSum (Knuth).
    const b2 = op === 0 ? vb : -vb;
    const bb = r - va;
    cmp = va - (r - bb) + (b2 - bb);
  } else if (mode === 0 && productTz(op, aLo, aHi, bLo, bHi, lo, hi) <= 51) {
    cmp = 1;
  } else if (op === 2) {
    cmp = mulErr(va, vb, r);
  } else if (op === 3) {
    const pp = r * vb;
    const rem = va - pp - mulErr(r, vb, pp);
    cmp = vb < 0 ? -rem : rem;
  } else {
    const pp = r * r;
    cmp = vb - pp - mulErr(r, r, pp);
  }
  if (cmp !== 0) {
    fx.post |= PE;
    if (mode !== 0) {
      let step = 0;
      if (mode === 3) {
        if (r > 0 ? cmp < 0 : cmp > 0) step = -1;
      } else if (mode === 2) {
        if (cmp > 0) step = r > 0 ? 1 : -1;
      } else if (cmp < 0) step = r > 0 ? -1 : 1;
      if (step > 0) {
        lo = (lo + 1) | 0;
        if (lo === 0) hi = (hi + 1) | 0;
      } else if (step < 0) {
        if (lo === 0) hi = (hi - 1) | 0;
        lo = (lo - 1) | 0;
      }
    }
  }
  fx.lo = lo;
  fx.hi = hi;
}

/** A binary32 operand of the fast path: normal, or a zero. */
function f32FastOperand(a: number): boolean {
  return (((a >>> 23) & 0xff) - 1) >>> 0 < 254 || a << 1 === 0;
}
/** A binary64 operand of the fast path: magnitude in [2^-500, 2^500), or a zero. */
function f64FastOperand(lo: number, hi: number): boolean {
  return (((hi >>> 20) & 0x7ff) - 523) >>> 0 < 1001 || ((hi << 1) | lo) === 0;
}

/**
 * binary32 `a op b` (SQRT: sqrt(b); MIN/MAX with the x86 rule: the second operand when either
 * is a NaN or both are zero). Returns the result bits; flags into fx.
 */
export function f32Arith(op: number, a: number, b: number): number {
  // Fast path: normal or zero operands (for SQRT the second only) and a normal or exact zero result.
  if (f32FastOperand(b) && (op === 6 || f32FastOperand(a))) {
    const r = f32Fast(op, a, b);
    if (!bail) return r;
  }
  den = false;
  bad = false;
  const r = f32Arith1(op, a, b);
  if (den && !bad) fx.pre |= DE;
  return r;
}
function f32Arith1(op: number, a: number, b: number): number {
  const sqrt = op === 6;
  const ca = sqrt ? C_ZERO : cls32(a, true);
  const va = clsV;
  const cb = cls32(b, true);
  const vb = clsV;
  if (op === 4 || op === 5) {
    if (ca >= C_QNAN || cb >= C_QNAN) {
      fx.pre |= IE;
      bad = true;
      // The second operand, a denormal of which DAZ turns into a signed zero (host-measured).
      return (fx.mx & DAZ) !== 0 && (b & 0x7f800000) === 0 ? b & 0x80000000 : b;
    }
    // Both finite or infinite: compare values (infinities as ±Infinity). DAZ zeroes denormals.
    const xa = ca === C_INF ? (a < 0 ? -Infinity : Infinity) : va;
    const xb = cb === C_INF ? (b < 0 ? -Infinity : Infinity) : vb;
    const pickA = op === 4 ? xa < xb : xa > xb;
    if (pickA) return (fx.mx & DAZ) !== 0 && ca === C_ZERO ? a & 0x80000000 : a;
    return (fx.mx & DAZ) !== 0 && cb === C_ZERO ? b & 0x80000000 : b;
  }
  if (ca >= C_QNAN || cb >= C_QNAN) {
    bad = true;
    if (ca === C_SNAN || cb === C_SNAN) fx.pre |= IE;
    // SDM Vol. 1 Table 4-7 (SSE column): the first source's NaN, else the second's, quieted.
    return (ca >= C_QNAN ? a : b) | 0x400000;
  }
  if (specials(op, ca, cb, a < 0, b < 0, false)) return fx.lo;
  finiteArith(op, va, vb, false);
  return fx.lo;
}

/** binary64 `a op b` as {@link f32Arith}; result in fx.lo, fx.hi. */
export function f64Arith(op: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  // Fast path: operands with exponents in [2^-500, 2^500] or zeros (for SQRT the second only)
  // and a normal or exact zero result.
  if (f64FastOperand(bLo, bHi) && (op === 6 || f64FastOperand(aLo, aHi))) {
    f64Fast(op, aLo, aHi, bLo, bHi);
    if (!bail) return;
  }
  den = false;
  bad = false;
  f64Arith1(op, aLo, aHi, bLo, bHi);
  if (den && !bad) fx.pre |= DE;
}
function f64Arith1(op: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const sqrt = op === 6;
  const ca = sqrt ? C_ZERO : cls64(aLo, aHi, true);
  const va = clsV;
  const cb = cls64(bLo, bHi, true);
  const vb = clsV;
  if (op === 4 || op === 5) {
    let rLo = bLo;
    let rHi = bHi;
    if (ca >= C_QNAN || cb >= C_QNAN) {
      fx.pre |= IE;
      bad = true;
      if ((fx.mx & DAZ) !== 0 && (bHi & 0x7ff00000) === 0) {
        rLo = 0;
        rHi &= 0x80000000;
      }
    } else {
      const xa = ca === C_INF ? (aHi < 0 ? -Infinity : Infinity) : va;
      const xb = cb === C_INF ? (bHi < 0 ? -Infinity : Infinity) : vb;
      if (op === 4 ? xa < xb : xa > xb) {
        rLo = aLo;
        rHi = aHi;
        if ((fx.mx & DAZ) !== 0 && ca === C_ZERO) {
          rLo = 0;
          rHi &= 0x80000000;
        }
      } else if ((fx.mx & DAZ) !== 0 && cb === C_ZERO) {
        rLo = 0;
        rHi &= 0x80000000;
      }
    }
    fx.lo = rLo;
    fx.hi = rHi;
    return;
  }
  if (ca >= C_QNAN || cb >= C_QNAN) {
    bad = true;
    if (ca === C_SNAN || cb === C_SNAN) fx.pre |= IE;
    if (ca >= C_QNAN) {
      fx.lo = aLo;
      fx.hi = aHi | 0x80000;
    } else {
      fx.lo = bLo;
      fx.hi = bHi | 0x80000;
    }
    return;
  }
  if (specials(op, ca, cb, aHi < 0, bHi < 0, true)) return;
  finiteArith(op, va, vb, true);
}

// ---- comparisons ------------------------------------------------------------------------------

/**
 * CMPPS-style predicate `imm & 7` (EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD; SDM Vol. 2 "CMPPS",
 * Table 3-1): true or false. LT, LE, NLT, NLE signal IE on any NaN, the others only on SNaN.
 */
function predicate(pred: number, ca: number, cb: number, va: number, vb: number): boolean {
  const unord = ca >= C_QNAN || cb >= C_QNAN;
  if (den && !unord) fx.pre |= DE;
  den = false;
  if (unord) {
    const sig = pred === 1 || pred === 2 || pred === 5 || pred === 6;
    if (sig || ca === C_SNAN || cb === C_SNAN) fx.pre |= IE;
    return pred >= 3 && pred <= 6;
  }
  switch (pred) {
    case 0:
      return va === vb;
    case 1:
      return va < vb;
    case 2:
      return va <= vb;
    case 3:
      return false;
    case 4:
      return va !== vb;
    case 5:
      return !(va < vb);
    case 6:
      return !(va <= vb);
    default:
      return true;
  }
}

function infVal(neg: boolean): number {
  return neg ? -Infinity : Infinity;
}

/** binary32 compare predicate (0-7): all-ones or zero. */
export function f32Cmp(pred: number, a: number, b: number): number {
  den = false;
  const ca = cls32(a, true);
  const va = ca === C_INF ? infVal(a < 0) : clsV;
  const cb = cls32(b, true);
  const vb = cb === C_INF ? infVal(b < 0) : clsV;
  return predicate(pred, ca, cb, va, vb) ? -1 : 0;
}

/** binary64 compare predicate (0-7): all-ones or zero. */
export function f64Cmp(pred: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  den = false;
  const ca = cls64(aLo, aHi, true);
  const va = ca === C_INF ? infVal(aHi < 0) : clsV;
  const cb = cls64(bLo, bHi, true);
  const vb = cb === C_INF ? infVal(bHi < 0) : clsV;
  return predicate(pred, ca, cb, va, vb) ? -1 : 0;
}

/**
 * COMISS/UCOMISS-style compare: returns the EFLAGS bits ZF, PF, CF (unordered: all three;
 * less: CF; equal: ZF; greater: none). `signalQnan` (COMIS) makes a QNaN invalid too.
 */
function fComi(ca: number, cb: number, va: number, vb: number, signalQnan: boolean): number {
  const unord = ca >= C_QNAN || cb >= C_QNAN;
  if (den && !unord) fx.pre |= DE;
  den = false;
  if (unord) {
    if (signalQnan || ca === C_SNAN || cb === C_SNAN) fx.pre |= IE;
    return 0x45;
  }
  return va < vb ? 1 : va === vb ? 0x40 : 0;
}
export function f32Comi(a: number, b: number, signalQnan: boolean): number {
  den = false;
  const ca = cls32(a, true);
  const va = ca === C_INF ? infVal(a < 0) : clsV;
  const cb = cls32(b, true);
  const vb = cb === C_INF ? infVal(b < 0) : clsV;
  return fComi(ca, cb, va, vb, signalQnan);
}
export function f64Comi(aLo: number, aHi: number, bLo: number, bHi: number, signalQnan: boolean): number {
  den = false;
  const ca = cls64(aLo, aHi, true);
  const va = ca === C_INF ? infVal(aHi < 0) : clsV;
  const cb = cls64(bLo, bHi, true);
  const vb = cb === C_INF ? infVal(bHi < 0) : clsV;
  return fComi(ca, cb, va, vb, signalQnan);
}

// ---- conversions ------------------------------------------------------------------------------

/** binary32 -> binary64 (exact; SNaN quieted with IE; denormal DE). Result in fx.lo/fx.hi. */
export function f32ToF64(a: number): void {
  den = false;
  const c = cls32(a, true);
  if (den) fx.pre |= DE;
  if (c >= C_QNAN) {
    if (c === C_SNAN) fx.pre |= IE;
    fx.hi = (a & 0x80000000) | 0x7ff80000 | ((a >>> 3) & 0x7ffff);
    fx.lo = a << 29;
    return;
  }
  if (c === C_INF) {
    infOut(a < 0, true);
    return;
  }
  sF64[0] = clsV;
  fx.lo = sI32[0]!;
  fx.hi = sI32[1]!;
}

/** binary64 -> binary32 (rounded by MXCSR). Returns the bits. */
export function f64ToF32(lo: number, hi: number): number {
  den = false;
  const c = cls64(lo, hi, true);
  if (den) fx.pre |= DE;
  if (c >= C_QNAN) {
    if (c === C_SNAN) fx.pre |= IE;
    return (hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29);
  }
  if (c === C_INF) return hi < 0 ? 0xff800000 | 0 : 0x7f800000;
  if (c === C_ZERO) return hi & 0x80000000;
  split(clsV);
  emit(clsV < 0 ? -spM : spM, 0, spE, false);
  return fx.lo;
}

/**
 * Integer (value = hi * 2^32 + lo, unsigned halves, sign `neg`) to binary32/64 rounded by
 * MXCSR (CVTSI2SS/SD, CVTDQ2PS, CVTPI2PS). Result in fx.lo (fx.hi).
 */
export function intToFloat(neg: boolean, lo: number, hi: number, dbl: boolean): void {
  if ((lo | hi) === 0) {
    zeroOut(false, dbl);
    return;
  }
  roundPack(neg, hi >>> 0, lo >>> 0, 0, dbl);
}

/** Signed int32 to float. */
export function i32ToFloat(v: number, dbl: boolean): void {
  if (dbl || (v < 16777216 && v > -16777216)) {
    // Exact: every int32 is a binary64, and |v| < 2^24 a binary32.
    if (dbl) {
      sF64[0] = v;
      fx.lo = sI32[0]!;
      fx.hi = sI32[1]!;
    } else {
      sF32[0] = v;
      fx.lo = sI32[0]!;
    }
    return;
  }
  const neg = v < 0;
  intToFloat(neg, neg ? -v >>> 0 : v, 0, dbl);
}

/** Signed int64 (lo, hi) to float. */
export function i64ToFloat(lo: number, hi: number, dbl: boolean): void {
  if (hi < 0) {
    // Two's complement magnitude.
    const nlo = -lo | 0;
    const nhi = (~hi + (lo === 0 ? 1 : 0)) | 0;
    intToFloat(true, nlo >>> 0, nhi >>> 0, dbl);
  } else intToFloat(false, lo >>> 0, hi >>> 0, dbl);
}

/**
 * Float (class `c`, value `v`) to a signed integer of 32 or 64 bits, rounded by `mode`
 * (3 = truncation, the CVTT forms). NaN or out of range: the integer indefinite with IE
 * (SDM Vol. 1 §4.8.3.4, Table 4-3 "integer indefinite"; Vol. 2 "CVTSS2SI"). Result in fx.lo (fx.hi).
 */
function toInt(c: number, v: number, neg: boolean, mode: number, is64: boolean): void {
  if (c === C_ZERO) {
    fx.lo = 0;
    fx.hi = 0;
    return;
  }
  if (c !== C_FIN) {
    fx.pre |= IE;
    fx.lo = is64 ? 0 : 0x80000000 | 0;
    fx.hi = is64 ? 0x80000000 | 0 : 0;
    return;
  }
  const lim = is64 ? 9223372036854775808 : 2147483648;
  let x = neg ? -v : v;
  if (x >= lim * 2) {
    toInt(C_INF, 0, neg, mode, is64);
    return;
  }
  let ip = Math.floor(x); // x < 2^64 here: floor and the fraction are exact
  const frac = x - ip;
  if (frac !== 0) {
    let up: boolean;
    if (mode === 0) up = frac > 0.5 || (frac === 0.5 && ip % 2 === 1);
    else if (mode === 1) up = neg;
    else if (mode === 2) up = !neg;
    else up = false;
    if (up) ip++;
  }
  x = ip;
  if (neg ? x > lim : x >= lim) {
    toInt(C_INF, 0, neg, mode, is64);
    return;
  }
  if (frac !== 0) fx.post |= PE;
  let hi = Math.floor(x / TWO32);
  let lo = x - hi * TWO32;
  if (neg) {
    lo = -lo | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  } else {
    lo |= 0;
    hi |= 0;
  }
  fx.lo = lo;
  fx.hi = is64 ? hi : 0;
}

/** binary32 to int32/int64; `trunc` for the CVTT forms. */
export function f32ToInt(a: number, trunc: boolean, is64: boolean): void {
  const c = cls32(a, false);
  toInt(c, clsV, a < 0, trunc ? 3 : (fx.mx >>> 13) & 3, is64);
}

/** binary64 to int32/int64. */
export function f64ToInt(lo: number, hi: number, trunc: boolean, is64: boolean): void {
  const c = cls64(lo, hi, false);
  toInt(c, clsV, hi < 0, trunc ? 3 : (fx.mx >>> 13) & 3, is64);
}

// ---- round to integral (ROUNDPS/PD/SS/SD) ----------------------------------------------------

/** Rounds a finite x to an integral value in `mode`; the sign of zero results is kept. */
function rint(x: number, mode: number): number {
  const f = Math.floor(x);
  const d = x - f;
  let r: number;
  if (d === 0) return x;
  if (mode === 0) r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  else if (mode === 1) r = f;
  else if (mode === 2) r = f + 1;
  else r = x < 0 ? f + 1 : f;
  return r === 0 && x < 0 ? -0 : r;
}

/**
 * ROUNDSS/PS: imm[1:0] the rounding mode unless imm[2] (then MXCSR.RC); imm[3] suppresses PE
 * (SDM Vol. 2 "ROUNDPS", Table 4-18). SNaN: quieted with IE.
 */
export function f32Round(a: number, imm: number): number {
  const c = cls32(a, false);
  if (c >= C_QNAN) {
    if (c === C_SNAN) fx.pre |= IE;
    return a | 0x400000;
  }
  if (c === C_INF) return a;
  if (c === C_ZERO) return a & 0x80000000;
  const mode = (imm & 4) !== 0 ? (fx.mx >>> 13) & 3 : imm & 3;
  const r = rint(clsV, mode);
  if (r !== clsV && (imm & 8) === 0) fx.post |= PE;
  sF32[0] = r;
  return sI32[0]!;
}

/** ROUNDSD/PD; result in fx.lo, fx.hi. */
export function f64Round(lo: number, hi: number, imm: number): void {
  const c = cls64(lo, hi, false);
  if (c >= C_QNAN) {
    if (c === C_SNAN) fx.pre |= IE;
    fx.lo = lo;
    fx.hi = hi | 0x80000;
    return;
  }
  if (c === C_INF) {
    fx.lo = lo;
    fx.hi = hi;
    return;
  }
  if (c === C_ZERO) {
    zeroOut(hi < 0, true);
    return;
  }
  const mode = (imm & 4) !== 0 ? (fx.mx >>> 13) & 3 : imm & 3;
  const v = clsV;
  const r = Math.abs(v) >= 4503599627370496 ? v : rint(v, mode);
  if (r !== v && (imm & 8) === 0) fx.post |= PE;
  sF64[0] = r;
  fx.lo = sI32[0]!;
  fx.hi = sI32[1]!;
}

// ---- reciprocal approximations ------------------------------------------------------------------

/**
 * RCPSS/RCPPS and RSQRTSS/RSQRTPS (SDM Vol. 2 "RCPPS", "RSQRTPS"): the reference CPU's tables
 * (./sse-approx-table.ts; within |relative error| <= 1.5 * 2^-12). No exceptions and no MXCSR
 * effect; denormal inputs act as zero (result ±inf), results below the normal range are
 * flushed to zero; RSQRT of a negative nonzero value is the default NaN; NaNs are quieted.
 */
export function f32Approx(a: number, rsqrt: boolean): number {
  const ex = (a >>> 23) & 0xff;
  const fr = a & 0x7fffff;
  const sign = a & 0x80000000;
  if (ex === 0xff) {
    if (fr !== 0) return a | 0x400000;
    if (rsqrt && sign !== 0) return F32_INDEFINITE;
    return sign;
  }
  if (ex === 0) return sign !== 0 ? 0xff800000 | 0 : 0x7f800000;
  if (!rsqrt) {
    const e = 253 - ex; // 1 / (m * 2^(ex - 127)) = rcp(m) * 2^(127 - ex), rcp(m) in (0.5, 1)
    if (e <= 0) return sign;
    return sign | (e << 23) | (RCP_TABLE[fr >>> 11]! << 11);
  }
  if (sign !== 0) return F32_INDEFINITE;
  const E = ex - 127;
  const par = E & 1;
  const t = RSQRT_TABLE[(par << 12) | (fr >>> 11)]!;
  const e = 125 + (t >>> 12) - ((E - par) >> 1);
  return (e << 23) | ((t & 0xfff) << 11);
}
