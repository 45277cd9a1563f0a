/**
 * The I/O buses: port I/O (PIO) and memory-mapped I/O (MMIO).
 *
 * Handlers receive the absolute port or address of the access, as on a real bus (and as
 * OpenVMM's `ChipsetDevice` does), so one device can answer several ranges (the 8259A's
 * 0x20 and 0x4D0, say) and a relocatable region (a PCI BAR, the local APIC page) finds its
 * offset by subtracting the base it was programmed with.
 *
 * Accesses nobody claims behave as on a PC: reads return all ones, writes are dropped.
 */
import { PORT_LIMIT, PHYS_ADDR_LIMIT, type Hpa, type Port } from './address.js';
import { RangeMap, type RangeEntry } from './range-map.js';

/** The width of one bus access in bytes. 8-byte accesses are split into two 4-byte ones. */
export type AccessSize = 1 | 2 | 4;

/** All ones of an access's width: what an unclaimed read returns. */
export function allOnes(size: AccessSize): number {
  return size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff;
}

/** The value masked to an access's width, as an unsigned number. */
export function truncate(value: number, size: AccessSize): number {
  return size === 4 ? value >>> 0 : size === 2 ? value & 0xffff : value & 0xff;
}

/** Something that answers port I/O. */
export interface PioHandler {
  /** IN of `size` bytes at `port`; return the value in the low `size` bytes. */
  pioRead(port: Port, size: AccessSize): number;
  /** OUT of `size` bytes at `port`; `value` is already masked to `size` bytes. */
  pioWrite(port: Port, size: AccessSize, value: number): void;
}

/** Something that answers memory-mapped I/O. */
export interface MmioHandler {
  /** A read of `size` bytes at `addr`; return the value in the low `size` bytes. */
  mmioRead(addr: Hpa, size: AccessSize): number;
  /** A write of `size` bytes at `addr`; `value` is already masked to `size` bytes. */
  mmioWrite(addr: Hpa, size: AccessSize, value: number): void;
}

/** A registration on a bus, to pass back to `unregister`. */
export type PioRegistration = RangeEntry<PioHandler>;
export type MmioRegistration = RangeEntry<MmioHandler>;

/**
 * The 64 KiB port I/O space (SDM Vol. 1 §19.2). Dispatch is a table lookup per access: one
 * `Uint16Array` slot per port holds the index of its handler.
 *
 * An access is routed by its first port; a device that claims 0x3F8-0x3FF sees a 2-byte IN
 * at 0x3FF in full, as devices on an ISA bus decode their own widths.
 */
export class PioBus {
  private readonly map = new RangeMap<PioHandler>('PIO', PORT_LIMIT);
  /** Per port: 0 when unclaimed, else 1 + index into `handlers`. */
  private readonly slots = new Uint16Array(PORT_LIMIT);
  private readonly handlers: (PioHandler | null)[] = [];
  private readonly entryOf: (PioRegistration | null)[] = [];
  /** Accesses that no device claimed, for diagnostics. */
  unclaimedAccesses = 0;

  /**
   * Claims ports [base, base + length) for `handler`. Throws `AddressConflictError` when any
   * of them is already claimed, and `RangeError` for a range outside 0-0xFFFF.
   */
  register(base: number, length: number, handler: PioHandler, name: string): PioRegistration {
    const entry = this.map.insert(base, length, name, handler);
    let index = this.handlers.indexOf(null);
    if (index < 0) {
      index = this.handlers.length;
      this.handlers.push(handler);
      this.entryOf.push(entry);
    } else {
      this.handlers[index] = handler;
      this.entryOf[index] = entry;
    }
    this.slots.fill(index + 1, base, base + length);
    return entry;
  }

  /** Releases a registration; returns false when it was not registered here. */
  unregister(registration: PioRegistration): boolean {
    if (!this.map.remove(registration)) return false;
    const index = this.entryOf.indexOf(registration);
    this.handlers[index] = null;
    this.entryOf[index] = null;
    this.slots.fill(0, registration.base, registration.end);
    return true;
  }

  read(port: number, size: AccessSize): number {
    const slot = this.slots[port & 0xffff]!;
    if (slot === 0) {
      this.unclaimedAccesses++;
      return allOnes(size);
    }
    return truncate(this.handlers[slot - 1]!.pioRead((port & 0xffff) as Port, size), size);
  }

  write(port: number, size: AccessSize, value: number): void {
    const slot = this.slots[port & 0xffff]!;
    if (slot === 0) {
      this.unclaimedAccesses++;
      return;
    }
    this.handlers[slot - 1]!.pioWrite((port & 0xffff) as Port, size, truncate(value, size));
  }

  /** The registration that claims `port`, if any. */
  find(port: number): PioRegistration | undefined {
    return this.map.find(port);
  }

  /** Every registration, sorted by port. */
  registrations(): readonly PioRegistration[] {
    return this.map.entries();
  }
}

/**
 * The memory-mapped I/O space. Registrations may not overlap each other. When the bus belongs
 * to a {@link PhysicalMemory}, it also may not overlap RAM or ROM: register through
 * `PhysicalMemory.mapMmio`, or directly here, with the same checks.
 */
export class MmioBus {
  private readonly map = new RangeMap<MmioHandler>('MMIO', PHYS_ADDR_LIMIT);
  /** Set by the owning memory map so that MMIO cannot shadow RAM or ROM. */
  private guard: ((base: number, size: number, name: string) => void) | null = null;
  unclaimedAccesses = 0;

  /** @internal Used by `PhysicalMemory` to reject MMIO that overlaps RAM or ROM. */
  setGuard(guard: (base: number, size: number, name: string) => void): void {
    if (this.guard) throw new Error('this MMIO bus already belongs to a physical memory map');
    this.guard = guard;
  }

  /**
   * Claims [base, base + size) for `handler`. Throws `AddressConflictError` on overlap with
   * another MMIO region (or with RAM/ROM of the owning memory map).
   */
  register(base: number, size: number, handler: MmioHandler, name: string): MmioRegistration {
    if (this.guard) this.guard(base, size, name);
    return this.map.insert(base, size, name, handler);
  }

  unregister(registration: MmioRegistration): boolean {
    return this.map.remove(registration);
  }

  read(addr: number, size: AccessSize): number {
    const e = this.map.find(addr);
    if (e === undefined) {
      this.unclaimedAccesses++;
      return allOnes(size);
    }
    return truncate(e.value.mmioRead(addr as Hpa, size), size);
  }

  write(addr: number, size: AccessSize, value: number): void {
    const e = this.map.find(addr);
    if (e === undefined) {
      this.unclaimedAccesses++;
      return;
    }
    e.value.mmioWrite(addr as Hpa, size, truncate(value, size));
  }

  find(addr: number): MmioRegistration | undefined {
    return this.map.find(addr);
  }

  findOverlap(base: number, size: number): MmioRegistration | undefined {
    return this.map.findOverlap(base, size);
  }

  registrations(): readonly MmioRegistration[] {
    return this.map.entries();
  }
}
