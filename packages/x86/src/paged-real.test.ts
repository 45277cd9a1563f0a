/**
 * Paged real mode (AMD64 APM Vol. 2 §15.19 "Paged Real Mode"): a VMRUN may enter a guest with
 * CR0.PG = 1 and CR0.PE = 0. The processor then uses real-mode addressing (segment base =
 * selector << 4, CPL 0, 16-bit code, IVT interrupts) and translates the resulting linear
 * addresses through the page tables that CR3/CR4 select. MOV CR0 still refuses PG = 1 with
 * PE = 0 (#GP, APM Vol. 2 §3.1.1), so only a world switch enters this mode; these tests load
 * it directly, as VMRUN does.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cpu, StopReason } from './cpu.js';
import { EventKind } from './interrupts.js';
import { Cr0, Cr4, Seg, SegAttr, Vector } from './state.js';

const PD = 0x80000;
const PT = 0x81000;
/** Linear page 0x10000 (CS = 1000h, IP 0) maps to this physical page. */
const CODE_PHYS = 0x50000;
/** Linear page 0x20000 (DS = 2000h) maps to this physical page. */
const DATA_PHYS = 0x60000;
/** Linear page 0 (the IVT) maps to this physical page. */
const IVT_PHYS = 0x70000;
/** Linear page 0x30000 (the handler, 3000:0000) maps to this physical page. */
const HANDLER_PHYS = 0x40000;

const code16 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed;
const data16 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed;

function pagedReal(code: number[], mapped = true): { cpu: Cpu; memory: PhysicalMemory; events: [number, number, number][] } {
  const memory = new PhysicalMemory({ ramSize: 1 << 20 });
  memory.mapRam(0, 1 << 20);
  const w32 = (a: number, v: number): void => memory.write32(a as Hpa, v >>> 0);
  // 32-bit paging (CR4.PAE = 0): PDE 0 -> PT; PTEs for linear pages 0, 0x10000, 0x20000, 0x30000
  // and the stack page 0x8000 (identity), all mapped elsewhere than identity except the stack.
  w32(PD, PT | 3);
  w32(PT + 0x00 * 4, IVT_PHYS | 3);
  w32(PT + 0x08 * 4, 0x8000 | 3);
  if (mapped) w32(PT + 0x10 * 4, CODE_PHYS | 3);
  w32(PT + 0x20 * 4, DATA_PHYS | 3);
  w32(PT + 0x30 * 4, HANDLER_PHYS | 3);
  memory.write(CODE_PHYS as Hpa, Uint8Array.from(code));
  // Identity memory at the linear addresses holds different bytes: a non-paged access reads these.
  memory.write(0x10000 as Hpa, Uint8Array.from([0xf4, 0xf4, 0xf4, 0xf4]));
  const cpu = new Cpu({ memory, io: new PioBus() });
  cpu.cr0 = (cpu.cr0 & ~Cr0.PE) | Cr0.PG;
  cpu.cr4 &= ~Cr4.PAE;
  cpu.cr3Lo = PD;
  cpu.cr3Hi = 0;
  cpu.setSegmentRaw(Seg.CS, 0x1000, 0x10000, 0xffff, code16);
  cpu.setSegmentRaw(Seg.DS, 0x2000, 0x20000, 0xffff, data16);
  cpu.setSegmentRaw(Seg.ES, 0, 0, 0xffff, data16);
  cpu.setSegmentRaw(Seg.SS, 0, 0, 0xffff, data16);
  cpu.gpr[4] = 0x8ff0;
  cpu.ripLo = 0;
  cpu.contextChanged();
  cpu.flushTlb(true);
  const events: [number, number, number][] = [];
  cpu.onEvent = (kind, vector, error) => {
    events.push([kind, vector, error]);
    if (kind === EventKind.Exception) {
      cpu.stop();
      return true;
    }
    return false;
  };
  return { cpu, memory, events };
}

describe('paged real mode (CR0.PG = 1, CR0.PE = 0; APM Vol. 2 §15.19)', () => {
  it('fetches code and reads data through the page tables with real-mode segmentation', () => {
    // mov ax, [0x0010] ; mov word [0x0012], 0x1234 ; hlt
    const { cpu, memory } = pagedReal([0xa1, 0x10, 0x00, 0xc7, 0x06, 0x12, 0x00, 0x34, 0x12, 0xf4]);
    memory.write16((DATA_PHYS + 0x10) as Hpa, 0xbeef);
    memory.write16((0x20000 + 0x10) as Hpa, 0x1111);
    expect(cpu.cpl).toBe(0);
    expect(cpu.run(10)).toBe(StopReason.Halt);
    // HLT at physical CODE_PHYS + 9 (linear 0x10009) ran, not the HLT at physical 0x10000.
    expect(cpu.ripLo).toBe(10);
    expect(cpu.gpr[0]! & 0xffff).toBe(0xbeef);
    expect(memory.read16((DATA_PHYS + 0x12) as Hpa)).toBe(0x1234);
    expect(memory.read16((0x20000 + 0x12) as Hpa)).toBe(0);
  });

  it('INT n reads the IVT at its linear address through paging and enters the real-mode handler', () => {
    // int 0x21 ; hlt
    const { cpu, memory } = pagedReal([0xcd, 0x21, 0xf4]);
    memory.write16((IVT_PHYS + 0x21 * 4) as Hpa, 0x0000);
    memory.write16((IVT_PHYS + 0x21 * 4 + 2) as Hpa, 0x3000);
    memory.write8(HANDLER_PHYS as Hpa, 0xf4);
    expect(cpu.run(10)).toBe(StopReason.Halt);
    expect(cpu.segSel[Seg.CS]).toBe(0x3000);
    expect(cpu.segBase[Seg.CS]).toBe(0x30000);
    expect(cpu.ripLo).toBe(1);
    // The real-mode frame (IP, CS, FLAGS) on SS:SP = 0:8FEA, three words.
    expect(cpu.gpr[4]! & 0xffff).toBe(0x8fea);
    expect(memory.read16(0x8fea as Hpa)).toBe(2);
    expect(memory.read16(0x8fec as Hpa)).toBe(0x1000);
  });

  it('a not-present page raises #PF with CR2 = the linear address', () => {
    // mov ax, [0x1000] (DS base 0x20000: linear 0x21000, not mapped)
    const { cpu, events } = pagedReal([0xa1, 0x00, 0x10, 0xf4]);
    cpu.run(10);
    expect(events[0]).toEqual([EventKind.Exception, Vector.PF, 0]);
    expect(cpu.cr2Lo).toBe(0x21000);
  });

  it('a code fetch from an unmapped page raises #PF (fetch error code, no NX: 0)', () => {
    const { cpu, events } = pagedReal([0x90], false);
    cpu.run(10);
    expect(events[0]?.[1]).toBe(Vector.PF);
    expect(cpu.cr2Lo).toBe(0x10000);
  });

  it('MOV CR0 cannot enter it: PG = 1 with PE = 0 is #GP(0)', () => {
    // From plain real mode: mov eax, 0x80000010 ; mov cr0, eax
    const { cpu, events } = pagedReal([0x66, 0xb8, 0x10, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xf4]);
    cpu.cr0 &= ~Cr0.PG;
    cpu.contextChanged();
    memory_identity(cpu);
    cpu.run(10);
    expect(events[0]).toEqual([EventKind.Exception, Vector.GP, 0]);
  });
});

/** Without paging the code at linear 0x10000 is the physical page: copy it there. */
function memory_identity(cpu: Cpu): void {
  const m = cpu.memory;
  for (let i = 0; i < 16; i++) m.write8((0x10000 + i) as Hpa, m.read8((CODE_PHYS + i) as Hpa));
}
