import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cpu, Seg, StopReason, Vector } from '../src/index.js';

function realModeCpu(code: number[], at = 0x7c00): Cpu {
  const memory = new PhysicalMemory({ ramSize: 1 << 20 });
  memory.mapRam(0, 1 << 20);
  memory.write(at as Hpa, Uint8Array.from(code));
  const cpu = new Cpu({ memory, io: new PioBus() });
  cpu.setSegmentRaw(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]!);
  cpu.ripLo = at;
  cpu.updateMode();
  return cpu;
}

describe('real mode smoke', () => {
  it('runs arithmetic and halts', () => {
    // mov ax,0x1234; add ax,0x0001; mov bx,ax; xor cx,cx; dec cx; hlt
    const cpu = realModeCpu([0xb8, 0x34, 0x12, 0x05, 0x01, 0x00, 0x89, 0xc3, 0x31, 0xc9, 0x49, 0xf4]);
    expect(cpu.run(100)).toBe(StopReason.Halt);
    expect(cpu.gpr[0]! & 0xffff).toBe(0x1235);
    expect(cpu.gpr[3]! & 0xffff).toBe(0x1235);
    expect(cpu.gpr[1]! & 0xffff).toBe(0xffff);
    expect(cpu.getEflags() & 0x80).toBe(0x80); // SF from DEC
    expect(cpu.ripLo).toBe(0x7c00 + 12);
  });

  it('loops with a backward branch', () => {
    // mov cx,10; xor ax,ax; l: add ax,cx; loop l; hlt
    const cpu = realModeCpu([0xb9, 0x0a, 0x00, 0x31, 0xc0, 0x01, 0xc8, 0xe2, 0xfc, 0xf4]);
    expect(cpu.run(1000)).toBe(StopReason.Halt);
    expect(cpu.gpr[0]! & 0xffff).toBe(55);
  });

  it('delivers #DE through the IVT', () => {
    // IVT[0] = 0000:0x8000; at 0x8000: hlt. Code: int 0 (CD 00)
    const cpu = realModeCpu([0xcd, 0x00]);
    cpu.memory.write32(0 as Hpa, 0x8000);
    cpu.memory.write8(0x8000 as Hpa, 0xf4);
    cpu.gpr[4] = 0x7000;
    expect(cpu.run(10)).toBe(StopReason.Halt);
    expect(cpu.ripLo).toBe(0x8001);
    expect(cpu.memory.read16(0x6ffa as Hpa)).toBe(0x7c02); // return IP
    expect(Vector.DE).toBe(0);
  });

  it('self-modifying code re-decodes', () => {
    // mov byte [0x7c0a], 0x40 (inc ax) ; nop ; nop ; nop; then at 0x7c0a: 0x48 (dec ax) -> becomes inc ; hlt
    const cpu = realModeCpu([0xc6, 0x06, 0x0a, 0x7c, 0x40, 0x90, 0x90, 0x90, 0x90, 0x90, 0x48, 0xf4]);
    expect(cpu.run(100)).toBe(StopReason.Halt);
    expect(cpu.gpr[0]! & 0xffff).toBe(1);
  });
});
