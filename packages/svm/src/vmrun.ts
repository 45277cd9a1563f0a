/**
 * VMRUN (APM Vol. 2 §15.5 "VMRUN Instruction", §15.5.1 "Basic Operation" consistency checks,
 * §15.15.3 clean bits, §15.16 TLB control, §15.20 event injection). STUB: owner "vmrun".
 */
import type { Cpu } from '@hvkit/x86';
import type { SvmCpu } from './svm.js';

/**
 * VMRUN with the VMCB at host-physical `pa` (after the instruction's #UD/#GP checks and the VMRUN
 * intercept, instructions.ts). Returns true when the guest was entered, false when VMRUN ended in
 * #VMEXIT(VMEXIT_INVALID) (the host continues after VMRUN).
 */
export function opVmrun(svm: SvmCpu, cpu: Cpu, pa: number): boolean {
  void svm;
  void cpu;
  void pa;
  return false;
}
