/**
 * The SVM instructions (APM Vol. 3 "VMRUN", "VMLOAD", "VMSAVE", "STGI", "CLGI", "VMMCALL",
 * "INVLPGA", "SKINIT"; APM Vol. 2 §15.5). STUB: owner "insn".
 */
import type { Cpu, VirtInstruction } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

export function executeSvm(svm: SvmCpu, cpu: Cpu, which: VirtInstruction, d: number): void {
  void svm;
  void which;
  void d;
  cpu.ud();
}
