/**
 * Differential-campaign forms: SSE/SSE2/SSE3/SSE4.1 floating-point instructions (owned by the sse-float helper).
 * See README-fp.md for the API (fp-gen.ts) and how to run and debug forms.
 *
 * Every form starts from a random FP state (every RC, FTZ, DAZ, sticky flags, masks mostly all
 * set), fills the destination and source with lanes of the instruction's kind (specials,
 * denormals, edges) and picks a register or memory source; packed forms take an aligned memory
 * operand, and one case in 16 a misaligned one (#GP(0)).
 *
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS are implementation-specific approximations; the emulator uses this
 * host's tables (src/fpu/sse-approx-table.ts), so they are compared bit for bit too.
 */
import type { Rm } from './generator.js';
import { type FpForm, type FpGen, fpForm, type LaneKind } from './fp-gen.js';

/** A packed xmm/m128 source: aligned memory, a misaligned one in 1/16 of the memory cases. */
function packedRm(g: FpGen, kind: LaneKind): Rm {
  if (g.rng.bool()) return g.xmmRm(16, { regOnly: true });
  const mis = g.rng.chance(1, 16);
  return g.xmmRm(16, { memOnly: true, align: mis ? 1 : 16, kind });
}

/** Random state, destination `reg` of `kind`, and the state with a chance of unmasked exceptions. */
function setup(g: FpGen, reg: number, kind: LaneKind): void {
  g.randomFpState();
  g.randomXmm(reg, kind);
  for (let n = 0; n < 16; n++) if (g.rng.chance(1, 2)) g.randomXmm(n, kind);
}

function xmmForm(name: string, feature: string, pfx: number[], op: number[], bytes: number, kind: LaneKind, imm?: () => number, srcKind: LaneKind = kind): FpForm {
  return fpForm(
    name,
    'sse-float',
    (g) => {
      const reg = g.rng.below(16);
      setup(g, reg, kind);
      const rm = bytes === 16 ? packedRm(g, srcKind) : g.xmmRm(bytes, { kind: srcKind });
      g.emit({ pfx, op, reg, rm, ...(imm !== undefined ? { imm: imm(), immSize: 1 } : {}) });
    },
    { feature },
  );
}

export function sseFloatForms(): FpForm[] {
  const forms: FpForm[] = [];
  const arith: [number, string][] = [
    [0x58, 'add'],
    [0x59, 'mul'],
    [0x5c, 'sub'],
    [0x5d, 'min'],
    [0x5e, 'div'],
    [0x5f, 'max'],
    [0x51, 'sqrt'],
  ];
  for (const [op, n] of arith) {
    forms.push(xmmForm(`${n}ps xmm, xmm/m128`, 'sse', [], [0x0f, op], 16, 'f32'));
    forms.push(xmmForm(`${n}pd xmm, xmm/m128`, 'sse2', [0x66], [0x0f, op], 16, 'f64'));
    forms.push(xmmForm(`${n}ss xmm, xmm/m32`, 'sse', [0xf3], [0x0f, op], 4, 'f32'));
    forms.push(xmmForm(`${n}sd xmm, xmm/m64`, 'sse2', [0xf2], [0x0f, op], 8, 'f64'));
  }
  forms.push(xmmForm('rcpps xmm, xmm/m128', 'sse', [], [0x0f, 0x53], 16, 'f32'));
  forms.push(xmmForm('rcpss xmm, xmm/m32', 'sse', [0xf3], [0x0f, 0x53], 4, 'f32'));
  forms.push(xmmForm('rsqrtps xmm, xmm/m128', 'sse', [], [0x0f, 0x52], 16, 'f32'));
  forms.push(xmmForm('rsqrtss xmm, xmm/m32', 'sse', [0xf3], [0x0f, 0x52], 4, 'f32'));
  const pred = (g: () => FpGen) => () => g().rng.below(256);
  // CMPccPS/PD/SS/SD with any imm8 (the legacy forms use bits 2:0).
  let cur: FpGen | null = null;
  const anyImm = pred(() => cur!);
  const withG = (f: FpForm): FpForm => ({ ...f, gen: (g) => ((cur = g), f.gen(g)) });
  forms.push(withG(xmmForm('cmpps xmm, xmm/m128, imm8', 'sse', [], [0x0f, 0xc2], 16, 'f32', anyImm)));
  forms.push(withG(xmmForm('cmppd xmm, xmm/m128, imm8', 'sse2', [0x66], [0x0f, 0xc2], 16, 'f64', anyImm)));
  forms.push(withG(xmmForm('cmpss xmm, xmm/m32, imm8', 'sse', [0xf3], [0x0f, 0xc2], 4, 'f32', anyImm)));
  forms.push(withG(xmmForm('cmpsd xmm, xmm/m64, imm8', 'sse2', [0xf2], [0x0f, 0xc2], 8, 'f64', anyImm)));
  forms.push(xmmForm('ucomiss xmm, xmm/m32', 'sse', [], [0x0f, 0x2e], 4, 'f32'));
  forms.push(xmmForm('comiss xmm, xmm/m32', 'sse', [], [0x0f, 0x2f], 4, 'f32'));
  forms.push(xmmForm('ucomisd xmm, xmm/m64', 'sse2', [0x66], [0x0f, 0x2e], 8, 'f64'));
  forms.push(xmmForm('comisd xmm, xmm/m64', 'sse2', [0x66], [0x0f, 0x2f], 8, 'f64'));

  // Conversions between XMM formats.
  forms.push(xmmForm('cvtps2pd xmm, xmm/m64', 'sse2', [], [0x0f, 0x5a], 8, 'f64', undefined, 'f32'));
  forms.push(xmmForm('cvtpd2ps xmm, xmm/m128', 'sse2', [0x66], [0x0f, 0x5a], 16, 'f32', undefined, 'f64'));
  forms.push(xmmForm('cvtss2sd xmm, xmm/m32', 'sse2', [0xf3], [0x0f, 0x5a], 4, 'f64', undefined, 'f32'));
  forms.push(xmmForm('cvtsd2ss xmm, xmm/m64', 'sse2', [0xf2], [0x0f, 0x5a], 8, 'f32', undefined, 'f64'));
  forms.push(xmmForm('cvtdq2ps xmm, xmm/m128', 'sse2', [], [0x0f, 0x5b], 16, 'f32', undefined, 'int'));
  forms.push(xmmForm('cvtps2dq xmm, xmm/m128', 'sse2', [0x66], [0x0f, 0x5b], 16, 'int', undefined, 'f32'));
  forms.push(xmmForm('cvttps2dq xmm, xmm/m128', 'sse2', [0xf3], [0x0f, 0x5b], 16, 'int', undefined, 'f32'));
  forms.push(xmmForm('cvttpd2dq xmm, xmm/m128', 'sse2', [0x66], [0x0f, 0xe6], 16, 'int', undefined, 'f64'));
  forms.push(xmmForm('cvtpd2dq xmm, xmm/m128', 'sse2', [0xf2], [0x0f, 0xe6], 16, 'int', undefined, 'f64'));
  forms.push(xmmForm('cvtdq2pd xmm, xmm/m64', 'sse2', [0xf3], [0x0f, 0xe6], 8, 'f64', undefined, 'int'));

  // Conversions with general-purpose registers (32-bit, or 64-bit with REX.W).
  for (const w of [false, true]) {
    const sz = w ? 8 : 4;
    const sfx = w ? 'r64' : 'r32';
    for (const [pfx, n, kind] of [
      [0xf3, 'ss', 'f32'],
      [0xf2, 'sd', 'f64'],
    ] as const) {
      forms.push(
        fpForm(
          `cvtsi2${n} xmm, ${sfx}/m${sz * 8}`,
          'sse-float',
          (g) => {
            const reg = g.rng.below(16);
            setup(g, reg, kind);
            const rm = g.anyRm(sz);
            if (rm.off >= 0) g.memInt(rm.off, sz);
            g.emit({ pfx: [pfx], w, op: [0x0f, 0x2a], reg, rm });
          },
          { feature: n === 'ss' ? 'sse' : 'sse2' },
        ),
      );
      for (const [op, t] of [
        [0x2d, 'cvt'],
        [0x2c, 'cvtt'],
      ] as const) {
        forms.push(
          fpForm(
            `${t}${n}2si ${sfx}, xmm/m${kind === 'f32' ? 32 : 64}`,
            'sse-float',
            (g) => {
              setup(g, g.rng.below(16), kind);
              let reg = g.rng.below(16);
              if (reg === 4) reg = 0;
              const rm = g.xmmRm(kind === 'f32' ? 4 : 8, { kind });
              g.emit({ pfx: [pfx], w, op: [0x0f, op], reg, rm });
            },
            { feature: n === 'ss' ? 'sse' : 'sse2' },
          ),
        );
      }
    }
  }

  // Conversions with MMX registers.
  const mmForm = (name: string, feature: string, pfx: number[], op: number, toMm: boolean, bytes: number, kind: LaneKind): FpForm =>
    fpForm(
      name,
      'sse-float',
      (g) => {
        const reg = toMm ? g.rng.below(8) : g.rng.below(16);
        setup(g, reg, kind);
        for (let n = 0; n < 8; n++) {
          g.value(64);
          g.setMm(n, g.vlo, g.vhi);
        }
        let rm: Rm;
        if (toMm) rm = bytes === 16 ? packedRm(g, kind) : g.xmmRm(bytes, { kind });
        else {
          rm = g.mmRm(8);
          if (rm.off >= 0) g.memLanes(rm.off, 8, 'int');
        }
        g.emit({ pfx, op: [0x0f, op], reg, rm });
      },
      { feature },
    );
  forms.push(mmForm('cvtpi2ps xmm, mm/m64', 'sse', [], 0x2a, false, 8, 'f32'));
  forms.push(mmForm('cvtpi2pd xmm, mm/m64', 'sse2', [0x66], 0x2a, false, 8, 'f64'));
  forms.push(mmForm('cvtps2pi mm, xmm/m64', 'sse', [], 0x2d, true, 8, 'f32'));
  forms.push(mmForm('cvttps2pi mm, xmm/m64', 'sse', [], 0x2c, true, 8, 'f32'));
  forms.push(mmForm('cvtpd2pi mm, xmm/m128', 'sse2', [0x66], 0x2d, true, 16, 'f64'));
  forms.push(mmForm('cvttpd2pi mm, xmm/m128', 'sse2', [0x66], 0x2c, true, 16, 'f64'));

  // SSE3.
  forms.push(xmmForm('addsubps xmm, xmm/m128', 'pni', [0xf2], [0x0f, 0xd0], 16, 'f32'));
  forms.push(xmmForm('addsubpd xmm, xmm/m128', 'pni', [0x66], [0x0f, 0xd0], 16, 'f64'));
  forms.push(xmmForm('haddps xmm, xmm/m128', 'pni', [0xf2], [0x0f, 0x7c], 16, 'f32'));
  forms.push(xmmForm('haddpd xmm, xmm/m128', 'pni', [0x66], [0x0f, 0x7c], 16, 'f64'));
  forms.push(xmmForm('hsubps xmm, xmm/m128', 'pni', [0xf2], [0x0f, 0x7d], 16, 'f32'));
  forms.push(xmmForm('hsubpd xmm, xmm/m128', 'pni', [0x66], [0x0f, 0x7d], 16, 'f64'));

  // SSE4.1 (any imm8: bits 7:4 of ROUND's are ignored; DPPS/DPPD use all eight).
  forms.push(withG(xmmForm('roundps xmm, xmm/m128, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x08], 16, 'f32', anyImm)));
  forms.push(withG(xmmForm('roundpd xmm, xmm/m128, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x09], 16, 'f64', anyImm)));
  forms.push(withG(xmmForm('roundss xmm, xmm/m32, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x0a], 4, 'f32', anyImm)));
  forms.push(withG(xmmForm('roundsd xmm, xmm/m64, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x0b], 8, 'f64', anyImm)));
  forms.push(withG(xmmForm('dpps xmm, xmm/m128, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x40], 16, 'f32', anyImm)));
  forms.push(withG(xmmForm('dppd xmm, xmm/m128, imm8', 'sse4_1', [0x66], [0x0f, 0x3a, 0x41], 16, 'f64', anyImm)));
  return forms;
}
