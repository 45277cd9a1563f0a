/**
 * CPU snapshots: the architectural and run state of a {@link Cpu} as plain data (numbers,
 * booleans, strings and arrays of numbers), in the {@link DeviceSnapshot} shape the platform's
 * devices use. A snapshot taken between two `run` calls (an instruction boundary) and restored
 * into a CPU on identical RAM makes that CPU execute exactly as the original would have.
 *
 * What is saved, by `Cpu` field:
 * - registers: `gpr`/`gprHi` (both halves of RAX..R15), `ripLo`/`ripHi`, RFLAGS (the lazy
 *   arithmetic flags `fRes`/`fResHi`/`fAux` are materialized with `getEflags` and re-encoded
 *   with `setArithFlags`, which represents every combination exactly), the eight segment
 *   registers (`segSel`, `segBase`, `segBaseHi`, `segLimit`, `segAttr`), GDTR/IDTR, CR0, CR2,
 *   CR3, CR4, CR8, EFER, XCR0, DR0-DR7 (`drLo`/`drHi`), and the PAE PDPTE registers
 *   (`walker.pdptes`, SDM Vol. 3 §4.4.1: loaded at MOV CR3, not re-read from memory);
 * - MSR state: STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE, SYSENTER_CS/ESP/EIP, TSC_AUX, the
 *   TSC offset, PAT, IA32_APIC_BASE, IA32_MISC_ENABLE, IA32_FEATURE_CONTROL, the initial APIC
 *   ID, the performance-monitoring MSRs and the MTRR map;
 * - x87/MMX/SSE state (version 2): `fpLo`/`fpHi`/`fpSe` (R0-R7), `fpTop`, `fsw`, `fcw`,
 *   `fpEmpty`, `fipLo`/`fipHi`, `fcs`, `fdpLo`/`fdpHi`, `fds`, `fop`, `xmm` (XMM0-XMM15), `mxcsr`
 *   and the FERR# level `ferr` (restored without calling `onFerr`: the board's interrupt
 *   controller restores its own IRQ13 state);
 * - run state: `a20`, `halted`, `shutdown`, `waitForSipi`, `interruptShadow`, `stiShadow`,
 *   `pendingDb`, `nmiBlocked`, `nmiPending`, `icount` (the TSC is `icount + tscOffset`);
 * - `cpl` and `mode`, as a check: restore recomputes them with `updateMode` and refuses a
 *   snapshot whose values disagree with its own registers.
 *
 * Derived on restore with the CPU's own methods: `segRMax`/`segWMax` (`setSegmentRaw`),
 * `cpl`, `mode`, `decoder.mode`, `pagingMode`, `tlbSet` and the walk control (`updateMode`),
 * `dbExec`/`dbData`/`dbIo` and the DR7 they came from, `dbDr7` (`updateDebug`).
 *
 * Deliberately not saved:
 * - caches, flushed on restore (`flushCodeCache`, `flushTlb(true)`): the TLB arrays (`tlb*`),
 *   `tlbRights` and the page walks' `walkRegion`, decoded blocks (`rec`, `recUsed`, `blocks`, `codePages`), the jump cache
 *   (`jc*`), `codeGen` and `genClock` (and each TLB bank's recorded jump-cache generation);
 * - per-instruction scratch that is dead at an instruction boundary: `nipLo`/`nipHi` (set to
 *   RIP), `blockStart`, `exitBlock`, `branched`, `events`, `eaLo`/`eaHi`, `hi`, `lastLo`/
 *   `lastHi`, `msrLo`/`msrHi`, `desc`, `descUpperType`, `tssSs`/`tssEsp`, `frameScratch`,
 *   `scratchRec`/`scratchBytes`, and the exception bookkeeping `excVector`/`excError`/
 *   `excHasError`/`deliveringVector` (reset to "none");
 * - host plumbing and configuration, which belong to the machine that restores: `memory`,
 *   `io`, `model` (checked: the snapshot records the model's name and vendor), `isAmd`,
 *   `clock`, `interrupts`, `apic` (the local APIC snapshots itself), `walker` (except its
 *   PDPTEs), `decoder`, `ext`, `breakpoints`, `onEvent`, `onApicBaseWrite`, `stopRequested`,
 *   `yieldRequested` (cleared at every turn), `onFerr` (board wiring), `m128` (per-instruction
 *   scratch), `pauseYields` (the board's setting) and the
 *   statistics counters `tlbFills`, `blockLookups` and `deviceExits`;
 * - the virtualization-extension hooks, which belong to the extension's state: `extBoundary`,
 *   `extDeadline`, `cr0GuestMask`/`cr0ReadShadow`/`cr4GuestMask`/`cr4ReadShadow`,
 *   `tscOffsetLo`/`tscOffsetHi`, `initBlocked`/`initPending`, `vectoringInfo`/`vectoringError`/
 *   `vectoringInsnLen`, `gvaLo`/`gvaHi`/`gvaValid`, `slRights`, `accessSize`, `endOperation`, `curRec`, `injecting`, `intrIgnoresIf`, `intrBlocked`, `pdpteFromWalk`, and the TLB banks
 *   (`tlbBank`, `tlbBanks`, `tlbBankClock`: caches); `monitorArmed` (MONITOR's armed state, read
 *   only for the MWAIT exit qualification);
 * - `gif` (AMD's global interrupt flag: only an SVM extension clears it, and the machine refuses
 *   to save a core with GIF = 0, so a saved core always has GIF = 1);
 * - `insnShadow` (the blocking of the instruction being executed: 0 at every boundary);
 * - the RDRAND/RDSEED generator, which is module-wide entropy, not CPU state.
 *
 * A CPU in guest mode (VMX non-root / SVM guest) cannot be saved: the virtualization
 * extension's state is not part of this snapshot.
 */
import type { DeviceSnapshot } from '@hvkit/platform';
import type { Cpu } from './cpu.js';
import { setArithFlags } from './flags.js';
import { ARITH_FLAGS, EFLAGS_DEFINED, Flag } from './state.js';

/** The snapshot layout version {@link saveCpuState} writes and {@link restoreCpuState} reads. */
export const CPU_SNAPSHOT_VERSION = 2;

/** One segment register, visible and hidden parts (attributes in VMX access-rights layout). */
export type CpuSegmentState = {
  readonly selector: number;
  readonly base: number;
  readonly baseHi: number;
  readonly limit: number;
  readonly attr: number;
};

/** A descriptor-table register. */
export type CpuTableRegisterState = {
  readonly baseLo: number;
  readonly baseHi: number;
  readonly limit: number;
};

/** The MSR-backed fields, by `Cpu` field name. */
const MSR_FIELDS = [
  'starLo',
  'starHi',
  'lstarLo',
  'lstarHi',
  'cstarLo',
  'cstarHi',
  'sfmask',
  'kernelGsBaseLo',
  'kernelGsBaseHi',
  'sysenterCs',
  'sysenterEspLo',
  'sysenterEspHi',
  'sysenterEipLo',
  'sysenterEipHi',
  'tscAux',
  'specCtrl',
  'patLo',
  'patHi',
  'apicBaseLo',
  'apicBaseHi',
  'miscEnableLo',
  'miscEnableHi',
  'featureControlLo',
  'apicId',
] as const satisfies readonly (keyof Cpu)[];
type MsrField = (typeof MSR_FIELDS)[number];

/** Control registers and friends, by `Cpu` field name. */
const CONTROL_FIELDS = ['cr0', 'cr2Lo', 'cr2Hi', 'cr3Lo', 'cr3Hi', 'cr4', 'cr8', 'efer', 'xcr0'] as const satisfies readonly (keyof Cpu)[];
type ControlField = (typeof CONTROL_FIELDS)[number];

/** x87/SSE scalar fields, by `Cpu` field name. */
const FPU_FIELDS = ['fpTop', 'fsw', 'fcw', 'fpEmpty', 'fipLo', 'fipHi', 'fcs', 'fdpLo', 'fdpHi', 'fds', 'fop', 'mxcsr'] as const satisfies readonly (keyof Cpu)[];
type FpuField = (typeof FPU_FIELDS)[number];

/** Boolean run-state fields, by `Cpu` field name. */
const RUN_FLAGS = ['a20', 'halted', 'shutdown', 'waitForSipi', 'interruptShadow', 'stiShadow', 'nmiBlocked', 'nmiPending'] as const satisfies readonly (keyof Cpu)[];
type RunFlag = (typeof RUN_FLAGS)[number];

/** The state a {@link CpuSnapshot} holds. Integers are as the CPU keeps them (signed or unsigned 32-bit). */
export type CpuSnapshotState = {
  /** The model the state was taken on: a snapshot restores only onto the same model. */
  readonly model: { readonly name: string; readonly vendor: string };
  /** Low and high 32 bits of RAX..R15. */
  readonly gpr: readonly number[];
  readonly gprHi: readonly number[];
  readonly ripLo: number;
  readonly ripHi: number;
  /** RFLAGS, the arithmetic flags materialized. */
  readonly rflags: number;
  /** ES, CS, SS, DS, FS, GS, LDTR, TR. */
  readonly segments: readonly CpuSegmentState[];
  readonly gdtr: CpuTableRegisterState;
  readonly idtr: CpuTableRegisterState;
  readonly control: { readonly [K in ControlField]: number };
  /** DR0-DR7, low and high halves. */
  readonly drLo: readonly number[];
  readonly drHi: readonly number[];
  /** The PAE PDPTE registers as (lo, hi) pairs. */
  readonly pdptes: readonly number[];
  readonly msrs: { readonly [K in MsrField]: number };
  /** TSC = instructions retired + this (a double). */
  readonly tscOffset: number;
  /** Event selects 0-3 and counters 0-3, (lo, hi) pairs as in `Cpu.perfMsrs`. */
  readonly perfMsrs: readonly number[];
  /** The MTRRs that were written, as [msr, lo, hi] triples in ascending MSR order. */
  readonly mtrrs: readonly number[];
  readonly run: { readonly [K in RunFlag]: boolean } & { readonly pendingDb: number; readonly icount: number };
  /** x87 control/status/pointer fields and MXCSR; R0-R7 (significand halves, sign+exponent), XMM0-XMM15 lanes, FERR#. */
  readonly fpu: { readonly [K in FpuField]: number } & {
    readonly fpLo: readonly number[];
    readonly fpHi: readonly number[];
    readonly fpSe: readonly number[];
    readonly xmm: readonly number[];
    readonly ferr: boolean;
  };
  /** Derived state, checked on restore. */
  readonly cpl: number;
  readonly mode: number;
};

/** A CPU's saved state; JSON data only, so `structuredClone` and `JSON.stringify` keep it whole. */
export type CpuSnapshot = {
  readonly version: number;
  readonly state: CpuSnapshotState;
};

/** A snapshot that cannot be taken or restored; the message says why. */
export class CpuSnapshotError extends Error {
  override readonly name = 'CpuSnapshotError';
}

/** Saves `cpu`'s state. Call between `run` calls (at an instruction boundary). The result shares nothing with the CPU. */
export function saveCpuState(cpu: Cpu): CpuSnapshot {
  if (cpu.guestMode) throw new CpuSnapshotError('cannot save a CPU in guest mode: the virtualization extension state is not part of the CPU snapshot');
  return { version: CPU_SNAPSHOT_VERSION, state: capture(cpu) };
}

function capture(cpu: Cpu): CpuSnapshotState {
  const segments: CpuSegmentState[] = [];
  for (let s = 0; s < 8; s++) {
    segments.push({ selector: cpu.segSel[s]!, base: cpu.segBase[s]!, baseHi: cpu.segBaseHi[s]!, limit: cpu.segLimit[s]!, attr: cpu.segAttr[s]! });
  }
  const control = {} as Record<ControlField, number>;
  for (const k of CONTROL_FIELDS) control[k] = cpu[k];
  const msrs = {} as Record<MsrField, number>;
  for (const k of MSR_FIELDS) msrs[k] = cpu[k];
  const mtrrs: number[] = [];
  for (const msr of [...cpu.mtrrs.keys()].sort((a, b) => a - b)) {
    const v = cpu.mtrrs.get(msr)!;
    mtrrs.push(msr, v[0], v[1]);
  }
  const run = {} as Record<RunFlag, boolean>;
  for (const k of RUN_FLAGS) run[k] = cpu[k];
  const fpu = {} as Record<FpuField, number>;
  for (const k of FPU_FIELDS) fpu[k] = cpu[k];
  return {
    model: { name: cpu.model.name, vendor: cpu.model.vendor },
    gpr: Array.from(cpu.gpr),
    gprHi: Array.from(cpu.gprHi),
    ripLo: cpu.ripLo,
    ripHi: cpu.ripHi,
    rflags: cpu.getEflags(),
    segments,
    gdtr: { baseLo: cpu.gdtrBaseLo, baseHi: cpu.gdtrBaseHi, limit: cpu.gdtrLimit },
    idtr: { baseLo: cpu.idtrBaseLo, baseHi: cpu.idtrBaseHi, limit: cpu.idtrLimit },
    control,
    drLo: Array.from(cpu.drLo),
    drHi: Array.from(cpu.drHi),
    pdptes: Array.from(cpu.walker.pdptes),
    msrs,
    tscOffset: cpu.tscOffset,
    perfMsrs: Array.from(cpu.perfMsrs),
    mtrrs,
    run: { ...run, pendingDb: cpu.pendingDb, icount: cpu.icount },
    fpu: { ...fpu, fpLo: Array.from(cpu.fpLo), fpHi: Array.from(cpu.fpHi), fpSe: Array.from(cpu.fpSe), xmm: Array.from(cpu.xmm), ferr: cpu.ferr },
    cpl: cpu.cpl,
    mode: cpu.mode,
  };
}

/**
 * Restores a snapshot from {@link saveCpuState} into `cpu` (a fresh CPU or the same one): every
 * saved field is written, derived state is recomputed, and the TLB and decoded-code caches are
 * flushed. Throws {@link CpuSnapshotError}, leaving `cpu` unchanged, for a snapshot of another
 * version or CPU model, of the wrong shape, or whose CPL / code mode disagree with its registers.
 */
export function restoreCpuState(cpu: Cpu, snapshot: CpuSnapshot | DeviceSnapshot): void {
  const state = parse(snapshot, cpu);
  const backup = capture(cpu);
  const wasGuest = cpu.guestMode;
  apply(cpu, state);
  if (cpu.cpl !== state.cpl || cpu.mode !== state.mode) {
    const what = `CPL ${state.cpl} and code mode ${state.mode}, but its registers give CPL ${cpu.cpl} and mode ${cpu.mode}`;
    apply(cpu, backup);
    cpu.guestMode = wasGuest;
    throw new CpuSnapshotError(`CPU snapshot is inconsistent: it records ${what}`);
  }
}

function apply(cpu: Cpu, s: CpuSnapshotState): void {
  cpu.gpr.set(s.gpr);
  cpu.gprHi.set(s.gprHi);
  cpu.ripLo = s.ripLo;
  cpu.ripHi = s.ripHi;
  cpu.nipLo = s.ripLo;
  cpu.nipHi = s.ripHi;
  // Control registers and RFLAGS first: the segment fast limits depend on CR0.PE and EFLAGS.VM.
  for (const k of CONTROL_FIELDS) cpu[k] = s.control[k];
  cpu.flags = (s.rflags & EFLAGS_DEFINED & ~ARITH_FLAGS) | Flag.Fixed1;
  setArithFlags(cpu, s.rflags);
  cpu.guestMode = false;
  s.segments.forEach((g, i) => cpu.setSegmentRaw(i, g.selector, g.base, g.limit, g.attr, g.baseHi));
  cpu.gdtrBaseLo = s.gdtr.baseLo;
  cpu.gdtrBaseHi = s.gdtr.baseHi;
  cpu.gdtrLimit = s.gdtr.limit;
  cpu.idtrBaseLo = s.idtr.baseLo;
  cpu.idtrBaseHi = s.idtr.baseHi;
  cpu.idtrLimit = s.idtr.limit;
  cpu.drLo.set(s.drLo);
  cpu.drHi.set(s.drHi);
  cpu.walker.pdptes.set(s.pdptes);
  for (const k of MSR_FIELDS) cpu[k] = s.msrs[k];
  cpu.tscOffset = s.tscOffset;
  cpu.perfMsrs.set(s.perfMsrs);
  cpu.mtrrs.clear();
  for (let i = 0; i < s.mtrrs.length; i += 3) cpu.mtrrs.set(s.mtrrs[i]!, [s.mtrrs[i + 1]!, s.mtrrs[i + 2]!]);
  for (const k of RUN_FLAGS) cpu[k] = s.run[k];
  cpu.pendingDb = s.run.pendingDb;
  cpu.icount = s.run.icount;
  for (const k of FPU_FIELDS) cpu[k] = s.fpu[k];
  cpu.fpLo.set(s.fpu.fpLo);
  cpu.fpHi.set(s.fpu.fpHi);
  cpu.fpSe.set(s.fpu.fpSe);
  cpu.xmm.set(s.fpu.xmm);
  cpu.ferr = s.fpu.ferr;
  cpu.excVector = -1;
  cpu.deliveringVector = -1;
  cpu.branched = false;
  cpu.updateMode();
  cpu.updateDebug();
  cpu.flushCodeCache();
  cpu.flushTlb(true);
}

// ---- validation -----------------------------------------------------------------------------

function fail(message: string): never {
  throw new CpuSnapshotError(`CPU snapshot: ${message}`);
}

function record(v: unknown, where: string): Readonly<Record<string, unknown>> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail(`"${where}" is not an object`);
  return v as Readonly<Record<string, unknown>>;
}

/** A 32-bit register value as the CPU keeps it: signed or unsigned. */
function isWord(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x8000_0000 && v <= 0xffff_ffff;
}

function word(o: Readonly<Record<string, unknown>>, key: string, where: string): number {
  const v = o[key];
  if (!isWord(v)) fail(`"${where}.${key}" is not a 32-bit integer`);
  return v;
}

function uint(o: Readonly<Record<string, unknown>>, key: string, where: string, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(`"${where}.${key}" is not an integer from 0 to ${max}`);
  return v;
}

function bool(o: Readonly<Record<string, unknown>>, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`"${where}.${key}" is not a boolean`);
  return v;
}

function words(o: Readonly<Record<string, unknown>>, key: string, length: number): number[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length !== length || !v.every(isWord)) fail(`"${key}" is not an array of ${length} 32-bit integers`);
  return v as number[];
}

/** Checks the whole snapshot before anything is written, and returns it typed. */
function parse(snapshot: CpuSnapshot | DeviceSnapshot, cpu: Cpu): CpuSnapshotState {
  const top = record(snapshot, 'snapshot');
  if (top['version'] !== CPU_SNAPSHOT_VERSION) fail(`unsupported version ${String(top['version'])} (this CPU reads version ${CPU_SNAPSHOT_VERSION})`);
  const s = record(top['state'], 'state');
  const model = record(s['model'], 'model');
  if (model['name'] !== cpu.model.name || model['vendor'] !== cpu.model.vendor) {
    fail(`taken on CPU model "${String(model['name'])}" (${String(model['vendor'])}), cannot restore onto "${cpu.model.name}" (${cpu.model.vendor})`);
  }
  const rflags = word(s, 'rflags', 'state');
  if ((rflags & ~(EFLAGS_DEFINED | Flag.Fixed1)) !== 0 || (rflags & Flag.Fixed1) === 0) fail(`"state.rflags" 0x${(rflags >>> 0).toString(16)} has reserved bits wrong`);
  const rawSegs = s['segments'];
  if (!Array.isArray(rawSegs) || rawSegs.length !== 8) fail('"segments" is not an array of 8 segment registers');
  const segments = rawSegs.map((g: unknown, i): CpuSegmentState => {
    const where = `segments[${i}]`;
    const o = record(g, where);
    return { selector: uint(o, 'selector', where, 0xffff), base: word(o, 'base', where), baseHi: word(o, 'baseHi', where), limit: uint(o, 'limit', where, 0xffff_ffff), attr: word(o, 'attr', where) };
  });
  const table = (key: string): CpuTableRegisterState => {
    const o = record(s[key], key);
    return { baseLo: word(o, 'baseLo', key), baseHi: word(o, 'baseHi', key), limit: uint(o, 'limit', key, 0xffff) };
  };
  const c = record(s['control'], 'control');
  const control = {} as Record<ControlField, number>;
  for (const k of CONTROL_FIELDS) control[k] = word(c, k, 'control');
  const m = record(s['msrs'], 'msrs');
  const msrs = {} as Record<MsrField, number>;
  // IA32_SPEC_CTRL came after version 2's first snapshots: absent means 0.
  for (const k of MSR_FIELDS) msrs[k] = k === 'specCtrl' && m[k] === undefined ? 0 : word(m, k, 'msrs');
  const tscOffset = s['tscOffset'];
  if (typeof tscOffset !== 'number' || !Number.isFinite(tscOffset)) fail('"state.tscOffset" is not a finite number');
  const mtrrs = s['mtrrs'];
  if (!Array.isArray(mtrrs) || mtrrs.length % 3 !== 0 || !mtrrs.every(isWord)) fail('"mtrrs" is not an array of [msr, lo, hi] triples');
  const r = record(s['run'], 'run');
  const run = {} as Record<RunFlag, boolean>;
  for (const k of RUN_FLAGS) run[k] = bool(r, k, 'run');
  const icount = r['icount'];
  if (typeof icount !== 'number' || !Number.isSafeInteger(icount) || icount < 0) fail('"run.icount" is not a non-negative safe integer');
  const f = record(s['fpu'], 'fpu');
  const fpu = {} as Record<FpuField, number>;
  for (const k of FPU_FIELDS) fpu[k] = word(f, k, 'fpu');
  fpu.fpTop = uint(f, 'fpTop', 'fpu', 7);
  fpu.fcw = uint(f, 'fcw', 'fpu', 0xffff);
  fpu.fsw = uint(f, 'fsw', 'fpu', 0xffff);
  fpu.fpEmpty = uint(f, 'fpEmpty', 'fpu', 0xff);
  fpu.fop = uint(f, 'fop', 'fpu', 0x7ff);
  fpu.fcs = uint(f, 'fcs', 'fpu', 0xffff);
  fpu.fds = uint(f, 'fds', 'fpu', 0xffff);
  return {
    model: { name: cpu.model.name, vendor: cpu.model.vendor },
    gpr: words(s, 'gpr', 16),
    gprHi: words(s, 'gprHi', 16),
    ripLo: word(s, 'ripLo', 'state'),
    ripHi: word(s, 'ripHi', 'state'),
    rflags,
    segments,
    gdtr: table('gdtr'),
    idtr: table('idtr'),
    control,
    drLo: words(s, 'drLo', 8),
    drHi: words(s, 'drHi', 8),
    pdptes: words(s, 'pdptes', 8),
    msrs,
    tscOffset,
    perfMsrs: words(s, 'perfMsrs', 16),
    mtrrs: mtrrs as number[],
    run: { ...run, pendingDb: uint(r, 'pendingDb', 'run', 0xffff_ffff), icount },
    fpu: { ...fpu, fpLo: words(f, 'fpLo', 8), fpHi: words(f, 'fpHi', 8), fpSe: words(f, 'fpSe', 8), xmm: words(f, 'xmm', 64), ferr: bool(f, 'ferr', 'fpu') },
    cpl: uint(s, 'cpl', 'state', 3),
    mode: uint(s, 'mode', 'state', 2),
  };
}
