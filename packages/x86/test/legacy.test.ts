/**
 * LDS/LES/LSS/LFS/LGS and BOUND in real mode (SDM Vol. 2 "LDS/LES/LFS/LGS/LSS", "BOUND").
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cpu, Seg, StopReason } from '../src/index.js';

function realMode(code: number[]): Cpu {
  const memory = new PhysicalMemory({ ramSize: 1 << 20 });
  memory.mapRam(0, 1 << 20);
  memory.write(0x7c00 as Hpa, Uint8Array.from(code));
  const cpu = new Cpu({ memory, io: new PioBus() });
  cpu.setSegmentRaw(Seg.CS, 0, 0, 0xffff, cpu.segAttr[Seg.CS]!);
  cpu.ripLo = 0x7c00;
  cpu.gpr[4] = 0x7000;
  cpu.updateMode();
  return cpu;
}

describe('far-pointer loads', () => {
  it('LES/LDS/LSS/LFS/LGS load offset and selector (16 and 32-bit operands)', () => {
    // [0x100] = 1234:5678 (offset 0x5678, selector 0x1234); [0x110] = 0x9abc:def01234.
    const cpu = realMode([
      0xc4, 0x1e, 0x00, 0x01, // les bx, [0x100]
      0xc5, 0x36, 0x00, 0x01, // lds si, [0x100]  (DS base becomes 0x12340)
      0x31, 0xc0, 0x8e, 0xd8, // xor ax, ax; mov ds, ax
      0x66, 0x0f, 0xb4, 0x06, 0x10, 0x01, // lfs eax, [0x110]
      0x0f, 0xb5, 0x3e, 0x00, 0x01, // lgs di, [0x100]
      0x0f, 0xb2, 0x26, 0x00, 0x01, // lss sp, [0x100]
      0xf4,
    ]);
    cpu.memory.write16(0x100 as Hpa, 0x5678);
    cpu.memory.write16(0x102 as Hpa, 0x1234);
    cpu.memory.write32(0x110 as Hpa, 0xdef01234);
    cpu.memory.write16(0x114 as Hpa, 0x9abc);
    expect(cpu.run(100)).toBe(StopReason.Halt);
    expect(cpu.gpr[3]! & 0xffff).toBe(0x5678);
    expect(cpu.segSel[Seg.ES]).toBe(0x1234);
    expect(cpu.segBase[Seg.ES]).toBe(0x12340);
    expect(cpu.gpr[6]! & 0xffff).toBe(0x5678);
    expect(cpu.gpr[0]! >>> 0).toBe(0xdef01234);
    expect(cpu.segSel[Seg.FS]).toBe(0x9abc);
    expect(cpu.gpr[7]! & 0xffff).toBe(0x5678);
    expect(cpu.segSel[Seg.GS]).toBe(0x1234);
    expect(cpu.gpr[4]! & 0xffff).toBe(0x5678);
    expect(cpu.segSel[Seg.SS]).toBe(0x1234);
  });

  it('a register operand is #UD (C4/C5 with mod = 3 is VEX, also #UD in real mode)', () => {
    // IVT[6] -> 0000:0x8000 (hlt)
    const cpu = realMode([0x0f, 0xb2, 0xc0]); // lss ax, eax (invalid)
    cpu.memory.write32(6 * 4 as Hpa, 0x8000);
    cpu.memory.write8(0x8000 as Hpa, 0xf4);
    expect(cpu.run(10)).toBe(StopReason.Halt);
    expect(cpu.ripLo).toBe(0x8001);
    expect(cpu.memory.read16(0x6ffa as Hpa)).toBe(0x7c00); // #UD is a fault: IP of the LSS
  });
});

describe('BOUND', () => {
  it('raises #BR when the signed index is outside [lower, upper], not otherwise', () => {
    // bound ax, [0x100] with bounds -5..10; IVT[5] -> 0000:0x8000 (hlt)
    const run = (ax: number): Cpu => {
      const cpu = realMode([0x62, 0x06, 0x00, 0x01, 0xf4]);
      cpu.memory.write16(0x100 as Hpa, 0xfffb);
      cpu.memory.write16(0x102 as Hpa, 10);
      cpu.memory.write32(5 * 4 as Hpa, 0x8000);
      cpu.memory.write8(0x8000 as Hpa, 0xf4);
      cpu.gpr[0] = ax;
      cpu.run(10);
      return cpu;
    };
    expect(run(10).ripLo).toBe(0x7c05); // in range: falls through to the HLT
    expect(run(0xfffb).ripLo).toBe(0x7c05); // -5
    expect(run(11).ripLo).toBe(0x8001); // #BR
    expect(run(0xfffa).ripLo).toBe(0x8001); // -6
  });
});
