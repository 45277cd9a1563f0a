import { PhysicalMemory, RegionKind, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { ElfError, ElfMachine, ElfSegmentFlag, ElfType, KernelImageError, loadElf, parseElf, type ElfLoadOptions } from './index.js';

const MiB = 0x10_0000;
const FILL = 0xaa;
const RX = ElfSegmentFlag.R | ElfSegmentFlag.X;
const RW = ElfSegmentFlag.R | ElfSegmentFlag.W;

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

interface Segment {
  paddr: number | bigint;
  vaddr?: number | bigint;
  data: Uint8Array;
  memsz?: number | bigint;
  type?: number;
  flags?: number;
  /** Overrides p_offset. */
  offset?: number | bigint;
}

interface ElfOptions {
  bits?: 32 | 64;
  entry: number | bigint;
  segments: Segment[];
  cls?: number;
  data?: number;
  identVersion?: number;
  version?: number;
  type?: number;
  machine?: number;
  ehsize?: number;
  phentsize?: number;
  phoff?: number | bigint;
  phnum?: number;
}

/** An ELF executable: the header, the program headers right after it, then the segments' bytes. */
function elf(o: ElfOptions): Uint8Array {
  const is64 = (o.bits ?? 32) === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = o.phentsize ?? (is64 ? 56 : 32);
  const phoff = ehsize;
  let offset = phoff + o.segments.length * phentsize;
  const dataOffsets = o.segments.map((s) => {
    const at = offset;
    offset += s.data.length;
    return at;
  });
  const image = new Uint8Array(offset);
  const v = new DataView(image.buffer);
  v.setUint32(0, 0x464c457f, true);
  image[4] = o.cls ?? (is64 ? 2 : 1);
  image[5] = o.data ?? 1;
  image[6] = o.identVersion ?? 1;
  v.setUint16(16, o.type ?? ElfType.EXEC, true);
  v.setUint16(18, o.machine ?? (is64 ? ElfMachine.X86_64 : ElfMachine.I386), true);
  v.setUint32(20, o.version ?? 1, true);
  if (is64) {
    v.setBigUint64(24, BigInt(o.entry), true);
    v.setBigUint64(32, BigInt(o.phoff ?? phoff), true);
    v.setUint16(52, o.ehsize ?? ehsize, true);
    v.setUint16(54, phentsize, true);
    v.setUint16(56, o.phnum ?? o.segments.length, true);
  } else {
    v.setUint32(24, Number(o.entry), true);
    v.setUint32(28, Number(o.phoff ?? phoff), true);
    v.setUint16(40, o.ehsize ?? ehsize, true);
    v.setUint16(42, phentsize, true);
    v.setUint16(44, o.phnum ?? o.segments.length, true);
  }
  o.segments.forEach((s, i) => {
    const p = phoff + i * phentsize;
    const fileOffset = BigInt(s.offset ?? dataOffsets[i]!);
    const vaddr = BigInt(s.vaddr ?? s.paddr);
    const memsz = BigInt(s.memsz ?? s.data.length);
    v.setUint32(p, s.type ?? 1, true);
    if (is64) {
      v.setUint32(p + 4, s.flags ?? RX, true);
      v.setBigUint64(p + 8, fileOffset, true);
      v.setBigUint64(p + 16, vaddr, true);
      v.setBigUint64(p + 24, BigInt(s.paddr), true);
      v.setBigUint64(p + 32, BigInt(s.data.length), true);
      v.setBigUint64(p + 40, memsz, true);
      v.setBigUint64(p + 48, 0x1000n, true);
    } else {
      v.setUint32(p + 4, Number(fileOffset), true);
      v.setUint32(p + 8, Number(vaddr), true);
      v.setUint32(p + 12, Number(s.paddr), true);
      v.setUint32(p + 16, s.data.length, true);
      v.setUint32(p + 20, Number(memsz), true);
      v.setUint32(p + 24, s.flags ?? RX, true);
      v.setUint32(p + 28, 0x1000, true);
    }
    image.set(s.data, dataOffsets[i]!);
  });
  return image;
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws an ElfError matching `message` from both parseElf-then-loadElf paths, and leaves RAM alone. */
function expectError(image: Uint8Array, message: RegExp, options: ElfLoadOptions = {}): void {
  const m = pcMemory();
  const before = ramContents(m);
  let error: unknown;
  try {
    loadElf(m, image, options);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ElfError);
  expect(error).toBeInstanceOf(KernelImageError);
  expect((error as Error).name).toBe('ElfError');
  expect((error as Error).message).toMatch(message);
  expect(sameBytes(ramContents(m), before)).toBe(true);
}

describe('parseElf', () => {
  it('reads an ELF32 file: class, machine, type, entry and the PT_LOAD segments', () => {
    const image = elf({
      entry: MiB + 4,
      segments: [
        { paddr: MiB, data: bytes(0x40), memsz: 0x100 },
        { paddr: 0x200000, data: bytes(8), type: 4 }, // PT_NOTE
        { paddr: 0x300000, data: new Uint8Array(0), memsz: 0 }, // empty PT_LOAD: skipped
        { paddr: MiB + 0x1000, vaddr: 0xc010_1000, data: bytes(0x10), flags: RW },
      ],
    });
    const e = parseElf(image);
    expect(e).toMatchObject({ bits: 32, machine: 3, type: 2, entry: BigInt(MiB + 4), programHeaders: 4 });
    expect(e.segments.map((s) => ({ index: s.index, flags: s.flags, paddr: s.paddr, vaddr: s.vaddr, filesz: s.filesz, memsz: s.memsz }))).toEqual([
      { index: 0, flags: RX, paddr: BigInt(MiB), vaddr: BigInt(MiB), filesz: 0x40, memsz: 0x100 },
      { index: 3, flags: RW, paddr: BigInt(MiB + 0x1000), vaddr: 0xc010_1000n, filesz: 0x10, memsz: 0x10 },
    ]);
    expect(e.segments[0]!.data).toEqual(bytes(0x40));
    expect(e.segments[0]!.offset).toBe(52 + 4 * 32);
  });

  it('reads an ELF64 file with 64-bit addresses exactly', () => {
    const image = elf({ bits: 64, entry: 0xffff_ffff_8100_0123n, segments: [{ paddr: 0x100_0000, vaddr: 0xffff_ffff_8100_0000n, data: bytes(0x200) }] });
    const e = parseElf(image);
    expect(e).toMatchObject({ bits: 64, machine: 62, entry: 0xffff_ffff_8100_0123n });
    expect(e.segments[0]!.vaddr).toBe(0xffff_ffff_8100_0000n);
    expect(e.segments[0]!.paddr).toBe(0x100_0000n);
  });

  it('accepts both x86 machines in both classes by default, as QEMU does, and restricts them on request', () => {
    const seg = [{ paddr: MiB, data: bytes(4) }];
    expect(parseElf(elf({ entry: MiB, segments: seg, machine: ElfMachine.X86_64 })).machine).toBe(62); // elf32-x86-64 (x32)
    expect(parseElf(elf({ bits: 64, entry: MiB, segments: seg, machine: ElfMachine.I386 })).machine).toBe(3);
    expect(() => parseElf(elf({ entry: MiB, segments: seg, machine: ElfMachine.X86_64 }), { machines: [ElfMachine.I386] })).toThrow(
      /the ELF file is for x86-64 \(EM_X86_64\), not i386 \(EM_386\) \(e_machine\)/,
    );
  });

  it('follows e_phentsize when it is larger than the structure', () => {
    const e = parseElf(elf({ entry: MiB, segments: [{ paddr: MiB, data: bytes(4) }, { paddr: MiB + 0x100, data: bytes(4) }], phentsize: 40 }));
    expect(e.segments.map((s) => s.paddr)).toEqual([BigInt(MiB), BigInt(MiB + 0x100)]);
  });
});

describe('loadElf', () => {
  it('loads ELF32 PT_LOAD segments at p_paddr, zeroes p_memsz past p_filesz, and touches nothing else', () => {
    const m = pcMemory();
    const image = elf({ entry: MiB + 0x10, segments: [{ paddr: MiB, data: bytes(0x300), memsz: 0x1300 }, { paddr: 0x8000, data: bytes(0x20, 3), flags: RW }] });
    const boot = loadElf(m, image);
    expect(read(m, MiB, 0x300)).toEqual(bytes(0x300));
    expect(read(m, MiB + 0x300, 0x1000)).toEqual(new Uint8Array(0x1000));
    expect(m.read8((MiB + 0x1300) as Hpa)).toBe(FILL);
    expect(m.read8((MiB - 1) as Hpa)).toBe(0xc3);
    expect(read(m, 0x8000, 0x20)).toEqual(bytes(0x20, 3));
    expect(m.read8(0x8020 as Hpa)).toBe(FILL);
    expect(boot.entry).toBe(MiB + 0x10);
    expect(boot.segments).toEqual([
      { start: MiB, end: MiB + 0x1300 },
      { start: 0x8000, end: 0x8020 },
    ]);
  });

  it('loads an ELF64 higher-half kernel at p_paddr and translates e_entry through p_vaddr', () => {
    const m = pcMemory();
    const image = elf({
      bits: 64,
      entry: 0xffff_ffff_8020_0040n,
      segments: [
        { paddr: 0x20_0000, vaddr: 0xffff_ffff_8020_0000n, data: bytes(0x100, 2) },
        { paddr: 0x20_1000, vaddr: 0xffff_ffff_8020_1000n, data: bytes(0x10, 4), memsz: 0x800, flags: RW },
      ],
    });
    const boot = loadElf(m, image);
    expect(boot.entry).toBe(0x20_0040);
    expect(read(m, 0x20_0000, 0x100)).toEqual(bytes(0x100, 2));
    expect(read(m, 0x20_1010, 0x7f0)).toEqual(new Uint8Array(0x7f0));
  });

  it('takes e_entry as physical when it lies in a segment\'s p_paddr range (vmlinux)', () => {
    const image = elf({ bits: 64, entry: 0x20_0000, segments: [{ paddr: 0x20_0000, vaddr: 0xffff_ffff_8120_0000n, data: bytes(0x100) }] });
    expect(loadElf(pcMemory(), image).entry).toBe(0x20_0000);
  });

  it('loads at p_vaddr with useVirtual', () => {
    const m = pcMemory();
    const image = elf({ entry: 0x30_0010, segments: [{ paddr: 0x7000_0000, vaddr: 0x30_0000, data: bytes(0x40) }] });
    expect(() => loadElf(pcMemory(), image)).toThrow(/not wholly in RAM/);
    const boot = loadElf(m, image, { useVirtual: true });
    expect(boot.entry).toBe(0x30_0010);
    expect(read(m, 0x30_0000, 0x40)).toEqual(bytes(0x40));
  });

  it('loads ET_DYN at its link address, unless asked for ET_EXEC only', () => {
    const image = elf({ entry: MiB, type: ElfType.DYN, segments: [{ paddr: MiB, data: bytes(0x10) }] });
    const m = pcMemory();
    expect(loadElf(m, image).entry).toBe(MiB);
    expect(read(m, MiB, 0x10)).toEqual(bytes(0x10));
    expectError(image, /not an executable \(e_type 3\): this loader takes ET_EXEC/, { types: [ElfType.EXEC] });
  });

  it('loads a segment with p_filesz 0 (pure BSS) whatever its p_offset', () => {
    const m = pcMemory();
    const image = elf({ entry: MiB, segments: [{ paddr: MiB, data: bytes(0x10) }, { paddr: 0x20_0000, data: new Uint8Array(0), memsz: 0x100, offset: 0xffff_fff0, flags: RW }] });
    loadElf(m, image);
    expect(read(m, 0x20_0000, 0x100)).toEqual(new Uint8Array(0x100));
  });
});

describe('loadElf: refused files', () => {
  const ok = (o: Partial<ElfOptions> = {}) => elf({ entry: MiB, segments: [{ paddr: MiB, data: bytes(0x100) }], ...o });
  const ok64 = (o: Partial<ElfOptions> = {}) => elf({ bits: 64, entry: MiB, segments: [{ paddr: MiB, data: bytes(0x100) }], ...o });

  it('refuses files that are not ELF or have a bad identification', () => {
    expectError(bytes(0x100), /not an ELF file \(no \\x7fELF magic at offset 0\)/);
    expectError(new Uint8Array(0), /not an ELF file/);
    expectError(ok().subarray(0, 10), /ELF identification is truncated \(10 of 16 bytes\)/);
    expectError(ok({ cls: 3 }), /unknown class 3 \(EI_CLASS/);
    expectError(ok({ data: 2 }), /not little-endian \(EI_DATA 2/);
    expectError(ok({ identVersion: 0 }), /EI_VERSION 0, not 1 \(EV_CURRENT\)/);
  });

  it('refuses a truncated or inconsistent header', () => {
    expectError(ok64().subarray(0, 60), /ELF header is truncated \(60 of 64 bytes\)/);
    expectError(ok({ version: 2 }), /e_version 2, not 1/);
    expectError(ok({ machine: 40 }), /the ELF file is for machine 40, not i386 \(EM_386\) or x86-64 \(EM_X86_64\) \(e_machine\)/);
    expectError(ok({ type: 1 }), /not an executable \(e_type 1\): this loader takes ET_EXEC or ET_DYN/);
    expectError(ok({ ehsize: 40 }), /e_ehsize 40 is smaller than 52/);
    expectError(ok64({ ehsize: 52 }), /e_ehsize 52 is smaller than 64/);
  });

  it('refuses missing or out-of-file program headers', () => {
    expectError(ok({ segments: [] }), /no program headers \(e_phnum 0\)/);
    expectError(ok({ phnum: 0xffff }), /extended program header numbering \(e_phnum 0xffff, PN_XNUM\)/);
    expectError(ok({ phentsize: 28 }), /e_phentsize 28 is smaller than 32/);
    expectError(ok64({ phentsize: 32 }), /e_phentsize 32 is smaller than 56/);
    expectError(ok({ phoff: 0x1000 }), /program headers \(1 at offset 0x1000\) extend past the end of the 340-byte file \(e_phoff, e_phnum, e_phentsize\)/);
    expectError(ok64({ phoff: 0x8000_0000_0000_0000n }), /program headers \(1 at offset 0x8000000000000000\) extend past the end/);
    expectError(ok({ phnum: 10 }), /program headers \(10 at offset 0x34\) extend past the end of the 340-byte file/);
  });

  it('refuses bad segments', () => {
    expectError(ok({ segments: [{ paddr: MiB, data: bytes(0x100), memsz: 0x80 }] }), /ELF segment 0: p_filesz 0x100 is larger than p_memsz 0x80/);
    const image = ok();
    expectError(image.subarray(0, image.length - 1), /ELF segment 0 is truncated: 256 bytes at file offset 0x54, the file has 339 \(p_offset \+ p_filesz\)/);
    expectError(ok64({ segments: [{ paddr: MiB, data: bytes(0x10), offset: 0xffff_ffff_ffff_fff8n }] }), /ELF segment 0 is truncated: 16 bytes at file offset 0xfffffffffffffff8/);
    expectError(ok({ segments: [{ paddr: 0xffff_ff00, data: bytes(0x10), memsz: 0x200 }] }), /ELF segment 0 at 0xffffff00 extends past 4 GiB \(p_paddr \+ p_memsz wraps/);
    expectError(ok({ segments: [{ paddr: MiB, vaddr: 0xffff_ff00, data: bytes(0x10), memsz: 0x200 }] }), /ELF segment 0 at virtual 0xffffff00 extends past 4 GiB/);
    expectError(ok64({ segments: [{ paddr: 0xffff_ffff_ffff_f000n, data: bytes(0x10), memsz: 0x2000 }] }), /ELF segment 0 at 0xfffffffffffff000 wraps past the end of the 64-bit address space/);
    expectError(ok64({ segments: [{ paddr: MiB, vaddr: 0xffff_ffff_ffff_f000n, data: bytes(0x10), memsz: 0x2000 }] }), /at virtual 0xfffffffffffff000 wraps past the end/);
    expectError(ok64({ segments: [{ paddr: 0, data: bytes(0x10), memsz: 2n ** 52n }] }), /p_memsz 0x10000000000000 is larger than the 52-bit physical address space/);
    expectError(ok({ segments: [{ paddr: MiB, data: bytes(4), type: 4 }] }), /no loadable \(PT_LOAD\) segments/);
  });

  it('refuses overlapping segments', () => {
    const image = ok({ segments: [{ paddr: MiB, data: bytes(0x10), memsz: 0x1000 }, { paddr: MiB + 0x800, data: bytes(0x10), flags: RW }] });
    expectError(image, /ELF segments 0 \(0x100000-0x101000\) and 1 \(0x100800-0x100810\) overlap \(p_paddr \+ p_memsz\)/);
    // The same file loads at p_vaddr when the virtual ranges are apart.
    const apart = ok({ segments: [{ paddr: MiB, vaddr: 0x10_0000, data: bytes(0x10), memsz: 0x1000 }, { paddr: MiB + 0x800, vaddr: 0x20_0000, data: bytes(0x10) }] });
    expectError(apart, /overlap \(p_paddr/);
    expect(loadElf(pcMemory(), apart, { useVirtual: true }).segments).toEqual([
      { start: 0x10_0000, end: 0x10_1000 },
      { start: 0x20_0000, end: 0x20_0010 },
    ]);
  });

  it('refuses segments outside RAM: in the hole, over ROM, straddling, past the end, past 2^52', () => {
    const at = (paddr: number | bigint, memsz = 0x100) => ok64({ segments: [{ paddr: MiB, data: bytes(0x10) }, { paddr, data: bytes(0x10), memsz, flags: RW }] });
    expectError(at(0xa0000), /ELF segment 1 at 0xa0000-0xa0100 is not wholly in RAM \(RAM: 0x0-0xa0000, 0x100000-0x400000\)/);
    expectError(at(0xf8000), /ELF segment 1 at 0xf8000-0xf8100 is not wholly in RAM/);
    expectError(at(0x9ff80), /not wholly in RAM/);
    expectError(at(4 * MiB - 0x80), /not wholly in RAM/);
    expectError(at(0x1_0000_0000), /ELF segment 1 at 0x100000000-0x100000100 is not wholly in RAM/);
    expectError(at(2n ** 52n - 0x80n), /ELF segment 1 at 0xfffffffffff80 \(p_paddr\) extends past 0x10000000000000/);
  });

  it('refuses an entry point outside every segment, or in one that is not executable', () => {
    expectError(ok({ entry: MiB + 0x100 }), /entry point e_entry 0x100100 is not inside any loaded \(PT_LOAD\) segment/);
    expectError(ok({ segments: [{ paddr: MiB, data: bytes(0x100), flags: RW }] }), /entry point e_entry 0x100000 is in ELF segment 0, which is not executable \(p_flags lacks PF_X\)/);
  });
});
