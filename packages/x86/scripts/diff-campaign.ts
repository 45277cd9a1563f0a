/**
 * Long differential campaigns against the host CPU, with any seed.
 *
 *   npx tsx --conditions=@hvkit/source packages/x86/scripts/diff-campaign.ts --seed 7 --count 50000000
 *
 * Options:
 *   --seed N          campaign seed (integer below 2^53; default 1)
 *   --count N         number of cases (default 2,000,000)
 *   --start N         first case index (resume or bisect a campaign; default 0)
 *   --forms REGEX     only compare forms whose name matches (the cases stay those of the full
 *                     campaign: same indices, same reports)
 *   --generate REGEX  only generate forms whose name matches (a different, focused campaign)
 *   --no-vendor       do not compare vendor-specific forms (66h-prefixed near branches)
 *   --max-reports N   full reports printed (default 50)
 *   --native-only     no emulator: run the generator's self-check on the host CPU (forms that
 *                     should never fault must not, no case may write outside the window) and
 *                     print throughput and per-form exception counts
 *   --chunk N         cases per native batch (default 16,384)
 *
 * Exit status: 0 when every case matched (or the self-check passed), 1 otherwise, 2 when the
 * native oracle cannot run on this host.
 */
import { pathToFileURL } from 'node:url';
import { compareCampaign, surveyNative } from '../test/native/differential.js';
import { runEmulator } from '../test/native/emulator-runner.js';
import { buildForms, type Form } from '../test/native/generator.js';
import { available, closeOracle, unavailableReason } from '../test/native/native-oracle.js';

function main(argv: string[]): number {
  let seed = 1;
  let count = 2_000_000;
  let start = 0;
  let chunk = 16_384;
  let maxReports = 50;
  let formRe: RegExp | undefined;
  let genRe: RegExp | undefined;
  let vendor = true;
  let nativeOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seed') seed = Number(next());
    else if (a === '--count') count = Number(next());
    else if (a === '--start') start = Number(next());
    else if (a === '--chunk') chunk = Number(next());
    else if (a === '--max-reports') maxReports = Number(next());
    else if (a === '--forms') formRe = new RegExp(next());
    else if (a === '--generate') genRe = new RegExp(next());
    else if (a === '--no-vendor') vendor = false;
    else if (a === '--native-only') nativeOnly = true;
    else {
      console.error(`unknown argument ${a}; see the header of scripts/diff-campaign.ts`);
      return 2;
    }
  }
  for (const [name, v] of [['seed', seed], ['count', count], ['start', start], ['chunk', chunk]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      console.error(`--${name} must be a non-negative integer`);
      return 2;
    }
  }
  if (!available()) {
    console.error(unavailableReason());
    return 2;
  }
  const allForms = buildForms();
  const forms = allForms.filter((f) => genRe === undefined || genRe.test(f.name));
  const include = (f: Form): boolean => (formRe === undefined || formRe.test(f.name)) && (vendor || !f.vendorSpecific);
  const t0 = performance.now();
  try {
    if (nativeOnly) {
      const s = surveyNative(seed, count, { chunk, forms: forms.filter(include), start, maxProblems: maxReports });
      const secs = (performance.now() - t0) / 1000;
      const rows = [...s.vectors].sort(([a], [b]) => a.localeCompare(b));
      for (const [name, m] of rows) {
        const parts = [...m].sort(([a], [b]) => a - b).map(([v, c]) => `${v === -1 ? 'ok' : `#${v}`}:${c}`);
        console.log(`${name.padEnd(64)} ${parts.join(' ')}`);
      }
      console.log(
        `${s.cases} cases, ${forms.length} forms (${s.vectors.size} hit), seed ${seed}: generate ${(s.generateMs / 1000).toFixed(2)} s, native ${(s.nativeMs / 1000).toFixed(2)} s ` +
          `(${(s.cases / s.nativeMs / 1000).toFixed(2)} M cases/s), total ${secs.toFixed(2)} s`,
      );
      for (const p of s.problems) console.log(`PROBLEM ${p}`);
      return s.problems.length === 0 && s.vectors.size === forms.filter(include).length ? 0 : 1;
    }
    let last = 0;
    const r = compareCampaign(runEmulator, seed, count, {
      chunk,
      forms,
      include,
      start,
      maxReports,
      onProgress: (done, total) => {
        const now = performance.now();
        if (now - last > 5000 || done === total) {
          last = now;
          console.error(`${done}/${total} cases`);
        }
      },
    });
    for (const m of r.mismatches) console.log(`${m.report}\n`);
    const worst = [...r.perFormMismatches].sort((a, b) => b[1] - a[1]).slice(0, 40);
    if (worst.length > 0) {
      console.log('mismatches per form:');
      for (const [name, n] of worst) console.log(`  ${String(n).padStart(8)} / ${String(r.perForm.get(name) ?? 0).padEnd(8)} ${name}`);
    }
    console.log(
      `seed ${seed}: ${r.compared} cases compared, ${r.mismatchCount} mismatches, ${r.invalid} unusable; ` +
        `generate ${(r.generateMs / 1000).toFixed(2)} s, native ${(r.nativeMs / 1000).toFixed(2)} s, emulator+compare ${(r.emulatorMs / 1000).toFixed(2)} s`,
    );
    return r.mismatchCount === 0 ? 0 : 1;
  } finally {
    closeOracle();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
