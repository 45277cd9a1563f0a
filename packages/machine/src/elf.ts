/**
 * An ELF kernel loader for x86: ELF32 and ELF64 executables, loaded from their program headers.
 *
 * References are to the System V ABI, "gABI" chapters 4 ("ELF Header") and 5 ("Program
 * Header", "Program Loading"), and its Intel386 and AMD64 supplements (`EM_386`, `EM_X86_64`).
 *
 * What is accepted:
 *
 * - **Class and machine.** ELF32 and ELF64, little-endian, for `EM_386` or `EM_X86_64`, in
 *   either combination by default. That is what QEMU's ELF loader accepts for an x86-64
 *   target (`load_elf` with `EM_X86_64` takes `EM_386` too, whatever the class), and it covers
 *   the files people actually make: ELF64 x86-64 kernels, ELF32 i386 kernels, 64-bit code
 *   repackaged with `objcopy -O elf32-i386` (EM_386) or `-O elf32-x86-64` (x32, EM_X86_64).
 *   GRUB pairs the class with the machine strictly (ELF32 with EM_386, ELF64 with EM_X86_64);
 *   a caller that wants that passes {@link ElfParseOptions.machines}.
 * - **Type.** `ET_EXEC`, and `ET_DYN` loaded at its link address without relocation (a
 *   position-independent kernel relocates itself, or was linked where it is meant to run).
 * - **Addresses.** `PT_LOAD` segments go to `p_paddr`, the physical address, as QEMU and GRUB
 *   load them (paging is off when a loaded kernel starts); {@link ElfLoadOptions.useVirtual}
 *   loads at `p_vaddr` instead. `p_filesz` bytes are copied and the rest of `p_memsz` zeroed.
 *   Segments with `p_memsz` 0 are skipped, as QEMU does.
 * - **Entry.** `e_entry` is a virtual address: it is translated to a physical one through the
 *   segment whose `[p_vaddr, p_vaddr + p_memsz)` holds it (as GRUB and QEMU do). A file whose
 *   `e_entry` is already physical (Linux's `vmlinux`: `p_vaddr` in the top 2 GiB, `e_entry`
 *   the physical `startup_64`) is accepted when `e_entry` lies in a segment's
 *   `[p_paddr, p_paddr + p_memsz)`. The segment found must be executable (`PF_X`): an entry
 *   point anywhere else is an error, not a warning, since the CPU would run data.
 *
 * Everything is checked before anything is written: a bad file throws an {@link ElfError}
 * that names the field, and memory is left untouched.
 */
import { hex, PHYS_ADDR_LIMIT, type Hpa } from '@hvkit/platform';
import { describeRanges, KernelImageError, ramRanges, rangeInside, type LoaderMemory, type PhysicalRange } from './loader-error.js';

/** A malformed ELF file, or one that cannot be loaded into this machine's RAM. */
export class ElfError extends KernelImageError {
  override readonly name = 'ElfError';
}

/** `e_ident[EI_CLASS]` (gABI "ELF Identification"). */
export const ElfClass = { ELF32: 1, ELF64: 2 } as const;
/** `e_machine` values this loader knows (gABI "ELF Header"; psABI supplements). */
export const ElfMachine = { I386: 3, X86_64: 62 } as const;
/** `e_type` values (gABI "ELF Header"). */
export const ElfType = { EXEC: 2, DYN: 3 } as const;
/** `p_type` of a loadable segment (gABI "Program Header"). */
export const PT_LOAD = 1;
/** `p_flags` bits (gABI "Segment Permissions"). */
export const ElfSegmentFlag = { X: 1, W: 2, R: 4 } as const;

const ELF_MAGIC = 0x464c457f; // "\x7fELF", read little-endian
const EI_NIDENT = 16;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
/** `e_phnum` escape for more than 0xFFFF program headers (gABI "Program Header", PN_XNUM). */
const PN_XNUM = 0xffff;
const FOUR_GIB = 0x1_0000_0000;
const U64_END = 1n << 64n;

/** Header and program-header sizes by class: `[ELF32, ELF64]`. */
const EHDR_SIZE = { 1: 52, 2: 64 } as const;
const PHDR_SIZE = { 1: 32, 2: 56 } as const;

/** One `PT_LOAD` program header with `p_memsz` > 0, and its bytes in the file. */
export interface ElfSegment {
  /** Index of the program header in the file. */
  readonly index: number;
  /** `p_flags`: {@link ElfSegmentFlag} bits. */
  readonly flags: number;
  /** `p_offset`: where the segment's bytes start in the file. */
  readonly offset: number;
  /** `p_vaddr` (64-bit exact). */
  readonly vaddr: bigint;
  /** `p_paddr` (64-bit exact). */
  readonly paddr: bigint;
  /** `p_filesz`: bytes copied from the file. */
  readonly filesz: number;
  /** `p_memsz`: bytes the segment occupies in memory; those past `p_filesz` are zeroed. */
  readonly memsz: number;
  /** The `p_filesz` bytes (a view into the image). */
  readonly data: Uint8Array;
}

/** A parsed ELF executable. */
export interface ElfImage {
  /** 32 for ELFCLASS32, 64 for ELFCLASS64. */
  readonly bits: 32 | 64;
  /** `e_machine`: {@link ElfMachine}. */
  readonly machine: number;
  /** `e_type`: {@link ElfType}. */
  readonly type: number;
  /** `e_entry` as stored (a virtual address; 64-bit exact). */
  readonly entry: bigint;
  /** The `PT_LOAD` segments with `p_memsz` > 0, in program-header order. */
  readonly segments: readonly ElfSegment[];
  /** `e_phnum`: program headers of every type. */
  readonly programHeaders: number;
}

export interface ElfParseOptions {
  /** Accepted `e_machine` values; both {@link ElfMachine} values by default. */
  machines?: readonly number[];
  /** Accepted `e_type` values; `ET_EXEC` and `ET_DYN` by default. */
  types?: readonly number[];
}

export interface ElfLoadOptions extends ElfParseOptions {
  /** Load segments at `p_vaddr` instead of `p_paddr` (for files whose `p_paddr` is meaningless). */
  useVirtual?: boolean;
}

/** Where a loaded ELF file went and where to start it. */
export interface ElfBoot {
  /** The physical entry point: `e_entry` translated through the segment holding it. */
  readonly entry: number;
  /** Each loaded segment's physical range, BSS included, in program-header order. */
  readonly segments: readonly PhysicalRange[];
  /** The parsed file. */
  readonly image: ElfImage;
}

const MACHINE_NAMES: Record<number, string> = { [ElfMachine.I386]: 'i386 (EM_386)', [ElfMachine.X86_64]: 'x86-64 (EM_X86_64)' };
const machineName = (m: number): string => MACHINE_NAMES[m] ?? `machine ${m}`;
const big = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * Parses and validates an ELF executable: the identification, the header, and every `PT_LOAD`
 * program header (gABI chapters 4 and 5). Memory is not involved; {@link loadElf} checks
 * where the segments go.
 */
export function parseElf(image: Uint8Array, options: ElfParseOptions = {}): ElfImage {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // gABI "ELF Identification": magic, class, data encoding, version.
  if (image.length < 4 || view.getUint32(0, true) !== ELF_MAGIC) throw new ElfError('the image is not an ELF file (no \\x7fELF magic at offset 0)');
  if (image.length < EI_NIDENT) throw new ElfError(`the ELF identification is truncated (${image.length} of ${EI_NIDENT} bytes)`);
  const cls = image[4]!;
  if (cls !== ElfClass.ELF32 && cls !== ElfClass.ELF64) throw new ElfError(`the ELF file has an unknown class ${cls} (EI_CLASS must be 1 for ELF32 or 2 for ELF64)`);
  if (image[5] !== ELFDATA2LSB) throw new ElfError(`the ELF file is not little-endian (EI_DATA ${image[5]}, x86 needs 1, ELFDATA2LSB)`);
  const ehsize = EHDR_SIZE[cls];
  if (image.length < ehsize) throw new ElfError(`the ELF header is truncated (${image.length} of ${ehsize} bytes)`);
  if (image[6] !== EV_CURRENT) throw new ElfError(`the ELF file has EI_VERSION ${image[6]}, not 1 (EV_CURRENT)`);
  const is64 = cls === ElfClass.ELF64;

  // gABI "ELF Header".
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  const machines = options.machines ?? [ElfMachine.I386, ElfMachine.X86_64];
  if (!machines.includes(machine)) {
    throw new ElfError(`the ELF file is for ${machineName(machine)}, not ${machines.map(machineName).join(' or ')} (e_machine)`);
  }
  const types = options.types ?? [ElfType.EXEC, ElfType.DYN];
  if (!types.includes(type)) {
    const wanted = types.map((t) => (t === ElfType.EXEC ? 'ET_EXEC' : t === ElfType.DYN ? 'ET_DYN' : `${t}`)).join(' or ');
    throw new ElfError(`the ELF file is not an executable (e_type ${type}): this loader takes ${wanted}`);
  }
  const version = view.getUint32(20, true);
  if (version !== EV_CURRENT) throw new ElfError(`the ELF file has e_version ${version}, not 1 (EV_CURRENT)`);
  const entry = is64 ? view.getBigUint64(24, true) : BigInt(view.getUint32(24, true));
  const phoffBig = is64 ? view.getBigUint64(32, true) : BigInt(view.getUint32(28, true));
  const sizes = is64 ? 52 : 40;
  const eh = view.getUint16(sizes, true);
  const phentsize = view.getUint16(sizes + 2, true);
  const phnum = view.getUint16(sizes + 4, true);
  if (eh < ehsize) throw new ElfError(`the ELF header size e_ehsize ${eh} is smaller than ${ehsize}`);
  if (phnum === 0) throw new ElfError('the ELF file has no program headers (e_phnum 0)');
  if (phnum === PN_XNUM) throw new ElfError('the ELF file uses extended program header numbering (e_phnum 0xffff, PN_XNUM), which this loader does not support');
  const phsize = PHDR_SIZE[cls];
  if (phentsize < phsize) throw new ElfError(`the ELF program header size e_phentsize ${phentsize} is smaller than ${phsize}`);
  const tableEnd = phoffBig + BigInt(phnum * phentsize);
  if (tableEnd > BigInt(image.length)) {
    throw new ElfError(`the ELF program headers (${phnum} at offset ${big(phoffBig)}) extend past the end of the ${image.length}-byte file (e_phoff, e_phnum, e_phentsize)`);
  }
  const phoff = Number(phoffBig);

  // gABI "Program Header".
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (view.getUint32(p, true) !== PT_LOAD) continue;
    let flags: number, offset: bigint, vaddr: bigint, paddr: bigint, filesz: bigint, memsz: bigint;
    if (is64) {
      flags = view.getUint32(p + 4, true);
      offset = view.getBigUint64(p + 8, true);
      vaddr = view.getBigUint64(p + 16, true);
      paddr = view.getBigUint64(p + 24, true);
      filesz = view.getBigUint64(p + 32, true);
      memsz = view.getBigUint64(p + 40, true);
    } else {
      offset = BigInt(view.getUint32(p + 4, true));
      vaddr = BigInt(view.getUint32(p + 8, true));
      paddr = BigInt(view.getUint32(p + 12, true));
      filesz = BigInt(view.getUint32(p + 16, true));
      memsz = BigInt(view.getUint32(p + 20, true));
      flags = view.getUint32(p + 24, true);
    }
    if (filesz > memsz) throw new ElfError(`ELF segment ${i}: p_filesz ${big(filesz)} is larger than p_memsz ${big(memsz)}`);
    if (memsz === 0n) continue;
    if (filesz > 0n && offset + filesz > BigInt(image.length)) {
      throw new ElfError(`ELF segment ${i} is truncated: ${filesz} bytes at file offset ${big(offset)}, the file has ${image.length} (p_offset + p_filesz)`);
    }
    if (!is64) {
      if (paddr + memsz > BigInt(FOUR_GIB)) throw new ElfError(`ELF segment ${i} at ${big(paddr)} extends past 4 GiB (p_paddr + p_memsz wraps the 32-bit address space)`);
      if (vaddr + memsz > BigInt(FOUR_GIB)) throw new ElfError(`ELF segment ${i} at virtual ${big(vaddr)} extends past 4 GiB (p_vaddr + p_memsz wraps the 32-bit address space)`);
    } else {
      if (paddr + memsz > U64_END) throw new ElfError(`ELF segment ${i} at ${big(paddr)} wraps past the end of the 64-bit address space (p_paddr + p_memsz)`);
      if (vaddr + memsz > U64_END) throw new ElfError(`ELF segment ${i} at virtual ${big(vaddr)} wraps past the end of the 64-bit address space (p_vaddr + p_memsz)`);
    }
    if (memsz >= BigInt(PHYS_ADDR_LIMIT)) throw new ElfError(`ELF segment ${i}: p_memsz ${big(memsz)} is larger than the 52-bit physical address space`);
    const off = Number(offset);
    const size = Number(filesz);
    segments.push({
      index: i,
      flags,
      offset: size > 0 ? off : 0,
      vaddr,
      paddr,
      filesz: size,
      memsz: Number(memsz),
      data: size > 0 ? image.subarray(off, off + size) : new Uint8Array(0),
    });
  }
  if (segments.length === 0) throw new ElfError('the ELF file has no loadable (PT_LOAD) segments');
  return { bits: is64 ? 64 : 32, machine, type, entry, segments, programHeaders: phnum };
}

/** A segment with the physical range it will be loaded to. */
export interface PlacedSegment {
  readonly segment: ElfSegment;
  readonly start: number;
  readonly end: number;
}

/**
 * The physical range of every segment (`p_paddr`, or `p_vaddr` with `useVirtual`), each below
 * `limit`, none overlapping another (gABI "Program Header": loadable segments do not overlap;
 * QEMU also refuses overlapping segments). Throws {@link ElfError}.
 */
export function placeSegments(image: ElfImage, useVirtual: boolean, limit: number = PHYS_ADDR_LIMIT): PlacedSegment[] {
  const field = useVirtual ? 'p_vaddr' : 'p_paddr';
  const placed = image.segments.map((segment) => {
    const addr = useVirtual ? segment.vaddr : segment.paddr;
    if (addr + BigInt(segment.memsz) > BigInt(limit)) {
      throw new ElfError(`ELF segment ${segment.index} at ${big(addr)} (${field}) extends past ${hex(limit)}, the end of the addresses it can be loaded to`);
    }
    const start = Number(addr);
    return { segment, start, end: start + segment.memsz };
  });
  const sorted = [...placed].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.start < a.end) {
      throw new ElfError(
        `ELF segments ${a.segment.index} (${hex(a.start)}-${hex(a.end)}) and ${b.segment.index} (${hex(b.start)}-${hex(b.end)}) overlap (${field} + p_memsz)`,
      );
    }
  }
  return placed;
}

/**
 * Loads an ELF executable's `PT_LOAD` segments into RAM and returns its physical entry point.
 * Every segment must lie wholly in one RAM region (never ROM, MMIO or unmapped addresses).
 * Throws {@link ElfError} and writes nothing when anything is wrong.
 */
export function loadElf(memory: LoaderMemory, image: Uint8Array, options: ElfLoadOptions = {}): ElfBoot {
  const elf = parseElf(image, options);
  const useVirtual = options.useVirtual ?? false;
  const placed = placeSegments(elf, useVirtual);
  const ram = ramRanges(memory);
  for (const p of placed) {
    if (!rangeInside(ram, p)) {
      throw new ElfError(`ELF segment ${p.segment.index} at ${hex(p.start)}-${hex(p.end)} is not wholly in RAM (RAM: ${describeRanges(ram)})`);
    }
  }
  const entry = physicalEntry(elf, placed);

  for (const p of placed) {
    const s = p.segment;
    if (s.filesz > 0) memory.write(p.start as Hpa, s.data);
    if (s.memsz > s.filesz) memory.fill((p.start + s.filesz) as Hpa, s.memsz - s.filesz, 0);
  }
  return { entry, segments: placed.map((p) => ({ start: p.start, end: p.end })), image: elf };
}

/**
 * `e_entry` as a physical address: through the segment whose virtual range holds it, else the
 * segment whose physical range holds it. That segment must be executable (`PF_X`).
 */
function physicalEntry(elf: ElfImage, placed: readonly PlacedSegment[]): number {
  const e = elf.entry;
  const byVirtual = placed.find((p) => e >= p.segment.vaddr && e < p.segment.vaddr + BigInt(p.segment.memsz));
  const byPhysical = placed.find((p) => e >= p.segment.paddr && e < p.segment.paddr + BigInt(p.segment.memsz));
  const holder = byVirtual ?? byPhysical;
  if (holder === undefined) throw new ElfError(`the entry point e_entry ${big(e)} is not inside any loaded (PT_LOAD) segment`);
  if (!(holder.segment.flags & ElfSegmentFlag.X)) {
    throw new ElfError(`the entry point e_entry ${big(e)} is in ELF segment ${holder.segment.index}, which is not executable (p_flags lacks PF_X)`);
  }
  const base = holder === byVirtual ? holder.segment.vaddr : holder.segment.paddr;
  return holder.start + Number(e - base);
}
