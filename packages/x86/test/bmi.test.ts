/**
 * BMI1/BMI2 against BigInt references, the VEX encoding rules (#UD for VEX.L = 1, RORX with a
 * vvvv operand), and the flags (undefined ones as on the project's AMD host).
 */
import { describe, expect, it } from 'vitest';
import { AF, ARITH, CF, OF, PF, SF, user64, ZF } from './user-harness.js';

/** Three-byte VEX: map 2 (0F38) or 3 (0F3A), W, vvvv register, L, pp; ModRM reg/rm registers (0-7). */
function vex(map: number, w: number, vvvv: number, pp: number, op: number, reg: number, rm: number, l = 0): number[] {
  return [0xc4, 0xe0 | map, (w << 7) | ((~vvvv & 15) << 3) | (l << 2) | pp, op, 0xc0 | (reg << 3) | rm];
}
const RAX = 0;
const RCX = 1;
const RDX = 2;
const RBX = 3;

const M64 = (1n << 64n) - 1n;
let seed = 77;
function rnd64(): bigint {
  const n = (): bigint => {
    seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
    return BigInt(seed >>> 0);
  };
  const v = (n() << 32n) | n();
  return (v & 3n) === 0n ? v >> (v & 63n) : v;
}

const parity = (v: bigint): number => {
  let p = 1;
  for (let b = v & 0xffn; b !== 0n; b >>= 1n) p ^= Number(b & 1n);
  return p;
};

describe('BMI1', () => {
  it('ANDN: ~src1 & src2; SF, ZF, PF from the result, CF = OF = AF = 0', () => {
    for (let i = 0; i < 50; i++) {
      const a = rnd64();
      const b = rnd64();
      const r = user64(vex(2, 1, RCX, 0, 0xf2, RAX, RBX), { regs: { rcx: a, rbx: b }, flags: CF | OF | AF });
      const want = ~a & b & M64;
      expect(r.reg('rax')).toBe(want);
      expect(r.rflags & ARITH).toBe((want === 0n ? ZF : 0) | (want >> 63n === 1n ? SF : 0) | (parity(want) ? PF : 0));
    }
  });

  it('BEXTR: start and length from the control register, saturating; AF = 1, SF = 0 (AMD)', () => {
    const cases: [bigint, number, number][] = [
      [0x1234_5678_9abc_def0n, 8, 16],
      [0xffff_ffff_ffff_ffffn, 0, 64],
      [0xffff_ffff_ffff_ffffn, 60, 200],
      [0xffff_ffff_ffff_ffffn, 64, 8],
      [0x8000_0000_0000_0000n, 0, 0],
    ];
    for (const [src, start, len] of cases) {
      const r = user64(vex(2, 1, RCX, 0, 0xf7, RAX, RBX), { regs: { rbx: src, rcx: start | (len << 8) } });
      const want = start >= 64 ? 0n : (src >> BigInt(start)) & ((1n << BigInt(Math.min(len, 64))) - 1n);
      expect(r.reg('rax')).toBe(want);
      expect(r.rflags & ARITH).toBe(AF | (want === 0n ? ZF : 0) | (parity(want) ? PF : 0));
    }
  });

  it('BLSI / BLSMSK / BLSR write vvvv; CF as the SDM defines', () => {
    const src = 0x0000_0100_0000_0000n;
    const blsi = user64(vex(2, 1, RCX, 0, 0xf3, 3, RBX), { regs: { rbx: src } });
    expect(blsi.reg('rcx')).toBe(src);
    expect(blsi.rflags & CF).toBe(CF);
    const blsmsk = user64(vex(2, 1, RCX, 0, 0xf3, 2, RBX), { regs: { rbx: src } });
    expect(blsmsk.reg('rcx')).toBe((src << 1n) - 1n);
    expect(blsmsk.rflags & CF).toBe(0);
    const blsr = user64(vex(2, 1, RCX, 0, 0xf3, 1, RBX), { regs: { rbx: src | 0x10n } });
    expect(blsr.reg('rcx')).toBe(src);
    const zero = user64(vex(2, 0, RCX, 0, 0xf3, 1, RBX), { regs: { rbx: 0, rcx: -1n } });
    expect(zero.reg('rcx')).toBe(0n);
    expect(zero.rflags & (CF | ZF)).toBe(CF | ZF);
  });

  it('VEX.L = 1 is #UD', () => {
    expect(user64(vex(2, 1, RCX, 0, 0xf2, RAX, RBX, 1)).vector).toBe(6);
  });
});

describe('BMI2', () => {
  it('BZHI: CF = index > width - 1', () => {
    const r = user64(vex(2, 1, RCX, 0, 0xf5, RAX, RBX), { regs: { rbx: -1n, rcx: 0x105 } });
    expect(r.reg('rax')).toBe(0x1fn);
    expect(r.rflags & CF).toBe(0);
    const s = user64(vex(2, 0, RCX, 0, 0xf5, RAX, RBX), { regs: { rbx: -1n, rcx: 40 } });
    expect(s.reg('rax')).toBe(0xffff_ffffn);
    expect(s.rflags & CF).toBe(CF);
  });

  it('MULX: unsigned RDX * r/m; the high half goes to ModRM.reg (written last), no flags', () => {
    for (let i = 0; i < 50; i++) {
      const a = rnd64();
      const b = rnd64();
      const r = user64(vex(2, 1, RCX, 3, 0xf6, RAX, RBX), { regs: { rdx: a, rbx: b }, flags: ZF | CF });
      const p = a * b;
      expect(r.reg('rax')).toBe(p >> 64n);
      expect(r.reg('rcx')).toBe(p & M64);
      expect(r.rflags & ARITH).toBe(ZF | CF);
    }
    const same = user64(vex(2, 0, RAX, 3, 0xf6, RAX, RBX), { regs: { rdx: 0xffff_ffff, rbx: 0x10 } });
    expect(same.reg('rax')).toBe(0xfn);
  });

  it('PDEP / PEXT', () => {
    for (let i = 0; i < 50; i++) {
      const src = rnd64();
      const mask = rnd64();
      let dep = 0n;
      let ext = 0n;
      let k = 0n;
      for (let b = 0n; b < 64n; b++) {
        if (((mask >> b) & 1n) === 1n) {
          dep |= ((src >> k) & 1n) << b;
          ext |= ((src >> b) & 1n) << k;
          k++;
        }
      }
      expect(user64(vex(2, 1, RCX, 3, 0xf5, RAX, RBX), { regs: { rcx: src, rbx: mask } }).reg('rax')).toBe(dep);
      expect(user64(vex(2, 1, RCX, 2, 0xf5, RAX, RBX), { regs: { rcx: src, rbx: mask } }).reg('rax')).toBe(ext);
    }
  });

  it('RORX rotates by an immediate; a vvvv operand is #UD', () => {
    const code = [...vex(3, 1, 0, 3, 0xf0, RAX, RBX), 4];
    expect(user64(code, { regs: { rbx: 0x1234_5678_9abc_def1n } }).reg('rax')).toBe(0x1123_4567_89ab_cdefn);
    expect(user64([...vex(3, 0, RDX, 3, 0xf0, RAX, RBX), 4]).vector).toBe(6);
  });

  it('SHLX / SARX / SHRX mask the count and change no flag', () => {
    const v = 0x8000_0000_0000_00f0n;
    expect(user64(vex(2, 1, RCX, 1, 0xf7, RAX, RBX), { regs: { rbx: v, rcx: 68 } }).reg('rax')).toBe((v << 4n) & M64);
    expect(user64(vex(2, 1, RCX, 2, 0xf7, RAX, RBX), { regs: { rbx: v, rcx: 4 } }).reg('rax')).toBe(0xf800_0000_0000_000fn);
    expect(user64(vex(2, 1, RCX, 3, 0xf7, RAX, RBX), { regs: { rbx: v, rcx: 4 } }).reg('rax')).toBe(0x0800_0000_0000_000fn);
    const r = user64(vex(2, 0, RCX, 2, 0xf7, RAX, RBX), { regs: { rbx: 0x8000_0000, rcx: 31 }, flags: ARITH });
    expect(r.reg('rax')).toBe(0xffff_ffffn);
    expect(r.rflags & ARITH).toBe(ARITH);
  });
});
