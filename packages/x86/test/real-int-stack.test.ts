/**
 * Real-address-mode interrupt delivery checks the stack like any real-mode push (SDM Vol. 2
 * "INT n" Operation, REAL-ADDRESS-MODE: "IF top 6 bytes of stack not within stack limits THEN
 * #SS"; Vol. 2 PUSH "IA-32 Architecture Compatibility": SP = 1 ends in shutdown).
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cpu, Seg, StopReason, Vector } from '../src/index.js';

const AT = 0x7c00;

function realMode(code: number[], sp: number): { cpu: Cpu; memory: PhysicalMemory; events: [number, number][] } {
  const memory = new PhysicalMemory({ ramSize: 1 << 20 });
  memory.mapRam(0, 1 << 20);
  memory.write(AT as Hpa, Uint8Array.from(code));
  const cpu = new Cpu({ memory, io: new PioBus() });
  cpu.setSegmentRaw(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]!);
  cpu.setSegmentRaw(Seg.SS, 0x1000, 0x10000, 0xffff, cpu.segAttr[Seg.SS]!);
  cpu.ripLo = AT;
  cpu.gpr[4] = sp;
  cpu.updateMode();
  // IVT: INT 21h -> 0000:8000 (HLT); #SS -> 0000:8100 (HLT).
  memory.write32((0x21 * 4) as Hpa, 0x8000);
  memory.write32((Vector.SS * 4) as Hpa, 0x8100);
  memory.write8(0x8000 as Hpa, 0xf4);
  memory.write8(0x8100 as Hpa, 0xf4);
  const events: [number, number][] = [];
  // Let software interrupts through, swallow (and record) exceptions.
  cpu.onEvent = (kind, vector) => {
    events.push([kind, vector]);
    if (kind === 0) {
      cpu.stop();
      return true;
    }
    return false;
  };
  return { cpu, memory, events };
}

/** Fills the stack segment's last and first bytes with a marker. */
function mark(memory: PhysicalMemory): void {
  for (const off of [0, 1, 2, 3, 0xfffa, 0xfffb, 0xfffc, 0xfffd, 0xfffe, 0xffff]) memory.write8((0x10000 + off) as Hpa, 0xcc);
}

describe('real-mode INT n stack checks', () => {
  it('SP = 0 wraps: the frame goes to FFFA-FFFF and delivery succeeds', () => {
    const { cpu, memory } = realMode([0xcd, 0x21], 0);
    cpu.onEvent = null;
    expect(cpu.run(5)).toBe(StopReason.Halt);
    expect(cpu.ripLo).toBe(0x8001);
    expect(cpu.gpr[4]! & 0xffff).toBe(0xfffa);
    expect(memory.read16(0x1fffa as Hpa)).toBe(AT + 2);
  });

  it('SP = 3: the second slot (FFFF) crosses the limit: #SS, nothing written, SP and IP unchanged', () => {
    const { cpu, memory, events } = realMode([0xcd, 0x21], 3);
    mark(memory);
    cpu.run(5);
    expect(events).toEqual([
      [3, 0x21],
      [0, Vector.SS],
    ]);
    expect(cpu.gpr[4]).toBe(3);
    expect(cpu.ripLo).toBe(AT);
    expect(memory.read16(0x10001 as Hpa)).toBe(0xcccc);
    expect(memory.read16(0x1fffe as Hpa)).toBe(0xcccc);
  });

  it('a limit below SP (left from protected mode): #SS before any write', () => {
    const { cpu, memory, events } = realMode([0xcd, 0x21], 0x2000);
    cpu.setSegmentRaw(Seg.SS, 0x1000, 0x10000, 0x1ffc, cpu.segAttr[Seg.SS]!);
    memory.write16(0x11ffe as Hpa, 0x5555);
    cpu.run(5);
    expect(events).toEqual([
      [3, 0x21],
      [0, Vector.SS],
    ]);
    expect(memory.read16(0x11ffe as Hpa)).toBe(0x5555);
    expect(cpu.gpr[4]).toBe(0x2000);
  });

  it('SP = 1: #SS, whose delivery faults again (#DF), then shutdown', () => {
    const { cpu } = realMode([0xcd, 0x21], 1);
    cpu.onEvent = null;
    expect(cpu.run(5)).toBe(StopReason.Shutdown);
    expect(cpu.gpr[4]).toBe(1);
  });
});
