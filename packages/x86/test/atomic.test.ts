/**
 * CMPXCHG, XADD, CMPXCHG8B/CMPXCHG16B.
 */
import { describe, expect, it } from 'vitest';
import { ARITH, CF, le, memOperand, PF, SF, user64, ZF } from './user-harness.js';

describe('CMPXCHG', () => {
  it('equal: dest = src, ZF = 1; a 32-bit accumulator is not written', () => {
    const r = user64([0x0f, 0xb1, 0xcb], { regs: { rax: 0xffff_ffff_0000_0005n, rbx: 0xeeee_eeee_0000_0005n, rcx: 9 } }); // cmpxchg ebx, ecx
    expect(r.reg('rbx')).toBe(9n);
    expect(r.reg('rax')).toBe(0xffff_ffff_0000_0005n);
    expect(r.rflags & ARITH).toBe(ZF | PF);
  });

  it('not equal: accumulator = dest (zero-extended), a register destination keeps its upper half', () => {
    const r = user64([0x0f, 0xb1, 0xcb], { regs: { rax: 0xffff_ffff_0000_0006n, rbx: 0xeeee_eeee_0000_0005n, rcx: 9 } });
    expect(r.reg('rax')).toBe(5n);
    expect(r.reg('rbx')).toBe(0xeeee_eeee_0000_0005n);
    expect(r.rflags & (ZF | CF)).toBe(0);
  });

  it('memory destination is written even when unequal (#PF error code W = 1)', () => {
    const r = user64([0xf0, 0x48, 0x0f, 0xb1, ...memOperand(1, 0x1000)]);
    expect(r.vector).toBe(14);
    expect(r.errorCode).toBe(6);
    const m = user64([0x0f, 0xb0, ...memOperand(1, 4)], { regs: { rax: 0x7f, rcx: 0x33 }, mem: [0, 0, 0, 0, 0x7f] }); // byte
    expect(m.mem[4]).toBe(0x33);
  });
});

describe('XADD', () => {
  it('reg = old dest, dest = sum, flags of the addition', () => {
    const r = user64([0x48, 0x0f, 0xc1, 0xcb], { regs: { rbx: -1n, rcx: 1 } }); // xadd rbx, rcx
    expect(r.reg('rbx')).toBe(0n);
    expect(r.reg('rcx')).toBe(0xffff_ffff_ffff_ffffn);
    expect(r.rflags & (CF | ZF)).toBe(CF | ZF);
  });

  it('with the same register, the sum wins', () => {
    const r = user64([0x0f, 0xc1, 0xc0], { regs: { rax: 0x4000_0000 } }); // xadd eax, eax
    expect(r.reg('rax')).toBe(0x8000_0000n);
    expect(r.rflags & SF).toBe(SF);
  });
});

describe('CMPXCHG8B / CMPXCHG16B', () => {
  it('8B equal: memory = ECX:EBX, ZF = 1, other flags kept', () => {
    const r = user64([0x0f, 0xc7, ...memOperand(1, 8)], {
      regs: { rax: 0x1111_1111, rdx: 0x2222_2222, rbx: 0xaaaa_aaaa, rcx: 0xbbbb_bbbb },
      flags: CF | SF,
      mem: [0, 0, 0, 0, 0, 0, 0, 0, ...le(0x2222_2222_1111_1111n, 8)],
    });
    expect(r.memValue(8, 8)).toBe(0xbbbb_bbbb_aaaa_aaaan);
    expect(r.rflags & ARITH).toBe(CF | SF | ZF);
  });

  it('8B unequal: EDX:EAX = memory (zero-extended), memory unchanged, ZF = 0', () => {
    const r = user64([0x0f, 0xc7, ...memOperand(1, 3)], {
      regs: { rax: -1n, rdx: -1n },
      flags: ZF,
      mem: [0, 0, 0, ...le(0x0102_0304_0506_0708n, 8)],
    });
    expect(r.reg('rax')).toBe(0x0506_0708n);
    expect(r.reg('rdx')).toBe(0x0102_0304n);
    expect(r.memValue(3, 8)).toBe(0x0102_0304_0506_0708n);
    expect(r.rflags & ZF).toBe(0);
  });

  it('16B needs a 16-byte aligned operand (#GP(0)); a register operand is #UD', () => {
    expect(user64([0x48, 0x0f, 0xc7, ...memOperand(1, 8)]).vector).toBe(13);
    expect(user64([0x48, 0x0f, 0xc7, ...memOperand(1, 8)]).errorCode).toBe(0);
    expect(user64([0x0f, 0xc7, 0xc8]).vector).toBe(6);
    const r = user64([0xf0, 0x48, 0x0f, 0xc7, ...memOperand(1, 16)], {
      regs: { rax: 1, rdx: 2, rbx: 3, rcx: 4 },
      mem: [...new Array<number>(16).fill(0), ...le(1, 8), ...le(2, 8)],
    });
    expect(r.vector).toBe(-1);
    expect(r.memValue(16, 8)).toBe(3n);
    expect(r.memValue(24, 8)).toBe(4n);
    expect(r.rflags & ZF).toBe(ZF);
  });
});
