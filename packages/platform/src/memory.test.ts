import { describe, expect, it } from 'vitest';
import { AddressConflictError, MmioBus, PhysicalMemory, RegionKind, type AccessSize, type Hpa, type MmioHandler } from './index.js';

const a = (n: number) => n as Hpa;

class Regs implements MmioHandler {
  readonly writes: [number, number, number][] = [];
  mmioRead(addr: Hpa, size: AccessSize): number {
    return (addr & 0xff) * 0x01010101 & (size === 4 ? -1 : (1 << (8 * size)) - 1);
  }
  mmioWrite(addr: Hpa, size: AccessSize, value: number): void {
    this.writes.push([addr, size, value]);
  }
}

/** A PC-like layout: 640 KiB low RAM, a VGA hole, ROM at 0xF0000, RAM from 1 MiB. */
function pc(ramSize = 4 << 20) {
  const mem = new PhysicalMemory({ ramSize });
  mem.mapRam(0, 0xa0000, 0, 'low');
  mem.mapRam(0x10_0000, ramSize - 0x10_0000, 0x10_0000, 'high');
  return mem;
}

describe('PhysicalMemory', () => {
  it('reads back little-endian values written to RAM, through the shared buffer', () => {
    const mem = pc();
    mem.write32(a(0x1000), 0xdeadbeef);
    expect(mem.read8(a(0x1000))).toBe(0xef);
    expect(mem.read16(a(0x1002))).toBe(0xdead);
    expect(mem.read32(a(0x1000))).toBe(0xdeadbeef);
    expect(mem.ram[0x1003]).toBe(0xde);
    mem.write16(a(0x20_0001), 0x1234);
    expect(mem.ram[0x20_0001]).toBe(0x34);
    expect(mem.read32(a(0x20_0000))).toBe(0x0012_3400);
  });

  it('maps a slice of the buffer at another address (RAM above 4 GiB)', () => {
    const mem = new PhysicalMemory({ ramSize: 0x2000 });
    mem.mapRam(0x1_0000_0000, 0x1000, 0x1000, 'above-4g');
    mem.write32(a(0x1_0000_0ffc), 0x11223344);
    expect(mem.ramOffset(a(0x1_0000_0ffc))).toBe(0x1ffc);
    expect(mem.ram[0x1ffc]).toBe(0x44);
    expect(mem.ramOffset(a(0x1_0000_1000))).toBe(-1);
  });

  it('gives the fast-path region of a page to the MMU', () => {
    const mem = pc();
    const r = mem.regionAt(0x10_0123)!;
    expect(r.kind).toBe(RegionKind.Ram);
    expect(r.name).toBe('high');
    expect(r.bytes).toBe(mem.ram);
    expect(0x10_0123 + r.delta).toBe(0x10_0123);
    expect(mem.regionAt(0xa0000)).toBeNull();
  });

  it('reads unmapped memory as all ones and drops writes to it', () => {
    const mem = pc();
    expect(mem.read32(a(0xb8000))).toBe(0xffff_ffff);
    expect(mem.read16(a(0xb8000))).toBe(0xffff);
    expect(mem.read8(a(0x4000_0000))).toBe(0xff);
    mem.write32(a(0xb8000), 0);
    expect(mem.read32(a(0xb8000))).toBe(0xffff_ffff);
  });

  it('serves ROM read-only, padding to a page with 0xFF', () => {
    const mem = pc();
    mem.mapRom(0xf0000, new Uint8Array([0xea, 0x5b, 0xe0]), 'bios');
    expect(mem.read32(a(0xf0000))).toBe(0xffe05bea);
    mem.write8(a(0xf0000), 0);
    mem.write32(a(0xf0000), 0);
    mem.write(a(0xf0000), new Uint8Array([1, 2]));
    expect(mem.read8(a(0xf0000))).toBe(0xea);
    expect(mem.ramOffset(a(0xf0000))).toBe(-1);
    expect(mem.regionAt(0xf0fff)?.kind).toBe(RegionKind.Rom);
  });

  it('routes MMIO through the bus, at full width when the access is wholly MMIO', () => {
    const mem = pc();
    const regs = new Regs();
    mem.mapMmio(0xa0000, 0x100, regs, 'regs');
    expect(mem.read32(a(0xa0010))).toBe(0x10101010);
    mem.write16(a(0xa0020), 0xbeef);
    expect(regs.writes).toEqual([[0xa0020, 2, 0xbeef]]);
  });

  it('splits an access that straddles RAM and MMIO into bytes', () => {
    const mem = pc();
    const regs = new Regs();
    mem.mapMmio(0xa0000, 0x100, regs, 'regs');
    mem.ram[0x9fffe] = 0x11;
    mem.ram[0x9ffff] = 0x22;
    // Bytes: RAM 0x11, RAM 0x22, MMIO(0xa0000)=0x00, MMIO(0xa0001)=0x01
    expect(mem.read32(a(0x9fffe))).toBe(0x0100_2211);
    mem.write32(a(0x9ffff), 0xaabbccdd);
    expect(mem.ram[0x9ffff]).toBe(0xdd);
    expect(regs.writes).toEqual([
      [0xa0000, 1, 0xcc],
      [0xa0001, 1, 0xbb],
      [0xa0002, 1, 0xaa],
    ]);
  });

  it('copies bulk data across RAM, holes and ROM', () => {
    const mem = pc();
    mem.mapRom(0xf0000, new Uint8Array([9, 9]), 'bios');
    const src = new Uint8Array(16).map((_, i) => i + 1);
    mem.write(a(0x9fff8), src); // 8 bytes of RAM, then the hole
    const out = new Uint8Array(16);
    mem.read(a(0x9fff8), out);
    expect([...out]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, ...Array(8).fill(0xff)]);
    mem.fill(a(0x2000), 0x3000, 0x5a);
    expect(mem.read32(a(0x4ffc))).toBe(0x5a5a5a5a);
    expect(mem.read8(a(0x5000))).toBe(0);
  });

  it('tells write observers about writes made through it', () => {
    const mem = pc();
    const seen: [number, number][] = [];
    const observer = { physicalWrite: (addr: Hpa, len: number) => seen.push([addr, len]) };
    mem.addWriteObserver(observer);
    mem.write8(a(0x10), 1);
    mem.write32(a(0x20), 1);
    mem.write(a(0x30), new Uint8Array(5));
    mem.removeWriteObserver(observer);
    mem.write8(a(0x40), 1);
    expect(seen).toEqual([
      [0x10, 1],
      [0x20, 4],
      [0x30, 5],
    ]);
  });

  describe('rejects bad layouts with a clear error', () => {
    it('overlapping RAM', () => {
      const mem = pc();
      expect(() => mem.mapRam(0x9f000, 0x2000, 0, 'dup')).toThrow(AddressConflictError);
      expect(() => mem.mapRam(0x9f000, 0x2000, 0, 'dup')).toThrow(/"dup" overlaps 0x0-0x9ffff already registered by "low"/);
    });
    it('MMIO over RAM, and RAM over MMIO', () => {
      const mem = pc();
      expect(() => mem.mapMmio(0x9ff00, 0x100, new Regs(), 'vga')).toThrow(/"vga" overlaps 0x0-0x9ffff already registered by "low"/);
      mem.mapMmio(0xfee0_0000, 0x1000, new Regs(), 'lapic');
      expect(() => mem.mapMmio(0xfee0_0ffc, 8, new Regs(), 'late')).toThrow(/"late" overlaps 0xfee00000-0xfee00fff already registered by "lapic"/);
    });
    it('RAM over an existing MMIO region', () => {
      const mmio = new MmioBus();
      const mem = new PhysicalMemory({ ramSize: 0x10000, mmio });
      mem.mapMmio(0x4000, 0x100, new Regs(), 'dev');
      expect(() => mem.mapRam(0, 0x10000, 0, 'ram')).toThrow(/"ram" overlaps 0x4000-0x40ff already registered by "dev"/);
      // Registering on the bus directly is checked the same way.
      mem.mapRam(0x10000, 0x1000, 0, 'ram2');
      expect(() => mmio.register(0x10800, 4, new Regs(), 'direct')).toThrow(/"direct" overlaps 0x10000-0x10fff already registered by "ram2"/);
    });
    it.each([
      ['a RAM size that is not a page multiple', () => new PhysicalMemory({ ramSize: 1000 }), /RAM size 1000 is not a positive multiple of 4 KiB/],
      ['a zero RAM size', () => new PhysicalMemory({ ramSize: 0 }), /RAM size 0/],
      ['an unaligned RAM base', () => new PhysicalMemory({ ramSize: 0x2000 }).mapRam(0x800, 0x1000), /not 4 KiB aligned/],
      ['a RAM slice past the buffer', () => new PhysicalMemory({ ramSize: 0x2000 }).mapRam(0, 0x2000, 0x1000, 'x'), /buffer range 0x1000\+0x2000 is not a 4 KiB-aligned slice of the 0x2000-byte RAM/],
      ['a region past 2^52', () => new PhysicalMemory({ ramSize: 0x1000 }).mapRam(2 ** 52 - 0x1000 + 0x1000, 0x1000), /past the 52-bit physical address space/],
      ['an empty ROM', () => new PhysicalMemory({ ramSize: 0x1000 }).mapRom(0xf0000, new Uint8Array(0), 'bios'), /ROM "bios" is empty/],
      ['a host that cannot allocate the RAM', () => new PhysicalMemory({ ramSize: 2 ** 52 }), /cannot allocate 4503599627370496 bytes of guest RAM on this host/],
    ])('%s', (_name, make, message) => {
      expect(make).toThrow(RangeError);
      expect(make).toThrow(message);
    });
    it('a bus that already belongs to another memory map', () => {
      const mem = pc();
      expect(() => new PhysicalMemory({ ramSize: 0x1000, mmio: mem.mmio })).toThrow(/already belongs to a physical memory map/);
    });
  });

  it('unmaps a region', () => {
    const mem = pc();
    const rom = mem.mapRom(0xf0000, new Uint8Array([1]), 'bios');
    expect(mem.read8(a(0xf0000))).toBe(1);
    expect(mem.unmap(rom)).toBe(true);
    expect(mem.read8(a(0xf0000))).toBe(0xff);
    expect(mem.memoryRegions().map((r) => r.name)).toEqual(['low', 'high']);
  });
});
