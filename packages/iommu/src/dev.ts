/**
 * AMD's Device Exclusion Vector (APM Vol. 2 §15.24 "External Access Protection"): one bit per
 * 4 KiB page of physical memory (§15.24.2: "each bit in the DEV (in little-endian order)
 * corresponds to one 4-Kbyte page"); the host bridge checks every device memory access against
 * it by page frame number (§15.24.3) and, when the bit is 1, "inhibits the access by returning
 * all ones for the data for a read request, or suppressing the store operation on a write
 * request", logging the attempt (§15.24.7). Accesses from the CPU are never checked.
 *
 * What hvkit models so far: one protection domain whose vector the DEV holds itself (not yet a
 * table in guest memory behind DEV_BASE registers), covering 4 GiB << `sizeLog2` of physical
 * address space (DEV_BASE_LO.SIZE, §15.24.6) with the P bit deciding accesses beyond it; SKINIT's
 * SL_DEV protection of the 64 KiB secure loader block (§15.24.8) arrives through
 * {@link DeviceExclusionVector.protect} (the SVM frontend's `DmaExclusion`). The DEV's PCI
 * configuration registers (DEV_OP/DEV_DATA, DEV_CR, DEV_MAP, DEV_ERR_*) come with the IOMMU
 * issue.
 *
 * {@link DeviceExclusionVector.space} wraps a device's `DmaSpace` (usually `DirectDma`: the DEV
 * translates nothing, IOVA = host-physical address) with the check. Writes of 4 bytes into the
 * MSI window are interrupt messages, not memory writes, and pass unchecked.
 */
import { DmaStatus, isMsiAddress, type DmaSpace, type Iova } from '@hvkit/platform';

const PAGE_SHIFT = 12;
const TWO_32 = 4294967296;

export interface DeviceExclusionVectorOptions {
  /** The vector covers 4 GiB << sizeLog2 of physical memory (DEV_BASE_LO.SIZE, 0-4 here); default 0. */
  sizeLog2?: number;
  /** DEV_BASE_LO.P: accesses beyond the covered range are illegal (true) or legal (false, default). */
  protectBeyond?: boolean;
}

/** The Device Exclusion Vector of one protection domain. */
export class DeviceExclusionVector {
  /** The bits, page frame number n at bit (n & 31) of word n >>> 5. */
  readonly bits: Uint32Array;
  /** Bytes of physical address space the vector covers. */
  readonly coverage: number;
  readonly protectBeyond: boolean;
  /** Number of device accesses blocked (§15.24.7 "Unauthorized Access Logging"). */
  blockedCount = 0;
  /** Physical address of the most recent blocked access, or -1 (DEV_ERR_ADDR). */
  lastBlockedAddress = -1;
  /** Whether the most recent blocked access was a write. */
  lastBlockedWrite = false;

  constructor(options: DeviceExclusionVectorOptions = {}) {
    const sizeLog2 = options.sizeLog2 ?? 0;
    if (!Number.isInteger(sizeLog2) || sizeLog2 < 0 || sizeLog2 > 4) throw new RangeError(`DEV sizeLog2 ${sizeLog2} out of 0-4`);
    this.coverage = TWO_32 * 2 ** sizeLog2;
    this.bits = new Uint32Array(this.coverage / 2 ** (PAGE_SHIFT + 5));
    this.protectBeyond = options.protectBeyond ?? false;
  }

  /** Sets the bits of every 4 KiB page overlapping host-physical [base, base + length). */
  protect(base: number, length: number): void {
    this.setRange(base, length, true);
  }

  /** Clears the bits of every 4 KiB page overlapping [base, base + length). */
  unprotect(base: number, length: number): void {
    this.setRange(base, length, false);
  }

  /** Whether a device access to physical address `pa` is inhibited. */
  isProtected(pa: number): boolean {
    if (pa >= this.coverage) return this.protectBeyond;
    const pfn = Math.floor(pa / 4096);
    return ((this.bits[pfn >>> 5]! >>> (pfn & 31)) & 1) !== 0;
  }

  /** Whether any page overlapping [pa, pa + length) is protected (length > 0). */
  blocks(pa: number, length: number): boolean {
    const last = pa + length - 1;
    if (last >= this.coverage && this.protectBeyond) return true;
    const end = Math.min(last, this.coverage - 1);
    for (let p = Math.floor(pa / 4096); p * 4096 <= end; p++) {
      if (((this.bits[p >>> 5]! >>> (p & 31)) & 1) !== 0) return true;
    }
    return false;
  }

  /** A device's view of memory through this DEV: `inner` with the DEV check in front. */
  space(inner: DmaSpace): DmaSpace {
    return new DevDmaSpace(this, inner);
  }

  /** Records a blocked access (§15.24.7). */
  logBlocked(pa: number, write: boolean): void {
    this.blockedCount++;
    this.lastBlockedAddress = pa;
    this.lastBlockedWrite = write;
  }

  private setRange(base: number, length: number, value: boolean): void {
    if (!(length > 0)) return;
    const first = Math.floor(base / 4096);
    const last = Math.min(Math.floor((base + length - 1) / 4096), this.coverage / 4096 - 1);
    for (let p = first; p <= last; p++) {
      if (value) this.bits[p >>> 5] = this.bits[p >>> 5]! | (1 << (p & 31));
      else this.bits[p >>> 5] = this.bits[p >>> 5]! & ~(1 << (p & 31));
    }
  }
}

/** A `DmaSpace` checked against a {@link DeviceExclusionVector} (§15.24.3). */
export class DevDmaSpace implements DmaSpace {
  constructor(
    readonly dev: DeviceExclusionVector,
    private readonly inner: DmaSpace,
  ) {}

  read(addr: Iova, dst: Uint8Array): DmaStatus {
    if (dst.length > 0 && this.dev.blocks(addr, dst.length)) {
      this.dev.logBlocked(addr, false);
      dst.fill(0xff);
      return DmaStatus.Blocked;
    }
    return this.inner.read(addr, dst);
  }

  write(addr: Iova, src: Uint8Array): DmaStatus {
    if (src.length > 0 && !(src.length === 4 && isMsiAddress(addr)) && this.dev.blocks(addr, src.length)) {
      this.dev.logBlocked(addr, true);
      return DmaStatus.Blocked;
    }
    return this.inner.write(addr, src);
  }

  read32(addr: Iova): number {
    if (this.dev.blocks(addr, 4)) {
      this.dev.logBlocked(addr, false);
      return -1;
    }
    return this.inner.read32(addr);
  }

  write32(addr: Iova, value: number): DmaStatus {
    if (!isMsiAddress(addr) && this.dev.blocks(addr, 4)) {
      this.dev.logBlocked(addr, true);
      return DmaStatus.Blocked;
    }
    return this.inner.write32(addr, value);
  }
}
