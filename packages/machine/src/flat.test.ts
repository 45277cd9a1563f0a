import { PhysicalMemory, RegionKind, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { FlatImageError, KernelImageError, loadFlat, type FlatOptions } from './index.js';

const MiB = 0x10_0000;
const FILL = 0xaa;

/** A PC-like map: 640 KiB low RAM, a BIOS ROM at 0xF0000, RAM from 1 MiB to 4 MiB. */
function pcMemory(): PhysicalMemory {
  const memory = new PhysicalMemory({ ramSize: 4 * MiB });
  memory.mapRam(0, 0xa0000, 0, 'low');
  memory.mapRom(0xf0000, new Uint8Array(0x10000).fill(0xc3), 'bios');
  memory.mapRam(MiB, 3 * MiB, MiB, 'high');
  memory.fill(0 as Hpa, 0xa0000, FILL);
  memory.fill(MiB as Hpa, 3 * MiB, FILL);
  return memory;
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const read = (m: PhysicalMemory, addr: number, n: number) => {
  const out = new Uint8Array(n);
  m.read(addr as Hpa, out);
  return out;
};

function ramContents(m: PhysicalMemory): Uint8Array {
  const ram = m.memoryRegions().filter((r) => r.kind === RegionKind.Ram);
  const out = new Uint8Array(ram.reduce((n, r) => n + r.end - r.base, 0));
  let at = 0;
  for (const r of ram) {
    m.read(r.base as Hpa, out.subarray(at, at + r.end - r.base));
    at += r.end - r.base;
  }
  return out;
}

function expectError(image: Uint8Array, options: FlatOptions, message: RegExp): void {
  const m = pcMemory();
  const before = ramContents(m);
  let error: unknown;
  try {
    loadFlat(m, image, options);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FlatImageError);
  expect(error).toBeInstanceOf(KernelImageError);
  expect((error as Error).name).toBe('FlatImageError');
  expect((error as Error).message).toMatch(message);
  const after = ramContents(m);
  expect(after.every((b, i) => b === before[i])).toBe(true);
}

describe('loadFlat', () => {
  it('copies the image to the address and enters at its first byte by default', () => {
    const m = pcMemory();
    const boot = loadFlat(m, bytes(0x1234), { address: 0x200000 });
    expect(boot).toEqual({ entry: 0x200000, range: { start: 0x200000, end: 0x201234 } });
    expect(read(m, 0x200000, 0x1234)).toEqual(bytes(0x1234));
    expect(m.read8(0x1fffff as Hpa)).toBe(FILL);
    expect(m.read8(0x201234 as Hpa)).toBe(FILL);
  });

  it('takes an entry point inside the image, up to its last byte', () => {
    expect(loadFlat(pcMemory(), bytes(0x100), { address: 0x7c00, entry: 0x7c10 }).entry).toBe(0x7c10);
    expect(loadFlat(pcMemory(), bytes(0x100), { address: 0x7c00, entry: 0x7cff }).entry).toBe(0x7cff);
  });

  it('loads up to the last byte of a RAM region', () => {
    const m = pcMemory();
    loadFlat(m, bytes(0x100), { address: 0xa0000 - 0x100 });
    expect(read(m, 0x9ff00, 0x100)).toEqual(bytes(0x100));
  });

  it('refuses an address that is not a physical address', () => {
    expectError(bytes(4), { address: -1 }, /load address -1 is not a physical address/);
    expectError(bytes(4), { address: 4096.5 }, /load address 4096.5 is not a physical address/);
    expectError(bytes(4), { address: 2 ** 52 }, /load address 4503599627370496 is not a physical address/);
  });

  it('refuses an empty image', () => {
    expectError(new Uint8Array(0), { address: MiB }, /the flat image is empty/);
  });

  it('refuses an image that is not wholly in RAM', () => {
    expectError(bytes(0x10), { address: 0xa0000 }, /the 16-byte image at 0xa0000-0xa0010 is not wholly in RAM \(RAM: 0x0-0xa0000, 0x100000-0x400000\)/);
    expectError(bytes(0x10), { address: 0xf0000 }, /not wholly in RAM/); // ROM
    expectError(bytes(0x100), { address: 0x9ff80 }, /not wholly in RAM/); // straddles the end of low RAM
    expectError(bytes(0x100), { address: 4 * MiB - 0x80 }, /not wholly in RAM/);
  });

  it('refuses an entry point outside the image', () => {
    expectError(bytes(0x100), { address: MiB, entry: MiB + 0x100 }, /entry point 0x100100 is outside the loaded image \(0x100000-0x100100\)/);
    expectError(bytes(0x100), { address: MiB, entry: MiB - 1 }, /entry point 0xfffff is outside/);
    expectError(bytes(0x100), { address: MiB, entry: Number.NaN }, /entry point NaN is outside/);
  });
});
