import { PhysicalMemory, type Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import {
  E820Type,
  KernelImageError,
  LINUX_BOOT_LAYOUT,
  LinuxBootError,
  loadLinux,
  parseLinuxHeader,
  type E820Entry,
  type LinuxOptions,
  type LoaderMemory,
} from './index.js';

const MiB = 0x10_0000;
const FILL = 0xaa;

/** A PC-like map: 640 KiB of low RAM, a BIOS ROM at 0xF0000, RAM from 1 MiB to `mib` MiB. */
function pcMemory(mib = 32): PhysicalMemory {
  const memory = new PhysicalMemory({ ramSize: mib * MiB });
  memory.mapRam(0, 0xa0000, 0, 'low');
  memory.mapRom(0xf0000, new Uint8Array(0x10000).fill(0xc3), 'bios');
  memory.mapRam(MiB, (mib - 1) * MiB, MiB, 'high');
  memory.fill(0 as Hpa, 0xa0000, FILL);
  memory.fill(MiB as Hpa, (mib - 1) * MiB, FILL);
  return memory;
}

/** The e820 map a PC BIOS would report for {@link pcMemory}. */
function pcE820(mib = 32): E820Entry[] {
  return [
    { addr: 0, size: 0x9fc00, type: E820Type.RAM },
    { addr: 0x9fc00, size: 0x400, type: E820Type.RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820Type.RESERVED },
    { addr: MiB, size: (mib - 1) * MiB, type: E820Type.RAM },
  ];
}

interface BzOptions {
  version?: number;
  setupSects?: number;
  loadflags?: number;
  xloadflags?: number;
  relocatable?: boolean;
  kernelAlignment?: number;
  minAlignment?: number;
  prefAddress?: number;
  initSize?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  code32Start?: number;
  syssize?: number;
  payload?: Uint8Array;
  /** The byte at 0x201: the setup header ends at 0x202 + this. */
  jump?: number;
  bootFlag?: number;
  magic?: number;
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

/**
 * A synthetic bzImage: a boot sector and setup sectors filled with 0xCC (so that anything
 * copied past the setup header shows), the setup header at 0x1F1 with the given fields, then
 * the protected-mode payload.
 */
function bzImage(o: BzOptions = {}): Uint8Array {
  const sects = o.setupSects ?? 4;
  const payload = o.payload ?? bytes(0x3000, 5);
  const setupBytes = ((sects || 4) + 1) * 512;
  const image = new Uint8Array(setupBytes + payload.length).fill(0xcc);
  const v = new DataView(image.buffer);
  image[0x1ef] = 0xff; // the image's own byte before the header (boot_params.sentinel)
  image[0x1f1] = sects;
  v.setUint16(0x1f2, 1, true); // root_flags
  v.setUint32(0x1f4, o.syssize ?? Math.floor(payload.length / 16), true);
  v.setUint16(0x1f8, 0, true);
  v.setUint16(0x1fa, 0xffff, true); // vid_mode "normal"
  v.setUint16(0x1fc, 0, true);
  v.setUint16(0x1fe, o.bootFlag ?? 0xaa55, true);
  image[0x200] = 0xeb;
  image[0x201] = o.jump ?? 0x6a; // header through kernel_info_offset, ends at 0x26C
  v.setUint32(0x202, o.magic ?? 0x53726448, true);
  v.setUint16(0x206, o.version ?? 0x020f, true);
  v.setUint32(0x208, 0, true);
  v.setUint16(0x20c, 0x1000, true);
  v.setUint16(0x20e, 0x3c0, true); // kernel_version
  image[0x210] = 0;
  image[0x211] = o.loadflags ?? 0x01;
  v.setUint16(0x212, 0x8000, true);
  v.setUint32(0x214, o.code32Start ?? MiB, true);
  v.setUint32(0x218, 0, true);
  v.setUint32(0x21c, 0, true);
  v.setUint32(0x220, 0, true);
  v.setUint16(0x224, 0, true);
  image[0x226] = 0;
  image[0x227] = 0;
  v.setUint32(0x228, 0, true);
  v.setUint32(0x22c, o.initrdAddrMax ?? 0x7fff_ffff, true);
  v.setUint32(0x230, o.kernelAlignment ?? 0x20_0000, true);
  image[0x234] = (o.relocatable ?? true) ? 1 : 0;
  image[0x235] = o.minAlignment ?? 21;
  v.setUint16(0x236, o.xloadflags ?? 0x7f, true);
  v.setUint32(0x238, o.cmdlineSize ?? 0x7ff, true);
  v.setUint32(0x23c, 0, true);
  v.setUint32(0x240, 0, true);
  v.setUint32(0x244, 0, true);
  v.setUint32(0x248, 0x3b0, true); // payload_offset
  v.setUint32(0x24c, 0x1000, true); // payload_length
  v.setUint32(0x250, 0x1234, true); // setup_data: garbage the loader must clear
  v.setUint32(0x254, 0, true);
  const pref = o.prefAddress ?? 16 * MiB;
  v.setUint32(0x258, pref % 0x1_0000_0000, true);
  v.setUint32(0x25c, Math.floor(pref / 0x1_0000_0000), true);
  v.setUint32(0x260, o.initSize ?? 0x40_0000, true);
  v.setUint32(0x264, 0x190, true); // handover_offset
  v.setUint32(0x268, 0x2000, true); // kernel_info_offset
  image.set(payload, setupBytes);
  return image;
}

const read = (m: PhysicalMemory, addr: number, n: number) => {
  const out = new Uint8Array(n);
  m.read(addr as Hpa, out);
  return out;
};
const u8 = (m: PhysicalMemory, addr: number) => m.read8(addr as Hpa);
const u16 = (m: PhysicalMemory, addr: number) => m.read16(addr as Hpa);
const u32 = (m: PhysicalMemory, addr: number) => m.read32(addr as Hpa);
const u64 = (m: PhysicalMemory, addr: number) => u32(m, addr) + u32(m, addr + 4) * 0x1_0000_0000;
const cstr = (m: PhysicalMemory, addr: number) => {
  let s = '';
  for (let a = addr; m.read8(a as Hpa) !== 0; a++) s += String.fromCharCode(m.read8(a as Hpa));
  return s;
};

/** `m` as the loader sees it, counting every write and fill made through it. */
function recording(m: PhysicalMemory): LoaderMemory & { writes: number } {
  const r = {
    writes: 0,
    write: (addr: Hpa, src: Uint8Array) => {
      r.writes++;
      m.write(addr, src);
    },
    fill: (addr: Hpa, length: number, value: number) => {
      r.writes++;
      m.fill(addr, length, value);
    },
    memoryRegions: () => m.memoryRegions(),
  };
  return r;
}

const boot = (o: BzOptions = {}, options: Partial<LinuxOptions> = {}, m = pcMemory()) => ({ m, boot: loadLinux(m, bzImage(o), { e820: pcE820(), ...options }) });

/** Throws a LinuxBootError matching `message`, having written nothing. */
function expectError(fn: (m: LoaderMemory) => unknown, message: RegExp, m = pcMemory()): void {
  const memory = recording(m);
  let error: unknown;
  try {
    fn(memory);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(LinuxBootError);
  expect(error).toBeInstanceOf(KernelImageError);
  expect((error as Error).name).toBe('LinuxBootError');
  expect((error as Error).message).toMatch(message);
  expect(memory.writes).toBe(0);
}

/** Decodes a segment descriptor (SDM Vol. 3A §3.4.5). */
function descriptor(m: PhysicalMemory, addr: number) {
  const lo = u32(m, addr);
  const hi = u32(m, addr + 4);
  return {
    base: (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000),
    limit: (lo & 0xffff) | (hi & 0xf_0000),
    type: (hi >>> 8) & 0xf,
    s: (hi >>> 12) & 1,
    dpl: (hi >>> 13) & 3,
    p: (hi >>> 15) & 1,
    l: (hi >>> 21) & 1,
    db: (hi >>> 22) & 1,
    g: (hi >>> 23) & 1,
  };
}

/** Walks 4-level page tables (SDM Vol. 3A §4.5) for `va` below 2^48; null when not present. */
function walk(m: PhysicalMemory, cr3: number, va: number): { pa: number; writable: boolean; pageSize: number } | null {
  const index = (shift: number) => Math.floor(va / 2 ** shift) % 512;
  let table = cr3;
  let writable = true;
  for (const shift of [39, 30, 21, 12]) {
    const e = u64(m, table + index(shift) * 8);
    if (!(e & 1)) return null;
    writable &&= (e & 2) !== 0;
    const frame = Math.floor(e / 4096) * 4096 % 2 ** 52;
    const big = shift !== 39 && shift !== 12 && (e & 0x80) !== 0;
    if (big || shift === 12) {
      const size = 2 ** shift;
      return { pa: Math.floor(frame / size) * size + (va % size), writable, pageSize: size };
    }
    table = frame;
  }
  return null;
}

describe('parseLinuxHeader', () => {
  it('reads the setup header fields at their boot.rst offsets', () => {
    const h = parseLinuxHeader(bzImage({ setupSects: 7, xloadflags: 0x3, cmdlineSize: 0x800, initrdAddrMax: 0x37ff_ffff }));
    expect(h).toMatchObject({
      version: 0x020f,
      setupSects: 7,
      headerEnd: 0x26c,
      loadflags: 1,
      code32Start: MiB,
      initrdAddrMax: 0x37ff_ffff,
      kernelAlignment: 0x20_0000,
      relocatable: true,
      minAlignment: 21,
      xloadflags: 3,
      cmdlineSize: 0x800,
      prefAddress: 16 * MiB,
      initSize: 0x40_0000,
      handoverOffset: 0x190,
      kernelOffset: 8 * 512,
      kernelSize: 0x3000,
    });
  });

  it('reads setup_sects 0 as 4', () => {
    const h = parseLinuxHeader(bzImage({ setupSects: 0 }));
    expect(h.setupSects).toBe(4);
    expect(h.kernelOffset).toBe(5 * 512);
  });

  it('ignores fields newer than the protocol version', () => {
    // Protocol 2.06: no xloadflags (2.12), pref_address or init_size (2.10), handover (2.11).
    const h = parseLinuxHeader(bzImage({ version: 0x0206, jump: 0x3a }));
    expect(h).toMatchObject({ version: 0x206, xloadflags: 0, prefAddress: 0, initSize: 0, handoverOffset: 0, minAlignment: 0, headerEnd: 0x23c });
  });
});

describe('loadLinux: the kernel and boot_params', () => {
  it('loads the protected-mode kernel at pref_address and enters a 64-bit kernel at +0x200 by default', () => {
    const payload = bytes(0x3000, 9);
    const { m, boot: b } = boot({ payload });
    expect(b.mode).toBe(64);
    expect(b.entry).toBe(16 * MiB + 0x200);
    expect(b.kernel).toEqual({ start: 16 * MiB, end: 16 * MiB + 0x3000 });
    expect(b.footprint).toEqual({ start: 16 * MiB, end: 16 * MiB + 0x40_0000 });
    expect(read(m, 16 * MiB, 0x3000)).toEqual(payload);
    expect(u8(m, 16 * MiB + 0x3000)).toBe(FILL);
    expect(u8(m, 16 * MiB - 1)).toBe(FILL);
    expect(b.bootParams).toBe(0x7000);
    expect(b.codeSelector).toBe(0x10);
    expect(b.dataSelector).toBe(0x18);
  });

  it('writes only the ranges it reports: kernel, boot_params, command line, GDT, page tables, initrd', () => {
    const { m, boot: b } = boot({}, { initrd: bytes(0x2345), cmdline: 'quiet' });
    const written = [b.kernel, b.cmdline, b.initrd!, b.pageTables!, { start: b.bootParams, end: b.bootParams + 0x1000 }, { start: b.gdt.base, end: b.gdt.base + b.gdt.limit + 1 }];
    for (const [base, end] of [
      [0, 0xa0000],
      [MiB, 32 * MiB],
    ] as const) {
      const ram = read(m, base, end - base);
      for (const w of written) if (w.end > base && w.start < end) ram.fill(FILL, Math.max(w.start, base) - base, Math.min(w.end, end) - base);
      expect(ram.findIndex((x) => x !== FILL)).toBe(-1);
    }
  });

  it('enters at the load address with the 32-bit protocol when the kernel lacks XLF_KERNEL_64, or when asked', () => {
    const { boot: b32 } = boot({ xloadflags: 0 });
    expect(b32.mode).toBe(32);
    expect(b32.entry).toBe(16 * MiB);
    expect(b32.cr3).toBeUndefined();
    expect(b32.pageTables).toBeUndefined();
    const { m, boot: asked } = boot({}, { entry: 32 });
    expect(asked.mode).toBe(32);
    expect(asked.entry).toBe(16 * MiB);
    // No page tables are written for the 32-bit protocol.
    expect(read(m, LINUX_BOOT_LAYOUT.pageTables, 0x6000).every((x) => x === FILL)).toBe(true);
  });

  it('copies the setup header from 0x1F1 to 0x202 + the jump byte, and nothing around it', () => {
    const image = bzImage();
    const { m } = boot();
    const bp = read(m, 0x7000, 0x1000);
    // boot_params starts zeroed: before the header (the image's sentinel byte 0xFF included) ...
    expect(bp[0x1ef]).toBe(0);
    // ... and after it, up to edd_mbr_sig_buffer at 0x290, where the image has setup code (0xCC).
    expect(bp.subarray(0x26c, 0x290).every((x) => x === 0)).toBe(true);
    // Fields the loader does not own keep the image's values.
    const untouched = [
      [0x1f1, 0x210],
      [0x212, 0x214],
      [0x220, 0x224],
      [0x22c, 0x250],
      [0x258, 0x26c],
    ] as const;
    for (const [from, to] of untouched) expect(bp.subarray(from, to)).toEqual(image.subarray(from, to));
  });

  it('fills the fields the loader must write (boot.rst "Details of Header Fields")', () => {
    const { m } = boot({ loadflags: 0x21 }, { cmdline: 'console=ttyS0 root=/dev/vda' });
    const bp = 0x7000;
    expect(u8(m, bp + 0x210)).toBe(0xff); // type_of_loader: undefined
    expect(u8(m, bp + 0x211)).toBe(0x21 | 0x80); // loadflags: CAN_USE_HEAP added, QUIET kept
    expect(u16(m, bp + 0x224)).toBe(0xe000 - 0x200); // heap_end_ptr
    expect(u8(m, bp + 0x226)).toBe(0); // ext_loader_ver
    expect(u8(m, bp + 0x227)).toBe(0); // ext_loader_type
    expect(u32(m, bp + 0x214)).toBe(16 * MiB); // code32_start: the load address
    expect(u32(m, bp + 0x228)).toBe(0x20000); // cmd_line_ptr
    expect(u32(m, bp + 0x0c8)).toBe(0); // ext_cmd_line_ptr
    expect(cstr(m, 0x20000)).toBe('console=ttyS0 root=/dev/vda');
    expect(u64(m, bp + 0x250)).toBe(0); // setup_data cleared
    expect([u32(m, bp + 0x218), u32(m, bp + 0x21c), u32(m, bp + 0x0c0), u32(m, bp + 0x0c4)]).toEqual([0, 0, 0, 0]); // no initrd
    expect(u64(m, bp + 0x070)).toBe(0); // acpi_rsdp_addr: none given
  });

  it('writes the e820 map at 0x2D0 with its count at 0x1E8, and ext_mem_k / alt_mem_k from it', () => {
    const e820 = [...pcE820(), { addr: 0x1_0000_0000, size: 0x2_4000_0000, type: E820Type.RAM }, { addr: 0xfee0_0000, size: 0x1000, type: E820Type.RESERVED }];
    const { m } = boot({}, { e820 });
    const bp = 0x7000;
    expect(u8(m, bp + 0x1e8)).toBe(6);
    const table = [];
    for (let i = 0; i < 6; i++) {
      const o = bp + 0x2d0 + i * 20;
      table.push({ addr: u64(m, o), size: u64(m, o + 8), type: u32(m, o + 16) });
    }
    expect(table).toEqual(e820);
    expect(u8(m, bp + 0x2d0 + 6 * 20)).toBe(0);
    // 31 MiB of usable RAM from 1 MiB: 31744 KiB (ext_mem_k is 16-bit and holds it).
    expect(u16(m, bp + 0x002)).toBe(31 * 1024);
    expect(u32(m, bp + 0x1e0)).toBe(31 * 1024);
  });

  it('caps ext_mem_k at 0xFFFF KiB but not alt_mem_k', () => {
    const m = pcMemory(96);
    const b = loadLinux(m, bzImage(), { e820: pcE820(96) });
    expect(u16(m, b.bootParams + 0x002)).toBe(0xffff);
    expect(u32(m, b.bootParams + 0x1e0)).toBe(95 * 1024);
  });

  it('writes acpi_rsdp_addr when given', () => {
    const { m } = boot({}, { acpiRsdp: 0xf5a10 });
    expect(u64(m, 0x7000 + 0x070)).toBe(0xf5a10);
  });

  it('loads a non-relocatable kernel at 1 MiB and keeps its pref_address + init_size free', () => {
    const { boot: b } = boot({ relocatable: false, prefAddress: 2 * MiB, initSize: 0x30_0000 });
    expect(b.kernel.start).toBe(MiB);
    expect(b.entry).toBe(MiB + 0x200);
    expect(b.footprint).toEqual({ start: MiB, end: 5 * MiB });
  });

  it('loads a relocatable kernel without pref_address (protocol 2.06-2.09) at 1 MiB, its runtime start aligned up', () => {
    const { m, boot: b } = boot({ version: 0x0209, jump: 0x56, xloadflags: 0 });
    expect(b.mode).toBe(32);
    expect(b.kernel.start).toBe(MiB);
    expect(b.entry).toBe(MiB);
    expect(u32(m, 0x7000 + 0x214)).toBe(MiB);
    expect(b.footprint).toEqual({ start: MiB, end: 2 * MiB + 0x3000 }); // no init_size before 2.10: its size at 2 MiB
  });

  it('accepts a command line of exactly cmdline_size bytes, and an empty one', () => {
    const { m } = boot({ cmdlineSize: 10 }, { cmdline: '0123456789' });
    expect(cstr(m, 0x20000)).toBe('0123456789');
    const { m: m2, boot: b2 } = boot();
    expect(u8(m2, 0x20000)).toBe(0);
    expect(u32(m2, 0x7000 + 0x228)).toBe(0x20000);
    expect(b2.cmdline).toEqual({ start: 0x20000, end: 0x20001 });
  });
});

describe('loadLinux: GDT and page tables', () => {
  it('writes a GDT with __BOOT_CS (0x10) flat 32-bit code and __BOOT_DS (0x18) flat data for the 32-bit protocol', () => {
    const { m, boot: b } = boot({}, { entry: 32 });
    expect(b.gdt).toEqual({ base: 0x6000, limit: 31 });
    expect(read(m, 0x6000, 16)).toEqual(new Uint8Array(16)); // null descriptors at 0x00 and 0x08
    expect(descriptor(m, 0x6010)).toEqual({ base: 0, limit: 0xfffff, type: 0xb, s: 1, dpl: 0, p: 1, l: 0, db: 1, g: 1 });
    expect(descriptor(m, 0x6018)).toEqual({ base: 0, limit: 0xfffff, type: 0x3, s: 1, dpl: 0, p: 1, l: 0, db: 1, g: 1 });
  });

  it('makes __BOOT_CS a 64-bit code segment (L = 1, D = 0) for the 64-bit protocol', () => {
    const { m } = boot();
    expect(descriptor(m, 0x6010)).toEqual({ base: 0, limit: 0xfffff, type: 0xb, s: 1, dpl: 0, p: 1, l: 1, db: 0, g: 1 });
    expect(descriptor(m, 0x6018)).toEqual({ base: 0, limit: 0xfffff, type: 0x3, s: 1, dpl: 0, p: 1, l: 0, db: 1, g: 1 });
  });

  it('identity-maps the first 4 GiB with writable 2 MiB pages, and nothing above', () => {
    const initrd = bytes(0x5000, 3);
    const { m, boot: b } = boot({}, { initrd, cmdline: 'x' });
    expect(b.cr3).toBe(0x9000);
    expect(b.pageTables).toEqual({ start: 0x9000, end: 0xf000 });
    const cr3 = b.cr3!;
    const addresses = [0, 0x6000, b.bootParams, b.cmdline.start, b.kernel.start, b.entry, b.footprint.end - 1, b.initrd!.start, b.initrd!.end - 1, 0xfee0_0000, 0xffff_ffff];
    for (const a of addresses) expect(walk(m, cr3, a)).toEqual({ pa: a, writable: true, pageSize: 2 * MiB });
    for (let gib = 0; gib < 4; gib++) {
      for (let i = 0; i < 512; i += 37) {
        const a = gib * 0x4000_0000 + i * 2 * MiB + 0x1234;
        expect(walk(m, cr3, a)?.pa).toBe(a);
      }
    }
    expect(walk(m, cr3, 0x1_0000_0000)).toBeNull();
    expect(walk(m, cr3, 0x80_0000_0000)).toBeNull(); // PML4[1]
    // Only PML4[0] and PDPT[0..3] are present.
    for (let i = 1; i < 512; i++) expect(u64(m, cr3 + i * 8)).toBe(0);
    for (let i = 4; i < 512; i++) expect(u64(m, cr3 + 0x1000 + i * 8)).toBe(0);
    expect(u64(m, cr3) % 0x1000).toBe(0x3);
    expect(u64(m, cr3 + 0x1000) % 0x1000).toBe(0x3);
    expect(u64(m, cr3 + 0x2000 + 5 * 8)).toBe(10 * MiB + 0x83); // PD0[5]: 10 MiB, P | RW | PS
  });
});

describe('loadLinux: the initrd', () => {
  it('goes page-aligned at the top of usable RAM below 4 GiB and is described in boot_params', () => {
    const initrd = bytes(0x12345, 4);
    const { m, boot: b } = boot({}, { initrd });
    const start = (32 * MiB - 0x12345) & ~0xfff;
    expect(b.initrd).toEqual({ start, end: start + 0x12345 });
    expect(read(m, start, 0x12345)).toEqual(initrd);
    expect(u32(m, 0x7000 + 0x218)).toBe(start);
    expect(u32(m, 0x7000 + 0x21c)).toBe(0x12345);
    expect(u32(m, 0x7000 + 0x0c0)).toBe(0);
    expect(u32(m, 0x7000 + 0x0c4)).toBe(0);
  });

  it('stays at or below initrd_addr_max (the highest byte it may occupy)', () => {
    const { boot: b } = boot({ initrdAddrMax: 0x1fff_fff }, { initrd: bytes(0x2000) }); // 32 MiB - 1 ...
    expect(b.initrd!.end).toBeLessThanOrEqual(0x200_0000);
    const { boot: b2 } = boot({ initrdAddrMax: 0x17f_ffff }, { initrd: bytes(0x2000) });
    expect(b2.initrd).toEqual({ start: 0x180_0000 - 0x2000, end: 0x180_0000 });
  });

  it('skips RAM the e820 map does not call usable', () => {
    const e820 = [...pcE820().slice(0, 3), { addr: MiB, size: 30 * MiB, type: E820Type.RAM }, { addr: 31 * MiB, size: MiB, type: E820Type.RESERVED }];
    const { boot: b } = boot({}, { initrd: bytes(0x1000), e820 });
    expect(b.initrd).toEqual({ start: 31 * MiB - 0x1000, end: 31 * MiB });
  });

  it('goes below the kernel when the top of RAM is the kernel', () => {
    // The kernel footprint is 16-20 MiB; initrd_addr_max 18 MiB - 1 puts the best spot inside it.
    const { boot: b } = boot({ initrdAddrMax: 18 * MiB - 1 }, { initrd: bytes(0x3000) });
    expect(b.initrd).toEqual({ start: 16 * MiB - 0x3000, end: 16 * MiB });
  });

  it('treats an empty initrd as none', () => {
    const { m, boot: b } = boot({}, { initrd: new Uint8Array(0) });
    expect(b.initrd).toBeUndefined();
    expect(u32(m, 0x7000 + 0x218)).toBe(0);
  });
});

describe('loadLinux: refused images and options', () => {
  const load = (o: BzOptions = {}, options: Partial<LinuxOptions> = {}) => (m: LoaderMemory) => loadLinux(m, bzImage(o), { e820: pcE820(), ...options });

  it('refuses a file too small for a setup header', () => {
    expectError((m) => loadLinux(m, bzImage().subarray(0, 1000), { e820: pcE820() }), /too small \(1000 bytes\) to be a Linux kernel/);
  });

  it('refuses an image without boot_flag 0xAA55', () => {
    expectError(load({ bootFlag: 0x1234 }), /no boot_flag 0xaa55 at offset 0x1fe \(found 0x1234\)/);
  });

  it('refuses an image without the HdrS signature', () => {
    expectError(load({ magic: 0x12345678 }), /no "HdrS" signature at offset 0x202/);
  });

  it('refuses boot protocols before 2.06', () => {
    expectError(load({ version: 0x0205 }), /boot protocol 2\.05 \(version 0x205\); this loader needs 2\.06 or later/);
  });

  it('refuses a setup header whose jump does not reach the fields its version defines', () => {
    expectError(load({ jump: 0x50 }), /setup header ends at 0x252 \(jump at 0x200\), before the fields protocol 2\.15 defines \(up to 0x264\)/);
    expectError(load({ jump: 0x90 }), /no short jump at offset 0x200 \(found 0xeb 0x90\)/);
  });

  it('refuses a zImage (LOADED_HIGH clear)', () => {
    expectError(load({ loadflags: 0 }), /not a bzImage \(loadflags bit 0, LOADED_HIGH, is clear\)/);
  });

  it('refuses setup_sects that reach past the end of the file', () => {
    const image = bzImage();
    image[0x1f1] = 60;
    expectError((m) => loadLinux(m, image, { e820: pcE820() }), /setup_sects 60 puts the protected-mode kernel at offset 0x7a00, past the end of the 14848-byte file/);
  });

  it('refuses an image shorter than its syssize', () => {
    expectError(load({ syssize: 0x301 }), /truncated: syssize says 12304 bytes of protected-mode kernel, the file has 12288/);
  });

  it('refuses a relocatable kernel whose kernel_alignment is not a power of two', () => {
    expectError(load({ kernelAlignment: 0x30_0000 }), /kernel_alignment 0x300000 of a relocatable kernel is not a power of two/);
  });

  it('refuses the 64-bit protocol for a kernel without XLF_KERNEL_64', () => {
    expectError(load({ xloadflags: 0x2 }, { entry: 64 }), /no 64-bit entry point \(xloadflags bit 0, XLF_KERNEL_64, is clear\)/);
    expectError(load({ version: 0x020b, jump: 0x66 }, { entry: 64 }), /XLF_KERNEL_64/); // before 2.12 there is no xloadflags
    expectError(load({}, { entry: 48 as 32 }), /must be 32 or 64, not 48/);
  });

  it('refuses a command line longer than cmdline_size or with a NUL', () => {
    expectError(load({ cmdlineSize: 10 }, { cmdline: '0123456789a' }), /command line is 11 bytes; the kernel takes at most 10 \(cmdline_size\)/);
    expectError(load({}, { cmdline: 'a\0b' }), /command line contains a NUL/);
    expectError(load({ cmdlineSize: 0x10_0000 }, { cmdline: 'x'.repeat(0x80000) }), /524288-byte command line does not fit between 0x20000 and 0xa0000/);
  });

  it('refuses a kernel that does not fit in usable RAM', () => {
    expectError(load({ initSize: 0x100_0001 }), /kernel does not fit in RAM: loaded at 0x1000000 it needs 0x1000000-0x2000001 \(12288 bytes, init_size 0x1000001\)/);
    expectError(load({ prefAddress: 40 * MiB }), /kernel does not fit in RAM/);
    // RAM the e820 map reserves is not usable.
    const e820 = [...pcE820().slice(0, 3), { addr: MiB, size: 15 * MiB, type: E820Type.RAM }, { addr: 16 * MiB, size: 16 * MiB, type: E820Type.RESERVED }];
    expectError(load({}, { e820 }), /usable RAM \(e820 type 1\) is 0x0-0x9fc00, 0x100000-0x1000000/);
    expectError(load({ prefAddress: 0xffff_0000 }), /kernel at 0xffff0000 needs memory up to 0x100400000 \(init_size 0x400000\), past 4 GiB/);
  });

  it('refuses a kernel that would overlap the loader structures', () => {
    expectError(load({ prefAddress: 0x8000, kernelAlignment: 0x1000, initSize: 0x1000 }), /kernel's memory 0x8000-0xb000 overlaps the page tables at 0x9000-0xf000/);
    expectError(load({ prefAddress: 0x10000, kernelAlignment: 0x1000, initSize: 0x20000 }, { entry: 32 }), /overlaps the command line at 0x20000-0x20001/);
  });

  it('refuses a machine without RAM where the loader structures go', () => {
    const m = new PhysicalMemory({ ramSize: 32 * MiB });
    m.mapRam(MiB, 31 * MiB, MiB);
    expectError(load(), /the GDT at 0x6000-0x6020 is not in RAM \(RAM: 0x100000-0x2000000\)/, m);
  });

  it('refuses an initrd with no room below initrd_addr_max', () => {
    expectError(load({}, { initrd: new Uint8Array(17 * MiB) }), /no room for the 17825792-byte initrd in usable RAM from 1 MiB to 0x80000000 \(initrd_addr_max 0x7fffffff\), clear of the kernel at 0x1000000-0x1400000/);
    expectError(load({ initrdAddrMax: 0xfffff }, { initrd: bytes(0x100) }), /no room for the 256-byte initrd in usable RAM from 1 MiB to 0x100000/);
  });

  it('refuses a bad e820 map', () => {
    const many = Array.from({ length: 129 }, (_, i) => ({ addr: i * 0x1000, size: 0x1000, type: 1 }));
    expectError(load({}, { e820: many }), /e820 map has 129 entries; boot_params holds at most 128/);
    expectError(load({}, { e820: [{ addr: -1, size: 0x1000, type: 1 }] }), /e820 entry 0 .* is not a valid range and type/);
    expectError(load({}, { e820: [{ addr: 0, size: 0x1000, type: 2 ** 32 }] }), /e820 entry 0 .* is not a valid range and type/);
    expectError(load({}, { e820: undefined as unknown as E820Entry[] }), /no e820 memory map given/);
  });

  it('refuses a bad acpiRsdp', () => {
    expectError(load({}, { acpiRsdp: -5 }), /acpiRsdp -5 is not a physical address/);
  });

  it('accepts exactly 128 e820 entries', () => {
    const e820 = [...pcE820(), ...Array.from({ length: 124 }, (_, i) => ({ addr: 0x1_0000_0000 + i * 0x1000, size: 0x1000, type: E820Type.RESERVED }))];
    const { m } = boot({}, { e820 });
    expect(u8(m, 0x7000 + 0x1e8)).toBe(128);
    expect(u64(m, 0x7000 + 0x2d0 + 127 * 20)).toBe(0x1_0000_0000 + 123 * 0x1000);
  });
});

/** Node's `process.env` and `fs.readFileSync` without Node typings (this package's tsconfig has none). */
const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
const realKernel = env['HVKIT_LINUX_BZIMAGE'];

describe.skipIf(!realKernel)('loadLinux: a real bzImage ($HVKIT_LINUX_BZIMAGE)', () => {
  it('parses its header and loads it for the 64-bit and the 32-bit protocol', async () => {
    const fsModule = 'node:fs';
    const fs = (await import(/* @vite-ignore */ fsModule)) as { readFileSync(path: string): Uint8Array };
    const image = new Uint8Array(fs.readFileSync(realKernel!));
    const h = parseLinuxHeader(image);
    expect(h.version).toBeGreaterThanOrEqual(0x020c);
    expect(h.loadflags & 1).toBe(1);
    expect(h.xloadflags & 1).toBe(1);
    expect(h.cmdlineSize).toBeGreaterThanOrEqual(255);
    expect(h.kernelSize).toBeGreaterThanOrEqual(h.syssize * 16);
    const mib = Math.max(128, Math.ceil((h.prefAddress + h.initSize) / MiB) + 16);
    for (const entry of [64, 32] as const) {
      const m = pcMemory(mib);
      const initrd = bytes(0x10000, 7);
      const b = loadLinux(m, image, { e820: pcE820(mib), cmdline: 'console=ttyS0 earlyprintk=serial', initrd, entry });
      expect(b.mode).toBe(entry);
      expect(b.kernel.start).toBe(h.relocatable ? h.prefAddress : MiB);
      expect(read(m, b.kernel.start, 4096)).toEqual(image.subarray(h.kernelOffset, h.kernelOffset + 4096));
      expect(b.initrd!.start).toBeGreaterThanOrEqual(b.footprint.end);
      expect(read(m, b.initrd!.start, initrd.length)).toEqual(initrd);
      expect(cstr(m, u32(m, b.bootParams + 0x228))).toBe('console=ttyS0 earlyprintk=serial');
      expect(u16(m, b.bootParams + 0x1fe)).toBe(0xaa55);
      expect(u32(m, b.bootParams + 0x202)).toBe(0x53726448);
      if (entry === 64) expect(walk(m, b.cr3!, b.entry)?.pa).toBe(b.entry);
    }
  });
});
