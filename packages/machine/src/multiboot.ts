/**
 * A Multiboot 1 loader, after the Multiboot Specification version 0.6.96 (section names below
 * are the specification's).
 *
 * `loadMultiboot` finds the Multiboot header of a kernel image, loads the image (the ELF32
 * program headers, or the header's address fields when flag bit 16 asks for them), loads any
 * modules, writes the Multiboot information structure, and returns the register values of
 * §3.2 "Machine state": EAX = 0x2BADB002, EBX = the information structure's address, EIP =
 * the entry point. Putting the CPU in that state (32-bit protected mode with flat 4 GiB
 * CS/DS/ES/FS/GS/SS, paging off, A20 on, IF = 0) is the board's job, not the loader's.
 *
 * Everything is checked before the first byte is written: an image that is not a Multiboot
 * kernel, or does not fit the machine's RAM, throws a {@link MultibootError} and leaves memory
 * untouched. The loader writes only to RAM it has checked, so a hostile image cannot reach
 * ROM, MMIO or addresses past the end of memory.
 */
import { hex, PAGE_SIZE, RegionKind, type Hpa } from '@hvkit/platform';
import { ElfError, ElfMachine, ElfType, parseElf, placeSegments, type PlacedSegment } from './elf.js';
import {
  alignUp,
  cString as encodeCString,
  describeRanges,
  intersectRanges as intersect,
  KernelImageError,
  mergeRanges,
  ramRanges,
  rangeInside,
  setUint64,
  type LoaderMemory,
  type PhysicalRange,
} from './loader-error.js';

export type { PhysicalRange } from './loader-error.js';

/** §3.1.2 "The magic fields of Multiboot header": the header's `magic`. */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** §3.2 "Machine state": the value in EAX when the kernel starts. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** §3.1.1 "The layout of Multiboot header": the header lies within the first 8192 bytes. */
export const MULTIBOOT_SEARCH = 8192;

/** Header `flags` bits (§3.1.2). Bits 0-15 are requirements; 16-31 optional features. */
export const MultibootHeaderFlag = {
  /** Bit 0: load modules on 4 KiB page boundaries. */
  PAGE_ALIGN: 1 << 0,
  /** Bit 1: provide `mem_*` (and the memory map when available). */
  MEMORY_INFO: 1 << 1,
  /** Bit 2: provide the video mode table (and set a video mode). */
  VIDEO_MODE: 1 << 2,
  /** Bit 16: the address fields at offsets 12-28 are valid ("a.out kludge"). */
  ADDRESS_FIELDS: 1 << 16,
} as const;

/** Information structure `flags` bits (§3.3 "Boot information format"). */
export const MultibootInfoFlag = {
  MEMORY: 1 << 0,
  BOOT_DEVICE: 1 << 1,
  CMDLINE: 1 << 2,
  MODULES: 1 << 3,
  MEMORY_MAP: 1 << 6,
  BOOT_LOADER_NAME: 1 << 9,
} as const;

/** Memory map entry types (§3.3): 1 is RAM available to the OS; any other value is reserved. */
export const MultibootMemoryType = {
  AVAILABLE: 1,
  RESERVED: 2,
} as const;

/** A Multiboot module: its bytes and its command line (§3.3, "mods_addr"). */
export interface MultibootModule {
  readonly data: Uint8Array;
  readonly cmdline?: string;
}

/** One memory map entry (§3.3, "mmap_addr"). */
export interface MultibootMemoryMapEntry {
  readonly base: number;
  readonly length: number;
  /** 1 = available RAM; anything else is reserved. */
  readonly type: number;
}

export interface MultibootOptions {
  /** The kernel command line; the empty string when absent. */
  cmdline?: string;
  /** Modules, loaded page-aligned after the kernel in the order given. */
  modules?: readonly MultibootModule[];
  /**
   * The memory map to report. By default it is derived from the memory's regions: RAM as type
   * 1, ROM as type 2 (reserved), adjacent regions of one type merged.
   */
  memoryMap?: readonly MultibootMemoryMapEntry[];
  /** `boot_loader_name`; "hvkit" by default. */
  bootLoaderName?: string;
}

/** What the loader needs of physical memory: a `PhysicalMemory` is one. */
export type MultibootMemory = LoaderMemory;

/** The result: the CPU state §3.2 asks for, and where everything went. */
export interface MultibootBoot {
  /** EIP: the kernel's entry point (physical; paging is off). */
  readonly entry: number;
  /** EAX: 0x2BADB002. */
  readonly eax: number;
  /** EBX: the physical address of the Multiboot information structure. */
  readonly ebx: number;
  /** The kernel image's loaded ranges, BSS included. */
  readonly kernel: readonly PhysicalRange[];
  /** Where each module was loaded. */
  readonly modules: readonly PhysicalRange[];
  /** The information structure with everything it points to (command lines, memory map, module list, name). */
  readonly info: PhysicalRange;
  /** The header's offset in the image and its `flags`. */
  readonly header: { readonly offset: number; readonly flags: number };
}

/** An image this loader cannot boot; the message says why. */
export class MultibootError extends KernelImageError {
  override readonly name = 'MultibootError';
}

/** ELF constants (System V ABI, "ELF Identification"). */
const ELF_MAGIC = 0x464c457f;
const ELFCLASS64 = 2;

/** Size of the information structure in 0.6.96 (up to the framebuffer fields). */
const MBI_SIZE = 116;
const MMAP_ENTRY_SIZE = 24;
const MODULE_ENTRY_SIZE = 16;
const FOUR_GIB = 0x1_0000_0000;
/** Lowest address used for the information structure: page 0 holds the real-mode IVT and BDA. */
const INFO_FLOOR = 0x1000;
/** §3.3: lower memory is at most 640 KiB. */
const LOWER_MEMORY_LIMIT = 0xa0000;
const ONE_MIB = 0x10_0000;

/** One piece of the image to copy: `src` bytes at `addr`, then zeros up to `memEnd`. */
interface Segment {
  addr: number;
  src: Uint8Array;
  memEnd: number;
}

/**
 * Loads a Multiboot 1 kernel into `memory` and returns the register state to start it in.
 * Throws {@link MultibootError} (leaving memory untouched) for an image it cannot boot.
 */
export function loadMultiboot(memory: MultibootMemory, image: Uint8Array, options: MultibootOptions = {}): MultibootBoot {
  const ram = ramRanges(memory);
  const header = findHeader(image);
  const { segments, entry } = header.flags & MultibootHeaderFlag.ADDRESS_FIELDS ? addressFieldSegments(image, header) : elfSegments(image);

  const kernel: PhysicalRange[] = [];
  for (const s of segments) {
    const range = { start: s.addr, end: s.memEnd };
    requireRam(ram, range, `the kernel segment at ${hex(s.addr)}-${hex(s.memEnd)}`);
    kernel.push(range);
  }
  if (!ram.some((r) => entry >= r.start && entry < r.end)) {
    throw new MultibootError(`the entry point ${hex(entry)} is not in RAM`);
  }

  // Modules go page-aligned after the kernel (header flag bit 0 asks for page alignment; we
  // always give it), as GRUB places them.
  let cursor = alignUp(Math.max(...kernel.map((k) => k.end)), PAGE_SIZE);
  const moduleRanges: PhysicalRange[] = [];
  for (const [i, m] of (options.modules ?? []).entries()) {
    const range = { start: cursor, end: cursor + m.data.length };
    requireRam(ram, range, `module ${i} (${m.data.length} bytes at ${hex(cursor)})`);
    moduleRanges.push(range);
    cursor = alignUp(Math.max(range.end, range.start + 1), PAGE_SIZE);
  }

  // The information structure and what it points to, in one block.
  const map = options.memoryMap ?? defaultMemoryMap(memory);
  for (const e of map) {
    if (!(Number.isSafeInteger(e.base) && Number.isSafeInteger(e.length) && e.base >= 0 && e.length >= 0 && Number.isInteger(e.type) && e.type >= 0 && e.type <= 0xffff_ffff)) {
      throw new MultibootError(`memory map entry ${JSON.stringify(e)} is not a valid range and type`);
    }
  }
  const cmdline = cString(options.cmdline ?? '', 'command line');
  const name = cString(options.bootLoaderName ?? 'hvkit', 'boot loader name');
  const moduleNames = (options.modules ?? []).map((m, i) => cString(m.cmdline ?? '', `command line of module ${i}`));
  const layout = new BlockLayout();
  const mbiOffset = layout.add(MBI_SIZE, 8);
  const mmapOffset = layout.add(map.length * MMAP_ENTRY_SIZE, 8);
  const modsOffset = layout.add(moduleRanges.length * MODULE_ENTRY_SIZE, 8);
  const cmdlineOffset = layout.add(cmdline.length, 1);
  const nameOffset = layout.add(name.length, 1);
  const moduleNameOffsets = moduleNames.map((n) => layout.add(n.length, 1));
  // The block goes in RAM the map reports as available, clear of the kernel and modules.
  const available = intersect(ram, mergeRanges(map.filter((e) => e.type === MultibootMemoryType.AVAILABLE).map((e) => ({ start: e.base, end: e.base + e.length }))));
  const infoBase = placeInfo(available, [...kernel, ...moduleRanges], layout.size);
  if (infoBase === undefined) {
    throw new MultibootError(`no free available RAM below 4 GiB for the ${layout.size}-byte Multiboot information structure`);
  }

  // Everything checked: write.
  for (const s of segments) {
    memory.write(s.addr as Hpa, s.src);
    const bssStart = s.addr + s.src.length;
    if (s.memEnd > bssStart) memory.fill(bssStart as Hpa, s.memEnd - bssStart, 0);
  }
  for (const [i, m] of (options.modules ?? []).entries()) memory.write(moduleRanges[i]!.start as Hpa, m.data);

  const block = new Uint8Array(layout.size);
  const view = new DataView(block.buffer);
  const at = (offset: number) => infoBase + offset;
  const { lower, upper } = memorySizes(map);
  const flags = MultibootInfoFlag.MEMORY | MultibootInfoFlag.CMDLINE | MultibootInfoFlag.MODULES | MultibootInfoFlag.MEMORY_MAP | MultibootInfoFlag.BOOT_LOADER_NAME;
  view.setUint32(mbiOffset + 0, flags, true);
  view.setUint32(mbiOffset + 4, lower, true);
  view.setUint32(mbiOffset + 8, upper, true);
  view.setUint32(mbiOffset + 16, at(cmdlineOffset), true);
  view.setUint32(mbiOffset + 20, moduleRanges.length, true);
  view.setUint32(mbiOffset + 24, at(modsOffset), true);
  view.setUint32(mbiOffset + 44, map.length * MMAP_ENTRY_SIZE, true);
  view.setUint32(mbiOffset + 48, at(mmapOffset), true);
  view.setUint32(mbiOffset + 64, at(nameOffset), true);
  map.forEach((e, i) => {
    const o = mmapOffset + i * MMAP_ENTRY_SIZE;
    view.setUint32(o, MMAP_ENTRY_SIZE - 4, true); // `size` does not count itself
    setUint64(view, o + 4, e.base);
    setUint64(view, o + 12, e.length);
    view.setUint32(o + 20, e.type, true);
  });
  moduleRanges.forEach((r, i) => {
    const o = modsOffset + i * MODULE_ENTRY_SIZE;
    view.setUint32(o, r.start, true);
    view.setUint32(o + 4, r.end, true);
    view.setUint32(o + 8, at(moduleNameOffsets[i]!), true);
  });
  block.set(cmdline, cmdlineOffset);
  block.set(name, nameOffset);
  moduleNames.forEach((n, i) => block.set(n, moduleNameOffsets[i]!));
  memory.write(infoBase as Hpa, block);

  return {
    entry,
    eax: MULTIBOOT_BOOTLOADER_MAGIC,
    ebx: at(mbiOffset),
    kernel,
    modules: moduleRanges,
    info: { start: infoBase, end: infoBase + layout.size },
    header: { offset: header.offset, flags: header.flags },
  };
}

interface Header {
  offset: number;
  flags: number;
}

/**
 * §3.1.1 "The layout of Multiboot header" and §3.1.2 "The magic fields of Multiboot header":
 * the header is 32-bit aligned within the first 8192 bytes, and magic + flags + checksum is 0
 * modulo 2^32. A loader that does not understand a requirement bit (0-15) must not boot.
 */
function findHeader(image: Uint8Array): Header {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(MULTIBOOT_SEARCH, image.length);
  let badChecksumAt = -1;
  for (let offset = 0; offset + 4 <= limit; offset += 4) {
    if (view.getUint32(offset, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    if (offset + 12 > image.length) throw new MultibootError(`the Multiboot header at offset ${hex(offset)} is truncated`);
    const flags = view.getUint32(offset + 4, true);
    const checksum = view.getUint32(offset + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) & 0xffff_ffff) !== 0) {
      if (badChecksumAt < 0) badChecksumAt = offset;
      continue;
    }
    const unsupported = flags & 0xffff & ~(MultibootHeaderFlag.PAGE_ALIGN | MultibootHeaderFlag.MEMORY_INFO);
    if (unsupported & MultibootHeaderFlag.VIDEO_MODE) {
      throw new MultibootError('the Multiboot header requires a video mode (flags bit 2), which this loader cannot set');
    }
    if (unsupported) throw new MultibootError(`the Multiboot header requires features this loader does not know (flags ${hex(flags)})`);
    if (flags & MultibootHeaderFlag.ADDRESS_FIELDS && offset + 32 > image.length) {
      throw new MultibootError(`the Multiboot header at offset ${hex(offset)} is truncated: flags bit 16 needs its address fields`);
    }
    return { offset, flags };
  }
  if (badChecksumAt >= 0) {
    throw new MultibootError(`the Multiboot header at offset ${hex(badChecksumAt)} has a bad checksum (magic + flags + checksum must be 0 modulo 2^32)`);
  }
  throw new MultibootError(`no Multiboot header (magic ${hex(MULTIBOOT_HEADER_MAGIC)}) in the first ${MULTIBOOT_SEARCH} bytes`);
}

/**
 * §3.1.3 "The address fields of Multiboot header": load the file from offset
 * `header offset - (header_addr - load_addr)` to `load_addr`, `load_end_addr - load_addr`
 * bytes (the rest of the file when 0), zero up to `bss_end_addr` (none when 0), enter at
 * `entry_addr`.
 */
function addressFieldSegments(image: Uint8Array, header: Header): { segments: Segment[]; entry: number } {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const o = header.offset;
  const headerAddr = view.getUint32(o + 12, true);
  const loadAddr = view.getUint32(o + 16, true);
  const loadEndAddr = view.getUint32(o + 20, true);
  const bssEndAddr = view.getUint32(o + 24, true);
  const entry = view.getUint32(o + 28, true);
  if (loadAddr > headerAddr) throw new MultibootError(`header_addr ${hex(headerAddr)} is below load_addr ${hex(loadAddr)}`);
  const fileStart = o - (headerAddr - loadAddr);
  if (fileStart < 0) {
    throw new MultibootError(`header_addr - load_addr (${hex(headerAddr - loadAddr)}) is larger than the header's offset in the file (${hex(o)})`);
  }
  let size: number;
  if (loadEndAddr === 0) {
    size = image.length - fileStart;
  } else {
    if (loadEndAddr < loadAddr) throw new MultibootError(`load_end_addr ${hex(loadEndAddr)} is below load_addr ${hex(loadAddr)}`);
    size = loadEndAddr - loadAddr;
    if (fileStart + size > image.length) {
      throw new MultibootError(`the image is truncated: load_end_addr asks for ${size} bytes from file offset ${hex(fileStart)}, the file has ${image.length - fileStart}`);
    }
  }
  const loadEnd = loadAddr + size;
  let memEnd = loadEnd;
  if (bssEndAddr !== 0) {
    if (bssEndAddr < loadEnd) throw new MultibootError(`bss_end_addr ${hex(bssEndAddr)} is below the end of the loaded image ${hex(loadEnd)}`);
    memEnd = bssEndAddr;
  }
  if (memEnd > FOUR_GIB) throw new MultibootError(`the image at ${hex(loadAddr)} extends past 4 GiB`);
  if (memEnd === loadAddr) throw new MultibootError('the address fields load nothing');
  return { segments: [{ addr: loadAddr, src: image.subarray(fileStart, fileStart + size), memEnd }], entry };
}

/**
 * An ELF32 executable for i386: its PT_LOAD segments at their physical addresses (`p_paddr`),
 * parsed and validated by {@link parseElf} (segments that overlap are refused). The file may
 * carry 64-bit code (`objcopy -O elf32-i386` of an x86-64 kernel): the loader looks at the
 * headers, not the code. ELF64 files and ELF32 files marked EM_X86_64 are refused, as QEMU's
 * Multiboot loader refuses them.
 */
function elfSegments(image: Uint8Array): { segments: Segment[]; entry: number } {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 16 || view.getUint32(0, true) !== ELF_MAGIC) {
    throw new MultibootError('the image is not ELF and its Multiboot header has no address fields (flags bit 16)');
  }
  if (image[4] === ELFCLASS64) {
    throw new MultibootError('the image is a 64-bit ELF file; Multiboot 1 loads ELF32 (wrap 64-bit code with objcopy -O elf32-i386, or use the address fields)');
  }
  let placed: PlacedSegment[];
  let entry: bigint;
  try {
    const elf = parseElf(image, { types: [ElfType.EXEC] });
    if (elf.machine === ElfMachine.X86_64) throw new MultibootError('the ELF file is for x86-64 (EM_X86_64); Multiboot 1 loads i386 (EM_386) images');
    placed = placeSegments(elf, false);
    entry = elf.entry;
  } catch (e) {
    if (e instanceof ElfError) throw new MultibootError(e.message, { cause: e });
    throw e;
  }
  // A kernel linked at a virtual address other than its load address enters through the
  // segment holding e_entry (as GRUB translates it; paging is off at entry).
  let physEntry = Number(entry);
  for (const { segment: s, start } of placed) {
    if (s.vaddr !== s.paddr && entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz)) physEntry = start + Number(entry - s.vaddr);
  }
  return { segments: placed.map((p) => ({ addr: p.start, src: p.segment.data, memEnd: p.end })), entry: physEntry };
}

function requireRam(ram: readonly PhysicalRange[], range: PhysicalRange, what: string): void {
  if (!rangeInside(ram, range)) throw new MultibootError(`${what} is not wholly in RAM (RAM: ${describeRanges(ram)})`);
}

/** RAM as type 1 and ROM as type 2, adjacent regions of one kind merged. */
function defaultMemoryMap(memory: MultibootMemory): MultibootMemoryMapEntry[] {
  const regions = [...memory.memoryRegions()].sort((a, b) => a.base - b.base);
  const out: { base: number; length: number; type: number }[] = [];
  for (const r of regions) {
    const type = r.kind === RegionKind.Ram ? MultibootMemoryType.AVAILABLE : MultibootMemoryType.RESERVED;
    const last = out[out.length - 1];
    if (last && last.type === type && last.base + last.length === r.base) last.length += r.end - r.base;
    else out.push({ base: r.base, length: r.end - r.base, type });
  }
  return out;
}

/**
 * §3.3 "Boot information format", `mem_lower`/`mem_upper`: KiB of RAM from 0 (at most 640)
 * and KiB of RAM from 1 MiB up to the first hole, both from the type-1 entries of the map.
 */
function memorySizes(map: readonly MultibootMemoryMapEntry[]): { lower: number; upper: number } {
  const ram = mergeRanges(map.filter((e) => e.type === MultibootMemoryType.AVAILABLE).map((e) => ({ start: e.base, end: e.base + e.length })));
  const contiguousFrom = (start: number): number => {
    const r = ram.find((x) => x.start <= start && x.end > start);
    return r ? r.end - start : 0;
  };
  const lower = Math.min(contiguousFrom(0), LOWER_MEMORY_LIMIT);
  const upper = contiguousFrom(ONE_MIB);
  return { lower: Math.floor(lower / 1024), upper: Math.min(Math.floor(upper / 1024), 0xffff_ffff) };
}

/**
 * The first RAM address (from 4 KiB, below 640 KiB first, then anywhere below 4 GiB) where
 * `size` bytes touch neither the kernel nor the modules.
 */
function placeInfo(ram: readonly PhysicalRange[], occupied: readonly PhysicalRange[], size: number): number | undefined {
  const busy = mergeRanges(occupied.filter((r) => r.end > r.start));
  const fits = (lo: number, hi: number): number | undefined => {
    for (const r of ram) {
      let start = alignUp(Math.max(r.start, lo), 16);
      const end = Math.min(r.end, hi);
      for (const b of busy) {
        if (start + size <= end && start + size <= b.start) break;
        if (b.end > start && b.start < start + size) start = alignUp(b.end, 16);
      }
      if (start + size <= end) return start;
    }
    return undefined;
  };
  return fits(INFO_FLOOR, LOWER_MEMORY_LIMIT) ?? fits(INFO_FLOOR, FOUR_GIB);
}

/** Offsets of the parts of the information block. */
class BlockLayout {
  size = 0;
  add(length: number, align: number): number {
    const offset = alignUp(this.size, align);
    this.size = offset + length;
    return offset;
  }
}

/** `text` as a NUL-terminated UTF-8 string; `what` names it in the error for an embedded NUL. */
function cString(text: string, what: string): Uint8Array {
  return encodeCString(text, what, (message) => new MultibootError(message));
}
