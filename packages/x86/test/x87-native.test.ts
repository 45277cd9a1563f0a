/**
 * x87 instructions against this host's CPU: each case runs `FRSTOR; <instruction>; FNSAVE` on the
 * host (test/x87/x87-oracle.c, compiled here) and in the emulator, and compares the whole FNSAVE
 * image (registers, FCW, FSW, tag word, FOP), the memory operand and the arithmetic flags.
 * Operands mix special encodings (zeros, denormals, pseudo-denormals, unnormals, infinities,
 * NaNs), exponent extremes and random values, with every rounding and precision control and
 * masked or unmasked exceptions. Skipped when the host is not x86-64 or has no gcc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODE_BASE, DATA_BASE, user64 } from './user-harness.js';

const HERE = new URL('.', import.meta.url).pathname;
let oracle: string | null = null;
if (process.arch === 'x64') {
  try {
    const dir = mkdtempSync(join(tmpdir(), 'x87-oracle-'));
    const exe = join(dir, 'x87-oracle');
    execFileSync('gcc', ['-O1', '-o', exe, join(HERE, 'x87/x87-oracle.c')]);
    if (existsSync(exe)) oracle = exe;
  } catch {
    oracle = null;
  }
}

let seed = 12345;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) | 0;
  return (seed >>> 8) & 0xffffff;
}
function r32(): number {
  return ((rnd() << 8) ^ rnd()) >>> 0;
}
function pick<T>(a: readonly T[]): T {
  return a[rnd() % a.length]!;
}

/** An 80-bit operand as [se, hi, lo]. */
type F80 = [number, number, number];
function operand(): F80 {
  const s = (rnd() & 1) << 15;
  const k = rnd() % 24;
  const hiR = (r32() | 0x80000000) >>> 0;
  const loR = r32();
  switch (k) {
    case 0: return [s, 0, 0];
    case 1: return [s | 0x7fff, 0x80000000, 0];
    case 2: return [s | 0x7fff, (0xc0000000 | (r32() & 0x3fffffff)) >>> 0, r32()];
    case 3: return [s | 0x7fff, (0x80000000 | (r32() & 0x3fffffff) | 1) >>> 0, r32()];
    case 4: return [s, r32() & 0x7fffffff, r32()];
    case 5: return [s, hiR, loR]; // pseudo-denormal
    case 6: return [s | (1 + (rnd() % 0x7ffe)), r32() & 0x7fffffff, r32()]; // unnormal
    case 7: return [0xffff, 0xc0000000, 0];
    case 8: return [s | (1 + (rnd() % 70)), hiR, loR]; // tiny
    case 9: return [s | (0x7ffe - (rnd() % 70)), hiR, loR]; // huge
    case 10: return [s | (0x3fff + (rnd() % 64)), hiR, rnd() & 1 ? 0 : loR]; // integers-ish
    case 11: return [s | (0x3fff + (rnd() % 3) - 1), (0x80000000 | (rnd() << 7)) >>> 0, 0];
    case 12: return [s | (0x3c00 + (rnd() % 0x7ff)), hiR, loR & 0xfffff800]; // double-like
    case 13: return [s | (0x3f80 + (rnd() % 0xff)), (hiR & 0xffffff00) >>> 0, 0]; // single-like
    case 14: return [s | (0x3fff - 16445 + 16383 + (rnd() % 40)), hiR, loR]; // near double denormals
    default: return [s | (0x3f00 + (rnd() % 0x200)), hiR, loR];
  }
}
function memValue(kind: string): number[] {
  const b: number[] = [];
  const push32 = (v: number): void => { for (let i = 0; i < 4; i++) b.push((v >>> (8 * i)) & 0xff); };
  if (kind === 'm32') {
    const k = rnd() % 8;
    const s = (rnd() & 1) << 31;
    const v = k === 0 ? s : k === 1 ? s | 0x7f800000 : k === 2 ? s | 0x7f800000 | (r32() & 0x7fffff) || 1 : k === 3 ? s | (r32() & 0x7fffff) : s | ((r32() & 0x7fffffff) % 0x7f800000);
    push32(v);
  } else if (kind === 'm64') {
    const k = rnd() % 8;
    const s = (rnd() & 1) << 31;
    const hi = k === 0 ? s : k === 1 ? s | 0x7ff00000 : k === 2 ? s | 0x7ff00000 | (r32() & 0xfffff) : k === 3 ? s | (r32() & 0xfffff) : s | (((r32() & 0x7fffffff) % 0x7ff00000) >>> 0);
    push32(k <= 1 ? 0 : k === 2 ? r32() | 1 : r32());
    push32(hi);
  } else if (kind === 'm16i') {
    const v = rnd() % 3 === 0 ? pick([0, 1, 0xffff, 0x8000, 0x7fff]) : rnd() & 0xffff;
    b.push(v & 0xff, v >>> 8);
  } else if (kind === 'm32i') push32(rnd() % 3 === 0 ? pick([0, 1, -1, 0x80000000, 0x7fffffff]) : r32());
  else if (kind === 'm64i') {
    push32(r32());
    push32(rnd() % 3 === 0 ? pick([0, -1, 0x80000000]) : r32());
  } else if (kind === 'm80') {
    const [se, hi, lo] = operand();
    push32(lo);
    push32(hi);
    b.push(se & 0xff, se >>> 8);
  } else if (kind === 'bcd') {
    for (let i = 0; i < 9; i++) b.push(((rnd() % 10) << 4) | (rnd() % 10));
    b.push(rnd() & 1 ? 0x80 : 0);
  }
  while (b.length < 16) b.push(0);
  return b;
}

interface Form {
  name: string;
  code: number[];
  /** How many stack registers to fill (from ST0), or -1 for a full stack. */
  depth: number;
  mem?: string;
  /** How the result image's FIP/FDP compare: relative to the code/data (default), raw, or 16-bit format relative. */
  ptrs?: 'raw' | 'o16';
}

/** [opcode, modrm.reg] memory forms, ModRM = [rsi]. */
const mf = (name: string, op: number, r: number, mem: string, depth: number): Form => ({ name, code: [op, (r << 3) | 6], depth, mem });
const rf = (name: string, op: number, modrm: number, depth: number): Form => ({ name, code: [op, modrm], depth });

const FORMS: Form[] = [];
const arithNames = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
for (let r = 0; r < 8; r++) {
  FORMS.push(mf(`${arithNames[r]} m32`, 0xd8, r, 'm32', 1));
  FORMS.push(mf(`${arithNames[r]} m64`, 0xdc, r, 'm64', 1));
  FORMS.push(mf(`fi${arithNames[r]} m32`, 0xda, r, 'm32i', 1));
  FORMS.push(mf(`fi${arithNames[r]} m16`, 0xde, r, 'm16i', 1));
  FORMS.push(rf(`${arithNames[r]} st0,st2`, 0xd8, 0xc0 | (r << 3) | 2, 3));
  if (r !== 2 && r !== 3) {
    FORMS.push(rf(`${arithNames[r]} st2,st0 (dc)`, 0xdc, 0xc0 | (r << 3) | 2, 3));
    FORMS.push(rf(`${arithNames[r]}p st1 (de)`, 0xde, 0xc0 | (r << 3) | 1, 2));
  }
}
FORMS.push(rf('fcompp', 0xde, 0xd9, 2), rf('fucompp', 0xda, 0xe9, 2), rf('fucom', 0xdd, 0xe1, 2), rf('fucomp', 0xdd, 0xe9, 2));
FORMS.push(rf('fcomi', 0xdb, 0xf1, 2), rf('fucomi', 0xdb, 0xe9, 2), rf('fcomip', 0xdf, 0xf1, 2), rf('fucomip', 0xdf, 0xe9, 2));
FORMS.push(rf('fcom2', 0xdc, 0xd1, 2), rf('fcomp3', 0xdc, 0xd9, 2), rf('fcomp5', 0xde, 0xd1, 2));
for (let r = 0; r < 4; r++) FORMS.push(rf(`fcmov${r}`, 0xda, 0xc1 | (r << 3), 2), rf(`fcmovn${r}`, 0xdb, 0xc1 | (r << 3), 2));
FORMS.push(mf('fld m32', 0xd9, 0, 'm32', 1), mf('fld m64', 0xdd, 0, 'm64', 1), mf('fld m80', 0xdb, 5, 'm80', 1));
FORMS.push(mf('fild m16', 0xdf, 0, 'm16i', 1), mf('fild m32', 0xdb, 0, 'm32i', 1), mf('fild m64', 0xdf, 5, 'm64i', 1), mf('fbld', 0xdf, 4, 'bcd', 1));
FORMS.push(rf('fld st1', 0xd9, 0xc1, 2), rf('fld full', 0xd9, 0xc1, -1));
FORMS.push(mf('fst m32', 0xd9, 2, 'm32', 1), mf('fstp m32', 0xd9, 3, 'm32', 1), mf('fst m64', 0xdd, 2, 'm64', 1), mf('fstp m64', 0xdd, 3, 'm64', 1), mf('fstp m80', 0xdb, 7, 'm80', 1));
FORMS.push(mf('fist m16', 0xdf, 2, 'm16i', 1), mf('fistp m16', 0xdf, 3, 'm16i', 1), mf('fist m32', 0xdb, 2, 'm32i', 1), mf('fistp m32', 0xdb, 3, 'm32i', 1), mf('fistp m64', 0xdf, 7, 'm64i', 1));
FORMS.push(mf('fisttp m16', 0xdf, 1, 'm16i', 1), mf('fisttp m32', 0xdb, 1, 'm32i', 1), mf('fisttp m64', 0xdd, 1, 'm64i', 1), mf('fbstp', 0xdf, 6, 'bcd', 1));
FORMS.push(rf('fst st2', 0xdd, 0xd2, 3), rf('fstp st2', 0xdd, 0xda, 3), rf('fstp1', 0xd9, 0xda, 3), rf('fstp8', 0xdf, 0xd2, 3), rf('fstp9', 0xdf, 0xda, 3));
FORMS.push(rf('fxch', 0xd9, 0xc9, 2), rf('fxch4', 0xdd, 0xc9, 2), rf('fxch7', 0xdf, 0xc9, 2), rf('ffree', 0xdd, 0xc1, 2), rf('ffreep', 0xdf, 0xc1, 2));
FORMS.push(rf('fnop', 0xd9, 0xd0, 1), rf('fchs', 0xd9, 0xe0, 1), rf('fabs', 0xd9, 0xe1, 1), rf('ftst', 0xd9, 0xe4, 1), rf('fxam', 0xd9, 0xe5, 1));
for (let k = 0; k < 7; k++) FORMS.push(rf(`fldconst${k}`, 0xd9, 0xe8 + k, 1));
FORMS.push(rf('fsqrt', 0xd9, 0xfa, 1), rf('frndint', 0xd9, 0xfc, 1), rf('fscale', 0xd9, 0xfd, 2), rf('fxtract', 0xd9, 0xf4, 1));
FORMS.push(rf('fprem', 0xd9, 0xf8, 2), rf('fprem1', 0xd9, 0xf5, 2), rf('fincstp', 0xd9, 0xf7, 2), rf('fdecstp', 0xd9, 0xf6, 2));
FORMS.push(rf('fneni', 0xdb, 0xe0, 1), rf('fndisi', 0xdb, 0xe1, 1), rf('fnsetpm', 0xdb, 0xe4, 1), rf('fnclex', 0xdb, 0xe2, 1));
FORMS.push({ name: 'fnstsw ax', code: [0xdf, 0xe0], depth: 1 });
FORMS.push(mf('fldcw', 0xd9, 5, 'm16i', 2), mf('fnstcw', 0xd9, 7, 'm16i', 1), mf('fnstsw m16', 0xdd, 7, 'm16i', 1));
FORMS.push({ name: 'fnstenv', code: [0xf1, 0xd9, 0x37], depth: 2 }, { name: 'fnstenv o16', code: [0xf1, 0x66, 0xd9, 0x37], depth: 2, ptrs: 'o16' });
FORMS.push({ name: 'fnsave o16', code: [0xf1, 0x66, 0xdd, 0x37], depth: 3, ptrs: 'o16' }, { name: 'frstor o16', code: [0x66, 0xdd, 0x27], depth: 3, ptrs: 'raw' });
FORMS.push({ name: 'fldenv', code: [0xd9, 0x67, 28], depth: 3, ptrs: 'raw' }, { name: 'fldenv o16', code: [0x66, 0xd9, 0x67, 28], depth: 3, ptrs: 'raw' });
FORMS.push(rf('fninit', 0xdb, 0xe3, 2), { name: 'fwait', code: [0x9b], depth: 1 }, rf('fcom', 0xd8, 0xd1, 2));

/** Every register-form encoding (D8-DF, ModRM C0-FF), also the undefined ones (#UD on both sides), with fewer cases each. */
const TRANS_RM = new Set([0xf0, 0xf1, 0xf2, 0xf3, 0xf9, 0xfb, 0xfe, 0xff]);
const ALL_RM: Form[] = [];
for (let op = 0xd8; op <= 0xdf; op++) {
  for (let modrm = 0xc0; modrm <= 0xff; modrm++) {
    if (op === 0xd9 && TRANS_RM.has(modrm)) continue;
    ALL_RM.push(rf(`${op.toString(16)} ${modrm.toString(16)}`, op, modrm, 1 + (modrm & 3)));
  }
}

/** The transcendental forms (math in src/fpu/transcendental.ts): run with X87_TRANS=1. */
const TRANS: Form[] = [rf('fsin', 0xd9, 0xfe, 1), rf('fcos', 0xd9, 0xff, 1), rf('fsincos', 0xd9, 0xfb, 1), rf('fptan', 0xd9, 0xf2, 1), rf('f2xm1', 0xd9, 0xf0, 1), rf('fyl2x', 0xd9, 0xf1, 2), rf('fyl2xp1', 0xd9, 0xf9, 2), rf('fpatan', 0xd9, 0xf3, 2)];
if (process.env.X87_TRANS === '1') FORMS.splice(0, FORMS.length, ...TRANS);

function image(depth: number, top: number, fcw: number): { img: number[]; ops: F80[] } {
  const img = new Array<number>(108).fill(0);
  const w16 = (o: number, v: number): void => { img[o] = v & 0xff; img[o + 1] = (v >>> 8) & 0xff; };
  w16(0, fcw);
  w16(4, (top << 11) | (rnd() & 0x4700)); // random C0-C3: which instructions keep them
  let tw = 0;
  const ops: F80[] = [];
  const n = depth < 0 ? 8 : depth;
  for (let i = 0; i < 8; i++) {
    const p = (top + i) & 7;
    const full = i < n && !(rnd() % 40 === 0);
    tw |= (full ? 0 : 3) << (p * 2);
    const v = operand();
    ops.push(v);
    const o = 28 + i * 10;
    for (let k = 0; k < 4; k++) img[o + k] = (v[2] >>> (8 * k)) & 0xff;
    for (let k = 0; k < 4; k++) img[o + 4 + k] = (v[1] >>> (8 * k)) & 0xff;
    w16(o + 8, v[0]);
  }
  w16(8, tw);
  return { img, ops };
}

const hex = (b: number[] | Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe.skipIf(oracle === null)('x87 against the host CPU', () => {
  it('every form, random operands, all RC/PC, masked and unmasked', () => {
    const perForm = Number(process.env.X87_CASES ?? 300);
    const cases: { form: Form; line: string; img: number[]; mem: number[]; flags: number }[] = [];
    const all = process.env.X87_TRANS === '1' ? FORMS : [...FORMS, ...ALL_RM];
    for (const form of all) {
      const n = ALL_RM.includes(form) ? Math.max(4, perForm >> 4) : perForm;
      for (let i = 0; i < n; i++) {
        const rc = rnd() & 3;
        const pc = pick([0, 2, 3, 3]);
        const masks = rnd() % 3 === 0 ? rnd() & 0x3f : 0x3f;
        const fcw = 0x40 | (rc << 10) | (pc << 8) | masks;
        const { img } = image(form.depth, rnd() & 7, fcw);
        const mem = memValue(form.mem ?? '');
        const flags = rnd() & 0x8d5;
        cases.push({ form, img, mem, flags, line: `${hex(form.code)} ${flags.toString(16)} ${hex(img)} ${hex(mem)}` });
      }
    }
    const out = spawnSync(oracle!, { input: cases.map((c) => c.line).join('\n') + '\n', maxBuffer: 1 << 30 }).stdout.toString().trim().split('\n');
    expect(out.length).toBe(cases.length);
    const bad = new Map<string, string[]>();
    let compared = 0;
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const want = out[i]!;
      const nosave = c.form.code[0] === 0xf1;
      const code = [0x52, 0x9d, 0xdd, 0x27, ...c.form.code.slice(nosave ? 1 : 0), ...(nosave ? [] : [0xdd, 0x37]), 0x9c, 0x58];
      const mem = [...c.img, ...c.mem.slice(0, 12)];
      const r = user64(code, { regs: { rdi: DATA_BASE, rsi: DATA_BASE + 108, rdx: c.flags | 0x202 }, mem });
      let got: string;
      // #UD natively is SIGILL (4), #MF would be SIGFPE (8).
      if (r.vector !== -1) got = r.vector === 6 ? 'SIG 4' : r.vector === 16 ? 'SIG 8' : `VEC ${r.vector}`;
      else {
        const o = Array.from(r.mem.slice(0, 108));
        got = `${hex(o)} ${hex(r.mem.slice(108, 124))} ${(Number(r.reg('rax')) & 0x8d5).toString(16)} ${(CODE_BASE + 4).toString(16)} ${DATA_BASE.toString(16)}`;
      }
      const norm = (s: string): string => {
        if (!s.includes(' ')) return s;
        const [img, m, fl, ip, dp] = s.split(' ');
        if (img === undefined || m === undefined || fl === undefined || ip === undefined || dp === undefined || img.length !== 216) return s;
        // FIP and FDP relative to the instruction and the data window (0 stays 0); FCS and FDS
        // (the user selectors) are compared as they are.
        const dword = (o: number): number => parseInt(img.slice(o * 2 + 6, o * 2 + 8) + img.slice(o * 2 + 4, o * 2 + 6) + img.slice(o * 2 + 2, o * 2 + 4) + img.slice(o * 2, o * 2 + 2), 16);
        const rel = (v: number, base: string): string => (v === 0 ? '0' : ((v - Number(BigInt('0x' + base) & 0xffffffffn)) >>> 0).toString(16));
        if (c.form.ptrs === 'raw') return `${img} ${m.slice(0, 20)} ${(parseInt(fl, 16) & 0x8d5).toString(16)}`;
        if (c.form.ptrs === 'o16') {
          const word = (o: number): number => parseInt(img.slice(o * 2 + 2, o * 2 + 4) + img.slice(o * 2, o * 2 + 2), 16);
          const r16 = (v: number, base: string): string => (v === 0 ? '0' : ((v - Number(BigInt('0x' + base) & 0xffffn)) & 0xffff).toString(16));
          return `${img.slice(0, 12)} ${r16(word(6), ip)} ${img.slice(16, 20)} ${r16(word(10), dp)} ${img.slice(24)} ${m.slice(0, 20)} ${(parseInt(fl, 16) & 0x8d5).toString(16)}`;
        }
        const fip = rel(dword(12), ip);
        const fdp = rel(dword(20), dp);
        return `${img.slice(0, 24)} ${fip} ${img.slice(32, 40)} ${fdp} ${img.slice(48)} ${m.slice(0, 20)} ${(parseInt(fl, 16) & 0x8d5).toString(16)}`;
      };
      compared++;
      // A context switch between the instruction and FNSAVE makes the host restore its state with
      // XRSTOR, which (on AMD, no exception pending) zeroes FIP, FOP and FDP: accept that image.
      const preempted = (w: string, g: string): boolean => {
        const a = w.split(' ');
        const b = g.split(' ');
        return a.length === 7 && b.length === 7 && a[1] === '0' && a[2] === '00000000' && a[3] === '0' && a[0] === b[0] && a.slice(4).join() === b.slice(4).join();
      };
      if (norm(got) !== norm(want) && !preempted(norm(want), norm(got))) {
        const l = bad.get(c.form.name) ?? [];
        if (l.length < 3) l.push(`in ${c.line}\n  want ${norm(want)}\n  got  ${norm(got)}`);
        else l.push('');
        bad.set(c.form.name, l);
      }
    }
    const summary = [...bad.entries()].map(([k, v]) => `${k}: ${v.length} mismatches\n${v.filter((x) => x).join('\n')}`);
    if (summary.length) console.log(summary.join('\n'));
    console.log(`x87 native comparisons: ${compared}, forms ${all.length}, mismatching forms ${bad.size}`);
    expect(bad.size).toBe(0);
  }, 600_000);
});
