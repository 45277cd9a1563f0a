/**
 * Differential test of the instruction decoder against iced-x86 (a reference x86 decoder).
 *
 * Random byte streams, biased towards the interesting parts of the encoding space (prefixes,
 * REX, the 0F/0F38/0F3A escapes, VEX, ModRM/SIB), are decoded by both decoders in 16-, 32- and
 * 64-bit mode (and in 64-bit mode with AMD decoding rules). The rules checked:
 *
 * 1. Every stream our decoder accepts (handler id not {@link OP_UD}) iced must accept too, with
 *    the same length, the same ModRM memory operand (base, index, scale, displacement and
 *    effective segment) and the same immediates. {@link OP_TOO_LONG} (#GP for an instruction
 *    over 15 bytes) counts as "invalid", the way iced reports it; so do handlers that always
 *    fault ({@link FAULT_ONLY_HANDLERS}).
 * 2. Every stream iced accepts whose instruction belongs to the ISA the core claims (decided by
 *    iced's CPUID feature list, {@link IN_SCOPE_FEATURES}) we must accept too, unless its iced
 *    `Code` is in the caller's "not implemented yet" list.
 * 3. Every stream iced accepts whose instruction is outside that ISA (x87, MMX, SSE, AVX, ...)
 *    must be #UD for us, unless its `Code` is in the caller's "allowed out of scope" list.
 *
 * Used by test/decoder-iced.test.ts (fixed seed) and runnable on its own for longer campaigns:
 *
 *     npx tsx scripts/decoder-campaign.ts [--seed N] [--count N] [--max-report N] [--list-unimplemented]
 */
import { pathToFileURL } from 'node:url';
import { Code, CpuidFeature, Decoder as IcedDecoder, DecoderOptions, Formatter, FormatterSyntax, Instruction, OpKind, Register } from 'iced-x86';
import '../src/cpu.js'; // installs every handler into the opcode maps
import { I_ASZ_SHIFT, I_MEM, I_SEG_SHIFT, NO_REG, R_DISP, R_IMM, R_IMM2, R_INFO, R_RM, R_SIB, RIP_BASE } from '../src/decoded.js';
import { Decoder, OP_TOO_LONG, OP_UD } from '../src/decoder.js';
import { HANDLER_NAMES } from '../src/optable.js';
import { CodeMode } from '../src/state.js';

/** Bytes per stream: every instruction is at most 15 bytes, so both decoders see the same bytes. */
export const STREAM_BYTES = 16;

/**
 * CPUID features of the integer and system ISA the core claims (see model.ts). An instruction
 * iced tags only with these is "in scope"; anything else (FPU, MMX, SSE*, AVX*, XSAVE, CET,
 * TSX, ...) is out of scope and must raise #UD for now.
 */
export const IN_SCOPE_FEATURES: ReadonlySet<number> = new Set([
  CpuidFeature.INTEL8086,
  CpuidFeature.INTEL186,
  CpuidFeature.INTEL286,
  CpuidFeature.INTEL386,
  CpuidFeature.INTEL486,
  CpuidFeature.X64,
  CpuidFeature.CMOV,
  CpuidFeature.CX8,
  CpuidFeature.CMPXCHG16B,
  CpuidFeature.BMI1,
  CpuidFeature.BMI2,
  CpuidFeature.ADX,
  CpuidFeature.MOVBE,
  CpuidFeature.POPCNT,
  CpuidFeature.LZCNT,
  CpuidFeature.RDRAND,
  CpuidFeature.RDSEED,
  CpuidFeature.FSGSBASE,
  CpuidFeature.SYSCALL,
  CpuidFeature.SEP,
  CpuidFeature.RDTSCP,
  CpuidFeature.RDPID,
  CpuidFeature.MONITOR,
  CpuidFeature.TSC,
  CpuidFeature.MSR,
  CpuidFeature.CPUID,
  CpuidFeature.CLFSH,
  CpuidFeature.CLFLUSHOPT,
  CpuidFeature.INVPCID,
  CpuidFeature.PAUSE,
  CpuidFeature.SMAP,
  CpuidFeature.VMX,
  CpuidFeature.INVEPT,
  CpuidFeature.INVVPID,
  CpuidFeature.SVM,
  CpuidFeature.SKINIT_or_SVM,
  CpuidFeature.MULTIBYTENOP,
  CpuidFeature.RDPMC,
  // Issue 5: x87, MMX, SSE..SSE4.2, FXSAVE/XSAVE (src/fpu/).
  CpuidFeature.FPU,
  CpuidFeature.FPU287,
  CpuidFeature.FPU387,
  CpuidFeature.MMX,
  CpuidFeature.FXSR,
  CpuidFeature.SSE,
  CpuidFeature.SSE2,
  CpuidFeature.SSE3,
  CpuidFeature.XSAVE,
  CpuidFeature.XSAVEOPT,
  CpuidFeature.SSSE3,
  CpuidFeature.SSE4_1,
  CpuidFeature.SSE4_2,
]);

/**
 * Instructions that are valid encodings but whose whole architectural effect is #UD
 * (UD0, UD1, UD2): our decoder may map them to the #UD handler.
 */
const ARCH_UD = new Set<number>([Code.Ud0, Code.Ud0_r16_rm16, Code.Ud0_r32_rm32, Code.Ud0_r64_rm64, Code.Ud1_r16_rm16, Code.Ud1_r32_rm32, Code.Ud1_r64_rm64, Code.Ud2]);

/**
 * Hint-space instructions outside the claimed ISA that the core executes as NOPs, as the
 * modelled CPUs do: the prefetch hints (0F 0D, 0F 18 /0-3, /6-7), CLDEMOTE (0F 1C /0), and
 * the CET instructions that are NOPs while CET is off (ENDBR32/64, RDSSPD/Q) (SDM Vol. 2
 * "NOP" and Table A-3's 0F 18-1F hint space; SDM Vol. 1 §18.3 for CET-disabled behaviour).
 */
export const HINT_NOPS: ReadonlySet<string> = new Set([
  'Prefetch_m8',
  'Prefetchw_m8',
  'Prefetchwt1_m8',
  'Prefetchreserved3_m8',
  'Prefetchreserved4_m8',
  'Prefetchreserved5_m8',
  'Prefetchreserved6_m8',
  'Prefetchreserved7_m8',
  'Prefetchnta_m8',
  'Prefetcht0_m8',
  'Prefetcht1_m8',
  'Prefetcht2_m8',
  'Prefetchit0_m8',
  'Prefetchit1_m8',
  'Cldemote_m8',
  'Endbr32',
  'Endbr64',
  'Rdsspd_r32',
  'Rdsspq_r64',
]);

/**
 * Instructions outside the claimed ISA (by iced's CPUID tags) that the core executes anyway:
 * the hint NOPs, and instructions other groups implemented on purpose. The lead decides
 * whether CPUID should advertise them (SSE2 fences, SSE4.2 CRC32, XSAVE's XGETBV/XSETBV).
 */
export const IMPLEMENTED_OUT_OF_SCOPE: ReadonlySet<string> = new Set([
  ...HINT_NOPS,
  // LFENCE/MFENCE/SFENCE (SSE/SSE2); ModRM.rm is ignored, so iced has a code per rm.
  'Lfence',
  'Lfence_E9',
  'Lfence_EA',
  'Lfence_EB',
  'Lfence_EC',
  'Lfence_ED',
  'Lfence_EE',
  'Lfence_EF',
  'Mfence',
  'Mfence_F1',
  'Mfence_F2',
  'Mfence_F3',
  'Mfence_F4',
  'Mfence_F5',
  'Mfence_F6',
  'Mfence_F7',
  'Sfence',
  'Sfence_F9',
  'Sfence_FA',
  'Sfence_FB',
  'Sfence_FC',
  'Sfence_FD',
  'Sfence_FE',
  'Sfence_FF',
  // CRC32 (SSE4.2).
  'Crc32_r32_rm8',
  'Crc32_r64_rm8',
  'Crc32_r32_rm16',
  'Crc32_r32_rm32',
  'Crc32_r64_rm64',
  // XGETBV/XSETBV (XSAVE): #UD unless CR4.OSXSAVE.
  'Xgetbv',
  'Xsetbv',
  // F3 0F 09 is WBNOINVD where supported and WBINVD (F3 ignored) where not, as here.
  'Wbnoinvd',
]);

/**
 * Handlers whose every execution faults: UD0/UD1/UD2 (#UD), the x87 escapes D8-DF, which
 * raise #NM (CR0.EM or CR0.TS) or #UD until the x87 unit lands, and RSM outside a guest. For the
 * comparison they count as #UD.
 */
export const FAULT_ONLY_HANDLERS: ReadonlySet<string> = new Set([
  'ud0/ud1/ud2',
  'x87 escape',
  // RSM: this core has no SMM, so RSM raises #UD; it decodes as an instruction only so that an
  // SVM guest's RSM intercept (APM Vol. 2 §15.9) can see it before the #UD.
  'rsm',
]);

/** The decoding flavours compared. */
export interface Flavour {
  readonly name: string;
  readonly mode: CodeMode;
  readonly bitness: 16 | 32 | 64;
  readonly amd: boolean;
}
export const FLAVOURS: readonly Flavour[] = [
  { name: '16-bit', mode: CodeMode.Bits16, bitness: 16, amd: false },
  { name: '32-bit', mode: CodeMode.Bits32, bitness: 32, amd: false },
  { name: '64-bit', mode: CodeMode.Bits64, bitness: 64, amd: false },
  { name: '16-bit AMD', mode: CodeMode.Bits16, bitness: 16, amd: true },
  { name: '32-bit AMD', mode: CodeMode.Bits32, bitness: 32, amd: true },
  { name: '64-bit AMD', mode: CodeMode.Bits64, bitness: 64, amd: true },
];

// ---- random streams -----------------------------------------------------------------------

/** A small, fast, seedable PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0;
  }
  /** A uniformly random 32-bit unsigned integer. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
  byte(): number {
    return this.u32() & 0xff;
  }
}

const LEGACY_PREFIXES = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/**
 * Fills `out[at..at+16)` with one biased random stream: some prefixes (legacy and REX), an
 * opcode from the one-byte, 0F, 0F38, 0F3A or VEX maps, then random ModRM/SIB/tail bytes.
 */
export function randomStream(rng: Rng, out: Uint8Array, at: number): void {
  let p = at;
  const end = at + STREAM_BYTES;
  const r0 = rng.below(100);
  const nPfx = r0 < 45 ? 0 : r0 < 70 ? 1 : r0 < 85 ? 2 : r0 < 93 ? 3 : 4 + rng.below(4);
  for (let i = 0; i < nPfx; i++) {
    out[p++] = rng.below(5) === 0 ? 0x40 | rng.below(16) : LEGACY_PREFIXES[rng.below(LEGACY_PREFIXES.length)]!;
  }
  if (rng.below(4) === 0) out[p++] = 0x40 | rng.below(16); // REX right before the opcode
  const kind = rng.below(100);
  if (kind < 38) {
    out[p++] = rng.byte();
  } else if (kind < 66) {
    out[p++] = 0x0f;
    out[p++] = rng.byte();
  } else if (kind < 74) {
    out[p++] = 0x0f;
    out[p++] = 0x38;
    out[p++] = rng.below(3) === 0 ? 0xf0 | rng.below(16) : rng.byte();
  } else if (kind < 80) {
    out[p++] = 0x0f;
    out[p++] = 0x3a;
    out[p++] = rng.byte();
  } else if (kind < 92) {
    // VEX: in 16/32-bit mode C4/C5 are VEX only if the next byte looks like ModRM.mod = 3.
    const c4 = rng.below(2) === 0;
    out[p++] = c4 ? 0xc4 : 0xc5;
    if (c4) {
      const m = rng.below(8);
      const mmmmm = m < 2 ? 1 : m < 5 ? 2 : m < 7 ? 3 : rng.below(32);
      out[p++] = (rng.below(3) === 0 ? 0xe0 : rng.byte() & 0xe0) | mmmmm;
      out[p++] = rng.byte();
      out[p++] = mmmmm === 2 && rng.below(2) === 0 ? 0xf0 | rng.below(8) : mmmmm === 3 && rng.below(3) === 0 ? 0xf0 : rng.byte();
    } else {
      out[p++] = rng.below(3) === 0 ? 0xc0 | rng.below(64) : rng.byte();
      out[p++] = rng.byte();
    }
  } else {
    // Fully random.
  }
  while (p < end) out[p++] = rng.byte();
}

/**
 * Deterministic sweep: every opcode of `map` ('1b', '0f', '0f38', '0f3a') with every ModRM
 * byte, behind each prefix set of {@link SWEEP_PREFIXES}, followed by `tail` bytes.
 */
export function makeSweep(map: '1b' | '0f' | '0f38' | '0f3a', tail: number): Uint8Array {
  const esc = map === '1b' ? [] : map === '0f' ? [0x0f] : map === '0f38' ? [0x0f, 0x38] : [0x0f, 0x3a];
  const n = SWEEP_PREFIXES.length * 256 * 256;
  const buf = new Uint8Array(n * STREAM_BYTES);
  let at = 0;
  for (const pfx of SWEEP_PREFIXES) {
    for (let op = 0; op < 256; op++) {
      for (let m = 0; m < 256; m++) {
        let p = at;
        for (const b of pfx) buf[p++] = b;
        for (const b of esc) buf[p++] = b;
        buf[p++] = op;
        buf[p++] = m;
        while (p < at + STREAM_BYTES) buf[p++] = tail;
        at += STREAM_BYTES;
      }
    }
  }
  return buf;
}
/**
 * Deterministic VEX sweep: C4 with maps 0F/0F38/0F3A (R/X/B all clear or R set), every
 * W/vvvv/L/pp byte and every opcode; C5 with every second byte and opcode; ModRM bytes covering reg 0-3, register and memory forms.
 */
const VEX_MODRMS = [0xc1, 0x0c, 0xd3, 0x1d];
export function makeVexSweep(): Uint8Array {
  const P1 = [0xe1, 0xe2, 0xe3, 0x62];
  const n = (P1.length * 256 + 256) * 256 * VEX_MODRMS.length;
  const buf = new Uint8Array(n * STREAM_BYTES).fill(0x11);
  let at = 0;
  const put = (...bytes: number[]): void => {
    buf.set(bytes, at);
    at += STREAM_BYTES;
  };
  for (const p1 of P1) for (let p2 = 0; p2 < 256; p2++) for (let op = 0; op < 256; op++) for (const m of VEX_MODRMS) put(0xc4, p1, p2, op, m);
  for (let p1 = 0; p1 < 256; p1++) for (let op = 0; op < 256; op++) for (const m of VEX_MODRMS) put(0xc5, p1, op, m);
  return buf;
}

/** Prefix sets of the sweeps. */
export const SWEEP_PREFIXES: readonly (readonly number[])[] = [[], [0x66], [0x67], [0xf3], [0xf2], [0xf0], [0x48], [0x66, 0xf2], [0xf0, 0x66]];

/** Fills a buffer with `count` streams from `seed`. */
export function makeStreams(seed: number, count: number): Uint8Array {
  const rng = new Rng(seed);
  const buf = new Uint8Array(count * STREAM_BYTES);
  for (let i = 0; i < count; i++) randomStream(rng, buf, i * STREAM_BYTES);
  return buf;
}

// ---- comparison ---------------------------------------------------------------------------

export const MismatchKind = {
  /** We accept, iced rejects. */
  AcceptedInvalid: 'we accept, iced says invalid',
  /** Both accept, lengths differ. */
  Length: 'length differs',
  /** We say too long (#GP), iced decodes a valid instruction. */
  TooLong: 'we say too long, iced says valid',
  /** iced accepts an in-scope instruction we reject (and it is not listed as not implemented). */
  Unimplemented: 'in-scope instruction is #UD (not in the not-implemented list)',
  /** We accept an out-of-scope (x87/SSE/...) instruction. */
  OutOfScope: 'out-of-scope instruction is not #UD',
  /** Both accept with the same length, but the ModRM memory operand decodes differently. */
  Operand: 'memory operand differs',
  /** Both accept with the same length, but the immediate decodes differently. */
  Immediate: 'immediate differs',
  /** We say #UD (not implemented) but the length our format tables give differs from iced's. */
  FormatLength: 'format length differs (#UD today, wrong once implemented)',
} as const;
export type MismatchKind = (typeof MismatchKind)[keyof typeof MismatchKind];

export interface Mismatch {
  kind: MismatchKind;
  flavour: string;
  bytes: string;
  iced: string;
  icedCode: string;
  icedLength: number;
  ours: string;
  ourLength: number;
}

export interface CampaignOptions {
  /** iced `Code` names that are in scope but not implemented yet (must be #UD). */
  notImplemented?: ReadonlySet<string>;
  /** iced `Code` names outside the claimed ISA that we may nevertheless execute (default {@link IMPLEMENTED_OUT_OF_SCOPE}). */
  allowedOutOfScope?: ReadonlySet<string>;
  /** Flavours to run (default: all). */
  flavours?: readonly Flavour[];
  /** Stop recording mismatch details after this many (counting goes on). */
  maxReport?: number;
  /**
   * Also compare lengths of instructions we decode as #UD: `'in-scope'` for iced-valid
   * instructions of the claimed ISA, `'all'` for every iced-valid instruction.
   */
  formats?: 'none' | 'in-scope' | 'all';
}

export interface CampaignResult {
  streams: number;
  decodes: number;
  mismatches: Mismatch[];
  mismatchCount: number;
  /** Decodes where both accept (the length was compared). */
  bothValid: number;
  /** In-scope iced codes we report #UD for, listed as not implemented: code name → count. */
  notImplementedSeen: Map<string, number>;
  /** In-scope iced codes we report #UD for, not listed: code name → count. */
  unimplementedSeen: Map<string, number>;
  /** Codes in the not-implemented list that we now accept (the list should shrink). */
  listedButImplemented: Set<string>;
  ms: number;
}

const enum Scope {
  Unknown = 0,
  In = 1,
  Out = 2,
  ArchUd = 3,
}

const codeNames = Code as unknown as Record<number, string>;
const featureNames = CpuidFeature as unknown as Record<number, string>;

/** Whether each iced code belongs to the claimed ISA (cached). */
const scopeOf = new Uint8Array(4096);
function classify(ins: Instruction, code: number): number {
  let s = scopeOf[code]!;
  if (s !== Scope.Unknown) return s;
  if (ARCH_UD.has(code)) s = Scope.ArchUd;
  else {
    s = Scope.In;
    for (const f of ins.cpuidFeatures()) if (!IN_SCOPE_FEATURES.has(f)) s = Scope.Out;
  }
  scopeOf[code] = s;
  return s;
}

/** The CPUID features iced lists for a code, by name. */
export function featuresOf(code: number): string[] {
  const ins = Instruction.create(code);
  try {
    return Array.from(ins.cpuidFeatures(), (f) => featureNames[f] ?? String(f));
  } finally {
    ins.free();
  }
}

const registerNames = Register as unknown as Record<number, string>;
const GPR_NAMES = ['AX', 'CX', 'DX', 'BX', 'SP', 'BP', 'SI', 'DI'];
/** Our register number for an iced register (GPR of any width; RIP/EIP), NO_REG for none, -1 otherwise. */
const regIndexCache = new Map<number, number>();
function regIndex(r: number): number {
  let v = regIndexCache.get(r);
  if (v !== undefined) return v;
  const n = registerNames[r] ?? '';
  if (r === Register.None) v = NO_REG;
  else if (n === 'RIP' || n === 'EIP') v = RIP_BASE;
  else if (/^R\d+[DWB]?$/.test(n)) v = parseInt(n.slice(1), 10);
  else {
    const base = n.length === 3 && (n[0] === 'E' || n[0] === 'R') ? n.slice(1) : n;
    v = GPR_NAMES.indexOf(base);
  }
  regIndexCache.set(r, v);
  return v;
}
const SEG_REGS = [Register.ES, Register.CS, Register.SS, Register.DS, Register.FS, Register.GS];

/**
 * Compares our ModRM memory operand with iced's: base, index, scale, displacement (not for
 * RIP-relative forms, where iced gives the target) and the effective segment (outside 64-bit
 * mode, or FS/GS). Returns what differs, or null.
 */
/** Operand kinds per iced code (they depend on the code alone). */
const opKindsOf: (Int8Array | undefined)[] = [];
function opKinds(ins: Instruction, code: number): Int8Array {
  let k = opKindsOf[code];
  if (k === undefined) {
    k = new Int8Array(ins.opCount);
    for (let i = 0; i < k.length; i++) k[i] = ins.opKind(i);
    opKindsOf[code] = k;
  }
  return k;
}

function compareMemory(ins: Instruction, rec: Int32Array, is64: boolean, code: number): string | null {
  if (!opKinds(ins, code).includes(OpKind.Memory)) return null;
  const rm = rec[R_RM]!;
  const sib = rec[R_SIB]!;
  const base = regIndex(ins.memoryBase);
  const index = regIndex(ins.memoryIndex);
  if (base < 0 || index < 0) return null; // not a general-purpose addressing form
  if (rm !== base) return `base ${rm} vs iced ${registerNames[ins.memoryBase]}`;
  const ourIndex = sib === NO_REG ? NO_REG : sib & 0xff;
  if (ourIndex !== index) return `index ${ourIndex} vs iced ${registerNames[ins.memoryIndex]}`;
  if (index !== NO_REG && 1 << (sib >> 8) !== ins.memoryIndexScale) return `scale ${1 << (sib >> 8)} vs iced ${ins.memoryIndexScale}`;
  const asz = (rec[R_INFO]! >>> I_ASZ_SHIFT) & 3;
  if (rm !== RIP_BASE) {
    const bits = asz === 1 ? 16 : 32;
    const theirs = Number(BigInt.asUintN(bits, ins.memoryDisplacement));
    const ours = bits === 16 ? rec[R_DISP]! & 0xffff : rec[R_DISP]! >>> 0;
    if (ours !== theirs) return `displacement ${ours.toString(16)} vs iced ${theirs.toString(16)}`;
  }
  const seg = (rec[R_INFO]! >>> I_SEG_SHIFT) & 7;
  const icedSeg = SEG_REGS.indexOf(ins.memorySegment);
  if ((!is64 || icedSeg >= 4) && seg !== icedSeg) return `segment ${seg} vs iced ${registerNames[ins.memorySegment]}`;
  return null;
}

/**
 * Compares the immediates (the low bits the encoding holds: iced sign-extends some). Skips the
 * shift-by-1 forms, whose "1" iced shows as an immediate the encoding does not have.
 */
function compareImmediate(ins: Instruction, rec: Int32Array, code: number): string | null {
  if ((codeNames[code] ?? '').endsWith('_1')) return null;
  const imm = rec[R_IMM]!;
  const imm2 = rec[R_IMM2]!;
  const kinds = opKinds(ins, code);
  for (let i = 0; i < kinds.length; i++) {
    let ours: number;
    let theirs: number;
    switch (kinds[i]) {
      case OpKind.Immediate8:
      case OpKind.Immediate8to16:
      case OpKind.Immediate8to32:
      case OpKind.Immediate8to64:
        ours = imm & 0xff;
        theirs = ins.immediate8;
        break;
      case OpKind.Immediate8_2nd:
        ours = imm2 & 0xff;
        theirs = ins.immediate8_2nd;
        break;
      case OpKind.Immediate16:
        ours = imm & 0xffff;
        theirs = ins.immediate16;
        break;
      case OpKind.Immediate32:
      case OpKind.Immediate32to64:
        ours = imm >>> 0;
        theirs = ins.immediate32 >>> 0;
        break;
      case OpKind.Immediate64: {
        const v = ins.immediate64;
        if ((imm >>> 0) !== Number(v & 0xffffffffn) || (imm2 >>> 0) !== Number(v >> 32n)) return `imm64 ${(imm2 >>> 0).toString(16)}:${(imm >>> 0).toString(16)} vs iced ${v.toString(16)}`;
        continue;
      }
      default:
        continue;
    }
    if (ours !== theirs) return `immediate ${ours.toString(16)} vs iced ${theirs.toString(16)}`;
  }
  return null;
}

function hex(bytes: Uint8Array, start: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += (i === 0 ? '' : ' ') + bytes[start + i]!.toString(16).padStart(2, '0');
  return s;
}

/** Compares both decoders on every stream of `buf` in every flavour. */
export function runCampaign(buf: Uint8Array, options: CampaignOptions = {}): CampaignResult {
  const t0 = performance.now();
  const flavours = options.flavours ?? FLAVOURS;
  const notImpl = options.notImplemented ?? new Set<string>();
  const allowedOut = options.allowedOutOfScope ?? IMPLEMENTED_OUT_OF_SCOPE;
  const maxReport = options.maxReport ?? 50;
  const formats = options.formats === 'all' ? 2 : options.formats === 'in-scope' ? 1 : 0;
  const count = Math.floor(buf.length / STREAM_BYTES);
  const result: CampaignResult = {
    streams: count,
    decodes: 0,
    mismatches: [],
    mismatchCount: 0,
    bothValid: 0,
    notImplementedSeen: new Map(),
    unimplementedSeen: new Map(),
    listedButImplemented: new Set(),
    ms: 0,
  };
  // Imported bindings as locals: Vitest turns each read of one into a getter call.
  const CODE_INVALID = Code.INVALID;
  const UD = OP_UD;
  const TOO_LONG = OP_TOO_LONG;
  const faultOnly = new Uint8Array(HANDLER_NAMES.length);
  HANDLER_NAMES.forEach((n, i) => {
    if (FAULT_ONLY_HANDLERS.has(n)) faultOnly[i] = 1;
  });
  const ours = new Decoder();
  ours.src = buf;
  const rec = new Int32Array(8);
  const ins = new Instruction();
  const formatter = new Formatter(FormatterSyntax.Intel);
  // Codes whose in-scope / not-implemented / allowed status is settled, per flavour-independent code.
  const notImplById = new Uint8Array(4096);
  for (let c = 0; c < 4096; c++) {
    const name = codeNames[c];
    if (name === undefined) continue;
    if (notImpl.has(name)) notImplById[c] |= 1;
    if (allowedOut.has(name)) notImplById[c] |= 2;
  }
  try {
    for (const fl of flavours) {
      const iced = new IcedDecoder(fl.bitness, buf, fl.amd ? DecoderOptions.AMD : DecoderOptions.None);
      ours.mode = fl.mode;
      ours.amd = fl.amd;
      try {
        for (let i = 0; i < count; i++) {
          const at = i * STREAM_BYTES;
          ours.pos = at;
          ours.avail = STREAM_BYTES;
          const ourLen = ours.decode(rec, 0);
          const op = faultOnly[rec[0]!] === 1 ? UD : rec[0]!;
          iced.position = at;
          iced.decodeOut(ins);
          const code = ins.code;
          const icedValid = code !== CODE_INVALID;
          const icedLen = ins.length;
          let kind: MismatchKind | null = null;
          let detail: string | null = null;
          if (op === TOO_LONG) {
            if (icedValid) kind = MismatchKind.TooLong;
          } else if (op !== UD) {
            if (!icedValid) kind = MismatchKind.AcceptedInvalid;
            else if (icedLen !== ourLen) kind = MismatchKind.Length;
            else {
              result.bothValid++;
              const scope = classify(ins, code);
              if ((notImplById[code]! & 1) !== 0) result.listedButImplemented.add(codeNames[code]!);
              if (scope === Scope.Out && (notImplById[code]! & 2) === 0) kind = MismatchKind.OutOfScope;
              else {
                if ((rec[R_INFO]! & I_MEM) !== 0) {
                  detail = compareMemory(ins, rec, fl.bitness === 64, code);
                  if (detail !== null) kind = MismatchKind.Operand;
                }
                if (kind === null) {
                  detail = compareImmediate(ins, rec, code);
                  if (detail !== null) kind = MismatchKind.Immediate;
                }
              }
            }
          } else if (icedValid) {
            const scope = classify(ins, code);
            if (formats !== 0 && icedLen !== ourLen && (formats === 2 || scope === Scope.In)) {
              kind = MismatchKind.FormatLength;
            } else if (scope === Scope.In) {
              const name = codeNames[code]!;
              const map = (notImplById[code]! & 1) !== 0 ? result.notImplementedSeen : result.unimplementedSeen;
              const seen = map.get(name) ?? 0;
              map.set(name, seen + 1);
              // One example per code is enough: the code list says the rest.
              if (map === result.unimplementedSeen) {
                if (seen === 0) kind = MismatchKind.Unimplemented;
                else result.mismatchCount++;
              }
            }
          }
          if (kind !== null) {
            result.mismatchCount++;
            if (result.mismatches.length < maxReport) {
              result.mismatches.push({
                kind,
                flavour: fl.name,
                bytes: hex(buf, at, STREAM_BYTES),
                iced: icedValid ? formatter.format(ins) : '(invalid)',
                icedCode: codeNames[code] ?? String(code),
                icedLength: icedValid ? icedLen : 0,
                ours: (op === OP_UD ? '#UD' : op === OP_TOO_LONG ? '#GP (too long)' : (HANDLER_NAMES[op] ?? String(op))) + (detail !== null ? ` (${detail})` : ''),
                ourLength: ourLen,
              });
            }
          }
        }
        result.decodes += count;
      } finally {
        iced.free();
      }
    }
  } finally {
    ins.free();
    formatter.free();
  }
  result.ms = performance.now() - t0;
  return result;
}

/** One line per mismatch, for test failure messages and the script's output. */
export function formatMismatch(m: Mismatch): string {
  return `[${m.flavour}] ${m.bytes}: ${m.kind}; iced ${m.icedCode} "${m.iced}" len ${m.icedLength}; ours ${m.ours} len ${m.ourLength}`;
}

// ---- the fixed suite of the normal test run ---------------------------------------------------

/** Seed and size of the random part of the normal test run. */
export const TEST_SEED = 0x5eed_1234;
export const TEST_STREAMS = 1_000_000;

export interface SuitePart {
  readonly name: string;
  /** Builds the streams (lazily: the buffers are large). */
  readonly streams: () => Uint8Array;
  readonly flavours: readonly Flavour[];
}

/** What test/decoder-iced.test.ts runs: the random campaign, then the exhaustive sweeps. */
export const TEST_SUITE: readonly SuitePart[] = [
  { name: `${TEST_STREAMS} random streams in 16-, 32- and 64-bit mode, Intel and AMD`, streams: () => makeStreams(TEST_SEED, TEST_STREAMS), flavours: FLAVOURS },
  // Intel in every mode, AMD in 64-bit mode (where the vendors' decoding differs most; the
  // random part covers AMD in every mode).
  ...(['1b', '0f', '0f38', '0f3a'] as const).map((map) => ({
    name: `every ${map} opcode x ModRM x prefix set`,
    streams: () => makeSweep(map, map === '0f' ? 0x25 : 0x00),
    flavours: FLAVOURS.filter((f) => !f.amd || f.bitness === 64),
  })),
  { name: 'every VEX C4/C5 prefix byte x opcode (maps 0F, 0F38, 0F3A)', streams: makeVexSweep, flavours: FLAVOURS.filter((f) => !f.amd) },
];

// ---- command line -------------------------------------------------------------------------

function main(argv: string[]): number {
  let seed = Date.now() | 0;
  let count = 1_000_000;
  let maxReport = 100;
  let formats: 'none' | 'in-scope' | 'all' = 'in-scope';
  let suite = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') seed = Number(argv[++i]) | 0;
    else if (a === '--count') count = Number(argv[++i]);
    else if (a === '--max-report') maxReport = Number(argv[++i]);
    else if (a === '--formats') formats = argv[++i] as typeof formats;
    else if (a === '--suite') suite = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (suite) return runSuite();
  console.log(`decoder campaign: seed ${seed}, ${count} streams × ${FLAVOURS.length} flavours`);
  let total = 0;
  const unimpl = new Map<string, number>();
  const examples = new Map<string, Mismatch>();
  const groups = new Map<string, { n: number; ex: Mismatch }>();
  // In chunks, to bound memory.
  const CHUNK = 250_000;
  const rng = new Rng(seed);
  for (let done = 0; done < count; done += CHUNK) {
    const n = Math.min(CHUNK, count - done);
    const buf = new Uint8Array(n * STREAM_BYTES);
    for (let i = 0; i < n; i++) randomStream(rng, buf, i * STREAM_BYTES);
    const r = runCampaign(buf, { maxReport: 1_000_000, formats });
    total += r.mismatchCount - sumValues(r.unimplementedSeen);
    for (const m of r.mismatches) if (m.kind === MismatchKind.Unimplemented && !examples.has(m.icedCode)) examples.set(m.icedCode, m);
    groupMismatches(r.mismatches, groups);
    for (const [k, v] of r.unimplementedSeen) unimpl.set(k, (unimpl.get(k) ?? 0) + v);
    console.log(`  ${done + n} streams: ${r.mismatchCount} mismatches in this chunk (${(r.ms / 1000).toFixed(1)} s)`);
  }
  printGroups(groups, maxReport);
  const names = [...unimpl.keys()].sort();
  console.log(`\nIn-scope instructions that are #UD (${names.length} iced codes):`);
  for (const n of names) {
    const ex = examples.get(n);
    console.log(`  ${n} (${unimpl.get(n)}) [${featuresOf((Code as unknown as Record<string, number>)[n]!).join(', ')}] e.g. [${ex?.flavour}] ${ex?.bytes} "${ex?.iced}"`);
  }
  console.log(`\n${total} decoding mismatches (excluding unimplemented in-scope instructions)`);
  return total === 0 ? 0 : 1;
}

/**
 * Runs the normal test run's suite and prints the in-scope instructions that are #UD as the
 * NOT_IMPLEMENTED list of test/decoder-iced.test.ts.
 */
function runSuite(): number {
  const unimpl = new Set<string>();
  let bad = 0;
  const groups = new Map<string, { n: number; ex: Mismatch }>();
  for (const part of TEST_SUITE) {
    const r = runCampaign(part.streams(), { flavours: part.flavours, formats: 'in-scope', maxReport: 1_000_000 });
    for (const k of r.unimplementedSeen.keys()) unimpl.add(k);
    groupMismatches(r.mismatches, groups);
    bad += r.mismatchCount - sumValues(r.unimplementedSeen);
    console.log(`// ${part.name}: ${(r.ms / 1000).toFixed(1)} s`);
  }
  printGroups(groups, 100);
  console.log(`// ${bad} decoding mismatches. NOT_IMPLEMENTED:`);
  for (const n of [...unimpl].sort()) console.log(`  '${n}',`);
  return bad === 0 ? 0 : 1;
}

/** Groups mismatches by what went wrong, so one root cause shows as one line. */
function groupMismatches(ms: readonly Mismatch[], groups: Map<string, { n: number; ex: Mismatch }>): void {
  for (const m of ms) {
    if (m.kind === MismatchKind.Unimplemented) continue;
    const key = `${m.kind} | ${m.flavour.replace(/ AMD$/, '')} | ${m.icedCode} | ${m.ours}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { n: 1, ex: m });
    else g.n++;
  }
}

function printGroups(groups: Map<string, { n: number; ex: Mismatch }>, max: number): void {
  const sorted = [...groups.entries()].sort((a, b) => b[1].n - a[1].n);
  for (const [key, g] of sorted.slice(0, max)) console.log(`${String(g.n).padStart(7)}  ${key}\n         e.g. ${formatMismatch(g.ex)}`);
  if (sorted.length > max) console.log(`  ... ${sorted.length - max} more groups`);
}

function sumValues(m: Map<string, number>): number {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
