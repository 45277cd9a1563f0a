/**
 * VM exits (Intel SDM Vol. 3C ch. 27 "VM Exits") and VM-entry failures during or after loading
 * guest state (§26.8).
 *
 * A VM exit, in the SDM's order:
 * 1. §27.2 "Recording VM-Exit Information and Updating VM-Entry Control Fields": the exit reason
 *    and exit qualification (here), the IDT-vectoring information from the core's
 *    `cpu.vectoringInfo` (here), the other exit-information fields (interruption information,
 *    instruction length/information, guest-linear/physical address: the caller);
 * 2. §27.3 "Saving Guest State": control and debug registers and MSRs, segment and
 *    descriptor-table registers, RIP/RSP/RFLAGS (with the RFLAGS.RF rules of §27.3.3), and the
 *    non-register state (activity, interruptibility, pending debug exceptions, the
 *    VMX-preemption timer, the PDPTEs with EPT and PAE paging);
 * 3. §27.4 "Saving MSRs": the VM-exit MSR-store list;
 * 4. §27.5 "Loading Host State": CR0/CR3/CR4, DR7, IA32_DEBUGCTL, SYSENTER, PAT/EFER,
 *    segment and descriptor-table registers, RIP/RSP/RFLAGS, PDPTEs, non-register state;
 * 5. §27.6 "Loading MSRs": the VM-exit MSR-load list;
 * 6. §27.7 "VMX Aborts" on any failure in 3-5.
 *
 * Hot path (the world switch the benchmark measures): no allocation, every VMCS field through
 * a module-level slot constant (`vmcs.lo[S_...]`), no BigInt.
 *
 * Exits found while the core is in the middle of an instruction or an event delivery and that
 * must unwind it (EPT violations, EPT misconfigurations, APIC accesses: ept.ts) are completed
 * in two steps: {@link recordPendingExit} writes the exit information and throws
 * `CPU_VMEXIT`; once the core has unwound the instruction (restoring RSP/RIP as for a fault),
 * the next instruction boundary calls {@link completePendingExit}, which saves the guest
 * state as the fault left it (so the saved RIP/RSP are those of the faulting instruction,
 * SDM §27.3.3) and loads the host state.
 */
import { Cr0, Cr4, Efer, Flag, readMsr, Seg, SegAttr, writeMsr, type Cpu } from '@hvkit/x86';
import { ActivityState, EntryCtl, ExitCtl, Interruptibility, PinCtl, Proc2Ctl, ProcCtl } from './constants.js';
import { VMCS_SLOT, VmcsField, type Vmcs } from './fields.js';
import type { VmxCpu } from './vmx.js';

// ---- field slots ------------------------------------------------------------------------------

const S_REASON = VMCS_SLOT[VmcsField.VmExitReason]!;
const S_QUAL = VMCS_SLOT[VmcsField.ExitQualification]!;
const S_EXIT_INT_INFO = VMCS_SLOT[VmcsField.VmExitInterruptionInfo]!;
const S_ENTRY_INT_INFO = VMCS_SLOT[VmcsField.VmEntryInterruptionInfo]!;
const S_IDT_INFO = VMCS_SLOT[VmcsField.IdtVectoringInfo]!;
const S_IDT_ERR = VMCS_SLOT[VmcsField.IdtVectoringErrorCode]!;
const S_INSN_LEN = VMCS_SLOT[VmcsField.VmExitInstructionLength]!;
const S_PIN = VMCS_SLOT[VmcsField.PinBasedVmExecControl]!;
const S_PROC = VMCS_SLOT[VmcsField.CpuBasedVmExecControl]!;
const S_PROC2 = VMCS_SLOT[VmcsField.SecondaryVmExecControl]!;
const S_EXIT_CTLS = VMCS_SLOT[VmcsField.VmExitControls]!;
const S_ENTRY_CTLS = VMCS_SLOT[VmcsField.VmEntryControls]!;
const S_STORE_COUNT = VMCS_SLOT[VmcsField.VmExitMsrStoreCount]!;
const S_STORE_ADDR = VMCS_SLOT[VmcsField.VmExitMsrStoreAddress]!;
const S_LOAD_COUNT = VMCS_SLOT[VmcsField.VmExitMsrLoadCount]!;
const S_LOAD_ADDR = VMCS_SLOT[VmcsField.VmExitMsrLoadAddress]!;

const S_G_CR0 = VMCS_SLOT[VmcsField.GuestCr0]!;
const S_G_CR3 = VMCS_SLOT[VmcsField.GuestCr3]!;
const S_G_CR4 = VMCS_SLOT[VmcsField.GuestCr4]!;
const S_G_DR7 = VMCS_SLOT[VmcsField.GuestDr7]!;
const S_G_DEBUGCTL = VMCS_SLOT[VmcsField.GuestIa32Debugctl]!;
const S_G_SYSENTER_CS = VMCS_SLOT[VmcsField.GuestSysenterCs]!;
const S_G_SYSENTER_ESP = VMCS_SLOT[VmcsField.GuestSysenterEsp]!;
const S_G_SYSENTER_EIP = VMCS_SLOT[VmcsField.GuestSysenterEip]!;
const S_G_PAT = VMCS_SLOT[VmcsField.GuestIa32Pat]!;
const S_G_EFER = VMCS_SLOT[VmcsField.GuestIa32Efer]!;
const S_G_GDTR_BASE = VMCS_SLOT[VmcsField.GuestGdtrBase]!;
const S_G_GDTR_LIMIT = VMCS_SLOT[VmcsField.GuestGdtrLimit]!;
const S_G_IDTR_BASE = VMCS_SLOT[VmcsField.GuestIdtrBase]!;
const S_G_IDTR_LIMIT = VMCS_SLOT[VmcsField.GuestIdtrLimit]!;
const S_G_RIP = VMCS_SLOT[VmcsField.GuestRip]!;
const S_G_RSP = VMCS_SLOT[VmcsField.GuestRsp]!;
const S_G_RFLAGS = VMCS_SLOT[VmcsField.GuestRflags]!;
const S_G_ACTIVITY = VMCS_SLOT[VmcsField.GuestActivityState]!;
const S_G_INTERRUPTIBILITY = VMCS_SLOT[VmcsField.GuestInterruptibilityInfo]!;
const S_G_PENDING_DBG = VMCS_SLOT[VmcsField.GuestPendingDbgExceptions]!;
const S_G_TIMER = VMCS_SLOT[VmcsField.VmxPreemptionTimerValue]!;
const S_G_PDPTE0 = VMCS_SLOT[VmcsField.GuestPdpte0]!;
const S_G_PDPTE1 = VMCS_SLOT[VmcsField.GuestPdpte1]!;
const S_G_PDPTE2 = VMCS_SLOT[VmcsField.GuestPdpte2]!;
const S_G_PDPTE3 = VMCS_SLOT[VmcsField.GuestPdpte3]!;

const S_H_CR0 = VMCS_SLOT[VmcsField.HostCr0]!;
const S_H_CR3 = VMCS_SLOT[VmcsField.HostCr3]!;
const S_H_CR4 = VMCS_SLOT[VmcsField.HostCr4]!;
const S_H_SYSENTER_CS = VMCS_SLOT[VmcsField.HostIa32SysenterCs]!;
const S_H_SYSENTER_ESP = VMCS_SLOT[VmcsField.HostIa32SysenterEsp]!;
const S_H_SYSENTER_EIP = VMCS_SLOT[VmcsField.HostIa32SysenterEip]!;
const S_H_PAT = VMCS_SLOT[VmcsField.HostIa32Pat]!;
const S_H_EFER = VMCS_SLOT[VmcsField.HostIa32Efer]!;
const S_H_CS = VMCS_SLOT[VmcsField.HostCsSelector]!;
const S_H_SS = VMCS_SLOT[VmcsField.HostSsSelector]!;
const S_H_DS = VMCS_SLOT[VmcsField.HostDsSelector]!;
const S_H_ES = VMCS_SLOT[VmcsField.HostEsSelector]!;
const S_H_FS = VMCS_SLOT[VmcsField.HostFsSelector]!;
const S_H_GS = VMCS_SLOT[VmcsField.HostGsSelector]!;
const S_H_TR = VMCS_SLOT[VmcsField.HostTrSelector]!;
const S_H_FS_BASE = VMCS_SLOT[VmcsField.HostFsBase]!;
const S_H_GS_BASE = VMCS_SLOT[VmcsField.HostGsBase]!;
const S_H_TR_BASE = VMCS_SLOT[VmcsField.HostTrBase]!;
const S_H_GDTR_BASE = VMCS_SLOT[VmcsField.HostGdtrBase]!;
const S_H_IDTR_BASE = VMCS_SLOT[VmcsField.HostIdtrBase]!;
const S_H_RIP = VMCS_SLOT[VmcsField.HostRip]!;
const S_H_RSP = VMCS_SLOT[VmcsField.HostRsp]!;

/** Guest segment-register field slots by the core's `Seg` order (= the VMCS encoding order). */
const G_SEL = new Int32Array(8);
const G_BASE = new Int32Array(8);
const G_LIMIT = new Int32Array(8);
const G_AR = new Int32Array(8);
for (let s = 0; s < 8; s++) {
  G_SEL[s] = VMCS_SLOT[0x0800 + 2 * s]!;
  G_LIMIT[s] = VMCS_SLOT[0x4800 + 2 * s]!;
  G_AR[s] = VMCS_SLOT[0x4814 + 2 * s]!;
  G_BASE[s] = VMCS_SLOT[0x6806 + 2 * s]!;
}

// ---- constants ---------------------------------------------------------------------------------

/** VMX-abort indicators (SDM §27.7 "VMX Aborts"). */
export const VmxAbortIndicator = {
  /** There was a failure in saving guest MSRs (§27.4). */
  SaveGuestMsrs: 1,
  /** Host checking of the page-directory-pointer-table entries (PDPTEs) failed (§27.5.4). */
  HostPdpte: 2,
  /** The current VMCS has been corrupted. */
  VmcsCorrupted: 3,
  /** There was a failure on loading host MSRs (§27.6). */
  LoadHostMsrs: 4,
  /** There was a machine-check event during VM exit. */
  MachineCheck: 5,
  /** The logical processor was in IA-32e mode before the VM exit and "host address-space size" was 0. */
  LongModeToLegacyHost: 6,
} as const;

/** Byte offset of the VMX-abort indicator in the VMCS region (SDM §24.2, Table 24-1). */
export const VMCS_ABORT_OFFSET = 4;

/**
 * Bit n set: exit reason n is "an attempt to execute an instruction that unconditionally causes
 * VM exits or one that was configured to do so with a VM-execution control", for which RFLAGS.RF
 * is saved as 0 (SDM §27.3.3). Reasons 10-32 (CPUID ... WRMSR, with the VMX instructions, CR
 * and DR accesses, I/O), 36 MWAIT, 39 MONITOR, 40 PAUSE, 46/47 descriptor-table accesses, 50
 * INVEPT, 51 RDTSCP, 53 INVVPID, 54 WBINVD, 55 XSETBV, 57 RDRAND, 58 INVPCID, 59 VMFUNC, 60
 * ENCLS, 61 RDSEED, 63 XSAVES, 64 XRSTORS (64 is handled apart: above the 64-bit mask).
 */
const INSN_LO = 0xfffffc00 | 0; // 10-31
const INSN_HI = (1 << 0) | (1 << 4) | (1 << 7) | (1 << 8) | (1 << 14) | (1 << 15) | (1 << 18) | (1 << 19) | (1 << 21) | (1 << 22) | (1 << 23) | (1 << 25) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29) | (1 << 31);

/**
 * Fault-class exceptions whose delivery sets RF in the saved RFLAGS image (SDM Vol. 3 §17.3.1.1;
 * #DB excluded: an instruction-breakpoint fault saves the current RF). Bit n = vector n.
 */
const RF_FAULTS = (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 21);

/**
 * CR0 bits a VM exit does not load from the host CR0 field (SDM §27.5.1): ET, CD, NW, bits 28:19,
 * 17 and 15:6 (bits 63:32 do not exist in the core's 32-bit CR0). The bits fixed in VMX
 * operation (PE, NE, PG by IA32_VMX_CR0_FIXED0) are 1 in the host field (§26.2.2), so loading
 * them is the same as keeping them.
 */
const CR0_KEEP = Cr0.ET | Cr0.CD | Cr0.NW | 0x1ff8_0000 | (1 << 17) | 0xffc0;

const TWO_32 = 4294967296;

// ---- helpers for callers ----------------------------------------------------------------------

/**
 * Bit 12 of the VM-exit interruption information (exception exits) or of the exit
 * qualification (EPT violations), "NMI unblocking due to IRET" (SDM §27.2.2, §27.2.3, Table 27-7):
 * 1 << 12 when the VM exit is caused by a fault (or EPT violation) of an IRET that had
 * unblocked NMIs (virtual-NMI blocking with "virtual NMIs", else NMI blocking), else 0.
 *
 * The IRET intercept (nonroot.ts) records such an IRET with {@link noteIretUnblocking}; the
 * IRET is still executing (or faulted) while no instruction has retired since it started,
 * which `cpu.icount` (retired instructions, not yet counting the IRET) tells.
 */
export function nmiUnblockingDueToIret(vmx: VmxCpu, cpu: Cpu): number {
  return vmx.iretUnblockMark >= 0 && cpu.icount <= vmx.iretUnblockMark ? 1 << 12 : 0;
}

/**
 * Records, from the IRET intercept for decode record `d`, whether this IRET unblocks NMIs
 * (virtual-NMI blocking or NMI blocking was in effect), for {@link nmiUnblockingDueToIret}.
 */
export function noteIretUnblocking(vmx: VmxCpu, cpu: Cpu, d: number, unblocks: boolean): void {
  vmx.iretUnblockMark = unblocks ? cpu.retired(d) : -1;
}

/**
 * The VMX-preemption timer value left at `cpu.icount` (SDM §25.5.1): the timer counts down by 1
 * every 2^5 TSC ticks (IA32_VMX_MISC bits 4:0 = 5) and expires at `vmx.timerDeadline` (set by
 * nonroot.ts on VM entry), so the value is the number of rate periods still to go, rounded up
 * (0 once expired); -1 when no timer runs.
 */
export function preemptionTimerValue(vmx: VmxCpu, cpu: Cpu): number {
  const deadline = vmx.timerDeadline;
  if (deadline === Infinity) return -1;
  const left = deadline - cpu.icount;
  return left > 0 ? Math.ceil(left / 32) >>> 0 : 0;
}

// ---- VM exit -----------------------------------------------------------------------------------

/**
 * Performs a VM exit with basic exit reason `reason` and exit qualification (qualLo, qualHi)
 * (SDM ch. 27). The caller has already written the other exit-information fields it defines
 * (VM-exit interruption information and error code, instruction length and information,
 * guest-linear/physical address, I/O RCX/RSI/RDI/RIP) and left `cpu.ripLo/ripHi` at the
 * instruction (fault-like exits) or the next one (trap-like exits). Does not throw.
 */
export function vmExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): void {
  const vi = cpu.vectoringInfo;
  cpu.vectoringInfo = 0;
  finishExit(vmx, cpu, reason, qualLo, qualHi, vi, cpu.vectoringError, cpu.vectoringInsnLen);
}

/**
 * Records a VM exit found in the middle of an instruction or event delivery, to be completed at
 * the next instruction boundary by {@link completePendingExit} once the core has unwound the
 * instruction; the caller then throws `CPU_VMEXIT`. The exit-information fields the caller
 * defines (guest-physical/linear address) are written by the caller before; this writes the
 * IDT-vectoring information now (the core clears `cpu.vectoringInfo` when it unwinds).
 */
export function recordPendingExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): void {
  vmx.pendingExitReason = reason;
  vmx.pendingExitQualLo = qualLo;
  vmx.pendingExitQualHi = qualHi;
  vmx.pendingVectoringInfo = cpu.vectoringInfo;
  vmx.pendingVectoringError = cpu.vectoringError;
  vmx.pendingVectoringInsnLen = cpu.vectoringInsnLen;
  // The blocking by STI / MOV SS the instruction ran under (the core forgets it at the boundary).
  vmx.pendingShadow = cpu.insnShadow;
  // The run loop calls ext.boundary at the next boundary (VmxCpu.boundary completes the exit).
  cpu.extBoundary = true;
  cpu.exitBlock = true;
}

/**
 * Completes the exit recorded by {@link recordPendingExit} (called by `VmxCpu.boundary` before
 * anything else). Returns true when there was one.
 */
export function completePendingExit(vmx: VmxCpu, cpu: Cpu): boolean {
  const reason = vmx.pendingExitReason;
  if (reason < 0) return false;
  vmx.pendingExitReason = -1;
  cpu.vectoringInfo = 0;
  // The instruction was unwound: the guest is back at its boundary, in the shadow it had there.
  if (vmx.pendingShadow !== 0) {
    cpu.interruptShadow = true;
    cpu.stiShadow = vmx.pendingShadow === 1;
  }
  finishExit(vmx, cpu, reason, vmx.pendingExitQualLo, vmx.pendingExitQualHi, vmx.pendingVectoringInfo, vmx.pendingVectoringError, vmx.pendingVectoringInsnLen);
  return true;
}

function finishExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number, vi: number, verr: number, vlen: number): void {
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const exitCtl = lo[S_EXIT_CTLS]!;
  // §27.2.1 "Basic VM-Exit Information". Exit reason bits 15:0 the basic reason, bit 28 "pending
  // MTF VM exit" only for SMI-induced exits (no SMM here), bit 31 0 (VM exit, not entry failure).
  lo[S_REASON] = reason & 0xffff;
  lo[S_QUAL] = qualLo;
  hi[S_QUAL] = qualHi;
  // §27.2.2: the VM-exit interruption information is valid only for exits due to exceptions/NMIs
  // (0) and external interrupts acknowledged on exit (1); the caller wrote it then.
  if (reason !== 0 && (reason !== 1 || (exitCtl & ExitCtl.AcknowledgeInterruptOnExit) === 0)) lo[S_EXIT_INT_INFO] = 0;
  // §27.2.4 "Information for VM Exits During Event Delivery".
  if (vi !== 0) {
    lo[S_IDT_INFO] = vi & ~(1 << 12);
    lo[S_IDT_ERR] = verr;
    const type = (vi >>> 8) & 7;
    // Software interrupts and exceptions: the instruction length (§27.2.5).
    if (type >= 4 && type <= 6) lo[S_INSN_LEN] = vlen;
  } else {
    lo[S_IDT_INFO] = 0;
  }
  // §27.2 "Recording VM-Exit Information and Updating VM-Entry Control Fields": every VM exit
  // clears the valid bit of the VM-entry interruption-information field (the "IA-32e mode
  // guest" control: saveGuestState).
  lo[S_ENTRY_INT_INFO] = lo[S_ENTRY_INT_INFO]! & 0x7fff_ffff;
  vmx.iretUnblockMark = -1;
  cpu.gvaValid = false;

  saveGuestState(vmx, cpu, vmcs, reason, vi, exitCtl);
  // §27.4 "Saving MSRs".
  if (lo[S_STORE_COUNT] !== 0 && !storeMsrs(cpu, vmcs)) {
    vmxAbort(vmx, cpu, VmxAbortIndicator.SaveGuestMsrs);
    return;
  }
  // §27.5.5: VM exits caused directly by NMIs cause blocking by NMI (exit reason 0 with
  // interruption type 2 in the VM-exit interruption information). Other exits leave it.
  const nmiExit = reason === 0 && (lo[S_EXIT_INT_INFO]! & 0x8000_0700) === (0x8000_0200 | 0);
  loadHostAndFinish(vmx, cpu, vmcs, exitCtl, nmiExit);
}

/**
 * The end of every VM exit and VM-entry failure: load the host state (§27.5), process the
 * VM-exit MSR-load list (§27.6), VMX abort on a failure of either (§27.7), then the host hook.
 */
function loadHostAndFinish(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs, exitCtl: number, nmiExit: boolean): void {
  const abort = loadHostState(vmx, cpu, vmcs, exitCtl, nmiExit);
  if (abort !== 0) {
    vmxAbort(vmx, cpu, abort);
    return;
  }
  if (vmcs.lo[S_LOAD_COUNT] !== 0 && !loadMsrs(cpu, vmcs)) {
    vmxAbort(vmx, cpu, VmxAbortIndicator.LoadHostMsrs);
    return;
  }
  const onExit = vmx.onExit;
  if (onExit !== null) onExit(vmx);
}

/**
 * VM-entry failure during or after loading guest state (SDM §26.8): exit reason `reason` (33
 * invalid guest state, 34 MSR loading, 41 machine-check event) with bit 31 set and the exit
 * qualification; no guest state is saved and no MSRs are stored; the host state is loaded as on
 * a VM exit (§27.5) and the VM-exit MSR-load list is processed (§27.6).
 */
export function entryFailureExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualification: number): void {
  const vmcs = vmx.current!;
  const lo = vmcs.lo;
  lo[S_REASON] = (reason & 0xffff) | (0x8000_0000 | 0);
  lo[S_QUAL] = qualification;
  vmcs.hi[S_QUAL] = 0;
  lo[S_EXIT_INT_INFO] = 0;
  cpu.vectoringInfo = 0;
  vmx.pendingExitReason = -1;
  loadHostAndFinish(vmx, cpu, vmcs, lo[S_EXIT_CTLS]!, false);
}

// ---- §27.3 saving guest state ------------------------------------------------------------------

function saveGuestState(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs, reason: number, vi: number, exitCtl: number): void {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  // §27.3.1 "Saving Control Registers, Debug Registers, and MSRs".
  lo[S_G_CR0] = cpu.cr0;
  hi[S_G_CR0] = 0;
  lo[S_G_CR3] = cpu.cr3Lo;
  hi[S_G_CR3] = cpu.cr3Hi;
  lo[S_G_CR4] = cpu.cr4;
  hi[S_G_CR4] = 0;
  if ((exitCtl & ExitCtl.SaveDebugControls) !== 0) {
    lo[S_G_DR7] = cpu.drLo[7]!;
    hi[S_G_DR7] = cpu.drHi[7]!;
    // IA32_DEBUGCTL: the core implements none of its bits (it reads 0).
    lo[S_G_DEBUGCTL] = 0;
    hi[S_G_DEBUGCTL] = 0;
  }
  lo[S_G_SYSENTER_CS] = cpu.sysenterCs;
  lo[S_G_SYSENTER_ESP] = cpu.sysenterEspLo;
  hi[S_G_SYSENTER_ESP] = cpu.sysenterEspHi;
  lo[S_G_SYSENTER_EIP] = cpu.sysenterEipLo;
  hi[S_G_SYSENTER_EIP] = cpu.sysenterEipHi;
  if ((exitCtl & ExitCtl.SaveIa32Pat) !== 0) {
    lo[S_G_PAT] = cpu.patLo;
    hi[S_G_PAT] = cpu.patHi;
  }
  if ((exitCtl & ExitCtl.SaveIa32Efer) !== 0) {
    lo[S_G_EFER] = cpu.efer;
    hi[S_G_EFER] = 0;
  }
  // IA32_VMX_MISC bit 5: EFER.LMA is stored into the "IA-32e mode guest" VM-entry control.
  const entryCtl = lo[S_ENTRY_CTLS]!;
  const lmaCtl = (cpu.efer & Efer.LMA) !== 0 ? entryCtl | EntryCtl.Ia32eModeGuest : entryCtl & ~EntryCtl.Ia32eModeGuest;
  if (lmaCtl !== entryCtl) {
    lo[S_ENTRY_CTLS] = lmaCtl;
    vmx.entryCtl = lmaCtl;
    vmcs.generation++;
  }

  // §27.3.2 "Saving Segment Registers and Descriptor-Table Registers". The core's attributes
  // use the access-rights layout (bits 15:0) with the unusable bit 16; a not-present segment
  // register is saved as unusable (bits 31:17 and 11:8 are 0).
  const segSel = cpu.segSel;
  const segBase = cpu.segBase;
  const segBaseHi = cpu.segBaseHi;
  const segLimit = cpu.segLimit;
  const segAttr = cpu.segAttr;
  // Any difference from the fields' previous contents voids entry.ts's cached §26.3.1.2 result
  // (vmcs.segGeneration).
  let changed = 0;
  for (let s = 0; s < 8; s++) {
    const sl = G_SEL[s]!;
    const sel = segSel[s]!;
    changed |= lo[sl]! ^ sel;
    lo[sl] = sel;
    const b = G_BASE[s]!;
    const bLo = segBase[s]!;
    const bHi = segBaseHi[s]!;
    changed |= (lo[b]! ^ bLo) | (hi[b]! ^ bHi);
    lo[b] = bLo;
    hi[b] = bHi;
    const l = G_LIMIT[s]!;
    const limit = segLimit[s]! | 0;
    changed |= lo[l]! ^ limit;
    lo[l] = limit;
    const a = segAttr[s]!;
    const ar = (a & 0x1f0ff) | ((a & SegAttr.P) === 0 ? SegAttr.Unusable : 0);
    const r = G_AR[s]!;
    changed |= lo[r]! ^ ar;
    lo[r] = ar;
  }
  if (changed !== 0) vmcs.segGeneration++;
  lo[S_G_GDTR_BASE] = cpu.gdtrBaseLo;
  hi[S_G_GDTR_BASE] = cpu.gdtrBaseHi;
  lo[S_G_GDTR_LIMIT] = cpu.gdtrLimit & 0xffff;
  lo[S_G_IDTR_BASE] = cpu.idtrBaseLo;
  hi[S_G_IDTR_BASE] = cpu.idtrBaseHi;
  lo[S_G_IDTR_LIMIT] = cpu.idtrLimit & 0xffff;

  // §27.3.3 "Saving RIP, RSP, RFLAGS, and SSP".
  lo[S_G_RIP] = cpu.ripLo;
  hi[S_G_RIP] = cpu.ripHi;
  lo[S_G_RSP] = cpu.gpr[4]!;
  hi[S_G_RSP] = cpu.gprHi[4]!;
  let rflags = cpu.getEflags();
  const rf = savedRf(vmcs, reason, vi, rflags & Flag.RF);
  rflags = (rflags & ~Flag.RF) | rf;
  lo[S_G_RFLAGS] = rflags;
  hi[S_G_RFLAGS] = 0;

  // §27.3.4 "Saving Non-Register State".
  lo[S_G_ACTIVITY] = cpu.waitForSipi
    ? ActivityState.WaitForSipi
    : cpu.shutdown || vmx.guestShutdown
      ? ActivityState.Shutdown
      : cpu.halted
        ? ActivityState.Hlt
        : ActivityState.Active;
  // Blocking by STI / MOV SS before the VM exit: at an instruction boundary the core's shadow
  // for the next instruction (interruptShadow, with stiShadow = by STI, without = by MOV SS);
  // for a VM exit during an instruction (fault-like: RIP = that instruction), the blocking that
  // instruction ran under, `insnShadow` (1 STI, 2 MOV SS; 0 at boundaries).
  let intr = 0;
  if (cpu.interruptShadow) intr = cpu.stiShadow ? Interruptibility.BlockingBySti : Interruptibility.BlockingByMovSs;
  else if (cpu.insnShadow !== 0) intr = cpu.insnShadow === 1 ? Interruptibility.BlockingBySti : Interruptibility.BlockingByMovSs;
  const virtualNmis = (lo[S_PIN]! & PinCtl.VirtualNmis) !== 0;
  if (virtualNmis ? vmx.virtualNmiBlocked : cpu.nmiBlocked) intr |= Interruptibility.BlockingByNmi;
  lo[S_G_INTERRUPTIBILITY] = intr;
  // Pending debug exceptions: saved as clear except for VM exits caused by INIT (3), TPR below
  // threshold (43) and MTF (37), and VM exits not caused by a debug exception that occur while
  // there is MOV-SS blocking of debug exceptions (machine checks and SMIs do not happen here).
  // Format (Table 24-4): B3-B0 (bits 3:0), enabled breakpoint (bit 12: the core records only
  // enabled breakpoints), BS (bit 14); BT (bit 15 of DR6) has no place here.
  const db = cpu.pendingDb;
  const movSs = (intr & Interruptibility.BlockingByMovSs) !== 0;
  const keepDb =
    reason === 3 ||
    reason === 37 ||
    reason === 43 ||
    (movSs && !(reason === 0 && (lo[S_EXIT_INT_INFO]! & 0x7ff) === 0x301));
  lo[S_G_PENDING_DBG] = keepDb ? (db & 0x400f) | ((db & 0xf) !== 0 ? 0x1000 : 0) : 0;
  hi[S_G_PENDING_DBG] = 0;
  if ((exitCtl & ExitCtl.SaveVmxPreemptionTimerValue) !== 0) {
    // A VM exit due to the timer saves 0 (§27.3.4).
    if (reason === 52) lo[S_G_TIMER] = 0;
    else {
      const v = preemptionTimerValue(vmx, cpu);
      if (v !== -1) lo[S_G_TIMER] = v;
    }
  }
  // PDPTEs: with "enable EPT" and PAE paging (CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 0).
  const proc = lo[S_PROC]!;
  if (
    (proc & ProcCtl.ActivateSecondaryControls) !== 0 &&
    (lo[S_PROC2]! & Proc2Ctl.EnableEpt) !== 0 &&
    (cpu.cr0 & Cr0.PG) !== 0 &&
    (cpu.cr4 & Cr4.PAE) !== 0 &&
    (cpu.efer & Efer.LMA) === 0
  ) {
    const p = cpu.walker.pdptes;
    lo[S_G_PDPTE0] = p[0]!;
    hi[S_G_PDPTE0] = p[1]!;
    lo[S_G_PDPTE1] = p[2]!;
    hi[S_G_PDPTE1] = p[3]!;
    lo[S_G_PDPTE2] = p[4]!;
    hi[S_G_PDPTE2] = p[5]!;
    lo[S_G_PDPTE3] = p[6]!;
    hi[S_G_PDPTE3] = p[7]!;
  }
}

/**
 * The RFLAGS.RF value saved by a VM exit (SDM §27.3.3):
 * - an exit caused directly by an event that would be delivered through the IDT (reason 0): the
 *   RF of the RFLAGS image the delivery would push (1 for fault-class exceptions other than
 *   #DB, else the current RF);
 * - an instruction exit: 0;
 * - APIC access (44), EPT violation (48), EPT misconfiguration (49), PML full (62): 1, unless
 *   the exit happened during event delivery (IDT-vectoring information valid), then the image
 *   that delivery would have pushed;
 * - a task switch (9): the image saved in the old TSS (through a task gate for a fault: 1);
 * - otherwise (triple fault, windows, MTF, timer, INIT, SIPI...): the current RF.
 */
function savedRf(vmcs: Vmcs, reason: number, vi: number, current: number): number {
  if (reason < 64 ? (reason < 32 ? (INSN_LO >>> reason) & 1 : (INSN_HI >>> (reason - 32)) & 1) !== 0 : reason === 64) return 0;
  switch (reason) {
    case 0:
      return eventRf(vmcs.lo[S_EXIT_INT_INFO]!, current);
    case 44:
    case 48:
    case 49:
    case 62:
      return vi !== 0 ? eventRf(vi, current) : Flag.RF;
    case 9:
      return vi !== 0 ? eventRf(vi, current) : current;
    default:
      return current;
  }
}

/** RF in the RFLAGS image delivering the event `info` (interruption-information format) pushes. */
function eventRf(info: number, current: number): number {
  const type = (info >>> 8) & 7;
  const vector = info & 0xff;
  return type === 3 && vector < 32 && ((RF_FAULTS >>> vector) & 1) !== 0 ? Flag.RF : current;
}

// ---- §27.4 saving MSRs -------------------------------------------------------------------------

/**
 * The VM-exit MSR-store list (SDM §27.4): for each 16-byte entry (bits 31:0 the MSR index,
 * 63:32 reserved, 127:64 the data) the MSR's value is written to the data. An entry naming an
 * x2APIC MSR (bits 31:8 = 000008H), IA32_SMBASE (9EH), with reserved bits set, or an MSR that
 * RDMSR cannot read, fails (VMX abort). Returns false on failure.
 */
function storeMsrs(cpu: Cpu, vmcs: Vmcs): boolean {
  const n = vmcs.lo[S_STORE_COUNT]! >>> 0;
  // IA32_VMX_MISC bits 27:25 = 0: at most 512 entries are supported.
  if (n > 512) return false;
  const base = (vmcs.hi[S_STORE_ADDR]! >>> 0) * TWO_32 + (vmcs.lo[S_STORE_ADDR]! >>> 0);
  for (let i = 0; i < n; i++) {
    const e = base + i * 16;
    const index = cpu.physRead32(e);
    const reserved = cpu.physRead32(e + 4);
    if (index >>> 8 === 8 || index === 0x9e || reserved !== 0) return false;
    if (!readMsr(cpu, index)) return false;
    cpu.physWrite32(e + 8, cpu.msrLo);
    cpu.physWrite32(e + 12, cpu.msrHi);
  }
  return true;
}

/**
 * The VM-exit MSR-load list (SDM §27.6): each entry's MSR is written with its data, as WRMSR at
 * CPL 0 would. An entry naming IA32_FS_BASE or IA32_GS_BASE (C0000100H/C0000101H), an x2APIC
 * MSR (bits 31:8 = 000008H), IA32_SMM_MONITOR_CTL (9BH), with reserved bits 63:32 set, or one
 * WRMSR would reject, fails (VMX abort). Returns false on failure.
 */
function loadMsrs(cpu: Cpu, vmcs: Vmcs): boolean {
  const n = vmcs.lo[S_LOAD_COUNT]! >>> 0;
  if (n > 512) return false;
  const base = (vmcs.hi[S_LOAD_ADDR]! >>> 0) * TWO_32 + (vmcs.lo[S_LOAD_ADDR]! >>> 0);
  for (let i = 0; i < n; i++) {
    const e = base + i * 16;
    const index = cpu.physRead32(e);
    const reserved = cpu.physRead32(e + 4);
    if (index === (0xc0000100 | 0) || index === (0xc0000101 | 0) || index >>> 8 === 8 || index === 0x9b || reserved !== 0) return false;
    if (!writeMsr(cpu, index, cpu.physRead32(e + 8), cpu.physRead32(e + 12))) return false;
  }
  return true;
}

// ---- §27.5 loading host state ------------------------------------------------------------------

/** Loads the host state (SDM §27.5) and leaves VMX non-root operation. Returns 0 or a VMX-abort indicator. */
function loadHostState(vmx: VmxCpu, cpu: Cpu, vmcs: Vmcs, exitCtl: number, nmiExit: boolean): number {
  const lo = vmcs.lo;
  const hi = vmcs.hi;
  const host64 = (exitCtl & ExitCtl.HostAddressSpaceSize) !== 0;
  // §27.7: IA-32e mode before the exit and a legacy host is a VMX abort.
  if ((cpu.efer & Efer.LMA) !== 0 && !host64) return VmxAbortIndicator.LongModeToLegacyHost;

  // Leave non-root operation first: every access from here on is host-physical.
  cpu.guestMode = false;
  cpu.cr0GuestMask = 0;
  cpu.cr0ReadShadow = 0;
  cpu.cr4GuestMask = 0;
  cpu.cr4ReadShadow = 0;
  cpu.tscOffsetLo = 0;
  cpu.tscOffsetHi = 0;
  cpu.extBoundary = false;
  cpu.extDeadline = Infinity;
  cpu.intrIgnoresIf = false;
  // VMX root operation blocks INIT (SDM §24.8).
  cpu.initBlocked = true;

  // §27.5.1 "Loading Host Control Registers, Debug Registers, MSRs".
  cpu.cr0 = (lo[S_H_CR0]! & ~CR0_KEEP) | (cpu.cr0 & CR0_KEEP);
  let cr4 = lo[S_H_CR4]!;
  // CR4.PAE = 1 with a 64-bit host; CR4.PCIDE = 0 without.
  cr4 = host64 ? cr4 | Cr4.PAE : cr4 & ~Cr4.PCIDE;
  cpu.cr4 = cr4;
  cpu.cr3Lo = lo[S_H_CR3]!;
  cpu.cr3Hi = hi[S_H_CR3]!;
  cpu.drLo[7] = 0x400;
  cpu.drHi[7] = 0;
  // IA32_DEBUGCTL is cleared to 0 (the core has no DEBUGCTL state: it always reads 0).
  cpu.sysenterCs = lo[S_H_SYSENTER_CS]!;
  cpu.sysenterEspLo = lo[S_H_SYSENTER_ESP]!;
  cpu.sysenterEspHi = host64 ? hi[S_H_SYSENTER_ESP]! : 0;
  cpu.sysenterEipLo = lo[S_H_SYSENTER_EIP]!;
  cpu.sysenterEipHi = host64 ? hi[S_H_SYSENTER_EIP]! : 0;
  if ((exitCtl & ExitCtl.LoadIa32Pat) !== 0) {
    cpu.patLo = lo[S_H_PAT]!;
    cpu.patHi = hi[S_H_PAT]!;
  }
  if ((exitCtl & ExitCtl.LoadIa32Efer) !== 0) {
    cpu.efer = lo[S_H_EFER]!;
  } else {
    // EFER.LMA and EFER.LME take the "host address-space size" value.
    cpu.efer = host64 ? cpu.efer | Efer.LMA | Efer.LME : cpu.efer & ~(Efer.LMA | Efer.LME);
  }

  // §27.5.2 "Loading Host Segment and Descriptor-Table Registers". The segment caches are
  // written directly: contextChanged() below recomputes everything derived from them (fast
  // limits, mode, CPL, the jump-cache generation).
  const flat = SegAttr.S | SegAttr.P | SegAttr.G;
  hostSeg(cpu, Seg.CS, lo[S_H_CS]!, 0, 0, 0xffffffff, flat | 11 | (host64 ? SegAttr.L : SegAttr.DB));
  loadHostData(cpu, Seg.SS, lo[S_H_SS]!, 0, 0);
  loadHostData(cpu, Seg.DS, lo[S_H_DS]!, 0, 0);
  loadHostData(cpu, Seg.ES, lo[S_H_ES]!, 0, 0);
  loadHostData(cpu, Seg.FS, lo[S_H_FS]!, lo[S_H_FS_BASE]!, host64 ? hi[S_H_FS_BASE]! : 0);
  loadHostData(cpu, Seg.GS, lo[S_H_GS]!, lo[S_H_GS_BASE]!, host64 ? hi[S_H_GS_BASE]! : 0);
  // TR: busy TSS (type 11), S = 0, DPL 0, P = 1, limit 67H, byte granular.
  hostSeg(cpu, Seg.TR, lo[S_H_TR]!, lo[S_H_TR_BASE]!, host64 ? hi[S_H_TR_BASE]! : 0, 0x67, SegAttr.P | 11);
  // LDTR: selector 0, unusable.
  hostSeg(cpu, Seg.LDTR, 0, 0, 0, 0, SegAttr.Unusable);
  cpu.gdtrBaseLo = lo[S_H_GDTR_BASE]!;
  cpu.gdtrBaseHi = host64 ? hi[S_H_GDTR_BASE]! : 0;
  cpu.gdtrLimit = 0xffff;
  cpu.idtrBaseLo = lo[S_H_IDTR_BASE]!;
  cpu.idtrBaseHi = host64 ? hi[S_H_IDTR_BASE]! : 0;
  cpu.idtrLimit = 0xffff;

  // §27.5.3 "Loading Host RIP, RSP, RFLAGS, and SSP": RFLAGS = 2 (only the fixed bit 1).
  cpu.ripLo = lo[S_H_RIP]!;
  cpu.ripHi = host64 ? hi[S_H_RIP]! : 0;
  cpu.gpr[4] = lo[S_H_RSP]!;
  cpu.gprHi[4] = host64 ? hi[S_H_RSP]! : 0;
  cpu.setEflags(2);

  // §27.5.5 "Updating Non-Register State": no blocking by STI or MOV SS; blocking by NMI after
  // an exit caused by an NMI, else unchanged; the processor is active; no pending debug
  // exceptions.
  cpu.interruptShadow = false;
  cpu.stiShadow = false;
  if (nmiExit) cpu.nmiBlocked = true;
  cpu.halted = false;
  cpu.waitForSipi = false;
  cpu.shutdown = false;
  vmx.guestShutdown = false;
  cpu.pendingDb = 0;
  // TLB (§28.3.3.1): back to the host's bank; with VPIDs disabled a VM exit invalidates the
  // linear and combined mappings of VPID 0000H, the host's (the core's flush walks only the
  // entries filled). The bank is selected after the host's CR0/CR4/EFER/RFLAGS are loaded and
  // before contextChanged, so neither bank is flushed for the other context's access rights.
  const proc2 = (lo[S_PROC]! & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  if ((proc2 & Proc2Ctl.EnableVpid) === 0) cpu.flushTlbBank(0);
  cpu.selectTlbBank(0);
  // Mode, CPL, paging mode and walk control of the host.
  cpu.contextChanged();

  // §27.5.4 "Checking and Loading Host Page-Directory-Pointer-Table Entries": PAE paging outside
  // IA-32e mode loads the PDPTEs from CR3; a reserved bit is a VMX abort.
  if (!host64 && (cpu.cr0 & Cr0.PG) !== 0 && (cpu.cr4 & Cr4.PAE) !== 0) {
    if (!cpu.walker.loadPdptes(cpu.cr3Lo)) return VmxAbortIndicator.HostPdpte;
  }
  return 0;
}

/**
 * A host data segment or SS (SDM §27.5.2): selector 0 makes it unusable (SS keeps B = 1 and
 * DPL 0); otherwise base 0 (FS/GS: the host base field), limit FFFFFFFFH, type 3 (read/write,
 * accessed), S = 1, DPL 0, P = 1, D/B = 1, G = 1.
 */
function loadHostData(cpu: Cpu, seg: number, sel: number, baseLo: number, baseHi: number): void {
  if ((sel & 0xfffc) === 0) {
    hostSeg(cpu, seg, sel, baseLo, baseHi, 0, SegAttr.Unusable | (seg === Seg.SS ? SegAttr.DB : 0));
  } else {
    hostSeg(cpu, seg, sel, baseLo, baseHi, 0xffffffff, 3 | SegAttr.S | SegAttr.P | SegAttr.DB | SegAttr.G);
  }
}

/** Writes a segment register's cache (the caller runs `cpu.contextChanged()` afterwards). */
function hostSeg(cpu: Cpu, seg: number, sel: number, baseLo: number, baseHi: number, limit: number, attr: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = baseLo;
  cpu.segBaseHi[seg] = baseHi;
  cpu.segLimit[seg] = limit;
  cpu.segAttr[seg] = attr;
}

// ---- §27.7 VMX aborts --------------------------------------------------------------------------

/**
 * VMX abort (SDM §27.7): the VMX-abort indicator is written at offset 4 of the current VMCS
 * region and the processor enters the VMX-abort shutdown state (only RESET leaves it).
 */
function vmxAbort(vmx: VmxCpu, cpu: Cpu, indicator: number): void {
  const vmcs = vmx.current!;
  cpu.physWrite32(vmcs.address + VMCS_ABORT_OFFSET, indicator);
  vmx.abortIndicator = indicator;
  cpu.guestMode = false;
  cpu.extBoundary = false;
  cpu.extDeadline = Infinity;
  cpu.intrIgnoresIf = false;
  cpu.shutdown = true;
  cpu.exitBlock = true;
  const onExit = vmx.onExit;
  if (onExit !== null) onExit(vmx);
}
