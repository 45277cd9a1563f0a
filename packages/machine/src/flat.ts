/**
 * A flat-binary loader: the raw bytes of an image at one physical address (QEMU's
 * `-device loader,file=...,addr=...` does the same for a file that is not ELF).
 *
 * The image must land wholly in one RAM region, and the entry point (the load address unless
 * given) must be one of its bytes. Nothing is written unless both hold.
 */
import { hex, PHYS_ADDR_LIMIT, type Hpa } from '@hvkit/platform';
import { describeRanges, KernelImageError, ramRanges, rangeInside, type LoaderMemory, type PhysicalRange } from './loader-error.js';

/** A flat image that cannot be loaded as asked. */
export class FlatImageError extends KernelImageError {
  override readonly name = 'FlatImageError';
}

export interface FlatOptions {
  /** The physical address of the image's first byte. */
  address: number;
  /** The physical entry point; `address` by default. It must lie inside the image. */
  entry?: number;
}

export interface FlatBoot {
  /** The physical entry point. */
  readonly entry: number;
  /** Where the image went. */
  readonly range: PhysicalRange;
}

/** Copies `image` to `options.address` in RAM. Throws {@link FlatImageError} (writing nothing) when it does not fit. */
export function loadFlat(memory: LoaderMemory, image: Uint8Array, options: FlatOptions): FlatBoot {
  const { address } = options;
  if (!Number.isSafeInteger(address) || address < 0 || address >= PHYS_ADDR_LIMIT) {
    throw new FlatImageError(`the load address ${String(address)} is not a physical address (an integer from 0 to 2^52 - 1)`);
  }
  if (image.length === 0) throw new FlatImageError('the flat image is empty');
  const range = { start: address, end: address + image.length };
  const ram = ramRanges(memory);
  if (!rangeInside(ram, range)) {
    throw new FlatImageError(`the ${image.length}-byte image at ${hex(range.start)}-${hex(range.end)} is not wholly in RAM (RAM: ${describeRanges(ram)})`);
  }
  const entry = options.entry ?? address;
  if (!Number.isSafeInteger(entry) || entry < range.start || entry >= range.end) {
    const shown = Number.isSafeInteger(entry) && entry >= 0 ? hex(entry) : String(entry);
    throw new FlatImageError(`the entry point ${shown} is outside the loaded image (${hex(range.start)}-${hex(range.end)})`);
  }
  memory.write(address as Hpa, image);
  return { entry, range };
}
