/**
 * The differential comparison driver: generates cases, runs them on the host CPU (the
 * reference) and through an emulator runner, and reports every difference.
 *
 * Campaigns run in chunks (16,384 cases by default), so memory stays bounded whatever the
 * count. Every case is reproducible from `(seed, index)`: mismatch reports regenerate the
 * inputs rather than keeping them.
 *
 * The cases come from a `CaseSource`: the integer `CaseGenerator` by default, or the FP one
 * (fp-gen.ts `FpCaseGenerator`, `fp: true`), whose cases carry an FXSAVE64 image in and out;
 * then FCW, FSW (with TOP), the abridged tag, MXCSR, ST0-ST7 and XMM0-15 are compared too
 * (FOP/FIP/FDP are not: AMD stores them only with an exception pending, and addresses differ).
 */
import { compareFx, formatFx } from './fp-state.js';
import { type Tolerance, tolerate } from './tolerance.js';
import { CaseGenerator, type FaultKind, type Form } from './generator.js';
import {
  CaseBatch,
  CODE_BASE,
  DATA_BASE,
  DATA_SIZE,
  GPR_NAMES,
  type ResultBatch,
  runBatch,
  type SnippetCase,
  type SnippetResult,
  STATUS_FP_FRAME,
  STATUS_STRAY_WRITE,
  VECTOR_NONE,
} from './native-oracle.js';

/** What the driver needs to know of a form. */
export interface FormInfo {
  readonly name: string;
  readonly faults: FaultKind;
  readonly vendorSpecific?: boolean;
  /** Differences this form's results may show (tolerance.ts); absent: everything exact. */
  readonly tolerance?: Tolerance;
}

/** A reproducible case generator (CaseGenerator, or fp-gen.ts's FpCaseGenerator). */
export interface CaseSource<F extends FormInfo = Form> {
  readonly forms: readonly F[];
  /** Cases carry an FXSAVE64 image (`gen.fx`): FP batches. */
  readonly fp?: boolean;
  /** The case generated last. */
  readonly gen: { readonly code: Uint8Array; readonly len: number; readonly gpr: Int32Array; readonly rflags: number; readonly mem: Uint8Array; readonly fx?: Uint8Array };
  /** Generates case `index` of `seed` into `gen`; returns its form index. */
  generate(seed: number, index: number): number;
}

/** Runs one snippet on the emulator. It must not modify the case's arrays. */
export type EmulatorRunner = (c: SnippetCase) => SnippetResult;

export interface CampaignOptions<F extends FormInfo = Form> {
  /** Cases per native batch (default 16,384). */
  chunk?: number;
  /** Mismatches kept with a full report (default 50); all are counted. */
  maxReports?: number;
  /** The form list of the default integer generator (default: every form this host supports). */
  forms?: readonly Form[];
  /** The case source (default: `new CaseGenerator(forms)`). */
  source?: CaseSource<F>;
  /** Skip forms for which this returns false (their cases are generated, then not compared). */
  include?: (form: F) => boolean;
  /** First case index (default 0), to resume or bisect a campaign. */
  start?: number;
  /** RFLAGS bits compared (default: all 32 low bits). */
  rflagsMask?: number;
  /** Called after every chunk. */
  onProgress?: (done: number, total: number) => void;
}

export interface Mismatch {
  /** Case index in the campaign (regenerate with the seed). */
  index: number;
  seed: number;
  form: string;
  /** Code bytes in hex. */
  code: string;
  /** One line per differing item, e.g. `rax: native 0x... emulator 0x...`. */
  differences: string[];
  /** Full readable report: form, bytes, inputs, both results, differences. */
  report: string;
}

export interface CampaignResult {
  cases: number;
  /** Cases actually compared (after `include`). */
  compared: number;
  /** Total number of mismatching cases. */
  mismatchCount: number;
  /** The first `maxReports` mismatches with reports. */
  mismatches: Mismatch[];
  /** Compared cases per form name. */
  perForm: Map<string, number>;
  /** Mismatching cases per form name. */
  perFormMismatches: Map<string, number>;
  /** Cases of forms with a `tolerance` that matched only within it (the others matched exactly), per form name. */
  perFormTolerated: Map<string, number>;
  /** Cases the native side could not use (wrote outside the window, timed out, made a syscall): generator bugs. */
  invalid: number;
  generateMs: number;
  nativeMs: number;
  emulatorMs: number;
}

/** Generates cases `first .. first + n - 1` of `seed` into `batch`, recording each case's form. */
function fillBatch<F extends FormInfo>(gen: CaseSource<F>, batch: CaseBatch, formOf: Int32Array, seed: number, first: number, n: number): void {
  const fp = batch.fp;
  for (let i = 0; i < n; i++) {
    formOf[i] = gen.generate(seed, first + i);
    const g = gen.gen;
    batch.setParts(i, g.code, g.len, g.gpr, g.rflags, g.mem);
    if (fp) batch.setFx(i, g.fx!);
  }
}

function defaultSource<F extends FormInfo>(options: { forms?: readonly Form[]; source?: CaseSource<F> }): CaseSource<F> {
  return options.source ?? (new CaseGenerator(options.forms) as unknown as CaseSource<F>);
}

/** Runs `count` cases of campaign `seed` on the host and the emulator and compares them. */
export function compareCampaign<F extends FormInfo = Form>(runner: EmulatorRunner, seed: number, count: number, options: CampaignOptions<F> = {}): CampaignResult {
  const chunk = options.chunk ?? 16_384;
  const maxReports = options.maxReports ?? 50;
  const gen = defaultSource(options);
  const fp = gen.fp === true;
  const forms = gen.forms;
  const included = forms.map((f) => options.include?.(f) ?? true);
  const mask = options.rflagsMask ?? 0xffffffff;
  const start = options.start ?? 0;
  const res: CampaignResult = {
    cases: 0,
    compared: 0,
    mismatchCount: 0,
    mismatches: [],
    perForm: new Map(),
    perFormMismatches: new Map(),
    perFormTolerated: new Map(),
    invalid: 0,
    generateMs: 0,
    nativeMs: 0,
    emulatorMs: 0,
  };
  const formOf = new Int32Array(Math.min(chunk, count));
  let batch: CaseBatch | undefined;
  for (let done = 0; done < count; done += chunk) {
    const n = Math.min(chunk, count - done);
    if (batch?.count !== n) batch = new CaseBatch(n, fp);
    let t = performance.now();
    fillBatch(gen, batch, formOf, seed, start + done, n);
    res.generateMs += performance.now() - t;
    t = performance.now();
    const native = runBatch(batch);
    res.nativeMs += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const f = formOf[i]!;
      if (!included[f]) continue;
      const form = forms[f]!;
      res.compared++;
      res.perForm.set(form.name, (res.perForm.get(form.name) ?? 0) + 1);
      const c = batch.get(i);
      const nativeBad = native.status(i) !== 0 || native.vector(i) < VECTOR_NONE;
      let differences: string[];
      let emu: SnippetResult | undefined;
      if (nativeBad) {
        res.invalid++;
        const st = native.status(i);
        differences = [
          st & STATUS_FP_FRAME
            ? `native: the signal frame's FP state differs from the registers after sigreturn (harness bug; vector ${native.vector(i)})`
            : `native: unusable case (status ${st}, vector ${native.vector(i)}): generator bug`,
        ];
      } else {
        try {
          emu = runner(c);
          let tolerated = 0;
          if (form.tolerance !== undefined && native.fp && emu.fx !== undefined && c.fx !== undefined) {
            // Compare against a copy of the emulator's image with the tolerated differences undone.
            emu = { ...emu, fx: emu.fx.slice() };
            tolerated = tolerate(form.tolerance, c.fx, native.fxView(i)!, emu.fx!);
          }
          differences = compareResults(native, i, emu, mask);
          if (tolerated > 0 && differences.length === 0) res.perFormTolerated.set(form.name, (res.perFormTolerated.get(form.name) ?? 0) + 1);
        } catch (e) {
          differences = [`emulator threw: ${(e as Error).stack ?? String(e)}`];
        }
      }
      if (differences.length === 0) continue;
      res.mismatchCount++;
      res.perFormMismatches.set(form.name, (res.perFormMismatches.get(form.name) ?? 0) + 1);
      if (res.mismatches.length < maxReports) {
        res.mismatches.push({
          index: start + done + i,
          seed,
          form: form.name,
          code: hex(c.code),
          differences,
          report: formatReport(seed, start + done + i, form.name, c, native.get(i), emu, differences),
        });
      }
    }
    res.emulatorMs += performance.now() - t;
    res.cases += n;
    options.onProgress?.(res.cases, count);
  }
  return res;
}

const FLAG_NAMES: readonly [number, string][] = [
  [0, 'CF'],
  [2, 'PF'],
  [4, 'AF'],
  [6, 'ZF'],
  [7, 'SF'],
  [8, 'TF'],
  [9, 'IF'],
  [10, 'DF'],
  [11, 'OF'],
  [14, 'NT'],
  [16, 'RF'],
  [18, 'AC'],
  [21, 'ID'],
];

/** Names of the set bits of an RFLAGS value, e.g. `CF ZF IF`. */
export function flagNames(rflags: number): string {
  const names = FLAG_NAMES.filter(([b]) => (rflags >>> b) & 1).map(([, n]) => n);
  const known = FLAG_NAMES.reduce((m, [b]) => m | (1 << b), 2);
  const other = rflags & ~known;
  if (other !== 0) names.push(`other:0x${(other >>> 0).toString(16)}`);
  return names.join(' ');
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function q(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, '0')}_${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

/** Differences between native result `i` of `native` and an emulator result (empty: equal). */
export function compareResults(native: ResultBatch, i: number, emu: SnippetResult, rflagsMask = 0xffffffff): string[] {
  const d: string[] = [];
  const nv = native.vector(i);
  if (nv !== emu.vector) d.push(`vector: native ${nv} emulator ${emu.vector}`);
  else if (nv !== VECTOR_NONE && native.errorCode(i) !== emu.errorCode >>> 0) {
    d.push(`error code: native 0x${native.errorCode(i).toString(16)} emulator 0x${(emu.errorCode >>> 0).toString(16)}`);
  }
  const nrip = native.ripOffset(i);
  if (nrip !== emu.ripOffset) d.push(`rip: native CODE_BASE${sign(nrip)} emulator CODE_BASE${sign(emu.ripOffset)}`);
  for (let r = 0; r < 16; r++) {
    const lo = native.gprHalf(i, 2 * r);
    const hi = native.gprHalf(i, 2 * r + 1);
    if (lo !== emu.gpr[2 * r] || hi !== emu.gpr[2 * r + 1]) {
      d.push(`${GPR_NAMES[r]}: native ${q(lo, hi)} emulator ${q(emu.gpr[2 * r]!, emu.gpr[2 * r + 1]!)}`);
    }
  }
  const nf = native.rflags(i) & rflagsMask;
  const ef = emu.rflags & rflagsMask;
  if (nf !== ef) {
    d.push(`rflags: native 0x${(nf >>> 0).toString(16)} [${flagNames(nf)}] emulator 0x${(ef >>> 0).toString(16)} [${flagNames(ef)}] (differ: ${flagNames(nf ^ ef)})`);
  }
  const nm = native.memView(i);
  const diffs: string[] = [];
  for (let k = 0; k < DATA_SIZE; k++) {
    if (nm[k] !== emu.mem[k]) diffs.push(`+${k}: ${nm[k]!.toString(16).padStart(2, '0')}/${(emu.mem[k] ?? 0).toString(16).padStart(2, '0')}`);
  }
  if (diffs.length > 0) d.push(`memory (offset: native/emulator): ${diffs.slice(0, 24).join(' ')}${diffs.length > 24 ? ` ... (${diffs.length} bytes)` : ''}`);
  if (native.fp) {
    const nfx = native.fxView(i)!;
    if (emu.fx === undefined) d.push('fp state: the emulator returned no FXSAVE image');
    else compareFx(nfx, emu.fx, d);
  }
  return d;
}

function sign(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `+0x${n.toString(16)}`;
}

function formatRegs(gpr: Int32Array): string {
  const lines: string[] = [];
  for (let r = 0; r < 16; r += 4) {
    lines.push(
      [0, 1, 2, 3]
        .map((k) => `${GPR_NAMES[r + k]!.padStart(3)}=${q(gpr[2 * (r + k)]!, gpr[2 * (r + k) + 1]!)}`)
        .join(' '),
    );
  }
  return lines.map((l) => `    ${l}`).join('\n');
}

function formatMem(mem: Uint8Array): string {
  const lines: string[] = [];
  for (let o = 0; o < DATA_SIZE; o += 32) lines.push(`    +${o.toString(16).padStart(2, '0')}: ${hex(mem.subarray(o, o + 32))}`);
  return lines.join('\n');
}

function formatResult(r: SnippetResult): string {
  return [
    `    vector ${r.vector}${r.vector >= 0 ? ` error 0x${(r.errorCode >>> 0).toString(16)}` : ''} rip CODE_BASE${sign(r.ripOffset)} rflags 0x${(r.rflags >>> 0).toString(16)} [${flagNames(r.rflags)}]`,
    formatRegs(r.gpr),
    ...(r.fx === undefined ? [] : [formatFx(r.fx)]),
  ].join('\n');
}

function formatReport(
  seed: number,
  index: number,
  form: string,
  c: SnippetCase,
  native: SnippetResult,
  emu: SnippetResult | undefined,
  differences: string[],
): string {
  return [
    `case ${index} of seed ${seed}: form '${form}'`,
    `  code (at 0x${CODE_BASE.toString(16)}): ${hex(c.code)}`,
    `  input: rflags 0x${(c.rflags >>> 0).toString(16)} [${flagNames(c.rflags)}]`,
    formatRegs(c.gpr),
    ...(c.fx === undefined ? [] : ['  fp state:', formatFx(c.fx)]),
    `  window at 0x${DATA_BASE.toString(16)}:`,
    formatMem(c.mem),
    '  native:',
    formatResult(native),
    ...(emu === undefined ? [] : ['  emulator:', formatResult(emu)]),
    '  differences:',
    ...differences.map((x) => `    ${x}`),
  ].join('\n');
}

/** Runs generated cases natively only and reports what a generator self-check needs. */
export interface NativeSurvey {
  cases: number;
  /** Per form: vector -> count. */
  vectors: Map<string, Map<number, number>>;
  /** Cases of forms marked `faults: 'never'` that faulted, or any case with a native status/timeout/syscall. */
  problems: string[];
  generateMs: number;
  nativeMs: number;
}

/** Generates and runs `count` cases natively (no emulator): the generator's self-check. */
export function surveyNative<F extends FormInfo = Form>(
  seed: number,
  count: number,
  options: { chunk?: number; forms?: readonly Form[]; source?: CaseSource<F>; start?: number; maxProblems?: number } = {},
): NativeSurvey {
  const chunk = options.chunk ?? 16_384;
  const gen = defaultSource(options);
  const fp = gen.fp === true;
  const start = options.start ?? 0;
  const maxProblems = options.maxProblems ?? 50;
  const out: NativeSurvey = { cases: 0, vectors: new Map(), problems: [], generateMs: 0, nativeMs: 0 };
  const formOf = new Int32Array(Math.min(chunk, count));
  let batch: CaseBatch | undefined;
  for (let done = 0; done < count; done += chunk) {
    const n = Math.min(chunk, count - done);
    if (batch?.count !== n) batch = new CaseBatch(n, fp);
    let t = performance.now();
    fillBatch(gen, batch, formOf, seed, start + done, n);
    out.generateMs += performance.now() - t;
    t = performance.now();
    const r = runBatch(batch);
    out.nativeMs += performance.now() - t;
    for (let i = 0; i < n; i++) {
      const form = gen.forms[formOf[i]!]!;
      const v = r.vector(i);
      let m = out.vectors.get(form.name);
      if (m === undefined) out.vectors.set(form.name, (m = new Map()));
      m.set(v, (m.get(v) ?? 0) + 1);
      const bad = r.status(i) !== 0 || v < VECTOR_NONE || (form.faults === 'never' && v !== VECTOR_NONE);
      if (bad && out.problems.length < maxProblems) {
        const st = r.status(i);
        const what =
          st & STATUS_STRAY_WRITE ? 'wrote outside the window' : st & STATUS_FP_FRAME ? 'signal-frame FP state differs (harness bug)' : st !== 0 ? `status ${st} (bad input)` : `vector ${v} error 0x${r.errorCode(i).toString(16)}`;
        out.problems.push(`case ${start + done + i} '${form.name}': ${what}; code ${hex(batch.get(i).code)}; rip CODE_BASE${sign(r.ripOffset(i))}`);
      }
    }
    out.cases += n;
  }
  return out;
}
