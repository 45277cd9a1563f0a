/**
 * `VmxCpu`: one logical processor's VT-x state, plugged into one `Cpu` as its
 * `VirtualizationExtension` (the one interface through which VMX reaches the core).
 *
 * The work is split by the SDM's chapters, one module each:
 * - `caps.ts`: CPUID.1:ECX.VMX, IA32_FEATURE_CONTROL and the capability MSRs (Appendix A),
 *   from a {@link VmxFeatures} configuration;
 * - `instructions.ts`: VMXON ... VMFUNC (ch. 30), with their #UD/#GP conditions and
 *   VMsucceed/VMfailInvalid/VMfailValid outcomes, and the VMCS cache (§24.1, §24.11);
 * - `entry.ts`: VM entry (ch. 26): checks, guest-state and MSR loading, event injection;
 * - `exit.ts`: VM exit (ch. 27): exit information, guest-state saving, MSR lists, host-state
 *   loading, VMX abort;
 * - `nonroot.ts`: VMX non-root operation (ch. 25): which operations exit and with what
 *   qualification, the boundary events (windows, MTF, preemption timer);
 * - `ept.ts`: EPT and VPID (ch. 28) through `@hvkit/mmu`.
 */
import type { Cpu, Intercept, VirtInstruction, VirtualizationExtension } from '@hvkit/x86';
import { SecondLevelWalker } from '@hvkit/mmu';
import { crWriteAllowed, readVmxMsr, vmxCpuid, VmxCaps, writeVmxMsr, type VmxFeatures } from './caps.js';
import { executeVmx } from './instructions.js';
import { boundary, intercept } from './nonroot.js';
import { EptContexts, eptTranslate } from './ept.js';
import { completePendingExit } from './exit.js';
import type { Vmcs } from './fields.js';

/** "No current VMCS": the current-VMCS pointer reads FFFFFFFF_FFFFFFFFH (SDM Vol. 3 §30.3 VMPTRST). */
export const NO_VMCS = -1;

export class VmxCpu implements VirtualizationExtension {
  readonly kind = 'vmx' as const;
  /** The processor this state belongs to (set by attach). */
  cpu!: Cpu;
  readonly features: VmxFeatures;
  /** Capability values derived from the features (allowed-0/allowed-1 settings, fixed bits). */
  readonly caps: VmxCaps;

  // ---- VMX operation (instructions.ts) ------------------------------------------------------
  /** In VMX operation (root or non-root; non-root is `cpu.guestMode`). */
  inVmx = false;
  /** Physical address of the VMXON region. */
  vmxonPointer = 0;
  /** The current VMCS, or null (current-VMCS pointer FFFFFFFF_FFFFFFFFH). */
  current: Vmcs | null = null;
  /** Active VMCSs this processor caches, by region address (VMPTRLD makes active, VMCLEAR inactive). */
  readonly active = new Map<number, Vmcs>();
  /** IA32_FEATURE_CONTROL (low half; the high half reads 0). */
  featureControl = 0;

  // ---- vmcs ----
  /** Outcome of the last VMX operation (instructions.ts): 0 VMsucceed, -1 VMfailInvalid, n > 0 VMfailValid(n). */
  outcome = 0;
  /** High half of the last {@link opVmread} result (64-bit and natural-width fields). */
  readHi = 0;
  /** Vmcs objects freed by VMCLEAR, reused by the next VMPTRLD of an inactive region (no allocation in steady state). */
  readonly vmcsPool: Vmcs[] = [];
  /**
   * Launched VMCSs that were active across a VMXOFF: VMRESUME of one of them after the next
   * VMXON + VMPTRLD fails with VM-instruction error 6 (SDM §30.4 Table 30-1) until VMCLEAR.
   */
  readonly staleAfterVmxoff = new Set<Vmcs>();

  // ---- non-root operation (entry.ts, exit.ts, nonroot.ts) ----------------------------------
  /**
   * With "virtual NMIs": virtual-NMI blocking (SDM Vol. 3 §25.3 "Changes to NMI handling"). Without:
   * the real NMI blocking is the core's `nmiBlocked`.
   */
  virtualNmiBlocked = false;
  /** Cached control words of the current VMCS while in non-root operation (set by nonRootEnter). */
  pin = 0;
  proc = 0;
  proc2 = 0;
  exitCtl = 0;
  entryCtl = 0;
  exceptionBitmap = 0;

  // ---- entry ----
  /**
   * The guest is in the shutdown activity state (entered by VM entry with activity state 2,
   * SDM §26.7.2 "Activity State", §24.4.2 Table 24-3): the core sees a halted CPU; only NMI, INIT and machine checks
   * may end it (nonroot.ts), and a VM exit saves activity state 2.
   */
  guestShutdown = false;

  // ---- nonroot ----
  /**
   * With "virtual NMIs" the core's `cpu.nmiBlocked` carries virtual-NMI blocking while in
   * non-root operation (the core's NMI delivery sets it and IRET clears it, as SDM Vol. 3 §25.3
   * specifies for virtual-NMI blocking); the real NMI blocking waits here (nonroot.ts
   * nonRootEnter / nonRootLeave).
   */
  hostNmiBlocked = false;
  /** `cpu.nmiBlocked` carries virtual-NMI blocking (from nonRootEnter to nonRootLeave). */
  nmiSwapped = false;
  /** Instruction count (TSC) at which the VMX-preemption timer reaches 0; Infinity when not active. */
  timerDeadline = Infinity;
  /** An MTF VM exit is pending on the next instruction boundary (SDM §25.5.2; VM entry sets it: `requestPendingMtf`). */
  mtfPending = false;
  /** A TPR-below-threshold VM exit is due right after VM entry (SDM §26.7.7). */
  tprPending = false;
  /** IRET with NMI exiting (and no virtual NMIs) must leave NMI blocking in place (SDM §25.3 "IRET"). */
  nmiKeepBlocked = false;
  /** PAUSE-loop exiting state (SDM §25.1.3): a loop is being timed, its first and last PAUSE (TSC). */
  pleActive = false;
  pleFirst = 0;
  pleLast = 0;
  /**
   * Where the previous boundary() call saw the guest (to tell that an instruction or event ran:
   * MTF); `bIcount` -1 = no boundary since VM entry yet (nonRootEnter).
   */
  bIcount = 0;
  bRipLo = 0;
  bRipHi = 0;
  /** The guest's CR2 and DR6 as last architecturally written (exits for #PF / #DB leave them unchanged, §27.1). */
  guestCr2Lo = 0;
  guestCr2Hi = 0;
  guestDr6 = 0;

  /**
   * EPT: the second-level walker over host physical memory (ept.ts), with the processor's
   * capabilities: MAXPHYADDR (`cpu.model.physAddrBits`: EPT entry bits 51:MAXPHYADDR are
   * reserved, an EPT misconfiguration, SDM §28.3.3.1), execute-only and 1 GiB pages as the
   * features advertise. Rebuilt by `attach` once the CPU model is known.
   */
  ept: SecondLevelWalker;
  private readonly walkerMemory: ConstructorParameters<typeof SecondLevelWalker>[0];

  // ---- exit ----
  /** EPT/VPID state: the TLB-bank contexts and the guest-physical translation cache (ept.ts). */
  readonly eptCtx = new EptContexts();
  /** The VMX-abort indicator of the last VMX abort (SDM §27.7), 0 when none happened. */
  abortIndicator = 0;
  /**
   * Instructions retired before an executing IRET that unblocked NMIs, or -1 (exit.ts
   * `nmiUnblockingDueToIret`, set by `noteIretUnblocking`).
   */
  iretUnblockMark = -1;
  /**
   * An exit recorded in the middle of an instruction (EPT violation/misconfiguration, APIC
   * access), completed at the next boundary (exit.ts `recordPendingExit`): its basic reason or
   * -1, qualification and IDT-vectoring information.
   */
  pendingExitReason = -1;
  pendingExitQualLo = 0;
  pendingExitQualHi = 0;
  pendingVectoringInfo = 0;
  pendingVectoringError = 0;
  pendingVectoringInsnLen = 0;
  /** The core's `insnShadow` when the pending exit was recorded (fix8a: blocking by STI/MOV SS to save). */
  pendingShadow = 0;

  /** Host hook (the typed API, tests): called at the end of every VM exit and VM-entry failure exit. */
  onExit: ((vmx: VmxCpu) => void) | null = null;

  constructor(features: VmxFeatures, walkerMemory: ConstructorParameters<typeof SecondLevelWalker>[0]) {
    this.features = features;
    this.caps = new VmxCaps(features);
    this.walkerMemory = walkerMemory;
    this.ept = this.makeWalker(48);
  }

  private makeWalker(maxPhyAddr: number): SecondLevelWalker {
    return new SecondLevelWalker(this.walkerMemory, { maxPhyAddr, executeOnly: this.features.eptExecuteOnly, gbPages: this.features.ept1gPages });
  }

  attach(cpu: Cpu): void {
    this.cpu = cpu;
    this.caps.bind(cpu);
    if (this.ept.maxPhyAddr !== cpu.model.physAddrBits) this.ept = this.makeWalker(cpu.model.physAddrBits);
  }

  cpuid(leaf: number, subleaf: number, out: Int32Array): void {
    vmxCpuid(this, leaf, subleaf, out);
  }

  execute(cpu: Cpu, which: VirtInstruction, d: number): void {
    // The record of the instruction, for VM-exit instruction information (nonroot.ts exitForInstruction).
    cpu.curRec = d;
    executeVmx(this, cpu, which, d);
  }

  intercept(cpu: Cpu, what: Intercept, info: number, info2: number): boolean {
    return intercept(this, cpu, what, info, info2);
  }

  translateGpa(cpu: Cpu, gpa: number, access: number): number {
    return eptTranslate(this, cpu, gpa, access);
  }

  readMsr(cpu: Cpu, msr: number): boolean {
    return readVmxMsr(this, cpu, msr);
  }

  writeMsr(cpu: Cpu, msr: number, lo: number, hi: number): boolean {
    return writeVmxMsr(this, cpu, msr, lo, hi);
  }

  allowsEnable(): boolean {
    return true;
  }

  /** CR0/CR4 bits fixed in VMX operation (SDM §23.8 "Restrictions on VMX Operation"; caps.ts). */
  allowsCrWrite(cpu: Cpu, n: number, lo: number, hi: number): boolean {
    return crWriteAllowed(this, cpu, n, lo, hi);
  }

  boundary(cpu: Cpu): boolean {
    // An exit found inside an instruction completes once the core has unwound it (exit.ts).
    if (this.pendingExitReason >= 0) return completePendingExit(this, cpu);
    return boundary(this, cpu);
  }
}
