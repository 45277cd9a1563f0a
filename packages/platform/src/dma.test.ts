import { describe, expect, it } from 'vitest';
import { DirectDma, DmaStatus, PhysicalMemory, requesterId, type Hpa, type Iova, type MemoryAccess, type MsiSink } from './index.js';

const io = (n: number) => n as Iova;

describe('DirectDma', () => {
  it('reads and writes physical memory at IOVA = HPA', () => {
    const mem = new PhysicalMemory({ ramSize: 0x10000 });
    mem.mapRam(0, 0x10000);
    const dma = new DirectDma(mem);
    expect(dma.write(io(0x100), new Uint8Array([1, 2, 3, 4]))).toBe(DmaStatus.Ok);
    expect(mem.read32(0x100 as Hpa)).toBe(0x04030201);
    const out = new Uint8Array(4);
    expect(dma.read(io(0x100), out)).toBe(DmaStatus.Ok);
    expect([...out]).toEqual([1, 2, 3, 4]);
    expect(dma.write32(io(0x200), 0xcafef00d)).toBe(DmaStatus.Ok);
    expect(dma.read32(io(0x200))).toBe(0xcafef00d);
  });

  it('reads unbacked addresses as all ones, as a PC does without an IOMMU', () => {
    const mem = new PhysicalMemory({ ramSize: 0x1000 });
    mem.mapRam(0, 0x1000);
    const dma = new DirectDma(mem);
    const out = new Uint8Array(4);
    expect(dma.read(io(0xffc + 2), out)).toBe(DmaStatus.Ok);
    expect([...out]).toEqual([0, 0, 0xff, 0xff]);
  });

  it('turns 4-byte writes to the MSI window into interrupt messages, not memory writes', () => {
    const mem = new PhysicalMemory({ ramSize: 0x1000 });
    mem.mapRam(0, 0x1000);
    const msis: [number, number, number][] = [];
    const sink: MsiSink = { deliverMsi: (addr, data, rid) => msis.push([addr, data, rid]) };
    const rid = requesterId({ bus: 0, device: 3, function: 1 });
    const dma = new DirectDma(mem, sink, rid);
    dma.write32(io(0xfee0_1000), 0x4031);
    dma.write(io(0xfee0_0000), new Uint8Array([0x41, 0x00, 0x00, 0x80]));
    expect(msis).toEqual([
      [0xfee0_1000, 0x4031, 0x19],
      [0xfee0_0000, 0x8000_0041, 0x19],
    ]);
    // Without a sink the message is dropped; nothing reaches memory either way.
    new DirectDma(mem).write32(io(0xfee0_0000), 1);
    expect(mem.mmio.unclaimedAccesses).toBe(0);
  });

  it('works on any MemoryAccess, not only PhysicalMemory', () => {
    const log: string[] = [];
    const fake: MemoryAccess<Hpa> = {
      read8: () => 0,
      read16: () => 0,
      read32: (a) => (log.push(`r32 ${a.toString(16)}`), 0x1234),
      write8: () => {},
      write16: () => {},
      write32: (a, v) => void log.push(`w32 ${a.toString(16)}=${v.toString(16)}`),
      read: (a, dst) => void (log.push(`read ${a.toString(16)}+${dst.length}`), dst.fill(7)),
      write: (a, src) => void log.push(`write ${a.toString(16)}+${src.length}`),
    };
    const dma = new DirectDma(fake);
    expect(dma.read32(io(0x40))).toBe(0x1234);
    dma.write32(io(0x44), 0xab);
    const buf = new Uint8Array(3);
    dma.read(io(0x50), buf);
    dma.write(io(0x60), buf);
    expect([...buf]).toEqual([7, 7, 7]);
    expect(log).toEqual(['r32 40', 'w32 44=ab', 'read 50+3', 'write 60+3']);
  });
});

describe('requesterId', () => {
  it('packs bus, device and function as the PCI requester ID', () => {
    expect(requesterId({ bus: 0, device: 0, function: 0 })).toBe(0);
    expect(requesterId({ bus: 1, device: 31, function: 7 })).toBe(0x1ff);
    expect(requesterId({ bus: 0xff, device: 2, function: 3 })).toBe(0xff13);
  });
});
