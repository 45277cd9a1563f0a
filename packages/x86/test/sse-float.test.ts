/**
 * SSE floating-point instructions (src/fpu/sse-float.ts) on architectural values: results from
 * the SDM's definitions (IEEE 754 arithmetic, the x86 MIN/MAX and NaN rules, the integer
 * indefinite, COMIS flags), exception delivery, alignment and feature gating. The bit-exact
 * comparison with the host CPU is test/sse-float-native.test.ts and the FP campaign
 * (test/native/gen-sse-float.ts).
 */
import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0, Cr4 } from '../src/index.js';
import { Cpuid1Ecx } from '../src/model.js';
import { SnippetRunner } from './native/emulator-runner.js';
import { DATA_BASE, DATA_SIZE } from './native/layout.js';

const HOST_ECX = Cpuid1Ecx.SSE3 | Cpuid1Ecx.SSSE3 | Cpuid1Ecx.SSE41 | Cpuid1Ecx.SSE42;
const full = new SnippetRunner({ model: { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx | HOST_ECX } });

interface Run {
  vector: number;
  errorCode: number;
  xmm: (n: number) => number[];
  mxcsr: number;
  rflags: number;
  gpr: (n: number) => [number, number];
  mm: (n: number) => [number, number];
}

function fx(xmm: number[][], mxcsr: number): Uint8Array {
  const b = new Uint8Array(512);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 0x037f, true);
  dv.setUint32(24, mxcsr, true);
  xmm.forEach((lanes, n) => lanes.forEach((v, k) => dv.setUint32(160 + 16 * n + 4 * k, v >>> 0, true)));
  return b;
}

function run(code: number[], xmm: number[][], o: { mxcsr?: number; mem?: number[]; gpr?: [number, number][]; runner?: SnippetRunner } = {}): Run {
  const runner = o.runner ?? full;
  const gpr = new Int32Array(32);
  gpr[8] = DATA_BASE + DATA_SIZE;
  (o.gpr ?? []).forEach(([lo, hi], i) => {
    gpr[2 * i] = lo;
    gpr[2 * i + 1] = hi;
  });
  const mem = new Uint8Array(DATA_SIZE);
  if (o.mem) mem.set(o.mem);
  const r = runner.run({ code: Uint8Array.from(code), gpr, rflags: 0, mem, fx: fx(xmm, o.mxcsr ?? 0x1f80) });
  const cpu = runner.cpu;
  return {
    vector: r.vector,
    errorCode: r.errorCode,
    xmm: (n) => Array.from(cpu.xmm.subarray(4 * n, 4 * n + 4), (v) => v >>> 0),
    mxcsr: cpu.mxcsr,
    rflags: r.rflags,
    gpr: (n) => [cpu.gpr[n]! >>> 0, cpu.gprHi[n]! >>> 0],
    mm: (n) => [cpu.fpLo[n]! >>> 0, cpu.fpHi[n]! >>> 0],
  };
}

/** [disp32] absolute addressing of the data window with ModRM.reg = reg (SIB, no base). */
function mem(reg: number, off: number): number[] {
  const a = DATA_BASE + off;
  return [0x04 | (reg << 3), 0x25, a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
}
const f32le = (...v: number[]): number[] => v.flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24]);

const ONE = 0x3f800000;
const TWO = 0x40000000;
const THREE = 0x40400000;
const QNAN = 0x7fc00000;
const SNAN = 0x7fa00000;
const NONE = -1;

describe('SSE floating-point instructions: architectural values', () => {
  it('ADDPS adds four lanes; ADDSS only lane 0', () => {
    const r = run([0x0f, 0x58, 0xc1], [[ONE, TWO, 0xbf800000, 0x7f800000], [TWO, ONE, ONE, ONE]]); // addps xmm0, xmm1
    expect(r.xmm(0)).toEqual([THREE, THREE, 0, 0x7f800000]);
    const s = run([0xf3, 0x0f, 0x58, 0xc1], [[ONE, 5, 6, 7], [TWO, 1, 1, 1]]);
    expect(s.xmm(0)).toEqual([THREE, 5, 6, 7]);
  });

  it('DIVPD 1/3 rounds to nearest (0x3fd55555_55555555) and sets PE; toward zero gives ..._55555555 too, up gives ..._55555556', () => {
    const x = [[0, 0x3ff00000, 0, 0x3ff00000], [0, 0x40080000, 0, 0x40080000]];
    const n = run([0x66, 0x0f, 0x5e, 0xc1], x);
    expect(n.xmm(0)).toEqual([0x55555555, 0x3fd55555, 0x55555555, 0x3fd55555]);
    expect(n.mxcsr).toBe(0x1fa0);
    const up = run([0x66, 0x0f, 0x5e, 0xc1], x, { mxcsr: 0x5f80 });
    expect(up.xmm(0)).toEqual([0x55555556, 0x3fd55555, 0x55555556, 0x3fd55555]);
  });

  it('SQRTSS of -1 is the default NaN with IE; of an SNaN the quieted SNaN', () => {
    const r = run([0xf3, 0x0f, 0x51, 0xc1], [[0, 0, 0, 0], [0xbf800000, 0, 0, 0]]);
    expect([r.xmm(0)[0], r.mxcsr]).toEqual([0xffc00000, 0x1f81]);
    const s = run([0xf3, 0x0f, 0x51, 0xc1], [[0, 0, 0, 0], [SNAN, 0, 0, 0]]);
    expect([s.xmm(0)[0], s.mxcsr]).toEqual([0x7fe00000, 0x1f81]);
  });

  it('ADDSS with two NaNs returns the first source quieted (SDM Vol. 1 Table 4-7)', () => {
    const r = run([0xf3, 0x0f, 0x58, 0xc1], [[0x7f800123, 0, 0, 0], [0xffc00456, 0, 0, 0]]);
    expect([r.xmm(0)[0], r.mxcsr]).toEqual([0x7fc00123, 0x1f81]);
  });

  it('MINPS/MAXPS return the second operand for a NaN (IE even for QNaN) and for +0 / -0', () => {
    const r = run([0x0f, 0x5d, 0xc1], [[QNAN, 0, ONE, 0x80000000], [ONE, 0x80000000, QNAN, 0]]); // minps
    expect(r.xmm(0)).toEqual([ONE, 0x80000000, QNAN, 0]);
    expect(r.mxcsr).toBe(0x1f81);
    const m = run([0x0f, 0x5f, 0xc1], [[ONE, TWO, 0, 0], [TWO, ONE, 0, 0]]); // maxps
    expect(m.xmm(0)).toEqual([TWO, TWO, 0, 0]);
  });

  it('MULSS underflow: a tiny inexact result is denormal with UE|PE; FTZ flushes it to zero', () => {
    const x = [[0x00800001, 0, 0, 0], [0x3f000000, 0, 0, 0]]; // 2^-126 (1 + 2^-23) * 0.5
    const r = run([0xf3, 0x0f, 0x59, 0xc1], x);
    expect([r.xmm(0)[0], r.mxcsr]).toEqual([0x00400000, 0x1fb0]);
    const z = run([0xf3, 0x0f, 0x59, 0xc1], x, { mxcsr: 0x9f80 });
    expect([z.xmm(0)[0], z.mxcsr]).toEqual([0, 0x9fb0]);
  });

  it('tininess is detected after rounding: a product just below 2^-126 that rounds to 2^-126 sets no UE (host-measured)', () => {
    // (2^23 - 1) * 2^-149 * (1 + 2^-23) = 2^-126 (1 - 2^-46): rounds to 2^-126; inexact; DE for the denormal operand.
    const r = run([0xf3, 0x0f, 0x59, 0xc1], [[0x007fffff, 0, 0, 0], [0x3f800001, 0, 0, 0]]);
    expect([r.xmm(0)[0], r.mxcsr]).toEqual([0x00800000, 0x1fa2]);
  });

  it('DAZ treats a denormal operand as zero without DE', () => {
    const r = run([0xf3, 0x0f, 0x58, 0xc1], [[1, 0, 0, 0], [0, 0, 0, 0]], { mxcsr: 0x1fc0 });
    expect([r.xmm(0)[0], r.mxcsr]).toEqual([0, 0x1fc0]);
    const d = run([0xf3, 0x0f, 0x58, 0xc1], [[1, 0, 0, 0], [0, 0, 0, 0]]);
    expect([d.xmm(0)[0], d.mxcsr]).toEqual([1, 0x1f82]);
  });

  it('CMPPS predicates: EQ, LT, UNORD, NLE give all-ones / zero masks; LT signals IE on a QNaN', () => {
    const x = [[ONE, TWO, QNAN, ONE], [ONE, ONE, ONE, TWO]];
    expect(run([0x0f, 0xc2, 0xc1, 0], x).xmm(0)).toEqual([0xffffffff, 0, 0, 0]); // EQ
    const lt = run([0x0f, 0xc2, 0xc1, 1], x);
    expect([lt.xmm(0), lt.mxcsr]).toEqual([[0, 0, 0, 0xffffffff], 0x1f81]);
    expect(run([0x0f, 0xc2, 0xc1, 3], x).xmm(0)).toEqual([0, 0, 0xffffffff, 0]); // UNORD
    const eq = run([0x0f, 0xc2, 0xc1, 0], x);
    expect(eq.mxcsr).toBe(0x1f80); // EQ is quiet
    expect(run([0x0f, 0xc2, 0xc1, 6], x).xmm(0)).toEqual([0, 0xffffffff, 0xffffffff, 0]); // NLE
  });

  it('COMISS/UCOMISS set ZF PF CF and clear OF SF AF; COMISS signals IE on a QNaN, UCOMISS does not', () => {
    const arith = 0x8d5;
    const lt = run([0x0f, 0x2f, 0xc1], [[ONE, 0, 0, 0], [TWO, 0, 0, 0]]);
    expect(lt.rflags & arith).toBe(0x01);
    const eq = run([0x0f, 0x2f, 0xc1], [[ONE, 0, 0, 0], [ONE, 0, 0, 0]]);
    expect(eq.rflags & arith).toBe(0x40);
    const gt = run([0x0f, 0x2f, 0xc1], [[TWO, 0, 0, 0], [ONE, 0, 0, 0]]);
    expect(gt.rflags & arith).toBe(0);
    const un = run([0x0f, 0x2e, 0xc1], [[QNAN, 0, 0, 0], [ONE, 0, 0, 0]]);
    expect([un.rflags & arith, un.mxcsr]).toEqual([0x45, 0x1f80]);
    const co = run([0x0f, 0x2f, 0xc1], [[QNAN, 0, 0, 0], [ONE, 0, 0, 0]]);
    expect([co.rflags & arith, co.mxcsr]).toEqual([0x45, 0x1f81]);
  });

  it('CVTSS2SI rounds by MXCSR.RC, CVTTSS2SI truncates; NaN and out-of-range give the integer indefinite with IE', () => {
    const x = [[0, 0, 0, 0], [0x3fc00000, 0, 0, 0]]; // 1.5
    expect(run([0xf3, 0x0f, 0x2d, 0xc1], x).gpr(0)).toEqual([2, 0]); // cvtss2si eax, xmm1
    expect(run([0xf3, 0x0f, 0x2c, 0xc1], x).gpr(0)).toEqual([1, 0]); // cvttss2si
    const n = run([0xf3, 0x48, 0x0f, 0x2d, 0xc1], [[0, 0, 0, 0], [QNAN, 0, 0, 0]]); // cvtss2si rax
    expect([n.gpr(0), n.mxcsr]).toEqual([[0, 0x80000000], 0x1f81]);
    const big = run([0xf3, 0x0f, 0x2d, 0xc1], [[0, 0, 0, 0], [0x4f000000, 0, 0, 0]]); // 2^31
    expect([big.gpr(0), big.mxcsr]).toEqual([[0x80000000, 0], 0x1f81]);
  });

  it('CVTSI2SD / CVTSI2SS with REX.W convert 64-bit integers, rounding by MXCSR.RC', () => {
    // cvtsi2ss xmm0, rcx (rcx = 2^63 - 1): rounds to 2^63 (0x5f000000) with PE.
    const r = run([0xf3, 0x48, 0x0f, 0x2a, 0xc1], [[0, 9, 9, 9]], { gpr: [[0, 0], [-1, 0x7fffffff]] });
    expect([r.xmm(0), r.mxcsr]).toEqual([[0x5f000000, 9, 9, 9], 0x1fa0]);
    // Toward zero: 0x5effffff.
    const z = run([0xf3, 0x48, 0x0f, 0x2a, 0xc1], [[0, 9, 9, 9]], { gpr: [[0, 0], [-1, 0x7fffffff]], mxcsr: 0x7f80 });
    expect(z.xmm(0)[0]).toBe(0x5effffff);
    // cvtsi2sd xmm0, ecx = -1: exactly -1.0, upper half kept.
    const d = run([0xf2, 0x0f, 0x2a, 0xc1], [[7, 7, 8, 8]], { gpr: [[0, 0], [-1, -1]] });
    expect(d.xmm(0)).toEqual([0, 0xbff00000, 8, 8]);
  });

  it('CVTPS2PD / CVTPD2PS / CVTDQ2PS / CVTTPD2DQ', () => {
    expect(run([0x0f, 0x5a, 0xc1], [[0, 0, 0, 0], [ONE, 0xc0000000, 5, 5]]).xmm(0)).toEqual([0, 0x3ff00000, 0, 0xc0000000]);
    expect(run([0x66, 0x0f, 0x5a, 0xc1], [[9, 9, 9, 9], [0, 0x3ff00000, 0, 0x40080000]]).xmm(0)).toEqual([ONE, THREE, 0, 0]);
    expect(run([0x0f, 0x5b, 0xc1], [[0, 0, 0, 0], [1, 2, 3, -1]]).xmm(0)).toEqual([ONE, TWO, THREE, 0xbf800000]);
    expect(run([0x66, 0x0f, 0xe6, 0xc1], [[9, 9, 9, 9], [0, 0xbff80000, 0, 0x7ff80000]]).xmm(0)).toEqual([0xffffffff, 0x80000000, 0, 0]);
  });

  it('CVTPI2PS from an MMX register enters MMX state (TOP = 0, tags valid); CVTPS2PI writes MMn', () => {
    const r = run([0x0f, 0x2a, 0xc1], [[0, 0, 7, 7]]); // cvtpi2ps xmm0, mm1 (mm1 = 0)
    expect(r.xmm(0)).toEqual([0, 0, 7, 7]);
    expect(full.cpu.fpEmpty).toBe(0);
    const p = run([0x0f, 0x2d, 0xd1], [[], [0x40200000, 0xc0200000, 0, 0]]); // cvtps2pi mm2, xmm1: 2.5, -2.5
    expect(p.mm(2)).toEqual([2, 0xfffffffe]);
    expect(full.cpu.fpSe[2]).toBe(0xffff);
  });

  it('ADDSUBPS, HADDPS, HSUBPD', () => {
    const x = [[ONE, ONE, TWO, TWO], [ONE, TWO, ONE, TWO]];
    expect(run([0xf2, 0x0f, 0xd0, 0xc1], x).xmm(0)).toEqual([0, THREE, ONE, 0x40800000]);
    expect(run([0xf2, 0x0f, 0x7c, 0xc1], x).xmm(0)).toEqual([TWO, 0x40800000, THREE, THREE]);
    const d = run([0x66, 0x0f, 0x7d, 0xc1], [[0, 0x40080000, 0, 0x3ff00000], [0, 0x3ff00000, 0, 0x40000000]]);
    expect(d.xmm(0)).toEqual([0, 0x40000000, 0, 0xbff00000]); // 3 - 1, 1 - 2
  });

  it('ROUNDSS/ROUNDPD: immediate rounding modes, MXCSR.RC with imm[2], PE suppressed with imm[3]', () => {
    const x = [[0, 9, 9, 9], [0x40200000, 0, 0, 0]]; // 2.5
    const rn = run([0x66, 0x0f, 0x3a, 0x0a, 0xc1, 0x00], x);
    expect([rn.xmm(0), rn.mxcsr]).toEqual([[TWO, 9, 9, 9], 0x1fa0]); // ties to even
    expect(run([0x66, 0x0f, 0x3a, 0x0a, 0xc1, 0x02], x).xmm(0)[0]).toBe(THREE); // up
    const mx = run([0x66, 0x0f, 0x3a, 0x0a, 0xc1, 0x0c], x, { mxcsr: 0x3f80 }); // MXCSR.RC = down, no PE
    expect([mx.xmm(0)[0], mx.mxcsr]).toEqual([TWO, 0x3f80]);
    const pd = run([0x66, 0x0f, 0x3a, 0x09, 0xc1, 0x03], [[], [0, 0xc0040000, 0, 0x3fe00000]]); // trunc(-2.5), trunc(0.5)
    expect(pd.xmm(0)).toEqual([0, 0xc0000000, 0, 0]);
  });

  it('DPPS: masked products summed as (p0 + p1) + (p2 + p3), broadcast by imm[3:0]', () => {
    const r = run([0x66, 0x0f, 0x3a, 0x40, 0xc1, 0x7a], [[ONE, TWO, THREE, 0x41000000], [ONE, ONE, ONE, ONE]]);
    expect(r.xmm(0)).toEqual([0, 0x40c00000, 0, 0x40c00000]); // 1 + 2 + 3 to lanes 1 and 3
  });

  it('an unmasked exception leaves the destination unchanged: #XM, or #UD when CR4.OSXMMEXCPT = 0', () => {
    const x = [[ONE, ONE, ONE, ONE], [0, ONE, ONE, ONE]];
    const r = run([0x0f, 0x5e, 0xc1], x, { mxcsr: 0x1d80 }); // divps, ZM clear
    expect([r.vector, r.mxcsr, r.xmm(0)]).toEqual([19, 0x1d84, [ONE, ONE, ONE, ONE]]);
    full.cpu.cr4 &= ~Cr4.OSXMMEXCPT;
    try {
      expect(run([0x0f, 0x5e, 0xc1], x, { mxcsr: 0x1d80 }).vector).toBe(6);
    } finally {
      full.cpu.cr4 |= Cr4.OSXMMEXCPT;
    }
  });

  it('a pre-computation exception (unmasked DE) records only IE/DE/ZE, not the other lanes\' PE', () => {
    // Lane 0: denormal + 1 (DE, unmasked); lane 1: (1 + 2^-23) + 2^-24 is inexact (PE, masked).
    const r = run([0x0f, 0x58, 0xc1], [[1, 0x3f800001, 0, 0], [ONE, 0x33800000, 0, 0]], { mxcsr: 0x1e80 });
    expect([r.vector, r.mxcsr]).toEqual([19, 0x1e82]);
  });

  it('packed memory operands must be 16-byte aligned (#GP(0)); scalar ones need not be', () => {
    const data = f32le(ONE, ONE, ONE, ONE, ONE, ONE, ONE, ONE);
    const a = run([0x0f, 0x58, ...mem(0, 4)], [[ONE, 0, 0, 0]], { mem: data });
    expect([a.vector, a.errorCode]).toEqual([13, 0]);
    const ok = run([0x0f, 0x58, ...mem(0, 16)], [[ONE, 0, 0, 0]], { mem: data });
    expect([ok.vector, ok.xmm(0)]).toEqual([NONE, [TWO, ONE, ONE, ONE]]);
    const s = run([0xf3, 0x0f, 0x58, ...mem(0, 1)], [[ONE, 0, 0, 0]], { mem: [0, ...data] });
    expect([s.vector, s.xmm(0)[0]]).toEqual([NONE, TWO]);
  });

  it('CR0.TS gives #NM; CR0.EM or CR4.OSFXSR = 0 gives #UD', () => {
    const cpu = full.cpu;
    const code = [0x0f, 0x58, 0xc1];
    cpu.cr0 |= Cr0.TS;
    try {
      expect(run(code, []).vector).toBe(7);
    } finally {
      cpu.cr0 &= ~Cr0.TS;
    }
    cpu.cr4 &= ~Cr4.OSFXSR;
    try {
      expect(run(code, []).vector).toBe(6);
    } finally {
      cpu.cr4 |= Cr4.OSFXSR;
    }
  });

  it('SSE3 and SSE4.1 instructions are #UD on a model without the feature bit', () => {
    const bare = new SnippetRunner({ model: { ...AMD_ZEN, leaf1Ecx: AMD_ZEN.leaf1Ecx & ~(Cpuid1Ecx.SSE3 | Cpuid1Ecx.SSE41) } });
    expect(run([0xf2, 0x0f, 0x7c, 0xc1], [], { runner: bare }).vector).toBe(6); // haddps
    expect(run([0x66, 0x0f, 0x3a, 0x0a, 0xc1, 0], [], { runner: bare }).vector).toBe(6); // roundss
    expect(run([0x0f, 0x58, 0xc1], [], { runner: bare }).vector).toBe(NONE); // addps
  });

  it('RCPSS/RSQRTSS approximate within 1.5 * 2^-12 and raise nothing', () => {
    const r = run([0xf3, 0x0f, 0x53, 0xc1], [[0, 0, 0, 0], [THREE, 0, 0, 0]]);
    const f = new Float32Array(Uint32Array.of(r.xmm(0)[0]!).buffer)[0]!;
    expect(Math.abs(f * 3 - 1)).toBeLessThanOrEqual(1.5 * 2 ** -12);
    expect(r.mxcsr).toBe(0x1f80);
  });
});
