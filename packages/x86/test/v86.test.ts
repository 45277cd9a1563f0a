import { describe, expect, it } from 'vitest';
import { CodeMode, Cr4, Flag, Seg, StopReason, Vector } from '../src/index.js';
import { A, gate, K_CODE, K_DATA, KC, KSTACK, le16, le32, type Machine, kernel32, seg, TSS_BASE, U_CODE, U_DATA, user32 } from './pm-harness.js';

const HLT = 0xf4;
const H = 0x14000;
const VCS = 0x1000;
const VIP = 0x100; // code at linear 0x10100
const VSS = 0x7000;
const VSP = 0xfff0;

/** Kernel with the IDT, then IRET into virtual-8086 mode at VCS:VIP with EFLAGS `fl` (VM added). */
function v86(fl: number, code: number[], setup?: (m: Machine) => void): Machine {
  const m = kernel32();
  m.gdt(6, seg(TSS_BASE, 0x67 + 0x20 + 0x2000, A.tss32Busy, 0));
  m.load(Seg.TR, 0x30);
  m.w16(TSS_BASE + 0x66, 0x88); // I/O map base: the redirection bitmap is at 0x68..0x87
  setup?.(m);
  m.push32(0x5000); // GS
  m.push32(0x4000); // FS
  m.push32(0x3000); // DS
  m.push32(0x2000); // ES
  m.push32(VSS);
  m.push32(VSP);
  m.push32(fl | Flag.VM | 0x2);
  m.push32(VCS);
  m.push32(VIP);
  m.bytes(KC, [0xcf]);
  m.bytes(VCS * 16 + VIP, code);
  m.cpu.step();
  expect(m.flags() & Flag.VM).toBe(Flag.VM);
  return m;
}

function pmHandler(m: Machine, v: number, d = 0): number {
  const at = H + v * 16;
  m.idt(v, gate(0xe, K_CODE, at, d));
  m.w8(at, HLT);
  return at;
}

function fault(m: Machine, budget = 10): [number, number] {
  m.catchEvents();
  m.cpu.run(budget);
  expect(m.events.length).toBeGreaterThan(0);
  return [m.events[0]![1], m.events[0]![2]];
}

describe('entering and leaving virtual-8086 mode', () => {
  it('IRET from CPL 0 with VM = 1 loads CS, SS, ES, DS, FS, GS as paragraphs and runs at CPL 3', () => {
    const m = v86(0, [0x90]);
    const c = m.cpu;
    expect(c.cpl).toBe(3);
    expect(c.mode).toBe(CodeMode.Bits16);
    expect(c.ripLo).toBe(VIP);
    expect(m.esp()).toBe(VSP);
    expect([m.sel(Seg.ES), m.sel(Seg.DS), m.sel(Seg.FS), m.sel(Seg.GS), m.sel(Seg.SS), m.sel(Seg.CS)]).toEqual([0x2000, 0x3000, 0x4000, 0x5000, VSS, VCS]);
    expect([c.segBase[Seg.DS], c.segBase[Seg.GS], c.segBase[Seg.CS]]).toEqual([0x30000, 0x50000, 0x10000]);
    expect(c.segLimit[Seg.DS]).toBe(0xffff);
  });

  it('an exception in virtual-8086 mode goes to the CPL 0 handler with GS FS DS ES SS ESP EFLAGS CS EIP and the error code', () => {
    const m = v86(0, [0x90, HLT]);
    const h = pmHandler(m, Vector.GP);
    expect(m.cpu.run(5)).toBe(StopReason.Halt);
    const c = m.cpu;
    expect(c.ripLo).toBe(h + 1);
    expect(c.cpl).toBe(0);
    expect(m.flags() & Flag.VM).toBe(0);
    expect([m.sel(Seg.DS), m.sel(Seg.ES), m.sel(Seg.FS), m.sel(Seg.GS)]).toEqual([0, 0, 0, 0]);
    const f: number[] = [];
    for (let k = 1; k <= 10; k++) f.push(m.r32(KSTACK - 4 * k));
    expect(f[0]).toBe(0x5000);
    expect(f[1]).toBe(0x4000);
    expect(f[2]).toBe(0x3000);
    expect(f[3]).toBe(0x2000);
    expect(f[4]).toBe(VSS);
    expect(f[5]).toBe(VSP);
    expect(f[6]! & Flag.VM).toBe(Flag.VM);
    expect(f[7]).toBe(VCS);
    expect(f[8]).toBe(VIP + 1);
    expect(f[9]).toBe(0);
    expect(m.esp()).toBe(KSTACK - 40);
  });

  it('a handler segment with DPL != 0 reached from virtual-8086 mode: #GP(selector)', () => {
    const m = v86(0, [0xcc]);
    m.gdt(9, seg(0, 0xfffff, (A.code & ~0x60) | (1 << 5)));
    m.idt(Vector.BP, gate(0xe, 0x48, 0x1000, 3));
    const seen: number[][] = [];
    m.cpu.onEvent = (k, v, e) => {
      seen.push([k, v, e]);
      if (k === 0) m.cpu.stop();
      return k === 0;
    };
    m.cpu.run(3);
    expect(seen).toEqual([
      [3, Vector.BP, -1],
      [0, Vector.GP, 0x48],
    ]);
    expect(m.cpu.ripLo).toBe(VIP);
  });
});

describe('sensitive instructions in virtual-8086 mode', () => {
  it('INT n with IOPL < 3 and no VME: #GP(0) at the INT', () => {
    const m = v86(0, [0xcd, 0x21]);
    pmHandler(m, 0x21, 3);
    expect(fault(m)).toEqual([Vector.GP, 0]);
    expect(m.cpu.ripLo).toBe(VIP);
  });

  it('INT n with IOPL = 3 goes to the protected-mode handler', () => {
    const m = v86(Flag.IOPL, [0xcd, 0x21]);
    const h = pmHandler(m, 0x21, 3);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
    expect(m.r32(KSTACK - 36)).toBe(VIP + 2);
  });

  it('INT3 with IOPL < 3 is not IOPL-sensitive: it goes through the DPL 3 gate', () => {
    const m = v86(0, [0xcc]);
    const h = pmHandler(m, Vector.BP, 3);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
  });

  it('CLI/STI with IOPL < 3 and no VME: #GP(0)', () => {
    expect(fault(v86(0, [0xfa]))).toEqual([Vector.GP, 0]);
    expect(fault(v86(0, [0xfb]))).toEqual([Vector.GP, 0]);
  });

  it('IRET with IOPL < 3 and no VME: #GP(0)', () => {
    expect(fault(v86(0, [0xcf]))).toEqual([Vector.GP, 0]);
  });

  it('IRET with IOPL = 3 keeps IOPL and VM', () => {
    const m = v86(Flag.IOPL, [0xcf]);
    m.w16(VSS * 16 + VSP, 0x200);
    m.w16(VSS * 16 + VSP + 2, 0x2000);
    m.w16(VSS * 16 + VSP + 4, Flag.CF | 0x2);
    m.cpu.step();
    expect(m.sel(Seg.CS)).toBe(0x2000);
    expect(m.cpu.ripLo).toBe(0x200);
    expect(m.flags() & (Flag.IOPL | Flag.VM | Flag.CF | Flag.IF)).toBe(Flag.IOPL | Flag.VM | Flag.CF);
  });
});

describe('virtual-8086 mode extensions (CR4.VME, §20.4)', () => {
  const vme = (m: Machine): void => {
    m.cpu.cr4 |= Cr4.VME;
  };

  it('INT n whose redirection bit is 0 goes to the virtual-8086 IVT; IOPL < 3: image IOPL = 3, IF = VIF; VIF cleared', () => {
    const m = v86(Flag.VIF | Flag.IF, [0xcd, 0x21], vme);
    m.w16(0x21 * 4, 0x50);
    m.w16(0x21 * 4 + 2, 0x2000);
    m.cpu.step();
    const c = m.cpu;
    expect(m.sel(Seg.CS)).toBe(0x2000);
    expect(c.ripLo).toBe(0x50);
    expect(m.flags() & (Flag.VIF | Flag.IF | Flag.VM)).toBe(Flag.IF | Flag.VM);
    const sp = VSS * 16 + VSP;
    expect(m.r16(sp - 2) & (Flag.IOPL | Flag.IF)).toBe(Flag.IOPL | Flag.IF);
    expect(m.r16(sp - 4)).toBe(VCS);
    expect(m.r16(sp - 6)).toBe(VIP + 2);
  });

  it('INT n whose redirection bit is 1 with IOPL < 3: #GP(0)', () => {
    const m = v86(0, [0xcd, 0x21], (x) => {
      vme(x);
      x.w8(TSS_BASE + 0x68 + (0x21 >> 3), 1 << (0x21 & 7));
    });
    expect(fault(m)).toEqual([Vector.GP, 0]);
  });

  it('INT n whose redirection bit is 1 with IOPL = 3 goes to the protected-mode handler', () => {
    const m = v86(Flag.IOPL, [0xcd, 0x21], (x) => {
      vme(x);
      x.w8(TSS_BASE + 0x68 + (0x21 >> 3), 1 << (0x21 & 7));
    });
    const h = pmHandler(m, 0x21, 3);
    m.cpu.run(3);
    expect(m.cpu.ripLo).toBe(h + 1);
  });

  it('CLI/STI with IOPL < 3 act on VIF; STI with VIP set is #GP(0)', () => {
    const m = v86(Flag.VIF | Flag.IF, [0xfa, 0xfb], vme);
    m.cpu.step();
    expect(m.flags() & (Flag.VIF | Flag.IF)).toBe(Flag.IF);
    m.cpu.step();
    expect(m.flags() & (Flag.VIF | Flag.IF)).toBe(Flag.VIF | Flag.IF);
    const m2 = v86(Flag.VIP, [0xfb], vme);
    expect(fault(m2)).toEqual([Vector.GP, 0]);
  });

  it('16-bit IRET with IOPL < 3 writes IF to VIF; a TF in the image is #GP(0)', () => {
    const m = v86(0, [0xcf], vme);
    m.w16(VSS * 16 + VSP, 0x200);
    m.w16(VSS * 16 + VSP + 2, 0x2000);
    m.w16(VSS * 16 + VSP + 4, Flag.IF | Flag.IOPL | 0x2);
    m.cpu.step();
    expect(m.cpu.ripLo).toBe(0x200);
    expect(m.flags() & (Flag.VIF | Flag.IF | Flag.IOPL)).toBe(Flag.VIF);
    const m2 = v86(0, [0xcf], vme);
    m2.w16(VSS * 16 + VSP + 4, Flag.TF | 0x2);
    expect(fault(m2)).toEqual([Vector.GP, 0]);
  });

  it('32-bit IRET with IOPL < 3 under VME: #GP(0)', () => {
    expect(fault(v86(0, [0x66, 0xcf], vme))).toEqual([Vector.GP, 0]);
  });
});

describe('protected-mode virtual interrupts (CR4.PVI)', () => {
  it('CPL 3, IOPL 0: CLI/STI act on VIF with PVI, #GP(0) without', () => {
    const m = user32();
    m.cpu.cr4 |= Cr4.PVI;
    m.cpu.flags |= Flag.VIF | Flag.IF;
    m.bytes(0x20000, [0xfa, 0xfb]);
    m.cpu.step();
    expect(m.flags() & (Flag.VIF | Flag.IF)).toBe(Flag.IF);
    m.cpu.step();
    expect(m.flags() & Flag.VIF).toBe(Flag.VIF);
    const m2 = user32();
    m2.bytes(0x20000, [0xfa]);
    expect(fault(m2)).toEqual([Vector.GP, 0]);
  });
});

describe('task switch into virtual-8086 mode', () => {
  it('a TSS with EFLAGS.VM = 1 loads the segments as paragraphs at CPL 3', () => {
    const m = kernel32();
    m.gdt(14, seg(0x6000, 0x67, A.tss32, 0));
    m.tss32(0x6000, { eip: 0x10, eflags: Flag.VM | 0x2, esp: 0x100, cs: 0x1234, ss: 0x2345, ds: 0x3456, es: 0x10, fs: 0x20, gs: 0x30 });
    m.bytes(KC, [0xea, ...le32(0), ...le16(0x70)]);
    m.cpu.step();
    const c = m.cpu;
    expect(c.cpl).toBe(3);
    expect(c.mode).toBe(CodeMode.Bits16);
    expect(c.segBase[Seg.CS]).toBe(0x12340);
    expect(c.segBase[Seg.SS]).toBe(0x23450);
    expect(c.segBase[Seg.GS]).toBe(0x300);
    expect(c.ripLo).toBe(0x10);
  });
});

void K_DATA;
void U_CODE;
void U_DATA;
