/**
 * Differential campaign for x87, MMX and SSE: generated snippets run with a random FXSAVE64
 * image of x87/SSE state on this machine's CPU (the native oracle, the reference) and on the
 * hvkit CPU (emulator-runner.ts); every register, RFLAGS bit, the data window, the exception
 * vector, error code and RIP, and the FP state (FCW, FSW with TOP, abridged tag, MXCSR, ST0-ST7,
 * XMM0-15) must agree. Forms: native/fp-forms.ts (core forms and the gen-*.ts topic lists).
 *
 * Fixed seed, 1,200,000 cases; `HVKIT_FP_DIFF_CASES` overrides the count, `HVKIT_FP_DIFF_SEED`
 * the seed, `HVKIT_FP_DIFF_FORMS` (a regular expression) restricts the compared forms without
 * changing which cases are generated. Skipped, with the reason, where the oracle cannot run.
 *
 * Forms with a `tolerance` (the x87 transcendentals; native/tolerance.ts) may differ by one ulp
 * of a register's 64-bit significand and in FSW.C1 after a rounded result; the test prints how
 * many of their cases matched bit for bit and fails on any difference beyond the tolerance.
 */
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { compareCampaign } from './native/differential.js';
import { runEmulator } from './native/emulator-runner.js';
import { buildFpForms } from './native/fp-forms.js';
import { FpCaseGenerator } from './native/fp-gen.js';
import { available, closeOracle, unavailableReason } from './native/native-oracle.js';

const SEED = Number(process.env.HVKIT_FP_DIFF_SEED ?? 20_251_122);
const CASES = Number(process.env.HVKIT_FP_DIFF_CASES ?? 1_200_000);
const FORMS = process.env.HVKIT_FP_DIFF_FORMS === undefined ? undefined : new RegExp(process.env.HVKIT_FP_DIFF_FORMS);

const ok = available();
const hostIsAmd = os.cpus()[0]?.model.includes('AMD') ?? false;
const forms = buildFpForms();

describe.skipIf(!ok)(`FP differential campaign against the host CPU${ok ? '' : ` (skipped: ${unavailableReason()})`}`, () => {
  afterAll(() => closeOracle());

  it(
    `${forms.length === 0 ? 0 : CASES} generated cases over ${forms.length} x87/MMX/SSE forms agree exactly (seed ${SEED})`,
    () => {
      if (forms.length === 0) {
        console.info('differential-fp: 0 forms, nothing to compare');
        return;
      }
      const res = compareCampaign(runEmulator, SEED, CASES, {
        source: new FpCaseGenerator(forms),
        maxReports: 20,
        include: (f) => (hostIsAmd || !f.vendorSpecific) && (FORMS === undefined || FORMS.test(f.name)),
      });
      const per = [...res.perForm.entries()].sort((a, b) => a[0].localeCompare(b[0]));
      console.info(
        `differential-fp: ${res.compared} cases compared over ${res.perForm.size} forms, ${res.mismatchCount} mismatches, ${res.invalid} invalid; ` +
          `generate ${(res.generateMs / 1000).toFixed(1)} s, native ${(res.nativeMs / 1000).toFixed(1)} s, emulator ${(res.emulatorMs / 1000).toFixed(1)} s\n` +
          per.map(([f, n]) => `  ${String(n).padStart(8)}  ${(res.perFormMismatches.get(f) ?? 0).toString().padStart(8)}  ${f}`).join('\n'),
      );
      // Forms with a tolerance (the x87 transcendentals, native/tolerance.ts): how many cases
      // matched bit for bit, how many only within one ulp / C1.
      const tolerant = per.filter(([f]) => forms.some((x) => x.name === f && x.tolerance !== undefined));
      if (tolerant.length > 0) {
        let n = 0;
        let tol = 0;
        const lines = tolerant.map(([f, c]) => {
          const t = res.perFormTolerated.get(f) ?? 0;
          const bad = res.perFormMismatches.get(f) ?? 0;
          n += c;
          tol += t;
          return `  ${String(c - t - bad).padStart(8)} exact  ${String(t).padStart(6)} within tolerance  ${String(bad).padStart(6)} beyond  of ${String(c).padStart(7)}  ${f}`;
        });
        console.info(`differential-fp: tolerance forms: ${n - tol} of ${n} cases bit-exact, ${tol} within tolerance\n${lines.join('\n')}`);
      }
      if (res.mismatchCount !== 0) {
        const bad = [...res.perFormMismatches.entries()].sort((a, b) => b[1] - a[1]);
        const summary = bad.map(([f, n]) => `  ${n} / ${res.perForm.get(f) ?? 0}  ${f}`).join('\n');
        const reports = res.mismatches.slice(0, 5).map((m) => m.report).join('\n\n');
        expect.fail(`${res.mismatchCount} of ${res.compared} cases differ:\n${summary}\n\n${reports}`);
      }
      if (FORMS === undefined) expect(res.compared).toBeGreaterThan(CASES * 0.9);
      expect(res.invalid).toBe(0);
    },
    60 * 60_000,
  );
});

if (!ok) {
  describe('FP differential campaign', () => {
    it.skip(`skipped: ${unavailableReason()}`, () => undefined);
  });
}
