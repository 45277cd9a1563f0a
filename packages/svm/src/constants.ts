/**
 * SVM constants by the AMD APM's names (AMD64 Architecture Programmer's Manual Vol. 2, ch. 15
 * "Secure Virtual Machine" and Appendix B "Layout of VMCB", Appendix C "SVM Intercept Exit
 * Codes").
 */

/** #VMEXIT codes (APM Vol. 2 Appendix C, Table C-1), written to the VMCB's EXITCODE. */
export const SvmExitCode = {
  /** 00h-0Fh: read of CR0-CR15 (add n). */
  CrRead: 0x00,
  /** 10h-1Fh: write of CR0-CR15 (add n). */
  CrWrite: 0x10,
  /** 20h-2Fh: read of DR0-DR15 (add n). */
  DrRead: 0x20,
  /** 30h-3Fh: write of DR0-DR15 (add n). */
  DrWrite: 0x30,
  /** 40h-5Fh: exception vector 0-31 (add the vector). */
  Excp: 0x40,
  Intr: 0x60,
  Nmi: 0x61,
  Smi: 0x62,
  Init: 0x63,
  Vintr: 0x64,
  /** Write of CR0 that changed bits other than CR0.TS or CR0.MP. */
  Cr0SelWrite: 0x65,
  IdtrRead: 0x66,
  GdtrRead: 0x67,
  LdtrRead: 0x68,
  TrRead: 0x69,
  IdtrWrite: 0x6a,
  GdtrWrite: 0x6b,
  LdtrWrite: 0x6c,
  TrWrite: 0x6d,
  Rdtsc: 0x6e,
  Rdpmc: 0x6f,
  Pushf: 0x70,
  Popf: 0x71,
  Cpuid: 0x72,
  Rsm: 0x73,
  Iret: 0x74,
  Swint: 0x75,
  Invd: 0x76,
  Pause: 0x77,
  Hlt: 0x78,
  Invlpg: 0x79,
  Invlpga: 0x7a,
  Ioio: 0x7b,
  Msr: 0x7c,
  TaskSwitch: 0x7d,
  FerrFreeze: 0x7e,
  Shutdown: 0x7f,
  Vmrun: 0x80,
  Vmmcall: 0x81,
  Vmload: 0x82,
  Vmsave: 0x83,
  Stgi: 0x84,
  Clgi: 0x85,
  Skinit: 0x86,
  Rdtscp: 0x87,
  Icebp: 0x88,
  Wbinvd: 0x89,
  Monitor: 0x8a,
  Mwait: 0x8b,
  MwaitConditional: 0x8c,
  Xsetbv: 0x8d,
  Rdpru: 0x8e,
  /** 90h-9Fh: CR0-CR15 write trap (SEV-ES; not implemented). */
  CrWriteTrap: 0x90,
  Invlpgb: 0xa0,
  InvlpgbIllegal: 0xa1,
  Invpcid: 0xa2,
  Mcommit: 0xa3,
  Tlbsync: 0xa4,
  /** Nested page fault (#NPF, APM §15.25.6). */
  Npf: 0x400,
  AvicIncompleteIpi: 0x401,
  AvicNoaccel: 0x402,
  Vmgexit: 0x403,
  /** VMEXIT_INVALID: VMRUN found an illegal guest state (-1, all 64 bits set). */
  Invalid: -1,
  /** VMEXIT_BUSY (-2): SEV-ES only. */
  Busy: -2,
} as const;

/**
 * The intercept vectors of the VMCB control area (APM Vol. 2 Appendix B, Table B-1). Each
 * constant is a bit of the 32-bit word at the offset named by the object.
 */
/** Offset 00Ch ("intercept vector 3" in the APM's numbering; `InterceptMisc1` here). */
export const InterceptMisc1 = {
  Intr: 1 << 0,
  Nmi: 1 << 1,
  Smi: 1 << 2,
  Init: 1 << 3,
  Vintr: 1 << 4,
  /** Writes of CR0 that change bits other than CR0.TS or CR0.MP (selective CR0 write). */
  Cr0SelWrite: 1 << 5,
  IdtrRead: 1 << 6,
  GdtrRead: 1 << 7,
  LdtrRead: 1 << 8,
  TrRead: 1 << 9,
  IdtrWrite: 1 << 10,
  GdtrWrite: 1 << 11,
  LdtrWrite: 1 << 12,
  TrWrite: 1 << 13,
  Rdtsc: 1 << 14,
  Rdpmc: 1 << 15,
  Pushf: 1 << 16,
  Popf: 1 << 17,
  Cpuid: 1 << 18,
  Rsm: 1 << 19,
  Iret: 1 << 20,
  Intn: 1 << 21,
  Invd: 1 << 22,
  Pause: 1 << 23,
  Hlt: 1 << 24,
  Invlpg: 1 << 25,
  Invlpga: 1 << 26,
  IoioProt: 1 << 27,
  MsrProt: 1 << 28,
  TaskSwitch: 1 << 29,
  FerrFreeze: 1 << 30,
  Shutdown: 1 << 31,
} as const;

/** Offset 010h ("intercept vector 4"; `InterceptMisc2` here). */
export const InterceptMisc2 = {
  Vmrun: 1 << 0,
  Vmmcall: 1 << 1,
  Vmload: 1 << 2,
  Vmsave: 1 << 3,
  Stgi: 1 << 4,
  Clgi: 1 << 5,
  Skinit: 1 << 6,
  Rdtscp: 1 << 7,
  Icebp: 1 << 8,
  /** WBINVD and WBNOINVD. */
  Wbinvd: 1 << 9,
  /** MONITOR and MONITORX. */
  Monitor: 1 << 10,
  /** MWAIT and MWAITX, unconditionally. */
  Mwait: 1 << 11,
  /** MWAIT and MWAITX, if the monitor hardware is armed. */
  MwaitConditional: 1 << 12,
  Xsetbv: 1 << 13,
  Rdpru: 1 << 14,
  EferWriteTrap: 1 << 15,
} as const;

/** Offset 014h ("intercept vector 5"; `InterceptMisc3` here). None is advertised by hvkit. */
export const InterceptMisc3 = {
  Invlpgb: 1 << 0,
  InvlpgbIllegal: 1 << 1,
  Invpcid: 1 << 2,
  Mcommit: 1 << 3,
  Tlbsync: 1 << 4,
} as const;

/** TLB_CONTROL (VMCB offset 05Ch bits 7:0; APM §15.16.1 "TLB Flush"). */
export const TlbControl = {
  /** Do nothing. */
  DoNothing: 0,
  /** Flush the entire TLB (all entries, all ASIDs) on VMRUN. */
  FlushAll: 1,
  /** Flush this guest's TLB entries (FlushByAsid). */
  FlushAsid: 3,
  /** Flush this guest's non-global TLB entries (FlushByAsid). */
  FlushAsidNonGlobal: 7,
} as const;

/** The V_INTR word (VMCB offset 060h, low 32 bits; APM Table B-1, §15.21 "Interrupt and LDTR Virtualization"). */
export const VIntr = {
  /** Bits 7:0: V_TPR, the virtual TPR (bits 3:0 hold the priority). */
  TprMask: 0xff,
  /** Bit 8: V_IRQ, a virtual interrupt is pending. */
  Irq: 1 << 8,
  /** Bit 9: V_GIF, the virtual GIF (with V_GIF_ENABLE). */
  Gif: 1 << 9,
  /** Bit 11: V_NMI, a virtual NMI is pending (with V_NMI_ENABLE). */
  Nmi: 1 << 11,
  /** Bit 12: V_NMI_MASK, virtual NMIs are masked (an NMI handler runs). */
  NmiMask: 1 << 12,
  /** Bits 19:16: V_INTR_PRIO, the priority of the pending virtual interrupt. */
  PrioShift: 16,
  /** Bit 20: V_IGN_TPR: the pending virtual interrupt ignores V_TPR. */
  IgnTpr: 1 << 20,
  /** Bit 24: V_INTR_MASKING: virtualize the TPR and RFLAGS.IF (§15.21.1). */
  Masking: 1 << 24,
  /** Bit 25: V_GIF_ENABLE (vGIF, §15.33). */
  GifEnable: 1 << 25,
  /** Bit 26: V_NMI_ENABLE (vNMI, §15.21.5). */
  NmiEnable: 1 << 26,
  /** Bit 31: AVIC_ENABLE (not implemented, not advertised). */
  AvicEnable: 1 << 31,
} as const;

/** The interrupt-shadow word (VMCB offset 068h). */
export const IntShadow = {
  /** Bit 0: INTERRUPT_SHADOW, the guest is in an interrupt shadow (STI / MOV SS). */
  Shadow: 1 << 0,
  /** Bit 1: GUEST_INTERRUPT_MASK, the guest's RFLAGS.IF, written on #VMEXIT with V_INTR_MASKING. */
  GuestIf: 1 << 1,
} as const;

/** NP_ENABLE word (VMCB offset 090h). */
export const NpEnable = {
  /** Bit 0: NP_ENABLE, nested paging. */
  Np: 1 << 0,
  /** Bit 1: SEV (not implemented). */
  Sev: 1 << 1,
  /** Bit 2: SEV-ES (not implemented). */
  SevEs: 1 << 2,
  /** Bit 3: GMET (not implemented). */
  Gmet: 1 << 3,
} as const;

/** LBR virtualization word (VMCB offset 0B8h). */
export const LbrVirt = {
  /** Bit 0: LBR_VIRTUALIZATION_ENABLE. */
  Enable: 1 << 0,
  /** Bit 1: virtualized VMSAVE/VMLOAD (not advertised). */
  VirtVmsaveVmload: 1 << 1,
} as const;

/**
 * The VMCB clean bits (VMCB offset 0C0h; APM §15.15.3 "VMCB Clean Field", Table 15-8): a set
 * bit says the hypervisor did not change that group since the last VMRUN of this VMCB on this
 * processor, so the processor may use its cached copy.
 */
export const VmcbClean = {
  /** Intercept vectors, TSC offset, pause-filter count/threshold. */
  I: 1 << 0,
  /** IOPM_BASE_PA, MSRPM_BASE_PA. */
  Iopm: 1 << 1,
  /** Guest ASID. */
  Asid: 1 << 2,
  /** V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, V_INTR_VECTOR (offsets 60h-67h). */
  Tpr: 1 << 3,
  /** NP_ENABLE, G_PAT, nCR3. */
  Np: 1 << 4,
  /** CR0, CR3, CR4, EFER. */
  Crx: 1 << 5,
  /** DR6, DR7. */
  Drx: 1 << 6,
  /** GDT and IDT base and limit. */
  Dt: 1 << 7,
  /** CS, DS, SS, ES sel/base/limit/attr, CPL. */
  Seg: 1 << 8,
  /** CR2. */
  Cr2: 1 << 9,
  /** DbgCtlMsr, br_from/to, lastint from/to. */
  Lbr: 1 << 10,
  /** AVIC fields (not implemented). */
  Avic: 1 << 11,
} as const;

/** EVENTINJ / EXITINTINFO (VMCB 0A8h / 088h; APM §15.20 "Event Injection", Figure 15-4). */
export const EventInj = {
  VectorMask: 0xff,
  /** Bits 10:8: TYPE. */
  TypeShift: 8,
  TypeMask: 0x700,
  /** Bit 11: EV, an error code is pushed (in bits 63:32). */
  ErrorValid: 1 << 11,
  /** Bit 31: V, valid. */
  Valid: 1 << 31,
} as const;

/** EVENTINJ / EXITINTINFO TYPE values (§15.20). */
export const EventType = {
  /** External or virtual interrupt (INTR). */
  Intr: 0,
  /** NMI. */
  Nmi: 2,
  /** Exception (fault or trap). */
  Exception: 3,
  /** Software interrupt (INTn instruction). */
  Soft: 4,
} as const;

/** CPUID Fn8000_000A_EDX feature bits (APM Vol. 3 Appendix E.4.9; APM Vol. 2 §15.4). */
export const SvmFeature = {
  /** Nested paging. */
  Np: 1 << 0,
  /** LBR virtualization. */
  LbrVirt: 1 << 1,
  /** SVM lock (SVM_KEY). Not implemented. */
  Svml: 1 << 2,
  /** NRIP save on #VMEXIT. */
  NRips: 1 << 3,
  /** MSR-based TSC rate control. Not implemented. */
  TscRateMsr: 1 << 4,
  /** VMCB clean bits. */
  VmcbClean: 1 << 5,
  /** TLB flush events, including CR3 writes and CR4.PGE toggles, flush only the current ASID's entries; TLB_CONTROL 3 and 7. */
  FlushByAsid: 1 << 6,
  /** Decode assists. */
  DecodeAssists: 1 << 7,
  /** Pause-intercept filter. */
  PauseFilter: 1 << 10,
  /** Pause-filter threshold. */
  PauseFilterThreshold: 1 << 12,
  /** AVIC. Not implemented. */
  Avic: 1 << 13,
  /** Virtualized VMLOAD/VMSAVE. Not implemented. */
  VmsaveVirt: 1 << 15,
  /** Virtualized GIF. */
  Vgif: 1 << 16,
  /** Virtual NMI. */
  Vnmi: 1 << 25,
} as const;

/** SVM MSRs (APM Vol. 2 §15.30 "SVM Related MSRs"). */
export const SvmMsr = {
  /** VM_CR (C001_0114h). */
  VmCr: 0xc0010114 | 0,
  /** IGNNE (C001_0115h). */
  Ignne: 0xc0010115 | 0,
  /** SMM_CTL (C001_0116h). */
  SmmCtl: 0xc0010116 | 0,
  /** VM_HSAVE_PA (C001_0117h): physical address of the host save area. */
  VmHsavePa: 0xc0010117 | 0,
  /** SVM_KEY (C001_0118h): not implemented (SVML not advertised). */
  SvmKey: 0xc0010118 | 0,
} as const;

/** VM_CR bits (§15.30.1). */
export const VmCr = {
  /** Bit 0: DPD, debug port disable. */
  Dpd: 1 << 0,
  /** Bit 1: R_INIT, INIT is translated into a #SX (no #SX in hvkit: reads as written, no effect). */
  RInit: 1 << 1,
  /** Bit 2: DIS_A20M. */
  DisA20m: 1 << 2,
  /** Bit 3: LOCK: SVMDIS is read-only (and LOCK itself) until reset. */
  Lock: 1 << 3,
  /** Bit 4: SVMDIS: EFER.SVME cannot be set. */
  SvmDis: 1 << 4,
} as const;
