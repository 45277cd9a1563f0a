/**
 * Errors of the platform contracts. They describe configuration mistakes made by the code that
 * assembles a machine (two devices on one port, a region past the end of RAM); a guest can never
 * cause one. Guest-caused conditions are architectural (all-ones reads, dropped writes, faults).
 */
import { hex } from './address.js';

/** Two registrations claim overlapping addresses in one address space. */
export class AddressConflictError extends Error {
  override readonly name = 'AddressConflictError';
  constructor(
    /** The address space: "PIO", "MMIO" or "physical memory". */
    readonly space: string,
    /** The rejected registration. */
    readonly requested: { readonly base: number; readonly end: number; readonly name: string },
    /** The registration already there. */
    readonly existing: { readonly base: number; readonly end: number; readonly name: string },
  ) {
    super(
      `${space} range ${describeRange(requested.base, requested.end)} for "${requested.name}" overlaps ` +
        `${describeRange(existing.base, existing.end)} already registered by "${existing.name}"`,
    );
  }
}

/** `0xbase-0xlast` for a half-open range [base, end). */
export function describeRange(base: number, end: number): string {
  return `${hex(base)}-${hex(end - 1)}`;
}
