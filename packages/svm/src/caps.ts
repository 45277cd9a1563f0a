/**
 * SVM capabilities (APM Vol. 2 §15.4 "Enabling SVM", §15.30 "SVM Related MSRs"; CPUID
 * Fn8000_0001_ECX[SVM], Fn8000_000A).
 *
 * - CPUID: Fn8000_0001_ECX[SVM] (bit 2) is always set (the extension is plugged in), and so is
 *   Fn8000_0001_ECX[SKINIT] (bit 12, "SKINIT and STGI are supported, independent of the value of
 *   MSRC000_0080[SVME]"; APM Vol. 3 Appendix E.4.2): SKINIT is implemented (skinit.ts) and the
 *   machine has a DEV with SL_DEV protection (`@hvkit/iommu` dev.ts, §15.24). So STGI and SKINIT
 *   are legal with EFER.SVME = 0 (APM Vol. 3 STGI/SKINIT: #UD only when SVME = 0 and neither
 *   SVM-Lock nor DEV is available; instructions.ts).
 *   Fn8000_000A: EAX[7:0] = SVM revision, EBX = NASID, ECX = 0, EDX = the features of
 *   {@link SvmFeatures} (APM Vol. 3 Appendix E.4.9). The core's AMD models report 8000_000Ah
 *   or higher as their highest extended leaf (x86 ops/cpuid.ts), so the leaf is reachable.
 * - VM_CR (C001_0114h, §15.30.1): DPD, R_INIT, DIS_A20M, LOCK, SVMDIS; bits 63:5 MBZ (#GP). With
 *   LOCK set, writes to LOCK and SVMDIS are silently ignored; LOCK can only be cleared through
 *   SVM_KEY (§15.31), which hvkit does not have (SVML not advertised), so LOCK stays until RESET.
 *   Setting SVMDIS while EFER.SVME = 1 is #GP whatever LOCK says. hvkit keeps DPD, R_INIT and
 *   DIS_A20M as written (no debug port, INIT redirection to #SX and A20M# are not modelled).
 * - IGNNE (C001_0115h, §15.30.2): read/write; bit 0 is the IGNNE state, bits 63:1 MBZ (#GP).
 *   hvkit keeps the bit (the x87 FERR#/IGNNE# emulation does not consult it).
 * - SMM_CTL (C001_0116h, §15.30.3): write-only, so RDMSR is #GP; bits 63:5 MBZ (#GP). hvkit has
 *   no SMM (no SMRAM to map, no SMI to dismiss), so the valid bits are accepted and do nothing
 *   (hvkit does not set CPUID Fn8000_0021_EAX[NoSmmCtlMSR], so the MSR exists).
 * - VM_HSAVE_PA (C001_0117h, §15.30.4): #GP when bits 11:0 are not zero or the address is at or
 *   above 2^MAXPHYADDR.
 * - SVM_KEY (C001_0118h): absent (SVML not advertised): the core raises #GP.
 */
import * as x86 from '@hvkit/x86';
import type { Cpu } from '@hvkit/x86';
import { SvmFeature, SvmMsr, VmCr } from './constants.js';
import { lbrReadMsr, lbrWriteMsr } from './lbr.js';
import type { SvmCpu } from './svm.js';

const { Efer } = x86;

/** What the SVM frontend exposes; CPUID advertises exactly this. */
export interface SvmFeatures {
  /** SVM revision (CPUID 8000_000Ah EAX[7:0]). */
  readonly revision: number;
  /** Number of ASIDs (CPUID 8000_000Ah EBX). */
  readonly nasid: number;
  readonly np: boolean;
  readonly lbrVirt: boolean;
  readonly nrips: boolean;
  readonly vmcbClean: boolean;
  readonly flushByAsid: boolean;
  readonly decodeAssists: boolean;
  readonly pauseFilter: boolean;
  readonly pauseFilterThreshold: boolean;
  readonly vgif: boolean;
  readonly vnmi: boolean;
}

export const DEFAULT_SVM_FEATURES: SvmFeatures = Object.freeze({
  revision: 1,
  nasid: 64,
  np: true,
  lbrVirt: true,
  nrips: true,
  vmcbClean: true,
  flushByAsid: true,
  decodeAssists: true,
  pauseFilter: true,
  pauseFilterThreshold: true,
  vgif: true,
  vnmi: true,
});

/** CPUID Fn8000_0001_ECX[SVM] (APM Vol. 3 Appendix E.4.2). */
export const CPUID_EXT1_ECX_SVM = 1 << 2;
/** CPUID Fn8000_0001_ECX[SKINIT]: SKINIT and STGI work whatever EFER.SVME (APM Vol. 3 Appendix E.4.2). */
export const CPUID_EXT1_ECX_SKINIT = 1 << 12;

/** The VM_CR bits that exist (§15.30.1 Figure 15-27: bits 63:5 reserved, MBZ). */
const VM_CR_VALID = VmCr.Dpd | VmCr.RInit | VmCr.DisA20m | VmCr.Lock | VmCr.SvmDis;
/** SMM_CTL: DISMISS, ENTER, SMI_CYCLE, EXIT, RSM_CYCLE (§15.30.3 Figure 15-28). */
const SMM_CTL_VALID = 0x1f;

/** CPUID Fn8000_000A_EDX for `f` (APM Vol. 3 Appendix E.4.9; {@link SvmFeature}). */
export function svmFeatureEdx(f: SvmFeatures): number {
  let edx = 0;
  if (f.np) edx |= SvmFeature.Np;
  if (f.lbrVirt) edx |= SvmFeature.LbrVirt;
  if (f.nrips) edx |= SvmFeature.NRips;
  if (f.vmcbClean) edx |= SvmFeature.VmcbClean;
  if (f.flushByAsid) edx |= SvmFeature.FlushByAsid;
  if (f.decodeAssists) edx |= SvmFeature.DecodeAssists;
  if (f.pauseFilter) edx |= SvmFeature.PauseFilter;
  if (f.pauseFilterThreshold) edx |= SvmFeature.PauseFilterThreshold;
  if (f.vgif) edx |= SvmFeature.Vgif;
  if (f.vnmi) edx |= SvmFeature.Vnmi;
  return edx;
}

/** The extension's CPUID adjustments: `out` = EAX, EBX, ECX, EDX as the core computed them. */
export function svmCpuid(svm: SvmCpu, leaf: number, subleaf: number, out: Int32Array): void {
  void subleaf;
  const l = leaf >>> 0;
  if (l === 0x80000001) {
    out[2] = out[2]! | CPUID_EXT1_ECX_SVM | CPUID_EXT1_ECX_SKINIT;
  } else if (l === 0x8000000a) {
    // Intel models stop at 8000_0008h: leave whatever the core returned for them alone.
    if (svm.cpu.model.vendor === 'intel') return;
    const f = svm.features;
    out[0] = f.revision & 0xff;
    out[1] = f.nasid | 0;
    out[2] = 0;
    out[3] = svmFeatureEdx(f);
  }
}

/** RDMSR of the SVM MSRs (§15.30): result in `cpu.msrLo/msrHi`; false = not ours (the core then #GPs). */
export function readSvmMsr(svm: SvmCpu, cpu: Cpu, msr: number): boolean {
  // LBR virtualization (§15.23): the guest's DebugCtl and last-branch MSRs.
  if (svm.lbr.active && lbrReadMsr(svm, cpu, msr)) return true;
  switch (msr | 0) {
    case SvmMsr.VmCr:
      cpu.msrLo = svm.vmCr;
      cpu.msrHi = 0;
      return true;
    case SvmMsr.Ignne:
      cpu.msrLo = svm.ignne;
      cpu.msrHi = 0;
      return true;
    case SvmMsr.VmHsavePa:
      cpu.msrLo = svm.hsavePa % 4294967296 | 0;
      cpu.msrHi = Math.floor(svm.hsavePa / 4294967296) | 0;
      return true;
    default:
      // SMM_CTL is write-only (§15.30.3) and SVM_KEY does not exist here: #GP.
      return false;
  }
}

/** WRMSR of the SVM MSRs (§15.30). false = #GP (the core finds no other owner for these numbers). */
export function writeSvmMsr(svm: SvmCpu, cpu: Cpu, msr: number, lo: number, hi: number): boolean {
  if (svm.lbr.active) {
    const r = lbrWriteMsr(svm, cpu, msr, lo, hi);
    if (r > 0) return true;
    if (r < 0) cpu.gp(0);
  }
  switch (msr | 0) {
    case SvmMsr.VmCr: {
      if (hi !== 0 || (lo & ~VM_CR_VALID) !== 0) return false;
      // §15.30.1: "Setting SVMDIS while EFER.SVME is 1 generates a #GP fault, regardless of the
      // current state of VM_CR.LOCK."
      if ((lo & VmCr.SvmDis) !== 0 && (cpu.efer & Efer.SVME) !== 0) return false;
      const locked = VmCr.Lock | VmCr.SvmDis;
      // With LOCK set, writes to LOCK and SVMDIS are silently ignored.
      svm.vmCr = (svm.vmCr & VmCr.Lock) !== 0 ? (lo & ~locked) | (svm.vmCr & locked) : lo;
      return true;
    }
    case SvmMsr.Ignne:
      if (hi !== 0 || (lo & ~1) !== 0) return false;
      svm.ignne = lo;
      return true;
    case SvmMsr.SmmCtl:
      return hi === 0 && (lo & ~SMM_CTL_VALID) === 0;
    case SvmMsr.VmHsavePa: {
      if ((lo & 0xfff) !== 0 || !belowMaxPhyAddr(cpu, lo, hi)) return false;
      svm.hsavePa = (hi >>> 0) * 4294967296 + (lo >>> 0);
      return true;
    }
    default:
      return false;
  }
}

/** Whether the physical address hi:lo is below 2^MAXPHYADDR (CPUID 8000_0008h EAX[7:0]). */
export function belowMaxPhyAddr(cpu: Cpu, lo: number, hi: number): boolean {
  const bits = cpu.model.physAddrBits;
  // Shifts, not 2 ** bits: VMRUN's rAX check runs at every world switch.
  if (bits < 32) return hi === 0 && lo >>> bits === 0;
  if (bits === 32) return hi === 0;
  return bits >= 64 || hi >>> (bits - 32) === 0;
}

/** EFER.SVME may be set unless VM_CR.SVMDIS (§15.30.1). */
export function svmAllowsEnable(svm: SvmCpu): boolean {
  return (svm.vmCr & VmCr.SvmDis) === 0;
}
