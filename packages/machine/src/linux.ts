/**
 * A Linux x86 bzImage loader for the 32-bit and 64-bit boot protocols, after
 * `Documentation/arch/x86/boot.rst` ("The Linux/x86 Boot Protocol") and
 * `Documentation/arch/x86/zero-page.rst` in the Linux tree. Section names below are boot.rst's.
 *
 * The loader does what a boot loader does before it jumps, except touching the CPU: it checks
 * the real-mode kernel header, loads the protected-mode kernel, builds `struct boot_params`
 * (the "zero page"), places the command line and the initrd, writes a GDT and (for the 64-bit
 * protocol) identity-mapping page tables, and returns the entry state for the board to set.
 * The real-mode setup code is not run (no BIOS is needed); the kernel is entered at its 32-bit
 * entry (`code32_start`) or its 64-bit entry (load address + 0x200).
 *
 * Memory layout (all below 1 MiB, clear of page 0 and of the EBDA below 0xA0000):
 *
 * | Range             | What                                                               |
 * | ----------------- | ------------------------------------------------------------------ |
 * | 0x6000-0x601F     | GDT: null, null, `__BOOT_CS` (0x10), `__BOOT_DS` (0x18)             |
 * | 0x7000-0x7FFF     | `struct boot_params`                                               |
 * | 0x9000-0xEFFF     | 64-bit only: PML4, PDPT, 4 page directories (first 4 GiB, 2 MiB pages) |
 * | 0x20000-...       | the command line, NUL-terminated (below 0xA0000)                    |
 *
 * The protected-mode kernel goes to `pref_address` when the kernel is relocatable (protocol
 * 2.10+: "A relocating bootloader should attempt to load at this address"), else to 0x100000
 * ("Loading The Rest of The Kernel"); the initrd goes as high as it can below
 * min(`initrd_addr_max` + 1, 4 GiB), page-aligned, in RAM the e820 map calls usable, clear of
 * the kernel's whole `init_size` footprint, and above 1 MiB (low memory is the firmware's and
 * the kernel's own: Linux reserves at least its first 64 KiB). Nothing is placed above 4 GiB, so
 * `XLF_CAN_BE_LOADED_ABOVE_4G` is not needed and the `ext_*` high halves are written as 0.
 *
 * Everything is checked before the first byte is written; a kernel this loader cannot boot
 * throws a {@link LinuxBootError} and leaves memory untouched.
 */
import { hex, PAGE_SIZE, type Hpa } from '@hvkit/platform';
import {
  alignDown,
  alignUp,
  cString,
  describeRanges,
  intersectRanges,
  KernelImageError,
  mergeRanges,
  ramRanges,
  rangeInside,
  rangesOverlap,
  setUint64,
  type LoaderMemory,
  type PhysicalRange,
} from './loader-error.js';

/** A kernel image or boot option this loader cannot boot. */
export class LinuxBootError extends KernelImageError {
  override readonly name = 'LinuxBootError';
}

/** boot.rst, `header` at 0x202: "HdrS". */
export const LINUX_HDRS_MAGIC = 0x53726448;
/** boot.rst, `boot_flag` at 0x1FE. */
export const LINUX_BOOT_FLAG = 0xaa55;
/** The oldest protocol accepted: 2.06 (Linux 2.6.22), the first that reports `cmdline_size`. */
export const LINUX_MIN_PROTOCOL = 0x0206;
/** `type_of_loader`: 0xFF, "undefined" (boot.rst, `type_of_loader`; hvkit has no assigned id). */
export const LINUX_LOADER_TYPE = 0xff;
/** "32-bit Boot Protocol": the code and data selectors the kernel expects. */
export const LINUX_BOOT_CS = 0x10;
export const LINUX_BOOT_DS = 0x18;

/** `loadflags` bits (boot.rst, `loadflags`). */
export const LinuxLoadFlag = {
  LOADED_HIGH: 0x01,
  KASLR_FLAG: 0x02,
  QUIET_FLAG: 0x20,
  KEEP_SEGMENTS: 0x40,
  CAN_USE_HEAP: 0x80,
} as const;

/** `xloadflags` bits (boot.rst, `xloadflags`, protocol 2.12+). */
export const LinuxXLoadFlag = {
  KERNEL_64: 0x01,
  CAN_BE_LOADED_ABOVE_4G: 0x02,
  EFI_HANDOVER_32: 0x04,
  EFI_HANDOVER_64: 0x08,
  EFI_KEXEC: 0x10,
} as const;

/** e820 entry types (`arch/x86/include/asm/e820/types.h`). Linux treats unknown types as reserved. */
export const E820Type = {
  RAM: 1,
  RESERVED: 2,
  ACPI: 3,
  NVS: 4,
  UNUSABLE: 5,
  PMEM: 7,
} as const;

/** Where the loader puts its structures (see the module comment). */
export const LINUX_BOOT_LAYOUT = {
  gdt: 0x6000,
  bootParams: 0x7000,
  pageTables: 0x9000,
  cmdline: 0x20000,
} as const;

/** zero-page.rst: `e820_table` holds at most 128 entries of 20 bytes. */
export const E820_MAX_ENTRIES = 128;

/** Offsets in `struct boot_params` (zero-page.rst) and its setup header (boot.rst). */
const BP = {
  EXT_MEM_K: 0x002, // screen_info.ext_mem_k (u16)
  ACPI_RSDP_ADDR: 0x070,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  ALT_MEM_K: 0x1e0,
  E820_ENTRIES: 0x1e8,
  SENTINEL: 0x1ef,
  HDR: 0x1f1,
  E820_TABLE: 0x2d0,
  SIZE: 0x1000,
} as const;
const HDR = {
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  EXT_LOADER_VER: 0x226,
  EXT_LOADER_TYPE: 0x227,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  MIN_ALIGNMENT: 0x235,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  SETUP_DATA: 0x250,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
  HANDOVER_OFFSET: 0x264,
} as const;

const ONE_MIB = 0x10_0000;
const FOUR_GIB = 0x1_0000_0000;
/** boot.rst "The Kernel Command Line": the command line lies below 0xA0000. */
const LOW_MEMORY_END = 0xa0000;
/** boot.rst "Sample Boot Configuration": heap_end = 0xE000 for a 2.02+ bzImage. */
const HEAP_END = 0xe000;
const E820_ENTRY_SIZE = 20;
const GDT_SIZE = 4 * 8;
/** PML4 + PDPT + one page directory per GiB of the first 4 GiB. */
const PAGE_TABLE_PAGES = 6;
/** Page-table entry bits (Intel SDM Vol. 3A §4.5, Tables 4-15 to 4-18). */
const PTE_P = 0x1;
const PTE_RW = 0x2;
const PTE_PS = 0x80;

/** The fields of the real-mode kernel header this loader reads (boot.rst "The Real-Mode Kernel Header"). */
export interface LinuxSetupHeader {
  /** `version`: (major << 8) | minor, e.g. 0x020f. */
  readonly version: number;
  /** `setup_sects`, with 0 read as 4. */
  readonly setupSects: number;
  /** Where the setup header ends: 0x202 + the byte at 0x201 (the `jump` offset). */
  readonly headerEnd: number;
  /** `syssize` (16-byte paragraphs of protected-mode code; 2.04+). */
  readonly syssize: number;
  readonly loadflags: number;
  readonly code32Start: number;
  /** `initrd_addr_max`: the highest byte address the initrd may occupy. */
  readonly initrdAddrMax: number;
  readonly kernelAlignment: number;
  readonly relocatable: boolean;
  /** `min_alignment` (a power of two exponent; 2.10+), 0 when absent. */
  readonly minAlignment: number;
  /** `xloadflags` (2.12+), 0 when absent. */
  readonly xloadflags: number;
  /** `cmdline_size`: the longest command line, without its NUL. */
  readonly cmdlineSize: number;
  /** `pref_address` (2.10+), 0 when absent. */
  readonly prefAddress: number;
  /** `init_size` (2.10+), 0 when absent. */
  readonly initSize: number;
  /** `handover_offset` (2.11+; the EFI handover entry, not used here), 0 when absent. */
  readonly handoverOffset: number;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  readonly kernelOffset: number;
  /** Bytes of protected-mode kernel in the file (everything after the setup code). */
  readonly kernelSize: number;
}

/** One e820 memory map entry (zero-page.rst `e820_table`: `struct boot_e820_entry`). */
export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  /** {@link E820Type}. */
  readonly type: number;
}

export interface LinuxOptions {
  /** The kernel command line ("" by default; an empty string is still passed, as boot.rst asks). */
  cmdline?: string;
  /** The initial ramdisk. An empty one is the same as none. */
  initrd?: Uint8Array;
  /** The memory map for `e820_table`: at most 128 entries. The initrd and the kernel go only in type 1 (RAM). */
  e820: readonly E820Entry[];
  /** The boot protocol: 64 by default when the kernel sets `XLF_KERNEL_64`, else 32. */
  entry?: 32 | 64;
  /** Physical address of the ACPI RSDP, written to `acpi_rsdp_addr` (0x070); none by default. */
  acpiRsdp?: number;
}

/** Where everything went, and the CPU state the board must set before jumping to `entry`. */
export interface LinuxBoot {
  /**
   * 32: protected mode, paging off, CS = 0x10 and DS = ES = SS = 0x18 (flat 4 GiB), IF = 0,
   * ESI = `bootParams`, EBP = EDI = EBX = 0 ("32-bit Boot Protocol").
   * 64: long mode, CR3 = `cr3` (identity map of the first 4 GiB), CS = 0x10 (64-bit code),
   * DS = ES = SS = 0x18, IF = 0, RSI = `bootParams` ("64-bit Boot Protocol").
   */
  readonly mode: 32 | 64;
  /** Where to start: the kernel's load address (32) or load address + 0x200 (64). */
  readonly entry: number;
  /** Physical address of `struct boot_params` (for ESI / RSI). */
  readonly bootParams: number;
  /** The GDT to load: base and limit (size - 1). */
  readonly gdt: { readonly base: number; readonly limit: number };
  readonly codeSelector: number;
  readonly dataSelector: number;
  /** 64-bit only: CR3, the PML4's physical address. */
  readonly cr3?: number;
  /** 64-bit only: the page tables' range. */
  readonly pageTables?: PhysicalRange;
  /** The protected-mode kernel as loaded. */
  readonly kernel: PhysicalRange;
  /** The memory the kernel needs before it reads the memory map: the load plus `init_size`. */
  readonly footprint: PhysicalRange;
  readonly initrd?: PhysicalRange;
  /** The command line, its NUL included. */
  readonly cmdline: PhysicalRange;
  readonly header: LinuxSetupHeader;
}

/**
 * Reads and checks the real-mode kernel header of a bzImage (boot.rst "The Real-Mode Kernel
 * Header", "Details of Header Fields"). Throws {@link LinuxBootError}.
 */
export function parseLinuxHeader(image: Uint8Array): LinuxSetupHeader {
  if (image.length < 1024) {
    throw new LinuxBootError(`the image is too small (${image.length} bytes) to be a Linux kernel: the boot sector and setup header alone take 1024`);
  }
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const u8 = (o: number) => view.getUint8(o);
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  if (u16(HDR.BOOT_FLAG) !== LINUX_BOOT_FLAG) {
    throw new LinuxBootError(`no boot_flag 0xaa55 at offset 0x1fe (found ${hex(u16(HDR.BOOT_FLAG))}): not a Linux kernel image`);
  }
  if (u32(HDR.HEADER) !== LINUX_HDRS_MAGIC) {
    throw new LinuxBootError('no "HdrS" signature at offset 0x202: not a Linux kernel, or one older than boot protocol 2.00');
  }
  const version = u16(HDR.VERSION);
  const versionText = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < LINUX_MIN_PROTOCOL) {
    throw new LinuxBootError(`the kernel speaks boot protocol ${versionText} (version ${hex(version)}); this loader needs 2.06 or later (Linux 2.6.22+)`);
  }
  // "jump": 0xEB and a signed offset from 0x202; it doubles as the header's length.
  if (u8(HDR.JUMP) !== 0xeb || u8(HDR.JUMP + 1) > 0x7f) {
    throw new LinuxBootError(`no short jump at offset 0x200 (found ${hex(u8(HDR.JUMP))} ${hex(u8(HDR.JUMP + 1))}): the setup header's length is unknown`);
  }
  const headerEnd = HDR.HEADER + u8(HDR.JUMP + 1);
  const needed = version >= 0x020a ? HDR.HANDOVER_OFFSET : HDR.CMDLINE_SIZE + 4;
  if (headerEnd < needed) {
    throw new LinuxBootError(`the setup header ends at ${hex(headerEnd)} (jump at 0x200), before the fields protocol ${versionText} defines (up to ${hex(needed)})`);
  }
  const loadflags = u8(HDR.LOADFLAGS);
  if (!(loadflags & LinuxLoadFlag.LOADED_HIGH)) {
    throw new LinuxBootError('the kernel is not a bzImage (loadflags bit 0, LOADED_HIGH, is clear): zImage kernels are not supported');
  }
  const setupSects = u8(HDR.SETUP_SECTS) || 4;
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= image.length) {
    throw new LinuxBootError(`setup_sects ${setupSects} puts the protected-mode kernel at offset ${hex(kernelOffset)}, past the end of the ${image.length}-byte file`);
  }
  const kernelSize = image.length - kernelOffset;
  const syssize = u32(HDR.SYSSIZE);
  if (syssize * 16 > kernelSize) {
    throw new LinuxBootError(`the image is truncated: syssize says ${syssize * 16} bytes of protected-mode kernel, the file has ${kernelSize} after the setup code`);
  }
  const relocatable = u8(HDR.RELOCATABLE_KERNEL) !== 0;
  const kernelAlignment = u32(HDR.KERNEL_ALIGNMENT);
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    throw new LinuxBootError(`kernel_alignment ${hex(kernelAlignment)} of a relocatable kernel is not a power of two`);
  }
  const v210 = version >= 0x020a;
  let prefAddress = 0;
  if (v210) {
    const hi = u32(HDR.PREF_ADDRESS + 4);
    if (hi >= 0x10_0000) throw new LinuxBootError(`pref_address ${hex(hi)}${u32(HDR.PREF_ADDRESS).toString(16).padStart(8, '0')} is beyond the 52-bit physical address space`);
    prefAddress = hi * FOUR_GIB + u32(HDR.PREF_ADDRESS);
  }
  return {
    version,
    setupSects,
    headerEnd,
    syssize,
    loadflags,
    code32Start: u32(HDR.CODE32_START),
    initrdAddrMax: u32(HDR.INITRD_ADDR_MAX),
    kernelAlignment,
    relocatable,
    minAlignment: v210 ? u8(HDR.MIN_ALIGNMENT) : 0,
    xloadflags: version >= 0x020c ? u16(HDR.XLOADFLAGS) : 0,
    cmdlineSize: u32(HDR.CMDLINE_SIZE),
    prefAddress,
    initSize: v210 ? u32(HDR.INIT_SIZE) : 0,
    handoverOffset: version >= 0x020b && headerEnd >= HDR.HANDOVER_OFFSET + 4 ? u32(HDR.HANDOVER_OFFSET) : 0,
    kernelOffset,
    kernelSize,
  };
}

/**
 * Loads a bzImage for the 32-bit or 64-bit boot protocol and returns the entry state. Throws
 * {@link LinuxBootError} (writing nothing) for a kernel or options it cannot boot.
 */
export function loadLinux(memory: LoaderMemory, image: Uint8Array, options: LinuxOptions): LinuxBoot {
  const hdr = parseLinuxHeader(image);
  const mode = options.entry ?? (hdr.xloadflags & LinuxXLoadFlag.KERNEL_64 ? 64 : 32);
  if (mode !== 32 && mode !== 64) throw new LinuxBootError(`the boot protocol must be 32 or 64, not ${String(mode)}`);
  if (mode === 64 && !(hdr.xloadflags & LinuxXLoadFlag.KERNEL_64)) {
    throw new LinuxBootError('64-bit entry asked for, but the kernel has no 64-bit entry point (xloadflags bit 0, XLF_KERNEL_64, is clear): boot it with the 32-bit protocol');
  }

  // The memory map.
  const e820 = options.e820;
  if (!Array.isArray(e820)) throw new LinuxBootError('no e820 memory map given (options.e820)');
  if (e820.length > E820_MAX_ENTRIES) throw new LinuxBootError(`the e820 map has ${e820.length} entries; boot_params holds at most ${E820_MAX_ENTRIES}`);
  for (const [i, e] of e820.entries()) {
    if (!(Number.isSafeInteger(e.addr) && Number.isSafeInteger(e.size) && e.addr >= 0 && e.size >= 0 && Number.isInteger(e.type) && e.type >= 0 && e.type <= 0xffff_ffff)) {
      throw new LinuxBootError(`e820 entry ${i} ${JSON.stringify(e)} is not a valid range and type`);
    }
  }
  const ram = ramRanges(memory);
  const usable = intersectRanges(ram, mergeRanges(e820.filter((e) => e.type === E820Type.RAM).map((e) => ({ start: e.addr, end: e.addr + e.size }))));

  // The protected-mode kernel ("Loading The Rest of The Kernel"; `pref_address`, `init_size`).
  const loadAddress = hdr.relocatable && hdr.prefAddress !== 0 ? hdr.prefAddress : ONE_MIB;
  const runtimeStart = hdr.relocatable ? alignUp(loadAddress, hdr.kernelAlignment) : hdr.prefAddress || ONE_MIB;
  const kernel = { start: loadAddress, end: loadAddress + hdr.kernelSize };
  const footprint = {
    start: Math.min(kernel.start, runtimeStart),
    // Before 2.10 there is no init_size: the kernel needs at least its own size where it runs.
    end: Math.max(kernel.end, runtimeStart + Math.max(hdr.initSize, hdr.kernelSize)),
  };
  if (footprint.end > FOUR_GIB) {
    throw new LinuxBootError(`the kernel at ${hex(kernel.start)} needs memory up to ${hex(footprint.end)} (init_size ${hex(hdr.initSize)}), past 4 GiB; this loader keeps the kernel below 4 GiB`);
  }
  if (!rangeInside(usable, footprint)) {
    throw new LinuxBootError(
      `the kernel does not fit in RAM: loaded at ${hex(kernel.start)} it needs ${hex(footprint.start)}-${hex(footprint.end)} ` +
        `(${hdr.kernelSize} bytes, init_size ${hex(hdr.initSize)}), and the usable RAM (e820 type 1) is ${describeRanges(usable)}`,
    );
  }

  // The low structures.
  const cmdline = cString(options.cmdline ?? '', 'command line', (m) => new LinuxBootError(m));
  if (cmdline.length - 1 > hdr.cmdlineSize) {
    throw new LinuxBootError(`the command line is ${cmdline.length - 1} bytes; the kernel takes at most ${hdr.cmdlineSize} (cmdline_size)`);
  }
  const L = LINUX_BOOT_LAYOUT;
  const low: { what: string; range: PhysicalRange }[] = [
    { what: 'the GDT', range: { start: L.gdt, end: L.gdt + GDT_SIZE } },
    { what: 'boot_params', range: { start: L.bootParams, end: L.bootParams + BP.SIZE } },
    { what: 'the command line', range: { start: L.cmdline, end: L.cmdline + cmdline.length } },
  ];
  if (mode === 64) low.push({ what: 'the page tables', range: { start: L.pageTables, end: L.pageTables + PAGE_TABLE_PAGES * PAGE_SIZE } });
  if (low[2]!.range.end > LOW_MEMORY_END) {
    throw new LinuxBootError(`the ${cmdline.length - 1}-byte command line does not fit between ${hex(L.cmdline)} and ${hex(LOW_MEMORY_END)}`);
  }
  for (const { what, range } of low) {
    if (!rangeInside(ram, range)) throw new LinuxBootError(`${what} at ${hex(range.start)}-${hex(range.end)} is not in RAM (RAM: ${describeRanges(ram)})`);
    if (rangesOverlap(range, footprint)) {
      throw new LinuxBootError(`the kernel's memory ${hex(footprint.start)}-${hex(footprint.end)} overlaps ${what} at ${hex(range.start)}-${hex(range.end)}`);
    }
  }

  // The initrd (`ramdisk_image`, `initrd_addr_max`): as high as it fits.
  let initrd: PhysicalRange | undefined;
  const initrdData = options.initrd;
  if (initrdData !== undefined && initrdData.length > 0) {
    const limit = Math.min(hdr.initrdAddrMax + 1, FOUR_GIB);
    const above1M = intersectRanges(usable, [{ start: ONE_MIB, end: FOUR_GIB }]);
    const start = placeHigh(above1M, [footprint, ...low.map((l) => l.range)], initrdData.length, limit);
    if (start === undefined) {
      throw new LinuxBootError(
        `no room for the ${initrdData.length}-byte initrd in usable RAM from 1 MiB to ${hex(limit)} (initrd_addr_max ${hex(hdr.initrdAddrMax)}), ` +
          `clear of the kernel at ${hex(footprint.start)}-${hex(footprint.end)}`,
      );
    }
    initrd = { start, end: start + initrdData.length };
  }

  const rsdp = options.acpiRsdp;
  if (rsdp !== undefined && !(Number.isSafeInteger(rsdp) && rsdp >= 0)) throw new LinuxBootError(`acpiRsdp ${String(rsdp)} is not a physical address`);

  // Everything checked: build boot_params ("32-bit Boot Protocol": zeroed, then the setup header
  // copied from 0x1F1 of the image up to 0x202 + the byte at 0x201).
  const bp = new Uint8Array(BP.SIZE);
  const v = new DataView(bp.buffer);
  bp.set(image.subarray(BP.HDR, hdr.headerEnd), BP.HDR);
  bp[HDR.TYPE_OF_LOADER] = LINUX_LOADER_TYPE;
  bp[HDR.EXT_LOADER_VER] = 0;
  bp[HDR.EXT_LOADER_TYPE] = 0;
  bp[HDR.LOADFLAGS] = hdr.loadflags | LinuxLoadFlag.CAN_USE_HEAP;
  v.setUint16(HDR.HEAP_END_PTR, HEAP_END - 0x200, true);
  v.setUint32(HDR.CODE32_START, loadAddress, true);
  v.setUint32(HDR.CMD_LINE_PTR, L.cmdline, true);
  v.setUint32(BP.EXT_CMD_LINE_PTR, 0, true);
  v.setUint32(HDR.RAMDISK_IMAGE, initrd ? initrd.start % FOUR_GIB : 0, true);
  v.setUint32(HDR.RAMDISK_SIZE, initrdData && initrd ? initrdData.length % FOUR_GIB : 0, true);
  v.setUint32(BP.EXT_RAMDISK_IMAGE, initrd ? Math.floor(initrd.start / FOUR_GIB) : 0, true);
  v.setUint32(BP.EXT_RAMDISK_SIZE, initrdData && initrd ? Math.floor(initrdData.length / FOUR_GIB) : 0, true);
  if (hdr.version >= 0x0209) setUint64(v, HDR.SETUP_DATA, 0); // no setup_data list
  if (rsdp !== undefined) setUint64(v, BP.ACPI_RSDP_ADDR, rsdp);
  // ext_mem_k (INT 15h AX=E801/88h style) and alt_mem_k: KiB of usable RAM from 1 MiB up.
  const extKiB = Math.floor(contiguousFrom(usable, ONE_MIB) / 1024);
  v.setUint16(BP.EXT_MEM_K, Math.min(extKiB, 0xffff), true);
  v.setUint32(BP.ALT_MEM_K, Math.min(extKiB, 0xffff_ffff), true);
  bp[BP.E820_ENTRIES] = e820.length;
  e820.forEach((e, i) => {
    const o = BP.E820_TABLE + i * E820_ENTRY_SIZE;
    setUint64(v, o, e.addr);
    setUint64(v, o + 8, e.size);
    v.setUint32(o + 16, e.type, true);
  });

  memory.write(kernel.start as Hpa, image.subarray(hdr.kernelOffset));
  memory.write(L.bootParams as Hpa, bp);
  memory.write(L.cmdline as Hpa, cmdline);
  if (initrd && initrdData) memory.write(initrd.start as Hpa, initrdData);
  memory.write(L.gdt as Hpa, gdt(mode));
  let cr3: number | undefined;
  let pageTables: PhysicalRange | undefined;
  if (mode === 64) {
    cr3 = L.pageTables;
    pageTables = { start: L.pageTables, end: L.pageTables + PAGE_TABLE_PAGES * PAGE_SIZE };
    memory.write(L.pageTables as Hpa, identityMap4GiB(L.pageTables));
  }

  return {
    mode,
    entry: mode === 64 ? loadAddress + 0x200 : loadAddress,
    bootParams: L.bootParams,
    gdt: { base: L.gdt, limit: GDT_SIZE - 1 },
    codeSelector: LINUX_BOOT_CS,
    dataSelector: LINUX_BOOT_DS,
    ...(cr3 !== undefined ? { cr3, pageTables } : {}),
    kernel,
    footprint,
    ...(initrd ? { initrd } : {}),
    cmdline: { start: L.cmdline, end: L.cmdline + cmdline.length },
    header: hdr,
  };
}

/**
 * The GDT of "32-bit Boot Protocol" / "64-bit Boot Protocol": `__BOOT_CS` (0x10) a flat 4 GiB
 * execute/read code segment (32-bit, or 64-bit with L = 1 for the 64-bit protocol) and
 * `__BOOT_DS` (0x18) a flat 4 GiB read/write data segment (Intel SDM Vol. 3A §3.4.5,
 * "Segment Descriptors"). Entries 0 and 1 (0x08) are null. The accessed bits are preset, so
 * loading a selector never writes to the table.
 */
function gdt(mode: 32 | 64): Uint8Array {
  const table = new Uint8Array(GDT_SIZE);
  const v = new DataView(table.buffer);
  // limit 0xFFFFF with G = 1; base 0; access byte; flags nibble (G, D/B, L).
  const descriptor = (offset: number, access: number, flags: number) => {
    v.setUint16(offset, 0xffff, true);
    table[offset + 5] = access;
    table[offset + 6] = (flags << 4) | 0xf;
  };
  descriptor(LINUX_BOOT_CS, 0x9b, mode === 64 ? 0xa : 0xc); // P, S, code exec/read accessed; G+L or G+D
  descriptor(LINUX_BOOT_DS, 0x93, 0xc); // P, S, data read/write accessed; G+B
  return table;
}

/**
 * 4-level page tables identity-mapping the first 4 GiB with 2 MiB pages (SDM Vol. 3A §4.5):
 * PML4[0] → PDPT, PDPT[0..3] → four page directories, each PDE a 2 MiB page (PS = 1),
 * present and writable. 2 MiB pages need no CPUID feature (1 GiB pages would need PDPE1GB).
 */
function identityMap4GiB(base: number): Uint8Array {
  const t = new Uint8Array(PAGE_TABLE_PAGES * PAGE_SIZE);
  const v = new DataView(t.buffer);
  const pdpt = base + PAGE_SIZE;
  v.setUint32(0, pdpt | PTE_P | PTE_RW, true);
  for (let g = 0; g < 4; g++) {
    const pd = base + (2 + g) * PAGE_SIZE;
    v.setUint32(PAGE_SIZE + g * 8, pd | PTE_P | PTE_RW, true);
    for (let i = 0; i < 512; i++) {
      const o = (2 + g) * PAGE_SIZE + i * 8;
      const addr = g * 0x4000_0000 + i * 0x20_0000;
      setUint64(v, o, addr + (PTE_P | PTE_RW | PTE_PS));
    }
  }
  return t;
}

/** Bytes of `ranges` (sorted, merged) contiguous from `start`. */
function contiguousFrom(ranges: readonly PhysicalRange[], start: number): number {
  const r = ranges.find((x) => x.start <= start && x.end > start);
  return r ? r.end - start : 0;
}

/**
 * The highest page-aligned address where `size` bytes lie wholly in one of `ranges`, end at or
 * below `limit`, and touch none of `busy`.
 */
function placeHigh(ranges: readonly PhysicalRange[], busy: readonly PhysicalRange[], size: number, limit: number): number | undefined {
  for (let i = ranges.length - 1; i >= 0; i--) {
    const r = ranges[i]!;
    let top = Math.min(r.end, limit);
    for (;;) {
      const start = alignDown(top - size, PAGE_SIZE);
      if (start < r.start || top - size < 0) break;
      const candidate = { start, end: start + size };
      const clashes = busy.filter((b) => rangesOverlap(b, candidate));
      if (clashes.length === 0) return start;
      top = Math.min(...clashes.map((b) => b.start));
    }
  }
  return undefined;
}
