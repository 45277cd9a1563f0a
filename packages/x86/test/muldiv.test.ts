/**
 * MUL/IMUL/DIV/IDIV: exact 64x64->128 products and 128/64 divisions against BigInt, #DE rules,
 * and the undefined flags (AMD: measured on the project's AMD host; Intel: the model's choice).
 */
import { describe, expect, it } from 'vitest';
import { AF, ARITH, CF, INTEL_CORE, OF, PF, SF, user64, ZF } from './user-harness.js';

const M64 = (1n << 64n) - 1n;
let seed = 0x1234567;
function rnd64(): bigint {
  const next = (): bigint => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return BigInt(seed >>> 0);
  };
  const v = (next() << 32n) | next();
  // Mix in edge shapes: small, sign boundaries, all ones.
  switch (Number(v & 7n)) {
    case 0:
      return v & 0xffn;
    case 1:
      return v >> (v & 63n);
    case 2:
      return M64 - (v & 3n);
    case 3:
      return 0x8000_0000_0000_0000n + (v & 3n);
    default:
      return v;
  }
}

const S = (v: bigint): bigint => BigInt.asIntN(64, v);
const U = (v: bigint): bigint => BigInt.asUintN(64, v);

describe('64-bit multiply', () => {
  it('MUL r64 (F7 /4): RDX:RAX = RAX * r/m, CF = OF = (RDX != 0)', () => {
    for (let i = 0; i < 300; i++) {
      const a = rnd64();
      const b = rnd64();
      const r = user64([0x48, 0xf7, 0xe3], { regs: { rax: a, rbx: b } });
      const p = a * b;
      expect(r.reg('rax')).toBe(p & M64);
      expect(r.reg('rdx')).toBe(p >> 64n);
      expect(r.rflags & (CF | OF)).toBe(p >> 64n !== 0n ? CF | OF : 0);
    }
  });

  it('IMUL r64 (F7 /5): signed 128-bit product', () => {
    for (let i = 0; i < 300; i++) {
      const a = rnd64();
      const b = rnd64();
      const r = user64([0x48, 0xf7, 0xeb], { regs: { rax: a, rbx: b } });
      const p = S(a) * S(b);
      expect(r.reg('rax')).toBe(U(p));
      expect(r.reg('rdx')).toBe(BigInt.asUintN(64, p >> 64n));
      const fits = p === S(U(p));
      expect(r.rflags & (CF | OF)).toBe(fits ? 0 : CF | OF);
    }
  });

  it('IMUL r64, r/m64 (0F AF) and IMUL r64, r/m64, imm8 (6B) keep the low half', () => {
    for (let i = 0; i < 200; i++) {
      const a = rnd64();
      const b = rnd64();
      const r = user64([0x48, 0x0f, 0xaf, 0xc3], { regs: { rax: a, rbx: b } });
      const p = S(a) * S(b);
      expect(r.reg('rax')).toBe(U(p));
      expect(r.rflags & (CF | OF)).toBe(p === S(U(p)) ? 0 : CF | OF);
    }
    const r = user64([0x48, 0x6b, 0xc3, 0xfe], { regs: { rbx: 3 } }); // imul rax, rbx, -2
    expect(r.reg('rax')).toBe(U(-6n));
    expect(r.rflags & (CF | OF)).toBe(0);
  });

  it('IMUL r16, r/m16, imm16 (66 69) sign-extends the immediate', () => {
    const r = user64([0x66, 0x69, 0xc3, 0x00, 0x80], { regs: { rax: 0xaaaa_0000, rbx: 2 } }); // imul ax, bx, -32768
    expect(r.reg('rax')).toBe(0xaaaa_0000n); // -65536 truncated to 16 bits = 0
    expect(r.rflags & (CF | OF)).toBe(CF | OF);
  });

  it('MUL r32 zero-extends RAX and RDX; MUL r8 writes AX only', () => {
    const r = user64([0xf7, 0xe3], { regs: { rax: 0xffff_ffff_ffff_ffffn, rbx: 0xffff_ffff, rdx: -1n } });
    expect(r.reg('rax')).toBe(1n);
    expect(r.reg('rdx')).toBe(0xffff_fffen);
    const b = user64([0xf6, 0xe3], { regs: { rax: 0x1111_22ff, rbx: 0xff, rdx: 7 } });
    expect(b.reg('rax')).toBe(0x1111_fe01n);
    expect(b.reg('rdx')).toBe(7n);
  });

  it('AMD leaves SF, ZF, AF, PF unchanged; Intel takes SF/ZF/PF from the low half and clears AF', () => {
    const code = [0xf6, 0xe3]; // mul bl: 0x10 * 0x10 = 0x100
    const amd = user64(code, { regs: { rax: 0x10, rbx: 0x10 }, flags: ZF | SF | AF | PF });
    expect(amd.rflags & ARITH).toBe(ZF | SF | AF | PF | CF | OF);
    const intel = user64(code, { regs: { rax: 0x10, rbx: 0x10 }, flags: SF | AF }, INTEL_CORE);
    expect(intel.rflags & ARITH).toBe(ZF | PF | CF | OF);
  });
});

describe('division', () => {
  it('DIV r64 (F7 /6): RDX:RAX / r/m -> RAX, RDX', () => {
    let n = 0;
    while (n < 300) {
      const hi = rnd64();
      const lo = rnd64();
      const d = rnd64();
      if (d === 0n || hi >= d) continue;
      n++;
      const r = user64([0x48, 0xf7, 0xf3], { regs: { rax: lo, rdx: hi, rbx: d } });
      const num = (hi << 64n) | lo;
      expect(r.vector).toBe(-1);
      expect(r.reg('rax')).toBe(num / d);
      expect(r.reg('rdx')).toBe(num % d);
    }
  });

  it('IDIV r64 (F7 /7): truncating signed division of RDX:RAX', () => {
    let n = 0;
    while (n < 300) {
      const d = S(rnd64());
      const q = S(rnd64()) >> (rnd64() & 63n);
      const rem = d === 0n ? 0n : S(rnd64()) % d;
      if (d === 0n) continue;
      // Build a dividend whose remainder has the dividend's sign.
      const num = q * d + rem;
      if ((num < 0n && rem > 0n) || (num > 0n && rem < 0n)) continue;
      const tq = num / d;
      if (tq > 0x7fff_ffff_ffff_ffffn || tq < -0x8000_0000_0000_0000n) continue;
      n++;
      const u = BigInt.asUintN(128, num);
      const r = user64([0x48, 0xf7, 0xfb], { regs: { rax: u & M64, rdx: u >> 64n, rbx: U(d) } });
      expect(r.vector).toBe(-1);
      expect(S(r.reg('rax'))).toBe(tq);
      expect(S(r.reg('rdx'))).toBe(num - tq * d);
    }
  });

  it('#DE on a zero divisor and on quotient overflow, leaving the registers unchanged', () => {
    const z = user64([0x48, 0xf7, 0xf3], { regs: { rax: 5, rdx: 0, rbx: 0 } });
    expect(z.vector).toBe(0);
    expect(z.errorCode).toBe(0);
    expect(z.rip).toBe(0);
    const o = user64([0x48, 0xf7, 0xf3], { regs: { rax: 5, rdx: 7, rbx: 7 } });
    expect(o.vector).toBe(0);
    expect(o.reg('rax')).toBe(5n);
    expect(o.reg('rdx')).toBe(7n);
    // IDIV: -2^63 / -1 does not fit; -2^64 / 2 = -2^63 does.
    const s = user64([0x48, 0xf7, 0xfb], { regs: { rax: 0x8000_0000_0000_0000n, rdx: -1n, rbx: -1n } });
    expect(s.vector).toBe(0);
    const t = user64([0x48, 0xf7, 0xfb], { regs: { rax: 0n, rdx: -1n, rbx: 2 } });
    expect(t.vector).toBe(-1);
    expect(t.reg('rax')).toBe(0x8000_0000_0000_0000n);
    // 8-bit IDIV: 128 / 1 overflows, -128 / 1 does not.
    expect(user64([0xf6, 0xfb], { regs: { rax: 0x80, rbx: 1 } }).vector).toBe(0);
    expect(user64([0xf6, 0xfb], { regs: { rax: 0xff80, rbx: 1 } }).reg('rax')).toBe(0x0080n);
  });

  it('DIV r32 and DIV r16 with remainders; 32-bit results zero-extend', () => {
    const r = user64([0xf7, 0xf3], { regs: { rax: 0xffff_ffff_0000_0005n, rdx: 0xaaaa_aaaa_0000_0001n, rbx: 3 } });
    // 0x1_0000_0005 / 3 = 0x5555_5557 r 0
    expect(r.reg('rax')).toBe(0x5555_5557n);
    expect(r.reg('rdx')).toBe(0n);
    const w = user64([0x66, 0xf7, 0xf3], { regs: { rax: 0x1234_0007, rdx: 0x5678_0001, rbx: 0x10 } });
    // 0x1_0007 / 0x10 = 0x1000 r 7
    expect(w.reg('rax')).toBe(0x1234_1000n);
    expect(w.reg('rdx')).toBe(0x5678_0007n);
  });

  it('AMD: CF and OF kept, SF = ZF = PF = 0, AF = 1; Intel: flags unchanged', () => {
    const code = [0xf6, 0xf3]; // div bl
    const amd = user64(code, { regs: { rax: 100, rbx: 7 }, flags: CF | ZF | SF | PF | OF });
    expect(amd.rflags & ARITH).toBe(CF | OF | AF);
    const intel = user64(code, { regs: { rax: 100, rbx: 7 }, flags: CF | ZF | SF | PF }, INTEL_CORE);
    expect(intel.rflags & ARITH).toBe(CF | ZF | SF | PF);
    expect(amd.reg('rax') & 0xffffn).toBe(0x020en); // 100 = 7 * 14 + 2
  });
});

describe('the exact limb products behind MUL/IMUL', async () => {
  const { mulU32, mulHigh, mulU64, productWord } = await import('../src/ops/muldiv.js');
  const u = (v: number) => BigInt(v >>> 0);
  // Edge values where a double product rounds (near 2^64, near multiples of 2^32) plus random ones.
  const edges = [0, 1, 2, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0xffff, 0x10000, 0x10001, 0xfffff001, 0x9e3779b9];
  let x = 0x12345678;
  const rand = () => (x = (Math.imul(x, 1664525) + 1013904223) | 0);
  const values = [...edges, ...Array.from({ length: 400 }, rand)];

  it('mulU32 gives the exact 64-bit product of two unsigned 32-bit values', () => {
    for (const a of values) {
      for (const b of values.slice(0, 60)) {
        const lo = mulU32(a, b);
        const got = (u(mulHigh()) << 32n) | u(lo);
        expect(got, `${a >>> 0} * ${b >>> 0}`).toBe(u(a) * u(b));
      }
    }
  });

  it('mulU64 gives the exact 128-bit product of two unsigned 64-bit values', () => {
    for (let i = 0; i < 3000; i++) {
      const [aLo, aHi, bLo, bHi] = i < edges.length ** 2 ? [edges[i % edges.length]!, edges[(i / edges.length) | 0]!, edges[(i * 7) % edges.length]!, 0xffffffff] : [rand(), rand(), rand(), rand()];
      mulU64(aLo, aHi, bLo, bHi);
      const got = (u(productWord(3)) << 96n) | (u(productWord(2)) << 64n) | (u(productWord(1)) << 32n) | u(productWord(0));
      expect(got).toBe(((u(aHi) << 32n) | u(aLo)) * ((u(bHi) << 32n) | u(bLo)));
    }
  });
});
