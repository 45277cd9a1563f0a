/**
 * VM entry (Intel SDM Vol. 3C ch. 26 "VM Entries"), after VMLAUNCH/VMRESUME's own checks
 * (§26.1 "Basic VM-Entry Checks", done by instructions.ts):
 *
 * 1. §26.2 "Checks on VMX Controls and Host-State Area": §26.2.1 VM-execution, VM-exit and
 *    VM-entry control fields -> VMfailValid 7; §26.2.2 host control registers and MSRs,
 *    §26.2.3 host segment and descriptor-table registers, §26.2.4 address-space size ->
 *    VMfailValid 8. The instruction then completes normally (RIP moves on).
 * 2. §26.3.1 "Checks on the Guest State Area" -> VM-entry failure exit 33 (bit 31 set) with
 *    exit qualification 0, 2 (PDPTE loading, §26.3.1.6), 3 (NMI injection under blocking by
 *    STI) or 4 (VMCS link pointer).
 * 3. §26.3.2 "Loading Guest State", then §26.4 "Loading MSRs" (failure: exit 34 with the
 *    qualification = the 1-based index of the failing entry).
 * 4. Launch state "launched" for VMLAUNCH, `cpu.guestMode = true`, `nonRootEnter` (controls
 *    cached, core hooks, EPT/VPID), §26.3.2.5 TLB rules (VPID disabled: the guest's TLB bank is
 *    flushed on every entry).
 * 5. §26.6 "Event Injection" through the guest's IDT (so EPT violations and exception intercepts
 *    apply, with IDT-vectoring information for an exit during delivery), §26.7 "Special
 *    Features of VM Entry": activity states HLT, shutdown and wait-for-SIPI (§26.7.2 "Activity
 *    State"), pending debug exceptions (§26.7.3 "Delivery of Pending Debug Exceptions after VM
 *    Entry"), a pending MTF VM exit (§26.6.2 "Injection of Pending MTF VM Exits", §26.7.8
 *    "Pending MTF VM Exits").
 *
 * Speed (this is the world switch): the control and host-state checks are skipped while the
 * VMCS is unchanged since they last passed (`vmcs.checkedGeneration === vmcs.generation`;
 * VMWRITE and VMPTRLD bump the generation), except the few that depend on something a VMWRITE
 * does not change (processor mode, guest CR0 for event-injection error codes, the virtual-APIC
 * page's VTPR), which run every time. The cached checks read control and host-state fields
 * only (never a guest-state field), so a VMWRITE to a guest-state field need not move the
 * generation. The guest-state checks run on every entry, except the §26.3.1.2 segment-register
 * checks, which are skipped while every input they read is as when they last passed (the guest
 * segment fields, tracked by `vmcs.segGeneration`, which every write to them bumps, a VM exit
 * that saves other segment registers included; the control generation; CR0.PE, RFLAGS.VM and
 * the controls they depend on, compared as a key). They read the VMCS through slot indexes
 * cached in module constants and allocate nothing.
 */
import type { Hpa } from '@hvkit/platform';
import { CPU_FAULT, type Cpu, Cr0, Cr4, Efer, EventKind, Flag, Seg, SegAttr, writeMsr } from '@hvkit/x86';
import { controlsValid } from './caps.js';
import { ActivityState, EntryCtl, ExitCtl, Interruptibility, InterruptionType, PinCtl, Proc2Ctl, ProcCtl, VmFuncCtl } from './constants.js';
import { VMCS_SLOT, VmcsField as F, type Vmcs } from './fields.js';
import { entryFailureExit } from './exit.js';
import { eptActivate } from './ept.js';
import { vmFailValid } from './instructions.js';
import { nonRootEnter, requestPendingMtf } from './nonroot.js';
import type { VmxCpu } from './vmx.js';

// ---- slots (module constants: the hot path indexes vmcs.lo/hi directly) -------------------------

const slot = (e: number): number => VMCS_SLOT[e]!;
const S_VPID = slot(F.VirtualProcessorId);
const S_IO_A = slot(F.IoBitmapA);
const S_IO_B = slot(F.IoBitmapB);
const S_MSR_BITMAP = slot(F.MsrBitmap);
const S_EXIT_MSR_STORE = slot(F.VmExitMsrStoreAddress);
const S_EXIT_MSR_LOAD = slot(F.VmExitMsrLoadAddress);
const S_ENTRY_MSR_LOAD = slot(F.VmEntryMsrLoadAddress);
const S_VAPIC = slot(F.VirtualApicAddress);
const S_APIC_ACCESS = slot(F.ApicAccessAddress);
const S_VMFUNC = slot(F.VmFunctionControls);
const S_EPTP = slot(F.EptPointer);
const S_EPTP_LIST = slot(F.EptpListAddress);
const S_LINK = slot(F.VmcsLinkPointer);
const S_G_DEBUGCTL = slot(F.GuestIa32Debugctl);
const S_G_PAT = slot(F.GuestIa32Pat);
const S_G_EFER = slot(F.GuestIa32Efer);
const S_G_PDPTE0 = slot(F.GuestPdpte0);
const S_G_PDPTE1 = slot(F.GuestPdpte1);
const S_G_PDPTE2 = slot(F.GuestPdpte2);
const S_G_PDPTE3 = slot(F.GuestPdpte3);
const S_H_PAT = slot(F.HostIa32Pat);
const S_H_EFER = slot(F.HostIa32Efer);
const S_PIN = slot(F.PinBasedVmExecControl);
const S_PROC = slot(F.CpuBasedVmExecControl);
const S_CR3_COUNT = slot(F.Cr3TargetCount);
const S_EXIT_CTL = slot(F.VmExitControls);
const S_EXIT_MSR_STORE_COUNT = slot(F.VmExitMsrStoreCount);
const S_EXIT_MSR_LOAD_COUNT = slot(F.VmExitMsrLoadCount);
const S_ENTRY_CTL = slot(F.VmEntryControls);
const S_ENTRY_MSR_LOAD_COUNT = slot(F.VmEntryMsrLoadCount);
const S_ENTRY_INFO = slot(F.VmEntryInterruptionInfo);
const S_ENTRY_ERROR = slot(F.VmEntryExceptionErrorCode);
const S_ENTRY_LEN = slot(F.VmEntryInstructionLength);
const S_TPR_THRESHOLD = slot(F.TprThreshold);
const S_PROC2 = slot(F.SecondaryVmExecControl);
const S_G_GDTR_LIMIT = slot(F.GuestGdtrLimit);
const S_G_IDTR_LIMIT = slot(F.GuestIdtrLimit);
const S_G_INTERRUPTIBILITY = slot(F.GuestInterruptibilityInfo);
const S_G_ACTIVITY = slot(F.GuestActivityState);
const S_G_SYSENTER_CS = slot(F.GuestSysenterCs);
const S_G_CR0 = slot(F.GuestCr0);
const S_G_CR3 = slot(F.GuestCr3);
const S_G_CR4 = slot(F.GuestCr4);
const S_G_GDTR_BASE = slot(F.GuestGdtrBase);
const S_G_IDTR_BASE = slot(F.GuestIdtrBase);
const S_G_DR7 = slot(F.GuestDr7);
const S_G_RSP = slot(F.GuestRsp);
const S_G_RIP = slot(F.GuestRip);
const S_G_RFLAGS = slot(F.GuestRflags);
const S_G_PENDING_DBG = slot(F.GuestPendingDbgExceptions);
const S_G_SYSENTER_ESP = slot(F.GuestSysenterEsp);
const S_G_SYSENTER_EIP = slot(F.GuestSysenterEip);
const S_H_ES_SEL = slot(F.HostEsSelector);
const S_H_CS_SEL = slot(F.HostCsSelector);
const S_H_SS_SEL = slot(F.HostSsSelector);
const S_H_DS_SEL = slot(F.HostDsSelector);
const S_H_FS_SEL = slot(F.HostFsSelector);
const S_H_GS_SEL = slot(F.HostGsSelector);
const S_H_TR_SEL = slot(F.HostTrSelector);
const S_H_CR0 = slot(F.HostCr0);
const S_H_CR3 = slot(F.HostCr3);
const S_H_CR4 = slot(F.HostCr4);
const S_H_FS_BASE = slot(F.HostFsBase);
const S_H_GS_BASE = slot(F.HostGsBase);
const S_H_TR_BASE = slot(F.HostTrBase);
const S_H_GDTR_BASE = slot(F.HostGdtrBase);
const S_H_IDTR_BASE = slot(F.HostIdtrBase);
const S_H_SYSENTER_ESP = slot(F.HostIa32SysenterEsp);
const S_H_SYSENTER_EIP = slot(F.HostIa32SysenterEip);
const S_H_RIP = slot(F.HostRip);

/** Guest segment slots by the core's `Seg` number (ES, CS, SS, DS, FS, GS, LDTR, TR = the VMCS order). */
const S_SEL = Int32Array.from({ length: 8 }, (_, s) => slot(F.GuestEsSelector + 2 * s));
const S_LIMIT = Int32Array.from({ length: 8 }, (_, s) => slot(F.GuestEsLimit + 2 * s));
const S_AR = Int32Array.from({ length: 8 }, (_, s) => slot(F.GuestEsArBytes + 2 * s));
const S_BASE = Int32Array.from({ length: 8 }, (_, s) => slot(F.GuestEsBase + 2 * s));

/** The access-rights bit "segment unusable" (SDM §24.4.1, Table 24-2). */
const AR_UNUSABLE = 1 << 16;
/** Access-rights bits that exist (the rest, 11:8 and 31:17, are reserved). */
const AR_DEFINED = 0x1f0ff;
/** CR0 bits VM entry loads (§26.3.2.1: ET, bits 15:6, 17, 28:19 and 63:32 are not modified). */
const CR0_LOADED = Cr0.PE | Cr0.MP | Cr0.EM | Cr0.TS | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.NW | Cr0.CD | Cr0.PG;
/** RFLAGS bits that must be 0 (§26.3.1.4: 63:22, 15, 5, 3). */
const RFLAGS_RESERVED = ~0x3fffff | (1 << 15) | (1 << 5) | (1 << 3);
/** Architectural IA32_DEBUGCTL bits (LBR, BTF, TR, BTS, BTINT, BTS_OFF_OS/USR, FREEZE_*, ENABLE_UNCORE_PMI, FREEZE_WHILE_SMM); RTM_DEBUG (15) needs RTM, which hvkit lacks. */
const DEBUGCTL_DEFINED = 0x7fc3;
/** IA32_DEBUGCTL.BTF. */
const DEBUGCTL_BTF = 1 << 1;
/** Pending-debug-exceptions bits that may be 1 (§24.4.2 Table 24-4: B3-B0, enabled breakpoint 12, BS 14; RTM 16 needs RTM). */
const PENDING_DBG_DEFINED = 0xf | (1 << 12) | (1 << 14);
const PENDING_DBG_BS = 1 << 14;
/** Hardware exceptions that deliver an error code (§26.2.1.3: 8, 10-14, 17). */
const ERROR_CODE_VECTORS = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);
/** VM-entry interruption-information: valid bit, deliver-error-code bit, reserved bits 30:12. */
const INFO_VALID = 1 << 31;
const INFO_ERROR = 1 << 11;
const INFO_RESERVED = 0x7ffff000;
/** IA32_FS_BASE, IA32_GS_BASE, IA32_SMM_MONITOR_CTL, IA32_SMBASE (§26.4 MSR-load exclusions). */
const MSR_FS_BASE = 0xc0000100 | 0;
const MSR_GS_BASE = 0xc0000101 | 0;
const MSR_SMM_MONITOR_CTL = 0x9b;
const MSR_SMBASE = 0x9e;

/** PDPTEs read during the §26.3.1.6 checks, loaded in §26.3.2.4 (lo, hi per entry). */
const pdpteScratch = new Int32Array(8);

// ---- small helpers ----------------------------------------------------------------------------

/** Whether a value respects its must-be-1 and may-be-1 masks (controls: Appendix A.3-A.5; fixed CR bits: A.7, A.8). */
const allowed = controlsValid;

/** Whether a physical address (lo, hi) is within the physical-address width `bits` (> 32). */
function physOk(hi: number, bits: number): boolean {
  return hi >>> (bits - 32) === 0;
}

/** Whether a 4-KiB-aligned physical address field (slot) is within the physical-address width. */
function pageAddrOk(lo: Int32Array, hi: Int32Array, s: number, bits: number): boolean {
  return (lo[s]! & 0xfff) === 0 && physOk(hi[s]!, bits);
}

/**
 * Canonical for a 48-bit (`la57` false) or 57-bit linear-address width: bits 63:N all equal to
 * bit N-1. The VM-entry checks of bases and MSR values use the processor's linear-address
 * width (57 bits when it supports 5-level paging, whatever CR4.LA57 says, as WRMSR does); RIP
 * uses the width the CR4.LA57 being loaded gives it.
 */
function canonical(hi: number, la57: boolean): boolean {
  const sign = hi >> (la57 ? 24 : 15);
  return sign === 0 || sign === -1;
}

/** A valid PAT memory type in every byte: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC- (2 and 3 reserved; SDM Vol. 3 §12.12.2). */
function patOk(lo: number, hi: number): boolean {
  for (let i = 0; i < 32; i += 8) {
    const a = (lo >>> i) & 0xff;
    const b = (hi >>> i) & 0xff;
    if (a > 7 || a === 2 || a === 3 || b > 7 || b === 2 || b === 3) return false;
  }
  return true;
}

/** The IA32_EFER bits that exist on an Intel 64 processor: SCE, LME, LMA, NXE. */
const EFER_DEFINED = Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE;

/** The 16-byte-aligned MSR-area rule of §26.2.1.2/§26.2.1.3: address aligned, it and its last byte within the width. */
function msrAreaOk(lo: Int32Array, hi: Int32Array, sAddr: number, count: number, bits: number): boolean {
  if (count === 0) return true;
  if ((lo[sAddr]! & 0xf) !== 0 || !physOk(hi[sAddr]!, bits)) return false;
  const last = (hi[sAddr]! >>> 0) * 0x1_0000_0000 + (lo[sAddr]! >>> 0) + (count >>> 0) * 16 - 1;
  return last < 2 ** bits;
}

/** Limit/granularity consistency (§26.3.1.2): limit bits 11:0 not all 1 -> G = 0; bits 31:20 not all 0 -> G = 1. */
function granularityOk(limit: number, ar: number): boolean {
  const g = (ar & SegAttr.G) !== 0;
  if ((limit & 0xfff) !== 0xfff && g) return false;
  if ((limit & 0xfff00000) !== 0 && !g) return false;
  return true;
}

// ---- §26.2: controls and host state ---------------------------------------------------------------

/**
 * §26.2.1.1 "VM-Execution Control Fields", §26.2.1.2 "VM-Exit Control Fields", §26.2.1.3
 * "VM-Entry Control Fields" (all but the event-injection rules, see {@link injectionOk}).
 * True when they pass.
 */
export function controlsOk(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs): boolean {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const caps = vmx.caps;
  const bits = cpu.model.physAddrBits;
  const pin = lo[S_PIN]!;
  const proc = lo[S_PROC]!;
  // §26.2.1.1: reserved bits of the pin-based and processor-based controls (the TRUE MSRs,
  // Appendix A.3.1-A.3.3); the secondary controls count only with "activate secondary controls".
  if (!allowed(pin, caps.pinAllowed0, caps.pinAllowed1)) return false;
  if (!allowed(proc, caps.procAllowed0, caps.procAllowed1)) return false;
  const proc2 = (proc & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  if (!allowed(proc2, caps.proc2Allowed0, caps.proc2Allowed1)) return false;
  // The CR3-target count is not greater than 4 (the count IA32_VMX_MISC bits 24:16 reports).
  if (lo[S_CR3_COUNT]! >>> 0 > caps.cr3TargetCount) return false;
  // "use I/O bitmaps": each bitmap address 4-KiB aligned and within the physical-address width.
  if ((proc & ProcCtl.UseIoBitmaps) !== 0 && (!pageAddrOk(lo, hi, S_IO_A, bits) || !pageAddrOk(lo, hi, S_IO_B, bits))) return false;
  // "use MSR bitmaps": the same for the MSR-bitmap address.
  if ((proc & ProcCtl.UseMsrBitmaps) !== 0 && !pageAddrOk(lo, hi, S_MSR_BITMAP, bits)) return false;
  if ((proc & ProcCtl.UseTprShadow) !== 0) {
    // "use TPR shadow": virtual-APIC address aligned and in range; without "virtual-interrupt
    // delivery" (not supported) bits 31:4 of the TPR threshold are 0.
    if (!pageAddrOk(lo, hi, S_VAPIC, bits)) return false;
    if ((lo[S_TPR_THRESHOLD]! & ~0xf) !== 0) return false;
  } else if ((proc2 & (Proc2Ctl.VirtualizeX2apicMode | Proc2Ctl.ApicRegisterVirtualization | Proc2Ctl.VirtualInterruptDelivery)) !== 0) {
    // Without "use TPR shadow": "virtualize x2APIC mode", "APIC-register virtualization" and
    // "virtual-interrupt delivery" are 0.
    return false;
  }
  // "NMI exiting" = 0 -> "virtual NMIs" = 0; "virtual NMIs" = 0 -> "NMI-window exiting" = 0.
  if ((pin & PinCtl.NmiExiting) === 0 && (pin & PinCtl.VirtualNmis) !== 0) return false;
  if ((pin & PinCtl.VirtualNmis) === 0 && (proc & ProcCtl.NmiWindowExiting) !== 0) return false;
  // "virtualize APIC accesses": the APIC-access address aligned and in range.
  if ((proc2 & Proc2Ctl.VirtualizeApicAccesses) !== 0 && !pageAddrOk(lo, hi, S_APIC_ACCESS, bits)) return false;
  // "virtualize x2APIC mode" and "virtualize APIC accesses" are not both 1.
  if ((proc2 & Proc2Ctl.VirtualizeX2apicMode) !== 0 && (proc2 & Proc2Ctl.VirtualizeApicAccesses) !== 0) return false;
  // "enable VPID": the VPID is not 0000H.
  if ((proc2 & Proc2Ctl.EnableVpid) !== 0 && (lo[S_VPID]! & 0xffff) === 0) return false;
  // "enable EPT": the EPTP is valid (§24.6.11 "Extended-Page-Table Pointer").
  if ((proc2 & Proc2Ctl.EnableEpt) !== 0 && !caps.eptpValid(lo[S_EPTP]!, hi[S_EPTP]!)) return false;
  // "unrestricted guest" requires "enable EPT".
  if ((proc2 & Proc2Ctl.UnrestrictedGuest) !== 0 && (proc2 & Proc2Ctl.EnableEpt) === 0) return false;
  if ((proc2 & Proc2Ctl.EnableVmFunctions) !== 0) {
    // VM-function controls: only bits IA32_VMX_VMFUNC allows; EPTP switching needs "enable EPT"
    // and a 4-KiB aligned EPTP-list address within the width.
    const f = lo[S_VMFUNC]!;
    if ((f & ~caps.vmfuncAllowed1) !== 0 || hi[S_VMFUNC]! !== 0) return false;
    if ((f & VmFuncCtl.EptpSwitching) !== 0 && ((proc2 & Proc2Ctl.EnableEpt) === 0 || !pageAddrOk(lo, hi, S_EPTP_LIST, bits))) return false;
  }

  // §26.2.1.2: VM-exit controls.
  const exit = lo[S_EXIT_CTL]!;
  if (!allowed(exit, caps.exitAllowed0, caps.exitAllowed1)) return false;
  // "activate VMX-preemption timer" = 0 -> "save VMX-preemption timer value" = 0.
  if ((pin & PinCtl.ActivateVmxPreemptionTimer) === 0 && (exit & ExitCtl.SaveVmxPreemptionTimerValue) !== 0) return false;
  if (!msrAreaOk(lo, hi, S_EXIT_MSR_STORE, lo[S_EXIT_MSR_STORE_COUNT]!, bits)) return false;
  if (!msrAreaOk(lo, hi, S_EXIT_MSR_LOAD, lo[S_EXIT_MSR_LOAD_COUNT]!, bits)) return false;

  // §26.2.1.3: VM-entry controls (event injection: injectionOk).
  const entry = lo[S_ENTRY_CTL]!;
  if (!allowed(entry, caps.entryAllowed0, caps.entryAllowed1)) return false;
  // Outside SMM "entry to SMM" and "deactivate dual-monitor treatment" are 0.
  if ((entry & (EntryCtl.EntryToSmm | EntryCtl.DeactivateDualMonitorTreatment)) !== 0) return false;
  if (!msrAreaOk(lo, hi, S_ENTRY_MSR_LOAD, lo[S_ENTRY_MSR_LOAD_COUNT]!, bits)) return false;
  return true;
}

/**
 * The event-injection rules of §26.2.1.3 (checked on every entry that injects, since they
 * depend on the guest's CR0.PE, which a VM exit can change without a VMWRITE). `info` has the
 * valid bit set. True when they pass.
 */
export function injectionOk(vmx: VmxCpu, vmcs: Vmcs, info: number): boolean {
  const lo = vmcs.lo;
  const type = (info >>> 8) & 7;
  const vector = info & 0xff;
  // Interruption type 1 is reserved; 7 (other event) needs the 1-setting of "monitor trap flag".
  if (type === 1) return false;
  if (type === InterruptionType.OtherEvent && (vmx.caps.procAllowed1 & ProcCtl.MonitorTrapFlag) === 0) return false;
  // Vector: 2 for NMI, at most 31 for a hardware exception, 0 for other event (pending MTF).
  if (type === InterruptionType.Nmi && vector !== 2) return false;
  if (type === InterruptionType.HardwareException && vector > 31) return false;
  if (type === InterruptionType.OtherEvent && vector !== 0) return false;
  // Deliver error code = 1 exactly when: "unrestricted guest" = 0 or guest CR0.PE = 1, a
  // hardware exception, and a vector that has an error code (8, 10-14, 17).
  const proc2 = (lo[S_PROC]! & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  const protectedGuest = (proc2 & Proc2Ctl.UnrestrictedGuest) === 0 || (lo[S_G_CR0]! & Cr0.PE) !== 0;
  const wantsError = protectedGuest && type === InterruptionType.HardwareException && vector < 32 && ((ERROR_CODE_VECTORS >>> vector) & 1) !== 0;
  if (((info & INFO_ERROR) !== 0) !== wantsError) return false;
  // Reserved bits 30:12 are 0.
  if ((info & INFO_RESERVED) !== 0) return false;
  // With deliver error code, bits 31:16 of the VM-entry exception error code are 0.
  if ((info & INFO_ERROR) !== 0 && (lo[S_ENTRY_ERROR]! & 0xffff0000) !== 0) return false;
  // Software interrupt, privileged software exception, software exception: instruction length
  // 1-15 (0 would need IA32_VMX_MISC bit 30, which hvkit does not set).
  if (type === InterruptionType.SoftwareInterrupt || type === InterruptionType.PrivilegedSoftwareException || type === InterruptionType.SoftwareException) {
    const len = lo[S_ENTRY_LEN]!;
    if (len < 1 || len > 15) return false;
  }
  return true;
}

/**
 * §26.2.2 "Checks on Host Control Registers, MSRs, and SSP", §26.2.3 "Checks on Host Segment
 * and Descriptor-Table Registers" and the VMCS-only part of §26.2.4 "Checks Related to
 * Address-Space Size". True when they pass.
 */
export function hostStateOk(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs): boolean {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const caps = vmx.caps;
  const exit = lo[S_EXIT_CTL]!;
  const hostLong = (exit & ExitCtl.HostAddressSpaceSize) !== 0;
  const cr0 = lo[S_H_CR0]!;
  const cr4 = lo[S_H_CR4]!;
  // §26.2.2: CR0 and CR4 follow IA32_VMX_CR0/CR4_FIXED0/FIXED1 (Appendix A.7, A.8); their
  // bits 63:32 are 0 (FIXED1 reports them 0).
  if (!allowed(cr0, caps.cr0Fixed0, caps.cr0Fixed1) || hi[S_H_CR0]! !== 0) return false;
  if (!allowed(cr4, caps.cr4Fixed0, caps.cr4Fixed1) || hi[S_H_CR4]! !== 0) return false;
  // CR3 bits beyond the physical-address width are 0.
  const bits = cpu.model.physAddrBits;
  if (!physOk(hi[S_H_CR3]!, bits)) return false;
  const la57 = cpu.model.linearAddrBits === 57;
  // IA32_SYSENTER_ESP and IA32_SYSENTER_EIP are canonical.
  if (!canonical(hi[S_H_SYSENTER_ESP]!, la57) || !canonical(hi[S_H_SYSENTER_EIP]!, la57)) return false;
  // "load IA32_PAT": every byte a valid memory type.
  if ((exit & ExitCtl.LoadIa32Pat) !== 0 && !patOk(lo[S_H_PAT]!, hi[S_H_PAT]!)) return false;
  if ((exit & ExitCtl.LoadIa32Efer) !== 0) {
    // "load IA32_EFER": reserved bits 0; LMA and LME equal "host address-space size".
    const efer = lo[S_H_EFER]!;
    if ((efer & ~EFER_DEFINED) !== 0 || hi[S_H_EFER]! !== 0) return false;
    if (((efer & Efer.LMA) !== 0) !== hostLong || ((efer & Efer.LME) !== 0) !== hostLong) return false;
  }
  // §26.2.3: RPL and TI of ES, CS, SS, DS, FS, GS and TR selectors are 0; CS and TR are not
  // 0000H; SS is not 0000H when "host address-space size" is 0.
  if (((lo[S_H_ES_SEL]! | lo[S_H_CS_SEL]! | lo[S_H_SS_SEL]! | lo[S_H_DS_SEL]! | lo[S_H_FS_SEL]! | lo[S_H_GS_SEL]! | lo[S_H_TR_SEL]!) & 7) !== 0) return false;
  if ((lo[S_H_CS_SEL]! & 0xffff) === 0 || (lo[S_H_TR_SEL]! & 0xffff) === 0) return false;
  if (!hostLong && (lo[S_H_SS_SEL]! & 0xffff) === 0) return false;
  // Bases of FS, GS, GDTR, IDTR and TR are canonical.
  if (
    !canonical(hi[S_H_FS_BASE]!, la57) ||
    !canonical(hi[S_H_GS_BASE]!, la57) ||
    !canonical(hi[S_H_GDTR_BASE]!, la57) ||
    !canonical(hi[S_H_IDTR_BASE]!, la57) ||
    !canonical(hi[S_H_TR_BASE]!, la57)
  ) {
    return false;
  }
  // §26.2.4: "host address-space size" = 0 -> CR4.PCIDE = 0 and RIP bits 63:32 = 0;
  // = 1 -> CR4.PAE = 1 and RIP canonical.
  if (!hostLong) {
    if ((cr4 & Cr4.PCIDE) !== 0 || hi[S_H_RIP]! !== 0) return false;
  } else if ((cr4 & Cr4.PAE) === 0 || !canonical(hi[S_H_RIP]!, (cr4 & Cr4.LA57) !== 0)) {
    return false;
  }
  return true;
}

// ---- §26.3.1: guest state ---------------------------------------------------------------------------

/**
 * §26.3.1 "Checks on the Guest State Area" (§26.3.1.1-26.3.1.6). Returns -1 when the guest
 * state passes, else the exit qualification of the VM-entry failure (0, 2 PDPTEs, 3 NMI
 * injection under blocking by STI, 4 VMCS link pointer). On success with PAE paging the
 * PDPTEs are left in a scratch buffer for {@link loadGuestState}.
 */
export function checkGuestState(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs): number {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const caps = vmx.caps;
  const bits = cpu.model.physAddrBits;
  const proc = lo[S_PROC]!;
  const proc2 = (proc & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  const ug = (proc2 & Proc2Ctl.UnrestrictedGuest) !== 0;
  const entry = lo[S_ENTRY_CTL]!;
  const ia32e = (entry & EntryCtl.Ia32eModeGuest) !== 0;
  const cr0 = lo[S_G_CR0]!;
  const cr4 = lo[S_G_CR4]!;
  const la57 = cpu.model.linearAddrBits === 57;
  const rflags = lo[S_G_RFLAGS]!;
  const info = lo[S_ENTRY_INFO]!;
  const injecting = (info & INFO_VALID) !== 0;
  const injType = (info >>> 8) & 7;

  // ---- §26.3.1.1 control registers, debug registers and MSRs
  // CR0 follows FIXED0/FIXED1, except PE and PG with "unrestricted guest"; PG = 1 needs PE = 1.
  const fixed0 = ug ? caps.cr0Fixed0 & ~(Cr0.PE | Cr0.PG) : caps.cr0Fixed0;
  if (!allowed(cr0, fixed0, caps.cr0Fixed1) || hi[S_G_CR0]! !== 0) return 0;
  if ((cr0 & Cr0.PG) !== 0 && (cr0 & Cr0.PE) === 0) return 0;
  if (!allowed(cr4, caps.cr4Fixed0, caps.cr4Fixed1) || hi[S_G_CR4]! !== 0) return 0;
  const loadDebug = (entry & EntryCtl.LoadDebugControls) !== 0;
  // "load debug controls": IA32_DEBUGCTL reserved bits 0, DR7 bits 63:32 0.
  if (loadDebug && ((lo[S_G_DEBUGCTL]! & ~DEBUGCTL_DEFINED) !== 0 || hi[S_G_DEBUGCTL]! !== 0 || hi[S_G_DR7]! !== 0)) return 0;
  // "IA-32e mode guest" = 1 -> CR0.PG = 1 and CR4.PAE = 1; = 0 -> CR4.PCIDE = 0.
  if (ia32e) {
    if ((cr0 & Cr0.PG) === 0 || (cr4 & Cr4.PAE) === 0) return 0;
  } else if ((cr4 & Cr4.PCIDE) !== 0) {
    return 0;
  }
  // CR3 bits beyond the physical-address width are 0.
  if (!physOk(hi[S_G_CR3]!, bits)) return 0;
  // IA32_SYSENTER_ESP and IA32_SYSENTER_EIP are canonical.
  if (!canonical(hi[S_G_SYSENTER_ESP]!, la57) || !canonical(hi[S_G_SYSENTER_EIP]!, la57)) return 0;
  // "load IA32_PAT": valid memory types.
  if ((entry & EntryCtl.LoadIa32Pat) !== 0 && !patOk(lo[S_G_PAT]!, hi[S_G_PAT]!)) return 0;
  if ((entry & EntryCtl.LoadIa32Efer) !== 0) {
    // "load IA32_EFER": reserved bits 0; LMA = "IA-32e mode guest"; with CR0.PG = 1, LME = LMA.
    const efer = lo[S_G_EFER]!;
    if ((efer & ~EFER_DEFINED) !== 0 || hi[S_G_EFER]! !== 0) return 0;
    if (((efer & Efer.LMA) !== 0) !== ia32e) return 0;
    if ((cr0 & Cr0.PG) !== 0 && ((efer & Efer.LME) !== 0) !== ia32e) return 0;
  }

  // ---- §26.3.1.2 segment registers. Their inputs: the guest segment fields, CR0.PE,
  // RFLAGS.VM, "unrestricted guest", "IA-32e mode guest" and the linear-address width. Skipped
  // while all of them are as when the checks last passed: every write of a segment field
  // (VMWRITE, Vmcs.set, a VM exit saving other segment registers) bumps vmcs.segGeneration,
  // every control write vmcs.generation, and the rest is the key compared here.
  const segKey = (cr0 & Cr0.PE) | ((rflags & Flag.VM) !== 0 ? 2 : 0) | (ug ? 4 : 0) | (ia32e ? 8 : 0) | (la57 ? 16 : 0);
  if (vmcs.segCheckedGen !== vmcs.generation || vmcs.segCheckedSegGen !== vmcs.segGeneration || vmcs.segCheckedKey !== segKey) {
    if (!segmentsOk(lo, hi, cr0, rflags, ug, ia32e, la57)) return 0;
    vmcs.segCheckedGen = vmcs.generation;
    vmcs.segCheckedSegGen = vmcs.segGeneration;
    vmcs.segCheckedKey = segKey;
  }

  // ---- §26.3.1.3 descriptor-table registers: bases canonical, limits bits 31:16 zero.
  if (!canonical(hi[S_G_GDTR_BASE]!, la57) || !canonical(hi[S_G_IDTR_BASE]!, la57)) return 0;
  if ((lo[S_G_GDTR_LIMIT]! & 0xffff0000) !== 0 || (lo[S_G_IDTR_LIMIT]! & 0xffff0000) !== 0) return 0;

  // ---- §26.3.1.4 RIP and RFLAGS
  // RIP bits 63:32 are 0 unless "IA-32e mode guest" and CS.L; then RIP is canonical.
  const csL = (lo[S_AR[Seg.CS]!]! & SegAttr.L) !== 0;
  if (!ia32e || !csL) {
    if (hi[S_G_RIP]! !== 0) return 0;
  } else if (!canonical(hi[S_G_RIP]!, (cr4 & Cr4.LA57) !== 0)) {
    return 0;
  }
  // RFLAGS: reserved bits (63:22, 15, 5, 3) 0, bit 1 = 1; VM = 0 in IA-32e mode or with
  // CR0.PE = 0; IF = 1 when injecting an external interrupt.
  if ((rflags & RFLAGS_RESERVED) !== 0 || (rflags & Flag.Fixed1) === 0 || hi[S_G_RFLAGS]! !== 0) return 0;
  if ((rflags & Flag.VM) !== 0 && (ia32e || (cr0 & Cr0.PE) === 0)) return 0;
  if (injecting && injType === InterruptionType.ExternalInterrupt && (rflags & Flag.IF) === 0) return 0;

  // ---- §26.3.1.5 non-register state
  const activity = lo[S_G_ACTIVITY]!;
  const intr = lo[S_G_INTERRUPTIBILITY]!;
  // Activity state: a supported one (IA32_VMX_MISC bits 8:6); HLT only with SS.DPL = 0; active
  // when blocking by STI or MOV SS.
  if (activity >>> 0 > 3 || (caps.activityStateMask & (1 << activity)) === 0) return 0;
  if (activity === ActivityState.Hlt && (lo[S_AR[Seg.SS]!]! & SegAttr.DplMask) !== 0) return 0;
  if (activity !== ActivityState.Active && (intr & (Interruptibility.BlockingBySti | Interruptibility.BlockingByMovSs)) !== 0) return 0;
  if (injecting) {
    // Events an activity state cannot take: in HLT only external interrupts, NMIs, #DB, #MC
    // and pending MTF; in shutdown only NMIs and #MC; in wait-for-SIPI none.
    const vector = info & 0xff;
    if (activity === ActivityState.Hlt) {
      const ok =
        injType === InterruptionType.ExternalInterrupt ||
        injType === InterruptionType.Nmi ||
        (injType === InterruptionType.HardwareException && (vector === 1 || vector === 18)) ||
        (injType === InterruptionType.OtherEvent && vector === 0);
      if (!ok) return 0;
    } else if (activity === ActivityState.Shutdown) {
      if (!(injType === InterruptionType.Nmi || (injType === InterruptionType.HardwareException && vector === 18))) return 0;
    } else if (activity === ActivityState.WaitForSipi) {
      return 0;
    }
  }
  // Interruptibility state: bits 31:5 reserved, bit 4 (enclave interruption) needs SGX; STI and
  // MOV-SS blocking not both; STI blocking needs RFLAGS.IF = 1; neither when injecting an
  // external interrupt; no MOV-SS blocking when injecting an NMI; blocking by SMI only in SMM;
  // with "virtual NMIs", no (virtual-)NMI blocking when injecting an NMI.
  if ((intr & ~0xf) !== 0) return 0;
  if ((intr & 3) === 3) return 0;
  if ((intr & Interruptibility.BlockingBySti) !== 0 && (rflags & Flag.IF) === 0) return 0;
  if (injecting && injType === InterruptionType.ExternalInterrupt && (intr & 3) !== 0) return 0;
  if (injecting && injType === InterruptionType.Nmi && (intr & Interruptibility.BlockingByMovSs) !== 0) return 0;
  if ((intr & Interruptibility.BlockingBySmi) !== 0) return 0;
  if (injecting && injType === InterruptionType.Nmi && (lo[S_PIN]! & PinCtl.VirtualNmis) !== 0 && (intr & Interruptibility.BlockingByNmi) !== 0) return 0;
  // Pending debug exceptions: bits 11:4, 13, 15 and 63:16 are 0 (16 is RTM, not supported).
  // With blocking by STI or MOV SS or in HLT: BS = 1 iff RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0.
  const pdb = lo[S_G_PENDING_DBG]!;
  if ((pdb & ~PENDING_DBG_DEFINED) !== 0 || hi[S_G_PENDING_DBG]! !== 0) return 0;
  if ((intr & 3) !== 0 || activity === ActivityState.Hlt) {
    const btf = loadDebug && (lo[S_G_DEBUGCTL]! & DEBUGCTL_BTF) !== 0;
    const wantBs = (rflags & Flag.TF) !== 0 && !btf;
    if (((pdb & PENDING_DBG_BS) !== 0) !== wantBs) return 0;
  }
  // The VMCS link pointer: FFFFFFFF_FFFFFFFFH, or 4-KiB aligned, within the width, and the
  // region it names starts with this processor's VMCS revision identifier and shadow-VMCS
  // indicator 0 ("VMCS shadowing" is not supported). Exit qualification 4.
  const linkLo = lo[S_LINK]!;
  const linkHi = hi[S_LINK]!;
  if ((linkLo & linkHi) !== -1) {
    if ((linkLo & 0xfff) !== 0 || !physOk(linkHi, bits)) return 4;
    const addr = (linkHi >>> 0) * 0x1_0000_0000 + (linkLo >>> 0);
    if (cpu.physRead32(addr) >>> 0 !== vmx.features.revisionId >>> 0) return 4;
  }
  // NMI injection while blocking by STI: this processor fails the entry with qualification 3
  // (the SDM lets processors differ here, §26.3.1.5; §26.8 "VM-Entry Failures During or After
  // Loading Guest State" lists exit qualification 3 for it).
  if (injecting && injType === InterruptionType.Nmi && (intr & Interruptibility.BlockingBySti) !== 0) return 3;

  // ---- §26.3.1.6 checks on guest page-directory-pointer-table entries (PAE paging)
  if ((cr0 & Cr0.PG) !== 0 && (cr4 & Cr4.PAE) !== 0 && !ia32e) {
    const w = cpu.walker;
    if ((proc2 & Proc2Ctl.EnableEpt) !== 0) {
      // With EPT the PDPTEs come from the guest-state fields.
      pdpteScratch[0] = lo[S_G_PDPTE0]!;
      pdpteScratch[1] = hi[S_G_PDPTE0]!;
      pdpteScratch[2] = lo[S_G_PDPTE1]!;
      pdpteScratch[3] = hi[S_G_PDPTE1]!;
      pdpteScratch[4] = lo[S_G_PDPTE2]!;
      pdpteScratch[5] = hi[S_G_PDPTE2]!;
      pdpteScratch[6] = lo[S_G_PDPTE3]!;
      pdpteScratch[7] = hi[S_G_PDPTE3]!;
    } else {
      // Without EPT from the page-directory-pointer table at CR3 bits 31:5.
      const base = (lo[S_G_CR3]! & ~0x1f) >>> 0;
      for (let i = 0; i < 8; i++) pdpteScratch[i] = cpu.physRead32(base + 4 * i);
    }
    for (let i = 0; i < 4; i++) if (!w.isPdpteValid(pdpteScratch[2 * i]!, pdpteScratch[2 * i + 1]!)) return 2;
  }
  return -1;
}

/** §26.3.1.2 "Checks on Guest Segment Registers". True when they pass. */
function segmentsOk(lo: Int32Array, hi: Int32Array, cr0: number, rflags: number, ug: boolean, ia32e: boolean, la57: boolean): boolean {
  const v86 = (rflags & Flag.VM) !== 0;
  const csSel = lo[S_SEL[Seg.CS]!]!;
  const ssSel = lo[S_SEL[Seg.SS]!]!;
  const csAr = lo[S_AR[Seg.CS]!]!;
  const ssAr = lo[S_AR[Seg.SS]!]!;
  const trSel = lo[S_SEL[Seg.TR]!]!;
  const ldtrAr = lo[S_AR[Seg.LDTR]!]!;
  const ldtrUsable = (ldtrAr & AR_UNUSABLE) === 0;
  // Selectors: TR.TI = 0; LDTR.TI = 0 if usable; outside virtual-8086 mode without
  // "unrestricted guest", SS.RPL = CS.RPL.
  if ((trSel & 4) !== 0) return false;
  if (ldtrUsable && (lo[S_SEL[Seg.LDTR]!]! & 4) !== 0) return false;
  if (!v86 && !ug && (ssSel & 3) !== (csSel & 3)) return false;
  // Bases: TR, FS, GS canonical; LDTR canonical if usable; CS bits 63:32 zero; SS, DS, ES bits
  // 63:32 zero if usable.
  if (!canonical(hi[S_BASE[Seg.TR]!]!, la57) || !canonical(hi[S_BASE[Seg.FS]!]!, la57) || !canonical(hi[S_BASE[Seg.GS]!]!, la57)) return false;
  if (ldtrUsable && !canonical(hi[S_BASE[Seg.LDTR]!]!, la57)) return false;
  if (hi[S_BASE[Seg.CS]!]! !== 0) return false;
  for (let s = 0; s <= Seg.DS; s++) {
    if (s === Seg.CS) continue;
    if ((lo[S_AR[s]!]! & AR_UNUSABLE) === 0 && hi[S_BASE[s]!]! !== 0) return false;
  }
  if (v86) {
    // Virtual-8086 guest: base = selector << 4, limit FFFFH, access rights F3H for CS, SS, DS,
    // ES, FS and GS.
    for (let s = 0; s < 6; s++) {
      const sel = lo[S_SEL[s]!]! & 0xffff;
      if (lo[S_BASE[s]!]! !== sel << 4 || hi[S_BASE[s]!]! !== 0) return false;
      if (lo[S_LIMIT[s]!]! !== 0xffff) return false;
      if (lo[S_AR[s]!]! !== 0xf3) return false;
    }
  } else {
    // CS: type 9, 11, 13 or 15 (accessed code), or 3 (accessed read/write data) with
    // "unrestricted guest"; S = 1; P = 1; reserved bits 0; D/B = 0 when IA-32e mode and L = 1;
    // the limit/granularity rule.
    const csType = csAr & 0xf;
    if (!(csType === 9 || csType === 11 || csType === 13 || csType === 15 || (ug && csType === 3))) return false;
    if ((csAr & SegAttr.S) === 0 || (csAr & SegAttr.P) === 0 || (csAr & ~AR_DEFINED) !== 0 || (csAr & 0xf00) !== 0) return false;
    if (ia32e && (csAr & SegAttr.L) !== 0 && (csAr & SegAttr.DB) !== 0) return false;
    if (!granularityOk(lo[S_LIMIT[Seg.CS]!]!, csAr)) return false;
    // CS.DPL: 0 for type 3; = SS.DPL for non-conforming code (9, 11); <= SS.DPL for conforming (13, 15).
    const csDpl = (csAr >> 5) & 3;
    const ssDpl = (ssAr >> 5) & 3;
    if (csType === 3 && csDpl !== 0) return false;
    if ((csType === 9 || csType === 11) && csDpl !== ssDpl) return false;
    if ((csType === 13 || csType === 15) && csDpl > ssDpl) return false;
    // SS.DPL: = SS.RPL without "unrestricted guest"; 0 when CS's type is 3 or CR0.PE = 0.
    if (!ug && ssDpl !== (ssSel & 3)) return false;
    if ((csType === 3 || (cr0 & Cr0.PE) === 0) && ssDpl !== 0) return false;
    // SS if usable: type 3 or 7, S = 1, P = 1, reserved bits 0, the limit/granularity rule.
    if ((ssAr & AR_UNUSABLE) === 0) {
      const t = ssAr & 0xf;
      if (t !== 3 && t !== 7) return false;
      if (!dataSegOk(ssAr, lo[S_LIMIT[Seg.SS]!]!)) return false;
    }
    // DS, ES, FS, GS if usable: accessed; readable if code; S = 1; P = 1; DPL >= RPL for data
    // and non-conforming code without "unrestricted guest"; reserved bits 0; limit/granularity.
    for (let s = 0; s < 6; s++) {
      if (s === Seg.CS || s === Seg.SS) continue;
      const ar = lo[S_AR[s]!]!;
      if ((ar & AR_UNUSABLE) !== 0) continue;
      if ((ar & SegAttr.Accessed) === 0) return false;
      if ((ar & SegAttr.Code) !== 0 && (ar & SegAttr.RW) === 0) return false;
      if (!ug && (ar & 0xf) <= 11 && ((ar >> 5) & 3) < (lo[S_SEL[s]!]! & 3)) return false;
      if (!dataSegOk(ar, lo[S_LIMIT[s]!]!)) return false;
    }
  }
  // TR: type 3 or 11 (busy 16/32-bit TSS) outside IA-32e mode, 11 in it; S = 0; P = 1; reserved
  // bits 0; limit/granularity; usable.
  const trAr = lo[S_AR[Seg.TR]!]!;
  const trType = trAr & 0xf;
  if (!(trType === 11 || (!ia32e && trType === 3))) return false;
  if ((trAr & SegAttr.S) !== 0 || (trAr & SegAttr.P) === 0 || (trAr & 0xf00) !== 0 || (trAr & ~0xf0ff) !== 0) return false;
  if (!granularityOk(lo[S_LIMIT[Seg.TR]!]!, trAr)) return false;
  // LDTR if usable: type 2, S = 0, P = 1, reserved bits 0, limit/granularity.
  if (ldtrUsable) {
    if ((ldtrAr & 0xf) !== 2 || (ldtrAr & SegAttr.S) !== 0 || (ldtrAr & SegAttr.P) === 0 || (ldtrAr & 0xf00) !== 0 || (ldtrAr & ~0xf0ff) !== 0) return false;
    if (!granularityOk(lo[S_LIMIT[Seg.LDTR]!]!, ldtrAr)) return false;
  }
  return true;
}

/** S = 1, P = 1, reserved bits 11:8 and 31:17 zero, limit/granularity: the common part for usable SS, DS, ES, FS, GS. */
function dataSegOk(ar: number, limit: number): boolean {
  if ((ar & SegAttr.S) === 0 || (ar & SegAttr.P) === 0 || (ar & 0xf00) !== 0 || (ar & ~AR_DEFINED) !== 0) return false;
  return granularityOk(limit, ar);
}

// ---- §26.3.2: loading guest state ----------------------------------------------------------------

/**
 * §26.3.2 "Loading Guest State": control and debug registers and MSRs (§26.3.2.1), segment and
 * descriptor-table registers (§26.3.2.2), RIP, RSP and RFLAGS (§26.3.2.3), PDPTEs (§26.3.2.4),
 * and the non-register state (§26.3.2.5 activity and interruptibility state, pending debug
 * exceptions; the activity state itself takes effect after event injection, §26.7).
 * An unusable segment keeps its selector and is loaded with the unusable bit (the core's
 * SegAttr.Unusable), SS keeping its DPL (the CPL).
 */
export function loadGuestState(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs): void {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const entry = lo[S_ENTRY_CTL]!;
  const ia32e = (entry & EntryCtl.Ia32eModeGuest) !== 0;
  const cr0 = lo[S_G_CR0]!;
  // §26.3.2.1: CR0 (except ET and the reserved bits), CR3, CR4.
  cpu.cr0 = (cr0 & CR0_LOADED) | (cpu.cr0 & ~CR0_LOADED);
  cpu.cr3Lo = lo[S_G_CR3]!;
  cpu.cr3Hi = hi[S_G_CR3]!;
  cpu.cr4 = lo[S_G_CR4]!;
  // "load debug controls": DR7 (IA32_DEBUGCTL: hvkit implements none of its features).
  if ((entry & EntryCtl.LoadDebugControls) !== 0) {
    cpu.drLo[7] = lo[S_G_DR7]! | 0x400;
    cpu.drHi[7] = 0;
  }
  cpu.sysenterCs = lo[S_G_SYSENTER_CS]!;
  cpu.sysenterEspLo = lo[S_G_SYSENTER_ESP]!;
  cpu.sysenterEspHi = hi[S_G_SYSENTER_ESP]!;
  cpu.sysenterEipLo = lo[S_G_SYSENTER_EIP]!;
  cpu.sysenterEipHi = hi[S_G_SYSENTER_EIP]!;
  if ((entry & EntryCtl.LoadIa32Pat) !== 0) {
    cpu.patLo = lo[S_G_PAT]!;
    cpu.patHi = hi[S_G_PAT]!;
  }
  // IA32_EFER: the field with "load IA32_EFER"; otherwise LMA = "IA-32e mode guest", and LME
  // too when CR0.PG = 1.
  if ((entry & EntryCtl.LoadIa32Efer) !== 0) {
    cpu.efer = lo[S_G_EFER]!;
  } else {
    let efer = ia32e ? cpu.efer | Efer.LMA : cpu.efer & ~Efer.LMA;
    if ((cr0 & Cr0.PG) !== 0) efer = ia32e ? efer | Efer.LME : efer & ~Efer.LME;
    cpu.efer = efer;
  }
  // §26.3.2.2: segment registers (selector, base, limit, access rights), GDTR, IDTR. Written
  // straight into the core's segment arrays (what setSegmentRaw stores): contextChanged below
  // recomputes the derived state (fast limits, code mode, CPL) once for all of them.
  const segSel = cpu.segSel;
  const segBase = cpu.segBase;
  const segBaseHi = cpu.segBaseHi;
  const segLimit = cpu.segLimit;
  const segAttr = cpu.segAttr;
  for (let s = 0; s < 8; s++) {
    segSel[s] = lo[S_SEL[s]!]!;
    segBase[s] = lo[S_BASE[s]!]!;
    segBaseHi[s] = hi[S_BASE[s]!]!;
    segLimit[s] = lo[S_LIMIT[s]!]!;
    segAttr[s] = lo[S_AR[s]!]! & AR_DEFINED;
  }
  cpu.gdtrBaseLo = lo[S_G_GDTR_BASE]!;
  cpu.gdtrBaseHi = hi[S_G_GDTR_BASE]!;
  cpu.gdtrLimit = lo[S_G_GDTR_LIMIT]! & 0xffff;
  cpu.idtrBaseLo = lo[S_G_IDTR_BASE]!;
  cpu.idtrBaseHi = hi[S_G_IDTR_BASE]!;
  cpu.idtrLimit = lo[S_G_IDTR_LIMIT]! & 0xffff;
  // §26.3.2.3: RIP, RSP, RFLAGS.
  cpu.ripLo = lo[S_G_RIP]!;
  cpu.ripHi = hi[S_G_RIP]!;
  cpu.gpr[4] = lo[S_G_RSP]!;
  cpu.gprHi[4] = hi[S_G_RSP]!;
  cpu.setEflags(lo[S_G_RFLAGS]!);
  // §26.3.2.4: PDPTEs with PAE paging (checked and read into the scratch by checkGuestState).
  if ((cr0 & Cr0.PG) !== 0 && (lo[S_G_CR4]! & Cr4.PAE) !== 0 && !ia32e) {
    const w = cpu.walker;
    for (let i = 0; i < 4; i++) w.setPdpte(i, pdpteScratch[2 * i]!, pdpteScratch[2 * i + 1]!);
  }
  // §26.3.2.5 non-register state: interruptibility -> the core's interrupt shadow (blocking by
  // STI: interruptShadow && stiShadow; by MOV SS: interruptShadow && !stiShadow); blocking by
  // NMI -> virtual-NMI blocking with "virtual NMIs", else the NMI blocking; pending debug
  // exceptions B3-B0 and BS -> cpu.pendingDb (delivered per §26.7.3 by the core's boundary
  // logic, which holds them back under MOV-SS blocking).
  const intr = lo[S_G_INTERRUPTIBILITY]!;
  cpu.interruptShadow = (intr & 3) !== 0;
  cpu.stiShadow = (intr & Interruptibility.BlockingBySti) !== 0;
  const nmiBlocking = (intr & Interruptibility.BlockingByNmi) !== 0;
  if ((lo[S_PIN]! & PinCtl.VirtualNmis) !== 0) {
    // The real NMI blocking stays as it is (nonRootEnter keeps it aside, see vmx.hostNmiBlocked).
    vmx.virtualNmiBlocked = nmiBlocking;
  } else {
    vmx.virtualNmiBlocked = false;
    cpu.nmiBlocked = nmiBlocking;
  }
  cpu.pendingDb = lo[S_G_PENDING_DBG]! & (0xf | PENDING_DBG_BS);
  cpu.halted = false;
  cpu.waitForSipi = false;
  vmx.guestShutdown = false;
  vmx.mtfPending = false;
  // The guest's TLB bank (VPID/EPTP, §28.3.3.1; flushed without "enable VPID") is selected now,
  // with the guest's CR0/CR4/EFER/RFLAGS loaded and before contextChanged, so that the host's
  // bank is never flushed for the guest's access rights (vmEntry tells nonRootEnter not to activate again).
  eptActivate(vmx, cpu);
  cpu.contextChanged();
}

// ---- §26.4: MSR loading ---------------------------------------------------------------------------

/**
 * §26.4 "Loading MSRs": each 16-byte entry of the VM-entry MSR-load area (bits 31:0 index,
 * 63:32 reserved, 127:64 data) is loaded as WRMSR at CPL 0 would, in order. Returns 0 when all
 * load, else the 1-based number of the failing entry (the exit qualification of exit 34).
 * Failing entries: reserved bits set, IA32_FS_BASE/IA32_GS_BASE, an x2APIC MSR (800H-8FFH),
 * IA32_SMM_MONITOR_CTL outside SMM, IA32_SMBASE, or a value WRMSR would refuse with #GP.
 */
export function loadMsrs(cpu: Cpu, vmcs: Vmcs, maxCount: number): number {
  const count = vmcs.lo[S_ENTRY_MSR_LOAD_COUNT]! >>> 0;
  if (count === 0) return 0;
  const base = (vmcs.hi[S_ENTRY_MSR_LOAD]! >>> 0) * 0x1_0000_0000 + (vmcs.lo[S_ENTRY_MSR_LOAD]! >>> 0);
  for (let i = 0; i < count; i++) {
    // Beyond the recommended maximum (512 * (IA32_VMX_MISC bits 27:25 + 1), Appendix A.6) the
    // SDM leaves the outcome undefined: this processor fails the entry at the first such entry.
    if (i >= maxCount) return i + 1;
    const a = base + 16 * i;
    const index = cpu.physRead32(a);
    const reserved = cpu.physRead32(a + 4);
    const dataLo = cpu.physRead32(a + 8);
    const dataHi = cpu.physRead32(a + 12);
    if (reserved !== 0) return i + 1;
    if (index === MSR_FS_BASE || index === MSR_GS_BASE || index >>> 8 === 8 || index === MSR_SMM_MONITOR_CTL || index === MSR_SMBASE) return i + 1;
    let ok: boolean;
    try {
      ok = writeMsr(cpu, index, dataLo, dataHi);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      cpu.excVector = -1;
      ok = false;
    }
    if (!ok) return i + 1;
  }
  return 0;
}

// ---- §26.6, §26.7: event injection and activity state ------------------------------------------------

/**
 * §26.6 "Event Injection": delivers the event of the VM-entry interruption-information field
 * through the guest's IDT (IVT in real mode) as if it had just occurred, with the guest's
 * state, in VMX non-root operation (so EPT violations and exception-bitmap exits apply during
 * delivery, reporting the injected event as IDT-vectoring information). Software interrupts and
 * exceptions (types 4, 5, 6) push guest RIP + VM-entry instruction length. An injected NMI
 * with "virtual NMIs" sets virtual-NMI blocking (§26.6.1.1 "Details of Vectored-Event
 * Injection"). Type 7 (other event, vector 0) makes an MTF VM exit pending (§26.6.2). Returns
 * whether a vectored event was delivered (then the activity state becomes active).
 */
function injectEvent(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs, info: number): boolean {
  const type = (info >>> 8) & 7;
  const vector = info & 0xff;
  const error = (info & INFO_ERROR) !== 0 ? vmcs.lo[S_ENTRY_ERROR]! & 0xffff : -1;
  if (type === InterruptionType.OtherEvent) {
    requestPendingMtf(vmx, cpu);
    return false;
  }
  const len = vmcs.lo[S_ENTRY_LEN]!;
  // The injected event is delivered at once: it is not held back by the interrupt shadow.
  cpu.interruptShadow = false;
  cpu.stiShadow = false;
  switch (type) {
    case InterruptionType.ExternalInterrupt:
      cpu.injectEvent(EventKind.External, vector, -1);
      break;
    case InterruptionType.Nmi: {
      cpu.injectEvent(EventKind.Nmi, vector, -1);
      // With "virtual NMIs" the injected NMI blocks virtual NMIs (§26.6.1.1); the core's
      // NMI delivery sets cpu.nmiBlocked, which nonroot.ts uses as the virtual-NMI blocking
      // while in non-root operation.
      if ((vmcs.lo[S_PIN]! & PinCtl.VirtualNmis) !== 0 && cpu.guestMode) vmx.virtualNmiBlocked = true;
      break;
    }
    case InterruptionType.HardwareException:
      cpu.injectEvent(EventKind.Exception, vector, error);
      break;
    case InterruptionType.SoftwareInterrupt:
      cpu.injectEvent(EventKind.Software, vector, -1, len, 1);
      break;
    case InterruptionType.PrivilegedSoftwareException:
      cpu.injectEvent(EventKind.PrivilegedSoftware, vector, -1, len, 4);
      break;
    default:
      // Software exception: INT3 (#BP) or INTO (#OF); another vector is delivered as INT3 would be.
      cpu.injectEvent(EventKind.Software, vector, -1, len, vector === 4 ? 3 : 2);
      break;
  }
  return true;
}

// ---- VM entry ---------------------------------------------------------------------------------------

/**
 * Performs VM entry for VMLAUNCH (`launch`) or VMRESUME once the instruction's own checks
 * passed (current VMCS valid, no MOV-SS blocking, launch state right: instructions.ts).
 * Outcomes: VMfailValid 7/8 (the instruction completes, still in VMX root operation), a
 * VM-entry failure exit (33, 34: host state loaded), or the guest running at guest RIP (after
 * any injected event's delivery, which may itself end in a VM exit).
 */
export function vmEntry(vmx: VmxCpu, cpu: Cpu, launch: boolean): void {
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  // ---- §26.2 controls and host state (skipped while unchanged since they passed)
  const unchanged = vmcs.checkedGeneration === vmcs.generation;
  if (!unchanged && !controlsOk(vmx, cpu, vmcs)) {
    vmFailValid(vmx, cpu, 7);
    return;
  }
  const info = lo[S_ENTRY_INFO]!;
  if ((info & INFO_VALID) !== 0 && !injectionOk(vmx, vmcs, info)) {
    vmFailValid(vmx, cpu, 7);
    return;
  }
  // "use TPR shadow" without "virtualize APIC accesses" (and without "virtual-interrupt
  // delivery"): TPR threshold bits 3:0 not greater than VTPR bits 7:4 (the virtual-APIC page
  // can change without a VMWRITE, so this runs every time).
  const proc = lo[S_PROC]!;
  if ((proc & ProcCtl.UseTprShadow) !== 0) {
    const proc2 = (proc & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
    if ((proc2 & Proc2Ctl.VirtualizeApicAccesses) === 0) {
      const vtpr = cpu.memory.read8(((vmcs.hi[S_VAPIC]! >>> 0) * 0x1_0000_0000 + (lo[S_VAPIC]! >>> 0) + 0x80) as Hpa);
      if ((lo[S_TPR_THRESHOLD]! & 0xf) > vtpr >>> 4) {
        vmFailValid(vmx, cpu, 7);
        return;
      }
    }
  }
  if (!unchanged) {
    if (!hostStateOk(vmx, cpu, vmcs)) {
      vmFailValid(vmx, cpu, 8);
      return;
    }
    vmcs.checkedGeneration = vmcs.generation;
  }
  // §26.2.4 with the processor's mode: outside IA-32e mode "IA-32e mode guest" and "host
  // address-space size" are 0; inside it "host address-space size" is 1.
  const hostLong = (lo[S_EXIT_CTL]! & ExitCtl.HostAddressSpaceSize) !== 0;
  if ((cpu.efer & Efer.LMA) === 0 ? hostLong || (lo[S_ENTRY_CTL]! & EntryCtl.Ia32eModeGuest) !== 0 : !hostLong) {
    vmFailValid(vmx, cpu, 8);
    return;
  }

  // ---- §26.3.1 guest state
  const qual = checkGuestState(vmx, cpu, vmcs);
  if (qual >= 0) {
    entryFailureExit(vmx, cpu, 33, qual);
    return;
  }
  // ---- §26.3.2 load guest state, §26.4 MSRs
  loadGuestState(vmx, cpu, vmcs);
  const failed = loadMsrs(cpu, vmcs, vmx.caps.maxMsrListCount);
  if (failed !== 0) {
    entryFailureExit(vmx, cpu, 34, failed);
    return;
  }
  // ---- launch state, VMX non-root operation
  if (launch) vmcs.launched = true;
  cpu.guestMode = true;
  // loadGuestState did §26.3.2.5's TLB rule through eptActivate (ept.ts): the guest's TLB
  // bank is selected, and flushed on every entry without "enable VPID" (§28.3.3.1); nonRootEnter
  // does not activate again.
  nonRootEnter(vmx, cpu, true);

  // ---- §26.6 event injection (the next VM exit clears the valid bit, §27.2)
  let vectored = false;
  if ((info & INFO_VALID) !== 0) {
    vectored = injectEvent(vmx, cpu, vmcs, info);
    // A VM exit during delivery (§26.6.1.2): done at once, or recorded to complete at the first
    // boundary (exit.ts recordPendingExit); either way nothing of §26.7 applies.
    if (!cpu.guestMode || vmx.pendingExitReason >= 0) return;
    // §26.7.8: with "monitor trap flag", an MTF VM exit is pending after injecting a vectored event.
    if (vectored && (proc & ProcCtl.MonitorTrapFlag) !== 0) requestPendingMtf(vmx, cpu);
  }
  // ---- §26.7.3 pending debug exceptions: none after a vectoring entry of an external
  // interrupt, NMI, hardware exception or privileged software exception, or of a software
  // interrupt/exception without blocking by MOV SS; none after a non-vectoring entry to
  // shutdown or wait-for-SIPI.
  const activity = lo[S_G_ACTIVITY]!;
  if (vectored) {
    const type = (info >>> 8) & 7;
    const movSs = (lo[S_G_INTERRUPTIBILITY]! & Interruptibility.BlockingByMovSs) !== 0;
    if (!(type === InterruptionType.SoftwareInterrupt || type === InterruptionType.SoftwareException) || !movSs) cpu.pendingDb = 0;
    return; // the event's delivery made the logical processor active
  }
  // ---- §26.7.2 activity state
  switch (activity) {
    case ActivityState.Hlt:
      cpu.halted = true;
      break;
    case ActivityState.Shutdown:
      // Shutdown: like HLT for the core (nothing runs), but only NMI/INIT/#MC events matter
      // (nonroot.ts consults vmx.guestShutdown).
      cpu.pendingDb = 0;
      cpu.halted = true;
      vmx.guestShutdown = true;
      break;
    case ActivityState.WaitForSipi:
      cpu.pendingDb = 0;
      cpu.waitForSipi = true;
      break;
    default:
      break;
  }
}
