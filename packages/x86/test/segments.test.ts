import { describe, expect, it } from 'vitest';
import { Flag, Seg, SegAttr } from '../src/index.js';
import { loadSegmentReal, markAccessed, nullInaccessibleDataSegments } from '../src/segments.js';
import { A, CONF, dpl, GDT, K_DATA, Machine, kernel32, seg, U_DATA } from './pm-harness.js';

describe('segment helpers', () => {
  it('nullInaccessibleDataSegments nulls data and non-conforming code below the new CPL only', () => {
    const m = kernel32();
    m.gdt(13, seg(0, 0xfffff, dpl(A.code, 1))); // readable non-conforming code, DPL 1
    m.load(Seg.DS, K_DATA);
    m.load(Seg.ES, U_DATA);
    m.load(Seg.FS, CONF);
    m.load(Seg.GS, 13 * 8);
    nullInaccessibleDataSegments(m.cpu, 3);
    expect([m.sel(Seg.DS), m.sel(Seg.ES), m.sel(Seg.FS), m.sel(Seg.GS)]).toEqual([0, U_DATA, CONF, 0]);
    expect(m.cpu.segAttr[Seg.DS]! & SegAttr.Unusable).toBe(SegAttr.Unusable);
    // CS and SS are never touched.
    expect(m.sel(Seg.SS)).toBe(K_DATA);
  });

  it('nullInaccessibleDataSegments keeps segments whose DPL >= new CPL', () => {
    const m = kernel32();
    m.load(Seg.DS, 0x51 & ~3); // DPL 1 data
    nullInaccessibleDataSegments(m.cpu, 1);
    expect(m.sel(Seg.DS)).toBe(0x50);
  });

  it('markAccessed sets the accessed bit of code/data descriptors only', () => {
    const m = new Machine();
    m.gdt(3, seg(0, 0xfffff, A.data & ~1));
    m.gdt(4, seg(0x5000, 0x67, A.tss32, 0));
    const hi3 = m.r32(GDT + 28);
    markAccessed(m.cpu, GDT + 24, 0, hi3);
    expect(m.r32(GDT + 28) & 0x100).toBe(0x100);
    const hi4 = m.r32(GDT + 36);
    markAccessed(m.cpu, GDT + 32, 0, hi4);
    expect(m.r32(GDT + 36)).toBe(hi4);
  });

  it('loadSegmentReal in virtual-8086 mode: base = selector * 16, limit 64 KiB, DPL 3', () => {
    const m = kernel32();
    m.cpu.setEflags(Flag.VM | 0x2);
    loadSegmentReal(m.cpu, Seg.DS, 0x1234);
    expect(m.cpu.segBase[Seg.DS]).toBe(0x12340);
    expect(m.cpu.segLimit[Seg.DS]).toBe(0xffff);
    expect((m.cpu.segAttr[Seg.DS]! >> SegAttr.DplShift) & 3).toBe(3);
    expect(m.cpu.cpl).toBe(3);
  });
});
