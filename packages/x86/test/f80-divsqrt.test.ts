/**
 * Self-check of the digit-recurrence division and square root of src/fpu/f80.ts against the
 * earlier bit-serial versions (restoring division, one quotient bit per step; digit-by-digit
 * square root, one root bit per step), kept here as the reference. Both produce the exact
 * truncated significand plus a sticky bit, and the shared `roundRaw` rounds the reference's, so
 * every rounding control, precision control and OE/UE mask setting is compared bit for bit
 * (value, flags, C1). The native CPU comparisons are test/x87-native.test.ts and the FP
 * differential campaign; this test reaches many more operands, aimed at the cases the
 * estimates must get right: exact quotients and roots, and remainders just above zero or just
 * below the divisor. F80_SELF_CASES sets the number of cases per operation (default 1,000,000).
 */
import { describe, expect, it } from 'vitest';
import * as f80 from '../src/fpu/f80.js';

const CASES = Number(process.env.F80_SELF_CASES ?? 1_000_000);
const BIAS = 16383;

let seed = 0x2545f491;
function r32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function below(n: number): number {
  return r32() % n;
}

/** Normalized operand: sign, biased exponent (may be < 1), significand hi:lo with bit 63 set. */
interface Norm {
  s: number;
  e: number;
  h: number;
  l: number;
}
function normalize(se: number, hi: number, lo: number): Norm {
  let e = se & 0x7fff;
  let h = hi;
  let l = lo;
  if (e === 0) {
    e = 1;
    while (h >= 0) {
      h = (h << 1) | (l >>> 31);
      l <<= 1;
      e--;
    }
  }
  return { s: se >>> 15, e, h, l };
}

/** The earlier bit-serial division: 66 quotient bits plus a sticky bit, then rounded by roundRaw. */
function refDiv(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  const flags = (aSe & 0x7fff) === 0 || (bSe & 0x7fff) === 0 ? f80.DE : 0;
  const a = normalize(aSe, aHi, aLo);
  const b = normalize(bSe, bHi, bLo);
  const bH = b.h;
  const bL = b.l;
  let e = a.e - b.e + BIAS;
  let rc = 0;
  let rh = a.h;
  let rl = a.l;
  if (a.h >>> 0 < bH >>> 0 || (a.h === bH && a.l >>> 0 < bL >>> 0)) {
    rc = rh >>> 31;
    rh = (rh << 1) | (rl >>> 31);
    rl <<= 1;
    e--;
  }
  let q0 = 0;
  let q1 = 0;
  let q2 = 0;
  for (let w = 0; w < 3; w++) {
    let q = 0;
    const last = w === 2 ? 30 : 0;
    for (let j = 31; j >= last; j--) {
      if (rc !== 0 || rh >>> 0 > bH >>> 0 || (rh === bH && rl >>> 0 >= bL >>> 0)) {
        const nl = (rl - bL) | 0;
        const br = (rl >>> 0) < (bL >>> 0) ? 1 : 0;
        rh = (rh - bH - br) | 0;
        rl = nl;
        q |= 1 << j;
      }
      rc = rh >>> 31;
      rh = (rh << 1) | (rl >>> 31);
      rl <<= 1;
    }
    if (w === 0) q0 = q;
    else if (w === 1) q1 = q;
    else q2 = q;
  }
  f80.roundRaw((a.s ^ b.s) & 1, e, q0, q1, q2 | ((rc | rh | rl) !== 0 ? 1 : 0), flags);
}

/** The earlier bit-serial square root: 66 root bits plus a sticky bit, rounded by roundRaw. */
function refSqrt(se: number, hi: number, lo: number): void {
  const flags = (se & 0x7fff) === 0 ? f80.DE : 0;
  const a = normalize(se, hi, lo);
  let ex = a.e - BIAS;
  let s2: number;
  let s1: number;
  let s0: number;
  if ((ex & 1) === 0) {
    s2 = a.h >>> 1;
    s1 = (a.h << 31) | (a.l >>> 1);
    s0 = a.l << 31;
  } else {
    s2 = a.h;
    s1 = a.l;
    s0 = 0;
    ex -= 1;
  }
  let r2 = 0;
  let r1 = 0;
  let r0 = 0;
  let q2 = 0;
  let q1 = 0;
  let q0 = 0;
  for (let i = 0; i < 66; i++) {
    const two = s2 >>> 30;
    s2 = (s2 << 2) | (s1 >>> 30);
    s1 = (s1 << 2) | (s0 >>> 30);
    s0 <<= 2;
    r2 = (r2 << 2) | (r1 >>> 30);
    r1 = (r1 << 2) | (r0 >>> 30);
    r0 = (r0 << 2) | two;
    const t2 = (q2 << 2) | (q1 >>> 30);
    const t1 = (q1 << 2) | (q0 >>> 30);
    const t0 = (q0 << 2) | 1;
    const ge = r2 >>> 0 > t2 >>> 0 || (r2 === t2 && (r1 >>> 0 > t1 >>> 0 || (r1 === t1 && r0 >>> 0 >= t0 >>> 0)));
    q2 = (q2 << 1) | (q1 >>> 31);
    q1 = (q1 << 1) | (q0 >>> 31);
    q0 <<= 1;
    if (ge) {
      let br = (r0 >>> 0) < (t0 >>> 0) ? 1 : 0;
      r0 = (r0 - t0) | 0;
      const nb = (r1 >>> 0) < (t1 >>> 0) + br ? 1 : 0;
      r1 = (r1 - t1 - br) | 0;
      br = nb;
      r2 = (r2 - t2 - br) | 0;
      q0 |= 1;
    }
  }
  f80.roundRaw(0, ex / 2 + BIAS, (q2 << 30) | (q1 >>> 2), (q1 << 30) | (q0 >>> 2), (q0 << 30) | ((r2 | r1 | r0) !== 0 ? 1 : 0), flags);
}

const M64 = (1n << 64n) - 1n;
function sig(v: bigint): [number, number] {
  return [Number((v >> 32n) & 0xffffffffn) | 0, Number(v & 0xffffffffn) | 0];
}
/** A 64-bit significand with bit 63 set, from a mix of patterns. */
function randSig(): bigint {
  switch (below(8)) {
    case 0: return 1n << 63n;
    case 1: return M64;
    case 2: return (1n << 63n) | BigInt(r32()); // few high bits
    case 3: return (1n << 63n) | (BigInt(r32()) << 31n); // low bits zero
    case 4: return M64 ^ (1n << BigInt(below(63))); // one zero bit
    case 5: return (1n << 63n) | (1n << BigInt(below(63)));
    default: return (1n << 63n) | (BigInt(r32() & 0x7fffffff) << 32n) | BigInt(r32());
  }
}
/** A biased exponent: mostly moderate, sometimes near the overflow / underflow thresholds. */
function randExp(): number {
  switch (below(6)) {
    case 0: return 1 + below(80);
    case 1: return 0x7ffe - below(80);
    case 2: return 0x2000 + below(0x4000);
    default: return BIAS - 40 + below(80);
  }
}
/** An operand (se, hi, lo): normals, and now and then denormals and pseudo-denormals. */
function operand(v: bigint, e: number, s: number): [number, number, number] {
  const k = below(32);
  if (k === 0) {
    // Denormal: the significand shifted right, exponent 0.
    const [h, l] = sig(v >> BigInt(1 + below(63)));
    if ((h | l) !== 0) return [s << 15, h, l];
  } else if (k === 1) {
    const [h, l] = sig(v);
    return [s << 15, h, l]; // pseudo-denormal
  }
  const [h, l] = sig(v);
  return [(s << 15) | e, h, l];
}

/** The FCW: every RC and PC (incl. the reserved PC 01), the OE/UE masks set or clear. */
function randFcw(): number {
  const masks = 0x27 | (below(4) === 0 ? 0 : 0x08) | (below(4) === 0 ? 0 : 0x10);
  return (below(4) << 10) | (below(4) << 8) | masks;
}

/** A square root of a (a = 1 mod 8) modulo 2^k, by lifting one bit at a time. */
function sqrtMod2(a: bigint, k: bigint): bigint {
  let x = 1n;
  for (let i = 3n; i < k; i++) if ((((x * x - a) >> i) & 1n) !== 0n) x += 1n << (i - 1n);
  return x & ((1n << k) - 1n);
}

interface Res {
  se: number;
  hi: number;
  lo: number;
  flags: number;
  c1: number;
}
function snap(): Res {
  const r = f80.r80;
  return { se: r.se, hi: r.hi, lo: r.lo, flags: r.flags, c1: r.c1 };
}
function same(a: Res, b: Res): boolean {
  return a.se === b.se && a.hi === b.hi && a.lo === b.lo && a.flags === b.flags && a.c1 === b.c1;
}

describe('f80 digit-recurrence division and square root against the bit-serial reference', () => {
  it('division: random, exact and near-exact quotients, every RC/PC/mask', () => {
    let bad = 0;
    let first = '';
    for (let i = 0; i < CASES; i++) {
      const fcw = randFcw();
      f80.setControl(fcw);
      let va: bigint;
      let vb: bigint;
      const kind = below(4);
      if (kind === 0) {
        // A = B * q (+-1): exact quotients and remainders near 0 or near B.
        const bits = 1 + below(40);
        vb = (1n << 63n) | (BigInt(r32()) << 31n);
        vb >>= BigInt(bits);
        vb |= 1n << BigInt(63 - bits);
        let q = BigInt(r32()) & ((1n << BigInt(bits)) - 1n);
        q |= 1n << BigInt(bits - 1);
        va = vb * q;
        const adj = below(3);
        if (adj === 1) va += 1n;
        else if (adj === 2) va -= 1n;
        while (va > M64) va >>= 1n;
        while (va < 1n << 63n) va <<= 1n;
        while (vb < 1n << 63n) vb <<= 1n;
        if (below(2) === 0) [va, vb] = [vb, va];
      } else if (kind === 1) {
        // Nearly equal significands.
        vb = randSig();
        const delta = BigInt(below(5)) - 2n;
        va = vb + delta;
        if (va > M64 || va < 1n << 63n) va = vb;
      } else {
        va = randSig();
        vb = randSig();
      }
      const a = operand(va, randExp(), below(2));
      const b = operand(vb, kind === 3 ? randExp() : BIAS - 8 + below(16), below(2));
      f80.div(a[0], a[1], a[2], b[0], b[1], b[2]);
      const got = snap();
      refDiv(a[0], a[1], a[2], b[0], b[1], b[2]);
      const want = snap();
      if (!same(got, want)) {
        bad++;
        if (first === '') first = `fcw ${fcw.toString(16)} a ${a.map((x) => (x >>> 0).toString(16))} b ${b.map((x) => (x >>> 0).toString(16))}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`;
      }
    }
    console.log(`f80 div self-check: ${CASES} cases, ${bad} mismatches`);
    expect(first).toBe('');
  });

  it('square root: random, exact squares, near squares of 64-bit roots, every RC/PC/mask', () => {
    let bad = 0;
    let first = '';
    for (let i = 0; i < CASES; i++) {
      const fcw = randFcw();
      f80.setControl(fcw);
      let v: bigint;
      let odd = -1;
      const kind = below(3);
      if (kind === 2) {
        // S = Q^2 + delta or Q^2 - delta for a 64-bit Q and a small delta: remainders just
        // above zero or just below 2Q + 1, where the float64 digit estimate is off by one.
        odd = below(2);
        const k = odd !== 0 ? 64n : 63n;
        const plus = below(2) === 0;
        const delta = 8n * BigInt(below(4) === 0 ? r32() * 256 + below(256) : below(1 << 12)) + (plus ? 7n : 1n);
        const mod = 1n << k;
        const x = sqrtMod2(((plus ? -delta : delta) % mod + mod) % mod, k);
        v = 0n;
        for (const cand of [x, mod - x]) {
          const q = (1n << 63n) | (cand & ((1n << (k - 1n)) - 1n));
          const sq = plus ? q * q + delta : q * q - delta;
          const m = sq >> k;
          if (m << k === sq && m >= 1n << 63n && m <= M64) v = m;
        }
        if (v === 0n) v = randSig();
      } else if (kind === 0) {
        // A perfect square of a value with up to 32 significant bits, or a neighbour.
        const bits = 1 + below(32);
        let x = BigInt(r32()) & ((1n << BigInt(bits)) - 1n);
        x |= 1n << BigInt(bits - 1);
        v = x * x;
        const adj = below(3);
        if (adj === 1) v += 1n;
        else if (adj === 2 && v > 1n) v -= 1n;
        while (v < 1n << 63n) v <<= 2n;
        while (v > M64) v >>= 2n;
        if (v < 1n << 63n) v <<= 1n;
      } else v = randSig();
      let ex = randExp();
      // S = M * 2^63 for an even unbiased exponent, M * 2^64 for an odd one.
      if (odd >= 0 && ((ex - BIAS) & 1) !== odd) ex = ex > BIAS ? ex - 1 : ex + 1;
      const a = operand(v, ex, 0);
      f80.sqrt(a[0], a[1], a[2]);
      const got = snap();
      refSqrt(a[0], a[1], a[2]);
      const want = snap();
      if (!same(got, want)) {
        bad++;
        if (first === '') first = `fcw ${fcw.toString(16)} a ${a.map((x) => (x >>> 0).toString(16))}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`;
      }
    }
    console.log(`f80 sqrt self-check: ${CASES} cases, ${bad} mismatches`);
    expect(first).toBe('');
  });
});
