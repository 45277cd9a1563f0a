/**
 * Linear-address rules shared by the page walkers, the CPU core and the VMX/SVM entry checks.
 *
 * 64-bit values are passed as two signed 32-bit halves (`hi`, `lo`), the way hvkit keeps
 * registers, so no BigInt and no allocation is involved.
 */

/**
 * Whether the 64-bit linear address `hi:lo` is canonical for `linearBits`-bit linear
 * addresses: bits 63 through `linearBits - 1` all equal (Intel SDM Vol. 1 §3.3.7.1; 48 bits
 * with 4-level paging, 57 with 5-level paging, SDM Vol. 3 §4.5). `lo` never matters, since
 * `linearBits` is at least 33.
 */
export function isCanonical(hi: number, linearBits: 48 | 57): boolean {
  const sign = (hi | 0) >> (linearBits - 33);
  return sign === 0 || sign === -1;
}

/**
 * The page-fault error code bits pushed with #PF (Intel SDM Vol. 3 §4.7, Figure 4-12).
 */
export const PageFaultErrorCode = {
  /** 0: not present; 1: protection violation. */
  Present: 1 << 0,
  /** The access was a write. */
  Write: 1 << 1,
  /** The access was made in user mode (CPL 3). */
  User: 1 << 2,
  /** A reserved bit was set in a paging-structure entry. */
  ReservedBit: 1 << 3,
  /** The access was an instruction fetch. */
  InstructionFetch: 1 << 4,
  /** A protection-key violation. */
  ProtectionKey: 1 << 5,
  /** A shadow-stack access. */
  ShadowStack: 1 << 6,
  /** HLAT paging. */
  Hlat: 1 << 7,
  /** An SGX-specific access-control violation. */
  Sgx: 1 << 15,
} as const;
