/**
 * Nested paging and ASIDs (APM Vol. 2 §15.16 "TLB Control", §15.25 "Nested Paging") through
 * `@hvkit/mmu`'s SecondLevelWalker in NPT format. STUB: owner "npt".
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

/** ASID -> core TLB bank tags (1..7), LRU; and the guest-physical translation cache. */
export class AsidContexts {
  currentTag = 0;
}

/** The core's translateGpa hook: with NP_ENABLE, walks the nested tables; a failure is #VMEXIT(NPF). */
export function nptTranslate(svm: SvmCpu, cpu: Cpu, gpa: number, access: number): number {
  void svm;
  void cpu;
  void access;
  return gpa;
}

/** On VMRUN (after the guest state is loaded): nCR3 into the walker, the TLB bank for the ASID, TLB_CONTROL. */
export function nptActivate(svm: SvmCpu, cpu: Cpu): void {
  void svm;
  void cpu;
}

/** INVLPGA's TLB side: invalidates the mapping of linear address (lo, hi) for `asid` (§15.16.3? see APM INVLPGA). */
export function invalidateAsidPage(svm: SvmCpu, cpu: Cpu, asid: number, lo: number, hi: number): void {
  void svm;
  void cpu;
  void asid;
  void lo;
  void hi;
}
