import { describe, expect, it } from 'vitest';
import { AddressConflictError, MmioBus, PhysicalMemory, RAM_CHUNK_SIZE, RegionKind, type AccessSize, type Hpa, type MmioHandler } from './index.js';

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

/** The RAM byte behind physical address `phys`, read straight from its chunk. */
function ramByte(mem: PhysicalMemory, phys: number): number {
  const r = mem.regionAt(phys)!;
  return r.bytes[phys + r.delta]!;
}

/** A PC-like layout: 640 KiB low RAM, a VGA hole, ROM at 0xF0000, RAM from 1 MiB. */
function pc(ramSize = 4 << 20) {
  const mem = new PhysicalMemory({ ramSize });
  mem.mapRam(0, 0xa0000, 0, 'low');
  mem.mapRam(0x10_0000, ramSize - 0x10_0000, 0x10_0000, 'high');
  return mem;
}

describe('PhysicalMemory', () => {
  it('reads back little-endian values written to RAM, through the chunk that backs it', () => {
    const mem = pc();
    mem.write32(a(0x1000), 0xdeadbeef);
    expect(mem.read8(a(0x1000))).toBe(0xef);
    expect(mem.read16(a(0x1002))).toBe(0xdead);
    expect(mem.read32(a(0x1000))).toBe(0xdeadbeef);
    expect(ramByte(mem, 0x1003)).toBe(0xde);
    mem.write16(a(0x20_0001), 0x1234);
    expect(ramByte(mem, 0x20_0001)).toBe(0x34);
    expect(mem.read32(a(0x20_0000))).toBe(0x0012_3400);
  });

  it('maps a slice of RAM at another address (RAM above 4 GiB)', () => {
    const mem = new PhysicalMemory({ ramSize: 0x2000 });
    mem.mapRam(0x1_0000_0000, 0x1000, 0x1000, 'above-4g');
    mem.write32(a(0x1_0000_0ffc), 0x11223344);
    expect(mem.ramOffset(a(0x1_0000_0ffc))).toBe(0x1ffc);
    expect(ramByte(mem, 0x1_0000_0ffc)).toBe(0x44);
    expect(mem.ramOffset(a(0x1_0000_1000))).toBe(-1);
  });

  it('gives the fast-path region of a page to the MMU', () => {
    const mem = pc();
    const r = mem.regionAt(0x10_0123)!;
    expect(r.kind).toBe(RegionKind.Ram);
    expect(r.name).toBe('high');
    // 1 MiB chunks: physical 0x100000 is RAM offset 0x100000, the start of chunk 1.
    expect(r.base).toBe(0x10_0000);
    expect(r.end).toBe(0x20_0000);
    expect(r.bytes.length).toBe(RAM_CHUNK_SIZE);
    expect(0x10_0123 + r.delta).toBe(0x123);
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
    mem.write8(a(0x9fffe), 0x11);
    mem.write8(a(0x9ffff), 0x22);
    // Bytes: RAM 0x11, RAM 0x22, MMIO(0xa0000)=0x00, MMIO(0xa0001)=0x01
    expect(mem.read32(a(0x9fffe))).toBe(0x0100_2211);
    mem.write32(a(0x9ffff), 0xaabbccdd);
    expect(ramByte(mem, 0x9ffff)).toBe(0xdd);
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
      ['a RAM slice past the buffer', () => new PhysicalMemory({ ramSize: 0x2000 }).mapRam(0, 0x2000, 0x1000, 'x'), /RAM range 0x1000\+0x2000 is not a 4 KiB-aligned slice of the 0x2000-byte RAM/],
      ['a region past 2^52', () => new PhysicalMemory({ ramSize: 0x1000 }).mapRam(2 ** 52 - 0x1000 + 0x1000, 0x1000), /past the 52-bit physical address space/],
      ['an empty ROM', () => new PhysicalMemory({ ramSize: 0x1000 }).mapRom(0xf0000, new Uint8Array(0), 'bios'), /ROM "bios" is empty/],
      ['RAM larger than the physical address space', () => new PhysicalMemory({ ramSize: 2 ** 53 }), /RAM size 9007199254740992 is larger than the 52-bit physical address space/],
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

  describe('RAM allocated by chunk', () => {
    it('allocates a chunk only when it is touched, so a 4 GiB guest using a few pages costs a few MiB', () => {
      const mem = new PhysicalMemory({ ramSize: 4 * 2 ** 30 });
      mem.mapRam(0, 3 * 2 ** 30, 0, 'low');
      mem.mapRam(2 ** 32, 2 ** 30, 3 * 2 ** 30, 'high');
      expect(mem.allocatedRamBytes).toBe(0);
      mem.write32(a(0x1000), 1);
      mem.write32(a(0x1ff0), 2); // same chunk
      mem.write32(a(2 ** 32 + 0x3000_0000), 3);
      expect(mem.read32(a(2 ** 32 + 0x3000_0000))).toBe(3);
      expect(mem.allocatedChunks).toBe(2);
      expect(mem.allocatedRamBytes).toBe(2 * RAM_CHUNK_SIZE);
    });

    it('holds more than the 4 GiB one JavaScript buffer can', () => {
      const mem = new PhysicalMemory({ ramSize: 8 * 2 ** 30 });
      mem.mapRam(0, 8 * 2 ** 30);
      mem.write32(a(7 * 2 ** 30 + 0x10), 0xcafef00d);
      mem.write32(a(0x10), 0x1234);
      expect(mem.read32(a(7 * 2 ** 30 + 0x10))).toBe(0xcafef00d);
      expect(mem.read32(a(0x10))).toBe(0x1234);
      expect(mem.ramOffset(a(7 * 2 ** 30 + 0x10))).toBe(7 * 2 ** 30 + 0x10);
    });

    it('splits accesses and bulk copies across chunk boundaries', () => {
      const mem = new PhysicalMemory({ ramSize: 0x40_0000, chunkSize: 0x1_0000 });
      mem.mapRam(0, 0x40_0000);
      mem.write32(a(0xfffe), 0x44332211);
      expect(mem.read8(a(0xffff))).toBe(0x22);
      expect(mem.read8(a(0x10000))).toBe(0x33);
      expect(mem.read32(a(0xfffe))).toBe(0x44332211);
      const src = new Uint8Array(0x2_0010).map((_, i) => i & 0xff);
      mem.write(a(0xfff8), src);
      const dst = new Uint8Array(src.length);
      mem.read(a(0xfff8), dst);
      expect(dst).toEqual(src);
      expect(mem.regionAt(0xffff)!.bytes).not.toBe(mem.regionAt(0x10000)!.bytes);
    });

    it('aliases: two mappings of the same RAM see the same bytes', () => {
      const mem = new PhysicalMemory({ ramSize: 0x20_0000 });
      mem.mapRam(0, 0x20_0000, 0, 'ram');
      mem.mapRam(0x1_0000_0000, 0x1000, 0x1_5000, 'alias');
      mem.write8(a(0x1_5007), 0x5a);
      expect(mem.read8(a(0x1_0000_0007))).toBe(0x5a);
      mem.write8(a(0x1_0000_0008), 0xa5);
      expect(mem.read8(a(0x1_5008))).toBe(0xa5);
    });

    it('saves only touched, non-zero chunks and restores into the same arrays', () => {
      const mem = new PhysicalMemory({ ramSize: 0x100_0000, chunkSize: 0x1_0000 });
      mem.mapRam(0, 0x100_0000);
      mem.write32(a(0x2_0004), 0x11111111);
      mem.write32(a(0x9_0000), 0); // touched but zero: left out
      mem.write32(a(0xf_fffc), 0x22222222);
      const saved = mem.saveRam();
      const snap = { ...saved, chunks: saved.chunks.map(([i, b]) => [i, b.slice()] as const) };
      expect(snap.chunks.map(([i]) => i)).toEqual([2, 15]);
      expect(saved.chunks[0]![1]).not.toBe(mem.regionAt(0x2_0000)!.bytes);
      const backing = mem.regionAt(0x2_0000)!.bytes;
      mem.write32(a(0x2_0004), 0x33333333);
      mem.write32(a(0x50_0000), 0x44444444);
      mem.restoreRam(snap);
      expect(mem.regionAt(0x2_0000)!.bytes).toBe(backing);
      expect(mem.read32(a(0x2_0004))).toBe(0x11111111);
      expect(mem.read32(a(0xf_fffc))).toBe(0x22222222);
      expect(mem.read32(a(0x50_0000))).toBe(0);
      const other = new PhysicalMemory({ ramSize: 0x100_0000 });
      expect(() => other.restoreRam(snap)).toThrow(/0x10000|65536-byte chunks/);
      expect(() => mem.restoreRam({ ...snap, chunks: [[999, new Uint8Array(0x1_0000)]] })).toThrow(/bad chunk 999/);
    });

    it('rejects a chunk size that is not a power of two in range', () => {
      expect(() => new PhysicalMemory({ ramSize: 0x10000, chunkSize: 0x3000 })).toThrow(/power of two/);
    });
  });
});
