/**
 * VMX non-root operation (Intel SDM Vol. 3C ch. 25 "VMX Non-Root Operation"), with the
 * exit-information rules of §27.2 "Recording VM-Exit Information and Updating VM-Entry Control
 * Fields".
 *
 * The core offers every interceptable operation to {@link intercept} (through
 * `VmxCpu.intercept`); it decides from the controls cached by {@link nonRootEnter} whether the
 * operation causes a VM exit (§25.1 "Instructions That Cause VM Exits", §25.2 "Other Causes of
 * VM Exits"), writes the exit-information fields the exit defines and calls `vmExit`
 * (exit.ts). Operations that do not exit but behave differently in non-root operation (§25.3
 * "Changes to Instruction Behavior in VMX Non-Root Operation") are either handled by the core
 * through its generic fields (CR0/CR4 read shadows and guest/host masks, the TSC offset) or
 * performed here (MOV to/from CR8 with "use TPR shadow", §29.3 "TPR Virtualization").
 * {@link boundary} takes the VM exits that happen between instructions (§25.2 window exiting,
 * §25.5.1 VMX-preemption timer, §25.5.2 monitor trap flag) in the priority order of SDM Vol. 3A
 * §6.9 with the VMX additions (§26.7).
 *
 * RIP at the exit: `vmExit` saves `cpu.ripLo/ripHi` as the guest RIP. Instruction intercepts
 * run while RIP is the instruction (fault-like exits, §27.3.3 "Saving RIP, RSP, RFLAGS and
 * SSP"); software exceptions arrive with RIP after the instruction and are moved back; the
 * trap-like exits (TPR below threshold after MOV to CR8, MTF, windows, timer) keep or set RIP
 * to the next instruction.
 *
 * The VM-exit instruction information (§27.2.5, Tables 27-9 to 27-14) and the
 * displacement-as-qualification rule (§27.2.1) are computed from `cpu.curRec`, the decode
 * record of the intercepted instruction.
 */
import type { Hpa } from '@hvkit/platform';
import {
  CodeMode,
  Cr0,
  Flag,
  insnAddrSize,
  insnBaseReg,
  insnDisplacement,
  insnIndexReg,
  insnIsMem,
  insnOpSize,
  insnRegField,
  insnRipRelative,
  insnRmReg,
  insnScale,
  insnSegment,
  Intercept,
  type Cpu,
} from '@hvkit/x86';
import { ExitCtl, PinCtl, Proc2Ctl, ProcCtl, VmxExitReason } from './constants.js';
import { apicWriteEmulation, eptActivate } from './ept.js';
import { nmiUnblockingDueToIret, noteIretUnblocking, vmExit } from './exit.js';
import { VMCS_SLOT, VmcsField } from './fields.js';
import type { VmxCpu } from './vmx.js';

/** VTPR: offset 80H of the virtual-APIC page (SDM §29.1 "Virtual APIC State"). */
const VTPR = 0x80;

/** VMCS slots nonRootEnter reads on every VM entry (module constants: no per-field table lookup). */
const S_PIN = VMCS_SLOT[VmcsField.PinBasedVmExecControl]!;
const S_PROC = VMCS_SLOT[VmcsField.CpuBasedVmExecControl]!;
const S_PROC2 = VMCS_SLOT[VmcsField.SecondaryVmExecControl]!;
const S_EXIT_CTL = VMCS_SLOT[VmcsField.VmExitControls]!;
const S_ENTRY_CTL = VMCS_SLOT[VmcsField.VmEntryControls]!;
const S_EXCEPTION_BITMAP = VMCS_SLOT[VmcsField.ExceptionBitmap]!;
const S_CR0_MASK = VMCS_SLOT[VmcsField.Cr0GuestHostMask]!;
const S_CR0_SHADOW = VMCS_SLOT[VmcsField.Cr0ReadShadow]!;
const S_CR4_MASK = VMCS_SLOT[VmcsField.Cr4GuestHostMask]!;
const S_CR4_SHADOW = VMCS_SLOT[VmcsField.Cr4ReadShadow]!;
const S_TSC_OFFSET = VMCS_SLOT[VmcsField.TscOffset]!;
const S_INSN_LEN = VMCS_SLOT[VmcsField.VmExitInstructionLength]!;
const S_INSN_INFO = VMCS_SLOT[VmcsField.VmExitInstructionInfo]!;
const S_EXIT_INT_INFO = VMCS_SLOT[VmcsField.VmExitInterruptionInfo]!;

/** Interruption types (SDM §24.9.2 Table 24-19 / §27.2.2). */
const TYPE_NMI = 2;
const TYPE_HARDWARE_EXCEPTION = 3;
const TYPE_PRIVILEGED_SOFTWARE_EXCEPTION = 5;
const TYPE_SOFTWARE_EXCEPTION = 6;

/** Valid bit of the interruption-information fields. */
const VALID = 1 << 31;

/** Scratch for 64-bit results (no allocation on the exit path). */
let qLo = 0;
let qHi = 0;

// ---- entering and leaving non-root operation ---------------------------------------------------

/**
 * Called by VM entry once guest state is loaded, before event injection (SDM §26.3.2 ends,
 * §26.6 follows): caches the VM-execution controls, sets the core's generic fields (CR0/CR4
 * guest/host masks and read shadows §24.6.6, TSC offset §24.6.5 / §25.3, extBoundary,
 * extDeadline for the VMX-preemption timer §25.5.1), unblocks INIT (§25.2 "INIT signals"
 * cause VM exits instead) and activates EPT/VPID. Runs on every VM entry.
 *
 * `activated`: the caller (vmEntry) already ran `eptActivate` for this entry.
 *
 * NMI blocking: entry loads the guest's "blocking by NMI" bit into `vmx.virtualNmiBlocked`
 * when "virtual NMIs" is 1, and into `cpu.nmiBlocked` otherwise (SDM §26.3.2.5). With virtual
 * NMIs, the core's `nmiBlocked` then carries virtual-NMI blocking until {@link nonRootLeave}
 * (the real blocking waits in `vmx.hostNmiBlocked`).
 */
export function nonRootEnter(vmx: VmxCpu, cpu: Cpu, activated = false): void {
  const v = vmx.current!;
  const lo = v.lo;
  const pin = lo[S_PIN]!;
  const proc = lo[S_PROC]!;
  // "activate secondary controls" = 0: every secondary control is treated as 0 (§24.6.2).
  const proc2 = (proc & ProcCtl.ActivateSecondaryControls) !== 0 ? lo[S_PROC2]! : 0;
  vmx.pin = pin;
  vmx.proc = proc;
  vmx.proc2 = proc2;
  vmx.exitCtl = lo[S_EXIT_CTL]!;
  vmx.entryCtl = lo[S_ENTRY_CTL]!;
  vmx.exceptionBitmap = lo[S_EXCEPTION_BITMAP]!;

  cpu.cr0GuestMask = lo[S_CR0_MASK]!;
  cpu.cr0ReadShadow = lo[S_CR0_SHADOW]!;
  cpu.cr4GuestMask = lo[S_CR4_MASK]!;
  cpu.cr4ReadShadow = lo[S_CR4_SHADOW]!;
  if ((proc & ProcCtl.UseTscOffsetting) !== 0) {
    cpu.tscOffsetLo = lo[S_TSC_OFFSET]!;
    cpu.tscOffsetHi = v.hi[S_TSC_OFFSET]!;
  } else {
    cpu.tscOffsetLo = 0;
    cpu.tscOffsetHi = 0;
  }

  vmx.nmiSwapped = (pin & PinCtl.VirtualNmis) !== 0;
  if (vmx.nmiSwapped) {
    vmx.hostNmiBlocked = cpu.nmiBlocked;
    cpu.nmiBlocked = vmx.virtualNmiBlocked;
  }

  // VMX-preemption timer (§25.5.1, §26.7.4): it decrements each time bit 5 of the TSC changes
  // (IA32_VMX_MISC[4:0] = 5); the TSC here is the retired-instruction count. 0 at entry: a VM
  // exit before the first instruction.
  if ((pin & PinCtl.ActivateVmxPreemptionTimer) !== 0) {
    const value = v.get(VmcsField.VmxPreemptionTimerValue) >>> 0;
    vmx.timerDeadline = value === 0 ? cpu.icount : (Math.floor(cpu.icount / 32) + value) * 32;
    cpu.extDeadline = vmx.timerDeadline;
  } else {
    vmx.timerDeadline = Infinity;
    cpu.extDeadline = Infinity;
  }

  // TPR threshold right after entry (§26.7.7): "use TPR shadow" and "virtualize APIC accesses"
  // (with "virtualize APIC accesses" = 0 the same condition fails the VM-entry checks, §26.2.1.1).
  vmx.tprPending = false;
  if ((proc & ProcCtl.UseTprShadow) !== 0 && (proc2 & Proc2Ctl.VirtualizeApicAccesses) !== 0) {
    const vtpr = cpu.memory.read8((v.get64(VmcsField.VirtualApicAddress) + VTPR) as Hpa);
    vmx.tprPending = (v.get(VmcsField.TprThreshold) & 0xf) > ((vtpr >>> 4) & 0xf);
  }

  vmx.mtfPending = false;
  vmx.nmiKeepBlocked = false;
  noteIretUnblocking(vmx, cpu, 0, false);
  vmx.pleActive = false;
  // No baseline yet: the first boundary after VM entry comes before the guest's first
  // instruction (the VMLAUNCH/VMRESUME that entered may still retire after this), so it takes
  // the baseline instead of counting as "an instruction ran" (MTF, §25.5.2).
  vmx.bIcount = -1;
  vmx.bRipLo = cpu.ripLo;
  vmx.bRipHi = cpu.ripHi;
  vmx.guestCr2Lo = cpu.cr2Lo;
  vmx.guestCr2Hi = cpu.cr2Hi;
  vmx.guestDr6 = cpu.drLo[6]!;

  cpu.extBoundary = needsBoundary(vmx);
  // "External-interrupt exiting": an external interrupt causes a VM exit whatever RFLAGS.IF
  // (Table 24-5, §25.2); blocking by STI / MOV SS still holds it back (§25.2, Table 24-3). The
  // core then offers INTR to intercept() even with IF = 0, also from HLT.
  cpu.intrIgnoresIf = (pin & PinCtl.ExternalInterruptExiting) !== 0;
  cpu.initBlocked = false;
  // VM entry activated EPT/VPID already while loading the guest state (entry.ts: before
  // contextChanged, so the guest's TLB bank is selected under the guest's access rights);
  // nothing eptActivate reads changed since (VMCS fields; §26.4 MSR loading touches none).
  if (!activated) eptActivate(vmx, cpu);
}

/**
 * Leaving non-root operation (called by every VM exit before the guest state is saved; the
 * exit paths of this module call it, and `vmExit` may call it again: it acts once per entry):
 * gives `vmx.virtualNmiBlocked` its current value and puts the real NMI blocking back in
 * `cpu.nmiBlocked` (virtual NMIs = 1), and applies a pending "IRET leaves NMI blocking" (NMI
 * exiting without virtual NMIs).
 */
export function nonRootLeave(vmx: VmxCpu, cpu: Cpu): void {
  if (vmx.nmiKeepBlocked) {
    cpu.nmiBlocked = true;
    vmx.nmiKeepBlocked = false;
  }
  if (vmx.nmiSwapped) {
    vmx.nmiSwapped = false;
    vmx.virtualNmiBlocked = cpu.nmiBlocked;
    cpu.nmiBlocked = vmx.hostNmiBlocked;
  }
}

/**
 * VM entry injecting a pending MTF VM exit (interruption type 7, vector 0: SDM §26.6.2), or an
 * MTF VM exit made pending by §25.5.2: the exit happens on the next instruction boundary.
 */
export function requestPendingMtf(vmx: VmxCpu, cpu: Cpu): void {
  vmx.mtfPending = true;
  cpu.extBoundary = true;
}

function needsBoundary(vmx: VmxCpu): boolean {
  return (
    (vmx.proc & (ProcCtl.InterruptWindowExiting | ProcCtl.NmiWindowExiting | ProcCtl.MonitorTrapFlag)) !== 0 ||
    vmx.tprPending ||
    vmx.mtfPending ||
    vmx.nmiKeepBlocked
  );
}

// ---- exits ----------------------------------------------------------------------------------

/** Performs the VM exit (the caller wrote the fields its exit defines). Always true. */
function exit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): true {
  nonRootLeave(vmx, cpu);
  vmExit(vmx, cpu, reason, qualLo, qualHi);
  return true;
}

/** A VM exit not caused by an event: the VM-exit interruption information is invalid (§27.2.2). */
function plainExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): true {
  const v = vmx.current!;
  v.lo[S_EXIT_INT_INFO] = 0;
  v.hi[S_EXIT_INT_INFO] = 0;
  return exit(vmx, cpu, reason, qualLo, qualHi);
}

/** A fault-like VM exit for the instruction at RIP, with its VM-exit instruction length (§27.2.4). */
function insnExit(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number, insnInfo = 0): true {
  const v = vmx.current!;
  v.lo[S_INSN_LEN] = (cpu.nipLo - cpu.ripLo) & 0xf;
  v.hi[S_INSN_LEN] = 0;
  v.lo[S_INSN_INFO] = insnInfo;
  v.hi[S_INSN_INFO] = 0;
  return plainExit(vmx, cpu, reason, qualLo, qualHi);
}

/**
 * A VM exit caused by an instruction whose exit defines VM-exit instruction information
 * (SDM §27.2.5): the VMX instructions (instructions.ts calls this in non-root operation after
 * the #UD and privilege checks that come first, §25.1.2), XSAVES/XRSTORS, INVPCID. Fills the
 * VM-exit instruction length and information from `cpu.curRec` (Table 27-13 for VMCLEAR,
 * VMPTRLD, VMPTRST, VMXON, XRSTORS, XSAVES; Table 27-14 for VMREAD/VMWRITE; Table 27-10 for
 * INVEPT, INVPCID, INVVPID), then performs the exit. For the instructions whose exit
 * qualification is the operand's displacement (§27.2.1), the qualification is computed here and
 * `qualLo/qualHi` are ignored; otherwise (VMCALL, VMLAUNCH, VMRESUME, VMXOFF, VMFUNC) they are
 * used as given. `cpu.curRec` must be the instruction's decode record (`VmxCpu.execute` sets it).
 */
export function exitForInstruction(vmx: VmxCpu, cpu: Cpu, reason: number, qualLo: number, qualHi: number): void {
  const d = cpu.curRec;
  let info = 0;
  switch (reason) {
    case VmxExitReason.Vmclear:
    case VmxExitReason.Vmptrld:
    case VmxExitReason.Vmptrst:
    case VmxExitReason.Vmxon:
    case VmxExitReason.Xsaves:
    case VmxExitReason.Xrstors:
      info = operandInfo(cpu, d);
      displacement(cpu, d);
      qualLo = qLo;
      qualHi = qHi;
      break;
    case VmxExitReason.Vmread:
    case VmxExitReason.Vmwrite:
    case VmxExitReason.Invept:
    case VmxExitReason.Invvpid:
    case VmxExitReason.Invpcid:
      info = operandInfo(cpu, d) | (insnRegField(cpu, d) << 28);
      displacement(cpu, d);
      qualLo = qLo;
      qualHi = qHi;
      break;
    default:
      break;
  }
  insnExit(vmx, cpu, reason, qualLo, qualHi, info);
}

/**
 * VM-exit instruction information of a ModRM operand (§27.2.5): for a memory operand, scaling
 * (1:0), address size (9:7: 0 16-bit, 1 32-bit, 2 64-bit), segment register (17:15), index
 * register (21:18) and its invalid bit (22), base register (26:23) and its invalid bit (27);
 * for a register operand, reg1 (6:3) and bit 10 = 1.
 */
function operandInfo(cpu: Cpu, d: number): number {
  if (!insnIsMem(cpu, d)) return (1 << 10) | (insnRmReg(cpu, d) << 3);
  let r = insnScale(cpu, d) | (insnAddrSize(cpu, d) << 7) | (insnSegment(cpu, d) << 15);
  const index = insnIndexReg(cpu, d);
  r |= index < 0 ? 1 << 22 : index << 18;
  const base = insnBaseReg(cpu, d);
  r |= base < 0 ? 1 << 27 : base << 23;
  return r;
}

/**
 * The exit qualification of instructions with a memory operand (§27.2.1): the displacement,
 * sign-extended to 64 bits (0 for a register operand); for RIP-relative addressing, the
 * displacement plus the RIP of the next instruction. Into qLo/qHi.
 */
function displacement(cpu: Cpu, d: number): void {
  if (!insnIsMem(cpu, d)) {
    qLo = 0;
    qHi = 0;
    return;
  }
  const disp = insnDisplacement(cpu, d);
  const dispHi = disp < 0 ? -1 : 0;
  if (insnRipRelative(cpu, d)) {
    const sum = (cpu.nipLo >>> 0) + (disp >>> 0);
    qLo = sum | 0;
    qHi = (cpu.nipHi + dispHi + (sum > 0xffff_ffff ? 1 : 0)) | 0;
  } else {
    qLo = disp;
    qHi = dispHi;
  }
}

/** Moves RIP back by `len` bytes (to a software exception's instruction; 32-bit wrap outside 64-bit mode). */
function ripBack(cpu: Cpu, len: number): void {
  const lo = (cpu.ripLo >>> 0) - len;
  cpu.ripLo = lo | 0;
  if (lo < 0) cpu.ripHi = cpu.mode === CodeMode.Bits64 ? (cpu.ripHi - 1) | 0 : 0;
}

// ---- intercept -------------------------------------------------------------------------------

/**
 * Decides whether an operation the core offers causes a VM exit (SDM §25.1, §25.2) and
 * performs it (true), or performs the operation's non-root behaviour itself (true: MOV CR8
 * with "use TPR shadow"), or lets the core run it normally (false).
 */
export function intercept(vmx: VmxCpu, cpu: Cpu, what: Intercept, info: number, info2: number): boolean {
  switch (what) {
    // §25.1.2 "Instructions That Cause VM Exits Unconditionally".
    case Intercept.Cpuid:
      return insnExit(vmx, cpu, VmxExitReason.Cpuid, 0, 0);
    case Intercept.Invd:
      return insnExit(vmx, cpu, VmxExitReason.Invd, 0, 0);
    case Intercept.Xsetbv:
      return insnExit(vmx, cpu, VmxExitReason.Xsetbv, 0, 0);

    // §25.1.3 "Instructions That Cause VM Exits Conditionally".
    case Intercept.Hlt:
      return (vmx.proc & ProcCtl.HltExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Hlt, 0, 0);
    case Intercept.Invlpg:
      // Exit qualification: the linear-address operand (§27.2.1).
      return (vmx.proc & ProcCtl.InvlpgExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Invlpg, info, info2);
    case Intercept.Invpcid:
      // "enable INVPCID" = 0: INVPCID is #UD (§25.3); = 1: it exits when "INVLPG exiting" is 1.
      if ((vmx.proc2 & Proc2Ctl.EnableInvpcid) === 0) cpu.ud();
      if ((vmx.proc & ProcCtl.InvlpgExiting) === 0) return false;
      exitForInstruction(vmx, cpu, VmxExitReason.Invpcid, 0, 0);
      return true;
    case Intercept.Mwait:
      // Bit 0 of the qualification: the monitoring hardware is armed (§27.2.1).
      return (vmx.proc & ProcCtl.MwaitExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Mwait, info & 1, 0);
    case Intercept.Monitor:
      return (vmx.proc & ProcCtl.MonitorExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Monitor, 0, 0);
    case Intercept.Rdpmc:
      return (vmx.proc & ProcCtl.RdpmcExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Rdpmc, 0, 0);
    case Intercept.Rdtsc:
      return (vmx.proc & ProcCtl.RdtscExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Rdtsc, 0, 0);
    case Intercept.Rdtscp:
      // "enable RDTSCP" = 0: #UD (§25.3 "RDTSCP"); = 1: exits with "RDTSC exiting".
      if ((vmx.proc2 & Proc2Ctl.EnableRdtscp) === 0) cpu.ud();
      return (vmx.proc & ProcCtl.RdtscExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Rdtscp, 0, 0);
    case Intercept.Pause:
      return pause(vmx, cpu);
    case Intercept.Wbinvd:
      return (vmx.proc2 & Proc2Ctl.WbinvdExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.WbinvdOrWbnoinvd, 0, 0);
    case Intercept.Rdrand:
      return (vmx.proc2 & Proc2Ctl.RdrandExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Rdrand, 0, 0, randInfo(cpu));
    case Intercept.Rdseed:
      return (vmx.proc2 & Proc2Ctl.RdseedExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.Rdseed, 0, 0, randInfo(cpu));
    case Intercept.Rdmsr:
      return msrExits(vmx, cpu, info, false) && insnExit(vmx, cpu, VmxExitReason.Rdmsr, 0, 0);
    case Intercept.Wrmsr:
      return msrExits(vmx, cpu, info, true) && insnExit(vmx, cpu, VmxExitReason.Wrmsr, 0, 0);
    case Intercept.Io:
      return io(vmx, cpu, info, info2);
    case Intercept.CrWrite:
      return crWrite(vmx, cpu, info & 0xf, (info >>> 4) & 0xf);
    case Intercept.CrRead:
      return crRead(vmx, cpu, info & 0xf, (info >>> 4) & 0xf);
    case Intercept.Clts: {
      // CLTS exits when CR0.TS is host-owned and the read shadow has TS = 1 (§25.1.3).
      if ((cpu.cr0GuestMask & cpu.cr0ReadShadow & Cr0.TS) === 0) return false;
      return insnExit(vmx, cpu, VmxExitReason.CrAccess, 2 << 4, 0);
    }
    case Intercept.Lmsw:
      return lmsw(vmx, cpu, info & 0xffff, info2);
    case Intercept.DrWrite:
    case Intercept.DrRead:
      return movDr(vmx, cpu, info, info2);
    case Intercept.DescriptorTable:
      return descriptorTable(vmx, cpu, info);

    // §25.2 "Other Causes of VM Exits".
    case Intercept.Exception:
      return exception(vmx, cpu, info, info2);
    case Intercept.Interrupt:
      // The shutdown state blocks external interrupts (§26.7.2 "Activity State").
      return (vmx.pin & PinCtl.ExternalInterruptExiting) !== 0 && !vmx.guestShutdown && externalInterruptExit(vmx, cpu);
    case Intercept.Nmi:
      if ((vmx.pin & PinCtl.NmiExiting) === 0) return false;
      // Exit reason 0 with interruption type NMI (§27.2.2); the NMI blocks further NMIs only
      // once the VM exit has completed (§27.1).
      vmx.current!.set(VmcsField.VmExitInterruptionInfo, VALID | (TYPE_NMI << 8) | 2);
      exit(vmx, cpu, VmxExitReason.ExceptionOrNmi, 0, 0);
      cpu.nmiBlocked = true;
      return true;
    case Intercept.Init:
      return plainExit(vmx, cpu, VmxExitReason.InitSignal, 0, 0);
    case Intercept.Sipi:
      // Only in the wait-for-SIPI activity state; the qualification is the SIPI vector (§27.2.1).
      return plainExit(vmx, cpu, VmxExitReason.StartupIpi, info & 0xff, 0);
    case Intercept.Shutdown:
      return plainExit(vmx, cpu, VmxExitReason.TripleFault, 0, 0);
    case Intercept.TaskSwitch:
      return taskSwitch(vmx, cpu, info, info2);
    case Intercept.Iret:
      iret(vmx, cpu);
      return false;
    default:
      return false;
  }
}

/**
 * PAUSE (§25.1.3): "PAUSE exiting" exits always; "PAUSE-loop exiting" at CPL 0 times loops of
 * PAUSEs in TSC ticks: a PAUSE more than PLE_Gap after the previous one (or the first after VM
 * entry) starts a loop; a later one more than PLE_Window after the loop's first one exits.
 */
function pause(vmx: VmxCpu, cpu: Cpu): boolean {
  if ((vmx.proc & ProcCtl.PauseExiting) !== 0) return insnExit(vmx, cpu, VmxExitReason.Pause, 0, 0);
  if ((vmx.proc2 & Proc2Ctl.PauseLoopExiting) === 0 || cpu.cpl !== 0) return false;
  const v = vmx.current!;
  const tsc = cpu.retired(cpu.curRec);
  let exits = false;
  if (!vmx.pleActive || tsc - vmx.pleLast > v.get(VmcsField.PleGap) >>> 0) {
    vmx.pleActive = true;
    vmx.pleFirst = tsc;
  } else if (tsc - vmx.pleFirst > v.get(VmcsField.PleWindow) >>> 0) {
    exits = true;
  }
  vmx.pleLast = tsc;
  return exits && insnExit(vmx, cpu, VmxExitReason.Pause, 0, 0);
}

/** RDRAND/RDSEED instruction information (§27.2.5 Table 27-13): destination register (6:3), operand size (12:11). */
function randInfo(cpu: Cpu): number {
  const d = cpu.curRec;
  return (insnRmReg(cpu, d) << 3) | ((insnOpSize(cpu, d) - 1) << 11);
}

/**
 * RDMSR/WRMSR (§25.1.3, §24.6.9 "MSR-Bitmap Address"): without "use MSR bitmaps" they always
 * exit; with it, the bit for ECX in the read bitmap for low MSRs (0-1FFFH, offset 0), high MSRs
 * (C0000000H-C0001FFFH, offset 1024) or the write bitmaps (offsets 2048, 3072) decides, and
 * other ECX values always exit.
 */
function msrExits(vmx: VmxCpu, cpu: Cpu, ecx: number, write: boolean): boolean {
  if ((vmx.proc & ProcCtl.UseMsrBitmaps) === 0) return true;
  const msr = ecx >>> 0;
  let offset: number;
  if (msr <= 0x1fff) offset = 0;
  else if (msr >= 0xc000_0000 && msr <= 0xc000_1fff) offset = 1024;
  else return true;
  if (write) offset += 2048;
  const byte = cpu.memory.read8((vmx.current!.get64(VmcsField.MsrBitmap) + offset + ((msr & 0x1fff) >>> 3)) as Hpa);
  return ((byte >>> (msr & 7)) & 1) !== 0;
}

/**
 * IN/OUT/INS/OUTS (§25.1.3, §24.6.4 "I/O-Bitmap Addresses"): with "use I/O bitmaps" any port
 * of the access whose bit is set in bitmap A (0-7FFFH) or B (8000H-FFFFH), or an access that
 * wraps past FFFFH, exits; without, "unconditional I/O exiting" decides. Exit qualification per
 * Table 27-5; INS/OUTS also get the guest-linear address (§27.2.1) and the VM-exit instruction
 * information of Table 27-9 (IA32_VMX_BASIC[54] = 1).
 */
function io(vmx: VmxCpu, cpu: Cpu, info: number, info2: number): boolean {
  const port = info & 0xffff;
  const size = (info >>> 16) & 7;
  let exits: boolean;
  if ((vmx.proc & ProcCtl.UseIoBitmaps) !== 0) {
    exits = false;
    const v = vmx.current!;
    for (let p = port; p < port + size; p++) {
      if (p > 0xffff) {
        exits = true;
        break;
      }
      const bitmap = p < 0x8000 ? v.get64(VmcsField.IoBitmapA) : v.get64(VmcsField.IoBitmapB);
      if (((cpu.memory.read8((bitmap + ((p & 0x7fff) >>> 3)) as Hpa) >>> (p & 7)) & 1) !== 0) {
        exits = true;
        break;
      }
    }
  } else {
    exits = (vmx.proc & ProcCtl.UnconditionalIoExiting) !== 0;
  }
  if (!exits) return false;
  const input = (info >>> 19) & 1;
  const string = (info >>> 20) & 1;
  const rep = (info >>> 21) & 1;
  // Operand encoding (bit 6): the port is an immediate (E4-E7) or DX.
  const imm = (info >>> 22) & 1;
  const qual = (size - 1) | (input << 3) | (string << 4) | (rep << 5) | (imm << 6) | (port << 16);
  let insnInfo = 0;
  if (string !== 0) {
    vmx.current!.set(VmcsField.GuestLinearAddress, cpu.lastLo, cpu.lastHi);
    // Address size (9:7) and, for OUTS, the segment register (17:15).
    insnInfo = (((info2 & 3) - 1) << 7) | (((info2 >>> 4) & 7) << 15);
  }
  return insnExit(vmx, cpu, VmxExitReason.IoInstruction, qual, 0, insnInfo);
}

/** Exit qualification for MOV CR (Table 27-3): CR number, access type, register. */
function crQual(n: number, type: number, gpr: number): number {
  return n | (type << 4) | (gpr << 8);
}

/** The 64-bit value of a source register (its low half only outside 64-bit mode) into qLo/qHi. */
function regValue(cpu: Cpu, r: number): void {
  qLo = cpu.gpr[r]!;
  qHi = cpu.mode === CodeMode.Bits64 ? cpu.gprHi[r]! : 0;
}

/**
 * MOV to CR0/CR3/CR4/CR8 (§25.1.3): CR0/CR4 exit when the value differs from the read shadow in
 * a bit set in the guest/host mask; CR3 with "CR3-load exiting" unless the value equals one of
 * the first CR3-target-count CR3-target values; CR8 with "CR8-load exiting", else with "use TPR
 * shadow" it writes VTPR (§29.3) and may cause a TPR-below-threshold VM exit.
 */
function crWrite(vmx: VmxCpu, cpu: Cpu, n: number, gpr: number): boolean {
  const v = vmx.current!;
  regValue(cpu, gpr);
  switch (n) {
    case 0:
    case 4: {
      const mask = n === 0 ? VmcsField.Cr0GuestHostMask : VmcsField.Cr4GuestHostMask;
      const shadow = n === 0 ? VmcsField.Cr0ReadShadow : VmcsField.Cr4ReadShadow;
      if ((((qLo ^ v.get(shadow)) & v.get(mask)) | ((qHi ^ v.getHi(shadow)) & v.getHi(mask))) === 0) return false;
      return insnExit(vmx, cpu, VmxExitReason.CrAccess, crQual(n, 0, gpr), 0);
    }
    case 3: {
      if ((vmx.proc & ProcCtl.Cr3LoadExiting) === 0) return false;
      const count = Math.min(v.get(VmcsField.Cr3TargetCount) >>> 0, 4);
      for (let i = 0; i < count; i++) {
        const f = VmcsField.Cr3TargetValue0 + 2 * i;
        if (v.get(f) === qLo && v.getHi(f) === qHi) return false;
      }
      return insnExit(vmx, cpu, VmxExitReason.CrAccess, crQual(3, 0, gpr), 0);
    }
    case 8: {
      if ((vmx.proc & ProcCtl.Cr8LoadExiting) !== 0) return insnExit(vmx, cpu, VmxExitReason.CrAccess, crQual(8, 0, gpr), 0);
      if ((vmx.proc & ProcCtl.UseTprShadow) === 0) return false;
      // TPR virtualization (§29.3): CR8 bits 63:4 are reserved (#GP); VTPR[7:4] = source[3:0],
      // the rest of VTPR cleared.
      if ((qLo & ~0xf) !== 0 || qHi !== 0) cpu.gp(0);
      const vtprAddr = (v.get64(VmcsField.VirtualApicAddress) + VTPR) as Hpa;
      cpu.memory.write32(vtprAddr, (qLo & 0xf) << 4);
      // TPR-below-threshold (§29.1.2): a trap-like VM exit, RIP = the next instruction.
      if ((vmx.proc2 & Proc2Ctl.VirtualInterruptDelivery) === 0 && (v.get(VmcsField.TprThreshold) & 0xf) > (qLo & 0xf)) {
        cpu.ripLo = cpu.nipLo;
        cpu.ripHi = cpu.nipHi;
        // After the instruction: its own STI/MOV-SS blocking has ended (§27.3.4).
        cpu.insnShadow = 0;
        return plainExit(vmx, cpu, VmxExitReason.TprBelowThreshold, 0, 0);
      }
      return true;
    }
    case 2:
      // CR2 as the guest last wrote it (exits for #PF do not write CR2, §27.1).
      vmx.guestCr2Lo = qLo;
      vmx.guestCr2Hi = qHi;
      return false;
    default:
      return false;
  }
}

/**
 * MOV from CR3 ("CR3-store exiting") and CR8 ("CR8-store exiting"; with "use TPR shadow" it
 * reads VTPR[7:4] into bits 3:0, §29.3); MOV from CR0/CR4 never exit (the core applies the
 * read shadows).
 */
function crRead(vmx: VmxCpu, cpu: Cpu, n: number, gpr: number): boolean {
  if (n === 3) return (vmx.proc & ProcCtl.Cr3StoreExiting) !== 0 && insnExit(vmx, cpu, VmxExitReason.CrAccess, crQual(3, 1, gpr), 0);
  if (n !== 8) return false;
  if ((vmx.proc & ProcCtl.Cr8StoreExiting) !== 0) return insnExit(vmx, cpu, VmxExitReason.CrAccess, crQual(8, 1, gpr), 0);
  if ((vmx.proc & ProcCtl.UseTprShadow) === 0) return false;
  const vtpr = cpu.memory.read8((vmx.current!.get64(VmcsField.VirtualApicAddress) + VTPR) as Hpa);
  cpu.setReg64(gpr, (vtpr >>> 4) & 0xf, 0);
  return true;
}

/**
 * LMSW (§25.1.3): exits when a bit of CR0[3:1] set in the mask differs between the source and
 * the read shadow, or when PE is set in the mask and the source but clear in the read shadow.
 * Qualification: access type 3, operand type (bit 6), source data (31:16); a memory operand's
 * linear address goes to the guest-linear address field (§27.2.1).
 */
function lmsw(vmx: VmxCpu, cpu: Cpu, src: number, info2: number): boolean {
  const mask = cpu.cr0GuestMask;
  const shadow = cpu.cr0ReadShadow;
  const exits = ((src ^ shadow) & mask & 0xe) !== 0 || (mask & src & ~shadow & Cr0.PE) !== 0;
  if (!exits) return false;
  const mem = info2 & 1;
  if (mem !== 0) vmx.current!.set(VmcsField.GuestLinearAddress, cpu.lastLo, cpu.lastHi);
  return insnExit(vmx, cpu, VmxExitReason.CrAccess, (3 << 4) | (mem << 6) | (src << 16), 0);
}

/**
 * MOV DR with "MOV-DR exiting" (§25.1.3); exit qualification Table 27-4: DR number (2:0),
 * direction (bit 4: 0 to DR, 1 from DR), register (11:8).
 */
function movDr(vmx: VmxCpu, cpu: Cpu, info: number, direction: number): boolean {
  const n = info & 0xf;
  const gpr = (info >>> 4) & 0xf;
  if ((vmx.proc & ProcCtl.MovDrExiting) !== 0) return insnExit(vmx, cpu, VmxExitReason.MovDr, (n & 7) | ((direction & 1) << 4) | (gpr << 8), 0);
  if (direction === 0 && (n === 6 || n === 4)) {
    // DR6 as the guest writes it (the core's MOV to DR6: bits 15:13 and 3:0, the rest fixed 1).
    vmx.guestDr6 = (cpu.gpr[gpr]! & 0xe00f) | (0xffff0ff0 | 0);
  }
  return false;
}

/**
 * Descriptor-table exiting (§25.1.3): LGDT/LIDT/SGDT/SIDT exit with reason 46, LLDT/LTR/SLDT/STR
 * with 47; instruction information Tables 27-11 / 27-12 (instruction identity 29:28: 0 SGDT/SLDT,
 * 1 SIDT/STR, 2 LGDT/LLDT, 3 LIDT/LTR); qualification the displacement (§27.2.1).
 */
function descriptorTable(vmx: VmxCpu, cpu: Cpu, which: number): boolean {
  if ((vmx.proc2 & Proc2Ctl.DescriptorTableExiting) === 0) return false;
  const d = cpu.curRec;
  const identity = ((which & 3) + 2) & 3;
  let info = operandInfo(cpu, d) | (identity << 28);
  if (which < 4) {
    // Operand size (bit 11): 0 16-bit, 1 32-bit (64-bit mode: 1).
    if (insnOpSize(cpu, d) !== 1) info |= 1 << 11;
  }
  displacement(cpu, d);
  return insnExit(vmx, cpu, which < 4 ? VmxExitReason.GdtrIdtrAccess : VmxExitReason.LdtrTrAccess, qLo, qHi, info);
}

/**
 * Exceptions (§25.2): hardware exceptions and the software exceptions of INT3/INTO (type 6) and
 * INT1 (type 5) exit when their bit is set in the exception bitmap; #PF uses the bitmap bit
 * with the page-fault error-code mask/match rule. INT n (type 4) never exits this way. VM-exit
 * interruption information and error code per §27.2.2; qualification per §27.2.1 (#PF: the
 * linear address, CR2 not written; #DB: the DR6-format bits B3:B0, BD, BS, DR6 not written).
 */
function exception(vmx: VmxCpu, cpu: Cpu, info: number, error: number): boolean {
  const vector = info & 0xff;
  const kind = (info >>> 8) & 0xf;
  const src = (info >>> 12) & 0xf;
  // Bit 12 "NMI unblocking due to IRET": a fault of the IRET that unblocked (§27.2.2).
  const iretUnblock = vector !== 8 && kind === 0 ? nmiUnblockingDueToIret(vmx, cpu) : 0;
  noteIretUnblocking(vmx, cpu, 0, false);
  if (kind === 3 && src === 1) return false;
  const v = vmx.current!;
  let exits = ((vmx.exceptionBitmap >>> vector) & 1) !== 0 && vector < 32;
  if (vector === 14) {
    const match = (error & v.get(VmcsField.PageFaultErrorCodeMask)) === v.get(VmcsField.PageFaultErrorCodeMatch);
    exits = exits === match;
  }
  if (!exits) {
    // Delivered: CR2 / DR6 now hold what the exception wrote.
    if (vector === 14) {
      vmx.guestCr2Lo = cpu.cr2Lo;
      vmx.guestCr2Hi = cpu.cr2Hi;
    } else if (vector === 1 && kind === 0) {
      vmx.guestDr6 = cpu.drLo[6]!;
    }
    return false;
  }
  const type = kind === 0 ? TYPE_HARDWARE_EXCEPTION : kind === 4 ? TYPE_PRIVILEGED_SOFTWARE_EXCEPTION : TYPE_SOFTWARE_EXCEPTION;
  const hasError = error >= 0 ? 1 : 0;
  v.set(VmcsField.VmExitInterruptionInfo, VALID | iretUnblock | (hasError << 11) | (type << 8) | vector);
  if (hasError !== 0) v.set(VmcsField.VmExitInterruptionErrorCode, error);
  if (type !== TYPE_HARDWARE_EXCEPTION) {
    // A software exception's exit is fault-like: RIP = the instruction, with its length (§27.2.4).
    const len = cpu.vectoringInsnLen;
    v.set(VmcsField.VmExitInstructionLength, len);
    ripBack(cpu, len);
  }
  let qualLo = 0;
  let qualHi = 0;
  if (vector === 14) {
    qualLo = cpu.cr2Lo;
    qualHi = cpu.cr2Hi;
    cpu.cr2Lo = vmx.guestCr2Lo;
    cpu.cr2Hi = vmx.guestCr2Hi;
  } else if (vector === 1 && kind === 0) {
    const dr6 = cpu.drLo[6]!;
    qualLo = (dr6 & 0xf) | (dr6 & ~vmx.guestDr6 & 0x6000);
    cpu.drLo[6] = vmx.guestDr6;
  }
  return exit(vmx, cpu, VmxExitReason.ExceptionOrNmi, qualLo, qualHi);
}

/**
 * An external interrupt with "external-interrupt exiting" (§25.2): exit reason 1; with
 * "acknowledge interrupt on exit" the interrupt is acknowledged and its vector recorded in the
 * VM-exit interruption information (type 0), else that field is invalid (§27.2.2).
 */
function externalInterruptExit(vmx: VmxCpu, cpu: Cpu): true {
  let ii = 0;
  if ((vmx.exitCtl & ExitCtl.AcknowledgeInterruptOnExit) !== 0 && cpu.interrupts !== null) {
    ii = VALID | (cpu.interrupts.acknowledge() & 0xff);
  }
  vmx.current!.set(VmcsField.VmExitInterruptionInfo, ii);
  return exit(vmx, cpu, VmxExitReason.ExternalInterrupt, 0, 0);
}

/**
 * Task switches always exit (§25.1.2). Qualification (Table 27-2): the new TSS selector (15:0)
 * and the source (31:30: 0 CALL, 1 IRET, 2 JMP, 3 task gate in the IDT). The VM-exit
 * instruction length is defined for CALL/IRET/JMP and for a software interrupt or exception
 * through a task gate, whose RIP goes back to the instruction (§27.2.4).
 */
function taskSwitch(vmx: VmxCpu, cpu: Cpu, selector: number, source: number): true {
  const v = vmx.current!;
  if (source === 3) {
    const type = (cpu.vectoringInfo >>> 8) & 7;
    if ((cpu.vectoringInfo & VALID) !== 0 && type >= 4 && type <= 6) {
      v.set(VmcsField.VmExitInstructionLength, cpu.vectoringInsnLen);
      ripBack(cpu, cpu.vectoringInsnLen);
    }
  } else {
    v.set(VmcsField.VmExitInstructionLength, (cpu.nipLo - cpu.ripLo) & 0xf);
  }
  return plainExit(vmx, cpu, VmxExitReason.TaskSwitch, (selector & 0xffff) | ((source & 3) << 30), 0);
}

/**
 * IRET and NMI blocking (§25.3 "IRET"): without "NMI exiting" IRET unblocks NMIs as usual; with
 * it and without "virtual NMIs", IRET leaves NMI blocking alone (restored at the next
 * boundary, after the core's IRET cleared it); with "virtual NMIs" it removes virtual-NMI
 * blocking (the core's `nmiBlocked` carries it). Records whether it unblocked, for bit 12 of
 * the exit information of a fault during this IRET.
 */
function iret(vmx: VmxCpu, cpu: Cpu): void {
  let unblocks = cpu.nmiBlocked;
  // Kept in step at once (an IRET that faults has removed the blocking too, §27.1).
  if ((vmx.pin & PinCtl.VirtualNmis) !== 0) vmx.virtualNmiBlocked = false;
  if ((vmx.pin & (PinCtl.NmiExiting | PinCtl.VirtualNmis)) === PinCtl.NmiExiting) {
    unblocks = false;
    if (cpu.nmiBlocked) {
      vmx.nmiKeepBlocked = true;
      cpu.extBoundary = true;
    }
  }
  noteIretUnblocking(vmx, cpu, cpu.curRec, unblocks);
}

// ---- boundary --------------------------------------------------------------------------------

/**
 * At an instruction boundary (before the core's debug traps, NMI and INTR), in the priority
 * order of SDM Vol. 3A §6.9 with the VMX events (§25.2, §25.5, §26.7): APIC-write emulation
 * after a virtualized write to the APIC-access page (§29.4.3.2, ept.ts `apicWriteEmulation`) and
 * the TPR-below-threshold exit it or VM entry (§26.7.7) makes pending; INIT (left to the core); MTF (§25.5.2: after an instruction
 * retired, after an event was delivered, or pending from VM entry; trap-like); pending debug
 * traps (left to the core); VMX-preemption timer (§25.5.1; not in wait-for-SIPI); NMI-window
 * exiting (no NMI or virtual-NMI blocking, no MOV-SS blocking); an NMI (left to the core);
 * interrupt-window exiting (RFLAGS.IF = 1, no STI or MOV-SS blocking); external interrupts
 * come after, from the core (with "external-interrupt exiting" even with RFLAGS.IF = 0:
 * `cpu.intrIgnoresIf`, §25.2).
 */
export function boundary(vmx: VmxCpu, cpu: Cpu): boolean {
  if (vmx.nmiKeepBlocked) {
    // The IRET that just ran did not unblock NMIs (NMI exiting, no virtual NMIs).
    cpu.nmiBlocked = true;
    vmx.nmiKeepBlocked = false;
    cpu.extBoundary = needsBoundary(vmx);
  }
  // ---- tpr: APIC-write emulation after a virtualized write to the APIC-access page (§29.4.3.2);
  // a TPR-below-threshold exit it makes pending comes right below.
  if (vmx.eptCtx.apicWriteSize !== 0) {
    apicWriteEmulation(vmx, cpu);
    cpu.extBoundary = needsBoundary(vmx);
  }
  if (vmx.tprPending) {
    vmx.tprPending = false;
    cpu.extBoundary = needsBoundary(vmx);
    return plainExit(vmx, cpu, VmxExitReason.TprBelowThreshold, 0, 0);
  }
  if (cpu.initPending && !cpu.initBlocked) return false;

  // Did an instruction retire or an event get delivered since the previous boundary? (RIP moved,
  // or an instruction such as `jmp $` retired; a halted core skipping idle time retires nothing,
  // and HLT itself moves RIP.)
  const moved =
    vmx.bIcount >= 0 && (cpu.ripLo !== vmx.bRipLo || cpu.ripHi !== vmx.bRipHi || (cpu.icount !== vmx.bIcount && !cpu.halted));
  vmx.bIcount = cpu.icount;
  vmx.bRipLo = cpu.ripLo;
  vmx.bRipHi = cpu.ripHi;
  if (vmx.mtfPending || (moved && (vmx.proc & ProcCtl.MonitorTrapFlag) !== 0)) {
    vmx.mtfPending = false;
    return plainExit(vmx, cpu, VmxExitReason.MonitorTrapFlag, 0, 0);
  }

  const movSs = cpu.interruptShadow && !cpu.stiShadow;
  if (cpu.pendingDb !== 0 && !movSs) return false;
  if (cpu.waitForSipi) {
    // No timer or window exits in wait-for-SIPI; a SIPI always exits.
    if (cpu.icount >= cpu.extDeadline) cpu.extDeadline = Infinity;
    return false;
  }
  if (cpu.icount >= vmx.timerDeadline && (vmx.pin & PinCtl.ActivateVmxPreemptionTimer) !== 0) {
    cpu.extDeadline = Infinity;
    return plainExit(vmx, cpu, VmxExitReason.VmxPreemptionTimerExpired, 0, 0);
  }
  if ((vmx.proc & ProcCtl.NmiWindowExiting) !== 0 && !cpu.nmiBlocked && !movSs) {
    return plainExit(vmx, cpu, VmxExitReason.NmiWindow, 0, 0);
  }
  // A deliverable NMI comes next: the core offers it to intercept().
  if (cpu.nmiPending && !cpu.nmiBlocked && !cpu.interruptShadow) return false;
  // Neither interrupt-window exits nor external interrupts leave the shutdown state (§26.7.5).
  if (vmx.guestShutdown) return false;
  if ((vmx.proc & ProcCtl.InterruptWindowExiting) !== 0 && (cpu.flags & Flag.IF) !== 0 && !cpu.interruptShadow) {
    return plainExit(vmx, cpu, VmxExitReason.InterruptWindow, 0, 0);
  }
  // An external interrupt (with or without "external-interrupt exiting", whatever IF): the
  // core offers it to intercept() (cpu.intrIgnoresIf, set by nonRootEnter).
  return false;
}

