/**
 * Instruction forms and a case generator for the MMX / SSE / SSE2 / SSE3 integer and
 * data-movement instructions of the 0F map (src/fpu/simd-int.ts, simd-move.ts), for running
 * against the host CPU with full FXSAVE images in and out.
 *
 * Each case is one instruction: optional mandatory prefix, optional REX (R/B/W bits random,
 * so XMM8-15 and the ignored REX.R/B of MMX registers are exercised), 0F, the opcode, a ModRM
 * with a register operand or `[rdi + disp8]` / `[r15 + disp8]` (both point into the data
 * window), and imm8 where the form has one. Memory operands are placed so that the access
 * stays in the window; aligned forms get a misaligned address in about one case in eight (#GP).
 * Register-only and memory-only forms also get the other operand kind now and then (#UD).
 */
import { DATA_BASE, DATA_SIZE, FX_FCW, FX_FSW, FX_FTW, FX_MXCSR, FX_MXCSR_MASK, FX_SIZE, FX_ST, FX_XMM, type SnippetCase } from './native-oracle.js';

/** Operand kinds of a form's ModRM.reg and ModRM.rm fields. */
export type RegKind = 'mm' | 'xmm' | 'gpr' | number;
export type RmKind = 'mm' | 'xmm' | 'gpr';

export interface SimdForm {
  name: string;
  /** Mandatory prefix byte (0x66, 0xF3, 0xF2) or 0. */
  pfx: number;
  op: number;
  reg: RegKind;
  rm: RmKind;
  /** Memory operand size in bytes; 0 = register operand only. */
  mem: number;
  /** Memory operand only. */
  memOnly?: boolean;
  /** 16-byte alignment required. */
  aligned?: boolean;
  imm?: boolean;
  /** No ModRM byte (EMMS). */
  noModrm?: boolean;
  /** MASKMOVQ/MASKMOVDQU: stores `mem` bytes at rDI. */
  rdiStore?: boolean;
}

const f = (name: string, pfx: number, op: number, reg: RegKind, rm: RmKind, mem: number, extra: Partial<SimdForm> = {}): SimdForm => ({
  name,
  pfx,
  op,
  reg,
  rm,
  mem,
  ...extra,
});

const A = { aligned: true } as const;
const MO = { memOnly: true } as const;
const I = { imm: true } as const;

/** MMX (no prefix) and SSE2 (66) rows sharing an opcode. */
const BOTH: readonly [string, number][] = [
  ['punpcklbw', 0x60], ['punpcklwd', 0x61], ['punpckldq', 0x62], ['packsswb', 0x63],
  ['pcmpgtb', 0x64], ['pcmpgtw', 0x65], ['pcmpgtd', 0x66], ['packuswb', 0x67],
  ['punpckhbw', 0x68], ['punpckhwd', 0x69], ['punpckhdq', 0x6a], ['packssdw', 0x6b],
  ['pcmpeqb', 0x74], ['pcmpeqw', 0x75], ['pcmpeqd', 0x76],
  ['psrlw', 0xd1], ['psrld', 0xd2], ['psrlq', 0xd3], ['paddq', 0xd4], ['pmullw', 0xd5],
  ['psubusb', 0xd8], ['psubusw', 0xd9], ['pminub', 0xda], ['pand', 0xdb],
  ['paddusb', 0xdc], ['paddusw', 0xdd], ['pmaxub', 0xde], ['pandn', 0xdf],
  ['pavgb', 0xe0], ['psraw', 0xe1], ['psrad', 0xe2], ['pavgw', 0xe3], ['pmulhuw', 0xe4], ['pmulhw', 0xe5],
  ['psubsb', 0xe8], ['psubsw', 0xe9], ['pminsw', 0xea], ['por', 0xeb],
  ['paddsb', 0xec], ['paddsw', 0xed], ['pmaxsw', 0xee], ['pxor', 0xef],
  ['psllw', 0xf1], ['pslld', 0xf2], ['psllq', 0xf3], ['pmuludq', 0xf4], ['pmaddwd', 0xf5], ['psadbw', 0xf6],
  ['psubb', 0xf8], ['psubw', 0xf9], ['psubd', 0xfa], ['psubq', 0xfb], ['paddb', 0xfc], ['paddw', 0xfd], ['paddd', 0xfe],
];

export function simdIntFormTable(): SimdForm[] {
  const forms: SimdForm[] = [];
  for (const [name, op] of BOTH) {
    forms.push(f(`${name} mm`, 0, op, 'mm', 'mm', op >= 0x60 && op <= 0x62 ? 4 : 8));
    forms.push(f(`${name} xmm`, 0x66, op, 'xmm', 'xmm', 16, A));
  }
  forms.push(f('punpcklqdq', 0x66, 0x6c, 'xmm', 'xmm', 16, A), f('punpckhqdq', 0x66, 0x6d, 'xmm', 'xmm', 16, A));
  for (const [op, reg, name] of [
    [0x71, 2, 'psrlw'], [0x71, 4, 'psraw'], [0x71, 6, 'psllw'],
    [0x72, 2, 'psrld'], [0x72, 4, 'psrad'], [0x72, 6, 'pslld'],
    [0x73, 2, 'psrlq'], [0x73, 6, 'psllq'],
  ] as const) {
    forms.push(f(`${name} mm, imm8`, 0, op, reg, 'mm', 0, I), f(`${name} xmm, imm8`, 0x66, op, reg, 'xmm', 0, I));
  }
  forms.push(f('psrldq', 0x66, 0x73, 3, 'xmm', 0, I), f('pslldq', 0x66, 0x73, 7, 'xmm', 0, I));
  // Undefined group members (#UD on both sides).
  forms.push(f('0F 71 /0 (undefined)', 0, 0x71, 0, 'mm', 0, I), f('66 0F 73 /4 (undefined)', 0x66, 0x73, 4, 'xmm', 0, I));
  forms.push(f('psrldq without 66 (undefined)', 0, 0x73, 3, 'mm', 0, I));
  forms.push(
    f('pshufw', 0, 0x70, 'mm', 'mm', 8, I),
    f('pshufd', 0x66, 0x70, 'xmm', 'xmm', 16, { ...A, ...I }),
    f('pshufhw', 0xf3, 0x70, 'xmm', 'xmm', 16, { ...A, ...I }),
    f('pshuflw', 0xf2, 0x70, 'xmm', 'xmm', 16, { ...A, ...I }),
    f('pinsrw mm', 0, 0xc4, 'mm', 'gpr', 2, I),
    f('pinsrw xmm', 0x66, 0xc4, 'xmm', 'gpr', 2, I),
    f('pextrw mm', 0, 0xc5, 'gpr', 'mm', 0, I),
    f('pextrw xmm', 0x66, 0xc5, 'gpr', 'xmm', 0, I),
    f('pmovmskb mm', 0, 0xd7, 'gpr', 'mm', 0),
    f('pmovmskb xmm', 0x66, 0xd7, 'gpr', 'xmm', 0),
    f('emms', 0, 0x77, 0, 'mm', 0, { noModrm: true }),
    // moves
    f('movups', 0, 0x10, 'xmm', 'xmm', 16),
    f('movupd', 0x66, 0x10, 'xmm', 'xmm', 16),
    f('movss', 0xf3, 0x10, 'xmm', 'xmm', 4),
    f('movsd', 0xf2, 0x10, 'xmm', 'xmm', 8),
    f('movups store', 0, 0x11, 'xmm', 'xmm', 16),
    f('movupd store', 0x66, 0x11, 'xmm', 'xmm', 16),
    f('movss store', 0xf3, 0x11, 'xmm', 'xmm', 4),
    f('movsd store', 0xf2, 0x11, 'xmm', 'xmm', 8),
    f('movlps/movhlps', 0, 0x12, 'xmm', 'xmm', 8),
    f('movlpd', 0x66, 0x12, 'xmm', 'xmm', 8, MO),
    f('movsldup', 0xf3, 0x12, 'xmm', 'xmm', 16, A),
    f('movddup', 0xf2, 0x12, 'xmm', 'xmm', 8),
    f('movlps store', 0, 0x13, 'xmm', 'xmm', 8, MO),
    f('movlpd store', 0x66, 0x13, 'xmm', 'xmm', 8, MO),
    f('unpcklps', 0, 0x14, 'xmm', 'xmm', 16, A),
    f('unpcklpd', 0x66, 0x14, 'xmm', 'xmm', 16, A),
    f('unpckhps', 0, 0x15, 'xmm', 'xmm', 16, A),
    f('unpckhpd', 0x66, 0x15, 'xmm', 'xmm', 16, A),
    f('movhps/movlhps', 0, 0x16, 'xmm', 'xmm', 8),
    f('movhpd', 0x66, 0x16, 'xmm', 'xmm', 8, MO),
    f('movshdup', 0xf3, 0x16, 'xmm', 'xmm', 16, A),
    f('movhps store', 0, 0x17, 'xmm', 'xmm', 8, MO),
    f('movhpd store', 0x66, 0x17, 'xmm', 'xmm', 8, MO),
    f('movaps', 0, 0x28, 'xmm', 'xmm', 16, A),
    f('movapd', 0x66, 0x28, 'xmm', 'xmm', 16, A),
    f('movaps store', 0, 0x29, 'xmm', 'xmm', 16, A),
    f('movapd store', 0x66, 0x29, 'xmm', 'xmm', 16, A),
    f('movntps', 0, 0x2b, 'xmm', 'xmm', 16, { ...A, ...MO }),
    f('movntpd', 0x66, 0x2b, 'xmm', 'xmm', 16, { ...A, ...MO }),
    f('movmskps', 0, 0x50, 'gpr', 'xmm', 0),
    f('movmskpd', 0x66, 0x50, 'gpr', 'xmm', 0),
    f('andps', 0, 0x54, 'xmm', 'xmm', 16, A),
    f('andpd', 0x66, 0x54, 'xmm', 'xmm', 16, A),
    f('andnps', 0, 0x55, 'xmm', 'xmm', 16, A),
    f('andnpd', 0x66, 0x55, 'xmm', 'xmm', 16, A),
    f('orps', 0, 0x56, 'xmm', 'xmm', 16, A),
    f('orpd', 0x66, 0x56, 'xmm', 'xmm', 16, A),
    f('xorps', 0, 0x57, 'xmm', 'xmm', 16, A),
    f('xorpd', 0x66, 0x57, 'xmm', 'xmm', 16, A),
    f('movd mm, r/m', 0, 0x6e, 'mm', 'gpr', 4),
    f('movd xmm, r/m', 0x66, 0x6e, 'xmm', 'gpr', 4),
    f('movd r/m, mm', 0, 0x7e, 'mm', 'gpr', 4),
    f('movd r/m, xmm', 0x66, 0x7e, 'xmm', 'gpr', 4),
    f('movq xmm, xmm/m64', 0xf3, 0x7e, 'xmm', 'xmm', 8),
    f('movq mm, mm/m64', 0, 0x6f, 'mm', 'mm', 8),
    f('movdqa', 0x66, 0x6f, 'xmm', 'xmm', 16, A),
    f('movdqu', 0xf3, 0x6f, 'xmm', 'xmm', 16),
    f('movq mm/m64, mm', 0, 0x7f, 'mm', 'mm', 8),
    f('movdqa store', 0x66, 0x7f, 'xmm', 'xmm', 16, A),
    f('movdqu store', 0xf3, 0x7f, 'xmm', 'xmm', 16),
    f('movq xmm/m64, xmm', 0x66, 0xd6, 'xmm', 'xmm', 8),
    f('movq2dq', 0xf3, 0xd6, 'xmm', 'mm', 0),
    f('movdq2q', 0xf2, 0xd6, 'mm', 'xmm', 0),
    f('0F D6 (undefined)', 0, 0xd6, 'xmm', 'xmm', 8),
    f('movntq', 0, 0xe7, 'mm', 'mm', 8, MO),
    f('movntdq', 0x66, 0xe7, 'xmm', 'xmm', 16, { ...A, ...MO }),
    f('movnti', 0, 0xc3, 'gpr', 'gpr', 4, MO),
    f('maskmovq', 0, 0xf7, 'mm', 'mm', 8, { rdiStore: true }),
    f('maskmovdqu', 0x66, 0xf7, 'xmm', 'xmm', 16, { rdiStore: true }),
    f('lddqu', 0xf2, 0xf0, 'xmm', 'xmm', 16, MO),
    f('shufps', 0, 0xc6, 'xmm', 'xmm', 16, { ...A, ...I }),
    f('shufpd', 0x66, 0xc6, 'xmm', 'xmm', 16, { ...A, ...I }),
    // Prefixes the host rejects (#UD).
    f('F3 paddb (undefined)', 0xf3, 0xfc, 'mm', 'mm', 8),
    f('66 emms (undefined)', 0x66, 0x77, 0, 'mm', 0, { noModrm: true }),
    f('F3 movaps (undefined)', 0xf3, 0x28, 'xmm', 'xmm', 16),
  );
  return forms;
}

/** xoshiro128** (deterministic from the seed). */
export class SimdRng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    let x = seed | 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  below(n: number): number {
    return this.u32() % n;
  }
}
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const EDGE_BYTES = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const EDGE_WORDS = [0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, 0x00ff, 0xff00, 0x0080];

/** Fills `n` bytes at `o` with random, edge or mixed lane values. */
function fillLanes(rng: SimdRng, b: Uint8Array, o: number, n: number): void {
  const mode = rng.below(6);
  for (let i = 0; i < n; i += 2) {
    let w: number;
    if (mode === 0) w = EDGE_WORDS[rng.below(EDGE_WORDS.length)]!;
    else if (mode === 1) w = EDGE_BYTES[rng.below(EDGE_BYTES.length)]! | (EDGE_BYTES[rng.below(EDGE_BYTES.length)]! << 8);
    else if (mode === 2) w = rng.below(4) === 0 ? EDGE_WORDS[rng.below(EDGE_WORDS.length)]! : rng.u32() & 0xffff;
    else if (mode === 3) w = rng.u32() & 0x00ff; // small values (shift counts, equal lanes)
    else w = rng.u32() & 0xffff;
    b[o + i] = w & 0xff;
    if (i + 1 < n) b[o + i + 1] = w >>> 8;
  }
}

/** A random FXSAVE64 image: x87 registers (random exponents and tags, TOP), XMM0-15, MXCSR at default. */
export function randomFx(rng: SimdRng): Uint8Array {
  const fx = new Uint8Array(FX_SIZE);
  // One image in twelve has x87 exception flags, some unmasked: ES (and B) set then, and MMX
  // instructions take #MF (CR0.NE = 1).
  const pending = rng.below(12) === 0;
  const fcw = pending ? 0x0340 | (rng.u32() & 0x3f) : 0x037f;
  fx[FX_FCW] = fcw & 0xff;
  fx[FX_FCW + 1] = fcw >> 8;
  const top = rng.below(8);
  let fsw = top << 11;
  if (pending) {
    fsw |= rng.u32() & 0x3f;
    if ((fsw & ~fcw & 0x3f) !== 0) fsw |= 0x8080;
  }
  fx[FX_FSW] = fsw & 0xff;
  fx[FX_FSW + 1] = fsw >> 8;
  fx[FX_FTW] = rng.u32() & 0xff;
  const mx = 0x1f80;
  fx[FX_MXCSR] = mx & 0xff;
  fx[FX_MXCSR + 1] = mx >> 8;
  fx[FX_MXCSR_MASK] = 0xff;
  fx[FX_MXCSR_MASK + 1] = 0xff;
  for (let i = 0; i < 8; i++) {
    const o = FX_ST + 16 * i;
    fillLanes(rng, fx, o, 8);
    const se = rng.below(3) === 0 ? 0xffff : rng.u32() & 0xffff;
    fx[o + 8] = se & 0xff;
    fx[o + 9] = se >> 8;
  }
  for (let n = 0; n < 16; n++) fillLanes(rng, fx, FX_XMM + 16 * n, 16);
  return fx;
}

const RDI = 7;
const R15 = 15;

/** Builds one case of `form`. */
export function simdCase(rng: SimdRng, form: SimdForm): SnippetCase {
  const code: number[] = [];
  // 67h: rDI/the base register is taken as 32 bits (MASKMOV*, memory operands).
  if (rng.below(10) === 0) code.push(0x67);
  // A 66h before F3/F2 does not change the mandatory prefix (F3/F2 win).
  if ((form.pfx === 0xf3 || form.pfx === 0xf2) && rng.below(8) === 0) code.push(0x66);
  if (form.pfx !== 0) code.push(form.pfx);
  // Memory operand: memory-only forms always (but one in eight register cases for #UD);
  // register-only forms one in eight; the others half the time.
  let mem: boolean;
  if (form.rdiStore === true) mem = rng.below(10) === 0;
  else if (form.memOnly === true) mem = rng.below(8) !== 0;
  else if (form.mem === 0) mem = rng.below(8) === 0;
  else mem = rng.below(2) === 0;
  const rex = rng.below(3) === 0 ? 0x40 | (rng.u32() & 0xf & ~2) : 0;
  if (rex !== 0) code.push(rex);
  code.push(0x0f, form.op);
  const regField = typeof form.reg === 'number' ? form.reg : rng.below(8);
  const gpr = new Int32Array(32);
  for (let i = 0; i < 32; i++) gpr[i] = rng.below(4) === 0 ? rng.below(0x10000) : rng.u32() | 0;
  gpr[2 * 4] = DATA_BASE + 64;
  gpr[2 * 4 + 1] = 0;
  if (form.noModrm === true) {
    // no operands
  } else if (mem) {
    const size = form.mem === 0 ? 8 : form.mem;
    const baseOff = rng.below(2) === 0 ? 0 : 16;
    const misalign = form.aligned === true ? (rng.below(8) === 0 ? 1 + rng.below(15) : 0) : rng.below(16);
    const slots = Math.floor((DATA_SIZE - baseOff - 16 - size) / 16) + 1;
    let disp = rng.below(slots) * 16 + misalign;
    if (baseOff + disp + size > DATA_SIZE) disp = DATA_SIZE - size - baseOff;
    const base = (rex & 1) !== 0 ? R15 : RDI;
    // One memory case in sixteen points at a page that is not present (#PF; an MMX instruction
    // that faults leaves TOP and the tags alone).
    gpr[2 * base] = DATA_BASE + baseOff + (rng.below(16) === 0 ? 0x10_0000 : 0);
    gpr[2 * base + 1] = 0;
    if (rng.below(16) === 0) {
      // Crossing from the window's page into the next one, which is not present: #PF, and a
      // store must leave the first page untouched.
      gpr[2 * base] = DATA_BASE + 4096 - 1 - rng.below(Math.max(1, Math.min(size, form.mem === 0 ? 8 : form.mem) - 1));
      disp = 0;
    }
    code.push(0x40 | (regField << 3) | 7, disp);
  } else {
    code.push(0xc0 | (regField << 3) | rng.below(8));
  }
  if (form.rdiStore === true) {
    const k = rng.below(16);
    // Mostly inside the window; sometimes a page that is not present, or crossing into it.
    gpr[2 * RDI] = k === 0 ? DATA_BASE + 0x10_0000 + rng.below(64) : k === 1 ? DATA_BASE + 4096 - 1 - rng.below(form.mem - 1) : DATA_BASE + rng.below(DATA_SIZE - form.mem + 1);
    gpr[2 * RDI + 1] = 0;
  }
  if (form.imm === true) {
    const k = rng.below(4);
    code.push(k === 0 ? rng.below(17) : k === 1 ? rng.below(70) : rng.u32() & 0xff);
  }
  const memBytes = new Uint8Array(DATA_SIZE);
  fillLanes(rng, memBytes, 0, DATA_SIZE);
  return { code: Uint8Array.from(code), gpr, rflags: 0x202, mem: memBytes, fx: randomFx(rng) };
}
