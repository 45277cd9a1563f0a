/**
 * PUSHF/POPF privilege and virtual-8086 rules, RDRAND/RDSEED, PAUSE, fences, CLFLUSH, UD0/1/2.
 */
import { describe, expect, it } from 'vitest';
import type { Hpa } from '@hvkit/platform';
import { Flag } from '../src/index.js';
import { ARITH, CF, DATA_BASE, DF, le, Legacy, memOperand, user64 } from './user-harness.js';

const IOPL3 = 3 << 12;

/** Runs POPF (or POPFD) in a legacy machine with `value` on the stack; returns the machine. */
function popf(m: Legacy, value: number, o16 = false): Legacy {
  m.cpu.gpr[4] = 0x7000;
  m.memory.write32(0x7000 as Hpa, value >>> 0);
  return m.run(o16 === (m.cpu.mode === 0) ? [0x9d] : [0x66, 0x9d]);
}

describe('POPF', () => {
  it('64-bit, CPL 3, IOPL 0: IF and IOPL are kept silently, DF/ID/arithmetic flags load, RF cleared', () => {
    const value = Flag.ID | IOPL3 | DF | ARITH; // IF = 0
    const r = user64([0x9d], { mem: [...new Array<number>(120).fill(0), ...le(value, 8)], regs: { rsp: DATA_BASE + 120 } });
    expect(r.vector).toBe(-1);
    expect(r.rflags >>> 0).toBe(Flag.ID | DF | ARITH | Flag.IF | 0x2);
    expect(r.reg('rsp')).toBe(BigInt(DATA_BASE + 128));
  });

  it('CPL 0 may change IOPL and IF, never VM, VIF, VIP', () => {
    const m = new Legacy('pm32');
    popf(m, IOPL3 | Flag.VM | Flag.VIF | Flag.VIP | Flag.IF | 0x2);
    expect(m.vector).toBe(-1);
    expect(m.cpu.getEflags() & (IOPL3 | Flag.VM | Flag.VIF | Flag.VIP | Flag.IF)).toBe(IOPL3 | Flag.IF);
  });

  it('0 < CPL <= IOPL: IF changes, IOPL does not', () => {
    const m = new Legacy('pm32', { cpl: 3, iopl: 3 });
    popf(m, Flag.IF | 0x2);
    expect(m.cpu.getEflags() & (IOPL3 | Flag.IF)).toBe(IOPL3 | Flag.IF);
  });

  it('CPL > IOPL: neither IF nor IOPL change, no fault', () => {
    const m = new Legacy('pm32', { cpl: 3, iopl: 0 });
    popf(m, Flag.IF | IOPL3 | CF | 0x2);
    expect(m.vector).toBe(-1);
    expect(m.cpu.getEflags() & (IOPL3 | Flag.IF | CF)).toBe(CF);
  });

  it('a 16-bit operand size changes only the low 16 bits', () => {
    const m = new Legacy('pm32');
    m.cpu.setEflags(0x2 | Flag.AC);
    m.cpu.gpr[4] = 0x7000;
    m.memory.write32(0x7000 as Hpa, 0x0004_0000 | CF);
    m.run([0x66, 0x9d]);
    expect(m.cpu.gpr[4]).toBe(0x7002);
    expect(m.cpu.getEflags() & (Flag.AC | CF)).toBe(Flag.AC | CF);
  });

  it('virtual-8086 mode, IOPL 3: IF changes, IOPL does not', () => {
    const m = new Legacy('v86', { iopl: 3 });
    m.cpu.gpr[4] = 0x7000;
    m.memory.write16(0x7000 as Hpa, Flag.IF | 0x2);
    m.run([0x9d]);
    expect(m.vector).toBe(-1);
    expect(m.cpu.getEflags() & (IOPL3 | Flag.IF | Flag.VM)).toBe(IOPL3 | Flag.IF | Flag.VM);
  });

  it('virtual-8086 mode, IOPL < 3: #GP(0) without CR4.VME', () => {
    const m = new Legacy('v86', { iopl: 0 });
    m.run([0x9d]);
    expect(m.vector).toBe(13);
    expect(m.errorCode).toBe(0);
  });

  it('virtual-8086 mode with VME: the popped IF goes to VIF; IF with VIP, or TF, is #GP(0)', () => {
    const m = new Legacy('v86', { iopl: 0, vme: true });
    m.cpu.gpr[4] = 0x7000;
    m.memory.write16(0x7000 as Hpa, Flag.IF | CF | 0x2);
    m.run([0x9d]);
    expect(m.vector).toBe(-1);
    expect(m.cpu.getEflags() & (Flag.IF | Flag.VIF | CF)).toBe(Flag.VIF | CF);
    expect(m.cpu.gpr[4]).toBe(0x7002);
    m.cpu.setEflags(m.cpu.getEflags() | Flag.VIP);
    m.cpu.gpr[4] = 0x7000;
    m.run([0x9d]);
    expect(m.vector).toBe(13);
    const t = new Legacy('v86', { iopl: 0, vme: true });
    t.cpu.gpr[4] = 0x7000;
    t.memory.write16(0x7000 as Hpa, Flag.TF | 0x2);
    t.run([0x9d]);
    expect(t.vector).toBe(13);
    // A 32-bit operand size is #GP(0) even with VME.
    const d = new Legacy('v86', { iopl: 0, vme: true });
    d.run([0x66, 0x9d]);
    expect(d.vector).toBe(13);
  });
});

describe('PUSHF', () => {
  it('pushes EFLAGS with VM and RF cleared', () => {
    const m = new Legacy('pm32');
    m.cpu.setEflags(0x2 | Flag.RF | CF | DF);
    m.run([0x9c]);
    expect(m.cpu.gpr[4]).toBe(0x7000 - 4);
    expect(m.memory.read32((0x7000 - 4) as Hpa)).toBe(0x2 | CF | DF);
  });

  it('64-bit mode pushes 8 bytes (66: 2 bytes)', () => {
    const r = user64([0x9c], { flags: CF });
    expect(r.reg('rsp')).toBe(BigInt(DATA_BASE + 120));
    expect(r.memValue(120, 8)).toBe(BigInt(0x203));
    const w = user64([0x66, 0x9c], { flags: CF });
    expect(w.reg('rsp')).toBe(BigInt(DATA_BASE + 126));
  });

  it('virtual-8086 mode, IOPL < 3: #GP(0) without VME; with VME, IF reads as VIF and IOPL as 3', () => {
    const g = new Legacy('v86', { iopl: 0 });
    g.run([0x9c]);
    expect(g.vector).toBe(13);
    const m = new Legacy('v86', { iopl: 0, vme: true });
    m.cpu.setEflags(m.cpu.getEflags() | Flag.VIF | CF);
    m.run([0x9c]);
    expect(m.vector).toBe(-1);
    expect(m.memory.read16((0x7000 - 2) as Hpa)).toBe(0x2 | CF | Flag.IF | IOPL3);
  });
});

describe('RDRAND / RDSEED', () => {
  it('return a value with CF = 1 and the other arithmetic flags 0', () => {
    const r = user64([0x48, 0x0f, 0xc7, 0xf0, 0x48, 0x0f, 0xc7, 0xfb], { flags: ARITH & ~CF }); // rdrand rax; rdseed rbx
    expect(r.vector).toBe(-1);
    expect(r.rflags & ARITH).toBe(CF);
    expect(r.reg('rax')).not.toBe(r.reg('rbx'));
    const w = user64([0x66, 0x0f, 0xc7, 0xf0], { regs: { rax: 0x1234_5678_0000_0000n } });
    expect(w.reg('rax') >> 16n).toBe(0x1234_5678_0000n);
  });

  it('memory forms and F3/F2 forms are not RDRAND', () => {
    expect(user64([0x0f, 0xc7, ...memOperand(6, 0)]).vector).toBe(6);
    expect(user64([0xf2, 0x0f, 0xc7, 0xf0]).vector).toBe(6);
  });
});

describe('hints, fences, flushes, UD', () => {
  it('PAUSE does nothing; with REX.B the F3 90 is XCHG', () => {
    const r = user64([0xf3, 0x90], { regs: { rax: 5 }, flags: CF });
    expect(r.reg('rax')).toBe(5n);
    expect(r.rflags & ARITH).toBe(CF);
    const x = user64([0xf3, 0x41, 0x90], { regs: { rax: 0xffff_ffff_0000_0001n, r8: 2 } });
    expect(x.reg('rax')).toBe(2n);
    expect(x.reg('r8')).toBe(1n);
  });

  it('LFENCE/MFENCE/SFENCE execute; prefixed forms are #UD', () => {
    expect(user64([0x0f, 0xae, 0xe8, 0x0f, 0xae, 0xf0, 0x0f, 0xae, 0xf8]).vector).toBe(-1);
    expect(user64([0x66, 0x0f, 0xae, 0xf8]).vector).toBe(6);
    expect(user64([0xf3, 0x0f, 0xae, 0xe8]).vector).toBe(6);
  });

  it('CLFLUSH/CLFLUSHOPT access the byte like a read (#PF error code 4 on a missing page)', () => {
    expect(user64([0x0f, 0xae, ...memOperand(7, 0)]).vector).toBe(-1);
    const r = user64([0x66, 0x0f, 0xae, ...memOperand(7, 0x1000)]);
    expect(r.vector).toBe(14);
    expect(r.errorCode).toBe(4);
  });

  it('PREFETCHh and hint NOPs do not access memory', () => {
    expect(user64([0x0f, 0x18, ...memOperand(1, 0x5000)]).vector).toBe(-1);
    expect(user64([0x0f, 0x0d, ...memOperand(1, 0x5000)]).vector).toBe(-1);
  });

  it('UD2, UD1, UD0 raise #UD at the instruction', () => {
    for (const code of [[0x0f, 0x0b], [0x0f, 0xb9, 0xc0], [0x0f, 0xff, 0xc0]]) {
      const r = user64([0x90, ...code]);
      expect(r.vector).toBe(6);
      expect(r.rip).toBe(1);
    }
  });
});
