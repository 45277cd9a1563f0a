/**
 * src/fpu/f80.ts add, sub, mul, div, sqrt and the binary32/64 conversion against this host's x87 unit, operation by
 * operation, for many more operands than the instruction-level tests reach: each record runs
 * FNINIT; FLDCW; FLD b; FLD a; FADD/FMUL/FSUB/FDIV ST(0), ST(1), FSQRT or FST m32/m64; FNSAVE on the host
 * (test/x87/f80-oracle.c) and the emulator's result must equal ST(0) (or the stored value) bit for bit, and the FSW
 * must equal the flags, C1 and ES/B the emulator's x87 unit derives from r80 (src/fpu/x87.ts
 * `raiseFlags`: IE or ZE hide DE). IE, DE and ZE stay masked (an unmasked one leaves ST(0)
 * unchanged, which is x87.ts's business); OE and UE are masked or not (unmasked: the result
 * is stored with its exponent rebiased, SDM Vol. 1 §4.9.1.4-5). Every RC and PC.
 * F80_NATIVE_CASES sets the number of operations (default 400,000). Skipped without x86-64/gcc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as f80 from '../src/fpu/f80.js';

const HERE = new URL('.', import.meta.url).pathname;
let oracle: string | null = null;
if (process.arch === 'x64') {
  try {
    const dir = mkdtempSync(join(tmpdir(), 'f80-oracle-'));
    const exe = join(dir, 'f80-oracle');
    execFileSync('gcc', ['-O1', '-o', exe, join(HERE, 'x87/f80-oracle.c')]);
    if (existsSync(exe)) oracle = exe;
  } catch {
    oracle = null;
  }
}

const CASES = Number(process.env.F80_NATIVE_CASES ?? 400_000);
const BIAS = 16383;

let seed = 0x6b43a9b5;
function r32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function below(n: number): number {
  return r32() % n;
}

/** An operand [se, hi, lo]: mostly normals near 1 and at the exponent extremes, some specials. */
function operand(near: number): [number, number, number] {
  const s = below(2) << 15;
  let hi = (r32() | 0x80000000) | 0;
  let lo = r32() | 0;
  switch (below(10)) {
    case 0: hi = 0x80000000 | 0; lo = below(4) === 0 ? 1 : 0; break;
    case 1: hi = -1; lo = below(2) === 0 ? -1 : (-1 << below(32)); break;
    case 2: lo = 0; break;
    case 3: lo &= ~0x7ff; break;
    default: break;
  }
  switch (below(24)) {
    case 0: return [s, 0, 0];
    case 1: return [s, hi >>> (1 + below(31)), lo]; // denormal
    case 2: return [s, hi, lo]; // pseudo-denormal
    case 3: return [s | 0x7fff, 0x80000000 | 0, 0];
    case 4: return [s | 0x7fff, (hi | 0x40000000) | 0, lo]; // QNaN
    case 5: return [s | (1 + below(100)), hi, lo];
    case 6: return [s | (0x7ffe - below(100)), hi, lo];
    case 7: return [s | (1 + below(0x7ffe)), hi, lo];
    default: return [s | Math.min(0x7ffe, Math.max(1, near - 70 + below(140))), hi, lo];
  }
}

function pick4(a: number, b: number, c: number, d: number): number {
  const k = below(4);
  return k === 0 ? a : k === 1 ? b : k === 2 ? c : d;
}

function put80(buf: Buffer, off: number, v: [number, number, number]): void {
  buf.writeInt32LE(v[2], off);
  buf.writeInt32LE(v[1], off + 4);
  buf.writeUInt16LE(v[0] & 0xffff, off + 8);
}

describe.skipIf(oracle === null)('f80 operations against the host x87 unit', () => {
  it('add, mul, sub, div, sqrt, fst m32/m64: random operands, every RC/PC, OE/UE masked or not', () => {
    const inp = Buffer.alloc(CASES * 24);
    const ops: { fcw: number; op: number; a: [number, number, number]; b: [number, number, number] }[] = [];
    for (let i = 0; i < CASES; i++) {
      // Division and square root get most of the cases.
      const k = below(12);
      const op = k < 1 ? 0 : k < 2 ? 1 : k < 3 ? 2 : k < 7 ? 3 : k < 10 ? 4 : k < 11 ? 5 : 6;
      const fcw = 0x40 | (below(4) << 10) | (below(4) << 8) | 0x27 | (below(4) === 0 ? 0 : 0x08) | (below(4) === 0 ? 0 : 0x10);
      // Stores: around the binary32/binary64 underflow and overflow thresholds.
      const a = operand(op === 5 ? pick4(0x3f81, 0x3f81 - 24, 0x407e, BIAS) : op === 6 ? pick4(0x3c01, 0x3c01 - 53, 0x43fe, BIAS) : BIAS);
      const b = operand(op === 0 || op === 2 ? a[0] & 0x7fff || BIAS : BIAS);
      if (op === 4 && below(4) !== 0) a[0] &= 0x7fff;
      ops.push({ fcw, op, a, b });
      inp.writeUInt16LE(fcw, i * 24);
      inp.writeUInt8(op, i * 24 + 2);
      put80(inp, i * 24 + 4, a);
      put80(inp, i * 24 + 14, b);
    }
    const res = spawnSync(oracle!, { input: inp, maxBuffer: 1 << 30 });
    const out = res.stdout;
    expect(out.length).toBe(CASES * 12);
    const perOp = [0, 0, 0, 0, 0, 0, 0];
    let bad = 0;
    const firsts: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const { fcw, op, a, b } = ops[i]!;
      f80.setControl(fcw);
      if (op === 0) f80.add(a[0], a[1], a[2], b[0], b[1], b[2], 0);
      else if (op === 1) f80.mul(a[0], a[1], a[2], b[0], b[1], b[2]);
      else if (op === 2) f80.add(a[0], a[1], a[2], b[0], b[1], b[2], 1);
      else if (op === 3) f80.div(a[0], a[1], a[2], b[0], b[1], b[2]);
      else if (op === 4) f80.sqrt(a[0], a[1], a[2]);
      else f80.toFloat(a[0], a[1], a[2], op === 6);
      const r = f80.r80;
      let flags = r.flags;
      let c1 = r.c1;
      let wantLo = r.lo;
      let wantHi = r.hi;
      let wantSe = r.se & 0xffff;
      if (op >= 5) {
        // FST m32/m64 as src/fpu/x87.ts stores: no DE; an unmasked exception stores nothing
        // (and unmasked OE/UE clear PE), C1 cleared.
        flags &= ~f80.DE;
        wantLo = r.ilo;
        wantHi = op === 6 ? r.ihi : 0;
        wantSe = 0;
        if ((flags & ~fcw & 0x3f & ~f80.PE) !== 0) {
          if ((flags & ~fcw & (f80.OE | f80.UE)) !== 0) flags &= ~f80.PE;
          wantLo = wantHi = 0;
          c1 = 0;
        }
      }
      if ((flags & (f80.IE | f80.ZE)) !== 0) flags &= ~f80.DE;
      const es = (flags & ~fcw & 0x3f) !== 0 ? 0x8080 : 0;
      const wantFsw = flags | (c1 !== 0 ? 0x200 : 0) | es | (6 << 11);
      const o = i * 12;
      const lo = out.readInt32LE(o);
      const hi = out.readInt32LE(o + 4);
      const se = out.readUInt16LE(o + 8);
      const fsw = out.readUInt16LE(o + 10);
      perOp[op]!++;
      if (lo !== wantLo || hi !== wantHi || se !== wantSe || fsw !== wantFsw) {
        bad++;
        if (firsts.length < 5) {
          const h = (v: number): string => (v >>> 0).toString(16);
          firsts.push(`op ${op} fcw ${h(fcw)} a ${a.map(h)} b ${b.map(h)}: host ${h(se)} ${h(hi)} ${h(lo)} fsw ${h(fsw)}, f80 ${h(wantSe)} ${h(wantHi)} ${h(wantLo)} fsw ${h(wantFsw)}`);
        }
      }
    }
    console.log(`f80 native: ${CASES} operations (add ${perOp[0]}, mul ${perOp[1]}, sub ${perOp[2]}, div ${perOp[3]}, sqrt ${perOp[4]}, fst m32 ${perOp[5]}, fst m64 ${perOp[6]}), ${bad} mismatches`);
    expect(firsts).toEqual([]);
  });
});
