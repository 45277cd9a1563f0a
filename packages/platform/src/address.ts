/**
 * Branded address types.
 *
 * hvkit keeps addresses as plain JavaScript numbers, which hold every integer below 2^53
 * exactly: enough for the 52-bit physical addresses of x86-64 (Intel SDM Vol. 1 §3.3.1,
 * MAXPHYADDR ≤ 52). The brands exist only in the type system, so a guest-physical address
 * cannot be passed where a host-physical one is expected, at no run-time cost.
 *
 * - {@link Gpa}: guest-physical, what a guest's page tables produce (SDM Vol. 3 §28.2, "The Extended Page Table Mechanism").
 * - {@link Hpa}: host-physical, an address on this machine's physical bus.
 * - {@link Iova}: I/O virtual address, what a device puts on the bus for DMA before an IOMMU
 *   translates it (VT-d spec §3, "DMA Remapping").
 * - {@link Port}: an I/O port, 0 to 0xFFFF (SDM Vol. 1 §19.2).
 *
 * The checked constructors ({@link hpa}, {@link gpa}, {@link iova}, {@link port}) are for the
 * edges (configuration, loaders, tests). Hot paths cast with `as Hpa` once a value is known
 * to be valid.
 */

declare const addressBrand: unique symbol;

/** A number tagged with a compile-time-only brand. */
export type Brand<T, B extends string> = T & { readonly [addressBrand]: B };

export type Gpa = Brand<number, 'Gpa'>;
export type Hpa = Brand<number, 'Hpa'>;
export type Iova = Brand<number, 'Iova'>;
export type Port = Brand<number, 'Port'>;

/** The widest physical address x86-64 defines (MAXPHYADDR ≤ 52). */
export const MAX_PHYS_ADDR_BITS = 52;
/** One past the highest physical address: 2^52. */
export const PHYS_ADDR_LIMIT = 2 ** MAX_PHYS_ADDR_BITS;
/** One past the highest I/O port. */
export const PORT_LIMIT = 0x1_0000;
/** An IOVA is exact as a number up to 2^53; wider IOVAs are not representable. */
export const IOVA_LIMIT = 2 ** 53;

function checkAddress(kind: string, value: number, limit: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= limit) {
    throw new RangeError(`${kind} ${formatNumber(value)} is out of range: expected an integer from 0 to 0x${(limit - 1).toString(16)}`);
  }
}

function formatNumber(value: number): string {
  return Number.isInteger(value) && value >= 0 ? `0x${value.toString(16)}` : String(value);
}

/** A host-physical address; throws `RangeError` unless `value` is an integer in [0, 2^52). */
export function hpa(value: number): Hpa {
  checkAddress('host-physical address', value, PHYS_ADDR_LIMIT);
  return value as Hpa;
}

/** A guest-physical address; throws `RangeError` unless `value` is an integer in [0, 2^52). */
export function gpa(value: number): Gpa {
  checkAddress('guest-physical address', value, PHYS_ADDR_LIMIT);
  return value as Gpa;
}

/** An I/O virtual address; throws `RangeError` unless `value` is an integer in [0, 2^53). */
export function iova(value: number): Iova {
  checkAddress('IOVA', value, IOVA_LIMIT);
  return value as Iova;
}

/** An I/O port; throws `RangeError` unless `value` is an integer in [0, 0xFFFF]. */
export function port(value: number): Port {
  checkAddress('I/O port', value, PORT_LIMIT);
  return value as Port;
}

/** `0x…` with at least `digits` hex digits, for messages and debuggers. */
export function hex(value: number, digits = 1): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}
