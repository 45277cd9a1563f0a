/**
 * The VMCS fields hvkit implements, by their SDM names (Intel SDM Vol. 3 Appendix B "Field
 * Encoding in VMCS"), and the cached VMCS itself.
 *
 * A field is named by its 32-bit encoding (see `vmcs-encoding.ts` for the bit layout). Every
 * supported field has a dense slot number; `VMCS_SLOT[encoding & ~1]` maps an encoding to its
 * slot (-1 when hvkit does not implement the field: VMREAD/VMWRITE then fail with
 * VM-instruction error 12, SDM Vol. 3 §30.3). A 64-bit field keeps its low half in `lo[slot]`
 * and its high half in `hi[slot]`; natural-width fields are 64 bits wide on this 64-bit
 * processor; 16- and 32-bit fields use `lo` only.
 *
 * The VMCS region in memory (SDM Vol. 3 §24.2 "Format of the VMCS region") has the VMCS
 * revision identifier in bits 30:0 of its first dword (bit 31 the shadow-VMCS indicator) and
 * the VMX-abort indicator in its second; the rest of the layout is implementation-specific.
 * hvkit's: dword 2 holds the launch state (0 clear, 1 launched), dwords 3 is reserved, and
 * slot i occupies the 8 bytes at {@link VMCS_DATA_OFFSET} + 8 i (low half first).
 */

/** Field encodings, SDM Vol. 3 Appendix B (Tables B-1 to B-14). */
export const VmcsField = {
  // ---- 16-bit control fields (Table B-1)
  VirtualProcessorId: 0x0000,
  EptpIndex: 0x0004,
  // ---- 16-bit guest-state fields (Table B-2)
  GuestEsSelector: 0x0800,
  GuestCsSelector: 0x0802,
  GuestSsSelector: 0x0804,
  GuestDsSelector: 0x0806,
  GuestFsSelector: 0x0808,
  GuestGsSelector: 0x080a,
  GuestLdtrSelector: 0x080c,
  GuestTrSelector: 0x080e,
  // ---- 16-bit host-state fields (Table B-3)
  HostEsSelector: 0x0c00,
  HostCsSelector: 0x0c02,
  HostSsSelector: 0x0c04,
  HostDsSelector: 0x0c06,
  HostFsSelector: 0x0c08,
  HostGsSelector: 0x0c0a,
  HostTrSelector: 0x0c0c,
  // ---- 64-bit control fields (Table B-4)
  IoBitmapA: 0x2000,
  IoBitmapB: 0x2002,
  MsrBitmap: 0x2004,
  VmExitMsrStoreAddress: 0x2006,
  VmExitMsrLoadAddress: 0x2008,
  VmEntryMsrLoadAddress: 0x200a,
  TscOffset: 0x2010,
  VirtualApicAddress: 0x2012,
  ApicAccessAddress: 0x2014,
  VmFunctionControls: 0x2018,
  EptPointer: 0x201a,
  EptpListAddress: 0x2024,
  // ---- 64-bit read-only data field (Table B-5)
  GuestPhysicalAddress: 0x2400,
  // ---- 64-bit guest-state fields (Table B-6)
  VmcsLinkPointer: 0x2800,
  GuestIa32Debugctl: 0x2802,
  GuestIa32Pat: 0x2804,
  GuestIa32Efer: 0x2806,
  GuestPdpte0: 0x280a,
  GuestPdpte1: 0x280c,
  GuestPdpte2: 0x280e,
  GuestPdpte3: 0x2810,
  // ---- 64-bit host-state fields (Table B-7)
  HostIa32Pat: 0x2c00,
  HostIa32Efer: 0x2c02,
  // ---- 32-bit control fields (Table B-8)
  PinBasedVmExecControl: 0x4000,
  CpuBasedVmExecControl: 0x4002,
  ExceptionBitmap: 0x4004,
  PageFaultErrorCodeMask: 0x4006,
  PageFaultErrorCodeMatch: 0x4008,
  Cr3TargetCount: 0x400a,
  VmExitControls: 0x400c,
  VmExitMsrStoreCount: 0x400e,
  VmExitMsrLoadCount: 0x4010,
  VmEntryControls: 0x4012,
  VmEntryMsrLoadCount: 0x4014,
  VmEntryInterruptionInfo: 0x4016,
  VmEntryExceptionErrorCode: 0x4018,
  VmEntryInstructionLength: 0x401a,
  TprThreshold: 0x401c,
  SecondaryVmExecControl: 0x401e,
  PleGap: 0x4020,
  PleWindow: 0x4022,
  // ---- 32-bit read-only data fields (Table B-9)
  VmInstructionError: 0x4400,
  VmExitReason: 0x4402,
  VmExitInterruptionInfo: 0x4404,
  VmExitInterruptionErrorCode: 0x4406,
  IdtVectoringInfo: 0x4408,
  IdtVectoringErrorCode: 0x440a,
  VmExitInstructionLength: 0x440c,
  VmExitInstructionInfo: 0x440e,
  // ---- 32-bit guest-state fields (Table B-10)
  GuestEsLimit: 0x4800,
  GuestCsLimit: 0x4802,
  GuestSsLimit: 0x4804,
  GuestDsLimit: 0x4806,
  GuestFsLimit: 0x4808,
  GuestGsLimit: 0x480a,
  GuestLdtrLimit: 0x480c,
  GuestTrLimit: 0x480e,
  GuestGdtrLimit: 0x4810,
  GuestIdtrLimit: 0x4812,
  GuestEsArBytes: 0x4814,
  GuestCsArBytes: 0x4816,
  GuestSsArBytes: 0x4818,
  GuestDsArBytes: 0x481a,
  GuestFsArBytes: 0x481c,
  GuestGsArBytes: 0x481e,
  GuestLdtrArBytes: 0x4820,
  GuestTrArBytes: 0x4822,
  GuestInterruptibilityInfo: 0x4824,
  GuestActivityState: 0x4826,
  GuestSmbase: 0x4828,
  GuestSysenterCs: 0x482a,
  VmxPreemptionTimerValue: 0x482e,
  // ---- 32-bit host-state field (Table B-11)
  HostIa32SysenterCs: 0x4c00,
  // ---- natural-width control fields (Table B-12)
  Cr0GuestHostMask: 0x6000,
  Cr4GuestHostMask: 0x6002,
  Cr0ReadShadow: 0x6004,
  Cr4ReadShadow: 0x6006,
  Cr3TargetValue0: 0x6008,
  Cr3TargetValue1: 0x600a,
  Cr3TargetValue2: 0x600c,
  Cr3TargetValue3: 0x600e,
  // ---- natural-width read-only data fields (Table B-13)
  ExitQualification: 0x6400,
  IoRcx: 0x6402,
  IoRsi: 0x6404,
  IoRdi: 0x6406,
  IoRip: 0x6408,
  GuestLinearAddress: 0x640a,
  // ---- natural-width guest-state fields (Table B-14)
  GuestCr0: 0x6800,
  GuestCr3: 0x6802,
  GuestCr4: 0x6804,
  GuestEsBase: 0x6806,
  GuestCsBase: 0x6808,
  GuestSsBase: 0x680a,
  GuestDsBase: 0x680c,
  GuestFsBase: 0x680e,
  GuestGsBase: 0x6810,
  GuestLdtrBase: 0x6812,
  GuestTrBase: 0x6814,
  GuestGdtrBase: 0x6816,
  GuestIdtrBase: 0x6818,
  GuestDr7: 0x681a,
  GuestRsp: 0x681c,
  GuestRip: 0x681e,
  GuestRflags: 0x6820,
  GuestPendingDbgExceptions: 0x6822,
  GuestSysenterEsp: 0x6824,
  GuestSysenterEip: 0x6826,
  // ---- natural-width host-state fields (Table B-15)
  HostCr0: 0x6c00,
  HostCr3: 0x6c02,
  HostCr4: 0x6c04,
  HostFsBase: 0x6c06,
  HostGsBase: 0x6c08,
  HostTrBase: 0x6c0a,
  HostGdtrBase: 0x6c0c,
  HostIdtrBase: 0x6c0e,
  HostIa32SysenterEsp: 0x6c10,
  HostIa32SysenterEip: 0x6c12,
  HostRsp: 0x6c14,
  HostRip: 0x6c16,
} as const;
export type VmcsField = (typeof VmcsField)[keyof typeof VmcsField];

/** Byte offset of slot 0 in a VMCS region (see the module comment). */
export const VMCS_DATA_OFFSET = 16;
/** Offset of hvkit's launch-state dword in a VMCS region. */
export const VMCS_LAUNCH_OFFSET = 8;

const ENCODINGS: readonly number[] = Object.values(VmcsField);

/** Number of implemented fields (slots). */
export const VMCS_SLOTS = ENCODINGS.length;

/** Encoding (bit 0, the high-access bit, cleared) -> slot, or -1. Indexed by the low 15 bits. */
export const VMCS_SLOT = new Int16Array(0x8000).fill(-1);
for (let i = 0; i < ENCODINGS.length; i++) VMCS_SLOT[ENCODINGS[i]!] = i;

/** Encoding of each slot. */
export const SLOT_ENCODING = new Int32Array(ENCODINGS);

/**
 * The highest index (bits 9:1) of any implemented field encoding: IA32_VMX_VMCS_ENUM bits 9:1
 * (SDM Vol. 3 Appendix A.9).
 */
export const VMCS_MAX_INDEX = ENCODINGS.reduce((m, e) => Math.max(m, (e >>> 1) & 0x1ff), 0);

/** The slot of a supported field; throws for an encoding not in the table (a programming error, not a guest one). */
export function slotOf(encoding: number): number {
  const s = encoding >= 0 && encoding < 0x8000 ? VMCS_SLOT[encoding & ~1]! : -1;
  if (s < 0) throw new Error(`VMCS field ${encoding.toString(16)} is not implemented`);
  return s;
}

/**
 * A VMCS as the processor caches it: the current VMCS, or one made active by VMPTRLD and not
 * yet VMCLEARed (SDM Vol. 3 §24.1 "Overview": a VMCS is active, current and launched or clear).
 * Field values live here while the VMCS is cached; VMCLEAR writes them to the VMCS region
 * (`writeBack` in instructions.ts), VMPTRLD of a VMCS that is not cached reads them.
 */
export class Vmcs {
  /** Physical address of the VMCS region. */
  address = 0;
  /** Launch state: false = clear, true = launched. */
  launched = false;
  readonly lo = new Int32Array(VMCS_SLOTS);
  readonly hi = new Int32Array(VMCS_SLOTS);
  /**
   * Bumped on every VMWRITE (and VMPTRLD of different contents), so VM entry can skip the
   * control/host checks that passed for an unchanged VMCS (the checks stay complete: any
   * change re-runs them).
   */
  generation = 0;
  /** The generation whose controls and host state last passed the VM-entry checks, or -1. */
  checkedGeneration = -1;
  /**
   * Bumped by every write that may change a guest segment-register field (selector, base,
   * limit, access rights of ES ... TR: {@link isGuestSegmentField}): VMWRITE, {@link set},
   * {@link set64}, {@link clearAll}, and a VM exit that saves segment registers other than
   * those the VMCS held (exit.ts). VM entry skips the §26.3.1.2 segment checks only while this,
   * {@link generation} and the other inputs of those checks are those they last passed with
   * (entry.ts `checkGuestState`).
   */
  segGeneration = 0;
  /** `generation`, `segGeneration` and the context key (entry.ts) of the last passing §26.3.1.2 check, or -1. */
  segCheckedGen = -1;
  segCheckedSegGen = -1;
  segCheckedKey = -1;

  /** Low 32 bits (the whole value of a 16/32-bit field). */
  get(encoding: number): number {
    return this.lo[VMCS_SLOT[encoding]!]!;
  }

  /** High 32 bits of a 64-bit or natural-width field. */
  getHi(encoding: number): number {
    return this.hi[VMCS_SLOT[encoding]!]!;
  }

  /** The value of a 64-bit or natural-width field as a number (exact below 2^53; for addresses). */
  get64(encoding: number): number {
    const s = VMCS_SLOT[encoding]!;
    return (this.hi[s]! >>> 0) * 0x1_0000_0000 + (this.lo[s]! >>> 0);
  }

  /** Writes a field (both halves; `hi` ignored by readers of 16/32-bit fields). Used by the processor (VM exits), not VMWRITE. */
  set(encoding: number, lo: number, hi = 0): void {
    const s = VMCS_SLOT[encoding]!;
    if (isGuestSegmentField(encoding)) this.segGeneration++;
    this.lo[s] = lo;
    this.hi[s] = hi;
  }

  /** Writes a 64-bit field from a number below 2^53. */
  set64(encoding: number, value: number): void {
    const s = VMCS_SLOT[encoding]!;
    if (isGuestSegmentField(encoding)) this.segGeneration++;
    this.lo[s] = value % 0x1_0000_0000 | 0;
    this.hi[s] = Math.floor(value / 0x1_0000_0000) | 0;
  }

  clearAll(): void {
    this.lo.fill(0);
    this.hi.fill(0);
    this.generation++;
    this.segGeneration++;
  }
}

/**
 * Whether an encoding (either access) is a guest segment-register field, the inputs of the
 * §26.3.1.2 "Checks on Guest Segment Registers" besides RFLAGS.VM, CR0.PE and the controls
 * (SDM Appendix B: selectors 0800H-080EH, limits 4800H-480EH, access rights 4814H-4822H,
 * bases 6806H-6814H; the GDTR/IDTR limits 4810H/4812H between them count too, harmlessly).
 */
export function isGuestSegmentField(encoding: number): boolean {
  const e = encoding & ~1;
  return (e >= 0x0800 && e <= 0x080e) || (e >= 0x4800 && e <= 0x4822) || (e >= 0x6806 && e <= 0x6814);
}
