/**
 * Driver of the native oracle for the x87 transcendental instructions (`x87-trans.c`): builds
 * it with the system gcc into `os.tmpdir()/hvkit-x87-trans-<hash>/` on first use and runs a
 * whole batch of cases in one process. Also the case generator and the comparison used by
 * `test/transcendental.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as trans from '../../src/fpu/transcendental.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = path.join(HERE, 'x87-trans.c');

/** Operation numbers of the oracle's input lines. */
export const Op = { FSIN: 0, FCOS: 1, FSINCOS: 2, FPTAN: 3, F2XM1: 4, FPATAN: 5, FYL2X: 6, FYL2XP1: 7 } as const;
export const OP_NAMES = ['fsin', 'fcos', 'fsincos', 'fptan', 'f2xm1', 'fpatan', 'fyl2x', 'fyl2xp1'];

/** An extended-precision operand: se and the significand as two 32-bit halves. */
export interface Ext {
  se: number;
  hi: number;
  lo: number;
}

export interface TransCase {
  op: number;
  rc: number;
  /** The operand (one-operand forms) or ST(1) = y (two-operand forms). */
  a: Ext;
  /** ST(0) = x for the two-operand forms. */
  b: Ext;
}

/** What one instruction produced: the first/second result, flags (FSW bits 5:0), C1, C2. */
export interface TransResult {
  r: Ext;
  r2: Ext;
  flags: number;
  c1: number;
  c2: number;
}

let built: { ok: boolean; reason: string; binary: string } | undefined;

function build(): { ok: boolean; reason: string; binary: string } {
  if (built !== undefined) return built;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    built = { ok: false, reason: `x87 oracle needs x86-64 Linux (this is ${process.platform}/${process.arch})`, binary: '' };
    return built;
  }
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error !== undefined || gcc.status !== 0) {
    built = { ok: false, reason: 'x87 oracle needs the system gcc, which is not on PATH', binary: '' };
    return built;
  }
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `hvkit-x87-trans-${hash}`);
  const binary = path.join(dir, 'x87-trans');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${binary}.${process.pid}`;
    const r = spawnSync('gcc', ['-O1', '-o', tmp, SOURCE], { encoding: 'utf8' });
    if (r.status !== 0) {
      built = { ok: false, reason: `x87 oracle: gcc failed:\n${r.stderr ?? ''}`, binary: '' };
      return built;
    }
    renameSync(tmp, binary);
  }
  built = { ok: true, reason: '', binary };
  return built;
}

/** Why the oracle cannot run here ('' when it can). */
export function oracleUnavailable(): string {
  return build().reason;
}

const hex64 = (e: Ext): string => (e.hi >>> 0).toString(16).padStart(8, '0') + (e.lo >>> 0).toString(16).padStart(8, '0');
const hexSe = (e: Ext): string => e.se.toString(16);

function parseExt(se: string, sig: string): Ext {
  return { se: parseInt(se, 16), hi: parseInt(sig.slice(0, 8), 16) | 0, lo: parseInt(sig.slice(8), 16) | 0 };
}

/** Runs every case on the host CPU in one process. */
export function runNative(cases: readonly TransCase[]): TransResult[] {
  const { binary } = build();
  const lines = cases.map((c) =>
    c.op >= Op.FPATAN
      ? `${c.op} ${c.rc} ${hexSe(c.a)} ${hex64(c.a)} ${hexSe(c.b)} ${hex64(c.b)}`
      : `${c.op} ${c.rc} ${hexSe(c.a)} ${hex64(c.a)}`,
  );
  const r = spawnSync(binary, [], { input: `${lines.join('\n')}\n`, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`x87 oracle failed: ${r.stderr}`);
  const out = r.stdout.trim().split('\n');
  if (out.length !== cases.length) throw new Error(`x87 oracle: ${out.length} results for ${cases.length} cases`);
  return out.map((line, i) => {
    const [s0, m0, s1, m1, sw] = line.split(' ') as [string, string, string, string, string];
    const fsw = parseInt(sw, 16);
    const op = cases[i]!.op;
    const st0 = parseExt(s0, m0);
    const st1 = parseExt(s1, m1);
    const c2 = (fsw >>> 10) & 1;
    // FSINCOS pushes: ST(0) = cos, ST(1) = sin; FPTAN: ST(0) = 1.0, ST(1) = tan. With C2 = 1
    // nothing is pushed and ST(0) is the operand.
    let r0 = st0;
    let r2 = st1;
    if (c2 === 0 && (op === Op.FSINCOS || op === Op.FPTAN)) {
      r0 = st1;
      r2 = st0;
    }
    return { r: r0, r2, flags: fsw & 0x3f, c1: (fsw >>> 9) & 1, c2 };
  });
}

/** Runs one case on the emulator's implementation. */
export function runEmu(c: TransCase): TransResult {
  const { a, b, rc } = c;
  switch (c.op) {
    case Op.FSIN:
      trans.fsin(a.se, a.hi, a.lo, rc);
      break;
    case Op.FCOS:
      trans.fcos(a.se, a.hi, a.lo, rc);
      break;
    case Op.FSINCOS:
      trans.fsincos(a.se, a.hi, a.lo, rc);
      break;
    case Op.FPTAN:
      trans.fptan(a.se, a.hi, a.lo, rc);
      break;
    case Op.F2XM1:
      trans.f2xm1(a.se, a.hi, a.lo, rc);
      break;
    case Op.FPATAN:
      trans.fpatan(a.se, a.hi, a.lo, b.se, b.hi, b.lo, rc);
      break;
    case Op.FYL2X:
      trans.fyl2x(a.se, a.hi, a.lo, b.se, b.hi, b.lo, rc);
      break;
    default:
      trans.fyl2xp1(a.se, a.hi, a.lo, b.se, b.hi, b.lo, rc);
  }
  const t = trans.tr;
  return { r: { se: t.se, hi: t.hi, lo: t.lo }, r2: { se: t.se2, hi: t.hi2, lo: t.lo2 }, flags: t.flags, c1: t.c1, c2: t.c2 };
}

/** Distance in units of the last place (64-bit significand) between two finite values; NaNs/inf compare by bits (0 or Infinity). */
export function ulpDistance(x: Ext, y: Ext): number {
  if (x.se === y.se && x.hi === y.hi && x.lo === y.lo) return 0;
  if ((x.se & 0x7fff) === 0x7fff || (y.se & 0x7fff) === 0x7fff) return Infinity;
  const key = (e: Ext): bigint => {
    // Value order: (exponent - 1) * 2^63 + significand for normals, the significand for denormals.
    const sig = (BigInt(e.hi >>> 0) << 32n) | BigInt(e.lo >>> 0);
    const ex = e.se & 0x7fff;
    const mag = ex === 0 ? sig : (BigInt(ex - 1) << 63n) + sig;
    return (e.se & 0x8000) !== 0 ? -mag : mag;
  };
  const d = key(x) - key(y);
  const a = d < 0n ? -d : d;
  return a > 1000000n ? Infinity : Number(a);
}

/** A small deterministic PRNG (xorshift32). */
export function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

const ONE: Ext = { se: 0x3fff, hi: 0x80000000 | 0, lo: 0 };

/** A normal number with biased exponent e, random significand, random sign. */
function randNormal(r: () => number, e: number, sign?: number): Ext {
  const s = sign ?? (r() & 1);
  return { se: (s << 15) | e, hi: (r() | 0x80000000) | 0, lo: r() | 0 };
}

/** Special and boundary operands every function sees. */
function specials(r: () => number): Ext[] {
  const list: Ext[] = [
    { se: 0, hi: 0, lo: 0 },
    { se: 0x8000, hi: 0, lo: 0 },
    { se: 0x7fff, hi: 0x80000000 | 0, lo: 0 },
    { se: 0xffff, hi: 0x80000000 | 0, lo: 0 },
    { se: 0x7fff, hi: 0xc0000000 | 0, lo: 0x1234 },
    { se: 0xffff, hi: 0xc0000000 | 0, lo: 0 },
    { se: 0x7fff, hi: 0x80000000 | 0, lo: 1 }, // SNaN
    { se: 0xffff, hi: 0xa0000000 | 0, lo: 7 }, // SNaN
    { se: 0x7fff, hi: 0x40000000, lo: 0 }, // pseudo-NaN
    { se: 0x7fff, hi: 0, lo: 0 }, // pseudo-infinity
    { se: 0x3fff, hi: 0x40000000, lo: 0 }, // unnormal
    { se: 0, hi: 0, lo: 1 }, // smallest denormal
    { se: 0x8000, hi: 0x7fffffff, lo: -1 }, // largest denormal
    { se: 0, hi: 0x80000000 | 0, lo: 5 }, // pseudo-denormal
    { se: 1, hi: 0x80000000 | 0, lo: 0 },
    { se: 0x7ffe, hi: -1, lo: -1 },
    ONE,
    { se: 0xbfff, hi: 0x80000000 | 0, lo: 0 },
    { se: 0x3ffe, hi: 0x80000000 | 0, lo: 0 },
    { se: 0xbffe, hi: 0x80000000 | 0, lo: 0 },
    { se: 0x403e, hi: 0x80000000 | 0, lo: 0 }, // 2^63
    { se: 0x403d, hi: -1, lo: -1 }, // 2^63 - 1
    { se: 0xc03d, hi: -1, lo: -2 },
    { se: 0x4000, hi: 0xc90fdaa2 | 0, lo: 0x2168c235 }, // ~pi
    { se: 0x3fff, hi: 0xc90fdaa2 | 0, lo: 0x2168c234 }, // ~pi/2
    { se: 0x3ffe, hi: 0xc90fdaa2 | 0, lo: 0x2168c235 }, // ~pi/4
  ];
  for (let i = 0; i < 6; i++) list.push({ se: r() & 0x8000, hi: r() & 0x7fffffff, lo: r() | 0 });
  return list;
}

/**
 * The operand mix of one one-operand function: `count` cases over all four rounding modes.
 * `dom` picks the exponent range of the random normals.
 */
export function genOne(op: number, count: number, seed: number): TransCase[] {
  const r = rng(seed);
  const cases: TransCase[] = [];
  const zero = { se: 0, hi: 0, lo: 0 };
  const sp = specials(r);
  for (let rc = 0; rc < 4; rc++) for (const a of sp) cases.push({ op, rc, a, b: zero });
  const trig = op !== Op.F2XM1;
  while (cases.length < count) {
    const rc = r() & 3;
    const kind = r() % 10;
    let a: Ext;
    if (!trig) {
      // F2XM1: mostly [-1, 1], some outside.
      if (kind < 6) a = randNormal(r, 0x3fff - 1 - (r() % 20));
      else if (kind < 8) a = randNormal(r, 0x3fff - 20 - (r() % 16400 > 16300 ? 16300 : r() % 16300));
      else if (kind < 9) a = { se: r() & 0x8000, hi: r() & 0x7fffffff, lo: r() | 0 };
      else a = randNormal(r, 0x3fff + (r() % 70));
    } else if (kind < 3) a = randNormal(r, 0x3fff - 3 + (r() % 6)); // |x| in [1/8, 8)
    else if (kind < 6) a = randNormal(r, 0x3fff + (r() % 64)); // up to 2^64 (incl. out of range)
    else if (kind < 7) a = randNormal(r, 0x403c + (r() % 3)); // near 2^63
    else if (kind < 8) a = randNormal(r, 0x3fff - (r() % 16382)); // small to tiny
    else if (kind < 9) {
      // Near multiples of pi/2 (P66/2 = 0xC90FDAA22168C234C * 2^-66): k * P66/2 rounded to 64 bits.
      const k = BigInt(1 + (r() % 2000000));
      const p = 0xc90fdaa22168c234cn * k; // * 2^-66 * 2^... (pi/2 = 0xC90F.. * 2^-67)
      let bits = p.toString(2).length;
      let sig = bits > 64 ? p >> BigInt(bits - 64) : p << BigInt(64 - bits);
      sig += BigInt((r() % 5) - 2);
      if (sig >= 1n << 64n) {
        sig >>= 1n;
        bits++;
      }
      const e = 0x3fff + (bits - 68);
      a = { se: ((r() & 1) << 15) | e, hi: Number(sig >> 32n) | 0, lo: Number(sig & 0xffffffffn) | 0 };
    } else a = { se: r() & 0x8000, hi: r() & 0x7fffffff, lo: r() | 0 }; // denormals
    cases.push({ op, rc, a, b: zero });
  }
  return cases;
}

/** The operand mix of a two-operand function (y = a, x = b). */
export function genTwo(op: number, count: number, seed: number): TransCase[] {
  const r = rng(seed);
  const cases: TransCase[] = [];
  const sp = specials(r);
  for (let rc = 0; rc < 4; rc += 3) for (const a of sp) for (const b of sp) cases.push({ op, rc, a, b });
  while (cases.length < count) {
    const rc = r() & 3;
    const kind = r() % 10;
    let a: Ext;
    let b: Ext;
    if (op === Op.FPATAN) {
      a = randNormal(r, 0x3fff - 40 + (r() % 80));
      b = kind < 8 ? randNormal(r, (a.se & 0x7fff) - 4 + (r() % 9)) : randNormal(r, 1 + (r() % 0x7ffd));
      if (kind === 9) a = { se: r() & 0x8000, hi: r() & 0x7fffffff, lo: r() | 0 };
    } else if (op === Op.FYL2X) {
      a = kind < 7 ? randNormal(r, 0x3fff - 10 + (r() % 20)) : randNormal(r, 1 + (r() % 0x7ffd));
      b = kind < 4 ? randNormal(r, 0x3fff - 1 + (r() % 2), 0) : kind < 5 ? { se: 0, hi: r() & 0x7fffffff, lo: r() | 0 } : randNormal(r, 1 + (r() % 0x7ffd), 0);
    } else {
      // FYL2XP1: |x| < 1 - sqrt(2)/2 ~ 0.29.
      a = kind < 7 ? randNormal(r, 0x3fff - 10 + (r() % 20)) : randNormal(r, 1 + (r() % 0x7ffd));
      b = kind < 6 ? randNormal(r, 0x3ffd - (r() % 30)) : kind < 7 ? { se: r() & 0x8000, hi: r() & 0x7fffffff, lo: r() | 0 } : randNormal(r, 0x3fff - 2 - (r() % 16000));
      if (kind === 9) b = { se: r() & 0x8000, hi: (0x90000000 + (r() % 0x10000000)) | 0, lo: r() | 0 }; // ~0.28-0.29 with the exponent below
      if (kind === 9) b.se |= 0x3ffd;
    }
    cases.push({ op, rc, a, b });
  }
  return cases;
}
