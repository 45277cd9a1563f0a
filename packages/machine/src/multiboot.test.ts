import { PhysicalMemory, RegionKind, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { ElfError, KernelImageError, loadMultiboot, MULTIBOOT_BOOTLOADER_MAGIC, MultibootError, type MultibootOptions } from './index.js';

const MiB = 0x10_0000;

/** A PC-like map: 640 KiB low RAM, a BIOS ROM at 0xF0000, RAM from 1 MiB to 4 MiB. */
function pcMemory(fill = 0xaa): PhysicalMemory {
  const memory = new PhysicalMemory({ ramSize: 4 * MiB });
  memory.mapRam(0, 0xa0000, 0, 'low');
  memory.mapRom(0xf0000, new Uint8Array(0x10000).fill(0xc3), 'bios');
  memory.mapRam(MiB, 3 * MiB, MiB, 'high');
  memory.fill(0 as Hpa, 0xa0000, fill);
  memory.fill(MiB as Hpa, 3 * MiB, fill);
  return memory;
}

/** Every mapped RAM byte, region after region (to compare before and after a load). */
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

interface AddressFields {
  header: number;
  load: number;
  loadEnd: number;
  bssEnd: number;
  entry: number;
}

/** A Multiboot header with `flags` (plus the address fields when given). */
function mbHeader(flags: number, fields?: AddressFields, checksumDelta = 0): Uint8Array {
  const bytes = new Uint8Array(fields ? 32 : 12);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 0x1badb002, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, (-(0x1badb002 + flags) + checksumDelta) >>> 0, true);
  if (fields) {
    v.setUint32(12, fields.header, true);
    v.setUint32(16, fields.load, true);
    v.setUint32(20, fields.loadEnd, true);
    v.setUint32(24, fields.bssEnd, true);
    v.setUint32(28, fields.entry, true);
  }
  return bytes;
}

interface Segment {
  paddr: number;
  vaddr?: number;
  data: Uint8Array;
  memsz?: number;
  type?: number;
}

interface ElfOptions {
  entry: number;
  segments: Segment[];
  header?: Uint8Array;
  cls?: number;
  data?: number;
  type?: number;
  machine?: number;
}

/** An ELF32 executable: header, program headers, the Multiboot header, then segment bytes. */
function elf(o: ElfOptions): Uint8Array {
  const header = o.header ?? mbHeader(0x3);
  const phoff = 52;
  const headerOffset = phoff + o.segments.length * 32;
  let offset = headerOffset + header.length;
  const dataOffsets = o.segments.map((s) => {
    const at = offset;
    offset += s.data.length;
    return at;
  });
  const image = new Uint8Array(offset);
  const v = new DataView(image.buffer);
  v.setUint32(0, 0x464c457f, true);
  image[4] = o.cls ?? 1;
  image[5] = o.data ?? 1;
  image[6] = 1;
  v.setUint16(16, o.type ?? 2, true);
  v.setUint16(18, o.machine ?? 3, true);
  v.setUint32(20, 1, true);
  v.setUint32(24, o.entry, true);
  v.setUint32(28, phoff, true);
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, o.segments.length, true);
  o.segments.forEach((s, i) => {
    const p = phoff + i * 32;
    v.setUint32(p, s.type ?? 1, true);
    v.setUint32(p + 4, dataOffsets[i]!, true);
    v.setUint32(p + 8, s.vaddr ?? s.paddr, true);
    v.setUint32(p + 12, s.paddr, true);
    v.setUint32(p + 16, s.data.length, true);
    v.setUint32(p + 20, s.memsz ?? s.data.length, true);
    image.set(s.data, dataOffsets[i]!);
  });
  image.set(header, headerOffset);
  return image;
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const read = (m: PhysicalMemory, addr: number, n: number) => {
  const out = new Uint8Array(n);
  m.read(addr as Hpa, out);
  return out;
};
const cstr = (m: PhysicalMemory, addr: number) => {
  let s = '';
  for (let a = addr; m.read8(a as Hpa) !== 0; a++) s += String.fromCharCode(m.read8(a as Hpa));
  return s;
};
const u32 = (m: PhysicalMemory, addr: number) => m.read32(addr as Hpa);

/** A simple kernel: 0x300 bytes of code and data at 1 MiB, 0x1000 bytes of BSS after them. */
const simpleKernel = () => elf({ entry: MiB + 0x10, segments: [{ paddr: MiB, data: bytes(0x300), memsz: 0x1300 }] });

/** The index of the first byte where `a` and `b` differ, or -1 (deep equality is slow on 4 MiB). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function expectError(fn: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MultibootError);
  expect((error as Error).name).toBe('MultibootError');
  expect((error as Error).message).toMatch(message);
}

describe('loadMultiboot: loading the kernel', () => {
  it('loads ELF PT_LOAD segments at p_paddr, zeroes the BSS, and touches nothing else', () => {
    const m = pcMemory();
    const boot = loadMultiboot(m, simpleKernel());
    expect(read(m, MiB, 0x300)).toEqual(bytes(0x300));
    expect(read(m, MiB + 0x300, 0x1000)).toEqual(new Uint8Array(0x1000));
    expect(m.read8((MiB + 0x1300) as Hpa)).toBe(0xaa);
    expect(m.read8((MiB - 1) as Hpa)).toBe(0xc3); // the BIOS ROM
    expect(m.read8(0 as Hpa)).toBe(0xaa); // page 0 (IVT, BDA) is left alone
    expect(boot.entry).toBe(MiB + 0x10);
    expect(boot.eax).toBe(0x2badb002);
    expect(boot.eax).toBe(MULTIBOOT_BOOTLOADER_MAGIC);
    expect(boot.kernel).toEqual([{ start: MiB, end: MiB + 0x1300 }]);
  });

  it('loads every PT_LOAD segment and skips other program headers', () => {
    const m = pcMemory();
    const image = elf({
      entry: MiB,
      segments: [
        { paddr: MiB, data: bytes(0x100, 3) },
        { paddr: 0x200000, data: bytes(0x40, 5), type: 4 }, // PT_NOTE: not loaded
        { paddr: MiB + 0x2000, data: bytes(0x80, 9), memsz: 0x100 },
      ],
    });
    const boot = loadMultiboot(m, image);
    expect(read(m, MiB, 0x100)).toEqual(bytes(0x100, 3));
    expect(read(m, MiB + 0x2000, 0x80)).toEqual(bytes(0x80, 9));
    expect(read(m, MiB + 0x2080, 0x80)).toEqual(new Uint8Array(0x80));
    expect(m.read8(0x200000 as Hpa)).toBe(0xaa);
    expect(boot.kernel).toEqual([
      { start: MiB, end: MiB + 0x100 },
      { start: MiB + 0x2000, end: MiB + 0x2100 },
    ]);
  });

  it('translates a virtual e_entry to its physical address through the segment holding it', () => {
    const m = pcMemory();
    const image = elf({ entry: 0xc010_0020, segments: [{ paddr: MiB, vaddr: 0xc010_0000, data: bytes(0x100) }] });
    expect(loadMultiboot(m, image).entry).toBe(MiB + 0x20);
    expect(read(m, MiB, 0x100)).toEqual(bytes(0x100));
  });

  it('finds a 32-bit-aligned header anywhere in the first 8192 bytes, and only there', () => {
    const withHeaderAt = (offset: number) => {
      const image = simpleKernel();
      const padded = new Uint8Array(Math.max(image.length, offset + 12));
      padded.set(image);
      // Destroy the builder's own header, then plant one at `offset`.
      const own = padded.findIndex((_, i) => i % 4 === 0 && new DataView(padded.buffer).getUint32(i, true) === 0x1badb002);
      padded.fill(0, own, own + 12);
      padded.set(mbHeader(0x3), offset);
      return padded;
    };
    expect(loadMultiboot(pcMemory(), withHeaderAt(8188)).header).toEqual({ offset: 8188, flags: 3 });
    expectError(() => loadMultiboot(pcMemory(), withHeaderAt(8192)), /no Multiboot header \(magic 0x1badb002\) in the first 8192 bytes/);
    expectError(() => loadMultiboot(pcMemory(), withHeaderAt(0x402)), /no Multiboot header/);
  });
});

describe('loadMultiboot: flags = 0 and 64-bit code in ELF32', () => {
  it('loads a kernel whose header has flags = 0 from its ELF program headers', () => {
    const m = pcMemory();
    const image = elf({ entry: MiB + 0x20, segments: [{ paddr: MiB, data: bytes(0x180, 6), memsz: 0x400 }], header: mbHeader(0) });
    const boot = loadMultiboot(m, image);
    expect(boot.header.flags).toBe(0);
    expect(boot.entry).toBe(MiB + 0x20);
    expect(boot.kernel).toEqual([{ start: MiB, end: MiB + 0x400 }]);
    expect(read(m, MiB, 0x180)).toEqual(bytes(0x180, 6));
    expect(read(m, MiB + 0x180, 0x280)).toEqual(new Uint8Array(0x280));
    expect(boot.eax).toBe(0x2badb002);
    expect(u32(m, boot.ebx)).toBe(0x24d); // the information structure is filled all the same
  });

  it('loads an ELF32 i386 file that carries 64-bit code (objcopy -O elf32-i386) byte for byte', () => {
    // mov rax, 0x1122334455667788; mov ecx, 0xC0000080; rdmsr; bts eax, 8; wrmsr; hlt
    const code = Uint8Array.from([0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xb9, 0x80, 0, 0, 0xc0, 0x0f, 0x32, 0x0f, 0xba, 0xe8, 0x08, 0x0f, 0x30, 0xf4]);
    const m = pcMemory();
    const image = elf({
      entry: 0x8010_0000,
      header: mbHeader(0),
      segments: [
        { paddr: MiB, vaddr: 0x8010_0000, data: code },
        { paddr: 0x20_0000, vaddr: 0x8020_0000, data: bytes(0x40), memsz: 0x1000 },
      ],
    });
    const boot = loadMultiboot(m, image);
    expect(boot.entry).toBe(MiB);
    expect(read(m, MiB, code.length)).toEqual(code);
    expect(read(m, 0x20_0040, 0xfc0)).toEqual(new Uint8Array(0xfc0));
  });
});

describe('loadMultiboot: the address fields (flags bit 16)', () => {
  /** A flat binary whose header, 0x40 bytes into the file, says it is linked at 1 MiB + 0x40. */
  function flat(fields: Partial<AddressFields>, fileSize = 0x400): Uint8Array {
    const image = bytes(fileSize, 11);
    const f = { header: MiB + 0x40, load: MiB, loadEnd: MiB + 0x200, bssEnd: MiB + 0x800, entry: MiB + 0x80, ...fields };
    image.set(mbHeader(0x10003, f), 0x40);
    return image;
  }

  it('loads load_end_addr - load_addr bytes from the file offset the header implies, zeroing up to bss_end_addr', () => {
    const m = pcMemory();
    const image = flat({});
    const boot = loadMultiboot(m, image);
    expect(read(m, MiB, 0x200)).toEqual(image.subarray(0, 0x200));
    expect(read(m, MiB + 0x200, 0x600)).toEqual(new Uint8Array(0x600));
    expect(m.read8((MiB + 0x800) as Hpa)).toBe(0xaa);
    expect(boot.entry).toBe(MiB + 0x80);
    expect(boot.kernel).toEqual([{ start: MiB, end: MiB + 0x800 }]);
  });

  it('starts at header offset - (header_addr - load_addr) in the file', () => {
    const m = pcMemory();
    // load_addr 0x20 below header_addr: the text starts 0x20 bytes into the file.
    const image = flat({ header: MiB + 0x20, load: MiB, loadEnd: MiB + 0x100, bssEnd: 0 });
    loadMultiboot(m, image);
    expect(read(m, MiB, 0x100)).toEqual(image.subarray(0x20, 0x120));
    expect(m.read8((MiB + 0x100) as Hpa)).toBe(0xaa); // bss_end_addr 0: no BSS
  });

  it('loads the rest of the file when load_end_addr is 0', () => {
    const m = pcMemory();
    const image = flat({ loadEnd: 0, bssEnd: 0 }, 0x380);
    const boot = loadMultiboot(m, image);
    expect(read(m, MiB, 0x380)).toEqual(image);
    expect(boot.kernel).toEqual([{ start: MiB, end: MiB + 0x380 }]);
  });

  it('takes precedence over the ELF program headers', () => {
    const m = pcMemory();
    const base = elf({ entry: MiB, segments: [{ paddr: MiB, data: bytes(0x100) }], header: new Uint8Array(32) });
    const headerOffset = 52 + 32;
    base.set(mbHeader(0x10000, { header: 0x200000 + headerOffset, load: 0x200000, loadEnd: 0x200000 + base.length, bssEnd: 0, entry: 0x200010 }), headerOffset);
    const boot = loadMultiboot(m, base);
    expect(boot.entry).toBe(0x200010);
    expect(read(m, 0x200000, base.length)).toEqual(base);
    expect(m.read8(MiB as Hpa)).toBe(0xaa);
  });

  it('rejects address fields that contradict each other or the file', () => {
    expectError(() => loadMultiboot(pcMemory(), flat({ load: MiB + 0x80 })), /header_addr 0x100040 is below load_addr 0x100080/);
    expectError(() => loadMultiboot(pcMemory(), flat({ header: MiB + 0x100 })), /header_addr - load_addr \(0x100\) is larger than the header's offset in the file \(0x40\)/);
    expectError(() => loadMultiboot(pcMemory(), flat({ loadEnd: MiB + 0x1000 })), /image is truncated: load_end_addr asks for 4096 bytes from file offset 0x0, the file has 1024/);
    expectError(() => loadMultiboot(pcMemory(), flat({ loadEnd: MiB - 0x10 })), /load_end_addr 0xffff0 is below load_addr 0x100000/);
    expectError(() => loadMultiboot(pcMemory(), flat({ bssEnd: MiB + 0x100 })), /bss_end_addr 0x100100 is below the end of the loaded image 0x100200/);
    const truncated = flat({}).subarray(0, 0x40 + 20);
    expectError(() => loadMultiboot(pcMemory(), truncated), /header at offset 0x40 is truncated: flags bit 16 needs its address fields/);
  });
});

describe('loadMultiboot: the information structure', () => {
  it('fills flags, mem_lower/mem_upper, cmdline, mods, mmap and boot_loader_name', () => {
    const m = pcMemory();
    const boot = loadMultiboot(m, simpleKernel(), { cmdline: 'console=ttyS0 quiet' });
    const mbi = boot.ebx;
    // Bits 0 (mem), 2 (cmdline), 3 (mods), 6 (mmap), 9 (boot_loader_name).
    expect(u32(m, mbi)).toBe(0x24d);
    expect(u32(m, mbi + 4)).toBe(640);
    expect(u32(m, mbi + 8)).toBe(3 * 1024);
    expect(cstr(m, u32(m, mbi + 16))).toBe('console=ttyS0 quiet');
    expect(u32(m, mbi + 20)).toBe(0);
    expect(u32(m, mbi + 44)).toBe(3 * 24);
    expect(cstr(m, u32(m, mbi + 64))).toBe('hvkit');
    // Unused fields are zero: boot_device, syms, drives, config_table, apm, vbe, framebuffer.
    expect(u32(m, mbi + 12)).toBe(0);
    for (let o = 28; o < 44; o += 4) expect(u32(m, mbi + o)).toBe(0);
    for (let o = 52; o < 64; o += 4) expect(u32(m, mbi + o)).toBe(0);
    for (let o = 68; o < 116; o += 4) expect(u32(m, mbi + o)).toBe(0);
  });

  it('reports RAM as type 1 and ROM as type 2 in the memory map, each entry with size 20', () => {
    const m = pcMemory();
    const mbi = loadMultiboot(m, simpleKernel()).ebx;
    const addr = u32(m, mbi + 48);
    const entries = [];
    for (let e = addr; e < addr + u32(m, mbi + 44); e += 4 + u32(m, e)) {
      entries.push([u32(m, e), u32(m, e + 4), u32(m, e + 8), u32(m, e + 12), u32(m, e + 16), u32(m, e + 20)]);
    }
    expect(entries).toEqual([
      [20, 0, 0, 0xa0000, 0, 1],
      [20, 0xf0000, 0, 0x10000, 0, 2],
      [20, MiB, 0, 3 * MiB, 0, 1],
    ]);
  });

  it('reports a given memory map as is, 64-bit values included, and derives mem_lower/mem_upper from it', () => {
    const m = pcMemory();
    const memoryMap = [
      { base: 0, length: 0x9fc00, type: 1 },
      { base: 0x9fc00, length: 0x400, type: 2 },
      { base: MiB, length: 0x100000, type: 1 },
      { base: 2 * MiB, length: 0x1000, type: 3 },
      { base: 0x1_0000_0000, length: 0x2_4000_0000, type: 1 },
    ];
    const mbi = loadMultiboot(m, simpleKernel(), { memoryMap }).ebx;
    expect(u32(m, mbi + 4)).toBe(0x9fc00 / 1024); // 639
    expect(u32(m, mbi + 8)).toBe(1024); // up to the first hole at 2 MiB
    const e = u32(m, mbi + 48) + 4 * 24;
    expect([u32(m, e + 4), u32(m, e + 8), u32(m, e + 12), u32(m, e + 16), u32(m, e + 20)]).toEqual([0, 1, 0x4000_0000, 2, 1]);
    expect(u32(m, mbi + 44)).toBe(5 * 24);
  });

  it('caps mem_lower at 640 KiB even when RAM continues past it', () => {
    const m = pcMemory();
    const mbi = loadMultiboot(m, simpleKernel(), { memoryMap: [{ base: 0, length: 4 * MiB, type: 1 }] }).ebx;
    expect(u32(m, mbi + 4)).toBe(640);
    expect(u32(m, mbi + 8)).toBe(3 * 1024);
  });

  it('puts the structure in low memory from 4 KiB, clear of the kernel', () => {
    const m = pcMemory();
    const boot = loadMultiboot(m, simpleKernel());
    expect(boot.ebx).toBe(0x1000);
    expect(boot.info.start).toBe(0x1000);
    // A kernel that occupies 0x1000-0x9000 pushes it past its end.
    const low = elf({ entry: 0x1000, segments: [{ paddr: 0x1000, data: bytes(0x800), memsz: 0x8000 }] });
    const b2 = loadMultiboot(pcMemory(), low);
    expect(b2.ebx).toBe(0x9000);
    expect(b2.info.end).toBeLessThanOrEqual(0xa0000);
  });

  it('goes above the kernel when low memory is full, and only into RAM the map calls available', () => {
    const lowFull = elf({ entry: 0x1000, segments: [{ paddr: 0x1000, data: bytes(0x10), memsz: 0x9f000 }] });
    const boot = loadMultiboot(pcMemory(), lowFull);
    expect(boot.ebx).toBe(MiB);
    const reserved = loadMultiboot(pcMemory(), simpleKernel(), {
      memoryMap: [
        { base: 0, length: 0xa0000, type: 2 },
        { base: MiB, length: 3 * MiB, type: 1 },
      ],
    });
    expect(reserved.ebx).toBe(MiB + 0x1300);
  });

  it('never lets the structure, the kernel and the modules overlap', () => {
    const m = pcMemory();
    const boot = loadMultiboot(m, simpleKernel(), { modules: [{ data: bytes(0x2345), cmdline: 'initrd' }, { data: bytes(0x10) }] });
    const ranges = [...boot.kernel, ...boot.modules, boot.info].sort((a, b) => a.start - b.start);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBeGreaterThanOrEqual(ranges[i - 1]!.end);
  });

  it('rejects a string with an embedded NUL', () => {
    expectError(() => loadMultiboot(pcMemory(), simpleKernel(), { cmdline: 'a\0b' }), /command line contains a NUL/);
  });

  it('writes the command line as UTF-8 and honours bootLoaderName', () => {
    const m = pcMemory();
    const mbi = loadMultiboot(m, simpleKernel(), { cmdline: 'x\u00e9', bootLoaderName: 'other' }).ebx;
    expect(read(m, u32(m, mbi + 16), 4)).toEqual(Uint8Array.from([0x78, 0xc3, 0xa9, 0]));
    expect(cstr(m, u32(m, mbi + 64))).toBe('other');
  });
});

describe('loadMultiboot: modules', () => {
  it('loads modules page-aligned after the kernel (BSS included) and lists them with their strings', () => {
    const m = pcMemory();
    const options: MultibootOptions = { modules: [{ data: bytes(0x1234, 2), cmdline: 'initrd.img rw' }, { data: bytes(0x20, 4) }] };
    const boot = loadMultiboot(m, simpleKernel(), options);
    expect(boot.modules).toEqual([
      { start: MiB + 0x2000, end: MiB + 0x3234 },
      { start: MiB + 0x4000, end: MiB + 0x4020 },
    ]);
    expect(read(m, MiB + 0x2000, 0x1234)).toEqual(bytes(0x1234, 2));
    expect(read(m, MiB + 0x4000, 0x20)).toEqual(bytes(0x20, 4));
    const mbi = boot.ebx;
    expect(u32(m, mbi) & 0x8).toBe(0x8);
    expect(u32(m, mbi + 20)).toBe(2);
    const mods = u32(m, mbi + 24);
    expect([u32(m, mods), u32(m, mods + 4), u32(m, mods + 12)]).toEqual([MiB + 0x2000, MiB + 0x3234, 0]);
    expect(cstr(m, u32(m, mods + 8))).toBe('initrd.img rw');
    expect([u32(m, mods + 16), u32(m, mods + 20)]).toEqual([MiB + 0x4000, MiB + 0x4020]);
    expect(cstr(m, u32(m, mods + 24))).toBe('');
  });

  it('rejects modules that do not fit in RAM, before writing anything', () => {
    const m = pcMemory();
    const before = ramContents(m);
    expectError(() => loadMultiboot(m, simpleKernel(), { modules: [{ data: new Uint8Array(3 * MiB) }] }), /module 0 \(3145728 bytes at 0x102000\) is not wholly in RAM/);
    expect(firstDifference(ramContents(m), before)).toBe(-1);
  });
});

describe('loadMultiboot: malformed images', () => {
  const kernel = (o: Partial<ElfOptions> = {}) => elf({ entry: MiB, segments: [{ paddr: MiB, data: bytes(0x100) }], ...o });

  it('rejects an image without a header', () => {
    expectError(() => loadMultiboot(pcMemory(), bytes(0x3000)), /no Multiboot header/);
    expectError(() => loadMultiboot(pcMemory(), new Uint8Array(0)), /no Multiboot header/);
  });

  it('rejects a bad checksum, naming where the header is', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ header: mbHeader(0x3, undefined, 1) })), /header at offset 0x54 has a bad checksum/);
  });

  it('rejects a header cut short by the end of the file', () => {
    const image = kernel();
    expectError(() => loadMultiboot(pcMemory(), image.subarray(0, 52 + 32 + 8)), /header at offset 0x54 is truncated/);
  });

  it('rejects requirement bits it does not support', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ header: mbHeader(0x4) })), /requires a video mode \(flags bit 2\)/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ header: mbHeader(0x8) })), /requires features this loader does not know \(flags 0x8\)/);
    // Optional bits 17-31 are not requirements.
    expect(loadMultiboot(pcMemory(), kernel({ header: mbHeader(0x8000_0003) })).entry).toBe(MiB);
  });

  it('rejects an image that is neither ELF nor described by address fields', () => {
    const image = bytes(0x200);
    image.set(mbHeader(0x3), 0x10);
    expectError(() => loadMultiboot(pcMemory(), image), /not ELF and its Multiboot header has no address fields/);
  });

  it('rejects 64-bit ELF files', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ cls: 2 })), /64-bit ELF file/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ machine: 62 })), /x86-64 \(EM_X86_64\)/);
  });

  it('rejects other ELF files it cannot run', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ cls: 3 })), /unknown class 3/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ data: 2 })), /not little-endian/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ machine: 40 })), /machine 40, not i386/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ type: 3 })), /not an executable \(e_type 3\)/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ segments: [{ paddr: MiB, data: bytes(4), type: 4 }] })), /no loadable \(PT_LOAD\) segments/);
    expectError(() => loadMultiboot(pcMemory(), kernel({ segments: [] })), /no program headers/);
  });

  it('rejects program headers or a segment cut off by the end of the file', () => {
    const badPhoff = kernel();
    new DataView(badPhoff.buffer).setUint32(28, 0x1000, true); // e_phoff past the end of the file
    expectError(() => loadMultiboot(pcMemory(), badPhoff), /program headers \(1 at offset 0x1000\) extend past the end of the 352-byte file/);
    const image = kernel();
    expectError(() => loadMultiboot(pcMemory(), image.slice(0, image.length - 1)), /ELF segment 0 is truncated: 256 bytes at file offset 0x60, the file has 351/);
  });

  it('rejects an ELF header shorter than 52 bytes', () => {
    // A Multiboot header can start at offset 12 of a 40-byte ELF-looking file.
    const image = new Uint8Array(40);
    new DataView(image.buffer).setUint32(0, 0x464c457f, true);
    image[4] = 1;
    image[5] = 1;
    image.set(mbHeader(0x3), 16);
    expectError(() => loadMultiboot(pcMemory(), image), /ELF header is truncated \(40 of 52 bytes\)/);
  });

  it('rejects p_filesz larger than p_memsz', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ segments: [{ paddr: MiB, data: bytes(0x100), memsz: 0x80 }] })), /p_filesz 0x100 is larger than p_memsz 0x80/);
  });

  it('rejects segments outside RAM: in the hole, over ROM, past the end, past 4 GiB', () => {
    const at = (paddr: number, memsz = 0x100) => kernel({ entry: MiB, segments: [{ paddr: MiB, data: bytes(0x10) }, { paddr, data: bytes(0x10), memsz }] });
    expectError(() => loadMultiboot(pcMemory(), at(0xa0000)), /kernel segment at 0xa0000-0xa0100 is not wholly in RAM/);
    expectError(() => loadMultiboot(pcMemory(), at(0xf8000)), /kernel segment at 0xf8000-0xf8100 is not wholly in RAM/);
    expectError(() => loadMultiboot(pcMemory(), at(0x9ff80)), /not wholly in RAM/); // straddles the end of low RAM
    expectError(() => loadMultiboot(pcMemory(), at(4 * MiB - 0x80)), /not wholly in RAM \(RAM: 0x0-0xa0000, 0x100000-0x400000\)/);
    expectError(() => loadMultiboot(pcMemory(), at(0xffff_ff00, 0x200)), /ELF segment 1 at 0xffffff00 extends past 4 GiB/);
  });

  it('rejects overlapping segments', () => {
    const image = kernel({ segments: [{ paddr: MiB, data: bytes(0x100) }, { paddr: MiB + 0x80, data: bytes(0x10) }] });
    expectError(() => loadMultiboot(pcMemory(), image), /ELF segments 0 \(0x100000-0x100100\) and 1 \(0x100080-0x100090\) overlap/);
  });

  it('rejects malformed ELF header fields, naming them', () => {
    const identVersion = kernel();
    identVersion[6] = 0;
    expectError(() => loadMultiboot(pcMemory(), identVersion), /EI_VERSION 0, not 1 \(EV_CURRENT\)/);
    const version = kernel();
    new DataView(version.buffer).setUint32(20, 7, true);
    expectError(() => loadMultiboot(pcMemory(), version), /e_version 7, not 1/);
    const phentsize = kernel();
    new DataView(phentsize.buffer).setUint16(42, 16, true);
    expectError(() => loadMultiboot(pcMemory(), phentsize), /e_phentsize 16 is smaller than 32/);
  });

  it('reports ELF problems as MultibootErrors (KernelImageErrors) with the ELF error as cause', () => {
    let error: unknown;
    try {
      loadMultiboot(pcMemory(), kernel({ data: 2 }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MultibootError);
    expect(error).toBeInstanceOf(KernelImageError);
    expect((error as Error).cause).toBeInstanceOf(ElfError);
  });

  it('rejects an entry point outside RAM', () => {
    expectError(() => loadMultiboot(pcMemory(), kernel({ entry: 0xf0000 })), /entry point 0xf0000 is not in RAM/);
  });

  it('leaves memory untouched when it rejects an image', () => {
    const m = pcMemory();
    const before = ramContents(m);
    const image = kernel({ segments: [{ paddr: MiB, data: bytes(0x100) }, { paddr: 0xa0000, data: bytes(0x10) }] });
    expect(() => loadMultiboot(m, image)).toThrow(MultibootError);
    expect(firstDifference(ramContents(m), before)).toBe(-1);
  });
});
