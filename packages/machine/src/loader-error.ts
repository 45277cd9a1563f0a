/**
 * What the kernel loaders (flat, ELF, Multiboot, Linux) share: the error base class, the view
 * of physical memory they need, and the RAM checks that keep them from writing anywhere else.
 *
 * Every loader checks everything before it writes its first byte, and writes only to RAM
 * regions it has checked: a malformed or hostile image cannot reach ROM, MMIO or unmapped
 * addresses, and a rejected image leaves memory untouched.
 */
import { hex, RegionKind, type MemoryRegion, type PhysicalMemory } from '@hvkit/platform';
import type { ElfError } from './elf.js';
import type { FlatImageError } from './flat.js';
import type { LinuxBootError } from './linux.js';
import type { MultibootError } from './multiboot.js';

/**
 * An image or a loader option that cannot be booted; the message says why, in words fit to
 * print after the program name (`hvkit: <message>`). Every loader's error extends it.
 */
export class KernelImageError extends Error {
  override readonly name: string = 'KernelImageError';
}

/** What the loaders need of physical memory: a `PhysicalMemory` is one. */
export type LoaderMemory = Pick<PhysicalMemory, 'write' | 'fill'> & {
  memoryRegions(): readonly Pick<MemoryRegion, 'kind' | 'base' | 'end'>[];
};

/** A half-open range [start, end) of physical addresses. */
export interface PhysicalRange {
  readonly start: number;
  readonly end: number;
}

/** The machine's RAM as sorted, merged ranges. */
export function ramRanges(memory: LoaderMemory): PhysicalRange[] {
  return mergeRanges(memory.memoryRegions().filter((r) => r.kind === RegionKind.Ram).map((r) => ({ start: r.base, end: r.end })));
}

/** `ranges` sorted, with overlapping and adjacent ranges merged; empty ranges dropped. */
export function mergeRanges(ranges: readonly PhysicalRange[]): PhysicalRange[] {
  const sorted = ranges.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** The parts of sorted, merged `a` that are also in sorted, merged `b`. */
export function intersectRanges(a: readonly PhysicalRange[], b: readonly PhysicalRange[]): PhysicalRange[] {
  const out: PhysicalRange[] = [];
  for (const x of a) {
    for (const y of b) {
      const start = Math.max(x.start, y.start);
      const end = Math.min(x.end, y.end);
      if (end > start) out.push({ start, end });
    }
  }
  return out;
}

/** Whether `range` lies wholly inside one of the sorted, merged `ranges` (an empty range always does). */
export function rangeInside(ranges: readonly PhysicalRange[], range: PhysicalRange): boolean {
  return range.end === range.start || ranges.some((r) => range.start >= r.start && range.end <= r.end);
}

/** Whether two half-open ranges share an address. */
export function rangesOverlap(a: PhysicalRange, b: PhysicalRange): boolean {
  return a.start < b.end && b.start < a.end && a.end > a.start && b.end > b.start;
}

/** "0x0-0xa0000, 0x100000-0x400000", or "none". */
export function describeRanges(ranges: readonly PhysicalRange[]): string {
  return ranges.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ') || 'none';
}

export function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

export function alignDown(value: number, align: number): number {
  return Math.floor(value / align) * align;
}

/**
 * `text` as NUL-terminated UTF-8. A string with an embedded NUL would end early in the guest,
 * so it is refused: `fail` builds the loader's own error from the message.
 */
export function cString(text: string, what: string, fail: (message: string) => Error): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c === 0) throw fail(`the ${what} contains a NUL character`);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  out.push(0);
  return Uint8Array.from(out);
}

/** Writes `value` (a safe non-negative integer) as a little-endian 64-bit number. */
export function setUint64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x1_0000_0000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** Every error a kernel loader throws; all are {@link KernelImageError}s. */
export type LoaderError = ElfError | FlatImageError | LinuxBootError | MultibootError;
