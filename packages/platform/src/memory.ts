/**
 * Physical memory: the machine's physical address space.
 *
 * - **RAM** is one `ArrayBuffer` (`PhysicalMemory.ram`). Slices of it are mapped at physical
 *   addresses with {@link PhysicalMemory.mapRam}, so a PC's low RAM, the hole below 4 GiB and
 *   RAM above 4 GiB share one buffer. The buffer is zero-filled by the host lazily: pages the
 *   guest never touches are never committed.
 * - **ROM** regions hold their own bytes; writes to them are dropped.
 * - **MMIO** regions live on the {@link MmioBus}; they may not overlap RAM or ROM.
 * - Unmapped addresses read as all ones; writes to them are dropped.
 *
 * The fast path: RAM and ROM must be 4 KiB aligned, so a page is wholly RAM, ROM, MMIO or
 * unmapped. The MMU resolves a page once with {@link PhysicalMemory.regionAt} and caches the
 * region's backing array and delta in its TLB; a TLB hit then costs typed-array reads only.
 * The `read*`/`write*` methods here are for everything else (devices, loaders, page-walk
 * reads, slow paths) and take one cached range lookup.
 *
 * Multi-byte values are little-endian. An access that straddles two regions is split into
 * bytes, each routed on its own.
 */
import { hex, PHYS_ADDR_LIMIT, type Hpa } from './address.js';
import { MmioBus, type AccessSize, type MmioHandler, type MmioRegistration } from './bus.js';
import { AddressConflictError } from './errors.js';
import { RangeMap } from './range-map.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SIZE - 1;

/** What backs a region of the physical address space. */
export const RegionKind = {
  Ram: 0,
  Rom: 1,
} as const;
export type RegionKind = (typeof RegionKind)[keyof typeof RegionKind];

/**
 * A RAM or ROM region. The byte at physical address `a` in the region is
 * `bytes[a + delta]`. Every region has this one shape, so code that reads through one stays
 * monomorphic.
 */
export class MemoryRegion {
  /** Index offset: backing index = physical address + delta. */
  readonly delta: number;
  constructor(
    readonly kind: RegionKind,
    readonly base: number,
    readonly end: number,
    readonly name: string,
    /** Backing bytes: the shared RAM buffer, or the ROM's own copy. */
    readonly bytes: Uint8Array,
    /** A DataView over the same bytes. */
    readonly view: DataView,
    /** Index in `bytes` of the region's first byte. */
    readonly offset: number,
  ) {
    this.delta = offset - base;
  }

  get writable(): boolean {
    return this.kind === RegionKind.Ram;
  }
}

/**
 * The consumer-side view of an address space (in the manner of rust-vmm's `vm-memory`
 * `Bytes` trait): what a loader, a DMA engine or a page walker needs, without caring what
 * backs it. `PhysicalMemory` is a `MemoryAccess<Hpa>`; a hypervisor's view of one guest is a
 * `MemoryAccess<Gpa>` that translates through its stage-2 tables.
 *
 * Values are little-endian and unsigned. Addresses nothing backs read as all ones.
 */
export interface MemoryAccess<A extends number> {
  read8(addr: A): number;
  read16(addr: A): number;
  read32(addr: A): number;
  write8(addr: A, value: number): void;
  write16(addr: A, value: number): void;
  write32(addr: A, value: number): void;
  /** Copies `dst.length` bytes at `addr` into `dst`. */
  read(addr: A, dst: Uint8Array): void;
  /** Copies `src` to `addr`. */
  write(addr: A, src: Uint8Array): void;
}

/** Observes writes made through {@link PhysicalMemory}'s methods (DMA, loaders, slow paths). */
export interface WriteObserver {
  /** `length` bytes at `addr` were written. */
  physicalWrite(addr: Hpa, length: number): void;
}

export interface PhysicalMemoryOptions {
  /** Bytes of RAM in the backing buffer: a positive multiple of 4 KiB. */
  ramSize: number;
  /** The MMIO bus to route non-memory accesses to; a new one by default. */
  mmio?: MmioBus;
}

export class PhysicalMemory implements MemoryAccess<Hpa> {
  /** The whole RAM backing store. */
  readonly ram: Uint8Array;
  readonly ramView: DataView;
  readonly mmio: MmioBus;
  private readonly regions = new RangeMap<MemoryRegion>('physical memory', PHYS_ADDR_LIMIT);
  private readonly observers: WriteObserver[] = [];

  constructor(options: PhysicalMemoryOptions) {
    const { ramSize } = options;
    if (!Number.isInteger(ramSize) || ramSize <= 0 || ramSize % PAGE_SIZE !== 0) {
      throw new RangeError(`RAM size ${ramSize} is not a positive multiple of 4 KiB`);
    }
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(ramSize);
    } catch (cause) {
      throw new RangeError(`cannot allocate ${ramSize} bytes of guest RAM on this host`, { cause });
    }
    this.ram = new Uint8Array(buffer);
    this.ramView = new DataView(buffer);
    this.mmio = options.mmio ?? new MmioBus();
    this.mmio.setGuard((base, size, name) => {
      const clash = this.regions.findOverlap(base, size);
      if (clash) throw new AddressConflictError('physical memory', { base, end: base + size, name }, clash);
    });
  }

  get ramSize(): number {
    return this.ram.length;
  }

  /**
   * Maps `size` bytes of the RAM buffer, starting at buffer offset `ramOffset`, at physical
   * address `base`. `base`, `size` and `ramOffset` must be 4 KiB aligned.
   */
  mapRam(base: number, size: number, ramOffset = 0, name = 'ram'): MemoryRegion {
    this.checkAligned(base, size, name);
    if (!Number.isInteger(ramOffset) || ramOffset < 0 || ramOffset % PAGE_SIZE !== 0 || ramOffset + size > this.ram.length) {
      throw new RangeError(
        `RAM region "${name}": buffer range ${hex(ramOffset)}+${hex(size)} is not a 4 KiB-aligned slice of the ${hex(this.ram.length)}-byte RAM`,
      );
    }
    return this.insert(new MemoryRegion(RegionKind.Ram, base, base + size, name, this.ram, this.ramView, ramOffset));
  }

  /**
   * Maps a copy of `image` read-only at `base`. The region is `image.length` rounded up to
   * 4 KiB; the padding reads as 0xFF, like an erased flash part.
   */
  mapRom(base: number, image: Uint8Array, name = 'rom'): MemoryRegion {
    if (image.length === 0) throw new RangeError(`ROM "${name}" is empty`);
    const size = Math.ceil(image.length / PAGE_SIZE) * PAGE_SIZE;
    this.checkAligned(base, size, name);
    const bytes = new Uint8Array(size).fill(0xff);
    bytes.set(image);
    return this.insert(new MemoryRegion(RegionKind.Rom, base, base + size, name, bytes, new DataView(bytes.buffer), 0));
  }

  /** Registers an MMIO region; rejects overlaps with RAM, ROM and other MMIO regions. */
  mapMmio(base: number, size: number, handler: MmioHandler, name: string): MmioRegistration {
    return this.mmio.register(base, size, handler, name);
  }

  /** Removes a RAM or ROM region. */
  unmap(region: MemoryRegion): boolean {
    const entry = this.regions.entries().find((e) => e.value === region);
    return entry !== undefined && this.regions.remove(entry);
  }

  /** The RAM or ROM region containing `addr`, or `null` (MMIO or unmapped). */
  regionAt(addr: number): MemoryRegion | null {
    // RangeMap.find keeps the last-hit cache, so repeated accesses to a region stay cheap.
    const e = this.regions.find(addr);
    return e === undefined ? null : e.value;
  }

  /** Index into `ram` of the byte at `addr` when it is RAM, else -1. */
  ramOffset(addr: Hpa): number {
    const r = this.regionAt(addr);
    return r !== null && r.kind === RegionKind.Ram ? addr + r.delta : -1;
  }

  /** Every RAM and ROM region, sorted by address. */
  memoryRegions(): MemoryRegion[] {
    return this.regions.entries().map((e) => e.value);
  }

  addWriteObserver(observer: WriteObserver): void {
    this.observers.push(observer);
  }

  removeWriteObserver(observer: WriteObserver): void {
    const i = this.observers.indexOf(observer);
    if (i >= 0) this.observers.splice(i, 1);
  }

  read8(addr: Hpa): number {
    const r = this.regionAt(addr);
    if (r !== null) return r.bytes[addr + r.delta]!;
    return this.mmio.read(addr, 1);
  }

  read16(addr: Hpa): number {
    const r = this.regionAt(addr);
    if (r !== null && addr + 2 <= r.end) return r.view.getUint16(addr + r.delta, true);
    return this.readSlow(addr, 2);
  }

  read32(addr: Hpa): number {
    const r = this.regionAt(addr);
    if (r !== null && addr + 4 <= r.end) return r.view.getUint32(addr + r.delta, true);
    return this.readSlow(addr, 4);
  }

  write8(addr: Hpa, value: number): void {
    const r = this.regionAt(addr);
    if (r !== null) {
      if (r.kind === RegionKind.Ram) r.bytes[addr + r.delta] = value;
    } else {
      this.mmio.write(addr, 1, value);
    }
    if (this.observers.length !== 0) this.notify(addr, 1);
  }

  write16(addr: Hpa, value: number): void {
    const r = this.regionAt(addr);
    if (r !== null && addr + 2 <= r.end) {
      if (r.kind === RegionKind.Ram) r.view.setUint16(addr + r.delta, value, true);
    } else {
      this.writeSlow(addr, 2, value);
    }
    if (this.observers.length !== 0) this.notify(addr, 2);
  }

  write32(addr: Hpa, value: number): void {
    const r = this.regionAt(addr);
    if (r !== null && addr + 4 <= r.end) {
      if (r.kind === RegionKind.Ram) r.view.setUint32(addr + r.delta, value, true);
    } else {
      this.writeSlow(addr, 4, value);
    }
    if (this.observers.length !== 0) this.notify(addr, 4);
  }

  /** Copies `dst.length` bytes from `addr` into `dst`, across regions. */
  read(addr: Hpa, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const a = addr + done;
      const r = this.regionAt(a);
      if (r !== null) {
        const n = Math.min(dst.length - done, r.end - a);
        dst.set(r.bytes.subarray(a + r.delta, a + r.delta + n), done);
        done += n;
      } else {
        dst[done++] = this.mmio.read(a, 1);
      }
    }
  }

  /** Copies `src` to `addr`, across regions (ROM and unmapped bytes are dropped). */
  write(addr: Hpa, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) {
      const a = addr + done;
      const r = this.regionAt(a);
      if (r !== null) {
        const n = Math.min(src.length - done, r.end - a);
        if (r.kind === RegionKind.Ram) r.bytes.set(src.subarray(done, done + n), a + r.delta);
        done += n;
      } else {
        this.mmio.write(a, 1, src[done]!);
        done++;
      }
    }
    if (this.observers.length !== 0 && src.length !== 0) this.notify(addr, src.length);
  }

  /** Sets `length` bytes at `addr` to `value` (RAM only; other bytes are dropped). */
  fill(addr: Hpa, length: number, value: number): void {
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const r = this.regionAt(a);
      if (r !== null) {
        const n = Math.min(length - done, r.end - a);
        if (r.kind === RegionKind.Ram) r.bytes.fill(value, a + r.delta, a + r.delta + n);
        done += n;
      } else {
        this.mmio.write(a, 1, value);
        done++;
      }
    }
    if (this.observers.length !== 0 && length !== 0) this.notify(addr, length);
  }

  /**
   * An access that is MMIO, unmapped, or straddles a region boundary. A wholly MMIO access
   * goes to the bus at its full width; anything mixed is split into bytes.
   */
  private readSlow(addr: number, size: AccessSize): number {
    if (this.regionAt(addr) === null && this.regionAt(addr + size - 1) === null) {
      return this.mmio.read(addr, size);
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + this.read8((addr + i) as Hpa);
    return value;
  }

  private writeSlow(addr: number, size: AccessSize, value: number): void {
    if (this.regionAt(addr) === null && this.regionAt(addr + size - 1) === null) {
      this.mmio.write(addr, size, value);
      return;
    }
    for (let i = 0; i < size; i++) {
      const a = addr + i;
      const b = (value >>> (8 * i)) & 0xff;
      const r = this.regionAt(a);
      if (r === null) this.mmio.write(a, 1, b);
      else if (r.kind === RegionKind.Ram) r.bytes[a + r.delta] = b;
    }
  }

  private notify(addr: number, length: number): void {
    for (const o of this.observers) o.physicalWrite(addr as Hpa, length);
  }

  private insert(region: MemoryRegion): MemoryRegion {
    const clash = this.mmio.findOverlap(region.base, region.end - region.base);
    if (clash) throw new AddressConflictError('physical memory', region, clash);
    this.regions.insert(region.base, region.end - region.base, region.name, region);
    return region;
  }

  private checkAligned(base: number, size: number, name: string): void {
    if (!Number.isInteger(base) || base < 0 || base % PAGE_SIZE !== 0 || !Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new RangeError(`region "${name}" at ${hex(base)} of ${hex(size)} bytes is not 4 KiB aligned`);
    }
    if (base + size > PHYS_ADDR_LIMIT) {
      throw new RangeError(`region "${name}" at ${hex(base)} of ${hex(size)} bytes extends past the 52-bit physical address space`);
    }
  }
}
