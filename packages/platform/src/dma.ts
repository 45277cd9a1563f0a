/**
 * DMA: how a device reads and writes memory.
 *
 * A device never holds `PhysicalMemory`. It is given a {@link DmaSpace}, addressed by I/O
 * virtual addresses ({@link Iova}). Without an IOMMU the machine hands out
 * {@link DirectDma}, where an IOVA is the host-physical address. An IOMMU (`@hvkit/iommu`)
 * hands out its own `DmaSpace` per requester ID, translating and checking every access
 * (VT-d spec §3; AMD's Device Exclusion Vector, APM Vol. 2 ch. 15), and can refuse it.
 *
 * Writes of 4 bytes into the MSI window (0xFEE0_0000-0xFEEF_FFFF) are interrupt messages,
 * not memory writes (SDM Vol. 3 §11.11): `DirectDma` hands them to its {@link MsiSink}.
 */
import { type Hpa, type Iova } from './address.js';
import { type MsiSink } from './irq.js';
import { type MemoryAccess } from './memory.js';

/** The outcome of a DMA access. */
export const DmaStatus = {
  /** Done. (Unmapped host-physical addresses read as all ones, as on a PC.) */
  Ok: 0,
  /** An IOMMU refused the access: no translation, or no permission. Nothing was transferred. */
  Blocked: 1,
} as const;
export type DmaStatus = (typeof DmaStatus)[keyof typeof DmaStatus];

export const MSI_WINDOW_BASE = 0xfee0_0000;
export const MSI_WINDOW_END = 0xfef0_0000;

/** The memory a device sees. */
export interface DmaSpace {
  /** Reads `dst.length` bytes at `addr`. On `Blocked`, `dst` is filled with 0xFF (master abort). */
  read(addr: Iova, dst: Uint8Array): DmaStatus;
  /** Writes `src` at `addr`. On `Blocked`, memory is unchanged. */
  write(addr: Iova, src: Uint8Array): DmaStatus;
  /** Reads a little-endian 32-bit value, or returns -1 when the access was blocked. */
  read32(addr: Iova): number;
  /** Writes a little-endian 32-bit value (an MSI when aimed at the MSI window). */
  write32(addr: Iova, value: number): DmaStatus;
}

export function isMsiAddress(addr: number): boolean {
  return addr >= MSI_WINDOW_BASE && addr < MSI_WINDOW_END;
}

/** DMA with no IOMMU: IOVA = host-physical address, on any `MemoryAccess<Hpa>` (usually `PhysicalMemory`). */
export class DirectDma implements DmaSpace {
  private readonly word = new Uint8Array(4);
  private readonly wordView = new DataView(this.word.buffer);

  constructor(
    private readonly memory: MemoryAccess<Hpa>,
    /** Where MSI writes go; without one they are dropped. */
    private readonly msi: MsiSink | null = null,
    /** The requester ID reported with this space's MSIs. */
    readonly requesterId = 0,
  ) {}

  read(addr: Iova, dst: Uint8Array): DmaStatus {
    this.memory.read(addr as number as Hpa, dst);
    return DmaStatus.Ok;
  }

  write(addr: Iova, src: Uint8Array): DmaStatus {
    if (src.length === 4 && isMsiAddress(addr)) {
      this.word.set(src);
      return this.write32(addr, this.wordView.getUint32(0, true));
    }
    this.memory.write(addr as number as Hpa, src);
    return DmaStatus.Ok;
  }

  read32(addr: Iova): number {
    return this.memory.read32(addr as number as Hpa);
  }

  write32(addr: Iova, value: number): DmaStatus {
    if (isMsiAddress(addr)) {
      this.msi?.deliverMsi(addr, value >>> 0, this.requesterId);
      return DmaStatus.Ok;
    }
    this.memory.write32(addr as number as Hpa, value);
    return DmaStatus.Ok;
  }
}
