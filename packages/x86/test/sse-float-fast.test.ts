/**
 * The fast paths of the SSE arithmetic engine (src/fpu/f32f64.ts: f32Fast, f64Fast) against
 * this machine's CPU, with the operands they take: zeros of both signs (exact zero results,
 * x - x, 0 * x, 0 / x, sqrt(-0)), exact and inexact products, quotients and roots of short
 * significands (the trailing-zero inexactness test of f64Fast), and ordinary normals, in all
 * four rounding modes, masked and unmasked. test/sse-float-probe.c runs the scalar
 * instructions natively; every result bit, MXCSR flag and fault must agree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from '../src/fpu/f32f64.js';

function buildProbe(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  try {
    const out = join(mkdtempSync(join(tmpdir(), 'ssefast-')), 'probe');
    execFileSync('gcc', ['-O1', '-o', out, join(__dirname, 'sse-float-probe.c')]);
    return existsSync(out) ? out : null;
  } catch {
    return null;
  }
}
const probe = buildProbe();

let seed = 0x5eed1234;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

/** A binary64 (as hi, lo) whose significand has only `bits` significant bits (short: exact results likely). */
function f64Short(bits: number, expLo: number, expSpan: number): [number, number] {
  const sig = rnd() % 2 ** Math.min(bits, 20);
  const e = expLo + (rnd() % expSpan);
  // Significand bits in the top of the 52-bit field: 1.sig
  const frac = sig * 2 ** (20 - Math.min(bits, 20));
  return [((rnd() & 1) << 31) | (e << 20) | frac, bits > 20 ? rnd() & ~((1 << Math.max(0, 52 - bits)) - 1) : 0];
}
function f64Operand(): [number, number] {
  const k = rnd() % 6;
  if (k === 0) return [rnd() & 0x80000000, 0]; // +-0
  if (k === 1) return f64Short(1 + (rnd() % 12), 1013, 20); // short significands near 1
  if (k === 2) return f64Short(20 + (rnd() % 33), 1013, 20); // longer, some trailing zeros
  if (k === 3) return [((rnd() & 0x80000000) | ((530 + (rnd() % 985)) << 20) | (rnd() & 0xfffff)) | 0, rnd() | 0]; // fast-path range
  if (k === 4) return [((rnd() & 0x80000000) | ((1020 + (rnd() % 8)) << 20) | (rnd() & 0xfffff)) | 0, rnd() | 0];
  return [((rnd() & 0x80000000) | ((1023 + (rnd() % 3)) << 20)) | 0, 0]; // +-1, 2, 4
}
function f32Operand(): number {
  const k = rnd() % 5;
  if (k === 0) return rnd() & 0x80000000; // +-0
  if (k === 1) return ((rnd() & 0x80000000) | ((120 + (rnd() % 15)) << 23) | ((rnd() % 64) << 17)) >>> 0; // short
  if (k === 2) return ((rnd() & 0x80000000) | ((100 + (rnd() % 60)) << 23) | (rnd() & 0x7fffff)) >>> 0;
  if (k === 3) return ((rnd() & 0x80000000) | ((1 + (rnd() % 254)) << 23) | (rnd() & 0x7fffff)) >>> 0; // any normal
  return ((rnd() & 0x80000000) | (127 << 23)) >>> 0;
}
function mxcsr(): number {
  let m = 0x1f80 | ((rnd() & 3) << 13);
  if (rnd() % 4 === 0) m &= ~((rnd() & 0x3f) << 7);
  return m;
}

const OPS: Record<string, number> = { add: 0, sub: 1, mul: 2, div: 3, min: 4, max: 5, sqrt: 6 };
const hex = (v: number): string => (v >>> 0).toString(16);

describe.skipIf(probe === null)('SSE arithmetic fast paths against the host CPU', () => {
  for (const dbl of [false, true]) {
    for (const name of Object.keys(OPS)) {
      const op = `${name}${dbl ? 'sd' : 'ss'}`;
      it(`${op}: 30000 fast-path cases bit-exact (result, MXCSR, fault)`, () => {
        seed = 0x5eed1234 ^ (op.charCodeAt(0) * 7919) ^ (op.charCodeAt(1) * 131) ^ (dbl ? 0x55 : 0);
        const lines: string[] = [];
        const cases: [number, number, number, number, number][] = [];
        for (let i = 0; i < 30000; i++) {
          const mx = mxcsr();
          let aHi: number;
          let aLo: number;
          let bHi = 0;
          let bLo: number;
          if (dbl) {
            [aHi, aLo] = f64Operand();
            [bHi, bLo] = rnd() % 5 === 0 ? [aHi ^ (rnd() & 0x80000000), aLo] : f64Operand(); // x - x, x + -x
            if (name === 'div' && rnd() % 3 === 0) {
              // A quotient that is exact: a = b * q for short q.
              const [qHi, qLo] = f64Short(1 + (rnd() % 8), 1020, 8);
              E.fx.mx = 0x1f80;
              E.f64Arith(2, bLo, bHi, qLo, qHi);
              [aHi, aLo] = [E.fx.hi, E.fx.lo];
            }
            if (name === 'sqrt' && rnd() % 3 === 0) {
              E.fx.mx = 0x1f80;
              E.f64Arith(2, aLo, aHi & 0x7fffffff, aLo, aHi & 0x7fffffff);
              [bHi, bLo] = [E.fx.hi, E.fx.lo];
            }
          } else {
            aHi = 0;
            aLo = f32Operand();
            bLo = rnd() % 5 === 0 ? (aLo ^ (rnd() & 0x80000000)) >>> 0 : f32Operand();
          }
          cases.push([mx, aLo, aHi, bLo, bHi]);
          lines.push(`${op} ${mx.toString(16)} ${hex(aHi)}${hex(aLo).padStart(8, '0')} ${hex(bHi)}${hex(bLo).padStart(8, '0')} 0`);
        }
        const out = spawnSync(probe!, { input: lines.join('\n') + '\n', maxBuffer: 1 << 26 }).stdout.toString().trim().split('\n');
        expect(out.length).toBe(cases.length);
        const bad: string[] = [];
        let pe = 0;
        for (let i = 0; i < cases.length; i++) {
          const [mx, aLo, aHi, bLo, bHi] = cases[i]!;
          E.fx.mx = mx;
          E.fx.pre = 0;
          E.fx.post = 0;
          let rLo: number;
          let rHi: number;
          if (dbl) {
            E.f64Arith(OPS[name]!, aLo, aHi, bLo, bHi);
            rLo = E.fx.lo;
            rHi = E.fx.hi;
          } else {
            rLo = E.f32Arith(OPS[name]!, aLo | 0, bLo | 0);
            rHi = aHi; // the probe's destination keeps bits 63:32 of A (zero here)
          }
          const pre = E.fx.pre;
          const all = pre | E.fx.post;
          const unmasked = ~(mx >>> 7) & 0x3f;
          let mxOut = mx;
          let fault = 0;
          if ((pre & unmasked) !== 0) {
            mxOut |= pre;
            fault = 1;
          } else {
            mxOut |= all;
            if ((all & unmasked) !== 0) fault = 1;
          }
          if ((all & 0x20) !== 0) pe++;
          if (fault) {
            rLo = aLo;
            rHi = aHi;
          }
          const [nRes, nMx, nFault] = out[i]!.split(' ');
          const emu = `${hex(rHi)}${hex(rLo).padStart(8, '0')}`.replace(/^0+(?=.)/, '');
          const nat = BigInt('0x' + nRes!).toString(16);
          if (emu !== nat || parseInt(nMx!, 16) !== mxOut || Number(nFault) !== fault) {
            bad.push(`${lines[i]} -> native ${nat} ${nMx} ${nFault} / emu ${emu} ${mxOut.toString(16)} ${fault}`);
          }
        }
        expect(bad.slice(0, 10), `${bad.length} mismatches`).toEqual([]);
        // The cases must exercise both exact and inexact results.
        if (name !== 'min' && name !== 'max') expect(pe).toBeGreaterThan(1000);
        if (name !== 'min' && name !== 'max') expect(pe).toBeLessThan(29000);
      });
    }
  }
});
