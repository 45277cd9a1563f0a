/**
 * The x87 transcendental functions (src/fpu/transcendental.ts): architectural values from the
 * SDM Vol. 2 instruction pages' tables (expected significands are the correctly rounded values
 * of pi, sin 1, ... taken from a 300-bit computation), then random and boundary operands of
 * every function in all four rounding modes against this machine's CPU (test/native/x87-trans.c).
 */
import { describe, expect, it } from 'vitest';
import * as trans from '../src/fpu/transcendental.js';
import { type Ext, genOne, genTwo, Op, OP_NAMES, oracleUnavailable, runEmu, runNative, ulpDistance } from './native/x87-trans.js';

const { tr } = trans;
const IE = 1;
const DE = 2;
const ZE = 4;
const UE = 0x10;
const PE = 0x20;
const INT = 0x80000000 | 0;

function result(): [number, number, number] {
  return [tr.se, tr.hi >>> 0, tr.lo >>> 0];
}

function result2(): [number, number, number] {
  return [tr.se2, tr.hi2 >>> 0, tr.lo2 >>> 0];
}

const INDEFINITE: [number, number, number] = [0xffff, 0xc0000000, 0];

describe('x87 transcendental instructions: architectural values', () => {
  it('FSIN/FCOS/FSINCOS/FPTAN of zeros keep the sign and raise nothing', () => {
    trans.fsin(0, 0, 0, 0);
    expect([...result(), tr.flags]).toEqual([0, 0, 0, 0]);
    trans.fsin(0x8000, 0, 0, 0);
    expect([...result(), tr.flags]).toEqual([0x8000, 0, 0, 0]);
    trans.fcos(0x8000, 0, 0, 0);
    expect([...result(), tr.flags]).toEqual([0x3fff, 0x80000000, 0, 0]);
    trans.fptan(0x8000, 0, 0, 0);
    expect([...result(), tr.flags]).toEqual([0x8000, 0, 0, 0]);
    trans.fsincos(0x8000, 0, 0, 0);
    expect([...result(), ...result2(), tr.flags]).toEqual([0x8000, 0, 0, 0x3fff, 0x80000000, 0, 0]);
  });

  it('sin 1, cos 1 are correctly rounded; C1 reports a magnitude rounded up', () => {
    trans.fsin(0x3fff, INT, 0, 0);
    expect([...result(), tr.flags, tr.c1]).toEqual([0x3ffe, 0xd76aa478, 0x48677021, PE, 1]);
    trans.fcos(0x3fff, INT, 0, 0);
    expect([...result(), tr.flags, tr.c1]).toEqual([0x3ffe, 0x8a51407d, 0xa8345c92, PE, 1]);
    // Toward zero: the truncated significand, C1 = 0.
    trans.fsin(0x3fff, INT, 0, 3);
    expect([...result(), tr.c1]).toEqual([0x3ffe, 0xd76aa478, 0x48677020, 0]);
  });

  it('infinities are invalid, |x| >= 2^63 is out of range (C2 = 1, operand kept)', () => {
    trans.fsin(0x7fff, INT, 0, 0);
    expect([...result(), tr.flags]).toEqual([...INDEFINITE, IE]);
    trans.fptan(0xffff, INT, 0, 0);
    expect([...result(), tr.flags]).toEqual([...INDEFINITE, IE]);
    trans.fcos(0x403e, INT, 0, 0);
    expect([...result(), tr.flags, tr.c2]).toEqual([0x403e, 0x80000000, 0, 0, 1]);
    trans.fsin(0x403d, -1, -1, 0); // 2^63 - 1: in range
    expect(tr.c2).toBe(0);
  });

  it('NaNs: an SNaN is quieted with IE, a QNaN propagates; invalid encodings give the indefinite', () => {
    trans.fsin(0x7fff, INT, 1, 0);
    expect([...result(), tr.flags]).toEqual([0x7fff, 0xc0000000, 1, IE]);
    trans.fcos(0xffff, 0xc0000000 | 0, 5, 0);
    expect([...result(), tr.flags]).toEqual([0xffff, 0xc0000000, 5, 0]);
    trans.fsin(0x3fff, 0x40000000, 0, 0); // unnormal
    expect([...result(), tr.flags]).toEqual([...INDEFINITE, IE]);
    // Two operands: an SNaN and a QNaN give the QNaN; two QNaNs the larger significand.
    trans.fpatan(0x7fff, 0xc0000000 | 0, 0x1234, 0xffff, 0xa0000000 | 0, 7, 0);
    expect([...result(), tr.flags]).toEqual([0x7fff, 0xc0000000, 0x1234, IE]);
    trans.fyl2x(0x7fff, 0xc0000000 | 0, 1, 0xffff, 0xc0000000 | 0, 2, 0);
    expect([...result(), tr.flags]).toEqual([0xffff, 0xc0000000, 2, 0]);
  });

  it('a denormal operand reports DE; sin of it is itself, tiny and inexact (UE)', () => {
    trans.fsin(0, 0x12345678, 0x9abcdef0 | 0, 0);
    expect([...result(), tr.flags, tr.c1]).toEqual([0, 0x12345678, 0x9abcdef0, DE | UE | PE, 1]);
    // Rounding toward zero takes the value just below.
    trans.fsin(0, 0x12345678, 0x9abcdef0 | 0, 3);
    expect(result()).toEqual([0, 0x12345678, 0x9abcdeef]);
  });

  it('FPATAN gives the quadrant from the signs of both operands', () => {
    const one = [0x3fff, INT, 0] as const;
    const mone = [0xbfff, INT, 0] as const;
    trans.fpatan(...one, ...one, 0);
    expect(result()).toEqual([0x3ffe, 0xc90fdaa2, 0x2168c235]); // pi/4
    trans.fpatan(...one, ...mone, 0);
    expect(result()).toEqual([0x4000, 0x96cbe3f9, 0x990e91a8]); // 3pi/4
    trans.fpatan(...mone, ...mone, 0);
    expect(result()).toEqual([0xc000, 0x96cbe3f9, 0x990e91a8]); // -3pi/4
    trans.fpatan(...mone, ...one, 0);
    expect(result()).toEqual([0xbffe, 0xc90fdaa2, 0x2168c235]); // -pi/4
    trans.fpatan(0, 0, 0, 0x8000, 0, 0, 0); // atan2(+0, -0) = +pi
    expect(result()).toEqual([0x4000, 0xc90fdaa2, 0x2168c235]);
    trans.fpatan(0x8000, 0, 0, 0, 0, 0, 0); // atan2(-0, +0) = -0
    expect([...result(), tr.flags]).toEqual([0x8000, 0, 0, 0]);
    trans.fpatan(0x7fff, INT, 0, 0x3fff, INT, 0, 0); // atan2(+inf, 1) = pi/2
    expect(result()).toEqual([0x3fff, 0xc90fdaa2, 0x2168c235]);
    trans.fpatan(0xffff, INT, 0, 0x7fff, INT, 0, 0); // atan2(-inf, +inf) = -pi/4
    expect(result()).toEqual([0xbffe, 0xc90fdaa2, 0x2168c235]);
  });

  it('F2XM1: 2^-1 - 1 = -0.5, 2^0.5 - 1 = sqrt 2 - 1, the infinities, and operands outside [-1, 1] kept', () => {
    trans.f2xm1(0xbfff, INT, 0, 0);
    // -0.5 exactly; this AMD host still reports PE (measured).
    expect([...result(), tr.flags]).toEqual([0xbffe, 0x80000000, 0, PE]);
    trans.f2xm1(0x3ffe, INT, 0, 0);
    expect(result()).toEqual([0x3ffd, 0xd413cccf, 0xe7799211]);
    trans.f2xm1(0xffff, INT, 0, 0);
    expect([...result(), tr.flags]).toEqual([0xbfff, 0x80000000, 0, 0]);
    trans.f2xm1(0x4000, INT, 0, 0); // 2: unchanged (measured; the SDM leaves it undefined)
    expect(result()).toEqual([0x4000, 0x80000000, 0]);
  });

  it('FYL2X: log2 8 = 3 exactly, log2 3, divide by zero, logs of negatives', () => {
    const one = [0x3fff, INT, 0] as const;
    trans.fyl2x(...one, 0x4002, INT, 0, 2);
    // Exactly 3 in every rounding mode; the host reports PE although the result is exact.
    expect([...result(), tr.flags, tr.c1]).toEqual([0x4000, 0xc0000000, 0, PE, 0]);
    trans.fyl2x(...one, 0x4000, 0xc0000000 | 0, 0, 0);
    expect(result()).toEqual([0x3fff, 0xcae00d1c, 0xfdeb43d0]);
    trans.fyl2x(...one, 0, 0, 0, 0); // log2(0) = -inf, ZE
    expect([...result(), tr.flags]).toEqual([0xffff, 0x80000000, 0, ZE]);
    trans.fyl2x(...one, 0xbfff, INT, 0, 0); // log2(-1): IE
    expect([...result(), tr.flags]).toEqual([...INDEFINITE, IE]);
    trans.fyl2x(0, 0, 0, 0, 0, 0, 0); // 0 * log2(0): IE
    expect([...result(), tr.flags]).toEqual([...INDEFINITE, IE]);
    trans.fyl2x(...one, ...one, 0); // log2 1 = +0, exact
    expect([...result(), tr.flags]).toEqual([0, 0, 0, 0]);
  });

  it('FYL2XP1: log2(1 + 0) = 0 with the sign of y * x; log2(1 + 1) = 1', () => {
    trans.fyl2xp1(0x3fff, INT, 0, 0x8000, 0, 0, 0);
    expect([...result(), tr.flags]).toEqual([0x8000, 0, 0, 0]);
    trans.fyl2xp1(0x3fff, INT, 0, 0x3fff, INT, 0, 0);
    expect(result()).toEqual([0x3fff, 0x80000000, 0]);
  });
});

const reason = oracleUnavailable();

/** Cases per function (all four rounding modes). */
const COUNT = 20000;

describe.skipIf(reason !== '')(`x87 transcendental instructions against the host CPU${reason === '' ? '' : ` (skipped: ${reason})`}`, () => {
  for (let op = 0; op < 8; op++) {
    const name = OP_NAMES[op]!;
    it(`${name}: ${COUNT} operands within 1 ulp, identical exception flags and C2`, () => {
      const cases = op >= Op.FPATAN ? genTwo(op, COUNT, 1234 + op) : genOne(op, COUNT, 99 + op);
      const native = runNative(cases);
      let exact = 0;
      let maxUlp = 0;
      let c1Differs = 0;
      let compared = 0;
      const bad: string[] = [];
      const hex = (e: Ext): string => `${e.se.toString(16)}:${(e.hi >>> 0).toString(16).padStart(8, '0')}${(e.lo >>> 0).toString(16).padStart(8, '0')}`;
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i]!;
        const want = native[i]!;
        const got = runEmu(c);
        let d = ulpDistance(want.r, got.r);
        // FSINCOS: the cosine too (nothing is pushed when C2 = 1).
        if (op === Op.FSINCOS && want.c2 === 0) d = Math.max(d, ulpDistance(want.r2, got.r2));
        if (d === 0) {
          exact++;
          compared++;
          if (want.c1 !== got.c1) c1Differs++;
        }
        maxUlp = Math.max(maxUlp, d);
        if ((d > 1 || want.flags !== got.flags || want.c2 !== got.c2) && bad.length < 10) {
          bad.push(
            `rc=${c.rc} a=${hex(c.a)} b=${hex(c.b)}: host ${hex(want.r)} flags ${want.flags.toString(16)} c2 ${want.c2}, emulator ${hex(got.r)} flags ${got.flags.toString(16)} c2 ${got.c2}`,
          );
        }
      }
      console.info(`${name}: ${exact}/${cases.length} bit-exact, max ${maxUlp} ulp, C1 differs in ${c1Differs} of the exact ones`);
      expect(bad).toEqual([]);
      expect(maxUlp).toBeLessThanOrEqual(1);
      // C1 follows from the side of the host's internal value; where that value is off by a
      // fraction of an ulp the two can differ although the rounded results agree.
      expect(c1Differs).toBeLessThan(compared * 0.05);
    }, 120_000);
  }
});
