/**
 * The numeric engine (src/fpu/f32f64.ts) against this machine's CPU: test/sse-float-probe.c
 * runs the scalar SSE instructions natively (MXCSR in and out, unmasked exceptions caught as
 * SIGFPE), and every result bit and MXCSR flag must agree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../src/fpu/f32f64.js';

const probeSrc = join(__dirname, 'sse-float-probe.c');
let probe: string | null = null;
function buildProbe(): string | null {
  if (probe !== null) return probe;
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ssef-'));
    const out = join(dir, 'probe');
    execFileSync('gcc', ['-O1', '-o', out, probeSrc]);
    probe = existsSync(out) ? out : null;
  } catch {
    probe = null;
  }
  return probe;
}

// ---- seeded PRNG (xorshift32) ------------------------------------------------------------
let seed = 0x12345678;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function pick<T>(xs: readonly T[]): T {
  return xs[rnd() % xs.length]!;
}

const F32_SPECIAL = [0, 0x80000000, 1, 0x80000001, 0x007fffff, 0x00800000, 0x00800001, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00000, 0x7f800001, 0x3f800000, 0xbf800000, 0x3f7fffff, 0x3f800001, 0x4b000000, 0x4effffff, 0x4f000000, 0xcf000000, 0x5effffff, 0x5f000000, 0xdf000000, 0x3f000000, 0x3fc00000, 0x40200000, 0x7effffff];
function f32(): number {
  const k = rnd() % 8;
  if (k === 0) return pick(F32_SPECIAL) >>> 0;
  if (k === 1) return ((rnd() & 0x807fffff) | 0) >>> 0; // denormals
  if (k === 2) return ((rnd() & 0x80000000) | ((rnd() % 48) + 1) << 23 | (rnd() & 0x7fffff)) >>> 0; // tiny normals
  if (k === 3) return ((rnd() & 0x80000000) | ((rnd() % 40) + 215) << 23 | (rnd() & 0x7fffff)) >>> 0; // huge
  if (k === 4) return ((rnd() & 0x80000000) | ((rnd() % 70) + 94) << 23 | (rnd() & 0x7fffff)) >>> 0; // ints near
  if (k === 5) return ((rnd() & 0x80000000) | ((rnd() % 8) + 124) << 23 | (rnd() & 0x7fffff)) >>> 0;
  return rnd() >>> 0;
}
const F64_SPECIAL_HI = [0, 0x80000000, 0x00100000, 0x000fffff, 0x7fefffff, 0x7ff00000, 0xfff00000, 0x7ff80000, 0xfff80000, 0x7ff40000, 0x3ff00000, 0xbff00000, 0x3fefffff, 0x41dfffff, 0x41e00000, 0xc1e00000, 0x43dfffff, 0x43e00000, 0xc3e00000, 0x3fe00000, 0x38100000, 0x36a00000, 0x47efffff, 0x47f00000];
function f64(): bigint {
  const k = rnd() % 8;
  let hi: number;
  let lo = rnd();
  if (k === 0) {
    hi = pick(F64_SPECIAL_HI);
    if (rnd() % 2 === 0) lo = pick([0, 1, 0xffffffff, 0xe0000000, 0x10000000]);
  } else if (k === 1) hi = rnd() & 0x800fffff;
  else if (k === 2) hi = (rnd() & 0x80000000) | ((((rnd() % 60) + 1) << 20) | (rnd() & 0xfffff));
  else if (k === 3) hi = (rnd() & 0x80000000) | ((((rnd() % 60) + 1980) << 20) | (rnd() & 0xfffff));
  else if (k === 4) hi = (rnd() & 0x80000000) | ((((rnd() % 100) + 1010) << 20) | (rnd() & 0xfffff));
  else if (k === 5) hi = (rnd() & 0x80000000) | ((((rnd() % 60) + 850) << 20) | (rnd() & 0xfffff)); // f32 range edges
  else hi = rnd();
  if (rnd() % 4 === 0) lo = (lo & 0xffffff00) >>> 0;
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function i64(): bigint {
  const k = rnd() % 4;
  if (k === 0) return BigInt.asUintN(64, BigInt(rnd() | 0));
  if (k === 1) return BigInt(rnd() >>> (rnd() % 32));
  return (BigInt(rnd()) << 32n) | BigInt(rnd());
}
function mxcsr(): number {
  let m = 0x1f80 | ((rnd() & 3) << 13);
  if (rnd() % 3 === 0) m |= 0x40; // DAZ
  if (rnd() % 3 === 0) m |= 0x8000; // FTZ
  if (rnd() % 4 === 0) m &= ~((rnd() & 0x3f) << 7); // some exceptions unmasked
  return m;
}

// ---- the engine as the scalar instructions use it ------------------------------------------
const ARITH: Record<string, number> = { add: 0, sub: 1, mul: 2, div: 3, min: 4, max: 5, sqrt: 6 };
const lo32 = (v: bigint): number => Number(v & 0xffffffffn) | 0;
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn) | 0;
const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

interface Out {
  res: bigint;
  mx: number;
  fault: number;
  efl: number;
}

/**
 * DPPS/DPPD as the instruction computes them (src/fpu/sse-float.ts): three steps, each checked
 * for unmasked exceptions like one SIMD instruction. Returns the 128-bit result, MXCSR, fault.
 */
function dpModel(op: string, mx: number, a: bigint, b: bigint, imm: number): Out {
  const la = [0, 1, 2, 3].map((k) => Number((a >> BigInt(32 * k)) & 0xffffffffn) | 0);
  const lb = [0, 1, 2, 3].map((k) => Number((b >> BigInt(32 * k)) & 0xffffffffn) | 0);
  const unmasked = ~(mx >>> 7) & 0x3f;
  let acc = 0;
  const stage = (): boolean => {
    const pre = E.fx.pre;
    E.fx.pre = 0;
    const post = E.fx.post;
    E.fx.post = 0;
    if ((pre & unmasked) !== 0) {
      acc |= pre;
      return true;
    }
    acc |= pre | post;
    return (acc & unmasked) !== 0;
  };
  const fault = (): Out => ({ res: a, mx: mx | acc, fault: 1, efl: 0 });
  const r = [0, 0, 0, 0];
  if (op === 'dpps') {
    const p = [0, 1, 2, 3].map((k) => ((imm >> (4 + k)) & 1 ? E.f32Arith(2, la[k]!, lb[k]!) : 0));
    if (stage()) return fault();
    const t0 = E.f32Arith(0, p[0]!, p[1]!);
    const t1 = E.f32Arith(0, p[2]!, p[3]!);
    if (stage()) return fault();
    const sum = E.f32Arith(0, t0, t1);
    if (stage()) return fault();
    for (let k = 0; k < 4; k++) r[k] = (imm >> k) & 1 ? sum : 0;
  } else {
    const p: number[] = [0, 0, 0, 0];
    for (let k = 0; k < 2; k++)
      if ((imm >> (4 + k)) & 1) {
        E.f64Arith(2, la[2 * k]!, la[2 * k + 1]!, lb[2 * k]!, lb[2 * k + 1]!);
        p[2 * k] = E.fx.lo;
        p[2 * k + 1] = E.fx.hi;
      }
    if (stage()) return fault();
    E.f64Arith(0, p[0]!, p[1]!, p[2]!, p[3]!);
    if (stage()) return fault();
    for (let k = 0; k < 2; k++) if ((imm >> k) & 1) [r[2 * k], r[2 * k + 1]] = [E.fx.lo, E.fx.hi];
  }
  return { res: r.reduce((x, v, k) => x | (BigInt(v >>> 0) << BigInt(32 * k)), 0n), mx: mx | acc, fault: 0, efl: 0 };
}

function model(op: string, mx: number, a: bigint, b: bigint, imm: number): Out {
  E.fx.mx = mx;
  E.fx.pre = 0;
  E.fx.post = 0;
  if (op === 'dpps' || op === 'dppd') return dpModel(op, mx, a, b, imm);
  let res = a;
  let efl = 0;
  const m = /^(add|sub|mul|div|min|max|sqrt)(ss|sd)$/.exec(op);
  if (m !== null) {
    if (m[2] === 'ss') res = u64(E.f32Arith(ARITH[m[1]!]!, lo32(a), lo32(b)), hi32(a));
    else {
      E.f64Arith(ARITH[m[1]!]!, lo32(a), hi32(a), lo32(b), hi32(b));
      res = u64(E.fx.lo, E.fx.hi);
    }
  } else if (op === 'cmpss') res = u64(E.f32Cmp(imm, lo32(a), lo32(b)), hi32(a));
  else if (op === 'cmpsd') {
    const r = E.f64Cmp(imm, lo32(a), hi32(a), lo32(b), hi32(b));
    res = u64(r, r);
  } else if (op === 'roundss') res = u64(E.f32Round(lo32(b), imm), hi32(a));
  else if (op === 'roundsd') {
    E.f64Round(lo32(b), hi32(b), imm);
    res = u64(E.fx.lo, E.fx.hi);
  } else if (/^u?comis[sd]$/.test(op)) {
    const q = !op.startsWith('u');
    efl = op.endsWith('ss') ? E.f32Comi(lo32(a), lo32(b), q) : E.f64Comi(lo32(a), hi32(a), lo32(b), hi32(b), q);
  } else if (op === 'cvtss2sd') {
    E.f32ToF64(lo32(b));
    res = u64(E.fx.lo, E.fx.hi);
  } else if (op === 'cvtsd2ss') res = u64(E.f64ToF32(lo32(b), hi32(b)), hi32(a));
  else if (/^cvtt?s[sd]2siq?$/.test(op)) {
    const q = op.endsWith('q');
    const t = op.startsWith('cvtt');
    if (op.includes('ss2')) E.f32ToInt(lo32(b), t, q);
    else E.f64ToInt(lo32(b), hi32(b), t, q);
    res = u64(E.fx.lo, q ? E.fx.hi : 0);
  } else if (/^cvtsi2s[sd]q?$/.test(op)) {
    const dbl = op.includes('2sd');
    if (op.endsWith('q')) E.i64ToFloat(lo32(b), hi32(b), dbl);
    else E.i32ToFloat(lo32(b), dbl);
    res = dbl ? u64(E.fx.lo, E.fx.hi) : u64(E.fx.lo, hi32(a));
  } else throw new Error(op);
  const pre = E.fx.pre;
  const post = E.fx.post;
  const unmasked = ~(mx >>> 7) & 0x3f;
  let fault = 0;
  if ((pre & unmasked) !== 0) {
    mx |= pre;
    fault = 1;
  } else if (((pre | post) & unmasked) !== 0) {
    mx |= pre | post;
    fault = 1;
  } else mx |= pre | post;
  if (fault) {
    res = a;
    efl = 0;
  }
  if (/^u?comis/.test(op)) res = a;
  return { res, mx, fault, efl };
}

function runNative(lines: string[]): Out[] {
  const exe = buildProbe()!;
  const r = spawnSync(exe, { input: lines.join('\n') + '\n', maxBuffer: 1 << 28 });
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => {
      const [res, mx, fault, efl] = l.split(' ');
      const [h, lo] = res!.includes(':') ? res!.split(':') : ['0', res!];
      return { res: (BigInt('0x' + h) << 64n) | BigInt('0x' + lo), mx: parseInt(mx!, 16), fault: Number(fault), efl: parseInt(efl!, 16) };
    });
}

const F32_OPS = ['addss', 'subss', 'mulss', 'divss', 'minss', 'maxss', 'sqrtss', 'cmpss', 'comiss', 'ucomiss', 'cvtss2sd', 'cvtss2si', 'cvtss2siq', 'cvttss2si', 'cvttss2siq', 'roundss'];
const F64_OPS = ['addsd', 'subsd', 'mulsd', 'divsd', 'minsd', 'maxsd', 'sqrtsd', 'cmpsd', 'comisd', 'ucomisd', 'cvtsd2ss', 'cvtsd2si', 'cvtsd2siq', 'cvttsd2si', 'cvttsd2siq', 'roundsd'];
const INT_OPS = ['cvtsi2ss', 'cvtsi2ssq', 'cvtsi2sd', 'cvtsi2sdq'];
const DP_OPS = ['dpps', 'dppd'];

function genCase(op: string): [string, number, bigint, bigint, number] {
  const mx = mxcsr();
  if (op === 'dpps') {
    const l = (): bigint => [0, 1, 2, 3].reduce((acc, k) => acc | (BigInt(f32()) << BigInt(32 * k)), 0n);
    return [op, mx, l(), l(), rnd() & 0xff];
  }
  if (op === 'dppd') return [op, mx, (f64() << 64n) | f64(), (f64() << 64n) | f64(), rnd() & 0xff];
  let a: bigint;
  let b: bigint;
  if (INT_OPS.includes(op)) {
    a = f64();
    b = i64();
  } else if (op.endsWith('ss') || op.includes('ss2')) {
    const x = f32();
    let y = f32();
    if (rnd() % 4 === 0) y = (x + (rnd() % 5) - 2 + (rnd() % 2 === 0 ? 0 : 0x80000000)) >>> 0; // near-cancellation
    a = (BigInt(rnd()) << 32n) | BigInt(x);
    b = (BigInt(rnd()) << 32n) | BigInt(y);
  } else {
    a = f64();
    b = rnd() % 4 === 0 ? BigInt.asUintN(64, a + BigInt((rnd() % 5) - 2)) ^ (rnd() % 2 === 0 ? 0n : 1n << 63n) : f64();
  }
  const imm = op.startsWith('round') ? rnd() & 15 : op.startsWith('cmp') ? rnd() & 7 : 0;
  return [op, mx, a, b, imm];
}

const hex = (v: bigint): string => v.toString(16);
const native = buildProbe() !== null;

describe.skipIf(!native)('SSE floating-point engine against the host CPU', () => {
  for (const op of [...F32_OPS, ...F64_OPS, ...INT_OPS, ...DP_OPS]) {
    it(`${op}: 20000 random cases bit-exact (result, MXCSR, fault, EFLAGS)`, () => {
      seed = 0x9e3779b9 ^ op.length * 7919 ^ op.charCodeAt(0) * 131 ^ op.charCodeAt(op.length - 1) * 31 ^ op.charCodeAt(3);
      const cases = Array.from({ length: 20000 }, () => genCase(op));
      const m64 = (v: bigint): string => hex(v & 0xffffffffffffffffn);
      const lines = cases.map(([o, mx, a, b, imm]) => `${o} ${mx.toString(16)} ${m64(a)} ${m64(b)} ${imm.toString(16)}` + (DP_OPS.includes(o) ? ` ${hex(a >> 64n)} ${hex(b >> 64n)}` : ''));
      const nat = runNative(lines);
      expect(nat.length).toBe(cases.length);
      const bad: string[] = [];
      for (let i = 0; i < cases.length; i++) {
        const [o, mx, a, b, imm] = cases[i]!;
        const e = model(o, mx, a, b, imm);
        const n = nat[i]!;
        if (e.res !== n.res || e.mx !== n.mx || e.fault !== n.fault || e.efl !== n.efl) {
          bad.push(`${lines[i]} -> native ${hex(n.res)} ${n.mx.toString(16)} ${n.fault} ${n.efl.toString(16)} / emu ${hex(e.res)} ${e.mx.toString(16)} ${e.fault} ${e.efl.toString(16)}`);
        }
      }
      expect(bad.slice(0, 12), `${bad.length} mismatches`).toEqual([]);
    });
  }

  it('RCPSS/RSQRTSS: bit-exact with the host and within the SDM bound (|rel err| <= 1.5 * 2^-12)', () => {
    seed = 0x2468ace;
    const xs: number[] = [];
    for (let i = 0; i < 20000; i++) xs.push(f32());
    for (const op of ['rcpss', 'rsqrtss']) {
      const lines = xs.map((x) => `${op} 1f80 0 ${x.toString(16)} 0`);
      const nat = runNative(lines);
      let same = 0;
      let checked = 0;
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < xs.length; i++) {
        const emu = E.f32Approx(xs[i]! | 0, op === 'rsqrtss') >>> 0;
        const n = Number(nat[i]!.res & 0xffffffffn);
        if (emu === n) same++;
        u[0] = xs[i]!;
        const x = f[0]!;
        const exact = op === 'rcpss' ? 1 / x : 1 / Math.sqrt(x);
        u[0] = emu;
        const got = f[0]!;
        // Normal inputs with normal results: the architectural bound.
        if (Number.isFinite(exact) && exact !== 0 && Math.abs(exact) > 1.2e-38 && Math.abs(exact) < 3.4e38 && (xs[i]! & 0x7f800000) !== 0) {
          checked++;
          expect(Math.abs(got - exact) / Math.abs(exact)).toBeLessThanOrEqual(1.5 * 2 ** -12);
        }
        expect(nat[i]!.mx).toBe(0x1f80); // no flags at all
      }
      console.log(`${op}: ${same} of ${xs.length} results equal to the host's; ${checked} checked against the bound`);
      expect(checked).toBeGreaterThan(5000);
      expect(same).toBe(xs.length);
    }
  });
});
