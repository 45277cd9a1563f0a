/**
 * The x87 transcendental instructions on 80-bit extended operands: FSIN, FCOS, FSINCOS, FPTAN,
 * FPATAN, F2XM1, FYL2X and FYL2XP1 (SDM Vol. 2 instruction pages; SDM Vol. 1 §8.3.10; AMD APM
 * Vol. 5). Results are computed with the 144-bit arithmetic of `mp.ts` and rounded once to the
 * 64-bit significand with the FCW rounding control, which this host's CPU (AMD Zen 4) honours
 * for all eight instructions.
 *
 * Behaviour measured on the host with `test/native/x87-trans.c` and matched here:
 * - FSIN/FCOS/FSINCOS/FPTAN reduce their argument with an approximation of pi that keeps 66
 *   significant bits (pi truncated: 0xC90FDAA22168C234C * 2^-66), as Intel documents for its
 *   processors (SDM Vol. 1 §8.3.10, "Transcendental Instruction Accuracy"): the result is
 *   f(x - k * P66 / 2) for the integer k nearest x / (P66 / 2), rounded correctly, so near the
 *   multiples of pi/2 it differs from the true function. |x| >= 2^63 sets C2 and leaves the
 *   operand (SDM Vol. 2 FSIN: "Source operand is out of range").
 * - PE is reported for every result the computation produces (even the exactly representable
 *   ones, e.g. FYL2X(1, 8) = 3 and F2XM1(-1) = -0.5); only the special-case results of the
 *   instruction tables (zeros, infinities, NaNs) leave it clear.
 * - F2XM1 outside [-1, +1] leaves the operand unchanged (the SDM says the result is undefined)
 *   and reports PE; FYL2XP1 with x <= -1 likewise returns x, and beyond |x| < 1 - sqrt(2)/2 it
 *   computes y * log2(1 + x) anyway; with y = +-0 or +-inf it gives the signed zero/infinity
 *   whatever x is.
 * - Two-operand forms report DE for a denormal operand unless the result is a NaN, invalid (IE)
 *   or a division by zero (ZE). Tininess (UE) is detected after rounding. FSINCOS reports the C1
 *   of the sine.
 * - The host's own results are not always correctly rounded (it is off by one ulp in 0.5-3% of
 *   cases). Modelled from probes of the host: FPTAN's scaling of small reduced arguments
 *   (`tanArgument`); FYL2X/FYL2XP1's logarithm and FPATAN's ratio held as 68-bit intermediates
 *   rounded to nearest, FPATAN's pi/2 and pi taken with 68 bits (AMD's internal precision). The
 *   remaining differences (the host's polynomial errors) are not.
 * - With OE or UE unmasked (the `unmasked` argument of every entry point: the FCW's clear OM/UM
 *   bits) a result that overflows or is tiny is delivered rebiased by -/+24576 for the register
 *   destination (SDM Vol. 1 §4.9.1.4-5), as the host does; mp.ts `round` produces it.
 */
import * as mpNs from './mp.js';

const { nudge, add, copy, div, divSmall, fromExt, isZero, mul, mulSmall, round, roundTo, scale, setConst, setInt, setZero, sub, truncInt, intLow2, cmpMag, toSmallInt, out, E, S, M, N } = mpNs;

/** Results: first value, second value (FSINCOS cos), FSW flag bits, C1 and C2. */
export const tr = { se: 0, hi: 0, lo: 0, se2: 0, hi2: 0, lo2: 0, flags: 0, c1: 0, c2: 0 };

const IE = 1;
const DE = 2;
const ZE = 4;
const UE = 0x10;
const PE = 0x20;

// Register numbers in the mp pool.
const R_PI = 0;
const R_P66H = 2; // P66 / 2
const R_LN2 = 3;
const R_LOG2E = 4;
const R_ONE = 5;
const R_HALF = 6;
const R_ATAN = 7; // 7..23: atan(j / 16), j = 0..16
const R_P66Q = 37; // P66 / 4
const R_LNTAB = 38; // 38..60: ln(j / 32), j = 23..45
const R_SINT = 61; // 61..74: sin(j / 16), j = 0..13
const R_COST = 75; // 75..88: cos(j / 16), j = 0..13
const A1 = 89;
const A2 = 90;
const A3 = 91;
const X = 24;
const Y = 25;
const T = 26;
const U = 27;
const V = 28;
const SUM = 29;
const TERM = 30;
const SIN = 31;
const COS = 32;
const K = 33;
const Q = 34;
const Z2 = 35;
const P = 36;
/** FPTAN's scale factor (see `tanArgument`): 0xB9F25A5EEF7C79A2C * 2^-67, 68 bits. */
const R_TANK = 92;
const W1 = 93;
/**
 * log2(e) rounded to 68 bits. FYL2X and FYL2XP1 on this host compute t = log2(x) (or log2(1 + x))
 * as a 68-bit intermediate, rounded to nearest (AMD's internal precision), then y * t rounded
 * once: for |x| < 2^-70 FYL2XP1 is exactly RN64(y * RN68(x * log2(e)_68)) (6,000 of 6,000
 * probed operands, with every other combination of constants and roundings worse), and keeping
 * the logarithm at 68 bits makes 0.6% more of FYL2X/FYL2XP1's results bit-exact elsewhere too.
 */
const R_LOG2E68 = 94;

setConst(R_PI, 'c90fdaa22168c234c4c6628b80dc1cd129024e08', 2);
setConst(R_P66H, 'c90fdaa22168c234c00000000000000000000000', 1);
setConst(R_P66Q, 'c90fdaa22168c234c00000000000000000000000', 0);
setConst(R_LN2, 'b17217f7d1cf79abc9e3b39803f2f6af40f34326', 0);
setConst(R_LOG2E, 'b8aa3b295c17f0bbbe87fed0691d3e88eb577aa8', 1);
setConst(R_LOG2E68, 'b8aa3b295c17f0bbc00000000000000000000000', 1);
setConst(R_TANK, 'b9f25a5eef7c79a2c00000000000000000000000', 1);
setInt(R_ONE, 1);
setInt(R_HALF, 1, -1);

/** Terms smaller than 2^-STOP relative to the sum end a series. */
const STOP = 16 * N + 4;

/**
 * atan(x) for 0 <= x <= 1 by Euler's series, used once at load time for the table:
 * atan x = sum_n a_n with a_0 = x / (1 + x^2), a_n = a_(n-1) * z * 2n / (2n + 1),
 * z = x^2 / (1 + x^2).
 */
function atanEuler(d: number, x: number): void {
  mul(T, x, x);
  add(U, R_ONE, T);
  div(V, T, U); // z
  div(TERM, x, U); // a_0
  copy(SUM, TERM);
  for (let n = 1; n < 400; n++) {
    mul(TERM, TERM, V);
    mulSmall(TERM, TERM, 2 * n);
    divSmall(TERM, TERM, 2 * n + 1);
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) break;
    add(SUM, SUM, TERM);
  }
  copy(d, SUM);
}

for (let j = 0; j <= 16; j++) {
  if (j === 0) setZero(R_ATAN);
  else {
    setInt(X, j, -4);
    atanEuler(R_ATAN + j, X);
  }
}

// ln(j / 32) = 2 atanh((j - 32) / (j + 32)) for the logarithm's table (load time).
for (let j = 23; j <= 45; j++) {
  if (j === 32) setZero(R_LNTAB + j - 23);
  else {
    setInt(T, Math.abs(j - 32));
    if (j < 32) S[T] = 1;
    divSmall(T, T, j + 32);
    atanhSeries2();
    copy(R_LNTAB + j - 23, SUM);
  }
}

/** SIN = sin r (need & 1), COS = cos r (need & 2) by their Taylor series (|r| <= about pi/4). */
function sinCosSeries(r: number, need: number): void {
  mul(Z2, r, r);
  if ((need & 1) !== 0) sinSeries(r);
  if ((need & 2) !== 0) cosSeries();
}

function sinSeries(r: number): void {
  copy(SUM, r);
  copy(TERM, r);
  for (let n = 1; n < 60; n++) {
    mul(TERM, TERM, Z2);
    divSmall(TERM, TERM, 2 * n * (2 * n + 1));
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) {
      nudge(SUM, ((n & 1) !== 0 ? -1 : 1) * (1 - 2 * S[TERM]!));
      break;
    }
    if ((n & 1) !== 0) sub(SUM, SUM, TERM);
    else add(SUM, SUM, TERM);
  }
  copy(SIN, SUM);
}

/** COS = cos r, with Z2 = r^2. */
function cosSeries(): void {
  copy(SUM, R_ONE);
  copy(TERM, R_ONE);
  for (let n = 1; n < 60; n++) {
    mul(TERM, TERM, Z2);
    divSmall(TERM, TERM, (2 * n - 1) * 2 * n);
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) {
      nudge(SUM, (n & 1) !== 0 ? -1 : 1);
      break;
    }
    if ((n & 1) !== 0) sub(SUM, SUM, TERM);
    else add(SUM, SUM, TERM);
  }
  copy(COS, SUM);
}

for (let j = 1; j <= 13; j++) {
  setInt(T, j, -4);
  sinCosSeries(T, 3);
  copy(R_SINT + j, SIN);
  copy(R_COST + j, COS);
}

/**
 * SIN = sin r and COS = cos r together (|r| <= about pi/4), from the table at c = j/16 nearest
 * r: sin r = sin c cos d + cos c sin d, cos r = cos c cos d - sin c sin d, d = r - c (exact),
 * |d| <= 1/32, so the two short series cost about as much as one series on r.
 */
function sinCosBoth(r: number): void {
  scale(T, r, 4);
  S[T] = 0;
  add(T, T, R_HALF);
  const j = Math.min(13, toSmallInt(T));
  if (j === 0) {
    sinCosSeries(r, 3);
    return;
  }
  const neg = S[r]!;
  setInt(Q, j, -4);
  S[Q] = neg;
  sub(V, r, Q);
  sinCosSeries(V, 3);
  mul(A1, R_SINT + j, COS);
  S[A1] = S[A1]! ^ neg;
  mul(A2, R_COST + j, SIN);
  mul(A3, R_COST + j, COS);
  mul(K, R_SINT + j, SIN);
  S[K] = S[K]! ^ neg;
  add(SIN, A1, A2);
  sub(COS, A3, K);
}

/**
 * Reduces |x| (register X, made non-negative) to r = |x| - k * P66/2 (exact: fewer than 144
 * significant bits) and returns k mod 4; SIN/COS then hold sin r and cos r.
 */
function reduceSinCos(need: number): number {
  S[X] = 0;
  if (cmpMag(X, R_P66Q) <= 0) {
    // |x| <= P66/4: k = 0, no reduction.
    copy(U, X);
    if (tanMode) tanArgument();
    if (need === 3) sinCosBoth(U);
    else sinCosSeries(U, need);
    return 0;
  }
  div(Q, X, R_P66H);
  add(Q, Q, R_HALF);
  truncInt(K, Q);
  const quadrant = intLow2(K);
  mul(T, K, R_P66H);
  sub(U, X, T);
  if (tanMode) tanArgument();
  // sin x and cos x use sin r or cos r by the quadrant: fetch the one asked for (bit 0 = sin x,
  // bit 1 = cos x, 3 = both).
  if (need === 3) sinCosBoth(U);
  else sinCosSeries(U, (quadrant & 1) !== 0 ? need ^ 3 : need);
  return quadrant;
}

/** Set while FPTAN reduces its argument. */
let tanMode = false;

/**
 * FPTAN's argument as this host's microcode sees it (measured): the reduced argument r is
 * multiplied by a 68-bit constant K = 0xB9F25A5EEF7C79A2C * 2^-67 (~1.45271) and rounded to 68
 * bits (AMD's internal precision), so the function is evaluated at RN68(r K) / K rather than r.
 * Found from the low bits of FPTAN(x) for tiny x in the directed rounding modes, which follow the
 * sign of that rounding error (a period-4/8 pattern, the period changing where r K crosses 2):
 * the model matches all of 2,560 probed operands |x| ~ 2^-50 and every probed |r| < 2^-40. For
 * |r| >= 2^-20 the host's remaining error (about 3% of results off by one ulp, from its
 * polynomial, not modelled) dominates and the scaling does not improve the match, so it is
 * applied to |r| < 2^-20 only.
 */
function tanArgument(): void {
  if (E[U]! > -20) return;
  mul(W1, U, R_TANK);
  roundTo(W1, W1, 68);
  div(U, W1, R_TANK);
}

/** Operand classes. */
const C_ZERO = 0;
const C_DENORMAL = 1;
const C_NORMAL = 2;
const C_INF = 3;
const C_QNAN = 4;
const C_SNAN = 5;
const C_INVALID = 6;

function classify(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  const j = hi >>> 31;
  if (e === 0x7fff) {
    if (j === 0) return C_INVALID;
    if ((hi & 0x7fffffff) === 0 && lo === 0) return C_INF;
    return (hi & 0x40000000) !== 0 ? C_QNAN : C_SNAN;
  }
  if (e === 0) return hi === 0 && lo === 0 ? C_ZERO : C_DENORMAL;
  return j === 0 ? C_INVALID : C_NORMAL;
}

function setIndefinite(): void {
  tr.se = 0xffff;
  tr.hi = 0xc0000000 | 0;
  tr.lo = 0;
}

function setValue(se: number, hi: number, lo: number): void {
  tr.se = se;
  tr.hi = hi | 0;
  tr.lo = lo | 0;
}

/** The quiet form of a NaN operand (SNaN: IE). */
function setNan(cls: number, se: number, hi: number, lo: number): void {
  if (cls === C_SNAN) tr.flags |= IE;
  setValue(se, hi | 0x40000000, lo);
}

/**
 * Two operands of which at least one is a NaN (SDM Vol. 1 Table 4-7): an SNaN and a QNaN give
 * the QNaN; two of the same kind, the one with the larger significand.
 */
function setNan2(ca: number, aSe: number, aHi: number, aLo: number, cb: number, bSe: number, bHi: number, bLo: number): void {
  if (ca === C_SNAN || cb === C_SNAN) tr.flags |= IE;
  let aNan = ca === C_QNAN || ca === C_SNAN;
  let bNan = cb === C_QNAN || cb === C_SNAN;
  if (aNan && bNan && ca !== cb) {
    aNan = ca === C_QNAN;
    bNan = !aNan;
  }
  if (aNan && bNan) {
    const ah = (aHi | 0x40000000) >>> 0;
    const bh = (bHi | 0x40000000) >>> 0;
    const aBigger = ah > bh || (ah === bh && (aLo >>> 0) > (bLo >>> 0)) || (ah === bh && aLo === bLo && (aSe & 0x8000) === 0);
    if (aBigger) setValue(aSe, aHi | 0x40000000, aLo);
    else setValue(bSe, bHi | 0x40000000, bLo);
    return;
  }
  if (aNan) setValue(aSe, aHi | 0x40000000, aLo);
  else setValue(bSe, bHi | 0x40000000, bLo);
}

/**
 * DE for a denormal operand of the two-operand instructions: reported with every result except
 * the invalid-operation and divide-by-zero ones (measured).
 */
function denormalFlag(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number): void {
  if ((tr.flags & (IE | ZE)) !== 0 || (tr.se & 0x7fff) === 0x7fff && (tr.hi & 0x7fffffff) !== 0 && (tr.hi & 0x40000000) !== 0 && nanIn(ySe, yHi, xSe, xHi)) return;
  if (classify(ySe, yHi, yLo) === C_DENORMAL || classify(xSe, xHi, xLo) === C_DENORMAL) tr.flags |= DE;
}

function nanIn(ySe: number, yHi: number, xSe: number, xHi: number): boolean {
  return ((ySe & 0x7fff) === 0x7fff && (yHi & 0x7fffffff) !== 0) || ((xSe & 0x7fff) === 0x7fff && (xHi & 0x7fffffff) !== 0);
}

/**
 * The caller's unmasked OE (0x08) and UE (0x10) bits (FCW bits clear): results that overflow or
 * are tiny are then stored rebiased by -/+24576 rather than as infinity / a denormal (see
 * mp.ts `round`; SDM Vol. 1 §4.9.1.4-5). Set by every entry point.
 */
let unm = 0;

function begin(): void {
  tr.flags = 0;
  tr.c1 = 0;
  tr.c2 = 0;
}

/**
 * Rounds register r into tr.se/hi/lo and merges its flags and C1; PE always (see the header).
 * `exact`: r holds the exact result (not a truncated approximation of an irrational one).
 */
function finish(r: number, rc: number, exact = false): void {
  round(r, rc, exact, unm);
  tr.se = out.se;
  tr.hi = out.hi;
  tr.lo = out.lo;
  tr.flags |= out.flags | PE;
  // The host reports PE even for exact results, and UE with it for an exact denormal result.
  if (exact && (out.se & 0x7fff) === 0 && (out.hi !== 0 || out.lo !== 0)) tr.flags |= UE;
  tr.c1 = out.c1;
}

/**
 * The common front of FSIN/FCOS/FSINCOS/FPTAN: the special operands of their tables (SDM Vol. 2:
 * +-inf and invalid encodings: IE, indefinite; NaN; out of range: C2 = 1). Returns true when the
 * result is already set (tr.se.. for every output) or there is none.
 */
function trigSpecial(cls: number, se: number, hi: number, lo: number, two: boolean): boolean {
  if (cls === C_INF || cls === C_INVALID) {
    tr.flags |= IE;
    setIndefinite();
    tr.se2 = tr.se;
    tr.hi2 = tr.hi;
    tr.lo2 = tr.lo;
    return true;
  }
  if (cls === C_QNAN || cls === C_SNAN) {
    setNan(cls, se, hi, lo);
    if (two) {
      tr.se2 = tr.se;
      tr.hi2 = tr.hi;
      tr.lo2 = tr.lo;
    }
    return true;
  }
  if (cls === C_NORMAL && (se & 0x7fff) >= 16383 + 63) {
    tr.c2 = 1;
    setValue(se, hi, lo);
    return true;
  }
  if (cls === C_DENORMAL) tr.flags |= DE;
  return false;
}

/** FSIN: ST(0) = sin ST(0) (SDM Vol. 2 "FSIN"). */
export function fsin(se: number, hi: number, lo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  const cls = classify(se, hi, lo);
  if (trigSpecial(cls, se, hi, lo, false)) return;
  if (cls === C_ZERO) {
    setValue(se, 0, 0);
    return;
  }
  fromExt(X, se, hi, lo);
  const neg = se >>> 15;
  const q = reduceSinCos(1);
  copy(P, (q & 1) === 0 ? SIN : COS);
  if (((q >>> 1) ^ neg) !== 0) S[P] = S[P]! ^ 1;
  finish(P, rc);
}

/** FCOS: ST(0) = cos ST(0) (SDM Vol. 2 "FCOS"). */
export function fcos(se: number, hi: number, lo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  const cls = classify(se, hi, lo);
  if (trigSpecial(cls, se, hi, lo, false)) return;
  if (cls === C_ZERO) {
    setValue(0x3fff, 0x80000000, 0);
    return;
  }
  fromExt(X, se, hi, lo);
  cosOf(reduceSinCos(2));
  finish(P, rc);
}

/** P = cos x from the reduced SIN/COS and the quadrant. */
function cosOf(q: number): void {
  copy(P, (q & 1) === 0 ? COS : SIN);
  if (((q + 1) & 2) !== 0) S[P] = S[P]! ^ 1;
}

/** FSINCOS: sin -> tr.se/hi/lo, cos -> tr.se2/hi2/lo2 (SDM Vol. 2 "FSINCOS"). C1 is that of the sine (measured). */
export function fsincos(se: number, hi: number, lo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  const cls = classify(se, hi, lo);
  if (trigSpecial(cls, se, hi, lo, true)) return;
  if (cls === C_ZERO) {
    setValue(se, 0, 0);
    tr.se2 = 0x3fff;
    tr.hi2 = 0x80000000 | 0;
    tr.lo2 = 0;
    return;
  }
  fromExt(X, se, hi, lo);
  const neg = se >>> 15;
  const q = reduceSinCos(3);
  cosOf(q);
  finish(P, rc);
  tr.se2 = tr.se;
  tr.hi2 = tr.hi;
  tr.lo2 = tr.lo;
  copy(P, (q & 1) === 0 ? SIN : COS);
  if (((q >>> 1) ^ neg) !== 0) S[P] = S[P]! ^ 1;
  finish(P, rc);
}

/** FPTAN: tan ST(0) -> tr.se/hi/lo; the caller then pushes 1.0 (SDM Vol. 2 "FPTAN"). */
export function fptan(se: number, hi: number, lo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  const cls = classify(se, hi, lo);
  if (trigSpecial(cls, se, hi, lo, false)) return;
  if (cls === C_ZERO) {
    setValue(se, 0, 0);
    return;
  }
  fromExt(X, se, hi, lo);
  const neg = se >>> 15;
  tanMode = true;
  const q = reduceSinCos(E[X]! < -40 ? 0 : 3);
  tanMode = false;
  // tan(r + k pi/2) = tan r (k even), -cot r (k odd). For |r| < 2^-40, tan r = r + r^3/3 to
  // 144 bits, and the rest (2 r^5 / 15) has the sign of r.
  if ((q & 1) === 0 && E[U]! < -40) {
    mul(P, U, U);
    mul(P, P, U);
    divSmall(P, P, 3);
    add(P, P, U);
    nudge(P, 1 - 2 * S[U]!);
  } else if ((q & 1) === 0) div(P, SIN, COS);
  else {
    div(P, COS, SIN);
    S[P] = S[P]! ^ 1;
  }
  if (neg !== 0) S[P] = S[P]! ^ 1;
  finish(P, rc);
}

/** F2XM1: ST(0) = 2^ST(0) - 1 for -1 <= ST(0) <= +1 (SDM Vol. 2 "F2XM1"). */
export function f2xm1(se: number, hi: number, lo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  const cls = classify(se, hi, lo);
  if (cls === C_QNAN || cls === C_SNAN) {
    setNan(cls, se, hi, lo);
    return;
  }
  if (cls === C_INVALID) {
    tr.flags |= IE;
    setIndefinite();
    return;
  }
  if (cls === C_INF) {
    // 2^-inf - 1 = -1, 2^+inf - 1 = +inf.
    if ((se & 0x8000) !== 0) setValue(0xbfff, 0x80000000, 0);
    else setValue(se, hi, lo);
    return;
  }
  if (cls === C_ZERO) {
    setValue(se, 0, 0);
    return;
  }
  if (cls === C_DENORMAL) tr.flags |= DE;
  const e = se & 0x7fff;
  if (e > 16383 || (e === 16383 && (hi !== (0x80000000 | 0) || lo !== 0))) {
    // Outside [-1, +1]: the operand is left unchanged (measured; the SDM leaves it undefined).
    setValue(se, hi, lo);
    tr.flags |= PE;
    return;
  }
  if (e === 16383 && (se & 0x8000) !== 0) {
    // 2^-1 - 1 = -0.5, exact.
    setValue(0xbffe, 0x80000000, 0);
    tr.flags |= PE;
    return;
  }
  fromExt(X, se, hi, lo);
  // 2^x - 1 = expm1(x ln 2) = sum t^n / n!, t = x ln 2, on t / 2^k (|t / 2^k| < 2^-8), then k
  // doublings: expm1(2u) = expm1(u) (expm1(u) + 2).
  mul(T, X, R_LN2);
  const k = E[T]! > -8 ? E[T]! + 8 : 0;
  if (k !== 0) E[T] = E[T]! - k;
  copy(SUM, T);
  copy(TERM, T);
  for (let n = 2; n < 80; n++) {
    mul(TERM, TERM, T);
    divSmall(TERM, TERM, n);
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) {
      nudge(SUM, 1 - 2 * S[TERM]!);
      break;
    }
    add(SUM, SUM, TERM);
  }
  for (let i = 0; i < k; i++) {
    add(V, SUM, R_ONE);
    add(V, V, R_ONE);
    mul(SUM, SUM, V);
  }
  finish(SUM, rc);
}

/** SUM = ln(1 + w) for |w| small with 1 + w = (1 + s) / (1 - s): 2 (s + s^3/3 + s^5/5 + ...), s in register T. */
function atanhSeries2(): void {
  mul(Z2, T, T);
  copy(SUM, T);
  copy(P, T);
  for (let k = 1; k < 200; k++) {
    mul(P, P, Z2);
    divSmall(TERM, P, 2 * k + 1);
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) {
      nudge(SUM, 1 - 2 * S[TERM]!);
      break;
    }
    add(SUM, SUM, TERM);
  }
  scale(SUM, SUM, 1);
}

/** Set by log2Of: x was a power of two, so V = log2 x is an exact integer. */
let log2Exact = false;

/** V = log2(x) for x > 0 in register X. */
function log2Of(): void {
  // x = 0.m * 2^E = m' * 2^e with m' in [sqrt(1/2), sqrt(2)).
  let e = E[X]! - 1;
  copy(U, X);
  E[U] = 1; // m' in [1, 2)
  // sqrt(2) / 2 ~ 0.B504F334: 0.m >= 0.B504F334 means m' >= sqrt 2.
  const m0 = M[U * N]! * 65536 + M[U * N + 1]!;
  if (m0 >= 0xb504f334) {
    E[U] = 0;
    e++;
  }
  // ln m' = ln c + 2 atanh s, c = j / 32 nearest m', s = (m' - c) / (m' + c), |s| < 1/90.
  scale(T, U, 5);
  add(T, T, R_HALF);
  const j = toSmallInt(T);
  setInt(Q, j, -5);
  sub(V, U, Q);
  log2Exact = j === 32 && isZero(V);
  add(T, U, Q);
  div(T, V, T);
  atanhSeries2();
  if (j !== 32) add(SUM, SUM, R_LNTAB + j - 23);
  mul(V, SUM, R_LOG2E);
  if (e !== 0) {
    setInt(T, Math.abs(e));
    if (e < 0) S[T] = 1;
    add(V, V, T);
  }
}

/**
 * The special cases shared by FYL2X/FYL2XP1/FPATAN: NaNs, invalid encodings. Returns true
 * when the result is set.
 */
function twoSpecial(cy: number, ySe: number, yHi: number, yLo: number, cx: number, xSe: number, xHi: number, xLo: number): boolean {
  if (cy === C_INVALID || cx === C_INVALID) {
    tr.flags |= IE;
    setIndefinite();
    return true;
  }
  if (cy === C_QNAN || cy === C_SNAN || cx === C_QNAN || cx === C_SNAN) {
    setNan2(cx, xSe, xHi, xLo, cy, ySe, yHi, yLo);
    return true;
  }
  return false;
}

/** FYL2X: ST(1) * log2(ST(0)), popped (SDM Vol. 2 "FYL2X", Table 3-49). */
export function fyl2x(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  fyl2xBody(ySe, yHi, yLo, xSe, xHi, xLo, rc);
  denormalFlag(ySe, yHi, yLo, xSe, xHi, xLo);
}

function fyl2xBody(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number): void {
  const cy = classify(ySe, yHi, yLo);
  const cx = classify(xSe, xHi, xLo);
  if (twoSpecial(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  const xNeg = (xSe & 0x8000) !== 0 && cx !== C_ZERO;
  const yNeg = (ySe & 0x8000) !== 0;
  if (xNeg) {
    tr.flags |= IE;
    setIndefinite();
    return;
  }
  // log2 x: -inf (x = 0), < 0 (x < 1), 0 (x = 1), > 0 (x > 1), +inf.
  if (cx === C_ZERO) {
    if (cy === C_ZERO) {
      tr.flags |= IE;
      setIndefinite();
      return;
    }
    if (cy !== C_INF) tr.flags |= ZE;
    setValue(((yNeg ? 0 : 1) << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  if (cx === C_INF) {
    if (cy === C_ZERO) {
      tr.flags |= IE;
      setIndefinite();
      return;
    }
    setValue(((yNeg ? 1 : 0) << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  const xIsOne = (xSe & 0x7fff) === 16383 && xHi === (0x80000000 | 0) && xLo === 0;
  const xBelowOne = (xSe & 0x7fff) < 16383 || cx === C_DENORMAL;
  if (cy === C_INF) {
    if (xIsOne) {
      tr.flags |= IE;
      setIndefinite();
      return;
    }
    setValue(((yNeg !== xBelowOne ? 1 : 0) << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  if (cy === C_ZERO || xIsOne) {
    // +-0: the sign of y * log2 x.
    const s = cy === C_ZERO ? yNeg !== xBelowOne : yNeg;
    setValue((s ? 1 : 0) << 15, 0, 0);
    return;
  }
  fromExt(X, xSe, xHi, xLo);
  log2Of();
  if (!log2Exact) roundTo(V, V, 68);
  fromExt(Y, ySe, yHi, yLo);
  mul(V, V, Y);
  finish(V, rc, log2Exact);
}

/** FYL2XP1: ST(1) * log2(ST(0) + 1), popped (SDM Vol. 2 "FYL2XP1", Table 3-50). */
export function fyl2xp1(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  fyl2xp1Body(ySe, yHi, yLo, xSe, xHi, xLo, rc);
  denormalFlag(ySe, yHi, yLo, xSe, xHi, xLo);
}

function fyl2xp1Body(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number): void {
  const cy = classify(ySe, yHi, yLo);
  const cx = classify(xSe, xHi, xLo);
  if (twoSpecial(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  const xNeg = (xSe & 0x8000) !== 0;
  const yNeg = (ySe & 0x8000) !== 0;
  if (cx === C_INF) {
    if (xNeg || cy === C_ZERO) {
      tr.flags |= IE;
      setIndefinite();
      return;
    }
    setValue(((yNeg ? 1 : 0) << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  if (cx === C_ZERO) {
    if (cy === C_INF) {
      tr.flags |= IE;
      setIndefinite();
      return;
    }
    setValue((yNeg !== xNeg ? 1 : 0) << 15, 0, 0);
    return;
  }
  if (cy === C_INF) {
    setValue(((yNeg !== xNeg ? 1 : 0) << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  if (cy === C_ZERO) {
    setValue((yNeg !== xNeg ? 1 : 0) << 15, 0, 0);
    return;
  }
  fromExt(X, xSe, xHi, xLo);
  add(U, X, R_ONE); // 1 + x
  if (S[U] !== 0 || isZero(U)) {
    // x <= -1 (outside the documented range): the host leaves ST(0) as it is, reporting PE.
    setValue(xSe, xHi, xLo);
    tr.flags |= PE;
    return;
  }
  if ((xSe & 0x7fff) >= 0x3ff9) {
    // |x| >= 2^-6: log2 of 1 + x itself, which is exact (at most 70 significant bits). Beyond
    // 1 - sqrt(2)/2 the operand is outside the documented range; the host computes it anyway.
    copy(X, U);
    log2Of();
    if (!log2Exact) roundTo(V, V, 68);
    fromExt(Y, ySe, yHi, yLo);
    mul(V, V, Y);
    finish(V, rc, log2Exact);
    return;
  }
  // log(1 + x) = 2 atanh(x / (2 + x)), |x / (2 + x)| < 2^-7.
  add(T, U, R_ONE);
  div(T, X, T);
  atanhSeries2();
  mul(V, SUM, R_LOG2E68);
  roundTo(V, V, 68);
  fromExt(Y, ySe, yHi, yLo);
  mul(V, V, Y);
  finish(V, rc);
}

/** V = atan(t) for 0 <= t <= 1 in register T: atan(c) + atan((t - c) / (1 + t c)), c = j / 16. */
function atanUnit(): void {
  scale(U, T, 4);
  add(U, U, R_HALF);
  const j = Math.min(16, toSmallInt(U));
  setInt(U, j, -4); // c
  if (j === 0) copy(V, T);
  else {
    sub(V, T, U);
    mul(U, T, U);
    add(U, U, R_ONE);
    div(V, V, U);
  }
  // atan u = u - u^3/3 + u^5/5 - ...
  mul(Z2, V, V);
  copy(SUM, V);
  copy(P, V);
  for (let k = 1; k < 100; k++) {
    mul(P, P, Z2);
    divSmall(TERM, P, 2 * k + 1);
    if (isZero(TERM) || E[TERM]! < E[SUM]! - STOP) {
      nudge(SUM, ((k & 1) !== 0 ? -1 : 1) * (1 - 2 * S[TERM]!));
      break;
    }
    if ((k & 1) !== 0) sub(SUM, SUM, TERM);
    else add(SUM, SUM, TERM);
  }
  add(V, SUM, R_ATAN + j);
}

/** FPATAN: atan(ST(1) / ST(0)) in the quadrant of (ST(0), ST(1)), popped (SDM Vol. 2 "FPATAN", Table 3-29). */
export function fpatan(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number, unmasked = 0): void {
  unm = unmasked;
  begin();
  fpatanBody(ySe, yHi, yLo, xSe, xHi, xLo, rc);
  denormalFlag(ySe, yHi, yLo, xSe, xHi, xLo);
}

function fpatanBody(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, rc: number): void {
  const cy = classify(ySe, yHi, yLo);
  const cx = classify(xSe, xHi, xLo);
  if (twoSpecial(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  const xNeg = (xSe & 0x8000) !== 0;
  const yNeg = (ySe & 0x8000) !== 0;
  // Magnitude of the result as a multiple of pi/4 for the special operands, or -1.
  let special = -1;
  if (cy === C_ZERO) special = xNeg ? 4 : 0;
  else if (cy === C_INF) special = cx === C_INF ? (xNeg ? 3 : 1) : 2;
  else if (cx === C_INF) special = xNeg ? 4 : 0;
  else if (cx === C_ZERO) special = 2;
  if (special === 0) {
    setValue((yNeg ? 1 : 0) << 15, 0, 0);
    return;
  }
  if (special > 0) {
    // k pi / 4, rounded (SDM: the table's +-pi, +-pi/2, +-pi/4, +-3pi/4).
    if (special === 3) {
      mulSmall(V, R_PI, 3);
      scale(V, V, -2);
    } else scale(V, R_PI, special === 4 ? 0 : special === 2 ? -1 : -2);
    if (yNeg) S[V] = 1;
    finish(V, rc);
    return;
  }
  fromExt(X, xSe, xHi, xLo);
  fromExt(Y, ySe, yHi, yLo);
  S[X] = 0;
  S[Y] = 0;
  const swap = cmpMag(Y, X) > 0;
  if (swap) div(T, X, Y);
  else div(T, Y, X);
  // The host holds the ratio as a 68-bit intermediate (rounded to nearest) and takes pi/2 and pi
  // with 68 bits (P66): atan(RN68(t)), pi/2 - atan, pi - atan (measured: 99.6% of results
  // bit-exact, against 98.6% with the exact ratio and constants).
  roundTo(T, T, 68);
  atanUnit();
  if (swap) sub(V, R_P66H, V);
  if (xNeg) {
    scale(W1, R_P66H, 1);
    sub(V, W1, V);
  }
  if (yNeg) S[V] = 1;
  finish(V, rc);
}
