/**
 * VMCS field encodings: the 32-bit values VMREAD and VMWRITE take to name a field
 * (Intel SDM Vol. 3 §24.11.2, "VMREAD, VMWRITE, and Encodings of VMCS Fields", and Appendix B).
 *
 * | bits  | meaning                                                                 |
 * |-------|-------------------------------------------------------------------------|
 * | 0     | access type: 0 full, 1 high (the upper 32 bits of a 64-bit field only)  |
 * | 9:1   | index                                                                   |
 * | 11:10 | type: 0 control, 1 VM-exit information, 2 guest state, 3 host state     |
 * | 12    | reserved, must be 0                                                     |
 * | 14:13 | width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural width                   |
 * | 31:15 | reserved, must be 0                                                     |
 */

export const VmcsFieldWidth = { Bits16: 0, Bits64: 1, Bits32: 2, Natural: 3 } as const;
export type VmcsFieldWidth = (typeof VmcsFieldWidth)[keyof typeof VmcsFieldWidth];

export const VmcsFieldType = { Control: 0, ExitInformation: 1, GuestState: 2, HostState: 3 } as const;
export type VmcsFieldType = (typeof VmcsFieldType)[keyof typeof VmcsFieldType];

/** Bits that must be 0 in any encoding: 12 and 31:15. */
const RESERVED_MASK = 0xffff_8000 | (1 << 12);

/** The width of the field `encoding` names (bits 14:13). */
export function vmcsFieldWidth(encoding: number): VmcsFieldWidth {
  return ((encoding >>> 13) & 3) as VmcsFieldWidth;
}

/** The type of the field `encoding` names (bits 11:10). */
export function vmcsFieldType(encoding: number): VmcsFieldType {
  return ((encoding >>> 10) & 3) as VmcsFieldType;
}

/** The index within its width and type (bits 9:1). */
export function vmcsFieldIndex(encoding: number): number {
  return (encoding >>> 1) & 0x1ff;
}

/** Whether the encoding selects the high 32 bits of a 64-bit field (bit 0). */
export function isHighAccess(encoding: number): boolean {
  return (encoding & 1) === 1;
}

/**
 * Whether `encoding` is well formed: reserved bits clear, and high access only for 64-bit
 * fields. (Whether the processor supports the field is a separate question, answered by the
 * VMCS field table; an unsupported field makes VMREAD/VMWRITE fail with VM-instruction error
 * 12, SDM Vol. 3 §30.4.)
 */
export function isWellFormedVmcsEncoding(encoding: number): boolean {
  if ((encoding & RESERVED_MASK) !== 0) return false;
  return !isHighAccess(encoding) || vmcsFieldWidth(encoding) === VmcsFieldWidth.Bits64;
}
