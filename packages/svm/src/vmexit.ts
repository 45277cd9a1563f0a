/**
 * #VMEXIT (APM Vol. 2 §15.6 "#VMEXIT", §15.7.1 EXITINTINFO, §15.7.1 nRIP). STUB: owner "exit".
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

/**
 * Performs #VMEXIT with EXITCODE `code` and EXITINFO1/2 (lo, hi): writes the exit information,
 * EXITINTINFO from `cpu.vectoringInfo`, saves the guest state into the VMCB, loads the host
 * state from the host save area, clears GIF, leaves guest mode, calls `svm.onExit`. Does not
 * throw. The caller has set RIP (cpu.ripLo/Hi) to what the VMCB must hold and `cpu.nipLo/Hi` to
 * the next RIP (nRIP) where the intercept defines one.
 */
export function svmExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): void {
  void svm;
  void cpu;
  void code;
  void info1Lo;
  void info1Hi;
  void info2Lo;
  void info2Hi;
}

/** Records a #VMEXIT found mid-instruction (#NPF); the caller then throws CPU_VMEXIT; completed at the next boundary. */
export function recordPendingExit(svm: SvmCpu, cpu: Cpu, code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number): void {
  void svm;
  void cpu;
  void code;
  void info1Lo;
  void info1Hi;
  void info2Lo;
  void info2Hi;
}

/** Completes a recorded #VMEXIT at the boundary; returns whether there was one. */
export function completePendingExit(svm: SvmCpu, cpu: Cpu): boolean {
  void svm;
  void cpu;
  return false;
}
