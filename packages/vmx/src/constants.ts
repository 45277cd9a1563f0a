/**
 * VMX control bits, exit reasons and VM-instruction error numbers, by their SDM names.
 */

/** Pin-based VM-execution controls (SDM Vol. 3 §24.6.1, Table 24-5). */
export const PinCtl = {
  ExternalInterruptExiting: 1 << 0,
  NmiExiting: 1 << 3,
  VirtualNmis: 1 << 5,
  ActivateVmxPreemptionTimer: 1 << 6,
  ProcessPostedInterrupts: 1 << 7,
} as const;

/** Primary processor-based VM-execution controls (SDM Vol. 3 §24.6.2, Table 24-6). */
export const ProcCtl = {
  InterruptWindowExiting: 1 << 2,
  UseTscOffsetting: 1 << 3,
  HltExiting: 1 << 7,
  InvlpgExiting: 1 << 9,
  MwaitExiting: 1 << 10,
  RdpmcExiting: 1 << 11,
  RdtscExiting: 1 << 12,
  Cr3LoadExiting: 1 << 15,
  Cr3StoreExiting: 1 << 16,
  ActivateTertiaryControls: 1 << 17,
  Cr8LoadExiting: 1 << 19,
  Cr8StoreExiting: 1 << 20,
  UseTprShadow: 1 << 21,
  NmiWindowExiting: 1 << 22,
  MovDrExiting: 1 << 23,
  UnconditionalIoExiting: 1 << 24,
  UseIoBitmaps: 1 << 25,
  MonitorTrapFlag: 1 << 27,
  UseMsrBitmaps: 1 << 28,
  MonitorExiting: 1 << 29,
  PauseExiting: 1 << 30,
  ActivateSecondaryControls: 1 << 31,
} as const;

/** Secondary processor-based VM-execution controls (SDM Vol. 3 §24.6.2, Table 24-7). */
export const Proc2Ctl = {
  VirtualizeApicAccesses: 1 << 0,
  EnableEpt: 1 << 1,
  DescriptorTableExiting: 1 << 2,
  EnableRdtscp: 1 << 3,
  VirtualizeX2apicMode: 1 << 4,
  EnableVpid: 1 << 5,
  WbinvdExiting: 1 << 6,
  UnrestrictedGuest: 1 << 7,
  ApicRegisterVirtualization: 1 << 8,
  VirtualInterruptDelivery: 1 << 9,
  PauseLoopExiting: 1 << 10,
  RdrandExiting: 1 << 11,
  EnableInvpcid: 1 << 12,
  EnableVmFunctions: 1 << 13,
  VmcsShadowing: 1 << 14,
  EnclsExiting: 1 << 15,
  RdseedExiting: 1 << 16,
  EnablePml: 1 << 17,
  EptViolationVe: 1 << 18,
  ConcealVmxFromPt: 1 << 19,
  EnableXsavesXrstors: 1 << 20,
  ModeBasedExecuteControlForEpt: 1 << 22,
  UseTscScaling: 1 << 25,
} as const;

/** VM-exit controls (SDM Vol. 3 §24.7.1, Table 24-13). */
export const ExitCtl = {
  SaveDebugControls: 1 << 2,
  HostAddressSpaceSize: 1 << 9,
  LoadIa32PerfGlobalCtrl: 1 << 12,
  AcknowledgeInterruptOnExit: 1 << 15,
  SaveIa32Pat: 1 << 18,
  LoadIa32Pat: 1 << 19,
  SaveIa32Efer: 1 << 20,
  LoadIa32Efer: 1 << 21,
  SaveVmxPreemptionTimerValue: 1 << 22,
  ClearIa32Bndcfgs: 1 << 23,
  ConcealVmxFromPt: 1 << 24,
} as const;

/** VM-entry controls (SDM Vol. 3 §24.8.1, Table 24-15). */
export const EntryCtl = {
  LoadDebugControls: 1 << 2,
  Ia32eModeGuest: 1 << 9,
  EntryToSmm: 1 << 10,
  DeactivateDualMonitorTreatment: 1 << 11,
  LoadIa32PerfGlobalCtrl: 1 << 13,
  LoadIa32Pat: 1 << 14,
  LoadIa32Efer: 1 << 15,
  LoadIa32Bndcfgs: 1 << 16,
  ConcealVmxFromPt: 1 << 17,
} as const;

/** VM-function controls (SDM Vol. 3 §24.6.14). */
export const VmFuncCtl = {
  EptpSwitching: 1 << 0,
} as const;

/** Basic exit reasons (SDM Vol. 3 Appendix C, Table C-1). */
export const VmxExitReason = {
  ExceptionOrNmi: 0,
  ExternalInterrupt: 1,
  TripleFault: 2,
  InitSignal: 3,
  StartupIpi: 4,
  IoSmi: 5,
  OtherSmi: 6,
  InterruptWindow: 7,
  NmiWindow: 8,
  TaskSwitch: 9,
  Cpuid: 10,
  Getsec: 11,
  Hlt: 12,
  Invd: 13,
  Invlpg: 14,
  Rdpmc: 15,
  Rdtsc: 16,
  Rsm: 17,
  Vmcall: 18,
  Vmclear: 19,
  Vmlaunch: 20,
  Vmptrld: 21,
  Vmptrst: 22,
  Vmread: 23,
  Vmresume: 24,
  Vmwrite: 25,
  Vmxoff: 26,
  Vmxon: 27,
  CrAccess: 28,
  MovDr: 29,
  IoInstruction: 30,
  Rdmsr: 31,
  Wrmsr: 32,
  /** VM-entry failure due to invalid guest state (with bit 31 set). */
  InvalidGuestState: 33,
  /** VM-entry failure due to MSR loading (with bit 31 set). */
  MsrLoading: 34,
  Mwait: 36,
  MonitorTrapFlag: 37,
  Monitor: 39,
  Pause: 40,
  /** VM-entry failure due to a machine-check event. */
  MachineCheck: 41,
  TprBelowThreshold: 43,
  ApicAccess: 44,
  VirtualizedEoi: 45,
  GdtrIdtrAccess: 46,
  LdtrTrAccess: 47,
  EptViolation: 48,
  EptMisconfiguration: 49,
  Invept: 50,
  Rdtscp: 51,
  VmxPreemptionTimerExpired: 52,
  Invvpid: 53,
  WbinvdOrWbnoinvd: 54,
  Xsetbv: 55,
  ApicWrite: 56,
  Rdrand: 57,
  Invpcid: 58,
  Vmfunc: 59,
  Encls: 60,
  Rdseed: 61,
  PageModificationLogFull: 62,
  Xsaves: 63,
  Xrstors: 64,
} as const;
export type VmxExitReason = (typeof VmxExitReason)[keyof typeof VmxExitReason];

/** Bit 31 of the exit reason: VM-entry failure (SDM Vol. 3 §24.9.1, Table 24-18). */
export const EXIT_REASON_ENTRY_FAILURE = 0x8000_0000 | 0;

/** VM-instruction error numbers (SDM Vol. 3 §30.4, Table 30-1). */
export const VmInstructionError = {
  VmcallInVmxRoot: 1,
  VmclearInvalidAddress: 2,
  VmclearVmxonPointer: 3,
  VmlaunchNonClearVmcs: 4,
  VmresumeNonLaunchedVmcs: 5,
  VmresumeAfterVmxoff: 6,
  EntryInvalidControlFields: 7,
  EntryInvalidHostStateFields: 8,
  VmptrldInvalidAddress: 9,
  VmptrldVmxonPointer: 10,
  VmptrldIncorrectRevision: 11,
  UnsupportedVmcsComponent: 12,
  VmwriteReadOnlyComponent: 13,
  VmxonInVmxRoot: 15,
  EntryInvalidExecutiveVmcsPointer: 16,
  EntryNonLaunchedExecutiveVmcs: 17,
  EntryExecutiveVmcsPointerNotVmxon: 18,
  VmcallNonClearVmcs: 19,
  VmcallInvalidExitControls: 20,
  VmcallIncorrectMsegRevision: 22,
  VmxoffUnderDualMonitor: 23,
  VmcallInvalidSmmMonitorFeatures: 24,
  EntryInvalidExecutionControlsInExecutiveVmcs: 25,
  EntryEventsBlockedByMovSs: 26,
  InvalidOperandToInveptInvvpid: 28,
} as const;
export type VmInstructionError = (typeof VmInstructionError)[keyof typeof VmInstructionError];

/** Interruption types of the VM-entry/VM-exit interruption-information fields (SDM Vol. 3 §24.8.3, Table 24-17). */
export const InterruptionType = {
  ExternalInterrupt: 0,
  Nmi: 2,
  HardwareException: 3,
  SoftwareInterrupt: 4,
  PrivilegedSoftwareException: 5,
  SoftwareException: 6,
  OtherEvent: 7,
} as const;

/** Activity states (SDM Vol. 3 §24.4.2, Table 24-3). */
export const ActivityState = { Active: 0, Hlt: 1, Shutdown: 2, WaitForSipi: 3 } as const;

/** Interruptibility-state bits (SDM Vol. 3 §24.4.2, Table 24-3). */
export const Interruptibility = {
  BlockingBySti: 1 << 0,
  BlockingByMovSs: 1 << 1,
  BlockingBySmi: 1 << 2,
  BlockingByNmi: 1 << 3,
  EnclaveInterruption: 1 << 4,
} as const;

/** VMX MSRs (SDM Vol. 3 Appendix A; Vol. 4 Table 2-2). */
export const VmxMsr = {
  Ia32FeatureControl: 0x3a,
  Ia32VmxBasic: 0x480,
  Ia32VmxPinbasedCtls: 0x481,
  Ia32VmxProcbasedCtls: 0x482,
  Ia32VmxExitCtls: 0x483,
  Ia32VmxEntryCtls: 0x484,
  Ia32VmxMisc: 0x485,
  Ia32VmxCr0Fixed0: 0x486,
  Ia32VmxCr0Fixed1: 0x487,
  Ia32VmxCr4Fixed0: 0x488,
  Ia32VmxCr4Fixed1: 0x489,
  Ia32VmxVmcsEnum: 0x48a,
  Ia32VmxProcbasedCtls2: 0x48b,
  Ia32VmxEptVpidCap: 0x48c,
  Ia32VmxTruePinbasedCtls: 0x48d,
  Ia32VmxTrueProcbasedCtls: 0x48e,
  Ia32VmxTrueExitCtls: 0x48f,
  Ia32VmxTrueEntryCtls: 0x490,
  Ia32VmxVmfunc: 0x491,
} as const;

/** IA32_FEATURE_CONTROL bits (SDM Vol. 3 §24.7 "Enabling and entering VMX operation"). */
export const FeatureControl = {
  Lock: 1 << 0,
  VmxInsideSmx: 1 << 1,
  VmxOutsideSmx: 1 << 2,
} as const;
