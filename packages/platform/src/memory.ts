/**
 * Physical memory: the machine's physical address space.
 *
 * - **RAM** is `ramSize` bytes of guest RAM, addressed by *RAM offset* and backed by chunks
 *   ({@link RAM_CHUNK_SIZE} by default) that are allocated on first touch, so a 4 GiB guest that
 *   uses 20 MiB costs about 20 MiB of host memory. Slices of RAM are mapped at physical
 *   addresses with {@link PhysicalMemory.mapRam}, so a PC's low RAM, the hole below 4 GiB and
 *   RAM above 4 GiB share one RAM. RAM may exceed the 4 GiB a single JavaScript buffer can hold.
 * - **ROM** regions hold their own bytes; writes to them are dropped.
 * - **MMIO** regions live on the {@link MmioBus}; they may not overlap RAM or ROM.
 * - Unmapped addresses read as all ones; writes to them are dropped.
 *
 * The fast path: RAM and ROM must be 4 KiB aligned, so a page is wholly RAM, ROM, MMIO or
 * unmapped, and lies within one chunk. The MMU resolves a page once with
 * {@link PhysicalMemory.regionAt}, which returns the {@link MemoryRegion} (one chunk's bytes
 * and an index delta) holding it, and caches that in its TLB; a TLB hit then costs typed-array
 * reads only. The `read*`/`write*` methods here are for everything else (devices, loaders,
 * page-walk reads, slow paths) and take one cached range lookup.
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
 * A run of RAM or ROM bytes in one backing array: a ROM image, or the part of one RAM chunk
 * that a RAM mapping covers. The byte at physical address `a` in the region is
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
    /** Backing bytes: one RAM chunk, or the ROM's own copy. */
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

/** A mapped range of the physical address space, as {@link PhysicalMemory.memoryRegions} lists it. */
export interface MemoryRange {
  readonly kind: RegionKind;
  readonly base: number;
  readonly end: number;
  readonly name: string;
}

/** Default RAM chunk size: the unit in which guest RAM is allocated on first touch. */
export const RAM_CHUNK_SIZE = 1 << 20;

/** One entry of the memory map: a ROM (with its region) or a slice of RAM (with regions per chunk). */
class Mapping implements MemoryRange {
  /** RAM: the regions of the chunks touched so far, by chunk index - firstChunk. */
  readonly chunks: (MemoryRegion | undefined)[] = [];
  constructor(
    readonly kind: RegionKind,
    readonly base: number,
    readonly end: number,
    readonly name: string,
    /** RAM: the RAM offset of `base`. */
    readonly ramOffset: number,
    /** ROM: its region. */
    readonly rom: MemoryRegion | null,
    /** RAM: index of the chunk holding `base`. */
    readonly firstChunk: number,
  ) {}
}

/** Guest RAM contents for a snapshot: the chunks that were touched, by index. */
export interface RamSnapshot {
  readonly ramSize: number;
  readonly chunkSize: number;
  /** [chunk index, bytes]; chunks not listed are zero. */
  readonly chunks: readonly (readonly [number, Uint8Array])[];
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
  /** Bytes of guest RAM: a positive multiple of 4 KiB (allocated chunk by chunk on first touch). */
  ramSize: number;
  /** Chunk size: a power of two from 64 KiB to 1 GiB; {@link RAM_CHUNK_SIZE} by default. */
  chunkSize?: number;
  /** The MMIO bus to route non-memory accesses to; a new one by default. */
  mmio?: MmioBus;
}

export class PhysicalMemory implements MemoryAccess<Hpa> {
  readonly ramSize: number;
  readonly chunkSize: number;
  readonly mmio: MmioBus;
  private readonly chunkShift: number;
  /** RAM chunks by index; undefined until first touched. */
  private readonly chunkBytes: (Uint8Array | undefined)[] = [];
  private chunkCount = 0;
  private readonly regions = new RangeMap<Mapping>('physical memory', PHYS_ADDR_LIMIT);
  private readonly observers: WriteObserver[] = [];

  constructor(options: PhysicalMemoryOptions) {
    const { ramSize } = options;
    if (!Number.isInteger(ramSize) || ramSize <= 0 || ramSize % PAGE_SIZE !== 0) {
      throw new RangeError(`RAM size ${ramSize} is not a positive multiple of 4 KiB`);
    }
    if (ramSize > PHYS_ADDR_LIMIT) throw new RangeError(`RAM size ${ramSize} is larger than the 52-bit physical address space`);
    const chunkSize = options.chunkSize ?? RAM_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 0x1_0000 || chunkSize > 0x4000_0000 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw new RangeError(`RAM chunk size ${chunkSize} is not a power of two from 64 KiB to 1 GiB`);
    }
    this.ramSize = ramSize;
    this.chunkSize = chunkSize;
    this.chunkShift = Math.log2(chunkSize);
    this.mmio = options.mmio ?? new MmioBus();
    this.mmio.setGuard((base, size, name) => {
      const clash = this.regions.findOverlap(base, size);
      if (clash) throw new AddressConflictError('physical memory', { base, end: base + size, name }, clash);
    });
  }

  /** Host bytes allocated for guest RAM so far (touched chunks). */
  get allocatedRamBytes(): number {
    let total = 0;
    for (let i = 0; i < this.chunkBytes.length; i++) if (this.chunkBytes[i] !== undefined) total += this.chunkBytes[i]!.length;
    return total;
  }

  /**
   * The bytes of RAM chunk `index` (RAM offsets [index * chunkSize, ...)), allocated if it was
   * never touched. Writing them directly bypasses write observers: for test rigs and tools
   * that manage code caches themselves (a whole small RAM is one chunk when `chunkSize` >= `ramSize`).
   */
  ramChunk(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index * this.chunkSize >= this.ramSize) {
      throw new RangeError(`RAM chunk ${index} is outside the ${this.ramSize}-byte RAM`);
    }
    return this.chunk(index);
  }

  /** How many RAM chunks have been allocated. */
  get allocatedChunks(): number {
    return this.chunkCount;
  }

  /**
   * Maps `size` bytes of RAM, starting at RAM offset `ramOffset`, at physical address `base`.
   * `base`, `size` and `ramOffset` must be 4 KiB aligned. Nothing is allocated until touched.
   */
  mapRam(base: number, size: number, ramOffset = 0, name = 'ram'): MemoryRange {
    this.checkAligned(base, size, name);
    if (!Number.isInteger(ramOffset) || ramOffset < 0 || ramOffset % PAGE_SIZE !== 0 || ramOffset + size > this.ramSize) {
      throw new RangeError(
        `RAM region "${name}": RAM range ${hex(ramOffset)}+${hex(size)} is not a 4 KiB-aligned slice of the ${hex(this.ramSize)}-byte RAM`,
      );
    }
    return this.insert(new Mapping(RegionKind.Ram, base, base + size, name, ramOffset, null, Math.floor(ramOffset / this.chunkSize)));
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
    const region = new MemoryRegion(RegionKind.Rom, base, base + size, name, bytes, new DataView(bytes.buffer), 0);
    this.insert(new Mapping(RegionKind.Rom, base, base + size, name, -1, region, 0));
    return region;
  }

  /** Registers an MMIO region; rejects overlaps with RAM, ROM and other MMIO regions. */
  mapMmio(base: number, size: number, handler: MmioHandler, name: string): MmioRegistration {
    return this.mmio.register(base, size, handler, name);
  }

  /** Removes a RAM mapping or a ROM region (the object `mapRam` / `mapRom` returned). */
  unmap(range: MemoryRange): boolean {
    const entry = this.regions.entries().find((e) => e.value === range || e.value.rom === range);
    return entry !== undefined && this.regions.remove(entry);
  }

  /**
   * The RAM or ROM region containing `addr`, or `null` (MMIO or unmapped). For RAM this is
   * the part of one chunk the mapping covers; the chunk is allocated if it was never touched.
   */
  regionAt(addr: number): MemoryRegion | null {
    // RangeMap.find keeps the last-hit cache, so repeated accesses to a region stay cheap.
    const e = this.regions.find(addr);
    if (e === undefined) return null;
    const m = e.value;
    if (m.rom !== null) return m.rom;
    const c = Math.floor((addr - m.base + m.ramOffset) / this.chunkSize);
    return m.chunks[c - m.firstChunk] ?? this.chunkRegion(m, c);
  }

  /** The RAM offset of the byte at `addr` when it is RAM, else -1. */
  ramOffset(addr: Hpa): number {
    const e = this.regions.find(addr);
    return e !== undefined && e.value.kind === RegionKind.Ram ? addr - e.value.base + e.value.ramOffset : -1;
  }

  /** Every RAM mapping and ROM region, sorted by address. */
  memoryRegions(): MemoryRange[] {
    return this.regions.entries().map((e) => e.value);
  }

  /** The touched RAM chunks, copied (for snapshots). All-zero chunks are left out. */
  saveRam(): RamSnapshot {
    const chunks: [number, Uint8Array][] = [];
    for (let i = 0; i < this.chunkBytes.length; i++) {
      const b = this.chunkBytes[i];
      if (b === undefined || isZero(b)) continue;
      chunks.push([i, b.slice()]);
    }
    return { ramSize: this.ramSize, chunkSize: this.chunkSize, chunks };
  }

  /**
   * Puts RAM back as {@link saveRam} saw it. Chunks already allocated keep their arrays (MMU
   * caches stay valid); chunks the snapshot lacks become zero. Observers hear of every byte.
   */
  restoreRam(snapshot: RamSnapshot): void {
    if (snapshot.ramSize !== this.ramSize || snapshot.chunkSize !== this.chunkSize) {
      throw new RangeError(
        `the RAM snapshot is of ${snapshot.ramSize} bytes in ${snapshot.chunkSize}-byte chunks; this memory has ${this.ramSize} in ${this.chunkSize}-byte chunks`,
      );
    }
    const seen = new Set<number>();
    for (const [i, bytes] of snapshot.chunks) {
      if (!Number.isInteger(i) || i < 0 || i * this.chunkSize >= this.ramSize || bytes.length !== this.chunkLength(i) || seen.has(i)) {
        throw new RangeError(`the RAM snapshot has a bad chunk ${i} of ${bytes.length} bytes`);
      }
      seen.add(i);
    }
    for (let i = 0; i < this.chunkBytes.length; i++) {
      const b = this.chunkBytes[i];
      if (b !== undefined && !seen.has(i)) b.fill(0);
    }
    for (const [i, bytes] of snapshot.chunks) this.chunk(i).set(bytes);
    if (this.observers.length !== 0) {
      for (const e of this.regions.entries()) if (e.value.kind === RegionKind.Ram) this.notify(e.base, e.end - e.base);
    }
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

  private insert(m: Mapping): Mapping {
    const clash = this.mmio.findOverlap(m.base, m.end - m.base);
    if (clash) throw new AddressConflictError('physical memory', m, clash);
    this.regions.insert(m.base, m.end - m.base, m.name, m);
    return m;
  }

  private chunkLength(i: number): number {
    return Math.min(this.chunkSize, this.ramSize - i * this.chunkSize);
  }

  /** RAM chunk `i`, allocated (zero) on first use. */
  private chunk(i: number): Uint8Array {
    let b = this.chunkBytes[i];
    if (b === undefined) {
      try {
        b = new Uint8Array(this.chunkLength(i));
      } catch (cause) {
        throw new RangeError(`cannot allocate ${this.chunkLength(i)} more bytes of guest RAM on this host`, { cause });
      }
      this.chunkBytes[i] = b;
      this.chunkCount++;
    }
    return b;
  }

  /** The region for the part of chunk `c` that mapping `m` covers (created on first use). */
  private chunkRegion(m: Mapping, c: number): MemoryRegion {
    const bytes = this.chunk(c);
    // Physical address of the chunk's first byte under this mapping.
    const chunkPhys = m.base - m.ramOffset + c * this.chunkSize;
    const base = Math.max(m.base, chunkPhys);
    const end = Math.min(m.end, chunkPhys + bytes.length);
    const region = new MemoryRegion(RegionKind.Ram, base, end, m.name, bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), base - chunkPhys);
    m.chunks[c - m.firstChunk] = region;
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

function isZero(b: Uint8Array): boolean {
  const words = b.length % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, b.length / 4) : null;
  if (words !== null) {
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
