/**
 * The x87 transcendentals in the FP differential campaign: the campaign's one-ulp tolerance
 * (native/tolerance.ts), the rebiased results of unmasked UE/OE (SDM Vol. 1 §4.9.1.4-5: a
 * register destination receives the result with its exponent biased by -/+24576), FPTAN's
 * argument scaling for small arguments (src/fpu/transcendental.ts `tanArgument`) and FYL2XP1's
 * 68-bit logarithm, the last three against this machine's CPU.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runEmulator } from './native/emulator-runner.js';
import { DATA_BASE, DATA_SIZE, FX_FSW, FX_FTW, FX_ST, RFLAGS_FORCED } from './native/layout.js';
import { available, closeOracle, runCases, type SnippetCase, unavailableReason } from './native/native-oracle.js';
import { f80Key, oneUlpApart, tolerate } from './native/tolerance.js';
import { Op, oracleUnavailable, rng, runEmu, runNative, type TransCase } from './native/x87-trans.js';

type F80 = [number, number, number];

/** An FXSAVE image with FCW `fcw`, FSW `fsw` (TOP from `top`), ST(0..) = `st` (tagged valid). */
function image(fcw: number, st: F80[], top = 6, fsw = 0): Uint8Array {
  const fx = new Uint8Array(512);
  const dv = new DataView(fx.buffer);
  dv.setUint16(0, fcw, true);
  dv.setUint16(FX_FSW, (fsw & ~0x3800) | (top << 11), true);
  dv.setUint32(24, 0x1f80, true);
  st.forEach(([se, hi, lo], i) => {
    dv.setUint32(FX_ST + 16 * i, lo >>> 0, true);
    dv.setUint32(FX_ST + 16 * i + 4, hi >>> 0, true);
    dv.setUint16(FX_ST + 16 * i + 8, se, true);
    fx[FX_FTW] = fx[FX_FTW]! | (1 << ((top + i) & 7));
  });
  return fx;
}

function st(fx: Uint8Array, i: number): F80 {
  const dv = new DataView(fx.buffer, fx.byteOffset);
  return [dv.getUint16(FX_ST + 16 * i + 8, true), dv.getUint32(FX_ST + 16 * i + 4, true), dv.getUint32(FX_ST + 16 * i, true)];
}

describe('campaign tolerance x87-1ulp (native/tolerance.ts)', () => {
  const reg = (se: number, hi: number, lo: number): Uint8Array => image(0x37f, [[se, hi, lo]], 0);

  it('adjacent encodings: within a binade, across a binade boundary and from the largest denormal to the smallest normal', () => {
    expect(oneUlpApart(reg(0x3fff, 0x80000000, 5), reg(0x3fff, 0x80000000, 6), FX_ST)).toBe(true);
    expect(oneUlpApart(reg(0x3ffe, 0xffffffff, 0xffffffff), reg(0x3fff, 0x80000000, 0), FX_ST)).toBe(true);
    expect(oneUlpApart(reg(0xbffe, 0xffffffff, 0xffffffff), reg(0xbfff, 0x80000000, 0), FX_ST)).toBe(true);
    expect(oneUlpApart(reg(0, 0x7fffffff, 0xffffffff), reg(1, 0x80000000, 0), FX_ST)).toBe(true);
    expect(f80Key(reg(1, 0x80000000, 0), FX_ST) - f80Key(reg(0, 0x7fffffff, 0xffffffff), FX_ST)).toBe(1n);
  });

  it('rejects two ulps, a sign change, zeros, infinities, NaNs and unsupported encodings', () => {
    expect(oneUlpApart(reg(0x3fff, 0x80000000, 5), reg(0x3fff, 0x80000000, 7), FX_ST)).toBe(false);
    expect(oneUlpApart(reg(0x3fff, 0x80000000, 5), reg(0xbfff, 0x80000000, 6), FX_ST)).toBe(false);
    expect(oneUlpApart(reg(0, 0, 0), reg(0, 0, 1), FX_ST)).toBe(false);
    expect(oneUlpApart(reg(0x7ffe, 0xffffffff, 0xffffffff), reg(0x7fff, 0x80000000, 0), FX_ST)).toBe(false);
    expect(oneUlpApart(reg(0x7fff, 0xc0000000, 1), reg(0x7fff, 0xc0000000, 2), FX_ST)).toBe(false);
    expect(oneUlpApart(reg(0x3fff, 0x7fffffff, 0xffffffff), reg(0x3fff, 0x80000000, 0), FX_ST)).toBe(false); // unnormal
    expect(oneUlpApart(reg(0, 0x80000000, 0), reg(0, 0x7fffffff, 0xffffffff), FX_ST)).toBe(false); // pseudo-denormal
  });

  it('C1 alone may differ only after a rounded result of this instruction (PE raised, no IE, no stack fault)', () => {
    const input = image(0x37f, [[0x3fff, 0x80000000, 0]], 0, 0);
    const nat = image(0x37f, [[0x3fff, 0x80000000, 0]], 0, 0x0220); // PE C1
    const emu = (fsw: number): Uint8Array => image(0x37f, [[0x3fff, 0x80000000, 0]], 0, fsw);
    expect(tolerate('x87-1ulp', input, nat, emu(0x0020))).toBe(1);
    // PE already set in the input: not known to come from this instruction.
    expect(tolerate('x87-1ulp', image(0x37f, [], 0, 0x20), nat, emu(0x0020))).toBe(0);
    // A stack fault (C1 is the overflow indicator) or an invalid operation.
    expect(tolerate('x87-1ulp', input, image(0x37f, [], 0, 0x0261), image(0x37f, [], 0, 0x0061))).toBe(0);
    // C1 and another bit.
    expect(tolerate('x87-1ulp', input, nat, emu(0x0030))).toBe(0);
    // The tolerated register and C1 are patched in the emulator's image.
    const e = image(0x37f, [[0x3fff, 0x80000000, 1]], 0, 0x0020);
    expect(tolerate('x87-1ulp', input, nat, e)).toBe(2);
    expect(st(e, 0)).toEqual([0x3fff, 0x80000000, 0]);
  });
});

const ok = available();

describe.skipIf(!ok)(`x87 transcendentals with unmasked UE/OE against the host CPU${ok ? '' : ` (skipped: ${unavailableReason()})`}`, () => {
  afterAll(() => closeOracle());

  const one: F80 = [0x3fff, 0x80000000, 0];
  // [name, opcode byte 2, ST(0), ST(1), FCW]: tiny or huge results with UM (0x10) or OM (0x08) clear.
  const ue = 0x037f & ~0x10;
  const oe = 0x037f & ~0x08;
  const cases: [string, number, F80[], number][] = [
    ['fsin denormal', 0xfe, [[0x0000, 0x12345678, 0x9abcdef0]], ue],
    ['fsin -denormal, RC down', 0xfe, [[0x8000, 0x00000001, 0x00000003]], ue | 0x400],
    ['fcos is never tiny: 1', 0xff, [[0x0000, 0x00000001, 0x00000003]], ue],
    ['fptan denormal', 0xf2, [[0x0000, 0x40000000, 0x00000011]], ue],
    ['fsincos denormal', 0xfb, [[0x8000, 0x00000000, 0x00000005]], ue],
    ['f2xm1 1.2 * 2^-16382', 0xf0, [[0x0001, 0x9abcdef0, 0x12345678]], ue],
    ['f2xm1 denormal, RC up', 0xf0, [[0x0000, 0x7abcdef0, 0x12345678]], ue | 0x800],
    ['fyl2x y tiny, x 1.5', 0xf1, [[0x3fff, 0xc0000000, 0], [0x0001, 0x80000000, 0x00000001]], ue],
    ['fyl2x y denormal, x 8 (exact)', 0xf1, [[0x4002, 0x80000000, 0], [0x0000, 0x00001234, 0]], ue],
    ['fyl2x y max, x huge: overflow', 0xf1, [[0x7ffe, 0xffffffff, 0xffffffff], [0x7ffe, 0xc0000000, 0]], oe],
    ['fyl2x -y max, x huge, RC zero: overflow', 0xf1, [[0x7ffe, 0xf0000000, 0], [0xfffd, 0xc0000000, 7]], oe | 0xc00],
    ['fyl2xp1 y tiny, x small', 0xf9, [[0x3ffa, 0x91234567, 0x89abcdef], [0x0002, 0xc0000000, 0x00000001]], ue],
    ['fyl2xp1 y huge, x 3 (beyond the documented range): overflow', 0xf9, [[0x4000, 0xc0000000, 0], [0x7ffe, 0xffffffff, 0xfffffff0]], oe],
    ['fpatan y tiny, x 4', 0xf3, [[0x4001, 0x80000000, 0], [0x0002, 0xb0000000, 0x00000003]], ue],
    ['fpatan y denormal, x 3, both unmasked', 0xf3, [[0x4000, 0xc0000000, 0], [0x8000, 0x0fffffff, 0xffffffff]], 0x037f & ~0x18],
    ['fsin 1 (not tiny)', 0xfe, [one], ue],
  ];

  it('stores the rebiased result in the register (exponent +24576 tiny, -24576 huge), as the host does', () => {
    const snippets: SnippetCase[] = cases.map(([, op, s, fcw]) => ({
      code: Uint8Array.from([0xd9, op]),
      gpr: Object.assign(new Int32Array(32), { 8: DATA_BASE + 64 }),
      rflags: RFLAGS_FORCED,
      mem: new Uint8Array(DATA_SIZE),
      fx: image(fcw, s),
    }));
    const native = runCases(snippets);
    let rebiased = 0;
    const bad: string[] = [];
    snippets.forEach((c, i) => {
      const n = native[i]!;
      const e = runEmulator(c);
      expect(n.vector).toBe(-1);
      expect(e.vector).toBe(-1);
      const nfsw = new DataView(n.fx!.buffer, n.fx!.byteOffset).getUint16(FX_FSW, true);
      // A tiny result with UE unmasked has an exponent near 0x6000; a huge one with OE unmasked near 0x2000.
      const ns = st(n.fx!, 0)[0] & 0x7fff;
      if ((nfsw & 0x18) !== 0 && ns > 0x1000 && ns < 0x7000) rebiased++;
      const efx = e.fx!.slice();
      tolerate('x87-1ulp', c.fx!, n.fx!, efx);
      // FCW, FSW, the abridged tag and ST0-ST7 (after the tolerated one-ulp/C1 differences).
      const compared = [0, 1, 2, 3, 4, ...Array.from({ length: 128 }, (_, k) => FX_ST + k)];
      if (compared.some((k) => efx[k] !== n.fx![k])) {
        const hex = (v: number[]): string => v.map((x) => x.toString(16)).join(':');
        const efsw = new DataView(e.fx!.buffer, e.fx!.byteOffset).getUint16(FX_FSW, true);
        bad.push(`${cases[i]![0]}: native ST0 ${hex(st(n.fx!, 0))} fsw ${nfsw.toString(16)}, emulator ST0 ${hex(st(e.fx!, 0))} fsw ${efsw.toString(16)}`);
      }
    });
    expect(bad).toEqual([]);
    // All but the two controls (FCOS, FSIN 1) deliver a rebiased result natively.
    expect(rebiased).toBe(cases.length - 2);
  });
});

const reason = oracleUnavailable();

describe.skipIf(reason !== '')(`FPTAN and FYL2XP1 of small arguments against the host CPU${reason === '' ? '' : ` (skipped: ${reason})`}`, () => {
  it('|x| < 2^-40 in all four rounding modes: every result and C1 bit-exact (the RN68(x K) / K model)', () => {
    const r = rng(4242);
    const cases: TransCase[] = [];
    for (let i = 0; i < 4000; i++) {
      const e = 0x3fff - 41 - (r() % (i % 2 === 0 ? 40 : 16000));
      cases.push({ op: Op.FPTAN, rc: r() & 3, a: { se: ((r() & 1) << 15) | e, hi: (r() | 0x80000000) | 0, lo: r() | 0 }, b: { se: 0, hi: 0, lo: 0 } });
    }
    const native = runNative(cases);
    let exact = 0;
    let c1 = 0;
    cases.forEach((c, i) => {
      const got = runEmu(c);
      const want = native[i]!;
      if (got.r.se === want.r.se && got.r.hi === want.r.hi && got.r.lo === want.r.lo && got.flags === want.flags) exact++;
      if (got.c1 === want.c1) c1++;
    });
    expect(exact).toBe(cases.length);
    expect(c1).toBe(cases.length);
  });

  it('FYL2XP1 with |x| < 2^-70, any y, all four rounding modes: every result bit-exact (y * RN68(x log2(e)_68))', () => {
    const r = rng(777);
    const cases: TransCase[] = [];
    for (let i = 0; i < 4000; i++) {
      const y = { se: ((r() & 1) << 15) | (0x3fff - 20 + (r() % 40)), hi: (r() | 0x80000000) | 0, lo: r() | 0 };
      const x = { se: ((r() & 1) << 15) | (0x3fff - 71 - (r() % 2000)), hi: (r() | 0x80000000) | 0, lo: r() | 0 };
      cases.push({ op: Op.FYL2XP1, rc: r() & 3, a: y, b: x });
    }
    const native = runNative(cases);
    let exact = 0;
    cases.forEach((c, i) => {
      const got = runEmu(c);
      const want = native[i]!;
      if (got.r.se === want.r.se && got.r.hi === want.r.hi && got.r.lo === want.r.lo && got.flags === want.flags) exact++;
    });
    expect(exact).toBe(cases.length);
  });
});
