/**
 * A map from non-overlapping half-open address ranges to values, the registry behind the PIO
 * bus, the MMIO bus and the physical memory map. Like rust-vmm's `vm-device` bus, it rejects
 * an overlapping registration instead of letting one silently shadow the other.
 *
 * Lookups are a binary search behind a one-entry cache of the last hit; device accesses
 * cluster, so most lookups cost two comparisons.
 */
import { AddressConflictError, describeRange } from './errors.js';

/** One registration: addresses [base, end). */
export class RangeEntry<T> {
  constructor(
    readonly base: number,
    readonly end: number,
    readonly name: string,
    readonly value: T,
  ) {}

  get size(): number {
    return this.end - this.base;
  }

  contains(addr: number): boolean {
    return addr >= this.base && addr < this.end;
  }
}

export class RangeMap<T> {
  /** Sorted by base; never overlapping. */
  private sorted: RangeEntry<T>[] = [];
  private last: RangeEntry<T> | null = null;

  /**
   * @param space what the addresses are, for error messages ("PIO", "MMIO", ...)
   * @param limit one past the highest valid address
   */
  constructor(
    readonly space: string,
    readonly limit: number,
  ) {}

  /**
   * Registers [base, base + size). Throws `RangeError` for an empty, negative, non-integer or
   * out-of-space range and {@link AddressConflictError} when it overlaps an entry.
   */
  insert(base: number, size: number, name: string, value: T): RangeEntry<T> {
    this.checkRange(base, size, name);
    const end = base + size;
    const clash = this.findOverlap(base, size);
    if (clash) throw new AddressConflictError(this.space, { base, end, name }, clash);
    const entry = new RangeEntry(base, end, name, value);
    const at = this.lowerBound(base);
    this.sorted.splice(at, 0, entry);
    return entry;
  }

  /** Removes `entry`; returns false when it was not registered here. */
  remove(entry: RangeEntry<T>): boolean {
    const at = this.sorted.indexOf(entry);
    if (at < 0) return false;
    this.sorted.splice(at, 1);
    if (this.last === entry) this.last = null;
    return true;
  }

  /** The entry containing `addr`, or `undefined`. */
  find(addr: number): RangeEntry<T> | undefined {
    const last = this.last;
    if (last !== null && addr >= last.base && addr < last.end) return last;
    const list = this.sorted;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = list[mid]!;
      if (addr < e.base) hi = mid - 1;
      else if (addr >= e.end) lo = mid + 1;
      else {
        this.last = e;
        return e;
      }
    }
    return undefined;
  }

  /** The lowest-addressed entry that overlaps [base, base + size), or `undefined`. */
  findOverlap(base: number, size: number): RangeEntry<T> | undefined {
    // Entries are sorted and disjoint, so they are sorted by end too: the overlapping ones are
    // a run ending at the last entry that starts below `base + size`.
    let found: RangeEntry<T> | undefined;
    for (let i = this.lowerBound(base + size) - 1; i >= 0; i--) {
      const e = this.sorted[i]!;
      if (e.end <= base) break;
      found = e;
    }
    return found;
  }

  /** All entries, sorted by base address. */
  entries(): readonly RangeEntry<T>[] {
    return this.sorted;
  }

  get size(): number {
    return this.sorted.length;
  }

  /** Index of the first entry whose base is >= addr. */
  private lowerBound(addr: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]!.base < addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private checkRange(base: number, size: number, name: string): void {
    if (!Number.isInteger(base) || base < 0) {
      throw new RangeError(`${this.space} range for "${name}": base ${base} is not a non-negative integer`);
    }
    if (!Number.isInteger(size) || size <= 0) {
      throw new RangeError(`${this.space} range for "${name}": size ${size} is not a positive integer`);
    }
    if (base + size > this.limit) {
      throw new RangeError(
        `${this.space} range ${describeRange(base, base + size)} for "${name}" extends past the end of the space (${describeRange(0, this.limit)})`,
      );
    }
  }
}
