/**
 * Differential-campaign forms: x87 instructions (D8-DF, FWAIT; owned by the x87 helper).
 * See README-fp.md for the API (fp-gen.ts) and how to run and debug forms.
 *
 * Every form starts from a random FCW (every RC x PC, masks mostly set), random sticky flags
 * (an unmasked one pending makes waiting instructions raise #MF) and a random stack (TOP and
 * depth, so pushes overflow and pops underflow), filled with f80 specials. Memory operands get
 * the matching specials (f32/f64/f80, edge integers, BCD digits).
 *
 * The transcendental forms (FSIN, FCOS, FSINCOS, FPTAN, F2XM1, FYL2X, FYL2XP1, FPATAN; the math
 * is src/fpu/transcendental.ts's) carry `tolerance: 'x87-1ulp'`: their results may differ from
 * this CPU's in the last bit of the significand and in C1 after a rounded result (see
 * tolerance.ts; everything else is compared exactly). See `transForms`.
 */
import { type FpForm, type FpGen, fpForm } from './fp-gen.js';
import type { Rm } from './generator.js';

/** A random state with at least `min` and at most `max` stack registers in use. */
function state(g: FpGen, min = 0, max = 8): void {
  g.randomFcw();
  g.randomFswFlags();
  g.randomStack(min, max);
}

type MemKind = 'f32' | 'f64' | 'f80' | 'i16' | 'i32' | 'i64' | 'bcd' | 'raw';
const SIZE: Record<MemKind, number> = { f32: 4, f64: 8, f80: 10, i16: 2, i32: 4, i64: 8, bcd: 10, raw: 2 };

/** A memory operand of `kind` in the window, filled with values of that kind. */
function mem(g: FpGen, kind: MemKind, bytes = SIZE[kind]): Rm {
  const rm = g.memRm(bytes);
  const o = rm.off;
  switch (kind) {
    case 'f32': g.memF32(o); break;
    case 'f64': g.memF64(o); break;
    case 'f80': g.memF80(o); break;
    case 'i16': g.memInt(o, 2); break;
    case 'i32': g.memInt(o, 4); break;
    case 'i64': g.memInt(o, 8); break;
    case 'bcd':
      for (let i = 0; i < 9; i++) g.mem[o + i] = (g.rng.below(10) << 4) | g.rng.below(10);
      g.mem[o + 9] = g.rng.bool() ? 0x80 : 0;
      break;
    default:
      for (let i = 0; i < bytes; i++) g.mem[o + i] = g.rng.below(256);
  }
  return rm;
}

/** A finite normal f80 with biased exponent in [eLo, eHi], random significand and sign (or `sign`). */
function normal(g: FpGen, eLo: number, eHi: number, sign = g.rng.bool() ? 0x8000 : 0): [number, number, number] {
  return [sign | g.rng.range(Math.max(1, eLo), Math.min(0x7ffe, eHi)), (g.rng.next() | 0x80000000) >>> 0, g.rng.next()];
}

/** A denormal f80 (random significand, sign). */
function denormal(g: FpGen): [number, number, number] {
  const hi = g.rng.next() >>> (1 + g.rng.below(32));
  return [g.rng.bool() ? 0x8000 : 0, hi, hi === 0 ? g.rng.next() | 1 : g.rng.next()];
}

/** The f80 nearest k * pi/2 (k < 2^21), moved by -2..+2 ulp: the arguments the reduction finds hardest. */
function nearPiHalf(g: FpGen): [number, number, number] {
  // pi/2 = 0xC90FDAA22168C234C4C6628B * 2^-95 (96 bits are plenty for k < 2^21).
  const k = BigInt(1 + g.rng.below(1 << (1 + g.rng.below(21))));
  const p = 0xc90fdaa22168c234c4c6628bn * k;
  const bits = p.toString(2).length;
  let sig = (p >> BigInt(bits - 64)) + BigInt(g.rng.range(-2, 2));
  let e = 0x3fff + bits - 96;
  if (sig >= 1n << 64n) {
    sig >>= 1n;
    e++;
  }
  return [(g.rng.bool() ? 0x8000 : 0) | e, Number(sig >> 32n), Number(sig & 0xffffffffn)];
}

/**
 * Operands for a transcendental form, by instruction: mostly inside its documented domain, with
 * the edges that matter (tiny and denormal arguments: UE and rebiased results; huge ones: OE;
 * |x| near 2^63 for the trigonometric range limit, multiples of pi/2), and sometimes anything.
 */
function transOperand(g: FpGen, op: string, which: 'x' | 'y'): [number, number, number] {
  const r = g.rng;
  if (r.chance(1, 6)) {
    g.f80();
    return [g.vse, g.vhi, g.vlo];
  }
  if (r.chance(1, 10)) return denormal(g);
  const k = r.below(8);
  switch (op) {
    case 'fsin': case 'fcos': case 'fsincos': case 'fptan':
      if (k < 3) return normal(g, 0x3fff - 4, 0x3fff + 4); // |x| in [1/16, 32)
      if (k < 4) return normal(g, 0x3fff + 4, 0x3fff + 64); // up to 2^64 (out of range from 2^63)
      if (k < 5) return normal(g, 0x403c, 0x403e); // near 2^63
      if (k < 6) return normal(g, 1, 0x3fff - 4); // small to tiny
      return nearPiHalf(g);
    case 'f2xm1':
      if (k < 4) return normal(g, 0x3fff - 24, 0x3ffe); // (-1, 1)
      if (k < 5) return [r.bool() ? 0xbfff : 0x3fff, 0x80000000, 0]; // +-1
      if (k < 6) return normal(g, 0x3fff, 0x3fff + 8); // outside [-1, 1]
      return normal(g, 1, 0x3fff - 24); // tiny
    case 'fyl2xp1':
      if (which === 'y') return k < 5 ? normal(g, 0x3fff - 16, 0x3fff + 16) : k < 6 ? normal(g, 1, 40) : normal(g, 1, 0x7ffe);
      if (k < 5) return normal(g, 0x3fff - 40, 0x3ffd); // |x| < 1/4
      if (k < 6) return [0x3ffd | (r.bool() ? 0x8000 : 0), (0x90000000 + r.below(0x10000000)) >>> 0, r.next()]; // ~0.28-0.31
      return normal(g, 1, 0x3fff - 40);
    case 'fyl2x':
      if (which === 'y') return k < 5 ? normal(g, 0x3fff - 16, 0x3fff + 16) : k < 6 ? normal(g, 1, 40) : k < 7 ? normal(g, 0x7ff0, 0x7ffe) : normal(g, 1, 0x7ffe);
      if (k < 4) return normal(g, 0x3ffe, 0x3fff, 0); // x in [1/2, 2)
      if (k < 5) return [0x3fff, 0x80000000, r.below(16)]; // just above 1: log2 x tiny
      if (k < 6) return [0x3ffe, 0xffffffff, -r.below(16) >>> 0]; // just below 1
      return normal(g, 1, 0x7ffe, r.chance(1, 8) ? 0x8000 : 0);
    default: // fpatan: y = ST(1), x = ST(0)
      if (which === 'y') return k < 5 ? normal(g, 0x3fff - 40, 0x3fff + 40) : k < 6 ? normal(g, 1, 64) : normal(g, 1, 0x7ffe);
      return k < 5 ? normal(g, 0x3fff - 40, 0x3fff + 40) : normal(g, 1, 0x7ffe);
  }
}

/**
 * The transcendental forms (SDM Vol. 2 "FSIN" .. "FYL2XP1"): a random state (every RC and PC,
 * masked and unmasked exceptions, with OM/UM cleared more often so rebiased results occur;
 * random TOP and depth, so FSINCOS/FPTAN overflow the stack and everything underflows it), then
 * ST(0) (and ST(1)) replaced by operands of the instruction's domain most of the time. The
 * input FSW has PE, IE and SF clear (the C1 tolerance of tolerance.ts needs to see that this
 * instruction raised PE); the other sticky flags stay random, so #MF for a pending exception
 * still occurs.
 */
function transForms(): FpForm[] {
  const list: [string, number, number][] = [
    ['fsin', 0xfe, 1], ['fcos', 0xff, 1], ['fsincos', 0xfb, 1], ['fptan', 0xf2, 1],
    ['f2xm1', 0xf0, 1], ['fyl2x', 0xf1, 2], ['fyl2xp1', 0xf9, 2], ['fpatan', 0xf3, 2],
  ];
  return list.map(([name, modrm, operands]) =>
    fpForm(name, 'x87-transcendental', (g) => {
      state(g, 0, 8);
      if (g.rng.chance(1, 6)) g.setFcw(g.fcw() & ~(g.rng.pick([0x08, 0x10, 0x18]))); // OM, UM clear
      g.setFswFlags(g.fsw() & ~0x61);
      if (g.rng.chance(7, 8)) {
        if (g.stValid(0)) g.setSt(0, ...transOperand(g, name, 'x'));
        if (operands === 2 && g.stValid(1)) g.setSt(1, ...transOperand(g, name, 'y'));
      }
      g.emit({ op: [0xd9], reg: (modrm >> 3) & 7, rm: g.regRm(modrm & 7) });
    }, { tolerance: 'x87-1ulp' }),
  );
}

const ARITH = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];

export function x87Forms(): FpForm[] {
  const forms: FpForm[] = [];
  const memForm = (name: string, group: string, op: number, reg: number, kind: MemKind, min: number, max: number, o16 = false, bytes?: number): void => {
    forms.push(fpForm(name, group, (g) => {
      state(g, min, max);
      g.emit({ o16, op: [op], reg, rm: mem(g, kind, bytes) });
    }));
  };
  const regForm = (name: string, group: string, op: number, modrm: number, min: number, max: number): void => {
    forms.push(fpForm(name, group, (g) => {
      state(g, min, max);
      g.emit({ op: [op], reg: (modrm >> 3) & 7, rm: g.regRm(modrm & 7) });
    }));
  };
  const regRange = (name: string, group: string, op: number, base: number, min: number, max: number): void => {
    forms.push(fpForm(name, group, (g) => {
      state(g, min, max);
      g.emit({ op: [op], reg: (base >> 3) & 7, rm: g.regRm(g.rng.below(8)) });
    }));
  };

  // Arithmetic and compares with memory operands (SDM Vol. 2 Tables ).
  for (let r = 0; r < 8; r++) {
    memForm(`${ARITH[r]} m32real`, 'x87-arith', 0xd8, r, 'f32', 1, 8);
    memForm(`${ARITH[r]} m64real`, 'x87-arith', 0xdc, r, 'f64', 1, 8);
    memForm(`fi${ARITH[r]!.slice(1)} m32int`, 'x87-arith', 0xda, r, 'i32', 1, 8);
    memForm(`fi${ARITH[r]!.slice(1)} m16int`, 'x87-arith', 0xde, r, 'i16', 1, 8);
  }
  // Register forms: D8 (ST(0), ST(i)), DC (ST(i), ST(0)), DE (pop).
  for (let r = 0; r < 8; r++) {
    regRange(`${ARITH[r]} st(0), st(i)`, 'x87-arith', 0xd8, 0xc0 | (r << 3), 1, 8);
    if (r === 2 || r === 3) continue;
    regRange(`${ARITH[r]} st(i), st(0)`, 'x87-arith', 0xdc, 0xc0 | (r << 3), 1, 8);
    regRange(`${ARITH[r]}p st(i), st(0)`, 'x87-arith', 0xde, 0xc0 | (r << 3), 1, 8);
  }
  regRange('fcom2 st(i) (dc d0+i)', 'x87-compare', 0xdc, 0xd0, 1, 8);
  regRange('fcomp3 st(i) (dc d8+i)', 'x87-compare', 0xdc, 0xd8, 1, 8);
  regRange('fcomp5 st(i) (de d0+i)', 'x87-compare', 0xde, 0xd0, 1, 8);
  regForm('fcompp', 'x87-compare', 0xde, 0xd9, 1, 8);
  regForm('fucompp', 'x87-compare', 0xda, 0xe9, 1, 8);
  regRange('fucom st(i)', 'x87-compare', 0xdd, 0xe0, 1, 8);
  regRange('fucomp st(i)', 'x87-compare', 0xdd, 0xe8, 1, 8);
  regRange('fucomi st(i)', 'x87-compare', 0xdb, 0xe8, 1, 8);
  regRange('fcomi st(i)', 'x87-compare', 0xdb, 0xf0, 1, 8);
  regRange('fucomip st(i)', 'x87-compare', 0xdf, 0xe8, 1, 8);
  regRange('fcomip st(i)', 'x87-compare', 0xdf, 0xf0, 1, 8);
  regForm('ftst', 'x87-compare', 0xd9, 0xe4, 0, 8);
  regForm('fxam', 'x87-compare', 0xd9, 0xe5, 0, 8);
  const cmov = ['fcmovb', 'fcmove', 'fcmovbe', 'fcmovu'];
  for (let r = 0; r < 4; r++) {
    regRange(`${cmov[r]} st(0), st(i)`, 'x87-move', 0xda, 0xc0 | (r << 3), 1, 8);
    regRange(`${cmov[r]!.replace('fcmov', 'fcmovn')} st(0), st(i)`, 'x87-move', 0xdb, 0xc0 | (r << 3), 1, 8);
  }

  // Loads and stores.
  memForm('fld m32real', 'x87-load', 0xd9, 0, 'f32', 0, 8);
  memForm('fld m64real', 'x87-load', 0xdd, 0, 'f64', 0, 8);
  memForm('fld m80real', 'x87-load', 0xdb, 5, 'f80', 0, 8);
  memForm('fild m16int', 'x87-load', 0xdf, 0, 'i16', 0, 8);
  memForm('fild m32int', 'x87-load', 0xdb, 0, 'i32', 0, 8);
  memForm('fild m64int', 'x87-load', 0xdf, 5, 'i64', 0, 8);
  memForm('fbld m80bcd', 'x87-load', 0xdf, 4, 'bcd', 0, 8);
  regRange('fld st(i)', 'x87-load', 0xd9, 0xc0, 0, 8);
  memForm('fst m32real', 'x87-store', 0xd9, 2, 'f32', 0, 8);
  memForm('fstp m32real', 'x87-store', 0xd9, 3, 'f32', 0, 8);
  memForm('fst m64real', 'x87-store', 0xdd, 2, 'f64', 0, 8);
  memForm('fstp m64real', 'x87-store', 0xdd, 3, 'f64', 0, 8);
  memForm('fstp m80real', 'x87-store', 0xdb, 7, 'f80', 0, 8);
  memForm('fist m16int', 'x87-store', 0xdf, 2, 'i16', 0, 8);
  memForm('fistp m16int', 'x87-store', 0xdf, 3, 'i16', 0, 8);
  memForm('fist m32int', 'x87-store', 0xdb, 2, 'i32', 0, 8);
  memForm('fistp m32int', 'x87-store', 0xdb, 3, 'i32', 0, 8);
  memForm('fistp m64int', 'x87-store', 0xdf, 7, 'i64', 0, 8);
  memForm('fbstp m80bcd', 'x87-store', 0xdf, 6, 'bcd', 0, 8);
  for (const [name, op, reg, kind] of [['fisttp m16int', 0xdf, 1, 'i16'], ['fisttp m32int', 0xdb, 1, 'i32'], ['fisttp m64int', 0xdd, 1, 'i64']] as const) {
    forms.push(fpForm(name, 'x87-store', (g) => {
      state(g, 0, 8);
      g.emit({ op: [op], reg, rm: mem(g, kind) });
    }, { feature: 'pni' }));
  }
  regRange('fst st(i)', 'x87-store', 0xdd, 0xd0, 0, 8);
  regRange('fstp st(i)', 'x87-store', 0xdd, 0xd8, 0, 8);
  regRange('fstp1 st(i) (d9 d8+i)', 'x87-store', 0xd9, 0xd8, 0, 8);
  regRange('fstp8 st(i) (df d0+i)', 'x87-store', 0xdf, 0xd0, 0, 8);
  regRange('fstp9 st(i) (df d8+i)', 'x87-store', 0xdf, 0xd8, 0, 8);
  regRange('fxch st(i)', 'x87-move', 0xd9, 0xc8, 0, 8);
  regRange('fxch4 st(i) (dd c8+i)', 'x87-move', 0xdd, 0xc8, 0, 8);
  regRange('fxch7 st(i) (df c8+i)', 'x87-move', 0xdf, 0xc8, 0, 8);
  regRange('ffree st(i)', 'x87-stack', 0xdd, 0xc0, 0, 8);
  regRange('ffreep st(i) (df c0+i)', 'x87-stack', 0xdf, 0xc0, 0, 8);

  // D9 E0-FF (without the transcendentals), constants, stack.
  const d9: [string, number][] = [
    ['fnop', 0xd0], ['fchs', 0xe0], ['fabs', 0xe1],
    ['fld1', 0xe8], ['fldl2t', 0xe9], ['fldl2e', 0xea], ['fldpi', 0xeb], ['fldlg2', 0xec], ['fldln2', 0xed], ['fldz', 0xee],
    ['fxtract', 0xf4], ['fprem1', 0xf5], ['fdecstp', 0xf6], ['fincstp', 0xf7], ['fprem', 0xf8], ['fsqrt', 0xfa], ['frndint', 0xfc], ['fscale', 0xfd],
  ];
  for (const [name, modrm] of d9) regForm(name, 'x87-misc', 0xd9, modrm, 0, 8);

  // Control (SDM Vol. 1 §8.1.5-8.1.10, Figures 8-9..8-12 for the environment images).
  regForm('fneni (db e0)', 'x87-control', 0xdb, 0xe0, 0, 8);
  regForm('fndisi (db e1)', 'x87-control', 0xdb, 0xe1, 0, 8);
  regForm('fnclex', 'x87-control', 0xdb, 0xe2, 0, 8);
  regForm('fninit', 'x87-control', 0xdb, 0xe3, 0, 8);
  regForm('fnsetpm (db e4)', 'x87-control', 0xdb, 0xe4, 0, 8);
  regForm('fnstsw ax', 'x87-control', 0xdf, 0xe0, 0, 8);
  memForm('fnstsw m16', 'x87-control', 0xdd, 7, 'raw', 0, 8);
  memForm('fnstcw m16', 'x87-control', 0xd9, 7, 'raw', 0, 8);
  memForm('fldcw m16', 'x87-control', 0xd9, 5, 'raw', 0, 8);
  memForm('fnstenv m28', 'x87-control', 0xd9, 6, 'raw', 0, 8, false, 28);
  memForm('fnstenv m14 (o16)', 'x87-control', 0xd9, 6, 'raw', 0, 8, true, 14);
  memForm('fldenv m28', 'x87-control', 0xd9, 4, 'raw', 0, 8, false, 28);
  memForm('fldenv m14 (o16)', 'x87-control', 0xd9, 4, 'raw', 0, 8, true, 14);
  memForm('fnsave m108', 'x87-control', 0xdd, 6, 'raw', 0, 8, false, 108);
  memForm('fnsave m94 (o16)', 'x87-control', 0xdd, 6, 'raw', 0, 8, true, 94);
  memForm('frstor m108', 'x87-control', 0xdd, 4, 'raw', 0, 8, false, 108);
  memForm('frstor m94 (o16)', 'x87-control', 0xdd, 4, 'raw', 0, 8, true, 94);
  forms.push(fpForm('fwait', 'x87-control', (g) => {
    state(g, 0, 8);
    g.emit({ op: [0x9b] });
  }));
  forms.push(...transForms());
  forms.push(fpForm('finit (9b db e3)', 'x87-control', (g) => {
    state(g, 0, 8);
    g.emit({ op: [0x9b, 0xdb], reg: 4, rm: g.regRm(3) });
  }));
  return forms;
}
