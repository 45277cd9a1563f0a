import { describe, expect, it } from 'vitest';
import { AMD_ZEN, Cr0, Cr4, Efer, Flag, Seg, SegAttr, StopReason, Vector } from '../src/index.js';
import { CODE, fakeExt, PageTables, Sys } from './sys-harness.js';

const HLT = 0xf4;
const GP = Vector.GP;
const UD = Vector.UD;

function run(s: Sys, code: number[]): StopReason {
  s.code([...code, HLT]);
  return s.run(1000);
}

describe('MOV to/from control registers', () => {
  it('requires CPL 0 (#GP(0)) and rejects CR1/CR5 (#UD)', () => {
    const s = new Sys().flat32(3);
    run(s, [0x0f, 0x20, 0xc0]); // mov eax, cr0
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.ripLo).toBe(CODE);
    const t = new Sys().flat32(0);
    run(t, [0x0f, 0x20, 0xc8]); // mov eax, cr1
    expect(t.fault?.vector).toBe(UD);
  });

  it('CR0: forces ET, ignores reserved bits, rejects PG without PE and NW without CD', () => {
    const s = new Sys().flat32();
    s.cpu.gpr[0] = 0x1ff8_0021 | 0; // PE, NE and reserved bits 19-28, ET clear
    expect(run(s, [0x0f, 0x22, 0xc0, 0x0f, 0x20, 0xc3])).toBe(StopReason.Halt); // mov cr0,eax; mov ebx,cr0
    expect(s.cpu.gpr[3]! >>> 0).toBe(0x31);
    const t = new Sys().real();
    t.cpu.gpr[0] = 0x8000_0000 | 0;
    run(t, [0x66, 0x0f, 0x22, 0xc0]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
    const u = new Sys().flat32();
    u.cpu.gpr[0] = 0x2000_0011; // NW without CD
    run(u, [0x0f, 0x22, 0xc0]);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
    expect(u.cpu.cr0 & Cr0.NW).not.toBe(0); // unchanged (reset value has CD|NW)
  });

  it('CR0 bits 63:32 are #GP in 64-bit mode', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = s.cpu.cr0;
    s.cpu.gprHi[0] = 1;
    run(s, [0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
  });

  it('setting CR0.PG with EFER.LME needs CR4.PAE, else #GP; with it LMA = 1', () => {
    const s = new Sys().flat32();
    s.cpu.efer = Efer.LME;
    s.cpu.gpr[0] = (s.cpu.cr0 | Cr0.PG) | 0;
    run(s, [0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.efer & Efer.LMA).toBe(0);

    const t = new Sys().flat32();
    new PageTables(t, 'l4', 0x70000).map(0n, 0, 0x83, '2m');
    t.cpu.cr3Lo = 0x70000;
    t.cpu.cr4 = Cr4.PAE;
    t.cpu.efer = Efer.LME;
    t.cpu.gpr[0] = (t.cpu.cr0 | Cr0.PG) | 0;
    expect(run(t, [0x0f, 0x22, 0xc0])).toBe(StopReason.Halt);
    expect(t.cpu.efer & Efer.LMA).toBe(Efer.LMA);
    expect(t.cpu.pagingMode).toBe(3); // 4-level
  });

  it('entering IA-32e mode with CS.L = 1 or a 16-bit TSS is #GP(0)', () => {
    const s = new Sys().flat32();
    s.cpu.cr4 = Cr4.PAE;
    s.cpu.efer = Efer.LME;
    s.cpu.setSegmentRaw(Seg.TR, 0x28, 0x9000, 0x2b, SegAttr.P | 3);
    s.cpu.gpr[0] = (s.cpu.cr0 | Cr0.PG) | 0;
    run(s, [0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
  });

  it('clearing CR0.PG is #GP in 64-bit mode, and leaves IA-32e mode from compatibility mode', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = (s.cpu.cr0 & ~Cr0.PG) | 0;
    run(s, [0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });

    const t = new Sys().long64();
    t.cpu.setSegmentRaw(Seg.CS, 0x18, 0, 0xffffffff, SegAttr.P | SegAttr.S | 0xb | SegAttr.DB | SegAttr.G);
    t.cpu.updateMode();
    t.cpu.gpr[0] = (t.cpu.cr0 & ~Cr0.PG) | 0;
    expect(run(t, [0x0f, 0x22, 0xc0])).toBe(StopReason.Halt);
    expect(t.cpu.efer & (Efer.LMA | Efer.LME)).toBe(Efer.LME);
    expect(t.cpu.pagingMode).toBe(0);
  });

  it('clearing CR0.PG with CR4.PCIDE = 1 is #GP(0)', () => {
    const t = new Sys().long64();
    t.cpu.cr4 |= Cr4.PCIDE;
    t.cpu.setSegmentRaw(Seg.CS, 0x18, 0, 0xffffffff, SegAttr.P | SegAttr.S | 0xb | SegAttr.DB | SegAttr.G);
    t.cpu.updateMode();
    t.cpu.gpr[0] = (t.cpu.cr0 & ~Cr0.PG) | 0;
    run(t, [0x0f, 0x22, 0xc0]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('CR4: unadvertised bits (PKE, SMXE, VMXE without VMX) are reserved', () => {
    for (const bit of [Cr4.PKE, Cr4.SMXE, Cr4.VMXE, 1 << 15]) {
      const s = new Sys().flat32();
      s.cpu.gpr[0] = bit;
      run(s, [0x0f, 0x22, 0xe0]);
      expect(s.fault, `bit ${bit}`).toEqual({ vector: GP, error: 0 });
      expect(s.cpu.cr4).toBe(0);
    }
    const t = new Sys().flat32();
    t.cpu.gpr[0] = Cr4.VME | Cr4.PVI | Cr4.PSE | Cr4.PGE | Cr4.TSD | Cr4.DE | Cr4.PCE | Cr4.UMIP | Cr4.FSGSBASE | Cr4.SMEP | Cr4.SMAP | Cr4.LA57 | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.OSXSAVE;
    expect(run(t, [0x0f, 0x22, 0xe0])).toBe(StopReason.Halt);
    expect(t.cpu.cr4).toBe(t.cpu.gpr[0]);
  });

  it('CR4.VMXE is accepted only with a VMX extension that allows it', () => {
    const s = new Sys().flat32();
    let allow = false;
    s.cpu.ext = fakeExt('vmx', { allowsEnable: () => allow });
    s.cpu.gpr[0] = Cr4.VMXE;
    run(s, [0x0f, 0x22, 0xe0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    allow = true;
    s.events.length = 0;
    expect(run(s, [0x0f, 0x22, 0xe0])).toBe(StopReason.Halt);
    expect(s.cpu.cr4).toBe(Cr4.VMXE);
  });

  it('MOV to CR0/CR4, CLTS and LMSW ask the extension (allowsCrWrite) with the value to be written; false is #GP(0)', () => {
    const s = new Sys().flat32();
    const asked: [number, number, number][] = [];
    let allow = false;
    s.cpu.ext = fakeExt('vmx', {
      allowsCrWrite: (_c, n, lo, hi) => {
        asked.push([n, lo >>> 0, hi]);
        return allow;
      },
    });
    const cr0 = s.cpu.cr0;
    s.cpu.gpr[0] = Cr4.PSE;
    run(s, [0x0f, 0x22, 0xe0]); // mov cr4, eax
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cr4).toBe(0);
    s.events.length = 0;
    s.cpu.gpr[0] = (cr0 | Cr0.MP) >>> 0;
    run(s, [0x0f, 0x22, 0xc0]); // mov cr0, eax
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    s.events.length = 0;
    s.cpu.cr0 |= Cr0.TS;
    run(s, [0x0f, 0x06]); // clts
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cr0 & Cr0.TS).toBe(Cr0.TS);
    s.events.length = 0;
    s.cpu.gpr[0] = Cr0.PE | Cr0.EM;
    run(s, [0x0f, 0x01, 0xf0]); // lmsw ax
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cr0 & Cr0.EM).toBe(0);
    const cr0ts = (cr0 | Cr0.TS) >>> 0;
    expect(asked).toEqual([
      [4, Cr4.PSE, 0],
      [0, (cr0 | Cr0.MP) >>> 0, 0],
      [0, cr0 >>> 0, 0],
      [0, ((cr0ts & ~Cr0.TS & ~0xf) | Cr0.PE | Cr0.EM | (cr0 & Cr0.PE)) >>> 0, 0],
    ]);
    // Allowed: the writes happen; MOV to CR3 never asks.
    allow = true;
    asked.length = 0;
    s.events.length = 0;
    s.cpu.gpr[0] = Cr4.PSE;
    expect(run(s, [0x0f, 0x22, 0xe0, 0x0f, 0x06])).toBe(StopReason.Halt);
    expect(s.cpu.cr4).toBe(Cr4.PSE);
    expect(s.cpu.cr0 & Cr0.TS).toBe(0);
    s.cpu.gpr[0] = 0;
    expect(run(s, [0x0f, 0x22, 0xd8])).toBe(StopReason.Halt); // mov cr3, eax
    expect(asked.map((a) => a[0])).toEqual([4, 0]);
  });

  it('CR4.PCIDE needs IA-32e mode and CR3[11:0] = 0', () => {
    const s = new Sys().flat32();
    s.cpu.gpr[0] = Cr4.PCIDE;
    run(s, [0x0f, 0x22, 0xe0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });

    const t = new Sys().long64();
    t.cpu.cr3Lo |= 5;
    t.cpu.gpr[0] = t.cpu.cr4 | Cr4.PCIDE;
    run(t, [0x0f, 0x22, 0xe0]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
    t.cpu.cr3Lo &= ~0xfff;
    t.events.length = 0;
    expect(run(t, [0x0f, 0x22, 0xe0])).toBe(StopReason.Halt);
    expect(t.cpu.cr4 & Cr4.PCIDE).toBe(Cr4.PCIDE);
  });

  it('CR4.PAE cannot be cleared and CR4.LA57 cannot change in IA-32e mode; LA57 can change outside it', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = 0;
    run(s, [0x0f, 0x22, 0xe0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const t = new Sys().long64();
    t.cpu.gpr[0] = Cr4.PAE | Cr4.LA57;
    run(t, [0x0f, 0x22, 0xe0]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
    const u = new Sys().flat32();
    u.cpu.gpr[0] = Cr4.PAE | Cr4.LA57;
    expect(run(u, [0x0f, 0x22, 0xe0])).toBe(StopReason.Halt);
    expect(u.cpu.cr4).toBe(Cr4.PAE | Cr4.LA57);
  });

  it('AMD does not have LA57: CR4.LA57 is reserved', () => {
    const s = new Sys({ model: AMD_ZEN }).flat32();
    s.cpu.gpr[0] = Cr4.LA57;
    run(s, [0x0f, 0x22, 0xe0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
  });

  it('CR3: reserved bits above MAXPHYADDR and bit 63 without PCIDE are #GP in IA-32e mode; bit 63 with PCIDE is not stored', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = 0x70000;
    s.cpu.gprHi[0] = 1 << 14; // bit 46 = MAXPHYADDR of the Intel model
    run(s, [0x0f, 0x22, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    s.cpu.gprHi[0] = 0x8000_0000 | 0;
    s.events.length = 0;
    run(s, [0x0f, 0x22, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    s.cpu.cr4 |= Cr4.PCIDE;
    s.events.length = 0;
    expect(run(s, [0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xdb])).toBe(StopReason.Halt); // mov cr3,rax; mov rbx,cr3
    expect(s.cpu.gprHi[3]).toBe(0);
    expect(s.cpu.gpr[3]).toBe(0x70000);
  });

  it('CR8 (REX.R) is the TPR: bits 63:4 reserved', () => {
    const s = new Sys().long64();
    s.cpu.gpr[0] = 0xb;
    expect(run(s, [0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f, 0x20, 0xc3])).toBe(StopReason.Halt);
    expect(s.cpu.cr8).toBe(0xb);
    expect(s.cpu.gpr[3]).toBe(0xb);
    s.cpu.gpr[0] = 0x10;
    run(s, [0x44, 0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
  });

  it('MOV from CR uses 64-bit operands in 64-bit mode and 32-bit elsewhere', () => {
    const s = new Sys().long64();
    s.cpu.cr2Lo = 0x1234;
    s.cpu.cr2Hi = 0xffff8000 | 0;
    expect(run(s, [0x0f, 0x20, 0xd0])).toBe(StopReason.Halt); // mov rax, cr2
    expect(s.cpu.gpr[0]).toBe(0x1234);
    expect(s.cpu.gprHi[0]).toBe(0xffff8000 | 0);
  });

  it('PAE: MOV CR3 loads the PDPTEs and #GPs (changing nothing) on a reserved bit', () => {
    const s = new Sys().flat32();
    const pt = new PageTables(s, 'pae', 0x70000);
    pt.map(0n, 0, 0x83, '2m');
    s.cpu.cr3Lo = 0x70000;
    s.cpu.cr4 = Cr4.PAE;
    s.cpu.gpr[0] = (s.cpu.cr0 | Cr0.PG) | 0;
    expect(run(s, [0x0f, 0x22, 0xc0])).toBe(StopReason.Halt);
    expect(s.cpu.walker.pdptes[0]! & 1).toBe(1);
    // A second PDPT whose entry 1 sets reserved bit 5 (SDM Table 4-8).
    s.w32(0x60000, 0);
    s.w32(0x60008, 0x1000 | 0x21);
    s.cpu.gpr[0] = 0x60000;
    run(s, [0x0f, 0x22, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cr3Lo).toBe(0x70000);
    expect(s.cpu.walker.pdptes[0]! & 1).toBe(1);
  });

  it('PAE: enabling paging with a bad PDPTE is #GP(0) and paging stays off', () => {
    const s = new Sys().flat32();
    s.w32(0x70000, 0x1000 | 1 | 4); // U/S is reserved in a PDPTE
    s.cpu.cr3Lo = 0x70000;
    s.cpu.cr4 = Cr4.PAE;
    s.cpu.gpr[0] = (s.cpu.cr0 | Cr0.PG) | 0;
    run(s, [0x0f, 0x22, 0xc0]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.cr0 & Cr0.PG).toBe(0);
  });
});

describe('CLTS, LMSW, SMSW', () => {
  it('CLTS clears TS at CPL 0 and is #GP(0) at CPL 3', () => {
    const s = new Sys().flat32();
    s.cpu.cr0 |= Cr0.TS;
    expect(run(s, [0x0f, 0x06])).toBe(StopReason.Halt);
    expect(s.cpu.cr0 & Cr0.TS).toBe(0);
    const t = new Sys().flat32(3);
    run(t, [0x0f, 0x06]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('LMSW sets PE, MP, EM, TS but cannot clear PE', () => {
    const s = new Sys().real();
    s.cpu.gpr[0] = 0xfff1; // PE only among bits 3:0 plus junk above
    run(s, [0x0f, 0x01, 0xf0]);
    expect(s.cpu.cr0 & 0xf).toBe(1);
    expect(s.cpu.cr0 & Cr0.PG).toBe(0);
    const t = new Sys().flat32();
    t.cpu.gpr[0] = 0xe; // MP, EM, TS; PE = 0 ignored
    run(t, [0x0f, 0x01, 0xf0]);
    expect(t.cpu.cr0 & 0xf).toBe(0xf);
  });

  it('SMSW: register forms take the operand size, memory stores 16 bits', () => {
    const s = new Sys().flat32();
    s.cpu.cr0 = (Cr0.PE | Cr0.ET | Cr0.CD | Cr0.NW) | 0;
    s.cpu.gpr[3] = 0x1111_1111;
    run(s, [0x0f, 0x01, 0xe0, 0x66, 0x0f, 0x01, 0xe3, 0x0f, 0x01, 0x25, 0x00, 0x01, 0x00, 0x00]);
    expect(s.cpu.gpr[0]! >>> 0).toBe(0x6000_0011);
    expect(s.cpu.gpr[3]! >>> 0).toBe(0x1111_0011);
    expect(s.r32(0x100)).toBe(0x0011);
  });

  it('UMIP: SMSW, SGDT, SIDT, SLDT and STR are #GP(0) at CPL > 0', () => {
    const encodings = [
      [0x0f, 0x01, 0xe0],
      [0x0f, 0x01, 0x05, 0x00, 0x01, 0x00, 0x00],
      [0x0f, 0x01, 0x0d, 0x00, 0x01, 0x00, 0x00],
      [0x0f, 0x00, 0xc0],
      [0x0f, 0x00, 0xc8],
    ];
    for (const e of encodings) {
      const s = new Sys().flat32(3);
      s.cpu.cr4 = Cr4.UMIP;
      run(s, e);
      expect(s.fault, e.join(',')).toEqual({ vector: GP, error: 0 });
      const t = new Sys().flat32(3);
      run(t, e);
      expect(t.fault?.vector, e.join(',')).toBe(GP); // then the HLT faults: the instruction ran
      expect(t.cpu.ripLo).toBe(CODE + e.length);
    }
  });
});

describe('descriptor-table registers', () => {
  it('LGDT with a 16-bit operand loads a 24-bit base; SGDT stores all 32 bits', () => {
    const s = new Sys().real();
    s.bytes(0x500, [0xff, 0x00, 0x44, 0x33, 0x22, 0x11]);
    run(s, [0x0f, 0x01, 0x16, 0x00, 0x05, 0x66, 0x0f, 0x01, 0x16, 0x00, 0x05, 0x0f, 0x01, 0x06, 0x00, 0x06]);
    // The second (32-bit) LGDT wins; then SGDT (16-bit) stores the full base.
    expect(s.cpu.gdtrBaseLo >>> 0).toBe(0x11223344);
    expect(s.r16(0x600)).toBe(0xff);
    expect(s.r32(0x602)).toBe(0x11223344);
    const t = new Sys().real();
    t.bytes(0x500, [0x7f, 0x00, 0x44, 0x33, 0x22, 0x11]);
    run(t, [0x0f, 0x01, 0x1e, 0x00, 0x05]); // lidt [0x500]
    expect(t.cpu.idtrBaseLo).toBe(0x223344);
    expect(t.cpu.idtrLimit).toBe(0x7f);
  });

  it('LGDT/LIDT are #GP(0) at CPL 3 and #UD with a register operand', () => {
    const s = new Sys().flat32(3);
    run(s, [0x0f, 0x01, 0x15, 0x00, 0x05, 0x00, 0x00]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const t = new Sys().flat32();
    run(t, [0x0f, 0x01, 0xd3]); // 0F 01 /2 mod=3 rm=3: not an instruction here
    expect(t.fault?.vector).toBe(UD);
  });

  it('64-bit LGDT/SGDT use 10 bytes and the base must be canonical', () => {
    const s = new Sys().long64();
    s.bytes(0x500, [0x27, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x80, 0xff, 0xff]);
    s.cpu.gpr[3] = 0x500;
    run(s, [0x0f, 0x01, 0x13, 0x0f, 0x01, 0x1b]); // lgdt [rbx]; lidt [rbx]
    expect(s.cpu.gdtrBaseHi).toBe(0xffff8000 | 0);
    expect(s.cpu.gdtrBaseLo).toBe(0x1000);
    expect(s.cpu.idtrLimit).toBe(0x27);
    s.cpu.gpr[3] = 0x600;
    run(s, [0x0f, 0x01, 0x03]);
    expect(s.r64(0x600 + 2)).toBe(0xffff800000001000n);
    const t = new Sys().long64();
    // Canonical against the widest linear address the model supports (57 bits here).
    t.bytes(0x500, [0x27, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
    t.cpu.gpr[3] = 0x500;
    run(t, [0x0f, 0x01, 0x13]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('SGDT faults before storing anything when the second page is not writable', () => {
    const s = new Sys().flat32();
    const pt = new PageTables(s, 'legacy', 0x70000);
    for (let i = 0; i < 256; i++) pt.map(BigInt(i * 0x1000), i * 0x1000, 3);
    pt.map(0x5000n, 0x5000, 1); // read-only
    s.cpu.cr3Lo = 0x70000;
    s.cpu.cr0 |= Cr0.PG | Cr0.WP;
    s.cpu.updateMode();
    s.w32(0x4ffc, 0xdeadbeef);
    run(s, [0x0f, 0x01, 0x05, 0xfc, 0x4f, 0x00, 0x00]); // sgdt [0x4ffc]
    expect(s.fault).toEqual({ vector: Vector.PF, error: 3 });
    expect(s.r32(0x4ffc)).toBe(0xdeadbeef);
  });
});

/** Protected mode with a real GDT at 0x1000 (selectors 0x08 code, 0x10 data). */
function withGdt(cpl = 0): Sys {
  const s = new Sys().flat32(cpl);
  s.cpu.gdtrBaseLo = 0x1000;
  s.cpu.gdtrLimit = 0xff;
  s.desc(0x1000, 1, 0, 0xfffff, 0x9a);
  s.desc(0x1000, 2, 0, 0xfffff, 0x92);
  return s;
}

describe('LLDT, LTR, SLDT, STR', () => {
  it('LLDT loads an LDT descriptor and a null selector makes LDTR unusable', () => {
    const s = withGdt();
    s.desc(0x1000, 3, 0x20000, 0x7f, 0x82, 0);
    s.cpu.gpr[0] = 0x18;
    s.cpu.gpr[3] = 0;
    run(s, [0x0f, 0x00, 0xd0, 0x0f, 0x00, 0xc1]); // lldt ax; sldt ecx
    expect(s.cpu.segBase[Seg.LDTR]).toBe(0x20000);
    expect(s.cpu.segLimit[Seg.LDTR]).toBe(0x7f);
    expect(s.cpu.segSel[Seg.LDTR]).toBe(0x18);
    expect(s.cpu.gpr[1]).toBe(0x18);
    s.cpu.gpr[0] = 0;
    run(s, [0x0f, 0x00, 0xd0]);
    expect(s.cpu.segAttr[Seg.LDTR]! & SegAttr.Unusable).toBe(SegAttr.Unusable);
  });

  it('LLDT checks: TI = 1, wrong type and beyond the limit are #GP(sel); not present is #NP(sel)', () => {
    const cases: [number, number, number][] = [
      [0x1c, GP, 0x1c & 0xfffc],
      [0x10, GP, 0x10], // a data segment
      [0x100, GP, 0x100], // beyond the GDT limit
      [0x20, Vector.NP, 0x20],
    ];
    for (const [sel, vector, error] of cases) {
      const s = withGdt();
      s.desc(0x1000, 3, 0x20000, 0x7f, 0x82, 0);
      s.desc(0x1000, 4, 0x20000, 0x7f, 0x02, 0);
      s.cpu.gpr[0] = sel;
      run(s, [0x0f, 0x00, 0xd0]);
      expect(s.fault, `sel ${sel}`).toEqual({ vector, error });
    }
  });

  it('LLDT/LTR are #UD in real mode and #GP(0) at CPL 3', () => {
    const s = new Sys().real();
    run(s, [0x0f, 0x00, 0xd0]);
    expect(s.fault?.vector).toBe(UD);
    const t = withGdt(3);
    run(t, [0x0f, 0x00, 0xd8]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('LTR marks the TSS busy; a busy TSS or a null selector is #GP', () => {
    const s = withGdt();
    s.desc(0x1000, 5, 0x9000, 0x67, 0x89, 0);
    s.cpu.gpr[0] = 0x28;
    run(s, [0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xcb]); // ltr ax; str ebx
    expect(s.cpu.segSel[Seg.TR]).toBe(0x28);
    expect(s.cpu.segAttr[Seg.TR]! & 0xf).toBe(0xb);
    expect((s.r32(0x1000 + 5 * 8 + 4) >>> 8) & 0xf).toBe(0xb);
    expect(s.cpu.gpr[3]).toBe(0x28);
    run(s, [0x0f, 0x00, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0x28 });
    const t = withGdt();
    t.cpu.gpr[0] = 3;
    run(t, [0x0f, 0x00, 0xd8]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('IA-32e: LTR reads a 16-byte descriptor, rejects 16-bit TSSs and a non-zero upper type', () => {
    const s = new Sys().long64();
    s.cpu.gdtrBaseLo = 0x1000;
    s.cpu.gdtrLimit = 0xff;
    s.desc(0x1000, 4, 0x9000, 0x67, 0x89, 0);
    s.w32(0x1000 + 5 * 8, 0xffff8000 | 0); // base 63:32
    s.w32(0x1000 + 6 * 8, 0);
    s.desc(0x1000, 6, 0x9000, 0x67, 0x81, 0); // 16-bit TSS
    s.desc(0x1000, 8, 0x9000, 0x67, 0x89, 0);
    s.w32(0x1000 + 9 * 8 + 4, 0x0900); // upper type field set
    s.cpu.gpr[0] = 0x20;
    run(s, [0x0f, 0x00, 0xd8]);
    expect(s.cpu.segBaseHi[Seg.TR]).toBe(0xffff8000 | 0);
    s.cpu.gpr[0] = 0x30;
    run(s, [0x0f, 0x00, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0x30 });
    s.events.length = 0;
    s.cpu.gpr[0] = 0x40;
    run(s, [0x0f, 0x00, 0xd8]);
    expect(s.fault).toEqual({ vector: GP, error: 0x40 });
  });

  it('SLDT/STR zero-extend into 32- and 64-bit registers and store 16 bits to memory', () => {
    const s = new Sys().long64();
    s.cpu.setSegmentRaw(Seg.LDTR, 0x48, 0, 0, SegAttr.P | 2);
    s.cpu.gpr[0] = -1;
    s.cpu.gprHi[0] = -1;
    s.w32(0x100, 0xffffffff);
    run(s, [0x48, 0x0f, 0x00, 0xc0, 0x0f, 0x00, 0x04, 0x25, 0x00, 0x01, 0x00, 0x00]); // sldt rax; sldt [0x100]
    expect(s.cpu.gpr[0]).toBe(0x48);
    expect(s.cpu.gprHi[0]).toBe(0);
    expect(s.r32(0x100)).toBe(0xffff0048);
  });
});

describe('LAR, LSL, VERR, VERW, ARPL', () => {
  function lar(setup: (s: Sys) => void, code: number[], cpl = 0): Sys {
    const s = withGdt(cpl);
    setup(s);
    s.cpu.gpr[0] = 0x5555_5555;
    s.code([...code, 0x0f, 0x0b]); // ud2 ends the test at any CPL
    s.run(100);
    return s;
  }
  const ZF = Flag.ZF;

  it('LAR returns the access rights masked with 00FxFF00H and sets ZF', () => {
    const s = lar((t) => (t.cpu.gpr[3] = 0x08), [0x0f, 0x02, 0xc3]);
    expect(s.cpu.gpr[0]! >>> 0).toBe(0x00cf9a00 & 0x00ffff00);
    expect(s.cpu.getEflags() & ZF).toBe(ZF);
    const w = lar((t) => (t.cpu.gpr[3] = 0x08), [0x66, 0x0f, 0x02, 0xc3]);
    expect(w.cpu.gpr[0]! >>> 0).toBe(0x5555_9a00);
  });

  it('LAR/LSL fail (ZF = 0, destination unchanged) for null, out-of-limit and too-privileged selectors', () => {
    for (const sel of [0, 3, 0x800, 0x08]) {
      const s = lar((t) => (t.cpu.gpr[3] = sel), [0x0f, 0x02, 0xc3], 3);
      expect(s.cpu.getEflags() & ZF, `sel ${sel}`).toBe(0);
      expect(s.cpu.gpr[0]! >>> 0).toBe(0x5555_5555);
    }
    // RPL 3 against a DPL 0 segment fails even at CPL 0.
    const r = lar((t) => (t.cpu.gpr[3] = 0x0b), [0x0f, 0x03, 0xc3]);
    expect(r.cpu.getEflags() & ZF).toBe(0);
  });

  it('conforming code passes the privilege check; system types follow the LAR/LSL tables', () => {
    const s = lar((t) => {
      t.desc(0x1000, 3, 0, 0xfffff, 0x9e);
      t.cpu.gpr[3] = 0x18;
    }, [0x0f, 0x02, 0xc3], 3);
    expect(s.cpu.getEflags() & ZF).toBe(ZF);
    // A 32-bit call gate (type C): valid for LAR, not for LSL.
    const g = lar((t) => {
      t.desc(0x1000, 3, 0, 0, 0x8c, 0);
      t.cpu.gpr[3] = 0x18;
    }, [0x0f, 0x02, 0xc3, 0x9c, 0x0f, 0x03, 0xcb]); // lar eax,bx; pushf; lsl ecx,bx
    expect(g.r32(0x8000 - 4) & ZF).toBe(ZF);
    expect(g.cpu.getEflags() & ZF).toBe(0);
  });

  it('LSL returns the scaled limit', () => {
    const s = lar((t) => {
      t.desc(0x1000, 3, 0, 0x12345, 0x92, 0x8);
      t.cpu.gpr[3] = 0x18;
    }, [0x0f, 0x03, 0xc3]);
    expect(s.cpu.gpr[0]! >>> 0).toBe(0x12345fff);
    expect(s.cpu.getEflags() & ZF).toBe(ZF);
  });

  it('VERR/VERW follow readability, writability and privilege', () => {
    const check = (access: number, sel: number, verw: boolean, cpl: number): number => {
      const s = lar((t) => {
        t.desc(0x1000, 3, 0, 0xfffff, access);
        t.cpu.gpr[3] = sel;
      }, [0x0f, 0x00, verw ? 0xeb : 0xe3], cpl);
      return s.cpu.getEflags() & ZF;
    };
    expect(check(0x9a, 0x18, false, 0)).toBe(ZF); // readable code
    expect(check(0x98, 0x18, false, 0)).toBe(0); // execute-only
    expect(check(0x9a, 0x18, true, 0)).toBe(0); // code is never writable
    expect(check(0xf2, 0x1b, true, 3)).toBe(ZF); // DPL 3 data at CPL 3
    expect(check(0xf0, 0x1b, true, 3)).toBe(0); // read-only data
    expect(check(0x92, 0x1b, false, 3)).toBe(0); // DPL 0 data at CPL 3
    expect(check(0x9e, 0x1b, false, 3)).toBe(ZF); // conforming readable code
  });

  it('ARPL raises the RPL and sets ZF; #UD in real mode; 63 is MOVSXD in 64-bit mode', () => {
    const s = new Sys().flat32();
    s.cpu.gpr[3] = 0x10;
    s.cpu.gpr[1] = 0x2b;
    run(s, [0x63, 0xcb]);
    expect(s.cpu.gpr[3]).toBe(0x13);
    expect(s.cpu.getEflags() & ZF).toBe(ZF);
    run(s, [0x63, 0xcb]);
    expect(s.cpu.getEflags() & ZF).toBe(0);
    const r = new Sys().real();
    run(r, [0x63, 0xcb]);
    expect(r.fault?.vector).toBe(UD);
    const l = new Sys().long64();
    l.cpu.gpr[3] = -2;
    run(l, [0x48, 0x63, 0xc3]);
    expect(l.cpu.gprHi[0]).toBe(-1);
  });
});

describe('TLB and cache control, SWAPGS, FS/GS base, CLAC/STAC, MONITOR/MWAIT, XSAVE control', () => {
  it('INVLPG, WBINVD and INVD are #GP(0) at CPL 3', () => {
    for (const e of [[0x0f, 0x01, 0x38], [0x0f, 0x09], [0x0f, 0x08]]) {
      const s = new Sys().flat32(3);
      run(s, e);
      expect(s.fault).toEqual({ vector: GP, error: 0 });
      expect(s.cpu.ripLo).toBe(CODE);
    }
  });

  it('INVPCID validates the type, the descriptor and PCIDs', () => {
    const go = (type: number, desc: bigint, lin: bigint, pcide: boolean): Sys => {
      const s = new Sys().long64();
      if (pcide) s.cpu.cr4 |= Cr4.PCIDE;
      s.w64(0x500, desc);
      s.w64(0x508, lin);
      s.cpu.gpr[0] = type;
      s.cpu.gpr[3] = 0x500;
      run(s, [0x66, 0x0f, 0x38, 0x82, 0x03]);
      return s;
    };
    expect(go(4, 0n, 0n, true).fault).toEqual({ vector: GP, error: 0 });
    expect(go(0, 0x1000n, 0n, true).fault).toEqual({ vector: GP, error: 0 });
    expect(go(1, 5n, 0n, false).fault).toEqual({ vector: GP, error: 0 });
    expect(go(0, 5n, 0x0000800000000000n, true).fault).toEqual({ vector: GP, error: 0 });
    expect(go(2, 5n, 0n, false).fault).toBeNull();
    expect(go(0, 5n, 0x1000n, true).fault).toBeNull();
    const u = new Sys().long64(3);
    u.cpu.gpr[3] = 0x500;
    run(u, [0x66, 0x0f, 0x38, 0x82, 0x03]);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
    const r = new Sys().long64();
    run(r, [0x66, 0x0f, 0x38, 0x82, 0xc3]); // register operand
    expect(r.fault?.vector).toBe(UD);
  });

  it('SWAPGS exchanges GS.base and KERNEL_GS_BASE; #UD outside 64-bit mode, #GP(0) at CPL 3', () => {
    const s = new Sys().long64();
    s.cpu.segBase[Seg.GS] = 0x1000;
    s.cpu.kernelGsBaseLo = 0x2000;
    s.cpu.kernelGsBaseHi = 0xffff8000 | 0;
    run(s, [0x0f, 0x01, 0xf8]);
    expect(s.cpu.segBase[Seg.GS]).toBe(0x2000);
    expect(s.cpu.segBaseHi[Seg.GS]).toBe(0xffff8000 | 0);
    expect(s.cpu.kernelGsBaseLo).toBe(0x1000);
    const c = new Sys().flat32();
    run(c, [0x0f, 0x01, 0xf8]);
    expect(c.fault?.vector).toBe(UD);
    const u = new Sys().long64(3);
    run(u, [0x0f, 0x01, 0xf8]);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
  });

  it('RD/WR FS/GS BASE need CR4.FSGSBASE and 64-bit mode; 64-bit writes must be canonical', () => {
    const s = new Sys().long64(3);
    run(s, [0xf3, 0x48, 0x0f, 0xae, 0xc0]);
    expect(s.fault?.vector).toBe(UD);
    const t = new Sys().long64(3);
    t.cpu.cr4 |= Cr4.FSGSBASE;
    t.cpu.gpr[0] = 0x12345678;
    t.cpu.gprHi[0] = 0x7fff;
    t.cpu.gpr[1] = -1;
    t.code([0xf3, 0x48, 0x0f, 0xae, 0xd0, 0xf3, 0x48, 0x0f, 0xae, 0xc3, 0xf3, 0x0f, 0xae, 0xd9, 0xf3, 0x0f, 0xae, 0xca, 0x0f, 0x0b]);
    t.run(100); // wrfsbase rax; rdfsbase rbx; wrgsbase ecx; rdgsbase edx
    expect(t.cpu.gpr[3]).toBe(0x12345678);
    expect(t.cpu.gprHi[3]).toBe(0x7fff);
    expect(t.cpu.segBase[Seg.GS]).toBe(-1);
    expect(t.cpu.segBaseHi[Seg.GS]).toBe(0);
    expect(t.cpu.gpr[2]).toBe(-1);
    expect(t.cpu.gprHi[2]).toBe(0);
    // Bit 47 set, 63:48 clear: canonical for the LA57-capable Intel model, not for AMD (48 bits).
    const i = new Sys().long64();
    i.cpu.cr4 |= Cr4.FSGSBASE;
    i.cpu.gprHi[0] = 0x8000;
    expect(run(i, [0xf3, 0x48, 0x0f, 0xae, 0xd0])).toBe(StopReason.Halt);
    expect(i.cpu.segBaseHi[Seg.FS]).toBe(0x8000);
    const u = new Sys({ model: AMD_ZEN }).long64();
    u.cpu.cr4 |= Cr4.FSGSBASE;
    u.cpu.gprHi[0] = 0x8000;
    run(u, [0xf3, 0x48, 0x0f, 0xae, 0xd0]);
    expect(u.fault).toEqual({ vector: GP, error: 0 });
  });

  it('CLAC/STAC change EFLAGS.AC at CPL 0 and are #UD at CPL 3', () => {
    const s = new Sys().flat32();
    run(s, [0x0f, 0x01, 0xcb]);
    expect(s.cpu.getEflags() & Flag.AC).toBe(Flag.AC);
    run(s, [0x0f, 0x01, 0xca]);
    expect(s.cpu.getEflags() & Flag.AC).toBe(0);
    const u = new Sys().flat32(3);
    run(u, [0x0f, 0x01, 0xcb]);
    expect(u.fault?.vector).toBe(UD);
  });

  it('MONITOR/MWAIT: CPL 0 only (#UD), ECX checks (#GP), MISC_ENABLE.MONITOR, and MWAIT returns at once', () => {
    const s = new Sys().flat32();
    s.cpu.gpr[0] = 0x1000;
    s.cpu.gpr[1] = 0;
    expect(run(s, [0x0f, 0x01, 0xc8, 0x0f, 0x01, 0xc9])).toBe(StopReason.Halt);
    expect(s.cpu.ripLo).toBe(CODE + 7);
    s.cpu.gpr[1] = 1;
    run(s, [0x0f, 0x01, 0xc8]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    s.events.length = 0;
    s.cpu.gpr[1] = 2;
    run(s, [0x0f, 0x01, 0xc9]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const u = new Sys().flat32(3);
    run(u, [0x0f, 0x01, 0xc9]);
    expect(u.fault?.vector).toBe(UD);
    const m = new Sys().flat32();
    m.cpu.miscEnableLo &= ~(1 << 18);
    run(m, [0x0f, 0x01, 0xc9]);
    expect(m.fault?.vector).toBe(UD);
  });

  it('XGETBV/XSETBV are #UD while CR4.OSXSAVE = 0', () => {
    for (const e of [[0x0f, 0x01, 0xd0], [0x0f, 0x01, 0xd1]]) {
      const s = new Sys().flat32();
      run(s, e);
      expect(s.fault?.vector).toBe(UD);
    }
  });
});

describe('virtualization intercepts', () => {
  it('guest-mode MOV CR, CPUID-like privileged instructions call the intercept after the CPL check', () => {
    const seen: [number, number][] = [];
    const s = new Sys().flat32();
    s.cpu.ext = fakeExt('vmx', {
      intercept: (_c, what, info) => {
        seen.push([what, info]);
        return true;
      },
    });
    s.cpu.guestMode = true;
    s.cpu.gpr[0] = 0xdead;
    s.code([0x0f, 0x22, 0xd8]);
    s.cpu.step();
    expect(seen).toEqual([[10, 3]]);
    expect(s.cpu.cr3Lo).toBe(0);
    const u = new Sys().flat32(3);
    u.cpu.ext = s.cpu.ext;
    u.cpu.guestMode = true;
    u.code([0x0f, 0x22, 0xd8]);
    u.cpu.step();
    expect(u.fault).toEqual({ vector: GP, error: 0 });
    expect(seen.length).toBe(1);
  });
});


describe('VMX and SVM instruction slots', () => {
  const VMX: [string, number[], number][] = [
    ['vmxon', [0xf3, 0x0f, 0xc7, 0x30], 1],
    ['vmxoff', [0x0f, 0x01, 0xc4], 2],
    ['vmclear', [0x66, 0x0f, 0xc7, 0x30], 3],
    ['vmptrld', [0x0f, 0xc7, 0x30], 4],
    ['vmptrst', [0x0f, 0xc7, 0x38], 5],
    ['vmread', [0x0f, 0x78, 0xc3], 6],
    ['vmwrite', [0x0f, 0x79, 0xc3], 7],
    ['vmlaunch', [0x0f, 0x01, 0xc2], 8],
    ['vmresume', [0x0f, 0x01, 0xc3], 9],
    ['vmcall', [0x0f, 0x01, 0xc1], 10],
    ['vmfunc', [0x0f, 0x01, 0xd4], 11],
    ['invept', [0x66, 0x0f, 0x38, 0x80, 0x30], 12],
    ['invvpid', [0x66, 0x0f, 0x38, 0x81, 0x30], 13],
  ];
  const SVM: [string, number[], number][] = [
    ['vmrun', [0x0f, 0x01, 0xd8], 20],
    ['vmmcall', [0x0f, 0x01, 0xd9], 23],
    ['vmload', [0x0f, 0x01, 0xda], 21],
    ['vmsave', [0x0f, 0x01, 0xdb], 22],
    ['stgi', [0x0f, 0x01, 0xdc], 24],
    ['clgi', [0x0f, 0x01, 0xdd], 25],
    ['skinit', [0x0f, 0x01, 0xde], 26],
    ['invlpga', [0x0f, 0x01, 0xdf], 27],
  ];

  function exec(code: number[], ext: 'vmx' | 'svm' | null): { fault: number | null; seen: number[] } {
    const s = new Sys().flat32();
    const seen: number[] = [];
    if (ext !== null) s.cpu.ext = fakeExt(ext, { execute: (_c, which) => void seen.push(which) });
    s.code([...code, HLT]);
    s.run(10);
    return { fault: s.fault?.vector ?? null, seen };
  }

  for (const [name, code, which] of [...VMX, ...SVM]) {
    const kind = which < 20 ? 'vmx' : 'svm';
    it(`${name}: #UD without an extension or with the other kind; executed by a ${kind} extension`, () => {
      expect(exec(code, null).fault).toBe(UD);
      expect(exec(code, kind === 'vmx' ? 'svm' : 'vmx').fault).toBe(UD);
      expect(exec(code, kind)).toEqual({ fault: null, seen: [which] });
    });
  }

  it('register forms of 0F C7 /6 /7 still reach RDRAND/RDSEED/RDPID, with or without 66', () => {
    const s = new Sys().long64();
    s.cpu.ext = fakeExt('vmx', { execute: () => s.cpu.ud() });
    s.cpu.tscAux = 0x42;
    s.code([0x0f, 0xc7, 0xf0, 0x66, 0x0f, 0xc7, 0xf1, 0x66, 0x0f, 0xc7, 0xfa, 0xf3, 0x0f, 0xc7, 0xfb, HLT]);
    expect(s.run(20)).toBe(StopReason.Halt); // rdrand eax; rdrand cx; rdseed dx; rdpid rbx
    expect(s.cpu.gpr[3]).toBe(0x42);
    const m = new Sys().flat32();
    m.code([0x66, 0x0f, 0xc7, 0x38]); // 66 0F C7 /7 memory: nothing
    m.run(10);
    expect(m.fault?.vector).toBe(UD);
  });
});
