import { describe, expect, it } from 'vitest';
import { AMD_ZEN, CodeMode, Cr0, Efer, Flag, Seg, SegAttr, StopReason, Vector } from '../src/index.js';
import { CODE, Sys } from './sys-harness.js';

const GP = Vector.GP;
const UD = Vector.UD;
const SYSCALL = [0x0f, 0x05];
const SYSRET64 = [0x48, 0x0f, 0x07];
const SYSRET32 = [0x0f, 0x07];
const SYSENTER = [0x0f, 0x34];
const SYSEXIT = [0x0f, 0x35];
const SYSEXIT64 = [0x48, 0x0f, 0x35];

const FLAT = SegAttr.P | SegAttr.S | SegAttr.Accessed | SegAttr.G;
const CS64 = FLAT | SegAttr.Code | SegAttr.RW | SegAttr.L;
const CS32 = FLAT | SegAttr.Code | SegAttr.RW | SegAttr.DB;
const SS = FLAT | SegAttr.RW | SegAttr.DB;
const DPL3 = 3 << SegAttr.DplShift;

function seg(s: Sys, r: number): [number, number, number, number] {
  const c = s.cpu;
  return [c.segSel[r]!, c.segBase[r]!, c.segLimit[r]!, c.segAttr[r]!];
}

describe('SYSCALL / SYSRET', () => {
  it('SYSCALL in 64-bit mode: RCX, R11, flat CS/SS from STAR, RFLAGS masked by SFMASK, RIP = LSTAR', () => {
    const s = new Sys().long64(3);
    const c = s.cpu;
    c.starHi = 0x0023_0010;
    c.lstarLo = 0x200000;
    c.lstarHi = 0;
    c.sfmask = Flag.IF | Flag.DF;
    c.setEflags(Flag.IF | Flag.DF | Flag.CF | Flag.Fixed1);
    s.code(SYSCALL);
    c.step();
    expect(s.events).toEqual([]);
    expect(c.gpr[1]).toBe(CODE + 2);
    expect(c.gpr[11]).toBe(Flag.IF | Flag.DF | Flag.CF | Flag.Fixed1);
    expect(c.getEflags()).toBe(Flag.CF | Flag.Fixed1);
    expect(seg(s, Seg.CS)).toEqual([0x10, 0, -1 >>> 0, CS64]);
    expect(seg(s, Seg.SS)).toEqual([0x18, 0, -1 >>> 0, SS]);
    expect(c.cpl).toBe(0);
    expect(c.mode).toBe(CodeMode.Bits64);
    expect(c.ripLo).toBe(0x200000);
  });

  it('SYSCALL is #UD with EFER.SCE = 0, and on Intel outside 64-bit mode', () => {
    const s = new Sys().long64();
    s.cpu.efer &= ~Efer.SCE;
    s.code(SYSCALL).run(10);
    expect(s.fault?.vector).toBe(UD);
    const t = new Sys().long64();
    t.cpu.setSegmentRaw(Seg.CS, 0x18, 0, 0xffffffff, CS32);
    t.cpu.updateMode();
    t.code(SYSCALL).run(10);
    expect(t.fault?.vector).toBe(UD);
  });

  it('AMD: SYSCALL from compatibility mode goes to CSTAR, from legacy mode to STAR[31:0]', () => {
    const s = new Sys({ model: AMD_ZEN }).long64(3);
    s.cpu.setSegmentRaw(Seg.CS, 0x23, 0, 0xffffffff, CS32 | DPL3);
    s.cpu.updateMode();
    s.cpu.starHi = 0x0023_0010;
    s.cpu.cstarLo = 0x300000;
    s.code(SYSCALL);
    s.cpu.step();
    expect(s.cpu.ripLo).toBe(0x300000);
    expect(s.cpu.mode).toBe(CodeMode.Bits64);
    expect(s.cpu.gpr[1]).toBe(CODE + 2);
    const l = new Sys({ model: AMD_ZEN }).flat32(3);
    l.cpu.efer = Efer.SCE;
    l.cpu.starLo = 0x123456;
    l.cpu.starHi = 0x0023_0010;
    l.cpu.setEflags(Flag.IF | Flag.Fixed1);
    l.code(SYSCALL);
    l.cpu.step();
    expect(l.cpu.ripLo).toBe(0x123456);
    expect(l.cpu.gpr[1]).toBe(CODE + 2);
    expect(seg(l, Seg.CS)).toEqual([0x10, 0, -1 >>> 0, CS32]);
    expect(l.cpu.getEflags() & Flag.IF).toBe(0);
    expect(l.cpu.mode).toBe(CodeMode.Bits32);
  });

  it('SYSRET (REX.W) returns to 64-bit mode at CPL 3 with RFLAGS from R11', () => {
    const s = new Sys().long64();
    const c = s.cpu;
    c.starHi = 0x0023_0010;
    c.gpr[1] = 0x400000;
    c.gpr[11] = (Flag.IF | Flag.RF | Flag.VM | Flag.CF | 0x20) | 0;
    s.code(SYSRET64);
    c.step();
    expect(s.events).toEqual([]);
    expect(c.ripLo).toBe(0x400000);
    expect(seg(s, Seg.CS)).toEqual([0x33, 0, -1 >>> 0, CS64 | DPL3]);
    expect(seg(s, Seg.SS)).toEqual([0x2b, 0, -1 >>> 0, SS | DPL3]);
    expect(c.cpl).toBe(3);
    expect(c.getEflags()).toBe(Flag.IF | Flag.CF | Flag.Fixed1);
  });

  it('SYSRET without REX.W returns to compatibility mode at ECX', () => {
    const s = new Sys().long64();
    s.cpu.starHi = 0x0023_0010;
    s.cpu.gpr[1] = 0x400000;
    s.cpu.gprHi[1] = 5;
    s.code(SYSRET32);
    s.cpu.step();
    expect(s.cpu.ripLo).toBe(0x400000);
    expect(s.cpu.ripHi).toBe(0);
    expect(seg(s, Seg.CS)).toEqual([0x23, 0, -1 >>> 0, CS32 | DPL3]);
    expect(s.cpu.mode).toBe(CodeMode.Bits32);
  });

  it('SYSRET: #GP(0) at CPL 3; Intel #GP(0) for a non-canonical RCX, AMD faults at CPL 3 on the fetch', () => {
    const u = new Sys().long64(3);
    u.code(SYSRET64).run(10);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
    const s = new Sys().long64();
    s.cpu.starHi = 0x0023_0010;
    s.cpu.gprHi[1] = 0x8000;
    s.code(SYSRET64).run(10);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cpl).toBe(0);
    expect(s.cpu.ripLo).toBe(CODE);
    const a = new Sys({ model: AMD_ZEN }).long64();
    a.cpu.starHi = 0x0023_0010;
    a.cpu.gprHi[1] = 0x8000;
    a.code(SYSRET64).run(10);
    expect(a.fault).toEqual({ vector: GP, error: 0 });
    expect(a.cpu.cpl).toBe(3);
    expect(a.cpu.ripHi).toBe(0x8000);
  });

  it('AMD SYSRET keeps SS base and limit', () => {
    const a = new Sys({ model: AMD_ZEN }).long64();
    a.cpu.setSegmentRaw(Seg.SS, 0x10, 0x1000, 0xfff, SS);
    a.cpu.starHi = 0x0023_0010;
    a.cpu.gpr[1] = 0x400000;
    a.code(SYSRET64);
    a.cpu.step();
    expect(seg(a, Seg.SS)).toEqual([0x2b, 0x1000, 0xfff, SS | DPL3]);
  });
});

describe('SYSENTER / SYSEXIT', () => {
  it('SYSENTER from CPL 3 protected mode loads flat CPL 0 CS/SS and ESP/EIP from the MSRs', () => {
    const s = new Sys().flat32(3);
    const c = s.cpu;
    c.sysenterCs = 0x0b;
    c.sysenterEspLo = 0x7000;
    c.sysenterEipLo = 0x300000;
    c.setEflags(Flag.IF | Flag.Fixed1);
    s.code(SYSENTER);
    c.step();
    expect(seg(s, Seg.CS)).toEqual([0x08, 0, -1 >>> 0, CS32]);
    expect(seg(s, Seg.SS)).toEqual([0x10, 0, -1 >>> 0, SS]);
    expect(c.gpr[4]).toBe(0x7000);
    expect(c.ripLo).toBe(0x300000);
    expect(c.getEflags() & Flag.IF).toBe(0);
    expect(c.cpl).toBe(0);
  });

  it('SYSENTER: #GP(0) in real mode and with SYSENTER_CS = 0; in IA-32e mode enters 64-bit mode', () => {
    const r = new Sys().real();
    r.cpu.sysenterCs = 8;
    r.code(SYSENTER).run(10);
    expect(r.fault).toEqual({ vector: GP, error: 0 });
    const z = new Sys().flat32(3);
    z.code(SYSENTER).run(10);
    expect(z.fault).toEqual({ vector: GP, error: 0 });
    const l = new Sys().long64(3);
    l.cpu.setSegmentRaw(Seg.CS, 0x23, 0, 0xffffffff, CS32 | DPL3);
    l.cpu.updateMode();
    l.cpu.sysenterCs = 0x10;
    l.cpu.sysenterEipLo = 0x1000;
    l.cpu.sysenterEipHi = -1;
    l.cpu.sysenterEspHi = 7;
    l.code(SYSENTER);
    l.cpu.step();
    expect(seg(l, Seg.CS)).toEqual([0x10, 0, -1 >>> 0, CS64]);
    expect(l.cpu.mode).toBe(CodeMode.Bits64);
    expect(l.cpu.ripHi).toBe(-1);
    expect(l.cpu.gprHi[4]).toBe(7);
  });

  it('AMD: SYSENTER and SYSEXIT are #UD in long mode', () => {
    const a = new Sys({ model: AMD_ZEN }).long64();
    a.cpu.sysenterCs = 0x10;
    a.code(SYSENTER).run(10);
    expect(a.fault?.vector).toBe(UD);
    const b = new Sys({ model: AMD_ZEN }).long64();
    b.cpu.sysenterCs = 0x10;
    b.code(SYSEXIT).run(10);
    expect(b.fault?.vector).toBe(UD);
  });

  it('SYSEXIT returns to CPL 3 at EDX with ESP = ECX; #GP(0) at CPL 3', () => {
    const s = new Sys().flat32();
    s.cpu.sysenterCs = 0x08;
    s.cpu.gpr[1] = 0x6000;
    s.cpu.gpr[2] = 0x500000;
    s.code(SYSEXIT);
    s.cpu.step();
    expect(seg(s, Seg.CS)).toEqual([0x1b, 0, -1 >>> 0, CS32 | DPL3]);
    expect(seg(s, Seg.SS)).toEqual([0x23, 0, -1 >>> 0, SS | DPL3]);
    expect(s.cpu.gpr[4]).toBe(0x6000);
    expect(s.cpu.ripLo).toBe(0x500000);
    expect(s.cpu.cpl).toBe(3);
    const u = new Sys().flat32(3);
    u.cpu.sysenterCs = 0x08;
    u.code(SYSEXIT).run(10);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
  });

  it('SYSEXIT with REX.W returns to 64-bit mode; non-canonical RCX/RDX is #GP(0)', () => {
    const s = new Sys().long64();
    s.cpu.sysenterCs = 0x10;
    s.cpu.gpr[1] = 0x6000;
    s.cpu.gprHi[1] = 0x7fff;
    s.cpu.gpr[2] = 0x500000;
    s.code(SYSEXIT64);
    s.cpu.step();
    expect(seg(s, Seg.CS)).toEqual([0x33, 0, -1 >>> 0, CS64 | DPL3]);
    expect(seg(s, Seg.SS)).toEqual([0x3b, 0, -1 >>> 0, SS | DPL3]);
    expect(s.cpu.gprHi[4]).toBe(0x7fff);
    expect(s.cpu.mode).toBe(CodeMode.Bits64);
    const t = new Sys().long64();
    t.cpu.sysenterCs = 0x10;
    t.cpu.gprHi[2] = 0x0100_0000;
    t.code(SYSEXIT64).run(10);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('a SYSENTER/SYSEXIT round trip runs user code again', () => {
    const s = new Sys().flat32(3);
    const c = s.cpu;
    c.sysenterCs = 0x08;
    c.sysenterEipLo = 0x20000;
    c.sysenterEspLo = 0x7000;
    // kernel: inc eax; mov edx, CODE+2; sysexit
    s.bytes(0x20000, [0x40, 0xba, ...le32(CODE + 2), 0x0f, 0x35]);
    c.gpr[1] = 0x8000;
    s.code([...SYSENTER, 0x40, 0x0f, 0x0b]); // user: sysenter; inc eax; ud2
    expect(s.run(100)).toBe(StopReason.Stopped);
    expect(s.fault?.vector).toBe(UD);
    expect(c.gpr[0]).toBe(2);
    expect(c.cpl).toBe(3);
    expect(c.cr0 & Cr0.PE).toBe(Cr0.PE);
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
