/**
 * LBR virtualization (APM Vol. 2 §15.23 "Last Branch Record Virtualization"; VMCB offset 0B8h
 * bit 0 LBR_VIRTUALIZATION_ENABLE, state-save fields DBGCTL, BR_FROM, BR_TO, LASTEXCPFROM,
 * LASTEXCPTO at 670h-690h): with the bit set, VMRUN loads the guest's DebugCtl and the four
 * last-branch MSRs from the VMCB and #VMEXIT stores them back, restoring the host's values.
 *
 * The core records no branches (its DebugCtl accepts only 0 outside a guest), so the values the
 * guest sees are exactly those VMRUN loaded and the guest wrote: in guest mode with LBR
 * virtualization, RDMSR of DebugCtl (1D9h) and of the last-branch MSRs (1DBh-1DEh) reads the
 * guest's copy, WRMSR of DebugCtl stores the defined bits (LBR, BTF, PB0-PB3: bits 5:0; others
 * #GP), and the last-branch MSRs are read-only (#GP on write), as on hardware.
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';
import { VmcbOffset } from './vmcb.js';

/** DebugCtl (1D9h) and LastBranchFromIP/ToIP, LastExceptionFromIP/ToIP (1DBh-1DEh). */
export const LbrMsr = {
  DebugCtl: 0x1d9,
  LastBranchFromIp: 0x1db,
  LastBranchToIp: 0x1dc,
  LastExceptionFromIp: 0x1dd,
  LastExceptionToIp: 0x1de,
} as const;

/** The DebugCtl bits AMD defines (LBR, BTF, PB0-PB3; APM Vol. 2 §13.1.1.6). */
const DEBUGCTL_VALID = 0x3f;
/** The five VMCB fields in order: DBGCTL, BR_FROM, BR_TO, LASTEXCPFROM, LASTEXCPTO. */
const FIELDS = [VmcbOffset.DbgCtl, VmcbOffset.BrFrom, VmcbOffset.BrTo, VmcbOffset.LastExcpFrom, VmcbOffset.LastExcpTo] as const;

/** The guest's LBR state while it runs with LBR virtualization: lo/hi pairs in FIELDS order. */
export class LbrState {
  readonly lo = new Int32Array(5);
  readonly hi = new Int32Array(5);
  /** The guest runs with LBR virtualization (from VMRUN to #VMEXIT). */
  active = false;
}

/** VMRUN (after the guest state is loaded): with LBR_VIRTUALIZATION_ENABLE, take the guest's LBR state from the VMCB. */
export function lbrEnter(svm: SvmCpu): void {
  const s = svm.lbr;
  s.active = svm.lbrVirt !== 0;
  if (!s.active) return;
  const v = svm.vmcb;
  for (let i = 0; i < 5; i++) {
    s.lo[i] = v.r32(FIELDS[i]!);
    s.hi[i] = v.r32(FIELDS[i]! + 4);
  }
  // Only the defined DebugCtl bits are held (the rest read back 0).
  s.lo[0] = s.lo[0]! & DEBUGCTL_VALID;
  s.hi[0] = 0;
}

/** #VMEXIT (before the host state is loaded): store the guest's LBR state into the VMCB; the host's (DebugCtl 0) is back. */
export function lbrLeave(svm: SvmCpu): void {
  const s = svm.lbr;
  if (!s.active) return;
  s.active = false;
  const v = svm.vmcb;
  for (let i = 0; i < 5; i++) {
    v.w32(FIELDS[i]!, s.lo[i]!);
    v.w32(FIELDS[i]! + 4, s.hi[i]!);
  }
}

/** RDMSR in a guest with LBR virtualization; false when `msr` is not one of the five (or not active). */
export function lbrReadMsr(svm: SvmCpu, cpu: Cpu, msr: number): boolean {
  const s = svm.lbr;
  if (!s.active || !cpu.guestMode) return false;
  const i = msr === LbrMsr.DebugCtl ? 0 : msr >= LbrMsr.LastBranchFromIp && msr <= LbrMsr.LastExceptionToIp ? msr - LbrMsr.LastBranchFromIp + 1 : -1;
  if (i < 0) return false;
  cpu.msrLo = s.lo[i]!;
  cpu.msrHi = s.hi[i]!;
  return true;
}

/**
 * WRMSR in a guest with LBR virtualization: DebugCtl takes its defined bits (#GP for others);
 * the last-branch MSRs are read-only (#GP). Returns 1 handled, 0 not ours, -1 #GP.
 */
export function lbrWriteMsr(svm: SvmCpu, cpu: Cpu, msr: number, lo: number, hi: number): number {
  const s = svm.lbr;
  if (!s.active || !cpu.guestMode) return 0;
  if (msr === LbrMsr.DebugCtl) {
    if (hi !== 0 || (lo & ~DEBUGCTL_VALID) !== 0) return -1;
    s.lo[0] = lo;
    return 1;
  }
  return msr >= LbrMsr.LastBranchFromIp && msr <= LbrMsr.LastExceptionToIp ? -1 : 0;
}
