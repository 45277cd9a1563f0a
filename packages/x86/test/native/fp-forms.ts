/**
 * The form list of the FP differential campaign (test/differential-fp.test.ts): a few core forms
 * that prove the pipeline (state in and out through both sides) plus the per-topic lists, each in
 * its own file: gen-x87.ts, gen-sse-float.ts, gen-simd-int.ts, gen-simd-ext.ts.
 */
import { type FpForm, type FpGen, fpForm } from './fp-gen.js';
import { simdExtForms } from './gen-simd-ext.js';
import { simdIntForms } from './gen-simd-int.js';
import { sseFloatForms } from './gen-sse-float.js';
import { stateForms } from './gen-state.js';
import { x87Forms } from './gen-x87.js';
import { hostFeatures } from './generator.js';

/** A /digit ModRM.reg, with the ignored REX.R set sometimes. */
function digit(g: FpGen, d: number): number {
  return d | (g.rng.chance(1, 10) ? 8 : 0);
}

/**
 * Core forms: moves of whole registers and state words, which need no arithmetic, so a mismatch
 * here is a harness or state-transfer problem rather than a rounding one.
 * - MOVAPS load/store (0F 28/29; SDM Vol. 2 "MOVAPS"): #GP(0) for a misaligned m128 (a quarter
 *   of the memory cases), MOVDQU load/store (F3 0F 6F/7F) any alignment;
 * - FLD m80fp / FSTP m80fp (DB /5, DB /7): special and invalid encodings are loaded unchanged;
 *   stack overflow/underflow with random depth and masks (#MF at a later waiting instruction
 *   only, so these never fault themselves unless an exception was already pending: the FSW's
 *   ES is set from random unmasked sticky flags, then both are #MF);
 * - FXCH ST(i) (D9 C8+i), FINCSTP (D9 F7);
 * - LDMXCSR then STMXCSR (0F AE /2, /3): the round trip; reserved bits give #GP(0) (never bit 17,
 *   AMD's MM, which this host accepts: MXCSR_MASK 0x2FFFF).
 */
export function coreForms(): FpForm[] {
  const forms: FpForm[] = [];
  forms.push(
    fpForm('movaps xmm, xmm/m128 (0f 28)', 'core', (g) => {
      g.randomFpState();
      const rm = g.xmmRm(16, { align: g.rng.chance(1, 4) ? 1 : 16, kind: 'any' });
      g.emit({ op: [0x0f, 0x28], reg: g.rng.below(16), rm });
    }, { feature: 'sse' }),
    fpForm('movaps xmm/m128, xmm (0f 29)', 'core', (g) => {
      g.randomFpState();
      const rm = g.xmmRm(16, { align: g.rng.chance(1, 4) ? 1 : 16 });
      g.emit({ op: [0x0f, 0x29], reg: g.rng.below(16), rm });
    }, { feature: 'sse' }),
    fpForm('movdqu xmm, xmm/m128 (f3 0f 6f)', 'core', (g) => {
      g.randomFpState();
      const rm = g.xmmRm(16, { kind: 'int' });
      g.emit({ pfx: [0xf3], op: [0x0f, 0x6f], reg: g.rng.below(16), rm });
    }, { feature: 'sse2', faults: 'never' }),
    fpForm('movdqu xmm/m128, xmm (f3 0f 7f)', 'core', (g) => {
      g.randomFpState();
      const rm = g.xmmRm(16);
      g.emit({ pfx: [0xf3], op: [0x0f, 0x7f], reg: g.rng.below(16), rm });
    }, { feature: 'sse2', faults: 'never' }),
    fpForm('fld m80fp (db /5)', 'core', (g) => {
      g.randomFpState();
      const rm = g.memRm(10);
      g.memF80(rm.off);
      g.emit({ op: [0xdb], reg: digit(g, 5), rm });
    }, { feature: 'fpu' }),
    fpForm('fstp m80fp (db /7)', 'core', (g) => {
      g.randomFpState();
      g.emit({ op: [0xdb], reg: digit(g, 7), rm: g.memRm(10) });
    }, { feature: 'fpu' }),
    fpForm('fxch st(i) (d9 c8+i)', 'core', (g) => {
      g.randomFpState();
      g.emit({ op: [0xd9, 0xc8 + g.rng.below(8)] });
    }, { feature: 'fpu' }),
    fpForm('fincstp (d9 f7)', 'core', (g) => {
      g.randomFpState();
      g.emit({ op: [0xd9, 0xf7] });
    }, { feature: 'fpu' }),
    fpForm('ldmxcsr m32; stmxcsr m32 (0f ae /2, /3)', 'core', (g) => {
      g.randomFpState();
      const src = g.memRm(4, { align: 4, hi: 60 });
      g.randomMxcsr();
      let v = g.mxcsr();
      // Reserved bits: #GP(0). Not bit 17: AMD's MM (misaligned SSE mode, MXCSR_MASK 0x2FFFF on
      // this host) is accepted natively but is not part of the emulated model (no MisAlignSse).
      if (g.rng.chance(1, 8)) v = (v | (1 << g.rng.pick([16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]))) >>> 0;
      g.memWrite(src.off, 4, v);
      g.setMxcsr(0x1f80);
      g.emit({ op: [0x0f, 0xae], reg: digit(g, 2), rm: src });
      g.emit({ op: [0x0f, 0xae], reg: digit(g, 3), rm: g.memRm(4, { lo: 64 }) });
    }, { feature: 'sse' }),
  );
  return forms;
}

/** The FP campaign's forms: core forms and every topic's, keeping those whose feature `features` has. */
export function buildFpForms(features: ReadonlySet<string> = hostFeatures()): FpForm[] {
  const all = [...coreForms(), ...x87Forms(), ...sseFloatForms(), ...simdIntForms(), ...simdExtForms(), ...stateForms()];
  const seen = new Set<string>();
  for (const f of all) {
    if (seen.has(f.name)) throw new Error(`duplicate FP form name '${f.name}'`);
    seen.add(f.name);
  }
  return all.filter((f) => f.feature === undefined || features.has(f.feature));
}
