/**
 * `SvmCpu`: one logical processor's AMD SVM state, plugged into one `Cpu` as its
 * `VirtualizationExtension` (the one interface through which SVM reaches the core).
 *
 * The work is split by the APM's sections (AMD64 APM Vol. 2 ch. 15), one module each:
 * - `caps.ts`: CPUID 8000_0001h.ECX.SVM and 8000_000Ah, VM_CR, VM_HSAVE_PA, EFER.SVME (§15.4, §15.30);
 * - `instructions.ts`: the SVM instructions' common checks and VMLOAD, VMSAVE, STGI, CLGI,
 *   VMMCALL, INVLPGA (§15.5, §15.17, §15.5.2);
 * - `vmrun.ts`: VMRUN (§15.5): consistency checks, host save, guest load, TLB control, clean
 *   bits, event injection (§15.20);
 * - `vmexit.ts`: #VMEXIT (§15.6): EXITCODE, EXITINFO, EXITINTINFO, nRIP, guest save, host load;
 * - `intercept.ts`: the intercepts (§15.7-§15.14): which operations exit, with what EXITINFO;
 * - `events.ts`: guest-mode interrupt state (§15.17 GIF, §15.21 V_IRQ/V_TPR/V_INTR_MASKING, vNMI,
 *   §15.33 vGIF) at instruction boundaries;
 * - `npt.ts`: nested paging and ASIDs (§15.16, §15.25) through `@hvkit/mmu`;
 * - `skinit.ts`: SKINIT (§15.27) with the DEV and the measurement log.
 */
import type { Cpu, Intercept, VirtInstruction, VirtualizationExtension } from '@hvkit/x86';
import { SecondLevelWalker } from '@hvkit/mmu';
import { readSvmMsr, svmAllowsEnable, svmCpuid, writeSvmMsr, type SvmFeatures } from './caps.js';
import { executeSvm } from './instructions.js';
import { intercept } from './intercept.js';
import { boundary } from './events.js';
import { AsidContexts, nptTranslate } from './npt.js';
import { VmcbMemory } from './vmcb.js';
import { LbrState } from './lbr.js';

/** Memory the nested page walker reads and writes (host-physical). */
export type WalkerMemory = ConstructorParameters<typeof SecondLevelWalker>[0];

/**
 * Where SKINIT asks for DMA protection of the secure loader block (the Device Exclusion Vector,
 * APM Vol. 2 §15.24 "External Access Protection"/§15.27.4): the machine passes one in
 * (`@hvkit/iommu`'s DEV); without one, SKINIT protects nothing and says so in its log record.
 */
export interface DmaExclusion {
  /** Excludes device access to host-physical [base, base + length) (4 KiB granules). */
  protect(base: number, length: number): void;
}

/** One SKINIT measurement (no TPM attached: the machine exposes this log instead of PCR 17). */
export interface SkinitRecord {
  /** Host-physical address of the SLB. */
  readonly slb: number;
  /** The SL image length from the SLB header (bytes measured). */
  readonly length: number;
  /** SHA-1 of the SL image, lowercase hex (what a TPM 1.2 would extend into PCR 17). */
  readonly sha1: string;
  /** Entry point (SLB + the header's entry offset). */
  readonly entry: number;
  /** Whether a DEV protected the 64 KiB SLB. */
  readonly devProtected: boolean;
}

export class SvmCpu implements VirtualizationExtension {
  readonly kind = 'svm' as const;
  /** The processor this state belongs to (set by attach). */
  cpu!: Cpu;
  readonly features: SvmFeatures;

  // ---- caps (caps.ts) -------------------------------------------------------------------------
  /** VM_CR (low half; the high half reads 0). */
  vmCr = 0;
  /** VM_HSAVE_PA: the host save area (4 KiB aligned). */
  hsavePa = 0;
  // ---- insn ----
  /** The IGNNE MSR (C001_0115h) bit 0 (§15.30.2): kept, not consulted. */
  ignne = 0;

  // ---- VMCB access ----------------------------------------------------------------------------
  /** The guest's VMCB (selected by VMRUN; in guest mode it is the running guest's). */
  readonly vmcb = new VmcbMemory();
  /** The host save area, and VMLOAD/VMSAVE's VMCB. */
  readonly hsave = new VmcbMemory();
  readonly aux = new VmcbMemory();
  /** Host-physical address of the running guest's VMCB (rAX of the VMRUN), -1 outside guest mode. */
  vmcbPa = -1;

  // ---- cached controls while in guest mode (vmrun.ts loads them; clean bits decide when) -----
  interceptCrRead = 0;
  interceptCrWrite = 0;
  interceptDrRead = 0;
  interceptDrWrite = 0;
  interceptExceptions = 0;
  interceptMisc1 = 0;
  interceptMisc2 = 0;
  interceptMisc3 = 0;
  pauseFilterThreshold = 0;
  pauseFilterCount = 0;
  iopmBase = 0;
  msrpmBase = 0;
  asid = 0;
  tlbControl = 0;
  /** The V_INTR word (offset 060h, low 32 bits: V_TPR, V_IRQ, V_GIF, V_NMI, ...; {@link VIntr}). */
  vIntr = 0;
  /** V_INTR_VECTOR. */
  vIntrVector = 0;
  npEnable = 0;
  nCr3Lo = 0;
  nCr3Hi = 0;
  lbrVirt = 0;
  /**
   * The VMCB whose clean-bit groups are cached in this processor (APM §15.15.3): the last VMCB
   * run here, -1 for none (INVALIDATED by any VMCB-address change, and whenever a hypervisor
   * might expect it: VMSAVE/VMLOAD do not touch it).
   */
  cleanVmcbPa = -1;
  /** The host's RFLAGS.IF at VMRUN (physical-interrupt masking with V_INTR_MASKING, §15.21.1). */
  hostIf = false;
  // ---- vmrun (vmrun.ts) ----
  /** TSC_OFFSET (clean-bit group I, APM §15.15.3), cached like the intercept vectors. */
  tscOffsetLo = 0;
  tscOffsetHi = 0;
  /** G_PAT (clean-bit group NP), the guest's PAT while NP_ENABLE = 1 (§15.25.8). */
  gPatLo = 0;
  gPatHi = 0;
  /**
   * The guest CR0, CR3, CR4, EFER and CS attrib (and the high halves) that last passed VMRUN's
   * consistency checks (§15.5.1) on this processor; `vmrunChecked` false = none. With the CRx
   * and SEG clean bits set and the same values, VMRUN skips those checks.
   */
  readonly vmrunCheckedKey = new Int32Array(9);
  vmrunChecked = false;

  // ---- intercept (intercept.ts) ----
  /**
   * The pause-filter counter (APM §15.14.4): PAUSEs left before a PAUSE intercept fires; -1 =
   * reload from PAUSE_FILTER_COUNT at the next PAUSE (`interceptEnter` sets -1 at every VMRUN).
   */
  pauseLeft = -1;
  /** `cpu.icount` at the guest's last PAUSE, for PAUSE_FILTER_THRESHOLD (§15.14.5); -1 = none since VMRUN. */
  lastPauseAt = -1;
  /**
   * The guest's CR2 as the guest last set it (VMRUN, MOV to CR2, a delivered #PF): an intercepted
   * #PF leaves CR2 unchanged (the faulting address goes to EXITINFO2 instead, §15.12), but the
   * core writes CR2 before it offers the #PF. Valid while `guestCr2Known`.
   */
  guestCr2Lo = 0;
  guestCr2Hi = 0;
  guestCr2Known = false;

  // ---- events (events.ts) ----
  /**
   * vNMI (APM §15.21.5) is on for this guest: while true the core's `cpu.nmiBlocked` carries
   * V_NMI_MASK (delivering an NMI sets it, IRET clears it) and the host's NMI blocking waits in
   * {@link hostNmiBlocked}; `guestLeave` swaps them back.
   */
  nmiSwapped = false;
  hostNmiBlocked = false;
  // ---- vmexit (vmexit.ts) ----
  /**
   * A #VMEXIT found in the middle of an instruction or event delivery (a #NPF), completed at the
   * next boundary (`recordPendingExit` / `completePendingExit`): its code or -1 and EXITINFO.
   */
  pendingExitCode = -1;
  pendingInfo1Lo = 0;
  pendingInfo1Hi = 0;
  pendingInfo2Lo = 0;
  pendingInfo2Hi = 0;
  pendingVectoringInfo = 0;
  pendingVectoringError = 0;
  /** The STI / MOV SS blocking the abandoned instruction ran under (`cpu.insnShadow`), for INTERRUPT_SHADOW. */
  pendingShadow = 0;

  // ---- npt (npt.ts) ----
  /** The nested page walker (NPT format), over host physical memory. Rebuilt by `attach` once MAXPHYADDR is known. */
  npt: SecondLevelWalker;
  /** ASID -> TLB bank contexts and the guest-physical translation cache. */
  readonly asids = new AsidContexts();
  private readonly walkerMemory: WalkerMemory;

  // ---- skinit (skinit.ts) ----
  /** DMA exclusion for SKINIT (the machine's DEV), or null. */
  dev: DmaExclusion | null = null;
  /** SKINIT measurements (no TPM): one record per SKINIT. */
  readonly skinitLog: SkinitRecord[] = [];

  // ---- lbr (lbr.ts) ----
  /** The guest's DebugCtl and last-branch MSRs while it runs with LBR virtualization. */
  readonly lbr = new LbrState();

  /** Host hook (the typed API, tests): called at the end of every #VMEXIT (VMEXIT_INVALID included). */
  onExit: ((svm: SvmCpu) => void) | null = null;

  constructor(features: SvmFeatures, walkerMemory: WalkerMemory) {
    this.features = features;
    this.walkerMemory = walkerMemory;
    this.npt = new SecondLevelWalker(walkerMemory, { maxPhyAddr: 48 });
  }

  attach(cpu: Cpu): void {
    this.cpu = cpu;
    this.vmcb.bind(cpu);
    this.hsave.bind(cpu);
    this.aux.bind(cpu);
    if (this.npt.maxPhyAddr !== cpu.model.physAddrBits) this.npt = new SecondLevelWalker(this.walkerMemory, { maxPhyAddr: cpu.model.physAddrBits });
  }

  cpuid(leaf: number, subleaf: number, out: Int32Array): void {
    svmCpuid(this, leaf, subleaf, out);
  }

  execute(cpu: Cpu, which: VirtInstruction, d: number): void {
    cpu.curRec = d;
    executeSvm(this, cpu, which, d);
  }

  intercept(cpu: Cpu, what: Intercept, info: number, info2: number): boolean {
    return intercept(this, cpu, what, info, info2);
  }

  translateGpa(cpu: Cpu, gpa: number, access: number): number {
    return nptTranslate(this, cpu, gpa, access);
  }

  readMsr(cpu: Cpu, msr: number): boolean {
    return readSvmMsr(this, cpu, msr);
  }

  writeMsr(cpu: Cpu, msr: number, lo: number, hi: number): boolean {
    return writeSvmMsr(this, cpu, msr, lo, hi);
  }

  allowsEnable(): boolean {
    return svmAllowsEnable(this);
  }

  /** SVM has no CR0/CR4 fixed bits: every write the core allows is allowed. */
  allowsCrWrite(): boolean {
    return true;
  }

  boundary(cpu: Cpu): boolean {
    return boundary(this, cpu);
  }
}
