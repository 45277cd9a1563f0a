/**
 * A small multi-precision binary floating-point arithmetic for the x87 transcendental
 * instructions (src/fpu/transcendental.ts): numbers of 144-bit significand held in a fixed
 * pool of registers, so nothing is allocated per operation.
 *
 * Register r is sign `S[r]`, exponent `E[r]` and significand limbs `M[r*N .. r*N+N-1]` (16 bits
 * each, most significant first); the value is (-1)^S * 0.m * 2^E with 1/2 <= 0.m < 1 (the top
 * bit of the first limb is set), or zero when the first limb is 0. Results are truncated to
 * 144 bits (relative error below 2^-143 per operation); addition and subtraction are exact
 * whenever the exact result fits in 144 bits, which the argument reduction of FSIN/FCOS/FPTAN
 * relies on. Limb products are at most 2^32 and the sums of a column stay far below 2^53, so
 * every intermediate is an exact integer.
 */

/** Limbs per significand (16 bits each: 144 bits). */
export const N = 9;
/** Number of registers in the pool. */
const NR = 100;

export const M = new Uint32Array(NR * N);
export const E = new Int32Array(NR);
export const S = new Uint8Array(NR);

/** Wide scratch of 2N + 2 limbs (held as exact integers in a Float64Array for carries). */
const W = new Float64Array(2 * N + 4);
/** Second wide scratch (the shifted operand of an addition). */
const W2 = new Float64Array(2 * N + 4);
const WL = 2 * N + 2;
/** 2^-16 (exact): v * INV_LIMB then floor is the limb carry, cheaper than a remainder. */
const INV_LIMB = 1 / 65536;

export function isZero(r: number): boolean {
  return M[r * N] === 0;
}

export function setZero(r: number): void {
  const o = r * N;
  for (let i = 0; i < N; i++) M[o + i] = 0;
  E[r] = 0;
  S[r] = 0;
}

export function copy(d: number, a: number): void {
  if (d === a) return;
  const od = d * N;
  const oa = a * N;
  for (let i = 0; i < N; i++) M[od + i] = M[oa + i]!;
  E[d] = E[a]!;
  S[d] = S[a]!;
}

export function neg(d: number, a: number): void {
  copy(d, a);
  if (!isZero(d)) S[d] = S[d]! ^ 1;
}

/** Set by every operation: nonzero bits were cut off when the result was truncated to 144 bits. */
let lost = false;

/** Normalises the wide scratch W (limb 0 most significant, WL limbs) into register d with exponent e for W as 0.W[0]W[1]... */
function fromWide(d: number, e: number, sign: number): void {
  // Propagate carries (limbs may exceed 16 bits after accumulation).
  let carry = 0;
  for (let i = WL - 1; i >= 0; i--) {
    const v = W[i]! + carry;
    if (v < 65536) {
      W[i] = v;
      carry = 0;
      continue;
    }
    carry = Math.floor(v * INV_LIMB);
    W[i] = v - carry * 65536;
  }
  const o = d * N;
  // The carry out of limb 0 becomes a new leading limb.
  let first = 0;
  if (carry !== 0) {
    for (let i = WL - 1; i > 0; i--) W[i] = W[i - 1]!;
    W[0] = carry;
    e += 16;
  } else {
    while (first < WL && W[first] === 0) first++;
    if (first === WL) {
      lost = false;
      setZero(d);
      return;
    }
    e -= 16 * first;
  }
  // Bit shift so that the top bit of the leading limb is set.
  let top = W[first]!;
  let sh = 0;
  while (top < 0x8000) {
    top *= 2;
    sh++;
  }
  e -= sh;
  for (let i = 0; i < N; i++) {
    const j = first + i;
    const a = j < WL ? W[j]! : 0;
    const b = j + 1 < WL ? W[j + 1]! : 0;
    M[o + i] = ((a << sh) | (b >>> (16 - sh))) & 0xffff;
  }
  let dropped = first + N < WL ? W[first + N]! & ((1 << (16 - sh)) - 1) : 0;
  for (let j = first + N + 1; j < WL && dropped === 0; j++) dropped = W[j]!;
  lost = dropped !== 0;
  E[d] = e;
  S[d] = sign;
}

/** Compares |a| and |b|: -1, 0 or 1. */
export function cmpMag(a: number, b: number): number {
  const za = isZero(a);
  const zb = isZero(b);
  if (za || zb) return za && zb ? 0 : za ? -1 : 1;
  if (E[a] !== E[b]) return E[a]! > E[b]! ? 1 : -1;
  const oa = a * N;
  const ob = b * N;
  for (let i = 0; i < N; i++) {
    const x = M[oa + i]!;
    const y = M[ob + i]!;
    if (x !== y) return x > y ? 1 : -1;
  }
  return 0;
}

/** d = a + b (signed). */
export function add(d: number, a: number, b: number): void {
  addSigned(d, a, b, 0);
}

/** d = a - b (signed). */
export function sub(d: number, a: number, b: number): void {
  addSigned(d, a, b, 1);
}

function addSigned(d: number, a: number, b: number, negB: number): void {
  if (isZero(b)) {
    copy(d, a);
    return;
  }
  if (isZero(a)) {
    copy(d, b);
    if (negB !== 0) S[d] = S[d]! ^ 1;
    return;
  }
  const sb = S[b]! ^ negB;
  // x = the operand of larger magnitude.
  let x = a;
  let y = b;
  let sx = S[a]!;
  let sy = sb;
  if (cmpMag(a, b) < 0) {
    x = b;
    y = a;
    sx = sb;
    sy = S[a]!;
  }
  const shift = E[x]! - E[y]!;
  const ox = x * N;
  const oy = y * N;
  for (let i = 0; i < WL; i++) {
    W[i] = 0;
    W2[i] = 0;
  }
  // W = 0.[0][x limbs] (one leading zero limb for the carry).
  for (let i = 0; i < N; i++) W[i + 1] = M[ox + i]!;
  if (shift < 16 * (WL - 1)) {
    const ls = Math.floor(shift / 16);
    const bs = shift % 16;
    for (let i = 0; i < N; i++) {
      const v = M[oy + i]! * 65536 >>> bs; // 32-bit value: limb shifted right by bs within two limbs
      const j = 1 + ls + i;
      if (j < WL) W2[j] += v >>> 16;
      if (j + 1 < WL) W2[j + 1] += v & 0xffff;
    }
  }
  if (sx === sy) {
    for (let i = 0; i < WL; i++) W[i] = W[i]! + W2[i]!;
  } else {
    // |x| >= |y|: subtract with borrows from the least significant limb.
    let borrow = 0;
    for (let i = WL - 1; i >= 0; i--) {
      let v = W[i]! - W2[i]! - borrow;
      borrow = 0;
      if (v < 0) {
        v += 65536;
        borrow = 1;
      }
      W[i] = v;
    }
  }
  fromWide(d, E[x]! + 16, sx);
}

/** d = a * b. */
export function mul(d: number, a: number, b: number): void {
  if (isZero(a) || isZero(b)) {
    setZero(d);
    return;
  }
  const oa = a * N;
  const ob = b * N;
  // Trailing zero limbs (operands loaded from 64-bit values have only four) are skipped.
  let nb = N;
  while (M[ob + nb - 1] === 0) nb--;
  for (let i = 0; i < WL; i++) W[i] = 0;
  for (let i = 0; i < N; i++) {
    const x = M[oa + i]!;
    if (x === 0) continue;
    for (let j = 0; j < nb; j++) W[i + j + 1] += x * M[ob + j]!;
  }
  // Limb i of a (weight 2^-16(i+1)) times limb j of b has weight 2^-16(i+j+2): W[i + j + 1].
  fromWide(d, E[a]! + E[b]!, S[a]! ^ S[b]!);
}

/** d = a / k for a small positive integer k (< 2^20). */
export function divSmall(d: number, a: number, k: number): void {
  if (isZero(a)) {
    setZero(d);
    return;
  }
  const oa = a * N;
  let rem = 0;
  for (let i = 0; i < WL; i++) {
    const v = rem * 65536 + (i < N ? M[oa + i]! : 0);
    const q = Math.floor(v / k); // v < 2^36 and k < 2^20: the quotient of two exact integers
    rem = v - q * k;
    W[i] = q;
  }
  fromWide(d, E[a]!, S[a]!);
}

/** d = a * k for a small non-negative integer k (< 2^20). */
export function mulSmall(d: number, a: number, k: number): void {
  if (isZero(a) || k === 0) {
    setZero(d);
    return;
  }
  const oa = a * N;
  for (let i = 0; i < WL; i++) W[i] = 0;
  for (let i = 0; i < N; i++) W[i + 2] = M[oa + i]! * k;
  fromWide(d, E[a]! + 32, S[a]!);
}

/** d = k * 2^e for a small non-negative integer k. */
export function setInt(d: number, k: number, e = 0): void {
  for (let i = 0; i < WL; i++) W[i] = 0;
  W[1] = Math.floor(k / 65536);
  W[2] = k % 65536;
  fromWide(d, 48 + e, 0);
}

// Scratch registers of div (the pool's last ones).
const T0 = NR - 1;
const T1 = NR - 2;
const T2 = NR - 3;

/**
 * d = a / b (b nonzero) by Newton-Raphson on the reciprocal: r' = r (2 - b r), from a 31-bit
 * first approximation made by integer division of the leading limbs; three steps give more
 * than 144 bits.
 */
export function div(d: number, a: number, b: number): void {
  const ob = b * N;
  const top = M[ob]! * 65536 + M[ob + 1]!; // in [2^31, 2^32)
  // 2^62 / top in [2^30, 2^31]: the reciprocal of 0.b (in [1, 2]) times 2^30.
  const q = Math.floor(4611686018427387904 / (top + 1));
  setInt(T0, q, -30 - E[b]!);
  if (S[b] !== 0) S[T0] = 1;
  for (let it = 0; it < 3; it++) {
    mul(T1, b, T0); // ~1
    setInt(T2, 2);
    sub(T1, T2, T1);
    mul(T0, T0, T1);
  }
  mul(d, a, T0);
  // An exact quotient of at most 16 N - 10 bits is recognised and returned exactly: the
  // quotient rounded to that many bits, multiplied back without loss, must give a. (The series
  // rely on it: atan(y/x) for a tiny exact ratio must see which side of y/x it lies.)
  const od = d * N;
  const o1 = T1 * N;
  for (let i = 0; i < WL; i++) W[i] = 0;
  for (let i = 0; i < N; i++) W[i + 1] = M[od + i]!;
  W[N] += 0x200;
  W[N] = W[N]! - (W[N]! % 0x400);
  fromWide(T1, E[d]! + 16, S[d]!);
  mul(T2, T1, b);
  if (!lost && cmpMag(T2, a) === 0) {
    for (let i = 0; i < N; i++) M[od + i] = M[o1 + i]!;
    E[d] = E[T1]!;
  }
}

/** Loads an extended-precision value (se, significand hi:lo); the significand may be unnormalised. */
export function fromExt(d: number, se: number, hi: number, lo: number): void {
  const o = d * N;
  M[o] = (hi >>> 16) & 0xffff;
  M[o + 1] = hi & 0xffff;
  M[o + 2] = (lo >>> 16) & 0xffff;
  M[o + 3] = lo & 0xffff;
  for (let i = 4; i < N; i++) M[o + i] = 0;
  let e = se & 0x7fff;
  if (e === 0) e = 1;
  for (let i = 0; i < WL; i++) W[i] = i < N ? M[o + i]! : 0;
  // value = sig * 2^(e - 16383 - 63) = 0.sig * 2^(e - 16383 + 1)
  fromWide(d, e - 16382, (se >>> 15) & 1);
}

/** Loads a constant given as 0.m * 2^e with m as 40 hex digits (the first 4 N are used). */
export function setConst(d: number, hex: string, e: number, sign = 0): void {
  const o = d * N;
  for (let i = 0; i < N; i++) M[o + i] = parseInt(hex.slice(4 * i, 4 * i + 4), 16);
  E[d] = e;
  S[d] = sign;
}

/** Multiplies by 2^k. */
export function scale(d: number, a: number, k: number): void {
  copy(d, a);
  if (!isZero(d)) E[d] = E[d]! + k;
}

/** Truncates |a| to an integer below 2^53 (a's magnitude must be below 2^53) and returns it. */
export function toSmallInt(a: number): number {
  if (isZero(a)) return 0;
  const e = E[a]!;
  if (e <= 0) return 0;
  const oa = a * N;
  let v = 0;
  for (let i = 0; i * 16 < e; i++) {
    const limb = i < N ? M[oa + i]! : 0;
    const take = Math.min(16, e - i * 16);
    v = v * 2 ** take + Math.floor(limb / 2 ** (16 - take));
  }
  return v;
}

/** Exponent of the leading bit: |a| in [2^(E-1), 2^E). */
export function expOf(a: number): number {
  return E[a]!;
}

/** Any nonzero limb from index k of the significand at offset o. */
function anyFrom(o: number, k: number): boolean {
  for (let i = k; i < N; i++) if (M[o + i] !== 0) return true;
  return false;
}

/** Limb k of W shifted right by 16 ls + bs bits. */
function limb(k: number, ls: number, bs: number): number {
  const j = k - ls;
  const a0 = j - 1 >= 0 && j - 1 < WL ? W[j - 1]! : 0;
  const a1 = j >= 0 && j < WL ? W[j]! : 0;
  return bs === 0 ? a1 : ((a0 << (16 - bs)) | (a1 >>> bs)) & 0xffff;
}

/** Result of `round`: the extended-precision value and its status. */
export const out = { se: 0, hi: 0, lo: 0, flags: 0, c1: 0 };

/** Bias adjustment of a result stored with unmasked OE/UE (SDM Vol. 1 §4.9.1.4-5: 3 * 2^13). */
const REBIAS = 24576;

/**
 * Rounds register a to extended precision (64-bit significand) with rounding control rc
 * (0 nearest-even, 1 down, 2 up, 3 toward zero; SDM Vol. 1 §4.8.4), into `out`: the value,
 * PE/UE/OE flags (Vol. 1 §4.9.1.4-6) and C1 = 1 when the magnitude was rounded up (Vol. 1
 * §8.1.3.3). `exact` = false forces an inexact result (the register holds an approximation of
 * a transcendental value whose lower bits are not all zero).
 *
 * `unmasked` holds the FCW's unmasked OE (0x08) and UE (0x10) bits. With UE unmasked a tiny
 * result (below 2^-16382 after rounding to 64 bits with an unbounded exponent) is not
 * denormalized: it is rounded to 64 bits, reported as UE and stored with its exponent biased by
 * +24576; with OE unmasked a result beyond the largest finite one is reported as OE and stored
 * with its exponent biased by -24576 (SDM Vol. 1 §4.9.1.4 "Numeric Overflow Exception (#O)",
 * §4.9.1.5 "Numeric Underflow Exception (#U)": the x87 FPU's register-destination responses).
 */
export function round(a: number, rc: number, exact: boolean, unmasked = 0): void {
  out.flags = 0;
  out.c1 = 0;
  const sign = S[a]!;
  if (isZero(a)) {
    out.se = sign << 15;
    out.hi = 0;
    out.lo = 0;
    return;
  }
  let be = E[a]! + 16382; // biased exponent of the leading bit
  const oa = a * N;
  for (let i = 0; i < WL; i++) W[i] = i < N ? M[oa + i]! : 0;
  // Denormal: shift right so the significand has (64 - (1 - be)) bits.
  let tiny = false;
  let dsh = 0;
  const unbounded = be < 1 && (unmasked & 0x10) !== 0;
  if (be < 1 && !unbounded) {
    tiny = true;
    dsh = 1 - be;
    if (dsh > 16 * (WL - 6)) dsh = 16 * (WL - 6);
    be = 0;
  }
  // Extract the 64 kept bits (after a right shift of dsh bits) and round/sticky.
  let sticky = exact ? 0 : 1;
  const ls = Math.floor(dsh / 16);
  const bs = dsh % 16;
  const l0 = limb(0, ls, bs);
  const l1 = limb(1, ls, bs);
  const l2 = limb(2, ls, bs);
  const l3 = limb(3, ls, bs);
  const l4 = limb(4, ls, bs);
  const roundBit = l4 >>> 15;
  if ((l4 & 0x7fff) !== 0) sticky = 1;
  for (let k = 5; k < WL + ls + 1 && sticky === 0; k++) if (limb(k, ls, bs) !== 0) sticky = 1;
  let hi = ((l0 << 16) | l1) >>> 0;
  let lo = ((l2 << 16) | l3) >>> 0;
  const inexact = roundBit !== 0 || sticky !== 0;
  let up = false;
  if (inexact) {
    if (rc === 0) up = roundBit !== 0 && (sticky !== 0 || (lo & 1) !== 0);
    else if (rc === 1) up = sign !== 0;
    else if (rc === 2) up = sign === 0;
  }
  if (up) {
    lo = (lo + 1) >>> 0;
    if (lo === 0) {
      hi = (hi + 1) >>> 0;
      if (hi === 0) {
        hi = 0x80000000;
        be++;
      }
    }
    if (be === 0 && hi >= 0x80000000 && !unbounded) be = 1;
    out.c1 = 1;
  }
  if (inexact) out.flags |= 0x20;
  // Tininess after rounding (measured on the host): a value just below the smallest normal that
  // rounds up to it at full precision is not tiny.
  if (tiny && dsh === 1 && M[oa]! === 0xffff && M[oa + 1]! === 0xffff && M[oa + 2]! === 0xffff && M[oa + 3]! === 0xffff) {
    const rb = M[oa + 4]! >>> 15;
    const st = exact ? (M[oa + 4]! & 0x7fff) !== 0 || anyFrom(oa, 5) : true;
    const carries = rc === 0 ? rb !== 0 && (st || true) : rc === 1 ? sign !== 0 && (rb !== 0 || st) : rc === 2 ? sign === 0 && (rb !== 0 || st) : false;
    if (carries) tiny = false;
  }
  if (tiny && inexact) out.flags |= 0x10;
  if (unbounded) {
    // Unmasked UE: the unbounded-exponent result, tiny when it stays below 2^-16382 after
    // rounding; then UE (exact or not) and the exponent rebiased.
    if (be < 1) {
      out.flags |= 0x10;
      be += REBIAS;
    }
    out.se = (sign << 15) | be;
    out.hi = hi | 0;
    out.lo = lo | 0;
    return;
  }
  if (be >= 0x7fff && (unmasked & 0x08) !== 0) {
    // Unmasked OE: the rounded result with its exponent rebiased.
    out.flags |= 0x08 | 0x20;
    out.se = (sign << 15) | (be - REBIAS);
    out.hi = hi | 0;
    out.lo = lo | 0;
    return;
  }
  if (be >= 0x7fff) {
    // Overflow (SDM Vol. 1 §4.9.1.4): infinity or the largest finite number by rounding mode.
    out.flags |= 0x08 | 0x20;
    const toInf = rc === 0 || (rc === 1 && sign !== 0) || (rc === 2 && sign === 0);
    out.se = (sign << 15) | (toInf ? 0x7fff : 0x7ffe);
    out.hi = toInf ? (0x80000000 | 0) : -1;
    out.lo = toInf ? 0 : -1;
    out.c1 = toInf ? 1 : 0;
    return;
  }
  out.se = (sign << 15) | be;
  out.hi = hi | 0;
  out.lo = lo | 0;
}

/** d = the integer part of a (truncation toward zero). */
export function truncInt(d: number, a: number): void {
  copy(d, a);
  if (isZero(d)) return;
  const e = E[d]!;
  if (e <= 0) {
    setZero(d);
    return;
  }
  const o = d * N;
  for (let p = Math.max(e, 0); p < 16 * N; p++) {
    const i = p >>> 4;
    if ((p & 15) === 0 && p + 16 <= 16 * N) {
      M[o + i] = 0;
      p += 15;
      continue;
    }
    M[o + i] = M[o + i]! & ~(1 << (15 - (p & 15))) & 0xffff;
  }
}

/** The two low bits (the 1s and 2s place) of the integer part of |a| (0-3). */
export function intLow2(a: number): number {
  const e = E[a]!;
  if (isZero(a) || e <= 0) return 0;
  return (bitAt(a, e - 2) << 1) | bitAt(a, e - 1);
}

/** Bit p of a's significand, counted from the top (p < 0 or >= 16 N: 0). */
function bitAt(a: number, p: number): number {
  if (p < 0 || p >= 16 * N) return 0;
  return (M[a * N + (p >>> 4)]! >>> (15 - (p & 15))) & 1;
}

const TN = NR - 4;

/**
 * Moves d by one unit of its last (144th) bit toward the sign `dir` (+1 or -1): how a series records
 * the direction of the terms it no longer adds, so that the final rounding (directed modes,
 * C1, tininess) sees the right side of a value that would otherwise look exact.
 */
export function nudge(d: number, dir: number): void {
  if (isZero(d)) return;
  const o = TN * N;
  M[o] = 0x8000;
  for (let i = 1; i < N; i++) M[o + i] = 0;
  E[TN] = E[d]! - 16 * N + 1;
  S[TN] = dir < 0 ? 1 : 0;
  add(d, d, TN);
}

/**
 * d = a rounded to nearest (ties to even) at `bits` significant bits (bits < 16 N): how the
 * host's microcode holds an intermediate in its internal format (transcendental.ts, FPTAN).
 */
export function roundTo(d: number, a: number, bits: number): void {
  copy(d, a);
  if (isZero(d)) return;
  const o = d * N;
  const li = bits >>> 4;
  const bo = bits & 15;
  // Round bit: bit `bits` of the significand (counted from the top, 0-based); sticky: below it.
  const rb = bitAt(d, bits);
  const below = bo === 15 ? 0 : M[o + li]! & ((1 << (15 - bo)) - 1);
  const sticky = below !== 0 || anyFrom(o, li + 1);
  const lsb = bitAt(d, bits - 1);
  // Truncate to `bits` bits.
  M[o + li] = bo === 0 ? 0 : M[o + li]! & ~((1 << (16 - bo)) - 1) & 0xffff;
  for (let i = li + 1; i < N; i++) M[o + i] = 0;
  if (rb === 0 || (!sticky && lsb === 0)) return;
  const t = TN * N;
  M[t] = 0x8000;
  for (let i = 1; i < N; i++) M[t + i] = 0;
  E[TN] = E[d]! - bits + 1;
  S[TN] = S[d]!;
  add(d, d, TN);
}
