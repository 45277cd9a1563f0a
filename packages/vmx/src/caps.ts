/**
 * VMX capability reporting (Intel SDM Vol. 3C Appendix A "VMX Capability Reporting Facility"),
 * CPUID.1:ECX.VMX, and the CR0/CR4 restrictions of VMX operation (§23.8 "Restrictions on VMX
 * operation").
 *
 * A {@link VmxFeatures} object says what a CPU model exposes (which optional controls, EPT/VPID
 * capabilities, MISC values, the VMCS revision identifier); {@link VmxCaps} derives from it, once,
 * every value the capability MSRs report and the masks the VM-entry checks use, so the hot
 * checks are a few integer operations (`controlsValid(value, caps.pinAllowed0, caps.pinAllowed1)`).
 *
 * IA32_FEATURE_CONTROL (MSR 3AH) is the core's (`cpu.featureControlLo`, with its lock bit):
 * this module only reads it (VMXON's #GP checks, instructions.ts).
 */
import type { Cpu } from '@hvkit/x86';
import { Cr0, Cr4, cr4ValidMask } from '@hvkit/x86';
import { EntryCtl, ExitCtl, PinCtl, Proc2Ctl, ProcCtl, VmFuncCtl, VmxMsr } from './constants.js';
import { VMCS_MAX_INDEX } from './fields.js';
import type { VmxCpu } from './vmx.js';

// ---- the configuration -------------------------------------------------------------------------

/**
 * What a CPU model exposes of VT-x: decides every capability MSR. The control fields list the
 * OPTIONAL controls a VMM may set (bits of the "allowed-1 settings"); the default1 controls of
 * each class (Appendix A.2-A.5) are added by {@link VmxCaps} and are not listed here.
 */
export interface VmxFeatures {
  /** VMCS revision identifier (IA32_VMX_BASIC bits 30:0; SDM §24.2 "Format of the VMCS region"). */
  readonly revisionId: number;
  /** Pin-based VM-execution controls that may be 1 (Table 24-5; {@link PinCtl}). */
  readonly pinControls: number;
  /** Primary processor-based controls that may be 1 (Table 24-6; {@link ProcCtl}). */
  readonly procControls: number;
  /**
   * Secondary processor-based controls that may be 1 (Table 24-7; {@link Proc2Ctl}). "Enable
   * INVPCID" is dropped at attach time when the CPU model lacks INVPCID (CPUID.(7,0):EBX[10]).
   */
  readonly proc2Controls: number;
  /** VM-exit controls that may be 1 (Table 24-13; {@link ExitCtl}). */
  readonly exitControls: number;
  /** VM-entry controls that may be 1 (Table 24-15; {@link EntryCtl}). */
  readonly entryControls: number;
  /** VM-function controls that may be 1 (IA32_VMX_VMFUNC, Appendix A.11; {@link VmFuncCtl}). */
  readonly vmfuncControls: number;
  /** VMX-preemption timer rate X: the timer counts down by 1 every 2^X TSC ticks (IA32_VMX_MISC bits 4:0). */
  readonly preemptionTimerRate: number;
  /** VM exits store EFER.LMA into the "IA-32e mode guest" VM-entry control (IA32_VMX_MISC bit 5). */
  readonly storeLmaOnExit: boolean;
  /** Activity states supported besides active, as IA32_VMX_MISC bits 8:6 (bit 0 HLT, 1 shutdown, 2 wait-for-SIPI). */
  readonly activityStates: number;
  /** Number of CR3-target values (IA32_VMX_MISC bits 24:16; at most 256). */
  readonly cr3TargetCount: number;
  /** N of IA32_VMX_MISC bits 27:25: the MSR lists may hold 512 * (N + 1) entries. */
  readonly msrListSizeN: number;
  /** VMWRITE may write the VM-exit information fields (IA32_VMX_MISC bit 29). */
  readonly vmwriteExitInformation: boolean;
  /** VM entry may inject software events with instruction length 0 (IA32_VMX_MISC bit 30). */
  readonly zeroLengthInjection: boolean;
  /** VM exits save/report INS/OUTS instruction information (IA32_VMX_BASIC bit 54). */
  readonly insOutsInformation: boolean;
  /** EPT: execute-only translations (IA32_VMX_EPT_VPID_CAP bit 0; needs the walker's support). */
  readonly eptExecuteOnly: boolean;
  /** EPT: accessed and dirty flags, EPTP bit 6 (IA32_VMX_EPT_VPID_CAP bit 21). */
  readonly eptAccessedDirty: boolean;
  /** EPT: 2-MByte pages (bit 16). */
  readonly ept2mPages: boolean;
  /** EPT: 1-GByte pages (bit 17). */
  readonly ept1gPages: boolean;
  /** INVEPT types supported, as a mask by type number (bit 1 single-context, bit 2 all-context). */
  readonly inveptTypes: number;
  /** INVVPID types supported, as a mask by type number (bit 0 individual-address, 1 single, 2 all, 3 single retaining globals). */
  readonly invvpidTypes: number;
  /** CR4 bits that may be 1 in VMX operation (IA32_VMX_CR4_FIXED1); undefined = every bit the core accepts. */
  readonly cr4Fixed1?: number;
}

/** The VT-x feature set hvkit advertises (the design of issue 8; everything else is not advertised). */
export const DEFAULT_VMX_FEATURES: VmxFeatures = {
  revisionId: 0x12,
  pinControls: PinCtl.ExternalInterruptExiting | PinCtl.NmiExiting | PinCtl.VirtualNmis | PinCtl.ActivateVmxPreemptionTimer,
  procControls:
    ProcCtl.InterruptWindowExiting |
    ProcCtl.UseTscOffsetting |
    ProcCtl.HltExiting |
    ProcCtl.InvlpgExiting |
    ProcCtl.MwaitExiting |
    ProcCtl.RdpmcExiting |
    ProcCtl.RdtscExiting |
    ProcCtl.Cr3LoadExiting |
    ProcCtl.Cr3StoreExiting |
    ProcCtl.Cr8LoadExiting |
    ProcCtl.Cr8StoreExiting |
    ProcCtl.UseTprShadow |
    ProcCtl.NmiWindowExiting |
    ProcCtl.MovDrExiting |
    ProcCtl.UnconditionalIoExiting |
    ProcCtl.UseIoBitmaps |
    ProcCtl.MonitorTrapFlag |
    ProcCtl.UseMsrBitmaps |
    ProcCtl.MonitorExiting |
    ProcCtl.PauseExiting |
    ProcCtl.ActivateSecondaryControls,
  proc2Controls:
    Proc2Ctl.VirtualizeApicAccesses |
    Proc2Ctl.EnableEpt |
    Proc2Ctl.DescriptorTableExiting |
    Proc2Ctl.EnableRdtscp |
    Proc2Ctl.EnableVpid |
    Proc2Ctl.WbinvdExiting |
    Proc2Ctl.UnrestrictedGuest |
    Proc2Ctl.PauseLoopExiting |
    Proc2Ctl.RdrandExiting |
    Proc2Ctl.EnableInvpcid |
    Proc2Ctl.EnableVmFunctions |
    Proc2Ctl.RdseedExiting,
  exitControls:
    ExitCtl.SaveDebugControls |
    ExitCtl.HostAddressSpaceSize |
    ExitCtl.AcknowledgeInterruptOnExit |
    ExitCtl.SaveIa32Pat |
    ExitCtl.LoadIa32Pat |
    ExitCtl.SaveIa32Efer |
    ExitCtl.LoadIa32Efer |
    ExitCtl.SaveVmxPreemptionTimerValue,
  entryControls: EntryCtl.LoadDebugControls | EntryCtl.Ia32eModeGuest | EntryCtl.LoadIa32Pat | EntryCtl.LoadIa32Efer,
  vmfuncControls: VmFuncCtl.EptpSwitching,
  preemptionTimerRate: 5,
  storeLmaOnExit: true,
  activityStates: 0b111,
  cr3TargetCount: 4,
  msrListSizeN: 0,
  vmwriteExitInformation: false,
  zeroLengthInjection: false,
  insOutsInformation: true,
  eptExecuteOnly: true,
  eptAccessedDirty: true,
  ept2mPages: true,
  ept1gPages: true,
  inveptTypes: (1 << 1) | (1 << 2),
  invvpidTypes: 0b1111,
};

// ---- default1 classes (Appendix A.3-A.5) -------------------------------------------------------

/** Pin-based default1 bits 1, 2, 4 (Appendix A.3.1); the TRUE MSR reports them fixed at 1 too. */
export const PIN_DEFAULT1 = 0x16;
/** Primary processor-based default1 bits 1, 4-6, 8, 13-16, 26 (Appendix A.3.2). */
export const PROC_DEFAULT1 = 0x0401e172;
/** The TRUE allowed-0 of the primary controls: CR3-load/store exiting (15, 16) may be 0 (Appendix A.3.2). */
export const PROC_TRUE_DEFAULT1 = PROC_DEFAULT1 & ~(ProcCtl.Cr3LoadExiting | ProcCtl.Cr3StoreExiting);
/** VM-exit default1 bits 0-8, 10, 11, 13, 14, 16, 17 (Appendix A.4). */
export const EXIT_DEFAULT1 = 0x00036dff;
/** The TRUE allowed-0 of the exit controls: "save debug controls" (bit 2) may be 0 (Appendix A.4.1). */
export const EXIT_TRUE_DEFAULT1 = EXIT_DEFAULT1 & ~ExitCtl.SaveDebugControls;
/** VM-entry default1 bits 0-8, 12 (Appendix A.5). */
export const ENTRY_DEFAULT1 = 0x000011ff;
/** The TRUE allowed-0 of the entry controls: "load debug controls" (bit 2) may be 0 (Appendix A.5.1). */
export const ENTRY_TRUE_DEFAULT1 = ENTRY_DEFAULT1 & ~EntryCtl.LoadDebugControls;

/** IA32_VMX_CR0_FIXED0: PE, NE and PG must be 1 in VMX operation (Appendix A.7). */
export const CR0_FIXED0 = (Cr0.PE | Cr0.NE | Cr0.PG) | 0;
/** IA32_VMX_CR4_FIXED0: VMXE must be 1 in VMX operation (Appendix A.8). */
export const CR4_FIXED0 = Cr4.VMXE;

// ---- the derived values ------------------------------------------------------------------------

/**
 * Whether a control word `value` respects its capability MSR (SDM §26.2.1.1): every bit that is
 * 1 in `allowed0` (the MSR's low half: the bits that must be 1) is 1, and every bit that is 0 in
 * `allowed1` (the high half: the bits that may be 1) is 0.
 */
export function controlsValid(value: number, allowed0: number, allowed1: number): boolean {
  return (value & allowed0) === allowed0 && (value & ~allowed1) === 0;
}

/**
 * Values derived from the features, for the capability MSRs and the VM-entry checks. The
 * allowed-0/allowed-1 pairs are those of the TRUE capability MSRs (IA32_VMX_BASIC bit 55 = 1:
 * a VMM may clear the default1 controls the TRUE MSRs allow, SDM Appendix A.2), which is what VM
 * entry checks the control fields against (§26.2.1.1). `xxxAllowed0` = bits that must be 1,
 * `xxxAllowed1` = bits that may be 1.
 */
export class VmxCaps {
  /** Pin-based controls (IA32_VMX_TRUE_PINBASED_CTLS, MSR 48DH). */
  pinAllowed0 = 0;
  pinAllowed1 = 0;
  /** Primary processor-based controls (IA32_VMX_TRUE_PROCBASED_CTLS, MSR 48EH). */
  procAllowed0 = 0;
  procAllowed1 = 0;
  /** Secondary processor-based controls (IA32_VMX_PROCBASED_CTLS2, MSR 48BH; no default1 bits). */
  proc2Allowed0 = 0;
  proc2Allowed1 = 0;
  /** VM-exit controls (IA32_VMX_TRUE_EXIT_CTLS, MSR 48FH). */
  exitAllowed0 = 0;
  exitAllowed1 = 0;
  /** VM-entry controls (IA32_VMX_TRUE_ENTRY_CTLS, MSR 490H). */
  entryAllowed0 = 0;
  entryAllowed1 = 0;
  /** VM-function controls that may be 1 (IA32_VMX_VMFUNC, MSR 491H; 64-bit, the high half is 0). */
  vmfuncAllowed1 = 0;
  /** IA32_VMX_BASIC (MSR 480H) halves. */
  basicLo = 0;
  basicHi = 0;
  /** IA32_VMX_MISC (MSR 485H) halves (the high half is the MSEG revision identifier, 0). */
  miscLo = 0;
  miscHi = 0;
  /** CR0 bits that must be 1 / may be 1 in VMX operation (IA32_VMX_CR0_FIXED0/FIXED1). */
  cr0Fixed0 = CR0_FIXED0;
  cr0Fixed1 = -1;
  /** CR4 bits that must be 1 / may be 1 in VMX operation (IA32_VMX_CR4_FIXED0/FIXED1). */
  cr4Fixed0 = CR4_FIXED0;
  cr4Fixed1 = -1;
  /** IA32_VMX_EPT_VPID_CAP (MSR 48CH) halves: EPT bits in the low half, VPID bits in the high half. */
  eptVpidCapLo = 0;
  eptVpidCapHi = 0;
  /** INVEPT types supported, a mask by type (bit 1 single-context, bit 2 all-context). */
  inveptTypes = 0;
  /** INVVPID types supported, a mask by type (0 individual-address ... 3 single-context-retaining-globals). */
  invvpidTypes = 0;
  /** Number of CR3-target values (MISC bits 24:16). */
  cr3TargetCount = 0;
  /** Largest MSR-list count the processor supports: 512 * (N + 1) (SDM Appendix A.6). */
  maxMsrListCount = 512;
  /** Activity states supported, as a mask by state number (bit 0 active always set). */
  activityStateMask = 1;
  /** MAXPHYADDR of the CPU model (set by {@link bind}; pointers may not set bits at or above it). */
  physAddrBits = 46;
  /** Whether the high half of a 64-bit physical address is valid: `(hi & physHiReserved) === 0`. */
  physHiReserved = ~((1 << (46 - 32)) - 1);

  constructor(readonly features: VmxFeatures) {
    this.compute(null);
  }

  /**
   * Recomputes the values that depend on the CPU model (MAXPHYADDR, "enable INVPCID", the CR4
   * bits the core accepts). Called when the extension is attached to its processor.
   */
  bind(cpu: Cpu): void {
    this.compute(cpu);
  }

  private compute(cpu: Cpu | null): void {
    const f = this.features;
    this.pinAllowed0 = PIN_DEFAULT1;
    this.pinAllowed1 = PIN_DEFAULT1 | f.pinControls;
    this.procAllowed0 = PROC_TRUE_DEFAULT1;
    this.procAllowed1 = PROC_DEFAULT1 | f.procControls;
    let proc2 = (this.procAllowed1 & ProcCtl.ActivateSecondaryControls) !== 0 ? f.proc2Controls : 0;
    // "Enable INVPCID" exists only on a processor with INVPCID (SDM §24.6.2 Table 24-7).
    if (cpu !== null && (cpu.model.leaf7Ebx & (1 << 10)) === 0) proc2 &= ~Proc2Ctl.EnableInvpcid;
    this.proc2Allowed0 = 0;
    this.proc2Allowed1 = proc2;
    this.exitAllowed0 = EXIT_TRUE_DEFAULT1;
    this.exitAllowed1 = EXIT_DEFAULT1 | f.exitControls;
    this.entryAllowed0 = ENTRY_TRUE_DEFAULT1;
    this.entryAllowed1 = ENTRY_DEFAULT1 | f.entryControls;
    this.vmfuncAllowed1 = (proc2 & Proc2Ctl.EnableVmFunctions) !== 0 ? f.vmfuncControls : 0;

    // IA32_VMX_BASIC (Appendix A.1): revision 30:0; VMCS region size 44:32 = 4096; bit 48 = 0
    // (64-bit physical addresses); bit 49 = 0 (no dual-monitor treatment); memory type 53:50 =
    // 6 (write-back); bit 54 INS/OUTS instruction information; bit 55 TRUE controls.
    this.basicLo = f.revisionId & 0x7fffffff;
    this.basicHi = 0x1000 | (6 << 18) | (f.insOutsInformation ? 1 << 22 : 0) | (1 << 23);

    // IA32_VMX_MISC (Appendix A.6).
    this.miscLo =
      (f.preemptionTimerRate & 0x1f) |
      (f.storeLmaOnExit ? 1 << 5 : 0) |
      ((f.activityStates & 7) << 6) |
      ((f.cr3TargetCount & 0x1ff) << 16) |
      ((f.msrListSizeN & 7) << 25) |
      (f.vmwriteExitInformation ? 1 << 29 : 0) |
      (f.zeroLengthInjection ? 1 << 30 : 0);
    this.miscHi = 0;
    this.cr3TargetCount = f.cr3TargetCount;
    this.maxMsrListCount = 512 * ((f.msrListSizeN & 7) + 1);
    this.activityStateMask = 1 | ((f.activityStates & 7) << 1);

    this.cr0Fixed0 = CR0_FIXED0;
    this.cr0Fixed1 = -1;
    this.cr4Fixed0 = CR4_FIXED0;
    this.cr4Fixed1 = (f.cr4Fixed1 ?? (cpu !== null ? cr4ValidMask(cpu) : -1)) | Cr4.VMXE;

    // IA32_VMX_EPT_VPID_CAP (Appendix A.10): only with "enable EPT" / "enable VPID".
    const ept = (proc2 & Proc2Ctl.EnableEpt) !== 0;
    const vpid = (proc2 & Proc2Ctl.EnableVpid) !== 0;
    this.inveptTypes = ept ? f.inveptTypes & 0b110 : 0;
    this.invvpidTypes = vpid ? f.invvpidTypes & 0b1111 : 0;
    let lo = 0;
    if (ept) {
      lo =
        (f.eptExecuteOnly ? 1 << 0 : 0) |
        (1 << 6) | // page-walk length 4
        (1 << 8) | // UC EPT paging-structure memory type
        (1 << 14) | // WB
        (f.ept2mPages ? 1 << 16 : 0) |
        (f.ept1gPages ? 1 << 17 : 0) |
        (this.inveptTypes !== 0 ? 1 << 20 : 0) |
        (f.eptAccessedDirty ? 1 << 21 : 0) |
        ((this.inveptTypes & 2) !== 0 ? 1 << 25 : 0) |
        ((this.inveptTypes & 4) !== 0 ? 1 << 26 : 0);
    }
    this.eptVpidCapLo = lo;
    this.eptVpidCapHi = this.invvpidTypes !== 0 ? 1 | (this.invvpidTypes << 8) : 0;

    const bits = cpu !== null ? cpu.model.physAddrBits : 46;
    this.physAddrBits = bits;
    this.physHiReserved = bits >= 52 ? ~0xfffff : ~((1 << (bits - 32)) - 1);
  }

  /**
   * Whether a VMXON/VMCS/bitmap pointer (lo, hi) is 4-KByte aligned and sets no bit at or above
   * MAXPHYADDR (SDM §30.3 VMXON/VMCLEAR/VMPTRLD, §26.2.1.1).
   */
  pageAddressValid(lo: number, hi: number): boolean {
    return (lo & 0xfff) === 0 && (hi & this.physHiReserved) === 0;
  }

  /**
   * Whether an EPTP value is valid (SDM §26.2.1.1 "VM-Execution Control Fields", the EPTP
   * checks; also INVEPT single-context §30.3 and EPTP switching §25.5.6.3): memory type
   * (bits 2:0) UC (0) or WB (6) as supported; bits 5:3 = page-walk length - 1 = 3; bit 6
   * (accessed/dirty flags) only if supported; bits 11:7 reserved (0); no bit at or above
   * MAXPHYADDR.
   */
  eptpValid(lo: number, hi: number): boolean {
    const type = lo & 7;
    if (type !== 0 && type !== 6) return false;
    if (((lo >>> 3) & 7) !== 3) return false;
    if ((lo & 0x40) !== 0 && (this.eptVpidCapLo & (1 << 21)) === 0) return false;
    if ((lo & 0xf80) !== 0) return false;
    return (hi & this.physHiReserved) === 0;
  }
}

// ---- CPUID and the capability MSRs -------------------------------------------------------------

/** CPUID.1:ECX bit 5 (VMX) is set (SDM §24.6 "Discovering support for VMX"). */
export function vmxCpuid(_vmx: VmxCpu, leaf: number, _subleaf: number, out: Int32Array): void {
  if (leaf === 1) out[2] = out[2]! | (1 << 5);
}

function result(cpu: Cpu, lo: number, hi: number): boolean {
  cpu.msrLo = lo | 0;
  cpu.msrHi = hi | 0;
  return true;
}

/**
 * RDMSR of the VMX capability MSRs 480H-491H (SDM Appendix A): the value into
 * `cpu.msrLo/msrHi`. Returns false for an MSR the processor does not have (RDMSR then raises
 * #GP(0)): IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary controls" may be 1
 * (A.3.3), IA32_VMX_EPT_VPID_CAP only if "enable EPT" or "enable VPID" may be 1 (A.10), the
 * TRUE MSRs only with IA32_VMX_BASIC bit 55 (A.2), IA32_VMX_VMFUNC only if "enable VM functions"
 * may be 1 (A.11). IA32_FEATURE_CONTROL (3AH) is left to the core.
 *
 * The non-TRUE control MSRs report the default1 bits in their allowed-0 half (A.3.1-A.5).
 */
export function readVmxMsr(vmx: VmxCpu, cpu: Cpu, msr: number): boolean {
  if (msr < VmxMsr.Ia32VmxBasic || msr > VmxMsr.Ia32VmxVmfunc) return false;
  const c = vmx.caps;
  switch (msr) {
    case VmxMsr.Ia32VmxBasic:
      return result(cpu, c.basicLo, c.basicHi);
    case VmxMsr.Ia32VmxPinbasedCtls:
      return result(cpu, PIN_DEFAULT1, c.pinAllowed1);
    case VmxMsr.Ia32VmxProcbasedCtls:
      return result(cpu, PROC_DEFAULT1, c.procAllowed1);
    case VmxMsr.Ia32VmxExitCtls:
      return result(cpu, EXIT_DEFAULT1, c.exitAllowed1);
    case VmxMsr.Ia32VmxEntryCtls:
      return result(cpu, ENTRY_DEFAULT1, c.entryAllowed1);
    case VmxMsr.Ia32VmxMisc:
      return result(cpu, c.miscLo, c.miscHi);
    case VmxMsr.Ia32VmxCr0Fixed0:
      return result(cpu, c.cr0Fixed0, 0);
    case VmxMsr.Ia32VmxCr0Fixed1:
      return result(cpu, c.cr0Fixed1, 0);
    case VmxMsr.Ia32VmxCr4Fixed0:
      return result(cpu, c.cr4Fixed0, 0);
    case VmxMsr.Ia32VmxCr4Fixed1:
      return result(cpu, c.cr4Fixed1, 0);
    case VmxMsr.Ia32VmxVmcsEnum:
      // Bits 9:1: the highest index of any VMCS field encoding (Appendix A.9).
      return result(cpu, VMCS_MAX_INDEX << 1, 0);
    case VmxMsr.Ia32VmxProcbasedCtls2:
      if ((c.procAllowed1 & ProcCtl.ActivateSecondaryControls) === 0) return false;
      return result(cpu, c.proc2Allowed0, c.proc2Allowed1);
    case VmxMsr.Ia32VmxEptVpidCap:
      if ((c.proc2Allowed1 & (Proc2Ctl.EnableEpt | Proc2Ctl.EnableVpid)) === 0) return false;
      return result(cpu, c.eptVpidCapLo, c.eptVpidCapHi);
    case VmxMsr.Ia32VmxTruePinbasedCtls:
      return result(cpu, c.pinAllowed0, c.pinAllowed1);
    case VmxMsr.Ia32VmxTrueProcbasedCtls:
      return result(cpu, c.procAllowed0, c.procAllowed1);
    case VmxMsr.Ia32VmxTrueExitCtls:
      return result(cpu, c.exitAllowed0, c.exitAllowed1);
    case VmxMsr.Ia32VmxTrueEntryCtls:
      return result(cpu, c.entryAllowed0, c.entryAllowed1);
    default:
      // IA32_VMX_VMFUNC.
      if ((c.proc2Allowed1 & Proc2Ctl.EnableVmFunctions) === 0) return false;
      return result(cpu, c.vmfuncAllowed1, 0);
  }
}

/**
 * WRMSR of an MSR this extension owns. The VMX capability MSRs (480H-491H) are read-only: a
 * write raises #GP(0) (SDM Appendix A). This answers false for them, which makes the core's
 * `writeMsr` report failure and WRMSR raise #GP(0); answering false rather than raising here
 * keeps `writeMsr` usable for the VM-entry/VM-exit MSR-load lists, which must see a failure
 * as a value, not a thrown fault (§26.4, §27.6). Nothing else is owned: IA32_FEATURE_CONTROL
 * is the core's.
 */
export function writeVmxMsr(_vmx: VmxCpu, _cpu: Cpu, _msr: number, _lo: number, _hi: number): boolean {
  return false;
}

// ---- CR0/CR4 in VMX operation ------------------------------------------------------------------

/**
 * Whether a MOV to CR0/CR4 (also CLTS, LMSW) may put `lo:hi` in CR`n` in VMX operation (SDM
 * §23.8 "Restrictions on VMX Operation": the bits fixed by IA32_VMX_CR0_FIXED0/FIXED1 and
 * IA32_VMX_CR4_FIXED0/FIXED1 cannot change, and an attempt raises #GP(0); so clearing CR4.VMXE
 * is #GP(0), FIXED0 bit 13). Returns true outside VMX operation and for other registers; the
 * caller raises #GP(0) on false.
 *
 * In VMX non-root operation the value checked is the one that would land in the real register,
 * i.e. after the guest/host mask merge (host-owned bits keep their current value, SDM §25.3
 * "Changes to instruction behavior in VMX non-root operation", MOV to CR0/CR4): a guest can only
 * fault on a fixed bit it owns. With "unrestricted guest" (SDM §25.3, §26.3.1.1) CR0.PE and
 * CR0.PG are not fixed in non-root operation.
 */
export function crWriteAllowed(vmx: VmxCpu, cpu: Cpu, n: number, lo: number, hi: number): boolean {
  if (!vmx.inVmx) return true;
  const c = vmx.caps;
  if (n === 0) {
    let fixed0 = c.cr0Fixed0;
    if (cpu.guestMode && (vmx.proc & ProcCtl.ActivateSecondaryControls) !== 0 && (vmx.proc2 & Proc2Ctl.UnrestrictedGuest) !== 0) {
      fixed0 &= ~(Cr0.PE | Cr0.PG);
    }
    return (lo & fixed0) === fixed0 && (lo & ~c.cr0Fixed1) === 0 && hi === 0;
  }
  if (n === 4) return (lo & c.cr4Fixed0) === c.cr4Fixed0 && (lo & ~c.cr4Fixed1) === 0 && hi === 0;
  return true;
}
