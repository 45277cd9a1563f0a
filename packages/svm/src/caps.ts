/**
 * SVM capabilities (APM Vol. 2 §15.4 "Enabling SVM", §15.30 "SVM Related MSRs"; CPUID
 * Fn8000_0001_ECX[SVM], Fn8000_000A). STUB: owner "insn" replaces the bodies.
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

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

export function svmCpuid(svm: SvmCpu, leaf: number, subleaf: number, out: Int32Array): void {
  void svm;
  void leaf;
  void subleaf;
  void out;
}

export function readSvmMsr(svm: SvmCpu, cpu: Cpu, msr: number): boolean {
  void svm;
  void cpu;
  void msr;
  return false;
}

export function writeSvmMsr(svm: SvmCpu, cpu: Cpu, msr: number, lo: number, hi: number): boolean {
  void svm;
  void cpu;
  void msr;
  void lo;
  void hi;
  return false;
}

/** EFER.SVME may be set unless VM_CR.SVMDIS (§15.30.1). */
export function svmAllowsEnable(svm: SvmCpu): boolean {
  return (svm.vmCr & 0x10) === 0;
}
