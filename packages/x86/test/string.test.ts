/**
 * String instructions: REP prefixes, direction, address-size-dependent registers, segment
 * override of the source only, restartability after a fault, and bounded chunks per dispatch.
 */
import type { Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Seg } from '../src/index.js';
import { MAX_ITERATIONS } from '../src/ops/string.js';
import { ARITH, CF, DATA_BASE, DF, Legacy, PF, SF, user64, ZF } from './user-harness.js';

const window = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);

describe('64-bit mode', () => {
  it('REP MOVSB copies forward and leaves RSI/RDI past the data, RCX = 0', () => {
    const mem = window(128);
    const r = user64([0xf3, 0xa4], { regs: { rsi: DATA_BASE, rdi: DATA_BASE + 64, rcx: 10 }, mem });
    expect(Array.from(r.mem.subarray(64, 74))).toEqual(mem.slice(0, 10));
    expect(r.mem[74]).toBe(mem[74]);
    expect(r.reg('rsi')).toBe(BigInt(DATA_BASE + 10));
    expect(r.reg('rdi')).toBe(BigInt(DATA_BASE + 74));
    expect(r.reg('rcx')).toBe(0n);
  });

  it('DF = 1 walks backwards (MOVSD)', () => {
    const mem = window(128);
    const r = user64([0xf3, 0xa5], { regs: { rsi: DATA_BASE + 8, rdi: DATA_BASE + 40, rcx: 3 }, flags: DF, mem });
    expect(Array.from(r.mem.subarray(32, 44))).toEqual(mem.slice(0, 12));
    expect(r.reg('rsi')).toBe(BigInt(DATA_BASE - 4));
    expect(r.reg('rdi')).toBe(BigInt(DATA_BASE + 28));
  });

  it('32-bit address size: ESI/EDI/ECX are used and zero-extended', () => {
    const hi = 0x5555_0000_0000_0000n;
    const r = user64([0x67, 0xf3, 0xaa], { regs: { rax: 0xab, rdi: hi | BigInt(DATA_BASE), rcx: hi | 4n } }); // rep stosb (a32)
    expect(r.vector).toBe(-1);
    expect(Array.from(r.mem.subarray(0, 5))).toEqual([0xab, 0xab, 0xab, 0xab, 0]);
    expect(r.reg('rdi')).toBe(BigInt(DATA_BASE + 4));
    expect(r.reg('rcx')).toBe(0n);
  });

  it('REP with a zero count does nothing, not even zero-extending', () => {
    const r = user64([0x67, 0xf3, 0xa4], { regs: { rcx: 0x1234_0000_0000_0000n, rsi: 0x9999_0000_0000_0000n } });
    expect(r.reg('rcx')).toBe(0x1234_0000_0000_0000n);
    expect(r.reg('rsi')).toBe(0x9999_0000_0000_0000n);
  });

  it('REPE CMPSB stops at the first difference with the flags of that compare', () => {
    const mem = [1, 2, 3, 4, 5, 0, 0, 0, 1, 2, 3, 9, 5];
    const r = user64([0xf3, 0xa6], { regs: { rsi: DATA_BASE, rdi: DATA_BASE + 8, rcx: 5 }, mem });
    expect(r.reg('rcx')).toBe(1n);
    expect(r.reg('rsi')).toBe(BigInt(DATA_BASE + 4));
    // 4 - 9 = -5: CF (borrow), SF; 0xfb has odd parity -> PF = 0.
    expect(r.rflags & ARITH & ~0x10).toBe(CF | SF);
  });

  it('REPNE SCASB stops on a match (ZF = 1); F2 MOVSB repeats like REP', () => {
    const r = user64([0xf2, 0xae], { regs: { rax: 0x30, rdi: DATA_BASE, rcx: 100 }, mem: [0x10, 0x20, 0x30, 0x40] });
    expect(r.reg('rcx')).toBe(97n);
    expect(r.reg('rdi')).toBe(BigInt(DATA_BASE + 3));
    expect(r.rflags & (ZF | PF)).toBe(ZF | PF);
    const m = user64([0xf2, 0xa4], { regs: { rsi: DATA_BASE, rdi: DATA_BASE + 16, rcx: 4 }, mem: [1, 2, 3, 4] });
    expect(Array.from(m.mem.subarray(16, 20))).toEqual([1, 2, 3, 4]);
  });

  it('a fault mid-way leaves the completed iterations committed and RIP at the instruction', () => {
    const r = user64([0xf3, 0xaa], { regs: { rax: 0x5a, rdi: DATA_BASE + 4090, rcx: 10 } });
    expect(r.vector).toBe(14);
    expect(r.errorCode).toBe(6);
    expect(r.rip).toBe(0);
    expect(r.reg('rcx')).toBe(4n);
    expect(r.reg('rdi')).toBe(BigInt(DATA_BASE + 4096));
  });

  it('LODSD zero-extends RAX, LODSW does not', () => {
    expect(user64([0xad], { regs: { rax: -1n, rsi: DATA_BASE }, mem: [1, 2, 3, 4] }).reg('rax')).toBe(0x0403_0201n);
    expect(user64([0x66, 0xad], { regs: { rax: -1n, rsi: DATA_BASE }, mem: [1, 2] }).reg('rax')).toBe(0xffff_ffff_ffff_0201n);
  });
});

describe('legacy modes', () => {
  it('at most MAX_ITERATIONS iterations per dispatch, RIP kept at the instruction until done', () => {
    const m = new Legacy('pm32');
    const cpu = m.cpu;
    m.memory.write(Legacy.CODE as Hpa, Uint8Array.of(0xf3, 0xaa, 0x0f, 0x0b)); // rep stosb; ud2
    cpu.flushCodeCache();
    cpu.ripLo = Legacy.CODE;
    cpu.gpr[0] = 0x77;
    cpu.gpr[7] = 0x20000;
    cpu.gpr[1] = 3000;
    cpu.step();
    expect(cpu.ripLo).toBe(Legacy.CODE);
    expect(cpu.gpr[1]).toBe(3000 - MAX_ITERATIONS);
    expect(cpu.gpr[7]).toBe(0x20000 + MAX_ITERATIONS);
    cpu.run(10);
    // Ran on to the UD2 after it.
    expect(m.events[0]).toEqual([0, 6, -1]);
    expect(cpu.ripLo).toBe(Legacy.CODE + 2);
    expect(cpu.gpr[1]).toBe(0);
    expect(m.memory.read8((0x20000 + 2999) as Hpa)).toBe(0x77);
    expect(m.memory.read8((0x20000 + 3000) as Hpa)).toBe(0);
  });

  it('16-bit address size: SI/DI/CX wrap at 64 KiB and keep the upper halves', () => {
    const m = new Legacy('real');
    m.cpu.gpr[6] = 0x1234_fffe; // SI
    m.cpu.gpr[7] = 0x5678_0100; // DI
    m.cpu.gpr[1] = 0x9abc_0004; // CX
    m.memory.write(0xfffe as Hpa, Uint8Array.of(1, 2));
    m.memory.write(0x0000 as Hpa, Uint8Array.of(3, 4));
    m.run([0xf3, 0xa4]);
    expect(m.vector).toBe(-1);
    expect(m.cpu.gpr[6]).toBe(0x1234_0002);
    expect(m.cpu.gpr[7]).toBe(0x5678_0104);
    expect(m.cpu.gpr[1]).toBe(0x9abc_0000 | 0);
    const out = new Uint8Array(4);
    m.memory.read(0x100 as Hpa, out);
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
  });

  it('a segment override changes the source only; the destination is always ES', () => {
    const m = new Legacy('real');
    m.cpu.setSegmentRaw(Seg.FS, 0x2000, 0x20000, 0xffff, m.cpu.segAttr[Seg.DS]!);
    m.cpu.setSegmentRaw(Seg.ES, 0x3000, 0x30000, 0xffff, m.cpu.segAttr[Seg.DS]!);
    m.memory.write(0x20010 as Hpa, Uint8Array.of(0xaa));
    m.memory.write(0x00010 as Hpa, Uint8Array.of(0xbb));
    m.cpu.gpr[6] = 0x10;
    m.cpu.gpr[7] = 0x20;
    m.run([0x64, 0xa4]); // fs movsb
    expect(m.memory.read8(0x30020 as Hpa)).toBe(0xaa);
    m.cpu.gpr[6] = 0x10;
    m.cpu.gpr[7] = 0x20;
    m.run([0x64, 0xae]); // fs scasb: the override does not apply to ES:DI
    expect(m.cpu.gpr[7]).toBe(0x21);
  });
});
