import { DirectDma, DmaStatus, PhysicalMemory, type Hpa, type Iova, type MsiSink } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { DeviceExclusionVector } from './index.js';

function setup(): { mem: PhysicalMemory; dev: DeviceExclusionVector; msis: number[]; dma: ReturnType<DeviceExclusionVector['space']> } {
  const mem = new PhysicalMemory({ ramSize: 1 << 20 });
  mem.mapRam(0, 1 << 20);
  const msis: number[] = [];
  const sink: MsiSink = { deliverMsi: (_a: number, data: number) => void msis.push(data) } as MsiSink;
  const dev = new DeviceExclusionVector();
  return { mem, dev, msis, dma: dev.space(new DirectDma(mem, sink)) };
}

const io = (a: number): Iova => a as Iova;

describe('DeviceExclusionVector (APM Vol. 2 §15.24)', () => {
  it('holds one bit per 4 KiB page, little-endian: PFN n is bit n & 31 of word n >> 5 (§15.24.2)', () => {
    const dev = new DeviceExclusionVector();
    dev.protect(0x21000, 0x1000); // PFN 0x21 = 33: word 1, bit 1
    expect(dev.bits[1]).toBe(2);
    expect(dev.bits[0]).toBe(0);
    // 4 GiB of coverage at SIZE 0: 2^20 pages, 2^15 words.
    expect(dev.bits.length).toBe(1 << 15);
    expect(dev.coverage).toBe(2 ** 32);
  });

  it('protects every page overlapping the range (SL_DEV: a 64 KiB SLB is 16 pages, §15.24.8)', () => {
    const dev = new DeviceExclusionVector();
    dev.protect(0x40000, 0x10000);
    expect(dev.isProtected(0x3ffff)).toBe(false);
    expect(dev.isProtected(0x40000)).toBe(true);
    expect(dev.isProtected(0x4ffff)).toBe(true);
    expect(dev.isProtected(0x50000)).toBe(false);
    dev.protect(0x60fff, 2); // straddles two pages
    expect(dev.isProtected(0x60000)).toBe(true);
    expect(dev.isProtected(0x61000)).toBe(true);
    dev.unprotect(0x40000, 0x1000);
    expect(dev.isProtected(0x40000)).toBe(false);
    expect(dev.isProtected(0x41000)).toBe(true);
  });

  it('a blocked device read returns all ones and leaves memory alone; a write is suppressed (§15.24.3)', () => {
    const { mem, dev, dma } = setup();
    mem.write32(0x40010 as Hpa, 0x12345678);
    dev.protect(0x40000, 0x1000);
    const buf = new Uint8Array(8);
    expect(dma.read(io(0x40010), buf)).toBe(DmaStatus.Blocked);
    expect([...buf]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(dma.read32(io(0x40010))).toBe(-1);
    expect(dma.write(io(0x40010), Uint8Array.of(1, 2, 3, 4))).toBe(DmaStatus.Blocked);
    expect(dma.write32(io(0x40014), 0xdeadbeef)).toBe(DmaStatus.Blocked);
    expect(mem.read32(0x40010 as Hpa) >>> 0).toBe(0x12345678);
    expect(mem.read32(0x40014 as Hpa)).toBe(0);
    // Logged (§15.24.7).
    expect(dev.blockedCount).toBe(4);
    expect(dev.lastBlockedAddress).toBe(0x40014);
    expect(dev.lastBlockedWrite).toBe(true);
  });

  it('an access that only touches a protected page with its last byte is blocked', () => {
    const { dev, dma } = setup();
    dev.protect(0x41000, 0x1000);
    expect(dma.write(io(0x40ffe), Uint8Array.of(1, 2, 3))).toBe(DmaStatus.Blocked);
    expect(dma.read32(io(0x40ffd))).toBe(-1);
  });

  it('unprotected pages pass through to memory', () => {
    const { mem, dev, dma } = setup();
    dev.protect(0x40000, 0x1000);
    expect(dma.write32(io(0x41000), 0xcafef00d)).toBe(DmaStatus.Ok);
    expect(mem.read32(0x41000 as Hpa) >>> 0).toBe(0xcafef00d);
    const buf = new Uint8Array(4);
    expect(dma.read(io(0x41000), buf)).toBe(DmaStatus.Ok);
    expect([...buf]).toEqual([0x0d, 0xf0, 0xfe, 0xca]);
    expect(dev.blockedCount).toBe(0);
  });

  it('MSI writes are interrupt messages, not memory writes: not checked', () => {
    const { dev, dma, msis } = setup();
    dev.protect(0xfee00000, 0x1000);
    expect(dma.write32(io(0xfee00000), 0x41)).toBe(DmaStatus.Ok);
    expect(msis).toEqual([0x41]);
  });

  it('beyond the covered range the P bit decides (DEV_BASE_LO.P, §15.24.6)', () => {
    const open = new DeviceExclusionVector();
    expect(open.isProtected(2 ** 32)).toBe(false);
    const closed = new DeviceExclusionVector({ protectBeyond: true });
    expect(closed.isProtected(2 ** 32)).toBe(true);
    expect(closed.isProtected(2 ** 32 - 1)).toBe(false);
    const big = new DeviceExclusionVector({ sizeLog2: 1, protectBeyond: true });
    expect(big.coverage).toBe(2 ** 33);
    expect(big.isProtected(2 ** 32)).toBe(false);
    big.protect(2 ** 32, 0x1000);
    expect(big.isProtected(2 ** 32)).toBe(true);
  });
});
